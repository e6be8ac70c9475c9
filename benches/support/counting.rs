//! The counting allocator the benchmark binaries share: bytes allocated and freed, so a
//! bench reads what one operation allocates and how much heap is live. It forwards to the
//! server's allocator (`endocarp::alloc::Allocator`: mimalloc, called as the server calls
//! it), so what a check or a load costs here is what it costs in the server (glibc's
//! malloc, on a heap fragmented by loading a large index, took thousands of instructions
//! for one mid-sized block).

use endocarp::alloc::Allocator as Inner;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Forwards to the server's allocator and counts.
pub struct Counting;

pub static ALLOCATED: AtomicU64 = AtomicU64::new(0);
pub static FREED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Bytes this thread has allocated (constant-initialised and without a destructor,
    /// so the allocator may touch it: with native thread-locals, as on Linux, reaching it
    /// never allocates; a target whose thread-locals are boxed on first use would recurse
    /// into the allocator here).
    static HERE: Cell<u64> = const { Cell::new(0) };
}

/// Counts `bytes` for this thread (not at all while its thread-locals are torn down).
fn count_here(bytes: usize) {
    let _ = HERE.try_with(|h| h.set(h.get() + bytes as u64));
}

// SAFETY: forwards to the server's allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        count_here(layout.size());
        // SAFETY: the caller's contract is the inner allocator's.
        unsafe { Inner.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { Inner.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(new_size.saturating_sub(layout.size()) as u64, Ordering::Relaxed);
        count_here(new_size.saturating_sub(layout.size()));
        FREED.fetch_add(layout.size().saturating_sub(new_size) as u64, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { Inner.realloc(ptr, layout, new_size) }
    }
}

/// Bytes allocated so far.
#[allow(dead_code)]
pub fn allocated() -> u64 {
    ALLOCATED.load(Ordering::Relaxed)
}

/// Bytes this thread has allocated so far (a background thread's allocations apart).
#[allow(dead_code)]
pub fn allocated_here() -> u64 {
    HERE.with(Cell::get)
}

/// Heap bytes live now.
pub fn live_bytes() -> u64 {
    ALLOCATED.load(Ordering::Relaxed) - FREED.load(Ordering::Relaxed)
}
