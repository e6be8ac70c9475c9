//! Names → dense ids: a flat open-addressing table built in bulk (the *base*) and a small
//! persistent hash trie of the names added since (the *delta*, [`delta`]).
//!
//! A look-up in the base hashes the name once, probes 16-byte slots linearly (each holds 32
//! bits of the hash, where the name's record is, and the name's id), and compares the
//! name's bytes, stored in id order in one arena: two cache misses for a name the table
//! holds, where a persistent hash map pays one per level and one more for the key it
//! compares; and the id comes from the slot, so the caller's next read does not wait for
//! the second.
//!
//! Names are never removed (ids are dense and permanent), so a base stays exact however
//! the delta grows, and compaction (a new base from the old one and the delta) changes no
//! id: it only moves where a name is found. During a bulk load new names go to a growing
//! table laid out as a base is ([`Loading`]) instead of the delta (the persistent map
//! walked and copied a path of nodes per name), folded into a new base at the end of the
//! load (at once). The delta is folded in the background once it holds more than [`COMPACT_AT`]
//! names and more than an eighth of the base: the write that crosses the line *freezes*
//! the delta (it becomes the `frozen` map; new names go to a fresh delta) and starts a
//! thread that builds the new base from the base and the frozen names; a later write that
//! finds it built swaps it in and drops the frozen map. Until then a look-up tries the
//! base, the frozen map, the delta (and a bulk load's table) — each name is in exactly one. No write waits for a
//! fold (it cost 55 ms at a million names when a write did it), and snapshots already
//! published keep the base they were built on, so no check waits either.
//!
//! `interned.rs` pairs a key → id map (a [`Names`] table, or a persistent hash map for
//! keys that are not names) with the entries the ids number.

use super::IdHasher;
use super::background::{Background, Polled};
use crate::domain::Id;
use crate::engine::prefetch;
use delta::Delta;
use loading::Loading;
use std::hash::BuildHasher;
use std::sync::Arc;

/// The delta is folded into the base past this many names (and an eighth of the base).
pub(crate) const COMPACT_AT: usize = 4096;

/// See the module docs.
#[derive(Clone)]
pub(crate) struct Names {
    base: Arc<Flat>,
    /// Names being folded into a new base in the background (empty when no fold runs);
    /// their ids follow the base's.
    frozen: Delta,
    /// Names added since the base was built and the frozen names were frozen; their ids
    /// follow the frozen names'.
    delta: Delta,
    /// The fold in progress, if any.
    folding: Option<Arc<Fold>>,
    hasher: IdHasher,
    /// During a bulk load the delta is not compacted until [`Names::compact`].
    bulk: bool,
    /// Names added during a bulk load ([`Loading`]); their ids follow the delta's. Folded
    /// into the base by [`Names::end_bulk`]. Shared by a copy of the table taken during
    /// the load, copied whole if that copy then adds one.
    loading: Option<Arc<Loading>>,
}

/// The first slot of `slots` (a power of two in length, never full; or none), in probe
/// order from the hash's to the first empty one, whose tag is the hash's and that `accept`
/// takes.
#[inline]
fn probe(slots: &[Slot], hash: u64, accept: impl Fn(&Slot) -> bool) -> Option<Slot> {
    if slots.is_empty() {
        return None;
    }
    let mask = slots.len() - 1;
    let tag = (hash >> 32) as u32;
    let mut i = hash as usize & mask;
    loop {
        let slot = slots[i];
        if slot.word == 0 {
            return None;
        }
        if slot.tag == tag && accept(&slot) {
            return Some(slot);
        }
        i = (i + 1) & mask;
    }
}

/// Puts `slot` in the first empty slot from its hash's (`slots` is never full).
fn place(slots: &mut [Slot], hash: u64, slot: Slot) {
    let mask = slots.len() - 1;
    let mut i = hash as usize & mask;
    while slots[i].word != 0 {
        i = (i + 1) & mask;
    }
    slots[i] = slot;
}

