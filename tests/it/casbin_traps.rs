//! Where casbin-rs differs from the decision contract, the Casbin engine's projection
//! compensates. Each test names the trap.

use crate::common;

use casbin::prelude::*;
use common::history::{account_edge, permission, t};
use endocarp::domain::event::Triple;
use endocarp::domain::{Action, Id, NewEvent, RuleKind};
use endocarp::engine::{self, Check, EngineOptions, Snapshot};
use std::collections::BTreeMap;

fn apply(snapshot: &mut Snapshot, events: &[Triple]) {
    for e in events {
        let e = NewEvent::parse("", e, None, None, BTreeMap::new()).unwrap();
        snapshot.apply(&e.change);
    }
}

fn allowed(snapshot: &Snapshot, agent: &str, account: Option<&str>, action: &str, target: &str) -> bool {
    let check = Check {
        agent: Id::parse("a", agent).unwrap(),
        account: account.map(|a| Id::parse("acc", a).unwrap()),
        action: Action::parse("action", action).unwrap(),
        target: Id::parse("t", target).unwrap(),
        explain: false,
        explain_limit: usize::MAX,
        context: Default::default(),
    };
    let opts = EngineOptions::default();
    let casbin = engine::decide_casbin(snapshot, &check, &opts).unwrap();
    let odrl = engine::decide(&snapshot.index, &check, &opts).unwrap();
    assert_eq!(casbin, odrl);
    casbin.allowed
}

/// How many sources hold the allow row (a, *, odrl:read, r1).
fn read_rows(s: &Snapshot) -> u32 {
    let read = "http://www.w3.org/ns/odrl/2/read";
    s.casbin
        .as_ref()
        .expect("casbin rows")
        .p_count("a", read, "r1", RuleKind::Permission)
}

const MODIFY: &str = "http://www.w3.org/ns/odrl/2/modify";

/// Trap: casbin-rs's incremental role links keep a revoked global role alive inside
/// accounts that already had role data (a stale grant). The Casbin engine resolves the
/// closure from the index, so a revocation ends the role everywhere at once.
#[tokio::test]
async fn revoking_a_global_role_ends_it_in_every_account_at_once() {
    let mut s = Snapshot::new(Some(true));
    apply(
        &mut s,
        &[
            account_edge(true, "acc", "agent-1", "role-x"),
            t("Agent.RoleAssigned", "agent-1", "agent-1", "org:hasRole", "editor", &[]),
            permission(true, "pol", "editor", "odrl:modify", "r1"),
        ],
    );
    assert!(allowed(&s, "agent-1", Some("acc"), "odrl:modify", "r1"));
    apply(
        &mut s,
        &[t(
            "Agent.RoleRevoked",
            "agent-1",
            "agent-1",
            "org:hadRole",
            "editor",
            &[],
        )],
    );
    assert!(!allowed(&s, "agent-1", Some("acc"), "odrl:modify", "r1"));
    assert!(!allowed(&s, "agent-1", None, "odrl:modify", "r1"));
    assert_eq!(s.casbin.as_ref().unwrap().g_count("agent-1", "editor", "*"), 0);

    // The same history applied incrementally to a plain casbin-rs enforcer.
    let model = DefaultModel::from_str(engine::casbin::MODEL).await.unwrap();
    let mut e = Enforcer::new(model, MemoryAdapter::default()).await.unwrap();
    e.get_role_manager()
        .write()
        .matching_fn(None, Some(engine::casbin::global_or_equal));
    e.add_grouping_policy(vec!["agent-1".into(), "role-x".into(), "acc".into()])
        .await
        .unwrap();
    e.add_grouping_policy(vec!["agent-1".into(), "editor".into(), "*".into()])
        .await
        .unwrap();
    e.add_policy(vec![
        "editor".into(),
        "*".into(),
        MODIFY.into(),
        "r1".into(),
        "allow".into(),
    ])
    .await
    .unwrap();
    assert!(e.enforce(("agent-1", "acc", MODIFY, "r1")).unwrap());
    e.remove_grouping_policy(vec!["agent-1".into(), "editor".into(), "*".into()])
        .await
        .unwrap();
    let stale = e.enforce(("agent-1", "acc", MODIFY, "r1")).unwrap();
    // casbin-rs 2.20 (the locked version) shows the trap: the grant survives in the account.
    // Should a later version fix it, this line is the one to update.
    assert!(
        stale,
        "casbin-rs no longer keeps the revoked role alive inside the account"
    );
    assert!(!e.enforce(("agent-1", "*", MODIFY, "r1")).unwrap());
}

