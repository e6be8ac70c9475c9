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
