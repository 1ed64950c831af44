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

use crate::inventory::AuthorizationDetails;

pub use crate::inventory::{Admin, AdminSource};
pub use crate::roster::{is_known_admin_policy, is_known_deny_policy};

/// Every principal with administrator access, users before roles (each by ARN), each once.
///
/// Derived through the [`Roster`](crate::roster::Roster) of the account, so that a sweep and
/// an event that updated a kept roster count administrators with one function.
pub fn admins(aad: &AuthorizationDetails) -> Vec<Admin> {
    crate::roster::Roster::from_aad(aad, None).admins()
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
