//! Triple events: the catalogue of DESIGN §2, and the change each one makes.
//!
//! The event type decides the meaning; the predicate must be the one the catalogue gives
//! for that type and the subject (or the `account` payload) must equal the aggregate id.
//! Parsing an event yields its canonical form (full IRIs, only the payload keys its type
//! uses) and the [`Change`] it makes to the read model.

use crate::domain::action::{self, Action, FOAF_NS, ODRL_NS, ORG_NS};
use crate::domain::id::{MAX_ID_BYTES, check_text};
use crate::domain::{DomainError, Id, Rule, RuleKind, Target};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Most metadata entries an event may carry.
pub const MAX_METADATA_ENTRIES: usize = 32;
/// Most payload attributes an event may carry.
pub const MAX_ATTRIBUTES: usize = 32;
/// Longest metadata or attribute key, in bytes.
pub const MAX_KEY_BYTES: usize = 128;
/// Longest metadata or attribute value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// Where a global edge came from. Edges from different sources are independent facts;
/// an edge counts while any source holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeSource {
    /// `Agent.RoleAssigned`.
    Role,
    /// `Agent.GroupMembershipAdded`.
    Group,
    /// `Role.RoleAssigned`.
    RoleToRole,
}

impl EdgeSource {
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeSource::Role => "role",
            EdgeSource::Group => "group",
            EdgeSource::RoleToRole => "role-to-role",
        }
    }
    pub fn parse_stored(s: &str) -> Option<EdgeSource> {
        match s {
            "role" => Some(EdgeSource::Role),
            "group" => Some(EdgeSource::Group),
            "role-to-role" => Some(EdgeSource::RoleToRole),
            _ => None,
        }
    }
    /// One bit per source, for the index's edge sets.
    pub fn bit(self) -> u8 {
        match self {
            EdgeSource::Role => 1,
            EdgeSource::Group => 2,
            EdgeSource::RoleToRole => 4,
        }
    }
}

/// Entities that carry an active/inactive status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntityKind {
    Policy,
    Agent,
    Account,
}

impl EntityKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Policy => "policy",
            EntityKind::Agent => "agent",
            EntityKind::Account => "account",
        }
    }
    pub fn parse_stored(s: &str) -> Option<EntityKind> {
        match s {
            "policy" => Some(EntityKind::Policy),
            "agent" => Some(EntityKind::Agent),
            "account" => Some(EntityKind::Account),
            _ => None,
        }
    }
}

/// What an event does to the read model. Applying a change is a set operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A global edge from a node (agent, group or role) to a role, on or off.
    GlobalEdge {
        source: EdgeSource,
        node: Id,
        role: Id,
        on: bool,
    },
    /// An explicit account edge (`Account.RoleAssigned` / `Account.RoleRevoked`).
    AccountEdge { account: Id, node: Id, role: Id, on: bool },
    /// Membership with this one role (`Account.MemberAdded` / `MemberRoleChanged`).
    MemberSet { account: Id, agent: Id, role: Id },
    /// Membership ends, and with it every account edge of the agent in the account.
    MemberRemoved { account: Id, agent: Id },
    /// A rule on or off.
    Rule { rule: Rule, on: bool },
    /// `Policy.Created`: active unless the policy already has a status.
    PolicyCreated { policy: Id },
    /// An activation or deactivation.
    Status { kind: EntityKind, id: Id, active: bool },
    /// `Role.Created`, or a `Role.*` event with no other effect: the id is a role.
    MarkRole {
        role: Id,
        /// The event's subject, when it names one: also a role (DESIGN §1).
        subject: Option<Id>,
    },
    /// Stored, no effect on decisions. `duty` counts ignored duty events.
    Ignored { duty: bool },
}

impl Change {
    /// Ids this change makes roles, permanently (DESIGN §1).
    ///
    /// A revoke never marks its object: an edge that existed marked it when it was
    /// switched on, and a revoke of an edge that never existed must change nothing. The
    /// subject of a `Role.*` event is a role whatever the event does.
    pub fn roles_marked(&self) -> Vec<&Id> {
        match self {
            Change::GlobalEdge {
                source: EdgeSource::RoleToRole,
                node,
                on: false,
                ..
            } => vec![node],
            Change::GlobalEdge { on: false, .. } | Change::AccountEdge { on: false, .. } => vec![],
            Change::GlobalEdge {
                source: EdgeSource::RoleToRole,
                node,
                role,
                ..
            } => vec![node, role],
            Change::GlobalEdge { role, .. } => vec![role],
            Change::AccountEdge { role, .. } => vec![role],
            Change::MemberSet { role, .. } => vec![role],
            Change::MarkRole { role, subject } => std::iter::once(role).chain(subject.as_ref()).collect(),
            _ => vec![],
        }
    }
}

