//! AuthZEN's JSON, and how its entities and actions map to Endocarp's ids and actions
//! (docs/CONTRACT.md §8).
//!
//! - An entity `{type, id}` is the Endocarp id `type:id`; a type may not contain `:`, so
//!   an id splits back at its first `:`.
//! - An action name that is a CURIE with a known prefix or an absolute IRI is that action;
//!   a bare current ODRL 2.2 term (`read`, `modify`, `use`, …) is that ODRL action; any
//!   other bare name `N` is the custom action `<namespace>N` (`urn:endocarp:action:N` by
//!   default). Answers name an action the way a request would, so a name round-trips.
//! - Unknown members are ignored everywhere; a known member of the wrong type is a 400.

use crate::app::Consistency;
use crate::domain::{Action, Decision, DomainError, Id, RuleKind, RuleView};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Properties: any JSON object. Members named by a CURIE or an IRI are values for rules'
/// constraints (as the request's `context` members are); the others are not used.
pub type Properties = Option<Map<String, Value>>;

/// A subject or a resource.
#[derive(Debug, Clone, Deserialize)]
pub struct Entity {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(default)]
    pub properties: Properties,
}

/// The entity a search asks for: only its type counts (an `id` is ignored, as the
/// specification says).
#[derive(Debug, Clone, Deserialize)]
pub struct Searched {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub properties: Properties,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ActionRef {
    pub name: String,
    #[serde(default)]
    pub properties: Properties,
}

/// A request's `context`: free-form, with three members Endocarp reads.
pub type Context = Option<Map<String, Value>>;

/// `POST /access/v1/evaluation`.
#[derive(Debug, Clone, Deserialize)]
pub struct EvaluationRequest {
    pub subject: Entity,
    pub action: ActionRef,
    pub resource: Entity,
    #[serde(default)]
    pub context: Context,
}

/// One item of `evaluations`: what it gives replaces the top-level default as a whole.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EvaluationItem {
    #[serde(default)]
    pub subject: Option<Entity>,
    #[serde(default)]
    pub action: Option<ActionRef>,
    #[serde(default)]
    pub resource: Option<Entity>,
    #[serde(default)]
    pub context: Context,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct EvaluationsOptions {
    #[serde(default)]
    pub evaluations_semantic: Option<String>,
}

/// `POST /access/v1/evaluations`.
#[derive(Debug, Clone, Deserialize)]
pub struct EvaluationsRequest {
    #[serde(default)]
    pub subject: Option<Entity>,
    #[serde(default)]
    pub action: Option<ActionRef>,
    #[serde(default)]
    pub resource: Option<Entity>,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub evaluations: Option<Vec<EvaluationItem>>,
    #[serde(default)]
    pub options: Option<EvaluationsOptions>,
}

/// A search request's `page`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageIn {
    #[serde(default)]
    pub token: Option<String>,
    #[serde(default)]
    pub limit: Option<u32>,
    #[serde(default)]
    pub properties: Properties,
}

/// `POST /access/v1/search/subject`.
#[derive(Debug, Clone, Deserialize)]
pub struct SubjectSearch {
    pub subject: Searched,
    pub action: ActionRef,
    pub resource: Entity,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub page: Option<PageIn>,
}

/// `POST /access/v1/search/resource`.
#[derive(Debug, Clone, Deserialize)]
pub struct ResourceSearch {
    pub subject: Entity,
    pub action: ActionRef,
    pub resource: Searched,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub page: Option<PageIn>,
}

/// `POST /access/v1/search/action`.
#[derive(Debug, Clone, Deserialize)]
pub struct ActionSearch {
    pub subject: Entity,
    pub resource: Entity,
    #[serde(default)]
    pub context: Context,
    #[serde(default)]
    pub page: Option<PageIn>,
}

