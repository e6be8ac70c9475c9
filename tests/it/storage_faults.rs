//! Storage faults never need a restart: a full disk (SQLite past its size cap, which fails
//! exactly as a full file system does) and a transaction killed between its inserts and
//! its commit (PostgreSQL). In both, the refused write stores nothing, decisions go on,
//! the next writes succeed by themselves at the revision after the last acknowledged one,
//! `endocarp verify` is clean and a second replica converges.

use crate::common;

use common::{Server, http_get, metric};
use endocarp::grpc::pb;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tonic::Code;

/// A batch of `size` events, ids `f{n}-{i}`, on an aggregate of its own.
fn batch(n: u64, size: usize) -> Vec<pb::TripleEvent> {
    (0..size)
        .map(|i| {
            let mut e = common::pb_triple(
                "Policy.PermissionGranted",
                &format!("policy-{n}"),
                &format!("role-{}", i % 17),
                "odrl:permission",
                &format!("document-{n}-{i}-with-a-long-enough-name-to-fill-pages"),
                &[("action", "odrl:read")],
            );
            e.id = format!("f{n}-{i}");
            e
        })
        .collect()
}

/// How many events of each batch the log holds.
async fn batches_present(database_url: &str) -> BTreeMap<u64, usize> {
    let store = endocarp::store::Store::connect(database_url, false).await.unwrap();
    let mut present = BTreeMap::new();
    let mut after = 0;
    let mut expected_position = 1;
    loop {
        let page = store.read_events(after, 1000, None).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        for e in &page {
            assert_eq!(e.position, expected_position, "positions have no gaps");
            expected_position += 1;
            let batch = e.id.strip_prefix('f').and_then(|r| r.split('-').next()?.parse().ok());
            if let Some(n) = batch {
                *present.entry(n).or_default() += 1;
            }
        }
    }
    store.close().await;
    present
}

