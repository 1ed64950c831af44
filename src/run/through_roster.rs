//! Events evaluated through the administrator roster kept in the state table (see
//! [`super::roster_store`]): each handler reads the one entity the event changed (or the one
//! policy), replaces what the roster knew of it, and counts the administrators from the roster,
//! instead of reading the whole account. `Err` is why the whole account must be read instead.

use std::collections::BTreeMap;

use iam_assurance_aws::attachments::{self, InlineOwner};
use iam_assurance_aws::Clients;
use iam_assurance_rules::change::Unmoved;
use iam_assurance_rules::inventory::{AuthorizationDetails, InlinePolicy, PolicyEntities};
use iam_assurance_rules::policy::PolicyDocument;
use iam_assurance_rules::roster::{Fresh, Holder, Holders, InlineVerdict, Owner, Roster};

use super::roster_store::StoredRoster;
use crate::change::{Change, Entity};

/// The document of an inline policy known by name only.
const NOT_READ: &str = "not read: only the name was needed";

/// Inline policies known by name only: the rules an event evaluates from them read names.
fn names_only(names: Vec<String>) -> Vec<InlinePolicy> {
    names.into_iter().map(|name| InlinePolicy { name, document: Err(NOT_READ.into()) }).collect()
}

/// A managed policy's verdict, from its document or its ARN.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    pub grants: bool,
    pub denies: bool,
    /// On the unapproved list of `unapproved-policy-in-use` (enabled).
    pub unapproved: bool,
}

/// What an event evaluates through the roster.
pub struct RosterRead {
    /// The roster with the event's entity read now.
    pub roster: Roster,
    /// The stored version it was read at.
    pub version: u64,
    /// Whether the entity's read changed it (then it is stored back).
    pub changed: bool,
    /// The entity read now (a user, role or group with its attached policies).
    pub authorization: AuthorizationDetails,
    /// Every entity the policy is attached to, when it is on the unapproved list.
    pub policy_entities: Option<PolicyEntities>,
    /// How many users the group read now has (a group event).
    pub group_members: Option<BTreeMap<String, usize>>,
    /// The event's entity was found deleted (no such entity).
    pub gone: bool,
    /// What the read proved unchanged: the rules reading only that are not evaluated.
    pub unmoved: Vec<Unmoved>,
    /// Why, for the run JSON.
    pub reason: String,
}

impl RosterRead {
    /// The roster updated from `before` (stored at `version`) with the entities read now.
    fn new(before: &Roster, version: u64, roster: Roster, authorization: AuthorizationDetails, reason: String) -> Self {
        RosterRead {
            changed: roster != *before,
            roster,
            version,
            authorization,
            policy_entities: None,
            group_members: None,
            gone: false,
            unmoved: Vec::new(),
            reason,
        }
    }
}

