//! Appends: one transaction per batch holding the writer lock (SQLite: the one writer
//! connection and `BEGIN IMMEDIATE`; PostgreSQL: a transaction advisory lock), with
//! de-duplication, `expected_version` per stream, gap-free positions, the read-model
//! update per change, the audit row and PostgreSQL's `NOTIFY` on commit.

use super::connect::KNOWN_ROLES_MAX;
use super::delta::{Delta, Param, fetch_text_rows, for_rows, placeholder};
use super::{AppendOutcome, AuditRecord, StillHeld, Store, StoreError, parse_ts, ts};
use crate::domain::{Change, Id, NewEvent, StoredEvent};
use chrono::{DateTime, Utc};
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row, Transaction};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// The advisory lock key that serialises PostgreSQL appends (any fixed number).
const APPEND_LOCK: i64 = 0x656e_646f_6361;

impl Store {
    /// Appends a batch atomically (docs/CONTRACT.md §2): de-duplication first, then each event's
    /// expected version, then gap-free positions; read model and audit in the same
    /// transaction.
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
        audit: Option<&AuditRecord>,
    ) -> Result<AppendOutcome, StoreError> {
        let ids: Vec<String> = events
            .iter()
            .map(|e| e.id.clone().unwrap_or_else(|| ulid::Ulid::generate().to_string()))
            .collect();

        let contents: Vec<String> = events.iter().map(|e| e.triple.content()).collect();

        // Within the batch: the same id twice must be the same content.
        let mut first: HashMap<&str, usize> = HashMap::new();
        let mut skip = vec![false; events.len()];
        for (i, id) in ids.iter().enumerate() {
            match first.get(id.as_str()) {
                Some(&j) if contents[j] == contents[i] => skip[i] = true,
                Some(_) => return Err(StoreError::AlreadyExists { id: id.clone() }),
                None => {
                    first.insert(id, i);
                }
            }
        }

        let mut conn = self.writer.acquire().await.map_err(|e| self.locate(e.into()))?;
        let result = self.append_on(&mut conn, &events, ids, &contents, skip, audit).await;
        if let Err(e) = &result
            && e.is_fault()
        {
            // After a failed statement or commit the connection may still be inside a
            // transaction (SQLite keeps it open when COMMIT hits a full disk) or be broken:
            // it never goes back to the pool. The pool opens a fresh one, set up alike, for
            // the next write, so writes resume by themselves once the fault is gone.
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        }
        let (mut outcome, placed) = result.map_err(|e| self.locate(e))?;
        // The appended events as a read of the log returns them, so that the writer can
        // apply them without reading them back.
        outcome.stored = events
            .into_iter()
            .zip(placed)
            .enumerate()
            .filter_map(|(i, (event, placed))| {
                let placed = placed?;
                Some(StoredEvent {
                    id: outcome.ids[i].clone(),
                    triple: event.triple,
                    timestamp: placed.timestamp,
                    sequence_no: placed.sequence_no,
                    metadata: event.metadata,
                    position: placed.position,
                })
            })
            .collect();
        Ok(outcome)
    }

    /// Names where the data lives in a full-disk error.
    fn locate(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::DiskFull { .. } => StoreError::DiskFull {
                location: self.location().to_string(),
            },
            other => other,
        }
    }

    /// The append's transaction on the writer connection, in a handful of statements
    /// whatever the batch's size: one look-up of the ids already stored, one of the
    /// streams' versions, the events in multi-row inserts, the read model's net change
    /// (see [`Delta`]), the audit row. Input refusals roll back explicitly; any other
    /// error leaves the transaction to the caller, which discards the connection.
    async fn append_on(
        &self,
        conn: &mut PoolConnection<Any>,
        events: &[NewEvent],
        ids: Vec<String>,
        contents: &[String],
        mut skip: Vec<bool>,
        audit: Option<&AuditRecord>,
    ) -> Result<(AppendOutcome, Vec<Option<Placed>>), StoreError> {
        let mut tx = match self.backend {
            super::Backend::Sqlite => sqlx::Connection::begin_with(&mut **conn, "BEGIN IMMEDIATE").await?,
            super::Backend::Postgres => {
                let mut tx = sqlx::Connection::begin(&mut **conn).await?;
                sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
                    .bind(APPEND_LOCK)
                    .execute(&mut *tx)
                    .await?;
                tx
            }
        };

        // De-duplication against the store: the same id must be the same content.
        // An id generated just now (a ULID: the time and 80 random bits) is in no stored
        // event, so only the ids the caller gave are looked up. Were one stored after all,
        // the log's unique index on ids would refuse the batch: never a lost event.
        let wanted: Vec<&str> = ids
            .iter()
            .zip(events)
            .zip(&skip)
            .filter(|((_, event), skipped)| !**skipped && event.id.is_some())
            .map(|((id, _), _)| id.as_str())
            .collect();
        let stored = stored_events(&mut tx, self.backend, &wanted).await?;
        let mut stored_max = 0u64;
        for (i, id) in ids.iter().enumerate() {
            if skip[i] {
                continue;
            }
            if let Some((content, position)) = stored.get(id.as_str()) {
                if *content != contents[i] {
                    return refuse(tx, StoreError::AlreadyExists { id: id.clone() }).await;
                }
                stored_max = stored_max.max(*position);
                skip[i] = true;
            }
        }

        // Streams are keyed by (aggregate kind, aggregate id): docs/CONTRACT.md §2.
        let streams: BTreeSet<(&str, &str)> = events
            .iter()
            .zip(&skip)
            .filter(|(_, skipped)| !**skipped)
            .map(|(e, _)| (e.triple.aggregate_kind(), e.triple.aggregate_id.as_str()))
            .collect();
        let mut versions = stream_versions(&mut tx, self.backend, &streams).await?;
        let mut head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let now = Utc::now();
        let mut placed: Vec<Option<Placed>> = Vec::with_capacity(events.len());
        let mut rows: Vec<EventRow> = Vec::new();
        let mut delta = Delta::default();
        let mut revoked: Vec<(&str, &Id, &Id)> = Vec::new();
        for (i, event) in events.iter().enumerate() {
            if skip[i] {
                placed.push(None);
                continue;
            }
            let t = &event.triple;
            let stream = (t.aggregate_kind(), t.aggregate_id.as_str());
            let current = versions.get(&stream).copied().unwrap_or(0);
            if let Some(expected) = event.expected_version
                && expected != current
            {
                let conflict = StoreError::VersionConflict {
                    index: i,
                    aggregate: format!("{} {}", stream.0, stream.1),
                    expected,
                    actual: current,
                };
                return refuse(tx, conflict).await;
            }
            versions.insert(stream, current + 1);
            head += 1;
            let timestamp = ts(&event.timestamp.unwrap_or(now));
            placed.push(Some(Placed {
                position: head as u64,
                sequence_no: current + 1,
                // Exactly what a read returns: the stored text, parsed.
                timestamp: parse_ts(&timestamp)?,
            }));
            rows.push(EventRow {
                position: head,
                id: &ids[i],
                kind: stream.0,
                sequence_no: current + 1,
                event,
                payload: serde_json::to_string(&t.payload).unwrap_or_default(),
                timestamp,
                metadata: serde_json::to_string(&event.metadata).unwrap_or_default(),
                content: &contents[i],
            });
            delta.add(&event.change);
            match &event.change {
                Change::GlobalEdge {
                    node, role, on: false, ..
                } => revoked.push(("", node, role)),
                Change::AccountEdge {
                    account,
                    node,
                    role,
                    on: false,
                } => revoked.push((account.as_str(), node, role)),
                _ => {}
            }
        }
        let appended = rows.len();
        insert_events(&mut tx, self.backend, &rows).await?;
        // The roles already known to be stored, copied out so no lock is held across the
        // statements.
        let known: HashSet<&str> = {
            let known_roles = self.known_roles.lock();
            delta.roles().filter(|r| known_roles.contains(*r)).collect()
        };
        delta.flush(&mut tx, self.backend, &known).await?;
        revoked.sort();
        revoked.dedup();
        let mut still_held = Vec::new();
        let holding = holders(&mut tx, self.backend, &revoked).await?;
        for ((account, node, role), sources) in revoked.into_iter().zip(holding) {
            if !sources.is_empty() {
                still_held.push(StillHeld {
                    node: node.to_string(),
                    role: role.to_string(),
                    account: account.to_string(),
                    sources,
                });
            }
        }
        let note = still_held.iter().map(|h| h.to_string()).collect::<Vec<_>>().join("; ");
        let revision = if appended > 0 { head as u64 } else { stored_max };
        if appended > 0
            && let Some(audit) = audit
        {
            sqlx::query(
                    "INSERT INTO audit (at, actor, action, correlation_id, event_ids, revision, note) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(ts(&now))
                .bind(&audit.actor)
                .bind(&audit.action)
                .bind(&audit.correlation_id)
                .bind(serde_json::to_string(&ids).unwrap_or_default())
                .bind(revision as i64)
                .bind(&note)
                .execute(&mut *tx)
                .await?;
        }
        if appended > 0 && self.backend == super::Backend::Postgres {
            // Delivered when the transaction commits, never before.
            sqlx::query("SELECT 1 FROM pg_notify($1, $2)")
                .bind(super::NOTIFY_CHANNEL)
                .bind(revision.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        {
            let mut known_roles = self.known_roles.lock();
            for role in delta.roles() {
                if known_roles.len() >= KNOWN_ROLES_MAX {
                    break;
                }
                if !known_roles.contains(role) {
                    known_roles.insert(role.to_string());
                }
            }
        }
        let outcome = AppendOutcome {
            revision,
            ids,
            appended,
            still_held,
            stored: Vec::new(),
        };
        Ok((outcome, placed))
    }
}

/// Ends a transaction whose input was refused: rolled back, so its connection goes back to
/// the pool clean (a failed rollback is a fault, and the caller discards the connection).
async fn refuse<T>(tx: Transaction<'_, Any>, e: StoreError) -> Result<T, StoreError> {
    tx.rollback().await?;
    Err(e)
}

/// For each revoked edge `node -> role` (in `account`, or globally when empty), the facts
/// that still hold it, by source name in byte order: the global sources always, and in an
/// account its explicit edge and then the member role. One statement for the edges and one
/// for the memberships per chunk of 400 keys, not two a revoked edge.
async fn holders(
    tx: &mut Transaction<'_, Any>,
    backend: super::Backend,
    revoked: &[(&str, &Id, &Id)],
) -> Result<Vec<Vec<String>>, StoreError> {
    use super::delta::Param::Text;
    if revoked.is_empty() {
        return Ok(Vec::new());
    }
    // The (account, node, role) keys an edge may be held under: global, and the account's.
    let mut keys: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    for &(account, node, role) in revoked {
        keys.insert(("", node.as_str(), role.as_str()));
        if !account.is_empty() {
            keys.insert((account, node.as_str(), role.as_str()));
        }
    }
    let keys: Vec<Vec<Param<'_>>> = keys.iter().map(|&(a, n, r)| vec![Text(a), Text(n), Text(r)]).collect();
    // PostgreSQL probes the index once a key: a LATERAL subquery is not made a join, so the
    // planner cannot choose a scan of the whole table. SQLite probes it for a row-value IN.
    let edges_sql = match backend {
        super::Backend::Postgres => {
            "SELECT t.account, t.node, t.role, t.source FROM (VALUES {rows}) AS v, LATERAL \
             (SELECT account, node, role, source FROM role_edges e \
              WHERE e.account = v.column1 AND e.node = v.column2 AND e.role = v.column3) AS t"
        }
        super::Backend::Sqlite => {
            "SELECT account, node, role, source FROM role_edges WHERE (account, node, role) IN (VALUES {rows})"
        }
    };
    let mut by_edge: HashMap<(String, String, String), Vec<String>> = HashMap::new();
    for row in fetch_text_rows(tx, backend, edges_sql, &keys).await? {
        let [account, node, role, source]: [String; 4] = row
            .try_into()
            .map_err(|_| StoreError::Corrupt("an edge row without four columns".into()))?;
        by_edge.entry((account, node, role)).or_default().push(source);
    }
    let members: Vec<Vec<Param<'_>>> = revoked
        .iter()
        .filter(|(account, ..)| !account.is_empty())
        .map(|&(a, n, r)| vec![Text(a), Text(n.as_str()), Text(r.as_str())])
        .collect();
    let members_sql = match backend {
        super::Backend::Postgres => {
            "SELECT v.column1, v.column2, v.column3 FROM (VALUES {rows}) AS v, LATERAL \
             (SELECT 1 FROM memberships m WHERE m.account = v.column1 AND m.agent = v.column2 \
              AND m.role = v.column3 LIMIT 1) AS held"
        }
        super::Backend::Sqlite => {
            "SELECT account, agent, role FROM memberships WHERE (account, agent, role) IN (VALUES {rows})"
        }
    };
    let member: BTreeSet<Vec<String>> = fetch_text_rows(tx, backend, members_sql, &members)
        .await?
        .into_iter()
        .collect();
    let key = |a: &str, n: &Id, r: &Id| (a.to_string(), n.to_string(), r.to_string());
    Ok(revoked
        .iter()
        .map(|&(account, node, role)| {
            let mut sources: Vec<String> = by_edge.get(&key("", node, role)).cloned().unwrap_or_default();
            if !account.is_empty() {
                sources.extend(by_edge.get(&key(account, node, role)).cloned().unwrap_or_default());
            }
            sources.sort();
            if !account.is_empty() && member.contains(&vec![account.to_string(), node.to_string(), role.to_string()]) {
                sources.push("membership".to_string());
            }
            sources
        })
        .collect())
}

/// Where an appended event went in the log.
struct Placed {
    position: u64,
    sequence_no: i64,
    timestamp: DateTime<Utc>,
}

/// One event as the `events` table stores it.
struct EventRow<'a> {
    position: i64,
    id: &'a str,
    kind: &'a str,
    sequence_no: i64,
    event: &'a NewEvent,
    payload: String,
    timestamp: String,
    metadata: String,
    content: &'a str,
}

/// The stored content and position of those of `ids` already in the log.
async fn stored_events(
    tx: &mut Transaction<'_, Any>,
    backend: super::Backend,
    ids: &[&str],
) -> Result<HashMap<String, (String, u64)>, StoreError> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| placeholder(backend, n)).collect();
        let sql = format!(
            "SELECT id, content, position FROM events WHERE id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in chunk {
            query = query.bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let id: String = row.try_get("id")?;
            let content: String = row.try_get("content")?;
            let position: i64 = row.try_get("position")?;
            found.insert(id, (content, position as u64));
        }
    }
    Ok(found)
}

