//! The roles' rules on `*` in an explanation, counted by group and ranked only as far as
//! the explanation lists them.
//!
//! On a big organisation most of the rules an explanation counts are its roles' rules on
//! `*` (thousands over a few hundred roles), and it lists only its first `explain_limit`.
//! While no policy has a conflict strategy and no rule a condition, whether a rule counts
//! is its policy's alone (active, and its type enforcing the rule's kind). When every
//! policy is active and enforces both kinds ([`Index::every_rule_counts`]) a role's group
//! of one action and kind counts whole, so its length is its count; otherwise each rule's
//! policy is read while counting, and the rules that do not count for an active policy's
//! type are set aside for the explanation's own list. Each group is sorted by policy
//! label, which orders the counting rules of one class (kind, not the agent's own, on `*`,
//! exact or related action) before anything else does: so a class's first `n` rules are
//! among those up to the label its `n`-th rule reaches (found among the class's labels),
//! and only those become hits and are ranked.
//!
//! The rules of the other classes (the agent's own, on the target or its collections) are
//! collected and ranked as before; no class holds both, so the two are joined class by
//! class.

use crate::domain::RuleKind;
use crate::domain::policy::kind_bit;
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
    /// Its rules that count, as (policy label, policy), in order.
    fn counting<'s>(&'s self, index: &'s Index) -> impl Iterator<Item = (u64, u32)> + 's {
        let bit = kind_bit(self.kind);
        self.rules.iter().filter_map(move |r| {
            let (label, effect) = index.policy_rank(r.1);
            (effect & bit != 0).then_some((label, r.1))
        })
    }

    /// A rule of its policy `policy` (label `rank`) as a hit.
    fn hit(&self, rank: u64, policy: u32) -> Hit {
        Hit {
            rank,
            ..Hit::on_star(false, self.assignee, policy, self.action, self.kind, self.related)
        }
    }
}

/// The roles' groups on `*` of a check, by class.
pub(crate) struct Stars<'a> {
    groups: Vec<(usize, Group<'a>)>,
    /// How many rules that count each class holds.
    totals: [usize; 32],
    /// True when every rule counts ([`Index::every_rule_counts`]): a group's length is its
    /// count.
    whole: bool,
}

impl<'a> Stars<'a> {
    /// Room for `groups` groups (a check's roles hold one or two each that apply), over
    /// `index`, whose conflict strategies and conditions must not be in use.
    pub(crate) fn with_capacity(index: &Index, groups: usize) -> Stars<'a> {
        debug_assert!(!index.strategies_in_use() && !index.conditions_in_use());
        Stars {
            groups: Vec::with_capacity(groups),
            totals: [0; 32],
            whole: index.every_rule_counts(),
        }
    }

    /// Takes a role's rules on `*` of one action bit (`star_group`: runs of one action and
    /// kind, each sorted by policy label), keeping the runs whose action and kind apply;
    /// their rules that do not count for an active policy's type go to `unenforced`.
    pub(crate) fn add(
        &mut self,
        index: &Index,
        rules: &'a [Pair],
        assignee: (u32, u64),
        wanted: &Wanted,
        unenforced: &mut Vec<Hit>,
    ) {
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
                self.totals[c] += if self.whole {
                    to - from
                } else {
                    let counting = group.counting(index).count();
                    if counting < to - from {
                        let bit = kind_bit(kind);
                        let left_out = group
                            .rules
                            .iter()
                            .filter(|r| index.policy_rank(r.1).1 & bit == 0 && index.policy_active(r.1));
                        unenforced.extend(left_out.map(|r| group.hit(0, r.1)));
                    }
                    counting
                };
                self.groups.push((c, group));
            }
            from = to;
        }
    }

    /// Every rule of the groups that counts, appended to `out` as hits.
    pub(crate) fn all_hits(&self, index: &Index, out: &mut Vec<Hit>) {
        out.reserve(self.total());
        for (_, g) in &self.groups {
            out.extend(g.counting(index).map(|(rank, policy)| g.hit(rank, policy)));
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
        // (assignee label, action, group, where its rules start and end in `rules`).
        let mut groups = Vec::with_capacity(self.groups.len());
        // The class's rules that count as (policy label, policy), group after group: the
        // groups' rows are read once, here.
        let mut rules: Vec<(u64, u32)> = Vec::with_capacity(self.totals[c]);
        for (i, (gc, g)) in self.groups.iter().enumerate() {
            if *gc == c {
                let start = rules.len();
                rules.extend(g.counting(index));
                groups.push((g.assignee.1, g.action, i, start, rules.len()));
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
        for &(_, _, i, start, end) in &groups {
            let upto = rules[start..end].iter().take_while(|r| r.0 <= last);
            taken.extend(upto.map(|&(label, policy)| (label, policy, i)));
        }
        let labels: Vec<u64> = taken.iter().map(|t| t.0).collect();
        out.extend(ranking::stable_order(&labels).into_iter().take(n).map(|k| {
            let (rank, policy, i) = taken[k];
            self.groups[i].1.hit(rank, policy)
        }));
    }
}

#[cfg(test)]
mod tests;
