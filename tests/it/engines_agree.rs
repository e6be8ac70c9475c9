//! Differential tests: on random histories and random checks, the ODRL engine, the Casbin
//! engine and one plain casbin-rs enforcer loaded from the exported policy file (status
//! gate applied outside, as the export README says) give the same answer on every check.
//! The Casbin engine's incrementally maintained rows equal rows rebuilt from the index.

use crate::common;

use casbin::CoreApi;
use common::history::{ACCOUNTS, ACTIONS, AGENTS, ROLES, any_event, pick};
use endocarp::cli::casbin_file::{PolicyLine, parse_policy_csv, policy_csv};
use endocarp::domain::event::Triple;
use endocarp::domain::{Action, Id, NewEvent};
use endocarp::engine::casbin::plain_enforcer;
use endocarp::engine::{self, CasbinRows, Check, EngineError, EngineOptions, Snapshot};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use std::cell::Cell;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
struct CheckCase {
    agent: String,
    account: Option<String>,
    action: String,
    target: String,
    /// Values for constraints: none, or ones the generated constraints test.
    context: bool,
}

fn any_check() -> impl Strategy<Value = CheckCase> {
    (
        prop_oneof![4 => pick(AGENTS), 1 => pick(ROLES)],
        prop_oneof![pick(ACCOUNTS).prop_map(Some), Just(None)],
        pick(ACTIONS),
        pick(&["t1", "t2"]),
        any::<bool>(),
    )
        .prop_map(|(agent, account, action, target, context)| CheckCase {
            agent,
            account,
            action,
            target,
            context,
        })
}

/// A context under which the generated constraints, refinements and duties can hold.
fn context() -> endocarp::domain::constraint::Context {
    use endocarp::domain::constraint::{Context, Decimal, Literal};
    let mut c = Context::default();
    c.insert("odrl:purpose", Literal::String("research".into()), None)
        .unwrap();
    c.insert("odrl:count", Literal::Number(Decimal::parse("3").unwrap()), None)
        .unwrap();
    c.insert("odrl:resolution", Literal::Number(Decimal::parse("800").unwrap()), None)
        .unwrap();
    c.insert(
        "endocarp:fulfilled",
        Literal::List(vec![Literal::String("pay-1".into())]),
        None,
    )
    .unwrap();
    c
}

fn build(history: &[Triple], hierarchy: bool) -> Snapshot {
    let mut snapshot = Snapshot::new(Some(hierarchy));
    for (i, t) in history.iter().enumerate() {
        let e = NewEvent::parse("", t, None, None, BTreeMap::new()).expect("generated events are valid");
        snapshot.apply(&e.change);
        snapshot.set_revision(i as u64 + 1);
    }
    snapshot
}

/// What a plain enforcer loaded from the exported files answers, the gates applied outside.
fn plain_answer(
    e: &casbin::Enforcer,
    snapshot: &Snapshot,
    check: &Check,
    opts: &EngineOptions,
) -> Result<bool, EngineError> {
    if engine::gates(&snapshot.index, check, opts)?.is_some() {
        return Ok(false);
    }
    engine::closure(&snapshot.index, &check.agent, check.account.as_ref(), opts.max_closure)?;
    let dom = check.account.as_ref().map_or("*", |a| a.as_str());
    Ok(
        e.enforce((check.agent.as_str(), dom, check.action.as_str(), check.target.as_str()))
            .expect("plain enforce"),
    )
}

/// One case: every check answered alike by the three engines.
fn agree(
    history: &[Triple],
    checks: &[CheckCase],
    hierarchy: bool,
    require_membership: bool,
) -> Result<(), TestCaseError> {
    let snapshot = build(history, hierarchy);
    let rows = snapshot.casbin.clone().unwrap();
    prop_assert_eq!(
        &rows,
        &CasbinRows::from_index(&snapshot.index, hierarchy),
        "incremental rows = rebuilt rows"
    );

    // The export (rows on asset collections written on their assets too), written and read
    // back through the policy file.
    let exported = rows.p_rows_expanded(&snapshot.index);
    let text = policy_csv(&exported, &rows.g_rows());
    let (mut p, mut g) = (Vec::new(), Vec::new());
    for (_, line) in parse_policy_csv(&text).unwrap() {
        match line {
            PolicyLine::P(r) => p.push(r),
            PolicyLine::G(r) => g.push(r),
        }
    }
    prop_assert_eq!(&p, &exported);
    let plain = plain_enforcer(&p, &g).unwrap();

    let opts = EngineOptions {
        action_hierarchy: hierarchy,
        require_membership,
        ..EngineOptions::default()
    };
    for c in checks {
        let check = Check {
            agent: Id::parse("agent", &c.agent).unwrap(),
            account: c.account.as_deref().map(|a| Id::parse("account", a).unwrap()),
            action: Action::parse("action", &c.action).unwrap(),
            target: Id::parse("target", &c.target).unwrap(),
            explain: false,
            explain_limit: usize::MAX,
            context: if c.context { context() } else { Default::default() },
        };
        let odrl = engine::decide(&snapshot.index, &check, &opts);
        // The explained path collects every applicable rule and sorts them; the plain one
        // keeps only the first of each kind: they must decide alike, by the same rule.
        let explained = engine::decide(
            &snapshot.index,
            &Check {
                explain: true,
                ..check.clone()
            },
            &opts,
        );
        match (&odrl, &explained) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(
                    (a.allowed, a.reason, &a.deciding_rule),
                    (b.allowed, b.reason, &b.deciding_rule)
                );
                // (Gate denials explain nothing.)
                if let Some(e) = &b.explanation {
                    prop_assert!(
                        e.other_rules
                            .iter()
                            .all(|r| Some(r) != b.deciding_rule.as_ref().map(|d| d.view()))
                    );
                }
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "explain changed the outcome: {:?} vs {:?}", odrl, explained),
        }
        let casbin = engine::decide_casbin(&snapshot, &check, &opts);
        let plain = plain_answer(&plain, &snapshot, &check, &opts);
        match (&odrl, &casbin, &plain) {
            (Ok(a), Ok(b), Ok(c)) => {
                prop_assert_eq!(a, b, "ODRL and Casbin engines, {:?}", c);
                if snapshot.index.strategies_in_use() || snapshot.index.conditions_in_use() {
                    // An export cannot express conflict strategies, constraints or duties:
                    // it may deny more, never allow more (docs/CONTRACT.md §1, "Conflict
                    // strategies", "Constraints", "Duties").
                    prop_assert!(a.allowed || !*c, "the export allows: {:?} {:?}", check, a);
                } else {
                    prop_assert_eq!(a.allowed, *c, "ODRL and the plain enforcer: {:?} {:?}", check, a);
                }
            }
            (Err(a), Err(b), Err(c)) => {
                prop_assert_eq!(a, b);
                prop_assert_eq!(a, c);
            }
            _ => prop_assert!(
                false,
                "{:?}: odrl {:?}, casbin {:?}, plain {:?}",
                check,
                odrl,
                casbin,
                plain
            ),
        }
    }
    Ok(())
}

