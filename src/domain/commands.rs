//! Admin commands: each turns validated input into the catalogue's triple events.
//!
//! A command handler returns events or an error, never both. The events of a command
//! with a `request_id` get ids derived from it, so a retry is the same write.

use crate::domain::event::Triple;
use crate::domain::id::check_text;
use crate::domain::{Action, DomainError, EntityKind, Id, NewEvent, RuleKind, Target};
use std::collections::BTreeMap;

/// Longest request id, in bytes (event ids derived from it stay under the id limit).
pub const MAX_REQUEST_ID_BYTES: usize = 256;

/// A rule named by its parts, for grant, revoke, set and revoke-prohibition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub policy: Id,
    pub assignee: Id,
    pub action: Action,
    pub target: Target,
    /// The rule's constraints (canonical), part of its identity.
    pub condition: Option<std::sync::Arc<crate::domain::constraint::Condition>>,
}

impl RuleSpec {
    pub fn parse(policy: &str, assignee: &str, action: &str, target: &str) -> Result<RuleSpec, DomainError> {
        Ok(RuleSpec {
            policy: Id::parse("policy_id", policy)?,
            assignee: Id::parse("assignee", assignee)?,
            action: Action::parse("action", action)?,
            target: Target::parse("target", target)?,
            condition: None,
        })
    }

    /// With constraints and action refinements (each JSON, one constraint or an array;
    /// empty: none).
    /// With a condition: `[constraint, refinement, duty, remedy]`, each JSON (empty: none).
    pub fn with_condition(mut self, attributes: [&str; 4]) -> Result<RuleSpec, DomainError> {
        let [constraint, refinement, duty, remedy] = attributes;
        fn part<'a>(field: &'a str, t: &'a str) -> Option<(&'a str, &'a str)> {
            (!t.trim().is_empty()).then_some((field, t))
        }
        self.condition = crate::domain::constraint::Condition::of(crate::domain::constraint::Attributes {
            constraint: part("constraint", constraint),
            refinement: part("refinement", refinement),
            duty: part("duty", duty),
            remedy: part("remedy", remedy),
        })?
        .map(std::sync::Arc::new);
        Ok(self)
    }
}

/// Every write of the admin API (docs/CONTRACT.md §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    AssignRole {
        agent: Id,
        role: Id,
        account: Option<Id>,
    },
    RevokeRole {
        agent: Id,
        role: Id,
        account: Option<Id>,
    },
    AddMember {
        account: Id,
        agent: Id,
        role: Id,
    },
    ChangeMemberRole {
        account: Id,
        agent: Id,
        role: Id,
    },
    RemoveMember {
        account: Id,
        agent: Id,
    },
    AssignRoleToRole {
        role: Id,
        parent: Id,
    },
    RevokeRoleFromRole {
        role: Id,
        parent: Id,
    },
    AddGroupMember {
        agent: Id,
        group: Id,
    },
    RemoveGroupMember {
        agent: Id,
        group: Id,
    },
    AddToCollection {
        asset: Id,
        collection: Id,
    },
    RemoveFromCollection {
        asset: Id,
        collection: Id,
    },
    GrantPermission(RuleSpec),
    RevokePermission(RuleSpec),
    SetProhibition(RuleSpec),
    RevokeProhibition(RuleSpec),
    CreatePolicy {
        policy: Id,
        policy_type: Option<String>,
        /// `odrl:perm`, `odrl:prohibit` or `odrl:invalid` (checked when the event is parsed).
        conflict: Option<String>,
    },
    SetStatus {
        kind: EntityKind,
        id: Id,
        active: bool,
    },
}

