//! SNS message rendering (`src/notify.rs`), pure: subjects, sizes, attributes, digests split
//! into parts, and what each protocol's body says.

use chrono::{DateTime, Duration, Utc};
use iam_assurance::alerts::{History, NoticeKind};
use iam_assurance::notify::{self, DigestInput, MessageContext, MAX_MESSAGE_BYTES, MAX_SUBJECT};
use iam_assurance_rules::report::{Finding, FindingStatus};
use iam_assurance_rules::{ResourceType, Severity};
use serde_json::{json, Value};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&Utc)
}

fn ctx() -> MessageContext<'static> {
    MessageContext { trigger: "scheduled sweep", settings_prefix: "/iam-assurance", now: now(), renotify_hours: 24 }
}

fn finding(i: usize, severity: Severity) -> Finding {
    let name = format!("user-{i}");
    Finding {
        rule_id: "user-mfa".into(),
        title: "Console user without MFA".into(),
        severity,
        status: FindingStatus::Open,
        resource_type: ResourceType::User,
        resource_arn: format!("arn:aws:iam::123456789012:user/{name}"),
        resource_name: name.clone(),
        account_id: "123456789012".into(),
        message: format!("User {name} has a console password but no MFA device."),
        remediation: format!(
            "aws iam create-virtual-mfa-device --virtual-mfa-device-name {name} --outfile {name}.png --bootstrap-method QRCodePNG"
        ),
        fingerprint: format!("{i:032x}"),
        suppression: None,
        details: json!({"password_enabled": true}),
    }
}

fn body(message: &iam_assurance_aws::OutgoingMessage) -> Value {
    serde_json::from_str(&message.message_json).unwrap()
}

fn part(message: &iam_assurance_aws::OutgoingMessage, key: &str) -> Value {
    serde_json::from_str(body(message)[key].as_str().unwrap()).unwrap()
}

#[test]
fn every_message_has_the_filter_attributes_and_the_three_protocols() {
    for change in [NoticeKind::New, NoticeKind::Reminder, NoticeKind::Resolved] {
        let m = notify::finding_message(&finding(1, Severity::High), change, &History::default(), &ctx());
        let keys: Vec<&str> = m.attributes.keys().map(String::as_str).collect();
        assert_eq!(keys, ["account_id", "change", "resource_type", "rule_id", "severity"]);
        assert_eq!(m.attributes["change"], change.as_str());
        assert_eq!(m.attributes["severity"], "high");
        assert_eq!(m.attributes["resource_type"], "AWS::IAM::User");
        let b = body(&m);
        assert!(b["email"].as_str().is_some_and(|e| e.contains("user-1")));
        assert_eq!(part(&m, "default")["finding"]["fingerprint"], format!("{:032x}", 1));
        assert_eq!(part(&m, "https")["source"], "custom");
    }
}

#[test]
fn subjects_are_one_ascii_line_under_100_characters() {
    let mut f = finding(1, Severity::Critical);
    f.resource_name = format!("{}\nédition-{}", "a".repeat(150), "ü".repeat(20));
    f.title = "A title with a line break\nand ünïcode".into();
    for change in [NoticeKind::New, NoticeKind::Reminder, NoticeKind::Resolved] {
        let s = notify::finding_message(&f, change, &History::default(), &ctx()).subject;
        assert!(s.len() <= MAX_SUBJECT && s.is_ascii() && !s.chars().any(|c| c.is_control()), "{s:?}");
    }
    let short = notify::finding_message(&finding(7, Severity::High), NoticeKind::New, &History::default(), &ctx()).subject;
    assert_eq!(short, "[HIGH] user-7: Console user without MFA (123456789012)");
    let resolved = notify::finding_message(&finding(7, Severity::High), NoticeKind::Resolved, &History::default(), &ctx()).subject;
    assert_eq!(resolved, "[RESOLVED] user-7: Console user without MFA (123456789012)");
}

#[test]
fn an_oversized_finding_is_sent_in_one_message_without_its_details() {
    let mut f = finding(1, Severity::High);
    f.details = json!({"admins": vec!["arn:aws:iam::123456789012:role/a-role-with-a-rather-long-name"; 20_000]});
    f.message = "m".repeat(300_000);
    let m = notify::finding_message(&f, NoticeKind::New, &History::default(), &ctx());
    assert!(m.payload_size() <= MAX_MESSAGE_BYTES, "{}", m.payload_size());
    let default = part(&m, "default");
    assert!(default["finding"]["details"]["omitted"].as_str().unwrap().contains("too large"));
    assert!(default["finding"]["message"].as_str().unwrap().ends_with("..."));
    assert!(body(&m)["email"].as_str().unwrap().contains("HOW TO FIX"), "the fix is still there");
}

