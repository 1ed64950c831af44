//! The Security Hub export against the emulator: moto's `BatchImportFindings` and `GetFindings`
//! through the real SDK clients, the finding state in moto's DynamoDB, SNS delivered to SQS; and
//! its faults through the proxy (`proxy.rs`): throttled imports, partial failures, imports that
//! keep failing. docs/securityhub.md describes the lifecycle these tests follow.

use std::collections::BTreeMap;

use aws_sdk_securityhub::types::AwsSecurityFinding;
use chrono::{Duration, Utc};
use iam_assurance::export::options::Setting;
use iam_assurance::output::Trigger;
use iam_assurance::run::{self as live, Config, RunError};
use iam_assurance_aws::Clients;
use serde_json::{json, Value};

use crate::alerts::{open_count, per_finding, seed};
use crate::proxy::{Fault, FaultProxy};
use crate::support::*;

const IMPORTS: &str = "securityhub:BatchImportFindings";

fn export_on(env: &Env) -> Config {
    Config { security_hub: Setting::On, ..env.live_config() }
}

async fn sweep_with(clients: &Clients, config: &Config, now: chrono::DateTime<Utc>) -> Result<Value, RunError> {
    let run = Box::pin(live::sweep(clients, config, Trigger::Schedule { event_id: None, time: None }, now)).await?;
    for call in run.api_calls.keys() {
        assert!(iam_assurance_aws::permissions::is_granted(call), "{call} is not in permissions.rs");
    }
    Ok(serde_json::to_value(run).unwrap())
}

/// Every finding Security Hub holds, by `Id`; an `Id` twice fails the test.
async fn hub(env: &Env) -> BTreeMap<String, AwsSecurityFinding> {
    let client = aws_sdk_securityhub::Client::new(&env.config);
    let mut out = BTreeMap::new();
    let mut pages = client.get_findings().max_results(100).into_paginator().send();
    while let Some(page) = pages.next().await {
        for finding in page.expect("GetFindings").findings.unwrap_or_default() {
            let id = finding.id().unwrap_or_default().to_string();
            assert!(out.insert(id.clone(), finding).is_none(), "{id} is in Security Hub twice");
        }
    }
    out
}

fn states(f: &AwsSecurityFinding) -> (&str, &str, &str) {
    (
        f.record_state().map_or("", |s| s.as_str()),
        f.workflow().and_then(|w| w.status()).map_or("", |s| s.as_str()),
        f.compliance().and_then(|c| c.status()).map_or("", |s| s.as_str()),
    )
}

fn findings(run: &Value) -> Vec<&Value> {
    run["findings"].as_array().unwrap().iter().collect()
}

fn fingerprint_of<'a>(run: &'a Value, rule: &str, resource_end: &str) -> &'a str {
    findings(run)
        .into_iter()
        .find(|f| f["rule_id"] == rule && f["resource_arn"].as_str().unwrap().ends_with(resource_end))
        .unwrap_or_else(|| panic!("no {rule} finding on {resource_end}"))["fingerprint"]
        .as_str()
        .unwrap()
}

fn imports(run: &Value) -> u64 {
    run["api_calls"].get(IMPORTS).and_then(Value::as_u64).unwrap_or(0)
}

