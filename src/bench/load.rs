//! Closed-loop gRPC load: N tasks, each with one request in flight over a shared channel,
//! per-task HDR histograms merged at the end (a warm-up is not recorded).
//!
//! [`Echo`] is the floor to compare against: a bare tonic server for the same
//! `AuthorizationService`, answering every call at once with a decision that echoes the
//! request's action, so the same client sends the same messages and gets the same
//! response shape, with no engine, no index and no layers in between.

use crate::bench::org::CheckCase;
use crate::grpc::pb;
use crate::grpc::pb::authorization_service_client::AuthorizationServiceClient;
use crate::grpc::pb::authorization_service_server::{AuthorizationService, AuthorizationServiceServer};
use hdrhistogram::Histogram;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::{Request, Response, Status};

/// See the module docs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

fn echo(action: String) -> Option<pb::Decision> {
    Some(pb::Decision {
        allowed: false,
        reason: pb::Reason::NotPermitted as i32,
        revision: 1,
        action,
        ..Default::default()
    })
}

#[tonic::async_trait]
impl AuthorizationService for Echo {
    async fn is_authorized(
        &self,
        req: Request<pb::IsAuthorizedRequest>,
    ) -> Result<Response<pb::IsAuthorizedResponse>, Status> {
        Ok(Response::new(pb::IsAuthorizedResponse {
            decision: echo(req.into_inner().action),
        }))
    }

    async fn is_authorized_in_account(
        &self,
        req: Request<pb::IsAuthorizedInAccountRequest>,
    ) -> Result<Response<pb::IsAuthorizedInAccountResponse>, Status> {
        Ok(Response::new(pb::IsAuthorizedInAccountResponse {
            decision: echo(req.into_inner().action),
        }))
    }

    /// One echoed decision per item, in order.
    async fn check_batch(
        &self,
        req: Request<pb::CheckBatchRequest>,
    ) -> Result<Response<pb::CheckBatchResponse>, Status> {
        let results = req
            .into_inner()
            .items
            .into_iter()
            .map(|i| pb::BatchResult {
                correlation_id: i.correlation_id,
                outcome: echo(i.action).map(pb::batch_result::Outcome::Decision),
            })
            .collect();
        Ok(Response::new(pb::CheckBatchResponse { results, revision: 1 }))
    }

    /// Nothing is allowed anywhere (the echo holds no rules).
    async fn lookup_targets(
        &self,
        _: Request<pb::LookupTargetsRequest>,
    ) -> Result<Response<pb::LookupTargetsResponse>, Status> {
        Ok(Response::new(pb::LookupTargetsResponse {
            revision: 1,
            ..Default::default()
        }))
    }

    async fn lookup_agents(
        &self,
        _: Request<pb::LookupAgentsRequest>,
    ) -> Result<Response<pb::LookupAgentsResponse>, Status> {
        Ok(Response::new(pb::LookupAgentsResponse {
            revision: 1,
            ..Default::default()
        }))
    }

    async fn list_actions(
        &self,
        _: Request<pb::ListActionsRequest>,
    ) -> Result<Response<pb::ListActionsResponse>, Status> {
        Ok(Response::new(pb::ListActionsResponse {
            revision: 1,
            ..Default::default()
        }))
    }
}

/// Serves [`Echo`] on `listener` until the process ends.
/// The floor: the same service answered by a bare tonic server with exactly tonic's
/// defaults (`Server::builder()`, and `TCP_NODELAY` on accepted sockets as tonic's own
/// `serve(addr)` sets it), so any gap to it is Endocarp's cost.
pub async fn serve_echo(listener: tokio::net::TcpListener) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(AuthorizationServiceServer::new(Echo))
        .serve_with_incoming(incoming)
        .await
}

/// A check as the request the client sends.
#[derive(Debug, Clone)]
pub enum Call {
    Global(pb::IsAuthorizedRequest),
    InAccount(pb::IsAuthorizedInAccountRequest),
}

impl Call {
    /// (agent, account — empty for a global check —, action, target).
    pub fn fields(&self) -> (&str, &str, &str, &str) {
        match self {
            Call::Global(r) => (&r.agent_id, "", &r.action, &r.target),
            Call::InAccount(r) => (&r.agent_id, &r.account_id, &r.action, &r.target),
        }
    }
}

