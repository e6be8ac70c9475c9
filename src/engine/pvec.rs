//! A persistent vector: a radix tree of 64-way nodes behind `Arc`s, and a tail.
//!
//! `get` is a shift and a mask per level (three levels hold 262,144 entries, four hold
//! 16.7 million) with no size tables or focus to consult, which is all the index asks of it:
//! dense ids, appended in order, read far more often than written. A node holds its 64
//! entries (or children) inline in its own allocation, so each level costs one dependent
//! load — a child pointer read from the parent, then the entry read from the child — not
//! two (a node and then its buffer). Leaves and inner nodes are separate types, so an
//! inner node is 64 pointers whatever an entry's size. The last, partial run of entries is the *tail*, a
//! vector of its own: appending fills it in place when nothing else holds it and copies at
//! most 64 entries when a published snapshot shares it; a full tail moves into the tree
//! as a leaf. `clone` is O(1); `get_mut` copies the path to the entry when a published
//! snapshot shares it, and changes it in place when nothing else holds it (the bulk load).

use std::sync::Arc;

const BITS: u32 = 6;
const WIDTH: usize = 1 << BITS;
const MASK: usize = WIDTH - 1;

/// A full leaf: 64 entries in one allocation.
type Leaf<T> = Arc<[T; WIDTH]>;

/// An inner node: 64 children, all leaves (the level just above them) or all inner nodes.
/// Either way an array of pointers, so an inner node is 512 bytes whatever an entry's size
/// (one enum of leaf and inner node took the larger of the two for both: 1 KiB an inner
/// node for 16-byte entries, which a write appending a leaf copies three of at a million
/// entries). Boxing the arrays would bring back a second load per level.
#[derive(Debug, Clone)]
enum Inner<T> {
    Leaves([Option<Leaf<T>>; WIDTH]),
    Inners([Option<Arc<Inner<T>>>; WIDTH]),
}

/// The tree's root: a leaf while the tree holds one, then an inner node.
#[derive(Debug)]
enum Root<T> {
    Leaf(Leaf<T>),
    Inner(Arc<Inner<T>>),
}

