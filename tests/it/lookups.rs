//! The look-ups against brute force (issue 15): on random histories, at every revision,
//! each answer of `engine::lookup` is exactly what checking every candidate says, with
//! both engines:
//!
//! - targets: every listed target is allowed and every other named target denied; with
//!   `every_target`, every named target outside `except` is allowed, every one in it
//!   denied, and a target no rule names is allowed (without it, such a target is denied);
//! - agents: exactly the ids, in byte order, for which the check allows;
//! - actions: exactly the actions (the vocabulary and every custom action) the check
//!   allows, sorted by IRI;
//! - errors: the look-up fails exactly when the check would (a role as the agent, a closure
//!   over the limit);
//! - paging: pages of every size concatenate to the unpaged answer;
//! - kept snapshots answer later as they did at their revision.
//!
//! The universe is index_v2's (multi-byte ids, prefixes, ids whose byte order differs from
//! first appearance, custom actions differing only in case, every kind of change).

use crate::index_v2::{
    ACCOUNTS, ACTIONS, LIMITS, NODES, RELATED, TARGETS, UNKNOWN, action, any_change, conflict_history, id,
};
use endocarp::domain::{Action, Change, Decision, Id, Target};
use endocarp::engine::lookup::{self, Window};
use endocarp::engine::{self, Check, EngineError, EngineOptions, Snapshot};
use proptest::prelude::*;

/// Every agent id a test asks about: the universe's nodes and ids never seen.
fn agents() -> Vec<&'static str> {
    NODES.iter().chain(UNKNOWN).copied().collect()
}

/// Accounts: global, each account of the universe, and one never seen.
fn accounts() -> Vec<Option<Id>> {
    std::iter::once(None)
        .chain(ACCOUNTS.iter().map(|a| Some(id(a))))
        .chain(std::iter::once(Some(id("nobody"))))
        .collect()
}

/// The targets a rule names in this snapshot.
fn named_targets(index: &engine::Index) -> Vec<Id> {
    let mut t: Vec<Id> = index
        .all_rules()
        .into_iter()
        .filter_map(|r| match r.target {
            Target::One(t) => Some(t),
            Target::Any => None,
        })
        .collect();
    // Assets and asset collections: a rule on a collection covers its assets.
    for f in index.facts() {
        if let Change::AssetCollection { asset, collection, .. } = f {
            t.push(asset);
            t.push(collection);
        }
    }
    t.sort();
    t.dedup();
    t
}

/// Every action a check can be allowed for: the vocabulary, and the custom actions rules name.
fn every_action(index: &engine::Index) -> Vec<Action> {
    let mut a: Vec<Action> = Action::vocabulary().to_vec();
    a.extend(index.all_rules().into_iter().map(|r| r.action));
    a.extend([action("urn:x:never")]);
    a.sort_by(|x, y| x.as_str().cmp(y.as_str()));
    a.dedup();
    a
}

/// One check with each engine; both must give the same allow, and an error for both or neither.
fn decide(
    snapshot: &Snapshot,
    check: &Check,
    opts: &EngineOptions,
) -> Result<Result<bool, EngineError>, TestCaseError> {
    let odrl = engine::decide(&snapshot.index, check, opts).map(|d: Decision| d.allowed);
    let casbin = engine::decide_casbin(snapshot, check, opts).map(|d| d.allowed);
    prop_assert_eq!(&odrl, &casbin, "engines disagree on {:?}", check);
    Ok(odrl)
}

fn check(agent: &Id, account: &Option<Id>, act: &Action, target: &Id) -> Check {
    Check {
        agent: agent.clone(),
        account: account.clone(),
        action: act.clone(),
        target: target.clone(),
        explain: false,
        explain_limit: usize::MAX,
        context: Default::default(),
    }
}

/// Prefixes of the universe's ids: several ids each, an id that is itself a prefix of
/// others (`a`), a multi-byte one, and one no id has.
const PREFIXES: &[&str] = &["a", "r", "t", "tü", "é", "zz"];

/// The ids of `all` that start with `prefix` and are longer than it.
fn with_prefix(all: &[Id], prefix: &str) -> Vec<Id> {
    all.iter()
        .filter(|i| i.as_str().starts_with(prefix) && i.as_str().len() > prefix.len())
        .cloned()
        .collect()
}

