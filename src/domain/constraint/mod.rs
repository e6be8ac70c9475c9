//! ODRL constraints on rules: their canonical JSON form, parsing, and evaluation against a
//! request's context (docs/CONTRACT.md §1, "Constraints").
//!
//! A rule's constraint travels in its triple event as the `constraint` attribute: one
//! constraint, or a JSON array of them (all must hold). A constraint is
//!
//! - **atomic**: `{"leftOperand": T, "operator": OP, "rightOperand": V}`, with an optional
//!   `"dataType"` (how to read a string right operand) and `"unit"`;
//! - **logical**: `{"and" | "or" | "xone" | "andSequence": [constraint, …]}`.
//!
//! Terms are IRIs or CURIEs (`odrl:`, `xsd:`, and the full IRIs of those two namespaces
//! are written as CURIEs in the canonical form). A right operand is a JSON string
//! (`xsd:string`, unless `dataType` says otherwise), number (`xsd:decimal`), boolean,
//! `{"@id": IRI}`, `{"@value": lexical, "@type": datatype}`, or an array of those (a set).
//!
//! Parsing yields the canonical text (sorted keys, CURIEs, typed literals checked), which
//! is part of the rule's identity: a revoke must name the same constraint.
//!
//! Evaluation is three-valued and **fails closed**: a constraint whose left operand is
//! missing from the context, whose types do not compare, or whose datatype or operator this
//! module does not know is *unknown*; an unknown constraint keeps a permission from
//! applying and makes a prohibition apply. Operators on sets are pinned here (ODRL leaves
//! them open): `isAnyOf` (some value of the left is in the right), `isNoneOf` (none is),
//! `isAllOf` and `hasPart` (every right value is in the left), `isPartOf` (every left value
//! is in the right), `isA` (the right IRI is the left value, or one of its listed classes:
//! no subclass reasoning).
//!
//! Parts: `parse` (the JSON form read into the tree, and the tree's canonical JSON),
//! `literal` (typed values, the context, comparisons), `duty` (duties and remedies); this
//! module holds the operators, the constraint tree, the condition and its evaluation.

use crate::domain::DomainError;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

mod duty;
mod eval;
mod literal;
mod parse;
#[cfg(test)]
mod tests;

pub use duty::{Duty, FULFILLED, Party};
use duty::{parse_duties, parse_remedy};
pub use eval::{Now, Truth, Verdict};
pub use literal::{Context, Decimal, Literal, context_from_json, parse_date_time, term, typed};
use literal::{as_set, kind, member_of, test};
use parse::parse_list;

/// The ODRL namespace.
pub const ODRL: &str = "http://www.w3.org/ns/odrl/2/";
/// The XML Schema datatypes namespace.
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
/// Deepest nesting of logical constraints (an atomic constraint alone is depth 1).
pub const MAX_DEPTH: usize = 8;
/// Most constraints (atomic and logical) in one rule's condition.
pub const MAX_NODES: usize = 1024;
/// Most values in one set (a right operand or a context list).
pub const MAX_SET: usize = 256;
/// Most left-operand values in one request's context.
pub const MAX_CONTEXT: usize = 64;

/// The comparison an atomic constraint makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operator {
    Eq,
    Neq,
    Lt,
    Lteq,
    Gt,
    Gteq,
    IsA,
    HasPart,
    IsPartOf,
    IsAllOf,
    IsAnyOf,
    IsNoneOf,
}

impl Operator {
    const ALL: [(&'static str, Operator); 12] = [
        ("eq", Operator::Eq),
        ("neq", Operator::Neq),
        ("lt", Operator::Lt),
        ("lteq", Operator::Lteq),
        ("gt", Operator::Gt),
        ("gteq", Operator::Gteq),
        ("isA", Operator::IsA),
        ("hasPart", Operator::HasPart),
        ("isPartOf", Operator::IsPartOf),
        ("isAllOf", Operator::IsAllOf),
        ("isAnyOf", Operator::IsAnyOf),
        ("isNoneOf", Operator::IsNoneOf),
    ];

    /// The operator's local name in the ODRL vocabulary.
    pub fn name(self) -> &'static str {
        Operator::ALL
            .iter()
            .find(|(_, o)| *o == self)
            .map(|(n, _)| *n)
            .expect("every operator is listed")
    }

