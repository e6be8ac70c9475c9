//! Shared test helpers: the decision scenarios of `tests/fixtures/scenarios/`, and a
//! server on loopback ports, in this process (the default) or as an `endocarp serve`
//! process when the process itself is under test.
#![allow(dead_code)]

pub mod history;
pub mod http;
pub mod pg;

use endocarp::configuration::Settings;
use endocarp::domain::event::Triple;
use endocarp::grpc::pb;
use endocarp::grpc::pb::authorization_service_client::AuthorizationServiceClient;
use endocarp::grpc::pb::event_service_client::EventServiceClient;
use endocarp::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient;
use endocarp::startup::{Addresses, Application};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// One decision scenario.
#[derive(Debug, Deserialize)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub events: Vec<BTreeMap<String, String>>,
    pub checks: Vec<CheckCase>,
    /// `narrower`: a Casbin export cannot express the scenario's conflict strategies, so a
    /// plain enforcer over it may deny more than Endocarp, never allow more.
    #[serde(default)]
    pub casbin_export: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CheckCase {
    pub agent: String,
    #[serde(default)]
    pub account: Option<String>,
    pub action: String,
    pub target: String,
    pub allowed: bool,
    #[serde(default)]
    pub reason: Option<String>,
    /// Values for rules' constraints: a map keyed by left operand (as `endocarp check
    /// --context` takes it).
    #[serde(default)]
    pub context: Option<serde_json::Value>,
}

impl CheckCase {
    /// The case's context as the engine takes it.
    pub fn context(&self) -> endocarp::domain::constraint::Context {
        let mut c = endocarp::domain::constraint::Context::default();
        if let Some(serde_json::Value::Object(m)) = &self.context {
            for (k, v) in m {
                let (value, unit) = endocarp::domain::constraint::context_from_json(k, v)
                    .unwrap_or_else(|e| panic!("{self:?}: context: {e}"));
                c.insert(k, value, unit.as_deref())
                    .unwrap_or_else(|e| panic!("{self:?}: context: {e}"));
            }
        }
        c
    }

    /// The case's context as a gRPC request carries it.
    pub fn pb_context(&self) -> std::collections::HashMap<String, pb::ContextValue> {
        endocarp::grpc::convert::context_to_pb(&self.context())
    }
}

/// The folder with the decision scenarios (in the repository).
pub fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenarios")
}

/// Every scenario of every file, with the file name.
pub fn scenarios() -> Vec<(String, Scenario)> {
    let dir = scenarios_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios folder")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("scenario file");
        let list: Vec<Scenario> = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for s in list {
            out.push((name.clone(), s));
        }
    }
    assert!(out.len() >= 20, "expected the decision scenarios, found {}", out.len());
    out
}

/// A short-form scenario event as a triple.
pub fn triple(e: &BTreeMap<String, String>) -> Triple {
    let mut payload = e.clone();
    let mut take = |k: &str| payload.remove(k).unwrap_or_default();
    let event_type = take("type");
    let aggregate_id = take("aggregate");
    let subject = take("s");
    let predicate = take("p");
    let object = take("o");
    Triple {
        event_type,
        aggregate_id,
        subject,
        predicate,
        object,
        payload,
    }
}

pub fn pb_event(t: &Triple) -> pb::TripleEvent {
    pb::TripleEvent {
        aggregate_id: t.aggregate_id.clone(),
        event_type: t.event_type.clone(),
        subject: t.subject.clone(),
        predicate: t.predicate.clone(),
        object: t.object.clone(),
        attributes: t.payload.clone().into_iter().collect(),
        ..Default::default()
    }
}

/// A catalogue event in protobuf form, from its parts.
pub fn pb_triple(ty: &str, agg: &str, s: &str, p: &str, o: &str, kv: &[(&str, &str)]) -> pb::TripleEvent {
    pb_event(&history::t(ty, agg, s, p, o, kv))
}

