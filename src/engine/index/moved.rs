//! Targets a relabel moved and whose new label has not yet reached their label slot and
//! the reverse entries naming them (see [`super::reverse`], "Moved targets"): a small
//! persistent map, target → new label, that every read of a target's label consults first.
//! The labels are kept in blocks of consecutive ids ([`BLOCK`]), so moving a run of new
//! names (consecutive ids) writes a few blocks, not an entry each.
//!
//! Every entry a look-up merges reads it, so a miss must cost next to nothing: a 1,024-bit
//! filter of the moved ids (one bit each, by a multiplicative hash) answers "not moved"
//! with one load for nearly every id, and only an id whose bit is set searches the map.
//! The filter is all zeros while nothing is moved (the usual state). A target leaving the
//! map leaves its bit set (a stale bit only costs a map search) until as many have left
//! as remain, when the filter is rebuilt from the map: amortised O(1) a removal, however
//! many targets one relabel moved.
//!
//! A relabel spreads its names evenly (the k-th gets `base + step·(k + 1)`), so a block
//! mostly holds labels on one or a few such progressions: it keeps up to [`PROGS`] of them
//! and a 2-byte rank per target ([`Ranked`], ~150 bytes a block), and 8 bytes a target
//! ([`Full`], ~280 bytes) only when its labels need more progressions, or ranks past
//! [`RANK_LIMIT`]. A relabel's labels are recorded block by block ([`Moved::relabel`]),
//! each block built afresh from its labels on the relabel's progression and those the
//! block kept (a block holding spreads of more than 16,383 names, or of five relabels at
//! once, keeps its labels as they are until a later relabel rewrites them all).

use super::reverse::RevRule;
use crate::engine::pvec::PVec;
use std::sync::Arc;

/// Words in the filter (64 bits each).
const WORDS: usize = 16;

/// Moved targets' labels are kept in blocks of this many consecutive ids: a relabel moves
/// a run of names in byte order, and names added one after another (the names a relabel
/// spreads, mostly) have consecutive ids, so ~900 targets moved at once fill ~30 blocks
/// (~4.7 KiB ranked, ~8.7 KiB as full labels) where a map with an entry per target wrote
/// ~28 KiB.
const BLOCK: u32 = 32;

/// Progressions a [`Ranked`] block keeps.
const PROGS: usize = 4;

/// The bits of a rank that give the place on the progression (the two above them say
/// which progression).
const RANK_BITS: u32 = 14;

/// Places on a progression a [`Ranked`] block can name.
const RANK_LIMIT: u64 = 1 << RANK_BITS;

/// A progression of labels, `base + step·r`, with `step > 0`.
type Prog = (u64, u64);

/// The new labels of up to [`BLOCK`] consecutive targets (bit i of `present`: target
/// `first + i` is moved).
#[derive(Clone, Debug)]
enum Block {
    Ranked(Arc<Ranked>),
    Full(Arc<Full>),
}

/// Labels on at most [`PROGS`] progressions: target i's is `base + step·(ranks[i] &
/// (RANK_LIMIT − 1))` on progression `ranks[i] >> RANK_BITS`.
#[derive(Clone, Debug)]
struct Ranked {
    present: u32,
    progs: [Prog; PROGS],
    ranks: [u16; BLOCK as usize],
}

impl Ranked {
    /// Target i's label, if moved.
    #[inline]
    fn get(&self, i: u32) -> Option<u64> {
        (self.present & (1 << i) != 0).then(|| {
            let rank = u64::from(self.ranks[i as usize]);
            let (base, step) = self.progs[(rank >> RANK_BITS) as usize];
            // `build` kept only ranks that give the label back exactly: nothing wraps.
            base.wrapping_add(step.wrapping_mul(rank & (RANK_LIMIT - 1)))
        })
    }
}

/// Labels as they are.
#[derive(Clone, Debug)]
struct Full {
    present: u32,
    labels: [u64; BLOCK as usize],
}

