//! The run JSON (CLI `--format json`, the handler's return value) and its text rendering.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use iam_assurance_rules::report::{Finding, FindingStatus, Report, RuleStatus, RuleSummary};
use serde::Serialize;
use serde_json::Value;

/// What a run did: `{ account_id, trigger, evaluated_at, findings, rules, ... }`.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutput {
    pub account_id: String,
    /// What started the run: `{ "kind": "schedule" | "cloudtrail" | "manual" | "offline" | "ignored", ... }`.
    pub trigger: Value,
    pub evaluated_at: DateTime<Utc>,
    /// When the credential report used was generated: it may be up to 4 hours old.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_report_generated_at: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
    pub rules: Vec<RuleSummary>,
    /// Settings errors, data that could not be collected, documents that could not be parsed.
    pub errors: Vec<String>,
    /// AWS API calls this run made, by `service:Operation`.
    pub api_calls: BTreeMap<String, u64>,
    pub api_calls_total: u64,
    /// What was sent to SNS, when publishing: `state` (`dynamodb`, or `none` without a state
    /// table: every open finding is then published as new), `changes` (`new`, `resolved`,
    /// `reminder` counts), `digest_parts`, `messages`, `batches`, what was `not_published` and
    /// why, and the global `settings` used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<Value>,
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

    pub fn from_report(report: Report, trigger: Value, api_calls: BTreeMap<String, u64>) -> Self {
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
            findings_truncated: None,
        }
    }

    /// A run that evaluated nothing (an ignored event).
    pub fn ignored(account_id: String, trigger: Value, now: DateTime<Utc>) -> Self {
        RunOutput {
            account_id,
            trigger,
            evaluated_at: now,
            credential_report_generated_at: None,
            findings: Vec::new(),
            rules: Vec::new(),
            errors: Vec::new(),
            api_calls: BTreeMap::new(),
            api_calls_total: 0,
            published: None,
            findings_truncated: None,
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
            let _ = writeln!(out, "\n{}", published_text(published));
        }
        if self.api_calls_total > 0 {
            let calls = self.api_calls.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
            let _ = writeln!(out, "\nAWS API calls: {} ({calls})", self.api_calls_total);
        }
        out
    }
}

/// One line about what a run published.
pub fn published_text(published: &Value) -> String {
    let n = |v: &Value| v.as_u64().unwrap_or(0);
    let changes = &published["changes"];
    let mut text = format!(
        "Published to SNS: {} new, {} resolved, {} reminder(s)",
        n(&changes["new"]),
        n(&changes["resolved"]),
        n(&changes["reminder"])
    );
    let parts = n(&published["digest_parts"]);
    if parts > 0 {
        text.push_str(&format!(", digest in {parts} part(s)"));
    }
    text.push_str(&format!("; {} message(s) in {} batch(es).", n(&published["messages"]), n(&published["batches"])));
    let below = n(&published["not_published"]["below_min_severity"]);
    if below > 0 {
        text.push_str(&format!(" {below} change(s) below notify_min_severity not published."));
    }
    match published["state"].as_str() {
        Some("dynamodb") => {
            text.push_str(&format!(" Finding state: DynamoDB table {}.", published["state_table"].as_str().unwrap_or("?")));
        }
        Some("none") => text.push_str(" No finding state (STATE_TABLE unset): every open finding counts as new."),
        _ => {}
    }
    text
}
