//! Faults injected between the function and the emulator (a proxy on 127.0.0.1 that drops
//! replies, answers errors or answers late: `proxy.rs`): each run completes, retried within its
//! budget, or fails loudly; no alert is lost, none is sent twice without being counted, and
//! rules whose data could not be read say so. docs/faults.md lists these cases.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use iam_assurance::output::Trigger;
use iam_assurance::run::{self, RunError};
use iam_assurance_aws::Clients;
use serde_json::Value;

use crate::alerts::{body, change, open_count, per_finding, seed};
use crate::proxy::{Fault, FaultProxy};
use crate::support::*;

/// The live tests' world, with the function's clients behind the fault proxy.
async fn world() -> (Env, FaultProxy, Clients) {
    let env = Env::start().await;
    seed(&env).await;
    let proxy = FaultProxy::start(env.moto.port).await;
    let clients = Clients::from_config(&proxy.sdk_config().await);
    (env, proxy, clients)
}

async fn sweep(env: &Env, clients: &Clients) -> Result<Value, RunError> {
    let run = Box::pin(run::sweep(clients, &env.live_config(), Trigger::Schedule { event_id: None, time: None }, Utc::now())).await?;
    Ok(serde_json::to_value(run).unwrap())
}

/// Messages per finding fingerprint.
fn per_fingerprint(delivered: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in per_finding(delivered) {
        *out.entry(body(m)["finding"]["fingerprint"].as_str().unwrap().to_string()).or_default() += 1;
    }
    out
}

/// DynamoDB applied the claims but their replies were lost: the SDK sends each again, the
/// second attempt fails the condition the first one changed, and the run recognises its own
/// claim (the item carries its writer token). Every new finding is published once; later
/// sweeps are silent.
#[tokio::test(flavor = "multi_thread")]
async fn claims_whose_replies_were_lost_are_the_run_s_own() {
    let (env, proxy, clients) = world().await;
    // The first write is the administrator roster's; its reply lost once, it is this run's.
    proxy.inject("PutItem", 0, 1, Fault::DropReply);
    proxy.inject("PutItem", 2, 8, Fault::DropReply);
    let run = sweep(&env, &clients).await.expect("the sweep completes");
    assert_eq!(run["published"]["roster"], "written", "{}", run["published"]);
    assert_eq!(proxy.applied("PutItem"), 9);
    assert!(proxy.seen("PutItem") > 8, "each dropped claim was sent again");
    let open = open_count(&run);
    assert!(open >= 5, "{open}");
    assert_eq!(run["published"]["changes"]["new"], open, "{}", run["published"]);
    assert_eq!(run["published"]["not_published"]["claimed_by_another_run"], 0, "{}", run["published"]);
    let delivered = env.received().await;
    let counts = per_fingerprint(&delivered);
    assert_eq!(counts.len(), open, "every new finding published");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    proxy.clear();
    let again = sweep(&env, &clients).await.unwrap();
    assert_eq!(again["published"]["messages"], 0, "{}", again["published"]);
    assert!(env.received().await.is_empty());
}

/// SNS accepted a batch but its reply was lost, and the SDK sent it again: a standard topic
/// cannot tell, so the messages arrive twice, and the run says how many may have.
#[tokio::test(flavor = "multi_thread")]
async fn a_resent_batch_is_counted_as_possibly_duplicated() {
    let (env, proxy, clients) = world().await;
    proxy.inject("PublishBatch", 0, 1, Fault::DropReply);
    let run = sweep(&env, &clients).await.expect("the sweep completes");
    let published = &run["published"];
    let sent = published["messages"].as_u64().unwrap();
    let duplicated = published["possibly_duplicated"].as_u64().unwrap();
    assert!(duplicated > 0 && duplicated <= 10, "{published}");
    let delivered = env.received().await;
    assert_eq!(delivered.len() as u64, sent + duplicated, "what arrived = what was sent + what was counted as resent");
    assert!(per_fingerprint(&delivered).values().all(|n| *n <= 2));
}

