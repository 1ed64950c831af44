//! The administrator roster on the live path (see `iam_assurance_rules::roster`): kept in the
//! finding-state table as one item, written by every run that read the whole account (a
//! sweep, or an event that had to), and updated by the events that can change who is an
//! administrator, so that those events need not read the whole account.
//!
//! Consistency: a run reads the roster's version before it reads IAM and writes its roster on
//! that version only. If another run wrote the roster in between, this run's view may be older
//! than what is stored, so it drops the roster instead: events then read the whole account
//! until the next sweep writes a new one. A stored roster that cannot be used (another format,
//! not JSON) is replaced the same way.

use chrono::{DateTime, Utc};
use iam_assurance_aws::attachments::{self, InlineOwner};
use iam_assurance_aws::state::{StateStore, WriteOutcome, MAX_ROSTER_BYTES};
use iam_assurance_aws::Clients;
use std::collections::BTreeMap;

use iam_assurance_rules::inventory::{AuthorizationDetails, InlinePolicy, PolicyEntities};
use iam_assurance_rules::policy::PolicyDocument;
use iam_assurance_rules::roster::{Fresh, Holder, Holders, InlineVerdict, Owner, Roster, FORMAT};

use crate::event::{Entity, Targeted};
use crate::live::RunError;

/// What the state table holds.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    /// The stored item's version; `None`: there is none.
    pub version: Option<u64>,
    /// The roster, when the item holds one this version can use.
    pub roster: Option<Roster>,
}

impl Kept {
    /// The roster and its version, or why an event cannot go through it.
    fn usable(&self) -> Result<(&Roster, u64), String> {
        match (&self.roster, self.version) {
            (Some(roster), Some(version)) => Ok((roster, version)),
            _ => Err("no administrator roster is kept yet (a sweep writes it)".into()),
        }
    }
}

/// The document of an inline policy known by name only.
const NOT_READ: &str = "not read: only the name was needed";

/// Inline policies known by name only: the rules an event evaluates from them read names.
fn names_only(names: Vec<String>) -> Vec<InlinePolicy> {
    names.into_iter().map(|name| InlinePolicy { name, document: Err(NOT_READ.into()) }).collect()
}

/// Read the stored roster (one GetItem). A roster of another format or that does not parse is
/// reported as absent (and logged), with its version, so that the run can replace it.
pub async fn read(store: &StateStore) -> Result<Kept, String> {
    let Some(stored) = store.roster().await.map_err(|e| e.to_string())? else { return Ok(Kept::default()) };
    // The format first: a roster of another format may not parse as this one.
    #[derive(serde::Deserialize)]
    struct Format {
        format: u32,
    }
    let roster = match serde_json::from_str::<Format>(&stored.json).map(|f| f.format) {
        Ok(FORMAT) => match serde_json::from_str::<Roster>(&stored.json) {
            Ok(roster) => Some(roster),
            Err(error) => {
                tracing::warn!(%error, "stored administrator roster does not parse; not used");
                None
            }
        },
        Ok(format) => {
            tracing::warn!(format, expected = FORMAT, "stored administrator roster has another format; not used");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "stored administrator roster does not parse; not used");
            None
        }
    };
    Ok(Kept { version: Some(stored.version), roster })
}

/// [`read`], or `None` with the reason logged: the run then neither uses nor rewrites it.
pub async fn read_or_warn(store: &StateStore) -> Option<Kept> {
    match read(store).await {
        Ok(kept) => Some(kept),
        Err(reason) => {
            tracing::warn!(%reason, "cannot read the administrator roster; not using or rewriting it");
            None
        }
    }
}

/// Store a roster rebuilt from the whole account unless the stored one (read before the run
/// read IAM) is the same: `unchanged`, or as [`keep`].
pub async fn keep_if_changed(
    store: &StateStore,
    roster: Roster,
    prior: Kept,
    by: &str,
    now: DateTime<Utc>,
) -> Result<&'static str, RunError> {
    if prior.roster.as_ref() == Some(&roster) {
        return Ok("unchanged");
    }
    keep(store, &roster, prior.version, by, now).await
}

