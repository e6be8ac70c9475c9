//! Per-role summaries: each role's closure and the best rule on `*` of each action and
//! kind among the roles in it, precomputed so that a check pays per role the agent holds,
//! not per role in its closure (Zanzibar's Leopard idea, per role, not per agent).
//!
//! A role's *closure* here is the role and every node its global edges reach. An agent's
//! global closure is the union of its direct roles' closures (what `closure_of` walks),
//! and the rule on `*` that decides among roles' rules is the least, in the deciding
//! order, of each direct role's least rule per action and kind (within one action and
//! kind, roles' rules on `*` are ordered by policy label, then assignee label; both are
//! integers in the names' byte order, so a label read at build time still orders two
//! heads right after later names are labelled between them).
//!
//! Agents holding many roles (at least [`AGENT_SUMMARY_ROLES`], or at least
//! [`AGENT_SUMMARY_BIG_ROLES`] whose closures together list more than
//! [`AGENT_SUMMARY_BIG_CLOSURES`] roles) get a summary of their own too, over the union of
//! their direct roles' closures (merged from those roles' summaries, which the validator
//! checks against a scan of the union's rules), its closure held only as bits: a check
//! for such an agent reads one summary instead of one per direct role (dozens of cold rows
//! on an organisation whose roles per agent follow a power law). An agent's edges do not drop
//! the summaries, so an agent summary keeps the direct roles it was built from and stands
//! for the agent only while the agent's row still lists exactly those (in an account, the
//! summaries of the roles its account entries reach join it, as they join the direct
//! roles' otherwise).
//!
//! Summaries are derived data, exact only for the facts they were built from. They are
//! built at the end of a bulk load and when asked ([`Index::summarize`]), and a write that
//! could change one drops them all (see [`Index::apply`]): a rule on `*`, a global or
//! account edge, or a membership on a role's row, or a policy's effect changing. Anything
//! they cannot answer exactly the check answers by walking: a direct role with no summary
//! (it became a role later), an account check where some summarised role has account
//! entries, explain mode, conflict strategies in use. Rules with a condition have heads
//! per variant (policy and condition), so the condition is evaluated per check as on the
//! walk: the variant's rules apply together or not at all, and the least of them decides.

use super::background::Background;
use super::{Index, VARIANT_BASE, action_bit, ak_action, ak_kind};
use crate::domain::{Change, EntityKind, Id, Target};
use crate::engine::prefetch;
use std::sync::Arc;

/// A role's least rule on `*` of one action and kind among its closure (of one variant,
/// for rules with a condition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// Action and kind ([`super::action_kind`]).
    pub ak: u32,
    pub policy: u32,
    /// The node the rule is assigned to.
    pub assignee: u32,
    /// The assignee's label when the summaries were built (see the module docs).
    pub who: u64,
}

/// What a check needs of one role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RoleSummary {
    /// The role and every node its global edges reach, sorted; empty in an agent's summary
    /// (`listed` false), which has its closure only as bits.
    pub closure: Box<[u32]>,
    /// The closure is listed in `closure` (every role's summary): a check may list it
    /// instead of ORing bits. An agent's summary is built only for a big closure, which a
    /// check ORs as bits anyway, and half of it would be the list.
    pub listed: bool,
    /// The same closure as a bit set over the roles' summary numbers: (word, bits) for
    /// each word with a bit set, by word.
    pub words: Box<[(u32, u64)]>,
    /// Some node of the closure has an account entry (an account check then walks).
    pub accounts: bool,
    /// Every node of the closure has a number (always so while global edges point only at
    /// roles); a check through an incomplete summary walks instead.
    pub complete: bool,
    /// The actions of `heads` ([`action_bit`]s).
    pub mask: u64,
    /// Per action and kind, the least rule on `*` without a condition of a policy whose
    /// effect counts it, and per variant (policy and condition) the least such rule with a
    /// condition; sorted by action and kind, then policy.
    heads: Box<[Head]>,
    /// For the k-th set bit of `mask`, where that action's heads start in `heads` (every
    /// custom action's, for bit 63); then `heads.len()`.
    starts: Box<[u32]>,
}

