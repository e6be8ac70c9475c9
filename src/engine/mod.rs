//! The decision engine: pure functions from an index snapshot and a request to a decision.
//!
//! No I/O, no async, no clock: [`decide`] applies the gates of docs/CONTRACT.md §1 in their order
//! (role-named agent, agent status, account status, membership, closure limit) and then the
//! ODRL evaluation of [`odrl`]. Architecture invariant: this module imports nothing from
//! `store`, `grpc`, `app`, sqlx, tonic, prost or tokio (a test reads the sources).

pub mod casbin;
mod closure;
mod explained;
pub mod index;
mod listing;
pub mod lookup;
pub mod odrl;
mod prefetch;
mod pvec;
mod ranking;
pub mod reference;
mod stars;

pub use casbin::CasbinRows;
pub(crate) use index::background::lower_this_threads_priority;
pub use index::{Index, IndexStats};

use crate::domain::{Action, Decision, Id, Reason};
use std::collections::HashSet;

/// Default largest role closure a check may build.
pub const DEFAULT_MAX_CLOSURE: usize = 10_000;

/// Engine settings shared by every check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// ODRL `includedIn` matching; false restores Pericarp's exact matching.
    pub action_hierarchy: bool,
    /// Deny account checks for agents with no membership and no account edge there.
    pub require_membership: bool,
    /// Largest role closure (nodes, the agent included); larger fails the check.
    pub max_closure: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            action_hierarchy: true,
            require_membership: false,
            max_closure: DEFAULT_MAX_CLOSURE,
        }
    }
}

/// A parsed check: `IsAuthorized` when `account` is None, else `IsAuthorizedInAccount`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub agent: Id,
    pub account: Option<Id>,
    pub action: Action,
    pub target: Id,
    pub explain: bool,
    /// With `explain`: how many entries each list of the explanation holds at most (the
    /// first ones of its order; `Explanation::totals` gives the full lengths).
    pub explain_limit: usize,
    /// Values for the left operands of rules' constraints (empty: none given; a
    /// `dateTime` constraint then reads the server's clock).
    pub context: crate::domain::constraint::Context,
}

/// Checks that fail rather than decide. Never an allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0:?} is a role; a role cannot be checked as an agent")]
    AgentIsRole(String),
    #[error("the role closure of {agent:?} exceeds the limit of {limit} nodes")]
    ClosureTooLarge { agent: String, limit: usize },
    #[error("the asset collections of {target:?} exceed the limit of {limit} nodes")]
    TargetClosureTooLarge { target: String, limit: usize },
    #[error("casbin: {0}")]
    Casbin(String),
    #[error("the Casbin engine has no rows in this snapshot (the server was not started with it)")]
    CasbinNotProjected,
    #[error("casbin {casbin} and the index {index} disagree; failing closed")]
    EnginesDisagree { casbin: &'static str, index: &'static str },
    /// The index is in a bulk load ([`Index::begin_bulk`]): its labels and reverse rows
    /// are not in place until the load ends, so nothing is decided from it. Start-up and
    /// replays end the load before they publish, so a served snapshot never is one.
    #[error("the index is in the middle of a bulk load; nothing is decided from it before the load ends")]
    Loading,
}

/// Which engine answers checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// The ODRL evaluation over the index.
    Odrl,
    /// casbin-rs over the casbin projection of the same facts.
    Casbin,
    /// Answer with ODRL, evaluate Casbin too and count disagreements.
    Shadow,
}

impl EngineKind {
    /// The name in settings, status and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineKind::Odrl => "odrl",
            EngineKind::Casbin => "casbin",
            EngineKind::Shadow => "shadow",
        }
    }
}

/// What a replica decides from: the index and, for the Casbin engine, its rows, always at
/// the same revision (they are updated together).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub index: Index,
    pub casbin: Option<CasbinRows>,
}

impl Snapshot {
    /// An empty snapshot; with `casbin_hierarchy`, it also keeps casbin rows (expanded along
    /// the action hierarchy when true).
    pub fn new(casbin_hierarchy: Option<bool>) -> Snapshot {
        Snapshot {
            index: Index::default(),
            casbin: casbin_hierarchy.map(CasbinRows::new),
        }
    }

