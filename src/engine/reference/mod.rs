//! The reference engine: the engine as it was before index v2, kept unchanged so that
//! differential tests can compare every answer of the production engine
//! ([`crate::engine::decide`]) with it.
//!
//! Its shape is the obvious one: nested persistent maps keyed by strings, a breadth-first
//! closure over them, and every applicable rule looked up per closure node. It is slow at
//! scale (hundreds of map look-ups per check) and is not used to serve checks.

pub mod index;
pub mod odrl;

pub use index::Index;

use crate::domain::{Decision, EntityKind, Id, Reason};
use crate::engine::{Check, EngineError, EngineOptions};
use std::collections::HashSet;

/// The deny a gate gives (inactive agent or account, not a member): no rule decided it.
fn gated(index: &Index, check: &Check, reason: Reason) -> Decision {
    Decision {
        allowed: false,
        reason,
        revision: index.revision(),
        deciding_rule: None,
        explanation: None,
        action: check.action.clone(),
    }
}

/// Decides a check against a snapshot (gates, closure, then the ODRL evaluation).
pub fn decide(index: &Index, check: &Check, opts: &EngineOptions) -> Result<Decision, EngineError> {
    if let Some(reason) = gates(index, check, opts)? {
        return Ok(gated(index, check, reason));
    }
    let assignees = closure(index, &check.agent, check.account.as_ref(), opts.max_closure)?;
    let collections = target_closure(index, &check.target, opts.max_closure)?;
    Ok(odrl::evaluate(index, check, &assignees, &collections, opts))
}

/// The gates before either engine, in order. `Some(reason)` is a deny.
pub fn gates(index: &Index, check: &Check, opts: &EngineOptions) -> Result<Option<Reason>, EngineError> {
    if index.is_role(check.agent.as_str()) {
        return Err(EngineError::AgentIsRole(check.agent.to_string()));
    }
    if !index.is_active(EntityKind::Agent, check.agent.as_str()) {
        return Ok(Some(Reason::AgentInactive));
    }
    if let Some(account) = &check.account {
        if !index.is_active(EntityKind::Account, account.as_str()) {
            return Ok(Some(Reason::AccountInactive));
        }
        if opts.require_membership && !index.belongs_to(account.as_str(), check.agent.as_str()) {
            return Ok(Some(Reason::NotAMember));
        }
    }
    Ok(None)
}

/// The asset collections the target is part of, directly or through other collections
/// (breadth first with a visited set, the target excluded), in byte order. The limit counts
/// the target, as the role closure's counts the agent.
pub fn target_closure<'a>(index: &'a Index, target: &'a Id, max: usize) -> Result<Vec<&'a Id>, EngineError> {
    let mut queue: Vec<&'a Id> = vec![target];
    let mut seen: HashSet<&'a str, foldhash::fast::RandomState> = HashSet::default();
    seen.insert(target.as_str());
    let mut next = 0;
    while next < queue.len() {
        let asset = queue[next].as_str();
        next += 1;
        for c in index.collections_of(asset) {
            if seen.insert(c.as_str()) {
                if queue.len() >= max {
                    return Err(EngineError::TargetClosureTooLarge {
                        target: target.to_string(),
                        limit: max,
                    });
                }
                queue.push(c);
            }
        }
    }
    let mut out = queue.split_off(1);
    out.sort();
    Ok(out)
}

/// The agent followed by every node its edges reach, breadth first with a visited set:
/// global edges always, and in an account also that account's edges and membership roles
/// out of every node reached. Cycles are harmless; there is no depth cut-off; more than
/// `max` nodes fails rather than deciding from a partial closure.
pub fn closure<'a>(
    index: &'a Index,
    agent: &'a Id,
    account: Option<&Id>,
    max: usize,
) -> Result<Vec<&'a Id>, EngineError> {
    let mut queue: Vec<&'a Id> = vec![agent];
    let mut seen: HashSet<&'a str, foldhash::fast::RandomState> = HashSet::default();
    seen.insert(agent.as_str());
    let mut next = 0;
    while next < queue.len() {
        let node = queue[next].as_str();
        next += 1;
        let account_roles = account
            .into_iter()
            .flat_map(|acc| index.account_roles(acc.as_str(), node));
        for role in index.global_roles(node).chain(account_roles) {
            if seen.insert(role.as_str()) {
                if queue.len() >= max {
                    return Err(EngineError::ClosureTooLarge {
                        agent: agent.to_string(),
                        limit: max,
                    });
                }
                queue.push(role);
            }
        }
    }
    Ok(queue)
}
