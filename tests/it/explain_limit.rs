//! `explain_limit`: an explanation's lists hold their first entries up to the limit and
//! count them all, on gRPC (single checks, in an account, batches) and on AuthZEN; a limit
//! over the bounds is INVALID_ARGUMENT naming the field (400 on AuthZEN), and changes
//! nothing about the decision.

use crate::common::Server;
use crate::common::http::Http;
use endocarp::grpc::pb;
use serde_json::json;
use tonic::Code;

/// "user:ann" holds five roles, each granting read on "doc:1": a decision with four other rules
/// and six assignees.
async fn five_roles(server: &Server) {
    let mut c = server.client().await;
    for i in 0..5 {
        let role = format!("role-{i}");
        c.grant("p", &role, "odrl:read", "doc:1").await;
        c.assign("user:ann", &role).await;
        c.add_member("acme", "user:ann", &role).await;
    }
}

fn request(explain_limit: u32) -> pb::IsAuthorizedRequest {
    pb::IsAuthorizedRequest {
        agent_id: "user:ann".into(),
        action: "odrl:read".into(),
        target: "doc:1".into(),
        explain: true,
        explain_limit,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_hold_their_first_entries_and_count_them_all() {
    let server = Server::start(&[]);
    five_roles(&server).await;
    let mut d = server.decisions().await;
    let whole = d
        .is_authorized(request(0))
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap();
    let e = whole.explanation.clone().unwrap();
    assert!(whole.allowed);
    assert_eq!((e.assignees.len(), e.assignees_total), (6, 6));
    assert_eq!((e.other_rules.len(), e.other_rules_total), (4, 4));
    assert_eq!((e.unenforced_rules_total, e.conditions_total), (0, 0));

    for limit in [1u32, 2, 4, 6] {
        let cut = d
            .is_authorized(request(limit))
            .await
            .unwrap()
            .into_inner()
            .decision
            .unwrap();
        // The same decision and deciding rule; each list the first `limit` of the whole.
        assert_eq!(
            (cut.allowed, cut.reason, &cut.deciding_rule, cut.revision),
            (whole.allowed, whole.reason, &whole.deciding_rule, whole.revision)
        );
        let c = cut.explanation.unwrap();
        let n = limit as usize;
        assert_eq!(c.assignees, e.assignees[..n.min(6)].to_vec(), "limit {limit}");
        assert_eq!(c.other_rules, e.other_rules[..n.min(4)].to_vec(), "limit {limit}");
        assert_eq!((c.assignees_total, c.other_rules_total), (6, 4));
    }

    let in_account = d
        .is_authorized_in_account(pb::IsAuthorizedInAccountRequest {
            agent_id: "user:ann".into(),
            account_id: "acme".into(),
            action: "odrl:read".into(),
            target: "doc:1".into(),
            explain: true,
            explain_limit: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap();
    let c = in_account.explanation.unwrap();
    assert!(in_account.allowed);
    assert_eq!((c.assignees.len(), c.assignees_total), (3, 6));
    assert_eq!((c.other_rules.len(), c.other_rules_total), (3, 4));

    // Over the bound: refused, naming the field, whether or not explain is set.
    for explain in [true, false] {
        let st = d
            .is_authorized(pb::IsAuthorizedRequest {
                explain,
                ..request(10_001)
            })
            .await
            .unwrap_err();
        assert_eq!(st.code(), Code::InvalidArgument, "{st}");
        assert!(st.message().contains("explain_limit"), "{st}");
    }
    assert!(d.is_authorized(request(10_000)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_shares_one_budget_of_listed_entries() {
    let server = Server::start(&[]);
    five_roles(&server).await;
    let mut d = server.decisions().await;
    let item = |id: &str| pb::BatchItem {
        correlation_id: id.into(),
        agent_id: "user:ann".into(),
        action: "odrl:read".into(),
        target: "doc:1".into(),
        ..Default::default()
    };
    let batch = |n: usize, explain_limit: u32| pb::CheckBatchRequest {
        items: (0..n).map(|i| item(&i.to_string())).collect(),
        explain: true,
        explain_limit,
        ..Default::default()
    };
    let r = d.check_batch(batch(3, 2)).await.unwrap().into_inner();
    assert_eq!(r.results.len(), 3);
    for res in &r.results {
        let Some(pb::batch_result::Outcome::Decision(dec)) = &res.outcome else {
            panic!("{res:?}")
        };
        let e = dec.explanation.as_ref().unwrap();
        assert!(dec.allowed);
        assert_eq!((e.assignees.len(), e.assignees_total), (2, 6));
        assert_eq!((e.other_rules.len(), e.other_rules_total), (2, 4));
    }
    // 20 items × 5,001 entries is over the batch's 100,000: refused as a whole.
    let st = d.check_batch(batch(20, 5_001)).await.unwrap_err();
    assert_eq!(st.code(), Code::InvalidArgument, "{st}");
    assert!(
        st.message().contains("explain_limit") && st.message().contains("5000"),
        "{st}"
    );
    assert!(d.check_batch(batch(20, 5_000)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authzen_reads_explain_limit_from_the_context() {
    let server = Server::start(&[]);
    five_roles(&server).await;
    let mut h = Http::h2(&server.authzen_url).await;
    let body = |context: serde_json::Value| {
        json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"},
               "resource": {"type": "doc", "id": "1"}, "context": context})
    };
    let r = h
        .post(
            "/access/v1/evaluation",
            &body(json!({"explain": true, "explain_limit": 2})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let e = &r.json["context"]["explanation"];
    assert_eq!(e["assignees"].as_array().unwrap().len(), 2, "{e}");
    assert_eq!(e["other_rules"].as_array().unwrap().len(), 2, "{e}");
    assert_eq!(
        e["totals"],
        json!({"assignees": 6, "other_rules": 4, "unenforced_rules": 0, "conditions": 0})
    );
    for bad in [json!(-1), json!("2"), json!(1.5), json!(10_001)] {
        let r = h
            .post(
                "/access/v1/evaluation",
                &body(json!({"explain": true, "explain_limit": bad})),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.json);
        assert!(r.json.to_string().contains("context.explain_limit"), "{}", r.json);
    }
    // In a batch, an item's own context: its error alone.
    let r = h
        .post(
            "/access/v1/evaluations",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"},
                   "evaluations": [
                       {"resource": {"type": "doc", "id": "1"}, "context": {"explain": true, "explain_limit": 1}},
                       {"resource": {"type": "doc", "id": "1"}, "context": {"explain": true, "explain_limit": 10_001}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let first = &r.json["evaluations"][0]["context"]["explanation"];
    assert_eq!(first["other_rules"].as_array().unwrap().len(), 1, "{}", r.json);
    assert_eq!(first["totals"]["other_rules"], 4);
    let second = &r.json["evaluations"][1];
    assert_eq!(second["decision"], false, "{}", r.json);
    assert!(
        second["context"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evaluations[1].context.explain_limit"),
        "{}",
        r.json
    );
}
