//! Use cases: checks with consistency and staleness, admin commands, appends, reads and
//! watches; and the projector that keeps this replica's index current.
//!
//! Architecture invariant: this layer knows neither protobuf nor SQL. It takes domain
//! values from the transport, calls the store and the pure engine, and returns domain
//! values or an [`AppError`], which the gRPC layer maps to a status in one place.

pub mod faults;
pub mod lookups;
pub mod projector;
pub mod service;
pub mod verify;

pub use projector::Projector;
pub use service::{App, AppSettings, CallContext, Consistency};

use crate::domain::DomainError;
use crate::engine::EngineError;
use crate::store::StoreError;
use std::time::Duration;

/// Every way a use case can fail, by cause; `grpc::status` maps each to a status code in
/// one exhaustive match. None of them is ever an allow.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that breaks a rule of the contract, with the field at fault.
    #[error(transparent)]
    Invalid(#[from] DomainError),
    /// The store refused or failed (a reused id, a version conflict, storage down, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine could not decide (an agent that is a role, a closure over the limit, …).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// This replica's data is older than `max_staleness`: it refuses to decide.
    #[error(
        "this replica's data is {} ms old, over max_staleness ({} ms); retry or use another replica",
        age.as_millis(),
        limit.as_millis()
    )]
    Stale { age: Duration, limit: Duration },
    /// A consistency token was not met before the deadline.
    #[error(
        "the consistency token was not met in time (wanted revision {wanted}, applied {applied}); retry, or use another replica"
    )]
    ConsistencyTimeout { wanted: u64, applied: u64 },
    /// A write was stored, yet reading the log back ended before it: an invariant of the
    /// store is broken.
    #[error("revision {stored} is stored but the log read back only to {read_back}")]
    LogShort { stored: u64, read_back: u64 },
    /// The caller is not authenticated, not allowed, or over a limit.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// A look-up's page token can no longer be served here (too old, another replica's,
    /// or its revision is no longer kept): the look-up must start again.
    #[error("{0}")]
    PageExpired(String),
    /// The call ran past the server's request timeout (`--request-timeout`).
    #[error("the call ran past the server's request timeout ({} ms)", .0.as_millis())]
    RequestTimeout(Duration),
}

/// Why the authentication layer refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential, or one that is not valid.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid credential without the scope the method needs (or not on the allow-list).
    #[error("{0}")]
    PermissionDenied(String),
    /// Over a per-port or per-caller limit.
    #[error("{0}")]
    OverLimit(String),
}
