//! Socket options on accepted gRPC connections (`grpc::net`): `TCP_NODELAY` and TCP
//! keepalive, read back from the accepted sockets themselves.

use endocarp::grpc::net::{SocketOptions, incoming, tune};
use tokio::net::{TcpListener, TcpStream};

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

/// The limit the server at `addr` advertises in its HTTP/2 SETTINGS (read by a raw h2 client).
async fn advertised_stream_limit(addr: &str) -> usize {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (_client, mut conn) = h2::client::handshake(tcp).await.unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // Drive the connection until the server's SETTINGS frame has been applied.
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            std::future::poll_fn(|cx| std::pin::Pin::new(&mut conn).poll(cx)),
        )
        .await;
        let limit = conn.max_concurrent_send_streams();
        if limit != usize::MAX {
            return limit;
        }
        assert!(std::time::Instant::now() < deadline, "no SETTINGS from the server");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_limit_per_connection_is_the_configured_one() {
    let server = crate::common::Server::start(&["--max-concurrent-streams", "7"]);
    let decision = server.decision_url.trim_start_matches("http://").to_string();
    let admin = server.admin_url.trim_start_matches("http://").to_string();
    assert_eq!(advertised_stream_limit(&decision).await, 7);
    assert_eq!(advertised_stream_limit(&admin).await, 7);
    let default = crate::common::Server::start(&[]);
    let decision = default.decision_url.trim_start_matches("http://").to_string();
    assert_eq!(advertised_stream_limit(&decision).await, 256);
}
