//! Order-preserving labels for names (list labelling): comparing two labels compares the
//! two names in byte order, so the deciding order compares integers.
//!
//! A new name gets a label strictly between its neighbours'; when there is no room, the
//! names around it are spread again over the smallest aligned label range that is sparse
//! enough (after Bender et al., "Two simplified algorithms for maintaining order in a
//! list": a range of 2^j labels is sparse enough below (2/1.3)^j names), amortised
//! O(log n) relabels per insertion. A run of names each added right beside the one before
//! (an import of numbered names, ascending or descending) takes labels ever closer to the
//! last one instead of halving the gap ([`Runs`]): it relabels nothing until the gap itself
//! runs out, after ~45,000·(g − 16) names in a gap of 2^g (~1.2 million in the 2^43 gaps a
//! bulk load of a million names leaves), where halving ran out after ~40 names and then
//! relabelled hundreds at a time.
//!
//! The names in byte order are kept like the name tables ([`super::names`]): a flat sorted
//! array built in bulk (the *base*, shared by every copy of the index) and a small
//! persistent B-tree of the names added since (the *delta*), folded into a new base in the
//! background once it outgrows its share (the write that crosses the line freezes it; a
//! later write swaps the new base in). A write's search for its neighbours is a binary
//! search of the base and a descent of the small delta, and its insertion copies only the
//! delta's path: one persistent B-tree of every name cost a copied path of cold nodes (and
//! a reference count touched for each of their children) per new name. Keys carry their
//! first 16 bytes inline ([`Key`]), so comparisons read a name only where two share them.
//!
//! A bulk load only collects its new names (unsorted, without labels): its end sorts them
//! once, merges them into the base and labels every name afresh ([`Labels::end_bulk`]).

use super::background::{Background, Polled};
use crate::domain::Id;
use runs::Runs;
use std::cmp::Ordering;
use std::ops::Bound::{self, Excluded, Unbounded};
use std::sync::Arc;

/// Space between the labels of names added after the last one (and after a relabel).
const LABEL_STEP: u64 = 1 << 32;

/// Labels spread afresh at the end of a bulk load lie in `SPREAD_FROM..SPREAD_FROM + SPREAD`,
/// the middle half of the label space.
const SPREAD_FROM: u128 = 1 << 62;
const SPREAD: u128 = 1 << 63;

/// The delta is folded into the base past this many names (and an eighth of the base).
const FOLD_AT: usize = 4096;

type Tree = imbl::OrdMap<Key, u32>;

/// A name in the order and its id.
type Entry = (Key, u32);

/// Names in byte order with their ids, to give a new name an integer label between its
/// neighbours' (order-maintenance labels: comparing two labels compares the two names).
#[derive(Clone, Default)]
pub(super) struct Labels {
    /// Sorted, built in bulk.
    base: Arc<[Entry]>,
    /// Names being folded into a new base in the background (empty when no fold runs).
    frozen: Tree,
    /// Names added since the base was built and the frozen names were frozen. Each name is
    /// in exactly one of the three.
    delta: Tree,
    /// The fold in progress, if any.
    folding: Option<Arc<Background<Arc<[Entry]>>>>,
    /// During a bulk load the delta is not folded until [`Labels::end_bulk`].
    bulk: bool,
    /// Names added during a bulk load, unsorted and without labels: [`Labels::end_bulk`]
    /// sorts them once and labels every name afresh (placing each name as it came cost a
    /// search and a persistent B-tree insertion per name, only for labels the end of the
    /// load replaces).
    pending: Vec<Entry>,
    /// The runs of names each added right beside the one before.
    runs: Runs,
}

/// A name in the order and its id.
type Named<'a> = (&'a Key, u32);

/// The labels one insertion sets ([`Labels::insert`]), read out by [`Placed::labels`].
#[derive(Debug)]
pub(super) enum Placed {
    /// None: a bulk load labels every name at its end.
    Nothing,
    /// Only the new name's.
    One(u32, u64),
    /// `count` names from `from` on in byte order (the new name among them), spread
    /// evenly: the k-th (from 0) gets `base + step·(k + 1)`.
    Spread {
        from: Key,
        count: usize,
        base: u128,
        step: u128,
    },
    /// Every name, spread afresh (only past ~10^11 names).
    All,
}

