//! The live path: settings from SSM (or a file), an inventory from IAM, the rules, findings
//! to SNS. Shared by the Lambda handler and the `sweep` / `invoke` commands.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use iam_assurance_aws::collect::{collect, AuthScope, Plan};
use iam_assurance_aws::{sns, ssm, Clients};
use iam_assurance_rules::inventory::{AuthorizationDetails, Inventory, User};
use iam_assurance_rules::report::{Finding, FindingStatus, RuleStatus};
use iam_assurance_rules::{evaluate, evaluate_only, Settings};
use serde_json::{json, Value};

use crate::event::{route, Entity, Need, Route, Targeted};
use crate::notify::{self, Change, MessageContext};
use crate::output::RunOutput;

/// Where settings come from.
#[derive(Debug, Clone)]
pub enum SettingsSource {
    /// SSM Parameter Store under this prefix (`<prefix>/rules/<rule-id>`).
    Ssm(String),
    /// A JSON file `{ "<rule-id>": {...} }`.
    File(PathBuf),
}

/// How the live path runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: SettingsSource,
    /// The settings prefix, for the "how to change this rule" text in messages.
    pub settings_prefix: String,
    /// Publish findings to this topic; `None` = do not publish.
    pub topic_arn: Option<String>,
    /// How long collection may wait on IAM (credential report generation...).
    pub time_budget: Duration,
}

impl Config {
    /// From the environment: `SETTINGS_PREFIX` (default `/iam-assurance`), `FINDINGS_TOPIC_ARN`.
    pub fn from_env() -> Self {
        let prefix = std::env::var("SETTINGS_PREFIX").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "/iam-assurance".into());
        Config {
            settings: SettingsSource::Ssm(prefix.clone()),
            settings_prefix: prefix,
            topic_arn: std::env::var("FINDINGS_TOPIC_ARN").ok().filter(|t| !t.is_empty()),
            time_budget: Duration::from_secs(240),
        }
    }
}

/// Why a run failed. Settings and publishing failures fail the invocation so Lambda retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("cannot read settings: {0}")]
    Settings(String),
    #[error("cannot publish findings: {0}")]
    Publish(String),
}

async fn load_settings(clients: &Clients, config: &Config) -> Result<Settings, RunError> {
    match &config.settings {
        SettingsSource::Ssm(prefix) => ssm::load_settings(clients, prefix).await.map_err(|e| RunError::Settings(e.to_string())),
        SettingsSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))?;
            Settings::from_json_text(&text).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))
        }
    }
}

fn param_bool(settings: &Settings, rule: &str, key: &str) -> bool {
    settings.rule(rule).ok().and_then(|r| r.params.get(key).and_then(Value::as_bool)).unwrap_or(false)
}

fn enabled(settings: &Settings, rule: &str) -> bool {
    let default = iam_assurance_rules::catalog::find(rule).map(|r| r.meta().enabled_by_default).unwrap_or(false);
    settings.rule(rule).ok().and_then(|r| r.enabled).unwrap_or(default)
}

/// A full sweep of the account.
pub async fn sweep(clients: &Clients, config: &Config, trigger: Value, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let started = Instant::now();
    clients.counter.reset();
    let settings = Box::pin(load_settings(clients, config)).await?;
    let mut plan = Plan::full_sweep();
    plan.virtual_mfa_devices = enabled(&settings, "root-mfa") && param_bool(&settings, "root-mfa", "require_hardware");
    plan.service_last_accessed = enabled(&settings, "user-service-inactivity") || enabled(&settings, "role-service-inactivity");
    let inventory = Box::pin(collect(clients, &plan, started + config.time_budget)).await;
    let report = evaluate(&inventory, &settings, now);
    let mut output = RunOutput::from_report(report, trigger, clients.counter.snapshot());
    if let Some(topic) = &config.topic_arn {
        let trigger_text = trigger_text(&output.trigger);
        let ctx = MessageContext { trigger: &trigger_text, settings_prefix: &config.settings_prefix };
        let new: Vec<&Finding> = output.open_findings().collect();
        let mut messages: Vec<_> = new.iter().map(|f| notify::finding_message(f, Change::New, &ctx)).collect();
        messages.extend(notify::digests(&output.account_id, &new, &[], new.len(), &ctx));
        output.published = Some(publish(clients, topic, &messages).await?);
        output.api_calls = clients.counter.snapshot();
        output.api_calls_total = output.api_calls.values().sum();
    }
    Ok(output)
}

