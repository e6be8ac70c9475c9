//! Tests of triple events: interpreting each kind, refusing malformed ones.

use super::*;

fn triple(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> Triple {
    Triple::new(ty, agg, s, p, o, kv)
}

#[test]
fn the_type_decides_and_the_triple_must_fit() {
    let ok = triple("Agent.RoleAssigned", "a", "a", "org:hasRole", "r", &[]);
    assert!(ok.interpret().is_ok());
    let full = triple(
        "Agent.RoleAssigned",
        "a",
        "a",
        "http://www.w3.org/ns/org#hasRole",
        "r",
        &[],
    );
    assert_eq!(
        ok.interpret().unwrap().0.content(),
        full.interpret().unwrap().0.content()
    );
    for bad in [
        triple("Agent.RoleAssigned", "a", "b", "org:hasRole", "r", &[]),
        triple("Agent.RoleAssigned", "a", "a", "org:hadRole", "r", &[]),
        triple("Agent.RoleAssigned", "a", "a", "org:hasRole", "*", &[]),
        triple("Agent.RoleAssigned", "*", "*", "org:hasRole", "r", &[]),
        triple("Agent.Exploded", "a", "a", "org:hasRole", "r", &[]),
        triple("Account.MemberAdded", "acc", "acc", "org:hasMember", "m", &[]),
        triple(
            "Account.RoleAssigned",
            "acc",
            "m",
            "org:hasRole",
            "r",
            &[("account", "other")],
        ),
        triple("Policy.PermissionGranted", "p", "a", "odrl:permission", "x", &[]),
        triple(
            "Policy.PermissionGranted",
            "p",
            "a",
            "odrl:prohibition",
            "x",
            &[("action", "odrl:read")],
        ),
        triple(
            "Policy.PermissionGranted",
            "p",
            "*",
            "odrl:permission",
            "x",
            &[("action", "odrl:read")],
        ),
        triple("Policy.Activated", "p", "p", "", "", &[]),
    ] {
        assert!(bad.interpret().is_err(), "{bad:?} must be refused");
    }
    let star = triple(
        "Policy.PermissionGranted",
        "p",
        "a",
        "odrl:permission",
        "*",
        &[("action", "odrl:write"), ("extra", "x")],
    );
    let (canon, change) = star.interpret().unwrap();
    assert_eq!(canon.payload.len(), 1);
    assert_eq!(canon.payload["action"], "http://www.w3.org/ns/odrl/2/modify");
    assert!(matches!(change, Change::Rule { on: true, .. }));
}

#[test]
fn ignored_types_are_stored_without_effect() {
    assert!(matches!(
        triple("Agent.Created", "a", "", "", "", &[("name", "A")])
            .interpret()
            .unwrap()
            .1,
        Change::Ignored { duty: false }
    ));
    assert!(matches!(
        triple("Policy.DutyImposed", "p", "", "", "", &[])
            .interpret()
            .unwrap()
            .1,
        Change::Ignored { duty: true }
    ));
    assert!(matches!(
        triple("Session.Started", "s", "", "", "", &[]).interpret().unwrap().1,
        Change::Ignored { .. }
    ));
    assert!(matches!(
        triple("Role.Created", "r", "", "", "", &[]).interpret().unwrap().1,
        Change::MarkRole { .. }
    ));
    assert!(triple("Session.", "s", "", "", "", &[]).interpret().is_err());
}