/// The decision-changing event types (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    AgentRoleAssigned,
    AgentRoleRevoked,
    AgentGroupMembershipAdded,
    AgentGroupMembershipRemoved,
    RoleRoleAssigned,
    RoleRoleRevoked,
    AccountMemberAdded,
    AccountMemberRoleChanged,
    AccountMemberRemoved,
    AccountRoleAssigned,
    AccountRoleRevoked,
    PolicyPermissionGranted,
    PolicyPermissionRevoked,
    PolicyProhibitionSet,
    PolicyProhibitionRevoked,
    PolicyCreated,
    PolicyActivated,
    PolicyDeactivated,
    AgentActivated,
    AgentDeactivated,
    AccountActivated,
    AccountDeactivated,
}

use EventType as T;

const TYPES: &[(&str, EventType)] = &[
    ("Agent.RoleAssigned", T::AgentRoleAssigned),
    ("Agent.RoleRevoked", T::AgentRoleRevoked),
    ("Agent.GroupMembershipAdded", T::AgentGroupMembershipAdded),
    ("Agent.GroupMembershipRemoved", T::AgentGroupMembershipRemoved),
    ("Role.RoleAssigned", T::RoleRoleAssigned),
    ("Role.RoleRevoked", T::RoleRoleRevoked),
    ("Account.MemberAdded", T::AccountMemberAdded),
    ("Account.MemberRoleChanged", T::AccountMemberRoleChanged),
    ("Account.MemberRemoved", T::AccountMemberRemoved),
    ("Account.RoleAssigned", T::AccountRoleAssigned),
    ("Account.RoleRevoked", T::AccountRoleRevoked),
    ("Policy.PermissionGranted", T::PolicyPermissionGranted),
    ("Policy.PermissionRevoked", T::PolicyPermissionRevoked),
    ("Policy.ProhibitionSet", T::PolicyProhibitionSet),
    ("Policy.ProhibitionRevoked", T::PolicyProhibitionRevoked),
    ("Policy.Created", T::PolicyCreated),
    ("Policy.Activated", T::PolicyActivated),
    ("Policy.Deactivated", T::PolicyDeactivated),
    ("Agent.Activated", T::AgentActivated),
    ("Agent.Deactivated", T::AgentDeactivated),
    ("Account.Activated", T::AccountActivated),
    ("Account.Deactivated", T::AccountDeactivated),
];

/// Stored but ignored by decisions, so a whole Pericarp log can be piped in.
const IGNORED_TYPES: &[&str] = &[
    "Agent.Created",
    "Agent.Invited",
    "Agent.NameUpdated",
    "Role.Created",
    "Policy.Assigned",
    "Policy.DutyImposed",
    "Policy.DutyDischarged",
    "Account.Created",
];
const IGNORED_PREFIXES: &[&str] = &["Credential.", "PasswordCredential.", "Session.", "Invite."];

impl EventType {
    pub fn parse(s: &str) -> Option<EventType> {
        TYPES.iter().find(|(n, _)| *n == s).map(|(_, t)| *t)
    }
    pub fn name(self) -> &'static str {
        TYPES.iter().find(|(_, t)| *t == self).map(|(n, _)| *n).unwrap_or("")
    }
}

/// True for the Pericarp types that are stored but do not change decisions.
pub fn is_ignored_type(s: &str) -> bool {
    IGNORED_TYPES.contains(&s)
        || IGNORED_PREFIXES.iter().any(|p| {
            s.strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace))
        })
}

const HAS_ROLE: &str = "http://www.w3.org/ns/org#hasRole";
const HAD_ROLE: &str = "http://www.w3.org/ns/org#hadRole";
const HAS_MEMBER: &str = "http://www.w3.org/ns/org#hasMember";
const HAD_MEMBER: &str = "http://www.w3.org/ns/org#hadMember";
const MEMBER: &str = "http://xmlns.com/foaf/0.1/member";
const PERMISSION: &str = "http://www.w3.org/ns/odrl/2/permission";
const PROHIBITION: &str = "http://www.w3.org/ns/odrl/2/prohibition";

// Keep the namespace constants and the predicate IRIs in step.
const _: () = {
    assert!(HAS_ROLE.len() == ORG_NS.len() + 7);
    assert!(MEMBER.len() == FOAF_NS.len() + 6);
    assert!(PERMISSION.len() == ODRL_NS.len() + 10);
};

