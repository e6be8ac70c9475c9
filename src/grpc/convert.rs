//! Protobuf ↔ domain conversions, done once at the edge.

use crate::domain::constraint::{Context, Decimal, Literal};
use crate::domain::event::Triple;
use crate::domain::{Decision, DomainError, NewEvent, Reason, RuleKind, RuleView, StoredEvent};
use crate::grpc::pb;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

pub fn reason(r: Reason) -> pb::Reason {
    match r {
        Reason::Permitted => pb::Reason::Permitted,
        Reason::Prohibited => pb::Reason::Prohibited,
        Reason::NotPermitted => pb::Reason::NotPermitted,
        Reason::AgentInactive => pb::Reason::AgentInactive,
        Reason::AccountInactive => pb::Reason::AccountInactive,
        Reason::NotAMember => pb::Reason::NotAMember,
    }
}

pub fn rule(r: RuleView<'_>) -> pb::RuleRef {
    pb::RuleRef {
        policy_id: r.policy.to_string(),
        kind: match r.kind {
            RuleKind::Permission => pb::RuleKind::Permission,
            RuleKind::Prohibition => pb::RuleKind::Prohibition,
        } as i32,
        assignee: r.assignee.to_string(),
        action: r.action.to_string(),
        target: r.target.as_str().to_string(),
        constraint: r
            .condition
            .as_ref()
            .and_then(|c| c.constraint_text.as_deref())
            .unwrap_or_default()
            .to_string(),
        refinement: r
            .condition
            .as_ref()
            .and_then(|c| c.refinement_text.as_deref())
            .unwrap_or_default()
            .to_string(),
        duty: r
            .condition
            .as_ref()
            .and_then(|c| c.duty_text.as_deref())
            .unwrap_or_default()
            .to_string(),
        remedy: r
            .condition
            .as_ref()
            .and_then(|c| c.remedy_text.as_deref())
            .unwrap_or_default()
            .to_string(),
    }
}

/// Most entries in a request's context.
pub const MAX_CONTEXT_ENTRIES: usize = 64;

/// A request's `context` map as the engine's [`Context`]: keys are left operands (CURIEs
/// or IRIs), values typed. Every problem names its key.
pub fn context(map: &std::collections::HashMap<String, pb::ContextValue>) -> Result<Context, DomainError> {
    let mut ctx = Context::default();
    if map.is_empty() {
        return Ok(ctx);
    }
    if map.len() > MAX_CONTEXT_ENTRIES {
        return Err(DomainError::new(
            "context",
            format!("holds at most {MAX_CONTEXT_ENTRIES} entries"),
        ));
    }
    for (key, v) in map {
        let field = format!("context[{key:?}]");
        let value = context_value(&field, v, true)?;
        ctx.insert(key, value, Some(v.unit.as_str()))?;
    }
    Ok(ctx)
}

/// A context as the request map a client sends (the inverse of [`context`]; numbers go
/// as doubles).
pub fn context_to_pb(ctx: &Context) -> std::collections::HashMap<String, pb::ContextValue> {
    fn value(v: &Literal) -> Option<pb::context_value::Value> {
        use pb::context_value::Value as V;
        Some(match v {
            Literal::String(s) => V::String(s.clone()),
            Literal::Iri(i) => V::Iri(i.clone()),
            Literal::Boolean(b) => V::Boolean(*b),
            Literal::Number(d) => V::Number(d.to_string().parse().ok()?),
            Literal::DateTime { at, .. } => V::Timestamp(timestamp(at)),
            Literal::List(items) => V::List(pb::ContextList {
                values: items
                    .iter()
                    .map(|x| pb::ContextValue {
                        value: value(x),
                        unit: String::new(),
                    })
                    .collect(),
            }),
            Literal::Date { .. } | Literal::Other { .. } => return None,
        })
    }
    ctx.entries()
        .map(|(k, v, unit)| {
            (
                k.to_string(),
                pb::ContextValue {
                    value: value(v),
                    unit: unit.unwrap_or_default().to_string(),
                },
            )
        })
        .collect()
}

fn context_value(field: &str, v: &pb::ContextValue, top: bool) -> Result<Literal, DomainError> {
    use pb::context_value::Value as V;
    Ok(match &v.value {
        None => return Err(DomainError::new(field, "holds no value")),
        Some(V::String(s)) => {
            crate::domain::id::check_text(field, s)?;
            Literal::String(s.clone())
        }
        Some(V::Iri(s)) => Literal::Iri(crate::domain::constraint::term(field, s)?),
        Some(V::Boolean(b)) => Literal::Boolean(*b),
        Some(V::Number(x)) => {
            Literal::Number(Decimal::from_f64(*x).ok_or_else(|| DomainError::new(field, "must be a finite number"))?)
        }
        Some(V::Timestamp(t)) => Literal::DateTime {
            at: from_timestamp(field, t)?,
            zoned: true,
        },
        Some(V::List(list)) if top => Literal::List(
            list.values
                .iter()
                .enumerate()
                .map(|(i, x)| context_value(&format!("{field}[{i}]"), x, false))
                .collect::<Result<_, _>>()?,
        ),
        Some(V::List(_)) => return Err(DomainError::new(field, "lists do not nest")),
    })
}

