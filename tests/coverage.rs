//! The sources and report of the standards' controls: IAM Access Analyzer and the account's
//! security contact read through their adapters (scripted SDK responses: the emulator does not
//! implement Access Analyzer; the security contact also against the emulator, which does), and
//! `iam-assurance compliance` over the sample account's files and over a live sweep.

use std::collections::BTreeMap;

use aws_sdk_accessanalyzer::operation::list_analyzers::ListAnalyzersOutput;
use aws_sdk_accessanalyzer::primitives::DateTime as AaDateTime;
use aws_sdk_accessanalyzer::types::{AnalyzerStatus, AnalyzerSummary, Type};
use aws_sdk_account::operation::get_alternate_contact::{GetAlternateContactError, GetAlternateContactOutput};
use aws_sdk_account::operation::list_regions::ListRegionsOutput;
use aws_sdk_account::types::{AlternateContact, AlternateContactType, Region, RegionOptStatus};
use aws_smithy_mocks::{mock, mock_client, RuleMode};
use iam_assurance_aws::{collect, Clients, Collection};
use iam_assurance_rules::inventory::DataSource;
use serde_json::Value;

use crate::support::*;

fn base() -> Clients {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::from_static("us-east-1"))
        .build();
    Clients::from_config(&config)
}

fn summary(name: &str, kind: Type, status: AnalyzerStatus) -> AnalyzerSummary {
    AnalyzerSummary::builder()
        .arn(format!("arn:aws:access-analyzer:us-east-1:123456789012:analyzer/{name}"))
        .name(name)
        .r#type(kind)
        .created_at(AaDateTime::from_secs(1_700_000_000))
        .status(status)
        .build()
        .unwrap()
}

fn only_outside_iam(regions: &[&str]) -> Collection {
    Collection {
        access_analyzers: true,
        access_analyzer_regions: regions.iter().map(|r| r.to_string()).collect(),
        security_contact: true,
        ..Default::default()
    }
}

fn deadline() -> std::time::Instant {
    std::time::Instant::now() + std::time::Duration::from_secs(30)
}

#[tokio::test]
async fn analyzers_of_every_enabled_region_and_the_security_contact() {
    let regions = mock!(aws_sdk_account::Client::list_regions).then_output(|| {
        ListRegionsOutput::builder()
            .regions(Region::builder().region_name("eu-west-1").region_opt_status(RegionOptStatus::EnabledByDefault).build())
            .regions(Region::builder().region_name("us-east-1").region_opt_status(RegionOptStatus::EnabledByDefault).build())
            .build()
    });
    let contact = mock!(aws_sdk_account::Client::get_alternate_contact).then_output(|| {
        GetAlternateContactOutput::builder()
            .alternate_contact(
                AlternateContact::builder()
                    .alternate_contact_type(AlternateContactType::Security)
                    .email_address("security@example.com")
                    .name("Security")
                    .build(),
            )
            .build()
    });
    // Regions are read one after the other, in order: eu-west-1 (two pages), then us-east-1.
    let page1 = mock!(aws_sdk_accessanalyzer::Client::list_analyzers).then_output(|| {
        ListAnalyzersOutput::builder()
            .analyzers(summary("unused", Type::AccountUnusedAccess, AnalyzerStatus::Active))
            .next_token("page-2")
            .build()
            .unwrap()
    });
    let page2 = mock!(aws_sdk_accessanalyzer::Client::list_analyzers)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(|| ListAnalyzersOutput::builder().set_analyzers(Some(vec![])).build().unwrap());
    let east = mock!(aws_sdk_accessanalyzer::Client::list_analyzers).then_output(|| {
        ListAnalyzersOutput::builder().analyzers(summary("external", Type::Account, AnalyzerStatus::Active)).build().unwrap()
    });
    let account = mock_client!(aws_sdk_account, RuleMode::MatchAny, [&regions, &contact]);
    let analyzer = mock_client!(aws_sdk_accessanalyzer, RuleMode::Sequential, [&page1, &page2, &east]);
    let clients = base().with_account_clients(analyzer, account);
    let inventory = collect(&clients, &only_outside_iam(&[]), deadline()).await;
    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    let found = inventory.access_analyzers.unwrap();
    assert_eq!(found.regions.iter().map(|r| r.region.as_str()).collect::<Vec<_>>(), ["eu-west-1", "us-east-1"]);
    assert_eq!(found.region("eu-west-1").unwrap().analyzers[0].kind, "ACCOUNT_UNUSED_ACCESS");
    assert!(found.region("us-east-1").unwrap().analyzers[0].is_external_access());
    assert_eq!(inventory.security_contact.unwrap().unwrap().email.as_deref(), Some("security@example.com"));
    // Every call counted, under the action that allows it.
    let calls: BTreeMap<String, u64> = clients.counter.snapshot();
    assert_eq!(calls.get("account:ListRegions"), Some(&1));
    assert_eq!(calls.get("accessanalyzer:ListAnalyzers"), Some(&3));
    assert_eq!(calls.get("account:GetAlternateContact"), Some(&1));
    for call in calls.keys() {
        assert!(iam_assurance_aws::permissions::is_granted(call), "{call} is not in permissions.rs");
    }
}