    /// See [`Index::refresh_summaries`].
    pub fn refresh_summaries(&mut self) -> bool {
        self.index.refresh_summaries()
    }

    /// Applies one change to every projection.
    pub fn apply(&mut self, change: &crate::domain::Change) {
        if let Some(rows) = &mut self.casbin {
            rows.apply(&self.index, change);
        }
        self.index.apply(change);
    }

    pub fn revision(&self) -> u64 {
        self.index.revision()
    }

    /// See [`Index::begin_bulk`].
    pub fn begin_bulk(&mut self) {
        self.index.begin_bulk();
    }

    /// See [`Index::end_bulk`]; call it before the snapshot is published.
    pub fn end_bulk(&mut self) {
        self.index.end_bulk();
    }

    pub fn set_revision(&mut self, revision: u64) {
        self.index.set_revision(revision);
    }
}

/// Decides with the Casbin engine: the shared gates and closure, then casbin-rs over the
/// rows the request can match, taken from the index. The deciding rule is the index's once
/// casbin has decided; should the two ever disagree the check fails (an error is a deny).
pub fn decide_casbin(snapshot: &Snapshot, check: &Check, opts: &EngineOptions) -> Result<Decision, EngineError> {
    let index = &snapshot.index;
    if snapshot.casbin.is_none() {
        return Err(EngineError::CasbinNotProjected);
    }
    let mut closure = closure::Closure::default();
    let agent = match prepare(index, check, opts, &mut closure, true)? {
        Prepared::Gated(reason) => return Ok(gated(index, check, reason)),
        Prepared::Ready(agent) => agent,
    };
    let (best, decision) = casbin_reading(index, check, agent, &closure, opts);
    let allowed = casbin::allows(index, check, &closure, &best)?;
    if decision.allowed != allowed {
        let word = |a: bool| if a { "allow" } else { "deny" };
        return Err(EngineError::EnginesDisagree {
            casbin: word(allowed),
            index: word(decision.allowed),
        });
    }
    Ok(decision)
}

/// What the Casbin engine reads for a check whose gates passed: the best rule of each kind
/// (its rows) and the index's decision, from one reading of the applicable rules (every
/// one when explaining, the best of each kind otherwise, as a plain check).
fn casbin_reading(
    index: &Index,
    check: &Check,
    agent: odrl::Agent<'_>,
    closure: &closure::Closure<'_>,
    opts: &EngineOptions,
) -> (odrl::Best, Decision) {
    if check.explain {
        let hits = explained::hits(index, check, agent, closure, opts);
        (
            hits.best(index),
            explained::decision_from_hits(index, check, closure, &hits),
        )
    } else {
        let best = odrl::best(index, check, agent, closure, opts);
        let decision = explained::decision_from_best(index, check, closure, &best);
        (best, decision)
    }
}

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

/// A check after its gates: denied by one, or the agent (its closure is in the caller's).
enum Prepared<'a> {
    Gated(Reason),
    Ready(odrl::Agent<'a>),
}

/// What the gates let through: the agent's row and the account's id, when the index knows
/// them; or the reason of a deny.
type Gate<'a> = Result<(odrl::Agent<'a>, Option<u32>), Reason>;

/// Refuses an index in the middle of a bulk load ([`Index::is_loading`]): the first step of
/// every check, look-up and closure.
#[inline]
pub(crate) fn loaded(index: &Index) -> Result<(), EngineError> {
    if index.is_loading() {
        return Err(EngineError::Loading);
    }
    Ok(())
}

