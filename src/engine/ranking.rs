//! Puts every applicable rule of a check in deciding order (prohibitions first) without
//! comparing rules pairwise: what an explanation lists and the Casbin engine is given.
//!
//! An explanation on a big organisation lists thousands of rules (3,500 at the 99th
//! percentile on the benchmark's deep one), and a comparison sort of that many was most of
//! an explain check's time. The order's prefix — kind, own, target level, related action,
//! policy label, assignee label — is what almost every pair differs in; the two labels take
//! only as many values as there are distinct policies and assignees among the rules. So
//! each rule gets a small integer key: the prefix's five bits, then the policy's position
//! among the distinct policies, then the assignee's among the distinct assignees (both
//! found through small open-addressing tables, both in label order); the keys are sorted
//! by an LSD radix sort (stable, a few passes of 8 bits), and only runs of equal keys — the
//! same policy and assignee — are sorted by the whole order (action, collection,
//! condition), which the caller gives. Outside explain mode nothing lists the rules, so
//! the Casbin engine's collection only brings the best of each kind forward
//! ([`best_first`]). An explanation lists only its first `explain_limit` rules, so only
//! the rules that can be among them are ranked ([`sort_ranked`]'s `keep`): a pass over
//! every rule picks them by the prefix's first fields and the policy label.

use crate::domain::RuleKind;
use crate::engine::odrl::Hit;
use std::cmp::Ordering;

/// The prefix of the order rules are ranked by: kind (prohibitions first), own rules
/// first, target level, exact action before a related one, policy label, assignee label.
pub(crate) type Prefix = (bool, bool, u8, bool, u64, u64);

/// A rule's [`Prefix`].
#[inline]
pub(crate) fn prefix(h: &Hit) -> Prefix {
    (
        h.kind != RuleKind::Prohibition,
        !h.own,
        h.level,
        h.related,
        h.rank,
        h.who,
    )
}

/// Puts the least `keep` of `hits` first, in the order `cmp` defines (which must order
/// first by [`prefix`] and only then by anything else), and returns how many leading hits
/// are in that order: at least `keep` (all of them when there are no more), maybe a few
/// more; the rest follow in no order, each after every ordered one.
///
/// An explanation lists its first `explain_limit` rules but counts them all: only those
/// that can be among the first are ranked ([`leading`]), so a short explanation of a
/// check that thousands of rules apply to costs a pass over them, not their sort.
pub(crate) fn sort_ranked(hits: &mut [Hit], keep: usize, cmp: impl Fn(&Hit, &Hit) -> Ordering) -> usize {
    let ordered = if keep < hits.len() {
        leading(hits, keep)
    } else {
        hits.len()
    };
    sort_all(&mut hits[..ordered], cmp);
    ordered
}

/// The first four fields of [`prefix`] as one small integer in the same order (kind, own,
/// target level, related action): 5 bits.
#[inline]
pub(crate) fn class(h: &Hit) -> usize {
    let (kind, not_own, level, related, _, _) = prefix(h);
    usize::from(kind) << 4 | usize::from(not_own) << 3 | usize::from(level.min(3)) << 1 | usize::from(related)
}

/// Moves to the front every hit that can be among the least `keep` under [`prefix`]'s
/// order, and returns how many there are: every hit of the classes ([`class`]) before the
/// one where the `keep`-th falls, and of that class those whose policy label is at most the
/// label that the class's remaining places reach (ties at that label included). Each hit
/// left behind is after every one moved forward.
fn leading(hits: &mut [Hit], keep: usize) -> usize {
    if keep == 0 {
        return 0;
    }
    let mut counts = [0usize; 32];
    for h in hits.iter() {
        counts[class(h)] += 1;
    }
    // The class the `keep`-th hit falls in, and how many precede it (keep < hits.len()).
    let (mut boundary, mut before) = (0, 0);
    while before + counts[boundary] < keep {
        before += counts[boundary];
        boundary += 1;
    }
    let mut labels = Vec::with_capacity(counts[boundary]);
    labels.extend(hits.iter().filter(|h| class(h) == boundary).map(|h| h.rank));
    let (_, &mut last, _) = labels.select_nth_unstable(keep - before - 1);
    let mut front = 0;
    for i in 0..hits.len() {
        let c = class(&hits[i]);
        if c < boundary || (c == boundary && hits[i].rank <= last) {
            hits.swap(front, i);
            front += 1;
        }
    }
    front
}

