//! The names a table added since its base was built (its delta, and the frozen names of a
//! fold in progress): a persistent hash trie keyed by the hash the base's look-up already
//! computed, sixteen children a node, up to [`LEAF`] names a leaf.
//!
//! A write copies the nodes on one path, as any persistent map does, but these are small:
//! a node is sixteen 16-byte children (256 bytes) and a leaf at most eight 32-byte
//! entries, so a new name copies about four nodes and a leaf (~1.4 KiB) at 100k names in
//! the delta. The general persistent hash map it replaced (32-way nodes holding the
//! entries themselves) copied up to ~10 KiB for one new name: half of the largest
//! publishes of new targets (docs/BENCHMARKS.md). Look-ups reuse the hash the base's
//! probe computed.
//!
//! Names are never removed. Hashes that collide in every bit (a hasher that makes every
//! key collide, in tests) end in one leaf at the bottom, which then grows past [`LEAF`]
//! and is searched by name.

use crate::domain::Id;
use std::sync::Arc;

/// Children a node.
const FAN: usize = 16;
/// Hash bits a level.
const BITS: u32 = FAN.trailing_zeros();
/// Levels before the hash's bits run out: a leaf there is never split.
const DEPTH: u32 = u64::BITS / BITS;
/// Names a leaf holds before it splits into a node.
const LEAF: usize = 8;

/// See the module docs.
#[derive(Clone, Default)]
pub(crate) struct Delta {
    root: Child,
    len: usize,
}

#[derive(Clone, Default)]
enum Child {
    #[default]
    Empty,
    Leaf(Arc<[Entry]>),
    Node(Arc<[Child; FAN]>),
}

#[derive(Clone)]
struct Entry {
    hash: u64,
    id: u32,
    name: Id,
}

/// Which child of a node at `depth` the hash goes to.
fn slot(hash: u64, depth: u32) -> usize {
    (hash >> (depth * BITS)) as usize & (FAN - 1)
}

impl Delta {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of `name`, whose hash is `hash`, if the delta holds it.
    #[inline]
    pub(crate) fn get(&self, hash: u64, name: &str) -> Option<u32> {
        let mut child = &self.root;
        let mut depth = 0;
        loop {
            match child {
                Child::Empty => return None,
                Child::Leaf(entries) => {
                    return entries
                        .iter()
                        .find(|e| e.hash == hash && e.name.as_str() == name)
                        .map(|e| e.id);
                }
                Child::Node(children) => {
                    child = &children[slot(hash, depth)];
                    depth += 1;
                }
            }
        }
    }

    /// Adds `name` (hash `hash`, not in the delta) with id `id`.
    pub(crate) fn insert(&mut self, hash: u64, name: &Id, id: u32) {
        debug_assert!(self.get(hash, name.as_str()).is_none());
        insert(
            &mut self.root,
            0,
            Entry {
                hash,
                id,
                name: name.clone(),
            },
        );
        self.len += 1;
    }

    /// Every name and its id, in no order.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            stack: vec![std::slice::from_ref(&self.root).iter()],
            leaf: [].iter(),
        }
    }
}

/// Adds `entry` under `child`, a child at `depth`: copies the nodes on its path that other
/// tables share, and splits a full leaf (unless the hash's bits have run out).
fn insert(child: &mut Child, depth: u32, entry: Entry) {
    match child {
        Child::Empty => *child = Child::Leaf(Arc::from([entry])),
        Child::Leaf(entries) if entries.len() < LEAF || depth >= DEPTH => {
            let grown: Vec<Entry> = entries.iter().cloned().chain([entry]).collect();
            *child = Child::Leaf(grown.into());
        }
        Child::Leaf(entries) => {
            let mut children: [Child; FAN] = Default::default();
            for e in entries.iter().cloned().chain([entry]) {
                let at = slot(e.hash, depth);
                insert(&mut children[at], depth + 1, e);
            }
            *child = Child::Node(Arc::new(children));
        }
        Child::Node(children) => {
            let at = slot(entry.hash, depth);
            insert(&mut Arc::make_mut(children)[at], depth + 1, entry);
        }
    }
}

/// [`Delta::iter`]: depth first.
pub(crate) struct Iter<'a> {
    stack: Vec<std::slice::Iter<'a, Child>>,
    leaf: std::slice::Iter<'a, Entry>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Id, u32);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(e) = self.leaf.next() {
                return Some((&e.name, e.id));
            }
            let top = self.stack.last_mut()?;
            match top.next() {
                None => {
                    self.stack.pop();
                }
                Some(Child::Empty) => {}
                Some(Child::Leaf(entries)) => self.leaf = entries.iter(),
                Some(Child::Node(children)) => self.stack.push(children.iter()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Id {
        Id::from_trusted(s)
    }

    /// Names under a hash of their own, under hashes that share their low bits (deep
    /// paths) and under one hash for all (a leaf past the bottom): each found at its id,
    /// none that was not added, every one listed once, and a copy taken earlier unchanged.
    #[test]
    fn finds_every_name_added_and_copies_keep_their_names() {
        let hashes: [&dyn Fn(u64) -> u64; 3] = [
            &|i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            &|i: u64| i << 40,
            &|_| 7,
        ];
        for hash in hashes {
            let mut delta = Delta::default();
            let mut copies = Vec::new();
            for i in 0..600u64 {
                let name = id(&format!("name-{i}"));
                delta.insert(hash(i), &name, i as u32);
                if i % 97 == 0 {
                    copies.push((i, delta.clone()));
                }
            }
            assert_eq!(delta.len(), 600);
            for i in 0..600u64 {
                assert_eq!(delta.get(hash(i), &format!("name-{i}")), Some(i as u32));
                assert_eq!(delta.get(hash(i), &format!("other-{i}")), None);
            }
            let mut listed: Vec<u32> = delta
                .iter()
                .map(|(name, id)| {
                    assert_eq!(name.as_str(), format!("name-{id}"));
                    id
                })
                .collect();
            listed.sort_unstable();
            assert_eq!(listed, (0..600).collect::<Vec<u32>>());
            for (last, copy) in copies {
                assert_eq!(copy.len() as u64, last + 1);
                assert_eq!(copy.iter().count() as u64, last + 1);
                assert_eq!(copy.get(hash(last), &format!("name-{last}")), Some(last as u32));
                assert_eq!(copy.get(hash(last + 1), &format!("name-{}", last + 1)), None);
            }
        }
    }
}
