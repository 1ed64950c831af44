//! What the function tells its operators: the EMF metric lines and the WARN lines of rules
//! that could not be evaluated, on runs of the sample account, and from the binary run as a
//! Lambda function against moto with a broken setting and a data source its policy denies.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::time::Duration;

use chrono::{DateTime, Utc};
use iam_assurance::audit::{load, AuditFiles, OptionalFiles};
use iam_assurance::output::RunOutput;
use iam_assurance::output::{Changes, EventTrigger, NotPublished, Published, StateKind, Trigger};
use iam_assurance::run::RunError;
use iam_assurance::telemetry::{self, NAMESPACE};
use iam_assurance_rules::{evaluate, Cause, FindingStatus, RuleStatus, Settings};
use serde_json::{json, Value};

use crate::lambda::start_function;
use crate::support::*;

const UNITS: &[&str] = &["Count", "Milliseconds"];

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&Utc)
}

/// Check one EMF document the way CloudWatch reads it, and return its metrics by name with
/// the dimension sets each is published under.
fn emf(doc: &Value) -> BTreeMap<String, (f64, Vec<Vec<String>>)> {
    let aws = &doc["_aws"];
    assert!(aws["Timestamp"].as_i64().is_some_and(|t| t > 1_600_000_000_000), "Timestamp in ms: {doc}");
    let directives = aws["CloudWatchMetrics"].as_array().unwrap_or_else(|| panic!("CloudWatchMetrics: {doc}"));
    assert!(!directives.is_empty());
    let mut metrics: BTreeMap<String, (f64, Vec<Vec<String>>)> = BTreeMap::new();
    for directive in directives {
        assert_eq!(directive["Namespace"], NAMESPACE, "{doc}");
        let sets = directive["Dimensions"].as_array().expect("Dimensions");
        assert!(!sets.is_empty());
        let mut dimension_sets = Vec::new();
        for set in sets {
            let set: Vec<String> =
                set.as_array().expect("a dimension set").iter().map(|d| d.as_str().expect("a name").to_string()).collect();
            assert!(!set.is_empty() && set.len() <= 30);
            for dimension in &set {
                assert!(doc[dimension].as_str().is_some_and(|v| !v.is_empty()), "dimension {dimension} needs a string value: {doc}");
            }
            dimension_sets.push(set);
        }
        for definition in directive["Metrics"].as_array().expect("Metrics") {
            let name = definition["Name"].as_str().expect("Name").to_string();
            assert!(UNITS.contains(&definition["Unit"].as_str().unwrap_or("")), "{definition}");
            let value = doc[&name].as_f64().unwrap_or_else(|| panic!("metric {name} needs a number member: {doc}"));
            metrics.entry(name).or_insert((value, Vec::new())).1.extend(dimension_sets.iter().cloned());
        }
    }
    metrics
}

fn value(metrics: &BTreeMap<String, (f64, Vec<Vec<String>>)>, name: &str) -> f64 {
    metrics.get(name).unwrap_or_else(|| panic!("no metric {name} in {metrics:?}")).0
}

