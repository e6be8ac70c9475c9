//! The canonical JSON of what a rule carries beside its parts, read from the graph:
//! constraints (and refinements), and duties and remedies. Sets are ordered by content, so
//! the same document always gives the same JSON (part of a rule's identity).

use super::graph::{Reader, action_of, bad, name, party_id, subject};
use crate::domain::DomainError;
use oxrdf::vocab::xsd;
use oxrdf::{NamedOrBlankNodeRef, TermRef};
use serde_json::{Map, Value, json};

pub(super) fn literal_json(l: oxrdf::LiteralRef<'_>) -> Value {
    let dt = l.datatype();
    if dt == xsd::STRING || l.language().is_some() {
        Value::String(l.value().to_string())
    } else {
        json!({"@value": l.value(), "@type": dt.as_str()})
    }
}

pub(super) fn operand_json(t: TermRef<'_>) -> Result<Value, DomainError> {
    match t {
        TermRef::NamedNode(n) => Ok(json!({"@id": n.as_str()})),
        TermRef::Literal(l) => Ok(literal_json(l)),
        other => Err(bad(
            "rightOperand",
            format!("{} is neither an IRI nor a literal", name(other)),
        )),
    }
}

pub(super) fn iri_or_text(t: TermRef<'_>, field: &str) -> Result<String, DomainError> {
    match t {
        TermRef::NamedNode(n) => Ok(n.as_str().to_string()),
        TermRef::Literal(l) => Ok(l.value().to_string()),
        other => Err(bad(field, format!("{} is not an IRI", name(other)))),
    }
}

/// A constraint node as the JSON the constraint parser reads (the parser checks it).
pub(super) fn constraint_json<'g>(r: &Reader<'g>, t: TermRef<'g>, depth: usize) -> Result<Value, DomainError> {
    let Some(s) = subject(t) else {
        return Err(bad("constraint", format!("{} is not a constraint node", name(t))));
    };
    if depth > crate::domain::constraint::MAX_DEPTH {
        return Err(bad("constraint", "logical constraints nest too deep"));
    }
    for op in ["and", "or", "xone", "andSequence"] {
        let items = r.objects(s, op);
        if !items.is_empty() {
            let (items, ordered) = r.spread(items);
            let mut parts = items
                .into_iter()
                .map(|c| constraint_json(r, c, depth + 1))
                .collect::<Result<Vec<_>, _>>()?;
            if !ordered {
                by_content(&mut parts);
            }
            return Ok(json!({ op: parts }));
        }
    }
    let mut m = Map::new();
    let one = |p: &str| -> Result<Option<String>, DomainError> {
        match r.objects(s, p).as_slice() {
            [] => Ok(None),
            [v] => iri_or_text(*v, p).map(Some),
            _ => Err(bad(p, format!("{} has more than one {p}", name(t)))),
        }
    };
    for p in [
        "leftOperand",
        "operator",
        "dataType",
        "unit",
        "rightOperandReference",
        "status",
    ] {
        if let Some(v) = one(p)? {
            m.insert(p.into(), Value::String(v));
        }
    }
    // The published context's lower-case erratum.
    if let Some(v) = one("datatype")? {
        m.insert("dataType".into(), Value::String(v));
    }
    let (right, ordered) = r.spread(r.objects(s, "rightOperand"));
    match right.len() {
        0 => {}
        1 if !ordered => {
            m.insert("rightOperand".into(), operand_json(right[0])?);
        }
        _ => {
            let mut values = right.into_iter().map(operand_json).collect::<Result<Vec<_>, _>>()?;
            if !ordered {
                by_content(&mut values);
            }
            m.insert("rightOperand".into(), Value::Array(values));
        }
    }
    Ok(Value::Object(m))
}

/// Orders the members of a set by their JSON text, so that the same document always gives
/// the same canonical condition (the rule's identity).
pub(super) fn by_content(items: &mut [Value]) {
    items.sort_by_cached_key(|v| v.to_string());
}

/// Constraint nodes as one constraint or an array of them (all must hold); None for none.
pub(super) fn constraints_json<'g>(r: &Reader<'g>, items: Vec<TermRef<'g>>) -> Result<Option<Value>, DomainError> {
    if items.is_empty() {
        return Ok(None);
    }
    let mut parts = items
        .into_iter()
        .map(|c| constraint_json(r, c, 1))
        .collect::<Result<Vec<_>, _>>()?;
    by_content(&mut parts);
    let v = if parts.len() == 1 {
        parts.remove(0)
    } else {
        Value::Array(parts)
    };
    Ok(Some(v))
}

/// A duty (or remedy) node as `{"uid", "action", "assignee"?, "target"?, "constraint"?}`.
pub(super) fn duty_json<'g>(
    r: &Reader<'g>,
    t: TermRef<'g>,
    what: &str,
    policy: &str,
    notes: &mut Vec<String>,
) -> Result<Value, DomainError> {
    let TermRef::NamedNode(uid) = t else {
        return Err(bad(
            what,
            format!(
                "{} is a blank node: a {what} needs an IRI, which Policy.DutyDischarged names when it is fulfilled",
                name(t)
            ),
        ));
    };
    let s: NamedOrBlankNodeRef<'_> = uid.into();
    let actions = r.objects(s, "action");
    let [action] = actions.as_slice() else {
        return Err(bad(what, format!("{} needs exactly one action", uid.as_str())));
    };
    let (action, refinements) = action_of(r, *action, &format!("{what}.action"))?;
    if !refinements.is_empty() {
        notes.push(format!(
            "policy {policy}: the refinement of {what} {}'s action is not kept; fulfilment is recorded by \
             Policy.DutyDischarged",
            uid.as_str()
        ));
    }
    if !r.objects(s, "consequence").is_empty() {
        notes.push(format!(
            "policy {policy}: the consequences of {what} {} are not imported (never enforced)",
            uid.as_str()
        ));
    }
    let mut m = Map::new();
    m.insert("uid".into(), Value::String(uid.as_str().into()));
    m.insert("action".into(), Value::String(action.as_str().into()));
    for (p, key) in [("assignee", "assignee"), ("target", "target")] {
        match r.objects(s, p).as_slice() {
            [] => {}
            [v] => {
                m.insert(key.into(), Value::String(party_id(r, *v, &format!("{what}.{p}"))?));
            }
            _ => return Err(bad(what, format!("{} has more than one {p}", uid.as_str()))),
        }
    }
    if let Some(c) = constraints_json(r, r.objects(s, "constraint"))? {
        m.insert("constraint".into(), c);
    }
    Ok(Value::Object(m))
}
