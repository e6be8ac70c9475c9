//! Bad input over real sockets: every rule of docs/CONTRACT.md §1–§2 is refused with
//! INVALID_ARGUMENT (or the status the design names), the message names the field, and
//! nothing is written.

use crate::common;

use common::{Server, grpc_check};
use endocarp::grpc::pb;
use tonic::Code;

fn ev(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> pb::TripleEvent {
    common::pb_triple(ty, agg, s, p, o, kv)
}

/// A grant event of policy "p".
fn grant(assignee: &str, target: &str, action: &str) -> pb::TripleEvent {
    ev(
        "Policy.PermissionGranted",
        "p",
        assignee,
        "odrl:permission",
        target,
        &[("action", action)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_events_are_refused_and_nothing_is_written() {
    let server = Server::start(&[]);
    let mut events = server.events().await;
    let good = ev("Agent.RoleAssigned", "a", "a", "org:hasRole", "r", &[]);
    events
        .append_events(pb::AppendEventsRequest {
            events: vec![good.clone()],
        })
        .await
        .unwrap();
    let long = "x".repeat(513);
    let cases: Vec<(pb::TripleEvent, &str)> = vec![
        (ev("Agent.Exploded", "a", "a", "org:hasRole", "r", &[]), "event_type"),
        (ev("", "a", "a", "org:hasRole", "r", &[]), "event_type"),
        (ev("Agent.RoleAssigned", "a", "b", "org:hasRole", "r", &[]), "subject"),
        (ev("Agent.RoleAssigned", "a", "a", "org:hadRole", "r", &[]), "predicate"),
        (
            ev("Agent.RoleAssigned", "a", "a", "odrl:permission", "r", &[]),
            "predicate",
        ),
        (ev("Agent.RoleAssigned", "a", "a", "org:hasRole", "*", &[]), "object"),
        (
            ev("Agent.RoleAssigned", "*", "*", "org:hasRole", "r", &[]),
            "aggregate_id",
        ),
        (
            ev("Agent.RoleAssigned", "", "", "org:hasRole", "r", &[]),
            "aggregate_id",
        ),
        (
            ev("Agent.RoleAssigned", &long, &long, "org:hasRole", "r", &[]),
            "aggregate_id",
        ),
        (
            ev("Agent.RoleAssigned", "a", "a", "org:hasRole", "r\u{7}", &[]),
            "object",
        ),
        (
            ev("Account.MemberAdded", "acc", "acc", "org:hasMember", "m", &[]),
            "attributes.role",
        ),
        (
            ev(
                "Account.RoleAssigned",
                "acc",
                "m",
                "org:hasRole",
                "r",
                &[("account", "other")],
            ),
            "attributes.account",
        ),
        (
            ev("Policy.PermissionGranted", "p", "a", "odrl:permission", "t", &[]),
            "attributes.action",
        ),
        (grant("a", "t", "odrl:lease"), "attributes.action"),
        (grant("a", "t", "read"), "attributes.action"),
        (grant("a", "t", "odrl:Read"), "attributes.action"),
        (grant("a", "t", "ftp://x/y"), "attributes.action"),
        (grant("*", "t", "odrl:read"), "subject"),
        (
            ev(
                "Policy.ProhibitionSet",
                "p",
                "a",
                "odrl:permission",
                "t",
                &[("action", "odrl:read")],
            ),
            "predicate",
        ),
        (ev("Policy.Activated", "p", "p", "", "", &[]), "subject"),
        (ev("Agent.Deactivated", "*", "", "", "", &[]), "aggregate_id"),
    ];
    for (bad, field) in cases {
        // Each bad event rides in a batch with a good one: the whole batch is refused.
        let fresh_good = ev("Agent.RoleAssigned", "b", "b", "org:hasRole", "r", &[]);
        let st = events
            .append_events(pb::AppendEventsRequest {
                events: vec![fresh_good, bad.clone()],
            })
            .await
            .expect_err(&format!("{bad:?} must be refused"));
        assert_eq!(st.code(), Code::InvalidArgument, "{bad:?}: {st}");
        assert!(
            st.message().contains(&format!("events[1].{field}")),
            "{bad:?}: message {:?} should name {field}",
            st.message()
        );
        assert_eq!(common::log_head(&server).await, 1, "nothing is written");
    }
    // Store-assigned fields, empty and oversized batches.
    let mut with_position = good.clone();
    with_position.position = 7;
    let st = events
        .append_events(pb::AppendEventsRequest {
            events: vec![with_position],
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let st = events
        .append_events(pb::AppendEventsRequest { events: vec![] })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let many: Vec<_> = (0..1001)
        .map(|i| {
            ev(
                "Agent.RoleAssigned",
                &format!("u{i}"),
                &format!("u{i}"),
                "org:hasRole",
                "r",
                &[],
            )
        })
        .collect();
    let st = events
        .append_events(pb::AppendEventsRequest { events: many })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().contains("1000"), "{}", st.message());
    // A reused id with different content, and a version conflict.
    let mut a = good.clone();
    a.id = "fixed-id".into();
    events
        .append_events(pb::AppendEventsRequest {
            events: vec![a.clone()],
        })
        .await
        .unwrap();
    let mut b = ev("Agent.RoleAssigned", "a", "a", "org:hasRole", "other", &[]);
    b.id = "fixed-id".into();
    assert_eq!(
        events
            .append_events(pb::AppendEventsRequest { events: vec![b] })
            .await
            .unwrap_err()
            .code(),
        Code::AlreadyExists
    );
    let mut c = good.clone();
    c.expected_version = Some(0);
    assert_eq!(
        events
            .append_events(pb::AppendEventsRequest { events: vec![c] })
            .await
            .unwrap_err()
            .code(),
        Code::Aborted
    );
    assert_eq!(common::log_head(&server).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_checks_are_refused() {
    let server = Server::start(&["--max-closure", "4"]);
    let mut events = server.events().await;
    // A chain of five roles: longer than the closure limit of 4 nodes.
    let mut batch = vec![ev("Agent.RoleAssigned", "deep", "deep", "org:hasRole", "c1", &[])];
    for i in 1..5 {
        let (r, q) = (format!("c{i}"), format!("c{}", i + 1));
        batch.push(ev("Role.RoleAssigned", &r, &r, "org:hasRole", &q, &[]));
    }
    batch.push(grant("c5", "*", "odrl:read"));
    batch.push(ev("Role.Created", "declared-role", "", "", "", &[]));
    batch.push(ev("Role.Created", "role-b", "role-subject", "", "", &[]));
    batch.push(grant("role-subject", "*", "odrl:read"));
    events
        .append_events(pb::AppendEventsRequest { events: batch })
        .await
        .unwrap();
    let mut d = server.decisions().await;
    let long = "y".repeat(513);
    // (agent, account, action, target, expected code, a word the message contains)
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, Code, &'a str);
    let cases: Vec<Case> = vec![
        ("", None, "odrl:read", "t", Code::InvalidArgument, "agent_id"),
        ("*", None, "odrl:read", "t", Code::InvalidArgument, "agent_id"),
        (&long, None, "odrl:read", "t", Code::InvalidArgument, "agent_id"),
        ("a\n", None, "odrl:read", "t", Code::InvalidArgument, "agent_id"),
        ("a", None, "odrl:read", "*", Code::InvalidArgument, "target"),
        ("a", None, "odrl:read", "", Code::InvalidArgument, "target"),
        ("a", None, "", "t", Code::InvalidArgument, "action"),
        ("a", None, "odrl:lend", "t", Code::InvalidArgument, "action"),
        ("a", None, "nope:read", "t", Code::InvalidArgument, "action"),
        ("a", Some("*"), "odrl:read", "t", Code::InvalidArgument, "account_id"),
        ("a", Some(""), "odrl:read", "t", Code::InvalidArgument, "account_id"),
        ("c3", None, "odrl:read", "t", Code::InvalidArgument, "agent_id"),
        (
            "role-subject",
            None,
            "odrl:read",
            "t",
            Code::InvalidArgument,
            "agent_id",
        ),
        (
            "declared-role",
            None,
            "odrl:read",
            "t",
            Code::InvalidArgument,
            "agent_id",
        ),
        ("deep", None, "odrl:read", "t", Code::ResourceExhausted, "closure"),
        (
            "deep",
            Some("acc"),
            "odrl:read",
            "t",
            Code::ResourceExhausted,
            "closure",
        ),
    ];
    for (agent, account, action, target, code, word) in cases {
        let st = grpc_check(&mut d, agent, account, action, target, None)
            .await
            .expect_err("must fail");
        assert_eq!(st.code(), code, "{agent:?} {account:?} {action:?} {target:?}: {st}");
        assert!(st.message().contains(word), "{:?} should mention {word}", st.message());
    }
    // A revision never written: the wait ends with DEADLINE_EXCEEDED, never a decision.
    let mut req = tonic::Request::new(pb::IsAuthorizedRequest {
        agent_id: "a".into(),
        action: "odrl:read".into(),
        target: "t".into(),
        consistency: Some(pb::Consistency {
            at_least_revision: 10_000,
            fully_consistent: false,
        }),
        explain: false,
        explain_limit: 0,
        context: Default::default(),
    });
    req.set_timeout(std::time::Duration::from_millis(300));
    let st = d.is_authorized(req).await.unwrap_err();
    assert!(matches!(st.code(), Code::DeadlineExceeded | Code::Cancelled), "{st}");
    // The server is still up and answering.
    assert!(
        !grpc_check(&mut d, "a", None, "odrl:read", "t", None)
            .await
            .unwrap()
            .allowed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_admin_writes_are_refused() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let st = admin
        .grant_permission(common::rule_request("p", "a", "odrl:read", "", ""))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().starts_with("target"), "{}", st.message());
    let st = admin.assign_role(common::role_request("a", "*", "")).await.unwrap_err();
    assert!(st.message().starts_with("role_id"), "{}", st.message());
    let st = admin
        .add_member(common::member_request("acc", "a", ""))
        .await
        .unwrap_err();
    assert!(st.message().starts_with("role_id"), "{}", st.message());
    let st = admin
        .create_policy(common::policy_request("p", "not a type"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    // A conflict strategy is one of ODRL's three (odrl:Perm and a foreign perm are not).
    for bad in ["odrl:Perm", "https://example.com/perm", "perm"] {
        let st = admin
            .create_policy(pb::CreatePolicyRequest {
                conflict: bad.into(),
                ..common::policy_request("p", "")
            })
            .await
            .unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{bad}");
        assert!(st.message().contains("conflict"), "{bad}: {}", st.message());
    }
    let st = admin
        .deactivate_agent(pb::StatusRequest {
            id: "a".into(),
            request_id: "r".repeat(300),
        })
        .await
        .unwrap_err();
    assert!(st.message().starts_with("request_id"), "{}", st.message());
    let st = admin
        .list_rules(pb::ListRulesRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(st.message().starts_with("page_size"), "{}", st.message());
    let st = admin
        .list_rules(pb::ListRulesRequest {
            page_token: "zz".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(st.message().starts_with("page_token"), "{}", st.message());
    assert_eq!(common::log_head(&server).await, 0);
    let audit = admin
        .list_audit_log(pb::ListAuditLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(audit.entries.is_empty(), "rejected calls are not audited");
}