/// Appends `name`'s record to `arena` (its length as a little-endian u32, its bytes,
/// padding to 4 bytes) and gives it a slot under its `hash` with the id `id`.
fn add_record(slots: &mut [Slot], arena: &mut Vec<u8>, hash: u64, name: &[u8], id: u32) {
    let at = arena.len() / 4;
    // Names are at most `MAX_ID_BYTES` (512) long: no input reaches these limits.
    let len = u32::try_from(name.len()).expect("a name under 4 GiB");
    arena.extend_from_slice(&len.to_le_bytes());
    arena.extend_from_slice(name);
    arena.resize(arena.len().div_ceil(4) * 4, 0);
    let slot = Slot {
        tag: (hash >> 32) as u32,
        word: u32::try_from(at + 1).expect("a name table under 16 GiB"),
        id,
        len,
    };
    place(slots, hash, slot);
}

/// The name in the record at `word` (a slot's: 1 + its offset in 4-byte words).
#[inline]
fn record_in(arena: &[u8], word: u32) -> &[u8] {
    record_at(arena, (word as usize - 1) * 4)
}

/// The name in the record starting at byte `at` of `arena`.
#[inline]
fn record_at(arena: &[u8], at: usize) -> &[u8] {
    let len = u32::from_le_bytes([arena[at], arena[at + 1], arena[at + 2], arena[at + 3]]) as usize;
    &arena[at + 4..at + 4 + len]
}

/// Every record of `arena` with its place (0 for the first), its word and its name.
fn records_in(arena: &[u8]) -> impl Iterator<Item = (u32, u32, &[u8])> + '_ {
    let (mut at, mut k) = (0, 0u32);
    std::iter::from_fn(move || {
        if at >= arena.len() {
            return None;
        }
        let bytes = record_at(arena, at);
        let word = (at / 4 + 1) as u32;
        at += 4 + bytes.len().div_ceil(4) * 4;
        k += 1;
        Some((k - 1, word, bytes))
    })
}

/// A fold running on a thread of its own: the new base (the base and the frozen names)
/// once built.
type Fold = Background<Arc<Flat>>;

/// A slot of the base: the high 32 bits of the name's hash, where the name's record is
/// (1 + its offset in 4-byte words; 0: the slot is empty) and the name's id. Sixteen bytes,
/// so a slot never straddles two cache lines. The id is here (the record's place in id
/// order is the same id) so that what a look-up returns depends on the slot alone: the
/// caller's next read (the id's row) starts as soon as the slot is read, while the name's
/// bytes are still being compared (the comparison only decides whether it was wanted).
/// Read from the record, the id cost one more cache miss in a row: ~10% of a check at a
/// million rules. The name's length, in what would be padding, tells where the record
/// ends before it is read: a record across two cache lines has both asked for at once
/// ([`Flat::prefetch_record`]), not the second once the first arrives, and a slot whose
/// tag matches by chance is passed over on its length without reading its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[repr(C, align(16))]
struct Slot {
    tag: u32,
    word: u32,
    id: u32,
    len: u32,
}

const _: () = assert!(std::mem::size_of::<Slot>() == 16);

/// The immutable base.
#[derive(Default)]
struct Flat {
    /// A power of two in length, at most half full.
    slots: Box<[Slot]>,
    /// Records in id order (the base holds ids `0..len`, so the k-th record is id k's, and
    /// the id is not stored again), each starting on a 4-byte boundary: the name's length
    /// (u32, little-endian), its bytes, padding.
    arena: Box<[u8]>,
    /// How many names (records).
    len: usize,
}

impl Flat {
    /// The name in the record at `word` (a slot's: 1 + its offset in 4-byte words).
    fn record(&self, word: u32) -> &[u8] {
        record_in(&self.arena, word)
    }

    /// The first slot, in probe order from the hash's to the first empty one, whose tag is
    /// the hash's and that `accept` takes: the name's is among those tagged so when the
    /// base holds it.
    #[inline]
    fn find_slot(&self, hash: u64, accept: impl Fn(&Slot) -> bool) -> Option<Slot> {
        if self.len == 0 {
            return None;
        }
        probe(&self.slots, hash, accept)
    }

