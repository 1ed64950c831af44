//! What a run tells people: the findings it saw, compared with the finding state, become
//! `new`, `resolved` and `reminder` notices plus the state writes that record them.
//!
//! Pure: plain data in ([`Observation`], the prior [`StateItem`]s), plain data out ([`Plan`]).
//! The live path (`live.rs`) loads the state, claims each notice with a conditional write,
//! publishes what it claimed, and releases the claims of what it could not publish.
//!
//! The rules, for a finding present in the run:
//! - **new**: open now, and not open in the state (absent, resolved, or suppressed before), or
//!   open in the state but never notified (it was below `notify_min_severity`);
//! - **reminder** (sweeps only): open now and in the state, last notified at least
//!   `renotify_hours` ago (0: never); incidents (root activity seen in CloudTrail) are
//!   notified once and never reminded;
//! - **suppressed** by an exception: never notified. A finding that was open becomes
//!   `suppressed` in the state, silently: nothing was fixed, so it is not "resolved". If the
//!   exception expires or is removed, it is open again and published as new.
//!
//! For a finding open in the state and absent from the run:
//! - **resolved** only when the run can tell: its rule was evaluated this run (a rule that was
//!   `not_evaluated` or disabled never resolves anything) and the run covered its resource (a
//!   sweep covers the account; an event only the entities it named). Incidents are never
//!   resolved; they expire. A resolved message is sent only for a finding whose new (or
//!   reminder) message was sent: people hear "resolved" only about what they were told.
//!
//! Findings less severe than `notify_min_severity` are tracked like the others but never
//! published, in any of the three kinds.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use iam_assurance_aws::state::{Expect, ItemStatus, StateItem, StateWrite};
use iam_assurance_rules::report::{text_hash, Finding, FindingStatus};
use iam_assurance_rules::rules::root::ROOT_USAGE;
use iam_assurance_rules::settings::GlobalSettings;
use iam_assurance_rules::{catalog, ResourceType};
use serde::Serialize;
use serde_json::{json, Value};

/// Why a finding is being published: the `change` attribute of its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    New,
    Resolved,
    Reminder,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::New => "new",
            NoticeKind::Resolved => "resolved",
            NoticeKind::Reminder => "reminder",
        }
    }
}

/// What the finding state knows about a finding, for the message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct History {
    /// When it was first seen open (this time round).
    pub first_seen: Option<DateTime<Utc>>,
    /// When a message about it was last published, before this one.
    pub last_notified: Option<DateTime<Utc>>,
}

/// Days a resolved finding's item is kept (then DynamoDB's TTL deletes it).
pub const RESOLVED_RETENTION_DAYS: i64 = 30;
/// Days an incident's item is kept after it was first seen: long past any redelivery or retry
/// of its event (Lambda gives up on an event after 6 hours).
pub const INCIDENT_RETENTION_DAYS: i64 = 30;
/// An item whose finding is still present is rewritten at least this often, so `last_seen`
/// is at most this old while the finding exists.
pub const TOUCH_HOURS: i64 = 24;
/// The largest finding JSON kept in an item (DynamoDB items are limited to 400 KB).
pub const MAX_STORED_FINDING_BYTES: usize = 64 * 1024;

/// Which resources a run looked at: what it can say is resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every resource of the account (a sweep, or an event on an account-wide setting).
    Account,
    /// The entities an event named (their ARNs), the account itself (`account_arn`, for
    /// account-level findings), and findings whose details name one of the entities.
    Resources { arns: Vec<String>, account_arn: String },
    /// Nothing (an event that only reported root activity).
    Nothing,
}

impl Scope {
    /// Whether a finding on `resource_arn` with these `details` is within the scope.
    pub fn covers(&self, resource_arn: &str, details: &Value) -> bool {
        match self {
            Scope::Account => true,
            Scope::Nothing => false,
            Scope::Resources { arns, account_arn } => {
                if resource_arn == account_arn || arns.iter().any(|a| a == resource_arn) {
                    return true;
                }
                if details.is_null() || arns.is_empty() {
                    return false;
                }
                let text = details.to_string();
                arns.iter().any(|arn| text.contains(arn.as_str()))
            }
        }
    }
}

