//! One policy's rules → an ODRL 2.2 JSON-LD document that imports back to the same facts
//! (docs/CONTRACT.md §9, "ODRL documents out").
//!
//! Each Endocarp rule is one atomic ODRL rule. Sets (a right operand's values, a logical
//! constraint's operands) are written as `@list`s, so that their order, which is part of
//! the canonical condition, survives the trip through RDF. An Endocarp id that is not an
//! absolute IRI cannot name an ODRL party or asset and is refused; a rule on `*` is written
//! without a target (import it back with `wildcards`).

use crate::domain::policy::ODRL_NS;
use crate::domain::{DomainError, RuleKind};
use serde_json::{Map, Value, json};

/// A rule as `ListRules` gives it (texts are canonical JSON; empty: none).
#[derive(Debug, Clone)]
pub struct RuleText {
    pub kind: RuleKind,
    pub assignee: String,
    pub action: String,
    pub target: String,
    pub constraint: String,
    pub refinement: String,
    pub duty: String,
    pub remedy: String,
}

/// A policy and its rules.
#[derive(Debug, Clone, Default)]
pub struct PolicyText {
    pub id: String,
    /// Full IRI; empty: none given.
    pub policy_type: String,
    /// Full IRI; empty: none given.
    pub conflict: String,
    pub rules: Vec<RuleText>,
}

fn iri(field: &str, id: &str) -> Result<Value, DomainError> {
    oxrdf::NamedNode::new(id).map_err(|_| {
        DomainError::new(
            field,
            format!("{id:?} is not an absolute IRI, so it cannot name an ODRL party, asset or policy"),
        )
    })?;
    Ok(Value::String(id.to_string()))
}

/// Writes every array inside a condition as a `@list` (order is identity).
fn listed(v: &Value) -> Value {
    match v {
        Value::Array(items) => json!({ "@list": items.iter().map(listed).collect::<Vec<_>>() }),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let x = listed(x);
                // `@type`/`@value`/`@id` objects are literals and IRIs: keep them as they are.
                out.insert(k.clone(), if k.starts_with('@') { v[k].clone() } else { x });
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn parsed(field: &str, text: &str) -> Result<Value, DomainError> {
    serde_json::from_str(text).map_err(|e| DomainError::new(field, format!("stored text is not JSON: {e}")))
}

/// A constraint text (one constraint or an array, all of which hold) as the members of
/// `constraint`/`refinement`.
fn constraints(field: &str, text: &str) -> Result<Value, DomainError> {
    let v = parsed(field, text)?;
    let items = match v {
        Value::Array(items) => items,
        one => vec![one],
    };
    Ok(Value::Array(items.iter().map(listed).collect()))
}

/// Duties or remedies: each keeps its uid (an IRI) and action; its constraints are listed.
fn duties(field: &str, text: &str) -> Result<Value, DomainError> {
    let v = parsed(field, text)?;
    let items = match v {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut out = Vec::new();
    for d in items {
        let Value::Object(m) = d else {
            return Err(DomainError::new(field, "a stored duty is not an object"));
        };
        let mut duty = Map::new();
        for (k, x) in m {
            let x = match k.as_str() {
                "uid" | "assignee" | "target" => iri(&format!("{field}.{k}"), x.as_str().unwrap_or_default())?,
                "constraint" => constraints(&format!("{field}.constraint"), &x.to_string())?,
                _ => x,
            };
            duty.insert(k, x);
        }
        out.push(Value::Object(duty));
    }
    Ok(Value::Array(out))
}

/// The JSON-LD document, and notes on what a re-import needs.
pub fn document(p: &PolicyText) -> Result<(Value, Vec<String>), DomainError> {
    let mut notes = Vec::new();
    let mut doc = Map::new();
    doc.insert(
        "@context".into(),
        Value::String("http://www.w3.org/ns/odrl.jsonld".into()),
    );
    if !p.policy_type.is_empty() {
        let ty = p.policy_type.strip_prefix(ODRL_NS).unwrap_or(&p.policy_type);
        doc.insert("@type".into(), Value::String(ty.into()));
    }
    doc.insert("uid".into(), iri("policy", &p.id)?);
    if !p.conflict.is_empty() {
        let c = p.conflict.strip_prefix(ODRL_NS).unwrap_or(&p.conflict);
        doc.insert("conflict".into(), Value::String(c.into()));
    }
    let (mut permissions, mut prohibitions) = (Vec::new(), Vec::new());
    let mut any_star = false;
    for r in &p.rules {
        let mut rule = Map::new();
        rule.insert("assignee".into(), iri("assignee", &r.assignee)?);
        if r.target == crate::domain::id::WILDCARD {
            any_star = true;
        } else {
            rule.insert("target".into(), iri("target", &r.target)?);
        }
        let action = if r.refinement.is_empty() {
            Value::String(r.action.clone())
        } else {
            json!({
                "rdf:value": {"@id": r.action},
                "refinement": constraints("refinement", &r.refinement)?,
            })
        };
        rule.insert("action".into(), action);
        if !r.constraint.is_empty() {
            rule.insert("constraint".into(), constraints("constraint", &r.constraint)?);
        }
        if !r.duty.is_empty() {
            rule.insert("duty".into(), duties("duty", &r.duty)?);
        }
        if !r.remedy.is_empty() {
            rule.insert("remedy".into(), duties("remedy", &r.remedy)?);
        }
        match r.kind {
            RuleKind::Permission => permissions.push(Value::Object(rule)),
            RuleKind::Prohibition => prohibitions.push(Value::Object(rule)),
        }
    }
    if any_star {
        notes.push(format!(
            "policy {}: rules on every target (*) are written without a target; import them back with --wildcards",
            p.id
        ));
    }
    if !permissions.is_empty() {
        doc.insert("permission".into(), Value::Array(permissions));
    }
    if !prohibitions.is_empty() {
        doc.insert("prohibition".into(), Value::Array(prohibitions));
    }
    Ok((Value::Object(doc), notes))
}

#[cfg(test)]
mod tests;
