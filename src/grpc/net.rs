//! Socket options for accepted gRPC connections, as tonic's own `TcpIncoming` sets them,
//! on the plain and the TLS listeners alike: `TCP_NODELAY` (without it Nagle's algorithm
//! meets the peer's delayed ACKs and a small response can wait ~40 ms) and TCP keepalive
//! (a peer that vanished is noticed and its connection closed).

use super::coalesce::Coalesced;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::server::TcpIncoming;

/// What every accepted connection gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// `TCP_NODELAY`: send small frames at once.
    pub nodelay: bool,
    /// Idle time before TCP keepalive probes; `None` leaves keepalive off.
    pub keepalive: Option<Duration>,
    /// How many more flushes a busy connection holds back to write them together
    /// ([`super::coalesce`]; 0: each written at once).
    pub write_batch: u32,
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            nodelay: true,
            keepalive: Some(Duration::from_secs(60)),
            write_batch: super::coalesce::DEFAULT_HOLD,
        }
    }
}

/// A plain listener's connections with `options` applied to each (tonic's `TcpIncoming`),
/// their writes gathered while the worker is busy ([`Coalesced`]).
pub fn incoming(
    listener: TcpListener,
    options: SocketOptions,
) -> impl tokio_stream::Stream<Item = std::io::Result<Coalesced<TcpStream>>> {
    use tokio_stream::StreamExt;
    TcpIncoming::from(listener)
        .with_nodelay(Some(options.nodelay))
        .with_keepalive(options.keepalive)
        .map(move |r| r.map(|tcp| Coalesced::new(tcp, options.write_batch)))
}

/// Applies `options` to one accepted connection (the TLS listener accepts its own).
pub fn tune(stream: &TcpStream, options: SocketOptions) -> std::io::Result<()> {
    stream.set_nodelay(options.nodelay)?;
    if let Some(idle) = options.keepalive {
        socket2::SockRef::from(stream).set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?;
    }
    Ok(())
}

/// The next connection on `listener` with `options` applied (its writes gathered,
/// [`Coalesced`]), or `None` once `stop` fires.
/// A failed accept (out of descriptors, a reset before accept) is logged and retried after
/// a short pause rather than ending the listener.
pub async fn accept(
    listener: &TcpListener,
    options: SocketOptions,
    stop: &tokio_util::sync::CancellationToken,
) -> Option<(Coalesced<TcpStream>, std::net::SocketAddr)> {
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => return None,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((tcp, peer)) => {
                if let Err(e) = tune(&tcp, options) {
                    tracing::debug!(%peer, error = %e, "cannot set socket options");
                }
                return Some((Coalesced::new(tcp, options.write_batch), peer));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
