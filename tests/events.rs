//! Every sample event in `events/` routes to the change and the rules it should (docs/events.md).

use iam_assurance::change::{Change, Entity, Need};
use iam_assurance::route::{route, CloudTrailEvent, Route};
use serde_json::{json, Value};

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(crate::support::event_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn targeted(name: &str) -> Change {
    match route(&load(name)) {
        Route::CloudTrail(CloudTrailEvent { change: Some(t), root: None, .. }) => t,
        other => panic!("{name}: expected a targeted evaluation, got {other:?}"),
    }
}

#[test]
fn schedule_is_a_sweep() {
    assert!(matches!(route(&load("schedule.json")), Route::Sweep { .. }));
}

#[test]
fn credential_events_read_the_user_live() {
    for (file, user) in
        [("create-user.json", "contractor-bob"), ("create-access-key.json", "deploy-bot"), ("create-login-profile.json", "alice")]
    {
        let t = targeted(file);
        assert_eq!(t.entity, Entity::User(user.into()), "{file}");
        assert!(matches!(t.need(), Need::UserCredentials(_)), "{file}");
        assert!(!t.rule_ids().contains(&"max-admins"), "{file}: a credential change cannot move admin counts");
    }
    assert!(targeted("create-user.json").rule_ids().contains(&"approved-users"));
    // Each event reads only what it can change, and runs only the rules over that.
    let Need::UserCredentials(parts) = targeted("create-access-key.json").need() else { unreachable!() };
    assert!(parts.access_keys && parts.key_last_used && !parts.login_profile && !parts.mfa_devices && !parts.signing_certificates);
    assert!(targeted("create-access-key.json").rule_ids().contains(&"inactive-access-key"));
    assert!(
        !targeted("create-access-key.json").rule_ids().contains(&"user-mfa"),
        "user-mfa needs the login profile, not read for a key event"
    );
    let Need::UserCredentials(parts) = targeted("create-login-profile.json").need() else { unreachable!() };
    assert!(parts.login_profile && parts.mfa_devices && !parts.access_keys);
    assert_eq!(targeted("create-login-profile.json").rule_ids(), vec!["user-mfa", "console-access-inactive"]);
}

#[test]
fn attachment_events_reevaluate_policies_and_admin_counts() {
    let cases = [
        ("attach-user-policy.json", Entity::User("alice".into()), "user-attached-policies"),
        ("attach-user-policy-read-only.json", Entity::User("alice".into()), "user-attached-policies"),
        ("attach-role-policy.json", Entity::Role("ci-deployer".into()), "unapproved-policy-in-use"),
        ("attach-group-policy.json", Entity::Group("developers".into()), "unapproved-policy-in-use"),
        ("put-user-policy.json", Entity::User("alice".into()), "user-inline-policies"),
        ("add-user-to-group.json", Entity::Group("admins".into()), "empty-group"),
        ("delete-user.json", Entity::User("former-employee".into()), "individual-users"),
    ];
    for (file, entity, rule) in cases {
        let t = targeted(file);
        assert_eq!(t.entity, entity, "{file}");
        assert_eq!(t.need(), Need::Authorization, "{file}");
        assert!(t.rule_ids().contains(&rule), "{file}: {:?}", t.rule_ids());
        assert!(t.rule_ids().contains(&"max-admins") && t.rule_ids().contains(&"min-admins"), "{file}: {:?}", t.rule_ids());
    }
    assert_eq!(targeted("attach-user-policy.json").related, Some(Entity::Policy("arn:aws:iam::aws:policy/AdministratorAccess".into())));
    assert_eq!(targeted("add-user-to-group.json").related, Some(Entity::User("contractor-bob".into())));
}

#[test]
fn failed_calls_are_skipped() {
    match route(&load("failed-call.json")) {
        Route::Ignored { reason } => assert!(reason.contains("AccessDenied") && reason.contains("nothing changed"), "{reason}"),
        other => panic!("failed call should be ignored, got {other:?}"),
    }
}

#[test]
fn root_activity_is_an_immediate_root_usage() {
    for file in ["root-console-signin.json", "root-api-call.json"] {
        match route(&load(file)) {
            Route::CloudTrail(CloudTrailEvent { root: Some(activity), change: None, .. }) => {
                assert!(!activity.event_id.is_empty(), "{file}");
                assert!(activity.source_ip.is_some(), "{file}");
            }
            other => panic!("{file}: expected root activity, got {other:?}"),
        }
    }
    // Root making an IAM change: both root-usage and the targeted evaluation.
    let mut event = load("create-access-key.json");
    event["detail"]["userIdentity"] =
        json!({"type": "Root", "principalId": "123456789012", "arn": "arn:aws:iam::123456789012:root", "accountId": "123456789012"});
    match route(&event) {
        Route::CloudTrail(CloudTrailEvent { root: Some(_), change: Some(t), .. }) => {
            assert_eq!(t.entity, Entity::User("deploy-bot".into()))
        }
        other => panic!("expected both, got {other:?}"),
    }
    // A failed root sign-in is still root activity, marked as failed (real events carry
    // `"responseElements": {"ConsoleLogin": "Failure"}` and `errorMessage`).
    let mut event = load("root-console-signin.json");
    event["detail"]["errorMessage"] = json!("Failed authentication");
    event["detail"]["responseElements"] = json!({"ConsoleLogin": "Failure"});
    match route(&event) {
        Route::CloudTrail(CloudTrailEvent { root: Some(activity), .. }) => {
            assert_eq!(activity.failure.as_deref(), Some("ConsoleLogin: Failure (Failed authentication)"));
        }
        other => panic!("expected root activity, got {other:?}"),
    }
    match route(&load("root-console-signin.json")) {
        Route::CloudTrail(CloudTrailEvent { root: Some(activity), .. }) => assert_eq!(activity.failure, None),
        other => panic!("expected root activity, got {other:?}"),
    }
}

#[test]
fn unrelated_and_garbage_events_are_acknowledged() {
    assert!(matches!(route(&load("unrelated.json")), Route::Ignored { .. }));
    for garbage in [
        json!(null),
        json!("text"),
        json!([1, 2]),
        json!({}),
        json!({"detail-type": "AWS API Call via CloudTrail"}),
        json!({"detail-type": "AWS API Call via CloudTrail", "detail": {"eventSource": "iam.amazonaws.com", "eventName": "AttachUserPolicy", "requestParameters": {}}}),
    ] {
        assert!(matches!(route(&garbage), Route::Ignored { .. }), "{garbage}");
    }
    // Read-only IAM calls change nothing.
    let mut event = load("attach-user-policy.json");
    event["detail"]["eventName"] = json!("GetUser");
    event["detail"]["readOnly"] = json!(true);
    assert!(matches!(route(&event), Route::Ignored { .. }));
}

/// Every sample event is covered by a test above.
#[test]
fn every_sample_event_is_tested() {
    let tested = [
        "schedule.json",
        "create-user.json",
        "create-access-key.json",
        "create-login-profile.json",
        "attach-user-policy.json",
        "attach-user-policy-read-only.json",
        "attach-role-policy.json",
        "attach-group-policy.json",
        "put-user-policy.json",
        "add-user-to-group.json",
        "delete-user.json",
        "failed-call.json",
        "root-console-signin.json",
        "root-api-call.json",
        "unrelated.json",
    ];
    for entry in std::fs::read_dir(crate::support::root().join("events")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") {
            assert!(tested.contains(&name.as_str()), "events/{name} has no routing test");
        }
    }
}
