//! The tower layer in front of both gRPC ports: who the caller is, whether the method's
//! scope allows the call, and the per-port limits; refusals become statuses through
//! `grpc::status` and are logged once, here.

use super::limits::{InFlight, InFlightPermit, WriteBuckets};
use super::{ClientCerts, Credentials, Limits, Principal, Scope, required_scope};
use crate::app::{AppError, AuthError};
use crate::telemetry::LogThrottle;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the layer enforces on one port.
struct Policy {
    credentials: Credentials,
    certs: Option<ClientCerts>,
    limits: Limits,
    in_flight: Arc<InFlight>,
    writes: WriteBuckets,
    /// False: every call is the unauthenticated local operator (admin port bound to loopback
    /// with no credentials configured; or the decision port when it does not require tokens).
    enforce: bool,
    /// Rejections are logged at most once a second (the count covers the rest).
    rejections: LogThrottle,
}

impl Policy {
    /// Who the caller is: `None` when nobody needs to be named (credentials not enforced
    /// on this port, so handlers use the local operator; or health, which is open).
    fn decide(
        &self,
        scope: Option<Scope>,
        headers: &http::HeaderMap,
        peer_certs: Option<&[rustls::pki_types::CertificateDer<'static>]>,
    ) -> Result<Option<Principal>, AuthError> {
        if !self.enforce {
            return Ok(None);
        }
        let Some(scope) = scope else {
            return Ok(None);
        };
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        // A bearer token wins; otherwise a client certificate, when mTLS is configured.
        let (name, scopes): (String, Vec<Scope>) = match (token, peer_certs, &self.certs) {
            (Some(token), _, _) => {
                let Some(c) = self.credentials.authenticate(token) else {
                    return Err(AuthError::Unauthenticated("the bearer token is not valid".into()));
                };
                (c.name.clone(), c.scopes.clone())
            }
            (None, Some(chain), Some(certs)) => {
                let (name, scopes) = certs.authenticate(chain)?;
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
        Ok(Some(Principal(name)))
    }

    /// Logs a rejection at warn, at most once a second (the count covers the rest).
    fn log_rejection(&self, path: &str, e: &AuthError) {
        if let Some(n) = self.rejections.tick() {
            let request_id = crate::grpc::observe::current_request_id().unwrap_or_default();
            tracing::warn!(method = path, %request_id, reason = %e, rejected_so_far = n, "call rejected (logged at most once a second)");
        }
    }
}

/// The tower layer that authenticates every call on a port.
#[derive(Clone)]
pub struct AuthLayer {
    policy: Arc<Policy>,
}

/// An admitted call: who it is (when credentials are enforced) and its in-flight permit,
/// held until the response is complete.
pub struct Admitted {
    pub principal: Option<Principal>,
    pub permit: InFlightPermit,
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
                in_flight: InFlight::new(limits.max_in_flight),
                writes: WriteBuckets::new(limits.writes_per_second),
                enforce,
                rejections: LogThrottle::per_second(),
            }),
        }
    }
}

impl AuthLayer {
    /// Admits a call that needs `scope` (`None`: open), presenting `headers` and, on a TLS
    /// connection, the client's certificate chain; or the refusal, already logged. The
    /// AuthZEN HTTP API calls this directly; the gRPC ports go through the layer.
    pub fn admit(
        &self,
        path: &str,
        scope: Option<Scope>,
        headers: &http::HeaderMap,
        peer_certs: Option<&[rustls::pki_types::CertificateDer<'static>]>,
    ) -> Result<Admitted, AuthError> {
        let policy = &self.policy;
        let admitted = policy.decide(scope, headers, peer_certs).and_then(|principal| {
            let permit = policy.in_flight.try_acquire().ok_or_else(|| {
                AuthError::OverLimit(format!(
                    "too many requests in flight on this port (limit {})",
                    policy.limits.max_in_flight
                ))
            })?;
            if scope == Some(Scope::Write) {
                let caller = principal.as_ref().map_or(crate::LOCAL_ACTOR, |p| p.0.as_str());
                policy.writes.take(caller)?;
            }
            Ok(Admitted { principal, permit })
        });
        if let Err(e) = &admitted {
            policy.log_rejection(path, e);
        }
        admitted
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Auth<S>;
    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B> tower::Service<http::Request<B>> for Auth<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = AuthFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let scope = required_scope(req.uri().path());
        let peer_certs = req
            .extensions()
            .get::<tonic::transport::server::TlsConnectInfo<tonic::transport::server::TcpConnectInfo>>()
            .and_then(|info| info.peer_certs());
        match self.layer.admit(
            req.uri().path(),
            scope,
            req.headers(),
            peer_certs.as_deref().map(Vec::as_slice),
        ) {
            Ok(Admitted { principal, permit }) => {
                if let Some(principal) = principal {
                    req.extensions_mut().insert(principal);
                }
                AuthFuture::Admitted {
                    call: self.inner.call(req),
                    permit: Some(permit),
                }
            }
            Err(e) => AuthFuture::Refused {
                response: Some(crate::grpc::status(AppError::Auth(e)).into_http()),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// An admitted call holding its in-flight permit until its response is ready, or the
    /// refusal (not boxed: the observe layer around it boxes the whole call once).
    #[project = AuthProj]
    pub enum AuthFuture<F> {
        Admitted { #[pin] call: F, permit: Option<InFlightPermit> },
        Refused { response: Option<http::Response<tonic::body::Body>> },
    }
}

impl<F, E> Future for AuthFuture<F>
where
    F: Future<Output = Result<http::Response<tonic::body::Body>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.project() {
            AuthProj::Admitted { call, permit } => {
                let response = std::task::ready!(call.poll(cx));
                drop(permit.take());
                Poll::Ready(response)
            }
            AuthProj::Refused { response } => {
                Poll::Ready(Ok(response.take().expect("a refusal is polled once, to its response")))
            }
        }
    }
}
