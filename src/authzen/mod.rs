//! The OpenID AuthZEN Authorization API 1.0 over HTTP (HTTP/1.1 and HTTP/2, JSON), on a
//! listener of its own beside the gRPC ports (docs/CONTRACT.md §8).
//!
//! - `POST /access/v1/evaluation` and `/access/v1/evaluations` are checks and batch
//!   checks (the decision API's `check` scope when `decision_auth` is on);
//! - `POST /access/v1/search/{subject,resource,action}` are the look-ups (`lookup` scope);
//! - `GET /.well-known/authzen-configuration` is the metadata (open, like health).
//!
//! Every request goes through one front layer (`front`): the request id (the caller's
//! `X-Request-ID` is echoed; one is made up otherwise), authentication and the in-flight
//! limit (the same [`AuthLayer`] rules as the gRPC ports: none → 401 with
//! `WWW-Authenticate`, wrong scope → 403), the request timeout, and the request metrics.
//! Handlers read the body themselves, bounded (over the limit → 413), and parse it with
//! the failing JSON path in the 400's message. Errors become HTTP statuses in one place,
//! [`HttpError::from_app`], from the gRPC status `grpc::status` gives (so both APIs agree
//! on what is whose fault); every error body is `{"error": {"status", "message"}}`.
//! A deny is `200 {"decision": false}`, never an error.

mod handlers;
pub use handlers::parse;
pub mod model;
pub mod serve;

use crate::app::{App, AppError, AuthError};
use crate::grpc::auth::{AuthLayer, Scope};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};
use metrics::Counter;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub const EVALUATION: &str = "/access/v1/evaluation";
pub const EVALUATIONS: &str = "/access/v1/evaluations";
pub const SEARCH_SUBJECT: &str = "/access/v1/search/subject";
pub const SEARCH_RESOURCE: &str = "/access/v1/search/resource";
pub const SEARCH_ACTION: &str = "/access/v1/search/action";
pub const METADATA: &str = "/.well-known/authzen-configuration";
/// Every endpoint.
const ENDPOINTS: [&str; 6] = [
    EVALUATION,
    EVALUATIONS,
    SEARCH_SUBJECT,
    SEARCH_RESOURCE,
    SEARCH_ACTION,
    METADATA,
];

/// Largest request body accepted (bytes): a batch of 1,000 evaluations fits many times.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// What the AuthZEN listener serves with.
pub struct AuthzenConfig {
    pub app: Arc<App>,
    pub auth: AuthLayer,
    pub naming: model::Naming,
    /// The configured public base URL (no trailing `/`); otherwise the request's host.
    pub public_url: Option<String>,
    /// `https` on a TLS listener.
    pub tls: bool,
    /// The bound address (the metadata's host when a request names none).
    pub bound: std::net::SocketAddr,
    pub request_timeout: Duration,
}

/// The handlers' shared state.
pub(crate) struct Shared {
    config: AuthzenConfig,
}

/// The AuthZEN routes behind the front layer.
pub fn router(config: AuthzenConfig) -> axum::Router {
    use axum::routing::{get, post};
    let shared = Arc::new(Shared { config });
    // Every endpoint's series exist (at 0) from the start, so rates and alerts see the first request.
    for path in ENDPOINTS {
        endpoint_metrics(path).ok();
    }
    axum::Router::new()
        .route(EVALUATION, post(handlers::evaluation))
        .route(EVALUATIONS, post(handlers::evaluations))
        .route(SEARCH_SUBJECT, post(handlers::search_subject))
        .route(SEARCH_RESOURCE, post(handlers::search_resource))
        .route(SEARCH_ACTION, post(handlers::search_action))
        .route(METADATA, get(handlers::metadata))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), front))
        .with_state(shared)
}

/// The scope an endpoint needs; `None` for the metadata and unknown paths (404 for all).
fn required_scope(path: &str) -> Option<Scope> {
    match path {
        EVALUATION | EVALUATIONS => Some(Scope::Check),
        SEARCH_SUBJECT | SEARCH_RESOURCE | SEARCH_ACTION => Some(Scope::Lookup),
        _ => None,
    }
}

/// The client certificate chain of a TLS connection, put into each request by the
/// listener for the authentication rules.
#[derive(Debug, Clone, Default)]
pub struct PeerCerts(pub Option<Arc<Vec<rustls::pki_types::CertificateDer<'static>>>>);

/// The front layer (see the module docs).
async fn front(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let endpoint = endpoint_metrics(req.uri().path());
    // The caller's X-Request-ID is echoed whatever it is; the log names it when sane.
    let echoed = req.headers().get(crate::grpc::observe::REQUEST_ID).cloned();
    let id = crate::grpc::observe::given_request_id(req.headers())
        .map(str::to_string)
        .unwrap_or_else(|| ulid::Ulid::generate().to_string());
    let echo = echoed.or_else(|| HeaderValue::from_str(&id).ok());
    let config = &shared.config;
    let mut response = crate::grpc::observe::scope_request_id(id, async {
        let path = req.uri().path().to_string();
        let certs = req.extensions().get::<PeerCerts>().and_then(|p| p.0.clone());
        let scope = required_scope(&path);
        match config
            .auth
            .admit(&path, scope, req.headers(), certs.as_deref().map(Vec::as_slice))
        {
            Err(e) => HttpError::from_app(AppError::Auth(e)).into_response(),
            Ok(admitted) => {
                if let Some(p) = admitted.principal {
                    req.extensions_mut().insert(p);
                }
                let response = match tokio::time::timeout(config.request_timeout, next.run(req)).await {
                    Ok(r) => r,
                    Err(_) => HttpError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the request took longer than request_timeout ({} ms)",
                            config.request_timeout.as_millis()
                        ),
                    )
                    .into_response(),
                };
                drop(admitted.permit);
                response
            }
        }
    })
    .await;
    if let Some(h) = echo {
        response.headers_mut().insert(crate::grpc::observe::REQUEST_ID, h);
    }
    endpoint.record(response.status(), started.elapsed());
    response
}