/// New findings are imported ACTIVE / NEW / FAILED, one per problem; a finding excepted from the
/// start SUPPRESSED with the reason; a fixed one becomes PASSED / ARCHIVED; an exception added
/// later makes its finding SUPPRESSED; an unchanged sweep imports nothing and duplicates nothing.
#[tokio::test(flavor = "multi_thread")]
async fn the_export_follows_the_finding_lifecycle() {
    let env = Env::start().await;
    seed(&env).await;
    aws_sdk_securityhub::Client::new(&env.config).enable_security_hub().send().await.unwrap();
    env.put_setting("user-mfa", json!({"exceptions": [{"resource": "arn:aws:iam::123456789012:user/bob", "reason": "token on order"}]}))
        .await;
    let clients = env.clients();
    let config = export_on(&env);
    let now = Utc::now();

    let first = sweep_with(&clients, &config, now).await.unwrap();
    let held = hub(&env).await;
    assert_eq!(held.len(), findings(&first).len(), "one Security Hub finding per finding");
    for f in findings(&first) {
        let h = &held[f["fingerprint"].as_str().unwrap()];
        assert_eq!(h.aws_account_id(), Some("123456789012"));
        assert_eq!(h.product_arn(), Some("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"));
        assert_eq!(h.generator_id(), Some(format!("iam-assurance/{}", f["rule_id"].as_str().unwrap()).as_str()));
        if f["status"] == "open" {
            assert_eq!(states(h), ("ACTIVE", "NEW", "FAILED"), "{f}");
        } else {
            assert_eq!(states(h), ("ARCHIVED", "SUPPRESSED", "FAILED"), "{f}");
        }
    }
    let bob_mfa = fingerprint_of(&first, "user-mfa", ":user/bob");
    assert!(held[bob_mfa].note().and_then(|n| n.text()).is_some_and(|t| t.contains("token on order")));
    let stats = &first["published"]["security_hub"];
    let suppressed = findings(&first).len() - open_count(&first);
    assert_eq!(stats["imported"], json!({"open": open_count(&first), "suppressed": suppressed}), "{stats}");
    assert_eq!(stats["requests"], 1);
    assert_eq!(imports(&first), 1, "{}", first["api_calls"]);
    assert!(env.state_items().await.values().all(|i| i.exported.is_some()), "every finding recorded as imported");

    // Fix one resource, add an exception for another.
    env.iam().delete_group().group_name("old-contractors").send().await.unwrap();
    let carol = fingerprint_of(&first, "approved-users", ":user/carol").to_string();
    let empty_group = fingerprint_of(&first, "empty-group", ":group/old-contractors").to_string();
    env.put_setting(
        "approved-users",
        json!({"approved": ["alice", "bob", "deploy-*"], "exceptions": [{"resource": "arn:aws:iam::123456789012:user/carol", "reason": "contractor until March"}]}),
    )
    .await;
    let second = sweep_with(&clients, &config, now + Duration::hours(1)).await.unwrap();
    let after = hub(&env).await;
    assert_eq!(after.len(), held.len(), "nothing added: the same ids were updated");
    assert_eq!(states(&after[&empty_group]), ("ARCHIVED", "RESOLVED", "PASSED"));
    assert_eq!(states(&after[&carol]), ("ARCHIVED", "SUPPRESSED", "FAILED"));
    assert!(after[&carol].note().and_then(|n| n.text()).is_some_and(|t| t.contains("contractor until March")));
    assert_eq!(second["published"]["security_hub"]["imported"], json!({"resolved": 1, "suppressed": 1}));
    assert_eq!(imports(&second), 1, "{}", second["api_calls"]);
    for (id, h) in &after {
        if id != &empty_group && id != &carol {
            assert_eq!(states(h), states(&held[id]), "{id} did not change");
        }
    }

    // Unchanged: nothing imported, nothing duplicated.
    let third = sweep_with(&clients, &config, now + Duration::hours(2)).await.unwrap();
    assert_eq!(imports(&third), 0, "{}", third["api_calls"]);
    assert_eq!(third["published"]["security_hub"]["requests"], 0);
    let last = hub(&env).await;
    assert_eq!(last.len(), after.len());
    assert!(last.iter().all(|(id, h)| states(h) == states(&after[id])));

    // The exception removed: the finding is open again, and ACTIVE.
    env.put_setting("approved-users", json!({"approved": ["alice", "bob", "deploy-*"]})).await;
    let fourth = sweep_with(&clients, &config, now + Duration::hours(3)).await.unwrap();
    assert_eq!(fourth["published"]["security_hub"]["imported"], json!({"open": 1}));
    let back = hub(&env).await;
    assert_eq!(back[&carol].record_state().map(|s| s.as_str()), Some("ACTIVE"));
    assert_eq!(back[&carol].compliance().and_then(|c| c.status()).map(|s| s.as_str()), Some("FAILED"));
}

/// With the export off (the default), a run calls nothing of Security Hub and writes no marker.
#[tokio::test(flavor = "multi_thread")]
async fn the_export_off_calls_and_writes_nothing_more() {
    let env = Env::start().await;
    seed(&env).await;
    let run = sweep_with(&env.clients(), &env.live_config(), Utc::now()).await.unwrap();
    assert!(run["api_calls"].as_object().unwrap().keys().all(|k| !k.starts_with("securityhub:")), "{}", run["api_calls"]);
    assert!(run["published"].get("security_hub").is_none());
    assert!(env.state_items().await.values().all(|i| i.exported.is_none()));
    assert!(hub(&env).await.is_empty());
}