impl Placed {
    /// How many names it labels.
    pub(super) fn len(&self, order: &Labels) -> usize {
        match self {
            Placed::Nothing => 0,
            Placed::One(..) => 1,
            Placed::Spread { count, .. } => *count,
            Placed::All => order.len(),
        }
    }

    /// The progression `(base, step)` its labels are on (the k-th name from 0 gets
    /// `base + step·(k + 1)`), when it spreads names and both fit in 64 bits.
    pub(super) fn progression(&self) -> Option<(u64, u64)> {
        let (base, step) = match self {
            Placed::Nothing | Placed::One(..) => return None,
            Placed::Spread { base, step, .. } => (*base, *step),
            Placed::All => (0, u128::from(LABEL_STEP >> 8)),
        };
        Some((u64::try_from(base).ok()?, u64::try_from(step).ok()?))
    }

    /// The (id, label) pairs to set, the names in byte order: `order` must be the
    /// [`Labels`] that placed them, unchanged since.
    pub(super) fn labels<'a>(&'a self, order: &'a Labels) -> impl Iterator<Item = (u32, u64)> + 'a {
        let (one, spread) = match self {
            Placed::Nothing => (None, None),
            Placed::One(id, label) => (Some((*id, *label)), None),
            Placed::Spread {
                from,
                count,
                base,
                step,
            } => (None, Some((Bound::Included(from), *count, *base, *step))),
            Placed::All => (None, Some((Unbounded, usize::MAX, 0, u128::from(LABEL_STEP >> 8)))),
        };
        let spread = spread.into_iter().flat_map(move |(from, count, base, step)| {
            order.from(from).take(count).enumerate().map(move |(k, (_, i))| {
                let label = (base + step * (k as u128 + 1)).min(u128::from(u64::MAX));
                (i, label as u64)
            })
        });
        one.into_iter().chain(spread)
    }
}

/// How many leading bytes `a` and `b` share.
fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The label for a name between labels `below` and `above` (`None`: no room). Outside a
/// run it is the midpoint; in a run of `len` names each added beside the last (`up`: above
/// it), it is `gap / 2^(1 + len)` from the last, down to a 65,536th of the gap: the longer
/// the run, the more of the gap is kept for the names that continue it (a run of a
/// million takes about 22 bits of a gap wider than 2^16, where halving takes one bit a
/// name; below 2^16 each name takes one label). Names added in any other order get the
/// midpoint, as before.
fn between(below: u64, above: u64, len: u32, up: bool) -> Option<u64> {
    let gap = above.checked_sub(below)?;
    if gap < 2 {
        return None;
    }
    if len == 0 {
        return midpoint(below, above);
    }
    // At least a quarter of the gap away from the far side: strictly between the two.
    let step = (gap >> (len.min(15) + 1)).max(1);
    Some(if up { below + step } else { above - step })
}

impl std::fmt::Debug for Labels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Labels")
            .field("base", &self.base.len())
            .field("frozen", &self.frozen.len())
            .field("delta", &self.delta.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// A name in the order: its first 16 bytes as a big-endian integer (zero-padded) beside
/// it. Where two heads differ they order as the names do (a name that ends early pads
/// with zeros, and a name is shorter than the ones it is a prefix of); where they are
/// equal the names are compared.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    head: [u64; 2],
    pub(crate) name: Id,
}

impl Key {
    pub(crate) fn new(name: &Id) -> Key {
        let bytes = name.as_str().as_bytes();
        let mut head = [0u8; 16];
        let n = bytes.len().min(16);
        head[..n].copy_from_slice(&bytes[..n]);
        let word = |i: usize| u64::from_be_bytes(head[i..i + 8].try_into().expect("eight bytes"));
        Key {
            head: [word(0), word(8)],
            name: name.clone(),
        }
    }
}

