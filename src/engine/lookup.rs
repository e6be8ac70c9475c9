//! Look-ups over one snapshot: the targets an agent may act on, the agents that may act on
//! a target, and the actions an agent may perform on a target (docs/CONTRACT.md §7).
//!
//! Each answer is exactly what the checks would say at the snapshot's revision: the same
//! gates, the same closure (and its limit), the same matching of actions, kinds, policies
//! and targets, prohibitions first. They read the index's reverse structures
//! (`index/reverse.rs`) instead of trying every id:
//!
//! - **Targets**: the agent's and its closure's rows of exact-target rules are each sorted
//!   by target name, so merging them yields every target any of them names in byte order,
//!   with all of its rules side by side; a page stops as soon as it is full. Rules on `*`
//!   are read once: an applicable `*` prohibition denies everything, an applicable `*`
//!   permission makes the answer "every target except …".
//! - **Agents**: the assignees of applicable permissions and of applicable prohibitions
//!   on the target (its row and the holders of `*` rules) are expanded downwards through
//!   the edges that point at them (global ones, and that account's when there is one); an
//!   agent is allowed when it reaches a permission's assignee and no prohibition's, passes
//!   the gates and its closure fits the limit. Names come out in byte order. When the
//!   permissions reach more than half the nodes, agents are checked one by one in byte
//!   order instead; when the prohibitions reach more than a page's worth, each candidate
//!   is checked whole instead of expanding them.
//! - **Actions**: every applicable rule of the agent's closure on the target, whatever its
//!   action, folded into masks of permitted and prohibited actions; each action is then
//!   decided by the hierarchy's masks.

use crate::domain::constraint::{Context, Now, Party, Truth};
use crate::domain::{Action, Id, RuleKind};
use crate::engine::closure::{Closure, closure_of};
use crate::engine::index::{CUSTOM_BASE, Cursor, Index, RevRule, VARIANT_BASE, action_bit, ak_action, ak_kind};
use crate::engine::odrl::{Wanted, family_masks};
use crate::engine::{EngineError, EngineOptions, Prepared, prepare_for, target_closure_of};
use std::cell::RefCell;
use std::cmp::Reverse as Rev;
use std::collections::BinaryHeap;

/// The part of a look-up's answer to return: the items after `after` (byte order) that
/// start with `prefix` and are longer than it, at most `limit` of them. The answers come
/// out in byte order, so the items with a prefix are contiguous: a look-up starts at the
/// prefix and stops at the first item past it (AuthZEN's searches ask for one entity type
/// this way: the prefix `type:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window<'a> {
    pub after: Option<&'a str>,
    pub prefix: &'a str,
    pub limit: usize,
}

impl<'a> Window<'a> {
    /// The whole answer.
    pub fn all() -> Window<'static> {
        Window {
            after: None,
            prefix: "",
            limit: usize::MAX,
        }
    }

    /// At most `limit` items after `after`.
    pub fn page(after: Option<&'a str>, limit: usize) -> Window<'a> {
        Window {
            after,
            prefix: "",
            limit,
        }
    }

    /// Only items that start with `prefix` (and are longer than it).
    pub fn with_prefix(self, prefix: &'a str) -> Window<'a> {
        Window { prefix, ..self }
    }

    /// Where the answer starts (exclusive): after `after`, and never before the prefix.
    fn start(&self) -> Option<&'a str> {
        match self.after {
            Some(a) if a >= self.prefix => Some(a),
            _ if !self.prefix.is_empty() => Some(self.prefix),
            a => a,
        }
    }
}

/// One page of [`targets`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetsPage {
    /// True: a permission on `*` applies, so every target is allowed except `items`.
    pub every_target: bool,
    /// The allowed targets (or, with `every_target`, the denied ones), in byte order.
    pub items: Vec<Id>,
    /// More items follow the last one.
    pub more: bool,
}

