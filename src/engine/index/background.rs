//! Derived data built on a low-priority thread of its own while writes go on: the name
//! tables' folds ([`super::names`]) and the role summaries ([`super::summary`]).
//!
//! A [`Background`] is shared by every copy of the index that was cloned while it ran; the
//! first write (or finisher) that finds it built takes the result. A thread that panics
//! marks itself ended with nothing built, so the owner can tell a slow build from a dead
//! one and do the work itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::thread::JoinHandle;

/// One build in progress (or done).
pub(crate) struct Background<T> {
    built: OnceLock<T>,
    /// Set when the thread ends, after `built` (a thread that panicked built nothing).
    ended: AtomicBool,
    /// The thread, for [`Background::finish`] to join (whichever copy comes first).
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What became of the build an owner keeps in a slot ([`Background::poll`]).
pub(crate) enum Polled<T> {
    /// No build in the slot.
    Idle,
    /// Still running.
    Running,
    /// Built; the slot is now empty.
    Built(T),
    /// Its thread ended with nothing built (it panicked); the owner must do the work
    /// itself. The slot keeps it until then.
    Failed,
}

/// Marks a build ended when its thread finishes or unwinds.
struct Ending<T>(Arc<Background<T>>);

impl<T> Drop for Ending<T> {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Release);
    }
}

impl<T: Send + Sync + 'static> Background<T> {
    /// Starts `work` on a thread named `name` with a lowered priority; None when no thread
    /// can be started (the caller then does the work itself).
    pub(crate) fn start(name: &str, work: impl FnOnce() -> T + Send + 'static) -> Option<Arc<Background<T>>> {
        let job = Arc::new(Background {
            built: OnceLock::new(),
            ended: AtomicBool::new(false),
            thread: Mutex::new(None),
        });
        let ending = Ending(job.clone());
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                lower_this_threads_priority();
                let _ = ending.0.built.set(work());
                drop(ending);
            })
            .ok()?;
        *job.thread.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
        Some(job)
    }

    /// What became of the build in `slot`, taking its result (a clone: other copies of
    /// the index may share the build) and emptying the slot once it is built.
    pub(crate) fn poll(slot: &mut Option<Arc<Background<T>>>) -> Polled<T>
    where
        T: Clone,
    {
        let Some(job) = slot else {
            return Polled::Idle;
        };
        if let Some(built) = job.built() {
            let built = built.clone();
            *slot = None;
            Polled::Built(built)
        } else if job.failed() {
            Polled::Failed
        } else {
            Polled::Running
        }
    }

    /// What the thread built, once it has.
    pub(crate) fn built(&self) -> Option<&T> {
        self.built.get()
    }

    /// True when the thread ended without building anything (it panicked).
    pub(crate) fn failed(&self) -> bool {
        self.ended.load(Ordering::Acquire) && self.built.get().is_none()
    }

    /// Waits for the thread to end (tests and benchmarks).
    pub(crate) fn finish(&self) {
        let thread = self.thread.lock().unwrap_or_else(PoisonError::into_inner).take();
        match thread {
            // A thread that panicked built nothing: the owner sees `failed`.
            Some(thread) => {
                let _ = thread.join();
            }
            // Another copy of the index is joining it.
            None => {
                while !self.ended.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
            }
        }
    }
}

/// Gives the calling thread the nice value 10, so that a build sharing a core with checks
/// and writes gets a small share of it while they have work (Linux: the nice value is a
/// thread's own). Elsewhere, and when the call fails, the thread keeps its priority.
pub(crate) fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority and gettid take plain integers and touch no memory of ours.
    unsafe {
        let _ = libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10);
    }
}
