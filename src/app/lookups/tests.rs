//! Tests of the look-up service layer: page tokens and the snapshots they keep.

use super::*;

#[test]
fn tokens_round_trip_and_refuse_tampering() {
    let key = TokenKey::new(None);
    let req = fingerprint(LookupKind::Targets, &["ann", "", "odrl:read"]);
    let cursor = Cursor {
        revision: 42,
        started_ms: 1_700_000_000_000,
        after: "doc-ü".into(),
    };
    let t = encode(&key, LookupKind::Targets, req, &cursor);
    assert_eq!(decode(&key, LookupKind::Targets, req, &t).unwrap(), cursor);
    // Every single-character change and every truncation is refused as invalid input.
    for i in 0..t.len() {
        let mut bad = t.clone().into_bytes();
        bad[i] = if bad[i] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        let e = decode(&key, LookupKind::Targets, req, &bad).unwrap_err();
        let key_id = (4..20).contains(&i);
        assert!(
            matches!(e, AppError::Invalid(_)) || key_id && matches!(e, AppError::PageExpired(_)),
            "{i}: {e:?}"
        );
        assert!(decode(&key, LookupKind::Targets, req, &t[..i]).is_err());
    }
    // Another request, another kind, another key.
    let other = fingerprint(LookupKind::Targets, &["bob", "", "odrl:read"]);
    assert!(matches!(
        decode(&key, LookupKind::Targets, other, &t),
        Err(AppError::Invalid(_))
    ));
    assert!(matches!(
        decode(&key, LookupKind::Agents, req, &t),
        Err(AppError::Invalid(_))
    ));
    let elsewhere = TokenKey::new(None);
    assert!(matches!(
        decode(&elsewhere, LookupKind::Targets, req, &t),
        Err(AppError::PageExpired(_))
    ));
    // A shared secret: replicas open each other's tokens.
    let (a, b) = (TokenKey::new(Some("s3cret")), TokenKey::new(Some("s3cret")));
    let t = encode(&a, LookupKind::Agents, req, &cursor);
    assert_eq!(decode(&b, LookupKind::Agents, req, &t).unwrap(), cursor);
    assert!(!format!("{a:?}").contains("s3cret"));
}

#[test]
fn kept_snapshots_expire_and_are_bounded() {
    let kept = KeptSnapshots::default();
    let mut s = Snapshot::new(None);
    for r in 1..=(MAX_KEPT as u64 + 5) {
        s.set_revision(r);
        kept.keep(&Arc::new(s.clone()), Duration::from_secs(60));
    }
    assert_eq!(kept.len(), MAX_KEPT);
    assert!(kept.get(1).is_none(), "the oldest is dropped first");
    assert!(kept.get(MAX_KEPT as u64 + 5).is_some());
    s.set_revision(1000);
    kept.keep(&Arc::new(s), Duration::ZERO);
    assert!(kept.get(1000).is_none(), "expired");
}