/// What kind of run produced the findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// A full sweep: sends reminders and a digest.
    Sweep,
    /// A CloudTrail event: publishes what it newly finds, and what it resolved, at once.
    Event,
}

/// What a run saw.
#[derive(Debug, Clone)]
pub struct Observation<'a> {
    pub kind: RunKind,
    /// The findings the run reports (an event's: those about the entities it changed).
    pub findings: &'a [Finding],
    /// Fingerprints of every finding the evaluation produced, reported or not: nothing the
    /// run saw is called resolved.
    pub present: BTreeSet<String>,
    /// Rules whose verdict the run can vouch for: evaluated (and, on an event, targeted).
    pub resolvable: BTreeSet<String>,
    pub scope: Scope,
    /// Rules disabled in this run's settings (a sweep's): their open findings are closed
    /// silently, as nothing was fixed, and expire like resolved ones. Re-enabled, the rule's
    /// findings are new again.
    pub disabled: BTreeSet<String>,
    /// ARNs of entities the run found deleted (an event deleting them): every finding on them
    /// resolves, whatever its rule, as the resource no longer exists.
    pub gone: BTreeSet<String>,
    /// The state items the run can change, by fingerprint: what the live path reads. `None`:
    /// every item (a sweep). An event names them: the findings it reports and every finding
    /// its resolvable rules could have on the resources it looked at.
    pub state_keys: Option<BTreeSet<String>>,
    pub now: DateTime<Utc>,
    pub global: GlobalSettings,
}

impl<'a> Observation<'a> {
    /// A sweep over `findings`, with the rules that were `evaluated`.
    pub fn sweep(findings: &'a [Finding], evaluated: impl IntoIterator<Item = String>, now: DateTime<Utc>, global: GlobalSettings) -> Self {
        Observation {
            kind: RunKind::Sweep,
            findings,
            present: findings.iter().map(|f| f.fingerprint.clone()).collect(),
            resolvable: evaluated.into_iter().collect(),
            scope: Scope::Account,
            disabled: BTreeSet::new(),
            gone: BTreeSet::new(),
            state_keys: None,
            now,
            global,
        }
    }
}

/// One message to publish. The finding is borrowed from the run when the run saw it (new,
/// reminder), owned when it comes from the state (resolved).
#[derive(Debug, Clone, PartialEq)]
pub struct Notice<'a> {
    pub change: NoticeKind,
    pub finding: Cow<'a, Finding>,
    pub history: History,
}

/// A notice and its state: `claim` is written (conditionally) before publishing; if
/// publishing fails, `release` puts the item back as it was (with a newer version).
#[derive(Debug, Clone, PartialEq)]
pub struct Claim<'a> {
    pub notice: Notice<'a>,
    pub claim: StateWrite,
    pub release: StateWrite,
}

/// What a run should do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan<'a> {
    /// Notices, each with the write that claims it.
    pub claims: Vec<Claim<'a>>,
    /// State writes that publish nothing (a finding below the minimum severity, suppressed,
    /// silently resolved, or refreshed). A conflict on one of them means another run wrote
    /// the item first, which is fine.
    pub updates: Vec<StateWrite>,
    /// Notices (new, reminder or resolved) not published because the finding is less severe
    /// than `notify_min_severity`. A finding that was never published counts on every run, as
    /// it would be new if the minimum allowed it.
    pub below_min_severity: usize,
}

impl Plan<'_> {
    pub fn count(&self, change: NoticeKind) -> usize {
        self.claims.iter().filter(|c| c.notice.change == change).count()
    }
}

/// Whether a finding is a one-off incident: root activity seen in a CloudTrail event.
pub fn is_incident(finding: &Finding) -> bool {
    finding.rule_id == ROOT_USAGE.id() && finding.details.get("source").and_then(Value::as_str) == Some("cloudtrail")
}

/// Without a state table: every open finding at or above the minimum severity is new.
pub fn stateless(findings: &[Finding], global: GlobalSettings) -> (Vec<Notice<'_>>, usize) {
    let open: Vec<&Finding> = findings.iter().filter(|f| f.status == FindingStatus::Open).collect();
    let below = open.iter().filter(|f| !global.notifies(f.severity)).count();
    let notices = open
        .into_iter()
        .filter(|f| global.notifies(f.severity))
        .map(|f| Notice { change: NoticeKind::New, finding: Cow::Borrowed(f), history: History::default() })
        .collect();
    (notices, below)
}

