//! ODRL constraints on rules through the real API (docs/CONTRACT.md §1, "Constraints"):
//! granted and revoked through the admin RPCs by their canonical form, listed, decided with
//! a request context over gRPC (single and batch) and AuthZEN, explained (which constraint,
//! and why), failing closed; and every malformed constraint or context refused with
//! INVALID_ARGUMENT and nothing written.

use crate::common;

use common::{Server, grpc_check, grpc_check_in, pb_triple};
use endocarp::grpc::pb;
use std::collections::HashMap;
use tonic::Code;

const PURPOSE: &str =
    r#"{"leftOperand":"odrl:purpose","operator":"odrl:isAnyOf","rightOperand":["research","teaching"]}"#;
/// The same constraint, written another way (bare ODRL terms, full IRIs, another key order).
const PURPOSE_AGAIN: &str = r#"[{"rightOperand":["research","teaching"],"operator":"isAnyOf","http://www.w3.org/ns/odrl/2/leftOperand":"purpose"}]"#;
const CANONICAL: &str =
    r#"{"leftOperand":"odrl:purpose","operator":"odrl:isAnyOf","rightOperand":["research","teaching"]}"#;

fn with_constraint(policy: &str, assignee: &str, action: &str, target: &str, constraint: &str) -> pb::RuleRequest {
    pb::RuleRequest {
        constraint: constraint.into(),
        ..common::rule_request(policy, assignee, action, target, "")
    }
}

fn text(s: &str) -> pb::ContextValue {
    pb::ContextValue {
        value: Some(pb::context_value::Value::String(s.into())),
        unit: String::new(),
    }
}

