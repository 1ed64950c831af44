//! The administrator roster: everything that decides who holds administrator access, small
//! enough to keep between runs.
//!
//! Who is an administrator ([`crate::principals`]) depends on every user, group and role of
//! the account, so counting administrators (min-admins, max-admins) used to need the whole
//! account's authorization details: `ceil(entities / 1000)` pages. The roster keeps only what
//! can make or unmake an administrator:
//!
//! - the managed policies whose document grants every action on every resource, and those
//!   that deny it;
//! - the policies in use as permissions boundaries, and whether each caps a principal below
//!   administrator;
//! - each group that holds such a policy (attached, or inline), with what it holds;
//! - each user that holds one itself, is in such a group or has a capping boundary; each role
//!   (not service-linked) that holds one itself, with its capping boundary;
//! - the names of the service-linked roles (an unapproved policy's message tells them apart).
//!
//! [`principals::admins`](crate::principals::admins) builds a roster from the authorization
//! details and derives the administrators from it: a sweep and an event that updated the
//! roster count through one function. An event re-reads the one principal or group it
//! changed ([`Roster::set_user`], [`Roster::set_role`], [`Roster::set_group`]), or the one
//! inline policy or boundary ([`Roster::set_user_inline`] and its role and group peers,
//! [`Roster::set_user_boundary`], [`Roster::set_role_boundary`]), or who holds a managed policy
//! whose new default version changed its verdict ([`Roster::reclassify`]), replaces what the
//! roster knew of it, and derives the administrators again.
//!
//! Everything is kept sorted (policies, inline policy names, groups), so a roster built from
//! the account and one updated by events since compare equal when they describe the same
//! account, and the administrators come out in one order: users, then roles, by ARN.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::inventory::{is_aws_managed_arn, Admin, AdminSource, AttachedPolicy, AuthorizationDetails, InlinePolicy, ManagedPolicy};
use crate::types::ResourceType;

/// The roster's format: a stored roster of another format is not used.
pub const FORMAT: u32 = 2;

/// AWS managed policies that are `Allow *` on `*`: administrator access by definition, even
/// when their document was not collected.
pub fn is_known_admin_policy(arn: &str) -> bool {
    is_aws_managed_arn(arn) && arn.ends_with(":policy/AdministratorAccess")
}

/// AWS managed policies that are `Deny *` on `*` (`AWSDenyAll`), even when their document was
/// not collected.
pub fn is_known_deny_policy(arn: &str) -> bool {
    is_aws_managed_arn(arn) && arn.ends_with(":policy/AWSDenyAll")
}

/// What one user, group or role holds itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holds {
    /// Attached managed policies that grant or deny everything (ARNs, sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<String>,
    /// Inline policies that grant everything (names, sorted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline_admin: Vec<String>,
    /// Inline policies that deny everything (names, sorted): named, so that an event that puts
    /// or deletes one inline policy can update them without reading the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inline_deny: Vec<String>,
}

impl Holds {
    fn is_empty(&self) -> bool {
        self.attached.is_empty() && self.inline_admin.is_empty() && self.inline_deny.is_empty()
    }

    /// One inline policy as it is now: whether it grants and whether it denies everything
    /// (both `false` once deleted).
    fn set_inline(&mut self, name: &str, grants: bool, denies: bool) {
        for (list, holds) in [(&mut self.inline_admin, grants), (&mut self.inline_deny, denies)] {
            match (list.binary_search_by(|n| n.as_str().cmp(name)), holds) {
                (Err(at), true) => list.insert(at, name.to_string()),
                (Ok(at), false) => {
                    list.remove(at);
                }
                _ => {}
            }
        }
    }
}

/// A user or role in the roster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    #[serde(flatten)]
    pub holds: Holds,
    /// The roster groups the user is in (names, sorted). Always empty for a role.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Its permissions boundary, only when it caps it below administrator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capped_by: Option<String>,
}

/// The roster. See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    pub format: u32,
    /// Managed policies that grant every action on every resource (ARNs).
    #[serde(default)]
    pub admin_policies: BTreeSet<String>,
    /// Managed policies that deny every action on every resource (ARNs).
    #[serde(default)]
    pub deny_policies: BTreeSet<String>,
    /// Every policy in use as a permissions boundary, and whether it caps (its document is
    /// known and does not itself allow everything).
    #[serde(default)]
    pub boundaries: BTreeMap<String, bool>,
    /// Groups that hold a policy granting or denying everything, by name.
    #[serde(default)]
    pub groups: BTreeMap<String, Holds>,
    /// Users by ARN.
    #[serde(default)]
    pub users: BTreeMap<String, Member>,
    /// Roles (not service-linked) by ARN.
    #[serde(default)]
    pub roles: BTreeMap<String, Member>,
    /// Names of the service-linked roles.
    #[serde(default)]
    pub service_linked_roles: BTreeSet<String>,
}

impl Default for Roster {
    fn default() -> Self {
        Roster {
            format: FORMAT,
            admin_policies: BTreeSet::new(),
            deny_policies: BTreeSet::new(),
            boundaries: BTreeMap::new(),
            groups: BTreeMap::new(),
            users: BTreeMap::new(),
            roles: BTreeMap::new(),
            service_linked_roles: BTreeSet::new(),
        }
    }
}

/// A permissions boundary the roster cannot classify: it was not in use as a boundary when the
/// roster was built, and its document is unknown. The caller reads the whole account instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownBoundary(pub String);

impl std::fmt::Display for UnknownBoundary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "permissions boundary {} is not in the administrator roster", self.0)
    }
}

/// A user or role as an event reads it: its ARN, name, the managed policies attached to it
/// now and its permissions boundary.
#[derive(Debug, Clone, Copy)]
pub struct Fresh<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub attached: &'a [String],
    pub boundary: Option<&'a str>,
}

/// A user or role as an inline-policy or boundary event reads it: its ARN, name and
/// permissions boundary (not its managed policies).
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    pub arn: &'a str,
    pub name: &'a str,
    pub boundary: Option<&'a str>,
}

