//! Opening the database: the two backends, their pools and connection settings, the
//! migrations, the `LISTEN` connection, and start-up errors that name what to fix.

use super::StoreError;
use crate::domain::DomainError;
use sqlx::AnyPool;
use sqlx::Executor;
use sqlx::any::AnyPoolOptions;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a SQLite write waits for a lock held by another process before UNAVAILABLE.
const BUSY_TIMEOUT_MS: u64 = 2000;
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
    pub(super) writer: AnyPool,
    /// Reads (tailing, lists, consistency head reads) never queue behind a write.
    pub(super) reader: AnyPool,
    pub(super) backend: Backend,
    url: String,
    /// Where the data lives, for messages: the SQLite file, or PostgreSQL's host, port and
    /// database (never the password).
    location: String,
    /// SQLite: the size cap in bytes (as `PRAGMA max_page_count`) every writer connection
    /// gets; 0 for none. Shared with the pool's connect hook, so a replaced connection
    /// keeps it.
    size_limit: Arc<AtomicU64>,
    /// Roles this store has seen committed to the `roles` table (which only ever grows):
    /// an append writes only the roles it marks that are not among them.
    pub(super) known_roles: Arc<parking_lot::Mutex<HashSet<String>>>,
}

/// At most this many roles are remembered as stored; past it, the rest are written with
/// every append that marks them (`ON CONFLICT DO NOTHING`, as before there was a memory).
pub(super) const KNOWN_ROLES_MAX: usize = 20_000;

/// Adds `key=value` to a URL's query unless the key is there already.
pub(super) fn with_param(url: &str, key: &str, value: &str) -> String {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or("");
    if query.split('&').any(|kv| kv.split('=').next() == Some(key)) {
        return url.to_string();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{key}={value}")
}

/// The SQLite pools. Writer connections get WAL, full syncs and the size cap in
/// `size_limit` (when not 0): a connection opened to replace a broken one is set up alike.
async fn sqlite_pool(url: &str, max: u32, writer: bool, size_limit: Arc<AtomicU64>) -> Result<AnyPool, sqlx::Error> {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(if writer { 30 } else { 5 }))
        .after_connect(move |conn, _| {
            let bytes = size_limit.load(Ordering::Relaxed);
            Box::pin(async move {
                conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")))
                    .await?;
                if writer {
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA synchronous = FULL").await?;
                    if bytes > 0 {
                        limit_size(conn, bytes).await?;
                    }
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

/// Caps a SQLite connection's database at `bytes` (0: SQLite's own maximum). Past it,
/// SQLite refuses to grow the file with `SQLITE_FULL`, as on a full disk.
async fn limit_size(conn: &mut sqlx::AnyConnection, bytes: u64) -> Result<(), sqlx::Error> {
    let pages = if bytes == 0 {
        4_294_967_294
    } else {
        let page: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&mut *conn).await?;
        (bytes / page.max(512) as u64).max(1)
    };
    conn.execute(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}")))
        .await?;
    Ok(())
}

/// The SQLite file a URL names (for messages).
fn sqlite_path(url: &str) -> &str {
    url.trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default()
}

/// PostgreSQL's host, port and database from a URL, without user or password.
fn postgres_location(url: &str) -> String {
    use std::str::FromStr;
    match sqlx::postgres::PgConnectOptions::from_str(url) {
        Ok(o) => format!(
            "PostgreSQL at {}:{}, database {:?}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_default()
        ),
        Err(_) => format!("PostgreSQL at {}", crate::configuration::redact_url(url)),
    }
}

/// Why a SQLite database could not be opened, naming the file (sqlx's own message does
/// not) and what to check.
fn sqlite_open_error(url: &str, e: &sqlx::Error) -> String {
    let path = std::path::Path::new(sqlite_path(url));
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
        let size_limit = Arc::new(AtomicU64::new(0));
        let (writer, reader) = match backend {
            Backend::Sqlite => {
                let writer_url = with_param(url, "mode", if create { "rwc" } else { "rw" });
                let cannot_open = |e: sqlx::Error| StoreError::Unavailable(sqlite_open_error(url, &e));
                let writer = sqlite_pool(&writer_url, 1, true, size_limit.clone())
                    .await
                    .map_err(cannot_open)?;
                let reader = sqlite_pool(&with_param(url, "mode", "ro"), 4, false, size_limit.clone())
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
        let location = match backend {
            Backend::Sqlite => format!("SQLite file {}", sqlite_path(url)),
            Backend::Postgres => postgres_location(url),
        };
        Ok(Store {
            writer,
            reader,
            backend,
            url: url.to_string(),
            location,
            size_limit,
            known_roles: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where the data lives (the SQLite file, or PostgreSQL's host, port and database).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// SQLite: caps the database file at about `bytes` (`PRAGMA max_page_count`; 0 lifts
    /// the cap) on the writer connection now and on any that replaces it. A write that
    /// would grow the file past the cap fails as on a full disk (RESOURCE_EXHAUSTED) and
    /// nothing of it is stored; raising the cap lets writes resume at once. The
    /// `sqlite_max_size` setting uses it, and so do the storage fault tests, which need a
    /// full disk without root. PostgreSQL: refused.
    pub async fn set_sqlite_size_limit(&self, bytes: u64) -> Result<(), StoreError> {
        if self.backend != Backend::Sqlite {
            return Err(StoreError::Unavailable(
                "a size limit is a SQLite setting; PostgreSQL's disk is the server's".into(),
            ));
        }
        self.size_limit.store(bytes, Ordering::Relaxed);
        let mut conn = self.writer.acquire().await?;
        limit_size(&mut conn, bytes).await?;
        Ok(())
    }

    /// Applies the migrations of this backend (`migrations/sqlite` or
    /// `migrations/postgres`); idempotent.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        super::migrations::for_backend(self.backend)?.run(&self.writer).await?;
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
