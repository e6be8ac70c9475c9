//! The use cases behind every RPC.

use crate::app::lookups::{KeptSnapshots, Secret, TokenKey};
use crate::app::{AppError, Projector};
use crate::domain::commands::Command;
use crate::domain::{Decision, DomainError, NewEvent, StoredEvent};
use crate::engine::{self, Check, EngineKind, EngineOptions};
use crate::metrics::Engine;
use crate::store::{AppendOutcome, AuditEntry, AuditRecord, EdgeRow, MemberRow, RuleRow, Store, StoreError};
use crate::telemetry::LogThrottle;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest page any list or read returns.
pub const MAX_PAGE: u32 = 1000;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE: u32 = 100;
/// Most events one append may carry.
pub const MAX_BATCH: usize = 1000;

/// Settings of the use cases.
#[derive(Debug, Clone)]
pub struct AppSettings {
    pub engine: EngineOptions,
    /// Which engine answers.
    pub engine_kind: EngineKind,
    /// A replica whose data is older than this fails checks with UNAVAILABLE.
    pub max_staleness: Duration,
    /// Longest consistency wait, whatever the request's deadline.
    pub max_wait: Duration,
    /// Most items in one CheckBatch.
    pub max_batch_checks: usize,
    /// How long a look-up's later pages can be asked for (its snapshot is kept that long).
    pub lookup_page_ttl: Duration,
    /// Seals page tokens so that every replica with the same secret accepts them; None:
    /// a random key per process.
    pub lookup_token_secret: Option<Secret>,
}

/// Default most items in one CheckBatch.
pub const DEFAULT_MAX_BATCH_CHECKS: usize = 1000;

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            engine: EngineOptions::default(),
            engine_kind: EngineKind::Odrl,
            max_staleness: Duration::from_secs(5),
            max_wait: Duration::from_secs(5),
            max_batch_checks: DEFAULT_MAX_BATCH_CHECKS,
            lookup_page_ttl: Duration::from_secs(60),
            lookup_token_secret: None,
        }
    }
}

/// What a check asks of freshness.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consistency {
    pub at_least_revision: u64,
    pub fully_consistent: bool,
}

/// A replica's state, for operators.
#[derive(Debug, Clone)]
pub struct ReplicaStatus {
    pub revision: u64,
    /// The log's head, or why it could not be read.
    pub head: Result<u64, String>,
    pub data_age: Duration,
    pub engine: EngineKind,
    pub stats: engine::IndexStats,
    pub casbin_p_rows: usize,
    pub casbin_g_rows: usize,
    pub shadow_agreements: u64,
    pub shadow_disagreements: u64,
    pub ignored_duties: u64,
    /// The applied-sequence digest (see `projector::chain_digest`) and where it starts.
    pub digest: u64,
    pub digest_from: u64,
    /// `Index::facts_digest` of the snapshot at `revision`, when asked for.
    pub index_digest: Option<u64>,
    /// The last storage fault since start-up.
    pub last_fault: Option<crate::app::faults::Fault>,
    /// The index's last build in bulk, and the repacks since start-up.
    pub built: crate::app::projector::Built,
    pub repacks: u64,
}

/// A committed write: where it is stored, and whether this replica has applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub outcome: AppendOutcome,
    /// False: durable at `outcome.revision` but not yet applied here (see [`App::execute`]).
    pub visible: bool,
}

/// Who is calling, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The credential's name (`local-unauthenticated` until credentials exist).
    pub actor: String,
    pub correlation_id: String,
}

/// The application: one per server process. Cheap to share (`Arc`).
pub struct App {
    store: Store,
    projector: Arc<Projector>,
    pub(super) settings: AppSettings,
    /// Shadow mode: checks on which both engines agreed / disagreed.
    shadow_agreements: AtomicU64,
    shadow_disagreements: AtomicU64,
    /// Disagreements are logged at most once a second (the counters count all of them).
    disagreement_log: LogThrottle,
    /// Decision counters and latency histograms (cached metric handles).
    decisions: crate::metrics::DecisionMetrics,
    /// Seals look-up page tokens.
    pub(super) tokens: TokenKey,
    /// Snapshots the later pages of look-ups are answered from.
    pub(super) kept: KeptSnapshots,
}

