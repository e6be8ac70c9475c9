//! The `endocarp` command line. Writes go through a running server's admin API (so the
//! server applies and audits them); only `migrate` and `import --database-url` open the
//! database themselves.

pub mod bench;
pub mod config_file;
pub mod import;

use crate::configuration::{DEFAULT_DATABASE_URL, Settings};
use crate::grpc::pb;
use crate::grpc::pb::authorization_service_client::AuthorizationServiceClient;
use crate::grpc::pb::event_service_client::EventServiceClient;
use crate::grpc::pb::policy_admin_service_client::PolicyAdminServiceClient;
use crate::store::{AuditRecord, Store};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tonic::transport::Channel;

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

/// The token every client call of this process carries (the CLI runs one command).
static TLS_CA: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

static TOKEN: std::sync::OnceLock<Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>> =
    std::sync::OnceLock::new();

/// Adds `authorization: Bearer …` to every call when a token was given.
#[derive(Clone)]
pub struct Bearer;

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(Some(v)) = TOKEN.get() {
            req.metadata_mut().insert("authorization", v.clone());
        }
        Ok(req)
    }
}

type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

async fn channel(url: &str, what: &str) -> anyhow::Result<Authed> {
    let mut endpoint = Channel::from_shared(url.to_string()).with_context(|| format!("{url:?} is not a URL"))?;
    if let Some(Some(ca)) = TLS_CA.get() {
        let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(ca));
        endpoint = endpoint.tls_config(tls).context("TLS configuration")?;
    }
    let ch = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach the {what} at {url}"))?;
    Ok(tonic::service::interceptor::InterceptedService::new(ch, Bearer))
}