/// One inline policy as an event read it: whether it grants and whether it denies every action
/// on every resource (both `false` when it no longer exists).
#[derive(Debug, Clone, Copy)]
pub struct InlineVerdict<'a> {
    pub policy: &'a str,
    pub grants: bool,
    pub denies: bool,
}

/// A user or role that holds a managed policy, as an event knows it: from the roster, or read
/// now (GetUser, GetRole) when the roster does not hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub arn: String,
    pub name: String,
    pub boundary: Option<String>,
}

/// Everyone a managed policy is attached to (ListEntitiesForPolicy), each as
/// [`Roster::reclassify`] needs it. Service-linked roles are left out: they count for no one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holders {
    pub users: Vec<Holder>,
    pub roles: Vec<Holder>,
    /// Groups by name, each with its members (ARN and name of each user).
    pub groups: Vec<(String, Vec<(String, String)>)>,
}

impl Roster {
    /// The roster of a complete account. `prior` (a roster kept from an earlier run) classifies
    /// the AWS managed policies whose documents `aad` lacks (an event reads the account without
    /// them): a policy's grant, deny and boundary verdicts are taken from it.
    pub fn from_aad(aad: &AuthorizationDetails, prior: Option<&Roster>) -> Roster {
        let mut policies: HashMap<&str, &ManagedPolicy> = HashMap::with_capacity(aad.policies.len());
        for policy in &aad.policies {
            policies.entry(policy.arn.as_str()).or_insert(policy);
        }
        let known = |arn: &str| -> Option<(bool, bool)> {
            match policies.get(arn).and_then(|p| p.document.as_ref()) {
                Some(Ok(doc)) => Some((doc.grants_full_admin(), doc.denies_everything())),
                _ => None,
            }
        };
        let mut roster = Roster::default();
        // Every policy the account's entities hold or the details list.
        let mut classify = |arn: &str| {
            let (admin, deny) = match known(arn) {
                Some(verdict) => verdict,
                None => match prior.filter(|_| is_aws_managed_arn(arn)) {
                    Some(p) => (p.admin_policies.contains(arn), p.deny_policies.contains(arn)),
                    None => (false, false),
                },
            };
            if admin || is_known_admin_policy(arn) {
                roster.admin_policies.insert(arn.to_string());
            }
            if deny || is_known_deny_policy(arn) {
                roster.deny_policies.insert(arn.to_string());
            }
        };
        let attached = aad
            .users
            .iter()
            .flat_map(|u| &u.attached_policies)
            .chain(aad.groups.iter().flat_map(|g| &g.attached_policies))
            .chain(aad.roles.iter().flat_map(|r| &r.attached_policies));
        for arn in aad.policies.iter().map(|p| p.arn.as_str()).chain(attached.map(|p| p.arn.as_str())) {
            classify(arn);
        }
        // Boundaries: a known document caps unless it allows everything; an unknown one does
        // not (better over-count than hide an administrator).
        let boundaries = aad.users.iter().filter_map(|u| u.permissions_boundary.as_deref());
        let boundaries = boundaries.chain(aad.roles.iter().filter_map(|r| r.permissions_boundary.as_deref()));
        for arn in boundaries {
            let caps = if is_known_admin_policy(arn) {
                false
            } else {
                match known(arn) {
                    Some((admin, _)) => !admin,
                    None => prior.filter(|_| is_aws_managed_arn(arn)).and_then(|p| p.boundaries.get(arn).copied()).unwrap_or(false),
                }
            };
            roster.boundaries.insert(arn.to_string(), caps);
        }
        for group in &aad.groups {
            let holds = roster.holds(&group.attached_policies, &group.inline_policies);
            if !holds.is_empty() && !roster.groups.contains_key(&group.name) {
                roster.groups.insert(group.name.clone(), holds);
            }
        }
        for user in &aad.users {
            let mut groups: Vec<String> = user.groups.iter().filter(|g| roster.groups.contains_key(*g)).cloned().collect();
            groups.sort();
            groups.dedup();
            let member = Member {
                name: user.name.clone(),
                holds: roster.holds(&user.attached_policies, &user.inline_policies),
                groups,
                capped_by: roster.capping(user.permissions_boundary.as_deref()),
            };
            if keep_user(&member) && !roster.users.contains_key(&user.arn) {
                roster.users.insert(user.arn.clone(), member);
            }
        }
        for role in &aad.roles {
            if role.is_service_linked() {
                roster.service_linked_roles.insert(role.name.clone());
                continue;
            }
            let member = Member {
                name: role.name.clone(),
                holds: roster.holds(&role.attached_policies, &role.inline_policies),
                groups: Vec::new(),
                capped_by: roster.capping(role.permissions_boundary.as_deref()),
            };
            if keep_role(&member) && !roster.roles.contains_key(&role.arn) {
                roster.roles.insert(role.arn.clone(), member);
            }
        }
        roster
    }

    /// Whether a managed policy grants everything (by the roster, or by definition).
    pub fn grants(&self, arn: &str) -> bool {
        self.admin_policies.contains(arn) || is_known_admin_policy(arn)
    }

    /// Whether a managed policy denies everything (by the roster, or by definition).
    pub fn denies(&self, arn: &str) -> bool {
        self.deny_policies.contains(arn) || is_known_deny_policy(arn)
    }

    /// Record a managed policy's current verdict (an event read its document).
    pub fn classify(&mut self, arn: &str, grants: bool, denies: bool) {
        if grants {
            self.admin_policies.insert(arn.to_string());
        } else {
            self.admin_policies.remove(arn);
        }
        if denies {
            self.deny_policies.insert(arn.to_string());
        } else {
            self.deny_policies.remove(arn);
        }
    }

