//! Authentication in front of the gRPC services: named bearer tokens with scopes.
//!
//! Credentials are `name:scopes:token` entries (scopes `read`, `write`, `check`, joined with
//! `,`), one a line in a file or separated by `;` in `ENDOCARP_ADMIN_TOKENS`. Only a SHA-256
//! of each token is kept in memory, and a presented token is compared with every credential
//! in constant time. Every method needs a scope: lists, reads, watches, status, export and
//! reflection `read`; changes and appends `write`; decisions `check` (only when the decision
//! API requires tokens). Health is open, so probes need nothing. The audit actor is the
//! credential's name; a rejected call is logged at warn (at most once a second) and changes
//! nothing.
//!
//! The same layer enforces the per-port limits: requests in flight (RESOURCE_EXHAUSTED past
//! the limit, never queued without bound) and admin writes per caller per second (a token
//! bucket per credential name).

use crate::app::{AppError, AuthError};
use crate::telemetry::LogThrottle;
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Shortest token accepted.
pub const MIN_TOKEN_BYTES: usize = 16;

/// What a credential may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Lists, reads, watches, status, export, admin reflection.
    Read,
    /// Admin changes and event appends.
    Write,
    /// Decision checks (when the decision API requires tokens).
    Check,
}

impl Scope {
    fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "check" => Some(Scope::Check),
            _ => None,
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Check => "check",
        }
    }
}

/// One named credential. The token itself is not kept.
#[derive(Clone)]
struct Credential {
    name: String,
    scopes: Vec<Scope>,
    hash: [u8; 32],
}

/// The configured credentials.
#[derive(Clone, Default)]
pub struct Credentials {
    list: Vec<Credential>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.list.iter().map(|c| c.name.as_str()).collect();
        write!(f, "Credentials {names:?}")
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Constant-time equality of two digests.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Credentials {
    /// Parses `name:scopes:token` entries, one a line or separated by `;`; blank entries
    /// and `#` comments are skipped. `source` names where they came from in errors (never
    /// the token).
    pub fn parse(text: &str, source: &str) -> Result<Credentials, String> {
        let mut list: Vec<Credential> = Vec::new();
        for (i, entry) in text.split(['\n', ';']).enumerate() {
            let entry = entry.trim();
            if entry.is_empty() || entry.starts_with('#') {
                continue;
            }
            let at = format!("{source}, entry {}", i + 1);
            let mut parts = entry.splitn(3, ':');
            let (Some(name), Some(scopes), Some(token)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{at}: expected name:scopes:token"));
            };
            let name_ok = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
            if !name_ok {
                return Err(format!("{at}: the name must be 1-64 characters of A-Z a-z 0-9 . _ - @"));
            }
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s.trim()).ok_or_else(|| format!("{at}: unknown scope {s:?} (read, write, check)"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if token.len() < MIN_TOKEN_BYTES || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "{at}: the token of {name:?} must be at least {MIN_TOKEN_BYTES} bytes, without spaces"
                ));
            }
            let hash = hash(token);
            if list.iter().any(|c| c.name == name) {
                return Err(format!("{at}: the name {name:?} is used twice"));
            }
            if list.iter().any(|c| same(&c.hash, &hash)) {
                return Err(format!("{at}: the token of {name:?} is also another credential's"));
            }
            list.push(Credential {
                name: name.to_string(),
                scopes,
                hash,
            });
        }
        Ok(Credentials { list })
    }

    /// Adds another set (from a second source); names and tokens must stay unique.
    pub fn merge(mut self, other: Credentials) -> Result<Credentials, String> {
        for c in other.list {
            if self.list.iter().any(|x| x.name == c.name || same(&x.hash, &c.hash)) {
                return Err(format!("the credential {:?} is configured twice", c.name));
            }
            self.list.push(c);
        }
        Ok(self)
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The credential a token belongs to. Every credential is compared, in constant time,
    /// so the answer's timing does not tell which one matched or how much of it.
    fn authenticate(&self, token: &str) -> Option<&Credential> {
        let presented = hash(token);
        let mut found = None;
        for c in &self.list {
            if same(&c.hash, &presented) {
                found = Some(c);
            }
        }
        found
    }
}

/// Client certificates as credentials (mTLS): a certificate that chains to the client CA
/// and names an allow-listed DNS name (subject alternative name) authenticates as that
/// entry's name, with its scopes.
#[derive(Clone)]
pub struct ClientCerts {
    verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    allow: Vec<(String, Vec<Scope>, String)>,
}

impl std::fmt::Debug for ClientCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.allow.iter().map(|(n, _, _)| n.as_str()).collect();
        write!(f, "ClientCerts {names:?}")
    }
}

