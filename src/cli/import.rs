//! Pericarp's newline-delimited JSON event envelopes → triple events.
//!
//! Each line is one envelope: `id`, `aggregate_id`, `event_type`, `payload`, `timestamp`,
//! `sequence_no`, `metadata`. The payload's `subject`, `predicate` and `object` make the
//! triple; its other keys become attributes (non-string values kept as JSON text).
//! Unknown envelope keys (`transaction_id`, `position`, …) are ignored. The whole file is
//! checked before anything is sent, and a decreasing `sequence_no` within one aggregate
//! rejects the import.

use crate::domain::event::Triple;
use crate::domain::{DomainError, NewEvent};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// One envelope, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub line: usize,
    pub id: String,
    pub triple: Triple,
    pub timestamp: Option<DateTime<Utc>>,
    pub sequence_no: Option<i64>,
    pub metadata: BTreeMap<String, String>,
}

/// A whole file, parsed and checked: the envelopes and their domain events, in file order.
#[derive(Debug)]
pub struct ImportFile {
    pub envelopes: Vec<Envelope>,
    pub events: Vec<NewEvent>,
}

impl ImportFile {
    /// Checks envelopes made elsewhere (a casbin policy file) as events; errors name the line.
    pub fn from_envelopes(envelopes: Vec<Envelope>) -> Result<ImportFile, DomainError> {
        let events = envelopes
            .iter()
            .map(|e| {
                NewEvent::parse(&e.id, &e.triple, e.timestamp, None, e.metadata.clone())
                    .map_err(|err| err.within(&format!("line {}", e.line)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ImportFile { envelopes, events })
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn string_map(field: &str, v: Option<&Value>) -> Result<BTreeMap<String, String>, DomainError> {
    match v {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => Ok(m.iter().map(|(k, v)| (k.clone(), text(v))).collect()),
        Some(_) => Err(DomainError::new(field, "must be a JSON object")),
    }
}

/// Parses one envelope line; `None` for Pericarp's export header (`{"pericarp_export":1}`).
pub fn parse_line(line: usize, raw: &str) -> Result<Option<Envelope>, DomainError> {
    let at = |e: DomainError| e.within(&format!("line {line}"));
    let v: Value = serde_json::from_str(raw).map_err(|e| at(DomainError::new("json", e.to_string())))?;
    let obj = v
        .as_object()
        .ok_or_else(|| at(DomainError::new("json", "each line must be a JSON object")))?;
    if obj.contains_key("pericarp_export") && !obj.contains_key("event_type") {
        return Ok(None);
    }
    let s = |k: &str| obj.get(k).map(text).unwrap_or_default();
    let mut payload = string_map("payload", obj.get("payload")).map_err(at)?;
    let subject = payload.remove("subject").unwrap_or_default();
    let predicate = payload.remove("predicate").unwrap_or_default();
    let object = payload.remove("object").unwrap_or_default();
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if t.is_empty() => None,
        Some(Value::String(t)) => Some(
            DateTime::parse_from_rfc3339(t)
                .map_err(|e| at(DomainError::new("timestamp", format!("{t:?}: {e}"))))?
                .with_timezone(&Utc),
        ),
        Some(_) => return Err(at(DomainError::new("timestamp", "must be an RFC 3339 string"))),
    };
    let sequence_no = match obj.get("sequence_no") {
        None | Some(Value::Null) => None,
        Some(n) => Some(
            n.as_i64()
                .ok_or_else(|| at(DomainError::new("sequence_no", "must be an integer")))?,
        ),
    };
    Ok(Some(Envelope {
        line,
        id: s("id"),
        triple: Triple {
            event_type: s("event_type"),
            aggregate_id: s("aggregate_id"),
            subject,
            predicate,
            object,
            payload,
        },
        timestamp,
        sequence_no,
        metadata: string_map("metadata", obj.get("metadata")).map_err(at)?,
    }))
}

/// Parses and checks a whole file; the first problem names its line.
pub fn parse_file(content: &str) -> Result<ImportFile, DomainError> {
    let mut envelopes = Vec::new();
    let mut events = Vec::new();
    // Per stream: (aggregate kind, aggregate id), as the store keys them.
    let mut last_seq: HashMap<(String, String), i64> = HashMap::new();
    for (i, raw) in content.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let Some(env) = parse_line(line, raw)? else { continue };
        if let Some(seq) = env.sequence_no {
            let stream = (env.triple.aggregate_kind().to_string(), env.triple.aggregate_id.clone());
            if let Some(prev) = last_seq.get(&stream)
                && seq < *prev
            {
                return Err(DomainError::new(
                    format!("line {line}.sequence_no"),
                    format!(
                        "{seq} follows {prev} in stream {} {:?}: sequence numbers must not decrease",
                        stream.0, stream.1
                    ),
                ));
            }
            last_seq.insert(stream, seq);
        }
        let event = NewEvent::parse(&env.id, &env.triple, env.timestamp, None, env.metadata.clone())
            .map_err(|e| e.within(&format!("line {line}")))?;
        events.push(event);
        envelopes.push(env);
    }
    Ok(ImportFile { envelopes, events })
}

/// Turns a casbin policy file for Pericarp's model into triple events:
/// `p, sub, *, act, obj, allow|deny` → a permission or prohibition in `policy`;
/// `g, x, role, *` → a global role edge (`Role.RoleAssigned` when `x` is itself used as a
/// role in the file, else `Agent.RoleAssigned`); `g, x, role, account` → an account edge.
///
/// Casbin matches actions exactly, so a file exported from Endocarp carries the ODRL
/// hierarchy expanded into rows. With `hierarchy` (the destination runs with
/// `action_hierarchy = true`), rows are folded back into the fewest rules whose expansion
/// gives exactly the same rows; a row no rule can reproduce exactly (say an allow row for
/// `odrl:use` without the actions `use` includes) is refused, since importing it would
/// widen the grant. Without `hierarchy` every row becomes one rule.
pub fn casbin_envelopes(text: &str, policy: &str, hierarchy: bool) -> Result<Vec<Envelope>, DomainError> {
    use crate::cli::casbin_file::{PolicyLine, parse_policy_csv};
    use crate::domain::{Action, RuleKind};
    use crate::engine::casbin::GLOBAL_DOMAIN;
    use std::collections::{BTreeMap as Map, BTreeSet};
    crate::domain::Id::parse("policy", policy)?;
    let lines = parse_policy_csv(text).map_err(|e| DomainError::new("policy.csv", e))?;
    let roles: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|(_, l)| match l {
            PolicyLine::G([_, role, _]) => Some(role.as_str()),
            PolicyLine::P(_) => None,
        })
        .collect();
    let triple = Triple::new;
    let envelope = |line: usize, t: Triple| Envelope {
        line,
        id: String::new(),
        triple: t,
        timestamp: None,
        sequence_no: None,
        metadata: BTreeMap::new(),
    };
    // (sub, obj, kind) → action → first line
    let mut groups: Map<(String, String, RuleKind), Map<Action, usize>> = Map::new();
    let mut out = Vec::new();
    for (line, l) in &lines {
        let at = |field: &str, reason: String| DomainError::new(format!("line {line}.{field}"), reason);
        match l {
            PolicyLine::P([sub, dom, act, obj, eft]) => {
                if dom != GLOBAL_DOMAIN {
                    return Err(at(
                        "dom",
                        format!(
                            "{dom:?}: p rows of this model have the domain \"*\"; account scoping comes from g rows"
                        ),
                    ));
                }
                let action = Action::parse("act", act).map_err(|e| {
                    at(
                        "act",
                        format!(
                            "{}; casbin actions must be CURIEs or absolute IRIs here (e.g. urn:app:{act})",
                            e.reason
                        ),
                    )
                })?;
                let kind = match eft.as_str() {
                    "allow" => RuleKind::Permission,
                    "deny" => RuleKind::Prohibition,
                    other => return Err(at("eft", format!("{other:?}: expected allow or deny"))),
                };
                groups
                    .entry((sub.clone(), obj.clone(), kind))
                    .or_default()
                    .entry(action)
                    .or_insert(*line);
            }
            PolicyLine::G([node, role, dom]) if dom == GLOBAL_DOMAIN => {
                let ty = if roles.contains(node.as_str()) {
                    "Role.RoleAssigned"
                } else {
                    "Agent.RoleAssigned"
                };
                out.push(envelope(*line, triple(ty, node, node, "org:hasRole", role, &[])));
            }
            PolicyLine::G([node, role, dom]) => {
                out.push(envelope(
                    *line,
                    triple(
                        "Account.RoleAssigned",
                        dom,
                        node,
                        "org:hasRole",
                        role,
                        &[("account", dom)],
                    ),
                ));
            }
        }
    }
    for ((sub, obj, kind), actions) in groups {
        let present: BTreeSet<&Action> = actions.keys().collect();
        let expansion = |a: &Action| -> Vec<Action> {
            let mut v = vec![a.clone()];
            v.extend(a.descendants().iter().cloned());
            if kind == RuleKind::Prohibition {
                v.extend(a.ancestors().iter().cloned());
            }
            v
        };
        let keep: Vec<&Action> = if hierarchy {
            present
                .iter()
                .copied()
                .filter(|a| expansion(a).iter().all(|x| present.contains(x)))
                .collect()
        } else {
            present.iter().copied().collect()
        };
        if hierarchy {
            let covered: BTreeSet<Action> = keep.iter().flat_map(|a| expansion(a)).collect();
            if let Some(a) = present.iter().find(|a| !covered.contains(**a)) {
                return Err(DomainError::new(
                    format!("line {}.act", actions[*a]),
                    format!(
                        "{} row for {a} cannot be imported exactly under the ODRL action hierarchy (it lacks the rows the hierarchy implies, so a rule would {}); import with --exact-actions into a server run with --action-hierarchy false",
                        if kind == RuleKind::Permission {
                            "an allow"
                        } else {
                            "a deny"
                        },
                        if kind == RuleKind::Permission {
                            "grant more than the file"
                        } else {
                            "deny more than the file"
                        }
                    ),
                ));
            }
        }
        let (ty, pred) = match kind {
            RuleKind::Permission => ("Policy.PermissionGranted", "odrl:permission"),
            RuleKind::Prohibition => ("Policy.ProhibitionSet", "odrl:prohibition"),
        };
        for a in keep {
            out.push(envelope(
                actions[a],
                triple(ty, policy, &sub, pred, &obj, &[("action", a.as_str())]),
            ));
        }
    }
    out.sort_by_key(|e| e.line);
    Ok(out)
}

/// ODRL documents (the format from each file's extension) read as one graph and turned
/// into events; what was left out is printed on stderr.
pub fn odrl_file(
    files: &[String],
    options: &crate::odrl::Options,
    read: impl Fn(&str) -> anyhow::Result<String>,
) -> anyhow::Result<ImportFile> {
    use crate::odrl::{Format, import, read_all};
    let mut docs = Vec::new();
    for f in files {
        let format = Format::of_path(f)
            .ok_or_else(|| anyhow::anyhow!("{f}: name ODRL documents .ttl (Turtle) or .jsonld / .json (JSON-LD)"))?;
        docs.push((format, read(f)?));
    }
    let graph = read_all(docs.iter().map(|(f, t)| (*f, t.as_str()))).map_err(|e| anyhow::anyhow!("{e}"))?;
    let imported = import(&graph, options).map_err(|e| anyhow::anyhow!("{e}"))?;
    for note in &imported.notes {
        eprintln!("note: {note}");
    }
    eprintln!(
        "{} policies, {} atomic rules, {} events",
        imported.policies.len(),
        imported.rules,
        imported.events.len()
    );
    let envelopes = imported
        .events
        .into_iter()
        .enumerate()
        .map(|(i, triple)| Envelope {
            line: i + 1,
            id: String::new(),
            triple,
            timestamp: None,
            sequence_no: None,
            metadata: BTreeMap::new(),
        })
        .collect();
    ImportFile::from_envelopes(envelopes).map_err(|e| anyhow::anyhow!("{e}"))
}

#[cfg(test)]
mod tests;
