//! The exports on plain data: ASFF, OCSF and CSV rendering (states, controls, limits, cells),
//! the Security Hub export's plan over the finding state (which writes carry what Security Hub
//! should hold, which findings are owed an import), and the import adapter against scripted
//! Security Hub answers (`aws-smithy-mocks`: partial failures resent, requests that fail, a
//! finding over the size limit). The files against their published schemas: tests/infra.

use std::collections::BTreeMap;

use aws_sdk_securityhub::error::ErrorMetadata;
use aws_sdk_securityhub::operation::batch_import_findings::{BatchImportFindingsInput, BatchImportFindingsOutput};
use aws_sdk_securityhub::types::ImportFindingsError;
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use chrono::{DateTime, Duration, Utc};
use iam_assurance::alerts::{plan, plan_findings, plan_resolutions, Observation, Plan};
use iam_assurance::export::asff::{self, Record, Target};
use iam_assurance::export::securityhub::{prepare, token, Exporter};
use iam_assurance::export::{self, csv as csv_export, ocsf};
use iam_assurance_aws::securityhub::{self as hub, AsffFinding};
use iam_assurance_aws::state::{Expect, ItemStatus, StateItem};
use iam_assurance_aws::Clients;
use iam_assurance_rules::report::{Finding, FindingStatus, Suppression};
use iam_assurance_rules::settings::GlobalSettings;
use iam_assurance_rules::types::{Control, Standard};
use iam_assurance_rules::{ResourceType, Severity};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";

fn t(hours: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&Utc) + Duration::hours(hours)
}

fn finding(rule: &str, user: &str) -> Finding {
    Finding {
        rule_id: rule.into(),
        title: format!("{rule} title"),
        severity: Severity::High,
        status: FindingStatus::Open,
        resource_type: ResourceType::User,
        resource_arn: format!("arn:aws:iam::{ACCOUNT}:user/{user}"),
        resource_name: user.into(),
        account_id: ACCOUNT.into(),
        message: format!("{rule} on {user}."),
        remediation: format!("aws iam fix --user-name {user}"),
        fingerprint: format!("{rule}:{user}"),
        suppression: None,
        details: Value::Null,
    }
}

fn suppressed(mut f: Finding) -> Finding {
    f.status = FindingStatus::Suppressed;
    f.suppression = Some(Suppression { exception: f.resource_arn.clone(), reason: "token on order".into(), expires: None });
    f
}

fn target() -> Target {
    Target { region: "eu-west-1".into(), now: t(0) }
}

// ---------------------------------------------------------------------------------------------
// ASFF

