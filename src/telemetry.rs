//! Structured logs with `tracing`: human-readable by default, JSON on request, and, in a
//! build with the `otlp` feature, spans exported to an OpenTelemetry collector.
//! Logs go to stderr; stdout carries only the CLI's own output.
//!
//! Every gRPC request runs in a `grpc` span (service, method, request_id; see
//! [`crate::grpc::observe`]), so each log line a request causes carries its request id.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

/// The subscriber the output layers sit on: the registry behind the one level filter.
type Filtered = tracing_subscriber::layer::Layered<EnvFilter, Registry>;

/// Lets one log line through per interval and counts the rest, so that a flood of refused
/// requests or disagreements cannot fill a disk while the count still says how many there
/// were. The one limiter for every such log (`const`, so it can be a `static`).
#[derive(Debug)]
pub struct LogThrottle {
    interval_ms: u64,
    /// Events counted since start.
    count: AtomicU64,
    /// When one was last let through (ms since the process-wide epoch, plus one; 0: never).
    last_ms: AtomicU64,
}

impl LogThrottle {
    pub const fn new(interval: Duration) -> LogThrottle {
        LogThrottle {
            interval_ms: interval.as_millis() as u64,
            count: AtomicU64::new(0),
            last_ms: AtomicU64::new(0),
        }
    }

    /// At most one line a second.
    pub const fn per_second() -> LogThrottle {
        LogThrottle::new(Duration::from_secs(1))
    }

    /// Counts one event; `Some(count so far)` when this one should be logged.
    pub fn tick(&self) -> Option<u64> {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let now = EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1;
        let last = self.last_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= self.interval_ms;
        (due && self
            .last_ms
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok())
        .then_some(n)
    }
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Keeps the exporters alive; dropping it flushes spans not yet sent.
#[must_use]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// What is logged when `RUST_LOG` is not set.
pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,h2=warn,tower=warn";

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
/// With `otlp_endpoint` (only in an `otlp` build), spans are exported over OTLP/gRPC too.
///
/// The level filter is one global filter in front of every output, not a filter per
/// layer: tracing-subscriber's per-layer filters carry each decision from `enabled` to the
/// event through a thread-local, and a bare `enabled` check (sqlx makes one after every
/// query) leaves it stale, so the next event on that thread was dropped — start-up's
/// `read model loaded` line never appeared on PostgreSQL (tokio-rs/tracing#2519).
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    // Colour only for a terminal: a log file or `kubectl logs` must not get escape codes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    #[cfg_attr(not(feature = "otlp"), allow(unused_mut))]
    let mut layers: Vec<Box<dyn Layer<Filtered> + Send + Sync>> = vec![match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    }];
    #[cfg_attr(not(feature = "otlp"), allow(unused_mut))]
    let mut telemetry = Telemetry {
        #[cfg(feature = "otlp")]
        provider: None,
    };
    match otlp_endpoint {
        None => {}
        #[cfg(feature = "otlp")]
        Some(endpoint) => {
            let (layer, provider) = otlp::layer(endpoint)?;
            layers.push(layer.boxed());
            telemetry.provider = Some(provider);
        }
        #[cfg(not(feature = "otlp"))]
        Some(_) => anyhow::bail!("otlp_endpoint: this build has no OpenTelemetry export; build with `--features otlp`"),
    }
    // A second init (tests, embedded use) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(filter()).with(layers).try_init();
    Ok(telemetry)
}

#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    /// A layer exporting spans in batches to `endpoint` (OTLP over gRPC).
    pub fn layer(
        endpoint: &str,
    ) -> anyhow::Result<(
        tracing_opentelemetry::OpenTelemetryLayer<super::Filtered, opentelemetry_sdk::trace::Tracer>,
        SdkTracerProvider,
    )> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
            .map_err(|e| anyhow::anyhow!("otlp_endpoint: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("endocarp")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("endocarp");
        Ok((tracing_opentelemetry::layer().with_tracer(tracer), provider))
    }
}
