//! Reads: the log's head, events by position, and the paged admin lists. Rows are typed
//! (`sqlx::FromRow`, by `row_struct!`); text columns that hold JSON or timestamps are
//! decoded once, here.

use super::{AuditEntry, EdgeRow, MemberRow, RuleRow, Store, StoreError, json_map, parse_ts};
use crate::domain::StoredEvent;
use crate::domain::event::Triple;

row_struct! {
/// One stored event as its columns.
struct EventRow {
    position: i64,
    id: String,
    aggregate_id: String,
    sequence_no: i64,
    event_type: String,
    subject: String,
    predicate: String,
    object: String,
    payload: String,
    timestamp: String,
    metadata: String,
}
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<StoredEvent, StoreError> {
        Ok(StoredEvent {
            position: r.position as u64,
            id: r.id,
            sequence_no: r.sequence_no,
            triple: Triple {
                event_type: r.event_type,
                aggregate_id: r.aggregate_id,
                subject: r.subject,
                predicate: r.predicate,
                object: r.object,
                payload: json_map(&r.payload)?,
            },
            timestamp: parse_ts(&r.timestamp)?,
            metadata: json_map(&r.metadata)?,
        })
    }
}

row_struct! {
/// A rule with its policy's status (absent: active).
struct RuleWithStatus {
    policy: String,
    kind: String,
    assignee: String,
    action: String,
    target: String,
    condition_json: String,
    active: i64,
    policy_type: String,
    policy_conflict: String,
}
}

row_struct! {
/// One audit row as stored.
struct AuditRow {
    id: i64,
    at: String,
    actor: String,
    action: String,
    correlation_id: String,
    event_ids: String,
    revision: i64,
    note: String,
}
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;
    fn try_from(r: AuditRow) -> Result<AuditEntry, StoreError> {
        Ok(AuditEntry {
            id: r.id,
            at: parse_ts(&r.at)?,
            actor: r.actor,
            action: r.action,
            correlation_id: r.correlation_id,
            event_ids: serde_json::from_str(&r.event_ids)
                .map_err(|e| StoreError::Corrupt(format!("audit {}: event_ids: {e}", r.id)))?,
            revision: r.revision as u64,
            note: r.note,
        })
    }
}

impl Store {
    /// The log's head: the highest stored position (0 when empty).
    pub async fn head(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&self.reader)
            .await?;
        Ok(head as u64)
    }

    /// Events with a position greater than `after`, at most `limit`, optionally of one
    /// aggregate id (of any kind).
    pub async fn read_events(
        &self,
        after: u64,
        limit: u32,
        aggregate: Option<&str>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows: Vec<EventRow> = sqlx::query_as(
            "SELECT position, id, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata \
             FROM events WHERE position > $1 AND ($2 = '' OR aggregate_id = $2) ORDER BY position LIMIT $3",
        )
        .bind(after as i64)
        .bind(aggregate.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(StoredEvent::try_from).collect()
    }

    /// Role edges in key order after `after` (account, node, role, source).
    pub async fn list_edges(
        &self,
        node: &str,
        account: &str,
        global_only: bool,
        after: &[String; 4],
        limit: u32,
    ) -> Result<Vec<EdgeRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT account, node, role, source FROM role_edges \
             WHERE ($1 = '' OR node = $1) AND ($2 = '' OR account = $2) AND ($3 = 0 OR account = '') \
             AND (account, node, role, source) > ($4, $5, $6, $7) \
             ORDER BY account, node, role, source LIMIT $8",
        )
        .bind(node)
        .bind(account)
        .bind(global_only as i64)
        .bind(&after[0])
        .bind(&after[1])
        .bind(&after[2])
        .bind(&after[3])
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Memberships in key order after `after` (account, agent).
    pub async fn list_members(
        &self,
        account: &str,
        after: &[String; 2],
        limit: u32,
    ) -> Result<Vec<MemberRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT account, agent, role FROM memberships WHERE ($1 = '' OR account = $1) \
             AND (account, agent) > ($2, $3) ORDER BY account, agent LIMIT $4",
        )
        .bind(account)
        .bind(&after[0])
        .bind(&after[1])
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?)
    }

    /// Rules in key order after `after` (policy, kind, assignee, action, target, condition).
    pub async fn list_rules(
        &self,
        policy: &str,
        assignee: &str,
        after: &[String; 6],
        limit: u32,
    ) -> Result<Vec<RuleRow>, StoreError> {
        let rows: Vec<RuleWithStatus> = sqlx::query_as(
            "SELECT r.policy, r.kind, r.assignee, r.action, r.target, r.condition_json, \
             COALESCE(s.active, 1) AS active, COALESCE(t.policy_type, '') AS policy_type, \
             COALESCE(c.conflict, '') AS policy_conflict \
             FROM rules r LEFT JOIN statuses s ON s.kind = 'policy' AND s.id = r.policy \
             LEFT JOIN policy_types t ON t.policy = r.policy \
             LEFT JOIN policy_conflicts c ON c.policy = r.policy \
             WHERE ($1 = '' OR r.policy = $1) AND ($2 = '' OR r.assignee = $2) \
             AND (r.policy, r.kind, r.assignee, r.action, r.target, r.condition_json) > ($3, $4, $5, $6, $7, $8) \
             ORDER BY r.policy, r.kind, r.assignee, r.action, r.target, r.condition_json LIMIT $9",
        )
        .bind(policy)
        .bind(assignee)
        .bind(&after[0])
        .bind(&after[1])
        .bind(&after[2])
        .bind(&after[3])
        .bind(&after[4])
        .bind(&after[5])
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| RuleRow {
                policy: r.policy,
                kind: r.kind,
                assignee: r.assignee,
                action: r.action,
                target: r.target,
                condition: r.condition_json,
                policy_active: r.active != 0,
                policy_type: r.policy_type,
                policy_conflict: r.policy_conflict,
            })
            .collect())
    }

    /// Audit entries in id order after `after`.
    pub async fn list_audit(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT id, at, actor, action, correlation_id, event_ids, revision, note FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(AuditEntry::try_from).collect()
    }
}
