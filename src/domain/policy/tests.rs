//! Tests of policy types and conflict strategies as parsed from events.

use super::*;

#[test]
fn policy_types_enforce_as_odrl_says() {
    let odrl = |t: &str| format!("{ODRL_NS}{t}");
    for t in ["Set", "Policy", "Agreement", "Privacy", "Ticket"] {
        assert_eq!(Enforcement::of(Some(&odrl(t))), Enforcement::Enforced, "{t}");
    }
    for t in ["Offer", "Request", "Assertion"] {
        let e = Enforcement::of(Some(&odrl(t)));
        assert_eq!(e, Enforcement::Inert, "{t}");
        assert!(!e.counts(RuleKind::Permission) && !e.counts(RuleKind::Prohibition));
    }
    assert_eq!(Enforcement::of(None), Enforcement::Enforced);
    // Not ODRL's, or not an ODRL policy class: fail closed.
    for t in [
        odrl("offer"),
        odrl("Permission"),
        "https://example.com/Offer".to_string(),
    ] {
        let e = Enforcement::of(Some(&t));
        assert_eq!(e, Enforcement::Unknown, "{t}");
        assert!(!e.counts(RuleKind::Permission) && e.counts(RuleKind::Prohibition));
        assert!(e.why_not(RuleKind::Permission).is_some() && e.why_not(RuleKind::Prohibition).is_none());
    }
    assert_eq!(effect_mask(false, None), 0);
    assert_eq!(effect_mask(true, None), 3);
}

#[test]
fn conflict_strategies_resolve_a_policy_s_own_conflicts() {
    for c in [Conflict::Prohibit, Conflict::Perm, Conflict::Invalid] {
        assert_eq!(Conflict::from_iri("c", c.iri()).unwrap(), c);
        assert_eq!(Conflict::parse_stored(c.as_str()), Some(c));
        // Without a conflict every rule survives.
        assert_eq!(c.resolve(true, false), (true, true));
        assert_eq!(c.resolve(false, true), (true, true));
    }
    assert_eq!(Conflict::Prohibit.resolve(true, true), (true, true));
    assert_eq!(Conflict::Perm.resolve(true, true), (true, false));
    assert_eq!(Conflict::Invalid.resolve(true, true), (false, false));
    assert!(Conflict::from_iri("c", &format!("{ODRL_NS}Perm")).is_err());
    assert!(Conflict::from_iri("c", "https://example.com/perm").is_err());
}