impl Ord for Key {
    #[inline]
    fn cmp(&self, other: &Key) -> Ordering {
        self.head
            .cmp(&other.head)
            .then_with(|| self.name.as_str().cmp(other.name.as_str()))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// Sorted sources merged into one sorted sequence (descending with `rev`).
fn merge<'a, const N: usize>(
    sources: [Box<dyn Iterator<Item = (&'a Key, u32)> + 'a>; N],
    rev: bool,
) -> impl Iterator<Item = (&'a Key, u32)> + 'a {
    let mut sources = sources.map(Iterator::peekable);
    std::iter::from_fn(move || {
        let mut best: Option<(usize, &'a Key)> = None;
        for (i, source) in sources.iter_mut().enumerate() {
            if let Some(&(k, _)) = source.peek() {
                let better = best.is_none_or(|(_, b)| if rev { k > b } else { k < b });
                if better {
                    best = Some((i, k));
                }
            }
        }
        best.and_then(|(i, _)| sources[i].next())
    })
}

/// The entries of a tree.
fn entries(tree: &Tree) -> impl DoubleEndedIterator<Item = (&Key, u32)> {
    tree.iter().map(|(k, &i)| (k, i))
}

impl Labels {
    /// The names from `from` on, ascending.
    pub(super) fn from<'a>(&'a self, from: Bound<&Key>) -> impl Iterator<Item = (&'a Id, u32)> + use<'a> {
        let start = match from {
            Unbounded => 0,
            Bound::Included(k) => self.base.partition_point(|(b, _)| b < k),
            Excluded(k) => self.base.partition_point(|(b, _)| b <= k),
        };
        let tree = |t: &'a Tree| Box::new(t.range::<_, Key>((from, Unbounded)).map(|(k, &i)| (k, i))) as Box<_>;
        let base = Box::new(self.base[start..].iter().map(|(k, i)| (k, *i))) as Box<_>;
        merge([base, tree(&self.frozen), tree(&self.delta)], false).map(|(k, i)| (&k.name, i))
    }

    /// The names before `key`, descending.
    fn before<'a>(&'a self, key: &Key) -> impl Iterator<Item = (&'a Key, u32)> + use<'a> {
        let end = self.base.partition_point(|(b, _)| b < key);
        let tree = |t: &'a Tree| {
            Box::new(
                t.range::<_, Key>((Unbounded, Excluded(key)))
                    .rev()
                    .map(|(k, &i)| (k, i)),
            ) as Box<_>
        };
        let base = Box::new(self.base[..end].iter().rev().map(|(k, i)| (k, *i))) as Box<_>;
        merge([base, tree(&self.frozen), tree(&self.delta)], true)
    }

    /// The names after `key`, ascending.
    fn after<'a>(&'a self, key: &Key) -> impl Iterator<Item = u32> + use<'a> {
        self.from(Excluded(key)).map(|(_, i)| i)
    }

    /// The nearest names below and above `key` (not `key` itself), with their ids: each
    /// source searched once, nothing allocated.
    fn neighbours(&self, key: &Key) -> (Option<Named<'_>>, Option<Named<'_>>) {
        let at = self.base.partition_point(|(b, _)| b < key);
        let past = at + usize::from(self.base.get(at).is_some_and(|(b, _)| b == key));
        let mut below = at.checked_sub(1).map(|i| (&self.base[i].0, self.base[i].1));
        let mut above = self.base.get(past).map(|(k, i)| (k, *i));
        for tree in [&self.frozen, &self.delta] {
            if tree.is_empty() {
                continue;
            }
            if let Some((k, &i)) = tree.range::<_, Key>((Unbounded, Excluded(key))).next_back()
                && below.is_none_or(|(b, _)| k > b)
            {
                below = Some((k, i));
            }
            if let Some((k, &i)) = tree.range::<_, Key>((Excluded(key), Unbounded)).next()
                && above.is_none_or(|(a, _)| k < a)
            {
                above = Some((k, i));
            }
        }
        (below, above)
    }

    /// How many names.
    fn len(&self) -> usize {
        self.base.len() + self.frozen.len() + self.delta.len() + self.pending.len()
    }

    /// Adds `name` (whose entry `id` exists, its label not yet set) and returns the labels
    /// to set ([`Placed::labels`]): the new name's, strictly between its neighbours', and,
    /// when there is no room between them, those of the names around it, spread again over
    /// the smallest aligned label range that is sparse enough (list labelling after Bender
    /// et al., "Two simplified algorithms for maintaining order in a list": a range of 2^j
    /// labels is sparse enough below (2/1.3)^j names; amortised O(log n) labels per
    /// insertion, so a run of names inserted into one gap never relabels everything).
    ///
    /// During a bulk load the name is only kept, and no label is given (none is returned):
    /// [`Labels::end_bulk`] labels every name.
    pub(super) fn insert(&mut self, name: &Id, id: u32, label_of: impl Fn(u32) -> u64) -> Placed {
        let key = Key::new(name);
        if self.bulk {
            self.pending.push((key, id));
            return Placed::Nothing;
        }
        let (below, above) = self.neighbours(&key);
        let shared = |other: Option<Named<'_>>| other.map(|(k, _)| common_prefix(k.name.as_str(), name.as_str()));
        let nearer_below = match (shared(below), shared(above)) {
            (Some(b), Some(a)) if b != a => Some(b > a),
            _ => None,
        };
        let (below, above) = (below.map(|(_, i)| i), above.map(|(_, i)| i));
        let (len, up) = self.runs.extend(id, below, above, nearer_below);
        let (below, above) = (below.map(&label_of), above.map(&label_of));
        self.delta.insert(key.clone(), id);
        self.advance_fold();
        let direct = match (below, above) {
            (None, None) => Some(1 << 63),
            (Some(b), None) => b.checked_add(LABEL_STEP).or_else(|| midpoint(b, u64::MAX)),
            (None, Some(a)) => a.checked_sub(LABEL_STEP).filter(|&l| l > 0).or_else(|| midpoint(0, a)),
            (Some(b), Some(a)) => between(b, a, len, up),
        };
        if let Some(label) = direct {
            return Placed::One(id, label);
        }
        let anchor = u128::from(below.or(above).unwrap_or(0));
        // The aligned ranges around the anchor nest as they grow, so the run of names in
        // one only extends the run in the last: each side is walked once, outwards. Only
        // counted: the names are read again in order as their labels are set (a relabel
        // of hundreds of names collected no list of them).
        let (mut lower, mut upper) = (self.before(&key).peekable(), self.after(&key).peekable());
        let (mut left, mut right, mut lowest) = (0usize, 0usize, None);
        for j in 1..=64u32 {
            let size: u128 = 1 << j;
            let base = anchor & !(size - 1);
            let end = base + size;
            while let Some((k, _)) = lower.next_if(|&(_, i)| u128::from(label_of(i)) >= base) {
                left += 1;
                lowest = Some(k);
            }
            while upper.next_if(|&i| u128::from(label_of(i)) < end).is_some() {
                right += 1;
            }
            let count = (left + 1 + right) as u128;
            let sparse = (count as f64) < (size as f64) / 1.3f64.powi(j as i32);
            if sparse && size / (count + 1) >= 2 {
                return Placed::Spread {
                    from: lowest.unwrap_or(&key).clone(),
                    count: left + 1 + right,
                    base,
                    step: size / (count + 1),
                };
            }
        }
        // Only past ~10^11 names: spread every label.
        Placed::All
    }

    /// Swaps in a fold that has finished, or starts one when the delta has outgrown its
    /// share of the base.
    fn advance_fold(&mut self) {
        match Background::poll(&mut self.folding) {
            Polled::Built(base) => {
                self.base = base;
                self.frozen = Tree::new();
            }
            Polled::Failed => self.compact(),
            Polled::Running => {}
            Polled::Idle if self.delta.len() > FOLD_AT.max(self.base.len() / 8) => self.fold_in_background(),
            Polled::Idle => {}
        }
    }

    /// Freezes the delta and starts a thread that folds it and the base into a new base
    /// (at once, here, when no thread can be started). Does nothing while a fold runs.
    pub(super) fn fold_in_background(&mut self) {
        if self.folding.is_some() || self.delta.is_empty() {
            return;
        }
        self.frozen = std::mem::take(&mut self.delta);
        let (base, frozen) = (self.base.clone(), self.frozen.clone());
        match Background::start("endocarp-labels-fold", move || {
            let merged = merge(
                [
                    Box::new(base.iter().map(|(k, i)| (k, *i))) as Box<_>,
                    Box::new(entries(&frozen)),
                ],
                false,
            );
            merged.map(|(k, i)| (k.clone(), i)).collect::<Arc<[Entry]>>()
        }) {
            Some(fold) => self.folding = Some(fold),
            None => self.compact(),
        }
    }

    /// Waits for a fold in progress and swaps its base in (tests and benchmarks).
    pub(super) fn finish_fold(&mut self) {
        while let Some(fold) = self.folding.clone() {
            fold.finish();
            self.advance_fold();
        }
    }

    /// Folds the frozen names and the delta into a new base now; a fold in progress is
    /// abandoned. (A bulk load's names stay apart until [`Labels::end_bulk`].)
    pub(super) fn compact(&mut self) {
        if self.frozen.is_empty() && self.delta.is_empty() {
            return;
        }
        self.base = self.from(Unbounded).map(|(n, i)| (Key::new(n), i)).collect();
        self.frozen = Tree::new();
        self.delta = Tree::new();
        self.folding = None;
    }

    /// Names added from now on stay in the delta until [`Labels::end_bulk`].
    pub(super) fn begin_bulk(&mut self) {
        self.bulk = true;
    }

    /// Ends a bulk load: the delta and the load's names (sorted here, once) are merged into
    /// the base, and every name gets a label afresh, as yielded (id, label), which the
    /// caller must set wherever it keeps labels (nothing is yielded outside a bulk load).
    /// The new labels are spread evenly over the middle half of the label space, in byte
    /// order: a million names are 2^43 apart, and a quarter of the space is left below the
    /// least and above the greatest for names added before or after all of them. (Labels
    /// given one name at a time follow the order the names arrive in: a load in ascending
    /// order would leave gaps of 2^32 that ~32 later names exhaust, unless they come as a
    /// run ([`Runs`]), each exhaustion
    /// relabelling names whose every reverse entry is then rewritten.)
    pub(super) fn end_bulk(&mut self) -> impl Iterator<Item = (u32, u64)> + '_ {
        let ended = std::mem::replace(&mut self.bulk, false);
        if ended {
            self.compact();
            let mut pending = std::mem::take(&mut self.pending);
            if !pending.is_empty() {
                pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                let base = Box::new(self.base.iter().map(|(k, i)| (k, *i))) as Box<_>;
                let added = Box::new(pending.iter().map(|(k, i)| (k, *i))) as Box<_>;
                self.base = merge([base, added], false).map(|(k, i)| (k.clone(), i)).collect();
            }
        }
        let entries = if ended { &self.base[..] } else { &[] };
        let step = SPREAD / (entries.len() as u128 + 1);
        entries
            .iter()
            .enumerate()
            .map(move |(k, &(_, id))| (id, (SPREAD_FROM + step * (k as u128 + 1)) as u64))
    }