/// Where the CLI finds a running server.
#[derive(Debug, Clone, clap::Args)]
pub struct AdminTarget {
    /// Admin API of a running server.
    #[arg(
        long,
        env = "ENDOCARP_ADMIN_URL",
        default_value = "http://127.0.0.1:50052",
        global = true
    )]
    pub admin: String,
    /// Makes the write idempotent: a retry with the same id is the same write.
    #[arg(long, global = true)]
    pub request_id: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the service (decision API, admin API).
    Serve(Settings),
    /// Apply database migrations and exit.
    Migrate {
        #[arg(long, env = "ENDOCARP_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
    },
    /// Print the effective settings (secrets redacted) and exit.
    Config(Settings),
    /// Benchmark end to end: seed a generated organisation, load IsAuthorized over gRPC
    /// next to a bare echo server, measure ingest, start-up and memory (docs/BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// The bare gRPC echo server `bench` compares against.
    #[command(hide = true)]
    BenchEcho,
    /// Ask a running server for a decision.
    Check(CheckArgs),
    /// Load events: `import FILE` reads Pericarp newline-delimited JSON envelopes;
    /// `import casbin FILE` turns a policy file for Pericarp's casbin model into triple
    /// events. Through the admin API, or offline with --database-url.
    Import {
        /// `casbin` or `pericarp` followed by the file, or just the file (Pericarp).
        #[arg(num_args = 1..=2, value_names = ["FORMAT", "FILE"], required = true)]
        args: Vec<String>,
        /// Policy id for rules imported from a casbin file.
        #[arg(long, default_value = "casbin-import")]
        policy: String,
        /// Casbin import: one rule per row, for a server run with --action-hierarchy false
        /// (by default rows are folded back along the ODRL hierarchy).
        #[arg(long)]
        exact_actions: bool,
        /// Write straight into this database instead of through a server (offline).
        #[arg(long)]
        database_url: Option<String>,
        /// Events per append (at most 1000).
        #[arg(long, default_value_t = 500)]
        batch: usize,
        #[arg(long, env = "ENDOCARP_ADMIN_URL", default_value = "http://127.0.0.1:50052")]
        admin: String,
    },
    /// Assign and revoke roles (global or in an account), and role-to-role edges.
    Role {
        #[command(subcommand)]
        op: RoleOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Group memberships (global edges to a group).
    Group {
        #[command(subcommand)]
        op: GroupOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Account members and their roles.
    Member {
        #[command(subcommand)]
        op: MemberOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Grant and revoke permissions.
    Permission {
        #[command(subcommand)]
        op: RuleOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Set and revoke prohibitions.
    Prohibition {
        #[command(subcommand)]
        op: RuleOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Create, activate and deactivate policies.
    Policy {
        #[command(subcommand)]
        op: PolicyOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Activate and deactivate an agent.
    Agent {
        #[command(subcommand)]
        op: StatusOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Activate and deactivate an account.
    Account {
        #[command(subcommand)]
        op: StatusOp,
        #[command(flatten)]
        to: AdminTarget,
    },
    /// Export the facts for casbin: `export casbin --out DIR` writes model.conf, policy.csv
    /// and a README naming the domain-matching function a loader must register.
    Export {
        /// Only `casbin`.
        format: String,
        #[arg(long)]
        out: std::path::PathBuf,
        #[arg(long, env = "ENDOCARP_ADMIN_URL", default_value = "http://127.0.0.1:50052")]
        admin: String,
    },
    /// Rebuild the read model from the log in memory and compare it with the stored read
    /// model and, with --admin, with a running server's index. Exits 1 on any difference.
    Verify {
        /// The database to read (read only).
        #[arg(long, env = "ENDOCARP_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
        database_url: String,
        /// Also compare with the index of the server at this admin URL.
        #[arg(long)]
        admin: Option<String>,
    },
    /// Show a running server's revision, data age, engine, index sizes and shadow counts.
    Status {
        #[arg(long, env = "ENDOCARP_ADMIN_URL", default_value = "http://127.0.0.1:50052")]
        admin: String,
    },
    /// List rules, role assignments, members or the audit log.
    List {
        #[command(subcommand)]
        what: ListOp,
        #[arg(
            long,
            env = "ENDOCARP_ADMIN_URL",
            default_value = "http://127.0.0.1:50052",
            global = true
        )]
        admin: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    pub agent: String,
    /// A CURIE (odrl:read) or an absolute IRI.
    pub action: String,
    pub target: String,
    /// Check inside this account (IsAuthorizedInAccount).
    #[arg(long)]
    pub account: Option<String>,
    /// Show the assignees and every rule that applied.
    #[arg(long)]
    pub explain: bool,
    /// Read the log's head first and wait for it.
    #[arg(long)]
    pub fully_consistent: bool,
    /// Wait until this revision (returned by a write) is applied.
    #[arg(long, default_value_t = 0)]
    pub at_least_revision: u64,
    /// Decision API of a running server.
    #[arg(long, env = "ENDOCARP_URL", default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// Print the decision as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RoleOp {
    /// Give AGENT the role ROLE (in --account, or globally).
    Assign {
        agent: String,
        role: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Take the role away.
    Revoke {
        agent: String,
        role: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Give role ROLE the role PARENT (ROLE's holders get PARENT's rules).
    Inherit { role: String, parent: String },
    /// Remove a role-to-role edge.
    Uninherit { role: String, parent: String },
}

#[derive(Debug, Subcommand)]
pub enum GroupOp {
    Add { agent: String, group: String },
    Remove { agent: String, group: String },
}

#[derive(Debug, Subcommand)]
pub enum MemberOp {
    Add {
        account: String,
        agent: String,
        role: String,
    },
    Change {
        account: String,
        agent: String,
        role: String,
    },
    Remove {
        account: String,
        agent: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RuleOp {
    /// Grant a permission (or set a prohibition).
    #[command(visible_alias = "set")]
    Grant {
        policy: String,
        assignee: String,
        action: String,
        target: String,
    },
    /// Revoke it.
    Revoke {
        policy: String,
        assignee: String,
        action: String,
        target: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyOp {
    Create {
        policy: String,
        #[arg(long = "type")]
        policy_type: Option<String>,
    },
    Activate {
        policy: String,
    },
    Deactivate {
        policy: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum StatusOp {
    Activate { id: String },
    Deactivate { id: String },
}

#[derive(Debug, Subcommand)]
pub enum ListOp {
    Rules {
        #[arg(long, default_value = "")]
        policy: String,
        #[arg(long, default_value = "")]
        assignee: String,
    },
    Roles {
        #[arg(long, default_value = "")]
        node: String,
        #[arg(long, default_value = "")]
        account: String,
    },
    Members {
        #[arg(long, default_value = "")]
        account: String,
    },
    Audit,
}

async fn admin_client(url: &str) -> anyhow::Result<PolicyAdminServiceClient<Authed>> {
    Ok(PolicyAdminServiceClient::new(channel(url, "admin API").await?))
}

fn print_write(r: pb::WriteResponse) {
    if r.visible {
        println!(
            "ok: visible at revision {} (events: {})",
            r.revision,
            r.event_ids.join(", ")
        );
    } else {
        println!(
            "ok: stored at revision {} but not yet visible on this server; it will be (do not retry) (events: {})",
            r.revision,
            r.event_ids.join(", ")
        );
    }
    for h in r.still_held {
        let scope = if h.account_id.is_empty() {
            String::new()
        } else {
            format!(" in account {:?}", h.account_id)
        };
        println!(
            "note: {:?} is still in {:?}{scope}: other facts hold the edge ({})",
            h.node,
            h.role,
            h.sources.join(", ")
        );
    }
}

fn rid(to: &AdminTarget) -> String {
    to.request_id.clone().unwrap_or_default()
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let token = match cli.token.as_deref() {
        Some(t) => Some(
            format!("Bearer {t}")
                .parse()
                .context("the token must be printable ASCII")?,
        ),
        None => None,
    };
    let _ = TOKEN.set(token);
    let ca = match &cli.tls_ca {
        Some(p) => Some(std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?),
        None => None,
    };
    let _ = TLS_CA.set(ca);
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
        Cmd::Check(args) => check(args).await,
        Cmd::Bench(args) => bench::run(args).await,
        Cmd::BenchEcho => bench::echo_server().await,
        Cmd::Import {
            args,
            policy,
            exact_actions,
            database_url,
            batch,
            admin,
        } => {
            let (format, file) = match args.as_slice() {
                [file] => ("pericarp", file.as_str()),
                [format, file] => (format.as_str(), file.as_str()),
                _ => bail!("usage: endocarp import [casbin|pericarp] FILE"),
            };
            let content = if file == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(file).with_context(|| format!("cannot read {file}"))?
            };
            let parsed = match format {
                "pericarp" => import::parse_file(&content),
                "casbin" => import::casbin_envelopes(&content, &policy, !exact_actions)
                    .and_then(import::ImportFile::from_envelopes),
                other => bail!("unknown import format {other:?}: use casbin or pericarp"),
            };
            let file = parsed.map_err(|e| anyhow::anyhow!("{e}"))?;
            import(file, database_url.as_deref(), batch, &admin).await
        }
        Cmd::Export { format, out, admin } => {
            if format != "casbin" {
                bail!("unknown export format {format:?}: only casbin");
            }
            export_casbin(&out, &admin).await
        }
        Cmd::Verify { database_url, admin } => verify(&database_url, admin.as_deref()).await,
        Cmd::Status { admin } => {
            let s = admin_client(&admin)
                .await?
                .get_status(pb::GetStatusRequest {
                    with_index_digest: false,
                })
                .await?
                .into_inner();
            println!(
                "revision {} (log head {}), data age {} ms, engine {}",
                s.revision, s.head_revision, s.data_age_ms, s.engine
            );
            println!(
                "rules {}, global edges {}, account edges {}, memberships {}, roles {}",
                s.rules, s.global_edges, s.account_edges, s.memberships, s.roles
            );
            if s.engine != "odrl" {
                println!("casbin rows: p {}, g {}", s.casbin_p_rows, s.casbin_g_rows);
            }
            if s.engine == "shadow" {
                println!(
                    "shadow: {} agreements, {} disagreements",
                    s.shadow_agreements, s.shadow_disagreements
                );
            }
            println!("ignored duty events: {}", s.ignored_duties);
            if s.stale {
                println!("STALE: data older than max_staleness; checks fail with UNAVAILABLE");
            }
            if !s.storage_error.is_empty() {
                println!("storage: {}", s.storage_error);
            }
            Ok(())
        }
        Cmd::Role { op, to } => {
            let mut c = admin_client(&to.admin).await?;
            let r = match op {
                RoleOp::Assign { agent, role, account } => {
                    c.assign_role(pb::RoleAssignmentRequest {
                        agent_id: agent,
                        role_id: role,
                        account_id: account.unwrap_or_default(),
                        request_id: rid(&to),
                    })
                    .await?
                }
                RoleOp::Revoke { agent, role, account } => {
                    c.revoke_role(pb::RoleAssignmentRequest {
                        agent_id: agent,
                        role_id: role,
                        account_id: account.unwrap_or_default(),
                        request_id: rid(&to),
                    })
                    .await?
                }
                RoleOp::Inherit { role, parent } => {
                    c.assign_role_to_role(pb::RoleToRoleRequest {
                        role_id: role,
                        parent_role_id: parent,
                        request_id: rid(&to),
                    })
                    .await?
                }
                RoleOp::Uninherit { role, parent } => {
                    c.revoke_role_from_role(pb::RoleToRoleRequest {
                        role_id: role,
                        parent_role_id: parent,
                        request_id: rid(&to),
                    })
                    .await?
                }
            };
            print_write(r.into_inner());
            Ok(())
        }
        Cmd::Group { op, to } => {
            let mut c = admin_client(&to.admin).await?;
            let r = match op {
                GroupOp::Add { agent, group } => {
                    c.add_group_member(pb::GroupMembershipRequest {
                        agent_id: agent,
                        group_id: group,
                        request_id: rid(&to),
                    })
                    .await?
                }
                GroupOp::Remove { agent, group } => {
                    c.remove_group_member(pb::GroupMembershipRequest {
                        agent_id: agent,
                        group_id: group,
                        request_id: rid(&to),
                    })
                    .await?
                }
            };
            print_write(r.into_inner());
            Ok(())
        }
        Cmd::Member { op, to } => {
            let mut c = admin_client(&to.admin).await?;
            let r = match op {
                MemberOp::Add { account, agent, role } => {
                    c.add_member(pb::MemberRequest {
                        account_id: account,
                        agent_id: agent,
                        role_id: role,
                        request_id: rid(&to),
                    })
                    .await?
                }
                MemberOp::Change { account, agent, role } => {
                    c.change_member_role(pb::MemberRequest {
                        account_id: account,
                        agent_id: agent,
                        role_id: role,
                        request_id: rid(&to),
                    })
                    .await?
                }
                MemberOp::Remove { account, agent } => {
                    c.remove_member(pb::MemberRequest {
                        account_id: account,
                        agent_id: agent,
                        role_id: String::new(),
                        request_id: rid(&to),
                    })
                    .await?
                }
            };
            print_write(r.into_inner());
            Ok(())
        }
        Cmd::Permission { op, to } => rule(op, to, true).await,
        Cmd::Prohibition { op, to } => rule(op, to, false).await,
        Cmd::Policy { op, to } => {
            let mut c = admin_client(&to.admin).await?;
            let r = match op {
                PolicyOp::Create { policy, policy_type } => {
                    c.create_policy(pb::CreatePolicyRequest {
                        policy_id: policy,
                        policy_type: policy_type.unwrap_or_default(),
                        request_id: rid(&to),
                    })
                    .await?
                }
                PolicyOp::Activate { policy } => {
                    c.activate_policy(pb::StatusRequest {
                        id: policy,
                        request_id: rid(&to),
                    })
                    .await?
                }
                PolicyOp::Deactivate { policy } => {
                    c.deactivate_policy(pb::StatusRequest {
                        id: policy,
                        request_id: rid(&to),
                    })
                    .await?
                }
            };
            print_write(r.into_inner());
            Ok(())
        }
        Cmd::Agent { op, to } => {
            let mut c = admin_client(&to.admin).await?;
            let r = match op {
                StatusOp::Activate { id } => {
                    c.activate_agent(pb::StatusRequest {
                        id,
                        request_id: rid(&to),
                    })
                    .await?
                }
                StatusOp::Deactivate { id } => {
                    c.deactivate_agent(pb::StatusRequest {
                        id,
                        request_id: rid(&to),
                    })
                    .await?
                }
            };
            print_write(r.into_inner());
            Ok(())
        }
        Cmd::Account { op, to } => {
            let mut c = admin_client(&to.admin).await?;
            let r = match op {
                StatusOp::Activate { id } => {
                    c.activate_account(pb::StatusRequest {
                        id,
                        request_id: rid(&to),
                    })
                    .await?
                }
                StatusOp::Deactivate { id } => {
                    c.deactivate_account(pb::StatusRequest {
                        id,
                        request_id: rid(&to),
                    })
                    .await?
                }
            };
            print_write(r.into_inner());
            Ok(())
        }
        Cmd::List { what, admin } => list(what, &admin).await,
    }
}

async fn rule(op: RuleOp, to: AdminTarget, permission: bool) -> anyhow::Result<()> {
    let mut c = admin_client(&to.admin).await?;
    let (grant, policy, assignee, action, target) = match op {
        RuleOp::Grant {
            policy,
            assignee,
            action,
            target,
        } => (true, policy, assignee, action, target),
        RuleOp::Revoke {
            policy,
            assignee,
            action,
            target,
        } => (false, policy, assignee, action, target),
    };
    let req = pb::RuleRequest {
        policy_id: policy,
        assignee,
        action,
        target,
        request_id: rid(&to),
    };
    let r = match (permission, grant) {
        (true, true) => c.grant_permission(req).await?,
        (true, false) => c.revoke_permission(req).await?,
        (false, true) => c.set_prohibition(req).await?,
        (false, false) => c.revoke_prohibition(req).await?,
    };
    print_write(r.into_inner());
    Ok(())
}

fn reason_name(r: i32) -> &'static str {
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

fn rule_text(r: &pb::RuleRef) -> String {
    let kind = if r.kind == pb::RuleKind::Prohibition as i32 {
        "prohibition"
    } else {
        "permission"
    };
    format!(
        "{kind} in policy {:?}: {:?} may{} {} on {:?}",
        r.policy_id,
        r.assignee,
        if kind == "prohibition" { " not" } else { "" },
        crate::domain::action::compact_iri(&r.action),
        r.target
    )
}

async fn check(a: CheckArgs) -> anyhow::Result<()> {
    let mut c = AuthorizationServiceClient::new(channel(&a.server, "decision API").await?);
    let consistency = Some(pb::Consistency {
        at_least_revision: a.at_least_revision,
        fully_consistent: a.fully_consistent,
    });
    let d = match &a.account {
        None => {
            c.is_authorized(pb::IsAuthorizedRequest {
                agent_id: a.agent.clone(),
                action: a.action.clone(),
                target: a.target.clone(),
                consistency,
                explain: a.explain,
            })
            .await?
            .into_inner()
            .decision
        }
        Some(acc) => {
            c.is_authorized_in_account(pb::IsAuthorizedInAccountRequest {
                agent_id: a.agent.clone(),
                account_id: acc.clone(),
                action: a.action.clone(),
                target: a.target.clone(),
                consistency,
                explain: a.explain,
            })
            .await?
            .into_inner()
            .decision
        }
    };
    let d = d.context("the server returned no decision")?;
    if a.json {
        let v = serde_json::json!({
            "allowed": d.allowed,
            "reason": reason_name(d.reason),
            "revision": d.revision,
            "action": d.action,
            "deciding_rule": d.deciding_rule.as_ref().map(|r| serde_json::json!({
                "policy_id": r.policy_id, "kind": if r.kind == pb::RuleKind::Prohibition as i32 { "prohibition" } else { "permission" },
                "assignee": r.assignee, "action": r.action, "target": r.target })),
            "assignees": d.explanation.as_ref().map(|e| e.assignees.clone()),
            "other_rules": d.explanation.as_ref().map(|e| e.other_rules.iter().map(rule_text).collect::<Vec<_>>()),
        });
        println!("{v}");
    } else {
        println!(
            "{} ({}) at revision {}",
            if d.allowed { "ALLOW" } else { "DENY" },
            reason_name(d.reason),
            d.revision
        );
        if let Some(r) = &d.deciding_rule {
            println!("  decided by {}", rule_text(r));
        }
        if let Some(e) = &d.explanation {
            println!("  assignees: {}", e.assignees.join(", "));
            for r in &e.other_rules {
                println!("  also applied: {}", rule_text(r));
            }
        }
    }
    Ok(())
}

async fn import(file: import::ImportFile, database_url: Option<&str>, batch: usize, admin: &str) -> anyhow::Result<()> {
    if batch == 0 || batch > crate::app::service::MAX_BATCH {
        bail!("--batch must be 1..={}", crate::app::service::MAX_BATCH);
    }
    // Every event was checked when the file was parsed, before anything is written.
    let import::ImportFile { envelopes, events } = file;
    let total = events.len();
    let mut revision = 0;
    match database_url {
        Some(url) => {
            let store = Store::connect(url, true).await?;
            store.migrate().await?;
            let audit = AuditRecord {
                actor: "offline-import".into(),
                action: "Import".into(),
                correlation_id: ulid::Ulid::generate().to_string(),
            };
            for chunk in events.chunks(batch) {
                revision = store.append(chunk.to_vec(), Some(&audit)).await?.revision.max(revision);
            }
            store.close().await;
        }
        None => {
            let mut c = EventServiceClient::new(channel(admin, "admin API").await?)
                .max_encoding_message_size(crate::startup::MAX_MESSAGE_BYTES);
            for chunk in envelopes.chunks(batch) {
                let events = chunk
                    .iter()
                    .map(|e| pb::TripleEvent {
                        id: e.id.clone(),
                        aggregate_id: e.triple.aggregate_id.clone(),
                        event_type: e.triple.event_type.clone(),
                        subject: e.triple.subject.clone(),
                        predicate: e.triple.predicate.clone(),
                        object: e.triple.object.clone(),
                        attributes: e.triple.payload.clone().into_iter().collect(),
                        timestamp: e.timestamp.as_ref().map(crate::grpc::convert::timestamp),
                        expected_version: None,
                        sequence_no: 0,
                        metadata: e.metadata.clone().into_iter().collect(),
                        position: 0,
                    })
                    .collect();
                let r = c.append_events(pb::AppendEventsRequest { events }).await?.into_inner();
                revision = revision.max(r.revision);
            }
        }
    }
    println!("imported {total} events; visible at revision {revision}");
    Ok(())
}

/// The README written beside an exported casbin policy.
const EXPORT_README: &str = "# Endocarp casbin export

`model.conf` is Pericarp's deny-override model; `policy.csv` holds every row, one per line,
with RFC 4180 quoting (a field with a comma, a quote or leading or trailing spaces is quoted
and its quotes doubled).

Loading it:

1. Register a domain-matching function on `g` under which a stored domain `*` matches every
   request domain. In casbin-rs:
   `e.get_role_manager().write().matching_fn(None, Some(|request_dom: &str, stored_dom: &str| stored_dom == \"*\" || request_dom == stored_dom));`
   In Go casbin: `e.AddNamedDomainMatchingFunc(\"g\", \"global\", func(req, stored string) bool { return stored == \"*\" || req == stored })`.
   Without it a global role (`g, alice, editor, *`) is invisible inside accounts.
2. Raise the role manager's hierarchy limit (casbin-rs defaults to 10 levels, which cuts
   deep role hierarchies short: `DefaultRoleManager::new(1_000_000)`).
3. Parse `policy.csv` as RFC 4180. casbin's built-in CSV loaders trim spaces and do not
   unescape doubled quotes, so identifiers with quotes or edge spaces need a real CSV parser
   (then `add_policies` / `add_grouping_policies`).
4. Enforce global checks as `(agent, \"*\", action, target)` and account checks as
   `(agent, account, action, target)`. Actions are full IRIs.

Left out on purpose: rows of deactivated policies. **The status gate is outside Casbin**:
Endocarp denies a deactivated agent (AGENT_INACTIVE) or a deactivated account
(ACCOUNT_INACTIVE) before any engine runs, and refuses checks whose agent id is a role. A
plain enforcer loaded from these files does neither; apply those gates yourself.

The action hierarchy is expanded into rows: a permission on `odrl:use` is written as allow
rows for `odrl:use` and every action it includes; a prohibition on X as deny rows for X,
what X includes and what includes X.
";

async fn export_casbin(out: &std::path::Path, admin: &str) -> anyhow::Result<()> {
    let mut stream = admin_client(admin)
        .await?
        .export_casbin(pb::ExportCasbinRequest {})
        .await?
        .into_inner();
    let mut model = String::new();
    let mut revision = 0;
    let (mut p, mut g) = (Vec::new(), Vec::new());
    while let Some(chunk) = stream.message().await? {
        if !chunk.model.is_empty() {
            model = chunk.model;
            revision = chunk.revision;
        }
        for row in chunk.rows {
            match (row.ptype.as_str(), row.values.as_slice()) {
                ("p", [a, b, c, d, e]) => p.push([a.clone(), b.clone(), c.clone(), d.clone(), e.clone()]),
                ("g", [a, b, c]) => g.push([a.clone(), b.clone(), c.clone()]),
                _ => bail!("the server sent a malformed row: {row:?}"),
            }
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    std::fs::write(out.join("model.conf"), &model)?;
    std::fs::write(out.join("policy.csv"), crate::engine::casbin::policy_csv(&p, &g))?;
    std::fs::write(out.join("README.md"), EXPORT_README)?;
    println!(
        "exported {} p rows and {} g rows at revision {revision} to {}",
        p.len(),
        g.len(),
        out.display()
    );
    Ok(())
}

async fn verify(database_url: &str, admin: Option<&str>) -> anyhow::Result<()> {
    let store = Store::connect(database_url, false).await?;
    let report = crate::app::verify::verify_store(&store)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut differences = report.missing.len() + report.extra.len();
    println!(
        "read model at revision {}: {} facts replayed from the log, {} missing, {} extra",
        report.revision,
        report.replayed.facts().len(),
        report.missing.len(),
        report.extra.len()
    );
    for f in report.missing.iter().take(20) {
        println!("  missing from the read model: {f}");
    }
    for f in report.extra.iter().take(20) {
        println!("  not implied by the log: {f}");
    }
    if let Some(url) = admin {
        let mut c = admin_client(url).await?;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let s = loop {
            let s = c
                .get_status(pb::GetStatusRequest {
                    with_index_digest: true,
                })
                .await?
                .into_inner();
            if s.revision >= report.revision || std::time::Instant::now() > deadline {
                break s;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        if s.revision < report.revision {
            bail!(
                "the server is at revision {}, behind the read model's {}",
                s.revision,
                report.revision
            );
        }
        let replayed = crate::app::verify::replay(&store, report.replayed, s.revision)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        if replayed.facts_digest() == s.index_digest {
            println!("server index at revision {}: identical to the log", s.revision);
        } else {
            differences += 1;
            println!("server index at revision {}: DIFFERS from the log", s.revision);
        }
    }
    store.close().await;
    if differences > 0 {
        bail!("verify found {differences} difference(s)");
    }
    println!("ok");
    Ok(())
}

async fn list(what: ListOp, admin: &str) -> anyhow::Result<()> {
    let mut c = admin_client(admin).await?;
    let mut token = String::new();
    loop {
        let next = match &what {
            ListOp::Rules { policy, assignee } => {
                let r = c
                    .list_rules(pb::ListRulesRequest {
                        policy_id: policy.clone(),
                        assignee: assignee.clone(),
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for x in &r.rules {
                    if let Some(rule) = &x.rule {
                        println!(
                            "{}{}",
                            rule_text(rule),
                            if x.policy_active { "" } else { " (policy inactive)" }
                        );
                    }
                }
                r.next_page_token
            }
            ListOp::Roles { node, account } => {
                let r = c
                    .list_role_assignments(pb::ListRoleAssignmentsRequest {
                        node_id: node.clone(),
                        account_id: account.clone(),
                        global_only: false,
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for a in &r.assignments {
                    let scope = if a.account_id.is_empty() {
                        "global".to_string()
                    } else {
                        format!("in account {:?}", a.account_id)
                    };
                    println!("{:?} has role {:?} ({scope}, {})", a.node_id, a.role_id, a.source);
                }
                r.next_page_token
            }
            ListOp::Members { account } => {
                let r = c
                    .list_members(pb::ListMembersRequest {
                        account_id: account.clone(),
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for m in &r.members {
                    println!(
                        "{:?} is a member of {:?} with role {:?}",
                        m.agent_id, m.account_id, m.role_id
                    );
                }
                r.next_page_token
            }
            ListOp::Audit => {
                let r = c
                    .list_audit_log(pb::ListAuditLogRequest {
                        page_size: 1000,
                        page_token: token,
                    })
                    .await?
                    .into_inner();
                for e in &r.entries {
                    let at = e
                        .time
                        .as_ref()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32));
                    println!(
                        "#{} {} {} by {:?} (correlation {}) at revision {}: {}",
                        e.id,
                        at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        e.action,
                        e.actor,
                        e.correlation_id,
                        e.revision,
                        e.event_ids.join(", ")
                    );
                    if !e.note.is_empty() {
                        println!("    note: {}", e.note);
                    }
                }
                r.next_page_token
            }
        };
        if next.is_empty() {
            return Ok(());
        }
        token = next;
    }
}
