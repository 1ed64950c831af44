//! Alerting with finding state, end to end against moto (IAM, SSM, DynamoDB, SNS → SQS)
//! through the real SDK clients: what each run publishes, and what it does not.
//!
//! Each test starts its own moto server, creates the state table and a topic with an SQS queue
//! subscribed, and reads back every message SNS delivered.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use iam_assurance::alerts::Observation;
use iam_assurance::alerts::{History, NoticeKind};
use iam_assurance::notify::{self, MessageContext};
use iam_assurance::output::RunOutput;
use iam_assurance::run::{self as live, Config, RunError};
use iam_assurance_aws::state::{Expect, StateStore, StateWrite, WriteOutcome};
use iam_assurance_aws::Clients;
use iam_assurance_rules::report::{Finding, FindingStatus, Report, RuleStatus, RuleSummary};
use iam_assurance_rules::settings::GlobalSettings;
use iam_assurance_rules::{catalog, ResourceType, Severity};
use serde_json::{json, Value};

use crate::support::*;

const ACCOUNT: &str = "123456789012";
const TABLE: &str = STATE_TABLE;
const ADMIN: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const RDS: &str = "arn:aws:iam::aws:policy/AmazonRDSFullAccess";

/// A small account: bob has a console password without MFA (high), carol is not on the
/// approved list (medium), deploy-bot has a policy attached directly (low), alice is an
/// admin with MFA, old-contractors is an empty group (low), the password policy is weak
/// (medium).
pub(crate) async fn seed(env: &Env) {
    let iam = env.iam();
    crate::support::seed_people(&iam).await;
    iam.create_access_key().user_name("deploy-bot").send().await.unwrap();
    iam.attach_user_policy().user_name("deploy-bot").policy_arn(RDS).send().await.unwrap();
    iam.create_group().group_name("old-contractors").send().await.unwrap();
    iam.update_account_password_policy().minimum_password_length(8).require_symbols(false).send().await.unwrap();
    env.put_parameter("/iam-assurance/rules/approved-users", json!({"approved": ["alice", "bob", "deploy-*"]})).await;
    // The emulator does not implement IAM Access Analyzer (404): its rule is off, or every sweep
    // would report that source as uncollected (exit 4 for the CLI).
    env.put_parameter("/iam-assurance/rules/access-analyzer-enabled", json!({"enabled": false})).await;
}

pub(crate) fn change(m: &Value) -> &str {
    m["MessageAttributes"]["change"]["Value"].as_str().unwrap_or("")
}

pub(crate) fn attr<'a>(m: &'a Value, name: &str) -> &'a str {
    m["MessageAttributes"][name]["Value"].as_str().unwrap_or("")
}

pub(crate) fn body(m: &Value) -> Value {
    serde_json::from_str(m["Message"].as_str().unwrap()).unwrap()
}

pub(crate) fn per_finding(delivered: &[Value]) -> Vec<&Value> {
    delivered.iter().filter(|m| change(m) != "digest").collect()
}

pub(crate) fn open_count(run: &Value) -> usize {
    run["findings"].as_array().unwrap().iter().filter(|f| f["status"] == "open").count()
}

fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(event_path(name)).unwrap()).unwrap()
}

pub(crate) async fn sweep(env: &Env, clients: &Clients, now: DateTime<Utc>) -> Value {
    let out = live::sweep(clients, &env.live_config(), iam_assurance::output::Trigger::Schedule { event_id: None, time: None }, now)
        .await
        .expect("sweep");
    serde_json::to_value(&out).unwrap()
}

