//! The decision index (v2): every fact that decides, with identifiers interned to `u32` and
//! each node's and each target's facts in one small row.
//!
//! Shape (docs/ARCHITECTURE.md, "Index v2"):
//!
//! - **Nodes** (agents, roles, groups: one namespace) are interned: `node_ids` maps a name
//!   to a dense `u32`, `nodes[id]` is the node's row: its name, whether it is a role, its
//!   explicit status, its global out-edges `(role id, sources)`, its account entries
//!   `(account, role, membership?)`, and the rules assigned to it on the `*` target, with a
//!   64-bit mask of their vocabulary actions so a check skips a row that cannot apply.
//! - **Targets**: `targets[name]` is the sorted list of rules on that exact target,
//!   `(assignee id, action and kind, policy id)`, 12 bytes each.
//! - **Policies, accounts and custom actions** are interned the same way; vocabulary
//!   actions are their position in [`Action::vocabulary`] (sorted by IRI, so comparing two
//!   of those ids compares their IRIs).
//!
//! A check reads two rows it has to find by name (the agent's and the target's) and the
//! rows of the roles in the agent's closure, which are few and stay hot in cache; every
//! other comparison is between integers until the deciding rule is rendered.
//!
//! Every structure is persistent (imbl): cloning an index is O(1) and applying a change
//! copies one row and the paths to it, so a published snapshot never changes and a check
//! on an old snapshot answers as of its revision. When nothing else holds a row (the bulk
//! load at start-up, or a second change to the same row in one page of events), the change
//! is made in place. There is no separate base and delta, so there is nothing to compact.
//!
//! The hasher is seeded per process; [`Index::with_colliding_hasher`] makes every key hash
//! alike, for tests that prove answers never depend on the hash (every look-up compares
//! whole keys).

use crate::domain::{Action, Change, EdgeSource, EntityKind, Id, Rule, RuleKind, Target};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

/// Persistent hash map with this index's hasher.
pub(crate) type PMap<K, V> = imbl::GenericHashMap<K, V, IdHasher, imbl::shared_ptr::DefaultSharedPtr>;
use crate::engine::pvec::PVec;

/// Custom actions' ids start here; vocabulary actions are below 64.
pub(crate) const CUSTOM_BASE: u32 = 64;

/// The hasher of every map of an index: foldhash, randomly seeded, or (for tests) one under
/// which every key collides.
#[derive(Clone, Default, Debug)]
pub struct IdHasher {
    seed: foldhash::fast::RandomState,
    collide: bool,
}

/// The state of [`IdHasher`].
pub struct IdHash {
    inner: foldhash::fast::FoldHasher<'static>,
    collide: bool,
}

impl BuildHasher for IdHasher {
    type Hasher = IdHash;
    fn build_hasher(&self) -> IdHash {
        IdHash {
            inner: self.seed.build_hasher(),
            collide: self.collide,
        }
    }
}

impl Hasher for IdHash {
    fn write(&mut self, bytes: &[u8]) {
        self.inner.write(bytes);
    }
    fn write_u8(&mut self, i: u8) {
        self.inner.write_u8(i);
    }
    fn write_u32(&mut self, i: u32) {
        self.inner.write_u32(i);
    }
    fn write_u64(&mut self, i: u64) {
        self.inner.write_u64(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.inner.write_usize(i);
    }
    fn finish(&self) -> u64 {
        if self.collide { 0 } else { self.inner.finish() }
    }
}

/// Sizes, for metrics and the CLI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub rules: usize,
    pub global_edges: usize,
    pub account_edges: usize,
    pub memberships: usize,
    pub roles: usize,
}

/// A rule's action and kind in one word: `action << 1`, plus 1 for a permission, so that
/// sorting puts an action's prohibitions before its permissions.
pub(crate) fn action_kind(action: u32, kind: RuleKind) -> u32 {
    (action << 1) | u32::from(kind == RuleKind::Permission)
}

/// The action of an [`action_kind`] word.
pub(crate) fn ak_action(ak: u32) -> u32 {
    ak >> 1
}

/// The kind of an [`action_kind`] word.
pub(crate) fn ak_kind(ak: u32) -> RuleKind {
    if ak & 1 == 1 {
        RuleKind::Permission
    } else {
        RuleKind::Prohibition
    }
}

