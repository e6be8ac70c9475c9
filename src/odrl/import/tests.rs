//! Tests of the ODRL import: policies, rules, constraints, duties and refusals.

use super::*;
use crate::odrl::{Format, read_all};

const PREFIXES: &str = "@prefix odrl: <http://www.w3.org/ns/odrl/2/> .\n@prefix ex: <http://example.org/> .\n\
                        @prefix xsd: <http://www.w3.org/2001/XMLSchema#> .\n\
                        @prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .\n";

fn turtle(body: &str) -> Graph {
    read_all([(Format::Turtle, format!("{PREFIXES}{body}").as_str())]).unwrap()
}

fn events(body: &str, opts: &Options) -> Result<Vec<String>, DomainError> {
    let out = import(&turtle(body), opts)?;
    Ok(out.events.iter().map(|t| t.content()).collect())
}

#[test]
fn a_compact_composite_policy_becomes_atomic_rules() {
    let ev = events(
        "ex:p a odrl:Agreement ; odrl:assignee ex:alice, ex:bob ; odrl:target ex:x ;
           odrl:permission [ odrl:action odrl:read, odrl:write ] ;
           odrl:prohibition [ odrl:action odrl:delete ; odrl:target ex:y ] .",
        &Options::default(),
    )
    .unwrap();
    assert_eq!(ev.len(), 1 + 4 + 2, "{ev:#?}");
    assert!(
        ev[0].contains("Policy.Created") && ev[0].contains("Agreement"),
        "{}",
        ev[0]
    );
    assert!(
        ev.iter()
            .any(|e| e.contains("http://example.org/bob") && e.contains("modify"))
    );
    assert!(
        ev.iter()
            .any(|e| e.contains("ProhibitionSet") && e.contains("http://example.org/y") && e.contains("alice"))
    );
}

#[test]
fn what_odrl_requires_is_refused_unless_asked_for() {
    let body = "ex:p a odrl:Set ; odrl:permission [ odrl:action odrl:read ] .";
    let e = events(body, &Options::default()).unwrap_err().to_string();
    assert!(e.contains("assignee"), "{e}");
    let opts = Options {
        wildcards: false,
        anyone: Some("public".into()),
    };
    let e = events(body, &opts).unwrap_err().to_string();
    assert!(e.contains("target"), "{e}");
    let opts = Options {
        wildcards: true,
        anyone: Some("public".into()),
    };
    let ev = events("ex:p a odrl:Set ; odrl:permission [ ] .", &opts).unwrap();
    assert_eq!(ev.len(), 3, "use and transfer on *: {ev:#?}");
}

#[test]
fn inheritance_copies_the_parents_rules_and_refuses_cycles() {
    let ev = events(
        "ex:parent a odrl:Set ; odrl:target ex:x ; odrl:permission [ odrl:assignee ex:a ; odrl:action odrl:read ] .
         ex:child a odrl:Set ; odrl:inheritFrom ex:parent ; odrl:permission [ odrl:assignee ex:b ; odrl:action odrl:play ] .",
        &Options::default(),
    )
    .unwrap();
    let child: Vec<_> = ev
        .iter()
        .filter(|e| e.contains("Granted") && e.contains("\"http://example.org/child\""))
        .collect();
    assert_eq!(child.len(), 2, "{ev:#?}");
    let e = events(
        "ex:a a odrl:Set ; odrl:inheritFrom ex:b . ex:b a odrl:Set ; odrl:inheritFrom ex:a .",
        &Options::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("cycle"), "{e}");
}

