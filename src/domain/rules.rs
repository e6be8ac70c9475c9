//! Lists of rules that hold each distinct name once, and rules borrowed from them.
//!
//! An explanation on a big organisation lists thousands of rules over a few hundred
//! distinct policies, assignees, actions and targets. As a `Vec<Rule>` every rule held its
//! own clone of four shared strings: eight atomic reference-count operations per rule
//! (made, then dropped), about a third of an explain check on the benchmark's deep
//! organisation (docs/BENCHMARKS.md). [`Rules`] keeps the names once and a small row of
//! positions per rule; [`RuleView`] reads one rule from it (or from a [`Rule`], through
//! [`Rule::view`]) without cloning anything, and compares and orders as the `Rule` would.

use super::constraint::Condition;
use super::{Action, Id, Rule, RuleKind, Target};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// A rule borrowed from a [`Rules`] or a [`Rule`]: the same fields, in the same order, so
/// it compares and orders exactly as the owned rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleView<'a> {
    pub policy: &'a Id,
    pub kind: RuleKind,
    pub assignee: &'a Id,
    pub action: &'a Action,
    pub target: &'a Target,
    pub condition: Option<&'a Arc<Condition>>,
}

impl RuleView<'_> {
    /// The owned rule (clones its names).
    pub fn to_rule(&self) -> Rule {
        Rule {
            policy: self.policy.clone(),
            kind: self.kind,
            assignee: self.assignee.clone(),
            action: self.action.clone(),
            target: self.target.clone(),
            condition: self.condition.cloned(),
        }
    }
}

impl Rule {
    /// This rule, borrowed.
    pub fn view(&self) -> RuleView<'_> {
        RuleView {
            policy: &self.policy,
            kind: self.kind,
            assignee: &self.assignee,
            action: &self.action,
            target: &self.target,
            condition: self.condition.as_ref(),
        }
    }
}

/// Where a rule's parts are in a [`Rules`]' tables.
#[derive(Debug, Clone, Copy)]
struct Row {
    policy: u32,
    assignee: u32,
    action: u32,
    target: u32,
    /// `NONE`: no condition.
    condition: u32,
    kind: RuleKind,
}

const NONE: u32 = u32::MAX;

/// A list of rules, in the order they were pushed, holding each name once (see the module
/// docs). Two lists are equal when they list equal rules in the same order, however their
/// tables are laid out.
#[derive(Clone, Default)]
pub struct Rules {
    /// Policies and assignees.
    ids: Vec<Id>,
    actions: Vec<Action>,
    targets: Vec<Target>,
    conditions: Vec<Arc<Condition>>,
    rows: Vec<Row>,
}

/// The positions of one rule's parts, as [`Rules::add_id`] and its siblings gave them.
#[derive(Debug, Clone, Copy)]
pub struct RuleParts {
    pub policy: u32,
    pub kind: RuleKind,
    pub assignee: u32,
    pub action: u32,
    pub target: u32,
    pub condition: Option<u32>,
}

impl Rules {
    /// An empty list with room for `n` rules.
    pub fn with_capacity(n: usize) -> Rules {
        Rules {
            rows: Vec::with_capacity(n),
            ..Rules::default()
        }
    }

    /// Keeps a policy or assignee name; its position, for [`Rules::push_parts`]. Callers
    /// keep each distinct name once (nothing here looks for an equal one).
    pub fn add_id(&mut self, id: Id) -> u32 {
        self.ids.push(id);
        (self.ids.len() - 1) as u32
    }

    /// Keeps an action; its position.
    pub fn add_action(&mut self, action: Action) -> u32 {
        self.actions.push(action);
        (self.actions.len() - 1) as u32
    }

    /// Keeps a target; its position.
    pub fn add_target(&mut self, target: Target) -> u32 {
        self.targets.push(target);
        (self.targets.len() - 1) as u32
    }

    /// Keeps a condition; its position.
    pub fn add_condition(&mut self, condition: Arc<Condition>) -> u32 {
        self.conditions.push(condition);
        (self.conditions.len() - 1) as u32
    }