fn check_limits(delivered: &[Value]) {
    for m in delivered {
        let subject = m["Subject"].as_str().unwrap_or("");
        assert!(!subject.is_empty() && subject.len() < 100 && subject.is_ascii(), "{subject:?}");
        for a in ["rule_id", "severity", "resource_type", "account_id", "change"] {
            assert!(!attr(m, a).is_empty(), "{a} missing: {}", m["Subject"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sweeps_in_a_row_the_second_publishes_nothing() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let now = Utc::now();

    let first = sweep(&env, &clients, now).await;
    let open = open_count(&first);
    assert!(open >= 5, "{}", first["findings"]);
    let delivered = env.received().await;
    check_limits(&delivered);
    let messages = per_finding(&delivered);
    assert_eq!(messages.len(), open, "one message per open finding");
    assert!(messages.iter().all(|m| change(m) == "new"));
    assert_eq!(delivered.iter().filter(|m| change(m) == "digest").count(), 1);
    assert_eq!(first["published"]["state"], "dynamodb");
    assert_eq!(first["published"]["changes"], json!({"new": open, "resolved": 0, "reminder": 0}));
    assert_eq!(first["published"]["digest_parts"], 1);
    let calls = first["api_calls"].as_object().unwrap();
    assert_eq!(calls["dynamodb:Scan"], 1);
    assert_eq!(calls["dynamodb:PutItem"].as_u64(), Some(open as u64 + 1), "one claim per new finding, and the roster");
    assert_eq!(first["published"]["roster"], "written");
    for call in calls.keys() {
        assert!(iam_assurance_aws::permissions::is_granted(call), "{call} is not in permissions.rs");
    }
    let items = env.state_items().await;
    assert_eq!(items.len(), open);
    assert!(items.values().all(|i| i.last_notified.map(|t| t.timestamp()) == Some(now.timestamp())), "{items:?}");

    let second = sweep(&env, &clients, now + Duration::hours(1)).await;
    assert_eq!(open_count(&second), open, "the account did not change");
    let delivered = env.received().await;
    assert!(delivered.is_empty(), "the second sweep published {:?}", delivered.iter().map(|m| &m["Subject"]).collect::<Vec<_>>());
    assert_eq!(second["published"]["changes"], json!({"new": 0, "resolved": 0, "reminder": 0}));
    assert_eq!(second["published"]["messages"], 0);
    assert!(second["api_calls"].get("sns:PublishBatch").is_none(), "{}", second["api_calls"]);
    assert!(second["api_calls"].get("dynamodb:PutItem").is_none(), "nothing changed, nothing written: {}", second["api_calls"]);
    assert_eq!(second["published"]["roster"], "unchanged");
}

#[tokio::test(flavor = "multi_thread")]
async fn fixing_one_resource_publishes_exactly_one_resolved_and_a_digest() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let now = Utc::now();
    sweep(&env, &clients, now).await;
    env.received().await;

    env.iam().delete_group().group_name("old-contractors").send().await.unwrap();
    let run = sweep(&env, &clients, now + Duration::hours(1)).await;
    let delivered = env.received().await;
    check_limits(&delivered);
    let messages = per_finding(&delivered);
    assert_eq!(messages.len(), 1, "{:?}", messages.iter().map(|m| &m["Subject"]).collect::<Vec<_>>());
    let resolved = messages[0];
    assert_eq!(change(resolved), "resolved");
    assert_eq!(attr(resolved, "rule_id"), "empty-group");
    assert!(resolved["Subject"].as_str().unwrap().starts_with("[RESOLVED] old-contractors"), "{}", resolved["Subject"]);
    let b = body(resolved);
    assert_eq!(b["change"], "resolved");
    assert_eq!(b["finding"]["resource_arn"], format!("arn:aws:iam::{ACCOUNT}:group/old-contractors"));
    assert!(b["finding"]["message"].as_str().unwrap().contains("old-contractors"), "the resolved message says what was fixed");
    assert!(b["first_seen"].is_string());
    // The sweep scanned the table without the stored findings and read whole only the one it
    // resolved, whose item keeps its finding.
    assert_eq!(run["api_calls"]["dynamodb:BatchGetItem"], 1, "{}", run["api_calls"]);
    assert_eq!(run["api_calls"]["dynamodb:PutItem"], 1, "{}", run["api_calls"]);

    let digests: Vec<&Value> = delivered.iter().filter(|m| change(m) == "digest").collect();
    assert_eq!(digests.len(), 1);
    let digest = body(digests[0]);
    assert_eq!((digest["new"].as_u64(), digest["resolved"].as_u64()), (Some(0), Some(1)));
    assert_eq!(digest["findings"][0]["rule_id"], "empty-group");
    assert_eq!(digest["open"].as_u64(), Some(open_count(&run) as u64));
    assert_eq!(run["published"]["changes"], json!({"new": 0, "resolved": 1, "reminder": 0}));
    let items = env.state_items().await;
    let item = items.values().find(|i| i.rule_id == "empty-group").unwrap();
    assert_eq!(item.status, iam_assurance_aws::ItemStatus::Resolved);
    assert!(item.expires_at.is_some(), "a resolved item expires (TTL)");
    assert!(item.finding.as_deref().is_some_and(|f| f.contains("old-contractors")), "{:?}", item.finding);
    assert!(items.values().all(|i| i.finding.is_some() && i.message_hash.is_some()), "no item lost its finding");
    let light = iam_assurance_aws::state::StateStore::new(&clients, TABLE).load_light().await.unwrap();
    assert_eq!(light.items.len(), items.len());
    assert!(light.items.values().all(|i| i.finding.is_none() && i.message_hash.is_some()), "a light load leaves the findings out");

    // And nothing more on the next sweep.
    sweep(&env, &clients, now + Duration::hours(2)).await;
    assert!(env.received().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_cloudtrail_event_twice_alerts_once() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let config = env.live_config();
    let now = Utc::now();

    // Someone attaches AdministratorAccess to alice directly; EventBridge delivers it twice.
    env.iam().attach_user_policy().user_name("alice").policy_arn(ADMIN).send().await.unwrap();
    let attach = event("attach-user-policy.json");
    let first = serde_json::to_value(live::handle_event(&clients, &config, &attach, now).await.unwrap()).unwrap();
    let delivered = env.received().await;
    check_limits(&delivered);
    assert!(delivered.iter().all(|m| change(m) == "new"), "an event sends no digest");
    let subjects: Vec<&str> = delivered.iter().map(|m| m["Subject"].as_str().unwrap()).collect();
    assert!(
        delivered.iter().any(|m| attr(m, "rule_id") == "user-attached-policies" && m["Subject"].as_str().unwrap().contains("alice")),
        "{subjects:?}"
    );
    assert_eq!(delivered.len(), open_count(&first), "{subjects:?}");
    // An administrator policy: the event recounts administrators from the whole account.
    assert!(first["api_calls"]["iam:GetAccountAuthorizationDetails"].as_u64() >= Some(1), "{}", first["api_calls"]);
    assert!(first["trigger"]["narrowed"].is_null());
    // The event reads its own state items by key (one BatchGetItem), not the whole table.
    assert_eq!(first["api_calls"]["dynamodb:BatchGetItem"], 1, "{}", first["api_calls"]);
    assert!(first["api_calls"].get("dynamodb:Scan").is_none(), "{}", first["api_calls"]);
    let again = serde_json::to_value(live::handle_event(&clients, &config, &attach, now + Duration::seconds(5)).await.unwrap()).unwrap();
    assert_eq!(open_count(&again), open_count(&first), "the second delivery sees the same findings");
    assert!(env.received().await.is_empty(), "a duplicate delivery never alerts twice");
    assert_eq!(again["published"]["changes"], json!({"new": 0, "resolved": 0, "reminder": 0}));

    // The detach resolves what the attach raised, for alice only; delivered twice, once.
    env.iam().detach_user_policy().user_name("alice").policy_arn(ADMIN).send().await.unwrap();
    let mut detach = attach.clone();
    detach["detail"]["eventName"] = json!("DetachUserPolicy");
    detach["detail"]["eventID"] = json!("0d3c4e5f-0000-4000-8000-000000000001");
    live::handle_event(&clients, &config, &detach, now + Duration::minutes(1)).await.unwrap();
    let delivered = env.received().await;
    let resolved: Vec<&Value> = delivered.iter().filter(|m| change(m) == "resolved").collect();
    assert!(
        resolved.iter().any(|m| attr(m, "rule_id") == "user-attached-policies"),
        "{:?}",
        delivered.iter().map(|m| &m["Subject"]).collect::<Vec<_>>()
    );
    assert!(!delivered.iter().any(|m| m["Subject"].as_str().unwrap().contains("deploy-bot")), "deploy-bot was not looked at");
    live::handle_event(&clients, &config, &detach, now + Duration::minutes(2)).await.unwrap();
    assert!(env.received().await.is_empty());

    // Root signs in: one critical alert, however often the event arrives, never "resolved".
    let signin = event("root-console-signin.json");
    for i in 0..2 {
        live::handle_event(&clients, &config, &signin, now + Duration::minutes(3 + i)).await.unwrap();
    }
    let delivered = env.received().await;
    assert_eq!(delivered.len(), 1, "{:?}", delivered.iter().map(|m| &m["Subject"]).collect::<Vec<_>>());
    assert_eq!((attr(&delivered[0], "rule_id"), attr(&delivered[0], "severity")), ("root-usage", "critical"));
    let items = env.state_items().await;
    let incident = items.values().find(|i| i.rule_id == "root-usage").unwrap();
    assert!(incident.incident && incident.expires_at.is_some());
    // A sweep later neither reminds about it nor resolves it.
    sweep(&env, &clients, now + Duration::hours(30)).await;
    let delivered = env.received().await;
    assert!(!delivered.iter().any(|m| attr(m, "rule_id") == "root-usage"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_event_reads_only_the_state_it_can_change_and_resolves_a_deleted_inline_policy() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let config = env.live_config();
    let now = Utc::now();
    let swept = sweep(&env, &clients, now).await;
    env.received().await;
    let items_after_sweep = env.state_items().await.len();
    assert!(items_after_sweep >= 5, "the sweep left {items_after_sweep} state items");

    // An inline policy allowing *:* is put on alice: admin-policy on it (keyed by the policy's
    // name), and user-inline-policies.
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    env.iam().put_user_policy().user_name("alice").policy_name("break-glass").policy_document(document).send().await.unwrap();
    let put = event("put-user-policy.json");
    let run = serde_json::to_value(live::handle_event(&clients, &config, &put, now + Duration::minutes(1)).await.unwrap()).unwrap();
    let delivered = env.received().await;
    let rules: Vec<&str> = delivered.iter().map(|m| attr(m, "rule_id")).collect();
    assert!(rules.contains(&"admin-policy") && rules.contains(&"user-inline-policies"), "{rules:?}");
    assert!(delivered.iter().all(|m| change(m) == "new"), "{rules:?}");
    assert_eq!(run["api_calls"]["dynamodb:BatchGetItem"], 1, "{}", run["api_calls"]);
    assert!(run["api_calls"].get("dynamodb:Scan").is_none(), "{}", run["api_calls"]);
    let read = run["published"]["state_items"].as_u64().unwrap() as usize;
    assert!(read < items_after_sweep, "the event read {read} of {items_after_sweep} items");

    // The policy is deleted: it is gone from IAM, yet the event names it, so its finding
    // resolves at once.
    env.iam().delete_user_policy().user_name("alice").policy_name("break-glass").send().await.unwrap();
    let mut delete = put.clone();
    delete["detail"]["eventName"] = json!("DeleteUserPolicy");
    delete["detail"]["eventID"] = json!("9f99790b-0000-4000-8000-000000000002");
    delete["detail"]["requestParameters"].as_object_mut().unwrap().remove("policyDocument");
    let run = serde_json::to_value(live::handle_event(&clients, &config, &delete, now + Duration::minutes(2)).await.unwrap()).unwrap();
    let delivered = env.received().await;
    let resolved: Vec<&str> = delivered.iter().filter(|m| change(m) == "resolved").map(|m| attr(m, "rule_id")).collect();
    assert!(resolved.contains(&"admin-policy") && resolved.contains(&"user-inline-policies"), "{resolved:?} {}", run["published"]);
    assert_eq!(delivered.len(), resolved.len(), "only resolutions");
    // The sweep's findings elsewhere were not touched.
    let items = env.state_items().await;
    let open = items.values().filter(|i| i.status == iam_assurance_aws::state::ItemStatus::Open).count();
    assert_eq!(open, open_count(&swept), "the sweep's open findings stay open");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_user_resolves_its_findings_at_once() {
    let env = Env::start().await;
    seed(&env).await;
    let iam = env.iam();
    iam.create_user().user_name("leaver").send().await.unwrap();
    iam.attach_user_policy().user_name("leaver").policy_arn(RDS).send().await.unwrap();
    let clients = env.clients();
    let config = env.live_config();
    let now = Utc::now();
    sweep(&env, &clients, now).await;
    let delivered = env.received().await;
    let leaver_arn = format!("arn:aws:iam::{ACCOUNT}:user/leaver");
    let on_leaver = |m: &&Value| body(m)["finding"]["resource_arn"] == leaver_arn.as_str();
    let raised: Vec<&str> = delivered.iter().filter(on_leaver).map(|m| attr(m, "rule_id")).collect();
    assert!(raised.contains(&"user-attached-policies"), "{raised:?}");

    // As IAM requires, the policy is detached (that event is not delivered here), then the
    // user is deleted: DeleteUser resolves every finding on the user.
    iam.detach_user_policy().user_name("leaver").policy_arn(RDS).send().await.unwrap();
    iam.delete_user().user_name("leaver").send().await.unwrap();
    let mut delete = event("delete-user.json");
    delete["detail"]["requestParameters"]["userName"] = json!("leaver");
    let run = serde_json::to_value(live::handle_event(&clients, &config, &delete, now + Duration::minutes(1)).await.unwrap()).unwrap();
    let delivered = env.received().await;
    let resolved: Vec<&str> = delivered.iter().filter(on_leaver).filter(|m| change(m) == "resolved").map(|m| attr(m, "rule_id")).collect();
    let mut expected = raised.clone();
    expected.sort();
    let mut got = resolved.clone();
    got.sort();
    assert_eq!(got, expected, "{}", run["published"]);
    // Through the roster the sweep kept: the user confirmed gone and the account's user count,
    // not the whole account.
    assert_roster_reads(&run, &["iam:GetUser", "iam:GetAccountSummary"], "DeleteUser");
    assert!(run["trigger"]["narrowed"].as_str().unwrap().contains("user leaver found deleted"), "{}", run["trigger"]);
    let items = env.state_items().await;
    assert!(items.values().filter(|i| i.resource_arn == leaver_arn).all(|i| i.status == iam_assurance_aws::ItemStatus::Resolved));
    // Nothing else was resolved.
    assert!(
        delivered.iter().filter(|m| change(m) == "resolved").all(|m| on_leaver(&m)),
        "{:?}",
        delivered.iter().map(|m| &m["Subject"]).collect::<Vec<_>>()
    );
    agreeing_sweep(&env, &clients, now + Duration::minutes(2), &run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn attaching_a_policy_that_cannot_make_an_admin_reads_only_the_policy_and_the_user() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let config = env.live_config();
    let now = Utc::now();
    sweep(&env, &clients, now).await;
    env.received().await;
    let read_only = "arn:aws:iam::aws:policy/ReadOnlyAccess";
    let mut attach = event("attach-user-policy.json");
    attach["detail"]["requestParameters"]["policyArn"] = json!(read_only);

    env.iam().attach_user_policy().user_name("alice").policy_arn(read_only).send().await.unwrap();
    let run = serde_json::to_value(live::handle_event(&clients, &config, &attach, now + Duration::minutes(1)).await.unwrap()).unwrap();
    let calls = &run["api_calls"];
    for call in ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetUser", "iam:ListAttachedUserPolicies", "ssm:GetParametersByPath"] {
        assert_eq!(calls[call], 1, "{call}: {calls}");
    }
    assert!(calls.get("iam:GetAccountAuthorizationDetails").is_none(), "{calls}");
    assert!(run["trigger"]["narrowed"].as_str().unwrap().contains(read_only), "{}", run["trigger"]);
    let rules: Vec<&str> = run["rules"].as_array().unwrap().iter().map(|r| r["rule_id"].as_str().unwrap()).collect();
    assert_eq!(rules, vec!["user-attached-policies"]);
    let delivered = env.received().await;
    assert_eq!(delivered.len(), 1, "{:?}", delivered.iter().map(|m| &m["Subject"]).collect::<Vec<_>>());
    assert_eq!((change(&delivered[0]), attr(&delivered[0], "rule_id")), ("new", "user-attached-policies"));
    assert!(body(&delivered[0])["finding"]["message"].as_str().unwrap().contains("ReadOnlyAccess"));

    // Detached: resolved the same way.
    env.iam().detach_user_policy().user_name("alice").policy_arn(read_only).send().await.unwrap();
    let mut detach = attach.clone();
    detach["detail"]["eventName"] = json!("DetachUserPolicy");
    detach["detail"]["eventID"] = json!("0d3c4e5f-0000-4000-8000-000000000009");
    let run = serde_json::to_value(live::handle_event(&clients, &config, &detach, now + Duration::minutes(2)).await.unwrap()).unwrap();
    assert!(run["api_calls"].get("iam:GetAccountAuthorizationDetails").is_none(), "{}", run["api_calls"]);
    let delivered = env.received().await;
    assert_eq!(delivered.len(), 1);
    assert_eq!((change(&delivered[0]), attr(&delivered[0], "rule_id")), ("resolved", "user-attached-policies"));

    // A customer policy that denies everything changes who is an administrator: the
    // administrators are recounted through the roster the sweep kept.
    let deny = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let created = env.iam().create_policy().policy_name("lockdown").policy_document(deny).send().await.unwrap();
    let lockdown = created.policy().unwrap().arn().unwrap().to_string();
    env.iam().attach_user_policy().user_name("alice").policy_arn(&lockdown).send().await.unwrap();
    let mut attach_deny = attach.clone();
    attach_deny["detail"]["requestParameters"]["policyArn"] = json!(lockdown);
    attach_deny["detail"]["eventID"] = json!("0d3c4e5f-0000-4000-8000-00000000000a");
    let run = serde_json::to_value(live::handle_event(&clients, &config, &attach_deny, now + Duration::minutes(3)).await.unwrap()).unwrap();
    assert!(run["api_calls"].get("iam:GetAccountAuthorizationDetails").is_none(), "{}", run["api_calls"]);
    assert_eq!(run["api_calls"]["dynamodb:GetItem"], 1, "{}", run["api_calls"]);
    assert!(run["trigger"]["narrowed"].as_str().unwrap().contains("roster"), "{}", run["trigger"]);
    assert!(run["rules"].as_array().unwrap().iter().any(|r| r["rule_id"] == "min-admins"), "administrators recounted");
    // alice was the only administrator: now there is none.
    let min = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "min-admins").expect("min-admins finding");
    assert!(min["message"].as_str().unwrap().contains("has no principal with administrator access"), "{}", min["message"]);

    // So does a policy on the unapproved list (matched by name as the rule matches), which
    // also reads the policy's attachments; a policy not on it stays narrow.
    env.put_parameter("/iam-assurance/rules/unapproved-policy-in-use", json!({"unapproved": ["IAMFullAccess"]})).await;
    let run = serde_json::to_value(live::handle_event(&clients, &config, &attach, now + Duration::minutes(4)).await.unwrap()).unwrap();
    assert!(run["api_calls"].get("iam:GetAccountAuthorizationDetails").is_none(), "{}", run["api_calls"]);
    assert!(run["api_calls"].get("dynamodb:GetItem").is_none(), "{}", run["api_calls"]);
    env.put_parameter("/iam-assurance/rules/unapproved-policy-in-use", json!({"unapproved": ["ReadOnly*"]})).await;
    let run = serde_json::to_value(live::handle_event(&clients, &config, &attach, now + Duration::minutes(5)).await.unwrap()).unwrap();
    assert!(run["api_calls"].get("iam:GetAccountAuthorizationDetails").is_none(), "{}", run["api_calls"]);
    assert_eq!(run["api_calls"]["iam:ListEntitiesForPolicy"], 1, "{}", run["api_calls"]);
    assert!(run["trigger"]["narrowed"].as_str().unwrap().contains("unapproved list"), "{}", run["trigger"]);
    let unapproved = run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == "unapproved-policy-in-use").unwrap();
    assert_eq!(unapproved["status"], "evaluated", "{unapproved}");
}

/// 2,000 findings (synthetic, on real SNS → SQS and DynamoDB): every one delivered, each
/// message and digest part within SNS's limits, and a second run sends none of them again.
#[tokio::test(flavor = "multi_thread")]
async fn two_thousand_findings_are_all_delivered_within_the_limits() {
    let env = Env::start().await;
    let clients = env.clients();
    let config = env.live_config();
    let now = Utc::now();
    let rules: Vec<&str> = ["user-mfa", "access-key-rotation", "unused-user", "approved-users", "user-inline-policies"].to_vec();
    let findings: Vec<Finding> = (0..2000)
        .map(|i| {
            let rule = rules[i % rules.len()];
            let meta = catalog::find(rule).unwrap().meta();
            let name = format!("user-{i:04}-of-a-large-organization");
            let arn = format!("arn:aws:iam::{ACCOUNT}:user/teams/platform/{name}");
            Finding {
                rule_id: rule.into(),
                title: meta.title.into(),
                severity: Severity::ALL[i % 4],
                status: FindingStatus::Open,
                resource_type: ResourceType::User,
                resource_arn: arn.clone(),
                resource_name: name.clone(),
                account_id: ACCOUNT.into(),
                message: format!("User {name} has a problem that rule {rule} checks, described in a sentence of realistic length."),
                remediation: format!("aws iam list-access-keys --user-name {name}\naws iam delete-login-profile --user-name {name}"),
                fingerprint: format!("{i:04}-{}", "f".repeat(28)),
                suppression: None,
                details: json!({"user": name, "arn": arn}),
            }
        })
        .collect();
    let summaries: Vec<RuleSummary> = rules
        .iter()
        .map(|r| RuleSummary {
            rule_id: r.to_string(),
            status: RuleStatus::Evaluated,
            reason: None,
            cause: None,
            severity: Severity::Medium,
            failed: 400,
            suppressed: 0,
        })
        .collect();
    let report = Report {
        account_id: ACCOUNT.into(),
        evaluated_at: now,
        credential_report_generated_at: None,
        findings,
        rules: summaries,
        errors: vec![],
    };
    let output = RunOutput::from_report(report, iam_assurance::output::Trigger::Schedule { event_id: None, time: None }, BTreeMap::new());
    let obs = Observation::sweep(&output.findings, rules.iter().map(|r| r.to_string()), now, GlobalSettings::default());

    let done = Arc::new(AtomicBool::new(false));
    let drainer = tokio::spawn(drain(aws_sdk_sqs::Client::new(&env.config), env.queue.clone(), Some(done.clone())));
    let published = serde_json::to_value(live::publish_changes(&clients, &config, &output, &obs).await.expect("published")).unwrap();
    done.store(true, Ordering::SeqCst);
    assert_eq!(published["changes"]["new"], 2000);
    let delivered = drainer.await.expect("drained");
    check_limits(&delivered);
    let messages = per_finding(&delivered);
    let fingerprints: BTreeSet<String> = messages.iter().map(|m| body(m)["finding"]["fingerprint"].as_str().unwrap().to_string()).collect();
    assert_eq!((messages.len(), fingerprints.len()), (2000, 2000), "every finding delivered once");
    let digests: Vec<Value> = delivered.iter().filter(|m| change(m) == "digest").map(body).collect();
    assert!(digests.len() > 1, "a digest of 2,000 findings is split into parts");
    assert_eq!(published["digest_parts"].as_u64(), Some(digests.len() as u64));
    let listed: usize = digests.iter().map(|d| d["findings"].as_array().unwrap().len()).sum();
    assert_eq!(listed, 2000, "the parts list every new finding: split, not truncated");
    for d in &digests {
        assert_eq!((d["parts"].as_u64(), d["new"].as_u64()), (Some(digests.len() as u64), Some(2000)));
    }
    let batches = published["batches"].as_u64().unwrap();
    assert!(batches >= 200 + digests.len() as u64 / 10, "PublishBatch of at most ten: {batches}");
    assert_eq!(published["messages"].as_u64(), Some(2000 + digests.len() as u64));

    // The messages themselves, as rendered, are within the limits (body, subject, attributes).
    let ctx = MessageContext { trigger: "scheduled sweep", settings_prefix: "/iam-assurance", now, renotify_hours: 24 };
    let refs: Vec<&Finding> = output.findings.iter().collect();
    let parts = notify::digests(&notify::DigestInput { account_id: ACCOUNT, new: &refs, resolved: &[], reminders: 0, open: &refs }, &ctx);
    assert!(parts.iter().all(|m| m.payload_size() <= MESSAGE_LIMIT && m.subject.len() < 100));

    // A second run: nothing new.
    let again = serde_json::to_value(live::publish_changes(&clients, &config, &output, &obs).await.expect("published")).unwrap();
    assert_eq!(again["changes"], json!({"new": 0, "resolved": 0, "reminder": 0}));
    assert_eq!(again["state_items"], 2000);
    assert!(env.received().await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn two_sweeps_racing_notify_each_finding_once() {
    let env = Env::start().await;
    seed(&env).await;
    let (a, b) = (env.clients(), env.clients());
    let now = Utc::now();
    let config = env.live_config();
    let (ra, rb) = tokio::join!(
        live::sweep(&a, &config, iam_assurance::output::Trigger::Schedule { event_id: None, time: None }, now),
        live::sweep(&b, &config, iam_assurance::output::Trigger::Schedule { event_id: None, time: None }, now)
    );
    let (ra, rb) = (serde_json::to_value(ra.unwrap()).unwrap(), serde_json::to_value(rb.unwrap()).unwrap());
    let open = open_count(&ra);
    let delivered = env.received().await;
    let mut per_fingerprint: BTreeMap<String, usize> = BTreeMap::new();
    for m in per_finding(&delivered) {
        *per_fingerprint.entry(body(m)["finding"]["fingerprint"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert_eq!(per_fingerprint.len(), open, "every finding notified");
    assert!(per_fingerprint.values().all(|n| *n == 1), "{per_fingerprint:?}");
    let new = |r: &Value| r["published"]["changes"]["new"].as_u64().unwrap();
    assert_eq!(new(&ra) + new(&rb), open as u64, "the two runs split the findings between them");
    let digests: Vec<Value> = delivered.iter().filter(|m| change(m) == "digest").map(body).collect();
    assert!(!digests.is_empty() && digests.len() <= 2);
    assert_eq!(digests.iter().map(|d| d["new"].as_u64().unwrap()).sum::<u64>(), open as u64, "each digest lists what its run sent");

    // The conditional write itself: of two writers (two runs' stores) expecting the item
    // absent, one wins. (The same store writing it twice is one write whose retry found it
    // applied: see the lost-reply test.) One after the other: DynamoDB checks a condition and
    // writes atomically, the emulator does not (two requests at the same instant can both pass
    // the check), so sending them at once tests the emulator, not the store.
    let (store_a, store_b) = (StateStore::new(&a, TABLE), StateStore::new(&b, TABLE));
    let item = env.state_items().await.into_values().next().unwrap();
    let fresh = StateWrite {
        fingerprint: "race".into(),
        expect: Expect::Absent,
        put: Some(iam_assurance_aws::StateItem { fingerprint: "race".into(), ..item }),
    };
    let writes = [&fresh];
    let first = store_a.apply(&writes).await;
    let second = store_b.apply(&writes).await;
    let outcomes: Vec<WriteOutcome> = first.into_iter().chain(second).collect();
    let won = outcomes.iter().filter(|o| matches!(o, WriteOutcome::Written)).count();
    let lost = outcomes.iter().filter(|o| matches!(o, WriteOutcome::Conflict)).count();
    assert_eq!((won, lost), (1, 1), "{outcomes:?}");
    assert!(matches!(outcomes[1], WriteOutcome::Conflict), "the second writer finds the item there: {outcomes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_publish_leaves_the_findings_unclaimed_for_the_retry() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let now = Utc::now();
    let mut config = env.live_config();
    config.topic_arn = Some(format!("arn:aws:sns:us-east-1:{ACCOUNT}:no-such-topic"));
    let err =
        live::sweep(&clients, &config, iam_assurance::output::Trigger::Schedule { event_id: None, time: None }, now).await.unwrap_err();
    assert!(matches!(err, RunError::Publish(_)), "{err}");
    assert!(err.to_string().contains("released"), "{err}");
    let items = env.state_items().await;
    assert!(items.values().all(|i| i.last_notified.is_none()), "no finding marked notified by a failed publish: {items:?}");

    // The retry (the right topic now) sends everything.
    let run = sweep(&env, &clients, now + Duration::minutes(1)).await;
    let delivered = env.received().await;
    assert_eq!(per_finding(&delivered).len(), open_count(&run));
    assert!(per_finding(&delivered).iter().all(|m| change(m) == "new"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reminders_follow_renotify_hours_from_ssm() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    let open = open_count(&first);
    env.received().await;

    sweep(&env, &clients, t0 + Duration::hours(23)).await;
    assert!(env.received().await.is_empty(), "not yet");

    let run = sweep(&env, &clients, t0 + Duration::hours(24)).await;
    let delivered = env.received().await;
    check_limits(&delivered);
    assert_eq!(delivered.len(), open, "a reminder per open finding, no digest (nothing new or resolved)");
    assert!(delivered.iter().all(|m| change(m) == "reminder"));
    assert!(delivered.iter().all(|m| m["Subject"].as_str().unwrap().contains("Still open")), "{}", delivered[0]["Subject"]);
    let b = body(&delivered[0]);
    assert!(b["first_seen"].is_string() && b["last_notified"].is_string(), "{b}");
    assert_eq!(run["published"]["changes"]["reminder"].as_u64(), Some(open as u64));

    // A shorter interval from the global settings parameter.
    env.put_parameter("/iam-assurance/global", json!({"renotify_hours": 2})).await;
    sweep(&env, &clients, t0 + Duration::hours(25)).await;
    assert!(env.received().await.is_empty());
    let run = sweep(&env, &clients, t0 + Duration::hours(26)).await;
    assert_eq!(run["published"]["settings"]["renotify_hours"], 2);
    assert_eq!(env.received().await.len(), open);
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_min_severity_holds_back_lower_findings_until_lowered() {
    let env = Env::start().await;
    seed(&env).await;
    env.put_parameter("/iam-assurance/global", json!({"notify_min_severity": "high"})).await;
    let clients = env.clients();
    let now = Utc::now();
    let run = sweep(&env, &clients, now).await;
    let delivered = env.received().await;
    let messages = per_finding(&delivered);
    assert!(!messages.is_empty());
    assert!(
        messages.iter().all(|m| matches!(attr(m, "severity"), "critical" | "high")),
        "{:?}",
        messages.iter().map(|m| &m["Subject"]).collect::<Vec<_>>()
    );
    assert!(messages.iter().any(|m| attr(m, "rule_id") == "user-mfa"));
    let open = open_count(&run);
    let below = run["published"]["not_published"]["below_min_severity"].as_u64().unwrap() as usize;
    assert!(below > 0);
    assert_eq!(messages.len() + below, open);
    assert_eq!(env.state_items().await.len(), open, "held-back findings are tracked");

    // Lowered to medium: the medium findings are new now, the low ones still held back.
    env.put_parameter("/iam-assurance/global", json!({"notify_min_severity": "medium"})).await;
    sweep(&env, &clients, now + Duration::hours(1)).await;
    let delivered = env.received().await;
    let messages = per_finding(&delivered);
    assert!(!messages.is_empty());
    assert!(
        messages.iter().all(|m| change(m) == "new" && attr(m, "severity") == "medium"),
        "{:?}",
        messages.iter().map(|m| &m["Subject"]).collect::<Vec<_>>()
    );

    // A bad global parameter: an error naming it, the defaults apply (every severity).
    env.put_parameter("/iam-assurance/global", json!({"notify_min_severty": "low"})).await;
    let run = sweep(&env, &clients, now + Duration::hours(2)).await;
    let errors = run["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e.as_str().unwrap().contains("/iam-assurance/global")), "{errors:?}");
    assert_eq!(run["published"]["settings"]["notify_min_severity"], "info");
    assert!(per_finding(&env.received().await).iter().all(|m| attr(m, "severity") == "low"));
}

/// The email a person reads for a real finding: what, which resource, why it matters, the
/// exact fix as AWS CLI commands, the rule and how to change it or add an exception.
#[tokio::test(flavor = "multi_thread")]
async fn the_email_of_a_real_finding_says_what_to_do() {
    let env = Env::start().await;
    seed(&env).await;
    let clients = env.clients();
    let now = Utc::now();
    let mut config = env.live_config();
    config.topic_arn = None;
    let out = live::sweep(&clients, &config, iam_assurance::output::Trigger::Schedule { event_id: None, time: None }, now).await.unwrap();
    let bob = out.findings.iter().find(|f| f.rule_id == "user-mfa").expect("bob's finding");
    let ctx = MessageContext { trigger: "scheduled sweep", settings_prefix: "/iam-assurance", now, renotify_hours: 24 };
    let email = notify::email_text(bob, NoticeKind::New, &History { first_seen: Some(now), last_notified: None }, &ctx);
    let arn = format!("arn:aws:iam::{ACCOUNT}:user/bob");
    for expected in [
        "NEW HIGH FINDING in AWS account 123456789012",
        "User bob has a console password",
        arn.as_str(),
        "WHY IT MATTERS",
        "HOW TO FIX",
        "aws iam create-virtual-mfa-device --virtual-mfa-device-name bob",
        "aws iam enable-mfa-device --user-name bob",
        "Rule:      user-mfa",
        "/iam-assurance/rules/user-mfa",
        "'.exceptions += [{\"resource\": \"arn:aws:iam::123456789012:user/bob\"",
        "aws ssm put-parameter --overwrite --name /iam-assurance/rules/user-mfa --value file://user-mfa.json",
        "severity: critical, high, medium, low or info",
    ] {
        assert!(email.contains(expected), "missing {expected:?} in:\n{email}");
    }
    assert!(!email.contains("http"), "no links: the email stands alone\n{email}");

    let resolved =
        notify::email_text(bob, NoticeKind::Resolved, &History { first_seen: Some(now - Duration::days(3)), last_notified: None }, &ctx);
    assert!(resolved.starts_with("RESOLVED in AWS account 123456789012: no action needed"), "{resolved}");
    assert!(resolved.contains("Open:      from"), "{resolved}");
    assert!(resolved.contains("(3 days)"), "{resolved}");
    assert!(!resolved.contains("HOW TO FIX"));

    let reminder = notify::email_text(
        bob,
        NoticeKind::Reminder,
        &History { first_seen: Some(now - Duration::days(2)), last_notified: Some(now - Duration::days(1)) },
        &ctx,
    );
    assert!(reminder.starts_with("REMINDER: HIGH finding still open in AWS account 123456789012, open for 2 days"), "{reminder}");
    assert!(reminder.contains("HOW TO FIX"));

    // Slack (AWS Chatbot): title with the severity, the fix as next steps.
    let chat = notify::chatbot(bob, NoticeKind::New, &History::default(), &ctx);
    assert_eq!((chat["version"].as_str(), chat["source"].as_str()), (Some("1.0"), Some("custom")));
    assert!(chat["content"]["title"].as_str().unwrap().contains("*HIGH*"), "{chat}");
    let steps: Vec<&str> = chat["content"]["nextSteps"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    assert!(steps.iter().any(|s| s.starts_with("`aws iam create-virtual-mfa-device")), "{steps:?}");
    assert_eq!(chat["metadata"]["threadId"], bob.fingerprint.as_str(), "new and resolved share a Slack thread");
}

/// The binary, pointed at the emulator with `STATE_TABLE` set: state across invocations.
#[test]
fn cli_keeps_state_in_the_table_from_the_environment() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let env = rt.block_on(async {
        let env = Env::start().await;
        seed(&env).await;
        env
    });
    let vars = env.moto.env();
    let mut envs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.push(("FINDINGS_TOPIC_ARN", env.topic.as_str()));
    envs.push(("STATE_TABLE", TABLE));
    let run = |args: &[&str]| -> Value {
        let out = run_bin(args, &envs);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&stdout(&out)).unwrap()
    };
    let first = run(&["sweep", "--publish", "--format", "json"]);
    assert_eq!(first["published"]["state"], "dynamodb");
    assert!(first["published"]["changes"]["new"].as_u64().unwrap() > 0);
    let second = run(&["sweep", "--publish", "--format", "json"]);
    assert_eq!(second["published"]["changes"], json!({"new": 0, "resolved": 0, "reminder": 0}));
    let signin = event_path("root-console-signin.json");
    let a = run(&["invoke", signin.to_str().unwrap()]);
    let b = run(&["invoke", signin.to_str().unwrap()]);
    assert_eq!((a["published"]["changes"]["new"].as_u64(), b["published"]["changes"]["new"].as_u64()), (Some(1), Some(0)));
    let delivered = rt.block_on(env.received());
    assert_eq!(per_finding(&delivered).len() as u64, first["published"]["changes"]["new"].as_u64().unwrap() + 1);
}

/// An IAM write event like the sample `attach-user-policy.json`, for another call.
pub(crate) fn iam_event(name: &str, id: u32, params: Value) -> Value {
    let mut e = event("attach-user-policy.json");
    e["detail"]["eventName"] = json!(name);
    e["detail"]["eventID"] = json!(format!("5e1f0000-0000-4000-8000-{id:012}"));
    e["detail"]["requestParameters"] = params;
    e
}

pub(crate) async fn invoke(clients: &Clients, config: &Config, event: &Value, at: DateTime<Utc>) -> Value {
    serde_json::to_value(live::handle_event(clients, config, event, at).await.expect("event")).unwrap()
}

/// A sweep after an event that went through the roster: it must find what the event found.
/// It publishes nothing, finds the roster the event left as it would build it, and reports
/// exactly the event's findings (message and details) for every rule the event evaluated.
/// (It may still refresh other findings silently: `admin-policy` says how many entities a
/// policy is attached to, which attach events do not re-evaluate.)
pub(crate) async fn agreeing_sweep(env: &Env, clients: &Clients, at: DateTime<Utc>, event_run: &Value) {
    agreeing_sweep_with_roster(env, clients, at, event_run, "unchanged").await;
}

/// [`agreeing_sweep`], where the sweep does `roster` with the roster the event left.
async fn agreeing_sweep_with_roster(env: &Env, clients: &Clients, at: DateTime<Utc>, event_run: &Value, roster: &str) {
    let after = event_run["trigger"]["event_name"].as_str().unwrap_or("?").to_string();
    let run = sweep(env, clients, at).await;
    let delivered = env.received().await;
    assert!(delivered.is_empty(), "after {after}: the sweep published {:?}", delivered.iter().map(|m| &m["Subject"]).collect::<Vec<_>>());
    assert_eq!(run["published"]["roster"], roster, "after {after}");
    let rules: BTreeSet<&str> = event_run["rules"].as_array().unwrap().iter().map(|r| r["rule_id"].as_str().unwrap()).collect();
    let of = |run: &Value, arns: Option<&BTreeSet<String>>| -> BTreeMap<String, (Value, Value)> {
        run["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| rules.contains(f["rule_id"].as_str().unwrap()))
            .filter(|f| arns.is_none_or(|a| a.contains(f["resource_arn"].as_str().unwrap())))
            .map(|f| (f["fingerprint"].as_str().unwrap().to_string(), (f["message"].clone(), f["details"].clone())))
            .collect()
    };
    let event_findings = of(event_run, None);
    // The sweep's findings of those rules on what the event looked at: its entity, its
    // policy and the account.
    let entity = &event_run["trigger"]["entity"];
    let entity_arn = match entity["name"].as_str().unwrap() {
        arn if arn.starts_with("arn:") => arn.to_string(),
        name => format!("arn:aws:iam::{ACCOUNT}:{}/{name}", entity["type"].as_str().unwrap()),
    };
    let mut in_scope = BTreeSet::from([entity_arn, format!("arn:aws:iam::{ACCOUNT}:root")]);
    // The policy of an attachment (by ARN).
    in_scope.extend(event_run["trigger"]["related"]["name"].as_str().map(str::to_string));
    assert_eq!(of(&run, Some(&in_scope)), event_findings, "after {after}");
}

/// An event through the roster read exactly `reads` (each once) besides the SSM settings, the
/// roster's GetItem and the state's BatchGetItem (writes and publishing aside), and every call
/// it made is in permissions.rs.
pub(crate) fn assert_roster_reads(run: &Value, reads: &[&str], context: &str) {
    let calls = run["api_calls"].as_object().unwrap();
    let mut expected: BTreeMap<String, u64> = reads.iter().map(|c| (c.to_string(), 1)).collect();
    for call in ["ssm:GetParametersByPath", "dynamodb:GetItem", "dynamodb:BatchGetItem"] {
        expected.insert(call.to_string(), 1);
    }
    let got: BTreeMap<String, u64> = calls
        .iter()
        .filter(|(k, _)| !k.starts_with("sns:") && *k != "dynamodb:PutItem")
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(got, expected, "{context}");
    for call in calls.keys() {
        assert!(iam_assurance_aws::permissions::is_granted(call), "{call} is not in permissions.rs");
    }
}

/// The events that can change who is an administrator, on a user, a group and a role, with
/// AWS managed and customer policies that grant or deny everything and an unapproved one: each
/// is evaluated without the account's authorization details, through the roster the sweep
/// kept, and the next sweep (which reads everything) agrees with it exactly.
#[tokio::test(flavor = "multi_thread")]
async fn admin_changes_go_through_the_roster_and_the_next_sweep_agrees() {
    let env = Env::start().await;
    seed(&env).await;
    env.put_parameter("/iam-assurance/rules/unapproved-policy-in-use", json!({"unapproved": ["AdministratorAccess"]})).await;
    env.put_parameter("/iam-assurance/rules/max-admins", json!({"max": 3})).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    // Created before the sweep (their own events are not the point here): a customer policy
    // that allows everything, a group of two and a role, none holding it yet.
    let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let everything = iam.create_policy().policy_name("everything").policy_document(allow_all).send().await.unwrap();
    let everything = everything.policy().unwrap().arn().unwrap().to_string();
    iam.create_group().group_name("ops").send().await.unwrap();
    for user in ["carol", "deploy-bot"] {
        iam.add_user_to_group().group_name("ops").user_name(user).send().await.unwrap();
    }
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]});
    iam.create_role().role_name("deployer").assume_role_policy_document(trust.to_string()).send().await.unwrap();
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    assert_eq!(first["api_calls"]["dynamodb:GetItem"], 1, "{}", first["api_calls"]);
    env.received().await;
    let roster = StateStore::new(&clients, TABLE).roster().await.unwrap().expect("the sweep kept a roster");
    assert!(roster.json.contains("arn:aws:iam::123456789012:user/alice"), "{}", roster.json);

    // 1. AdministratorAccess (on the unapproved list) attached to bob: a second administrator.
    iam.attach_user_policy().user_name("bob").policy_arn(ADMIN).send().await.unwrap();
    let run = invoke(
        &clients,
        &config,
        &iam_event("AttachUserPolicy", 1, json!({"userName": "bob", "policyArn": ADMIN})),
        t0 + Duration::minutes(1),
    )
    .await;
    let calls = run["api_calls"].as_object().unwrap();
    let expected =
        ["ssm:GetParametersByPath", "dynamodb:GetItem", "iam:GetUser", "iam:ListAttachedUserPolicies", "iam:ListEntitiesForPolicy"];
    for call in expected {
        assert_eq!(calls[call], 1, "{call}: {calls:?}");
    }
    assert!(calls.get("iam:GetAccountAuthorizationDetails").is_none() && calls.get("iam:GetPolicy").is_none(), "{calls:?}");
    let reads: u64 =
        calls.iter().filter(|(k, _)| !k.starts_with("sns:") && *k != "dynamodb:PutItem").map(|(_, v)| v.as_u64().unwrap()).sum();
    assert_eq!(reads, 6, "5 reads and the state's BatchGetItem: {calls:?}");
    for call in calls.keys() {
        assert!(iam_assurance_aws::permissions::is_granted(call), "{call} is not in permissions.rs");
    }
    assert_eq!(run["published"]["roster"], "written");
    let delivered = env.received().await;
    let got: BTreeSet<(String, String)> =
        per_finding(&delivered).iter().map(|m| (change(m).to_string(), attr(m, "rule_id").to_string())).collect();
    let want: BTreeSet<(String, String)> =
        [("resolved", "min-admins"), ("new", "user-attached-policies")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(got, want);
    let unapproved = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "unapproved-policy-in-use").unwrap();
    assert_eq!(unapproved["details"]["users"], json!(["bob"]), "{unapproved}");
    assert_eq!(unapproved["details"]["groups"], json!(["admins"]), "{unapproved}");
    agreeing_sweep(&env, &clients, t0 + Duration::minutes(2), &run).await;

    // 2. The customer policy that allows everything, attached to the group of two: four
    // administrators, one more than the maximum.
    iam.attach_group_policy().group_name("ops").policy_arn(&everything).send().await.unwrap();
    let run = invoke(
        &clients,
        &config,
        &iam_event("AttachGroupPolicy", 2, json!({"groupName": "ops", "policyArn": everything})),
        t0 + Duration::minutes(3),
    )
    .await;
    let calls = run["api_calls"].as_object().unwrap();
    for call in ["iam:GetPolicy", "iam:GetPolicyVersion", "dynamodb:GetItem", "iam:GetGroup", "iam:ListAttachedGroupPolicies"] {
        assert_eq!(calls[call], 1, "{call}: {calls:?}");
    }
    assert!(calls.get("iam:GetAccountAuthorizationDetails").is_none() && calls.get("iam:ListEntitiesForPolicy").is_none(), "{calls:?}");
    let delivered = env.received().await;
    let messages = per_finding(&delivered);
    assert_eq!(messages.len(), 1, "{:?}", messages.iter().map(|m| &m["Subject"]).collect::<Vec<_>>());
    assert_eq!((change(messages[0]), attr(messages[0], "rule_id")), ("new", "max-admins"));
    let message = body(messages[0])["finding"]["message"].as_str().unwrap().to_string();
    for who in ["user alice", "user bob", "user carol", "user deploy-bot"] {
        assert!(message.contains(who), "{who} missing: {message}");
    }
    agreeing_sweep(&env, &clients, t0 + Duration::minutes(4), &run).await;

    // 3. The same policy on the role: five.
    iam.attach_role_policy().role_name("deployer").policy_arn(&everything).send().await.unwrap();
    let run = invoke(
        &clients,
        &config,
        &iam_event("AttachRolePolicy", 3, json!({"roleName": "deployer", "policyArn": everything})),
        t0 + Duration::minutes(5),
    )
    .await;
    let calls = run["api_calls"].as_object().unwrap();
    for call in ["iam:GetRole", "iam:ListAttachedRolePolicies", "dynamodb:GetItem"] {
        assert_eq!(calls[call], 1, "{call}: {calls:?}");
    }
    assert!(calls.get("iam:GetAccountAuthorizationDetails").is_none(), "{calls:?}");
    let max = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "max-admins").unwrap();
    assert_eq!(max["details"]["count"], 5, "{max}");
    assert!(max["message"].as_str().unwrap().contains("role deployer"), "{}", max["message"]);
    env.received().await;
    agreeing_sweep(&env, &clients, t0 + Duration::minutes(6), &run).await;

    // 4. AWSDenyAll on bob (denies everything by its ARN: no document read), and the group's
    // policy detached: back to two administrators, alice and the role.
    let deny_all = "arn:aws:iam::aws:policy/AWSDenyAll";
    iam.attach_user_policy().user_name("bob").policy_arn(deny_all).send().await.unwrap();
    let run = invoke(
        &clients,
        &config,
        &iam_event("AttachUserPolicy", 4, json!({"userName": "bob", "policyArn": deny_all})),
        t0 + Duration::minutes(7),
    )
    .await;
    assert!(
        run["api_calls"].get("iam:GetPolicy").is_none() && run["api_calls"].get("iam:GetAccountAuthorizationDetails").is_none(),
        "{}",
        run["api_calls"]
    );
    let max = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "max-admins").unwrap();
    assert_eq!(max["details"]["count"], 4, "{max}");
    assert!(!max["message"].as_str().unwrap().contains("user bob"), "{}", max["message"]);
    iam.detach_group_policy().group_name("ops").policy_arn(&everything).send().await.unwrap();
    let run = invoke(
        &clients,
        &config,
        &iam_event("DetachGroupPolicy", 5, json!({"groupName": "ops", "policyArn": everything})),
        t0 + Duration::minutes(8),
    )
    .await;
    assert!(run["api_calls"].get("iam:GetAccountAuthorizationDetails").is_none(), "{}", run["api_calls"]);
    let delivered = env.received().await;
    let got: Vec<(&str, &str)> = per_finding(&delivered).iter().map(|m| (change(m), attr(m, "rule_id"))).collect();
    assert_eq!(got, vec![("resolved", "max-admins")], "two administrators: within the maximum, at the minimum");
    agreeing_sweep(&env, &clients, t0 + Duration::minutes(9), &run).await;
}

/// Group events (a member added or removed, a group created or deleted) are evaluated from the
/// group read now (GetGroup) and the roster the sweep kept, not the account's authorization
/// details, and the next sweep agrees with each exactly: administrators through an
/// administrator group, and `empty-group` with its message.
#[tokio::test(flavor = "multi_thread")]
async fn group_changes_go_through_the_roster_and_the_next_sweep_agrees() {
    let env = Env::start().await;
    seed(&env).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    // The empty group keeps an inline policy: its finding says so.
    let read_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    iam.put_group_policy().group_name("old-contractors").policy_name("reports").policy_document(read_only).send().await.unwrap();
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    env.received().await;

    // Each step: the change in IAM, its event, the IAM calls it must make (besides the SSM
    // settings, the roster's GetItem and the state's BatchGetItem) and what it publishes.
    type Step<'a> = (&'a str, Value, &'a [&'a str], &'a [(&'a str, &'a str)]);
    let steps: Vec<Step> = vec![
        // A second administrator, through the administrator group: at the minimum again.
        (
            "AddUserToGroup",
            json!({"groupName": "admins", "userName": "carol"}),
            &["iam:GetGroup", "iam:ListAttachedGroupPolicies"],
            &[("resolved", "min-admins")],
        ),
        // The empty group gets a member.
        (
            "AddUserToGroup",
            json!({"groupName": "old-contractors", "userName": "bob"}),
            &["iam:GetGroup", "iam:ListAttachedGroupPolicies"],
            &[("resolved", "empty-group")],
        ),
        (
            "RemoveUserFromGroup",
            json!({"groupName": "admins", "userName": "carol"}),
            &["iam:GetGroup", "iam:ListAttachedGroupPolicies"],
            &[("new", "min-admins")],
        ),
        // Empty again: its inline policy names are read for the message.
        (
            "RemoveUserFromGroup",
            json!({"groupName": "old-contractors", "userName": "bob"}),
            &["iam:GetGroup", "iam:ListAttachedGroupPolicies", "iam:ListGroupPolicies"],
            &[("new", "empty-group")],
        ),
        (
            "CreateGroup",
            json!({"groupName": "new-team"}),
            &["iam:GetGroup", "iam:ListAttachedGroupPolicies", "iam:ListGroupPolicies"],
            &[("new", "empty-group")],
        ),
        // Deleted: GetGroup finds no such group, and its finding resolves.
        ("DeleteGroup", json!({"groupName": "new-team"}), &["iam:GetGroup"], &[("resolved", "empty-group")]),
    ];
    for (i, (name, params, reads, published)) in steps.into_iter().enumerate() {
        let group = params["groupName"].as_str().unwrap().to_string();
        let user = params["userName"].as_str().unwrap_or_default().to_string();
        match name {
            "AddUserToGroup" => drop(iam.add_user_to_group().group_name(&group).user_name(&user).send().await.unwrap()),
            "RemoveUserFromGroup" => drop(iam.remove_user_from_group().group_name(&group).user_name(&user).send().await.unwrap()),
            "CreateGroup" => drop(iam.create_group().group_name(&group).send().await.unwrap()),
            _ => drop(iam.delete_group().group_name(&group).send().await.unwrap()),
        }
        let at = t0 + Duration::minutes(2 * i as i64 + 1);
        let run = invoke(&clients, &config, &iam_event(name, 100 + i as u32, params.clone()), at).await;
        assert_roster_reads(&run, reads, &format!("{name} {params}"));
        assert!(run["trigger"]["narrowed"].as_str().unwrap().contains(&format!("group {group}")), "{}", run["trigger"]);
        let delivered = env.received().await;
        let got: Vec<(&str, &str)> = per_finding(&delivered).iter().map(|m| (change(m), attr(m, "rule_id"))).collect();
        assert_eq!(got, published.to_vec(), "{name} {params}");
        if (name, group.as_str()) == ("RemoveUserFromGroup", "old-contractors") {
            let f = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "empty-group").unwrap();
            assert_eq!(f["message"], "Group old-contractors has no members but still has 1 policy.", "{f}");
            assert_eq!(f["details"]["inline_policies"], json!(["reports"]), "{f}");
        }
        agreeing_sweep(&env, &clients, at + Duration::minutes(1), &run).await;
    }
}

/// Role events (a role created, its trust policy updated, the role deleted) are evaluated from
/// the role read now (GetRole, its attached policies, its inline policy names) and the roster
/// the sweep kept, not the account's authorization details, and the next sweep agrees with each
/// exactly.
#[tokio::test(flavor = "multi_thread")]
async fn role_changes_go_through_the_roster_and_the_next_sweep_agrees() {
    let env = Env::start().await;
    seed(&env).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    // AdministratorAccess is on the unapproved list: a role event still goes through the roster
    // when the role holds it (no role event changes what a policy is attached to).
    env.put_parameter("/iam-assurance/rules/unapproved-policy-in-use", json!({"unapproved": ["AdministratorAccess"]})).await;
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    env.received().await;
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]});
    let read_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let role_reads = ["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"];

    // Each step: the changes in IAM, then the event, the IAM calls it must make (besides the
    // SSM settings, the roster's GetItem and the state's BatchGetItem) and what it publishes.
    // 1. A role created (with an inline policy by the time the event is handled).
    iam.create_role().role_name("builder").assume_role_policy_document(trust.to_string()).send().await.unwrap();
    iam.put_role_policy().role_name("builder").policy_name("artifacts").policy_document(read_only).send().await.unwrap();
    // 2. Its trust policy updated, after AdministratorAccess was attached: a second administrator.
    // 3. Deleted (its policies first): back to one.
    type Step<'a> = (&'a str, &'a [&'a str], &'a [(&'a str, &'a str)], Option<&'a str>);
    let steps: Vec<Step> = vec![
        ("CreateRole", &role_reads, &[("new", "role-inline-policies")], None),
        ("UpdateAssumeRolePolicy", &role_reads, &[("resolved", "min-admins")], Some("written")),
        ("DeleteRole", &["iam:GetRole"], &[("new", "min-admins"), ("resolved", "role-inline-policies")], Some("written")),
    ];
    for (i, (name, reads, published, roster)) in steps.into_iter().enumerate() {
        match name {
            "UpdateAssumeRolePolicy" => {
                iam.attach_role_policy().role_name("builder").policy_arn(ADMIN).send().await.unwrap();
                iam.update_assume_role_policy().role_name("builder").policy_document(trust.to_string()).send().await.unwrap();
            }
            "DeleteRole" => {
                iam.detach_role_policy().role_name("builder").policy_arn(ADMIN).send().await.unwrap();
                iam.delete_role_policy().role_name("builder").policy_name("artifacts").send().await.unwrap();
                iam.delete_role().role_name("builder").send().await.unwrap();
            }
            _ => {}
        }
        let at = t0 + Duration::minutes(2 * i as i64 + 1);
        let run = invoke(&clients, &config, &iam_event(name, 200 + i as u32, json!({"roleName": "builder"})), at).await;
        assert_roster_reads(&run, reads, name);
        assert!(run["trigger"]["narrowed"].as_str().unwrap().contains("role builder"), "{}", run["trigger"]);
        assert_eq!(run["published"].get("roster").and_then(Value::as_str), roster, "{name}: {}", run["published"]);
        let delivered = env.received().await;
        let got: BTreeSet<(&str, &str)> = per_finding(&delivered).iter().map(|m| (change(m), attr(m, "rule_id"))).collect();
        assert_eq!(got, published.iter().copied().collect(), "{name}");
        agreeing_sweep(&env, &clients, at + Duration::minutes(1), &run).await;
    }
}

/// Without a roster (none kept yet, or one this version cannot use), an event that can change
/// who is an administrator reads the whole account and writes the roster from it; a roster
/// another run changed since this run read it is dropped rather than overwritten.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_usable_roster_events_read_the_whole_account_and_write_one() {
    let env = Env::start().await;
    seed(&env).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    let store = StateStore::new(&clients, TABLE);
    let t0 = Utc::now();
    iam.attach_user_policy().user_name("bob").policy_arn(ADMIN).send().await.unwrap();
    let attach = iam_event("AttachUserPolicy", 1, json!({"userName": "bob", "policyArn": ADMIN}));
    let run = invoke(&clients, &config, &attach, t0).await;
    assert!(run["api_calls"]["iam:GetAccountAuthorizationDetails"].as_u64() >= Some(1), "{}", run["api_calls"]);
    assert!(run["trigger"]["narrowed"].is_null(), "{}", run["trigger"]);
    assert_eq!(run["published"]["roster"], "written");
    let written = store.roster().await.unwrap().unwrap();
    assert_eq!(written.version, 1);
    // Loading the findings leaves the roster item out (not even as an unreadable item).
    let items = env.state_items().await;
    assert!(!items.is_empty() && items.keys().all(|k| !k.starts_with("roster#")), "{:?}", items.keys());
    // The next such event uses it.
    let run = invoke(&clients, &config, &attach, t0 + Duration::minutes(1)).await;
    assert!(run["api_calls"].get("iam:GetAccountAuthorizationDetails").is_none(), "{}", run["api_calls"]);
    assert!(run["published"].get("roster").is_none(), "nothing changed, nothing written: {}", run["published"]);

    // A stored roster that does not parse is not used, and is replaced.
    let item = std::collections::HashMap::from([
        ("fingerprint".to_string(), aws_sdk_dynamodb::types::AttributeValue::S(iam_assurance_aws::state::ROSTER_KEY.into())),
        ("version".to_string(), aws_sdk_dynamodb::types::AttributeValue::N("7".into())),
        ("roster".to_string(), aws_sdk_dynamodb::types::AttributeValue::S("{not json".into())),
    ]);
    aws_sdk_dynamodb::Client::new(&env.config).put_item().table_name(TABLE).set_item(Some(item)).send().await.unwrap();
    let run = invoke(&clients, &config, &attach, t0 + Duration::minutes(2)).await;
    assert!(run["api_calls"]["iam:GetAccountAuthorizationDetails"].as_u64() >= Some(1), "{}", run["api_calls"]);
    assert_eq!(run["published"]["roster"], "written");
    let replaced = store.roster().await.unwrap().unwrap();
    assert_eq!((replaced.version, replaced.json.as_str()), (8, written.json.as_str()));

    // Another run wrote the roster after this one read it: dropped, not overwritten.
    let roster: iam_assurance_rules::roster::Roster = serde_json::from_str(&replaced.json).unwrap();
    let another_run = StateStore::new(&clients, TABLE);
    assert!(matches!(another_run.put_roster(&replaced.json, Some(8), "another run", t0).await, WriteOutcome::Written));
    assert_eq!(store.roster().await.unwrap().unwrap().version, 9);
    let kept = iam_assurance::run::roster_store::store(&store, &roster, Some(8), "test", t0).await.unwrap();
    assert_eq!(kept, iam_assurance::output::RosterOutcome::Dropped);
    assert!(store.roster().await.unwrap().is_none());
}

/// Inline policy events (put and deleted, on a user, a role and a group) and boundary events
/// (on a role: moto cannot set a user's boundary) are evaluated from the one policy and its
/// owner read now and the roster the sweep kept, not the account's authorization details, and
/// the next sweep agrees with each exactly.
#[tokio::test(flavor = "multi_thread")]
async fn inline_policy_and_boundary_changes_go_through_the_roster_and_the_next_sweep_agrees() {
    let env = Env::start().await;
    seed(&env).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]});
    iam.create_role().role_name("builder").assume_role_policy_document(trust.to_string()).send().await.unwrap();
    // A policy no one uses as a boundary yet: the roster has never classified it.
    let read_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let reader = iam.create_policy().policy_name("reader").policy_document(read_only).send().await.unwrap();
    let reader = reader.policy().unwrap().arn().unwrap().to_string();
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    env.received().await;
    let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let deny_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}"#;
    let user_reads: &[&str] = &["iam:GetUserPolicy", "iam:GetUser", "iam:ListUserPolicies"];
    let role_reads: &[&str] = &["iam:GetRolePolicy", "iam:GetRole", "iam:ListRolePolicies"];
    let group_reads: &[&str] = &["iam:GetGroupPolicy", "iam:GetGroup"];

    // Each step: the event (its change is made in IAM first), the IAM calls it must make
    // (besides the SSM settings, the roster's GetItem and the state's BatchGetItem), what it
    // publishes, and what the next sweep does with the roster.
    type Step<'a> = (&'a str, Value, &'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let steps: Vec<Step> = vec![
        // bob gets an inline policy that allows everything: a second administrator.
        (
            "PutUserPolicy",
            json!({"userName": "bob", "policyName": "everything", "policyDocument": allow_all}),
            user_reads,
            &[("resolved", "min-admins"), ("new", "admin-policy"), ("new", "user-inline-policies")],
            "unchanged",
        ),
        // The role too: a third.
        (
            "PutRolePolicy",
            json!({"roleName": "builder", "policyName": "everything", "policyDocument": allow_all}),
            role_reads,
            &[("new", "admin-policy"), ("new", "role-inline-policies")],
            "unchanged",
        ),
        // The role capped by a boundary the roster never saw: its document is read. Two.
        (
            "PutRolePermissionsBoundary",
            json!({"roleName": "builder", "permissionsBoundary": reader}),
            &["iam:GetRole", "iam:GetPolicy", "iam:GetPolicyVersion"],
            &[],
            "unchanged",
        ),
        // The administrators group denied everything inline: alice is no longer one. One.
        (
            "PutGroupPolicy",
            json!({"groupName": "admins", "policyName": "quarantine", "policyDocument": deny_all}),
            group_reads,
            &[("new", "min-admins")],
            "unchanged",
        ),
        // The boundary removed: the role is an administrator again. Two. No one uses the
        // boundary any more, and the roster the event updated still knows it: the sweep,
        // which builds the roster from the boundaries in use, rewrites it.
        ("DeleteRolePermissionsBoundary", json!({"roleName": "builder"}), &["iam:GetRole"], &[("resolved", "min-admins")], "written"),
        // bob's inline policy deleted: one administrator again, and its findings resolve.
        (
            "DeleteUserPolicy",
            json!({"userName": "bob", "policyName": "everything"}),
            user_reads,
            &[("new", "min-admins"), ("resolved", "admin-policy"), ("resolved", "user-inline-policies")],
            "unchanged",
        ),
        // The group's deny deleted: alice is back. Two.
        (
            "DeleteGroupPolicy",
            json!({"groupName": "admins", "policyName": "quarantine"}),
            group_reads,
            &[("resolved", "min-admins")],
            "unchanged",
        ),
    ];
    for (i, (name, params, reads, published, roster)) in steps.into_iter().enumerate() {
        let text = |key: &str| params[key].as_str().unwrap_or_default().to_string();
        let (user, role, group, policy, document) =
            (text("userName"), text("roleName"), text("groupName"), text("policyName"), text("policyDocument"));
        match name {
            "PutUserPolicy" => {
                drop(iam.put_user_policy().user_name(&user).policy_name(&policy).policy_document(&document).send().await.unwrap())
            }
            "PutRolePolicy" => {
                drop(iam.put_role_policy().role_name(&role).policy_name(&policy).policy_document(&document).send().await.unwrap())
            }
            "PutGroupPolicy" => {
                drop(iam.put_group_policy().group_name(&group).policy_name(&policy).policy_document(&document).send().await.unwrap())
            }
            "DeleteUserPolicy" => drop(iam.delete_user_policy().user_name(&user).policy_name(&policy).send().await.unwrap()),
            "DeleteGroupPolicy" => drop(iam.delete_group_policy().group_name(&group).policy_name(&policy).send().await.unwrap()),
            "PutRolePermissionsBoundary" => {
                drop(iam.put_role_permissions_boundary().role_name(&role).permissions_boundary(&reader).send().await.unwrap())
            }
            _ => drop(iam.delete_role_permissions_boundary().role_name(&role).send().await.unwrap()),
        }
        let at = t0 + Duration::minutes(2 * i as i64 + 1);
        let run = invoke(&clients, &config, &iam_event(name, 300 + i as u32, params.clone()), at).await;
        assert_roster_reads(&run, reads, name);
        let owner = [("user", &user), ("role", &role), ("group", &group)].into_iter().find(|(_, n)| !n.is_empty()).unwrap();
        let narrowed = run["trigger"]["narrowed"].as_str().unwrap();
        assert!(narrowed.contains(&format!("{} {}", owner.0, owner.1)), "{narrowed}");
        let delivered = env.received().await;
        let got: BTreeSet<(&str, &str)> = per_finding(&delivered).iter().map(|m| (change(m), attr(m, "rule_id"))).collect();
        assert_eq!(got, published.iter().copied().collect(), "{name}");
        if name == "PutGroupPolicy" {
            let min = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "min-admins").unwrap();
            assert_eq!(min["details"]["count"], 1, "{min}");
            assert!(min["message"].as_str().unwrap().contains("user bob") && !min["message"].as_str().unwrap().contains("alice"), "{min}");
        }
        agreeing_sweep_with_roster(&env, &clients, at + Duration::minutes(1), &run, roster).await;
    }
}

