//! The live path end to end against moto in server mode on 127.0.0.1, through the real SDK
//! clients: seed an account, put settings in SSM, subscribe an SQS queue to the findings
//! topic, sweep, replay events, and check what SQS received.
//!
//! moto's gaps, and how they show here: its credential report has no `<root_account>` row
//! (root rules must say `not_evaluated`, which is asserted), every date is "now" (time rules
//! pass; they are tested at fixed times with real-format rows in the rules crate).

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use iam_assurance::run::{self as live, Config};
use serde_json::{json, Value};

use crate::support::*;

const ACCOUNT: &str = "123456789012";
const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const RDS: &str = "arn:aws:iam::aws:policy/AmazonRDSFullAccess";

/// The scenario account: users with and without MFA, keys, groups, admin roles, an
/// unapproved policy on a user, a group and a role, a weak password policy, settings.
async fn seed(env: &Env) {
    let iam = env.iam();
    crate::support::seed_people(&iam).await;
    iam.create_access_key().user_name("bob").send().await.unwrap();
    iam.create_access_key().user_name("bob").send().await.unwrap();
    iam.create_access_key().user_name("deploy-bot").send().await.unwrap();
    iam.attach_user_policy().user_name("deploy-bot").policy_arn(RDS).send().await.unwrap();
    iam.create_group().group_name("developers").send().await.unwrap();
    iam.attach_group_policy().group_name("developers").policy_arn(RDS).send().await.unwrap();
    iam.add_user_to_group().group_name("developers").user_name("bob").send().await.unwrap();
    iam.create_group().group_name("old-contractors").send().await.unwrap();
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]});
    for role in ["ci-deployer", "etl"] {
        iam.create_role().role_name(role).assume_role_policy_document(trust.to_string()).send().await.unwrap();
    }
    iam.attach_role_policy().role_name("ci-deployer").policy_arn(ADMIN).send().await.unwrap();
    iam.attach_role_policy().role_name("etl").policy_arn(RDS).send().await.unwrap();
    iam.put_role_policy()
        .role_name("etl")
        .policy_name("everything")
        .policy_document(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}).to_string())
        .send()
        .await
        .unwrap();
    iam.update_account_password_policy().minimum_password_length(8).require_symbols(false).send().await.unwrap();
    env.put_setting("approved-users", json!({"approved": ["alice", "bob", "deploy-*"]})).await;
    env.put_setting("unapproved-policy-in-use", json!({"unapproved": ["AmazonRDSFullAccess"]})).await;
    env.put_setting("max-admins", json!({"max": 2})).await;
    // The emulator does not implement IAM Access Analyzer (account:ListRegions and ListAnalyzers
    // answer 404): its rule is off here, or every run would report that source as uncollected
    // (tests/coverage.rs runs it against the emulator and shows exactly that).
    env.put_setting("access-analyzer-enabled", json!({"enabled": false})).await;
    env.put_setting(
        "multiple-access-keys",
        json!({"exceptions": [{"resource": format!("arn:aws:iam::{ACCOUNT}:user/bob"), "reason": "rotation in progress", "expires": "2099-01-01"}]}),
    )
    .await;
    env.put_setting(
        "user-attached-policies",
        json!({"exceptions": [{"resource": format!("arn:aws:iam::{ACCOUNT}:user/deploy-bot"), "reason": "expired", "expires": "2020-01-01"}]}),
    )
    .await;
}

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}")
}

fn findings(run: &Value) -> BTreeSet<(String, String, String)> {
    run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule_id"].as_str().unwrap().into(), f["resource_arn"].as_str().unwrap().into(), f["status"].as_str().unwrap().into()))
        .collect()
}

fn rule<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == id).unwrap_or_else(|| panic!("{id} not in run"))
}

