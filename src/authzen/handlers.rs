//! The AuthZEN endpoints: each reads its body (bounded, JSON), maps the entities and
//! actions (`model`), and calls the same use cases as the gRPC decision API: checks, batch
//! checks and the paged look-ups.

use super::model::{
    self, ActionOut, CheckContext, DecisionOut, Entity, EvaluationItem, EvaluationRequest, EvaluationsOut,
    EvaluationsRequest, Metadata, PageIn, PageOut, SearchContext, SearchOut, as_entity, check_context, check_type,
    entity_id,
};
use super::{HttpError, MAX_BODY_BYTES, Shared, json_response};
use crate::app::lookups::{BatchSemantics, PageRequest};
use crate::app::service::MAX_PAGE;
use crate::app::{AppError, Consistency};
use crate::domain::DomainError;
use crate::engine::{Check, EngineError};
use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use std::sync::Arc;
use std::time::Instant;

type Reply = Result<Response, HttpError>;

fn finish(r: Reply) -> Response {
    r.unwrap_or_else(axum::response::IntoResponse::into_response)
}

/// Reads and parses a JSON body: 415 for a body that says it is not JSON, 413 past
/// [`MAX_BODY_BYTES`], 400 for anything that does not parse, naming the JSON path.
async fn read<T: serde::de::DeserializeOwned>(req: Request) -> Result<T, HttpError> {
    if let Some(ct) = req.headers().get(http::header::CONTENT_TYPE) {
        let ct = ct.to_str().unwrap_or("").to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or("").trim();
        if !(essence == "application/json" || essence.ends_with("+json")) {
            return Err(HttpError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("content-type {essence:?}: requests are JSON (Content-Type: application/json)"),
            ));
        }
    }
    let too_large = || {
        HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is over the limit of {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let inner = e.into_inner();
            if inner.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                return Err(too_large());
            }
            return Err(HttpError::bad_request(format!(
                "the request body cannot be read: {inner}"
            )));
        }
    };
    parse(&body)
}

