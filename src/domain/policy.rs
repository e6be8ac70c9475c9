//! Policy types: which policies' rules take part in decisions (docs/CONTRACT.md §1,
//! "Policy types").
//!
//! ODRL 2.2 says an Offer "does not grant any Rules" and a Request grants nothing; the
//! Community Group's formal semantics evaluates a Set (a bare `odrl:Policy` is a Set) and
//! an Agreement and must not evaluate an Offer. So:
//! - `Set`, `Policy`, `Agreement`, `Privacy` and `Ticket` (a ticket's holder is the
//!   assignee its rules name), or no type at all: enforced.
//! - `Offer`, `Request` and `Assertion`: stored and listed, never grant or deny.
//! - Any other type is not understood, and fails closed: its permissions grant nothing
//!   and its prohibitions still deny.
//!
//! A policy's conflict strategy (`odrl:conflict`) says what happens inside that policy when
//! a permission and a prohibition of it both apply to a request ([`Conflict`]).

use super::{DomainError, RuleKind};

/// The ODRL 2.2 namespace.
pub const ODRL_NS: &str = "http://www.w3.org/ns/odrl/2/";

/// How the rules of a policy of one type take part in decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    /// Permissions grant and prohibitions deny.
    Enforced,
    /// Neither grants nor denies (a proposal, a request or a claim).
    Inert,
    /// A type this server does not understand: prohibitions deny, permissions grant nothing.
    Unknown,
}

/// Bit of a rule kind in an enforcement mask.
#[inline]
pub fn kind_bit(kind: RuleKind) -> u8 {
    match kind {
        RuleKind::Permission => 1,
        RuleKind::Prohibition => 2,
    }
}

/// Both kinds' [`kind_bit`]s: the effect of an active policy whose rules all count.
pub const EVERY_KIND: u8 = 3;

impl Enforcement {
    /// The enforcement of a policy type given as a full IRI (`None`: no type given).
    pub fn of(policy_type: Option<&str>) -> Enforcement {
        let Some(iri) = policy_type else {
            return Enforcement::Enforced;
        };
        match iri.strip_prefix(ODRL_NS) {
            Some("Set" | "Policy" | "Agreement" | "Privacy" | "Ticket") => Enforcement::Enforced,
            Some("Offer" | "Request" | "Assertion") => Enforcement::Inert,
            _ => Enforcement::Unknown,
        }
    }

    /// The rule kinds that count, as a mask of [`kind_bit`]s.
    #[inline]
    pub fn mask(self) -> u8 {
        match self {
            Enforcement::Enforced => EVERY_KIND,
            Enforcement::Inert => 0,
            Enforcement::Unknown => kind_bit(RuleKind::Prohibition),
        }
    }

    /// True when a rule of this kind counts.
    pub fn counts(self, kind: RuleKind) -> bool {
        self.mask() & kind_bit(kind) != 0
    }

    /// Why a rule of this kind does not count, for explanations (`None`: it counts).
    pub fn why_not(self, kind: RuleKind) -> Option<&'static str> {
        if self.counts(kind) {
            return None;
        }
        Some(match self {
            Enforcement::Inert => "the policy's type (an Offer, Request or Assertion) never grants or denies",
            _ => "the policy's type is not one this server understands, so its permissions grant nothing",
        })
    }
}

/// A policy's conflict strategy (ODRL 2.2 `odrl:conflict`): what happens when one of its
/// permissions and one of its prohibitions both apply to a request (and both count). Across
/// different policies a prohibition always beats a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Conflict {
    /// `odrl:prohibit` (the default): the prohibition wins.
    #[default]
    Prohibit,
    /// `odrl:perm`: the policy's permissions override its prohibitions.
    Perm,
    /// `odrl:invalid`: the policy is void for that request (none of its rules count).
    Invalid,
}

impl Conflict {
    /// Parses a conflict strategy given as a full IRI (CURIEs are expanded before).
    pub fn from_iri(field: &str, iri: &str) -> Result<Conflict, DomainError> {
        match iri.strip_prefix(ODRL_NS) {
            Some("prohibit") => Ok(Conflict::Prohibit),
            Some("perm") => Ok(Conflict::Perm),
            Some("invalid") => Ok(Conflict::Invalid),
            _ => Err(DomainError::new(
                field,
                format!("{iri:?} is not a conflict strategy: use odrl:perm, odrl:prohibit or odrl:invalid"),
            )),
        }
    }

    /// The strategy's full IRI.
    pub fn iri(self) -> &'static str {
        match self {
            Conflict::Prohibit => "http://www.w3.org/ns/odrl/2/prohibit",
            Conflict::Perm => "http://www.w3.org/ns/odrl/2/perm",
            Conflict::Invalid => "http://www.w3.org/ns/odrl/2/invalid",
        }
    }

    /// The name stored in the read model.
    pub fn as_str(self) -> &'static str {
        match self {
            Conflict::Prohibit => "prohibit",
            Conflict::Perm => "perm",
            Conflict::Invalid => "invalid",
        }
    }

    /// Parses the stored name.
    pub fn parse_stored(s: &str) -> Option<Conflict> {
        match s {
            "prohibit" => Some(Conflict::Prohibit),
            "perm" => Some(Conflict::Perm),
            "invalid" => Some(Conflict::Invalid),
            _ => None,
        }
    }

    /// Which of a policy's applicable rules that count survive its strategy, given whether
    /// it has an applicable permission and an applicable prohibition: (permissions survive,
    /// prohibitions survive).
    pub fn resolve(self, has_permission: bool, has_prohibition: bool) -> (bool, bool) {
        let conflict = has_permission && has_prohibition;
        match self {
            Conflict::Prohibit => (true, true),
            Conflict::Perm => (true, !conflict),
            Conflict::Invalid => (!conflict, !conflict),
        }
    }
}

/// The mask of rule kinds that count in a policy with this status and type.
#[inline]
pub fn effect_mask(active: bool, policy_type: Option<&str>) -> u8 {
    if active { Enforcement::of(policy_type).mask() } else { 0 }
}

#[cfg(test)]
mod tests;
