//! The database goes away under running replicas and comes back: writes fail fast with
//! UNAVAILABLE, checks go on from memory while the data is younger than `max_staleness`
//! and fail with UNAVAILABLE after (health says NOT_SERVING), and everything recovers by
//! itself — including the LISTEN connection, so notifications wake replicas again.
//! `/readyz` on the operations port turns 503 while the data is stale, and back.
//! The only test in its binary (not a module of `tests/it`): it stops and starts the shared
//! throwaway cluster, which would fail every other PostgreSQL test running beside it.

#[path = "it/common/mod.rs"]
mod common;

use common::{Server, grpc_check};
use endocarp::grpc::pb;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

fn pg(action: &str) {
    let ctl = common::pg::pg_ctl().expect("ENDOCARP_TEST_PG_CTL");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{ctl} -m fast -w {action} > /dev/null"))
        .status()
        .expect("pg_ctl");
    assert!(status.success(), "pg_ctl {action}");
}

async fn until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn grant(assignee: &str) -> pb::RuleRequest {
    common::rule_request("p", assignee, "odrl:read", "doc", "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_survive_a_database_restart() {
    let Some(db) = common::pg::fresh_database().await else {
        return;
    };
    if common::pg::pg_ctl().is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but ENDOCARP_TEST_PG_CTL is not (use scripts/test)"
        );
        eprintln!("skipped: no control over the test cluster");
        return;
    }
    let a = Server::process(Some(&db), &["--max-staleness", "2s", "--poll-interval", "200ms"]);
    // B only ever learns of writes through notifications (its poll is far off).
    let b = Server::process(Some(&db), &["--max-staleness", "900s", "--poll-interval", "600s"]);
    let mut admin = a.admin().await;
    admin.grant_permission(grant("ann")).await.unwrap();
    let mut d = a.decisions().await;
    assert!(
        grpc_check(&mut d, "ann", None, "odrl:read", "doc", None)
            .await
            .unwrap()
            .allowed
    );

    pg("stop");
    // Writes fail fast with UNAVAILABLE (well inside the request's own deadline).
    let mut req = tonic::Request::new(grant("bob"));
    req.set_timeout(Duration::from_secs(20));
    let st = admin.grant_permission(req).await.unwrap_err();
    assert_eq!(st.code(), Code::Unavailable, "{st}");
    // Checks are answered from memory while the data is young enough…
    let young = grpc_check(&mut d, "ann", None, "odrl:read", "doc", None).await;
    // …(unless this machine was slow enough for the data to age past 2 s already)…
    if let Err(st) = &young {
        assert_eq!(st.code(), Code::Unavailable);
    } else {
        assert!(young.unwrap().allowed);
    }
    // …and refused once it is older than max_staleness; health says so.
    until("A reports NOT_SERVING", || async {
        common::health(&a.decision_url, "").await == ServingStatus::NotServing as i32
    })
    .await;
    let st = grpc_check(&mut d, "ann", None, "odrl:read", "doc", None)
        .await
        .unwrap_err();
    assert_eq!(st.code(), Code::Unavailable);
    assert!(st.message().contains("max_staleness"), "{}", st.message());
    let s = common::server_status(&a).await;
    assert!(s.stale && !s.storage_error.is_empty());
    // The operations port agrees: alive, not ready, and the metrics say why.
    assert_eq!(common::http_get(&a.ops_url, "/livez").0, 200);
    let (code, why) = common::http_get(&a.ops_url, "/readyz");
    assert_eq!(code, 503, "{why}");
    assert!(why.contains("stale"), "{why}");
    let (_, m) = common::http_get(&a.ops_url, "/metrics");
    assert_eq!(common::metric(&m, "endocarp_stale", &[]), 1.0);
    assert!(common::metric(&m, "endocarp_data_age_seconds", &[]) > 2.0);
    assert!(common::metric(&m, "endocarp_storage_errors_total", &[("operation", "tail")]) >= 1.0);

    pg("start");
    until("A serves again", || async {
        common::health(&a.decision_url, "").await == ServingStatus::Serving as i32
    })
    .await;
    until("A is ready again", || async {
        common::http_get(&a.ops_url, "/readyz").0 == 200
    })
    .await;
    assert!(
        grpc_check(&mut d, "ann", None, "odrl:read", "doc", None)
            .await
            .unwrap()
            .allowed
    );
    // Writes work again (the pools reconnect by themselves).
    let deadline = Instant::now() + Duration::from_secs(60);
    let w = loop {
        match admin.grant_permission(grant("bob")).await {
            Ok(r) => break r.into_inner().revision,
            Err(st) => {
                assert_eq!(st.code(), Code::Unavailable, "{st}");
                assert!(Instant::now() < deadline, "writes never recovered");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // B, which only listens, is woken again: its LISTEN connection came back.
    let mut bd = b.decisions().await;
    until("B sees the write through a notification", || {
        let mut bd = bd.clone();
        async move {
            grpc_check(&mut bd, "bob", None, "odrl:read", "doc", None)
                .await
                .map(|d| d.allowed)
                .unwrap_or(false)
        }
    })
    .await;
    let dec = grpc_check(&mut bd, "bob", None, "odrl:read", "doc", None)
        .await
        .unwrap();
    assert_eq!(dec.revision, w);
}