impl RoleSummary {
    /// Starts loading the first line of what a check reads of this summary past its
    /// header: its closure (`listed`, or as bits) and, when it has rules on `*`, where each
    /// action's heads start and the heads.
    #[inline]
    pub(crate) fn prefetch_parts(&self, listed: bool) {
        if listed {
            prefetch::line(self.closure.as_ptr());
        } else {
            prefetch::line(self.words.as_ptr());
        }
        if self.mask != 0 {
            prefetch::line(self.starts.as_ptr());
            prefetch::line(self.heads.as_ptr());
            // Which action's heads a check reads is known later: the first eight lines.
            let bytes = std::mem::size_of_val(&*self.heads).min(512);
            let p = self.heads.as_ptr().cast::<u8>();
            for at in (64..bytes).step_by(64) {
                prefetch::line(p.wrapping_add(at));
            }
        }
    }

    /// The heads of one action (every custom action's, for bit 63), given that `bit` is set
    /// in `mask`.
    #[inline]
    pub(crate) fn group(&self, bit: u32) -> &[Head] {
        let k = (self.mask & ((1u64 << bit) - 1)).count_ones() as usize;
        &self.heads[self.starts[k] as usize..self.starts[k + 1] as usize]
    }
}

/// Agents holding at least this many roles get a summary of their own (see the module
/// docs); [`Index::set_agent_summary_roles`] changes it (tests summarise every agent).
pub(crate) const AGENT_SUMMARY_ROLES: usize = 16;

/// Agents holding at least this many roles (and fewer than [`AGENT_SUMMARY_ROLES`]) get a
/// summary of their own too when their direct roles' closures together list more than
/// [`AGENT_SUMMARY_BIG_CLOSURES`] roles: a check would otherwise OR that many roles' bit
/// sets and read as many summaries, where one summary answers it (the deep organisation's
/// slowest checks).
pub(crate) const AGENT_SUMMARY_BIG_ROLES: usize = 4;

/// See [`AGENT_SUMMARY_BIG_ROLES`]. On the deep benchmark organisation at 1M rules (docs/
/// BENCHMARKS.md, 2026-12-04): past 128, the slowest 1% of checks ~25% faster for 4 MB
/// more RSS; past 64 (twice the agents), 18 MB more, which point 3 of issue 14 has no room
/// for.
pub(crate) const AGENT_SUMMARY_BIG_CLOSURES: usize = 128;

/// Past this many ids in the direct roles' closures together, a check ORs their bit sets
/// instead of listing the ids (`closure::summarized_closure`).
pub(crate) const LISTED: usize = 64;

/// In `Summaries::at`: the entry is an agent's, at this bit's complement in `agents`.
const AGENT: u32 = 1 << 31;

/// An agent's summary: its direct roles' closures as one.
#[derive(Debug)]
struct AgentSummary {
    /// The targets of the agent's global edges when it was built, in its row's order.
    direct: Box<[u32]>,
    summary: RoleSummary,
}

/// Every role's summary, as of the facts they were built from.
#[derive(Debug, Default)]
pub(crate) struct Summaries {
    /// Node id → 1 + its summary's position in `roles`, or [`AGENT`] | its position in
    /// `agents` (0: none; ids past the end: nodes added since).
    at: Vec<u32>,
    roles: Vec<RoleSummary>,
    /// Summary number → node id.
    ids: Vec<u32>,
    agents: Vec<AgentSummary>,
}

impl Summaries {
    /// The summary of node `id`, when it was a role when these were built.
    #[inline]
    pub(crate) fn of(&self, id: u32) -> Option<&RoleSummary> {
        self.number(id).map(|n| self.by_number(n))
    }

    /// The summary of agent `id` whose global edges are `direct`, when it has one built
    /// from those very edges.
    #[inline]
    pub(crate) fn of_agent(&self, id: u32, direct: &[super::Pair]) -> Option<&RoleSummary> {
        let &i = self.at.get(id as usize)?;
        if i & AGENT == 0 {
            return None;
        }
        let a = &self.agents[(i & !AGENT) as usize];
        // Its parts are read next if it stands for the agent: started with the check.
        prefetch::line(a.direct.as_ptr());
        a.summary.prefetch_parts(false);
        (a.direct.len() == direct.len() && a.direct.iter().zip(direct).all(|(&r, e)| r == e.0)).then_some(&a.summary)
    }