/// One page of [`agents`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentsPage {
    /// The allowed agents, in byte order.
    pub items: Vec<Id>,
    pub more: bool,
}

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
            if past(target) || permit && !denies.any_on(target, applies) && !push(&mut page, target) {
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
        let Some(name) = next.filter(|n| n.starts_with(window.prefix)) else {
            break;
        };
        let mut named = false;
        let mut target = None;
        for m in &mut merges {
            if m.peek() == Some(name)
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

/// A k-way merge of the members' reverse rows of one kind, by target name.
struct Merge<'a> {
    index: &'a Index,
    cursors: Vec<Cursor<'a, RevRule>>,
    /// (the target name at each cursor, cursor), least first.
    heap: BinaryHeap<Rev<(&'a str, usize)>>,
}

impl<'a> Merge<'a> {
    /// Positioned after `after` (byte order) in every member's row of the kind.
    fn new(index: &'a Index, members: &[u32], permissions: bool, after: Option<&str>) -> Merge<'a> {
        let rev = index.reverse();
        let mut m = Merge {
            index,
            cursors: Vec::new(),
            heap: BinaryHeap::new(),
        };
        for &id in members {
            let Some(row) = rev.node(id) else { continue };
            let rules = row.rules(permissions);
            let at = match after {
                None => (0, 0),
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
                m.heap
                    .push(Rev((rev.target_name(first.target).as_str(), m.cursors.len())));
                m.cursors.push(cursor);
            }
        }
        m
    }

    /// The name of the next target, if any.
    fn peek(&self) -> Option<&'a str> {
        self.heap.peek().map(|Rev((name, _))| *name)
    }

    fn name(&self, target: u32) -> &'a str {
        self.index.reverse().target_name(target).as_str()
    }

    /// The next target, and whether any of its rules satisfies `test` (all of them are
    /// consumed).
    fn next_target(&mut self, test: impl Fn(&RevRule) -> bool) -> Option<(u32, bool)> {
        let Rev((name, c)) = *self.heap.peek()?;
        let target = self.cursors[c]
            .peek()
            .expect("a cursor in the heap has an entry")
            .target;
        let mut hit = false;
        while let Some(&Rev((t, c))) = self.heap.peek() {
            if t != name {
                break;
            }
            self.heap.pop();
            let cursor = &mut self.cursors[c];
            while let Some(r) = cursor.peek() {
                if r.target != target {
                    let next = self.index.reverse().target_name(r.target).as_str();
                    self.heap.push(Rev((next, c)));
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
    fn any_on(&mut self, target: u32, test: impl Fn(&RevRule) -> bool) -> bool {
        let name = self.name(target);
        while let Some(&Rev((t, _))) = self.heap.peek() {
            match t.cmp(name) {
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

/// Whether a rule counts for a look-up by one agent: its policy counts for its kind, and its
/// condition (a variant's) lets it apply as a check without a context would (the clock for
/// `odrl:dateTime`, the agent's discharges for duties; fail closed). Each variant is
/// evaluated once per look-up.
struct RuleCounts<'a> {
    index: &'a Index,
    agent: &'a str,
    empty: Context,
    cache: RefCell<(Now, Vec<(u32, Truth)>)>,
}

impl<'a> RuleCounts<'a> {
    fn new(index: &'a Index, agent: &'a str) -> RuleCounts<'a> {
        RuleCounts {
            index,
            agent,
            empty: Context::default(),
            cache: RefCell::new((Now::default(), Vec::new())),
        }
    }

    fn counts(&self, policy: u32, kind: RuleKind) -> bool {
        if !self.index.counts(policy, kind) {
            return false;
        }
        if policy < VARIANT_BASE {
            return true;
        }
        let Some(c) = self.index.condition(policy) else {
            return true;
        };
        let mut cache = self.cache.borrow_mut();
        let (now, truths) = &mut *cache;
        let truth = match truths.iter().find(|(p, _)| *p == policy) {
            Some(&(_, t)) => t,
            None => {
                let index = self.index;
                let base = index.base(policy);
                let discharged = |uid: &str, by: &str| index.discharged(base, uid, by);
                let party = Party {
                    agent: self.agent,
                    discharged: &discharged,
                };
                let t = c.truth(&self.empty, now, &party);
                truths.push((policy, t));
                t
            }
        };
        truth.applies(kind == RuleKind::Prohibition)
    }
}

/// The agents that may perform `action` on `target` (inside `account` when given), in
/// `window` (see the module docs).
pub fn agents(
    index: &Index,
    action: &Action,
    target: &Id,
    account: Option<&Id>,
    opts: &EngineOptions,
    window: Window,
) -> Result<AgentsPage, EngineError> {
    let nodes = index.node_count();
    let budgets = Budgets {
        permit: (nodes / 2).max(4096),
        deny: window.limit.saturating_mul(16).clamp(4096, nodes.max(4096)),
    };
    agents_with(index, action, target, account, opts, window, budgets)
}

/// How far [`agents`] expands before it checks agents one by one instead: past `permit`
/// nodes reaching a permission, every agent in byte order; past `deny` nodes reaching a
/// prohibition, each candidate whole.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub struct Budgets {
    pub permit: usize,
    pub deny: usize,
}

/// [`agents`] with the given [`Budgets`] (tests force each path with them).
#[doc(hidden)]
pub fn agents_with(
    index: &Index,
    action: &Action,
    target: &Id,
    account: Option<&Id>,
    opts: &EngineOptions,
    window: Window,
    budgets: Budgets,
) -> Result<AgentsPage, EngineError> {
    let mut acc = None;
    if let Some(a) = account {
        match index.account(a.as_str()) {
            Some((_, false)) => return Ok(AgentsPage::default()),
            Some((id, true)) => acc = Some(id),
            // Unknown: no edges there, so nobody is a member.
            None if opts.require_membership => return Ok(AgentsPage::default()),
            None => {}
        }
    }
    let Some(action_id) = index.action_id(action) else {
        return Ok(AgentsPage::default());
    };
    let wanted = Wanted::new(action_id, opts.action_hierarchy);
    // Who holds an applicable permission (P) or prohibition (D) on the target.
    let (mut permit, mut deny) = (Vec::new(), Vec::new());
    let mut seed = |node: u32, ak: u32, policy: u32| {
        let kind = ak_kind(ak);
        if wanted.applies(ak_action(ak), kind).is_some() && index.counts(policy, kind) {
            match kind {
                RuleKind::Prohibition => deny.push(node),
                RuleKind::Permission => permit.push(node),
            }
        }
    };
    // The target's rules, and those on every asset collection it is part of.
    // (Collections past the closure limit: every check on the target fails, so no agent
    // is allowed.)
    let mut collections = smallvec::SmallVec::new();
    if index.collections_in_use() && target_closure_of(index, target, opts.max_closure, &mut collections).is_err() {
        return Ok(AgentsPage::default());
    }
    for t in std::iter::once(target).chain(collections) {
        for r in index.target_rules(t.as_str()) {
            seed(r.assignee, r.ak, r.policy);
        }
    }
    let related = if action_id < CUSTOM_BASE && opts.action_hierarchy {
        let (anc, desc) = family_masks(action_id);
        anc | desc
    } else {
        0
    };
    let rev = index.reverse();
    let mut actions = vec![action_id];
    actions.extend((0..CUSTOM_BASE).filter(|&a| related & (1 << a) != 0));
    for &a in &actions {
        for node in rev.star_holders(a) {
            for r in index.node_by_id(node).star_group(action_bit(a).trailing_zeros()) {
                if ak_action(r.0) == a {
                    seed(node, r.0, r.1);
                }
            }
        }
    }
    if permit.is_empty() {
        return Ok(AgentsPage::default());
    }
    let nodes = index.node_count();
    // When the permissions reach most of the nodes, the answer is dense: checking
    // agents in byte order fills a page sooner than expanding everything.
    let Some(reach_permit) = reach(index, acc, permit, nodes, budgets.permit) else {
        return agents_by_scan(index, action, target, account, opts, window);
    };
    // Who reaches a prohibition: expanded the same way unless that costs more than
    // checking the page's candidates one by one (a prohibition held high in a wide graph).
    // (With conflict strategies a prohibition may be overridden inside its policy: each
    // candidate is then checked whole.)
    let reach_deny = if index.lookups_check_whole() {
        None
    } else {
        reach(index, acc, deny, nodes, budgets.deny)
    };
    let candidate = |id: u32| {
        let (w, b) = (id as usize / 64, 1u64 << (id % 64));
        reach_permit[w] & b != 0 && reach_deny.as_ref().is_none_or(|d| d[w] & b == 0)
    };
    // Every closure fits when there are fewer roles than the limit allows.
    let closures_fit = index.stats().roles < opts.max_closure;
    let allowed = |id: u32| {
        let row = index.node_by_id(id);
        if reach_deny.is_none() {
            return !row.role && check_allows(index, &row.name, account, action, target, opts);
        }
        if row.role || row.status == Some(false) {
            return false;
        }
        if account.is_some() && opts.require_membership && !acc.is_some_and(|a| row.in_account(a)) {
            return false;
        }
        closures_fit || {
            let mut closure = Closure::default();
            closure_of(index, Some((id, row)), acc, opts.max_closure, &row.name, &mut closure).is_ok()
        }
    };
    let mut page = AgentsPage::default();
    let after = window.start();
    let count: usize = match &reach_deny {
        Some(deny) => reach_permit
            .iter()
            .zip(deny)
            .map(|(p, d)| (p & !d).count_ones() as usize)
            .sum(),
        None => reach_permit.iter().map(|p| p.count_ones() as usize).sum(),
    };
    if count.saturating_mul(8) < nodes {
        // Few candidates: sort them rather than walk every name.
        let mut ids: Vec<(u64, u32)> = (0..nodes as u32)
            .filter(|&id| candidate(id))
            .map(|id| (index.node_by_id(id).label, id))
            .filter(|&(_, id)| after.is_none_or(|a| index.node_by_id(id).name.as_str() > a))
            .collect();
        ids.sort_unstable();
        for (_, id) in ids {
            if allowed(id) && !offer(&mut page.items, &mut page.more, window, &index.node_by_id(id).name) {
                break;
            }
        }
    } else {
        for (name, id) in index.nodes_in_order(after) {
            if candidate(id) && allowed(id) && !offer(&mut page.items, &mut page.more, window, name) {
                break;
            }
        }
    }
    Ok(page)
}

/// [`agents`] by checking every known agent in byte order through `window` until the page
/// is full: what `agents` does when the answer is dense.
fn agents_by_scan(
    index: &Index,
    action: &Action,
    target: &Id,
    account: Option<&Id>,
    opts: &EngineOptions,
    window: Window,
) -> Result<AgentsPage, EngineError> {
    let mut page = AgentsPage::default();
    for (name, id) in index.nodes_in_order(window.start()) {
        if !name.as_str().starts_with(window.prefix) {
            break;
        }
        if !index.node_by_id(id).role
            && check_allows(index, name, account, action, target, opts)
            && !offer(&mut page.items, &mut page.more, window, name)
        {
            break;
        }
    }
    Ok(page)
}

/// Whether the whole check (gates, closure, every applicable rule) allows `agent`.
fn check_allows(
    index: &Index,
    agent: &Id,
    account: Option<&Id>,
    action: &Action,
    target: &Id,
    opts: &EngineOptions,
) -> bool {
    let check = crate::engine::Check {
        agent: agent.clone(),
        account: account.cloned(),
        action: action.clone(),
        target: target.clone(),
        explain: false,
        // A look-up has no context: constraints are evaluated as a check without one.
        context: Default::default(),
    };
    crate::engine::decide(index, &check, opts).is_ok_and(|d| d.allowed)
}

/// Adds `item` to a page of at most `window.limit` items; when the page is already full,
/// marks that more follow and returns false. Items come in byte order, so the first one
/// without the window's prefix ends the answer (false, nothing more).
fn offer(items: &mut Vec<Id>, more: &mut bool, window: Window, item: &Id) -> bool {
    if !item.as_str().starts_with(window.prefix) {
        return false;
    }
    if items.len() == window.limit {
        *more = true;
        return false;
    }
    items.push(item.clone());
    true
}

/// Every node from which one of `seeds` is reachable (the seeds included), following
/// global edges and, with `account`, that account's entries: a bit set over node ids; None
/// once more than `budget` nodes are reached.
fn reach(index: &Index, account: Option<u32>, seeds: Vec<u32>, nodes: usize, budget: usize) -> Option<Vec<u64>> {
    let mut seen = vec![0u64; nodes.div_ceil(64)];
    let mut count = 0usize;
    let mut stack = Vec::with_capacity(seeds.len());
    let mark = |id: u32, seen: &mut [u64], stack: &mut Vec<u32>| {
        let (w, b) = (id as usize / 64, 1u64 << (id % 64));
        if seen[w] & b == 0 {
            seen[w] |= b;
            stack.push(id);
            1
        } else {
            0
        }
    };
    for id in seeds {
        count += mark(id, &mut seen, &mut stack);
    }
    let rev = index.reverse();
    while let Some(v) = stack.pop() {
        if count > budget {
            return None;
        }
        let Some(row) = rev.node(v) else { continue };
        for &u in row.incoming.iter() {
            count += mark(u, &mut seen, &mut stack);
        }
        if let Some(a) = account {
            for e in row.incoming_acc.iter() {
                if e.account == a {
                    count += mark(e.node, &mut seen, &mut stack);
                }
            }
        }
    }
    (count <= budget).then_some(seen)
}

/// Every action `agent` (inside `account` when given) may perform on `target`: the
/// vocabulary's and every custom action a rule names, sorted by IRI.
pub fn actions(
    index: &Index,
    agent: &Id,
    account: Option<&Id>,
    target: &Id,
    opts: &EngineOptions,
) -> Result<Vec<Action>, EngineError> {
    let mut closure = Closure::default();
    let prepared = prepare_for(index, agent, account, opts, &mut closure, false)?;
    // The asset collections the target is part of, with the limit a check applies (to an
    // agent the index does not know too, as a check does).
    if matches!(prepared, Prepared::Ready(_)) && index.collections_in_use() {
        target_closure_of(index, target, opts.max_closure, &mut closure.targets)?;
    }
    let Prepared::Ready(Some((agent_id, agent_row))) = prepared else {
        return Ok(Vec::new());
    };
    // Vocabulary actions with an applicable permission / prohibition, and custom ones.
    let (mut permit, mut deny) = (0u64, 0u64);
    let (mut custom_permit, mut custom_deny) = (Vec::new(), Vec::new());
    let rc = RuleCounts::new(index, agent.as_str());
    let mut record = |ak: u32, policy: u32| {
        let (a, kind) = (ak_action(ak), ak_kind(ak));
        if !rc.counts(policy, kind) {
            return;
        }
        match (a < CUSTOM_BASE, kind) {
            (true, RuleKind::Permission) => permit |= 1 << a,
            (true, RuleKind::Prohibition) => deny |= 1 << a,
            (false, RuleKind::Permission) => custom_permit.push(a),
            (false, RuleKind::Prohibition) => custom_deny.push(a),
        }
    };
    // The target's rules, and those on every asset collection it is part of.
    for t in std::iter::once(target).chain(closure.targets.iter().copied()) {
        for r in index.target_rules(t.as_str()) {
            if r.assignee == agent_id || closure.contains(r.assignee) {
                record(r.ak, r.policy);
            }
        }
    }
    for node in std::iter::once(agent_row).chain(closure.roles.iter().map(|&(_, n)| n)) {
        for r in node.star() {
            record(r.0, r.1);
        }
    }
    // With conflict strategies a prohibition may be overridden (or a permission voided)
    // inside its policy: every action a permission proposes is then checked whole.
    // (Conditions are evaluated per rule in `record`.)
    let strategies = index.strategies_in_use();
    let mut out: Vec<Action> = Vec::new();
    for (i, a) in Action::vocabulary().iter().enumerate() {
        let bit = 1u64 << i;
        let (anc, desc) = if opts.action_hierarchy {
            family_masks(i as u32)
        } else {
            (0, 0)
        };
        let proposed = permit & (bit | anc) != 0;
        if proposed
            && (deny & (bit | anc | desc) == 0 && !strategies
                || strategies && check_allows(index, agent, account, a, target, opts))
        {
            out.push(a.clone());
        }
    }
    custom_deny.sort_unstable();
    custom_permit.sort_unstable();
    custom_permit.dedup();
    for a in custom_permit {
        let action = index.action(a);
        let allowed = if strategies {
            check_allows(index, agent, account, action, target, opts)
        } else {
            custom_deny.binary_search(&a).is_err()
        };
        if allowed {
            out.push(action.clone());
        }
    }
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Ok(out)
}
