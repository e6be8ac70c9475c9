//! A persistent sorted list in chunks: the rows of the reverse structures.
//!
//! The list is a spine of shared chunks of at most `2 × CHUNK` entries. Cloning copies the
//! spine (one pointer per chunk); inserting or removing copies the one chunk it touches
//! (when a published snapshot shares it) and splits a chunk that grew past `2 × CHUNK`.
//! So a write to a row of n entries copies about n / CHUNK pointers and one chunk — a few
//! KiB at most for the rows of a large organisation — where a persistent RRB vector's
//! insert in the middle rebuilt whole paths (tens of KiB).
//!
//! Order is the caller's: every search takes a comparator, because the reverse rows are
//! sorted by target *names* that live elsewhere.

use std::cmp::Ordering;
use std::sync::Arc;

/// Entries per chunk when a list is built from sorted entries; chunks split past twice
/// this.
const CHUNK: usize = 64;

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

/// Where an entry is: (chunk, offset in it).
pub(crate) type At = (usize, usize);

impl<T: Clone> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// Builds a list from entries already sorted.
    pub fn from_sorted(all: Vec<T>) -> Chunked<T> {
        let len = all.len();
        let chunks = all.chunks(CHUNK).map(|c| Arc::new(c.to_vec())).collect();
        Chunked { chunks, len }
    }

    /// Binary search with `f` (the entry's order against the key): `Ok` where an equal
    /// entry is, `Err` where the key would be inserted.
    pub fn search(&self, f: impl Fn(&T) -> Ordering) -> Result<At, At> {
        let c = self
            .chunks
            .partition_point(|ch| ch.last().is_some_and(|last| f(last) == Ordering::Less));
        if c == self.chunks.len() {
            return Err(match self.chunks.last() {
                Some(last) => (c - 1, last.len()),
                None => (0, 0),
            });
        }
        match self.chunks[c].binary_search_by(&f) {
            Ok(o) => Ok((c, o)),
            Err(o) => Err((c, o)),
        }
    }

    /// Inserts `x` at `at` (a position [`Chunked::search`] gave). A chunk a published
    /// snapshot shares is copied once, with room for exactly what it holds (not cloned and
    /// then grown); one held alone grows by a quarter at a time, so rows keep little slack.
    pub fn insert(&mut self, (c, o): At, x: T) {
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(Arc::new(vec![x]));
            return;
        }
        let slot = &mut self.chunks[c];
        let tail = match Arc::get_mut(slot) {
            Some(chunk) => {
                if chunk.len() == chunk.capacity() {
                    chunk.reserve_exact(chunk.len() / 4 + 1);
                }
                chunk.insert(o, x);
                split_long(chunk)
            }
            None => {
                let mut copy = Vec::with_capacity(slot.len() + 1);
                copy.extend_from_slice(&slot[..o]);
                copy.push(x);
                copy.extend_from_slice(&slot[o..]);
                let tail = split_long(&mut copy);
                *slot = Arc::new(copy);
                tail
            }
        };
        if let Some(tail) = tail {
            self.chunks.insert(c + 1, Arc::new(tail));
        }
    }

    /// Removes the entry at `at` (an `Ok` of [`Chunked::search`]); a shared chunk is
    /// copied without it.
    pub fn remove(&mut self, (c, o): At) -> T {
        self.len -= 1;
        let slot = &mut self.chunks[c];
        let x = match Arc::get_mut(slot) {
            Some(chunk) => chunk.remove(o),
            None => {
                let x = slot[o].clone();
                let copy: Vec<T> = slot[..o].iter().chain(&slot[o + 1..]).cloned().collect();
                *slot = Arc::new(copy);
                x
            }
        };
        if self.chunks[c].is_empty() {
            self.chunks.remove(c);
        }
        x
    }

    /// Appends without keeping order (a bulk load; [`Chunked::sort_mapped`] restores it).
    pub fn push_unsorted(&mut self, x: T) {
        self.len += 1;
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Arc::make_mut(last).push(x),
            _ => self.chunks.push(Arc::new(vec![x])),
        }
    }

    /// Removes the first entry `matches` accepts, searching every entry (a bulk load's
    /// removal).
    pub fn remove_unsorted(&mut self, matches: impl Fn(&T) -> bool) -> bool {
        for c in 0..self.chunks.len() {
            if let Some(o) = self.chunks[c].iter().position(&matches) {
                self.remove((c, o));
                return true;
            }
        }
        false
    }

    /// Rewrites every entry with `f`, sorts and drops duplicates (the end of a bulk load).
    pub fn sort_mapped(&mut self, f: impl Fn(T) -> T)
    where
        T: Ord,
    {
        let mut all: Vec<T> = self.iter().cloned().map(f).collect();
        all.sort_unstable();
        all.dedup();
        *self = Chunked::from_sorted(all);
    }

    /// The entry at `at` (a position [`Chunked::search`] found).
    pub fn get(&self, (c, o): At) -> &T {
        &self.chunks[c][o]
    }

    /// The entry at `at` (a position [`Chunked::search`] found), to change in place: the
    /// caller keeps the order.
    pub fn get_mut(&mut self, (c, o): At) -> &mut T {
        &mut Arc::make_mut(&mut self.chunks[c])[o]
    }

    /// A cursor at `at`, the first entry at or after it.
    pub fn cursor(&self, at: At) -> Cursor<'_, T> {
        let mut cur = Cursor {
            chunks: &self.chunks,
            c: at.0,
            o: at.1,
        };
        cur.settle();
        cur
    }
}

