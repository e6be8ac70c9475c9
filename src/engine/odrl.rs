//! The ODRL evaluation over index v2 (Pericarp's PolicyDecisionPoint, made exact).
//!
//! Over the agent and its closure: any applicable prohibition that counts denies
//! (PROHIBITED); else any applicable permission that counts allows (PERMITTED); else deny
//! (NOT_PERMITTED). A permission on X applies to a request for Y when X = Y or X includes Y;
//! a prohibition when X = Y, X includes Y, or Y includes X. Targets match exactly or `*`.
//!
//! The deciding rule is the least applicable rule under the deciding order (prohibitions
//! first; then the agent's own rules, exact target before `*`, exact action before a related
//! one, then the lowest policy, assignee and action in byte order). Ids are integers here;
//! names are compared only when two candidates tie on everything before them.
//!
//! A rule counts when its policy is active and the policy's type enforces the rule's kind
//! ([`crate::domain::policy`]): one mask per policy, read for each rule offered. Rules that
//! apply but do not count for their policy's type are listed in an explanation.
//!
//! A policy's conflict strategy (`odrl:perm`, `odrl:invalid`) can take its own rules out
//! of a check, which only all of its applicable rules tell: while any policy has one, the
//! rules of such policies are all collected and resolved (`resolve`) after the walk, and rows are
//! read whole (a group's later rule may be one of them); every other rule still goes
//! straight to the best of its kind.

use crate::domain::constraint::{Context, Now, Party, Truth};
use crate::domain::policy::kind_bit;
use crate::domain::{Action, Conflict, Decision, RuleKind};
use crate::engine::closure::Closure;
use crate::engine::explained;
use crate::engine::index::{
    CUSTOM_BASE, Head, Index, Node, Pair, RoleSummary, TargetRule, VARIANT_BASE, action_bit, ak_action, ak_kind,
};
use crate::engine::stars::Stars;
use crate::engine::{Check, EngineOptions};
use smallvec::SmallVec;
use std::cmp::Ordering;
use std::sync::LazyLock;

mod hit;
pub(crate) use hit::Hit;
pub(super) use hit::order;

/// A vocabulary action's strict ancestors and descendants, as masks.
#[derive(Default)]
struct Family {
    anc_mask: u64,
    desc_mask: u64,
}

static FAMILIES: LazyLock<Vec<Family>> = LazyLock::new(|| {
    let ids = |xs: &[Action]| -> Vec<u32> {
        xs.iter()
            .map(|a| a.vocabulary_index().expect("the hierarchy is vocabulary") as u32)
            .collect()
    };
    Action::vocabulary()
        .iter()
        .map(|a| Family {
            anc_mask: ids(a.ancestors()).iter().fold(0, |m, &i| m | action_bit(i)),
            desc_mask: ids(a.descendants()).iter().fold(0, |m, &i| m | action_bit(i)),
        })
        .collect()
});

static NO_FAMILY: LazyLock<Family> = LazyLock::new(Family::default);

/// The agent's own id and row, when the index knows the agent.
pub(crate) type Agent<'a> = Option<(u32, &'a Node)>;

/// A vocabulary action's strict ancestors and descendants as masks of vocabulary ids.
pub(crate) fn family_masks(action: u32) -> (u64, u64) {
    FAMILIES
        .get(action as usize)
        .map_or((0, 0), |f| (f.anc_mask, f.desc_mask))
}

/// Which rules apply to a request: the action's id and its family under the hierarchy.
pub(crate) struct Wanted {
    pub action: u32,
    family: &'static Family,
    /// Mask of every action whose rules may apply.
    pub mask: u64,
}

