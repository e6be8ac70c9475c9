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
use crate::engine::closure::Closure;
use crate::engine::index::{CUSTOM_BASE, Index, VARIANT_BASE, ak_action, ak_kind};
use crate::engine::odrl::family_masks;
use crate::engine::{EngineError, EngineOptions, Prepared, prepare_for, target_closure_of};
use std::cell::RefCell;

mod agents;
mod targets;

pub use agents::{Budgets, agents, agents_with};
pub use targets::targets;

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
        explain_limit: 0,
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
