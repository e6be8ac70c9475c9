//! The SQL behind the store, one implementation for both databases (sqlx's `Any` driver,
//! `$N` placeholders and portable SQL), with the few backend differences in one place:
//! how an append takes the writer lock (SQLite: one writer connection and `BEGIN
//! IMMEDIATE`; PostgreSQL: a transaction advisory lock), connection settings, the
//! migration folder, and PostgreSQL's `NOTIFY` on commit.

use super::{AppendOutcome, AuditEntry, AuditRecord, EdgeRow, MemberRow, RuleRow, StillHeld, StoreError};
use crate::domain::event::Triple;
use crate::domain::{Action, DomainError};
use crate::domain::{Change, EdgeSource, EntityKind, Id, NewEvent, Rule, RuleKind, StoredEvent, Target};
use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::{Any, Executor, Row, Transaction};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite write waits for a lock held by another process before UNAVAILABLE.
const BUSY_TIMEOUT_MS: u64 = 2000;
/// The advisory lock key that serialises PostgreSQL appends (any fixed number).
const APPEND_LOCK: i64 = 0x656e_646f_6361;
/// The channel PostgreSQL appends notify on commit; the payload is the new head.
pub const NOTIFY_CHANNEL: &str = "endocarp_log";

/// The two databases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded default: a file, zero set-up.
    Sqlite,
    /// Production: many replicas over one database.
    Postgres,
}

/// The event store and read model. Cheap to clone (pools are shared).
#[derive(Clone, Debug)]
pub struct Store {
    /// Appends. SQLite: exactly one connection, so appends queue here before SQLite's own
    /// lock. PostgreSQL: a few connections; the advisory lock serialises appends.
    writer: AnyPool,
    /// Reads (tailing, lists, consistency head reads) never queue behind a write.
    reader: AnyPool,
    backend: Backend,
    url: String,
}

/// Adds `key=value` to a URL's query unless the key is there already.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    if query.split('&').any(|kv| kv.split('=').next() == Some(key)) {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

