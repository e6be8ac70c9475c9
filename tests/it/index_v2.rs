//! Index v2 against the reference engine (the engine before v2, kept unchanged in
//! `engine::reference`): on random histories of changes, at every revision, the whole result
//! of every check — decision, reason, deciding rule, revision, explanation, or the error —
//! is the same. Old snapshots still answer as of their revision after later writes; the
//! structure validator passes after every change; an index whose hasher makes every key
//! collide answers the same; an index rebuilt from the facts equals the incremental one; and
//! the rows the Casbin engine reads from the index are the Casbin projection's.
//!
//! The universe is small so that histories collide, and adversarial for an index that
//! interns: multi-byte ids, ids that are prefixes of others, ids whose byte order differs
//! from the order they are first seen in, custom actions (one differing only in case), and
//! every kind of change, including ones the event catalogue never produces together.

use endocarp::domain::{Action, Change, Conflict, EdgeSource, EntityKind, Id, Rule, RuleKind, Target};
use endocarp::engine::{self, CasbinRows, Check, EngineOptions, Index, reference};
use proptest::prelude::*;

pub(crate) const NODES: &[&str] = &[
    "a1", "a", "ab", "Zed", "é-agent", "agent-ß", "r1", "r2", "rôle-3", "g1", "r0",
];
pub(crate) const ACCOUNTS: &[&str] = &["acc1", "ácc2", "acc0"];
pub(crate) const POLICIES: &[&str] = &["p1", "p2", "P0", "pö"];
pub(crate) const TARGETS: &[&str] = &["t1", "tü", "t0"];
/// Policy types as `Policy.Created` stores them (full IRIs): enforced, inert, and one not
/// understood (only its prohibitions count).
pub(crate) const POLICY_TYPES: &[&str] = &[
    "http://www.w3.org/ns/odrl/2/Set",
    "http://www.w3.org/ns/odrl/2/Agreement",
    "http://www.w3.org/ns/odrl/2/Offer",
    "http://www.w3.org/ns/odrl/2/Request",
    "https://example.com/ns/Contract",
];
pub(crate) const ACTIONS: &[&str] = &[
    "odrl:read",
    "odrl:use",
    "odrl:delete",
    "odrl:write",
    "odrl:play",
    "odrl:display",
    "odrl:transfer",
    "odrl:modify",
    "cc:Sharing",
    "urn:x:approve",
    "urn:x:Approve",
    "urn:ü:sign",
];
/// Checked but never granted: unknown to every index.
pub(crate) const UNKNOWN: &[&str] = &["nobody", "urn:x:never"];
pub(crate) const LIMITS: &[usize] = &[0, 1, 2, 3, 5, 10_000];
/// Rules' constraints: each is satisfied, not satisfied or unknown under some context of
/// [`CONTEXTS`], one reads the clock (always satisfied), one never holds, one is never
/// evaluable (an unsupported datatype).
pub(crate) const CONDITIONS: &[&str] = &[
    r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#,
    r#"{"leftOperand":"odrl:purpose","operator":"odrl:isAnyOf","rightOperand":["research","teaching"]}"#,
    r#"[{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":5},{"leftOperand":"odrl:purpose","operator":"odrl:neq","rightOperand":"marketing"}]"#,
    r#"{"or":[{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"marketing"},{"leftOperand":"odrl:count","operator":"odrl:gteq","rightOperand":10}]}"#,
    r#"{"leftOperand":"odrl:dateTime","operator":"odrl:gt","rightOperand":{"@value":"2000-01-01","@type":"xsd:date"}}"#,
    r#"{"leftOperand":"odrl:dateTime","operator":"odrl:lt","rightOperand":{"@value":"2000-01-01T00:00:00Z","@type":"xsd:dateTime"}}"#,
    r#"{"leftOperand":"odrl:elapsedTime","operator":"odrl:lteq","rightOperand":{"@value":"P1D","@type":"xsd:duration"}}"#,
    // An action refinement ("R:"), alone and with a constraint ("constraint|R:refinement").
    r#"R:{"leftOperand":"odrl:purpose","operator":"odrl:neq","rightOperand":"marketing"}"#,
    r#"{"leftOperand":"odrl:count","operator":"odrl:gt","rightOperand":2}|R:{"leftOperand":"odrl:purpose","operator":"odrl:isNoneOf","rightOperand":["research"]}"#,
    // Duties ("D:"): discharged by the agent, or by a named assignee.
    r#"D:{"uid":"d1","action":"odrl:compensate"}"#,
    r#"D:[{"uid":"d1","action":"odrl:compensate"},{"uid":"d2","action":"odrl:attribute","assignee":"r1"}]"#,
];
/// Request contexts (JSON objects) for [`CONDITIONS`].
pub(crate) const CONTEXTS: &[&str] = &[
    r#"{}"#,
    r#"{"odrl:purpose":"research"}"#,
    r#"{"odrl:purpose":"marketing","odrl:count":3}"#,
    r#"{"odrl:purpose":["teaching"],"odrl:count":10}"#,
    r#"{"odrl:purpose":"teaching","odrl:count":"many"}"#,
    r#"{"endocarp:fulfilled":["d1"],"odrl:purpose":"research"}"#,
];

/// A condition of [`CONDITIONS`], parsed.
pub(crate) fn condition(text: &str) -> std::sync::Arc<endocarp::domain::constraint::Condition> {
    if let Some(duty) = text.strip_prefix("D:") {
        return std::sync::Arc::new(
            endocarp::domain::constraint::Condition::of(endocarp::domain::constraint::Attributes {
                duty: Some(("duty", duty)),
                ..Default::default()
            })
            .expect("test duties parse")
            .expect("a condition"),
        );
    }
    let (constraint, refinement) = match text.split_once("R:") {
        Some((c, r)) => (c.strip_suffix('|').filter(|c| !c.is_empty()), Some(r)),
        None => (Some(text), None),
    };
    std::sync::Arc::new(
        endocarp::domain::constraint::Condition::of(endocarp::domain::constraint::Attributes {
            constraint: constraint.map(|c| ("constraint", c)),
            refinement: refinement.map(|r| ("refinement", r)),
            ..Default::default()
        })
        .expect("test conditions parse")
        .expect("a condition"),
    )
}

/// A context of [`CONTEXTS`], parsed.
pub(crate) fn context(json: &str) -> endocarp::domain::constraint::Context {
    let serde_json::Value::Object(m) = serde_json::from_str(json).expect("test contexts are JSON") else {
        panic!("a context is an object");
    };
    let mut c = endocarp::domain::constraint::Context::default();
    for (k, v) in &m {
        let (value, unit) = endocarp::domain::constraint::context_from_json(k, v).expect("test context values parse");
        c.insert(k, value, unit.as_deref()).expect("test context keys parse");
    }
    c
}

/// A rule granted (`on`) or revoked, from the generators' names.
fn rule_fact(
    policy: &str,
    kind: RuleKind,
    assignee: &str,
    act: &str,
    target: Target,
    condition: Option<std::sync::Arc<endocarp::domain::constraint::Condition>>,
    on: bool,
) -> Change {
    Change::Rule {
        rule: Rule {
            policy: id(policy),
            kind,
            assignee: id(assignee),
            action: action(act),
            target,
            condition,
        },
        on,
    }
}

fn any_condition() -> impl Strategy<Value = Option<std::sync::Arc<endocarp::domain::constraint::Condition>>> {
    prop_oneof![4 => Just(None), 3 => pick(CONDITIONS).prop_map(|c| Some(condition(c)))]
}

pub(crate) fn id(s: &str) -> Id {
    Id::from_trusted(s)
}

pub(crate) fn action(s: &str) -> Action {
    Action::parse("action", s).expect("test actions are valid")
}

fn pick(xs: &'static [&'static str]) -> impl Strategy<Value = &'static str> {
    proptest::sample::select(xs)
}

