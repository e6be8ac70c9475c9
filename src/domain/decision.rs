//! The answer to a check, and why.

use crate::domain::{Action, DomainError, Id, Rule, Rules};

/// Entries an explanation lists in each of its lists when the caller names no limit.
pub const DEFAULT_EXPLAIN_LIMIT: usize = 1_000;

/// The most entries a caller may ask an explanation to list in each of its lists.
pub const MAX_EXPLAIN_LIMIT: usize = 10_000;

/// The most entries per list that the explanations of one batch may ask for together
/// (items × limit): a batch's default limit per item is lowered to fit.
pub const BATCH_EXPLAIN_BUDGET: usize = 100_000;

/// Why a check was decided the way it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    Permitted,
    Prohibited,
    NotPermitted,
    AgentInactive,
    AccountInactive,
    NotAMember,
}

impl Reason {
    /// The short name used in the scenarios, logs and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Permitted => "PERMITTED",
            Reason::Prohibited => "PROHIBITED",
            Reason::NotPermitted => "NOT_PERMITTED",
            Reason::AgentInactive => "AGENT_INACTIVE",
            Reason::AccountInactive => "ACCOUNT_INACTIVE",
            Reason::NotAMember => "NOT_A_MEMBER",
        }
    }
}

/// A decision. A deny is a decision, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// Every event up to this revision was applied to the index that decided.
    pub revision: u64,
    /// The rule that decided, for PERMITTED and PROHIBITED.
    pub deciding_rule: Option<Rule>,
    /// Present when the caller asked for an explanation. Boxed: an explanation is four
    /// lists and their totals (~320 bytes), and a plain decision moves through a few
    /// layers on its way to the wire.
    pub explanation: Option<Box<Explanation>>,
    /// The requested action, canonical.
    pub action: Action,
}

/// What the engine considered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Explanation {
    /// The agent first, then every role and group of its closure in byte order.
    pub assignees: Vec<Id>,
    /// Every rule that applied other than the deciding one, in deciding order
    /// (prohibitions first), including permissions a prohibition overrode.
    pub other_rules: Rules,
    /// Rules that match the request in an active policy but do not count: for the
    /// policy's type (an Offer, Request or Assertion; a permission in a policy of a type
    /// this server does not understand), or taken out by its conflict strategy. Sorted,
    /// without duplicates.
    pub unenforced_rules: Rules,
    /// Rules with constraints that match the request in a policy that counts, each with
    /// whether it applied and why (which constraint failed or could not be evaluated).
    /// Sorted by rule, without duplicates.
    pub conditions: Vec<ConditionNote>,
    /// How many entries each list has in full: a list holds the first `limit` of them (the
    /// check's `explain_limit`), so it is complete when its length equals its total.
    pub totals: Totals,
}

/// The full length of each list of an [`Explanation`], before its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    pub assignees: usize,
    pub other_rules: usize,
    pub unenforced_rules: usize,
    pub conditions: usize,
}

impl Explanation {
    /// An explanation from its full lists, each cut to its first `limit` entries, with the
    /// full lengths as its totals.
    pub fn limited(
        mut assignees: Vec<Id>,
        mut other_rules: Rules,
        mut unenforced_rules: Rules,
        mut conditions: Vec<ConditionNote>,
        limit: usize,
    ) -> Explanation {
        let totals = Totals {
            assignees: assignees.len(),
            other_rules: other_rules.len(),
            unenforced_rules: unenforced_rules.len(),
            conditions: conditions.len(),
        };
        assignees.truncate(limit);
        other_rules.truncate(limit);
        unenforced_rules.truncate(limit);
        conditions.truncate(limit);
        Explanation {
            assignees,
            other_rules,
            unenforced_rules,
            conditions,
            totals,
        }
    }

    /// Whether every list is complete (no entry was left out for the limit).
    pub fn is_complete(&self) -> bool {
        self.assignees.len() == self.totals.assignees
            && self.other_rules.len() == self.totals.other_rules
            && self.unenforced_rules.len() == self.totals.unenforced_rules
            && self.conditions.len() == self.totals.conditions
    }
}