/// A rule on an exact target, in that target's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TargetRule {
    pub assignee: u32,
    pub ak: u32,
    pub policy: u32,
}

/// An edge inside an account: an explicit account edge, or the membership role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AccountEntry {
    pub account: u32,
    pub role: u32,
    pub member: bool,
}

/// Two words of a node's packed row: a global edge (role id, bit set of [`EdgeSource`]s),
/// a group offset (offset, 0), or a rule on `*` (action and kind, policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair(pub u32, pub u32);

/// Everything about one node (agent, role or group).
///
/// What a check reads of a role in its closure — its global edges, where each action's `*`
/// rules start, and those rules — is one allocation (`data`), so a role costs the row and
/// one more cache line or two, not a pointer per part.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: Id,
    /// An order-preserving label (see `Labels`): a < b as names iff label a < label b.
    pub label: u64,
    pub role: bool,
    /// The explicit agent status; None means active.
    pub status: Option<bool>,
    /// Bit i: a rule on `*` on vocabulary action i; bit 63: one on a custom action.
    pub star_mask: u64,
    /// Global edges in `data[..n_global]`.
    n_global: u32,
    /// Group offsets in `data[n_global..n_global + n_groups]`.
    n_groups: u32,
    /// Global edges sorted by role id; then, for the k-th set bit of `star_mask` (custom
    /// actions share bit 63), where that action's group starts among the `*` rules, and
    /// their count; then the rules on `*` assigned to this node, sorted by action and
    /// kind, then policy label. Inline up to 12 pairs (an agent's roles are in the row's
    /// own cache lines); longer rows (roles with many `*` rules) spill to the heap.
    data: smallvec::SmallVec<[Pair; 12]>,
    /// Account entries, sorted.
    pub accounts: Vec<AccountEntry>,
}

impl Node {
    fn new(name: Id, label: u64) -> Node {
        Node {
            name,
            label,
            role: false,
            status: None,
            star_mask: 0,
            n_global: 0,
            n_groups: 0,
            data: smallvec::SmallVec::new(),
            accounts: Vec::new(),
        }
    }

    /// Global edges: (role id, sources), sorted by role id.
    #[inline]
    pub fn global(&self) -> &[Pair] {
        &self.data[..self.n_global as usize]
    }

    /// Rules on `*` assigned to this node: (action and kind, policy).
    pub fn star(&self) -> &[Pair] {
        &self.data[(self.n_global + self.n_groups) as usize..]
    }

    /// True when the node has an account entry (edge or membership) in `account`.
    pub fn in_account(&self, account: u32) -> bool {
        let i = self.accounts.partition_point(|e| e.account < account);
        self.accounts.get(i).is_some_and(|e| e.account == account)
    }

    /// The node's account entries in `account`.
    pub fn account_entries(&self, account: u32) -> &[AccountEntry] {
        let from = self.accounts.partition_point(|e| e.account < account);
        let to = self.accounts.partition_point(|e| e.account <= account);
        &self.accounts[from..to]
    }

    /// The rules on `*` of one action's group (every custom action's, for bit 63), given
    /// that `bit` is set in `star_mask`.
    #[inline]
    pub fn star_group(&self, bit: u32) -> &[Pair] {
        let k = (self.star_mask & ((1u64 << bit) - 1)).count_ones() as usize;
        let base = (self.n_global + self.n_groups) as usize;
        let group = self.data[self.n_global as usize + k];
        &self.data[base + group.0 as usize..base + (group.0 + group.1) as usize]
    }

    /// Rebuilds the packed row from its parts.
    fn pack(&mut self, global: &[Pair], star: &[Pair]) {
        let mut groups: Vec<Pair> = Vec::new();
        self.star_mask = 0;
        for (i, r) in star.iter().enumerate() {
            let bit = action_bit(ak_action(r.0));
            if self.star_mask & bit == 0 {
                self.star_mask |= bit;
                groups.push(Pair(i as u32, 0));
            }
            if let Some(g) = groups.last_mut() {
                g.1 += 1;
            }
        }
        let mut data = smallvec::SmallVec::with_capacity(global.len() + groups.len() + star.len());
        data.extend_from_slice(global);
        data.extend_from_slice(&groups);
        data.extend_from_slice(star);
        self.n_global = global.len() as u32;
        self.n_groups = groups.len() as u32;
        self.data = data;
    }

