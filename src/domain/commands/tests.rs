//! The commands' own tests: valid catalogue events with derived ids.

use super::*;

#[test]
fn commands_make_valid_catalogue_events_with_derived_ids() {
    let cmd = Command::GrantPermission(RuleSpec::parse("pol", "editor", "odrl:read", "*").unwrap());
    let events = cmd.to_events(Some("r-1"), &BTreeMap::new()).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id.as_deref(), Some("req:r-1:0"));
    assert_eq!(events[0].triple.event_type, "Policy.PermissionGranted");
    let statuses = Command::SetStatus {
        kind: EntityKind::Account,
        id: Id::parse("a", "acc").unwrap(),
        active: false,
    };
    assert_eq!(
        statuses.to_events(None, &BTreeMap::new()).unwrap()[0].triple.event_type,
        "Account.Deactivated"
    );
    assert!(cmd.to_events(Some(""), &BTreeMap::new()).is_err());
}