#[test]
fn odrl_casbin_and_a_plain_enforcer_agree() {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 1000,
        ..ProptestConfig::default()
    });
    let checks = Cell::new(0usize);
    let strategy = (
        proptest::collection::vec(any_event(), 0..50),
        proptest::collection::vec(any_check(), 1..40),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.2),
    );
    let result = runner.run(&strategy, |(history, cases, hierarchy, require_membership)| {
        checks.set(checks.get() + cases.len());
        agree(&history, &cases, hierarchy, require_membership)
    });
    if let Err(e) = result {
        panic!("the engines disagree: {e}");
    }
    assert!(checks.get() >= 10_000, "only {} checks", checks.get());
    println!("{} random checks, three engines, no disagreement", checks.get());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Exporting rows and importing the file (folded back along the hierarchy) rebuilds
    /// exactly the same rows: the migration path loses nothing and widens nothing.
    #[test]
    fn export_then_import_rebuilds_the_same_rows(
        history in proptest::collection::vec(any_event(), 0..50),
        hierarchy in any::<bool>(),
    ) {
        let snapshot = build(&history, hierarchy);
        let rows = snapshot.casbin.clone().unwrap();
        let text = policy_csv(&rows.p_rows(), &rows.g_rows());
        let envelopes = endocarp::cli::import::casbin_envelopes(&text, "imported", hierarchy).expect("an export imports");
        let imported: Vec<Triple> = envelopes.into_iter().map(|e| e.triple).collect();
        let again = build(&imported, hierarchy);
        let again_rows = again.casbin.unwrap();
        prop_assert_eq!(again_rows.p_rows(), rows.p_rows());
        prop_assert_eq!(again_rows.g_rows(), rows.g_rows());
    }
}

/// The Casbin engine reads the best rule of each kind as a plain check does (outside
/// explain mode) and hands casbin-rs only those: they must be the best, not the first
/// found. Here
/// the first found (`r-a`'s, the role reached first, in policy `p2`) is not the best
/// (`r-z`'s, in policy `p1`: the policy decides before the assignee), for permissions on
/// `t1` and prohibitions on `t2`; a rule on `*` in a lower policy loses to both.
#[test]
fn the_casbin_engine_names_the_best_rule_not_the_first_found() {
    use common::history::{permission, prohibition, t};
    let mut snapshot = Snapshot::new(Some(true));
    let events = [
        t("Agent.RoleAssigned", "a1", "a1", "org:hasRole", "r-a", &[]),
        t("Agent.RoleAssigned", "a1", "a1", "org:hasRole", "r-z", &[]),
        permission(true, "p2", "r-a", "odrl:read", "t1"),
        permission(true, "p3", "r-a", "odrl:read", "t1"),
        permission(true, "p1", "r-z", "odrl:read", "t1"),
        permission(true, "p2", "r-z", "odrl:read", "t1"),
        permission(true, "p0", "r-a", "odrl:read", "*"),
        prohibition(true, "p2", "r-a", "odrl:read", "t2"),
        prohibition(true, "p1", "r-z", "odrl:read", "t2"),
        permission(true, "p0", "r-a", "odrl:read", "t2"),
    ];
    for e in &events {
        snapshot.apply(&NewEvent::parse("", e, None, None, BTreeMap::new()).unwrap().change);
    }
    let opts = EngineOptions {
        action_hierarchy: true,
        ..EngineOptions::default()
    };
    for (target, allowed) in [("t1", true), ("t2", false)] {
        let check = Check {
            agent: Id::parse("agent", "a1").unwrap(),
            account: None,
            action: Action::parse("action", "odrl:read").unwrap(),
            target: Id::parse("target", target).unwrap(),
            explain: false,
            explain_limit: usize::MAX,
            context: Default::default(),
        };
        let odrl = engine::decide(&snapshot.index, &check, &opts).unwrap();
        let casbin = engine::decide_casbin(&snapshot, &check, &opts).unwrap();
        assert_eq!(odrl.allowed, allowed, "{target}");
        let rule = odrl.deciding_rule.as_ref().expect("a deciding rule");
        assert_eq!(
            (rule.policy.as_str(), rule.assignee.as_str()),
            ("p1", "r-z"),
            "{target}"
        );
        assert_eq!(casbin, odrl, "{target}");
    }
}