    fn parse(term: &str) -> Option<Operator> {
        let local = term.strip_prefix("odrl:")?;
        // `neg` is an erratum spelling of `neq` (w3c/poe #305).
        let local = if local == "neg" { "neq" } else { local };
        Operator::ALL.iter().find(|(n, _)| *n == local).map(|(_, o)| *o)
    }
}

/// How a logical constraint combines its operands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Logic {
    And,
    Or,
    Xone,
    /// All, in order: evaluated as `and` (there is no timeline to order them on).
    AndSequence,
}

impl Logic {
    const ALL: [(&'static str, Logic); 4] = [
        ("and", Logic::And),
        ("andSequence", Logic::AndSequence),
        ("or", Logic::Or),
        ("xone", Logic::Xone),
    ];

    fn name(self) -> &'static str {
        Logic::ALL
            .iter()
            .find(|(_, l)| *l == self)
            .map(|(n, _)| *n)
            .expect("every logic is listed")
    }
}

/// A parsed constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    Atomic(Atomic),
    Logical { logic: Logic, operands: Vec<Constraint> },
}

/// An atomic constraint.
#[derive(Debug, Clone, PartialEq)]
pub struct Atomic {
    pub left: String,
    pub operator: Operator,
    pub right: Literal,
    pub data_type: Option<String>,
    pub unit: Option<String>,
    /// The canonical JSON of this constraint alone (for explanations).
    pub text: String,
}

/// A rule's condition: every constraint of the `constraint` attribute must hold. Two
/// conditions are the same when their canonical texts are.
#[derive(Debug, Clone)]
pub struct Condition {
    /// The canonical JSON text, the rule's identity (what the read model stores): the
    /// constraints' canonical text alone, or, when the action has refinements,
    /// `{"constraint": C, "refinement": R}` (`constraint` left out when there is none).
    pub text: Arc<str>,
    /// The rule's constraints (the `constraint` attribute): conditions on the rule.
    pub constraints: Vec<Constraint>,
    /// The action's refinements (the `refinement` attribute): they narrow what the rule
    /// covers. Evaluated alike; reported as refinements.
    pub refinements: Vec<Constraint>,
    /// A permission's duties (the `duty` attribute): preconditions.
    pub duties: Vec<Duty>,
    /// The canonical text of each attribute, when given (`remedy`, a prohibition's, is
    /// stored and listed, never enforced).
    pub constraint_text: Option<Arc<str>>,
    pub refinement_text: Option<Arc<str>>,
    pub duty_text: Option<Arc<str>>,
    pub remedy_text: Option<Arc<str>>,
}

/// The attributes a rule's condition is made of, as given: (field, JSON text) each.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attributes<'a> {
    pub constraint: Option<(&'a str, &'a str)>,
    pub refinement: Option<(&'a str, &'a str)>,
    pub duty: Option<(&'a str, &'a str)>,
    pub remedy: Option<(&'a str, &'a str)>,
}

impl PartialEq for Condition {
    fn eq(&self, other: &Condition) -> bool {
        self.text == other.text
    }
}

impl Eq for Condition {}

