//! The pure part of alerting (`src/alerts.rs`): findings and prior state in, notices and
//! state writes out. No AWS, no clock: each test applies a plan's writes to an in-memory
//! state with DynamoDB's conditions, then plans the next run on it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use iam_assurance::alerts::*;
use iam_assurance::alerts::{History, NoticeKind};
use iam_assurance_aws::state::{Expect, ItemStatus, StateItem};
use iam_assurance_rules::report::{Finding, FindingStatus, Suppression};
use iam_assurance_rules::settings::GlobalSettings;
use iam_assurance_rules::{ResourceType, Severity};
use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";

fn t(hours: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&Utc) + Duration::hours(hours)
}

fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

fn finding(rule: &str, user: &str, severity: Severity) -> Finding {
    Finding {
        rule_id: rule.into(),
        title: format!("{rule} title"),
        severity,
        status: FindingStatus::Open,
        resource_type: ResourceType::User,
        resource_arn: user_arn(user),
        resource_name: user.into(),
        account_id: ACCOUNT.into(),
        message: format!("{rule} on {user}."),
        remediation: format!("aws iam fix --user-name {user}"),
        fingerprint: format!("{rule}:{user}"),
        suppression: None,
        details: Value::Null,
    }
}

fn global() -> GlobalSettings {
    GlobalSettings::default()
}

fn sweep<'a>(findings: &'a [Finding], rules: &[&str], now: DateTime<Utc>, global: GlobalSettings) -> Observation<'a> {
    Observation::sweep(findings, rules.iter().map(|r| r.to_string()), now, global)
}

/// Apply a plan's writes to a state, as DynamoDB would (conditions checked).
fn apply(state: &mut BTreeMap<String, StateItem>, plan: &Plan) {
    for w in plan.claims.iter().map(|c| &c.claim).chain(&plan.updates) {
        let current = state.get(&w.fingerprint).map(|i| i.version);
        let ok = match w.expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        assert!(ok, "condition of {w:?} fails against {current:?}");
        match &w.put {
            Some(item) => state.insert(w.fingerprint.clone(), item.clone()),
            None => state.remove(&w.fingerprint),
        };
    }
}

fn changes(plan: &Plan) -> Vec<(NoticeKind, String)> {
    plan.claims.iter().map(|c| (c.notice.change, c.notice.finding.fingerprint.clone())).collect()
}

#[test]
fn first_sweep_is_all_new_and_the_second_says_nothing() {
    let findings = vec![finding("user-mfa", "bob", Severity::High), finding("unused-user", "carol", Severity::Medium)];
    let mut state = BTreeMap::new();
    let first = plan(&sweep(&findings, &["user-mfa", "unused-user"], t(0), global()), &state);
    assert_eq!(changes(&first), vec![(NoticeKind::New, "user-mfa:bob".into()), (NoticeKind::New, "unused-user:carol".into())]);
    assert!(first.updates.is_empty());
    assert!(first.claims.iter().all(|c| c.claim.expect == Expect::Absent && c.release.put.is_none()));
    apply(&mut state, &first);
    let item = &state["user-mfa:bob"];
    assert_eq!((item.status, item.first_seen, item.last_notified, item.version), (ItemStatus::Open, t(0), Some(t(0)), 1));
    assert_eq!(item.last_change.as_deref(), Some("new"));
    assert_eq!(item.expires_at, None, "an open finding does not expire");

    let second = plan(&sweep(&findings, &["user-mfa", "unused-user"], t(1), global()), &state);
    assert!(second.claims.is_empty(), "{:?}", changes(&second));
    assert!(second.updates.is_empty(), "nothing changed: nothing written");
}

