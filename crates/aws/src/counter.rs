//! Counts AWS API calls by service and operation, so every run can say what it cost.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A shared, cloneable call counter. Cloning shares the counts.
#[derive(Clone, Debug, Default)]
pub struct CallCounter {
    inner: Arc<Mutex<BTreeMap<String, u64>>>,
}

impl CallCounter {
    /// Record one call of `service:Operation` (e.g. `iam`, `GetAccountAuthorizationDetails`).
    pub fn count(&self, service: &str, operation: &str) {
        let mut map = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *map.entry(format!("{service}:{operation}")).or_insert(0) += 1;
    }

    /// Counts so far, keyed `service:Operation`.
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    /// Total calls so far.
    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    /// Forget every count (between invocations of a warm Lambda).
    pub fn reset(&self) {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}