/// Managed policy events (created, a new default version, deleted) are evaluated from the
/// policy read now and the roster the sweep kept, and the next sweep agrees with each exactly;
/// a new version that makes an attached policy grant everything reads the whole account (who
/// holds it is not in the roster).
#[tokio::test(flavor = "multi_thread")]
async fn policy_changes_go_through_the_roster_and_the_next_sweep_agrees() {
    let env = Env::start().await;
    seed(&env).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    let read_only = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    let read_more = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":"*"}]}"#;
    let allow_all = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
    let reader = iam.create_policy().policy_name("reader").policy_document(read_only).send().await.unwrap();
    let reader = reader.policy().unwrap().arn().unwrap().to_string();
    // Held by a user, a role and a group (with carol in it), none of which the roster holds:
    // the policy grants nothing that matters yet.
    iam.attach_user_policy().user_name("bob").policy_arn(&reader).send().await.unwrap();
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    iam.create_role().role_name("reporting").assume_role_policy_document(trust).send().await.unwrap();
    iam.attach_role_policy().role_name("reporting").policy_arn(&reader).send().await.unwrap();
    iam.create_group().group_name("readers").send().await.unwrap();
    iam.add_user_to_group().group_name("readers").user_name("carol").send().await.unwrap();
    iam.attach_group_policy().group_name("readers").policy_arn(&reader).send().await.unwrap();
    // A policy in use as the role's permissions boundary: the roster knows it caps.
    let limits = iam.create_policy().policy_name("limits").policy_document(read_only).send().await.unwrap();
    let limits = limits.policy().unwrap().arn().unwrap().to_string();
    iam.put_role_permissions_boundary().role_name("reporting").permissions_boundary(&limits).send().await.unwrap();
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    env.received().await;
    let everything = format!("arn:aws:iam::{ACCOUNT}:policy/ops/everything");
    let policy_reads: &[&str] = &["iam:GetPolicy", "iam:GetPolicyVersion"];

    // Each step: the change in IAM, its event, the IAM calls it must make besides the SSM
    // settings, the roster's GetItem and the state's BatchGetItem (`None`: the whole account),
    // what it publishes and what it does with the roster.
    type Step<'a> = (&'a str, Value, Option<&'a [&'a str]>, &'a [(&'a str, &'a str)], Option<&'a str>);
    let steps: Vec<Step> = vec![
        // A policy that allows everything, created on a path: its ARN follows from the event.
        (
            "CreatePolicy",
            json!({"policyName": "everything", "path": "/ops/", "policyDocument": allow_all}),
            Some(policy_reads),
            &[("new", "admin-policy")],
            Some("written"),
        ),
        // Deleted (attached to nothing): its finding resolves.
        ("DeletePolicy", json!({"policyArn": everything}), Some(&["iam:GetPolicy"]), &[("resolved", "admin-policy")], Some("written")),
        // A new default version of bob's policy that still grants little: nothing changes.
        (
            "CreatePolicyVersion",
            json!({"policyArn": reader, "policyDocument": read_more, "setAsDefault": true}),
            Some(policy_reads),
            &[],
            None,
        ),
        // One that allows everything: bob and carol (through the group) become administrators,
        // the role does not (its boundary caps it). Who holds the policy is read (ListEntitiesForPolicy), and each holder
        // the roster did not hold (GetUser, GetRole, GetGroup with its members).
        (
            "CreatePolicyVersion",
            json!({"policyArn": reader, "policyDocument": allow_all, "setAsDefault": true}),
            Some(&["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListEntitiesForPolicy", "iam:GetUser", "iam:GetRole", "iam:GetGroup"]),
            &[("new", "admin-policy"), ("resolved", "min-admins")],
            Some("written"),
        ),
        // And back: the roster now holds all three, so nothing more is read; they are
        // administrators no more.
        (
            "SetDefaultPolicyVersion",
            json!({"policyArn": reader, "versionId": "v2"}),
            Some(&["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListEntitiesForPolicy"]),
            &[("resolved", "admin-policy"), ("new", "min-admins")],
            Some("written"),
        ),
        // The boundary's policy made to allow everything: it no longer caps the role, and the
        // roster cannot list whom it caps, so the event reads the whole account.
        (
            "CreatePolicyVersion",
            json!({"policyArn": limits, "policyDocument": allow_all, "setAsDefault": true}),
            None,
            &[("new", "admin-policy")],
            Some("written"),
        ),
    ];
    for (i, (name, params, reads, published, roster)) in steps.into_iter().enumerate() {
        match name {
            "CreatePolicy" => {
                let out = iam
                    .create_policy()
                    .policy_name("everything")
                    .path("/ops/")
                    .policy_document(params["policyDocument"].as_str().unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(out.policy().unwrap().arn().unwrap(), everything);
            }
            "DeletePolicy" => drop(iam.delete_policy().policy_arn(&everything).send().await.unwrap()),
            "SetDefaultPolicyVersion" => drop(
                iam.set_default_policy_version()
                    .policy_arn(&reader)
                    .version_id(params["versionId"].as_str().unwrap())
                    .send()
                    .await
                    .unwrap(),
            ),
            _ => drop(
                iam.create_policy_version()
                    .policy_arn(params["policyArn"].as_str().unwrap())
                    .policy_document(params["policyDocument"].as_str().unwrap())
                    .set_as_default(true)
                    .send()
                    .await
                    .unwrap(),
            ),
        }
        let at = t0 + Duration::minutes(2 * i as i64 + 1);
        let mut event = iam_event(name, 400 + i as u32, params.clone());
        event["detail"]["recipientAccountId"] = json!(ACCOUNT);
        let run = invoke(&clients, &config, &event, at).await;
        match reads {
            Some(reads) => {
                assert_roster_reads(&run, reads, name);
                assert!(run["trigger"]["narrowed"].as_str().unwrap().contains("policy arn:aws:iam::"), "{}", run["trigger"]);
            }
            None => {
                assert!(run["api_calls"]["iam:GetAccountAuthorizationDetails"].as_u64() >= Some(1), "{name}: {}", run["api_calls"]);
                assert!(run["trigger"]["narrowed"].is_null(), "{}", run["trigger"]);
            }
        }
        assert_eq!(run["published"].get("roster").and_then(Value::as_str), roster, "{name}: {}", run["published"]);
        let delivered = env.received().await;
        let got: BTreeSet<(&str, &str)> = per_finding(&delivered).iter().map(|m| (change(m), attr(m, "rule_id"))).collect();
        assert_eq!(got, published.iter().copied().collect(), "{name} {params}");
        agreeing_sweep(&env, &clients, at + Duration::minutes(1), &run).await;
    }
}

