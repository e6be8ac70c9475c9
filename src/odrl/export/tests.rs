//! Tests of the ODRL export: round trips through import, and what it notes it cannot say.

use super::*;
use crate::odrl::{Format, Options, import, read_all, to_events};

/// The policy's rules as the read model keeps them (canonical texts), from events.
fn policy_of(events: &[crate::domain::NewEvent], id: &str) -> PolicyText {
    let mut p = PolicyText {
        id: id.into(),
        ..Default::default()
    };
    for e in events.iter().filter(|e| e.triple.aggregate_id == id) {
        let t = &e.triple;
        let attr = |k: &str| t.payload.get(k).cloned().unwrap_or_default();
        match t.event_type.as_str() {
            "Policy.Created" => {
                p.policy_type = attr("policy_type");
                p.conflict = attr("conflict");
            }
            ty => p.rules.push(RuleText {
                kind: if ty == "Policy.ProhibitionSet" {
                    RuleKind::Prohibition
                } else {
                    RuleKind::Permission
                },
                assignee: t.subject.clone(),
                action: attr("action"),
                target: t.object.clone(),
                constraint: attr("constraint"),
                refinement: attr("refinement"),
                duty: attr("duty"),
                remedy: attr("remedy"),
            }),
        }
    }
    p
}

fn contents(events: &[crate::domain::NewEvent]) -> Vec<String> {
    let mut v: Vec<String> = events.iter().map(|e| e.triple.content()).collect();
    v.sort();
    v
}

#[test]
fn a_policy_exports_to_json_ld_that_imports_to_the_same_facts() {
    let ttl = r#"
        @prefix odrl: <http://www.w3.org/ns/odrl/2/> . @prefix ex: <http://example.org/> .
        @prefix xsd: <http://www.w3.org/2001/XMLSchema#> . @prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
        ex:p a odrl:Agreement ; odrl:conflict odrl:perm ;
          odrl:permission [ odrl:assignee ex:alice ; odrl:target ex:x ;
             odrl:action [ rdf:value odrl:print ; odrl:refinement [ odrl:leftOperand odrl:resolution ;
                 odrl:operator odrl:lteq ; odrl:rightOperand "1200"^^xsd:integer ; odrl:unit ex:dpi ] ] ;
             odrl:constraint [ odrl:and ( [ odrl:leftOperand odrl:purpose ; odrl:operator odrl:isAnyOf ;
                                              odrl:rightOperand "research", "teaching" ]
                                            [ odrl:leftOperand odrl:dateTime ; odrl:operator odrl:lt ;
                                              odrl:rightOperand "2030-01-01T00:00:00Z"^^xsd:dateTime ] ) ] ;
             odrl:duty ex:pay ] ;
          odrl:prohibition [ odrl:assignee ex:bob ; odrl:action odrl:delete ; odrl:target ex:x ;
             odrl:constraint [ odrl:leftOperand odrl:count ; odrl:operator odrl:gt ; odrl:rightOperand 5 ] ;
             odrl:remedy ex:restore ] .
        ex:pay odrl:action odrl:compensate ; odrl:constraint [ odrl:leftOperand odrl:payAmount ;
             odrl:operator odrl:eq ; odrl:rightOperand "5.00"^^xsd:decimal ] .
        ex:restore odrl:action odrl:inform .
    "#;
    let first = to_events(&import(&read_all([(Format::Turtle, ttl)]).unwrap(), &Options::default()).unwrap()).unwrap();
    let policy = policy_of(&first, "http://example.org/p");
    assert_eq!(policy.rules.len(), 2);
    let (doc, notes) = document(&policy).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let again = to_events(
        &import(
            &read_all([(Format::JsonLd, text.as_str())]).unwrap(),
            &Options::default(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(contents(&first), contents(&again), "{text}");
}

#[test]
fn ids_that_are_not_iris_and_star_targets_are_said() {
    let mut p = PolicyText {
        id: "http://example.org/p".into(),
        rules: vec![RuleText {
            kind: RuleKind::Permission,
            assignee: "http://example.org/a".into(),
            action: "http://www.w3.org/ns/odrl/2/read".into(),
            target: "*".into(),
            constraint: String::new(),
            refinement: String::new(),
            duty: String::new(),
            remedy: String::new(),
        }],
        ..Default::default()
    };
    let (_, notes) = document(&p).unwrap();
    assert!(notes[0].contains("--wildcards"), "{notes:?}");
    p.rules[0].assignee = "alice".into();
    let e = document(&p).unwrap_err().to_string();
    assert!(e.contains("not an absolute IRI"), "{e}");
}
