//! What goes to SNS: one message per finding that is new, resolved or due a reminder, and a
//! digest per sweep when anything changed. Pure rendering; the SNS client is in the adapters.
//!
//! Each message is published with `MessageStructure=json`: `default` is the finding JSON,
//! `email` readable text a person can act on from the email alone (what, which resource, why
//! it matters, the exact fix, the rule and how to change it or add an exception), `https` AWS
//! Chatbot's custom notification format (so Slack shows a title, the severity and the fix).
//! Message attributes `rule_id`, `severity`, `resource_type`, `account_id`, `change` drive
//! SNS filter policies.
//!
//! Limits: subjects are ASCII, on one line, at most [`MAX_SUBJECT`] characters; a message
//! (body, subject and attributes) at most [`MAX_MESSAGE_BYTES`]. A finding too large for that
//! is sent without its details and with shortened texts; a digest too large is split into
//! parts, never truncated.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, Utc};
use iam_assurance_aws::sns::OutgoingMessage;
use iam_assurance_rules::report::Finding;
use iam_assurance_rules::{catalog, ResourceType, Severity};

use crate::alerts::{is_incident, History, NoticeKind};
use serde_json::{json, Map, Value};

/// SNS limits: subject under 100 characters; a whole message (body + attributes) at most
/// 256 KiB. We keep a margin for the JSON envelope SNS adds to https and SQS deliveries.
pub const MAX_SUBJECT: usize = 99;
pub const MAX_MESSAGE_BYTES: usize = 240 * 1024;

/// What we keep to in AWS Chatbot notifications (Slack shows long texts poorly anyway).
const CHAT_TITLE_MAX: usize = 250;
const CHAT_DESCRIPTION_MAX: usize = 3500;
const CHAT_STEP_MAX: usize = 600;
const CHAT_REMEDIATION_STEPS: usize = 5;
/// Room kept in a digest part for what every part repeats (the counts by severity and rule,
/// the Chatbot summary).
const DIGEST_HEADER_BYTES: usize = 16 * 1024;

/// Context every message needs.
pub struct MessageContext<'a> {
    /// `scheduled sweep`, `CloudTrail event AttachUserPolicy 2026-...`.
    pub trigger: &'a str,
    pub settings_prefix: &'a str,
    /// When the run evaluated.
    pub now: DateTime<Utc>,
    /// The reminder interval (global setting), for the footer.
    pub renotify_hours: u32,
}

impl MessageContext<'_> {
    fn rule_parameter(&self, rule_id: &str) -> String {
        format!("{}/rules/{rule_id}", self.settings_prefix.trim_end_matches('/'))
    }

    fn global_parameter(&self) -> String {
        format!("{}/global", self.settings_prefix.trim_end_matches('/'))
    }
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

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// "3 days", "5 hours", "less than an hour".
fn span(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let d = to - from;
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if d >= Duration::days(2) {
        plural(d.num_days(), "day")
    } else if d >= Duration::hours(1) {
        plural(d.num_hours(), "hour")
    } else {
        "less than an hour".to_string()
    }
}

/// At most `max` bytes, cut at a character boundary with an ellipsis.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

/// The subject of a finding message: severity, what changed, which resource, the rule's
/// title, and the account when there is room.
fn finding_subject(finding: &Finding, change: NoticeKind) -> String {
    let sev = finding.severity.as_str().to_uppercase();
    let head = match change {
        NoticeKind::New => format!("[{sev}] "),
        NoticeKind::Reminder => format!("[{sev}] Still open: "),
        NoticeKind::Resolved => "[RESOLVED] ".to_string(),
    };
    if finding.resource_type == ResourceType::Account {
        return subject(&format!("{head}account {}: {}", finding.account_id, finding.title));
    }
    let full = format!("{head}{}: {} ({})", finding.resource_name, finding.title, finding.account_id);
    if full.len() <= MAX_SUBJECT {
        return subject(&full);
    }
    subject(&format!("{head}{}: {}", finding.resource_name, finding.title))
}

