//! The projector: applies the log, in position order, to this replica's index and
//! publishes each new snapshot.
//!
//! Start-up loads the read model (not the whole log) and then tails from its position.
//! One task at a time applies (a mutex); readers take the current snapshot without locks
//! (`ArcSwap`). Waiters for a revision subscribe to a `watch` channel.

use crate::app::faults::StorageFaults;
use crate::domain::Change;
use crate::engine::Snapshot;
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, watch};

/// Events read per page while catching up.
const PAGE: u32 = 1000;
/// How soon a lost append listener is re-created.
const RELISTEN: Duration = Duration::from_secs(1);
/// Memory that writes freed is handed back to the OS once the log has been quiet this long
/// ([`Releases`]).
const QUIET: Duration = Duration::from_secs(2);
/// …and at least this often while writes keep coming.
const RELEASE_EVERY: Duration = Duration::from_secs(60);

/// When to hand memory that writes freed back to the OS. Each write publishes a new
/// snapshot and the old one's replaced parts are freed; the allocator keeps freed pages for
/// reuse, so a replica that took a million writes one by one held a tenth more than the
/// same data loaded afresh (docs/BENCHMARKS.md). Releasing costs a walk of the allocator's
/// pages, so it is done once writes pause ([`QUIET`]), or every [`RELEASE_EVERY`] under a
/// steady stream, never per write.
#[derive(Debug)]
struct Releases {
    /// The revision memory was last released at.
    released: u64,
    /// When a revision past it was first seen (none: nothing written since).
    pending_since: Option<Instant>,
    /// The applied revision last seen, and when it was first seen.
    seen: (u64, Instant),
}

impl Releases {
    fn new(revision: u64, now: Instant) -> Releases {
        Releases {
            released: revision,
            pending_since: None,
            seen: (revision, now),
        }
    }

    /// Whether to release now, with `applied` the applied revision at `now`; when true,
    /// the release is counted as done.
    fn due(&mut self, applied: u64, now: Instant) -> bool {
        if applied != self.seen.0 {
            self.seen = (applied, now);
        }
        if applied == self.released {
            return false;
        }
        let pending_since = *self.pending_since.get_or_insert(now);
        let quiet = now.saturating_duration_since(self.seen.1) >= QUIET;
        let overdue = now.saturating_duration_since(pending_since) >= RELEASE_EVERY;
        let due = quiet || overdue;
        if due {
            self.released = applied;
            self.pending_since = None;
        }
        due
    }
}

/// A repack due by count waits at most this long for writes to pause.
const REPACK_OVERDUE: Duration = Duration::from_secs(600);
/// A repack that failed is not tried again for this long.
const REPACK_RETRY: Duration = Duration::from_secs(60);

/// When to build the index again in bulk ([`Projector::repack`]): once the events applied
/// one by one since its last build reach `repack_after`, or half the rows it was built
/// with when that is more (so a repack's cost, which grows with the index, is paid once
/// per comparable amount of writing), and the log has been quiet for [`QUIET`] — or for
/// [`REPACK_OVERDUE`] after that under a steady stream of writes.
#[derive(Debug)]
struct Repacks {
    /// The applied revision last seen, and when it was first seen.
    seen: (u64, Instant),
    /// When enough had been written (none: not yet).
    pending_since: Option<Instant>,
    /// No repack starts before this (set after one failed).
    not_before: Instant,
}

impl Repacks {
    fn new(revision: u64, now: Instant) -> Repacks {
        Repacks {
            seen: (revision, now),
            pending_since: None,
            not_before: now,
        }
    }

    /// Whether to start a repack now, with `applied` the applied revision at `now`, the
    /// index last built as `built`, and `after` the setting (0: never).
    fn due(&mut self, after: u64, applied: u64, built: Built, now: Instant) -> bool {
        if applied != self.seen.0 {
            self.seen = (applied, now);
        }
        let written = applied.saturating_sub(built.revision);
        if after == 0 || written < after.max(built.rows / 2) {
            self.pending_since = None;
            return false;
        }
        let pending_since = *self.pending_since.get_or_insert(now);
        if now < self.not_before {
            return false;
        }
        let quiet = now.saturating_duration_since(self.seen.1) >= QUIET;
        let overdue = now.saturating_duration_since(pending_since) >= REPACK_OVERDUE;
        if quiet || overdue {
            self.pending_since = None;
            true
        } else {
            false
        }
    }

