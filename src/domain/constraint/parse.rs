//! Parsing constraints from their JSON form into the constraint tree, and writing the
//! tree back in canonical JSON (sorted keys, CURIEs, typed literals): the canonical text
//! is part of a rule's identity. Bounded: nesting past [`MAX_DEPTH`], more than
//! [`MAX_NODES`] constraints or a set past [`MAX_SET`] values is refused.

use super::literal::{term, typed, value_json};
use super::{Atomic, Constraint, Decimal, Literal, Logic, MAX_DEPTH, MAX_NODES, MAX_SET, ODRL, Operator};
use crate::domain::DomainError;
use serde_json::{Map, Value};
use std::sync::Arc;

/// Parses one attribute (one constraint or an array), returning them and the canonical
/// text.
pub(super) fn parse_list(field: &str, text: &str) -> Result<(Vec<Constraint>, Arc<str>), DomainError> {
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

/// One constraint (atomic or logical) at `depth`, counting every node into `nodes`.
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
}