impl Block {
    fn present(&self) -> u32 {
        match self {
            Block::Ranked(b) => b.present,
            Block::Full(b) => b.present,
        }
    }

    /// Target i's label, if moved.
    #[inline]
    fn get(&self, i: u32) -> Option<u64> {
        match self {
            Block::Ranked(b) => b.get(i),
            Block::Full(b) => (b.present & (1 << i) != 0).then(|| b.labels[i as usize]),
        }
    }

    /// Every target's label (0 where not moved).
    fn labels(&self) -> [u64; BLOCK as usize] {
        std::array::from_fn(|i| self.get(i as u32).unwrap_or(0))
    }

    /// The progressions it keeps (none in a full block).
    fn progs(&self) -> &[Prog] {
        match self {
            Block::Ranked(b) => &b.progs,
            Block::Full(_) => &[],
        }
    }

    /// Takes target i out; the block is copied first if shared.
    fn clear(&mut self, i: u32) {
        match self {
            Block::Ranked(b) => Arc::make_mut(b).present &= !(1 << i),
            Block::Full(b) => Arc::make_mut(b).present &= !(1 << i),
        }
    }

    /// The block for these labels: ranked on progressions drawn from `candidates` (in
    /// their order, each taken once some label needs it) when at most [`PROGS`] of them
    /// hold every label, else full.
    fn build(present: u32, labels: &[u64; BLOCK as usize], candidates: &[Prog]) -> Built {
        let mut progs = [(0, 1); PROGS];
        let mut used = 0;
        let mut ranks = [0u16; BLOCK as usize];
        for i in (0..BLOCK).filter(|i| present & (1 << i) != 0) {
            let label = labels[i as usize];
            let kept = progs[..used]
                .iter()
                .enumerate()
                .find_map(|(j, &p)| Some((j, place(p, label)?)));
            let found = kept.or_else(|| {
                let (p, r) = candidates.iter().find_map(|&p| Some((p, place(p, label)?)))?;
                (used < PROGS).then(|| {
                    progs[used] = p;
                    used += 1;
                    (used - 1, r)
                })
            });
            let Some((j, r)) = found else {
                return Built::Full(Full {
                    present,
                    labels: *labels,
                });
            };
            ranks[i as usize] = ((j as u64) << RANK_BITS | r) as u16;
        }
        let ranked = Ranked { present, progs, ranks };
        debug_assert!(
            (0..BLOCK).all(|i| ranked.get(i) == (present & (1 << i) != 0).then(|| labels[i as usize])),
            "a ranked block gives back its labels"
        );
        Built::Ranked(ranked)
    }

    /// Becomes `built`, in place when it has the same form and nothing else holds it (a
    /// relabel past one run of [`Moved::relabel`] builds a block again).
    fn set(&mut self, built: Built) {
        match (self, built) {
            (Block::Ranked(old), Built::Ranked(new)) => match Arc::get_mut(old) {
                Some(old) => *old = new,
                None => *old = Arc::new(new),
            },
            (Block::Full(old), Built::Full(new)) => match Arc::get_mut(old) {
                Some(old) => *old = new,
                None => *old = Arc::new(new),
            },
            (block, built) => *block = built.into(),
        }
    }
}

/// A block's contents, built ([`Block::build`]) before they are stored.
enum Built {
    Ranked(Ranked),
    Full(Full),
}

impl From<Built> for Block {
    fn from(built: Built) -> Block {
        match built {
            Built::Ranked(b) => Block::Ranked(Arc::new(b)),
            Built::Full(b) => Block::Full(Arc::new(b)),
        }
    }
}

/// Where `label` is on progression `p`: `r` with `base + step·r = label` and `r` below
/// [`RANK_LIMIT`].
#[inline]
fn place((base, step): Prog, label: u64) -> Option<u64> {
    let d = label.checked_sub(base)?;
    let r = d / step;
    (r < RANK_LIMIT && r * step == d).then_some(r)
}