/// The message for one finding. Never larger than [`MAX_MESSAGE_BYTES`]: a finding whose
/// details or texts would not fit is sent without its details and with shortened texts.
pub fn finding_message(finding: &Finding, change: NoticeKind, history: &History, ctx: &MessageContext<'_>) -> OutgoingMessage {
    let message = render_finding(finding, change, history, ctx);
    if message.payload_size() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut small = finding.clone();
    small.details = json!({"omitted": format!("{} bytes of details, too large for one SNS message; run `iam-assurance sweep --format json` to see them", finding.details.to_string().len())});
    small.message = cut(&finding.message, 8 * 1024);
    small.remediation = cut(&finding.remediation, 32 * 1024);
    render_finding(&small, change, history, ctx)
}

fn render_finding(finding: &Finding, change: NoticeKind, history: &History, ctx: &MessageContext<'_>) -> OutgoingMessage {
    let mut default = Map::new();
    default.insert("change".into(), json!(change));
    default.insert("trigger".into(), json!(ctx.trigger));
    if let Some(t) = history.first_seen {
        default.insert("first_seen".into(), json!(t));
    }
    if let Some(t) = history.last_notified {
        default.insert("last_notified".into(), json!(t));
    }
    default.insert("finding".into(), serde_json::to_value(finding).unwrap_or(Value::Null));
    let body = json!({
        "default": Value::Object(default).to_string(),
        "email": email_text(finding, change, history, ctx),
        "https": chatbot(finding, change, history, ctx).to_string(),
    });
    OutgoingMessage {
        subject: finding_subject(finding, change),
        message_json: body.to_string(),
        attributes: attributes(&finding.rule_id, finding.severity, finding.resource_type.as_str(), &finding.account_id, change.as_str()),
        dedup_id: format!("{}-{}-{}", finding.fingerprint, change.as_str(), ctx.now.timestamp()),
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

fn indented(out: &mut String, text: &str) {
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "  {line}");
        }
    }
}

fn resource_block(out: &mut String, finding: &Finding) {
    if finding.resource_type == ResourceType::Account {
        let _ = writeln!(out, "  Resource:  the account ({})", finding.resource_type.as_str());
    } else {
        let _ = writeln!(out, "  Resource:  {} ({})", finding.resource_name, finding.resource_type.as_str());
    }
    let _ = writeln!(out, "             {}", finding.resource_arn);
    let _ = writeln!(out, "  Account:   {}", finding.account_id);
    let _ = writeln!(out, "  Severity:  {}", finding.severity);
    let _ = writeln!(out, "  Rule:      {}", finding.rule_id);
}

