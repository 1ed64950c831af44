//! Counts AWS API calls by service and operation, so every run can say what it cost.
//!
//! Counting is done by [`CountingInterceptor`], which [`crate::Clients`] installs on every
//! SDK client: it records one call per HTTP request actually sent (each page, each retry
//! attempt of the SDK's retry strategy), keyed by the IAM action prefix of the service and the
//! operation name (`iam:GetAccountAuthorizationDetails`, `sns:PublishBatch`). Code that uses
//! the clients therefore never counts by hand.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;

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

/// An SDK interceptor that counts every HTTP request a client sends into a [`CallCounter`].
///
/// It runs just before transmission, so a request is counted once per attempt: each page of a
/// paginated call and each retry the SDK makes are separate calls, as AWS (and its rate
/// limits) see them. The service part of the key is the SDK's service name in lower case
/// (`IAM` → `iam`, `DynamoDB` → `dynamodb`), which is also the IAM action prefix.
#[derive(Clone, Debug)]
pub struct CountingInterceptor {
    counter: CallCounter,
}

impl CountingInterceptor {
    pub fn new(counter: CallCounter) -> Self {
        CountingInterceptor { counter }
    }
}

impl Intercept for CountingInterceptor {
    fn name(&self) -> &'static str {
        "CountingInterceptor"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        match cfg.load::<Metadata>() {
            Some(metadata) => self.counter.count(&metadata.service().to_ascii_lowercase(), metadata.name()),
            None => self.counter.count("unknown", "Unknown"),
        }
        Ok(())
    }
}
