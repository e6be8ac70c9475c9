//! The gRPC transport: generated protobuf types, the three services, conversions between
//! protobuf and domain values, and the one mapping from errors to `tonic::Status`.
//!
//! API boundary: only this module (and the CLI client built on it) knows protobuf.
//! Requests are converted to domain values once, here, at the edge.

pub mod admin;
pub mod auth;
pub mod coalesce;
pub mod convert;
pub mod decision;
pub mod events;
pub mod net;
pub mod observe;
pub mod tls;

/// Generated protobuf and gRPC code for package `endocarp.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("endocarp.v1");
    /// Encoded descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/endocarp_descriptor.bin"));
}

use crate::app::{AppError, AuthError, CallContext};
use crate::domain::DomainError;
use crate::telemetry::LogThrottle;
use std::time::{Duration, Instant};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The one place errors become gRPC statuses. A deny is never an error, and no error is
/// ever an allow: callers treat every non-OK status as deny.
///
/// Invalid input carries a `google.rpc.BadRequest` field violation naming the field.
/// Internal and storage causes are logged here with the request id and reach the client
/// as a fixed message with that id, never as raw database text. Refusals are logged at
/// most once a second (authentication refusals are logged by the layer that refused).
pub fn status(e: AppError) -> Status {
    use crate::engine::EngineError as E;
    use crate::store::StoreError as S;
    static REFUSALS: LogThrottle = LogThrottle::per_second();
    let refused = |code: Code, e: &AppError| {
        if let Some(n) = REFUSALS.tick() {
            let request_id = observe::current_request_id().unwrap_or_default();
            tracing::warn!(code = ?code, %request_id, reason = %e, rejected_so_far = n, "request refused (logged at most once a second)");
        }
        Status::new(code, e.to_string())
    };
    let invalid = |field: &str, reason: String| {
        let message = format!("{field}: {reason}");
        if let Some(n) = REFUSALS.tick() {
            let request_id = observe::current_request_id().unwrap_or_default();
            tracing::warn!(code = "INVALID_ARGUMENT", %request_id, reason = %message, rejected_so_far = n, "request refused (logged at most once a second)");
        }
        let details = ErrorDetails::with_bad_request_violation(field, reason);
        Status::with_error_details(Code::InvalidArgument, message, details)
    };
    // The cause goes to the log; the client gets what it can act on and the id to quote.
    let hidden = |code: Code, what: &str, e: &AppError| {
        let id = observe::current_request_id().unwrap_or_default();
        tracing::error!(request_id = %id, error = %e, "{what}");
        Status::new(
            code,
            format!("{what}; the server log has the cause under request id {id:?}"),
        )
    };
    match &e {
        AppError::Invalid(d) | AppError::Store(S::Invalid(d)) => invalid(&d.field, d.reason.clone()),
        AppError::Engine(inner @ E::AgentIsRole(_)) => invalid("agent_id", inner.to_string()),
        AppError::Store(S::AlreadyExists { .. }) => refused(Code::AlreadyExists, &e),
        AppError::Store(S::VersionConflict { .. }) => refused(Code::Aborted, &e),
        AppError::Store(S::Unavailable(_)) => hidden(Code::Unavailable, "storage unavailable", &e),
        AppError::Store(S::Corrupt(_)) => hidden(Code::Internal, "stored data cannot be read", &e),
        // RESOURCE_EXHAUSTED is gRPC's code for an exhausted file system; the message is
        // ours (where, and that writes resume by themselves), never the database's text.
        AppError::Store(S::DiskFull { .. }) => {
            static FULL: LogThrottle = LogThrottle::per_second();
            if let Some(n) = FULL.tick() {
                let id = observe::current_request_id().unwrap_or_default();
                tracing::error!(request_id = %id, error = %e, refused_so_far = n, "write refused: disk full (logged at most once a second)");
            }
            Status::new(Code::ResourceExhausted, e.to_string())
        }
        AppError::Engine(E::ClosureTooLarge { .. } | E::TargetClosureTooLarge { .. }) => {
            refused(Code::ResourceExhausted, &e)
        }
        // Never served (snapshots are published after their load ends): a bug if seen.
        AppError::Engine(E::Loading) => hidden(Code::Unavailable, "the index is still loading", &e),
        AppError::Engine(E::Casbin(_) | E::CasbinNotProjected | E::EnginesDisagree { .. }) => {
            hidden(Code::Internal, "the decision engine failed", &e)
        }
        AppError::LogShort { .. } => hidden(Code::Internal, "internal error", &e),
        AppError::Stale { .. } => Status::new(Code::Unavailable, e.to_string()),
        AppError::RequestTimeout(_) => Status::new(Code::Cancelled, e.to_string()),
        AppError::PageExpired(_) => refused(Code::FailedPrecondition, &e),
        AppError::ConsistencyTimeout { .. } => Status::new(Code::DeadlineExceeded, e.to_string()),
        AppError::Auth(a) => match a {
            AuthError::Unauthenticated(_) => Status::new(Code::Unauthenticated, e.to_string()),
            AuthError::PermissionDenied(_) => Status::new(Code::PermissionDenied, e.to_string()),
            AuthError::OverLimit(_) => Status::new(Code::ResourceExhausted, e.to_string()),
        },
    }
}

/// Input errors found while converting a request.
pub fn invalid(e: DomainError) -> Status {
    status(AppError::Invalid(e))
}

/// The deadline the caller set with `grpc-timeout`, if any.
pub fn deadline<T>(req: &tonic::Request<T>) -> Option<Instant> {
    // A parsed key: a `&str` key is parsed as a header name on every look-up.
    static GRPC_TIMEOUT: std::sync::LazyLock<tonic::metadata::AsciiMetadataKey> =
        std::sync::LazyLock::new(|| tonic::metadata::AsciiMetadataKey::from_static("grpc-timeout"));
    let raw = req.metadata().get(&*GRPC_TIMEOUT)?.to_str().ok()?;
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
            } else {
                // The call's own id, made up now: the response then carries it.
                observe::current_request_id().unwrap_or_else(|| ulid::Ulid::generate().to_string())
            }
        });
    // The authentication layer put the caller there; the caller's own fields never decide it.
    let actor = req
        .extensions()
        .get::<auth::Principal>()
        .map_or_else(|| crate::LOCAL_ACTOR.to_string(), |p| p.0.clone());
    CallContext { actor, correlation_id }
}

/// The status code a response carries in `headers` (trailers-only responses) or
/// trailers, for the request metrics.
pub fn status_code(headers: &http::HeaderMap) -> Option<Code> {
    const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");
    let v = headers.get(GRPC_STATUS)?;
    Some(Code::from_bytes(v.as_bytes()))
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
