//! The agent's role closure: the roles its edges reach, walked breadth first
//! ([`closure_of`]) or read from the role summaries ([`summarized_closure`]: the union of
//! its direct roles' closures, or its own summary when it holds many), and the form a check
//! holds it in ([`Closure`]: ids listed, sorted or behind a filter, or a bit set over the
//! summaries' numbers when big).

use super::index::{self, Node, RoleSummary, Summaries, TargetRule};
use super::odrl::Agent;
use super::{EngineError, Index};
use crate::domain::Id;
use smallvec::SmallVec;

/// The roles an agent's edges reach (the agent excluded), in breadth-first order, and the
/// same ids for membership tests.
#[derive(Default)]
pub(crate) struct Closure<'a> {
    /// Empty when the closure came from role summaries (`summarized`).
    pub roles: SmallVec<[(u32, &'a Node); 48]>,
    /// The roles' ids, each once: sorted after a walk; in no order, with `filter`, when
    /// they came from role summaries (room for every id a summarised closure lists, so
    /// listing one never allocates).
    pub ids: SmallVec<[u32; index::LISTED]>,
    /// For ids in no order: a bit per id modulo [`FILTER_BITS`], set for every id in
    /// `ids` (a clear bit is a sure miss; a set one needs the scan).
    pub filter: Option<[u64; FILTER_BITS / 64]>,
    /// When the closure came from role summaries: those of the agent's direct roles, whose
    /// heads stand for every role's rules on `*` (`index::summary`).
    pub summarized: Option<SmallVec<[&'a RoleSummary; 16]>>,
    /// A big summarised closure as a bit set over the summary numbers (`ids` is then
    /// empty): ORing the direct roles' sets beats sorting thousands of ids.
    pub bits: Option<RoleBits<'a>>,
    /// The rules on the check's exact target, when they were read with the agent's row
    /// ([`Index::agent_and_target`]); otherwise they are looked up by name.
    pub target_rules: Option<&'a [TargetRule]>,
    /// The asset collections the check's target is part of (transitively), in byte order
    /// (empty while no asset is part of a collection, and for look-ups, which have no
    /// single target).
    pub targets: SmallVec<[&'a Id; 4]>,
}

/// A closure as a bit set over the role summaries' numbers.
pub(crate) struct RoleBits<'a> {
    pub summaries: &'a Summaries,
    pub words: SmallVec<[u64; 32]>,
    /// How many bits are set.
    pub len: usize,
}

impl RoleBits<'_> {
    fn contains(&self, id: u32) -> bool {
        self.summaries
            .number(id)
            .is_some_and(|n| self.words.get(n / 64).is_some_and(|w| w >> (n % 64) & 1 == 1))
    }

    /// The node ids in the set, by summary number.
    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(move |(i, &w)| {
            let mut rest = w;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let b = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    self.summaries.node_of(i * 64 + b)
                })
            })
        })
    }
}

impl Closure<'_> {
    /// How many roles the closure holds.
    pub(crate) fn len(&self) -> usize {
        self.bits.as_ref().map_or(self.ids.len(), |b| b.len)
    }

    /// The closure's role ids (in increasing order after a walk).
    pub(crate) fn role_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ids.iter().copied().chain(self.bits.iter().flat_map(RoleBits::ids))
    }

    pub(crate) fn contains(&self, id: u32) -> bool {
        if let Some(bits) = &self.bits {
            return bits.contains(id);
        }
        if let Some(filter) = &self.filter {
            return filter_has(filter, id) && self.ids.contains(&id);
        }
        if self.ids.len() <= 16 {
            self.ids.contains(&id)
        } else {
            self.ids.binary_search(&id).is_ok()
        }
    }
}

/// The size of [`Closure::filter`] in bits.
pub(crate) const FILTER_BITS: usize = 1024;

/// True when the filter's bit for `id` is set.
#[inline]
pub(crate) fn filter_has(filter: &[u64; FILTER_BITS / 64], id: u32) -> bool {
    let b = id as usize % FILTER_BITS;
    filter[b / 64] >> (b % 64) & 1 == 1
}

/// Sets the filter's bit for `id`; true when it was clear (`id` is surely new).
#[inline]
pub(crate) fn filter_set(filter: &mut [u64; FILTER_BITS / 64], id: u32) -> bool {
    let b = id as usize % FILTER_BITS;
    let (word, bit) = (&mut filter[b / 64], 1u64 << (b % 64));
    let clear = *word & bit == 0;
    *word |= bit;
    clear
}

