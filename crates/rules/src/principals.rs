//! Who holds administrator access.
//!
//! "Administrator access" = a user (directly or through a group) or a role whose effective
//! policies — attached managed, inline, and through groups — contain an `Allow` of `*` (or
//! `*:*`) on `*` without a `Condition`. Refinements that keep the count honest:
//! - an unconditional `Deny` of `*` on `*` in the same principal's policies cancels it;
//! - a permissions boundary whose document is known and does not itself allow `*` on `*`
//!   caps the principal below admin (an unknown boundary document does not: we would rather
//!   over-count than hide an admin);
//! - service-linked roles (path `/aws-service-role/`) are not counted.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::inventory::{AttachedPolicy, AuthorizationDetails, InlinePolicy};
use crate::rule::ResourceType;

/// A principal with administrator access and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admin {
    pub resource_type: ResourceType,
    pub arn: String,
    pub name: String,
    /// e.g. `attached arn:aws:iam::aws:policy/AdministratorAccess`, `inline policy x`,
    /// `group admins: attached ...`.
    pub via: Vec<String>,
}

/// What policies grant one principal, collected from every path.
#[derive(Default)]
struct Grants {
    via: Vec<String>,
    deny_all: bool,
}

impl Grants {
    fn add(&mut self, aad: &AuthorizationDetails, prefix: &str, attached: &[AttachedPolicy], inline: &[InlinePolicy]) {
        for policy in attached {
            if let Some(Some(Ok(doc))) = aad.policy(&policy.arn).map(|p| p.document.as_ref()) {
                if doc.grants_full_admin() {
                    self.via.push(format!("{prefix}attached policy {}", policy.arn));
                }
                self.deny_all |= doc.denies_everything();
            } else if is_known_admin_policy(&policy.arn) {
                // The document was not collected (e.g. a targeted run), but this AWS managed
                // policy is administrator access by definition.
                self.via.push(format!("{prefix}attached policy {}", policy.arn));
            }
        }
        for policy in inline {
            if let Ok(doc) = &policy.document {
                if doc.grants_full_admin() {
                    self.via.push(format!("{prefix}inline policy {}", policy.name));
                }
                self.deny_all |= doc.denies_everything();
            }
        }
    }
}

/// AWS managed policies that are `Allow * on *` (so a missing document cannot hide them).
pub fn is_known_admin_policy(arn: &str) -> bool {
    crate::inventory::is_aws_managed_arn(arn) && arn.ends_with(":policy/AdministratorAccess")
}

fn boundary_caps(aad: &AuthorizationDetails, boundary: Option<&String>) -> bool {
    let Some(arn) = boundary else { return false };
    match aad.policy(arn).and_then(|p| p.document.as_ref()) {
        Some(Ok(doc)) => !doc.grants_full_admin(),
        // Unknown boundary document: do not assume it caps anything.
        _ => false,
    }
}

/// Every principal with administrator access, users before roles, each once.
pub fn admins(aad: &AuthorizationDetails) -> Vec<Admin> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for user in &aad.users {
        let mut grants = Grants::default();
        grants.add(aad, "", &user.attached_policies, &user.inline_policies);
        for group_name in &user.groups {
            if let Some(group) = aad.group(group_name) {
                grants.add(aad, &format!("group {group_name}: "), &group.attached_policies, &group.inline_policies);
            }
        }
        if !grants.via.is_empty()
            && !grants.deny_all
            && !boundary_caps(aad, user.permissions_boundary.as_ref())
            && seen.insert(user.arn.clone())
        {
            out.push(Admin { resource_type: ResourceType::User, arn: user.arn.clone(), name: user.name.clone(), via: grants.via });
        }
    }
    for role in aad.roles.iter().filter(|r| !r.is_service_linked()) {
        let mut grants = Grants::default();
        grants.add(aad, "", &role.attached_policies, &role.inline_policies);
        if !grants.via.is_empty()
            && !grants.deny_all
            && !boundary_caps(aad, role.permissions_boundary.as_ref())
            && seen.insert(role.arn.clone())
        {
            out.push(Admin { resource_type: ResourceType::Role, arn: role.arn.clone(), name: role.name.clone(), via: grants.via });
        }
    }
    out
}