impl Wanted {
    pub(crate) fn new(action: u32, hierarchy: bool) -> Wanted {
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
    pub(crate) fn applies(&self, action: u32, kind: RuleKind) -> Option<bool> {
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
pub(super) struct Sink<'a> {
    index: &'a Index,
    /// The request's context and clock, for rules with constraints.
    context: &'a Context,
    /// The requesting agent, who must have discharged a permission's duties.
    agent: &'a str,
    now: Now,
    /// Explaining: what the constraints of each rule with constraints gave.
    pub(super) conditions: Vec<(Hit, bool, String)>,
    /// Outside explain mode: each variant's verdict, once per check.
    truths: SmallVec<[(u32, Truth); 8]>,
    pub(super) all: Option<Vec<Hit>>,
    /// Explaining: rules that apply but whose active policy's type does not enforce them.
    pub(super) unenforced: Vec<Hit>,
    /// The best prohibition and the best permission so far.
    best: [Option<Hit>; 2],
    /// While some policy has a conflict strategy (and not explaining): every rule of such
    /// a policy, resolved after the collection; the other policies' rules go to `best`.
    strategic: Option<Vec<Hit>>,
}

impl<'a> Sink<'a> {
    /// A sink for `check`: listing every applicable rule, or keeping the best of each kind.
    fn new(index: &'a Index, check: &'a Check, listing: bool) -> Sink<'a> {
        Sink {
            index,
            context: &check.context,
            agent: check.agent.as_str(),
            now: Now::default(),
            conditions: Vec::new(),
            truths: SmallVec::new(),
            all: listing.then(explained::spare_hits),
            unenforced: Vec::new(),
            best: [None, None],
            // A strategy can override or void rules of its policy: outside a listing, every
            // rule of such a policy is needed before the best of each kind is known.
            strategic: (!listing && index.strategies_in_use()).then(Vec::new),
        }
    }
}

impl Sink<'_> {
    /// Offers a rule of policy `policy`; true when it counts (its policy is active and
    /// its type enforces the rule's kind: then, outside explain mode, the rest of its
    /// group, in label order, cannot do better).
    #[inline]
    fn offer(&mut self, mut hit: Hit) -> bool {
        let (rank, effect) = self.index.policy_rank(hit.policy);
        if effect & kind_bit(hit.kind) == 0 {
            if self.all.is_some() && self.index.policy_active(hit.policy) {
                self.unenforced.push(hit);
            }
            return false;
        }
        hit.rank = rank;
        if hit.policy >= VARIANT_BASE && !self.condition_applies(&hit) {
            return false;
        }
        match (&mut self.all, &mut self.strategic) {
            (Some(all), _) => all.push(hit),
            (None, Some(strategic)) if self.index.policy_conflict(hit.policy) != Conflict::Prohibit => {
                strategic.push(hit)
            }
            (None, _) => self.keep_best(hit),
        }
        true
    }

    /// Whether the constraints of a variant's rule let it apply to this check (fail
    /// closed: an unknown constraint keeps a permission out and lets a prohibition in).
    /// Out of line, so a rule without constraints pays one comparison.
    #[inline(never)]
    fn condition_applies(&mut self, hit: &Hit) -> bool {
        let Some(c) = self.index.condition(hit.policy) else {
            return true;
        };
        let prohibition = hit.kind == RuleKind::Prohibition;
        // A permission's duties: discharged by its assignee (the agent, unless the duty
        // names another) within the rule's own policy.
        let index = self.index;
        let policy = index.base(hit.policy);
        let discharged = |uid: &str, by: &str| index.discharged(policy, uid, by);
        let party = Party {
            agent: self.agent,
            discharged: &discharged,
        };
        if self.all.is_some() {
            let verdict = c.evaluate(self.context, &mut self.now, &party);
            let applies = verdict.applies(prohibition);
            self.conditions.push((*hit, applies, verdict.describe()));
            return applies;
        }
        let truth = match self.truths.iter().find(|(p, _)| *p == hit.policy) {
            Some(&(_, t)) => t,
            None => {
                let t = c.truth(self.context, &mut self.now, &party);
                self.truths.push((hit.policy, t));
                t
            }
        };
        truth.applies(prohibition)
    }

    /// Keeps `hit` when it beats the best rule of its kind so far.
    fn keep_best(&mut self, hit: Hit) {
        let slot = &mut self.best[usize::from(hit.kind != RuleKind::Prohibition)];
        if slot
            .as_ref()
            .is_none_or(|b| order(self.index, &hit, b) == Ordering::Less)
        {
            *slot = Some(hit);
        }
    }

    /// True when no rule of `kind` on `*` (assigned to the agent itself when `own`) can
    /// beat the best so far, which is then of an earlier tier of the deciding order: an
    /// own rule before a role's, a rule on the target or one of its collections before one
    /// on `*`. Never while every rule must be offered.
    #[inline]
    fn settled(&self, kind: RuleKind, own: bool) -> bool {
        !self.scan_all()
            && self.best[usize::from(kind != RuleKind::Prohibition)]
                .as_ref()
                .is_some_and(|b| (!b.own, b.level) < (!own, 2))
    }