/// Roles reached from the agent, breadth first with a visited set, into `out`. The limit
/// counts the agent, as it always has: a closure of `n` roles fails when `n + 1 > max` (and
/// any role fails when `max` is 0).
pub(super) fn closure_of<'a>(
    index: &'a Index,
    agent: Agent<'a>,
    account: Option<u32>,
    max: usize,
    agent_name: &Id,
    out: &mut Closure<'a>,
) -> Result<(), EngineError> {
    /// Past this many roles, membership is a hash set instead of a scan.
    const SCAN: usize = 32;
    let Some((agent_id, agent_row)) = agent else {
        return Ok(());
    };
    let (roles, ids) = (&mut out.roles, &mut out.ids);
    let mut big: Option<IdSet> = None;
    // While the closure is scanned: a 256-bit filter of the ids' low bits, so most new
    // roles are known new without a scan.
    let mut filter = [0u64; 4];
    let mut next = 0;
    let mut node = agent_row;
    loop {
        let in_account = account
            .into_iter()
            .flat_map(|a| node.account_entries(a).iter().map(|e| e.role));
        for role in node.global().iter().map(|e| e.0).chain(in_account) {
            let new = role != agent_id
                && match &mut big {
                    Some(set) => set.insert(role),
                    None => {
                        let (word, bit) = ((role as usize >> 6) & 3, 1u64 << (role & 63));
                        let maybe = filter[word] & bit != 0;
                        filter[word] |= bit;
                        !(maybe && ids.contains(&role))
                    }
                };
            if new {
                if roles.len() + 1 >= max {
                    return Err(EngineError::ClosureTooLarge {
                        agent: agent_name.to_string(),
                        limit: max,
                    });
                }
                // Its row is read when the walk reaches it: its load starts now.
                let row = index.node_by_id(role);
                crate::engine::prefetch::value(row);
                roles.push((role, row));
                ids.push(role);
                if big.is_none() && ids.len() > SCAN {
                    // A big closure: room for it at once, not by doubling.
                    roles.reserve(8 * SCAN);
                    ids.reserve(8 * SCAN);
                    big = Some(IdSet::of(ids));
                }
            }
        }
        let Some(&(_, n)) = roles.get(next) else { break };
        // The edges of a role a few places on (its row's line asked for when it was
        // found, so its edges' address is known by now).
        if let Some(&(_, ahead)) = roles.get(next + 4) {
            ahead.prefetch_global();
        }
        node = n;
        next += 1;
    }
    ids.sort_unstable();
    Ok(())
}