/// Compare what the run saw with the prior state: [`plan_findings`] over every finding, then
/// [`plan_resolutions`].
pub fn plan<'a>(obs: &Observation<'a>, prior: &BTreeMap<String, StateItem>) -> Plan<'a> {
    let mut plan = plan_findings(obs, obs.findings, prior, &mut BTreeSet::new());
    let resolutions = plan_resolutions(obs, prior);
    plan.claims.extend(resolutions.claims);
    plan.updates.extend(resolutions.updates);
    plan.below_min_severity += resolutions.below_min_severity;
    plan
}

/// The part of the plan about `findings`, a part of `obs.findings` (a large run plans and
/// commits its findings a part at a time, so it never holds every claim at once). `seen`
/// carries the fingerprints already planned across parts: a finding twice is planned once.
pub fn plan_findings<'a>(
    obs: &Observation<'a>,
    findings: &'a [Finding],
    prior: &BTreeMap<String, StateItem>,
    seen: &mut BTreeSet<&'a str>,
) -> Plan<'a> {
    let mut plan = Plan::default();
    let now = obs.now;
    for f in findings {
        if !seen.insert(f.fingerprint.as_str()) {
            continue; // the same finding twice: once is enough
        }
        let p = prior.get(&f.fingerprint);
        let eligible = obs.global.notifies(f.severity);
        match f.status {
            FindingStatus::Open => {
                let was_open = p.is_some_and(|p| p.status == ItemStatus::Open);
                let notified = was_open && p.is_some_and(|p| p.last_notified.is_some());
                if !notified {
                    // New to people: never seen open, back after a fix or an exception, or
                    // never published (it was below the minimum severity).
                    let first_seen = match p {
                        Some(p) if p.status != ItemStatus::Resolved => p.first_seen,
                        _ => now,
                    };
                    let mut item = fresh(f, p, now);
                    item.first_seen = first_seen;
                    if eligible {
                        item.last_notified = Some(now);
                        item.last_change = Some(NoticeKind::New.as_str().to_string());
                        let history = History { first_seen: Some(first_seen), last_notified: None };
                        plan.claims.push(claim(NoticeKind::New, Cow::Borrowed(f), history, item, p));
                    } else {
                        plan.below_min_severity += 1;
                        if !was_open || needs_refresh(p, f, now) {
                            plan.updates.push(write(item, p));
                        }
                    }
                } else if let Some(p) = p {
                    let due = obs.kind == RunKind::Sweep
                        && !is_incident(f)
                        && obs.global.renotify_hours > 0
                        && p.last_notified.is_some_and(|t| now - t >= Duration::hours(i64::from(obs.global.renotify_hours)));
                    if due && eligible {
                        let mut item = refreshed(p, f, now);
                        item.last_notified = Some(now);
                        item.last_change = Some(NoticeKind::Reminder.as_str().to_string());
                        let history = History { first_seen: Some(p.first_seen), last_notified: p.last_notified };
                        plan.claims.push(claim(NoticeKind::Reminder, Cow::Borrowed(f), history, item, Some(p)));
                    } else {
                        if due {
                            plan.below_min_severity += 1;
                        }
                        if needs_refresh(Some(p), f, now) {
                            plan.updates.push(write(refreshed(p, f, now), Some(p)));
                        }
                    }
                }
            }
            FindingStatus::Suppressed => match p {
                Some(p) if p.status == ItemStatus::Open => {
                    let mut item = refreshed(p, f, now);
                    item.status = ItemStatus::Suppressed;
                    plan.updates.push(write(item, Some(p)));
                }
                Some(p) if p.status == ItemStatus::Suppressed && needs_refresh(Some(p), f, now) => {
                    plan.updates.push(write(refreshed(p, f, now), Some(p)));
                }
                _ => {}
            },
        }
    }
    plan
}