/// Throttling and server errors on IAM, DynamoDB and SNS are retried by the SDK: the sweep
/// finds exactly what a sweep without faults finds, and publishes each finding once.
#[tokio::test(flavor = "multi_thread")]
async fn throttling_and_server_errors_are_retried() {
    let (env, proxy, clients) = world().await;
    proxy.inject("GetAccountAuthorizationDetails", 0, 2, Fault::query_throttled());
    proxy.inject("GetCredentialReport", 0, 1, Fault::query_internal_error());
    proxy.inject("GetAccountPasswordPolicy", 0, 1, Fault::query_throttled());
    proxy.inject("GetItem", 0, 1, Fault::json_internal_error());
    proxy.inject("Scan", 0, 2, Fault::dynamodb_throttled());
    proxy.inject("PutItem", 0, 3, Fault::dynamodb_throttled());
    proxy.inject("PublishBatch", 0, 1, Fault::query_internal_error());
    let run = sweep(&env, &clients).await.expect("the sweep completes");
    assert_eq!(proxy.applied("GetAccountAuthorizationDetails"), 2);
    assert_eq!(proxy.applied("Scan"), 2);
    // The calls counted include the retries.
    assert_eq!(run["api_calls"]["iam:GetAccountAuthorizationDetails"], 3, "{}", run["api_calls"]);
    let open = open_count(&run);
    let delivered = env.received().await;
    let counts = per_fingerprint(&delivered);
    assert_eq!(counts.len(), open);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    // Without faults, the next sweep evaluates the same rules the same way, finds the same
    // and says nothing.
    proxy.clear();
    let again = sweep(&env, &clients).await.unwrap();
    let statuses = |run: &Value| -> Vec<(String, String)> {
        run["rules"].as_array().unwrap().iter().map(|r| (r["rule_id"].to_string(), r["status"].to_string())).collect()
    };
    assert_eq!(statuses(&run), statuses(&again));
    assert_eq!(open_count(&again), open);
    assert_eq!(again["published"]["messages"], 0);
}

/// A data source that keeps failing: the sweep completes, the rules that needed it are
/// `not_evaluated` naming it, the source is in `errors`, and nothing those rules found before
/// is called resolved.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_that_keeps_failing_leaves_its_rules_not_evaluated_and_resolves_nothing() {
    let (env, proxy, clients) = world().await;
    let first = sweep(&env, &clients).await.unwrap();
    let mfa_findings = first["findings"].as_array().unwrap().iter().filter(|f| f["rule_id"] == "user-mfa").count();
    assert!(mfa_findings > 0);
    env.received().await;
    proxy.inject("GenerateCredentialReport", 0, 100, Fault::query_internal_error());
    proxy.inject("GetCredentialReport", 0, 100, Fault::query_internal_error());
    let run = sweep(&env, &clients).await.expect("the sweep completes");
    let user_mfa = run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == "user-mfa").unwrap();
    assert_eq!(user_mfa["status"], "not_evaluated", "{user_mfa}");
    assert!(user_mfa["reason"].as_str().unwrap().contains("credential report"), "{user_mfa}");
    let errors: Vec<&str> = run["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(errors.iter().any(|e| e.starts_with("credential report unavailable")), "{errors:?}");
    assert_eq!(run["published"]["changes"]["resolved"], 0, "{}", run["published"]);
    assert!(env.received().await.iter().all(|m| change(m) != "resolved"));
}

/// SNS fails every attempt: the run fails (so Lambda retries), the claims of what was not
/// published are released, and the next run publishes every finding once.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_that_keeps_failing_fails_the_run_and_loses_nothing() {
    let (env, proxy, clients) = world().await;
    proxy.inject("PublishBatch", 0, 100, Fault::query_internal_error());
    let err = sweep(&env, &clients).await.expect_err("the publish fails");
    assert!(matches!(err, RunError::Publish(_)), "{err}");
    assert_eq!(err.error_type(), "PublishFailed");
    assert!(env.received().await.is_empty());
    let notified = env.state_items().await.values().filter(|i| i.last_notified.is_some()).count();
    assert_eq!(notified, 0, "a claim of an unpublished finding was kept");
    proxy.clear();
    let retry = sweep(&env, &clients).await.unwrap();
    let open = open_count(&retry);
    assert_eq!(retry["published"]["changes"]["new"], open);
    let counts = per_fingerprint(&env.received().await);
    assert_eq!(counts.len(), open);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

/// The state table answers later than the attempt timeout, every time: the run fails with a
/// state error (no call waits without bound), and publishes nothing it could not record.
#[tokio::test(flavor = "multi_thread")]
async fn a_state_table_that_answers_too_late_fails_the_run() {
    let (env, proxy, _) = world().await;
    let config = proxy
        .sdk_config()
        .await
        .into_builder()
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(1))
                .operation_timeout(Duration::from_secs(4))
                .build(),
        )
        .build();
    let clients = Clients::from_config(&config);
    proxy.inject("Scan", 0, 100, Fault::Delay(Duration::from_secs(3)));
    let err = sweep(&env, &clients).await.expect_err("the scan never answers in time");
    assert!(matches!(err, RunError::State(_)), "{err}");
    assert!(env.received().await.is_empty());
}

