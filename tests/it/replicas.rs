//! Many replicas over one PostgreSQL: concurrent writes through all of them, checks with
//! consistency tokens on the others, a replica SIGKILLed mid-load and restarted,
//! notifications doing the waking, and every replica's applied sequence compared with the
//! log event by event (through the applied-sequence digest).

use crate::common;

use common::{Server, grpc_check};
use endocarp::app::projector::chain_digest;
use endocarp::grpc::pb;
use endocarp::grpc::pb::authorization_service_client::AuthorizationServiceClient;
use endocarp::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

async fn status(url: &str) -> pb::ServerStatus {
    let mut c = PolicyAdminServiceClient::connect(url.to_string()).await.unwrap();
    c.get_status(pb::GetStatusRequest::default())
        .await
        .unwrap()
        .into_inner()
}

/// Waits until the replica has applied the head, then checks that the events it applied
/// are exactly the log's, in the log's order.
async fn assert_applied_sequence_is_the_log(admin_url: &str, database_url: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let s = loop {
        let s = status(admin_url).await;
        if s.revision == s.head_revision {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "replica stuck at {} of {}",
            s.revision,
            s.head_revision
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let store = endocarp::store::Store::connect(database_url, false).await.unwrap();
    let mut digest = 0;
    let mut after = s.digest_from_revision;
    loop {
        let page = store.read_events(after, 1000, None).await.unwrap();
        let Some(last) = page.last() else { break };
        if last.position > s.revision {
            for e in page.iter().filter(|e| e.position <= s.revision) {
                digest = chain_digest(digest, e.position, &e.id);
            }
            break;
        }
        for e in &page {
            digest = chain_digest(digest, e.position, &e.id);
        }
        after = last.position;
    }
    store.close().await;
    assert_eq!(
        digest, s.applied_digest,
        "{admin_url}: applied sequence differs from the log"
    );
    s.revision
}

async fn retry<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) => {
                assert!(Instant::now() < deadline, "{what}: still failing: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_converge_with_read_your_writes_across_them() {
    let Some(db) = common::pg::fresh_database().await else {
        return;
    };
    let servers: Vec<Arc<Mutex<Server>>> = (0..3)
        .map(|_| Arc::new(Mutex::new(Server::process(Some(&db), &["--poll-interval", "200ms"]))))
        .collect();
    let mut urls = Vec::new();
    for s in &servers {
        let s = s.lock().await;
        urls.push((s.decision_url.clone(), s.admin_url.clone()));
    }
    const WRITES: usize = 30;
    let mut tasks = Vec::new();
    for w in 0..3 {
        let urls = urls.clone();
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for k in 0..WRITES {
                let (writer, reader) = (&urls[w].1, &urls[(w + 1) % 3].0);
                let rid = format!("w{w}-{k}");
                let assignee = format!("user-{w}-{k}");
                let revision = retry("write", || {
                    let (writer, rid, assignee) = (writer.clone(), rid.clone(), assignee.clone());
                    async move {
                        let mut c = PolicyAdminServiceClient::connect(writer)
                            .await
                            .map_err(|e| e.to_string())?;
                        let r = c
                            .grant_permission(pb::RuleRequest {
                                policy_id: format!("p{w}"),
                                assignee,
                                action: "odrl:read".into(),
                                target: "doc".into(),
                                request_id: rid,
                                constraint: String::new(),
                                refinement: String::new(),
                                duty: String::new(),
                                remedy: String::new(),
                            })
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok(r.into_inner().revision)
                    }
                })
                .await;
                acknowledged.push((rid, revision));
                // Read your write on another replica: a token, or fully_consistent.
                let consistency = if k % 2 == 0 {
                    pb::Consistency {
                        at_least_revision: revision,
                        fully_consistent: false,
                    }
                } else {
                    pb::Consistency {
                        at_least_revision: 0,
                        fully_consistent: true,
                    }
                };
                let decision = retry("check", || {
                    let (reader, assignee) = (reader.clone(), assignee.clone());
                    async move {
                        let mut c = AuthorizationServiceClient::connect(reader)
                            .await
                            .map_err(|e| e.to_string())?;
                        grpc_check(&mut c, &assignee, None, "odrl:read", "doc", Some(consistency))
                            .await
                            .map_err(|e| e.to_string())
                    }
                })
                .await;
                assert!(
                    decision.allowed,
                    "replica {} answered from an older state than {revision}",
                    (w + 1) % 3
                );
                assert!(decision.revision >= revision);
            }
            acknowledged
        }));
    }
    // Mid-load, SIGKILL replica 2 and start it again on the same ports.
    tokio::time::sleep(Duration::from_millis(400)).await;
    servers[2].lock().await.kill_and_restart();

    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 3 * WRITES);

    // Every replica applied exactly the log; all are at the same revision.
    let mut revisions = Vec::new();
    for (_, admin) in &urls {
        revisions.push(assert_applied_sequence_is_the_log(admin, &db).await);
    }
    assert!(revisions.windows(2).all(|w| w[0] == w[1]), "{revisions:?}");

    // No acknowledged write missing or duplicated.
    let store = endocarp::store::Store::connect(&db, false).await.unwrap();
    let events = store.read_events(0, 1000, None).await.unwrap();
    store.close().await;
    assert_eq!(events.len(), 3 * WRITES, "one event per write, none twice");
    for (rid, revision) in &acknowledged {
        let id = format!("req:{rid}:0");
        let found: Vec<_> = events.iter().filter(|e| e.id == id).collect();
        assert_eq!(found.len(), 1, "{id}");
        assert_eq!(found[0].position, *revision);
    }

    // Identical decisions everywhere.
    let mut answers = Vec::new();
    for (decision, _) in &urls {
        let mut c = AuthorizationServiceClient::connect(decision.clone()).await.unwrap();
        let mut mine = Vec::new();
        for w in 0..3 {
            for k in (0..WRITES).step_by(7) {
                for target in ["doc", "other"] {
                    mine.push(
                        grpc_check(&mut c, &format!("user-{w}-{k}"), None, "odrl:read", target, None)
                            .await
                            .unwrap()
                            .allowed,
                    );
                }
            }
        }
        answers.push(mine);
    }
    assert!(answers.iter().all(|a| a == &answers[0]));
    assert!(answers[0].iter().any(|x| *x) && answers[0].iter().any(|x| !*x));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_wake_replicas_not_the_poll() {
    let Some(db) = common::pg::fresh_database().await else {
        return;
    };
    // A poll interval far longer than the test: only a notification can wake B.
    let args = ["--poll-interval", "600s", "--max-staleness", "900s"];
    let a = Server::start_on(Some(&db), &args);
    let b = Server::start_on(Some(&db), &args);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut admin = a.admin().await;
    let w = admin
        .grant_permission(common::rule_request("p", "ann", "odrl:read", "doc", ""))
        .await
        .unwrap()
        .into_inner();
    let mut d = b.decisions().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // No consistency token: B answers from what it has applied.
        let dec = grpc_check(&mut d, "ann", None, "odrl:read", "doc", None).await.unwrap();
        if dec.allowed {
            assert_eq!(dec.revision, w.revision);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica B was never woken by the notification"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hammered_appends_from_processes_and_connections_keep_one_order() {
    let Some(db) = common::pg::fresh_database().await else {
        return;
    };
    let servers: Vec<Server> = (0..3)
        .map(|_| Server::process(Some(&db), &["--poll-interval", "100ms"]))
        .collect();
    // Two other processes append straight into the database, in many batches.
    let dir = tempfile::tempdir().unwrap();
    let mut procs = Vec::new();
    for p in 0..2 {
        let file = dir.path().join(format!("p{p}.jsonl"));
        let lines: Vec<String> = (0..300)
            .map(|i| {
                format!(
                    r#"{{"id":"proc{p}-{i}","aggregate_id":"agent-p{p}-{}","event_type":"Agent.RoleAssigned","payload":{{"subject":"agent-p{p}-{}","predicate":"org:hasRole","object":"role-{}"}}}}"#,
                    i % 17,
                    i % 17,
                    i % 5
                )
            })
            .collect();
        std::fs::write(&file, lines.join("\n")).unwrap();
        procs.push(
            std::process::Command::new(env!("CARGO_BIN_EXE_endocarp"))
                .args(["import", file.to_str().unwrap(), "--database-url", &db, "--batch", "7"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    // And many connections append through every replica at once.
    let mut tasks = Vec::new();
    for (s, server) in servers.iter().enumerate() {
        for c in 0..4 {
            let url = server.admin_url.clone();
            tasks.push(tokio::spawn(async move {
                let mut client = endocarp::grpc::pb::event_service_client::EventServiceClient::connect(url)
                    .await
                    .unwrap();
                for i in 0..20 {
                    let agent = format!("agent-s{s}-c{c}");
                    let events = (0..3)
                        .map(|k| pb::TripleEvent {
                            aggregate_id: agent.clone(),
                            event_type: if (i + k) % 4 == 3 {
                                "Agent.RoleRevoked"
                            } else {
                                "Agent.RoleAssigned"
                            }
                            .into(),
                            subject: agent.clone(),
                            predicate: if (i + k) % 4 == 3 { "org:hadRole" } else { "org:hasRole" }.into(),
                            object: format!("role-{}", (i + k) % 5),
                            ..Default::default()
                        })
                        .collect();
                    client.append_events(pb::AppendEventsRequest { events }).await.unwrap();
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    for mut p in procs {
        assert!(p.wait().unwrap().success());
    }
    let store = endocarp::store::Store::connect(&db, false).await.unwrap();
    let head = store.head().await.unwrap();
    store.close().await;
    assert_eq!(head, 2 * 300 + 3 * 4 * 20 * 3);
    for server in &servers {
        assert_eq!(assert_applied_sequence_is_the_log(&server.admin_url, &db).await, head);
    }
}
