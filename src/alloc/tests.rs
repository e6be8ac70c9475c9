//! The allocator's own tests: huge pages off unless asked for, the purge delay given back
//! by the last `PurgeAtOnce`, alignments kept through realloc, blocks of a size class, and
//! a release reaching the heaps of threads other than the releasing one (workers when they
//! park, the thread blocked on `main` through `collect_when_asked`).

use super::*;

unsafe extern "C" {
    fn mi_usable_size(p: *const u8) -> usize;
}

#[test]
fn huge_pages_are_off_unless_asked_for() {
    // SAFETY: reading the version takes no pointers.
    let version = unsafe { mi_version() };
    assert!(
        (30000..40000).contains(&version),
        "the option indices here are v3's: {version}"
    );
    // SAFETY: reading an option takes no pointers.
    let allow_thp = || unsafe { mi_option_get(MI_OPTION_ALLOW_THP) };
    if std::env::var_os(HUGE_PAGES_ENV).is_some() {
        return;
    }
    without_huge_pages();
    assert_eq!(allow_thp(), 0);
    #[cfg(target_os = "linux")]
    // SAFETY: PR_GET_THP_DISABLE takes integers only.
    assert_eq!(unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) }, 1);
}

#[test]
fn purge_at_once_sets_the_purge_delay_to_zero_and_the_last_one_gives_the_old_one_back() {
    // SAFETY: reading an option takes no pointers.
    let get = || unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
    let before = get();
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // mimalloc v3's default purge delay (1 s): the option at this place is that one.
        assert_eq!(before, 1000);
    }
    let purge = purge_at_once();
    assert_eq!(get(), 0);
    // Two at once (replicas starting together): the delay comes back with the last.
    let second = purge_at_once();
    drop(purge);
    assert_eq!(get(), 0);
    let third = purge_at_once();
    drop(second);
    assert_eq!(get(), 0);
    drop(third);
    assert_eq!(get(), before);
}

#[test]
fn every_alignment_is_kept_through_realloc_and_the_contents_with_it() {
    let aligned = |p: *mut u8, align: usize| !p.is_null() && (p as usize).is_multiple_of(align);
    for align in [1usize, 2, 4, 8, 16, 32, 64, 4096] {
        for size in [1usize, 7, 8, 24, 40, 192, 1000, 1280, 5000, 70_000] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let (bigger, smaller) = (size * 3, size.div_ceil(3));
            // SAFETY: non-zero sizes; every block is used within its size and freed
            // once, with the layout it has then.
            unsafe {
                let p = Mimalloc.alloc(layout);
                assert!(aligned(p, align), "{size} aligned {align}");
                for i in 0..size {
                    p.add(i).write(i as u8);
                }
                let p = Mimalloc.realloc(p, layout, bigger);
                assert!(aligned(p, align), "{size} → {bigger} aligned {align}");
                assert!((0..size).all(|i| p.add(i).read() == i as u8), "{size} → {bigger}");
                let p = Mimalloc.realloc(p, Layout::from_size_align(bigger, align).unwrap(), smaller);
                assert!(aligned(p, align), "{bigger} → {smaller} aligned {align}");
                assert!((0..smaller).all(|i| p.add(i).read() == i as u8), "→ {smaller}");
                Mimalloc.dealloc(p, Layout::from_size_align(smaller, align).unwrap());
                let z = Mimalloc.alloc_zeroed(layout);
                assert!(aligned(z, align), "zeroed {size} aligned {align}");
                assert!((0..size).all(|i| z.add(i).read() == 0), "zeroed {size}");
                Mimalloc.dealloc(z, layout);
            }
        }
    }
}

/// The waste the module docs describe: blocks of exactly a size class's size, asked
/// for with a word's alignment or less, take that class, also once its pages fill.
#[test]
fn a_block_of_a_size_class_takes_that_class() {
    for (size, align) in [(192usize, 8usize), (1280, 4), (1280, 8), (224, 8), (48, 8)] {
        let layout = Layout::from_size_align(size, align).unwrap();
        // Enough blocks to fill several pages of the class.
        let blocks: Vec<*mut u8> = (0..5_000)
            // SAFETY: a non-zero size.
            .map(|_| unsafe { Mimalloc.alloc(layout) })
            .collect();
        for &p in &blocks {
            // SAFETY: p is a live mimalloc block.
            assert_eq!(unsafe { mi_usable_size(p) }, size, "{size} bytes aligned {align}");
        }
        for p in blocks {
            // SAFETY: freed once, with its layout.
            unsafe { Mimalloc.dealloc(p, layout) }
        }
    }
}

#[test]
fn a_release_asks_every_other_thread_to_collect_its_heap_once() {
    if choice() != MIMALLOC {
        return;
    }
    release_free_memory();
    // The releasing thread collected already.
    let asked = RELEASES.load(Ordering::Relaxed);
    assert!(!collect_if_asked() || RELEASES.load(Ordering::Relaxed) != asked);
    std::thread::spawn(|| {
        // A thread that has not collected since the release does, once.
        assert!(collect_if_asked());
        let asked = RELEASES.load(Ordering::Relaxed);
        // Not again until the next release (another test may release meanwhile).
        assert!(!collect_if_asked() || RELEASES.load(Ordering::Relaxed) != asked);
        release_free_memory();
        let asked = RELEASES.load(Ordering::Relaxed);
        assert!(!collect_if_asked() || RELEASES.load(Ordering::Relaxed) != asked);
    })
    .join()
    .unwrap();
}

#[test]
fn the_runtimes_workers_collect_their_heaps_when_they_next_go_idle_after_a_release() {
    if choice() != MIMALLOC {
        return;
    }
    let runtime = crate::startup::runtime().unwrap();
    release_free_memory();
    let asked = RELEASES.load(Ordering::Relaxed);
    // Idle workers wake for work (in a server: its timers and calls) and collect when they
    // park again: a task run on a worker after that sees the release collected there.
    for _ in 0..500 {
        let seen = runtime.block_on(async {
            let woken: Vec<_> = (0..8)
                .map(|_| tokio::spawn(async { COLLECTED.with(std::cell::Cell::get) }))
                .collect();
            let mut seen = Vec::new();
            for task in woken {
                seen.push(task.await.unwrap());
            }
            seen
        });
        if seen.iter().any(|&s| s >= asked) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("no worker collected its heap after a release");
}

#[test]
fn a_thread_running_collect_when_asked_collects_after_a_release_on_another_thread() {
    if choice() != MIMALLOC {
        return;
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = done.clone();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            tokio::select! {
                never = collect_when_asked() => match never {},
                () = async {
                    // Nothing on this thread collects but `collect_when_asked`.
                    while COLLECTED.with(std::cell::Cell::get) == 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                } => flag.store(true, Ordering::Relaxed),
            }
        });
    });
    for _ in 0..500 {
        release_free_memory();
        std::thread::sleep(std::time::Duration::from_millis(10));
        if done.load(Ordering::Relaxed) {
            thread.join().unwrap();
            return;
        }
    }
    panic!("the thread did not collect after a release");
}