pub(crate) fn any_change() -> impl Strategy<Value = Change> {
    let source = prop_oneof![
        Just(EdgeSource::Role),
        Just(EdgeSource::Group),
        Just(EdgeSource::RoleToRole)
    ];
    let kind = prop_oneof![Just(RuleKind::Permission), Just(RuleKind::Prohibition)];
    let target = prop_oneof![3 => pick(TARGETS).prop_map(|t| Target::One(id(t))), 2 => Just(Target::Any)];
    let entity = prop_oneof![
        pick(POLICIES).prop_map(|p| (EntityKind::Policy, p)),
        pick(NODES).prop_map(|n| (EntityKind::Agent, n)),
        pick(ACCOUNTS).prop_map(|a| (EntityKind::Account, a)),
    ];
    prop_oneof![
        4 => (source, pick(NODES), pick(NODES), any::<bool>()).prop_map(|(source, n, r, on)| Change::GlobalEdge {
            source,
            node: id(n),
            role: id(r),
            on
        }),
        2 => (pick(ACCOUNTS), pick(NODES), pick(NODES), any::<bool>()).prop_map(|(a, n, r, on)| Change::AccountEdge {
            account: id(a),
            node: id(n),
            role: id(r),
            on
        }),
        2 => (pick(ACCOUNTS), pick(NODES), pick(NODES)).prop_map(|(a, n, r)| Change::MemberSet {
            account: id(a),
            agent: id(n),
            role: id(r)
        }),
        1 => (pick(ACCOUNTS), pick(NODES)).prop_map(|(a, n)| Change::MemberRemoved {
            account: id(a),
            agent: id(n)
        }),
        8 => (pick(POLICIES), kind, pick(NODES), pick(ACTIONS), target, prop::bool::weighted(0.8), any_condition()).prop_map(
            |(p, kind, n, a, target, on, condition)| rule_fact(p, kind, n, a, target, condition, on)
        ),
        2 => (
            pick(POLICIES),
            proptest::option::of(pick(POLICY_TYPES)),
            proptest::option::of(prop_oneof![
                Just(Conflict::Prohibit),
                Just(Conflict::Perm),
                Just(Conflict::Invalid)
            ])
        )
            .prop_map(|(p, t, conflict)| Change::PolicyCreated {
                policy: id(p),
                policy_type: t.map(str::to_string),
                conflict
            }),
        2 => (entity, prop::bool::weighted(0.4)).prop_map(|((kind, i), active)| Change::Status {
            kind,
            id: id(i),
            active
        }),
        1 => (pick(POLICIES), pick(&["d1", "d2"]), pick(NODES)).prop_map(|(p, d, n)| Change::DutyDischarged {
            policy: id(p),
            duty: id(d),
            agent: id(n)
        }),
        // Asset collections among the targets (cycles included), and unknown targets in
        // them.
        2 => (prop_oneof![3 => pick(TARGETS), 1 => pick(UNKNOWN)], pick(TARGETS), prop::bool::weighted(0.7)).prop_map(
            |(a, c, on)| Change::AssetCollection {
                asset: id(a),
                collection: id(c),
                on
            }
        ),
        1 => (pick(NODES), proptest::option::of(pick(NODES))).prop_map(|(r, s)| Change::MarkRole {
            role: id(r),
            subject: s.map(id)
        }),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    check: Check,
    opts: EngineOptions,
}

fn any_case() -> impl Strategy<Value = Case> {
    let agent = prop_oneof![6 => pick(NODES), 1 => pick(UNKNOWN)];
    let account = proptest::option::of(prop_oneof![4 => pick(ACCOUNTS), 1 => pick(UNKNOWN)]);
    let act = prop_oneof![8 => pick(ACTIONS), 1 => Just("urn:x:never")];
    let target = prop_oneof![4 => pick(TARGETS), 1 => pick(UNKNOWN)];
    (
        agent,
        account,
        act,
        target,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        pick_limit(),
        pick(CONTEXTS),
        // Explanations whole, or cut to their first entries.
        explain_limit(),
    )
        .prop_map(
            |(agent, account, act, target, explain, hierarchy, membership, limit, ctx, explain_limit)| Case {
                check: Check {
                    agent: id(agent),
                    account: account.map(id),
                    action: action(act),
                    target: id(target),
                    explain,
                    explain_limit,
                    context: context(ctx),
                },
                opts: EngineOptions {
                    action_hierarchy: hierarchy,
                    require_membership: membership,
                    max_closure: limit,
                },
            },
        )
}

fn pick_limit() -> impl Strategy<Value = usize> {
    prop_oneof![1 => proptest::sample::select(LIMITS), 3 => Just(10_000)]
}

/// Policy "p" permits `assignee` to read anything (a rule on `*`).
fn read_anything(assignee: &str) -> Change {
    Change::Rule {
        rule: Rule {
            policy: id("p"),
            kind: RuleKind::Permission,
            assignee: id(assignee),
            action: action("odrl:read"),
            target: Target::Any,
            condition: None,
        },
        on: true,
    }
}

/// A global check by "agent" on target "t".
fn agent_check(act: &str, explain: bool) -> Check {
    Check {
        agent: id("agent"),
        account: None,
        action: action(act),
        target: id("t"),
        explain,
        explain_limit: usize::MAX,
        context: Default::default(),
    }
}

fn sorted_facts(facts: Vec<Change>) -> Vec<String> {
    let mut lines: Vec<String> = facts.iter().map(|f| format!("{f:?}")).collect();
    lines.sort();
    lines
}

/// The new engine and the reference agree on `case`, and the Casbin engine's rows from the
/// index are the Casbin projection's.
fn agree(new: &Index, old: &reference::Index, rows: &CasbinRows, case: &Case, when: &str) -> Result<(), TestCaseError> {
    let got = engine::decide(new, &case.check, &case.opts);
    let want = reference::decide(old, &case.check, &case.opts);
    prop_assert_eq!(&got, &want, "{} {:?}", when, case);
    if let Ok(assignees) = reference::closure(
        old,
        &case.check.agent,
        case.check.account.as_ref(),
        case.opts.max_closure,
    ) && reference::gates(old, &case.check, &case.opts) == Ok(None)
        && let Ok(collections) = reference::target_closure(old, &case.check.target, case.opts.max_closure)
    {
        // The index hands casbin-rs one deny row of the Casbin projection (the deciding
        // prohibition) when there is any, one of its allow rows (the deciding permission)
        // when there is any, and nothing else.
        let all = rows.candidates(&assignees, &case.check.action, case.check.target.as_str(), &collections);
        let from_index = engine::casbin_candidates(new, &case.check, &case.opts).expect("the gates and closure passed");
        let effect = |r: &Vec<String>| r[4].clone();
        let denies = |rows: &[Vec<String>]| {
            let mut d: Vec<Vec<String>> = rows.iter().filter(|r| effect(r) == "deny").cloned().collect();
            d.sort();
            d
        };
        if new.conditions_in_use() {
            // The projection writes a prohibition with constraints as an unconditional deny
            // and leaves a permission with constraints out; the index hands over what the
            // request's constraints let through. Its deny rows are still the projection's.
            let all_denies = denies(&all);
            prop_assert!(
                denies(&from_index).iter().all(|r| all_denies.contains(r)),
                "deny rows not in the projection {} {:?}",
                when,
                case
            );
            return Ok(());
        }
        if !new.strategies_in_use() {
            let all_denies = denies(&all);
            let given = denies(&from_index);
            prop_assert_eq!(
                given.len(),
                usize::from(!all_denies.is_empty()),
                "deny rows {} {:?}",
                when,
                case
            );
            prop_assert!(
                given.iter().all(|r| all_denies.contains(r)),
                "deny rows {} {:?}",
                when,
                case
            );
            let allows = from_index.iter().filter(|r| effect(r) == "allow").count();
            prop_assert_eq!(
                allows,
                usize::from(all.iter().any(|r| effect(r) == "allow")),
                "allow rows {} {:?}",
                when,
                case
            );
        }
        // With conflict strategies the index hands over the rows that survive them: still
        // rows of the projection, which holds every rule that counts.
        prop_assert!(
            from_index.iter().all(|r| all.contains(r)),
            "rows not in the projection {} {:?}",
            when,
            case
        );
    }
    Ok(())
}

fn run(history: &[Change], cases: &[Case], colliding: bool) -> Result<(), TestCaseError> {
    run_compacting(history, cases, colliding, &[], 0)
}

/// After a change of the history: fold the name tables' deltas into new bases now (1),
/// start folding them in the background (2), wait for such folds and swap them in (3),
/// build the role summaries (4; later writes keep them until one could change them),
/// start building them in the background (5; later writes may make that build stale), wait
/// for such a build and install it if still current (6), or nothing (0). Writes also start
/// background folds on their own past a size.
const FOLD_NOW: u8 = 1;
const FOLD_IN_BACKGROUND: u8 = 2;
const FINISH_FOLDS: u8 = 3;
const SUMMARIZE: u8 = 4;
const SUMMARIZE_IN_BACKGROUND: u8 = 5;
const FINISH_SUMMARIES: u8 = 6;

/// [`run`], folding the name tables as `compact` says after each change, with the first
/// `bulk` changes loaded as start-up loads the read model (in one bulk load, which ends by
/// labelling every name afresh and building the summaries; nothing is compared inside it).
fn run_compacting(
    history: &[Change],
    cases: &[Case],
    colliding: bool,
    compact: &[u8],
    bulk: usize,
) -> Result<(), TestCaseError> {
    let mut new = if colliding {
        Index::with_colliding_hasher()
    } else {
        Index::default()
    };
    // Agents holding one, two or three roles or more (by the history's length) get summaries
    // of their own, so checks read them here (a real organisation gives them to agents with
    // dozens); the rest read their roles' summaries.
    new.set_agent_summary_roles(1 + history.len() % 3);
    let mut old = reference::Index::default();
    // The Casbin projection is built with and without the hierarchy; each case reads the one
    // its options name.
    let mut rows = [CasbinRows::new(false), CasbinRows::new(true)];
    let mut kept = Vec::new();
    let bulk = bulk.min(history.len());
    if bulk > 0 {
        new.begin_bulk();
    }
    for (i, change) in history.iter().enumerate() {
        for r in &mut rows {
            r.apply(&new, change);
        }
        new.apply(change);
        old.apply(change);
        if i + 1 < bulk {
            continue;
        }
        if i + 1 == bulk {
            new.end_bulk();
        }
        match compact.get(i).copied() {
            Some(FOLD_NOW) => new.compact_names(),
            Some(FOLD_IN_BACKGROUND) => new.fold_names_in_background(),
            Some(FINISH_FOLDS) => new.finish_name_folds(),
            Some(SUMMARIZE) => new.summarize(),
            Some(SUMMARIZE_IN_BACKGROUND) => {
                new.refresh_summaries();
            }
            Some(FINISH_SUMMARIES) => {
                new.finish_summaries();
            }
            _ => {}
        }
        let revision = i as u64 + 1;
        new.set_revision(revision);
        old.set_revision(revision);
        if let Err(e) = new.validate() {
            return Err(TestCaseError::fail(format!("after {change:?}: {e}")));
        }
        prop_assert_eq!(new.stats(), old.stats(), "stats after {:?}", change);
        prop_assert_eq!(
            sorted_facts(new.facts()),
            sorted_facts(old.facts()),
            "facts after {:?}",
            change
        );
        prop_assert_eq!(new.facts_digest(), old.facts_digest());
        prop_assert_eq!(new.all_rules(), old.all_rules());
        // The same snapshot with role summaries built afresh: checks read them instead of
        // walking the closure, and must answer alike.
        let mut summarized = new.clone();
        summarized.summarize();
        if let Err(e) = summarized.validate() {
            return Err(TestCaseError::fail(format!("summarised after {change:?}: {e}")));
        }
        for case in cases {
            let rows = &rows[usize::from(case.opts.action_hierarchy)];
            agree(&new, &old, rows, case, &format!("at revision {revision}"))?;
            agree(
                &summarized,
                &old,
                rows,
                case,
                &format!("summarised at revision {revision}"),
            )?;
        }
        kept.push((new.clone(), old.clone(), rows.clone()));
    }
    // Snapshots taken earlier still answer as of their revision.
    for (new, old, rows) in &kept {
        for case in cases {
            let rows = &rows[usize::from(case.opts.action_hierarchy)];
            agree(new, old, rows, case, &format!("kept snapshot at {}", new.revision()))?;
        }
    }
    // Bulk (from the facts) equals incremental.
    let mut rebuilt = Index::default();
    for fact in new.facts() {
        rebuilt.apply(&fact);
    }
    rebuilt.set_revision(new.revision());
    rebuilt.validate().map_err(TestCaseError::fail)?;
    prop_assert_eq!(&rebuilt, &new);
    for case in cases {
        prop_assert_eq!(
            engine::decide(&rebuilt, &case.check, &case.opts),
            engine::decide(&new, &case.check, &case.opts)
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, .. ProptestConfig::default() })]

    #[test]
    fn index_v2_answers_exactly_as_the_reference(
        history in proptest::collection::vec(any_change(), 1..40),
        cases in proptest::collection::vec(any_case(), 12),
        colliding in prop::bool::weighted(0.25),
        compact in proptest::collection::vec(prop::sample::select(vec![0, 0, 0, 0, 0, FOLD_NOW, FOLD_IN_BACKGROUND, FINISH_FOLDS, SUMMARIZE, SUMMARIZE_IN_BACKGROUND, FINISH_SUMMARIES]), 40),
        bulk in prop_oneof![2 => Just(0usize), 1 => 1..40usize],
    ) {
        run_compacting(&history, &cases, colliding, &compact, bulk)?;
    }
}

