//! The Casbin engine: the same facts as casbin rows, evaluated by casbin-rs with
//! Pericarp's deny-override model.
//!
//! ```ini
//! [request_definition]
//! r = sub, dom, act, obj
//! [policy_definition]
//! p = sub, dom, act, obj, eft
//! [role_definition]
//! g = _, _, _
//! [policy_effect]
//! e = some(where (p.eft == allow)) && !some(where (p.eft == deny))
//! [matchers]
//! m = g(r.sub, p.sub, r.dom) && r.act == p.act && (r.obj == p.obj || p.obj == "*") && (r.dom == p.dom || p.dom == "*")
//! ```
//!
//! with a domain-matching function on `g` under which a stored domain `*` matches every
//! request domain ([`global_or_equal`]). Permissions are `p, assignee, *, action, target,
//! allow`, prohibitions the same with `deny`; global role edges `g, x, role, *`, account edges
//! and membership roles `g, agent, role, account`. Rows are reference-counted (one row can
//! come from several rules or edges), rows of deactivated policies are left out, and the
//! action hierarchy is honoured by expanding rows: a permission on X gives allow rows for X
//! and what X includes; a prohibition on X gives deny rows for X, what X includes and what
//! includes X.
//!
//! **Bounding each check.** A plain enforcer scans every `p` row per check (0.6–1.7 µs a
//! row) and its role manager copies global links into every domain. Here the role closure
//! is resolved once, by the shared closure of [`crate::engine::closure`], and handed to
//! casbin through a role manager whose `g()` answers from it; and each check is evaluated
//! by a per-thread scratch enforcer loaded with only the rows the request can match (`p.sub`
//! in the closure, `p.act` = the request's action, `p.obj` the target or `*`). Those rows are
//! read from the decision index, not from [`CasbinRows`]: the index reads them as a plain
//! check does (integer look-ups in the agent's and the target's rows and, through the role
//! summaries, the closure's best rules) and hands over its deciding deny row and its
//! deciding allow row, either of which may be missing. Every candidate row matches the
//! request, so under `some(allow) && !some(deny)` the rows left out cannot change the
//! answer: a second matching deny denies no more than the first, a second allow allows no
//! more (see [`rows`]). The answer is the plain enforcer's; the suite proves it
//! against one plain casbin-rs enforcer holding every row, and proves the index's rows are
//! one of [`CasbinRows::candidates`]' deny rows when it has any and one of its allow rows
//! when it has any. The
//! [`CasbinRows`] themselves are kept for the export and the status counts. The scratch enforcer is
//! changed only through casbin's synchronous model API, so no check awaits anything.

use crate::domain::policy::{effect_mask, kind_bit};
use crate::domain::{Action, Change, EntityKind, Id, Rule, RuleKind};
use crate::engine::closure::Closure;
use crate::engine::odrl::Hit;
use crate::engine::reference::index::{PMap, PSet};
use crate::engine::{Check, EngineError, Index};
use casbin::prelude::{CoreApi, DefaultModel, Enforcer, MemoryAdapter};
use casbin::{MatchingFn, RoleManager};
use parking_lot::RwLock;
use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

/// Pericarp's model, exactly.
pub const MODEL: &str = "[request_definition]
r = sub, dom, act, obj

[policy_definition]
p = sub, dom, act, obj, eft

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow)) && !some(where (p.eft == deny))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.act == p.act && (r.obj == p.obj || p.obj == \"*\") && (r.dom == p.dom || p.dom == \"*\")
";

/// The domain of global rows and global checks.
pub const GLOBAL_DOMAIN: &str = "*";

/// The domain-matching function a loader must register on `g`:
/// `(request domain, stored domain)`; a stored `*` matches every request domain.
pub fn global_or_equal(request_domain: &str, stored_domain: &str) -> bool {
    stored_domain == GLOBAL_DOMAIN || request_domain == stored_domain
}

/// obj → [allow rows, deny rows] reference counts.
type ByObject = PMap<Arc<str>, [u32; 2]>;

/// A `g` row: (node, role, domain).
type GKey = (Id, Id, Arc<str>);

/// The casbin projection of the facts. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CasbinRows {
    /// Expand rows along the ODRL hierarchy (the engine's `action_hierarchy`).
    hierarchy: bool,
    /// sub → act → obj → [allow rows, deny rows] reference counts.
    p: PMap<Id, PMap<Action, ByObject>>,
    /// g rows and the number of facts holding each.
    g: PMap<GKey, u32>,
    /// Every rule of every policy (active or not), to add or drop rows on status changes.
    policy_rules: PMap<Id, PSet<Rule>>,
}

