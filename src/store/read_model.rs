//! The read model loaded whole at start-up, in one snapshot, as the changes that rebuild
//! the index (start-up does not replay the log).
//!
//! The load uses the database's own driver on a connection of its own, not the `Any`
//! pools (which would first copy every value of every row into owned strings):
//! - PostgreSQL: every table is streamed row by row (never buffered whole) and decoded by
//!   column position into text borrowed from the row, which the index copies once.
//! - SQLite: sqlx hands each row from its worker thread to the async side, a thread wake
//!   per row that cost more than the row itself (2.9 µs a row, most of it context
//!   switches). So each query returns a page of 20,000 rows as one JSON array
//!   (`json_group_array`), keyed by `rowid`: one hand-off per page. A page is parsed row
//!   by row as the index takes the rows (no vector of a page's rows), its text borrowed
//!   from the page where JSON did not escape it.

use super::{Backend, Store, StoreError};
use crate::domain::constraint::Condition;
use crate::domain::{Action, Change, Conflict, EdgeSource, EntityKind, Id, Rule, RuleKind, Target};
use sqlx::{Connection, Row};
use tokio_stream::StreamExt;

/// Rows per SQLite page (one JSON array of this many rows at most).
const SQLITE_PAGE: i64 = 20_000;

fn role_change(id: &str) -> Change {
    Change::MarkRole {
        role: Id::from_trusted(id),
        subject: None,
    }
}

fn edge_change(account: &str, node: &str, role: &str, source: &str) -> Result<Change, StoreError> {
    let (node, role) = (Id::from_trusted(node), Id::from_trusted(role));
    Ok(if account.is_empty() {
        let source =
            EdgeSource::parse_stored(source).ok_or_else(|| StoreError::Corrupt(format!("edge source {source:?}")))?;
        Change::GlobalEdge {
            source,
            node,
            role,
            on: true,
        }
    } else {
        Change::AccountEdge {
            account: Id::from_trusted(account),
            node,
            role,
            on: true,
        }
    })
}

fn member_change(account: &str, agent: &str, role: &str) -> Change {
    Change::MemberSet {
        account: Id::from_trusted(account),
        agent: Id::from_trusted(agent),
        role: Id::from_trusted(role),
    }
}

fn rule_change(
    policy: &str,
    kind: &str,
    assignee: &str,
    action: &str,
    target: &str,
    condition: &str,
) -> Result<Change, StoreError> {
    let kind = RuleKind::parse_stored(kind).ok_or_else(|| StoreError::Corrupt(format!("rule kind {kind:?}")))?;
    let condition = if condition.is_empty() {
        None
    } else {
        let c = Condition::parse_stored("condition_json", condition)
            .map_err(|e| StoreError::Corrupt(format!("rule condition {condition:?}: {e}")))?;
        Some(std::sync::Arc::new(c))
    };
    Ok(Change::Rule {
        rule: Rule {
            policy: Id::from_trusted(policy),
            kind,
            assignee: Id::from_trusted(assignee),
            action: Action::from_trusted(action),
            target: Target::from_trusted(target),
            condition,
        },
        on: true,
    })
}

fn discharge_change(policy: &str, duty: &str, agent: &str) -> Change {
    Change::DutyDischarged {
        policy: Id::from_trusted(policy),
        duty: Id::from_trusted(duty),
        agent: Id::from_trusted(agent),
    }
}

fn asset_change(asset: &str, collection: &str) -> Change {
    Change::AssetCollection {
        asset: Id::from_trusted(asset),
        collection: Id::from_trusted(collection),
        on: true,
    }
}

fn type_change(policy: &str, policy_type: &str) -> Change {
    Change::PolicyCreated {
        policy: Id::from_trusted(policy),
        policy_type: Some(policy_type.to_string()),
        conflict: None,
    }
}

fn conflict_change(policy: &str, conflict: &str) -> Result<Change, StoreError> {
    let conflict = Conflict::parse_stored(conflict)
        .ok_or_else(|| StoreError::Corrupt(format!("conflict strategy {conflict:?}")))?;
    Ok(Change::PolicyCreated {
        policy: Id::from_trusted(policy),
        policy_type: None,
        conflict: Some(conflict),
    })
}

