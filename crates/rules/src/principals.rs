//! Who holds administrator access.
//!
//! "Administrator access" = a user (directly or through a group) or a role whose
//! effective policies — attached managed, inline, and through groups — contain an `Allow` of
//! `*` (or `*:*`) on `*` without a `Condition`. Refinements that keep the count honest:
//! - `Deny`, `NotAction` and `NotResource` statements never grant admin, nor does an `Allow`
//!   with a `Condition` (see [`crate::policy::Statement::grants_full_admin`]);
//! - an unconditional `Deny` of `*` on `*` anywhere in the same principal's policies (its own
//!   or its groups') cancels it;
//! - a permissions boundary whose document is known and does not itself allow `*` on `*`
//!   caps the principal below admin (an unknown boundary document does not: we would rather
//!   over-count than hide an admin);
//! - groups are not principals: their members are counted, each user once however many
//!   paths give it admin;
//! - service-linked roles (path `/aws-service-role/`) are not counted: only AWS services can
//!   assume them;
//! - an unparseable document grants nothing here (the inventory reports it as a warning),
//!   except the AWS managed `AdministratorAccess`, which is admin by definition even when its
//!   document was not collected, as `AWSDenyAll` denies everything by definition;
//! - administrators are listed users first, then roles, each by ARN, and each one's paths in
//!   a fixed order (its own attached policies by ARN, its own inline policies by name, then
//!   its groups by name), so the list does not depend on the order IAM lists things in.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use crate::inventory::{is_aws_managed_arn, AuthorizationDetails, InlinePolicy, ManagedPolicy};

pub use crate::inventory::{Admin, AdminSource};
pub use crate::roster::{is_known_admin_policy, is_known_deny_policy};

/// Every principal with administrator access, users before roles (each by ARN), each once.
///
/// Derived through the [`Roster`](crate::roster::Roster) of the account, so that a sweep and
/// an event that updated a kept roster count administrators with one function.
pub fn admins(aad: &AuthorizationDetails) -> Vec<Admin> {
    crate::roster::Roster::from_aad(aad, None).admins()
}

/// A policy whose document a rule needed and could not read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unread {
    /// `managed policy <ARN>`, or `inline policy <name> of <owner ARN>`.
    pub policy: String,
    /// Why it could not be read.
    pub reason: String,
}

impl fmt::Display for Unread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 120;
        match self.reason.char_indices().nth(SHOWN) {
            None => write!(f, "{} ({})", self.policy, self.reason),
            Some((at, _)) => write!(f, "{} ({}…)", self.policy, &self.reason[..at]),
        }
    }
}

/// `a, b and 3 more` of a list of unread policies.
pub fn describe_unread(unread: &[Unread]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = unread.iter().take(SHOWN).map(ToString::to_string).collect();
    match unread.len().saturating_sub(SHOWN) {
        0 => shown.join("; "),
        more => format!("{}; and {more} more", shown.join("; ")),
    }
}

/// Why a managed policy's document is unknown, or `None` when it is known. An AWS managed
/// policy absent from the details (`--filter User Role Group` leaves them all out) is judged by
/// name: `AdministratorAccess` grants everything, `AWSDenyAll` denies everything, any other
/// neither (and as a boundary it does not cap).
fn managed_unread(policies: &HashMap<&str, &ManagedPolicy>, arn: &str) -> Option<String> {
    match policies.get(arn) {
        Some(policy) => match &policy.document {
            Some(Ok(_)) => None,
            Some(Err(e)) => Some(e.clone()),
            None => Some("the document of its default version is not in the authorization details".into()),
        },
        None if is_aws_managed_arn(arn) => None,
        None => Some("not in the authorization details: their Policies list lacks it, as --filter User Role Group leaves out".into()),
    }
}

fn by_arn(aad: &AuthorizationDetails) -> HashMap<&str, &ManagedPolicy> {
    let mut policies = HashMap::with_capacity(aad.policies.len());
    for policy in &aad.policies {
        policies.entry(policy.arn.as_str()).or_insert(policy);
    }
    policies
}

