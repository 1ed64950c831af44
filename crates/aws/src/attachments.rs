//! The event path's reads for one managed-policy attachment, instead of the whole account's
//! authorization details: the policy's default document (can it change who is an
//! administrator?), the user's, role's or group's attached policies (and a group's members),
//! every entity the policy is attached to, and a group's inline policy names.

use aws_sdk_iam::types::{EntityType, PolicyUsageType};
use iam_assurance_rules::inventory::{name_from_arn, AttachedPolicy, Group, ManagedPolicy, PolicyEntities, Role, User};
use iam_assurance_rules::policy::PolicyDocument;

use crate::convert::{canonical_order, datetime, opt_datetime};
use crate::credentials::{gone_or, next_marker, Lookup};
use crate::error::AwsFailure;
use crate::Clients;

/// The default version's document of a managed policy, as IAM returns it (URL-encoded JSON):
/// GetPolicy, then GetPolicyVersion. `Ok(None)`: the policy does not exist. `Err` names the
/// operation and the AWS error.
pub async fn policy_document(clients: &Clients, arn: &str) -> Lookup<String> {
    Ok(policy_with_document(clients, arn).await?.map(|(_, document)| document))
}

/// A customer or AWS managed policy with its default version's document, as the authorization
/// details describe it (name, path, attachment count), and how many users and roles have it as
/// their permissions boundary (`PermissionsBoundaryUsageCount`, when IAM says): GetPolicy, then
/// GetPolicyVersion. `Ok(None)`: the policy does not exist.
pub async fn managed_policy(clients: &Clients, arn: &str) -> Lookup<(ManagedPolicy, Option<i64>)> {
    let Some((policy, document)) = policy_with_document(clients, arn).await? else { return Ok(None) };
    let managed = ManagedPolicy {
        name: policy.policy_name().map(str::to_owned).unwrap_or_else(|| name_from_arn(arn).to_owned()),
        arn: arn.to_owned(),
        path: policy.path().unwrap_or("/").to_owned(),
        attachment_count: policy.attachment_count().map(i64::from),
        document: Some(PolicyDocument::parse_str(&document)),
    };
    Ok(Some((managed, policy.permissions_boundary_usage_count().map(i64::from))))
}

async fn policy_with_document(clients: &Clients, arn: &str) -> Lookup<(aws_sdk_iam::types::Policy, String)> {
    let policy = match clients.iam.get_policy().policy_arn(arn).send().await {
        Ok(out) => out.policy().cloned().ok_or_else(|| format!("GetPolicy returned no Policy for {arn}"))?,
        Err(err) => return gone_or(AwsFailure::from_sdk(&err), "GetPolicy"),
    };
    let version = policy.default_version_id().ok_or_else(|| format!("GetPolicy returned no default version for {arn}"))?.to_owned();
    match clients.iam.get_policy_version().policy_arn(arn).version_id(&version).send().await {
        Ok(out) => {
            let document = out
                .policy_version()
                .and_then(|v| v.document())
                .ok_or_else(|| format!("GetPolicyVersion returned no document for {arn} version {version}"))?;
            Ok(Some((policy, document.to_owned())))
        }
        Err(err) => gone_or(AwsFailure::from_sdk(&err), "GetPolicyVersion"),
    }
}

/// Every page of a `ListAttached{User,Group,Role}Policies` call, as [`AttachedPolicy`]s in
/// [`canonical_order`]; `NoSuchEntity` is `Ok(None)`.
macro_rules! attached_policies {
    ($clients:expr, $call:ident, $setter:ident, $name:expr, $operation:literal) => {{
        let mut attached = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = match $clients.iam.$call().$setter($name).max_items(1000).set_marker(marker.take()).send().await {
                Ok(out) => out,
                Err(err) => break gone_or(AwsFailure::from_sdk(&err), $operation),
            };
            for p in out.attached_policies() {
                if let (Some(name), Some(arn)) = (p.policy_name(), p.policy_arn()) {
                    attached.push(AttachedPolicy { name: name.to_owned(), arn: arn.to_owned() });
                }
            }
            match next_marker(out.is_truncated(), out.marker(), $operation) {
                Ok(Some(next)) => marker = Some(next),
                Ok(None) => {
                    canonical_order(&mut attached);
                    break Ok(Some(attached));
                }
                Err(reason) => break Err(reason),
            }
        }
    }};
}

/// One user with its permissions boundary, nothing else (no policies, no groups): GetUser.
/// `Ok(None)`: no such user.
pub async fn user(clients: &Clients, name: &str) -> Lookup<User> {
    let user = match clients.iam.get_user().user_name(name).send().await {
        Ok(out) => out.user().cloned().ok_or_else(|| format!("GetUser returned no User for {name}"))?,
        Err(err) => return gone_or(AwsFailure::from_sdk(&err), "GetUser"),
    };
    Ok(Some(crate::convert::user_from_sdk(&user)))
}

