//! Tests of actions: parsing, canonical IRIs, the vocabulary and its hierarchy.

use super::*;

fn a(s: &str) -> Action {
    Action::parse("action", s).unwrap()
}

#[test]
fn the_vocabulary_fast_path_answers_as_the_general_path() {
    let locals = ODRL_ACTIONS
        .iter()
        .map(|(l, _)| *l)
        .chain(DEPRECATED.iter().map(|(l, _)| *l))
        .chain(DEPRECATED_NO_REPLACEMENT.iter().copied());
    for local in locals {
        // An upper-case host takes the general path (expand, then the vocabulary).
        let general = Action::parse("a", &format!("HTTP://WWW.W3.ORG/ns/odrl/2/{local}")).ok();
        assert_eq!(Action::parse("a", &format!("odrl:{local}")).ok(), general, "{local}");
        assert_eq!(
            Action::parse("a", &format!("{ODRL_NS}{local}")).ok(),
            general,
            "{local}"
        );
    }
}

#[test]
fn curies_and_iris_canonicalise() {
    assert_eq!(a("odrl:read").as_str(), "http://www.w3.org/ns/odrl/2/read");
    assert_eq!(a("HTTP://www.w3.org/ns/odrl/2/read"), a("odrl:read"));
    assert_eq!(a("http://WWW.W3.ORG/ns/odrl/2/write"), a("odrl:modify"));
    assert!(Action::parse("action", "http://WWW.W3.ORG/ns/odrl/2/lease").is_err());
    assert_eq!(
        a("https://Example.COM/Actions/Approve").as_str(),
        "https://example.com/Actions/Approve"
    );
    assert_eq!(a("odrl:write"), a("odrl:modify"));
    assert_eq!(a("odrl:share").as_str(), "http://creativecommons.org/ns#Sharing");
    assert_eq!(a("urn:example:approve").as_str(), "urn:example:approve");
    assert_eq!(a("URN:example:approve").as_str(), "urn:example:approve");
    assert_eq!(a("schema:BuyAction").as_str(), "https://schema.org/BuyAction");
    for bad in [
        "",
        "read",
        "odrl:lease",
        "odrl:lend",
        "odrl:Read",
        "odrl:Permission",
        "x:read",
        "ftp://host/x",
        "http:read",
        "http://",
        "odrl:",
        "urn:",
        "odrl:re ad",
        "https://www.w3.org/ns/odrl/2/read",
    ] {
        assert!(Action::parse("action", bad).is_err(), "{bad:?} must be refused");
    }
}

#[test]
fn the_length_limit_holds_for_the_full_iri() {
    let local = "x".repeat(500);
    assert!(
        Action::parse("action", &format!("schema:{local}")).is_err(),
        "expands past 512 bytes"
    );
    let ok = Action::parse("action", &format!("schema:{}", "x".repeat(512 - SCHEMA_NS.len()))).unwrap();
    assert_eq!(Action::parse("action", ok.as_str()).unwrap(), ok);
}

#[test]
fn hierarchy_is_transitive() {
    let use_ = a("odrl:use");
    assert!(use_.includes(&a("odrl:read")));
    assert!(use_.includes(&a("odrl:display")));
    assert!(use_.includes(&a("cc:Sharing")));
    assert!(!use_.includes(&a("odrl:sell")));
    assert!(a("odrl:transfer").includes(&a("odrl:give")));
    assert!(a("odrl:play").includes(&a("odrl:display")));
    assert_eq!(a("odrl:display").ancestors(), &[a("odrl:play"), a("odrl:use")]);
    // 45 direct, plus display (via play) and extract (via reproduce).
    assert_eq!(use_.descendants().len(), 47);
    assert_eq!(
        use_.descendants()
            .iter()
            .filter(|d| d.as_str().starts_with(CC_NS))
            .count(),
        9
    );
    assert!(a("urn:x:custom").ancestors().is_empty());
    assert!(a("cc:Permission").ancestors().is_empty());
}
