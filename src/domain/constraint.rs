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

use crate::domain::DomainError;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The ODRL namespace.
pub const ODRL: &str = "http://www.w3.org/ns/odrl/2/";
/// The XML Schema datatypes namespace.
pub const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
/// Deepest nesting of logical constraints (an atomic constraint alone is depth 1).
pub const MAX_DEPTH: usize = 8;
/// Most constraints (atomic and logical) in one rule's condition.
pub const MAX_NODES: usize = 64;
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

/// A typed value: a right operand, or a value of the request's context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    String(String),
    Iri(String),
    Boolean(bool),
    Number(Decimal),
    /// An instant (a zone-less `xsd:dateTime` is kept with `zoned: false`, read as UTC
    /// give or take 14 hours, as XSD does).
    DateTime {
        at: DateTime<Utc>,
        zoned: bool,
    },
    /// A day: the instants from its start to the next day's start; `offset` is its zone's
    /// (seconds east of UTC), kept to write the day back as given.
    Date {
        start: DateTime<Utc>,
        zoned: bool,
        offset: i32,
    },
    /// A literal of a datatype this module does not know: never comparable.
    Other {
        lexical: String,
        datatype: String,
    },
    List(Vec<Literal>),
}

/// A context value given by the caller.
pub type ContextValue = Literal;

/// What a request brings for constraints: values by left operand (normalised terms, see
/// [`term`]) and their units, when given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    values: BTreeMap<String, (Literal, Option<String>)>,
}

impl Context {
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Adds a value for a left operand given as a CURIE or an IRI; its unit, if any.
    pub fn insert(&mut self, key: &str, value: Literal, unit: Option<&str>) -> Result<(), DomainError> {
        let field = format!("context[{key:?}]");
        let k = term(&field, key)?;
        let unit = unit.filter(|u| !u.is_empty()).map(|u| term(&field, u)).transpose()?;
        if let Literal::List(items) = &value
            && items.len() > MAX_SET
        {
            return Err(DomainError::new(
                field,
                format!("a list holds at most {MAX_SET} values"),
            ));
        }
        self.values.insert(k, (value, unit));
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&(Literal, Option<String>)> {
        self.values.get(key)
    }

    /// True when the context has a value for this left operand (a CURIE or an IRI).
    pub fn contains(&self, key: &str) -> bool {
        term("key", key).is_ok_and(|k| self.values.contains_key(&k))
    }

    /// Entries in key order, for tests and rendering.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Literal, Option<&str>)> {
        self.values.iter().map(|(k, (v, u))| (k.as_str(), v, u.as_deref()))
    }
}

/// A context value written as JSON (AuthZEN's `context`, `endocarp check --context`):
/// a string, number, boolean or array (a set) as it is; `{"@id": IRI}`; `{"@value": TIME,
/// "@type": "xsd:dateTime"}` (a zoned time); `{"value": V, "unit": IRI}`. Returns the
/// value and its unit.
pub fn context_from_json(field: &str, v: &Value) -> Result<(Literal, Option<String>), DomainError> {
    fn one(field: &str, v: &Value, top: bool) -> Result<Literal, DomainError> {
        Ok(match v {
            Value::String(s) => {
                crate::domain::id::check_text(field, s)?;
                Literal::String(s.clone())
            }
            Value::Bool(b) => Literal::Boolean(*b),
            Value::Number(n) => Literal::Number(
                Decimal::parse(&n.to_string()).ok_or_else(|| DomainError::new(field, "must be a finite number"))?,
            ),
            Value::Array(items) if top => {
                if items.len() > MAX_SET {
                    return Err(DomainError::new(
                        field,
                        format!("a list holds at most {MAX_SET} values"),
                    ));
                }
                Literal::List(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, x)| one(&format!("{field}[{i}]"), x, false))
                        .collect::<Result<_, _>>()?,
                )
            }
            Value::Object(m) if m.len() == 1 && m.contains_key("@id") => match &m["@id"] {
                Value::String(i) => Literal::Iri(term(field, i)?),
                _ => return Err(DomainError::new(field, "@id must be a string")),
            },
            Value::Object(m) if m.contains_key("@value") => {
                let (Some(Value::String(t)), Some(Value::String(ty))) = (m.get("@value"), m.get("@type")) else {
                    return Err(DomainError::new(
                        field,
                        "a typed value is {\"@value\": TEXT, \"@type\": DATATYPE}",
                    ));
                };
                match typed(field, t, &term(field, ty)?)? {
                    Literal::DateTime { zoned: false, .. } => {
                        return Err(DomainError::new(
                            field,
                            "a time in the context needs a zone (Z or ±hh:mm)",
                        ));
                    }
                    Literal::Date { .. } | Literal::Other { .. } => {
                        return Err(DomainError::new(
                            field,
                            "typed context values are xsd:dateTime, or the datatypes JSON has",
                        ));
                    }
                    lit => lit,
                }
            }
            _ => {
                return Err(DomainError::new(
                    field,
                    "must be a string, number, boolean, list, {\"@id\": IRI}, {\"@value\", \"@type\"} or {\"value\", \"unit\"}",
                ));
            }
        })
    }
    match v {
        Value::Object(m) if m.contains_key("value") && m.keys().all(|k| k == "value" || k == "unit") => {
            let unit = match m.get("unit") {
                Some(Value::String(u)) => Some(u.clone()),
                None => None,
                Some(_) => return Err(DomainError::new(format!("{field}.unit"), "must be a string (an IRI)")),
            };
            Ok((one(&format!("{field}.value"), &m["value"], true)?, unit))
        }
        other => Ok((one(field, other, true)?, None)),
    }
}

/// An exact decimal number: sign, integer digits, fraction digits (no leading or trailing
/// zeros), so `4`, `4.0` and `04.00` are equal and comparisons never round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decimal {
    negative: bool,
    int: String,
    frac: String,
}

