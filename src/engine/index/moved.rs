//! Targets a relabel moved and whose new label has not yet reached their label slot and
//! the reverse entries naming them (see [`super::reverse`], "Moved targets"): a small
//! persistent map, target → new label, that every read of a target's label consults first.
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

/// Words in the filter (64 bits each).
const WORDS: usize = 16;

/// See the module docs.
#[derive(Clone, Default)]
pub(super) struct Moved {
    map: imbl::OrdMap<u32, u64>,
    /// Bit [`slot`] of every id in `map` is set (others may be too, until rebuilt).
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
        self.map.get(&t).copied()
    }

    pub(super) fn contains(&self, t: u32) -> bool {
        self.get(t).is_some()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Records `t`'s new label (replacing a newer relabel's).
    pub(super) fn insert(&mut self, t: u32, label: u64) {
        let (word, bit) = slot(t);
        self.filter[word] |= 1 << bit;
        self.map.insert(t, label);
    }

    /// `t` is settled: its label is in its slot and in every entry naming it.
    pub(super) fn remove(&mut self, t: u32) {
        if self.map.remove(&t).is_none() {
            return;
        }
        self.stale += 1;
        if self.map.is_empty() {
            self.filter = [0; WORDS];
            self.stale = 0;
        } else if self.stale >= self.map.len() {
            self.filter = [0; WORDS];
            for &id in self.map.keys() {
                let (word, bit) = slot(id);
                self.filter[word] |= 1 << bit;
            }
            self.stale = 0;
        }
    }

    /// Nothing is moved (every label was given afresh).
    pub(super) fn clear(&mut self) {
        *self = Moved::default();
    }

    /// The least moved id, the one settling starts on when none is being settled.
    pub(super) fn first(&self) -> Option<u32> {
        self.map.keys().next().copied()
    }

    /// Checks that the ids are targets and the filter holds every id's bit (validator).
    pub(super) fn validate(&self, targets: usize) -> Result<(), String> {
        if let Some(&t) = self.map.keys().next_back()
            && t as usize >= targets
        {
            return Err(format!("moved target {t} is not a target"));
        }
        if let Some(&t) = self.map.keys().find(|&&t| {
            let (word, bit) = slot(t);
            self.filter[word] & (1 << bit) == 0
        }) {
            return Err(format!("moved target {t} is missing from the filter"));
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
        fn answers_as_the_map(ops in proptest::collection::vec((any::<bool>(), 0..5_000u32, any::<u64>()), 0..300)) {
            let mut moved = Moved::default();
            let mut plain = std::collections::BTreeMap::new();
            for (add, t, label) in ops {
                if add {
                    moved.insert(t, label);
                    plain.insert(t, label);
                } else {
                    moved.remove(t);
                    plain.remove(&t);
                }
                moved.validate(5_000).map_err(TestCaseError::fail)?;
                // Stale bits are cleared once as many targets have left as remain.
                prop_assert!(moved.stale == 0 || moved.stale < moved.len());
                prop_assert_eq!(moved.len(), plain.len());
                prop_assert_eq!(moved.first(), plain.keys().next().copied());
                for probe in [t, t.wrapping_add(1), t.wrapping_mul(7) % 5_000] {
                    prop_assert_eq!(moved.get(probe), plain.get(&probe).copied());
                }
            }
            if plain.is_empty() {
                prop_assert_eq!(moved.filter, [0; WORDS]);
            }
        }
    }
}