    fn set_global(&mut self, global: &[Pair]) {
        let star = self.star().to_vec();
        self.pack(global, &star);
    }

    fn set_star(&mut self, star: &[Pair]) {
        let global = self.global().to_vec();
        self.pack(&global, star);
    }
}

/// The mask bit of an action id (bit 63 for every custom action).
pub(crate) fn action_bit(action: u32) -> u64 {
    if action < CUSTOM_BASE { 1 << action } else { 1 << 63 }
}

/// A named entity with an explicit status (policies, accounts).
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub name: Id,
    /// None: no status event (active).
    pub status: Option<bool>,
    /// Policies: an order-preserving label (a < b as names iff label a < label b), so the
    /// deciding order compares integers. Accounts: 0.
    pub label: u64,
}

/// Space between the labels of names added after the last one (and after a relabel).
const LABEL_STEP: u64 = 1 << 32;

/// Names in byte order with their ids, to give a new name an integer label between its
/// neighbours' (order-maintenance labels: comparing two labels compares the two names).
#[derive(Debug, Clone, Default)]
struct Labels {
    order: imbl::OrdMap<Id, u32>,
}

impl Labels {
    /// Adds `name` (whose entry `id` exists, its label not yet set) and returns the labels
    /// to set: the new name's, strictly between its neighbours', and, when there is no room
    /// between them, those of the names around it, spread again over the smallest aligned
    /// label range that is sparse enough (list labelling after Bender et al., "Two
    /// simplified algorithms for maintaining order in a list": a range of 2^j labels is
    /// sparse enough below (2/1.3)^j names; amortised O(log n) labels per insertion, so a
    /// run of names inserted into one gap never relabels everything).
    fn insert(&mut self, name: &Id, id: u32, label_of: impl Fn(u32) -> u64) -> Vec<(u32, u64)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let before = (Unbounded, Excluded(name.as_str()));
        let after = (Excluded(name.as_str()), Unbounded);
        let below = self
            .order
            .range::<_, str>(before)
            .next_back()
            .map(|(_, &i)| label_of(i));
        let above = self.order.range::<_, str>(after).next().map(|(_, &i)| label_of(i));
        self.order.insert(name.clone(), id);
        let direct = match (below, above) {
            (None, None) => Some(1 << 63),
            (Some(b), None) => b.checked_add(LABEL_STEP).or_else(|| midpoint(b, u64::MAX)),
            (None, Some(a)) => a.checked_sub(LABEL_STEP).filter(|&l| l > 0).or_else(|| midpoint(0, a)),
            (Some(b), Some(a)) => midpoint(b, a),
        };
        if let Some(label) = direct {
            return vec![(id, label)];
        }
        let anchor = u128::from(below.or(above).unwrap_or(0));
        for j in 1..=64u32 {
            let size: u128 = 1 << j;
            let base = anchor & !(size - 1);
            let end = base + size;
            let mut run: Vec<u32> = self
                .order
                .range::<_, str>(before)
                .rev()
                .map_while(|(_, &i)| (u128::from(label_of(i)) >= base).then_some(i))
                .collect();
            run.reverse();
            run.push(id);
            run.extend(
                self.order
                    .range::<_, str>(after)
                    .map_while(|(_, &i)| (u128::from(label_of(i)) < end).then_some(i)),
            );
            let count = run.len() as u128;
            let sparse = (count as f64) < (size as f64) / 1.3f64.powi(j as i32);
            if sparse && size / (count + 1) >= 2 {
                let step = size / (count + 1);
                return run
                    .into_iter()
                    .enumerate()
                    .map(|(k, i)| (i, (base + step * (k as u128 + 1)) as u64))
                    .collect();
            }
        }
        // Only past ~10^11 names: spread every label.
        self.order
            .values()
            .enumerate()
            .map(|(k, &i)| (i, (k as u64 + 1).saturating_mul(LABEL_STEP >> 8)))
            .collect()
    }

    /// Checks that labels rise with the names and that every id is there.
    fn validate(&self, what: &str, count: usize, name_and_label: impl Fn(u32) -> (Id, u64)) -> Result<(), String> {
        if self.order.len() != count {
            return Err(format!("the {what} order holds {} of {count}", self.order.len()));
        }
        let mut last: Option<u64> = None;
        for (name, &id) in &self.order {
            let (held, label) = name_and_label(id);
            if held != *name || last.is_some_and(|l| l >= label) {
                return Err(format!("{what} {name:?}: label {label} out of order"));
            }
            last = Some(label);
        }
        Ok(())
    }
}