/// Whether a rule has rows: casbin has no constraints, so a permission with constraints
/// is left out (a row would grant without them) and a prohibition with constraints is
/// written as an unconditional deny (it can only deny more). The export is never wider
/// than Endocarp; the Casbin *engine* does not read these rows for its decisions (it is
/// handed the rows the shared evaluator let through, see the module docs).
fn has_rows(rule: &Rule) -> bool {
    rule.condition.is_none() || rule.kind == RuleKind::Prohibition
}

/// The actions a rule's rows are written for.
fn expansion(rule: &Rule, hierarchy: bool) -> Vec<Action> {
    let mut out = vec![rule.action.clone()];
    if hierarchy {
        out.extend(rule.action.descendants().iter().cloned());
        if rule.kind == RuleKind::Prohibition {
            out.extend(rule.action.ancestors().iter().cloned());
        }
    }
    out
}

impl CasbinRows {
    pub fn new(hierarchy: bool) -> CasbinRows {
        CasbinRows {
            hierarchy,
            ..CasbinRows::default()
        }
    }

    /// Builds the rows of every fact in `index` from scratch.
    pub fn from_index(index: &Index, hierarchy: bool) -> CasbinRows {
        let mut scratch = Index::default();
        let mut rows = CasbinRows::new(hierarchy);
        for fact in index.facts() {
            rows.apply(&scratch, &fact);
            scratch.apply(&fact);
        }
        rows
    }

    fn bump_g(&mut self, node: &Id, role: &Id, domain: &str, up: bool) {
        let key: GKey = (node.clone(), role.clone(), Arc::from(domain));
        let n = self.g.get(&key).copied().unwrap_or(0);
        let n = if up { n + 1 } else { n.saturating_sub(1) };
        if n == 0 {
            self.g.remove(&key);
        } else {
            self.g.insert(key, n);
        }
    }

    fn bump_rule(&mut self, rule: &Rule, up: bool) {
        let slot = usize::from(rule.kind == RuleKind::Prohibition);
        let obj: Arc<str> = Arc::from(rule.target.as_str());
        let mut by_act = self.p.get(&rule.assignee).cloned().unwrap_or_default();
        for act in expansion(rule, self.hierarchy) {
            let mut by_obj = by_act.get(&act).cloned().unwrap_or_default();
            let mut counts = by_obj.get(&obj).copied().unwrap_or([0, 0]);
            counts[slot] = if up {
                counts[slot] + 1
            } else {
                counts[slot].saturating_sub(1)
            };
            if counts == [0, 0] {
                by_obj.remove(&obj);
            } else {
                by_obj.insert(obj.clone(), counts);
            }
            if by_obj.is_empty() {
                by_act.remove(&act);
            } else {
                by_act.insert(act, by_obj);
            }
        }
        if by_act.is_empty() {
            self.p.remove(&rule.assignee);
        } else {
            self.p.insert(rule.assignee.clone(), by_act);
        }
    }

