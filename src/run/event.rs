//! The targeted run of a CloudTrail event: read what its change needs ([`super::reads`]),
//! evaluate the rules its kind moves (less those the read proved unmoved), report and resolve
//! only within what it looked at ([`super::scope`]), publish what changed.

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use iam_assurance_aws::Clients;
use iam_assurance_rules::change::{ChangeKind, Unmoved};
use iam_assurance_rules::inventory::Inventory;
use iam_assurance_rules::report::{FindingStatus, RuleStatus};
use iam_assurance_rules::{catalog, evaluate_only, Rule};

use super::config::{load_settings, Config, RunError};
use super::organization;
use super::reach::{home_account, reach, session_name};
use super::reads::{self, TargetedRead};
use super::scope::{candidate_fingerprints, deleted_entity_arn, possible_fingerprints, retain_in_scope, scope_of};
use super::{publish, roster_store};
use crate::alerts::{Observation, RunKind, Scope};
use crate::change::Change;
use crate::output::{EventTrigger, RunOutput, Trigger};
use crate::route::CloudTrailEvent;

/// The rules an event evaluates for its change: those the change's kind moves, less those
/// whose only account-wide input the read proved unmoved.
pub fn rules_for(change: &Change, unmoved: &[Unmoved]) -> Vec<&'static dyn Rule> {
    change.rules().into_iter().filter(|rule| !unmoved.iter().any(|u| rule.meta().unmoved_by(*u))).collect()
}

