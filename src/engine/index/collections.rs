//! Asset collections in the index: which collections each asset is directly part of, and
//! each collection's direct members (for look-ups), both sorted rows keyed by name
//! (docs/CONTRACT.md §1, "Asset collections"). A check walks the first map from its
//! target; look-ups and the Casbin export walk the second down from a collection.

use super::{Index, PMap};
use crate::domain::Id;
use std::sync::Arc;

impl Index {
    /// The asset collections `asset` is directly part of, sorted.
    pub(crate) fn collections_of(&self, asset: &str) -> &[Id] {
        self.collections.get(asset).map_or(&[], |c| c.as_slice())
    }

    /// The direct members of the asset collection `collection`, sorted.
    pub(crate) fn members_of(&self, collection: &str) -> &[Id] {
        self.members.get(collection).map_or(&[], |c| c.as_slice())
    }

    /// Every asset that is part of `collection`, directly or through other collections
    /// (`collection` itself excluded), in byte order.
    pub fn members_within(&self, collection: &str) -> Vec<&Id> {
        let mut out: Vec<&Id> = Vec::new();
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::from([collection]);
        let mut next = 0;
        let mut at = collection;
        loop {
            for m in self.members_of(at) {
                if seen.insert(m.as_str()) {
                    out.push(m);
                }
            }
            let Some(m) = out.get(next) else { break };
            at = m.as_str();
            next += 1;
        }
        out.sort_unstable();
        out
    }

    /// True when some asset is part of an asset collection: only then does a check look
    /// beyond its target's own row (a check without collections pays one comparison).
    #[inline]
    pub fn collections_in_use(&self) -> bool {
        self.stats.asset_edges > 0
    }

    /// Every asset that is part of some collection, in no particular order.
    pub(crate) fn assets_in_collections(&self) -> impl Iterator<Item = &Id> {
        self.collections.keys()
    }

    /// `asset` in `collection`, on or off (a set operation).
    pub(super) fn put_in_collection(&mut self, asset: &Id, collection: &Id, on: bool) {
        if toggle(&mut self.collections, asset, collection, on) {
            toggle(&mut self.members, collection, asset, on);
            if on {
                self.stats.asset_edges += 1;
            } else {
                self.stats.asset_edges -= 1;
            }
        }
    }
}

/// Puts `value` into (or takes it out of) the sorted row of `key`; true when the row
/// changed. Rows that become empty are removed.
fn toggle(map: &mut PMap<Id, Arc<Vec<Id>>>, key: &Id, value: &Id, on: bool) -> bool {
    let mut row = map.get(key).map(|r| r.to_vec()).unwrap_or_default();
    match (row.binary_search(value), on) {
        (Err(i), true) => row.insert(i, value.clone()),
        (Ok(i), false) => {
            row.remove(i);
        }
        _ => return false,
    }
    if row.is_empty() {
        map.remove(key);
    } else {
        map.insert(key.clone(), Arc::new(row));
    }
    true
}