#[tokio::test]
async fn configured_regions_skip_list_regions_and_a_failing_region_is_a_gap_naming_it() {
    let east = mock!(aws_sdk_accessanalyzer::Client::list_analyzers)
        .then_output(|| ListAnalyzersOutput::builder().set_analyzers(Some(vec![])).build().unwrap());
    let denied = mock!(aws_sdk_accessanalyzer::Client::list_analyzers).then_error(|| {
        aws_sdk_accessanalyzer::operation::list_analyzers::ListAnalyzersError::AccessDeniedException(
            aws_sdk_accessanalyzer::types::error::AccessDeniedException::builder()
                .message("denied by an SCP")
                .meta(
                    aws_sdk_accessanalyzer::error::ErrorMetadata::builder()
                        .code("AccessDeniedException")
                        .message("denied by an SCP")
                        .build(),
                )
                .build()
                .unwrap(),
        )
    });
    let none = mock!(aws_sdk_account::Client::get_alternate_contact).then_error(|| {
        GetAlternateContactError::ResourceNotFoundException(
            aws_sdk_account::types::error::ResourceNotFoundException::builder()
                .message("No contact of the inputted alternate contact type found.")
                .meta(aws_sdk_account::error::ErrorMetadata::builder().code("ResourceNotFoundException").build())
                .build()
                .unwrap(),
        )
    });
    let analyzer = mock_client!(aws_sdk_accessanalyzer, RuleMode::Sequential, [&east, &denied], |c| c
        .retry_config(aws_sdk_accessanalyzer::config::retry::RetryConfig::disabled()));
    let account = mock_client!(aws_sdk_account, RuleMode::MatchAny, [&none]);
    let clients = base().with_account_clients(analyzer, account);
    let inventory = collect(&clients, &only_outside_iam(&["us-east-1", "ap-south-1"]), deadline()).await;
    assert!(inventory.access_analyzers.is_none());
    let gap = &inventory.gaps[&DataSource::AccessAnalyzers];
    assert!(gap.contains("ap-south-1") && gap.contains("denied by an SCP"), "{gap}");
    // No security contact is an answer, not a gap.
    assert_eq!(inventory.security_contact, Some(None));
    assert!(!clients.counter.snapshot().contains_key("account:ListRegions"));
}

// ---------------------------------------------------------------------------------------------
// The report

fn sample(name: &str) -> String {
    fixture("sample-account").join(name).display().to_string()
}