/// See the module docs.
#[derive(Clone, Default)]
pub(super) struct Moved {
    /// Block number (`id / BLOCK`) → the block; no empty blocks.
    blocks: imbl::OrdMap<u32, Block>,
    /// Moved targets.
    len: usize,
    /// Bit [`slot`] of every moved id is set (others may be too, until rebuilt).
    filter: [u64; WORDS],
    /// Targets removed since the filter was last rebuilt (their bits may still be set).
    stale: usize,
}

/// Where `t`'s bit is in the filter: (word, bit), from the top bits of a multiplicative
/// hash (new targets' ids are consecutive; a neighbourhood's spread).
#[inline]
fn slot(t: u32) -> (usize, u32) {
    let h = t.wrapping_mul(0x9E37_79B9) >> 22;
    ((h >> 6) as usize, h & 63)
}

impl Moved {
    /// The target's new label, if it is moved.
    #[inline]
    pub(super) fn get(&self, t: u32) -> Option<u64> {
        let (word, bit) = slot(t);
        if self.filter[word] & (1 << bit) == 0 {
            return None;
        }
        self.blocks.get(&(t / BLOCK))?.get(t % BLOCK)
    }

    pub(super) fn contains(&self, t: u32) -> bool {
        self.get(t).is_some()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Records `t`'s new label (replacing an earlier relabel's).
    #[cfg(test)]
    pub(super) fn insert(&mut self, t: u32, label: u64) {
        self.set_block(&[(t, label)], None);
    }

    /// Records the new labels a relabel gave (`(target, label)`, each target once, in any
    /// order), replacing earlier relabels', when `prog` is the progression it spread them
    /// on (if any): block by block, in runs of up to 512 read into a buffer on the stack
    /// and sorted by target.
    pub(super) fn relabel(&mut self, labels: impl Iterator<Item = (u32, u64)>, prog: Option<Prog>) {
        let mut buffer = [(0u32, 0u64); 512];
        let mut n = 0;
        for pair in labels {
            buffer[n] = pair;
            n += 1;
            if n == buffer.len() {
                self.relabel_run(&mut buffer, prog);
                n = 0;
            }
        }
        self.relabel_run(&mut buffer[..n], prog);
    }

    /// One run of [`Moved::relabel`].
    fn relabel_run(&mut self, run: &mut [(u32, u64)], prog: Option<Prog>) {
        run.sort_unstable_by_key(|&(t, _)| t);
        debug_assert!(
            run.windows(2).all(|w| w[0].0 < w[1].0),
            "a relabel names each target once"
        );
        for labels in run.chunk_by(|a, b| a.0 / BLOCK == b.0 / BLOCK) {
            self.set_block(labels, prog);
        }
    }

    /// Sets these labels (their targets in one block, each once) and builds the block
    /// afresh, on `prog` and the progressions it kept.
    fn set_block(&mut self, labels: &[(u32, u64)], prog: Option<Prog>) {
        let Some(&(first, _)) = labels.first() else { return };
        let b = first / BLOCK;
        let mut candidates = [(0, 1); PROGS + 1];
        let mut n = 0;
        for p in prog.into_iter().filter(|p| p.1 > 0) {
            candidates[n] = p;
            n += 1;
        }
        let (mut present, mut all) = (0, [0; BLOCK as usize]);
        if let Some(block) = self.blocks.get(&b) {
            (present, all) = (block.present(), block.labels());
            for &p in block.progs() {
                candidates[n] = p;
                n += 1;
            }
        }
        for &(t, label) in labels {
            let (word, bit) = slot(t);
            self.filter[word] |= 1 << bit;
            let i = t % BLOCK;
            if present & (1 << i) == 0 {
                present |= 1 << i;
                self.len += 1;
            }
            all[i as usize] = label;
        }
        let built = Block::build(present, &all, &candidates[..n]);
        match self.blocks.get_mut(&b) {
            Some(block) => block.set(built),
            None => {
                self.blocks.insert(b, built.into());
            }
        }
    }