fn ctx(entries: &[(&str, pb::ContextValue)]) -> HashMap<String, pb::ContextValue> {
    entries.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Every rule of `policy` (every policy when empty), as ListRules gives them.
async fn rules(server: &Server, policy: &str) -> Vec<pb::RuleRef> {
    common::list_rules(server, policy)
        .await
        .into_iter()
        .filter_map(|r| r.rule)
        .collect()
}

const FRESH: Option<pb::Consistency> = Some(pb::Consistency {
    at_least_revision: 0,
    fully_consistent: true,
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constrained_rules_are_granted_listed_decided_explained_and_revoked() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let mut d = server.decisions().await;
    admin
        .grant_permission(with_constraint("data", "analyst", "odrl:read", "*", PURPOSE))
        .await
        .unwrap();
    // AuthZEN's subject {"type": "user", "id": "alice"} is the agent "user:alice".
    for agent in ["alice", "user:alice"] {
        admin
            .assign_role(pb::RoleAssignmentRequest {
                agent_id: agent.into(),
                role_id: "analyst".into(),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    // A prohibition it cannot evaluate still denies: no odrl:spatial in the context.
    admin
        .set_prohibition(with_constraint(
            "geo",
            "alice",
            "odrl:read",
            "secret",
            r#"{"leftOperand":"odrl:spatial","operator":"odrl:neq","rightOperand":{"@id":"http://example.com/eu"}}"#,
        ))
        .await
        .unwrap();

    // Listed in canonical form, part of the rule.
    let listed = rules(&server, "data").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].constraint, CANONICAL);

    // No context: the permission does not apply, and the explanation says why.
    let none = grpc_check(&mut d, "alice", None, "odrl:read", "doc", FRESH)
        .await
        .unwrap();
    assert!(!none.allowed);
    assert_eq!(common::reason_name(none.reason), "NOT_PERMITTED");
    let notes = &none.explanation.as_ref().unwrap().conditions;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(!notes[0].applies);
    assert!(
        notes[0].why.contains("cannot be evaluated") && notes[0].why.contains("odrl:purpose"),
        "{notes:?}"
    );
    assert_eq!(notes[0].rule.as_ref().unwrap().constraint, CANONICAL);

    // A purpose it allows: the deciding rule carries its constraint.
    let research = ctx(&[("odrl:purpose", text("research"))]);
    let yes = grpc_check_in(&mut d, "alice", None, "odrl:read", "doc", FRESH, research.clone())
        .await
        .unwrap();
    assert!(yes.allowed);
    assert_eq!(yes.deciding_rule.as_ref().unwrap().constraint, CANONICAL);
    assert!(yes.explanation.as_ref().unwrap().conditions[0].applies);
    let marketing = ctx(&[("odrl:purpose", text("marketing"))]);
    let no = grpc_check_in(&mut d, "alice", None, "odrl:read", "doc", FRESH, marketing)
        .await
        .unwrap();
    assert!(!no.allowed);
    assert!(
        no.explanation.as_ref().unwrap().conditions[0]
            .why
            .starts_with("not satisfied"),
        "{no:?}"
    );
    // The unevaluable prohibition denies even with the purpose.
    let secret = grpc_check_in(&mut d, "alice", None, "odrl:read", "secret", FRESH, research.clone())
        .await
        .unwrap();
    assert_eq!(common::reason_name(secret.reason), "PROHIBITED");
    let eu = {
        let mut c = research.clone();
        c.insert(
            "http://www.w3.org/ns/odrl/2/spatial".into(),
            pb::ContextValue {
                value: Some(pb::context_value::Value::Iri("http://example.com/eu".into())),
                unit: String::new(),
            },
        );
        c
    };
    let inside = grpc_check_in(&mut d, "alice", None, "odrl:read", "secret", FRESH, eu)
        .await
        .unwrap();
    assert!(inside.allowed, "{inside:?}");

    // CheckBatch carries each item's context.
    let item = |target: &str, context: HashMap<String, pb::ContextValue>| pb::BatchItem {
        correlation_id: target.into(),
        agent_id: "alice".into(),
        action: "odrl:read".into(),
        target: target.into(),
        context,
        ..Default::default()
    };
    let batch = d
        .check_batch(pb::CheckBatchRequest {
            items: vec![item("doc", research.clone()), item("doc", HashMap::new())],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let allowed: Vec<bool> = batch
        .results
        .iter()
        .map(|r| match &r.outcome {
            Some(pb::batch_result::Outcome::Decision(d)) => d.allowed,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(allowed, [true, false]);

    // AuthZEN: context members named by IRI or CURIE are left operands.
    let mut http = common::http::Http::h1(&server.authzen_url).await;
    for (context, want) in [
        (serde_json::json!({"odrl:purpose": "teaching", "explain": true}), true),
        (serde_json::json!({"odrl:purpose": ["marketing"]}), false),
        (serde_json::json!({}), false),
    ] {
        let reply = http
            .post(
                "/access/v1/evaluation",
                &serde_json::json!({
                    "subject": {"type": "user", "id": "alice"},
                    "action": {"name": "read"},
                    "resource": {"type": "doc", "id": "x"},
                    "context": context
                }),
            )
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.json);
        assert_eq!(reply.json["decision"], want, "{context}: {:?}", reply.json);
    }

    // The entities' properties named by IRI count as well; a left operand given twice is 400.
    for (subject_props, context, status, want) in [
        (
            serde_json::json!({"odrl:purpose": "research", "department": "x"}),
            serde_json::json!({}),
            200,
            Some(true),
        ),
        (
            serde_json::json!({"odrl:purpose": "research"}),
            serde_json::json!({"odrl:purpose": "research"}),
            400,
            None,
        ),
        (
            serde_json::json!({"odrl:purpose": {"bad": 1}}),
            serde_json::json!({}),
            400,
            None,
        ),
    ] {
        let reply = http
            .post(
                "/access/v1/evaluation",
                &serde_json::json!({
                    "subject": {"type": "user", "id": "alice", "properties": subject_props},
                    "action": {"name": "read"},
                    "resource": {"type": "doc", "id": "x"},
                    "context": context
                }),
            )
            .await;
        assert_eq!(reply.status, status, "{subject_props}: {:?}", reply.json);
        if let Some(want) = want {
            assert_eq!(reply.json["decision"], want, "{:?}", reply.json);
        }
    }

    // A look-up has no context: the constrained permission lists nothing.
    let targets = d
        .lookup_targets(pb::LookupTargetsRequest {
            agent_id: "alice".into(),
            action: "odrl:read".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!targets.every_target && targets.targets.is_empty(), "{targets:?}");

    // A refinement of the action, listed apart from the constraints.
    admin
        .grant_permission(pb::RuleRequest {
            refinement: r#"{"leftOperand":"odrl:resolution","operator":"odrl:lteq","rightOperand":1200}"#.into(),
            ..with_constraint("data", "analyst", "odrl:print", "poster", PURPOSE)
        })
        .await
        .unwrap();
    let listed = rules(&server, "data").await;
    let print = listed
        .iter()
        .find(|r| r.target == "poster")
        .expect("the refined rule is listed");
    assert_eq!(print.constraint, CANONICAL);
    assert_eq!(
        print.refinement,
        r#"{"leftOperand":"odrl:resolution","operator":"odrl:lteq","rightOperand":{"@type":"xsd:decimal","@value":"1200"}}"#
    );
    let mut fine = research.clone();
    fine.insert(
        "odrl:resolution".into(),
        pb::ContextValue {
            value: Some(pb::context_value::Value::Number(300.0)),
            unit: String::new(),
        },
    );
    let printed = grpc_check_in(&mut d, "alice", None, "odrl:print", "poster", FRESH, fine)
        .await
        .unwrap();
    assert!(printed.allowed, "{printed:?}");
    assert!(!printed.deciding_rule.as_ref().unwrap().refinement.is_empty());
    let coarse = grpc_check_in(&mut d, "alice", None, "odrl:print", "poster", FRESH, research.clone())
        .await
        .unwrap();
    assert!(
        !coarse.allowed,
        "no resolution in the context: the refinement is unknown"
    );
    let why = &coarse.explanation.as_ref().unwrap().conditions[0].why;
    assert!(why.contains("refinement"), "{why}");

    // A revoke names the same constraint, however written; without it, it is another rule.
    admin
        .revoke_permission(with_constraint("data", "analyst", "odrl:read", "*", ""))
        .await
        .unwrap();
    let still = grpc_check_in(&mut d, "alice", None, "odrl:read", "doc", FRESH, research.clone())
        .await
        .unwrap();
    assert!(
        still.allowed,
        "revoking the unconstrained rule leaves the constrained one"
    );
    admin
        .revoke_permission(with_constraint("data", "analyst", "odrl:read", "*", PURPOSE_AGAIN))
        .await
        .unwrap();
    let gone = grpc_check_in(&mut d, "alice", None, "odrl:read", "doc", FRESH, research)
        .await
        .unwrap();
    assert!(!gone.allowed, "revoked by its canonical form");
    let listed = rules(&server, "data").await;
    assert_eq!(listed.len(), 1, "only the refined rule is left: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_constraints_and_contexts_are_refused_and_change_nothing() {
    let server = Server::start(&[]);
    let mut events = server.events().await;
    let mut admin = server.admin().await;
    let mut d = server.decisions().await;
    admin
        .grant_permission(with_constraint("p", "a", "odrl:read", "t", PURPOSE))
        .await
        .unwrap();
    let before = common::log_head(&server).await;
    let deep = {
        let mut c = r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":1}"#.to_string();
        for _ in 0..20 {
            c = format!(r#"{{"and":[{c}]}}"#);
        }
        c
    };
    for bad in [
        "not json",
        "[]",
        r#"{"leftOperand":"odrl:count","operator":"odrl:near","rightOperand":1}"#,
        r#"{"leftOperand":"odrl:count","operator":"odrl:eq"}"#,
        r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperandReference":"http://x/y"}"#,
        r#"{"leftOperand":"odrl:dateTime","operator":"odrl:lt","rightOperand":{"@value":"soon","@type":"xsd:dateTime"}}"#,
        deep.as_str(),
    ] {
        let e = pb_triple(
            "Policy.PermissionGranted",
            "p",
            "a",
            "odrl:permission",
            "t",
            &[("action", "odrl:read"), ("constraint", bad)],
        );
        let st = events
            .append_events(pb::AppendEventsRequest { events: vec![e] })
            .await
            .expect_err(bad);
        assert_eq!(st.code(), Code::InvalidArgument, "{bad}: {st:?}");
        assert!(st.message().contains("constraint"), "{bad}: {}", st.message());
        let st = admin
            .grant_permission(with_constraint("p", "a", "odrl:read", "t", bad))
            .await
            .expect_err(bad);
        assert_eq!(st.code(), Code::InvalidArgument, "{bad}: {st:?}");
    }
    assert_eq!(common::log_head(&server).await, before, "nothing was written");

    let value = |v: pb::context_value::Value| pb::ContextValue {
        value: Some(v),
        unit: String::new(),
    };
    use pb::context_value::Value as V;
    let nested = value(V::List(pb::ContextList {
        values: vec![value(V::List(pb::ContextList::default()))],
    }));
    let many: Vec<(String, pb::ContextValue)> = (0..65).map(|i| (format!("ex:k{i}"), text("x"))).collect();
    let cases: Vec<(Vec<(String, pb::ContextValue)>, &str)> = vec![
        (vec![("purpose".into(), text("research"))], "context"),
        (vec![("odrl:purpose".into(), pb::ContextValue::default())], "context"),
        (vec![("odrl:count".into(), value(V::Number(f64::NAN)))], "context"),
        (vec![("odrl:purpose".into(), nested)], "context"),
        (
            vec![("odrl:purpose".into(), value(V::Iri("not an iri".into())))],
            "context",
        ),
        (
            vec![(
                "odrl:dateTime".into(),
                value(V::Timestamp(prost_types::Timestamp { seconds: 0, nanos: -1 })),
            )],
            "context",
        ),
        (vec![("odrl:purpose".into(), text("bad\u{0}text"))], "context"),
        (many, "context"),
    ];
    for (entries, field) in cases {
        let context: HashMap<String, pb::ContextValue> = entries.into_iter().collect();
        let st = grpc_check_in(&mut d, "a", None, "odrl:read", "t", None, context.clone())
            .await
            .expect_err("a bad context");
        assert_eq!(st.code(), Code::InvalidArgument, "{context:?}: {st:?}");
        assert!(st.message().contains(field), "{}", st.message());
    }
    // Over AuthZEN: 400, naming the member.
    let mut http = common::http::Http::h1(&server.authzen_url).await;
    for context in [
        serde_json::json!({"odrl:purpose": {"nested": {"object": 1}}}),
        serde_json::json!({"odrl:dateTime": {"@value": "2026-01-01T00:00:00", "@type": "xsd:dateTime"}}),
        serde_json::json!({"odrl:purpose": [["nested"]]}),
    ] {
        let reply = http
            .post(
                "/access/v1/evaluation",
                &serde_json::json!({
                    "subject": {"type": "user", "id": "a"},
                    "action": {"name": "read"},
                    "resource": {"type": "doc", "id": "t"},
                    "context": context
                }),
            )
            .await;
        assert_eq!(reply.status, 400, "{context}: {:?}", reply.json);
    }
    // The server still answers.
    let ok = grpc_check_in(
        &mut d,
        "a",
        None,
        "odrl:read",
        "t",
        None,
        ctx(&[("odrl:purpose", text("teaching"))]),
    )
    .await
    .unwrap();
    assert!(ok.allowed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duty_is_a_precondition_until_discharged() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let mut events = server.events().await;
    let mut d = server.decisions().await;
    let duty = r#"{"uid":"pay-song","action":"compensate"}"#;
    admin
        .grant_permission(pb::RuleRequest {
            duty: duty.into(),
            ..common::rule_request("music", "ann", "odrl:play", "song", "")
        })
        .await
        .unwrap();
    assert_eq!(
        rules(&server, "").await[0].duty,
        r#"{"action":"http://www.w3.org/ns/odrl/2/compensate","uid":"pay-song"}"#
    );
    let before = grpc_check(&mut d, "ann", None, "odrl:play", "song", FRESH)
        .await
        .unwrap();
    assert!(!before.allowed);
    let why = &before.explanation.as_ref().unwrap().conditions[0].why;
    assert!(why.contains("pay-song") && why.contains("not fulfilled"), "{why}");

    // A duty event that names no duty is stored, ignored and counted; one that does fulfils.
    let ev = |ty: &str, s: &str, p: &str, o: &str| pb_triple(ty, "music", s, p, o, &[]);
    events
        .append_events(pb::AppendEventsRequest {
            events: vec![
                ev("Policy.DutyImposed", "ann", "odrl:duty", "pay-song"),
                ev("Policy.DutyDischarged", "ann", "odrl:obligation", "pay-song"),
            ],
        })
        .await
        .unwrap();
    assert_eq!(common::server_status(&server).await.ignored_duties, 2);
    let still = grpc_check(&mut d, "ann", None, "odrl:play", "song", FRESH)
        .await
        .unwrap();
    assert!(!still.allowed);
    events
        .append_events(pb::AppendEventsRequest {
            events: vec![ev("Policy.DutyDischarged", "ann", "odrl:duty", "pay-song")],
        })
        .await
        .unwrap();
    let after = grpc_check(&mut d, "ann", None, "odrl:play", "song", FRESH)
        .await
        .unwrap();
    assert!(after.allowed, "{after:?}");
    assert_eq!(common::server_status(&server).await.ignored_duties, 2);

    // Only permissions have duties; only prohibitions have remedies.
    let st = admin
        .set_prohibition(pb::RuleRequest {
            duty: duty.into(),
            ..common::rule_request("music", "ann", "odrl:play", "song", "")
        })
        .await
        .expect_err("a prohibition has no duties");
    assert_eq!(st.code(), Code::InvalidArgument);
    let st = admin
        .grant_permission(pb::RuleRequest {
            remedy: r#"{"action":"odrl:compensate"}"#.into(),
            ..common::rule_request("music", "ann", "odrl:play", "song", "")
        })
        .await
        .expect_err("a permission has no remedies");
    assert_eq!(st.code(), Code::InvalidArgument);
    // A remedy is stored and listed, never enforced: the prohibition denies as before.
    admin
        .set_prohibition(pb::RuleRequest {
            remedy: r#"{"action":"odrl:compensate","uid":"fine"}"#.into(),
            ..common::rule_request("music", "ann", "odrl:play", "song", "")
        })
        .await
        .unwrap();
    let denied = grpc_check(&mut d, "ann", None, "odrl:play", "song", FRESH)
        .await
        .unwrap();
    assert_eq!(common::reason_name(denied.reason), "PROHIBITED");
    assert_eq!(
        denied.deciding_rule.as_ref().unwrap().remedy,
        r#"{"action":"odrl:compensate","uid":"fine"}"#
    );
}