/// Role summaries: built at the end of a bulk load, kept by writes that cannot change
/// them, dropped by one that can, rebuilt in the background, and never installed from a
/// build that a later write made stale; checks answer as the reference's throughout.
#[test]
fn role_summaries_are_rebuilt_in_the_background_and_never_installed_stale() {
    let edge = |source, node: &str, role: &str| Change::GlobalEdge {
        source,
        node: id(node),
        role: id(role),
        on: true,
    };
    let grant = |kind, who: &str, act: &str| Change::Rule {
        rule: Rule {
            policy: id("p1"),
            kind,
            assignee: id(who),
            action: action(act),
            target: Target::Any,
            condition: None,
        },
        on: true,
    };
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let opts = EngineOptions::default();
    new.begin_bulk();
    for change in [
        edge(EdgeSource::Role, "agent", "r1"),
        edge(EdgeSource::RoleToRole, "r1", "r2"),
        grant(RuleKind::Permission, "r2", "odrl:read"),
    ] {
        new.apply(&change);
        old.apply(&change);
    }
    new.end_bulk();
    assert!(new.summarized(), "a bulk load ends with summaries");
    let mut step = |new: &mut Index, change: &Change| {
        new.apply(change);
        old.apply(change);
        new.validate().unwrap();
        for act in ["odrl:read", "odrl:modify", "odrl:play"] {
            let check = agent_check(act, false);
            assert_eq!(
                engine::decide(new, &check, &opts),
                reference::decide(&old, &check, &opts),
                "{act} after {change:?}"
            );
        }
    };
    // Another agent's edge and a rule on an exact target cannot change a summary.
    step(&mut new, &edge(EdgeSource::Role, "other", "r2"));
    step(
        &mut new,
        &Change::Rule {
            rule: Rule {
                policy: id("p1"),
                kind: RuleKind::Prohibition,
                assignee: id("r2"),
                action: action("odrl:play"),
                target: Target::One(id("t")),
                condition: None,
            },
            on: true,
        },
    );
    assert!(new.summarized());
    // A role-to-role edge can: dropped; a background build starts from this snapshot.
    step(&mut new, &edge(EdgeSource::RoleToRole, "r2", "r3"));
    assert!(!new.summarized());
    assert!(!new.refresh_summaries());
    // A rule on `*` of a role makes that build stale: it is never installed.
    step(&mut new, &grant(RuleKind::Prohibition, "r3", "odrl:read"));
    assert!(!new.finish_summaries());
    assert!(!new.summarized());
    // The next build is current when it finishes, and the prohibition two roles up denies.
    assert!(!new.refresh_summaries());
    assert!(new.finish_summaries());
    assert!(new.summarized());
    step(&mut new, &Change::Ignored { duty: false });
    let denied = engine::decide(&new, &agent_check("odrl:read", false), &opts).unwrap();
    assert_eq!(denied.reason, endocarp::domain::Reason::Prohibited);
    // A policy's status changes which rules count: dropped again.
    step(
        &mut new,
        &Change::Status {
            kind: EntityKind::Policy,
            id: id("p1"),
            active: false,
        },
    );
    assert!(!new.summarized());
}

