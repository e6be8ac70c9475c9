//! The admin commands: every write as one [`Write`] sent by one [`send`], and the reads
//! (`status`, `list`).

use super::args::{AdminTarget, AssetOp, GroupOp, ListOp, MemberOp, PolicyOp, RoleOp, RuleOp, StatusOp};
use super::check::rule_text;
use super::client::ClientOptions;
use crate::grpc::pb;

/// Every admin write the CLI makes, as the request its RPC takes.
pub enum Write {
    AssignRole(pb::RoleAssignmentRequest),
    RevokeRole(pb::RoleAssignmentRequest),
    AssignRoleToRole(pb::RoleToRoleRequest),
    RevokeRoleFromRole(pb::RoleToRoleRequest),
    AddGroupMember(pb::GroupMembershipRequest),
    AddToCollection(pb::AssetCollectionRequest),
    RemoveFromCollection(pb::AssetCollectionRequest),
    RemoveGroupMember(pb::GroupMembershipRequest),
    AddMember(pb::MemberRequest),
    ChangeMemberRole(pb::MemberRequest),
    RemoveMember(pb::MemberRequest),
    GrantPermission(pb::RuleRequest),
    RevokePermission(pb::RuleRequest),
    SetProhibition(pb::RuleRequest),
    RevokeProhibition(pb::RuleRequest),
    CreatePolicy(pb::CreatePolicyRequest),
    ActivatePolicy(pb::StatusRequest),
    DeactivatePolicy(pb::StatusRequest),
    ActivateAgent(pb::StatusRequest),
    DeactivateAgent(pb::StatusRequest),
    ActivateAccount(pb::StatusRequest),
    DeactivateAccount(pb::StatusRequest),
}

impl RoleOp {
    pub fn write(self, request_id: String) -> Write {
        let role = |agent_id, role_id, account: Option<String>| pb::RoleAssignmentRequest {
            agent_id,
            role_id,
            account_id: account.unwrap_or_default(),
            request_id: request_id.clone(),
        };
        let edge = |role_id, parent_role_id| pb::RoleToRoleRequest {
            role_id,
            parent_role_id,
            request_id: request_id.clone(),
        };
        match self {
            RoleOp::Assign {
                agent,
                role: r,
                account,
            } => Write::AssignRole(role(agent, r, account)),
            RoleOp::Revoke {
                agent,
                role: r,
                account,
            } => Write::RevokeRole(role(agent, r, account)),
            RoleOp::Inherit { role, parent } => Write::AssignRoleToRole(edge(role, parent)),
            RoleOp::Uninherit { role, parent } => Write::RevokeRoleFromRole(edge(role, parent)),
        }
    }
}

impl GroupOp {
    pub fn write(self, request_id: String) -> Write {
        let (add, agent_id, group_id) = match self {
            GroupOp::Add { agent, group } => (true, agent, group),
            GroupOp::Remove { agent, group } => (false, agent, group),
        };
        let r = pb::GroupMembershipRequest {
            agent_id,
            group_id,
            request_id,
        };
        if add {
            Write::AddGroupMember(r)
        } else {
            Write::RemoveGroupMember(r)
        }
    }
}

impl AssetOp {
    pub fn write(self, request_id: String) -> Write {
        let r = |asset_id, collection_id| pb::AssetCollectionRequest {
            asset_id,
            collection_id,
            request_id,
        };
        match self {
            AssetOp::Add { asset, collection } => Write::AddToCollection(r(asset, collection)),
            AssetOp::Remove { asset, collection } => Write::RemoveFromCollection(r(asset, collection)),
        }
    }
}

impl MemberOp {
    pub fn write(self, request_id: String) -> Write {
        let member = |account_id, agent_id, role_id| pb::MemberRequest {
            account_id,
            agent_id,
            role_id,
            request_id: request_id.clone(),
        };
        match self {
            MemberOp::Add { account, agent, role } => Write::AddMember(member(account, agent, role)),
            MemberOp::Change { account, agent, role } => Write::ChangeMemberRole(member(account, agent, role)),
            MemberOp::Remove { account, agent } => Write::RemoveMember(member(account, agent, String::new())),
        }
    }
}

