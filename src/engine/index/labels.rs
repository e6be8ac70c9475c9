//! Order-preserving labels for names (list labelling): comparing two labels compares the
//! two names in byte order, so the deciding order compares integers.
//!
//! A new name gets a label strictly between its neighbours'; when there is no room, the
//! names around it are spread again over the smallest aligned label range that is sparse
//! enough (after Bender et al., "Two simplified algorithms for maintaining order in a
//! list": a range of 2^j labels is sparse enough below (2/1.3)^j names), amortised
//! O(log n) relabels per insertion.

use crate::domain::Id;

/// Space between the labels of names added after the last one (and after a relabel).
const LABEL_STEP: u64 = 1 << 32;

/// Names in byte order with their ids, to give a new name an integer label between its
/// neighbours' (order-maintenance labels: comparing two labels compares the two names).
#[derive(Debug, Clone, Default)]
pub(super) struct Labels {
    pub(super) order: imbl::OrdMap<Id, u32>,
}

impl Labels {
    /// Adds `name` (whose entry `id` exists, its label not yet set) and returns the labels
    /// to set: the new name's, strictly between its neighbours', and, when there is no room
    /// between them, those of the names around it, spread again over the smallest aligned
    /// label range that is sparse enough (list labelling after Bender et al., "Two
    /// simplified algorithms for maintaining order in a list": a range of 2^j labels is
    /// sparse enough below (2/1.3)^j names; amortised O(log n) labels per insertion, so a
    /// run of names inserted into one gap never relabels everything).
    pub(super) fn insert(&mut self, name: &Id, id: u32, label_of: impl Fn(u32) -> u64) -> Vec<(u32, u64)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let before = (Unbounded, Excluded(name.as_str()));
        let after = (Excluded(name.as_str()), Unbounded);
        let below = self
            .order
            .range::<_, str>(before)
            .next_back()
            .map(|(_, &i)| label_of(i));
        let above = self.order.range::<_, str>(after).next().map(|(_, &i)| label_of(i));
        self.order.insert(name.clone(), id);
        let direct = match (below, above) {
            (None, None) => Some(1 << 63),
            (Some(b), None) => b.checked_add(LABEL_STEP).or_else(|| midpoint(b, u64::MAX)),
            (None, Some(a)) => a.checked_sub(LABEL_STEP).filter(|&l| l > 0).or_else(|| midpoint(0, a)),
            (Some(b), Some(a)) => midpoint(b, a),
        };
        if let Some(label) = direct {
            return vec![(id, label)];
        }
        let anchor = u128::from(below.or(above).unwrap_or(0));
        for j in 1..=64u32 {
            let size: u128 = 1 << j;
            let base = anchor & !(size - 1);
            let end = base + size;
            let mut run: Vec<u32> = self
                .order
                .range::<_, str>(before)
                .rev()
                .map_while(|(_, &i)| (u128::from(label_of(i)) >= base).then_some(i))
                .collect();
            run.reverse();
            run.push(id);
            run.extend(
                self.order
                    .range::<_, str>(after)
                    .map_while(|(_, &i)| (u128::from(label_of(i)) < end).then_some(i)),
            );
            let count = run.len() as u128;
            let sparse = (count as f64) < (size as f64) / 1.3f64.powi(j as i32);
            if sparse && size / (count + 1) >= 2 {
                let step = size / (count + 1);
                return run
                    .into_iter()
                    .enumerate()
                    .map(|(k, i)| (i, (base + step * (k as u128 + 1)) as u64))
                    .collect();
            }
        }
        // Only past ~10^11 names: spread every label.
        self.order
            .values()
            .enumerate()
            .map(|(k, &i)| (i, (k as u64 + 1).saturating_mul(LABEL_STEP >> 8)))
            .collect()
    }

    /// Checks that labels rise with the names and that every id is there.
    pub(super) fn validate(
        &self,
        what: &str,
        count: usize,
        name_and_label: impl Fn(u32) -> (Id, u64),
    ) -> Result<(), String> {
        if self.order.len() != count {
            return Err(format!("the {what} order holds {} of {count}", self.order.len()));
        }
        let mut last: Option<u64> = None;
        for (name, &id) in &self.order {
            let (held, label) = name_and_label(id);
            if held != *name || last.is_some_and(|l| l >= label) {
                return Err(format!("{what} {name:?}: label {label} out of order"));
            }
            last = Some(label);
        }
        Ok(())
    }
}

/// The label halfway between two, if there is one strictly between them.
fn midpoint(below: u64, above: u64) -> Option<u64> {
    (above - below >= 2).then(|| below + (above - below) / 2)
}
