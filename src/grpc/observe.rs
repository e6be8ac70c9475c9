//! The outermost layer on both gRPC ports: a request id, a `tracing` span per request,
//! and the request counters and latency histograms.
//!
//! The request id is the caller's `x-request-id` metadata when it is a sane value (at most
//! 128 printable ASCII bytes), otherwise a new ULID, kept in the request's extensions (the
//! audit log's correlation id falls back to it); either way it is returned in the response
//! headers. The
//! status code is read where gRPC puts it: in the headers of a trailers-only response, or
//! in the trailers at the end of the body; a body dropped before its end counts as
//! CANCELLED.

use http::HeaderValue;
use http_body::{Body as HttpBody, Frame};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Instrument;

pub const REQUEST_ID: &str = "x-request-id";

tokio::task_local! {
    /// The request id of the call this task is serving (set by [`Observe`]).
    static CURRENT_REQUEST_ID: String;
}

/// The id of the request being served, for messages that point a caller at the log.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}

/// The request id this layer made up because the caller sent none (or a bad one).
#[derive(Debug, Clone)]
pub struct GeneratedRequestId(pub String);

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ObserveLayer;

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for Observe<S>
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
        let started = Instant::now();
        let (service, method) = split_path(req.uri().path());
        let given = req
            .headers()
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
            .map(str::to_string);
        let id = match given {
            Some(id) => id,
            None => {
                // A bad or missing id is replaced; handlers find the new one in the extensions.
                req.headers_mut().remove(REQUEST_ID);
                let id = ulid::Ulid::generate().to_string();
                req.extensions_mut().insert(GeneratedRequestId(id.clone()));
                id
            }
        };
        let header = HeaderValue::from_str(&id).ok();
        let span = tracing::info_span!("grpc", %service, %method, request_id = %id);
        let call = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        let call = CURRENT_REQUEST_ID.scope(id, call);
        Box::pin(
            async move {
                let mut response = call.await?;
                if let Some(h) = header {
                    response.headers_mut().insert(REQUEST_ID, h);
                }
                let done = Done {
                    service,
                    method,
                    started,
                };
                // Trailers-only responses (every error tonic returns) carry the status here.
                if let Some(code) = super::status_code_name(response.headers()) {
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

/// `/endocarp.v1.AuthorizationService/IsAuthorized` → (`endocarp.v1.AuthorizationService`,
/// `IsAuthorized`). Only methods the server serves get their own labels (read from the
/// compiled descriptors); anything else is `unknown`, so a caller cannot grow the series.
fn split_path(path: &str) -> (&'static str, &'static str) {
    static KNOWN: OnceLock<HashMap<String, (&'static str, &'static str)>> = OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        let mut known = HashMap::new();
        let mut add = |service: String, method: String| {
            let path = format!("/{service}/{method}");
            let names: (&'static str, &'static str) = (service.leak(), method.leak());
            known.insert(path, names);
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
        known
    });
    known.get(path).copied().unwrap_or(("unknown", "unknown"))
}

/// Records the request's outcome once.
struct Done {
    service: &'static str,
    method: &'static str,
    started: Instant,
}

impl Done {
    fn record(self, code: &'static str) {
        use crate::metrics as m;
        metrics::counter!(m::GRPC_REQUESTS, "grpc_service" => self.service, "grpc_method" => self.method, "grpc_code" => code)
            .increment(1);
        metrics::histogram!(m::GRPC_DURATION, "grpc_service" => self.service, "grpc_method" => self.method)
            .record(self.started.elapsed().as_secs_f64());
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
                    done.record(super::status_code_name(trailers).unwrap_or("OK"));
                }
            }
            Poll::Ready(Some(Err(_))) => {
                if let Some(done) = self.done.take() {
                    done.record("INTERNAL");
                }
            }
            Poll::Ready(None) => {
                if let Some(done) = self.done.take() {
                    done.record("OK");
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
            done.record("CANCELLED");
        }
    }
}
