//! The decision index (v2): every fact that decides, with identifiers interned to `u32` and
//! each node's and each target's facts in one small row.
//!
//! Shape (docs/ARCHITECTURE.md, "Index v2"):
//!
//! - **Nodes** (agents, roles, groups: one namespace) are interned: a name table
//!   ([`names`]: a flat base built in bulk and a small persistent delta) maps a name to a
//!   dense `u32`, `nodes[id]` is the node's row: its name, whether it is a role, its
//!   explicit status, its global out-edges `(role id, sources)`, its account entries
//!   `(account, role, membership?)`, and the rules assigned to it on the `*` target, with a
//!   64-bit mask of their vocabulary actions so a check skips a row that cannot apply.
//! - **Targets** are interned likewise (one name table, shared with the look-ups' reverse
//!   structures): `targets[id]` is the sorted list of rules on that exact target,
//!   `(assignee id, action and kind, policy id)`, 12 bytes each.
//! - **Policies, accounts and custom actions** are interned the same way; vocabulary
//!   actions are their position in [`Action::vocabulary`] (sorted by IRI, so comparing two
//!   of those ids compares their IRIs).
//!
//! A check reads two rows it has to find by name (the agent's and the target's: found in
//! step, [`Index::agent_and_target`], so their cache misses overlap) and the
//! rows of the roles in the agent's closure, which are few and stay hot in cache; every
//! other comparison is between integers until the deciding rule is rendered.
//!
//! Every structure is persistent (imbl): cloning an index is O(1) and applying a change
//! copies one row and the paths to it, so a published snapshot never changes and a check
//! on an old snapshot answers as of its revision. When nothing else holds a row (the bulk
//! load at start-up, or a second change to the same row in one page of events), the change
//! is made in place. Rows have no separate base and delta; the name tables do (names are
//! never removed, so folding a delta into a new base changes no id and no answer).
//!
//! One structure is derived rather than a fact: the role summaries ([`summary`]), each
//! role's closure and best rules on `*`, with which a check pays per role the agent holds
//! instead of per role in its closure. A snapshot carries them only while they are exact
//! for it; a write that could change one drops them, and they are rebuilt in the
//! background.
//!
//! The hasher is seeded per process; [`Index::with_colliding_hasher`] makes every key hash
//! alike, for tests that prove answers never depend on the hash (every look-up compares
//! whole keys).

use crate::domain::constraint::Condition;
use crate::domain::policy::{effect_mask, kind_bit};
use crate::domain::{Action, Conflict, EntityKind, Id, RuleKind};
use std::sync::Arc;

/// Persistent hash map with this index's hasher.
pub(crate) type PMap<K, V> = imbl::GenericHashMap<K, V, IdHasher, imbl::shared_ptr::DefaultSharedPtr>;
use crate::engine::pvec::PVec;
use interned::{Interned, Keys};
use labels::Labels;
use names::Names;

pub(crate) mod background;
mod chunked;
mod collections;
mod facts;
mod hasher;
mod interned;
mod labels;
mod moved;
mod names;
mod reverse;
mod rows;
mod summary;
mod validate;
mod write;

pub(crate) use chunked::{At, Cursor};
pub use hasher::{IdHash, IdHasher};
pub(crate) use reverse::{RevRule, Reverse};
pub(crate) use rows::{AccountEntry, Named, Node, Pair, TargetRule, action_bit, action_kind, ak_action, ak_kind};
pub(crate) use summary::{Head, LISTED, RoleSummary, Summaries};

/// Custom actions' ids start here; vocabulary actions are below 64.
pub(crate) const CUSTOM_BASE: u32 = 64;

/// Policy ids from here up are *variants*: the rules of one policy that carry one
/// condition (constraints). A row holds a variant's id where it would hold the policy's;
/// everything about the policy (name, label, status, type, strategy) is read from its
/// base, and the condition breaks ties after everything else (no condition first, then
/// conditions in byte order of their canonical text).
pub(crate) const VARIANT_BASE: u32 = 1 << 31;