/// The export needs the finding state, and a setting it can read: either missing fails the run
/// before anything is published, naming what is wrong.
#[tokio::test(flavor = "multi_thread")]
async fn the_export_refuses_to_run_without_state_or_with_a_bad_setting() {
    let env = Env::start_stateless().await;
    seed(&env).await;
    let err = sweep_with(&env.clients(), &export_on(&env), Utc::now()).await.expect_err("no state table");
    assert!(matches!(err, RunError::Export(_)) && err.to_string().contains("STATE_TABLE"), "{err}");
    assert_eq!(err.error_type(), "ExportFailed");
    let bad = Config { security_hub: Setting::parse(Some("yes")), ..env.live_config() };
    let err = sweep_with(&env.clients(), &bad, Utc::now()).await.expect_err("a bad setting");
    assert!(err.to_string().contains("\"yes\""), "{err}");
    assert!(env.received().await.is_empty());
    assert_eq!(Setting::parse(Some(" TRUE ")), Setting::On);
    assert_eq!(Setting::parse(Some("false")), Setting::Off);
    assert_eq!(Setting::parse(None), Setting::Off);
}

/// More findings than one request holds: one `BatchImportFindings` per 100 changed findings.
#[tokio::test(flavor = "multi_thread")]
async fn one_import_per_hundred_changed_findings() {
    let env = Env::start().await;
    // Two findings a user: a console password without MFA, and not on the approved list.
    env.put_setting("approved-users", json!({"approved": ["alice"]})).await;
    let iam = env.iam();
    for i in 0..70 {
        let user = format!("no-mfa-{i:02}");
        iam.create_user().user_name(&user).send().await.unwrap();
        iam.create_login_profile().user_name(&user).password("Sample-Passw0rd!x").send().await.unwrap();
    }
    let run = sweep_with(&env.clients(), &export_on(&env), Utc::now()).await.unwrap();
    let n = findings(&run).len() as u64;
    assert!(n > 100, "{n} findings");
    assert_eq!(imports(&run), n.div_ceil(100), "{}", run["api_calls"]);
    assert_eq!(run["published"]["security_hub"]["requests"], n.div_ceil(100));
    assert_eq!(hub(&env).await.len() as u64, n);
}