#[test]
fn constraints_refinements_and_duties_travel_as_json() {
    let out = import(
        &turtle(
            "ex:p a odrl:Set ; odrl:permission [ odrl:assignee ex:a ; odrl:target ex:x ;
               odrl:action [ rdf:value odrl:print ; odrl:refinement [ odrl:leftOperand odrl:resolution ;
                    odrl:operator odrl:lteq ; odrl:rightOperand \"1200\"^^xsd:integer ] ] ;
               odrl:constraint [ odrl:or ( [ odrl:leftOperand odrl:purpose ; odrl:operator odrl:eq ; odrl:rightOperand ex:r ]
                                           [ odrl:leftOperand odrl:dateTime ; odrl:operator odrl:lt ; odrl:rightOperand \"2030-01-01\"^^xsd:date ] ) ] ;
               odrl:duty ex:pay ] .
             ex:pay odrl:action odrl:compensate .",
        ),
        &Options::default(),
    )
    .unwrap();
    let rule = &out.events[1];
    let change = rule.interpret().expect("the rule parses").0;
    let c = change.payload.get("constraint").unwrap();
    assert!(
        c.contains("\"or\"") && c.contains("odrl:purpose") && c.contains("xsd:date"),
        "{c}"
    );
    assert!(change.payload.get("refinement").unwrap().contains("odrl:resolution"));
    assert!(change.payload.get("duty").unwrap().contains("http://example.org/pay"));
}

#[test]
fn a_refined_collection_is_named_by_its_source_and_its_refinement_constrains_the_rule() {
    let out = import(
        &turtle(
            "ex:p a odrl:Set ; odrl:permission [ odrl:action odrl:read ;
               odrl:assignee [ a odrl:PartyCollection ; odrl:source ex:staff ;
                 odrl:refinement [ odrl:leftOperand ex:age ; odrl:operator odrl:gt ; odrl:rightOperand 17 ] ] ;
               odrl:target [ a odrl:AssetCollection ; odrl:source ex:reports ;
                 odrl:refinement [ odrl:leftOperand odrl:fileFormat ; odrl:operator odrl:eq ; odrl:rightOperand \"pdf\" ] ] ;
               odrl:constraint [ odrl:leftOperand odrl:purpose ; odrl:operator odrl:eq ; odrl:rightOperand \"audit\" ] ] .",
        ),
        &Options::default(),
    )
    .unwrap();
    let rule = out.events[1].interpret().unwrap().0;
    assert_eq!(
        (rule.subject.as_str(), rule.object.as_str()),
        ("http://example.org/staff", "http://example.org/reports")
    );
    let c = &rule.payload["constraint"];
    assert!(
        c.contains("http://example.org/age") && c.contains("odrl:fileFormat") && c.contains("odrl:purpose"),
        "{c}"
    );
}

#[test]
fn a_replaced_policy_is_void() {
    let out = import(
        &turtle(
            "ex:old a odrl:Set ; <http://purl.org/dc/terms/isReplacedBy> ex:new ;
               odrl:permission [ odrl:assignee ex:a ; odrl:action odrl:read ; odrl:target ex:x ] .
             ex:new a odrl:Set ; odrl:permission [ odrl:assignee ex:a ; odrl:action odrl:play ; odrl:target ex:x ] .",
        ),
        &Options::default(),
    )
    .unwrap();
    assert_eq!(out.policies, ["http://example.org/new"]);
    assert_eq!(out.rules, 1);
    assert!(
        out.notes[0].contains("replaced by http://example.org/new"),
        "{:?}",
        out.notes
    );
}

#[test]
fn party_collections_are_groups_and_blank_parties_are_refused() {
    let out = import(
        &turtle(
            "ex:p a odrl:Set ; odrl:permission [ odrl:assignee ex:team ; odrl:action odrl:read ; odrl:target ex:x ] .
             ex:team a odrl:PartyCollection . ex:alice odrl:partOf ex:team .",
        ),
        &Options::default(),
    )
    .unwrap();
    assert!(out.events.iter().any(|t| t.content().contains("GroupMembershipAdded")));
    let e = events(
        "ex:p a odrl:Set ; odrl:permission [ odrl:assignee [ a odrl:Party ] ; odrl:action odrl:read ; odrl:target ex:x ] .",
        &Options::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("blank node"), "{e}");
    let ev = events(
        "ex:p a odrl:Set ; odrl:prohibition [ odrl:assignee ex:a ; odrl:action odrl:read ; odrl:target ex:c ] .
         ex:c a odrl:AssetCollection . ex:x odrl:partOf ex:c .",
        &Options::default(),
    )
    .unwrap();
    assert!(
        ev.iter()
            .any(|e| e.contains("Asset.AddedToCollection") && e.contains("http://example.org/x")),
        "{ev:#?}"
    );
}