    /// Starts loading the record of the first slot tagged as the hash is with a name of
    /// `len` bytes: the name's, when the base holds it ([`Names::get_both`]). Both of its
    /// cache lines when it spans two.
    #[inline]
    fn prefetch_record(&self, hash: u64, len: usize) {
        if let Some(slot) = self.find_slot(hash, |slot| slot.len as usize == len)
            && let Some(first) = self.arena.get((slot.word as usize - 1) * 4)
        {
            let first: *const u8 = first;
            prefetch::line(first);
            // The record's last byte (its 4-byte length precedes the name).
            prefetch::line(first.wrapping_add(4 + len.max(1) - 1));
        }
    }

    #[inline]
    fn find(&self, hash: u64, name: &[u8]) -> Option<u32> {
        self.find_slot(hash, |slot| {
            slot.len as usize == name.len() && self.record(slot.word) == name
        })
        .map(|slot| slot.id)
    }

    /// Every record with its id, in id order.
    fn records(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        self.placed().map(|(id, _, bytes)| (id, bytes))
    }

    /// Every record's id, word (as a slot names it) and name, in id order.
    fn placed(&self) -> impl Iterator<Item = (u32, u32, &[u8])> + '_ {
        records_in(&self.arena)
    }

    /// `base`'s records followed by `added`'s, in id order: a base that holds both.
    fn merged<'a>(hasher: &IdHasher, base: &'a Flat, added: impl Iterator<Item = (&'a [u8], u32)>) -> Flat {
        let mut added: Vec<(u32, &[u8])> = added.map(|(n, id)| (id, n)).collect();
        // Already in order when they all come from a bulk load.
        if !added.is_sorted_by_key(|&(id, _)| id) {
            added.sort_unstable_by_key(|&(id, _)| id);
        }
        let all: Vec<(u32, &[u8])> = base.records().chain(added).collect();
        Flat::build(hasher, all.into_iter())
    }

    /// A table of `names` (ids and bytes), given in id order from 0 (`merged` gives a base's
    /// records and then the names added after it, whose ids follow: `Names::validate`
    /// checks every record's id against its slot's).
    fn build<'a>(hasher: &IdHasher, names: impl ExactSizeIterator<Item = (u32, &'a [u8])>) -> Flat {
        let len = names.len();
        let slots_len = (len * 2).next_power_of_two().max(8);
        let mut slots = vec![Slot::default(); slots_len].into_boxed_slice();
        let mut arena: Vec<u8> = Vec::new();
        for (position, (id, bytes)) in names.enumerate() {
            debug_assert_eq!(id as usize, position, "names are given in id order from 0");
            add_record(&mut slots, &mut arena, hasher.hash_one(bytes), bytes, id);
        }
        Flat {
            slots,
            arena: arena.into_boxed_slice(),
            len,
        }
    }
}

impl Names {
    pub(crate) fn new(hasher: &IdHasher) -> Names {
        Names {
            base: Arc::new(Flat::default()),
            frozen: Delta::default(),
            delta: Delta::default(),
            folding: None,
            hasher: hasher.clone(),
            bulk: false,
            loading: None,
        }
    }

    /// The id of `name`, if it has one.
    #[inline]
    pub(crate) fn get(&self, name: &str) -> Option<u32> {
        self.get_hashed(self.hasher.hash_one(name.as_bytes()), name)
    }

    /// The ids of two names, each in its own table, with the loads of the two look-ups
    /// overlapped: both slots read and both records on their way before either name is
    /// compared (each is a cache miss in a big table; one after the other they add up,
    /// side by side they mostly overlap). The same answers as two [`Names::get`].
    #[inline]
    pub(crate) fn get_both(a: (&Names, &str), b: (&Names, &str)) -> (Option<u32>, Option<u32>) {
        let ha = a.0.hasher.hash_one(a.1.as_bytes());
        let hb = b.0.hasher.hash_one(b.1.as_bytes());
        a.0.base.prefetch_record(ha, a.1.len());
        b.0.base.prefetch_record(hb, b.1.len());
        (a.0.get_hashed(ha, a.1), b.0.get_hashed(hb, b.1))
    }

