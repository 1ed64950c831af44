//! Roles, groups, policies and server certificates.
//!
//! Service-linked roles (path `/aws-service-role/`) are skipped by the role rules: only their
//! AWS service can use, change or delete them.

use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::inventory::{DataSource, InlinePolicy, Role};
use crate::policy::PolicyDocument;
use crate::rule::*;

use super::{day, days, service_activity, sh};

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![&INACTIVE_ROLE, &ROLE_INLINE_POLICIES, &ROLE_SERVICE_INACTIVITY, &EMPTY_GROUP, &ADMIN_POLICY, &SERVER_CERTIFICATE_ROTATION]
}

/// How long IAM keeps `RoleLastUsed` history.
const ROLE_LAST_USED_WINDOW_DAYS: i64 = 400;

fn names(policies: &[InlinePolicy]) -> Vec<&str> {
    policies.iter().map(|p| p.name.as_str()).collect()
}

/// The commands that delete a role: instance profiles, attached and inline policies first.
fn delete_role_commands(role: &Role) -> Vec<String> {
    let r = sh(&role.name);
    let mut lines = vec![format!(
        "aws iam list-instance-profiles-for-role --role-name {r}   # then: aws iam remove-role-from-instance-profile --instance-profile-name <name> --role-name {r}"
    )];
    for policy in &role.attached_policies {
        lines.push(format!("aws iam detach-role-policy --role-name {r} --policy-arn {}", sh(&policy.arn)));
    }
    for policy in &role.inline_policies {
        lines.push(format!("aws iam delete-role-policy --role-name {r} --policy-name {}", sh(&policy.name)));
    }
    lines.push(format!("aws iam delete-role --role-name {r}"));
    lines
}

// ---------------------------------------------------------------------------------------------
// inactive-role

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InactiveRoleParams {
    pub max_unused_days: u32,
}

impl Params for InactiveRoleParams {}

impl Default for InactiveRoleParams {
    fn default() -> Self {
        InactiveRoleParams { max_unused_days: 90 }
    }
}

