//! The run JSON (CLI `--format json`, the handler's return value) and its text rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use iam_assurance_rules::report::{Finding, FindingStatus, Problem, Report, RuleStatus, RuleSummary};
use iam_assurance_rules::settings::GlobalSettings;
use serde::Serialize;

use crate::change::Entity;

/// What started a run: `{ "kind": "schedule" | "cloudtrail" | "manual" | "offline" | "ignored", ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// The EventBridge schedule: a full sweep.
    Schedule { event_id: Option<String>, time: Option<String> },
    /// `iam-assurance sweep`.
    Manual,
    /// `iam-assurance audit`.
    Offline,
    /// A CloudTrail event.
    Cloudtrail(EventTrigger),
    /// An event the function acknowledged and ignored.
    Ignored { reason: String },
}

/// The CloudTrail event a run evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventTrigger {
    pub event_id: String,
    pub event_name: String,
    pub event_time: Option<DateTime<Utc>>,
    /// Root activity: the run reports `root-usage`.
    pub root_activity: bool,
    /// The IAM entity the event changed, and the other one it names.
    pub entity: Option<Entity>,
    pub related: Option<Entity>,
    /// Why the IAM part of the event was not evaluated.
    pub skipped: Option<String>,
    /// How the run read less than the whole account, and why that is enough.
    pub narrowed: Option<String>,
    /// What that read proved unchanged: the rules the event's change moves that read only
    /// that were not evaluated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmoved: Vec<iam_assurance_rules::change::Unmoved>,
}

impl Trigger {
    /// A one-line description for messages: `scheduled sweep`, `CloudTrail event AttachUserPolicy 2026-...`.
    pub fn describe(&self) -> String {
        match self {
            Trigger::Schedule { .. } => "scheduled sweep".to_string(),
            Trigger::Manual => "manual sweep".to_string(),
            Trigger::Offline => "offline".to_string(),
            Trigger::Ignored { .. } => "ignored".to_string(),
            Trigger::Cloudtrail(event) => {
                let time = event.event_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)).unwrap_or_default();
                format!("CloudTrail event {} {time}", event.event_name).trim().to_string()
            }
        }
    }

    /// `schedule`, `cloudtrail`...: the `kind` of the JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Trigger::Schedule { .. } => "schedule",
            Trigger::Manual => "manual",
            Trigger::Offline => "offline",
            Trigger::Cloudtrail(_) => "cloudtrail",
            Trigger::Ignored { .. } => "ignored",
        }
    }
}

/// What a run published to SNS.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Published {
    pub topic_arn: String,
    /// Where the finding state is kept: `dynamodb`, or `none` (every open finding is then
    /// published as new, every run).
    pub state: StateKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_table: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    pub changes: Changes,
    pub digest_parts: usize,
    pub messages: usize,
    pub batches: usize,
    pub retried: usize,
    /// Messages that may have arrived twice: SNS may have accepted a batch whose reply was
    /// lost, and the SDK sent it again (standard topics cannot deduplicate; FIFO topics do).
    pub possibly_duplicated: usize,
    /// Messages an earlier run could not publish (its digest's last parts), sent by this one.
    #[serde(skip_serializing_if = "is_zero")]
    pub earlier_messages: usize,
    pub not_published: NotPublished,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_items: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_items_skipped: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_updates: Option<StateUpdates>,
    /// The global settings the run published with.
    pub settings: GlobalSettings,
    /// What the run did with the administrator roster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roster: Option<RosterOutcome>,
    /// What the Security Hub export imported (with the export on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_hub: Option<crate::export::options::ExportStats>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Where the finding state is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateKind {
    None,
    Dynamodb,
}

/// How many notices of each kind were published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub new: usize,
    pub resolved: usize,
    pub reminder: usize,
}

/// What was not published, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct NotPublished {
    pub below_min_severity: usize,
    /// Another invocation claimed the notice first (and publishes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by_another_run: Option<usize>,
}

/// The state writes that published nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StateUpdates {
    pub written: usize,
    pub conflicts: usize,
    pub failed: usize,
}

/// What a run did with the administrator roster kept in the state table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RosterOutcome {
    /// Stored (it changed).
    Written,
    /// The stored one is the same.
    Unchanged,
    /// Removed: another run wrote it since this one read it, or it is too large to keep.
    Dropped,
}

