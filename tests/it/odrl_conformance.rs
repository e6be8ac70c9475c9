//! ODRL conformance from someone else's expectations (docs/CONTRACT.md §9): every case of
//! the SolidLab ODRL test suite (`tests/fixtures/odrl-cases/solidlab-odrl-test-suite`, MIT,
//! copied unchanged with its licence) goes through the real import path (the `ImportOdrl`
//! admin RPC, policy and state of the world as Turtle) and the real decision path
//! (`IsAuthorized` over gRPC), one fresh server per case.
//!
//! The state of the world is mapped explicitly, and only so:
//! - the current time (`temp:currentTime dct:issued T`) is the request's `odrl:dateTime`;
//! - collection membership (`X odrl:partOf C`) is imported with the policy (a party
//!   collection is a group);
//! - a duty report whose deontic state is `report:Fulfilled` is a `Policy.DutyDischarged`
//!   of its report's policy, by the requesting party, naming the reported duty; `NonSet`
//!   and `Violated` record nothing;
//! - the suite reads a rule without an assignee, action or target as "anything": the
//!   import runs with `wildcards` and `anyone = ANYONE`, and every requesting party is a
//!   member of `ANYONE`.
//!
//! The expected decision is the manifest's (derived from the upstream compliance report:
//! an active prohibition denies, else an active permission allows, else deny). The cases
//! Endocarp answers otherwise by design are listed in [`CANNOT_PASS`] with the reason, and
//! the test fails if one of them starts passing (so the list stays true).

use crate::common::{Server, pb_triple};
use endocarp::grpc::pb;
use oxrdf::{Graph, NamedNode, TermRef};
use serde_json::Value;
use std::path::{Path, PathBuf};

const ANYONE: &str = "urn:endocarp:conformance:anyone";
const ODRL: &str = "http://www.w3.org/ns/odrl/2/";
const REPORT: &str = "https://w3id.org/force/compliance-report#";

/// (case title, why Endocarp answers otherwise). Both are duty cases: the suite reads a
/// duty nobody has reported on (NonSet) as not blocking its permission, where ODRL 2.2
/// and the W3C CG formal semantics, which Endocarp follows, make a duty a precondition
/// (docs/CONTRACT.md §1, "Duties"): an unfulfilled, active duty leaves the permission out.
/// Endocarp denies; the suite expects Allow. Neither is a wrong allow.
const CANNOT_PASS: &[(&str, &str)] = &[
    (
        "Read request from Alice to resource X returns into yes, if duty is not violated (Alice Request Read X - duty unknown).",
        "duty precondition: the duty's state is NonSet (not fulfilled), so the permission does not apply",
    ),
    (
        "Read request from people in party collection to resource X in 2024 returns into yes (Alice Request Read X).",
        "duty precondition: the state of the world reports on another policy's duty, so this policy's duty is not fulfilled",
    ),
];

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/odrl-cases/solidlab-odrl-test-suite")
}

fn node(local: &str, ns: &str) -> NamedNode {
    NamedNode::new_unchecked(format!("{ns}{local}"))
}

fn graph(text: &str) -> Graph {
    endocarp::odrl::read_all([(endocarp::odrl::Format::Turtle, text)]).expect("a suite file parses")
}

fn iri(t: TermRef<'_>) -> String {
    match t {
        TermRef::NamedNode(n) => n.as_str().to_string(),
        other => panic!("expected an IRI, got {other}"),
    }
}

/// The request: (party, action, target) of the request policy's one permission.
fn request(g: &Graph) -> (String, String, String) {
    let one = |p: &str| {
        let p = node(p, ODRL);
        iri(g
            .triples_for_predicate(&p)
            .next()
            .unwrap_or_else(|| panic!("request without {p}"))
            .object)
    };
    (one("assignee"), one("action"), one("target"))
}

/// The state of the world's current time.
fn current_time(g: &Graph) -> chrono::DateTime<chrono::Utc> {
    let issued = NamedNode::new_unchecked("http://purl.org/dc/terms/issued");
    let subject = NamedNode::new_unchecked("http://example.com/request/currentTime");
    let t = g
        .object_for_subject_predicate(&subject, &issued)
        .expect("sotw has a current time");
    let TermRef::Literal(l) = t else {
        panic!("current time is a literal")
    };
    chrono::DateTime::parse_from_rfc3339(l.value())
        .expect("an xsd:dateTime")
        .to_utc()
}

