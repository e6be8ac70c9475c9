//! Every shared scenario through the engine alone: events parsed by the domain, applied
//! to an index, checks decided by the pure engine.

use crate::common;

use endocarp::domain::{Action, Id, NewEvent};
use endocarp::engine::{self, CasbinRows, Check, EngineOptions, Snapshot};

#[derive(Clone, Copy, Debug)]
enum Engine {
    Odrl,
    Casbin,
    /// One plain casbin-rs enforcer holding every row, status gate applied outside.
    PlainCasbin,
}

#[test]
fn every_scenario_passes_through_the_odrl_engine() {
    run(Engine::Odrl);
}

#[test]
fn every_scenario_passes_through_the_casbin_engine() {
    run(Engine::Casbin);
}

#[test]
fn every_scenario_passes_through_a_plain_casbin_enforcer() {
    run(Engine::PlainCasbin);
}

fn run(engine: Engine) {
    let mut failures = Vec::new();
    let mut checks = 0;
    for (file, s) in common::scenarios() {
        let mut snapshot = Snapshot::new(Some(true));
        for (i, e) in s.events.iter().enumerate() {
            let t = common::triple(e);
            let ev = NewEvent::parse("", &t, None, None, Default::default())
                .unwrap_or_else(|err| panic!("{file} / {}: event {i} refused: {err}", s.name));
            snapshot.apply(&ev.change);
            snapshot.set_revision(i as u64 + 1);
        }
        let rows = snapshot.casbin.clone().unwrap();
        assert_eq!(
            rows,
            CasbinRows::from_index(&snapshot.index, true),
            "{file} / {}: incremental rows",
            s.name
        );
        let plain = engine::casbin::plain_enforcer(&rows.p_rows_expanded(&snapshot.index), &rows.g_rows()).unwrap();
        let index = &snapshot.index;
        for c in &s.checks {
            checks += 1;
            let check = Check {
                agent: Id::parse("agent_id", &c.agent).unwrap(),
                account: c.account.as_deref().map(|a| Id::parse("account_id", a).unwrap()),
                action: Action::parse("action", &c.action).unwrap(),
                target: Id::parse("target", &c.target).unwrap(),
                explain: true,
                explain_limit: usize::MAX,
                context: c.context(),
            };
            let opts = EngineOptions::default();
            let d = match engine {
                Engine::Odrl => engine::decide(index, &check, &opts).expect("a decision"),
                Engine::Casbin => engine::decide_casbin(&snapshot, &check, &opts).expect("a decision"),
                Engine::PlainCasbin => {
                    use casbin::CoreApi;
                    let mut d = engine::decide(index, &check, &opts).expect("a decision");
                    if engine::gates(index, &check, &opts).unwrap().is_none() {
                        let dom = check.account.as_ref().map_or("*", |a| a.as_str());
                        let allowed = plain
                            .enforce((check.agent.as_str(), dom, check.action.as_str(), check.target.as_str()))
                            .unwrap();
                        if s.casbin_export.as_deref() == Some("narrower") {
                            // The export may only deny more: check that, then the rest as ODRL.
                            if allowed && !d.allowed {
                                failures.push(format!("{file} / {}: {c:?}: the export allows", s.name));
                            }
                        } else if allowed != d.allowed {
                            d.allowed = allowed;
                            d.reason = endocarp::domain::Reason::NotPermitted;
                            d.deciding_rule = None;
                        }
                    }
                    d
                }
            };
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
                assert!(d.deciding_rule.is_some(), "{engine:?}: an allow names its rule");
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