/// Collects unread policies once each, sorted.
#[derive(Default)]
struct UnreadSet(BTreeMap<String, String>);

impl UnreadSet {
    fn managed(&mut self, policies: &HashMap<&str, &ManagedPolicy>, arn: &str) {
        if let Some(reason) = managed_unread(policies, arn) {
            self.0.entry(format!("managed policy {arn}")).or_insert(reason);
        }
    }

    fn inline(&mut self, owner: &str, inline: &[InlinePolicy]) {
        for policy in inline {
            if let Err(e) = &policy.document {
                self.0.entry(format!("inline policy {} of {owner}", policy.name)).or_insert_with(|| e.clone());
            }
        }
    }

    fn into_vec(self) -> Vec<Unread> {
        self.0.into_iter().map(|(policy, reason)| Unread { policy, reason }).collect()
    }
}

/// The policy documents that decide who holds administrator access and could not be read:
/// managed policies attached to a user or role (not service-linked), or to a group with
/// members, and their permissions boundaries, whose document is unknown (see
/// [`managed_unread`]), and their inline policies that could not be parsed. With any, the
/// administrators cannot be counted: [`admins`] would leave out whoever such a document makes
/// an administrator (or count one it would cap or deny).
pub fn unread_for_admins(aad: &AuthorizationDetails) -> Vec<Unread> {
    let policies = by_arn(aad);
    let mut unread = UnreadSet::default();
    let with_members: HashSet<&str> = aad.users.iter().flat_map(|u| u.groups.iter().map(String::as_str)).collect();
    for user in &aad.users {
        for policy in &user.attached_policies {
            unread.managed(&policies, &policy.arn);
        }
        if let Some(boundary) = &user.permissions_boundary {
            unread.managed(&policies, boundary);
        }
        unread.inline(&user.arn, &user.inline_policies);
    }
    for group in aad.groups.iter().filter(|g| with_members.contains(g.name.as_str())) {
        for policy in &group.attached_policies {
            unread.managed(&policies, &policy.arn);
        }
        unread.inline(&group.arn, &group.inline_policies);
    }
    for role in aad.roles.iter().filter(|r| !r.is_service_linked()) {
        for policy in &role.attached_policies {
            unread.managed(&policies, &policy.arn);
        }
        if let Some(boundary) = &role.permissions_boundary {
            unread.managed(&policies, boundary);
        }
        unread.inline(&role.arn, &role.inline_policies);
    }
    unread.into_vec()
}