/// The sample account audited offline with one broken setting and no password policy file.
fn sample_run(trigger: Trigger) -> RunOutput {
    let sample = fixture("sample-account");
    let files = AuditFiles {
        authorization_details: sample.join("authorization-details.json"),
        credential_report: sample.join("credential-report.csv"),
        optional: OptionalFiles {
            account_summary: Some(sample.join("account-summary.json")),
            server_certificates: Some(sample.join("server-certificates.json")),
            ..Default::default()
        },
    };
    let inventory = load(&files).unwrap();
    let settings = Settings::from_json_text(r#"{"access-key-rotation": {"max_age_days": "ninety"}}"#).unwrap();
    let report = evaluate(&inventory, &settings, now());
    let calls = BTreeMap::from([
        ("iam:GetAccountAuthorizationDetails".to_string(), 2),
        ("iam:GetCredentialReport".to_string(), 1),
        ("ssm:GetParametersByPath".to_string(), 1),
        ("sns:PublishBatch".to_string(), 3),
    ]);
    RunOutput::from_report(report, trigger, calls)
}

/// The rules a run could not evaluate for a gap to fix (data unread, settings invalid).
fn not_evaluated(output: &RunOutput) -> BTreeSet<String> {
    output
        .rules
        .iter()
        .filter(|r| r.status == RuleStatus::NotEvaluated && matches!(r.cause, Some(Cause::Unreadable | Cause::InvalidSettings)))
        .map(|r| r.rule_id.clone())
        .collect()
}

#[test]
fn a_sweep_with_a_broken_setting_reports_its_blind_rules_and_counts() {
    let mut output = sample_run(Trigger::Schedule { event_id: Some("e-1".into()), time: None });
    output.published = Some(published(Changes { new: 4, resolved: 1, reminder: 2 }));
    let blind = not_evaluated(&output);
    // The broken setting, and the password policy that was not given.
    assert!(blind.contains("access-key-rotation") && blind.contains("password-policy"), "{blind:?}");

    let docs = telemetry::run_metrics(&output, Duration::from_millis(1234), "iam-assurance-prod", Some("req-7"), now());
    assert_eq!(docs.len(), 6, "the run and one document per severity");
    let run = &docs[0];
    let metrics = emf(run);
    assert_eq!(run["Trigger"], "schedule");
    assert_eq!(run["FunctionName"], "iam-assurance-prod");
    assert_eq!(run["requestId"], "req-7");
    assert_eq!(run["_aws"]["Timestamp"], now().timestamp_millis());
    assert_eq!(value(&metrics, "RulesNotEvaluated"), blind.len() as f64);
    let listed: BTreeSet<String> = run["not_evaluated"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(listed, blind);
    // Rules left unconfigured are a known state of the deployment, not a blind spot: listed
    // with their cause, not counted (a fresh deployment does not raise the alarm).
    let known = run["not_evaluated_known"].as_object().unwrap();
    assert_eq!(known["approved-users"], "unconfigured", "{known:?}");
    assert!(!blind.contains("approved-users"));
    let all = output.rules.iter().filter(|r| r.status == RuleStatus::NotEvaluated).count();
    assert_eq!(all, blind.len() + known.len());
    let evaluated = output.rules.iter().filter(|r| r.status == RuleStatus::Evaluated).count();
    assert!(evaluated > 10);
    assert_eq!(value(&metrics, "RulesEvaluated"), evaluated as f64);
    assert_eq!(value(&metrics, "FindingsNew"), 4.0);
    assert_eq!(value(&metrics, "FindingsResolved"), 1.0);
    assert_eq!(value(&metrics, "FindingsReminded"), 2.0);
    assert_eq!(value(&metrics, "ApiCalls"), 7.0);
    assert_eq!(value(&metrics, "IamCalls"), 3.0);
    assert_eq!(value(&metrics, "Duration"), 1234.0);
    assert_eq!(value(&metrics, "SweepsCompleted"), 1.0);
    assert!(!metrics.contains_key("RunsFailed"));
    // Every metric by function and trigger; rules not evaluated also by function alone.
    let by_trigger = vec!["FunctionName".to_string(), "Trigger".to_string()];
    for (name, (_, sets)) in &metrics {
        assert!(sets.contains(&by_trigger), "{name}: {sets:?}");
    }
    assert!(metrics["RulesNotEvaluated"].1.contains(&vec!["FunctionName".to_string()]));

    // Open findings by severity: every open finding counted once, under its severity.
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for finding in output.findings.iter().filter(|f| f.status == FindingStatus::Open) {
        *expected.entry(finding.severity.as_str().to_string()).or_default() += 1.0;
    }
    assert!(expected.len() >= 3, "{expected:?}");
    let mut seen = BTreeSet::new();
    for doc in &docs[1..] {
        let metrics = emf(doc);
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics["FindingsOpen"].1, vec![vec!["FunctionName".to_string(), "Trigger".to_string(), "Severity".to_string()]]);
        let severity = doc["Severity"].as_str().unwrap().to_string();
        assert_eq!(value(&metrics, "FindingsOpen"), expected.get(&severity).copied().unwrap_or(0.0), "{severity}");
        seen.insert(severity);
    }
    assert_eq!(seen, ["critical", "high", "medium", "low", "info"].into_iter().map(String::from).collect());
}

#[test]
fn runs_other_than_sweeps_have_no_heartbeat_and_no_account_wide_counts() {
    let output = sample_run(Trigger::Cloudtrail(EventTrigger {
        event_id: "e-2".into(),
        event_name: "CreateUser".into(),
        event_time: None,
        root_activity: false,
        entity: None,
        related: None,
        skipped: None,
        narrowed: None,
        unmoved: Vec::new(),
    }));
    let docs = telemetry::run_metrics(&output, Duration::from_millis(40), "f", None, now());
    assert_eq!(docs.len(), 1);
    let metrics = emf(&docs[0]);
    assert_eq!(docs[0]["Trigger"], "cloudtrail");
    assert!(docs[0].get("requestId").is_none());
    assert!(!metrics.contains_key("SweepsCompleted") && !metrics.contains_key("FindingsOpen"));
    // Not published: no change counts (rather than zeros that were never measured).
    assert!(!metrics.contains_key("FindingsNew"), "{metrics:?}");
    assert_eq!(value(&metrics, "RulesNotEvaluated"), not_evaluated(&output).len() as f64);

    let ignored = RunOutput::ignored(String::new(), "unhandled".into(), now());
    let docs = telemetry::run_metrics(&ignored, Duration::from_millis(1), "f", None, now());
    let metrics = emf(&docs[0]);
    assert_eq!(docs[0]["Trigger"], "ignored");
    assert_eq!(value(&metrics, "RulesNotEvaluated"), 0.0);
    assert_eq!(value(&metrics, "ApiCalls"), 0.0);
}

#[test]
fn a_failed_run_counts_as_failed_under_its_event_trigger() {
    let schedule: Value = serde_json::from_str(&std::fs::read_to_string(event_path("schedule.json")).unwrap()).unwrap();
    let err = RunError::Settings("GetParametersByPath failed: AccessDeniedException".into());
    let doc = telemetry::failure_metrics(&schedule, &err, Duration::from_millis(75), "f", Some("r"), now());
    let metrics = emf(&doc);
    assert_eq!(doc["Trigger"], "schedule");
    assert_eq!(value(&metrics, "RunsFailed"), 1.0);
    assert_eq!(value(&metrics, "Duration"), 75.0);
    assert!(!metrics.contains_key("SweepsCompleted"), "a failed sweep is no heartbeat");
    assert_eq!(doc["error_type"], "SettingsUnavailable");
    assert!(doc["error"].as_str().unwrap().contains("AccessDeniedException"));

    let event: Value = serde_json::from_str(&std::fs::read_to_string(event_path("create-user.json")).unwrap()).unwrap();
    let doc = telemetry::failure_metrics(&event, &RunError::Publish("throttled".into()), Duration::ZERO, "f", None, now());
    assert_eq!(doc["Trigger"], "cloudtrail");
    assert_eq!(doc["error_type"], "PublishFailed");
}

#[test]
fn facts_read_the_trigger_and_what_was_published() {
    let mut output = sample_run(Trigger::Schedule { event_id: None, time: None });
    assert_eq!(telemetry::facts(&output).trigger, "schedule");
    assert_eq!(telemetry::facts(&output).changes, None);
    output.published = Some(published(Changes { new: 3, resolved: 0, reminder: 9 }));
    assert_eq!(telemetry::facts(&output).changes, Some(Changes { new: 3, resolved: 0, reminder: 9 }));
}

// ------------------------------------------------------------------------------ the function

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect()
}

