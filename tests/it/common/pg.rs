//! PostgreSQL for tests: the throwaway cluster `scripts/test` starts (its URL in
//! `ENDOCARP_TEST_PG_URL`) and a fresh database per test. With `CI` set, a missing cluster
//! fails the test; otherwise the test reports itself skipped.

use sqlx::{Connection, Executor};

/// The cluster's admin URL, or None (skipped) outside CI.
pub fn admin_url() -> Option<String> {
    match std::env::var("ENDOCARP_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but ENDOCARP_TEST_PG_URL is not: PostgreSQL tests must run (use scripts/test)"
            );
            eprintln!("skipped: no PostgreSQL (scripts/test starts a throwaway cluster)");
            None
        }
    }
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> Option<String> {
    let admin = admin_url()?;
    let name = format!("t_{}", ulid::Ulid::generate().to_string().to_lowercase());
    let mut conn = sqlx::postgres::PgConnection::connect(&admin)
        .await
        .expect("connect to the test cluster");
    conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("create database");
    conn.close().await.ok();
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .expect("a URL with a database name");
    Some(format!("{base}/{name}"))
}

/// The command that controls the test cluster (`… start` / `… stop`), when scripts/test
/// provides one.
pub fn pg_ctl() -> Option<String> {
    std::env::var("ENDOCARP_TEST_PG_CTL").ok().filter(|s| !s.is_empty())
}
