//! The reference index (the engine before index v2, kept unchanged): every fact that
//! decides, in nested persistent maps.
//!
//! An [`Index`] is an immutable snapshot once published. Updating it clones it (O(1): the
//! maps share structure) and applies changes (O(log n) each), so publishing after one write
//! costs a few path copies, not a rebuild. Every look-up a decision makes is by `&str`, so
//! a check allocates nothing per look-up.

use crate::domain::policy::{effect_mask, kind_bit};
use crate::domain::{Action, Change, Conflict, EntityKind, Id, Rule, RuleKind, Target};
use std::sync::Arc;

/// Persistent hash maps and sets with foldhash (randomly seeded per process) instead of
/// SipHash: ids are short strings hashed several times per check.
pub(crate) type PMap<K, V> =
    imbl::GenericHashMap<K, V, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;
pub(crate) type PSet<A> = imbl::GenericHashSet<A, foldhash::fast::RandomState, imbl::shared_ptr::DefaultSharedPtr>;
/// One assignee's rules: target (or `*`) → action → rules.
pub(crate) type ByTarget<S> = PMap<Arc<str>, PMap<Action, S>>;

/// The wildcard target key.
pub(crate) const ANY: &str = "*";

/// A rule's condition (None: no constraints).
pub(crate) type Cond = Option<Arc<crate::domain::constraint::Condition>>;
/// Rules stored under one (assignee, target, action): the policy, kind and condition of
/// each.
pub(crate) type RuleSet = Arc<Vec<(Id, RuleKind, Cond)>>;
/// Prohibitions stored under an ancestor of their action: the policy, the action and the
/// condition.
pub(crate) type BelowSet = Arc<Vec<(Id, Action, Cond)>>;

/// Sizes: the same type as the production index's, so the two compare.
pub use crate::engine::IndexStats;

/// A snapshot of everything that decides. See the module docs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Index {
    /// Every event up to this position is applied.
    revision: u64,
    /// Ids that are roles (permanently): a check for one of them as an agent is refused.
    roles: PSet<Id>,
    /// node → role → bit set of [`crate::domain::EdgeSource`]s holding the global edge.
    global: PMap<Id, PMap<Id, u8>>,
    /// account → node → roles, explicit account edges.
    account_edges: PMap<Id, PMap<Id, PSet<Id>>>,
    /// account → agent → membership role.
    members: PMap<Id, PMap<Id, Id>>,
    /// assignee → target (or `*`) → action → rules.
    rules: PMap<Id, ByTarget<RuleSet>>,
    /// assignee → target (or `*`) → ancestor action → prohibitions on a descendant of it,
    /// so a request for `use` finds a prohibition on `delete` with one look-up.
    below: PMap<Id, ByTarget<BelowSet>>,
    /// Explicit statuses; no entry means active.
    policy_status: PMap<Id, bool>,
    /// Policy types given by `Policy.Created` (full IRIs); no entry: a Set.
    policy_types: PMap<Id, String>,
    /// Conflict strategies given by `Policy.Created`; no entry: `prohibit`.
    policy_conflicts: PMap<Id, Conflict>,
    /// Duties discharged: (policy, duty, who).
    discharged: PSet<(Id, Id, Id)>,
    /// asset → the asset collections it is directly part of.
    collections: PMap<Id, PSet<Id>>,
    agent_status: PMap<Id, bool>,
    account_status: PMap<Id, bool>,
    stats: IndexStats,
}

impl Index {
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Records that every event up to `revision` is applied.
    pub fn set_revision(&mut self, revision: u64) {
        self.revision = revision;
    }

    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    pub fn is_role(&self, id: &str) -> bool {
        self.roles.contains(id)
    }

    /// No status event means active.
    pub fn is_active(&self, kind: EntityKind, id: &str) -> bool {
        let map = match kind {
            EntityKind::Policy => &self.policy_status,
            EntityKind::Agent => &self.agent_status,
            EntityKind::Account => &self.account_status,
        };
        map.get(id).copied().unwrap_or(true)
    }

    /// The policy's conflict strategy.
    pub fn conflict(&self, policy: &str) -> Conflict {
        self.policy_conflicts.get(policy).copied().unwrap_or_default()
    }

    /// True when some policy has a conflict strategy other than `prohibit`.
    /// True when `by` has discharged the duty `uid` of `policy`.
    pub fn discharged(&self, policy: &str, uid: &str, by: &str) -> bool {
        self.discharged
            .contains(&(Id::from_trusted(policy), Id::from_trusted(uid), Id::from_trusted(by)))
    }

