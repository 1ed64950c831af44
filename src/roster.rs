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
use iam_assurance_aws::state::{StateStore, WriteOutcome, MAX_ROSTER_BYTES};
use iam_assurance_aws::{attachments, Clients};
use std::collections::BTreeMap;

use iam_assurance_rules::inventory::{AuthorizationDetails, InlinePolicy, PolicyEntities};
use iam_assurance_rules::roster::{Fresh, Roster, FORMAT};

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

/// Inline policies known by name only: the rules an event evaluates from them read names.
fn names_only(names: Vec<String>) -> Vec<InlinePolicy> {
    names.into_iter().map(|name| InlinePolicy { name, document: Err("not read: only the name was needed".into()) }).collect()
}

/// Read the stored roster (one GetItem). A roster of another format or that does not parse is
/// reported as absent (and logged), with its version, so that the run can replace it.
pub async fn read(store: &StateStore) -> Result<Kept, String> {
    let Some(stored) = store.roster().await.map_err(|e| e.to_string())? else { return Ok(Kept::default()) };
    let roster = match serde_json::from_str::<Roster>(&stored.json) {
        Ok(roster) if roster.format == FORMAT => Some(roster),
        Ok(roster) => {
            tracing::warn!(format = roster.format, expected = FORMAT, "stored administrator roster has another format; not used");
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
/// (ListEntitiesForPolicy). `Err`: why the whole account must be read instead (no roster, the
/// entity or policy is gone, a read failed, a boundary the roster does not know).
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
            let fresh = Fresh { arn: &user.arn, name: &user.name, attached: &attached, boundary: user.permissions_boundary.as_deref() };
            roster.set_user(fresh).map_err(|e| e.to_string())?;
            authorization.users.push(user);
            rules.insert(0, "user-attached-policies");
            format!("user {name}'s attached policies")
        }
        Entity::Role(name) => {
            let role = attachments::role_with_attached_policies(clients, name).await?.ok_or_else(|| gone(&format!("role {name}")))?;
            let attached: Vec<String> = role.attached_policies.iter().map(|p| p.arn.clone()).collect();
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
        match (verdict.grants, verdict.denies) {
            (true, true) => "grants and denies every action on every resource",
            (true, false) => "grants every action on every resource",
            (false, true) => "denies every action on every resource",
            (false, false) => "is on the unapproved list",
        },
        if verdict.unapproved { ", and the policy's attachments read with ListEntitiesForPolicy" } else { "" }
    );
    Ok(RosterRead { roster, version, changed, authorization, policy_entities, group_members: None, gone: false, rules, reason })
}

/// Events that change a group's members, or create or delete a group.
pub const GROUP_EVENTS: &[&str] = &["AddUserToGroup", "RemoveUserFromGroup", "CreateGroup", "DeleteGroup"];

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
/// `inactive-role`, `role-inline-policies`, `min-admins`, `max-admins`. `Err`: why the whole
/// account must be read instead (no roster, a read failed, a boundary the roster does not know,
/// or the role holds a policy on the unapproved list, whose finding lists every entity).
pub async fn role(clients: &Clients, kept: &Kept, t: &Targeted, unapproved: &dyn Fn(&str) -> bool) -> Result<RosterRead, String> {
    let Entity::Role(name) = &t.entity else { return Err("the event names no role".into()) };
    let (before, version) = kept.usable()?;
    let mut roster = before.clone();
    let mut authorization = AuthorizationDetails::default();
    let read = attachments::role_with_attached_policies(clients, name).await?;
    let gone = read.is_none();
    let subject = match read {
        Some(mut role) => {
            if let Some(p) = role.attached_policies.iter().find(|p| unapproved(&p.arn)) {
                return Err(format!("role {name} holds {}, on the unapproved list", p.arn));
            }
            let attached: Vec<String> = role.attached_policies.iter().map(|p| p.arn.clone()).collect();
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