/// The function as deployed, against moto enforcing IAM policies: its role may do anything
/// except `iam:GenerateCredentialReport` (as an SCP that denies it would), and one rule's
/// setting is broken. A sweep and then a CloudTrail event: every rule that could not be
/// evaluated has its WARN line in the logs, and the metric lines on stdout say how many, with
/// the trigger, the open findings, the calls and the heartbeat.
#[test]
fn the_function_warns_and_counts_what_it_could_not_evaluate() {
    let moto = Moto::start();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (key, secret) = rt.block_on(async {
        let config = moto.sdk_config().await;
        let iam = aws_sdk_iam::Client::new(&config);
        seed_people(&iam).await;
        iam.create_user().user_name("contractor-bob").send().await.unwrap();
        iam.create_user().user_name("auditor").send().await.unwrap();
        let policy = json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:GenerateCredentialReport", "Resource": "*"}
        ]});
        iam.put_user_policy().user_name("auditor").policy_name("scp-like").policy_document(policy.to_string()).send().await.unwrap();
        let key = iam.create_access_key().user_name("auditor").send().await.unwrap().access_key.unwrap();
        let ssm = aws_sdk_ssm::Client::new(&config);
        ssm.put_parameter()
            .name("/iam-assurance/rules/access-key-rotation")
            .value(r#"{"max_age_days": "ninety"}"#)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .send()
            .await
            .unwrap();
        (key.access_key_id, key.secret_access_key)
    });
    moto.enforce_iam_policies();

    let load = |name: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(event_path(name)).unwrap()).unwrap() };
    let env = [
        ("AWS_ENDPOINT_URL", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", key),
        ("AWS_SECRET_ACCESS_KEY", secret),
        ("SETTINGS_PREFIX", "/iam-assurance".into()),
        ("AWS_LAMBDA_FUNCTION_NAME", "iam-assurance-test".into()),
    ];
    let (mut function, answers) = start_function(vec![load("schedule.json"), load("create-user.json")], &env);
    let wait = Duration::from_secs(120);
    let sweep = answers.recv_timeout(wait).expect("an answer to the schedule event");
    let event = answers.recv_timeout(wait).expect("an answer to the CloudTrail event");
    let _ = function.child.kill();
    let _ = function.child.wait();
    let (mut stdout, mut stderr) = (String::new(), String::new());
    function.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    function.child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert_eq!(sweep.kind, "response", "{sweep:?}\n{stderr}");
    assert_eq!(event.kind, "response", "{event:?}\n{stderr}");

    let blind = |body: &Value| -> BTreeMap<String, String> {
        body["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "not_evaluated" && (r["cause"] == "unreadable" || r["cause"] == "invalid_settings"))
            .map(|r| (r["rule_id"].as_str().unwrap().to_string(), r["reason"].as_str().unwrap().to_string()))
            .collect()
    };
    let sweep_blind = blind(&sweep.body);
    assert!(sweep_blind["access-key-rotation"].contains("ninety"), "{sweep_blind:?}");
    assert!(sweep_blind["user-mfa"].contains("GenerateCredentialReport"), "{sweep_blind:?}");
    let event_blind = blind(&event.body);
    assert!(event_blind.contains_key("access-key-rotation"), "{event_blind:?}");
    // Unconfigured: said at INFO with its cause, not a WARN and not counted.
    let unconfigured = sweep.body["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == "approved-users").unwrap();
    assert_eq!((&unconfigured["status"], &unconfigured["cause"]), (&json!("not_evaluated"), &json!("unconfigured")));

    // The logs: Lambda's JSON lines, a WARN per rule not evaluated with its id and reason.
    let logs = lines(&stderr);
    for line in &logs {
        assert_eq!(line["service"], "iam-assurance", "{line}");
        assert!(line["level"].is_string() && line["message"].is_string(), "{line}");
        let timestamp = line["timestamp"].as_str().unwrap_or_else(|| panic!("no timestamp: {line}"));
        assert!(DateTime::parse_from_rfc3339(timestamp).is_ok(), "{timestamp}");
    }
    for (request, cold, expected) in [("request-0", true, &sweep_blind), ("request-1", false, &event_blind)] {
        let of_request: Vec<&Value> = logs.iter().filter(|l| l["requestId"] == request).collect();
        assert!(of_request.iter().all(|l| l["cold_start"] == cold), "cold_start of {request} must be {cold}: {of_request:?}");
        let warned: BTreeMap<String, String> = of_request
            .iter()
            .filter(|l| l["level"] == "WARN" && l["rule_id"].is_string())
            .map(|l| {
                let rule = l["rule_id"].as_str().unwrap().to_string();
                assert!(l["message"].as_str().unwrap().contains(&rule), "{l}");
                (rule, l["reason"].as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(&warned, expected, "WARN lines of {request}");
        if request == "request-0" {
            let info = of_request.iter().find(|l| l["rule_id"] == "approved-users").expect("a line for the unconfigured rule");
            assert_eq!((&info["level"], &info["cause"]), (&json!("INFO"), &json!("unconfigured")), "{info}");
        }
        assert!(of_request.iter().any(|l| l["message"] == "run complete"), "{of_request:?}");
    }

    // The metric lines: a run document per invocation, severities for the sweep.
    let docs = lines(&stdout);
    let run_doc = |request: &str| -> &Value {
        docs.iter()
            .find(|d| d["requestId"] == request && d.get("Severity").is_none())
            .unwrap_or_else(|| panic!("no metrics of {request}: {stdout}"))
    };
    let sweep_doc = run_doc("request-0");
    let metrics = emf(sweep_doc);
    assert_eq!(sweep_doc["Trigger"], "schedule");
    assert_eq!(sweep_doc["FunctionName"], "iam-assurance-test");
    assert_eq!(value(&metrics, "RulesNotEvaluated"), sweep_blind.len() as f64);
    assert_eq!(value(&metrics, "SweepsCompleted"), 1.0);
    assert_eq!(value(&metrics, "ApiCalls"), sweep.body["api_calls_total"].as_f64().unwrap());
    let iam_calls: f64 =
        sweep.body["api_calls"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with("iam:")).map(|(_, n)| n.as_f64().unwrap()).sum();
    assert!(iam_calls >= 3.0);
    assert_eq!(value(&metrics, "IamCalls"), iam_calls);
    // Not publishing here (moto's access control refuses the SDK's signed SNS PublishBatch):
    // the change counts are checked on a published run above.
    assert!(sweep.body.get("published").is_none() && !metrics.contains_key("FindingsNew"));
    let open = sweep.body["findings"].as_array().unwrap().iter().filter(|f| f["status"] == "open").count() as f64;
    let by_severity: f64 =
        docs.iter().filter(|d| d["requestId"] == "request-0" && d.get("Severity").is_some()).map(|d| value(&emf(d), "FindingsOpen")).sum();
    assert_eq!(by_severity, open);

    let event_doc = run_doc("request-1");
    let metrics = emf(event_doc);
    assert_eq!(event_doc["Trigger"], "cloudtrail");
    assert_eq!(value(&metrics, "RulesNotEvaluated"), event_blind.len() as f64);
    assert!(!metrics.contains_key("SweepsCompleted"));
    assert_eq!(value(&metrics, "ApiCalls"), event.body["api_calls_total"].as_f64().unwrap());
}

/// A run's `published` with these changes.
fn published(changes: Changes) -> Published {
    Published {
        topic_arn: "arn:aws:sns:us-east-1:123456789012:findings".into(),
        state: StateKind::Dynamodb,
        state_table: Some("state".into()),
        note: None,
        changes,
        digest_parts: 1,
        messages: changes.new + changes.resolved + changes.reminder + 1,
        batches: 1,
        retried: 0,
        possibly_duplicated: 0,
        earlier_messages: 0,
        not_published: NotPublished::default(),
        state_items: None,
        state_items_skipped: None,
        state_updates: None,
        settings: Default::default(),
        roster: None,
        security_hub: None,
    }
}