/// A policy's rules under one condition.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    pub base: u32,
    pub condition: Arc<Condition>,
}

/// Sizes, for metrics and the CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub rules: usize,
    pub global_edges: usize,
    pub account_edges: usize,
    pub memberships: usize,
    pub roles: usize,
    /// Asset → asset collection edges.
    pub asset_edges: usize,
}

/// A snapshot of everything that decides. See the module docs.
#[derive(Clone)]
pub struct Index {
    /// Every event up to this position is applied.
    revision: u64,
    nodes: Interned<Names, Node>,
    /// Nodes a relabel moved whose new label has not yet been written into their row (as
    /// targets', see [`moved`]): a relabel of hundreds of names records their labels here
    /// in a few blocks instead of copying every row, and later writes settle them a few at
    /// a time ([`Index::settle_nodes`]). Read through [`Index::label_of_node`]; empty (so
    /// never searched) nearly always.
    moved_nodes: moved::Moved,
    /// The last write relabelled nodes (it takes no settling step).
    nodes_relabelled: bool,
    /// Exact target (by its id among the reverse structures' target names) → its rules,
    /// sorted, in one allocation (a check's load of the vector's entry leads straight to
    /// the rules, not to a `Vec`'s header and then its buffer). None for a target that
    /// has none. A write copies the row with its change ([`Index::target_row`]).
    targets: PVec<Option<Arc<[TargetRule]>>>,
    /// During a bulk load, the rows written since it began (None: not written), grown
    /// in place — a copy per rule would be quadratic on a target with many rules — and
    /// moved into `targets` by [`Index::end_bulk`]. None outside a bulk load.
    loading: Option<Vec<Option<Vec<TargetRule>>>>,
    accounts: Interned<Names, Named>,
    policies: Interned<Names, Named>,
    /// Variants (policy, condition text), numbered from [`VARIANT_BASE`].
    variants: Interned<PMap<(u32, Arc<str>), u32>, Variant>,
    /// Duties discharged: (policy, node who discharged) → the duty uids, sorted.
    discharged: PMap<(u32, u32), Arc<Vec<Arc<str>>>>,
    /// Policy names in byte order, to label a new policy between its neighbours.
    policy_order: Labels,
    /// How many policies have a conflict strategy other than `prohibit`: while there are
    /// none, a check keeps only the best rule of each kind (no policy can override or void
    /// another rule of its own).
    strategies: usize,
    /// How many policies have a rule kind that does not count (inactive, or a type that
    /// does not enforce it): while there are none, every rule counts as it stands.
    partial: usize,
    /// Node names in byte order, likewise.
    node_order: Labels,
    /// Custom actions, numbered from [`CUSTOM_BASE`].
    customs: Interned<PMap<Action, u32>, Action>,
    /// What the look-ups read: rules by assignee, edges by role, holders of `*` rules.
    reverse: Reverse,
    /// Asset → the asset collections it is directly part of, sorted. No empty rows.
    collections: PMap<Id, Arc<Vec<Id>>>,
    /// Asset collection → its direct members, sorted (for look-ups). No empty rows.
    members: PMap<Id, Arc<Vec<Id>>>,
    stats: IndexStats,
    /// Node and policy names a later name's label has relabelled, in all (tests: the
    /// histories meant to force relabels do).
    relabelled: u64,
    /// Each role's closure and best rules on `*` ([`summary`]), while no write has changed
    /// what they were built from.
    summaries: Option<Arc<Summaries>>,
    /// How many changes so far could have changed a summary (counted while summaries are
    /// current or being built): a build is current when no such change came after the
    /// snapshot it was built from.
    summary_epoch: u64,
    /// Agents holding at least this many roles get a summary of their own
    /// ([`summary::AGENT_SUMMARY_ROLES`] unless a test says otherwise).
    agent_summary_roles: usize,
    /// The summaries being built in the background, and the epoch of their snapshot.
    rebuilding: Option<(u64, Arc<background::Background<Arc<Summaries>>>)>,
}

