//! Use cases: checks with consistency and staleness, admin commands, appends, reads and
//! watches; and the projector that keeps this replica's index current.
//!
//! Architecture invariant: this layer knows neither protobuf nor SQL. It takes domain
//! values from the transport, calls the store and the pure engine, and returns domain
//! values or an [`AppError`], which the gRPC layer maps to a status in one place.

pub mod projector;
pub mod service;
pub mod verify;

pub use projector::Projector;
pub use service::{App, AppSettings, CallContext, Consistency};

use crate::domain::DomainError;
use crate::engine::EngineError;
use crate::store::StoreError;

/// Every way a use case can fail. None of them is ever an allow.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Invalid(#[from] DomainError),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists { .. } => AppError::AlreadyExists(e.to_string()),
            StoreError::VersionConflict { .. } => AppError::Conflict(e.to_string()),
            StoreError::Invalid(d) => AppError::Invalid(d),
            StoreError::Unavailable(_) => {
                crate::metrics::storage_error("request");
                AppError::Unavailable(e.to_string())
            }
            StoreError::Corrupt(_) => {
                crate::metrics::storage_error("request");
                AppError::Internal(e.to_string())
            }
        }
    }
}

impl From<EngineError> for AppError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::AgentIsRole(_) => AppError::Invalid(DomainError::new("agent_id", e.to_string())),
            EngineError::ClosureTooLarge { .. } => AppError::ResourceExhausted(e.to_string()),
            EngineError::Casbin(_) | EngineError::CasbinNotProjected | EngineError::EnginesDisagree { .. } => {
                AppError::Internal(e.to_string())
            }
        }
    }
}
