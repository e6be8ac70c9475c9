//! AuthZEN request bodies → requests → ids, actions and contexts, as the HTTP edge does it:
//! never a panic, and every action name that maps to an action round-trips through the
//! name the API answers with.
#![no_main]
use endocarp::authzen::{model, parse};
use libfuzzer_sys::fuzz_target;

fn action(naming: &model::Naming, name: &str) {
    if let Ok(a) = naming.action("action.name", name) {
        let back = naming.name(&a);
        assert_eq!(naming.action("action.name", &back).as_ref(), Ok(&a), "{name:?} → {back:?}");
    }
}

fn entity(field: &str, e: &model::Entity) {
    if let Ok(id) = model::entity_id(field, &e.kind, &e.id) {
        let back = model::as_entity(&e.kind, &id).expect("an entity's id splits back");
        assert_eq!((back.kind.as_str(), back.id.as_str()), (e.kind.as_str(), e.id.as_str()));
    }
}

fuzz_target!(|data: &[u8]| {
    let naming = model::Naming::new(model::DEFAULT_ACTION_NAMESPACE).expect("the default namespace");
    if let Ok(r) = parse::<model::EvaluationRequest>(data) {
        entity("subject", &r.subject);
        entity("resource", &r.resource);
        action(&naming, &r.action.name);
        let _ = model::check_context("context", r.context.as_ref());
    }
    if let Ok(r) = parse::<model::EvaluationsRequest>(data) {
        for item in r.evaluations.iter().flatten() {
            for e in [&item.subject, &item.resource].into_iter().flatten() {
                entity("entity", e);
            }
            if let Some(a) = &item.action {
                action(&naming, &a.name);
            }
            let _ = model::check_context("context", item.context.as_ref());
        }
    }
    if let Ok(r) = parse::<model::SubjectSearch>(data) {
        let _ = model::check_type("subject", &r.subject.kind);
        entity("resource", &r.resource);
    }
    if let Ok(r) = parse::<model::ResourceSearch>(data) {
        let _ = model::check_type("resource", &r.resource.kind);
        entity("subject", &r.subject);
    }
    if let Ok(r) = parse::<model::ActionSearch>(data) {
        entity("subject", &r.subject);
        entity("resource", &r.resource);
    }
});