impl Default for Index {
    fn default() -> Self {
        Index::with_hasher(IdHasher::default())
    }
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index")
            .field("revision", &self.revision)
            .field("stats", &self.stats)
            .field("nodes", &self.nodes.len())
            .field("targets", &self.targets.len())
            .finish_non_exhaustive()
    }
}

/// Two indexes are equal when they are at the same revision and hold the same facts,
/// however they were built (ids are numbered in the order they were first seen).
impl PartialEq for Index {
    fn eq(&self, other: &Index) -> bool {
        let lines = |i: &Index| {
            let mut v: Vec<String> = i.facts().iter().map(|f| format!("{f:?}")).collect();
            v.sort_unstable();
            v
        };
        self.revision == other.revision && self.stats == other.stats && lines(self) == lines(other)
    }
}

impl Eq for Index {}

/// The rules on target `t`: its row written during a bulk load in progress, if any, else
/// its published row.
#[inline]
fn row_of<'a>(
    targets: &'a PVec<Option<Arc<[TargetRule]>>>,
    loading: Option<&'a [Option<Vec<TargetRule>>]>,
    t: u32,
) -> &'a [TargetRule] {
    if let Some(Some(row)) = loading.and_then(|l| l.get(t as usize)) {
        return row;
    }
    targets.get(t as usize).and_then(Option::as_deref).unwrap_or(&[])
}

/// Phases ([`PVec::with_phase`]) of the vectors that grow together, one entry each per new
/// target (its rule row, its label, its name) or per new node (its entry, its reverse row):
/// spread over the 64 lengths, so that no write moves two of their tails into their trees
/// (at a million entries each such move copies a leaf and a path of three inner nodes,
/// ~2–3 KiB; three at once made every 64th new target's write the largest).
pub(super) mod phase {
    pub(in crate::engine::index) const TARGET_ROWS: usize = 0;
    pub(in crate::engine::index) const TARGET_LABELS: usize = 21;
    pub(in crate::engine::index) const TARGET_NAMES: usize = 42;
    pub(in crate::engine::index) const NODES: usize = 0;
    pub(in crate::engine::index) const NODE_ROWS: usize = 32;
}

impl Index {
    fn with_hasher(hasher: IdHasher) -> Index {
        Index {
            revision: 0,
            nodes: Interned::with_phase(&hasher, phase::NODES),
            moved_nodes: moved::Moved::default(),
            nodes_relabelled: false,
            targets: PVec::with_phase(phase::TARGET_ROWS),
            loading: None,
            accounts: Interned::new(&hasher),
            policies: Interned::new(&hasher),
            variants: Interned::new(&hasher),
            discharged: PMap::with_hasher(hasher.clone()),
            policy_order: Labels::default(),
            strategies: 0,
            partial: 0,
            node_order: Labels::default(),
            customs: Interned::new(&hasher),
            reverse: Reverse::new(&hasher),
            collections: PMap::with_hasher(hasher.clone()),
            members: PMap::with_hasher(hasher.clone()),
            stats: IndexStats::default(),
            relabelled: 0,
            summaries: None,
            summary_epoch: 0,
            agent_summary_roles: summary::AGENT_SUMMARY_ROLES,
            rebuilding: None,
        }
    }

    /// An empty index whose hasher sends every key to the same bucket: answers must not
    /// change (tests).
    pub fn with_colliding_hasher() -> Index {
        Index::with_hasher(IdHasher {
            seed: foldhash::fast::RandomState::default(),
            collide: true,
        })
    }

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

    // ---- reads by id (the check's hot path) ----

