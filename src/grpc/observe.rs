//! The outermost layer on both gRPC ports: a request id, a `tracing` span per request,
//! the request counters and latency histograms, and the server's request timeout (its
//! timer armed only for a call that does not finish on its first poll).
//!
//! The request id is the caller's `x-request-id` metadata when it is a sane value (at most
//! 128 printable ASCII bytes), and then it is echoed on the response. Otherwise a ULID is
//! made up only when something names the call: an error (every non-OK response gets one),
//! a log line, an audit entry (the correlation id falls back to it), or a `debug` span;
//! the response then carries it. A successful check nobody names gets none: making one up
//! and sending it (a new HPACK literal per response, decoded by the client) cost more
//! than a tenth of a check.
//!
//! The status code is read where gRPC puts it: in the headers of a trailers-only response,
//! or in the trailers at the end of the body; a body dropped before its end counts as
//! CANCELLED.

use http::{HeaderName, HeaderValue};
use http_body::{Body as HttpBody, Frame};
use metrics::Counter;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tonic::Code;
use tracing::Instrument;

/// The request id's header (a `HeaderName`, so a look-up does not parse the name).
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A call's request id: given by the caller, or made up on first use.
#[derive(Debug, Clone, Default)]
struct RequestId(Arc<OnceLock<String>>);

impl RequestId {
    fn given(id: String) -> RequestId {
        RequestId(Arc::new(OnceLock::from(id)))
    }

    /// The id, made up now if nothing has needed it before.
    fn get(&self) -> &str {
        self.0.get_or_init(|| ulid::Ulid::generate().to_string())
    }

    /// The id if something needed it (or the caller gave it).
    fn made(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

tokio::task_local! {
    /// The request id of the call this task is serving (set by [`Observe`]).
    static CURRENT_REQUEST_ID: RequestId;
}

/// The id of the request being served, for messages, log lines and audit entries that
/// name the call (made up now when the caller gave none and nothing named it yet).
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(|id| id.get().to_string()).ok()
}

/// Runs `f` with `id` as the request id its log lines and error messages name (the
/// AuthZEN HTTP API's front layer uses it as this layer does).
pub fn scope_request_id<F: Future>(id: String, f: F) -> impl Future<Output = F::Output> {
    CURRENT_REQUEST_ID.scope(RequestId::given(id), f)
}

/// The caller's request id when it is a sane value: at most 128 printable ASCII bytes.
pub fn given_request_id(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID).and_then(sane_request_id)
}

/// The header's value when it is a sane request id.
fn sane_request_id(v: &HeaderValue) -> Option<&str> {
    v.to_str()
        .ok()
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
}

/// See the module docs. `timeout` bounds how long a call may run before its response
/// starts (the server's `--request-timeout`); a call that runs past it is answered
/// CANCELLED.
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    pub timeout: Duration,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> tower::Service<http::Request<B>> for Observe<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<B>) -> Self::Future {
        let started = Instant::now();
        let method = method_metrics(req.uri().path());
        // The caller's sane id is echoed as sent; a bad one is dropped (handlers that fall
        // back to the header for a correlation id must not see it).
        let (id, echo) = match req.headers().get(REQUEST_ID) {
            None => (RequestId::default(), None),
            Some(given) => match sane_request_id(given) {
                Some(sane) => (RequestId::given(sane.to_string()), Some(given.clone())),
                None => {
                    req.headers_mut().remove(REQUEST_ID);
                    (RequestId::default(), None)
                }
            },
        };
        // A debug span: built only when an operator turns tracing up to debug (errors and
        // refusals name their request id in their own log lines).
        let span = tracing::debug_span!(
            "grpc",
            service = method.service,
            method = method.method,
            request_id = tracing::field::Empty
        );
        if !span.is_disabled() {
            span.record("request_id", id.get());
        }
        // The id is in scope for the inner layers' synchronous part (the authentication
        // layer refuses there) and for the whole of the call's future.
        let call = {
            let _entered = span.enter();
            CURRENT_REQUEST_ID.sync_scope(id.clone(), || self.inner.call(req))
        };
        let call = CURRENT_REQUEST_ID.scope(id.clone(), call);
        let timeout = self.timeout;
        Box::pin(
            async move {
                // The request timeout's timer is armed only for a call that does not finish
                // on its first poll (a check does): most calls never touch the timer wheel.
                let mut call = std::pin::pin!(call);
                let first = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await;
                let mut response = match first {
                    Poll::Ready(response) => response?,
                    Poll::Pending => {
                        let at = tokio::time::Instant::from_std(started + timeout);
                        match tokio::time::timeout_at(at, call).await {
                            Ok(response) => response?,
                            Err(_) => CURRENT_REQUEST_ID.sync_scope(id.clone(), || {
                                super::status(crate::app::AppError::RequestTimeout(timeout)).into_http()
                            }),
                        }
                    }
                };
                let done = Done { method, started };
                // Trailers-only responses (every error tonic returns) carry the status here.
                let code = super::status_code(response.headers());
                let header = match (echo, code) {
                    (Some(given), _) => Some(given),
                    // Every error names its call.
                    (None, Some(c)) if c != Code::Ok => HeaderValue::from_str(id.get()).ok(),
                    (None, _) => id.made().and_then(|made| HeaderValue::from_str(made).ok()),
                };
                if let Some(h) = header {
                    response.headers_mut().insert(REQUEST_ID, h);
                }
                if let Some(code) = code {
                    done.record(code);
                    return Ok(response);
                }
                let (parts, body) = response.into_parts();
                let body = tonic::body::Body::new(Watched {
                    inner: body,
                    done: Some(done),
                });
                Ok(http::Response::from_parts(parts, body))
            }
            .instrument(span),
        )
    }
}