/// The documents `admin-policy` needs and could not read: every customer managed policy (listed,
/// attached to anything, or a boundary) whose document is unknown, and every inline policy that
/// could not be parsed.
pub fn unread_for_admin_policy(aad: &AuthorizationDetails) -> Vec<Unread> {
    let policies = by_arn(aad);
    let mut unread = UnreadSet::default();
    let customer = |arn: &&str| !is_aws_managed_arn(arn);
    let listed = aad.policies.iter().map(|p| p.arn.as_str());
    let attached = aad
        .users
        .iter()
        .flat_map(|u| u.attached_policies.iter().map(|p| p.arn.as_str()).chain(u.permissions_boundary.as_deref()))
        .chain(aad.groups.iter().flat_map(|g| g.attached_policies.iter().map(|p| p.arn.as_str())))
        .chain(aad.roles.iter().flat_map(|r| r.attached_policies.iter().map(|p| p.arn.as_str()).chain(r.permissions_boundary.as_deref())));
    for arn in listed.chain(attached).filter(customer) {
        unread.managed(&policies, arn);
    }
    for user in &aad.users {
        unread.inline(&user.arn, &user.inline_policies);
    }
    for group in &aad.groups {
        unread.inline(&group.arn, &group.inline_policies);
    }
    for role in &aad.roles {
        unread.inline(&role.arn, &role.inline_policies);
    }
    unread.into_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use crate::testkit::*;
    use crate::types::ResourceType;
    use serde_json::json;

    /// (name, sources as text) of every admin.
    fn admin_list(inv: &Inventory) -> Vec<(String, Vec<String>)> {
        admins(inv.authorization.as_ref().unwrap()).into_iter().map(|a| (a.name, a.via.iter().map(ToString::to_string).collect())).collect()
    }

    fn names(inv: &Inventory) -> Vec<String> {
        admin_list(inv).into_iter().map(|(n, _)| n).collect()
    }

    fn deny_all_doc() -> serde_json::Value {
        json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]})
    }

    #[test]
    fn attached_aws_managed_administrator_access() {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut alice = user("alice");
        alice.attached_policies.push(attach(&admin));
        aad(&mut inv).users.push(alice);
        aad(&mut inv).users.push(user("bob"));
        aad(&mut inv).policies.push(admin);
        assert_eq!(admin_list(&inv), vec![("alice".to_string(), vec![format!("attached policy {ADMINISTRATOR_ACCESS}")])]);
        // The document was not collected: AdministratorAccess is still admin by its ARN.
        aad(&mut inv).policies.clear();
        assert_eq!(names(&inv), vec!["alice"]);
        // Any other policy without a document is not.
        let mut inv = inventory();
        let mut carol = user("carol");
        carol.attached_policies.push(attach(&managed("arn:aws:iam::aws:policy/PowerUserAccess", admin_doc())));
        aad(&mut inv).users.push(carol);
        assert!(names(&inv).is_empty());
    }

    #[test]
    fn customer_managed_and_inline_admin() {
        let mut inv = inventory();
        let everything = managed("everything", admin_doc());
        let reader = managed("reader", read_only_doc());
        let mut a = user("a");
        a.attached_policies.push(attach(&everything));
        let mut b = user("b");
        b.inline_policies.push(inline("all", admin_doc()));
        let mut c = user("c");
        c.attached_policies.push(attach(&reader));
        c.inline_policies.push(inline("read", read_only_doc()));
        aad(&mut inv).users.extend([a, b, c]);
        aad(&mut inv).policies.extend([everything, reader]);
        assert_eq!(
            admin_list(&inv),
            vec![
                ("a".to_string(), vec![format!("attached policy {}", policy_arn("everything"))]),
                ("b".to_string(), vec!["inline policy all".to_string()]),
            ]
        );
    }

    #[test]
    fn group_members_are_admins_and_groups_are_not_counted() {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut admins_group = group("admins");
        admins_group.attached_policies.push(attach(&admin));
        let mut ops = group("ops");
        ops.inline_policies.push(inline("full", admin_doc()));
        let mut alice = user("alice");
        alice.groups.push("admins".into());
        let mut bob = user("bob");
        bob.groups.push("ops".into());
        let mut carol = user("carol");
        carol.groups.push("readers".into());
        aad(&mut inv).groups.extend([admins_group, ops, group("readers"), group("empty-admins")]);
        aad(&mut inv).users.extend([alice, bob, carol]);
        aad(&mut inv).policies.push(admin);
        assert_eq!(
            admin_list(&inv),
            vec![
                ("alice".to_string(), vec![format!("group admins (attached policy {ADMINISTRATOR_ACCESS})")]),
                ("bob".to_string(), vec!["group ops (inline policy full)".to_string()]),
            ]
        );
    }

    #[test]
    fn user_with_several_paths_is_counted_once() {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut g1 = group("admins");
        g1.attached_policies.push(attach(&admin));
        let mut g2 = group("break-glass");
        g2.attached_policies.push(attach(&admin));
        let mut alice = user("alice");
        alice.attached_policies.push(attach(&admin));
        alice.inline_policies.push(inline("all", admin_doc()));
        // Listed twice: still one path through it.
        alice.groups = vec!["admins".into(), "break-glass".into(), "admins".into()];
        aad(&mut inv).groups.extend([g1, g2]);
        aad(&mut inv).users.push(alice);
        aad(&mut inv).policies.push(admin);
        let list = admins(inv.authorization.as_ref().unwrap());
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].arn, user_arn("alice"));
        assert_eq!(list[0].via.len(), 4, "{:?}", list[0].via);
        assert!(list[0].describe().starts_with("user alice via attached policy"), "{}", list[0].describe());
    }

    #[test]
    fn roles_count_but_service_linked_roles_do_not() {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut deploy = role("deploy");
        deploy.attached_policies.push(attach(&admin));
        let mut slr = service_linked_role("AWSServiceRoleForElasticLoadBalancing");
        slr.attached_policies.push(attach(&admin));
        slr.inline_policies.push(inline("all", admin_doc()));
        aad(&mut inv).roles.extend([deploy, slr]);
        aad(&mut inv).policies.push(admin);
        let list = admins(inv.authorization.as_ref().unwrap());
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].resource_type, list[0].name.as_str()), (ResourceType::Role, "deploy"));
        assert_eq!(list[0].describe(), format!("role deploy via attached policy {ADMINISTRATOR_ACCESS}"));
    }

    #[test]
    fn deny_everything_cancels_admin() {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let quarantine = managed("quarantine", deny_all_doc());
        // Own inline deny.
        let mut a = user("a");
        a.attached_policies.push(attach(&admin));
        a.inline_policies.push(inline("deny", deny_all_doc()));
        // Deny through a group.
        let mut locked = group("locked");
        locked.attached_policies.push(attach(&quarantine));
        let mut b = user("b");
        b.attached_policies.push(attach(&admin));
        b.groups.push("locked".into());
        // A conditional deny does not cancel.
        let mut c = user("c");
        c.attached_policies.push(attach(&admin));
        c.inline_policies.push(inline(
            "deny-without-mfa",
            json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}}]}),
        ));
        // A role with admin and a deny-all managed policy.
        let mut r = role("r");
        r.attached_policies.extend([attach(&admin), attach(&quarantine)]);
        aad(&mut inv).groups.push(locked);
        aad(&mut inv).users.extend([a, b, c]);
        aad(&mut inv).roles.push(r);
        aad(&mut inv).policies.extend([admin, quarantine]);
        assert_eq!(names(&inv), vec!["c"]);
    }

    #[test]
    fn not_action_condition_deny_and_unparseable_are_not_admin() {
        let mut inv = inventory();
        let docs = [
            json!({"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","NotAction":[],"Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}),
            json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","NotResource":"arn:aws:s3:::secret/*"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}),
        ];
        for (i, d) in docs.iter().enumerate() {
            let mut u = user(&format!("u{i}"));
            u.inline_policies.push(inline("p", d.clone()));
            let mut r = role(&format!("r{i}"));
            r.inline_policies.push(inline("p", d.clone()));
            aad(&mut inv).users.push(u);
            aad(&mut inv).roles.push(r);
        }
        let mut broken = user("broken");
        broken.inline_policies.push(crate::inventory::InlinePolicy { name: "bad".into(), document: Err("not valid JSON".into()) });
        aad(&mut inv).users.push(broken);
        assert!(names(&inv).is_empty(), "{:?}", admin_list(&inv));
    }

    #[test]
    fn permissions_boundary_caps_only_when_known_and_not_admin() {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let s3_only = managed("s3-only-boundary", read_only_doc());
        let admin_boundary = managed("admin-boundary", admin_doc());
        let mk = |name: &str, boundary: Option<String>| {
            let mut u = user(name);
            u.attached_policies.push(attach(&admin));
            u.permissions_boundary = boundary;
            u
        };
        let capped = mk("capped", Some(s3_only.arn.clone()));
        let wide = mk("wide", Some(admin_boundary.arn.clone()));
        let unknown = mk("unknown", Some(policy_arn("not-collected")));
        let aws_admin_boundary = mk("aws-admin-boundary", Some(ADMINISTRATOR_ACCESS.to_string()));
        let mut capped_role = role("capped-role");
        capped_role.inline_policies.push(inline("all", admin_doc()));
        capped_role.permissions_boundary = Some(s3_only.arn.clone());
        aad(&mut inv).users.extend([capped, wide, unknown, aws_admin_boundary]);
        aad(&mut inv).roles.push(capped_role);
        aad(&mut inv).policies.extend([admin, s3_only, admin_boundary]);
        // Users by ARN.
        assert_eq!(names(&inv), vec!["aws-admin-boundary", "unknown", "wide"]);
    }
}