/// A user or group renamed (UpdateUser, UpdateGroup) moves its roster entry: the event reads the
/// user or group under its new name, the administrator counts name it, and the roster the event
/// left is the one the next sweep builds from the account.
#[tokio::test(flavor = "multi_thread")]
async fn renames_move_the_roster_entries() {
    let env = Env::start().await;
    seed(&env).await;
    env.put_parameter("/iam-assurance/rules/max-admins", json!({"max": 1})).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    iam.attach_user_policy().user_name("bob").policy_arn(ADMIN).send().await.unwrap();
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    env.received().await;
    let max_message = |run: &Value| -> String {
        let max = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "max-admins").expect("max-admins");
        max["message"].as_str().unwrap().to_string()
    };
    assert!(max_message(&first).contains("user bob"), "{}", max_message(&first));

    iam.update_user().user_name("bob").new_user_name("robert").send().await.unwrap();
    let run = invoke(&clients, &config, &iam_event("UpdateUser", 500, json!({"userName": "bob", "newUserName": "robert"})), t0).await;
    assert_roster_reads(&run, &["iam:GetUser"], "UpdateUser");
    assert_eq!(run["published"]["roster"], "written", "{}", run["published"]);
    let message = max_message(&run);
    assert!(message.contains("user robert") && !message.contains("user bob"), "{message}");
    // robert is not on the approved list (alice, bob, deploy-*).
    let delivered = env.received().await;
    let got: Vec<(&str, &str)> = per_finding(&delivered).iter().map(|m| (change(m), attr(m, "rule_id"))).collect();
    assert_eq!(got, vec![("new", "approved-users")]);
    let after = sweep(&env, &clients, t0 + Duration::minutes(1)).await;
    assert_eq!(after["published"]["roster"], "unchanged", "{}", after["published"]);
    assert_eq!(max_message(&after), message);
    env.received().await;

    iam.update_group().group_name("admins").new_group_name("administrators").send().await.unwrap();
    let params = json!({"groupName": "admins", "newGroupName": "administrators"});
    let run = invoke(&clients, &config, &iam_event("UpdateGroup", 501, params), t0 + Duration::minutes(2)).await;
    assert_roster_reads(&run, &["iam:GetGroup", "iam:ListAttachedGroupPolicies"], "UpdateGroup");
    assert_eq!(run["published"]["roster"], "written", "{}", run["published"]);
    assert!(max_message(&run).contains("group administrators"), "{}", max_message(&run));
    let after = sweep(&env, &clients, t0 + Duration::minutes(3)).await;
    assert_eq!(after["published"]["roster"], "unchanged", "{}", after["published"]);
    assert_eq!(max_message(&after), max_message(&run));
}

