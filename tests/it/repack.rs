//! Repacks: the index built again in bulk from the read model and published in place of the
//! one writes built, at the same revision with the same answers; started by the poller once
//! enough was written and writes pause; never published when it disagrees with the current
//! index. (The property test `properties::replay_equals_restart` repacks on random
//! histories, with writes after the build and a read model ahead of the replica.)

use crate::common::{self, Server, http_get, metric};
use endocarp::domain::NewEvent;
use endocarp::domain::event::Triple;
use endocarp::store::StoreError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

use common::history::{permission, prohibition, t};

const CHECKS: &[(&str, &str, &str)] = &[
    ("ann", "odrl:read", "doc-1"),
    ("ann", "odrl:modify", "doc-1"),
    ("bob", "odrl:read", "doc-2"),
    ("bob", "odrl:read", "doc-3"),
    ("cy", "odrl:read", "doc-1"),
    ("cy", "odrl:delete", "doc-4"),
    ("dan", "odrl:read", "doc-9"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_poller_repacks_once_enough_is_written_and_writes_pause_and_every_answer_stays() {
    let s = Server::process(None, &["--repack-after-writes", "20"]);
    let mut c = s.client().await;
    for i in 0..8 {
        c.grant("p", "role:reader", "odrl:read", &format!("doc-{i}")).await;
    }
    c.grant("p", "role:editor", "odrl:modify", "doc-1").await;
    c.grant("p", "role:editor", "odrl:delete", "*").await;
    c.prohibit("p", "role:banned", "odrl:read", "doc-1").await;
    for agent in ["ann", "bob", "cy", "dan"] {
        c.assign(agent, "role:reader").await;
    }
    c.assign("ann", "role:editor").await;
    c.assign("cy", "role:editor").await;
    c.assign("cy", "role:banned").await;
    c.assign("dan", "role:editor").await;
    // Revocations written one by one must stay revoked in the rebuilt index.
    c.revoke("dan", "role:reader").await;
    c.revoke("dan", "role:editor").await;
    for i in 0..6 {
        c.grant("q", &format!("agent-{i}"), "odrl:use", "tool").await;
    }
    let revision = c.head().await;
    assert!(revision >= 27, "{revision}");
    let mut before = Vec::new();
    for (agent, action, target) in CHECKS {
        before.push(c.check(agent, action, target).await.expect("check"));
    }
    assert!(before[0].allowed && before[1].allowed && !before[4].allowed && !before[6].allowed);
    let status = common::server_status(&s).await;
    assert_eq!(
        (status.index_built_revision, status.repacks),
        (0, 0),
        "built at start-up on the empty log"
    );
    let scrape = || http_get(&s.ops_url, "/metrics").1;
    assert_eq!(
        metric(&scrape(), "endocarp_index_written_since_build", &[]),
        revision as f64
    );

    // Writes paused: the poller repacks within QUIET (2 s) and a poll or two.
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = scrape();
        if metric(&text, "endocarp_index_repacks_total", &[]) > 0.0 {
            break text;
        }
        assert!(Instant::now() < deadline, "no repack within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(metric(&text, "endocarp_index_repacks_total", &[]), 1.0);
    assert_eq!(metric(&text, "endocarp_index_written_since_build", &[]), 0.0);
    assert_eq!(metric(&text, "endocarp_storage_errors_total", &[]), 0.0);
    assert_eq!(metric(&text, "endocarp_applied_revision", &[]), revision as f64);
    let status = common::server_status(&s).await;
    assert_eq!((status.index_built_revision, status.repacks), (revision, 1));
    assert_eq!(status.revision, revision);
    // Every answer is the same, explanation and revision included.
    for ((agent, action, target), want) in CHECKS.iter().zip(&before) {
        assert_eq!(
            &c.check(agent, action, target).await.expect("check"),
            want,
            "{agent} {action} {target}"
        );
    }

    // The repacked index takes writes: a revocation after it is honoured at once.
    let w = c.revoke("ann", "role:editor").await;
    assert_eq!(w.revision, revision + 1);
    let after = c.check("ann", "odrl:modify", "doc-1").await.expect("check");
    assert!(!after.allowed, "{after:?}");
    assert_eq!(after.revision, revision + 1);
    // One write is far below the threshold: no second repack.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let text = scrape();
    assert_eq!(metric(&text, "endocarp_index_repacks_total", &[]), 1.0);
    assert_eq!(metric(&text, "endocarp_index_written_since_build", &[]), 1.0);
}

fn event(id: &str, triple: &Triple) -> NewEvent {
    NewEvent::parse(id, triple, None, None, BTreeMap::new()).expect("a valid event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_index_that_disagrees_with_the_current_one_is_not_published() {
    let dir = tempfile::tempdir().unwrap();
    let (store, projector, _app) = common::app_on_sqlite(dir.path(), Default::default()).await;
    let events = vec![
        event("e1", &permission(true, "p", "role:r", "odrl:read", "doc")),
        event("e2", &prohibition(true, "p", "role:x", "odrl:read", "doc")),
        event(
            "e3",
            &t("Agent.RoleAssigned", "ann", "ann", "org:hasRole", "role:r", &[]),
        ),
    ];
    store.append(events, None).await.expect("append");
    assert_eq!(projector.catch_up().await.expect("catch up"), 3);
    let current = projector.snapshot();

    // The read model loses a prohibition behind the log's back.
    sqlx::any::install_default_drivers();
    let url = format!("sqlite://{}", dir.path().join("app.db").display());
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    let gone = sqlx::query("DELETE FROM rules WHERE kind = 'prohibition'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(gone.rows_affected(), 1);
    pool.close().await;

    let err = projector
        .repack(&CancellationToken::new())
        .await
        .expect_err("a rebuilt index with a rule fewer");
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("endocarp verify")),
        "{err}"
    );
    assert!(Arc::ptr_eq(&current, &projector.snapshot()), "the current index stays");
    assert_eq!(projector.repacks(), 0);
    assert_eq!(projector.built().revision, 0, "built at start-up, on the empty log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repack_stopped_by_shutdown_publishes_nothing_and_is_no_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (store, projector, _app) = common::app_on_sqlite(dir.path(), Default::default()).await;
    let events = vec![
        event("e1", &permission(true, "p", "role:r", "odrl:read", "doc")),
        event(
            "e2",
            &t("Agent.RoleAssigned", "ann", "ann", "org:hasRole", "role:r", &[]),
        ),
    ];
    store.append(events, None).await.expect("append");
    assert_eq!(projector.catch_up().await.expect("catch up"), 2);
    let current = projector.snapshot();

    let stop = CancellationToken::new();
    stop.cancel();
    assert!(projector.repack(&stop).await.expect("no failure").is_none());
    assert!(projector.rebuild(&stop).await.expect("no failure").is_none());
    assert!(Arc::ptr_eq(&current, &projector.snapshot()), "nothing published");
    assert_eq!(projector.repacks(), 0);
    assert_eq!(projector.built().revision, 0, "still the start-up's build");

    // The same projector repacks when not stopped.
    let r = projector
        .repack(&CancellationToken::new())
        .await
        .expect("repack")
        .expect("not stopped");
    assert_eq!((r.revision, r.built_at), (2, 2));
    assert_eq!(projector.repacks(), 1);
}