/// Readable email text: what, which resource, why it matters, the exact fix, the rule and how
/// to change its settings or add an exception. Plain text, no links.
pub fn email_text(finding: &Finding, change: NoticeKind, history: &History, ctx: &MessageContext<'_>) -> String {
    let meta = catalog::find(&finding.rule_id).map(|r| r.meta());
    let sev = finding.severity.as_str().to_uppercase();
    let mut out = String::new();
    if change == NoticeKind::Resolved {
        let _ = writeln!(out, "RESOLVED in AWS account {}: no action needed\n", finding.account_id);
        let _ = writeln!(out, "{}", finding.title);
        let since = history.first_seen.map(|t| format!(", reported since {}", when(t))).unwrap_or_default();
        let _ = writeln!(out, "This is no longer the case{since}:");
        indented(&mut out, &finding.message);
        out.push('\n');
        resource_block(&mut out, finding);
        if let Some(t) = history.first_seen {
            let _ = writeln!(out, "  Open:      from {} to {} ({})", when(t), when(ctx.now), span(t, ctx.now));
        }
        let _ = writeln!(out, "  Found by:  {}, {}", ctx.trigger, when(ctx.now));
        let _ = writeln!(out, "\nIf the problem comes back, a new message will say so.");
        let _ = writeln!(out, "\n--\niam-assurance, finding {}", finding.fingerprint);
        return out;
    }
    match change {
        NoticeKind::Reminder => {
            let open_for = history.first_seen.map(|t| format!(", open for {}", span(t, ctx.now))).unwrap_or_default();
            let _ = writeln!(out, "REMINDER: {sev} finding still open in AWS account {}{open_for}\n", finding.account_id);
        }
        _ => {
            let _ = writeln!(out, "NEW {sev} FINDING in AWS account {}\n", finding.account_id);
        }
    }
    let _ = writeln!(out, "{}", finding.title);
    indented(&mut out, &finding.message);
    out.push('\n');
    resource_block(&mut out, finding);
    let _ = writeln!(out, "  Found by:  {}, {}", ctx.trigger, when(ctx.now));
    if change == NoticeKind::Reminder {
        if let Some(t) = history.first_seen {
            let _ = writeln!(out, "  Open since {}", when(t));
        }
        if let Some(t) = history.last_notified {
            let _ = writeln!(out, "  Last message {}", when(t));
        }
    }
    if let Some(meta) = meta {
        let _ = writeln!(out, "\nWHY IT MATTERS");
        indented(&mut out, meta.rationale);
    }
    let _ = writeln!(out, "\nHOW TO FIX");
    indented(&mut out, &finding.remediation);
    let incident = is_incident(finding);
    let param = ctx.rule_parameter(&finding.rule_id);
    let file = format!("{}.json", finding.rule_id);
    if !incident {
        let _ = writeln!(
            out,
            "\n  Once it is fixed, the next sweep (hourly) or the change's own CloudTrail event sends a \"resolved\" message."
        );
        let expires = (ctx.now + Duration::days(90)).format("%Y-%m-%d");
        let _ = writeln!(out, "\nIF THIS IS ACCEPTED, ADD AN EXCEPTION");
        let _ = writeln!(
            out,
            "  An exception reports the finding as \"suppressed\" (not resolved) and stops these messages until it\n  \
             expires. It goes in the rule's settings, the SSM parameter\n    {param}\n  \
             To add it and keep the other settings in that parameter (needs jq):\n"
        );
        let _ = writeln!(out, "  aws ssm get-parameter --name {param} --query Parameter.Value --output text \\");
        let _ = writeln!(
            out,
            "    | jq -c '.exceptions += [{{\"resource\": \"{}\", \"reason\": \"WHY THIS IS ACCEPTED\", \"expires\": \"{expires}\"}}]' > {file}",
            finding.resource_arn
        );
        let _ = writeln!(out, "  aws ssm put-parameter --overwrite --name {param} --value file://{file}");
    }

    let _ = writeln!(out, "\nCHANGE THE RULE");
    let _ = writeln!(out, "  The rule's settings are in the SSM parameter {param}; a change applies from the next run:");
    let _ = writeln!(out, "    severity: critical, high, medium, low or info (now {})", finding.severity);
    let _ = writeln!(out, "    enabled: false turns the rule off");
    let defaults = catalog::find(&finding.rule_id).map(|r| r.default_params()).unwrap_or(Value::Null);
    let mut example = format!(".severity = \"{}\"", if finding.severity == Severity::Low { "info" } else { "low" });
    if let Some(meta) = meta {
        for p in meta.params {
            let default = defaults.get(p.name).map(Value::to_string).unwrap_or_else(|| "-".into());
            let _ = writeln!(out, "    {} (default {default}): {}", p.name, p.description);
        }
        if let Some(p) = meta.params.iter().find(|p| defaults.get(p.name).is_some_and(Value::is_number)) {
            if let Some(n) = defaults.get(p.name).and_then(Value::as_u64) {
                example = format!(".{} = {}", p.name, n.saturating_mul(2).max(1));
            }
        }
    }
    let _ = writeln!(out, "  For example:");
    let _ = writeln!(out, "  aws ssm get-parameter --name {param} --query Parameter.Value --output text \\");
    let _ = writeln!(out, "    | jq -c '{example}' > {file}");
    let _ = writeln!(out, "  aws ssm put-parameter --overwrite --name {param} --value file://{file}");

    let cadence = if incident {
        "An event like this one is reported once".to_string()
    } else if ctx.renotify_hours == 0 {
        "No reminders are sent while it stays open".to_string()
    } else {
        format!("A reminder follows every {} hours while it stays open", ctx.renotify_hours)
    };
    let _ = writeln!(
        out,
        "\n--\niam-assurance, finding {}. {cadence} (renotify_hours and notify_min_severity in the SSM parameter {}).",
        finding.fingerprint,
        ctx.global_parameter()
    );
    out
}

