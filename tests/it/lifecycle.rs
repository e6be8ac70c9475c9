//! Process lifecycle: SIGKILL and restart keeps every acknowledged write and decision;
//! SIGTERM shuts down cleanly; a non-loopback admin address is refused without credentials.

use crate::common;

use common::{Server, grpc_check};
use endocarp::grpc::pb;

const AGENTS: [&str; 6] = ["u0", "u1", "u2", "u3", "u4", "u5"];
const ACTIONS: [&str; 3] = ["odrl:read", "odrl:modify", "odrl:delete"];

async fn all_decisions(server: &Server) -> Vec<(bool, i32, u64)> {
    let mut d = server.decisions().await;
    let mut out = Vec::new();
    for agent in AGENTS {
        for account in [None, Some("acc")] {
            for action in ACTIONS {
                let dec = grpc_check(&mut d, agent, account, action, "doc", None).await.unwrap();
                out.push((dec.allowed, dec.reason, dec.revision));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_keep_every_acknowledged_write() {
    let mut server = Server::process(None, &[]);
    let mut admin = server.admin().await;
    let mut acknowledged = 0;
    for (i, agent) in AGENTS.iter().enumerate() {
        let role = format!("role-{}", i % 3);
        acknowledged = admin
            .assign_role(common::role_request(agent, &role, ""))
            .await
            .unwrap()
            .into_inner()
            .revision;
        admin
            .grant_permission(common::rule_request(
                "pol",
                &role,
                ACTIONS[i % 3],
                if i % 2 == 0 { "*" } else { "doc" },
                "",
            ))
            .await
            .unwrap();
    }
    admin
        .add_member(common::member_request("acc", "u0", "role-2"))
        .await
        .unwrap();
    acknowledged = admin
        .set_prohibition(common::rule_request("pol", "u1", "odrl:use", "doc", ""))
        .await
        .unwrap()
        .into_inner()
        .revision
        .max(acknowledged);
    let before = all_decisions(&server).await;
    assert!(
        before.iter().any(|d| d.0) && before.iter().any(|d| !d.0),
        "a mix of allows and denies"
    );

    for _ in 0..3 {
        server.kill_and_restart();
        let after = all_decisions(&server).await;
        assert_eq!(after, before, "same decisions at the same revision after SIGKILL");
        let head = common::log_head(&server).await;
        assert_eq!(head, acknowledged);
    }
    // Writes continue after the restart with gap-free positions.
    let mut admin = server.admin().await;
    let next = admin
        .revoke_role(common::role_request("u0", "role-0", ""))
        .await
        .unwrap();
    assert_eq!(next.into_inner().revision, acknowledged + 1);
    let audit = admin
        .list_audit_log(pb::ListAuditLogRequest {
            page_size: 1000,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries.len() as u64, acknowledged + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly() {
    let mut server = Server::process(None, &[]);
    let mut d = server.decisions().await;
    grpc_check(&mut d, "a", None, "odrl:read", "t", None).await.unwrap();
    assert!(server.terminate(), "exit status 0 after SIGTERM");
}

#[test]
fn a_non_loopback_admin_address_is_refused_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::serve_command("0.0.0.0:0")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("admin_listen"), "{err}");
    assert!(
        !dir.path().join("endocarp.db").exists(),
        "refused before touching the database"
    );
}
