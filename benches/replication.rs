//! Replication and start-up, measured with real `endocarp serve` processes:
//!
//! 1. **write-to-visible on another replica**: a write acknowledged by replica A, until
//!    replica B has applied it (B's `WatchEvents` stream delivers only applied events);
//!    B learns of it through LISTEN/NOTIFY (its poll is 1 s).
//! 2. **start-up to SERVING** with N rules and role assignments in the database (PostgreSQL
//!    and SQLite; 1M and 2M rows, or `ENDOCARP_BENCH_STARTUP_ROWS`): the time
//!    from spawning `endocarp serve` to its ready file (the index is loaded by then), the
//!    load split into fetching the read model and building the index (from the ready
//!    file), and its resident memory after.
//!
//! `scripts/bench replication` (a throwaway cluster; `ENDOCARP_TEST_PG_URL`), or
//! `ENDOCARP_BENCH_TINY=1 cargo test --benches` at a tiny size. Results: docs/BENCHMARKS.md.

use endocarp::grpc::pb;
use endocarp::grpc::pb::event_service_client::EventServiceClient;
use endocarp::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient;
use hdrhistogram::Histogram;
use sqlx::{Connection, Executor};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Replica {
    child: Child,
    admin: String,
    started_in: Duration,
    /// The start-up load's fetch and build, from the ready file.
    load: endocarp::app::projector::LoadStats,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(db: &str, extra: &[&str]) -> Replica {
    let dir = std::env::temp_dir();
    let ready = dir.join(format!("endocarp-ready-{}.json", ulid::Ulid::generate()));
    let t0 = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args([
            "serve",
            "--ops-listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--authzen-listen",
            "127.0.0.1:0",
            "--database-url",
            db,
        ])
        .arg("--ready-file")
        .arg(&ready)
        .args(extra)
        .env("RUST_LOG", "warn")
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn endocarp serve");
    let text = loop {
        if let Ok(text) = std::fs::read_to_string(&ready) {
            break text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("endocarp serve exited before it was ready ({status})");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let started_in = t0.elapsed();
    let ready: endocarp::startup::Ready = serde_json::from_str(&text).expect("ready file");
    Replica {
        child,
        admin: format!("http://{}", ready.addresses.admin),
        started_in,
        load: ready.load.expect("a server's ready file has its load"),
    }
}

fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

async fn fresh_database(admin_url: &str) -> String {
    let name = format!("bench_{}", ulid::Ulid::generate().to_string().to_lowercase());
    let mut conn = sqlx::postgres::PgConnection::connect(admin_url).await.expect("connect");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).expect("URL with a database");
    format!("{base}/{name}")
}

/// Fills the log and the read model with `rules` rules and `assignments` role edges, as
/// appends would have left them (one event per fact, positions 1..=N), in bulk SQL.
async fn populate(db: &str, rules: i64, assignments: i64) {
    let store = endocarp::store::Store::connect(db, true).await.expect("connect");
    store.migrate().await.expect("migrate");
    store.close().await;
    if db.starts_with("sqlite:") {
        return populate_sqlite(db, rules, assignments).await;
    }
    let mut conn = sqlx::postgres::PgConnection::connect(db).await.expect("connect");
    let read = "http://www.w3.org/ns/odrl/2/read";
    let sql = format!(
        "INSERT INTO rules (policy, kind, assignee, action, target)
           SELECT 'policy-' || (g % 10), CASE WHEN g % 20 = 7 THEN 'prohibition' ELSE 'permission' END,
                  'role-' || lpad((g % 1000)::text, 4, '0'), '{read}', 'object-' || lpad(g::text, 9, '0')
           FROM generate_series(1, {rules}) g;
         INSERT INTO events (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content)
           SELECT g, 'bench-' || g, 'Policy', 'policy-' || (g % 10), (g / 10) + 1,
                  CASE WHEN g % 20 = 7 THEN 'Policy.ProhibitionSet' ELSE 'Policy.PermissionGranted' END,
                  'role-' || lpad((g % 1000)::text, 4, '0'),
                  CASE WHEN g % 20 = 7 THEN 'http://www.w3.org/ns/odrl/2/prohibition' ELSE 'http://www.w3.org/ns/odrl/2/permission' END,
                  'object-' || lpad(g::text, 9, '0'), '{{\"action\":\"{read}\"}}', '2026-11-23T00:00:00Z', '{{}}', 'bench-' || g
           FROM generate_series(1, {rules}) g;
         INSERT INTO role_edges (account, node, role, source)
           SELECT '', 'user-' || lpad((g / 10)::text, 7, '0') || '@example.org', 'role-' || lpad((g % 1000)::text, 4, '0'), 'role'
           FROM generate_series(1, {assignments}) g ON CONFLICT DO NOTHING;
         INSERT INTO events (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content)
           SELECT {rules} + g, 'bench-edge-' || g, 'Agent', 'user-' || lpad((g / 10)::text, 7, '0') || '@example.org', (g % 10) + 1,
                  'Agent.RoleAssigned', 'user-' || lpad((g / 10)::text, 7, '0') || '@example.org',
                  'http://www.w3.org/ns/org#hasRole', 'role-' || lpad((g % 1000)::text, 4, '0'), '{{}}',
                  '2026-11-23T00:00:00Z', '{{}}', 'bench-edge-' || g
           FROM generate_series(1, {assignments}) g;
         INSERT INTO roles (id) SELECT 'role-' || lpad(g::text, 4, '0') FROM generate_series(0, 999) g;
         ANALYZE;"
    );
    conn.execute(sqlx::AssertSqlSafe(sql)).await.expect("populate");
    conn.close().await.ok();
}

/// The same rows as [`populate`] on SQLite (a recursive CTE for `generate_series`).
async fn populate_sqlite(db: &str, rules: i64, assignments: i64) {
    let mut conn = sqlx::sqlite::SqliteConnection::connect(db).await.expect("connect");
    let read = "http://www.w3.org/ns/odrl/2/read";
    let series = |n: i64| format!("WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n})");
    let sql = format!(
        "BEGIN;
         {r} INSERT INTO rules (policy, kind, assignee, action, target)
           SELECT 'policy-' || (g % 10), CASE WHEN g % 20 = 7 THEN 'prohibition' ELSE 'permission' END,
                  'role-' || printf('%04d', g % 1000), '{read}', 'object-' || printf('%09d', g)
           FROM s;
         {r} INSERT INTO events (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content)
           SELECT g, 'bench-' || g, 'Policy', 'policy-' || (g % 10), (g / 10) + 1,
                  CASE WHEN g % 20 = 7 THEN 'Policy.ProhibitionSet' ELSE 'Policy.PermissionGranted' END,
                  'role-' || printf('%04d', g % 1000),
                  CASE WHEN g % 20 = 7 THEN 'http://www.w3.org/ns/odrl/2/prohibition' ELSE 'http://www.w3.org/ns/odrl/2/permission' END,
                  'object-' || printf('%09d', g), '{{\"action\":\"{read}\"}}', '2026-11-23T00:00:00Z', '{{}}', 'bench-' || g
           FROM s;
         {a} INSERT OR IGNORE INTO role_edges (account, node, role, source)
           SELECT '', 'user-' || printf('%07d', g / 10) || '@example.org', 'role-' || printf('%04d', g % 1000), 'role'
           FROM s;
         {a} INSERT INTO events (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content)
           SELECT {rules} + g, 'bench-edge-' || g, 'Agent', 'user-' || printf('%07d', g / 10) || '@example.org', (g % 10) + 1,
                  'Agent.RoleAssigned', 'user-' || printf('%07d', g / 10) || '@example.org',
                  'http://www.w3.org/ns/org#hasRole', 'role-' || printf('%04d', g % 1000), '{{}}',
                  '2026-11-23T00:00:00Z', '{{}}', 'bench-edge-' || g
           FROM s;
         {roles} INSERT INTO roles (id) SELECT 'role-' || printf('%04d', g - 1) FROM s;
         COMMIT;
         ANALYZE;",
        r = series(rules),
        a = series(assignments),
        roles = series(1000),
    );
    conn.execute(sqlx::AssertSqlSafe(sql)).await.expect("populate");
    conn.close().await.ok();
}

async fn write_to_visible(admin_url: &str, writes: usize) {
    let db = fresh_database(admin_url).await;
    let a = serve(&db, &[]);
    let b = serve(&db, &[]);
    let mut writer = PolicyAdminServiceClient::connect(a.admin.clone()).await.expect("A");
    // Warm-up write, then B's watch from the head.
    let first = writer
        .grant_permission(pb::RuleRequest {
            policy_id: "p".into(),
            assignee: "warm".into(),
            action: "odrl:read".into(),
            target: "x".into(),
            request_id: String::new(),
            constraint: String::new(),
            refinement: String::new(),
            duty: String::new(),
            remedy: String::new(),
        })
        .await
        .expect("write")
        .into_inner()
        .revision;
    let mut watch = EventServiceClient::connect(b.admin.clone()).await.expect("B");
    let mut stream = watch
        .watch_events(pb::WatchEventsRequest { after_revision: first })
        .await
        .expect("watch")
        .into_inner();
    let mut after_ack = Histogram::<u64>::new(3).expect("histogram");
    let mut after_send = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..writes {
        let t0 = Instant::now();
        let r = writer
            .grant_permission(pb::RuleRequest {
                policy_id: "p".into(),
                assignee: format!("user-{i}"),
                action: "odrl:read".into(),
                target: "x".into(),
                request_id: String::new(),
                constraint: String::new(),
                refinement: String::new(),
                duty: String::new(),
                remedy: String::new(),
            })
            .await
            .expect("write")
            .into_inner();
        let acked = Instant::now();
        loop {
            let msg = stream.message().await.expect("watch").expect("stream open");
            if msg.events.iter().any(|e| e.position >= r.revision) {
                break;
            }
        }
        after_ack.record(acked.elapsed().as_micros() as u64).ok();
        after_send.record(t0.elapsed().as_micros() as u64).ok();
    }
    let us = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
    println!(
        "| write-to-visible on B, from A's ack | {writes} | {} µs | {} µs | {} µs |",
        us(&after_ack, 0.5),
        us(&after_ack, 0.99),
        h_max(&after_ack)
    );
    println!(
        "| write-to-visible on B, from sending to A | {writes} | {} µs | {} µs | {} µs |",
        us(&after_send, 0.5),
        us(&after_send, 0.99),
        h_max(&after_send)
    );
}

fn h_max(h: &Histogram<u64>) -> u64 {
    h.max()
}

/// Start-up to SERVING on `db` (a fresh PostgreSQL database or SQLite file).
async fn startup(db: &str, rules: i64, assignments: i64) {
    let db = db.to_string();
    let t0 = Instant::now();
    populate(&db, rules, assignments).await;
    let populate_s = t0.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut rss = 0;
    let mut load = None;
    for _ in 0..3 {
        let r = serve(&db, &["--migrate", "false"]);
        times.push(r.started_in);
        load = Some(r.load);
        rss = rss_bytes(r.child.id());
        // The replica serves at the head.
        let mut c = PolicyAdminServiceClient::connect(r.admin.clone()).await.expect("admin");
        let s = c
            .get_status(pb::GetStatusRequest::default())
            .await
            .expect("status")
            .into_inner();
        assert_eq!(s.revision as i64, rules + assignments);
    }
    times.sort();
    let rows = (rules + assignments) as f64;
    let load = load.expect("three runs");
    println!(
        "| start-up to SERVING | {} rules + {} assignments | median {:.2} s (runs: {}; last: fetch {:.2} s, build {:.2} s) | RSS after {:.0} MiB ({:.0} B a row) | populated in {populate_s:.1} s |",
        rules,
        assignments,
        times[1].as_secs_f64(),
        times
            .iter()
            .map(|t| format!("{:.2}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        load.fetch.as_secs_f64(),
        load.build.as_secs_f64(),
        rss as f64 / (1024.0 * 1024.0),
        rss as f64 / rows
    );
}

#[tokio::main]
async fn main() {
    let Some(url) = std::env::var("ENDOCARP_TEST_PG_URL").ok().filter(|u| !u.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but there is no PostgreSQL for the replication benchmark"
        );
        println!("skipped: no PostgreSQL (run scripts/bench replication)");
        return;
    };
    let tiny = std::env::var_os("ENDOCARP_BENCH_TINY").is_some();
    println!("| what | n | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    write_to_visible(&url, if tiny { 20 } else { 1000 }).await;
    println!();
    // Rows in all (half rules, half assignments): 1M and 2M, or `ENDOCARP_BENCH_STARTUP_ROWS`.
    let sizes: Vec<i64> = if tiny {
        vec![2_000]
    } else {
        std::env::var("ENDOCARP_BENCH_STARTUP_ROWS")
            .ok()
            .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_else(|| vec![1_000_000, 2_000_000])
    };
    let dir = tempfile_dir();
    for rows in sizes {
        let (rules, assignments) = (rows / 2, rows - rows / 2);
        print!("PostgreSQL ");
        startup(&fresh_database(&url).await, rules, assignments).await;
        print!("SQLite ");
        let file = format!("sqlite://{}/startup-{rows}.db", dir.display());
        startup(&file, rules, assignments).await;
        let _ = std::fs::remove_file(file.trim_start_matches("sqlite://"));
    }
    // The databases' `-wal` and `-shm` files too: nothing of the run stays behind.
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scratch folder for the SQLite databases (the system's temporary folder).
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("endocarp-bench-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}