/// AWS Chatbot custom notification (https protocol → Slack / Teams / Chime): the title shows
/// the severity and the change, the description what and where, the next steps the fix.
pub fn chatbot(finding: &Finding, change: NoticeKind, history: &History, ctx: &MessageContext<'_>) -> Value {
    let icon = match (change, finding.severity) {
        (NoticeKind::Resolved, _) => ":white_check_mark:",
        (_, Severity::Critical) => ":rotating_light:",
        (_, Severity::High) => ":warning:",
        _ => ":information_source:",
    };
    let sev = finding.severity.as_str().to_uppercase();
    let label = match change {
        NoticeKind::New => "New",
        NoticeKind::Resolved => "Resolved",
        NoticeKind::Reminder => "Still open",
    };
    let what = if finding.resource_type == ResourceType::Account { "account".to_string() } else { finding.resource_name.clone() };
    let title = cut(&format!("{icon} *{sev}* {label}: {} ({what})", finding.title), CHAT_TITLE_MAX);
    let mut description = String::new();
    if change == NoticeKind::Resolved {
        description.push_str("No longer the case: ");
    }
    description.push_str(&cut(&finding.message, CHAT_DESCRIPTION_MAX - 600));
    let _ = write!(
        description,
        "\n*Resource:* `{}`\n*Account:* {}   *Rule:* `{}`   *Severity:* {}",
        finding.resource_arn, finding.account_id, finding.rule_id, finding.severity
    );
    if let Some(t) = history.first_seen.filter(|_| change != NoticeKind::New) {
        let _ = write!(description, "\n*Open since:* {} ({})", when(t), span(t, ctx.now));
    }
    let next_steps: Vec<String> = if change == NoticeKind::Resolved {
        vec!["No action needed.".to_string()]
    } else {
        let mut steps: Vec<String> = finding
            .remediation
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(CHAT_REMEDIATION_STEPS)
            .map(|l| match l.strip_prefix('#') {
                Some(comment) => cut(comment.trim(), CHAT_STEP_MAX),
                None => format!("`{}`", cut(&l.replace('`', "'"), CHAT_STEP_MAX - 2)),
            })
            .collect();
        if finding.remediation.lines().filter(|l| !l.trim().is_empty()).count() > CHAT_REMEDIATION_STEPS {
            steps.push("The email has the remaining steps.".to_string());
        }
        if !is_incident(finding) {
            let param = ctx.rule_parameter(&finding.rule_id);
            steps.push(format!("Accepted? Add an exception to the SSM parameter `{param}` (the email has the command)."));
        }
        steps
    };
    json!({
        "version": "1.0",
        "source": "custom",
        "id": format!("{}-{}-{}", finding.fingerprint, change.as_str(), ctx.now.timestamp()),
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": cut(&description, CHAT_DESCRIPTION_MAX),
            "nextSteps": next_steps,
            "keywords": [finding.severity.as_str(), finding.rule_id, change.as_str(), finding.account_id],
        },
        "metadata": {
            "threadId": finding.fingerprint,
            "summary": finding_subject(finding, change),
            "eventType": format!("iam-assurance:{}", change.as_str()),
            "relatedResources": [finding.resource_arn],
            "additionalContext": {
                "severity": finding.severity.as_str(),
                "rule_id": finding.rule_id,
                "account_id": finding.account_id,
                "change": change.as_str(),
                "fingerprint": finding.fingerprint,
            },
        }
    })
}

/// What a sweep changed, for its digest.
pub struct DigestInput<'a> {
    pub account_id: &'a str,
    pub new: &'a [&'a Finding],
    pub resolved: &'a [&'a Finding],
    /// Reminders sent by the same sweep.
    pub reminders: usize,
    /// Every open finding of the sweep (for the totals).
    pub open: &'a [&'a Finding],
}

#[derive(Default, Clone, Copy)]
struct Counts {
    new: usize,
    resolved: usize,
    open: usize,
}

/// A sweep's digest: counts by severity and rule, then the new and resolved findings, one per
/// line. Split into parts (`part i of n`) when one message would exceed the size limit; nothing
/// is cut. None when nothing was new or resolved. Every part rendered at once: see [`digest`]
/// for one part at a time.
pub fn digests(input: &DigestInput<'_>, ctx: &MessageContext<'_>) -> Vec<OutgoingMessage> {
    digest(input, ctx).messages().collect()
}

/// A sweep's digest cut into parts that each fit one message (see [`digests`]), each rendered
/// only when asked for: a first sweep of a large account has dozens of parts of up to 256 KB,
/// which need not all be held at once.
pub struct Digest<'d> {
    input: &'d DigestInput<'d>,
    ctx: &'d MessageContext<'d>,
    parts: Vec<Vec<(NoticeKind, &'d Finding)>>,
}

