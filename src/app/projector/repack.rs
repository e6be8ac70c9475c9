//! Repacks: the index built again in bulk from the read model once enough was written
//! event by event and writes pause, brought to the replica's revision and published in
//! place of the written one ([`Projector::repack`]; README "The index after many writes").

use super::{LoadStats, PAGE, Projector, QUIET, build, change_at, rows};
use crate::engine::Snapshot;
use crate::store::StoreError;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A repack due by count waits at most this long for writes to pause.
const REPACK_OVERDUE: Duration = Duration::from_secs(600);
/// A repack that failed is not tried again for this long.
const REPACK_RETRY: Duration = Duration::from_secs(60);
/// A replica's repack waits for writes to pause up to this much longer than [`QUIET`].
const REPACK_JITTER: Duration = Duration::from_secs(8);

/// A random wait under [`REPACK_JITTER`] (none when the system has no randomness to give).
pub(super) fn jitter() -> Duration {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 4];
    match ring::rand::SystemRandom::new().fill(&mut bytes) {
        Ok(()) => REPACK_JITTER.mul_f64(f64::from(u32::from_le_bytes(bytes)) / (f64::from(u32::MAX) + 1.0)),
        Err(_) => Duration::ZERO,
    }
}

/// When to build the index again in bulk ([`Projector::repack`]): once the events applied
/// one by one since its last build reach `repack_after`, or half the rows it was built
/// with when that is more (so a repack's cost, which grows with the index, is paid once
/// per comparable amount of writing), and the log has been quiet for [`QUIET`] and this
/// replica's `jitter` — or for [`REPACK_OVERDUE`] after that under a steady stream of
/// writes. Replicas apply the same writes and see the same pause; the jitter (random per
/// replica, under [`REPACK_JITTER`]) keeps them from all reading the read model and
/// spending a core on the build in the same second.
#[derive(Debug)]
pub(super) struct Repacks {
    /// How much longer than [`QUIET`] this replica waits.
    jitter: Duration,
    /// The applied revision last seen, and when it was first seen.
    seen: (u64, Instant),
    /// When enough had been written (none: not yet).
    pending_since: Option<Instant>,
    /// No repack starts before this (set after one failed).
    not_before: Instant,
}

impl Repacks {
    pub(super) fn new(revision: u64, now: Instant, jitter: Duration) -> Repacks {
        Repacks {
            jitter,
            seen: (revision, now),
            pending_since: None,
            not_before: now,
        }
    }

    /// Whether to start a repack now, with `applied` the applied revision at `now`, the
    /// index last built as `built`, and `after` the setting (0: never).
    pub(super) fn due(&mut self, after: u64, applied: u64, built: Built, now: Instant) -> bool {
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
        let quiet = now.saturating_duration_since(self.seen.1) >= QUIET + self.jitter;
        let overdue = now.saturating_duration_since(pending_since) >= REPACK_OVERDUE;
        if quiet || overdue {
            self.pending_since = None;
            true
        } else {
            false
        }
    }

    /// A repack failed at `now`: the next waits [`REPACK_RETRY`].
    pub(super) fn failed(&mut self, now: Instant) {
        self.not_before = now + REPACK_RETRY;
    }
}

/// An index's build in bulk: the revision it was built at and the rows (rules and
/// assignments) it then held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Built {
    pub revision: u64,
    pub rows: u64,
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

impl Projector {
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
    /// event costs more CPU a check than the same facts loaded (docs/BENCHMARKS.md); the
    /// poller repacks once enough has been written ([`Projector::start`]'s `repack_after`)
    /// and writes pause.
    ///
    /// The read model is fetched and the index built on a thread of its own at a lowered
    /// priority while checks and writes go on; the events applied meanwhile are then
    /// applied to the new index too, the last of them under the apply lock, so no write is
    /// left out, and only then is it published. Until the replaced snapshot's last reader
    /// lets it go (a look-up's later pages may keep it up to `lookup_page_ttl`), both are in
    /// memory. A rebuilt index whose counts of rules, edges, memberships and roles differ
    /// from the current one's at the same revision is not published (an error: the read
    /// model and the log disagree, which `endocarp verify` reports in full).
    ///
    /// Once `stop` fires the build gives up, its thread ends, and nothing is published
    /// (`None`): shutdown does not wait for a build nor leave one running against a closed
    /// store.
    pub async fn repack(&self, stop: &CancellationToken) -> Result<Option<Repacked>, StoreError> {
        match self.rebuild(stop).await? {
            Some(rebuilt) if !stop.is_cancelled() => self.publish(rebuilt).await.map(Some),
            _ => Ok(None),
        }
    }

