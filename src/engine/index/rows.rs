//! The rows of the index: a node's packed row, a target's rules, account entries, and the
//! one-word encoding of a rule's action and kind.

use super::CUSTOM_BASE;
use crate::domain::policy::effect_mask;
use crate::domain::{Conflict, Id, RuleKind};
use std::sync::Arc;
use thin_vec::ThinVec;
use triomphe::ThinArc;

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

/// Two words of a node's packed row: a global edge (role id, bit set of [`crate::domain::EdgeSource`]s),
/// a group offset (offset, 0), or a rule on `*` (action and kind, policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pair(pub u32, pub u32);

/// What a node's row holds besides its packed pairs.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub name: Id,
    /// An order-preserving label (see `Labels`): a < b as names iff label a < label b. Read
    /// it through `Index::label_of_node`: a relabelled node's new label is in the index's
    /// `moved_nodes` until a later write settles it here.
    pub label: u64,
    /// Bit i: a rule on `*` on vocabulary action i; bit 63: one on a custom action.
    pub star_mask: u64,
    /// Account entries, sorted (one word when there are none).
    pub accounts: ThinVec<AccountEntry>,
    /// Global edges in the row's first `n_global` pairs.
    pub(super) n_global: u32,
    /// Group offsets in the `n_groups` pairs after them.
    pub(super) n_groups: u32,
    pub role: bool,
    /// The explicit agent status; None means active.
    pub status: Option<bool>,
}

/// Everything about one node (agent, role or group), in one allocation sized to it.
///
/// What a check reads of a node — its global edges, where each action's `*` rules start,
/// and those rules — follows the [`Head`] in the same allocation (a thin pointer to a
/// count, the head, the length and the pairs), so a role costs the row and a cache line or
/// two more, not a pointer per part, and an agent holding one role takes 80 bytes, not a
/// fixed inline buffer's ~200 (a million such agents were 128 MB of the index). Rows
/// are immutable once published: a write builds the changed row anew ([`Node::edit`]
/// changes the head in place only while nothing else holds the row, as in a bulk load).
#[derive(Debug, Clone)]
pub(crate) struct Node(ThinArc<Head, Pair>);

impl std::ops::Deref for Node {
    type Target = Head;

    #[inline(always)]
    fn deref(&self) -> &Head {
        &self.0.header.header
    }
}

impl Node {
    pub(super) fn new(name: Id, label: u64) -> Node {
        let head = Head {
            name,
            label,
            star_mask: 0,
            accounts: ThinVec::new(),
            n_global: 0,
            n_groups: 0,
            role: false,
            status: None,
        };
        Node(ThinArc::from_header_and_slice(head, &[]))
    }

    /// The packed pairs: the global edges sorted by role id; then, for the k-th set bit of
    /// `star_mask` (custom actions share bit 63), where that action's group starts among
    /// the `*` rules, and their count; then the rules on `*` assigned to this node, sorted
    /// by action and kind, then policy label.
    #[inline(always)]
    pub(super) fn data(&self) -> &[Pair] {
        &self.0.slice
    }

    /// Global edges: (role id, sources), sorted by role id.
    #[inline]
    pub fn global(&self) -> &[Pair] {
        &self.data()[..self.n_global as usize]
    }

    /// Rules on `*` assigned to this node: (action and kind, policy).
    pub fn star(&self) -> &[Pair] {
        &self.data()[(self.n_global + self.n_groups) as usize..]
    }

    /// Starts loading the first cache line of the global edges (a closure's walk asks for
    /// the rows of the roles it will read next).
    #[inline(always)]
    pub(crate) fn prefetch_global(&self) {
        crate::engine::prefetch::line(self.data().as_ptr());
    }

    /// Starts loading the first two cache lines of the rules on `*` (and the group offsets
    /// before them): a check reading many roles' rows asks for the next ones' early.
    #[inline(always)]
    pub(crate) fn prefetch_star(&self) {
        let p = self.data().as_ptr();
        let at = self.n_global as usize;
        crate::engine::prefetch::line(p.wrapping_add(at));
        crate::engine::prefetch::line(p.wrapping_add(at + 8));
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
        let data = self.data();
        let base = (self.n_global + self.n_groups) as usize;
        let group = data[self.n_global as usize + k];
        &data[base + group.0 as usize..base + (group.0 + group.1) as usize]
    }

    /// Changes the head: in place while nothing else holds the row, else in a copy.
    pub(super) fn edit<R>(&mut self, f: impl FnOnce(&mut Head) -> R) -> R {
        let f = match self.0.with_arc_mut(|a| match triomphe::Arc::get_mut(a) {
            Some(row) => Ok(f(row.header_mut())),
            None => Err(f),
        }) {
            Ok(r) => return r,
            Err(f) => f,
        };
        let mut head = Head::clone(self);
        let r = f(&mut head);
        *self = Node(ThinArc::from_header_and_slice(head, self.data()));
        r
    }

    /// The row with its pairs packed from `global` and `star` (and the head's mask and
    /// counts to match).
    pub(super) fn packed(&self, global: &[Pair], star: &[Pair]) -> Node {
        // On the stack for all but long rows: a write builds one row, allocating only it.
        let mut groups: smallvec::SmallVec<[Pair; 8]> = smallvec::SmallVec::new();
        let mut head = Head::clone(self);
        head.star_mask = 0;
        for (i, r) in star.iter().enumerate() {
            let bit = action_bit(ak_action(r.0));
            if head.star_mask & bit == 0 {
                head.star_mask |= bit;
                groups.push(Pair(i as u32, 0));
            }
            if let Some(g) = groups.last_mut() {
                g.1 += 1;
            }
        }
        head.n_global = global.len() as u32;
        head.n_groups = groups.len() as u32;
        let mut pairs: smallvec::SmallVec<[Pair; 32]> =
            smallvec::SmallVec::with_capacity(global.len() + groups.len() + star.len());
        pairs.extend_from_slice(global);
        pairs.extend_from_slice(&groups);
        pairs.extend_from_slice(star);
        Node(ThinArc::from_header_and_slice(head, &pairs))
    }

    pub(super) fn set_global(&mut self, global: &[Pair]) {
        *self = self.packed(global, self.star());
    }

    pub(super) fn set_star(&mut self, star: &[Pair]) {
        *self = self.packed(self.global(), star);
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
    /// Policies: the type a `Policy.Created` gave (a full IRI); None: none given (a Set).
    pub policy_type: Option<Arc<str>>,
    /// Policies: the rule kinds that count, from the status and the type
    /// ([`crate::domain::policy::effect_mask`]). Accounts: unused.
    pub effect: u8,
    /// Policies: the conflict strategy a `Policy.Created` gave (None: none given, so
    /// `prohibit`).
    pub conflict: Option<Conflict>,
}

impl Named {
    pub(crate) fn new(name: &Id) -> Named {
        Named {
            name: name.clone(),
            status: None,
            label: 0,
            policy_type: None,
            effect: effect_mask(true, None),
            conflict: None,
        }
    }

    /// Recomputes [`Named::effect`] after the status or the type changed.
    pub(crate) fn refresh_effect(&mut self) {
        self.effect = effect_mask(self.status.unwrap_or(true), self.policy_type.as_deref());
    }
}