impl ClientCerts {
    /// `name:scopes:dns-name` a line (`#` comments), checked against `verifier`.
    pub fn parse(
        text: &str,
        source: &str,
        verifier: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    ) -> Result<ClientCerts, String> {
        let mut allow: Vec<(String, Vec<Scope>, String)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{source}, line {}", i + 1);
            let mut parts = line.splitn(3, ':');
            let (Some(name), Some(scopes), Some(dns)) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!("{at}: expected name:scopes:dns-name"));
            };
            let scopes = scopes
                .split(',')
                .map(|s| {
                    Scope::parse(s.trim()).ok_or_else(|| format!("{at}: unknown scope {s:?} (read, write, check)"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if name.is_empty() || dns.trim().is_empty() {
                return Err(format!("{at}: a name and a DNS name are required"));
            }
            if allow.iter().any(|(n, _, _)| n == name) {
                return Err(format!("{at}: the name {name:?} is used twice"));
            }
            allow.push((name.to_string(), scopes, dns.trim().to_ascii_lowercase()));
        }
        Ok(ClientCerts { verifier, allow })
    }

    pub fn is_empty(&self) -> bool {
        self.allow.is_empty()
    }

    /// The allow-listed identity of a presented chain.
    fn authenticate(
        &self,
        chain: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<(&str, &[Scope]), AuthError> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(AuthError::Unauthenticated("no client certificate".into()));
        };
        self.verifier
            .verify_client_cert(leaf, intermediates, rustls::pki_types::UnixTime::now())
            .map_err(|e| AuthError::Unauthenticated(format!("the client certificate is not accepted: {e}")))?;
        let cert = webpki::EndEntityCert::try_from(leaf)
            .map_err(|e| AuthError::Unauthenticated(format!("the client certificate cannot be read: {e:?}")))?;
        let names: Vec<String> = cert.valid_dns_names().map(str::to_ascii_lowercase).collect();
        self.allow
            .iter()
            .find(|(_, _, dns)| names.iter().any(|n| n == dns))
            .map(|(name, scopes, _)| (name.as_str(), scopes.as_slice()))
            .ok_or_else(|| {
                AuthError::PermissionDenied(format!("the client certificate {names:?} is not on the allow-list"))
            })
    }
}

/// The authenticated caller, put into the request's extensions for the handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(pub String);

/// The scope a method needs; `None` for health, which is open.
pub fn required_scope(path: &str) -> Option<Scope> {
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    match service {
        "grpc.health.v1.Health" => None,
        "endocarp.v1.AuthorizationService" => Some(Scope::Check),
        "endocarp.v1.EventService" if method == "AppendEvents" => Some(Scope::Write),
        "endocarp.v1.PolicyAdminService"
            if !(method.starts_with("List") || method == "GetStatus" || method == "ExportCasbin") =>
        {
            Some(Scope::Write)
        }
        _ => Some(Scope::Read),
    }
}

/// Limits one port enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests in flight on the port.
    pub max_in_flight: usize,
    /// Write-scope calls per caller per second (also the burst).
    pub writes_per_second: u32,
}

/// A token bucket per caller.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// What the layer enforces on one port.
struct Policy {
    credentials: Credentials,
    certs: Option<ClientCerts>,
    limits: Limits,
    in_flight: Arc<tokio::sync::Semaphore>,
    buckets: std::sync::Mutex<std::collections::HashMap<String, Bucket>>,
    /// False: every call is the unauthenticated local operator (admin port bound to loopback
    /// with no credentials configured; or the decision port when it does not require tokens).
    enforce: bool,
    /// Rejections are logged at most once a second (the count covers the rest).
    rejections: LogThrottle,
}

impl Policy {
    fn decide(
        &self,
        path: &str,
        headers: &http::HeaderMap,
        extensions: &http::Extensions,
    ) -> Result<Principal, AuthError> {
        if !self.enforce {
            return Ok(Principal(crate::LOCAL_ACTOR.to_string()));
        }
        let Some(scope) = required_scope(path) else {
            return Ok(Principal("health".into()));
        };
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let peer_certs = extensions
            .get::<tonic::transport::server::TlsConnectInfo<tonic::transport::server::TcpConnectInfo>>()
            .and_then(|info| info.peer_certs());
        // A bearer token wins; otherwise a client certificate, when mTLS is configured.
        let (name, scopes): (String, Vec<Scope>) = match (token, peer_certs, &self.certs) {
            (Some(token), _, _) => {
                let Some(c) = self.credentials.authenticate(token) else {
                    return Err(AuthError::Unauthenticated("the bearer token is not valid".into()));
                };
                (c.name.clone(), c.scopes.clone())
            }
            (None, Some(chain), Some(certs)) => {
                let (name, scopes) = certs.authenticate(&chain)?;
                (name.to_string(), scopes.to_vec())
            }
            _ => {
                return Err(AuthError::Unauthenticated(
                    "this method needs a credential: a bearer token (authorization: Bearer …) or an allow-listed client certificate".into(),
                ));
            }
        };
        if !scopes.contains(&scope) {
            return Err(AuthError::PermissionDenied(format!(
                "credential {name:?} lacks the {:?} scope this method needs",
                scope.as_str()
            )));
        }
        Ok(Principal(name))
    }