/// Parses `body` as `T`; the message names the failing path (`evaluations[2].subject`).
pub fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, HttpError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut *de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            HttpError::bad_request(format!("the body is not a valid request: {inner}"))
        } else {
            HttpError::bad_request(format!("{path}: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| HttpError::bad_request(format!("the body has more after the JSON object: {e}")))?;
    Ok(value)
}

fn invalid(e: DomainError) -> HttpError {
    HttpError::from_app(AppError::Invalid(e))
}

/// An application error, its gRPC field names turned into this API's.
fn app_error(e: AppError) -> HttpError {
    let e = match e {
        AppError::Engine(inner @ EngineError::AgentIsRole(_)) => {
            AppError::Invalid(DomainError::new("subject", inner.to_string()))
        }
        AppError::Invalid(mut d) => {
            d.field = match d.field.as_str() {
                "page_token" => "page.token".into(),
                "page_size" => "page.limit".into(),
                "agent_id" => "subject".into(),
                "account_id" => "context.account".into(),
                "target" => "resource".into(),
                _ => d.field,
            };
            AppError::Invalid(d)
        }
        e => e,
    };
    HttpError::from_app(e)
}

impl Shared {
    fn deadline(&self) -> Option<Instant> {
        Instant::now().checked_add(self.config.request_timeout)
    }

    /// A check of `subject` doing `action` on `resource` in `context`, one of `items` checks
    /// of a request; the fields are named as given.
    fn check(
        &self,
        (subject, subject_at): (&Entity, &str),
        (action, action_at): (&model::ActionRef, &str),
        (resource, resource_at): (&Entity, &str),
        (context, context_at): (&CheckContext, &str),
        items: usize,
    ) -> Result<Check, DomainError> {
        // Members of the entities' `properties` named by a CURIE or an IRI are values for
        // constraints too (`"odrl:recipient"` on the subject, `"odrl:fileFormat"` on the
        // resource); a left operand given twice is refused.
        let mut values = context.values.clone();
        for (props, at) in [
            (&subject.properties, subject_at),
            (&action.properties, action_at),
            (&resource.properties, resource_at),
        ] {
            for (k, v) in props.iter().flatten().filter(|(k, _)| k.contains(':')) {
                let field = format!("{at}.properties.{k}");
                if values.contains(k) {
                    return Err(DomainError::new(
                        field,
                        "is given twice (in the context or another entity's properties)",
                    ));
                }
                if values.len() >= crate::domain::constraint::MAX_CONTEXT {
                    return Err(DomainError::new(
                        field,
                        format!(
                            "a request holds at most {} left-operand values",
                            crate::domain::constraint::MAX_CONTEXT
                        ),
                    ));
                }
                let (value, unit) = crate::domain::constraint::context_from_json(&field, v)?;
                values.insert(k, value, unit.as_deref())?;
            }
        }
        Ok(Check {
            agent: entity_id(subject_at, &subject.kind, &subject.id)?,
            account: context.account.clone(),
            action: self.config.naming.action(&format!("{action_at}.name"), &action.name)?,
            target: entity_id(resource_at, &resource.kind, &resource.id)?,
            explain: context.explain,
            explain_limit: crate::domain::explain_limit(
                &format!("{context_at}.explain_limit"),
                context.explain_limit,
                items,
            )?,
            context: values,
        })
    }

    async fn decide(
        &self,
        subject: &Entity,
        action: &model::ActionRef,
        resource: &Entity,
        context: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Reply {
        let ctx = check_context("context", context).map_err(invalid)?;
        let check = self
            .check(
                (subject, "subject"),
                (action, "action"),
                (resource, "resource"),
                (&ctx, "context"),
                1,
            )
            .map_err(invalid)?;
        let d = self
            .config
            .app
            .check(&check, ctx.consistency, self.deadline())
            .await
            .map_err(app_error)?;
        Ok(json_response(StatusCode::OK, &self.config.naming.decision(&d)))
    }
}

/// `POST /access/v1/evaluation`.
pub(super) async fn evaluation(State(s): State<Arc<Shared>>, req: Request) -> Response {
    finish(
        async {
            let r: EvaluationRequest = read(req).await?;
            s.decide(&r.subject, &r.action, &r.resource, r.context.as_ref()).await
        }
        .await,
    )
}

fn missing(field: &str, why: &str) -> HttpError {
    HttpError::bad_request(format!(
        "{field}: missing field `{}`{why}",
        field.rsplit('.').next().unwrap_or(field)
    ))
}

/// `POST /access/v1/evaluations`.
pub(super) async fn evaluations(State(s): State<Arc<Shared>>, req: Request) -> Response {
    finish(async { evaluations_reply(&s, read(req).await?).await }.await)
}

async fn evaluations_reply(s: &Shared, mut r: EvaluationsRequest) -> Reply {
    let items = r.evaluations.take().unwrap_or_default();
    if items.is_empty() {
        // Without items, the request is a single evaluation (and answers like one).
        let why = " (with no evaluations, the request is a single evaluation)";
        let subject = r.subject.as_ref().ok_or_else(|| missing("subject", why))?;
        let action = r.action.as_ref().ok_or_else(|| missing("action", why))?;
        let resource = r.resource.as_ref().ok_or_else(|| missing("resource", why))?;
        return s.decide(subject, action, resource, r.context.as_ref()).await;
    }
    let app = &s.config.app;
    let limit = app.settings().max_batch_checks;
    if items.len() > limit {
        return Err(invalid(DomainError::new(
            "evaluations",
            format!("has {} items; the limit is {limit} (max_batch_checks)", items.len()),
        )));
    }
    let semantics = match r.options.as_ref().and_then(|o| o.evaluations_semantic.as_deref()) {
        None | Some("execute_all") => BatchSemantics::ExecuteAll,
        Some("deny_on_first_deny") => BatchSemantics::DenyOnFirstDeny,
        Some("permit_on_first_permit") => BatchSemantics::PermitOnFirstPermit,
        Some(other) => {
            return Err(invalid(DomainError::new(
                "options.evaluations_semantic",
                format!("{other:?} is not one of execute_all, deny_on_first_deny, permit_on_first_permit"),
            )));
        }
    };
    let mut consistency = Consistency::default();
    let mut checks = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        checks.push(item_check(s, &r, item, (i, items.len()), &mut consistency)?);
    }
    let (results, _) = app
        .check_batch(&checks, consistency, semantics, s.deadline())
        .await
        .map_err(app_error)?;
    let naming = &s.config.naming;
    let mut out: Vec<DecisionOut> = results
        .into_iter()
        .map(|r| match r {
            Ok(d) => naming.decision(&d),
            Err(e) => DecisionOut {
                decision: false,
                context: model::DecisionContext {
                    error: Some(app_error(e).body()),
                    ..Default::default()
                },
            },
        })
        .collect();
    // Mark the item a short-circuiting semantic stopped at.
    if let Some(last) = out.last_mut() {
        last.context.stopped = match semantics {
            BatchSemantics::DenyOnFirstDeny if !last.decision => Some("deny_on_first_deny"),
            BatchSemantics::PermitOnFirstPermit if last.decision => Some("permit_on_first_permit"),
            _ => None,
        };
    }
    Ok(json_response(StatusCode::OK, &EvaluationsOut { evaluations: out }))
}

/// Item `i` (of `count`) as a check: each of its objects, or the top-level default. A missing object
/// is a 400 for the whole request; a value Endocarp refuses is that item's error.
fn item_check(
    s: &Shared,
    r: &EvaluationsRequest,
    item: &EvaluationItem,
    (i, count): (usize, usize),
    consistency: &mut Consistency,
) -> Result<Result<Check, DomainError>, HttpError> {
    fn pick<'a, T>(
        own: &'a Option<T>,
        default: &'a Option<T>,
        i: usize,
        name: &str,
    ) -> Result<(&'a T, String), HttpError> {
        match (own, default) {
            (Some(v), _) => Ok((v, format!("evaluations[{i}].{name}"))),
            (None, Some(v)) => Ok((v, name.to_string())),
            (None, None) => Err(missing(
                &format!("evaluations[{i}].{name}"),
                &format!(" (and the request has no top-level {name} to default to)"),
            )),
        }
    }
    let subject = pick(&item.subject, &r.subject, i, "subject")?;
    let action = pick(&item.action, &r.action, i, "action")?;
    let resource = pick(&item.resource, &r.resource, i, "resource")?;
    let (context, context_at) = match (&item.context, &r.context) {
        (Some(c), _) => (Some(c), format!("evaluations[{i}].context")),
        (None, c) => (c.as_ref(), "context".to_string()),
    };
    Ok(check_context(&context_at, context).and_then(|ctx| {
        // One snapshot answers every item: fresh enough for the most demanding one.
        consistency.at_least_revision = consistency.at_least_revision.max(ctx.consistency.at_least_revision);
        consistency.fully_consistent |= ctx.consistency.fully_consistent;
        s.check(
            (subject.0, &subject.1),
            (action.0, &action.1),
            (resource.0, &resource.1),
            (&ctx, &context_at),
            count,
        )
    }))
}

/// A search's page request: its size (0: the default) and token.
fn page_in(page: &Option<PageIn>) -> Result<(u32, &str), HttpError> {
    let Some(p) = page else {
        return Ok((0, ""));
    };
    let limit = p.limit.unwrap_or(0);
    if limit > MAX_PAGE {
        return Err(invalid(DomainError::new(
            "page.limit",
            format!("is {limit}; the limit is {MAX_PAGE}"),
        )));
    }
    Ok((limit, p.token.as_deref().unwrap_or("")))
}

/// A search's answer: `page` (the next token, `count` items in this response), the
/// context, the results.
fn search_reply<T: serde::Serialize>(
    next_token: String,
    count: usize,
    context: SearchContext,
    results: Vec<T>,
) -> Response {
    json_response(
        StatusCode::OK,
        &SearchOut {
            page: PageOut { next_token, count },
            context,
            results,
        },
    )
}

/// `POST /access/v1/search/subject`: LookupAgents, only subjects of the requested type.
pub(super) async fn search_subject(State(s): State<Arc<Shared>>, req: Request) -> Response {
    finish(
        async {
            let r: model::SubjectSearch = read(req).await?;
            check_type("subject", &r.subject.kind).map_err(invalid)?;
            let action = s.config.naming.action("action.name", &r.action.name).map_err(invalid)?;
            let target = entity_id("resource", &r.resource.kind, &r.resource.id).map_err(invalid)?;
            let ctx = check_context("context", r.context.as_ref()).map_err(invalid)?;
            let (size, token) = page_in(&r.page)?;
            let prefix = format!("{}:", r.subject.kind);
            let paging = PageRequest {
                size,
                token,
                prefix: &prefix,
            };
            let p = s
                .config
                .app
                .lookup_agents(
                    &action,
                    &target,
                    ctx.account.as_ref(),
                    paging,
                    ctx.consistency,
                    s.deadline(),
                )
                .await
                .map_err(app_error)?;
            let results: Vec<_> = p
                .page
                .items
                .iter()
                .filter_map(|a| as_entity(&r.subject.kind, a))
                .collect();
            Ok(search_reply(
                p.next_token,
                results.len(),
                SearchContext::at(p.revision),
                results,
            ))
        }
        .await,
    )
}

/// `POST /access/v1/search/resource`: LookupTargets, only resources of the requested
/// type. When a permission on every target applies, `results` is empty and the context
/// says `every_resource`, with the exceptions (paged) in `except`.
pub(super) async fn search_resource(State(s): State<Arc<Shared>>, req: Request) -> Response {
    finish(
        async {
            let r: model::ResourceSearch = read(req).await?;
            let agent = entity_id("subject", &r.subject.kind, &r.subject.id).map_err(invalid)?;
            let action = s.config.naming.action("action.name", &r.action.name).map_err(invalid)?;
            check_type("resource", &r.resource.kind).map_err(invalid)?;
            let ctx = check_context("context", r.context.as_ref()).map_err(invalid)?;
            let (size, token) = page_in(&r.page)?;
            let prefix = format!("{}:", r.resource.kind);
            let paging = PageRequest {
                size,
                token,
                prefix: &prefix,
            };
            let p = s
                .config
                .app
                .lookup_targets(
                    &agent,
                    ctx.account.as_ref(),
                    &action,
                    paging,
                    ctx.consistency,
                    s.deadline(),
                )
                .await
                .map_err(app_error)?;
            let items: Vec<_> = p
                .page
                .items
                .iter()
                .filter_map(|t| as_entity(&r.resource.kind, t))
                .collect();
            let count = items.len();
            if p.page.every_target {
                let context = SearchContext {
                    every_resource: true,
                    except: Some(items),
                    ..SearchContext::at(p.revision)
                };
                Ok(search_reply(
                    p.next_token,
                    count,
                    context,
                    Vec::<model::EntityOut>::new(),
                ))
            } else {
                Ok(search_reply(p.next_token, count, SearchContext::at(p.revision), items))
            }
        }
        .await,
    )
}

/// `POST /access/v1/search/action`: ListActions, paged in IRI order, each action named as
/// a request would name it.
pub(super) async fn search_action(State(s): State<Arc<Shared>>, req: Request) -> Response {
    finish(
        async {
            let r: model::ActionSearch = read(req).await?;
            let agent = entity_id("subject", &r.subject.kind, &r.subject.id).map_err(invalid)?;
            let target = entity_id("resource", &r.resource.kind, &r.resource.id).map_err(invalid)?;
            let ctx = check_context("context", r.context.as_ref()).map_err(invalid)?;
            let (size, token) = page_in(&r.page)?;
            let p = s
                .config
                .app
                .list_actions_page(
                    &agent,
                    ctx.account.as_ref(),
                    &target,
                    PageRequest::new(size, token),
                    ctx.consistency,
                    s.deadline(),
                )
                .await
                .map_err(app_error)?;
            let results: Vec<ActionOut> = p
                .page
                .iter()
                .map(|a| ActionOut {
                    name: s.config.naming.name(a).into_owned(),
                })
                .collect();
            Ok(search_reply(
                p.next_token,
                results.len(),
                SearchContext::at(p.revision),
                results,
            ))
        }
        .await,
    )
}

/// `GET /.well-known/authzen-configuration`: every endpoint, under the configured public
/// URL or, without one, under the host the request named.
pub(super) async fn metadata(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let base = match &s.config.public_url {
        Some(url) => url.clone(),
        None => {
            let host = req
                .headers()
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| req.uri().authority().map(|a| a.as_str()))
                .filter(|h| plausible_host(h));
            let scheme = if s.config.tls { "https" } else { "http" };
            match host {
                Some(h) => format!("{scheme}://{h}"),
                None => format!("{scheme}://{}", s.config.bound),
            }
        }
    };
    json_response(StatusCode::OK, &Metadata::under(&base))
}

/// A host (name or IP literal) with an optional port, nothing else.
fn plausible_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

pub(super) async fn not_found(req: Request) -> Response {
    finish(Err(HttpError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint at {}: the AuthZEN endpoints are listed at {}",
            req.uri().path(),
            super::METADATA
        ),
    )))
}

pub(super) async fn method_not_allowed(req: Request) -> Response {
    let allowed = if req.uri().path() == super::METADATA {
        "GET"
    } else {
        "POST"
    };
    let mut r = finish(Err(HttpError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} {}: this endpoint takes {allowed}", req.method(), req.uri().path()),
    )));
    r.headers_mut()
        .insert(http::header::ALLOW, http::HeaderValue::from_static(allowed));
    r
}
