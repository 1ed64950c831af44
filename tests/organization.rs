//! Organization mode against the emulator: an organization of the hub and two member accounts
//! (moto's Organizations, and cross-account AssumeRole, which moto grants without checking the
//! role: refusals are injected with the fault proxy), each member with its own problems.

use std::collections::{BTreeMap, BTreeSet};

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use iam_assurance::output::Trigger;
use iam_assurance::run::{self, organization, Config};
use iam_assurance_aws::Clients;
use serde_json::{json, Value};

use crate::alerts::seed;
use crate::proxy::{Fault, FaultProxy};
use crate::support::*;

const HUB: &str = "123456789012";
const ROLE: &str = "iam-assurance-reader";
/// The organization's state table: partition key `account`, sort key `fingerprint`.
const ORG_TABLE: &str = "iam-assurance-org-state";

/// The hub (the seeded people) and two members: `alpha` has a console user without MFA,
/// `beta` an empty group and a user with two active keys.
struct Org {
    env: Env,
    alpha: String,
    beta: String,
}

async fn org() -> Org {
    let env = Env::start().await;
    seed(&env).await;
    let hub = env.clients();
    hub.organizations.create_organization().feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All).send().await.unwrap();
    let mut members = Vec::new();
    for name in ["alpha", "beta"] {
        let created = hub.organizations.create_account().account_name(name).email(format!("{name}@example.com")).send().await.unwrap();
        members.push(created.create_account_status.unwrap().account_id.unwrap());
    }
    let (alpha, beta) = (members[0].clone(), members[1].clone());
    let alpha_iam = hub.for_member(&alpha, &run::reach::member_role_arn(&alpha, ROLE), "seed").await.unwrap().iam;
    alpha_iam.create_user().user_name("alpha-admin").send().await.unwrap();
    alpha_iam.create_login_profile().user_name("alpha-admin").password("Sample-Passw0rd!a").send().await.unwrap();
    let beta_iam = hub.for_member(&beta, &run::reach::member_role_arn(&beta, ROLE), "seed").await.unwrap().iam;
    beta_iam.create_group().group_name("beta-empty").send().await.unwrap();
    beta_iam.create_user().user_name("beta-ci").send().await.unwrap();
    beta_iam.create_access_key().user_name("beta-ci").send().await.unwrap();
    beta_iam.create_access_key().user_name("beta-ci").send().await.unwrap();
    create_org_table(&env.config).await;
    Org { env, alpha, beta }
}

async fn create_org_table(config: &aws_config::SdkConfig) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let attribute =
        |name: &str| AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap();
    aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(ORG_TABLE)
        .attribute_definitions(attribute("account"))
        .attribute_definitions(attribute("fingerprint"))
        .key_schema(KeySchemaElement::builder().attribute_name("account").key_type(KeyType::Hash).build().unwrap())
        .key_schema(KeySchemaElement::builder().attribute_name("fingerprint").key_type(KeyType::Range).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// A role that `principal` (an account id or ARN) may assume; returns its trust policy.
async fn create_trusting_role(iam: &aws_sdk_iam::Client, name: &str, principal: &str) -> Value {
    let trust =
        json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}]});
    iam.create_role().role_name(name).assume_role_policy_document(trust.to_string()).send().await.unwrap();
    trust
}

/// The function's configuration in organization mode, with the accounts queue.
fn org_config(env: &Env, queue: Option<String>) -> Config {
    Config {
        state_table: Some(ORG_TABLE.into()),
        member_role_name: Some(ROLE.into()),
        organization: true,
        accounts_queue_url: queue,
        ..env.live_config()
    }
}

/// The account of every finding's resource: each must be the run's own.
fn assert_attributed_to(run: &Value, account: &str) {
    assert_eq!(run["account_id"], account, "{}", run["trigger"]);
    for f in run["findings"].as_array().unwrap() {
        let arn = f["resource_arn"].as_str().unwrap();
        assert_eq!(arn.split(':').nth(4), Some(account), "a finding of account {account}'s run on {arn}");
        assert_eq!(f["account_id"], account);
    }
}

fn rule_ids(run: &Value) -> BTreeSet<String> {
    run["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "open")
        .map(|f| f["rule_id"].as_str().unwrap().to_string())
        .collect()
}

fn rule_status<'a>(run: &'a Value, id: &str) -> &'a str {
    run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == id).unwrap()["status"].as_str().unwrap()
}