    /// Takes one write from the caller's bucket, or refuses.
    fn take_write(&self, caller: &str) -> Result<(), AuthError> {
        let rate = f64::from(self.limits.writes_per_second.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets
            .entry(caller.to_string())
            .or_insert(Bucket { tokens: rate, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens < 1.0 {
            return Err(AuthError::OverLimit(format!(
                "{caller:?} is over the limit of {} admin writes a second",
                self.limits.writes_per_second
            )));
        }
        b.tokens -= 1.0;
        Ok(())
    }

    /// Logs a rejection at warn, at most once a second (the count covers the rest).
    fn log_rejection(&self, path: &str, e: &AuthError) {
        if let Some(n) = self.rejections.tick() {
            tracing::warn!(method = path, reason = %e, rejected_so_far = n, "call rejected (logged at most once a second)");
        }
    }
}

/// The tower layer that authenticates every call on a port.
#[derive(Clone)]
pub struct AuthLayer {
    policy: Arc<Policy>,
}

impl AuthLayer {
    /// Enforces `credentials` when `enforce`; otherwise every caller is the local operator.
    /// `limits` apply either way.
    pub fn new(credentials: Credentials, certs: Option<ClientCerts>, enforce: bool, limits: Limits) -> AuthLayer {
        AuthLayer {
            policy: Arc::new(Policy {
                credentials,
                certs,
                limits,
                in_flight: Arc::new(tokio::sync::Semaphore::new(limits.max_in_flight.max(1))),
                buckets: std::sync::Mutex::new(std::collections::HashMap::new()),
                enforce,
                rejections: LogThrottle::per_second(),
            }),
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, B> tower::Service<http::Request<B>> for Auth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let path = req.uri().path().to_string();
        let admitted = self
            .policy
            .decide(&path, req.headers(), req.extensions())
            .and_then(|principal| {
                let permit = self.policy.in_flight.clone().try_acquire_owned().map_err(|_| {
                    AuthError::OverLimit(format!(
                        "too many requests in flight on this port (limit {})",
                        self.policy.limits.max_in_flight
                    ))
                })?;
                if required_scope(&path) == Some(Scope::Write) {
                    self.policy.take_write(&principal.0)?;
                }
                Ok((principal, permit))
            });
        match admitted {
            Ok((principal, permit)) => {
                req.extensions_mut().insert(principal);
                let call = self.inner.call(req);
                Box::pin(async move {
                    let response = call.await;
                    drop(permit);
                    response
                })
            }
            Err(e) => {
                self.policy.log_rejection(&path, &e);
                let response = crate::grpc::status(AppError::Auth(e)).into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_parse_and_authenticate() {
        let c = Credentials::parse(
            "# ops\nci:read,write:0123456789abcdef-ci\n\nauditor:read:0123456789abcdef-au",
            "file",
        )
        .unwrap();
        assert_eq!(c.len(), 2);
        assert_eq!(
            c.authenticate("0123456789abcdef-ci").map(|c| c.name.as_str()),
            Some("ci")
        );
        assert!(c.authenticate("0123456789abcdef-xx").is_none());
        assert!(Credentials::parse("a:read:short", "env").unwrap_err().contains("16"));
        assert!(Credentials::parse("a:root:0123456789abcdef", "env").is_err());
        assert!(Credentials::parse("a:read:0123456789abcdef;a:write:0123456789abcdeg", "env").is_err());
        let err = Credentials::parse("bad name:read:0123456789abcdef-secret", "env").unwrap_err();
        assert!(!err.contains("secret"), "errors never show tokens: {err}");
        assert!(format!("{c:?}").contains("ci") && !format!("{c:?}").contains("abcdef"));
    }

    #[test]
    fn methods_map_to_scopes() {
        assert_eq!(required_scope("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            required_scope("/endocarp.v1.PolicyAdminService/GrantPermission"),
            Some(Scope::Write)
        );
        assert_eq!(
            required_scope("/endocarp.v1.PolicyAdminService/ListRules"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/endocarp.v1.PolicyAdminService/ExportCasbin"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/endocarp.v1.EventService/AppendEvents"),
            Some(Scope::Write)
        );
        assert_eq!(
            required_scope("/endocarp.v1.EventService/WatchEvents"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            Some(Scope::Read)
        );
        assert_eq!(
            required_scope("/endocarp.v1.AuthorizationService/IsAuthorized"),
            Some(Scope::Check)
        );
        assert_eq!(required_scope("/nope/Nope"), Some(Scope::Read));
    }
}
