//! The contract points of docs/CONTRACT.md §2–§3 that an operator meets first: a revoke
//! that leaves an edge held by other facts says so (reply, audit, CLI), a revoke of an
//! edge that never existed changes nothing, streams are keyed by kind and id, a committed
//! write is never reported as failed, and refusals point at the field.

use crate::common;

use common::{Server, pb_triple};
use endocarp::app::{AppError, AppSettings, CallContext};
use endocarp::domain::NewEvent;
use endocarp::grpc::pb;
use endocarp::store::Store;
use std::time::Duration;
use tonic::Code;
use tonic_types::StatusExt;

fn held(node: &str, role: &str, account: &str, sources: &[&str]) -> pb::StillHeld {
    pb::StillHeld {
        node: node.into(),
        role: role.into(),
        account_id: account.into(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_that_leaves_the_edge_held_says_by_what() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    c.grant("p", "editors", "odrl:read", "doc").await;
    c.assign("ann", "editors").await;
    c.join_group("ann", "editors").await;
    let w = c.revoke("ann", "editors").await;
    assert!(w.visible);
    assert_eq!(w.still_held, [held("ann", "editors", "", &["group"])]);
    assert!(
        c.check("ann", "odrl:read", "doc").await.unwrap().allowed,
        "the group still holds it"
    );
    // The audit entry says the same.
    let audit = c.audit().await;
    let last = audit.last().unwrap();
    assert_eq!(last.action, "RevokeRole");
    assert!(last.note.contains("still held by: group"), "{}", last.note);

    // In an account: the member role holds what the explicit edge no longer does.
    c.add_member("acme", "bo", "editors").await;
    c.assign_in("acme", "bo", "editors").await;
    let w = c.revoke_in("acme", "bo", "editors").await;
    assert_eq!(w.still_held, [held("bo", "editors", "acme", &["membership"])]);
    assert!(c.check_in("acme", "bo", "odrl:read", "doc").await.unwrap().allowed);

    // A revoke that ends the edge reports nothing.
    let w = c.revoke("cy", "editors").await;
    assert!(w.still_held.is_empty());
    assert!(
        audit
            .iter()
            .filter(|e| e.action != "RevokeRole")
            .all(|e| e.note.is_empty())
    );

    // The CLI says it too.
    c.assign("ann", "editors").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(["role", "revoke", "ann", "editors", "--admin", &server.admin_url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        text.contains("note: \"ann\" is still in \"editors\"") && text.contains("(group)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoke_of_an_edge_that_never_existed_changes_nothing() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    // "boss" was never a role: revoking it from ann must not make it one.
    c.revoke("ann", "boss").await;
    c.revoke_in("acme", "ann", "boss").await;
    let d = c
        .check("boss", "odrl:read", "doc")
        .await
        .expect("boss is still an agent");
    assert!(!d.allowed);
    // Once switched on, an edge makes its object a role for good.
    c.assign("ann", "boss").await;
    c.revoke("ann", "boss").await;
    let st = c.check("boss", "odrl:read", "doc").await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_versions_count_per_kind_and_id() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    let versioned = |mut e: pb::TripleEvent, v: i64| {
        e.expected_version = Some(v);
        e
    };
    let agent = |ty: &str| pb_triple(ty, "x", "", "", "", &[]);
    let policy = pb_triple("Policy.Created", "x", "", "", "", &[]);
    // An agent and a policy named "x" are two streams, each starting at version 0.
    c.append(vec![versioned(agent("Agent.Deactivated"), 0)]).await.unwrap();
    c.append(vec![versioned(policy.clone(), 0)]).await.unwrap();
    c.append(vec![versioned(agent("Agent.Activated"), 1)]).await.unwrap();
    let st = c.append(vec![versioned(policy, 0)]).await.unwrap_err();
    assert_eq!(st.code(), Code::Aborted);
    assert!(st.message().contains("Policy x"), "{}", st.message());
}

#[tokio::test]
async fn a_write_that_committed_but_is_not_applied_in_time_is_not_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    // No time at all to apply: the reply must still carry the committed revision.
    let settings = AppSettings {
        max_wait: Duration::ZERO,
        ..AppSettings::default()
    };
    let (store, projector, app) = common::app_on_sqlite(dir.path(), settings).await;
    let ctx = CallContext {
        actor: "test".into(),
        correlation_id: "c".into(),
    };
    let t = common::history::t("Agent.RoleAssigned", "ann", "ann", "org:hasRole", "editors", &[]);
    let event = NewEvent::parse("", &t, None, None, Default::default()).unwrap();
    let written = app
        .append(vec![event], &ctx, None)
        .await
        .expect("a committed write is not an error");
    assert_eq!(written.outcome.revision, 1);
    assert_eq!(store.head().await.unwrap(), 1, "durable");
    // `visible` says exactly whether this replica had applied it when it answered.
    assert_eq!(written.visible, projector.applied() >= 1);
    // The replica applies it later all the same.
    projector.catch_up().await.unwrap();
    assert_eq!(projector.applied(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_field_and_hide_storage_causes() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    let st = c.check("", "odrl:read", "doc").await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let violations = st
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations;
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].field, "agent_id");
    let st = c
        .append(vec![pb_triple("Agent.RoleAssigned", "a", "b", "org:hasRole", "r", &[])])
        .await
        .unwrap_err();
    let violations = st
        .get_details_bad_request()
        .expect("a BadRequest detail")
        .field_violations;
    assert!(violations[0].field.starts_with("events[0]"), "{violations:?}");

    // A storage failure reaches the client as a fixed message, never the database's text.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("s.db").display()), true)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.close().await;
    let e = AppError::from(store.head().await.unwrap_err());
    let cause = e.to_string();
    let st = endocarp::grpc::status(e);
    assert_eq!(st.code(), Code::Unavailable);
    assert!(st.message().starts_with("storage unavailable;"), "{}", st.message());
    assert!(!st.message().contains(&cause), "{} leaks {cause}", st.message());
}