/// A long chain of roles: closures of exactly the limit and one more, global and in an
/// account, on both engines.
#[test]
fn closure_limits_are_exact_at_the_boundary() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let mut changes = vec![Change::GlobalEdge {
        source: EdgeSource::Role,
        node: id("agent"),
        role: id("role-0"),
        on: true,
    }];
    for i in 0..40 {
        changes.push(Change::GlobalEdge {
            source: EdgeSource::RoleToRole,
            node: id(&format!("role-{i}")),
            role: id(&format!("role-{}", i + 1)),
            on: true,
        });
    }
    // In acc, role-40 leads on to ten more roles through account edges out of roles.
    for i in 40..50 {
        changes.push(Change::AccountEdge {
            account: id("acc"),
            node: id(&format!("role-{i}")),
            role: id(&format!("role-{}", i + 1)),
            on: true,
        });
    }
    changes.push(read_anything("role-50"));
    for c in &changes {
        new.apply(c);
        old.apply(c);
    }
    new.validate().unwrap();
    let mut answers = 0;
    for account in [None, Some(id("acc"))] {
        for max in 0..60 {
            let check = Check {
                agent: id("agent"),
                account: account.clone(),
                action: action("odrl:read"),
                target: id("t"),
                explain: max % 2 == 0,
                explain_limit: usize::MAX,
                context: Default::default(),
            };
            let opts = EngineOptions {
                max_closure: max,
                ..EngineOptions::default()
            };
            let got = engine::decide(&new, &check, &opts);
            assert_eq!(
                got,
                reference::decide(&old, &check, &opts),
                "max {max}, account {account:?}"
            );
            answers += usize::from(got.is_ok());
        }
    }
    // Global: 41 roles + the agent fit from max 42; in acc, 51 roles from max 52.
    assert_eq!(answers, (60 - 42) + (60 - 52));
}

/// A summarised closure lists its roles in no order behind a filter of their ids modulo
/// 1024: nodes whose ids collide with the agent's roles' must not count as roles of it.
#[test]
fn ids_that_collide_in_the_closure_filter_are_not_in_the_closure() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let permit = |assignee: &str, target: &str| Change::Rule {
        rule: Rule {
            policy: id("p"),
            kind: RuleKind::Permission,
            assignee: id(assignee),
            action: action("odrl:read"),
            target: Target::One(id(target)),
            condition: None,
        },
        on: true,
    };
    // Ids 0–2: the two roles and the agent (a rule names one new node); then one stranger
    // per rule, in order.
    let mut changes = vec![
        permit("role-a", "elsewhere"),
        permit("role-b", "t2"),
        permit("agent", "own"),
        Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id("agent"),
            role: id("role-a"),
            on: true,
        },
        Change::GlobalEdge {
            source: EdgeSource::RoleToRole,
            node: id("role-a"),
            role: id("role-b"),
            on: true,
        },
    ];
    for i in 0..3000u32 {
        // Ids 1024–1026, 2048–2050: the same filter bits as the roles' and the agent's.
        let target = if matches!((i + 3) % 1024, 0..=2) {
            "t"
        } else {
            "elsewhere"
        };
        changes.push(permit(&format!("stranger-{i:04}"), target));
    }
    for c in &changes {
        new.apply(c);
        old.apply(c);
    }
    new.summarize();
    new.validate().unwrap();
    for (target, allowed) in [("t", false), ("t2", true), ("own", true), ("elsewhere", true)] {
        let check = Check {
            target: id(target),
            ..agent_check("odrl:read", false)
        };
        let opts = EngineOptions::default();
        let got = engine::decide(&new, &check, &opts).unwrap();
        assert_eq!(got.allowed, allowed, "{target}");
        assert_eq!(Ok(got), reference::decide(&old, &check, &opts), "{target}");
    }
    // A role whose id collides with role-a's joins the closure: it is listed, and its
    // permission on t counts (its neighbours' still do not).
    let joined = Change::GlobalEdge {
        source: EdgeSource::RoleToRole,
        node: id("role-b"),
        role: id("stranger-1021"),
        on: true,
    };
    new.apply(&joined);
    old.apply(&joined);
    new.summarize();
    new.validate().unwrap();
    let check = agent_check("odrl:read", false);
    let opts = EngineOptions::default();
    let got = engine::decide(&new, &check, &opts).unwrap();
    assert!(got.allowed);
    assert_eq!(
        got.deciding_rule.as_ref().map(|r| r.assignee.as_str()),
        Some("stranger-1021")
    );
    assert_eq!(Ok(got), reference::decide(&old, &check, &opts));
}

/// Summaries keep each role's label as it was when they were built, and new names that
/// are not roles do not drop them. Three of the agent's roles are named among names that
/// converge on one gap (so their labels are close), and more names converging there after
/// the summaries are built relabel them while the summaries stand: the deciding rule (the
/// least role by name, among three roles granting the same policy's rule on `*`) and the
/// explanation stay the reference's at every step.
#[test]
fn relabelling_roles_while_summaries_stand_keeps_the_deciding_rule() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let names = crate::common::converging_names("n-", 400);
    let member = |name: &str| Change::GlobalEdge {
        source: EdgeSource::Role,
        node: id(name),
        role: id("n-z"),
        on: true,
    };
    let mut changes: Vec<Change> = names[..200].iter().map(|n| member(n)).collect();
    let roles = &names[200..203];
    for role in roles {
        changes.push(Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id("agent"),
            role: id(role),
            on: true,
        });
        changes.push(read_anything(role));
    }
    for c in &changes {
        new.apply(c);
        old.apply(c);
    }
    new.summarize();
    let labels = |index: &Index| roles.iter().map(|r| index.node_label(r)).collect::<Vec<_>>();
    let built = labels(&new);
    let least = roles.iter().min().map(String::as_str);
    let opts = EngineOptions::default();
    for name in &names[203..] {
        // Members, not roles: their edges keep the summaries.
        new.apply(&member(name));
        old.apply(&member(name));
        assert!(new.summarized(), "a member's edge dropped the summaries");
        for explain in [false, true] {
            let check = agent_check("odrl:read", explain);
            let got = engine::decide(&new, &check, &opts);
            assert_eq!(got, reference::decide(&old, &check, &opts), "after {name}");
            let rule = got.unwrap().deciding_rule.map(|r| r.assignee.to_string());
            assert_eq!(rule.as_deref(), least);
        }
    }
    new.validate().unwrap();
    let after = labels(&new);
    assert!(
        built.iter().zip(&after).all(|(b, a)| b != a),
        "the converging names did not relabel every role: {built:?} -> {after:?}"
    );
}

/// An agent holding twenty roles has a summary of its own; its edges do not drop the
/// summaries, so after it loses the role whose prohibition decided, its summary no longer
/// stands for it (the check reads its roles' summaries and allows), and once the role is
/// back it does again.
#[test]
fn an_agent_summary_stands_for_the_agent_only_while_it_holds_the_same_roles() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let mut changes = Vec::new();
    for i in 0..20 {
        let role = format!("role-{i:02}");
        changes.push(Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id("agent"),
            role: id(&role),
            on: true,
        });
        let kind = if i == 7 {
            RuleKind::Prohibition
        } else {
            RuleKind::Permission
        };
        changes.push(rule_fact("p", kind, &role, "odrl:read", Target::Any, None, true));
    }
    // In account acc1 the agent also holds acc-role, which permits reading: an account
    // check reads the agent's summary and acc-role's.
    changes.push(Change::AccountEdge {
        account: id("acc1"),
        node: id("agent"),
        role: id("acc-role"),
        on: true,
    });
    changes.push(rule_fact(
        "p",
        RuleKind::Permission,
        "acc-role",
        "odrl:read",
        Target::Any,
        None,
        true,
    ));
    for c in &changes {
        new.apply(c);
        old.apply(c);
    }
    new.summarize();
    let edge = |on| Change::GlobalEdge {
        source: EdgeSource::Role,
        node: id("agent"),
        role: id("role-07"),
        on,
    };
    for (step, allowed) in [(None, false), (Some(edge(false)), true), (Some(edge(true)), false)] {
        if let Some(c) = &step {
            new.apply(c);
            old.apply(c);
        }
        assert!(new.summarized(), "an agent's edge keeps the summaries");
        new.validate().unwrap();
        for (explain, account) in [(false, None), (true, None), (false, Some(id("acc1")))] {
            let check = Check {
                account,
                ..agent_check("odrl:read", explain)
            };
            let opts = EngineOptions::default();
            let got = engine::decide(&new, &check, &opts).unwrap();
            assert_eq!(got.allowed, allowed, "after {step:?}, {check:?}");
            assert_eq!(Ok(got), reference::decide(&old, &check, &opts), "after {step:?}");
        }
    }
}