    fn holds(&self, attached: &[AttachedPolicy], inline: &[InlinePolicy]) -> Holds {
        let mut holds = Holds { attached: self.relevant(attached.iter().map(|p| p.arn.as_str())), ..Holds::default() };
        for policy in inline {
            if let Ok(doc) = &policy.document {
                if doc.grants_full_admin() {
                    holds.inline_admin.push(policy.name.clone());
                }
                if doc.denies_everything() {
                    holds.inline_deny.push(policy.name.clone());
                }
            }
        }
        for list in [&mut holds.inline_admin, &mut holds.inline_deny] {
            list.sort();
            list.dedup();
        }
        holds
    }

    /// The attached policies that grant or deny everything, sorted.
    fn relevant<'p>(&self, attached: impl Iterator<Item = &'p str>) -> Vec<String> {
        let mut out: Vec<String> = attached.filter(|arn| self.grants(arn) || self.denies(arn)).map(str::to_string).collect();
        out.sort();
        out.dedup();
        out
    }

    /// The boundary, when it caps (as classified when the roster was built).
    fn capping(&self, boundary: Option<&str>) -> Option<String> {
        boundary.filter(|b| self.boundaries.get(*b).copied().unwrap_or(false)).map(str::to_string)
    }

    /// Whether a boundary caps, or `Err` when the roster cannot tell.
    fn caps(&self, boundary: &str) -> Result<bool, UnknownBoundary> {
        if is_known_admin_policy(boundary) || self.admin_policies.contains(boundary) {
            return Ok(false);
        }
        self.boundaries.get(boundary).copied().ok_or_else(|| UnknownBoundary(boundary.to_string()))
    }

    /// Replace what the roster knows of a user's attached policies and boundary with a fresh
    /// read (its inline policies and groups stay as they were).
    pub fn set_user(&mut self, user: Fresh<'_>) -> Result<(), UnknownBoundary> {
        self.set_member(ResourceType::User, user)
    }

    /// Replace what the roster knows of a role's attached policies and boundary with a fresh
    /// read. A service-linked role is only recorded as such.
    pub fn set_role(&mut self, role: Fresh<'_>, service_linked: bool) -> Result<(), UnknownBoundary> {
        if service_linked {
            self.service_linked_roles.insert(role.name.to_string());
            self.roles.remove(role.arn);
            return Ok(());
        }
        self.set_member(ResourceType::Role, role)
    }

    /// Forget a user that no longer exists (by name: names are unique among users, and the
    /// event that deleted it does not give its path).
    pub fn remove_user(&mut self, name: &str) {
        self.users.retain(|_, m| m.name != name);
    }

    /// A user renamed (or moved to another path): its entry moves to its new ARN and name.
    pub fn rename_user(&mut self, old_name: &str, arn: &str, name: &str) {
        let Some(old_arn) = self.user_named(old_name).map(|h| h.arn) else { return };
        if let Some(mut member) = self.users.remove(&old_arn) {
            member.name = name.to_string();
            self.users.insert(arn.to_string(), member);
        }
    }

    /// A group renamed: what it holds, and its members' memberships, move to the new name.
    pub fn rename_group(&mut self, old_name: &str, name: &str) {
        if old_name == name {
            return;
        }
        if let Some(holds) = self.groups.remove(old_name) {
            self.groups.insert(name.to_string(), holds);
        }
        for member in self.users.values_mut() {
            if let Some(at) = member.groups.iter().position(|g| g == old_name) {
                member.groups.remove(at);
                if let Err(at) = member.groups.binary_search_by(|g| g.as_str().cmp(name)) {
                    member.groups.insert(at, name.to_string());
                }
            }
        }
    }

    /// Forget a role that no longer exists (by name: names are unique among roles, and the
    /// event that deleted it does not give its path).
    pub fn remove_role(&mut self, name: &str) {
        self.roles.retain(|_, m| m.name != name);
        self.service_linked_roles.remove(name);
    }

    fn set_member(&mut self, kind: ResourceType, fresh: Fresh<'_>) -> Result<(), UnknownBoundary> {
        let capped_by = self.fresh_boundary(fresh.boundary)?;
        let attached = self.relevant(fresh.attached.iter().map(String::as_str));
        self.update_member(kind, fresh.arn, fresh.name, |member| {
            member.holds.attached = attached;
            member.capped_by = capped_by;
        });
        Ok(())
    }

    /// Apply `update` to a user or role (added when the roster did not hold it: then it held
    /// nothing that matters), and keep it only if it still matters.
    fn update_member(&mut self, kind: ResourceType, arn: &str, name: &str, update: impl FnOnce(&mut Member)) {
        let keep: fn(&Member) -> bool = if kind == ResourceType::Role { keep_role } else { keep_user };
        let members = if kind == ResourceType::Role { &mut self.roles } else { &mut self.users };
        let member = members.entry(arn.to_string()).or_insert_with(|| Member { name: name.to_string(), ..Member::default() });
        member.name = name.to_string();
        update(member);
        if !keep(member) {
            members.remove(arn);
        }
    }

    /// One inline policy of a user as an event read it now, with the user's boundary now. The
    /// user's other policies and groups stay as they were. `Err` for a boundary the roster
    /// cannot classify (see [`Roster::classify_boundary`]).
    pub fn set_user_inline(&mut self, user: Owner<'_>, inline: InlineVerdict<'_>) -> Result<(), UnknownBoundary> {
        let capped_by = self.fresh_boundary(user.boundary)?;
        self.update_member(ResourceType::User, user.arn, user.name, |member| {
            member.holds.set_inline(inline.policy, inline.grants, inline.denies);
            member.capped_by = capped_by;
        });
        Ok(())
    }

    /// One inline policy of a role as an event read it now, with the role's boundary now (the
    /// roster does not keep the boundary of a role that holds nothing that matters). A
    /// service-linked role is only recorded as such.
    pub fn set_role_inline(&mut self, role: Owner<'_>, service_linked: bool, inline: InlineVerdict<'_>) -> Result<(), UnknownBoundary> {
        let capped_by = self.fresh_boundary(role.boundary)?;
        if service_linked {
            self.service_linked_roles.insert(role.name.to_string());
            self.roles.remove(role.arn);
            return Ok(());
        }
        self.update_member(ResourceType::Role, role.arn, role.name, |member| {
            member.holds.set_inline(inline.policy, inline.grants, inline.denies);
            member.capped_by = capped_by;
        });
        Ok(())
    }

    /// One inline policy of a group as an event read it now, with the group's members now
    /// (ARN and name of each user: a group that comes to matter brings them into the roster).
    pub fn set_group_inline(&mut self, name: &str, inline: InlineVerdict<'_>, members: &[(String, String)]) {
        let mut holds = self.groups.get(name).cloned().unwrap_or_default();
        holds.set_inline(inline.policy, inline.grants, inline.denies);
        self.set_group_holds(name, holds, members);
    }

    /// Whether the roster can tell if this boundary caps a principal.
    pub fn knows_boundary(&self, boundary: &str) -> bool {
        self.caps(boundary).is_ok()
    }

    /// Record whether a policy caps a principal below administrator when used as a boundary (an
    /// event read its document: it caps unless it allows everything).
    pub fn classify_boundary(&mut self, boundary: &str, caps: bool) {
        self.boundaries.insert(boundary.to_string(), caps);
    }

    /// A user's permissions boundary as an event read it now (its policies and groups stay as
    /// they were). `Err` for a boundary the roster cannot classify.
    pub fn set_user_boundary(&mut self, user: Owner<'_>) -> Result<(), UnknownBoundary> {
        let capped_by = self.fresh_boundary(user.boundary)?;
        self.update_member(ResourceType::User, user.arn, user.name, |member| member.capped_by = capped_by);
        Ok(())
    }

    /// A role's permissions boundary as an event read it now (see [`Roster::set_user_boundary`]).
    pub fn set_role_boundary(&mut self, role: Owner<'_>, service_linked: bool) -> Result<(), UnknownBoundary> {
        let capped_by = self.fresh_boundary(role.boundary)?;
        if service_linked {
            self.service_linked_roles.insert(role.name.to_string());
            self.roles.remove(role.arn);
            return Ok(());
        }
        self.update_member(ResourceType::Role, role.arn, role.name, |member| member.capped_by = capped_by);
        Ok(())
    }

    fn fresh_boundary(&mut self, boundary: Option<&str>) -> Result<Option<String>, UnknownBoundary> {
        let Some(boundary) = boundary else { return Ok(None) };
        let caps = self.caps(boundary)?;
        self.boundaries.insert(boundary.to_string(), caps);
        Ok(caps.then(|| boundary.to_string()))
    }

    /// A user the roster holds, by name, as [`Roster::reclassify`] takes it (its boundary: the
    /// one that caps it, if any; one that caps nothing changes nothing).
    pub fn user_named(&self, name: &str) -> Option<Holder> {
        Self::named(&self.users, name)
    }

    /// A role the roster holds, by name (see [`Roster::user_named`]).
    pub fn role_named(&self, name: &str) -> Option<Holder> {
        Self::named(&self.roles, name)
    }

    fn named(members: &BTreeMap<String, Member>, name: &str) -> Option<Holder> {
        members.iter().find(|(_, m)| m.name == name).map(|(arn, m)| Holder {
            arn: arn.clone(),
            name: m.name.clone(),
            boundary: m.capped_by.clone(),
        })
    }

    /// The members of a group the roster holds (every user in such a group is in the roster),
    /// or `None` for a group it does not hold.
    pub fn group_members(&self, name: &str) -> Option<Vec<(String, String)>> {
        self.groups.contains_key(name).then(|| {
            self.users.iter().filter(|(_, m)| m.groups.iter().any(|g| g == name)).map(|(arn, m)| (arn.clone(), m.name.clone())).collect()
        })
    }

    /// A managed policy whose verdict changed (a new default version), with everyone it is
    /// attached to now: record the verdict, and replace what the roster knew of who holds it
    /// with `holders`. For a policy that is not in use as a permissions boundary (a boundary's
    /// verdict changes who it caps, which `holders` does not say). `Err` for a holder's
    /// boundary the roster cannot classify.
    pub fn reclassify(&mut self, arn: &str, grants: bool, denies: bool, holders: &Holders) -> Result<(), UnknownBoundary> {
        self.classify(arn, grants, denies);
        // Nobody holds it as far as the roster knows ...
        for members in [&mut self.users, &mut self.roles] {
            for member in members.values_mut() {
                member.holds.attached.retain(|p| p != arn);
            }
        }
        self.users.retain(|_, m| keep_user(m));
        self.roles.retain(|_, m| keep_role(m));
        let held: Vec<String> = self.groups.iter().filter(|(_, h)| h.attached.iter().any(|p| p == arn)).map(|(g, _)| g.clone()).collect();
        for group in held {
            let mut holds = self.groups[&group].clone();
            holds.attached.retain(|p| p != arn);
            let members = self.group_members(&group).unwrap_or_default();
            self.set_group_holds(&group, holds, &members);
        }
        if !(grants || denies) {
            return Ok(());
        }
        // ... then everyone who does, now that it matters.
        for (kind, holders) in [(ResourceType::User, &holders.users), (ResourceType::Role, &holders.roles)] {
            for holder in holders {
                let capped_by = self.fresh_boundary(holder.boundary.as_deref())?;
                self.update_member(kind, &holder.arn, &holder.name, |member| {
                    insert_sorted(&mut member.holds.attached, arn);
                    member.capped_by = capped_by;
                });
            }
        }
        for (group, members) in &holders.groups {
            let mut holds = self.groups.get(group).cloned().unwrap_or_default();
            insert_sorted(&mut holds.attached, arn);
            self.set_group_holds(group, holds, members);
        }
        Ok(())
    }

    /// Replace what the roster knows of a group's attached policies and members with a fresh
    /// read (`members`: ARN and name of each user in it now; its inline policies stay as
    /// they were).
    pub fn set_group(&mut self, name: &str, attached: &[String], members: &[(String, String)]) {
        let mut holds = self.groups.get(name).cloned().unwrap_or_default();
        holds.attached = self.relevant(attached.iter().map(String::as_str));
        self.set_group_holds(name, holds, members);
    }

    /// What a group holds now, with its members now.
    fn set_group_holds(&mut self, name: &str, holds: Holds, members: &[(String, String)]) {
        let relevant = !holds.is_empty();
        if relevant {
            self.groups.insert(name.to_string(), holds);
        } else {
            self.groups.remove(name);
        }
        let now_in: BTreeSet<&str> = if relevant { members.iter().map(|(arn, _)| arn.as_str()).collect() } else { BTreeSet::new() };
        for (arn, member) in &mut self.users {
            if !now_in.contains(arn.as_str()) {
                member.groups.retain(|g| g != name);
            }
        }
        if relevant {
            for (arn, user_name) in members {
                let member = self.users.entry(arn.clone()).or_insert_with(|| Member { name: user_name.clone(), ..Member::default() });
                if let Err(at) = member.groups.binary_search_by(|g| g.as_str().cmp(name)) {
                    member.groups.insert(at, name.to_string());
                }
            }
        }
        self.users.retain(|_, m| keep_user(m));
    }

    /// Every principal with administrator access: users, then roles, by ARN; each with every
    /// path that grants it (its own attached policies, its own inline policies, then group by
    /// group), unless a policy denying everything or a capping boundary cancels it.
    pub fn admins(&self) -> Vec<Admin> {
        let mut out = Vec::new();
        for (kind, members) in [(ResourceType::User, &self.users), (ResourceType::Role, &self.roles)] {
            for (arn, member) in members {
                let mut grants = Grants::default();
                grants.add(self, None, &member.holds);
                for group in &member.groups {
                    if let Some(holds) = self.groups.get(group) {
                        grants.add(self, Some(group), holds);
                    }
                }
                if !grants.via.is_empty() && !grants.deny && member.capped_by.is_none() {
                    out.push(Admin { resource_type: kind, arn: arn.clone(), name: member.name.clone(), via: grants.via });
                }
            }
        }
        out
    }
}