fn compliance(standard: &str, extra: &[&str]) -> (Value, std::process::Output) {
    let files = [
        ("--authorization-details", "authorization-details.json"),
        ("--credential-report", "credential-report.csv"),
        ("--password-policy", "password-policy.json"),
        ("--account-summary", "account-summary.json"),
        ("--server-certificates", "server-certificates.json"),
        ("--access-analyzers", "access-analyzers.json"),
        ("--security-contact", "security-contact.json"),
    ];
    let paths: Vec<(String, String)> = files.iter().map(|(flag, file)| (flag.to_string(), sample(file))).collect();
    let mut args: Vec<&str> = vec!["compliance", "--standard", standard, "--format", "json", "--now", "2026-11-23T12:00:00Z"];
    for (flag, path) in &paths {
        args.push(flag);
        args.push(path);
    }
    args.extend_from_slice(extra);
    let out = run_bin(&args, &[]);
    let json = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (json, out)
}

fn statuses(report: &Value) -> BTreeMap<String, String> {
    report["controls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c["status"].as_str().unwrap().to_string()))
        .collect()
}

/// The sample account, control by control, as a reader checks it by hand against the files.
#[test]
fn cis_5_on_the_sample_account() {
    let (report, out) = compliance("cis-5.0", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected: BTreeMap<String, String> = [
        ("1.1", "manual"),
        ("1.2", "pass"),          // security-contact.json has an email
        ("1.3", "fail"),          // the root row has an active key
        ("1.4", "pass"),          // root MFA on
        ("1.5", "not_evaluated"), // hardware MFA needs require_hardware
        ("1.6", "fail"),          // root signed in yesterday
        ("1.7", "fail"),          // minimum length 8
        ("1.8", "fail"),          // no reuse prevention
        ("1.9", "fail"),          // bob: console password, no MFA
        ("1.10", "pass"),         // no key made with its console user and never used
        ("1.11", "fail"),         // svc-deploy's unused key, bob's unused password
        ("1.12", "fail"),         // bob's two active keys
        ("1.13", "fail"),         // bob's and svc-deploy's old keys
        ("1.14", "fail"),         // bob's inline policy, svc-deploy's attached policy
        ("1.15", "fail"),         // FullAdmin, attached
        ("1.16", "fail"),         // no role has AWSSupportAccess
        ("1.17", "not_covered"),  // EC2
        ("1.18", "pass"),         // legacy-web is old, not expired
        ("1.19", "fail"),         // eu-west-1 has only an unused-access analyzer
        ("1.20", "manual"),
        ("1.21", "pass"), // nobody has AWSCloudShellFullAccess
    ]
    .into_iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(statuses(&report), expected);
    assert_eq!(report["counts"], serde_json::json!({"pass": 5, "fail": 12, "not_evaluated": 1, "manual": 2, "not_covered": 1}));
    let c = |id: &str| report["controls"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
    let failing =
        |id: &str| c(id)["failing"].as_array().unwrap().iter().map(|r| r["resource_arn"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(failing("1.12"), ["arn:aws:iam::123456789012:user/bob"]);
    assert_eq!(failing("1.19"), ["arn:aws:iam::123456789012:root"]);
    assert!(c("1.19")["failing"][0]["message"].as_str().unwrap().contains("eu-west-1"));
    assert_eq!(c("1.11")["rules"].as_array().unwrap().len(), 2);
    assert!(c("1.5")["reason"].as_str().unwrap().contains("require_hardware"));
}

#[test]
fn every_standard_lists_every_control_in_text_and_json() {
    for (standard, count) in [("cis-3.0", 22), ("cis-4.0", 22), ("cis-5.0", 21), ("fsbp", 12)] {
        let (report, _) = compliance(standard, &[]);
        assert_eq!(report["standard"], standard);
        assert_eq!(report["controls"].as_array().unwrap().len(), count, "{standard}");
        let counts = &report["counts"];
        let total: u64 = ["pass", "fail", "not_evaluated", "manual", "not_covered"].iter().map(|k| counts[k].as_u64().unwrap()).sum();
        assert_eq!(total, count as u64, "{standard}");
    }
    // CIS 3.0 has the security questions; with hardware MFA required the root's virtual device
    // (none is listed without --virtual-mfa-devices) cannot be judged.
    let (cis3, _) = compliance("cis-3.0", &[]);
    assert_eq!(statuses(&cis3)["1.3"], "manual");
    assert_eq!(statuses(&cis3)["1.4"], "fail");
    let (fsbp, _) = compliance("fsbp", &[]);
    let fsbp = statuses(&fsbp);
    assert_eq!(fsbp["Account.1"], "pass");
    assert_eq!(fsbp["IAM.2"], "fail");
    assert_eq!(fsbp["IAM.7"], "fail"); // no symbols required
    assert_eq!(fsbp["KMS.1"], "not_covered");
    // Text: one line per control, its failing resources under it.
    let adf = sample("authorization-details.json");
    let cr = sample("credential-report.csv");
    let out = run_bin(
        &[
            "compliance",
            "--standard",
            "cis-4.0",
            "--authorization-details",
            &adf,
            "--credential-report",
            &cr,
            "--now",
            "2026-11-23T12:00:00Z",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("CIS Amazon Web Services Foundations Benchmark v4.0.1"), "{text}");
    for id in 1..=22 {
        assert!(text.lines().any(|l| l.starts_with(&format!("1.{id} "))), "1.{id} in {text}");
    }
    assert!(text.contains("fails: arn:aws:iam::123456789012:user/bob (user-mfa)"), "{text}");
    assert!(
        text.contains("why: security-contact: security alternate contact unavailable: not provided (pass --security-contact FILE)"),
        "{text}"
    );
    // Bad input: named, never a panic.
    let out = run_bin(&["compliance", "--standard", "cis-6.0", "--authorization-details", &adf, "--credential-report", &cr], &[]);
    assert!(!out.status.success() && stderr(&out).contains("unknown standard"), "{}", stderr(&out));
    let out = run_bin(&["compliance", "--standard", "fsbp", "--credential-report", &cr], &[]);
    assert!(!out.status.success() && stderr(&out).contains("--authorization-details"), "{}", stderr(&out));
}

/// Over a live sweep of the emulator: the security contact read (moto implements it), Access
/// Analyzer a gap (moto does not: ListAnalyzers answers 404), so CIS 1.19 is not evaluated and the
/// CLI exits 4 naming the source; with its regions' rule disabled it is not evaluated either,
/// saying so, and nothing is missing.
#[test]
fn compliance_over_a_live_sweep_of_the_emulator() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(async {
        let env = Env::start_stateless().await;
        seed_people(&env.iam()).await;
        env
    });
    let vars = env.moto.env();
    let envs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |extra: &[&str]| {
        let mut args = vec!["compliance", "--standard", "cis-5.0", "--format", "json"];
        args.extend_from_slice(extra);
        run_bin(&args, &envs)
    };
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("ListAnalyzers") || stderr(&out).contains("ListRegions"), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let s = statuses(&report);
    assert_eq!(s.len(), 21);
    assert_eq!(s["1.19"], "not_evaluated");
    // moto has no security contact until one is put.
    assert_eq!(s["1.2"], "fail");
    let account = aws_sdk_account::Client::new(&rt.block_on(env.moto.sdk_config()));
    rt.block_on(
        account
            .put_alternate_contact()
            .alternate_contact_type(AlternateContactType::Security)
            .email_address("security@example.com")
            .name("Security")
            .phone_number("+1-555-0100")
            .title("SecOps")
            .send(),
    )
    .unwrap();
    let dir = std::env::temp_dir().join(format!("iam-assurance-compliance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("settings.json");
    std::fs::write(&settings, r#"{"access-analyzer-enabled": {"enabled": false}}"#).unwrap();
    let out = run(&["--settings-file", settings.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let s = statuses(&report);
    assert_eq!(s["1.2"], "pass");
    assert_eq!(s["1.19"], "not_evaluated");
    let analyzer = report["controls"].as_array().unwrap().iter().find(|c| c["id"] == "1.19").unwrap();
    assert!(analyzer["reason"].as_str().unwrap().contains("access-analyzer-enabled is disabled"), "{analyzer}");
    let _ = std::fs::remove_dir_all(&dir);
}
