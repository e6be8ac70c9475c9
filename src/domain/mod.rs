//! Domain types: identifiers, actions, rules, triple events and the changes they make.
//!
//! Everything here is parsed, never merely validated: a value of these types has passed
//! every input rule of docs/CONTRACT.md §1–§2, so the layers above cannot forget a check. This module
//! depends on nothing else in the crate.

pub mod action;
pub mod commands;
pub mod constraint;
pub mod decision;
pub mod error;
pub mod event;
pub mod id;
pub mod policy;
pub mod rules;

pub use action::Action;
pub use decision::{ConditionNote, Decision, Explanation, Reason, Totals, explain_limit};
pub use error::DomainError;
pub use event::{Change, EdgeSource, EntityKind, EventType, NewEvent, StoredEvent};
pub use id::{Id, Target};
pub use policy::{Conflict, Enforcement};
pub use rules::{RuleParts, RuleView, Rules};

/// The kind of a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleKind {
    Permission,
    Prohibition,
}

impl RuleKind {
    /// The name stored in the read model.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Permission => "permission",
            RuleKind::Prohibition => "prohibition",
        }
    }

    /// Parses the stored name.
    pub fn parse_stored(s: &str) -> Option<RuleKind> {
        match s {
            "permission" => Some(RuleKind::Permission),
            "prohibition" => Some(RuleKind::Prohibition),
            _ => None,
        }
    }
}

/// A rule: its identity is the whole tuple (docs/CONTRACT.md §1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Rule {
    pub policy: Id,
    pub kind: RuleKind,
    /// An agent or a role.
    pub assignee: Id,
    pub action: Action,
    pub target: Target,
    /// The rule's constraints (all must hold), part of its identity: the same tuple with
    /// another condition, or none, is another rule.
    pub condition: Option<std::sync::Arc<constraint::Condition>>,
}
