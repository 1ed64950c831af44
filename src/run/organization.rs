//! Organization mode: a round is the schedule's fan-out, one SQS message per ACTIVE account of
//! the organization, and the queue's consumer, one sweep per message in that account (through
//! its member role; the hub's own account with the function's credentials). A failing account
//! fails alone: its message is reported as a batch item failure, SQS delivers it again, and
//! after the queue's maximum receives moves it to the dead-letter queue.

use std::collections::BTreeSet;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use chrono::{DateTime, Utc};
use iam_assurance_aws::organization::{accounts_under, active_accounts, send_all, units_of};
use iam_assurance_aws::{ssm, Clients, StateStore};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{Config, RunError, SettingsSource, DEFAULT_MEMBER_ROLE};
use super::reach::home_account;
use super::round;
use super::sweep::sweep_account;
use crate::notify::MessageContext;
use crate::output::{FanOut, RunOutput, Trigger};

/// `<prefix>/organization`: which accounts a round sweeps.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationSettings {
    /// An explicit list of accounts, for teams with neither the management account nor a
    /// delegated administrator (then Organizations is not asked).
    #[serde(default)]
    accounts: Option<Vec<String>>,
    /// Accounts never swept.
    #[serde(default)]
    exclude_accounts: Vec<String>,
    /// Organizational units (`ou-...`) whose accounts, their child units' included, are never swept.
    #[serde(default)]
    exclude_units: Vec<String>,
}

/// One message of the accounts queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountMessage {
    pub account_id: String,
    /// The round it belongs to.
    pub round: String,
}