    /// A repack failed at `now`: the next waits [`REPACK_RETRY`].
    fn failed(&mut self, now: Instant) {
        self.not_before = now + REPACK_RETRY;
    }
}

/// Keeps this replica's index current. See the module docs.
pub struct Projector {
    store: Store,
    /// The snapshot checks read.
    current: ArcSwap<Snapshot>,
    /// The applied revision, for consistency waits and watches.
    applied: watch::Sender<u64>,
    /// Serialises catch-ups so events are applied once and in order.
    apply_lock: Mutex<()>,
    /// When this projector started: the origin of `confirmed_nanos`.
    epoch: Instant,
    /// When the log's head was last confirmed applied (nanos since `epoch`).
    confirmed_nanos: AtomicU64,
    /// Duty events seen that name no duty (every `Policy.DutyImposed`, and a
    /// `Policy.DutyDischarged` of another shape): stored and ignored.
    ignored_duties: AtomicU64,
    /// A hash chain over (position, id) of every event applied since start-up from
    /// `digest_from`: replicas that applied the same sequence have the same digest.
    digest: AtomicU64,
    /// The revision the chain starts after (the read model's revision at start-up).
    digest_from: u64,
    /// Storage faults seen by this replica (tailing here, requests in the app).
    faults: StorageFaults,
    /// How the start-up load went.
    load: LoadStats,
    /// Whether snapshots keep the Casbin engine's rows (and along the action hierarchy),
    /// for the index's rebuilds.
    casbin_hierarchy: Option<bool>,
    /// Events applied one by one after which the index is built again in bulk (0: never).
    repack_after: u64,
    /// The index's last build in bulk (start-up or a repack).
    built: parking_lot::Mutex<Built>,
    /// Repacks published since start-up.
    repacks: AtomicU64,
}

/// An index's build in bulk: the revision it was built at and the rows (rules and
/// assignments) it then held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    pub revision: u64,
    pub rows: u64,
}

/// The rows `snapshot` holds, as a repack's threshold counts them: rules and assignments.
fn rows(snapshot: &Snapshot) -> u64 {
    let s = snapshot.index.stats();
    (s.rules + s.global_edges + s.account_edges + s.memberships) as u64
}

/// What a repack did ([`Projector::repack`]).
#[derive(Debug, Clone, Copy)]
pub struct Repacked {
    /// The revision published (the one the replaced snapshot had).
    pub revision: u64,
    /// The read model's revision the index was built at; events after it were applied
    /// one by one.
    pub built_at: u64,
    /// The rows the rebuilt index holds.
    pub rows: u64,
    /// The read model's fetch and the build in bulk.
    pub load: LoadStats,
    /// From the start to the new snapshot's publication.
    pub took: Duration,
}

/// An index built again in bulk, not yet published ([`Projector::rebuild`]).
pub struct Rebuilt {
    next: Snapshot,
    built_at: u64,
    load: LoadStats,
    started: Instant,
}

impl Rebuilt {
    /// The revision the rebuilt index has reached.
    pub fn revision(&self) -> u64 {
        self.next.revision()
    }
}

/// The change a stored event makes, checked to be at `expected`: the log has no gaps.
fn change_at(event: &crate::domain::StoredEvent, expected: u64) -> Result<Change, StoreError> {
    if event.position != expected {
        return Err(StoreError::Corrupt(format!(
            "the log skips from position {} to {}",
            expected - 1,
            event.position
        )));
    }
    event
        .change()
        .map_err(|e| StoreError::Corrupt(format!("event {} at position {}: {e}", event.id, event.position)))
}