/// What an organization's scheduled fan-out did: one message per account to the accounts queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FanOut {
    /// The round (the schedule event's id, or the time): every account's sweep names it.
    pub round: String,
    /// Where the accounts came from: `organizations` (ListAccounts) or `settings` (an explicit
    /// list in `<prefix>/organization`).
    pub source: &'static str,
    /// The accounts sent to the queue, one message each.
    pub accounts: Vec<String>,
    /// The accounts left out by the `exclude_accounts` and `exclude_units` settings.
    pub excluded: Vec<String>,
    pub messages: usize,
}

/// What a run did: `{ account_id, trigger, evaluated_at, findings, rules, ... }`.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    pub account_id: String,
    pub trigger: Trigger,
    pub evaluated_at: DateTime<Utc>,
    /// When the credential report used was generated: it may be up to 4 hours old.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_report_generated_at: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
    pub rules: Vec<RuleSummary>,
    /// Settings errors, data that could not be collected, documents that could not be parsed.
    pub errors: Vec<Problem>,
    /// AWS API calls this run made, by `service:Operation`.
    pub api_calls: BTreeMap<String, u64>,
    pub api_calls_total: u64,
    /// What was sent to SNS, when publishing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Published>,
    /// An organization's scheduled fan-out (no sweep of its own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fan_out: Option<FanOut>,
    /// Set when `findings` was cut to fit a size limit (the Lambda response).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings_truncated: Option<Truncated>,
}

/// How many findings a run had, and how many its JSON carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Truncated {
    pub total: usize,
    pub returned: usize,
}

/// Length of a value's compact JSON, without building it.
fn json_len<T: Serialize + ?Sized>(value: &T) -> Result<usize, serde_json::Error> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value)?;
    Ok(count.0)
}

impl RunOutput {
    /// The run within `max_bytes` of JSON, for the Lambda handler's return value (Lambda
    /// refuses responses over 6 MB; a large account's findings are far more). When the whole
    /// run does not fit, `findings` keeps the most severe ones that do (they are sorted most
    /// severe first) and `findings_truncated` says how many there were: SNS and the finding
    /// state still carry every one. Sizes are measured by serializing into a byte counter:
    /// nothing is copied.
    pub fn truncate_within(mut self, max_bytes: usize) -> Result<Self, serde_json::Error> {
        if json_len(&self)? <= max_bytes {
            return Ok(self);
        }
        let findings = std::mem::take(&mut self.findings);
        let total = findings.len();
        self.findings_truncated = Some(Truncated { total, returned: total });
        let mut budget = max_bytes.saturating_sub(json_len(&self)?);
        let mut returned = 0;
        for finding in &findings {
            let size = json_len(finding)? + 1; // and a comma
            if size > budget {
                break;
            }
            budget -= size;
            returned += 1;
        }
        let mut findings = findings;
        findings.truncate(returned);
        self.findings = findings;
        self.findings_truncated = Some(Truncated { total, returned });
        Ok(self)
    }

    pub fn from_report(report: Report, trigger: Trigger, api_calls: BTreeMap<String, u64>) -> Self {
        RunOutput {
            account_id: report.account_id,
            trigger,
            evaluated_at: report.evaluated_at,
            credential_report_generated_at: report.credential_report_generated_at,
            findings: report.findings,
            rules: report.rules,
            errors: report.errors,
            api_calls_total: api_calls.values().sum(),
            api_calls,
            published: None,
            fan_out: None,
            findings_truncated: None,
        }
    }

    /// A run that evaluated nothing (an ignored event).
    pub fn ignored(account_id: String, reason: String, now: DateTime<Utc>) -> Self {
        RunOutput {
            account_id,
            trigger: Trigger::Ignored { reason },
            evaluated_at: now,
            credential_report_generated_at: None,
            findings: Vec::new(),
            rules: Vec::new(),
            errors: Vec::new(),
            api_calls: BTreeMap::new(),
            api_calls_total: 0,
            published: None,
            fan_out: None,
            findings_truncated: None,
        }
    }

    /// Record what the run published (nothing without a topic), and the calls it made in all.
    pub fn record_published(&mut self, published: Option<Published>, api_calls: BTreeMap<String, u64>) {
        if let Some(published) = published {
            self.published = Some(published);
            self.api_calls_total = api_calls.values().sum();
            self.api_calls = api_calls;
        }
    }

