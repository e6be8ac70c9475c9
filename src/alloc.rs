//! The process's allocator: mimalloc, unless `ENDOCARP_SYSTEM_ALLOCATOR` is set when the
//! process starts (then the system's, as a plain tonic server has it — `endocarp bench` runs
//! its echo floor that way). The choice is made once, at the first allocation, before
//! `main`, and never changes, so every block is freed by the allocator that made it.
//!
//! Why: a decision allocates a few dozen small blocks (the request's strings, headers, the
//! response); glibc's malloc spent ~10% of a call's CPU on them (docs/BENCHMARKS.md).
//!
//! mimalloc is called as C calls `malloc` ([`Mimalloc`]), not through the `mimalloc`
//! crate's allocator, which asks for every block with `mi_malloc_aligned`: for a size that
//! is not a power of two, mimalloc serves an aligned request, whenever the size class's
//! current page is full, by over-allocating `size + align - 1` bytes, so a block of exactly
//! a size class's size (a 192-byte node row, a 1,280-byte chunk of look-up rows) took the
//! next class up (224, 1,536 bytes): calling it as `malloc` took 19 MB (12%) off the
//! RSS of a million-rule index (docs/BENCHMARKS.md).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// The switchable allocator installed by the `endocarp` binary.
pub struct Allocator;

const UNDECIDED: u8 = 0;
const SYSTEM: u8 = 1;
const MIMALLOC: u8 = 2;

static CHOICE: AtomicU8 = AtomicU8::new(UNDECIDED);

/// The environment variable that selects the system allocator.
pub const SYSTEM_ALLOCATOR_ENV: &str = "ENDOCARP_SYSTEM_ALLOCATOR";

#[inline]
fn choice() -> u8 {
    let c = CHOICE.load(Ordering::Relaxed);
    if c != UNDECIDED {
        return c;
    }
    // SAFETY: getenv reads the environment without allocating; the name is NUL-terminated.
    let system = unsafe { !libc::getenv(c"ENDOCARP_SYSTEM_ALLOCATOR".as_ptr()).is_null() };
    let c = if system { SYSTEM } else { MIMALLOC };
    if c == MIMALLOC {
        without_huge_pages();
    }
    // The first allocation happens on the main thread before anything else runs.
    CHOICE.store(c, Ordering::Relaxed);
    c
}

/// `mi_option_allow_thp`'s place in mimalloc v3's `mi_option_t` (a test checks the linked
/// mimalloc is v3 and that the option at this place is off once [`without_huge_pages`] ran).
const MI_OPTION_ALLOW_THP: core::ffi::c_int = 43;

/// The environment variable that keeps transparent huge pages (mimalloc's own option).
pub const HUGE_PAGES_ENV: &str = "MIMALLOC_ALLOW_THP";

/// How this process (and the servers it starts, which inherit its environment) sets
/// transparent huge pages: `off`, or `MIMALLOC_ALLOW_THP=<value>` when that is set.
pub fn huge_pages_setting() -> String {
    match std::env::var(HUGE_PAGES_ENV) {
        Ok(v) => format!("{HUGE_PAGES_ENV}={v}"),
        Err(_) => "off".to_string(),
    }
}

/// Turns transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` is set
/// (then mimalloc reads it as usual: `MIMALLOC_ALLOW_THP=1` keeps them).
///
/// Why: mimalloc marks its arenas `MADV_HUGEPAGE`, so the kernel's khugepaged, scanning in
/// the background, fills every 2 MiB span that still holds one live page back into a whole
/// huge page. Memory handed back to the OS ([`release_free_memory`]: after start-up's
/// load, after a repack, when writes pause) came back within minutes of idling: a server
/// repacked after a million writes went from 126 to 201 MB RSS in ten idle minutes, with
/// no call served (docs/BENCHMARKS.md). Without huge pages the RSS stays where the release
/// left it; checks cost a few per cent more in the engine benchmark (more TLB misses on
/// the index), well under the call's noise end to end.
fn without_huge_pages() {
    // SAFETY: getenv reads the environment without allocating; the name is NUL-terminated.
    if unsafe { !libc::getenv(c"MIMALLOC_ALLOW_THP".as_ptr()).is_null() } {
        return;
    }
    // SAFETY: setting an option takes no pointers and allocates nothing; mimalloc reads
    // this one at each mapping it makes.
    unsafe { mi_option_set(MI_OPTION_ALLOW_THP, 0) };
    // mimalloc makes the same call when it initialises with the option off; it may have
    // initialised before this first allocation, and on kernels set to `always` this is
    // what keeps huge pages out.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integers only; a failure leaves huge pages on.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Which allocator this process uses (`"mimalloc"` or `"system"`).
pub fn name() -> &'static str {
    match choice() {
        SYSTEM => "system",
        _ => "mimalloc",
    }
}

