//! What goes to SNS: one message per finding that is new, resolved or due a reminder, and a
//! digest per sweep when anything changed. Pure rendering; the SNS client is in the adapters.
//!
//! Each message is published with `MessageStructure=json`: `default` is the finding JSON,
//! `email` readable text with the fix, `https` AWS Chatbot's custom notification format (so
//! Slack renders it). Message attributes `rule_id`, `severity`, `resource_type`,
//! `account_id`, `change` drive SNS filter policies.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use iam_assurance_aws::sns::OutgoingMessage;
use iam_assurance_rules::report::Finding;
use iam_assurance_rules::{catalog, Severity};
use serde::Serialize;
use serde_json::{json, Value};

/// SNS limits: subject under 100 characters; a whole message (body + attributes) at most
/// 256 KiB. We keep a margin for the JSON envelope SNS adds to https deliveries.
pub const MAX_SUBJECT: usize = 99;
pub const MAX_MESSAGE_BYTES: usize = 240 * 1024;

/// Why a finding is being published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    New,
    Resolved,
    Reminder,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Resolved => "resolved",
            Change::Reminder => "reminder",
        }
    }
}

/// Context every message needs.
pub struct MessageContext<'a> {
    /// `hourly sweep`, `CloudTrail AttachUserPolicy by arn:...`.
    pub trigger: &'a str,
    pub settings_prefix: &'a str,
}

/// Keep a subject within SNS's limit, on one line, ASCII only.
pub fn subject(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c
            } else if c.is_whitespace() {
                ' '
            } else {
                '?'
            }
        })
        .collect();
    if clean.len() <= MAX_SUBJECT {
        clean
    } else {
        format!("{}...", &clean[..MAX_SUBJECT - 3])
    }
}

/// The message for one finding.
pub fn finding_message(finding: &Finding, change: Change, ctx: &MessageContext<'_>) -> OutgoingMessage {
    let sev = finding.severity.as_str().to_uppercase();
    // "rule: resource (account)", or "rule (account)" for account-level findings.
    let what = if finding.resource_type == iam_assurance_rules::ResourceType::Account {
        format!("{} ({})", finding.rule_id, finding.account_id)
    } else {
        format!("{}: {} ({})", finding.rule_id, finding.resource_name, finding.account_id)
    };
    let subject = match change {
        Change::Resolved => subject(&format!("[RESOLVED] {what}")),
        Change::Reminder => subject(&format!("[{sev}] Still open: {what}")),
        Change::New => subject(&format!("[{sev}] {what}")),
    };
    let default = json!({ "change": change, "trigger": ctx.trigger, "finding": finding }).to_string();
    let body = json!({
        "default": default,
        "email": email_text(finding, change, ctx),
        "https": chatbot(finding, change).to_string(),
    });
    OutgoingMessage {
        subject,
        message_json: body.to_string(),
        attributes: attributes(&finding.rule_id, finding.severity, finding.resource_type.as_str(), &finding.account_id, change.as_str()),
        dedup_id: format!("{}-{}", finding.fingerprint, change.as_str()),
    }
}

fn attributes(rule_id: &str, severity: Severity, resource_type: &str, account_id: &str, change: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("rule_id".to_string(), rule_id.to_string()),
        ("severity".to_string(), severity.as_str().to_string()),
        ("resource_type".to_string(), resource_type.to_string()),
        ("account_id".to_string(), account_id.to_string()),
        ("change".to_string(), change.to_string()),
    ])
}