    /// Applies one change; `before` is the index as it was before the change.
    pub fn apply(&mut self, before: &Index, change: &Change) {
        match change {
            Change::GlobalEdge { source, node, role, on } => {
                let had = before.global_edge_bits(node.as_str(), role.as_str()) & source.bit() != 0;
                if had != *on {
                    self.bump_g(node, role, GLOBAL_DOMAIN, *on);
                }
            }
            Change::AccountEdge {
                account,
                node,
                role,
                on,
            } => {
                let had = before.has_account_edge(account.as_str(), node.as_str(), role.as_str());
                if had != *on {
                    self.bump_g(node, role, account.as_str(), *on);
                }
            }
            Change::MemberSet { account, agent, role } => {
                let old = before.member_role(account.as_str(), agent.as_str()).cloned();
                if old.as_ref() != Some(role) {
                    if let Some(old) = old {
                        self.bump_g(agent, &old, account.as_str(), false);
                    }
                    self.bump_g(agent, role, account.as_str(), true);
                }
            }
            Change::MemberRemoved { account, agent } => {
                if let Some(old) = before.member_role(account.as_str(), agent.as_str()).cloned() {
                    self.bump_g(agent, &old, account.as_str(), false);
                }
                let edges: Vec<Id> = before
                    .account_edge_roles(account.as_str(), agent.as_str())
                    .cloned()
                    .collect();
                for role in edges {
                    self.bump_g(agent, &role, account.as_str(), false);
                }
            }
            Change::Rule { rule, on } => {
                let mut rules = self.policy_rules.get(&rule.policy).cloned().unwrap_or_default();
                let had = rules.contains(rule);
                if had == *on {
                    return;
                }
                if *on {
                    rules.insert(rule.clone());
                } else {
                    rules.remove(rule);
                }
                if rules.is_empty() {
                    self.policy_rules.remove(&rule.policy);
                } else {
                    self.policy_rules.insert(rule.policy.clone(), rules);
                }
                if before.rule_counts(rule.policy.as_str(), rule.kind) && has_rows(rule) {
                    self.bump_rule(rule, *on);
                }
            }
            Change::Status {
                kind: EntityKind::Policy,
                id,
                active,
            } => {
                let after = effect_mask(*active, before.policy_type(id.as_str()));
                self.refresh_policy(before, id, after);
            }
            Change::PolicyCreated {
                policy, policy_type, ..
            } => {
                // Activates only a policy with no status (already active); a type given
                // replaces the policy's.
                let active = before.is_active(EntityKind::Policy, policy.as_str());
                let after = effect_mask(active, policy_type.as_deref().or(before.policy_type(policy.as_str())));
                self.refresh_policy(before, policy, after);
            }
            // A discharged duty only lets permissions with duties apply, which have no rows.
            Change::Status { .. }
            | Change::MarkRole { .. }
            | Change::DutyDischarged { .. }
            // Rows stay per rule; a check's candidates and the export expand collections.
            | Change::AssetCollection { .. }
            | Change::Ignored { .. } => {}
        }
    }

    /// Adds or drops the rows of `policy`'s rules whose kind starts or stops counting when
    /// the policy's effect mask goes from what `before` says to `after`.
    fn refresh_policy(&mut self, before: &Index, policy: &Id, after: u8) {
        let was = before.policy_effect(policy.as_str());
        if was == after {
            return;
        }
        let rules: Vec<Rule> = self
            .policy_rules
            .get(policy)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for rule in rules {
            let bit = kind_bit(rule.kind);
            if has_rows(&rule) && (was & bit != 0) != (after & bit != 0) {
                self.bump_rule(&rule, after & bit != 0);
            }
        }
    }

