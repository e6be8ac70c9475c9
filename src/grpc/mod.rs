//! The gRPC transport: generated protobuf types, the three services, conversions between
//! protobuf and domain values, and the one mapping from errors to `tonic::Status`.
//!
//! API boundary: only this module (and the CLI client built on it) knows protobuf.
//! Requests are converted to domain values once, here, at the edge.

pub mod admin;
pub mod auth;
pub mod convert;
pub mod decision;
pub mod events;
pub mod observe;
pub mod tls;

/// Generated protobuf and gRPC code for package `endocarp.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("endocarp.v1");
    /// Encoded descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/endocarp_descriptor.bin"));
}

use crate::app::{AppError, CallContext};
use crate::domain::DomainError;
use std::time::{Duration, Instant};
use tonic::{Code, Status};

/// The one place errors become gRPC statuses. A deny is never an error, and no error is
/// ever an allow: callers treat every non-OK status as deny.
pub fn status(e: AppError) -> Status {
    let code = match &e {
        AppError::Invalid(_) => Code::InvalidArgument,
        AppError::AlreadyExists(_) => Code::AlreadyExists,
        AppError::Conflict(_) => Code::Aborted,
        AppError::ResourceExhausted(_) => Code::ResourceExhausted,
        AppError::DeadlineExceeded(_) => Code::DeadlineExceeded,
        AppError::Unavailable(_) => Code::Unavailable,
        AppError::Internal(_) => Code::Internal,
        AppError::Unauthenticated(_) => Code::Unauthenticated,
        AppError::PermissionDenied(_) => Code::PermissionDenied,
    };
    match code {
        Code::Internal => tracing::error!(error = %e, "internal error"),
        Code::InvalidArgument | Code::AlreadyExists | Code::Aborted | Code::ResourceExhausted => rejected(code, &e),
        _ => {}
    }
    Status::new(code, e.to_string())
}

/// Logs a refused request at warn, at most once a second (a flood cannot fill a disk);
/// the count says how many there were.
fn rejected(code: Code, e: &AppError) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    static LAST_SECOND: AtomicU64 = AtomicU64::new(0);
    let n = COUNT.fetch_add(1, Ordering::Relaxed) + 1;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_SECOND.load(Ordering::Relaxed);
    if now > last
        && LAST_SECOND
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(code = ?code, reason = %e, rejected_so_far = n, "request refused (logged at most once a second)");
    }
}

/// Input errors found while converting a request.
pub fn invalid(e: DomainError) -> Status {
    status(AppError::Invalid(e))
}

/// The deadline the caller set with `grpc-timeout`, if any.
pub fn deadline<T>(req: &tonic::Request<T>) -> Option<Instant> {
    let raw = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = raw.split_at(raw.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    let d = match unit {
        "H" => Duration::from_secs(n.saturating_mul(3600)),
        "M" => Duration::from_secs(n.saturating_mul(60)),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    };
    Instant::now().checked_add(d)
}

/// The caller, for the audit log: the credential's name, or the local, unauthenticated
/// operator when no credentials are configured (the admin port then binds loopback only).
pub fn call_context<T>(req: &tonic::Request<T>, request_id: &str) -> CallContext {
    let header = |k: &str| req.metadata().get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    let correlation_id = header("x-correlation-id")
        .or_else(|| header("x-request-id"))
        .filter(|c| !c.is_empty() && c.len() <= 256 && !c.chars().any(char::is_control))
        .unwrap_or_else(|| {
            if !request_id.is_empty() {
                request_id.to_string()
            } else if let Some(generated) = req.extensions().get::<observe::GeneratedRequestId>() {
                generated.0.clone()
            } else {
                ulid::Ulid::generate().to_string()
            }
        });
    // The authentication layer put the caller there; the caller's own fields never decide it.
    let actor = req
        .extensions()
        .get::<auth::Principal>()
        .map_or_else(|| crate::LOCAL_ACTOR.to_string(), |p| p.0.clone());
    CallContext { actor, correlation_id }
}

/// The status code name a response carries in `headers` (trailers-only responses) or
/// trailers, for the request metrics.
pub fn status_code_name(headers: &http::HeaderMap) -> Option<&'static str> {
    let v = headers.get("grpc-status")?;
    Some(code_name(Code::from_bytes(v.as_bytes())))
}

/// The canonical upper-case name of a gRPC code (as in the gRPC spec and grpcurl).
pub fn code_name(code: Code) -> &'static str {
    use Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