impl std::hash::Hash for Condition {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl PartialOrd for Condition {
    fn partial_cmp(&self, other: &Condition) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Condition {
    fn cmp(&self, other: &Condition) -> Ordering {
        self.text.cmp(&other.text)
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Condition {
    /// Parses the `constraint` attribute (JSON text: one constraint or an array of them).
    /// `field` names it in errors.
    pub fn parse(field: &str, text: &str) -> Result<Condition, DomainError> {
        Ok(Condition::of(Attributes {
            constraint: Some((field, text)),
            ..Attributes::default()
        })?
        .expect("a constraint is given"))
    }

    /// A rule's condition from its attributes (each JSON: one item or an array): None when
    /// none is given. The canonical text is the constraints' alone when only they are
    /// given, else `{"constraint": …, "duty": …, "refinement": …, "remedy": …}` with the
    /// parts given.
    pub fn of(a: Attributes<'_>) -> Result<Option<Condition>, DomainError> {
        let constraint = a.constraint.map(|(field, text)| parse_list(field, text)).transpose()?;
        let refinement = a.refinement.map(|(field, text)| parse_list(field, text)).transpose()?;
        let duty = a.duty.map(|(field, text)| parse_duties(field, text)).transpose()?;
        let remedy = a.remedy.map(|(field, text)| parse_remedy(field, text)).transpose()?;
        if constraint.is_none() && refinement.is_none() && duty.is_none() && remedy.is_none() {
            return Ok(None);
        }
        let text: Arc<str> = match (&constraint, &refinement, &duty, &remedy) {
            (Some((_, c)), None, None, None) => c.clone(),
            _ => {
                let mut m = Map::new();
                let mut put = |k: &str, t: Option<&Arc<str>>| {
                    if let Some(t) = t {
                        m.insert(k.into(), serde_json::from_str(t).expect("canonical JSON"));
                    }
                };
                put("constraint", constraint.as_ref().map(|x| &x.1));
                put("duty", duty.as_ref().map(|x| &x.1));
                put("refinement", refinement.as_ref().map(|x| &x.1));
                put("remedy", remedy.as_ref());
                Value::Object(m).to_string().into()
            }
        };
        let (constraints, constraint_text) = constraint.map_or((Vec::new(), None), |(c, t)| (c, Some(t)));
        let (refinements, refinement_text) = refinement.map_or((Vec::new(), None), |(c, t)| (c, Some(t)));
        let (duties, duty_text) = duty.map_or((Vec::new(), None), |(d, t)| (d, Some(t)));
        Ok(Some(Condition {
            text,
            constraints,
            refinements,
            duties,
            constraint_text,
            refinement_text,
            duty_text,
            remedy_text: remedy,
        }))
    }

    /// A condition as the read model stores it ([`Condition::text`]).
    pub fn parse_stored(field: &str, text: &str) -> Result<Condition, DomainError> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| DomainError::new(field, format!("is not JSON: {e}")))?;
        const PARTS: [&str; 4] = ["constraint", "duty", "refinement", "remedy"];
        match &json {
            Value::Object(m) if !m.is_empty() && m.keys().all(|k| PARTS.contains(&k.as_str())) => {
                let parts: Vec<Option<String>> = PARTS.iter().map(|k| m.get(*k).map(Value::to_string)).collect();
                let at = |i: usize| parts[i].as_deref().map(|t| (field, t));
                let cond = Condition::of(Attributes {
                    constraint: at(0),
                    duty: at(1),
                    refinement: at(2),
                    remedy: at(3),
                })?
                .ok_or_else(|| DomainError::new(field, "holds no part"))?;
                if *cond.text != *text {
                    return Err(DomainError::new(field, "is not in canonical form"));
                }
                Ok(cond)
            }
            _ => Condition::parse(field, text),
        }
    }

    /// Evaluates every constraint and refinement (all must hold) against `ctx`, reading the
    /// clock only when a `dateTime` constraint needs it and the context pins no time.
    pub fn evaluate(&self, ctx: &Context, now: &mut Now, party: &Party<'_>) -> Verdict {
        let mut out = Verdict::Satisfied;
        let refinements = self.refinements.iter().map(|c| (c, true));
        for (c, refinement) in self.constraints.iter().map(|c| (c, false)).chain(refinements) {
            let v = match c.evaluate(ctx, now) {
                Verdict::NotSatisfied { constraint } if refinement => Verdict::NotSatisfied {
                    constraint: format!("refinement {constraint}"),
                },
                Verdict::Unknown { constraint, why } if refinement => Verdict::Unknown {
                    constraint: format!("refinement {constraint}"),
                    why,
                },
                v => v,
            };
            match v {
                Verdict::Satisfied => {}
                f @ Verdict::NotSatisfied { .. } => return f,
                u @ Verdict::Unknown { .. } => {
                    if out == Verdict::Satisfied {
                        out = u;
                    }
                }
            }
        }
        if out == Verdict::Satisfied
            && let Some(d) = self.duties.iter().find(|d| !d.holds(ctx, now, party))
        {
            return Verdict::NotSatisfied {
                constraint: format!("duty {:?} ({}) is active and not fulfilled", d.uid, d.action),
            };
        }
        out
    }
}
