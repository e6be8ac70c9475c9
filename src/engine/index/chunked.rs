//! A persistent sorted list in chunks: the rows of the reverse structures.
//!
//! The list is a spine of shared *groups* of shared chunks: a chunk holds at most
//! `2 × CHUNK` entries, a group at most `2 × GROUP` chunk pointers. Cloning copies the
//! spine (one pointer per group); inserting or removing copies the one group and the one
//! chunk it touches (when a published snapshot shares them) and splits a chunk or a group
//! that grew past twice its size. So a write to a row of n entries copies about
//! n / (CHUNK × GROUP) group pointers, one group (≤ 128 chunk pointers) and one chunk
//! (≤ 65 entries: 1.3 KiB of reverse rules), whatever the row's length; a write that
//! splits a chunk, or empties one, builds its group afresh (a few group-sized copies, once
//! in ~32 writes). Chunks of 32–64 entries, not 64–128, took ~0.6 KiB off each write that
//! changes a reverse entry (a new target's grant 5.2 → 4.7 KiB) for ~3% on a long
//! LookupAgents; groups of up to 128 chunks, not 64, kept the spine as short as before.
//! Nothing merges chunks or groups, so a list that shrank keeps the spine of its largest
//! size, as the flat spine did. With one flat spine of chunk pointers, a
//! write copied a pointer per chunk — and, since a node's reverse row is cloned whole, the
//! spines of its other lists too: giving a role held by a million agents one more holder
//! allocated 128.6 KiB, where it now allocates 11.6 KiB (`ENDOCARP_BENCH_BIG_ROLE`,
//! docs/BENCHMARKS.md).
//!
//! Order is the caller's: every search takes a comparator, because the reverse rows are
//! sorted by target *names* that live elsewhere.

use std::cmp::Ordering;
use std::sync::Arc;

/// Entries per chunk when a list is built from sorted entries; chunks split past twice
/// this.
const CHUNK: usize = 32;

/// Chunks per group when a list is built; groups split past twice this.
const GROUP: usize = 64;

type Chunk<T> = Arc<Vec<T>>;
/// A group's chunk pointers in the same allocation as its reference counts (a list of one
/// group, most rows, costs one allocation more than one flat spine would).
type Group<T> = Arc<[Chunk<T>]>;

/// See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct Chunked<T> {
    groups: Vec<Group<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            groups: Vec::new(),
            len: 0,
        }
    }
}

/// Where an entry is: group, chunk in the group, offset in the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    group: usize,
    chunk: usize,
    offset: usize,
}

impl At {
    /// The first entry of any list.
    pub(crate) const START: At = At {
        group: 0,
        chunk: 0,
        offset: 0,
    };
}