impl Decimal {
    /// Parses `[+-]digits[.digits]` (an `xsd:decimal` or `xsd:integer` lexical form), or
    /// with an exponent (`xsd:double` as JSON writes it).
    pub fn parse(s: &str) -> Option<Decimal> {
        let (mantissa, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (negative, digits) = match mantissa.as_bytes().first()? {
            b'-' => (true, &mantissa[1..]),
            b'+' => (false, &mantissa[1..]),
            _ => (false, mantissa),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if (int.is_empty() && frac.is_empty())
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
            || exp.unsigned_abs() > 400
        {
            return None;
        }
        let mut all = format!("{int}{frac}");
        let mut point = int.len() as i64 + i64::from(exp);
        if point < 0 {
            all = "0".repeat(point.unsigned_abs() as usize) + all.as_str();
            point = 0;
        }
        let point = point as usize;
        if point > all.len() {
            all.push_str(&"0".repeat(point - all.len()));
        }
        let int = all[..point].trim_start_matches('0').to_string();
        let frac = all[point..].trim_end_matches('0').to_string();
        let zero = int.is_empty() && frac.is_empty();
        Some(Decimal {
            negative: negative && !zero,
            int,
            frac,
        })
    }

    /// From a finite double, by its shortest round-trip text.
    pub fn from_f64(x: f64) -> Option<Decimal> {
        if !x.is_finite() {
            return None;
        }
        Decimal::parse(&format!("{x:?}"))
    }

    fn cmp_abs(&self, other: &Decimal) -> Ordering {
        self.int
            .len()
            .cmp(&other.int.len())
            .then_with(|| self.int.cmp(&other.int))
            .then_with(|| self.frac.cmp(&other.frac))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_abs(other),
            (true, true) => other.cmp_abs(self),
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.negative { "-" } else { "" };
        let int = if self.int.is_empty() { "0" } else { &self.int };
        if self.frac.is_empty() {
            write!(f, "{sign}{int}")
        } else {
            write!(f, "{sign}{int}.{}", self.frac)
        }
    }
}

/// A term (left operand, operator, datatype, unit, IRI) in its normal form: the ODRL and
/// XSD namespaces as `odrl:` and `xsd:` CURIEs, anything else as given. Must be an IRI
/// (`scheme:rest`) without spaces or control characters.
pub fn term(field: &str, s: &str) -> Result<String, DomainError> {
    let bad = |why: &str| Err(DomainError::new(field, format!("{s:?} {why}")));
    if s.is_empty() {
        return bad("is empty");
    }
    if s.len() > 512 {
        return bad("is longer than 512 bytes");
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'))
    {
        return bad("is not an IRI (it holds a space, a quote, an angle bracket or a control character)");
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return bad("is not an IRI or a CURIE (no `:`)");
    };
    if scheme.is_empty() || rest.is_empty() {
        return bad("is not an IRI or a CURIE");
    }
    if let Some(local) = s.strip_prefix(ODRL) {
        return Ok(format!("odrl:{local}"));
    }
    if let Some(local) = s.strip_prefix(XSD) {
        return Ok(format!("xsd:{local}"));
    }
    Ok(s.to_string())
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

/// A duty of a permission (ODRL's `duty`): a precondition. The permission applies only
/// when each of its duties is inactive (its constraints do not hold) or fulfilled: a
/// `Policy.DutyDischarged` fact for (policy, `uid`, the duty's assignee — the requesting
/// agent when it names none), or the request's context listing `uid` under
/// [`FULFILLED`]. Consequences are stored, not enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct Duty {
    /// The duty's id: what `Policy.DutyDischarged` names as its object.
    pub uid: String,
    /// The action to perform (a full IRI), for explanations.
    pub action: String,
    /// Who must fulfil it; None: the agent exercising the permission.
    pub assignee: Option<String>,
    /// When the duty is active (all must hold; none: always).
    pub constraints: Vec<Constraint>,
}

/// The context key under which a caller lists the uids of duties it vouches are fulfilled.
pub const FULFILLED: &str = "endocarp:fulfilled";

/// Who is asking, and which duties have been discharged (policy-independent: the caller
/// binds the policy): `discharged(uid, by)`.
pub struct Party<'a> {
    pub agent: &'a str,
    pub discharged: &'a dyn Fn(&str, &str) -> bool,
}

impl Party<'_> {
    /// A party for whom nothing has been discharged.
    pub const NOBODY: Party<'static> = Party {
        agent: "",
        discharged: &|_, _| false,
    };
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
                .expect("a part is given");
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

/// Parses the `duty` attribute: one duty or an array of them, each `{"uid": ID, "action":
/// ACTION}` with optional `assignee`, `target`, `constraint` (when the duty is active) and
/// `consequence` (stored, not enforced). Returns them and the canonical text.
fn parse_duties(field: &str, text: &str) -> Result<(Vec<Duty>, Arc<str>), DomainError> {
    let json: Value = serde_json::from_str(text).map_err(|e| DomainError::new(field, format!("is not JSON: {e}")))?;
    let items = match json {
        Value::Array(items) => items,
        one => vec![one],
    };
    if items.is_empty() || items.len() > 16 {
        return Err(DomainError::new(field, "holds 1 to 16 duties"));
    }
    let mut duties = Vec::new();
    let mut canon = Vec::new();
    let mut uids = std::collections::BTreeSet::new();
    for (i, d) in items.iter().enumerate() {
        let at = format!("{field}[{i}]");
        let Value::Object(m) = d else {
            return Err(DomainError::new(at, "must be a JSON object (a duty)"));
        };
        const KEYS: [&str; 6] = ["action", "assignee", "consequence", "constraint", "target", "uid"];
        if let Some(k) = m.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(DomainError::new(
                format!("{at}.{k}"),
                format!("is not a member of a duty (expected {})", KEYS.join(", ")),
            ));
        }
        let id = |k: &str| -> Result<Option<String>, DomainError> {
            match m.get(k) {
                None => Ok(None),
                Some(Value::String(v)) => {
                    crate::domain::Id::parse(&format!("{at}.{k}"), v).map(|id| Some(id.to_string()))
                }
                Some(_) => Err(DomainError::new(format!("{at}.{k}"), "must be a string (an id)")),
            }
        };
        let uid = id("uid")?.ok_or_else(|| {
            DomainError::new(
                format!("{at}.uid"),
                "is required: Policy.DutyDischarged names the duty it discharges by it",
            )
        })?;
        if !uids.insert(uid.clone()) {
            return Err(DomainError::new(format!("{at}.uid"), format!("{uid:?} is given twice")));
        }
        let action = match m.get("action") {
            // A bare name is the ODRL action, as ODRL's JSON-LD context reads it.
            Some(Value::String(a)) if !a.contains(':') => {
                crate::domain::Action::parse(&format!("{at}.action"), &format!("odrl:{a}"))?
            }
            Some(Value::String(a)) => crate::domain::Action::parse(&format!("{at}.action"), a)?,
            _ => return Err(DomainError::new(format!("{at}.action"), "is required (an action)")),
        };
        let assignee = id("assignee")?;
        let target = id("target")?;
        let (constraints, constraint_text) = match m.get("constraint") {
            Some(c) => {
                let (cs, t) = parse_list(&format!("{at}.constraint"), &c.to_string())?;
                (cs, Some(t))
            }
            None => (Vec::new(), None),
        };
        let consequence = match m.get("consequence") {
            None => None,
            Some(c @ (Value::Object(_) | Value::Array(_))) => Some(c.clone()),
            Some(_) => {
                return Err(DomainError::new(
                    format!("{at}.consequence"),
                    "must be a duty or an array of duties (stored, not enforced)",
                ));
            }
        };
        let mut out = Map::new();
        out.insert("action".into(), Value::String(action.as_str().into()));
        if let Some(a) = &assignee {
            out.insert("assignee".into(), Value::String(a.clone()));
        }
        if let Some(c) = consequence {
            out.insert("consequence".into(), c);
        }
        if let Some(t) = constraint_text {
            out.insert("constraint".into(), serde_json::from_str(&t).expect("canonical JSON"));
        }
        if let Some(t) = &target {
            out.insert("target".into(), Value::String(t.clone()));
        }
        out.insert("uid".into(), Value::String(uid.clone()));
        canon.push(Value::Object(out));
        duties.push(Duty {
            uid,
            action: action.as_str().to_string(),
            assignee,
            constraints,
        });
    }
    let text = if canon.len() == 1 {
        canon[0].to_string()
    } else {
        Value::Array(canon).to_string()
    };
    Ok((duties, text.into()))
}

/// Parses the `remedy` attribute (a prohibition's): stored and listed, never enforced. Any
/// JSON object or array, re-written with sorted keys.
fn parse_remedy(field: &str, text: &str) -> Result<Arc<str>, DomainError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Ok(v.to_string().into()),
        Ok(_) => Err(DomainError::new(field, "must be a duty or an array of duties")),
        Err(e) => Err(DomainError::new(field, format!("is not JSON: {e}"))),
    }
}

/// Parses one attribute (one constraint or an array), returning them and the canonical
/// text.
fn parse_list(field: &str, text: &str) -> Result<(Vec<Constraint>, Arc<str>), DomainError> {
    {
        let json: Value =
            serde_json::from_str(text).map_err(|e| DomainError::new(field, format!("is not JSON: {e}")))?;
        let items = match json {
            Value::Array(items) => items,
            one => vec![one],
        };
        if items.is_empty() {
            return Err(DomainError::new(
                field,
                "holds no constraint (leave the attribute out for a rule without one)",
            ));
        }
        let mut nodes = 0;
        let constraints = items
            .iter()
            .enumerate()
            .map(|(i, c)| parse_constraint(&format!("{field}[{i}]"), c, 1, &mut nodes))
            .collect::<Result<Vec<_>, _>>()?;
        let canon: Vec<Value> = constraints.iter().map(Constraint::to_json).collect();
        let text = if canon.len() == 1 {
            canon[0].to_string()
        } else {
            Value::Array(canon).to_string()
        };
        Ok((constraints, text.into()))
    }
}

/// A verdict without its reasons: what a check needs outside explain mode (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    /// Whether a rule of this kind applies (fail closed, as [`Verdict::applies`]).
    #[inline]
    pub fn applies(self, prohibition: bool) -> bool {
        match self {
            Truth::True => true,
            Truth::False => false,
            Truth::Unknown => prohibition,
        }
    }

    fn and(items: impl Iterator<Item = Truth>) -> Truth {
        let mut out = Truth::True;
        for t in items {
            match t {
                Truth::False => return Truth::False,
                Truth::Unknown => out = Truth::Unknown,
                Truth::True => {}
            }
        }
        out
    }
}

impl Condition {
    /// [`Condition::evaluate`] without the reasons: the same verdict, no allocation on the
    /// paths a check takes (a missing left operand, a satisfied or failed comparison).
    pub fn truth(&self, ctx: &Context, now: &mut Now, party: &Party<'_>) -> Truth {
        match Truth::and(
            self.constraints
                .iter()
                .chain(&self.refinements)
                .map(|c| c.truth(ctx, now)),
        ) {
            Truth::True if !self.duties.iter().all(|d| d.holds(ctx, now, party)) => Truth::False,
            t => t,
        }
    }
}