    /// Checks that labels rise with the names, that every id is there once, that keys'
    /// heads are their names', the base is sorted and names are frozen exactly while a
    /// fold runs.
    pub(super) fn validate(
        &self,
        what: &str,
        count: usize,
        name_and_label: impl Fn(u32) -> (Id, u64),
    ) -> Result<(), String> {
        if self.len() != count {
            return Err(format!("the {what} order holds {} of {count}", self.len()));
        }
        if !self.bulk && !self.pending.is_empty() {
            return Err(format!(
                "{} {what} names pending outside a bulk load",
                self.pending.len()
            ));
        }
        if self.folding.is_none() && !self.frozen.is_empty() {
            return Err(format!(
                "{} {what} names frozen with no fold running",
                self.frozen.len()
            ));
        }
        for pair in self.base.windows(2) {
            if pair[0].0 >= pair[1].0 {
                return Err(format!("the {what} base is out of order at {:?}", pair[1].0.name));
            }
        }
        let keys = self
            .base
            .iter()
            .map(|(k, _)| k)
            .chain(self.frozen.keys())
            .chain(self.delta.keys());
        if let Some(k) = keys.into_iter().find(|k| Key::new(&k.name).head != k.head) {
            return Err(format!("{what} {:?}: its key's head is not its name's", k.name));
        }
        if self.bulk {
            // Labels are given at the end of the load.
            return Ok(());
        }
        let mut last: Option<(&Id, u64)> = None;
        for (name, id) in self.from(Unbounded) {
            let (held, label) = name_and_label(id);
            if held != *name {
                return Err(format!("{what} {name:?} is ordered as id {id}, which names {held:?}"));
            }
            if let Some((before, l)) = last
                && (before.as_str() >= name.as_str() || l >= label)
            {
                return Err(format!("{what} {name:?}: label {label} or name out of order"));
            }
            last = Some((name, label));
        }
        Ok(())
    }
}

/// The label halfway between two, if there is one strictly between them.
fn midpoint(below: u64, above: u64) -> Option<u64> {
    (above - below >= 2).then(|| below + (above - below) / 2)
}

mod runs;
#[cfg(test)]
mod tests;