/// Pages of `size` until the end, concatenated.
fn paged<P>(
    size: usize,
    mut page: impl FnMut(Option<&str>, usize) -> Result<(Vec<Id>, bool, P), EngineError>,
) -> Result<Vec<Id>, EngineError> {
    let mut all: Vec<Id> = Vec::new();
    loop {
        let after = all.last().map(|l| l.as_str().to_string());
        let (items, more, _) = page(after.as_deref(), size)?;
        assert!(items.len() <= size, "a page longer than asked");
        assert!(!more || items.len() == size, "more announced on a short page");
        all.extend(items);
        if !more {
            return Ok(all);
        }
    }
}

/// Targets: the whole answer and its pages against a check per target.
fn targets_exact(snapshot: &Snapshot, opts: &EngineOptions, act: &Action) -> Result<(), TestCaseError> {
    let index = &snapshot.index;
    let named = named_targets(index);
    let unnamed = id("never-named-target");
    for agent in agents().into_iter().map(id) {
        for account in accounts() {
            let got = lookup::targets(index, &agent, account.as_ref(), act, opts, Window::all());
            let probe = decide(snapshot, &check(&agent, &account, act, &unnamed), opts)?;
            let got = match (got, probe) {
                (Err(e), Err(want)) => {
                    prop_assert_eq!(e, want);
                    continue;
                }
                (Ok(page), Ok(everything)) => {
                    prop_assert_eq!(
                        page.every_target,
                        everything,
                        "every_target for {} {:?} {}",
                        agent,
                        account,
                        act
                    );
                    prop_assert!(!page.more);
                    page
                }
                (got, want) => return Err(TestCaseError::fail(format!("{got:?} but the check gives {want:?}"))),
            };
            let mut want = Vec::new();
            for t in &named {
                // A target whose collections exceed the closure limit fails every check: a
                // look-up never lists it as allowed.
                let allowed = match decide(snapshot, &check(&agent, &account, act, t), opts)? {
                    Ok(allowed) => allowed,
                    Err(EngineError::TargetClosureTooLarge { .. }) => false,
                    Err(e) => panic!("no other error when the probe had none: {e:?}"),
                };
                if allowed != got.every_target {
                    want.push(t.clone());
                }
            }
            prop_assert_eq!(
                &got.items,
                &want,
                "targets of {} in {:?} for {} ({:?})",
                agent,
                account,
                act,
                opts
            );
            for size in [1, 2, 3] {
                let pages = paged(size, |after, n| {
                    lookup::targets(index, &agent, account.as_ref(), act, opts, Window::page(after, n))
                        .map(|p| (p.items, p.more, p.every_target))
                })
                .expect("the unpaged look-up succeeded");
                prop_assert_eq!(&pages, &want, "pages of {}", size);
            }
            // A prefix (AuthZEN's entity type) selects a contiguous run, paged the same way.
            for prefix in PREFIXES {
                let want: Vec<Id> = with_prefix(&want, prefix);
                for size in [1, 2, usize::MAX] {
                    let pages = paged(size, |after, n| {
                        let window = Window::page(after, n).with_prefix(prefix);
                        lookup::targets(index, &agent, account.as_ref(), act, opts, window)
                            .map(|p| (p.items, p.more, p.every_target))
                    })
                    .expect("the unpaged look-up succeeded");
                    prop_assert_eq!(&pages, &want, "pages of {} with prefix {:?}", size, prefix);
                }
            }
        }
    }
    Ok(())
}

