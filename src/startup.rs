//! Wires the store, the projector, the use cases and the two gRPC servers, and runs them
//! until the shutdown token fires. Nothing depends on this module.

use crate::app::{App, Projector};
use crate::configuration::Settings;
use crate::grpc::admin::AdminApi;
use crate::grpc::auth::{AuthLayer, Limits};
use crate::grpc::decision::DecisionApi;
use crate::grpc::events::EventApi;
use crate::grpc::pb;
use crate::grpc::pb::authorization_service_server::AuthorizationServiceServer;
use crate::grpc::pb::event_service_server::EventServiceServer;
use crate::grpc::pb::policy_admin_service_server::PolicyAdminServiceServer;
use crate::store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Largest gRPC message accepted (bytes): bounds a batch of 1,000 events.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// The bound addresses of a built application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Addresses {
    /// The decision API (`AuthorizationService`, health, reflection).
    pub decision: SocketAddr,
    /// The admin API (`PolicyAdminService`, `EventService`, health).
    pub admin: SocketAddr,
    /// The operations port (`/livez`, `/readyz`, `/metrics`).
    pub ops: SocketAddr,
    /// The AuthZEN HTTP API, unless `authzen_listen` is `off`.
    #[serde(default)]
    pub authzen: Option<SocketAddr>,
}

type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>>;

/// A built application: every port bound, the index loaded, background tasks running;
/// the gRPC servers start answering in [`Application::run_until_stopped`]. Connections
/// that arrive in between wait in the listeners' backlogs.
pub struct Application {
    addresses: Addresses,
    app: Arc<App>,
    store: Store,
    shutdown: CancellationToken,
    /// Stops the operations port last, after the gRPC servers have drained, so probes
    /// see "shutting down" (503) for the whole drain.
    ops_stop: CancellationToken,
    /// Every task the application spawned (tailer, health watchers, TLS handshakes,
    /// watch streams, operations connections): shutdown waits for all of them.
    tracker: TaskTracker,
    decision_server: Serving,
    admin_server: Serving,
}

impl Application {
    /// Binds every port, loads the index and starts the background tasks. Fails with a
    /// message that names the setting to fix.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Application> {
        settings
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        // TLS material is checked before anything else starts.
        let tls = match (&settings.tls_cert, &settings.tls_key) {
            (Some(cert), Some(key)) => Some(
                crate::grpc::tls::server_config(cert, key, settings.tls_client_ca.is_some())
                    .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?,
            ),
            _ => None,
        };
        let tracker = TaskTracker::new();
        // The operations port answers /livez from the start, /readyz once the index is loaded.
        let metrics = crate::metrics::install()?;
        let ops_listener = bind("ops_listen", settings.ops_listen).await?;
        let ops_addr = ops_listener.local_addr()?;
        let ops = crate::ops::Ops::new(metrics, shutdown.clone());
        let ops_stop = CancellationToken::new();
        tracker.spawn(crate::ops::serve(
            ops_listener,
            ops.clone(),
            ops_stop.clone(),
            tracker.clone(),
        ));
        let store = Store::connect(&settings.database_url, true).await?;
        if settings.migrate {
            store.migrate().await?;
        }
        if settings.sqlite_max_size > 0 {
            store
                .set_sqlite_size_limit(settings.sqlite_max_size)
                .await
                .map_err(|e| anyhow::anyhow!("sqlite_max_size: {e}"))?;
        }
        let started = std::time::Instant::now();
        let projector =
            Projector::start(store.clone(), settings.casbin_hierarchy(), settings.repack_after_writes).await?;
        let stats = projector.snapshot().index.stats();
        tracing::info!(
            revision = projector.applied(),
            rules = stats.rules,
            global_edges = stats.global_edges,
            account_edges = stats.account_edges,
            memberships = stats.memberships,
            ms = started.elapsed().as_millis() as u64,
            "index loaded"
        );
        let app = Arc::new(App::new(store.clone(), projector.clone(), settings.app_settings()));
        ops.loaded(app.clone());

        let decision_listener = bind("listen", settings.listen).await?;
        let admin_listener = bind("admin_listen", settings.admin_listen).await?;
        let authzen_listener = match settings.authzen_listen.0 {
            Some(addr) => Some(bind("authzen_listen", addr).await?),
            None => None,
        };
        let addresses = Addresses {
            decision: decision_listener.local_addr()?,
            admin: admin_listener.local_addr()?,
            ops: ops_addr,
            authzen: authzen_listener.as_ref().map(|l| l.local_addr()).transpose()?,
        };
        let credentials = settings
            .credentials()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let certs = settings
            .client_certs()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        let enforce = !credentials.is_empty() || certs.as_ref().is_some_and(|c| !c.is_empty());
        if !enforce {
            tracing::warn!(
                admin_addr = %addresses.admin,
                "no admin credentials are configured: the admin API is bound to loopback only and audits changes as {:?}",
                crate::LOCAL_ACTOR
            );
        } else {
            tracing::info!(
                credentials = credentials.len(),
                decision_auth = settings.decision_auth,
                "the admin API requires credentials (bearer tokens or client certificates)"
            );
        }
        let limits = Limits {
            max_in_flight: settings.max_in_flight,
            writes_per_second: settings.admin_writes_per_second,
        };
        let admin_auth = AuthLayer::new(credentials.clone(), certs.clone(), enforce, limits);
        let authzen_auth = AuthLayer::new(credentials.clone(), certs.clone(), settings.decision_auth, limits);
        let decision_auth = AuthLayer::new(credentials, certs, settings.decision_auth, limits);