/// An attach or detach of a policy that grants or denies everything, or is unapproved: read the
/// one user, role or group now (GetUser/GetRole and its attached policies, or GetGroup with its
/// members and its attached policies), replace what the roster knew of it, and count the
/// administrators from the roster; for an unapproved policy, read who it is attached to
/// (ListEntitiesForPolicy; otherwise the use of unapproved policies did not move). A boundary
/// the roster has never seen is read (GetPolicy, GetPolicyVersion). `Err`: why the whole account
/// must be read instead (the entity or policy is gone, a read failed).
pub async fn attachment(clients: &Clients, stored: &StoredRoster, change: &Change, verdict: Verdict) -> Result<RosterRead, String> {
    let Some(Entity::Policy(policy)) = &change.related else { return Err("the event names no policy ARN".into()) };
    let (before, version) = stored.usable()?;
    let mut roster = before.clone();
    roster.classify(policy, verdict.grants, verdict.denies);
    let gone = |what: &str| format!("{what} no longer exists");
    let mut authorization = AuthorizationDetails::default();
    let subject = match &change.entity {
        Entity::User(name) => {
            let user = attachments::user_with_attached_policies(clients, name).await?.ok_or_else(|| gone(&format!("user {name}")))?;
            let attached: Vec<String> = user.attached_policies.iter().map(|p| p.arn.clone()).collect();
            learn_boundary(clients, &mut roster, user.permissions_boundary.as_deref()).await?;
            let fresh = Fresh { arn: &user.arn, name: &user.name, attached: &attached, boundary: user.permissions_boundary.as_deref() };
            roster.set_user(fresh).map_err(|e| e.to_string())?;
            authorization.users.push(user);
            format!("user {name}'s attached policies")
        }
        Entity::Role(name) => {
            let role = attachments::role_with_attached_policies(clients, name).await?.ok_or_else(|| gone(&format!("role {name}")))?;
            let attached: Vec<String> = role.attached_policies.iter().map(|p| p.arn.clone()).collect();
            learn_boundary(clients, &mut roster, role.permissions_boundary.as_deref()).await?;
            let fresh = Fresh { arn: &role.arn, name: &role.name, attached: &attached, boundary: role.permissions_boundary.as_deref() };
            roster.set_role(fresh, role.is_service_linked()).map_err(|e| e.to_string())?;
            authorization.roles.push(role);
            format!("role {name}'s attached policies")
        }
        Entity::Group(name) => {
            let (group, members) = attachments::group_with_members(clients, name).await?.ok_or_else(|| gone(&format!("group {name}")))?;
            let attached: Vec<String> = group.attached_policies.iter().map(|p| p.arn.clone()).collect();
            roster.set_group(&group.name, &attached, &members);
            authorization.groups.push(group);
            format!("group {name}'s attached policies and members")
        }
        other => return Err(format!("an attachment to {other:?} is not handled through the roster")),
    };
    let policy_entities = if verdict.unapproved {
        let mut entities = attachments::policy_entities(clients, policy).await?.ok_or_else(|| gone(&format!("policy {policy}")))?;
        for (role, service_linked) in &mut entities.roles {
            *service_linked = roster.service_linked_roles.contains(role);
        }
        Some(entities)
    } else {
        None
    };
    let reason = format!(
        "{policy} {}: administrators counted from the roster kept in the state table (version {version}) with {subject} read now{}",
        if verdict.grants || verdict.denies { verdict_text(verdict.grants, verdict.denies) } else { "is on the unapproved list" },
        if verdict.unapproved { ", and the policy's attachments read with ListEntitiesForPolicy" } else { "" }
    );
    let mut read = RosterRead::new(before, version, roster, authorization, reason);
    read.policy_entities = policy_entities;
    if !verdict.unapproved {
        read.unmoved.push(Unmoved::UnapprovedPolicyUse);
    }
    Ok(read)
}

/// A group created, renamed or deleted, or its members changed: read the group now with its
/// members and attached policies (GetGroup, every page, and ListAttachedGroupPolicies), and,
/// when it has no members, its inline policy names (ListGroupPolicies, for `empty-group`'s
/// message); replace what the roster knew of the group and count the administrators from it. A
/// group that no longer exists leaves the roster and is reported gone. `Err`: why the whole
/// account must be read instead (a read failed).
pub async fn group(clients: &Clients, stored: &StoredRoster, change: &Change) -> Result<RosterRead, String> {
    let Entity::Group(name) = &change.entity else { return Err("the event names no group".into()) };
    let (before, version) = stored.usable()?;
    let mut roster = before.clone();
    // UpdateGroup: the former name (the new one is read below).
    if let Some(Entity::Group(former)) = &change.related {
        roster.rename_group(former, name);
    }
    let mut authorization = AuthorizationDetails::default();
    let mut group_members = BTreeMap::new();
    let read = attachments::group_with_members(clients, name).await?;
    let group_gone = read.is_none();
    let subject = match read {
        Some((mut group, members)) => {
            let attached: Vec<String> = group.attached_policies.iter().map(|p| p.arn.clone()).collect();
            roster.set_group(&group.name, &attached, &members);
            if members.is_empty() {
                // Names only: the documents are not needed to say the group still has policies.
                let names =
                    attachments::group_policy_names(clients, name).await?.ok_or_else(|| format!("group {name} no longer exists"))?;
                group.inline_policies = names_only(names);
            }
            group_members.insert(group.name.clone(), members.len());
            let count = members.len();
            authorization.groups.push(group);
            format!("group {name} read now with its {count} {}", if count == 1 { "member" } else { "members" })
        }
        None => {
            roster.set_group(name, &[], &[]);
            format!("group {name} found deleted")
        }
    };
    let reason = format!(
        "{} changes a group: administrators counted from the roster kept in the state table (version {version}) with {subject}",
        change.event_name
    );
    let mut read = RosterRead::new(before, version, roster, authorization, reason);
    read.group_members = Some(group_members);
    read.gone = group_gone;
    Ok(read)
}

