//! Random histories of catalogue events over a small universe, so that histories collide:
//! cycles, repeated assigns and revokes, the same grant in two policies, status flips.

use endocarp::domain::event::Triple;
use proptest::prelude::*;

pub const AGENTS: &[&str] = &["a1", "a2", "a3"];
pub const ROLES: &[&str] = &["r1", "r2", "r3"];
pub const ACCOUNTS: &[&str] = &["acc1", "acc2"];
pub const POLICIES: &[&str] = &["p1", "p2"];
pub const TARGETS: &[&str] = &["t1", "t2", "c1", "*"];
/// Assets and the asset collections they may be put in (one collection inside another, and
/// a cycle).
pub const ASSETS: &[&str] = &["t1", "t2", "c1", "c2"];
pub const COLLECTIONS: &[&str] = &["c1", "c2"];
pub const ACTIONS: &[&str] = &[
    "odrl:read",
    "odrl:use",
    "odrl:delete",
    "odrl:write",
    "odrl:play",
    "odrl:display",
    "odrl:transfer",
    "odrl:sell",
    "urn:x:approve",
];

pub fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = String> {
    proptest::sample::select(xs).prop_map(str::to_string)
}

pub fn t(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> Triple {
    Triple::new(ty, agg, s, p, o, kv)
}

/// `Policy.PermissionGranted` (`on`) or `Policy.PermissionRevoked` in `policy`.
pub fn permission(on: bool, policy: &str, assignee: &str, action: &str, target: &str) -> Triple {
    let ty = if on {
        "Policy.PermissionGranted"
    } else {
        "Policy.PermissionRevoked"
    };
    t(ty, policy, assignee, "odrl:permission", target, &[("action", action)])
}

/// `Policy.ProhibitionSet` (`on`) or `Policy.ProhibitionRevoked` in `policy`.
pub fn prohibition(on: bool, policy: &str, assignee: &str, action: &str, target: &str) -> Triple {
    let ty = if on {
        "Policy.ProhibitionSet"
    } else {
        "Policy.ProhibitionRevoked"
    };
    t(ty, policy, assignee, "odrl:prohibition", target, &[("action", action)])
}

/// `Account.RoleAssigned` (`on`) or `Account.RoleRevoked`: an explicit account edge.
pub fn account_edge(on: bool, account: &str, agent: &str, role: &str) -> Triple {
    let (ty, p) = if on {
        ("Account.RoleAssigned", "org:hasRole")
    } else {
        ("Account.RoleRevoked", "org:hadRole")
    };
    t(ty, account, agent, p, role, &[("account", account)])
}

/// Any decision-changing catalogue event over a small universe, so histories collide.
pub fn any_triple() -> impl Strategy<Value = Triple> {
    let node = prop_oneof![pick(AGENTS), pick(ROLES)];
    prop_oneof![
        2 => (pick(AGENTS), pick(ROLES), any::<bool>()).prop_map(|(a, r, on)| if on {
            t("Agent.RoleAssigned", &a, &a, "org:hasRole", &r, &[])
        } else {
            t("Agent.RoleRevoked", &a, &a, "org:hadRole", &r, &[])
        }),
        2 => (pick(AGENTS), pick(ROLES), any::<bool>()).prop_map(|(a, g, on)| t(
            if on {
                "Agent.GroupMembershipAdded"
            } else {
                "Agent.GroupMembershipRemoved"
            },
            &a,
            &a,
            "foaf:member",
            &g,
            &[]
        )),
        2 => (pick(ROLES), pick(ROLES), any::<bool>()).prop_map(|(r, q, on)| if on {
            t("Role.RoleAssigned", &r, &r, "org:hasRole", &q, &[])
        } else {
            t("Role.RoleRevoked", &r, &r, "org:hadRole", &q, &[])
        }),
        2 => (pick(ACCOUNTS), pick(AGENTS), pick(ROLES), any::<bool>()).prop_map(|(acc, a, r, add)| t(
            if add {
                "Account.MemberAdded"
            } else {
                "Account.MemberRoleChanged"
            },
            &acc,
            &acc,
            "org:hasMember",
            &a,
            &[("role", &r)]
        )),
        2 => (pick(ACCOUNTS), pick(AGENTS)).prop_map(|(acc, a)| t(
            "Account.MemberRemoved",
            &acc,
            &acc,
            "org:hadMember",
            &a,
            &[]
        )),
        2 => (pick(ACCOUNTS), node, pick(ROLES), any::<bool>()).prop_map(|(acc, n, r, on)| if on {
            t(
                "Account.RoleAssigned",
                &acc,
                &n,
                "org:hasRole",
                &r,
                &[("account", &acc)],
            )
        } else {
            t("Account.RoleRevoked", &acc, &n, "org:hadRole", &r, &[("account", &acc)])
        }),
        6 => (
            pick(POLICIES),
            prop_oneof![pick(AGENTS), pick(ROLES)],
            pick(TARGETS),
            pick(ACTIONS),
            0..4u8,
            // Constraints, one written two ways (the same rule once canonical).
            prop_oneof![
                4 => Just(""),
                1 => Just(r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#),
                1 => Just(r#"{"operator":"eq","leftOperand":"purpose","rightOperand":"research"}"#),
                1 => Just(r#"[{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":5}]"#),
                // An action refinement.
                1 => Just(r#"R:{"leftOperand":"odrl:resolution","operator":"odrl:lteq","rightOperand":1200}"#),
                // A duty (permissions only: on a prohibition the event is refused).
                1 => Just(r#"D:{"uid":"pay-1","action":"odrl:compensate"}"#),
            ]
        )
            .prop_map(|(p, who, target, action, k, constraint)| {
                let (ty, pred) = match k {
                    0 => ("Policy.PermissionGranted", "odrl:permission"),
                    1 => ("Policy.PermissionRevoked", "odrl:permission"),
                    2 => ("Policy.ProhibitionSet", "odrl:prohibition"),
                    _ => ("Policy.ProhibitionRevoked", "odrl:prohibition"),
                };
                if constraint.is_empty() {
                    t(ty, &p, &who, pred, &target, &[("action", &action)])
                } else if let Some(duty) = constraint.strip_prefix("D:") {
                    if k < 2 {
                        t(ty, &p, &who, pred, &target, &[("action", &action), ("duty", duty)])
                    } else {
                        t(ty, &p, &who, pred, &target, &[("action", &action)])
                    }
                } else if let Some(refinement) = constraint.strip_prefix("R:") {
                    t(ty, &p, &who, pred, &target, &[("action", &action), ("refinement", refinement)])
                } else {
                    t(ty, &p, &who, pred, &target, &[("action", &action), ("constraint", constraint)])
                }
            }),
        2 => (pick(ASSETS), pick(COLLECTIONS), any::<bool>()).prop_map(|(a, c, on)| t(
            if on {
                "Asset.AddedToCollection"
            } else {
                "Asset.RemovedFromCollection"
            },
            &a,
            &a,
            "odrl:partOf",
            &c,
            &[]
        )),
        // Duty discharges, one of a shape that names no duty (stored and ignored).
        1 => (pick(POLICIES), pick(AGENTS), pick(&["pay-1", "credit"]), any::<bool>()).prop_map(|(p, a, d, named)| t(
            "Policy.DutyDischarged",
            &p,
            &a,
            if named { "odrl:duty" } else { "odrl:obligation" },
            &d,
            &[]
        )),
        2 => (pick(POLICIES), 0..3u8).prop_map(|(p, k)| t(
            ["Policy.Created", "Policy.Activated", "Policy.Deactivated"][k as usize],
            &p,
            "",
            "",
            "",
            &[]
        )),
        // Enforced, inert and not understood types, and one replacing another.
        2 => (
            pick(POLICIES),
            pick(&["odrl:Set", "odrl:Agreement", "odrl:Offer", "odrl:Request", "https://example.com/ns/Contract"])
        )
            .prop_map(|(p, ty)| t("Policy.Created", &p, "", "", "", &[("policy_type", &ty)])),
        // Conflict strategies, and one replacing another.
        2 => (pick(POLICIES), pick(&["odrl:perm", "odrl:prohibit", "odrl:invalid"]))
            .prop_map(|(p, c)| t("Policy.Created", &p, "", "", "", &[("conflict", &c)])),
        2 => (pick(AGENTS), any::<bool>()).prop_map(|(a, on)| t(
            if on { "Agent.Activated" } else { "Agent.Deactivated" },
            &a,
            "",
            "",
            "",
            &[]
        )),
        2 => (pick(ACCOUNTS), any::<bool>()).prop_map(|(a, on)| t(
            if on { "Account.Activated" } else { "Account.Deactivated" },
            &a,
            "",
            "",
            "",
            &[]
        )),
    ]
}

/// Ignored and status events too: the whole catalogue a history can hold.
pub fn any_event() -> impl Strategy<Value = Triple> {
    prop_oneof![
        8 => any_triple(),
        1 => (pick(ROLES)).prop_map(|r| t("Role.Created", &r, "", "", "", &[])),
        1 => (pick(POLICIES)).prop_map(|p| t("Policy.DutyImposed", &p, "a1", "odrl:duty", "t1", &[("action", "odrl:attribute")])),
    ]
}