/// The gates of docs/CONTRACT.md §1 in their order.
fn gate<'a>(
    index: &'a Index,
    (name, agent): (&Id, odrl::Agent<'a>),
    account: Option<&Id>,
    opts: &EngineOptions,
) -> Result<Gate<'a>, EngineError> {
    loaded(index)?;
    if agent.is_some_and(|(_, n)| n.role) {
        return Err(EngineError::AgentIsRole(name.to_string()));
    }
    if agent.and_then(|(_, n)| n.status) == Some(false) {
        return Ok(Err(Reason::AgentInactive));
    }
    let wanted = account;
    let mut account = None;
    if let Some(name) = wanted {
        let known = index.account(name.as_str());
        if known.is_some_and(|(_, active)| !active) {
            return Ok(Err(Reason::AccountInactive));
        }
        let id = known.map(|(id, _)| id);
        if opts.require_membership && !id.is_some_and(|id| agent.is_some_and(|(_, n)| n.in_account(id))) {
            return Ok(Err(Reason::NotAMember));
        }
        account = id;
    }
    Ok(Ok((agent, account)))
}

/// The gates, then the closure (into `closure`). With `summaries` (the ODRL engine's
/// checks), the closure comes from the role summaries when they can answer it exactly: not
/// when explaining, which lists every role, nor while a conflict strategy needs every rule.
fn prepare<'a>(
    index: &'a Index,
    check: &Check,
    opts: &EngineOptions,
    closure: &mut closure::Closure<'a>,
    summaries: bool,
) -> Result<Prepared<'a>, EngineError> {
    let summaries = summaries && !check.explain && !index.strategies_in_use();
    let (found, rules) = index.agent_and_target(check.agent.as_str(), check.target.as_str());
    closure.target_rules = Some(rules);
    let prepared = prepare_found(
        index,
        (&check.agent, found),
        check.account.as_ref(),
        opts,
        closure,
        summaries,
    )?;
    if matches!(prepared, Prepared::Ready(_)) && index.collections_in_use() {
        target_closure_of(index, &check.target, opts.max_closure, &mut closure.targets)?;
    }
    if check.explain {
        // An explanation lists the roles by name and its rules by assignee within a policy:
        // with the roles in label order (the names' byte order), both read them in order.
        // Sorted by the label read once per role, not at each comparison.
        let mut by_label: Vec<(u64, u32, &index::Node)> = closure
            .roles
            .iter()
            .map(|&(id, n)| (index.label_of_node(id, n), id, n))
            .collect();
        ranking::sort_by_label(&mut by_label, |t| t.0);
        for (slot, (_, id, n)) in closure.roles.iter_mut().zip(by_label) {
            *slot = (id, n);
        }
    }
    Ok(prepared)
}

/// The asset collections `target` is part of, directly or through other collections,
/// breadth first with a visited set, into `out` in byte order. The limit counts the target,
/// as the role closure's counts the agent.
pub(crate) fn target_closure_of<'a>(
    index: &'a Index,
    target: &Id,
    max: usize,
    out: &mut smallvec::SmallVec<[&'a Id; 4]>,
) -> Result<(), EngineError> {
    /// Past this many collections, membership is a hash set instead of a scan.
    const SCAN: usize = 32;
    let mut big: Option<HashSet<&str, foldhash::fast::RandomState>> = None;
    let mut next = 0;
    let mut at: &str = target.as_str();
    loop {
        for c in index.collections_of(at) {
            let new = c != target
                && match &mut big {
                    Some(set) => set.insert(c.as_str()),
                    None => !out.contains(&c),
                };
            if new {
                if out.len() + 1 >= max {
                    return Err(EngineError::TargetClosureTooLarge {
                        target: target.to_string(),
                        limit: max,
                    });
                }
                out.push(c);
                if big.is_none() && out.len() > SCAN {
                    big = Some(out.iter().map(|c| c.as_str()).collect());
                }
            }
        }
        let Some(c) = out.get(next) else { break };
        at = c.as_str();
        next += 1;
    }
    out.sort_unstable();
    Ok(())
}

/// [`prepare`] for an agent in an account (or globally), whatever the action and target.
fn prepare_for<'a>(
    index: &'a Index,
    agent: &Id,
    account: Option<&Id>,
    opts: &EngineOptions,
    closure: &mut closure::Closure<'a>,
    summaries: bool,
) -> Result<Prepared<'a>, EngineError> {
    prepare_found(
        index,
        (agent, agent_row(index, agent)),
        account,
        opts,
        closure,
        summaries,
    )
}

