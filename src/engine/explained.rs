//! What an explanation lists, and the decision rendered from the ranked rules.
//!
//! [`hits`] collects every applicable rule of an active policy (the walk is
//! [`super::odrl`]'s) and puts in deciding order only those an explanation can list: its
//! deciding rule and the `explain_limit` after it (`ranking`, and `stars` for the roles'
//! rules on `*` while every rule counts as it stands); the rest are counted. [`decision`]
//! renders a [`Decision`] from the ranked rules, with the explanation's lists
//! (`listing`), for a plain check (the best rule of each kind) as for an explanation.

use crate::domain::{ConditionNote, Decision, Explanation, Id, Reason, Rule, RuleKind, Rules, Target};
use crate::engine::closure::Closure;
use crate::engine::index::Index;
use crate::engine::odrl::{Agent, Best, Hit, collected, order, resolve};
use crate::engine::stars::Stars;
use crate::engine::{Check, EngineOptions};
use crate::engine::{listing, ranking};
use std::cmp::Ordering;

/// The rule a hit stands for.
fn render(index: &Index, check: &Check, closure: &Closure<'_>, hit: &Hit) -> Rule {
    Rule {
        policy: index.policy_name(hit.policy).clone(),
        kind: hit.kind,
        assignee: if hit.own {
            check.agent.clone()
        } else {
            index.node_by_id(hit.assignee).name.clone()
        },
        action: index.action(hit.action).clone(),
        target: match hit.level {
            2 => Target::Any,
            1 => Target::One(closure.targets[hit.via as usize - 1].clone()),
            _ => Target::One(check.target.clone()),
        },
        condition: index.condition(hit.policy).cloned(),
    }
}

thread_local! {
    /// The buffer of the thread's last explanation's rules, kept for its next one: an
    /// explanation on a big organisation collects thousands (a few hundred kilobytes),
    /// and a buffer grown afresh each time was written cold and copied at each doubling.
    static SPARE: std::cell::Cell<Vec<Hit>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The most rules a kept buffer holds room for (2.6 MB): a bigger one is freed.
const SPARE_MAX: usize = 1 << 16;

/// An empty buffer for an explanation's rules: the thread's spare one, if it has one.
pub(super) fn spare_hits() -> Vec<Hit> {
    SPARE.with(std::cell::Cell::take)
}

impl Drop for Hits {
    /// Gives the buffer back for the thread's next explanation.
    fn drop(&mut self) {
        let mut ranked = std::mem::take(&mut self.ranked);
        if ranked.capacity() <= SPARE_MAX {
            ranked.clear();
            SPARE.with(|s| s.set(ranked));
        }
    }
}

/// Every applicable rule that counts, and those that do not for their policy's type.
#[derive(Default)]
pub(crate) struct Hits {
    /// Every applicable rule that counts, prohibitions first: when explaining, the first
    /// `ordered` in deciding order (the deciding rule and every one listed after it), the
    /// rest after them in no order; otherwise only the best of each kind first (what the
    /// decision and the Casbin rows read).
    pub ranked: Vec<Hit>,
    /// How many of `ranked` lead in deciding order when explaining (0 otherwise).
    pub ordered: usize,
    /// How many applicable rules count: `ranked` holds them all, or when explaining may
    /// hold only those it lists (and the best permission).
    pub total: usize,
    /// Applicable rules of active policies whose type does not enforce them.
    pub unenforced: Vec<Hit>,
    /// Rules with constraints offered, whether they applied, and why.
    pub conditions: Vec<(Hit, bool, String)>,
}

/// Every applicable rule of an active policy, ranked: what an explanation lists.
pub(crate) fn hits<'c, 'x: 'c>(
    index: &Index,
    check: &Check,
    agent: Agent<'c>,
    closure: &Closure<'x>,
    opts: &EngineOptions,
) -> Hits {
    // While whether a rule counts is its policy's alone (no strategy, no condition), the
    // roles' rules on `*` are counted by group and merged only as far as the explanation
    // lists them (`stars`).
    let stand_alone = !index.strategies_in_use() && !index.conditions_in_use();
    let mut stars = (check.explain && stand_alone && closure.summarized.is_none())
        .then(|| Stars::with_capacity(index, 2 * closure.roles.len()));
    let Some(sink) = collected(index, check, agent, closure, opts, true, stars.as_mut()) else {
        return Hits::default();
    };
    let mut all = sink.all.unwrap_or_default();
    let mut unenforced = sink.unenforced;
    if index.strategies_in_use() {
        unenforced.extend(resolve(index, &mut all));
    }
    // Kind, then the deciding order: ranked by small integer keys over its prefix (most
    // pairs differ there; thousands of rules in a big explanation), the whole order only
    // between rules of one policy and assignee. Outside explain mode only the best of
    // each kind is read.
    let cmp = ranked_order(index);
    // The deciding rule and the `explain_limit` listed after it; the rest only counted.
    let keep = check.explain_limit.saturating_add(1);
    let (ranked, ordered, total) = match stars {
        Some(stars) if all.len() + stars.total() > keep => {
            let total = all.len() + stars.total();
            let (ranked, ordered) = stars.rank_with(index, all, keep, cmp);
            (ranked, ordered, total)
        }
        stars if check.explain => {
            if let Some(stars) = stars {
                stars.all_hits(index, &mut all);
            }
            let ordered = ranking::sort_ranked(&mut all, keep, cmp);
            let total = all.len();
            (all, ordered, total)
        }
        _ => {
            ranking::best_first(&mut all, cmp);
            let total = all.len();
            (all, 0, total)
        }
    };
    Hits {
        ranked,
        ordered,
        total,
        unenforced,
        conditions: sink.conditions,
    }
}

