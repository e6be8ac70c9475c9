//! The command line's shape: every subcommand and its arguments (clap).

use crate::configuration::{DEFAULT_DATABASE_URL, Settings};
use clap::Subcommand;

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
    Bench(super::bench::BenchArgs),
    /// The bare gRPC echo server `bench` compares against.
    #[command(hide = true)]
    BenchEcho {
        /// Where to write the bound address (JSON, as `serve --ready-file`).
        #[arg(long)]
        ready_file: std::path::PathBuf,
    },
    /// Ask a running server for a decision (or, with --batch, for many).
    Check(CheckArgs),
    /// Ask a running server which targets, agents or actions a check would allow.
    Lookup(LookupArgs),
    /// Load events: `import FILE` reads Pericarp newline-delimited JSON envelopes;
    /// `import casbin FILE` turns a policy file for Pericarp's casbin model into triple
    /// events; `import odrl FILE...` reads ODRL policy documents (Turtle `.ttl`, JSON-LD
    /// `.jsonld`/`.json`) as one graph. Through the admin API, or offline with
    /// --database-url.
    Import {
        /// `casbin`, `pericarp` or `odrl` followed by the file(s), or just the file (Pericarp).
        #[arg(num_args = 1.., value_names = ["FORMAT", "FILE"], required = true)]
        args: Vec<String>,
        /// ODRL import: a rule without a target covers every target, one without an action
        /// odrl:use and odrl:transfer (ODRL 2.2 requires both; by default such a rule is
        /// refused).
        #[arg(long)]
        wildcards: bool,
        /// ODRL import: the role a rule without an assignee is granted to (assign every
        /// agent to it); by default such a rule is refused.
        #[arg(long)]
        anyone: Option<String>,
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
    /// Asset collections: a rule on a collection covers every asset in it
    /// (`asset add ASSET COLLECTION`, `asset remove ASSET COLLECTION`).
    Asset {
        #[command(subcommand)]
        op: AssetOp,
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
        /// `casbin` (a folder: model.conf, policy.csv) or `odrl` (one policy as a JSON-LD
        /// file, `-` for stdout).
        format: String,
        #[arg(long)]
        out: std::path::PathBuf,
        /// The policy to export as ODRL (its id, an IRI).
        #[arg(long)]
        policy: Option<String>,
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
    #[arg(required_unless_present = "batch")]
    pub agent: Option<String>,
    /// A CURIE (odrl:read) or an absolute IRI.
    #[arg(required_unless_present = "batch")]
    pub action: Option<String>,
    #[arg(required_unless_present = "batch")]
    pub target: Option<String>,
    /// Check every line of FILE (`-`: standard input) with CheckBatch: JSON lines of
    /// `{"agent", "action", "target"}` with optional `"account"`, `"context"` (as
    /// `--context`) and `"id"` (echoed);
    /// prints one result a line, in order.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["agent", "action", "target", "account"])]
    pub batch: Option<std::path::PathBuf>,
    /// With --batch: items per CheckBatch call (each call is one snapshot; at most the
    /// server's max_batch_checks).
    #[arg(long, default_value_t = 1000, requires = "batch")]
    pub batch_size: usize,
    /// With --batch: stop after the first deny (or failure), or the first permit.
    #[arg(long, value_enum, default_value_t = StopAt::Never, requires = "batch")]
    pub stop_at: StopAt,
    /// Check inside this account (IsAuthorizedInAccount).
    #[arg(long)]
    pub account: Option<String>,
    /// Show the assignees and every rule that applied.
    #[arg(long)]
    pub explain: bool,
    /// With --explain: the most entries each list shows (0: the server's default, 1,000;
    /// at most 10,000). A list cut short says how many it left out.
    #[arg(long, default_value_t = 0, requires = "explain")]
    pub explain_limit: u32,
    /// Values for rules' constraints, as a JSON object keyed by left operand: strings,
    /// numbers, booleans and arrays as they are; {"@id": IRI}; {"@value": TIME, "@type":
    /// "xsd:dateTime"}; {"value": V, "unit": IRI}. E.g. '{"odrl:purpose":"research"}'.
    #[arg(long, value_name = "JSON")]
    pub context: Option<String>,
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

/// When `check --batch` stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StopAt {
    /// Decide every line.
    Never,
    /// Stop after the first line that is denied or fails.
    FirstDeny,
    /// Stop after the first line that is allowed.
    FirstPermit,
}

/// `endocarp lookup`: reverse look-ups, every page fetched for the user.
#[derive(Debug, clap::Args)]
pub struct LookupArgs {
    #[command(subcommand)]
    pub what: LookupWhat,
    /// Inside this account (empty: global checks).
    #[arg(long, global = true)]
    pub account: Option<String>,
    /// Items per page requested (at most 1,000).
    #[arg(long, default_value_t = 1000, global = true)]
    pub page_size: u32,
    /// Stop after this many items (0: all); says so when more exist.
    #[arg(long, default_value_t = 0, global = true)]
    pub limit: usize,
    /// Read the log's head first and wait for it (first page).
    #[arg(long, global = true)]
    pub fully_consistent: bool,
    /// Wait until this revision is applied (first page).
    #[arg(long, default_value_t = 0, global = true)]
    pub at_least_revision: u64,
    /// Decision API of a running server.
    #[arg(long, env = "ENDOCARP_URL", default_value = "http://127.0.0.1:50051", global = true)]
    pub server: String,
    /// Print one JSON object.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum LookupWhat {
    /// The targets AGENT may perform ACTION on (LookupTargets).
    Targets { agent: String, action: String },
    /// The agents that may perform ACTION on TARGET (LookupAgents).
    Agents { action: String, target: String },
    /// The actions AGENT may perform on TARGET (ListActions).
    Actions { agent: String, target: String },
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
pub enum AssetOp {
    Add { asset: String, collection: String },
    Remove { asset: String, collection: String },
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
        #[command(flatten)]
        condition: ConditionArgs,
    },
    /// Revoke it (name the same condition it was granted with).
    Revoke {
        policy: String,
        assignee: String,
        action: String,
        target: String,
        #[command(flatten)]
        condition: ConditionArgs,
    },
}

/// A rule's condition (docs/CONTRACT.md §1, "Constraints", "Duties"), each part JSON.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConditionArgs {
    /// The rule's ODRL constraints (one constraint or an array, all must hold), e.g.
    /// '{"leftOperand":"odrl:purpose","operator":"odrl:eq","rightOperand":"research"}'.
    #[arg(long)]
    pub constraint: Option<String>,
    /// Refinements of the action (the same grammar): they narrow what the rule covers,
    /// e.g. '{"leftOperand":"odrl:resolution","operator":"odrl:lteq","rightOperand":1200}'.
    #[arg(long)]
    pub refinement: Option<String>,
    /// A permission's duties (preconditions), e.g. '{"uid":"pay-1","action":"odrl:compensate"}';
    /// a `Policy.DutyDischarged` event (subject: who, object: the uid) fulfils one.
    #[arg(long)]
    pub duty: Option<String>,
    /// A prohibition's remedies: stored and listed, never enforced.
    #[arg(long)]
    pub remedy: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyOp {
    Create {
        policy: String,
        #[arg(long = "type")]
        policy_type: Option<String>,
        /// Conflict strategy: odrl:perm, odrl:prohibit (the default) or odrl:invalid.
        #[arg(long)]
        conflict: Option<String>,
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
