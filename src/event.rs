//! Event routing: what an incoming EventBridge event asks for. Pure: JSON in, [`Route`] out.
//!
//! - `Scheduled Event` → a full sweep.
//! - `AWS API Call via CloudTrail` from IAM → a targeted evaluation of the entity named in
//!   `requestParameters`, with only the rules that change can move. Failed calls
//!   (`errorCode` set) changed nothing and are skipped; read-only calls are skipped.
//! - Any CloudTrail event whose `userIdentity.type` is `Root` (API calls and console
//!   sign-ins) → an immediate `root-usage` finding, on top of whatever else it triggers.
//! - Anything else is acknowledged and ignored: never an error that makes Lambda retry.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use iam_assurance_aws::CredentialParts;
use iam_assurance_rules::inventory::RootActivity;
use iam_assurance_rules::policy::json_kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The IAM entity an event changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Entity {
    User(String),
    Group(String),
    Role(String),
    Policy(String),
    /// Account-level settings (password policy) or server certificates.
    Account,
}

/// What a targeted evaluation must collect, beyond the event itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// The one user's credentials, read live: only the parts the event can have changed.
    UserCredentials(#[serde(skip)] CredentialParts),
    /// Users, groups, roles and customer managed policies of the whole account.
    Authorization,
    PasswordPolicy,
    ServerCertificates,
    /// Nothing but the event (a deleted user: its findings resolve).
    Nothing,
}

/// A targeted evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Targeted {
    pub event_name: String,
    pub entity: Entity,
    /// A second entity the event names (the user of AddUserToGroup, the policy of an attach).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Entity>,
    pub need: Need,
    pub rules: Vec<&'static str>,
    /// The inline policy the event put or deleted (`requestParameters.policyName`): a deleted
    /// one is no longer in the inventory, yet its finding may be resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_policy: Option<String>,
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// One Route exists per invocation; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Route {
    /// A full sweep of the account.
    Sweep,
    /// CloudTrail activity: root use and/or an IAM change to evaluate.
    CloudTrail {
        event_id: String,
        event_name: String,
        event_time: Option<DateTime<Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        root: Option<RootActivity>,
        #[serde(skip_serializing_if = "Option::is_none")]
        targeted: Option<Targeted>,
        /// Why the IAM part was skipped (failed call, read-only, unhandled event name).
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<String>,
    },
    /// Acknowledged and ignored.
    Ignored { reason: String },
}

/// The rules that count administrators.
pub const ADMIN_RULES: &[&str] = &["min-admins", "max-admins"];

fn rules(groups: &[&[&'static str]]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for group in groups {
        for id in *group {
            if !out.contains(id) {
                out.push(id);
            }
        }
    }
    out
}

/// Route an event. Never fails: an event we cannot read is `Ignored` with the reason.
///
/// The envelope is read as `aws_lambda_events`' `EventBridgeEvent`; the CloudTrail `detail`
/// stays a tolerant JSON value (the typed CloudTrail structs reject fields real events omit).
pub fn route(event: &Value) -> Route {
    if !event.is_object() {
        return Route::Ignored { reason: format!("not an EventBridge event: expected a JSON object, got {}", json_kind(event)) };
    }
    let envelope = match EventBridgeEvent::<Value>::deserialize(event) {
        Ok(envelope) => envelope,
        Err(err) => return Route::Ignored { reason: format!("not an EventBridge event: {err}") },
    };
    match envelope.detail_type.as_str() {
        "Scheduled Event" => Route::Sweep,
        "AWS API Call via CloudTrail" | "AWS Console Sign In via CloudTrail" => {
            cloudtrail(Some(&envelope.detail), &envelope.detail_type, envelope.account.as_deref())
        }
        other => Route::Ignored { reason: format!("unhandled event `{other}` from `{}`", envelope.source) },
    }
}

fn cloudtrail(detail: Option<&Value>, detail_type: &str, account: Option<&str>) -> Route {
    let Some(detail) = detail.and_then(Value::as_object) else {
        return Route::Ignored { reason: format!("`{detail_type}` event without a `detail` object") };
    };
    let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
    let event_name = text("eventName").unwrap_or_default();
    let event_source = text("eventSource").unwrap_or_default();
    let event_id = text("eventID").unwrap_or_default();
    let event_time = text("eventTime").and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc));
    let identity_type = detail.get("userIdentity").and_then(|u| u.get("type")).and_then(Value::as_str).unwrap_or("");
    let error_code = text("errorCode");

    let root = (identity_type == "Root").then(|| RootActivity {
        event_id: event_id.clone(),
        event_name: event_name.clone(),
        event_source: event_source.clone(),
        event_time,
        source_ip: text("sourceIPAddress"),
        user_agent: text("userAgent"),
        aws_region: text("awsRegion"),
    });

    let (targeted, skipped) = if event_source != "iam.amazonaws.com" {
        (None, (root.is_none()).then(|| format!("`{event_name}` from `{event_source}` is not an IAM change")))
    } else if let Some(code) = error_code {
        (None, Some(format!("`{event_name}` failed ({code}): nothing changed")))
    } else if detail.get("readOnly").and_then(Value::as_bool) == Some(true) {
        (None, Some(format!("`{event_name}` is read-only")))
    } else {
        let params = detail.get("requestParameters").cloned().unwrap_or(Value::Null);
        let caller = detail.get("userIdentity").and_then(|u| u.get("userName")).and_then(Value::as_str);
        // The account the change was made in, and its partition (from the caller's ARN).
        let account = text("recipientAccountId").or_else(|| account.map(str::to_owned)).filter(|a| !a.is_empty());
        let partition = detail
            .get("userIdentity")
            .and_then(|u| u.get("arn"))
            .and_then(Value::as_str)
            .and_then(|arn| arn.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws");
        let home = account.as_deref().map(|account| Home { account, partition });
        match target(&event_name, &params, caller, home) {
            Ok(t) => (Some(t), None),
            Err(reason) => (None, Some(reason)),
        }
    };
    if root.is_none() && targeted.is_none() {
        return Route::Ignored { reason: skipped.unwrap_or_else(|| format!("`{event_name}`: nothing to evaluate")) };
    }
    Route::CloudTrail { event_id, event_name, event_time, root, targeted, skipped }
}