    /// Appends a rule made of parts kept before.
    ///
    /// # Panics
    /// When a position is out of its table's range (a caller's bug; nothing is appended).
    pub fn push_parts(&mut self, p: RuleParts) {
        assert!(
            (p.policy as usize) < self.ids.len()
                && (p.assignee as usize) < self.ids.len()
                && (p.action as usize) < self.actions.len()
                && (p.target as usize) < self.targets.len()
                && p.condition.is_none_or(|c| (c as usize) < self.conditions.len()),
            "a rule's part was not kept first"
        );
        self.rows.push(Row {
            policy: p.policy,
            assignee: p.assignee,
            action: p.action,
            target: p.target,
            condition: p.condition.unwrap_or(NONE),
            kind: p.kind,
        });
    }

    /// Rules sorted by their identity, without duplicates.
    pub fn sorted(rules: impl Iterator<Item = Rule>) -> Rules {
        let mut v: Vec<Rule> = rules.collect();
        v.sort();
        v.dedup();
        v.into_iter().collect()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Keeps the first `n` rules (the names only the rest used stay in the tables, unseen).
    pub fn truncate(&mut self, n: usize) {
        self.rows.truncate(n);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The `i`-th rule.
    pub fn get(&self, i: usize) -> Option<RuleView<'_>> {
        self.rows.get(i).map(|r| self.view(r))
    }

    /// The rules in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RuleView<'_>> + '_ {
        self.rows.iter().map(|r| self.view(r))
    }

    /// The rules, owned.
    pub fn to_vec(&self) -> Vec<Rule> {
        self.iter().map(|r| r.to_rule()).collect()
    }

    fn view(&self, r: &Row) -> RuleView<'_> {
        RuleView {
            policy: &self.ids[r.policy as usize],
            kind: r.kind,
            assignee: &self.ids[r.assignee as usize],
            action: &self.actions[r.action as usize],
            target: &self.targets[r.target as usize],
            condition: (r.condition != NONE).then(|| &self.conditions[r.condition as usize]),
        }
    }
}

/// Keeps each distinct name once, by value (the engine keeps them by its own integer ids
/// instead: see `engine::odrl`).
impl FromIterator<Rule> for Rules {
    fn from_iter<I: IntoIterator<Item = Rule>>(rules: I) -> Rules {
        #[derive(Default)]
        struct Seen {
            ids: HashMap<Id, u32>,
            actions: HashMap<Action, u32>,
            targets: HashMap<Target, u32>,
            conditions: HashMap<Arc<Condition>, u32>,
        }
        let mut seen = Seen::default();
        let mut out = Rules::default();
        for rule in rules {
            let mut id = |id: Id, out: &mut Rules| *seen.ids.entry(id.clone()).or_insert_with(|| out.add_id(id));
            let policy = id(rule.policy, &mut out);
            let assignee = id(rule.assignee, &mut out);
            let action = *seen
                .actions
                .entry(rule.action.clone())
                .or_insert_with(|| out.add_action(rule.action));
            let target = *seen
                .targets
                .entry(rule.target.clone())
                .or_insert_with(|| out.add_target(rule.target));
            let condition = rule
                .condition
                .map(|c| *seen.conditions.entry(c.clone()).or_insert_with(|| out.add_condition(c)));
            out.push_parts(RuleParts {
                policy,
                kind: rule.kind,
                assignee,
                action,
                target,
                condition,
            });
        }
        out
    }
}

impl PartialEq for Rules {
    fn eq(&self, other: &Rules) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Rules {}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(policy: &str, kind: RuleKind, assignee: &str, action: &str, target: Option<&str>) -> Rule {
        Rule {
            policy: Id::from_trusted(policy),
            kind,
            assignee: Id::from_trusted(assignee),
            action: Action::from_trusted(action),
            target: target.map_or(Target::Any, |t| Target::One(Id::from_trusted(t))),
            condition: None,
        }
    }