impl<'d> Digest<'d> {
    /// How many parts (messages) it has; 0 when nothing was new or resolved.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    fn render(&self, index: usize) -> OutgoingMessage {
        digest_part(self.input, &self.parts[index], index + 1, self.parts.len(), self.ctx)
    }

    /// The parts in order, each rendered when the iterator reaches it.
    pub fn messages(&self) -> impl Iterator<Item = OutgoingMessage> + Send + '_ {
        (0..self.parts.len()).map(move |i| self.render(i))
    }
}

/// The parts of a sweep's digest (see [`Digest`]). Greedy parts by each entry's bytes in the
/// message (its email line, and its JSON entry, escaped twice as `default` is a JSON string
/// inside the JSON body), then each part rendered and measured (and dropped): a part over the
/// limit is halved until every part fits, with the final part count in every subject.
pub fn digest<'d>(input: &'d DigestInput<'d>, ctx: &'d MessageContext<'d>) -> Digest<'d> {
    if input.new.is_empty() && input.resolved.is_empty() {
        return Digest { input, ctx, parts: Vec::new() };
    }
    let entries = input.new.iter().map(|f| (NoticeKind::New, *f)).chain(input.resolved.iter().map(|f| (NoticeKind::Resolved, *f)));
    let escaped = |text: &str| serde_json::to_string(text).map_or(text.len() * 2, |s| s.len());
    let budget = MAX_MESSAGE_BYTES - DIGEST_HEADER_BYTES;
    let mut parts: Vec<Vec<(NoticeKind, &Finding)>> = vec![Vec::new()];
    let mut size = 0usize;
    for entry in entries {
        let cost = escaped(&digest_line(entry.1)) + escaped(&digest_entry(entry.0, entry.1).to_string()) + 8;
        if size + cost > budget && !parts.last().is_some_and(Vec::is_empty) {
            parts.push(Vec::new());
            size = 0;
        }
        size += cost;
        if let Some(part) = parts.last_mut() {
            part.push(entry);
        }
    }
    loop {
        let n = parts.len();
        let over: Vec<bool> = parts
            .iter()
            .enumerate()
            .map(|(i, part)| part.len() > 1 && digest_part(input, part, i + 1, n, ctx).payload_size() > MAX_MESSAGE_BYTES)
            .collect();
        if !over.contains(&true) {
            return Digest { input, ctx, parts };
        }
        let mut split: Vec<Vec<(NoticeKind, &Finding)>> = Vec::new();
        for (mut part, over) in parts.into_iter().zip(over) {
            if over {
                let second = part.split_off(part.len() / 2);
                split.push(part);
                split.push(second);
            } else {
                split.push(part);
            }
        }
        parts = split;
    }
}

/// One finding in a digest's `default` JSON.
fn digest_entry(change: NoticeKind, f: &Finding) -> Value {
    json!({"change": change, "rule_id": f.rule_id, "severity": f.severity, "resource_arn": f.resource_arn,
           "fingerprint": f.fingerprint, "message": cut(&f.message, 400)})
}

/// One line of a digest's list: severity, rule, resource, and the finding's message (cut to
/// keep a line readable; each finding's own message has it whole).
fn digest_line(f: &Finding) -> String {
    let what = if f.resource_type == ResourceType::Account { "(account)".to_string() } else { f.resource_name.clone() };
    format!("  {:<8}  {:<32}  {what}\n      {}", f.severity.as_str().to_uppercase(), f.rule_id, cut(&f.message, 400))
}