    pub fn open_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == FindingStatus::Open)
    }

    /// A readable terminal report: findings grouped by severity, then the rule summary.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let open = self.open_findings().count();
        let suppressed = self.findings.len() - open;
        let _ = writeln!(out, "Account {}  evaluated {}", self.account_id, self.evaluated_at.format("%Y-%m-%d %H:%M:%S UTC"));
        if let Some(t) = self.credential_report_generated_at {
            let _ = writeln!(out, "Credential report generated {}", t.format("%Y-%m-%d %H:%M:%S UTC"));
        }
        let _ = writeln!(out, "{open} open finding(s), {suppressed} suppressed\n");
        for f in &self.findings {
            let status = if f.status == FindingStatus::Suppressed { " (suppressed)" } else { "" };
            let _ = writeln!(out, "{:<8} {:<34} {}{}", f.severity.as_str().to_uppercase(), f.rule_id, f.resource_name, status);
            let _ = writeln!(out, "         {}", f.message);
            if let Some(s) = &f.suppression {
                let _ = writeln!(out, "         exception: {} ({})", s.exception, s.reason);
            }
        }
        if !self.findings.is_empty() {
            out.push('\n');
        }
        let _ = writeln!(out, "{:<34} {:<14} {:>6} {:>10}", "RULE", "STATUS", "FAILED", "SUPPRESSED");
        for r in &self.rules {
            let status = match r.status {
                RuleStatus::Evaluated => "evaluated",
                RuleStatus::NotEvaluated => "not_evaluated",
                RuleStatus::Disabled => "disabled",
            };
            let _ = writeln!(out, "{:<34} {:<14} {:>6} {:>10}", r.rule_id, status, r.failed, r.suppressed);
            if r.status == RuleStatus::NotEvaluated {
                if let Some(reason) = &r.reason {
                    let _ = writeln!(out, "  {reason}");
                }
            }
        }
        if !self.errors.is_empty() {
            let _ = writeln!(out, "\nErrors:");
            for e in &self.errors {
                let _ = writeln!(out, "  - {e}");
            }
        }
        if let Some(published) = &self.published {
            let _ = writeln!(out, "\n{}", published.describe());
        }
        if self.api_calls_total > 0 {
            let calls = self.api_calls.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "\nAWS API calls: {} ({calls})", self.api_calls_total);
        }
        out
    }
}

impl Published {
    /// Nothing published yet, to `topic`, with the state in `table` (or none).
    pub fn default_for(topic: &str, table: Option<&str>) -> Published {
        Published {
            topic_arn: topic.to_string(),
            state: if table.is_some() { StateKind::Dynamodb } else { StateKind::None },
            state_table: table.map(str::to_owned),
            note: None,
            changes: Changes::default(),
            digest_parts: 0,
            messages: 0,
            batches: 0,
            retried: 0,
            possibly_duplicated: 0,
            earlier_messages: 0,
            not_published: NotPublished::default(),
            state_items: None,
            state_items_skipped: None,
            state_updates: None,
            settings: GlobalSettings::default(),
            roster: None,
            security_hub: None,
        }
    }

    /// One line about what a run published.
    pub fn describe(&self) -> String {
        let changes = self.changes;
        let mut text = format!("Published to SNS: {} new, {} resolved, {} reminder(s)", changes.new, changes.resolved, changes.reminder);
        if self.digest_parts > 0 {
            text.push_str(&format!(", digest in {} part(s)", self.digest_parts));
        }
        text.push_str(&format!("; {} message(s) in {} batch(es).", self.messages, self.batches));
        if self.possibly_duplicated > 0 {
            text.push_str(&format!(" {} message(s) may have arrived twice (a batch was resent).", self.possibly_duplicated));
        }
        let below = self.not_published.below_min_severity;
        if below > 0 {
            text.push_str(&format!(" {below} change(s) below notify_min_severity not published."));
        }
        match self.state {
            StateKind::Dynamodb => {
                text.push_str(&format!(" Finding state: DynamoDB table {}.", self.state_table.as_deref().unwrap_or("?")));
            }
            StateKind::None => text.push_str(" No finding state (STATE_TABLE unset): every open finding counts as new."),
        }
        if let Some(hub) = &self.security_hub {
            let imported: Vec<String> = hub.imported.iter().map(|(record, n)| format!("{n} {record}")).collect();
            let imported = if imported.is_empty() { "nothing".to_string() } else { imported.join(", ") };
            text.push_str(&format!(" Security Hub ({}): imported {imported} in {} request(s)", hub.region, hub.requests));
            if hub.failed > 0 {
                text.push_str(&format!(", {} not imported", hub.failed));
            }
            text.push('.');
        }
        text
    }
}