/// A snapshot built in bulk from the read model, at the read model's revision, and how the
/// load went: start-up's and every repack's.
async fn build(store: &Store, casbin_hierarchy: Option<bool>) -> Result<(Snapshot, LoadStats), StoreError> {
    let mut index = Snapshot::new(casbin_hierarchy);
    // Start-up is the read model's fetch plus the index build: time the build apart.
    // Two clock reads a row would cost ~57 ns (0.11 s at 2M rows on the benchmark
    // machine): one row in SAMPLE is timed, and the rows' build time is that sample
    // scaled (rows come in the read model's order, so a regular sample spans every kind).
    const SAMPLE: u32 = 16;
    let started = Instant::now();
    let (mut rows, mut sampled) = (0u32, Duration::ZERO);
    index.begin_bulk();
    let revision = store
        .load_read_model(|c| {
            if rows.is_multiple_of(SAMPLE) {
                let t = Instant::now();
                index.apply(&c);
                sampled += t.elapsed();
            } else {
                index.apply(&c);
            }
            rows = rows.wrapping_add(1);
        })
        .await?;
    let t = Instant::now();
    // What the load's end frees (the rows as loaded, the build's scratch) goes back to
    // the OS at once (`alloc::PurgeAtOnce`): ~4% of a million-row index's RSS. Not
    // during the rows' load: purging every span its growth frees made start-up at 2M
    // rows ~12% slower (docs/BENCHMARKS.md).
    let purge = crate::alloc::purge_at_once();
    index.end_bulk();
    // The delay back before `release_free_memory` (the caller's): with it at 0,
    // mimalloc's forced purge skips what was scheduled before.
    drop(purge);
    let finish = t.elapsed();
    let total = started.elapsed();
    let build = (sampled * SAMPLE + finish).min(total);
    let load = LoadStats {
        revision,
        fetch: total.saturating_sub(build),
        build,
    };
    tracing::info!(
        revision,
        fetch_ms = load.fetch.as_millis() as u64,
        build_ms = load.build.as_millis() as u64,
        finish_ms = finish.as_millis() as u64,
        "read model loaded"
    );
    index.set_revision(revision);
    Ok((index, load))
}

/// The start-up load: the read model's revision, and the time spent fetching its rows
/// and building the index from them (the rows' part of the build estimated from one row in
/// sixteen, the rest of the load counted as fetch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoadStats {
    pub revision: u64,
    #[serde(with = "millis")]
    pub fetch: Duration,
    #[serde(with = "millis")]
    pub build: Duration,
}

/// Durations as whole milliseconds in the ready file.
mod millis {
    use std::time::Duration;
    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = <u64 as serde::Deserialize>::deserialize(d)?;
        Ok(Duration::from_millis(ms))
    }
}