// SAFETY: every call goes to one allocator, the same for the whole life of the process.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe {
            match choice() {
                SYSTEM => System.alloc(layout),
                _ => Mimalloc.alloc(layout),
            }
        }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe {
            match choice() {
                SYSTEM => System.alloc_zeroed(layout),
                _ => Mimalloc.alloc_zeroed(layout),
            }
        }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the same allocator (the choice never changes).
        unsafe {
            match choice() {
                SYSTEM => System.dealloc(ptr, layout),
                _ => Mimalloc.dealloc(ptr, layout),
            }
        }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for dealloc.
        unsafe {
            match choice() {
                SYSTEM => System.realloc(ptr, layout, new_size),
                _ => Mimalloc.realloc(ptr, layout, new_size),
            }
        }
    }
}

/// mimalloc, asked as C's `malloc` is (see the module docs) for every alignment its blocks
/// have anyway, and through the `mimalloc` crate for larger ones. Every mimalloc block is
/// aligned to a word (block sizes are whole words and pages are aligned), so an alignment
/// of at most 8 needs nothing more.
pub struct Mimalloc;

/// The alignment every mimalloc block has.
const WORD: usize = std::mem::size_of::<usize>();

// mimalloc's C functions this module calls.
unsafe extern "C" {
    fn mi_malloc(size: usize) -> *mut u8;
    fn mi_zalloc(size: usize) -> *mut u8;
    fn mi_realloc(p: *mut u8, newsize: usize) -> *mut u8;
    fn mi_free(p: *mut u8);
    /// Frees what it can of the calling thread's heap and, with `force`, returns free
    /// pages to the OS.
    fn mi_collect(force: bool);
    /// An option's value (`mi_option_t` is a C enum: an `int`).
    fn mi_option_get(option: core::ffi::c_int) -> core::ffi::c_long;
    fn mi_option_set(option: core::ffi::c_int, value: core::ffi::c_long);
    /// The linked mimalloc's version: major, then two digits each of minor and patch.
    #[cfg(test)]
    fn mi_version() -> core::ffi::c_int;
}

