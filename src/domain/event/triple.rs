//! A triple event's content (type, aggregate, subject, predicate, object, payload): checked
//! against the catalogue, canonicalised, and interpreted as the [`Change`] it makes.

use super::catalogue::EventType as T;
use super::catalogue::*;
use super::change::{Change, EdgeSource, EntityKind};
use crate::domain::action::{self, Action};
use crate::domain::constraint::{Attributes, Condition};
use crate::domain::id::check_text;
use crate::domain::{Conflict, DomainError, Id, Rule, RuleKind, Target};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The parts of a triple event that make its content (docs/CONTRACT.md §2: its identity for
/// de-duplication), before and after canonicalisation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Triple {
    pub event_type: String,
    pub aggregate_id: String,
    pub subject: String,
    pub predicate: String,
    pub object: String,
    pub payload: BTreeMap<String, String>,
}

impl Triple {
    /// A triple from its parts (event type, aggregate, subject, predicate, object, payload).
    pub fn new(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> Triple {
        Triple {
            event_type: ty.into(),
            aggregate_id: agg.into(),
            subject: s.into(),
            predicate: p.into(),
            object: o.into(),
            payload: kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }
    /// The kind of the event's aggregate: the event type's prefix (`Agent`, `Role`,
    /// `Account`, `Policy`, …). With the aggregate id it names the event's stream.
    pub fn aggregate_kind(&self) -> &str {
        self.event_type
            .split_once('.')
            .map_or(self.event_type.as_str(), |(kind, _)| kind)
    }

    /// Canonical content text, compared to decide whether a reused id is the same event.
    pub fn content(&self) -> String {
        serde_json::to_string(&(
            &self.event_type,
            &self.aggregate_id,
            &self.subject,
            &self.predicate,
            &self.object,
            &self.payload,
        ))
        .unwrap_or_default()
    }

    /// Checks the triple against the catalogue; returns its canonical form and its change.
    pub fn interpret(&self) -> Result<(Triple, Change), DomainError> {
        let ty = self.event_type.as_str();
        if ty.is_empty() {
            return Err(DomainError::new("event_type", "must not be empty"));
        }
        let Some(kind) = EventType::parse(ty) else {
            if is_ignored_type(ty) {
                return self.interpret_ignored();
            }
            return Err(DomainError::new("event_type", format!("unknown event type {ty:?}")));
        };
        let aggregate = Id::parse("aggregate_id", &self.aggregate_id)?;
        let mut canon = Triple {
            event_type: kind.name().to_string(),
            aggregate_id: self.aggregate_id.clone(),
            ..Triple::default()
        };
        let change = match kind {
            T::AgentRoleAssigned
            | T::AgentRoleRevoked
            | T::AgentGroupMembershipAdded
            | T::AgentGroupMembershipRemoved
            | T::RoleRoleAssigned
            | T::RoleRoleRevoked => {
                let (source, on, predicate) = match kind {
                    T::AgentRoleAssigned => (EdgeSource::Role, true, HAS_ROLE),
                    T::AgentRoleRevoked => (EdgeSource::Role, false, HAD_ROLE),
                    T::AgentGroupMembershipAdded => (EdgeSource::Group, true, MEMBER),
                    T::AgentGroupMembershipRemoved => (EdgeSource::Group, false, MEMBER),
                    T::RoleRoleAssigned => (EdgeSource::RoleToRole, true, HAS_ROLE),
                    _ => (EdgeSource::RoleToRole, false, HAD_ROLE),
                };
                let (node, role) = self.edge(&mut canon, &aggregate, predicate)?;
                Change::GlobalEdge { source, node, role, on }
            }
            T::AccountMemberAdded | T::AccountMemberRoleChanged => {
                let (account, agent) = self.edge(&mut canon, &aggregate, HAS_MEMBER)?;
                let role = self.required_id(&mut canon, "role")?;
                Change::MemberSet { account, agent, role }
            }
            T::AccountMemberRemoved => {
                let (account, agent) = self.edge(&mut canon, &aggregate, HAD_MEMBER)?;
                Change::MemberRemoved { account, agent }
            }
            T::AccountRoleAssigned | T::AccountRoleRevoked => {
                let on = kind == T::AccountRoleAssigned;
                let predicate = if on { HAS_ROLE } else { HAD_ROLE };
                self.check_predicate(&mut canon, predicate)?;
                let node = Id::parse("subject", &self.subject)?;
                let role = Id::parse("object", &self.object)?;
                let account = self.required_id(&mut canon, "account")?;
                if account != aggregate {
                    return Err(DomainError::new(
                        "attributes.account",
                        format!(
                            "must equal the aggregate id {:?} (the account's stream)",
                            self.aggregate_id
                        ),
                    ));
                }
                canon.subject = node.to_string();
                canon.object = role.to_string();
                Change::AccountEdge {
                    account,
                    node,
                    role,
                    on,
                }
            }
            T::PolicyPermissionGranted
            | T::PolicyPermissionRevoked
            | T::PolicyProhibitionSet
            | T::PolicyProhibitionRevoked => {
                let (rule_kind, predicate, on) = match kind {
                    T::PolicyPermissionGranted => (RuleKind::Permission, PERMISSION, true),
                    T::PolicyPermissionRevoked => (RuleKind::Permission, PERMISSION, false),
                    T::PolicyProhibitionSet => (RuleKind::Prohibition, PROHIBITION, true),
                    _ => (RuleKind::Prohibition, PROHIBITION, false),
                };
                self.check_predicate(&mut canon, predicate)?;
                let assignee = Id::parse("subject", &self.subject)?;
                let target = Target::parse("object", &self.object)?;
                let raw = self
                    .payload
                    .get("action")
                    .ok_or_else(|| DomainError::new("attributes.action", "is required for this event type"))?;
                let action = Action::parse("attributes.action", raw)?;
                // The rule's constraints, part of its identity (canonical text).
                let attr = |k: &str, field: &'static str| self.payload.get(k).map(|t| (field, t.as_str()));
                let (duty, remedy) = (attr("duty", "attributes.duty"), attr("remedy", "attributes.remedy"));
                if rule_kind == RuleKind::Prohibition && duty.is_some() {
                    return Err(DomainError::new(
                        "attributes.duty",
                        "a prohibition has no duties (its failures have remedies: attributes.remedy)",
                    ));
                }
                if rule_kind == RuleKind::Permission && remedy.is_some() {
                    return Err(DomainError::new(
                        "attributes.remedy",
                        "only a prohibition has remedies (a permission's preconditions are attributes.duty)",
                    ));
                }
                let condition = Condition::of(Attributes {
                    constraint: attr("constraint", "attributes.constraint"),
                    refinement: attr("refinement", "attributes.refinement"),
                    duty,
                    remedy,
                })?
                .map(Arc::new);
                canon.subject = assignee.to_string();
                canon.object = target.as_str().to_string();
                canon.payload.insert("action".into(), action.as_str().to_string());
                if let Some(c) = &condition {
                    for (key, text) in [
                        ("constraint", &c.constraint_text),
                        ("refinement", &c.refinement_text),
                        ("duty", &c.duty_text),
                        ("remedy", &c.remedy_text),
                    ] {
                        if let Some(t) = text {
                            canon.payload.insert(key.into(), t.to_string());
                        }
                    }
                }
                Change::Rule {
                    rule: Rule {
                        policy: aggregate,
                        kind: rule_kind,
                        assignee,
                        action,
                        target,
                        condition,
                    },
                    on,
                }
            }
            T::AssetAddedToCollection | T::AssetRemovedFromCollection => {
                let (asset, collection) = self.edge(&mut canon, &aggregate, PART_OF)?;
                Change::AssetCollection {
                    asset,
                    collection,
                    on: kind == T::AssetAddedToCollection,
                }
            }
            T::PolicyCreated => {
                self.no_triple()?;
                let mut policy_type = None;
                if let Some(pt) = self.payload.get("policy_type").filter(|v| !v.is_empty()) {
                    let pt = action::expand("attributes.policy_type", pt)?;
                    canon.payload.insert("policy_type".into(), pt.clone());
                    policy_type = Some(pt);
                }
                let mut conflict = None;
                if let Some(c) = self.payload.get("conflict").filter(|v| !v.is_empty()) {
                    let iri = action::expand("attributes.conflict", c)?;
                    let c = Conflict::from_iri("attributes.conflict", &iri)?;
                    canon.payload.insert("conflict".into(), c.iri().to_string());
                    conflict = Some(c);
                }
                Change::PolicyCreated {
                    policy: aggregate,
                    policy_type,
                    conflict,
                }
            }
            T::PolicyActivated
            | T::PolicyDeactivated
            | T::AgentActivated
            | T::AgentDeactivated
            | T::AccountActivated
            | T::AccountDeactivated => {
                self.no_triple()?;
                let (kind, active) = match kind {
                    T::PolicyActivated => (EntityKind::Policy, true),
                    T::PolicyDeactivated => (EntityKind::Policy, false),
                    T::AgentActivated => (EntityKind::Agent, true),
                    T::AgentDeactivated => (EntityKind::Agent, false),
                    T::AccountActivated => (EntityKind::Account, true),
                    _ => (EntityKind::Account, false),
                };
                Change::Status {
                    kind,
                    id: aggregate,
                    active,
                }
            }
        };
        Ok((canon, change))
    }

    /// A relationship whose subject is the aggregate: returns (subject, object).
    fn edge(&self, canon: &mut Triple, aggregate: &Id, predicate: &str) -> Result<(Id, Id), DomainError> {
        self.check_predicate(canon, predicate)?;
        let subject = Id::parse("subject", &self.subject)?;
        if &subject != aggregate {
            return Err(DomainError::new(
                "subject",
                format!(
                    "{:?} must equal the aggregate id {:?} for {}",
                    self.subject, self.aggregate_id, self.event_type
                ),
            ));
        }
        let object = Id::parse("object", &self.object)?;
        canon.subject = subject.to_string();
        canon.object = object.to_string();
        Ok((subject, object))
    }

    fn check_predicate(&self, canon: &mut Triple, expected: &str) -> Result<(), DomainError> {
        let got = action::expand("predicate", &self.predicate).map_err(|_| {
            DomainError::new(
                "predicate",
                format!(
                    "{} takes the predicate {} (got {:?})",
                    self.event_type,
                    action::compact_iri(expected),
                    self.predicate
                ),
            )
        })?;
        if got != expected {
            return Err(DomainError::new(
                "predicate",
                format!(
                    "{} takes the predicate {} (got {:?})",
                    self.event_type,
                    action::compact_iri(expected),
                    self.predicate
                ),
            ));
        }
        canon.predicate = expected.to_string();
        Ok(())
    }

    fn required_id(&self, canon: &mut Triple, key: &str) -> Result<Id, DomainError> {
        let field = format!("attributes.{key}");
        let raw = self
            .payload
            .get(key)
            .ok_or_else(|| DomainError::new(&field, "is required for this event type"))?;
        let id = Id::parse(&field, raw)?;
        canon.payload.insert(key.to_string(), id.to_string());
        Ok(id)
    }

    fn no_triple(&self) -> Result<(), DomainError> {
        for (field, v) in [
            ("subject", &self.subject),
            ("predicate", &self.predicate),
            ("object", &self.object),
        ] {
            if !v.is_empty() {
                return Err(DomainError::new(
                    field,
                    format!(
                        "{} names its entity by aggregate_id and carries no subject, predicate or object",
                        self.event_type
                    ),
                ));
            }
        }
        Ok(())
    }

    fn interpret_ignored(&self) -> Result<(Triple, Change), DomainError> {
        let aggregate = Id::parse("aggregate_id", &self.aggregate_id)?;
        for (field, v) in [
            ("subject", &self.subject),
            ("predicate", &self.predicate),
            ("object", &self.object),
        ] {
            if !v.is_empty() {
                check_text(field, v)?;
            }
        }
        let change = if self.event_type.starts_with("Role.") {
            let subject = if self.subject.is_empty() {
                None
            } else {
                Some(Id::parse("subject", &self.subject)?)
            };
            Change::MarkRole {
                role: aggregate,
                subject,
            }
        } else if self.event_type == "Policy.DutyDischarged"
            && matches!(
                self.predicate.as_str(),
                "odrl:duty" | "http://www.w3.org/ns/odrl/2/duty"
            )
            && let (Ok(duty), Ok(agent)) = (Id::parse("object", &self.object), Id::parse("subject", &self.subject))
        {
            // A discharge naming its duty: (policy, duty uid, who discharged it). Kept as
            // given, as every event of this type always was (its content is unchanged);
            // one of another shape stays ignored, as before.
            Change::DutyDischarged {
                policy: aggregate,
                duty,
                agent,
            }
        } else {
            Change::Ignored {
                duty: self.event_type.starts_with("Policy.Duty"),
            }
        };
        Ok((self.clone(), change))
    }
}