/// One user with its directly attached managed policies and its permissions boundary, nothing
/// else (no groups, no inline policies): GetUser, then ListAttachedUserPolicies. `Ok(None)`:
/// no such user.
pub async fn user_with_attached_policies(clients: &Clients, name: &str) -> Lookup<User> {
    let Some(mut user) = user(clients, name).await? else { return Ok(None) };
    let Some(attached) = attached_policies!(clients, list_attached_user_policies, user_name, name, "ListAttachedUserPolicies")? else {
        return Ok(None);
    };
    user.attached_policies = attached;
    Ok(Some(user))
}

/// One role with its permissions boundary and when it was last used (no policies, no trust
/// policy): GetRole. `Ok(None)`: no such role.
pub async fn role(clients: &Clients, name: &str) -> Lookup<Role> {
    let role = match clients.iam.get_role().role_name(name).send().await {
        Ok(out) => out.role().cloned().ok_or_else(|| format!("GetRole returned no Role for {name}"))?,
        Err(err) => return gone_or(AwsFailure::from_sdk(&err), "GetRole"),
    };
    Ok(Some(Role {
        name: role.role_name().to_owned(),
        arn: role.arn().to_owned(),
        id: role.role_id().to_owned(),
        path: role.path().to_owned(),
        create_date: datetime(role.create_date()),
        attached_policies: Vec::new(),
        inline_policies: Vec::new(),
        permissions_boundary: role.permissions_boundary().and_then(|b| b.permissions_boundary_arn()).map(str::to_owned),
        last_used: role.role_last_used().and_then(|l| opt_datetime(l.last_used_date())),
        trust_policy: role.assume_role_policy_document().map(PolicyDocument::parse_str),
        tags: Some(crate::convert::tags(role.tags())),
    }))
}

/// One role with its directly attached managed policies, its permissions boundary and when it
/// was last used (no inline policies, no trust policy): GetRole, then ListAttachedRolePolicies.
/// `Ok(None)`: no such role.
pub async fn role_with_attached_policies(clients: &Clients, name: &str) -> Lookup<Role> {
    let Some(mut role) = role(clients, name).await? else { return Ok(None) };
    let Some(attached) = attached_policies!(clients, list_attached_role_policies, role_name, name, "ListAttachedRolePolicies")? else {
        return Ok(None);
    };
    role.attached_policies = attached;
    Ok(Some(role))
}

/// One group (no policies) and the ARN and name of every user in it: GetGroup, every page.
/// `Ok(None)`: no such group.
pub async fn group_members(clients: &Clients, name: &str) -> Lookup<(Group, Vec<(String, String)>)> {
    let mut group: Option<Group> = None;
    let mut members = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match clients.iam.get_group().group_name(name).max_items(1000).set_marker(marker.take()).send().await {
            Ok(out) => out,
            Err(err) => return gone_or(AwsFailure::from_sdk(&err), "GetGroup"),
        };
        if group.is_none() {
            let g = out.group().ok_or_else(|| format!("GetGroup returned no Group for {name}"))?;
            group = Some(Group {
                name: g.group_name().to_owned(),
                arn: g.arn().to_owned(),
                id: g.group_id().to_owned(),
                path: g.path().to_owned(),
                create_date: datetime(g.create_date()),
                attached_policies: Vec::new(),
                inline_policies: Vec::new(),
            });
        }
        members.extend(out.users().iter().map(|u| (u.arn().to_owned(), u.user_name().to_owned())));
        match next_marker(out.is_truncated(), out.marker(), "GetGroup")? {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    Ok(group.map(|group| (group, members)))
}

/// One group with its directly attached managed policies (no inline policies) and the ARN and
/// name of every user in it: GetGroup (every page), then ListAttachedGroupPolicies.
/// `Ok(None)`: no such group.
pub async fn group_with_members(clients: &Clients, name: &str) -> Lookup<(Group, Vec<(String, String)>)> {
    let Some((mut group, members)) = group_members(clients, name).await? else { return Ok(None) };
    let Some(attached) = attached_policies!(clients, list_attached_group_policies, group_name, name, "ListAttachedGroupPolicies")? else {
        return Ok(None);
    };
    group.attached_policies = attached;
    Ok(Some((group, members)))
}

/// The users, groups and roles a managed policy is attached to as a permissions policy (not
/// those that have it as their permissions boundary, which IAM lists too unless told not to):
/// ListEntitiesForPolicy, every page. Roles are named; whether each is service-linked is not in
/// the answer and is left `false` for the caller to fill in. `Ok(None)`: no such policy.
pub async fn policy_entities(clients: &Clients, arn: &str) -> Lookup<PolicyEntities> {
    entities_for_policy(clients, arn, None).await
}

/// The roles a managed policy is attached to as a permissions policy (users and groups are not
/// asked for, and left empty): ListEntitiesForPolicy with `EntityFilter=Role`, every page. As
/// [`policy_entities`], whether each role is service-linked is left `false`. `Ok(None)`: no
/// such policy.
pub async fn policy_roles(clients: &Clients, arn: &str) -> Lookup<PolicyEntities> {
    entities_for_policy(clients, arn, Some(EntityType::Role)).await
}

async fn entities_for_policy(clients: &Clients, arn: &str, only: Option<EntityType>) -> Lookup<PolicyEntities> {
    let mut entities = PolicyEntities { arn: arn.to_owned(), name: name_from_arn(arn).to_owned(), ..PolicyEntities::default() };
    let mut marker: Option<String> = None;
    loop {
        let request = clients
            .iam
            .list_entities_for_policy()
            .policy_arn(arn)
            .policy_usage_filter(PolicyUsageType::PermissionsPolicy)
            .set_entity_filter(only.clone());
        let out = match request.max_items(1000).set_marker(marker.take()).send().await {
            Ok(out) => out,
            Err(err) => return gone_or(AwsFailure::from_sdk(&err), "ListEntitiesForPolicy"),
        };
        entities.users.extend(out.policy_users().iter().filter_map(|u| u.user_name()).map(str::to_owned));
        entities.groups.extend(out.policy_groups().iter().filter_map(|g| g.group_name()).map(str::to_owned));
        entities.roles.extend(out.policy_roles().iter().filter_map(|r| r.role_name()).map(|r| (r.to_owned(), false)));
        match next_marker(out.is_truncated(), out.marker(), "ListEntitiesForPolicy")? {
            Some(next) => marker = Some(next),
            None => break,
        }
    }
    Ok(Some(entities))
}

/// Every page of a `List{User,Group,Role}Policies` call: the inline policy names, sorted;
/// `NoSuchEntity` is `Ok(None)`.
macro_rules! policy_names {
    ($clients:expr, $call:ident, $setter:ident, $name:expr, $operation:literal) => {{
        let mut names: Vec<String> = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let out = match $clients.iam.$call().$setter($name).max_items(1000).set_marker(marker.take()).send().await {
                Ok(out) => out,
                Err(err) => break gone_or(AwsFailure::from_sdk(&err), $operation),
            };
            names.extend(out.policy_names().iter().cloned());
            match next_marker(out.is_truncated(), out.marker(), $operation) {
                Ok(Some(next)) => marker = Some(next),
                Ok(None) => {
                    names.sort();
                    break Ok(Some(names));
                }
                Err(reason) => break Err(reason),
            }
        }
    }};
}