/// `sweep --account` reads the member through its role: its findings, in its account, and one
/// AssumeRole; the hub's own sweep reads the hub with the function's credentials.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_account_is_swept_through_its_role() {
    let org = org().await;
    let hub = org.env.clients();
    let config = Config { state_table: None, ..org_config(&org.env, None) };
    for (account, expected) in [(&org.alpha, "user-mfa"), (&org.beta, "multiple-access-keys")] {
        let run = run::sweep_account(&hub, &config, Some(account), ROLE, Trigger::Manual, Utc::now()).await.unwrap();
        let run = serde_json::to_value(run).unwrap();
        assert_attributed_to(&run, account);
        assert!(rule_ids(&run).contains(expected), "{account}: {:?}", rule_ids(&run));
        assert_eq!(run["api_calls"]["sts:AssumeRole"], 1, "{}", run["api_calls"]);
    }
    let run = serde_json::to_value(run::sweep_account(&hub, &config, None, ROLE, Trigger::Manual, Utc::now()).await.unwrap()).unwrap();
    assert_attributed_to(&run, HUB);
    assert!(run["api_calls"].get("sts:AssumeRole").is_none());
    assert!(rule_ids(&run).contains("user-mfa"), "bob has no MFA in the hub");
}

/// A round: the fan-out sends one message per ACTIVE account (the hub's included), less the
/// excluded ones; the consumer sweeps each in its own account, into its own partition of the
/// state table (a Query, never a Scan); a per-account override applies to its account only.
#[tokio::test(flavor = "multi_thread")]
async fn a_round_sweeps_every_account_once_in_its_own_partition() {
    let org = org().await;
    let hub = org.env.clients();
    let queue = hub.sqs.create_queue().queue_name("accounts").send().await.unwrap().queue_url.unwrap();
    let config = org_config(&org.env, Some(queue.clone()));
    // Alpha turns user-mfa off for itself; an exception on beta's group adds to none.
    org.env.put_parameter(&format!("/iam-assurance/accounts/{}/rules/user-mfa", org.alpha), json!({"enabled": false})).await;
    // Alpha's roles trust the hub, its sibling beta, and an account outside the organization.
    let alpha_iam = hub.for_member(&org.alpha, &run::reach::member_role_arn(&org.alpha, ROLE), "seed").await.unwrap().iam;
    for (name, principal) in [
        ("hub-reader", format!("arn:aws:iam::{HUB}:role/iam-assurance-function")),
        ("sibling", format!("arn:aws:iam::{}:root", org.beta)),
        ("outsider", "arn:aws:iam::999988887777:root".to_string()),
    ] {
        create_trusting_role(&alpha_iam, name, &principal).await;
    }

    let fanned = serde_json::to_value(run::handle_event(&hub, &config, &sample_event("schedule.json"), Utc::now()).await.unwrap()).unwrap();
    let fan_out = &fanned["fan_out"];
    let mut expected = vec![HUB.to_string(), org.alpha.clone(), org.beta.clone()];
    expected.sort();
    assert_eq!(fan_out["accounts"], json!(expected), "{fan_out}");
    assert_eq!(fan_out["source"], "organizations");
    assert_eq!(fan_out["messages"], 3);
    assert!(fanned["findings"].as_array().unwrap().is_empty(), "the fan-out sweeps nothing itself");

    let messages = receive_all(&hub, &queue).await;
    let targets: Vec<String> = messages
        .iter()
        .map(|m| serde_json::from_str::<Value>(m.body.as_deref().unwrap()).unwrap()["account_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(targets.iter().collect::<BTreeSet<_>>().len(), 3, "each account exactly once: {targets:?}");
    let (response, runs) = organization::consume(&hub, &config, &batch(messages), Utc::now()).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", response.batch_item_failures);
    let runs: BTreeMap<String, Value> = runs
        .into_iter()
        .map(|r| serde_json::to_value(r.unwrap()).unwrap())
        .map(|r| (r["account_id"].as_str().unwrap().to_string(), r))
        .collect();
    assert_eq!(runs.keys().cloned().collect::<Vec<_>>(), expected);
    for (account, run) in &runs {
        assert_attributed_to(run, account);
        assert!(
            run["api_calls"].get("dynamodb:Query").is_some() && run["api_calls"].get("dynamodb:Scan").is_none(),
            "{}",
            run["api_calls"]
        );
        assert_eq!(
            run["published"]["changes"]["new"],
            run["findings"].as_array().unwrap().iter().filter(|f| f["status"] == "open").count()
        );
    }
    // The fan-out stored the organization's accounts: alpha's roles may trust them, not others.
    let trusting: Vec<&str> = runs[&org.alpha]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule_id"] == "role-trust-external")
        .map(|f| f["resource_name"].as_str().unwrap())
        .collect();
    assert_eq!(trusting, ["outsider"], "{}", runs[&org.alpha]["findings"]);
    assert_eq!(rule_status(&runs[&org.alpha], "user-mfa"), "disabled", "alpha's override");
    assert_eq!(rule_status(&runs[HUB], "user-mfa"), "evaluated", "the override is alpha's only");
    assert!(rule_ids(&runs[HUB]).contains("user-mfa"));
    assert!(rule_ids(&runs[&org.beta]).contains("empty-group"));

    // One digest for the organization's round, not one per account.
    let delivered = org.env.received().await;
    let digests: Vec<&Value> = delivered.iter().filter(|m| m["MessageAttributes"]["change"]["Value"] == "digest").collect();
    assert_eq!(digests.len(), 1, "{:?}", digests.iter().map(|d| &d["Subject"]).collect::<Vec<_>>());
    let digest: Value = serde_json::from_str(digests[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(digest["accounts"], 3, "{digest}");
    assert_eq!(digest["missing"], 0);
    let per_finding = delivered.len() - 1;
    let new_total: u64 = runs.values().map(|r| r["published"]["changes"]["new"].as_u64().unwrap()).sum();
    assert_eq!(per_finding as u64, new_total, "every new finding once, plus the one digest");
    assert_eq!(digest["new"].as_u64().unwrap(), new_total);
    assert_eq!(
        runs.values().map(|r| r["published"]["digest_parts"].as_u64().unwrap()).sum::<u64>(),
        1,
        "sent by the run that completed the round"
    );

    // Each account's findings are in its partition, none in another's.
    for (account, run) in &runs {
        let store = iam_assurance_aws::state::StateStore::partition(&hub, ORG_TABLE, account.as_str());
        let stored: BTreeSet<String> = store.load().await.unwrap().items.into_keys().collect();
        let found: BTreeSet<String> =
            run["findings"].as_array().unwrap().iter().map(|f| f["fingerprint"].as_str().unwrap().to_string()).collect();
        assert_eq!(stored, found, "{account}");
    }

    // Excluding an account leaves it out of the next round.
    org.env.put_parameter("/iam-assurance/organization", json!({"exclude_accounts": [org.beta]})).await;
    let fanned = serde_json::to_value(run::handle_event(&hub, &config, &sample_event("schedule.json"), Utc::now()).await.unwrap()).unwrap();
    assert_eq!(fanned["fan_out"]["excluded"], json!([org.beta]));
    assert_eq!(fanned["fan_out"]["messages"], 2);
}

/// A round an account never completed (its role refused every try) gets its digest from the
/// next fan-out, saying an account is missing.
#[tokio::test(flavor = "multi_thread")]
async fn a_round_left_unfinished_is_closed_by_the_next_fan_out() {
    let org = org().await;
    let hub = org.env.clients();
    let queue = hub.sqs.create_queue().queue_name("accounts").send().await.unwrap().queue_url.unwrap();
    let config = org_config(&org.env, Some(queue.clone()));
    let started = Utc::now() - chrono::Duration::hours(1);
    let fanned = serde_json::to_value(run::handle_event(&hub, &config, &sample_event("schedule.json"), started).await.unwrap()).unwrap();
    let round = fanned["fan_out"]["round"].as_str().unwrap().to_string();
    let mut messages = receive_all(&hub, &queue).await;
    // Beta's message never succeeds: only the hub and alpha report.
    messages.retain(|m| !m.body.as_deref().unwrap().contains(&org.beta));
    let (response, _) = organization::consume(&hub, &config, &batch(messages), started).await;
    assert!(response.batch_item_failures.is_empty());
    let before: Vec<Value> = org.env.received().await;
    assert!(before.iter().all(|m| m["MessageAttributes"]["change"]["Value"] != "digest"), "the round is not complete");
    // The next hour's fan-out closes it.
    let mut next = sample_event("schedule.json");
    next["id"] = json!("another-round");
    run::handle_event(&hub, &config, &next, Utc::now()).await.unwrap();
    let delivered = org.env.received().await;
    let digests: Vec<Value> = delivered
        .iter()
        .filter(|m| m["MessageAttributes"]["change"]["Value"] == "digest")
        .map(|m| serde_json::from_str(m["Message"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(digests.len(), 1);
    assert_eq!(digests[0]["round"], round.as_str());
    assert_eq!((digests[0]["accounts"].as_u64(), digests[0]["missing"].as_u64()), (Some(2), Some(1)));
}

/// A member whose role cannot be assumed fails alone: its message is a batch item failure
/// (SQS delivers it again), with a clear error; the other account's sweep completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_whose_role_cannot_be_assumed_fails_alone() {
    let org = org().await;
    let proxy = FaultProxy::start(org.env.moto.port).await;
    let clients = Clients::from_config(&proxy.sdk_config().await);
    let config = Config { state_table: None, ..org_config(&org.env, None) };
    proxy.inject(
        "AssumeRole",
        0,
        1,
        Fault::Answer {
            status: 403,
            content_type: "text/xml",
            body: "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole\
</Message></Error><RequestId>0</RequestId></ErrorResponse>"
                .into(),
        },
    );
    let message = |id: &str, account: &str| {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(json!({"account_id": account, "round": "r-1"}).to_string());
        m.event_source = Some("aws:sqs".into());
        m
    };
    let batch = batch(vec![message("m-alpha", &org.alpha), message("m-beta", &org.beta)]);
    let (response, runs) = organization::consume(&clients, &config, &batch, Utc::now()).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m-alpha"]);
    let error = runs[0].as_ref().expect_err("alpha failed").to_string();
    assert!(error.contains(&org.alpha) && error.contains("AccessDenied") && error.contains(ROLE), "{error}");
    let beta = serde_json::to_value(runs[1].as_ref().expect("beta completed")).unwrap();
    assert_attributed_to(&beta, &org.beta);
}

/// An event from a member account is evaluated in that account, through its role.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_s_event_is_evaluated_in_the_member() {
    let org = org().await;
    let hub = org.env.clients();
    let config = Config { state_table: None, ..org_config(&org.env, None) };
    let mut event = sample_event("create-login-profile.json");
    event["account"] = json!(org.alpha);
    event["detail"]["recipientAccountId"] = json!(org.alpha);
    event["detail"]["requestParameters"] = json!({"userName": "alpha-admin"});
    let run = serde_json::to_value(run::handle_event(&hub, &config, &event, Utc::now()).await.unwrap()).unwrap();
    assert_eq!(run["trigger"]["kind"], "cloudtrail");
    assert_attributed_to(&run, &org.alpha);
    assert!(rule_ids(&run).contains("user-mfa"), "{}", run["findings"]);
    assert_eq!(run["api_calls"]["sts:AssumeRole"], 1);
    // A role created in alpha trusting its sibling beta: with the organization's accounts stored
    // (as every fan-out does), beta is trusted; an account outside is not.
    let stored = Config { state_table: Some(ORG_TABLE.into()), ..config.clone() };
    let accounts: BTreeSet<String> = [HUB, org.alpha.as_str(), org.beta.as_str()].map(String::from).into();
    iam_assurance_aws::StateStore::new(&hub, ORG_TABLE).put_organization_accounts(&accounts, "organizations", Utc::now()).await.unwrap();
    let alpha_iam = hub.for_member(&org.alpha, &run::reach::member_role_arn(&org.alpha, ROLE), "seed").await.unwrap().iam;
    for (name, principal) in [("deployer", org.beta.clone()), ("vendor", "999988887777".to_string())] {
        let trust = create_trusting_role(&alpha_iam, name, &principal).await;
        let mut created = sample_event("create-user.json");
        created["account"] = json!(org.alpha);
        created["detail"]["recipientAccountId"] = json!(org.alpha);
        created["detail"]["eventName"] = json!("CreateRole");
        created["detail"]["requestParameters"] = json!({"roleName": name, "assumeRolePolicyDocument": trust.to_string()});
        let run = serde_json::to_value(run::handle_event(&hub, &stored, &created, Utc::now()).await.unwrap()).unwrap();
        assert_attributed_to(&run, &org.alpha);
        assert_eq!(rule_status(&run, "role-trust-external"), "evaluated", "{}", run["rules"]);
        let flagged = run["findings"].as_array().unwrap().iter().any(|f| f["rule_id"] == "role-trust-external" && f["status"] == "open");
        assert_eq!(flagged, name == "vendor", "{name}: {}", run["findings"]);
        assert!(run["api_calls"]["dynamodb:GetItem"].as_u64().unwrap_or(0) >= 1, "the stored list read: {}", run["api_calls"]);
    }

    // Without a member role, the same event is evaluated nowhere.
    let unreached = Config { member_role_name: None, ..config.clone() };
    let run = serde_json::to_value(run::handle_event(&hub, &unreached, &event, Utc::now()).await.unwrap()).unwrap();
    assert_eq!(run["trigger"]["kind"], "ignored");

    // An account the rounds leave out is not watched by events either (a finding raised there
    // would never be resolved by a sweep): excluded by id, then under an excluded unit.
    let ignored = |run: &Value, why: &str| {
        assert_eq!(run["trigger"]["kind"], "ignored", "{run}");
        let reason = run["trigger"]["reason"].as_str().unwrap();
        assert!(reason.contains(&org.alpha) && reason.contains(why), "{reason}");
        assert!(run["findings"].as_array().unwrap().is_empty());
        assert!(run["api_calls"].get("sts:AssumeRole").is_none(), "{}", run["api_calls"]);
    };
    org.env.put_parameter("/iam-assurance/organization", json!({"exclude_accounts": [org.alpha]})).await;
    let run = serde_json::to_value(run::handle_event(&hub, &config, &event, Utc::now()).await.unwrap()).unwrap();
    ignored(&run, "exclude_accounts");
    let root = hub.organizations.list_roots().send().await.unwrap().roots.unwrap()[0].id.clone().unwrap();
    let unit = hub.organizations.create_organizational_unit().parent_id(&root).name("sandbox").send().await.unwrap();
    let unit = unit.organizational_unit.unwrap().id.unwrap();
    let nested = hub.organizations.create_organizational_unit().parent_id(&unit).name("labs").send().await.unwrap();
    let nested = nested.organizational_unit.unwrap().id.unwrap();
    hub.organizations.move_account().account_id(&org.alpha).source_parent_id(&root).destination_parent_id(&nested).send().await.unwrap();
    org.env.put_parameter("/iam-assurance/organization", json!({"exclude_units": [unit]})).await;
    let run = serde_json::to_value(run::handle_event(&hub, &config, &event, Utc::now()).await.unwrap()).unwrap();
    ignored(&run, &unit);
    // A unit that does not hold it: evaluated as before.
    org.env.put_parameter("/iam-assurance/organization", json!({"exclude_units": ["ou-none-00000000"]})).await;
    let run = serde_json::to_value(run::handle_event(&hub, &config, &event, Utc::now()).await.unwrap()).unwrap();
    assert_attributed_to(&run, &org.alpha);
    assert!(rule_ids(&run).contains("user-mfa"), "{}", run["findings"]);
}

/// The CLI: `sweep --account` and `sweep --organization --format json` (one run per line).
#[test]
fn the_cli_sweeps_an_account_and_the_organization() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let org = rt.block_on(org());
    let vars = org.env.moto.env();
    let mut envs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    envs.push(("MEMBER_ROLE_NAME", ROLE));
    let out = run_bin(&["sweep", "--account", &org.beta, "--format", "json"], &envs);
    assert!(out.status.success(), "{}", stderr(&out));
    let run: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_attributed_to(&run, &org.beta);

    let out = run_bin(&["sweep", "--organization", "--concurrency", "2", "--format", "json"], &envs);
    assert!(out.status.success(), "{}", stderr(&out));
    let runs: Vec<Value> = stdout(&out).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let accounts: BTreeSet<String> = runs.iter().map(|r| r["account_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(accounts, [HUB.to_string(), org.alpha.clone(), org.beta.clone()].into_iter().collect());
    for run in &runs {
        assert_attributed_to(run, run["account_id"].as_str().unwrap());
    }
    let out = run_bin(&["sweep", "--account", "12345"], &envs);
    assert!(!out.status.success() && stderr(&out).contains("12-digit"), "{}", stderr(&out));
}

fn batch(records: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = records;
    event
}

async fn receive_all(clients: &Clients, queue: &str) -> Vec<SqsMessage> {
    let mut out = Vec::new();
    loop {
        let got = clients.sqs.receive_message().queue_url(queue).max_number_of_messages(10).send().await.unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let mut message = SqsMessage::default();
            message.message_id = m.message_id;
            message.receipt_handle = m.receipt_handle.clone();
            message.body = m.body;
            message.event_source = Some("aws:sqs".into());
            clients.sqs.delete_message().queue_url(queue).receipt_handle(m.receipt_handle.unwrap()).send().await.unwrap();
            out.push(message);
        }
    }
    out
}

/// With the Security Hub export on, a member's findings are imported into the member's own
/// Security Hub through its role (Security Hub takes a finding with the default product only
/// from the account it is about), never into the hub's.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_s_findings_are_imported_into_its_own_security_hub() {
    let org = org().await;
    let hub = org.env.clients();
    let alpha = hub.for_member(&org.alpha, &run::reach::member_role_arn(&org.alpha, ROLE), "test").await.unwrap();
    alpha.securityhub.enable_security_hub().send().await.unwrap();
    hub.securityhub.enable_security_hub().send().await.unwrap();
    let config = Config { security_hub: iam_assurance::export::options::Setting::On, ..org_config(&org.env, None) };
    let run = run::sweep_account(&hub, &config, Some(&org.alpha), ROLE, Trigger::Manual, Utc::now()).await.unwrap();
    let run = serde_json::to_value(run).unwrap();
    assert_attributed_to(&run, &org.alpha);
    assert_eq!(run["api_calls"]["securityhub:BatchImportFindings"], 1, "{}", run["api_calls"]);

    let held = |client: aws_sdk_securityhub::Client| async move {
        client.get_findings().max_results(100).send().await.expect("GetFindings").findings.unwrap_or_default()
    };
    let in_alpha = held(alpha.securityhub.clone()).await;
    let open = run["findings"].as_array().unwrap().iter().filter(|f| f["status"] == "open").count();
    assert!(open > 0);
    assert_eq!(in_alpha.iter().filter(|f| f.record_state().is_some_and(|s| s.as_str() == "ACTIVE")).count(), open);
    let product = format!("arn:aws:securityhub:us-east-1:{0}:product/{0}/default", org.alpha);
    for finding in &in_alpha {
        assert_eq!(finding.aws_account_id(), Some(org.alpha.as_str()));
        assert_eq!(finding.product_arn(), Some(product.as_str()));
    }
    assert!(held(hub.securityhub.clone()).await.is_empty(), "nothing of the member's in the hub's Security Hub");
}

/// An account swept twice in one round (SQS delivers a message at least once, and two runs of
/// it may overlap): it counts once toward the round, and when the run that reported first
/// published nothing (the other held the claims), the later run's changes are added to the
/// account's report, so the organization's digest tells them.
#[tokio::test(flavor = "multi_thread")]
async fn an_account_swept_twice_in_a_round_counts_once_and_its_changes_reach_the_digest() {
    use iam_assurance::notify::{MessageContext, RoundSummary};
    let org = org().await;
    let hub = org.env.clients();
    let config = org_config(&org.env, None);
    let (table, topic) = (config.state_table.clone().unwrap(), config.topic_arn.clone().unwrap());
    let now = Utc::now();
    let ctx = MessageContext { trigger: "scheduled sweep", settings_prefix: "/iam-assurance", now, renotify_hours: 24 };
    run::round::start(&hub, &table, "r1", 2, now).await.unwrap();
    let quiet = RoundSummary { account_id: org.alpha.clone(), ..Default::default() };
    let busy = RoundSummary {
        account_id: org.alpha.clone(),
        new: vec!["HIGH user-mfa: alpha-admin".into(), "LOW empty-group: x".into()],
        ..Default::default()
    };
    assert_eq!(run::round::report(&hub, &table, &topic, "r1", &quiet, &ctx, now).await.unwrap(), 0);
    assert_eq!(run::round::report(&hub, &table, &topic, "r1", &busy, &ctx, now).await.unwrap(), 0, "counted once: not complete");
    let beta = RoundSummary { account_id: org.beta.clone(), ..Default::default() };
    assert!(run::round::report(&hub, &table, &topic, "r1", &beta, &ctx, now).await.unwrap() > 0, "the second account completes it");
    let digests: Vec<Value> = org
        .env
        .received()
        .await
        .iter()
        .filter(|m| m["MessageAttributes"]["change"]["Value"] == "digest")
        .map(|m| serde_json::from_str(m["Message"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    assert_eq!((digests[0]["accounts"].as_u64(), digests[0]["new"].as_u64()), (Some(2), Some(2)), "{}", digests[0]);
    let alpha = digests[0]["summaries"].as_array().unwrap().iter().find(|s| s["account_id"] == org.alpha.as_str()).unwrap();
    assert_eq!(alpha["new"], 2);
}

/// An organization's table keeps a finding as a head (what a sweep Queries every hour) and a
/// body (its JSON, read only for what the run resolves): written together, on the head's
/// condition; a light load reads no body; a whole read joins them; a delete removes both; a
/// head written before the split, with its finding inside, still reads whole.
#[tokio::test(flavor = "multi_thread")]
async fn a_finding_is_a_head_and_a_body_written_together_and_the_sweep_queries_heads_only() {
    use iam_assurance_aws::state::{Expect, ItemStatus, StateItem, StateStore, StateWrite, WriteOutcome, BODY_PREFIX};
    let env = Env::start_stateless().await;
    create_org_table(&env.config).await;
    let clients = env.clients();
    let store = StateStore::partition(&clients, ORG_TABLE, "111122223333");
    let other = StateStore::partition(&clients, ORG_TABLE, "444455556666");
    let now = Utc::now();
    let item = |fingerprint: &str, version: u64, finding: Option<&str>| StateItem {
        fingerprint: fingerprint.into(),
        rule_id: "user-mfa".into(),
        resource_arn: "arn:aws:iam::111122223333:user/alice".into(),
        resource_type: "AWS::IAM::User".into(),
        severity: iam_assurance_rules::Severity::High,
        status: ItemStatus::Open,
        incident: false,
        first_seen: now,
        last_seen: now,
        last_notified: None,
        last_change: None,
        resolved_at: None,
        finding: finding.map(str::to_string),
        message_hash: Some("0123456789abcdef".into()),
        version,
        expires_at: None,
        exported: None,
    };
    let put = |expect: Expect, item: StateItem| StateWrite { fingerprint: item.fingerprint.clone(), expect, put: Some(item) };
    let written = |outcomes: Vec<WriteOutcome>| outcomes.into_iter().map(|o| format!("{o:?}")).collect::<Vec<_>>();

    let (a, b) = ("aaaa0000aaaa0000aaaa0000aaaa0000", "bbbb0000bbbb0000bbbb0000bbbb0000");
    let writes =
        [put(Expect::Absent, item(a, 1, Some(r#"{"message":"a v1"}"#))), put(Expect::Absent, item(b, 1, Some(r#"{"message":"b v1"}"#)))];
    assert_eq!(written(store.apply(&writes.iter().collect::<Vec<_>>()).await), ["Written", "Written"]);
    // Another account's partition holds the same fingerprint apart.
    assert_eq!(written(other.apply(&[&put(Expect::Absent, item(a, 1, Some(r#"{"message":"other"}"#)))]).await), ["Written"]);

    // As stored: the head without its finding, the body with it and nothing else of note.
    let raw = |key: String| {
        let ddb = clients.dynamodb.clone();
        async move {
            ddb.get_item()
                .table_name(ORG_TABLE)
                .key("account", aws_sdk_dynamodb::types::AttributeValue::S("111122223333".into()))
                .key("fingerprint", aws_sdk_dynamodb::types::AttributeValue::S(key))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
        }
    };
    let head = raw(a.into()).await.expect("the head");
    assert!(!head.contains_key("finding"), "{head:?}");
    assert_eq!(head["status"].as_s().unwrap(), "open");
    let body = raw(format!("{BODY_PREFIX}{a}")).await.expect("the body");
    assert_eq!(body["finding"].as_s().unwrap(), r#"{"message":"a v1"}"#);
    assert!(!body.contains_key("rule_id"));

    // A light load is heads only: no body taken for an item, no finding; a whole read joins them.
    let light = store.load_light().await.unwrap();
    assert_eq!(light.items.keys().collect::<Vec<_>>(), [a, b]);
    assert!(light.skipped.is_empty(), "{:?}", light.skipped);
    assert!(light.items.values().all(|i| i.finding.is_none()));
    let whole = store.get(&BTreeSet::from([a.to_string(), "cccc0000cccc0000cccc0000cccc0000".to_string()])).await.unwrap();
    assert_eq!(whole.items.len(), 1);
    assert_eq!(whole.items[a].finding.as_deref(), Some(r#"{"message":"a v1"}"#));
    assert_eq!(store.load().await.unwrap().items[b].finding.as_deref(), Some(r#"{"message":"b v1"}"#));

    // A write on a stale version changes neither the head nor the body.
    let stale = put(Expect::Version(7), item(a, 8, Some(r#"{"message":"stale"}"#)));
    assert_eq!(written(store.apply(&[&stale]).await), ["Conflict"]);
    let whole = store.get(&BTreeSet::from([a.to_string()])).await.unwrap();
    assert_eq!((whole.items[a].version, whole.items[a].finding.as_deref()), (1, Some(r#"{"message":"a v1"}"#)));

    // The current version: both change. A put without a finding (an item loaded light) writes
    // the head and keeps the body.
    assert_eq!(written(store.apply(&[&put(Expect::Version(1), item(a, 2, Some(r#"{"message":"a v2"}"#)))]).await), ["Written"]);
    assert_eq!(written(store.apply(&[&put(Expect::Version(2), item(a, 3, None))]).await), ["Written"]);
    let whole = store.get(&BTreeSet::from([a.to_string()])).await.unwrap();
    assert_eq!((whole.items[a].version, whole.items[a].finding.as_deref()), (3, Some(r#"{"message":"a v2"}"#)));

    // A delete on a stale version keeps both; on the current one removes both.
    let delete = |expect: Expect| StateWrite { fingerprint: a.into(), expect, put: None };
    assert_eq!(written(store.apply(&[&delete(Expect::Version(2))]).await), ["Conflict"]);
    assert!(raw(format!("{BODY_PREFIX}{a}")).await.is_some());
    assert_eq!(written(store.apply(&[&delete(Expect::Version(3))]).await), ["Written"]);
    assert!(raw(a.into()).await.is_none());
    assert!(raw(format!("{BODY_PREFIX}{a}")).await.is_none(), "the body goes with its head");
    assert_eq!(other.load().await.unwrap().items[a].finding.as_deref(), Some(r#"{"message":"other"}"#));

    // A head written before the split (its finding inside, no body) reads whole as it is.
    let mut legacy = iam_assurance_aws::state::to_item(&item("dddd0000dddd0000dddd0000dddd0000", 4, Some(r#"{"message":"old"}"#)));
    legacy.insert("account".into(), aws_sdk_dynamodb::types::AttributeValue::S("111122223333".into()));
    clients.dynamodb.put_item().table_name(ORG_TABLE).set_item(Some(legacy)).send().await.unwrap();
    let whole = store.get(&BTreeSet::from(["dddd0000dddd0000dddd0000dddd0000".to_string()])).await.unwrap();
    assert_eq!(whole.items["dddd0000dddd0000dddd0000dddd0000"].finding.as_deref(), Some(r#"{"message":"old"}"#));
}

/// A member's problem fixed between two sweeps is resolved once, and the resolved message says
/// what was fixed: the sweep Queried the heads of the account's partition and read the body of
/// the one finding it resolved.
#[tokio::test(flavor = "multi_thread")]
async fn a_member_s_fixed_problem_is_resolved_with_the_finding_read_from_its_body() {
    use crate::alerts::{body, change, per_finding};
    let org = org().await;
    let hub = org.env.clients();
    let config = org_config(&org.env, None);
    let now = Utc::now();
    run::sweep_account(&hub, &config, Some(&org.beta), ROLE, Trigger::Manual, now).await.unwrap();
    org.env.received().await;

    let beta_iam = hub.for_member(&org.beta, &run::reach::member_role_arn(&org.beta, ROLE), "fix").await.unwrap().iam;
    let keys = beta_iam.list_access_keys().user_name("beta-ci").send().await.unwrap();
    beta_iam
        .delete_access_key()
        .user_name("beta-ci")
        .access_key_id(keys.access_key_metadata()[0].access_key_id().unwrap())
        .send()
        .await
        .unwrap();
    let run = run::sweep_account(&hub, &config, Some(&org.beta), ROLE, Trigger::Manual, now + chrono::Duration::hours(1)).await.unwrap();
    let run = serde_json::to_value(run).unwrap();
    assert_attributed_to(&run, &org.beta);
    let delivered = org.env.received().await;
    let resolved: Vec<&Value> = per_finding(&delivered).into_iter().filter(|m| change(m) == "resolved").collect();
    assert_eq!(resolved.len(), 1, "{:?}", resolved.iter().map(|m| &m["Subject"]).collect::<Vec<_>>());
    let b = body(resolved[0]);
    assert_eq!(b["finding"]["rule_id"], "multiple-access-keys");
    assert_eq!(b["finding"]["resource_arn"], format!("arn:aws:iam::{}:user/beta-ci", org.beta));
    assert!(b["finding"]["message"].as_str().unwrap().contains("beta-ci"), "the resolved message says what was fixed: {b}");
    // One Query of the heads; the one body (with its head) in one BatchGetItem; the resolution
    // in one transaction.
    assert_eq!(run["api_calls"]["dynamodb:BatchGetItem"], 1, "{}", run["api_calls"]);
    assert_eq!(run["api_calls"]["dynamodb:TransactWriteItems"], 1, "{}", run["api_calls"]);
    assert!(run["api_calls"].get("dynamodb:Scan").is_none());
}