/// Store a roster on the version the run read (`expect`; `None`: none existed). Returns what
/// happened, for the run JSON: `written`, `dropped` (another run wrote it since, or it is too
/// large to keep). A write that fails, and whose fallback delete fails too, is an error: a
/// stale roster would make later events count administrators wrong.
pub async fn keep(
    store: &StateStore,
    roster: &Roster,
    expect: Option<u64>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<&'static str, RunError> {
    let json = serde_json::to_string(roster).map_err(|e| RunError::State(format!("cannot serialize the administrator roster: {e}")))?;
    let why = if json.len() > MAX_ROSTER_BYTES {
        format!("the administrator roster is {} bytes, more than the {MAX_ROSTER_BYTES} an item can hold", json.len())
    } else {
        match store.put_roster(&json, expect, by, now).await {
            WriteOutcome::Written => return Ok("written"),
            WriteOutcome::Conflict => "another run wrote the administrator roster since this run read it".to_string(),
            WriteOutcome::Failed(e) => format!("cannot write the administrator roster: {e}"),
        }
    };
    tracing::warn!(reason = %why, "dropping the administrator roster: events read the whole account until the next sweep");
    match store.delete_roster().await {
        WriteOutcome::Written | WriteOutcome::Conflict => Ok("dropped"),
        WriteOutcome::Failed(e) => Err(RunError::State(format!("{why}, and it cannot be dropped either: {e}"))),
    }
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
    /// Whether the entity's read changed it (then it is written back).
    pub changed: bool,
    /// The entity read now (a user, role or group with its attached policies).
    pub authorization: AuthorizationDetails,
    /// Every entity the policy is attached to, when it is on the unapproved list.
    pub policy_entities: Option<PolicyEntities>,
    /// How many users the group read now has (a group event).
    pub group_members: Option<BTreeMap<String, usize>>,
    /// The event's group or role was found deleted (GetGroup/GetRole: no such entity).
    pub gone: bool,
    /// The rules it evaluates.
    pub rules: Vec<&'static str>,
    /// Why, for the run JSON.
    pub reason: String,
}

