//! Applying a change to the index: interning names (a new name gets a label in byte
//! order among the others) and setting or clearing the facts a change carries in the
//! affected rows, each copied first if a published snapshot shares it.

use super::{
    AccountEntry, CUSTOM_BASE, Index, Named, Node, Pair, TargetRule, VARIANT_BASE, Variant, action_kind, ak_action,
    row_of,
};
use crate::domain::policy::EVERY_KIND;
use crate::domain::{Action, Change, Conflict, EntityKind, Id, Rule, Target};
use std::sync::Arc;

/// A write takes one step settling moved nodes, and one more for each this many moved
/// (a step copies a node's row and the path to it, ~1 KiB).
const NODE_SETTLE_BACKLOG: usize = 512;

impl Index {
    /// The node's id; a new node gets a label in byte order among the others.
    fn intern_node(&mut self, name: &Id) -> u32 {
        if let Some(id) = self.nodes.id(name.as_str()) {
            return id;
        }
        let id = self.nodes.intern(name, |n| Node::new(n.clone(), 0));
        self.reverse.node_added();
        let (nodes, moved) = (&self.nodes, &self.moved_nodes);
        let placed = self
            .node_order
            .insert(name, id, |n| moved.get(n).unwrap_or_else(|| nodes.get(n).label));
        self.relabelled += placed.len(&self.node_order).saturating_sub(1) as u64;
        let mut own = None;
        let relabelled = &mut self.nodes_relabelled;
        let others = placed.labels(&self.node_order).filter(|&(n, label)| {
            if n == id {
                own = Some(label);
                return false;
            }
            *relabelled = true;
            true
        });
        // Moved: their rows are written by later writes (see `settle_nodes`).
        self.moved_nodes.relabel(others, placed.progression());
        if let Some(label) = own {
            // The new node's own row: nothing else holds it yet.
            self.nodes.get_mut(id).edit(|h| h.label = label);
        }
        id
    }

    /// Settling steps for the nodes a relabel moved, as [`super::reverse`] settles targets:
    /// none after a write that relabelled nodes, else one, and one more per
    /// [`NODE_SETTLE_BACKLOG`] nodes moved. A step writes the least moved node's new label
    /// into its row (a row's copy and the path to it) and takes the node out of
    /// `moved_nodes`. Effective labels do not change.
    fn settle_nodes(&mut self) {
        if std::mem::take(&mut self.nodes_relabelled) || self.is_loading() {
            return;
        }
        for _ in 0..=self.moved_nodes.len() / NODE_SETTLE_BACKLOG {
            if !self.settle_node() {
                return;
            }
        }
    }

    /// One step of [`Index::settle_nodes`]; false when no node is moved.
    fn settle_node(&mut self) -> bool {
        let Some(n) = self.moved_nodes.first() else {
            return false;
        };
        if let Some(label) = self.moved_nodes.get(n) {
            self.node_mut(n).edit(|h| h.label = label);
        }
        self.moved_nodes.remove(n);
        true
    }

    /// The node's row, the path to it copied first if a published snapshot shares it
    /// (the row itself is copied by [`Node::edit`] when shared, or built anew).
    fn node_mut(&mut self, id: u32) -> &mut Node {
        self.nodes.get_mut(id)
    }

    fn intern_account(&mut self, name: &Id) -> u32 {
        self.accounts.intern(name, Named::new)
    }

    /// The policy's id; a new policy gets a label in byte order among the others.
    fn intern_policy(&mut self, name: &Id) -> u32 {
        if let Some(id) = self.policies.id(name.as_str()) {
            return id;
        }
        let id = self.policies.intern(name, Named::new);
        let policies = &self.policies;
        let placed = self.policy_order.insert(name, id, |p| policies.get(p).label);
        self.relabelled += placed.len(&self.policy_order).saturating_sub(1) as u64;
        for (p, label) in placed.labels(&self.policy_order) {
            self.policies.get_mut(p).label = label;
        }
        id
    }

    /// Recomputes a policy's effect after its status or type changed, keeping the count of
    /// policies with a kind that does not count ([`Index::every_rule_counts`]).
    fn refresh_effect(&mut self, p: u32) {
        let entry = self.policies.get_mut(p);
        let was = entry.effect != EVERY_KIND;
        entry.refresh_effect();
        let is = entry.effect != EVERY_KIND;
        self.partial = self.partial + usize::from(is) - usize::from(was);
    }