    /// `t` is settled: its label is in its slot and in every entry naming it.
    pub(super) fn remove(&mut self, t: u32) {
        let i = t % BLOCK;
        let Some(block) = self.blocks.get(&(t / BLOCK)) else {
            return;
        };
        if block.present() & (1 << i) == 0 {
            return;
        }
        if block.present() == 1 << i {
            self.blocks.remove(&(t / BLOCK));
        } else if let Some(block) = self.blocks.get_mut(&(t / BLOCK)) {
            block.clear(i);
        }
        self.len -= 1;
        self.stale += 1;
        if self.len == 0 {
            self.filter = [0; WORDS];
            self.stale = 0;
        } else if self.stale >= self.len {
            let mut filter = [0; WORDS];
            for id in self.ids() {
                let (word, bit) = slot(id);
                filter[word] |= 1 << bit;
            }
            self.filter = filter;
            self.stale = 0;
        }
    }

    /// The moved ids, ascending.
    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.blocks.iter().flat_map(|(&b, block)| {
            (0..BLOCK)
                .filter(move |i| block.present() & (1 << i) != 0)
                .map(move |i| b * BLOCK + i)
        })
    }

    /// Nothing is moved (every label was given afresh).
    pub(super) fn clear(&mut self) {
        *self = Moved::default();
    }

    /// The least moved id, the one settling starts on when none is being settled.
    pub(super) fn first(&self) -> Option<u32> {
        let (&b, block) = self.blocks.iter().next()?;
        Some(b * BLOCK + block.present().trailing_zeros())
    }

    /// Checks that the ids are targets, the count is right, no block is empty and the
    /// filter holds every id's bit (validator).
    pub(super) fn validate(&self, what: &str, count: usize) -> Result<(), String> {
        if let Some(t) = self.ids().last()
            && t as usize >= count
        {
            return Err(format!("moved {what} {t} is not a {what}"));
        }
        if let Some((b, _)) = self.blocks.iter().find(|(_, block)| block.present() == 0) {
            return Err(format!("moved {what}s' block {b} is empty"));
        }
        let counted = self.ids().count();
        if counted != self.len {
            return Err(format!("{counted} moved {what}s counted as {}", self.len));
        }
        if let Some(t) = self.ids().find(|&t| {
            let (word, bit) = slot(t);
            self.filter[word] & (1 << bit) == 0
        }) {
            return Err(format!("moved {what} {t} is missing from the filter"));
        }
        Ok(())
    }
}

/// A target's label: its new one while it is moved.
#[inline]
pub(super) fn label_of(labels: &PVec<u64>, moved: &Moved, t: u32) -> u64 {
    moved
        .get(t)
        .unwrap_or_else(|| labels.get(t as usize).copied().unwrap_or(0))
}

/// The label of an entry's target: the entry's own unless the target is moved.
#[inline]
pub(super) fn entry_label(moved: &Moved, r: &RevRule) -> u64 {
    moved.get(r.target).unwrap_or_else(|| r.stored_label())
}

