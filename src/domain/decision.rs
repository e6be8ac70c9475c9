//! The answer to a check, and why.

use crate::domain::{Action, Id, Rule, Rules};

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
    /// Present when the caller asked for an explanation.
    pub explanation: Option<Explanation>,
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
