//! The ODRL evaluation over index v2 (Pericarp's PolicyDecisionPoint, made exact).
//!
//! Over the agent and its closure: any applicable prohibition of an active policy denies
//! (PROHIBITED); else any applicable permission allows (PERMITTED); else deny
//! (NOT_PERMITTED). A permission on X applies to a request for Y when X = Y or X includes Y;
//! a prohibition when X = Y, X includes Y, or Y includes X. Targets match exactly or `*`.
//!
//! The deciding rule is the least applicable rule under the deciding order (prohibitions
//! first; then the agent's own rules, exact target before `*`, exact action before a related
//! one, then the lowest policy, assignee and action in byte order). Ids are integers here;
//! names are compared only when two candidates tie on everything before them, and a policy's
//! status is looked up only for a candidate that would become the best so far (and never
//! while no policy is inactive).

use crate::domain::{Action, Decision, Explanation, Id, Reason, Rule, RuleKind, Target};
use crate::engine::index::{CUSTOM_BASE, Index, Node, action_bit, ak_action, ak_kind};
use crate::engine::{Check, EngineOptions};
use std::cmp::Ordering;
use std::sync::LazyLock;

/// A vocabulary action's strict ancestors and descendants, as masks and as ids.
#[derive(Default)]
struct Family {
    anc_mask: u64,
    desc_mask: u64,
    anc: Vec<u32>,
    desc: Vec<u32>,
}

static FAMILIES: LazyLock<Vec<Family>> = LazyLock::new(|| {
    let ids = |xs: &[Action]| -> Vec<u32> {
        xs.iter()
            .map(|a| a.vocabulary_index().expect("the hierarchy is vocabulary") as u32)
            .collect()
    };
    Action::vocabulary()
        .iter()
        .map(|a| {
            let anc = ids(a.ancestors());
            let desc = ids(a.descendants());
            Family {
                anc_mask: anc.iter().fold(0, |m, &i| m | action_bit(i)),
                desc_mask: desc.iter().fold(0, |m, &i| m | action_bit(i)),
                anc,
                desc,
            }
        })
        .collect()
});

static NO_FAMILY: LazyLock<Family> = LazyLock::new(Family::default);

/// The agent's own id and row, when the index knows the agent.
pub(crate) type Agent<'a> = Option<(u32, &'a Node)>;

/// The roles an agent's edges reach (the agent excluded), in breadth-first order, and the
/// same ids sorted for membership tests.
pub(crate) struct Closure<'a> {
    pub roles: Vec<(u32, &'a Node)>,
    pub sorted: Vec<u32>,
}

impl Closure<'_> {
    fn contains(&self, id: u32) -> bool {
        if self.sorted.len() <= 16 {
            self.sorted.contains(&id)
        } else {
            self.sorted.binary_search(&id).is_ok()
        }
    }
}

/// A rule that applies to the request, with what the deciding order needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub own: bool,
    pub star: bool,
    pub related: bool,
    pub kind: RuleKind,
    pub policy: u32,
    /// The assignee's node id (the agent's for an own rule).
    pub assignee: u32,
    pub action: u32,
}

/// The deciding order within one kind (see the module docs).
fn order(index: &Index, a: &Hit, b: &Hit) -> Ordering {
    (!a.own, a.star, a.related)
        .cmp(&(!b.own, b.star, b.related))
        .then_with(|| {
            if a.policy == b.policy {
                Ordering::Equal
            } else {
                index.policy_name(a.policy).cmp(index.policy_name(b.policy))
            }
        })
        .then_with(|| {
            if a.assignee == b.assignee {
                Ordering::Equal
            } else {
                index
                    .node_by_id(a.assignee)
                    .name
                    .cmp(&index.node_by_id(b.assignee).name)
            }
        })
        .then_with(|| match (a.action, b.action) {
            (x, y) if x == y => Ordering::Equal,
            // Vocabulary ids are positions in IRI order.
            (x, y) if x < CUSTOM_BASE && y < CUSTOM_BASE => x.cmp(&y),
            (x, y) => index.action(x).as_str().cmp(index.action(y).as_str()),
        })
}