impl RuleOp {
    /// A permission (`permission`) or a prohibition, granted or revoked.
    pub fn write(self, request_id: String, permission: bool) -> Write {
        let (grant, policy_id, assignee, action, target, condition) = match self {
            RuleOp::Grant {
                policy,
                assignee,
                action,
                target,
                condition,
            } => (true, policy, assignee, action, target, condition),
            RuleOp::Revoke {
                policy,
                assignee,
                action,
                target,
                condition,
            } => (false, policy, assignee, action, target, condition),
        };
        let r = pb::RuleRequest {
            policy_id,
            assignee,
            action,
            target,
            request_id,
            constraint: condition.constraint.unwrap_or_default(),
            refinement: condition.refinement.unwrap_or_default(),
            duty: condition.duty.unwrap_or_default(),
            remedy: condition.remedy.unwrap_or_default(),
        };
        match (permission, grant) {
            (true, true) => Write::GrantPermission(r),
            (true, false) => Write::RevokePermission(r),
            (false, true) => Write::SetProhibition(r),
            (false, false) => Write::RevokeProhibition(r),
        }
    }
}

impl PolicyOp {
    pub fn write(self, request_id: String) -> Write {
        let status = |id| pb::StatusRequest {
            id,
            request_id: request_id.clone(),
        };
        match self {
            PolicyOp::Create {
                policy,
                policy_type,
                conflict,
            } => Write::CreatePolicy(pb::CreatePolicyRequest {
                policy_id: policy,
                policy_type: policy_type.unwrap_or_default(),
                request_id: request_id.clone(),
                conflict: conflict.unwrap_or_default(),
            }),
            PolicyOp::Activate { policy } => Write::ActivatePolicy(status(policy)),
            PolicyOp::Deactivate { policy } => Write::DeactivatePolicy(status(policy)),
        }
    }
}

impl StatusOp {
    /// An agent's (`agent`) or an account's status.
    pub fn write(self, request_id: String, agent: bool) -> Write {
        let (activate, id) = match self {
            StatusOp::Activate { id } => (true, id),
            StatusOp::Deactivate { id } => (false, id),
        };
        let r = pb::StatusRequest { id, request_id };
        match (agent, activate) {
            (true, true) => Write::ActivateAgent(r),
            (true, false) => Write::DeactivateAgent(r),
            (false, true) => Write::ActivateAccount(r),
            (false, false) => Write::DeactivateAccount(r),
        }
    }
}

/// Sends one write to the admin API at `to` and prints what it did.
pub async fn send(write: Write, to: &AdminTarget, opts: &ClientOptions) -> anyhow::Result<()> {
    let mut c = opts.admin(&to.admin).await?;
    let reply = match write {
        Write::AssignRole(r) => c.assign_role(r).await,
        Write::RevokeRole(r) => c.revoke_role(r).await,
        Write::AssignRoleToRole(r) => c.assign_role_to_role(r).await,
        Write::RevokeRoleFromRole(r) => c.revoke_role_from_role(r).await,
        Write::AddGroupMember(r) => c.add_group_member(r).await,
        Write::AddToCollection(r) => c.add_to_collection(r).await,
        Write::RemoveFromCollection(r) => c.remove_from_collection(r).await,
        Write::RemoveGroupMember(r) => c.remove_group_member(r).await,
        Write::AddMember(r) => c.add_member(r).await,
        Write::ChangeMemberRole(r) => c.change_member_role(r).await,
        Write::RemoveMember(r) => c.remove_member(r).await,
        Write::GrantPermission(r) => c.grant_permission(r).await,
        Write::RevokePermission(r) => c.revoke_permission(r).await,
        Write::SetProhibition(r) => c.set_prohibition(r).await,
        Write::RevokeProhibition(r) => c.revoke_prohibition(r).await,
        Write::CreatePolicy(r) => c.create_policy(r).await,
        Write::ActivatePolicy(r) => c.activate_policy(r).await,
        Write::DeactivatePolicy(r) => c.deactivate_policy(r).await,
        Write::ActivateAgent(r) => c.activate_agent(r).await,
        Write::DeactivateAgent(r) => c.deactivate_agent(r).await,
        Write::ActivateAccount(r) => c.activate_account(r).await,
        Write::DeactivateAccount(r) => c.deactivate_account(r).await,
    }?;
    print_write(reply.into_inner());
    Ok(())
}

fn print_write(r: pb::WriteResponse) {
    if r.visible {
        println!(
            "ok: visible at revision {} (events: {})",
            r.revision,
            r.event_ids.join(", ")
        );
    } else {
        println!(
            "ok: stored at revision {} but not yet visible on this server; it will be (do not retry) (events: {})",
            r.revision,
            r.event_ids.join(", ")
        );
    }
    for h in r.still_held {
        let scope = if h.account_id.is_empty() {
            String::new()
        } else {
            format!(" in account {:?}", h.account_id)
        };
        println!(
            "note: {:?} is still in {:?}{scope}: other facts hold the edge ({})",
            h.node,
            h.role,
            h.sources.join(", ")
        );
    }
}