    /// Summarises every role of `index`, and every agent holding many.
    pub(crate) fn build(index: &Index) -> Summaries {
        let n = index.node_count();
        let mut at = vec![0u32; n];
        let mut roles = Vec::new();
        // Stamp per node: the role whose closure last reached it (+1).
        let mut seen = vec![0u32; n];
        let mut queue: Vec<u32> = Vec::new();
        let mut heads: Vec<Head> = Vec::new();
        for id in 0..n as u32 {
            if !index.node_by_id(id).role {
                continue;
            }
            queue.clear();
            queue.push(id);
            seen[id as usize] = id + 1;
            let mut next = 0;
            while let Some(&x) = queue.get(next) {
                next += 1;
                for e in index.node_by_id(x).global() {
                    if seen[e.0 as usize] != id + 1 {
                        seen[e.0 as usize] = id + 1;
                        queue.push(e.0);
                    }
                }
            }
            let mut closure = queue.clone();
            closure.sort_unstable();
            roles.push(summarize(index, closure, &mut heads));
            at[id as usize] = roles.len() as u32;
        }
        // Every node of a closure is a role (global edges point at roles: `validate`), so it
        // has a number. Were one not, the summary could not stand for that closure: checks
        // through it walk instead.
        for role in &mut roles {
            number(role, &at);
        }
        let ids = (0..n as u32)
            .filter(|&id| role_number(at[id as usize]).is_some())
            .collect();
        let (mut agents, mut keyed) = (Vec::new(), Vec::new());
        for id in 0..n as u32 {
            let node = index.node_by_id(id);
            let held = node.global().len();
            if node.role || held < index.agent_summary_roles.min(AGENT_SUMMARY_BIG_ROLES) {
                continue;
            }
            let direct: Box<[u32]> = node.global().iter().map(|e| e.0).collect();
            // Only over direct roles that have summaries (a node that is not a role would
            // make a check walk: so does this agent's, without a summary of its own).
            let Some(parts) = direct
                .iter()
                .map(|&r| role_number(at[r as usize]).map(|k| &roles[k]))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            // Below the usual count, only where the direct roles' closures are big.
            let listed: usize = parts.iter().map(|p| p.closure.len()).sum();
            if held < index.agent_summary_roles && listed <= AGENT_SUMMARY_BIG_CLOSURES {
                continue;
            }
            // Stamped with the agent's id + 1, which no role's stamp is.
            let mut closure = Vec::new();
            for &x in parts.iter().flat_map(|p| p.closure.iter()) {
                if seen[x as usize] != id + 1 {
                    seen[x as usize] = id + 1;
                    closure.push(x);
                }
            }
            closure.sort_unstable();
            let mut summary = merge(index, closure, &parts, (&mut heads, &mut keyed));
            number(&mut summary, &at);
            // A check ORs its bits (see `listed`).
            (summary.closure, summary.listed) = (Box::default(), false);
            at[id as usize] = AGENT | agents.len() as u32;
            agents.push(AgentSummary { direct, summary });
        }
        Summaries { at, roles, ids, agents }
    }
    /// The summary number of node `id` (its position among the roles summarised), if it
    /// has a summary.
    #[inline]
    pub(crate) fn number(&self, id: u32) -> Option<usize> {
        self.at.get(id as usize).and_then(|&i| role_number(i))
    }

    /// Starts loading where node `id`'s summary number is ([`crate::engine::prefetch`]).
    #[inline]
    pub(crate) fn prefetch_number(&self, id: u32) {
        if let Some(i) = self.at.get(id as usize) {
            prefetch::value(i);
        }
    }

    /// Starts loading the header of summary number `n` (from [`Summaries::number`]).
    #[inline]
    pub(crate) fn prefetch_summary(&self, n: usize) {
        if let Some(s) = self.roles.get(n) {
            prefetch::value(s);
        }
    }

    /// The summary numbered `n` (from [`Summaries::number`]).
    #[inline]
    pub(crate) fn by_number(&self, n: usize) -> &RoleSummary {
        &self.roles[n]
    }

    /// The node id of summary number `n`.
    #[inline]
    pub(crate) fn node_of(&self, n: usize) -> u32 {
        self.ids[n]
    }

