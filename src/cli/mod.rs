//! The `endocarp` command line. Writes go through a running server's admin API (so the
//! server applies and audits them); only `migrate` and `import --database-url` open the
//! database themselves.

mod admin;
pub mod args;
pub mod bench;
pub mod casbin_file;
mod check;
pub mod client;
pub mod config_file;
mod data;
pub mod import;
mod lookup;

pub use args::{AdminTarget, Cmd};

use crate::store::Store;
use anyhow::{Context, bail};
use clap::Parser;
use client::ClientOptions;

#[derive(Debug, Parser)]
#[command(name = "endocarp", version, about = "Authorization decisions over triple events")]
pub struct Cli {
    /// Bearer token for a server that requires one (the admin API with credentials
    /// configured; the decision API with decision_auth). Never printed.
    #[arg(long, env = "ENDOCARP_TOKEN", global = true, hide_env_values = true)]
    pub token: Option<String>,
    /// CA certificate (PEM) to trust for a server that serves TLS (use https:// URLs).
    #[arg(long, env = "ENDOCARP_TLS_CA", global = true)]
    pub tls_ca: Option<std::path::PathBuf>,
    #[command(subcommand)]
    pub command: Cmd,
}

fn rid(to: &AdminTarget) -> String {
    to.request_id.clone().unwrap_or_default()
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let opts = ClientOptions::new(cli.token.as_deref(), cli.tls_ca.as_deref())?;
    match cli.command {
        Cmd::Serve(settings) => {
            let _telemetry = crate::telemetry::init(settings.log_format, settings.otlp_endpoint.as_deref())
                .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            let shutdown = crate::startup::shutdown_on_signals();
            crate::startup::serve(settings, shutdown).await
        }
        Cmd::Migrate { database_url } => {
            let store = Store::connect(&database_url, true).await?;
            store.migrate().await?;
            println!("migrated {}", crate::configuration::redact_url(&database_url));
            Ok(())
        }
        Cmd::Config(settings) => {
            let json = serde_json::to_string_pretty(&settings)?;
            println!("{json}");
            if let Err(e) = settings.validate() {
                bail!("invalid configuration: {e}");
            }
            Ok(())
        }
        Cmd::Check(args) => check::run(args, &opts).await,
        Cmd::Lookup(args) => lookup::run(args, &opts).await,
        Cmd::Bench(args) => bench::run(args).await,
        Cmd::BenchEcho { ready_file } => bench::echo_server(&ready_file).await,
        Cmd::Import {
            args,
            wildcards,
            anyone,
            policy,
            exact_actions,
            database_url,
            batch,
            admin,
        } => {
            let read = |file: &str| -> anyhow::Result<String> {
                if file == "-" {
                    Ok(std::io::read_to_string(std::io::stdin())?)
                } else {
                    std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))
                }
            };
            if let [format, files @ ..] = args.as_slice()
                && format == "odrl"
            {
                if files.is_empty() {
                    bail!("usage: endocarp import odrl FILE... (Turtle .ttl, JSON-LD .jsonld or .json)");
                }
                let options = crate::odrl::Options { wildcards, anyone };
                let file = import::odrl_file(files, &options, read)?;
                return data::import(file, database_url.as_deref(), batch, &admin, &opts).await;
            }
            let (format, file) = match args.as_slice() {
                [file] => ("pericarp", file.as_str()),
                [format, file] => (format.as_str(), file.as_str()),
                _ => bail!("usage: endocarp import [casbin|pericarp] FILE, or endocarp import odrl FILE..."),
            };
            let content = read(file)?;
            let parsed = match format {
                "pericarp" => import::parse_file(&content),
                "casbin" => import::casbin_envelopes(&content, &policy, !exact_actions)
                    .and_then(import::ImportFile::from_envelopes),
                other => bail!("unknown import format {other:?}: use casbin, pericarp or odrl"),
            };
            let file = parsed.map_err(|e| anyhow::anyhow!("{e}"))?;
            data::import(file, database_url.as_deref(), batch, &admin, &opts).await
        }
        Cmd::Export {
            format,
            out,
            policy,
            admin,
        } => match (format.as_str(), policy) {
            ("casbin", None) => data::export_casbin(&out, &admin, &opts).await,
            ("casbin", Some(_)) => bail!("export casbin writes every policy: leave --policy out"),
            ("odrl", Some(policy)) => data::export_odrl(&out, &policy, &admin, &opts).await,
            ("odrl", None) => bail!("export odrl writes one policy: name it with --policy"),
            (other, _) => bail!("unknown export format {other:?}: use casbin or odrl"),
        },
        Cmd::Verify { database_url, admin } => data::verify(&database_url, admin.as_deref(), &opts).await,
        Cmd::Status { admin } => admin::status(&admin, &opts).await,
        Cmd::Role { op, to } => admin::send(op.write(rid(&to)), &to, &opts).await,
        Cmd::Group { op, to } => admin::send(op.write(rid(&to)), &to, &opts).await,
        Cmd::Asset { op, to } => admin::send(op.write(rid(&to)), &to, &opts).await,
        Cmd::Member { op, to } => admin::send(op.write(rid(&to)), &to, &opts).await,
        Cmd::Permission { op, to } => admin::send(op.write(rid(&to), true), &to, &opts).await,
        Cmd::Prohibition { op, to } => admin::send(op.write(rid(&to), false), &to, &opts).await,
        Cmd::Policy { op, to } => admin::send(op.write(rid(&to)), &to, &opts).await,
        Cmd::Agent { op, to } => admin::send(op.write(rid(&to), true), &to, &opts).await,
        Cmd::Account { op, to } => admin::send(op.write(rid(&to), false), &to, &opts).await,
        Cmd::List { what, admin } => admin::list(what, &admin, &opts).await,
    }
}