/// The entries per list that each of `items` checks' explanations lists, from the limit a
/// caller asked for (`0`: the default) in the field named `field`: at most
/// [`MAX_EXPLAIN_LIMIT`], and, over a batch, at most [`BATCH_EXPLAIN_BUDGET`] entries per
/// list for all its items together. The default is [`DEFAULT_EXPLAIN_LIMIT`], lowered to
/// fit a big batch's budget (never below 1). A limit over either bound is refused, never
/// lowered: the caller asked for more than will be listed.
pub fn explain_limit(field: &str, requested: u64, items: usize) -> Result<usize, DomainError> {
    let items = items.max(1);
    let fits = (BATCH_EXPLAIN_BUDGET / items).max(1);
    if requested == 0 {
        return Ok(DEFAULT_EXPLAIN_LIMIT.min(fits));
    }
    if requested > MAX_EXPLAIN_LIMIT as u64 {
        return Err(DomainError::new(
            field,
            format!("is {requested}; an explanation lists at most {MAX_EXPLAIN_LIMIT} entries per list"),
        ));
    }
    let requested = requested as usize;
    if requested > fits {
        return Err(DomainError::new(
            field,
            format!(
                "is {requested} for {items} checks; a batch's explanations list at most \
                 {BATCH_EXPLAIN_BUDGET} entries per list together, so at most {fits} each"
            ),
        ));
    }
    Ok(requested)
}

/// What a rule's constraints gave for a request.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConditionNote {
    pub rule: Rule,
    /// False: the rule did not take part (a permission whose constraints are not all
    /// satisfied, or a prohibition whose constraints are not satisfied).
    pub applies: bool,
    /// "every constraint is satisfied", "not satisfied: C" or "cannot be evaluated (why): C".
    pub why: String,
}

impl ConditionNote {
    /// Sorted by rule, without duplicates.
    pub fn sorted(notes: impl Iterator<Item = ConditionNote>) -> Vec<ConditionNote> {
        let mut v: Vec<ConditionNote> = notes.collect();
        v.sort();
        v.dedup();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explain_limits_default_fit_and_refuse() {
        // The default, and lowered to fit a batch's budget, never below one.
        assert_eq!(explain_limit("f", 0, 1), Ok(DEFAULT_EXPLAIN_LIMIT));
        assert_eq!(explain_limit("f", 0, 0), Ok(DEFAULT_EXPLAIN_LIMIT));
        assert_eq!(explain_limit("f", 0, 100), Ok(DEFAULT_EXPLAIN_LIMIT));
        assert_eq!(explain_limit("f", 0, 1_000), Ok(100));
        assert_eq!(explain_limit("f", 0, 1_000_000), Ok(1));
        // What is asked for, within both bounds.
        assert_eq!(explain_limit("f", 3, 1), Ok(3));
        assert_eq!(explain_limit("f", 10_000, 1), Ok(10_000));
        assert_eq!(explain_limit("f", 9_090, 11), Ok(9_090));
        // Over either bound: refused, naming the field, never lowered.
        for (asked, items) in [(10_001, 1), (u64::MAX, 1), (9_091, 11), (101, 1_000)] {
            let e = explain_limit("items.explain_limit", asked, items).unwrap_err();
            assert_eq!(e.field, "items.explain_limit");
            assert!(e.reason.contains(&asked.to_string()), "{e:?}");
        }
    }

    #[test]
    fn a_limited_explanation_keeps_the_first_entries_and_counts_all() {
        let ids: Vec<Id> = ["a", "b", "c"].iter().map(|n| Id::from_trusted(n)).collect();
        let e = Explanation::limited(ids.clone(), Rules::default(), Rules::default(), Vec::new(), 2);
        assert_eq!(e.assignees, ids[..2].to_vec());
        assert_eq!(e.totals.assignees, 3);
        assert!(!e.is_complete());
        let whole = Explanation::limited(ids.clone(), Rules::default(), Rules::default(), Vec::new(), 3);
        assert!(whole.is_complete());
        assert_eq!(whole.assignees, ids);
    }
}