/// An attach or detach of a policy that grants or denies everything, or is unapproved, given the
/// roster as stored (`kept`): read the one user, role or group now (GetUser/GetRole + its attached policies, or GetGroup with
/// its members + its attached policies), replace what the roster knew of it, and count the
/// administrators from the roster; for an unapproved policy, read who it is attached to
/// (ListEntitiesForPolicy). A boundary the roster has never seen is read (GetPolicy,
/// GetPolicyVersion). `Err`: why the whole account must be read instead (no roster, the entity
/// or policy is gone, a read failed).
pub async fn attachment(clients: &Clients, kept: &Kept, t: &Targeted, verdict: Verdict) -> Result<RosterRead, String> {
    let Some(Entity::Policy(policy)) = &t.related else { return Err("the event names no policy ARN".into()) };
    let (before, version) = kept.usable()?;
    let mut roster = before.clone();
    roster.classify(policy, verdict.grants, verdict.denies);
    let gone = |what: &str| format!("{what} no longer exists");
    let mut authorization = AuthorizationDetails::default();
    let mut rules = vec!["min-admins", "max-admins"];
    let subject = match &t.entity {
        Entity::User(name) => {
            let user = attachments::user_with_attached_policies(clients, name).await?.ok_or_else(|| gone(&format!("user {name}")))?;
            let attached: Vec<String> = user.attached_policies.iter().map(|p| p.arn.clone()).collect();
            learn_boundary(clients, &mut roster, user.permissions_boundary.as_deref()).await?;
            let fresh = Fresh { arn: &user.arn, name: &user.name, attached: &attached, boundary: user.permissions_boundary.as_deref() };
            roster.set_user(fresh).map_err(|e| e.to_string())?;
            authorization.users.push(user);
            rules.insert(0, "user-attached-policies");
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
        rules.push("unapproved-policy-in-use");
        Some(entities)
    } else {
        None
    };
    let changed = roster != *before;
    let reason = format!(
        "{policy} {}: administrators counted from the roster kept in the state table (version {version}) with {subject} read now{}",
        if verdict.grants || verdict.denies { verdict_text(verdict.grants, verdict.denies) } else { "is on the unapproved list" },
        if verdict.unapproved { ", and the policy's attachments read with ListEntitiesForPolicy" } else { "" }
    );
    Ok(RosterRead { roster, version, changed, authorization, policy_entities, group_members: None, gone: false, rules, reason })
}

/// Events that change a group's members, create, rename or delete a group.
pub const GROUP_EVENTS: &[&str] = &["AddUserToGroup", "RemoveUserFromGroup", "CreateGroup", "UpdateGroup", "DeleteGroup"];

/// A group event (see [`GROUP_EVENTS`]), given the roster as stored (`kept`): read the group
/// now with its members and attached policies (GetGroup, every page, and
/// ListAttachedGroupPolicies), and, when it has no members, its inline policy names
/// (ListGroupPolicies, for `empty-group`'s message); replace what the roster knew of the group
/// and count the administrators from it. A group that no longer exists leaves the roster and
/// is reported gone. Rules: `empty-group`, `min-admins`, `max-admins`; who a managed policy is
/// attached to does not change with membership. `Err`: why the whole account must be read
/// instead (no roster, a read failed).
pub async fn group(clients: &Clients, kept: &Kept, t: &Targeted) -> Result<RosterRead, String> {
    let Entity::Group(name) = &t.entity else { return Err("the event names no group".into()) };
    let (before, version) = kept.usable()?;
    let mut roster = before.clone();
    // UpdateGroup: the former name (the new one is read below).
    if let (Some(Entity::Group(former)), "UpdateGroup") = (&t.related, t.event_name.as_str()) {
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
    let changed = roster != *before;
    let reason = format!(
        "{} changes a group: administrators counted from the roster kept in the state table (version {version}) with {subject}",
        t.event_name
    );
    Ok(RosterRead {
        roster,
        version,
        changed,
        authorization,
        policy_entities: None,
        group_members: Some(group_members),
        gone: group_gone,
        rules: vec!["empty-group", "min-admins", "max-admins"],
        reason,
    })
}

/// Events that create or delete a role, or change its trust policy.
pub const ROLE_EVENTS: &[&str] = &["CreateRole", "DeleteRole", "UpdateAssumeRolePolicy"];

/// A role event (see [`ROLE_EVENTS`]), given the roster as stored (`kept`): read the role now
/// (GetRole: its boundary and last use; ListAttachedRolePolicies; ListRolePolicies for its
/// inline policy names), replace what the roster knew of it (its inline policies' verdicts stay
/// as the roster has them: none of these events changes them) and count the administrators
/// from it. A role that no longer exists leaves the roster and is reported gone. Rules:
/// `inactive-role`, `role-inline-policies`, `min-admins`, `max-admins`. A boundary the roster
/// has never seen is read. None of these events changes what a managed policy is attached to
/// (CreateRole attaches nothing, IAM refuses DeleteRole while policies are attached), so
/// `unapproved-policy-in-use` is not among them, even for a role that holds an unapproved
/// policy. `Err`: why the whole account must be read instead (no roster, a read failed).
pub async fn role(clients: &Clients, kept: &Kept, t: &Targeted) -> Result<RosterRead, String> {
    let Entity::Role(name) = &t.entity else { return Err("the event names no role".into()) };
    let (before, version) = kept.usable()?;
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
    let changed = roster != *before;
    let reason = format!(
        "{} changes a role: administrators counted from the roster kept in the state table (version {version}) with {subject}",
        t.event_name
    );
    Ok(RosterRead {
        roster,
        version,
        changed,
        authorization,
        policy_entities: None,
        group_members: None,
        gone,
        rules: vec!["inactive-role", "role-inline-policies", "min-admins", "max-admins"],
        reason,
    })
}

/// Events that put or delete an inline policy.
pub const INLINE_EVENTS: &[&str] =
    &["PutUserPolicy", "DeleteUserPolicy", "PutGroupPolicy", "DeleteGroupPolicy", "PutRolePolicy", "DeleteRolePolicy"];

/// An inline policy event (see [`INLINE_EVENTS`]), given the roster as stored (`kept`): read the
/// one inline policy as it is now (GetUserPolicy, GetGroupPolicy or GetRolePolicy; gone after a
/// delete) and its owner (a user or role: GetUser or GetRole for its boundary, and its inline
/// policy names for `user-inline-policies` / `role-inline-policies`; a group: GetGroup with its
/// members), record whether the policy grants or denies everything, and count the
/// administrators from the roster. The other inline policies are known by name only, so
/// `admin-policy` is evaluated on this one: the caller names only its fingerprints. Rules:
/// `user-inline-policies` or `role-inline-policies`, `admin-policy`, `min-admins`,
/// `max-admins`. `Err`: why the whole account must be read instead (no roster, the owner is
/// gone, a read failed).
pub async fn inline(clients: &Clients, kept: &Kept, t: &Targeted) -> Result<RosterRead, String> {
    let policy = t.inline_policy.as_deref().ok_or("the event names no inline policy (requestParameters.policyName)")?;
    let (owner, name) = match &t.entity {
        Entity::User(name) => (InlineOwner::User, name),
        Entity::Group(name) => (InlineOwner::Group, name),
        Entity::Role(name) => (InlineOwner::Role, name),
        other => return Err(format!("an inline policy of {other:?} is not handled through the roster")),
    };
    let (before, version) = kept.usable()?;
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
    let (rules, subject) = match owner {
        InlineOwner::User => {
            let mut user = attachments::user(clients, name).await?.ok_or_else(|| gone("user"))?;
            let names = attachments::user_policy_names(clients, name).await?.ok_or_else(|| gone("user"))?;
            learn_boundary(clients, &mut roster, user.permissions_boundary.as_deref()).await?;
            let fresh = Owner { arn: &user.arn, name: &user.name, boundary: user.permissions_boundary.as_deref() };
            roster.set_user_inline(fresh, verdict).map_err(|e| e.to_string())?;
            user.inline_policies = names_with(names, now);
            authorization.users.push(user);
            (vec!["user-inline-policies", "admin-policy", "min-admins", "max-admins"], format!("user {name}"))
        }
        InlineOwner::Role => {
            let mut role = attachments::role(clients, name).await?.ok_or_else(|| gone("role"))?;
            let names = attachments::role_policy_names(clients, name).await?.ok_or_else(|| gone("role"))?;
            learn_boundary(clients, &mut roster, role.permissions_boundary.as_deref()).await?;
            let fresh = Owner { arn: &role.arn, name: &role.name, boundary: role.permissions_boundary.as_deref() };
            roster.set_role_inline(fresh, role.is_service_linked(), verdict).map_err(|e| e.to_string())?;
            role.inline_policies = names_with(names, now);
            authorization.roles.push(role);
            (vec!["role-inline-policies", "admin-policy", "min-admins", "max-admins"], format!("role {name}"))
        }
        InlineOwner::Group => {
            let (mut group, members) = attachments::group_members(clients, name).await?.ok_or_else(|| gone("group"))?;
            roster.set_group_inline(&group.name, verdict, &members);
            group.inline_policies = now.into_iter().collect();
            authorization.groups.push(group);
            let count = members.len();
            (vec!["admin-policy", "min-admins", "max-admins"], format!("group {name} with its {count} {}", plural(count, "member")))
        }
    };
    let changed = roster != *before;
    let what = if exists { verdict_text(grants, denies) } else { "no longer exists" };
    let reason = format!(
        "{} changes inline policy {policy} of {subject}, which {what}: administrators counted from the roster kept in the state \
table (version {version}) with the policy and its owner read now",
        t.event_name
    );
    Ok(RosterRead { roster, version, changed, authorization, policy_entities: None, group_members: None, gone: false, rules, reason })
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

/// Events that put or delete a user's or role's permissions boundary.
pub const BOUNDARY_EVENTS: &[&str] =
    &["PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary", "PutRolePermissionsBoundary", "DeleteRolePermissionsBoundary"];

/// A boundary event (see [`BOUNDARY_EVENTS`]), given the roster as stored (`kept`): read the user
/// or role now (GetUser or GetRole, for its boundary; the boundary's document when the roster
/// has never seen it: GetPolicy, GetPolicyVersion), record whether the boundary caps it, and
/// count the administrators from the roster. Rules: `min-admins`, `max-admins` (a boundary
/// changes nothing else the rules check). `Err`: why the whole account must be read instead.
pub async fn boundary(clients: &Clients, kept: &Kept, t: &Targeted) -> Result<RosterRead, String> {
    let (before, version) = kept.usable()?;
    let mut roster = before.clone();
    let mut authorization = AuthorizationDetails::default();
    let (subject, boundary) = match &t.entity {
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
    let changed = roster != *before;
    let now = match &boundary {
        Some(b) if roster.boundaries.get(b).copied().unwrap_or(false) => format!("boundary {b}, which caps it"),
        Some(b) => format!("boundary {b}, which caps nothing (it allows everything)"),
        None => "no boundary".to_string(),
    };
    let reason = format!(
        "{} changes the boundary of {subject}, read now with {now}: administrators counted from the roster kept in the state table \
(version {version})",
        t.event_name
    );
    Ok(RosterRead {
        roster,
        version,
        changed,
        authorization,
        policy_entities: None,
        group_members: None,
        gone: false,
        rules: vec!["min-admins", "max-admins"],
        reason,
    })
}

/// Events that create or delete a managed policy or change its default version.
pub const POLICY_EVENTS: &[&str] =
    &["CreatePolicy", "CreatePolicyVersion", "SetDefaultPolicyVersion", "DeletePolicyVersion", "DeletePolicy"];

/// A policy event (see [`POLICY_EVENTS`]), given the roster as stored (`kept`): read the policy
/// now with its default version's document (GetPolicy, GetPolicyVersion) and record whether it
/// grants or denies everything. Who holds it does not change with its document, so the
/// administrators change only when its verdict does; then, if it is attached to anything, who
/// holds it is read (ListEntitiesForPolicy) and the holders the roster does not know yet are
/// read too (GetUser, GetRole, GetGroup with its members; at most [`MAX_HOLDER_READS`]).
/// A deleted policy (IAM requires detaching it first) leaves the roster. Rules: `admin-policy`,
/// and `min-admins`, `max-admins` (not for `CreatePolicy`: a new policy is attached to nothing).
/// `Err`: why the whole account must be read instead (no roster, a read failed, more holders
/// to read than that, or a policy in use as a permissions boundary that now grants everything
/// or no longer does: that changes who it caps, which the roster cannot list).
pub async fn policy(clients: &Clients, kept: &Kept, t: &Targeted) -> Result<RosterRead, String> {
    let Entity::Policy(arn) = &t.entity else { return Err("the event names no policy".into()) };
    if !arn.starts_with("arn:") {
        return Err(format!("the event names policy {arn} without its ARN"));
    }
    let (before, version) = kept.usable()?;
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
    let changed = roster != *before;
    let rules = if t.event_name == "CreatePolicy" { vec!["admin-policy"] } else { vec!["admin-policy", "min-admins", "max-admins"] };
    let reason = format!(
        "{} changes a managed policy, not who holds it: administrators counted from the roster kept in the state table (version \
{version}) with {subject}",
        t.event_name
    );
    Ok(RosterRead { roster, version, changed, authorization, policy_entities: None, group_members: None, gone: false, rules, reason })
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

/// DeleteUser: IAM deletes a user only once it is out of every group and holds no policy, so
/// the event changes who is an administrator only by removing the user from the roster.
/// Given the roster as stored (`kept`): confirm the user is gone (GetUser) and that the account
/// still has users (GetAccountSummary: with none left, `individual-users` needs the whole
/// account), forget the user and count the administrators from the roster. The user's
/// findings resolve as a deleted entity's. Rules: `min-admins`, `max-admins`. `Err`: why the
/// whole account must be read instead.
pub async fn deleted_user(clients: &Clients, kept: &Kept, t: &Targeted) -> Result<RosterRead, String> {
    let Entity::User(name) = &t.entity else { return Err("the event names no user".into()) };
    let (before, version) = kept.usable()?;
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
    let changed = roster != *before;
    let reason = format!(
        "DeleteUser: user {name} found deleted; administrators counted from the roster kept in the state table (version {version})"
    );
    Ok(RosterRead {
        roster,
        version,
        changed,
        authorization: AuthorizationDetails::default(),
        policy_entities: None,
        group_members: None,
        gone: true,
        rules: vec!["min-admins", "max-admins"],
        reason,
    })
}

/// UpdateUser that renamed a user or moved it to another path, given the roster as stored
/// (`kept`): read the user under its new name (GetUser), move its roster entry to its new ARN
/// and name, and count the administrators from the roster (their names are in `min-admins` and
/// `max-admins` messages). Rules: `approved-users` (matched on names), `min-admins`,
/// `max-admins`. `Err`: why the whole account must be read instead.
pub async fn renamed_user(clients: &Clients, kept: &Kept, t: &Targeted) -> Result<RosterRead, String> {
    let (Entity::User(name), Some(Entity::User(former))) = (&t.entity, &t.related) else {
        return Err("the event names no renamed user".into());
    };
    let (before, version) = kept.usable()?;
    let user = attachments::user(clients, name).await?.ok_or_else(|| format!("user {name} no longer exists"))?;
    let mut roster = before.clone();
    roster.rename_user(former, &user.arn, &user.name);
    let changed = roster != *before;
    let mut authorization = AuthorizationDetails::default();
    authorization.users.push(user);
    let reason = format!(
        "UpdateUser renamed user {former} to {name}: administrators counted from the roster kept in the state table (version \
{version}) with the user read now"
    );
    Ok(RosterRead {
        roster,
        version,
        changed,
        authorization,
        policy_entities: None,
        group_members: None,
        gone: false,
        rules: vec!["approved-users", "min-admins", "max-admins"],
        reason,
    })
}