    #[test]
    fn a_list_gives_back_the_rules_it_was_made_of_in_order() {
        let rules = vec![
            rule("p2", RuleKind::Prohibition, "bob", "odrl:read", Some("doc")),
            rule("p1", RuleKind::Permission, "alice", "odrl:read", None),
            rule("p2", RuleKind::Permission, "p1", "odrl:write", Some("doc")),
            rule("p2", RuleKind::Prohibition, "bob", "odrl:read", Some("doc")),
        ];
        let list: Rules = rules.iter().cloned().collect();
        assert_eq!(list.len(), 4);
        assert_eq!(list.to_vec(), rules);
        assert!(list.iter().zip(&rules).all(|(v, r)| v == r.view()));
        // A name used as a policy and as an assignee is kept once.
        assert_eq!(list.ids.len(), 4, "p2, bob, p1, alice");
        assert_eq!(list.get(1).map(|v| v.to_rule()), Some(rules[1].clone()));
        assert_eq!(list.get(4), None);
    }

    #[test]
    fn lists_compare_by_their_rules_not_their_tables() {
        let a = rule("p", RuleKind::Permission, "x", "odrl:read", None);
        let b = rule("q", RuleKind::Prohibition, "y", "odrl:use", Some("t"));
        // Built by hand with the tables in another order, and with a name kept twice.
        let mut by_hand = Rules::default();
        let (y, q) = (by_hand.add_id(b.assignee.clone()), by_hand.add_id(b.policy.clone()));
        let (x, _, p) = (
            by_hand.add_id(a.assignee.clone()),
            by_hand.add_id(a.policy.clone()),
            by_hand.add_id(a.policy.clone()),
        );
        let t = by_hand.add_target(b.target.clone());
        let any = by_hand.add_target(Target::Any);
        let (use_, read) = (
            by_hand.add_action(b.action.clone()),
            by_hand.add_action(a.action.clone()),
        );
        let parts = |policy, kind, assignee, action, target| RuleParts {
            policy,
            kind,
            assignee,
            action,
            target,
            condition: None,
        };
        by_hand.push_parts(parts(p, RuleKind::Permission, x, read, any));
        by_hand.push_parts(parts(q, RuleKind::Prohibition, y, use_, t));
        let collected: Rules = [a.clone(), b.clone()].into_iter().collect();
        assert_eq!(by_hand, collected);
        assert_ne!(
            by_hand,
            [b.clone(), a.clone()].into_iter().collect::<Rules>(),
            "order counts"
        );
        assert_ne!(by_hand, [a.clone()].into_iter().collect::<Rules>(), "length counts");
        let mut changed = b.clone();
        changed.kind = RuleKind::Permission;
        assert_ne!(
            by_hand,
            [a, changed].into_iter().collect::<Rules>(),
            "every field counts"
        );
    }

    #[test]
    fn views_order_as_rules_do() {
        let rules = [
            rule("p", RuleKind::Permission, "x", "odrl:read", None),
            rule("p", RuleKind::Permission, "x", "odrl:read", Some("a")),
            rule("p", RuleKind::Prohibition, "a", "odrl:read", None),
            rule("o", RuleKind::Prohibition, "z", "odrl:use", Some("b")),
        ];
        for a in &rules {
            for b in &rules {
                assert_eq!(a.view().cmp(&b.view()), a.cmp(b), "{a:?} {b:?}");
            }
        }
        let sorted = Rules::sorted(rules.iter().rev().cloned().chain(rules.iter().cloned()));
        let mut want = rules.to_vec();
        want.sort();
        assert_eq!(sorted.to_vec(), want);
    }

    #[test]
    #[should_panic(expected = "not kept first")]
    fn a_part_that_was_not_kept_is_refused() {
        let mut list = Rules::default();
        let p = list.add_id(Id::from_trusted("p"));
        list.push_parts(RuleParts {
            policy: p,
            kind: RuleKind::Permission,
            assignee: p,
            action: 0,
            target: 0,
            condition: None,
        });
    }
}