/// Trap: `p` rows are a set in casbin; two policies granting one tuple share a row. The
/// projection counts: one policy revoking keeps the row while the other grants it.
#[test]
fn p_rows_are_reference_counted_across_policies() {
    let mut s = Snapshot::new(Some(true));
    let grant = |p: &str| permission(true, p, "a", "odrl:read", "r1");
    let revoke = |p: &str| permission(false, p, "a", "odrl:read", "r1");
    apply(&mut s, &[grant("pol-1"), grant("pol-2"), revoke("pol-1")]);
    assert_eq!(read_rows(&s), 1);
    assert!(allowed(&s, "a", None, "odrl:read", "r1"));
    // A permission on use expands to a read row too: the counts add up.
    apply(&mut s, &[permission(true, "pol-3", "a", "odrl:use", "r1")]);
    assert_eq!(read_rows(&s), 2);
    apply(&mut s, &[revoke("pol-2")]);
    assert!(
        allowed(&s, "a", None, "odrl:read", "r1"),
        "still granted through odrl:use"
    );
    apply(&mut s, &[permission(false, "pol-3", "a", "odrl:use", "r1")]);
    assert_eq!(read_rows(&s), 0);
    assert!(!allowed(&s, "a", None, "odrl:read", "r1"));
    // A deactivated policy's rows leave; reactivated, they return.
    apply(
        &mut s,
        &[grant("pol-4"), t("Policy.Deactivated", "pol-4", "", "", "", &[])],
    );
    assert_eq!(read_rows(&s), 0);
    apply(&mut s, &[t("Policy.Activated", "pol-4", "", "", "", &[])]);
    assert!(allowed(&s, "a", None, "odrl:read", "r1"));
}

/// Trap: a membership role and an explicit account edge are one `g` row in casbin. The
/// projection counts both facts; revoking the edge keeps the membership role, and a
/// member's removal ends both, as the catalogue says.
#[test]
fn a_membership_role_and_an_account_edge_share_one_counted_g_row() {
    let mut s = Snapshot::new(Some(true));
    apply(
        &mut s,
        &[
            permission(true, "pol", "editor", "odrl:modify", "r1"),
            t(
                "Account.MemberAdded",
                "acc",
                "acc",
                "org:hasMember",
                "m1",
                &[("role", "editor")],
            ),
            account_edge(true, "acc", "m1", "editor"),
        ],
    );
    assert_eq!(s.casbin.as_ref().unwrap().g_count("m1", "editor", "acc"), 2);
    apply(&mut s, &[account_edge(false, "acc", "m1", "editor")]);
    assert_eq!(s.casbin.as_ref().unwrap().g_count("m1", "editor", "acc"), 1);
    assert!(allowed(&s, "m1", Some("acc"), "odrl:modify", "r1"));
    apply(&mut s, &[account_edge(true, "acc", "m1", "editor")]);
    apply(
        &mut s,
        &[t("Account.MemberRemoved", "acc", "acc", "org:hadMember", "m1", &[])],
    );
    assert_eq!(s.casbin.as_ref().unwrap().g_count("m1", "editor", "acc"), 0);
    assert!(!allowed(&s, "m1", Some("acc"), "odrl:modify", "r1"));
    // Changing the member's role moves the row.
    apply(
        &mut s,
        &[
            t(
                "Account.MemberAdded",
                "acc",
                "acc",
                "org:hasMember",
                "m2",
                &[("role", "viewer")],
            ),
            t(
                "Account.MemberRoleChanged",
                "acc",
                "acc",
                "org:hasMember",
                "m2",
                &[("role", "editor")],
            ),
        ],
    );
    assert_eq!(s.casbin.as_ref().unwrap().g_count("m2", "viewer", "acc"), 0);
    assert_eq!(s.casbin.as_ref().unwrap().g_count("m2", "editor", "acc"), 1);
}

