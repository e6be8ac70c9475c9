//! The admin and event APIs over real sockets: idempotent writes, paged lists, the audit
//! log, watches, health and reflection, and writes made by another process.

use crate::common;

use common::{Server, grpc_check};
use endocarp::grpc::pb;
use std::collections::BTreeSet;
use tonic::Code;

fn rule(policy: &str, assignee: &str, action: &str, target: &str, rid: &str) -> pb::RuleRequest {
    common::rule_request(policy, assignee, action, target, rid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_writes_are_idempotent_visible_paged_and_audited() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let mut d = server.decisions().await;

    let first = admin
        .grant_permission(rule("pol", "editor", "odrl:modify", "doc", "req-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.revision, 1);
    let retry = admin
        .grant_permission(rule("pol", "editor", "odrl:modify", "doc", "req-1"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry, first, "a retry with the same request_id is the same write");
    let st = admin
        .grant_permission(rule("pol", "editor", "odrl:read", "doc", "req-1"))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::AlreadyExists);

    let mut req = tonic::Request::new(common::role_request("alice", "editor", ""));
    req.metadata_mut()
        .insert("x-correlation-id", "corr-42".parse().unwrap());
    let w = admin.assign_role(req).await.unwrap().into_inner();
    // Reply after apply: the very next check sees the write, at that revision.
    let dec = grpc_check(&mut d, "alice", None, "odrl:modify", "doc", None)
        .await
        .unwrap();
    assert!(dec.allowed);
    assert_eq!(dec.revision, w.revision);
    let r = dec.deciding_rule.unwrap();
    assert_eq!(
        (r.policy_id.as_str(), r.assignee.as_str(), r.action.as_str()),
        ("pol", "editor", "http://www.w3.org/ns/odrl/2/modify")
    );
    assert_eq!(dec.explanation.unwrap().assignees, vec!["alice", "editor"]);

    // Account scope, membership, role-to-role, groups.
    admin
        .add_member(common::member_request("acme", "bob", "viewer"))
        .await
        .unwrap();
    admin
        .assign_role(common::role_request("bob", "auditor", "acme"))
        .await
        .unwrap();
    admin
        .assign_role_to_role(common::inherit_request("auditor", "viewer"))
        .await
        .unwrap();
    admin
        .add_group_member(common::group_request("carol", "staff"))
        .await
        .unwrap();
    admin
        .grant_permission(rule("pol", "viewer", "odrl:read", "*", ""))
        .await
        .unwrap();
    admin
        .grant_permission(rule("pol", "staff", "odrl:read", "wiki", ""))
        .await
        .unwrap();
    assert!(
        grpc_check(&mut d, "bob", Some("acme"), "odrl:read", "x", None)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        !grpc_check(&mut d, "bob", None, "odrl:read", "x", None)
            .await
            .unwrap()
            .allowed
    );
    assert!(
        grpc_check(&mut d, "carol", None, "odrl:read", "wiki", None)
            .await
            .unwrap()
            .allowed
    );
    admin
        .remove_group_member(common::group_request("carol", "staff"))
        .await
        .unwrap();
    assert!(
        !grpc_check(&mut d, "carol", None, "odrl:read", "wiki", None)
            .await
            .unwrap()
            .allowed
    );
    admin
        .remove_member(common::member_request("acme", "bob", ""))
        .await
        .unwrap();
    assert!(
        !grpc_check(&mut d, "bob", Some("acme"), "odrl:read", "x", None)
            .await
            .unwrap()
            .allowed,
        "removal ends the membership role and the account edge"
    );

    // Statuses.
    admin.deactivate_agent(common::status_request("alice")).await.unwrap();
    let dec = grpc_check(&mut d, "alice", None, "odrl:modify", "doc", None)
        .await
        .unwrap();
    assert_eq!(common::reason_name(dec.reason), "AGENT_INACTIVE");
    admin.activate_agent(common::status_request("alice")).await.unwrap();
    admin.deactivate_policy(common::status_request("pol")).await.unwrap();
    assert!(
        !grpc_check(&mut d, "alice", None, "odrl:modify", "doc", None)
            .await
            .unwrap()
            .allowed
    );
    admin.activate_policy(common::status_request("pol")).await.unwrap();
    assert!(
        grpc_check(&mut d, "alice", None, "odrl:modify", "doc", None)
            .await
            .unwrap()
            .allowed
    );
    admin
        .set_prohibition(rule("pol2", "alice", "odrl:use", "doc", ""))
        .await
        .unwrap();
    let dec = grpc_check(&mut d, "alice", None, "odrl:modify", "doc", None)
        .await
        .unwrap();
    assert_eq!(common::reason_name(dec.reason), "PROHIBITED");
    admin
        .revoke_prohibition(rule("pol2", "alice", "odrl:use", "doc", ""))
        .await
        .unwrap();
    admin
        .revoke_permission(rule("pol", "editor", "odrl:modify", "doc", ""))
        .await
        .unwrap();
    assert!(
        !grpc_check(&mut d, "alice", None, "odrl:modify", "doc", None)
            .await
            .unwrap()
            .allowed
    );

    // Paged lists: 25 more rules, pages of 10, every rule exactly once.
    for i in 0..25 {
        admin
            .grant_permission(rule("bulk", &format!("user-{i:02}"), "odrl:read", "doc", ""))
            .await
            .unwrap();
    }
    let mut seen = BTreeSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = admin
            .list_rules(pb::ListRulesRequest {
                policy_id: "bulk".into(),
                assignee: String::new(),
                page_size: 10,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        for r in page.rules {
            assert!(seen.insert(r.rule.unwrap().assignee), "no rule twice");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(pages, 3);
    let roles = admin
        .list_role_assignments(pb::ListRoleAssignmentsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let got: Vec<(String, String, String, String)> = roles
        .assignments
        .into_iter()
        .map(|a| (a.account_id, a.node_id, a.role_id, a.source))
        .collect();
    assert_eq!(
        got,
        vec![
            (String::new(), "alice".into(), "editor".into(), "role".into()),
            (String::new(), "auditor".into(), "viewer".into(), "role-to-role".into()),
        ]
    );
    assert!(
        admin
            .list_members(pb::ListMembersRequest::default())
            .await
            .unwrap()
            .into_inner()
            .members
            .is_empty()
    );
    admin.deactivate_policy(common::status_request("bulk")).await.unwrap();
    let listed = admin
        .list_rules(pb::ListRulesRequest {
            policy_id: "bulk".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!listed.rules[0].policy_active);

    // The audit log: one entry per change, the actor is the server's, not the caller's.
    let mut entries = Vec::new();
    let mut token = String::new();
    loop {
        let page = admin
            .list_audit_log(pb::ListAuditLogRequest {
                page_size: 7,
                page_token: token,
            })
            .await
            .unwrap()
            .into_inner();
        entries.extend(page.entries);
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    let head = common::log_head(&server).await;
    assert_eq!(
        entries.len() as u64,
        head,
        "every change audited once (the retry appended nothing)"
    );
    assert!(entries.iter().all(|e| e.actor == "local-unauthenticated"));
    assert_eq!(entries[0].action, "GrantPermission");
    assert_eq!(entries[0].correlation_id, "req-1");
    assert_eq!(entries[1].action, "AssignRole");
    assert_eq!(entries[1].correlation_id, "corr-42");
    assert_eq!(entries[1].event_ids, w.event_ids);
}

async fn channel(url: &str) -> tonic::transport::Channel {
    tonic::transport::Channel::from_shared(url.to_string())
        .unwrap()
        .connect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    let server = Server::start(&[]);
    for (url, services) in [
        (&server.decision_url, vec!["", "endocarp.v1.AuthorizationService"]),
        (
            &server.admin_url,
            vec!["", "endocarp.v1.PolicyAdminService", "endocarp.v1.EventService"],
        ),
    ] {
        let mut h = HealthClient::new(channel(url).await);
        for s in services {
            let r = h
                .check(HealthCheckRequest { service: s.into() })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(r.status, ServingStatus::Serving as i32, "{url} {s:?}");
        }
    }
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let mut r = ServerReflectionClient::new(channel(&server.decision_url).await);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = r
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    let msg = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("no service list")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"endocarp.v1.AuthorizationService".to_string()),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health".to_string()), "{names:?}");
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient as V1;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest as M1;
    let mut r1 = V1::new(channel(&server.decision_url).await);
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(M1::ListServices(String::new())),
    };
    let mut stream = r1
        .server_reflection_info(tokio_stream::iter(vec![req]))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_applied_events_in_order() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    admin
        .grant_permission(rule("p", "a", "odrl:read", "t", ""))
        .await
        .unwrap();
    let mut events = server.events().await;
    let mut stream = events
        .watch_events(pb::WatchEventsRequest { after_revision: 0 })
        .await
        .unwrap()
        .into_inner();
    for i in 0..3 {
        admin
            .grant_permission(rule("p", &format!("w{i}"), "odrl:read", "t", ""))
            .await
            .unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 4 {
        let msg = tokio::time::timeout(std::time::Duration::from_secs(10), stream.message())
            .await
            .expect("watch delivers")
            .unwrap()
            .unwrap();
        got.extend(msg.events);
    }
    let positions: Vec<u64> = got.iter().map(|e| e.position).collect();
    assert_eq!(positions, vec![1, 2, 3, 4]);
    assert_eq!(got[3].subject, "w2");
    assert_eq!(got[3].predicate, "http://www.w3.org/ns/odrl/2/permission");
    assert_eq!(got[3].attributes["action"], "http://www.w3.org/ns/odrl/2/read");
    assert_eq!(got[3].sequence_no, 4);
    // Reads page by revision and by aggregate.
    let page = events
        .read_events(pb::ReadEventsRequest {
            after_revision: 1,
            page_size: 2,
            aggregate_id: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.events.len(), 2);
    assert_eq!(page.next_after_revision, 3);
    assert_eq!(page.head_revision, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_by_another_process_are_picked_up() {
    let server = Server::start(&["--poll-interval", "50ms"]);
    let mut d = server.decisions().await;
    assert!(
        !grpc_check(&mut d, "ext", None, "odrl:read", "t", None)
            .await
            .unwrap()
            .allowed
    );
    // Another process appends straight into the database file.
    let file = server.dir.join("ext.jsonl");
    std::fs::write(
        &file,
        r#"{"id":"x1","aggregate_id":"p","event_type":"Policy.PermissionGranted","payload":{"subject":"ext","predicate":"odrl:permission","object":"t","action":"odrl:read"}}
"#,
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args([
            "import",
            file.to_str().unwrap(),
            "--database-url",
            &server.database_url(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let full = Some(pb::Consistency {
        at_least_revision: 0,
        fully_consistent: true,
    });
    let dec = grpc_check(&mut d, "ext", None, "odrl:read", "t", full).await.unwrap();
    assert!(dec.allowed, "fully_consistent reads the head and waits for it");
    assert_eq!(dec.revision, 1);
}

/// An Offer (and any Request or Assertion) is stored, listed and explained, and never
/// grants or denies; a later `Policy.Created` with an enforced type makes its rules count
/// at once, and back again. The explanation names the rules that did not count, over gRPC
/// and over AuthZEN.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_is_listed_and_explained_but_never_enforced() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let mut d = server.decisions().await;
    admin
        .create_policy(common::policy_request("offer", "odrl:Offer"))
        .await
        .unwrap();
    for (permission, policy, assignee, target) in [
        (true, "offer", "alice", "doc"),
        (false, "offer", "bob", "doc"),
        (true, "offer", "user:carol", "doc:x"),
        (true, "set", "bob", "doc"),
    ] {
        let r = rule(policy, assignee, "odrl:read", target, "");
        if permission {
            admin.grant_permission(r).await.unwrap();
        } else {
            admin.set_prohibition(r).await.unwrap();
        }
    }

    let alice = grpc_check(&mut d, "alice", None, "odrl:read", "doc", None)
        .await
        .unwrap();
    assert!(!alice.allowed, "an Offer grants nothing");
    assert_eq!(common::reason_name(alice.reason), "NOT_PERMITTED");
    let unenforced = &alice.explanation.as_ref().unwrap().unenforced_rules;
    assert_eq!(unenforced.len(), 1, "{unenforced:?}");
    assert_eq!(
        (unenforced[0].policy_id.as_str(), unenforced[0].assignee.as_str()),
        ("offer", "alice")
    );
    let bob = grpc_check(&mut d, "bob", None, "odrl:read", "doc", None).await.unwrap();
    assert!(bob.allowed, "an Offer's prohibition denies nothing");
    assert_eq!(bob.deciding_rule.as_ref().unwrap().policy_id, "set");
    assert_eq!(bob.explanation.as_ref().unwrap().unenforced_rules.len(), 1);

    let offer_rules = pb::ListRulesRequest {
        policy_id: "offer".into(),
        ..Default::default()
    };
    let listed = admin.list_rules(offer_rules.clone()).await.unwrap().into_inner();
    assert_eq!(listed.rules.len(), 3);
    for r in &listed.rules {
        assert_eq!(r.policy_type, "http://www.w3.org/ns/odrl/2/Offer");
        assert!(r.policy_active && !r.counts, "{r:?}");
    }

    // Over AuthZEN too: the explanation carries the rule that did not count.
    let mut http = common::http::Http::h1(&server.authzen_url).await;
    let reply = http
        .post(
            "/access/v1/evaluation",
            &serde_json::json!({
                "subject": {"type": "user", "id": "carol"},
                "action": {"name": "read"},
                "resource": {"type": "doc", "id": "x"},
                "context": {"explain": true}
            }),
        )
        .await;
    assert_eq!(reply.status, 200, "{:?}", reply.json);
    assert_eq!(reply.json["decision"], false);
    let unenforced = &reply.json["context"]["explanation"]["unenforced_rules"];
    assert_eq!(unenforced[0]["policy"], "offer", "{:?}", reply.json);
    assert_eq!(unenforced.as_array().map(Vec::len), Some(1));

    // The Offer becomes an Agreement: its rules count from the revision that says so.
    admin
        .create_policy(common::policy_request("offer", "odrl:Agreement"))
        .await
        .unwrap();
    let fresh = Some(pb::Consistency {
        at_least_revision: 0,
        fully_consistent: true,
    });
    let alice = grpc_check(&mut d, "alice", None, "odrl:read", "doc", fresh)
        .await
        .unwrap();
    assert!(alice.allowed);
    assert!(alice.explanation.as_ref().unwrap().unenforced_rules.is_empty());
    let bob = grpc_check(&mut d, "bob", None, "odrl:read", "doc", fresh)
        .await
        .unwrap();
    assert!(!bob.allowed, "the Agreement's prohibition now denies");
    let listed = admin.list_rules(offer_rules).await.unwrap().into_inner();
    assert!(listed.rules.iter().all(|r| r.counts));

    // And back: an Offer again stops granting at once (a revocation).
    admin
        .create_policy(common::policy_request("offer", "odrl:Offer"))
        .await
        .unwrap();
    let alice = grpc_check(&mut d, "alice", None, "odrl:read", "doc", fresh)
        .await
        .unwrap();
    assert!(!alice.allowed);
}

/// Asset collections through the admin API: a rule on a collection covers an asset added to
/// it (the deciding rule names the collection), look-ups list the asset, removing it ends
/// the cover, and `*` or an empty id is refused with nothing written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_collections_through_the_admin_api() {
    let server = Server::start(&[]);
    let mut admin = server.admin().await;
    let mut d = server.decisions().await;
    let member = |asset: &str, collection: &str| pb::AssetCollectionRequest {
        asset_id: asset.into(),
        collection_id: collection.into(),
        request_id: String::new(),
    };
    admin
        .grant_permission(rule("docs", "ann", "odrl:read", "reports", ""))
        .await
        .unwrap();
    admin
        .set_prohibition(rule("docs", "ann", "odrl:read", "secret", ""))
        .await
        .unwrap();
    assert!(
        !grpc_check(&mut d, "ann", None, "odrl:read", "q3", None)
            .await
            .unwrap()
            .allowed
    );
    admin.add_to_collection(member("q3", "reports")).await.unwrap();
    let mut explained = common::check_request("ann", "odrl:read", "q3");
    explained.explain = true;
    let decision = d.is_authorized(explained).await.unwrap().into_inner().decision.unwrap();
    assert!(decision.allowed);
    assert_eq!(
        decision.deciding_rule.unwrap().target,
        "reports",
        "the rule on the collection decided"
    );

    // A prohibition on a collection the asset is also in denies it.
    admin.add_to_collection(member("q3", "secret")).await.unwrap();
    assert_eq!(
        common::reason_name(
            grpc_check(&mut d, "ann", None, "odrl:read", "q3", None)
                .await
                .unwrap()
                .reason
        ),
        "PROHIBITED"
    );
    admin.remove_from_collection(member("q3", "secret")).await.unwrap();

    let targets = d
        .lookup_targets(pb::LookupTargetsRequest {
            agent_id: "ann".into(),
            action: "odrl:read".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(targets.targets, ["q3", "reports"]);
    let actions = d
        .list_actions(pb::ListActionsRequest {
            agent_id: "ann".into(),
            target: "q3".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(actions.actions, ["http://www.w3.org/ns/odrl/2/read"]);

    admin.remove_from_collection(member("q3", "reports")).await.unwrap();
    assert!(
        !grpc_check(&mut d, "ann", None, "odrl:read", "q3", None)
            .await
            .unwrap()
            .allowed
    );

    let head = common::log_head(&server).await;
    for (asset, collection, field) in [
        ("*", "reports", "asset_id"),
        ("q3", "", "collection_id"),
        ("q3", "*", "collection_id"),
    ] {
        let e = admin.add_to_collection(member(asset, collection)).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{asset:?} {collection:?}");
        assert!(e.message().contains(field), "{}", e.message());
    }
    assert_eq!(common::log_head(&server).await, head, "refused writes change nothing");
}