impl Duty {
    /// True when the duty does not block its permission: it is inactive (its constraints
    /// are not satisfied; an unknown one keeps it active: fail closed), or fulfilled (a
    /// discharge by its assignee, or the context lists it under [`FULFILLED`]).
    fn holds(&self, ctx: &Context, now: &mut Now, party: &Party<'_>) -> bool {
        if !self.constraints.is_empty()
            && Truth::and(self.constraints.iter().map(|c| c.truth(ctx, now))) == Truth::False
        {
            return true;
        }
        let by = self.assignee.as_deref().unwrap_or(party.agent);
        if (party.discharged)(&self.uid, by) {
            return true;
        }
        match ctx.get(FULFILLED) {
            Some((Literal::List(items), _)) => items
                .iter()
                .any(|i| matches!(i, Literal::String(u) | Literal::Iri(u) if *u == self.uid)),
            Some((Literal::String(u) | Literal::Iri(u), _)) => *u == self.uid,
            _ => false,
        }
    }
}

impl Constraint {
    fn truth(&self, ctx: &Context, now: &mut Now) -> Truth {
        match self {
            Constraint::Atomic(a) => a.truth(ctx, now),
            Constraint::Logical { logic, operands } => match logic {
                Logic::And | Logic::AndSequence => Truth::and(operands.iter().map(|c| c.truth(ctx, now))),
                Logic::Or => {
                    let mut out = Truth::False;
                    for c in operands {
                        match c.truth(ctx, now) {
                            Truth::True => return Truth::True,
                            Truth::Unknown => out = Truth::Unknown,
                            Truth::False => {}
                        }
                    }
                    out
                }
                Logic::Xone => {
                    let (mut yes, mut unknown) = (0, false);
                    for c in operands {
                        match c.truth(ctx, now) {
                            Truth::True => yes += 1,
                            Truth::Unknown => unknown = true,
                            Truth::False => {}
                        }
                    }
                    if yes > 1 {
                        Truth::False
                    } else if unknown {
                        Truth::Unknown
                    } else if yes == 1 {
                        Truth::True
                    } else {
                        Truth::False
                    }
                }
            },
        }
    }
}

/// Why a left operand has no value.
enum LeftMissing {
    Absent,
    /// The context's value is in this unit (or none), not the constraint's.
    Unit(Option<String>),
}

/// The time a check is evaluated at: the server's clock, read once when first needed.
#[derive(Debug, Default)]
pub struct Now(Option<DateTime<Utc>>);

impl Now {
    /// A fixed time (tests, and a request that pins `odrl:dateTime`).
    pub fn at(t: DateTime<Utc>) -> Now {
        Now(Some(t))
    }

    fn get(&mut self) -> DateTime<Utc> {
        *self.0.get_or_insert_with(Utc::now)
    }
}

/// The outcome of evaluating a condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Satisfied,
    /// The constraint (canonical JSON) that does not hold.
    NotSatisfied {
        constraint: String,
    },
    /// The first constraint that could not be evaluated, and why.
    Unknown {
        constraint: String,
        why: String,
    },
}

impl Verdict {
    /// Whether a rule of this kind applies (fail closed: an unknown constraint keeps a
    /// permission out and lets a prohibition in).
    pub fn applies(&self, prohibition: bool) -> bool {
        match self {
            Verdict::Satisfied => true,
            Verdict::NotSatisfied { .. } => false,
            Verdict::Unknown { .. } => prohibition,
        }
    }

    /// One line for an explanation.
    pub fn describe(&self) -> String {
        match self {
            Verdict::Satisfied => "every constraint is satisfied".into(),
            Verdict::NotSatisfied { constraint } => format!("not satisfied: {constraint}"),
            Verdict::Unknown { constraint, why } => format!("cannot be evaluated ({why}): {constraint}"),
        }
    }
}

fn parse_constraint(field: &str, v: &Value, depth: usize, nodes: &mut usize) -> Result<Constraint, DomainError> {
    *nodes += 1;
    if *nodes > MAX_NODES {
        return Err(DomainError::new(
            field,
            format!("a rule's condition holds at most {MAX_NODES} constraints"),
        ));
    }
    if depth > MAX_DEPTH {
        return Err(DomainError::new(
            field,
            format!("logical constraints nest at most {MAX_DEPTH} deep"),
        ));
    }
    let Value::Object(map) = v else {
        return Err(DomainError::new(field, "must be a JSON object (a constraint)"));
    };
    let logic: Vec<(Logic, &Value)> = Logic::ALL
        .iter()
        .filter_map(|(n, l)| {
            map.get(*n)
                .or_else(|| map.get(&format!("odrl:{n}")))
                .or_else(|| map.get(&format!("{ODRL}{n}")))
                .map(|v| (*l, v))
        })
        .collect();
    match logic.as_slice() {
        [] => parse_atomic(field, map).map(Constraint::Atomic),
        [(logic, operands)] => {
            if map.len() != 1 {
                return Err(DomainError::new(
                    field,
                    "a logical constraint has exactly one member (and, or, xone or andSequence)",
                ));
            }
            let Value::Array(items) = operands else {
                return Err(DomainError::new(
                    format!("{field}.{}", logic.name()),
                    "must be an array of constraints",
                ));
            };
            if items.is_empty() {
                return Err(DomainError::new(
                    format!("{field}.{}", logic.name()),
                    "must hold at least one constraint",
                ));
            }
            let operands = items
                .iter()
                .enumerate()
                .map(|(i, c)| parse_constraint(&format!("{field}.{}[{i}]", logic.name()), c, depth + 1, nodes))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Constraint::Logical {
                logic: *logic,
                operands,
            })
        }
        _ => Err(DomainError::new(
            field,
            "a logical constraint has exactly one of and, or, xone, andSequence",
        )),
    }
}

/// The value of `key` in a JSON-LD-ish object, as `key`, `odrl:key` or the full IRI.
fn member<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key)
        .or_else(|| map.get(&format!("odrl:{key}")))
        .or_else(|| map.get(&format!("{ODRL}{key}")))
}

/// A term given as a string or `{"@id": …}`.
fn term_value(field: &str, v: &Value) -> Result<String, DomainError> {
    match v {
        Value::String(s) => term(field, s),
        Value::Object(m) if m.len() == 1 && m.get("@id").is_some_and(Value::is_string) => {
            term(field, m["@id"].as_str().unwrap_or_default())
        }
        _ => Err(DomainError::new(field, "must be an IRI or CURIE string")),
    }
}

const ATOMIC_KEYS: [&str; 5] = ["leftOperand", "operator", "rightOperand", "dataType", "unit"];

