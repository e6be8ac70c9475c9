//! Storage: the event log, the read model and the audit log, on SQLite or PostgreSQL
//! through sqlx.
//!
//! Architecture invariant: only this module knows SQL. Appends are serialised (SQLite: one
//! writer connection and `BEGIN IMMEDIATE`; PostgreSQL: a transaction advisory lock held
//! until commit), each event's position is the previous maximum plus one
//! taken inside that lock, and the events, the read-model rows and the audit row commit
//! together or not at all. So positions have no gaps, commit in order, and the read model
//! always equals the log up to its head.

/// A struct whose fields are named as its columns, with `sqlx::FromRow` over `AnyRow`
/// (what `#[derive(sqlx::FromRow)]` writes; the derive's crate would compile both database
/// drivers a second time, for the compiler's host).
macro_rules! row_struct {
    ($(#[$m:meta])* $vis:vis struct $ty:ident {
        $($(#[$fm:meta])* $fvis:vis $field:ident : $t:ty),* $(,)?
    }) => {
        $(#[$m])* $vis struct $ty { $($(#[$fm])* $fvis $field: $t),* }

        impl<'r> sqlx::FromRow<'r, sqlx::any::AnyRow> for $ty {
            fn from_row(row: &'r sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
                use sqlx::Row;
                Ok($ty { $($field: row.try_get(stringify!($field))?),* })
            }
        }
    };
}

mod append;
mod connect;
mod delta;
mod migrations;
mod queries;
mod read_model;

pub use connect::{Backend, LogListener, NOTIFY_CHANNEL, Store};

use crate::domain::DomainError;
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeMap;

/// Who made an admin change and why, written with its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The credential's name; never a field the caller writes.
    pub actor: String,
    /// The RPC or command, e.g. `GrantPermission`.
    pub action: String,
    pub correlation_id: String,
}

/// One row of the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub correlation_id: String,
    pub event_ids: Vec<String>,
    pub revision: u64,
    /// What the change did less than it may seem to (edges a revoke left held), or empty.
    pub note: String,
}

/// What an append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The revision at which the whole batch is stored (for a batch of duplicates only,
    /// the highest position at which they were stored before).
    pub revision: u64,
    /// The id of every event, in batch order (generated ones included).
    pub ids: Vec<String>,
    /// How many events were new (the rest were de-duplicated).
    pub appended: usize,
    /// Edges a revoke in the batch ended for its own source but that other facts still
    /// hold (read at the end of the batch, inside its transaction).
    pub still_held: Vec<StillHeld>,
    /// The appended events as the log now holds them, in position order (the
    /// de-duplicated ones left out): what a read of the log after the append returns.
    pub stored: Vec<crate::domain::StoredEvent>,
}

/// An edge that a revoke did not end, and the facts that still hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StillHeld {
    pub node: String,
    pub role: String,
    /// Empty for the global edge.
    pub account: String,
    /// `role`, `group`, `role-to-role` (global facts), `account`, `membership` (facts in
    /// `account`).
    pub sources: Vec<String>,
}

impl std::fmt::Display for StillHeld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} -> {:?}", self.node, self.role)?;
        if !self.account.is_empty() {
            write!(f, " in account {:?}", self.account)?;
        }
        write!(f, " is still held by: {}", self.sources.join(", "))
    }
}

row_struct! {
/// A global or account edge as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRow {
    /// Empty for a global edge.
    pub account: String,
    pub node: String,
    pub role: String,
    pub source: String,
}
}

row_struct! {
/// A membership as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    pub account: String,
    pub agent: String,
    pub role: String,
}
}

/// A rule as listed by the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    pub policy: String,
    pub kind: String,
    pub assignee: String,
    pub action: String,
    pub target: String,
    /// The canonical JSON of the rule's constraints; empty: none.
    pub condition: String,
    pub policy_active: bool,
    /// The policy's type as a full IRI; empty: none given (a Set).
    pub policy_type: String,
    /// The policy's conflict strategy as stored (`perm`, `prohibit`, `invalid`); empty:
    /// none given (prohibit).
    pub policy_conflict: String,
}

/// Storage failures, typed until the gRPC edge maps them.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("event id {id:?} is already stored with different content")]
    AlreadyExists { id: String },
    #[error("events[{index}]: expected version {expected} of aggregate {aggregate:?}, but it is at {actual}")]
    VersionConflict {
        index: usize,
        aggregate: String,
        expected: i64,
        actual: i64,
    },
    #[error("{0}")]
    Invalid(#[from] DomainError),
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
    /// The database refused to grow (SQLite `SQLITE_FULL`, PostgreSQL `53100 disk_full`).
    #[error(
        "the database's disk is full ({location}): writes fail until space is freed, then resume by themselves; decisions continue from memory"
    )]
    DiskFull { location: String },
}

impl StoreError {
    /// A failure of the storage itself (not a refusal of the input): the connection that
    /// saw it is not reused, and it is counted and shown in `endocarp status`.
    pub fn is_fault(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::Corrupt(_) | StoreError::DiskFull { .. }
        )
    }
}

/// SQLite's `SQLITE_FULL` (13) and PostgreSQL's `disk_full` (53100).
fn is_disk_full(db: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(db.code().as_deref(), Some("13" | "53100"))
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.message().contains("append-only") => {
                StoreError::Corrupt(db.message().to_string())
            }
            // Where it happened is filled in by the store, which knows its location.
            sqlx::Error::Database(db) if is_disk_full(db.as_ref()) => StoreError::DiskFull {
                location: String::new(),
            },
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => {
                StoreError::Corrupt(e.to_string())
            }
            // Busy or locked databases, I/O, closed or exhausted pools: the storage is not
            // usable right now; the caller may retry.
            _ => StoreError::Unavailable(e.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        StoreError::Unavailable(format!("migration failed: {e}"))
    }
}

/// Timestamps are stored as RFC 3339 text (UTC, microseconds): portable across both
/// databases and ordered as text.
fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("timestamp {s:?}: {e}")))
}

fn json_map(s: &str) -> Result<BTreeMap<String, String>, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("stored JSON {s:?}: {e}")))
}
