//! Prometheus metrics: every name Endocarp exports, in one place, with its help text.
//!
//! The names are a stable interface (dashboards and the Helm chart's PrometheusRule use
//! them): add new ones, never rename. The recorder is installed once by `serve`; without
//! it (library use, unit tests) every call here is a no-op. Hot-path handles (decisions)
//! are resolved once and cached, so a check pays an atomic add, not a registry look-up.
//! The latency histograms are this module's own ([`latency`]): no clock read and no
//! sample buffer per observation; `/metrics` renders them after the recorder's output.
//! The recorder holds counters and gauges only (its histograms would keep every sample
//! until an upkeep pass drained them).

use crate::domain::Reason;
use metrics::{Counter, Unit, describe_counter, describe_gauge};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::Arc;
use std::time::Duration;

pub mod latency;
pub use latency::Latency;

pub const DECISIONS: &str = "endocarp_decisions_total";
pub const DECISION_DURATION: &str = "endocarp_decision_duration_seconds";
pub const GRPC_REQUESTS: &str = "endocarp_grpc_requests_total";
pub const GRPC_DURATION: &str = "endocarp_grpc_request_duration_seconds";
pub const HTTP_REQUESTS: &str = "endocarp_http_requests_total";
pub const HTTP_DURATION: &str = "endocarp_http_request_duration_seconds";
pub const EVENTS_APPENDED: &str = "endocarp_events_appended_total";
pub const APPLIED_REVISION: &str = "endocarp_applied_revision";
pub const HEAD_REVISION: &str = "endocarp_log_head_revision";
pub const LAG_EVENTS: &str = "endocarp_replica_lag_events";
pub const LAG_SECONDS: &str = "endocarp_replica_lag_seconds";
pub const DATA_AGE: &str = "endocarp_data_age_seconds";
pub const STALE: &str = "endocarp_stale";
pub const MAX_STALENESS: &str = "endocarp_max_staleness_seconds";
pub const INDEX_RULES: &str = "endocarp_index_rules";
pub const INDEX_ASSIGNMENTS: &str = "endocarp_index_assignments";
pub const INDEX_ROLES: &str = "endocarp_index_roles";
pub const INDEX_SUMMARIZED: &str = "endocarp_index_role_summaries_current";
pub const LOOKUP_SNAPSHOTS: &str = "endocarp_lookup_snapshots_kept";
pub const INDEX_WRITTEN: &str = "endocarp_index_written_since_build";
pub const INDEX_REPACKS: &str = "endocarp_index_repacks_total";
pub const SHADOW_AGREEMENTS: &str = "endocarp_shadow_agreements_total";
pub const SHADOW_DISAGREEMENTS: &str = "endocarp_shadow_disagreements_total";
pub const STORAGE_ERRORS: &str = "endocarp_storage_errors_total";
pub const IGNORED_EVENTS: &str = "endocarp_ignored_events_total";
pub const BUILD_INFO: &str = "endocarp_build_info";

/// Every exported name, for the docs test and the chart's alert check.
pub const ALL: &[&str] = &[
    DECISIONS,
    DECISION_DURATION,
    GRPC_REQUESTS,
    GRPC_DURATION,
    HTTP_REQUESTS,
    HTTP_DURATION,
    EVENTS_APPENDED,
    APPLIED_REVISION,
    HEAD_REVISION,
    LAG_EVENTS,
    LAG_SECONDS,
    DATA_AGE,
    STALE,
    MAX_STALENESS,
    INDEX_RULES,
    INDEX_ASSIGNMENTS,
    INDEX_ROLES,
    INDEX_SUMMARIZED,
    INDEX_WRITTEN,
    INDEX_REPACKS,
    SHADOW_AGREEMENTS,
    SHADOW_DISAGREEMENTS,
    STORAGE_ERRORS,
    IGNORED_EVENTS,
    BUILD_INFO,
];

/// Decision latency buckets: the engines answer in microseconds.
const DECISION_BUCKETS: &[f64] = &[
    1e-6, 2e-6, 5e-6, 10e-6, 20e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3, 0.1,
];
/// gRPC latency buckets: loopback round trips start near 50 µs.
const GRPC_BUCKETS: &[f64] = &[
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The engine time of decisions by `engine` (`odrl` or `casbin`).
pub fn decision_duration(engine: &str) -> Arc<Latency> {
    latency::latency(
        DECISION_DURATION,
        "Engine time per decision, by engine",
        DECISION_BUCKETS,
        &[("engine", engine)],
    )
}

/// The latency of one gRPC method.
pub fn grpc_duration(service: &str, method: &str) -> Arc<Latency> {
    latency::latency(
        GRPC_DURATION,
        "gRPC request latency by grpc_service and grpc_method",
        GRPC_BUCKETS,
        &[("grpc_service", service), ("grpc_method", method)],
    )
}

/// The latency of one AuthZEN HTTP endpoint.
pub fn http_duration(endpoint: &str) -> Arc<Latency> {
    latency::latency(
        HTTP_DURATION,
        "AuthZEN HTTP request latency by endpoint",
        GRPC_BUCKETS,
        &[("endpoint", endpoint)],
    )
}

/// The text `/metrics` serves: the recorder's series, then the latency histograms.
pub fn render(handle: &PrometheusHandle) -> String {
    let mut out = handle.render();
    latency::render(&mut out);
    out
}

/// Installs the global Prometheus recorder (once per process) and describes every metric.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    // One recorder per process; applications built at once (tests) must not race to it.
    static HANDLE: std::sync::Mutex<Option<PrometheusHandle>> = std::sync::Mutex::new(None);
    let mut installed = HANDLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = installed.as_ref() {
        return Ok(h.clone());
    }
    let handle = PrometheusBuilder::new().install_recorder()?;
    describe();
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    // Series that alerts watch exist from the start (at 0), so `increase()` sees the first one.
    for operation in STORAGE_OPERATIONS {
        metrics::counter!(STORAGE_ERRORS, "operation" => *operation).absolute(0);
    }
    metrics::counter!(EVENTS_APPENDED).absolute(0);
    *installed = Some(handle.clone());
    Ok(handle)
}