pub static INACTIVE_ROLE: RuleDef<InactiveRoleParams> = RuleDef {
    meta: Meta {
        id: "inactive-role",
        title: "Inactive IAM role",
        severity: Severity::Low,
        resource_type: ResourceType::Role,
        description: "A role (not service-linked) has not been used for more than `max_unused_days`; a role never used is counted from its creation.",
        rationale: "Unused roles keep their permissions and trust relationships: anyone who can assume them keeps that access without anybody noticing. IAM's RoleLastUsed only covers about the last 400 days, so a role with no recorded use may have been used before that window; either way it has not been used within it.",
        remediation: "Confirm the role is no longer needed (aws iam get-role shows RoleLastUsed), then remove it from its instance profiles, detach and delete its policies, and delete it.",
        standards: &["Cloudanix IAM checklist: Inactive Roles Should Be Removed"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::Role],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "max_unused_days",
            description: "Days a role may go unused (never used: counted from its creation) before it is reported.",
        }],
    },
    check: |ctx, params| {
        let aad = ctx.aad()?;
        let max = i64::from(params.max_unused_days);
        let mut hits = Vec::new();
        for role in aad.roles.iter().filter(|r| !r.is_service_linked()) {
            let Some(reference) = role.last_used.or(role.create_date) else { continue };
            let unused = ctx.days_since(reference);
            if unused <= max {
                continue;
            }
            let message = match (role.last_used, role.create_date) {
                (Some(used), _) => format!(
                    "Role {} was last used on {} ({} ago); the limit is {}.",
                    role.name,
                    day(used),
                    days(unused),
                    days(max)
                ),
                (None, _) => {
                    // RoleLastUsed only reaches back about 400 days: say so when the role is older.
                    let window = if unused > ROLE_LAST_USED_WINDOW_DAYS {
                        format!("; IAM records role use for about the last {ROLE_LAST_USED_WINDOW_DAYS} days")
                    } else {
                        String::new()
                    };
                    format!(
                        "Role {} has not been used since it was created on {} ({} ago{window}); the limit is {}.",
                        role.name,
                        day(reference),
                        days(unused),
                        days(max)
                    )
                }
            };
            let mut lines = vec![
                format!("# Confirm the role is unused: aws iam get-role --role-name {} --query Role.RoleLastUsed", sh(&role.name)),
                "# Then delete it:".to_string(),
            ];
            lines.extend(delete_role_commands(role));
            hits.push(
                Hit::new(ResourceType::Role, &role.arn, &role.name, message, lines.join("\n")).details(json!({
                    "last_used": role.last_used,
                    "created": role.create_date,
                    "days_unused": unused,
                    "max_unused_days": params.max_unused_days,
                })),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// role-inline-policies

pub static ROLE_INLINE_POLICIES: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "role-inline-policies",
        title: "Role has inline policies",
        severity: Severity::Low,
        resource_type: ResourceType::Role,
        description: "A role (not service-linked) has one or more inline policies.",
        rationale: "Inline policies are invisible from the policy list, cannot be reused or versioned, and are easy to miss in reviews; managed policies keep permissions auditable and rollback-able.",
        remediation: "Turn each inline policy into a customer managed policy, attach it to the role, and delete the inline policy.",
        standards: &["Cloudanix IAM checklist: Roles Should Not Have Inline Policies"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::RoleInlinePolicy, ChangeKind::Role],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let aad = ctx.aad()?;
        let partition = ctx.inventory.partition_or_default();
        Ok(aad
            .roles
            .iter()
            .filter(|r| !r.is_service_linked() && !r.inline_policies.is_empty())
            .map(|role| {
                let policy_names = names(&role.inline_policies);
                let r = sh(&role.name);
                let mut lines = vec!["# Move each inline policy into a customer managed policy, attach it, then delete the inline policy:".to_string()];
                for name in &policy_names {
                    let managed_name = format!("{}-{}", role.name, name);
                    let file = sh(&format!("{managed_name}.json"));
                    lines.push(format!(
                        "aws iam get-role-policy --role-name {r} --policy-name {} --query PolicyDocument --output json > {file}",
                        sh(name)
                    ));
                    lines.push(format!("aws iam create-policy --policy-name {} --policy-document file://{file}", sh(&managed_name)));
                    lines.push(format!(
                        "aws iam attach-role-policy --role-name {r} --policy-arn {}",
                        sh(&format!("arn:{partition}:iam::{}:policy/{managed_name}", ctx.account_id()))
                    ));
                    lines.push(format!("aws iam delete-role-policy --role-name {r} --policy-name {}", sh(name)));
                }
                let count = policy_names.len();
                Hit::new(
                    ResourceType::Role,
                    &role.arn,
                    &role.name,
                    format!(
                        "Role {} has {} inline {}: {}.",
                        role.name,
                        count,
                        if count == 1 { "policy" } else { "policies" },
                        policy_names.join(", ")
                    ),
                    lines.join("\n"),
                )
                .details(json!({"inline_policies": policy_names}))
            })
            .collect())
    },
};

// ---------------------------------------------------------------------------------------------
// empty-group

pub static EMPTY_GROUP: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "empty-group",
        title: "IAM group has no members",
        severity: Severity::Low,
        resource_type: ResourceType::Group,
        description: "An IAM group has no users in it.",
        rationale: "Empty groups are leftovers: they clutter reviews, and a forgotten group with broad policies is one add-user-to-group away from granting them again.",
        remediation: "Delete the group after detaching its managed policies and deleting its inline policies, or add the users it is meant for.",
        standards: &["Cloudanix IAM checklist: Groups Without Users Should Be Removed"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        // Membership is read from the users' group lists, so every user must be there, or
        // from the groups themselves when a targeted run read them with their members.
        needs_complete_account: WholeAccount::OrGroupMembers,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::GroupMembership, ChangeKind::Group],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let aad = ctx.aad()?;
        let empty: Box<dyn Fn(&str) -> bool> = match &ctx.inventory.group_members {
            // A targeted run read these groups with their members.
            Some(counts) => Box::new(move |name| counts.get(name) == Some(&0)),
            None => {
                // Membership is on the users' side: collect it once, not one scan of every user
                // per group.
                let with_members: std::collections::HashSet<&str> =
                    aad.users.iter().flat_map(|u| u.groups.iter().map(String::as_str)).collect();
                Box::new(move |name| !with_members.contains(name))
            }
        };
        Ok(aad
            .groups
            .iter()
            .filter(|g| empty(&g.name))
            .map(|group| {
                let g = sh(&group.name);
                let mut lines = vec!["# Delete the group (its policies first):".to_string()];
                for policy in &group.attached_policies {
                    lines.push(format!("aws iam detach-group-policy --group-name {g} --policy-arn {}", sh(&policy.arn)));
                }
                for policy in &group.inline_policies {
                    lines.push(format!("aws iam delete-group-policy --group-name {g} --policy-name {}", sh(&policy.name)));
                }
                lines.push(format!("aws iam delete-group --group-name {g}"));
                let attached: Vec<&str> = group.attached_policies.iter().map(|p| p.arn.as_str()).collect();
                let policies = attached.len() + group.inline_policies.len();
                let message = if policies == 0 {
                    format!("Group {} has no members and no policies.", group.name)
                } else {
                    format!(
                        "Group {} has no members but still has {} {}.",
                        group.name,
                        policies,
                        if policies == 1 { "policy" } else { "policies" }
                    )
                };
                Hit::new(ResourceType::Group, &group.arn, &group.name, message, lines.join("\n")).details(json!({
                    "created": group.create_date,
                    "attached_policies": attached,
                    "inline_policies": names(&group.inline_policies),
                }))
            })
            .collect())
    },
};

// ---------------------------------------------------------------------------------------------
// admin-policy

/// The statements of a document that grant `*` on `*`, for the details.
fn admin_statements(doc: &PolicyDocument) -> serde_json::Value {
    json!(doc
        .statements
        .iter()
        .enumerate()
        .filter(|(_, s)| s.grants_full_admin())
        .map(|(i, s)| json!({"index": i, "sid": s.sid}))
        .collect::<Vec<_>>())
}

/// A finding on an inline policy that grants `*` on `*`.
fn inline_admin_hit(
    resource_type: ResourceType,
    kind: &str,
    owner_name: &str,
    owner_arn: &str,
    policy: &InlinePolicy,
    doc: &PolicyDocument,
) -> Hit {
    let flag = format!("--{kind}-name");
    let owner = sh(owner_name);
    let p = sh(&policy.name);
    Hit::new(
        resource_type,
        owner_arn,
        owner_name,
        format!("Inline policy {} of {kind} {owner_name} allows every action (*) on every resource (*).", policy.name),
        format!(
            "# Replace the inline policy with one scoped to the actions and resources the {kind} needs:\n\
aws iam put-{kind}-policy {flag} {owner} --policy-name {p} --policy-document file://scoped-policy.json\n\
# or delete it:\n\
aws iam delete-{kind}-policy {flag} {owner} --policy-name {p}"
        ),
    )
    .discriminator(format!("inline:{}", policy.name))
    .details(json!({"policy_name": policy.name, "admin_statements": admin_statements(doc)}))
}