    pub fn strategies_in_use(&self) -> bool {
        self.policy_conflicts.values().any(|c| *c != Conflict::Prohibit)
    }

    /// True when a rule of `kind` in `policy` counts: the policy is active and its type
    /// enforces that kind ([`crate::domain::policy`]).
    pub fn rule_counts(&self, policy: &str, kind: RuleKind) -> bool {
        let active = self.is_active(EntityKind::Policy, policy);
        effect_mask(active, self.policy_types.get(policy).map(String::as_str)) & kind_bit(kind) != 0
    }

    /// True when the agent is a member of the account or has an explicit edge there.
    pub fn belongs_to(&self, account: &str, agent: &str) -> bool {
        self.members.get(account).is_some_and(|m| m.contains_key(agent))
            || self.account_edges.get(account).is_some_and(|m| m.contains_key(agent))
    }

    /// Roles reached from `node` in one step by global edges.
    pub(crate) fn global_roles<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Id> + 'a {
        self.global.get(node).into_iter().flat_map(|m| m.keys())
    }

    /// Roles reached from `node` in one step inside `account`: explicit account edges and
    /// the membership role.
    pub(crate) fn account_roles<'a>(&'a self, account: &str, node: &str) -> impl Iterator<Item = &'a Id> + 'a {
        let edges = self
            .account_edges
            .get(account)
            .and_then(|m| m.get(node))
            .into_iter()
            .flat_map(|s| s.iter());
        let member = self.members.get(account).and_then(|m| m.get(node)).into_iter();
        edges.chain(member)
    }

    /// Every rule of `assignee` (one look-up; the check then reads targets and actions).
    /// The asset collections `asset` is directly part of.
    pub(crate) fn collections_of<'a>(&'a self, asset: &str) -> impl Iterator<Item = &'a Id> + 'a {
        self.collections.get(asset).into_iter().flat_map(|s| s.iter())
    }

    pub(crate) fn rules_of(&self, assignee: &str) -> Option<&ByTarget<RuleSet>> {
        self.rules.get(assignee)
    }

    /// Every prohibition of `assignee` under the ancestors of its action.
    pub(crate) fn below_of(&self, assignee: &str) -> Option<&ByTarget<BelowSet>> {
        self.below.get(assignee)
    }

    /// Applies one change: a set operation, so applying it twice is applying it once.
    pub fn apply(&mut self, change: &Change) {
        for role in change.roles_marked() {
            if !self.roles.contains(role) {
                self.roles.insert(role.clone());
                self.stats.roles += 1;
            }
        }
        match change {
            Change::AssetCollection { asset, collection, on } => {
                let mut set = self.collections.get(asset).cloned().unwrap_or_default();
                let had = set.contains(collection);
                if *on && !had {
                    set.insert(collection.clone());
                    self.stats.asset_edges += 1;
                } else if !*on && had {
                    set.remove(collection);
                    self.stats.asset_edges -= 1;
                }
                if set.is_empty() {
                    self.collections.remove(asset);
                } else {
                    self.collections.insert(asset.clone(), set);
                }
            }
            Change::GlobalEdge { source, node, role, on } => {
                let mut out = self.global.get(node).cloned().unwrap_or_default();
                let before = out.get(role).copied().unwrap_or(0);
                let after = if *on {
                    before | source.bit()
                } else {
                    before & !source.bit()
                };
                if (before == 0) != (after == 0) {
                    if after == 0 {
                        self.stats.global_edges -= 1;
                    } else {
                        self.stats.global_edges += 1;
                    }
                }
                if after == 0 {
                    out.remove(role);
                } else {
                    out.insert(role.clone(), after);
                }
                put_or_remove(&mut self.global, node, out);
            }
            Change::AccountEdge {
                account,
                node,
                role,
                on,
            } => {
                let mut by_node = self.account_edges.get(account).cloned().unwrap_or_default();
                let mut roles = by_node.get(node).cloned().unwrap_or_default();
                let changed = if *on {
                    roles.insert(role.clone()).is_none()
                } else {
                    roles.remove(role).is_some()
                };
                if changed {
                    if *on {
                        self.stats.account_edges += 1;
                    } else {
                        self.stats.account_edges -= 1;
                    }
                }
                put_or_remove(&mut by_node, node, roles);
                put_or_remove(&mut self.account_edges, account, by_node);
            }
            Change::MemberSet { account, agent, role } => {
                let mut by_agent = self.members.get(account).cloned().unwrap_or_default();
                if by_agent.insert(agent.clone(), role.clone()).is_none() {
                    self.stats.memberships += 1;
                }
                self.members.insert(account.clone(), by_agent);
            }
            Change::MemberRemoved { account, agent } => {
                if let Some(mut by_agent) = self.members.get(account).cloned() {
                    if by_agent.remove(agent).is_some() {
                        self.stats.memberships -= 1;
                    }
                    put_or_remove(&mut self.members, account, by_agent);
                }
                if let Some(mut by_node) = self.account_edges.get(account).cloned() {
                    if let Some(roles) = by_node.remove(agent) {
                        self.stats.account_edges -= roles.len();
                    }
                    put_or_remove(&mut self.account_edges, account, by_node);
                }
            }
            Change::Rule { rule, on } => self.apply_rule(rule, *on),
            Change::PolicyCreated {
                policy,
                policy_type,
                conflict,
            } => {
                if !self.policy_status.contains_key(policy) {
                    self.policy_status.insert(policy.clone(), true);
                }
                if let Some(t) = policy_type {
                    self.policy_types.insert(policy.clone(), t.clone());
                }
                if let Some(c) = conflict {
                    self.policy_conflicts.insert(policy.clone(), *c);
                }
            }
            Change::Status { kind, id, active } => {
                let map = match kind {
                    EntityKind::Policy => &mut self.policy_status,
                    EntityKind::Agent => &mut self.agent_status,
                    EntityKind::Account => &mut self.account_status,
                };
                map.insert(id.clone(), *active);
            }
            Change::DutyDischarged { policy, duty, agent } => {
                self.discharged.insert((policy.clone(), duty.clone(), agent.clone()));
            }
            Change::MarkRole { .. } | Change::Ignored { .. } => {}
        }
    }

    fn apply_rule(&mut self, rule: &Rule, on: bool) {
        let tkey: Arc<str> = Arc::from(rule.target.as_str());
        let mut by_target = self.rules.get(&rule.assignee).cloned().unwrap_or_default();
        let mut by_action = by_target.get(&tkey).cloned().unwrap_or_default();
        let mut set: Vec<(Id, RuleKind, Cond)> = by_action.get(&rule.action).map(|s| s.to_vec()).unwrap_or_default();
        let entry = (rule.policy.clone(), rule.kind, rule.condition.clone());
        let pos = set.binary_search(&entry);
        let changed = match (on, pos) {
            (true, Err(i)) => {
                set.insert(i, entry);
                true
            }
            (false, Ok(i)) => {
                set.remove(i);
                true
            }
            _ => false,
        };
        if !changed {
            return;
        }
        if on {
            self.stats.rules += 1;
        } else {
            self.stats.rules -= 1;
        }
        if set.is_empty() {
            by_action.remove(&rule.action);
        } else {
            by_action.insert(rule.action.clone(), Arc::new(set));
        }
        put_or_remove(&mut by_target, &tkey, by_action);
        put_or_remove(&mut self.rules, &rule.assignee, by_target);

        if rule.kind == RuleKind::Prohibition {
            for ancestor in rule.action.ancestors() {
                let mut by_target = self.below.get(&rule.assignee).cloned().unwrap_or_default();
                let mut by_action = by_target.get(&tkey).cloned().unwrap_or_default();
                let mut set: Vec<(Id, Action, Cond)> = by_action.get(ancestor).map(|s| s.to_vec()).unwrap_or_default();
                let entry = (rule.policy.clone(), rule.action.clone(), rule.condition.clone());
                match (on, set.binary_search(&entry)) {
                    (true, Err(i)) => set.insert(i, entry),
                    (false, Ok(i)) => {
                        set.remove(i);
                    }
                    _ => {}
                }
                if set.is_empty() {
                    by_action.remove(ancestor);
                } else {
                    by_action.insert(ancestor.clone(), Arc::new(set));
                }
                put_or_remove(&mut by_target, &tkey, by_action);
                put_or_remove(&mut self.below, &rule.assignee, by_target);
            }
        }
    }

    /// The sources holding the global edge node → role (0: no edge).
    pub fn global_edge_bits(&self, node: &str, role: &str) -> u8 {
        self.global.get(node).and_then(|m| m.get(role)).copied().unwrap_or(0)
    }

    /// True when the explicit account edge exists.
    pub fn has_account_edge(&self, account: &str, node: &str, role: &str) -> bool {
        self.account_edges
            .get(account)
            .and_then(|m| m.get(node))
            .is_some_and(|s| s.contains(role))
    }

    /// Roles of the explicit account edges out of `node` in `account`.
    pub fn account_edge_roles<'a>(&'a self, account: &str, node: &str) -> impl Iterator<Item = &'a Id> + 'a {
        self.account_edges
            .get(account)
            .and_then(|m| m.get(node))
            .into_iter()
            .flat_map(|s| s.iter())
    }

    /// The agent's membership role in the account.
    pub fn member_role(&self, account: &str, agent: &str) -> Option<&Id> {
        self.members.get(account).and_then(|m| m.get(agent))
    }

    /// Every fact as the change that sets it: what the read model holds, for rebuilding
    /// projections and comparing engines.
    pub fn facts(&self) -> Vec<Change> {
        use crate::domain::EdgeSource;
        let mut out: Vec<Change> = self
            .roles
            .iter()
            .map(|r| Change::MarkRole {
                role: r.clone(),
                subject: None,
            })
            .collect();
        for (node, roles) in &self.global {
            for (role, bits) in roles {
                for source in [EdgeSource::Role, EdgeSource::Group, EdgeSource::RoleToRole] {
                    if bits & source.bit() != 0 {
                        out.push(Change::GlobalEdge {
                            source,
                            node: node.clone(),
                            role: role.clone(),
                            on: true,
                        });
                    }
                }
            }
        }
        for (account, by_node) in &self.account_edges {
            for (node, roles) in by_node {
                for role in roles {
                    out.push(Change::AccountEdge {
                        account: account.clone(),
                        node: node.clone(),
                        role: role.clone(),
                        on: true,
                    });
                }
            }
        }
        for (account, by_agent) in &self.members {
            for (agent, role) in by_agent {
                out.push(Change::MemberSet {
                    account: account.clone(),
                    agent: agent.clone(),
                    role: role.clone(),
                });
            }
        }
        for rule in self.all_rules() {
            out.push(Change::Rule { rule, on: true });
        }
        for (asset, collections) in &self.collections {
            for collection in collections {
                out.push(Change::AssetCollection {
                    asset: asset.clone(),
                    collection: collection.clone(),
                    on: true,
                });
            }
        }
        for (policy, duty, agent) in &self.discharged {
            out.push(Change::DutyDischarged {
                policy: policy.clone(),
                duty: duty.clone(),
                agent: agent.clone(),
            });
        }
        let typed: std::collections::BTreeSet<&Id> =
            self.policy_types.keys().chain(self.policy_conflicts.keys()).collect();
        for policy in typed {
            out.push(Change::PolicyCreated {
                policy: policy.clone(),
                policy_type: self.policy_types.get(policy).cloned(),
                conflict: self.policy_conflicts.get(policy).copied(),
            });
        }
        for (kind, map) in [
            (EntityKind::Policy, &self.policy_status),
            (EntityKind::Agent, &self.agent_status),
            (EntityKind::Account, &self.account_status),
        ] {
            for (id, active) in map {
                out.push(Change::Status {
                    kind,
                    id: id.clone(),
                    active: *active,
                });
            }
        }
        out
    }

    /// A digest of every fact (order-independent of how the index was built): two indexes
    /// holding the same facts have the same digest. Costs a pass over the whole index.
    pub fn facts_digest(&self) -> u64 {
        let mut lines: Vec<String> = self.facts().iter().map(|f| format!("{f:?}")).collect();
        lines.sort_unstable();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for line in lines {
            for b in line.as_bytes().iter().chain(b"\n") {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        }
        h
    }

    /// Every rule in the index, for exports and comparisons.
    pub fn all_rules(&self) -> Vec<Rule> {
        let mut out = Vec::new();
        for (assignee, by_target) in &self.rules {
            for (target, by_action) in by_target {
                for (action, set) in by_action {
                    for (policy, kind, condition) in set.iter() {
                        out.push(Rule {
                            policy: policy.clone(),
                            kind: *kind,
                            assignee: assignee.clone(),
                            action: action.clone(),
                            target: Target::from_trusted(target),
                            condition: condition.clone(),
                        });
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// Keeps nested maps free of empty entries, so two indexes holding the same facts are equal.
fn put_or_remove<K, V>(map: &mut PMap<K, V>, key: &K, value: V)
where
    K: std::hash::Hash + Eq + Clone,
    V: Clone + IsEmpty,
{
    if value.is_empty_value() {
        map.remove(key);
    } else {
        map.insert(key.clone(), value);
    }
}

trait IsEmpty {
    fn is_empty_value(&self) -> bool;
}
impl<K: std::hash::Hash + Eq + Clone, V: Clone> IsEmpty for PMap<K, V> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
impl<K: std::hash::Hash + Eq + Clone> IsEmpty for PSet<K> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}
