//! A permission's duties (preconditions) and a prohibition's remedies (stored, never
//! enforced): their parsing to canonical JSON, and whether a duty blocks its permission.

use super::{Constraint, Context, Literal, Now, Truth, parse_list};
use crate::domain::DomainError;
use serde_json::{Map, Value};
use std::sync::Arc;

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

/// Parses the `duty` attribute: one duty or an array of them, each `{"uid": ID, "action":
/// ACTION}` with optional `assignee`, `target`, `constraint` (when the duty is active) and
/// `consequence` (stored, not enforced). Returns them and the canonical text.
pub(super) fn parse_duties(field: &str, text: &str) -> Result<(Vec<Duty>, Arc<str>), DomainError> {
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
pub(super) fn parse_remedy(field: &str, text: &str) -> Result<Arc<str>, DomainError> {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Ok(v.to_string().into()),
        Ok(_) => Err(DomainError::new(field, "must be a duty or an array of duties")),
        Err(e) => Err(DomainError::new(field, format!("is not JSON: {e}"))),
    }
}

impl Duty {
    /// True when the duty does not block its permission: it is inactive (its constraints
    /// are not satisfied; an unknown one keeps it active: fail closed), or fulfilled (a
    /// discharge by its assignee, or the context lists it under [`FULFILLED`]).
    pub(super) fn holds(&self, ctx: &Context, now: &mut Now, party: &Party<'_>) -> bool {
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