/// The whole order rules are ranked in: kind (prohibitions first), then the deciding order.
fn ranked_order(index: &Index) -> impl Fn(&Hit, &Hit) -> Ordering + '_ {
    move |a: &Hit, b: &Hit| {
        ranking::prefix(a)
            .cmp(&ranking::prefix(b))
            .then_with(|| order(index, a, b))
    }
}

impl Hits {
    /// The best applicable prohibition and the best applicable permission, as
    /// [`super::odrl::best`]
    /// gives them: `ranked` holds prohibitions first, each kind best first, or when
    /// explaining its `ordered` first in order and the rest after them (where the best
    /// permission is the least, when none leads).
    pub(crate) fn best(&self, index: &Index) -> Best {
        let best_prohibition = self.ranked.first().filter(|h| h.kind == RuleKind::Prohibition);
        let is_permission = |h: &&Hit| h.kind == RuleKind::Permission;
        let (leading, rest) = match self.ordered {
            0 => (&self.ranked[..], &[][..]),
            n => self.ranked.split_at(n),
        };
        let best_permission = leading.iter().find(is_permission).or_else(|| {
            rest.iter()
                .filter(is_permission)
                .min_by(|a, b| ranked_order(index)(a, b))
        });
        best_prohibition.into_iter().chain(best_permission).copied().collect()
    }
}

/// The decision from every applicable rule of [`hits`] (already collected), as
/// [`evaluate`] gives it.
pub(crate) fn decision_from_hits(index: &Index, check: &Check, closure: &Closure<'_>, hits: &Hits) -> Decision {
    if check.explain {
        let ordered = &hits.ranked[..hits.ordered];
        return decision(
            index,
            check,
            closure,
            (ordered, hits.total),
            &hits.unenforced,
            &hits.conditions,
        );
    }
    let best = hits.best(index);
    decision(index, check, closure, (&best, best.len()), &[], &[])
}

/// The decision from the best rule of each kind ([`best`]; a plain check).
pub(crate) fn decision_from_best(index: &Index, check: &Check, closure: &Closure<'_>, best: &[Hit]) -> Decision {
    decision(index, check, closure, (best, best.len()), &[], &[])
}

