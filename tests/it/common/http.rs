//! A small HTTP client for the AuthZEN tests: one keep-alive connection, HTTP/1.1 or
//! HTTP/2 (prior knowledge on plain TCP, ALPN over TLS), raw bodies in and out.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::sync::Arc;

enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

/// One connection to an AuthZEN listener.
pub struct Http {
    sender: Sender,
    host: String,
    /// The protocol the connection speaks.
    pub version: http::Version,
}

/// A response: status, headers, the body, and the body as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

fn host_of(base: &str) -> String {
    base.trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string()
}

impl Http {
    /// HTTP/1.1 to `base` (`http://host:port`).
    pub async fn h1(base: &str) -> Http {
        let host = host_of(base);
        let tcp = tokio::net::TcpStream::connect(&host).await.expect("connect");
        tcp.set_nodelay(true).unwrap();
        let (sender, conn) = http1::handshake(TokioIo::new(tcp)).await.expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        Http {
            sender: Sender::H1(sender),
            host,
            version: http::Version::HTTP_11,
        }
    }

    /// HTTP/2 with prior knowledge (h2c) to `base`.
    pub async fn h2(base: &str) -> Http {
        let host = host_of(base);
        let tcp = tokio::net::TcpStream::connect(&host).await.expect("connect");
        tcp.set_nodelay(true).unwrap();
        let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("HTTP/2 handshake");
        tokio::spawn(conn);
        Http {
            sender: Sender::H2(sender),
            host,
            version: http::Version::HTTP_2,
        }
    }

    /// TLS to `base` trusting `ca_pem`, offering `alpn` (e.g. `["h2"]` or `["http/1.1"]`)
    /// and presenting `identity` (certificate and key PEM) when given; the protocol the
    /// server picked is used.
    pub async fn tls(base: &str, ca_pem: &str, alpn: &[&str], identity: Option<(&str, &str)>) -> Result<Http, String> {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let host = host_of(base);
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
                    .map(Result::unwrap)
                    .collect();
                let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
                builder.with_client_auth_cert(chain, key).unwrap()
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        let tcp = tokio::net::TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok(Http {
                sender: Sender::H2(sender),
                host,
                version: http::Version::HTTP_2,
            })
        } else {
            let (sender, conn) = http1::handshake(TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            Ok(Http {
                sender: Sender::H1(sender),
                host,
                version: http::Version::HTTP_11,
            })
        }
    }

    /// Sends one request; `headers` may override the defaults (`content-type: application/json`).
    pub async fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
        self.try_send(method, path, headers, body).await.expect("a response")
    }

    pub async fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Reply, String> {
        let mut b = http::Request::builder().method(method);
        let given_host = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map(|(_, v)| *v);
        b = match self.sender {
            Sender::H1(_) if given_host.is_some() => b.uri(path),
            Sender::H1(_) => b.uri(path).header("host", &self.host),
            Sender::H2(_) => b.uri(format!("http://{}{path}", given_host.unwrap_or(&self.host))),
        };
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) && !body.is_empty() {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in headers {
            // HTTP/2 carries the host as :authority.
            if !(matches!(self.sender, Sender::H2(_)) && k.eq_ignore_ascii_case("host")) {
                b = b.header(*k, *v);
            }
        }
        let req = b.body(Full::new(Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = match &mut self.sender {
            Sender::H1(s) => {
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await
            }
            Sender::H2(s) => {
                s.ready().await.map_err(|e| e.to_string())?;
                s.send_request(req).await
            }
        }
        .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
            json,
        })
    }

    /// `POST path` with a JSON body.
    pub async fn post(&mut self, path: &str, body: &Value) -> Reply {
        self.send("POST", path, &[], serde_json::to_vec(body).unwrap()).await
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[], Vec::new()).await
    }
}