impl<T> Clone for Root<T> {
    fn clone(&self) -> Self {
        match self {
            Root::Leaf(l) => Root::Leaf(Arc::clone(l)),
            Root::Inner(i) => Root::Inner(Arc::clone(i)),
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct PVec<T> {
    /// The full leaves, `None` while there are none.
    root: Option<Root<T>>,
    /// Levels of inner nodes (0: the root is a leaf).
    height: u32,
    /// Entries in the tree (a multiple of `WIDTH`); the tail's follow.
    tree_len: usize,
    tail: Arc<Vec<T>>,
    /// Hidden entries before the first (copies of it): entry `i` is stored at `i + phase`,
    /// so this vector's tail moves into the tree at other lengths than a vector's with
    /// another phase ([`PVec::with_phase`]).
    phase: usize,
}

impl<T> Clone for PVec<T> {
    fn clone(&self) -> Self {
        PVec {
            root: self.root.clone(),
            height: self.height,
            tree_len: self.tree_len,
            tail: Arc::clone(&self.tail),
            phase: self.phase,
        }
    }
}

impl<T: Clone> Default for PVec<T> {
    fn default() -> Self {
        PVec::new()
    }
}

impl<T: Clone> PVec<T> {
    pub fn new() -> Self {
        PVec::with_phase(0)
    }

    /// An empty vector whose tail moves into the tree when its length is `phase` short of
    /// a multiple of 64 (`phase` taken modulo 64), where a [`PVec::new`] one's moves at the
    /// multiples. Vectors that grow together (one entry per new name each) given different
    /// phases copy their tree paths at different writes, not all at the same one. The
    /// hidden entries are clones of the first value pushed: with a phase, an `Arc` pushed
    /// first is held `phase` times more (so `Arc::make_mut` on it copies).
    pub fn with_phase(phase: usize) -> Self {
        PVec {
            root: None,
            height: 0,
            tree_len: 0,
            tail: Arc::new(Vec::new()),
            phase: phase & MASK,
        }
    }

    pub fn len(&self) -> usize {
        (self.tree_len + self.tail.len()).saturating_sub(self.phase)
    }

    #[inline]
    pub fn get(&self, index: usize) -> Option<&T> {
        let index = index.checked_add(self.phase)?;
        if index >= self.tree_len {
            return self.tail.get(index - self.tree_len);
        }
        let mut node: &Inner<T> = match self.root.as_ref()? {
            Root::Leaf(items) => return items.get(index & MASK),
            Root::Inner(node) => node,
        };
        let mut shift = self.height * BITS;
        loop {
            match node {
                Inner::Inners(children) => {
                    node = children[(index >> shift) & MASK].as_deref()?;
                    shift -= BITS;
                }
                Inner::Leaves(leaves) => {
                    return leaves[(index >> BITS) & MASK]
                        .as_deref()
                        .map(|items| &items[index & MASK]);
                }
            }
        }
    }

    /// The entry, its path copied first if shared.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        let index = index.checked_add(self.phase)?;
        if index >= self.tree_len {
            return tail_mut(&mut self.tail, 0).get_mut(index - self.tree_len);
        }
        let mut node: &mut Inner<T> = match self.root.as_mut()? {
            Root::Leaf(items) => return Some(&mut Arc::make_mut(items)[index & MASK]),
            Root::Inner(node) => Arc::make_mut(node),
        };
        let mut shift = self.height * BITS;
        loop {
            match node {
                Inner::Inners(children) => {
                    node = Arc::make_mut(children[(index >> shift) & MASK].as_mut()?);
                    shift -= BITS;
                }
                Inner::Leaves(leaves) => {
                    let items = Arc::make_mut(leaves[(index >> BITS) & MASK].as_mut()?);
                    return Some(&mut items[index & MASK]);
                }
            }
        }
    }

    pub fn push_back(&mut self, value: T) {
        if self.tree_len + self.tail.len() == 0 {
            for _ in 0..self.phase {
                self.push_entry(value.clone());
            }
        }
        self.push_entry(value);
    }

    /// Appends one entry, hidden or not.
    fn push_entry(&mut self, value: T) {
        let in_place = Arc::get_mut(&mut self.tail).is_some();
        let tail = tail_mut(&mut self.tail, 1);
        tail.push(value);
        if tail.len() == WIDTH {
            // Filled in place (a bulk load), the next tail has room for WIDTH entries at
            // once; filled by copies of a published snapshot's, it starts empty, since the
            // next write copies it anyway (at its exact size).
            let next = if in_place {
                Vec::with_capacity(WIDTH)
            } else {
                Vec::new()
            };
            let full = std::mem::replace(tail, next);
            let Ok(items) = <[T; WIDTH]>::try_from(full) else {
                unreachable!("a full tail holds WIDTH entries")
            };
            self.push_leaf(Arc::new(items));
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len()).filter_map(move |i| self.get(i))
    }

    /// Appends a full leaf to the tree, growing it a level when it is full.
    fn push_leaf(&mut self, leaf: Leaf<T>) {
        let index = self.tree_len;
        self.tree_len += WIDTH;
        let Some(root) = self.root.take() else {
            self.root = Some(Root::Leaf(leaf));
            self.height = 0;
            return;
        };
        let mut root = if index == WIDTH.pow(self.height + 1) {
            self.height += 1;
            match root {
                Root::Leaf(first) => {
                    let mut leaves = no_children();
                    leaves[0] = Some(first);
                    Arc::new(Inner::Leaves(leaves))
                }
                Root::Inner(first) => {
                    let mut children = no_children();
                    children[0] = Some(first);
                    Arc::new(Inner::Inners(children))
                }
            }
        } else {
            match root {
                Root::Inner(node) => node,
                Root::Leaf(_) => unreachable!("a leaf root with room for none"),
            }
        };
        let mut node = Arc::make_mut(&mut root);
        let mut level = self.height;
        loop {
            match node {
                Inner::Leaves(leaves) => {
                    leaves[(index >> BITS) & MASK] = Some(leaf);
                    break;
                }
                Inner::Inners(children) => {
                    let slot = &mut children[(index >> (level * BITS)) & MASK];
                    level -= 1;
                    let empty = || {
                        Arc::new(if level == 1 {
                            Inner::Leaves(no_children())
                        } else {
                            Inner::Inners(no_children())
                        })
                    };
                    node = Arc::make_mut(slot.get_or_insert_with(empty));
                }
            }
        }
        self.root = Some(Root::Inner(root));
    }
}

fn no_children<C>() -> [Option<C>; WIDTH] {
    std::array::from_fn(|_| None)
}

/// The tail, copied first when a snapshot shares it, with room for `extra` more entries
/// (a write copies what the tail holds, not a whole leaf's room).
fn tail_mut<T: Clone>(tail: &mut Arc<Vec<T>>, extra: usize) -> &mut Vec<T> {
    if Arc::get_mut(tail).is_none() {
        let mut copy = Vec::with_capacity(tail.len() + extra);
        copy.extend_from_slice(tail);
        *tail = Arc::new(copy);
    }
    Arc::get_mut(tail).expect("a tail held once")
}

#[cfg(test)]
mod tests;