// SAFETY: a block with an alignment of at most a word comes from mi_malloc (word-aligned)
// and goes back through mi_free or mi_realloc, which take any mimalloc block, however it
// was asked for; larger alignments go to the `mimalloc` crate, which keeps them (its
// realloc keeps the alignment too).
unsafe impl GlobalAlloc for Mimalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: mi_malloc takes any size.
            unsafe { mi_malloc(layout.size()) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: as for alloc.
            unsafe { mi_zalloc(layout.size()) }
        } else {
            // SAFETY: as for alloc.
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` is a live mimalloc block (the caller's guarantee).
        unsafe { mi_free(ptr) }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= WORD {
            // SAFETY: `ptr` is a live mimalloc block; the new one is word-aligned, as the
            // layout asks.
            unsafe { mi_realloc(ptr, new_size) }
        } else {
            // SAFETY: forwarded with the caller's guarantees.
            unsafe { mimalloc::MiMalloc.realloc(ptr, layout, new_size) }
        }
    }
}

/// Hands the pages the allocator holds free back to the operating system. mimalloc keeps
/// freed pages for reuse; start-up frees a great deal once the index is built (the rows
/// as fetched, the load's growing rows, the name tables' build), which would otherwise
/// stay in the process's RSS — about a fifth of it at a million rows (docs/BENCHMARKS.md).
/// Called after start-up and when writes pause (`app::projector`); does nothing with the
/// system allocator.
///
/// mimalloc can only collect the calling thread's heap: a page freed from another thread
/// (a replaced index dropped by whichever thread let it go last) stays with the thread
/// that allocated it until that thread collects. So this collects here and asks every
/// other thread that runs [`collect_if_asked`] (the server's runtime workers, when they
/// next go idle: [`crate::startup::runtime`]; the thread blocked on `main`, through
/// [`collect_when_asked`]) to collect its own heap once. Without that,
/// a server repacked after 200,000 writes kept ~20 MB of free pages that a restarted one
/// does not have (docs/BENCHMARKS.md). It also trims the C library's heap, where SQLite
/// allocates (a few MB after a repack's read of the read model).
pub fn release_free_memory() {
    if choice() != MIMALLOC {
        return;
    }
    // With the system allocator the C heap is the whole process's, and trimming it holds
    // each arena's lock while it walks it: left to glibc's own trimming there.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes an integer and may be called from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
    let asked = RELEASES.fetch_add(1, Ordering::Relaxed) + 1;
    let _ = COLLECTED.try_with(|seen| seen.set(asked));
    ASKED.notify_one();
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}

/// How many times [`release_free_memory`] was called (only with mimalloc).
static RELEASES: AtomicU64 = AtomicU64::new(0);

/// Wakes [`collect_when_asked`] after a release.
static ASKED: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Collects the calling thread's heap after each release asked for on another thread:
/// for the thread that blocks on `main`'s future (it builds the index at start-up and is
/// no runtime worker, so it never parks as one). Polled there beside the program; never
/// ends.
pub async fn collect_when_asked() -> std::convert::Infallible {
    loop {
        ASKED.notified().await;
        collect_if_asked();
    }
}

thread_local! {
    /// The [`RELEASES`] count this thread last collected its heap for.
    static COLLECTED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Collects the calling thread's heap, handing its free pages back, if
/// [`release_free_memory`] was called (on any thread) since this thread last collected:
/// for threads that allocate what others free, called where they go idle (the runtime's
/// `on_thread_park`). One atomic load and a thread-local read when nothing was asked.
/// True when it collected.
#[inline]
pub fn collect_if_asked() -> bool {
    let asked = RELEASES.load(Ordering::Relaxed);
    if asked == 0 {
        return false;
    }
    COLLECTED
        .try_with(|seen| {
            if seen.get() == asked {
                return false;
            }
            seen.set(asked);
            // SAFETY: as in release_free_memory.
            unsafe { mi_collect(true) };
            true
        })
        .unwrap_or(false)
}

/// `mi_option_purge_delay`'s place in mimalloc's `mi_option_t` (the same in its v2 and v3;
/// a test checks it holds v3's default).
const MI_OPTION_PURGE_DELAY: core::ffi::c_int = 15;

/// While it lives, mimalloc hands a span of pages back to the OS the moment it is free,
/// not after its purge delay (1 s in v3, ten times that for arena memory). A bulk load's
/// end frees a great deal that nothing reuses; made before it and dropped before
/// [`release_free_memory`] (whose forced purge mimalloc skips while the delay is 0), it
/// keeps ~4% more out of the RSS of a million-row index than the forced collection alone
/// does (measured, docs/BENCHMARKS.md: the load's frees that the collection does not
/// reach). Once the last one is dropped, the delay is what it was (mimalloc's default, or
/// `MIMALLOC_PURGE_DELAY`), so while serving a span freed and soon reused is not handed
/// back and faulted in again. Several may live at once (replicas started in one process);
/// does nothing with the system allocator.
pub struct PurgeAtOnce {
    counted: bool,
}

/// How many [`PurgeAtOnce`] live, and the delay to give back when the last is dropped.
static PURGING: std::sync::Mutex<(usize, core::ffi::c_long)> = std::sync::Mutex::new((0, 0));

fn purging() -> std::sync::MutexGuard<'static, (usize, core::ffi::c_long)> {
    // The count and the delay are written together: a panic cannot leave them apart.
    PURGING.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// See [`PurgeAtOnce`].
pub fn purge_at_once() -> PurgeAtOnce {
    if choice() != MIMALLOC {
        return PurgeAtOnce { counted: false };
    }
    let mut purging = purging();
    if purging.0 == 0 {
        // SAFETY: option calls take no pointers and may be made from any thread at any time.
        purging.1 = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        // SAFETY: as above.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    purging.0 += 1;
    PurgeAtOnce { counted: true }
}

impl Drop for PurgeAtOnce {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        let mut purging = purging();
        purging.0 -= 1;
        if purging.0 == 0 {
            // SAFETY: as in `purge_at_once`.
            unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, purging.1) };
        }
    }
}

#[cfg(test)]
mod tests;