/// Fulfilled duty reports: (policy, duty).
fn fulfilled(g: &Graph) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let state = node("deonticState", REPORT);
    let fulfilled = node("Fulfilled", REPORT);
    for report in g.subjects_for_predicate_object(&state, &fulfilled) {
        let duty = iri(g
            .object_for_subject_predicate(report, &node("rule", REPORT))
            .expect("report:rule"));
        let TermRef::NamedNode(report_iri) = TermRef::from(report) else {
            panic!("duty report is a blank node")
        };
        let policy_report = g
            .subject_for_predicate_object(&node("ruleReport", REPORT), report_iri)
            .expect("the duty report belongs to a policy report");
        let policy = iri(g
            .object_for_subject_predicate(policy_report, &node("policy", REPORT))
            .expect("report:policy"));
        out.push((policy, duty));
    }
    out
}

/// A fresh server holding the documents (imported through ImportOdrl) and the state of the
/// world: `party` in ANYONE, and each (policy, duty) discharged by its payer.
async fn world_with(
    docs: Vec<pb::OdrlDocument>,
    wildcards: bool,
    party: &str,
    discharged: &[(String, String, String)],
) -> Result<Server, String> {
    let server = Server::start(&[]);
    let imported = server
        .admin()
        .await
        .import_odrl(pb::ImportOdrlRequest {
            documents: docs,
            wildcards,
            anyone: ANYONE.into(),
        })
        .await
        .map_err(|s| format!("import refused: {}", s.message()))?
        .into_inner();
    assert!(imported.visible && imported.rules > 0, "{imported:?}");
    let mut facts = vec![pb_triple(
        "Agent.GroupMembershipAdded",
        party,
        party,
        "foaf:member",
        ANYONE,
        &[],
    )];
    for (policy, by, duty) in discharged {
        facts.push(pb_triple("Policy.DutyDischarged", policy, by, "odrl:duty", duty, &[]));
    }
    server
        .events()
        .await
        .append_events(pb::AppendEventsRequest { events: facts })
        .await
        .map_err(|s| format!("state of the world refused: {}", s.message()))?;
    Ok(server)
}

