//! `AuthorizationService`: IsAuthorized and IsAuthorizedInAccount, CheckBatch, and the
//! look-ups (LookupTargets, LookupAgents, ListActions).

use crate::app::lookups::{BatchSemantics, PageRequest};
use crate::app::{App, AppError, Consistency};
use crate::domain::DomainError;
use crate::domain::{Action, Id};
use crate::engine::Check;
use crate::grpc::pb::authorization_service_server::AuthorizationService;
use crate::grpc::{convert, deadline, invalid, pb, status};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct DecisionApi {
    pub app: Arc<App>,
}

fn consistency(c: Option<pb::Consistency>) -> Consistency {
    c.map(|c| Consistency {
        at_least_revision: c.at_least_revision,
        fully_consistent: c.fully_consistent,
    })
    .unwrap_or_default()
}

fn parse_check(
    agent: &str,
    account: Option<&str>,
    action: &str,
    target: &str,
    (explain, explain_limit): (bool, u32),
    context: &std::collections::HashMap<String, pb::ContextValue>,
) -> Result<Check, Status> {
    Ok(Check {
        agent: Id::parse("agent_id", agent).map_err(invalid)?,
        account: account
            .map(|a| Id::parse("account_id", a))
            .transpose()
            .map_err(invalid)?,
        action: Action::parse("action", action).map_err(invalid)?,
        target: Id::parse("target", target).map_err(invalid)?,
        explain,
        explain_limit: crate::domain::explain_limit("explain_limit", explain_limit.into(), 1).map_err(invalid)?,
        context: convert::context(context).map_err(invalid)?,
    })
}

/// An optional account: empty means none (a global check).
fn account(field: &str, a: &str) -> Result<Option<Id>, Status> {
    if a.is_empty() {
        Ok(None)
    } else {
        Id::parse(field, a).map(Some).map_err(invalid)
    }
}

/// A batch item as a check, or the input error that is its result.
fn batch_item(i: &pb::BatchItem, explain: bool, explain_limit: usize) -> Result<Check, DomainError> {
    Ok(Check {
        agent: Id::parse("agent_id", &i.agent_id)?,
        account: if i.account_id.is_empty() {
            None
        } else {
            Some(Id::parse("account_id", &i.account_id)?)
        },
        action: Action::parse("action", &i.action)?,
        target: Id::parse("target", &i.target)?,
        explain,
        explain_limit,
        context: convert::context(&i.context)?,
    })
}

/// An item that could not be decided: its status code and message from the one mapping
/// (`grpc::status`), and the field at fault for invalid input.
fn item_error(e: AppError) -> pb::ItemError {
    let field = match &e {
        AppError::Invalid(d) => d.field.clone(),
        AppError::Engine(crate::engine::EngineError::AgentIsRole(_)) => "agent_id".into(),
        _ => String::new(),
    };
    let s = status(e);
    pb::ItemError {
        code: s.code() as i32,
        message: s.message().to_string(),
        field,
    }
}

#[tonic::async_trait]
impl AuthorizationService for DecisionApi {
    async fn check_batch(
        &self,
        req: Request<pb::CheckBatchRequest>,
    ) -> Result<Response<pb::CheckBatchResponse>, Status> {
        let deadline = deadline(&req);
        let r = req.into_inner();
        let semantics = match pb::BatchSemantics::try_from(r.semantics) {
            Ok(pb::BatchSemantics::ExecuteAll) => BatchSemantics::ExecuteAll,
            Ok(pb::BatchSemantics::DenyOnFirstDeny) => BatchSemantics::DenyOnFirstDeny,
            Ok(pb::BatchSemantics::PermitOnFirstPermit) => BatchSemantics::PermitOnFirstPermit,
            Err(_) => {
                return Err(invalid(DomainError::new(
                    "semantics",
                    format!("{} is not a BatchSemantics value", r.semantics),
                )));
            }
        };
        let explain_limit =
            crate::domain::explain_limit("explain_limit", r.explain_limit.into(), r.items.len()).map_err(invalid)?;
        let items: Vec<Result<Check, DomainError>> = r
            .items
            .iter()
            .map(|i| batch_item(i, r.explain, explain_limit))
            .collect();
        let (results, revision) = self
            .app
            .check_batch(&items, consistency(r.consistency), semantics, deadline)
            .await
            .map_err(status)?;
        let results = results
            .into_iter()
            .zip(r.items)
            .map(|(result, item)| pb::BatchResult {
                correlation_id: item.correlation_id,
                outcome: Some(match result {
                    Ok(d) => pb::batch_result::Outcome::Decision(convert::decision(&d)),
                    Err(e) => pb::batch_result::Outcome::Error(item_error(e)),
                }),
            })
            .collect();
        Ok(Response::new(pb::CheckBatchResponse { results, revision }))
    }

