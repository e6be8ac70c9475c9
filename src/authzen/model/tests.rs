//! Tests of the AuthZEN model: naming actions and entities, parsing requests.

use super::*;

#[test]
fn action_names_round_trip() {
    let n = Naming::new(DEFAULT_ACTION_NAMESPACE).unwrap();
    let read = n.action("a", "read").unwrap();
    assert_eq!(read.as_str(), "http://www.w3.org/ns/odrl/2/read");
    assert_eq!(n.name(&read), "read");
    let view = n.action("a", "view").unwrap();
    assert_eq!(view.as_str(), "urn:endocarp:action:view");
    assert_eq!(n.name(&view), "view");
    // A deprecated ODRL term is not a current one: a custom action.
    assert_eq!(n.action("a", "write").unwrap().as_str(), "urn:endocarp:action:write");
    assert_eq!(
        n.action("a", "odrl:write").unwrap().as_str(),
        "http://www.w3.org/ns/odrl/2/modify"
    );
    // A custom action whose bare name is an ODRL term keeps its IRI.
    let custom_read = Action::parse("a", "urn:endocarp:action:read").unwrap();
    assert_eq!(n.name(&custom_read), "urn:endocarp:action:read");
    assert_eq!(n.action("a", &n.name(&custom_read)).unwrap(), custom_read);
    let cc = n.action("a", "cc:Attribution").unwrap();
    assert_eq!(n.action("a", &n.name(&cc)).unwrap(), cc);
    let other = n.action("a", "https://example.com/acts/approve").unwrap();
    assert_eq!(n.name(&other), "https://example.com/acts/approve");
    assert!(n.action("a", "nope:x").is_err());
    assert!(n.action("a", "").is_err());
    assert!(n.action("a", "two words").is_err());
    assert!(Naming::new("").is_err());
    assert!(Naming::new("not an iri").is_err());
    assert!(Naming::new("URN:X:").is_err(), "not canonical");
    assert!(Naming::new(crate::domain::action::ODRL_NS).is_err());
    assert!(Naming::new("https://example.com/actions/").is_ok());
}

#[test]
fn entities_map_to_ids_and_back() {
    let id = entity_id("subject", "user", "ann@example.com").unwrap();
    assert_eq!(id.as_str(), "user:ann@example.com");
    assert_eq!(
        as_entity("user", &id),
        Some(EntityOut {
            kind: "user".into(),
            id: "ann@example.com".into()
        })
    );
    assert_eq!(as_entity("doc", &id), None);
    let colon = entity_id("resource", "doc", "a:b").unwrap();
    assert_eq!(as_entity("doc", &colon).unwrap().id, "a:b");
    assert!(entity_id("subject", "us:er", "x").is_err());
    assert!(entity_id("subject", "", "x").is_err());
    assert!(entity_id("subject", "user", "").is_err());
    assert!(entity_id("subject", "user", &"x".repeat(600)).is_err());
}

#[test]
fn contexts_read_three_members() {
    let parse = |v: Value| check_context("context", v.as_object());
    let c = parse(
        serde_json::json!({"consistency": {"at_least_revision": 7}, "explain": true, "account": "acme", "time": "x"}),
    )
    .unwrap();
    assert_eq!(c.consistency.at_least_revision, 7);
    assert!(c.explain);
    assert_eq!(c.account.unwrap().as_str(), "acme");
    assert_eq!(
        parse(serde_json::json!({"consistency": {"at_least_revision": "9007199254740993"}}))
            .unwrap()
            .consistency
            .at_least_revision,
        9007199254740993
    );
    assert!(
        parse(serde_json::json!({"consistency": {"fully_consistent": true}}))
            .unwrap()
            .consistency
            .fully_consistent
    );
    for bad in [
        serde_json::json!({"consistency": 5}),
        serde_json::json!({"consistency": {"at_least_revision": -1}}),
        serde_json::json!({"consistency": {"at_least_revision": 1.5}}),
        serde_json::json!({"consistency": {"fully_consistent": "yes"}}),
        serde_json::json!({"explain": "true"}),
        serde_json::json!({"account": 5}),
        serde_json::json!({"account": ""}),
    ] {
        assert!(parse(bad.clone()).is_err(), "{bad}");
    }
}