    /// A repack's first half: the index built in bulk from the read model (on a thread of
    /// its own), with the events this replica applied meanwhile applied to it too. No lock
    /// is held; nothing is published. `None` when `stop` fired first.
    pub async fn rebuild(&self, stop: &CancellationToken) -> Result<Option<Rebuilt>, StoreError> {
        let started = Instant::now();
        let Some((mut next, load)) = self.build_apart(stop).await? else {
            return Ok(None);
        };
        let built_at = next.revision();
        self.replay_onto(&mut next, self.applied()).await?;
        Ok(Some(Rebuilt {
            next,
            built_at,
            load,
            started,
        }))
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
    /// `None` once `stop` fires: the build is dropped where it stands and the thread has
    /// ended (or is about to, with nothing left to do) when this returns.
    async fn build_apart(&self, stop: &CancellationToken) -> Result<Option<(Snapshot, LoadStats)>, StoreError> {
        let until_stopped = |store: crate::store::Store, casbin: Option<bool>, stop: CancellationToken| async move {
            tokio::select! {
                biased;
                _ = stop.cancelled() => None,
                built = build(&store, casbin) => Some(built),
            }
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (store, casbin, runtime, thread_stop) = (
            self.store.clone(),
            self.casbin_hierarchy,
            tokio::runtime::Handle::current(),
            stop.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("endocarp-repack".into())
            .spawn(move || {
                crate::engine::lower_this_threads_priority();
                let _ = tx.send(runtime.block_on(until_stopped(store, casbin, thread_stop)));
            });
        let built = match spawned {
            Ok(_) => rx
                .await
                .map_err(|_| StoreError::Unavailable("the repack's build thread ended with nothing built".into()))?,
            Err(_) => until_stopped(self.store.clone(), self.casbin_hierarchy, stop.clone()).await,
        };
        built.transpose()
    }

    /// [`Projector::repack`] as the poller runs it: logged, counted as a storage fault when
    /// it fails, and the replaced index's memory handed back to the OS. False when it
    /// failed (tried again after [`REPACK_RETRY`]); a repack stopped by `stop` is neither.
    pub(super) async fn repack_logged(self: Arc<Self>, stop: CancellationToken) -> bool {
        let before = self.built();
        match self.repack(&stop).await {
            Ok(None) => {
                tracing::debug!("repack stopped by shutdown; nothing published");
                true
            }
            Ok(Some(r)) => {
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
}

#[cfg(test)]
mod tests {
    use super::{Built, QUIET, REPACK_JITTER, REPACK_OVERDUE, REPACK_RETRY, Repacks, jitter};
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
        let mut r = Repacks::new(100, t0, Duration::ZERO);
        assert!(!r.due(100, 599, built, at(QUIET * 3)), "499 written, however quiet");
        assert!(!r.due(100, 599, built, at(QUIET * 9)));
        assert!(!r.due(100, 600, built, at(QUIET * 9)), "enough, but a write just came");
        assert!(r.due(100, 600, built, at(QUIET * 10)), "enough, and quiet");
        // The setting's own floor when the index was built small.
        let small = Built { revision: 0, rows: 10 };
        let mut r = Repacks::new(0, t0, Duration::ZERO);
        assert!(!r.due(100, 99, small, at(QUIET * 5)));
        assert!(!r.due(100, 100, small, at(QUIET * 5)));
        assert!(r.due(100, 100, small, at(QUIET * 6)));
        // 0: never.
        let mut r = Repacks::new(0, t0, Duration::ZERO);
        assert!(!r.due(0, 10_000_000, small, at(REPACK_OVERDUE * 3)));
    }

    #[test]
    fn a_replica_waits_its_jitter_longer_and_jitters_differ() {
        let t0 = Instant::now();
        let built = Built { revision: 0, rows: 0 };
        let wait = Duration::from_millis(1500);
        let mut r = Repacks::new(100, t0, wait);
        assert!(!r.due(100, 100, built, t0 + QUIET + wait - Duration::from_millis(1)));
        assert!(r.due(100, 100, built, t0 + QUIET + wait));
        let drawn: Vec<Duration> = (0..16).map(|_| jitter()).collect();
        assert!(drawn.iter().all(|j| *j < REPACK_JITTER), "{drawn:?}");
        assert!(drawn.iter().any(|j| *j != drawn[0]), "{drawn:?}");
    }

    #[test]
    fn a_steady_stream_of_writes_repacks_once_overdue_and_a_failed_repack_waits() {
        let t0 = Instant::now();
        let built = Built { revision: 0, rows: 0 };
        let mut r = Repacks::new(0, t0, Duration::ZERO);
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
}