/// A count for the wire (a closure or an explanation never holds 2^32 entries; saturates).
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub fn decision(d: &Decision) -> pb::Decision {
    pb::Decision {
        allowed: d.allowed,
        reason: reason(d.reason) as i32,
        revision: d.revision,
        deciding_rule: d.deciding_rule.as_ref().map(|r| rule(r.view())),
        explanation: d.explanation.as_ref().map(|e| pb::Explanation {
            assignees: e.assignees.iter().map(|a| a.to_string()).collect(),
            other_rules: e.other_rules.iter().map(rule).collect(),
            unenforced_rules: e.unenforced_rules.iter().map(rule).collect(),
            conditions: e
                .conditions
                .iter()
                .map(|n| pb::ConditionNote {
                    rule: Some(rule(n.rule.view())),
                    applies: n.applies,
                    why: n.why.clone(),
                })
                .collect(),
            assignees_total: count(e.totals.assignees),
            other_rules_total: count(e.totals.other_rules),
            unenforced_rules_total: count(e.totals.unenforced_rules),
            conditions_total: count(e.totals.conditions),
        }),
        action: d.action.to_string(),
    }
}

pub fn timestamp(t: &DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn from_timestamp(field: &str, t: &prost_types::Timestamp) -> Result<DateTime<Utc>, DomainError> {
    if !(0..1_000_000_000).contains(&t.nanos) {
        return Err(DomainError::new(field, "nanos must be in 0..1e9"));
    }
    DateTime::from_timestamp(t.seconds, t.nanos as u32).ok_or_else(|| DomainError::new(field, "is out of range"))
}

/// A submitted event. `sequence_no` and `position` are the store's and must be unset.
pub fn new_event(i: usize, e: pb::TripleEvent) -> Result<NewEvent, DomainError> {
    let at = |err: DomainError| err.within(&format!("events[{i}]"));
    if e.position != 0 || e.sequence_no != 0 {
        return Err(at(DomainError::new(
            "position",
            "sequence_no and position are assigned by the store; leave them unset",
        )));
    }
    let timestamp = e
        .timestamp
        .as_ref()
        .map(|t| from_timestamp("timestamp", t))
        .transpose()
        .map_err(at)?;
    let triple = Triple {
        event_type: e.event_type,
        aggregate_id: e.aggregate_id,
        subject: e.subject,
        predicate: e.predicate,
        object: e.object,
        payload: e.attributes.into_iter().collect(),
    };
    NewEvent::parse(
        &e.id,
        &triple,
        timestamp,
        e.expected_version,
        e.metadata.into_iter().collect(),
    )
    .map_err(at)
}

/// An event for AppendEvents from its content (what `endocarp import` sends).
pub fn event_to_append(
    id: &str,
    t: &Triple,
    timestamp: Option<&DateTime<Utc>>,
    metadata: &BTreeMap<String, String>,
) -> pb::TripleEvent {
    pb::TripleEvent {
        id: id.to_string(),
        aggregate_id: t.aggregate_id.clone(),
        event_type: t.event_type.clone(),
        subject: t.subject.clone(),
        predicate: t.predicate.clone(),
        object: t.object.clone(),
        attributes: t.payload.clone().into_iter().collect(),
        timestamp: timestamp.map(self::timestamp),
        metadata: metadata.clone().into_iter().collect(),
        ..Default::default()
    }
}

/// A stored event as the API shows it (its position and sequence number included).
pub fn stored_event(e: &StoredEvent) -> pb::TripleEvent {
    let timestamp = Some(&e.timestamp);
    pb::TripleEvent {
        sequence_no: e.sequence_no,
        position: e.position,
        ..event_to_append(&e.id, &e.triple, timestamp, &e.metadata)
    }
}

/// Opaque page tokens: a keyset cursor of `N` strings.
pub fn decode_token<const N: usize>(token: &str) -> Result<[String; N], DomainError> {
    let bad = || DomainError::new("page_token", "is not a token this server returned");
    if token.is_empty() {
        return Ok(std::array::from_fn(|_| String::new()));
    }
    if !token.len().is_multiple_of(2) || token.len() > 16 * 1024 {
        return Err(bad());
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let parts: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    parts.try_into().map_err(|_| bad())
}

pub fn encode_token(parts: &[&str]) -> String {
    let json = serde_json::to_vec(parts).unwrap_or_default();
    json.iter().map(|b| format!("{b:02x}")).collect()
}

/// Edges a revoke left held, for write replies.
pub fn still_held(held: &[crate::store::StillHeld]) -> Vec<pb::StillHeld> {
    held.iter()
        .map(|h| pb::StillHeld {
            node: h.node.clone(),
            role: h.role.clone(),
            account_id: h.account.clone(),
            sources: h.sources.clone(),
        })
        .collect()
}