async fn decide(case: &Value) -> Result<bool, String> {
    let file = |k: &str| std::fs::read_to_string(suite().join(case[k].as_str().unwrap())).unwrap();
    let (policy, sotw, req) = (file("policy"), file("sotw"), file("request"));
    let (party, action, target) = request(&graph(&req));
    let world = graph(&sotw);
    let doc = |content: &str| pb::OdrlDocument {
        content: content.into(),
        format: "turtle".into(),
    };
    let discharged: Vec<_> = fulfilled(&world)
        .into_iter()
        .map(|(policy, duty)| (policy, party.clone(), duty))
        .collect();
    let server = world_with(vec![doc(&policy), doc(&sotw)], true, &party, &discharged).await?;
    let now = current_time(&world);
    let context = [(
        "odrl:dateTime".to_string(),
        pb::ContextValue {
            value: Some(pb::context_value::Value::Timestamp(prost_types::Timestamp {
                seconds: now.timestamp(),
                nanos: now.timestamp_subsec_nanos() as i32,
            })),
            unit: String::new(),
        },
    )]
    .into();
    let mut decisions = server.decisions().await;
    let d = crate::common::grpc_check_in(
        &mut decisions,
        &party,
        None,
        &action,
        &target,
        Some(pb::Consistency {
            at_least_revision: 0,
            fully_consistent: true,
        }),
        context,
    )
    .await
    .map_err(|s| format!("check refused: {}", s.message()))?;
    Ok(d.allowed)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_solidlab_suite_decides_as_its_reports_say() {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(suite().join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 68, "the whole suite");
    let mut passed = 0;
    let mut failures = Vec::new();
    for case in cases {
        let title = case["title"].as_str().unwrap();
        let expected = case["derived_decision"].as_str().unwrap() == "Allow";
        let got = decide(case).await;
        let ok = got.as_ref().is_ok_and(|allowed| *allowed == expected);
        let excused = CANNOT_PASS.iter().find(|(t, _)| *t == title);
        match (ok, excused) {
            (true, None) => passed += 1,
            (false, Some(_)) => {
                // Failing on the safe side only: an expected deny must never be an allow.
                assert!(expected, "{title}: a listed case must not be a wrong allow");
            }
            (true, Some((_, why))) => failures.push(format!("{title}: now passes; take it off CANNOT_PASS ({why})")),
            (false, None) => failures.push(format!("{title}: expected allowed={expected}, got {got:?}")),
        }
    }
    eprintln!(
        "SolidLab ODRL test suite: {passed}/{} pass, {} cannot pass by design",
        cases.len(),
        CANNOT_PASS.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(passed + CANNOT_PASS.len(), cases.len());
}

// ---------------------------------------------------------------------------------------
// The W3C ODRL Community Group's formal-semantics examples (JSON-LD; W3C licences, see
// tests/fixtures/odrl-cases/w3c-odrl-formal-semantics/LICENSE.md): the policy through
// ImportOdrl as JSON-LD (the ODRL context bundled), the evaluation request through the
// AuthZEN evaluation endpoint (the SolidLab runner above uses gRPC).
//
// The state of the world, mapped explicitly:
// - `requestParameters` with `describesFeature` `sotw:CurrentXSDDateTime` is `odrl:dateTime`;
//   the examples write it without a zone, and a request's time is an instant (Endocarp's
//   context refuses a zone-less time), so it is read as UTC (the policies' zone-less dates
//   still compare as XSD says, within ±14 hours);
// - `ex:dayOfWeek` (a left operand of the examples' own) is the English weekday of that
//   time;
// - a state's payment (`pay:Payment` with `conditionId`) is a `Policy.DutyDischarged` of the
//   policy, by its payer, naming that duty;
// - a rule without an assignee is granted to ANYONE, which every requesting party joins;
//   a request without `evaluatedParty` is made by `urn:endocarp:conformance:requester`.
//
// Seven examples carry upstream defects (the manifest notes them): the C requests are made
// by `party/billie1` where the policy's assignee is `party/billie`, and the B requests'
// parameter names the unit (`Dots_per_inch`) where the left operand belongs, with an IRI
// for its value. As written, Endocarp must deny them (a strict assignee match; a
// refinement without its left operand fails closed); each is also run corrected (the
// assignee as the party; `odrl:resolution` = the value in dpi), where the report's
// decision must hold.

const REQUESTER: &str = "urn:endocarp:conformance:requester";

fn w3c() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/odrl-cases/w3c-odrl-formal-semantics")
}

/// (case, what is wrong upstream): these are run as written (and must deny: fail closed)
/// and corrected (and must decide as the report says).
const W3C_DEFECTS: &[(&str, &str)] = &[
    ("B1-1", UNIT_FOR_OPERAND),
    ("B1-2", UNIT_FOR_OPERAND),
    ("C1-1", BILLIE1),
    ("C1-2", BILLIE1),
    ("C2-1", BILLIE1),
    ("C2-2", BILLIE1),
    ("C2-3", BILLIE1),
];
const UNIT_FOR_OPERAND: &str = "the request parameter names the unit where odrl:resolution belongs, its value an IRI";
const BILLIE1: &str = "the request's party is party/billie1; the permission's assignee is party/billie";

fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.clone(),
        Value::Null => vec![],
        one => vec![one.clone()],
    }
}

fn first_assignee(policy: &Value) -> Option<String> {
    policy["permission"]
        .as_array()?
        .iter()
        .find_map(|p| p["assignee"].as_str().map(str::to_string))
}

