//! Settings for `serve`: flags, with `ENDOCARP_*` environment variables as fallbacks.
//! `endocarp config` prints the effective settings with secrets redacted.

use crate::app::AppSettings;
use crate::engine::{DEFAULT_MAX_CLOSURE, EngineKind, EngineOptions};
use crate::telemetry::LogFormat;
use std::net::SocketAddr;
use std::time::Duration;

/// The default embedded database: a SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://endocarp.db";

/// The engine is chosen on the command line and in the TOML file by its name; the type is
/// the engine's own (the engine knows nothing of clap or serde).
impl clap::ValueEnum for EngineKind {
    fn value_variants<'a>() -> &'a [Self] {
        &[EngineKind::Odrl, EngineKind::Casbin, EngineKind::Shadow]
    }
    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            EngineKind::Odrl => "the ODRL policy decision point over the projected index",
            EngineKind::Casbin => "casbin-rs with Pericarp's deny-override model over the same facts",
            EngineKind::Shadow => "answer with ODRL, evaluate Casbin on every check too, count disagreements",
        };
        Some(clap::builder::PossibleValue::new(self.as_str()).help(help))
    }
}

impl serde::Serialize for EngineKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Everything `serve` needs.
#[derive(Debug, Clone, clap::Args, serde::Serialize)]
pub struct Settings {
    /// Database URL; a sqlite:// file is created when missing.
    #[arg(long, env = "ENDOCARP_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    #[serde(serialize_with = "redacted_url")]
    pub database_url: String,
    /// Decision API address.
    #[arg(long, env = "ENDOCARP_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Admin API address; must be loopback unless admin credentials are configured.
    #[arg(long, env = "ENDOCARP_ADMIN_LISTEN", default_value = "127.0.0.1:50052")]
    pub admin_listen: SocketAddr,
    /// Operations address: plain HTTP `/livez`, `/readyz` and `/metrics` (no credentials:
    /// expose it to the kubelet and Prometheus only).
    #[arg(long, env = "ENDOCARP_OPS_LISTEN", default_value = "127.0.0.1:9090")]
    pub ops_listen: SocketAddr,
    /// AuthZEN 1.0 HTTP API address (HTTP/1.1 and HTTP/2, JSON; `off` to serve none).
    /// Credentials and TLS as on the decision port.
    #[arg(long, env = "ENDOCARP_AUTHZEN_LISTEN", default_value = "127.0.0.1:8181")]
    pub authzen_listen: Listen,
    /// The AuthZEN API's public base URL as clients reach it (e.g.
    /// https://pdp.example.com), named in `/.well-known/authzen-configuration`; without
    /// it, the URL is built from the request's host.
    #[arg(long, env = "ENDOCARP_AUTHZEN_PUBLIC_URL")]
    pub authzen_public_url: Option<String>,
    /// The namespace of AuthZEN's bare custom action names: `view` is `<namespace>view`.
    #[arg(long, env = "ENDOCARP_AUTHZEN_ACTION_NAMESPACE", default_value = crate::authzen::model::DEFAULT_ACTION_NAMESPACE)]
    pub authzen_action_namespace: String,
    /// File of admin credentials: `name:scopes:token` a line (scopes read, write, check).
    #[arg(long, env = "ENDOCARP_ADMIN_TOKENS_FILE")]
    pub admin_tokens_file: Option<std::path::PathBuf>,
    /// Admin credentials inline, `name:scopes:token;...` (from the environment: a flag would
    /// show them in process lists). Never printed.
    #[arg(long, env = "ENDOCARP_ADMIN_TOKENS", hide = true, hide_env_values = true)]
    #[serde(serialize_with = "redacted_tokens")]
    pub admin_tokens: Option<String>,
    /// Require bearer tokens with the `check` scope on the decision API too.
    #[arg(long, env = "ENDOCARP_DECISION_AUTH", default_value_t = false, action = clap::ArgAction::Set)]
    pub decision_auth: bool,
    /// Requests in flight per port; more are refused with RESOURCE_EXHAUSTED.
    #[arg(long, env = "ENDOCARP_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,
    /// Admin writes (changes and appends) per caller per second, also the burst.
    #[arg(long, env = "ENDOCARP_ADMIN_WRITES_PER_SECOND", default_value_t = 1000)]
    pub admin_writes_per_second: u32,
    /// Longest a unary call may take on the server (streams: until their first message).
    #[arg(long, env = "ENDOCARP_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    #[serde(serialize_with = "as_millis")]
    pub request_timeout: Duration,
    /// Idle time before TCP keepalive probes on accepted gRPC connections (0s: off).
    #[arg(long, env = "ENDOCARP_TCP_KEEPALIVE", default_value = "60s", value_parser = parse_duration)]
    #[serde(serialize_with = "as_millis")]
    pub tcp_keepalive: Duration,
    /// HTTP/2 keepalive pings on idle gRPC connections every this long (0s: off, the
    /// default: TCP keepalive already probes idle connections, and with pings on hyper
    /// reads the clock on every frame received, about half a microsecond a call).
    #[arg(long, env = "ENDOCARP_HTTP2_KEEPALIVE_INTERVAL", default_value = "0s", value_parser = parse_duration)]
    #[serde(serialize_with = "as_millis")]
    pub http2_keepalive_interval: Duration,
    /// A connection whose keepalive ping is not answered within this long is closed.
    #[arg(long, env = "ENDOCARP_HTTP2_KEEPALIVE_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    #[serde(serialize_with = "as_millis")]
    pub http2_keepalive_timeout: Duration,
    /// Concurrent HTTP/2 streams (calls) one connection may have open; more wait for the
    /// client to finish some (max_in_flight bounds the whole port).
    #[arg(long, env = "ENDOCARP_MAX_CONCURRENT_STREAMS", default_value_t = 256)]
    pub max_concurrent_streams: u32,
    /// Responses a busy connection (gRPC and AuthZEN ports) gathers into one write: while
    /// its worker thread has other calls to run, a connection holds what it writes for up
    /// to this many more responses (or until the worker runs out of work) and sends it in
    /// one system call; the first response after an idle moment is sent at once. 0: every
    /// response written at once, as tonic does. At most 1024.
    #[arg(long, env = "ENDOCARP_WRITE_BATCH", default_value_t = crate::grpc::coalesce::DEFAULT_HOLD)]
    pub write_batch: u32,
    /// TLS certificate chain (PEM) for both gRPC ports and the AuthZEN port; reloaded when
    /// the file changes.
    #[arg(long, env = "ENDOCARP_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// TLS private key (PEM) for `tls_cert`. Never printed.
    #[arg(long, env = "ENDOCARP_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// CA (PEM) that client certificates must chain to (mTLS; needs tls_cert).
    #[arg(long, env = "ENDOCARP_TLS_CLIENT_CA", requires = "tls_cert")]
    pub tls_client_ca: Option<std::path::PathBuf>,
    /// Client certificates allowed as credentials: `name:scopes:dns-name` a line (a
    /// certificate chaining to tls_client_ca with that DNS subject alternative name).
    #[arg(long, env = "ENDOCARP_ADMIN_CLIENT_CERTS_FILE", requires = "tls_client_ca")]
    pub admin_client_certs_file: Option<std::path::PathBuf>,
    /// Decision engine.
    #[arg(long, env = "ENDOCARP_ENGINE", value_enum, default_value_t = EngineKind::Odrl)]
    pub engine: EngineKind,
    /// Apply migrations at start-up.
    #[arg(long, env = "ENDOCARP_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate: bool,
    /// ODRL includedIn matching (false: Pericarp's exact matching).
    #[arg(long, env = "ENDOCARP_ACTION_HIERARCHY", default_value_t = true, action = clap::ArgAction::Set)]
    pub action_hierarchy: bool,
    /// Deny account checks for agents with no membership and no account edge there.
    #[arg(long, env = "ENDOCARP_REQUIRE_MEMBERSHIP", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_membership: bool,
    /// Largest role closure (nodes) a check may build; larger fails with RESOURCE_EXHAUSTED.
    #[arg(long, env = "ENDOCARP_MAX_CLOSURE", default_value_t = DEFAULT_MAX_CLOSURE)]
    pub max_closure: usize,
    /// Most items one CheckBatch may carry; more is INVALID_ARGUMENT.
    #[arg(long, env = "ENDOCARP_MAX_BATCH_CHECKS", default_value_t = crate::app::service::DEFAULT_MAX_BATCH_CHECKS)]
    pub max_batch_checks: usize,
    /// How long the later pages of a look-up can be asked for: every page is answered at
    /// the first page's revision, whose snapshot is kept this long (an older token is
    /// FAILED_PRECONDITION: restart the look-up).
    #[arg(long, env = "ENDOCARP_LOOKUP_PAGE_TTL", default_value = "60s", value_parser = parse_duration)]
    #[serde(serialize_with = "as_millis")]
    pub lookup_page_ttl: Duration,
    /// A secret that seals look-up page tokens, the same on every replica so that they
    /// accept each other's tokens (without it each process has a random key). From the
    /// environment only; never printed.
    #[arg(long, env = "ENDOCARP_LOOKUP_TOKEN_SECRET", hide = true, hide_env_values = true)]
    #[serde(serialize_with = "redacted_tokens")]
    pub lookup_token_secret: Option<String>,
    /// Checks fail with UNAVAILABLE when this replica's data is older (e.g. 5s, 500ms).
    #[arg(long, env = "ENDOCARP_MAX_STALENESS", default_value = "5s", value_parser = parse_duration)]
    #[serde(serialize_with = "as_millis")]
    pub max_staleness: Duration,
    /// Longest consistency wait, whatever the request's deadline.
    #[arg(long, env = "ENDOCARP_MAX_WAIT", default_value = "5s", value_parser = parse_duration)]
    #[serde(serialize_with = "as_millis")]
    pub max_wait: Duration,
    /// How often the log is polled for events other processes wrote (default: 200ms on
    /// SQLite, where polling is the only way to see them; 1s on PostgreSQL, where
    /// LISTEN/NOTIFY wakes replicas and the poll is only the floor).
    #[arg(long, env = "ENDOCARP_POLL_INTERVAL", value_parser = parse_duration)]
    #[serde(serialize_with = "opt_millis")]
    pub poll_interval: Option<Duration>,
    /// Build the index again in bulk (a repack: the same facts, laid out as a load lays
    /// them out, cheaper to check) once this many events have been applied one by one
    /// since it was last built, or half the rows it was built with if more, and writes
    /// pause for 2s plus a random 0–8s per replica (or 10 minutes have passed); 0: never.
    /// Holds two indexes while it runs.
    #[arg(long, env = "ENDOCARP_REPACK_AFTER_WRITES", default_value_t = 100_000)]
    pub repack_after_writes: u64,
    /// Log format.
    #[arg(long, env = "ENDOCARP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Export tracing spans to this OpenTelemetry collector (OTLP/gRPC, e.g.
    /// http://otel-collector:4317); needs a build with the `otlp` feature.
    #[arg(long, env = "ENDOCARP_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// SQLite only: cap the database file at this many bytes (0: no cap). Past it writes
    /// fail with RESOURCE_EXHAUSTED, as on a full disk, and decisions go on; a restart with
    /// a higher cap (or space freed on a real disk) lets them resume. Protects a volume the
    /// database shares with other files.
    #[arg(long, env = "ENDOCARP_SQLITE_MAX_SIZE", default_value_t = 0)]
    pub sqlite_max_size: u64,
    /// Once every port is bound and the index is loaded, write the bound addresses as
    /// JSON (`{"decision": "127.0.0.1:50051", "admin": …, "ops": …, "pid": …}`) to this
    /// file (removed at shutdown), for scripts that start the server on port 0.
    #[arg(long, env = "ENDOCARP_READY_FILE")]
    pub ready_file: Option<std::path::PathBuf>,
    /// A TOML file of these settings (keys as in `endocarp config`); flags and
    /// `ENDOCARP_*` variables override it.
    #[arg(long, env = "ENDOCARP_CONFIG")]
    pub config: Option<std::path::PathBuf>,
}

