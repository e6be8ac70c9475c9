//! The rules an explanation lists, rendered into a [`Rules`]: each distinct policy,
//! assignee, action, target and condition is cloned once, and found again by the index's
//! integer ids (an explanation on a big organisation lists thousands of rules over a few
//! hundred names; see `domain::rules`).

use crate::domain::{RuleParts, Rules, Target};
use crate::engine::Check;
use crate::engine::closure::Closure;
use crate::engine::index::Index;
use crate::engine::odrl::Hit;

/// `hits` as rules, in their order.
pub(crate) fn listed(index: &Index, check: &Check, closure: &Closure<'_>, hits: &[Hit]) -> Rules {
    let mut out = Rules::with_capacity(hits.len());
    // Room for a distinct name per two rules without growing (a few hundred in a thousand).
    let mut seen = Seen {
        slots: vec![(0, 0); hits.len().next_power_of_two().clamp(64, 4096)],
        len: 0,
    };
    // Targets by level: `*` first, then the requested target, then its collections.
    let mut targets = vec![NONE; closure.targets.len() + 2];
    // Listed rules come mostly in runs of one policy and one action: the last ones'
    // positions are kept.
    let mut last_policy = (NONE, NONE);
    let mut last_action = (NONE, NONE);
    for h in hits {
        let base = index.base(h.policy);
        if last_policy.0 != base {
            last_policy = (
                base,
                seen.get_or(POLICY | u64::from(base), || out.add_id(index.policy_name(base).clone())),
            );
        }
        let policy = last_policy.1;
        let assignee = if h.own {
            seen.get_or(OWN, || out.add_id(check.agent.clone()))
        } else {
            seen.get_or(NODE | u64::from(h.assignee), || {
                out.add_id(index.node_by_id(h.assignee).name.clone())
            })
        };
        if last_action.0 != h.action {
            last_action = (
                h.action,
                seen.get_or(ACTION | u64::from(h.action), || {
                    out.add_action(index.action(h.action).clone())
                }),
            );
        }
        let action = last_action.1;
        let at = match h.level {
            2 => 0,
            1 => 1 + h.via as usize,
            _ => 1,
        };
        if targets[at] == NONE {
            targets[at] = out.add_target(match h.level {
                2 => Target::Any,
                1 => Target::One(closure.targets[h.via as usize - 1].clone()),
                _ => Target::One(check.target.clone()),
            });
        }
        let condition = index
            .condition(h.policy)
            .map(|c| seen.get_or(CONDITION | u64::from(h.policy), || out.add_condition(c.clone())));
        out.push_parts(RuleParts {
            policy,
            kind: h.kind,
            assignee,
            action,
            target: targets[at],
            condition,
        });
    }
    out
}

const NONE: u32 = u32::MAX;
// What a key names, above the index's 32-bit id.
const POLICY: u64 = 1 << 32;
const NODE: u64 = 2 << 32;
const ACTION: u64 = 3 << 32;
const CONDITION: u64 = 4 << 32;
const OWN: u64 = 5 << 32;

/// Keys already kept and their positions: open addressing with linear probing, at most
/// half full (an explanation has a few hundred distinct names, not one per rule).
#[derive(Default)]
struct Seen {
    /// (key + 1, position); 0: a free slot.
    slots: Vec<(u64, u32)>,
    len: usize,
}

impl Seen {
    /// The position kept for `key`, or `add()`'s, kept from now on.
    #[inline]
    fn get_or(&mut self, key: u64, add: impl FnOnce() -> u32) -> u32 {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let at = self.slot(key);
        if self.slots[at].0 == 0 {
            self.slots[at] = (key + 1, add());
            self.len += 1;
        }
        self.slots[at].1
    }

    fn slot(&self, key: u64) -> usize {
        let mask = self.slots.len() - 1;
        let mut at = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & mask;
        while self.slots[at].0 != 0 && self.slots[at].0 != key + 1 {
            at = (at + 1) & mask;
        }
        at
    }

    fn grow(&mut self) {
        let bigger = vec![(0, 0); (self.slots.len() * 2).max(64)];
        let old = std::mem::replace(&mut self.slots, bigger);
        for (k, v) in old.into_iter().filter(|&(k, _)| k != 0) {
            let at = self.slot(k - 1);
            self.slots[at] = (k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Seen;

    #[test]
    fn each_key_is_kept_once_however_many_there_are() {
        let mut seen = Seen::default();
        let mut added = 0;
        for round in 0..3 {
            for k in 0..5_000u64 {
                let key = (k % 7) << 32 | k;
                let want = k as u32;
                let got = seen.get_or(key, || {
                    added += 1;
                    want
                });
                assert_eq!(got, want, "round {round}, key {k}");
            }
        }
        assert_eq!(added, 5_000);
        assert_eq!(seen.len, 5_000);
    }
}