fn assert_calls_granted(run: &Value) {
    for call in run["api_calls"].as_object().unwrap().keys() {
        assert!(
            iam_assurance_aws::permissions::is_granted(call),
            "the run called {call}, which permissions.rs (and so the execution role) does not grant"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sweep_flags_exactly_the_expected_resources_and_publishes_them() {
    let env = Env::start_stateless().await;
    seed(&env).await;
    let clients = env.clients();
    let output = live::sweep(&clients, &env.live_config(), iam_assurance::output::Trigger::Manual, Utc::now()).await.expect("sweep");
    let run = serde_json::to_value(&output).unwrap();
    assert_eq!(run["account_id"], ACCOUNT);
    let root = format!("arn:aws:iam::{ACCOUNT}:root");
    let expected: BTreeSet<(String, String, String)> = [
        ("user-mfa", arn("user", "bob"), "open"),
        ("multiple-access-keys", arn("user", "bob"), "suppressed"),
        ("approved-users", arn("user", "carol"), "open"),
        ("unapproved-policy-in-use", RDS.to_string(), "open"),
        ("password-policy", root.clone(), "open"),
        ("user-attached-policies", arn("user", "deploy-bot"), "open"),
        ("role-inline-policies", arn("role", "etl"), "open"),
        ("admin-policy", arn("role", "etl"), "open"),
        ("max-admins", root.clone(), "open"),
        ("empty-group", arn("group", "old-contractors"), "open"),
        // The emulator dates bob's key with bob's creation, and nothing has used it.
        ("access-keys-at-setup", arn("user", "bob"), "open"),
        // No security contact and no support role in a fresh emulated account.
        ("security-contact", root.clone(), "open"),
        ("support-role", root.clone(), "open"),
    ]
    .into_iter()
    .map(|(r, a, s)| (r.to_string(), a, s.to_string()))
    .collect();
    let got = findings(&run);
    let missing: Vec<_> = expected.difference(&got).collect();
    let unexpected: Vec<_> = got.difference(&expected).collect();
    assert!(missing.is_empty() && unexpected.is_empty(), "missing: {missing:#?}\nunexpected: {unexpected:#?}");

    // The unapproved policy finding names the user, the group and the role.
    let unapproved = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "unapproved-policy-in-use").unwrap();
    let message = unapproved["message"].as_str().unwrap();
    for entity in ["deploy-bot", "developers", "etl"] {
        assert!(message.contains(entity), "{message}");
    }
    // max-admins counts alice (group), ci-deployer and etl (inline * on *) = 3 > 2.
    let max = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "max-admins").unwrap();
    let message = max["message"].as_str().unwrap();
    for admin in ["alice", "ci-deployer", "etl"] {
        assert!(message.contains(admin), "{message}");
    }
    // moto's report has no root row: root rules are honest about it.
    for id in ["root-access-keys", "root-mfa", "root-password-rotation", "root-usage"] {
        assert_eq!(rule(&run, id)["status"], "not_evaluated", "{id}");
        assert!(rule(&run, id)["reason"].as_str().unwrap().contains("<root_account>"), "{id}: {}", rule(&run, id)["reason"]);
    }
    assert_eq!(rule(&run, "user-service-inactivity")["status"], "disabled");
    assert!(run["credential_report_generated_at"].is_string(), "the run states the report's generation time");

    // Bulk calls only: never one call per user.
    let calls = run["api_calls"].as_object().unwrap();
    for op in [
        "iam:GetAccountAuthorizationDetails",
        "iam:GetCredentialReport",
        "iam:GetAccountSummary",
        "iam:GetAccountPasswordPolicy",
        "iam:ListServerCertificates",
        "ssm:GetParametersByPath",
        "sns:PublishBatch",
    ] {
        assert!(calls.contains_key(op), "missing {op}: {calls:?}");
    }
    for op in ["iam:GetUser", "iam:ListAccessKeys", "iam:GetLoginProfile", "iam:ListMFADevices"] {
        assert!(!calls.contains_key(op), "a sweep must not call {op} per user: {calls:?}");
    }
    // The IAM reads, the settings, the publish, and GetAlternateContact (the security contact).
    assert_eq!(calls.get("account:GetAlternateContact").and_then(Value::as_u64), Some(1), "{calls:?}");
    assert!(run["api_calls_total"].as_u64().unwrap() <= 13, "{calls:?}");
    assert_calls_granted(&run);

    // SNS delivered one message per open finding plus the digest. Without a state table the
    // run says so: every open finding counts as new.
    let open = run["findings"].as_array().unwrap().iter().filter(|f| f["status"] == "open").count();
    assert_eq!(run["published"]["state"], "none", "{}", run["published"]);
    assert_eq!(run["published"]["changes"]["new"].as_u64(), Some(open as u64));
    let delivered = env.received().await;
    let per_finding: Vec<&Value> = delivered.iter().filter(|m| m["MessageAttributes"]["change"]["Value"] == "new").collect();
    let digests: Vec<&Value> = delivered.iter().filter(|m| m["MessageAttributes"]["change"]["Value"] == "digest").collect();
    assert_eq!(per_finding.len(), open, "one message per open finding");
    assert_eq!(digests.len(), 1);
    for m in &delivered {
        let subject = m["Subject"].as_str().unwrap();
        assert!(!subject.is_empty() && subject.len() < 100, "{subject}");
        for attr in ["rule_id", "severity", "resource_type", "account_id", "change"] {
            assert!(m["MessageAttributes"][attr]["Value"].as_str().is_some(), "{attr} missing: {m}");
        }
    }
    let bob = per_finding.iter().find(|m| m["MessageAttributes"]["rule_id"]["Value"] == "user-mfa").expect("user-mfa message");
    assert_eq!(bob["MessageAttributes"]["severity"]["Value"], "high");
    assert!(bob["Subject"].as_str().unwrap().contains("bob"));
    let body: Value = serde_json::from_str(bob["Message"].as_str().unwrap()).unwrap();
    assert_eq!(body["finding"]["resource_arn"], arn("user", "bob"));
    // Suppressed findings are not published.
    assert!(!per_finding.iter().any(|m| m["MessageAttributes"]["rule_id"]["Value"] == "multiple-access-keys"));
}

#[tokio::test(flavor = "multi_thread")]
async fn events_behave_as_designed() {
    let env = Env::start_stateless().await;
    seed(&env).await;
    let clients = env.clients();
    let config = env.live_config();
    let event = |name: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(event_path(name)).unwrap()).unwrap() };

    // An attachment: targeted, admin counts re-evaluated, a few calls, published at once.
    let iam = env.iam();
    iam.attach_user_policy().user_name("alice").policy_arn(ADMIN).send().await.unwrap();
    let out = live::handle_event(&clients, &config, &event("attach-user-policy.json"), Utc::now()).await.unwrap();
    let run = serde_json::to_value(&out).unwrap();
    assert_eq!(run["trigger"]["kind"], "cloudtrail");
    assert_eq!(run["trigger"]["event_name"], "AttachUserPolicy");
    let got = findings(&run);
    assert!(got.contains(&("user-attached-policies".into(), arn("user", "alice"), "open".into())), "{got:?}");
    assert!(got.contains(&("max-admins".into(), format!("arn:aws:iam::{ACCOUNT}:root"), "open".into())), "{got:?}");
    assert!(!got.iter().any(|(_, a, _)| a == &arn("user", "deploy-bot")), "a targeted run reports only the changed entity: {got:?}");
    assert!(rule(&run, "user-attached-policies")["status"] == "evaluated");
    assert!(run["rules"].as_array().unwrap().len() < 29, "only the rules the change can move");
    assert!(run["api_calls_total"].as_u64().unwrap() <= 6, "{}", run["api_calls"]);
    assert_calls_granted(&run);
    let delivered = env.received().await;
    assert_eq!(delivered.len(), run["findings"].as_array().unwrap().iter().filter(|f| f["status"] == "open").count());

    // A new access key: the user's credentials are read live (never stale).
    iam.create_access_key().user_name("deploy-bot").send().await.unwrap();
    let out = live::handle_event(&clients, &config, &event("create-access-key.json"), Utc::now()).await.unwrap();
    let run = serde_json::to_value(&out).unwrap();
    assert!(findings(&run).contains(&("multiple-access-keys".into(), arn("user", "deploy-bot"), "open".into())), "{run}");
    assert!(run["api_calls"].get("iam:GetCredentialReport").is_none(), "the event path reads the user directly");
    assert!(run["api_calls_total"].as_u64().unwrap() <= 6, "{}", run["api_calls"]);
    assert_calls_granted(&run);
    env.received().await;

    // Root console sign-in: an immediate critical root-usage finding, published.
    let out = live::handle_event(&clients, &config, &event("root-console-signin.json"), Utc::now()).await.unwrap();
    let run = serde_json::to_value(&out).unwrap();
    let root_findings: Vec<&Value> = run["findings"].as_array().unwrap().iter().filter(|f| f["rule_id"] == "root-usage").collect();
    assert_eq!(root_findings.len(), 1, "{run}");
    assert_eq!(root_findings[0]["severity"], "critical");
    assert!(root_findings[0]["message"].as_str().unwrap().contains("ConsoleLogin"));
    assert_eq!(run["api_calls_total"], 2, "the settings read and the publish, nothing of IAM: {}", run["api_calls"]);
    assert_eq!(run["api_calls"]["ssm:GetParametersByPath"], 1);
    assert_eq!(run["api_calls"]["sns:PublishBatch"], 1);
    let delivered = env.received().await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0]["MessageAttributes"]["rule_id"]["Value"], "root-usage");
    assert_eq!(delivered[0]["MessageAttributes"]["severity"]["Value"], "critical");

    // A failed call, an unrelated event and garbage: acknowledged, nothing called or sent.
    for payload in [event("failed-call.json"), event("unrelated.json"), json!("garbage"), json!({"detail-type": 3})] {
        let out = live::handle_event(&clients, &config, &payload, Utc::now()).await.expect("never an error");
        let run = serde_json::to_value(&out).unwrap();
        assert_eq!(run["trigger"]["kind"], "ignored", "{payload}");
        assert_eq!(run["api_calls_total"], 0);
        assert!(run["findings"].as_array().unwrap().is_empty());
    }
    assert!(env.received().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_settings_affect_only_their_rule_and_publish_failures_fail_the_run() {
    let env = Env::start_stateless().await;
    seed(&env).await;
    env.put_setting("access-key-rotation", json!({"max_age": 30})).await;
    aws_sdk_ssm::Client::new(&env.config)
        .put_parameter()
        .name("/iam-assurance/rules/user-mfa")
        .value("{not json")
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    let clients = env.clients();
    let mut config = env.live_config();
    config.topic_arn = None;
    let run =
        serde_json::to_value(live::sweep(&clients, &config, iam_assurance::output::Trigger::Manual, Utc::now()).await.unwrap()).unwrap();
    let aks = rule(&run, "access-key-rotation");
    assert_eq!(aks["status"], "not_evaluated");
    assert!(aks["reason"].as_str().unwrap().contains("max_age"), "{aks}");
    let mfa = rule(&run, "user-mfa");
    assert_eq!(mfa["status"], "not_evaluated");
    assert!(mfa["reason"].as_str().unwrap().contains("/iam-assurance/rules/user-mfa"), "{mfa}");
    assert_eq!(rule(&run, "password-policy")["status"], "evaluated");
    assert!(findings(&run).iter().any(|(r, _, _)| r == "password-policy"));

    // A topic that does not exist: the run fails (so Lambda retries), it does not swallow it.
    config.topic_arn = Some(format!("arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic"));
    let err = live::sweep(&clients, &config, iam_assurance::output::Trigger::Manual, Utc::now()).await.unwrap_err();
    assert!(matches!(err, live::RunError::Publish(_)), "{err}");
}

/// The binary itself, pointed at the emulator with nothing but `AWS_ENDPOINT_URL`.
#[test]
fn cli_sweep_and_invoke_against_the_emulator() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(async {
        let env = Env::start_stateless().await;
        seed(&env).await;
        env
    });
    let vars = env.moto.env();
    let mut envs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.push(("FINDINGS_TOPIC_ARN", env.topic.as_str()));

    let out = run_bin(&["sweep", "--format", "json"], &envs);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(run["trigger"]["kind"], "manual");
    assert!(findings(&run).contains(&("user-mfa".into(), arn("user", "bob"), "open".into())));
    assert!(rt.block_on(env.received()).is_empty(), "no --publish: nothing sent");

    let out = run_bin(&["sweep", "--publish", "--format", "text"], &envs);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("user-mfa"));
    let delivered = rt.block_on(env.received());
    assert!(delivered.len() >= 5, "{}", delivered.len());

    let out = run_bin(&["invoke", event_path("root-console-signin.json").to_str().unwrap()], &envs);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(run["findings"][0]["rule_id"], "root-usage");
    assert_eq!(rt.block_on(env.received()).len(), 1);

    // A file that is not JSON is the user's mistake: a non-zero exit naming the file. JSON
    // that is no event is acknowledged (exit 0), as the function does.
    let dir = std::env::temp_dir().join(format!("iam-assurance-garbage-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "\u{0}not json at all").unwrap();
    let out = run_bin(&["invoke", garbage.to_str().unwrap()], &envs);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("garbage.json") && stderr(&out).contains("not a JSON event"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let not_an_event = dir.join("not-an-event.json");
    std::fs::write(&not_an_event, r#"{"hello": "world"}"#).unwrap();
    let out = run_bin(&["invoke", not_an_event.to_str().unwrap()], &envs);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(run["trigger"]["kind"], "ignored");
    let _ = std::fs::remove_dir_all(&dir);

    // The emulator's own request log agrees with the product's call counter.
    env.moto.moto_api("/moto-api/recorder/reset-recording");
    env.moto.moto_api("/moto-api/recorder/start-recording");
    let out = run_bin(&["sweep", "--format", "json"], &envs);
    env.moto.moto_api("/moto-api/recorder/stop-recording");
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let recording = env.moto.moto_get("/moto-api/recorder/download-recording");
    let recorded = recording.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    assert_eq!(recorded, run["api_calls_total"].as_u64().unwrap(), "emulator saw {recorded} requests; counter says {}", run["api_calls"]);
    let _ = BTreeMap::<String, u64>::new();
}

/// An event from an account other than the one the credentials reach is evaluated nowhere: no
/// finding, nothing read, nothing published, and the run says why (organization mode reads a
/// member account through a role; these credentials cannot).
#[tokio::test(flavor = "multi_thread")]
async fn an_event_from_another_account_is_attributed_to_none() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    // As the CLI runs: the account is asked of the credentials (STS, once).
    let config = Config { home_account: None, ..env.live_config() };
    for (n, file) in ["attach-user-policy.json", "root-console-signin.json", "delete-user.json"].into_iter().enumerate() {
        let mut event = sample_event(file);
        event["account"] = json!("999999999999");
        event["detail"]["recipientAccountId"] = json!("999999999999");
        let run = serde_json::to_value(live::handle_event(&clients, &config, &event, Utc::now()).await.unwrap()).unwrap();
        assert_eq!(run["trigger"]["kind"], "ignored", "{file}: {}", run["trigger"]);
        let reason = run["trigger"]["reason"].as_str().unwrap();
        assert!(reason.contains("999999999999") && reason.contains(ACCOUNT), "{file}: {reason}");
        assert!(run["findings"].as_array().unwrap().is_empty(), "{file}");
        let calls: Vec<&String> = run["api_calls"].as_object().unwrap().keys().filter(|c| !c.starts_with("sts:")).collect();
        assert!(calls.is_empty(), "{file}: {calls:?}");
        // The account is asked once, for the first event, then remembered.
        assert_eq!(run["api_calls"]["sts:GetCallerIdentity"].as_u64().unwrap_or(0), u64::from(n == 0), "{file}");
    }
    assert!(env.received().await.is_empty());
    // The same event from the credentials' own account is evaluated.
    let run =
        serde_json::to_value(live::handle_event(&clients, &config, &sample_event("attach-user-policy.json"), Utc::now()).await.unwrap())
            .unwrap();
    assert_eq!(run["trigger"]["kind"], "cloudtrail");
    assert_eq!(run["account_id"], ACCOUNT);
}
