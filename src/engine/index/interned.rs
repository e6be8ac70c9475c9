//! An interned namespace: each key gets a dense `u32` id the first time it is seen, and the
//! id leads to its entry. Keys are found in a persistent hash map, or for names in a
//! [`Names`] table; entries are a persistent vector in id order.

use super::names::Names;
use super::{IdHasher, PMap};
use crate::domain::Id;
use crate::engine::pvec::PVec;

/// Where an interned namespace finds a key's id: a persistent hash map, or for names a
/// [`Names`] table.
pub(crate) trait Keys: Clone {
    type Key;
    fn empty(hasher: &IdHasher) -> Self;
    fn find(&self, key: &Self::Key) -> Option<u32>;
    /// Gives a new key the next id.
    fn add(&mut self, key: &Self::Key, id: u32);
    fn count(&self) -> usize;
}

impl<K: Clone + std::hash::Hash + Eq> Keys for PMap<K, u32> {
    type Key = K;
    fn empty(hasher: &IdHasher) -> Self {
        PMap::with_hasher(hasher.clone())
    }
    fn find(&self, key: &K) -> Option<u32> {
        self.get(key).copied()
    }
    fn add(&mut self, key: &K, id: u32) {
        self.insert(key.clone(), id);
    }
    fn count(&self) -> usize {
        self.len()
    }
}

impl Keys for Names {
    type Key = Id;
    fn empty(hasher: &IdHasher) -> Self {
        Names::new(hasher)
    }
    fn find(&self, key: &Id) -> Option<u32> {
        self.get(key.as_str())
    }
    fn add(&mut self, key: &Id, id: u32) {
        self.insert(key, id);
    }
    fn count(&self) -> usize {
        self.len()
    }
}

/// An interned namespace: key → dense id, id → entry.
#[derive(Clone)]
pub(crate) struct Interned<M: Keys, V: Clone> {
    pub(super) ids: M,
    pub(super) entries: PVec<V>,
}

impl<K: Clone + std::hash::Hash + Eq, V: Clone> Interned<PMap<K, u32>, V> {
    pub(super) fn id<Q>(&self, key: &Q) -> Option<u32>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.ids.get(key).copied()
    }
}

impl<V: Clone> Interned<Names, V> {
    #[inline]
    pub(super) fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name)
    }
}

impl<M: Keys, V: Clone> Interned<M, V> {
    pub(super) fn new(hasher: &IdHasher) -> Self {
        Interned::with_phase(hasher, 0)
    }

    /// Empty, its entries a vector of that phase ([`PVec::with_phase`]).
    pub(super) fn with_phase(hasher: &IdHasher, phase: usize) -> Self {
        Interned {
            ids: M::empty(hasher),
            entries: PVec::with_phase(phase),
        }
    }

    pub(super) fn get(&self, id: u32) -> &V {
        self.entries.get(id as usize).expect("an interned id has an entry")
    }

    pub(super) fn get_mut(&mut self, id: u32) -> &mut V {
        self.entries.get_mut(id as usize).expect("an interned id has an entry")
    }

    /// The id of `key`, interning it (with `make(key)` as its entry) when new.
    pub(super) fn intern(&mut self, key: &M::Key, make: impl FnOnce(&M::Key) -> V) -> u32 {
        if let Some(id) = self.ids.find(key) {
            return id;
        }
        let id = u32::try_from(self.entries.len()).expect("fewer than 2^32 ids");
        self.ids.add(key, id);
        self.entries.push_back(make(key));
        id
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}
