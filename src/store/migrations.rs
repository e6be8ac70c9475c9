//! The schema migrations, embedded in the binary: `migrations/sqlite` and
//! `migrations/postgres`, listed by `build.rs` and read in with `include_str!`.
//!
//! Each file becomes the same `Migration` that sqlx's `migrate!` macro (and its own
//! reading of the directory at run time) makes of it — version and description from the
//! file name, the kind from its suffix, `-- no-transaction` honoured, the checksum over the
//! SQL — so databases migrated by earlier builds, which used the macro, open unchanged
//! (`the_embedded_migrations_are_what_sqlx_reads_from_the_directory` holds them equal).
//! The macro itself is not used: its crate builds both database drivers a second time, for
//! the compiler's host.

use super::connect::Backend;
use sqlx::SqlSafeStr;
use sqlx::migrate::{MigrateError, Migration, MigrationType, Migrator};
use std::borrow::Cow;
use std::sync::LazyLock;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

static SQLITE: LazyLock<Result<Migrator, String>> = LazyLock::new(|| migrator(embedded::SQLITE));
static POSTGRES: LazyLock<Result<Migrator, String>> = LazyLock::new(|| migrator(embedded::POSTGRES));

/// The migrations of `backend`, in version order; an error names a file whose name sqlx
/// would not read (the test below reads every embedded name, so the suite finds it first).
pub(super) fn for_backend(backend: Backend) -> Result<&'static Migrator, MigrateError> {
    let m = match backend {
        Backend::Sqlite => &*SQLITE,
        Backend::Postgres => &*POSTGRES,
    };
    m.as_ref().map_err(|e| MigrateError::Source(e.clone().into()))
}

fn migrator(files: &'static [(&'static str, &'static str)]) -> Result<Migrator, String> {
    let migrations = files.iter().map(|&(file, sql)| migration(file, sql));
    Ok(Migrator::with_migrations(migrations.collect::<Result<_, _>>()?))
}

/// One file as sqlx reads it: `<version>_<description>.sql` (or `.up.sql` / `.down.sql`).
fn migration(file: &str, sql: &'static str) -> Result<Migration, String> {
    let (version, rest) = file.split_once('_').unwrap_or((file, ""));
    let version = version
        .parse()
        .map_err(|_| format!("migration {file:?}: the name must start with a number and `_`"))?;
    let kind = MigrationType::from_filename(rest);
    let description = rest.trim_end_matches(kind.suffix()).replace('_', " ");
    let no_tx = sql.starts_with("-- no-transaction");
    Ok(Migration::new(
        version,
        Cow::Owned(description),
        kind,
        sql.into_sql_str(),
        no_tx,
    ))
}

#[cfg(test)]
mod tests;