/// A role assignment request (global when `account` is empty).
pub fn role_request(agent: &str, role: &str, account: &str) -> pb::RoleAssignmentRequest {
    pb::RoleAssignmentRequest {
        agent_id: agent.into(),
        role_id: role.into(),
        account_id: account.into(),
        request_id: String::new(),
    }
}

/// A membership request (`role` empty for RemoveMember).
pub fn member_request(account: &str, agent: &str, role: &str) -> pb::MemberRequest {
    pb::MemberRequest {
        account_id: account.into(),
        agent_id: agent.into(),
        role_id: role.into(),
        request_id: String::new(),
    }
}

pub fn group_request(agent: &str, group: &str) -> pb::GroupMembershipRequest {
    pb::GroupMembershipRequest {
        agent_id: agent.into(),
        group_id: group.into(),
        request_id: String::new(),
    }
}

/// A role-to-role edge: `role` gains `parent`.
pub fn inherit_request(role: &str, parent: &str) -> pb::RoleToRoleRequest {
    pb::RoleToRoleRequest {
        role_id: role.into(),
        parent_role_id: parent.into(),
        request_id: String::new(),
    }
}

pub fn status_request(id: &str) -> pb::StatusRequest {
    pb::StatusRequest {
        id: id.into(),
        request_id: String::new(),
    }
}

pub fn policy_request(policy: &str, policy_type: &str) -> pb::CreatePolicyRequest {
    pb::CreatePolicyRequest {
        policy_id: policy.into(),
        policy_type: policy_type.into(),
        request_id: String::new(),
        conflict: String::new(),
    }
}

/// The use cases on a fresh SQLite file in `dir`, without a server (for tests of the
/// application layer): the store, the projector and the app.
pub async fn app_on_sqlite(
    dir: &Path,
    settings: endocarp::app::AppSettings,
) -> (
    endocarp::store::Store,
    std::sync::Arc<endocarp::app::Projector>,
    endocarp::app::App,
) {
    let url = format!("sqlite://{}", dir.join("app.db").display());
    let store = endocarp::store::Store::connect(&url, true).await.expect("open SQLite");
    store.migrate().await.expect("migrate");
    let projector = endocarp::app::Projector::start(store.clone(), None, 0)
        .await
        .expect("projector");
    let app = endocarp::app::App::new(store.clone(), projector.clone(), settings);
    (store, projector, app)
}

/// The gRPC health status (`ServingStatus` as i32) of `service` ("" for the server) at `url`.
pub async fn health(url: &str, service: &str) -> i32 {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let ch = Channel::from_shared(url.to_string())
        .expect("a URL")
        .connect()
        .await
        .expect("connect for health");
    HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health check")
        .into_inner()
        .status
}

/// The server's own status (`GetStatus`).
pub async fn server_status(server: &Server) -> pb::ServerStatus {
    server
        .admin()
        .await
        .get_status(pb::GetStatusRequest::default())
        .await
        .expect("status")
        .into_inner()
}

/// A global check request without explanation or consistency.
pub fn check_request(agent: &str, action: &str, target: &str) -> pb::IsAuthorizedRequest {
    pb::IsAuthorizedRequest {
        agent_id: agent.into(),
        action: action.into(),
        target: target.into(),
        consistency: None,
        explain: false,
        explain_limit: 0,
        context: Default::default(),
    }
}

/// The log's head as the server's event API reports it.
pub async fn log_head(server: &Server) -> u64 {
    server
        .events()
        .await
        .read_events(pb::ReadEventsRequest::default())
        .await
        .expect("read events")
        .into_inner()
        .head_revision
}

