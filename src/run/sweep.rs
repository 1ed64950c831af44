//! The full sweep: every source the enabled rules read, every rule, every finding compared with
//! the finding state.

use std::time::Instant;

use chrono::{DateTime, Utc};
use iam_assurance_aws::collect::{collect, Collection};
use iam_assurance_aws::Clients;
use iam_assurance_rules::inventory::DataSource;
use iam_assurance_rules::report::RuleStatus;
use iam_assurance_rules::roster::Roster;
use iam_assurance_rules::rules::trust::ROLE_TRUST_EXTERNAL;
use iam_assurance_rules::{evaluate, Settings};

use super::config::{load_settings, Config, RunError};
use super::reach::{reach, session_name};
use super::{publish, roster_store};
use crate::alerts::Observation;
use crate::output::{RunOutput, Trigger};

/// What a sweep collects: the bulk sources every sweep reads, and the ones that cost calls only
/// some settings need (virtual MFA devices, service-last-accessed jobs) when an enabled rule
/// reads them.
pub fn collection(settings: &Settings) -> Collection {
    let mut collection = Collection::full_sweep();
    collection.virtual_mfa_devices = settings.read(DataSource::VirtualMfaDevices);
    collection.service_last_accessed = settings.read(DataSource::ServiceLastAccessed);
    collection.access_analyzers = settings.read(DataSource::AccessAnalyzers);
    collection.access_analyzer_regions = iam_assurance_rules::rules::standards::access_analyzer_regions(settings);
    collection.security_contact = settings.read(DataSource::SecurityContact);
    collection
}

/// A full sweep of `account` (`None`: the account the credentials reach; another is read
/// through `role_name` assumed there).
pub async fn sweep_account(
    hub: &Clients,
    config: &Config,
    account: Option<&str>,
    role_name: &str,
    trigger: Trigger,
    now: DateTime<Utc>,
) -> Result<RunOutput, RunError> {
    hub.counter.reset();
    let id = now.format("%Y%m%dT%H%M%S").to_string();
    let (clients, config) = Box::pin(reach(hub, config, account, role_name, &session_name("sweep", &id))).await?;
    let calls = hub.counter.snapshot();
    let mut output = Box::pin(sweep(&clients, &config, trigger, now)).await?;
    // The AssumeRole (or the identity call) before the sweep's own count started.
    for (call, n) in calls {
        *output.api_calls.entry(call).or_insert(0) += n;
    }
    output.api_calls_total = output.api_calls.values().sum();
    Ok(output)
}

/// A full sweep of the account.
pub async fn sweep(clients: &Clients, config: &Config, trigger: Trigger, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let started = Instant::now();
    clients.counter.reset();
    let settings = Box::pin(load_settings(clients, config)).await?;
    // The administrator roster is rebuilt from what this sweep reads, and stored if it
    // changed, on the version stored before the sweep read IAM.
    let store = roster_store::table(clients, config);
    let prior_roster = match &store {
        Some(store) => roster_store::read_or_warn(store).await,
        None => None,
    };
    let mut inventory = Box::pin(collect(clients, &collection(&settings), started + config.time_budget)).await;
    if settings.enabled(&ROLE_TRUST_EXTERNAL.meta) {
        inventory.organization_accounts = super::reach::organization_accounts(clients, config).await;
    }
    let roster = inventory.authorization.as_ref().filter(|a| a.complete).map(|a| Roster::from_aad(a, None));
    inventory.admins = roster.as_ref().map(Roster::admins);
    let report = evaluate(&inventory, &settings, now);
    // The inventory (tens of MB on a large account) is not needed once evaluated.
    drop(inventory);
    let mut output = RunOutput::from_report(report, trigger, clients.counter.snapshot());
    let stored = match (&store, prior_roster, roster) {
        (Some(store), Some(prior), Some(roster)) => Some(roster_store::store_if_changed(store, roster, prior, "sweep", now).await?),
        _ => None,
    };
    let evaluated = output.rules.iter().filter(|r| r.status == RuleStatus::Evaluated).map(|r| r.rule_id.clone());
    let mut obs = Observation::sweep(&output.findings, evaluated, now, settings.global);
    obs.disabled = output.rules.iter().filter(|r| r.status == RuleStatus::Disabled).map(|r| r.rule_id.clone()).collect();
    let published = Box::pin(publish::finish(clients, config, &output, &obs, stored)).await?;
    output.record_published(published, clients.counter.snapshot());
    Ok(output)
}
