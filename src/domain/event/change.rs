//! What an event does to the facts that decide: the [`Change`], with the sources of edges
//! and the kinds of status.

use crate::domain::{Conflict, Id, Rule};

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
    /// `Policy.Created`: active unless the policy already has a status; a given type (a
    /// full IRI) replaces the policy's type, none leaves it (no type at all: a Set); the
    /// same for its conflict strategy (none at all: `prohibit`).
    PolicyCreated {
        policy: Id,
        policy_type: Option<String>,
        conflict: Option<Conflict>,
    },
    /// An activation or deactivation.
    Status { kind: EntityKind, id: Id, active: bool },
    /// `Role.Created`, or a `Role.*` event with no other effect: the id is a role.
    MarkRole {
        role: Id,
        /// The event's subject, when it names one: also a role (docs/CONTRACT.md §1).
        subject: Option<Id>,
    },
    /// `Policy.DutyDischarged` naming a duty: `agent` has fulfilled the duty `duty` of
    /// `policy`'s permissions (a fact; there is no event that undoes it).
    DutyDischarged { policy: Id, duty: Id, agent: Id },
    /// `Asset.AddedToCollection` / `Asset.RemovedFromCollection`: the asset (a target id)
    /// is part of the asset collection (another target id), on or off. A rule on the
    /// collection covers the asset, transitively (docs/CONTRACT.md §1, "Asset
    /// collections").
    AssetCollection { asset: Id, collection: Id, on: bool },
    /// Stored, no effect on decisions. `duty` counts ignored duty events.
    Ignored { duty: bool },
}

impl Change {
    /// Ids this change makes roles, permanently (docs/CONTRACT.md §1).
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
