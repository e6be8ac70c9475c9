//! The identifiers' own tests: ids and targets follow the contract.

use super::*;

#[test]
fn ids_follow_the_contract() {
    assert!(Id::parse("agent_id", "alice").is_ok());
    assert!(Id::parse("agent_id", "").is_err());
    assert!(Id::parse("agent_id", "*").is_err());
    assert!(Id::parse("agent_id", "a\u{0}b").is_err());
    assert!(Id::parse("agent_id", "a\nb").is_err());
    assert!(Id::parse("agent_id", &"x".repeat(512)).is_ok());
    let err = Id::parse("agent_id", &"x".repeat(513)).unwrap_err();
    assert_eq!(err.field, "agent_id");
    assert!(err.reason.contains("512"));
    assert_eq!(Target::parse("target", "*").unwrap(), Target::Any);
    assert!(Id::parse("agent_id", "ünïcode with spaces, and \"quotes\"").is_ok());
    // Every control character, ASCII or not, wherever it is; their neighbours pass.
    for c in (0..=0x10ffff_u32).filter_map(char::from_u32) {
        for s in [format!("a{c}"), format!("ab{c}"), format!("é{c}x")] {
            assert_eq!(Id::parse("agent_id", &s).is_err(), c.is_control(), "{c:?} in {s:?}");
        }
    }
}
