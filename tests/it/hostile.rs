//! Hostile input against a live server: thousands of generated malformed requests get the
//! right error status, the server stays up, its memory stays bounded and the log is
//! unchanged. And the limits: requests in flight, admin writes per caller per second.

use crate::common;

use common::{Server, grpc_check};
use endocarp::grpc::pb;
use std::time::Duration;
use tonic::Code;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Field values that break at least one rule.
fn bad_value(rng: &mut Rng) -> String {
    match rng.next() % 6 {
        0 => String::new(),
        1 => "*".into(),
        2 => "x".repeat(513 + (rng.next() % 2000) as usize),
        3 => format!("ctl\u{0}{}", rng.next()),
        4 => "line\nbreak".into(),
        _ => format!("tab\t{}", rng.next()),
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_malformed_requests_change_nothing() {
    let server = Server::process(None, &["--max-closure", "50", "--admin-writes-per-second", "1000000"]);
    let mut events = server.events().await;
    // A baseline, and a role chain longer than the closure limit.
    let mut chain = vec![pb::TripleEvent {
        aggregate_id: "deep".into(),
        event_type: "Agent.RoleAssigned".into(),
        subject: "deep".into(),
        predicate: "org:hasRole".into(),
        object: "c0".into(),
        ..Default::default()
    }];
    for i in 0..80 {
        let (r, q) = (format!("c{i}"), format!("c{}", (i + 1) % 80));
        chain.push(pb::TripleEvent {
            aggregate_id: r.clone(),
            event_type: "Role.RoleAssigned".into(),
            subject: r,
            predicate: "org:hasRole".into(),
            object: q,
            ..Default::default()
        });
    }
    let head = events
        .append_events(pb::AppendEventsRequest { events: chain })
        .await
        .unwrap()
        .into_inner()
        .revision;
    let mut d = server.decisions().await;
    let mut admin = server.admin().await;
    let pid = server.pid();
    let rss_before = rss_kb(pid);
    let mut rng = Rng(7);
    let types = [
        "Agent.RoleAssigned",
        "Policy.PermissionGranted",
        "Account.MemberAdded",
        "Agent.Teleported",
        "",
        "Session.",
        "Role.RoleAssigned",
    ];
    let predicates = [
        "org:hasRole",
        "odrl:permission",
        "nope:x",
        "",
        "http://",
        "org:hadMember",
    ];
    let actions = [
        "odrl:lease",
        "read",
        "odrl:Read",
        "",
        "ftp://x/y",
        "https://www.w3.org/ns/odrl/2/read",
        "urn:",
    ];
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..3000u64 {
        let st = match i % 6 {
            0 => grpc_check(&mut d, &bad_value(&mut rng), None, "odrl:read", "t", None)
                .await
                .unwrap_err(),
            1 => grpc_check(
                &mut d,
                "a",
                Some(&bad_value(&mut rng)),
                rng.pick(&actions),
                &bad_value(&mut rng),
                None,
            )
            .await
            .unwrap_err(),
            2 => {
                let ev = pb::TripleEvent {
                    id: if i % 4 == 0 { bad_value(&mut rng) } else { String::new() },
                    aggregate_id: bad_value(&mut rng),
                    event_type: rng.pick(&types).into(),
                    subject: bad_value(&mut rng),
                    predicate: rng.pick(&predicates).into(),
                    object: bad_value(&mut rng),
                    attributes: [("action".to_string(), rng.pick(&actions).to_string())].into(),
                    ..Default::default()
                };
                events
                    .append_events(pb::AppendEventsRequest { events: vec![ev] })
                    .await
                    .unwrap_err()
            }
            3 => admin
                .grant_permission(common::rule_request(
                    &bad_value(&mut rng),
                    "a",
                    rng.pick(&actions),
                    "t",
                    "",
                ))
                .await
                .unwrap_err(),
            4 => grpc_check(&mut d, "deep", None, "odrl:read", "t", None)
                .await
                .unwrap_err(),
            _ => {
                let many = (0..1001).map(|_| pb::TripleEvent::default()).collect();
                events
                    .append_events(pb::AppendEventsRequest { events: many })
                    .await
                    .unwrap_err()
            }
        };
        let expected = if i % 6 == 4 {
            Code::ResourceExhausted
        } else {
            Code::InvalidArgument
        };
        assert_eq!(st.code(), expected, "request {i}: {}", st.message());
        *counts.entry(format!("{:?}", st.code())).or_default() += 1;
    }
    // An oversized message is refused by the transport.
    let huge = pb::TripleEvent {
        attributes: [("action".to_string(), "x".repeat(5 << 20))].into(),
        ..Default::default()
    };
    let st = events
        .append_events(pb::AppendEventsRequest { events: vec![huge] })
        .await
        .unwrap_err();
    assert!(
        matches!(
            st.code(),
            Code::ResourceExhausted | Code::InvalidArgument | Code::OutOfRange
        ),
        "{st}"
    );
    // Still up, log unchanged, memory bounded.
    let after = events
        .read_events(pb::ReadEventsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .head_revision;
    assert_eq!(after, head);
    assert!(
        !grpc_check(&mut d, "a", None, "odrl:read", "t", None)
            .await
            .unwrap()
            .allowed
    );
    let rss_after = rss_kb(pid);
    assert!(
        rss_after < rss_before + 200 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
    println!("3000 malformed requests: {counts:?}; RSS {rss_before} kB → {rss_after} kB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_writes_per_caller_are_rate_limited() {
    let server = Server::start(&["--admin-writes-per-second", "5"]);
    let mut admin = server.admin().await;
    let (mut ok, mut limited) = (0, 0);
    for i in 0..30 {
        let r = admin
            .grant_permission(common::rule_request("p", &format!("u{i}"), "odrl:read", "t", ""))
            .await;
        match r {
            Ok(_) => ok += 1,
            Err(st) => {
                assert_eq!(st.code(), Code::ResourceExhausted, "{st}");
                limited += 1;
            }
        }
    }
    assert!(limited > 0 && ok >= 5, "ok {ok}, limited {limited}");
    let head = common::log_head(&server).await;
    assert_eq!(head, ok, "refused writes wrote nothing");
    // Reads are not writes.
    for _ in 0..20 {
        admin.list_rules(pb::ListRulesRequest::default()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_in_flight_are_bounded() {
    let server = Server::start(&["--max-in-flight", "1", "--max-wait", "3s"]);
    let mut waiting = server.decisions().await;
    // Holds the only slot: a consistency wait that cannot be met.
    let slow = tokio::spawn(async move {
        grpc_check(
            &mut waiting,
            "a",
            None,
            "odrl:read",
            "t",
            Some(pb::Consistency {
                at_least_revision: 99,
                fully_consistent: false,
            }),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut d = server.decisions().await;
    let st = grpc_check(&mut d, "a", None, "odrl:read", "t", None).await.unwrap_err();
    assert_eq!(st.code(), Code::ResourceExhausted);
    assert!(st.message().contains("in flight"), "{}", st.message());
    assert_eq!(slow.await.unwrap().unwrap_err().code(), Code::DeadlineExceeded);
    // The slot is free again.
    assert!(
        !grpc_check(&mut d, "a", None, "odrl:read", "t", None)
            .await
            .unwrap()
            .allowed
    );
}

/// Sends raw bytes as a gRPC request body and returns the grpc-status the server answers.
async fn raw_call(addr: &str, path: &str, body: Vec<u8>) -> Option<String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let (client, conn) = h2::client::handshake(tcp).await.ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut client = client.ready().await.ok()?;
    let req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .ok()?;
    let (response, mut stream) = client.send_request(req, false).ok()?;
    stream.send_data(bytes::Bytes::from(body), true).ok()?;
    let response = tokio::time::timeout(Duration::from_secs(10), response)
        .await
        .ok()?
        .ok()?;
    if let Some(s) = response.headers().get("grpc-status") {
        return s.to_str().ok().map(str::to_string);
    }
    let mut body = response.into_body();
    while let Some(chunk) = body.data().await {
        if chunk.is_err() {
            break;
        }
    }
    let trailers = body.trailers().await.ok()??;
    trailers
        .get("grpc-status")
        .and_then(|s| s.to_str().ok())
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_and_garbled_frames_are_refused() {
    let server = Server::start(&[]);
    let decision = server.decision_url.trim_start_matches("http://").to_string();
    let admin = server.admin_url.trim_start_matches("http://").to_string();
    let mut rng = Rng(11);
    let mut statuses = std::collections::BTreeMap::<String, usize>::new();
    for i in 0..300 {
        let (addr, path) = if i % 2 == 0 {
            (&decision, "/endocarp.v1.AuthorizationService/IsAuthorized")
        } else {
            (&admin, "/endocarp.v1.EventService/AppendEvents")
        };
        let junk: Vec<u8> = (0..(rng.next() % 64)).map(|_| rng.next() as u8).collect();
        let body = match i % 3 {
            // A frame that promises more bytes than it carries.
            0 => [vec![0, 0, 0, 1, 0], junk].concat(),
            // A well-framed message that is not protobuf.
            1 => [vec![0], (junk.len() as u32).to_be_bytes().to_vec(), junk].concat(),
            // Not even a frame header.
            _ => junk.into_iter().take(3).collect(),
        };
        let status = raw_call(addr, path, body).await.unwrap_or_else(|| "no answer".into());
        assert_ne!(status, "0", "request {i} must not succeed");
        *statuses.entry(status).or_default() += 1;
    }
    // Still up, nothing written.
    let mut d = server.decisions().await;
    assert!(
        !grpc_check(&mut d, "a", None, "odrl:read", "t", None)
            .await
            .unwrap()
            .allowed
    );
    let head = common::log_head(&server).await;
    assert_eq!(head, 0);
    println!("300 truncated or garbled frames: grpc-status counts {statuses:?}");
}