/// Agents: the whole answer and its pages against a check per id.
fn agents_exact(snapshot: &Snapshot, opts: &EngineOptions, act: &Action) -> Result<(), TestCaseError> {
    let index = &snapshot.index;
    let mut candidates: Vec<Id> = agents().into_iter().map(id).collect();
    candidates.sort();
    for target in TARGETS.iter().chain(["never-named-target"].iter()).map(|t| id(t)) {
        for account in accounts() {
            let got = lookup::agents(index, act, &target, account.as_ref(), opts, Window::all())
                .expect("agent look-ups do not fail");
            let mut want = Vec::new();
            for a in &candidates {
                if let Ok(true) = decide(snapshot, &check(a, &account, act, &target), opts)? {
                    want.push(a.clone());
                }
            }
            prop_assert_eq!(
                &got.items,
                &want,
                "agents on {} in {:?} for {} ({:?})",
                target,
                account,
                act,
                opts
            );
            prop_assert!(!got.more);
            for size in [1, 2] {
                let pages = paged(size, |after, n| {
                    lookup::agents(index, act, &target, account.as_ref(), opts, Window::page(after, n))
                        .map(|p| (p.items, p.more, ()))
                })
                .expect("no failure");
                prop_assert_eq!(&pages, &want, "pages of {}", size);
            }
            for prefix in PREFIXES {
                let want: Vec<Id> = with_prefix(&want, prefix);
                for size in [1, usize::MAX] {
                    let pages = paged(size, |after, n| {
                        let window = Window::page(after, n).with_prefix(prefix);
                        lookup::agents(index, act, &target, account.as_ref(), opts, window)
                            .map(|p| (p.items, p.more, ()))
                    })
                    .expect("no failure");
                    prop_assert_eq!(&pages, &want, "pages of {} with prefix {:?}", size, prefix);
                }
            }
        }
    }
    Ok(())
}

/// Actions: against a check per action.
fn actions_exact(snapshot: &Snapshot, opts: &EngineOptions) -> Result<(), TestCaseError> {
    let index = &snapshot.index;
    let all = every_action(index);
    for agent in agents().into_iter().map(id) {
        for account in [None, Some(id(ACCOUNTS[0]))] {
            for target in TARGETS.iter().chain(["never-named-target"].iter()).map(|t| id(t)) {
                let got = lookup::actions(index, &agent, account.as_ref(), &target, opts);
                let mut want = Vec::new();
                let mut error = None;
                for a in &all {
                    match decide(snapshot, &check(&agent, &account, a, &target), opts)? {
                        Ok(true) => want.push(a.clone()),
                        Ok(false) => {}
                        Err(e) => error = Some(e),
                    }
                }
                match (got, error) {
                    (Err(e), Some(want)) => prop_assert_eq!(e, want),
                    (Ok(got), None) => prop_assert_eq!(
                        got,
                        want,
                        "actions of {} on {} in {:?} ({:?})",
                        agent,
                        target,
                        account,
                        opts
                    ),
                    (got, want) => return Err(TestCaseError::fail(format!("{got:?} but the checks give {want:?}"))),
                }
            }
        }
    }
    Ok(())
}