impl<T: Clone> Chunked<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> Cursor<'_, T> {
        self.cursor(At::START)
    }

    /// Builds a list from entries already sorted.
    pub fn from_sorted(all: Vec<T>) -> Chunked<T> {
        let len = all.len();
        let chunks: Vec<Chunk<T>> = all.chunks(CHUNK).map(|c| Arc::new(c.to_vec())).collect();
        let groups = chunks.chunks(GROUP).map(Arc::from).collect();
        Chunked { groups, len }
    }

    /// Binary search with `f` (the entry's order against the key): `Ok` where an equal
    /// entry is, `Err` where the key would be inserted. The group is the first whose last
    /// entry is not below the key, else the last group; the chunk likewise within it. So
    /// a list of one group (most rows) asks nothing of the group, and a key past every
    /// entry lands at the end of the last chunk.
    pub fn search(&self, f: impl Fn(&T) -> Ordering) -> Result<At, At> {
        let before = |ch: &Chunk<T>| ch.last().is_some_and(|last| f(last) == Ordering::Less);
        let Some((_, first)) = self.groups.split_last() else {
            return Err(At::START);
        };
        let group = first.partition_point(|g| g.last().is_some_and(&before));
        let chunks = &self.groups[group];
        let chunk = chunks[..chunks.len() - 1].partition_point(before);
        let at = |offset| At { group, chunk, offset };
        match chunks[chunk].binary_search_by(&f) {
            Ok(o) => Ok(at(o)),
            Err(o) => Err(at(o)),
        }
    }

    /// Inserts `x` at `at` (a position [`Chunked::search`] gave). A chunk a published
    /// snapshot shares is copied once, with room for exactly what it holds (not cloned and
    /// then grown); one held alone grows by a quarter at a time, so rows keep little slack.
    pub fn insert(&mut self, at: At, x: T) {
        self.len += 1;
        if self.groups.is_empty() {
            self.groups.push(Arc::from([Arc::new(vec![x])]));
            return;
        }
        let group = &mut self.groups[at.group];
        let slot = &mut Arc::make_mut(group)[at.chunk];
        let o = at.offset;
        let tail = match Arc::get_mut(slot) {
            Some(chunk) => {
                if chunk.len() == chunk.capacity() {
                    chunk.reserve_exact(chunk.len() / 4 + 1);
                }
                chunk.insert(o, x);
                split_long(chunk, CHUNK)
            }
            None => {
                let mut copy = Vec::with_capacity(slot.len() + 1);
                copy.extend_from_slice(&slot[..o]);
                copy.push(x);
                copy.extend_from_slice(&slot[o..]);
                let tail = split_long(&mut copy, CHUNK);
                *slot = Arc::new(copy);
                tail
            }
        };
        if let Some(tail) = tail {
            // The group again with the chunk's second half after it, split if too long.
            let mut chunks = Vec::with_capacity(group.len() + 1);
            chunks.extend_from_slice(&group[..=at.chunk]);
            chunks.push(Arc::new(tail));
            chunks.extend_from_slice(&group[at.chunk + 1..]);
            let rest = split_long(&mut chunks, GROUP);
            *group = chunks.into();
            if let Some(rest) = rest {
                self.groups.insert(at.group + 1, rest.into());
            }
        }
    }

    /// Removes the entry at `at` (an `Ok` of [`Chunked::search`]); a shared chunk is
    /// copied without it.
    pub fn remove(&mut self, at: At) -> T {
        self.len -= 1;
        let group = &mut self.groups[at.group];
        let slot = &mut Arc::make_mut(group)[at.chunk];
        let o = at.offset;
        let x = match Arc::get_mut(slot) {
            Some(chunk) => chunk.remove(o),
            None => {
                let x = slot[o].clone();
                let copy: Vec<T> = slot[..o].iter().chain(&slot[o + 1..]).cloned().collect();
                *slot = Arc::new(copy);
                x
            }
        };
        if group[at.chunk].is_empty() {
            if group.len() == 1 {
                self.groups.remove(at.group);
            } else {
                let rest = group[..at.chunk].iter().chain(&group[at.chunk + 1..]).cloned();
                *group = rest.collect();
            }
        }
        x
    }

    /// Appends without keeping order (a bulk load; [`Chunked::sort_mapped`] restores it).
    pub fn push_unsorted(&mut self, x: T) {
        self.len += 1;
        match self.groups.last_mut() {
            Some(g) if g.last().is_some_and(|c| c.len() < CHUNK) => {
                if let Some(last) = Arc::make_mut(g).last_mut() {
                    Arc::make_mut(last).push(x);
                }
            }
            Some(g) if g.len() < GROUP => {
                *g = g.iter().cloned().chain([Arc::new(vec![x])]).collect();
            }
            _ => self.groups.push(Arc::from([Arc::new(vec![x])])),
        }
    }

    /// Removes the first entry `matches` accepts, searching every entry (a bulk load's
    /// removal).
    pub fn remove_unsorted(&mut self, matches: impl Fn(&T) -> bool) -> bool {
        for (group, chunks) in self.groups.iter().enumerate() {
            for (chunk, entries) in chunks.iter().enumerate() {
                if let Some(offset) = entries.iter().position(&matches) {
                    self.remove(At { group, chunk, offset });
                    return true;
                }
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
    pub fn get(&self, at: At) -> &T {
        &self.groups[at.group][at.chunk][at.offset]
    }

    /// The entry at `at` (a position [`Chunked::search`] found), to change in place: the
    /// caller keeps the order.
    pub fn get_mut(&mut self, at: At) -> &mut T {
        let group = Arc::make_mut(&mut self.groups[at.group]);
        &mut Arc::make_mut(&mut group[at.chunk])[at.offset]
    }

    /// A cursor at `at`, the first entry at or after it.
    pub fn cursor(&self, at: At) -> Cursor<'_, T> {
        Cursor::new(&self.groups, at)
    }
}

/// Splits a vector that grew past `2 × size`: the items from `size` on, to go after it.
fn split_long<T>(items: &mut Vec<T>, size: usize) -> Option<Vec<T>> {
    (items.len() > 2 * size).then(|| {
        let tail = items.split_off(size);
        items.shrink_to_fit();
        tail
    })
}

/// Reads a list forward from a position. It holds the chunk it is in as a slice, so
/// reading an entry is one bounds check, and only crossing into the next chunk (or group)
/// reads the spine.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a, T> {
    groups: &'a [Group<T>],
    group: usize,
    chunk: usize,
    /// The entries of chunk `chunk` of group `group` (empty past the end).
    entries: &'a [T],
    offset: usize,
}

