//! The process's allocator: mimalloc, unless `ENDOCARP_SYSTEM_ALLOCATOR` is set when the
//! process starts (then the system's, as a plain tonic server has it — `endocarp bench` runs
//! its echo floor that way). The choice is made once, at the first allocation, before
//! `main`, and never changes, so every block is freed by the allocator that made it.
//!
//! Why: a decision allocates a few dozen small blocks (the request's strings, headers, the
//! response); glibc's malloc spent ~10% of a call's CPU on them (docs/BENCHMARKS.md).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering};

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
    // The first allocation happens on the main thread before anything else runs.
    CHOICE.store(c, Ordering::Relaxed);
    c
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
                _ => mimalloc::MiMalloc.alloc(layout),
            }
        }
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe {
            match choice() {
                SYSTEM => System.alloc_zeroed(layout),
                _ => mimalloc::MiMalloc.alloc_zeroed(layout),
            }
        }
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the same allocator (the choice never changes).
        unsafe {
            match choice() {
                SYSTEM => System.dealloc(ptr, layout),
                _ => mimalloc::MiMalloc.dealloc(ptr, layout),
            }
        }
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for dealloc.
        unsafe {
            match choice() {
                SYSTEM => System.realloc(ptr, layout, new_size),
                _ => mimalloc::MiMalloc.realloc(ptr, layout, new_size),
            }
        }
    }
}

/// Hands the pages the allocator holds free back to the operating system. mimalloc keeps
/// freed pages for reuse; start-up frees a great deal once the index is built (the rows
/// as fetched, the load's growing rows, the name tables' build), which would otherwise
/// stay in the process's RSS — about a fifth of it at a million rows (docs/BENCHMARKS.md).
/// Called after start-up and when writes pause (`app::projector`); does nothing with the
/// system allocator.
pub fn release_free_memory() {
    if choice() != MIMALLOC {
        return;
    }
    unsafe extern "C" {
        /// mimalloc's own: frees what it can of the calling thread's heap and, with
        /// `force`, returns free pages to the OS.
        fn mi_collect(force: bool);
    }
    // SAFETY: mi_collect takes no pointers and may be called from any thread at any time.
    unsafe { mi_collect(true) }
}
