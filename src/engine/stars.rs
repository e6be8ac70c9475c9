//! The roles' rules on `*` in an explanation, counted by group and ranked only as far as
//! the explanation lists them.
//!
//! On a big organisation most of the rules an explanation counts are its roles' rules on
//! `*` (thousands over a few hundred roles), and it lists only its first `explain_limit`.
//! While every rule counts as it stands ([`Index::every_rule_counts`]: every policy active
//! and enforcing both kinds, no conflict strategy, no condition), a role's group of one
//! action and kind counts whole, so its length is its count. Each group is sorted by
//! policy label, which orders the rules of one class (kind, not the agent's own, on `*`,
//! exact or related action) before anything else does: so a class's first `n` rules are
//! among those up to the label its `n`-th rule reaches (found among the class's labels),
//! and only those become hits and are ranked.
//!
//! The rules of the other classes (the agent's own, on the target or its collections) are
//! collected and ranked as before; no class holds both, so the two are joined class by
//! class.

use crate::domain::RuleKind;
use crate::engine::index::{Index, Pair, ak_action, ak_kind};
use crate::engine::odrl::{Hit, Wanted};
use crate::engine::ranking::{self, class};
use std::cmp::Ordering;

/// One role's rules on `*` of one action and kind that apply, sorted by policy label.
struct Group<'a> {
    rules: &'a [Pair],
    /// The role's id and label.
    assignee: (u32, u64),
    action: u32,
    kind: RuleKind,
    related: bool,
}

impl Group<'_> {
    /// Its `at`-th rule as a hit (its policy's label read).
    fn hit(&self, index: &Index, at: usize) -> Hit {
        let policy = self.rules[at].1;
        Hit {
            rank: index.policy_rank(policy).0,
            ..Hit::on_star(false, self.assignee, policy, self.action, self.kind, self.related)
        }
    }
}

/// The roles' groups on `*` of a check, by class.
#[derive(Default)]
pub(crate) struct Stars<'a> {
    groups: Vec<(usize, Group<'a>)>,
    /// How many rules each class holds.
    totals: [usize; 32],
}

