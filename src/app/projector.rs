//! The projector: applies the log, in position order, to this replica's index and
//! publishes each new snapshot.
//!
//! Start-up loads the read model (not the whole log) and then tails from its position.
//! One task at a time applies (a mutex); readers take the current snapshot without locks
//! (`ArcSwap`). Waiters for a revision subscribe to a `watch` channel.

use crate::app::faults::StorageFaults;
use crate::domain::{Change, StoredEvent};
use crate::engine::Snapshot;
use crate::store::{Store, StoreError};
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, Notify, watch};

mod repack;
use repack::Repacks;
pub use repack::{Built, Rebuilt, Repacked};

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
    /// Writes this replica has under way ([`Projector::writing`]), and a wake-up when one ends.
    writing: AtomicUsize,
    wrote: Notify,
}

/// A write under way on this replica ([`Projector::writing`]); dropped when it ends.
pub struct Writing<'p>(&'p Projector);

impl Drop for Writing<'_> {
    fn drop(&mut self) {
        if self.0.writing.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.wrote.notify_waiters();
        }
    }
}

/// The rows `snapshot` holds, as a repack's threshold counts them: rules and assignments.
fn rows(snapshot: &Snapshot) -> u64 {
    let s = snapshot.index.stats();
    (s.rules + s.global_edges + s.account_edges + s.memberships) as u64
}

/// The change a stored event makes, checked to be at `expected`: the log has no gaps.
fn change_at(event: &StoredEvent, expected: u64) -> Result<Change, StoreError> {
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
            writing: AtomicUsize::new(0),
            wrote: Notify::new(),
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
            let expected = self.apply_page(applied, &events)?;
            if events.len() < PAGE as usize {
                self.confirmed_nanos
                    .fetch_max(started.as_nanos() as u64, Ordering::AcqRel);
                return Ok(expected);
            }
        }
    }

    /// Applies `events`, the log's next stretch after `applied` (the applied revision, read
    /// with the apply lock held), and publishes the snapshot they make. Returns the revision
    /// applied. Nothing is published when one of them is not the next position or cannot be
    /// interpreted.
    fn apply_page(&self, applied: u64, events: &[StoredEvent]) -> Result<u64, StoreError> {
        let mut next = Snapshot::clone(&self.current.load());
        let mut expected = applied;
        let mut digest = self.digest.load(Ordering::Acquire);
        for event in events {
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
        Ok(expected)
    }

    /// Applies a write this replica just committed, from the events as the store wrote
    /// them ([`crate::store::AppendOutcome::stored`]) instead of reading them back, when
    /// they are the log's next stretch after the applied revision: the same events, in the
    /// same order, as [`Projector::catch_up`] would read. When another write came between
    /// (from this replica or another), catches up from the store instead. Returns the
    /// applied revision.
    pub async fn apply_written(&self, stored: &[StoredEvent]) -> Result<u64, StoreError> {
        let _guard = self.apply_lock.lock().await;
        let applied = self.applied();
        match (stored.first(), stored.last()) {
            (_, Some(last)) if applied >= last.position => Ok(applied),
            (Some(first), _) if first.position == applied + 1 => self.apply_page(applied, stored),
            _ => self.catch_up_locked().await,
        }
    }

    /// Marks a write under way on this replica until the guard is dropped: from before its
    /// append to after [`Projector::apply_written`]. While one is, the poller does not
    /// answer the store's notification of it by reading the write back.
    pub fn writing(&self) -> Writing<'_> {
        self.writing.fetch_add(1, Ordering::AcqRel);
        Writing(self)
    }

    /// Returns once no write is under way on this replica, or after `at_most`, or when
    /// `stop` fires.
    async fn own_writes_done(&self, at_most: Duration, stop: &tokio_util::sync::CancellationToken) {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            let ended = self.wrote.notified();
            tokio::pin!(ended);
            // Registered before the count is read, so an end between the two is not missed.
            ended.as_mut().enable();
            if self.writing.load(Ordering::Acquire) == 0 {
                return;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(deadline) => return,
                _ = &mut ended => {}
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
        let mut repacks = Repacks::new(self.applied(), Instant::now(), repack::jitter());
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
                    break;
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
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                    woke = notified => {
                        if let Err(e) = woke {
                            tracing::warn!(error = %e, "the append listener failed; reconnecting, polling meanwhile");
                            listener = None;
                        } else {
                            // Most likely this replica's own write: its writer applies it
                            // from memory, so reading it back now would be wasted. Catch up
                            // once the replica's writes end (another's write is then read),
                            // and at the latest a poll interval later.
                            self.own_writes_done(interval, &stop).await;
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
                repacking = Some(tokio::spawn(self.clone().repack_logged(stop.clone())));
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
        // A repack under way sees `stop` too; its build thread ends before the store closes.
        if let Some(repacking) = repacking {
            let _ = repacking.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{QUIET, RELEASE_EVERY, Releases};
    use std::time::{Duration, Instant};

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
