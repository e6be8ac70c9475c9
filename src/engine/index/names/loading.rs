//! A bulk load's names ([`Loading`]): a growing table laid out as a base is.

use super::{Slot, add_record, place, probe, record_in, records_in};

/// The names of a bulk load: records in id order in one arena and slots to find them, as
/// a base has them, but growing (the slots doubled, from where each name's hash put it,
/// when they would be more than half full). A look-up reads a slot and the record it
/// names, with the hash its caller computed once; a hash map of `Id`s read its control
/// bytes, its bucket and then the key's bytes behind the `Id`'s pointer, each a cache miss
/// in a table of a million names, and hashed the name again. Its records come out in id
/// order, so the load's end folds them into the base without sorting them.
#[derive(Clone, Default)]
pub(super) struct Loading {
    /// The id of the first name (the ids follow the delta's).
    pub(super) first: u32,
    /// A power of two in length (or none yet), at most half full.
    slots: Vec<Slot>,
    /// Records as a base's arena holds them, in id order from `first`.
    arena: Vec<u8>,
    /// The low 32 bits of each name's hash, in id order: where its slot goes when the
    /// slots grow (the slot holds the high 32).
    homes: Vec<u32>,
}

impl Loading {
    /// An empty table whose first name will have the id `first`.
    pub(super) fn starting_at(first: u32) -> Loading {
        Loading {
            first,
            ..Loading::default()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.homes.len()
    }

    #[inline]
    pub(super) fn get(&self, hash: u64, name: &[u8]) -> Option<u32> {
        probe(&self.slots, hash, |slot| {
            slot.len as usize == name.len() && record_in(&self.arena, slot.word) == name
        })
        .map(|slot| slot.id)
    }

    /// Adds `name` (new, with the next id) under its `hash`.
    pub(super) fn insert(&mut self, hash: u64, name: &[u8], id: u32) {
        debug_assert_eq!(id as usize, self.first as usize + self.len(), "ids are dense");
        if (self.len() + 1) * 2 > self.slots.len() {
            let mut slots = vec![Slot::default(); (self.slots.len() * 2).max(64)];
            for slot in self.slots.iter().filter(|s| s.word != 0) {
                let home = self.homes[(slot.id - self.first) as usize];
                place(&mut slots, (u64::from(slot.tag) << 32) | u64::from(home), *slot);
            }
            self.slots = slots;
        }
        add_record(&mut self.slots, &mut self.arena, hash, name, id);
        self.homes.push(hash as u32);
    }

    /// Every name with its id, in id order.
    pub(super) fn records(&self) -> impl Iterator<Item = (u32, &[u8])> + '_ {
        records_in(&self.arena).map(|(k, _, bytes)| (self.first + k, bytes))
    }

    /// Slots used, and whether each names a record of this table with its length.
    pub(super) fn validate(&self) -> Result<(), String> {
        let words: Vec<u32> = records_in(&self.arena).map(|(_, word, _)| word).collect();
        let mut used = 0;
        for s in self.slots.iter().filter(|s| s.word != 0) {
            used += 1;
            if words.binary_search(&s.word) != Ok((s.id - self.first) as usize)
                || record_in(&self.arena, s.word).len() != s.len as usize
            {
                return Err(format!(
                    "a bulk-load slot holds id {} for the record at word {}",
                    s.id, s.word
                ));
            }
        }
        if used != self.len() || words.len() != self.len() || used * 2 > self.slots.len() {
            return Err(format!(
                "{used} bulk-load slots of {} for {} names ({} records)",
                self.slots.len(),
                self.len(),
                words.len()
            ));
        }
        Ok(())
    }
}