        tracker.spawn(projector.clone().run_poller(settings.poll_interval(), shutdown.clone()));

        let (decision_health, decision_health_svc) = tonic_health::server::health_reporter();
        decision_health
            .set_serving::<AuthorizationServiceServer<DecisionApi>>()
            .await;
        let (admin_health, admin_health_svc) = tonic_health::server::health_reporter();
        admin_health.set_serving::<PolicyAdminServiceServer<AdminApi>>().await;
        admin_health.set_serving::<EventServiceServer<EventApi>>().await;

        // Probes see NOT_SERVING as soon as shutdown starts, while in-flight calls drain.
        {
            let (decision_health, admin_health, stop) =
                (decision_health.clone(), admin_health.clone(), shutdown.clone());
            tracker.spawn(async move {
                stop.cancelled().await;
                for (reporter, services) in [
                    (&decision_health, &["", "endocarp.v1.AuthorizationService"][..]),
                    (
                        &admin_health,
                        &["", "endocarp.v1.PolicyAdminService", "endocarp.v1.EventService"][..],
                    ),
                ] {
                    for service in services {
                        reporter
                            .set_service_status(*service, tonic_health::ServingStatus::NotServing)
                            .await;
                    }
                }
            });
        }
        tracker.spawn(watch_staleness(
            decision_health,
            projector.clone(),
            shutdown.clone(),
            settings.max_staleness,
        ));

        let decision_svc = AuthorizationServiceServer::new(DecisionApi { app: app.clone() })
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let admin_svc =
            PolicyAdminServiceServer::new(AdminApi { app: app.clone() }).max_decoding_message_size(MAX_MESSAGE_BYTES);
        let event_svc = EventServiceServer::new(EventApi {
            app: app.clone(),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_BYTES);

        let keepalive = |d: std::time::Duration| (!d.is_zero()).then_some(d);
        let server = || {
            tonic::transport::Server::builder()
                .http2_keepalive_interval(keepalive(settings.http2_keepalive_interval))
                .http2_keepalive_timeout(keepalive(settings.http2_keepalive_timeout))
                .max_concurrent_streams(settings.max_concurrent_streams)
        };
        let decision_router = server()
            .layer(crate::grpc::observe::ObserveLayer {
                timeout: settings.request_timeout,
            })
            .layer(decision_auth)
            .add_service(decision_health_svc)
            .add_service(reflection().build_v1()?)
            .add_service(reflection().build_v1alpha()?)
            .add_service(decision_svc);
        // Reflection on the admin port too, behind authentication (`read`).
        let admin_router = server()
            .layer(crate::grpc::observe::ObserveLayer {
                timeout: settings.request_timeout,
            })
            .layer(admin_auth)
            .add_service(admin_health_svc)
            .add_service(reflection().build_v1alpha()?)
            .add_service(admin_svc)
            .add_service(event_svc);
        if let (Some(listener), Some(bound)) = (authzen_listener, addresses.authzen) {
            let public_url = settings
                .authzen_public_url()
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            let naming = crate::authzen::model::Naming::new(&settings.authzen_action_namespace)
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            let router = crate::authzen::router(crate::authzen::AuthzenConfig {
                app: app.clone(),
                auth: authzen_auth,
                naming,
                public_url,
                tls: tls.is_some(),
                bound,
                request_timeout: settings.request_timeout,
            });
            let options = crate::authzen::serve::ServeOptions {
                socket: settings.socket_options(),
                tls: tls.as_ref().map(crate::authzen::serve::tls_config),
                max_concurrent_streams: settings.max_concurrent_streams,
                keepalive_interval: keepalive(settings.http2_keepalive_interval),
                keepalive_timeout: settings.http2_keepalive_timeout,
            };
            tracker.spawn(crate::authzen::serve::serve(
                listener,
                router,
                options,
                shutdown.clone(),
                tracker.clone(),
            ));
        }
        let stop = || shutdown.clone().cancelled_owned();
        let socket = settings.socket_options();
        let (decision_server, admin_server): (Serving, Serving) = match &tls {
            Some(config) => {
                let incoming =
                    |l| crate::grpc::tls::incoming(l, config.clone(), shutdown.clone(), tracker.clone(), socket);
                (
                    Box::pin(decision_router.serve_with_incoming_shutdown(incoming(decision_listener), stop())),
                    Box::pin(admin_router.serve_with_incoming_shutdown(incoming(admin_listener), stop())),
                )
            }
            None => {
                let incoming = |l| crate::grpc::net::incoming(l, socket);
                (
                    Box::pin(decision_router.serve_with_incoming_shutdown(incoming(decision_listener), stop())),
                    Box::pin(admin_router.serve_with_incoming_shutdown(incoming(admin_listener), stop())),
                )
            }
        };
        tracing::info!(
            decision_addr = %addresses.decision,
            admin_addr = %addresses.admin,
            ops_addr = %addresses.ops,
            // The bound address (port 0 resolved), or `off`.
            authzen_addr = %crate::configuration::Listen(addresses.authzen),
            engine = ?settings.engine,
            "serving"
        );
        Ok(Application {
            addresses,
            app,
            store,
            shutdown,
            ops_stop,
            tracker,
            decision_server,
            admin_server,
        })
    }