/// A decision: `decision`, and a `context` with the revision, the reason and the
/// deciding rule (or, for an item that could not be evaluated, the error).
#[derive(Debug, Clone, Serialize)]
pub struct DecisionOut {
    pub decision: bool,
    pub context: DecisionContext,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DecisionContext {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<ExplanationOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// The item an `evaluations_semantic` other than `execute_all` stopped at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<&'static str>,
}

/// A rule, its ids as Endocarp writes them and its action named as a request would.
#[derive(Debug, Clone, Serialize)]
pub struct RuleOut {
    pub policy: String,
    pub kind: &'static str,
    pub assignee: String,
    pub action: String,
    pub target: String,
    /// The rule's constraints (canonical JSON, parsed), when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<serde_json::Value>,
    /// Its action's refinements (canonical JSON, parsed), when it has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refinement: Option<serde_json::Value>,
}

/// What a rule's constraints gave for the request.
#[derive(Debug, Clone, Serialize)]
pub struct ConditionOut {
    pub rule: RuleOut,
    pub applies: bool,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplanationOut {
    pub assignees: Vec<String>,
    pub other_rules: Vec<RuleOut>,
    /// The full length of each list (each holds at most `explain_limit` entries).
    pub totals: TotalsOut,
    /// Matching rules that did not count, for their policy's type or conflict strategy
    /// (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unenforced_rules: Vec<RuleOut>,
    /// Matching rules with constraints: whether each applied, and why (absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ConditionOut>,
}

/// How many entries each list of an explanation has in full.
#[derive(Debug, Clone, Serialize)]
pub struct TotalsOut {
    pub assignees: usize,
    pub other_rules: usize,
    pub unenforced_rules: usize,
    pub conditions: usize,
}

/// An error: in an item's `context`, and as the body of every 4xx/5xx.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorBody {
    pub status: u16,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct EvaluationsOut {
    pub evaluations: Vec<DecisionOut>,
}

/// A search's answer: `page` first (as the specification recommends), then `context`,
/// then `results`.
#[derive(Debug, Clone, Serialize)]
pub struct SearchOut<T> {
    pub page: PageOut,
    pub context: SearchContext,
    pub results: Vec<T>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PageOut {
    /// Empty on the last page.
    pub next_token: String,
    pub count: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchContext {
    pub revision: u64,
    /// Resource search only: a permission on every resource applies, so every resource
    /// of the type is allowed except those in `except` (paged like results).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub every_resource: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub except: Option<Vec<EntityOut>>,
}

impl SearchContext {
    /// A search answered at `revision`.
    pub fn at(revision: u64) -> SearchContext {
        SearchContext {
            revision,
            ..SearchContext::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityOut {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionOut {
    pub name: String,
}

/// `GET /.well-known/authzen-configuration`.
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub policy_decision_point: String,
    pub access_evaluation_endpoint: String,
    pub access_evaluations_endpoint: String,
    pub search_subject_endpoint: String,
    pub search_resource_endpoint: String,
    pub search_action_endpoint: String,
}

impl Metadata {
    /// Every endpoint under `base` (no trailing `/`).
    pub fn under(base: &str) -> Metadata {
        Metadata {
            policy_decision_point: base.to_string(),
            access_evaluation_endpoint: format!("{base}{}", super::EVALUATION),
            access_evaluations_endpoint: format!("{base}{}", super::EVALUATIONS),
            search_subject_endpoint: format!("{base}{}", super::SEARCH_SUBJECT),
            search_resource_endpoint: format!("{base}{}", super::SEARCH_RESOURCE),
            search_action_endpoint: format!("{base}{}", super::SEARCH_ACTION),
        }
    }
}

/// The Endocarp id of an entity: `type:id`.
pub fn entity_id(field: &str, kind: &str, id: &str) -> Result<Id, DomainError> {
    check_type(field, kind)?;
    if id.is_empty() {
        return Err(DomainError::new(format!("{field}.id"), "must not be empty"));
    }
    Id::parse(&format!("{field}.id"), &format!("{kind}:{id}"))
}

/// A type: not empty, without `:` (ids split back at their first `:`).
pub fn check_type(field: &str, kind: &str) -> Result<(), DomainError> {
    if kind.is_empty() {
        return Err(DomainError::new(format!("{field}.type"), "must not be empty"));
    }
    if kind.contains(':') {
        return Err(DomainError::new(
            format!("{field}.type"),
            format!("{kind:?} contains ':'; a type cannot (the Endocarp id is type:id, split at its first ':')"),
        ));
    }
    if kind.chars().any(char::is_control) {
        return Err(DomainError::new(
            format!("{field}.type"),
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// An Endocarp id as an entity of `kind`, when it is one (`type:id` with that type).
pub fn as_entity(kind: &str, id: &Id) -> Option<EntityOut> {
    let (t, rest) = id.as_str().split_once(':')?;
    (t == kind && !rest.is_empty()).then(|| EntityOut {
        kind: t.to_string(),
        id: rest.to_string(),
    })
}

/// The custom-action namespace by default.
pub const DEFAULT_ACTION_NAMESPACE: &str = "urn:endocarp:action:";

/// How action names map to actions and back.
#[derive(Debug, Clone)]
pub struct Naming {
    namespace: String,
}

impl Naming {
    /// `namespace` must make an action of any bare name, unchanged by canonicalisation, and
    /// must not be the ODRL namespace (whose names are vocabulary terms).
    pub fn new(namespace: &str) -> Result<Naming, String> {
        if namespace.is_empty() || namespace.starts_with(crate::domain::action::ODRL_NS) {
            return Err(format!(
                "authzen_action_namespace: {namespace:?} must be a non-empty IRI prefix other than the ODRL namespace"
            ));
        }
        let probe = format!("{namespace}x");
        match Action::parse("authzen_action_namespace", &probe) {
            Ok(a) if a.as_str() == probe => Ok(Naming {
                namespace: namespace.to_string(),
            }),
            Ok(_) => Err(format!(
                "authzen_action_namespace: {namespace:?} is not canonical (write the scheme and host in lower case)"
            )),
            Err(e) => Err(format!(
                "authzen_action_namespace: {namespace:?} followed by a name is not an action IRI: {}",
                e.reason
            )),
        }
    }

    /// The action a name means (see the module docs).
    pub fn action(&self, field: &str, name: &str) -> Result<Action, DomainError> {
        if name.is_empty() {
            return Err(DomainError::new(field, "must not be empty"));
        }
        if name.contains(':') {
            return Action::parse(field, name);
        }
        if let Some(a) = Action::odrl_term(name) {
            return Ok(a);
        }
        if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(DomainError::new(field, "must not contain spaces or control characters"));
        }
        Action::parse(field, &format!("{}{name}", self.namespace))
    }

    /// The name a request would use for `action`.
    pub fn name<'a>(&self, action: &'a Action) -> Cow<'a, str> {
        if let Some(term) = action.odrl_local() {
            return Cow::Borrowed(term);
        }
        if let Some(bare) = action.as_str().strip_prefix(&self.namespace)
            && !bare.is_empty()
            && !bare.contains(':')
            && Action::odrl_term(bare).is_none()
        {
            return Cow::Borrowed(bare);
        }
        Cow::Borrowed(action.as_str())
    }

    pub fn rule(&self, r: RuleView<'_>) -> RuleOut {
        RuleOut {
            policy: r.policy.to_string(),
            kind: match r.kind {
                RuleKind::Permission => "permission",
                RuleKind::Prohibition => "prohibition",
            },
            assignee: r.assignee.to_string(),
            action: self.name(r.action).into_owned(),
            target: r.target.as_str().to_string(),
            constraint: r
                .condition
                .as_ref()
                .and_then(|c| c.constraint_text.as_deref())
                .and_then(|t| serde_json::from_str(t).ok()),
            refinement: r
                .condition
                .as_ref()
                .and_then(|c| c.refinement_text.as_deref())
                .and_then(|t| serde_json::from_str(t).ok()),
        }
    }

    /// A decision as AuthZEN's, its context carrying the revision, reason and rule.
    pub fn decision(&self, d: &Decision) -> DecisionOut {
        DecisionOut {
            decision: d.allowed,
            context: DecisionContext {
                revision: Some(d.revision),
                reason: Some(d.reason.as_str()),
                rule: d.deciding_rule.as_ref().map(|r| self.rule(r.view())),
                explanation: d.explanation.as_ref().map(|e| ExplanationOut {
                    assignees: e.assignees.iter().map(|a| a.to_string()).collect(),
                    other_rules: e.other_rules.iter().map(|r| self.rule(r)).collect(),
                    totals: TotalsOut {
                        assignees: e.totals.assignees,
                        other_rules: e.totals.other_rules,
                        unenforced_rules: e.totals.unenforced_rules,
                        conditions: e.totals.conditions,
                    },
                    unenforced_rules: e.unenforced_rules.iter().map(|r| self.rule(r)).collect(),
                    conditions: e
                        .conditions
                        .iter()
                        .map(|n| ConditionOut {
                            rule: self.rule(n.rule.view()),
                            applies: n.applies,
                            why: n.why.clone(),
                        })
                        .collect(),
                }),
                ..DecisionContext::default()
            },
        }
    }
}

/// What Endocarp reads from a request's `context`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckContext {
    pub consistency: Consistency,
    pub explain: bool,
    /// `context.explain_limit`: the most entries each list of an explanation holds (0: the
    /// default).
    pub explain_limit: u64,
    /// `context.account`: an in-account check.
    pub account: Option<Id>,
    /// Members whose name is a CURIE or an IRI (`"odrl:purpose"`): values for the left
    /// operands of rules' constraints.
    pub values: crate::domain::constraint::Context,
}

/// Reads `context.consistency` (`{"at_least_revision": N}` or `{"fully_consistent":
/// true}`), `context.explain`, `context.explain_limit` and `context.account`; other members
/// are ignored.
pub fn check_context(field: &str, context: Option<&Map<String, Value>>) -> Result<CheckContext, DomainError> {
    let mut out = CheckContext::default();
    let Some(c) = context else {
        return Ok(out);
    };
    match c.get("consistency") {
        None | Some(Value::Null) => {}
        Some(Value::Object(o)) => {
            match o.get("at_least_revision") {
                None | Some(Value::Null) => {}
                Some(v) => {
                    out.consistency.at_least_revision = revision(v).ok_or_else(|| {
                        DomainError::new(
                            format!("{field}.consistency.at_least_revision"),
                            "must be a non-negative integer (a revision an earlier answer or write returned)",
                        )
                    })?
                }
            }
            match o.get("fully_consistent") {
                None | Some(Value::Null) => {}
                Some(Value::Bool(b)) => out.consistency.fully_consistent = *b,
                Some(_) => {
                    return Err(DomainError::new(
                        format!("{field}.consistency.fully_consistent"),
                        "must be a boolean",
                    ));
                }
            }
        }
        Some(_) => {
            return Err(DomainError::new(
                format!("{field}.consistency"),
                "must be an object: {\"at_least_revision\": N} or {\"fully_consistent\": true}",
            ));
        }
    }
    match c.get("explain") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => out.explain = *b,
        Some(_) => return Err(DomainError::new(format!("{field}.explain"), "must be a boolean")),
    }
    match c.get("explain_limit") {
        None | Some(Value::Null) => {}
        Some(v) => {
            out.explain_limit = v.as_u64().ok_or_else(|| {
                DomainError::new(
                    format!("{field}.explain_limit"),
                    "must be a non-negative integer (0: the default)",
                )
            })?
        }
    }
    match c.get("account") {
        None | Some(Value::Null) => {}
        Some(Value::String(a)) => out.account = Some(Id::parse(&format!("{field}.account"), a)?),
        Some(_) => {
            return Err(DomainError::new(
                format!("{field}.account"),
                "must be a string (an account id)",
            ));
        }
    }
    for (k, v) in c.iter().filter(|(k, _)| k.contains(':')) {
        if out.values.len() >= crate::domain::constraint::MAX_CONTEXT {
            return Err(DomainError::new(
                field,
                format!(
                    "holds at most {} left-operand values",
                    crate::domain::constraint::MAX_CONTEXT
                ),
            ));
        }
        let at = format!("{field}.{k}");
        let (value, unit) = crate::domain::constraint::context_from_json(&at, v)?;
        out.values.insert(k, value, unit.as_deref())?;
    }
    Ok(out)
}

/// A revision: a non-negative integer, or its decimal digits as a string (revisions past
/// 2^53 survive JSON parsers that read numbers as doubles that way).
fn revision(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