#[test]
fn a_fixed_finding_resolves_once_and_only_when_its_rule_was_evaluated() {
    let before = vec![finding("user-mfa", "bob", Severity::High), finding("unused-user", "carol", Severity::Medium)];
    let mut state = BTreeMap::new();
    let p = plan(&sweep(&before, &["user-mfa", "unused-user"], t(0), global()), &state);
    apply(&mut state, &p);
    let after = vec![finding("unused-user", "carol", Severity::Medium)];

    // user-mfa could not be evaluated this time: its old finding stays open, unannounced.
    let blind = plan(&sweep(&after, &["unused-user"], t(1), global()), &state);
    assert!(blind.claims.is_empty() && blind.updates.is_empty(), "{blind:?}");

    let fixed = plan(&sweep(&after, &["user-mfa", "unused-user"], t(1), global()), &state);
    assert_eq!(changes(&fixed), vec![(NoticeKind::Resolved, "user-mfa:bob".into())]);
    let claim = &fixed.claims[0];
    assert_eq!(claim.notice.finding.message, "user-mfa on bob.", "the resolved notice says what was fixed");
    assert_eq!(claim.notice.history.first_seen, Some(t(0)));
    assert_eq!(claim.claim.expect, Expect::Version(1));
    let item = claim.claim.put.as_ref().unwrap();
    assert_eq!((item.status, item.resolved_at, item.last_notified), (ItemStatus::Resolved, Some(t(1)), Some(t(1))));
    assert_eq!(item.expires_at, Some(t(1) + Duration::days(RESOLVED_RETENTION_DAYS)));
    apply(&mut state, &fixed);

    let again = plan(&sweep(&after, &["user-mfa", "unused-user"], t(2), global()), &state);
    assert!(again.claims.is_empty() && again.updates.is_empty(), "{again:?}");

    // It comes back: new again, with a fresh first_seen.
    let back = plan(&sweep(&before, &["user-mfa", "unused-user"], t(3), global()), &state);
    assert_eq!(changes(&back), vec![(NoticeKind::New, "user-mfa:bob".into())]);
    assert_eq!(back.claims[0].notice.history.first_seen, Some(t(3)));
    assert_eq!(back.claims[0].claim.expect, Expect::Version(2));
}

#[test]
fn reminders_after_renotify_hours_on_sweeps_only() {
    let findings = vec![finding("user-mfa", "bob", Severity::High)];
    let mut state = BTreeMap::new();
    let p = plan(&sweep(&findings, &["user-mfa"], t(0), global()), &state);
    apply(&mut state, &p);
    let early = plan(&sweep(&findings, &["user-mfa"], t(23), global()), &state);
    assert!(early.claims.is_empty());
    let due = plan(&sweep(&findings, &["user-mfa"], t(24), global()), &state);
    assert_eq!(changes(&due), vec![(NoticeKind::Reminder, "user-mfa:bob".into())]);
    assert_eq!(due.claims[0].notice.history, History { first_seen: Some(t(0)), last_notified: Some(t(0)) });
    // An event that sees the same finding never reminds.
    let mut event = sweep(&findings, &["user-mfa"], t(24), global());
    event.kind = RunKind::Event;
    assert!(plan(&event, &state).claims.is_empty());
    apply(&mut state, &due);
    assert_eq!(state["user-mfa:bob"].last_change.as_deref(), Some("reminder"));
    assert_eq!(state["user-mfa:bob"].first_seen, t(0), "a reminder keeps first_seen");
    assert!(plan(&sweep(&findings, &["user-mfa"], t(47), global()), &state).claims.is_empty());
    assert_eq!(plan(&sweep(&findings, &["user-mfa"], t(48), global()), &state).count(NoticeKind::Reminder), 1);
    // 0: never remind (but the item is still touched once a day).
    let never = GlobalSettings { renotify_hours: 0, ..global() };
    let quiet = plan(&sweep(&findings, &["user-mfa"], t(24 * 30), never), &state);
    assert!(quiet.claims.is_empty());
    assert_eq!(quiet.updates.len(), 1);
    assert_eq!(quiet.updates[0].put.as_ref().unwrap().last_seen, t(24 * 30));
}

#[test]
fn below_min_severity_is_tracked_not_published_and_published_when_the_minimum_drops() {
    let findings = vec![finding("user-mfa", "bob", Severity::High), finding("multiple-access-keys", "bob", Severity::Low)];
    let high = GlobalSettings { notify_min_severity: Severity::High, ..global() };
    let mut state = BTreeMap::new();
    let first = plan(&sweep(&findings, &["user-mfa", "multiple-access-keys"], t(0), high), &state);
    assert_eq!(changes(&first), vec![(NoticeKind::New, "user-mfa:bob".into())]);
    assert_eq!(first.below_min_severity, 1);
    assert_eq!(first.updates.len(), 1, "the low finding is tracked");
    apply(&mut state, &first);
    assert_eq!(state["multiple-access-keys:bob"].last_notified, None);
    // Stays quiet, no reminders either.
    let later = plan(&sweep(&findings, &["user-mfa", "multiple-access-keys"], t(25), high), &state);
    assert_eq!(changes(&later), vec![(NoticeKind::Reminder, "user-mfa:bob".into())]);
    // Resolving a finding nobody was told about says nothing.
    let only_high = vec![findings[0].clone()];
    let silent = plan(&sweep(&only_high, &["user-mfa", "multiple-access-keys"], t(2), high), &state);
    assert!(silent.claims.is_empty());
    assert_eq!(silent.updates[0].put.as_ref().unwrap().status, ItemStatus::Resolved);
    // With the minimum lowered, the low finding is news.
    let all = plan(&sweep(&findings, &["user-mfa", "multiple-access-keys"], t(2), global()), &state);
    assert_eq!(changes(&all), vec![(NoticeKind::New, "multiple-access-keys:bob".into())]);
    assert_eq!(all.claims[0].notice.history.first_seen, Some(t(0)), "tracked since the first sweep");
}