    /// The addresses every port is bound to (port 0 resolved).
    pub fn addresses(&self) -> Addresses {
        self.addresses
    }

    /// The use cases this application serves (for in-process callers and tests).
    pub fn app(&self) -> Arc<App> {
        self.app.clone()
    }

    /// Serves until the shutdown token fires; then stops accepting, lets in-flight calls
    /// finish, waits for every spawned task and closes the database pools.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let (a, b) = tokio::join!(self.decision_server, self.admin_server);
        // One server failing stops the other and every task.
        self.shutdown.cancel();
        self.ops_stop.cancel();
        self.tracker.close();
        self.tracker.wait().await;
        self.store.close().await;
        a?;
        b?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Binds one listener, naming the setting when the address cannot be had.
async fn bind(setting: &str, addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("{setting}: cannot bind {addr}: {e}"))
}

/// The decision port reports NOT_SERVING while this replica's data is older than
/// max_staleness (its checks fail then), and SERVING again once it has caught up.
async fn watch_staleness(
    health: tonic_health::server::HealthReporter,
    projector: Arc<Projector>,
    stop: CancellationToken,
    limit: std::time::Duration,
) {
    let mut stale = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
        }
        let now = projector.data_age() > limit;
        if now != stale {
            stale = now;
            let status = if stale {
                tonic_health::ServingStatus::NotServing
            } else {
                tonic_health::ServingStatus::Serving
            };
            for service in ["", "endocarp.v1.AuthorizationService"] {
                health.set_service_status(service, status).await;
            }
            if stale {
                tracing::warn!(
                    limit_ms = limit.as_millis() as u64,
                    "data older than max_staleness: checks fail until the log is readable"
                );
            } else {
                tracing::info!("data fresh again: serving checks");
            }
        }
    }
}

/// The runtime `endocarp` runs on: tokio's multi-threaded runtime as `#[tokio::main]`
/// builds it (`TOKIO_WORKER_THREADS` sets how many workers), except that each worker, when
/// it next goes idle after [`crate::alloc::release_free_memory`] was called on any thread,
/// hands its own heap's free pages back ([`crate::alloc::collect_if_asked`]): the
/// allocator collects a thread's heap only on that thread, and an index replaced by a
/// repack is freed into the heaps of the threads that built and wrote it.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_park(|| {
            crate::grpc::coalesce::parked();
            crate::alloc::collect_if_asked();
        })
        .build()
}

/// `endocarp serve`: builds the application, announces its addresses (stdout, and the
/// ready file when one is configured), and serves until `shutdown` fires.
pub async fn serve(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let ready_file = settings.ready_file.clone();
    let application = Application::build(settings, shutdown).await?;
    let addresses = application.addresses();
    announce(addresses);
    if let Some(path) = &ready_file {
        let load = application.app().projector().load_stats();
        write_ready_file(path, addresses, Some(load))?;
    }
    let result = application.run_until_stopped().await;
    // A stopped server is not ready: a stale file would send a script to a closed port.
    if let Some(path) = &ready_file {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// Reflection over Endocarp's services and health (built once per port and version).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// One line on stdout with the bound addresses, for people; programs read the ready file.
fn announce(a: Addresses) {
    let authzen = a.authzen.map(|x| format!(" and AuthZEN on {x}")).unwrap_or_default();
    println!(
        "endocarp serving decisions on {} and admin on {} and operations on {}{authzen}",
        a.decision, a.admin, a.ops
    );
}

/// What the ready file holds: the bound addresses, the process id and, for a server, how
/// its start-up load went.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Ready {
    #[serde(flatten)]
    pub addresses: Addresses,
    pub pid: u32,
    #[serde(default)]
    pub load: Option<crate::app::projector::LoadStats>,
}

/// Writes the ready file as JSON to `path`, atomically: a reader sees no file or the whole
/// file. Scripts and tests that start `endocarp serve` on port 0 wait for it instead of
/// parsing log lines.
pub fn write_ready_file(
    path: &std::path::Path,
    a: Addresses,
    load: Option<crate::app::projector::LoadStats>,
) -> anyhow::Result<()> {
    let body = serde_json::to_vec(&Ready {
        addresses: a,
        pid: std::process::id(),
        load,
    })?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, body)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| anyhow::anyhow!("ready_file: cannot write {}: {e}", path.display()))
}

/// A token that fires on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    t.cancel();
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutting down");
        t.cancel();
    });
    token
}