fn valid_account(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// `<prefix>/organization`, validated (absent: every account, none excluded).
async fn organization_settings(clients: &Clients, config: &Config) -> Result<OrganizationSettings, RunError> {
    let settings = match &config.settings {
        SettingsSource::Ssm(prefix) => {
            match ssm::load_organization(clients, prefix).await.map_err(|e| RunError::Settings(e.to_string()))? {
                Some(Ok(value)) => serde_json::from_value::<OrganizationSettings>(value)
                    .map_err(|e| RunError::Settings(format!("{prefix}/organization: {e}")))?,
                Some(Err(e)) => return Err(RunError::Settings(e)),
                None => OrganizationSettings::default(),
            }
        }
        SettingsSource::File(_) => OrganizationSettings::default(),
    };
    for id in settings.accounts.iter().flatten().chain(&settings.exclude_accounts) {
        if !valid_account(id) {
            return Err(RunError::Settings(format!("organization settings: {id:?} is not a 12-digit account id")));
        }
    }
    Ok(settings)
}

/// Why an account's events are not evaluated, when the organization's settings leave it out
/// of the rounds: not in the explicit list, excluded by id, or under an excluded unit (one
/// `organizations:ListParents` per level, asked only when units are excluded). `None`: it is
/// watched. One SSM read; an event from an account the rounds skip must not be evaluated
/// either, or its findings would be announced and never resolved by a sweep.
pub async fn left_out(clients: &Clients, config: &Config, account: &str) -> Result<Option<String>, RunError> {
    let settings = Box::pin(organization_settings(clients, config)).await?;
    if let Some(list) = &settings.accounts {
        if !list.iter().any(|a| a == account) {
            return Ok(Some(format!("account {account} is not in the organization settings' `accounts` list")));
        }
    }
    if settings.exclude_accounts.iter().any(|a| a == account) {
        return Ok(Some(format!("account {account} is in the organization settings' `exclude_accounts`")));
    }
    if !settings.exclude_units.is_empty() {
        let units = units_of(clients, account).await.map_err(|e| RunError::Member {
            account: account.to_string(),
            reason: format!("cannot tell whether it is under an excluded unit: {e}"),
        })?;
        if let Some(unit) = units.iter().find(|u| settings.exclude_units.contains(u)) {
            return Ok(Some(format!("account {account} is under {unit}, in the organization settings' `exclude_units`")));
        }
    }
    Ok(None)
}

/// The accounts a round sweeps: every ACTIVE account of the organization (or the explicit list
/// of `<prefix>/organization`), less the excluded ones, each once, the hub's own included.
pub async fn round_accounts(clients: &Clients, config: &Config) -> Result<FanOut, RunError> {
    let settings = Box::pin(organization_settings(clients, config)).await?;
    let (mut accounts, source): (Vec<String>, &'static str) = match settings.accounts {
        Some(list) => (list, "settings"),
        None => {
            let listed = active_accounts(clients).await.map_err(|e| RunError::FanOut(e.to_string()))?;
            (listed.into_iter().map(|a| a.id).collect(), "organizations")
        }
    };
    let mut excluded: BTreeSet<String> = settings.exclude_accounts.into_iter().collect();
    for unit in &settings.exclude_units {
        excluded.extend(accounts_under(clients, unit).await.map_err(|e| RunError::FanOut(e.to_string()))?);
    }
    accounts.sort();
    accounts.dedup();
    let (excluded, accounts): (Vec<String>, Vec<String>) = accounts.into_iter().partition(|a| excluded.contains(a));
    Ok(FanOut { round: String::new(), source, accounts, excluded, messages: 0 })
}

/// The scheduled fan-out: one message per account of the round to the accounts queue.
pub async fn fan_out(clients: &Clients, config: &Config, trigger: Trigger, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    clients.counter.reset();
    let queue = config.accounts_queue_url.as_deref().ok_or_else(|| RunError::FanOut("no accounts queue (ACCOUNTS_QUEUE_URL)".into()))?;
    let round = match &trigger {
        Trigger::Schedule { event_id: Some(id), .. } => id.clone(),
        _ => now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    let mut plan = Box::pin(round_accounts(clients, config)).await?;
    plan.round = round.clone();
    // The round's digest is sent by the sweep that completes it; a round some accounts never
    // completed is closed now, before the next starts.
    if let (Some(table), Some(topic)) = (config.state_table.as_deref(), config.topic_arn.as_deref()) {
        let trigger_text = trigger.describe();
        let ctx = MessageContext { trigger: &trigger_text, settings_prefix: &config.settings_prefix, now, renotify_hours: 0 };
        round::close_unfinished(clients, table, topic, chrono::Duration::minutes(30), &ctx, now).await?;
        round::start(clients, table, &round, plan.accounts.len(), now).await?;
    }
    // The organization's accounts, for the sweeps' trust rule: a failure leaves the last list.
    if let Some(table) = config.state_table.as_deref() {
        let all: BTreeSet<String> = plan.accounts.iter().chain(&plan.excluded).cloned().collect();
        if let Err(error) = StateStore::new(clients, table).put_organization_accounts(&all, plan.source, now).await {
            tracing::warn!(%error, "the organization's account list was not stored: the sweeps judge trust policies on the last one");
        }
    }
    let bodies: Vec<String> = plan
        .accounts
        .iter()
        .map(|account| serde_json::to_string(&AccountMessage { account_id: account.clone(), round: round.clone() }).unwrap_or_default())
        .collect();
    plan.messages = send_all(clients, queue, &bodies).await.map_err(|e| RunError::FanOut(e.to_string()))?;
    tracing::info!(round = %round, accounts = plan.accounts.len(), excluded = plan.excluded.len(), "fanned out");
    let home = home_account(clients, config).await?;
    let mut output = RunOutput::ignored(home, String::new(), now);
    output.trigger = trigger;
    output.fan_out = Some(plan);
    output.api_calls = clients.counter.snapshot();
    output.api_calls_total = output.api_calls.values().sum();
    Ok(output)
}

/// Whether a payload is an SQS event (the accounts queue's).
pub fn is_queue_event(payload: &Value) -> bool {
    payload.get("Records").and_then(Value::as_array).is_some_and(|records| {
        !records.is_empty() && records.iter().all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
    })
}

/// The queue's consumer: a sweep per message, in its account. The messages whose sweep failed
/// (the member role cannot be assumed, the state or SNS failed) are reported, so SQS delivers
/// them again alone; a message that is not an account message is acknowledged and logged (it
/// would fail forever). Returns the batch response and the runs, for the CLI.
pub async fn consume(
    clients: &Clients,
    config: &Config,
    event: &SqsEvent,
    now: DateTime<Utc>,
) -> (SqsBatchResponse, Vec<Result<RunOutput, RunError>>) {
    let mut response = SqsBatchResponse::default();
    let mut runs = Vec::new();
    let role = config.member_role_name.as_deref().unwrap_or(DEFAULT_MEMBER_ROLE);
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        let message =
            record.body.as_deref().and_then(|b| serde_json::from_str::<AccountMessage>(b).ok()).filter(|m| valid_account(&m.account_id));
        let Some(message) = message else {
            tracing::warn!(message_id = %id, "not an account message; acknowledged");
            continue;
        };
        let trigger = Trigger::Schedule { event_id: Some(message.round.clone()), time: None };
        let config = Config { round: Some(message.round.clone()), ..config.clone() };
        match Box::pin(sweep_account(clients, &config, Some(&message.account_id), role, trigger, now)).await {
            Ok(output) => runs.push(Ok(output)),
            Err(error) => {
                tracing::error!(account = %message.account_id, round = %message.round, %error, "the account's sweep failed; SQS delivers it again");
                runs.push(Err(error));
                response.add_failure(id);
            }
        }
    }
    (response, runs)
}
