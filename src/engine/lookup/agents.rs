//! LookupAgents: the assignees of applicable rules expanded downwards through the edges
//! that point at them, or every known agent checked in byte order when the answer is
//! dense (see the parent module's docs).

use super::{AgentsPage, Window, check_allows, offer};
use crate::domain::{Action, Id, RuleKind};
use crate::engine::closure::{Closure, closure_of};
use crate::engine::index::{CUSTOM_BASE, Index, action_bit, ak_action, ak_kind};
use crate::engine::odrl::{Wanted, family_masks};
use crate::engine::{EngineError, EngineOptions, loaded, target_closure_of};

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
    loaded(index)?;
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
            .map(|id| (index.label_of_node(id, index.node_by_id(id)), id))
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
