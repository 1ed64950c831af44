//! The Security Hub export of the live path (opt-in: `SECURITY_HUB_EXPORT=true`, the template's
//! `SecurityHubExport` parameter): what changed is imported with `BatchImportFindings`, driven
//! by the same finding state that drives SNS, riding on the same conditional writes.
//!
//! **What Security Hub holds** is kept in each state item (`exported`): a token of the record
//! last imported (`open:<severity>:<message hash>`, `suppressed:...`, `resolved`, `closed`).
//! A run imports a finding when what Security Hub should hold differs from that token: new,
//! suppressed, back from an exception, resolved, closed (its rule disabled), or its text or
//! severity changed. An unchanged finding is never imported again; a resolved finding that
//! Security Hub never held is not imported at all.
//!
//! **On the claim protocol.** For each part of a plan ([`prepare`]): every state write the
//! planner made (claims and updates) whose finding is due carries the new token, and a finding
//! due with no other write gets one (the item with the new token, conditional on the version
//! read). Then ([`Owed`]), after the part's claims, its SNS messages and its updates: only the
//! findings whose write this run won are owed (a write another run won is that run's to
//! import); they are imported 100 a request as they fill one, the rest at the end of the run
//! (after the resolutions, before the digest), so a run makes one request per 100 changed
//! findings. Throttled requests are retried by the SDK and findings Security Hub reports as
//! failed are sent again. What still fails has its token put back (a conditional write of the
//! item as written, with the token it had before), and the invocation fails (`ExportFailed`)
//! once its other work is done: the retry, or the next run, imports exactly those again. A run
//! that fails for another reason imports what it owes first.
//! A claim released because SNS failed puts back the whole prior item, token included, so its
//! finding is imported by the run that publishes it. SNS messages never wait on Security Hub,
//! and an import failure never sends an SNS message twice.
//!
//! Like a claim whose run stops before it publishes (Lambda's timeout), a run that stops
//! between writing a token and importing leaves that finding marked as imported until its
//! state changes again: the same window as SNS's, documented in docs/securityhub.md.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use iam_assurance_aws::securityhub::{self as hub, AsffFinding};
use iam_assurance_aws::state::{Expect, ItemStatus, StateItem, StateStore, StateWrite, WriteOutcome};
use iam_assurance_aws::Clients;
use iam_assurance_rules::report::{text_hash, Finding};

use super::asff::{self, Record, Target};
pub use super::options::{ExportStats, Setting, SETTING};
use crate::alerts::{self, finding_from_item, Observation, Plan};
use crate::run::config::{Config, RunError};

/// The export of one run.
#[derive(Debug, Clone)]
pub struct Exporter {
    target: Target,
}

impl Exporter {
    /// The export into the product of `region`, at `now`.
    pub fn new(region: impl Into<String>, now: DateTime<Utc>) -> Self {
        Exporter { target: Target { region: region.into(), now } }
    }

    /// The export for a run that publishes, or `None` when it is off. On, it needs the finding
    /// state (what Security Hub holds is kept there) and a region (the product's).
    pub fn for_run(clients: &Clients, config: &Config, now: DateTime<Utc>) -> Result<Option<Exporter>, RunError> {
        match &config.security_hub {
            Setting::Off => Ok(None),
            Setting::Invalid(value) => Err(RunError::Export(format!("{SETTING} is {value:?}: set it to true or false"))),
            Setting::On => {
                if config.state_table.is_none() {
                    return Err(RunError::Export(format!(
                        "{SETTING}=true needs the finding state (STATE_TABLE): it keeps what Security Hub holds"
                    )));
                }
                let region = clients.securityhub.config().region().map(|r| r.to_string()).ok_or_else(|| {
                    RunError::Export("no AWS region is configured: the Security Hub product lives in one (set AWS_REGION)".into())
                })?;
                Ok(Some(Exporter::new(region, now)))
            }
        }
    }

    /// The stats a run starts with.
    pub fn stats(&self) -> ExportStats {
        ExportStats { region: self.target.region.clone(), ..ExportStats::default() }
    }

    /// Whether a sweep must read this item whole (with its stored finding): a resolved finding
    /// whose import failed before, imported again by this run.
    pub fn needs_whole(&self, item: &StateItem) -> bool {
        item.status == ItemStatus::Resolved && item.exported.as_deref().is_some_and(|e| !is_closed(e))
    }
}

fn is_closed(token: &str) -> bool {
    token == RESOLVED || token == CLOSED
}

const RESOLVED: &str = "resolved";
const CLOSED: &str = "closed";

