//! Socket options for accepted gRPC connections, as tonic's own `TcpIncoming` sets them,
//! on the plain and the TLS listeners alike: `TCP_NODELAY` (without it Nagle's algorithm
//! meets the peer's delayed ACKs and a small response can wait ~40 ms) and TCP keepalive
//! (a peer that vanished is noticed and its connection closed).

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
}

impl Default for SocketOptions {
    fn default() -> Self {
        SocketOptions {
            nodelay: true,
            keepalive: Some(Duration::from_secs(60)),
        }
    }
}

/// A plain listener's connections with `options` applied to each (tonic's `TcpIncoming`).
pub fn incoming(listener: TcpListener, options: SocketOptions) -> TcpIncoming {
    TcpIncoming::from(listener)
        .with_nodelay(Some(options.nodelay))
        .with_keepalive(options.keepalive)
}

/// Applies `options` to one accepted connection (the TLS listener accepts its own).
pub fn tune(stream: &TcpStream, options: SocketOptions) -> std::io::Result<()> {
    stream.set_nodelay(options.nodelay)?;
    if let Some(idle) = options.keepalive {
        socket2::SockRef::from(stream).set_tcp_keepalive(&socket2::TcpKeepalive::new().with_time(idle))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    fn keepalive_on(stream: &TcpStream) -> bool {
        socket2::SockRef::from(stream).keepalive().expect("SO_KEEPALIVE")
    }

    #[tokio::test]
    async fn accepted_connections_get_nodelay_and_keepalive() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = incoming(listener, SocketOptions::default());
        let _client = TcpStream::connect(addr).await.unwrap();
        let server_side = accepted.next().await.unwrap().unwrap();
        assert!(server_side.nodelay().unwrap(), "TCP_NODELAY on an accepted socket");
        assert!(keepalive_on(&server_side), "SO_KEEPALIVE on an accepted socket");
    }

    #[tokio::test]
    async fn tune_sets_the_same_options_on_a_tls_listener_socket() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        assert!(!stream.nodelay().unwrap(), "off by default: the option is ours to set");
        tune(&stream, SocketOptions::default()).unwrap();
        assert!(stream.nodelay().unwrap());
        assert!(keepalive_on(&stream));
        let off = SocketOptions {
            nodelay: false,
            keepalive: None,
        };
        tune(&stream, off).unwrap();
        assert!(!stream.nodelay().unwrap());
    }
}