#[test]
fn asff_states_follow_the_finding_state() {
    let f = finding("user-mfa", "bob");
    let states = |a: &AsffFinding| (a.record_state.clone(), a.workflow.status.clone(), a.compliance.status.clone());
    let open = asff::finding(&f, Record::Open, t(-5), &target());
    assert_eq!(states(&open), ("ACTIVE".into(), "NEW".into(), "FAILED".into()));
    assert_eq!(open.id, "user-mfa:bob", "the fingerprint is the Id");
    assert_eq!(open.product_arn, "arn:aws:securityhub:eu-west-1:123456789012:product/123456789012/default");
    assert_eq!((open.created_at.as_str(), open.updated_at.as_str()), ("2026-11-23T07:00:00.000Z", "2026-11-23T12:00:00.000Z"));
    assert_eq!(open.resources[0].r#type, "AwsIamUser");
    assert_eq!(open.resources[0].id, f.resource_arn);
    assert!(open.note.is_none());
    let s = asff::finding(&suppressed(f.clone()), Record::Suppressed, t(-5), &target());
    assert_eq!(states(&s), ("ARCHIVED".into(), "SUPPRESSED".into(), "FAILED".into()));
    assert!(s.note.as_ref().unwrap().text.contains("token on order"));
    let resolved = asff::finding(&f, Record::Resolved, t(-5), &target());
    assert_eq!(states(&resolved), ("ARCHIVED".into(), "RESOLVED".into(), "PASSED".into()));
    let closed = asff::finding(&f, Record::Closed, t(-5), &target());
    assert_eq!(states(&closed), ("ARCHIVED".into(), "RESOLVED".into(), "NOT_AVAILABLE".into()));
}

#[test]
fn asff_resource_types_and_severities_are_security_hub_s() {
    let mut f = finding("root-access-keys", "root");
    f.resource_type = ResourceType::Account;
    f.resource_arn = format!("arn:aws:iam::{ACCOUNT}:root");
    f.severity = Severity::Info;
    let a = asff::finding(&f, Record::Open, t(0), &target());
    assert_eq!((a.resources[0].r#type.as_str(), a.resources[0].id.as_str()), ("AwsAccount", "AWS::::Account:123456789012"));
    assert_eq!((a.severity.label.as_str(), a.severity.original.as_str()), ("INFORMATIONAL", "info"));
    assert_eq!(a.finding_provider_fields.severity, a.severity);
    let expected = [
        (ResourceType::User, "AwsIamUser"),
        (ResourceType::Role, "AwsIamRole"),
        (ResourceType::Group, "AwsIamGroup"),
        (ResourceType::Policy, "AwsIamPolicy"),
        (ResourceType::Account, "AwsAccount"),
        (ResourceType::ServerCertificate, "Other"),
    ];
    for (ours, theirs) in expected {
        assert_eq!(asff::resource_type(ours), theirs);
    }
    let labels: Vec<&str> = Severity::ALL.iter().map(|s| asff::severity_label(*s)).collect();
    assert_eq!(labels, ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL"]);
}

#[test]
fn related_requirements_and_types_come_from_the_rule_s_controls() {
    let f = finding("user-mfa", "bob");
    let controls = [
        Control { standard: Standard::Cis3, id: "1.10" },
        Control { standard: Standard::Cis5, id: "1.9" },
        Control { standard: Standard::Fsbp, id: "IAM.5" },
    ];
    let a = asff::finding_with_controls(&f, Record::Open, t(0), &target(), &controls);
    assert_eq!(
        a.compliance.related_requirements,
        [
            "CIS AWS Foundations Benchmark v3.0.0/1.10",
            "CIS AWS Foundations Benchmark v5.0.0/1.9",
            "AWS Foundational Security Best Practices v1.0.0/IAM.5"
        ]
    );
    assert!(a.types.iter().any(|t| t.ends_with("Industry and Regulatory Standards/CIS AWS Foundations Benchmark")), "{:?}", a.types);
    assert_eq!(a.finding_provider_fields.types, a.types);
    let fsbp_only = asff::finding_with_controls(&f, Record::Open, t(0), &target(), &controls[2..]);
    assert_eq!(fsbp_only.types, ["Software and Configuration Checks/AWS Security Best Practices"]);
    let none = asff::finding_with_controls(&f, Record::Open, t(0), &target(), &[]);
    assert!(none.compliance.related_requirements.is_empty());
    let json = serde_json::to_value(&none).unwrap();
    assert!(json["Compliance"].get("RelatedRequirements").is_none(), "no empty list sent");
    // At most ASFF's 32.
    let many: Vec<Control> = (0..40).map(|_| Control { standard: Standard::Cis4, id: "1.1" }).collect();
    assert_eq!(asff::related_requirements(&many).len(), 32);
    // OCSF carries the same requirements and their standards.
    let event = ocsf::finding_with_controls(&f, t(0), &controls);
    assert_eq!(event["compliance"]["requirements"].as_array().unwrap().len(), 3);
    assert_eq!(event["compliance"]["standards"][2], "AWS Foundational Security Best Practices v1.0.0");
}

#[test]
fn asff_texts_are_within_security_hub_s_limits() {
    let mut f = finding("user-inline-policies", "bob");
    f.title = "t".repeat(400);
    f.message = "m".repeat(200_000);
    f.remediation = "r".repeat(5_000);
    f.details = serde_json::json!({"document": "d".repeat(300_000)});
    let a = asff::finding(&suppressed(f), Record::Suppressed, t(0), &target());
    assert!(a.title.chars().count() <= asff::MAX_TITLE);
    assert!(a.description.chars().count() <= asff::MAX_DESCRIPTION && a.description.ends_with("(cut)"));
    assert!(a.remediation.recommendation.text.chars().count() <= asff::MAX_RECOMMENDATION);
    assert!(a.size() <= hub::MAX_FINDING_BYTES, "{} bytes", a.size());
}

#[test]
fn every_format_says_which_rules_were_not_evaluated() {
    let rule = export::NotEvaluated {
        rule_id: "password-policy".into(),
        title: "Password policy".into(),
        reason: "password policy not collected".into(),
        id: "x".into(),
        account_arn: format!("arn:aws:iam::{ACCOUNT}:root"),
    };
    let a = asff::not_evaluated(&rule, ACCOUNT, &target());
    assert_eq!((a.compliance.status.as_str(), a.record_state.as_str()), ("NOT_AVAILABLE", "ACTIVE"));
    assert!(a.description.contains("password policy not collected"));
    let o = ocsf::not_evaluated(&rule, ACCOUNT, t(0));
    assert_eq!(o["compliance"]["status_id"], 0);
    assert_eq!(o["class_uid"], 2003);
}

#[test]
fn csv_cells_that_a_spreadsheet_would_compute_are_text() {
    for formula in ["=1+2", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"] {
        assert_eq!(csv_export::cell(formula), format!("'{formula}"));
    }
    assert_eq!(csv_export::cell("bob"), "bob");
    assert_eq!(csv_export::cell(""), "");
}

// ---------------------------------------------------------------------------------------------
// The export's plan

fn sweep<'a>(findings: &'a [Finding], rules: &[&str], now: DateTime<Utc>) -> Observation<'a> {
    Observation::sweep(findings, rules.iter().map(|r| r.to_string()), now, GlobalSettings::default())
}

fn exporter(now: DateTime<Utc>) -> Exporter {
    Exporter::new("us-east-1", now)
}

/// Apply every write of a plan to the state (conditions checked, as DynamoDB would).
fn apply(state: &mut BTreeMap<String, StateItem>, plan: &Plan) {
    for w in plan.claims.iter().map(|c| &c.claim).chain(&plan.updates) {
        let current = state.get(&w.fingerprint).map(|i| i.version);
        let ok = match w.expect {
            Expect::Absent => current.is_none(),
            Expect::Version(v) => current == Some(v),
        };
        assert!(ok, "condition of {} fails against {current:?}", w.fingerprint);
        match &w.put {
            Some(item) => state.insert(w.fingerprint.clone(), item.clone()),
            None => state.remove(&w.fingerprint),
        };
    }
}

/// Plan a sweep with the export on, as the live path does (findings, then resolutions), apply
/// it, and return what is owed: `(fingerprint, record)`.
fn export_sweep(state: &mut BTreeMap<String, StateItem>, obs: &Observation, on: bool) -> Vec<(String, Record)> {
    let prior = state.clone();
    let exporter = exporter(obs.now);
    let exporter = on.then_some(&exporter);
    let mut findings = plan_findings(obs, obs.findings, &prior, &mut Default::default());
    let mut dues = prepare(exporter, obs, Some(obs.findings), &prior, &mut findings);
    apply(state, &findings);
    let mut resolutions = plan_resolutions(obs, &prior);
    dues.extend(prepare(exporter, obs, None, &prior, &mut resolutions));
    apply(state, &resolutions);
    dues.into_iter().map(|d| (d.fingerprint, d.record)).collect()
}

#[test]
fn the_export_owes_what_changed_and_nothing_else() {
    let rules = ["user-mfa", "unused-user"];
    let bob = finding("user-mfa", "bob");
    let carol = suppressed(finding("unused-user", "carol"));
    let mut state = BTreeMap::new();
    // First sweep: both imported; the suppressed one, which SNS keeps no item for, gets one.
    let first = [bob.clone(), carol.clone()];
    let owed = export_sweep(&mut state, &sweep(&first, &rules, t(0)), true);
    assert_eq!(owed, [("user-mfa:bob".to_string(), Record::Open), ("unused-user:carol".to_string(), Record::Suppressed)]);
    assert!(state.values().all(|i| i.exported.is_some()), "{state:?}");
    assert_eq!(state["unused-user:carol"].status, ItemStatus::Suppressed);
    // Unchanged: nothing owed, nothing written for the export.
    let before = state.clone();
    assert!(export_sweep(&mut state, &sweep(&first, &rules, t(1)), true).is_empty());
    assert_eq!(state, before);
    // bob's text changes: imported again; carol's exception ends: open again.
    let mut bob2 = bob.clone();
    bob2.message = "user-mfa on bob, for 40 days now.".into();
    let second = [bob2, finding("unused-user", "carol")];
    let mut owed = export_sweep(&mut state, &sweep(&second, &rules, t(2)), true);
    owed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(owed, [("unused-user:carol".to_string(), Record::Open), ("user-mfa:bob".to_string(), Record::Open)]);
    // bob fixed: resolved; carol's rule disabled: closed, without a fix.
    let mut obs = sweep(&[], &["user-mfa"], t(3));
    obs.disabled.insert("unused-user".into());
    let mut owed = export_sweep(&mut state, &obs, true);
    owed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(owed, [("unused-user:carol".to_string(), Record::Closed), ("user-mfa:bob".to_string(), Record::Resolved)]);
    assert_eq!(state["user-mfa:bob"].exported.as_deref(), Some("resolved"));
    // Resolved and held as such: nothing more.
    assert!(export_sweep(&mut state, &sweep(&[], &["user-mfa", "unused-user"], t(4)), true).is_empty());
}

#[test]
fn turned_on_later_the_export_imports_what_is_open_and_not_what_was_resolved_before() {
    let rules = ["user-mfa"];
    let bob = finding("user-mfa", "bob");
    let dave = finding("user-mfa", "dave");
    let mut state = BTreeMap::new();
    export_sweep(&mut state, &sweep(&[bob.clone(), dave], &rules, t(0)), false);
    export_sweep(&mut state, &sweep(std::slice::from_ref(&bob), &rules, t(1)), false);
    assert!(state.values().all(|i| i.exported.is_none()), "the export off writes no marker");
    assert_eq!(state["user-mfa:dave"].status, ItemStatus::Resolved);
    let owed = export_sweep(&mut state, &sweep(std::slice::from_ref(&bob), &rules, t(2)), true);
    assert_eq!(owed, [("user-mfa:bob".to_string(), Record::Open)], "dave was resolved before Security Hub knew of it");
    assert!(state["user-mfa:dave"].exported.is_none());
    // The item written for bob keeps its finding (a sweep reads items without it).
    assert!(state["user-mfa:bob"].finding.as_deref().is_some_and(|f| f.contains("user-mfa on bob")));
}

#[test]
fn without_an_exporter_the_plan_is_untouched() {
    let findings = [finding("user-mfa", "bob"), suppressed(finding("unused-user", "carol"))];
    let obs = sweep(&findings, &["user-mfa", "unused-user"], t(0));
    let prior = BTreeMap::new();
    let reference = plan(&obs, &prior);
    let mut planned = plan(&obs, &prior);
    assert!(prepare(None, &obs, Some(&findings), &prior, &mut planned).is_empty());
    assert_eq!(planned, reference);
}

#[test]
fn the_token_names_what_security_hub_holds() {
    let mut state = BTreeMap::new();
    let bob = [finding("user-mfa", "bob")];
    export_sweep(&mut state, &sweep(&bob, &["user-mfa"], t(0)), false);
    let mut item = state["user-mfa:bob"].clone();
    assert!(token(&item, false).unwrap().starts_with("open:high:"));
    item.status = ItemStatus::Resolved;
    assert_eq!(token(&item, false), None, "resolved and never held: nothing");
    item.exported = Some("open:high:x".into());
    assert_eq!(token(&item, false).as_deref(), Some("resolved"));
    assert_eq!(token(&item, true).as_deref(), Some("closed"));
}

// ---------------------------------------------------------------------------------------------
// The import adapter

fn asff_of(n: usize) -> Vec<AsffFinding> {
    (0..n).map(|i| asff::finding(&finding("user-mfa", &format!("u{i:03}")), Record::Open, t(0), &target())).collect()
}

fn hub_clients(rules: &[&aws_smithy_mocks::Rule]) -> Clients {
    let hub = mock_client!(aws_sdk_securityhub, RuleMode::Sequential, rules.iter().copied(), |c| c
        .retry_config(aws_sdk_securityhub::config::retry::RetryConfig::disabled()));
    let base = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::from_static("us-east-1"))
        .build();
    let unused = Clients::from_config(&base);
    Clients::from_sdk_clients(unused.iam, unused.ssm, unused.sns, unused.dynamodb).with_securityhub(hub)
}

fn failed(ids: &[&str]) -> BatchImportFindingsOutput {
    BatchImportFindingsOutput::builder()
        .failed_count(ids.len() as i32)
        .success_count(0)
        .set_failed_findings(Some(
            ids.iter()
                .map(|id| ImportFindingsError::builder().id(*id).error_code("InternalFailure").error_message("try again").build())
                .collect(),
        ))
        .build()
}

fn ok() -> BatchImportFindingsOutput {
    BatchImportFindingsOutput::builder().failed_count(0).success_count(0).build()
}

#[tokio::test]
async fn imports_go_100_a_request_and_reported_failures_are_resent() {
    let findings = asff_of(150);
    let first_id = findings[0].id.clone();
    let sizes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = sizes.clone();
    let record = move |input: &BatchImportFindingsInput| {
        seen.lock().unwrap().push(input.findings().len());
        true
    };
    let first = mock!(aws_sdk_securityhub::Client::batch_import_findings).match_requests(record.clone()).then_output({
        let id = first_id.clone();
        move || failed(&[&id])
    });
    let resent = mock!(aws_sdk_securityhub::Client::batch_import_findings).match_requests(record.clone()).then_output(ok);
    let second = mock!(aws_sdk_securityhub::Client::batch_import_findings).match_requests(record).then_output(ok);
    let clients = hub_clients(&[&first, &resent, &second]);
    let outcome = hub::import(&clients, &findings).await;
    assert!(outcome.complete(), "{:?}", outcome.failed);
    assert_eq!((outcome.imported, outcome.requests, outcome.retried), (150, 3, 1));
    assert_eq!(*sizes.lock().unwrap(), [100, 1, 50], "100, then the one resent, then the other 50");
    assert_eq!(clients.counter.snapshot().get("securityhub:BatchImportFindings"), Some(&3));
}

#[tokio::test]
async fn what_keeps_failing_is_named_and_the_rest_imported() {
    let findings = asff_of(3);
    let id = findings[1].id.clone();
    let rules: Vec<aws_smithy_mocks::Rule> = (0..3)
        .map(|_| {
            let id = id.clone();
            mock!(aws_sdk_securityhub::Client::batch_import_findings).then_output(move || failed(&[&id]))
        })
        .collect();
    let clients = hub_clients(&rules.iter().collect::<Vec<_>>());
    let outcome = hub::import(&clients, &findings).await;
    assert_eq!((outcome.imported, outcome.requests, outcome.retried), (2, 3, 2));
    assert_eq!(outcome.failed.keys().collect::<Vec<_>>(), [&id]);
    assert!(outcome.failed[&id].contains("InternalFailure: try again"), "{:?}", outcome.failed);
}

#[tokio::test]
async fn a_request_that_fails_fails_its_findings_and_an_oversized_finding_is_not_sent() {
    let mut findings = asff_of(2);
    findings[1].description = "x".repeat(hub::MAX_FINDING_BYTES);
    let rules: Vec<aws_smithy_mocks::Rule> = (0..3)
        .map(|_| {
            mock!(aws_sdk_securityhub::Client::batch_import_findings).then_error(|| {
                aws_sdk_securityhub::operation::batch_import_findings::BatchImportFindingsError::InvalidAccessException(
                    aws_sdk_securityhub::types::error::InvalidAccessException::builder()
                        .message("not subscribed")
                        .meta(ErrorMetadata::builder().code("InvalidAccessException").message("not subscribed").build())
                        .build(),
                )
            })
        })
        .collect();
    let clients = hub_clients(&rules.iter().collect::<Vec<_>>());
    let outcome = hub::import(&clients, &findings).await;
    assert_eq!(outcome.imported, 0);
    assert_eq!(outcome.failed.len(), 2);
    assert!(outcome.failed[&findings[0].id].contains("not subscribed"), "{:?}", outcome.failed);
    assert!(outcome.failed[&findings[1].id].contains("over Security Hub's limit"), "{:?}", outcome.failed);
    assert_eq!(outcome.requests, 3, "one request, resent twice, with the one finding that fits");
}

#[tokio::test]
async fn a_failure_naming_an_unknown_id_fails_the_request_s_findings() {
    let findings = asff_of(2);
    let rules: Vec<aws_smithy_mocks::Rule> =
        (0..3).map(|_| mock!(aws_sdk_securityhub::Client::batch_import_findings).then_output(|| failed(&["not-ours"]))).collect();
    let clients = hub_clients(&rules.iter().collect::<Vec<_>>());
    let outcome = hub::import(&clients, &findings).await;
    assert_eq!(outcome.imported, 0);
    assert_eq!(outcome.failed.len(), 2, "nothing is taken for imported when the answer does not add up");
}