/// An agent holding fewer roles than the usual count, whose roles' closures together are
/// big, has a summary of its own (its closure only as bits); one holding as many small
/// roles has none. Every answer is the reference's, with and without the role whose
/// sub-role's prohibition decides, and the validator checks the summary's closure against
/// the union of its roles'.
#[test]
fn an_agent_with_few_roles_and_big_closures_has_a_summary_of_its_own() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let mut changes = Vec::new();
    let edge = |node: &str, role: &str, on| Change::GlobalEdge {
        source: EdgeSource::Role,
        node: id(node),
        role: id(role),
        on,
    };
    // Five roles of 31 each (the role and 30 sub-roles): 155 roles listed together.
    for r in 0..5 {
        let role = format!("role-{r}");
        changes.push(edge("agent", &role, true));
        changes.push(edge("small", &format!("small-{r}"), true));
        for s in 0..30 {
            changes.push(edge(&role, &format!("role-{r}-sub-{s:02}"), true));
        }
    }
    for (policy, kind, assignee, act, target) in [
        ("p", RuleKind::Permission, "role-0-sub-05", "odrl:read", Target::Any),
        ("p", RuleKind::Prohibition, "role-3-sub-17", "odrl:read", Target::Any),
        (
            "q",
            RuleKind::Permission,
            "role-4-sub-29",
            "odrl:play",
            Target::One(id("t")),
        ),
        ("q", RuleKind::Permission, "small-2", "odrl:read", Target::Any),
    ] {
        changes.push(rule_fact(policy, kind, assignee, act, target, None, true));
    }
    for c in &changes {
        new.apply(c);
        old.apply(c);
    }
    new.summarize();
    assert!(new.agent_summarized("agent"), "five roles listing 155 together");
    assert!(!new.agent_summarized("small"), "five roles listing 5");
    for (step, read, summarized) in [
        (None, false, true),
        (Some(edge("agent", "role-3", false)), true, false),
        (Some(edge("agent", "role-3", true)), false, true),
    ] {
        if let Some(c) = &step {
            new.apply(c);
            old.apply(c);
        }
        assert!(new.summarized(), "an agent's edge keeps the summaries");
        assert_eq!(new.agent_summarized("agent"), summarized, "after {step:?}");
        new.validate().unwrap();
        for agent in ["agent", "small"] {
            for (act, explain) in [
                ("odrl:read", false),
                ("odrl:read", true),
                ("odrl:play", false),
                ("odrl:use", false),
            ] {
                let check = Check {
                    agent: id(agent),
                    ..agent_check(act, explain)
                };
                let opts = EngineOptions::default();
                let got = engine::decide(&new, &check, &opts).unwrap();
                if agent == "agent" && act == "odrl:read" {
                    assert_eq!(got.allowed, read, "after {step:?}");
                }
                assert_eq!(
                    Ok(got),
                    reference::decide(&old, &check, &opts),
                    "after {step:?}, {check:?}"
                );
            }
        }
    }
    // A closure limit below the summary's size fails as the walk does.
    let limited = EngineOptions {
        max_closure: 100,
        ..EngineOptions::default()
    };
    let check = agent_check("odrl:read", false);
    assert_eq!(
        engine::decide(&new, &check, &limited),
        reference::decide(&old, &check, &limited)
    );
    assert!(engine::decide(&new, &check, &limited).is_err());
}

/// A deactivated policy holding the best rule of its kind must not hide the next one, on
/// exact targets and on `*`, and its reactivation brings it back.
#[test]
fn a_deactivated_best_rule_falls_back_to_the_next() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let rule = |policy: &str, kind, assignee: &str, target: Target| Change::Rule {
        rule: Rule {
            policy: id(policy),
            kind,
            assignee: id(assignee),
            action: action("odrl:play"),
            target,
            condition: None,
        },
        on: true,
    };
    let edge = Change::GlobalEdge {
        source: EdgeSource::Role,
        node: id("agent"),
        role: id("role"),
        on: true,
    };
    let history = vec![
        edge,
        rule("a-first", RuleKind::Prohibition, "role", Target::Any),
        rule("b-second", RuleKind::Prohibition, "role", Target::Any),
        rule("a-first", RuleKind::Permission, "role", Target::One(id("t"))),
        rule("c-third", RuleKind::Permission, "agent", Target::Any),
        Change::Status {
            kind: EntityKind::Policy,
            id: id("a-first"),
            active: false,
        },
        Change::Status {
            kind: EntityKind::Policy,
            id: id("b-second"),
            active: false,
        },
        Change::Status {
            kind: EntityKind::Policy,
            id: id("a-first"),
            active: true,
        },
    ];
    let mut reasons = Vec::new();
    for change in &history {
        new.apply(change);
        old.apply(change);
        new.validate().unwrap();
        for explain in [false, true] {
            let check = agent_check("odrl:play", explain);
            let got = engine::decide(&new, &check, &EngineOptions::default()).unwrap();
            assert_eq!(got, reference::decide(&old, &check, &EngineOptions::default()).unwrap());
            if !explain {
                reasons.push((got.reason.as_str(), got.deciding_rule.map(|r| r.policy.to_string())));
            }
        }
    }
    let policy = |r: &(&str, Option<String>)| r.1.clone().unwrap_or_default();
    assert_eq!(policy(&reasons[4]), "a-first", "{reasons:?}");
    assert_eq!(policy(&reasons[5]), "b-second", "{reasons:?}");
    assert_eq!(reasons[6].0, "PERMITTED", "{reasons:?}");
    assert_eq!(
        policy(&reasons[6]),
        "c-third",
        "own `*` beats a role's exact target: {reasons:?}"
    );
    assert_eq!(policy(&reasons[7]), "a-first", "{reasons:?}");
}

/// Rules (policies of [`POLICIES`], either kind) on the target `t1` (`exact` in
/// `exact + star`) or on `*` for `assignees` and `actions`, on with probability `on`; now and
/// then a policy's status.
fn rule_change(
    assignees: &'static [&'static str],
    actions: &'static [&'static str],
    (exact, star): (u32, u32),
    on: f64,
) -> impl Strategy<Value = Change> {
    let kind = prop_oneof![Just(RuleKind::Permission), Just(RuleKind::Prohibition)];
    let target = prop_oneof![exact => Just(Target::One(id("t1"))), star => Just(Target::Any)];
    prop_oneof![
        12 => (pick(POLICIES), kind, pick(assignees), pick(actions), target, prop::bool::weighted(on)).prop_map(
            |(p, kind, n, a, target, on)| Change::Rule {
                rule: Rule { policy: id(p), kind, assignee: id(n), action: action(a), target, condition: None, },
                on
            }
        ),
        1 => (pick(POLICIES), prop::bool::weighted(0.5)).prop_map(|(p, active)| Change::Status {
            kind: EntityKind::Policy,
            id: id(p),
            active
        }),
    ]
}

/// The agent "a1" and the five roles of its closure that [`crowded_change`] and
/// [`conditional_change`] give rules to (reached in an order unlike their names').
fn crowded_closure() -> Vec<Change> {
    let edge = |source, node: &str, role: &str| Change::GlobalEdge {
        source,
        node: id(node),
        role: id(role),
        on: true,
    };
    vec![
        edge(EdgeSource::Role, "a1", "r-e"),
        edge(EdgeSource::Role, "a1", "rôle-c"),
        edge(EdgeSource::RoleToRole, "r-e", "r-a"),
        edge(EdgeSource::RoleToRole, "rôle-c", "R-b"),
        edge(EdgeSource::RoleToRole, "r-a", "r-d"),
    ]
}

/// Rules of several policies on one target and on `*` for an agent and five roles of its
/// closure (reached in an order unlike their names'), on related actions: many applicable
/// rules compete in each tier, so the best one is often not the first one found.
fn crowded_change() -> impl Strategy<Value = Change> {
    rule_change(&["a1", "r-e", "r-a", "rôle-c", "R-b", "r-d"], RELATED, (1, 2), 0.9)
}