impl<'a> Stars<'a> {
    /// Room for `groups` groups (a check's roles hold one or two each that apply).
    pub(crate) fn with_capacity(groups: usize) -> Stars<'a> {
        Stars {
            groups: Vec::with_capacity(groups),
            totals: [0; 32],
        }
    }

    /// Takes a role's rules on `*` of one action bit (`star_group`: runs of one action and
    /// kind, each sorted by policy label), keeping the runs whose action and kind apply.
    pub(crate) fn add(&mut self, rules: &'a [Pair], assignee: (u32, u64), wanted: &Wanted) {
        let mut from = 0;
        while from < rules.len() {
            let ak = rules[from].0;
            // Most groups hold one kind: then the last rule tells, without a search.
            let to = if rules[rules.len() - 1].0 == ak {
                rules.len()
            } else {
                from + rules[from..].partition_point(|r| r.0 == ak)
            };
            let (action, kind) = (ak_action(ak), ak_kind(ak));
            if let Some(related) = wanted.applies(action, kind) {
                let group = Group {
                    rules: &rules[from..to],
                    assignee,
                    action,
                    kind,
                    related,
                };
                let c = class(&Hit::on_star(false, assignee, 0, action, kind, related));
                self.totals[c] += to - from;
                self.groups.push((c, group));
            }
            from = to;
        }
    }

    /// Every rule of the groups, appended to `out` as hits.
    pub(crate) fn all_hits(&self, index: &Index, out: &mut Vec<Hit>) {
        out.reserve(self.total());
        for (_, g) in &self.groups {
            out.extend((0..g.rules.len()).map(|at| g.hit(index, at)));
        }
    }

    /// How many rules the groups hold.
    pub(crate) fn total(&self) -> usize {
        self.totals.iter().sum()
    }

    /// The least `keep` of `others` (the check's other applicable rules, all counting, in no
    /// class of the groups') and the groups' rules together, in the order `cmp` defines
    /// ([`ranking::sort_ranked`]'s), then the rest of `others` and, when no permission is
    /// among those, the groups' best permission: the rules as [`super::explained::Hits`] holds
    /// them, and how many lead in order.
    pub(crate) fn rank_with(
        &self,
        index: &Index,
        mut others: Vec<Hit>,
        keep: usize,
        cmp: impl Fn(&Hit, &Hit) -> Ordering,
    ) -> (Vec<Hit>, usize) {
        let ordered_others = ranking::sort_ranked(&mut others, keep, &cmp);
        let mut out = Vec::with_capacity(keep.min(others.len() + self.total()) + 1);
        let mut taken = 0;
        for c in 0..self.totals.len() {
            if out.len() >= keep {
                break;
            }
            // `others`' ordered rules come class by class; a class is theirs or the groups'.
            while taken < ordered_others && class(&others[taken]) == c && out.len() < keep {
                out.push(others[taken]);
                taken += 1;
            }
            let want = (keep - out.len()).min(self.totals[c]);
            self.first(index, c, want, &mut out);
        }
        let ordered = out.len();
        out.extend_from_slice(&others[taken..]);
        let is_permission = |h: &Hit| h.kind == RuleKind::Permission;
        if !out.iter().any(is_permission) {
            let first = (0..self.totals.len()).find(|&c| self.totals[c] > 0 && c >> 4 == 1);
            if let Some(c) = first {
                self.first(index, c, 1, &mut out);
            }
        }
        (out, ordered)
    }

    /// Appends the first `n` rules of class `c` in order. Within a class, while every
    /// rule counts as it stands, the order is (policy label, assignee label, action) with
    /// no two rules equal (one rule per policy in a group, no condition, no collection;
    /// vocabulary actions, the only ones a related class holds, compare by id). Each group
    /// is sorted by policy label: the label the `n`-th rule reaches is found among the
    /// class's labels (`select_nth`), then each group's rules up to it are taken, the
    /// groups in (assignee label, action) order, and sorted stably by policy label.
    fn first(&self, index: &Index, c: usize, n: usize, out: &mut Vec<Hit>) {
        if n == 0 {
            return;
        }
        // (assignee label, action, group, where its rules start in `rules`).
        let mut groups = Vec::with_capacity(self.groups.len());
        // The class's rules as (policy label, policy), group after group: the groups' rows
        // are read once, here.
        let mut rules: Vec<(u64, u32)> = Vec::with_capacity(self.totals[c]);
        for (i, (gc, g)) in self.groups.iter().enumerate() {
            if *gc == c {
                groups.push((g.assignee.1, g.action, i, rules.len()));
                rules.extend(g.rules.iter().map(|r| (index.policy_rank(r.1).0, r.1)));
            }
        }
        let last = if n < rules.len() {
            let mut labels: Vec<u64> = rules.iter().map(|r| r.0).collect();
            *labels.select_nth_unstable(n - 1).1
        } else {
            u64::MAX
        };
        // In order already when the closure's roles are (`prepare` sorts them).
        if !groups.is_sorted() {
            groups.sort_unstable();
        }
        // The rules up to `last` as (policy label, policy, group), groups in order.
        let mut taken: Vec<(u64, u32, usize)> = Vec::with_capacity(n + n / 4);
        for &(_, _, i, at) in &groups {
            let len = self.groups[i].1.rules.len();
            let upto = rules[at..at + len].iter().take_while(|r| r.0 <= last);
            taken.extend(upto.map(|&(label, policy)| (label, policy, i)));
        }
        let labels: Vec<u64> = taken.iter().map(|t| t.0).collect();
        out.extend(ranking::stable_order(&labels).into_iter().take(n).map(|k| {
            let (rank, policy, i) = taken[k];
            let g = &self.groups[i].1;
            Hit {
                rank,
                ..Hit::on_star(false, g.assignee, policy, g.action, g.kind, g.related)
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Action, Change, Id};
    use crate::engine::explained::Hits;
    use crate::engine::index::action_kind;

    #[test]
    fn the_groups_best_permission_follows_a_listing_of_prohibitions() {
        let mut index = Index::default();
        for name in ["policy-b", "policy-a"] {
            index.apply(&Change::PolicyCreated {
                policy: Id::from_trusted(name),
                policy_type: None,
                conflict: None,
            });
        }
        let (b, a) = (0, 1);
        let read = index
            .action_id(&Action::parse("action", "odrl:read").expect("an action"))
            .expect("a vocabulary action");
        let wanted = Wanted::new(read, true);
        let prohibition = action_kind(read, RuleKind::Prohibition);
        let permission = action_kind(read, RuleKind::Permission);
        // A role's rules on `*`, runs of one action and kind, each by policy label.
        let rules = [Pair(prohibition, a), Pair(permission, a), Pair(permission, b)];
        let mut stars = Stars::default();
        stars.add(&rules, (7, 70), &wanted);
        assert_eq!(stars.total(), 3);
        let cmp = |x: &Hit, y: &Hit| ranking::prefix(x).cmp(&ranking::prefix(y));
        // Listing one: the prohibition, and behind it only the best permission.
        let (ranked, ordered) = stars.rank_with(&index, Vec::new(), 1, cmp);
        let got: Vec<(RuleKind, u32)> = ranked.iter().map(|h| (h.kind, h.policy)).collect();
        assert_eq!(got, [(RuleKind::Prohibition, a), (RuleKind::Permission, a)]);
        assert_eq!(ordered, 1);
        let hits = Hits {
            ranked,
            ordered,
            total: 3,
            unenforced: Vec::new(),
            conditions: Vec::new(),
        };
        let best: Vec<(RuleKind, u32)> = hits.best(&index).iter().map(|h| (h.kind, h.policy)).collect();
        assert_eq!(best, [(RuleKind::Prohibition, a), (RuleKind::Permission, a)]);
        // Listing all: every rule, in order.
        let (ranked, ordered) = stars.rank_with(&index, Vec::new(), 10, cmp);
        let got: Vec<(RuleKind, u32)> = ranked.iter().map(|h| (h.kind, h.policy)).collect();
        assert_eq!(
            got,
            [
                (RuleKind::Prohibition, a),
                (RuleKind::Permission, a),
                (RuleKind::Permission, b)
            ]
        );
        assert_eq!(ordered, 3);
    }
}