/// Evaluate one CloudTrail event in the account it happened in: the one the credentials reach,
/// or a member account through its role; without a member role, an event from another account
/// is acknowledged and evaluated nowhere.
pub async fn run(clients: &Clients, config: &Config, event: CloudTrailEvent, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let started = Instant::now();
    clients.counter.reset();
    // An event names the account it happened in. The run reads that account: the one the
    // credentials reach, or a member account through its role (`MEMBER_ROLE_NAME`); it never
    // evaluates one account's change against another's data.
    let home = home_account(clients, config).await?;
    let member = event.account.as_deref().filter(|a| *a != home);
    // In an organization, an account the rounds leave out is not watched by events either:
    // a finding an event raised there would never be resolved by a sweep.
    if config.organization {
        let account = member.unwrap_or(&home);
        if let Some(reason) = Box::pin(organization::left_out(clients, config, account)).await? {
            let reason = format!("`{}`: {reason}; nothing was evaluated", event.event_name);
            tracing::info!(%reason, "event from an account left out");
            let mut output = RunOutput::ignored(account.to_string(), reason, now);
            output.api_calls = clients.counter.snapshot();
            output.api_calls_total = output.api_calls.values().sum();
            return Ok(output);
        }
    }
    let (clients, config) = match (member, config.member_role_name.as_deref()) {
        (None, _) => reach(clients, config, None, "", "").await?,
        (Some(account), Some(role)) => {
            Box::pin(reach(clients, config, Some(account), role, &session_name("event", &event.event_id))).await?
        }
        (Some(account), None) => {
            let reason = format!(
                "`{}` happened in account {account}, and these credentials reach account {home}: nothing was evaluated or \
attributed (set MEMBER_ROLE_NAME to read member accounts through a role, as organization mode does)",
                event.event_name
            );
            tracing::warn!(%reason, "event from another account");
            let mut output = RunOutput::ignored(account.to_string(), reason, now);
            output.api_calls = clients.counter.snapshot();
            output.api_calls_total = output.api_calls.values().sum();
            return Ok(output);
        }
    };
    let (clients, config) = (&clients, &config);
    let home = config.account.clone().unwrap_or(home);
    let settings = Box::pin(load_settings(clients, config)).await?;
    let store = roster_store::table(clients, config);
    let mut read = match &event.change {
        Some(change) => Box::pin(reads::read(clients, &settings, store.as_ref(), change, started + config.time_budget)).await,
        None => TargetedRead {
            inventory: Inventory::default(),
            unmoved: Vec::new(),
            narrowed: None,
            gone: false,
            inline_documents_read: true,
            roster_write: None,
        },
    };
    let inventory = &mut read.inventory;
    if inventory.account_id.is_empty() {
        inventory.account_id = home;
    }
    if inventory.partition.is_empty() {
        inventory.partition = "aws".into();
    }
    // The rules the change moves, then root-usage for root activity (an incident: it never
    // resolves anything).
    let targeted: Vec<&'static dyn Rule> = event.change.as_ref().map(|c| rules_for(c, &read.unmoved)).unwrap_or_default();
    let mut rules = targeted.clone();
    if let Some(activity) = &event.root {
        inventory.root_activity = Some(vec![activity.clone()]);
        rules.extend(catalog::moved_by(ChangeKind::RootActivity));
    }
    let trust = &iam_assurance_rules::rules::trust::ROLE_TRUST_EXTERNAL.meta;
    if config.organization && settings.enabled(trust) && rules.iter().any(|r| r.meta().id == trust.id) {
        inventory.organization_accounts = super::reach::organization_accounts(clients, config).await;
    }
    let mut report = evaluate_only(inventory, &settings, now, &rules);
    // Everything the evaluation produced, before the report keeps what concerns the entity:
    // nothing it saw is called resolved.
    let present: BTreeSet<String> = report.findings.iter().map(|f| f.fingerprint.clone()).collect();
    let gone: Option<String> = event.change.as_ref().and_then(|c| deleted_entity_arn(c, inventory, read.gone));
    let mut scope = match &event.change {
        Some(change) => scope_of(change, inventory),
        None => Scope::Nothing,
    };
    if let (Some(arn), Scope::Resources { arns, .. }) = (&gone, &mut scope) {
        arns.push(arn.clone());
    }
    if event.change.is_some() {
        retain_in_scope(&mut report.findings, &scope);
        for summary in &mut report.rules {
            let of_rule = report.findings.iter().filter(|f| f.rule_id == summary.rule_id);
            summary.failed = of_rule.clone().filter(|f| f.status == FindingStatus::Open).count();
            summary.suppressed = of_rule.filter(|f| f.status == FindingStatus::Suppressed).count();
            if summary.status != RuleStatus::Evaluated {
                summary.failed = 0;
            }
        }
    }
    // Only the rules the change moves resolve findings.
    let resolvable: BTreeSet<String> = report
        .rules
        .iter()
        .filter(|r| r.status == RuleStatus::Evaluated && targeted.iter().any(|t| t.meta().id == r.rule_id))
        .map(|r| r.rule_id.clone())
        .collect();
    let state_keys: BTreeSet<String> = event
        .change
        .as_ref()
        .map(|change| candidate_fingerprints(change, inventory, &scope, &resolvable, read.inline_documents_read))
        .unwrap_or_default()
        .into_iter()
        // Any rule's findings on a deleted entity (its inline policies' names are not known).
        .chain(possible_fingerprints(catalog::all().iter().copied(), gone.as_slice(), &[]))
        .chain(report.findings.iter().map(|f| f.fingerprint.clone()))
        .collect();
    let trigger = Trigger::Cloudtrail(EventTrigger {
        event_id: event.event_id.clone(),
        event_name: event.event_name.clone(),
        event_time: event.event_time,
        root_activity: event.root.is_some(),
        entity: event.change.as_ref().map(|c| c.entity.clone()),
        related: event.change.as_ref().and_then(|c| c.related.clone()),
        skipped: event.skipped.clone(),
        narrowed: read.narrowed.take(),
        unmoved: std::mem::take(&mut read.unmoved),
    });
    drop(read.inventory);
    let mut output = RunOutput::from_report(report, trigger, clients.counter.snapshot());
    let stored = match (&store, read.roster_write) {
        (Some(store), Some((roster, expect))) => {
            let by = format!("event {} ({})", event.event_id, event.event_name);
            Some(roster_store::store(store, &roster, expect, &by, now).await?)
        }
        _ => None,
    };
    let obs = Observation {
        kind: RunKind::Event,
        findings: &output.findings,
        present,
        resolvable,
        scope,
        disabled: BTreeSet::new(),
        gone: gone.into_iter().collect(),
        state_keys: Some(state_keys),
        now,
        global: settings.global,
    };
    let published = Box::pin(publish::finish(clients, config, &output, &obs, stored)).await?;
    output.record_published(published, clients.counter.snapshot());
    Ok(output)
}