    #[inline]
    fn get_hashed(&self, hash: u64, name: &str) -> Option<u32> {
        let found = self.base.find(hash, name.as_bytes());
        if found.is_some() {
            return found;
        }
        if !self.frozen.is_empty()
            && let Some(id) = self.frozen.get(hash, name)
        {
            return Some(id);
        }
        if !self.delta.is_empty()
            && let Some(id) = self.delta.get(hash, name)
        {
            return Some(id);
        }
        self.loading.as_ref().and_then(|l| l.get(hash, name.as_bytes()))
    }

    /// Gives `name` the id `id` (the next one: ids are dense). The caller has checked that
    /// the name is new.
    pub(crate) fn insert(&mut self, name: &Id, id: u32) {
        debug_assert_eq!(id as usize, self.len());
        let hash = self.hasher.hash_one(name.as_str().as_bytes());
        if self.bulk {
            let loading = self.loading.get_or_insert_with(|| Arc::new(Loading::starting_at(id)));
            Arc::make_mut(loading).insert(hash, name.as_str().as_bytes(), id);
            return;
        }
        self.delta.insert(hash, name, id);
        self.advance_fold();
    }

    /// Swaps in a fold that has finished, or starts one when the delta has outgrown its
    /// share of the base.
    fn advance_fold(&mut self) {
        match Background::poll(&mut self.folding) {
            Polled::Built(base) => {
                self.base = base;
                self.frozen = Delta::default();
            }
            Polled::Failed => self.compact(),
            Polled::Running => {}
            Polled::Idle if self.delta.len() > COMPACT_AT.max(self.base.len / 8) => self.fold_in_background(),
            Polled::Idle => {}
        }
    }

    /// Freezes the delta and starts a thread that folds it and the base into a new base
    /// (at once, here, when no thread can be started). Does nothing while a fold runs.
    pub(crate) fn fold_in_background(&mut self) {
        if self.folding.is_some() || self.delta.is_empty() {
            return;
        }
        self.frozen = std::mem::take(&mut self.delta);
        let (base, frozen, hasher) = (self.base.clone(), self.frozen.clone(), self.hasher.clone());
        match Background::start("endocarp-names-fold", move || {
            Arc::new(Flat::merged(
                &hasher,
                &base,
                frozen.iter().map(|(n, id)| (n.as_str().as_bytes(), id)),
            ))
        }) {
            Some(fold) => self.folding = Some(fold),
            None => self.compact(),
        }
    }