fn any_opts() -> impl Strategy<Value = EngineOptions> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![1 => proptest::sample::select(LIMITS), 2 => Just(10_000)],
    )
        .prop_map(|(action_hierarchy, require_membership, max_closure)| EngineOptions {
            action_hierarchy,
            require_membership,
            max_closure,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// With conflict strategies (a policy's permission overriding its prohibition, or a
    /// policy void where its rules conflict) every look-up still equals brute force.
    #[test]
    fn lookups_with_conflict_strategies_equal_brute_force(
        history in conflict_history(),
        opts in proptest::collection::vec(any_opts(), 80),
    ) {
        let mut snapshots = [Snapshot::new(Some(false)), Snapshot::new(Some(true))];
        for (i, change) in history.iter().enumerate() {
            for s in &mut snapshots {
                s.apply(change);
                s.set_revision(i as u64 + 1);
            }
            // Every few revisions, and always at the end: the whole universe is checked.
            if i % 4 != 3 && i + 1 != history.len() {
                continue;
            }
            let opts = opts[i % opts.len()];
            let snapshot = &snapshots[usize::from(opts.action_hierarchy)];
            snapshot.index.validate().map_err(TestCaseError::fail)?;
            let act = action(RELATED[i % RELATED.len()]);
            targets_exact(snapshot, &opts, &act)?;
            agents_exact(snapshot, &opts, &act)?;
            actions_exact(snapshot, &opts)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Every look-up equals brute force at every revision, with both engines.
    #[test]
    fn lookups_equal_brute_force(
        history in proptest::collection::vec(any_change(), 1..30),
        opts in proptest::collection::vec(any_opts(), 30),
        acts in proptest::collection::vec(proptest::sample::select(ACTIONS), 30),
    ) {
        let mut snapshots = [Snapshot::new(Some(false)), Snapshot::new(Some(true))];
        let mut kept = Vec::new();
        for (i, change) in history.iter().enumerate() {
            for s in &mut snapshots {
                s.apply(change);
                s.set_revision(i as u64 + 1);
            }
            let opts = opts[i];
            let snapshot = &snapshots[usize::from(opts.action_hierarchy)];
            snapshot.index.validate().map_err(TestCaseError::fail)?;
            let act = action(acts[i]);
            targets_exact(snapshot, &opts, &act)?;
            agents_exact(snapshot, &opts, &act)?;
            if i % 3 == 0 {
                actions_exact(snapshot, &opts)?;
            }
            let answer = lookup::targets(&snapshot.index, &id(NODES[0]), None, &act, &opts, Window::all());
            kept.push((snapshot.clone(), opts, act, answer));
        }
        // Bulk loads (start-up from the read model's facts, or a replay of the history with
        // its removals) sort the reverse rows once, to the same structure and answers.
        let last = &snapshots[1].index;
        let mut from_facts = engine::Index::default();
        from_facts.begin_bulk();
        for f in last.facts() {
            from_facts.apply(&f);
        }
        from_facts.end_bulk();
        let mut replayed = engine::Index::default();
        replayed.begin_bulk();
        for c in &history {
            replayed.apply(c);
        }
        replayed.end_bulk();
        for bulk in [&from_facts, &replayed] {
            bulk.validate().map_err(TestCaseError::fail)?;
            for agent in agents().into_iter().map(id) {
                for act in ACTIONS.iter().map(|a| action(a)) {
                    let opts = EngineOptions::default();
                    prop_assert_eq!(
                        lookup::targets(bulk, &agent, None, &act, &opts, Window::all()),
                        lookup::targets(last, &agent, None, &act, &opts, Window::all())
                    );
                }
            }
        }
        // A kept snapshot answers later writes' look-ups as it did at its revision.
        for (snapshot, opts, act, answer) in &kept {
            let again = lookup::targets(&snapshot.index, &id(NODES[0]), None, act, opts, Window::all());
            prop_assert_eq!(&again, answer);
            targets_exact(snapshot, opts, act)?;
        }
    }
}

/// Rows long enough to split into many chunks, written in an order unlike byte order, with
/// removals, and a snapshot kept from before them: the validator passes and the look-ups
/// list exactly what is left, in byte order; the kept snapshot still lists everything.
#[test]
fn long_reverse_rows_stay_sorted_and_shared() {
    reverse_rows_hold((0..1500u32).map(|i| format!("t-{:05}", (i * 7919) % 1500)).collect());
}

/// Target names that keep landing in one gap (converging on it from both ends, between
/// "t-a" and "t-n") make the index relabel the targets around the gap again and again; the
/// reverse rows, ordered through those labels, still list the targets in byte order and
/// find the rules they remove. Then a run into another gap (between "t-n" and "t-z", each
/// name just below the last), labelled near its last name, keeps the order too.
#[test]
fn relabelling_targets_keeps_the_reverse_rows_in_byte_order() {
    let mut names = vec!["t-a".to_string(), "t-n".to_string(), "t-z".to_string()];
    names.extend(crate::common::converging_names("t-b", 300));
    names.extend((1..=300).rev().map(|k| format!("t-p{}", "y".repeat(k))));
    reverse_rows_hold(names);
}

/// A relabel only records the moved targets' new labels, and each later write settles one
/// of them: while targets are moved, the validator passes, look-ups list what they list once
/// every one is settled, a kept snapshot answers as of its revision, and a rule on a target
/// near the gap (moved or not) is taken back and granted again exactly.
#[test]
fn moved_targets_answer_as_settled_ones() {
    use endocarp::domain::RuleKind;
    // Rules ann's reading never sees, so a moved target has several entries to settle, in
    // rows of both kinds.
    let unseen = [
        (RuleKind::Permission, "role", "odrl:modify"),
        (RuleKind::Prohibition, "bystander", "odrl:read"),
        (RuleKind::Permission, "other", "odrl:read"),
    ];
    let mut index = ann_holds_role();
    // Converging on one gap between "t-a" and "t-z", so its labels run out.
    let mut names = vec!["t-a".to_string(), "t-z".to_string()];
    names.extend(crate::common::converging_names("t-", 150));
    let (mut most, mut kept, mut aimed) = (0, Vec::new(), 0);
    for (i, n) in names.iter().enumerate() {
        index.apply(&read_grant(n, true));
        for r in unseen {
            index.apply(&exact_rule(n, true, r));
        }
        index.validate().unwrap();
        most = most.max(index.moved_targets());
        let mut want: Vec<String> = names[..=i].to_vec();
        want.sort();
        if index.moved_targets() > 0 {
            let mut settled = index.clone();
            settled.settle_moved();
            assert_eq!(settled.moved_targets(), 0);
            settled.validate().unwrap();
            assert_eq!(ann_reads(&settled, 13), want);
            kept.push((index.clone(), want.clone()));
            // Rules of targets near the gap taken back (the first ones in their forward
            // rows, so the rules after them move down) and granted again.
            take_back_and_grant_again(&mut index, &names[i / 2], &unseen[..1], &want);
        }
        // The target being settled, past some of its rules: each of its rules taken back
        // in turn (those after it move down one place in the forward row, so settling
        // must look again from the start), then all granted again.
        if let Some((target, passed)) = index.settling_target() {
            assert!(passed >= 1);
            aimed += 1;
            take_back_and_grant_again(&mut index, target.as_str(), &unseen, &want);
        }
        assert_eq!(ann_reads(&index, 13), want);
    }
    assert!(aimed > 0, "settling never passed a rule of a moved target");
    assert!(most > 1, "no relabel left targets moved (at most {most})");
    for (snapshot, want) in &kept {
        snapshot.validate().unwrap();
        assert_eq!(&ann_reads(snapshot, 29), want);
    }
    // Writes that change nothing settle what is left, a step each.
    let mut steps = 0;
    while index.moved_targets() > 0 {
        let before = index.moved_targets();
        index.apply(&read_grant("t-none", false));
        assert!(index.moved_targets() <= before);
        steps += 1;
        assert!(steps < 100_000, "settling does not end");
        if steps % 7 == 0 {
            index.validate().unwrap();
        }
    }
    index.validate().unwrap();
    let mut want = names.clone();
    want.sort();
    assert_eq!(ann_reads(&index, 13), want);
}

/// Takes back `rules` of the target `t` and then ann's reading of it, one at a time and
/// validating after each, checks that ann reads what `want` lists but `t`, and grants them
/// all again.
fn take_back_and_grant_again(
    index: &mut engine::Index,
    t: &str,
    rules: &[(endocarp::domain::RuleKind, &str, &str)],
    want: &[String],
) {
    for &r in rules {
        index.apply(&exact_rule(t, false, r));
        index.validate().unwrap();
    }
    index.apply(&read_grant(t, false));
    index.validate().unwrap();
    let without: Vec<String> = want.iter().filter(|n| *n != t).cloned().collect();
    assert_eq!(ann_reads(index, 13), without);
    index.apply(&read_grant(t, true));
    for &r in rules {
        index.apply(&exact_rule(t, true, r));
    }
    index.validate().unwrap();
}

/// A rule of policy `p` on the exact target `t`, granted (`on`) or taken back.
fn exact_rule(t: &str, on: bool, (kind, assignee, act): (endocarp::domain::RuleKind, &str, &str)) -> Change {
    Change::Rule {
        rule: endocarp::domain::Rule {
            policy: id("p"),
            kind,
            assignee: id(assignee),
            action: action(act),
            target: Target::One(id(t)),
            condition: None,
        },
        on,
    }
}

/// `role`'s permission to read `t`, granted or taken back.
fn read_grant(t: &str, on: bool) -> Change {
    exact_rule(t, on, (endocarp::domain::RuleKind::Permission, "role", "odrl:read"))
}

/// An index where ann holds `role`, and nothing else.
fn ann_holds_role() -> engine::Index {
    let mut index = engine::Index::default();
    index.apply(&Change::GlobalEdge {
        source: endocarp::domain::EdgeSource::Role,
        node: id("ann"),
        role: id("role"),
        on: true,
    });
    index
}

/// Every target ann may read in `index`, through pages of `size`, as strings.
fn ann_reads(index: &engine::Index, size: usize) -> Vec<String> {
    let (read, opts) = (action("odrl:read"), EngineOptions::default());
    paged(size, |after, n| {
        lookup::targets(index, &id("ann"), None, &read, &opts, Window::page(after, n)).map(|p| (p.items, p.more, ()))
    })
    .unwrap()
    .iter()
    .map(|t| t.to_string())
    .collect()
}

/// A bulk load over an index that already holds rules (its reverse rows labelled, some
/// targets relabelled since) removes those rules as exactly as the ones it added itself:
/// the validator passes and the look-ups list what is left, in byte order.
#[test]
fn a_bulk_load_removes_rules_written_before_it() {
    let grant = read_grant;
    let mut index = ann_holds_role();
    // Names that keep landing in one gap, converging on it, so labels move before the load.
    let before: Vec<String> = crate::common::converging_names("t-m", 60);
    for t in &before {
        index.apply(&grant(t, true));
    }
    index.validate().unwrap();
    index.begin_bulk();
    for t in before.iter().step_by(3) {
        index.apply(&grant(t, false));
    }
    for t in ["t-a", "t-mm0", "t-z"] {
        index.apply(&grant(t, true));
    }
    index.apply(&grant("t-mm0", false));
    index.end_bulk();
    index.validate().unwrap();
    let removed: std::collections::HashSet<&String> = before.iter().step_by(3).collect();
    let mut want: Vec<String> = before.iter().filter(|t| !removed.contains(t)).cloned().collect();
    want.extend(["t-a".to_string(), "t-z".to_string()]);
    want.sort();
    assert_eq!(ann_reads(&index, 7), want);
}

/// Grants `names` (in that order) to a role of ann's, validating the index as it goes; then
/// removes every seventh and checks the look-ups of the result and of a snapshot kept from
/// before the removals. Each target also gets rules that look-ups for ann's reading never
/// see (another action of the role's, a prohibition of a role nobody holds), so a target
/// relabelled has entries in several rows of both kinds to keep in step.
fn reverse_rows_hold(names: Vec<String>) {
    use endocarp::domain::RuleKind;
    let (rule, grant) = (exact_rule, read_grant);
    let unseen = [
        (RuleKind::Permission, "role", "odrl:modify"),
        (RuleKind::Prohibition, "bystander", "odrl:read"),
    ];
    let mut index = ann_holds_role();
    for (i, n) in names.iter().enumerate() {
        index.apply(&grant(n, true));
        for r in unseen {
            index.apply(&rule(n, true, r));
        }
        if names.len() < 500 || i % 100 == 0 {
            index.validate().unwrap();
        }
    }
    index.validate().unwrap();
    let kept = index.clone();
    for n in names.iter().step_by(7) {
        index.apply(&grant(n, false));
    }
    index.validate().unwrap();
    kept.validate().unwrap();
    let mut want: Vec<String> = names.clone();
    want.sort();
    assert_eq!(ann_reads(&kept, 97), want);
    let removed: std::collections::HashSet<&String> = names.iter().step_by(7).collect();
    want.retain(|t| !removed.contains(t));
    assert_eq!(ann_reads(&index, 97), want);
}

/// An asset in more collections than the closure limit allows fails every check on it, so
/// LookupTargets never counts it among "every target": it is listed as an exception even
/// when no rule names it or its collections (found by the brute-force test above).
#[test]
fn an_asset_past_the_closure_limit_is_an_exception_to_every_target() {
    let mut index = engine::Index::default();
    index.apply(&Change::Rule {
        rule: endocarp::domain::Rule {
            policy: id("p1"),
            kind: endocarp::domain::RuleKind::Permission,
            assignee: id("a1"),
            action: action("odrl:use"),
            target: Target::Any,
            condition: None,
        },
        on: true,
    });
    index.apply(&Change::AssetCollection {
        asset: id("tü"),
        collection: id("t1"),
        on: true,
    });
    let opts = EngineOptions {
        max_closure: 1,
        ..EngineOptions::default()
    };
    let page = lookup::targets(&index, &id("a1"), None, &action("odrl:modify"), &opts, Window::all()).unwrap();
    assert!(page.every_target);
    assert_eq!(page.items, [id("tü")]);
    let wide = EngineOptions::default();
    let page = lookup::targets(&index, &id("a1"), None, &action("odrl:modify"), &wide, Window::all()).unwrap();
    assert!(page.every_target && page.items.is_empty(), "{page:?}");
}
