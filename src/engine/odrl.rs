//! The ODRL evaluation (Pericarp's PolicyDecisionPoint, made exact).
//!
//! Over the agent and its closure: any applicable prohibition of an active policy denies
//! (PROHIBITED); else any applicable permission allows (PERMITTED); else deny
//! (NOT_PERMITTED). A permission on X applies to a request for Y when X = Y or X includes Y;
//! a prohibition when X = Y, X includes Y, or Y includes X. Targets match exactly or `*`.

use crate::domain::{Decision, EntityKind, Explanation, Id, Reason, Rule, RuleKind, Target};
use crate::engine::index::{ANY, Index};
use crate::engine::{Check, EngineOptions};
use std::cmp::Ordering;

/// A rule that applies to the request, with what the deciding order needs.
struct Hit<'a> {
    own: bool,
    star: bool,
    related: bool,
    kind: RuleKind,
    policy: &'a Id,
    assignee: &'a Id,
    action: &'a crate::domain::Action,
}

impl Hit<'_> {
    /// Deciding order: the agent's own rules first, exact target before `*`, exact action
    /// before a related one, then lowest (policy, assignee, action IRI) in byte order.
    fn order(&self, other: &Hit<'_>) -> Ordering {
        (
            !self.own,
            self.star,
            self.related,
            self.policy.as_str(),
            self.assignee.as_str(),
            self.action.as_str(),
        )
            .cmp(&(
                !other.own,
                other.star,
                other.related,
                other.policy.as_str(),
                other.assignee.as_str(),
                other.action.as_str(),
            ))
    }

    fn rule(&self, target: &Id) -> Rule {
        Rule {
            policy: self.policy.clone(),
            kind: self.kind,
            assignee: self.assignee.clone(),
            action: self.action.clone(),
            target: if self.star {
                Target::Any
            } else {
                Target::One(target.clone())
            },
        }
    }
}

/// Evaluates a check whose gates passed, over `assignees` (the agent first).
pub fn evaluate(index: &Index, check: &Check, assignees: &[&Id], opts: &EngineOptions) -> Decision {
    let requested = &check.action;
    let related: &[crate::domain::Action] = if opts.action_hierarchy {
        requested.ancestors()
    } else {
        &[]
    };
    let mut hits: Vec<Hit<'_>> = Vec::new();
    for (i, &assignee) in assignees.iter().enumerate() {
        let own = i == 0;
        for (tkey, star) in [(check.target.as_str(), false), (ANY, true)] {
            for (j, action) in std::iter::once(requested).chain(related).enumerate() {
                if let Some(set) = index.rules_at(assignee.as_str(), tkey, action.as_str()) {
                    for (policy, kind) in set.iter() {
                        if index.is_active(EntityKind::Policy, policy.as_str()) {
                            hits.push(Hit {
                                own,
                                star,
                                related: j > 0,
                                kind: *kind,
                                policy,
                                assignee,
                                action,
                            });
                        }
                    }
                }
            }
            if opts.action_hierarchy
                && let Some(set) = index.prohibitions_below(assignee.as_str(), tkey, requested.as_str())
            {
                for (policy, action) in set.iter() {
                    if index.is_active(EntityKind::Policy, policy.as_str()) {
                        hits.push(Hit {
                            own,
                            star,
                            related: true,
                            kind: RuleKind::Prohibition,
                            policy,
                            assignee,
                            action,
                        });
                    }
                }
            }
        }
    }
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
    let deciding_rule = hits.first().map(|h| h.rule(&check.target));
    let explanation = check.explain.then(|| {
        let mut names: Vec<Id> = assignees[1..].iter().map(|&a| a.clone()).collect();
        names.sort();
        names.insert(0, check.agent.clone());
        Explanation {
            assignees: names,
            other_rules: hits.iter().skip(1).map(|h| h.rule(&check.target)).collect(),
        }
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