/// The order of a row's entries: by their targets' effective labels, then target, action
/// and kind, and policy.
#[inline]
pub(super) fn entry_cmp(moved: &Moved, a: &RevRule, b: &RevRule) -> std::cmp::Ordering {
    (entry_label(moved, a), a.target, a.ak, a.policy).cmp(&(entry_label(moved, b), b.target, b.ak, b.policy))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The filtered map answers as the plain map does, through inserts and removals.
        #[test]
        fn answers_as_the_map(ops in proptest::collection::vec((any::<bool>(), prop_oneof![0..5_000u32, 0..100u32], any::<u64>()), 0..300)) {
            let mut moved = Moved::default();
            let mut plain = std::collections::BTreeMap::new();
            for (add, t, label) in ops {
                // An older copy answers as it did, whatever the change does to this one.
                let (old, old_plain) = (moved.clone(), plain.clone());
                if add {
                    moved.insert(t, label);
                    plain.insert(t, label);
                } else {
                    moved.remove(t);
                    plain.remove(&t);
                }
                moved.validate("target", 5_000).map_err(TestCaseError::fail)?;
                // Stale bits are cleared once as many targets have left as remain.
                prop_assert!(moved.stale == 0 || moved.stale < moved.len());
                prop_assert_eq!(moved.len(), plain.len());
                prop_assert_eq!(moved.first(), plain.keys().next().copied());
                for probe in [t, t.wrapping_add(1), t.wrapping_sub(1), t.wrapping_mul(7) % 5_000] {
                    prop_assert_eq!(moved.get(probe), plain.get(&probe).copied());
                    prop_assert_eq!(old.get(probe), old_plain.get(&probe).copied());
                }
                prop_assert_eq!(old.len(), old_plain.len());
            }
            if plain.is_empty() {
                prop_assert_eq!(moved.filter, [0; WORDS]);
            }
        }

        /// Relabels (some past the 512 a run sorts at once, some with labels off their
        /// progression, clamped at the top of the label space as `Placed::labels` clamps
        /// them, or given no progression or a step of 0) and settling answer as the plain
        /// map does, older copies as they did; a block holding one relabel's labels on its
        /// progression is ranked.
        #[test]
        fn relabels_answer_as_the_map(relabels in proptest::collection::vec(
            (0..4_000u32, 1..1_200u32, 1..4u32, 0..u64::MAX / 2, 1..1u64 << 40, 0..8u8, 0..40usize), 1..12)) {
            let mut moved = Moved::default();
            let mut plain = std::collections::BTreeMap::new();
            let mut copies = Vec::new();
            for (start, count, stride, base, step, mode, settle) in relabels {
                let targets: Vec<u32> = (0..count).map(|k| start + k * stride).collect();
                // Mode 5: near the top, the later half clamped to u64::MAX.
                let base = if mode == 5 { u64::MAX - step * u64::from(count / 2 + 1) } else { base };
                // On the progression unless the mode is 0 (then every 7th label is off it).
                let label = |k: u32| {
                    let on = u128::from(base) + u128::from(step) * (u128::from(k) + 1);
                    on.min(u128::from(u64::MAX)) as u64 - u64::from(mode == 0 && k % 7 == 3)
                };
                // Modes 6 and 7: no progression, a step of 0.
                let prog = match mode {
                    6 => None,
                    7 => Some((base, 0)),
                    _ => Some((base, step)),
                };
                // In an order that is not the targets' (as byte order is not ids'): 7,919 is
                // a prime past every count, so this is a permutation.
                let pairs: Vec<(u32, u64)> =
                    (0..count).map(|k| (k * 7_919) % count).map(|k| (targets[k as usize], label(k))).collect();
                copies.push((moved.clone(), plain.clone()));
                moved.relabel(pairs.iter().copied(), prog);
                plain.extend(pairs.iter().copied());
                moved.validate("target", 10_000).map_err(TestCaseError::fail)?;
                if (1..5).contains(&mode) {
                    // Blocks whose every label is this relabel's are ranked.
                    for (b, block) in moved.blocks.iter() {
                        let mine = (0..BLOCK).filter(|i| block.present() & (1 << i) != 0).all(|i| {
                            let t = b * BLOCK + i;
                            t >= start && (t - start).is_multiple_of(stride) && (t - start) / stride < count
                        });
                        prop_assert!(!mine || matches!(block, Block::Ranked(_)), "block {} is full", b);
                    }
                }
                for _ in 0..settle {
                    let Some(t) = moved.first() else { break };
                    moved.remove(t);
                    plain.remove(&t);
                }
                moved.validate("target", 10_000).map_err(TestCaseError::fail)?;
                prop_assert_eq!(moved.len(), plain.len());
                for t in 0..9_000 {
                    prop_assert_eq!(moved.get(t), plain.get(&t).copied(), "target {}", t);
                }
            }
            for (old, old_plain) in &copies {
                // Recounted, so a target added to a block an older copy shares fails.
                old.validate("target", 10_000).map_err(TestCaseError::fail)?;
                prop_assert!(old.ids().eq(old_plain.keys().copied()));
                prop_assert_eq!(old.len(), old_plain.len());
                for (&t, &label) in old_plain {
                    prop_assert_eq!(old.get(t), Some(label));
                }
            }
        }
    }

    /// A block takes a progression its labels need from those it kept and the new one,
    /// up to [`PROGS`]; one more makes it full, and ranks past [`RANK_LIMIT`] do too.
    #[test]
    fn a_block_is_ranked_on_few_progressions_else_full() {
        let mut moved = Moved::default();
        // Five relabels, each giving targets 5k + j (k = 0..6) labels on its progression
        // (far apart: no label is on another's).
        let prog = |j: u32| (1_000_000_000_000 * u64::from(j), 1_000_003 + 2 * u64::from(j));
        let label = |j: u32, k: u32| prog(j).0 + prog(j).1 * u64::from(k + 1);
        for j in 0..5u32 {
            moved.relabel((0..6u32).map(|k| (5 * k + j, label(j, k))), Some(prog(j)));
            let ranked = matches!(moved.blocks.get(&0), Some(Block::Ranked(_)));
            assert_eq!(ranked, j < PROGS as u32, "after {} relabels", j + 1);
            // Every relabel's labels so far, each on its own progression.
            for i in 0..=j {
                assert!(
                    (0..6).all(|k| moved.get(5 * k + i) == Some(label(i, k))),
                    "relabel {i} of {j}"
                );
            }
        }
        // A relabel of every target in it: one progression again.
        moved.relabel((0..30u32).map(|t| (t, 7 + 2 * u64::from(t))), Some((5, 2)));
        assert!(matches!(moved.blocks.get(&0), Some(Block::Ranked(_))));
        assert!((0..30).all(|t| moved.get(t) == Some(7 + 2 * u64::from(t))));
        // Ranks up to the limit are kept, past it not.
        let near = |t: u32| 10 + 3 * (RANK_LIMIT - 100 + u64::from(t));
        moved.relabel((96..100u32).map(|t| (t, near(t))), Some((10, 3)));
        assert!(matches!(moved.blocks.get(&3), Some(Block::Ranked(_))));
        assert!((96..100).all(|t| moved.get(t) == Some(near(t))));
        let far = (0..4u32).map(|t| (64 + t, 10 + RANK_LIMIT + u64::from(t)));
        moved.relabel(far, Some((10, 1)));
        assert!(matches!(moved.blocks.get(&2), Some(Block::Full(_))));
        assert_eq!(moved.get(67), Some(13 + RANK_LIMIT));
        // One spread past the rank limit: the blocks its first 16,383 names are in are
        // ranked, the later ones full; every label reads back.
        let spread = |k: u32| 1 << 40 | (5 * (u64::from(k) + 1));
        moved.relabel((0..20_000u32).map(|k| (1_000 + k, spread(k))), Some((1 << 40, 5)));
        assert!((0..20_000).all(|k| moved.get(1_000 + k) == Some(spread(k))));
        assert!(matches!(moved.blocks.get(&(1_000 / BLOCK + 2)), Some(Block::Ranked(_))));
        assert!(matches!(moved.blocks.get(&(20_000 / BLOCK + 2)), Some(Block::Full(_))));
        for t in 1_000..21_000 {
            moved.remove(t);
        }
        // No progression: full; settling them all leaves nothing.
        moved.relabel([(40, 5), (41, 9)].into_iter(), None);
        assert!(matches!(moved.blocks.get(&1), Some(Block::Full(_))));
        while let Some(t) = moved.first() {
            moved.remove(t);
        }
        assert!(moved.is_empty() && moved.blocks.is_empty());
    }
}