fn parse_atomic(field: &str, map: &Map<String, Value>) -> Result<Atomic, DomainError> {
    for k in map.keys() {
        let local = k.strip_prefix(ODRL).or_else(|| k.strip_prefix("odrl:")).unwrap_or(k);
        if !ATOMIC_KEYS.contains(&local) {
            let why = if local == "rightOperandReference" {
                "is not supported: a right operand must be given inline (it is never fetched)".to_string()
            } else {
                format!("is not a member of a constraint (expected {})", ATOMIC_KEYS.join(", "))
            };
            return Err(DomainError::new(format!("{field}.{k}"), why));
        }
    }
    let need = |k: &str| member(map, k).ok_or_else(|| DomainError::new(format!("{field}.{k}"), "is required"));
    let left = vocab_term(&format!("{field}.leftOperand"), need("leftOperand")?)?;
    let op_field = format!("{field}.operator");
    let op_term = vocab_term(&op_field, need("operator")?)?;
    let operator = Operator::parse(&op_term).ok_or_else(|| {
        DomainError::new(
            &op_field,
            format!(
                "{op_term:?} is not an ODRL operator (expected one of {})",
                Operator::ALL.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let data_type = member(map, "dataType")
        .map(|v| term_value(&format!("{field}.dataType"), v))
        .transpose()?;
    let unit = member(map, "unit")
        .map(|v| term_value(&format!("{field}.unit"), v))
        .transpose()?;
    let right_field = format!("{field}.rightOperand");
    let right = right_value(&right_field, need("rightOperand")?, data_type.as_deref(), true)?;
    if let Literal::List(items) = &right
        && items.len() > MAX_SET
    {
        return Err(DomainError::new(
            right_field,
            format!("a set holds at most {MAX_SET} values"),
        ));
    }
    let mut atomic = Atomic {
        left,
        operator,
        right,
        data_type,
        unit,
        text: String::new(),
    };
    atomic.text = Constraint::Atomic(atomic.clone()).to_json().to_string();
    Ok(atomic)
}

/// A term that ODRL's JSON-LD context reads against its vocabulary (`leftOperand`,
/// `operator`): a bare name (`purpose`) is the ODRL term (`odrl:purpose`).
fn vocab_term(field: &str, v: &Value) -> Result<String, DomainError> {
    match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => {
            Ok(format!("odrl:{s}"))
        }
        other => term_value(field, other),
    }
}

/// Parses a right operand (or one member of its set).
fn right_value(field: &str, v: &Value, data_type: Option<&str>, top: bool) -> Result<Literal, DomainError> {
    match v {
        Value::Array(items) if top => Ok(Literal::List(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| right_value(&format!("{field}[{i}]"), x, data_type, false))
                .collect::<Result<_, _>>()?,
        )),
        Value::Array(_) => Err(DomainError::new(field, "sets do not nest")),
        Value::String(s) => match data_type {
            Some(dt) => typed(field, s, dt),
            None => Ok(Literal::String(s.clone())),
        },
        Value::Bool(b) => Ok(Literal::Boolean(*b)),
        Value::Number(n) => Decimal::parse(&n.to_string())
            .map(Literal::Number)
            .ok_or_else(|| DomainError::new(field, format!("{n} is not a finite number"))),
        Value::Object(m) => {
            if let Some(id) = m.get("@id") {
                if m.len() != 1 {
                    return Err(DomainError::new(field, "an {\"@id\"} value has no other member"));
                }
                let Value::String(id) = id else {
                    return Err(DomainError::new(field, "@id must be a string"));
                };
                return Ok(Literal::Iri(term(field, id)?));
            }
            let Some(Value::String(lexical)) = m.get("@value") else {
                return Err(DomainError::new(
                    field,
                    "an object right operand is {\"@id\": IRI} or {\"@value\": text, \"@type\": datatype}",
                ));
            };
            if m.keys().any(|k| k != "@value" && k != "@type") {
                return Err(DomainError::new(field, "a typed value has only @value and @type"));
            }
            match m.get("@type") {
                Some(Value::String(t)) => typed(field, lexical, &term(field, t)?),
                None => match data_type {
                    Some(dt) => typed(field, lexical, dt),
                    None => Ok(Literal::String(lexical.clone())),
                },
                Some(_) => Err(DomainError::new(field, "@type must be a string")),
            }
        }
        Value::Null => Err(DomainError::new(field, "must not be null")),
    }
}

/// A lexical form of a datatype (normalised term). Known datatypes must parse; an
/// unknown one is kept and never compares.
pub fn typed(field: &str, lexical: &str, datatype: &str) -> Result<Literal, DomainError> {
    let bad = || DomainError::new(field, format!("{lexical:?} is not a valid {datatype}"));
    Ok(match datatype {
        "xsd:string" | "xsd:normalizedString" | "xsd:token" | "xsd:language" => Literal::String(lexical.into()),
        "xsd:anyURI" => Literal::Iri(term(field, lexical)?),
        "xsd:boolean" => match lexical {
            "true" | "1" => Literal::Boolean(true),
            "false" | "0" => Literal::Boolean(false),
            _ => return Err(bad()),
        },
        "xsd:decimal"
        | "xsd:integer"
        | "xsd:int"
        | "xsd:long"
        | "xsd:short"
        | "xsd:nonNegativeInteger"
        | "xsd:positiveInteger"
        | "xsd:double"
        | "xsd:float" => {
            let d = Decimal::parse(lexical).ok_or_else(bad)?;
            let integral = !matches!(datatype, "xsd:decimal" | "xsd:double" | "xsd:float");
            if integral && (!d.frac.is_empty() || lexical.contains(['.', 'e', 'E'])) {
                return Err(bad());
            }
            Literal::Number(d)
        }
        "xsd:dateTime" | "xsd:dateTimeStamp" => {
            let (at, zoned) = parse_date_time(lexical).ok_or_else(bad)?;
            if datatype == "xsd:dateTimeStamp" && !zoned {
                return Err(bad());
            }
            Literal::DateTime { at, zoned }
        }
        "xsd:date" => {
            let (start, zoned, offset) = parse_date(lexical).ok_or_else(bad)?;
            Literal::Date { start, zoned, offset }
        }
        other => Literal::Other {
            lexical: lexical.into(),
            datatype: other.into(),
        },
    })
}

/// An `xsd:dateTime`: with a zone (`Z` or `±hh:mm`), or without (then read as UTC and
/// flagged zone-less).
pub fn parse_date_time(s: &str) -> Option<(DateTime<Utc>, bool)> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some((t.with_timezone(&Utc), true));
    }
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    Some((Utc.from_utc_datetime(&t), false))
}

/// An `xsd:date`, optionally with a zone: the instant its day starts, whether it has a
/// zone, and the zone's offset in seconds.
fn parse_date(s: &str) -> Option<(DateTime<Utc>, bool, i32)> {
    let (day, zone) = if let Some(d) = s.strip_suffix('Z') {
        (d, Some(0))
    } else if s.len() > 10 && matches!(s.as_bytes()[10], b'+' | b'-') {
        let (d, z) = s.split_at(10);
        let sign = if z.starts_with('-') { -1 } else { 1 };
        let (h, m) = z[1..].split_once(':')?;
        if h.len() != 2 || m.len() != 2 {
            return None;
        }
        let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
        if h > 14 || m > 59 {
            return None;
        }
        (d, Some(sign * (h * 3600 + m * 60)))
    } else {
        (s, None)
    };
    let date = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    let midnight = date.and_hms_opt(0, 0, 0)?;
    Some(match zone {
        Some(secs) => {
            let z = FixedOffset::east_opt(secs)?;
            (
                z.from_local_datetime(&midnight).single()?.with_timezone(&Utc),
                true,
                secs,
            )
        }
        None => (Utc.from_utc_datetime(&midnight), false, 0),
    })
}

impl Constraint {
    /// The canonical JSON (sorted keys, normal terms, typed literals as `@value`/`@type`).
    pub fn to_json(&self) -> Value {
        match self {
            Constraint::Logical { logic, operands } => {
                let mut m = Map::new();
                m.insert(
                    logic.name().into(),
                    Value::Array(operands.iter().map(Constraint::to_json).collect()),
                );
                Value::Object(m)
            }
            Constraint::Atomic(a) => {
                let mut m = Map::new();
                if let Some(dt) = &a.data_type {
                    m.insert("dataType".into(), Value::String(dt.clone()));
                }
                m.insert("leftOperand".into(), Value::String(a.left.clone()));
                m.insert("operator".into(), Value::String(format!("odrl:{}", a.operator.name())));
                m.insert("rightOperand".into(), value_json(&a.right));
                if let Some(u) = &a.unit {
                    m.insert("unit".into(), Value::String(u.clone()));
                }
                Value::Object(m)
            }
        }
    }

    fn evaluate(&self, ctx: &Context, now: &mut Now) -> Verdict {
        match self {
            Constraint::Atomic(a) => a.evaluate(ctx, now),
            Constraint::Logical { logic, operands } => {
                let verdicts: Vec<Verdict> = operands.iter().map(|c| c.evaluate(ctx, now)).collect();
                let yes = verdicts.iter().filter(|v| **v == Verdict::Satisfied).count();
                let unknown = verdicts.iter().find(|v| matches!(v, Verdict::Unknown { .. }));
                let text = || self.to_json().to_string();
                match logic {
                    Logic::And | Logic::AndSequence => verdicts
                        .iter()
                        .find(|v| matches!(v, Verdict::NotSatisfied { .. }))
                        .or(unknown)
                        .cloned()
                        .unwrap_or(Verdict::Satisfied),
                    Logic::Or => {
                        if yes > 0 {
                            Verdict::Satisfied
                        } else if let Some(u) = unknown {
                            u.clone()
                        } else {
                            Verdict::NotSatisfied { constraint: text() }
                        }
                    }
                    Logic::Xone => {
                        if yes > 1 {
                            Verdict::NotSatisfied { constraint: text() }
                        } else if let Some(u) = unknown {
                            u.clone()
                        } else if yes == 1 {
                            Verdict::Satisfied
                        } else {
                            Verdict::NotSatisfied { constraint: text() }
                        }
                    }
                }
            }
        }
    }
}