/// Whether the run may resolve this item: an open or suppressed finding it did not see, of a
/// rule it can vouch for (or that is disabled) or on an entity it found deleted, not an incident (whether its
/// resource is in the run's scope is the other condition).
pub fn may_resolve(obs: &Observation<'_>, p: &StateItem) -> bool {
    !(obs.present.contains(&p.fingerprint) || p.status == ItemStatus::Resolved || p.incident)
        && (obs.resolvable.contains(&p.rule_id) || obs.gone.contains(&p.resource_arn) || obs.disabled.contains(&p.rule_id))
}

/// The part of the plan about findings of the prior state that the run no longer sees.
pub fn plan_resolutions<'a>(obs: &Observation<'a>, prior: &BTreeMap<String, StateItem>) -> Plan<'a> {
    let mut plan = Plan::default();
    let now = obs.now;
    for p in prior.values() {
        if !may_resolve(obs, p) {
            continue;
        }
        let stored = finding_from_item(p);
        if !obs.scope.covers(&p.resource_arn, &stored.details) {
            continue;
        }
        let mut item = p.clone();
        item.status = ItemStatus::Resolved;
        item.resolved_at = Some(now);
        item.expires_at = Some(now + Duration::days(RESOLVED_RETENTION_DAYS));
        item.version = p.version + 1;
        // A disabled rule's findings close silently: nothing was fixed.
        let told = p.status == ItemStatus::Open && p.last_notified.is_some() && !obs.disabled.contains(&p.rule_id);
        if told && obs.global.notifies(p.severity) {
            item.last_notified = Some(now);
            item.last_change = Some(NoticeKind::Resolved.as_str().to_string());
            let history = History { first_seen: Some(p.first_seen), last_notified: p.last_notified };
            plan.claims.push(claim(NoticeKind::Resolved, Cow::Owned(stored), history, item, Some(p)));
        } else {
            if told {
                plan.below_min_severity += 1;
            }
            plan.updates.push(write(item, Some(p)));
        }
    }
    plan
}

/// A new item for a finding seen now (status from the finding), replacing `prior` if any.
pub fn fresh(f: &Finding, prior: Option<&StateItem>, now: DateTime<Utc>) -> StateItem {
    let incident = is_incident(f);
    StateItem {
        fingerprint: f.fingerprint.clone(),
        rule_id: f.rule_id.clone(),
        resource_arn: f.resource_arn.clone(),
        resource_type: f.resource_type.as_str().to_string(),
        severity: f.severity,
        status: if f.status == FindingStatus::Open { ItemStatus::Open } else { ItemStatus::Suppressed },
        incident,
        first_seen: now,
        last_seen: now,
        last_notified: None,
        last_change: None,
        resolved_at: None,
        finding: Some(stored_json(f)),
        message_hash: Some(text_hash(&f.message)),
        version: prior.map_or(1, |p| p.version + 1),
        expires_at: incident.then(|| now + Duration::days(INCIDENT_RETENTION_DAYS)),
        // What Security Hub holds does not change with the item.
        exported: prior.and_then(|p| p.exported.clone()),
    }
}

/// The prior item with the latest finding and `last_seen` = now.
fn refreshed(p: &StateItem, f: &Finding, now: DateTime<Utc>) -> StateItem {
    let mut item = p.clone();
    item.severity = f.severity;
    item.resource_type = f.resource_type.as_str().to_string();
    item.finding = Some(stored_json(f));
    item.message_hash = Some(text_hash(&f.message));
    item.last_seen = now;
    item.version = p.version + 1;
    item
}

/// Whether an item that changes nothing for people is worth rewriting: its severity or
/// message changed, or it has not been touched for [`TOUCH_HOURS`].
fn needs_refresh(p: Option<&StateItem>, f: &Finding, now: DateTime<Utc>) -> bool {
    let Some(p) = p else { return true };
    let message_changed = match (&p.message_hash, &p.finding) {
        (Some(hash), _) => *hash != text_hash(&f.message),
        // An item written before `message_hash` existed.
        (None, Some(stored)) => {
            serde_json::from_str::<Value>(stored).ok().as_ref().and_then(|v| v.get("message")).and_then(Value::as_str)
                != Some(f.message.as_str())
        }
        (None, None) => true,
    };
    p.severity != f.severity || message_changed || now - p.last_seen >= Duration::hours(TOUCH_HOURS)
}

