//! Structured logs with `tracing`: human-readable by default, JSON on request, and, in a
//! build with the `otlp` feature, spans exported to an OpenTelemetry collector.
//! Logs go to stderr; stdout carries only the CLI's own output.
//!
//! Every gRPC request runs in a `grpc` span (service, method, request_id; see
//! [`crate::grpc::observe`]), so each log line a request causes carries its request id.

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

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

fn filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,h2=warn,tower=warn"))
}

/// Installs the global subscriber. `RUST_LOG` overrides the default level (`info`).
/// With `otlp_endpoint` (only in an `otlp` build), spans are exported over OTLP/gRPC too.
pub fn init(format: LogFormat, otlp_endpoint: Option<&str>) -> anyhow::Result<Telemetry> {
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    #[cfg_attr(not(feature = "otlp"), allow(unused_mut))]
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![match format {
        LogFormat::Text => fmt.with_filter(filter()).boxed(),
        LogFormat::Json => fmt.json().with_filter(filter()).boxed(),
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
            layers.push(layer.with_filter(filter()).boxed());
            telemetry.provider = Some(provider);
        }
        #[cfg(not(feature = "otlp"))]
        Some(_) => anyhow::bail!("otlp_endpoint: this build has no OpenTelemetry export; build with `--features otlp`"),
    }
    // A second init (tests, embedded use) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layers).try_init();
    Ok(telemetry)
}

#[cfg(feature = "otlp")]
mod otlp {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::trace::SdkTracerProvider;
    use tracing_subscriber::Registry;

    /// A layer exporting spans in batches to `endpoint` (OTLP over gRPC).
    pub fn layer(
        endpoint: &str,
    ) -> anyhow::Result<(
        tracing_opentelemetry::OpenTelemetryLayer<Registry, opentelemetry_sdk::trace::Tracer>,
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