/// A role created or deleted, or its trust policy changed: read the role now (GetRole: its
/// boundary and last use; ListAttachedRolePolicies; ListRolePolicies for its inline policy
/// names), replace what the roster knew of it (its inline policies' verdicts stay as the roster
/// has them: none of these events changes them) and count the administrators from it. A role
/// that no longer exists leaves the roster and is reported gone. A boundary the roster has
/// never seen is read. `Err`: why the whole account must be read instead (a read failed).
pub async fn role(clients: &Clients, stored: &StoredRoster, change: &Change) -> Result<RosterRead, String> {
    let Entity::Role(name) = &change.entity else { return Err("the event names no role".into()) };
    let (before, version) = stored.usable()?;
    let mut roster = before.clone();
    let mut authorization = AuthorizationDetails::default();
    let read = attachments::role_with_attached_policies(clients, name).await?;
    let gone = read.is_none();
    let subject = match read {
        Some(mut role) => {
            let attached: Vec<String> = role.attached_policies.iter().map(|p| p.arn.clone()).collect();
            learn_boundary(clients, &mut roster, role.permissions_boundary.as_deref()).await?;
            let fresh = Fresh { arn: &role.arn, name: &role.name, attached: &attached, boundary: role.permissions_boundary.as_deref() };
            roster.set_role(fresh, role.is_service_linked()).map_err(|e| e.to_string())?;
            let names = attachments::role_policy_names(clients, name).await?.ok_or_else(|| format!("role {name} no longer exists"))?;
            role.inline_policies = names_only(names);
            authorization.roles.push(role);
            format!("role {name} read now")
        }
        None => {
            roster.remove_role(name);
            format!("role {name} found deleted")
        }
    };
    let reason = format!(
        "{} changes a role: administrators counted from the roster kept in the state table (version {version}) with {subject}",
        change.event_name
    );
    let mut read = RosterRead::new(before, version, roster, authorization, reason);
    read.gone = gone;
    Ok(read)
}