/// One link of the applied-sequence hash chain (FNV-1a over the position and the id).
pub fn chain_digest(prev: u64, position: u64, id: &str) -> u64 {
    let mut h = prev ^ 0xcbf2_9ce4_8422_2325;
    for b in position.to_le_bytes().iter().chain(id.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Projector {
    /// Loads the read model into a first snapshot and catches up with the log. With
    /// `casbin_hierarchy`, the snapshot also keeps the Casbin engine's rows. Once
    /// `repack_after` events (or half the rows the index was built with, if more) have been
    /// applied one by one, the poller builds the index again in bulk ([`Projector::repack`]);
    /// 0: never.
    pub async fn start(
        store: Store,
        casbin_hierarchy: Option<bool>,
        repack_after: u64,
    ) -> Result<Arc<Projector>, StoreError> {
        let (index, load) = build(&store, casbin_hierarchy).await?;
        let revision = load.revision;
        let built_rows = rows(&index);
        let (applied, _) = watch::channel(revision);
        let projector = Arc::new(Projector {
            store,
            current: ArcSwap::from_pointee(index),
            applied,
            apply_lock: Mutex::new(()),
            epoch: Instant::now(),
            confirmed_nanos: AtomicU64::new(0),
            ignored_duties: AtomicU64::new(0),
            digest: AtomicU64::new(0),
            digest_from: revision,
            faults: StorageFaults::default(),
            load,
            casbin_hierarchy,
            repack_after,
            built: parking_lot::Mutex::new(Built {
                revision,
                rows: built_rows,
            }),
            repacks: AtomicU64::new(0),
        });
        projector.catch_up().await?;
        // What the load allocated and freed is not needed again.
        crate::alloc::release_free_memory();
        Ok(projector)
    }

    /// The snapshot checks read now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The revision the current snapshot has applied.
    pub fn applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// A receiver that sees every new applied revision.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// How old this replica's data is: the time since it last confirmed the log's head.
    pub fn data_age(&self) -> Duration {
        self.data_age_at(Instant::now())
    }

    /// [`Projector::data_age`] as of `now` (a clock read the caller makes anyway).
    pub fn data_age_at(&self, now: Instant) -> Duration {
        let confirmed = Duration::from_nanos(self.confirmed_nanos.load(Ordering::Acquire));
        now.saturating_duration_since(self.epoch).saturating_sub(confirmed)
    }

    /// The applied-sequence digest and the revision it starts after.
    pub fn digest(&self) -> (u64, u64) {
        (self.digest.load(Ordering::Acquire), self.digest_from)
    }

    /// How the start-up load went.
    pub fn load_stats(&self) -> LoadStats {
        self.load
    }

    /// The storage faults this replica has seen.
    pub fn faults(&self) -> &StorageFaults {
        &self.faults
    }

    pub fn ignored_duties(&self) -> u64 {
        self.ignored_duties.load(Ordering::Relaxed)
    }

    /// Applies every stored event after the applied revision, publishing a snapshot per
    /// page, and records that the head was confirmed. Returns the applied revision.
    pub async fn catch_up(&self) -> Result<u64, StoreError> {
        let _guard = self.apply_lock.lock().await;
        self.catch_up_locked().await
    }

    /// [`Projector::catch_up`] with the apply lock held.
    async fn catch_up_locked(&self) -> Result<u64, StoreError> {
        loop {
            let started = self.epoch.elapsed();
            let applied = self.applied();
            let events = self.store.read_events(applied, PAGE, None).await?;
            if events.is_empty() {
                self.install_summaries();
                self.confirmed_nanos
                    .fetch_max(started.as_nanos() as u64, Ordering::AcqRel);
                return Ok(applied);
            }
            let mut next = Snapshot::clone(&self.current.load());
            let mut expected = applied;
            let mut digest = self.digest.load(Ordering::Acquire);
            for event in &events {
                expected += 1;
                let change = change_at(event, expected)?;
                if let Change::Ignored { duty: true } = change {
                    self.ignored_duties.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(event_id = %event.id, event_type = %event.triple.event_type, "a duty event that names no duty (Policy.DutyDischarged needs predicate odrl:duty and the duty's uid as object); stored and ignored");
                }
                next.apply(&change);
                digest = chain_digest(digest, event.position, &event.id);
            }
            next.set_revision(expected);
            // Role summaries a write dropped are rebuilt in the background from here on.
            next.refresh_summaries();
            self.current.store(Arc::new(next));
            self.digest.store(digest, Ordering::Release);
            self.applied.send_replace(expected);
            if events.len() < PAGE as usize {
                self.confirmed_nanos
                    .fetch_max(started.as_nanos() as u64, Ordering::AcqRel);
                return Ok(expected);
            }
        }
    }

    /// Publishes the current snapshot again, at the same revision, with the role summaries
    /// a background build finished for it (checks then read them instead of walking every
    /// role; the answers are the same). Called with the apply lock held.
    fn install_summaries(&self) {
        let current = self.current.load();
        if current.index.summaries_ready() {
            let mut next = Snapshot::clone(&current);
            if next.refresh_summaries() {
                self.current.store(Arc::new(next));
            }
        }
    }

    /// Applies the log's events after `next`'s revision up to `to` to `next`, as
    /// [`Projector::catch_up`] applies them to the current snapshot, without publishing.
    async fn replay_onto(&self, next: &mut Snapshot, to: u64) -> Result<(), StoreError> {
        while next.revision() < to {
            let at = next.revision();
            let events = self
                .store
                .read_events(at, (to - at).min(u64::from(PAGE)) as u32, None)
                .await?;
            if events.is_empty() {
                return Err(StoreError::Corrupt(format!(
                    "the log ends at position {at}, before {to}"
                )));
            }
            let mut expected = at;
            for event in &events {
                expected += 1;
                next.apply(&change_at(event, expected)?);
            }
            next.set_revision(expected);
        }
        Ok(())
    }

    /// The index's last build in bulk.
    pub fn built(&self) -> Built {
        *self.built.lock()
    }

    /// Repacks published since start-up.
    pub fn repacks(&self) -> u64 {
        self.repacks.load(Ordering::Relaxed)
    }

    /// Builds the index again in bulk from the read model, as start-up does, and publishes
    /// it in place of the current one: the same facts at the same revision, so every answer
    /// is the same, from an index laid out as a load lays it out. An index written event by
    /// event answers more slowly and holds more memory than the same facts loaded
    /// (docs/BENCHMARKS.md); the poller repacks once enough has been written
    /// ([`Projector::start`]'s `repack_after`) and writes pause.
    ///
    /// The read model is fetched and the index built on a thread of its own at a lowered
    /// priority while checks and writes go on; the events applied meanwhile are then
    /// applied to the new index too, the last of them under the apply lock, so no write is
    /// left out, and only then is it published. Until the replaced snapshot's last reader
    /// lets it go (a look-up's later pages may keep it up to `lookup_page_ttl`), both are in
    /// memory. A rebuilt index whose counts of rules, edges, memberships and roles differ
    /// from the current one's at the same revision is not published (an error: the read
    /// model and the log disagree, which `endocarp verify` reports in full).
    pub async fn repack(&self) -> Result<Repacked, StoreError> {
        let rebuilt = self.rebuild().await?;
        self.publish(rebuilt).await
    }

    /// A repack's first half: the index built in bulk from the read model (on a thread of
    /// its own), with the events this replica applied meanwhile applied to it too. No lock
    /// is held; nothing is published.
    pub async fn rebuild(&self) -> Result<Rebuilt, StoreError> {
        let started = Instant::now();
        let (mut next, load) = self.build_apart().await?;
        let built_at = next.revision();
        self.replay_onto(&mut next, self.applied()).await?;
        Ok(Rebuilt {
            next,
            built_at,
            load,
            started,
        })
    }

    /// A repack's second half: with writes held, `rebuilt` is brought to this replica's
    /// revision (or this replica to the rebuilt one's, when the read model was ahead of it)
    /// and published in place of the current snapshot.
    pub async fn publish(&self, rebuilt: Rebuilt) -> Result<Repacked, StoreError> {
        let Rebuilt {
            mut next,
            built_at,
            load,
            started,
        } = rebuilt;
        let _guard = self.apply_lock.lock().await;
        // The read model is written with the log and a replica applies after the commit,
        // so it may be ahead of this replica: catch this replica up first.
        if self.applied() < next.revision() {
            self.catch_up_locked().await?;
        }
        self.replay_onto(&mut next, self.applied()).await?;
        let current = self.current.load_full();
        if next.revision() != current.revision() || next.index.stats() != current.index.stats() {
            return Err(StoreError::Corrupt(format!(
                "the index rebuilt from the read model at revision {built_at} does not hold what this replica's holds at revision {} ({:?} against {:?}); kept the current index (run `endocarp verify`)",
                current.revision(),
                next.index.stats(),
                current.index.stats()
            )));
        }
        // Role summaries the writes after the build dropped are rebuilt in the background.
        next.refresh_summaries();
        let rows = rows(&next);
        let revision = next.revision();
        self.current.store(Arc::new(next));
        *self.built.lock() = Built {
            revision: built_at,
            rows,
        };
        self.repacks.fetch_add(1, Ordering::Relaxed);
        Ok(Repacked {
            revision,
            built_at,
            rows,
            load,
            took: started.elapsed(),
        })
    }

    /// [`build`] on a thread of its own with a lowered priority (checks and writes keep
    /// the runtime's threads), driven by this runtime's I/O; here when no thread starts.
    async fn build_apart(&self) -> Result<(Snapshot, LoadStats), StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (store, casbin, runtime) = (
            self.store.clone(),
            self.casbin_hierarchy,
            tokio::runtime::Handle::current(),
        );
        let spawned = std::thread::Builder::new()
            .name("endocarp-repack".into())
            .spawn(move || {
                crate::engine::lower_this_threads_priority();
                let _ = tx.send(runtime.block_on(build(&store, casbin)));
            });
        match spawned {
            Ok(_) => rx
                .await
                .map_err(|_| StoreError::Unavailable("the repack's build thread ended with nothing built".into()))?,
            Err(_) => build(&self.store, self.casbin_hierarchy).await,
        }
    }

    /// [`Projector::repack`] as the poller runs it: logged, counted as a storage fault when
    /// it fails, and the replaced index's memory handed back to the OS. True when it
    /// published.
    async fn repack_logged(self: Arc<Self>) -> bool {
        let before = self.built();
        match self.repack().await {
            Ok(r) => {
                // Readers finishing with the replaced snapshot let it go within moments.
                tokio::time::sleep(Duration::from_millis(100)).await;
                crate::alloc::release_free_memory();
                tracing::info!(
                    revision = r.revision,
                    rows = r.rows,
                    written_since_last_build = r.revision.saturating_sub(before.revision),
                    fetch_ms = r.load.fetch.as_millis() as u64,
                    build_ms = r.load.build.as_millis() as u64,
                    took_ms = r.took.as_millis() as u64,
                    "index repacked: built again in bulk from the read model"
                );
                true
            }
            Err(e) => {
                self.faults.observe("repack", &e);
                tracing::warn!(error = %e, "cannot repack the index; the current one goes on serving, next try in a minute");
                false
            }
        }
    }

    /// Waits until `revision` is applied or `deadline` passes (false then).
    pub async fn wait_for(&self, revision: u64, deadline: Instant) -> bool {
        let mut rx = self.subscribe();
        let wait = rx.wait_for(|applied| *applied >= revision);
        matches!(tokio::time::timeout_at(deadline.into(), wait).await, Ok(Ok(_)))
    }

    /// Tails the log until `stop` fires: woken by the store's notifications (PostgreSQL
    /// `LISTEN`), with a poll every `interval` as the floor (and on SQLite the only way to see
    /// other processes' writes). A lost listener is re-created on the next round, and every
    /// wake catches up from the applied position, so a lost notification costs at most one
    /// poll interval. Failures are logged once per outage; the staleness gate does the rest.
    pub async fn run_poller(self: Arc<Self>, interval: Duration, stop: tokio_util::sync::CancellationToken) {
        let mut failing = false;
        let mut releases = Releases::new(self.applied(), Instant::now());
        let mut repacks = Repacks::new(self.applied(), Instant::now());
        let mut repacking: Option<tokio::task::JoinHandle<bool>> = None;
        let mut listener: Option<crate::store::LogListener> = None;
        let mut listening = self.store.backend() == crate::store::Backend::Postgres;
        loop {
            let mut just_listening = false;
            if listener.is_none() && listening {
                match self.store.listener().await {
                    Ok(l) => {
                        listening = l.is_some();
                        just_listening = l.is_some();
                        listener = l;
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot listen for appends yet; polling"),
                }
            }
            if just_listening {
                // Catch up at once: appends made while no one listened sent no wake-up.
                if stop.is_cancelled() {
                    return;
                }
            } else {
                // Without a listener that should be there, retry it soon, not a poll later.
                let wait = if listening && listener.is_none() {
                    interval.min(RELISTEN)
                } else {
                    interval
                };
                let notified = async {
                    match listener.as_mut() {
                        Some(l) => l.next().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                    woke = notified => {
                        if let Err(e) = woke {
                            tracing::warn!(error = %e, "the append listener failed; reconnecting, polling meanwhile");
                            listener = None;
                        }
                    }
                }
            }
            match self.catch_up().await {
                Ok(_) if failing => {
                    failing = false;
                    tracing::info!("the log is readable again");
                }
                Ok(_) => {}
                Err(e) if !failing => {
                    self.faults.observe("tail", &e);
                    failing = true;
                    tracing::error!(error = %e, "cannot tail the log; checks fail once the data is older than max_staleness");
                }
                Err(e) => self.faults.observe("tail", &e),
            }
            if let Some(done) = repacking.take_if(|r| r.is_finished())
                && !done.await.unwrap_or(false)
            {
                repacks.failed(Instant::now());
            }
            if repacking.is_none() && repacks.due(self.repack_after, self.applied(), self.built(), Instant::now()) {
                repacking = Some(tokio::spawn(self.clone().repack_logged()));
            }
            if releases.due(self.applied(), Instant::now()) {
                let started = Instant::now();
                crate::alloc::release_free_memory();
                tracing::debug!(
                    revision = self.applied(),
                    took_us = started.elapsed().as_micros() as u64,
                    "memory freed by writes returned to the OS"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Built, QUIET, RELEASE_EVERY, REPACK_OVERDUE, REPACK_RETRY, Releases, Repacks};
    use std::time::{Duration, Instant};

    #[test]
    fn a_repack_is_due_once_enough_was_written_one_by_one_and_writes_pause() {
        let t0 = Instant::now();
        let at = |d: Duration| t0 + d;
        // Built at revision 100 with 1,000 rows: due after max(100, 1,000 / 2) = 500 writes.
        let built = Built {
            revision: 100,
            rows: 1_000,
        };
        let mut r = Repacks::new(100, t0);
        assert!(!r.due(100, 599, built, at(QUIET * 3)), "499 written, however quiet");
        assert!(!r.due(100, 599, built, at(QUIET * 9)));
        assert!(!r.due(100, 600, built, at(QUIET * 9)), "enough, but a write just came");
        assert!(r.due(100, 600, built, at(QUIET * 10)), "enough, and quiet");
        // The setting's own floor when the index was built small.
        let small = Built { revision: 0, rows: 10 };
        let mut r = Repacks::new(0, t0);
        assert!(!r.due(100, 99, small, at(QUIET * 5)));
        assert!(!r.due(100, 100, small, at(QUIET * 5)));
        assert!(r.due(100, 100, small, at(QUIET * 6)));
        // 0: never.
        let mut r = Repacks::new(0, t0);
        assert!(!r.due(0, 10_000_000, small, at(REPACK_OVERDUE * 3)));
    }

    #[test]
    fn a_steady_stream_of_writes_repacks_once_overdue_and_a_failed_repack_waits() {
        let t0 = Instant::now();
        let built = Built { revision: 0, rows: 0 };
        let mut r = Repacks::new(0, t0);
        let step = QUIET / 4;
        let (mut now, mut revision) = (Duration::ZERO, 0u64);
        let mut first = None;
        while first.is_none() && now < REPACK_OVERDUE * 2 {
            now += step;
            revision += 10;
            if r.due(100, revision, built, t0 + now) {
                first = Some(now);
            }
        }
        // Due by count from the tenth step (100 written); due to run after REPACK_OVERDUE more.
        assert_eq!(first, Some(step * 10 + REPACK_OVERDUE));
        // A failure: not again before REPACK_RETRY, however quiet and however much written.
        let failed_at = t0 + now;
        r.failed(failed_at);
        assert!(!r.due(100, revision, built, failed_at + QUIET * 2));
        assert!(!r.due(
            100,
            revision,
            built,
            failed_at + REPACK_RETRY - Duration::from_millis(1)
        ));
        assert!(r.due(100, revision, built, failed_at + REPACK_RETRY));
    }

    #[test]
    fn memory_is_released_once_writes_pause_and_not_while_nothing_was_written() {
        let t0 = Instant::now();
        let at = |d: Duration| t0 + d;
        let mut r = Releases::new(10, t0);
        // Nothing written: never due, however long.
        assert!(!r.due(10, at(RELEASE_EVERY * 2)));
        // Writes keep coming: not due until the log is quiet.
        let mut now = RELEASE_EVERY * 2;
        for revision in 11..20 {
            now += Duration::from_millis(500);
            assert!(!r.due(revision, at(now)), "revision {revision}");
        }
        // Quiet long enough: due once, then not again for the same revision.
        now += QUIET;
        assert!(r.due(19, at(now)));
        assert!(!r.due(19, at(now + QUIET * 10)));
    }

    #[test]
    fn a_steady_stream_of_writes_releases_every_so_often() {
        let t0 = Instant::now();
        let mut r = Releases::new(0, t0);
        let step = QUIET / 4;
        let mut releases = 0;
        let mut now = Duration::ZERO;
        let mut revision = 0;
        while now < RELEASE_EVERY * 3 + step * 4 {
            now += step;
            revision += 1;
            releases += u32::from(r.due(revision, t0 + now));
        }
        assert_eq!(releases, 3);
    }
}