/// A look-up's page: what the engine found, the revision, and the token of the next page
/// (empty at the end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupPage<T> {
    pub page: T,
    pub revision: u64,
    pub next_token: String,
}

impl App {
    pub fn new(store: Store, projector: Arc<Projector>, settings: AppSettings) -> App {
        App {
            store,
            projector,
            shadow_agreements: AtomicU64::new(0),
            shadow_disagreements: AtomicU64::new(0),
            disagreement_log: LogThrottle::per_second(),
            decisions: crate::metrics::DecisionMetrics::new(),
            tokens: TokenKey::new(settings.lookup_token_secret.as_ref().map(|s| s.0.as_str())),
            kept: KeptSnapshots::default(),
            settings,
        }
    }

    /// Shadow-mode counts: (agreements, disagreements).
    pub fn shadow_counts(&self) -> (u64, u64) {
        (
            self.shadow_agreements.load(Ordering::Relaxed),
            self.shadow_disagreements.load(Ordering::Relaxed),
        )
    }

    /// Counts a storage fault where it was observed (refusals of input are not faults).
    fn fault(&self, operation: &'static str, e: &StoreError) {
        self.projector.faults().observe(operation, e);
    }

    /// The log's head as the store sees it now (for the metrics scrape; a failure counts,
    /// and is kept, as a `head` storage fault).
    pub async fn head(&self) -> Result<u64, AppError> {
        Ok(self.store.head().await.inspect_err(|e| self.fault("head", e))?)
    }

    /// What this replica holds and how fresh it is.
    pub async fn status(&self, with_index_digest: bool) -> Result<ReplicaStatus, AppError> {
        let head = self
            .store
            .head()
            .await
            .inspect_err(|e| self.fault("head", e))
            .map_err(|e| e.to_string());
        // Digest first: the snapshot read after it is at least as new.
        let (digest, digest_from) = self.projector.digest();
        let snapshot = self.projector.snapshot();
        let (shadow_agreements, shadow_disagreements) = self.shadow_counts();
        let (casbin_p_rows, casbin_g_rows) = snapshot
            .casbin
            .as_ref()
            .map_or((0, 0), |r| (r.p_rows().len(), r.g_rows().len()));
        Ok(ReplicaStatus {
            revision: snapshot.revision(),
            head,
            data_age: self.projector.data_age(),
            engine: self.settings.engine_kind,
            stats: snapshot.index.stats(),
            casbin_p_rows,
            casbin_g_rows,
            shadow_agreements,
            shadow_disagreements,
            ignored_duties: self.projector.ignored_duties(),
            digest,
            digest_from,
            index_digest: with_index_digest.then(|| snapshot.index.facts_digest()),
            last_fault: self.projector.faults().last(),
            built: self.projector.built(),
            repacks: self.projector.repacks(),
        })
    }

    /// The current facts as casbin rows (the engine's own rows when it keeps them).
    pub fn casbin_export(&self) -> (u64, Vec<[String; 5]>, Vec<[String; 3]>) {
        let snapshot = self.projector.snapshot();
        let rows = match &snapshot.casbin {
            Some(rows) => rows.clone(),
            None => engine::CasbinRows::from_index(&snapshot.index, self.settings.engine.action_hierarchy),
        };
        (
            snapshot.revision(),
            rows.p_rows_expanded(&snapshot.index),
            rows.g_rows(),
        )
    }