/// Splits a chunk that grew past `2 × CHUNK`: the entries from `CHUNK` on, to go after it.
fn split_long<T>(chunk: &mut Vec<T>) -> Option<Vec<T>> {
    (chunk.len() > 2 * CHUNK).then(|| {
        let tail = chunk.split_off(CHUNK);
        chunk.shrink_to_fit();
        tail
    })
}

/// Reads a list forward from a position.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a, T> {
    chunks: &'a [Arc<Vec<T>>],
    c: usize,
    o: usize,
}

impl<'a, T> Cursor<'a, T> {
    /// Moves past the end of a chunk to the next one.
    fn settle(&mut self) {
        while self.c < self.chunks.len() && self.o >= self.chunks[self.c].len() {
            self.c += 1;
            self.o = 0;
        }
    }

    /// The entry here, if the list has not ended.
    pub fn peek(&self) -> Option<&'a T> {
        self.chunks.get(self.c).and_then(|ch| ch.get(self.o))
    }

    pub fn advance(&mut self) {
        self.o += 1;
        self.settle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_and_removes_keep_order_and_share_chunks() {
        let mut list: Chunked<u32> = Chunked::default();
        let mut model: Vec<u32> = Vec::new();
        let mut x: u32 = 7;
        for i in 0..2_000u32 {
            x = x.wrapping_mul(2_654_435_761).wrapping_add(i) % 5_000;
            match list.search(|y| y.cmp(&x)) {
                Ok(at) if i % 3 == 0 => {
                    // Every other removal from a list a clone shares (copied without it).
                    let kept = (i % 2 == 0).then(|| (list.clone(), model.clone()));
                    list.remove(at);
                    model.retain(|&y| y != x);
                    if let Some((kept, was)) = kept {
                        assert_eq!(kept.iter().copied().collect::<Vec<_>>(), was);
                    }
                }
                Ok(_) => {}
                Err(at) => {
                    // Every other insertion into a list a clone shares.
                    let kept = (i % 2 == 0).then(|| (list.clone(), model.clone()));
                    list.insert(at, x);
                    let pos = model.partition_point(|&y| y < x);
                    model.insert(pos, x);
                    // The clone still holds what it held.
                    if let Some((kept, was)) = kept {
                        assert_eq!(kept.iter().copied().collect::<Vec<_>>(), was);
                    }
                }
            }
            assert_eq!(list.len(), model.len());
            assert_eq!(list.iter().copied().collect::<Vec<_>>(), model);
        }
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), model);
        let mut cur = list.cursor((0, 0));
        let mut read = Vec::new();
        while let Some(&v) = cur.peek() {
            read.push(v);
            cur.advance();
        }
        assert_eq!(read, model);
        let mut bulk: Chunked<u32> = Chunked::default();
        for &v in model.iter().rev() {
            bulk.push_unsorted(v);
        }
        assert!(bulk.remove_unsorted(|&v| v == model[3]));
        bulk.sort_mapped(|v| v);
        let mut want = model.clone();
        want.remove(3);
        assert_eq!(bulk.iter().copied().collect::<Vec<_>>(), want);
    }
}