impl Settings {
    /// The options every accepted gRPC connection gets.
    pub fn socket_options(&self) -> crate::grpc::net::SocketOptions {
        crate::grpc::net::SocketOptions {
            nodelay: true,
            keepalive: (!self.tcp_keepalive.is_zero()).then_some(self.tcp_keepalive),
            write_batch: self.write_batch,
        }
    }

    /// Checks what clap cannot: a usable configuration or a message naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let credentials = self.credentials()?;
        let certs = self.client_certs()?;
        let credentials_configured = !credentials.is_empty() || certs.as_ref().is_some_and(|c| !c.is_empty());
        if self.max_concurrent_streams == 0 {
            return Err("max_concurrent_streams: must be at least 1".into());
        }
        if self.write_batch > 1024 {
            return Err("write_batch: at most 1024".into());
        }
        if self.sqlite_max_size > 0 && !self.database_url.starts_with("sqlite:") {
            return Err("sqlite_max_size: applies to a SQLite database only".into());
        }
        if !credentials_configured && !self.admin_listen.ip().is_loopback() {
            return Err(format!(
                "admin_listen: {} is not a loopback address; with no admin credentials configured the admin API binds loopback only",
                self.admin_listen
            ));
        }
        if self.decision_auth && !credentials_configured {
            return Err(
                "decision_auth: needs credentials with the check scope (admin_tokens_file or ENDOCARP_ADMIN_TOKENS)"
                    .into(),
            );
        }
        if self.max_in_flight == 0 {
            return Err("max_in_flight: must be at least 1".into());
        }
        if self.admin_writes_per_second == 0 {
            return Err("admin_writes_per_second: must be at least 1".into());
        }
        if self.request_timeout.is_zero() {
            return Err("request_timeout: must be more than 0".into());
        }
        if self.max_batch_checks == 0 {
            return Err("max_batch_checks: must be at least 1".into());
        }
        if self.lookup_page_ttl.is_zero() {
            return Err("lookup_page_ttl: must be more than 0".into());
        }
        if self.lookup_token_secret.as_ref().is_some_and(|s| s.len() < 16) {
            return Err("lookup_token_secret: must be at least 16 bytes".into());
        }
        if self.max_closure == 0 {
            return Err("max_closure: must be at least 1".into());
        }
        if self.poll_interval().is_zero() {
            return Err("poll_interval: must be more than 0".into());
        }
        if self.max_staleness <= self.poll_interval() {
            return Err(format!(
                "max_staleness ({} ms) must be longer than poll_interval ({} ms), or every replica would be stale between polls",
                self.max_staleness.as_millis(),
                self.poll_interval().as_millis()
            ));
        }
        crate::store::Store::backend_of(&self.database_url).map_err(|e| e.to_string())?;
        for (name, addr) in [("listen", self.listen), ("admin_listen", self.admin_listen)] {
            if addr.port() != 0 && addr == self.ops_listen {
                return Err(format!(
                    "ops_listen: {addr} is also {name}; the operations port needs its own address"
                ));
            }
        }
        if let Some(addr) = self.authzen_listen.0 {
            for (name, other) in [
                ("listen", self.listen),
                ("admin_listen", self.admin_listen),
                ("ops_listen", self.ops_listen),
            ] {
                if addr.port() != 0 && addr == other {
                    return Err(format!(
                        "authzen_listen: {addr} is also {name}; the AuthZEN API needs its own address"
                    ));
                }
            }
        }
        self.authzen_public_url()?;
        crate::authzen::model::Naming::new(&self.authzen_action_namespace)?;
        if self.otlp_endpoint.is_some() && !cfg!(feature = "otlp") {
            return Err("otlp_endpoint: this build has no OpenTelemetry export; build with `--features otlp`".into());
        }
        Ok(())
    }

    /// The AuthZEN public base URL without a trailing `/`: an absolute http(s) URL with
    /// no query or fragment (the specification's rule for `policy_decision_point`).
    pub fn authzen_public_url(&self) -> Result<Option<String>, String> {
        let Some(url) = &self.authzen_public_url else {
            return Ok(None);
        };
        let trimmed = url.trim_end_matches('/');
        let rest = trimmed
            .strip_prefix("https://")
            .or_else(|| trimmed.strip_prefix("http://"));
        match rest {
            Some(r)
                if !r.is_empty()
                    && !r.starts_with('/')
                    && !r.contains(['?', '#'])
                    && !r.chars().any(|c| c.is_whitespace() || c.is_control()) =>
            {
                Ok(Some(trimmed.to_string()))
            }
            _ => Err(format!(
                "authzen_public_url: {url:?} is not an absolute http(s) URL without a query or fragment (e.g. https://pdp.example.com)"
            )),
        }
    }

    /// The configured credentials (file and environment together).
    pub fn credentials(&self) -> Result<crate::grpc::auth::Credentials, String> {
        use crate::grpc::auth::Credentials;
        let mut all = Credentials::default();
        if let Some(path) = &self.admin_tokens_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("admin_tokens_file: cannot read {}: {e}", path.display()))?;
            all = all.merge(Credentials::parse(
                &text,
                &format!("admin_tokens_file {}", path.display()),
            )?)?;
        }
        if let Some(text) = &self.admin_tokens {
            all = all.merge(Credentials::parse(text, "ENDOCARP_ADMIN_TOKENS")?)?;
        }
        Ok(all)
    }

    /// The client-certificate allow-list, when mTLS is configured.
    pub fn client_certs(&self) -> Result<Option<crate::grpc::auth::ClientCerts>, String> {
        let (Some(ca), Some(list)) = (&self.tls_client_ca, &self.admin_client_certs_file) else {
            return Ok(None);
        };
        let verifier = crate::grpc::tls::client_verifier(ca)?;
        let text = std::fs::read_to_string(list)
            .map_err(|e| format!("admin_client_certs_file: cannot read {}: {e}", list.display()))?;
        crate::grpc::auth::ClientCerts::parse(&text, &format!("admin_client_certs_file {}", list.display()), verifier)
            .map(Some)
    }

    /// The effective poll interval (see the flag).
    pub fn poll_interval(&self) -> Duration {
        self.poll_interval
            .unwrap_or(if self.database_url.starts_with("sqlite:") {
                Duration::from_millis(200)
            } else {
                Duration::from_secs(1)
            })
    }

    /// Whether the snapshot must keep casbin rows, and expanded how.
    pub fn casbin_hierarchy(&self) -> Option<bool> {
        (self.engine != EngineKind::Odrl).then_some(self.action_hierarchy)
    }

    pub fn app_settings(&self) -> AppSettings {
        AppSettings {
            engine: EngineOptions {
                action_hierarchy: self.action_hierarchy,
                require_membership: self.require_membership,
                max_closure: self.max_closure,
            },
            engine_kind: self.engine,
            max_staleness: self.max_staleness,
            max_wait: self.max_wait,
            max_batch_checks: self.max_batch_checks,
            lookup_page_ttl: self.lookup_page_ttl,
            lookup_token_secret: self.lookup_token_secret.clone().map(crate::app::lookups::Secret),
        }
    }
}

