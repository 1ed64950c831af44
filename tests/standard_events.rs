//! The rules of CIS and FSBP that an IAM change moves, on the event path against moto (IAM, SSM,
//! DynamoDB, SNS → SQS) as deployed: `cloudshell-full-access` (attach and detach of
//! AWSCloudShellFullAccess on a user, group and role), `support-role` (AWSSupportAccess on a
//! role), `required-tags` (users and roles created, tagged, untagged) and `access-keys-at-setup`
//! (keys created and deleted). Each event opens or resolves its finding, reads only what its
//! kind reads, within six calls, and the next sweep agrees with it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Duration, Utc};
use serde_json::{json, Value};

use crate::alerts::{agreeing_sweep, attr, change, iam_event, invoke, per_finding, seed, sweep};
use crate::support::*;

const ACCOUNT: &str = "123456789012";
const CLOUDSHELL: &str = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess";
const SUPPORT: &str = "arn:aws:iam::aws:policy/AWSSupportAccess";

/// The calls a run made, without publishing (SNS) and the state writes (PutItem): what an event
/// costs when it changes nothing.
fn reads(run: &Value) -> BTreeMap<String, u64> {
    run["api_calls"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with("sns:") && *k != "dynamodb:PutItem")
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

/// The run read exactly these IAM operations (each once) besides the SSM settings and the
/// state's BatchGetItem (and the roster's GetItem, when `roster`), all in permissions.rs, and
/// no more than six calls in all.
fn assert_reads(run: &Value, iam: &[&str], roster: bool, context: &str) {
    let mut expected: BTreeMap<String, u64> = iam.iter().map(|c| (c.to_string(), 1)).collect();
    expected.insert("ssm:GetParametersByPath".into(), 1);
    expected.insert("dynamodb:BatchGetItem".into(), 1);
    if roster {
        expected.insert("dynamodb:GetItem".into(), 1);
    }
    let got = reads(run);
    assert_eq!(got, expected, "{context}");
    let total: u64 = got.values().sum();
    assert!(total <= 6, "{context}: {total} calls");
    for call in run["api_calls"].as_object().unwrap().keys() {
        assert!(iam_assurance_aws::permissions::is_granted(call), "{call} is not in permissions.rs");
    }
}

/// What the run published, one (change, rule) pair a finding.
async fn published(env: &Env) -> BTreeSet<(String, String)> {
    let delivered = env.received().await;
    per_finding(&delivered).iter().map(|m| (change(m).to_string(), attr(m, "rule_id").to_string())).collect()
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

fn rule<'a>(run: &'a Value, id: &str) -> &'a Value {
    run["rules"].as_array().unwrap().iter().find(|r| r["rule_id"] == id).unwrap_or_else(|| panic!("{id} not in {}", run["rules"]))
}

