//! TLS on both gRPC ports over real sockets: a plaintext client is refused, a client that
//! trusts the CA works (CLI included), and a certificate rotated on disk is served to new
//! connections without a restart.

use crate::common;

use endocarp::grpc::pb;
use endocarp::grpc::pb::authorization_service_client::AuthorizationServiceClient;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// A CA, and a server certificate for 127.0.0.1 it signed: (ca pem, cert pem, key pem).
fn pki() -> (String, String, String) {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let cert = params.signed_by(&key, &issuer).unwrap();
    (ca_cert.pem(), cert.pem(), key.serialize_pem())
}

async fn tls_channel(url: &str, ca: &str) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(url.to_string())
        .unwrap()
        .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))?
        .connect()
        .await
}

async fn works(url: &str, ca: &str) -> bool {
    let Ok(ch) = tls_channel(url, ca).await else {
        return false;
    };
    AuthorizationServiceClient::new(ch)
        .is_authorized(common::check_request("a", "odrl:read", "t"))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_both_ports_and_reloads_a_rotated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (ca1, cert1, key1) = pki();
    let (cert_path, key_path) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert_path, &cert1).unwrap();
    std::fs::write(&key_path, &key1).unwrap();
    std::fs::write(dir.path().join("ca1.pem"), &ca1).unwrap();
    let mut cmd = common::serve_command("127.0.0.1:0");
    cmd.args([
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ])
    .env("RUST_LOG", "warn")
    .current_dir(dir.path())
    .stderr(Stdio::null());
    let (mut child, addresses) = common::spawn_ready(cmd, dir.path());
    let (decision, admin) = (
        format!("https://{}", addresses.decision),
        format!("https://{}", addresses.admin),
    );

    // Plaintext is refused; TLS with the CA works, on both ports.
    let plain = AuthorizationServiceClient::connect(decision.replace("https", "http")).await;
    let plain_ok = match plain {
        Ok(mut c) => c
            .is_authorized(common::check_request("a", "odrl:read", "t"))
            .await
            .is_ok(),
        Err(_) => false,
    };
    assert!(!plain_ok, "a plaintext call must not get through");
    assert!(works(&decision, &ca1).await);
    let out = Command::new(env!("CARGO_BIN_EXE_endocarp"))
        .args(["permission", "grant", "p", "ann", "odrl:read", "doc", "--admin", &admin])
        .arg("--tls-ca")
        .arg(dir.path().join("ca1.pem"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Rotate to a certificate from another CA; new connections get it, no restart.
    let (ca2, cert2, key2) = pki();
    assert!(!works(&decision, &ca2).await, "not yet trusted");
    std::fs::write(&key_path, &key2).unwrap();
    std::fs::write(&cert_path, &cert2).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !works(&decision, &ca2).await {
        assert!(Instant::now() < deadline, "the rotated certificate was never served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!works(&decision, &ca1).await, "the old certificate is no longer served");
    let ch = tls_channel(&admin, &ca2)
        .await
        .expect("the admin port serves the new certificate too");
    let status = endocarp::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient::new(ch)
        .get_status(pb::GetStatusRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.revision, 1);
    let _ = child.kill();
    let _ = child.wait();
}

struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        pem,
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate for `dns` (and 127.0.0.1), optionally long expired: (cert, key).
fn leaf(ca: &Ca, dns: &str, expired: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![dns.to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    (params.signed_by(&key, &ca.issuer).unwrap().pem(), key.serialize_pem())
}

/// `endocarp serve` with a certificate from `server_ca`, client certificates from
/// `client_ca` accepted for the names on `allow` (`name:scopes:dns-name` lines), and
/// `extra` flags: its directory, process and addresses.
fn mtls_server(
    server_ca: &Ca,
    client_ca: &Ca,
    allow: &str,
    extra: &[&str],
) -> (tempfile::TempDir, std::process::Child, endocarp::startup::Addresses) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = leaf(server_ca, "localhost", false);
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("tls.crt"), cert).unwrap();
    std::fs::write(p("tls.key"), key).unwrap();
    std::fs::write(p("client-ca.pem"), &client_ca.pem).unwrap();
    std::fs::write(p("allow"), allow).unwrap();
    let mut cmd = common::serve_command("127.0.0.1:0");
    cmd.arg("--tls-cert")
        .arg(p("tls.crt"))
        .arg("--tls-key")
        .arg(p("tls.key"))
        .arg("--tls-client-ca")
        .arg(p("client-ca.pem"))
        .arg("--admin-client-certs-file")
        .arg(p("allow"))
        .args(extra)
        .env("RUST_LOG", "warn")
        .current_dir(dir.path())
        .stderr(Stdio::null());
    let (child, addresses) = common::spawn_ready(cmd, dir.path());
    (dir, child, addresses)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_on_the_allow_list_are_credentials() {
    use endocarp::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient;
    use tonic::Code;
    use tonic::transport::Identity;
    let (server_ca, client_ca, other_ca) = (ca(), ca(), ca());
    let allow = "# name:scopes:dns-name\ndeployer:read,write:ci.example.org\nauditor:read:audit.example.org\n";
    let (_dir, mut child, addresses) = mtls_server(&server_ca, &client_ca, allow, &[]);
    let admin = format!("https://{}", addresses.admin);

    let client = |identity: Option<(String, String)>| {
        let (admin, server_ca) = (admin.clone(), server_ca.pem.clone());
        async move {
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(server_ca));
            if let Some((cert, key)) = identity {
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            let ch = Channel::from_shared(admin)
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await
                .unwrap();
            PolicyAdminServiceClient::new(ch)
        }
    };
    let grant = |who: &str| common::rule_request("p", who, "odrl:read", "doc", "");
    let cases = [
        ("no certificate", None, Code::Unauthenticated),
        (
            "untrusted CA",
            Some(leaf(&other_ca, "ci.example.org", false)),
            Code::Unauthenticated,
        ),
        (
            "expired",
            Some(leaf(&client_ca, "ci.example.org", true)),
            Code::Unauthenticated,
        ),
        (
            "not on the allow-list",
            Some(leaf(&client_ca, "stranger.example.org", false)),
            Code::PermissionDenied,
        ),
        (
            "read scope only",
            Some(leaf(&client_ca, "audit.example.org", false)),
            Code::PermissionDenied,
        ),
    ];
    for (what, identity, code) in cases {
        let mut c = client(identity).await;
        let st = c.grant_permission(grant("mallory")).await.unwrap_err();
        assert_eq!(st.code(), code, "{what}: {st}");
    }
    let mut auditor = client(Some(leaf(&client_ca, "audit.example.org", false))).await;
    assert!(
        auditor
            .list_rules(pb::ListRulesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .rules
            .is_empty(),
        "nothing was written"
    );
    let mut deployer = client(Some(leaf(&client_ca, "ci.example.org", false))).await;
    deployer.grant_permission(grant("ann")).await.unwrap();
    let audit = auditor
        .list_audit_log(pb::ListAuditLogRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(audit.entries.len(), 1);
    assert_eq!(audit.entries[0].actor, "deployer");
    let _ = child.kill();
    let _ = child.wait();
}

/// The AuthZEN listener serves TLS with the gRPC ports' certificate, HTTP/1.1 or HTTP/2 by
/// ALPN, and takes allow-listed client certificates as credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authzen_serves_https_by_alpn_with_client_certificates() {
    use crate::common::http::Http;
    let (server_ca, client_ca) = (ca(), ca());
    let allow = "gateway:check:gw.example.org\nauditor:read:audit.example.org\n";
    let (_dir, mut child, addresses) = mtls_server(&server_ca, &client_ca, allow, &["--decision-auth", "true"]);
    let url = format!("https://{}", addresses.authzen.expect("the AuthZEN listener is on"));
    let body = br#"{"subject":{"type":"user","id":"ann"},"action":{"name":"read"},"resource":{"type":"doc","id":"1"}}"#;
    let (gw_cert, gw_key) = leaf(&client_ca, "gw.example.org", false);
    let (au_cert, au_key) = leaf(&client_ca, "audit.example.org", false);
    for alpn in [&["http/1.1"][..], &["h2"][..]] {
        let mut anonymous = Http::tls(&url, &server_ca.pem, alpn, None).await.unwrap();
        let want = if alpn[0] == "h2" {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        assert_eq!(anonymous.version, want);
        let r = anonymous
            .send("POST", "/access/v1/evaluation", &[], body.to_vec())
            .await;
        assert_eq!(r.status, 401, "{alpn:?}");
        let meta = anonymous.get("/.well-known/authzen-configuration").await;
        assert!(
            meta.json["policy_decision_point"]
                .as_str()
                .unwrap()
                .starts_with("https://"),
            "{}",
            meta.json
        );
        let mut auditor = Http::tls(&url, &server_ca.pem, alpn, Some((&au_cert, &au_key)))
            .await
            .unwrap();
        let r = auditor.send("POST", "/access/v1/evaluation", &[], body.to_vec()).await;
        assert_eq!(r.status, 403, "{alpn:?}: {}", r.json);
        let mut gateway = Http::tls(&url, &server_ca.pem, alpn, Some((&gw_cert, &gw_key)))
            .await
            .unwrap();
        let r = gateway.send("POST", "/access/v1/evaluation", &[], body.to_vec()).await;
        assert_eq!(r.status, 200, "{alpn:?}: {}", r.json);
        assert_eq!(r.json["decision"], false);
    }
    // Plain HTTP gets no answer from a TLS listener, and an untrusted server is refused.
    let mut plain = Http::h1(&url.replace("https", "http")).await;
    assert!(
        plain
            .try_send("POST", "/access/v1/evaluation", &[], body.to_vec())
            .await
            .is_err()
    );
    assert!(Http::tls(&url, &client_ca.pem, &["h2"], None).await.is_err());
    let _ = child.kill();
    let _ = child.wait();
}