/// An inline policy put or deleted: read the one inline policy as it is now (GetUserPolicy,
/// GetGroupPolicy or GetRolePolicy; gone after a delete) and its owner (a user or role: GetUser
/// or GetRole for its boundary, and its inline policy names for `user-inline-policies` /
/// `role-inline-policies`; a group: GetGroup with its members), record whether the policy
/// grants or denies everything, and count the administrators from the roster. The other inline
/// policies are known by name only, so `admin-policy` is evaluated on this one: the caller names
/// only its fingerprints. `Err`: why the whole account must be read instead (the owner is gone,
/// a read failed).
pub async fn inline(clients: &Clients, stored: &StoredRoster, change: &Change) -> Result<RosterRead, String> {
    let policy = change.inline_policy.as_deref().ok_or("the event names no inline policy (requestParameters.policyName)")?;
    let (owner, name) = match &change.entity {
        Entity::User(name) => (InlineOwner::User, name),
        Entity::Group(name) => (InlineOwner::Group, name),
        Entity::Role(name) => (InlineOwner::Role, name),
        other => return Err(format!("an inline policy of {other:?} is not handled through the roster")),
    };
    let (before, version) = stored.usable()?;
    let mut roster = before.clone();
    let gone = |what: &str| format!("{what} {name} no longer exists");
    // The policy as it is now, whatever the event did: a later change may already have
    // replaced or deleted it.
    let now = attachments::inline_policy_document(clients, owner, name, policy)
        .await?
        .map(|document| InlinePolicy { name: policy.to_string(), document: PolicyDocument::parse_str(&document) });
    let (grants, denies) = match now.as_ref().map(|p| &p.document) {
        Some(Ok(document)) => (document.grants_full_admin(), document.denies_everything()),
        _ => (false, false),
    };
    let verdict = InlineVerdict { policy, grants, denies };
    let exists = now.is_some();
    let mut authorization = AuthorizationDetails::default();
    let subject = match owner {
        InlineOwner::User => {
            let mut user = attachments::user(clients, name).await?.ok_or_else(|| gone("user"))?;
            let names = attachments::user_policy_names(clients, name).await?.ok_or_else(|| gone("user"))?;
            learn_boundary(clients, &mut roster, user.permissions_boundary.as_deref()).await?;
            let fresh = Owner { arn: &user.arn, name: &user.name, boundary: user.permissions_boundary.as_deref() };
            roster.set_user_inline(fresh, verdict).map_err(|e| e.to_string())?;
            user.inline_policies = names_with(names, now);
            authorization.users.push(user);
            format!("user {name}")
        }
        InlineOwner::Role => {
            let mut role = attachments::role(clients, name).await?.ok_or_else(|| gone("role"))?;
            let names = attachments::role_policy_names(clients, name).await?.ok_or_else(|| gone("role"))?;
            learn_boundary(clients, &mut roster, role.permissions_boundary.as_deref()).await?;
            let fresh = Owner { arn: &role.arn, name: &role.name, boundary: role.permissions_boundary.as_deref() };
            roster.set_role_inline(fresh, role.is_service_linked(), verdict).map_err(|e| e.to_string())?;
            role.inline_policies = names_with(names, now);
            authorization.roles.push(role);
            format!("role {name}")
        }
        InlineOwner::Group => {
            let (mut group, members) = attachments::group_members(clients, name).await?.ok_or_else(|| gone("group"))?;
            roster.set_group_inline(&group.name, verdict, &members);
            group.inline_policies = now.into_iter().collect();
            authorization.groups.push(group);
            let count = members.len();
            format!("group {name} with its {count} {}", plural(count, "member"))
        }
    };
    let what = if exists { verdict_text(grants, denies) } else { "no longer exists" };
    let reason = format!(
        "{} changes inline policy {policy} of {subject}, which {what}: administrators counted from the roster kept in the state \
table (version {version}) with the policy and its owner read now",
        change.event_name
    );
    Ok(RosterRead::new(before, version, roster, authorization, reason))
}

/// The owner's inline policies by name, with the one read now in its place (in name order, as
/// the authorization details list them).
fn names_with(names: Vec<String>, read: Option<InlinePolicy>) -> Vec<InlinePolicy> {
    let mut policies = names_only(names);
    if let Some(read) = read {
        policies.retain(|p| p.name != read.name);
        let at = policies.partition_point(|p| p.name < read.name);
        policies.insert(at, read);
    }
    policies
}

fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        noun.to_string()
    } else {
        format!("{noun}s")
    }
}

/// A boundary the roster cannot classify yet: read its document (GetPolicy, GetPolicyVersion)
/// and record whether it caps (it does unless it allows everything; a document that does not
/// parse caps nothing, as when the roster is built).
async fn learn_boundary(clients: &Clients, roster: &mut Roster, boundary: Option<&str>) -> Result<(), String> {
    let Some(boundary) = boundary.filter(|b| !roster.knows_boundary(b)) else { return Ok(()) };
    let document =
        attachments::policy_document(clients, boundary).await?.ok_or_else(|| format!("boundary policy {boundary} no longer exists"))?;
    let caps = match PolicyDocument::parse_str(&document) {
        Ok(document) => {
            if document.grants_full_admin() || document.denies_everything() {
                roster.classify(boundary, document.grants_full_admin(), document.denies_everything());
            }
            !document.grants_full_admin()
        }
        Err(reason) => {
            tracing::warn!(%reason, policy = %boundary, "cannot parse the boundary policy; counting it as capping nothing");
            false
        }
    };
    roster.classify_boundary(boundary, caps);
    Ok(())
}

