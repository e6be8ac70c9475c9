//! The index's facts as changes: what the read model holds, for exports, digests and
//! comparisons between engines.

use super::{Index, Pair, ak_action, ak_kind};
use crate::domain::{Change, EdgeSource, EntityKind, Rule, Target};

impl Index {
    fn rule_of(&self, assignee: u32, ak: u32, policy: u32, target: Target) -> Rule {
        Rule {
            policy: self.policy_name(policy).clone(),
            kind: ak_kind(ak),
            assignee: self.node_by_id(assignee).name.clone(),
            action: self.action(ak_action(ak)).clone(),
            target,
            condition: self.condition(policy).cloned(),
        }
    }

    /// Every fact as the change that sets it: what the read model holds, for rebuilding
    /// projections and comparing engines. Roles first, then edges, rules, policy types and conflict strategies, and statuses last.
    pub fn facts(&self) -> Vec<Change> {
        let mut roles = Vec::new();
        let mut edges = Vec::new();
        let mut account_edges = Vec::new();
        let mut members = Vec::new();
        let mut statuses = Vec::new();
        let mut types = Vec::new();
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
                // A type and a strategy are set by `Policy.Created`, which also makes a
                // policy without a status active: the explicit status after it settles that.
                if entry.policy_type.is_some() || entry.conflict.is_some() {
                    types.push(Change::PolicyCreated {
                        policy: entry.name.clone(),
                        policy_type: entry.policy_type.as_deref().map(str::to_string),
                        conflict: entry.conflict,
                    });
                }
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
        for ((policy, node), uids) in &self.discharged {
            for uid in uids.iter() {
                out.push(Change::DutyDischarged {
                    policy: self.policy_name(*policy).clone(),
                    duty: crate::domain::Id::from_trusted(uid),
                    agent: self.node_by_id(*node).name.clone(),
                });
            }
        }
        for (asset, collections) in &self.collections {
            for collection in collections.iter() {
                out.push(Change::AssetCollection {
                    asset: asset.clone(),
                    collection: collection.clone(),
                    on: true,
                });
            }
        }
        out.extend(types);
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
        for (target, rules) in self.target_rows() {
            for r in rules.iter() {
                out.push(self.rule_of(r.assignee, r.ak, r.policy, Target::One(target.clone())));
            }
        }
        out.sort();
        out
    }
}
