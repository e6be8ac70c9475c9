//! `AuthorizationService`: IsAuthorized and IsAuthorizedInAccount.

use crate::app::{App, Consistency};
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

fn parse_check(agent: &str, account: Option<&str>, action: &str, target: &str, explain: bool) -> Result<Check, Status> {
    Ok(Check {
        agent: Id::parse("agent_id", agent).map_err(invalid)?,
        account: account
            .map(|a| Id::parse("account_id", a))
            .transpose()
            .map_err(invalid)?,
        action: Action::parse("action", action).map_err(invalid)?,
        target: Id::parse("target", target).map_err(invalid)?,
        explain,
    })
}

#[tonic::async_trait]
impl AuthorizationService for DecisionApi {
    async fn is_authorized(
        &self,
        req: Request<pb::IsAuthorizedRequest>,
    ) -> Result<Response<pb::IsAuthorizedResponse>, Status> {
        let deadline = deadline(&req);
        let r = req.into_inner();
        let check = parse_check(&r.agent_id, None, &r.action, &r.target, r.explain)?;
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
        let check = parse_check(&r.agent_id, Some(&r.account_id), &r.action, &r.target, r.explain)?;
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