fn status_change(kind: &str, id: &str, active: i64) -> Result<Change, StoreError> {
    let kind = EntityKind::parse_stored(kind).ok_or_else(|| StoreError::Corrupt(format!("status kind {kind:?}")))?;
    Ok(Change::Status {
        kind,
        id: Id::from_trusted(id),
        active: active != 0,
    })
}

/// A value of a row read by [`sqlite_pages`]: text borrowed from the page's JSON where it
/// has no escapes (copied where it has), or an integer.
enum Cell<'a> {
    Text(std::borrow::Cow<'a, str>),
    Int(i64),
}

impl Cell<'_> {
    fn text(&self) -> Result<&str, StoreError> {
        match self {
            Cell::Text(t) => Ok(t),
            Cell::Int(n) => Err(StoreError::Corrupt(format!("text expected, found the number {n}"))),
        }
    }

    fn int(&self) -> Result<i64, StoreError> {
        match self {
            Cell::Int(n) => Ok(*n),
            Cell::Text(t) => Err(StoreError::Corrupt(format!("a number expected, found {t:?}"))),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Cell<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Cell<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(v.into()))
            }
            fn visit_str<E>(self, v: &str) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(v.to_owned().into()))
            }
            fn visit_string<E>(self, v: String) -> Result<Cell<'de>, E> {
                Ok(Cell::Text(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Cell<'de>, E> {
                Ok(Cell::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Cell<'de>, E> {
                i64::try_from(v).map(Cell::Int).map_err(E::custom)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// A page's rows handed to `each` as they are parsed (no vector of the page's rows); an
/// error of `each` stops the parse and is kept in `failed`.
struct Rows<'f, F, const N: usize> {
    each: &'f mut F,
    failed: &'f mut Option<StoreError>,
}

impl<'de, F, const N: usize> serde::de::DeserializeSeed<'de> for Rows<'_, F, N>
where
    F: FnMut([Cell<'de>; N]) -> Result<(), StoreError>,
    [Cell<'de>; N]: serde::Deserialize<'de>,
{
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, F, const N: usize> serde::de::Visitor<'de> for Rows<'_, F, N>
where
    F: FnMut([Cell<'de>; N]) -> Result<(), StoreError>,
    [Cell<'de>; N]: serde::Deserialize<'de>,
{
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "an array of rows of {N} values")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut rows: A) -> Result<(), A::Error> {
        while let Some(row) = rows.next_element::<[Cell<'de>; N]>()? {
            if let Err(e) = (self.each)(row) {
                *self.failed = Some(e);
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// Reads `table` in pages of rows as JSON arrays of its `N` `columns` (SQLite), calling
/// `each` on every row in `rowid` order with its values (text borrowed from the page).
/// The next page is asked for before this one's rows are handed out, so SQLite's worker
/// thread builds it while `each` runs (start-up then overlaps reading the database with
/// building the index, on two cores).
async fn sqlite_pages<const N: usize>(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    table: &str,
    columns: &str,
    mut each: impl FnMut([Cell<'_>; N]) -> Result<(), StoreError>,
) -> Result<(), StoreError>
where
    for<'de> [Cell<'de>; N]: serde::Deserialize<'de>,
{
    let sql = format!(
        "SELECT json_group_array(json_array({columns})), MAX(r) \
         FROM (SELECT rowid AS r, {columns} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)"
    );
    // The page's JSON is read from the row in place (a `String` copied megabytes a page
    // into freshly faulted memory).
    let page_after = |after: i64| {
        sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
            .bind(after)
            .bind(SQLITE_PAGE)
    };
    let mut after = 0i64;
    let mut page = page_after(after).fetch_one(&mut **tx).await?;
    loop {
        let Some(last) = page.try_get::<Option<i64>, _>(1)? else {
            return Ok(());
        };
        // Ask for the next page now: polled once, the query is on its way to the worker.
        let next = page_after(last).fetch_one(&mut **tx);
        tokio::pin!(next);
        let mut early = None;
        std::future::poll_fn(|cx| {
            if let std::task::Poll::Ready(r) = next.as_mut().poll(cx) {
                early = Some(r);
            }
            std::task::Poll::Ready(())
        })
        .await;
        let mut failed = None;
        let json: Option<&str> = page.try_get(0)?;
        let mut parser = serde_json::Deserializer::from_str(json.unwrap_or("[]"));
        let parsed = serde::de::DeserializeSeed::deserialize(
            Rows {
                each: &mut each,
                failed: &mut failed,
            },
            &mut parser,
        )
        .and_then(|()| parser.end());
        if let Some(e) = failed {
            return Err(e);
        }
        parsed.map_err(|e| StoreError::Corrupt(format!("{table} after rowid {after}: {e}")))?;
        page = match early {
            Some(r) => r?,
            None => next.await?,
        };
        after = last;
    }
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
                sqlite_pages(&mut tx, "roles", "id", |[id]| {
                    sink(role_change(id.text()?));
                    Ok(())
                })
                .await?;
                sqlite_pages(&mut tx, "role_edges", "account, node, role, source", |[a, n, r, s]| {
                    sink(edge_change(a.text()?, n.text()?, r.text()?, s.text()?)?);
                    Ok(())
                })
                .await?;
                sqlite_pages(&mut tx, "memberships", "account, agent, role", |[a, g, r]| {
                    sink(member_change(a.text()?, g.text()?, r.text()?));
                    Ok(())
                })
                .await?;
                sqlite_pages(
                    &mut tx,
                    "rules",
                    "policy, kind, assignee, action, target, condition_json",
                    |[p, k, a, c, t, cond]| {
                        sink(rule_change(
                            p.text()?,
                            k.text()?,
                            a.text()?,
                            c.text()?,
                            t.text()?,
                            cond.text()?,
                        )?);
                        Ok(())
                    },
                )
                .await?;
                // Types before statuses: a `Policy.Created` activates a policy with no
                // status, and every policy with a type has its status row after it.
                sqlite_pages(&mut tx, "policy_types", "policy, policy_type", |[p, t]| {
                    sink(type_change(p.text()?, t.text()?));
                    Ok(())
                })
                .await?;
                sqlite_pages(&mut tx, "policy_conflicts", "policy, conflict", |[p, c]| {
                    sink(conflict_change(p.text()?, c.text()?)?);
                    Ok(())
                })
                .await?;
                sqlite_pages(&mut tx, "duty_discharges", "policy, duty, agent", |[p, d, a]| {
                    sink(discharge_change(p.text()?, d.text()?, a.text()?));
                    Ok(())
                })
                .await?;
                sqlite_pages(&mut tx, "asset_collections", "asset, collection", |[a, c]| {
                    sink(asset_change(a.text()?, c.text()?));
                    Ok(())
                })
                .await?;
                sqlite_pages(&mut tx, "statuses", "kind, id, active", |[k, i, a]| {
                    sink(status_change(k.text()?, i.text()?, a.int()?)?);
                    Ok(())
                })
                .await?;
                tx.commit().await?;
                let _ = conn.close().await;
                head
            }
            Backend::Postgres => {
                // Rows are decoded into changes on a thread of their own, in batches through
                // a bounded channel, so decoding overlaps the build here (on two cores). Its
                // own thread, not a runtime worker: the allocator's pages it took are let go
                // when it ends (a worker kept them, ~12 MiB at a million rows, until it
                // happened to collect), and start-up's release returns them to the OS.
                let (send, mut receive) = tokio::sync::mpsc::channel::<Vec<Change>>(PG_BATCHES_AHEAD);
                let (done, finished) = tokio::sync::oneshot::channel();
                let url = self.url().to_string();
                std::thread::Builder::new()
                    .name("endocarp-pg-load".into())
                    .spawn(move || {
                        let read = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|e| StoreError::Unavailable(format!("the read model's reader: {e}")))
                            .and_then(|runtime| runtime.block_on(pg_changes(url, head_sql, send)));
                        let _ = done.send(read);
                    })
                    .map_err(|e| StoreError::Unavailable(format!("the read model's reader: {e}")))?;
                while let Some(batch) = receive.recv().await {
                    batch.into_iter().for_each(&mut sink);
                }
                finished
                    .await
                    .map_err(|_| StoreError::Corrupt("the read model's reader stopped".into()))??
            }
        };
        Ok(head as u64)
    }
}

/// Batches of changes the PostgreSQL reader may run ahead of the build by.
const PG_BATCHES_AHEAD: usize = 8;
/// Changes per batch sent from the PostgreSQL reader to the build.
const PG_BATCH: usize = 4096;

/// Changes decoded from PostgreSQL rows, sent on in batches of [`PG_BATCH`]. A closed
/// receiver ends the reading early (the load was abandoned).
struct Batches {
    batch: Vec<Change>,
    send: tokio::sync::mpsc::Sender<Vec<Change>>,
}

impl Batches {
    async fn push(&mut self, change: Change) -> Result<(), StoreError> {
        self.batch.push(change);
        if self.batch.len() >= PG_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), StoreError> {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(PG_BATCH));
        self.send
            .send(batch)
            .await
            .map_err(|_| StoreError::Corrupt("the read model's load was abandoned".into()))
    }
}

/// One row of a read-model table as the change that loads it.
type FromRow = fn(&sqlx::postgres::PgRow) -> Result<Change, StoreError>;

/// The read model's tables as PostgreSQL start-up reads them, in the order they are
/// applied (roles are marked before the edges that name them): a query and its row's change.
const PG_TABLES: [(&str, FromRow); 9] = [
    ("SELECT id FROM roles", |r| Ok(role_change(r.try_get(0)?))),
    ("SELECT account, node, role, source FROM role_edges", |r| {
        edge_change(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)
    }),
    ("SELECT account, agent, role FROM memberships", |r| {
        Ok(member_change(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
    }),
    (
        "SELECT policy, kind, assignee, action, target, condition_json FROM rules",
        |r| {
            let (p, k, a) = (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            rule_change(p, k, a, r.try_get(3)?, r.try_get(4)?, r.try_get(5)?)
        },
    ),
    ("SELECT policy, policy_type FROM policy_types", |r| {
        Ok(type_change(r.try_get(0)?, r.try_get(1)?))
    }),
    ("SELECT policy, conflict FROM policy_conflicts", |r| {
        conflict_change(r.try_get(0)?, r.try_get(1)?)
    }),
    ("SELECT policy, duty, agent FROM duty_discharges", |r| {
        Ok(discharge_change(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?))
    }),
    ("SELECT asset, collection FROM asset_collections", |r| {
        Ok(asset_change(r.try_get(0)?, r.try_get(1)?))
    }),
    ("SELECT kind, id, active FROM statuses", |r| {
        status_change(r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)
    }),
];

/// Reads the whole PostgreSQL read model in one REPEATABLE READ snapshot as changes, sent
/// to `send` in order; the log's head as of that snapshot.
async fn pg_changes(
    url: String,
    head_sql: &'static str,
    send: tokio::sync::mpsc::Sender<Vec<Change>>,
) -> Result<i64, StoreError> {
    let mut out = Batches {
        batch: Vec::with_capacity(PG_BATCH),
        send,
    };
    let mut conn = sqlx::postgres::PgConnection::connect(&url).await?;
    let mut tx = conn
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?;
    let head = sqlx::query_scalar(head_sql).fetch_one(&mut *tx).await?;
    for (sql, change) in PG_TABLES {
        let mut rows = sqlx::query(sql).fetch(&mut *tx);
        while let Some(row) = rows.next().await {
            out.push(change(&row?)?).await?;
        }
    }
    tx.commit().await?;
    let _ = conn.close().await;
    out.flush().await?;
    Ok(head)
}
