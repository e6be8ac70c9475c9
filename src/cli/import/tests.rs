//! The import's own tests: Pericarp envelopes parse, and sequence numbers must not decrease.

use super::*;

#[test]
fn envelopes_parse_and_sequence_must_not_decrease() {
    let file = r#"{"pericarp_export":1}
{"id":"e1","aggregate_id":"alice","event_type":"Agent.RoleAssigned","payload":{"subject":"alice","predicate":"org:hasRole","object":"editor","extra":{"n":1}},"timestamp":"2025-01-02T03:04:05.123456789Z","sequence_no":1,"metadata":{"actor":"bob"},"transaction_id":"t1","position":9}
{"id":"e2","aggregate_id":"alice","event_type":"Agent.Created","payload":{"name":"Alice","age":3},"sequence_no":2}
"#;
    let f = parse_file(file).unwrap();
    assert_eq!(f.events.len(), 2);
    assert_eq!(f.envelopes[0].triple.payload["extra"], r#"{"n":1}"#);
    assert_eq!(f.envelopes[0].metadata["actor"], "bob");
    let bad = file.replace("\"sequence_no\":2", "\"sequence_no\":0");
    let err = parse_file(&bad).unwrap_err();
    assert!(err.field.contains("line 3"), "{err}");
    assert!(parse_file("{not json}").is_err());
}
