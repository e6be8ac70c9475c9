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

use super::reverse::RevRule;
use crate::engine::pvec::PVec;
use std::sync::Arc;

/// Words in the filter (64 bits each).
const WORDS: usize = 16;

/// Moved targets' labels are kept in blocks of this many consecutive ids: a relabel moves
/// a run of names in byte order, and names added one after another (the names a relabel
/// spreads, mostly) have consecutive ids, so ~900 targets moved at once fill ~30 blocks
/// (~8 KiB) where a map with an entry per target wrote ~28 KiB.
const BLOCK: u32 = 32;

/// The new labels of up to [`BLOCK`] consecutive targets.
#[derive(Clone, Debug)]
struct Block {
    /// Bit i: target `first + i` is moved (its label is `labels[i]`).
    present: u32,
    labels: [u64; BLOCK as usize],
}

/// See the module docs.
#[derive(Clone, Default)]
pub(super) struct Moved {
    /// Block number (`id / BLOCK`) → the block; no empty blocks.
    blocks: imbl::OrdMap<u32, Arc<Block>>,
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
        let block = self.blocks.get(&(t / BLOCK))?;
        let i = t % BLOCK;
        (block.present & (1 << i) != 0).then(|| block.labels[i as usize])
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
    pub(super) fn insert(&mut self, t: u32, label: u64) {
        let (word, bit) = slot(t);
        self.filter[word] |= 1 << bit;
        let i = t % BLOCK;
        let block = Arc::make_mut(self.blocks.entry(t / BLOCK).or_insert_with(|| {
            Arc::new(Block {
                present: 0,
                labels: [0; BLOCK as usize],
            })
        }));
        if block.present & (1 << i) == 0 {
            block.present |= 1 << i;
            self.len += 1;
        }
        block.labels[i as usize] = label;
    }

    /// `t` is settled: its label is in its slot and in every entry naming it.
    pub(super) fn remove(&mut self, t: u32) {
        let i = t % BLOCK;
        let Some(block) = self.blocks.get(&(t / BLOCK)) else {
            return;
        };
        if block.present & (1 << i) == 0 {
            return;
        }
        if block.present == 1 << i {
            self.blocks.remove(&(t / BLOCK));
        } else if let Some(block) = self.blocks.get_mut(&(t / BLOCK)) {
            Arc::make_mut(block).present &= !(1 << i);
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
                .filter(move |i| block.present & (1 << i) != 0)
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
        Some(b * BLOCK + block.present.trailing_zeros())
    }

    /// Checks that the ids are targets, the count is right, no block is empty and the
    /// filter holds every id's bit (validator).
    pub(super) fn validate(&self, what: &str, count: usize) -> Result<(), String> {
        if let Some(t) = self.ids().last()
            && t as usize >= count
        {
            return Err(format!("moved {what} {t} is not a {what}"));
        }
        if let Some((b, _)) = self.blocks.iter().find(|(_, block)| block.present == 0) {
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
    }
}