/// The closure as the union of the agent's direct roles' summarised closures, with their
/// summaries for the rules on `*` (`index::summary`); None when the summaries cannot
/// answer it exactly (none are current, a direct role has none, or in an account some
/// summarised role has account entries, which the walk would follow). The limit is the
/// walk's: it fails as soon as a role is added at `max` (see [`closure_of`]).
pub(super) fn summarized_closure<'a>(
    index: &'a Index,
    agent: Agent<'a>,
    account: Option<u32>,
    max: usize,
    agent_name: &Id,
    out: &mut Closure<'a>,
) -> Option<Result<(), EngineError>> {
    const LIST: usize = index::LISTED;
    let summaries = index.summaries()?;
    // Built in place: the closure is too big to move around.
    let direct = out.summarized.insert(smallvec::SmallVec::new());
    if let Some((id, row)) = agent {
        let in_account = account.map_or(&[][..], |a| row.account_entries(a));
        let usable = |s: &index::RoleSummary| s.complete && !(account.is_some() && s.accounts);
        // An agent holding many roles may have a summary of its own, standing for all of
        // its global roles while its row lists the roles it was built from.
        // Where its own summary would be is read with its direct roles' numbers (below),
        // so an agent that has none pays no read of its own.
        let maybe_own = row.global().len() >= index.agent_summary_roles();
        if maybe_own {
            summaries.prefetch_number(id);
        }
        let roles = || {
            row.global()
                .iter()
                .map(|e| e.0)
                .chain(in_account.iter().map(|e| e.role))
        };
        for role in roles() {
            summaries.prefetch_number(role);
        }
        let own = maybe_own.then(|| summaries.of_agent(id, row.global())).flatten();
        let global = match own {
            Some(s) if usable(s) => {
                direct.push(s);
                &[][..]
            }
            Some(_) => return None,
            None => row.global(),
        };
        // Each direct role's summary is three dependent cold reads away (its number, its
        // header, then its closure and heads): each step's reads are started for every
        // role before the first of them is used, so they wait on memory together.
        let roles = || global.iter().map(|e| e.0).chain(in_account.iter().map(|e| e.role));
        let mut numbers: SmallVec<[usize; 16]> = SmallVec::new();
        for role in roles() {
            let n = summaries.number(role)?;
            summaries.prefetch_summary(n);
            numbers.push(n);
        }
        for n in numbers {
            let s = summaries.by_number(n);
            if !usable(s) {
                return None;
            }
            direct.push(s);
        }
    }
    // An agent's own summary has its closure only as bits.
    let listed = direct.iter().all(|s| s.listed) && direct.iter().map(|s| s.closure.len()).sum::<usize>() <= LIST;
    for s in direct.iter() {
        s.prefetch_parts(listed);
    }
    if listed {
        // Listed once each, in no order: the filter answers most "seen?" without a scan.
        // Gathered in a plain array (at most `LIST` ids: `listed`), then copied once.
        let filter = out.filter.insert([0; FILTER_BITS / 64]);
        let (mut list, mut len) = ([0u32; LIST], 0);
        for s in direct.iter() {
            for &id in s.closure.iter() {
                if filter_set(filter, id) || !list[..len].contains(&id) {
                    // In bounds: the closures list at most `LIST` ids together.
                    list[len] = id;
                    len += 1;
                }
            }
        }
        out.ids.extend_from_slice(&list[..len]);
    } else {
        // Its words zeroed in place: a set built aside and moved in was a 264-byte copy.
        let bits = out.bits.insert(RoleBits {
            summaries,
            words: SmallVec::new(),
            len: 0,
        });
        bits.words.resize(summaries.words(), 0);
        for s in direct.iter() {
            for &(w, b) in s.words.iter() {
                bits.words[w as usize] |= b;
            }
        }
        bits.len = bits.words.iter().map(|w| w.count_ones() as usize).sum();
    }
    // Only roles are in a closure and the agent is not one (the gate): it is not in it.
    let len = out.len();
    if len > 0 && len >= max {
        return Some(Err(EngineError::ClosureTooLarge {
            agent: agent_name.to_string(),
            limit: max,
        }));
    }
    Some(Ok(()))
}

/// The node ids of a big closure: open addressing with linear probing, at most half full,
/// starting with room for 512 (no rehash in a closure of hundreds of roles).
struct IdSet {
    /// 0: empty; otherwise the id + 1.
    slots: Vec<u64>,
    len: usize,
}

impl IdSet {
    fn of(ids: &[u32]) -> IdSet {
        let mut set = IdSet {
            slots: vec![0; 1024],
            len: 0,
        };
        for &id in ids {
            set.insert(id);
        }
        set
    }

    /// True when `id` was not in the set.
    #[inline]
    fn insert(&mut self, id: u32) -> bool {
        if (self.len + 1) * 2 > self.slots.len() {
            let bigger = vec![0; self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, bigger);
            self.len = 0;
            for s in old.into_iter().filter(|&s| s != 0) {
                self.insert((s - 1) as u32);
            }
        }
        let mask = self.slots.len() - 1;
        let want = u64::from(id) + 1;
        let mut i = ((u64::from(id).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize) & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = want;
                    self.len += 1;
                    return true;
                }
                s if s == want => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::IdSet;

    #[test]
    fn an_id_set_grows_and_keeps_every_id_once() {
        let ids: Vec<u32> = (0..40).map(|i| i * 1024).collect();
        let mut set = IdSet::of(&ids);
        let mut model: std::collections::BTreeSet<u32> = ids.iter().copied().collect();
        // Ids that collide in the low bits, the largest id, and enough to grow twice.
        for i in 0..3000u32 {
            let id = if i == 7 {
                u32::MAX
            } else {
                i.wrapping_mul(4096) ^ (i % 5)
            };
            assert_eq!(set.insert(id), model.insert(id), "{id}");
            assert!(!set.insert(id));
        }
        assert_eq!(set.len, model.len());
        assert!(set.slots.len() >= 2 * set.len);
    }
}