async fn sqlite_pool(url: &str, max: u32, writer: bool) -> Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(if writer { 30 } else { 5 }))
        .after_connect(move |conn, _| {
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")))
                    .await?;
                if writer {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Why a SQLite database could not be opened, naming the file (sqlx's own message does
/// not) and what to check.
fn sqlite_open_error(url: &str, e: &sqlx::Error) -> String {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    let path = std::path::Path::new(path);
    let why = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => {
            format!("the directory {} does not exist", dir.display())
        }
        _ if path.is_dir() => "it is a directory".to_string(),
        _ => e.to_string(),
    };
    format!("cannot open the SQLite database {}: {why}", path.display())
}

/// Why PostgreSQL could not be reached, naming the host, port and database (sqlx's own
/// message is only "pool timed out while waiting for an open connection"); never the
/// password.
fn postgres_connect_error(url: &str, e: &sqlx::Error) -> String {
    use std::str::FromStr;
    let cause = match e {
        sqlx::Error::PoolTimedOut => "no connection within 3 s (is the server running and reachable?)".to_string(),
        other => other.to_string(),
    };
    match sqlx::postgres::PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "cannot connect to PostgreSQL at {}:{} (database {:?}, user {:?}): {cause}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_default(),
            o.get_username()
        ),
        Err(_) => format!(
            "cannot connect to PostgreSQL at {}: {cause}",
            crate::configuration::redact_url(url)
        ),
    }
}

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

impl Store {
    /// Which database a URL names: `sqlite:` or `postgres://` / `postgresql://`.
    pub fn backend_of(url: &str) -> Result<Backend, DomainError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(DomainError::new(
                "database_url",
                "must start with sqlite:, postgres:// or postgresql://",
            ))
        }
    }

    /// Opens the database at a URL (with `create`, a missing SQLite file is created).
    /// Does not migrate.
    pub async fn connect(url: &str, create: bool) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Store::backend_of(url)?;
        let (writer, reader) = match backend {
            Backend::Sqlite => {
                let writer_url = with_param(url, "mode", if create { "rwc" } else { "rw" });
                let cannot_open = |e: sqlx::Error| StoreError::Unavailable(sqlite_open_error(url, &e));
                let writer = sqlite_pool(&writer_url, 1, true).await.map_err(cannot_open)?;
                let reader = sqlite_pool(&with_param(url, "mode", "ro"), 4, false)
                    .await
                    .map_err(cannot_open)?;
                (writer, reader)
            }
            Backend::Postgres => {
                // Fail fast when the database is down: writes answer UNAVAILABLE at once
                // and checks go on from memory.
                let pool = |max| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(0)
                        .acquire_timeout(Duration::from_secs(3))
                };
                let cannot_connect = |e: sqlx::Error| StoreError::Unavailable(postgres_connect_error(url, &e));
                let writer = pool(8).connect(url).await.map_err(cannot_connect)?;
                let reader = pool(8).connect(url).await.map_err(cannot_connect)?;
                (writer, reader)
            }
        };
        Ok(Store {
            writer,
            reader,
            backend,
            url: url.to_string(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies the migrations of this backend (`migrations/sqlite` or
    /// `migrations/postgres`); idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => SQLITE_MIGRATOR.run(&self.writer).await?,
            Backend::Postgres => POSTGRES_MIGRATOR.run(&self.writer).await?,
        }
        Ok(())
    }

    /// Waits for notifications of new appends (PostgreSQL `LISTEN`); `None` on SQLite,
    /// where polling is the only way to see other processes' writes.
    pub async fn listener(&self) -> Result<Option<LogListener>, StoreError> {
        match self.backend {
            Backend::Sqlite => Ok(None),
            Backend::Postgres => {
                let mut l = sqlx::postgres::PgListener::connect(&self.url).await?;
                l.listen(NOTIFY_CHANNEL).await?;
                Ok(Some(LogListener(l)))
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }

    /// The log's head: the highest stored position (0 when empty).
    pub async fn head(&self) -> Result<u64, StoreError> {
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&self.reader)
            .await?;
        Ok(head as u64)
    }

    /// Appends a batch atomically (DESIGN §2): de-duplication first, then each event's
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

        let mut tx = match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => {
                let mut tx = self.writer.begin().await?;
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
                    return Err(StoreError::AlreadyExists { id: id.clone() });
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
                return Err(StoreError::VersionConflict {
                    index: i,
                    aggregate: format!("{kind} {aggregate}"),
                    expected,
                    actual: current,
                });
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
        if appended > 0 && self.backend == Backend::Postgres {
            // Delivered when the transaction commits, never before.
            sqlx::query("SELECT 1 FROM pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
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

    /// Events with a position greater than `after`, at most `limit`, optionally of one
    /// aggregate.
    pub async fn read_events(
        &self,
        after: u64,
        limit: u32,
        aggregate: Option<&str>,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let rows = sqlx::query(
            "SELECT position, id, aggregate_id, sequence_no, event_type, subject, predicate, object, payload, timestamp, metadata \
             FROM events WHERE position > $1 AND ($2 = '' OR aggregate_id = $2) ORDER BY position LIMIT $3",
        )
        .bind(after as i64)
        .bind(aggregate.unwrap_or(""))
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    position: row.try_get::<i64, _>("position")? as u64,
                    id: row.try_get("id")?,
                    sequence_no: row.try_get("sequence_no")?,
                    triple: Triple {
                        event_type: row.try_get("event_type")?,
                        aggregate_id: row.try_get("aggregate_id")?,
                        subject: row.try_get("subject")?,
                        predicate: row.try_get("predicate")?,
                        object: row.try_get("object")?,
                        payload: json_map(&row.try_get::<String, _>("payload")?)?,
                    },
                    timestamp: parse_ts(&row.try_get::<String, _>("timestamp")?)?,
                    metadata: json_map(&row.try_get::<String, _>("metadata")?)?,
                })
            })
            .collect()
    }

    /// Reads the whole read model in one snapshot: its revision and every fact as a change.
    /// Start-up applies these instead of replaying the log.
    pub async fn load_read_model(&self, mut sink: impl FnMut(Change)) -> Result<u64, StoreError> {
        // One snapshot: SQLite read transactions are; PostgreSQL needs REPEATABLE READ (its
        // default, READ COMMITTED, would let each SELECT see later commits than `head`).
        let mut tx = match self.backend {
            Backend::Sqlite => self.reader.begin().await?,
            Backend::Postgres => {
                self.reader
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?
            }
        };
        let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
            .fetch_one(&mut *tx)
            .await?;
        for row in sqlx::query("SELECT id FROM roles").fetch_all(&mut *tx).await? {
            sink(Change::MarkRole {
                role: Id::from_trusted(row.try_get("id")?),
                subject: None,
            });
        }
        for row in sqlx::query("SELECT account, node, role, source FROM role_edges")
            .fetch_all(&mut *tx)
            .await?
        {
            let account: String = row.try_get("account")?;
            let node = Id::from_trusted(row.try_get("node")?);
            let role = Id::from_trusted(row.try_get("role")?);
            let source: String = row.try_get("source")?;
            if account.is_empty() {
                let source = EdgeSource::parse_stored(&source)
                    .ok_or_else(|| StoreError::Corrupt(format!("edge source {source:?}")))?;
                sink(Change::GlobalEdge {
                    source,
                    node,
                    role,
                    on: true,
                });
            } else {
                sink(Change::AccountEdge {
                    account: Id::from_trusted(&account),
                    node,
                    role,
                    on: true,
                });
            }
        }
        for row in sqlx::query("SELECT account, agent, role FROM memberships")
            .fetch_all(&mut *tx)
            .await?
        {
            sink(Change::MemberSet {
                account: Id::from_trusted(row.try_get("account")?),
                agent: Id::from_trusted(row.try_get("agent")?),
                role: Id::from_trusted(row.try_get("role")?),
            });
        }
        for row in sqlx::query("SELECT policy, kind, assignee, action, target FROM rules")
            .fetch_all(&mut *tx)
            .await?
        {
            let kind: String = row.try_get("kind")?;
            let kind =
                RuleKind::parse_stored(&kind).ok_or_else(|| StoreError::Corrupt(format!("rule kind {kind:?}")))?;
            sink(Change::Rule {
                rule: Rule {
                    policy: Id::from_trusted(row.try_get("policy")?),
                    kind,
                    assignee: Id::from_trusted(row.try_get("assignee")?),
                    action: Action::from_trusted(row.try_get("action")?),
                    target: Target::from_trusted(row.try_get("target")?),
                },
                on: true,
            });
        }
        for row in sqlx::query("SELECT kind, id, active FROM statuses")
            .fetch_all(&mut *tx)
            .await?
        {
            let kind: String = row.try_get("kind")?;
            let kind =
                EntityKind::parse_stored(&kind).ok_or_else(|| StoreError::Corrupt(format!("status kind {kind:?}")))?;
            sink(Change::Status {
                kind,
                id: Id::from_trusted(row.try_get("id")?),
                active: row.try_get::<i64, _>("active")? != 0,
            });
        }
        tx.commit().await?;
        Ok(head as u64)
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
        let rows = sqlx::query(
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
        .await?;
        rows.iter()
            .map(|r| {
                Ok(EdgeRow {
                    account: r.try_get("account")?,
                    node: r.try_get("node")?,
                    role: r.try_get("role")?,
                    source: r.try_get("source")?,
                })
            })
            .collect()
    }

    /// Memberships in key order after `after` (account, agent).
    pub async fn list_members(
        &self,
        account: &str,
        after: &[String; 2],
        limit: u32,
    ) -> Result<Vec<MemberRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT account, agent, role FROM memberships WHERE ($1 = '' OR account = $1) \
             AND (account, agent) > ($2, $3) ORDER BY account, agent LIMIT $4",
        )
        .bind(account)
        .bind(&after[0])
        .bind(&after[1])
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(MemberRow {
                    account: r.try_get("account")?,
                    agent: r.try_get("agent")?,
                    role: r.try_get("role")?,
                })
            })
            .collect()
    }

    /// Rules in key order after `after` (policy, kind, assignee, action, target).
    pub async fn list_rules(
        &self,
        policy: &str,
        assignee: &str,
        after: &[String; 5],
        limit: u32,
    ) -> Result<Vec<RuleRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.policy, r.kind, r.assignee, r.action, r.target, COALESCE(s.active, 1) AS active \
             FROM rules r LEFT JOIN statuses s ON s.kind = 'policy' AND s.id = r.policy \
             WHERE ($1 = '' OR r.policy = $1) AND ($2 = '' OR r.assignee = $2) \
             AND (r.policy, r.kind, r.assignee, r.action, r.target) > ($3, $4, $5, $6, $7) \
             ORDER BY r.policy, r.kind, r.assignee, r.action, r.target LIMIT $8",
        )
        .bind(policy)
        .bind(assignee)
        .bind(&after[0])
        .bind(&after[1])
        .bind(&after[2])
        .bind(&after[3])
        .bind(&after[4])
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RuleRow {
                    policy: r.try_get("policy")?,
                    kind: r.try_get("kind")?,
                    assignee: r.try_get("assignee")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    policy_active: r.try_get::<i64, _>("active")? != 0,
                })
            })
            .collect()
    }

    /// Audit entries in id order after `after`.
    pub async fn list_audit(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at, actor, action, correlation_id, event_ids, revision, note FROM audit WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit as i64)
        .fetch_all(&self.reader)
        .await?;
        rows.iter()
            .map(|r| {
                let ids: String = r.try_get("event_ids")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: parse_ts(&r.try_get::<String, _>("at")?)?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    correlation_id: r.try_get("correlation_id")?,
                    event_ids: serde_json::from_str(&ids).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    revision: r.try_get::<i64, _>("revision")? as u64,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }
}

/// Applies one change to the read-model tables, inside the append's transaction.
async fn apply_change(tx: &mut Transaction<'static, Any>, change: &Change) -> Result<(), StoreError> {
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
    tx: &mut Transaction<'static, Any>,
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
    tx: &mut Transaction<'static, Any>,
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

/// A PostgreSQL `LISTEN` connection on the append channel.
pub struct LogListener(sqlx::postgres::PgListener);

impl LogListener {
    /// Waits for the next append notification, or for the listening connection to come
    /// back after it was lost: notifications sent meanwhile are lost, so both are a reason
    /// to catch up from the applied position (the payload is never trusted).
    pub async fn next(&mut self) -> Result<(), StoreError> {
        // Ok(None): the connection was lost and has been re-established.
        self.0.try_recv().await?;
        Ok(())
    }
}