#[test]
fn a_large_digest_is_split_into_parts_that_fit_and_list_everything() {
    let new: Vec<Finding> = (0..5000)
        .map(|i| {
            let mut f = finding(i, Severity::ALL[i % 5]);
            f.message = format!("{} {}", f.message, "and a long explanation \"quoted\" ".repeat(60));
            f
        })
        .collect();
    let resolved: Vec<Finding> = (5000..5500).map(|i| finding(i, Severity::Low)).collect();
    let new_refs: Vec<&Finding> = new.iter().collect();
    let resolved_refs: Vec<&Finding> = resolved.iter().collect();
    let input = DigestInput { account_id: "123456789012", new: &new_refs, resolved: &resolved_refs, reminders: 3, open: &new_refs };
    let parts = notify::digests(&input, &ctx());
    assert!(parts.len() > 1);
    let mut listed = 0;
    for (i, m) in parts.iter().enumerate() {
        assert!(m.payload_size() <= MAX_MESSAGE_BYTES, "part {i}: {}", m.payload_size());
        assert!(m.subject.len() <= MAX_SUBJECT, "{}", m.subject);
        assert!(m.subject.ends_with(&format!("(part {} of {})", i + 1, parts.len())), "{}", m.subject);
        assert_eq!((m.attributes["change"].as_str(), m.attributes["rule_id"].as_str()), ("digest", "digest"));
        assert_eq!(m.attributes["severity"], "critical", "the most severe change");
        let default = part(m, "default");
        assert_eq!(
            (default["new"].as_u64(), default["resolved"].as_u64(), default["reminders"].as_u64()),
            (Some(5000), Some(500), Some(3))
        );
        listed += default["findings"].as_array().unwrap().len();
        let email = body(m)["email"].as_str().unwrap().to_string();
        assert!(email.contains("5000 new, 500 resolved, 5000 open in total. 3 reminders sent."), "{}", &email[..400]);
        assert!(email.contains("  SEVERITY      NEW  RESOLVED   OPEN\n  critical     1000         0   1000"), "{}", &email[..800]);
    }
    assert_eq!(listed, 5500, "split, never truncated");
    assert!(parts.len() < 40, "parts are filled: {}", parts.len());

    let nothing = DigestInput { account_id: "123456789012", new: &[], resolved: &[], reminders: 4, open: &new_refs };
    assert!(notify::digests(&nothing, &ctx()).is_empty(), "no digest when nothing is new or resolved");
}

#[test]
fn resolved_and_reminder_texts_read_as_such() {
    let f = finding(3, Severity::Medium);
    let history = History { first_seen: Some(now() - Duration::days(3)), last_notified: Some(now() - Duration::days(1)) };
    let reminder = notify::email_text(&f, NoticeKind::Reminder, &history, &ctx());
    assert!(reminder.starts_with("REMINDER: MEDIUM finding still open in AWS account 123456789012, open for 3 days"), "{reminder}");
    assert!(reminder.contains("Open since 2026-11-20 12:00 UTC") && reminder.contains("Last message 2026-11-22 12:00 UTC"));
    assert!(reminder.contains("A reminder follows every 24 hours"));
    let resolved = notify::email_text(&f, NoticeKind::Resolved, &history, &ctx());
    assert!(resolved.contains("This is no longer the case, reported since 2026-11-20 12:00 UTC:\n  User user-3 has a console password"));
    assert!(resolved.contains("Open:      from 2026-11-20 12:00 UTC to 2026-11-23 12:00 UTC (3 days)"), "{resolved}");
    assert!(!resolved.contains("HOW TO FIX") && !resolved.contains("EXCEPTION"));
    let chat = notify::chatbot(&f, NoticeKind::Resolved, &history, &ctx());
    assert!(chat["content"]["title"].as_str().unwrap().starts_with(":white_check_mark: *MEDIUM* Resolved:"));
    assert_eq!(chat["content"]["nextSteps"], json!(["No action needed."]));
    assert_eq!(chat["metadata"]["threadId"], f.fingerprint);
}

#[test]
fn a_root_activity_incident_offers_no_exception_and_no_reminder() {
    let mut f = finding(9, Severity::Critical);
    f.rule_id = "root-usage".into();
    f.resource_type = ResourceType::Account;
    f.resource_arn = "arn:aws:iam::123456789012:root".into();
    f.details = json!({"source": "cloudtrail", "event": {"event_id": "e-1"}});
    let email = notify::email_text(&f, NoticeKind::New, &History::default(), &ctx());
    assert!(email.starts_with("NEW CRITICAL FINDING in AWS account 123456789012"));
    assert!(!email.contains("ADD AN EXCEPTION") && !email.contains("A reminder follows"), "{email}");
    assert!(email.contains("reported once"));
    let chat = notify::chatbot(&f, NoticeKind::New, &History::default(), &ctx());
    let steps = chat["content"]["nextSteps"].as_array().unwrap();
    assert!(!steps.iter().any(|s| s.as_str().unwrap().contains("exception")), "{steps:?}");
    assert!(chat["content"]["title"].as_str().unwrap().starts_with(":rotating_light: *CRITICAL* New:"));
    let subject = notify::finding_message(&f, NoticeKind::New, &History::default(), &ctx()).subject;
    assert!(subject.starts_with("[CRITICAL] account 123456789012: "), "{subject}");
}

/// Two reports of one account in a round merge: each change line once, counts of the lines
/// beyond the limit added, reminders added, the later run's open findings.
#[test]
fn round_summaries_of_one_account_merge() {
    use iam_assurance::notify::RoundSummary;
    let earlier = RoundSummary {
        account_id: "111122223333".into(),
        open: [("high".to_string(), 3)].into(),
        new: vec!["a".into(), "b".into()],
        more_new: 1,
        reminders: 1,
        ..Default::default()
    };
    let later = RoundSummary {
        account_id: "111122223333".into(),
        open: [("high".to_string(), 4)].into(),
        new: vec!["b".into(), "c".into()],
        resolved: vec!["d".into()],
        reminders: 2,
        ..Default::default()
    };
    let merged = earlier.merged(&later);
    assert_eq!(merged.new, vec!["a", "b", "c"]);
    assert_eq!((merged.more_new, merged.resolved.clone(), merged.reminders), (1, vec!["d".to_string()], 3));
    assert_eq!(merged.open, later.open);
    assert!(merged.published_anything());
    assert!(!RoundSummary::default().published_anything());
}
