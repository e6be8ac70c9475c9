//! Staleness: a replica that cannot confirm the log's head refuses checks once its data is
//! older than `max_staleness`, instead of risking a revoked grant; and a consistency wait
//! that cannot be met ends in DEADLINE_EXCEEDED, never a decision.

use crate::common;
use endocarp::app::{AppError, AppSettings, Consistency};
use endocarp::domain::{Action, Id};
use endocarp::engine::Check;
use std::time::{Duration, Instant};

fn check() -> Check {
    Check {
        agent: Id::parse("agent_id", "a").unwrap(),
        account: None,
        action: Action::parse("action", "odrl:read").unwrap(),
        target: Id::parse("target", "t").unwrap(),
        explain: false,
        explain_limit: usize::MAX,
        context: Default::default(),
    }
}

#[tokio::test]
async fn checks_fail_once_the_data_is_older_than_max_staleness() {
    let dir = tempfile::tempdir().unwrap();
    let settings = AppSettings {
        max_staleness: Duration::from_millis(300),
        ..AppSettings::default()
    };
    let (store, projector, app) = common::app_on_sqlite(dir.path(), settings).await;
    // Fresh: a decision.
    let d = app
        .check(&check(), Consistency::default(), None)
        .await
        .expect("fresh data decides");
    assert!(!d.allowed);
    // The storage goes away: the replica can no longer confirm the head.
    store.close().await;
    assert!(projector.catch_up().await.is_err());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(projector.data_age() > Duration::from_millis(300));
    match app.check(&check(), Consistency::default(), None).await {
        Err(e @ AppError::Stale { .. }) => {
            assert!(e.to_string().contains("max_staleness"), "{e}");
            assert_eq!(endocarp::grpc::status(e).code(), tonic::Code::Unavailable);
        }
        other => panic!("a stale replica must refuse, got {other:?}"),
    }
    // A token it cannot meet is not a decision either.
    let c = Consistency {
        at_least_revision: 0,
        fully_consistent: true,
    };
    // (the head cannot be read: storage unavailable, or stale; never a decision)
    match app.check(&check(), c, None).await {
        Err(e @ (AppError::Store(_) | AppError::Stale { .. })) => {
            assert_eq!(endocarp::grpc::status(e).code(), tonic::Code::Unavailable)
        }
        other => panic!("expected UNAVAILABLE, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unmet_revision_ends_in_deadline_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let settings = AppSettings {
        max_wait: Duration::from_millis(200),
        ..AppSettings::default()
    };
    let (_store, _projector, app) = common::app_on_sqlite(dir.path(), settings).await;
    let c = Consistency {
        at_least_revision: 5,
        fully_consistent: false,
    };
    // The server maximum bounds a wait whose request has no deadline…
    assert!(matches!(
        app.check(&check(), c, None).await,
        Err(AppError::ConsistencyTimeout { wanted: 5, applied: 0 })
    ));
    // …and a nearer request deadline wins.
    let deadline = Instant::now() + Duration::from_millis(50);
    match app.check(&check(), c, Some(deadline)).await {
        Err(e @ AppError::ConsistencyTimeout { .. }) => {
            assert_eq!(endocarp::grpc::status(e).code(), tonic::Code::DeadlineExceeded)
        }
        other => panic!("expected a consistency timeout, got {other:?}"),
    }
}