fn value_json(v: &Literal) -> Value {
    let typed = |lexical: String, t: &str| {
        let mut m = Map::new();
        m.insert("@type".into(), Value::String(t.into()));
        m.insert("@value".into(), Value::String(lexical));
        Value::Object(m)
    };
    match v {
        Literal::String(s) => Value::String(s.clone()),
        Literal::Iri(i) => {
            let mut m = Map::new();
            m.insert("@id".into(), Value::String(i.clone()));
            Value::Object(m)
        }
        Literal::Boolean(b) => Value::Bool(*b),
        Literal::Number(d) => typed(d.to_string(), "xsd:decimal"),
        Literal::DateTime { at, zoned } => {
            let text = if *zoned {
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            } else {
                at.naive_utc().format("%Y-%m-%dT%H:%M:%S%.f").to_string()
            };
            typed(text, "xsd:dateTime")
        }
        Literal::Date { start, zoned, offset } => {
            let local = (*start + Duration::seconds(i64::from(*offset))).format("%Y-%m-%d");
            let text = match (*zoned, *offset) {
                (false, _) => local.to_string(),
                (true, 0) => format!("{local}Z"),
                (true, o) => format!(
                    "{local}{}{:02}:{:02}",
                    if o < 0 { '-' } else { '+' },
                    o.abs() / 3600,
                    o.abs() % 3600 / 60
                ),
            };
            typed(text, "xsd:date")
        }
        Literal::Other { lexical, datatype } => typed(lexical.clone(), datatype),
        Literal::List(items) => Value::Array(items.iter().map(value_json).collect()),
    }
}

/// Where an instant can be: exactly (zoned), or within 14 hours of its UTC reading
/// (zone-less, as XSD compares such values).
fn instant_range(at: DateTime<Utc>, zoned: bool) -> (DateTime<Utc>, DateTime<Utc>) {
    let slack = if zoned { Duration::zero() } else { Duration::hours(14) };
    (at - slack, at + slack)
}

/// One of the six comparisons between the request's instant (where it can be: `lo..=hi`)
/// and a right operand's time, three-valued: `None` when a zone-less value leaves it open.
/// Against a day (the instants from its start to the next day's start) `lt` is "before the
/// day", `gt` "after it", `eq` "within it", `lteq` "not after it", `gteq` "not before it".
fn time_test(op: Operator, (ll, lh): (DateTime<Utc>, DateTime<Utc>), right: &Literal) -> Option<bool> {
    let (s_lo, s_hi, len) = match right {
        Literal::DateTime { at, zoned } => {
            let (lo, hi) = instant_range(*at, *zoned);
            (lo, hi, Duration::zero())
        }
        Literal::Date { start, zoned, .. } => {
            let (lo, hi) = instant_range(*start, *zoned);
            (lo, hi, Duration::days(1))
        }
        _ => return None,
    };
    let day = len > Duration::zero();
    let decide = |yes: bool, no: bool| {
        if yes {
            Some(true)
        } else if no {
            Some(false)
        } else {
            None
        }
    };
    // Before the value: x < s for every s it may start at.
    let before = decide(lh < s_lo, ll >= s_hi);
    // After the value: x > s for an instant, x >= s + 1 day for a day.
    let after = if day {
        decide(ll >= s_hi + len, lh < s_lo + len)
    } else {
        decide(ll > s_hi, lh <= s_lo)
    };
    // Within the value: x = s for an instant, s <= x < s + 1 day for a day.
    let within = if day {
        decide(ll >= s_hi && lh < s_lo + len, lh < s_lo || ll >= s_hi + len)
    } else if ll == lh && s_lo == s_hi {
        Some(ll == s_lo)
    } else {
        decide(false, lh < s_lo || ll > s_hi)
    };
    match op {
        Operator::Lt => before,
        Operator::Gt => after,
        Operator::Eq => within,
        Operator::Neq => within.map(|w| !w),
        Operator::Lteq => after.map(|a| !a),
        Operator::Gteq => before.map(|b| !b),
        _ => None,
    }
}

/// Whether `left op right` holds for one of the six comparison operators (`eq`, `neq`,
/// `lt`, `lteq`, `gt`, `gteq`), typed, or why that cannot be told.
fn test(op: Operator, left: &Literal, right: &Literal) -> Result<bool, String> {
    use Literal as V;
    let ordered = !matches!(op, Operator::Eq | Operator::Neq);
    let by_order = |o: Option<Ordering>| match op {
        Operator::Eq => o == Some(Ordering::Equal),
        Operator::Neq => o != Some(Ordering::Equal),
        Operator::Lt => o == Some(Ordering::Less),
        Operator::Lteq => matches!(o, Some(Ordering::Less | Ordering::Equal)),
        Operator::Gt => o == Some(Ordering::Greater),
        _ => matches!(o, Some(Ordering::Greater | Ordering::Equal)),
    };
    match (left, right) {
        (V::Number(a), V::Number(b)) => Ok(by_order(Some(a.cmp(b)))),
        (V::String(a), V::String(b))
        | (V::Iri(a), V::Iri(b))
        | (V::String(a), V::Iri(b))
        | (V::Iri(a), V::String(b)) => {
            if ordered {
                Err("strings and IRIs compare only with eq, neq and the set operators".into())
            } else {
                Ok(by_order((a == b).then_some(Ordering::Equal)))
            }
        }
        (V::Boolean(a), V::Boolean(b)) => {
            if ordered {
                Err("booleans compare only with eq and neq".into())
            } else {
                Ok(by_order((a == b).then_some(Ordering::Equal)))
            }
        }
        (V::DateTime { at, zoned }, V::DateTime { .. } | V::Date { .. }) => {
            time_test(op, instant_range(*at, *zoned), right)
                .ok_or_else(|| "a time without a zone is indeterminate within 14 hours of the other".into())
        }
        (V::Date { .. }, _) => Err("a date is compared only as a right operand".into()),
        (V::String(s), V::DateTime { .. } | V::Date { .. }) => match parse_date_time(s) {
            Some((at, zoned)) => test(op, &V::DateTime { at, zoned }, right),
            None => Err(format!("{s:?} is not an xsd:dateTime")),
        },
        // An untyped right operand against a time: read as a dateTime, else as a date.
        (V::DateTime { .. }, V::String(r)) => {
            if let Some((at, zoned)) = parse_date_time(r) {
                test(op, left, &V::DateTime { at, zoned })
            } else if let Some((start, zoned, offset)) = parse_date(r) {
                test(op, left, &V::Date { start, zoned, offset })
            } else {
                Err(format!("{r:?} is neither an xsd:dateTime nor an xsd:date"))
            }
        }
        (V::String(s), V::Number(_)) => match Decimal::parse(s) {
            Some(d) => test(op, &V::Number(d), right),
            None => Err(format!("{s:?} is not a number")),
        },
        (V::Other { datatype, .. }, _) | (_, V::Other { datatype, .. }) => {
            Err(format!("the datatype {datatype} is not supported"))
        }
        (V::List(_), _) | (_, V::List(_)) => Err("a set compares only with the set operators".into()),
        (a, b) => Err(format!("a {} does not compare with a {}", kind(a), kind(b))),
    }
}

fn kind(v: &Literal) -> &'static str {
    match v {
        Literal::String(_) => "string",
        Literal::Iri(_) => "IRI",
        Literal::Boolean(_) => "boolean",
        Literal::Number(_) => "number",
        Literal::DateTime { .. } => "dateTime",
        Literal::Date { .. } => "date",
        Literal::Other { .. } => "literal of an unsupported datatype",
        Literal::List(_) => "list",
    }
}