/// Which rules apply to a request: the action's id and its family under the hierarchy.
struct Wanted {
    action: u32,
    family: &'static Family,
    /// Mask of every action whose rules may apply.
    mask: u64,
}

impl Wanted {
    fn new(action: u32, hierarchy: bool) -> Wanted {
        let family: &'static Family = if hierarchy && action < CUSTOM_BASE {
            &FAMILIES[action as usize]
        } else {
            &NO_FAMILY
        };
        Wanted {
            action,
            family,
            mask: action_bit(action) | family.anc_mask | family.desc_mask,
        }
    }

    /// `Some(related)` when a rule on `action` of `kind` applies.
    #[inline]
    fn applies(&self, action: u32, kind: RuleKind) -> Option<bool> {
        if action == self.action {
            return Some(false);
        }
        if action >= CUSTOM_BASE {
            return None;
        }
        let bit = 1u64 << action;
        if self.family.anc_mask & bit != 0 || (kind == RuleKind::Prohibition && self.family.desc_mask & bit != 0) {
            Some(true)
        } else {
            None
        }
    }
}

/// Where applicable rules go: every one (an explanation lists them all), or only the best
/// of each kind.
struct Sink<'a> {
    index: &'a Index,
    all: Option<Vec<Hit>>,
    /// The best prohibition and the best permission so far.
    best: [Option<Hit>; 2],
}

impl Sink<'_> {
    #[inline]
    fn add(&mut self, hit: Hit) {
        match &mut self.all {
            Some(all) => {
                if self.index.policy_active(hit.policy) {
                    all.push(hit);
                }
            }
            None => {
                let slot = &mut self.best[usize::from(hit.kind != RuleKind::Prohibition)];
                if slot
                    .as_ref()
                    .is_none_or(|b| order(self.index, &hit, b) == Ordering::Less)
                    && self.index.policy_active(hit.policy)
                {
                    *slot = Some(hit);
                }
            }
        }
    }
}

/// Every applicable rule of an active policy is passed to `sink`.
fn collect(
    index: &Index,
    check: &Check,
    agent: Agent<'_>,
    closure: &Closure<'_>,
    wanted: &Wanted,
    sink: &mut Sink<'_>,
) {
    let Some((agent_id, agent_row)) = agent else {
        // An agent the index does not know holds no rules and no edges.
        return;
    };
    // Rules on the exact target: one row, sorted by assignee.
    let row = index.target_rules(check.target.as_str());
    let mut take = |r: &crate::engine::index::TargetRule, own: bool| {
        let kind = ak_kind(r.ak);
        if let Some(related) = wanted.applies(ak_action(r.ak), kind) {
            sink.add(Hit {
                own,
                star: false,
                related,
                kind,
                policy: r.policy,
                assignee: r.assignee,
                action: ak_action(r.ak),
            });
        }
    };
    if row.len() <= 4 * (closure.sorted.len() + 1) + 16 {
        for r in row {
            if r.assignee == agent_id {
                take(r, true);
            } else if closure.contains(r.assignee) {
                take(r, false);
            }
        }
    } else {
        for (own, id) in std::iter::once((true, agent_id)).chain(closure.sorted.iter().map(|&id| (false, id))) {
            let from = row.partition_point(|r| r.assignee < id);
            for r in row[from..].iter().take_while(|r| r.assignee == id) {
                take(r, own);
            }
        }
    }
    // Rules on `*`: in each assignee's own row.
    for (own, id, node) in
        std::iter::once((true, agent_id, agent_row)).chain(closure.roles.iter().map(|&(id, n)| (false, id, n)))
    {
        if node.star_mask & wanted.mask == 0 {
            continue;
        }
        let mut take = |r: &crate::engine::index::StarRule| {
            let kind = ak_kind(r.ak);
            if let Some(related) = wanted.applies(ak_action(r.ak), kind) {
                sink.add(Hit {
                    own,
                    star: true,
                    related,
                    kind,
                    policy: r.policy,
                    assignee: id,
                    action: ak_action(r.ak),
                });
            }
        };
        if node.star.len() <= 16 {
            node.star.iter().for_each(&mut take);
        } else {
            let family = wanted.family;
            for &action in std::iter::once(&wanted.action).chain(&family.anc).chain(&family.desc) {
                let from = node.star.partition_point(|r| ak_action(r.ak) < action);
                for r in node.star[from..].iter().take_while(|r| ak_action(r.ak) == action) {
                    take(r);
                }
            }
        }
    }
}