/// What Security Hub should hold for an item as written, as the token kept in `exported`;
/// `None`: nothing (a resolved finding it never held).
pub fn token(item: &StateItem, rule_disabled: bool) -> Option<String> {
    let hash = item.message_hash.as_deref().unwrap_or("");
    match item.status {
        ItemStatus::Open => Some(format!("open:{}:{hash}", item.severity)),
        ItemStatus::Suppressed => Some(format!("suppressed:{}:{hash}", item.severity)),
        ItemStatus::Resolved => match item.exported.as_deref() {
            None => None,
            Some(held) if is_closed(held) => Some(held.to_string()),
            Some(_) => Some(if rule_disabled { CLOSED } else { RESOLVED }.to_string()),
        },
    }
}

fn record_of(token: &str) -> Record {
    match token.split(':').next() {
        Some("open") => Record::Open,
        Some("suppressed") => Record::Suppressed,
        Some(CLOSED) => Record::Closed,
        _ => Record::Resolved,
    }
}

fn record_name(record: Record) -> &'static str {
    match record {
        Record::Open => "open",
        Record::Suppressed => "suppressed",
        Record::Resolved => RESOLVED,
        Record::Closed => CLOSED,
    }
}

/// An import a part of the plan owes, once its write is won.
#[derive(Debug, Clone)]
pub struct Due {
    pub fingerprint: String,
    pub finding: AsffFinding,
    pub record: Record,
    /// The item as the plan writes it (with the new token).
    written: StateItem,
    /// The token it had before (put back if the import fails).
    before: Option<String>,
}

/// Mark the writes of a plan part whose finding is due an import with the new token, add a
/// write for each finding due without one, and return the imports owed. `part`: the run's
/// findings this part plans (`None`: the resolutions, over the prior items the run no longer
/// sees). Without an exporter, nothing changes.
pub fn prepare<'a>(
    exporter: Option<&Exporter>,
    obs: &Observation<'a>,
    part: Option<&'a [Finding]>,
    prior: &BTreeMap<String, StateItem>,
    plan: &mut Plan<'a>,
) -> Vec<Due> {
    let Some(exporter) = exporter else { return Vec::new() };
    let target = &exporter.target;
    let by_fingerprint: BTreeMap<&str, &Finding> = part.unwrap_or_default().iter().map(|f| (f.fingerprint.as_str(), f)).collect();
    let mut dues = Vec::new();
    let mut written: BTreeSet<String> = BTreeSet::new();
    for claim in &mut plan.claims {
        written.insert(claim.claim.fingerprint.clone());
        dues.extend(mark(&mut claim.claim, Some(&claim.notice.finding), obs, target));
    }
    for update in &mut plan.updates {
        written.insert(update.fingerprint.clone());
        let finding = by_fingerprint.get(update.fingerprint.as_str()).copied();
        dues.extend(mark(update, finding, obs, target));
    }

    // Findings due with no write of the planner's: a write of their own.
    let mut extra: Vec<StateWrite> = Vec::new();
    match part {
        Some(findings) => {
            for f in findings {
                if !written.insert(f.fingerprint.clone()) {
                    continue;
                }
                let p = prior.get(&f.fingerprint);
                // The item as it stands, with this run's finding (a sweep reads items without it).
                let item = match p {
                    Some(p) => {
                        let mut item = p.clone();
                        item.finding = Some(alerts::stored_json(f));
                        item.message_hash = Some(text_hash(&f.message));
                        item.severity = f.severity;
                        item.last_seen = obs.now;
                        item.version = p.version + 1;
                        item
                    }
                    // A finding the planner keeps no item for (suppressed when first seen).
                    None => alerts::fresh(f, None, obs.now),
                };
                let wanted = token(&item, obs.disabled.contains(&item.rule_id));
                if wanted.is_none() || wanted == item.exported {
                    continue;
                }
                extra.push(StateWrite {
                    fingerprint: f.fingerprint.clone(),
                    expect: p.map_or(Expect::Absent, |p| Expect::Version(p.version)),
                    put: Some(item),
                });
            }
        }
        None => {
            // Resolved findings whose import failed before: imported again.
            for p in prior.values() {
                if written.contains(&p.fingerprint) || !exporter.needs_whole(p) || obs.present.contains(&p.fingerprint) {
                    continue;
                }
                let mut item = p.clone();
                item.version = p.version + 1;
                extra.push(StateWrite { fingerprint: p.fingerprint.clone(), expect: Expect::Version(p.version), put: Some(item) });
            }
        }
    }
    for mut write in extra {
        let finding = by_fingerprint.get(write.fingerprint.as_str()).copied();
        dues.extend(mark(&mut write, finding, obs, target));
        plan.updates.push(write);
    }
    dues
}