    pub(crate) fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.id(name).map(|id| self.nodes.get(id))
    }

    pub(crate) fn node_id(&self, name: &str) -> Option<u32> {
        self.nodes.id(name)
    }

    pub(crate) fn node_by_id(&self, id: u32) -> &Node {
        self.nodes.get(id)
    }

    /// Node `id`'s order-preserving label (a < b as names iff label a < label b); `node` is
    /// its row. The row's own unless a relabel moved the node and no write has settled it.
    #[inline(always)]
    pub(crate) fn label_of_node(&self, id: u32, node: &Node) -> u64 {
        if self.moved_nodes.is_empty() {
            node.label
        } else {
            self.moved_nodes.get(id).unwrap_or(node.label)
        }
    }

    /// The agent's id and row and the exact target's rules, as [`Index::node_id`] and
    /// [`Index::target_rules`] give them, found in step: the two name look-ups, then the
    /// two rows, each pair's loads issued side by side so their cache misses overlap (at
    /// scale a check waits on these more than on anything it computes).
    #[inline]
    pub(crate) fn agent_and_target(&self, agent: &str, target: &str) -> (Option<(u32, &Node)>, &[TargetRule]) {
        let (a, t) = Names::get_both((&self.nodes.ids, agent), (&self.reverse.targets.ids, target));
        let node = a.map(|id| (id, self.node_by_id(id)));
        let rules = t.map_or(&[][..], |t| self.target_row(t));
        // Both rows' first lines read before either is used.
        std::hint::black_box((node.map(|(_, n)| n.role), rules.first().map(|r| r.assignee)));
        (node, rules)
    }

    pub(crate) fn target_rules(&self, target: &str) -> &[TargetRule] {
        self.reverse.target_id(target).map_or(&[], |t| self.target_row(t))
    }

    /// The rules on the target with id `t`, sorted (none for an id without a row).
    #[inline]
    pub(crate) fn target_row(&self, t: u32) -> &[TargetRule] {
        row_of(&self.targets, self.loading.as_deref(), t)
    }

    /// Every target that has rules, with them.
    pub(crate) fn target_rows(&self) -> impl Iterator<Item = (&Id, &[TargetRule])> + '_ {
        (0..self.targets.len() as u32)
            .map(|t| (self.reverse.target_name(t), self.target_row(t)))
            .filter(|(_, rules)| !rules.is_empty())
    }

    /// The account's id and whether it is active (unknown accounts are active).
    pub(crate) fn account(&self, name: &str) -> Option<(u32, bool)> {
        self.accounts
            .id(name)
            .map(|id| (id, self.accounts.get(id).status.unwrap_or(true)))
    }

    /// The policy a row's policy id stands for (itself, or a variant's base).
    #[inline]
    pub(crate) fn base(&self, policy: u32) -> u32 {
        if policy >= VARIANT_BASE {
            self.variants.get(policy - VARIANT_BASE).base
        } else {
            policy
        }
    }

    /// The condition of a row's policy id (a variant's), if any.
    #[inline]
    pub(crate) fn condition(&self, policy: u32) -> Option<&Arc<Condition>> {
        (policy >= VARIANT_BASE).then(|| &self.variants.get(policy - VARIANT_BASE).condition)
    }

    /// True when LookupAgents must check its candidates whole: a conflict strategy can take
    /// rules out of a check, and a rule's condition decides per request and, for duties, per
    /// agent (a look-up has no context, so it answers as checks without one would).
    pub fn lookups_check_whole(&self) -> bool {
        self.strategies_in_use() || self.conditions_in_use()
    }

    /// True when `by` has discharged the duty `uid` of `policy` (a base policy id).
    pub(crate) fn discharged(&self, policy: u32, uid: &str, by: &str) -> bool {
        self.node_id(by).is_some_and(|n| {
            self.discharged
                .get(&(policy, n))
                .is_some_and(|uids| uids.binary_search_by(|u| (**u).cmp(uid)).is_ok())
        })
    }

    /// True when some rule carries a condition.
    #[inline]
    pub fn conditions_in_use(&self) -> bool {
        self.variants.len() > 0
    }

    pub(crate) fn policy_name(&self, policy: u32) -> &Id {
        &self.policies.get(self.base(policy)).name
    }

    /// The policy's label (labels are in the policies' byte order) and the mask of rule
    /// kinds that count in it ([`kind_bit`]s: none while it is inactive; see
    /// [`crate::domain::policy`] for its type).
    #[inline]
    pub(crate) fn policy_rank(&self, policy: u32) -> (u64, u8) {
        let p = self.policies.get(self.base(policy));
        (p.label, p.effect)
    }

    /// True when a rule of `kind` in policy `policy` counts (see [`Index::policy_rank`]).
    #[inline]
    pub(crate) fn counts(&self, policy: u32, kind: RuleKind) -> bool {
        self.policies.get(self.base(policy)).effect & kind_bit(kind) != 0
    }

    /// The policy's conflict strategy.
    #[inline]
    pub(crate) fn policy_conflict(&self, policy: u32) -> Conflict {
        self.policies.get(self.base(policy)).conflict.unwrap_or_default()
    }

    /// True when some policy has a conflict strategy other than `prohibit`.
    #[inline]
    pub fn strategies_in_use(&self) -> bool {
        self.strategies > 0
    }

    /// True when every rule counts as it stands: every policy is active and enforces both
    /// kinds, none has a conflict strategy, and no rule has a condition. An applicable rule
    /// then takes part in a check by its place in a row alone.
    #[inline]
    pub(crate) fn every_rule_counts(&self) -> bool {
        self.partial == 0 && !self.strategies_in_use() && !self.conditions_in_use()
    }

    /// True when the policy is active (no status event means active).
    pub(crate) fn policy_active(&self, policy: u32) -> bool {
        self.policies.get(self.base(policy)).status.unwrap_or(true)
    }

    /// True when a rule of `kind` in `policy` counts: the policy is active and its type
    /// enforces that kind. An unknown policy is an active Set.
    pub fn rule_counts(&self, policy: &str, kind: RuleKind) -> bool {
        self.policy_effect(policy) & kind_bit(kind) != 0
    }

    /// The mask of rule kinds that count in `policy` ([`kind_bit`]s), by name.
    pub fn policy_effect(&self, policy: &str) -> u8 {
        self.policies
            .id(policy)
            .map_or(effect_mask(true, None), |p| self.policies.get(p).effect)
    }

    /// The type a `Policy.Created` gave the policy (a full IRI), if any.
    pub fn policy_type(&self, policy: &str) -> Option<&str> {
        self.policies
            .id(policy)
            .and_then(|p| self.policies.get(p).policy_type.as_deref())
    }

    fn label(&self, policy: u32) -> u64 {
        self.policies.get(self.base(policy)).label
    }

    /// The canonical text of a row's condition (None: no condition, first).
    pub(crate) fn condition_text(&self, policy: u32) -> Option<&str> {
        self.condition(policy).map(|c| &*c.text)
    }

    /// The order of rules on `*` in a row: action and kind, then policy label, then
    /// condition.
    fn star_key(&self, r: &Pair) -> (u32, u64, Option<&str>) {
        (r.0, self.label(r.1), self.condition_text(r.1))
    }

    /// `r` against `key` (a [`Index::star_key`]) in that order: the policy's label and
    /// condition only when the action and kind are equal.
    fn star_cmp(&self, r: &Pair, key: &(u32, u64, Option<&str>)) -> std::cmp::Ordering {
        r.0.cmp(&key.0)
            .then_with(|| (self.label(r.1), self.condition_text(r.1)).cmp(&(key.1, key.2)))
    }

    /// The order of rules in a target's row: assignee, action and kind, then policy label,
    /// then condition.
    fn target_key(&self, r: &TargetRule) -> (u32, u32, u64, Option<&str>) {
        (r.assignee, r.ak, self.label(r.policy), self.condition_text(r.policy))
    }

    /// `r` against `key` (a [`Index::target_key`]) in that order: the policy's label and
    /// condition (a cold read each) only when the assignee, action and kind are equal.
    fn target_cmp(&self, r: &TargetRule, key: &(u32, u32, u64, Option<&str>)) -> std::cmp::Ordering {
        (r.assignee, r.ak)
            .cmp(&(key.0, key.1))
            .then_with(|| (self.label(r.policy), self.condition_text(r.policy)).cmp(&(key.2, key.3)))
    }

    /// The id of an action, if the index can hold rules on it (vocabulary or a custom
    /// action some rule has used).
    pub(crate) fn action_id(&self, action: &Action) -> Option<u32> {
        match action.vocabulary_index() {
            Some(i) => Some(i as u32),
            None => self.customs.id(action).map(|c| CUSTOM_BASE + c),
        }
    }

    pub(crate) fn action(&self, id: u32) -> &Action {
        if id < CUSTOM_BASE {
            &Action::vocabulary()[id as usize]
        } else {
            self.customs.get(id - CUSTOM_BASE)
        }
    }

    // ---- reads by name (gates, the Casbin projection, exports) ----

    pub fn is_role(&self, id: &str) -> bool {
        self.node(id).is_some_and(|n| n.role)
    }

    /// No status event means active.
    pub fn is_active(&self, kind: EntityKind, id: &str) -> bool {
        match kind {
            EntityKind::Policy => self
                .policies
                .id(id)
                .is_none_or(|p| self.policies.get(p).status.unwrap_or(true)),
            EntityKind::Agent => self.node(id).and_then(|n| n.status).unwrap_or(true),
            EntityKind::Account => self.account(id).is_none_or(|(_, active)| active),
        }
    }

    /// True when the agent is a member of the account or has an explicit edge there.
    pub fn belongs_to(&self, account: &str, agent: &str) -> bool {
        match (self.accounts.id(account), self.node(agent)) {
            (Some(acc), Some(node)) => node.in_account(acc),
            _ => false,
        }
    }

    /// The sources holding the global edge node → role (0: no edge).
    pub fn global_edge_bits(&self, node: &str, role: &str) -> u8 {
        let (Some(n), Some(r)) = (self.node(node), self.node_id(role)) else {
            return 0;
        };
        let g = n.global();
        g.binary_search_by_key(&r, |e| e.0).map_or(0, |i| g[i].1 as u8)
    }

    /// True when the explicit account edge exists.
    pub fn has_account_edge(&self, account: &str, node: &str, role: &str) -> bool {
        let (Some(acc), Some(n), Some(r)) = (self.accounts.id(account), self.node(node), self.node_id(role)) else {
            return false;
        };
        n.accounts
            .binary_search(&AccountEntry {
                account: acc,
                role: r,
                member: false,
            })
            .is_ok()
    }

    /// Roles of the explicit account edges out of `node` in `account`.
    pub fn account_edge_roles<'a>(&'a self, account: &str, node: &str) -> impl Iterator<Item = &'a Id> + 'a {
        let entries = match (self.accounts.id(account), self.node(node)) {
            (Some(acc), Some(n)) => n.account_entries(acc),
            _ => &[],
        };
        entries
            .iter()
            .filter(|e| !e.member)
            .map(|e| &self.node_by_id(e.role).name)
    }

    /// The agent's membership role in the account.
    pub fn member_role(&self, account: &str, agent: &str) -> Option<&Id> {
        let acc = self.accounts.id(account)?;
        let n = self.node(agent)?;
        n.account_entries(acc)
            .iter()
            .find(|e| e.member)
            .map(|e| &self.node_by_id(e.role).name)
    }
}
