//! Appends: one transaction per batch holding the writer lock (SQLite: the one writer
//! connection and `BEGIN IMMEDIATE`; PostgreSQL: a transaction advisory lock), with
//! de-duplication, `expected_version` per stream, gap-free positions, the read-model
//! update per change, the audit row and PostgreSQL's `NOTIFY` on commit.

use super::{AppendOutcome, AuditRecord, StillHeld, Store, StoreError, ts};
use crate::domain::{Change, Id, NewEvent};
use chrono::Utc;
use sqlx::pool::PoolConnection;
use sqlx::{Any, Row, Transaction};
use std::collections::HashMap;
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
        result.map_err(|e| self.locate(e))
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

    /// The append's transaction on the writer connection. Input refusals roll back
    /// explicitly; any other error leaves the transaction to the caller, which discards
    /// the connection.
    async fn append_on(
        &self,
        conn: &mut PoolConnection<Any>,
        events: &[NewEvent],
        ids: Vec<String>,
        contents: &[String],
        mut skip: Vec<bool>,
        audit: Option<&AuditRecord>,
    ) -> Result<AppendOutcome, StoreError> {
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
        let mut stored_max = 0u64;
        for (i, id) in ids.iter().enumerate() {
            if skip[i] {
                continue;
            }
            let row = sqlx::query("SELECT content, position FROM events WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = row {
                let content: String = row.try_get("content")?;
                if content != contents[i] {
                    return refuse(tx, StoreError::AlreadyExists { id: id.clone() }).await;
                }
                let position: i64 = row.try_get("position")?;
                stored_max = stored_max.max(position as u64);
                skip[i] = true;
            }
        }

        // Streams are keyed by (aggregate kind, aggregate id): docs/CONTRACT.md §2.
        let mut versions: HashMap<(&str, &str), i64> = HashMap::new();
        let mut revoked: Vec<(&str, &Id, &Id)> = Vec::new();
        let mut head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        let now = Utc::now();
        let mut appended = 0;
        for (i, event) in events.iter().enumerate() {
            if skip[i] {
                continue;
            }
            let aggregate = event.triple.aggregate_id.as_str();
            let kind = event.triple.aggregate_kind();
            let current = match versions.get(&(kind, aggregate)) {
                Some(v) => *v,
                None => sqlx::query_scalar(
                    "SELECT COALESCE(MAX(sequence_no), 0) FROM events WHERE aggregate_kind = $1 AND aggregate_id = $2",
                )
                .bind(kind)
                .bind(aggregate)
                .fetch_one(&mut *tx)
                .await?,
            };
            if let Some(expected) = event.expected_version
                && expected != current
            {
                let conflict = StoreError::VersionConflict {
                    index: i,
                    aggregate: format!("{kind} {aggregate}"),
                    expected,
                    actual: current,
                };
                return refuse(tx, conflict).await;
            }
            let seq = current + 1;
            versions.insert((kind, aggregate), seq);
            head += 1;
            let t = &event.triple;
            sqlx::query(
                "INSERT INTO events (position, id, aggregate_kind, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata, content) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(head)
            .bind(&ids[i])
            .bind(kind)
            .bind(aggregate)
            .bind(seq)
            .bind(&t.event_type)
            .bind(&t.subject)
            .bind(&t.predicate)
            .bind(&t.object)
            .bind(serde_json::to_string(&t.payload).unwrap_or_default())
            .bind(ts(&event.timestamp.unwrap_or(now)))
            .bind(serde_json::to_string(&event.metadata).unwrap_or_default())
            .bind(&contents[i])
            .execute(&mut *tx)
            .await?;
            apply_change(&mut tx, &event.change).await?;
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
            appended += 1;
        }
        revoked.sort();
        revoked.dedup();
        let mut still_held = Vec::new();
        for (account, node, role) in revoked {
            let sources = holders(&mut tx, account, node, role).await?;
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
        Ok(AppendOutcome {
            revision,
            ids,
            appended,
            still_held,
        })
    }
}

/// Ends a transaction whose input was refused: rolled back, so its connection goes back to
/// the pool clean (a failed rollback is a fault, and the caller discards the connection).
async fn refuse<T>(tx: Transaction<'_, Any>, e: StoreError) -> Result<T, StoreError> {
    tx.rollback().await?;
    Err(e)
}

/// Applies one change to the read-model tables, inside the append's transaction.
async fn apply_change(tx: &mut Transaction<'_, Any>, change: &Change) -> Result<(), StoreError> {
    for role in change.roles_marked() {
        sqlx::query("INSERT INTO roles (id) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(role.as_str())
            .execute(&mut **tx)
            .await?;
    }
    match change {
        Change::GlobalEdge { source, node, role, on } => {
            edge(tx, "", node, role, source.as_str(), *on).await?;
        }
        Change::AccountEdge {
            account,
            node,
            role,
            on,
        } => {
            edge(tx, account.as_str(), node, role, "account", *on).await?;
        }
        Change::MemberSet { account, agent, role } => {
            sqlx::query(
                "INSERT INTO memberships (account, agent, role) VALUES ($1, $2, $3) \
                 ON CONFLICT (account, agent) DO UPDATE SET role = excluded.role",
            )
            .bind(account.as_str())
            .bind(agent.as_str())
            .bind(role.as_str())
            .execute(&mut **tx)
            .await?;
        }
        Change::MemberRemoved { account, agent } => {
            sqlx::query("DELETE FROM memberships WHERE account = $1 AND agent = $2")
                .bind(account.as_str())
                .bind(agent.as_str())
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM role_edges WHERE account = $1 AND node = $2")
                .bind(account.as_str())
                .bind(agent.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Change::Rule { rule, on } => {
            let sql = if *on {
                "INSERT INTO rules (policy, kind, assignee, action, target) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM rules WHERE policy = $1 AND kind = $2 AND assignee = $3 AND action = $4 AND target = $5"
            };
            sqlx::query(sql)
                .bind(rule.policy.as_str())
                .bind(rule.kind.as_str())
                .bind(rule.assignee.as_str())
                .bind(rule.action.as_str())
                .bind(rule.target.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Change::PolicyCreated { policy } => {
            sqlx::query("INSERT INTO statuses (kind, id, active) VALUES ('policy', $1, 1) ON CONFLICT DO NOTHING")
                .bind(policy.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Change::Status { kind, id, active } => {
            sqlx::query(
                "INSERT INTO statuses (kind, id, active) VALUES ($1, $2, $3) \
                 ON CONFLICT (kind, id) DO UPDATE SET active = excluded.active",
            )
            .bind(kind.as_str())
            .bind(id.as_str())
            .bind(*active as i64)
            .execute(&mut **tx)
            .await?;
        }
        Change::MarkRole { .. } | Change::Ignored { .. } => {}
    }
    Ok(())
}

/// The facts that hold the edge `node -> role` (in `account`, or globally when empty),
/// by source name: the global sources always, and in an account its explicit edge and
/// the member role.
async fn holders(
    tx: &mut Transaction<'_, Any>,
    account: &str,
    node: &Id,
    role: &Id,
) -> Result<Vec<String>, StoreError> {
    let mut sources: Vec<String> = sqlx::query_scalar(
        "SELECT source FROM role_edges WHERE (account = '' OR account = $1) AND node = $2 AND role = $3 ORDER BY source",
    )
    .bind(account)
    .bind(node.as_str())
    .bind(role.as_str())
    .fetch_all(&mut **tx)
    .await?;
    if !account.is_empty() {
        let member: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM memberships WHERE account = $1 AND agent = $2 AND role = $3")
                .bind(account)
                .bind(node.as_str())
                .bind(role.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        if member.is_some() {
            sources.push("membership".to_string());
        }
    }
    Ok(sources)
}

async fn edge(
    tx: &mut Transaction<'_, Any>,
    account: &str,
    node: &Id,
    role: &Id,
    source: &str,
    on: bool,
) -> Result<(), StoreError> {
    let sql = if on {
        "INSERT INTO role_edges (account, node, role, source) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM role_edges WHERE account = $1 AND node = $2 AND role = $3 AND source = $4"
    };
    sqlx::query(sql)
        .bind(account)
        .bind(node.as_str())
        .bind(role.as_str())
        .bind(source)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
