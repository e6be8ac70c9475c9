//! The AuthZEN listener: accepts connections (with the gRPC ports' socket options, their
//! writes gathered while the worker is busy as theirs are: `grpc::coalesce`),
//! completes TLS handshakes when configured (ALPN `h2` and `http/1.1`, the same reloading
//! certificate), and serves HTTP/1.1 or HTTP/2 on each (hyper's automatic choice: prior
//! knowledge h2c on a plain port). Shutdown stops accepting, lets requests in flight
//! finish (bounded), and closes idle keep-alive connections.

use super::PeerCerts;
use crate::grpc::net::SocketOptions;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Longest a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest an HTTP/1.1 connection may wait for (or take to send) a request's head: also
/// its idle keep-alive timeout. Longer than the 60 s idle timeout of common load balancers,
/// so the balancer, not Endocarp, closes an idle pooled connection (no race on reuse).
const HEADER_TIMEOUT: Duration = Duration::from_secs(75);
/// Longest shutdown waits for requests in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// How the listener serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub socket: SocketOptions,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// HTTP/2: concurrent streams per connection, keepalive pings.
    pub max_concurrent_streams: u32,
    pub keepalive_interval: Option<Duration>,
    pub keepalive_timeout: Duration,
}

/// The TLS configuration of the gRPC ports, offering HTTP/1.1 too.
pub fn tls_config(grpc: &Arc<rustls::ServerConfig>) -> Arc<rustls::ServerConfig> {
    let mut config = (**grpc).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// Serves `router` on `listener` until `stop` fires, then drains.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    options: ServeOptions,
    stop: CancellationToken,
    tracker: TaskTracker,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(options.max_concurrent_streams)
        .keep_alive_interval(options.keepalive_interval)
        .keep_alive_timeout(options.keepalive_timeout);
    let acceptor = options.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    while let Some((tcp, peer)) = crate::grpc::net::accept(&listener, options.socket, &stop).await {
        let (builder, router, acceptor, watcher) =
            (builder.clone(), router.clone(), acceptor.clone(), graceful.watcher());
        tracker.spawn(async move {
            let Some(acceptor) = acceptor else {
                let svc = service(router, PeerCerts::default());
                let conn = builder.serve_connection(TokioIo::new(tcp), svc).into_owned();
                if let Err(e) = watcher.watch(conn).await {
                    tracing::debug!(%peer, error = %e, "authzen: connection ended with an error");
                }
                return;
            };
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let certs = tls.get_ref().1.peer_certificates().map(|c| Arc::new(c.to_vec()));
            let svc = service(router, PeerCerts(certs));
            let conn = builder.serve_connection(TokioIo::new(tls), svc).into_owned();
            if let Err(e) = watcher.watch(conn).await {
                tracing::debug!(%peer, error = %e, "authzen: connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await.is_err() {
        tracing::warn!("authzen: requests still in flight after the drain timeout; closing them");
    }
}

/// The router as a hyper service, each request carrying its connection's client
/// certificates.
fn service(router: axum::Router, certs: PeerCerts) -> hyper_util::service::TowerToHyperService<AddCerts> {
    hyper_util::service::TowerToHyperService::new(AddCerts { router, certs })
}

#[derive(Clone)]
struct AddCerts {
    router: axum::Router,
    certs: PeerCerts,
}

impl tower::Service<http::Request<hyper::body::Incoming>> for AddCerts {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = <axum::Router as tower::Service<http::Request<axum::body::Body>>>::Future;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<hyper::body::Incoming>) -> Self::Future {
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(self.certs.clone());
        tower::Service::call(&mut self.router, req)
    }
}
