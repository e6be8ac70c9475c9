//! LookupTargets: the agent's and its closure's exact-target rows merged in target-name
//! order, `*` rules read once (see the parent module's docs).

use super::{RuleCounts, TargetsPage, Window, check_allows, offer};
use crate::domain::{Action, Id, RuleKind};
use crate::engine::closure::Closure;
use crate::engine::index::{At, Cursor, Index, RevRule, Reverse, ak_action, ak_kind};
use crate::engine::odrl::Wanted;
use crate::engine::{EngineError, EngineOptions, Prepared, prepare_for, target_closure_of};
use std::cmp::Reverse as Rev;
use std::collections::BinaryHeap;

/// The targets on which `agent` (inside `account` when given) may perform `action`, in
/// `window` (see the module docs).
pub fn targets(
    index: &Index,
    agent: &Id,
    account: Option<&Id>,
    action: &Action,
    opts: &EngineOptions,
    window: Window,
) -> Result<TargetsPage, EngineError> {
    let mut closure = Closure::default();
    let Prepared::Ready(Some((agent_id, agent_row))) = prepare_for(index, agent, account, opts, &mut closure, false)?
    else {
        // Denied by a gate, or an agent the index does not know (it holds nothing).
        return Ok(TargetsPage::default());
    };
    let Some(action_id) = index.action_id(action) else {
        return Ok(TargetsPage::default());
    };
    let wanted = Wanted::new(action_id, opts.action_hierarchy);
    let rc = RuleCounts::new(index, agent.as_str());
    let members = || std::iter::once((agent_id, agent_row)).chain(closure.roles.iter().copied());
    // Rules on `*`.
    let (mut star_permit, mut star_deny) = (false, false);
    for (_, node) in members() {
        let mut present = node.star_mask & wanted.mask;
        while present != 0 {
            let bit = present.trailing_zeros();
            present &= present - 1;
            for r in node.star_group(bit) {
                let kind = ak_kind(r.0);
                if wanted.applies(ak_action(r.0), kind).is_some() && rc.counts(r.1, kind) {
                    match kind {
                        RuleKind::Prohibition => star_deny = true,
                        RuleKind::Permission => star_permit = true,
                    }
                }
            }
        }
    }
    // Asset collections: a rule on a collection covers every asset within it.
    if index.collections_in_use() {
        let ids: Vec<u32> = members().map(|(id, _)| id).collect();
        let decide = |target: &Id| check_allows(index, agent, account, action, target, opts);
        return Ok(targets_with_collections(
            index,
            window,
            opts.max_closure,
            &ids,
            &wanted,
            decide,
        ));
    }
    // A conflict strategy can take rules out only a whole check tells; a condition is
    // evaluated per rule above (`rc`).
    if index.strategies_in_use() {
        let ids: Vec<u32> = members().map(|(id, _)| id).collect();
        let decide = |target: &Id| check_allows(index, agent, account, action, target, opts);
        return Ok(targets_by_checks(index, window, &ids, &wanted, decide));
    }
    if star_deny {
        // Every target is denied: nothing to list, and no exceptions.
        return Ok(TargetsPage::default());
    }
    // Exact targets, merged in byte order from every member's reverse rows: with a `*`
    // permission only prohibitions can list a target (as an exception); otherwise the
    // permissions propose targets and the prohibitions, merged alongside, veto them.
    let rev = index.reverse();
    let ids: Vec<u32> = members().map(|(id, _)| id).collect();
    let applies = |r: &RevRule| {
        let kind = ak_kind(r.ak);
        wanted.applies(ak_action(r.ak), kind).is_some() && rc.counts(r.policy, kind)
    };
    let mut denies = Merge::new(index, &ids, false, window.start());
    let mut page = TargetsPage {
        every_target: star_permit,
        ..TargetsPage::default()
    };
    let push =
        |page: &mut TargetsPage, target: u32| offer(&mut page.items, &mut page.more, window, rev.target_name(target));
    // Targets come in byte order: the first one past the window's prefix ends the answer.
    let past = |target: u32| !rev.target_name(target).as_str().starts_with(window.prefix);
    if star_permit {
        while let Some((target, deny)) = denies.next_target(applies) {
            if past(target) || deny && !push(&mut page, target) {
                break;
            }
        }
    } else {
        let mut permits = Merge::new(index, &ids, true, window.start());
        while let Some((target, permit)) = permits.next_target(applies) {
            if past(target) || permit && !denies.any_on(index, target, applies) && !push(&mut page, target) {
                break;
            }
        }
    }
    Ok(page)
}