/// A grant / revoke / prohibition request.
/// The first page of ListRules for `policy` (every policy when empty).
pub async fn list_rules(server: &Server, policy: &str) -> Vec<pb::Rule> {
    server
        .admin()
        .await
        .list_rules(pb::ListRulesRequest {
            policy_id: policy.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .rules
}

pub fn rule_request(policy: &str, assignee: &str, action: &str, target: &str, request_id: &str) -> pb::RuleRequest {
    pb::RuleRequest {
        policy_id: policy.into(),
        assignee: assignee.into(),
        action: action.into(),
        target: target.into(),
        request_id: request_id.into(),
        constraint: String::new(),
        refinement: String::new(),
        duty: String::new(),
        remedy: String::new(),
    }
}

pub fn reason_name(r: i32) -> &'static str {
    match pb::Reason::try_from(r).unwrap_or(pb::Reason::Unspecified) {
        pb::Reason::Permitted => "PERMITTED",
        pb::Reason::Prohibited => "PROHIBITED",
        pb::Reason::NotPermitted => "NOT_PERMITTED",
        pb::Reason::AgentInactive => "AGENT_INACTIVE",
        pb::Reason::AccountInactive => "ACCOUNT_INACTIVE",
        pb::Reason::NotAMember => "NOT_A_MEMBER",
        pb::Reason::Unspecified => "UNSPECIFIED",
    }
}

/// A running server: the application inside this process (its own runtime on its own
/// thread), or an `endocarp serve` process.
enum Running {
    InProcess {
        shutdown: CancellationToken,
        thread: std::thread::JoinHandle<()>,
        app: std::sync::Arc<endocarp::app::App>,
    },
    Process(Child),
}

/// How a server is run.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    InProcess,
    Process,
}

/// A server on loopback ports chosen by the OS.
pub struct Server {
    running: Option<Running>,
    mode: Mode,
    pub dir: PathBuf,
    pub decision_url: String,
    pub admin_url: String,
    /// The operations port (`http://host:port`: /livez, /readyz, /metrics).
    pub ops_url: String,
    /// The AuthZEN HTTP API (`http://host:port`).
    pub authzen_url: String,
    extra: Vec<String>,
    /// Extra environment variables for the process.
    env: Vec<(String, String)>,
    /// Where the server's stderr goes, when the test reads its logs.
    log: Option<PathBuf>,
    /// The database the server uses (a fresh file in `dir` unless given).
    database: String,
    _tmp: Option<tempfile::TempDir>,
}

/// `serve`'s settings parsed from flags, as the binary parses them.
#[derive(clap::Parser)]
struct ServeFlags {
    #[command(flatten)]
    settings: Settings,
}

impl Server {
    /// Starts the application in this process on a fresh SQLite file.
    pub fn start(extra: &[&str]) -> Server {
        Server::start_on(None, extra)
    }

    /// Starts the application in this process on the given database URL (or a fresh
    /// SQLite file).
    pub fn start_on(database: Option<&str>, extra: &[&str]) -> Server {
        Server::new(Mode::InProcess, database, extra, &[], None)
    }

    /// Starts an `endocarp serve` process (for tests of the process itself: signals,
    /// SIGKILL, its own logs and metrics).
    pub fn process(database: Option<&str>, extra: &[&str]) -> Server {
        Server::new(Mode::Process, database, extra, &[], None)
    }

    /// Starts an `endocarp serve` process with extra environment variables, its stderr
    /// going to `log`.
    pub fn start_with(database: Option<&str>, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Server {
        Server::new(Mode::Process, database, extra, env, log)
    }

    fn new(mode: Mode, database: Option<&str>, extra: &[&str], env: &[(&str, &str)], log: Option<&Path>) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let database = database
            .map(str::to_string)
            .unwrap_or_else(|| format!("sqlite://{}", dir.join("endocarp.db").display()));
        let mut s = Server {
            running: None,
            mode,
            database,
            dir,
            decision_url: String::new(),
            admin_url: String::new(),
            ops_url: String::new(),
            authzen_url: String::new(),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            log: log.map(Path::to_path_buf),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            _tmp: Some(tmp),
        };
        s.spawn();
        s
    }