/// `endocarp status`: a running server's revision, freshness, index and engine counts.
pub async fn status(admin: &str, opts: &ClientOptions) -> anyhow::Result<()> {
    let s = opts
        .admin(admin)
        .await?
        .get_status(pb::GetStatusRequest {
            with_index_digest: false,
        })
        .await?
        .into_inner();
    println!(
        "revision {} (log head {}), data age {} ms, engine {}",
        s.revision, s.head_revision, s.data_age_ms, s.engine
    );
    println!(
        "rules {}, global edges {}, account edges {}, memberships {}, roles {}",
        s.rules, s.global_edges, s.account_edges, s.memberships, s.roles
    );
    if s.engine != "odrl" {
        println!("casbin rows: p {}, g {}", s.casbin_p_rows, s.casbin_g_rows);
    }
    if s.engine == "shadow" {
        println!(
            "shadow: {} agreements, {} disagreements",
            s.shadow_agreements, s.shadow_disagreements
        );
    }
    println!(
        "index built in bulk at revision {} ({} events applied one by one since), repacks since start-up {}",
        s.index_built_revision,
        s.revision.saturating_sub(s.index_built_revision),
        s.repacks
    );
    println!("ignored duty events: {}", s.ignored_duties);
    if s.stale {
        println!("STALE: data older than max_staleness; checks fail with UNAVAILABLE");
    }
    if !s.storage_error.is_empty() {
        println!("storage: {}", s.storage_error);
    }
    if !s.last_storage_error.is_empty() {
        println!(
            "last storage error ({}, {} s ago): {}",
            s.last_storage_error_operation,
            s.last_storage_error_age_ms / 1000,
            s.last_storage_error
        );
    }
    Ok(())
}

/// `endocarp list`: every page of rules, role assignments, members or the audit log.
pub async fn list(what: ListOp, admin: &str, opts: &ClientOptions) -> anyhow::Result<()> {
    let mut c = opts.admin(admin).await?;
    let mut token = String::new();
    loop {
        let next = match &what {
            ListOp::Rules { policy, assignee } => {
                let r = c
                    .list_rules(pb::ListRulesRequest {
                        policy_id: policy.clone(),
                        assignee: assignee.clone(),
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for x in &r.rules {
                    if let Some(rule) = &x.rule {
                        let note = if !x.policy_active {
                            " (policy inactive)".to_string()
                        } else if !x.counts {
                            format!(" (not enforced: policy type {})", x.policy_type)
                        } else {
                            String::new()
                        };
                        println!("{}{note}", rule_text(rule));
                    }
                }
                r.next_page_token
            }
            ListOp::Roles { node, account } => {
                let r = c
                    .list_role_assignments(pb::ListRoleAssignmentsRequest {
                        node_id: node.clone(),
                        account_id: account.clone(),
                        global_only: false,
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for a in &r.assignments {
                    let scope = if a.account_id.is_empty() {
                        "global".to_string()
                    } else {
                        format!("in account {:?}", a.account_id)
                    };
                    println!("{:?} has role {:?} ({scope}, {})", a.node_id, a.role_id, a.source);
                }
                r.next_page_token
            }
            ListOp::Members { account } => {
                let r = c
                    .list_members(pb::ListMembersRequest {
                        account_id: account.clone(),
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for m in &r.members {
                    println!(
                        "{:?} is a member of {:?} with role {:?}",
                        m.agent_id, m.account_id, m.role_id
                    );
                }
                r.next_page_token
            }
            ListOp::Audit => {
                let r = c
                    .list_audit_log(pb::ListAuditLogRequest {
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for e in &r.entries {
                    let at = e
                        .time
                        .as_ref()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32));
                    println!(
                        "#{} {} {} by {:?} (correlation {}) at revision {}: {}",
                        e.id,
                        at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        e.action,
                        e.actor,
                        e.correlation_id,
                        e.revision,
                        e.event_ids.join(", ")
                    );
                    if !e.note.is_empty() {
                        println!("    note: {}", e.note);
                    }
                }
                r.next_page_token
            }
        };
        if next.is_empty() {
            return Ok(());
        }
        token = next;
    }
}