/// The Lambda handler's work for one event.
pub async fn handle_event(clients: &Clients, config: &Config, event: &Value, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let account = event.get("account").and_then(Value::as_str).unwrap_or("").to_string();
    match route(event) {
        Route::Ignored { reason } => {
            tracing::info!(%reason, "event ignored");
            Ok(RunOutput::ignored(account, json!({"kind": "ignored", "reason": reason}), now))
        }
        Route::Sweep => {
            let trigger = json!({
                "kind": "schedule",
                "event_id": event.get("id"),
                "time": event.get("time"),
            });
            Box::pin(sweep(clients, config, trigger, now)).await
        }
        route @ Route::CloudTrail { .. } => Box::pin(cloudtrail(clients, config, route, account, now)).await,
    }
}

async fn cloudtrail(clients: &Clients, config: &Config, route: Route, account: String, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    let Route::CloudTrail { event_id, event_name, event_time, root, targeted, skipped } = route else {
        return Ok(RunOutput::ignored(account, json!({"kind": "ignored"}), now));
    };
    let started = Instant::now();
    clients.counter.reset();
    let settings = Box::pin(load_settings(clients, config)).await?;
    let mut plan = Plan::default();
    if let Some(t) = &targeted {
        match t.need {
            Need::UserCredentials(parts) => {
                if let Entity::User(name) = &t.entity {
                    plan.user_credentials = Some(name.clone());
                    plan.user_credential_parts = parts;
                }
            }
            Need::Authorization => plan.authorization = AuthScope::NoAwsManaged,
            Need::PasswordPolicy => plan.password_policy = true,
            Need::ServerCertificates => plan.server_certificates = true,
            Need::Nothing => {}
        }
    }
    let mut inventory =
        if targeted.is_some() { Box::pin(collect(clients, &plan, started + config.time_budget)).await } else { Inventory::default() };
    if inventory.account_id.is_empty() {
        inventory.account_id = account;
    }
    if inventory.partition.is_empty() {
        inventory.partition = "aws".into();
    }
    if let Some(t) = targeted.as_ref().filter(|t| matches!(t.need, Need::UserCredentials(_))) {
        add_partial_user(&mut inventory, t);
    }
    let mut rules: Vec<&str> = targeted.as_ref().map(|t| t.rules.clone()).unwrap_or_default();
    if let Some(activity) = &root {
        inventory.root_activity = Some(vec![activity.clone()]);
        rules.push("root-usage");
    }
    let mut report = evaluate_only(&inventory, &settings, now, &rules);
    if let Some(t) = &targeted {
        keep_relevant(&mut report.findings, t, &inventory);
        for summary in &mut report.rules {
            let of_rule = report.findings.iter().filter(|f| f.rule_id == summary.rule_id);
            summary.failed = of_rule.clone().filter(|f| f.status == FindingStatus::Open).count();
            summary.suppressed = of_rule.filter(|f| f.status == FindingStatus::Suppressed).count();
            if summary.status != RuleStatus::Evaluated {
                summary.failed = 0;
            }
        }
    }
    let trigger = json!({
        "kind": "cloudtrail",
        "event_id": event_id,
        "event_name": event_name,
        "event_time": event_time,
        "root_activity": root.is_some(),
        "entity": targeted.as_ref().map(|t| &t.entity),
        "related": targeted.as_ref().and_then(|t| t.related.as_ref()),
        "skipped": skipped,
    });
    let mut output = RunOutput::from_report(report, trigger, clients.counter.snapshot());
    if let Some(topic) = &config.topic_arn {
        let trigger_text = trigger_text(&output.trigger);
        let ctx = MessageContext { trigger: &trigger_text, settings_prefix: &config.settings_prefix };
        let messages: Vec<_> = output.open_findings().map(|f| notify::finding_message(f, Change::New, &ctx)).collect();
        if !messages.is_empty() {
            output.published = Some(publish(clients, topic, &messages).await?);
            output.api_calls = clients.counter.snapshot();
            output.api_calls_total = output.api_calls.values().sum();
        }
    }
    Ok(output)
}

