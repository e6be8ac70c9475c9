//! The ODRL evaluation (Pericarp's PolicyDecisionPoint, made exact).
//!
//! Over the agent and its closure: any applicable prohibition of an active policy denies
//! (PROHIBITED); else any applicable permission allows (PERMITTED); else deny
//! (NOT_PERMITTED). A permission on X applies to a request for Y when X = Y or X includes Y;
//! a prohibition when X = Y, X includes Y, or Y includes X. A rule's target matches when it
//! is the requested target, an asset collection the target is part of (transitively), or
//! `*`.

use crate::domain::constraint::{Condition, Now, Party};
use crate::domain::{ConditionNote, Decision, EntityKind, Explanation, Id, Reason, Rule, RuleKind, Rules, Target};
use crate::engine::reference::index::{ANY, Index};
use crate::engine::{Check, EngineOptions};
use std::cmp::Ordering;
use std::sync::Arc;

/// A rule that applies to the request, with what the deciding order needs.
struct Hit<'a> {
    own: bool,
    /// How the rule's target matched: 0 the requested target, 1 one of its collections,
    /// 2 `*`.
    level: u8,
    /// The rule's target (`None`: `*`).
    target: Option<&'a Id>,
    related: bool,
    kind: RuleKind,
    policy: &'a Id,
    assignee: &'a Id,
    action: &'a crate::domain::Action,
    condition: Option<&'a Arc<Condition>>,
}

impl Hit<'_> {
    /// Deciding order: the agent's own rules first, the exact target before a collection
    /// before `*`, exact action before a related one, then lowest (policy, assignee, action
    /// IRI, target) in byte order.
    fn order(&self, other: &Hit<'_>) -> Ordering {
        (
            !self.own,
            self.level,
            self.related,
            self.policy.as_str(),
            self.assignee.as_str(),
            self.action.as_str(),
            self.target.map(Id::as_str),
        )
            .cmp(&(
                !other.own,
                other.level,
                other.related,
                other.policy.as_str(),
                other.assignee.as_str(),
                other.action.as_str(),
                other.target.map(Id::as_str),
            ))
            .then_with(|| {
                let text = |c: Option<&Arc<Condition>>| c.map(|c| c.text.clone());
                text(self.condition).cmp(&text(other.condition))
            })
    }

    fn rule(&self) -> Rule {
        Rule {
            policy: self.policy.clone(),
            kind: self.kind,
            assignee: self.assignee.clone(),
            action: self.action.clone(),
            target: match self.target {
                None => Target::Any,
                Some(t) => Target::One(t.clone()),
            },
            condition: self.condition.cloned(),
        }
    }
}

/// Where applicable rules go: every one (an explanation lists them all, in deciding order),
/// or only the first in deciding order of each kind (all a decision needs).
struct Sink<'a> {
    all: Option<Vec<Hit<'a>>>,
    /// Explaining: rules that apply but whose active policy's type does not enforce them.
    unenforced: Vec<Hit<'a>>,
    /// The best prohibition and the best permission so far.
    best: [Option<Hit<'a>>; 2],
}

impl<'a> Sink<'a> {
    fn slot(kind: RuleKind) -> usize {
        usize::from(kind != RuleKind::Prohibition)
    }

    fn add(&mut self, hit: Hit<'a>) {
        match &mut self.all {
            Some(all) => all.push(hit),
            None => {
                let slot = &mut self.best[Self::slot(hit.kind)];
                if slot.as_ref().is_none_or(|b| hit.order(b) == Ordering::Less) {
                    *slot = Some(hit);
                }
            }
        }
    }

    /// A rule that applies but does not count: listed when explaining and its policy is
    /// active (its type is why it does not count).
    fn not_counted(&mut self, index: &Index, hit: Hit<'a>) {
        if self.all.is_some() && index.is_active(EntityKind::Policy, hit.policy.as_str()) {
            self.unenforced.push(hit);
        }
    }

    /// The rule sets are sorted by policy, and within one set every other key of the
    /// deciding order is the same: past the first active rule of each kind, nothing in the
    /// set can decide.
    fn wants_rest(&self, taken: [bool; 2]) -> bool {
        self.all.is_some() || !(taken[0] && taken[1])
    }
}