/// Trap: casbin's add and remove are not counted per fact; assigning twice and revoking
/// once must leave nothing, since relationship events are set operations.
#[test]
fn repeated_assigns_and_revokes_are_set_operations() {
    let mut s = Snapshot::new(Some(true));
    let assign = t("Agent.RoleAssigned", "a", "a", "org:hasRole", "editor", &[]);
    apply(
        &mut s,
        &[
            assign.clone(),
            assign,
            permission(true, "pol", "editor", "odrl:read", "r1"),
        ],
    );
    assert_eq!(s.casbin.as_ref().unwrap().g_count("a", "editor", "*"), 1);
    let revoke = t("Agent.RoleRevoked", "a", "a", "org:hadRole", "editor", &[]);
    apply(&mut s, std::slice::from_ref(&revoke));
    assert_eq!(s.casbin.as_ref().unwrap().g_count("a", "editor", "*"), 0);
    assert!(!allowed(&s, "a", None, "odrl:read", "r1"));
    apply(&mut s, &[revoke]);
    assert_eq!(s.casbin.as_ref().unwrap().g_count("a", "editor", "*"), 0);
    // A group membership and a role assignment to the same id are two facts.
    apply(
        &mut s,
        &[
            t("Agent.RoleAssigned", "a", "a", "org:hasRole", "editor", &[]),
            t("Agent.GroupMembershipAdded", "a", "a", "foaf:member", "editor", &[]),
            t("Agent.RoleRevoked", "a", "a", "org:hadRole", "editor", &[]),
        ],
    );
    assert_eq!(s.casbin.as_ref().unwrap().g_count("a", "editor", "*"), 1);
    assert!(allowed(&s, "a", None, "odrl:read", "r1"));
}

/// Trap: casbin-rs's default role manager stops at 10 levels of hierarchy, so a deep
/// role chain silently loses its grants. The Casbin engine uses the complete closure.
#[tokio::test]
async fn deep_role_hierarchies_are_not_cut_short() {
    let mut s = Snapshot::new(Some(true));
    let mut events = vec![t("Agent.RoleAssigned", "deep", "deep", "org:hasRole", "l0", &[])];
    for i in 0..15 {
        let (r, q) = (format!("l{i}"), format!("l{}", i + 1));
        events.push(t("Role.RoleAssigned", &r, &r, "org:hasRole", &q, &[]));
    }
    events.push(permission(true, "pol", "l15", "odrl:read", "r1"));
    apply(&mut s, &events);
    assert!(allowed(&s, "deep", None, "odrl:read", "r1"));
    // A plain enforcer with casbin-rs's default role manager (limit 10) misses it.
    let rows = s.casbin.as_ref().unwrap();
    let model = DefaultModel::from_str(engine::casbin::MODEL).await.unwrap();
    let mut e = Enforcer::new(model, MemoryAdapter::default()).await.unwrap();
    e.get_role_manager()
        .write()
        .matching_fn(None, Some(engine::casbin::global_or_equal));
    e.add_policies(rows.p_rows().into_iter().map(|r| r.to_vec()).collect())
        .await
        .unwrap();
    e.add_grouping_policies(rows.g_rows().into_iter().map(|r| r.to_vec()).collect())
        .await
        .unwrap();
    assert!(
        !e.enforce(("deep", "*", "http://www.w3.org/ns/odrl/2/read", "r1"))
            .unwrap(),
        "casbin-rs's default limit cuts the chain"
    );
    // With the limit raised (as the export README says), the plain enforcer agrees.
    let plain = engine::casbin::plain_enforcer(&rows.p_rows(), &rows.g_rows()).unwrap();
    assert!(
        plain
            .enforce(("deep", "*", "http://www.w3.org/ns/odrl/2/read", "r1"))
            .unwrap()
    );
}