/// The account an event changed, and its partition.
#[derive(Debug, Clone, Copy)]
struct Home<'a> {
    account: &'a str,
    partition: &'a str,
}

/// Which entity an IAM write event changed, what to collect and which rules it can move.
fn target(event_name: &str, params: &Value, caller: Option<&str>, home: Option<Home<'_>>) -> Result<Targeted, String> {
    let param = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
    let required = |key: &str| param(key).ok_or_else(|| format!("`{event_name}` event has no requestParameters.{key}"));
    let inline_policy = matches!(
        event_name,
        "PutUserPolicy" | "DeleteUserPolicy" | "PutGroupPolicy" | "DeleteGroupPolicy" | "PutRolePolicy" | "DeleteRolePolicy"
    )
    .then(|| param("policyName"))
    .flatten();
    let make = |entity, related, need, rules| Targeted {
        event_name: event_name.to_string(),
        entity,
        related,
        need,
        rules,
        inline_policy: inline_policy.clone(),
    };
    let policy = || param("policyArn").map(Entity::Policy);
    // Credential calls name the user, or act on the caller's own user when they do not.
    let user = |caller: Option<&str>| {
        param("userName")
            .or_else(|| caller.map(str::to_owned))
            .ok_or_else(|| format!("`{event_name}` names no user (requestParameters.userName)"))
    };
    Ok(match event_name {
        // Credentials of one user, read live: only the parts this event can change, and only
        // the rules over those parts (each rule below reads nothing else of the row).
        "CreateUser" => {
            let name = required("userName")?;
            let parts = CredentialParts { key_last_used: false, signing_certificates: false, ..CredentialParts::ALL };
            let rules =
                vec!["unused-user", "user-mfa", "access-key-rotation", "multiple-access-keys", "console-access-inactive", "approved-users"];
            make(Entity::User(name), None, Need::UserCredentials(parts), rules)
        }
        "UpdateUser" => {
            // A rename: the approved list is matched on names. The former name is the related
            // entity: the administrator roster moves the user to its new name and ARN.
            let old = required("userName")?;
            let name = param("newUserName").unwrap_or_else(|| old.clone());
            let former = (name != old || param("newPath").is_some()).then_some(Entity::User(old));
            make(Entity::User(name), former, Need::UserCredentials(CredentialParts::USER_ONLY), vec!["approved-users"])
        }
        "CreateAccessKey" | "UpdateAccessKey" | "DeleteAccessKey" => {
            let parts = CredentialParts { access_keys: true, key_last_used: true, ..CredentialParts::USER_ONLY };
            let rules = vec!["access-key-rotation", "inactive-access-key", "multiple-access-keys", "unused-user"];
            make(Entity::User(user(caller)?), None, Need::UserCredentials(parts), rules)
        }
        "CreateLoginProfile" | "UpdateLoginProfile" | "DeleteLoginProfile" | "EnableMFADevice" | "DeactivateMFADevice" => {
            let parts = CredentialParts { login_profile: true, mfa_devices: true, ..CredentialParts::USER_ONLY };
            make(Entity::User(user(caller)?), None, Need::UserCredentials(parts), vec!["user-mfa", "console-access-inactive"])
        }
        "UploadSigningCertificate" | "UpdateSigningCertificate" | "DeleteSigningCertificate" => {
            let parts = CredentialParts { signing_certificates: true, ..CredentialParts::USER_ONLY };
            make(Entity::User(user(caller)?), None, Need::UserCredentials(parts), vec!["user-signing-certificate-rotation"])
        }
        "DeleteUser" => make(
            Entity::User(required("userName")?),
            None,
            Need::Authorization,
            rules(&[&["individual-users", "empty-group", "unapproved-policy-in-use"], ADMIN_RULES]),
        ),
        "AttachUserPolicy" | "DetachUserPolicy" => make(
            Entity::User(required("userName")?),
            policy(),
            Need::Authorization,
            rules(&[&["user-attached-policies", "unapproved-policy-in-use"], ADMIN_RULES]),
        ),
        "PutUserPolicy" | "DeleteUserPolicy" | "PutUserPermissionsBoundary" | "DeleteUserPermissionsBoundary" => make(
            Entity::User(required("userName")?),
            None,
            Need::Authorization,
            rules(&[&["user-inline-policies", "admin-policy"], ADMIN_RULES]),
        ),
        // Membership does not change who a managed policy is attached to.
        "AddUserToGroup" | "RemoveUserFromGroup" => make(
            Entity::Group(required("groupName")?),
            Some(Entity::User(required("userName")?)),
            Need::Authorization,
            rules(&[&["empty-group"], ADMIN_RULES]),
        ),
        // A group renamed (or moved): the roster moves it to its new name; the former name is
        // the related entity.
        "UpdateGroup" => {
            let old = required("groupName")?;
            let name = param("newGroupName").unwrap_or_else(|| old.clone());
            let former = (name != old).then_some(Entity::Group(old));
            make(Entity::Group(name), former, Need::Authorization, rules(&[&["empty-group"], ADMIN_RULES]))
        }
        "CreateGroup" | "DeleteGroup" => {
            make(Entity::Group(required("groupName")?), None, Need::Authorization, rules(&[&["empty-group"], ADMIN_RULES]))
        }
        "AttachGroupPolicy" | "DetachGroupPolicy" => {
            make(Entity::Group(required("groupName")?), policy(), Need::Authorization, rules(&[&["unapproved-policy-in-use"], ADMIN_RULES]))
        }
        "PutGroupPolicy" | "DeleteGroupPolicy" => {
            make(Entity::Group(required("groupName")?), None, Need::Authorization, rules(&[&["admin-policy"], ADMIN_RULES]))
        }
        "AttachRolePolicy" | "DetachRolePolicy" => {
            make(Entity::Role(required("roleName")?), policy(), Need::Authorization, rules(&[&["unapproved-policy-in-use"], ADMIN_RULES]))
        }
        "PutRolePolicy" | "DeleteRolePolicy" | "PutRolePermissionsBoundary" | "DeleteRolePermissionsBoundary" => make(
            Entity::Role(required("roleName")?),
            None,
            Need::Authorization,
            rules(&[&["role-inline-policies", "admin-policy"], ADMIN_RULES]),
        ),
        "CreateRole" | "DeleteRole" | "UpdateAssumeRolePolicy" => make(
            Entity::Role(required("roleName")?),
            None,
            Need::Authorization,
            rules(&[&["inactive-role", "role-inline-policies", "unapproved-policy-in-use"], ADMIN_RULES]),
        ),
        "CreatePolicy" => {
            // CreatePolicy names the policy, not its ARN (that is in the response, which the
            // trail does not always keep): the ARN follows from the account, the path and the
            // name. Without the account, the policy is looked up by name account-wide.
            let name = required("policyName")?;
            let path = param("path").filter(|p| p.starts_with('/') && p.ends_with('/')).unwrap_or_else(|| "/".into());
            let entity = match home {
                Some(h) => Entity::Policy(format!("arn:{}:iam::{}:policy{path}{name}", h.partition, h.account)),
                None => Entity::Policy(name),
            };
            make(entity, None, Need::Authorization, rules(&[&["admin-policy"]]))
        }
        "CreatePolicyVersion" | "SetDefaultPolicyVersion" | "DeletePolicy" | "DeletePolicyVersion" => make(
            Entity::Policy(required("policyArn")?),
            None,
            Need::Authorization,
            rules(&[&["admin-policy", "unapproved-policy-in-use"], ADMIN_RULES]),
        ),
        "UpdateAccountPasswordPolicy" | "DeleteAccountPasswordPolicy" => {
            make(Entity::Account, None, Need::PasswordPolicy, vec!["password-policy"])
        }
        "UploadServerCertificate" | "DeleteServerCertificate" | "UpdateServerCertificate" => {
            make(Entity::Account, None, Need::ServerCertificates, vec!["server-certificate-rotation"])
        }
        other => return Err(format!("`{other}` does not change anything the rules check")),
    })
}
