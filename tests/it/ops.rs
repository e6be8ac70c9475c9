//! Operations: the plain-HTTP port (`/livez`, `/readyz`, `/metrics`) of a live server, the
//! counters a scripted workload moves (by exactly the right amounts), request ids, the
//! configuration file's precedence (flag > environment > TOML > default) as `serve`
//! applies it, and secrets kept out of `endocarp config` and the logs.
//! (`/readyz` on a stale replica: tests/pg_restart.rs, where the database really goes away.)

use crate::common;

use common::{Server, grpc_check, http_get, metric};
use endocarp::grpc::pb;
use std::process::Command;

fn scrape(s: &Server) -> String {
    let (status, body) = http_get(&s.ops_url, "/metrics");
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scripted_workload_moves_the_counters_by_the_right_amounts() {
    let s = Server::process(None, &["--engine", "shadow"]);
    assert_eq!(http_get(&s.ops_url, "/livez").0, 200);
    let (status, body) = http_get(&s.ops_url, "/readyz");
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    assert_eq!(http_get(&s.ops_url, "/nope").0, 404);
    let before = scrape(&s);
    assert_eq!(metric(&before, "endocarp_build_info", &[]), 1.0);
    assert_eq!(metric(&before, "endocarp_index_rules", &[]), 0.0);

    // Writes: a grant, a prohibition and a role assignment (three events), one duplicate.
    let mut admin = s.admin().await;
    admin
        .grant_permission(common::rule_request("p", "editor", "odrl:use", "doc", "g1"))
        .await
        .unwrap();
    admin
        .set_prohibition(common::rule_request("p", "ann", "odrl:delete", "doc", ""))
        .await
        .unwrap();
    let revision = admin
        .assign_role(pb::RoleAssignmentRequest {
            agent_id: "ann".into(),
            role_id: "editor".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .revision;
    // A retry with the same request id appends nothing.
    admin
        .grant_permission(common::rule_request("p", "editor", "odrl:use", "doc", "g1"))
        .await
        .unwrap();

    // Checks: 5 allowed, 3 prohibited, 2 not permitted, 1 invalid.
    let mut d = s.decisions().await;
    for _ in 0..5 {
        assert!(
            grpc_check(&mut d, "ann", None, "odrl:read", "doc", None)
                .await
                .unwrap()
                .allowed
        );
    }
    for _ in 0..3 {
        assert!(
            !grpc_check(&mut d, "ann", None, "odrl:delete", "doc", None)
                .await
                .unwrap()
                .allowed
        );
    }
    for _ in 0..2 {
        assert!(
            !grpc_check(&mut d, "bob", Some("acme"), "odrl:read", "doc", None)
                .await
                .unwrap()
                .allowed
        );
    }
    let st = grpc_check(&mut d, "", None, "odrl:read", "doc", None)
        .await
        .unwrap_err();
    assert_eq!(st.code(), tonic::Code::InvalidArgument);
    // One AuthZEN request that is refused before deciding (it names no resource).
    let mut http = crate::common::http::Http::h1(&s.authzen_url).await;
    let r = http
        .post(
            "/access/v1/evaluation",
            &serde_json::json!({"subject": {"type": "user", "id": "ann"}, "action": {"name": "read"}}),
        )
        .await;
    assert_eq!(r.status, 400);

    let after = scrape(&s);
    let delta = |name: &str, labels: &[(&str, &str)]| metric(&after, name, labels) - metric(&before, name, labels);
    // Decisions by engine, result and reason: shadow mode decides every check with both.
    for engine in ["odrl", "casbin"] {
        let e = ("engine", engine);
        assert_eq!(
            delta(
                "endocarp_decisions_total",
                &[e, ("result", "allow"), ("reason", "PERMITTED")]
            ),
            5.0,
            "{engine}"
        );
        assert_eq!(
            delta(
                "endocarp_decisions_total",
                &[e, ("result", "deny"), ("reason", "PROHIBITED")]
            ),
            3.0,
            "{engine}"
        );
        assert_eq!(
            delta("endocarp_decisions_total", &[e, ("reason", "NOT_PERMITTED")]),
            2.0,
            "{engine}"
        );
        assert_eq!(
            delta("endocarp_decision_duration_seconds_count", &[e]),
            10.0,
            "{engine}"
        );
    }
    assert_eq!(delta("endocarp_shadow_agreements_total", &[]), 10.0);
    assert_eq!(metric(&after, "endocarp_shadow_disagreements_total", &[]), 0.0);
    // gRPC requests by method and code.
    let m = |method: &str, code: &str| {
        delta(
            "endocarp_grpc_requests_total",
            &[("grpc_method", method), ("grpc_code", code)],
        )
    };
    assert_eq!(m("IsAuthorized", "OK"), 8.0);
    assert_eq!(m("IsAuthorizedInAccount", "OK"), 2.0);
    assert_eq!(m("IsAuthorized", "INVALID_ARGUMENT"), 1.0);
    // AuthZEN requests by endpoint and HTTP status.
    let evaluation = ("endpoint", "/access/v1/evaluation");
    assert_eq!(
        delta("endocarp_http_requests_total", &[evaluation, ("code", "400")]),
        1.0
    );
    assert_eq!(
        delta("endocarp_http_requests_total", &[evaluation, ("code", "200")]),
        0.0
    );
    assert_eq!(
        delta("endocarp_http_request_duration_seconds_count", &[evaluation]),
        1.0
    );
    assert_eq!(m("GrantPermission", "OK"), 2.0);
    assert_eq!(
        delta(
            "endocarp_grpc_request_duration_seconds_count",
            &[("grpc_method", "IsAuthorized")]
        ),
        9.0
    );
    // Events: three new ones (the retry was de-duplicated); the index and revisions.
    assert_eq!(delta("endocarp_events_appended_total", &[]), 3.0);
    assert_eq!(metric(&after, "endocarp_applied_revision", &[]), revision as f64);
    assert_eq!(metric(&after, "endocarp_log_head_revision", &[]), revision as f64);
    assert_eq!(metric(&after, "endocarp_replica_lag_events", &[]), 0.0);
    assert_eq!(metric(&after, "endocarp_replica_lag_seconds", &[]), 0.0);
    assert_eq!(metric(&after, "endocarp_index_rules", &[]), 2.0);
    assert_eq!(metric(&after, "endocarp_index_assignments", &[]), 1.0);
    assert_eq!(metric(&after, "endocarp_stale", &[]), 0.0);
    assert_eq!(metric(&after, "endocarp_max_staleness_seconds", &[]), 5.0);
    assert!(metric(&after, "endocarp_data_age_seconds", &[]) < 5.0);
    assert_eq!(metric(&after, "endocarp_storage_errors_total", &[]), 0.0);
    // Every event so far was applied one by one (the server started on an empty log).
    assert_eq!(
        metric(&after, "endocarp_index_written_since_build", &[]),
        revision as f64
    );
    assert_eq!(metric(&after, "endocarp_index_repacks_total", &[]), 0.0);
    // Every series is described.
    for name in endocarp::metrics::ALL {
        assert!(after.contains(&format!("# HELP {name}")), "{name} has no HELP line");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_made() {
    let s = Server::start(&[]);
    let mut d = s.decisions().await;
    let request = || pb::IsAuthorizedRequest {
        agent_id: "ann".into(),
        action: "odrl:read".into(),
        target: "doc".into(),
        ..Default::default()
    };
    let mut req = tonic::Request::new(request());
    req.metadata_mut()
        .insert("x-request-id", "trace-me-42".parse().unwrap());
    let r = d.is_authorized(req).await.unwrap();
    assert_eq!(r.metadata().get("x-request-id").unwrap(), "trace-me-42");
    // A successful check nobody named gets no id (making one up costs a tenth of a check).
    let r = d.is_authorized(request()).await.unwrap();
    assert!(r.metadata().get("x-request-id").is_none());
    // Errors carry the caller's id, or one made up for them.
    let mut req = tonic::Request::new(pb::IsAuthorizedRequest::default());
    req.metadata_mut().insert("x-request-id", "bad-one".parse().unwrap());
    let st = d.is_authorized(req).await.unwrap_err();
    assert_eq!(st.metadata().get("x-request-id").unwrap(), "bad-one");
    let st = d.is_authorized(pb::IsAuthorizedRequest::default()).await.unwrap_err();
    let made = st.metadata().get("x-request-id").unwrap().to_str().unwrap().to_string();
    assert_eq!(made.len(), 26, "a ULID: {made}");
    // An id that is not sane (control bytes are not allowed in metadata; 129 bytes) is
    // replaced on an error, and dropped on a success.
    let mut req = tonic::Request::new(pb::IsAuthorizedRequest::default());
    req.metadata_mut()
        .insert("x-request-id", "x".repeat(129).parse().unwrap());
    let st = d.is_authorized(req).await.unwrap_err();
    assert_eq!(st.metadata().get("x-request-id").map(|v| v.len()), Some(26));
    let mut req = tonic::Request::new(request());
    req.metadata_mut()
        .insert("x-request-id", "x".repeat(129).parse().unwrap());
    let r = d.is_authorized(req).await.unwrap();
    assert!(r.metadata().get("x-request-id").is_none());

    // A stream names its call (its task logs and reports under the id): it gets one.
    let watch = s
        .events()
        .await
        .watch_events(pb::WatchEventsRequest { after_revision: 0 })
        .await
        .unwrap();
    assert_eq!(watch.metadata().get("x-request-id").map(|v| v.len()), Some(26));

    // A write's audit entry carries the caller's request id, or the one made for it.
    let mut admin = s.admin().await;
    let grant = || common::rule_request("p", "ann", "odrl:read", "doc", "");
    let mut req = tonic::Request::new(grant());
    req.metadata_mut().insert("x-request-id", "write-7".parse().unwrap());
    admin.grant_permission(req).await.unwrap();
    let r = admin.revoke_permission(tonic::Request::new(grant())).await.unwrap();
    let made = r.metadata().get("x-request-id").unwrap().to_str().unwrap().to_string();
    let audit = admin
        .list_audit_log(pb::ListAuditLogRequest {
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
        .entries;
    let ids: Vec<&str> = audit.iter().map(|e| e.correlation_id.as_str()).collect();
    assert_eq!(ids, ["write-7", made.as_str()]);
}

#[tokio::test]
async fn flags_beat_the_environment_which_beats_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("endocarp.toml");
    std::fs::write(
        &file,
        "# all three disagree about the engine; the file alone sets the log format\n\
         engine = \"casbin\"\nmax_staleness = \"7s\"\nlog_format = \"json\"\nmax_in_flight = 77\n",
    )
    .unwrap();
    let log = dir.path().join("server.log");
    let s = Server::start_with(
        None,
        &["--config", file.to_str().unwrap(), "--engine", "odrl"],
        &[
            ("ENDOCARP_ENGINE", "shadow"),
            ("ENDOCARP_MAX_STALENESS", "9s"),
            ("RUST_LOG", "info"),
        ],
        Some(&log),
    );
    // engine: flag (odrl) over environment (shadow) over file (casbin).
    let status = common::server_status(&s).await;
    assert_eq!(status.engine, "odrl");
    // max_staleness: environment (9s) over file (7s).
    let metrics = scrape(&s);
    assert_eq!(metric(&metrics, "endocarp_max_staleness_seconds", &[]), 9.0);
    // log_format: the file (json) over the default (text).
    let text = std::fs::read_to_string(&log).unwrap();
    let first = text.lines().next().expect("a log line");
    let line: serde_json::Value = serde_json::from_str(first).unwrap_or_else(|e| panic!("{e}: {first}"));
    assert!(line.get("level").is_some(), "{first}");

    // `endocarp config` shows the same resolution.
    let out = Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(["config", "--config", file.to_str().unwrap(), "--engine", "odrl"])
        .env("ENDOCARP_ENGINE", "shadow")
        .env("ENDOCARP_MAX_STALENESS", "9s")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["engine"], "odrl");
    assert_eq!(shown["max_staleness"], "9000ms");
    assert_eq!(shown["log_format"], "json");
    assert_eq!(shown["max_in_flight"], 77);
}

#[test]
fn invalid_configuration_fails_at_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |toml: &str, env: &[(&str, &str)]| {
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, toml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_endocarp"))
            .args([
                "serve",
                "--config",
                file.to_str().unwrap(),
                "--ops-listen",
                "127.0.0.1:0",
            ])
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{toml} was accepted");
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    assert!(serve("max_stalenes = \"5s\"\n", &[]).contains("unknown setting \"max_stalenes\""));
    assert!(serve("max_in_flight = \"lots\"\n", &[]).contains("max_in_flight:"));
    assert!(serve("max_in_flight = 0\n", &[]).contains("max_in_flight: must be at least 1"));
    assert!(serve("write_batch = 1025\n", &[]).contains("write_batch: at most 1024"));
    assert!(serve("write_batch = -1\n", &[]).contains("write_batch"));
    assert!(serve("engine = \"opa\"\n", &[]).contains("engine:"));
    assert!(serve("authzen_listen = \"everywhere\"\n", &[]).contains("authzen_listen:"));
    assert!(serve("authzen_public_url = \"ftp://pdp\"\n", &[]).contains("authzen_public_url"));
    assert!(serve("authzen_public_url = \"https://pdp/?x=1\"\n", &[]).contains("authzen_public_url"));
    assert!(serve("authzen_action_namespace = \"view\"\n", &[]).contains("authzen_action_namespace"));
    assert!(serve("max_staleness = \"100ms\"\npoll_interval = \"1s\"\n", &[]).contains("max_staleness"));
    if !cfg!(feature = "otlp") {
        // A default build refuses the setting rather than silently not exporting.
        assert!(serve("otlp_endpoint = \"http://127.0.0.1:4317\"\n", &[]).contains("otlp_endpoint"));
    }
    let e = serve("", &[("ENDOCARP_MAX_WAIT", "soon")]);
    assert!(e.contains("--max-wait") && e.contains("soon"), "{e}");
    // A database that cannot be had is named, with what is wrong.
    let missing = dir.path().join("no-such-dir/endocarp.db");
    let e = serve(&format!("database_url = \"sqlite://{}\"\n", missing.display()), &[]);
    assert!(
        e.contains(&missing.display().to_string()) && e.contains("does not exist"),
        "{e}"
    );
    let e = serve(
        "database_url = \"postgres://endocarp:s3cret-pw@127.0.0.1:1/authz\"\n",
        &[],
    );
    assert!(e.contains("127.0.0.1:1") && e.contains("\"authz\""), "{e}");
    assert!(!e.contains("s3cret-pw"), "the password reached stderr: {e}");
}

#[tokio::test]
async fn secrets_never_reach_endocarp_config_or_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("endocarp.toml");
    let token = "file-token-0123456789-SECRET";
    let env_token = "env-token-0123456789-SECRET";
    std::fs::write(&file, format!("admin_tokens = \"ops:read,write:{token}\"\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(["config", "--config", file.to_str().unwrap()])
        .args([
            "--database-url",
            "postgres://app:pg-PASSWORD-SECRET@db.example:5432/authz",
        ])
        .output()
        .unwrap();
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        shown.contains("<redacted>") && shown.contains("app:***@db.example"),
        "{shown}"
    );
    assert!(!shown.contains("SECRET"), "{shown}");

    let log = dir.path().join("server.log");
    let s = Server::start_with(
        None,
        &["--config", file.to_str().unwrap()],
        &[
            ("ENDOCARP_ADMIN_TOKENS", &format!("ci:read,write:{env_token}")),
            ("RUST_LOG", "trace,h2=info,hyper=info,tower=info,sqlx=info"),
        ],
        Some(&log),
    );
    for t in [token, env_token, "wrong-token-0123456789-SECRET"] {
        let mut req = tonic::Request::new(pb::GetStatusRequest::default());
        req.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
        let _ = s.admin().await.get_status(req).await;
        let (_, metrics) = http_get(&s.ops_url, "/metrics");
        assert!(!metrics.contains("SECRET"));
    }
    drop(s);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().count() > 5, "the trace log is there: {text}");
    assert!(!text.contains("SECRET"), "a secret reached the logs");
}

/// Start-up's own log lines reach the log on both databases, after a load that ran
/// queries: with a filter per output layer, sqlx's bare `enabled` check after a query left
/// tracing-subscriber's per-thread filter state stale and the next line was dropped —
/// `read model loaded` never appeared on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_logs_its_load_on_both_databases() {
    let mut databases = vec![None];
    if let Some(url) = common::pg::fresh_database().await {
        databases.push(Some(url));
    }
    for db in databases {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let mut s = Server::start_with(
            db.as_deref(),
            &[],
            &[("RUST_LOG", endocarp::telemetry::DEFAULT_LOG_FILTER)],
            Some(&log),
        );
        let mut c = s.client().await;
        c.grant("p1", "editor", "odrl:read", "doc-1").await;
        for batch in 0..5 {
            let events = (0..1000)
                .map(|k| {
                    let agent = format!("agent-{batch}-{k}");
                    common::pb_triple("Agent.RoleAssigned", &agent, &agent, "org:hasRole", "editor", &[])
                })
                .collect();
            c.append(events).await.expect("append");
        }
        // The restart loads the facts (the log file starts afresh).
        s.kill_and_restart();
        let text = std::fs::read_to_string(&log).unwrap();
        for line in ["read model loaded revision=", "index loaded revision=", "serving"] {
            assert!(text.contains(line), "{db:?}: no {line:?} in the log:\n{text}");
        }
    }
}

#[test]
fn the_serving_log_line_names_the_addresses_bound_not_the_port_0_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("serve.log");
    let mut cmd = common::serve_command("127.0.0.1:0");
    cmd.args(["--log-format", "json"])
        .env("RUST_LOG", "info")
        .current_dir(dir.path())
        .stderr(std::fs::File::create(&log).unwrap());
    let (mut child, addresses) = common::spawn_ready(cmd, dir.path());
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let serving: serde_json::Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["message"] == "serving")
        .unwrap_or_else(|| panic!("no serving line in {text}"));
    let fields = &serving["fields"];
    let authzen = addresses.authzen.expect("the AuthZEN port is on");
    for (field, bound) in [
        ("decision_addr", addresses.decision),
        ("admin_addr", addresses.admin),
        ("ops_addr", addresses.ops),
        ("authzen_addr", authzen),
    ] {
        assert_ne!(bound.port(), 0);
        assert_eq!(fields[field], bound.to_string(), "{field} in {serving}");
    }
}