fn describe() {
    describe_counter!(DECISIONS, "Decisions by engine, result (allow|deny) and reason");
    describe_counter!(
        GRPC_REQUESTS,
        "gRPC requests by grpc_service, grpc_method and grpc_code (the status code name)"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "AuthZEN HTTP requests by endpoint (the path, or unknown) and code (the HTTP status)"
    );
    describe_counter!(
        EVENTS_APPENDED,
        "Events appended to the log by this replica (duplicates excluded)"
    );
    describe_gauge!(APPLIED_REVISION, "Log position this replica's index has applied");
    describe_gauge!(HEAD_REVISION, "Log head as last read from the database");
    describe_gauge!(LAG_EVENTS, "Events stored but not yet applied here");
    describe_gauge!(
        LAG_SECONDS,
        Unit::Seconds,
        "Age of the oldest event not yet applied here (0 when caught up)"
    );
    describe_gauge!(
        DATA_AGE,
        Unit::Seconds,
        "Time since this replica last confirmed it had the log's head"
    );
    describe_gauge!(
        STALE,
        "1 while the data is older than max_staleness (checks fail, /readyz is 503)"
    );
    describe_gauge!(MAX_STALENESS, Unit::Seconds, "The configured max_staleness");
    describe_gauge!(INDEX_RULES, "Rules (permissions and prohibitions) in the index");
    describe_gauge!(
        INDEX_ASSIGNMENTS,
        "Role assignments and memberships in the index (global and per account)"
    );
    describe_gauge!(INDEX_ROLES, "Identifiers known to be roles or groups");
    describe_gauge!(
        INDEX_SUMMARIZED,
        "1 while the role summaries are current (checks read them instead of walking every role); 0 while a write has dropped them and a background build runs"
    );
    describe_gauge!(
        LOOKUP_SNAPSHOTS,
        "Snapshots kept for the later pages of look-ups (at most 64, each for lookup_page_ttl)"
    );
    describe_gauge!(
        INDEX_WRITTEN,
        "Events applied to the index one by one since it was last built in bulk (start-up or a repack; see repack_after_writes)"
    );
    describe_counter!(
        INDEX_REPACKS,
        "Times the index was built again in bulk from the read model and published at the same revision"
    );
    describe_counter!(
        SHADOW_AGREEMENTS,
        "Shadow mode: checks on which the ODRL and Casbin engines agreed"
    );
    describe_counter!(
        SHADOW_DISAGREEMENTS,
        "Shadow mode: checks on which the engines disagreed"
    );
    describe_counter!(STORAGE_ERRORS, "Database errors by operation");
    describe_counter!(IGNORED_EVENTS, "Events stored but not enforced, by kind (duty)");
    describe_gauge!(BUILD_INFO, "Always 1; the version label names the build");
}

/// Cached decision handles: (engine × result × reason) counters and a histogram per engine.
pub struct DecisionMetrics {
    counters: Vec<Counter>,
    durations: [Arc<Latency>; ENGINES.len()],
}

const ENGINES: [&str; 2] = ["odrl", "casbin"];
const REASONS: [Reason; 6] = [
    Reason::Permitted,
    Reason::Prohibited,
    Reason::NotPermitted,
    Reason::AgentInactive,
    Reason::AccountInactive,
    Reason::NotAMember,
];

/// Which engine answered (shadow mode records both).
#[derive(Debug, Clone, Copy)]
pub enum Engine {
    Odrl = 0,
    Casbin = 1,
}

impl DecisionMetrics {
    /// Resolves every handle now, from the installed recorder (no-ops without one).
    pub fn new() -> DecisionMetrics {
        let mut counters = Vec::with_capacity(ENGINES.len() * REASONS.len());
        for engine in ENGINES {
            for reason in REASONS {
                let result = if reason == Reason::Permitted { "allow" } else { "deny" };
                counters.push(
                    metrics::counter!(DECISIONS, "engine" => engine, "result" => result, "reason" => reason.as_str()),
                );
            }
        }
        DecisionMetrics {
            counters,
            durations: ENGINES.map(decision_duration),
        }
    }

    /// Counts one decision and its engine time.
    pub fn record(&self, engine: Engine, reason: Reason, took: Duration) {
        let r = REASONS.iter().position(|x| *x == reason).unwrap_or(0);
        self.counters[engine as usize * REASONS.len() + r].increment(1);
        self.durations[engine as usize].record(took);
    }
}

impl Default for DecisionMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The `operation` label of storage errors: a request's own database call, the
/// projector tailing the log, or the log-head read of a metrics scrape.
const STORAGE_OPERATIONS: &[&str] = &["append", "request", "tail", "head"];

/// Counts a database error (`operation`: one of `STORAGE_OPERATIONS`).
pub fn storage_error(operation: &'static str) {
    metrics::counter!(STORAGE_ERRORS, "operation" => operation).increment(1);
}

/// Counts newly appended events.
pub fn events_appended(n: usize) {
    metrics::counter!(EVENTS_APPENDED).increment(n as u64);
}

/// Counts an event stored but not enforced.
pub fn ignored_event(kind: &'static str) {
    metrics::counter!(IGNORED_EVENTS, "kind" => kind).increment(1);
}
