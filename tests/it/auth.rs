//! Admin authentication over real sockets: no credential, a wrong token, a token without
//! the needed scope → UNAUTHENTICATED or PERMISSION_DENIED and no state change; the right
//! one → success with its name as the audit actor. Health stays open; admin reflection
//! needs `read`; the decision API can require `check` tokens; secrets never reach logs or
//! `endocarp config`.

use crate::common;

use common::{Server, grpc_check};
use endocarp::grpc::pb;
use std::process::Command;
use tonic::Code;

const OPS: &str = "ops-token-0123456789abcdef";
const AUDITOR: &str = "auditor-token-0123456789abcdef";
const SVC: &str = "svc-token-0123456789abcdef";

fn tokens_file(dir: &std::path::Path) -> String {
    let path = dir.join("tokens");
    std::fs::write(
        &path,
        format!("# name:scopes:token\nops:read,write:{OPS}\nauditor:read:{AUDITOR}\nsvc:check:{SVC}\n"),
    )
    .unwrap();
    path.display().to_string()
}

fn authed<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(t) = token {
        r.metadata_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    r
}

fn grant(assignee: &str) -> pb::RuleRequest {
    common::rule_request("p", assignee, "odrl:read", "doc", "")
}

async fn head(server: &Server) -> u64 {
    let mut c = server.events().await;
    c.read_events(authed(pb::ReadEventsRequest::default(), Some(AUDITOR)))
        .await
        .unwrap()
        .into_inner()
        .head_revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_need_a_token_with_the_right_scope() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&["--admin-tokens-file", &tokens_file(dir.path())]);
    let mut admin = server.admin().await;
    for (token, code) in [
        (None, Code::Unauthenticated),
        (Some("not-a-token-0123456789abcdef"), Code::Unauthenticated),
        (Some(AUDITOR), Code::PermissionDenied),
        (Some(SVC), Code::PermissionDenied),
    ] {
        let st = admin
            .grant_permission(authed(grant("mallory"), token))
            .await
            .unwrap_err();
        assert_eq!(st.code(), code, "{token:?}: {st}");
        let mut events = server.events().await;
        let ev = pb::TripleEvent {
            aggregate_id: "m".into(),
            event_type: "Agent.RoleAssigned".into(),
            subject: "m".into(),
            predicate: "org:hasRole".into(),
            object: "admin".into(),
            ..Default::default()
        };
        let st = events
            .append_events(authed(pb::AppendEventsRequest { events: vec![ev] }, token))
            .await
            .unwrap_err();
        assert_eq!(st.code(), code);
        assert_eq!(head(&server).await, 0, "a rejected call changes nothing");
    }
    // Reads need `read`.
    let st = admin
        .list_rules(authed(pb::ListRulesRequest::default(), None))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    admin
        .list_rules(authed(pb::ListRulesRequest::default(), Some(AUDITOR)))
        .await
        .unwrap();
    let st = admin
        .list_audit_log(authed(pb::ListAuditLogRequest::default(), Some(SVC)))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::PermissionDenied);

    // The right token writes, and its name is the audit actor (not a header the caller sets).
    let mut req = authed(grant("ann"), Some(OPS));
    req.metadata_mut().insert("x-actor", "root".parse().unwrap());
    let w = admin.grant_permission(req).await.unwrap().into_inner();
    assert_eq!(w.revision, 1);
    let audit = admin
        .list_audit_log(authed(pb::ListAuditLogRequest::default(), Some(AUDITOR)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries.len(), 1);
    assert_eq!(audit.entries[0].actor, "ops");

    // Health is open on both ports; the decision API is open unless told otherwise.
    for url in [&server.admin_url, &server.decision_url] {
        assert_eq!(common::health(url, "").await, 1, "SERVING at {url}");
    }
    let mut d = server.decisions().await;
    assert!(
        grpc_check(&mut d, "ann", None, "odrl:read", "doc", None)
            .await
            .unwrap()
            .allowed
    );

    // Reflection on the admin port needs `read`.
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    let ch = tonic::transport::Channel::from_shared(server.admin_url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut r = ServerReflectionClient::new(ch);
    let list = || ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let st = r
        .server_reflection_info(authed(tokio_stream::iter(vec![list()]), None))
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unauthenticated);
    let mut stream = r
        .server_reflection_info(authed(tokio_stream::iter(vec![list()]), Some(AUDITOR)))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_decision_api_can_require_check_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&[
        "--admin-tokens-file",
        &tokens_file(dir.path()),
        "--decision-auth",
        "true",
    ]);
    let mut d = server.decisions().await;
    let req = |token| authed(common::check_request("ann", "odrl:read", "doc"), token);
    assert_eq!(
        d.is_authorized(req(None)).await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(
        d.is_authorized(req(Some(AUDITOR))).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    let ok = d
        .is_authorized(req(Some(SVC)))
        .await
        .unwrap()
        .into_inner()
        .decision
        .unwrap();
    assert!(!ok.allowed);
}

#[test]
fn credentials_allow_a_network_admin_address_and_stay_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = tokens_file(dir.path());
    let log = dir.path().join("server.log");
    let mut cmd = common::serve_command("0.0.0.0:0");
    cmd.args(["--admin-tokens-file", &file])
        .env("RUST_LOG", "debug,h2=info,hyper=info,tower=info")
        .current_dir(dir.path())
        .stderr(std::fs::File::create(&log).unwrap());
    let (mut child, addresses) = common::spawn_ready(cmd, dir.path());
    assert!(addresses.admin.ip().is_unspecified(), "bound to {}", addresses.admin);
    let admin = format!("http://127.0.0.1:{}", addresses.admin.port());
    // Through the CLI: with the token it writes, with a wrong one it is refused.
    let cli = |token: &str| {
        Command::new(env!("CARGO_BIN_EXE_endocarp"))
            .args(["role", "assign", "ann", "editor", "--admin", &admin])
            .env("ENDOCARP_TOKEN", token)
            .output()
            .unwrap()
    };
    let ok = cli(OPS);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let wrong = "wrong-secret-token-0123456789";
    let bad = cli(wrong);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Unauthenticated"));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("call rejected"), "rejections are logged");
    for secret in [OPS, AUDITOR, SVC, wrong] {
        assert!(!text.contains(secret), "a token reached the log");
    }
    // `endocarp config` shows that credentials are set, never what they are.
    let out = Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(["config", "--admin-tokens-file", &file])
        .env("ENDOCARP_ADMIN_TOKENS", format!("ci:write:{SVC}x"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("<redacted>"), "{text}");
    for secret in [OPS, AUDITOR, SVC] {
        assert!(!text.contains(secret), "{text}");
    }
}
