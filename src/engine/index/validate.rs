//! The index's structural invariants, checked from scratch (tests run this after every
//! change).

use super::{CUSTOM_BASE, Index, IndexStats, Keys, Pair, action_bit, ak_action};
use crate::domain::Action;

impl Index {
    /// Checks every structural invariant; tests run it after every change. Returns what is
    /// wrong, if anything.
    pub fn validate(&self) -> Result<(), String> {
        if self.is_loading() {
            return Err("the index is in the middle of a bulk load (validate after end_bulk)".into());
        }
        let mut stats = IndexStats::default();
        if self.nodes.ids.count() != self.nodes.len() {
            return Err(format!(
                "{} node names for {} node rows",
                self.nodes.ids.count(),
                self.nodes.len()
            ));
        }
        for names in [&self.nodes.ids, &self.accounts.ids, &self.policies.ids] {
            names.validate()?;
        }
        for (name, id) in self.nodes.ids.iter() {
            if id as usize >= self.nodes.len() || self.node_by_id(id).name.as_str().as_bytes() != name {
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
            let copy = node.packed(node.global(), node.star());
            if copy.data() != node.data() || copy.star_mask != mask || node.star_mask != mask {
                return Err(format!(
                    "node {id}: packed row {:?} (mask {:#x}), its parts give {:?} (mask {mask:#x})",
                    node.data(),
                    node.star_mask,
                    copy.data()
                ));
            }
            stats.rules += node.star().len();
        }
        for (target, rules) in self.target_rows() {
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
        self.moved_nodes.validate("node", self.nodes.len())?;
        self.node_order.validate("node", self.nodes.len(), |id| {
            let n = self.node_by_id(id);
            (n.name.clone(), self.label_of_node(id, n))
        })?;
        for (what, ids, len) in [
            ("account", self.accounts.ids.count(), self.accounts.len()),
            ("policy", self.policies.ids.count(), self.policies.len()),
            ("variant", self.variants.ids.count(), self.variants.len()),
            ("custom action", self.customs.ids.count(), self.customs.len()),
        ] {
            if ids != len {
                return Err(format!("{ids} {what} names for {len} entries"));
            }
        }
        for (asset, collections) in &self.collections {
            if collections.is_empty() || !collections.windows(2).all(|w| w[0] < w[1]) {
                return Err(format!("asset {asset:?}: collections empty or not sorted and unique"));
            }
            for c in collections.iter() {
                if self.members_of(c.as_str()).binary_search(asset).is_err() {
                    return Err(format!("asset {asset:?} is in {c:?}, whose members do not list it"));
                }
                stats.asset_edges += 1;
            }
        }
        let members: usize = self.members.values().map(|m| m.len()).sum();
        if members != stats.asset_edges || self.members.values().any(|m| m.is_empty()) {
            return Err(format!(
                "{members} member entries for {} asset edges",
                stats.asset_edges
            ));
        }
        if stats != self.stats {
            return Err(format!("stats {:?}, facts give {stats:?}", self.stats));
        }
        // Each policy's effect mask follows its status and type; the count of policies
        // with a strategy other than `prohibit` is right.
        let (mut strategies, mut partial) = (0, 0);
        for id in 0..self.policies.len() as u32 {
            let p = self.policies.get(id);
            let want = crate::domain::policy::effect_mask(p.status.unwrap_or(true), p.policy_type.as_deref());
            if p.effect != want {
                return Err(format!("policy {:?}: effect {} where {want} is due", p.name, p.effect));
            }
            strategies += usize::from(p.conflict.is_some_and(|c| c != crate::domain::Conflict::Prohibit));
            partial += usize::from(p.effect != crate::domain::policy::EVERY_KIND);
        }
        if strategies != self.strategies {
            return Err(format!(
                "{} policies counted with a strategy, {strategies} have one",
                self.strategies
            ));
        }
        if partial != self.partial {
            return Err(format!(
                "{} policies counted with a kind that does not count, {partial} have one",
                self.partial
            ));
        }
        // Role summaries, while current, are what the facts give.
        if let Some(e) = self
            .summaries()
            .and_then(|s| s.differs(&super::Summaries::build(self), self))
        {
            return Err(e);
        }
        self.reverse.validate(self)
    }

    fn check_rule_ids(&self, ak: u32, policy: u32) -> Result<(), String> {
        let action = ak_action(ak);
        let custom_ok = action < CUSTOM_BASE && (action as usize) < Action::vocabulary().len()
            || action >= CUSTOM_BASE && ((action - CUSTOM_BASE) as usize) < self.customs.len();
        let policy_ok = if policy >= super::VARIANT_BASE {
            let v = (policy - super::VARIANT_BASE) as usize;
            v < self.variants.len() && (self.variants.get(v as u32).base as usize) < self.policies.len()
        } else {
            (policy as usize) < self.policies.len()
        };
        if !custom_ok || !policy_ok {
            return Err(format!(
                "rule with action id {action} and policy id {policy} out of range"
            ));
        }
        Ok(())
    }
}
