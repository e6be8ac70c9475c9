//! A rule that applies to a check ([`Hit`]): what the deciding order reads of it, as
//! integers, and that order ([`order`]).

use crate::domain::RuleKind;
use crate::engine::index::{CUSTOM_BASE, Index};
use std::cmp::Ordering;

/// A rule that applies to the request, with what the deciding order needs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub own: bool,
    /// How the rule's target matched: 0 the requested target, 1 one of its asset
    /// collections, 2 `*`.
    pub level: u8,
    /// For level 1, 1 + the collection's position in [`crate::engine::closure::Closure::targets`] (byte order).
    pub via: u32,
    pub related: bool,
    pub kind: RuleKind,
    pub policy: u32,
    /// The policy's label (in the policies' byte order).
    pub rank: u64,
    /// The assignee's node id (the agent's for an own rule).
    pub assignee: u32,
    /// The assignee's label (in the nodes' byte order).
    pub who: u64,
    pub action: u32,
}

impl Hit {
    /// A rule on `*` assigned to `assignee` (its id and label), the agent's own or a role's.
    #[inline]
    pub(crate) fn on_star(
        own: bool,
        assignee: (u32, u64),
        policy: u32,
        action: u32,
        kind: RuleKind,
        related: bool,
    ) -> Hit {
        Hit {
            own,
            level: 2,
            via: 0,
            related,
            kind,
            policy,
            rank: 0,
            assignee: assignee.0,
            who: assignee.1,
            action,
        }
    }
}

/// The deciding order within one kind (see the module docs).
pub(in crate::engine) fn order(index: &Index, a: &Hit, b: &Hit) -> Ordering {
    (!a.own, a.level, a.related)
        .cmp(&(!b.own, b.level, b.related))
        .then_with(|| a.rank.cmp(&b.rank))
        // Labels are in the names' byte order.
        .then_with(|| a.who.cmp(&b.who))
        .then_with(|| match (a.action, b.action) {
            (x, y) if x == y => Ordering::Equal,
            // Vocabulary ids are positions in IRI order.
            (x, y) if x < CUSTOM_BASE && y < CUSTOM_BASE => x.cmp(&y),
            (x, y) => index.action(x).as_str().cmp(index.action(y).as_str()),
        })
        // Collections are numbered in byte order.
        .then_with(|| a.via.cmp(&b.via))
        .then_with(|| by_condition(index, a, b))
}

/// The same rule but for its condition: none first, then by canonical text.
#[cold]
#[inline(never)]
fn by_condition(index: &Index, a: &Hit, b: &Hit) -> Ordering {
    if a.policy == b.policy {
        Ordering::Equal
    } else {
        index.condition_text(a.policy).cmp(&index.condition_text(b.policy))
    }
}