impl Command {
    /// The command's name, as written in the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Command::AssignRole { .. } => "AssignRole",
            Command::RevokeRole { .. } => "RevokeRole",
            Command::AddMember { .. } => "AddMember",
            Command::ChangeMemberRole { .. } => "ChangeMemberRole",
            Command::RemoveMember { .. } => "RemoveMember",
            Command::AssignRoleToRole { .. } => "AssignRoleToRole",
            Command::RevokeRoleFromRole { .. } => "RevokeRoleFromRole",
            Command::AddGroupMember { .. } => "AddGroupMember",
            Command::RemoveGroupMember { .. } => "RemoveGroupMember",
            Command::AddToCollection { .. } => "AddToCollection",
            Command::RemoveFromCollection { .. } => "RemoveFromCollection",
            Command::GrantPermission(_) => "GrantPermission",
            Command::RevokePermission(_) => "RevokePermission",
            Command::SetProhibition(_) => "SetProhibition",
            Command::RevokeProhibition(_) => "RevokeProhibition",
            Command::CreatePolicy { .. } => "CreatePolicy",
            Command::SetStatus {
                kind: EntityKind::Policy,
                active: true,
                ..
            } => "ActivatePolicy",
            Command::SetStatus {
                kind: EntityKind::Policy,
                active: false,
                ..
            } => "DeactivatePolicy",
            Command::SetStatus {
                kind: EntityKind::Agent,
                active: true,
                ..
            } => "ActivateAgent",
            Command::SetStatus {
                kind: EntityKind::Agent,
                active: false,
                ..
            } => "DeactivateAgent",
            Command::SetStatus {
                kind: EntityKind::Account,
                active: true,
                ..
            } => "ActivateAccount",
            Command::SetStatus {
                kind: EntityKind::Account,
                active: false,
                ..
            } => "DeactivateAccount",
        }
    }

    /// The triples this command produces, in order.
    fn triples(&self) -> Vec<Triple> {
        fn t(ty: &str, agg: &Id, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> Triple {
            Triple {
                event_type: ty.into(),
                aggregate_id: agg.to_string(),
                subject: s.into(),
                predicate: p.into(),
                object: o.into(),
                payload: kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            }
        }
        fn rule(ty: &str, pred: &str, r: &RuleSpec) -> Triple {
            let mut attrs = vec![("action", r.action.as_str())];
            if let Some(c) = &r.condition {
                if let Some(t) = &c.constraint_text {
                    attrs.push(("constraint", t));
                }
                if let Some(t) = &c.refinement_text {
                    attrs.push(("refinement", t));
                }
                if let Some(t) = &c.duty_text {
                    attrs.push(("duty", t));
                }
                if let Some(t) = &c.remedy_text {
                    attrs.push(("remedy", t));
                }
            }
            t(ty, &r.policy, r.assignee.as_str(), pred, r.target.as_str(), &attrs)
        }
        match self {
            Command::AssignRole {
                agent,
                role,
                account: None,
            } => {
                vec![t(
                    "Agent.RoleAssigned",
                    agent,
                    agent.as_str(),
                    "org:hasRole",
                    role.as_str(),
                    &[],
                )]
            }
            Command::RevokeRole {
                agent,
                role,
                account: None,
            } => {
                vec![t(
                    "Agent.RoleRevoked",
                    agent,
                    agent.as_str(),
                    "org:hadRole",
                    role.as_str(),
                    &[],
                )]
            }
            Command::AssignRole {
                agent,
                role,
                account: Some(acc),
            } => vec![t(
                "Account.RoleAssigned",
                acc,
                agent.as_str(),
                "org:hasRole",
                role.as_str(),
                &[("account", acc.as_str())],
            )],
            Command::RevokeRole {
                agent,
                role,
                account: Some(acc),
            } => vec![t(
                "Account.RoleRevoked",
                acc,
                agent.as_str(),
                "org:hadRole",
                role.as_str(),
                &[("account", acc.as_str())],
            )],
            Command::AddMember { account, agent, role } => vec![t(
                "Account.MemberAdded",
                account,
                account.as_str(),
                "org:hasMember",
                agent.as_str(),
                &[("role", role.as_str())],
            )],
            Command::ChangeMemberRole { account, agent, role } => vec![t(
                "Account.MemberRoleChanged",
                account,
                account.as_str(),
                "org:hasMember",
                agent.as_str(),
                &[("role", role.as_str())],
            )],
            Command::RemoveMember { account, agent } => vec![t(
                "Account.MemberRemoved",
                account,
                account.as_str(),
                "org:hadMember",
                agent.as_str(),
                &[],
            )],
            Command::AssignRoleToRole { role, parent } => {
                vec![t(
                    "Role.RoleAssigned",
                    role,
                    role.as_str(),
                    "org:hasRole",
                    parent.as_str(),
                    &[],
                )]
            }
            Command::RevokeRoleFromRole { role, parent } => {
                vec![t(
                    "Role.RoleRevoked",
                    role,
                    role.as_str(),
                    "org:hadRole",
                    parent.as_str(),
                    &[],
                )]
            }
            Command::AddGroupMember { agent, group } => {
                vec![t(
                    "Agent.GroupMembershipAdded",
                    agent,
                    agent.as_str(),
                    "foaf:member",
                    group.as_str(),
                    &[],
                )]
            }
            Command::RemoveGroupMember { agent, group } => {
                vec![t(
                    "Agent.GroupMembershipRemoved",
                    agent,
                    agent.as_str(),
                    "foaf:member",
                    group.as_str(),
                    &[],
                )]
            }
            Command::AddToCollection { asset, collection } => vec![t(
                "Asset.AddedToCollection",
                asset,
                asset.as_str(),
                "odrl:partOf",
                collection.as_str(),
                &[],
            )],
            Command::RemoveFromCollection { asset, collection } => vec![t(
                "Asset.RemovedFromCollection",
                asset,
                asset.as_str(),
                "odrl:partOf",
                collection.as_str(),
                &[],
            )],
            Command::GrantPermission(r) => vec![rule("Policy.PermissionGranted", "odrl:permission", r)],
            Command::RevokePermission(r) => vec![rule("Policy.PermissionRevoked", "odrl:permission", r)],
            Command::SetProhibition(r) => vec![rule("Policy.ProhibitionSet", "odrl:prohibition", r)],
            Command::RevokeProhibition(r) => vec![rule("Policy.ProhibitionRevoked", "odrl:prohibition", r)],
            Command::CreatePolicy {
                policy,
                policy_type,
                conflict,
            } => {
                let kv: Vec<(&str, &str)> = policy_type
                    .iter()
                    .map(|p| ("policy_type", p.as_str()))
                    .chain(conflict.iter().map(|c| ("conflict", c.as_str())))
                    .collect();
                vec![t("Policy.Created", policy, "", "", "", &kv)]
            }
            Command::SetStatus { kind, id, active } => {
                let ty = match (kind, active) {
                    (EntityKind::Policy, true) => "Policy.Activated",
                    (EntityKind::Policy, false) => "Policy.Deactivated",
                    (EntityKind::Agent, true) => "Agent.Activated",
                    (EntityKind::Agent, false) => "Agent.Deactivated",
                    (EntityKind::Account, true) => "Account.Activated",
                    (EntityKind::Account, false) => "Account.Deactivated",
                };
                vec![t(ty, id, "", "", "", &[])]
            }
        }
    }

    /// The events this command produces. With a request id, their ids are derived from
    /// it; metadata carries the correlation id.
    pub fn to_events(
        &self,
        request_id: Option<&str>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<Vec<NewEvent>, DomainError> {
        if let Some(r) = request_id {
            check_request_id(r)?;
        }
        self.triples()
            .iter()
            .enumerate()
            .map(|(i, triple)| {
                let id = request_id.map(|r| format!("req:{r}:{i}")).unwrap_or_default();
                NewEvent::parse(&id, triple, None, None, metadata.clone())
            })
            .collect()
    }
}

/// Checks a caller's request id.
pub fn check_request_id(r: &str) -> Result<(), DomainError> {
    check_text("request_id", r)?;
    if r.len() > MAX_REQUEST_ID_BYTES {
        return Err(DomainError::new(
            "request_id",
            format!("is {} bytes; the limit is {MAX_REQUEST_ID_BYTES}", r.len()),
        ));
    }
    Ok(())
}

/// Parses an optional account id: empty means global.
pub fn optional_id(field: &str, s: &str) -> Result<Option<Id>, DomainError> {
    if s.is_empty() {
        Ok(None)
    } else {
        Id::parse(field, s).map(Some)
    }
}

/// The rule kind a command acts on, if any.
pub fn rule_kind(c: &Command) -> Option<RuleKind> {
    match c {
        Command::GrantPermission(_) | Command::RevokePermission(_) => Some(RuleKind::Permission),
        Command::SetProhibition(_) | Command::RevokeProhibition(_) => Some(RuleKind::Prohibition),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