/// Readable email text: what, where, why it matters, the exact fix, how to tune the rule.
pub fn email_text(finding: &Finding, change: Change, ctx: &MessageContext<'_>) -> String {
    let meta = catalog::find(&finding.rule_id).map(|r| r.meta());
    let mut out = String::new();
    let headline = match change {
        Change::New => format!("New {} finding", finding.severity),
        Change::Resolved => "Resolved finding".to_string(),
        Change::Reminder => format!("Reminder: {} finding still open", finding.severity),
    };
    let _ = writeln!(out, "{headline}: {}\n", finding.title);
    if change == Change::Resolved {
        let _ = writeln!(out, "This problem is no longer present. It was:\n  {}\n", finding.message);
    } else {
        let _ = writeln!(out, "{}\n", finding.message);
    }
    let _ = writeln!(out, "Resource:  {} ({})", finding.resource_arn, finding.resource_type.as_str());
    let _ = writeln!(out, "Account:   {}", finding.account_id);
    let _ = writeln!(out, "Severity:  {}", finding.severity);
    let _ = writeln!(out, "Rule:      {}", finding.rule_id);
    let _ = writeln!(out, "Detected:  {}", ctx.trigger);
    if let Some(meta) = meta {
        let _ = writeln!(out, "\nWhy it matters:\n  {}", meta.rationale);
    }
    if change != Change::Resolved {
        let _ = writeln!(out, "\nHow to fix:");
        for line in finding.remediation.lines() {
            let _ = writeln!(out, "  {line}");
        }
        let param = format!("{}/rules/{}", ctx.settings_prefix.trim_end_matches('/'), finding.rule_id);
        let _ = writeln!(
            out,
            "\nIf this resource is accepted, add an exception (with a reason and an expiry date) to the rule's settings\n\
             in SSM Parameter Store, {param}. Read the current value first, then write it back with the exception added:\n  \
             aws ssm get-parameter --name {param} --query Parameter.Value --output text\n  \
             aws ssm put-parameter --overwrite --type String --name {param} --value '{{\"exceptions\":[{{\"resource\":\"{}\",\"reason\":\"<why>\",\"expires\":\"<YYYY-MM-DD>\"}}]}}'\n\
             The same parameter holds the rule's thresholds and severity.",
            finding.resource_arn
        );
    }
    let _ = writeln!(out, "\nFinding fingerprint: {}", finding.fingerprint);
    out
}

