//! The reverse structures behind the look-ups (issue 15), kept on the write path beside
//! the forward rows they mirror, so a published snapshot answers "which targets" and "who"
//! as of its revision, like a check.
//!
//! - **Targets** are interned (`targets`: name → dense id, id → name; `labels`: id →
//!   label), each with an order-preserving label kept by [`Labels`] like the nodes' and
//!   policies': comparing two targets' labels compares their names in byte order.
//! - **Per node** (`nodes[id]`, only for nodes that have any): its permissions and, apart,
//!   its prohibitions on exact targets, `(target's label, target, action and kind,
//!   policy)`, sorted by target *name* (the label is kept in the entry, so a write's
//!   search and a look-up's merge compare the entries themselves and read no other table)
//!   and then action and policy, so merging the rows of an agent's closure lists its
//!   targets in byte order without sorting (and "every target except" reads only
//!   prohibitions); the nodes with a global edge to it (sorted ids); and the account
//!   entries (explicit account edges and membership roles) that point at it.
//! - **Moved targets.** A new target whose neighbours' labels leave no room relabels the
//!   targets around it (amortised O(log n), but a few dozen at once, each named by entries
//!   in other rows). Rewriting all of them in that write copied 72–80 KiB, so a relabel
//!   only records each target's new label in `moved`, which every read of a label consults
//!   first ([`Reverse::target_label`], [`Reverse::entry_label`]): the order all rows keep
//!   is the order of these *effective* labels, and a relabel keeps every label's rank.
//!   Each later write takes one step of settling them ([`Reverse::settle`]): it rewrites
//!   one entry still holding an old label, or, once a target's entries all hold its new
//!   one, writes that to the target's `labels` slot and takes the target out of `moved`.
//!   So a relabel's cost is spread over the writes after it, at most one row's chunk or
//!   one label each. Until then an entry's own label may be stale, and nothing compares
//!   it raw.
//! - **Rules on `*`**: `(action, node)` for every node holding at least one rule on `*` for
//!   that action.
//!
//! Lists that grow with an organisation (a role's holders, a role's rules) are chunked
//! persistent lists (`chunked.rs`), so a write copies one chunk, one group of chunk
//! pointers and the short spine of groups, never a whole list.
//! [`Reverse::validate`] rebuilds everything from the forward rows and compares.

use super::chunked::{At, Chunked};
use super::labels::{Key, Labels};
use super::moved::{Moved, entry_cmp, entry_label, label_of};
use super::{AccountEntry, Index, Interned, Keys, Names, TargetRule, ak_action, phase, row_of};
use crate::domain::Id;
use crate::engine::index::IdHasher as Hasher;
use crate::engine::pvec::PVec;
use std::sync::Arc;

mod validate;

/// A rule on an exact target, in its assignee's reverse row. A row orders its entries by
/// their targets' effective labels ([`Reverse::entry_label`]: the name's byte order), then
/// action and kind, then policy; the derived order compares the entry's own label, which is
/// the same only while no target is moved (a bulk load's end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RevRule {
    /// The target's label, high half first (two halves keep the entry at 20 bytes). Zero
    /// during a bulk load, set by [`Reverse::end_bulk`].
    label: [u32; 2],
    pub target: u32,
    pub ak: u32,
    pub policy: u32,
}

impl RevRule {
    pub(crate) fn new(label: u64, target: u32, ak: u32, policy: u32) -> RevRule {
        RevRule {
            label: [(label >> 32) as u32, label as u32],
            target,
            ak,
            policy,
        }
    }

    /// The label the entry holds, which is its target's unless the target is moved: read
    /// it through [`Reverse::entry_label`] (only that and settling read it raw).
    pub(super) fn stored_label(&self) -> u64 {
        (u64::from(self.label[0]) << 32) | u64::from(self.label[1])
    }

    fn set_label(&mut self, label: u64) {
        *self = RevRule::new(label, self.target, self.ak, self.policy);
    }
}