/// The parts of a triple event that make its content (DESIGN §2: its identity for
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
            T::AgentRoleAssigned | T::AgentRoleRevoked => {
                let on = kind == T::AgentRoleAssigned;
                let (node, role) = self.edge(&mut canon, &aggregate, if on { HAS_ROLE } else { HAD_ROLE })?;
                Change::GlobalEdge {
                    source: EdgeSource::Role,
                    node,
                    role,
                    on,
                }
            }
            T::AgentGroupMembershipAdded | T::AgentGroupMembershipRemoved => {
                let on = kind == T::AgentGroupMembershipAdded;
                let (node, role) = self.edge(&mut canon, &aggregate, MEMBER)?;
                Change::GlobalEdge {
                    source: EdgeSource::Group,
                    node,
                    role,
                    on,
                }
            }
            T::RoleRoleAssigned | T::RoleRoleRevoked => {
                let on = kind == T::RoleRoleAssigned;
                let (node, role) = self.edge(&mut canon, &aggregate, if on { HAS_ROLE } else { HAD_ROLE })?;
                Change::GlobalEdge {
                    source: EdgeSource::RoleToRole,
                    node,
                    role,
                    on,
                }
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
                canon.subject = assignee.to_string();
                canon.object = target.as_str().to_string();
                canon.payload.insert("action".into(), action.as_str().to_string());
                Change::Rule {
                    rule: Rule {
                        policy: aggregate,
                        kind: rule_kind,
                        assignee,
                        action,
                        target,
                    },
                    on,
                }
            }
            T::PolicyCreated => {
                self.no_triple()?;
                if let Some(pt) = self.payload.get("policy_type").filter(|v| !v.is_empty()) {
                    let pt = action::expand("attributes.policy_type", pt)?;
                    canon.payload.insert("policy_type".into(), pt);
                }
                Change::PolicyCreated { policy: aggregate }
            }
            T::PolicyActivated | T::PolicyDeactivated => {
                self.no_triple()?;
                Change::Status {
                    kind: EntityKind::Policy,
                    id: aggregate,
                    active: kind == T::PolicyActivated,
                }
            }
            T::AgentActivated | T::AgentDeactivated => {
                self.no_triple()?;
                Change::Status {
                    kind: EntityKind::Agent,
                    id: aggregate,
                    active: kind == T::AgentActivated,
                }
            }
            T::AccountActivated | T::AccountDeactivated => {
                self.no_triple()?;
                Change::Status {
                    kind: EntityKind::Account,
                    id: aggregate,
                    active: kind == T::AccountActivated,
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
        } else {
            Change::Ignored {
                duty: self.event_type.starts_with("Policy.Duty"),
            }
        };
        Ok((self.clone(), change))
    }
}

/// An event as a caller submits it, before the store assigns position and sequence.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// None: the store generates a time-sortable id.
    pub id: Option<String>,
    /// Canonical triple (full IRIs, only the payload keys the type uses).
    pub triple: Triple,
    pub timestamp: Option<DateTime<Utc>>,
    pub expected_version: Option<i64>,
    pub metadata: BTreeMap<String, String>,
    /// What applying it does.
    pub change: Change,
}

impl NewEvent {
    /// Parses an event as submitted. `triple` may use CURIEs; the result is canonical.
    pub fn parse(
        id: &str,
        triple: &Triple,
        timestamp: Option<DateTime<Utc>>,
        expected_version: Option<i64>,
        metadata: BTreeMap<String, String>,
    ) -> Result<NewEvent, DomainError> {
        let id = if id.is_empty() {
            None
        } else {
            check_text("id", id)?;
            Some(id.to_string())
        };
        if let Some(v) = expected_version
            && v < 0
        {
            return Err(DomainError::new("expected_version", "must not be negative"));
        }
        check_map("attributes", &triple.payload, MAX_ATTRIBUTES)?;
        check_map("metadata", &metadata, MAX_METADATA_ENTRIES)?;
        let (canon, change) = triple.interpret()?;
        Ok(NewEvent {
            id,
            triple: canon,
            timestamp,
            expected_version,
            metadata,
            change,
        })
    }
}