    /// The server's process id (this process for an in-process server).
    pub fn pid(&self) -> u32 {
        match &self.running {
            Some(Running::Process(c)) => c.id(),
            _ => std::process::id(),
        }
    }

    pub fn database_url(&self) -> String {
        self.database.clone()
    }

    /// The application of an in-process server (its store, projector, settings).
    pub fn app(&self) -> std::sync::Arc<endocarp::app::App> {
        match &self.running {
            Some(Running::InProcess { app, .. }) => app.clone(),
            _ => panic!("only an in-process server exposes its application"),
        }
    }

    /// The test's own flags for the next (re)start.
    pub fn set_args(&mut self, extra: &[&str]) {
        self.extra = extra.iter().map(|s| s.to_string()).collect();
    }

    /// The flags `serve` gets: loopback ports (the ones of the first start, on a restart,
    /// so clients keep their URLs), the database, then the test's own.
    fn flags(&self) -> Vec<String> {
        let port = |url: &str| url.rsplit(':').next().unwrap_or("0").to_string();
        let (decision_port, admin_port, ops_port, authzen_port) = if self.decision_url.is_empty() {
            ("0".to_string(), "0".to_string(), "0".to_string(), "0".to_string())
        } else {
            (
                port(&self.decision_url),
                port(&self.admin_url),
                port(&self.ops_url),
                port(&self.authzen_url),
            )
        };
        let mut flags: Vec<String> = vec![
            "--listen".into(),
            format!("127.0.0.1:{decision_port}"),
            "--admin-listen".into(),
            format!("127.0.0.1:{admin_port}"),
            "--ops-listen".into(),
            format!("127.0.0.1:{ops_port}"),
            "--database-url".into(),
            self.database_url(),
        ];
        if !self.extra.iter().any(|f| f == "--authzen-listen") {
            flags.extend(["--authzen-listen".into(), format!("127.0.0.1:{authzen_port}")]);
        }
        flags.extend(self.extra.iter().cloned());
        flags
    }

    fn spawn(&mut self) {
        let addresses = match self.mode {
            Mode::InProcess => self.spawn_in_process(),
            Mode::Process => self.spawn_process(),
        };
        self.decision_url = format!("http://{}", addresses.decision);
        self.admin_url = format!("http://{}", addresses.admin);
        self.ops_url = format!("http://{}", addresses.ops);
        self.authzen_url = addresses.authzen.map(|a| format!("http://{a}")).unwrap_or_default();
    }

