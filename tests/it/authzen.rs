//! The AuthZEN 1.0 HTTP API (issue 16), over real sockets:
//!
//! - every example of the specification's text (`tests/data/authzen-spec/`, one file each)
//!   against a small model under which the examples' decisions hold;
//! - a conformance model of our own (roles three deep, groups, per-object owners as rules,
//!   prohibitions, accounts) where a few hundred checks and every search give exactly the
//!   gRPC API's answers, over HTTP/1.1 and HTTP/2;
//! - hostile input (deep JSON, huge strings, wrong types, invalid UTF-8, over-size
//!   bodies) is a 4xx, never a crash, and writes nothing;
//! - credentials (401 with WWW-Authenticate, 403 for the wrong scope), request ids,
//!   metrics, TLS with ALPN, consistency, paging, the listener turned off.

use crate::common::http::{Http, Reply};
use crate::common::{self, Server};
use endocarp::grpc::pb;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SPEC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/authzen-spec");

/// The specification's examples, by file name.
fn spec_examples() -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(SPEC_DIR).expect("the spec examples are in the repository") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            out.insert(name, v);
        }
    }
    assert!(out.len() >= 29, "every example is there: {}", out.len());
    out
}

/// The model the specification's examples assume, as Endocarp rules: alice may `can_read`
/// accounts 123, 456 and 789 and `can_write` 123; bob may `can_read` 123; alice may
/// `can_read` todo 1 and ODRL-`read` documents 1 and 3; the viewer role (alice's) may
/// `can_read` two documents but not `can_edit` them.
async fn spec_model(server: &Server) {
    let mut c = server.client().await;
    let alice = "user:alice@example.com";
    let can_read = "urn:endocarp:action:can_read";
    for account in ["123", "456", "789"] {
        c.grant("spec", alice, can_read, &format!("account:{account}")).await;
    }
    c.grant("spec", alice, "urn:endocarp:action:can_write", "account:123")
        .await;
    c.grant("spec", "user:bob@example.com", can_read, "account:123").await;
    c.grant("spec", alice, can_read, "todo:1").await;
    c.grant("spec", alice, "odrl:read", "document:1").await;
    c.grant("spec", alice, "odrl:read", "document:3").await;
    c.grant("spec", "viewer", can_read, "document:boxcarring.md").await;
    c.grant("spec", "viewer", can_read, "document:resource-search.md").await;
    c.assign(alice, "viewer").await;
}

/// Our answer agrees with the specification's example: the same status; the same
/// decisions (per item, same count: short-circuits included); results that start with
/// the example's (the examples print partial pages: §8.2.3 shows three of alice's
/// accounts, §8.5.2 two of them); an example's last page (`next_token` "") is ours too,
/// and a page of an example that asked for a limit has a next token when the example's
/// has. A decision's `context` is the implementation's to define (ours carries the
/// revision, the reason and the rule), so it is not compared.
fn agrees(name: &str, ours: &Reply, spec: &Value, asked_limit: bool) {
    let want_status = spec["response_status"].as_u64().unwrap_or(200) as u16;
    assert_eq!(ours.status, want_status, "{name}: status; body {}", ours.json);
    let Some(want) = spec.get("response").filter(|r| !r.is_null()) else {
        return;
    };
    let got = &ours.json;
    if let Some(d) = want.get("decision") {
        assert_eq!(&got["decision"], d, "{name}: decision ({got})");
    }
    if let Some(items) = want.get("evaluations").and_then(Value::as_array) {
        let ours = got["evaluations"].as_array().unwrap_or_else(|| panic!("{name}: {got}"));
        assert_eq!(ours.len(), items.len(), "{name}: evaluations ({got})");
        for (i, (o, w)) in ours.iter().zip(items).enumerate() {
            assert_eq!(o["decision"], w["decision"], "{name}: item {i} ({got})");
        }
    }
    if let Some(results) = want.get("results").and_then(Value::as_array) {
        let ours = got["results"].as_array().unwrap_or_else(|| panic!("{name}: {got}"));
        assert!(
            ours.len() >= results.len() && &ours[..results.len()] == results.as_slice(),
            "{name}: results {ours:?} do not start with {results:?}"
        );
    }
    if let Some(page) = want.get("page") {
        let ours = &got["page"];
        match page.get("next_token").and_then(Value::as_str) {
            Some("") => assert_eq!(ours["next_token"], "", "{name}: last page ({got})"),
            Some(_) if asked_limit => {
                assert_ne!(ours["next_token"], "", "{name}: a next page ({got})")
            }
            _ => {}
        }
        if let Some(count) = page.get("count") {
            assert_eq!(&ours["count"], count, "{name}: count ({got})");
        }
    }
    if let Some(rh) = spec.get("response_headers").and_then(Value::as_object) {
        for (k, v) in rh {
            let v = v.as_str().unwrap();
            match k.to_ascii_lowercase().as_str() {
                "x-request-id" => assert_eq!(ours.header("x-request-id"), Some(v), "{name}: request id"),
                "content-type" => assert_eq!(ours.header("content-type"), Some(v), "{name}"),
                "www-authenticate" => assert!(
                    ours.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")),
                    "{name}: {:?}",
                    ours.headers
                ),
                _ => {}
            }
        }
    }
}