fn evaluated(run: &Value) -> BTreeSet<String> {
    run["rules"].as_array().unwrap().iter().map(|r| r["rule_id"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn cloudshell_and_support_role_are_moved_by_the_attachments_of_their_policy() {
    let env = Env::start().await;
    seed(&env).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]});
    iam.create_role().role_name("support").assume_role_policy_document(trust.to_string()).send().await.unwrap();
    iam.create_group().group_name("ops").send().await.unwrap();
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert_eq!(first["published"]["roster"], "written", "{}", first["published"]);
    let support = first["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "support-role");
    assert!(support.is_some(), "no role has AWSSupportAccess: {}", first["findings"]);
    env.received().await;

    // Each step: the change made in IAM, its event, the IAM calls it makes, what it publishes.
    type Step<'a> = (&'a str, Value, &'a [&'a str], &'a [(&'a str, &'a str)]);
    const P: &str = "iam:GetPolicy";
    const V: &str = "iam:GetPolicyVersion";
    let steps: Vec<Step> = vec![
        (
            "AttachGroupPolicy",
            json!({"groupName": "ops", "policyArn": CLOUDSHELL}),
            &[P, V, "iam:GetGroup", "iam:ListAttachedGroupPolicies"],
            &[("new", "cloudshell-full-access")],
        ),
        (
            "DetachGroupPolicy",
            json!({"groupName": "ops", "policyArn": CLOUDSHELL}),
            &[P, V, "iam:GetGroup", "iam:ListAttachedGroupPolicies"],
            &[("resolved", "cloudshell-full-access")],
        ),
        (
            "AttachUserPolicy",
            json!({"userName": "bob", "policyArn": CLOUDSHELL}),
            &[P, V, "iam:GetUser", "iam:ListAttachedUserPolicies"],
            // bob now has a policy attached directly, too.
            &[("new", "cloudshell-full-access"), ("new", "user-attached-policies")],
        ),
        (
            "DetachUserPolicy",
            json!({"userName": "bob", "policyArn": CLOUDSHELL}),
            &[P, V, "iam:GetUser", "iam:ListAttachedUserPolicies"],
            &[("resolved", "cloudshell-full-access"), ("resolved", "user-attached-policies")],
        ),
        (
            "AttachRolePolicy",
            json!({"roleName": "support", "policyArn": CLOUDSHELL}),
            &[P, V, "iam:GetRole", "iam:ListAttachedRolePolicies"],
            &[("new", "cloudshell-full-access")],
        ),
        (
            "DetachRolePolicy",
            json!({"roleName": "support", "policyArn": CLOUDSHELL}),
            &[P, V, "iam:GetRole", "iam:ListAttachedRolePolicies"],
            &[("resolved", "cloudshell-full-access")],
        ),
        // A support role: the roles holding AWSSupportAccess read, not the role itself.
        (
            "AttachRolePolicy",
            json!({"roleName": "support", "policyArn": SUPPORT}),
            &[P, V, "iam:ListEntitiesForPolicy"],
            &[("resolved", "support-role")],
        ),
        // On a user it does not count; an attachment to a user does not move support-role.
        // (carol is in no group: the narrow read of a user's attachment does not read its
        // groups, which user-attached-policies' details list.)
        (
            "AttachUserPolicy",
            json!({"userName": "carol", "policyArn": SUPPORT}),
            &[P, V, "iam:GetUser", "iam:ListAttachedUserPolicies"],
            &[("new", "user-attached-policies")],
        ),
        (
            "DetachRolePolicy",
            json!({"roleName": "support", "policyArn": SUPPORT}),
            &[P, V, "iam:ListEntitiesForPolicy"],
            &[("new", "support-role")],
        ),
    ];
    for (i, (name, params, iam_reads, expected)) in steps.into_iter().enumerate() {
        let text = |key: &str| params[key].as_str().unwrap_or_default().to_string();
        let (user, group, role, policy) = (text("userName"), text("groupName"), text("roleName"), text("policyArn"));
        match name {
            "AttachGroupPolicy" => drop(iam.attach_group_policy().group_name(&group).policy_arn(&policy).send().await.unwrap()),
            "DetachGroupPolicy" => drop(iam.detach_group_policy().group_name(&group).policy_arn(&policy).send().await.unwrap()),
            "AttachUserPolicy" => drop(iam.attach_user_policy().user_name(&user).policy_arn(&policy).send().await.unwrap()),
            "DetachUserPolicy" => drop(iam.detach_user_policy().user_name(&user).policy_arn(&policy).send().await.unwrap()),
            "AttachRolePolicy" => drop(iam.attach_role_policy().role_name(&role).policy_arn(&policy).send().await.unwrap()),
            _ => drop(iam.detach_role_policy().role_name(&role).policy_arn(&policy).send().await.unwrap()),
        }
        let at = t0 + Duration::minutes(2 * i as i64 + 1);
        let context = format!("{name} {params}");
        let run = invoke(&clients, &config, &iam_event(name, 900 + i as u32, params.clone()), at).await;
        assert_reads(&run, iam_reads, false, &context);
        // The rule about the other policy is not evaluated.
        let rules = evaluated(&run);
        if policy == CLOUDSHELL {
            assert!(rules.contains("cloudshell-full-access") && !rules.contains("support-role"), "{context}: {rules:?}");
        } else {
            assert!(!rules.contains("cloudshell-full-access"), "{context}: {rules:?}");
            assert_eq!(rules.contains("support-role"), name.ends_with("RolePolicy"), "{context}: {rules:?}");
        }
        for id in ["cloudshell-full-access", "support-role"].iter().filter(|id| rules.contains(**id)) {
            assert_eq!(rule(&run, id)["status"], "evaluated", "{context}: {}", rule(&run, id));
        }
        assert_eq!(published(&env).await, pairs(expected), "{context}");
        agreeing_sweep(&env, &clients, at + Duration::minutes(1), &run).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn required_tags_are_moved_by_creation_and_tag_events() {
    let env = Env::start().await;
    seed(&env).await;
    env.put_setting("required-tags", json!({"enabled": true, "keys": ["owner"]})).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    let owner = aws_sdk_iam::types::Tag::builder().key("owner").value("platform").build().unwrap();
    // Tag the seeded users, so that what each event adds or removes stands alone.
    for user in ["alice", "bob", "carol", "deploy-bot"] {
        iam.tag_user().user_name(user).tags(owner.clone()).send().await.unwrap();
    }
    let t0 = Utc::now();
    let first = sweep(&env, &clients, t0).await;
    assert!(first["findings"].as_array().unwrap().iter().all(|f| f["rule_id"] != "required-tags"), "{}", first["findings"]);
    env.received().await;
    let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]}).to_string();

    // Each step: the event (its change made in IAM first), its IAM reads, whether it goes through
    // the roster, and what it publishes about required-tags.
    type Step<'a> = (&'a str, Value, &'a [&'a str], bool, &'a [(&'a str, &'a str)]);
    let user_reads: &[&str] = &["iam:GetUser", "iam:GetLoginProfile", "iam:ListAccessKeys", "iam:ListMFADevices"];
    let role_reads: &[&str] = &["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies"];
    let steps: Vec<Step> = vec![
        // A user created without tags (and not on the approved list).
        ("CreateUser", json!({"userName": "deploy-new"}), user_reads, false, &[("new", "required-tags")]),
        (
            "TagUser",
            json!({"userName": "deploy-new", "tags": [{"key": "owner", "value": "platform"}]}),
            &["iam:GetUser"],
            false,
            &[("resolved", "required-tags")],
        ),
        ("UntagUser", json!({"userName": "deploy-new", "tagKeys": ["owner"]}), &["iam:GetUser"], false, &[("new", "required-tags")]),
        // A role created with its tags: nothing to report.
        (
            "CreateRole",
            json!({"roleName": "tagged", "assumeRolePolicyDocument": trust, "tags": [{"key": "owner", "value": "platform"}]}),
            role_reads,
            true,
            &[],
        ),
        ("UntagRole", json!({"roleName": "tagged", "tagKeys": ["owner"]}), &["iam:GetRole"], false, &[("new", "required-tags")]),
        (
            "TagRole",
            json!({"roleName": "tagged", "tags": [{"key": "owner", "value": "platform"}]}),
            &["iam:GetRole"],
            false,
            &[("resolved", "required-tags")],
        ),
    ];
    for (i, (name, params, iam_reads, roster, expected)) in steps.into_iter().enumerate() {
        let text = |key: &str| params[key].as_str().unwrap_or_default().to_string();
        let (user, role) = (text("userName"), text("roleName"));
        match name {
            "CreateUser" => drop(iam.create_user().user_name(&user).send().await.unwrap()),
            "TagUser" => drop(iam.tag_user().user_name(&user).tags(owner.clone()).send().await.unwrap()),
            "UntagUser" => drop(iam.untag_user().user_name(&user).tag_keys("owner").send().await.unwrap()),
            "CreateRole" => {
                drop(iam.create_role().role_name(&role).assume_role_policy_document(&trust).tags(owner.clone()).send().await.unwrap())
            }
            "UntagRole" => drop(iam.untag_role().role_name(&role).tag_keys("owner").send().await.unwrap()),
            _ => drop(iam.tag_role().role_name(&role).tags(owner.clone()).send().await.unwrap()),
        }
        let at = t0 + Duration::minutes(2 * i as i64 + 1);
        let context = format!("{name} {params}");
        let run = invoke(&clients, &config, &iam_event(name, 950 + i as u32, params.clone()), at).await;
        assert_reads(&run, iam_reads, roster, &context);
        assert_eq!(rule(&run, "required-tags")["status"], "evaluated", "{context}: {}", rule(&run, "required-tags"));
        let got: BTreeSet<(String, String)> = published(&env).await.into_iter().filter(|(_, r)| r == "required-tags").collect();
        assert_eq!(got, pairs(expected), "{context}");
        if name.contains("Tag") {
            // A tag event evaluates what reads tags, and nothing else.
            assert_eq!(evaluated(&run), BTreeSet::from(["required-tags".to_string()]), "{context}");
            assert!(run["trigger"]["narrowed"].as_str().unwrap().contains("read now with its tags"), "{}", run["trigger"]);
        }
        agreeing_sweep(&env, &clients, at + Duration::minutes(1), &run).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn access_keys_at_setup_is_moved_by_key_events() {
    let env = Env::start().await;
    seed(&env).await;
    let (clients, config, iam) = (env.clients(), env.live_config(), env.iam());
    // A console user, set up now (the emulator dates everything now: a key it creates is one
    // made at the user's setup, and never used).
    iam.create_user().user_name("deploy-setup").send().await.unwrap();
    iam.create_login_profile().user_name("deploy-setup").password("Sample-Passw0rd!x").send().await.unwrap();
    let t0 = Utc::now();
    sweep(&env, &clients, t0).await;
    env.received().await;
    let key_reads = |keys: usize, password: bool| -> Vec<&'static str> {
        let mut reads = vec!["iam:GetUser", "iam:ListAccessKeys"];
        if keys > 0 {
            reads.push("iam:GetAccessKeyLastUsed");
        }
        if password {
            reads.push("iam:GetLoginProfile");
        }
        reads
    };
    let user = json!({"userName": "deploy-setup"});

    // 1. A key made at setup: the password read (one key), the finding opened.
    let key = iam.create_access_key().user_name("deploy-setup").send().await.unwrap().access_key.unwrap().access_key_id;
    let run = invoke(&clients, &config, &iam_event("CreateAccessKey", 980, user.clone()), t0 + Duration::minutes(1)).await;
    assert_reads(&run, &key_reads(1, true), false, "CreateAccessKey");
    assert_eq!(rule(&run, "access-keys-at-setup")["status"], "evaluated", "{}", run["rules"]);
    let got = published(&env).await;
    assert!(got.contains(&("new".to_string(), "access-keys-at-setup".to_string())), "{got:?}");
    let f = run["findings"].as_array().unwrap().iter().find(|f| f["rule_id"] == "access-keys-at-setup").unwrap();
    assert_eq!(f["resource_arn"], format!("arn:aws:iam::{ACCOUNT}:user/deploy-setup"), "{f}");
    agreeing_sweep(&env, &clients, t0 + Duration::minutes(2), &run).await;

    // 2. A second key: four IAM calls already (two GetAccessKeyLastUsed), so the password is not
    // read and the rule is left to the sweep, resolving nothing.
    let second = iam.create_access_key().user_name("deploy-setup").send().await.unwrap().access_key.unwrap().access_key_id;
    let run = invoke(&clients, &config, &iam_event("CreateAccessKey", 981, user.clone()), t0 + Duration::minutes(3)).await;
    let mut expected: BTreeMap<String, u64> = ["iam:GetUser", "iam:ListAccessKeys"].iter().map(|c| (c.to_string(), 1)).collect();
    expected.insert("iam:GetAccessKeyLastUsed".into(), 2);
    expected.insert("ssm:GetParametersByPath".into(), 1);
    expected.insert("dynamodb:BatchGetItem".into(), 1);
    assert_eq!(reads(&run), expected, "CreateAccessKey, second key");
    let at_setup = rule(&run, "access-keys-at-setup");
    assert_eq!((at_setup["status"].as_str(), at_setup["cause"].as_str()), (Some("not_evaluated"), Some("out_of_scope")), "{at_setup}");
    assert!(at_setup["reason"].as_str().unwrap().contains("console password was not read"), "{at_setup}");
    let got = published(&env).await;
    assert!(!got.iter().any(|(_, r)| r == "access-keys-at-setup"), "{got:?}");
    // The sweep finds both keys.
    let after = sweep(&env, &clients, t0 + Duration::minutes(4)).await;
    let keys = after["findings"].as_array().unwrap().iter().filter(|f| f["rule_id"] == "access-keys-at-setup").count();
    assert_eq!(keys, 2, "{}", after["findings"]);
    env.received().await;

    // 3. Both keys deleted: nothing left to fail, whatever the password (not read), resolved.
    iam.delete_access_key().user_name("deploy-setup").access_key_id(&second).send().await.unwrap();
    iam.delete_access_key().user_name("deploy-setup").access_key_id(&key).send().await.unwrap();
    let params = json!({"userName": "deploy-setup", "accessKeyId": key});
    let run = invoke(&clients, &config, &iam_event("DeleteAccessKey", 982, params), t0 + Duration::minutes(5)).await;
    assert_reads(&run, &key_reads(0, false), false, "DeleteAccessKey");
    assert_eq!(rule(&run, "access-keys-at-setup")["status"], "evaluated", "{}", run["rules"]);
    let got = published(&env).await;
    let resolved: Vec<&(String, String)> = got.iter().filter(|(_, r)| r == "access-keys-at-setup").collect();
    assert_eq!(resolved, vec![&("resolved".to_string(), "access-keys-at-setup".to_string())], "{got:?}");
    agreeing_sweep(&env, &clients, t0 + Duration::minutes(6), &run).await;
}