    /// Builds the application on a runtime of its own (so it outlives the test's runtime
    /// calls and can be stopped from synchronous code) and waits until every port is bound.
    fn spawn_in_process(&mut self) -> Addresses {
        let mut argv = vec!["serve".to_string()];
        argv.extend(self.flags());
        let settings = <ServeFlags as clap::Parser>::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("serve flags: {e}"))
            .settings;
        let shutdown = CancellationToken::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = shutdown.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the server");
            runtime.block_on(async move {
                match Application::build(settings, stop).await {
                    Ok(app) => {
                        let _ = tx.send(Ok((app.addresses(), app.app())));
                        if let Err(e) = app.run_until_stopped().await {
                            eprintln!("in-process server stopped with an error: {e:#}");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(format!("{e:#}")));
                    }
                }
            });
        });
        match rx.recv() {
            Ok(Ok((addresses, app))) => {
                self.running = Some(Running::InProcess { shutdown, thread, app });
                addresses
            }
            Ok(Err(e)) => panic!("the application did not start: {e}"),
            Err(_) => panic!("the application's thread ended before it started"),
        }
    }

    /// Starts `endocarp serve` and waits for its ready file.
    fn spawn_process(&mut self) -> Addresses {
        let ready = self.dir.join(format!("ready-{}.json", ulid::Ulid::generate()));
        let mut child = Command::new(env!("CARGO_BIN_EXE_endocarp"))
            .arg("serve")
            .args(self.flags())
            .arg("--ready-file")
            .arg(&ready)
            .env(
                "RUST_LOG",
                std::env::var("ENDOCARP_TEST_SERVER_LOG_LEVEL").unwrap_or_else(|_| "warn".into()),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(match &self.log {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("server log file")),
                None => server_log(),
            })
            .spawn()
            .expect("spawn endocarp serve");
        let addresses = wait_ready(&mut child, &ready);
        self.running = Some(Running::Process(child));
        addresses
    }

    /// Stops the server abruptly (a process: SIGKILL, no shutdown, no flush) and starts
    /// it again on the same database and ports. An in-process server is stopped and
    /// restarted cleanly: only a process can be killed mid-write.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// A process: SIGKILL. In process: shutdown, waiting for the application to stop.
    pub fn kill(&mut self) {
        match self.running.take() {
            Some(Running::Process(mut c)) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            Some(Running::InProcess { shutdown, thread, .. }) => {
                shutdown.cancel();
                let _ = thread.join();
            }
            None => {}
        }
    }

    /// Sends SIGTERM (in process: fires the shutdown token) and waits for a clean exit;
    /// returns whether it exited cleanly within 10 s.
    pub fn terminate(&mut self) -> bool {
        match self.running.take() {
            Some(Running::Process(mut c)) => {
                let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    if let Ok(Some(status)) = c.try_wait() {
                        return status.success();
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = c.kill();
                false
            }
            Some(Running::InProcess { shutdown, thread, .. }) => {
                shutdown.cancel();
                thread.join().is_ok()
            }
            None => false,
        }
    }

    pub async fn decisions(&self) -> AuthorizationServiceClient<Channel> {
        AuthorizationServiceClient::connect(self.decision_url.clone())
            .await
            .expect("connect decision API")
    }

    pub async fn admin(&self) -> PolicyAdminServiceClient<Channel> {
        PolicyAdminServiceClient::connect(self.admin_url.clone())
            .await
            .expect("connect admin API")
    }

    pub async fn events(&self) -> EventServiceClient<Channel> {
        EventServiceClient::connect(self.admin_url.clone())
            .await
            .expect("connect event API")
    }
}

/// Typed calls against one server, so tests say what they do (grant, assign, check, …)
/// rather than build requests. Writes panic on failure (they are the set-up); checks and
/// appends return the status, since tests assert on it.
pub struct Client {
    pub admin: PolicyAdminServiceClient<Channel>,
    pub decisions: AuthorizationServiceClient<Channel>,
    pub events: EventServiceClient<Channel>,
}

impl Server {
    pub async fn client(&self) -> Client {
        Client {
            admin: self.admin().await,
            decisions: self.decisions().await,
            events: self.events().await,
        }
    }
}

impl Client {
    pub async fn grant(&mut self, policy: &str, assignee: &str, action: &str, target: &str) -> pb::WriteResponse {
        let r = rule_request(policy, assignee, action, target, "");
        self.admin.grant_permission(r).await.expect("grant").into_inner()
    }

    pub async fn prohibit(&mut self, policy: &str, assignee: &str, action: &str, target: &str) -> pb::WriteResponse {
        let r = rule_request(policy, assignee, action, target, "");
        self.admin.set_prohibition(r).await.expect("prohibit").into_inner()
    }

    /// A global role assignment.
    pub async fn assign(&mut self, agent: &str, role: &str) -> pb::WriteResponse {
        let r = role_request(agent, role, "");
        self.admin.assign_role(r).await.expect("assign").into_inner()
    }

    pub async fn revoke(&mut self, agent: &str, role: &str) -> pb::WriteResponse {
        let r = role_request(agent, role, "");
        self.admin.revoke_role(r).await.expect("revoke").into_inner()
    }