/// Security Hub's error document (REST JSON).
fn hub_error(status: u16, code: &str) -> Fault {
    Fault::Answer {
        status,
        content_type: "application/json",
        body: format!(r#"{{"__type":"{code}","Code":"{code}","Message":"injected"}}"#),
    }
}

/// A reply that reports `id` as failed (moto imported it: Security Hub may report a failure for a
/// finding it did not keep).
fn partial_failure(id: &str) -> Fault {
    Fault::ForwardAndAnswer {
        status: 200,
        content_type: "application/json",
        body: json!({"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [{"Id": id, "ErrorCode": "InternalFailure", "ErrorMessage": "injected"}]})
            .to_string(),
    }
}

/// A throttled import is retried by the SDK; a finding Security Hub reports as failed is sent
/// again. Then, one that keeps failing fails the run: the other findings are recorded as imported,
/// that one is not, SNS got every message once, and the next run imports exactly that finding.
/// The export also starts on a deployment that ran without it: every open finding is imported.
#[tokio::test(flavor = "multi_thread")]
async fn failed_imports_are_retried_and_what_still_fails_is_imported_by_the_next_run() {
    let env = Env::start().await;
    seed(&env).await;
    let proxy = FaultProxy::start(env.moto.port).await;
    let clients = Clients::from_config(&proxy.sdk_config().await);
    let now = Utc::now();
    // Without the export first: the state knows every finding, Security Hub nothing.
    let before = sweep_with(&clients, &env.live_config(), now).await.unwrap();
    env.received().await;
    let bob = fingerprint_of(&before, "user-mfa", ":user/bob").to_string();

    proxy.inject("BatchImportFindings", 0, 1, hub_error(429, "TooManyRequestsException"));
    proxy.inject("BatchImportFindings", 1, 1, partial_failure(&bob));
    let on = sweep_with(&clients, &export_on(&env), now + Duration::hours(1)).await.unwrap();
    let stats = &on["published"]["security_hub"];
    assert_eq!(stats["imported"]["open"], open_count(&before), "{stats}");
    assert_eq!((stats["retried"].as_u64(), stats["requests"].as_u64(), stats["failed"].as_u64()), (Some(1), Some(2), Some(0)));
    assert_eq!(imports(&on), 3, "the throttled attempt, the batch, the resent finding: {}", on["api_calls"]);
    assert_eq!(on["published"]["messages"], 0, "turning the export on sends no SNS message");
    assert_eq!(hub(&env).await.len(), open_count(&before));
    proxy.clear();

    // A new finding whose import keeps failing.
    env.iam().create_user().user_name("dave").send().await.unwrap();
    env.iam().create_login_profile().user_name("dave").password("Sample-Passw0rd!d").send().await.unwrap();
    proxy.inject("BatchImportFindings", 0, 100, hub_error(500, "InternalException"));
    let err = sweep_with(&clients, &export_on(&env), now + Duration::hours(2)).await.expect_err("the import keeps failing");
    assert!(matches!(err, RunError::Export(_)), "{err}");
    assert!(proxy.applied("BatchImportFindings") >= 3, "resent before giving up");
    let delivered = env.received().await;
    let dave: Vec<&Value> = per_finding(&delivered).into_iter().filter(|m| m["Subject"].as_str().unwrap().contains("dave")).collect();
    assert!(!dave.is_empty(), "SNS does not wait on Security Hub");
    let items = env.state_items().await;
    let unmarked: Vec<&str> = items.values().filter(|i| i.exported.is_none()).map(|i| i.resource_arn.as_str()).collect();
    assert!(!unmarked.is_empty() && unmarked.iter().all(|arn| arn.ends_with(":user/dave")), "{unmarked:?}");
    proxy.clear();

    let retry = sweep_with(&clients, &export_on(&env), now + Duration::hours(3)).await.unwrap();
    let imported: u64 = retry["published"]["security_hub"]["imported"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(imported as usize, unmarked.len(), "exactly what was not imported: {}", retry["published"]["security_hub"]);
    assert_eq!(retry["published"]["messages"], 0, "no SNS message twice");
    let held = hub(&env).await;
    assert!(findings(&retry).iter().all(|f| held.contains_key(f["fingerprint"].as_str().unwrap())));
    assert!(env.state_items().await.values().all(|i| i.exported.is_some()));
}

/// A CloudTrail event imports what it changes, at once: a console password without MFA is a
/// new finding in Security Hub; the password deleted, the finding is PASSED / ARCHIVED.
#[tokio::test(flavor = "multi_thread")]
async fn an_event_imports_what_it_changed() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let config = export_on(&env);
    let now = Utc::now();
    sweep_with(&clients, &config, now).await.unwrap();
    let before = hub(&env).await;
    let event = |name: &str, id: u32| {
        let mut e = sample_event("attach-user-policy.json");
        e["detail"]["eventName"] = json!(name);
        e["detail"]["eventID"] = json!(format!("5e1f0000-0000-4000-8000-{id:012}"));
        e["detail"]["requestParameters"] = json!({"userName": "carol"});
        e
    };
    env.iam().create_login_profile().user_name("carol").password("Sample-Passw0rd!c").send().await.unwrap();
    let created = live::handle_event(&clients, &config, &event("CreateLoginProfile", 1), now + Duration::minutes(1)).await.unwrap();
    let created = serde_json::to_value(created).unwrap();
    let mfa = fingerprint_of(&created, "user-mfa", ":user/carol").to_string();
    assert_eq!(created["published"]["security_hub"]["imported"], json!({"open": 1}), "{}", created["published"]);
    assert_eq!(imports(&created), 1);
    let after = hub(&env).await;
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(states(&after[&mfa]), ("ACTIVE", "NEW", "FAILED"));

    env.iam().delete_login_profile().user_name("carol").send().await.unwrap();
    let deleted = live::handle_event(&clients, &config, &event("DeleteLoginProfile", 2), now + Duration::minutes(2)).await.unwrap();
    let deleted = serde_json::to_value(deleted).unwrap();
    assert_eq!(deleted["published"]["security_hub"]["imported"], json!({"resolved": 1}), "{}", deleted["published"]);
    assert_eq!(states(&hub(&env).await[&mfa]), ("ARCHIVED", "RESOLVED", "PASSED"));
}
