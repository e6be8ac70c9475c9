//! The read model loaded whole at start-up, in one snapshot, as the changes that rebuild
//! the index (start-up does not replay the log).
//!
//! The load uses the database's own driver on a connection of its own, not the `Any`
//! pools: every table is streamed row by row (never buffered whole) and decoded by column
//! position into text borrowed from the row, which the index copies once into its own ids
//! — `Any` would first copy every value of every row into owned strings.

use super::{Backend, Store, StoreError};
use crate::domain::{Action, Change, EdgeSource, EntityKind, Id, Rule, RuleKind, Target};
use sqlx::{Connection, Row};
use tokio_stream::StreamExt;

/// Streams every read-model table through `tx` (a transaction of either driver) into
/// `sink`; the code is the same for both, the row types are not.
macro_rules! stream_tables {
    ($tx:ident, $sink:ident) => {{
        // Each table is streamed row by row (never buffered whole) and decoded by column
        // position into borrowed text, which the index copies once into its own ids.
        {
            let mut rows = sqlx::query("SELECT id FROM roles").fetch(&mut *$tx);
            while let Some(row) = rows.next().await {
                let row = row?;
                $sink(Change::MarkRole {
                    role: Id::from_trusted(row.try_get(0)?),
                    subject: None,
                });
            }
        }
        {
            let mut rows = sqlx::query("SELECT account, node, role, source FROM role_edges").fetch(&mut *$tx);
            while let Some(row) = rows.next().await {
                let row = row?;
                let account: &str = row.try_get(0)?;
                let node = Id::from_trusted(row.try_get(1)?);
                let role = Id::from_trusted(row.try_get(2)?);
                let source: &str = row.try_get(3)?;
                if account.is_empty() {
                    let source = EdgeSource::parse_stored(source)
                        .ok_or_else(|| StoreError::Corrupt(format!("edge source {source:?}")))?;
                    $sink(Change::GlobalEdge {
                        source,
                        node,
                        role,
                        on: true,
                    });
                } else {
                    $sink(Change::AccountEdge {
                        account: Id::from_trusted(account),
                        node,
                        role,
                        on: true,
                    });
                }
            }
        }
        {
            let mut rows = sqlx::query("SELECT account, agent, role FROM memberships").fetch(&mut *$tx);
            while let Some(row) = rows.next().await {
                let row = row?;
                $sink(Change::MemberSet {
                    account: Id::from_trusted(row.try_get(0)?),
                    agent: Id::from_trusted(row.try_get(1)?),
                    role: Id::from_trusted(row.try_get(2)?),
                });
            }
        }
        {
            let mut rows = sqlx::query("SELECT policy, kind, assignee, action, target FROM rules").fetch(&mut *$tx);
            while let Some(row) = rows.next().await {
                let row = row?;
                let kind: &str = row.try_get(1)?;
                let kind =
                    RuleKind::parse_stored(kind).ok_or_else(|| StoreError::Corrupt(format!("rule kind {kind:?}")))?;
                $sink(Change::Rule {
                    rule: Rule {
                        policy: Id::from_trusted(row.try_get(0)?),
                        kind,
                        assignee: Id::from_trusted(row.try_get(2)?),
                        action: Action::from_trusted(row.try_get(3)?),
                        target: Target::from_trusted(row.try_get(4)?),
                    },
                    on: true,
                });
            }
        }
        {
            let mut rows = sqlx::query("SELECT kind, id, active FROM statuses").fetch(&mut *$tx);
            while let Some(row) = rows.next().await {
                let row = row?;
                let kind: &str = row.try_get(0)?;
                let kind = EntityKind::parse_stored(kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("status kind {kind:?}")))?;
                $sink(Change::Status {
                    kind,
                    id: Id::from_trusted(row.try_get(1)?),
                    active: row.try_get::<i64, _>(2)? != 0,
                });
            }
        }
    }};
}

impl Store {
    /// Reads the whole read model in one snapshot: its revision and every fact as a change.
    /// Start-up applies these instead of replaying the log.
    pub async fn load_read_model(&self, mut sink: impl FnMut(Change)) -> Result<u64, StoreError> {
        // One snapshot: SQLite read transactions are; PostgreSQL needs REPEATABLE READ (its
        // default, READ COMMITTED, would let each SELECT see later commits than `head`).
        // The connection is this load's own and is closed after it, whatever happened.
        let head_sql = "SELECT COALESCE(MAX(position), 0) FROM events";
        let head: i64 = match self.backend {
            Backend::Sqlite => {
                let url = super::connect::with_param(self.url(), "mode", "ro");
                let mut conn = sqlx::sqlite::SqliteConnection::connect(&url).await?;
                let mut tx = conn.begin().await?;
                let head = sqlx::query_scalar(head_sql).fetch_one(&mut *tx).await?;
                stream_tables!(tx, sink);
                tx.commit().await?;
                let _ = conn.close().await;
                head
            }
            Backend::Postgres => {
                let mut conn = sqlx::postgres::PgConnection::connect(self.url()).await?;
                let mut tx = conn
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?;
                let head = sqlx::query_scalar(head_sql).fetch_one(&mut *tx).await?;
                stream_tables!(tx, sink);
                tx.commit().await?;
                let _ = conn.close().await;
                head
            }
        };
        Ok(head as u64)
    }
}