impl<'a, T> Cursor<'a, T> {
    fn new(groups: &'a [Group<T>], at: At) -> Cursor<'a, T> {
        let mut cur = Cursor {
            groups,
            group: at.group,
            chunk: at.chunk,
            entries: &[],
            offset: at.offset,
        };
        cur.settle();
        cur
    }

    /// Finds the chunk the position is in, moving past the end of a chunk to the next one
    /// and past the end of a group to the next (no chunk or group is empty, but a position
    /// may be just past one's end).
    fn settle(&mut self) {
        let groups: &'a [Group<T>] = self.groups;
        while let Some(group) = groups.get(self.group) {
            match group.get(self.chunk) {
                Some(chunk) if self.offset < chunk.len() => {
                    self.entries = chunk;
                    return;
                }
                Some(_) => {
                    self.chunk += 1;
                    self.offset = 0;
                }
                None => {
                    self.group += 1;
                    self.chunk = 0;
                    self.offset = 0;
                }
            }
        }
        self.entries = &[];
    }

    /// The entry here, if the list has not ended.
    #[inline]
    pub fn peek(&self) -> Option<&'a T> {
        self.entries.get(self.offset)
    }

    #[inline]
    pub fn advance(&mut self) {
        self.offset += 1;
        if self.offset >= self.entries.len() {
            self.settle();
        }
    }
}

impl<'a, T> Iterator for Cursor<'a, T> {
    type Item = &'a T;

    #[inline]
    fn next(&mut self) -> Option<&'a T> {
        let x = self.peek()?;
        self.advance();
        Some(x)
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
            let found = list.search(|y| y.cmp(&x));
            assert_eq!(found.is_ok(), model.binary_search(&x).is_ok(), "search for {x}");
            match found {
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
        let mut cur = list.cursor(At::START);
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

    /// A list of many groups: random inserts and removals (half of them on a list a clone
    /// shares) keep the order, split chunks and groups, copy one group and one chunk at
    /// most, and a cursor from any search reads the rest in order.
    #[test]
    fn a_long_list_splits_groups_and_copies_one_group_a_write() {
        let mut model: Vec<u32> = (0..20_000u32).map(|v| v * 8).collect();
        let mut list = Chunked::from_sorted(model.clone());
        let groups = list.groups.len();
        assert!(groups > 5, "{groups} groups");
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut x: u32;
        for i in 0..24_000u32 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            x = (seed % 170_000) as u32;
            if i % 4 != 0 {
                // Most writes converge on one stretch, which splits its group.
                x = 80_000 + x % 16_000;
            }
            let kept = (i % 2 == 0).then(|| list.clone());
            // Now and then the clone's contents too, checked after the write.
            let was = (i % 101 == 0).then(|| model.clone());
            let found = list.search(|y| y.cmp(&x));
            assert_eq!(
                found.is_ok(),
                model.binary_search(&x).is_ok(),
                "write {i}: search for {x}"
            );
            match found {
                Ok(at) if i % 3 == 0 => {
                    assert_eq!(list.remove(at), x);
                    model.retain(|&y| y != x);
                }
                Ok(at) => {
                    // A change in place that keeps the order: into the gap below `x` when
                    // there is one, and back.
                    let pos = model.partition_point(|&y| y < x);
                    if pos > 0 && model[pos - 1] + 1 < x {
                        *list.get_mut(at) = x - 1;
                        if let (Some(kept), Some(was)) = (&kept, &was) {
                            assert!(kept.iter().eq(was.iter()), "write {i}: a clone saw a change in place");
                        }
                        assert_eq!(*list.get(at), x - 1);
                        *list.get_mut(at) = x;
                    }
                }
                Err(at) => {
                    list.insert(at, x);
                    let pos = model.partition_point(|&y| y < x);
                    model.insert(pos, x);
                }
            }
            if let (Some(kept), Some(was)) = (&kept, &was) {
                assert!(kept.iter().eq(was.iter()), "write {i}: a clone saw the write");
            }
            if let Some(kept) = kept {
                // Every group but one (or two, after a split) is still shared with the
                // clone, and within it every chunk but one (or two).
                let fresh: Vec<usize> = (0..list.groups.len())
                    .filter(|&g| !kept.groups.iter().any(|k| Arc::ptr_eq(k, &list.groups[g])))
                    .collect();
                assert!(fresh.len() <= 2, "write {i}: {} groups copied", fresh.len());
                let old: Vec<&Chunk<u32>> = kept.groups.iter().flat_map(|g| g.iter()).collect();
                let chunks_copied = fresh
                    .iter()
                    .flat_map(|&g| list.groups[g].iter())
                    .filter(|c| !old.iter().any(|o| Arc::ptr_eq(o, c)))
                    .count();
                assert!(chunks_copied <= 2, "write {i}: {chunks_copied} chunks copied");
            }
            if i % 97 == 0 {
                check(&list, &model, x);
            }
        }
        check(&list, &model, 0);
        assert!(list.groups.len() > groups, "no group split");
        // Searches past the end, before the start, and on every group's first entry.
        assert!(list.search(|y| y.cmp(&u32::MAX)).is_err());
        let end = list.search(|y| y.cmp(&u32::MAX)).unwrap_err();
        assert_eq!(list.cursor(end).peek(), None);
        let start = list.search(|y| y.cmp(&0)).unwrap_or_else(|at| at);
        assert_eq!(list.cursor(start).peek(), model.first());
        for g in &list.groups {
            let first = g[0][0];
            let Ok(at) = list.search(|y| y.cmp(&first)) else {
                panic!("{first} is in the list");
            };
            assert_eq!(*list.get(at), first);
        }
        // Removing the first two thirds, front first, empties whole groups.
        let groups = list.groups.len();
        let gone: Vec<u32> = model.drain(..model.len() * 2 / 3).collect();
        for (i, &v) in gone.iter().enumerate() {
            let kept = (i % 2 == 0).then(|| list.clone());
            let Ok(at) = list.search(|y| y.cmp(&v)) else {
                panic!("{v} is in the list");
            };
            assert_eq!(list.remove(at), v);
            if i % 211 == 0 {
                check(&list, &[&gone[i + 1..], &model[..]].concat(), v);
                if let Some(kept) = kept {
                    assert_eq!(kept.len(), list.len() + 1);
                }
            }
        }
        check(&list, &model, 0);
        assert!(list.groups.len() < groups, "no group emptied");
    }