/// One served method's metric handles, resolved once: a request pays atomic adds, not a
/// registry look-up with labels.
struct MethodMetrics {
    service: &'static str,
    method: &'static str,
    duration: std::sync::Arc<crate::metrics::Latency>,
    /// One counter per status code (`Code as usize`), made on first use.
    calls: [OnceLock<Counter>; 17],
}

impl MethodMetrics {
    fn new(service: &'static str, method: &'static str) -> MethodMetrics {
        use crate::metrics as m;
        MethodMetrics {
            service,
            method,
            duration: m::grpc_duration(service, method),
            calls: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    fn record(&self, code: Code, took: std::time::Duration) {
        let (service, method) = (self.service, self.method);
        let slot = (code as usize).min(self.calls.len() - 1);
        self.calls[slot]
            .get_or_init(|| {
                let code = super::code_name(code);
                metrics::counter!(crate::metrics::GRPC_REQUESTS, "grpc_service" => service, "grpc_method" => method, "grpc_code" => code)
            })
            .increment(1);
        self.duration.record(took);
    }
}

/// `/endocarp.v1.AuthorizationService/IsAuthorized` → its metrics, labelled
/// `endocarp.v1.AuthorizationService` and `IsAuthorized`. Only methods the server serves
/// get their own labels (read from the compiled descriptors); anything else is `unknown`,
/// so a caller cannot grow the series.
fn method_metrics(path: &str) -> &'static MethodMetrics {
    type Known = foldhash::HashMap<String, MethodMetrics>;
    static KNOWN: OnceLock<(Known, MethodMetrics)> = OnceLock::new();
    let (known, unknown) = KNOWN.get_or_init(|| {
        let mut known = Known::default();
        let mut add = |service: String, method: String| {
            let path = format!("/{service}/{method}");
            let (service, method): (&'static str, &'static str) = (service.leak(), method.leak());
            known.insert(path, MethodMetrics::new(service, method));
        };
        for set in [
            crate::grpc::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(files) = <prost_types::FileDescriptorSet as prost::Message>::decode(set) else {
                continue;
            };
            for file in files.file {
                for svc in &file.service {
                    for m in &svc.method {
                        add(format!("{}.{}", file.package(), svc.name()), m.name().to_string());
                    }
                }
            }
        }
        for service in [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ] {
            add(service.to_string(), "ServerReflectionInfo".to_string());
        }
        (known, MethodMetrics::new("unknown", "unknown"))
    });
    known.get(path).unwrap_or(unknown)
}

/// Records the request's outcome once.
struct Done {
    method: &'static MethodMetrics,
    started: Instant,
}

impl Done {
    fn record(self, code: Code) {
        self.method.record(code, self.started.elapsed());
    }
}

/// A response body that records the status from its trailers (or CANCELLED when dropped
/// unfinished: the client went away or the stream was cut).
struct Watched {
    inner: tonic::body::Body,
    done: Option<Done>,
}

impl HttpBody for Watched {
    type Data = <tonic::body::Body as HttpBody>::Data;
    type Error = <tonic::body::Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(done) = self.done.take()
                {
                    done.record(super::status_code(trailers).unwrap_or(Code::Ok));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(done) = self.done.take() {
                    done.record(Code::Internal);
                }
            }
            Poll::Ready(None) => {
                if let Some(done) = self.done.take() {
                    done.record(Code::Ok);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            done.record(Code::Cancelled);
        }
    }
}