/// A boundary put or deleted: read the user or role now (GetUser or GetRole, for its boundary;
/// the boundary's document when the roster has never seen it: GetPolicy, GetPolicyVersion),
/// record whether the boundary caps it, and count the administrators from the roster. `Err`:
/// why the whole account must be read instead.
pub async fn boundary(clients: &Clients, stored: &StoredRoster, change: &Change) -> Result<RosterRead, String> {
    let (before, version) = stored.usable()?;
    let mut roster = before.clone();
    let mut authorization = AuthorizationDetails::default();
    let (subject, boundary) = match &change.entity {
        Entity::User(name) => {
            let user = attachments::user(clients, name).await?.ok_or_else(|| format!("user {name} no longer exists"))?;
            learn_boundary(clients, &mut roster, user.permissions_boundary.as_deref()).await?;
            roster
                .set_user_boundary(Owner { arn: &user.arn, name: &user.name, boundary: user.permissions_boundary.as_deref() })
                .map_err(|e| e.to_string())?;
            let boundary = user.permissions_boundary.clone();
            authorization.users.push(user);
            (format!("user {name}"), boundary)
        }
        Entity::Role(name) => {
            let role = attachments::role(clients, name).await?.ok_or_else(|| format!("role {name} no longer exists"))?;
            learn_boundary(clients, &mut roster, role.permissions_boundary.as_deref()).await?;
            let fresh = Owner { arn: &role.arn, name: &role.name, boundary: role.permissions_boundary.as_deref() };
            roster.set_role_boundary(fresh, role.is_service_linked()).map_err(|e| e.to_string())?;
            let boundary = role.permissions_boundary.clone();
            authorization.roles.push(role);
            (format!("role {name}"), boundary)
        }
        other => return Err(format!("a boundary of {other:?} is not handled through the roster")),
    };
    let now = match &boundary {
        Some(b) if roster.boundaries.get(b).copied().unwrap_or(false) => format!("boundary {b}, which caps it"),
        Some(b) => format!("boundary {b}, which caps nothing (it allows everything)"),
        None => "no boundary".to_string(),
    };
    let reason = format!(
        "{} changes the boundary of {subject}, read now with {now}: administrators counted from the roster kept in the state table \
(version {version})",
        change.event_name
    );
    Ok(RosterRead::new(before, version, roster, authorization, reason))
}