    /// The list holds the model, within its bounds, and a cursor from the search for `x`
    /// reads exactly the model's tail from `x` on.
    fn check(list: &Chunked<u32>, model: &[u32], x: u32) {
        assert_eq!(list.len(), model.len());
        assert_eq!(list.iter().copied().collect::<Vec<_>>(), model);
        assert!(list.groups.iter().all(|g| !g.is_empty() && g.len() <= 2 * GROUP));
        assert!(
            list.groups
                .iter()
                .flat_map(|g| g.iter())
                .all(|c| !c.is_empty() && c.len() <= 2 * CHUNK)
        );
        let at = match list.search(|y| y.cmp(&x)) {
            Ok(at) | Err(at) => at,
        };
        let mut cur = list.cursor(at);
        for want in &model[model.partition_point(|&y| y < x)..] {
            assert_eq!(cur.peek(), Some(want));
            cur.advance();
        }
        assert_eq!(cur.peek(), None);
    }

    /// Every key, present or not, against lists of the even numbers of several sizes (one
    /// entry, one chunk, one group, one group and one entry, several groups): the search
    /// finds exactly the present ones, and a cursor from its position reads exactly the
    /// entries from the key on. So every boundary between chunks and between groups, and
    /// the keys before and after every entry, are searched.
    #[test]
    fn every_key_is_found_or_placed_at_every_boundary() {
        assert_eq!(Chunked::<u32>::default().search(|y| y.cmp(&3)), Err(At::START));
        assert_eq!(Chunked::<u32>::default().cursor(At::START).peek(), None);
        for n in [1, CHUNK, CHUNK * GROUP, CHUNK * GROUP + 1, 3 * CHUNK * GROUP + 7] {
            let model: Vec<u32> = (0..n as u32).map(|v| 2 * v + 2).collect();
            let list = Chunked::from_sorted(model.clone());
            for key in 0..=2 * n as u32 + 3 {
                let found = list.search(|y| y.cmp(&key));
                assert_eq!(
                    found.is_ok(),
                    key % 2 == 0 && key >= 2 && key <= 2 * n as u32,
                    "{n}: {key}"
                );
                let at = found.unwrap_or_else(|at| at);
                let from = model.partition_point(|&y| y < key);
                assert!(list.cursor(at).eq(model[from..].iter()), "{n}: the cursor from {key}");
            }
        }
    }

    /// A bulk load of several groups: appends (some to a list a clone shares), removals
    /// anywhere in it, and a sort that drops duplicates.
    #[test]
    fn a_bulk_load_across_groups() {
        let n = 3 * CHUNK * GROUP + 5;
        let mut bulk: Chunked<u32> = Chunked::default();
        let mut kept = Vec::new();
        for v in (0..n as u32).rev() {
            bulk.push_unsorted(v % (n as u32 - 100));
            if v % 1_000 == 0 {
                kept.push((bulk.clone(), bulk.len()));
            }
        }
        assert!(bulk.groups.len() >= 3);
        for (copy, len) in &kept {
            assert_eq!(copy.iter().count(), *len);
        }
        // Values below 100 were appended twice; remove one of each of a few, the copy
        // appended first and found last.
        for v in [0, 50, 99] {
            assert!(bulk.remove_unsorted(|&x| x == v));
        }
        assert!(!bulk.remove_unsorted(|&x| x == n as u32));
        bulk.sort_mapped(|v| v);
        assert!(bulk.iter().copied().eq(0..n as u32 - 100));
        assert_eq!(bulk.len(), n - 100);
    }
}