/// One step of [`every_handled_event_evaluates_the_rules_its_change_moves`]: the IAM change made
/// in the emulator, then its CloudTrail event.
struct Step {
    event: &'static str,
    params: Value,
    /// What the run must prove unchanged (and so not evaluate), as `trigger.unmoved` names it.
    unmoved: &'static [&'static str],
}

fn step(event: &'static str, params: Value, unmoved: &'static [&'static str]) -> Step {
    Step { event, params, unmoved }
}

const NONE: &[&str] = &[];
const READ_ONLY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const CLOUDSHELL: &str = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess";
const SUPPORT: &str = "arn:aws:iam::aws:policy/AWSSupportAccess";

/// Sends each step's event after its change and checks what the run evaluated and read.
struct Runner<'e> {
    clients: Clients,
    config: Config,
    iam: aws_sdk_iam::Client,
    env: &'e Env,
    t0: DateTime<Utc>,
    sent: Vec<&'static str>,
    trust: String,
    allow_all: String,
    read_s3: String,
}

impl Runner<'_> {
    /// The change has been made: send its event and check the run.
    async fn send(&mut self, s: Step) {
        use iam_assurance::change::{reads, spec};
        use iam_assurance_rules::change::Unmoved;
        self.sent.push(s.event);
        let n = self.sent.len();
        let at = self.t0 + Duration::minutes(n as i64);
        let run = Box::pin(invoke(&self.clients, &self.config, &iam_event(s.event, 700 + n as u32, s.params.clone()), at)).await;
        let spec = spec(s.event).unwrap_or_else(|| panic!("{} is not a handled event", s.event));
        let unmoved: Vec<&str> =
            run["trigger"]["unmoved"].as_array().map(|u| u.iter().map(|v| v.as_str().unwrap()).collect()).unwrap_or_default();
        assert_eq!(unmoved, s.unmoved, "{}: unmoved {}", s.event, run["trigger"]);
        let proved = |u: &Unmoved| unmoved.contains(&serde_json::to_value(u).unwrap().as_str().unwrap());
        // An attach or detach moves the rules about one AWS managed policy only when it is theirs.
        let attached = s.params["policyArn"].as_str().filter(|_| spec.also == iam_assurance::change::Also::AttachedPolicy);
        let expected: Vec<&str> = catalog::moved_by(spec.kind)
            .filter(|rule| {
                attached.is_none_or(|arn| rule.meta().moved_by_policy.is_none_or(|p| arn.ends_with(&format!(":iam::aws:policy/{p}"))))
            })
            .filter(|rule| !Unmoved::ALL.iter().any(|u| proved(u) && rule.meta().unmoved_by(*u)))
            .map(|rule| rule.meta().id)
            .collect();
        let evaluated: Vec<&str> = run["rules"].as_array().unwrap().iter().map(|r| r["rule_id"].as_str().unwrap()).collect();
        assert_eq!(evaluated, expected, "{}: the rules its change moves, less the unmoved ones", s.event);
        let reads = reads(spec.kind).operations;
        for call in run["api_calls"].as_object().unwrap().keys().filter(|c| c.starts_with("iam:")) {
            assert!(reads.contains(&call.as_str()), "{}: called {call}, which its kind does not read ({reads:?})", s.event);
        }
        self.env.received().await;
    }

    /// A user's life: created, renamed, its credentials, deleted.
    async fn users(&mut self) {
        let iam = self.iam.clone();
        Box::pin(iam.create_user().user_name("newcomer").send()).await.unwrap();
        self.send(step("CreateUser", json!({"userName": "newcomer"}), NONE)).await;
        Box::pin(iam.update_user().user_name("newcomer").new_user_name("renamed").send()).await.unwrap();
        self.send(step("UpdateUser", json!({"userName": "newcomer", "newUserName": "renamed"}), NONE)).await;
        // An UpdateUser that renames nothing cannot change who is an administrator.
        self.send(step("UpdateUser", json!({"userName": "renamed"}), &["administrators"])).await;
        let key = Box::pin(iam.create_access_key().user_name("renamed").send()).await.unwrap().access_key.unwrap().access_key_id;
        self.send(step("CreateAccessKey", json!({"userName": "renamed"}), NONE)).await;
        Box::pin(iam.update_access_key().user_name("renamed").access_key_id(&key).status(aws_sdk_iam::types::StatusType::Inactive).send())
            .await
            .unwrap();
        self.send(step("UpdateAccessKey", json!({"userName": "renamed", "accessKeyId": key, "status": "Inactive"}), NONE)).await;
        Box::pin(iam.delete_access_key().user_name("renamed").access_key_id(&key).send()).await.unwrap();
        self.send(step("DeleteAccessKey", json!({"userName": "renamed", "accessKeyId": key}), NONE)).await;
        Box::pin(iam.create_login_profile().user_name("renamed").password("Sample-Passw0rd!r").send()).await.unwrap();
        self.send(step("CreateLoginProfile", json!({"userName": "renamed"}), NONE)).await;
        Box::pin(iam.update_login_profile().user_name("renamed").password("Sample-Passw0rd!s").send()).await.unwrap();
        self.send(step("UpdateLoginProfile", json!({"userName": "renamed"}), NONE)).await;
        let mfa = Box::pin(iam.create_virtual_mfa_device().virtual_mfa_device_name("renamed").send()).await.unwrap();
        let serial = mfa.virtual_mfa_device.unwrap().serial_number;
        Box::pin(
            iam.enable_mfa_device()
                .user_name("renamed")
                .serial_number(&serial)
                .authentication_code1("123456")
                .authentication_code2("654321")
                .send(),
        )
        .await
        .unwrap();
        self.send(step("EnableMFADevice", json!({"userName": "renamed", "serialNumber": serial}), NONE)).await;
        Box::pin(iam.deactivate_mfa_device().user_name("renamed").serial_number(&serial).send()).await.unwrap();
        self.send(step("DeactivateMFADevice", json!({"userName": "renamed", "serialNumber": serial}), NONE)).await;
        Box::pin(iam.delete_login_profile().user_name("renamed").send()).await.unwrap();
        self.send(step("DeleteLoginProfile", json!({"userName": "renamed"}), NONE)).await;
        // Signing certificates (the emulator checks the certificate body): the events read the
        // user's certificates, whatever they are.
        for name in ["UploadSigningCertificate", "UpdateSigningCertificate", "DeleteSigningCertificate"] {
            self.send(step(name, json!({"userName": "renamed"}), NONE)).await;
        }
        Box::pin(iam.delete_user().user_name("leaver").send()).await.unwrap();
        self.send(step("DeleteUser", json!({"userName": "leaver"}), &["users"])).await;
    }

    /// Attachments: a policy that cannot make an administrator, one that does, an unapproved one.
    async fn attachments(&mut self) {
        let iam = self.iam.clone();
        let neutral: &'static [&'static str] = &["administrators", "unapproved_policy_use"];
        let approved: &'static [&'static str] = &["unapproved_policy_use"];
        for (policy, unmoved) in [(READ_ONLY, neutral), (ADMIN, approved), (RDS, NONE), (CLOUDSHELL, neutral), (SUPPORT, neutral)] {
            Box::pin(iam.attach_user_policy().user_name("carol").policy_arn(policy).send()).await.unwrap();
            self.send(step("AttachUserPolicy", json!({"userName": "carol", "policyArn": policy}), unmoved)).await;
            Box::pin(iam.detach_user_policy().user_name("carol").policy_arn(policy).send()).await.unwrap();
            self.send(step("DetachUserPolicy", json!({"userName": "carol", "policyArn": policy}), unmoved)).await;
            Box::pin(iam.attach_group_policy().group_name("ops").policy_arn(policy).send()).await.unwrap();
            self.send(step("AttachGroupPolicy", json!({"groupName": "ops", "policyArn": policy}), unmoved)).await;
            Box::pin(iam.detach_group_policy().group_name("ops").policy_arn(policy).send()).await.unwrap();
            self.send(step("DetachGroupPolicy", json!({"groupName": "ops", "policyArn": policy}), unmoved)).await;
            Box::pin(iam.attach_role_policy().role_name("builder").policy_arn(policy).send()).await.unwrap();
            self.send(step("AttachRolePolicy", json!({"roleName": "builder", "policyArn": policy}), unmoved)).await;
            Box::pin(iam.detach_role_policy().role_name("builder").policy_arn(policy).send()).await.unwrap();
            self.send(step("DetachRolePolicy", json!({"roleName": "builder", "policyArn": policy}), unmoved)).await;
        }
    }

    /// Inline policies and permissions boundaries.
    async fn inline_and_boundaries(&mut self, boundary: &str) {
        let iam = self.iam.clone();
        let all = self.allow_all.clone();
        let put = |owner: (&str, &str)| json!({owner.0: owner.1, "policyName": "all", "policyDocument": all});
        Box::pin(iam.put_user_policy().user_name("carol").policy_name("all").policy_document(&all).send()).await.unwrap();
        self.send(step("PutUserPolicy", put(("userName", "carol")), NONE)).await;
        Box::pin(iam.delete_user_policy().user_name("carol").policy_name("all").send()).await.unwrap();
        self.send(step("DeleteUserPolicy", json!({"userName": "carol", "policyName": "all"}), NONE)).await;
        Box::pin(iam.put_group_policy().group_name("ops").policy_name("all").policy_document(&all).send()).await.unwrap();
        self.send(step("PutGroupPolicy", put(("groupName", "ops")), NONE)).await;
        Box::pin(iam.delete_group_policy().group_name("ops").policy_name("all").send()).await.unwrap();
        self.send(step("DeleteGroupPolicy", json!({"groupName": "ops", "policyName": "all"}), NONE)).await;
        Box::pin(iam.put_role_policy().role_name("builder").policy_name("all").policy_document(&all).send()).await.unwrap();
        self.send(step("PutRolePolicy", put(("roleName", "builder")), NONE)).await;
        Box::pin(iam.delete_role_policy().role_name("builder").policy_name("all").send()).await.unwrap();
        self.send(step("DeleteRolePolicy", json!({"roleName": "builder", "policyName": "all"}), NONE)).await;
        // The emulator does not implement user boundaries (HTTP 500): the events are sent on the
        // unchanged user, whose read is the same.
        self.send(step("PutUserPermissionsBoundary", json!({"userName": "carol", "permissionsBoundary": boundary}), NONE)).await;
        self.send(step("DeleteUserPermissionsBoundary", json!({"userName": "carol"}), NONE)).await;
        Box::pin(iam.put_role_permissions_boundary().role_name("builder").permissions_boundary(boundary).send()).await.unwrap();
        self.send(step("PutRolePermissionsBoundary", json!({"roleName": "builder", "permissionsBoundary": boundary}), NONE)).await;
        Box::pin(iam.delete_role_permissions_boundary().role_name("builder").send()).await.unwrap();
        self.send(step("DeleteRolePermissionsBoundary", json!({"roleName": "builder"}), NONE)).await;
    }

    /// Groups, membership and roles.
    async fn groups_and_roles(&mut self) {
        let iam = self.iam.clone();
        Box::pin(iam.add_user_to_group().group_name("ops").user_name("carol").send()).await.unwrap();
        self.send(step("AddUserToGroup", json!({"groupName": "ops", "userName": "carol"}), NONE)).await;
        Box::pin(iam.remove_user_from_group().group_name("ops").user_name("carol").send()).await.unwrap();
        self.send(step("RemoveUserFromGroup", json!({"groupName": "ops", "userName": "carol"}), NONE)).await;
        Box::pin(iam.create_group().group_name("interim").send()).await.unwrap();
        self.send(step("CreateGroup", json!({"groupName": "interim"}), NONE)).await;
        Box::pin(iam.update_group().group_name("interim").new_group_name("temporary").send()).await.unwrap();
        self.send(step("UpdateGroup", json!({"groupName": "interim", "newGroupName": "temporary"}), NONE)).await;
        Box::pin(iam.delete_group().group_name("temporary").send()).await.unwrap();
        self.send(step("DeleteGroup", json!({"groupName": "temporary"}), NONE)).await;
        let trust = self.trust.clone();
        Box::pin(iam.create_role().role_name("short-lived").assume_role_policy_document(&trust).send()).await.unwrap();
        self.send(step("CreateRole", json!({"roleName": "short-lived", "assumeRolePolicyDocument": trust}), NONE)).await;
        Box::pin(iam.update_assume_role_policy().role_name("short-lived").policy_document(&trust).send()).await.unwrap();
        self.send(step("UpdateAssumeRolePolicy", json!({"roleName": "short-lived", "policyDocument": trust}), NONE)).await;
        Box::pin(iam.delete_role().role_name("short-lived").send()).await.unwrap();
        self.send(step("DeleteRole", json!({"roleName": "short-lived"}), NONE)).await;
        let tag = aws_sdk_iam::types::Tag::builder().key("owner").value("platform").build().unwrap();
        Box::pin(iam.tag_user().user_name("carol").tags(tag.clone()).send()).await.unwrap();
        self.send(step("TagUser", json!({"userName": "carol", "tags": [{"key": "owner", "value": "platform"}]}), NONE)).await;
        Box::pin(iam.untag_user().user_name("carol").tag_keys("owner").send()).await.unwrap();
        self.send(step("UntagUser", json!({"userName": "carol", "tagKeys": ["owner"]}), NONE)).await;
        Box::pin(iam.tag_role().role_name("builder").tags(tag).send()).await.unwrap();
        self.send(step("TagRole", json!({"roleName": "builder", "tags": [{"key": "owner", "value": "platform"}]}), NONE)).await;
        Box::pin(iam.untag_role().role_name("builder").tag_keys("owner").send()).await.unwrap();
        self.send(step("UntagRole", json!({"roleName": "builder", "tagKeys": ["owner"]}), NONE)).await;
    }

    /// Managed policies: created, widened to everything while attached and back, deleted; then
    /// the account settings.
    async fn policies_and_account(&mut self) {
        let iam = self.iam.clone();
        let (all, read_s3) = (self.allow_all.clone(), self.read_s3.clone());
        let arn = format!("arn:aws:iam::{ACCOUNT}:policy/widening");
        Box::pin(iam.create_policy().policy_name("widening").policy_document(&read_s3).send()).await.unwrap();
        self.send(step("CreatePolicy", json!({"policyName": "widening", "policyDocument": read_s3}), NONE)).await;
        Box::pin(iam.attach_user_policy().user_name("carol").policy_arn(&arn).send()).await.unwrap();
        Box::pin(iam.create_policy_version().policy_arn(&arn).policy_document(&all).set_as_default(true).send()).await.unwrap();
        self.send(step("CreatePolicyVersion", json!({"policyArn": arn, "setAsDefault": true}), NONE)).await;
        Box::pin(iam.set_default_policy_version().policy_arn(&arn).version_id("v1").send()).await.unwrap();
        self.send(step("SetDefaultPolicyVersion", json!({"policyArn": arn, "versionId": "v1"}), NONE)).await;
        Box::pin(iam.delete_policy_version().policy_arn(&arn).version_id("v2").send()).await.unwrap();
        self.send(step("DeletePolicyVersion", json!({"policyArn": arn, "versionId": "v2"}), NONE)).await;
        Box::pin(iam.detach_user_policy().user_name("carol").policy_arn(&arn).send()).await.unwrap();
        Box::pin(iam.delete_policy().policy_arn(&arn).send()).await.unwrap();
        self.send(step("DeletePolicy", json!({"policyArn": arn}), NONE)).await;
        Box::pin(iam.update_account_password_policy().minimum_password_length(16).send()).await.unwrap();
        self.send(step("UpdateAccountPasswordPolicy", json!({"minimumPasswordLength": 16}), NONE)).await;
        Box::pin(iam.delete_account_password_policy().send()).await.unwrap();
        self.send(step("DeleteAccountPasswordPolicy", json!({}), NONE)).await;
        // Server certificates (the emulator checks the certificate body): the events read the
        // account's certificates, whatever they are.
        for name in ["UploadServerCertificate", "UpdateServerCertificate", "DeleteServerCertificate"] {
            self.send(step(name, json!({"serverCertificateName": "web"}), NONE)).await;
        }
    }
}