/// On the credential path the inventory holds the user's live credential row; give the
/// rules that read user names (approved-users) a partial view with just that user.
fn add_partial_user(inventory: &mut Inventory, targeted: &Targeted) {
    let Entity::User(name) = &targeted.entity else { return };
    if inventory.authorization.is_some() {
        return;
    }
    let Some(row) = inventory.credential_report.as_ref().and_then(|r| r.users.iter().find(|u| &u.user == name)) else {
        // The user no longer exists: an empty partial view.
        inventory.authorization = Some(AuthorizationDetails::default());
        return;
    };
    let user = User {
        name: row.user.clone(),
        arn: row.arn.clone(),
        id: String::new(),
        path: String::new(),
        create_date: row.user_creation_time,
        groups: Vec::new(),
        attached_policies: Vec::new(),
        inline_policies: Vec::new(),
        permissions_boundary: None,
    };
    inventory.authorization = Some(AuthorizationDetails { users: vec![user], complete: false, ..Default::default() });
}

/// ARN of a named entity, looked up in the inventory.
fn entity_arns(entity: &Entity, inventory: &Inventory) -> Vec<String> {
    let aad = inventory.authorization.as_ref();
    let cr_users = inventory.credential_report.as_ref().map(|r| r.users.as_slice()).unwrap_or_default();
    match entity {
        Entity::User(name) => {
            let mut arns: Vec<String> =
                aad.map(|a| a.users.iter().filter(|u| &u.name == name).map(|u| u.arn.clone()).collect()).unwrap_or_default();
            arns.extend(cr_users.iter().filter(|r| &r.user == name).map(|r| r.arn.clone()));
            arns
        }
        Entity::Group(name) => {
            aad.map(|a| a.groups.iter().filter(|g| &g.name == name).map(|g| g.arn.clone()).collect()).unwrap_or_default()
        }
        Entity::Role(name) => aad.map(|a| a.roles.iter().filter(|r| &r.name == name).map(|r| r.arn.clone()).collect()).unwrap_or_default(),
        Entity::Policy(name_or_arn) => {
            if name_or_arn.starts_with("arn:") {
                vec![name_or_arn.clone()]
            } else {
                aad.map(|a| a.policies.iter().filter(|p| &p.name == name_or_arn).map(|p| p.arn.clone()).collect()).unwrap_or_default()
            }
        }
        Entity::Account => Vec::new(),
    }
}

/// A targeted run reports what concerns the changed entity: findings on it, on the policy
/// the event names, account-level findings, and findings whose details name the entity
/// (an unapproved policy's list of attached entities). Root activity is always kept.
fn keep_relevant(findings: &mut Vec<Finding>, targeted: &Targeted, inventory: &Inventory) {
    if targeted.entity == Entity::Account {
        return;
    }
    let mut arns = entity_arns(&targeted.entity, inventory);
    if let Some(related) = &targeted.related {
        arns.extend(entity_arns(related, inventory));
    }
    let root = inventory.root_arn();
    findings.retain(|f| {
        f.rule_id == "root-usage"
            || f.resource_arn == root
            || arns.contains(&f.resource_arn)
            || arns.iter().any(|arn| f.details.to_string().contains(arn.as_str()))
    });
}

async fn publish(clients: &Clients, topic: &str, messages: &[sns::OutgoingMessage]) -> Result<Value, RunError> {
    if messages.is_empty() {
        return Ok(json!({"messages": 0, "batches": 0}));
    }
    let stats = Box::pin(sns::publish(clients, topic, messages)).await.map_err(|e| RunError::Publish(e.to_string()))?;
    Ok(json!({"topic_arn": topic, "messages": stats.published, "batches": stats.batches, "retried": stats.retried}))
}

/// A one-line description of the trigger for messages.
pub fn trigger_text(trigger: &Value) -> String {
    let kind = trigger.get("kind").and_then(Value::as_str).unwrap_or("run");
    match kind {
        "schedule" => "scheduled sweep".to_string(),
        "manual" => "manual sweep".to_string(),
        "cloudtrail" => {
            let name = trigger.get("event_name").and_then(Value::as_str).unwrap_or("?");
            let time = trigger.get("event_time").and_then(Value::as_str).unwrap_or("");
            format!("CloudTrail event {name} {time}").trim().to_string()
        }
        other => other.to_string(),
    }
}