    /// Applies one change: a set operation, so applying it twice is applying it once. Then
    /// settles one target a past relabel moved (see [`super::reverse`]).
    pub fn apply(&mut self, change: &Change) {
        self.apply_change(change);
        let (forward, loading) = (&self.targets, self.loading.as_deref());
        self.reverse.settle(|t| row_of(forward, loading, t));
        self.settle_nodes();
    }

    /// Settles every target a relabel moved (tests: answers do not depend on it).
    #[doc(hidden)]
    pub fn settle_moved(&mut self) {
        let (forward, loading) = (&self.targets, self.loading.as_deref());
        self.reverse.settle_all(|t| row_of(forward, loading, t));
        if !self.is_loading() {
            while self.settle_node() {}
        }
    }

    /// The moved target being settled, once settling has passed one of its rules, and how
    /// many of its rules (in the forward row's order) it has passed (tests).
    #[doc(hidden)]
    pub fn settling_target(&self) -> Option<(Id, u32)> {
        let (t, passed) = self.reverse.settling()?;
        Some((self.reverse.target_name(t).clone(), passed))
    }

    /// How many node and policy names later names have relabelled, in all (tests).
    #[doc(hidden)]
    pub fn relabelled_names(&self) -> u64 {
        self.relabelled
    }

    /// A node's label, if the index knows the node (tests).
    #[doc(hidden)]
    pub fn node_label(&self, name: &str) -> Option<u64> {
        let id = self.node_id(name)?;
        Some(self.label_of_node(id, self.node_by_id(id)))
    }

    /// How many targets a relabel moved are not yet settled (tests and benchmarks).
    #[doc(hidden)]
    pub fn moved_targets(&self) -> usize {
        self.reverse.moved_len()
    }

    /// How many nodes a relabel moved are not yet settled into their rows (tests).
    #[doc(hidden)]
    pub fn moved_nodes(&self) -> usize {
        self.moved_nodes.len()
    }