    /// [`Sink::settled`] for prohibitions and permissions (indexed by `kind != Prohibition`).
    #[inline]
    fn settled_kinds(&self, own: bool) -> [bool; 2] {
        [
            self.settled(RuleKind::Prohibition, own),
            self.settled(RuleKind::Permission, own),
        ]
    }

    /// True when every rule of a group must be offered: explaining, or while a later rule
    /// of a group may belong to a policy whose strategy needs all of its rules.
    fn scan_all(&self) -> bool {
        self.all.is_some() || self.strategic.is_some()
    }
}

/// Offers the rules of one row segment sorted by (action and kind, policy label): in each
/// group of one action and kind, only the first rule of an active policy can decide, so
/// the rest of the group is skipped outside explain mode, and so are the rules of a kind
/// in `settled` (indexed by `kind != Prohibition`: none of them can beat the best).
#[inline]
fn offer_sorted<R>(
    rules: &[R],
    ak_of: impl Fn(&R) -> u32,
    hit_of: impl Fn(&R, RuleKind, bool) -> Hit,
    wanted: &Wanted,
    settled: [bool; 2],
    sink: &mut Sink<'_>,
) {
    let mut i = 0;
    while i < rules.len() {
        let r = &rules[i];
        let ak = ak_of(r);
        let kind = ak_kind(ak);
        // The whole group is passed over when its kind is settled or its action does not
        // apply, and the rest of it once one of its rules counted (outside explain mode).
        let skip = settled[usize::from(kind != RuleKind::Prohibition)]
            || match wanted.applies(ak_action(ak), kind) {
                None => true,
                Some(related) => sink.offer(hit_of(r, kind, related)) && !sink.scan_all(),
            };
        i += 1;
        if skip && rules.get(i).is_some_and(|r| ak_of(r) == ak) {
            // Groups are runs of one action and kind: find where this one ends.
            i += rules[i..].partition_point(|r| ak_of(r) == ak);
        }
    }
}

/// Offers the rules of one target's row (sorted by assignee, then action and kind, then
/// policy label) held by the agent or its closure; `at` is (the agent's id, the level and
/// via of the row's target).
fn offer_row(
    index: &Index,
    row: &[TargetRule],
    at: (u32, u8, u32),
    closure: &Closure<'_>,
    wanted: &Wanted,
    sink: &mut Sink<'_>,
) {
    let (agent_id, level, via) = at;
    let hit = |own: bool, who: u64| {
        move |r: &TargetRule, kind, related| Hit {
            own,
            level,
            via,
            related,
            kind,
            policy: r.policy,
            rank: 0,
            assignee: r.assignee,
            who,
            action: ak_action(r.ak),
        }
    };
    let mut from = 0;
    if row.len() <= 4 * (closure.len() + 1) + 16 {
        // Scan: one segment per assignee.
        while from < row.len() {
            let who = row[from].assignee;
            let to = from + row[from..].iter().take_while(|r| r.assignee == who).count();
            let own = who == agent_id;
            if own || closure.contains(who) {
                let label = index.label_of_node(who, index.node_by_id(who));
                offer_sorted(&row[from..to], |r| r.ak, hit(own, label), wanted, [false; 2], sink);
            }
            from = to;
        }
    } else {
        for (own, id) in std::iter::once((true, agent_id)).chain(closure.role_ids().map(|id| (false, id))) {
            let from = row.partition_point(|r| r.assignee < id);
            let to = from + row[from..].iter().take_while(|r| r.assignee == id).count();
            if to > from {
                let label = index.label_of_node(id, index.node_by_id(id));
                offer_sorted(&row[from..to], |r| r.ak, hit(own, label), wanted, [false; 2], sink);
            }
        }
    }
}