/// Every IAM event the router handles (`change::EVENTS`), made in the emulator and sent as
/// deployed (the state table, the roster a sweep stored): each evaluates exactly the rules its
/// change's kind moves, less those its read proved unmoved (`trigger.unmoved`, checked here
/// case by case), and reads nothing but what its kind reads (`change::reads`, which
/// docs/events.md shows): never the whole account.
#[test]
fn every_handled_event_evaluates_the_rules_its_change_moves() {
    // One future drives some sixty events: in a debug build it needs more than a test
    // thread's 2 MiB of stack (the function runs on the main thread's 8 MiB).
    let body = || tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(every_handled_event());
    std::thread::Builder::new().stack_size(16 << 20).spawn(body).unwrap().join().unwrap();
}

async fn every_handled_event() {
    let env = Env::start().await;
    seed(&env).await;
    env.put_setting("unapproved-policy-in-use", json!({"unapproved": ["AmazonRDSFullAccess"]})).await;
    env.put_setting("required-tags", json!({"enabled": true, "keys": ["owner"]})).await;
    let iam = env.iam();
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]}).to_string();
    let allow_all = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}).to_string();
    let read_s3 = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}).to_string();
    iam.create_role().role_name("builder").assume_role_policy_document(&trust).send().await.unwrap();
    iam.create_group().group_name("ops").send().await.unwrap();
    iam.create_user().user_name("leaver").send().await.unwrap();
    let boundary = iam.create_policy().policy_name("boundary").policy_document(&read_s3).send().await.unwrap().policy.unwrap().arn.unwrap();
    let t0 = Utc::now();
    let first = Box::pin(sweep(&env, &env.clients(), t0)).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    env.received().await;
    let mut runner =
        Runner { clients: env.clients(), config: env.live_config(), iam, env: &env, t0, sent: Vec::new(), trust, allow_all, read_s3 };
    Box::pin(runner.users()).await;
    Box::pin(runner.attachments()).await;
    Box::pin(runner.inline_and_boundaries(&boundary)).await;
    Box::pin(runner.groups_and_roles()).await;
    Box::pin(runner.policies_and_account()).await;
    let sent: BTreeSet<&str> = runner.sent.iter().copied().collect();
    let handled: BTreeSet<&str> = iam_assurance::change::EVENTS.iter().map(|e| e.name).collect();
    assert_eq!(sent, handled, "every handled event is sent by this test");
}