    fn apply_change(&mut self, change: &Change) {
        if (self.summaries.is_some() || self.rebuilding.is_some()) && self.drops_summaries(change) {
            self.summaries = None;
            self.summary_epoch += 1;
        }
        for role in change.roles_marked() {
            let id = self.intern_node(role);
            if !self.node_by_id(id).role {
                self.node_mut(id).edit(|h| h.role = true);
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
                    self.reverse.edge(n, r, after != 0);
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
                let changed = match (self.node_by_id(n).accounts.binary_search(&entry), *on) {
                    (Err(i), true) => {
                        self.node_mut(n).edit(|h| h.accounts.insert(i, entry));
                        true
                    }
                    (Ok(i), false) => {
                        self.node_mut(n).edit(|h| h.accounts.remove(i));
                        true
                    }
                    _ => false,
                };
                if changed {
                    self.reverse.account_entry(n, entry, *on);
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
                let entry = AccountEntry {
                    account: acc,
                    role: r,
                    member: true,
                };
                let old = self.node_mut(n).edit(|h| {
                    let old = h
                        .accounts
                        .iter()
                        .position(|e| e.account == acc && e.member)
                        .map(|i| h.accounts.remove(i));
                    if let Err(i) = h.accounts.binary_search(&entry) {
                        h.accounts.insert(i, entry);
                    }
                    old
                });
                if let Some(old) = old {
                    self.reverse.account_entry(n, old, false);
                }
                self.reverse.account_entry(n, entry, true);
                if old.is_none() {
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
                let (mut members, mut edges) = (0, 0);
                let mut removed = Vec::new();
                self.node_mut(n).edit(|h| {
                    h.accounts.retain(|e| {
                        if e.account != acc {
                            return true;
                        }
                        if e.member {
                            members += 1;
                        } else {
                            edges += 1;
                        }
                        removed.push(*e);
                        false
                    })
                });
                for e in removed {
                    self.reverse.account_entry(n, e, false);
                }
                self.stats.memberships -= members;
                self.stats.account_edges -= edges;
            }
            Change::Rule { rule, on } => self.apply_rule(rule, *on),
            Change::PolicyCreated {
                policy,
                policy_type,
                conflict,
            } => {
                let p = self.intern_policy(policy);
                if let Some(c) = conflict {
                    let was = self.policies.get(p).conflict.unwrap_or_default();
                    self.strategies -= usize::from(was != Conflict::Prohibit);
                    self.strategies += usize::from(*c != Conflict::Prohibit);
                    self.policies.get_mut(p).conflict = Some(*c);
                }
                let entry = self.policies.get_mut(p);
                if entry.status.is_none() {
                    entry.status = Some(true);
                }
                if let Some(t) = policy_type
                    && entry.policy_type.as_deref() != Some(t.as_str())
                {
                    entry.policy_type = Some(Arc::from(t.as_str()));
                }
                self.refresh_effect(p);
            }
            Change::Status { kind, id, active } => match kind {
                EntityKind::Policy => {
                    let p = self.intern_policy(id);
                    self.policies.get_mut(p).status = Some(*active);
                    self.refresh_effect(p);
                }
                EntityKind::Agent => {
                    let n = self.intern_node(id);
                    self.node_mut(n).edit(|h| h.status = Some(*active));
                }
                EntityKind::Account => {
                    let a = self.intern_account(id);
                    self.accounts.get_mut(a).status = Some(*active);
                }
            },
            Change::DutyDischarged { policy, duty, agent } => {
                let key = (self.intern_policy(policy), self.intern_node(agent));
                let mut uids = self.discharged.get(&key).map(|u| u.to_vec()).unwrap_or_default();
                if let Err(i) = uids.binary_search_by(|u| (**u).cmp(duty.as_str())) {
                    uids.insert(i, Arc::from(duty.as_str()));
                    self.discharged.insert(key, Arc::new(uids));
                }
            }
            Change::AssetCollection { asset, collection, on } => self.put_in_collection(asset, collection, *on),
            Change::MarkRole { .. } | Change::Ignored { .. } => {}
        }
    }

    fn apply_rule(&mut self, rule: &Rule, on: bool) {
        let ids = if on {
            let action = match rule.action.vocabulary_index() {
                Some(i) => i as u32,
                None => CUSTOM_BASE + self.customs.intern(&rule.action, Action::clone),
            };
            let base = self.intern_policy(&rule.policy);
            let policy = match &rule.condition {
                None => base,
                Some(c) => {
                    VARIANT_BASE
                        + self.variants.intern(&(base, c.text.clone()), |_| Variant {
                            base,
                            condition: c.clone(),
                        })
                }
            };
            Some((policy, self.intern_node(&rule.assignee), action))
        } else {
            let policy = self
                .policies
                .id(rule.policy.as_str())
                .and_then(|base| match &rule.condition {
                    None => Some(base),
                    Some(c) => self.variants.id(&(base, c.text.clone())).map(|v| VARIANT_BASE + v),
                });
            match (
                policy,
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
                let pos = star.binary_search_by(|r| self.star_cmp(r, &key));
                let changed = set_at(&mut star, pos, entry, on);
                if changed {
                    self.node_mut(assignee).set_star(&star);
                    let present = star.iter().any(|r| ak_action(r.0) == action);
                    self.reverse.star_presence(assignee, action, present);
                }
                changed
            }
            Target::One(target) => {
                let entry = TargetRule { assignee, ak, policy };
                let t = if on {
                    let t = self.reverse.intern_target(target);
                    if t as usize == self.targets.len() {
                        self.targets.push_back(None);
                    }
                    t
                } else {
                    match self.reverse.target_id(target.as_str()) {
                        Some(t) => t,
                        None => return,
                    }
                };
                let key = self.target_key(&entry);
                let pos = self.target_row(t).binary_search_by(|r| self.target_cmp(r, &key));
                let changed = matches!((pos, on), (Err(_), true) | (Ok(_), false));
                if changed {
                    let (forward, slot) = (&self.targets, t as usize);
                    if let Some(loading) = self.loading.as_mut() {
                        if loading.len() <= slot {
                            loading.resize_with(slot + 1, || None);
                        }
                        let row = loading[slot].get_or_insert_with(|| row_of(forward, None, t).to_vec());
                        set_at(row, pos, entry, on);
                    } else {
                        let old = row_of(forward, None, t);
                        let row: Arc<[TargetRule]> = match pos {
                            Err(i) => old[..i]
                                .iter()
                                .copied()
                                .chain(std::iter::once(entry))
                                .chain(old[i..].iter().copied())
                                .collect(),
                            Ok(i) => old[..i].iter().chain(&old[i + 1..]).copied().collect(),
                        };
                        *self.targets.get_mut(slot).expect("a row per target id") = (!row.is_empty()).then_some(row);
                    }
                    self.reverse.exact_rule(t, assignee, ak, policy, on);
                }
                changed
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