/// Renders a decision from the ranked rules (the deciding one first; when explaining, the
/// `explain_limit` listed after it, in order) and how many applicable rules count.
pub(super) fn decision(
    index: &Index,
    check: &Check,
    closure: &Closure<'_>,
    (ranked, total): (&[Hit], usize),
    unenforced: &[Hit],
    conditions: &[(Hit, bool, String)],
) -> Decision {
    let (allowed, reason) = match ranked.first().map(|h| h.kind) {
        Some(RuleKind::Prohibition) => (false, Reason::Prohibited),
        Some(RuleKind::Permission) => (true, Reason::Permitted),
        None => (false, Reason::NotPermitted),
    };
    let deciding_rule = ranked.first().map(|h| render(index, check, closure, h));
    let explanation = check.explain.then(|| {
        let limit = check.explain_limit;
        // Labels are in the names' byte order: sort integers, not strings.
        let mut roles: Vec<(u64, &Id)> = closure
            .roles
            .iter()
            .map(|&(id, n)| (index.label_of_node(id, n), &n.name))
            .collect();
        // Usually in order already (`prepare` sorts an explanation's closure).
        if !roles.is_sorted_by_key(|&(label, _)| label) {
            if limit < roles.len() {
                // Only the first are listed (after the agent): those are sorted.
                roles.select_nth_unstable_by_key(limit, |&(label, _)| label);
                roles.truncate(limit);
            }
            roles.sort_unstable_by_key(|&(label, _)| label);
        }
        let names: Vec<Id> = std::iter::once(&check.agent)
            .chain(roles.into_iter().map(|(_, name)| name))
            .take(limit)
            .cloned()
            .collect();
        let others = ranked.get(1..).unwrap_or_default();
        // Only the listed rules are rendered; the lists that are sorted by rule are
        // rendered whole (they are short: rules that do not count, rules with constraints).
        let mut explanation = Explanation::limited(
            names,
            listing::listed(index, check, closure, &others[..others.len().min(limit)]),
            Rules::sorted(unenforced.iter().map(|h| render(index, check, closure, h))),
            ConditionNote::sorted(conditions.iter().map(|(h, applies, why)| ConditionNote {
                rule: render(index, check, closure, h),
                applies: *applies,
                why: why.clone(),
            })),
            limit,
        );
        explanation.totals.assignees = 1 + closure.roles.len();
        explanation.totals.other_rules = total.saturating_sub(1);
        Box::new(explanation)
    });
    Decision {
        allowed,
        reason,
        revision: index.revision(),
        deciding_rule,
        explanation,
        action: check.action.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A role's rule on `*` in a policy of label `rank`.
    fn rule(kind: RuleKind, rank: u64) -> Hit {
        Hit {
            rank,
            ..Hit::on_star(false, (1, 1), 0, 0, kind, false)
        }
    }

    #[test]
    fn the_best_permission_is_found_behind_the_ordered_rules() {
        let index = Index::default();
        // Explaining with one rule listed: only the deciding prohibition leads, and the
        // permissions after it are in no order.
        let hits = Hits {
            ranked: vec![
                rule(RuleKind::Prohibition, 5),
                rule(RuleKind::Permission, 9),
                rule(RuleKind::Prohibition, 7),
                rule(RuleKind::Permission, 3),
                rule(RuleKind::Permission, 4),
            ],
            ordered: 1,
            total: 5,
            unenforced: Vec::new(),
            conditions: Vec::new(),
        };
        let best: Vec<(RuleKind, u64)> = hits.best(&index).iter().map(|h| (h.kind, h.rank)).collect();
        assert_eq!(best, [(RuleKind::Prohibition, 5), (RuleKind::Permission, 3)]);
        // Not explaining: each kind's best first (`best_first`).
        let hits = Hits {
            ranked: vec![rule(RuleKind::Permission, 8), rule(RuleKind::Permission, 2)],
            ordered: 0,
            total: 2,
            unenforced: Vec::new(),
            conditions: Vec::new(),
        };
        let best: Vec<(RuleKind, u64)> = hits.best(&index).iter().map(|h| (h.kind, h.rank)).collect();
        assert_eq!(best, [(RuleKind::Permission, 8)]);
    }
}
