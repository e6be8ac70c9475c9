//! `PolicyAdminService`: every admin write as a command, and the paged lists.

use crate::app::App;
use crate::domain::commands::{Command, RuleSpec, optional_id};
use crate::domain::policy::{effect_mask, kind_bit};
use crate::domain::{DomainError, EntityKind, Id, RuleKind};
use crate::grpc::convert::{self, decode_token, encode_token};
use crate::grpc::pb::policy_admin_service_server::PolicyAdminService;
use crate::grpc::{call_context, invalid, pb, status};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AdminApi {
    pub app: Arc<App>,
}

type Reply = Result<Response<pb::WriteResponse>, Status>;

impl AdminApi {
    /// Runs a command built from the request; input errors change nothing.
    async fn run<T>(&self, req: Request<T>, build: impl FnOnce(&T) -> Result<(Command, String), DomainError>) -> Reply {
        let (cmd, request_id) = build(req.get_ref()).map_err(invalid)?;
        let ctx = call_context(&req, &request_id);
        let rid = (!request_id.is_empty()).then_some(request_id.as_str());
        let written = self
            .app
            .execute(&cmd, rid, &ctx, crate::grpc::deadline(&req))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::WriteResponse {
            revision: written.outcome.revision,
            still_held: convert::still_held(&written.outcome.still_held),
            event_ids: written.outcome.ids,
            visible: written.visible,
        }))
    }

    async fn rule(&self, req: Request<pb::RuleRequest>, make: fn(RuleSpec) -> Command) -> Reply {
        self.run(req, |r| {
            Ok((
                make(
                    RuleSpec::parse(&r.policy_id, &r.assignee, &r.action, &r.target)?.with_condition([
                        &r.constraint,
                        &r.refinement,
                        &r.duty,
                        &r.remedy,
                    ])?,
                ),
                r.request_id.clone(),
            ))
        })
        .await
    }

    async fn status_change(&self, req: Request<pb::StatusRequest>, kind: EntityKind, active: bool) -> Reply {
        let field = match kind {
            EntityKind::Policy => "policy_id",
            EntityKind::Agent => "agent_id",
            EntityKind::Account => "account_id",
        };
        self.run(req, |r| {
            Ok((
                Command::SetStatus {
                    kind,
                    id: Id::parse(field, &r.id)?,
                    active,
                },
                r.request_id.clone(),
            ))
        })
        .await
    }

    async fn role(&self, req: Request<pb::RoleAssignmentRequest>, assign: bool) -> Reply {
        self.run(req, |r| {
            let agent = Id::parse("agent_id", &r.agent_id)?;
            let role = Id::parse("role_id", &r.role_id)?;
            let account = optional_id("account_id", &r.account_id)?;
            let cmd = if assign {
                Command::AssignRole { agent, role, account }
            } else {
                Command::RevokeRole { agent, role, account }
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }

    async fn member(&self, req: Request<pb::MemberRequest>, change: bool) -> Reply {
        self.run(req, |r| {
            let account = Id::parse("account_id", &r.account_id)?;
            let agent = Id::parse("agent_id", &r.agent_id)?;
            let role = Id::parse("role_id", &r.role_id)?;
            let cmd = if change {
                Command::ChangeMemberRole { account, agent, role }
            } else {
                Command::AddMember { account, agent, role }
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
}

/// Rows per export chunk.
const EXPORT_CHUNK: usize = 5000;

type ExportStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::ExportCasbinResponse, Status>> + Send>>;

#[tonic::async_trait]
impl PolicyAdminService for AdminApi {
    async fn get_status(&self, req: Request<pb::GetStatusRequest>) -> Result<Response<pb::ServerStatus>, Status> {
        let s = self.app.status(req.get_ref().with_index_digest).await.map_err(status)?;
        Ok(Response::new(pb::ServerStatus {
            revision: s.revision,
            head_revision: *s.head.as_ref().unwrap_or(&0),
            storage_error: s.head.as_ref().err().cloned().unwrap_or_default(),
            last_storage_error: s.last_fault.as_ref().map(|f| f.message.clone()).unwrap_or_default(),
            last_storage_error_operation: s
                .last_fault
                .as_ref()
                .map(|f| f.operation.to_string())
                .unwrap_or_default(),
            last_storage_error_age_ms: s
                .last_fault
                .as_ref()
                .and_then(|f| f.at.elapsed().ok())
                .map_or(0, |d| d.as_millis() as u64),
            data_age_ms: s.data_age.as_millis() as u64,
            engine: s.engine.as_str().into(),
            rules: s.stats.rules as u64,
            global_edges: s.stats.global_edges as u64,
            account_edges: s.stats.account_edges as u64,
            memberships: s.stats.memberships as u64,
            roles: s.stats.roles as u64,
            casbin_p_rows: s.casbin_p_rows as u64,
            casbin_g_rows: s.casbin_g_rows as u64,
            shadow_agreements: s.shadow_agreements,
            shadow_disagreements: s.shadow_disagreements,
            ignored_duties: s.ignored_duties,
            applied_digest: s.digest,
            digest_from_revision: s.digest_from,
            stale: s.data_age > self.app.settings().max_staleness,
            index_digest: s.index_digest.unwrap_or(0),
            index_built_revision: s.built.revision,
            repacks: s.repacks,
        }))
    }

    type ExportCasbinStream = ExportStream;

    async fn export_casbin(
        &self,
        _: Request<pb::ExportCasbinRequest>,
    ) -> Result<Response<Self::ExportCasbinStream>, Status> {
        let (revision, p, g) = self.app.casbin_export();
        let rows: Vec<pb::CasbinRow> = p
            .into_iter()
            .map(|r| pb::CasbinRow {
                ptype: "p".into(),
                values: r.to_vec(),
            })
            .chain(g.into_iter().map(|r| pb::CasbinRow {
                ptype: "g".into(),
                values: r.to_vec(),
            }))
            .collect();
        let mut chunks: Vec<pb::ExportCasbinResponse> = rows
            .chunks(EXPORT_CHUNK)
            .map(|c| pb::ExportCasbinResponse {
                revision,
                model: String::new(),
                rows: c.to_vec(),
            })
            .collect();
        if chunks.is_empty() {
            chunks.push(pb::ExportCasbinResponse {
                revision,
                model: String::new(),
                rows: vec![],
            });
        }
        chunks[0].model = crate::engine::casbin::MODEL.to_string();
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks.into_iter().map(Ok)))))
    }

    async fn assign_role(&self, req: Request<pb::RoleAssignmentRequest>) -> Reply {
        self.role(req, true).await
    }
    async fn revoke_role(&self, req: Request<pb::RoleAssignmentRequest>) -> Reply {
        self.role(req, false).await
    }
    async fn add_member(&self, req: Request<pb::MemberRequest>) -> Reply {
        self.member(req, false).await
    }
    async fn change_member_role(&self, req: Request<pb::MemberRequest>) -> Reply {
        self.member(req, true).await
    }
    async fn remove_member(&self, req: Request<pb::MemberRequest>) -> Reply {
        self.run(req, |r| {
            let cmd = Command::RemoveMember {
                account: Id::parse("account_id", &r.account_id)?,
                agent: Id::parse("agent_id", &r.agent_id)?,
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
    async fn assign_role_to_role(&self, req: Request<pb::RoleToRoleRequest>) -> Reply {
        self.run(req, |r| {
            let cmd = Command::AssignRoleToRole {
                role: Id::parse("role_id", &r.role_id)?,
                parent: Id::parse("parent_role_id", &r.parent_role_id)?,
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
    async fn revoke_role_from_role(&self, req: Request<pb::RoleToRoleRequest>) -> Reply {
        self.run(req, |r| {
            let cmd = Command::RevokeRoleFromRole {
                role: Id::parse("role_id", &r.role_id)?,
                parent: Id::parse("parent_role_id", &r.parent_role_id)?,
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
    async fn add_group_member(&self, req: Request<pb::GroupMembershipRequest>) -> Reply {
        self.run(req, |r| {
            let cmd = Command::AddGroupMember {
                agent: Id::parse("agent_id", &r.agent_id)?,
                group: Id::parse("group_id", &r.group_id)?,
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
    async fn remove_group_member(&self, req: Request<pb::GroupMembershipRequest>) -> Reply {
        self.run(req, |r| {
            let cmd = Command::RemoveGroupMember {
                agent: Id::parse("agent_id", &r.agent_id)?,
                group: Id::parse("group_id", &r.group_id)?,
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
    async fn add_to_collection(&self, req: Request<pb::AssetCollectionRequest>) -> Reply {
        self.run(req, |r| {
            let cmd = Command::AddToCollection {
                asset: Id::parse("asset_id", &r.asset_id)?,
                collection: Id::parse("collection_id", &r.collection_id)?,
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
    async fn remove_from_collection(&self, req: Request<pb::AssetCollectionRequest>) -> Reply {
        self.run(req, |r| {
            let cmd = Command::RemoveFromCollection {
                asset: Id::parse("asset_id", &r.asset_id)?,
                collection: Id::parse("collection_id", &r.collection_id)?,
            };
            Ok((cmd, r.request_id.clone()))
        })
        .await
    }
    async fn grant_permission(&self, req: Request<pb::RuleRequest>) -> Reply {
        self.rule(req, Command::GrantPermission).await
    }
    async fn revoke_permission(&self, req: Request<pb::RuleRequest>) -> Reply {
        self.rule(req, Command::RevokePermission).await
    }
    async fn set_prohibition(&self, req: Request<pb::RuleRequest>) -> Reply {
        self.rule(req, Command::SetProhibition).await
    }
    async fn revoke_prohibition(&self, req: Request<pb::RuleRequest>) -> Reply {
        self.rule(req, Command::RevokeProhibition).await
    }
    async fn create_policy(&self, req: Request<pb::CreatePolicyRequest>) -> Reply {
        self.run(req, |r| {
            let policy_type = (!r.policy_type.is_empty()).then(|| r.policy_type.clone());
            let conflict = (!r.conflict.is_empty()).then(|| r.conflict.clone());
            Ok((
                Command::CreatePolicy {
                    policy: Id::parse("policy_id", &r.policy_id)?,
                    policy_type,
                    conflict,
                },
                r.request_id.clone(),
            ))
        })
        .await
    }
    async fn activate_policy(&self, req: Request<pb::StatusRequest>) -> Reply {
        self.status_change(req, EntityKind::Policy, true).await
    }
    async fn deactivate_policy(&self, req: Request<pb::StatusRequest>) -> Reply {
        self.status_change(req, EntityKind::Policy, false).await
    }
    async fn activate_agent(&self, req: Request<pb::StatusRequest>) -> Reply {
        self.status_change(req, EntityKind::Agent, true).await
    }
    async fn deactivate_agent(&self, req: Request<pb::StatusRequest>) -> Reply {
        self.status_change(req, EntityKind::Agent, false).await
    }
    async fn activate_account(&self, req: Request<pb::StatusRequest>) -> Reply {
        self.status_change(req, EntityKind::Account, true).await
    }
    async fn deactivate_account(&self, req: Request<pb::StatusRequest>) -> Reply {
        self.status_change(req, EntityKind::Account, false).await
    }

    async fn list_role_assignments(
        &self,
        req: Request<pb::ListRoleAssignmentsRequest>,
    ) -> Result<Response<pb::ListRoleAssignmentsResponse>, Status> {
        let r = req.into_inner();
        let after = decode_token::<4>(&r.page_token).map_err(invalid)?;
        let rows = self
            .app
            .list_edges(&r.node_id, &r.account_id, r.global_only, &after, r.page_size)
            .await
            .map_err(status)?;
        let size = crate::app::service::page(r.page_size).map_err(status)? as usize;
        let next = match rows.last() {
            Some(l) if rows.len() == size => encode_token(&[&l.account, &l.node, &l.role, &l.source]),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListRoleAssignmentsResponse {
            assignments: rows
                .into_iter()
                .map(|e| pb::RoleAssignment {
                    node_id: e.node,
                    role_id: e.role,
                    account_id: e.account,
                    source: e.source,
                })
                .collect(),
            next_page_token: next,
        }))
    }

    async fn list_members(
        &self,
        req: Request<pb::ListMembersRequest>,
    ) -> Result<Response<pb::ListMembersResponse>, Status> {
        let r = req.into_inner();
        let after = decode_token::<2>(&r.page_token).map_err(invalid)?;
        let rows = self
            .app
            .list_members(&r.account_id, &after, r.page_size)
            .await
            .map_err(status)?;
        let size = crate::app::service::page(r.page_size).map_err(status)? as usize;
        let next = match rows.last() {
            Some(l) if rows.len() == size => encode_token(&[&l.account, &l.agent]),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListMembersResponse {
            members: rows
                .into_iter()
                .map(|m| pb::Member {
                    account_id: m.account,
                    agent_id: m.agent,
                    role_id: m.role,
                })
                .collect(),
            next_page_token: next,
        }))
    }

    async fn list_rules(&self, req: Request<pb::ListRulesRequest>) -> Result<Response<pb::ListRulesResponse>, Status> {
        let r = req.into_inner();
        let after = decode_token::<6>(&r.page_token).map_err(invalid)?;
        let rows = self
            .app
            .list_rules(&r.policy_id, &r.assignee, &after, r.page_size)
            .await
            .map_err(status)?;
        let size = crate::app::service::page(r.page_size).map_err(status)? as usize;
        let next = match rows.last() {
            Some(l) if rows.len() == size => {
                encode_token(&[&l.policy, &l.kind, &l.assignee, &l.action, &l.target, &l.condition])
            }
            _ => String::new(),
        };
        let rules = rows
            .into_iter()
            .map(|x| {
                let kind = if x.kind == "prohibition" {
                    RuleKind::Prohibition
                } else {
                    RuleKind::Permission
                };
                let policy_type = (!x.policy_type.is_empty()).then_some(x.policy_type.as_str());
                let [constraint, refinement, duty, remedy] = condition_parts(&x.condition);
                pb::Rule {
                    counts: effect_mask(x.policy_active, policy_type) & kind_bit(kind) != 0,
                    rule: Some(pb::RuleRef {
                        kind: match kind {
                            RuleKind::Prohibition => pb::RuleKind::Prohibition,
                            RuleKind::Permission => pb::RuleKind::Permission,
                        } as i32,
                        policy_id: x.policy,
                        assignee: x.assignee,
                        action: x.action,
                        target: x.target,
                        constraint,
                        refinement,
                        duty,
                        remedy,
                    }),
                    policy_active: x.policy_active,
                    policy_type: x.policy_type,
                    policy_conflict: crate::domain::Conflict::parse_stored(&x.policy_conflict)
                        .map(|c| c.iri().to_string())
                        .unwrap_or_default(),
                }
            })
            .collect();
        Ok(Response::new(pb::ListRulesResponse {
            rules,
            next_page_token: next,
        }))
    }

    async fn import_odrl(
        &self,
        req: Request<pb::ImportOdrlRequest>,
    ) -> Result<Response<pb::ImportOdrlResponse>, Status> {
        let r = req.get_ref();
        if r.documents.is_empty() {
            return Err(invalid(DomainError::new("documents", "must not be empty")));
        }
        let mut docs = Vec::with_capacity(r.documents.len());
        for (i, d) in r.documents.iter().enumerate() {
            let format = crate::odrl::Format::parse(&d.format).ok_or_else(|| {
                invalid(DomainError::new(
                    format!("documents[{i}].format"),
                    format!("{:?}: use turtle or jsonld", d.format),
                ))
            })?;
            docs.push((format, d.content.as_str()));
        }
        let options = crate::odrl::Options {
            wildcards: r.wildcards,
            anyone: (!r.anyone.is_empty()).then(|| r.anyone.clone()),
        };
        let imported = crate::odrl::read_all(docs)
            .and_then(|g| crate::odrl::import(&g, &options))
            .map_err(invalid)?;
        let events = crate::odrl::to_events(&imported).map_err(invalid)?;
        let count = events.len();
        let ctx = call_context(&req, "");
        let written = self
            .app
            .append_as(events, "ImportOdrl", &ctx, crate::grpc::deadline(&req))
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ImportOdrlResponse {
            revision: written.outcome.revision,
            policies: imported.policies,
            rules: imported.rules as u32,
            events: count as u32,
            notes: imported.notes,
            visible: written.visible,
        }))
    }

    async fn list_audit_log(
        &self,
        req: Request<pb::ListAuditLogRequest>,
    ) -> Result<Response<pb::ListAuditLogResponse>, Status> {
        let r = req.into_inner();
        let after = decode_token::<1>(&r.page_token).map_err(invalid)?;
        let after: i64 = if after[0].is_empty() {
            0
        } else {
            after[0]
                .parse()
                .map_err(|_| invalid(DomainError::new("page_token", "is not a token this server returned")))?
        };
        let rows = self.app.list_audit(after, r.page_size).await.map_err(status)?;
        let size = crate::app::service::page(r.page_size).map_err(status)? as usize;
        let next = match rows.last() {
            Some(l) if rows.len() == size => encode_token(&[&l.id.to_string()]),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListAuditLogResponse {
            entries: rows
                .into_iter()
                .map(|a| pb::AuditEntry {
                    id: a.id as u64,
                    time: Some(convert::timestamp(&a.at)),
                    actor: a.actor,
                    action: a.action,
                    correlation_id: a.correlation_id,
                    event_ids: a.event_ids,
                    revision: a.revision,
                    note: a.note,
                })
                .collect(),
            next_page_token: next,
        }))
    }
}

/// A stored condition's attributes in canonical form (constraint, refinement, duty,
/// remedy; empty when absent). A stored text that does not parse is shown whole as the
/// constraint.
fn condition_parts(stored: &str) -> [String; 4] {
    if stored.is_empty() {
        return Default::default();
    }
    match crate::domain::constraint::Condition::parse_stored("condition", stored) {
        Ok(c) => {
            let text = |t: Option<std::sync::Arc<str>>| t.map(|t| t.to_string()).unwrap_or_default();
            [
                text(c.constraint_text),
                text(c.refinement_text),
                text(c.duty_text),
                text(c.remedy_text),
            ]
        }
        Err(_) => [stored.to_string(), String::new(), String::new(), String::new()],
    }
}