pub static ADMIN_POLICY: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "admin-policy",
        title: "Policy grants full administrator access",
        severity: Severity::High,
        resource_type: ResourceType::Policy,
        description: "A customer managed policy, or an inline policy of a user, group or role, allows every action (`*`) on every resource (`*`) without a condition.",
        rationale: "A policy that allows *:* gives whoever holds it full control of the account, including over IAM itself; least privilege means granting only the actions and resources a job needs. Deny, NotAction and conditional statements are not counted; when a document of the account could not be read (or is not in the input), the rule is not evaluated and names it.",
        remediation: "Replace the policy with one scoped to the needed actions and resources (a new default version for a managed policy, a new document for an inline policy), or delete it.",
        standards: &["CIS AWS Foundations 1.16", "AWS Security Hub IAM.1"],
        controls: &[Control::cis3("1.16"), Control::cis4("1.16"), Control::cis5("1.15"), Control::fsbp("IAM.1")],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys { fixed: &[""], named: Some("inline:") },
        moved_by: &[ChangeKind::UserInlinePolicy, ChangeKind::GroupInlinePolicy, ChangeKind::RoleInlinePolicy, ChangeKind::PolicyCreated, ChangeKind::PolicyVersion],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let aad = ctx.aad()?;
        let mut hits = Vec::new();
        for policy in aad.policies.iter().filter(|p| !p.is_aws_managed()) {
            let Some(Ok(doc)) = &policy.document else { continue };
            if !doc.grants_full_admin() {
                continue;
            }
            let attached = match policy.attachment_count {
                Some(0) => " It is not attached to anything.".to_string(),
                Some(1) => " It is attached to 1 user, group or role.".to_string(),
                Some(n) => format!(" It is attached to {n} users, groups or roles."),
                None => String::new(),
            };
            let a = sh(&policy.arn);
            hits.push(
                Hit::new(
                    ResourceType::Policy,
                    &policy.arn,
                    &policy.name,
                    format!("Customer managed policy {} allows every action (*) on every resource (*).{attached}", policy.name),
                    format!(
                        "# Save the current document, scope it to the actions and resources needed, and make it the default version:\n\
aws iam get-policy-version --policy-arn {a} --version-id \"$(aws iam get-policy --policy-arn {a} --query Policy.DefaultVersionId --output text)\" --query PolicyVersion.Document --output json > scoped-policy.json\n\
aws iam create-policy-version --policy-arn {a} --policy-document file://scoped-policy.json --set-as-default\n\
# (a policy keeps at most 5 versions: aws iam list-policy-versions / delete-policy-version)\n\
# or, if nothing should have it, detach it everywhere (aws iam list-entities-for-policy --policy-arn {a}) and delete it:\n\
aws iam delete-policy --policy-arn {a}"
                    ),
                )
                .details(json!({
                    "policy_arn": policy.arn,
                    "attachment_count": policy.attachment_count,
                    "admin_statements": admin_statements(doc),
                })),
            );
        }
        let admin_inline = |policies: &'_ [InlinePolicy]| -> Vec<(InlinePolicy, PolicyDocument)> {
            policies
                .iter()
                .filter_map(|p| match &p.document {
                    Ok(doc) if doc.grants_full_admin() => Some((p.clone(), doc.clone())),
                    _ => None,
                })
                .collect()
        };
        for user in &aad.users {
            for (p, doc) in admin_inline(&user.inline_policies) {
                hits.push(inline_admin_hit(ResourceType::User, "user", &user.name, &user.arn, &p, &doc));
            }
        }
        for group in &aad.groups {
            for (p, doc) in admin_inline(&group.inline_policies) {
                hits.push(inline_admin_hit(ResourceType::Group, "group", &group.name, &group.arn, &p, &doc));
            }
        }
        for role in &aad.roles {
            for (p, doc) in admin_inline(&role.inline_policies) {
                hits.push(inline_admin_hit(ResourceType::Role, "role", &role.name, &role.arn, &p, &doc));
            }
        }
        // A document that could not be read may grant everything: never a pass (a targeted
        // read holds inline policies by name only, so only a whole account's details can tell).
        if aad.complete {
            let unread = crate::principals::unread_for_admin_policy(aad);
            if !unread.is_empty() {
                let found: Vec<String> = hits
                    .iter()
                    .map(|h| if h.discriminator.is_empty() { h.resource_arn.clone() } else { format!("{} of {}", h.discriminator, h.resource_arn) })
                    .collect();
                let found = match found.len() {
                    0 => "none does".to_string(),
                    n if n <= 10 => format!("{n} do: {}", found.join(", ")),
                    n => format!("{n} do: {}, and {} more", found[..10].join(", "), n - 10),
                };
                return Err(NotEvaluated::unreadable(format!(
                    "{} {} could not be read, so whether {} every action on every resource is unknown: {}. Of the documents that were read, {found}.",
                    unread.len(),
                    if unread.len() == 1 { "policy document" } else { "policy documents" },
                    if unread.len() == 1 { "it allows" } else { "they allow" },
                    crate::principals::describe_unread(&unread)
                )));
            }
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// server-certificate-rotation

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerCertificateParams {
    pub min_days_left: u32,
    pub max_age_days: u32,
}

impl Params for ServerCertificateParams {}

impl Default for ServerCertificateParams {
    fn default() -> Self {
        ServerCertificateParams { min_days_left: 30, max_age_days: 365 }
    }
}

pub static SERVER_CERTIFICATE_ROTATION: RuleDef<ServerCertificateParams> = RuleDef {
    meta: Meta {
        id: "server-certificate-rotation",
        title: "Server certificate expired, expiring or old",
        severity: Severity::High,
        resource_type: ResourceType::ServerCertificate,
        description: "An IAM server certificate (the kind ELB listeners use) has expired, has fewer than `min_days_left` days left, or was uploaded more than `max_age_days` ago.",
        rationale: "An expired certificate on a load balancer listener breaks TLS for every client; an old one has had its private key exposed for longer. IAM does not renew server certificates: they have to be replaced and the listeners switched by hand (or moved to AWS Certificate Manager, which renews).",
        remediation: "Upload a renewed certificate (or use an ACM certificate), switch every listener to it, then delete the old certificate.",
        standards: &["Cloudanix IAM checklist: ELB Certificates Should Be Rotated"],
        controls: &[Control::cis3("1.19"), Control::cis4("1.19"), Control::cis5("1.18")],
        data: &[DataSource::ServerCertificates],
        requires: Requires::All(&[DataSource::ServerCertificates]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::ServerCertificate],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[
            ParamDoc {
                name: "min_days_left",
                description: "A certificate with fewer than this many days before it expires is reported (expired ones always are).",
            },
            ParamDoc {
                name: "max_age_days",
                description: "A certificate uploaded more than this many days ago is reported (0 turns the age check off).",
            },
        ],
    },
    check: |ctx, params| {
        let Some(certificates) = ctx.inventory.server_certificates.as_ref() else {
            return Err(NotEvaluated::unreadable(ctx.inventory.missing_reason(DataSource::ServerCertificates)));
        };
        let mut hits = Vec::new();
        for cert in certificates {
            let mut reasons = Vec::new();
            let mut codes = Vec::new();
            let days_left = cert.expiration.map(|e| (e - ctx.now).num_days());
            if let Some(expiration) = cert.expiration {
                if expiration <= ctx.now {
                    codes.push("expired");
                    reasons.push(format!("expired on {} ({} ago)", day(expiration), days(ctx.days_since(expiration))));
                } else if expiration - ctx.now < Duration::days(i64::from(params.min_days_left)) {
                    codes.push("expiring");
                    reasons.push(format!(
                        "expires on {} (in {}; at least {} must be left)",
                        day(expiration),
                        days((expiration - ctx.now).num_days()),
                        days(i64::from(params.min_days_left))
                    ));
                }
            }
            let age = cert.upload_date.map(|u| ctx.days_since(u));
            if let (Some(uploaded), Some(age)) = (cert.upload_date, age) {
                if params.max_age_days > 0 && age > i64::from(params.max_age_days) {
                    codes.push("too_old");
                    reasons.push(format!(
                        "was uploaded on {} ({} ago; the limit is {})",
                        day(uploaded),
                        days(age),
                        days(i64::from(params.max_age_days))
                    ));
                }
            }
            if reasons.is_empty() {
                continue;
            }
            let new_name = format!("{}-{}", cert.name, ctx.now.format("%Y%m%d"));
            let path = if cert.path.is_empty() || cert.path == "/" { String::new() } else { format!(" --path {}", sh(&cert.path)) };
            let remediation = format!(
                "# Upload the renewed certificate (or move the listeners to an AWS Certificate Manager certificate, which renews itself):\n\
aws iam upload-server-certificate --server-certificate-name {new}{path} --certificate-body file://certificate.pem --private-key file://private-key.pem --certificate-chain file://chain.pem\n\
# Switch every listener that uses {arn} to the new certificate's ARN:\n\
aws elbv2 modify-listener --listener-arn <listener-arn> --certificates CertificateArn=<new-certificate-arn>\n\
aws elb set-load-balancer-listener-ssl-certificate --load-balancer-name <load-balancer-name> --load-balancer-port 443 --ssl-certificate-id <new-certificate-arn>\n\
# Then delete the old certificate:\n\
aws iam delete-server-certificate --server-certificate-name {old}",
                new = sh(&new_name),
                arn = cert.arn,
                old = sh(&cert.name),
            );
            hits.push(
                Hit::new(
                    ResourceType::ServerCertificate,
                    &cert.arn,
                    &cert.name,
                    format!("Server certificate {} {}.", cert.name, reasons.join(" and ")),
                    remediation,
                )
                .details(json!({
                    "reasons": codes,
                    "expiration": cert.expiration,
                    "upload_date": cert.upload_date,
                    "days_left": days_left,
                    "age_days": age,
                    "min_days_left": params.min_days_left,
                    "max_age_days": params.max_age_days,
                })),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// role-service-inactivity

pub static ROLE_SERVICE_INACTIVITY: RuleDef<service_activity::ServiceInactivityParams> = RuleDef {
    meta: Meta {
        id: "role-service-inactivity",
        title: "Role allowed services it does not use",
        severity: Severity::Low,
        resource_type: ResourceType::Role,
        description: "A role (not service-linked) is allowed to use services it has not used for more than `max_unused_days` (never used: counted from the role's creation). Opt-in: it costs one service-last-accessed job per role.",
        rationale: "Roles accumulate permissions for services they no longer (or never) call; whoever can assume the role inherits them. Service-last-accessed data shows which granted services are actually used, so unused ones can be removed.",
        remediation: "Remove the unused services from the role's policies, keeping only what it uses.",
        standards: &["Cloudanix IAM checklist: Role Service Inactivity"],
        controls: &[],
        data: &[DataSource::ServiceLastAccessed, DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::ServiceLastAccessed, DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: false,
        params: service_activity::PARAMS,
    },
    check: |ctx, params| {
        let aad = ctx.aad()?;
        service_activity::check_principals(
            ctx,
            params,
            aad.roles.iter().filter(|r| !r.is_service_linked()).map(|r| service_activity::Principal {
                resource_type: ResourceType::Role,
                kind: "role",
                name: &r.name,
                arn: &r.arn,
                created: r.create_date,
            }),
        )
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{InlinePolicy, Inventory, ServerCertificate};
    use crate::report::FindingStatus;
    use crate::testkit::*;
    use crate::RuleStatus;
    use serde_json::json;

    fn with_roles(roles: Vec<Role>) -> Inventory {
        let mut inv = inventory();
        aad(&mut inv).roles = roles;
        inv
    }

    fn role_created(name: &str, created: i64, used: Option<i64>) -> Role {
        let mut r = role(name);
        r.create_date = Some(ago(created));
        r.last_used = used.map(ago);
        r
    }

    // --- inactive-role ----------------------------------------------------------------------

    #[test]
    fn inactive_role() {
        let inv = with_roles(vec![
            role_created("used-recently", 400, Some(10)),
            role_created("used-long-ago", 400, Some(91)),
            role_created("used-at-limit", 400, Some(90)),
            role_created("new-never-used", 30, None),
            role_created("never-used", 692, None),
            role_created("never-used-recent-window", 120, None),
        ]);
        check(
            "inactive-role",
            &inv,
            json!({}),
            &[&role_arn("used-long-ago"), &role_arn("never-used"), &role_arn("never-used-recent-window")],
        );
        check("inactive-role", &inv, json!({"max_unused_days": 700}), &[]);
        check(
            "inactive-role",
            &inv,
            json!({"max_unused_days": 9}),
            &[
                &role_arn("used-recently"),
                &role_arn("used-long-ago"),
                &role_arn("used-at-limit"),
                &role_arn("new-never-used"),
                &role_arn("never-used"),
                &role_arn("never-used-recent-window"),
            ],
        );
        let fs = findings("inactive-role", &inv, json!({}));
        let msg = |name: &str| fs.iter().find(|f| f.resource_name == name).unwrap().message.clone();
        assert_eq!(
            msg("used-long-ago"),
            format!("Role used-long-ago was last used on {} (91 days ago); the limit is 90 days.", day(ago(91)))
        );
        assert_eq!(
            msg("never-used-recent-window"),
            format!(
                "Role never-used-recent-window has not been used since it was created on {} (120 days ago); the limit is 90 days.",
                day(ago(120))
            )
        );
        assert_eq!(
            msg("never-used"),
            format!(
                "Role never-used has not been used since it was created on {} (692 days ago; IAM records role use for about the last 400 days); the limit is 90 days.",
                day(ago(692))
            )
        );
        let f = fs.iter().find(|f| f.resource_name == "used-long-ago").unwrap();
        assert_eq!(f.resource_type, ResourceType::Role);
        assert_eq!(f.details["days_unused"], json!(91));
        assert!(f.remediation.contains("aws iam delete-role --role-name used-long-ago"), "{}", f.remediation);
    }

    #[test]
    fn inactive_role_skips_service_linked_roles() {
        let mut slr = service_linked_role("AWSServiceRoleForElasticLoadBalancing");
        slr.create_date = Some(ago(900));
        let inv = with_roles(vec![slr, role_created("old", 900, None)]);
        check("inactive-role", &inv, json!({}), &[&role_arn("old")]);
    }

    #[test]
    fn inactive_role_remediation_cleans_policies_first() {
        let mut r = role_created("old", 900, Some(200));
        r.attached_policies.push(attach(&managed("deploy", read_only_doc())));
        r.inline_policies.push(inline("extra", read_only_doc()));
        let f = &findings("inactive-role", &with_roles(vec![r]), json!({}))[0];
        let detach = f.remediation.find("aws iam detach-role-policy --role-name old --policy-arn").unwrap();
        let inline = f.remediation.find("aws iam delete-role-policy --role-name old --policy-name extra").unwrap();
        let delete = f.remediation.find("aws iam delete-role --role-name old").unwrap();
        assert!(detach < delete && inline < delete, "{}", f.remediation);
    }

    // --- role-inline-policies ---------------------------------------------------------------

    #[test]
    fn role_inline_policies() {
        let mut with_two = role("app");
        with_two.inline_policies.extend([inline("s3-read", read_only_doc()), inline("logs", read_only_doc())]);
        let mut slr = service_linked_role("AWSServiceRoleForX");
        slr.inline_policies.push(inline("svc", read_only_doc()));
        let mut managed_only = role("clean");
        managed_only.attached_policies.push(attach(&managed("deploy", read_only_doc())));
        let inv = with_roles(vec![with_two, slr, managed_only]);
        check("role-inline-policies", &inv, json!({}), &[&role_arn("app")]);
        let f = &findings("role-inline-policies", &inv, json!({}))[0];
        assert_eq!(f.message, "Role app has 2 inline policies: s3-read, logs.");
        assert_eq!(f.details["inline_policies"], json!(["s3-read", "logs"]));
        assert!(f.remediation.contains("aws iam delete-role-policy --role-name app --policy-name s3-read"), "{}", f.remediation);
        assert!(
            f.remediation.contains(&format!("aws iam attach-role-policy --role-name app --policy-arn {}", policy_arn("app-logs"))),
            "{}",
            f.remediation
        );
        check("role-inline-policies", &with_roles(vec![role("clean")]), json!({}), &[]);
    }

    // --- empty-group ------------------------------------------------------------------------

    #[test]
    fn empty_group() {
        let mut inv = inventory();
        let mut stale = group("stale-admins");
        stale.attached_policies.push(attach(&managed(ADMINISTRATOR_ACCESS, admin_doc())));
        aad(&mut inv).groups.extend([group("devs"), stale, group("nothing")]);
        let mut alice = user("alice");
        alice.groups.push("devs".into());
        aad(&mut inv).users.push(alice);
        check("empty-group", &inv, json!({}), &[&group_arn("stale-admins"), &group_arn("nothing")]);
        let fs = findings("empty-group", &inv, json!({}));
        let stale = fs.iter().find(|f| f.resource_name == "stale-admins").unwrap();
        assert_eq!(stale.resource_type, ResourceType::Group);
        assert_eq!(stale.message, "Group stale-admins has no members but still has 1 policy.");
        assert!(stale
            .remediation
            .contains(&format!("aws iam detach-group-policy --group-name stale-admins --policy-arn {ADMINISTRATOR_ACCESS}")));
        assert!(stale.remediation.ends_with("aws iam delete-group --group-name stale-admins"), "{}", stale.remediation);
        // Everyone in a group: passes.
        aad(&mut inv).users[0].groups.extend(["stale-admins".to_string(), "nothing".to_string()]);
        check("empty-group", &inv, json!({}), &[]);
        // A targeted inventory does not list every member.
        aad(&mut inv).complete = false;
        let (status, reason) = status("empty-group", &inv, json!({}));
        assert_eq!(status, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("needs every user"));
    }

    #[test]
    fn empty_group_from_groups_read_with_their_members() {
        // An event read one group with its members (GetGroup) instead of the whole account: the
        // same finding as from the whole account.
        let mut stale = group("stale-admins");
        stale.attached_policies.push(attach(&managed(ADMINISTRATOR_ACCESS, admin_doc())));
        stale.inline_policies.push(inline("extra", admin_doc()));
        let mut whole = inventory();
        aad(&mut whole).groups.extend([group("devs"), stale.clone()]);
        let mut alice = user("alice");
        alice.groups.push("devs".into());
        aad(&mut whole).users.push(alice);
        let expected = findings("empty-group", &whole, json!({}));
        assert_eq!(expected.len(), 1);

        let mut targeted = inventory();
        aad(&mut targeted).groups.push(stale);
        aad(&mut targeted).complete = false;
        targeted.group_members = Some([("stale-admins".to_string(), 0)].into());
        let fs = findings("empty-group", &targeted, json!({}));
        assert_eq!(fs.len(), 1);
        let f = &fs[0];
        assert_eq!(
            (&f.fingerprint, &f.message, &f.remediation, &f.details),
            (&expected[0].fingerprint, &expected[0].message, &expected[0].remediation, &expected[0].details)
        );
        assert_eq!(f.message, "Group stale-admins has no members but still has 2 policies.");
        // With a member now: no finding.
        targeted.group_members = Some([("stale-admins".to_string(), 1)].into());
        check("empty-group", &targeted, json!({}), &[]);
        // A group held without its member count is not judged.
        targeted.group_members = Some(Default::default());
        check("empty-group", &targeted, json!({}), &[]);
    }

    // --- admin-policy -----------------------------------------------------------------------

    #[test]
    fn admin_policy_customer_managed() {
        let mut inv = inventory();
        let mut everything = managed("everything", admin_doc());
        everything.attachment_count = Some(3);
        let scoped = managed("scoped", read_only_doc());
        // AWS managed AdministratorAccess is not a customer-managed policy.
        let aws_admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let broken = crate::inventory::ManagedPolicy { document: Some(Err("not valid JSON".into())), ..managed("broken", admin_doc()) };
        let not_collected = crate::inventory::ManagedPolicy { document: None, ..managed("unknown", admin_doc()) };
        aad(&mut inv).policies.extend([everything, scoped, aws_admin]);
        check("admin-policy", &inv, json!({}), &[&policy_arn("everything")]);
        // A document that could not be read, or is not there, may grant everything: the rule
        // says which it could not read, and what it found in the others; never a pass.
        let mut unreadable = inv.clone();
        aad(&mut unreadable).policies.extend([broken, not_collected]);
        assert_eq!(
            status("admin-policy", &unreadable, json!({})),
            (
                crate::RuleStatus::NotEvaluated,
                Some(format!(
                    "2 policy documents could not be read, so whether they allow every action on every resource is unknown: \
managed policy {} (not valid JSON); managed policy {} (the document of its default version is not in the authorization details). \
Of the documents that were read, 1 do: {}.",
                    policy_arn("broken"),
                    policy_arn("unknown"),
                    policy_arn("everything")
                ))
            )
        );
        // A customer managed policy attached to a role but missing from the details (what
        // `--filter User Role Group` writes), and an AWS managed one (judged by name).
        let mut filtered = inv.clone();
        aad(&mut filtered).policies.clear();
        let mut r = role("deploy");
        r.attached_policies.extend([attach(&managed("team-admin", admin_doc())), attach(&managed(ADMINISTRATOR_ACCESS, admin_doc()))]);
        aad(&mut filtered).roles.push(r);
        let (status_, reason) = status("admin-policy", &filtered, json!({}));
        assert_eq!(status_, crate::RuleStatus::NotEvaluated);
        assert_eq!(
            reason.unwrap(),
            format!(
                "1 policy document could not be read, so whether it allows every action on every resource is unknown: managed policy {} \
(not in the authorization details: their Policies list lacks it, as --filter User Role Group leaves out). \
Of the documents that were read, none does.",
                policy_arn("team-admin")
            )
        );
        // A targeted read (inline policies by name only) is judged on what it holds.
        aad(&mut unreadable).complete = false;
        check("admin-policy", &unreadable, json!({}), &[&policy_arn("everything")]);
        let f = &findings("admin-policy", &inv, json!({}))[0];
        assert_eq!(f.resource_type, ResourceType::Policy);
        assert_eq!(
            f.message,
            "Customer managed policy everything allows every action (*) on every resource (*). It is attached to 3 users, groups or roles."
        );
        assert!(f.remediation.contains(&format!(
            "aws iam create-policy-version --policy-arn {} --policy-document file://scoped-policy.json --set-as-default",
            policy_arn("everything")
        )));
        assert_eq!(f.details["admin_statements"], json!([{"index": 0, "sid": null}]));
    }

    #[test]
    fn admin_policy_deny_notaction_condition_are_not_admin() {
        let mut inv = inventory();
        let docs = [
            json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::bucket/*"}]}),
        ];
        let mut u = user("u");
        let mut r = role("r");
        for (i, d) in docs.iter().enumerate() {
            aad(&mut inv).policies.push(managed(&format!("p{i}"), d.clone()));
            u.inline_policies.push(inline(&format!("p{i}"), d.clone()));
            r.inline_policies.push(inline(&format!("p{i}"), d.clone()));
        }
        aad(&mut inv).users.push(u);
        aad(&mut inv).roles.push(r);
        check("admin-policy", &inv, json!({}), &[]);
    }

    #[test]
    fn admin_policy_inline_on_users_groups_and_roles() {
        let mut inv = inventory();
        let mut u = user("alice");
        u.inline_policies.extend([inline("all", admin_doc()), inline("read", read_only_doc()), inline("all-too", admin_doc())]);
        let mut g = group("ops");
        g.inline_policies
            .push(inline("ops-all", json!({"Statement":{"Sid":"Everything","Effect":"Allow","Action":"*:*","Resource":["*"]}})));
        let mut r = role("deploy");
        r.inline_policies.push(inline("all", admin_doc()));
        aad(&mut inv).users.push(u);
        aad(&mut inv).groups.push(g);
        aad(&mut inv).roles.push(r);
        check("admin-policy", &inv, json!({}), &[&user_arn("alice"), &user_arn("alice"), &group_arn("ops"), &role_arn("deploy")]);
        let fs = findings("admin-policy", &inv, json!({}));
        // Two inline policies on one user: two findings with distinct fingerprints.
        let alice: Vec<_> = fs.iter().filter(|f| f.resource_name == "alice").collect();
        assert_ne!(alice[0].fingerprint, alice[1].fingerprint);
        let ops = fs.iter().find(|f| f.resource_name == "ops").unwrap();
        assert_eq!(ops.resource_type, ResourceType::Group);
        assert_eq!(ops.message, "Inline policy ops-all of group ops allows every action (*) on every resource (*).");
        assert!(ops.remediation.contains("aws iam delete-group-policy --group-name ops --policy-name ops-all"), "{}", ops.remediation);
        assert_eq!(ops.details["admin_statements"], json!([{"index": 0, "sid": "Everything"}]));
        let deploy = fs.iter().find(|f| f.resource_name == "deploy").unwrap();
        assert_eq!(deploy.resource_type, ResourceType::Role);
        assert!(deploy.remediation.contains("aws iam put-role-policy --role-name deploy --policy-name all"), "{}", deploy.remediation);
        assert_eq!(deploy.fingerprint, crate::report::fingerprint("admin-policy", &role_arn("deploy"), "inline:all"));
        // An inline policy that could not be parsed: not evaluated, naming it.
        aad(&mut inv).users[0].inline_policies.push(InlinePolicy { name: "broken".into(), document: Err("not valid JSON".into()) });
        let (status_, reason) = status("admin-policy", &inv, json!({}));
        assert_eq!(status_, crate::RuleStatus::NotEvaluated);
        let reason = reason.unwrap();
        assert!(
            reason.starts_with(&format!("1 policy document could not be read, so whether it allows every action on every resource is unknown: inline policy broken of {} (not valid JSON). Of the documents that were read, 4 do: inline:all of {}", user_arn("alice"), user_arn("alice"))),
            "{reason}"
        );
    }

    #[test]
    fn admin_policy_exception() {
        let mut inv = inventory();
        aad(&mut inv).policies.push(managed("break-glass", admin_doc()));
        let settings = |expires: &str| json!({"exceptions": [{"resource": policy_arn("break-glass"), "reason": "break-glass access, reviewed", "expires": expires}]});
        let fs = findings("admin-policy", &inv, settings("2026-12-31"));
        assert_eq!(fs.iter().map(|f| f.status).collect::<Vec<_>>(), vec![FindingStatus::Suppressed]);
        assert_eq!(fs[0].suppression.as_ref().unwrap().reason, "break-glass access, reviewed");
        check("admin-policy", &inv, settings("2026-11-22"), &[&policy_arn("break-glass")]);
    }

    // --- server-certificate-rotation --------------------------------------------------------

    fn cert(name: &str, uploaded: i64, expires_in: i64) -> ServerCertificate {
        ServerCertificate {
            name: name.into(),
            arn: format!("arn:aws:iam::{ACCOUNT}:server-certificate/{name}"),
            path: "/".into(),
            upload_date: Some(ago(uploaded)),
            expiration: Some(ago(-expires_in)),
        }
    }

    fn with_certs(certs: Vec<ServerCertificate>) -> Inventory {
        let mut inv = inventory();
        inv.server_certificates = Some(certs);
        inv
    }

    fn cert_arn(name: &str) -> String {
        format!("arn:aws:iam::{ACCOUNT}:server-certificate/{name}")
    }

    #[test]
    fn server_certificate_rotation() {
        let inv = with_certs(vec![
            cert("fresh", 10, 300),
            cert("expired", 300, -5),
            cert("expiring", 300, 7),
            cert("thirty-days-left", 300, 30),
            cert("old", 400, 200),
            cert("everything-wrong", 500, -1),
        ]);
        check(
            "server-certificate-rotation",
            &inv,
            json!({}),
            &[&cert_arn("expired"), &cert_arn("expiring"), &cert_arn("old"), &cert_arn("everything-wrong")],
        );
        let fs = findings("server-certificate-rotation", &inv, json!({}));
        let get = |name: &str| fs.iter().find(|f| f.resource_name == name).unwrap();
        assert_eq!(get("expired").resource_type, ResourceType::ServerCertificate);
        assert_eq!(get("expired").message, format!("Server certificate expired expired on {} (5 days ago).", day(ago(5))));
        assert_eq!(
            get("expiring").message,
            format!("Server certificate expiring expires on {} (in 7 days; at least 30 days must be left).", day(ago(-7)))
        );
        assert_eq!(
            get("old").message,
            format!("Server certificate old was uploaded on {} (400 days ago; the limit is 365 days).", day(ago(400)))
        );
        let all = get("everything-wrong");
        assert_eq!(all.details["reasons"], json!(["expired", "too_old"]));
        assert!(all.message.contains("expired on") && all.message.contains(" and was uploaded on"), "{}", all.message);
        for expected in [
            "aws iam upload-server-certificate --server-certificate-name old-20261123 ",
            "aws elbv2 modify-listener --listener-arn <listener-arn> --certificates CertificateArn=<new-certificate-arn>",
            "aws elb set-load-balancer-listener-ssl-certificate",
            "aws iam delete-server-certificate --server-certificate-name old",
        ] {
            assert!(get("old").remediation.contains(expected), "missing {expected:?} in {}", get("old").remediation);
        }
        // Params: a wider expiry window and the age check turned off.
        check(
            "server-certificate-rotation",
            &inv,
            json!({"min_days_left": 31, "max_age_days": 0}),
            &[&cert_arn("expired"), &cert_arn("expiring"), &cert_arn("thirty-days-left"), &cert_arn("everything-wrong")],
        );
        check("server-certificate-rotation", &with_certs(vec![cert("fresh", 10, 300)]), json!({}), &[]);
        // The limits exactly: uploaded 365 days ago is within the default 365, 366 is not; a
        // certificate whose expiration is now has expired (not "expires in 0 days").
        let edges = with_certs(vec![cert("age-365", 365, 300), cert("age-366", 366, 300), cert("expires-now", 10, 0)]);
        check("server-certificate-rotation", &edges, json!({}), &[&cert_arn("age-366"), &cert_arn("expires-now")]);
        let fs = findings("server-certificate-rotation", &edges, json!({}));
        let now_expired = fs.iter().find(|f| f.resource_name == "expires-now").unwrap();
        assert_eq!(now_expired.details["reasons"], json!(["expired"]));
        assert_eq!(now_expired.message, format!("Server certificate expires-now expired on {} (0 days ago).", day(now())));
        // One second before expiry: 0 whole days left, expiring, not expired.
        let mut almost = cert("almost", 10, 0);
        almost.expiration = Some(now() + Duration::seconds(1));
        let f = &findings("server-certificate-rotation", &with_certs(vec![almost]), json!({}))[0];
        assert_eq!(f.details["reasons"], json!(["expiring"]));
        check("server-certificate-rotation", &with_certs(vec![]), json!({}), &[]);
    }

    #[test]
    fn server_certificates_not_collected_is_not_evaluated() {
        let mut inv = inventory();
        inv.server_certificates = None;
        inv.record_gap(DataSource::ServerCertificates, "AccessDenied on iam:ListServerCertificates");
        let (status, reason) = status("server-certificate-rotation", &inv, json!({}));
        assert_eq!(status, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("AccessDenied"));
    }
}