/// A listener's address, or `off` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen(pub Option<SocketAddr>);

impl std::str::FromStr for Listen {
    type Err = String;
    fn from_str(s: &str) -> Result<Listen, String> {
        match s.trim() {
            "off" | "" => Ok(Listen(None)),
            a => a
                .parse()
                .map(|a| Listen(Some(a)))
                .map_err(|_| format!("{s:?} is neither an address like 127.0.0.1:8181 nor `off`")),
        }
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(a) => write!(f, "{a}"),
            None => f.write_str("off"),
        }
    }
}

impl serde::Serialize for Listen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Parses `250ms`, `5s`, `2m` or a bare number of milliseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "ms"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 250ms, 5s or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("{s:?} is not a duration like 250ms, 5s or 2m")),
    }
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{}ms", d.as_millis()))
}

fn opt_millis<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => as_millis(d, s),
        None => s.serialize_str("default"),
    }
}

fn redacted_tokens<S: serde::Serializer>(t: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(_) => s.serialize_str("<redacted>"),
        None => s.serialize_none(),
    }
}

fn redacted_url<S: serde::Serializer>(url: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url))
}

/// Hides a password in a URL (`postgres://user:secret@host` → `postgres://user:***@host`).
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((auth, host)) = rest.split_once('@')
        && let Some((user, _)) = auth.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_string()
}

#[cfg(test)]
mod tests;