/// An account entry pointing at a role: `node` has an explicit edge (or, with `member`, its
/// membership role) to the role inside `account`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Incoming {
    pub account: u32,
    pub node: u32,
    pub member: bool,
}

/// One node's reverse row.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeRev {
    /// Permissions on exact targets assigned to this node, by target name, action, policy.
    pub permits: Chunked<RevRule>,
    /// Prohibitions likewise (apart, so "every target except" reads only these).
    pub denies: Chunked<RevRule>,
    /// Nodes with a global edge to this node, sorted.
    pub incoming: Chunked<u32>,
    /// Account entries pointing at this node, sorted.
    pub incoming_acc: Chunked<Incoming>,
}

impl NodeRev {
    fn is_empty(&self) -> bool {
        self.permits.is_empty() && self.denies.is_empty() && self.incoming.is_empty() && self.incoming_acc.is_empty()
    }

    /// The row of rules of one kind (`ak & 1`: 1 for permissions).
    pub(crate) fn rules(&self, permissions: bool) -> &Chunked<RevRule> {
        if permissions { &self.permits } else { &self.denies }
    }

    fn rules_mut(&mut self, ak: u32) -> &mut Chunked<RevRule> {
        if ak & 1 == 1 {
            &mut self.permits
        } else {
            &mut self.denies
        }
    }
}

/// How many of a moved target's rules one settling step looks at (reads only; it rewrites
/// at most one entry).
const SETTLE_VISITS: usize = 16;

/// A write takes one settling step, and one more for each this many targets moved. A step
/// that rewrites an entry copies a chunk of a reverse row, its group and the path to the
/// row (~1.5–2.5 KiB), so the steps bound a write's bytes: at 64 a write took 15 steps (34 KiB) with ~900
/// targets moved by names converging on one gap; at 512 it takes 2–3. The backlog stays
/// bounded (steps grow with it), only 8 times larger: a moved target costs a look-up a
/// block search, and a check nothing.
const SETTLE_BACKLOG: usize = 512;

/// See the module docs.
#[derive(Clone)]
pub(crate) struct Reverse {
    /// Each target's name.
    pub(super) targets: Interned<Names, Id>,
    /// Each target's label (labels compare as the names do), unless it is in `moved`.
    labels: PVec<u64>,
    /// Relabelled targets whose new label has not yet reached their `labels` slot and the
    /// entries naming them: target → label. Small; read first wherever a label is read.
    moved: Moved,
    /// The moved target being settled, and how far through its rules (in the forward rows'
    /// order) the settling has got: the entries of the rules before that hold its label.
    /// Meaningless unless the target is in `moved`.
    settling: (u32, u32),
    /// This write relabelled targets (and so already paid for that): it settles none.
    relabelled: bool,
    /// Target names in byte order, to label a new target between its neighbours.
    order: Labels,
    /// One entry per node id (None: nothing points at it and it holds no exact rule).
    nodes: PVec<Option<Arc<NodeRev>>>,
    /// `(action id, node id)`: the node holds a rule on `*` for that action.
    pub(super) star: imbl::OrdSet<(u32, u32)>,
    /// Bulk loading: rows are appended unsorted and sorted once by [`Reverse::end_bulk`].
    bulk: bool,
}

impl Reverse {
    pub(super) fn new(hasher: &Hasher) -> Reverse {
        Reverse {
            targets: Interned::with_phase(hasher, phase::TARGET_NAMES),
            labels: PVec::with_phase(phase::TARGET_LABELS),
            moved: Moved::default(),
            settling: (0, 0),
            relabelled: false,
            order: Labels::default(),
            nodes: PVec::with_phase(phase::NODE_ROWS),
            star: imbl::OrdSet::new(),
            bulk: false,
        }
    }

    /// From now on, additions are appended unsorted (a load of many rows) and a removal
    /// searches the unsorted row, until [`Reverse::end_bulk`] sorts every row.
    pub(super) fn begin_bulk(&mut self) {
        self.bulk = true;
        self.targets.ids.begin_bulk();
        self.order.begin_bulk();
    }

