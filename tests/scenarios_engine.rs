//! Every shared scenario through the engine alone: events parsed by the domain, applied
//! to an index, checks decided by the pure engine.

mod common;

use endocarp::domain::{Action, Id, NewEvent};
use endocarp::engine::{self, Check, EngineOptions, Index};

#[test]
fn every_scenario_passes_through_the_engine() {
    let mut failures = Vec::new();
    let mut checks = 0;
    for (file, s) in common::scenarios() {
        let mut index = Index::default();
        for (i, e) in s.events.iter().enumerate() {
            let t = common::triple(e);
            let ev = NewEvent::parse("", &t, None, None, Default::default())
                .unwrap_or_else(|err| panic!("{file} / {}: event {i} refused: {err}", s.name));
            index.apply(&ev.change);
            index.set_revision(i as u64 + 1);
        }
        for c in &s.checks {
            checks += 1;
            let check = Check {
                agent: Id::parse("agent_id", &c.agent).unwrap(),
                account: c.account.as_deref().map(|a| Id::parse("account_id", a).unwrap()),
                action: Action::parse("action", &c.action).unwrap(),
                target: Id::parse("target", &c.target).unwrap(),
                explain: true,
            };
            let d = engine::decide(&index, &check, &EngineOptions::default()).expect("a decision");
            let reason_ok = c.reason.as_deref().is_none_or(|r| r == d.reason.as_str());
            if d.allowed != c.allowed || !reason_ok {
                failures.push(format!(
                    "{file} / {}: {c:?} → allowed={} reason={} rule={:?}",
                    s.name,
                    d.allowed,
                    d.reason.as_str(),
                    d.deciding_rule
                ));
            }
            assert_eq!(d.revision, s.events.len() as u64);
            if d.allowed {
                assert!(d.deciding_rule.is_some(), "an allow names its rule");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checks} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