fn digest_part(
    input: &DigestInput<'_>,
    part: &[(NoticeKind, &Finding)],
    index: usize,
    parts: usize,
    ctx: &MessageContext<'_>,
) -> OutgoingMessage {
    let account = input.account_id;
    let mut by_severity: BTreeMap<Severity, Counts> = Severity::ALL.iter().map(|s| (*s, Counts::default())).collect();
    let mut by_rule: BTreeMap<&str, Counts> = BTreeMap::new();
    for f in input.new {
        by_severity.entry(f.severity).or_default().new += 1;
        by_rule.entry(f.rule_id.as_str()).or_default().new += 1;
    }
    for f in input.resolved {
        by_severity.entry(f.severity).or_default().resolved += 1;
        by_rule.entry(f.rule_id.as_str()).or_default().resolved += 1;
    }
    for f in input.open {
        by_severity.entry(f.severity).or_default().open += 1;
        by_rule.entry(f.rule_id.as_str()).or_default().open += 1;
    }
    let (new, resolved, open) = (input.new.len(), input.resolved.len(), input.open.len());
    let part_label = if parts > 1 { format!(" (part {index} of {parts})") } else { String::new() };
    let subject_text = subject(&format!("[iam-assurance] {account}: {new} new, {resolved} resolved, {open} open{part_label}"));

    let mut text = String::new();
    let _ = writeln!(text, "IAM ASSURANCE: WHAT CHANGED IN AWS ACCOUNT {account}{part_label}");
    let _ = writeln!(text, "{}, {}\n", ctx.trigger, when(ctx.now));
    let reminders = match input.reminders {
        0 => String::new(),
        1 => " 1 reminder sent.".to_string(),
        n => format!(" {n} reminders sent."),
    };
    let _ = writeln!(text, "{new} new, {resolved} resolved, {open} open in total.{reminders}\n");
    let _ = writeln!(text, "  {:<10} {:>6} {:>9} {:>6}", "SEVERITY", "NEW", "RESOLVED", "OPEN");
    for (severity, c) in &by_severity {
        let _ = writeln!(text, "  {:<10} {:>6} {:>9} {:>6}", severity.as_str(), c.new, c.resolved, c.open);
    }
    let _ = writeln!(text, "\n  {:<36} {:>6} {:>9} {:>6}", "RULE", "NEW", "RESOLVED", "OPEN");
    for (rule, c) in by_rule.iter().filter(|(_, c)| c.new + c.resolved > 0) {
        let _ = writeln!(text, "  {rule:<36} {:>6} {:>9} {:>6}", c.new, c.resolved, c.open);
    }
    for (change, heading) in [(NoticeKind::New, "NEW"), (NoticeKind::Resolved, "RESOLVED")] {
        let listed: Vec<&Finding> = part.iter().filter(|(c, _)| *c == change).map(|(_, f)| *f).collect();
        if listed.is_empty() {
            continue;
        }
        let total = if change == NoticeKind::New { new } else { resolved };
        let of = if listed.len() < total { format!(", {} of {total} in this part", listed.len()) } else { String::new() };
        let _ = writeln!(text, "\n{heading} ({}{of})", listed.len());
        for f in listed {
            let _ = writeln!(text, "{}", digest_line(f));
        }
    }
    let _ = writeln!(text, "\nEach new and resolved finding also arrives as its own message; a new one's has the exact fix.");
    let _ = writeln!(text, "\n--\niam-assurance digest. Settings: the SSM parameters under {}.", ctx.settings_prefix.trim_end_matches('/'));

    let listed: Vec<Value> = part.iter().map(|(c, f)| digest_entry(*c, f)).collect();
    let count = |c: &Counts| json!({"new": c.new, "resolved": c.resolved, "open": c.open});
    let severity_counts: Map<String, Value> = by_severity.iter().map(|(s, c)| (s.as_str().to_string(), count(c))).collect();
    let rule_counts: Map<String, Value> = by_rule.iter().map(|(r, c)| (r.to_string(), count(c))).collect();
    let default = json!({
        "digest": true, "account_id": account, "trigger": ctx.trigger, "evaluated_at": ctx.now, "part": index, "parts": parts,
        "new": new, "resolved": resolved, "reminders": input.reminders, "open": open,
        "by_severity": severity_counts, "by_rule": rule_counts, "findings": listed,
    });
    let severity_line = by_severity
        .iter()
        .filter(|(_, c)| c.new + c.resolved > 0)
        .map(|(s, c)| format!("{}: {} new, {} resolved", s.as_str(), c.new, c.resolved))
        .collect::<Vec<_>>()
        .join("; ");
    let mut description = format!("{severity_line}. {open} open in total.");
    for (c, f) in part.iter().take(10) {
        let mark = if *c == NoticeKind::Resolved { ":white_check_mark:" } else { "•" };
        let _ = write!(description, "\n{mark} *{}* `{}` {}", f.severity.as_str(), f.rule_id, cut(&f.message, 200));
    }
    if part.len() > 10 {
        let _ = write!(description, "\n…and {} more in this part (the email lists them all).", part.len() - 10);
    }
    let chat = json!({
        "version": "1.0", "source": "custom", "id": format!("digest-{account}-{}-{index}", ctx.now.timestamp()),
        "content": {
            "textType": "client-markdown",
            "title": cut(&format!(":bar_chart: IAM changes in {account}: {new} new, {resolved} resolved{part_label}"), CHAT_TITLE_MAX),
            "description": cut(&description, CHAT_DESCRIPTION_MAX),
            "keywords": ["digest", account],
        },
        "metadata": { "summary": subject_text, "eventType": "iam-assurance:digest" }
    });
    let top = input.new.iter().chain(input.resolved).map(|f| f.severity).min().unwrap_or(Severity::Info);
    OutgoingMessage {
        subject: subject_text,
        message_json: json!({"default": default.to_string(), "email": text, "https": chat.to_string()}).to_string(),
        attributes: attributes("digest", top, "AWS::::Account", account, "digest"),
        dedup_id: format!("digest-{}-{index}", ctx.now.timestamp()),
    }
}

