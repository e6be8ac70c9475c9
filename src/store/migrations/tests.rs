//! The migrations' own tests: the embedded set is what sqlx reads from the directory, and
//! a file name gives version, description and kind.

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