fn insert_sorted(list: &mut Vec<String>, item: &str) {
    if let Err(at) = list.binary_search_by(|p| p.as_str().cmp(item)) {
        list.insert(at, item.to_string());
    }
}

fn keep_user(member: &Member) -> bool {
    !member.holds.is_empty() || !member.groups.is_empty() || member.capped_by.is_some()
}

fn keep_role(member: &Member) -> bool {
    !member.holds.is_empty()
}

/// What grants one principal administrator access, path by path, and whether anything it
/// holds denies everything.
#[derive(Default)]
struct Grants {
    via: Vec<AdminSource>,
    deny: bool,
}

impl Grants {
    fn add(&mut self, roster: &Roster, group: Option<&str>, holds: &Holds) {
        for arn in &holds.attached {
            if roster.grants(arn) {
                self.via.push(match group {
                    None => AdminSource::Attached { policy_arn: arn.clone() },
                    Some(g) => AdminSource::GroupAttached { group: g.to_string(), policy_arn: arn.clone() },
                });
            }
            self.deny |= roster.denies(arn);
        }
        for name in &holds.inline_admin {
            self.via.push(match group {
                None => AdminSource::Inline { policy_name: name.clone() },
                Some(g) => AdminSource::GroupInline { group: g.to_string(), policy_name: name.clone() },
            });
        }
        self.deny |= !holds.inline_deny.is_empty();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Group, Role, User};
    use crate::testkit::*;
    use serde_json::{json, Value};