/// [`targets`] while some policy has a conflict strategy: a strategy can override a
/// prohibition or void a permission inside its policy, so every target any applicable rule
/// of the closure names is checked whole (a look-up is what the checks say). A target no
/// rule names is decided by the `*` rules alone, as a check for a target with no rules is:
/// when that allows, the answer is every target except the named ones a check denies.
fn targets_by_checks(
    index: &Index,
    window: Window,
    members: &[u32],
    wanted: &Wanted,
    decide: impl Fn(&Id) -> bool,
) -> TargetsPage {
    let (mut page, applies) = checked_page(index, wanted, &decide);
    let (every_target, rev) = (page.every_target, index.reverse());
    let mut merges = [
        Merge::new(index, members, true, window.start()),
        Merge::new(index, members, false, window.start()),
    ];
    loop {
        // The least next target of either kind; both merges move past it.
        let next = merges.iter().filter_map(Merge::peek).min();
        // Names come in byte order: the first one past the window's prefix ends the answer.
        let Some((label, _)) = next.filter(|&(_, t)| rev.target_name(t).as_str().starts_with(window.prefix)) else {
            break;
        };
        let mut named = false;
        let mut target = None;
        for m in &mut merges {
            if m.peek().is_some_and(|(l, _)| l == label)
                && let Some((t, hit)) = m.next_target(applies)
            {
                named |= hit;
                target = Some(t);
            }
        }
        let Some(target) = target else { break };
        if !named {
            continue;
        }
        let id = rev.target_name(target);
        if decide(id) != every_target && !offer(&mut page.items, &mut page.more, window, id) {
            break;
        }
    }
    page
}

/// [`targets`] while some asset is part of an asset collection: every target an applicable
/// rule of the closure names, and every asset within each of them (directly or through
/// other collections), is checked whole, in byte order. A target that is neither is
/// decided by the `*` rules alone (as in [`targets_by_checks`]), unless its collections
/// exceed the closure limit (then every check on it fails). Costs a pass over every target
/// the closure names and every asset in a collection, whatever the page.
fn targets_with_collections(
    index: &Index,
    window: Window,
    max_closure: usize,
    members: &[u32],
    wanted: &Wanted,
    decide: impl Fn(&Id) -> bool,
) -> TargetsPage {
    let (mut page, applies) = checked_page(index, wanted, &decide);
    let (every_target, rev) = (page.every_target, index.reverse());
    let mut names: std::collections::BTreeSet<&Id> = std::collections::BTreeSet::new();
    for permissions in [true, false] {
        let mut merge = Merge::new(index, members, permissions, None);
        while let Some((target, hit)) = merge.next_target(applies) {
            if hit {
                let name = rev.target_name(target);
                names.insert(name);
                names.extend(index.members_within(name.as_str()));
            }
        }
    }
    // An asset in more collections than the closure limit allows fails every check on it,
    // whatever the rules: never allowed, so an exception when `every_target`.
    for asset in index.assets_in_collections() {
        let mut collections = smallvec::SmallVec::new();
        if target_closure_of(index, asset, max_closure, &mut collections).is_err() {
            names.insert(asset);
        }
    }
    let start = window.start();
    for name in names.into_iter().filter(|n| start.is_none_or(|s| n.as_str() > s)) {
        if !name.as_str().starts_with(window.prefix) {
            break;
        }
        if decide(name) != every_target && !offer(&mut page.items, &mut page.more, window, name) {
            break;
        }
    }
    page
}

