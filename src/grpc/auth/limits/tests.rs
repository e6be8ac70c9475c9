//! The limits' own tests: in-flight slots are bounded and given back.

use super::*;

#[test]
fn in_flight_slots_are_bounded_and_given_back() {
    let slots = InFlight::new(2);
    let a = slots.try_acquire().expect("first");
    let b = slots.try_acquire().expect("second");
    assert!(slots.try_acquire().is_none(), "over the limit");
    drop(a);
    let c = slots.try_acquire().expect("a slot was given back");
    assert!(slots.try_acquire().is_none());
    drop((b, c));
    assert_eq!(slots.count.load(Ordering::Relaxed), 0);
    // Threads racing for the slots never hold more than the limit.
    let slots = InFlight::new(3);
    let most = Arc::new(AtomicUsize::new(0));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20_000 {
                    if let Some(p) = slots.try_acquire() {
                        let held = slots.count.load(Ordering::Relaxed);
                        most.fetch_max(held, Ordering::Relaxed);
                        drop(p);
                    }
                }
            });
        }
    });
    assert!(most.load(Ordering::Relaxed) <= 3);
    assert_eq!(slots.count.load(Ordering::Relaxed), 0);
}