#[test]
fn suppressed_findings_go_quiet_and_come_back_as_new() {
    let open = vec![finding("user-mfa", "bob", Severity::High)];
    let mut suppressed = open.clone();
    suppressed[0].status = FindingStatus::Suppressed;
    suppressed[0].suppression = Some(Suppression { exception: user_arn("bob"), reason: "break glass".into(), expires: None });
    let mut state = BTreeMap::new();
    // Never seen open: not stored, not published.
    let quiet = plan(&sweep(&suppressed, &["user-mfa"], t(0), global()), &state);
    assert_eq!(quiet, Plan::default());
    let p = plan(&sweep(&open, &["user-mfa"], t(0), global()), &state);
    apply(&mut state, &p);
    // Excepted: not resolved, no reminder, the state says suppressed.
    let excepted = plan(&sweep(&suppressed, &["user-mfa"], t(30), global()), &state);
    assert!(excepted.claims.is_empty());
    assert_eq!(excepted.updates[0].put.as_ref().unwrap().status, ItemStatus::Suppressed);
    apply(&mut state, &excepted);
    assert!(plan(&sweep(&suppressed, &["user-mfa"], t(31), global()), &state).claims.is_empty());
    // Fixed while excepted: resolved silently.
    let gone = plan(&sweep(&[], &["user-mfa"], t(32), global()), &state);
    assert!(gone.claims.is_empty());
    assert_eq!(gone.updates[0].put.as_ref().unwrap().status, ItemStatus::Resolved);
    // The exception expires: open again, new again.
    let expired = plan(&sweep(&open, &["user-mfa"], t(32), global()), &state);
    assert_eq!(changes(&expired), vec![(NoticeKind::New, "user-mfa:bob".into())]);
    assert_eq!(expired.claims[0].notice.history.first_seen, Some(t(0)));
}

#[test]
fn an_event_resolves_only_within_its_scope() {
    let mut attached = finding("user-attached-policies", "alice", Severity::Low);
    attached.fingerprint = "attached:alice".into();
    let mut other = finding("user-attached-policies", "deploy-bot", Severity::Low);
    other.fingerprint = "attached:deploy-bot".into();
    let mut policy = finding("unapproved-policy-in-use", "x", Severity::High);
    policy.resource_type = ResourceType::Policy;
    policy.resource_arn = "arn:aws:iam::aws:policy/AmazonRDSFullAccess".into();
    policy.fingerprint = "unapproved".into();
    policy.details = json!({"users": ["alice"], "arns": [user_arn("alice")]});
    let all = vec![attached, other, policy];
    let mut state = BTreeMap::new();
    let p = plan(&sweep(&all, &["user-attached-policies", "unapproved-policy-in-use"], t(0), global()), &state);
    apply(&mut state, &p);

    // DetachUserPolicy for alice: nothing of hers is left, deploy-bot was not looked at.
    let scope = Scope::Resources { arns: vec![user_arn("alice")], account_arn: format!("arn:aws:iam::{ACCOUNT}:root") };
    let event = Observation {
        kind: RunKind::Event,
        findings: &[],
        present: BTreeSet::new(),
        resolvable: ["user-attached-policies".to_string(), "unapproved-policy-in-use".to_string()].into(),
        scope: scope.clone(),
        disabled: BTreeSet::new(),
        gone: BTreeSet::new(),
        state_keys: None,
        now: t(1),
        global: global(),
    };
    let resolved = plan(&event, &state);
    let mut got = changes(&resolved);
    got.sort();
    assert_eq!(got, vec![(NoticeKind::Resolved, "attached:alice".into()), (NoticeKind::Resolved, "unapproved".into())]);
    // A finding the evaluation still produced (outside what the event reports) is not resolved.
    let present = Observation { present: ["unapproved".to_string()].into(), ..event.clone() };
    assert_eq!(changes(&plan(&present, &state)), vec![(NoticeKind::Resolved, "attached:alice".into())]);
    // A rule the event did not evaluate resolves nothing.
    let narrow = Observation { resolvable: ["unapproved-policy-in-use".to_string()].into(), ..event.clone() };
    assert_eq!(changes(&plan(&narrow, &state)), vec![(NoticeKind::Resolved, "unapproved".into())]);
    // Root activity alone covers nothing.
    let nothing = Observation { scope: Scope::Nothing, ..event };
    assert!(plan(&nothing, &state).claims.is_empty());
}

