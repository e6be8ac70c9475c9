//! Storage faults as this replica sees them: each is counted where it is observed
//! (`endocarp_storage_errors_total{operation}`), and the last one is kept for
//! `endocarp status`, so an operator woken by an alert sees what failed, where and when
//! without reading the logs. Refusals of input are not faults.

use crate::store::StoreError;
use std::sync::Mutex;
use std::time::SystemTime;

/// One storage fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// `append`, `request`, `tail`, `head` or `repack` (the metric's label).
    pub operation: &'static str,
    pub message: String,
    pub at: SystemTime,
}

/// The faults seen so far: the last one is kept.
#[derive(Debug, Default)]
pub struct StorageFaults {
    last: Mutex<Option<Fault>>,
}

impl StorageFaults {
    /// Counts `e` under `operation` and keeps it as the last fault, when it is one.
    pub fn observe(&self, operation: &'static str, e: &StoreError) {
        if !e.is_fault() {
            return;
        }
        crate::metrics::storage_error(operation);
        let fault = Fault {
            operation,
            message: e.to_string(),
            at: SystemTime::now(),
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
    }

    /// The last fault, if any since start-up.
    pub fn last(&self) -> Option<Fault> {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
