//! The event path's reads for one managed-policy attachment, instead of the whole account's
//! authorization details: the policy's default document (can it change who is an
//! administrator?) and one user's directly attached policies.

use iam_assurance_rules::inventory::{AttachedPolicy, User};

use crate::convert::datetime;
use crate::error::AwsFailure;
use crate::live::{gone_or, next_marker, Step};
use crate::Clients;

/// The default version's document of a managed policy, as IAM returns it (URL-encoded JSON):
/// GetPolicy, then GetPolicyVersion. `Ok(None)`: the policy does not exist. `Err` names the
/// operation and the AWS error.
pub async fn policy_document(clients: &Clients, arn: &str) -> Step<String> {
    let version = match clients.iam.get_policy().policy_arn(arn).send().await {
        Ok(out) => out
            .policy()
            .and_then(|p| p.default_version_id())
            .map(str::to_owned)
            .ok_or_else(|| format!("GetPolicy returned no default version for {arn}"))?,
        Err(err) => return gone_or(AwsFailure::from_sdk(&err), "GetPolicy"),
    };
    match clients.iam.get_policy_version().policy_arn(arn).version_id(&version).send().await {
        Ok(out) => out
            .policy_version()
            .and_then(|v| v.document())
            .map(|d| Some(d.to_owned()))
            .ok_or_else(|| format!("GetPolicyVersion returned no document for {arn} version {version}")),
        Err(err) => gone_or(AwsFailure::from_sdk(&err), "GetPolicyVersion"),
    }
}

/// One user with its directly attached managed policies and nothing else (no groups, no
/// inline policies): GetUser, then ListAttachedUserPolicies. `Ok(None)`: no such user.
pub async fn user_with_attached_policies(clients: &Clients, name: &str) -> Step<User> {
    let user = match clients.iam.get_user().user_name(name).send().await {
        Ok(out) => out.user().cloned().ok_or_else(|| format!("GetUser returned no User for {name}"))?,
        Err(err) => return gone_or(AwsFailure::from_sdk(&err), "GetUser"),
    };
    let mut attached = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match clients.iam.list_attached_user_policies().user_name(name).max_items(1000).set_marker(marker.take()).send().await {
            Ok(out) => out,
            Err(err) => return gone_or(AwsFailure::from_sdk(&err), "ListAttachedUserPolicies"),
        };
        for p in out.attached_policies() {
            if let (Some(name), Some(arn)) = (p.policy_name(), p.policy_arn()) {
                attached.push(AttachedPolicy { name: name.to_owned(), arn: arn.to_owned() });
            }
        }
        match next_marker(out.is_truncated(), out.marker(), "ListAttachedUserPolicies")? {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    Ok(Some(User {
        name: user.user_name().to_owned(),
        arn: user.arn().to_owned(),
        id: user.user_id().to_owned(),
        path: user.path().to_owned(),
        create_date: datetime(user.create_date()),
        groups: Vec::new(),
        attached_policies: attached,
        inline_policies: Vec::new(),
        permissions_boundary: None,
    }))
}
