//! Service-last-accessed data: one asynchronous IAM job per principal
//! (GenerateServiceLastAccessedDetails, then GetServiceLastAccessedDetails until it is done).
//!
//! At most [`MAX_IN_FLIGHT`] jobs run at a time. The first principal is tried alone, so an
//! endpoint that does not support the API (or denies it) costs one failed call, not one per
//! worker. The first failure stops the whole source: a partial map would let the rules pass
//! principals that were never looked at.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use aws_sdk_iam::types::JobStatusType;
use iam_assurance_rules::inventory::ServiceAccess;

use crate::convert::opt_datetime;
use crate::credentials::next_marker;
use crate::deadline::{Backoff, Deadline};
use crate::error::AwsFailure;

/// Jobs in flight at once, at most.
pub(crate) const MAX_IN_FLIGHT: usize = 4;

type Results = BTreeMap<String, Vec<ServiceAccess>>;

struct Shared {
    queue: Mutex<VecDeque<String>>,
    results: Mutex<Results>,
    failure: Mutex<Option<String>>,
}

impl Shared {
    fn next(&self) -> Option<String> {
        if self.failed() {
            return None;
        }
        lock(&self.queue).pop_front()
    }

    fn failed(&self) -> bool {
        lock(&self.failure).is_some()
    }

    fn fail(&self, reason: String) {
        let mut failure = lock(&self.failure);
        if failure.is_none() {
            *failure = Some(reason);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Run one job per principal ARN. `Err` is the gap reason.
pub(crate) async fn fetch(iam: &aws_sdk_iam::Client, principals: Vec<String>, deadline: Deadline) -> Result<Results, String> {
    let total = principals.len();
    let shared = Shared { queue: Mutex::new(principals.into()), results: Mutex::new(BTreeMap::new()), failure: Mutex::new(None) };

    // Probe with the first principal alone.
    worker(iam, &shared, deadline, true).await;
    if !shared.failed() {
        // MAX_IN_FLIGHT workers.
        const _: () = assert!(MAX_IN_FLIGHT == 4);
        tokio::join!(
            worker(iam, &shared, deadline, false),
            worker(iam, &shared, deadline, false),
            worker(iam, &shared, deadline, false),
            worker(iam, &shared, deadline, false),
        );
    }

    if let Some(reason) = lock(&shared.failure).take() {
        return Err(reason);
    }
    let results = std::mem::take(&mut *lock(&shared.results));
    if results.len() < total {
        return Err(format!("the time budget ran out after {} of {total} principals' service-last-accessed jobs", results.len()));
    }
    Ok(results)
}

async fn worker(iam: &aws_sdk_iam::Client, shared: &Shared, deadline: Deadline, only_one: bool) {
    while let Some(arn) = shared.next() {
        if deadline.passed() {
            return;
        }
        match job(iam, &arn, deadline).await {
            Ok(Some(services)) => {
                lock(&shared.results).insert(arn, services);
            }
            Ok(None) => {
                // Out of time for this one: the caller reports the shortfall.
                return;
            }
            Err(reason) => {
                shared.fail(reason);
                return;
            }
        }
        if only_one {
            return;
        }
    }
}

/// One principal's job. `Ok(None)`: the deadline came first.
async fn job(iam: &aws_sdk_iam::Client, arn: &str, deadline: Deadline) -> Result<Option<Vec<ServiceAccess>>, String> {
    let job_id = match iam.generate_service_last_accessed_details().arn(arn).send().await {
        Ok(out) => match out.job_id().filter(|id| !id.is_empty()) {
            Some(id) => id.to_owned(),
            None => return Err(format!("GenerateServiceLastAccessedDetails returned no JobId for {arn}")),
        },
        Err(err) => {
            let failure = AwsFailure::from_sdk(&err);
            if failure.is("NoSuchEntity") {
                // Deleted since the inventory was read: nothing to report for it.
                return Ok(Some(Vec::new()));
            }
            return Err(format!("{} (for {arn})", failure.reason("GenerateServiceLastAccessedDetails")));
        }
    };

    let mut backoff = Backoff::new();
    let mut services = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match iam.get_service_last_accessed_details().job_id(&job_id).set_marker(marker.clone()).send().await {
            Ok(out) => out,
            Err(err) => {
                let failure = AwsFailure::from_sdk(&err);
                if failure.is_throttling() {
                    if !deadline.sleep(backoff.next_delay()).await {
                        return Ok(None);
                    }
                    continue;
                }
                return Err(format!("{} (for {arn})", failure.reason("GetServiceLastAccessedDetails")));
            }
        };
        match out.job_status() {
            JobStatusType::Completed => {}
            JobStatusType::Failed => {
                let detail = out.error().map(|e| format!("{}: {}", e.code(), e.message())).unwrap_or_else(|| "no error details".to_owned());
                return Err(format!("the service-last-accessed job for {arn} failed: {detail}"));
            }
            _ => {
                // IN_PROGRESS (or a status this code does not know): wait and ask again.
                if !deadline.sleep(backoff.next_delay()).await {
                    return Ok(None);
                }
                continue;
            }
        }
        for s in out.services_last_accessed() {
            services.push(ServiceAccess {
                service_namespace: s.service_namespace().to_owned(),
                service_name: s.service_name().to_owned(),
                last_authenticated: opt_datetime(s.last_authenticated()),
            });
        }
        match next_marker(out.is_truncated(), out.marker(), "GetServiceLastAccessedDetails")? {
            Some(next) => marker = Some(next),
            None => return Ok(Some(services)),
        }
    }
}