/// Evaluates a check whose gates passed, over `assignees` (the agent first) and the asset
/// collections the target is part of.
pub fn evaluate(
    index: &Index,
    check: &Check,
    assignees: &[&Id],
    collections: &[&Id],
    opts: &EngineOptions,
) -> Decision {
    let requested = &check.action;
    let related: &[crate::domain::Action] = if opts.action_hierarchy {
        requested.ancestors()
    } else {
        &[]
    };
    // A conflict strategy can override or void rules of its policy: every rule is needed.
    let mut sink = Sink {
        all: (check.explain || index.strategies_in_use()).then(Vec::new),
        unenforced: Vec::new(),
        best: [None, None],
    };
    // Rules with constraints: whether each applies (fail closed), noted when explaining.
    let mut now = Now::default();
    let mut notes: Vec<ConditionNote> = Vec::new();
    let mut condition_applies = |hit: &Hit<'_>| -> bool {
        let Some(c) = hit.condition else { return true };
        let discharged = |uid: &str, by: &str| index.discharged(hit.policy.as_str(), uid, by);
        let party = Party {
            agent: check.agent.as_str(),
            discharged: &discharged,
        };
        let verdict = c.evaluate(&check.context, &mut now, &party);
        let applies = verdict.applies(hit.kind == RuleKind::Prohibition);
        if check.explain {
            notes.push(ConditionNote {
                rule: hit.rule(),
                applies,
                why: verdict.describe(),
            });
        }
        applies
    };
    for (i, &assignee) in assignees.iter().enumerate() {
        let own = i == 0;
        // Most nodes of a closure hold no rules: one look-up each settles that.
        let rules = index.rules_of(assignee.as_str());
        let below = if opts.action_hierarchy {
            index.below_of(assignee.as_str())
        } else {
            None
        };
        if rules.is_none() && below.is_none() {
            continue;
        }
        let targets = std::iter::once((Some(&check.target), 0))
            .chain(collections.iter().map(|&c| (Some(c), 1)))
            .chain(std::iter::once((None, 2)));
        for (target, level) in targets {
            let tkey = target.map_or(ANY, Id::as_str);
            let by_action = rules.and_then(|r| r.get(tkey));
            for (j, action) in std::iter::once(requested).chain(related).enumerate() {
                let Some(set) = by_action.and_then(|a| a.get(action.as_str())) else {
                    continue;
                };
                let mut taken = [false, false];
                for (policy, kind, condition) in set.iter() {
                    let k = Sink::slot(*kind);
                    if sink.all.is_none() && taken[k] {
                        continue;
                    }
                    let hit = Hit {
                        own,
                        level,
                        target,
                        related: j > 0,
                        kind: *kind,
                        policy,
                        assignee,
                        action,
                        condition: condition.as_ref(),
                    };
                    if !index.rule_counts(policy.as_str(), *kind) {
                        sink.not_counted(index, hit);
                        continue;
                    }
                    if !condition_applies(&hit) {
                        continue;
                    }
                    taken[k] = true;
                    sink.add(hit);
                    if !sink.wants_rest(taken) {
                        break;
                    }
                }
            }
            if let Some(set) = below.and_then(|b| b.get(tkey)).and_then(|a| a.get(requested.as_str())) {
                for (policy, action, condition) in set.iter() {
                    let hit = Hit {
                        own,
                        level,
                        target,
                        related: true,
                        kind: RuleKind::Prohibition,
                        policy,
                        assignee,
                        action,
                        condition: condition.as_ref(),
                    };
                    if !index.rule_counts(policy.as_str(), RuleKind::Prohibition) {
                        sink.not_counted(index, hit);
                    } else if condition_applies(&hit) {
                        sink.add(hit);
                        if sink.all.is_none() {
                            break;
                        }
                    }
                }
            }
        }
    }
    let hits: Vec<Hit<'_>> = match sink.all {
        Some(all) => all,
        None => sink.best.into_iter().flatten().collect(),
    };
    let mut unenforced = sink.unenforced;
    // Each policy's strategy, over its applicable rules that count.
    let strategy = |policy: &Id, kind: RuleKind, hits: &[Hit<'_>]| {
        let has = |k: RuleKind| hits.iter().any(|h| h.policy == policy && h.kind == k);
        let (permissions, prohibitions) = index
            .conflict(policy.as_str())
            .resolve(has(RuleKind::Permission), has(RuleKind::Prohibition));
        match kind {
            RuleKind::Permission => permissions,
            RuleKind::Prohibition => prohibitions,
        }
    };
    let keep: Vec<bool> = hits.iter().map(|h| strategy(h.policy, h.kind, &hits)).collect();
    let mut kept = Vec::with_capacity(hits.len());
    for (h, keep) in hits.into_iter().zip(keep) {
        if keep {
            kept.push(h);
        } else if check.explain {
            unenforced.push(h);
        }
    }
    let mut hits = kept;
    // Prohibitions first, each kind in deciding order.
    hits.sort_by(|a, b| {
        (a.kind != RuleKind::Prohibition)
            .cmp(&(b.kind != RuleKind::Prohibition))
            .then_with(|| a.order(b))
    });
    let (allowed, reason) = match hits.first().map(|h| h.kind) {
        Some(RuleKind::Prohibition) => (false, Reason::Prohibited),
        Some(RuleKind::Permission) => (true, Reason::Permitted),
        None => (false, Reason::NotPermitted),
    };
    let deciding_rule = hits.first().map(|h| h.rule());
    let explanation = check.explain.then(|| {
        let mut names: Vec<Id> = assignees[1..].iter().map(|&a| a.clone()).collect();
        names.sort();
        names.insert(0, check.agent.clone());
        Box::new(Explanation::limited(
            names,
            hits.iter().skip(1).map(|h| h.rule()).collect(),
            Rules::sorted(unenforced.iter().map(|h| h.rule())),
            ConditionNote::sorted(notes.into_iter()),
            check.explain_limit,
        ))
    });
    Decision {
        allowed,
        reason,
        revision: index.revision(),
        deciding_rule,
        explanation,
        action: requested.clone(),
    }
}