/// `endocarp verify` against the database and, when given, a live server's index.
fn verify(database_url: &str, admin: Option<&str>) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_endocarp"));
    cmd.args(["verify", "--database-url", database_url]);
    if let Some(a) = admin {
        cmd.args(["--admin", a]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
}

/// Waits until `server` has applied `revision`, and returns its index digest there.
async fn digest_at(server: &Server, revision: u64) -> u64 {
    let mut admin = server.admin().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = admin
            .get_status(pb::GetStatusRequest {
                with_index_digest: true,
            })
            .await
            .unwrap()
            .into_inner();
        if s.revision == revision {
            return s.index_digest;
        }
        assert!(Instant::now() < deadline, "the replica stayed at {}", s.revision);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_until_space_returns_then_they_resume_by_themselves() {
    let server = Server::start(&[]);
    let mut c = server.client().await;
    c.grant("p", "ann", "odrl:read", "doc").await;
    let mut acknowledged = vec![];
    let mut revision = c.head().await;
    for n in 0..3 {
        revision = c.append(batch(n, 50)).await.unwrap().revision;
        acknowledged.push(n);
    }
    // The disk fills up mid-batch: a cap a little above what is stored now.
    let store = server.app().store().clone();
    let size = std::fs::metadata(server.dir.join("endocarp.db")).unwrap().len();
    store.set_sqlite_size_limit(size + 64 * 1024).await.unwrap();
    let mut refused = vec![];
    for n in 3..200 {
        match c.append(batch(n, 50)).await {
            Ok(r) => {
                assert_eq!(r.revision, revision + 50, "gap-free");
                revision = r.revision;
                acknowledged.push(n);
            }
            Err(st) => {
                assert_eq!(st.code(), Code::ResourceExhausted, "{st:?}");
                assert!(st.message().contains("disk is full"), "{}", st.message());
                assert!(st.message().contains("endocarp.db"), "names the file: {}", st.message());
                refused.push(n);
                if refused.len() == 3 {
                    break;
                }
            }
        }
    }
    assert_eq!(refused.len(), 3, "the cap was reached");
    // Every refusal is a full disk again, never a connection stuck in a failed transaction.
    assert_eq!(refused, [refused[0], refused[0] + 1, refused[0] + 2]);

    // Decisions go on, the replica stays ready, and the fault is visible.
    assert!(c.check("ann", "odrl:read", "doc").await.unwrap().allowed);
    assert_eq!(http_get(&server.ops_url, "/readyz").0, 200);
    let metrics = http_get(&server.ops_url, "/metrics").1;
    assert!(metric(&metrics, "endocarp_storage_errors_total", &[("operation", "append")]) >= 3.0);
    let status = common::server_status(&server).await;
    assert_eq!(status.last_storage_error_operation, "append");
    assert!(status.last_storage_error.contains("disk is full"), "{status:?}");
    assert!(!status.stale);

    // Space comes back: the very next write succeeds, right after the last acknowledged one.
    store.set_sqlite_size_limit(0).await.unwrap();
    let r = c
        .append(batch(1000, 50))
        .await
        .expect("writes resume without a restart");
    assert!(r.visible);
    assert_eq!(r.revision, revision + 50);
    acknowledged.push(1000);

    // Nothing acknowledged is lost, nothing refused is stored, not even in part.
    let present = batches_present(&server.database_url()).await;
    for n in &acknowledged {
        assert_eq!(present.get(n), Some(&50), "acknowledged batch {n}");
    }
    for n in &refused {
        assert_eq!(present.get(n), None, "refused batch {n} left events behind");
    }
    verify(&server.database_url(), Some(&server.admin_url));
    // A second replica on the same file converges on the same index.
    let replica = Server::start_on(Some(&server.database_url()), &["--poll-interval", "100ms"]);
    assert_eq!(
        digest_at(&replica, r.revision).await,
        digest_at(&server, r.revision).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_transaction_killed_before_its_commit_stores_nothing_and_writes_go_on() {
    use sqlx::{Connection, Executor};
    let Some(db) = common::pg::fresh_database().await else {
        return;
    };
    let server = Server::start_on(Some(&db), &[]);
    let replica = Server::start_on(Some(&db), &["--poll-interval", "200ms"]);
    let mut c = server.client().await;
    let before = c.append(batch(1, 20)).await.unwrap().revision;

    // Hold the audit table so the next append blocks between its event inserts and its
    // commit, then kill that backend.
    let mut blocker = sqlx::postgres::PgConnection::connect(&db).await.unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker
        .execute("LOCK TABLE audit IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let mut writer = server.client().await;
    let blocked = tokio::spawn(async move { writer.append(batch(2, 20)).await });
    // Watched from another connection: inside a transaction, pg_stat_activity is a snapshot.
    let mut watcher = sqlx::postgres::PgConnection::connect(&db).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let victim: i32 = loop {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO audit%'",
        )
        .fetch_optional(&mut watcher)
        .await
        .unwrap();
        if let Some(pid) = pid {
            break pid;
        }
        assert!(Instant::now() < deadline, "the append never reached the audit insert");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let inserted: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&mut blocker)
        .await
        .unwrap();
    assert_eq!(
        inserted as u64, before,
        "the blocked batch's inserts are not visible yet"
    );
    let killed: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(victim)
        .fetch_one(&mut watcher)
        .await
        .unwrap();
    assert!(killed);
    blocker.execute("ROLLBACK").await.unwrap();
    blocker.close().await.unwrap();
    watcher.close().await.unwrap();
    let st = blocked
        .await
        .unwrap()
        .expect_err("the killed transaction is not acknowledged");
    assert_eq!(st.code(), Code::Unavailable, "{st:?}");
    assert!(!st.message().contains("terminat"), "no database text: {}", st.message());

    // The next writes succeed at once, right after the last acknowledged revision.
    let r = c.append(batch(3, 20)).await.expect("writes go on");
    assert_eq!(r.revision, before + 20, "gap-free");
    let r = c.append(batch(4, 20)).await.unwrap();
    assert!(
        c.check(
            "role-1",
            "odrl:read",
            "document-3-1-with-a-long-enough-name-to-fill-pages"
        )
        .await
        .is_ok()
    );
    let present = batches_present(&db).await;
    assert_eq!(present, BTreeMap::from([(1, 20), (3, 20), (4, 20)]));
    verify(&db, Some(&server.admin_url));
    assert_eq!(
        digest_at(&replica, r.revision).await,
        digest_at(&server, r.revision).await
    );
}