#[test]
fn incidents_are_notified_once_never_reminded_nor_resolved() {
    let mut root = finding("root-usage", "root", Severity::Critical);
    root.resource_type = ResourceType::Account;
    root.resource_arn = format!("arn:aws:iam::{ACCOUNT}:root");
    root.fingerprint = "event:1".into();
    root.details = json!({"source": "cloudtrail", "event": {"event_id": "1"}});
    assert!(is_incident(&root));
    let findings = vec![root];
    let mut state = BTreeMap::new();
    let mut event = sweep(&findings, &["root-usage"], t(0), global());
    event.kind = RunKind::Event;
    let first = plan(&event, &state);
    assert_eq!(first.count(NoticeKind::New), 1);
    let item = first.claims[0].claim.put.clone().unwrap();
    assert!(item.incident);
    assert_eq!(item.expires_at, Some(t(0) + Duration::days(INCIDENT_RETENTION_DAYS)));
    apply(&mut state, &first);
    // The same event delivered again: nothing.
    assert!(plan(&event, &state).claims.is_empty());
    // Later runs neither remind nor resolve it.
    assert!(plan(&sweep(&findings, &["root-usage"], t(48), global()), &state).claims.is_empty());
    assert_eq!(plan(&sweep(&[], &["root-usage"], t(48), global()), &state), Plan::default());
}

#[test]
fn releases_put_the_prior_item_back_with_a_newer_version() {
    let findings = vec![finding("user-mfa", "bob", Severity::High)];
    let mut state = BTreeMap::new();
    let first = plan(&sweep(&findings, &["user-mfa"], t(0), global()), &state);
    let release = &first.claims[0].release;
    assert_eq!((release.expect, release.put.is_none()), (Expect::Version(1), true), "a new item is deleted");
    apply(&mut state, &first);
    let due = plan(&sweep(&findings, &["user-mfa"], t(24), global()), &state);
    let c = &due.claims[0];
    assert_eq!(c.claim.expect, Expect::Version(1));
    assert_eq!(c.release.expect, Expect::Version(2));
    let back = c.release.put.as_ref().unwrap();
    assert_eq!((back.version, back.last_notified), (3, Some(t(0))), "the old item, a newer version");
}

#[test]
fn severity_and_message_changes_refresh_the_item_without_a_message() {
    let mut findings = vec![finding("access-key-rotation", "bob", Severity::Medium)];
    let mut state = BTreeMap::new();
    let p = plan(&sweep(&findings, &["access-key-rotation"], t(0), global()), &state);
    apply(&mut state, &p);
    findings[0].severity = Severity::High;
    findings[0].message = "older now".into();
    let p = plan(&sweep(&findings, &["access-key-rotation"], t(1), global()), &state);
    assert!(p.claims.is_empty());
    let item = p.updates[0].put.as_ref().unwrap();
    assert_eq!(item.severity, Severity::High);
    assert!(item.finding.as_deref().unwrap().contains("older now"));
    assert_eq!(item.last_notified, Some(t(0)), "the reminder clock is kept");
}

