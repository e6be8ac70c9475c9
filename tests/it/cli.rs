//! The `endocarp` command line against real servers: Pericarp log import (through the
//! admin API and offline), check (one, and a batch file), look-ups with paging done for
//! the user, admin writes, config and migrate.

use crate::common;

use common::{Server, grpc_check, reason_name};
use endocarp::grpc::pb;
use std::process::{Command, Output};

fn endocarp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(args)
        .env_remove("ENDOCARP_DATABASE_URL")
        .output()
        .expect("run endocarp")
}

fn ok(out: &Output) -> String {
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

const LOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pericarp-log.jsonl");

/// (agent, account, action, target, allowed, reason) after the sample Pericarp log.
type Expected = (
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
    bool,
    &'static str,
);
const EXPECTED: &[Expected] = &[
    ("alice", None, "odrl:read", "doc-1", true, "PERMITTED"),
    ("alice", None, "odrl:delete", "doc-1", true, "PERMITTED"),
    ("alice", None, "odrl:transfer", "doc-1", false, "NOT_PERMITTED"),
    ("bob", None, "odrl:modify", "doc-1", true, "PERMITTED"),
    ("bob", None, "odrl:delete", "doc-1", false, "PROHIBITED"),
    ("carol", None, "odrl:read", "doc-1", false, "AGENT_INACTIVE"),
    ("dave", None, "odrl:delete", "doc-1", false, "NOT_PERMITTED"),
    ("dave", None, "odrl:read", "doc-1", false, "NOT_PERMITTED"),
    ("frank", Some("acme"), "odrl:delete", "doc-1", true, "PERMITTED"),
    ("frank", None, "odrl:delete", "doc-1", false, "NOT_PERMITTED"),
    ("gina", Some("acme"), "odrl:read", "doc-1", false, "NOT_PERMITTED"),
    ("frank", Some("legacy"), "odrl:read", "doc-1", false, "ACCOUNT_INACTIVE"),
];

async fn assert_expected(server: &Server) {
    let mut d = server.decisions().await;
    for (agent, account, action, target, allowed, reason) in EXPECTED {
        let dec = grpc_check(&mut d, agent, *account, action, target, None).await.unwrap();
        assert_eq!(
            (dec.allowed, reason_name(dec.reason)),
            (*allowed, *reason),
            "{agent} {account:?} {action} {target}"
        );
    }
    let st = grpc_check(&mut d, "role-editor", None, "odrl:read", "doc-1", None)
        .await
        .unwrap_err();
    assert_eq!(
        st.code(),
        tonic::Code::InvalidArgument,
        "Role.Created made role-editor a role"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_pericarp_log_imports_through_the_server_and_offline() {
    let server = Server::start(&[]);
    let out = ok(&endocarp(&[
        "import",
        LOG,
        "--admin",
        &server.admin_url,
        "--batch",
        "7",
    ]));
    assert!(out.contains("imported 42 events"), "{out}");
    assert_eq!(common::log_head(&server).await, 42);
    assert_expected(&server).await;
    // Importing again changes nothing: every id is already stored with the same content.
    ok(&endocarp(&["import", LOG, "--admin", &server.admin_url]));
    assert_eq!(common::log_head(&server).await, 42);
    // Pericarp metadata and envelope fields survive.
    let first = server
        .events()
        .await
        .read_events(pb::ReadEventsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.events[0].id, "2pZ00000000000000000001KSUIDx");
    assert_eq!(first.events[0].metadata["actor"], "system");
    assert_eq!(first.events[0].attributes["name"], "Alice");

    // Offline: straight into a database file, then a server started on it.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("offline.db").display());
    ok(&endocarp(&["import", LOG, "--database-url", &url]));
    let offline = Server::start_on(Some(&url), &[]);
    assert_eq!(common::log_head(&offline).await, 42);
    assert_expected(&offline).await;
}

#[test]
fn a_bad_import_names_its_line_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    let good = std::fs::read_to_string(LOG).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    lines.insert(
        5,
        r#"{"id":"zz","aggregate_id":"a","event_type":"Agent.Teleported","payload":{}}"#,
    );
    std::fs::write(&file, lines.join("\n")).unwrap();
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    let out = endocarp(&["import", file.to_str().unwrap(), "--database-url", &url]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 6") && err.contains("Agent.Teleported"), "{err}");
    assert!(!dir.path().join("x.db").exists(), "nothing written");
    // A decreasing sequence_no within one aggregate rejects the import.
    let swapped = good.replace(r#""sequence_no": 2}"#, r#""sequence_no": 0}"#);
    std::fs::write(&file, swapped).unwrap();
    let out = endocarp(&["import", file.to_str().unwrap(), "--database-url", &url]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sequence"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_and_admin_commands_work_against_a_server() {
    let server = Server::start(&[]);
    let a = &server.admin_url;
    let s = &server.decision_url;
    let out = ok(&endocarp(&[
        "permission",
        "grant",
        "docs",
        "role:editor",
        "odrl:use",
        "*",
        "--admin",
        a,
    ]));
    assert!(out.contains("revision 1"), "{out}");
    // Twice with one request id: the retry is the same write.
    let assign = [
        "role",
        "assign",
        "user:ann",
        "role:editor",
        "--admin",
        a,
        "--request-id",
        "r-1",
    ];
    ok(&endocarp(&assign));
    ok(&endocarp(&assign));
    ok(&endocarp(&[
        "prohibition",
        "set",
        "docs",
        "user:ann",
        "odrl:delete",
        "report",
        "--admin",
        a,
    ]));
    let explain = |more: &[&str]| {
        let args = ["check", "user:ann", "odrl:read", "report", "--server", s, "--explain"];
        ok(&endocarp(&[&args[..], more].concat()))
    };
    let text = explain(&[]);
    assert!(text.starts_with("ALLOW (PERMITTED) at revision 3"), "{text}");
    assert!(text.contains("role:editor"), "{text}");
    // One entry a list: the agent, and a line saying the role was left out.
    let text = explain(&["--explain-limit", "1"]);
    assert!(text.contains("assignees: user:ann\n"), "{text}");
    assert!(text.contains("… and 1 more"), "{text}");
    let json = ok(&endocarp(&[
        "check",
        "user:ann",
        "odrl:delete",
        "report",
        "--server",
        s,
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["allowed"], false);
    assert_eq!(v["reason"], "PROHIBITED");
    assert_eq!(v["deciding_rule"]["assignee"], "user:ann");
    ok(&endocarp(&[
        "member",
        "add",
        "acme",
        "user:bo",
        "role:editor",
        "--admin",
        a,
    ]));
    let check_bo = [
        "check",
        "user:bo",
        "odrl:read",
        "x",
        "--account",
        "acme",
        "--server",
        s,
        "--json",
    ];
    let json = ok(&endocarp(&check_bo));
    assert!(json.contains(r#""allowed":true"#), "{json}");
    ok(&endocarp(&["agent", "deactivate", "user:bo", "--admin", a]));
    let json = ok(&endocarp(&check_bo));
    assert!(json.contains("AGENT_INACTIVE"), "{json}");
    let rules = ok(&endocarp(&["list", "rules", "--admin", a]));
    assert_eq!(rules.lines().count(), 2, "{rules}");
    let audit = ok(&endocarp(&["list", "audit", "--admin", a]));
    assert_eq!(
        audit.lines().count(),
        5,
        "the retried write is not audited twice: {audit}"
    );
    let bad = endocarp(&["check", "user:ann", "odrl:lend", "x", "--server", s]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("InvalidArgument"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_batch_files_and_lookups_from_the_command_line() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    for i in 0..25 {
        c.grant("p", "role:reader", "odrl:read", &format!("doc-{i:02}")).await;
    }
    c.assign("user:ann", "role:reader").await;
    c.assign("user:bob", "role:reader").await;
    c.prohibit("p", "user:bob", "odrl:read", "doc-03").await;
    let s = &server.decision_url;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checks.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id": "a", "agent": "user:ann", "action": "odrl:read", "target": "doc-03"}"#,
            "\n\n",
            r#"{"agent": "user:bob", "action": "odrl:read", "target": "doc-03"}"#,
            "\n",
            r#"{"id": "c", "agent": "role:reader", "action": "odrl:read", "target": "doc-03"}"#,
            "\n",
        ),
    )
    .unwrap();
    let f = file.display().to_string();
    let out = ok(&endocarp(&["check", "--batch", &f, "--server", s, "--batch-size", "2"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[0].starts_with("a\tALLOW (PERMITTED)"), "{out}");
    assert!(lines[1].starts_with("line 3\tDENY (PROHIBITED)"), "{out}");
    assert!(lines[2].starts_with("c\tERROR INVALID_ARGUMENT"), "{out}");
    let out = ok(&endocarp(&[
        "check",
        "--batch",
        &f,
        "--server",
        s,
        "--stop-at",
        "first-deny",
        "--json",
    ]));
    assert_eq!(out.lines().count(), 2, "{out}");
    let v: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        (v["id"].as_str(), v["allowed"].as_bool()),
        (Some("line 3"), Some(false))
    );
    std::fs::write(&file, "{\"agent\": \"x\"}\n").unwrap();
    let bad = endocarp(&["check", "--batch", &f, "--server", s]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1"), "{bad:?}");

    // Look-ups: every page fetched (pages of 10 here), in byte order.
    let out = ok(&endocarp(&[
        "lookup",
        "targets",
        "user:bob",
        "odrl:read",
        "--page-size",
        "10",
        "--server",
        s,
    ]));
    let want: Vec<String> = (0..25).filter(|&i| i != 3).map(|i| format!("doc-{i:02}")).collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want, "{out}");
    let out = ok(&endocarp(&[
        "lookup",
        "targets",
        "user:ann",
        "odrl:read",
        "--limit",
        "5",
        "--json",
        "--page-size",
        "2",
        "--server",
        s,
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["targets"].as_array().unwrap().len(), 5);
    assert_eq!(v["truncated"], true);
    assert_eq!(v["every_target"], false);
    let out = ok(&endocarp(&[
        "lookup",
        "agents",
        "odrl:read",
        "doc-03",
        "--page-size",
        "1",
        "--server",
        s,
    ]));
    assert_eq!(out.lines().collect::<Vec<_>>(), ["user:ann"]);
    let out = ok(&endocarp(&[
        "lookup", "actions", "user:ann", "doc-03", "--server", s, "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["actions"], serde_json::json!(["http://www.w3.org/ns/odrl/2/read"]));
    let bad = endocarp(&["lookup", "targets", "role:reader", "odrl:read", "--server", s]);
    assert!(!bad.status.success(), "a role is not an agent");
}

#[test]
fn config_shows_effective_settings_with_secrets_redacted() {
    let out = Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(["config", "--max-staleness", "2s"])
        .env("ENDOCARP_MAX_STALENESS", "9s")
        .env("ENDOCARP_POLL_INTERVAL", "100ms")
        .env("ENDOCARP_DATABASE_URL", "sqlite://u:hunter2@x.db")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["max_staleness"], "2000ms", "a flag beats the environment");
    assert_eq!(v["poll_interval"], "100ms", "the environment beats the default");
    assert_eq!(v["listen"], "127.0.0.1:50051");
    assert!(!text.contains("hunter2"), "{text}");
    let bad = endocarp(&["config", "--max-staleness", "50ms", "--poll-interval", "100ms"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("max_staleness"));
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    ok(&endocarp(&["migrate", "--database-url", &url]));
    ok(&endocarp(&["migrate", "--database-url", &url]));
    assert!(dir.path().join("m.db").exists());
}

/// The README's constraint and duty tour: grant with `--constraint` and `--duty`, check with
/// `--context`, read the explanation, revoke by the constraint, and a batch line's context.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_duties_and_contexts_from_the_command_line() {
    let server = Server::start(&[]);
    let (a, s) = (&server.admin_url, &server.decision_url);
    let purpose = r#"{"leftOperand":"purpose","operator":"isAnyOf","rightOperand":["research","teaching"]}"#;
    ok(&endocarp(&[
        "permission",
        "grant",
        "research",
        "user:ann",
        "odrl:read",
        "dataset-7",
        "--constraint",
        purpose,
        "--admin",
        a,
    ]));
    ok(&endocarp(&[
        "permission",
        "grant",
        "music",
        "user:ann",
        "odrl:play",
        "song-2",
        "--duty",
        r#"{"uid":"pay-song-2","action":"odrl:compensate"}"#,
        "--admin",
        a,
    ]));
    let check = |args: &[&str]| {
        let mut all = vec!["check"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--server", s, "--fully-consistent"]);
        endocarp(&all)
    };
    let yes = ok(&check(&[
        "user:ann",
        "odrl:read",
        "dataset-7",
        "--context",
        r#"{"odrl:purpose":"research"}"#,
    ]));
    assert!(yes.starts_with("ALLOW (PERMITTED)"), "{yes}");
    assert!(yes.contains(r#"when {"leftOperand":"odrl:purpose""#), "{yes}");
    let no = ok(&check(&["user:ann", "odrl:read", "dataset-7", "--explain"]));
    assert!(no.starts_with("DENY (NOT_PERMITTED)"), "{no}");
    assert!(
        no.contains("did not apply (cannot be evaluated (the request's context has no odrl:purpose)"),
        "{no}"
    );
    let json = ok(&check(&["user:ann", "odrl:read", "dataset-7", "--json", "--explain"]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(v["conditions"][0]["applies"], false, "{v}");
    // A bad context is refused before anything is sent.
    let bad = check(&[
        "user:ann",
        "odrl:read",
        "dataset-7",
        "--context",
        r#"{"purpose":"research"}"#,
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not an IRI or a CURIE"));
    // Duties: vouched for in the context.
    let unpaid = ok(&check(&["user:ann", "odrl:play", "song-2"]));
    assert!(unpaid.starts_with("DENY (NOT_PERMITTED)"), "{unpaid}");
    let paid = ok(&check(&[
        "user:ann",
        "odrl:play",
        "song-2",
        "--context",
        r#"{"endocarp:fulfilled":["pay-song-2"]}"#,
    ]));
    assert!(paid.starts_with("ALLOW (PERMITTED)"), "{paid}");
    // A batch line carries its own context.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("checks.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"id":"with","agent":"user:ann","action":"odrl:read","target":"dataset-7","context":{"odrl:purpose":"teaching"}}"#,
            "\n",
            r#"{"id":"without","agent":"user:ann","action":"odrl:read","target":"dataset-7"}"#,
            "\n"
        ),
    )
    .unwrap();
    let batch = ok(&endocarp(&["check", "--batch", file.to_str().unwrap(), "--server", s]));
    assert!(
        batch.contains("with\tALLOW") && batch.contains("without\tDENY"),
        "{batch}"
    );
    // Revoked by the same constraint, however written.
    ok(&endocarp(&[
        "permission",
        "revoke",
        "research",
        "user:ann",
        "odrl:read",
        "dataset-7",
        "--constraint",
        r#"[{"leftOperand":"odrl:purpose","operator":"odrl:isAnyOf","rightOperand":["research","teaching"]}]"#,
        "--admin",
        a,
    ]));
    let gone = ok(&check(&[
        "user:ann",
        "odrl:read",
        "dataset-7",
        "--context",
        r#"{"odrl:purpose":"research"}"#,
    ]));
    assert!(gone.starts_with("DENY"), "{gone}");
    let listed = ok(&endocarp(&["list", "rules", "--admin", a]));
    assert!(listed.contains("song-2") && !listed.contains("dataset-7"), "{listed}");
}

/// The README's asset-collection tour: `asset add`, a check decided by the collection's rule
/// (the explanation names it), `asset remove`, and a bad id refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asset_collections_from_the_command_line() {
    let server = Server::start(&[]);
    let (a, s) = (&server.admin_url, &server.decision_url);
    ok(&endocarp(&[
        "permission",
        "grant",
        "library",
        "user:cy",
        "odrl:read",
        "shelf-1",
        "--admin",
        a,
    ]));
    ok(&endocarp(&["asset", "add", "book-9", "shelf-1", "--admin", a]));
    let check = |extra: &str| {
        endocarp(&[
            "check",
            "user:cy",
            "odrl:read",
            "book-9",
            extra,
            "--server",
            s,
            "--fully-consistent",
        ])
    };
    let yes = ok(&check("--explain"));
    assert!(yes.starts_with("ALLOW (PERMITTED)"), "{yes}");
    assert!(yes.contains(r#"may odrl:read on "shelf-1""#), "{yes}");
    ok(&endocarp(&["asset", "remove", "book-9", "shelf-1", "--admin", a]));
    let no = ok(&check("--explain"));
    assert!(no.starts_with("DENY (NOT_PERMITTED)"), "{no}");
    let bad = endocarp(&["asset", "add", "*", "shelf-1", "--admin", a]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("asset_id"), "{bad:?}");
}

/// `scripts/build-pgo` (the default Docker image's build) trains on `endocarp bench` runs
/// that no test runs: their arguments must still parse, or the image's build fails where
/// nobody looks.
#[test]
fn the_profile_guided_builds_training_runs_parse() {
    let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/build-pgo")).unwrap();
    let runs: Vec<Vec<String>> = script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("\"$gen\" "))
        .map(|args| {
            let args = args.replace("\"${extra[@]}\"", "--h2load --authzen");
            std::iter::once("endocarp")
                .chain(args.split_whitespace())
                .map(str::to_string)
                .collect()
        })
        .collect();
    assert_eq!(runs.len(), 2, "the training runs of scripts/build-pgo: {runs:?}");
    for argv in runs {
        assert_eq!(argv[1], "bench", "{argv:?}");
        if let Err(e) = <endocarp::cli::Cli as clap::Parser>::try_parse_from(&argv) {
            panic!("scripts/build-pgo runs {argv:?}, which does not parse: {e}");
        }
    }
}