/// Many rules on one target and on `*` for a few assignees: rows long enough that the check
/// binary-searches them (by assignee in a target's row, by action in a `*` row) instead of
/// scanning them.
fn dense_change() -> impl Strategy<Value = Change> {
    rule_change(&["a1", "r1", "rôle-3"], ACTIONS, (3, 2), 0.85)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn long_rows_are_searched_exactly(
        history in proptest::collection::vec(dense_change(), 60..160),
        cases in proptest::collection::vec(any_case(), 8),
    ) {
        let mut full = vec![
            Change::GlobalEdge { source: EdgeSource::Role, node: id("a1"), role: id("r1"), on: true },
            Change::GlobalEdge { source: EdgeSource::RoleToRole, node: id("r1"), role: id("rôle-3"), on: true },
        ];
        full.extend(history);
        let cases: Vec<Case> = cases
            .into_iter()
            .map(|mut c| {
                c.check.agent = id("a1");
                c.check.target = id("t1");
                c
            })
            .collect();
        run(&full, &cases, false)?;
    }

    #[test]
    fn the_best_rule_wins_among_many_in_every_tier(
        history in proptest::collection::vec(crowded_change(), 10..60),
        cases in proptest::collection::vec(any_case(), 6),
    ) {
        let mut full = crowded_closure();
        full.extend(history);
        let cases: Vec<Case> = cases
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c.check.agent = id("a1");
                c.check.target = id("t1");
                c.check.action = action(RELATED[i % RELATED.len()]);
                c
            })
            .collect();
        run(&full, &cases, false)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    /// Explanations long enough (64 rules or more) that the engine ranks their rules by
    /// integer keys (`engine::ranking`) instead of comparing them: every listed rule, in
    /// order, against the reference's, whole or cut to a limit.
    #[test]
    fn long_explanations_list_every_rule_in_deciding_order(
        history in proptest::collection::vec(crowded_change(), 200..320),
        cases in proptest::collection::vec((pick(RELATED), any::<bool>(), explain_limit()), 6),
    ) {
        let mut full = crowded_closure();
        full.extend(history);
        run(&full, &explaining_a1_on_t1(cases), false)?;
    }

    #[test]
    fn long_explanations_set_aside_the_rules_a_policy_type_does_not_enforce(
        types in proptest::collection::vec((pick(POLICIES), pick(POLICY_TYPES)), 1..4),
        history in proptest::collection::vec(crowded_change(), 200..320),
        cases in proptest::collection::vec((pick(RELATED), any::<bool>(), explain_limit()), 6),
    ) {
        // Typed policies (inert, not understood, enforced) among active and deactivated
        // ones: the rules that do not count are listed apart, the rest counted and ranked.
        let mut full: Vec<Change> = types
            .into_iter()
            .map(|(p, t)| Change::PolicyCreated { policy: id(p), policy_type: Some(t.to_string()), conflict: None })
            .collect();
        full.extend(crowded_closure());
        full.extend(history);
        run(&full, &explaining_a1_on_t1(cases), false)?;
    }
}

/// Entries a list of an explanation holds: all of them, none, a few, or around the
/// lengths of the crowded closure's lists (some cut short, some not).
fn explain_limit() -> impl Strategy<Value = usize> {
    prop_oneof![2 => Just(usize::MAX), 1 => 0..4usize, 2 => 4..200usize]
}

/// Explain-mode checks of "a1" on "t1", one per (action, hierarchy on, explain limit).
fn explaining_a1_on_t1(cases: Vec<(&str, bool, usize)>) -> Vec<Case> {
    cases
        .into_iter()
        .map(|(act, hierarchy, explain_limit)| Case {
            check: Check {
                agent: id("a1"),
                account: None,
                action: action(act),
                target: id("t1"),
                explain: true,
                explain_limit,
                context: context(CONTEXTS[0]),
            },
            opts: EngineOptions {
                action_hierarchy: hierarchy,
                ..EngineOptions::default()
            },
        })
        .collect()
}

/// Rules of the crowded closure on a target, on the asset collections it is part of
/// (directly and through another collection, named in an order unlike the walk's) and on
/// `*`: an explanation then names rules on several targets, each of which must be the
/// rule's own.
fn collected_change() -> impl Strategy<Value = Change> {
    let kind = prop_oneof![Just(RuleKind::Permission), Just(RuleKind::Prohibition)];
    let target = prop_oneof![
        Just(Target::One(id("t1"))),
        Just(Target::One(id("z-shelf"))),
        Just(Target::One(id("Älbum"))),
        Just(Target::One(id("b-box"))),
        Just(Target::Any),
    ];
    (
        pick(POLICIES),
        kind,
        pick(&["a1", "r-e", "r-a", "rôle-c", "R-b", "r-d"]),
        pick(RELATED),
        target,
        prop::bool::weighted(0.9),
    )
        .prop_map(|(p, kind, n, a, target, on)| Change::Rule {
            rule: Rule {
                policy: id(p),
                kind,
                assignee: id(n),
                action: action(a),
                target,
                condition: None,
            },
            on,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Every rule an explanation lists names its own target: the requested one, one of its
    /// collections or `*` (the engine keeps each target once and finds it by level and
    /// position, `engine::listing`).
    #[test]
    fn explanations_over_collections_name_each_rule_s_target(
        history in proptest::collection::vec(collected_change(), 20..160),
        cases in proptest::collection::vec((pick(RELATED), any::<bool>(), explain_limit()), 4),
    ) {
        let part_of = |asset: &str, collection: &str| Change::AssetCollection {
            asset: id(asset),
            collection: id(collection),
            on: true,
        };
        let mut full = crowded_closure();
        full.extend([part_of("t1", "z-shelf"), part_of("t1", "b-box"), part_of("z-shelf", "Älbum")]);
        full.extend(history);
        run(&full, &explaining_a1_on_t1(cases), false)?;
    }
}

/// Rules with and without conditions, mostly on `*`, for an agent and roles of its closure,
/// on related actions: several variants (policy and condition) of one action compete, and
/// whether each applies depends on the request's context.
fn conditional_change() -> impl Strategy<Value = Change> {
    let kind = prop_oneof![Just(RuleKind::Permission), Just(RuleKind::Prohibition)];
    let target = prop_oneof![1 => Just(Target::One(id("t1"))), 3 => Just(Target::Any)];
    (
        pick(POLICIES),
        kind,
        pick(&["a1", "r-e", "r-a", "rôle-c", "R-b"]),
        pick(RELATED),
        target,
        any_condition(),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(p, kind, n, a, target, condition, on)| rule_fact(p, kind, n, a, target, condition, on))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn competing_conditions_answer_exactly(
        history in proptest::collection::vec(conditional_change(), 10..50),
        cases in proptest::collection::vec((pick(RELATED), pick(CONTEXTS), any::<bool>()), 8),
    ) {
        let mut full = crowded_closure();
        full.extend(history);
        let cases: Vec<Case> = cases
            .into_iter()
            .map(|(act, ctx, hierarchy)| Case {
                check: Check {
                    agent: id("a1"),
                    account: None,
                    action: action(act),
                    target: id("t1"),
                    explain: false,
                    explain_limit: usize::MAX,
                    context: context(ctx),
                },
                opts: EngineOptions { action_hierarchy: hierarchy, ..EngineOptions::default() },
            })
            .collect();
        run(&full, &cases, false)?;
    }
}

/// Roles of a dense graph for [`wide_change`].
const WIDE: &[&str] = &[
    "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10", "w11", "w12", "w13", "w14", "w15", "w16", "w17",
    "w18", "w19", "w20", "w21", "w22", "w23",
];
/// Assignees for [`wide_change`]'s rules: the agents and the roles.
const WIDE_ASSIGNEES: &[&str] = &[
    "a1", "a2", "w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10", "w11", "w12", "w13", "w14", "w15",
    "w16", "w17", "w18", "w19", "w20", "w21", "w22", "w23",
];

/// Two agents holding many roles of a dense role graph (cycles included), with account
/// edges and memberships: the direct roles' summarised closures hold more than 64 ids
/// together, so a check ORs them as bit sets instead of sorting them.
fn wide_change() -> impl Strategy<Value = Change> {
    let edge = |source| {
        move |(node, role, on): (&str, &str, bool)| Change::GlobalEdge {
            source,
            node: id(node),
            role: id(role),
            on,
        }
    };
    prop_oneof![
        6 => (pick(WIDE), pick(WIDE), prop::bool::weighted(0.9)).prop_map(edge(EdgeSource::RoleToRole)),
        4 => (pick(&["a1", "a2"]), pick(WIDE), prop::bool::weighted(0.95)).prop_map(edge(EdgeSource::Role)),
        1 => (pick(WIDE), pick(WIDE), any::<bool>()).prop_map(|(node, role, on)| Change::AccountEdge {
            account: id("acc1"),
            node: id(node),
            role: id(role),
            on,
        }),
        1 => (pick(&["a1", "a2"]), pick(WIDE)).prop_map(|(agent, role)| Change::MemberSet {
            account: id("acc1"),
            agent: id(agent),
            role: id(role),
        }),
        6 => rule_change(WIDE_ASSIGNEES, RELATED, (1, 2), 0.9),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, .. ProptestConfig::default() })]

    #[test]
    fn wide_closures_answer_exactly(
        history in proptest::collection::vec(wide_change(), 40..140),
        cases in proptest::collection::vec(
            (
                pick(&["a1", "a2"]),
                proptest::option::of(Just("acc1")),
                pick(RELATED),
                prop::sample::select(vec![1usize, 10, 20, 23, 24, 25, 26, 10_000]),
                any::<bool>(),
            ),
            8,
        ),
    ) {
        let cases: Vec<Case> = cases
            .into_iter()
            .map(|(agent, account, act, max_closure, explain)| Case {
                check: Check {
                    agent: id(agent),
                    account: account.map(id),
                    action: action(act),
                    target: id("t1"),
                    explain,
                    explain_limit: usize::MAX,
                    context: Default::default(),
                },
                opts: EngineOptions { max_closure, ..EngineOptions::default() },
            })
            .collect();
        run(&history, &cases, false)?;
    }
}