    /// How many 64-bit words a bit set over the summary numbers takes.
    pub(crate) fn words(&self) -> usize {
        self.roles.len().div_ceil(64)
    }

    /// What differs between these summaries and ones built afresh from the same facts
    /// (`index`'s), if anything: every role summarised here must be summarised alike there
    /// (labels aside: they may have been renumbered since, in the same order), and so must
    /// every agent whose summary still stands for it (its row lists the roles it was built
    /// from). Roles added since have no summary here, which is allowed (a check walks for
    /// them), and so is an agent summary its row no longer matches (a check ignores it) or
    /// of a node marked a role since.
    pub(crate) fn differs(&self, fresh: &Summaries, index: &Index) -> Option<String> {
        let plain = |s: &RoleSummary| {
            let mut s = s.clone();
            s.heads.iter_mut().for_each(|h| h.who = 0);
            s.starts = Box::default();
            // Numbers shift when roles are added; the bits are checked against the ids.
            s.words = Box::default();
            s
        };
        (0..self.at.len() as u32).find_map(|id| {
            let (mine_is_agent, mine, theirs) = match self.of(id) {
                Some(mine) => (false, mine, fresh.of(id)),
                // A node marked a role since is no check's agent (the gate refuses it).
                None if index.node_by_id(id).role => return None,
                None => {
                    let direct = index.node_by_id(id).global();
                    let mine = self.of_agent(id, direct)?;
                    (true, mine, fresh.of_agent(id, direct))
                }
            };
            let mut from_bits: Vec<u32> = mine
                .words
                .iter()
                .flat_map(|&(w, bits)| {
                    (0..64)
                        .filter(move |b| bits >> b & 1 == 1)
                        .map(move |b| (w * 64 + b) as usize)
                })
                .map(|n| self.node_of(n))
                .collect();
            from_bits.sort_unstable();
            let what = if mine_is_agent { "agent" } else { "role" };
            // An agent's closure is not listed: it is the union of its direct roles'.
            let listed: Vec<u32> = match mine_is_agent {
                false => mine.closure.to_vec(),
                true => {
                    let mut union = Vec::new();
                    for e in index.node_by_id(id).global() {
                        let Some(role) = self.of(e.0) else {
                            return Some(format!("agent {id}: its direct role {} has no summary", e.0));
                        };
                        union.extend_from_slice(&role.closure);
                    }
                    union.sort_unstable();
                    union.dedup();
                    union
                }
            };
            if from_bits != listed || mine.listed == mine_is_agent {
                return Some(format!(
                    "{what} {id}: closure {listed:?} (listed: {}), its bits {from_bits:?}",
                    mine.listed
                ));
            }
            // An agent's is merged from its roles' heads: it must also be what the rules of
            // its closure give.
            let scanned = mine_is_agent.then(|| {
                let mut s = summarize(index, listed, &mut Vec::new());
                number(&mut s, &self.at);
                (s.closure, s.listed) = (Box::default(), false);
                s
            });
            match theirs {
                Some(f) if plain(mine) == plain(f) && scanned.as_ref().is_none_or(|s| plain(mine) == plain(s)) => None,
                f => Some(format!(
                    "{what} {id}: summary {mine:?}, its facts give {f:?} (its closure's rules {scanned:?})"
                )),
            }
        })
    }
}

/// The summary of the nodes `closure` (sorted), bit set and completeness aside ([`number`]
/// fills them): whether any has account entries, and the heads of their rules on `*`.
/// `heads` is scratch space.
fn summarize(index: &Index, closure: Vec<u32>, heads: &mut Vec<Head>) -> RoleSummary {
    heads.clear();
    let mut accounts = false;
    for &x in &closure {
        let node = index.node_by_id(x);
        accounts |= !node.accounts.is_empty();
        for r in node.star() {
            let (ak, policy) = (r.0, r.1);
            if !index.counts(policy, ak_kind(ak)) {
                continue;
            }
            let head = Head {
                ak,
                policy,
                assignee: x,
                who: index.label_of_node(x, node),
            };
            if policy >= VARIANT_BASE {
                heads.push(head);
                continue;
            }
            // At most one head without a condition per action and kind.
            match heads.iter_mut().find(|h| h.ak == ak && h.policy < VARIANT_BASE) {
                Some(h) => {
                    if (index.policy_rank(policy).0, head.who) < (index.policy_rank(h.policy).0, h.who) {
                        *h = head;
                    }
                }
                None => heads.push(head),
            }
        }
    }
    // Rules of one variant share its condition (and its policy's label): of those on
    // one action and kind only the least assignee can decide.
    heads.sort_unstable_by_key(|h| (h.ak, h.policy, h.who));
    heads.dedup_by(|later, first| later.ak == first.ak && later.policy == first.policy);
    finish(closure, accounts, heads)
}

