//! Crash-safety check: rebuild the read model from the log in memory and compare it with
//! the stored read model (and, from the CLI, with a live server's index).

use crate::app::AppError;
use crate::domain::Change;
use crate::engine::Index;
use crate::store::{Store, StoreError};
use std::collections::BTreeSet;

/// What `verify` found.
#[derive(Debug)]
pub struct Report {
    /// The revision both sides were compared at.
    pub revision: u64,
    /// The index rebuilt from the log, up to `revision`.
    pub replayed: Index,
    /// Facts the log implies but the stored read model lacks.
    pub missing: Vec<String>,
    /// Facts the stored read model holds but the log does not imply.
    pub extra: Vec<String>,
}

fn facts(index: &Index) -> BTreeSet<String> {
    index.facts().iter().map(|f| format!("{f:?}")).collect()
}

/// Applies the log's events after `index`'s revision up to `to` (inclusive).
pub async fn replay(store: &Store, mut index: Index, to: u64) -> Result<Index, AppError> {
    let mut at = index.revision();
    index.begin_bulk();
    while at < to {
        let page = store.read_events(at, 1000.min((to - at) as u32), None).await?;
        if page.is_empty() {
            return Err(AppError::Store(StoreError::Corrupt(format!(
                "the log ends at {at}, before {to}"
            ))));
        }
        for e in &page {
            if e.position != at + 1 {
                return Err(AppError::Store(StoreError::Corrupt(format!(
                    "the log skips from {at} to {}",
                    e.position
                ))));
            }
            let change: Change = e.change().map_err(|err| {
                AppError::Store(StoreError::Corrupt(format!("event {} at {}: {err}", e.id, e.position)))
            })?;
            index.apply(&change);
            at = e.position;
        }
        index.set_revision(at);
    }
    index.end_bulk();
    Ok(index)
}

/// Rebuilds the read model from the log and compares it with the stored one, at the
/// stored read model's revision.
pub async fn verify_store(store: &Store) -> Result<Report, AppError> {
    let mut stored = Index::default();
    stored.begin_bulk();
    let revision = store.load_read_model(|c| stored.apply(&c)).await?;
    stored.end_bulk();
    stored.set_revision(revision);
    let replayed = replay(store, Index::default(), revision).await?;
    let (want, have) = (facts(&replayed), facts(&stored));
    Ok(Report {
        revision,
        missing: want.difference(&have).cloned().collect(),
        extra: have.difference(&want).cloned().collect(),
        replayed,
    })
}
