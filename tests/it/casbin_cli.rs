//! `endocarp export casbin` and `endocarp import casbin` against real servers: identifiers
//! with commas, quotes and spaces survive the round trip, inactive policies are left out,
//! a plain enforcer loaded from the files agrees with the server, and importing the export
//! into a fresh server gives the same decisions.

use crate::common;

use casbin::CoreApi;
use common::{Server, grpc_check};
use endocarp::cli::casbin_file::{PolicyLine, parse_policy_csv};
use endocarp::engine::casbin::{MODEL, plain_enforcer};
use endocarp::grpc::pb;
use std::process::Command;

fn endocarp(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(args)
        .output()
        .expect("run endocarp")
}

const AGENTS: [&str; 4] = ["user \"x\", y", " lead", "plain", "m,1"];
const TARGETS: [&str; 3] = ["doc,1", "doc 2", "other"];
const ACTIONS: [&str; 4] = ["odrl:read", "odrl:modify", "odrl:delete", "odrl:use"];
const ACCOUNTS: [Option<&str>; 2] = [None, Some("acc, \"one\"")];

fn rule(policy: &str, assignee: &str, action: &str, target: &str) -> pb::RuleRequest {
    common::rule_request(policy, assignee, action, target, "")
}

async fn grid(server: &Server) -> Vec<bool> {
    let mut d = server.decisions().await;
    let mut out = Vec::new();
    for agent in AGENTS {
        for account in ACCOUNTS {
            for action in ACTIONS {
                for target in TARGETS {
                    out.push(
                        grpc_check(&mut d, agent, account, action, target, None)
                            .await
                            .unwrap()
                            .allowed,
                    );
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_casbin_round_trip() {
    let a = Server::start(&["--engine", "casbin"]);
    let mut admin = a.admin().await;
    admin
        .grant_permission(rule("pol", "role \"editor\"", "odrl:use", "*"))
        .await
        .unwrap();
    admin
        .set_prohibition(rule("pol", "role \"editor\"", "odrl:delete", "doc,1"))
        .await
        .unwrap();
    admin
        .grant_permission(rule("pol", " lead", "odrl:read", "doc 2"))
        .await
        .unwrap();
    admin
        .grant_permission(rule("off", "plain", "odrl:read", "*"))
        .await
        .unwrap();
    admin.deactivate_policy(common::status_request("off")).await.unwrap();
    admin
        .assign_role(common::role_request(AGENTS[0], "role \"editor\"", ""))
        .await
        .unwrap();
    admin
        .add_member(common::member_request("acc, \"one\"", "m,1", "role \"editor\""))
        .await
        .unwrap();
    let before = grid(&a).await;
    assert!(before.iter().any(|x| *x) && before.iter().any(|x| !*x));

    let dir = tempfile::tempdir().unwrap();
    let out = endocarp(&[
        "export",
        "casbin",
        "--out",
        dir.path().to_str().unwrap(),
        "--admin",
        &a.admin_url,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(dir.path().join("model.conf")).unwrap(), MODEL);
    let readme = std::fs::read_to_string(dir.path().join("README.md")).unwrap();
    assert!(
        readme.contains("matching_fn") && readme.contains("status gate"),
        "{readme}"
    );
    let csv = std::fs::read_to_string(dir.path().join("policy.csv")).unwrap();
    assert!(
        !csv.contains(",off,") && !csv.contains("plain,"),
        "inactive policies are left out:\n{csv}"
    );
    let (mut p, mut g) = (Vec::new(), Vec::new());
    for (_, line) in parse_policy_csv(&csv).unwrap() {
        match line {
            PolicyLine::P(r) => p.push(r),
            PolicyLine::G(r) => g.push(r),
        }
    }
    assert!(
        p.iter()
            .any(|r| r[0] == "role \"editor\"" && r[3] == "doc,1" && r[4] == "deny")
    );
    assert!(p.iter().any(|r| r[0] == " lead" && r[3] == "doc 2"));
    assert!(g.contains(&["m,1".to_string(), "role \"editor\"".into(), "acc, \"one\"".into()]));

    // A plain enforcer loaded from the files agrees with the server (no status gates here).
    let plain = plain_enforcer(&p, &g).unwrap();
    let mut i = 0;
    for agent in AGENTS {
        for account in ACCOUNTS {
            for action in ACTIONS {
                let iri = endocarp::domain::Action::parse("a", action).unwrap();
                for target in TARGETS {
                    let got = plain
                        .enforce((agent, account.unwrap_or("*"), iri.as_str(), target))
                        .unwrap();
                    assert_eq!(got, before[i], "{agent:?} {account:?} {action} {target:?}");
                    i += 1;
                }
            }
        }
    }

    // Importing the export into a fresh server gives the same decisions.
    let b = Server::start(&[]);
    let out = endocarp(&[
        "import",
        "casbin",
        dir.path().join("policy.csv").to_str().unwrap(),
        "--admin",
        &b.admin_url,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(grid(&b).await, before);
}

#[test]
fn a_casbin_file_this_model_cannot_express_is_refused_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.csv");
    let db = format!("sqlite://{}", dir.path().join("x.db").display());
    for (text, word) in [
        (
            "p, alice, *, urn:app:read, data1, allow\np, bob, dom1, urn:app:read, data1, allow\n",
            "line 2",
        ),
        ("p, alice, *, read, data1, allow\n", "urn:app:read"),
        ("p, alice, *, urn:app:read, data1, maybe\n", "allow or deny"),
        ("g, alice\n", "3 fields"),
        ("p, alice, *, odrl:use, data1, allow\n", "--exact-actions"),
    ] {
        std::fs::write(&file, text).unwrap();
        let out = endocarp(&["import", "casbin", file.to_str().unwrap(), "--database-url", &db]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(word), "{text:?}: {err}");
    }
    // Row by row, for a server that matches actions exactly.
    std::fs::write(&file, "p, alice, *, odrl:use, data1, allow\n").unwrap();
    let out = endocarp(&[
        "import",
        "casbin",
        file.to_str().unwrap(),
        "--exact-actions",
        "--database-url",
        &db,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // casbin-server's usual layout imports: spaces after commas, comments, g rows.
    std::fs::write(
        &file,
        "# users\np, admin, *, urn:app:write, data1, allow\ng, alice, admin, *\ng, bob, admin, tenant1\n",
    )
    .unwrap();
    let out = endocarp(&["import", "casbin", file.to_str().unwrap(), "--database-url", &db]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 3 events"));
}