/// What one account's sweep of an organization's round reports to the round: its open findings
/// by severity and what it published (stored in the state table until the round's digest).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoundSummary {
    pub account_id: String,
    /// Open findings by severity (`critical`, `high`...).
    pub open: BTreeMap<String, usize>,
    /// The findings it published as new, then as resolved, one line each (at most
    /// [`ROUND_LINES`] each; `more_new` / `more_resolved` count the rest).
    pub new: Vec<String>,
    pub resolved: Vec<String>,
    pub more_new: usize,
    pub more_resolved: usize,
    pub reminders: usize,
}

/// Lines of one account kept in a round's digest, per kind of change.
pub const ROUND_LINES: usize = 200;

impl RoundSummary {
    /// The summary of one account's sweep: its open findings, and what it published.
    pub fn of(account_id: &str, open: &[&Finding], published: &[(NoticeKind, &Finding)]) -> Self {
        let mut summary = RoundSummary { account_id: account_id.to_string(), ..Default::default() };
        for f in open {
            *summary.open.entry(f.severity.as_str().to_string()).or_default() += 1;
        }
        for (kind, f) in published {
            let (lines, more) = match kind {
                NoticeKind::New => (&mut summary.new, &mut summary.more_new),
                NoticeKind::Resolved => (&mut summary.resolved, &mut summary.more_resolved),
                NoticeKind::Reminder => {
                    summary.reminders += 1;
                    continue;
                }
            };
            if lines.len() < ROUND_LINES {
                lines.push(digest_line(f));
            } else {
                *more += 1;
            }
        }
        summary
    }

    /// Whether the sweep published anything (a change or a reminder).
    pub fn published_anything(&self) -> bool {
        self.new_count() + self.resolved_count() + self.reminders > 0
    }

    /// The summary of an account swept twice in one round (a message delivered twice): the
    /// changes of both, each line once (a change is published by one run only), and the later
    /// run's open findings.
    pub fn merged(&self, later: &RoundSummary) -> RoundSummary {
        fn union(a: &[String], more_a: usize, b: &[String], more_b: usize) -> (Vec<String>, usize) {
            let mut lines = a.to_vec();
            let mut more = more_a + more_b;
            for line in b {
                if lines.contains(line) {
                    continue;
                }
                if lines.len() < ROUND_LINES {
                    lines.push(line.clone());
                } else {
                    more += 1;
                }
            }
            (lines, more)
        }
        let (new, more_new) = union(&self.new, self.more_new, &later.new, later.more_new);
        let (resolved, more_resolved) = union(&self.resolved, self.more_resolved, &later.resolved, later.more_resolved);
        RoundSummary {
            account_id: self.account_id.clone(),
            open: later.open.clone(),
            new,
            resolved,
            more_new,
            more_resolved,
            reminders: self.reminders + later.reminders,
        }
    }

    fn new_count(&self) -> usize {
        self.new.len() + self.more_new
    }

    fn resolved_count(&self) -> usize {
        self.resolved.len() + self.more_resolved
    }
}