    /// An explicit account edge.
    pub async fn assign_in(&mut self, account: &str, agent: &str, role: &str) -> pb::WriteResponse {
        let r = role_request(agent, role, account);
        self.admin.assign_role(r).await.expect("assign in account").into_inner()
    }

    pub async fn revoke_in(&mut self, account: &str, agent: &str, role: &str) -> pb::WriteResponse {
        let r = role_request(agent, role, account);
        self.admin.revoke_role(r).await.expect("revoke in account").into_inner()
    }

    pub async fn add_member(&mut self, account: &str, agent: &str, role: &str) -> pb::WriteResponse {
        let r = member_request(account, agent, role);
        self.admin.add_member(r).await.expect("add member").into_inner()
    }

    pub async fn join_group(&mut self, agent: &str, group: &str) -> pb::WriteResponse {
        let r = group_request(agent, group);
        self.admin.add_group_member(r).await.expect("join group").into_inner()
    }

    /// A global check, with an explanation.
    pub async fn check(&mut self, agent: &str, action: &str, target: &str) -> Result<pb::Decision, tonic::Status> {
        grpc_check(&mut self.decisions, agent, None, action, target, None).await
    }

    /// A check inside `account`, with an explanation.
    pub async fn check_in(
        &mut self,
        account: &str,
        agent: &str,
        action: &str,
        target: &str,
    ) -> Result<pb::Decision, tonic::Status> {
        grpc_check(&mut self.decisions, agent, Some(account), action, target, None).await
    }

    pub async fn append(&mut self, events: Vec<pb::TripleEvent>) -> Result<pb::AppendEventsResponse, tonic::Status> {
        self.events
            .append_events(pb::AppendEventsRequest { events })
            .await
            .map(tonic::Response::into_inner)
    }

    /// The revision this server has applied.
    pub async fn head(&mut self) -> u64 {
        let s = self
            .admin
            .get_status(pb::GetStatusRequest::default())
            .await
            .expect("status");
        s.into_inner().revision
    }

    /// Every audit entry (one page of up to 1,000).
    pub async fn audit(&mut self) -> Vec<pb::AuditEntry> {
        let r = pb::ListAuditLogRequest {
            page_size: 1000,
            page_token: String::new(),
        };
        self.admin.list_audit_log(r).await.expect("audit").into_inner().entries
    }
}

/// Waits for `endocarp serve`'s ready file (JSON with the bound addresses); panics when
/// the process exits first or nothing comes within a minute.
pub fn wait_ready(child: &mut Child, ready: &Path) -> Addresses {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(ready) {
            let parsed: endocarp::startup::Ready =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("ready file {text:?}: {e}"));
            // A server's ready file also says how its start-up load went.
            assert!(parsed.load.is_some(), "ready file without its load: {text}");
            assert_eq!(parsed.pid, child.id(), "the ready file names the process");
            return parsed.addresses;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "endocarp serve exited before it was ready ({status}, after {:?})",
                started.elapsed()
            );
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("endocarp serve was not ready within a minute");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Server logs go nowhere, unless `ENDOCARP_TEST_SERVER_LOGS` names a folder to keep them in.
fn server_log() -> Stdio {
    match std::env::var("ENDOCARP_TEST_SERVER_LOGS") {
        Ok(dir) if !dir.is_empty() => {
            let path = Path::new(&dir).join(format!("{}.log", ulid::Ulid::generate()));
            std::fs::File::create(path)
                .map(Stdio::from)
                .unwrap_or_else(|_| Stdio::null())
        }
        _ => Stdio::null(),
    }
}

impl Drop for Server {
    /// A process is killed. An in-process server is told to stop but not waited for: its
    /// graceful drain needs the test's clients to answer, and they may live on the very
    /// runtime this drop blocks (it stops once the test's runtime closes them).
    fn drop(&mut self) {
        match self.running.take() {
            Some(Running::InProcess { shutdown, .. }) => shutdown.cancel(),
            other => {
                self.running = other;
                self.kill();
            }
        }
    }
}

