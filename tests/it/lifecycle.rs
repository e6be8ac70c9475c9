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
            .assign_role(pb::RoleAssignmentRequest {
                agent_id: agent.to_string(),
                role_id: role.clone(),
                account_id: String::new(),
                request_id: String::new(),
            })
            .await
            .unwrap()
            .into_inner()
            .revision;
        admin
            .grant_permission(pb::RuleRequest {
                policy_id: "pol".into(),
                assignee: role,
                action: ACTIONS[i % 3].into(),
                target: if i % 2 == 0 { "*".into() } else { "doc".into() },
                request_id: String::new(),
            })
            .await
            .unwrap();
    }
    admin
        .add_member(pb::MemberRequest {
            account_id: "acc".into(),
            agent_id: "u0".into(),
            role_id: "role-2".into(),
            request_id: String::new(),
        })
        .await
        .unwrap();
    acknowledged = admin
        .set_prohibition(pb::RuleRequest {
            policy_id: "pol".into(),
            assignee: "u1".into(),
            action: "odrl:use".into(),
            target: "doc".into(),
            request_id: String::new(),
        })
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
        let head = server
            .events()
            .await
            .read_events(pb::ReadEventsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .head_revision;
        assert_eq!(head, acknowledged);
    }
    // Writes continue after the restart with gap-free positions.
    let mut admin = server.admin().await;
    let next = admin
        .revoke_role(pb::RoleAssignmentRequest {
            agent_id: "u0".into(),
            role_id: "role-0".into(),
            account_id: String::new(),
            request_id: String::new(),
        })
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