    /// The administrator count as `principals::admins` computed it before the roster: straight
    /// from the authorization details, in IAM's order. The oracle the roster must agree with.
    fn reference_admins(aad: &AuthorizationDetails) -> Vec<(String, BTreeSet<AdminSource>)> {
        let policies: HashMap<&str, &ManagedPolicy> = aad.policies.iter().map(|p| (p.arn.as_str(), p)).collect();
        let groups: HashMap<&str, &Group> = aad.groups.iter().map(|g| (g.name.as_str(), g)).collect();
        let add = |via: &mut BTreeSet<AdminSource>,
                   deny: &mut bool,
                   group: Option<&str>,
                   attached: &[AttachedPolicy],
                   inline: &[InlinePolicy]| {
            for p in attached {
                let source = match group {
                    None => AdminSource::Attached { policy_arn: p.arn.clone() },
                    Some(g) => AdminSource::GroupAttached { group: g.into(), policy_arn: p.arn.clone() },
                };
                if let Some(Some(Ok(doc))) = policies.get(p.arn.as_str()).map(|p| p.document.as_ref()) {
                    if doc.grants_full_admin() {
                        via.insert(source);
                    }
                    *deny |= doc.denies_everything();
                } else if is_known_admin_policy(&p.arn) {
                    via.insert(source);
                }
            }
            for p in inline {
                if let Ok(doc) = &p.document {
                    if doc.grants_full_admin() {
                        via.insert(match group {
                            None => AdminSource::Inline { policy_name: p.name.clone() },
                            Some(g) => AdminSource::GroupInline { group: g.into(), policy_name: p.name.clone() },
                        });
                    }
                    *deny |= doc.denies_everything();
                }
            }
        };
        let caps = |b: Option<&String>| match b {
            None => false,
            Some(arn) if is_known_admin_policy(arn) => false,
            Some(arn) => matches!(policies.get(arn.as_str()).and_then(|p| p.document.as_ref()), Some(Ok(d)) if !d.grants_full_admin()),
        };
        let mut out = Vec::new();
        for u in &aad.users {
            let (mut via, mut deny) = (BTreeSet::new(), false);
            add(&mut via, &mut deny, None, &u.attached_policies, &u.inline_policies);
            for g in &u.groups {
                if let Some(group) = groups.get(g.as_str()) {
                    add(&mut via, &mut deny, Some(g), &group.attached_policies, &group.inline_policies);
                }
            }
            if !via.is_empty() && !deny && !caps(u.permissions_boundary.as_ref()) {
                out.push((u.arn.clone(), via));
            }
        }
        for r in aad.roles.iter().filter(|r| !r.is_service_linked()) {
            let (mut via, mut deny) = (BTreeSet::new(), false);
            add(&mut via, &mut deny, None, &r.attached_policies, &r.inline_policies);
            if !via.is_empty() && !deny && !caps(r.permissions_boundary.as_ref()) {
                out.push((r.arn.clone(), via));
            }
        }
        out.sort();
        out
    }