/// How [`merge`] orders heads: action and kind, then without a condition (policy label,
/// assignee label) before each variant's (policy, assignee label).
type MergeKey = (u32, bool, u64, u64);

/// The summary of the union of `parts`' closures (`closure`, sorted), from their heads: the least of their
/// least rules without a condition per action and kind, and per variant and action and
/// kind the least of theirs — what [`summarize`] finds over the union's rows (`validate`
/// compares the two), at the cost of the parts' heads instead of every row's rules.
/// `heads` and `keyed` are scratch space.
fn merge(
    index: &Index,
    closure: Vec<u32>,
    parts: &[&RoleSummary],
    (heads, keyed): (&mut Vec<Head>, &mut Vec<(MergeKey, Head)>),
) -> RoleSummary {
    // Per action and kind, the heads without a condition first, least (policy label,
    // assignee label) first; then each variant's, least assignee first.
    keyed.clear();
    keyed.extend(
        parts
            .iter()
            .flat_map(|p| p.heads.iter())
            .map(|&h| match h.policy < VARIANT_BASE {
                true => ((h.ak, false, index.policy_rank(h.policy).0, h.who), h),
                false => ((h.ak, true, u64::from(h.policy), h.who), h),
            }),
    );
    keyed.sort_unstable_by_key(|&(k, _)| k);
    keyed.dedup_by(|later, first| {
        let (l, f) = (later.1, first.1);
        l.ak == f.ak
            && (l.policy < VARIANT_BASE) == (f.policy < VARIANT_BASE)
            && (l.policy < VARIANT_BASE || l.policy == f.policy)
    });
    heads.clear();
    heads.extend(keyed.iter().map(|&(_, h)| h));
    heads.sort_unstable_by_key(|h| (h.ak, h.policy, h.who));
    finish(closure, parts.iter().any(|p| p.accounts), heads)
}

/// A summary of `closure` with these heads (sorted by action and kind, then policy): the
/// actions present and where each one's heads start.
fn finish(closure: Vec<u32>, accounts: bool, heads: &[Head]) -> RoleSummary {
    let (mut mask, mut starts) = (0u64, Vec::new());
    for (i, h) in heads.iter().enumerate() {
        let bit = action_bit(ak_action(h.ak));
        if mask & bit == 0 {
            mask |= bit;
            starts.push(i as u32);
        }
    }
    starts.push(heads.len() as u32);
    RoleSummary {
        complete: false,
        listed: true,
        words: Box::default(),
        closure: closure.into_boxed_slice(),
        accounts,
        mask,
        heads: heads.into(),
        starts: starts.into(),
    }
}

/// The summary number of a role whose entry in `Summaries::at` is `i`.
#[inline]
fn role_number(i: u32) -> Option<usize> {
    (i > 0 && i & AGENT == 0).then(|| (i - 1) as usize)
}

/// Sets the summary's bit set over the roles' numbers (`at` as in `Summaries::at`), and
/// whether every node of its closure has one.
fn number(summary: &mut RoleSummary, at: &[u32]) {
    let mut words: Vec<(u32, u64)> = Vec::new();
    let mut numbers: Vec<usize> = summary
        .closure
        .iter()
        .filter_map(|&x| role_number(at[x as usize]))
        .collect();
    summary.complete = numbers.len() == summary.closure.len();
    numbers.sort_unstable();
    for n in numbers {
        let (word, bit) = ((n / 64) as u32, 1u64 << (n % 64));
        match words.last_mut() {
            Some((w, bits)) if *w == word => *bits |= bit,
            _ => words.push((word, bit)),
        }
    }
    summary.words = words.into();
}

mod lifecycle;
