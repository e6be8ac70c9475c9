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

use super::RuleKind;

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
            Enforcement::Enforced => 3,
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

/// The mask of rule kinds that count in a policy with this status and type.
#[inline]
pub fn effect_mask(active: bool, policy_type: Option<&str>) -> u8 {
    if active { Enforcement::of(policy_type).mask() } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_types_enforce_as_odrl_says() {
        let odrl = |t: &str| format!("{ODRL_NS}{t}");
        for t in ["Set", "Policy", "Agreement", "Privacy", "Ticket"] {
            assert_eq!(Enforcement::of(Some(&odrl(t))), Enforcement::Enforced, "{t}");
        }
        for t in ["Offer", "Request", "Assertion"] {
            let e = Enforcement::of(Some(&odrl(t)));
            assert_eq!(e, Enforcement::Inert, "{t}");
            assert!(!e.counts(RuleKind::Permission) && !e.counts(RuleKind::Prohibition));
        }
        assert_eq!(Enforcement::of(None), Enforcement::Enforced);
        // Not ODRL's, or not an ODRL policy class: fail closed.
        for t in [
            odrl("offer"),
            odrl("Permission"),
            "https://example.com/Offer".to_string(),
        ] {
            let e = Enforcement::of(Some(&t));
            assert_eq!(e, Enforcement::Unknown, "{t}");
            assert!(!e.counts(RuleKind::Permission) && e.counts(RuleKind::Prohibition));
            assert!(e.why_not(RuleKind::Permission).is_some() && e.why_not(RuleKind::Prohibition).is_none());
        }
        assert_eq!(effect_mask(false, None), 0);
        assert_eq!(effect_mask(true, None), 3);
    }
}