/// Sorts `hits` into the order `cmp` defines (see [`sort_ranked`]).
fn sort_all(hits: &mut [Hit], cmp: impl Fn(&Hit, &Hit) -> Ordering) {
    /// Below this many rules, a comparison sort is quicker than building the keys (the
    /// tables, the buffers and the radix passes cost a few microseconds whatever the size).
    const SMALL: usize = 64;
    let n = hits.len();
    if n < SMALL {
        hits.sort_unstable_by(cmp);
        return;
    }
    let policies = Dense::of(hits.iter().map(|h| h.rank));
    let assignees = Dense::of(hits.iter().map(|h| h.who));
    let bits = 5 + policies.bits + assignees.bits;
    if bits > 32 || n > u32::MAX as usize {
        // Never on a real index (as many distinct policies and assignees as 2^27 rules).
        hits.sort_unstable_by(cmp);
        return;
    }
    let mut keys: Vec<u64> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let key = (class(h) as u64) << policies.bits | policies.pos(h.rank);
            let key = key << assignees.bits | assignees.pos(h.who);
            key << 32 | i as u64
        })
        .collect();
    radix_sort(&mut keys, bits);
    // Runs of one key hold rules of one policy and assignee: the rest of the order.
    let mut from = 0;
    while from < n {
        let key = keys[from] >> 32;
        // Runs are short (one or two rules): a scan, not a binary search.
        let mut to = from + 1;
        while to < n && keys[to] >> 32 == key {
            to += 1;
        }
        if to - from > 1 {
            keys[from..to].sort_unstable_by(|a, b| cmp(&hits[*a as u32 as usize], &hits[*b as u32 as usize]));
        }
        from = to;
    }
    let sorted: Vec<Hit> = keys.iter().map(|k| hits[*k as u32 as usize]).collect();
    hits.copy_from_slice(&sorted);
}

/// The positions of `labels` in ascending order of label, equal labels in their order: a
/// stable sort's permutation. The labels are numbered among the distinct ones ([`Dense`])
/// and the numbers radix-sorted, which over the thousand rules of an explanation's class
/// (a few hundred policies at most) is a pass or two, not a comparison sort.
pub(crate) fn stable_order(labels: &[u64]) -> Vec<usize> {
    if labels.len() < 64 || labels.len() > u32::MAX as usize {
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by_key(|&i| labels[i]);
        return order;
    }
    let dense = Dense::of(labels.iter().copied());
    let mut keys: Vec<u64> = labels
        .iter()
        .enumerate()
        .map(|(i, &label)| dense.pos(label) << 32 | i as u64)
        .collect();
    radix_sort(&mut keys, dense.bits);
    keys.into_iter().map(|k| k as u32 as usize).collect()
}

/// Sorts `items` by `label`, not stably: one counting pass into about a bucket per item
/// (the labels' range split evenly: labels given evenly, as a bulk load gives them, land
/// about one to a bucket), then each bucket sorted on its own — by insertion when small,
/// by the comparison sort when labels crowd into it, so no spread makes it quadratic.
/// Small inputs take the comparison sort.
pub(crate) fn sort_by_label<T: Copy>(items: &mut [T], label: impl Fn(&T) -> u64) {
    let n = items.len();
    if n < 64 {
        items.sort_unstable_by_key(&label);
        return;
    }
    let (min, max) = items.iter().fold((u64::MAX, 0), |(lo, hi), t| {
        let l = label(t);
        (lo.min(l), hi.max(l))
    });
    if min == max {
        return;
    }
    // (label − min) < 2^width; its top `bits` bits pick the bucket.
    let width = u64::BITS - (max - min).leading_zeros();
    let bits = (usize::BITS - n.leading_zeros()).min(width).min(16);
    let shift = width - bits;
    let bucket = |t: &T| ((label(t) - min) >> shift) as usize;
    let mut counts = vec![0u32; (1 << bits) + 1];
    for t in items.iter() {
        counts[bucket(t) + 1] += 1;
    }
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    let copy: Vec<T> = items.to_vec();
    for t in copy {
        let b = bucket(&t);
        items[counts[b] as usize] = t;
        counts[b] += 1;
    }
    // Bucket b now ends where counts[b] points (and starts where bucket b − 1 ends).
    let mut start = 0;
    for &end in &counts[..counts.len() - 1] {
        let part = &mut items[start..end as usize];
        if part.len() > 16 {
            part.sort_unstable_by_key(&label);
        } else {
            for i in 1..part.len() {
                let t = part[i];
                let l = label(&t);
                let mut j = i;
                while j > 0 && label(&part[j - 1]) > l {
                    part[j] = part[j - 1];
                    j -= 1;
                }
                part[j] = t;
            }
        }
        start = end as usize;
    }
}