fn check_map(field: &str, map: &BTreeMap<String, String>, max: usize) -> Result<(), DomainError> {
    if map.len() > max {
        return Err(DomainError::new(
            field,
            format!("has {} entries; the limit is {max}", map.len()),
        ));
    }
    for (k, v) in map {
        if k.is_empty() || k.len() > MAX_KEY_BYTES {
            return Err(DomainError::new(field, format!("keys must be 1-{MAX_KEY_BYTES} bytes")));
        }
        if v.len() > MAX_VALUE_BYTES {
            return Err(DomainError::new(
                format!("{field}.{k}"),
                format!("is {} bytes; the limit is {MAX_VALUE_BYTES}", v.len()),
            ));
        }
    }
    Ok(())
}

/// An event as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: String,
    pub triple: Triple,
    pub timestamp: DateTime<Utc>,
    /// Per aggregate, from 1.
    pub sequence_no: i64,
    pub metadata: BTreeMap<String, String>,
    /// Global revision, from 1, without gaps.
    pub position: u64,
}

impl StoredEvent {
    /// The change this stored event makes. It was checked when it was appended, so an
    /// error here means the log holds something this version cannot interpret.
    pub fn change(&self) -> Result<Change, DomainError> {
        self.triple.interpret().map(|(_, c)| c)
    }
}

// Keep MAX_ID_BYTES referenced for the docs table.
#[allow(dead_code)]
const _ID_LIMIT: usize = MAX_ID_BYTES;

#[cfg(test)]
mod tests {
    use super::*;

    fn triple(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> Triple {
        Triple::new(ty, agg, s, p, o, kv)
    }

    #[test]
    fn the_type_decides_and_the_triple_must_fit() {
        let ok = triple("Agent.RoleAssigned", "a", "a", "org:hasRole", "r", &[]);
        assert!(ok.interpret().is_ok());
        let full = triple(
            "Agent.RoleAssigned",
            "a",
            "a",
            "http://www.w3.org/ns/org#hasRole",
            "r",
            &[],
        );
        assert_eq!(
            ok.interpret().unwrap().0.content(),
            full.interpret().unwrap().0.content()
        );
        for bad in [
            triple("Agent.RoleAssigned", "a", "b", "org:hasRole", "r", &[]),
            triple("Agent.RoleAssigned", "a", "a", "org:hadRole", "r", &[]),
            triple("Agent.RoleAssigned", "a", "a", "org:hasRole", "*", &[]),
            triple("Agent.RoleAssigned", "*", "*", "org:hasRole", "r", &[]),
            triple("Agent.Exploded", "a", "a", "org:hasRole", "r", &[]),
            triple("Account.MemberAdded", "acc", "acc", "org:hasMember", "m", &[]),
            triple(
                "Account.RoleAssigned",
                "acc",
                "m",
                "org:hasRole",
                "r",
                &[("account", "other")],
            ),
            triple("Policy.PermissionGranted", "p", "a", "odrl:permission", "x", &[]),
            triple(
                "Policy.PermissionGranted",
                "p",
                "a",
                "odrl:prohibition",
                "x",
                &[("action", "odrl:read")],
            ),
            triple(
                "Policy.PermissionGranted",
                "p",
                "*",
                "odrl:permission",
                "x",
                &[("action", "odrl:read")],
            ),
            triple("Policy.Activated", "p", "p", "", "", &[]),
        ] {
            assert!(bad.interpret().is_err(), "{bad:?} must be refused");
        }
        let star = triple(
            "Policy.PermissionGranted",
            "p",
            "a",
            "odrl:permission",
            "*",
            &[("action", "odrl:write"), ("extra", "x")],
        );
        let (canon, change) = star.interpret().unwrap();
        assert_eq!(canon.payload.len(), 1);
        assert_eq!(canon.payload["action"], "http://www.w3.org/ns/odrl/2/modify");
        assert!(matches!(change, Change::Rule { on: true, .. }));
    }

    #[test]
    fn ignored_types_are_stored_without_effect() {
        assert!(matches!(
            triple("Agent.Created", "a", "", "", "", &[("name", "A")])
                .interpret()
                .unwrap()
                .1,
            Change::Ignored { duty: false }
        ));
        assert!(matches!(
            triple("Policy.DutyImposed", "p", "", "", "", &[])
                .interpret()
                .unwrap()
                .1,
            Change::Ignored { duty: true }
        ));
        assert!(matches!(
            triple("Session.Started", "s", "", "", "", &[]).interpret().unwrap().1,
            Change::Ignored { .. }
        ));
        assert!(matches!(
            triple("Role.Created", "r", "", "", "", &[]).interpret().unwrap().1,
            Change::MarkRole { .. }
        ));
        assert!(triple("Session.", "s", "", "", "", &[]).interpret().is_err());
    }
}