fn write(item: StateItem, prior: Option<&StateItem>) -> StateWrite {
    StateWrite { fingerprint: item.fingerprint.clone(), expect: expect(prior), put: Some(item) }
}

fn expect(prior: Option<&StateItem>) -> Expect {
    prior.map_or(Expect::Absent, |p| Expect::Version(p.version))
}

fn claim<'a>(change: NoticeKind, finding: Cow<'a, Finding>, history: History, item: StateItem, prior: Option<&StateItem>) -> Claim<'a> {
    let claimed_version = item.version;
    let release = match prior {
        Some(p) => {
            let mut back = p.clone();
            back.version = claimed_version + 1;
            if back.finding.is_none() {
                // Loaded without it: put back the latest finding rather than none.
                back.finding = item.finding.clone();
            }
            StateWrite { fingerprint: p.fingerprint.clone(), expect: Expect::Version(claimed_version), put: Some(back) }
        }
        None => StateWrite { fingerprint: item.fingerprint.clone(), expect: Expect::Version(claimed_version), put: None },
    };
    Claim { notice: Notice { change, finding, history }, claim: write(item, prior), release }
}

/// The finding as stored: its JSON, without `details` (and with shortened texts) when it
/// would be larger than [`MAX_STORED_FINDING_BYTES`].
pub fn stored_json(f: &Finding) -> String {
    let full = serde_json::to_string(f).unwrap_or_else(|_| "{}".to_string());
    if full.len() <= MAX_STORED_FINDING_BYTES {
        return full;
    }
    let mut small = f.clone();
    small.details = json!({"omitted": format!("{} bytes of details, too large to keep in the state table", f.details.to_string().len())});
    small.message = clip(&f.message, 8 * 1024);
    small.remediation = clip(&f.remediation, 16 * 1024);
    serde_json::to_string(&small).unwrap_or_else(|_| "{}".to_string())
}

/// At most `max` bytes of `text`, cut at a character boundary, with a note when cut.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(40);
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ... (cut: {} bytes in all)", &text[..end], text.len())
}

/// The finding an item describes, from its stored JSON (or, if that cannot be read, from the
/// item's own attributes and the rule's catalog entry).
pub fn finding_from_item(item: &StateItem) -> Finding {
    let stored: Value = item.finding.as_deref().and_then(|f| serde_json::from_str(f).ok()).unwrap_or(Value::Null);
    let text = |key: &str| stored.get(key).and_then(Value::as_str).map(str::to_owned);
    let meta = catalog::find(&item.rule_id).map(|r| r.meta());
    let resource_type = resource_type(&item.resource_type).or(meta.map(|m| m.resource_type)).unwrap_or(ResourceType::Account);
    let name_from_arn = item.resource_arn.rsplit(['/', ':']).next().unwrap_or(&item.resource_arn).to_string();
    let account_from_arn = item.resource_arn.split(':').nth(4).unwrap_or("").to_string();
    Finding {
        rule_id: item.rule_id.clone(),
        title: text("title").or(meta.map(|m| m.title.to_string())).unwrap_or_else(|| item.rule_id.clone()),
        severity: item.severity,
        status: FindingStatus::Open,
        resource_type,
        resource_arn: item.resource_arn.clone(),
        resource_name: text("resource_name").unwrap_or(name_from_arn),
        account_id: text("account_id").unwrap_or(account_from_arn),
        message: text("message").unwrap_or_else(|| format!("A {} finding on {}.", item.rule_id, item.resource_arn)),
        remediation: text("remediation").or(meta.map(|m| m.remediation.to_string())).unwrap_or_default(),
        fingerprint: item.fingerprint.clone(),
        suppression: None,
        details: stored.get("details").cloned().unwrap_or(Value::Null),
    }
}

fn resource_type(text: &str) -> Option<ResourceType> {
    [
        ResourceType::User,
        ResourceType::Role,
        ResourceType::Group,
        ResourceType::Policy,
        ResourceType::ServerCertificate,
        ResourceType::Account,
    ]
    .into_iter()
    .find(|t| t.as_str() == text)
}