/// Puts the prohibitions of `hits` before its permissions, the least of each kind under
/// `cmp` (as for [`sort_ranked`]) first among them, in one pass over each: what a decision
/// and the Casbin engine's rows read when nothing lists the rest.
pub(crate) fn best_first(hits: &mut [Hit], cmp: impl Fn(&Hit, &Hit) -> Ordering) {
    let mut split = 0;
    for i in 0..hits.len() {
        if hits[i].kind == RuleKind::Prohibition {
            hits.swap(split, i);
            split += 1;
        }
    }
    let (prohibitions, permissions) = hits.split_at_mut(split);
    for part in [prohibitions, permissions] {
        let least = (1..part.len()).fold(0, |m, i| {
            if cmp(&part[i], &part[m]) == Ordering::Less {
                i
            } else {
                m
            }
        });
        if !part.is_empty() {
            part.swap(0, least);
        }
    }
}

/// Sorts `keys` by their bits 32 .. 32 + `bits` (the low 32 are carried along), stably:
/// one counting pass per 8 bits, skipped when every key has the same digit.
fn radix_sort(keys: &mut Vec<u64>, bits: u32) {
    let mut spare = vec![0u64; keys.len()];
    let mut shift = 32;
    while shift < 32 + bits {
        let mut counts = [0usize; 256];
        for k in keys.iter() {
            counts[(k >> shift) as usize & 0xff] += 1;
        }
        if !counts.contains(&keys.len()) {
            let mut at = 0;
            for c in counts.iter_mut() {
                let here = *c;
                *c = at;
                at += here;
            }
            for &k in keys.iter() {
                let digit = (k >> shift) as usize & 0xff;
                spare[counts[digit]] = k;
                counts[digit] += 1;
            }
            std::mem::swap(keys, &mut spare);
        }
        shift += 8;
    }
}

/// The positions of distinct values in ascending order, found by open addressing.
struct Dense {
    /// (value, position); `EMPTY` positions mark free slots.
    slots: Vec<(u64, u32)>,
    /// Bits in a slot index.
    shift: u32,
    /// Bits a position needs.
    bits: u32,
}

const EMPTY: u32 = u32::MAX;

impl Dense {
    /// The distinct values of `values`, numbered in ascending order. The table starts small
    /// and doubles at half full: an explanation's thousands of rules name a few hundred
    /// policies and assignees, and a table sized by the rules (hundreds of kilobytes) was
    /// filled and then missed in the cache on every probe.
    fn of(values: impl Iterator<Item = u64>) -> Dense {
        let mut dense = Dense {
            slots: vec![(0, EMPTY); 64],
            shift: 6,
            bits: 0,
        };
        let mut distinct = Vec::new();
        for v in values {
            let slot = dense.slot(v);
            if dense.slots[slot].1 == EMPTY {
                dense.slots[slot] = (v, 0);
                distinct.push(v);
                if distinct.len() * 2 > dense.slots.len() {
                    dense.grow(&distinct);
                }
            }
        }
        distinct.sort_unstable();
        for (pos, &v) in distinct.iter().enumerate() {
            let slot = dense.slot(v);
            dense.slots[slot].1 = pos as u32;
        }
        dense.bits = usize::BITS - distinct.len().saturating_sub(1).leading_zeros();
        dense
    }

    /// Twice the slots, holding `kept` (every value kept so far).
    fn grow(&mut self, kept: &[u64]) {
        self.shift += 1;
        self.slots = vec![(0, EMPTY); 1 << self.shift];
        for &v in kept {
            let slot = self.slot(v);
            self.slots[slot] = (v, 0);
        }
    }