    /// Sorts every row appended since [`Reverse::begin_bulk`] by the targets' labels (read
    /// once into a flat vector and written into the entries).
    pub(super) fn end_bulk(&mut self) {
        if !std::mem::replace(&mut self.bulk, false) {
            return;
        }
        self.targets.ids.end_bulk();
        for (t, label) in self.order.end_bulk() {
            *self.labels.get_mut(t as usize).expect("a label per target") = label;
        }
        // Every label was given afresh, and every entry gets its target's below.
        self.moved.clear();
        self.settling = (0, 0);
        let rank: Vec<u64> = self.labels.iter().copied().collect();
        for id in 0..self.nodes.len() {
            let Some(Some(row)) = self.nodes.get_mut(id) else {
                continue;
            };
            let row = Arc::make_mut(row);
            let labelled = |r: RevRule| RevRule::new(rank[r.target as usize], r.target, r.ak, r.policy);
            row.permits.sort_mapped(labelled);
            row.denies.sort_mapped(labelled);
            row.incoming.sort_mapped(|n| n);
            row.incoming_acc.sort_mapped(|e| e);
        }
    }

    /// A node was interned (ids are dense: this keeps one entry per node).
    pub(super) fn node_added(&mut self) {
        self.nodes.push_back(None);
    }

    /// The node's reverse row, if it has one.
    pub(crate) fn node(&self, id: u32) -> Option<&NodeRev> {
        self.nodes.get(id as usize).and_then(|n| n.as_deref())
    }

    /// A target's id, if some rule has ever named it.
    #[inline]
    pub(crate) fn target_id(&self, name: &str) -> Option<u32> {
        self.targets.id(name)
    }

    /// The target's id, interned if new; a new target gets a label in byte order among
    /// the others. When that relabels other targets, their new labels go to `moved` (see
    /// the module docs), and later writes settle them.
    pub(super) fn intern_target(&mut self, name: &Id) -> u32 {
        let before = self.targets.len();
        let id = self.targets.intern(name, Id::clone);
        if self.targets.len() == before {
            return id;
        }
        self.labels.push_back(0);
        let (labels, moved) = (&self.labels, &self.moved);
        let placed = self.order.insert(name, id, |t| label_of(labels, moved, t));
        let mut own = None;
        let (settling, relabelled) = (&mut self.settling, &mut self.relabelled);
        let others = placed.labels(&self.order).filter(|&(t, label)| {
            if t == id {
                own = Some(label);
                return false;
            }
            *relabelled = true;
            if settling.0 == t {
                // Entries settled to its previous new label are stale again.
                settling.1 = 0;
            }
            true
        });
        self.moved.relabel(others, placed.progression());
        if let Some(label) = own {
            *self.labels.get_mut(id as usize).expect("a label per target") = label;
        }
        id
    }