/// Asks a check through gRPC; returns the decision or the status.
pub async fn grpc_check(
    c: &mut AuthorizationServiceClient<Channel>,
    agent: &str,
    account: Option<&str>,
    action: &str,
    target: &str,
    consistency: Option<pb::Consistency>,
) -> Result<pb::Decision, tonic::Status> {
    grpc_check_in(c, agent, account, action, target, consistency, Default::default()).await
}

/// [`grpc_check`] with a context for rules' constraints.
pub async fn grpc_check_in(
    c: &mut AuthorizationServiceClient<Channel>,
    agent: &str,
    account: Option<&str>,
    action: &str,
    target: &str,
    consistency: Option<pb::Consistency>,
    context: std::collections::HashMap<String, pb::ContextValue>,
) -> Result<pb::Decision, tonic::Status> {
    let d = match account {
        None => {
            c.is_authorized(pb::IsAuthorizedRequest {
                agent_id: agent.into(),
                action: action.into(),
                target: target.into(),
                consistency,
                explain: true,
                explain_limit: 0,
                context: context.clone(),
            })
            .await?
            .into_inner()
            .decision
        }
        Some(acc) => {
            c.is_authorized_in_account(pb::IsAuthorizedInAccountRequest {
                agent_id: agent.into(),
                account_id: acc.into(),
                action: action.into(),
                target: target.into(),
                consistency,
                explain: true,
                explain_limit: 0,
                context,
            })
            .await?
            .into_inner()
            .decision
        }
    };
    Ok(d.expect("a decision"))
}

/// `endocarp serve` with the decision and operations ports on loopback ports the OS picks
/// and the admin API on `admin` (`127.0.0.1:0`, or `0.0.0.0:0` to test the refusal).
pub fn serve_command(admin: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_endocarp"));
    c.args(["serve", "--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"])
        .args(["--authzen-listen", "127.0.0.1:0"])
        .args(["--admin-listen", admin]);
    c
}

/// Spawns a [`serve_command`] with a ready file in `dir` and waits for it: the child and
/// its bound addresses.
pub fn spawn_ready(mut cmd: Command, dir: &Path) -> (Child, Addresses) {
    let ready = dir.join(format!("ready-{}.json", ulid::Ulid::generate()));
    let mut child = cmd
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn endocarp serve");
    let addresses = wait_ready(&mut child, &ready);
    (child, addresses)
}

/// A plain HTTP/1.1 GET against the operations port: (status, body).
pub fn http_get(base: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(host).expect("connect to the operations port");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read the response");
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of a Prometheus sample with these labels (all of them; others may be
/// present), or 0 when no such sample exists yet.
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let series = l.rsplit_once(' ').map_or("", |(s, _)| s);
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

/// `n` names in one gap of the name order, between `{prefix}a` and `{prefix}z`, converging
/// from both ends (`{prefix}b`, `{prefix}bz`, `{prefix}bzz`, … rising, `{prefix}bzz…z00400`,
/// `{prefix}bzz…z00399`, … falling, in turn): each lands between the last two, beside the
/// one before it on the other side each time, and every rising name is a prefix of the
/// falling ones, so it shares the longer prefix with the falling run's last name and is
/// taken for that run's (the labels follow a name's run by the prefix it shares). After a
/// few dozen names the gap is used up and the names around it must be relabelled. (Runs of
/// names, and two runs meeting whose names share their prefixes with their own, relabel
/// nothing.) The names are up to `n / 2` bytes long and more, so past `n` of ~1,000 they are
/// longer than an id may be over the API (the index takes them as given).
pub fn converging_names(prefix: &str, n: usize) -> Vec<String> {
    let top = "z".repeat(n / 2 + 1);
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                format!("{prefix}b{}", "z".repeat(i / 2))
            } else {
                format!("{prefix}b{top}{:05}", n - i / 2)
            }
        })
        .collect()
}