/// Every applicable rule of an active policy is offered to `sink`, but the roles' rules on
/// `*`, which go to `stars` when given (see [`stars`]).
fn collect<'c, 'x: 'c>(
    index: &Index,
    check: &Check,
    agent: Agent<'c>,
    closure: &Closure<'x>,
    wanted: &Wanted,
    sink: &mut Sink<'_>,
    mut stars: Option<&mut Stars<'c>>,
) {
    let Some((agent_id, agent_row)) = agent else {
        // An agent the index does not know holds no rules and no edges.
        return;
    };
    // Rules on the exact target, then on each asset collection it is part of.
    offer_row(
        index,
        closure
            .target_rules
            .unwrap_or_else(|| index.target_rules(check.target.as_str())),
        (agent_id, 0, 0),
        closure,
        wanted,
        sink,
    );
    for (i, c) in closure.targets.iter().enumerate() {
        // Fewer than 2^32 collections fit in memory: the position is exact.
        let via = u32::try_from(i + 1).unwrap_or(u32::MAX);
        offer_row(
            index,
            index.target_rules(c.as_str()),
            (agent_id, 1, via),
            closure,
            wanted,
            sink,
        );
    }
    // Rules on `*`: in each assignee's own row, sorted by action and kind, then policy label;
    // or, with role summaries, in the agent's row and each direct role's heads.
    let roles = if closure.summarized.is_some() {
        &[][..]
    } else {
        &closure.roles[..]
    };
    // When every row is read (explaining, or a strategy in use), each asks for the one a
    // few places ahead, so their loads overlap; a plain check mostly stops early.
    const AHEAD: usize = 8;
    let ahead = sink.scan_all();
    for (i, (own, id, node)) in std::iter::once((true, agent_id, agent_row))
        .chain(roles.iter().map(|&(id, n)| (false, id, n)))
        .enumerate()
    {
        if let Some(&(_, next)) = roles.get(i + AHEAD).filter(|_| ahead) {
            next.prefetch_star();
        }
        if node.star_mask & wanted.mask == 0 {
            continue;
        }
        let settled = sink.settled_kinds(own);
        if settled == [true, true] {
            if own {
                continue;
            }
            // Every later row is a role's: settled for it too.
            break;
        }
        let label = index.label_of_node(id, node);
        let hit = |r: &Pair, kind, related| Hit::on_star(own, (id, label), r.1, ak_action(r.0), kind, related);
        // One group per action present in the row and wanted by the request.
        let mut present = node.star_mask & wanted.mask;
        while present != 0 {
            let bit = present.trailing_zeros();
            present &= present - 1;
            let group = node.star_group(bit);
            if let Some(stars) = stars.as_deref_mut().filter(|_| !own) {
                stars.add(index, group, (id, label), wanted, &mut sink.unenforced);
                continue;
            }
            if bit == 63 {
                // Every custom action shares bit 63: find the requested one.
                let from = group.partition_point(|r| ak_action(r.0) < wanted.action);
                let to = from
                    + group[from..]
                        .iter()
                        .take_while(|r| ak_action(r.0) == wanted.action)
                        .count();
                offer_sorted(&group[from..to], |r| r.0, hit, wanted, settled, sink);
            } else {
                offer_sorted(group, |r| r.0, hit, wanted, settled, sink);
            }
        }
    }
    if let Some(summaries) = &closure.summarized {
        offer_heads(summaries, wanted, sink);
    }
}

/// Offers the rules on `*` of the roles in a summarised closure: each direct role's heads
/// (its closure's least rule per action and kind, and every rule with a condition).
fn offer_heads(summaries: &[&RoleSummary], wanted: &Wanted, sink: &mut Sink<'_>) {
    for s in summaries {
        if s.mask & wanted.mask == 0 {
            continue;
        }
        let settled = sink.settled_kinds(false);
        if settled == [true, true] {
            return;
        }
        let mut present = s.mask & wanted.mask;
        while present != 0 {
            let bit = present.trailing_zeros();
            present &= present - 1;
            offer_group(s.group(bit), settled, wanted, sink);
        }
    }
}

/// Offers one action's heads of a role summary (their kinds in `settled` aside).
#[inline]
fn offer_group(heads: &[Head], settled: [bool; 2], wanted: &Wanted, sink: &mut Sink<'_>) {
    for h in heads {
        let kind = ak_kind(h.ak);
        if settled[usize::from(kind != RuleKind::Prohibition)] {
            continue;
        }
        if let Some(related) = wanted.applies(ak_action(h.ak), kind) {
            sink.offer(Hit::on_star(
                false,
                (h.assignee, h.who),
                h.policy,
                ak_action(h.ak),
                kind,
                related,
            ));
        }
    }
}