/// The start of a page checked target by target: `every_target` from a check of a target
/// no rule names (no target has the empty name, ids are never empty, so only `*` rules
/// apply to it), and which reverse rows may name a candidate (applicable, counting).
fn checked_page<'a>(
    index: &'a Index,
    wanted: &'a Wanted,
    decide: impl Fn(&Id) -> bool,
) -> (TargetsPage, impl Fn(&RevRule) -> bool + Copy + 'a) {
    let page = TargetsPage {
        every_target: decide(&Id::from_trusted("")),
        ..TargetsPage::default()
    };
    let applies = move |r: &RevRule| {
        let kind = ak_kind(r.ak);
        wanted.applies(ak_action(r.ak), kind).is_some() && index.counts(r.policy, kind)
    };
    (page, applies)
}

/// A k-way merge of the members' reverse rows of one kind, by target name (compared
/// through the targets' labels, read from the entries unless a target is moved).
struct Merge<'a> {
    rev: &'a Reverse,
    cursors: Vec<Cursor<'a, RevRule>>,
    /// (the target's label at each cursor, cursor), least first.
    heap: BinaryHeap<Rev<(u64, usize)>>,
}

impl<'a> Merge<'a> {
    /// Positioned after `after` (byte order) in every member's row of the kind.
    fn new(index: &'a Index, members: &[u32], permissions: bool, after: Option<&str>) -> Merge<'a> {
        let rev = index.reverse();
        let mut m = Merge {
            rev,
            cursors: Vec::new(),
            heap: BinaryHeap::new(),
        };
        for &id in members {
            let Some(row) = rev.node(id) else { continue };
            let rules = row.rules(permissions);
            let at = match after {
                None => At::START,
                Some(after) => match rules.search(|r| {
                    rev.target_name(r.target)
                        .as_str()
                        .cmp(after)
                        .then(std::cmp::Ordering::Less)
                }) {
                    Ok(at) | Err(at) => at,
                },
            };
            let cursor = rules.cursor(at);
            if let Some(first) = cursor.peek() {
                m.heap.push(Rev((rev.entry_label(first), m.cursors.len())));
                m.cursors.push(cursor);
            }
        }
        m
    }

    /// The next target's label and id, if any.
    fn peek(&self) -> Option<(u64, u32)> {
        let &Rev((label, c)) = self.heap.peek()?;
        Some((label, self.cursors[c].peek()?.target))
    }

    /// The next target, and whether any of its rules satisfies `test` (all of them are
    /// consumed).
    fn next_target(&mut self, test: impl Fn(&RevRule) -> bool) -> Option<(u32, bool)> {
        let (label, target) = self.peek()?;
        let mut hit = false;
        while let Some(&Rev((l, c))) = self.heap.peek() {
            if l != label {
                break;
            }
            self.heap.pop();
            let cursor = &mut self.cursors[c];
            while let Some(r) = cursor.peek() {
                if r.target != target {
                    self.heap.push(Rev((self.rev.entry_label(r), c)));
                    break;
                }
                cursor.advance();
                hit = hit || test(r);
            }
        }
        Some((target, hit))
    }

    /// Whether a rule on `target` satisfies `test`, skipping every target before it (the
    /// merge only moves forward: targets are asked in byte order).
    fn any_on(&mut self, index: &Index, target: u32, test: impl Fn(&RevRule) -> bool) -> bool {
        let label = index.reverse().target_label(target);
        while let Some(&Rev((l, _))) = self.heap.peek() {
            match l.cmp(&label) {
                std::cmp::Ordering::Less => {
                    self.next_target(|_| false);
                }
                std::cmp::Ordering::Equal => return self.next_target(test).is_some_and(|(_, hit)| hit),
                std::cmp::Ordering::Greater => return false,
            }
        }
        false
    }
}
