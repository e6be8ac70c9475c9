//! The settings' own tests: durations and redacted secrets.

use super::*;

#[test]
fn durations_and_redaction() {
    assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
    assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
    assert_eq!(parse_duration("100").unwrap(), Duration::from_millis(100));
    assert!(parse_duration("5 parsecs").is_err());
    assert_eq!(redact_url("postgres://u:hunter2@db/x"), "postgres://u:***@db/x");
    assert_eq!(redact_url("sqlite://endocarp.db"), "sqlite://endocarp.db");
}
