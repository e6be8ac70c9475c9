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
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

/// Largest gRPC message accepted (bytes): bounds a batch of 1,000 events.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Runs the service until `shutdown` fires; then stops accepting, drains, and returns.
pub async fn serve(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
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
    // The operations port answers /livez from the start, /readyz once the index is loaded.
    let metrics = crate::metrics::install()?;
    let ops_listener = TcpListener::bind(settings.ops_listen)
        .await
        .map_err(|e| anyhow::anyhow!("ops_listen: cannot bind {}: {e}", settings.ops_listen))?;
    let ops_addr = ops_listener.local_addr()?;
    // Histograms keep raw samples until drained: drain them on a clock, not only when
    // scraped, or an unscraped server grows by every sample (the soak benchmark caught it).
    {
        let (metrics, stop) = (metrics.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::metrics::UPKEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => metrics.run_upkeep(),
                }
            }
        });
    }
    let ops = crate::ops::Ops::new(metrics, shutdown.clone());
    let ops_stop = CancellationToken::new();
    let ops_server = tokio::spawn(crate::ops::serve(ops_listener, ops.clone(), ops_stop.clone()));
    let store = Store::connect(&settings.database_url, true).await?;
    if settings.migrate {
        store.migrate().await?;
    }
    let started = std::time::Instant::now();
    let projector = Projector::start(store.clone(), settings.casbin_hierarchy()).await?;
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

    let decision_listener = TcpListener::bind(settings.listen).await?;
    let admin_listener = TcpListener::bind(settings.admin_listen).await?;
    let decision_addr = decision_listener.local_addr()?;
    let admin_addr = admin_listener.local_addr()?;
    let credentials = settings
        .credentials()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let certs = settings
        .client_certs()
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let enforce = !credentials.is_empty() || certs.as_ref().is_some_and(|c| !c.is_empty());
    if !enforce {
        tracing::warn!(
            %admin_addr,
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
    let decision_auth = AuthLayer::new(credentials, certs, settings.decision_auth, limits);

    let poller = tokio::spawn(projector.clone().run_poller(settings.poll_interval(), shutdown.clone()));

    let (decision_health, decision_health_svc) = tonic_health::server::health_reporter();
    decision_health
        .set_serving::<AuthorizationServiceServer<DecisionApi>>()
        .await;
    let (admin_health, admin_health_svc) = tonic_health::server::health_reporter();
    admin_health.set_serving::<PolicyAdminServiceServer<AdminApi>>().await;
    admin_health.set_serving::<EventServiceServer<EventApi>>().await;

    // Probes see NOT_SERVING as soon as shutdown starts, while in-flight calls drain.
    {
        let (decision_health, admin_health, stop) = (decision_health.clone(), admin_health.clone(), shutdown.clone());
        tokio::spawn(async move {
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

    // The decision port reports NOT_SERVING while this replica's data is older than
    // max_staleness (its checks fail then), and SERVING again once it has caught up.
    {
        let (health, projector, stop, limit) = (
            decision_health.clone(),
            projector.clone(),
            shutdown.clone(),
            settings.max_staleness,
        );
        tokio::spawn(async move {
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
        });
    }

    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let decision_svc =
        AuthorizationServiceServer::new(DecisionApi { app: app.clone() }).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let admin_svc =
        PolicyAdminServiceServer::new(AdminApi { app: app.clone() }).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let event_svc = EventServiceServer::new(EventApi {
        app: app.clone(),
        shutdown: shutdown.clone(),
    })
    .max_decoding_message_size(MAX_MESSAGE_BYTES);

    // Reflection on the admin port too, behind authentication (`read`).
    let admin_reflection = reflection().build_v1alpha()?;
    let decision_router = tonic::transport::Server::builder()
        .timeout(settings.request_timeout)
        .layer(crate::grpc::observe::ObserveLayer)
        .layer(decision_auth)
        .add_service(decision_health_svc)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(decision_svc);
    let admin_router = tonic::transport::Server::builder()
        .timeout(settings.request_timeout)
        .layer(crate::grpc::observe::ObserveLayer)
        .layer(admin_auth)
        .add_service(admin_health_svc)
        .add_service(admin_reflection)
        .add_service(admin_svc)
        .add_service(event_svc);
    type Serving = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), tonic::transport::Error>> + Send>>;
    let (decision_server, admin_server): (Serving, Serving) = match &tls {
        Some(config) => (
            Box::pin(decision_router.serve_with_incoming_shutdown(
                crate::grpc::tls::incoming(decision_listener, config.clone(), shutdown.clone()),
                shutdown.clone().cancelled_owned(),
            )),
            Box::pin(admin_router.serve_with_incoming_shutdown(
                crate::grpc::tls::incoming(admin_listener, config.clone(), shutdown.clone()),
                shutdown.clone().cancelled_owned(),
            )),
        ),
        None => (
            Box::pin(decision_router.serve_with_incoming_shutdown(
                TcpListenerStream::new(decision_listener),
                shutdown.clone().cancelled_owned(),
            )),
            Box::pin(admin_router.serve_with_incoming_shutdown(
                TcpListenerStream::new(admin_listener),
                shutdown.clone().cancelled_owned(),
            )),
        ),
    };

    announce(decision_addr, admin_addr, ops_addr);
    tracing::info!(%decision_addr, %admin_addr, %ops_addr, engine = ?settings.engine, "serving");
    let (a, b) = tokio::join!(decision_server, admin_server);
    shutdown.cancel();
    ops_stop.cancel();
    let _ = ops_server.await;
    let _ = poller.await;
    store.close().await;
    a?;
    b?;
    tracing::info!("stopped");
    Ok(())
}

/// Reflection over Endocarp's services and health (built once per port and version).
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// One line on stdout with the bound addresses (scripts and tests read it when they ask
/// for port 0).
fn announce(decision: SocketAddr, admin: SocketAddr, ops: SocketAddr) {
    println!("endocarp serving decisions on {decision} and admin on {admin} and operations on {ops}");
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
