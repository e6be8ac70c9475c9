//! The event catalogue (docs/CONTRACT.md §2): the decision-changing types, the types stored
//! but ignored, and the predicate each type requires.

use crate::domain::action::{FOAF_NS, ODRL_NS, ORG_NS};

/// The decision-changing event types (docs/CONTRACT.md §2).
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
    AssetAddedToCollection,
    AssetRemovedFromCollection,
}

use EventType as T;

pub(super) const TYPES: &[(&str, EventType)] = &[
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
    ("Asset.AddedToCollection", T::AssetAddedToCollection),
    ("Asset.RemovedFromCollection", T::AssetRemovedFromCollection),
];

/// Stored but ignored by decisions, so a whole Pericarp log can be piped in.
pub(super) const IGNORED_TYPES: &[&str] = &[
    "Agent.Created",
    "Agent.Invited",
    "Agent.NameUpdated",
    "Role.Created",
    "Policy.Assigned",
    "Policy.DutyImposed",
    "Policy.DutyDischarged",
    "Account.Created",
];
pub(super) const IGNORED_PREFIXES: &[&str] = &["Credential.", "PasswordCredential.", "Session.", "Invite."];

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

pub(super) const HAS_ROLE: &str = "http://www.w3.org/ns/org#hasRole";
pub(super) const HAD_ROLE: &str = "http://www.w3.org/ns/org#hadRole";
pub(super) const HAS_MEMBER: &str = "http://www.w3.org/ns/org#hasMember";
pub(super) const HAD_MEMBER: &str = "http://www.w3.org/ns/org#hadMember";
pub(super) const MEMBER: &str = "http://xmlns.com/foaf/0.1/member";
pub(super) const PERMISSION: &str = "http://www.w3.org/ns/odrl/2/permission";
pub(super) const PROHIBITION: &str = "http://www.w3.org/ns/odrl/2/prohibition";
pub(super) const PART_OF: &str = "http://www.w3.org/ns/odrl/2/partOf";

// Keep the namespace constants and the predicate IRIs in step.
const _: () = {
    assert!(HAS_ROLE.len() == ORG_NS.len() + 7);
    assert!(MEMBER.len() == FOAF_NS.len() + 6);
    assert!(PERMISSION.len() == ODRL_NS.len() + 10);
};