    /// One step of settling the moved targets (see the module docs), which a write takes
    /// after its change: in the target being settled (the least moved id when none is),
    /// it looks at up to [`SETTLE_VISITS`] of the target's rules from where the last step
    /// stopped (its rules from the forward rows, through `rules_of`) and rewrites the first
    /// reverse entry among them that still holds an old label; or, when every entry holds
    /// the new label, writes it to the target's `labels` slot and takes the target out of
    /// `moved`. So a step copies at most one row's chunk or one label's path. A write that
    /// relabelled targets takes no step, and one more step per [`SETTLE_BACKLOG`] targets
    /// moved (so relabels that keep coming faster than one step a write cannot grow the map
    /// without bound). Effective labels do not change, so neither does any row's order.
    pub(super) fn settle<'r>(&mut self, rules_of: impl Fn(u32) -> &'r [TargetRule]) {
        if std::mem::take(&mut self.relabelled) || self.bulk {
            return;
        }
        for _ in 0..=self.moved.len() / SETTLE_BACKLOG {
            if self.moved.is_empty() {
                return;
            }
            self.settle_step(&rules_of);
        }
    }

    /// The target being settled and how far, once settling has passed one of its rules
    /// (tests).
    pub(crate) fn settling(&self) -> Option<(u32, u32)> {
        (self.moved.contains(self.settling.0) && self.settling.1 > 0).then_some(self.settling)
    }

    /// One step of [`Reverse::settle`].
    fn settle_step<'r>(&mut self, rules_of: &impl Fn(u32) -> &'r [TargetRule]) {
        // Callers step only while a target is moved; with none, a step does nothing.
        let (t, from) = if self.moved.contains(self.settling.0) {
            self.settling
        } else {
            let Some(t) = self.moved.first() else { return };
            (t, 0)
        };
        let Some(label) = self.moved.get(t) else { return };
        let rules = rules_of(t);
        let from = (from as usize).min(rules.len());
        let to = rules.len().min(from + SETTLE_VISITS);
        for (i, r) in rules.iter().enumerate().take(to).skip(from) {
            let key = RevRule::new(label, t, r.ak, r.policy);
            let moved = &self.moved;
            let rows = self.node(r.assignee).map(|row| row.rules(r.ak & 1 == 1));
            let Some((rows, Ok(at))) = rows.map(|rows| (rows, rows.search(|x| entry_cmp(moved, x, &key)))) else {
                unreachable!("every rule on an exact target has its reverse entry")
            };
            if rows.get(at).stored_label() != label {
                self.node_mut(r.assignee).rules_mut(r.ak).get_mut(at).set_label(label);
                self.settling = (t, i as u32 + 1);
                return;
            }
        }
        if to < rules.len() {
            self.settling = (t, to as u32);
            return;
        }
        *self.labels.get_mut(t as usize).expect("a label per target") = label;
        self.moved.remove(t);
        self.settling = (0, 0);
    }

    /// Settles every moved target (tests: a history with and without settling gives the
    /// same answers).
    #[doc(hidden)]
    pub(super) fn settle_all<'r>(&mut self, rules_of: impl Fn(u32) -> &'r [TargetRule]) {
        while !self.moved.is_empty() && !self.bulk {
            self.settle_step(&rules_of);
        }
    }

    /// How many targets are moved (tests and benchmarks).
    pub(crate) fn moved_len(&self) -> usize {
        self.moved.len()
    }

    /// The target's label: comparing two labels compares the two names in byte order.
    #[inline]
    pub(crate) fn target_label(&self, id: u32) -> u64 {
        label_of(&self.labels, &self.moved, id)
    }

    /// The label of an entry's target (its own, unless the target is moved): comparing two
    /// entries' labels compares their targets' names.
    #[inline]
    pub(crate) fn entry_label(&self, r: &RevRule) -> u64 {
        entry_label(&self.moved, r)
    }

    pub(crate) fn target_name(&self, id: u32) -> &Id {
        self.targets.get(id)
    }

    /// Every node holding a rule on `*` for `action`.
    pub(crate) fn star_holders(&self, action: u32) -> impl Iterator<Item = u32> + '_ {
        self.star.range((action, 0)..=(action, u32::MAX)).map(|&(_, n)| n)
    }

    fn node_mut(&mut self, id: u32) -> &mut NodeRev {
        Arc::make_mut(self.slot(id).get_or_insert_with(Default::default))
    }

    /// The node's entry (every node has one: `node_added` runs when it is interned).
    fn slot(&mut self, id: u32) -> &mut Option<Arc<NodeRev>> {
        self.nodes.get_mut(id as usize).expect("a reverse entry per node")
    }

    /// After a change to node `id`'s row (`on`: an addition), drops the row if it became
    /// empty (so "has a row" means "has something"). Only a removal can empty it: after an
    /// addition the row is not reached again (that costs a walk of the vector, an atomic
    /// check a level).
    fn tidy(&mut self, id: u32, on: bool) {
        if on {
            return;
        }
        let slot = self.slot(id);
        if slot.as_ref().is_some_and(|r| r.is_empty()) {
            *slot = None;
        }
    }

    /// The global edge `node → role` appeared (`on`) or went away.
    pub(super) fn edge(&mut self, node: u32, role: u32, on: bool) {
        let bulk = self.bulk;
        let row = &mut self.node_mut(role).incoming;
        if bulk {
            bulk_set(row, node, on);
        } else {
            set_in(row, row.search(|x| x.cmp(&node)), node, on);
        }
        self.tidy(role, on);
    }

    /// The account entry `e` of `node` appeared (`on`) or went away.
    pub(super) fn account_entry(&mut self, node: u32, e: AccountEntry, on: bool) {
        let entry = Incoming {
            account: e.account,
            node,
            member: e.member,
        };
        let bulk = self.bulk;
        let row = &mut self.node_mut(e.role).incoming_acc;
        if bulk {
            bulk_set(row, entry, on);
        } else {
            set_in(row, row.search(|x| x.cmp(&entry)), entry, on);
        }
        self.tidy(e.role, on);
    }

    /// The rule `(assignee, ak, policy)` on the exact target `target` (id `t`) appeared
    /// (`on`) or went away.
    pub(super) fn exact_rule(&mut self, t: u32, assignee: u32, ak: u32, policy: u32, on: bool) {
        // During a bulk load labels may still move: `end_bulk` sets them.
        let entry = RevRule::new(if self.bulk { 0 } else { self.target_label(t) }, t, ak, policy);
        let slot = self.nodes.get_mut(assignee as usize).expect("a reverse entry per node");
        let row = Arc::make_mut(slot.get_or_insert_with(Default::default)).rules_mut(ak);
        if self.bulk {
            // Entries written before the load carry labels, those of the load none yet: a
            // removal finds the rule whatever its entry's label.
            if on {
                row.push_unsorted(entry);
            } else {
                row.remove_unsorted(|r| (r.target, r.ak, r.policy) == (t, ak, policy));
            }
            self.tidy(assignee, on);
            return;
        }
        let moved = &self.moved;
        set_in(row, row.search(|r| entry_cmp(moved, r, &entry)), entry, on);
        if !on && self.settling.0 == t {
            // The rules after it moved down one place in the forward row: look again.
            self.settling.1 = 0;
        }
        self.tidy(assignee, on);
    }

    /// Whether `node` holds a rule on `*` for `action` after a change.
    pub(super) fn star_presence(&mut self, node: u32, action: u32, present: bool) {
        if present {
            self.star.insert((action, node));
        } else {
            self.star.remove(&(action, node));
        }
    }
}

