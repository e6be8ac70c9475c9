//! Triple events: the catalogue of docs/CONTRACT.md §2, the change each one makes, and the
//! envelope a caller submits or the log holds.
//!
//! The event type decides the meaning; the predicate must be the one the catalogue gives
//! for that type and the subject (or the `account` payload) must equal the aggregate id.
//! Parsing an event yields its canonical form (full IRIs, only the payload keys its type
//! uses) and the [`Change`] it makes to the read model.

mod catalogue;
mod change;
mod triple;

pub use catalogue::{EventType, is_ignored_type};
pub use change::{Change, EdgeSource, EntityKind};
pub use triple::Triple;

use crate::domain::DomainError;
use crate::domain::id::check_text;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Most metadata entries an event may carry.
pub const MAX_METADATA_ENTRIES: usize = 32;
/// Most payload attributes an event may carry.
pub const MAX_ATTRIBUTES: usize = 32;
/// Longest metadata or attribute key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Longest metadata or attribute value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// Longest condition attribute (`constraint`, `refinement`, `duty`, `remedy`), in bytes:
/// ODRL policies written by tools spell time windows out (one of the SolidLab cases is an
/// `or` of 250 windows, about 60 KB).
pub const MAX_CONDITION_BYTES: usize = 128 * 1024;
/// The attributes that hold a rule's condition as JSON.
pub const CONDITION_ATTRIBUTES: [&str; 4] = ["constraint", "duty", "refinement", "remedy"];

/// An event as a caller submits it, before the store assigns position and sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// None: the store generates a time-sortable id.
    pub id: Option<String>,
    /// Canonical triple (full IRIs, only the payload keys the type uses).
    pub triple: Triple,
    pub timestamp: Option<DateTime<Utc>>,
    pub expected_version: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    /// What applying it does.
    pub change: Change,
}

impl NewEvent {
    /// Parses an event as submitted. `triple` may use CURIEs; the result is canonical.
    pub fn parse(
        id: &str,
        triple: &Triple,
        timestamp: Option<DateTime<Utc>>,
        expected_version: Option<i64>,
        metadata: BTreeMap<String, String>,
    ) -> Result<NewEvent, DomainError> {
        let id = if id.is_empty() {
            None
        } else {
            check_text("id", id)?;
            Some(id.to_string())
        };
        if let Some(v) = expected_version
            && v < 0
        {
            return Err(DomainError::new("expected_version", "must not be negative"));
        }
        check_map("attributes", &triple.payload, MAX_ATTRIBUTES)?;
        check_map("metadata", &metadata, MAX_METADATA_ENTRIES)?;
        let (canon, change) = triple.interpret()?;
        Ok(NewEvent {
            id,
            triple: canon,
            timestamp,
            expected_version,
            metadata,
            change,
        })
    }
}

fn check_map(field: &str, map: &BTreeMap<String, String>, max: usize) -> Result<(), DomainError> {
    if map.len() > max {
        return Err(DomainError::new(
            field,
            format!("has {} entries; the limit is {max}", map.len()),
        ));
    }
    for (k, v) in map {
        if k.is_empty() || k.len() > MAX_KEY_BYTES {
            return Err(DomainError::new(field, format!("keys must be 1-{MAX_KEY_BYTES} bytes")));
        }
        let limit = if field == "attributes" && CONDITION_ATTRIBUTES.contains(&k.as_str()) {
            MAX_CONDITION_BYTES
        } else {
            MAX_VALUE_BYTES
        };
        if v.len() > limit {
            return Err(DomainError::new(
                format!("{field}.{k}"),
                format!("is {} bytes; the limit is {limit}", v.len()),
            ));
        }
    }
    Ok(())
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub id: String,
    pub triple: Triple,
    pub timestamp: DateTime<Utc>,
    /// Per aggregate, from 1.
    pub sequence_no: i64,
    pub metadata: BTreeMap<String, String>,
    /// Global revision, from 1, without gaps.
    pub position: u64,
}

impl StoredEvent {
    /// The change this stored event makes. It was checked when it was appended, so an
    /// error here means the log holds something this version cannot interpret.
    pub fn change(&self) -> Result<Change, DomainError> {
        self.triple.interpret().map(|(_, c)| c)
    }
}

#[cfg(test)]
mod tests;