/// The agent's id and row, when the index knows it.
fn agent_row<'a>(index: &'a Index, agent: &Id) -> odrl::Agent<'a> {
    index.node_id(agent.as_str()).map(|id| (id, index.node_by_id(id)))
}

/// [`prepare_for`] with the agent's row already found.
fn prepare_found<'a>(
    index: &'a Index,
    (agent, found): (&Id, odrl::Agent<'a>),
    account: Option<&Id>,
    opts: &EngineOptions,
    closure: &mut closure::Closure<'a>,
    summaries: bool,
) -> Result<Prepared<'a>, EngineError> {
    match gate(index, (agent, found), account, opts)? {
        Err(reason) => Ok(Prepared::Gated(reason)),
        Ok((row, account)) => {
            let summarized = summaries
                .then(|| closure::summarized_closure(index, row, account, opts.max_closure, agent, closure))
                .flatten();
            match summarized {
                Some(done) => done?,
                None => {
                    closure.ids.clear();
                    closure.filter = None;
                    closure.summarized = None;
                    closure.bits = None;
                    closure::closure_of(index, row, account, opts.max_closure, agent, closure)?;
                }
            }
            Ok(Prepared::Ready(row))
        }
    }
}

/// A switch for same-process A/B measurements: with `ENDOCARP_BENCH_AB=1` the engine
/// benchmark's perf mode times blocks of checks with it off and on in turn (swapped every
/// pass, so the machine's drifting speed falls on both alike) and reports both. Committed
/// code never reads it: a scratch change under measurement does.
#[doc(hidden)]
pub static AB: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Decides a check against a snapshot (gates, closure, then the ODRL evaluation).
pub fn decide(index: &Index, check: &Check, opts: &EngineOptions) -> Result<Decision, EngineError> {
    let mut closure = closure::Closure::default();
    match prepare(index, check, opts, &mut closure, true)? {
        Prepared::Gated(reason) => Ok(gated(index, check, reason)),
        Prepared::Ready(agent) => Ok(odrl::evaluate(index, check, agent, &closure, opts)),
    }
}

/// The gates before either engine, in order. `Some(reason)` is a deny.
pub fn gates(index: &Index, check: &Check, opts: &EngineOptions) -> Result<Option<Reason>, EngineError> {
    let agent = (&check.agent, agent_row(index, &check.agent));
    Ok(gate(index, agent, check.account.as_ref(), opts)?.err())
}

/// The agent followed by every node its edges reach: global edges always, and in an
/// account also that account's edges and membership roles out of every node reached.
/// Cycles are harmless; there is no depth cut-off; more than `max` nodes fails rather than
/// deciding from a partial closure.
pub fn closure<'a>(
    index: &'a Index,
    agent: &'a Id,
    account: Option<&Id>,
    max: usize,
) -> Result<Vec<&'a Id>, EngineError> {
    loaded(index)?;
    let node = agent_row(index, agent);
    let account = account.and_then(|a| index.account(a.as_str())).map(|(id, _)| id);
    let mut closure = closure::Closure::default();
    closure::closure_of(index, node, account, max, agent, &mut closure)?;
    let mut out = vec![agent];
    out.extend(closure.roles.iter().map(|(_, n)| &n.name));
    Ok(out)
}

/// The Casbin `p` rows the Casbin engine hands casbin-rs for a check (empty when a gate
/// denies). For tests that compare them with [`CasbinRows::candidates`].
pub fn casbin_candidates(index: &Index, check: &Check, opts: &EngineOptions) -> Result<Vec<Vec<String>>, EngineError> {
    let mut closure = closure::Closure::default();
    match prepare(index, check, opts, &mut closure, true)? {
        Prepared::Gated(_) => Ok(Vec::new()),
        Prepared::Ready(agent) => {
            let (best, _) = casbin_reading(index, check, agent, &closure, opts);
            Ok(casbin::rows(index, check, &best))
        }
    }
}