/// A managed policy created, deleted or given a new default version: read the policy now with
/// its default version's document (GetPolicy, GetPolicyVersion) and record whether it grants or
/// denies everything. Who holds it does not change with its document, so the administrators
/// change only when its verdict does; then, if it is attached to anything, who holds it is read
/// (ListEntitiesForPolicy) and the holders the roster does not know yet are read too (GetUser,
/// GetRole, GetGroup with its members; at most [`MAX_HOLDER_READS`]). A deleted policy (IAM
/// requires detaching it first) leaves the roster. `Err`: why the whole account must be read
/// instead (a read failed, more holders to read than that, or a policy in use as a permissions
/// boundary that now grants everything or no longer does: that changes who it caps, which the
/// roster cannot list).
pub async fn policy(clients: &Clients, stored: &StoredRoster, change: &Change) -> Result<RosterRead, String> {
    let Entity::Policy(arn) = &change.entity else { return Err("the event names no policy".into()) };
    if !arn.starts_with("arn:") {
        return Err(format!("the event names policy {arn} without its ARN"));
    }
    let (before, version) = stored.usable()?;
    let mut roster = before.clone();
    let mut authorization = AuthorizationDetails::default();
    let subject = match attachments::managed_policy(clients, arn).await? {
        Some((policy, boundary_usage)) => {
            let (grants, denies) = match &policy.document {
                Some(Ok(document)) => (document.grants_full_admin(), document.denies_everything()),
                _ => (false, false),
            };
            if grants != roster.grants(arn) && (boundary_usage.unwrap_or(0) > 0 || roster.boundaries.contains_key(arn)) {
                return Err(format!(
                    "{arn} now {} and is in use as a permissions boundary: who it caps is read with the whole account",
                    verdict_text(grants, denies)
                ));
            }
            let attached = policy.attachment_count.unwrap_or(1);
            let mut subject = format!("policy {arn} read now ({})", verdict_text(grants, denies));
            if (grants, denies) != (roster.grants(arn), roster.denies(arn)) && attached > 0 {
                let (holders, read) = holders(clients, &mut roster, arn, grants || denies).await?;
                roster.reclassify(arn, grants, denies, &holders).map_err(|e| e.to_string())?;
                subject += &format!(", who holds it read with ListEntitiesForPolicy{read}");
            } else {
                roster.classify(arn, grants, denies);
            }
            authorization.policies.push(policy);
            subject
        }
        None => {
            roster.classify(arn, false, false);
            format!("policy {arn} found deleted")
        }
    };
    let reason = format!(
        "{} changes a managed policy, not who holds it: administrators counted from the roster kept in the state table (version \
{version}) with {subject}",
        change.event_name
    );
    Ok(RosterRead::new(before, version, roster, authorization, reason))
}

/// How many holders of a policy whose verdict changed an event reads one by one (the ones the
/// roster does not hold) before it reads the whole account instead.
pub const MAX_HOLDER_READS: usize = 10;

/// Everyone a managed policy is attached to (ListEntitiesForPolicy), as the roster knows them
/// or, when the policy now grants or denies everything (`matters`), read now: GetUser or GetRole
/// (its ARN and boundary; a boundary the roster never saw is read too), GetGroup with its
/// members. Holders the roster does not know need no read when the policy stops mattering: they
/// held nothing that did. With the text the run's reason gets.
async fn holders(clients: &Clients, roster: &mut Roster, arn: &str, matters: bool) -> Result<(Holders, String), String> {
    let entities = attachments::policy_entities(clients, arn).await?.ok_or_else(|| format!("policy {arn} no longer exists"))?;
    // Each holder looked up in the roster once: `None` for one it does not hold.
    let users: Vec<_> = entities.users.iter().map(|name| (name, roster.user_named(name))).collect();
    let roles: Vec<_> = entities
        .roles
        .iter()
        .map(|(name, _)| name)
        .filter(|name| !roster.service_linked_roles.contains(*name))
        .map(|name| (name, roster.role_named(name)))
        .collect();
    let groups: Vec<_> = entities.groups.iter().map(|name| (name, roster.group_members(name))).collect();
    let unknown = users.iter().filter(|(_, k)| k.is_none()).count()
        + roles.iter().filter(|(_, k)| k.is_none()).count()
        + groups.iter().filter(|(_, k)| k.is_none()).count();
    if matters && unknown > MAX_HOLDER_READS {
        return Err(format!(
            "{arn} is attached to {unknown} users, groups or roles the administrator roster does not hold: they are read with the whole \
account"
        ));
    }
    let gone = |what: String| format!("{what}, which holds {arn}, no longer exists");
    let mut holders = Holders::default();
    for (name, known) in users {
        match known {
            Some(known) => holders.users.push(known),
            None if matters => {
                let user = attachments::user(clients, name).await?.ok_or_else(|| gone(format!("user {name}")))?;
                learn_boundary(clients, roster, user.permissions_boundary.as_deref()).await?;
                holders.users.push(Holder { arn: user.arn, name: user.name, boundary: user.permissions_boundary });
            }
            None => {}
        }
    }
    for (name, known) in roles {
        match known {
            Some(known) => holders.roles.push(known),
            None if matters => {
                let role = attachments::role(clients, name).await?.ok_or_else(|| gone(format!("role {name}")))?;
                if !role.is_service_linked() {
                    learn_boundary(clients, roster, role.permissions_boundary.as_deref()).await?;
                    holders.roles.push(Holder { arn: role.arn, name: role.name, boundary: role.permissions_boundary });
                }
            }
            None => {}
        }
    }
    for (name, known) in groups {
        match known {
            Some(members) => holders.groups.push((name.clone(), members)),
            None if matters => {
                let (_, members) = attachments::group_members(clients, name).await?.ok_or_else(|| gone(format!("group {name}")))?;
                holders.groups.push((name.clone(), members));
            }
            None => {}
        }
    }
    let count = entities.users.len() + entities.groups.len() + entities.roles.len();
    let read = match (matters, unknown) {
        (_, 0) => format!(" ({count} {}, known to the roster)", plural(count, "holder")),
        (true, n) => format!(" ({count} {}, {n} of them not in the roster read now)", plural(count, "holder")),
        (false, n) => {
            format!(" ({count} {}, {n} of them not in the roster and holding nothing else that matters)", plural(count, "holder"))
        }
    };
    Ok((holders, read))
}

