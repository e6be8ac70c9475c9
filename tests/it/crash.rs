//! Crash safety: while a client appends batches in a loop, the server is SIGKILLed at
//! random moments, many times; after each restart every acknowledged batch is present
//! exactly once, no unacknowledged batch is half-present, and `endocarp verify` finds the
//! read model and the live index identical to the log. `ENDOCARP_CRASH_ROUNDS` (default 8)
//! sets how many kills; the long run is `ENDOCARP_CRASH_ROUNDS=200 cargo test --test crash`.

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
    let mut next = 0u64;
    let mut acknowledged: Vec<u64> = Vec::new();
    let mut unacknowledged: Vec<u64> = Vec::new();
    let mut seed = 0x9E37_79B9u64;
    for _ in 0..rounds {
        let url = server.admin_url.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let client = {
            let stop = stop.clone();
            let start = next;
            tokio::spawn(async move {
                let mut acked = Vec::new();
                let mut failed = Vec::new();
                let mut n = start;
                let Ok(mut c) = endocarp::grpc::pb::event_service_client::EventServiceClient::connect(url).await else {
                    return (acked, failed, n);
                };
                while !stop.load(Ordering::Relaxed) {
                    match c.append_events(batch(n)).await {
                        Ok(_) => acked.push(n),
                        Err(_) => {
                            failed.push(n);
                            n += 1;
                            break;
                        }
                    }
                    n += 1;
                }
                (acked, failed, n)
            })
        };
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(20 + (seed >> 33) % 150)).await;
        server.kill(); // SIGKILL, mid-append as likely as not
        stop.store(true, Ordering::Relaxed);
        let (acked, failed, n) = client.await.unwrap();
        acknowledged.extend(acked);
        unacknowledged.extend(failed);
        next = n;
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
    let out = verify(&server, true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("identical to the log"), "{text}");
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