async fn w3c_decide(case: &Value, corrected: bool) -> Result<bool, String> {
    let read = |k: &str| -> Option<Value> {
        let path = case[k].as_str()?;
        Some(serde_json::from_str(&std::fs::read_to_string(w3c().join(path)).unwrap()).unwrap())
    };
    let policy_text = std::fs::read_to_string(w3c().join(case["policy"].as_str().unwrap())).unwrap();
    let policy: Value = serde_json::from_str(&policy_text).unwrap();
    let request = read("request").unwrap();
    let policy_id = policy["uid"].as_str().unwrap();
    let mut party = request["evaluatedParty"].as_str().unwrap_or(REQUESTER).to_string();
    if corrected && party.ends_with("billie1") {
        party = first_assignee(&policy).expect("the policy names its assignee");
    }
    let mut discharged = Vec::new();
    if let Some(state) = read("state") {
        for fact in as_list(&state["context"]) {
            if let (Some(duty), Some(payer)) = (fact["conditionId"].as_str(), fact["pay:payer"].as_str()) {
                discharged.push((policy_id.to_string(), payer.to_string(), duty.to_string()));
            }
        }
    }
    let doc = pb::OdrlDocument {
        content: policy_text,
        format: "jsonld".into(),
    };
    let server = world_with(vec![doc], false, &party, &discharged).await?;
    let mut context = serde_json::json!({"consistency": {"fully_consistent": true}});
    for p in as_list(&request["requestParameters"]) {
        match p["describesFeature"].as_str() {
            Some("sotw:CurrentXSDDateTime") => {
                let lexical = p["value"]["@value"].as_str().expect("a typed time");
                let day = chrono::NaiveDateTime::parse_from_str(lexical, "%Y-%m-%dT%H:%M:%S")
                    .expect("an xsd:dateTime")
                    .format("%A")
                    .to_string();
                context["odrl:dateTime"] =
                    serde_json::json!({"@value": format!("{lexical}Z"), "@type": "xsd:dateTime"});
                context["ex:dayOfWeek"] = Value::String(day);
            }
            Some("http://dbpedia.org/resource/Dots_per_inch") if corrected => {
                let value: u64 = p["value"]["@id"].as_str().unwrap().parse().unwrap();
                context["odrl:resolution"] =
                    serde_json::json!({"value": value, "unit": "http://dbpedia.org/resource/Dots_per_inch"});
            }
            _ => {}
        }
    }
    let entity = |iri: &str| {
        let (ty, rest) = iri.split_once(':').expect("an IRI");
        serde_json::json!({"type": ty, "id": rest})
    };
    let mut http = crate::common::http::Http::h1(&server.authzen_url).await;
    let reply = http
        .post(
            "/access/v1/evaluation",
            &serde_json::json!({
                "subject": entity(&party),
                "action": {"name": request["evaluatedAction"].as_str().unwrap()},
                "resource": entity(request["evaluatedTarget"].as_str().unwrap()),
                "context": context,
            }),
        )
        .await;
    if reply.status != 200 {
        return Err(format!("evaluation refused: {} {:?}", reply.status, reply.json));
    }
    Ok(reply.json["decision"].as_bool().expect("a decision"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_w3c_formal_semantics_examples_decide_as_their_reports_say() {
    let manifest: Value = serde_json::from_str(&std::fs::read_to_string(w3c().join("manifest.json")).unwrap()).unwrap();
    let cases = manifest["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 9, "every example with a request");
    let mut failures = Vec::new();
    let (mut clean, mut corrected) = (0, 0);
    for case in cases {
        let id = case["id"].as_str().unwrap();
        let expected = case["expected_decision"].as_str().unwrap() == "Permit";
        let got = w3c_decide(case, false).await;
        match W3C_DEFECTS.iter().find(|(c, _)| *c == id) {
            None if got == Ok(expected) => clean += 1,
            None => failures.push(format!("{id}: expected allowed={expected}, got {got:?}")),
            Some((_, why)) => {
                if got != Ok(false) {
                    failures.push(format!("{id} as written ({why}): must deny, got {got:?}"));
                }
                match w3c_decide(case, true).await {
                    Ok(fixed) if fixed == expected => corrected += 1,
                    fixed => failures.push(format!(
                        "{id} corrected ({why}): expected allowed={expected}, got {fixed:?}"
                    )),
                }
            }
        }
    }
    eprintln!(
        "W3C formal-semantics examples: {clean}/{} without defects pass as written; {corrected}/{} with upstream \
         defects pass corrected (and deny as written)",
        cases.len() - W3C_DEFECTS.len(),
        W3C_DEFECTS.len()
    );
    assert!(
        failures.is_empty(),
        "{} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------------------
// `endocarp import odrl` and `endocarp export odrl` against real servers.

fn endocarp(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(args)
        .output()
        .expect("run endocarp")
}

async fn rules_of(server: &Server, policy: &str) -> Vec<pb::Rule> {
    let mut rules = crate::common::list_rules(server, policy).await;
    rules.sort_by_key(|r| format!("{:?}", r.rule));
    rules
}

/// Whether `ex:alice` may read `ex:x` at the time `at` (the request's odrl:dateTime).
async fn alice_reads_x(
    d: &mut endocarp::grpc::pb::authorization_service_client::AuthorizationServiceClient<tonic::transport::Channel>,
    at: &str,
) -> bool {
    let t = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    let context = [(
        "odrl:dateTime".to_string(),
        pb::ContextValue {
            value: Some(pb::context_value::Value::Timestamp(prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: 0,
            })),
            unit: String::new(),
        },
    )]
    .into();
    let alice = "http://example.org/alice";
    crate::common::grpc_check_in(d, alice, None, "odrl:read", "http://example.org/x", None, context)
        .await
        .unwrap()
        .allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odrl_documents_import_and_export_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let policy_file = dir.path().join("policy-21.ttl");
    let sotw_file = dir.path().join("all-2024.ttl");
    std::fs::copy(suite().join("data/policies/policy-21.ttl"), &policy_file).unwrap();
    std::fs::copy(suite().join("data/sotw/all-2024.ttl"), &sotw_file).unwrap();
    let server = Server::start(&[]);
    let policy = "urn:uuid:cc4995de-9c5e-4e12-9039-698506f6ab1c";

    // A missing assignee is refused unless the operator names the role for it.
    let bad = dir.path().join("bad.ttl");
    std::fs::write(
        &bad,
        "@prefix odrl: <http://www.w3.org/ns/odrl/2/> . <urn:p> a odrl:Set ; odrl:permission [ odrl:action odrl:read ; odrl:target <urn:x> ] .",
    )
    .unwrap();
    let out = endocarp(&["import", "odrl", bad.to_str().unwrap(), "--admin", &server.admin_url]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--anyone"), "{out:?}");
    assert!(
        rules_of(&server, "").await.is_empty(),
        "a refused import writes nothing"
    );

    let out = endocarp(&[
        "import",
        "odrl",
        policy_file.to_str().unwrap(),
        sotw_file.to_str().unwrap(),
        "--admin",
        &server.admin_url,
    ]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("1 policies, 1 atomic rules"), "{said}");
    let before = rules_of(&server, policy).await;
    assert_eq!(before.len(), 1);
    let rule = before[0].rule.as_ref().unwrap();
    assert_eq!(rule.assignee, "http://example.org/partyCollection");
    assert!(
        rule.constraint.contains("odrl:dateTime") && rule.duty.contains("4129123f"),
        "{rule:?}"
    );

    // Alice is in the party collection (the state of the world imported beside the policy).
    let alice = "http://example.org/alice";
    let mut d = server.decisions().await;
    assert!(
        !alice_reads_x(&mut d, "2024-06-01T00:00:00Z").await,
        "the duty is not fulfilled yet"
    );
    let discharge = pb_triple(
        "Policy.DutyDischarged",
        policy,
        alice,
        "odrl:duty",
        "urn:uuid:4129123f-d8a8-481e-87fc-aba6dda5b6a5",
        &[],
    );
    server
        .events()
        .await
        .append_events(pb::AppendEventsRequest {
            events: vec![discharge],
        })
        .await
        .unwrap();
    assert!(alice_reads_x(&mut d, "2024-06-01T00:00:00Z").await);
    assert!(!alice_reads_x(&mut d, "2025-06-01T00:00:00Z").await, "outside 2024");

    // Export, then import the export into a fresh server: the same rules.
    let exported = dir.path().join("policy.jsonld");
    let out = endocarp(&[
        "export",
        "odrl",
        "--policy",
        policy,
        "--out",
        exported.to_str().unwrap(),
        "--admin",
        &server.admin_url,
    ]);
    assert!(out.status.success(), "{out:?}");
    let fresh = Server::start(&[]);
    let out = endocarp(&[
        "import",
        "odrl",
        exported.to_str().unwrap(),
        "--admin",
        &fresh.admin_url,
    ]);
    assert!(out.status.success(), "{out:?}");
    let after = rules_of(&fresh, policy).await;
    assert_eq!(before, after, "{}", std::fs::read_to_string(&exported).unwrap());
}