    /// The `p` rows a request for (`act`, `obj`) by these assignees can match, `obj`
    /// being part of the asset collections `collections` (a row on one of them matches as a
    /// row on `obj`). What the index hands the scratch enforcer must equal this; a test
    /// compares them.
    pub fn candidates(&self, assignees: &[&Id], act: &Action, obj: &str, collections: &[&Id]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for sub in assignees {
            let Some(by_obj) = self.p.get(sub.as_str()).and_then(|m| m.get(act.as_str())) else {
                continue;
            };
            let objs = std::iter::once((obj, obj))
                .chain(collections.iter().map(|c| (c.as_str(), obj)))
                .chain(std::iter::once((GLOBAL_DOMAIN, GLOBAL_DOMAIN)));
            for (o, written) in objs {
                if let Some([allow, deny]) = by_obj.get(o) {
                    for (n, eft) in [(allow, "allow"), (deny, "deny")] {
                        if *n > 0 {
                            out.push(vec![
                                sub.to_string(),
                                GLOBAL_DOMAIN.into(),
                                act.to_string(),
                                written.to_string(),
                                eft.into(),
                            ]);
                        }
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// [`CasbinRows::p_rows`] for an enforcer that knows nothing of asset collections: a row
    /// on a collection is also written on every asset that is part of it, directly or
    /// through other collections, so the export denies and allows what Endocarp does.
    pub fn p_rows_expanded(&self, index: &Index) -> Vec<[String; 5]> {
        let mut out = self.p_rows();
        if !index.collections_in_use() {
            return out;
        }
        let mut extra = Vec::new();
        for row in &out {
            for member in index.members_within(&row[3]) {
                let mut r = row.clone();
                r[3] = member.to_string();
                extra.push(r);
            }
        }
        out.extend(extra);
        out.sort();
        out.dedup();
        out
    }

    /// Every `p` row `[sub, dom, act, obj, eft]`, sorted.
    pub fn p_rows(&self) -> Vec<[String; 5]> {
        let mut out = Vec::new();
        for (sub, by_act) in &self.p {
            for (act, by_obj) in by_act {
                for (obj, [allow, deny]) in by_obj {
                    for (n, eft) in [(allow, "allow"), (deny, "deny")] {
                        if *n > 0 {
                            out.push([
                                sub.to_string(),
                                GLOBAL_DOMAIN.into(),
                                act.to_string(),
                                obj.to_string(),
                                eft.into(),
                            ]);
                        }
                    }
                }
            }
        }
        out.sort();
        out
    }

    /// Every `g` row `[node, role, domain]`, sorted.
    pub fn g_rows(&self) -> Vec<[String; 3]> {
        let mut out: Vec<[String; 3]> = self
            .g
            .keys()
            .map(|(n, r, d)| [n.to_string(), r.to_string(), d.to_string()])
            .collect();
        out.sort();
        out
    }

    /// The reference count of a `p` row, for tests of the counting.
    pub fn p_count(&self, sub: &str, act: &str, obj: &str, eft: RuleKind) -> u32 {
        self.p
            .get(sub)
            .and_then(|m| m.get(act))
            .and_then(|m| m.get(obj))
            .map_or(0, |c| c[usize::from(eft == RuleKind::Prohibition)])
    }

    /// The reference count of a `g` row.
    pub fn g_count(&self, node: &str, role: &str, domain: &str) -> u32 {
        let key: GKey = (Id::from_trusted(node), Id::from_trusted(role), Arc::from(domain));
        self.g.get(&key).copied().unwrap_or(0)
    }
}

/// `g()` for one check: the closure the shared code resolved for (agent, domain).
#[derive(Default)]
struct ClosureRoles {
    agent: String,
    domain: String,
    /// The closure's assignees the check's candidate rows name: the matcher asks `g` about
    /// row subjects only, so `has_link` answers every question as the whole closure would.
    members: HashSet<String, foldhash::fast::RandomState>,
}

impl RoleManager for ClosureRoles {
    fn clear(&mut self) {}
    // The scratch enforcer holds no g rows: links come from the closure.
    fn add_link(&mut self, _: &str, _: &str, _: Option<&str>) {}
    fn matching_fn(&mut self, _: Option<MatchingFn>, _: Option<MatchingFn>) {}
    fn delete_link(&mut self, _: &str, _: &str, _: Option<&str>) -> casbin::Result<()> {
        Ok(())
    }
    fn has_link(&self, name1: &str, name2: &str, domain: Option<&str>) -> bool {
        name1 == self.agent && domain == Some(self.domain.as_str()) && self.members.contains(name2)
    }
    fn get_roles(&self, name: &str, domain: Option<&str>) -> Vec<String> {
        if name == self.agent && domain == Some(self.domain.as_str()) {
            self.members.iter().filter(|m| *m != name).cloned().collect()
        } else {
            vec![]
        }
    }
    fn get_users(&self, _: &str, _: Option<&str>) -> Vec<String> {
        vec![]
    }
}

/// A per-thread enforcer that evaluates one check's candidate rows at a time.
struct Scratch {
    enforcer: Enforcer,
    roles: Arc<RwLock<ClosureRoles>>,
}

/// Polls a future that must complete without waiting (casbin's constructors over an
/// in-memory model and adapter). `None` if it would wait.
fn ready<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match f.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

fn casbin_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Casbin(e.to_string())
}

impl Scratch {
    fn new() -> Result<Scratch, EngineError> {
        let model = ready(DefaultModel::from_str(MODEL))
            .ok_or_else(|| casbin_error("model construction would block"))?
            .map_err(casbin_error)?;
        let mut enforcer = ready(Enforcer::new(model, MemoryAdapter::default()))
            .ok_or_else(|| casbin_error("enforcer construction would block"))?
            .map_err(casbin_error)?;
        let roles = Arc::new(RwLock::new(ClosureRoles::default()));
        let rm: Arc<RwLock<dyn RoleManager>> = roles.clone();
        enforcer.set_role_manager(rm).map_err(casbin_error)?;
        Ok(Scratch { enforcer, roles })
    }
}

thread_local! {
    static SCRATCH: RefCell<Option<Scratch>> = const { RefCell::new(None) };
}

/// The `p` rows the Casbin engine hands casbin-rs, from the index: the deciding
/// prohibition and the deciding permission (`best`, either may be missing), as
/// `[assignee, *, action, target or *, allow|deny]`.
///
/// Every row of the request's candidates matches it (its subject is in the closure, its
/// action the request's, its object the target or `*`), so under Pericarp's effect
/// (`some(allow) && !some(deny)`) the rows left out cannot change casbin's answer: one
/// matching deny row denies, and without one a matching allow row allows. Should casbin-rs
/// fail to match a row where the index matched it, the engines disagree and the check
/// fails closed.
pub(crate) fn rows(index: &Index, check: &Check, best: &[Hit]) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = best
        .iter()
        .map(|h| {
            let sub = if h.own {
                check.agent.to_string()
            } else {
                index.node_by_id(h.assignee).name.to_string()
            };
            // A rule on a collection the target is part of matches as a row on the target.
            let obj = if h.level == 2 { "*" } else { check.target.as_str() };
            let eft = if h.kind == RuleKind::Prohibition {
                "deny"
            } else {
                "allow"
            };
            vec![sub, "*".into(), check.action.to_string(), obj.into(), eft.into()]
        })
        .collect();
    rows.sort();
    rows.dedup();
    rows
}

/// Asks casbin-rs whether the request is allowed, over the [`rows`] of `best` (the index's
/// deciding prohibition and permission), with `g` answering from the agent's `closure`.
pub(crate) fn allows(index: &Index, check: &Check, closure: &Closure<'_>, best: &[Hit]) -> Result<bool, EngineError> {
    // casbin's `g` is asked about the rows' subjects only.
    let members: smallvec::SmallVec<[&Id; 2]> = best
        .iter()
        .filter_map(|h| {
            if h.own {
                Some(&check.agent)
            } else {
                closure.contains(h.assignee).then(|| &index.node_by_id(h.assignee).name)
            }
        })
        .collect();
    enforce(rows(index, check, best), check, &members)
}

/// Asks casbin-rs whether the request is allowed, over the rows it can match.
/// `members` are the rows' subjects that are in the check agent's closure (the agent
/// itself when a row is its own): casbin's `g` asks about row subjects only.
fn enforce(candidates: Vec<Vec<String>>, check: &Check, members: &[&Id]) -> Result<bool, EngineError> {
    let domain = check.account.as_ref().map_or(GLOBAL_DOMAIN, |a| a.as_str());
    SCRATCH.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Scratch::new()?);
        }
        let Some(scratch) = slot.as_mut() else {
            return Err(casbin_error("no scratch enforcer"));
        };
        {
            let mut roles = scratch.roles.write();
            roles.agent.clear();
            roles.agent.push_str(check.agent.as_str());
            roles.domain.clear();
            roles.domain.push_str(domain);
            roles.members.clear();
            roles.members.extend(members.iter().map(|a| a.to_string()));
        }
        let model = scratch.enforcer.get_mut_model();
        model.clear_policy();
        if !candidates.is_empty() {
            model.add_policies("p", "p", candidates);
        }
        scratch
            .enforcer
            .enforce((
                check.agent.as_str(),
                domain,
                check.action.as_str(),
                check.target.as_str(),
            ))
            .map_err(casbin_error)
    })
}