/// What the look-ups read of the index, and its bulk loads.
impl Index {
    /// The reverse structures (look-ups).
    pub(crate) fn reverse(&self) -> &Reverse {
        &self.reverse
    }

    /// Node names in byte order, from the first after `after` (all when None).
    pub(crate) fn nodes_in_order<'a>(&'a self, after: Option<&str>) -> impl Iterator<Item = (&'a Id, u32)> + 'a {
        use std::ops::Bound::{Excluded, Unbounded};
        let after = after.map(|a| Key::new(&Id::from_trusted(a)));
        self.node_order.from(after.as_ref().map_or(Unbounded, Excluded))
    }

    /// Starts a bulk load (start-up, a replay): the reverse structures append rows unsorted
    /// until [`Index::end_bulk`] sorts them all at once, new names go to growing flat tables,
    /// and new nodes and targets get their labels (which order decisions and look-ups)
    /// only at `end_bulk`. So checks, look-ups and `validate` need `end_bulk` first: until
    /// then they refuse ([`Index::is_loading`]).
    /// Policies keep getting labels as they come: the rows written during the load are
    /// kept in the order of their policies' labels.
    pub fn begin_bulk(&mut self) {
        self.loading.get_or_insert_with(Vec::new);
        self.reverse.begin_bulk();
        self.nodes.ids.begin_bulk();
        self.accounts.ids.begin_bulk();
        self.policies.ids.begin_bulk();
        self.node_order.begin_bulk();
    }

    /// True between [`Index::begin_bulk`] and [`Index::end_bulk`]: checks, look-ups and
    /// `validate` refuse such an index ([`crate::engine::EngineError::Loading`]).
    #[inline]
    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// Ends a bulk load (see [`Index::begin_bulk`]); nothing happens outside one.
    pub fn end_bulk(&mut self) {
        let ended = self.is_loading();
        // The rows written during the load, each into one allocation.
        for (t, row) in self.loading.take().unwrap_or_default().into_iter().enumerate() {
            if let Some(row) = row {
                *self.targets.get_mut(t).expect("a row per target id") = (!row.is_empty()).then(|| row.into());
            }
        }
        self.reverse.end_bulk();
        self.nodes.ids.end_bulk();
        self.accounts.ids.end_bulk();
        self.policies.ids.end_bulk();
        // Labels spread afresh (summaries, built next, copy the nodes'): none is moved any
        // more. Outside a load nothing is relabelled, and moved nodes stay moved.
        if ended {
            self.moved_nodes.clear();
        }
        for (n, label) in self.node_order.end_bulk() {
            if self.nodes.get(n).label != label {
                self.nodes.get_mut(n).edit(|h| h.label = label);
            }
        }
        self.summarize();
    }

    /// Folds the names added since the last compaction into the flat name tables and the
    /// flat byte orders now
    /// (writes do it on their own past a size; tests force it at random points to show that
    /// no answer depends on where a name is found).
    #[doc(hidden)]
    pub fn compact_names(&mut self) {
        self.name_tables().into_iter().for_each(Names::compact);
        self.orders().into_iter().for_each(Labels::compact);
    }

    /// Starts folding every name table's and byte order's delta into a new base on a thread
    /// of its own, as
    /// a write does once a delta outgrows its share (tests start it at random points; the
    /// benchmark times what the write pays).
    #[doc(hidden)]
    pub fn fold_names_in_background(&mut self) {
        self.name_tables().into_iter().for_each(Names::fold_in_background);
        self.orders().into_iter().for_each(Labels::fold_in_background);
    }

    /// Waits for the name tables' and byte orders' folds in progress and swaps their bases in.
    #[doc(hidden)]
    pub fn finish_name_folds(&mut self) {
        self.name_tables().into_iter().for_each(Names::finish_fold);
        self.orders().into_iter().for_each(Labels::finish_fold);
    }

    /// The byte orders of nodes, policies and targets.
    fn orders(&mut self) -> [&mut Labels; 3] {
        [&mut self.node_order, &mut self.policy_order, &mut self.reverse.order]
    }

    /// The name tables of nodes, accounts, policies and targets.
    fn name_tables(&mut self) -> [&mut Names; 4] {
        [
            &mut self.nodes.ids,
            &mut self.accounts.ids,
            &mut self.policies.ids,
            &mut self.reverse.targets.ids,
        ]
    }

    /// Drops the reverse structures, for the memory benchmark only (it measures the heap
    /// before and after): the look-ups answer nothing afterwards and `validate` fails.
    #[doc(hidden)]
    pub fn bench_drop_reverse(&mut self) {
        // The target names stay: the forward rows are found through them.
        let targets = std::mem::replace(&mut self.reverse, Reverse::new(&Hasher::default())).targets;
        self.reverse.targets = targets;
    }

    /// How many nodes (agents, roles, groups) the index knows.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// During a bulk load: appends `value`, or removes it from the unsorted row (the forward
/// rows call this only when the fact changed, so it is there exactly once).
fn bulk_set<T: Clone + PartialEq>(v: &mut Chunked<T>, value: T, on: bool) {
    if on {
        v.push_unsorted(value);
    } else {
        v.remove_unsorted(|x| *x == value);
    }
}

/// Inserts or removes `value` at `pos` (its search) in a sorted row.
fn set_in<T: Clone>(v: &mut Chunked<T>, pos: Result<At, At>, value: T, on: bool) {
    match (pos, on) {
        (Err(at), true) => v.insert(at, value),
        (Ok(at), false) => {
            v.remove(at);
        }
        _ => {}
    }
}