    async fn lookup_targets(
        &self,
        req: Request<pb::LookupTargetsRequest>,
    ) -> Result<Response<pb::LookupTargetsResponse>, Status> {
        let deadline = deadline(&req);
        let r = req.into_inner();
        let agent = Id::parse("agent_id", &r.agent_id).map_err(invalid)?;
        let account = account("account_id", &r.account_id)?;
        let action = Action::parse("action", &r.action).map_err(invalid)?;
        let p = self
            .app
            .lookup_targets(
                &agent,
                account.as_ref(),
                &action,
                PageRequest::new(r.page_size, &r.page_token),
                consistency(r.consistency),
                deadline,
            )
            .await
            .map_err(status)?;
        let items = p.page.items.iter().map(|t| t.to_string()).collect();
        let (targets, except) = if p.page.every_target {
            (Vec::new(), items)
        } else {
            (items, Vec::new())
        };
        Ok(Response::new(pb::LookupTargetsResponse {
            targets,
            every_target: p.page.every_target,
            except,
            revision: p.revision,
            next_page_token: p.next_token,
        }))
    }

    async fn lookup_agents(
        &self,
        req: Request<pb::LookupAgentsRequest>,
    ) -> Result<Response<pb::LookupAgentsResponse>, Status> {
        let deadline = deadline(&req);
        let r = req.into_inner();
        let action = Action::parse("action", &r.action).map_err(invalid)?;
        let target = Id::parse("target", &r.target).map_err(invalid)?;
        let account = account("account_id", &r.account_id)?;
        let p = self
            .app
            .lookup_agents(
                &action,
                &target,
                account.as_ref(),
                PageRequest::new(r.page_size, &r.page_token),
                consistency(r.consistency),
                deadline,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(pb::LookupAgentsResponse {
            agents: p.page.items.iter().map(|a| a.to_string()).collect(),
            revision: p.revision,
            next_page_token: p.next_token,
        }))
    }

    async fn list_actions(
        &self,
        req: Request<pb::ListActionsRequest>,
    ) -> Result<Response<pb::ListActionsResponse>, Status> {
        let deadline = deadline(&req);
        let r = req.into_inner();
        let agent = Id::parse("agent_id", &r.agent_id).map_err(invalid)?;
        let account = account("account_id", &r.account_id)?;
        let target = Id::parse("target", &r.target).map_err(invalid)?;
        let (actions, revision) = self
            .app
            .list_actions(&agent, account.as_ref(), &target, consistency(r.consistency), deadline)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::ListActionsResponse {
            actions: actions.iter().map(|a| a.to_string()).collect(),
            revision,
        }))
    }

    async fn is_authorized(
        &self,
        req: Request<pb::IsAuthorizedRequest>,
    ) -> Result<Response<pb::IsAuthorizedResponse>, Status> {
        let deadline = deadline(&req);
        let r = req.into_inner();
        let explain = (r.explain, r.explain_limit);
        let check = parse_check(&r.agent_id, None, &r.action, &r.target, explain, &r.context)?;
        let d = self
            .app
            .check(&check, consistency(r.consistency), deadline)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::IsAuthorizedResponse {
            decision: Some(convert::decision(&d)),
        }))
    }

    async fn is_authorized_in_account(
        &self,
        req: Request<pb::IsAuthorizedInAccountRequest>,
    ) -> Result<Response<pb::IsAuthorizedInAccountResponse>, Status> {
        let deadline = deadline(&req);
        let r = req.into_inner();
        let explain = (r.explain, r.explain_limit);
        let check = parse_check(
            &r.agent_id,
            Some(&r.account_id),
            &r.action,
            &r.target,
            explain,
            &r.context,
        )?;
        let d = self
            .app
            .check(&check, consistency(r.consistency), deadline)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::IsAuthorizedInAccountResponse {
            decision: Some(convert::decision(&d)),
        }))
    }
}
