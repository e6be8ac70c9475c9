//! CheckBatch and the look-ups over gRPC (issue 15): one snapshot per batch, per-item
//! errors, early stops; pages answered at the first page's revision even after writes;
//! "every target except"; tokens that are tamper-evident, bound to their request, expire
//! and fail over replicas as FAILED_PRECONDITION; page limits; the `lookup` scope.

use crate::common;

use common::Server;
use endocarp::grpc::pb;
use endocarp::grpc::pb::authorization_service_client::AuthorizationServiceClient;
use tonic::Code;
use tonic::transport::Channel;

fn item(id: &str, agent: &str, account: &str, action: &str, target: &str) -> pb::BatchItem {
    pb::BatchItem {
        correlation_id: id.into(),
        agent_id: agent.into(),
        account_id: account.into(),
        action: action.into(),
        target: target.into(),
        context: Default::default(),
    }
}

fn outcome(r: &pb::BatchResult) -> Result<&pb::Decision, &pb::ItemError> {
    match r.outcome.as_ref().expect("an outcome") {
        pb::batch_result::Outcome::Decision(d) => Ok(d),
        pb::batch_result::Outcome::Error(e) => Err(e),
    }
}

async fn batch(
    c: &mut AuthorizationServiceClient<Channel>,
    items: Vec<pb::BatchItem>,
    semantics: pb::BatchSemantics,
) -> Result<pb::CheckBatchResponse, tonic::Status> {
    c.check_batch(pb::CheckBatchRequest {
        items,
        semantics: semantics as i32,
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_batch_decides_every_item_on_one_snapshot_in_order() {
    let server = Server::start(&["--max-batch-checks", "6"]);
    let mut c = server.client().await;
    c.grant("p", "reader", "odrl:read", "doc").await;
    c.prohibit("p", "banned", "odrl:read", "doc").await;
    c.assign("ann", "reader").await;
    c.assign("bob", "reader").await;
    c.assign("bob", "banned").await;
    c.add_member("acme", "cat", "reader").await;
    let items = vec![
        item("1", "ann", "", "odrl:read", "doc"),
        item("2", "bob", "", "odrl:read", "doc"),
        item("3", "", "", "odrl:read", "doc"),
        item("4", "reader", "", "odrl:read", "doc"),
        item("5", "cat", "acme", "odrl:read", "doc"),
        item("6", "cat", "", "not an action", "doc"),
    ];
    let r = batch(&mut c.decisions, items.clone(), pb::BatchSemantics::ExecuteAll)
        .await
        .unwrap();
    let head = c.head().await;
    assert_eq!(r.revision, head);
    let ids: Vec<&str> = r.results.iter().map(|r| r.correlation_id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6"], "results in request order");
    // Each decided item is exactly the single call's decision.
    for (i, res) in r.results.iter().enumerate() {
        let it = &items[i];
        let account = (!it.account_id.is_empty()).then_some(it.account_id.as_str());
        let single = common::grpc_check(&mut c.decisions, &it.agent_id, account, &it.action, &it.target, None).await;
        match (outcome(res), single) {
            (Ok(d), Ok(mut s)) => {
                s.explanation = None;
                assert_eq!(d, &s, "item {i}");
            }
            (Err(e), Err(s)) => {
                assert_eq!(e.code, s.code() as i32, "item {i}");
                assert_eq!(e.message, s.message(), "item {i}");
            }
            (got, want) => panic!("item {i}: batch {got:?}, single {want:?}"),
        }
    }
    assert!(outcome(&r.results[0]).unwrap().allowed);
    assert!(!outcome(&r.results[1]).unwrap().allowed);
    let e = outcome(&r.results[2]).unwrap_err();
    assert_eq!((e.code, e.field.as_str()), (Code::InvalidArgument as i32, "agent_id"));
    let e = outcome(&r.results[3]).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_str()),
        (Code::InvalidArgument as i32, "agent_id"),
        "a role is not an agent"
    );
    assert!(outcome(&r.results[4]).unwrap().allowed);
    assert_eq!(outcome(&r.results[5]).unwrap_err().field, "action");

    // Early stops: the prefix up to and including the first deny / permit.
    let r = batch(&mut c.decisions, items.clone(), pb::BatchSemantics::DenyOnFirstDeny)
        .await
        .unwrap();
    assert_eq!(r.results.len(), 2);
    let r = batch(
        &mut c.decisions,
        items[1..].to_vec(),
        pb::BatchSemantics::PermitOnFirstPermit,
    )
    .await
    .unwrap();
    assert_eq!(r.results.len(), 4, "bob denied, two errors, then cat allowed");
    let r = batch(
        &mut c.decisions,
        items[2..].to_vec(),
        pb::BatchSemantics::DenyOnFirstDeny,
    )
    .await
    .unwrap();
    assert_eq!(r.results.len(), 1, "an item that fails counts as a deny");

    // Malformed requests as a whole.
    let st = batch(&mut c.decisions, vec![], pb::BatchSemantics::ExecuteAll)
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let seven = vec![item("x", "ann", "", "odrl:read", "doc"); 7];
    let st = batch(&mut c.decisions, seven, pb::BatchSemantics::ExecuteAll)
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    assert!(st.message().contains("max_batch_checks"), "{}", st.message());
    let st = c
        .decisions
        .check_batch(pb::CheckBatchRequest {
            items: items[..1].to_vec(),
            semantics: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
}

async fn targets_page(
    c: &mut AuthorizationServiceClient<Channel>,
    agent: &str,
    size: u32,
    token: &str,
) -> Result<pb::LookupTargetsResponse, tonic::Status> {
    c.lookup_targets(pb::LookupTargetsRequest {
        agent_id: agent.into(),
        action: "odrl:read".into(),
        page_size: size,
        page_token: token.into(),
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

async fn agents_page(
    c: &mut AuthorizationServiceClient<Channel>,
    target: &str,
    size: u32,
    token: &str,
) -> Result<pb::LookupAgentsResponse, tonic::Status> {
    c.lookup_agents(pb::LookupAgentsRequest {
        action: "odrl:read".into(),
        target: target.into(),
        page_size: size,
        page_token: token.into(),
        ..Default::default()
    })
    .await
    .map(tonic::Response::into_inner)
}

fn doc(i: usize) -> String {
    format!("doc-{i:03}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_ups_page_at_the_first_pages_revision_and_never_cut_silently() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    let mut events = Vec::new();
    for i in 0..250 {
        events.push(common::pb_triple(
            "Policy.PermissionGranted",
            "p",
            "reader",
            "odrl:permission",
            &doc(i),
            &[("action", "odrl:read")],
        ));
    }
    c.append(events).await.unwrap();
    let mut agents = Vec::new();
    for i in 0..130 {
        agents.push(common::pb_triple(
            "Agent.RoleAssigned",
            &format!("agent-{i:03}"),
            &format!("agent-{i:03}"),
            "org:hasRole",
            "reader",
            &[],
        ));
    }
    c.append(agents).await.unwrap();
    c.prohibit("p", "agent-007", "odrl:read", "doc-000").await;
    let start = c.head().await;

    // Targets: 250 in pages of 100, with a write between the pages.
    let first = targets_page(&mut c.decisions, "agent-001", 100, "").await.unwrap();
    assert_eq!(first.revision, start);
    assert_eq!(first.targets.len(), 100);
    assert!(!first.every_target && first.except.is_empty());
    assert!(!first.next_page_token.is_empty(), "more results: a token");
    c.revoke("agent-001", "reader").await;
    let mut all = first.targets.clone();
    let mut token = first.next_page_token;
    while !token.is_empty() {
        let p = targets_page(&mut c.decisions, "agent-001", 100, &token).await.unwrap();
        assert_eq!(p.revision, start, "every page at the first page's revision");
        all.extend(p.targets);
        token = p.next_page_token;
    }
    let want: Vec<String> = (0..250).map(doc).collect();
    assert_eq!(all, want, "the pages concatenate to every target, in byte order");
    let now = targets_page(&mut c.decisions, "agent-001", 0, "").await.unwrap();
    assert!(
        now.targets.is_empty() && now.revision > start,
        "a new look-up sees the revoke"
    );
    let exact = targets_page(&mut c.decisions, "agent-002", 1000, "").await.unwrap();
    assert_eq!(exact.targets.len(), 250);
    assert!(exact.next_page_token.is_empty(), "no token when nothing follows");

    // Agents: the prohibition on doc-000 removes agent-007; agent-001 was revoked.
    let mut all = Vec::new();
    let mut token = String::new();
    loop {
        let p = agents_page(&mut c.decisions, "doc-000", 50, &token).await.unwrap();
        all.extend(p.agents);
        token = p.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    let want: Vec<String> = (0..130)
        .filter(|&i| i != 1 && i != 7)
        .map(|i| format!("agent-{i:03}"))
        .collect();
    assert_eq!(all, want);

    // Everyone except: a permission on `*` and two prohibitions.
    c.grant("p", "editor", "odrl:modify", "*").await;
    c.prohibit("p", "editor", "odrl:modify", "doc-005").await;
    c.prohibit("p", "editor", "odrl:use", "doc-006").await;
    c.assign("eve", "editor").await;
    let r = c
        .decisions
        .lookup_targets(pb::LookupTargetsRequest {
            agent_id: "eve".into(),
            action: "odrl:modify".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(r.every_target && r.targets.is_empty());
    assert_eq!(
        r.except,
        ["doc-005", "doc-006"],
        "a prohibition of odrl:use covers odrl:modify"
    );

    // ListActions: exactly what the checks allow.
    for (target, want) in [
        ("doc-100", vec!["http://www.w3.org/ns/odrl/2/modify"]),
        ("doc-006", vec![]),
    ] {
        let r = c
            .decisions
            .list_actions(pb::ListActionsRequest {
                agent_id: "eve".into(),
                target: target.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.actions, want, "{target}");
        for a in ["odrl:modify", "odrl:read", "odrl:use", "odrl:delete"] {
            let d = c.check("eve", a, target).await.unwrap();
            assert_eq!(d.allowed, r.actions.contains(&d.action), "{a} on {target}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_tokens_are_sealed_bound_and_expire() {
    let server = Server::start(&["--lookup-page-ttl", "2s"]);
    let mut c = server.client().await;
    for i in 0..5 {
        c.grant("p", "reader", "odrl:read", &doc(i)).await;
    }
    c.assign("ann", "reader").await;
    let first = targets_page(&mut c.decisions, "ann", 2, "").await.unwrap();
    let token = first.next_page_token.clone();
    assert!(!token.is_empty());
    // Altered or truncated: INVALID_ARGUMENT, never a page.
    let mut altered = token.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'0' { b'1' } else { b'0' };
    for bad in [
        String::from_utf8(altered).unwrap(),
        token[..token.len() - 2].to_string(),
        "zz".into(),
    ] {
        let st = targets_page(&mut c.decisions, "ann", 2, &bad).await.unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{bad}: {st:?}");
    }
    // Another request's token.
    let st = targets_page(&mut c.decisions, "bob", 2, &token).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    let st = agents_page(&mut c.decisions, "doc-000", 2, &token).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    // Page sizes.
    let st = targets_page(&mut c.decisions, "ann", 1001, "").await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    // A role is not an agent.
    let st = targets_page(&mut c.decisions, "reader", 2, "").await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument);
    // Another replica (another key): FAILED_PRECONDITION, saying what to do.
    let other = Server::start(&[]);
    let mut oc = other.decisions().await;
    let st = targets_page(&mut oc, "ann", 2, &token).await.unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition);
    assert!(st.message().contains("restart the look-up"), "{}", st.message());
    // Valid now, expired after the TTL.
    assert!(targets_page(&mut c.decisions, "ann", 2, &token).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(2300)).await;
    let st = targets_page(&mut c.decisions, "ann", 2, &token).await.unwrap_err();
    assert_eq!(st.code(), Code::FailedPrecondition);
    assert!(st.message().contains("restart the look-up"), "{}", st.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_secret_accept_each_others_tokens_at_a_revision_they_hold() {
    let secret = [("ENDOCARP_LOOKUP_TOKEN_SECRET", "a-shared-secret-of-32-bytes-....")];
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = Server::start_with(Some(&db), &[], &secret, None);
    let b = Server::start_with(Some(&db), &[], &secret, None);
    let mut c = a.client().await;
    for i in 0..3 {
        c.grant("p", "reader", "odrl:read", &doc(i)).await;
    }
    c.assign("ann", "reader").await;
    let head = c.head().await;
    let first = targets_page(&mut c.decisions, "ann", 1, "").await.unwrap();
    // Replica b holds that revision once it has applied it.
    let mut bd = b.decisions().await;
    let second = bd
        .lookup_targets(pb::LookupTargetsRequest {
            agent_id: "ann".into(),
            action: "odrl:read".into(),
            page_size: 1,
            consistency: Some(pb::Consistency {
                at_least_revision: head,
                fully_consistent: false,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.revision, head);
    let p = targets_page(&mut bd, "ann", 1, &first.next_page_token).await.unwrap();
    assert_eq!(p.targets, [doc(1)]);
    assert_eq!(p.revision, head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_ups_need_the_lookup_scope_when_decisions_need_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens");
    let (ops, svc, finder) = (
        "ops-token-0123456789abcdef",
        "svc-token-0123456789abcdef",
        "finder-token-0123456789abcdef",
    );
    std::fs::write(
        &path,
        format!("ops:read,write:{ops}\nsvc:check:{svc}\nfinder:check,lookup:{finder}\n"),
    )
    .unwrap();
    let server = Server::start(&[
        "--admin-tokens-file",
        &path.display().to_string(),
        "--decision-auth",
        "true",
    ]);
    let mut c = server.decisions().await;
    let with = |token: &str, msg: pb::LookupTargetsRequest| {
        let mut r = tonic::Request::new(msg);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    };
    let req = pb::LookupTargetsRequest {
        agent_id: "ann".into(),
        action: "odrl:read".into(),
        ..Default::default()
    };
    let st = c.lookup_targets(with(svc, req.clone())).await.unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied, "a check-only token cannot look up");
    assert!(st.message().contains("lookup"), "{}", st.message());
    let st = c.lookup_targets(tonic::Request::new(req.clone())).await.unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    assert!(c.lookup_targets(with(finder, req)).await.is_ok());
    let mut list = tonic::Request::new(pb::ListActionsRequest {
        agent_id: "ann".into(),
        target: "doc".into(),
        ..Default::default()
    });
    list.metadata_mut()
        .insert("authorization", format!("Bearer {svc}").parse().unwrap());
    assert_eq!(c.list_actions(list).await.unwrap_err().code(), Code::PermissionDenied);
    let mut b = tonic::Request::new(pb::CheckBatchRequest {
        items: vec![item("1", "ann", "", "odrl:read", "doc")],
        ..Default::default()
    });
    b.metadata_mut()
        .insert("authorization", format!("Bearer {svc}").parse().unwrap());
    assert!(c.check_batch(b).await.is_ok(), "CheckBatch needs only check");
}