/// AWS Chatbot custom notification (https protocol → Slack / Teams / Chime).
pub fn chatbot(finding: &Finding, change: Change) -> Value {
    let icon = match (change, finding.severity) {
        (Change::Resolved, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":rotating_light:",
        (_, Severity::High) => ":warning:",
        _ => ":information_source:",
    };
    let prefix = match change {
        Change::New => "",
        Change::Resolved => "Resolved: ",
        Change::Reminder => "Still open: ",
    };
    let next_steps: Vec<String> = if change == Change::Resolved {
        Vec::new()
    } else {
        finding.remediation.lines().filter(|l| !l.trim().is_empty()).take(5).map(|l| format!("`{}`", l.trim())).collect()
    };
    json!({
        "version": "1.0",
        "source": "custom",
        "id": finding.fingerprint,
        "content": {
            "textType": "client-markdown",
            "title": format!("{icon} {prefix}[{}] {}", finding.severity.as_str().to_uppercase(), finding.title),
            "description": format!("{}\n*Resource:* `{}`\n*Account:* {}  *Rule:* `{}`", finding.message, finding.resource_arn, finding.account_id, finding.rule_id),
            "nextSteps": next_steps,
            "keywords": [finding.severity.as_str(), finding.rule_id, change.as_str()],
        },
        "metadata": {
            "threadId": finding.fingerprint,
            "summary": format!("{prefix}{}: {}", finding.rule_id, finding.resource_name),
            "eventType": format!("iam-assurance:{}", change.as_str()),
            "relatedResources": [finding.resource_arn],
            "additionalContext": { "severity": finding.severity.as_str(), "account_id": finding.account_id, "change": change.as_str() },
        }
    })
}

/// A sweep's digest: counts by severity and rule, the new and resolved findings. Split into
/// several messages (`part i of n`) when the lists would not fit in one.
pub fn digests(
    account_id: &str,
    new: &[&Finding],
    resolved: &[&Finding],
    open_total: usize,
    ctx: &MessageContext<'_>,
) -> Vec<OutgoingMessage> {
    if new.is_empty() && resolved.is_empty() {
        return Vec::new();
    }
    let mut by_severity: BTreeMap<Severity, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in new {
        *by_severity.entry(f.severity).or_default() += 1;
        *by_rule.entry(f.rule_id.as_str()).or_default() += 1;
    }
    let top = new.iter().map(|f| f.severity).min().unwrap_or(Severity::Info);
    // Chunk the listed findings so each part stays well under the size limit.
    let entries: Vec<(&str, &Finding)> = new.iter().map(|f| ("new", *f)).chain(resolved.iter().map(|f| ("resolved", *f))).collect();
    let mut chunks: Vec<Vec<(&str, &Finding)>> = vec![Vec::new()];
    let mut size = 0usize;
    for entry in entries {
        let estimate = 3 * (entry.1.message.len() + entry.1.resource_arn.len() + entry.1.rule_id.len() + 160);
        if size + estimate > MAX_MESSAGE_BYTES / 2 && !chunks.last().is_some_and(Vec::is_empty) {
            chunks.push(Vec::new());
            size = 0;
        }
        size += estimate;
        if let Some(chunk) = chunks.last_mut() {
            chunk.push(entry);
        }
    }
    let parts = chunks.len();
    let severity_line =
        Severity::ALL.iter().map(|s| format!("{} {}", by_severity.get(s).copied().unwrap_or(0), s)).collect::<Vec<_>>().join(", ");
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let part = if parts > 1 { format!(" (part {} of {parts})", i + 1) } else { String::new() };
            let subject_text = subject(&format!(
                "[iam-assurance] {account_id}: {} new, {} resolved, {open_total} open{part}",
                new.len(),
                resolved.len()
            ));
            let mut text = String::new();
            let _ = writeln!(text, "IAM assurance sweep of account {account_id}{part}\nTrigger: {}\n", ctx.trigger);
            let _ = writeln!(text, "{} new, {} resolved, {open_total} open in total.", new.len(), resolved.len());
            let _ = writeln!(text, "New by severity: {severity_line}");
            if !by_rule.is_empty() {
                let _ = writeln!(text, "New by rule:");
                for (rule, n) in &by_rule {
                    let _ = writeln!(text, "  {rule:<36} {n}");
                }
            }
            for (label, title) in [("new", "New findings"), ("resolved", "Resolved findings")] {
                let listed: Vec<_> = chunk.iter().filter(|(l, _)| *l == label).collect();
                if listed.is_empty() {
                    continue;
                }
                let _ = writeln!(text, "\n{title}:");
                for (_, f) in listed {
                    let _ = writeln!(text, "  [{}] {} - {}", f.severity.as_str().to_uppercase(), f.rule_id, f.message);
                }
            }
            let _ = writeln!(text, "\nEach new finding is also sent as its own message with the exact fix.");
            let listed: Vec<Value> = chunk
                .iter()
                .map(|(l, f)| json!({"change": l, "rule_id": f.rule_id, "severity": f.severity, "resource_arn": f.resource_arn, "fingerprint": f.fingerprint, "message": f.message}))
                .collect();
            let default = json!({
                "digest": true, "account_id": account_id, "trigger": ctx.trigger, "part": i + 1, "parts": parts,
                "new": new.len(), "resolved": resolved.len(), "open": open_total,
                "new_by_severity": by_severity.iter().map(|(k, v)| (k.as_str(), *v)).collect::<BTreeMap<_, _>>(),
                "new_by_rule": by_rule, "findings": listed,
            });
            let chat = json!({
                "version": "1.0", "source": "custom",
                "content": {
                    "textType": "client-markdown",
                    "title": format!(":bar_chart: IAM sweep of {account_id}: {} new, {} resolved{part}", new.len(), resolved.len()),
                    "description": format!("New by severity: {severity_line}. {open_total} open in total."),
                    "keywords": ["digest", account_id],
                },
                "metadata": { "summary": subject_text, "eventType": "iam-assurance:digest" }
            });
            OutgoingMessage {
                subject: subject_text.clone(),
                message_json: json!({"default": default.to_string(), "email": text, "https": chat.to_string()}).to_string(),
                attributes: attributes("digest", top, "AWS::::Account", account_id, "digest"),
                dedup_id: format!("digest-{}", i + 1),
            }
        })
        .collect()
}