/// The current version (highest sequence number) of each stream that has one.
async fn stream_versions<'s>(
    tx: &mut Transaction<'_, Any>,
    backend: super::Backend,
    streams: &BTreeSet<(&'s str, &'s str)>,
) -> Result<HashMap<(&'s str, &'s str), i64>, StoreError> {
    let streams: Vec<_> = streams.iter().copied().collect();
    let mut stored: HashMap<(String, String), i64> = HashMap::new();
    for chunk in streams.chunks(500) {
        let tuples: Vec<String> = (0..chunk.len())
            .map(|n| {
                format!(
                    "({}, {})",
                    placeholder(backend, 2 * n + 1),
                    placeholder(backend, 2 * n + 2)
                )
            })
            .collect();
        let sql = format!(
            // One index probe per stream (the stream's highest sequence number, read
            // backwards on the unique (kind, id, sequence) index), whatever the log's size;
            // a join against the whole log would grow with it.
            // (A VALUES list's columns are column1, column2 on both databases.)
            "SELECT s.column1 AS aggregate_kind, s.column2 AS aggregate_id, \
             (SELECT MAX(e.sequence_no) FROM events e WHERE e.aggregate_kind = s.column1 AND e.aggregate_id = s.column2) AS version \
             FROM (VALUES {}) AS s",
            tuples.join(", ")
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (kind, id) in chunk {
            query = query.bind(*kind).bind(*id);
        }
        for row in query.fetch_all(&mut **tx).await? {
            let kind: String = row.try_get("aggregate_kind")?;
            let id: String = row.try_get("aggregate_id")?;
            if let Some(version) = row.try_get::<Option<i64>, _>("version")? {
                stored.insert((kind, id), version);
            }
        }
    }
    Ok(streams
        .into_iter()
        .filter_map(|s| {
            let version = stored.get(&(s.0.to_string(), s.1.to_string()))?;
            Some((s, *version))
        })
        .collect())
}

/// Inserts the batch's events in multi-row statements.
async fn insert_events(
    tx: &mut Transaction<'_, Any>,
    backend: super::Backend,
    rows: &[EventRow<'_>],
) -> Result<(), StoreError> {
    use super::delta::Param::{Int, Text};
    let params: Vec<Vec<Param<'_>>> = rows
        .iter()
        .map(|r| {
            let t = &r.event.triple;
            vec![
                Int(r.position),
                Text(r.id),
                Text(r.kind),
                Text(&t.aggregate_id),
                Int(r.sequence_no),
                Text(&t.event_type),
                Text(&t.subject),
                Text(&t.predicate),
                Text(&t.object),
                Text(&r.payload),
                Text(&r.timestamp),
                Text(&r.metadata),
                Text(r.content),
            ]
        })
        .collect();
    for_rows(
        tx,
        backend,
        "INSERT INTO events (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content) VALUES {rows}",
        &params,
    )
    .await
}