/// The rule a hit stands for.
fn render(index: &Index, check: &Check, hit: &Hit) -> Rule {
    Rule {
        policy: index.policy_name(hit.policy).clone(),
        kind: hit.kind,
        assignee: if hit.own {
            check.agent.clone()
        } else {
            index.node_by_id(hit.assignee).name.clone()
        },
        action: index.action(hit.action).clone(),
        target: if hit.star {
            Target::Any
        } else {
            Target::One(check.target.clone())
        },
    }
}

/// Every applicable rule of an active policy, prohibitions first, each kind in deciding
/// order. What an explanation lists, and the rows the Casbin engine is given.
pub(crate) fn hits(
    index: &Index,
    check: &Check,
    agent: Agent<'_>,
    closure: &Closure<'_>,
    opts: &EngineOptions,
) -> Vec<Hit> {
    let Some(action) = index.action_id(&check.action) else {
        return Vec::new();
    };
    let wanted = Wanted::new(action, opts.action_hierarchy);
    let mut sink = Sink {
        index,
        all: Some(Vec::new()),
        best: [None, None],
    };
    collect(index, check, agent, closure, &wanted, &mut sink);
    let mut all = sink.all.unwrap_or_default();
    all.sort_by(|a, b| {
        (a.kind != RuleKind::Prohibition)
            .cmp(&(b.kind != RuleKind::Prohibition))
            .then_with(|| order(index, a, b))
    });
    all
}

/// Evaluates a check whose gates passed, over the agent and its closure.
pub(crate) fn evaluate(
    index: &Index,
    check: &Check,
    agent: Agent<'_>,
    closure: &Closure<'_>,
    opts: &EngineOptions,
) -> Decision {
    let ranked: Vec<Hit> = if check.explain {
        hits(index, check, agent, closure, opts)
    } else {
        // A custom action no rule uses: nothing can apply.
        match index.action_id(&check.action) {
            Some(action) => {
                let wanted = Wanted::new(action, opts.action_hierarchy);
                let mut sink = Sink {
                    index,
                    all: None,
                    best: [None, None],
                };
                collect(index, check, agent, closure, &wanted, &mut sink);
                sink.best.into_iter().flatten().collect()
            }
            None => Vec::new(),
        }
    };
    let (allowed, reason) = match ranked.first().map(|h| h.kind) {
        Some(RuleKind::Prohibition) => (false, Reason::Prohibited),
        Some(RuleKind::Permission) => (true, Reason::Permitted),
        None => (false, Reason::NotPermitted),
    };
    let deciding_rule = ranked.first().map(|h| render(index, check, h));
    let explanation = check.explain.then(|| {
        let mut names: Vec<Id> = closure.roles.iter().map(|(_, n)| n.name.clone()).collect();
        names.sort();
        names.insert(0, check.agent.clone());
        Explanation {
            assignees: names,
            other_rules: ranked.iter().skip(1).map(|h| render(index, check, h)).collect(),
        }
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

/// The Casbin `p` rows a request can match, from the index: one per applicable rule of an
/// active policy, `[assignee, *, action, target or *, allow|deny]`, without duplicates.
pub(crate) fn casbin_rows(
    index: &Index,
    check: &Check,
    agent: Agent<'_>,
    closure: &Closure<'_>,
    opts: &EngineOptions,
) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = hits(index, check, agent, closure, opts)
        .iter()
        .map(|h| {
            let sub = if h.own {
                check.agent.to_string()
            } else {
                index.node_by_id(h.assignee).name.to_string()
            };
            let obj = if h.star { "*" } else { check.target.as_str() };
            let eft = if h.kind == RuleKind::Prohibition {
                "deny"
            } else {
                "allow"
            };
            vec![sub, "*".into(), check.action.to_string(), obj.into(), eft.into()]
        })
        .collect();
    rows.sort();
    rows.dedup();
    rows
}
