//! Typed values: literals (right operands and context values), exact decimals, XSD times
//! with and without zones, the request's [`Context`], terms in their normal form, and the
//! typed comparisons the operators make.

use super::{MAX_SET, ODRL, Operator, XSD};
use crate::domain::DomainError;
use chrono::{DateTime, Duration, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;

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

    pub(super) fn get(&self, key: &str) -> Option<&(Literal, Option<String>)> {
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
pub(super) fn parse_date(s: &str) -> Option<(DateTime<Utc>, bool, i32)> {
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

pub(super) fn value_json(v: &Literal) -> Value {
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
pub(super) fn instant_range(at: DateTime<Utc>, zoned: bool) -> (DateTime<Utc>, DateTime<Utc>) {
    let slack = if zoned { Duration::zero() } else { Duration::hours(14) };
    (at - slack, at + slack)
}

/// One of the six comparisons between the request's instant (where it can be: `lo..=hi`)
/// and a right operand's time, three-valued: `None` when a zone-less value leaves it open.
/// Against a day (the instants from its start to the next day's start) `lt` is "before the
/// day", `gt` "after it", `eq` "within it", `lteq` "not after it", `gteq` "not before it".
pub(super) fn time_test(op: Operator, (ll, lh): (DateTime<Utc>, DateTime<Utc>), right: &Literal) -> Option<bool> {
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
pub(super) fn test(op: Operator, left: &Literal, right: &Literal) -> Result<bool, String> {
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

pub(super) fn kind(v: &Literal) -> &'static str {
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
pub(super) fn member_of(x: &Literal, set: &[Literal]) -> Result<bool, String> {
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

pub(super) fn as_set(v: &Literal) -> &[Literal] {
    match v {
        Literal::List(items) => items,
        one => std::slice::from_ref(one),
    }
}
