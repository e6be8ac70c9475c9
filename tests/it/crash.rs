//! Crash safety under load: while a client appends batches in a loop, another asks for
//! decisions and a second replica tails the same database, the server is SIGKILLed at
//! random moments, many times, and every other round it runs with its database capped
//! just above its size, so writes also meet a full disk. After each restart every
//! acknowledged batch is present exactly once and no refused one is even half-present; at
//! the end `endocarp verify` finds the read model and the live index identical to the log,
//! and the second replica's index is the same. `ENDOCARP_CRASH_ROUNDS` (default 8) sets
//! how many kills; the long run is `ENDOCARP_CRASH_ROUNDS=200 cargo test --test it crash`.

use crate::common;

use common::Server;
use endocarp::grpc::pb;
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

const PER_BATCH: usize = 5;

fn batch(n: u64) -> pb::AppendEventsRequest {
    let events = (0..PER_BATCH)
        .map(|i| {
            let agent = format!("agent-{}", n % 13);
            pb::TripleEvent {
                id: format!("b{n}-{i}"),
                aggregate_id: agent.clone(),
                event_type: if (n + i as u64).is_multiple_of(3) {
                    "Agent.RoleRevoked"
                } else {
                    "Agent.RoleAssigned"
                }
                .into(),
                subject: agent,
                predicate: if (n + i as u64).is_multiple_of(3) {
                    "org:hadRole"
                } else {
                    "org:hasRole"
                }
                .into(),
                object: format!("role-{}", (n + i as u64) % 7),
                ..Default::default()
            }
        })
        .collect();
    pb::AppendEventsRequest { events }
}

fn verify(server: &Server, admin: bool) -> std::process::Output {
    let mut args = vec!["verify".to_string(), "--database-url".into(), server.database_url()];
    if admin {
        args.extend(["--admin".into(), server.admin_url.clone()]);
    }
    Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(&args)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_duplicates_nothing() {
    let rounds: u64 = std::env::var("ENDOCARP_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(8);
    let mut server = Server::process(None, &[]);
    let replica = Server::process(Some(&server.database_url()), &["--poll-interval", "100ms"]);
    let mut next = 0u64;
    let mut acknowledged: Vec<u64> = Vec::new();
    let mut unacknowledged: Vec<u64> = Vec::new();
    let (mut disk_full, mut checks_ok, mut checks_failed) = (0u64, 0u64, 0u64);
    let mut seed = 0x9E37_79B9u64;
    for round in 0..rounds {
        let url = server.admin_url.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let stop = stop.clone();
            let start = next;
            tokio::spawn(async move {
                let (mut acked, mut failed, mut full) = (Vec::new(), Vec::new(), 0u64);
                let mut n = start;
                let Ok(mut c) = endocarp::grpc::pb::event_service_client::EventServiceClient::connect(url).await else {
                    return (acked, failed, n, full);
                };
                while !stop.load(Ordering::Relaxed) {
                    match c.append_events(batch(n)).await {
                        Ok(_) => acked.push(n),
                        // A full disk refuses the batch; the writer carries on.
                        Err(st) if st.code() == tonic::Code::ResourceExhausted => {
                            failed.push(n);
                            full += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        Err(_) => {
                            failed.push(n);
                            n += 1;
                            break;
                        }
                    }
                    n += 1;
                }
                (acked, failed, n, full)
            })
        };
        let checker = {
            let (stop, url) = (stop.clone(), server.decision_url.clone());
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u64, 0u64);
                let Ok(mut d) = pb::authorization_service_client::AuthorizationServiceClient::connect(url).await else {
                    return (ok, failed);
                };
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let agent = format!("agent-{}", i % 13);
                    match d.is_authorized(common::check_request(&agent, "odrl:read", "doc")).await {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                    i += 1;
                }
                (ok, failed)
            })
        };
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(20 + (seed >> 33) % 150)).await;
        server.kill(); // SIGKILL, mid-append as likely as not
        stop.store(true, Ordering::Relaxed);
        let (acked, failed, n, full) = client.await.unwrap();
        let (ok, bad) = checker.await.unwrap();
        acknowledged.extend(acked);
        unacknowledged.extend(failed);
        (disk_full, checks_ok, checks_failed) = (disk_full + full, checks_ok + ok, checks_failed + bad);
        next = n;
        // Every other round the database gets a cap just above its size: a full disk soon.
        let cap = if round % 2 == 0 {
            (logical_size(&server.database_url()).await + 16 * 1024).to_string()
        } else {
            "0".to_string()
        };
        server.set_args(&["--sqlite-max-size", &cap]);
        server.kill_and_restart();

        let store = endocarp::store::Store::connect(&server.database_url(), false)
            .await
            .unwrap();
        let mut present: HashMap<u64, usize> = HashMap::new();
        let mut after = 0;
        loop {
            let page = store.read_events(after, 1000, None).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.position;
            for e in &page {
                let b: u64 = e.id.trim_start_matches('b').split('-').next().unwrap().parse().unwrap();
                *present.entry(b).or_default() += 1;
            }
        }
        store.close().await;
        for b in &acknowledged {
            assert_eq!(
                present.get(b),
                Some(&PER_BATCH),
                "acknowledged batch {b} must be present exactly once"
            );
        }
        for b in &unacknowledged {
            let n = present.get(b).copied().unwrap_or(0);
            assert!(
                n == 0 || n == PER_BATCH,
                "unacknowledged batch {b} is half-present ({n} of {PER_BATCH})"
            );
        }
        assert_eq!(present.values().sum::<usize>(), present.len() * PER_BATCH);
    }
    assert!(acknowledged.len() as u64 >= rounds, "the client made progress");
    assert!(checks_ok > 0, "decisions were served between the kills");
    println!(
        "crash under load: {rounds} SIGKILLs, {} batches acknowledged, {} refused or cut off ({disk_full} by a full disk), {checks_ok} checks answered and {checks_failed} failed while the server was down",
        acknowledged.len(),
        unacknowledged.len()
    );
    let out = verify(&server, true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("identical to the log"), "{text}");
    // The replica that tailed through all of it holds the same index.
    let out = verify(&replica, true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
}

/// The SQLite database's logical size (pages in the file and its WAL).
async fn logical_size(database_url: &str) -> u64 {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&format!("{database_url}?mode=ro"))
        .await
        .unwrap();
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&pool).await.unwrap();
    let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&pool).await.unwrap();
    pool.close().await;
    (pages * size) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_reports_a_read_model_that_differs_from_the_log() {
    let mut server = Server::process(None, &[]);
    let mut events = server.events().await;
    events.append_events(batch(1)).await.unwrap();
    events.append_events(batch(2)).await.unwrap();
    assert!(verify(&server, true).status.success());
    server.kill();
    // Tamper with the read model behind the log's back.
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&server.database_url()).await.unwrap();
    sqlx::query("DELETE FROM role_edges WHERE node = 'agent-1'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO rules (policy, kind, assignee, action, target) VALUES ('x', 'permission', 'eve', 'urn:x:all', '*')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = verify(&server, false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        text.contains("missing from the read model") && text.contains("not implied by the log") && text.contains("eve"),
        "{text}"
    );
}