impl From<&CheckCase> for Call {
    fn from(c: &CheckCase) -> Call {
        match &c.account {
            None => Call::Global(pb::IsAuthorizedRequest {
                agent_id: c.agent.clone(),
                action: c.action.to_string(),
                target: c.target.clone(),
                ..Default::default()
            }),
            Some(account) => Call::InAccount(pb::IsAuthorizedInAccountRequest {
                agent_id: c.agent.clone(),
                account_id: account.clone(),
                action: c.action.to_string(),
                target: c.target.clone(),
                ..Default::default()
            }),
        }
    }
}

/// What one load run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub in_flight: usize,
    pub calls: u64,
    pub errors: u64,
    pub allowed: u64,
    pub elapsed: Duration,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    /// The server's CPU time (user + system) over the measured window, when its pid was
    /// given: with `calls`, the server's cost per call.
    pub server_cpu: Option<Duration>,
    /// The client's CPU time over the measured window (its one thread): near `elapsed`,
    /// the client, not the server, set the pace.
    pub client_cpu: Option<Duration>,
}

impl LoadResult {
    /// The server's CPU time per call, in nanoseconds.
    pub fn cpu_per_call_ns(&self) -> Option<u64> {
        Some(self.server_cpu?.as_nanos() as u64 / self.calls.max(1))
    }

    /// The client's CPU time per call, in nanoseconds.
    pub fn client_cpu_per_call_ns(&self) -> Option<u64> {
        Some(self.client_cpu?.as_nanos() as u64 / self.calls.max(1))
    }

    /// The share of the measured time the client's thread was on its core.
    pub fn client_busy(&self) -> Option<f64> {
        Some(self.client_cpu?.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9))
    }

    pub fn rps(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Drives `url` with `in_flight` closed-loop callers for `warmup` (not recorded) and then
/// `duration`, cycling through `calls`.
///
/// The callers run on one thread of their own (a current-thread runtime), as a client
/// given one core should: the process's multi-thread runtime has two workers, and pinned
/// to one core they hand the connection back and forth (3.4 times the context switches
/// against the server than against the echo), which slowed the client, not the server.
pub async fn run(
    url: &str,
    calls: Arc<Vec<Call>>,
    in_flight: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
) -> anyhow::Result<LoadResult> {
    let load = Load {
        url: url.to_string(),
        calls,
        in_flight,
        warmup,
        duration,
        server_pid,
    };
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(run_here(load))
    })
    .await?
}

/// What [`run`] was asked to do.
struct Load {
    url: String,
    calls: Arc<Vec<Call>>,
    in_flight: usize,
    warmup: Duration,
    duration: Duration,
    server_pid: Option<u32>,
}

/// [`run`] on the calling runtime.
async fn run_here(load: Load) -> anyhow::Result<LoadResult> {
    let Load {
        url,
        calls,
        in_flight,
        warmup,
        duration,
        server_pid,
    } = load;
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let started = Instant::now();
    let record_from = started + warmup;
    let end = record_from + duration;
    let mut tasks = Vec::with_capacity(in_flight);
    for t in 0..in_flight {
        let mut client = AuthorizationServiceClient::new(channel.clone());
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
            let (mut errors, mut allowed) = (0u64, 0u64);
            let mut i = t * 7919;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let call = &calls[i % calls.len()];
                i += 1;
                let outcome = match call {
                    Call::Global(r) => client.is_authorized(r.clone()).await.map(|r| r.into_inner().decision),
                    Call::InAccount(r) => client
                        .is_authorized_in_account(r.clone())
                        .await
                        .map(|r| r.into_inner().decision),
                };
                if now < record_from {
                    continue;
                }
                let took = now.elapsed().as_nanos() as u64;
                let _ = h.record(took.max(1));
                match outcome {
                    Ok(d) => allowed += u64::from(d.is_some_and(|d| d.allowed)),
                    Err(_) => errors += 1,
                }
            }
            (h, errors, allowed)
        }));
    }
    // The server's CPU and this thread's (every caller runs on it) over the measured
    // window (the callers stop at `end`).
    tokio::time::sleep_until(record_from.into()).await;
    let cpu_from = server_pid.and_then(super::cpu_time);
    let client_from = super::thread_cpu_time();
    tokio::time::sleep_until(end.into()).await;
    let server_cpu = match (server_pid.and_then(super::cpu_time), cpu_from) {
        (Some(to), Some(from)) => Some(to.saturating_sub(from)),
        _ => None,
    };
    let client_cpu = match (super::thread_cpu_time(), client_from) {
        (Some(to), Some(from)) => Some(to.saturating_sub(from)),
        _ => None,
    };
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let (mut errors, mut allowed) = (0, 0);
    for t in tasks {
        let (h, e, a) = t.await?;
        total.add(h)?;
        errors += e;
        allowed += a;
    }
    Ok(LoadResult {
        in_flight,
        calls: total.len(),
        errors,
        allowed,
        elapsed: duration,
        p50_ns: total.value_at_quantile(0.5),
        p99_ns: total.value_at_quantile(0.99),
        p999_ns: total.value_at_quantile(0.999),
        server_cpu,
        client_cpu,
    })
}