fn path_of(spec: &Value) -> (String, String) {
    let endpoint = spec["endpoint"].as_str().unwrap_or("");
    let (method, path) = endpoint.split_once(' ').unwrap_or(("POST", "/access/v1/evaluation"));
    (method.to_string(), path.to_string())
}

fn headers_of(spec: &Value) -> Vec<(String, String)> {
    spec.get("request_headers")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_example_of_the_specification() {
    let server = Server::start(&["--authzen-public-url", "https://pdp.example.com"]);
    spec_model(&server).await;
    let mut http = Http::h1(&server.authzen_url).await;
    let mut tested = Vec::new();
    let examples = spec_examples();
    let mut page_one_token = String::new();
    for (name, spec) in &examples {
        let (method, path) = path_of(spec);
        let headers = headers_of(spec);
        let hdrs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        match name.as_str() {
            // The information model's fragments: every subject, resource, action and
            // context example is accepted (properties included) in an evaluation.
            "00-information-model-fragments" => {
                let fragments = spec["fragments"].as_array().unwrap();
                let of = |kind: &str| -> Vec<Value> {
                    fragments
                        .iter()
                        .filter(|f| f["section"].as_str().unwrap().contains(kind))
                        .map(|f| f["value"].clone())
                        .collect()
                };
                let (subjects, resources, actions, contexts) =
                    (of("(Subject)"), of("(Resource)"), of("(Action)"), of("(Context)"));
                assert_eq!(
                    subjects.len() + resources.len() + actions.len() + contexts.len(),
                    fragments.len()
                );
                for s in &subjects {
                    for r in &resources {
                        for a in &actions {
                            for c in &contexts {
                                let body = json!({"subject": s, "resource": r, "action": a, "context": c});
                                let reply = http.post("/access/v1/evaluation", &body).await;
                                assert_eq!(reply.status, 200, "{body}: {}", reply.json);
                                assert_eq!(reply.json["decision"], false, "no rule names books");
                            }
                        }
                    }
                }
            }
            // Responses printed without their request: each is a shape our answers have
            // (a decision, with or without a context; evaluations in order).
            "01-decision-minimal" => {
                let r = http
                    .post("/access/v1/evaluation", &examples["23-http-evaluation"]["request"])
                    .await;
                agrees(name, &r, spec, false);
            }
            "02-decision-context-reasons" | "03-decision-context-environment" | "04-decision-context-step-up" => {
                let r = http
                    .post(
                        "/access/v1/evaluation",
                        &json!({"subject": {"type": "user", "id": "alice@example.com"}, "action": {"name": "can_read"}, "resource": {"type": "account", "id": "999"}}),
                    )
                    .await;
                agrees(name, &r, spec, false);
                assert!(r.json["context"].is_object(), "a deny's context says why: {}", r.json);
            }
            "13-evaluations-response-reasons" | "14-evaluations-response-item-errors" => {
                let r = http
                    .post("/access/v1/evaluations", &examples["24-http-evaluations"]["request"])
                    .await;
                agrees(name, &r, spec, false);
            }
            "17-search-response-with-context" => {
                let r = http
                    .post(
                        "/access/v1/search/resource",
                        &json!({"subject": {"type": "user", "id": "alice@example.com"}, "action": {"name": "can_read"}, "resource": {"type": "account"}, "page": {"limit": 2}}),
                    )
                    .await;
                agrees(name, &r, spec, true);
                assert!(r.json["context"].is_object());
            }
            // The metadata, under the configured public URL.
            "21-metadata" => {
                let r = http.send("GET", &path, &hdrs, Vec::new()).await;
                assert_eq!(r.status, 200);
                for (k, v) in spec["response"].as_object().unwrap() {
                    assert_eq!(&r.json[k], v, "{k}");
                }
                for k in ["access_evaluations_endpoint", "search_action_endpoint"] {
                    assert!(
                        r.json[k]
                            .as_str()
                            .unwrap()
                            .starts_with("https://pdp.example.com/access/v1/"),
                        "{k}"
                    );
                }
                agrees(name, &r, spec, false);
            }
            // Headers only: a request id is echoed.
            "22-http-request-id-headers" => {
                let body = serde_json::to_vec(&examples["05-evaluation-request"]["request"]).unwrap();
                let r = http.send("POST", "/access/v1/evaluation", &hdrs, body).await;
                assert_eq!(r.status, 200);
                agrees(name, &r, spec, false);
            }
            // 401 needs a server that requires credentials.
            "28-http-401-unauthorized" => {
                let token = "spec:check:0123456789abcdef-spec";
                let locked = Server::start_with(
                    None,
                    &["--decision-auth", "true"],
                    &[("ENDOCARP_ADMIN_TOKENS", token)],
                    None,
                );
                let mut h = Http::h1(&locked.authzen_url).await;
                let body = serde_json::to_vec(&examples["05-evaluation-request"]["request"]).unwrap();
                let r = h.send("POST", "/access/v1/evaluation", &[], body.clone()).await;
                agrees(name, &r, spec, false);
                let r = h
                    .send(
                        "POST",
                        "/access/v1/evaluation",
                        &[("authorization", "Bearer mF_9.B5f-4.1JqM")],
                        body.clone(),
                    )
                    .await;
                agrees(name, &r, spec, false);
                let r = h
                    .send(
                        "POST",
                        "/access/v1/evaluation",
                        &[("authorization", "Bearer 0123456789abcdef-spec")],
                        body,
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.json);
            }
            // The second page: the example's token is another PDP's; ours comes from page one.
            "16-search-pagination-page2" => {
                assert!(!page_one_token.is_empty(), "page one ran first");
                let mut body = spec["request"].clone();
                body["page"]["token"] = json!(page_one_token);
                let r = http.post(&path, &body).await;
                agrees(name, &r, spec, false);
            }
            _ => {
                let request = &spec["request"];
                assert!(!request.is_null(), "{name}: an example this test does not place");
                let asked_limit = request["page"]["limit"].is_number();
                let r = http
                    .send(&method, &path, &hdrs, serde_json::to_vec(request).unwrap())
                    .await;
                agrees(name, &r, spec, asked_limit);
                if name == "15-search-pagination-page1" {
                    page_one_token = r.json["page"]["next_token"].as_str().unwrap().to_string();
                }
            }
        }
        tested.push(name.clone());
    }
    assert_eq!(tested.len(), examples.len());
    // The decisions the examples without a printed response imply under the model.
    let decisions = |r: &Reply| -> Vec<bool> {
        r.json["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["decision"].as_bool().unwrap())
            .collect()
    };
    let r = http
        .post(
            "/access/v1/evaluations",
            &examples["06-evaluations-no-defaults"]["request"],
        )
        .await;
    assert_eq!(decisions(&r), [true, false, true]);
    let r = http
        .post(
            "/access/v1/evaluations",
            &examples["07-evaluations-defaults-subject-context"]["request"],
        )
        .await;
    assert_eq!(decisions(&r), [true, false, true]);
    let r = http
        .post(
            "/access/v1/evaluations",
            &examples["08-evaluations-defaults-action-override"]["request"],
        )
        .await;
    assert_eq!(
        decisions(&r),
        [true, false, false],
        "the third item's action replaces the default"
    );
    let r = http
        .post("/access/v1/evaluation", &examples["05-evaluation-request"]["request"])
        .await;
    assert_eq!(r.json["decision"], true);
    // The stopping item of a short-circuit says so.
    let r = http
        .post(
            "/access/v1/evaluations",
            &examples["11-evaluations-deny-on-first-deny"]["request"],
        )
        .await;
    assert_eq!(r.json["evaluations"][1]["context"]["stopped"], "deny_on_first_deny");
}

/// The conformance model: an application with workspaces (accounts), roles three deep
/// (admin ⊇ editor ⊇ viewer, by inheritance), a group, documents owned by users (owners
/// as rules on their document), a prohibition, and custom actions.
async fn app_model(server: &Server) -> (Vec<String>, Vec<String>, Vec<String>, Vec<Option<String>>) {
    let mut c = server.client().await;
    let users: Vec<String> = (0..8).map(|i| format!("user:u{i}")).collect();
    let docs: Vec<String> = (0..12).map(|i| format!("doc:d{i}")).collect();
    for r in [("role:editor", "role:viewer"), ("role:admin", "role:editor")] {
        c.admin
            .assign_role_to_role(common::inherit_request(r.0, r.1))
            .await
            .unwrap();
    }
    c.grant("app", "role:viewer", "odrl:read", "*").await;
    c.grant("app", "role:editor", "odrl:modify", "*").await;
    c.grant("app", "role:admin", "odrl:use", "*").await;
    c.prohibit("app", "role:editor", "odrl:modify", "doc:d0").await;
    c.grant("app", "group:auditors", "urn:endocarp:action:audit", "doc:d5")
        .await;
    c.grant("app", "group:auditors", "urn:endocarp:action:audit", "doc:d6")
        .await;
    // Owners: each of the first six documents has an owner who may do anything with it.
    for (i, d) in docs.iter().take(6).enumerate() {
        c.grant("owners", &users[i % users.len()], "odrl:use", d).await;
    }
    c.grant("owners", &users[7], "urn:endocarp:action:share", "doc:d7")
        .await;
    c.prohibit("owners", &users[1], "odrl:delete", "doc:d1").await;
    c.assign("user:u2", "role:viewer").await;
    c.assign("user:u3", "role:editor").await;
    c.join_group("user:u4", "group:auditors").await;
    c.add_member("ws1", "user:u5", "role:admin").await;
    c.add_member("ws2", "user:u6", "role:editor").await;
    c.assign_in("ws2", "user:u7", "role:viewer").await;
    let actions: Vec<String> = [
        "read",
        "modify",
        "delete",
        "use",
        "print",
        "audit",
        "share",
        "odrl:read",
        "urn:endocarp:action:audit",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let accounts = vec![None, Some("ws1".to_string()), Some("ws2".to_string())];
    (users, docs, actions, accounts)
}

/// The gRPC action for an AuthZEN action name (the README's mapping).
fn grpc_action(name: &str) -> String {
    match name {
        n if n.contains(':') => n.to_string(),
        n if endocarp::domain::Action::odrl_term(n).is_some() => format!("odrl:{n}"),
        n => format!("urn:endocarp:action:{n}"),
    }
}

fn entity(id: &str) -> Value {
    let (t, i) = id.split_once(':').unwrap();
    json!({"type": t, "id": i})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_and_grpc_decide_alike_on_an_application_model() {
    let server = Server::start(&[]);
    let (users, docs, actions, accounts) = app_model(&server).await;
    let mut grpc = server.decisions().await;
    let mut h1 = Http::h1(&server.authzen_url).await;
    let mut h2 = Http::h2(&server.authzen_url).await;
    let mut checks = 0usize;
    let mut allowed = 0usize;
    for account in &accounts {
        for u in &users {
            let mut batch = Vec::new();
            let mut want = Vec::new();
            for d in &docs {
                for a in &actions {
                    let g = common::grpc_check(&mut grpc, u, account.as_deref(), &grpc_action(a), d, None)
                        .await
                        .expect("a decision");
                    let mut context = json!({});
                    if let Some(acc) = account {
                        context["account"] = json!(acc);
                    }
                    let body =
                        json!({"subject": entity(u), "action": {"name": a}, "resource": entity(d), "context": context});
                    let http = if checks.is_multiple_of(2) { &mut h1 } else { &mut h2 };
                    let r = http.post("/access/v1/evaluation", &body).await;
                    assert_eq!(r.status, 200, "{body}: {}", r.json);
                    assert_eq!(r.json["decision"], g.allowed, "{body}");
                    assert_eq!(r.json["context"]["reason"], common::reason_name(g.reason), "{body}");
                    assert_eq!(r.json["context"]["revision"], g.revision, "{body}");
                    assert_eq!(
                        r.json["context"]["rule"]["policy"].as_str().unwrap_or(""),
                        g.deciding_rule.as_ref().map_or("", |r| r.policy_id.as_str()),
                        "{body}"
                    );
                    checks += 1;
                    allowed += usize::from(g.allowed);
                    batch.push(json!({"resource": entity(d), "action": {"name": a}}));
                    want.push(g.allowed);
                }
            }
            // The same checks as one evaluations request: the same decisions in order.
            let mut context = json!({});
            if let Some(acc) = account {
                context["account"] = json!(acc);
            }
            let r = h2
                .post(
                    "/access/v1/evaluations",
                    &json!({"subject": entity(u), "context": context, "evaluations": batch}),
                )
                .await;
            let got: Vec<bool> = r.json["evaluations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["decision"].as_bool().unwrap())
                .collect();
            assert_eq!(got, want, "{u} in {account:?}");
        }
    }
    assert!(checks >= 300, "{checks} checks");
    assert!(
        allowed > checks / 10 && allowed < checks * 9 / 10,
        "{allowed} of {checks} allowed"
    );

    // Searches equal the look-ups.
    for account in &accounts {
        let acc = account.clone().unwrap_or_default();
        let ctx = if acc.is_empty() {
            json!({})
        } else {
            json!({"account": acc})
        };
        for a in &actions {
            for d in &docs {
                let want = grpc
                    .lookup_agents(pb::LookupAgentsRequest {
                        action: grpc_action(a),
                        target: d.clone(),
                        account_id: acc.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let want: Vec<Value> = want
                    .agents
                    .iter()
                    .filter(|x| x.starts_with("user:"))
                    .map(|x| entity(x))
                    .collect();
                let r = h1
                    .post(
                        "/access/v1/search/subject",
                        &json!({"subject": {"type": "user"}, "action": {"name": a}, "resource": entity(d), "context": ctx}),
                    )
                    .await;
                assert_eq!(r.json["results"].as_array().unwrap(), &want, "{a} on {d} in {acc:?}");
                assert_eq!(r.json["page"]["next_token"], "");
            }
            for u in &users {
                let want = grpc
                    .lookup_targets(pb::LookupTargetsRequest {
                        agent_id: u.clone(),
                        account_id: acc.clone(),
                        action: grpc_action(a),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let r = h1
                    .post(
                        "/access/v1/search/resource",
                        &json!({"subject": entity(u), "action": {"name": a}, "resource": {"type": "doc"}, "context": ctx}),
                    )
                    .await;
                let docs_of = |v: &[String]| -> Vec<Value> {
                    v.iter().filter(|x| x.starts_with("doc:")).map(|x| entity(x)).collect()
                };
                assert_eq!(
                    r.json["context"]["every_resource"].as_bool().unwrap_or(false),
                    want.every_target
                );
                if want.every_target {
                    assert_eq!(r.json["results"], json!([]));
                    assert_eq!(r.json["context"]["except"].as_array().unwrap(), &docs_of(&want.except));
                } else {
                    assert_eq!(
                        r.json["results"].as_array().unwrap(),
                        &docs_of(&want.targets),
                        "{u} {a}"
                    );
                }
            }
        }
        for u in &users {
            for d in &docs {
                let want = grpc
                    .list_actions(pb::ListActionsRequest {
                        agent_id: u.clone(),
                        account_id: acc.clone(),
                        target: d.clone(),
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                let r = h2
                    .post(
                        "/access/v1/search/action",
                        &json!({"subject": entity(u), "resource": entity(d), "context": ctx}),
                    )
                    .await;
                let got: Vec<String> = r.json["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| grpc_action(x["name"].as_str().unwrap()))
                    .map(|a| {
                        // Back to full IRIs, as ListActions returns them.
                        endocarp::domain::Action::parse("a", &a).unwrap().to_string()
                    })
                    .collect();
                assert_eq!(got, want.actions, "{u} on {d}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_page_by_type_and_tokens_are_bound() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    for i in 0..25 {
        c.grant("p", "user:ann", "odrl:read", &format!("doc:{i:02}")).await;
        c.grant("p", "user:ann", "odrl:read", &format!("folder:{i:02}")).await;
        c.grant("p", &format!("user:u{i:02}"), "odrl:read", "doc:shared").await;
        c.grant("p", &format!("svc:s{i:02}"), "odrl:read", "doc:shared").await;
    }
    // An id without a type and one whose id part is empty: never a result.
    c.grant("p", "user:ann", "odrl:read", "doc:").await;
    c.grant("p", "user:ann", "odrl:read", "plain").await;
    let mut h = Http::h1(&server.authzen_url).await;
    let mut all = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let mut body = json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc"}, "page": {"limit": 7}});
        if !token.is_empty() {
            body["page"]["token"] = json!(token);
        }
        let r = h.post("/access/v1/search/resource", &body).await;
        assert_eq!(r.status, 200, "{}", r.json);
        let results = r.json["results"].as_array().unwrap();
        assert_eq!(r.json["page"]["count"], results.len());
        assert!(results.len() <= 7);
        all.extend(results.iter().map(|x| x["id"].as_str().unwrap().to_string()));
        pages += 1;
        token = r.json["page"]["next_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
        // A token belongs to its request: another type, action or subject is a 400.
        for other in [
            json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "folder"}, "page": {"token": token}}),
            json!({"subject": {"type": "user", "id": "bob"}, "action": {"name": "read"}, "resource": {"type": "doc"}, "page": {"token": token}}),
            json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "modify"}, "resource": {"type": "doc"}, "page": {"token": token}}),
        ] {
            let r = h.post("/access/v1/search/resource", &other).await;
            assert_eq!(r.status, 400, "{other}: {}", r.json);
            assert!(
                r.json["error"]["message"].as_str().unwrap().contains("page.token"),
                "{}",
                r.json
            );
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("{i:02}")).collect();
    assert_eq!(all, want, "only documents, each once, in order");
    assert_eq!(pages, 4);
    // Subjects of one type only, paged.
    let mut subjects = Vec::new();
    let mut token = String::new();
    loop {
        let r = h
            .post(
                "/access/v1/search/subject",
                &json!({"subject": {"type": "svc", "id": "ignored"}, "action": {"name": "read"}, "resource": {"type": "doc", "id": "shared"}, "page": {"limit": 10, "token": token}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        subjects.extend(r.json["results"].as_array().unwrap().iter().map(|x| {
            assert_eq!(x["type"], "svc");
            x["id"].as_str().unwrap().to_string()
        }));
        token = r.json["page"]["next_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(subjects, (0..25).map(|i| format!("s{i:02}")).collect::<Vec<_>>());
    // Action search pages too; names round-trip.
    c.grant("p", "user:ann", "urn:endocarp:action:view", "doc:00").await;
    c.grant("p", "user:ann", "https://example.com/acts/approve", "doc:00")
        .await;
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let r = h
            .post(
                "/access/v1/search/action",
                &json!({"subject": {"type": "user", "id": "ann"}, "resource": {"type": "doc", "id": "00"}, "page": {"limit": 1, "token": token}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.json);
        names.extend(
            r.json["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_string()),
        );
        token = r.json["page"]["next_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    // In IRI order (http://www.w3.org/ns/odrl/2/read, https://…, urn:…:view).
    assert_eq!(names, ["read", "https://example.com/acts/approve", "view"]);
    for n in &names {
        let r = h
            .post(
                "/access/v1/evaluation",
                &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": n}, "resource": {"type": "doc", "id": "00"}}),
            )
            .await;
        assert_eq!(r.json["decision"], true, "{n} round-trips");
    }
    // A page limit over the maximum, and a type with ':'.
    let r = h
        .post(
            "/access/v1/search/resource",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc"}, "page": {"limit": 1001}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.json["error"]["message"].as_str().unwrap().starts_with("page.limit"));
    let r = h
        .post(
            "/access/v1/search/resource",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "a:b"}}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_resource_is_said_with_its_exceptions() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    c.grant("p", "role:reader", "odrl:read", "*").await;
    c.prohibit("p", "role:reader", "odrl:read", "doc:secret").await;
    c.prohibit("p", "role:reader", "odrl:read", "folder:hidden").await;
    c.assign("user:ann", "role:reader").await;
    let mut h = Http::h1(&server.authzen_url).await;
    let r = h
        .post(
            "/access/v1/search/resource",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc"}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["results"], json!([]));
    assert_eq!(r.json["context"]["every_resource"], true);
    assert_eq!(r.json["context"]["except"], json!([{"type": "doc", "id": "secret"}]));
    assert_eq!(r.json["page"]["count"], 1);
}

/// A request that must be refused, and what the refusal must say.
struct Bad {
    what: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    says: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_is_refused_and_changes_nothing() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    c.grant("p", "user:ann", "odrl:read", "doc:1").await;
    let head = c.head().await;
    let ok = br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}"#;
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes();
    let mut deep_props = b"{\"subject\":{\"type\":\"user\",\"id\":\"ann\",\"properties\":{\"x\":".to_vec();
    deep_props.extend(deep(100_000));
    deep_props.extend(b"}},\"action\":{\"name\":\"read\"},\"resource\":{\"type\":\"doc\",\"id\":\"1\"}}");
    let mut deep_unknown = b"{\"junk\":".to_vec();
    deep_unknown.extend(deep(100_000));
    deep_unknown.extend(&ok[1..]);
    let huge_id = format!(
        r#"{{"subject":{{"type":"user","id":"{}"}},"action":{{"name":"read"}},"resource":{{"type":"doc","id":"1"}}}}"#,
        "a".repeat(100_000)
    );
    let mut invalid_utf8 = ok.to_vec();
    let at = invalid_utf8.windows(3).position(|w| w == b"ann").unwrap();
    invalid_utf8[at] = 0xff;
    let cases = vec![
        Bad { what: "empty body", path: "/access/v1/evaluation", content_type: None, body: vec![], status: 400, says: "" },
        Bad { what: "not JSON", path: "/access/v1/evaluation", content_type: None, body: b"subject=ann".to_vec(), status: 400, says: "" },
        Bad { what: "an array", path: "/access/v1/evaluation", content_type: None, body: b"[]".to_vec(), status: 400, says: "" },
        Bad { what: "null", path: "/access/v1/evaluations", content_type: None, body: b"null".to_vec(), status: 400, says: "" },
        Bad { what: "missing resource", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"read"}}"#.to_vec(), status: 400, says: "resource" },
        Bad { what: "id of the wrong type", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":7},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}"#.to_vec(), status: 400, says: "subject.id" },
        Bad { what: "action as a string", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":"read","resource":{"type":"doc","id":"1"}}"#.to_vec(), status: 400, says: "action" },
        Bad { what: "properties not an object", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":"ann","properties":[1]},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}"#.to_vec(), status: 400, says: "subject.properties" },
        Bad { what: "evaluations not an array", path: "/access/v1/evaluations", content_type: None, body: br#"{"evaluations":{}}"#.to_vec(), status: 400, says: "evaluations" },
        Bad { what: "an item missing its subject", path: "/access/v1/evaluations", content_type: None, body: br#"{"evaluations":[{"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}]}"#.to_vec(), status: 400, says: "evaluations[0].subject" },
        Bad { what: "an unknown semantic", path: "/access/v1/evaluations", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"read"},"evaluations":[{"resource":{"type":"doc","id":"1"}}],"options":{"evaluations_semantic":"sometimes"}}"#.to_vec(), status: 400, says: "options.evaluations_semantic" },
        Bad { what: "a duplicate member", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"subject":{"type":"user","id":"bob"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}"#.to_vec(), status: 400, says: "duplicate" },
        Bad { what: "trailing garbage", path: "/access/v1/evaluation", content_type: None, body: [ok.as_slice(), b"{}"].concat(), status: 400, says: "" },
        Bad { what: "deep nesting in properties", path: "/access/v1/evaluation", content_type: None, body: deep_props, status: 400, says: "" },
        Bad { what: "deep nesting in an unknown member", path: "/access/v1/evaluation", content_type: None, body: deep_unknown, status: 400, says: "" },
        Bad { what: "a huge id", path: "/access/v1/evaluation", content_type: None, body: huge_id.into_bytes(), status: 400, says: "subject.id" },
        Bad { what: "invalid UTF-8", path: "/access/v1/evaluation", content_type: None, body: invalid_utf8, status: 400, says: "" },
        Bad { what: "a type with a colon", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"us:er","id":"ann"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}"#.to_vec(), status: 400, says: "subject.type" },
        Bad { what: "an action with an unknown prefix", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"zz:read"},"resource":{"type":"doc","id":"1"}}"#.to_vec(), status: 400, says: "action.name" },
        Bad { what: "a deprecated ODRL action with no replacement", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"odrl:lease"},"resource":{"type":"doc","id":"1"}}"#.to_vec(), status: 400, says: "action.name" },
        Bad { what: "a negative revision", path: "/access/v1/evaluation", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"},"context":{"consistency":{"at_least_revision":-1}}}"#.to_vec(), status: 400, says: "context.consistency.at_least_revision" },
        Bad { what: "a negative page limit", path: "/access/v1/search/resource", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"read"},"resource":{"type":"doc"},"page":{"limit":-1}}"#.to_vec(), status: 400, says: "page.limit" },
        Bad { what: "a forged page token", path: "/access/v1/search/resource", content_type: None, body: br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"read"},"resource":{"type":"doc"},"page":{"token":"00ff"}}"#.to_vec(), status: 400, says: "page.token" },
        Bad { what: "a form body", path: "/access/v1/evaluation", content_type: Some("application/x-www-form-urlencoded"), body: ok.to_vec(), status: 415, says: "application/json" },
    ];
    // Over HTTP/1.1 (a fresh connection each, since some refusals close it) and HTTP/2.
    for case in &cases {
        for h2 in [false, true] {
            let mut http = if h2 {
                Http::h2(&server.authzen_url).await
            } else {
                Http::h1(&server.authzen_url).await
            };
            let headers: Vec<(&str, &str)> = case.content_type.map(|ct| ("content-type", ct)).into_iter().collect();
            let r = http.send("POST", case.path, &headers, case.body.clone()).await;
            assert_eq!(
                r.status,
                case.status,
                "{} (h2: {h2}): {}",
                case.what,
                String::from_utf8_lossy(&r.body)
            );
            let message = r.json["error"]["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{}: {:?}", case.what, r.body));
            assert_eq!(r.json["error"]["status"], case.status);
            assert!(message.contains(case.says), "{}: {message}", case.what);
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
    }
    // Bodies over the limit: declared (refused before it is sent), streamed without a
    // length (refused once the limit is passed), and over HTTP/2.
    let over = format!(r#"{{"pad":"{}"}}"#, "x".repeat(5 * 1024 * 1024)).into_bytes();
    let host = server.authzen_url.trim_start_matches("http://").to_string();
    let declared = format!(
        "POST /access/v1/evaluation HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        over.len()
    );
    let (status, body) = raw_http1(&host, declared.into_bytes(), Vec::new()).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("limit"), "{body}");
    let mut chunked = Vec::new();
    for chunk in over.chunks(64 * 1024) {
        chunked.extend(format!("{:x}\r\n", chunk.len()).into_bytes());
        chunked.extend(chunk);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"0\r\n\r\n");
    let streamed = format!(
        "POST /access/v1/evaluation HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let (status, body) = raw_http1(&host, streamed.into_bytes(), chunked).await;
    assert_eq!(status, 413, "{body}");
    let mut h2 = Http::h2(&server.authzen_url).await;
    if let Ok(r) = h2.try_send("POST", "/access/v1/evaluation", &[], over).await {
        assert_eq!(r.status, 413);
    }
    // Still serving, and nothing was written.
    let mut http = Http::h1(&server.authzen_url).await;
    let r = http.send("POST", "/access/v1/evaluation", &[], ok.to_vec()).await;
    assert_eq!(r.json["decision"], true);
    assert_eq!(c.head().await, head);
    // Random bytes never crash it.
    let mut seed = 0x9e3779b97f4a7c15u64;
    for n in 0..200 {
        let len = (n * 37) % 300;
        let body: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                b"{}[]\":,0123456789.eE-+truefalsnul \\\xff\xc3subjectidtyperesourceaction"[(seed % 63) as usize]
            })
            .collect();
        let r = http.try_send("POST", "/access/v1/evaluations", &[], body).await;
        if let Ok(r) = r {
            assert!(r.status == 200 || r.status == 400, "{}", r.status);
        } else {
            http = Http::h1(&server.authzen_url).await;
        }
    }
    assert_eq!(c.head().await, head);
}

/// Sends `head`, then `body` from another task (the server may answer before reading
/// it all), and reads the response: (status, body).
async fn raw_http1(host: &str, head: Vec<u8>, body: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tcp = tokio::net::TcpStream::connect(host).await.unwrap();
    let (mut rd, mut wr) = tcp.into_split();
    wr.write_all(&head).await.unwrap();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let response = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let n = rd.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&raw).to_string();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let len = head.lines().find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                });
                if len.is_some_and(|l| body.len() >= l) {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&raw).to_string()
    })
    .await
    .expect("a response in time");
    writer.abort();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_as_the_subject_is_a_bad_request_or_an_item_error() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    c.grant("p", "role:x", "odrl:read", "doc:1").await;
    c.assign("user:ann", "role:x").await;
    let mut h = Http::h1(&server.authzen_url).await;
    let r = h
        .post(
            "/access/v1/evaluation",
            &json!({"subject": {"type": "role", "id": "x"}, "action": {"name": "read"}, "resource": {"type": "doc", "id": "1"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert!(r.json["error"]["message"].as_str().unwrap().starts_with("subject"));
    let r = h
        .post(
            "/access/v1/evaluations",
            &json!({"action": {"name": "read"}, "resource": {"type": "doc", "id": "1"}, "evaluations": [
                {"subject": {"type": "role", "id": "x"}},
                {"subject": {"type": "user", "id": "ann"}},
                {"subject": {"type": "user", "id": ""}},
            ]}),
        )
        .await;
    assert_eq!(r.status, 200);
    let e = &r.json["evaluations"];
    assert_eq!(e[0]["decision"], false);
    assert_eq!(e[0]["context"]["error"]["status"], 400);
    assert_eq!(e[1]["decision"], true);
    assert_eq!(e[2]["decision"], false);
    assert!(
        e[2]["context"]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("evaluations[2].subject.id")
    );
    // deny_on_first_deny stops at an error too.
    let r = h
        .post(
            "/access/v1/evaluations",
            &json!({"action": {"name": "read"}, "resource": {"type": "doc", "id": "1"}, "options": {"evaluations_semantic": "deny_on_first_deny"}, "evaluations": [
                {"subject": {"type": "user", "id": "ann"}},
                {"subject": {"type": "role", "id": "x"}},
                {"subject": {"type": "user", "id": "ann"}},
            ]}),
        )
        .await;
    assert_eq!(r.json["evaluations"].as_array().unwrap().len(), 2);
    // An evaluations request without items is a single evaluation.
    let r = h
        .post(
            "/access/v1/evaluations",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc", "id": "1"}, "evaluations": []}),
        )
        .await;
    assert_eq!(r.json["decision"], true, "{}", r.json);
    let r = h
        .post(
            "/access/v1/evaluations",
            &json!({"subject": {"type": "user", "id": "ann"}}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_scopes_request_ids_and_metrics() {
    let tokens = "checker:check:0123456789abcdef-chk;finder:check,lookup:0123456789abcdef-fnd";
    let server = Server::start_with(
        None,
        &["--decision-auth", "true", "--max-batch-checks", "3"],
        &[("ENDOCARP_ADMIN_TOKENS", tokens)],
        None,
    );
    let mut h = Http::h1(&server.authzen_url).await;
    let eval = serde_json::to_vec(
        &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc", "id": "1"}}),
    )
    .unwrap();
    let search = serde_json::to_vec(
        &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc"}}),
    )
    .unwrap();
    let checker = [("authorization", "Bearer 0123456789abcdef-chk")];
    let finder = [("authorization", "Bearer 0123456789abcdef-fnd")];
    let r = h.send("POST", "/access/v1/evaluation", &[], eval.clone()).await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    let r = h.send("POST", "/access/v1/evaluation", &checker, eval.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["decision"], false);
    let r = h
        .send("POST", "/access/v1/search/resource", &checker, search.clone())
        .await;
    assert_eq!(r.status, 403, "{}", r.json);
    assert!(r.json["error"]["message"].as_str().unwrap().contains("lookup"));
    let r = h.send("POST", "/access/v1/search/resource", &finder, search).await;
    assert_eq!(r.status, 200);
    // The metadata is open.
    let r = h.get("/.well-known/authzen-configuration").await;
    assert_eq!(r.status, 200);
    assert!(
        r.json["policy_decision_point"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    // Request ids: echoed as given (even one the log would not use), made up otherwise.
    let odd = "id with spaces, and more than the log keeps";
    let r = h
        .send(
            "POST",
            "/access/v1/evaluation",
            &[checker[0], ("x-request-id", odd)],
            eval.clone(),
        )
        .await;
    assert_eq!(r.header("x-request-id"), Some(odd));
    let r = h.send("POST", "/access/v1/evaluation", &[], eval.clone()).await;
    assert_eq!(r.header("x-request-id").map(str::len), Some(26), "a ULID");
    // The batch limit.
    let items: Vec<Value> = (0..4)
        .map(|i| json!({"resource": {"type": "doc", "id": i.to_string()}}))
        .collect();
    let body = json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "evaluations": items});
    let r = h
        .send(
            "POST",
            "/access/v1/evaluations",
            &checker,
            serde_json::to_vec(&body).unwrap(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_batch_checks")
    );
    // Wrong method, unknown path.
    let r = h.send("GET", "/access/v1/evaluation", &checker, Vec::new()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    assert_eq!(h.get("/access/v2/evaluation").await.status, 404);
    let (_, text) = common::http_get(&server.ops_url, "/metrics");
    let count = |endpoint: &str, code: &str| {
        common::metric(
            &text,
            "endocarp_http_requests_total",
            &[("endpoint", endpoint), ("code", code)],
        )
    };
    assert!(count("/access/v1/evaluation", "200") >= 2.0, "{text}");
    assert!(count("/access/v1/evaluation", "401") >= 1.0);
    assert!(count("/access/v1/search/resource", "403") >= 1.0);
    assert!(count("unknown", "404") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistency_and_explain_in_the_context() {
    let server = Server::start(&["--max-wait", "300ms"]);
    let mut c = server.client().await;
    let w = c.grant("p", "user:ann", "odrl:read", "doc:1").await;
    let mut h = Http::h2(&server.authzen_url).await;
    let r = h
        .post(
            "/access/v1/evaluation",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc", "id": "1"},
                   "context": {"consistency": {"at_least_revision": w.revision}, "explain": true}}),
        )
        .await;
    assert_eq!(r.json["decision"], true);
    assert!(r.json["context"]["revision"].as_u64().unwrap() >= w.revision);
    assert_eq!(r.json["context"]["explanation"]["assignees"], json!(["user:ann"]));
    let r = h
        .post(
            "/access/v1/evaluation",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc", "id": "1"},
                   "context": {"consistency": {"at_least_revision": w.revision + 1000}}}),
        )
        .await;
    assert_eq!(r.status, 504, "a revision never reached: {}", r.json);
    let r = h
        .post(
            "/access/v1/evaluation",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}, "resource": {"type": "doc", "id": "1"},
                   "context": {"consistency": {"fully_consistent": true}}}),
        )
        .await;
    assert_eq!(r.json["decision"], true);
    // Revocation is honoured at once when the caller asks for the write's revision.
    let w = c
        .admin
        .revoke_permission(common::rule_request("p", "user:ann", "odrl:read", "doc:1", ""))
        .await
        .unwrap()
        .into_inner();
    let r = h
        .post(
            "/access/v1/evaluations",
            &json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"},
                   "evaluations": [{"resource": {"type": "doc", "id": "1"}, "context": {"consistency": {"at_least_revision": w.revision}}}]}),
        )
        .await;
    assert_eq!(r.json["evaluations"][0]["decision"], false, "{}", r.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_can_be_turned_off() {
    let server = Server::start(&["--authzen-listen", "off"]);
    assert!(server.authzen_url.is_empty());
}