/// Set membership with typed equality: `Ok(true)` when some member equals `x`; an error
/// when a comparison is indeterminate and no member is equal.
fn member_of(x: &Literal, set: &[Literal]) -> Result<bool, String> {
    let mut first_err = None;
    for m in set {
        match test(Operator::Eq, x, m) {
            Ok(true) => return Ok(true),
            Ok(false) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(false),
    }
}

fn as_set(v: &Literal) -> &[Literal] {
    match v {
        Literal::List(items) => items,
        one => std::slice::from_ref(one),
    }
}

impl Atomic {
    /// The left operand's value: the context's, or the clock for `odrl:dateTime`; `Err`
    /// when it cannot be had (missing, or in another unit), with why.
    fn left_value<'c>(&self, ctx: &'c Context, now: &mut Now) -> Result<std::borrow::Cow<'c, Literal>, LeftMissing> {
        match ctx.get(&self.left) {
            Some((v, unit)) => {
                if self.unit.is_some() && unit.as_ref() != self.unit.as_ref() {
                    Err(LeftMissing::Unit(unit.clone()))
                } else {
                    Ok(std::borrow::Cow::Borrowed(v))
                }
            }
            None if self.left == "odrl:dateTime" => Ok(std::borrow::Cow::Owned(Literal::DateTime {
                at: now.get(),
                zoned: true,
            })),
            None => Err(LeftMissing::Absent),
        }
    }

    fn truth(&self, ctx: &Context, now: &mut Now) -> Truth {
        match self.left_value(ctx, now) {
            Err(_) => Truth::Unknown,
            Ok(left) => match self.holds(&left) {
                Ok(true) => Truth::True,
                Ok(false) => Truth::False,
                Err(_) => Truth::Unknown,
            },
        }
    }

    fn evaluate(&self, ctx: &Context, now: &mut Now) -> Verdict {
        let unknown = |why: String| Verdict::Unknown {
            constraint: self.text.clone(),
            why,
        };
        let left = match self.left_value(ctx, now) {
            Ok(left) => left,
            Err(LeftMissing::Unit(unit)) => {
                return unknown(format!(
                    "the context gives {} in {}, the constraint needs {}",
                    self.left,
                    unit.as_deref().unwrap_or("no unit"),
                    self.unit.as_deref().unwrap_or("no unit")
                ));
            }
            Err(LeftMissing::Absent) => return unknown(format!("the request's context has no {}", self.left)),
        };
        match self.holds(&left) {
            Ok(true) => Verdict::Satisfied,
            Ok(false) => Verdict::NotSatisfied {
                constraint: self.text.clone(),
            },
            Err(why) => unknown(why),
        }
    }

    /// Whether the constraint holds for `left`, or why that cannot be told.
    fn holds(&self, left: &Literal) -> Result<bool, String> {
        use Operator as O;
        let right = &self.right;
        match self.operator {
            O::Eq | O::Neq | O::Lt | O::Lteq | O::Gt | O::Gteq => test(self.operator, left, right),
            O::IsAnyOf => {
                for x in as_set(left) {
                    if member_of(x, as_set(right))? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            O::IsNoneOf => {
                for x in as_set(left) {
                    if member_of(x, as_set(right))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            O::IsAllOf | O::HasPart => {
                for x in as_set(right) {
                    if !member_of(x, as_set(left))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            O::IsPartOf => {
                for x in as_set(left) {
                    if !member_of(x, as_set(right))? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            O::IsA => {
                let Literal::Iri(class) = right else {
                    return Err("isA needs an IRI as its right operand".into());
                };
                for x in as_set(left) {
                    match x {
                        Literal::Iri(i) | Literal::String(i) if i == class => return Ok(true),
                        Literal::Iri(_) | Literal::String(_) => {}
                        other => return Err(format!("isA needs IRIs, not a {}", kind(other))),
                    }
                }
                Ok(false)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(json: &str) -> Condition {
        Condition::parse("constraint", json).unwrap_or_else(|e| panic!("{json}: {e}"))
    }

    fn ctx(entries: &[(&str, Literal)]) -> Context {
        let mut c = Context::default();
        for (k, v) in entries {
            c.insert(k, v.clone(), None).unwrap();
        }
        c
    }

    fn s(x: &str) -> Literal {
        Literal::String(x.into())
    }

    fn n(x: &str) -> Literal {
        Literal::Number(Decimal::parse(x).unwrap())
    }

    fn at(x: &str) -> Literal {
        let (at, zoned) = parse_date_time(x).unwrap();
        Literal::DateTime { at, zoned }
    }

    /// The verdict, after checking that the allocation-free [`Condition::truth`] agrees.
    fn eval(c: &str, ctx: &Context) -> Verdict {
        let at = parse_date_time("2026-12-01T12:00:00Z").unwrap().0;
        let c = cond(c);
        let verdict = c.evaluate(ctx, &mut Now::at(at), &Party::NOBODY);
        let want = match verdict {
            Verdict::Satisfied => Truth::True,
            Verdict::NotSatisfied { .. } => Truth::False,
            Verdict::Unknown { .. } => Truth::Unknown,
        };
        assert_eq!(c.truth(ctx, &mut Now::at(at), &Party::NOBODY), want, "{}", c.text);
        verdict
    }

    fn sat(c: &str, ctx: &Context) -> bool {
        match eval(c, ctx) {
            Verdict::Satisfied => true,
            Verdict::NotSatisfied { .. } => false,
            u => panic!("{c}: {u:?}"),
        }
    }

    fn unknown(c: &str, ctx: &Context) -> bool {
        matches!(eval(c, ctx), Verdict::Unknown { .. })
    }

    #[test]
    fn decimals_compare_exactly() {
        let d = |x: &str| Decimal::parse(x).unwrap();
        assert_eq!(d("4"), d("4.0"));
        assert_eq!(d("004.000"), d("4"));
        assert_eq!(d("-0"), d("0"));
        assert_eq!(d("1e3"), d("1000"));
        assert_eq!(d("1.5E-2"), d("0.015"));
        assert!(d("-2") < d("-1.5"));
        assert!(d("9.99") < d("10"));
        assert!(d("0.1") < d("0.10000000000000000001"));
        assert!(d("12345678901234567890.5") > d("12345678901234567890.49"));
        for bad in ["", "-", ".", "1.2.3", "1e", "abc", "1,5", "1e999"] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(Decimal::from_f64(0.1).unwrap(), d("0.1"));
        assert_eq!(d("-1.50").to_string(), "-1.5");
    }

    #[test]
    fn canonical_text_is_one_per_meaning() {
        let a = cond(r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#);
        let b = cond(
            r#"[{"rightOperand":"research","operator":"http://www.w3.org/ns/odrl/2/eq","odrl:leftOperand":{"@id":"http://www.w3.org/ns/odrl/2/purpose"}}]"#,
        );
        assert_eq!(a, b);
        assert_eq!(
            &*a.text,
            r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#
        );
        let typed = cond(
            r#"{"leftOperand":"odrl:payAmount","operator":"odrl:lteq","rightOperand":{"@value":"10.50","@type":"xsd:decimal"},"unit":"http://dbpedia.org/resource/Euro"}"#,
        );
        let plain = cond(
            r#"{"leftOperand":"odrl:payAmount","operator":"odrl:lteq","rightOperand":10.5,"unit":"http://dbpedia.org/resource/Euro"}"#,
        );
        assert_eq!(typed, plain);
        // Canonical text parses to itself.
        assert_eq!(cond(&typed.text), typed);
        // Bare names are ODRL terms, as ODRL's JSON-LD context reads them.
        assert_eq!(
            cond(r#"{"leftOperand":"purpose","operator":"eq","rightOperand":"research"}"#),
            a
        );
        // A zoned date keeps its day and zone.
        let d = cond(
            r#"{"leftOperand":"dateTime","operator":"lt","rightOperand":{"@value":"2026-12-01+01:00","@type":"xsd:date"}}"#,
        );
        assert!(d.text.contains(r#""@value":"2026-12-01+01:00""#), "{}", d.text);
        assert_eq!(cond(&d.text), d);
        // `neg` is the erratum spelling of `neq`.
        assert_eq!(
            cond(r#"{"leftOperand":"odrl:purpose","operator":"odrl:neg","rightOperand":"x"}"#),
            cond(r#"{"leftOperand":"odrl:purpose","operator":"odrl:neq","rightOperand":"x"}"#)
        );
    }

    #[test]
    fn malformed_constraints_are_refused_with_the_field() {
        for (json, field) in [
            ("not json", "constraint"),
            ("[]", "constraint"),
            ("42", "constraint[0]"),
            (
                r#"{"operator":"odrl:eq","rightOperand":1}"#,
                "constraint[0].leftOperand",
            ),
            (
                r#"{"leftOperand":"odrl:count","operator":"odrl:near","rightOperand":1}"#,
                "constraint[0].operator",
            ),
            (
                r#"{"leftOperand":"odrl:count","operator":"near","rightOperand":1}"#,
                "constraint[0].operator",
            ),
            (
                r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperandReference":"http://x/y"}"#,
                "constraint[0].rightOperandReference",
            ),
            (
                r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":1,"status":3}"#,
                "constraint[0].status",
            ),
            (
                r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":null}"#,
                "constraint[0].rightOperand",
            ),
            (
                r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":[[1]]}"#,
                "constraint[0].rightOperand[0]",
            ),
            (
                r#"{"leftOperand":"odrl:dateTime","operator":"odrl:lt","rightOperand":{"@value":"yesterday","@type":"xsd:dateTime"}}"#,
                "constraint[0].rightOperand",
            ),
            (
                r#"{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":"1.5","dataType":"xsd:integer"}"#,
                "constraint[0].rightOperand",
            ),
            (r#"{"and":[]}"#, "constraint[0].and"),
            (r#"{"and":{}}"#, "constraint[0].and"),
            (r#"{"and":[],"or":[]}"#, "constraint[0]"),
            (r#"{"left Operand":"x"}"#, "constraint[0].left Operand"),
            (
                r#"{"leftOperand":"no such","operator":"odrl:eq","rightOperand":"x"}"#,
                "constraint[0].leftOperand",
            ),
        ] {
            let e = Condition::parse("constraint", json).expect_err(json);
            assert_eq!(e.field, field, "{json}: {e}");
        }
        // Too deep, and too many.
        let mut deep = r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":1}"#.to_string();
        for _ in 0..MAX_DEPTH {
            deep = format!(r#"{{"and":[{deep}]}}"#);
        }
        assert!(Condition::parse("constraint", &deep).is_err());
        let wide = format!(
            "[{}]",
            vec![r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":1}"#; MAX_NODES + 1].join(",")
        );
        assert!(Condition::parse("constraint", &wide).is_err());
    }

    #[test]
    fn comparisons_are_typed() {
        let c = ctx(&[
            ("odrl:count", n("5")),
            ("odrl:purpose", s("research")),
            ("ex:flag", Literal::Boolean(true)),
        ]);
        let num =
            |op: &str, r: &str| format!(r#"{{"leftOperand":"odrl:count","operator":"odrl:{op}","rightOperand":{r}}}"#);
        assert!(sat(&num("eq", "5.0"), &c));
        assert!(!sat(&num("neq", "5"), &c));
        assert!(sat(&num("lt", "6"), &c));
        assert!(!sat(&num("lt", "5"), &c));
        assert!(sat(&num("lteq", "5"), &c));
        assert!(sat(&num("gt", "4.99"), &c));
        assert!(sat(&num("gteq", "5"), &c));
        assert!(!sat(&num("gt", "5"), &c));
        // A number compares with a numeric string right operand given a dataType.
        assert!(sat(
            r#"{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":"10","dataType":"xsd:integer"}"#,
            &c
        ));
        // Strings: eq and neq only.
        let st =
            |op: &str| format!(r#"{{"leftOperand":"odrl:purpose","operator":"odrl:{op}","rightOperand":"research"}}"#);
        assert!(sat(&st("eq"), &c));
        assert!(!sat(&st("neq"), &c));
        assert!(unknown(&st("lt"), &c));
        // A string does not compare with a number: unknown, never false or true.
        assert!(unknown(
            r#"{"leftOperand":"odrl:purpose","operator":"odrl:neq","rightOperand":3}"#,
            &c
        ));
        assert!(sat(
            r#"{"leftOperand":"ex:flag","operator":"odrl:eq","rightOperand":true}"#,
            &c
        ));
        // Missing context: unknown.
        assert!(unknown(
            r#"{"leftOperand":"odrl:spatial","operator":"odrl:eq","rightOperand":{"@id":"http://x/eu"}}"#,
            &c
        ));
        // Unknown datatype: unknown.
        assert!(unknown(
            r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":{"@value":"P1D","@type":"xsd:duration"}}"#,
            &c
        ));
    }

    #[test]
    fn date_time_uses_the_clock_or_the_pinned_time_and_honours_zones() {
        let none = Context::default();
        let before = |t: &str| {
            format!(
                r#"{{"leftOperand":"odrl:dateTime","operator":"odrl:lt","rightOperand":{{"@value":"{t}","@type":"xsd:dateTime"}}}}"#
            )
        };
        // The clock (pinned by the test's Now) is 2026-12-01T12:00:00Z.
        assert!(sat(&before("2026-12-01T12:00:01Z"), &none));
        assert!(!sat(&before("2026-12-01T12:00:00Z"), &none));
        assert!(sat(&before("2026-12-01T13:00:01+01:00"), &none));
        // A zone-less right operand within 14 hours: indeterminate.
        assert!(unknown(&before("2026-12-01T20:00:00"), &none));
        assert!(sat(&before("2026-12-02T03:00:00"), &none));
        // The request pins a time.
        let pinned = ctx(&[("odrl:dateTime", at("2030-01-01T00:00:00Z"))]);
        assert!(!sat(&before("2026-12-01T12:00:01Z"), &pinned));
        // Dates are whole days.
        let day = |op: &str, d: &str| {
            format!(
                r#"{{"leftOperand":"odrl:dateTime","operator":"odrl:{op}","rightOperand":{{"@value":"{d}","@type":"xsd:date"}}}}"#
            )
        };
        assert!(sat(&day("eq", "2026-12-01Z"), &none));
        assert!(sat(&day("lteq", "2026-12-01Z"), &none));
        assert!(!sat(&day("lt", "2026-12-01Z"), &none));
        assert!(sat(&day("lt", "2026-12-02Z"), &none));
        assert!(sat(&day("gt", "2026-11-30Z"), &none));
        assert!(!sat(&day("gt", "2026-12-01Z"), &none));
        assert!(sat(&day("neq", "2026-12-02+00:00"), &none));
        // A zone-less date around the instant: indeterminate, unless every reading of its
        // zone gives the same answer.
        assert!(unknown(&day("eq", "2026-12-01"), &none));
        assert!(unknown(&day("lt", "2026-12-02"), &none));
        assert!(unknown(&day("lteq", "2026-12-01"), &none), "the day may end at 10:00Z");
        let morning = ctx(&[("odrl:dateTime", at("2026-12-01T09:00:00Z"))]);
        assert!(
            sat(&day("lteq", "2026-12-01"), &morning),
            "before the day's end in every zone"
        );
        assert!(!sat(&day("gt", "2026-12-01"), &morning));
        let evening = ctx(&[("odrl:dateTime", at("2026-12-01T15:00:00Z"))]);
        assert!(
            sat(&day("gteq", "2026-12-01"), &evening),
            "after the day's start in every zone"
        );
        assert!(!sat(&day("lt", "2026-12-01"), &evening));
        assert!(sat(&day("lt", "2026-12-05"), &none));
        assert!(!sat(&day("gt", "2026-12-05"), &none));
        let late = ctx(&[("odrl:dateTime", at("2026-12-01T23:00:00Z"))]);
        assert!(sat(&day("lteq", "2026-12-01Z"), &late));
        assert!(!sat(&day("lteq", "2026-11-30Z"), &late));
    }

    #[test]
    fn set_operators_are_pinned() {
        let c = ctx(&[
            ("odrl:purpose", Literal::List(vec![s("research"), s("teaching")])),
            ("odrl:language", s("en")),
        ]);
        let op = |left: &str, op: &str, right: &str| {
            format!(r#"{{"leftOperand":"{left}","operator":"odrl:{op}","rightOperand":{right}}}"#)
        };
        assert!(sat(&op("odrl:purpose", "isAnyOf", r#"["research","marketing"]"#), &c));
        assert!(!sat(&op("odrl:purpose", "isAnyOf", r#"["marketing"]"#), &c));
        assert!(sat(&op("odrl:purpose", "isNoneOf", r#"["marketing"]"#), &c));
        assert!(!sat(&op("odrl:purpose", "isNoneOf", r#"["teaching"]"#), &c));
        assert!(sat(&op("odrl:purpose", "isAllOf", r#"["research","teaching"]"#), &c));
        assert!(sat(&op("odrl:purpose", "isAllOf", r#"["research"]"#), &c));
        assert!(!sat(&op("odrl:purpose", "isAllOf", r#"["research","marketing"]"#), &c));
        assert!(sat(&op("odrl:purpose", "hasPart", r#""teaching""#), &c));
        assert!(!sat(&op("odrl:purpose", "isPartOf", r#"["research"]"#), &c));
        assert!(sat(
            &op("odrl:purpose", "isPartOf", r#"["research","teaching","x"]"#),
            &c
        ));
        assert!(sat(&op("odrl:language", "isAnyOf", r#"["en","fr"]"#), &c));
        assert!(sat(&op("odrl:language", "isPartOf", r#"["en","fr"]"#), &c));
        assert!(!sat(&op("odrl:language", "isNoneOf", r#"["en","fr"]"#), &c));
        // A list does not compare with eq.
        assert!(unknown(&op("odrl:purpose", "eq", r#""research""#), &c));
        let typed = ctx(&[(
            "ex:class",
            Literal::List(vec![Literal::Iri("ex:Doc".into()), Literal::Iri("ex:Report".into())]),
        )]);
        assert!(sat(&op("ex:class", "isA", r#"{"@id":"ex:Report"}"#), &typed));
        assert!(!sat(&op("ex:class", "isA", r#"{"@id":"ex:Image"}"#), &typed));
        assert!(unknown(&op("ex:class", "isA", r#""ex:Report""#), &typed));
    }

    #[test]
    fn logical_constraints_are_three_valued() {
        let c = ctx(&[("odrl:count", n("5"))]);
        let t = r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":5}"#;
        let f = r#"{"leftOperand":"odrl:count","operator":"odrl:eq","rightOperand":6}"#;
        let u = r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"x"}"#;
        let l = |op: &str, xs: &[&str]| format!(r#"{{"{op}":[{}]}}"#, xs.join(","));
        assert!(sat(&l("and", &[t, t]), &c));
        assert!(!sat(&l("and", &[t, f, u]), &c));
        assert!(unknown(&l("and", &[t, u]), &c));
        assert!(sat(&l("or", &[f, u, t]), &c));
        assert!(unknown(&l("or", &[f, u]), &c));
        assert!(!sat(&l("or", &[f, f]), &c));
        assert!(sat(&l("xone", &[t, f]), &c));
        assert!(!sat(&l("xone", &[t, t, u]), &c));
        assert!(unknown(&l("xone", &[t, u]), &c));
        assert!(!sat(&l("xone", &[f, f]), &c));
        assert!(sat(&l("andSequence", &[t, t]), &c));
        // Several constraints on a rule: all must hold.
        assert!(!sat(&format!("[{t},{f}]"), &c));
        assert!(unknown(&format!("[{t},{u}]"), &c));
        assert!(
            !sat(&format!("[{u},{f}]"), &c),
            "a false constraint decides before an unknown one"
        );
        assert!(sat(&l("and", &[&l("or", &[f, t]), &l("xone", &[t, f])]), &c));
    }

    #[test]
    fn refinements_are_part_of_the_condition() {
        let c = r#"{"leftOperand":"odrl:count","operator":"odrl:lt","rightOperand":5}"#;
        let r = r#"{"leftOperand":"odrl:resolution","operator":"odrl:lteq","rightOperand":1200}"#;
        let both = Condition::of(Attributes {
            constraint: Some(("constraint", c)),
            refinement: Some(("refinement", r)),
            ..Attributes::default()
        })
        .unwrap()
        .unwrap();
        assert!(both.text.starts_with(r#"{"constraint":{"#) && both.text.contains(r#""refinement":{"#));
        assert_eq!(Condition::parse_stored("condition", &both.text).unwrap(), both);
        let only = Condition::of(Attributes {
            refinement: Some(("refinement", r)),
            ..Attributes::default()
        })
        .unwrap()
        .unwrap();
        assert!(only.constraints.is_empty() && only.text.starts_with(r#"{"refinement":"#));
        assert_eq!(Condition::parse_stored("condition", &only.text).unwrap(), only);
        let plain = Condition::of(Attributes {
            constraint: Some(("constraint", c)),
            ..Attributes::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(plain, cond(c));
        assert_eq!(Condition::parse_stored("condition", &plain.text).unwrap(), plain);
        assert!(
            Condition::of(Attributes {
                ..Attributes::default()
            })
            .unwrap()
            .is_none()
        );
        assert!(
            Condition::of(Attributes {
                refinement: Some(("refinement", "[]")),
                ..Attributes::default()
            })
            .is_err()
        );
        let at = parse_date_time("2026-12-01T12:00:00Z").unwrap().0;
        let fine = ctx(&[("odrl:count", n("1")), ("odrl:resolution", n("800"))]);
        assert_eq!(
            both.evaluate(&fine, &mut Now::at(at), &Party::NOBODY),
            Verdict::Satisfied
        );
        let coarse = ctx(&[("odrl:count", n("1")), ("odrl:resolution", n("4000"))]);
        match both.evaluate(&coarse, &mut Now::at(at), &Party::NOBODY) {
            Verdict::NotSatisfied { constraint } => assert!(constraint.starts_with("refinement "), "{constraint}"),
            v => panic!("{v:?}"),
        }
        assert_eq!(both.truth(&coarse, &mut Now::at(at), &Party::NOBODY), Truth::False);
        assert_eq!(
            both.truth(&ctx(&[("odrl:count", n("1"))]), &mut Now::at(at), &Party::NOBODY),
            Truth::Unknown
        );
    }

    #[test]
    fn duties_are_preconditions_fulfilled_by_a_discharge_or_the_context() {
        let duty = |json: &str| {
            Condition::of(Attributes {
                duty: Some(("duty", json)),
                ..Attributes::default()
            })
            .unwrap()
            .unwrap()
        };
        let pay = duty(r#"{"uid":"pay-1","action":"odrl:compensate"}"#);
        assert_eq!(
            &*pay.text,
            r#"{"duty":{"action":"http://www.w3.org/ns/odrl/2/compensate","uid":"pay-1"}}"#
        );
        assert_eq!(Condition::parse_stored("condition", &pay.text).unwrap(), pay);
        let at = parse_date_time("2026-12-01T12:00:00Z").unwrap().0;
        let none = Context::default();
        let ann_paid = |uid: &str, by: &str| uid == "pay-1" && by == "ann";
        let ann = Party {
            agent: "ann",
            discharged: &ann_paid,
        };
        let bob = Party {
            agent: "bob",
            discharged: &ann_paid,
        };
        assert_eq!(pay.truth(&none, &mut Now::at(at), &ann), Truth::True);
        assert_eq!(
            pay.truth(&none, &mut Now::at(at), &bob),
            Truth::False,
            "ann's payment is not bob's"
        );
        match pay.evaluate(&none, &mut Now::at(at), &bob) {
            Verdict::NotSatisfied { constraint } => assert!(constraint.contains("pay-1"), "{constraint}"),
            v => panic!("{v:?}"),
        }
        // The caller vouches for it in the context.
        let vouched = ctx(&[(FULFILLED, Literal::List(vec![s("pay-1")]))]);
        assert_eq!(pay.truth(&vouched, &mut Now::at(at), &bob), Truth::True);
        // A duty for a named assignee is discharged by that assignee.
        let by_ann = duty(r#"{"uid":"pay-1","action":"odrl:compensate","assignee":"ann"}"#);
        assert_eq!(by_ann.truth(&none, &mut Now::at(at), &bob), Truth::True);
        // An inactive duty (its constraint fails) does not block; an unknown one does.
        let weekend = duty(
            r#"{"uid":"w","action":"odrl:compensate","constraint":{"leftOperand":"ex:weekend","operator":"odrl:eq","rightOperand":true}}"#,
        );
        let weekday = ctx(&[("ex:weekend", Literal::Boolean(false))]);
        assert_eq!(weekend.truth(&weekday, &mut Now::at(at), &bob), Truth::True);
        assert_eq!(weekend.truth(&none, &mut Now::at(at), &bob), Truth::False);
        // Constraints still come first: a duty cannot make an unknown constraint true.
        let both = Condition::of(Attributes {
            constraint: Some((
                "constraint",
                r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"x"}"#,
            )),
            duty: Some(("duty", r#"{"uid":"pay-1","action":"odrl:compensate"}"#)),
            ..Attributes::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(both.truth(&none, &mut Now::at(at), &ann), Truth::Unknown);
        for bad in [
            r#"{"action":"odrl:compensate"}"#,
            r#"{"uid":"x"}"#,
            r#"[{"uid":"x","action":"odrl:compensate"},{"uid":"x","action":"odrl:attribute"}]"#,
            r#"{"uid":"x","action":"odrl:compensate","when":"now"}"#,
            r#"{"uid":"*","action":"odrl:compensate"}"#,
            r#"{"uid":"x","action":"odrl:compensate","consequence":"pay more"}"#,
            "[]",
        ] {
            assert!(
                Condition::of(Attributes {
                    duty: Some(("duty", bad)),
                    ..Attributes::default()
                })
                .is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn verdicts_fail_closed_by_kind() {
        let u = Verdict::Unknown {
            constraint: "c".into(),
            why: "w".into(),
        };
        assert!(!u.applies(false), "an unknown constraint keeps a permission out");
        assert!(u.applies(true), "an unknown constraint lets a prohibition in");
        let f = Verdict::NotSatisfied { constraint: "c".into() };
        assert!(!f.applies(false) && !f.applies(true));
        assert!(Verdict::Satisfied.applies(false) && Verdict::Satisfied.applies(true));
    }

    #[test]
    fn units_must_match() {
        let c = r#"{"leftOperand":"odrl:payAmount","operator":"odrl:lteq","rightOperand":10,"unit":"http://dbpedia.org/resource/Euro"}"#;
        let mut with = Context::default();
        with.insert("odrl:payAmount", n("9.99"), Some("http://dbpedia.org/resource/Euro"))
            .unwrap();
        assert!(sat(c, &with));
        let mut other = Context::default();
        other
            .insert("odrl:payAmount", n("9.99"), Some("http://dbpedia.org/resource/Dollar"))
            .unwrap();
        assert!(unknown(c, &other));
        assert!(unknown(c, &ctx(&[("odrl:payAmount", n("9.99"))])));
    }

    #[test]
    fn context_keys_are_normalised() {
        let mut c = Context::default();
        c.insert("http://www.w3.org/ns/odrl/2/purpose", s("research"), None)
            .unwrap();
        assert!(sat(
            r#"{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}"#,
            &c
        ));
        assert!(c.insert("purpose", s("x"), None).is_err());
        assert!(
            c.insert("odrl:purpose", Literal::List(vec![s("x"); MAX_SET + 1]), None)
                .is_err()
        );
    }
}