    /// Waits for a fold in progress and swaps its base in (tests and benchmarks).
    pub(crate) fn finish_fold(&mut self) {
        while let Some(fold) = self.folding.clone() {
            fold.finish();
            self.advance_fold();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.base.len + self.frozen.len() + self.delta.len() + self.loading_len()
    }

    /// How many names the bulk load in progress added.
    fn loading_len(&self) -> usize {
        self.loading.as_ref().map_or(0, |l| l.len())
    }

    /// Names added from now on go to a plain hash map until [`Names::end_bulk`].
    pub(crate) fn begin_bulk(&mut self) {
        self.bulk = true;
    }

    /// Ends a bulk load: the delta is folded into the base.
    pub(crate) fn end_bulk(&mut self) {
        self.bulk = false;
        self.compact();
        self.loading = None;
    }

    /// Folds the frozen names and the delta into a new base now (ids unchanged; records in
    /// id order); a fold in progress is abandoned.
    pub(crate) fn compact(&mut self) {
        if self.frozen.is_empty() && self.delta.is_empty() && self.loading_len() == 0 {
            return;
        }
        let loading = self.loading.take();
        let added = self.frozen.iter().chain(self.delta.iter());
        let base = Flat::merged(
            &self.hasher,
            &self.base,
            added
                .map(|(n, id)| (n.as_str().as_bytes(), id))
                .chain(loading.iter().flat_map(|l| l.records().map(|(id, n)| (n, id)))),
        );
        self.base = Arc::new(base);
        self.frozen = Delta::default();
        self.delta = Delta::default();
        self.folding = None;
    }

    /// Every name and its id (the base's in id order, then the frozen names' and the
    /// delta's in no order, then a bulk load's in id order).
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], u32)> + '_ {
        let loading = self.loading.iter().flat_map(|l| l.records().map(|(id, n)| (n, id)));
        self.base.records().map(|(id, n)| (n, id)).chain(
            self.frozen
                .iter()
                .chain(self.delta.iter())
                .map(|(n, id)| (n.as_str().as_bytes(), id))
                .chain(loading),
        )
    }

    /// How many names are not in the base (frozen, in the delta or a bulk load's).
    #[cfg(test)]
    fn delta_len(&self) -> usize {
        self.frozen.len() + self.delta.len() + self.loading_len()
    }

    /// Checks the table's own invariants: every name found at its id, ids dense and
    /// unique, the frozen names' ids right after the base's and the delta's after those,
    /// frozen names exactly while a fold runs, the base at most half full.
    pub(crate) fn validate(&self) -> Result<(), String> {
        let mut seen = vec![false; self.len()];
        for (name, id) in self.iter() {
            let text = std::str::from_utf8(name).map_err(|_| format!("name of id {id} is not UTF-8"))?;
            if self.get(text) != Some(id) {
                return Err(format!("name {text:?} is not found at its id {id}"));
            }
            match seen.get_mut(id as usize) {
                Some(s) if !*s => *s = true,
                _ => return Err(format!("id {id} is out of range or given twice")),
            }
        }
        let frozen_end = self.base.len + self.frozen.len();
        if let Some((n, id)) = self
            .frozen
            .iter()
            .find(|(_, id)| !(self.base.len..frozen_end).contains(&(*id as usize)))
        {
            return Err(format!(
                "frozen name {n:?} has id {id}, outside {}..{frozen_end}",
                self.base.len
            ));
        }
        if let Some((n, id)) = self.delta.iter().find(|(_, id)| (*id as usize) < frozen_end) {
            return Err(format!("delta name {n:?} has id {id}, below {frozen_end}"));
        }
        let delta_end = frozen_end + self.delta.len();
        if let Some(loading) = &self.loading {
            if loading.first as usize != delta_end {
                return Err(format!(
                    "the bulk-loaded names' ids start at {}, not {delta_end}",
                    loading.first
                ));
            }
            loading.validate()?;
        }
        if self.loading.is_some() && !self.bulk {
            return Err("a bulk load's names outside a bulk load".into());
        }
        if self.folding.is_some() == self.frozen.is_empty() {
            return Err(format!(
                "{} frozen names with {} fold in progress",
                self.frozen.len(),
                if self.folding.is_some() { "a" } else { "no" }
            ));
        }
        let used = self.base.slots.iter().filter(|s| s.word != 0).count();
        // Each slot's id is its record's place in the arena, its length the record's.
        let words: Vec<u32> = self.base.placed().map(|(_, word, _)| word).collect();
        if let Some(s) = self.base.slots.iter().find(|s| {
            s.word != 0
                && (words.binary_search(&s.word) != Ok(s.id as usize)
                    || self.base.record(s.word).len() != s.len as usize)
        }) {
            return Err(format!(
                "a slot holds id {} and length {} for the record at word {} ({:?}, its place {:?})",
                s.id,
                s.len,
                s.word,
                String::from_utf8_lossy(self.base.record(s.word)),
                words.binary_search(&s.word)
            ));
        }
        if used != self.base.len || (self.base.len > 0 && used * 2 > self.base.slots.len()) {
            return Err(format!(
                "{used} slots used for {} base names of {}",
                self.base.len,
                self.base.slots.len()
            ));
        }
        Ok(())
    }
}

mod delta;
mod loading;
#[cfg(test)]
mod tests;