    fn normalized(admins: &[Admin]) -> Vec<(String, BTreeSet<AdminSource>)> {
        let mut out: Vec<_> = admins.iter().map(|a| (a.arn.clone(), a.via.iter().cloned().collect())).collect();
        out.sort();
        out
    }

    /// A small deterministic generator (no dependency for one test).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        fn chance(&mut self, percent: u64) -> bool {
            self.next() % 100 < percent
        }
    }

    fn deny_doc() -> Value {
        json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]})
    }

    fn both_doc() -> Value {
        json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"*","Resource":"*"}]})
    }

    const AWS_DENY_ALL: &str = "arn:aws:iam::aws:policy/AWSDenyAll";

    /// Every kind of policy that matters: granting, denying, both, conditional, neither, and
    /// one whose document was not collected.
    fn policies() -> Vec<ManagedPolicy> {
        vec![
            managed(ADMINISTRATOR_ACCESS, admin_doc()),
            managed(AWS_DENY_ALL, deny_doc()),
            managed("everything", admin_doc()),
            managed("quarantine", deny_doc()),
            managed("reader", read_only_doc()),
            managed("both", both_doc()),
            managed(
                "conditional",
                json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}),
            ),
        ]
    }

    fn pick_attached(rng: &mut Lcg, pool: &[ManagedPolicy]) -> Vec<AttachedPolicy> {
        let mut out = Vec::new();
        for _ in 0..rng.below(3) {
            if rng.chance(10) {
                out.push(AttachedPolicy { name: "not-collected".into(), arn: policy_arn("not-collected") });
            } else {
                out.push(attach(&pool[rng.below(pool.len())]));
            }
        }
        out
    }

    fn pick_inline(rng: &mut Lcg) -> Vec<InlinePolicy> {
        let docs = [admin_doc(), deny_doc(), read_only_doc()];
        (0..rng.below(3)).map(|i| inline(&format!("p{}", (i + rng.below(3)) % 3), docs[rng.below(3)].clone())).collect()
    }

    fn pick_boundary(rng: &mut Lcg) -> Option<String> {
        let choices = [policy_arn("reader"), policy_arn("everything"), policy_arn("not-collected"), ADMINISTRATOR_ACCESS.to_string()];
        rng.chance(20).then(|| choices[rng.below(choices.len())].clone())
    }

    fn account(seed: u64) -> AuthorizationDetails {
        let mut rng = Lcg(seed);
        let pool = policies();
        let mut aad = AuthorizationDetails { complete: true, policies: pool.clone(), ..Default::default() };
        for g in 0..6 {
            let mut group = group(&format!("g{g}"));
            if rng.chance(60) {
                group.attached_policies = pick_attached(&mut rng, &pool);
            }
            if rng.chance(30) {
                group.inline_policies = pick_inline(&mut rng);
            }
            aad.groups.push(group);
        }
        for u in 0..25 {
            let mut user = user(&format!("u{:02}", 24 - u));
            if rng.chance(40) {
                user.attached_policies = pick_attached(&mut rng, &pool);
            }
            if rng.chance(20) {
                user.inline_policies = pick_inline(&mut rng);
            }
            for _ in 0..rng.below(3) {
                user.groups.push(format!("g{}", rng.below(7)));
            }
            user.permissions_boundary = pick_boundary(&mut rng);
            aad.users.push(user);
        }
        for r in 0..10 {
            let mut role = if rng.chance(15) { service_linked_role(&format!("AWSServiceRoleFor{r}")) } else { role(&format!("r{r}")) };
            if rng.chance(50) {
                role.attached_policies = pick_attached(&mut rng, &pool);
            }
            if rng.chance(20) {
                role.inline_policies = pick_inline(&mut rng);
            }
            role.permissions_boundary = pick_boundary(&mut rng);
            aad.roles.push(role);
        }
        aad
    }

    #[test]
    fn the_roster_counts_exactly_as_the_authorization_details_do() {
        let mut admins_seen = 0;
        for seed in 0..400 {
            let aad = account(seed);
            let roster = Roster::from_aad(&aad, None);
            let admins = roster.admins();
            assert_eq!(normalized(&admins), reference_admins(&aad), "seed {seed}");
            admins_seen += admins.len();
            // Users by ARN, then roles by ARN.
            let order: Vec<(bool, &str)> = admins.iter().map(|a| (a.resource_type == ResourceType::Role, a.arn.as_str())).collect();
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(order, sorted, "seed {seed}");
            // It survives being stored.
            let stored = serde_json::to_string(&roster).unwrap();
            assert_eq!(serde_json::from_str::<Roster>(&stored).unwrap(), roster, "seed {seed}");
        }
        // The generator makes accounts with administrators, not only empty lists.
        assert!(admins_seen > 1000, "{admins_seen}");
    }

    fn arns(attached: &[AttachedPolicy]) -> Vec<String> {
        attached.iter().map(|p| p.arn.clone()).collect()
    }

    /// Change one user's, role's or group's attachments (and a user's boundary, or a group's
    /// members), inline policies or boundary, as an event would, then check that the roster updated from the event's fresh
    /// read equals the roster built again from the changed account.
    #[test]
    fn event_updates_agree_with_a_rebuild() {
        let pool = policies();
        let mut changed_admins = 0;
        for seed in 0..400 {
            let before = account(seed);
            let mut rng = Lcg(seed ^ 0x5eed);
            let mut after = before.clone();
            let mut roster = Roster::from_aad(&before, None);
            match rng.below(9) {
                0 => {
                    let i = rng.below(after.users.len());
                    let u: &mut User = &mut after.users[i];
                    u.attached_policies = pick_attached(&mut rng, &pool);
                    if rng.chance(30) {
                        // A boundary already in use somewhere, or none.
                        let known: Vec<String> = roster.boundaries.keys().cloned().collect();
                        u.permissions_boundary = (!known.is_empty() && rng.chance(50)).then(|| known[rng.below(known.len())].clone());
                    }
                    let attached = arns(&u.attached_policies);
                    let fresh = Fresh { arn: &u.arn, name: &u.name, attached: &attached, boundary: u.permissions_boundary.as_deref() };
                    roster.set_user(fresh).unwrap();
                }
                1 => {
                    let i = rng.below(after.roles.len());
                    let r: &mut Role = &mut after.roles[i];
                    r.attached_policies = pick_attached(&mut rng, &pool);
                    let attached = arns(&r.attached_policies);
                    let fresh = Fresh { arn: &r.arn, name: &r.name, attached: &attached, boundary: r.permissions_boundary.as_deref() };
                    roster.set_role(fresh, r.is_service_linked()).unwrap();
                }
                3 => {
                    // An inline policy of a user put (granting, denying, neither) or deleted.
                    let i = rng.below(after.users.len());
                    let (name, doc) = pick_inline_change(&mut rng);
                    let (grants, denies) = replace_inline(&mut after.users[i].inline_policies, &name, doc);
                    let u = &after.users[i];
                    let owner = Owner { arn: &u.arn, name: &u.name, boundary: u.permissions_boundary.as_deref() };
                    roster.set_user_inline(owner, InlineVerdict { policy: &name, grants, denies }).unwrap();
                }
                4 => {
                    let i = rng.below(after.roles.len());
                    let (name, doc) = pick_inline_change(&mut rng);
                    let (grants, denies) = replace_inline(&mut after.roles[i].inline_policies, &name, doc);
                    let r = &after.roles[i];
                    let owner = Owner { arn: &r.arn, name: &r.name, boundary: r.permissions_boundary.as_deref() };
                    roster.set_role_inline(owner, r.is_service_linked(), InlineVerdict { policy: &name, grants, denies }).unwrap();
                }
                5 => {
                    let i = rng.below(after.groups.len());
                    let (name, doc) = pick_inline_change(&mut rng);
                    let (grants, denies) = replace_inline(&mut after.groups[i].inline_policies, &name, doc);
                    let group = after.groups[i].name.clone();
                    let members: Vec<(String, String)> = after.group_members(&group).map(|u| (u.arn.clone(), u.name.clone())).collect();
                    roster.set_group_inline(&group, InlineVerdict { policy: &name, grants, denies }, &members);
                }
                8 => {
                    // A new default version of a customer managed policy (one no one uses as a
                    // boundary): granting, denying, both or neither, whoever holds it.
                    let names = ["quarantine", "both", "conditional"];
                    let arn = policy_arn(names[rng.below(names.len())]);
                    let docs = [admin_doc(), deny_doc(), read_only_doc(), both_doc()];
                    let policy = after.policies.iter_mut().find(|p| p.arn == arn).unwrap();
                    *policy = managed(&arn, docs[rng.below(docs.len())].clone());
                    let (grants, denies) =
                        policy.document.as_ref().unwrap().as_ref().map(|d| (d.grants_full_admin(), d.denies_everything())).unwrap();
                    let holds = |attached: &[AttachedPolicy]| attached.iter().any(|p| p.arn == arn);
                    // As the event knows them: from the roster, or read now.
                    let holder = |known: Option<Holder>, arn: &str, name: &str, boundary: &Option<String>| {
                        known.unwrap_or(Holder { arn: arn.into(), name: name.into(), boundary: boundary.clone() })
                    };
                    let holders = Holders {
                        users: after
                            .users
                            .iter()
                            .filter(|u| holds(&u.attached_policies))
                            .map(|u| holder(roster.user_named(&u.name), &u.arn, &u.name, &u.permissions_boundary))
                            .collect(),
                        roles: after
                            .roles
                            .iter()
                            .filter(|r| holds(&r.attached_policies) && !r.is_service_linked())
                            .map(|r| holder(roster.role_named(&r.name), &r.arn, &r.name, &r.permissions_boundary))
                            .collect(),
                        groups: after
                            .groups
                            .iter()
                            .filter(|g| holds(&g.attached_policies))
                            .map(|g| {
                                let members = after.group_members(&g.name).map(|u| (u.arn.clone(), u.name.clone())).collect();
                                (g.name.clone(), roster.group_members(&g.name).unwrap_or(members))
                            })
                            .collect(),
                    };
                    roster.reclassify(&arn, grants, denies, &holders).unwrap();
                }
                7 => {
                    // A user and a group renamed.
                    let i = rng.below(after.users.len());
                    let old = after.users[i].name.clone();
                    let renamed = format!("{old}-renamed");
                    after.users[i].name = renamed.clone();
                    after.users[i].arn = user_arn(&renamed);
                    roster.rename_user(&old, &after.users[i].arn, &renamed);
                    let g = rng.below(after.groups.len());
                    let old = after.groups[g].name.clone();
                    let renamed = format!("{old}-renamed");
                    after.groups[g].name = renamed.clone();
                    for u in &mut after.users {
                        for group in &mut u.groups {
                            if *group == old {
                                *group = renamed.clone();
                            }
                        }
                    }
                    roster.rename_group(&old, &renamed);
                }
                6 => {
                    // A boundary put on or deleted from a user or role: one in use somewhere,
                    // AdministratorAccess, or none.
                    let mut choices: Vec<Option<String>> = roster.boundaries.keys().cloned().map(Some).collect();
                    choices.extend([None, Some(ADMINISTRATOR_ACCESS.to_string())]);
                    let boundary = choices[rng.below(choices.len())].clone();
                    if rng.chance(50) {
                        let i = rng.below(after.users.len());
                        after.users[i].permissions_boundary = boundary;
                        let u = &after.users[i];
                        roster
                            .set_user_boundary(Owner { arn: &u.arn, name: &u.name, boundary: u.permissions_boundary.as_deref() })
                            .unwrap();
                    } else {
                        let i = rng.below(after.roles.len());
                        after.roles[i].permissions_boundary = boundary;
                        let r = &after.roles[i];
                        let owner = Owner { arn: &r.arn, name: &r.name, boundary: r.permissions_boundary.as_deref() };
                        roster.set_role_boundary(owner, r.is_service_linked()).unwrap();
                    }
                }
                _ => {
                    let i = rng.below(after.groups.len());
                    after.groups[i].attached_policies = pick_attached(&mut rng, &pool);
                    let name = after.groups[i].name.clone();
                    // Membership drifted too: someone joined, someone left.
                    let joining = rng.below(after.users.len());
                    after.users[joining].groups.push(name.clone());
                    let leaving = rng.below(after.users.len());
                    after.users[leaving].groups.retain(|g| g != &name);
                    let members: Vec<(String, String)> = after.group_members(&name).map(|u| (u.arn.clone(), u.name.clone())).collect();
                    roster.set_group(&name, &arns(&after.groups[i].attached_policies), &members);
                }
            }
            let rebuilt = Roster::from_aad(&after, None);
            assert_eq!(roster.admins(), rebuilt.admins(), "seed {seed}");
            assert_eq!((&roster.users, &roster.roles, &roster.groups), (&rebuilt.users, &rebuilt.roles, &rebuilt.groups), "seed {seed}");
            if normalized(&rebuilt.admins()) != reference_admins(&before) {
                changed_admins += 1;
            }
        }
        // The changes do change who is an administrator, often.
        assert!(changed_admins > 50, "{changed_admins}");
    }

    /// An inline policy put (one of the generator's names, with a granting, denying or
    /// read-only document) or deleted (`None`).
    fn pick_inline_change(rng: &mut Lcg) -> (String, Option<Value>) {
        let docs = [Some(admin_doc()), Some(deny_doc()), Some(read_only_doc()), None];
        (format!("p{}", rng.below(3)), docs[rng.below(docs.len())].clone())
    }

    /// Put (or delete) an inline policy as IAM does: it replaces any policy of that name.
    /// Returns whether it grants and whether it denies everything, as an event reads it.
    fn replace_inline(list: &mut Vec<InlinePolicy>, name: &str, doc: Option<Value>) -> (bool, bool) {
        list.retain(|p| p.name != name);
        let Some(doc) = doc else { return (false, false) };
        let policy = inline(name, doc);
        let verdict = policy.document.as_ref().map(|d| (d.grants_full_admin(), d.denies_everything())).unwrap();
        list.push(policy);
        verdict
    }

    #[test]
    fn a_deleted_user_leaves_the_roster_and_the_administrators() {
        // DeleteUser of a user the roster holds (an administrator through a group, another
        // directly): gone from the roster, which then equals the one rebuilt without them.
        let mut aad = AuthorizationDetails { complete: true, ..Default::default() };
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut admins = crate::testkit::group("admins");
        admins.attached_policies.push(crate::testkit::attach(&admin));
        let mut alice = crate::testkit::user("alice");
        alice.groups.push("admins".into());
        let mut bob = crate::testkit::user("bob");
        bob.attached_policies.push(crate::testkit::attach(&admin));
        aad.groups.push(admins);
        aad.policies.push(admin);
        aad.users.extend([alice, bob, crate::testkit::user("carol")]);
        let mut roster = Roster::from_aad(&aad, None);
        assert_eq!(roster.admins().iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
        roster.remove_user("alice");
        assert_eq!(roster.admins().iter().map(|a| a.name.as_str()).collect::<Vec<_>>(), ["bob"]);
        aad.users.retain(|u| u.name != "alice");
        assert_eq!(roster, Roster::from_aad(&aad, None));
        roster.remove_user("bob");
        assert!(roster.admins().is_empty() && roster.users.is_empty(), "{roster:?}");
    }

    #[test]
    fn a_boundary_the_roster_never_saw_is_an_error() {
        let mut roster = Roster::from_aad(&account(1), None);
        let attached = vec![ADMINISTRATOR_ACCESS.to_string()];
        let fresh =
            Fresh { arn: &user_arn("new"), name: "new", attached: &attached, boundary: Some("arn:aws:iam::123456789012:policy/brand-new") };
        assert_eq!(roster.set_user(fresh).unwrap_err(), UnknownBoundary(policy_arn("brand-new")));
        // AdministratorAccess as a boundary caps nothing, known or not.
        let fresh = Fresh { boundary: Some(ADMINISTRATOR_ACCESS), ..fresh };
        roster.set_user(fresh).unwrap();
        assert!(roster.admins().iter().any(|a| a.name == "new"));
    }

    #[test]
    fn aws_managed_verdicts_come_from_the_prior_roster_when_documents_are_missing() {
        // As an event reads the account: AWS managed policies without documents.
        let boundary = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess";
        let mut full = AuthorizationDetails { complete: true, ..Default::default() };
        full.policies.push(managed(boundary, read_only_doc()));
        let mut capped = user("capped");
        capped.attached_policies.push(attach(&managed(ADMINISTRATOR_ACCESS, admin_doc())));
        capped.permissions_boundary = Some(boundary.into());
        full.users.push(capped);
        let prior = Roster::from_aad(&full, None);
        assert!(prior.admins().is_empty());
        let mut partial = full.clone();
        partial.policies.clear();
        // Without the prior roster the boundary's document is unknown and caps nothing ...
        assert_eq!(Roster::from_aad(&partial, None).admins().len(), 1);
        // ... with it, the verdict the sweep reached stands.
        assert_eq!(Roster::from_aad(&partial, Some(&prior)), prior);
        // AWSDenyAll denies by definition, its document known or not.
        let mut denied = full.clone();
        denied.users[0].permissions_boundary = None;
        denied.users[0].attached_policies.push(AttachedPolicy { name: "AWSDenyAll".into(), arn: AWS_DENY_ALL.into() });
        assert!(Roster::from_aad(&denied, None).admins().is_empty());
    }
}
