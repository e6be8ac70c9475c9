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
mod tests {
    use super::*;
    use std::path::Path;

    /// What sqlx itself resolves from the directory (the code path its `migrate!` macro
    /// runs at compile time) against what is embedded: same versions, descriptions, kinds,
    /// SQL and checksums, so a database migrated by either opens with the other.
    #[test]
    fn the_embedded_migrations_are_what_sqlx_reads_from_the_directory() {
        for (backend, dir) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(dir);
            let from_dir = sqlx::migrate::resolve_blocking(&dir).expect("the migrations directory");
            let embedded = &for_backend(backend).expect("embedded migrations").migrations;
            assert!(!embedded.is_empty());
            assert_eq!(embedded.len(), from_dir.len(), "{}", dir.display());
            for (e, (d, path)) in embedded.iter().zip(&from_dir) {
                let at = path.display();
                assert_eq!(e.version, d.version, "{at}");
                assert_eq!(e.description, d.description, "{at}");
                assert_eq!(e.migration_type, d.migration_type, "{at}");
                assert_eq!(e.sql.as_str(), d.sql.as_str(), "{at}");
                assert_eq!(e.checksum, d.checksum, "{at}");
                assert_eq!(e.no_tx, d.no_tx, "{at}");
            }
        }
    }

    /// The name is parsed as sqlx parses it; a name without a version is an error.
    #[test]
    fn a_file_name_gives_version_description_and_kind() {
        let m = migration("0012_add_two_things.up.sql", "-- no-transaction\nSELECT 1;").unwrap();
        assert_eq!(m.version, 12);
        assert_eq!(m.description, "add two things");
        assert_eq!(m.migration_type, MigrationType::ReversibleUp);
        assert!(m.no_tx);
        let m = migration("3_init.sql", "CREATE TABLE t (x INT);").unwrap();
        assert_eq!((m.version, m.description.as_ref()), (3, "init"));
        assert_eq!(m.migration_type, MigrationType::Simple);
        assert!(!m.no_tx);
        let e = migration("init.sql", "SELECT 1;").unwrap_err();
        assert!(e.contains("\"init.sql\""), "{e}");
    }
}