/// What the check's action asks for; `None` for a custom action no rule uses.
fn wanted(index: &Index, check: &Check, opts: &EngineOptions) -> Option<Wanted> {
    let action = index.action_id(&check.action)?;
    Some(Wanted::new(action, opts.action_hierarchy))
}

/// A sink ([`Sink::new`]) that every applicable rule of an active policy was offered to;
/// `None` for a custom action no rule uses (nothing can apply).
pub(super) fn collected<'a, 'c, 'x: 'c>(
    index: &'a Index,
    check: &'a Check,
    agent: Agent<'c>,
    closure: &Closure<'x>,
    opts: &EngineOptions,
    listing: bool,
    stars: Option<&mut Stars<'c>>,
) -> Option<Sink<'a>> {
    let wanted = wanted(index, check, opts)?;
    let mut sink = Sink::new(index, check, listing);
    collect(index, check, agent, closure, &wanted, &mut sink, stars);
    Some(sink)
}

/// Applies each policy's conflict strategy to `hits` (every applicable rule that counts):
/// in a `perm` policy with an applicable permission its prohibitions are overridden; in an
/// `invalid` policy with both kinds every one of its rules is void. Returns the rules taken
/// out (docs/CONTRACT.md §1, "Conflict strategies").
pub(super) fn resolve(index: &Index, hits: &mut Vec<Hit>) -> Vec<Hit> {
    // (policy, has a permission, has a prohibition) of the policies with a strategy.
    let mut seen: SmallVec<[(u32, bool, bool); 8]> = SmallVec::new();
    for h in hits.iter() {
        if index.policy_conflict(h.policy) == Conflict::Prohibit {
            continue;
        }
        let policy = index.base(h.policy);
        let at = match seen.iter().position(|s| s.0 == policy) {
            Some(at) => at,
            None => {
                seen.push((policy, false, false));
                seen.len() - 1
            }
        };
        match h.kind {
            RuleKind::Permission => seen[at].1 = true,
            RuleKind::Prohibition => seen[at].2 = true,
        }
    }
    let mut out = Vec::new();
    hits.retain(|h| {
        let policy = index.base(h.policy);
        let Some(&(_, permit, prohibit)) = seen.iter().find(|s| s.0 == policy) else {
            return true;
        };
        let (permissions, prohibitions) = index.policy_conflict(h.policy).resolve(permit, prohibit);
        let keep = match h.kind {
            RuleKind::Permission => permissions,
            RuleKind::Prohibition => prohibitions,
        };
        if !keep {
            out.push(*h);
        }
        keep
    });
    out
}

/// Evaluates a check whose gates passed, over the agent and its closure.
pub(crate) fn evaluate(
    index: &Index,
    check: &Check,
    agent: Agent<'_>,
    closure: &Closure<'_>,
    opts: &EngineOptions,
) -> Decision {
    if check.explain {
        let all = explained::hits(index, check, agent, closure, opts);
        return explained::decision_from_hits(index, check, closure, &all);
    }
    explained::decision(
        index,
        check,
        closure,
        (&best(index, check, agent, closure, opts), 0),
        &[],
        &[],
    )
}

/// The best applicable prohibition and the best applicable permission, in that order
/// (either may be missing): the first one decides. Stops reading a kind's rules once
/// its best is known, unless a conflict strategy needs every rule of a policy.
pub(crate) fn best(
    index: &Index,
    check: &Check,
    agent: Agent<'_>,
    closure: &Closure<'_>,
    opts: &EngineOptions,
) -> Best {
    // As `collected`, with the sink built here: returned in an `Option`, its ~290 bytes
    // were copied twice a check.
    let Some(wanted) = wanted(index, check, opts) else {
        return Best::new();
    };
    let mut sink = Sink::new(index, check, false);
    collect(index, check, agent, closure, &wanted, &mut sink, None);
    if let Some(mut strategic) = sink.strategic.take() {
        resolve(index, &mut strategic);
        for hit in strategic {
            sink.keep_best(hit);
        }
    }
    sink.best.into_iter().flatten().collect()
}

/// The best prohibition and the best permission, in that order (either may be missing).
pub(crate) type Best = SmallVec<[Hit; 2]>;
