//! A persistent vector: a radix tree of 64-way nodes behind `Arc`s.
//!
//! `get` is a shift and a mask per level (three levels hold 262,144 entries, four hold
//! 16.7 million) with no size tables or focus to consult, which is all the index asks of it:
//! dense ids, appended in order, read far more often than written. `clone` is O(1); `push`
//! and `get_mut` copy the path to the entry when a published snapshot shares it, and change
//! it in place when nothing else holds it (the bulk load).

use std::sync::Arc;

const BITS: u32 = 6;
const WIDTH: usize = 1 << BITS;
const MASK: usize = WIDTH - 1;

#[derive(Debug)]
enum Node<T> {
    Leaf(Vec<T>),
    Inner(Vec<Arc<Node<T>>>),
}

impl<T: Clone> Clone for Node<T> {
    fn clone(&self) -> Self {
        match self {
            Node::Leaf(v) => Node::Leaf(v.clone()),
            Node::Inner(v) => Node::Inner(v.clone()),
        }
    }
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct PVec<T> {
    root: Arc<Node<T>>,
    /// Levels below the root (0: the root is a leaf).
    height: u32,
    len: usize,
}

impl<T> Clone for PVec<T> {
    fn clone(&self) -> Self {
        PVec {
            root: Arc::clone(&self.root),
            height: self.height,
            len: self.len,
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
        PVec {
            root: Arc::new(Node::Leaf(Vec::new())),
            height: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn get(&self, index: usize) -> Option<&T> {
        if index >= self.len {
            return None;
        }
        let mut node = &*self.root;
        let mut shift = self.height * BITS;
        loop {
            match node {
                Node::Inner(children) => {
                    node = &children[(index >> shift) & MASK];
                    shift -= BITS;
                }
                Node::Leaf(items) => return items.get(index & MASK),
            }
        }
    }

    /// The entry, its path copied first if shared.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        if index >= self.len {
            return None;
        }
        let mut node = Arc::make_mut(&mut self.root);
        let mut shift = self.height * BITS;
        loop {
            match node {
                Node::Inner(children) => {
                    node = Arc::make_mut(&mut children[(index >> shift) & MASK]);
                    shift -= BITS;
                }
                Node::Leaf(items) => return items.get_mut(index & MASK),
            }
        }
    }

    pub fn push_back(&mut self, value: T) {
        let index = self.len;
        // A full tree grows a level: the old root becomes the new root's first child.
        if index == WIDTH.pow(self.height + 1) {
            let old = std::mem::replace(&mut self.root, Arc::new(Node::Leaf(Vec::new())));
            self.root = Arc::new(Node::Inner(vec![old]));
            self.height += 1;
        }
        let mut node = Arc::make_mut(&mut self.root);
        let mut shift = self.height * BITS;
        loop {
            match node {
                Node::Inner(children) => {
                    let slot = (index >> shift) & MASK;
                    if slot == children.len() {
                        let fresh = if shift == BITS {
                            Node::Leaf(Vec::with_capacity(WIDTH))
                        } else {
                            Node::Inner(Vec::with_capacity(WIDTH))
                        };
                        children.push(Arc::new(fresh));
                    }
                    node = Arc::make_mut(&mut children[slot]);
                    shift -= BITS;
                }
                Node::Leaf(items) => {
                    items.push(value);
                    break;
                }
            }
        }
        self.len += 1;
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        (0..self.len).filter_map(move |i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::PVec;

    #[test]
    fn holds_what_was_pushed_and_old_copies_do_not_change() {
        let mut v = PVec::new();
        let mut copies = Vec::new();
        for i in 0..10_000u32 {
            v.push_back(i);
            if i % 997 == 0 {
                copies.push(v.clone());
            }
        }
        assert_eq!(v.len(), 10_000);
        assert!((0..10_000).all(|i| v.get(i as usize) == Some(&i)));
        assert_eq!(v.get(10_000), None);
        *v.get_mut(4_321).unwrap() = 7;
        assert_eq!(v.get(4_321), Some(&7));
        for c in &copies {
            assert!((0..c.len()).all(|i| c.get(i) == Some(&(i as u32))));
        }
        assert_eq!(v.iter().count(), 10_000);
    }
}