fn verdict_text(grants: bool, denies: bool) -> &'static str {
    match (grants, denies) {
        (true, true) => "grants and denies every action on every resource",
        (true, false) => "grants every action on every resource",
        (false, true) => "denies every action on every resource",
        (false, false) => "neither grants nor denies every action on every resource",
    }
}

/// A user deleted. IAM deletes a user only once it is out of every group and holds no policy,
/// so the event changes who is an administrator only by removing the user from the roster.
/// Confirm the user is gone (GetUser) and that the account still has users (GetAccountSummary:
/// then whether it has users did not move; with none left, `individual-users` needs the whole
/// account), forget the user and count the administrators from the roster. The user's findings
/// resolve as a deleted entity's. `Err`: why the whole account must be read instead.
pub async fn deleted_user(clients: &Clients, stored: &StoredRoster, change: &Change) -> Result<RosterRead, String> {
    let Entity::User(name) = &change.entity else { return Err("the event names no user".into()) };
    let (before, version) = stored.usable()?;
    if attachments::user(clients, name).await?.is_some() {
        return Err(format!("user {name} exists again"));
    }
    let summary = iam_assurance_aws::collect::account_summary(&clients.iam).await?;
    match summary.users {
        Some(users) if users > 0 => {}
        Some(_) => return Err("the account has no users left: `individual-users` reads the whole account".into()),
        None => return Err("GetAccountSummary did not count the users".into()),
    }
    let mut roster = before.clone();
    roster.remove_user(name);
    let reason = format!(
        "{}: user {name} found deleted; administrators counted from the roster kept in the state table (version {version})",
        change.event_name
    );
    let mut read = RosterRead::new(before, version, roster, AuthorizationDetails::default(), reason);
    read.gone = true;
    // Users remain (GetAccountSummary said so): whether the account has users did not change.
    read.unmoved.push(Unmoved::Users);
    Ok(read)
}

/// A user renamed or moved to another path: read the user under its new name (GetUser), move
/// its roster entry to its new ARN and name, and count the administrators from the roster
/// (their names are in the administrator counts' messages). `Err`: why the whole account must be
/// read instead.
pub async fn renamed_user(clients: &Clients, stored: &StoredRoster, change: &Change) -> Result<RosterRead, String> {
    let (Entity::User(name), Some(Entity::User(former))) = (&change.entity, &change.related) else {
        return Err("the event names no renamed user".into());
    };
    let (before, version) = stored.usable()?;
    let user = attachments::user(clients, name).await?.ok_or_else(|| format!("user {name} no longer exists"))?;
    let mut roster = before.clone();
    roster.rename_user(former, &user.arn, &user.name);
    let mut authorization = AuthorizationDetails::default();
    authorization.users.push(user);
    let reason = format!(
        "{} renamed user {former} to {name}: administrators counted from the roster kept in the state table (version \
{version}) with the user read now",
        change.event_name
    );
    Ok(RosterRead::new(before, version, roster, authorization, reason))
}
