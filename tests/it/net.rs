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
    assert!(
        server_side.get_ref().nodelay().unwrap(),
        "TCP_NODELAY on an accepted socket"
    );
    assert!(
        keepalive_on(server_side.get_ref()),
        "SO_KEEPALIVE on an accepted socket"
    );
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
        write_batch: 0,
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

/// `--request-timeout` bounds a call on the server: one that runs past it (here a
/// consistency wait for a revision nobody writes, with a longer `--max-wait` and no client
/// deadline) is answered CANCELLED naming the timeout, not left to the wait's own end
/// (DEADLINE_EXCEEDED); calls that finish at once are unaffected, before and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_runs_past_the_request_timeout_is_cancelled() {
    use endocarp::grpc::pb;
    let server = crate::common::Server::start(&["--request-timeout", "300ms", "--max-wait", "60s"]);
    let mut d = server.decisions().await;
    let check = |at_least_revision| pb::IsAuthorizedRequest {
        agent_id: "a".into(),
        action: "odrl:read".into(),
        target: "t".into(),
        consistency: Some(pb::Consistency {
            at_least_revision,
            fully_consistent: false,
        }),
        ..Default::default()
    };
    let allowed = |r: tonic::Response<pb::IsAuthorizedResponse>| r.into_inner().decision.unwrap().allowed;
    assert!(!allowed(d.is_authorized(check(0)).await.unwrap()));
    let st = d.is_authorized(check(10_000)).await.unwrap_err();
    assert_eq!(st.code(), tonic::Code::Cancelled, "{st}");
    assert!(st.message().contains("request timeout (300 ms)"), "{}", st.message());
    assert!(st.metadata().get("x-request-id").is_some(), "an error names its call");
    assert!(!allowed(d.is_authorized(check(0)).await.unwrap()));
}

/// Whether the server at `addr` sends an HTTP/2 PING within `within` on an idle connection
/// (a raw client: the preface, an empty SETTINGS, its SETTINGS acknowledged, then frames
/// read until a PING).
async fn server_pings_within(addr: &str, within: std::time::Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    let read = async {
        loop {
            let mut head = [0u8; 9];
            tcp.read_exact(&mut head).await?;
            let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
            let mut payload = vec![0; len];
            tcp.read_exact(&mut payload).await?;
            match (head[3], head[4] & 1) {
                (4, 0) => tcp.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).await?,
                (6, 0) => return Ok::<bool, std::io::Error>(true),
                _ => {}
            }
        }
    };
    match tokio::time::timeout(within, read).await {
        Ok(pinged) => pinged.unwrap(),
        Err(_) => false,
    }
}

/// HTTP/2 keepalive pings are off unless configured (TCP keepalive watches idle
/// connections by default; hyper's pings cost a clock read on every frame received), and
/// sent on idle connections, on both gRPC ports, when `--http2-keepalive-interval` is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_pings_are_sent_when_configured() {
    let short = std::time::Duration::from_secs(1);
    let server = crate::common::Server::start(&["--http2-keepalive-interval", "200ms"]);
    for url in [&server.decision_url, &server.admin_url] {
        let addr = url.trim_start_matches("http://");
        assert!(server_pings_within(addr, 10 * short).await, "{url}: no PING");
    }
    let default = crate::common::Server::start(&[]);
    let addr = default.decision_url.trim_start_matches("http://");
    assert!(!server_pings_within(addr, short).await, "a PING with keepalive off");
}

/// Many calls in flight on one connection, their responses written together while the
/// server is busy (`--write-batch`, `grpc::coalesce`): each call gets its own answer, none
/// is lost or held, with batching off, by default and at its widest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_on_one_connection_each_get_their_own_answer_however_writes_are_batched() {
    use endocarp::grpc::pb;
    for batch in ["0", "4", "1024"] {
        let server = crate::common::Server::start(&["--write-batch", batch]);
        let d = server.decisions().await;
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..300 {
            let mut d = d.clone();
            calls.spawn(async move {
                let action = format!("urn:act:{i}");
                let r = d
                    .is_authorized(pb::IsAuthorizedRequest {
                        agent_id: format!("agent-{i}"),
                        action: action.clone(),
                        target: format!("target-{i}"),
                        ..Default::default()
                    })
                    .await
                    .unwrap();
                (action, r.into_inner().decision.unwrap())
            });
        }
        let answers = tokio::time::timeout(std::time::Duration::from_secs(60), calls.join_all())
            .await
            .unwrap_or_else(|_| panic!("--write-batch {batch}: calls left unanswered"));
        assert_eq!(answers.len(), 300);
        for (action, decision) in answers {
            assert!(!decision.allowed, "--write-batch {batch}: nothing is granted");
            assert_eq!(
                decision.action, action,
                "--write-batch {batch}: an answer to another call"
            );
        }
    }
}