/// The organization's digest of a round: counts by account and severity, then each account's
/// changes; split into parts within SNS's limit. `missing`: accounts of the round that never
/// reported (their sweeps failed every try), said at the top.
pub fn organization_digest(round: &str, summaries: &[RoundSummary], missing: usize, ctx: &MessageContext<'_>) -> Vec<OutgoingMessage> {
    let mut summaries: Vec<&RoundSummary> = summaries.iter().collect();
    summaries.sort_by(|a, b| a.account_id.cmp(&b.account_id));
    let new: usize = summaries.iter().map(|s| s.new_count()).sum();
    let resolved: usize = summaries.iter().map(|s| s.resolved_count()).sum();
    let mut head = String::new();
    let _ = writeln!(head, "iam-assurance, organization round {round} ({}): {} accounts swept.", ctx.trigger, summaries.len());
    if missing > 0 {
        let _ = writeln!(
            head,
            "{missing} account(s) of the round did not report: their sweeps failed every try (see the accounts dead-letter queue)."
        );
    }
    let _ = writeln!(head, "{new} new, {resolved} resolved.\n");
    let _ = writeln!(
        head,
        "{:<14} {:>8} {:>6} {:>6} {:>4} {:>5} {:>5} {:>8}",
        "ACCOUNT", "CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO", "NEW", "RESOLVED"
    );
    for s in &summaries {
        let n = |sev: &str| s.open.get(sev).copied().unwrap_or(0);
        let _ = writeln!(
            head,
            "{:<14} {:>8} {:>6} {:>6} {:>4} {:>5} {:>5} {:>8}",
            s.account_id,
            n("critical"),
            n("high"),
            n("medium"),
            n("low"),
            n("info"),
            s.new_count(),
            s.resolved_count()
        );
    }
    // Each account's changes, as blocks that go whole into a part.
    let mut blocks: Vec<String> = Vec::new();
    for s in summaries.iter().filter(|s| s.new_count() + s.resolved_count() > 0) {
        let mut block = format!("\nAccount {}\n", s.account_id);
        for (title, lines, more) in [("New", &s.new, s.more_new), ("Resolved", &s.resolved, s.more_resolved)] {
            if lines.is_empty() && more == 0 {
                continue;
            }
            let _ = writeln!(block, "  {title}:");
            for line in lines.iter() {
                let _ = writeln!(block, "  {line}");
            }
            if more > 0 {
                let _ = writeln!(block, "    ... and {more} more");
            }
        }
        blocks.push(block);
    }
    let budget = MAX_MESSAGE_BYTES - DIGEST_HEADER_BYTES - head.len() * 3;
    let mut parts: Vec<String> = vec![String::new()];
    for block in blocks {
        let block = if block.len() > budget { cut(&block, budget) } else { block };
        if parts.last().is_some_and(|p| !p.is_empty() && p.len() + block.len() > budget) {
            parts.push(String::new());
        }
        if let Some(part) = parts.last_mut() {
            part.push_str(&block);
        }
    }
    let total = parts.len();
    let severity = summaries
        .iter()
        .flat_map(|s| s.open.keys())
        .filter_map(|k| Severity::ALL.into_iter().find(|v| v.as_str() == k))
        .min()
        .unwrap_or(Severity::Info);
    parts
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let part = if total > 1 { format!(" (part {} of {total})", i + 1) } else { String::new() };
            let email = format!("{head}{body}");
            let default = json!({
                "change": "digest",
                "round": round,
                "accounts": summaries.len(),
                "missing": missing,
                "new": new,
                "resolved": resolved,
                "part": i + 1,
                "parts": total,
                "summaries": summaries.iter().map(|s| json!({"account_id": s.account_id, "open": s.open, "new": s.new_count(), "resolved": s.resolved_count()})).collect::<Vec<_>>(),
            });
            let chat = json!({
                "version": "1.0",
                "source": "custom",
                "content": {
                    "textType": "client-markdown",
                    "title": format!("iam-assurance organization round: {new} new, {resolved} resolved across {} accounts{part}", summaries.len()),
                    "description": cut(&email, CHAT_DESCRIPTION_MAX),
                },
            });
            OutgoingMessage {
                subject: subject(&format!("[iam-assurance] Organization: {new} new, {resolved} resolved, {} accounts{part}", summaries.len())),
                message_json: json!({"default": default.to_string(), "email": email, "https": chat.to_string()}).to_string(),
                attributes: attributes("digest", severity, "AWS::Organizations::Organization", "organization", "digest"),
                dedup_id: format!("round-{round}-{}", i + 1),
            }
        })
        .collect()
}
