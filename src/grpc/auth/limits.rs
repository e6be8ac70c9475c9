//! The per-port limits the authentication layer enforces: requests in flight, and admin
//! writes per caller per second (a token bucket per credential name).

use crate::app::AuthError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Limits one port enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests in flight on the port.
    pub max_in_flight: usize,
    /// Write-scope calls per caller per second (also the burst).
    pub writes_per_second: u32,
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