/// More findings than one batch holds: users with a console password and no MFA.
async fn seed_many(env: &Env, n: usize) {
    let iam = env.iam();
    for i in 0..n {
        let user = format!("no-mfa-{i:02}");
        iam.create_user().user_name(&user).send().await.unwrap();
        iam.create_login_profile().user_name(&user).password("Sample-Passw0rd!x").send().await.unwrap();
    }
}

/// SNS fails after the first batch was published: the run fails, only the claims of what was
/// not published are released, and the retry publishes exactly those, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_publish_that_fails_after_some_batches_releases_only_the_unsent() {
    let (env, proxy, clients) = world().await;
    seed_many(&env, 15).await;
    proxy.inject("PublishBatch", 1, 100, Fault::query_internal_error());
    let err = sweep(&env, &clients).await.expect_err("the second batch fails");
    assert!(matches!(err, RunError::Publish(_)), "{err}");
    let first = per_fingerprint(&env.received().await);
    assert_eq!(first.len(), 10, "the first batch was published");
    let notified: Vec<String> =
        env.state_items().await.into_values().filter(|i| i.last_notified.is_some()).map(|i| i.fingerprint).collect();
    let mut sent: Vec<String> = first.keys().cloned().collect();
    sent.sort();
    let mut notified_sorted = notified.clone();
    notified_sorted.sort();
    assert_eq!(notified_sorted, sent, "exactly the published findings are marked notified");
    proxy.clear();
    let retry = sweep(&env, &clients).await.unwrap();
    let second = per_fingerprint(&env.received().await);
    let open = open_count(&retry);
    assert_eq!(second.len(), open - 10, "the retry publishes the rest");
    assert!(second.keys().all(|f| !first.contains_key(f)), "nothing published twice");
    assert!(second.values().all(|n| *n == 1));
}

/// A claim write that fails for another reason than a conflict (a request DynamoDB refuses):
/// nothing of that part is published, the claims already written are released, the run fails;
/// the retry publishes every finding once.
#[tokio::test(flavor = "multi_thread")]
async fn a_claim_that_cannot_be_written_publishes_nothing_and_releases_the_others() {
    let (env, proxy, clients) = world().await;
    let refused = Fault::Answer {
        status: 400,
        content_type: "application/x-amz-json-1.0",
        body: r#"{"__type":"com.amazon.coral.validate#ValidationException","message":"Item size has exceeded the maximum allowed size"}"#
            .into(),
    };
    // The first write is the roster's; the third is a claim.
    proxy.inject("PutItem", 2, 1, refused);
    let err = sweep(&env, &clients).await.expect_err("a claim cannot be written");
    assert!(matches!(err, RunError::State(_)), "{err}");
    assert!(env.received().await.is_empty(), "nothing published");
    let notified = env.state_items().await.values().filter(|i| i.last_notified.is_some()).count();
    assert_eq!(notified, 0, "the claims written were released");
    proxy.clear();
    let retry = sweep(&env, &clients).await.unwrap();
    let counts = per_fingerprint(&env.received().await);
    assert_eq!(counts.len(), open_count(&retry));
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

/// SNS fails on the digest after every finding went out: the run fails (Lambda retries), and
/// the digest is kept in the state table, so the retry, which finds nothing new, still sends it,
/// once.
#[tokio::test(flavor = "multi_thread")]
async fn a_digest_that_failed_after_the_findings_is_sent_by_the_next_sweep() {
    let (env, proxy, clients) = world().await;
    // The findings fit one batch; the digest is the next one.
    proxy.inject("PublishBatch", 1, 100, Fault::query_internal_error());
    let err = sweep(&env, &clients).await.expect_err("the digest fails");
    assert!(err.to_string().contains("kept and sent first by the next sweep"), "{err}");
    let first = env.received().await;
    assert!(!first.is_empty() && first.iter().all(|m| change(m) != "digest"), "the findings went out, the digest did not");
    proxy.clear();
    let retry = sweep(&env, &clients).await.unwrap();
    assert_eq!(retry["published"]["earlier_messages"], 1, "{}", retry["published"]);
    assert_eq!(retry["published"]["changes"]["new"], 0);
    let second = env.received().await;
    assert_eq!(second.len(), 1, "{second:?}");
    assert_eq!(change(&second[0]), "digest");
    assert_eq!(body(&second[0])["new"].as_u64().unwrap(), first.len() as u64, "the digest of the first run's findings");
    let third = sweep(&env, &clients).await.unwrap();
    assert!(third["published"].get("earlier_messages").is_none(), "{}", third["published"]);
    assert!(env.received().await.is_empty(), "sent once");
}