/// The names of a group's inline policies (not their documents), sorted: ListGroupPolicies,
/// every page. `Ok(None)`: no such group.
pub async fn group_policy_names(clients: &Clients, name: &str) -> Lookup<Vec<String>> {
    policy_names!(clients, list_group_policies, group_name, name, "ListGroupPolicies")
}

/// The names of a role's inline policies (not their documents), sorted: ListRolePolicies,
/// every page. `Ok(None)`: no such role.
pub async fn role_policy_names(clients: &Clients, name: &str) -> Lookup<Vec<String>> {
    policy_names!(clients, list_role_policies, role_name, name, "ListRolePolicies")
}

/// The names of a user's inline policies (not their documents), sorted: ListUserPolicies, every
/// page. `Ok(None)`: no such user.
pub async fn user_policy_names(clients: &Clients, name: &str) -> Lookup<Vec<String>> {
    policy_names!(clients, list_user_policies, user_name, name, "ListUserPolicies")
}

/// Whose inline policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineOwner {
    User,
    Group,
    Role,
}

/// One inline policy's document, as IAM returns it (URL-encoded JSON): GetUserPolicy,
/// GetGroupPolicy or GetRolePolicy. `Ok(None)`: no such policy (or no such owner).
pub async fn inline_policy_document(clients: &Clients, owner: InlineOwner, name: &str, policy: &str) -> Lookup<String> {
    let missing = |operation: &str| format!("{operation} returned no document for {policy} of {name}");
    match owner {
        InlineOwner::User => match clients.iam.get_user_policy().user_name(name).policy_name(policy).send().await {
            Ok(out) => non_empty(out.policy_document(), || missing("GetUserPolicy")),
            Err(err) => gone_or(AwsFailure::from_sdk(&err), "GetUserPolicy"),
        },
        InlineOwner::Group => match clients.iam.get_group_policy().group_name(name).policy_name(policy).send().await {
            Ok(out) => non_empty(out.policy_document(), || missing("GetGroupPolicy")),
            Err(err) => gone_or(AwsFailure::from_sdk(&err), "GetGroupPolicy"),
        },
        InlineOwner::Role => match clients.iam.get_role_policy().role_name(name).policy_name(policy).send().await {
            Ok(out) => non_empty(out.policy_document(), || missing("GetRolePolicy")),
            Err(err) => gone_or(AwsFailure::from_sdk(&err), "GetRolePolicy"),
        },
    }
}

/// A document the SDK returned empty (a required field it could not read) is an error.
fn non_empty(document: &str, missing: impl FnOnce() -> String) -> Lookup<String> {
    if document.trim().is_empty() {
        Err(missing())
    } else {
        Ok(Some(document.to_owned()))
    }
}