/// Actions whose rules apply to each other's checks (the hierarchy links them).
pub(crate) const RELATED: &[&str] = &["odrl:read", "odrl:use", "odrl:modify"];

/// Rules of a few policies, most with a conflict strategy other than `prohibit`, on one
/// target and on `*`, for an agent and its two roles, on related actions: a permission and a
/// prohibition of one policy apply to most checks. Strategies and types change on the way.
pub(crate) fn conflict_history() -> impl Strategy<Value = Vec<Change>> {
    const FEW: &[&str] = &["a1", "r1", "rôle-3"];
    let strategy =
        || prop_oneof![1 => Just(Conflict::Prohibit), 3 => Just(Conflict::Perm), 3 => Just(Conflict::Invalid)];
    let kind = prop_oneof![Just(RuleKind::Permission), Just(RuleKind::Prohibition)];
    let target = prop_oneof![3 => Just(Target::One(id("t1"))), 2 => Just(Target::Any)];
    let change = prop_oneof![
        12 => (pick(POLICIES), kind, pick(FEW), pick(RELATED), target, prop::bool::weighted(0.85)).prop_map(
            |(p, kind, n, a, target, on)| Change::Rule {
                rule: Rule { policy: id(p), kind, assignee: id(n), action: action(a), target, condition: None, },
                on
            }
        ),
        1 => (pick(POLICIES), strategy(), proptest::option::of(pick(POLICY_TYPES))).prop_map(|(p, c, t)| {
            Change::PolicyCreated { policy: id(p), policy_type: t.map(str::to_string), conflict: Some(c) }
        }),
        1 => (pick(POLICIES), prop::bool::weighted(0.7)).prop_map(|(p, active)| Change::Status {
            kind: EntityKind::Policy,
            id: id(p),
            active
        }),
    ];
    (
        proptest::collection::vec(strategy(), POLICIES.len()),
        proptest::collection::vec(change, 20..60),
    )
        .prop_map(|(strategies, changes)| {
            let mut history = vec![
                Change::GlobalEdge {
                    source: EdgeSource::Role,
                    node: id("a1"),
                    role: id("r1"),
                    on: true,
                },
                Change::GlobalEdge {
                    source: EdgeSource::RoleToRole,
                    node: id("r1"),
                    role: id("rôle-3"),
                    on: true,
                },
            ];
            for (p, c) in POLICIES.iter().zip(strategies) {
                history.push(Change::PolicyCreated {
                    policy: id(p),
                    policy_type: None,
                    conflict: Some(c),
                });
            }
            history.extend(changes);
            history
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Conflict strategies give the reference's whole results (explanations included) at
    /// every revision, and the Casbin engine's rows are the surviving rules.
    #[test]
    fn conflict_strategies_resolve_exactly(
        history in conflict_history(),
        cases in proptest::collection::vec(any_case(), 9),
    ) {
        let cases: Vec<Case> = cases
            .into_iter()
            .enumerate()
            .map(|(i, mut c)| {
                c.check.agent = id("a1");
                // t0: only the `*` rules apply.
                c.check.target = id(if i % 4 == 3 { "t0" } else { "t1" });
                c.check.action = action(RELATED[i % RELATED.len()]);
                c
            })
            .collect();
        run(&history, &cases, false)?;
    }
}

/// Policy names that keep landing in the same gap of labels (converging on it from both
/// ends, between "a" and "c") force the index to relabel the policies around it, more than
/// once; the deciding rule is still the lowest policy in byte order, as the reference finds
/// it. Then a run into the gap above them (between "c" and "z", each name just above the
/// last), labelled near its last name.
#[test]
fn relabelling_policies_keeps_the_byte_order() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let mut history = vec![
        Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id("agent"),
            role: id("role"),
            on: true,
        },
        Change::PolicyCreated {
            policy: id("z"),
            policy_type: None,
            conflict: None,
        },
        Change::PolicyCreated {
            policy: id("a"),
            policy_type: None,
            conflict: None,
        },
    ];
    let names: Vec<String> = std::iter::once("c".to_string())
        .chain(crate::common::converging_names("b", 100))
        .chain((1..=60).map(|k| format!("d{}", "y".repeat(k))))
        .collect();
    for (k, policy) in names.iter().enumerate().map(|(i, p)| (i + 1, p)) {
        history.push(Change::Rule {
            rule: Rule {
                policy: id(policy),
                kind: if k % 7 == 0 {
                    RuleKind::Prohibition
                } else {
                    RuleKind::Permission
                },
                assignee: id(if k % 2 == 0 { "role" } else { "agent" }),
                action: action(if k % 3 == 0 { "odrl:use" } else { "odrl:play" }),
                target: if k % 5 == 0 { Target::One(id("t")) } else { Target::Any },
                condition: None,
            },
            on: true,
        });
        if k % 11 == 0 {
            history.push(Change::Status {
                kind: EntityKind::Policy,
                id: id(&names[k - 5]),
                active: false,
            });
        }
    }
    for change in &history {
        new.apply(change);
        old.apply(change);
        new.validate().unwrap();
        for (action_name, explain) in [("odrl:play", false), ("odrl:play", true), ("odrl:use", false)] {
            let check = agent_check(action_name, explain);
            assert_eq!(
                engine::decide(&new, &check, &EngineOptions::default()),
                reference::decide(&old, &check, &EngineOptions::default()),
                "after {change:?}"
            );
        }
    }
    assert!(new.relabelled_names() > 0, "no policy was relabelled");
}

/// The same for node labels: roles whose names keep landing in one gap (converging on it),
/// all granted by one policy, so the deciding rule is the role lowest in byte order; then
/// agents in a run into one gap.
#[test]
fn relabelling_nodes_keeps_the_byte_order() {
    let mut new = Index::default();
    let mut old = reference::Index::default();
    let mut history = vec![
        Change::MarkRole {
            role: id("z"),
            subject: None,
        },
        Change::MarkRole {
            role: id("a"),
            subject: None,
        },
    ];
    for (k, role) in (1..).zip(crate::common::converging_names("", 90)) {
        history.push(Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id("agent"),
            role: id(&role),
            on: true,
        });
        history.push(Change::Rule {
            rule: Rule {
                policy: id("p"),
                kind: if k % 9 == 0 {
                    RuleKind::Prohibition
                } else {
                    RuleKind::Permission
                },
                assignee: id(&role),
                action: action("odrl:play"),
                target: if k % 2 == 0 { Target::One(id("t")) } else { Target::Any },
                condition: None,
            },
            on: true,
        });
    }
    for k in 1..=90 {
        history.push(Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id(&format!("agent-{}", "y".repeat(k))),
            role: id("z"),
            on: true,
        });
    }
    let mut most_moved = 0;
    for change in &history {
        new.apply(change);
        old.apply(change);
        new.validate().unwrap();
        most_moved = most_moved.max(new.moved_nodes());
        // Ending a bulk load when none runs changes nothing, nodes a relabel moved included.
        let mut ended = new.clone();
        ended.end_bulk();
        ended.validate().unwrap();
        for explain in [false, true] {
            let check = agent_check("odrl:play", explain);
            let opts = EngineOptions::default();
            let want = reference::decide(&old, &check, &opts);
            assert_eq!(engine::decide(&new, &check, &opts), want, "after {change:?}");
            assert_eq!(
                engine::decide(&ended, &check, &opts),
                want,
                "after {change:?} and end_bulk"
            );
        }
    }
    assert!(new.relabelled_names() > 0, "no node was relabelled");
    // Relabelled nodes waited in the moved map while checks were compared.
    assert!(most_moved > 0, "no relabelled node waited to be settled");
}