/// If the write's finding is due an import, give the written item the new token and return
/// the import. `finding`: the run's (or the notice's) finding; `None`: the stored one.
fn mark(write: &mut StateWrite, finding: Option<&Finding>, obs: &Observation<'_>, target: &Target) -> Option<Due> {
    let item = write.put.as_mut()?;
    let wanted = token(item, obs.disabled.contains(&item.rule_id));
    if wanted.is_none() || wanted == item.exported {
        return None;
    }
    let before = std::mem::replace(&mut item.exported, wanted.clone());
    let record = record_of(wanted.as_deref().unwrap_or(RESOLVED));
    let stored;
    let finding = match finding {
        Some(f) => f,
        None => {
            stored = finding_from_item(item);
            &stored
        }
    };
    Some(Due {
        fingerprint: item.fingerprint.clone(),
        finding: asff::finding(finding, record, item.first_seen, target),
        record,
        written: item.clone(),
        before,
    })
}

/// Import dues whose write this run won, then put back the token of each finding that could
/// not be imported. `Err` names what failed: the run fails with it (after its other work), and
/// the next run imports those findings again.
pub async fn import(clients: &Clients, store: &StateStore, dues: Vec<Due>, stats: &mut ExportStats) -> Result<(), String> {
    if dues.is_empty() {
        return Ok(());
    }
    let findings: Vec<AsffFinding> = dues.iter().map(|d| d.finding.clone()).collect();
    let outcome = Box::pin(hub::import(clients, &findings)).await;
    stats.requests += outcome.requests;
    stats.retried += outcome.retried;
    for due in dues.iter().filter(|d| !outcome.failed.contains_key(&d.fingerprint)) {
        *stats.imported.entry(record_name(due.record)).or_default() += 1;
    }
    if outcome.complete() {
        return Ok(());
    }
    stats.failed += outcome.failed.len();
    // Not imported: the item goes back to saying what Security Hub held before.
    let back: Vec<StateWrite> = dues
        .iter()
        .filter(|d| outcome.failed.contains_key(&d.fingerprint))
        .map(|d| {
            let mut item = d.written.clone();
            item.exported = d.before.clone();
            item.version = d.written.version + 1;
            StateWrite { fingerprint: d.fingerprint.clone(), expect: Expect::Version(d.written.version), put: Some(item) }
        })
        .collect();
    let refs: Vec<&StateWrite> = back.iter().collect();
    let mut unmarked = Vec::new();
    for (write, result) in back.iter().zip(Box::pin(store.apply(&refs)).await) {
        match result {
            WriteOutcome::Written => {}
            // Another run wrote the item since: what it holds is that run's to import.
            WriteOutcome::Conflict => tracing::info!(fingerprint = %write.fingerprint, "not imported, and changed since by another run"),
            WriteOutcome::Failed(e) => {
                tracing::error!(fingerprint = %write.fingerprint, error = %e, "not imported, and cannot be marked so: Security Hub misses it until its state changes");
                unmarked.push(write.fingerprint.clone());
            }
        }
    }
    let (id, reason) = outcome.failed.iter().next().map(|(k, v)| (k.as_str(), v.as_str())).unwrap_or_default();
    let mut message = format!(
        "{} of {} findings were not imported into Security Hub (first: {id}: {reason}); the next run imports them",
        outcome.failed.len(),
        dues.len()
    );
    if !unmarked.is_empty() {
        message.push_str(&format!(
            "; {} of them could not be marked as not imported and are missed until their state changes: {}",
            unmarked.len(),
            unmarked.join(", ")
        ));
    }
    Err(message)
}

/// The imports a run owes: the dues of each part whose write the run won, imported 100 at a
/// time as they fill a request, the rest when the run ends ([`Owed::flush`]), so a run makes
/// one request per 100 changed findings whatever its parts. The first failure is kept; the run
/// goes on and fails with it at the end.
#[derive(Debug)]
pub struct Owed {
    dues: Vec<Due>,
    pub stats: ExportStats,
    pub error: Option<String>,
}

impl Owed {
    pub fn new(exporter: &Exporter) -> Self {
        Owed { dues: Vec::new(), stats: exporter.stats(), error: None }
    }

    /// Owe the dues whose write this run won (`won`: their fingerprints), and import every full
    /// request of them.
    pub async fn owe(&mut self, clients: &Clients, store: &StateStore, dues: Vec<Due>, won: &BTreeSet<&str>) {
        self.dues.extend(dues.into_iter().filter(|d| won.contains(d.fingerprint.as_str())));
        while self.dues.len() >= hub::MAX_BATCH_FINDINGS {
            let batch: Vec<Due> = self.dues.drain(..hub::MAX_BATCH_FINDINGS).collect();
            if let Err(e) = Box::pin(import(clients, store, batch, &mut self.stats)).await {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Import what is still owed; `Err`: the first failure of the run.
    pub async fn flush(&mut self, clients: &Clients, store: &StateStore) -> Result<(), String> {
        let rest = std::mem::take(&mut self.dues);
        if let Err(e) = Box::pin(import(clients, store, rest, &mut self.stats)).await {
            self.error.get_or_insert(e);
        }
        self.error.take().map_or(Ok(()), Err)
    }
}
