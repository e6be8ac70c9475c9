//! The Casbin policy file's own tests: awkward identifiers round trip.

use super::*;

#[test]
fn policy_files_round_trip_awkward_identifiers() {
    let p = vec![[
        "user, \"the\" boss ".to_string(),
        "*".into(),
        "urn:x:a,b".into(),
        " lead".into(),
        "allow".into(),
    ]];
    let g = vec![["a\"b".to_string(), "r,1".into(), "acc 1".into()]];
    let text = policy_csv(&p, &g);
    let back = parse_policy_csv(&text).unwrap();
    assert_eq!(back[0].1, PolicyLine::P(p[0].clone()));
    assert_eq!(back[1].1, PolicyLine::G(g[0].clone()));
    let casbin_style = parse_policy_csv("# comment\n\np, alice, *, urn:x:read, data1, allow\n").unwrap();
    assert_eq!(casbin_style[0].0, 3);
    assert!(parse_policy_csv("p, a, b").is_err());
    assert!(parse_policy_csv("p, \"open, *, a, b, allow").is_err());
    assert!(parse_policy_csv("x, a, b, c").is_err());
}
