//! The CLI on the hand-made sample account in `tests/fixtures/sample-account` (see its
//! README for what each user, role, group, policy and certificate is there to trigger).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::*;

const NOW: &str = "2026-11-23T12:00:00Z";
const A: &str = "123456789012";

fn sample(name: &str) -> String {
    fixture("sample-account").join(name).display().to_string()
}

fn audit(extra: &[&str]) -> std::process::Output {
    let adf = sample("authorization-details.json");
    let cr = sample("credential-report.csv");
    let pp = sample("password-policy.json");
    let sum = sample("account-summary.json");
    let sc = sample("server-certificates.json");
    let mut args = vec![
        "audit",
        "--authorization-details",
        &adf,
        "--credential-report",
        &cr,
        "--password-policy",
        &pp,
        "--account-summary",
        &sum,
        "--server-certificates",
        &sc,
        "--now",
        NOW,
    ];
    args.extend_from_slice(extra);
    run_bin(&args, &[])
}

fn json_audit(extra: &[&str]) -> Value {
    let mut args = vec!["--format", "json"];
    args.extend_from_slice(extra);
    let out = audit(&args);
    assert!(out.status.success(), "audit failed: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("run JSON")
}

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{A}:{kind}/{name}")
}

/// Every rule fires exactly where the spec says on the sample account, and nowhere else.
#[test]
fn sample_account_findings_are_exactly_the_expected_ones() {
    let settings = sample("settings.json");
    let run = json_audit(&["--settings-file", &settings]);
    assert_eq!(run["account_id"], A);
    assert_eq!(run["trigger"]["kind"], "offline");
    let root = format!("arn:aws:iam::{A}:root");
    let rds = "arn:aws:iam::aws:policy/AmazonRDSFullAccess".to_string();
    let expected: BTreeSet<(String, String, String)> = [
        ("root-access-keys", root.clone(), "open"),
        ("root-access-key-rotation", root.clone(), "open"),
        ("root-usage", root.clone(), "open"),
        ("approved-users", arn("user", "dave"), "open"),
        ("unapproved-policy-in-use", rds, "open"),
        ("password-policy", root.clone(), "open"),
        ("unused-user", arn("user", "carol"), "open"),
        ("user-mfa", arn("user", "bob"), "open"),
        ("access-key-rotation", arn("user", "bob"), "open"),
        ("access-key-rotation", arn("user", "svc-deploy"), "suppressed"),
        ("inactive-access-key", arn("user", "svc-deploy"), "open"),
        ("multiple-access-keys", arn("user", "bob"), "open"),
        ("console-access-inactive", arn("user", "bob"), "open"),
        ("user-signing-certificate-rotation", arn("user", "erin"), "open"),
        ("user-inline-policies", arn("user", "bob"), "open"),
        ("user-attached-policies", arn("user", "svc-deploy"), "open"),
        ("inactive-role", arn("role", "legacy-etl"), "open"),
        ("role-inline-policies", arn("role", "legacy-etl"), "open"),
        ("role-inline-policies", arn("role", "read-only-auditor"), "open"),
        ("empty-group", arn("group", "old-contractors"), "open"),
        ("admin-policy", arn("policy", "FullAdmin"), "open"),
        ("server-certificate-rotation", arn("server-certificate", "legacy-web"), "open"),
        ("support-role", root.clone(), "open"),
    ]
    .into_iter()
    .map(|(r, a, s)| (r.to_string(), a, s.to_string()))
    .collect();
    let got: BTreeSet<(String, String, String)> = run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap().to_string(),
                f["resource_arn"].as_str().unwrap().to_string(),
                f["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let unexpected: Vec<_> = got.difference(&expected).collect();
    assert!(missing.is_empty() && unexpected.is_empty(), "missing: {missing:#?}\nunexpected: {unexpected:#?}");

    // Per-rule statuses are honest.
    let rules = run["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 38);
    let status = |id: &str| rules.iter().find(|r| r["rule_id"] == id).unwrap()["status"].as_str().unwrap().to_string();
    assert_eq!(status("root-password-rotation"), "not_evaluated");
    assert_eq!(status("user-service-inactivity"), "disabled");
    assert_eq!(status("role-service-inactivity"), "disabled");
    assert_eq!(status("min-admins"), "evaluated");
    let aks = rules.iter().find(|r| r["rule_id"] == "access-key-rotation").unwrap();
    assert_eq!((aks["failed"].as_u64(), aks["suppressed"].as_u64()), (Some(1), Some(1)));

    // Every finding carries the fields the run JSON promises (docs/output.md).
    for f in run["findings"].as_array().unwrap() {
        for field in
            ["rule_id", "severity", "status", "resource_type", "resource_arn", "account_id", "message", "remediation", "fingerprint"]
        {
            assert!(f[field].as_str().is_some_and(|s| !s.is_empty()), "finding lacks {field}: {f}");
        }
        assert_eq!(f["account_id"], A);
    }
    // The unapproved-policy finding names every attached entity.
    let unapproved = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "unapproved-policy-in-use").unwrap();
    let message = unapproved["message"].as_str().unwrap();
    assert!(message.contains("svc-deploy") && message.contains("developers"), "{message}");
}

#[test]
fn without_settings_rules_needing_configuration_are_not_evaluated() {
    let run = json_audit(&[]);
    let rules = run["rules"].as_array().unwrap();
    let find = |id: &str| rules.iter().find(|r| r["rule_id"] == id).unwrap().clone();
    assert_eq!(find("approved-users")["status"], "not_evaluated");
    assert_eq!(find("unapproved-policy-in-use")["status"], "not_evaluated");
    // Without the exception the svc-deploy key is open.
    let open_rotation =
        run["findings"].as_array().unwrap().iter().filter(|f| f["rule_id"] == "access-key-rotation" && f["status"] == "open").count();
    assert_eq!(open_rotation, 2);
}

#[test]
fn fingerprints_are_stable_across_runs() {
    let a = json_audit(&[]);
    let b = json_audit(&[]);
    let prints =
        |v: &Value| v["findings"].as_array().unwrap().iter().map(|f| f["fingerprint"].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(prints(&a), prints(&b));
    let unique: BTreeSet<_> = prints(&a).into_iter().collect();
    assert_eq!(unique.len(), a["findings"].as_array().unwrap().len());
}

#[test]
fn missing_optional_files_make_their_rules_not_evaluated() {
    let adf = sample("authorization-details.json");
    let cr = sample("credential-report.csv");
    let out = run_bin(&["audit", "--authorization-details", &adf, "--credential-report", &cr, "--format", "json", "--now", NOW], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rule = |id: &str| run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == id).unwrap().clone();
    let pp = rule("password-policy");
    assert_eq!(pp["status"], "not_evaluated");
    assert!(pp["reason"].as_str().unwrap().contains("--password-policy"), "{pp}");
    assert_eq!(rule("server-certificate-rotation")["status"], "not_evaluated");
    // root-access-keys still decided from the credential report alone.
    assert_eq!(rule("root-access-keys")["status"], "evaluated");
}

#[test]
fn text_format_is_a_readable_table() {
    let out = audit(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Account 123456789012"), "{text}");
    assert!(text.contains("CRITICAL") && text.contains("root-access-keys"), "{text}");
    assert!(text.contains("not_evaluated"), "{text}");
}

#[test]
fn rules_json_lists_all_38_with_params_and_defaults() {
    let out = run_bin(&["rules", "--format", "json"], &[]);
    assert!(out.status.success());
    let rules: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rules = rules.as_array().unwrap();
    assert_eq!(rules.len(), 38);
    let find = |id: &str| rules.iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("{id} missing")).clone();
    assert_eq!(find("access-key-rotation")["params"]["max_age_days"]["default"], 90);
    assert_eq!(find("inactive-access-key")["params"]["max_unused_days"]["default"], 45);
    assert_eq!(find("max-admins")["params"]["max"]["default"], 5);
    assert_eq!(find("min-admins")["params"]["min"]["default"], 2);
    assert_eq!(find("password-policy")["params"]["min_length"]["default"], 14);
    assert_eq!(find("password-policy")["params"]["reuse_prevention"]["default"], 24);
    assert_eq!(find("server-certificate-rotation")["params"]["min_days_left"]["default"], 30);
    assert_eq!(find("user-service-inactivity")["enabled_by_default"], false);
    assert_eq!(find("root-mfa")["params"]["require_hardware"]["default"], false);
    assert_eq!(find("root-usage")["params"]["window_days"]["default"], 1);
    assert_eq!(find("root-mfa")["severity"], "critical");
    // Opt-in rules list `enabled` like a parameter; `defaults` is the flat view.
    assert_eq!(find("role-service-inactivity")["params"]["enabled"]["default"], false);
    assert_eq!(
        find("role-service-inactivity")["defaults"],
        serde_json::json!({"enabled": false, "severity": "low", "max_unused_days": 90})
    );
    assert_eq!(find("password-policy")["defaults"]["min_length"], 14);
    assert_eq!(find("user-mfa")["defaults"], serde_json::json!({"enabled": true, "severity": "high"}));
    for rule in rules {
        assert_eq!(rule["rule_id"], rule["id"]);
    }
}

/// The rule table of docs/rules.md matches the catalog.
#[test]
fn rules_doc_table_matches_the_catalog() {
    let readme = std::fs::read_to_string(root().join("docs/rules.md")).unwrap();
    let out = run_bin(&["rules", "--format", "json"], &[]);
    let rules: Value = serde_json::from_str(&stdout(&out)).unwrap();
    for rule in rules.as_array().unwrap() {
        let id = rule["id"].as_str().unwrap();
        let severity = rule["severity"].as_str().unwrap();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| [`{id}`](#{id}) ")))
            .unwrap_or_else(|| panic!("docs/rules.md has no row for {id}"));
        assert!(row.contains(&format!("| {severity} |")), "docs/rules.md row for {id} does not say {severity}: {row}");
    }
}

#[test]
fn bad_files_fail_with_the_file_named_and_never_panic() {
    let dir = std::env::temp_dir().join(format!("iam-assurance-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truncated = dir.join("truncated.json");
    let full = std::fs::read_to_string(sample("authorization-details.json")).unwrap();
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let bad_csv = dir.join("report.csv");
    std::fs::write(&bad_csv, "user,arn,mfa_active\nalice,arn:aws:iam::123456789012:user/alice,true\n").unwrap();
    let bad_settings = dir.join("settings.json");
    std::fs::write(&bad_settings, r#"{"access-key-rotation":{"max_age":30}}"#).unwrap();
    let adf = sample("authorization-details.json");
    let cr = sample("credential-report.csv");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--authorization-details".into(), truncated.display().to_string(), "--credential-report".into(), cr.clone()],
            "truncated.json",
        ),
        (
            vec!["--authorization-details".into(), adf.clone(), "--credential-report".into(), bad_csv.display().to_string()],
            "missing the column",
        ),
        (
            vec!["--authorization-details".into(), adf.clone(), "--credential-report".into(), "/nonexistent/report.csv".into()],
            "/nonexistent/report.csv",
        ),
    ];
    for (args, expected) in cases {
        let mut full_args = vec!["audit".to_string()];
        full_args.extend(args);
        let refs: Vec<&str> = full_args.iter().map(String::as_str).collect();
        let out = run_bin(&refs, &[]);
        let err = stderr(&out);
        assert!(!out.status.success(), "expected failure for {refs:?}");
        assert!(err.contains(expected), "stderr should mention {expected:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    // An unknown settings key: the rule is not evaluated, the others run, exit non-zero,
    // and the error names the file... the rule and the parameter.
    let settings = bad_settings.display().to_string();
    let out = run_bin(
        &[
            "audit",
            "--authorization-details",
            &adf,
            "--credential-report",
            &cr,
            "--settings-file",
            &settings,
            "--format",
            "json",
            "--now",
            NOW,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("access-key-rotation") && err.contains("max_age"), "{err}");
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let rule = run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == "access-key-rotation").unwrap().clone();
    assert_eq!(rule["status"], "not_evaluated");
    assert!(run["findings"].as_array().unwrap().iter().any(|f| f["rule_id"] == "user-mfa"));
    // A settings file that is not JSON at all.
    std::fs::write(&bad_settings, "{not json").unwrap();
    let out = run_bin(&["audit", "--authorization-details", &adf, "--credential-report", &cr, "--settings-file", &settings], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("settings.json") && stderr(&out).contains("not valid JSON"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The CLI reads the JSON `aws iam get-credential-report` prints (base64 Content) too.
#[test]
fn credential_report_json_form_is_accepted() {
    use base64::Engine;
    let csv = std::fs::read_to_string(sample("credential-report.csv")).unwrap();
    let content = base64::engine::general_purpose::STANDARD.encode(csv);
    let dir = std::env::temp_dir().join(format!("iam-assurance-crjson-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("report.json");
    std::fs::write(&path, format!(r#"{{"Content":"{content}","ReportFormat":"text/csv","GeneratedTime":"2026-11-23T09:00:00+00:00"}}"#))
        .unwrap();
    let adf = sample("authorization-details.json");
    let report = path.display().to_string();
    let out = run_bin(&["audit", "--authorization-details", &adf, "--credential-report", &report, "--format", "json", "--now", NOW], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(run["credential_report_generated_at"], "2026-11-23T09:00:00Z");
    assert!(run["findings"].as_array().unwrap().iter().any(|f| f["rule_id"] == "unused-user"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A sweep that could read nothing (every AWS call refused: nothing listens on the endpoint)
/// does not pass quietly: every rule that needed data is `not_evaluated`, each source that
/// could not be collected is in `errors`, and the exit status is 4.
#[test]
fn a_sweep_that_could_read_nothing_exits_non_zero_naming_what_it_missed() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let env = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_MAX_ATTEMPTS", "1"),
    ];
    let settings = sample("settings.json");
    let out = run_bin(&["sweep", "--settings-file", &settings, "--format", "json"], &env);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let errors: Vec<&str> = run["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for source in ["account authorization details", "credential report", "account summary", "account password policy"] {
        assert!(errors.iter().any(|e| e.starts_with(&format!("{source} unavailable"))), "{source} not named: {errors:?}");
    }
    let evaluated: Vec<&str> =
        run["rules"].as_array().unwrap().iter().filter(|r| r["status"] == "evaluated").map(|r| r["rule_id"].as_str().unwrap()).collect();
    assert!(evaluated.is_empty(), "nothing was read, yet {evaluated:?} were evaluated");
    assert!(stderr(&out).contains("could not be collected"), "{}", stderr(&out));
}

// ---------------------------------------------------------------------------------------------
// Real-format inputs (tests/fixtures/real-format): what the AWS CLI writes, and its variants

fn real(name: &str) -> String {
    fixture("real-format").join(name).display().to_string()
}

fn real_audit(authorization_details: &str, credential_report: &str) -> std::process::Output {
    run_bin(
        &[
            "audit",
            "--authorization-details",
            authorization_details,
            "--credential-report",
            credential_report,
            "--format",
            "json",
            "--now",
            NOW,
        ],
        &[],
    )
}

fn rule_of(run: &Value, id: &str) -> Value {
    run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == id).unwrap_or_else(|| panic!("{id} missing")).clone()
}

/// `--filter User Role Group` leaves the customer managed policies' documents out: the rules
/// that need them say which they could not read instead of counting too few administrators.
#[test]
fn filtered_authorization_details_make_the_rules_that_need_documents_not_evaluated() {
    let out = real_audit(&real("filtered-authorization-details.json"), &real("credential-report.json"));
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(run["account_id"], "111122223333");
    let missing = ["DevTools", "EmergencyAdmin", "OpsFullAccess"].map(|p| format!("managed policy arn:aws:iam::111122223333:policy/{p}"));
    for id in ["admin-policy", "min-admins", "max-admins"] {
        let rule = rule_of(&run, id);
        assert_eq!(rule["status"], "not_evaluated", "{rule}");
        let reason = rule["reason"].as_str().unwrap();
        for policy in &missing {
            assert!(reason.contains(policy.as_str()), "{id} does not name {policy}: {reason}");
        }
    }
    // Through the documents that were read (AdministratorAccess, by name): admin-alice and the
    // organization role; the service-linked role never counts.
    let reason = rule_of(&run, "max-admins")["reason"].as_str().unwrap().to_string();
    assert!(reason.ends_with("Through the documents that were read, 2 principals hold administrator access."), "{reason}");
    assert!(run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| !["admin-policy", "min-admins", "max-admins"].contains(&f["rule_id"].as_str().unwrap())));
    // The other rules still run: user-attached-policies on ops-bob, from the details alone.
    let attached: Vec<&str> = run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "user-attached-policies")
        .map(|f| f["resource_name"].as_str().unwrap())
        .collect();
    assert_eq!(attached, ["ops-bob"]);
}

/// The report is older than the details: old-dave was deleted since, svc-ci created since.
#[test]
fn users_each_side_lacks_are_named_and_gone_users_get_no_finding() {
    for report in ["credential-report.json", "credential-report-text-content.json"] {
        let out = real_audit(&real("filtered-authorization-details.json"), &real(report));
        assert!(out.status.success(), "{report}: {}", stderr(&out));
        let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(run["credential_report_generated_at"], "2026-11-23T08:00:00Z", "{report}");
        let errors: Vec<&str> = run["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
        assert!(
            errors.iter().any(|e| e.contains("lists 1 user that the authorization details do not") && e.contains(": old-dave;")),
            "{report}: {errors:#?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("no row for 1 user of the authorization details: svc-ci (created after the report)")),
            "{report}: {errors:#?}"
        );
        // old-dave's 7-year-old key would be an access-key-rotation finding: nothing on him.
        let on_dave: Vec<&Value> =
            run["findings"].as_array().unwrap().iter().filter(|f| f["resource_arn"].as_str().unwrap().ends_with("user/old-dave")).collect();
        assert!(on_dave.is_empty(), "{report}: {on_dave:#?}");
        // The rows that stay are used: ops-bob has no MFA.
        let mfa: Vec<&str> = run["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule_id"] == "user-mfa")
            .map(|f| f["resource_name"].as_str().unwrap())
            .collect();
        assert_eq!(mfa, ["ops-bob"], "{report}");
    }
}

#[test]
fn a_credential_report_of_another_account_is_refused_naming_both() {
    let report = real("credential-report-other-account.csv");
    let out = real_audit(&real("filtered-authorization-details.json"), &report);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{report}: the credential report is of account 444455556666, but the authorization details are of account 111122223333"
        )),
        "{err}"
    );
}

#[test]
fn a_user_listed_twice_in_the_credential_report() {
    let dir = std::env::temp_dir().join(format!("iam-assurance-twice-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = std::fs::read_to_string(fixture("real-format").join("credential-report-other-account.csv"))
        .unwrap()
        .replace("444455556666", "111122223333");
    let bob = csv.lines().find(|l| l.starts_with("ops-bob,")).unwrap().to_string();
    // The same row twice: kept once, with a warning naming the user.
    let same = dir.join("same.csv");
    std::fs::write(&same, format!("{csv}{bob}\n")).unwrap();
    let out = real_audit(&real("filtered-authorization-details.json"), &same.display().to_string());
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let errors = run["errors"].to_string();
    assert!(errors.contains("lists a user twice, with the same values: line 7 repeats line 4 (user ops-bob); kept once"), "{errors}");
    let fingerprints: Vec<&str> = run["findings"].as_array().unwrap().iter().map(|f| f["fingerprint"].as_str().unwrap()).collect();
    let unique: BTreeSet<&str> = fingerprints.iter().copied().collect();
    assert_eq!(unique.len(), fingerprints.len(), "one finding per fingerprint");
    // A stale second row (an old key, other dates): refused, naming the user and both lines.
    let stale = dir.join("stale.csv");
    std::fs::write(&stale, format!("{csv}{}\n", bob.replace("2026-11-21T11:00:00+00:00", "2024-01-01T00:00:00+00:00"))).unwrap();
    let out = real_audit(&real("filtered-authorization-details.json"), &stale.display().to_string());
    assert!(!out.status.success());
    assert!(stderr(&out).contains("credential report lines 4 and 7 are both user \"ops-bob\", with different values"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).ok();
}
