//! The per-port limits the authentication layer enforces: requests in flight, and admin
//! writes per caller per second (a token bucket per credential name).

use crate::app::AuthError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Limits one port enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests in flight on the port.
    pub max_in_flight: usize,
    /// Write-scope calls per caller per second (also the burst).
    pub writes_per_second: u32,
}

/// The calls in flight on one port: a count bounded by the limit. A call never waits for
/// a slot (it is refused), so a compare-and-swap is all it takes, not a semaphore with
/// its waiter list and lock.
pub(super) struct InFlight {
    count: AtomicUsize,
    limit: usize,
}

/// A call's slot, given back when dropped (when its response is complete).
pub struct InFlightPermit {
    slots: Arc<InFlight>,
}

impl InFlight {
    pub(super) fn new(limit: usize) -> Arc<InFlight> {
        Arc::new(InFlight {
            count: AtomicUsize::new(0),
            limit: limit.max(1),
        })
    }

    /// A slot, or `None` when `limit` calls are already in flight.
    pub(super) fn try_acquire(self: &Arc<InFlight>) -> Option<InFlightPermit> {
        let mut now = self.count.load(Ordering::Relaxed);
        loop {
            if now >= self.limit {
                return None;
            }
            match self
                .count
                .compare_exchange_weak(now, now + 1, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Some(InFlightPermit { slots: self.clone() }),
                Err(seen) => now = seen,
            }
        }
    }
}

impl Drop for InFlightPermit {
    fn drop(&mut self) {
        self.slots.count.fetch_sub(1, Ordering::Release);
    }
}

/// A token bucket per caller.
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// One token bucket per caller for write-scope calls.
pub(super) struct WriteBuckets {
    /// Writes per second, also the burst.
    rate: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl WriteBuckets {
    pub(super) fn new(rate: u32) -> WriteBuckets {
        WriteBuckets {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one write from the caller's bucket, or refuses.
    pub(super) fn take(&self, caller: &str) -> Result<(), AuthError> {
        let rate = f64::from(self.rate.max(1));
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let b = buckets
            .entry(caller.to_string())
            .or_insert(Bucket { tokens: rate, at: now });
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens < 1.0 {
            return Err(AuthError::OverLimit(format!(
                "{caller:?} is over the limit of {} admin writes a second",
                self.rate
            )));
        }
        b.tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