#[test]
fn stateless_mode_and_stored_json_limits() {
    let mut findings = vec![finding("user-mfa", "bob", Severity::High), finding("multiple-access-keys", "bob", Severity::Low)];
    findings.push(Finding { status: FindingStatus::Suppressed, ..finding("unused-user", "x", Severity::High) });
    let (notices, below) = stateless(&findings, GlobalSettings { notify_min_severity: Severity::Medium, ..global() });
    assert_eq!(notices.len(), 1);
    assert_eq!((notices[0].change, below), (NoticeKind::New, 1));

    let mut huge = finding("max-admins", "x", Severity::High);
    huge.details = json!({"admins": vec!["arn:aws:iam::123456789012:user/someone-with-a-long-name"; 5000]});
    huge.message = "m".repeat(100_000);
    let stored = stored_json(&huge);
    assert!(stored.len() <= MAX_STORED_FINDING_BYTES, "{}", stored.len());
    let item = StateItem {
        fingerprint: huge.fingerprint.clone(),
        rule_id: huge.rule_id.clone(),
        resource_arn: huge.resource_arn.clone(),
        resource_type: "AWS::IAM::User".into(),
        severity: huge.severity,
        status: ItemStatus::Open,
        incident: false,
        first_seen: t(0),
        last_seen: t(0),
        last_notified: None,
        last_change: None,
        resolved_at: None,
        finding: Some(stored),
        message_hash: None,
        version: 1,
        expires_at: None,
        exported: None,
    };
    let back = finding_from_item(&item);
    assert_eq!(back.rule_id, "max-admins");
    assert!(back.message.contains("cut:"));
    // An unreadable stored finding still describes the resource.
    let broken = StateItem { finding: Some("not json".into()), ..item };
    let back = finding_from_item(&broken);
    assert_eq!(back.resource_name, "x");
    assert_eq!(back.account_id, ACCOUNT);
    assert_eq!(back.resource_type, ResourceType::User);
    assert!(!back.title.is_empty());
}

#[test]
fn a_changed_message_is_told_by_its_hash_or_by_an_older_item_s_stored_finding() {
    let findings = vec![finding("access-key-rotation", "bob", Severity::Medium)];
    let mut state = BTreeMap::new();
    let first = plan(&sweep(&findings, &["access-key-rotation"], t(0), global()), &state);
    apply(&mut state, &first);
    let item = state.values().next().unwrap().clone();
    assert!(item.message_hash.is_some() && item.finding.is_some());
    let quiet = |state: &BTreeMap<String, StateItem>| plan(&sweep(&findings, &["access-key-rotation"], t(1), global()), state);
    // Loaded light (no finding): the hash says nothing changed.
    let light = BTreeMap::from([(item.fingerprint.clone(), StateItem { finding: None, ..item.clone() })]);
    assert!(quiet(&light).updates.is_empty() && quiet(&light).claims.is_empty());
    // An item from before message_hash: its stored finding says so.
    let older = BTreeMap::from([(item.fingerprint.clone(), StateItem { message_hash: None, ..item.clone() })]);
    assert!(quiet(&older).updates.is_empty());
    // Neither: rewritten once, with both.
    let bare = BTreeMap::from([(item.fingerprint.clone(), StateItem { message_hash: None, finding: None, ..item.clone() })]);
    let rewrite = quiet(&bare);
    let put = rewrite.updates[0].put.as_ref().unwrap();
    assert!(put.message_hash.is_some() && put.finding.is_some());
    // A changed message: rewritten.
    let changed = vec![Finding { message: "older now".into(), ..findings[0].clone() }];
    assert_eq!(plan(&sweep(&changed, &["access-key-rotation"], t(1), global()), &light).updates.len(), 1);
}

#[test]
fn a_disabled_rule_s_findings_close_silently_and_expire() {
    let findings = vec![finding("user-mfa", "bob", Severity::High), finding("access-key-rotation", "bob", Severity::Medium)];
    let mut state = BTreeMap::new();
    let first = plan(&sweep(&findings, &["user-mfa", "access-key-rotation"], t(0), global()), &state);
    apply(&mut state, &first);
    // user-mfa is disabled: its finding is neither seen nor resolvable, yet it closes, quietly.
    let remaining = vec![findings[1].clone()];
    let mut obs = sweep(&remaining, &["access-key-rotation"], t(1), global());
    obs.disabled = ["user-mfa".to_string()].into();
    let p = plan(&obs, &state);
    assert!(p.claims.is_empty(), "{:?}", changes(&p));
    assert_eq!(p.updates.len(), 1);
    let item = p.updates[0].put.as_ref().unwrap();
    assert_eq!((item.rule_id.as_str(), item.status), ("user-mfa", ItemStatus::Resolved));
    assert!(item.expires_at.is_some());
    apply(&mut state, &p);
    // Enabled again and still failing: new again.
    let back = plan(&sweep(&findings, &["user-mfa", "access-key-rotation"], t(2), global()), &state);
    assert_eq!(changes(&back), vec![(NoticeKind::New, findings[0].fingerprint.clone())]);
}