/// A check of the mix as a CheckBatch item.
fn batch_item(c: &Call) -> pb::BatchItem {
    let (agent, account, action, target) = c.fields();
    pb::BatchItem {
        correlation_id: String::new(),
        agent_id: agent.to_string(),
        account_id: account.to_string(),
        action: action.to_string(),
        target: target.to_string(),
        context: Default::default(),
    }
}

/// Checks per second over one channel with `in_flight` closed-loop callers, each sending
/// either single calls (`batch` = None) or CheckBatch calls of `batch` items from the mix;
/// a warm-up of a tenth of `duration` first. Returns (checks per second, errors).
pub async fn checks_per_second(
    url: &str,
    calls: Arc<Vec<Call>>,
    in_flight: usize,
    batch: Option<usize>,
    duration: Duration,
) -> anyhow::Result<(f64, u64)> {
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let record_from = Instant::now() + duration / 10;
    let end = record_from + duration;
    let mut tasks = Vec::new();
    for t in 0..in_flight {
        let mut client = AuthorizationServiceClient::new(channel.clone());
        let calls = calls.clone();
        tasks.push(tokio::spawn(async move {
            let (mut checks, mut errors) = (0u64, 0u64);
            let mut i = t * 7919;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let decided = match batch {
                    None => {
                        let call = &calls[i % calls.len()];
                        i += 1;
                        let r = match call {
                            Call::Global(r) => client.is_authorized(r.clone()).await.map(|_| 1),
                            Call::InAccount(r) => client.is_authorized_in_account(r.clone()).await.map(|_| 1),
                        };
                        r.map_err(|_| ())
                    }
                    Some(n) => {
                        let items = (0..n).map(|k| batch_item(&calls[(i + k) % calls.len()])).collect();
                        i += n;
                        client
                            .check_batch(pb::CheckBatchRequest {
                                items,
                                ..Default::default()
                            })
                            .await
                            .map(|r| r.into_inner().results.len() as u64)
                            .map_err(|_| ())
                    }
                };
                if now < record_from {
                    continue;
                }
                match decided {
                    Ok(n) => checks += n,
                    Err(()) => errors += 1,
                }
            }
            (checks, errors)
        }));
    }
    let (mut checks, mut errors) = (0, 0);
    for t in tasks {
        let (c, e) = t.await?;
        checks += c;
        errors += e;
    }
    Ok((checks as f64 / duration.as_secs_f64(), errors))
}

/// Latency of one kind of call, one at a time over one channel, cycling through
/// `requests` for `duration` (after 200 unrecorded calls): (p50, p99, p99.9, calls, errors).
pub async fn unary_latency<R, F, Fut>(
    url: &str,
    requests: &[R],
    duration: Duration,
    mut call: F,
) -> anyhow::Result<(u64, u64, u64, u64, u64)>
where
    F: FnMut(AuthorizationServiceClient<tonic::transport::Channel>, R) -> Fut,
    Fut: std::future::Future<Output = Result<(), Status>>,
    R: Clone,
{
    let channel = tonic::transport::Endpoint::from_shared(url.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let client = AuthorizationServiceClient::new(channel);
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut errors = 0;
    for r in requests.iter().take(200) {
        let _ = call(client.clone(), r.clone()).await;
    }
    let end = Instant::now() + duration;
    let mut i = 0;
    while Instant::now() < end {
        let t = Instant::now();
        if call(client.clone(), requests[i % requests.len()].clone())
            .await
            .is_err()
        {
            errors += 1;
        }
        h.record((t.elapsed().as_nanos() as u64).max(1))?;
        i += 1;
    }
    Ok((
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.len(),
        errors,
    ))
}
