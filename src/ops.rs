//! The operations port: plain HTTP/1.1, separate from the gRPC ports, so Kubernetes probes
//! and Prometheus need neither a token nor a client certificate (docs/CONTRACT.md §6).
//!
//! - `GET /livez`: 200 while the process runs (it answers during the index load too).
//! - `GET /readyz`: 200 once the index is loaded and its data is no older than
//!   `max_staleness`; 503 with the reason while loading, stale or shutting down.
//! - `GET /metrics`: Prometheus text. Gauges that describe the replica (revision, lag,
//!   staleness, index size, shadow counts) are refreshed at scrape time.
//!
//! The port exposes no data beyond counts and revisions and accepts no input but the path.

use crate::app::App;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use std::convert::Infallible;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 64;
/// Longest a connection may take to send its request head / to live at all.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Longest a scrape waits for the log head (a down database must not hang the scrape).
const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// What the operations port reports on.
pub struct Ops {
    metrics: PrometheusHandle,
    /// Set once the index is loaded.
    app: OnceLock<Arc<App>>,
    shutdown: CancellationToken,
}

impl Ops {
    pub fn new(metrics: PrometheusHandle, shutdown: CancellationToken) -> Arc<Ops> {
        Arc::new(Ops {
            metrics,
            app: OnceLock::new(),
            shutdown,
        })
    }

    /// The index is loaded: readiness now follows the data's age.
    pub fn loaded(&self, app: Arc<App>) {
        let _ = self.app.set(app);
    }

    /// Why this replica is not ready, or `None` when it is.
    pub fn not_ready(&self) -> Option<String> {
        if self.shutdown.is_cancelled() {
            return Some("shutting down".into());
        }
        let Some(app) = self.app.get() else {
            return Some("loading the index".into());
        };
        let age = app.projector().data_age();
        let limit = app.settings().max_staleness;
        (age > limit).then(|| {
            format!(
                "stale: data is {} ms old, over max_staleness ({} ms)",
                age.as_millis(),
                limit.as_millis()
            )
        })
    }

    async fn respond(&self, req: Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return text(StatusCode::METHOD_NOT_ALLOWED, "use GET\n".into());
        }
        match req.uri().path() {
            "/livez" => text(StatusCode::OK, "ok\n".into()),
            "/readyz" => match self.not_ready() {
                None => text(StatusCode::OK, "ready\n".into()),
                Some(why) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")),
            },
            "/metrics" => {
                self.refresh().await;
                let mut r = text(StatusCode::OK, crate::metrics::render(&self.metrics));
                r.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /livez, /readyz or /metrics\n".into(),
            ),
        }
    }

    /// Sets the replica gauges from the live state (and the log head from the database).
    async fn refresh(&self) {
        use crate::metrics as m;
        let Some(app) = self.app.get() else { return };
        let projector = app.projector();
        let applied = projector.applied();
        let age = projector.data_age();
        let limit = app.settings().max_staleness;
        let snapshot = projector.snapshot();
        let stats = snapshot.index.stats();
        metrics::gauge!(m::APPLIED_REVISION).set(applied as f64);
        metrics::gauge!(m::DATA_AGE).set(age.as_secs_f64());
        metrics::gauge!(m::MAX_STALENESS).set(limit.as_secs_f64());
        metrics::gauge!(m::STALE).set(if age > limit { 1.0 } else { 0.0 });
        metrics::gauge!(m::INDEX_RULES).set(stats.rules as f64);
        metrics::gauge!(m::INDEX_ASSIGNMENTS)
            .set((stats.global_edges + stats.account_edges + stats.memberships) as f64);
        metrics::gauge!(m::INDEX_ROLES).set(stats.roles as f64);
        metrics::gauge!(m::INDEX_SUMMARIZED).set(if snapshot.index.summarized() { 1.0 } else { 0.0 });
        drop(snapshot);
        metrics::gauge!(m::INDEX_WRITTEN).set(applied.saturating_sub(projector.built().revision) as f64);
        metrics::counter!(m::INDEX_REPACKS).absolute(projector.repacks());
        metrics::gauge!(m::LOOKUP_SNAPSHOTS).set(app.kept_snapshots() as f64);
        let (agree, disagree) = app.shadow_counts();
        metrics::counter!(m::SHADOW_AGREEMENTS).absolute(agree);
        metrics::counter!(m::SHADOW_DISAGREEMENTS).absolute(disagree);
        metrics::counter!(m::IGNORED_EVENTS, "kind" => "duty").absolute(projector.ignored_duties());
        match tokio::time::timeout(HEAD_TIMEOUT, app.head()).await {
            Ok(Ok(head)) => {
                metrics::gauge!(m::HEAD_REVISION).set(head as f64);
                let behind = head.saturating_sub(applied);
                metrics::gauge!(m::LAG_EVENTS).set(behind as f64);
                // Every event committed more than `data_age` ago is applied, so the data
                // age bounds how long ago the oldest unapplied event was committed.
                metrics::gauge!(m::LAG_SECONDS).set(if behind == 0 { 0.0 } else { age.as_secs_f64() });
            }
            // A failed read was counted where it was observed (App::head); a read that
            // did not finish in time is counted here.
            Ok(Err(_)) => {}
            Err(_) => m::storage_error("head"),
        }
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}

/// Serves the operations port until `stop` fires.
pub async fn serve(
    listener: TcpListener,
    ops: Arc<Ops>,
    stop: CancellationToken,
    tracker: tokio_util::task::TaskTracker,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let stream = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::debug!(error = %e, "operations port: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (ops, stop) = (ops.clone(), stop.clone());
        tracker.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let ops = ops.clone();
                async move { Ok::<_, Infallible>(ops.respond(req).await) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(16 * 1024)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            // A kept-alive probe connection must not hold up shutdown.
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = tokio::time::timeout(CONNECTION_LIFETIME, conn) => {}
            }
            drop(permit);
        });
    }
}