/// An interned namespace: name → dense id, id → entry.
#[derive(Clone)]
struct Interned<K: Clone + std::hash::Hash + Eq, V: Clone> {
    ids: PMap<K, u32>,
    entries: PVec<V>,
}

impl<K: Clone + std::hash::Hash + Eq, V: Clone> Interned<K, V> {
    fn new(hasher: &IdHasher) -> Self {
        Interned {
            ids: PMap::with_hasher(hasher.clone()),
            entries: PVec::new(),
        }
    }

    fn id<Q>(&self, key: &Q) -> Option<u32>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.ids.get(key).copied()
    }

    fn get(&self, id: u32) -> &V {
        self.entries.get(id as usize).expect("an interned id has an entry")
    }

    fn get_mut(&mut self, id: u32) -> &mut V {
        self.entries.get_mut(id as usize).expect("an interned id has an entry")
    }

    /// The id of `key`, interning it (with `make(key)` as its entry) when new.
    fn intern(&mut self, key: &K, make: impl FnOnce(&K) -> V) -> u32 {
        if let Some(&id) = self.ids.get(key) {
            return id;
        }
        let id = u32::try_from(self.entries.len()).expect("fewer than 2^32 ids");
        self.ids.insert(key.clone(), id);
        self.entries.push_back(make(key));
        id
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// A snapshot of everything that decides. See the module docs.
#[derive(Clone)]
pub struct Index {
    /// Every event up to this position is applied.
    revision: u64,
    nodes: Interned<Id, Arc<Node>>,
    /// Exact target → its rules, sorted. No empty rows.
    targets: PMap<Id, Arc<Vec<TargetRule>>>,
    accounts: Interned<Id, Named>,
    policies: Interned<Id, Named>,
    /// Policy names in byte order, to label a new policy between its neighbours.
    policy_order: Labels,
    /// Node names in byte order, likewise.
    node_order: Labels,
    /// Custom actions, numbered from [`CUSTOM_BASE`].
    customs: Interned<Action, Action>,
    stats: IndexStats,
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

impl Index {
    fn with_hasher(hasher: IdHasher) -> Index {
        Index {
            revision: 0,
            nodes: Interned::new(&hasher),
            targets: PMap::with_hasher(hasher.clone()),
            accounts: Interned::new(&hasher),
            policies: Interned::new(&hasher),
            policy_order: Labels::default(),
            node_order: Labels::default(),
            customs: Interned::new(&hasher),
            stats: IndexStats::default(),
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
        self.nodes.id(name).map(|id| &**self.nodes.get(id))
    }

    pub(crate) fn node_id(&self, name: &str) -> Option<u32> {
        self.nodes.id(name)
    }

    pub(crate) fn node_by_id(&self, id: u32) -> &Node {
        self.nodes.get(id)
    }

    pub(crate) fn target_rules(&self, target: &str) -> &[TargetRule] {
        self.targets.get(target).map_or(&[], |r| r.as_slice())
    }

    /// The account's id and whether it is active (unknown accounts are active).
    pub(crate) fn account(&self, name: &str) -> Option<(u32, bool)> {
        self.accounts
            .id(name)
            .map(|id| (id, self.accounts.get(id).status.unwrap_or(true)))
    }

    pub(crate) fn policy_name(&self, policy: u32) -> &Id {
        &self.policies.get(policy).name
    }

    /// The policy's label (labels are in the policies' byte order) and whether it is active.
    #[inline]
    pub(crate) fn policy_rank(&self, policy: u32) -> (u64, bool) {
        let p = self.policies.get(policy);
        (p.label, p.status.unwrap_or(true))
    }

    fn label(&self, policy: u32) -> u64 {
        self.policies.get(policy).label
    }

    /// The order of rules on `*` in a row: action and kind, then policy label.
    fn star_key(&self, r: &Pair) -> (u32, u64) {
        (r.0, self.label(r.1))
    }

    /// The order of rules in a target's row: assignee, action and kind, then policy label.
    fn target_key(&self, r: &TargetRule) -> (u32, u32, u64) {
        (r.assignee, r.ak, self.label(r.policy))
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

    // ---- writes ----

    /// The node's id; a new node gets a label in byte order among the others.
    fn intern_node(&mut self, name: &Id) -> u32 {
        if let Some(id) = self.nodes.id(name.as_str()) {
            return id;
        }
        let id = self.nodes.intern(name, |n| Arc::new(Node::new(n.clone(), 0)));
        let nodes = &self.nodes;
        for (n, label) in self.node_order.insert(name, id, |n| nodes.get(n).label) {
            if self.node_by_id(n).label != label {
                self.node_mut(n).label = label;
            }
        }
        id
    }

    /// The node's row, copied first if a published snapshot shares it.
    fn node_mut(&mut self, id: u32) -> &mut Node {
        Arc::make_mut(self.nodes.get_mut(id))
    }

    fn intern_account(&mut self, name: &Id) -> u32 {
        self.accounts.intern(name, |n| Named {
            name: n.clone(),
            status: None,
            label: 0,
        })
    }

    /// The policy's id; a new policy gets a label in byte order among the others.
    fn intern_policy(&mut self, name: &Id) -> u32 {
        if let Some(id) = self.policies.id(name.as_str()) {
            return id;
        }
        let id = self.policies.intern(name, |n| Named {
            name: n.clone(),
            status: None,
            label: 0,
        });
        let policies = &self.policies;
        for (p, label) in self.policy_order.insert(name, id, |p| policies.get(p).label) {
            self.policies.get_mut(p).label = label;
        }
        id
    }

    /// Applies one change: a set operation, so applying it twice is applying it once.
    pub fn apply(&mut self, change: &Change) {
        for role in change.roles_marked() {
            let id = self.intern_node(role);
            if !self.node_by_id(id).role {
                self.node_mut(id).role = true;
                self.stats.roles += 1;
            }
        }
        match change {
            Change::GlobalEdge { source, node, role, on } => {
                let (n, r) = if *on {
                    (self.intern_node(node), self.intern_node(role))
                } else {
                    match (self.node_id(node.as_str()), self.node_id(role.as_str())) {
                        (Some(n), Some(r)) => (n, r),
                        _ => return,
                    }
                };
                let mut global = self.node_by_id(n).global().to_vec();
                let pos = global.binary_search_by_key(&r, |e| e.0);
                let before = pos.map_or(0, |i| global[i].1 as u8);
                let after = if *on {
                    before | source.bit()
                } else {
                    before & !source.bit()
                };
                match (pos, after) {
                    (Ok(i), 0) => {
                        global.remove(i);
                    }
                    (Ok(i), bits) => global[i].1 = u32::from(bits),
                    (Err(_), 0) => {}
                    (Err(i), bits) => global.insert(i, Pair(r, u32::from(bits))),
                }
                if before != after {
                    self.node_mut(n).set_global(&global);
                }
                if (before == 0) != (after == 0) {
                    if after == 0 {
                        self.stats.global_edges -= 1;
                    } else {
                        self.stats.global_edges += 1;
                    }
                }
            }
            Change::AccountEdge {
                account,
                node,
                role,
                on,
            } => {
                let ids = if *on {
                    Some((
                        self.intern_account(account),
                        self.intern_node(node),
                        self.intern_node(role),
                    ))
                } else {
                    match (
                        self.accounts.id(account.as_str()),
                        self.node_id(node.as_str()),
                        self.node_id(role.as_str()),
                    ) {
                        (Some(a), Some(n), Some(r)) => Some((a, n, r)),
                        _ => None,
                    }
                };
                let Some((acc, n, r)) = ids else { return };
                let entry = AccountEntry {
                    account: acc,
                    role: r,
                    member: false,
                };
                let row = self.node_mut(n);
                let changed = match (row.accounts.binary_search(&entry), *on) {
                    (Err(i), true) => {
                        row.accounts.insert(i, entry);
                        true
                    }
                    (Ok(i), false) => {
                        row.accounts.remove(i);
                        true
                    }
                    _ => false,
                };
                if changed {
                    if *on {
                        self.stats.account_edges += 1;
                    } else {
                        self.stats.account_edges -= 1;
                    }
                }
            }
            Change::MemberSet { account, agent, role } => {
                let acc = self.intern_account(account);
                let n = self.intern_node(agent);
                let r = self.intern_node(role);
                let row = self.node_mut(n);
                let had = match row.accounts.iter().position(|e| e.account == acc && e.member) {
                    Some(i) => {
                        row.accounts.remove(i);
                        true
                    }
                    None => false,
                };
                let entry = AccountEntry {
                    account: acc,
                    role: r,
                    member: true,
                };
                if let Err(i) = row.accounts.binary_search(&entry) {
                    row.accounts.insert(i, entry);
                }
                if !had {
                    self.stats.memberships += 1;
                }
            }
            Change::MemberRemoved { account, agent } => {
                let (Some(acc), Some(n)) = (self.accounts.id(account.as_str()), self.node_id(agent.as_str())) else {
                    return;
                };
                if !self.node_by_id(n).in_account(acc) {
                    return;
                }
                let row = self.node_mut(n);
                let (mut members, mut edges) = (0, 0);
                row.accounts.retain(|e| {
                    if e.account != acc {
                        return true;
                    }
                    if e.member {
                        members += 1;
                    } else {
                        edges += 1;
                    }
                    false
                });
                self.stats.memberships -= members;
                self.stats.account_edges -= edges;
            }
            Change::Rule { rule, on } => self.apply_rule(rule, *on),
            Change::PolicyCreated { policy } => {
                let p = self.intern_policy(policy);
                let entry = self.policies.get_mut(p);
                if entry.status.is_none() {
                    entry.status = Some(true);
                }
            }
            Change::Status { kind, id, active } => match kind {
                EntityKind::Policy => {
                    let p = self.intern_policy(id);
                    self.policies.get_mut(p).status = Some(*active);
                }
                EntityKind::Agent => {
                    let n = self.intern_node(id);
                    self.node_mut(n).status = Some(*active);
                }
                EntityKind::Account => {
                    let a = self.intern_account(id);
                    self.accounts.get_mut(a).status = Some(*active);
                }
            },
            Change::MarkRole { .. } | Change::Ignored { .. } => {}
        }
    }

    fn apply_rule(&mut self, rule: &Rule, on: bool) {
        let ids = if on {
            let action = match rule.action.vocabulary_index() {
                Some(i) => i as u32,
                None => CUSTOM_BASE + self.customs.intern(&rule.action, Action::clone),
            };
            Some((
                self.intern_policy(&rule.policy),
                self.intern_node(&rule.assignee),
                action,
            ))
        } else {
            match (
                self.policies.id(rule.policy.as_str()),
                self.node_id(rule.assignee.as_str()),
                self.action_id(&rule.action),
            ) {
                (Some(p), Some(n), Some(a)) => Some((p, n, a)),
                _ => None,
            }
        };
        let Some((policy, assignee, action)) = ids else { return };
        let ak = action_kind(action, rule.kind);
        let changed = match &rule.target {
            Target::Any => {
                let entry = Pair(ak, policy);
                let key = self.star_key(&entry);
                let mut star = self.node_by_id(assignee).star().to_vec();
                let pos = star.binary_search_by(|r| self.star_key(r).cmp(&key));
                let changed = set_at(&mut star, pos, entry, on);
                if changed {
                    self.node_mut(assignee).set_star(&star);
                }
                changed
            }
            Target::One(target) => {
                let entry = TargetRule { assignee, ak, policy };
                let key = self.target_key(&entry);
                let pos = self
                    .targets
                    .get(target.as_str())
                    .map(|rules| rules.binary_search_by(|r| self.target_key(r).cmp(&key)));
                match (self.targets.get_mut(target.as_str()), pos) {
                    (Some(rules), Some(pos)) => {
                        let rules = Arc::make_mut(rules);
                        let changed = set_at(rules, pos, entry, on);
                        if rules.is_empty() {
                            self.targets.remove(target.as_str());
                        }
                        changed
                    }
                    _ if on => {
                        self.targets.insert(target.clone(), Arc::new(vec![entry]));
                        true
                    }
                    _ => false,
                }
            }
        };
        if changed {
            if on {
                self.stats.rules += 1;
            } else {
                self.stats.rules -= 1;
            }
        }
    }

    // ---- exports ----

    fn rule_of(&self, assignee: u32, ak: u32, policy: u32, target: Target) -> Rule {
        Rule {
            policy: self.policy_name(policy).clone(),
            kind: ak_kind(ak),
            assignee: self.node_by_id(assignee).name.clone(),
            action: self.action(ak_action(ak)).clone(),
            target,
        }
    }

    /// Every fact as the change that sets it: what the read model holds, for rebuilding
    /// projections and comparing engines. Roles first, statuses last.
    pub fn facts(&self) -> Vec<Change> {
        let mut roles = Vec::new();
        let mut edges = Vec::new();
        let mut account_edges = Vec::new();
        let mut members = Vec::new();
        let mut statuses = Vec::new();
        for node in self.nodes.entries.iter() {
            if node.role {
                roles.push(Change::MarkRole {
                    role: node.name.clone(),
                    subject: None,
                });
            }
            for &Pair(role, bits) in node.global() {
                for source in [EdgeSource::Role, EdgeSource::Group, EdgeSource::RoleToRole] {
                    if bits & u32::from(source.bit()) != 0 {
                        edges.push(Change::GlobalEdge {
                            source,
                            node: node.name.clone(),
                            role: self.node_by_id(role).name.clone(),
                            on: true,
                        });
                    }
                }
            }
            for e in &node.accounts {
                let account = self.accounts.get(e.account).name.clone();
                let role = self.node_by_id(e.role).name.clone();
                if e.member {
                    members.push(Change::MemberSet {
                        account,
                        agent: node.name.clone(),
                        role,
                    });
                } else {
                    account_edges.push(Change::AccountEdge {
                        account,
                        node: node.name.clone(),
                        role,
                        on: true,
                    });
                }
            }
            if let Some(active) = node.status {
                statuses.push(Change::Status {
                    kind: EntityKind::Agent,
                    id: node.name.clone(),
                    active,
                });
            }
        }
        for (kind, table) in [
            (EntityKind::Policy, &self.policies),
            (EntityKind::Account, &self.accounts),
        ] {
            for entry in table.entries.iter() {
                if let Some(active) = entry.status {
                    statuses.push(Change::Status {
                        kind,
                        id: entry.name.clone(),
                        active,
                    });
                }
            }
        }
        let rules = self.all_rules().into_iter().map(|rule| Change::Rule { rule, on: true });
        let mut out = roles;
        out.extend(edges);
        out.extend(account_edges);
        out.extend(members);
        out.extend(rules);
        out.extend(statuses);
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

    /// Every rule in the index, sorted, for exports and comparisons.
    pub fn all_rules(&self) -> Vec<Rule> {
        let mut out = Vec::with_capacity(self.stats.rules);
        for (id, node) in self.nodes.entries.iter().enumerate() {
            for r in node.star() {
                out.push(self.rule_of(id as u32, r.0, r.1, Target::Any));
            }
        }
        for (target, rules) in &self.targets {
            for r in rules.iter() {
                out.push(self.rule_of(r.assignee, r.ak, r.policy, Target::One(target.clone())));
            }
        }
        out.sort();
        out
    }

    /// Checks every structural invariant; tests run it after every change. Returns what is
    /// wrong, if anything.
    pub fn validate(&self) -> Result<(), String> {
        let mut stats = IndexStats::default();
        if self.nodes.ids.len() != self.nodes.len() {
            return Err(format!(
                "{} node names for {} node rows",
                self.nodes.ids.len(),
                self.nodes.len()
            ));
        }
        for (name, &id) in &self.nodes.ids {
            if id as usize >= self.nodes.len() || self.node_by_id(id).name != *name {
                return Err(format!("node {name:?} maps to row {id}, which is not its row"));
            }
        }
        let is_role = |id: u32| (id as usize) < self.nodes.len() && self.node_by_id(id).role;
        for (id, node) in self.nodes.entries.iter().enumerate() {
            stats.roles += usize::from(node.role);
            if !node.global().windows(2).all(|w| w[0].0 < w[1].0) {
                return Err(format!("node {id}: global edges not sorted and unique"));
            }
            for &Pair(role, bits) in node.global() {
                if bits == 0 || bits & !0b111 != 0 || !is_role(role) {
                    return Err(format!("node {id}: bad global edge to {role} ({bits:#b})"));
                }
                stats.global_edges += 1;
            }
            if !node.accounts.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!("node {id}: account entries not sorted and unique"));
            }
            for e in &node.accounts {
                if e.account as usize >= self.accounts.len() || !is_role(e.role) {
                    return Err(format!("node {id}: bad account entry {e:?}"));
                }
                if e.member {
                    stats.memberships += 1;
                } else {
                    stats.account_edges += 1;
                }
            }
            for (acc, n) in node
                .accounts
                .chunk_by(|a, b| a.account == b.account)
                .map(|c| (c[0].account, c.iter().filter(|e| e.member).count()))
            {
                if n > 1 {
                    return Err(format!("node {id}: {n} memberships in account {acc}"));
                }
            }
            let mut mask = 0;
            for r in node.star() {
                self.check_rule_ids(r.0, r.1)?;
                mask |= action_bit(ak_action(r.0));
            }
            if !node
                .star()
                .windows(2)
                .all(|w| self.star_key(&w[0]) < self.star_key(&w[1]))
            {
                return Err(format!("node {id}: star rules not sorted and unique"));
            }
            let mut copy = Node::clone(node);
            copy.pack(node.global(), node.star());
            if copy.data != node.data || copy.star_mask != mask || node.star_mask != mask {
                return Err(format!(
                    "node {id}: packed row {:?} (mask {:#x}), its parts give {:?} (mask {mask:#x})",
                    node.data, node.star_mask, copy.data
                ));
            }
            stats.rules += node.star().len();
        }
        for (target, rules) in &self.targets {
            for r in rules.iter() {
                if r.assignee as usize >= self.nodes.len() {
                    return Err(format!("target {target:?}: unknown assignee {}", r.assignee));
                }
                self.check_rule_ids(r.ak, r.policy)?;
            }
            if rules.is_empty()
                || !rules
                    .windows(2)
                    .all(|w| self.target_key(&w[0]) < self.target_key(&w[1]))
            {
                return Err(format!("target {target:?}: row empty or not sorted and unique"));
            }
            stats.rules += rules.len();
        }
        // Labels follow the names' byte order.
        self.policy_order.validate("policy", self.policies.len(), |id| {
            let p = self.policies.get(id);
            (p.name.clone(), p.label)
        })?;
        self.node_order.validate("node", self.nodes.len(), |id| {
            let n = self.node_by_id(id);
            (n.name.clone(), n.label)
        })?;
        for (what, ids, len) in [
            ("account", self.accounts.ids.len(), self.accounts.len()),
            ("policy", self.policies.ids.len(), self.policies.len()),
            ("custom action", self.customs.ids.len(), self.customs.len()),
        ] {
            if ids != len {
                return Err(format!("{ids} {what} names for {len} entries"));
            }
        }
        if stats != self.stats {
            return Err(format!("stats {:?}, facts give {stats:?}", self.stats));
        }
        Ok(())
    }

    fn check_rule_ids(&self, ak: u32, policy: u32) -> Result<(), String> {
        let action = ak_action(ak);
        let custom_ok = action < CUSTOM_BASE && (action as usize) < Action::vocabulary().len()
            || action >= CUSTOM_BASE && ((action - CUSTOM_BASE) as usize) < self.customs.len();
        if !custom_ok || policy as usize >= self.policies.len() {
            return Err(format!(
                "rule with action id {action} and policy id {policy} out of range"
            ));
        }
        Ok(())
    }
}

/// The label halfway between two, if there is one strictly between them.
fn midpoint(below: u64, above: u64) -> Option<u64> {
    (above - below >= 2).then(|| below + (above - below) / 2)
}

/// Inserts or removes `entry` in a sorted vector at `pos` (its binary search); true when
/// that changed it.
fn set_at<T>(v: &mut Vec<T>, pos: Result<usize, usize>, entry: T, on: bool) -> bool {
    match (pos, on) {
        (Err(i), true) => {
            v.insert(i, entry);
            true
        }
        (Ok(i), false) => {
            v.remove(i);
            true
        }
        _ => false,
    }
}