    /// The store this application writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn projector(&self) -> &Arc<Projector> {
        &self.projector
    }

    pub fn settings(&self) -> &AppSettings {
        &self.settings
    }

    /// Decides a check: consistency wait, staleness gate, then the engine on one snapshot.
    pub async fn check(
        &self,
        check: &Check,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<Decision, AppError> {
        // One clock read serves the staleness gate and starts the engine's timer.
        let (snapshot, now) = self.fresh_snapshot_at(consistency, deadline).await?;
        self.decide_from(&snapshot, check, now)
    }

    /// The snapshot a request is answered from: after its consistency wait, and refused
    /// when this replica's data is older than `max_staleness`.
    pub(super) async fn fresh_snapshot(
        &self,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<Arc<engine::Snapshot>, AppError> {
        Ok(self.fresh_snapshot_at(consistency, deadline).await?.0)
    }

    /// [`App::fresh_snapshot`], and the instant its staleness was judged at.
    async fn fresh_snapshot_at(
        &self,
        consistency: Consistency,
        deadline: Option<Instant>,
    ) -> Result<(Arc<engine::Snapshot>, Instant), AppError> {
        self.await_consistency(consistency, deadline).await?;
        let now = Instant::now();
        let age = self.projector.data_age_at(now);
        if age > self.settings.max_staleness {
            return Err(AppError::Stale {
                age,
                limit: self.settings.max_staleness,
            });
        }
        Ok((self.projector.snapshot(), now))
    }

    /// Decides one check on `snapshot` with the configured engine.
    pub(super) fn decide_on(&self, snapshot: &engine::Snapshot, check: &Check) -> Result<Decision, AppError> {
        self.decide_from(snapshot, check, Instant::now())
    }

    /// [`App::decide_on`] with the engine's timer started at `started`.
    fn decide_from(&self, snapshot: &engine::Snapshot, check: &Check, started: Instant) -> Result<Decision, AppError> {
        let opts = &self.settings.engine;
        let odrl = |started| self.timed(Engine::Odrl, started, || engine::decide(&snapshot.index, check, opts));
        let casbin = |started| self.timed(Engine::Casbin, started, || engine::decide_casbin(snapshot, check, opts));
        match self.settings.engine_kind {
            EngineKind::Odrl => Ok(odrl(started)?),
            EngineKind::Casbin => Ok(casbin(started)?),
            EngineKind::Shadow => {
                let answer = odrl(started);
                // Both projections live in one snapshot, so they are at the same revision.
                let shadow = casbin(Instant::now());
                self.compare(check, &answer, &shadow, snapshot.revision());
                Ok(answer?)
            }
        }
    }

    /// Runs one engine and records its decision and its time since `started` in the
    /// metrics.
    fn timed(
        &self,
        engine: Engine,
        started: Instant,
        decide: impl FnOnce() -> Result<Decision, engine::EngineError>,
    ) -> Result<Decision, engine::EngineError> {
        let result = decide();
        if let Ok(d) = &result {
            self.decisions.record(engine, d.reason, started.elapsed());
        }
        result
    }

    fn compare(
        &self,
        check: &Check,
        odrl: &Result<Decision, engine::EngineError>,
        casbin: &Result<Decision, engine::EngineError>,
        revision: u64,
    ) {
        let same = match (odrl, casbin) {
            (Ok(a), Ok(b)) => a.allowed == b.allowed && a.reason == b.reason,
            (Err(a), Err(b)) => a == b,
            _ => false,
        };
        if same {
            self.shadow_agreements.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.shadow_disagreements.fetch_add(1, Ordering::Relaxed);
        if self.disagreement_log.tick().is_some() {
            let show = |r: &Result<Decision, engine::EngineError>| match r {
                Ok(d) => format!("{} ({})", if d.allowed { "allow" } else { "deny" }, d.reason.as_str()),
                Err(e) => format!("error: {e}"),
            };
            tracing::warn!(
                agent = %check.agent,
                account = ?check.account.as_ref().map(|a| a.as_str()),
                action = %check.action,
                target = %check.target,
                odrl = %show(odrl),
                casbin = %show(casbin),
                revision,
                "shadow engines disagree (logged at most once a second; every one is counted)"
            );
        }
    }

    async fn await_consistency(&self, c: Consistency, deadline: Option<Instant>) -> Result<(), AppError> {
        if c.at_least_revision == 0 && !c.fully_consistent {
            return Ok(());
        }
        let limit = Instant::now() + self.settings.max_wait;
        let deadline = deadline.map_or(limit, |d| d.min(limit));
        let late = |wanted: u64, applied: u64| AppError::ConsistencyTimeout { wanted, applied };
        // Everything below, the head read included, is bounded by the deadline.
        let mut target = c.at_least_revision;
        if c.fully_consistent {
            let head = tokio::time::timeout_at(deadline.into(), self.store.head())
                .await
                .map_err(|_| late(target, self.projector.applied()))?
                .inspect_err(|e| self.fault("head", e))?;
            target = target.max(head);
        }
        if self.projector.applied() >= target {
            return Ok(());
        }
        // Catching up now beats waiting for the next poll; a failure leaves the wait to time out.
        if let Ok(Err(e)) = tokio::time::timeout_at(deadline.into(), self.projector.catch_up()).await {
            tracing::warn!(error = %e, "catch-up for a consistency wait failed");
        }
        if self.projector.wait_for(target, deadline).await {
            Ok(())
        } else {
            Err(late(target, self.projector.applied()))
        }
    }

    /// Runs an admin command: its events, appended and audited in one transaction, then
    /// applied here before the reply.
    pub async fn execute(
        &self,
        cmd: &Command,
        request_id: Option<&str>,
        ctx: &CallContext,
        deadline: Option<Instant>,
    ) -> Result<Written, AppError> {
        let metadata = correlation(ctx);
        let events = cmd.to_events(request_id, &metadata)?;
        self.write(events, cmd.name(), ctx, deadline).await
    }

    /// Appends caller-supplied events (EventService.AppendEvents).
    pub async fn append(
        &self,
        events: Vec<NewEvent>,
        ctx: &CallContext,
        deadline: Option<Instant>,
    ) -> Result<Written, AppError> {
        self.append_as(events, "AppendEvents", ctx, deadline).await
    }

    /// [`App::append`] audited as `action` (an ODRL document import is `ImportOdrl`).
    pub async fn append_as(
        &self,
        mut events: Vec<NewEvent>,
        action: &str,
        ctx: &CallContext,
        deadline: Option<Instant>,
    ) -> Result<Written, AppError> {
        if events.is_empty() {
            return Err(DomainError::new("events", "must not be empty").into());
        }
        if events.len() > MAX_BATCH {
            return Err(DomainError::new(
                "events",
                format!("has {} events; the limit is {MAX_BATCH}", events.len()),
            )
            .into());
        }
        for e in &mut events {
            if !ctx.correlation_id.is_empty() {
                e.metadata
                    .entry("correlation_id".into())
                    .or_insert_with(|| ctx.correlation_id.clone());
            }
        }
        self.write(events, action, ctx, deadline).await
    }

    /// Appends and audits in one transaction, then applies the write here before the
    /// reply. A write that committed is never reported as failed: when this replica cannot
    /// apply it before the deadline (the request's, at most `max_wait`), the reply carries
    /// its revision with `visible = false`.
    async fn write(
        &self,
        events: Vec<NewEvent>,
        action: &str,
        ctx: &CallContext,
        deadline: Option<Instant>,
    ) -> Result<Written, AppError> {
        let audit = AuditRecord {
            actor: ctx.actor.clone(),
            action: action.to_string(),
            correlation_id: ctx.correlation_id.clone(),
        };
        let _writing = self.projector.writing();
        let mut outcome = self
            .store
            .append(events, Some(&audit))
            .await
            .inspect_err(|e| self.fault("append", e))?;
        crate::metrics::events_appended(outcome.appended);
        let limit = Instant::now() + self.settings.max_wait;
        let deadline = deadline.map_or(limit, |d| d.min(limit));
        // The write is applied here from what the store wrote, not read back, unless
        // another write came between (Projector::apply_written).
        let stored = std::mem::take(&mut outcome.stored);
        let applying = self.projector.apply_written(&stored);
        let visible = match tokio::time::timeout_at(deadline.into(), applying).await {
            Ok(Ok(applied)) if applied >= outcome.revision => true,
            Ok(Ok(applied)) => {
                // A broken invariant, but the write is durable: say so, never "failed".
                let e = AppError::LogShort {
                    stored: outcome.revision,
                    read_back: applied,
                };
                tracing::error!(error = %e, "write stored but the log read back short");
                false
            }
            Ok(Err(e)) => {
                self.fault("tail", &e);
                tracing::warn!(revision = outcome.revision, error = %e, "write stored but not yet applied here");
                false
            }
            Err(_) => {
                tracing::warn!(
                    revision = outcome.revision,
                    "write stored but not applied here before the deadline"
                );
                false
            }
        };
        tracing::info!(action, actor = %ctx.actor, correlation_id = %ctx.correlation_id, revision = outcome.revision, appended = outcome.appended, visible, "write stored");
        Ok(Written { outcome, visible })
    }

    pub async fn read_events(
        &self,
        after: u64,
        page_size: u32,
        aggregate: Option<&str>,
    ) -> Result<(Vec<StoredEvent>, u64), AppError> {
        let head = self.store.head().await.inspect_err(|e| self.fault("request", e))?;
        let events = self
            .store
            .read_events(after, page(page_size)?, aggregate)
            .await
            .inspect_err(|e| self.fault("request", e))?;
        Ok((events, head))
    }

    pub async fn list_edges(
        &self,
        node: &str,
        account: &str,
        global_only: bool,
        after: &[String; 4],
        size: u32,
    ) -> Result<Vec<EdgeRow>, AppError> {
        Ok(self
            .store
            .list_edges(node, account, global_only, after, page(size)?)
            .await
            .inspect_err(|e| self.fault("request", e))?)
    }

    pub async fn list_members(
        &self,
        account: &str,
        after: &[String; 2],
        size: u32,
    ) -> Result<Vec<MemberRow>, AppError> {
        Ok(self
            .store
            .list_members(account, after, page(size)?)
            .await
            .inspect_err(|e| self.fault("request", e))?)
    }

    pub async fn list_rules(
        &self,
        policy: &str,
        assignee: &str,
        after: &[String; 6],
        size: u32,
    ) -> Result<Vec<RuleRow>, AppError> {
        Ok(self
            .store
            .list_rules(policy, assignee, after, page(size)?)
            .await
            .inspect_err(|e| self.fault("request", e))?)
    }

    pub async fn list_audit(&self, after: i64, size: u32) -> Result<Vec<AuditEntry>, AppError> {
        Ok(self
            .store
            .list_audit(after, page(size)?)
            .await
            .inspect_err(|e| self.fault("request", e))?)
    }

    /// Reads the events after `after` that this replica has applied (for watches).
    pub async fn applied_events_after(&self, after: u64) -> Result<Vec<StoredEvent>, AppError> {
        let applied = self.projector.applied();
        if applied <= after {
            return Ok(vec![]);
        }
        let limit = (applied - after).min(MAX_PAGE as u64) as u32;
        Ok(self
            .store
            .read_events(after, limit, None)
            .await
            .inspect_err(|e| self.fault("request", e))?)
    }
}

fn correlation(ctx: &CallContext) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if !ctx.correlation_id.is_empty() {
        m.insert("correlation_id".to_string(), ctx.correlation_id.clone());
    }
    m
}

/// Resolves a page size: 0 means the default; over the maximum is refused.
pub fn page(size: u32) -> Result<u32, AppError> {
    match size {
        0 => Ok(DEFAULT_PAGE),
        s if s > MAX_PAGE => Err(DomainError::new("page_size", format!("is {s}; the limit is {MAX_PAGE}")).into()),
        s => Ok(s),
    }
}