/// Builds one plain casbin-rs enforcer holding every row, with casbin's own role manager
/// (hierarchy limit raised far above anything real) and the domain-matching function: the
/// reference the partitioned evaluation is proven against, and what an exported policy
/// loads into.
pub fn plain_enforcer(p_rows: &[[String; 5]], g_rows: &[[String; 3]]) -> Result<Enforcer, EngineError> {
    let model = ready(DefaultModel::from_str(MODEL))
        .ok_or_else(|| casbin_error("model construction would block"))?
        .map_err(casbin_error)?;
    let mut e = ready(Enforcer::new(model, MemoryAdapter::default()))
        .ok_or_else(|| casbin_error("enforcer construction would block"))?
        .map_err(casbin_error)?;
    let rm: Arc<RwLock<dyn RoleManager>> = Arc::new(RwLock::new(casbin::DefaultRoleManager::new(1_000_000)));
    e.set_role_manager(rm).map_err(casbin_error)?;
    e.get_role_manager().write().matching_fn(None, Some(global_or_equal));
    let model = e.get_mut_model();
    model.add_policies("p", "p", p_rows.iter().map(|r| r.to_vec()).collect());
    model.add_policies("g", "g", g_rows.iter().map(|r| r.to_vec()).collect());
    e.build_role_links().map_err(casbin_error)?;
    Ok(e)
}