    /// The slot holding `v`, or the free one where it belongs.
    fn slot(&self, v: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = (v.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - self.shift)) as usize;
        loop {
            let (value, pos) = self.slots[at];
            if pos == EMPTY || value == v {
                return at;
            }
            at = (at + 1) & mask;
        }
    }

    /// The position of a value given to [`Dense::of`].
    fn pos(&self, v: u64) -> u64 {
        u64::from(self.slots[self.slot(v)].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_by_label_orders_like_a_comparison_sort() {
        let mut rng = Rng(7);
        for n in [0, 1, 5, 63, 64, 65, 300, 1_000, 5_000] {
            for spread in [0u64, 1, 3, 1 << 20, 1 << 40, u64::MAX] {
                let base = rng.below(1 << 50) as u64;
                let mut items: Vec<(u64, u32)> = (0..n as u32)
                    .map(|i| {
                        (
                            base.wrapping_add(if spread == 0 { 0 } else { rng.next_u64() % spread.max(1) }),
                            i,
                        )
                    })
                    .collect();
                if spread == u64::MAX {
                    for it in items.iter_mut() {
                        it.0 = rng.next_u64();
                    }
                }
                // Crowded: all but one in a narrow band, one far off.
                if spread == 3 && n > 0 {
                    items[0].0 = base.wrapping_add(1 << 60);
                }
                let mut want: Vec<u64> = items.iter().map(|t| t.0).collect();
                want.sort_unstable();
                let mut ids: Vec<u32> = items.iter().map(|t| t.1).collect();
                sort_by_label(&mut items, |t| t.0);
                let got: Vec<u64> = items.iter().map(|t| t.0).collect();
                assert_eq!(got, want, "{n} items, spread {spread}");
                // A permutation: every item kept once.
                let mut kept: Vec<u32> = items.iter().map(|t| t.1).collect();
                kept.sort_unstable();
                ids.sort_unstable();
                assert_eq!(kept, ids);
            }
        }
    }
    use crate::bench::org::Rng;

    /// The whole order as the engine's comparator has it ([`prefix`], then action and
    /// collection).
    fn whole(a: &Hit, b: &Hit) -> Ordering {
        prefix(a)
            .cmp(&prefix(b))
            .then((a.action, a.via).cmp(&(b.action, b.via)))
    }

    /// A rule with random fields, its policy and assignee labels drawn from `labels`.
    fn random_hit(below: &mut impl FnMut(u64) -> u64, labels: &[u64]) -> Hit {
        Hit {
            own: below(4) == 0,
            level: below(3) as u8,
            via: below(3) as u32,
            related: below(3) == 0,
            kind: if below(2) == 0 {
                RuleKind::Permission
            } else {
                RuleKind::Prohibition
            },
            policy: 0,
            rank: labels[below(labels.len() as u64) as usize],
            assignee: 0,
            who: labels[below(labels.len() as u64) as usize],
            action: below(4) as u32,
        }
    }

    /// What [`whole`] compares, rule by rule.
    fn fields(v: &[Hit]) -> Vec<(Prefix, u32, u32)> {
        v.iter().map(|h| (prefix(h), h.action, h.via)).collect()
    }

    /// Few (up to 4) or many (up to `many`) labels, by `round`: spread over the whole u64
    /// range or bunched (repeats likely).
    fn some_labels(below: &mut impl FnMut(u64) -> u64, round: usize, many: u64) -> Vec<u64> {
        let distinct = 1 + below(if round.is_multiple_of(3) { 4 } else { many });
        (0..distinct)
            .map(|_| {
                if round.is_multiple_of(2) {
                    below(u64::MAX)
                } else {
                    below(64)
                }
            })
            .collect()
    }

    #[test]
    fn ranked_order_is_the_comparison_sorts() {
        let mut rng = Rng(7);
        let mut below = |n: u64| rng.below(n as usize) as u64;
        for round in 0..300 {
            let n = [0, 1, 2, 3, 17, 64, 300, 2_000][round % 8];
            let labels = some_labels(&mut below, round, 3_000);
            let mut hits: Vec<Hit> = (0..n).map(|_| random_hit(&mut below, &labels)).collect();
            let mut expected = hits.clone();
            expected.sort_by(whole);
            // Everything, none, one, part, or more than there are.
            let keep = match round % 5 {
                0 => n,
                1 => 0,
                2 => 1,
                3 => below(n as u64 + 1) as usize,
                _ => n + 3,
            };
            let ordered = sort_ranked(&mut hits, keep, whole);
            let at = format!("round {round}, {n} hits, keeping {keep}");
            assert!(ordered >= keep.min(n) && ordered <= n, "{at}: {ordered} ordered");
            assert_eq!(fields(&hits[..ordered]), fields(&expected[..ordered]), "{at}");
            // The rest: the same rules, each after every ordered one.
            if let Some(last) = ordered.checked_sub(1).map(|i| hits[i]) {
                assert!(
                    hits[ordered..].iter().all(|h| whole(h, &last) != Ordering::Less),
                    "{at}"
                );
            }
            hits.sort_by(whole);
            assert_eq!(fields(&hits), fields(&expected), "{at}: the same rules");
        }
    }

    #[test]
    fn only_the_rules_that_can_lead_are_ranked() {
        // 3,000 rules of one class over 100 policies: keeping 10 ranks the rules of the
        // policies those 10 reach, not all of them.
        let mut rng = Rng(5);
        let mut below = |n: u64| rng.below(n as usize) as u64;
        let labels: Vec<u64> = (0..100).map(|i| i << 50).collect();
        let mut hits: Vec<Hit> = (0..3_000)
            .map(|_| Hit {
                own: false,
                level: 2,
                related: false,
                kind: RuleKind::Permission,
                ..random_hit(&mut below, &labels)
            })
            .collect();
        let ordered = sort_ranked(&mut hits, 10, whole);
        assert!((10..300).contains(&ordered), "{ordered} ordered");
    }

    #[test]
    fn sorting_by_policy_keeps_each_labels_rules_in_their_order() {
        // Around the size where a comparison sort takes over, and an explanation's sizes.
        let sizes = [0, 1, 5, 63, 64, 65, 700, 3_000];
        let mut rng = Rng(13);
        let mut below = |n: u64| rng.below(n as usize) as u64;
        for (round, &n) in sizes.iter().cycle().take(60).enumerate() {
            let labels = some_labels(&mut below, round, 2_000);
            // Each rule's position in `via`, to tell equal labels' rules apart.
            let mut hits: Vec<Hit> = (0..n)
                .map(|i| Hit {
                    via: i as u32,
                    ..random_hit(&mut below, &labels)
                })
                .collect();
            let mut expected = hits.clone();
            expected.sort_by_key(|h| h.rank);
            let labels: Vec<u64> = hits.iter().map(|h| h.rank).collect();
            hits = stable_order(&labels).into_iter().map(|i| hits[i]).collect();
            let got: Vec<(u64, u32)> = hits.iter().map(|h| (h.rank, h.via)).collect();
            let want: Vec<(u64, u32)> = expected.iter().map(|h| (h.rank, h.via)).collect();
            assert_eq!(got, want, "round {round}, {n} rules over {} labels", labels.len());
        }
    }

    #[test]
    fn best_first_puts_the_least_of_each_kind_first() {
        let mut rng = Rng(11);
        let mut below = |n: u64| rng.below(n as usize) as u64;
        for round in 0..200 {
            let n = round % 40;
            let labels: Vec<u64> = (0..1 + round as u64 % 5).map(|_| below(u64::MAX)).collect();
            let mut hits: Vec<Hit> = (0..n).map(|_| random_hit(&mut below, &labels)).collect();
            let mut sorted = hits.clone();
            sorted.sort_by(whole);
            best_first(&mut hits, whole);
            let prohibitions = sorted.iter().filter(|h| h.kind == RuleKind::Prohibition).count();
            assert!(hits[..prohibitions].iter().all(|h| h.kind == RuleKind::Prohibition));
            assert!(hits[prohibitions..].iter().all(|h| h.kind == RuleKind::Permission));
            for at in [0, prohibitions] {
                if at < n {
                    assert_eq!(whole(&hits[at], &sorted[at]), Ordering::Equal, "round {round}");
                }
            }
            hits.sort_by(whole);
            assert_eq!(fields(&hits), fields(&sorted), "the same rules");
        }
    }

    #[test]
    fn dense_positions_are_the_values_ranks() {
        // Bunched values (long probe chains) and spread ones, each given twice.
        let values: Vec<u64> = (0..1_000u64)
            .map(|i| {
                if i % 2 == 0 {
                    i << 40
                } else {
                    i.wrapping_mul(0xDEAD_BEEF_1234_5677)
                }
            })
            .collect();
        let dense = Dense::of(values.iter().chain(values.iter()).copied());
        let mut sorted = values.clone();
        sorted.sort_unstable();
        for (pos, v) in sorted.iter().enumerate() {
            assert_eq!(dense.pos(*v), pos as u64);
        }
        assert_eq!(dense.bits, 10);
    }
}
