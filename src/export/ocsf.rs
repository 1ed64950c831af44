//! A finding as an OCSF Compliance Finding (class 2003, category Findings), OCSF [`VERSION`]
//! with the `cloud` profile: what `--format ocsf` writes (a JSON array of events), for security
//! data lakes and SIEMs (Amazon Security Lake takes this class).
//!
//! - `finding_info.uid` is the fingerprint; `compliance.requirements` the rule's controls as
//!   Security Hub names them, `compliance.standards` their standards, `compliance.control`
//!   the rule id;
//! - an open finding is `status_id` 1 (New), a suppressed one 3 (Suppressed, the exception in
//!   `status_detail`), both with `compliance.status_id` 3 (Fail);
//! - a rule the run could not evaluate is an event of its own on the account, with
//!   `compliance.status_id` 0 (Unknown) and the reason.

use chrono::{DateTime, Utc};
use iam_assurance_rules::report::{Finding, FindingStatus};
use iam_assurance_rules::types::Control;
use iam_assurance_rules::{ResourceType, Severity};
use serde_json::{json, Value};

use super::{controls_of, partition_of, requirement, standard_name, NotEvaluated, PRODUCT};

/// The OCSF schema version written (the newest release the tests validate against).
pub const VERSION: &str = "1.8.0";
const CLASS_UID: u32 = 2003;
const CATEGORY_UID: u32 = 2;
/// Activity 1 (Create): the run reports what it found.
const ACTIVITY_ID: u32 = 1;

/// OCSF's severity id and caption.
pub fn severity(severity: Severity) -> (u32, &'static str) {
    match severity {
        Severity::Info => (1, "Informational"),
        Severity::Low => (2, "Low"),
        Severity::Medium => (3, "Medium"),
        Severity::High => (4, "High"),
        Severity::Critical => (5, "Critical"),
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn metadata(uid: &str, rule_id: &str) -> Value {
    json!({
        "version": VERSION,
        "profiles": ["cloud"],
        "uid": uid,
        "event_code": rule_id,
        "product": {"name": PRODUCT, "vendor_name": PRODUCT, "version": env!("CARGO_PKG_VERSION")},
    })
}

fn cloud(account_id: &str, partition: &str) -> Value {
    json!({
        "provider": "AWS",
        "cloud_partition": partition,
        "account": {"uid": account_id, "type": "AWS Account", "type_id": 10},
    })
}

fn compliance(rule_id: &str, controls: &[Control], status_id: u32, status: &str) -> Value {
    let mut standards: Vec<&str> = controls.iter().map(|c| standard_name(c.standard)).collect();
    standards.dedup();
    json!({
        "control": rule_id,
        "status_id": status_id,
        "status": status,
        "requirements": controls.iter().map(requirement).collect::<Vec<_>>(),
        "standards": standards,
    })
}

fn class_fields(mut event: Value) -> Value {
    let fields = json!({
        "class_uid": CLASS_UID,
        "class_name": "Compliance Finding",
        "category_uid": CATEGORY_UID,
        "category_name": "Findings",
        "activity_id": ACTIVITY_ID,
        "activity_name": "Create",
        "type_uid": CLASS_UID * 100 + ACTIVITY_ID,
        "type_name": "Compliance Finding: Create",
    });
    if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), fields) {
        event.extend(fields);
    }
    event
}

/// A finding as a Compliance Finding event. `time`: when the run evaluated it. The rule's
/// controls come from the catalog.
pub fn finding(f: &Finding, time: DateTime<Utc>) -> Value {
    finding_with_controls(f, time, controls_of(&f.rule_id))
}

/// [`finding`] with the controls given.
pub fn finding_with_controls(f: &Finding, time: DateTime<Utc>, controls: &[Control]) -> Value {
    let (severity_id, severity_name) = severity(f.severity);
    let partition = partition_of(&f.resource_arn);
    let (status_id, status) = match f.status {
        FindingStatus::Open => (1, "New"),
        FindingStatus::Suppressed => (3, "Suppressed"),
    };
    let mut resource = json!({
        "uid": f.resource_arn,
        "name": f.resource_name,
        "type": f.resource_type.as_str(),
        "cloud_partition": partition,
    });
    if !(f.details.is_null() || f.details.as_object().is_some_and(|o| o.is_empty())) {
        resource["data"] = f.details.clone();
    }
    let mut event = class_fields(json!({
        "time": millis(time),
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": status_id,
        "status": status,
        "message": f.message,
        "metadata": metadata(&f.fingerprint, &f.rule_id),
        "cloud": cloud(&f.account_id, partition),
        "finding_info": {
            "uid": f.fingerprint,
            "title": f.title,
            "desc": f.message,
            "types": [format!("{PRODUCT}/{}", f.rule_id)],
            "created_time": millis(time),
        },
        "compliance": compliance(&f.rule_id, controls, 3, "Fail"),
        "remediation": {"desc": f.remediation},
        "resources": [resource],
    }));
    if let Some(s) = &f.suppression {
        let until = s.expires.map(|t| format!(" (until {})", t.to_rfc3339())).unwrap_or_default();
        event["status_detail"] = json!(format!("exception {}: {}{until}", s.exception, s.reason));
    }
    event
}

/// A rule that could not be evaluated: compliance status Unknown on the account, with the reason.
pub fn not_evaluated(rule: &NotEvaluated, account_id: &str, time: DateTime<Utc>) -> Value {
    let partition = partition_of(&rule.account_arn);
    let mut compliance = compliance(&rule.rule_id, controls_of(&rule.rule_id), 0, "Unknown");
    compliance["status_details"] = json!([rule.reason]);
    class_fields(json!({
        "time": millis(time),
        "severity_id": 1,
        "severity": "Informational",
        "status_id": 1,
        "status": "New",
        "status_detail": format!("not evaluated: {}", rule.reason),
        "message": format!("The rule {} could not be evaluated: {}", rule.rule_id, rule.reason),
        "metadata": metadata(&rule.id, &rule.rule_id),
        "cloud": cloud(account_id, partition),
        "finding_info": {
            "uid": rule.id,
            "title": format!("Not evaluated: {}", rule.title),
            "types": [format!("{PRODUCT}/{}", rule.rule_id)],
            "created_time": millis(time),
        },
        "compliance": compliance,
        "resources": [{"uid": rule.account_arn, "type": ResourceType::Account.as_str(), "cloud_partition": partition}],
    }))
}