/// An HTTP error: its status and message, as `{"error": {"status", "message"}}`.
#[derive(Debug, Clone)]
pub struct HttpError {
    pub status: StatusCode,
    pub message: String,
}

impl HttpError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> HttpError {
        HttpError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError::new(StatusCode::BAD_REQUEST, message)
    }

    /// The one mapping from errors to HTTP statuses: the gRPC status `grpc::status` gives
    /// (which also logs the causes it hides), then its HTTP counterpart.
    pub fn from_app(e: AppError) -> HttpError {
        use crate::engine::EngineError as E;
        use tonic::Code;
        let status = match &e {
            // A closure over the limit is the data's shape, not a rate: retrying will not help.
            AppError::Engine(E::ClosureTooLarge { .. } | E::TargetClosureTooLarge { .. }) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AppError::Auth(AuthError::OverLimit(_)) => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::OK,
        };
        let s = crate::grpc::status(e);
        let status = if status != StatusCode::OK {
            status
        } else {
            match s.code() {
                Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => StatusCode::BAD_REQUEST,
                Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                Code::PermissionDenied => StatusCode::FORBIDDEN,
                Code::NotFound => StatusCode::NOT_FOUND,
                Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
                Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
                Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
                Code::Cancelled => StatusCode::BAD_REQUEST,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            }
        };
        HttpError::new(status, s.message())
    }

    /// The error as an item's `context.error`.
    pub fn body(&self) -> model::ErrorBody {
        model::ErrorBody {
            status: self.status.as_u16(),
            message: self.message.clone(),
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        #[derive(serde::Serialize)]
        struct Wrapper {
            error: model::ErrorBody,
        }
        let mut response = json_response(self.status, &Wrapper { error: self.body() });
        let headers = response.headers_mut();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(
                    http::header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"endocarp\""),
                );
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// A JSON response (`application/json`).
pub(crate) fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut r = Response::new(Body::from(bytes));
            *r.status_mut() = status;
            r.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise a response");
            let mut r = Response::new(Body::from(r#"{"error":{"status":500,"message":"internal error"}}"#));
            *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            r
        }
    }
}

/// One endpoint's metric handles, resolved once.
struct EndpointMetrics {
    endpoint: &'static str,
    duration: std::sync::Arc<crate::metrics::Latency>,
    /// A counter per status code in [`CODES`], then one for every other code; each made
    /// on first use.
    calls: [OnceLock<Counter>; CODES.len() + 1],
}

/// The status codes counted under their own label.
const CODES: [u16; 15] = [
    200, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 500, 503, 504,
];

impl EndpointMetrics {
    fn new(endpoint: &'static str) -> EndpointMetrics {
        EndpointMetrics {
            endpoint,
            duration: crate::metrics::http_duration(endpoint),
            calls: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Registers the endpoint's 200 counter (at 0).
    fn ok(&self) {
        self.count(StatusCode::OK);
    }

    fn count(&self, status: StatusCode) -> &Counter {
        let slot = CODES.iter().position(|c| *c == status.as_u16());
        let endpoint = self.endpoint;
        self.calls[slot.unwrap_or(CODES.len())].get_or_init(|| {
            let label: &'static str = match slot {
                Some(_) => status.as_str().to_string().leak(),
                None => "other",
            };
            metrics::counter!(crate::metrics::HTTP_REQUESTS, "endpoint" => endpoint, "code" => label)
        })
    }

    fn record(&self, status: StatusCode, took: Duration) {
        self.count(status).increment(1);
        self.duration.record(took);
    }
}

/// The metrics of the endpoint at `path` (`unknown` for any other path, so a caller
/// cannot grow the series).
fn endpoint_metrics(path: &str) -> &'static EndpointMetrics {
    static ALL: OnceLock<(Vec<(&'static str, EndpointMetrics)>, EndpointMetrics)> = OnceLock::new();
    let (known, unknown) = ALL.get_or_init(|| {
        let known = ENDPOINTS.into_iter().map(|p| (p, EndpointMetrics::new(p))).collect();
        (known, EndpointMetrics::new("unknown"))
    });
    known.iter().find(|(p, _)| *p == path).map_or(unknown, |(_, m)| m)
}