/// Thousands of names inserted one after another into the same gap (each just above the
/// last and below "z": runs, labelled near their last names) and then two thousand
/// converging on another gap from both ends (so the index relabels the names around it,
/// not all of them each time) keep their labels in byte order.
#[test]
fn a_run_of_names_into_one_gap_stays_ordered() {
    let mut new = Index::default();
    new.apply(&Change::MarkRole {
        role: id("z"),
        subject: None,
    });
    new.apply(&Change::PolicyCreated {
        policy: id("z"),
        policy_type: None,
        conflict: None,
    });
    for i in 0..20_000 {
        new.apply(&Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id(&format!("agent-{i:05}")),
            role: id("z"),
            on: true,
        });
        if i % 4 == 0 {
            new.apply(&Change::PolicyCreated {
                policy: id(&format!("p-{i:05}")),
                policy_type: None,
                conflict: None,
            });
        }
    }
    assert_eq!(new.relabelled_names(), 0, "runs relabelled names");
    for name in crate::common::converging_names("agent-0", 2_000) {
        new.apply(&Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id(&name),
            role: id("z"),
            on: true,
        });
    }
    assert!(new.relabelled_names() > 0, "converging names relabelled nothing");
    new.validate().unwrap();
}

/// An index in the middle of a bulk load has no labels and unsorted reverse rows: every
/// check, look-up, closure and validation refuses it until the load ends, and then
/// answers as the reference does.
#[test]
fn nothing_is_decided_from_an_index_in_a_bulk_load() {
    use endocarp::engine::{EngineError, lookup};
    let history = [
        Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id("agent"),
            role: id("r1"),
            on: true,
        },
        Change::Rule {
            rule: Rule {
                policy: id("p1"),
                kind: RuleKind::Permission,
                assignee: id("r1"),
                action: action("odrl:read"),
                target: Target::One(id("t")),
                condition: None,
            },
            on: true,
        },
    ];
    let (mut new, mut old) = (Index::default(), reference::Index::default());
    let opts = EngineOptions::default();
    new.begin_bulk();
    assert!(new.is_loading());
    for change in &history {
        new.apply(change);
        old.apply(change);
    }
    let check = agent_check("odrl:read", false);
    let loading = |r: Result<(), EngineError>| matches!(r, Err(EngineError::Loading));
    let refusals = |new: &Index| {
        [
            loading(engine::decide(new, &check, &opts).map(drop)),
            loading(engine::decide(new, &agent_check("odrl:read", true), &opts).map(drop)),
            loading(engine::gates(new, &check, &opts).map(drop)),
            loading(engine::closure(new, &check.agent, None, 100).map(drop)),
            loading(lookup::agents(new, &check.action, &check.target, None, &opts, lookup::Window::all()).map(drop)),
            loading(lookup::targets(new, &check.agent, None, &check.action, &opts, lookup::Window::all()).map(drop)),
            loading(lookup::actions(new, &check.agent, None, &check.target, &opts).map(drop)),
            new.validate().is_err(),
        ]
    };
    assert_eq!(refusals(&new), [true; 8], "refused during the load");
    new.end_bulk();
    assert!(!new.is_loading());
    assert_eq!(refusals(&new), [false; 8], "answered after it");
    let decided = engine::decide(&new, &check, &opts).unwrap();
    assert!(decided.allowed);
    assert_eq!(Ok(decided), reference::decide(&old, &check, &opts));
}

/// Roles of a graph big enough that an explained closure holds 64 roles or more, which the
/// engine orders by label with buckets (`engine::ranking::sort_by_label`) instead of a
/// comparison sort: named so that byte order, the order they are first seen in and the
/// graph's walk order all differ; multi-byte names among them.
static BIG: std::sync::LazyLock<Vec<&'static str>> = std::sync::LazyLock::new(|| {
    (0..150usize)
        .map(|k| {
            let stem = ["role", "Rôle", "r", "ß-role", "R"][k % 5];
            &*Box::leak(format!("{stem}{:03}", (k * 97) % 150).into_boxed_str())
        })
        .collect()
});

/// The first `BIG_BULK` roles of [`BIG`] are in the bulk load; the rest come later, so the
/// labels of the bulk's roles are spread evenly and the later ones' crowd between them.
const BIG_BULK: usize = 110;

/// A tree over the bulk's roles (each below one of the roles before it) under "a1", rules
/// for some of them on "t1" and on `*`: an explained closure of 110 roles at the start.
fn big_bulk(parents: &[prop::sample::Index], rules: &[(usize, bool, bool, usize)]) -> Vec<Change> {
    let big: &'static [&'static str] = BIG.as_slice();
    let mut out = vec![Change::GlobalEdge {
        source: EdgeSource::Role,
        node: id("a1"),
        role: id(big[0]),
        on: true,
    }];
    for (k, parent) in parents.iter().enumerate().take(BIG_BULK - 1) {
        let k = k + 1;
        out.push(Change::GlobalEdge {
            source: EdgeSource::RoleToRole,
            node: id(big[parent.index(k)]),
            role: id(big[k]),
            on: true,
        });
    }
    out.extend(
        rules
            .iter()
            .map(|&(role, prohibit, star, act)| big_rule(big[role % BIG_BULK], prohibit, star, act)),
    );
    out
}

fn big_rule(assignee: &str, prohibit: bool, star: bool, act: usize) -> Change {
    Change::Rule {
        rule: Rule {
            policy: id(POLICIES[act % POLICIES.len()]),
            kind: if prohibit {
                RuleKind::Prohibition
            } else {
                RuleKind::Permission
            },
            assignee: id(assignee),
            action: action(RELATED[act % RELATED.len()]),
            target: if star { Target::Any } else { Target::One(id("t1")) },
            condition: None,
        },
        on: true,
    }
}

/// After the bulk load: the later roles joined to the graph (and some edges cut, so the
/// closure shrinks below 64 and grows again), rules for any role, rules withdrawn.
fn big_change() -> impl Strategy<Value = Change> {
    let big: &'static [&'static str] = BIG.as_slice();
    let edge = move |(node, role, on): (usize, usize, bool)| Change::GlobalEdge {
        source: EdgeSource::RoleToRole,
        node: id(big[node]),
        role: id(big[role]),
        on,
    };
    prop_oneof![
        4 => (0..150usize, BIG_BULK..150usize, Just(true)).prop_map(edge),
        1 => (0..8usize, 0..BIG_BULK, Just(false)).prop_map(edge),
        1 => (0..150usize).prop_map(move |r| Change::GlobalEdge {
            source: EdgeSource::Role,
            node: id("a1"),
            role: id(big[r]),
            on: true,
        }),
        4 => (0..150usize, any::<bool>(), prop::bool::weighted(0.3), 0..12usize, prop::bool::weighted(0.85))
            .prop_map(move |(r, prohibit, star, act, on)| match big_rule(big[r], prohibit, star, act) {
                Change::Rule { rule, .. } => Change::Rule { rule, on },
                other => other,
            }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Explanations of closures of 64 roles or more (bulk-loaded, so labelled evenly, then
    /// grown with roles labelled between them, cut and regrown, with the name tables folded
    /// at random points): every role in name order and every rule in deciding order,
    /// whole or cut to a limit, against the reference's; plain checks too.
    #[test]
    fn explanations_of_closures_of_64_roles_or_more_list_them_in_name_order(
        parents in proptest::collection::vec(any::<prop::sample::Index>(), BIG_BULK - 1),
        rules in proptest::collection::vec((0..BIG_BULK, any::<bool>(), prop::bool::weighted(0.3), 0..12usize), 20..60),
        later in proptest::collection::vec(big_change(), 10..50),
        compact in proptest::collection::vec(prop::sample::select(vec![0, 0, 0, FOLD_NOW, FOLD_IN_BACKGROUND, FINISH_FOLDS, SUMMARIZE]), 200),
        cases in proptest::collection::vec(
            (pick(RELATED), any::<bool>(), explain_limit(), prop::sample::select(vec![64usize, 65, 100, 10_000]), prop::bool::weighted(0.8)),
            6,
        ),
    ) {
        let mut history = big_bulk(&parents, &rules);
        let bulk = history.len();
        history.extend(later);
        let cases: Vec<Case> = cases
            .into_iter()
            .map(|(act, hierarchy, explain_limit, max_closure, explain)| Case {
                check: Check {
                    agent: id("a1"),
                    account: None,
                    action: action(act),
                    target: id("t1"),
                    explain,
                    explain_limit,
                    context: Default::default(),
                },
                opts: EngineOptions { action_hierarchy: hierarchy, max_closure, ..EngineOptions::default() },
            })
            .collect();
        run_compacting(&history, &cases, false, &compact, bulk)?;
    }
}
