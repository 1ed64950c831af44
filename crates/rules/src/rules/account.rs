//! Account-level rules: who may exist (individual and approved users), which managed
//! policies may be used, how many administrators there are, and the password policy.
//!
//! Rules that count over the whole account (no users at all, admin counts, every entity an
//! unapproved policy is attached to) set `needs_complete_account`: on a targeted, one-entity
//! inventory they report `not_evaluated` instead of a wrong count.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

use crate::inventory::{name_from_arn, DataSource, PasswordPolicy, User};
use crate::pattern::PatternList;
use crate::principals::{Admin, AdminSource};
use crate::rule::*;

use super::sh;

/// The changes that can change who is an administrator (and so the administrator counts), or
/// an administrator's name in their messages.
const ADMIN_CHANGES: &[ChangeKind] = &[
    ChangeKind::UserRenamed,
    ChangeKind::UserDeleted,
    ChangeKind::UserPolicyAttachment,
    ChangeKind::GroupPolicyAttachment,
    ChangeKind::RolePolicyAttachment,
    ChangeKind::UserInlinePolicy,
    ChangeKind::GroupInlinePolicy,
    ChangeKind::RoleInlinePolicy,
    ChangeKind::Boundary,
    ChangeKind::GroupMembership,
    ChangeKind::Group,
    ChangeKind::Role,
    ChangeKind::PolicyVersion,
];

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![&INDIVIDUAL_USERS, &APPROVED_USERS, &UNAPPROVED_POLICY_IN_USE, &MIN_ADMINS, &MAX_ADMINS, &PASSWORD_POLICY]
}

// ---------------------------------------------------------------------------------------------
// Glob lists (settings)

/// A list of name or ARN patterns (`*` matches any run of characters, `/` included; ASCII
/// case-insensitive; see [`crate::pattern`]), validated when the settings are parsed: a bad
/// pattern is an error naming the parameter and the entry. Serializes as the plain list of
/// patterns.
#[derive(Debug, Clone, Default)]
pub struct GlobList {
    patterns: Vec<String>,
    compiled: PatternList,
}

impl GlobList {
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns, as configured.
    pub fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(String::as_str)
    }

    /// Match an entity by name (entries that are not ARNs) or by ARN (entries that start
    /// with `arn:`): the first such entry that matches, in list order.
    pub fn match_name_or_arn(&self, name: &str, arn: &str) -> Option<&str> {
        let by_arn = self.compiled.first(arn, |i| is_arn_pattern(&self.patterns[i]));
        let found = by_arn.or_else(|| self.compiled.first(name, |i| !is_arn_pattern(&self.patterns[i])));
        found.map(|i| self.patterns[i].as_str())
    }
}

fn is_arn_pattern(pattern: &str) -> bool {
    pattern.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("arn:"))
}

impl Serialize for GlobList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.patterns())
    }
}

impl<'de> Deserialize<'de> for GlobList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let patterns = Vec::<String>::deserialize(deserializer)?;
        let compiled = PatternList::new(patterns.iter().map(String::as_str)).map_err(serde::de::Error::custom)?;
        Ok(GlobList { patterns, compiled })
    }
}

// ---------------------------------------------------------------------------------------------
// individual-users

pub static INDIVIDUAL_USERS: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "individual-users",
        title: "Account has no individual IAM users",
        severity: Severity::Medium,
        resource_type: ResourceType::Account,
        description: "The account has no IAM users at all, so every console or API access goes through the root user.",
        rationale: "When nobody has an individual identity, people share the root user: its credentials cannot be scoped, every action is attributed to root, and one leak compromises the whole account. Accounts that give people access only through IAM Identity Center or another federation can accept this finding with an exception.",
        remediation: "Create individual IAM users (or federated access through IAM Identity Center) for everyday work, give them least-privilege permissions through groups, and stop using root.",
        standards: &["Conformity IAM-023 (Check for Individual IAM Users)"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::Required,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserDeleted],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let aad = ctx.aad()?;
        if !aad.users.is_empty() {
            return Ok(vec![]);
        }
        let admin_arn = format!("arn:{}:iam::aws:policy/AdministratorAccess", ctx.inventory.partition_or_default());
        let remediation = format!(
            "# Create an individual user for each person (or use IAM Identity Center), e.g. an administrators group and a first user:\n\
aws iam create-group --group-name administrators\n\
aws iam attach-group-policy --group-name administrators --policy-arn {admin_arn}\n\
aws iam create-user --user-name <your-name>\n\
aws iam add-user-to-group --group-name administrators --user-name <your-name>\n\
aws iam create-login-profile --user-name <your-name> --password <initial-password> --password-reset-required"
        );
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            ctx.account_id(),
            format!("Account {} has no IAM users, so access can only be made with the root user.", ctx.account_id()),
            remediation,
        )
        .details(json!({"users": 0, "roles": aad.roles.len(), "groups": aad.groups.len()}))])
    },
};

// ---------------------------------------------------------------------------------------------
// approved-users

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovedUsersParams {
    pub approved: GlobList,
}

impl Params for ApprovedUsersParams {}

/// The commands that delete an IAM user: `delete-user` fails until every credential, group
/// membership and policy is gone. Groups and policies come from the inventory; credentials
/// (keys, MFA, certificates) have to be listed first.
pub(crate) fn delete_user_commands(user: &User) -> String {
    let u = sh(&user.name);
    let mut lines = vec![
        format!("aws iam delete-login-profile --user-name {u}"),
        format!("aws iam list-access-keys --user-name {u}   # then: aws iam delete-access-key --user-name {u} --access-key-id <id>"),
        format!("aws iam list-mfa-devices --user-name {u}   # then: aws iam deactivate-mfa-device --user-name {u} --serial-number <serial>"),
        format!("aws iam list-signing-certificates --user-name {u}   # then: aws iam delete-signing-certificate --user-name {u} --certificate-id <id>"),
        format!("aws iam list-ssh-public-keys --user-name {u}   # then: aws iam delete-ssh-public-key --user-name {u} --ssh-public-key-id <id>"),
        format!("aws iam list-service-specific-credentials --user-name {u}   # then: aws iam delete-service-specific-credential --user-name {u} --service-specific-credential-id <id>"),
    ];
    for group in &user.groups {
        lines.push(format!("aws iam remove-user-from-group --user-name {u} --group-name {}", sh(group)));
    }
    for policy in &user.attached_policies {
        lines.push(format!("aws iam detach-user-policy --user-name {u} --policy-arn {}", sh(&policy.arn)));
    }
    for policy in &user.inline_policies {
        lines.push(format!("aws iam delete-user-policy --user-name {u} --policy-name {}", sh(&policy.name)));
    }
    lines.push(format!("aws iam delete-user --user-name {u}"));
    lines.join("\n")
}

pub static APPROVED_USERS: RuleDef<ApprovedUsersParams> = RuleDef {
    meta: Meta {
        id: "approved-users",
        title: "IAM user is not on the approved list",
        severity: Severity::Medium,
        resource_type: ResourceType::User,
        description: "An IAM user exists whose name is not on the configured list of approved users.",
        rationale: "Only users someone has reviewed and approved should be able to reach the account; an unknown user is either forgotten or was created to keep access. Until the list is configured the rule cannot say anything and reports not_evaluated.",
        remediation: "Delete the unapproved user (after removing its credentials, group memberships and policies), or, after review, add its name to the rule's \"approved\" list.",
        standards: &["Conformity IAM-058 (Check that only safelisted IAM Users exist)"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserCreated, ChangeKind::UserRenamed],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "approved",
            description: "Approved user names; `*` globs allowed, matched case-insensitively (an entry starting with `arn:` matches the user ARN instead). Empty: the rule is not evaluated.",
        }],
    },
    check: |ctx, params| {
        if params.approved.is_empty() {
            return Err(NotEvaluated::unconfigured(
                "no approved users configured: set \"approved\" (a list of user names or globs) in the rule's settings",
            ));
        }
        let aad = ctx.aad()?;
        let patterns: Vec<&str> = params.approved.patterns().collect();
        Ok(aad
            .users
            .iter()
            .filter(|u| params.approved.match_name_or_arn(&u.name, &u.arn).is_none())
            .map(|u| {
                Hit::new(
                    ResourceType::User,
                    &u.arn,
                    &u.name,
                    format!("IAM user {} is not on the approved users list.", u.name),
                    format!(
                        "# If the user is not legitimate, delete it (delete-user fails until its credentials, groups and policies are removed):\n{}\n\
# If it is legitimate, add \"{}\" to the \"approved\" list of this rule's settings instead.",
                        delete_user_commands(u),
                        u.name
                    ),
                )
                .details(json!({"user": u.name, "approved": patterns, "created": u.create_date}))
            })
            .collect())
    },
};

// ---------------------------------------------------------------------------------------------
// unapproved-policy-in-use

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnapprovedPolicyParams {
    pub unapproved: GlobList,
}

impl Params for UnapprovedPolicyParams {}

/// The entities one policy is attached to.
#[derive(Default)]
struct Attachments {
    name: String,
    users: Vec<String>,
    groups: Vec<String>,
    roles: Vec<(String, bool)>,
}

fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

pub static UNAPPROVED_POLICY_IN_USE: RuleDef<UnapprovedPolicyParams> = RuleDef {
    meta: Meta {
        id: "unapproved-policy-in-use",
        title: "Unapproved managed policy in use",
        severity: Severity::High,
        resource_type: ResourceType::Policy,
        description: "A managed policy on the configured unapproved list is attached to a user, group or role; the finding names every attached entity.",
        rationale: "Some managed policies grant more than an organization accepts (broad AWS managed *FullAccess policies, legacy policies). Listing them and detecting every attachment keeps them out of use; the attachments are read from every user, group and role rather than trusting AttachmentCount.",
        remediation: "Detach the policy from every user, group and role it is attached to (aws iam detach-user-policy / detach-group-policy / detach-role-policy), replacing it with an approved, scoped policy.",
        standards: &["Conformity IAM-068 (Unapproved IAM Policy in Use)"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::OrPolicyEntities,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserPolicyAttachment, ChangeKind::GroupPolicyAttachment, ChangeKind::RolePolicyAttachment],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "unapproved",
            description: "Unapproved managed policies: an entry starting with `arn:` matches the policy ARN, any other entry the policy name; `*` globs allowed, case-insensitive. Empty: the rule is not evaluated.",
        }],
    },
    check: |ctx, params| {
        if params.unapproved.is_empty() {
            return Err(NotEvaluated::unconfigured(
                "no unapproved policies configured: set \"unapproved\" (a list of policy ARNs, names or globs) in the rule's settings",
            ));
        }
        // Policy ARN → (the pattern it matched, where it is attached), in ARN order.
        let mut found: BTreeMap<String, (String, Attachments)> = BTreeMap::new();
        // Each policy is matched once, however many entities hold it (an account has far fewer
        // policies than attachments). Key: ARN and the name it was listed under.
        let mut verdicts: std::collections::HashMap<(String, String), Option<&str>> = std::collections::HashMap::new();
        let mut record = |arn: &str, name: &str, push: &dyn Fn(&mut Attachments)| {
            let name = if name.is_empty() { name_from_arn(arn) } else { name };
            let matched = *verdicts
                .entry((arn.to_string(), name.to_string()))
                .or_insert_with(|| params.unapproved.match_name_or_arn(name, arn));
            if let Some(pattern) = matched {
                let (_, attachments) = found
                    .entry(arn.to_string())
                    .or_insert_with(|| (pattern.to_string(), Attachments { name: name.to_string(), ..Default::default() }));
                push(attachments);
            }
        };
        match &ctx.inventory.policy_entities {
            // A targeted run read the attachments of the policies it is about.
            Some(policies) => {
                for p in policies.iter().filter(|p| !(p.users.is_empty() && p.groups.is_empty() && p.roles.is_empty())) {
                    record(&p.arn, &p.name, &|a| {
                        a.users.extend(p.users.iter().cloned());
                        a.groups.extend(p.groups.iter().cloned());
                        a.roles.extend(p.roles.iter().cloned());
                    });
                }
            }
            None => {
                let aad = ctx.aad()?;
                for user in &aad.users {
                    for p in &user.attached_policies {
                        record(&p.arn, &p.name, &|a| a.users.push(user.name.clone()));
                    }
                }
                for group in &aad.groups {
                    for p in &group.attached_policies {
                        record(&p.arn, &p.name, &|a| a.groups.push(group.name.clone()));
                    }
                }
                for role in &aad.roles {
                    for p in &role.attached_policies {
                        record(&p.arn, &p.name, &|a| a.roles.push((role.name.clone(), role.is_service_linked())));
                    }
                }
            }
        }
        Ok(found
            .into_iter()
            .map(|(arn, (pattern, mut at))| {
                // By name, whatever order they were listed in.
                for list in [&mut at.users, &mut at.groups] {
                    list.sort();
                    list.dedup();
                }
                at.roles.sort();
                at.roles.dedup();
                let mut entities = Vec::new();
                entities.extend(at.users.iter().map(|u| format!("user {u}")));
                entities.extend(at.groups.iter().map(|g| format!("group {g}")));
                entities.extend(at.roles.iter().map(|(r, _)| format!("role {r}")));
                let count = entities.len();
                let p = sh(&arn);
                let mut commands = Vec::new();
                for u in &at.users {
                    commands.push(format!("aws iam detach-user-policy --user-name {} --policy-arn {p}", sh(u)));
                }
                for g in &at.groups {
                    commands.push(format!("aws iam detach-group-policy --group-name {} --policy-arn {p}", sh(g)));
                }
                for (r, service_linked) in &at.roles {
                    if *service_linked {
                        commands.push(format!(
                            "# role {r} is service-linked: only its AWS service can change its policies; if the service no longer needs it: aws iam delete-service-linked-role --role-name {}",
                            sh(r)
                        ));
                    } else {
                        commands.push(format!("aws iam detach-role-policy --role-name {} --policy-arn {p}", sh(r)));
                    }
                }
                let roles: Vec<&str> = at.roles.iter().map(|(r, _)| r.as_str()).collect();
                Hit::new(
                    ResourceType::Policy,
                    &arn,
                    &at.name,
                    format!(
                        "Unapproved policy {} ({arn}) is attached to {} {}: {}.",
                        at.name,
                        count,
                        if count == 1 { "entity" } else { "entities" },
                        and_list(&entities)
                    ),
                    format!(
                        "# Detach the unapproved policy from every entity (replace it with an approved, scoped policy first if they need the access):\n{}",
                        commands.join("\n")
                    ),
                )
                .details(json!({
                    "policy_arn": arn,
                    "policy_name": at.name,
                    "matched": pattern,
                    "users": at.users,
                    "groups": at.groups,
                    "roles": roles,
                }))
            })
            .collect())
    },
};

// ---------------------------------------------------------------------------------------------
// min-admins / max-admins

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MinAdminsParams {
    pub min: u32,
}

impl Params for MinAdminsParams {}

impl Default for MinAdminsParams {
    fn default() -> Self {
        MinAdminsParams { min: 2 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxAdminsParams {
    pub max: u32,
}

impl Params for MaxAdminsParams {}

impl Default for MaxAdminsParams {
    fn default() -> Self {
        MaxAdminsParams { max: 5 }
    }
}

/// "1 principal" / "3 principals".
fn principals_count(n: usize) -> String {
    if n == 1 {
        "1 principal".to_string()
    } else {
        format!("{n} principals")
    }
}

/// The administrators, or `not_evaluated` when a whole account's details hold policy documents
/// that decide who is one and could not be read (a partial count would be a wrong answer).
fn counted_admins<'a>(ctx: &Ctx<'a>) -> Result<std::borrow::Cow<'a, [Admin]>, NotEvaluated> {
    let admins = ctx.admins()?;
    if let Some(aad) = ctx.inventory.authorization.as_ref().filter(|a| a.complete) {
        let unread = crate::principals::unread_for_admins(aad);
        if !unread.is_empty() {
            return Err(NotEvaluated::unreadable(format!(
                "the administrators cannot be counted: {} {} that decide{} who holds administrator access could not be read: {}. \
Through the documents that were read, {} {} administrator access.",
                unread.len(),
                if unread.len() == 1 { "policy" } else { "policies" },
                if unread.len() == 1 { "s" } else { "" },
                crate::principals::describe_unread(&unread),
                principals_count(admins.len()),
                if admins.len() == 1 { "holds" } else { "hold" }
            )));
        }
    }
    Ok(admins)
}

fn describe_admins(admins: &[Admin]) -> String {
    admins.iter().map(Admin::describe).collect::<Vec<_>>().join("; ")
}

/// The commands that take administrator access away from one principal, path by path.
fn revoke_admin_commands(admin: &Admin) -> Vec<String> {
    let name = sh(&admin.name);
    let mut lines = vec![format!("# {} {}", admin.kind(), admin.name)];
    let role = admin.resource_type == ResourceType::Role;
    for source in &admin.via {
        let line = match (source, role) {
            (AdminSource::Attached { policy_arn }, false) => {
                format!("aws iam detach-user-policy --user-name {name} --policy-arn {}", sh(policy_arn))
            }
            (AdminSource::Attached { policy_arn }, true) => {
                format!("aws iam detach-role-policy --role-name {name} --policy-arn {}", sh(policy_arn))
            }
            (AdminSource::Inline { policy_name }, false) => {
                format!("aws iam delete-user-policy --user-name {name} --policy-name {}", sh(policy_name))
            }
            (AdminSource::Inline { policy_name }, true) => {
                format!("aws iam delete-role-policy --role-name {name} --policy-name {}", sh(policy_name))
            }
            (AdminSource::GroupAttached { group, .. } | AdminSource::GroupInline { group, .. }, _) => {
                format!("aws iam remove-user-from-group --user-name {name} --group-name {}", sh(group))
            }
        };
        if !lines.contains(&line) {
            lines.push(line);
        }
    }
    lines
}

fn admins_details(admins: &[Admin]) -> serde_json::Value {
    serde_json::to_value(admins).unwrap_or_default()
}

pub static MIN_ADMINS: RuleDef<MinAdminsParams> = RuleDef {
    meta: Meta {
        id: "min-admins",
        title: "Too few administrators",
        severity: Severity::Medium,
        resource_type: ResourceType::Account,
        description: "Fewer than `min` principals (users, directly or through groups, and roles that are not service-linked) hold administrator access.",
        rationale: "With a single administrator (or none), losing that person or credential leaves only the root user to run the account, which pushes people to use root; a second administrator is the recovery path.",
        remediation: "Give a second trusted person administrator access, preferably through a group that has the AWS managed AdministratorAccess policy attached.",
        standards: &["Cloudanix IAM checklist: AWS Account Should Have A Minimum Number of Admins"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::OrAdmins,
        keys: Keys::ONE,
        moved_by: ADMIN_CHANGES,
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "min",
            description: "The fewest principals with administrator access the account should have (0 turns the check off).",
        }],
    },
    check: |ctx, params| {
        let admins = counted_admins(ctx)?;
        if admins.len() as u64 >= u64::from(params.min) {
            return Ok(vec![]);
        }
        let message = if admins.is_empty() {
            format!("Account {} has no principal with administrator access; the minimum is {}.", ctx.account_id(), params.min)
        } else {
            format!(
                "Account {} has only {} with administrator access ({}); the minimum is {}.",
                ctx.account_id(),
                principals_count(admins.len()),
                describe_admins(&admins),
                params.min
            )
        };
        // Reuse a group that already grants admin, if there is one.
        let existing_group = admins.iter().flat_map(|a| &a.via).find_map(|s| match s {
            AdminSource::GroupAttached { group, .. } | AdminSource::GroupInline { group, .. } => Some(group.clone()),
            _ => None,
        });
        let remediation = match existing_group {
            Some(group) => format!(
                "# Give another trusted person administrator access through the existing group {group}:\n\
aws iam add-user-to-group --group-name {} --user-name <trusted-user>",
                sh(&group)
            ),
            None => format!(
                "# Give trusted people administrator access through a group:\n\
aws iam create-group --group-name administrators\n\
aws iam attach-group-policy --group-name administrators --policy-arn arn:{}:iam::aws:policy/AdministratorAccess\n\
aws iam add-user-to-group --group-name administrators --user-name <trusted-user>",
                ctx.inventory.partition_or_default()
            ),
        };
        Ok(vec![Hit::new(ResourceType::Account, ctx.root_arn(), ctx.account_id(), message, remediation)
            .details(json!({"count": admins.len(), "min": params.min, "admins": admins_details(&admins)}))])
    },
};

pub static MAX_ADMINS: RuleDef<MaxAdminsParams> = RuleDef {
    meta: Meta {
        id: "max-admins",
        title: "Too many administrators",
        severity: Severity::High,
        resource_type: ResourceType::Account,
        description: "More than `max` principals (users, directly or through groups, and roles that are not service-linked) hold administrator access.",
        rationale: "Every administrator is a credential that can do anything in the account; the more there are, the likelier one is leaked, misused or forgotten. Least privilege keeps full access to the few people and roles that need it.",
        remediation: "Review who holds administrator access and replace it with scoped permissions for everyone who does not need it: detach the admin policy, delete the admin inline policy, or remove the user from the admin group.",
        standards: &["Cloudanix IAM checklist: AWS Account Should Not Have Too Many Admins"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::OrAdmins,
        keys: Keys::ONE,
        moved_by: ADMIN_CHANGES,
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc { name: "max", description: "The most principals with administrator access the account may have." }],
    },
    check: |ctx, params| {
        let admins = counted_admins(ctx)?;
        if admins.len() as u64 <= u64::from(params.max) {
            return Ok(vec![]);
        }
        let mut lines = vec![format!(
            "# Keep at most {} administrators; for each principal below that does not need full access, give it scoped permissions and then:",
            params.max
        )];
        for admin in admins.iter() {
            lines.extend(revoke_admin_commands(admin));
        }
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            ctx.account_id(),
            format!(
                "Account {} has {} with administrator access ({}); the maximum is {}.",
                ctx.account_id(),
                principals_count(admins.len()),
                describe_admins(&admins),
                params.max
            ),
            lines.join("\n"),
        )
        .details(json!({"count": admins.len(), "max": params.max, "admins": admins_details(&admins)}))])
    },
};

// ---------------------------------------------------------------------------------------------
// password-policy

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicyParams {
    #[serde(deserialize_with = "de_min_length")]
    pub min_length: u32,
    pub require_uppercase: bool,
    pub require_lowercase: bool,
    pub require_numbers: bool,
    pub require_symbols: bool,
    #[serde(deserialize_with = "de_max_age_days")]
    pub max_age_days: u32,
    #[serde(deserialize_with = "de_reuse_prevention")]
    pub reuse_prevention: u32,
}

impl Params for PasswordPolicyParams {}

impl Default for PasswordPolicyParams {
    fn default() -> Self {
        PasswordPolicyParams {
            min_length: 14,
            require_uppercase: true,
            require_lowercase: true,
            require_numbers: true,
            require_symbols: true,
            max_age_days: 90,
            reuse_prevention: 24,
        }
    }
}

/// A u32 no larger than what IAM accepts (a larger requirement could never be met).
fn at_most<'de, D: Deserializer<'de>>(deserializer: D, max: u32) -> Result<u32, D::Error> {
    let value = u32::deserialize(deserializer)?;
    if value > max {
        return Err(serde::de::Error::custom(format!("must be between 0 and {max} (IAM's limit), found {value}")));
    }
    Ok(value)
}

fn de_min_length<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    at_most(d, 128)
}

fn de_max_age_days<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    at_most(d, 1095)
}

fn de_reuse_prevention<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    at_most(d, 24)
}

/// One requirement the policy does not meet.
#[derive(Debug, Clone, Serialize)]
struct Unmet {
    requirement: &'static str,
    required: serde_json::Value,
    actual: serde_json::Value,
    text: String,
}

fn unmet_requirements(params: &PasswordPolicyParams, policy: &PasswordPolicy) -> Vec<Unmet> {
    let mut unmet = Vec::new();
    if params.min_length > 0 {
        match policy.minimum_password_length {
            Some(len) if len >= params.min_length => {}
            Some(len) => unmet.push(Unmet {
                requirement: "min_length",
                required: json!(params.min_length),
                actual: json!(len),
                text: format!("minimum length is {len} (required: at least {})", params.min_length),
            }),
            None => unmet.push(Unmet {
                requirement: "min_length",
                required: json!(params.min_length),
                actual: json!(null),
                text: format!("no minimum length is set (required: at least {})", params.min_length),
            }),
        }
    }
    let classes = [
        ("require_uppercase", params.require_uppercase, policy.require_uppercase_characters, "uppercase letters"),
        ("require_lowercase", params.require_lowercase, policy.require_lowercase_characters, "lowercase letters"),
        ("require_numbers", params.require_numbers, policy.require_numbers, "numbers"),
        ("require_symbols", params.require_symbols, policy.require_symbols, "symbols"),
    ];
    for (requirement, required, actual, what) in classes {
        if required && !actual {
            unmet.push(Unmet { requirement, required: json!(true), actual: json!(false), text: format!("{what} are not required") });
        }
    }
    if params.max_age_days > 0 {
        match expiry_days(policy) {
            Some(age) if age <= params.max_age_days => {}
            Some(age) => unmet.push(Unmet {
                requirement: "max_age_days",
                required: json!(params.max_age_days),
                actual: json!(age),
                text: format!("passwords expire after {age} days (required: at most {})", params.max_age_days),
            }),
            None => unmet.push(Unmet {
                requirement: "max_age_days",
                required: json!(params.max_age_days),
                actual: json!(null),
                text: format!("passwords never expire (required: at most {} days)", params.max_age_days),
            }),
        }
    }
    if params.reuse_prevention > 0 {
        let remembered = policy.password_reuse_prevention.unwrap_or(0);
        if remembered < params.reuse_prevention {
            let text = if remembered == 0 {
                format!("password reuse is not prevented (required: the last {} passwords)", params.reuse_prevention)
            } else {
                format!("password reuse prevention remembers {remembered} passwords (required: {})", params.reuse_prevention)
            };
            unmet.push(Unmet {
                requirement: "reuse_prevention",
                required: json!(params.reuse_prevention),
                actual: json!(remembered),
                text,
            });
        }
    }
    unmet
}

/// After how many days passwords expire, if they do.
fn expiry_days(policy: &PasswordPolicy) -> Option<u32> {
    policy.max_password_age.filter(|d| *d > 0)
}

/// `update-account-password-policy` replaces the whole policy: build it from the params and
/// keep every setting of the current policy that is stricter, so the fix never weakens it.
fn update_policy_command(params: &PasswordPolicyParams, current: Option<&PasswordPolicy>) -> String {
    let mut args = vec!["aws iam update-account-password-policy".to_string()];
    let length = params.min_length.max(current.and_then(|c| c.minimum_password_length).unwrap_or(0));
    if length > 0 {
        args.push(format!("--minimum-password-length {}", length.clamp(6, 128)));
    }
    let flag = |wanted: bool, have: fn(&PasswordPolicy) -> bool| wanted || current.is_some_and(have);
    if flag(params.require_uppercase, |c| c.require_uppercase_characters) {
        args.push("--require-uppercase-characters".into());
    }
    if flag(params.require_lowercase, |c| c.require_lowercase_characters) {
        args.push("--require-lowercase-characters".into());
    }
    if flag(params.require_numbers, |c| c.require_numbers) {
        args.push("--require-numbers".into());
    }
    if flag(params.require_symbols, |c| c.require_symbols) {
        args.push("--require-symbols".into());
    }
    args.push("--allow-users-to-change-password".into());
    let current_age = current.and_then(expiry_days);
    let age = match (params.max_age_days, current_age) {
        (0, current) => current,
        (wanted, Some(have)) => Some(wanted.min(have)),
        (wanted, None) => Some(wanted),
    };
    if let Some(age) = age {
        args.push(format!("--max-password-age {age}"));
    }
    let reuse = params.reuse_prevention.max(current.and_then(|c| c.password_reuse_prevention).unwrap_or(0));
    if reuse > 0 {
        args.push(format!("--password-reuse-prevention {}", reuse.min(24)));
    }
    if current.is_some_and(|c| c.hard_expiry) {
        args.push("--hard-expiry".into());
    }
    args.join(" ")
}

pub static PASSWORD_POLICY: RuleDef<PasswordPolicyParams> = RuleDef {
    meta: Meta {
        id: "password-policy",
        title: "Weak or missing password policy",
        severity: Severity::Medium,
        resource_type: ResourceType::Account,
        description: "The account has no IAM password policy, or one weaker than the configured requirements; the finding lists each unmet requirement.",
        rationale: "IAM user console passwords are only as strong as the account password policy: short passwords without complexity, expiry or reuse prevention are easy to guess, spray or reuse after a leak.",
        remediation: "Set a password policy that meets every requirement with aws iam update-account-password-policy (it replaces the whole policy, so include every setting).",
        standards: &[
            "CIS AWS Foundations 1.8",
            "CIS AWS Foundations 1.9",
            "AWS Security Hub IAM.7",
            "AWS Security Hub IAM.15",
            "AWS Security Hub IAM.16",
            "Cloudanix IAM checklist: Complex Password Policy Should Be Present",
        ],
        controls: &[Control::cis3("1.8"), Control::cis3("1.9"), Control::cis4("1.8"), Control::cis4("1.9"), Control::cis5("1.7"), Control::cis5("1.8"), Control::fsbp("IAM.7")],
        data: &[DataSource::PasswordPolicy],
        requires: Requires::All(&[DataSource::PasswordPolicy]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::PasswordPolicy],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[
            ParamDoc { name: "min_length", description: "Minimum password length the policy must require (0 turns this requirement off; at most 128)." },
            ParamDoc { name: "require_uppercase", description: "The policy must require an uppercase letter." },
            ParamDoc { name: "require_lowercase", description: "The policy must require a lowercase letter." },
            ParamDoc { name: "require_numbers", description: "The policy must require a number." },
            ParamDoc { name: "require_symbols", description: "The policy must require a symbol." },
            ParamDoc { name: "max_age_days", description: "Passwords must expire after at most this many days (0 turns this requirement off; at most 1095)." },
            ParamDoc { name: "reuse_prevention", description: "The policy must prevent reuse of at least this many previous passwords (0 turns this requirement off; at most 24)." },
        ],
    },
    check: |ctx, params| {
        let Some(slot) = ctx.inventory.password_policy.as_ref() else {
            return Err(NotEvaluated::unreadable(ctx.inventory.missing_reason(DataSource::PasswordPolicy)));
        };
        let remediation = |current: Option<&PasswordPolicy>| {
            format!(
                "# This replaces the whole password policy; it meets every requirement and keeps any stricter current setting:\n{}",
                update_policy_command(params, current)
            )
        };
        let Some(policy) = slot else {
            return Ok(vec![Hit::new(
                ResourceType::Account,
                ctx.root_arn(),
                ctx.account_id(),
                format!(
                    "Account {} has no IAM password policy, so IAM user passwords only need to meet AWS's defaults (no expiry, no reuse prevention).",
                    ctx.account_id()
                ),
                remediation(None),
            )
            .details(json!({"policy": null, "required": params}))]);
        };
        let unmet = unmet_requirements(params, policy);
        if unmet.is_empty() {
            return Ok(vec![]);
        }
        let texts = unmet.iter().map(|u| u.text.as_str()).collect::<Vec<_>>().join("; ");
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            ctx.account_id(),
            format!(
                "The password policy of account {} does not meet {} {}: {texts}.",
                ctx.account_id(),
                unmet.len(),
                if unmet.len() == 1 { "requirement" } else { "requirements" }
            ),
            remediation(Some(policy)),
        )
        .details(json!({"unmet": unmet, "policy": policy, "required": params}))])
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Inventory, PasswordPolicy, PolicyEntities};
    use crate::report::FindingStatus;
    use crate::testkit::*;
    use crate::RuleStatus;
    use serde_json::json;

    fn not_evaluated(rule_id: &str, inv: &Inventory, settings: serde_json::Value, reason_contains: &str) {
        let (status, reason) = status(rule_id, inv, settings);
        assert_eq!(status, RuleStatus::NotEvaluated, "{rule_id}");
        let reason = reason.unwrap_or_default();
        assert!(reason.contains(reason_contains), "{rule_id}: {reason}");
    }

    fn incomplete(mut inv: Inventory) -> Inventory {
        aad(&mut inv).complete = false;
        inv
    }

    // --- individual-users -------------------------------------------------------------------

    #[test]
    fn individual_users() {
        // No users at all: one finding on the account.
        let inv = inventory();
        check("individual-users", &inv, json!({}), &[&root_arn()]);
        let f = &findings("individual-users", &inv, json!({}))[0];
        assert_eq!(f.resource_type, ResourceType::Account);
        assert_eq!(f.message, format!("Account {ACCOUNT} has no IAM users, so access can only be made with the root user."));
        assert!(f.remediation.contains("aws iam create-user"), "{}", f.remediation);
        // Roles do not count as individual users.
        let mut inv = inventory();
        aad(&mut inv).roles.push(role("deploy"));
        check("individual-users", &inv, json!({}), &[&root_arn()]);
        // One user: passes.
        aad(&mut inv).users.push(user("alice"));
        check("individual-users", &inv, json!({}), &[]);
        // A targeted inventory cannot tell.
        not_evaluated("individual-users", &incomplete(inventory()), json!({}), "needs every user");
    }

    // --- approved-users ---------------------------------------------------------------------

    fn users_inventory(names: &[&str]) -> Inventory {
        let mut inv = inventory();
        aad(&mut inv).users.extend(names.iter().map(|n| user(n)));
        inv
    }

    #[test]
    fn approved_users_not_configured_is_not_evaluated() {
        let inv = users_inventory(&["alice"]);
        not_evaluated("approved-users", &inv, json!({}), "no approved users configured");
        assert_eq!(cause("approved-users", &inv, json!({})), Some(crate::Cause::Unconfigured));
        assert_eq!(cause("approved-users", &inv, json!({"approved": ["alice"]})), None);
        // Invalid settings and unread data are blind spots.
        assert_eq!(cause("approved-users", &inv, json!({"approved": "alice"})), Some(crate::Cause::InvalidSettings));
        let mut unread = inv.clone();
        unread.authorization = None;
        assert_eq!(cause("approved-users", &unread, json!({"approved": ["alice"]})), Some(crate::Cause::Unreadable));
        not_evaluated("approved-users", &inv, json!({"approved": []}), "\"approved\"");
    }

    #[test]
    fn approved_users() {
        let inv = users_inventory(&["alice", "Svc-Deploy", "mallory", "bob"]);
        // Names are case-insensitive, `*` globs; an `arn:` entry matches the user ARN.
        let settings = json!({"approved": ["ALICE", "svc-*", format!("arn:aws:iam::{ACCOUNT}:user/bob")]});
        check("approved-users", &inv, settings.clone(), &[&user_arn("mallory")]);
        let f = &findings("approved-users", &inv, settings)[0];
        assert_eq!(f.resource_type, ResourceType::User);
        assert_eq!(f.message, "IAM user mallory is not on the approved users list.");
        assert!(f.remediation.contains("aws iam delete-user --user-name mallory"), "{}", f.remediation);
        // Everyone approved: passes.
        check("approved-users", &inv, json!({"approved": ["*"]}), &[]);
        // Works on a targeted inventory too.
        check(
            "approved-users",
            &incomplete(inv),
            json!({"approved": ["alice"]}),
            &[&user_arn("Svc-Deploy"), &user_arn("mallory"), &user_arn("bob")],
        );
    }

    #[test]
    fn approved_users_remediation_removes_memberships_and_policies() {
        let mut inv = inventory();
        let mut mallory = user("mallory");
        mallory.groups.push("devs".into());
        mallory.attached_policies.push(attach(&managed("deploy", read_only_doc())));
        mallory.inline_policies.push(inline("extra", read_only_doc()));
        aad(&mut inv).users.push(mallory);
        let f = &findings("approved-users", &inv, json!({"approved": ["alice"]}))[0];
        for expected in [
            "aws iam remove-user-from-group --user-name mallory --group-name devs",
            &format!("aws iam detach-user-policy --user-name mallory --policy-arn {}", policy_arn("deploy")),
            "aws iam delete-user-policy --user-name mallory --policy-name extra",
            "aws iam delete-login-profile --user-name mallory",
        ] {
            assert!(f.remediation.contains(expected), "missing {expected:?} in {}", f.remediation);
        }
    }

    #[test]
    fn glob_lists_are_validated_when_settings_are_parsed() {
        let inv = users_inventory(&["alice"]);
        let (_, reason) = status("approved-users", &inv, json!({"approved": ["ok", "[unclosed"]}));
        let reason = reason.unwrap();
        assert!(reason.contains("parameter `approved`") && reason.contains("\"[unclosed\""), "{reason}");
        not_evaluated("approved-users", &inv, json!({"approved": [""]}), "parameter `approved`: entry 0 is empty");
        not_evaluated("approved-users", &inv, json!({"approved": "alice"}), "parameter `approved`");
        not_evaluated(
            "unapproved-policy-in-use",
            &inv,
            json!({"unapproved": ["ok", "{a,"]}),
            "parameter `unapproved`: entry 1: pattern \"{a,\" holds '{': only `*` is a wildcard",
        );
        // Defaults serialize as plain lists.
        let rule = crate::catalog::find("approved-users").unwrap();
        assert_eq!(rule.default_params(), json!({"approved": []}));
    }

    #[test]
    fn hostile_pattern_lists_are_refused_with_short_errors() {
        let inv = users_inventory(&["alice"]);
        // A 200,000-character pattern: a short error naming the entry, not the pattern.
        let huge = format!("{}*", "a".repeat(200_000));
        for (rule, key) in [("approved-users", "approved"), ("unapproved-policy-in-use", "unapproved")] {
            let (status, reason) = status(rule, &inv, json!({ key: ["ok", huge] }));
            let reason = reason.unwrap();
            assert_eq!(status, RuleStatus::NotEvaluated, "{rule}");
            assert!(reason.contains(&format!("parameter `{key}`: entry 1: pattern \"aaaa")) && reason.contains("too long"), "{reason}");
            assert!(reason.len() < 400, "{rule}: {} characters of reason", reason.len());
        }
        // As many entries as an account can need are accepted; more are refused.
        let names: Vec<String> = (0..crate::pattern::MAX_LIST_ENTRIES).map(|i| format!("user-{i}-*")).collect();
        check("approved-users", &inv, json!({"approved": names}), &[&user_arn("alice")]);
        let mut names = names;
        names.push("alice".into());
        not_evaluated("approved-users", &inv, json!({"approved": names}), "parameter `approved`: 5001 entries: at most 5000 are accepted");
        // An exception with a huge pattern or reason, or too many exceptions.
        let (_, reason) = status("approved-users", &inv, json!({"approved": ["x"], "exceptions": [{"resource": huge, "reason": "r"}]}));
        let reason = reason.unwrap();
        assert!(reason.contains("parameter `exceptions[0]`: pattern") && reason.contains("too long") && reason.len() < 400, "{reason}");
        let long_reason = "r".repeat(2000);
        let (_, reason) =
            status("approved-users", &inv, json!({"approved": ["x"], "exceptions": [{"resource": "*", "reason": long_reason}]}));
        assert!(reason.unwrap().contains("`reason` \"rrrr"), "a reason over 1000 characters is refused");
        let exceptions: Vec<serde_json::Value> = (0..5001).map(|i| json!({"resource": format!("u{i}"), "reason": "r"})).collect();
        not_evaluated("approved-users", &inv, json!({"approved": ["x"], "exceptions": exceptions}), "5001 entries: at most 5000");
    }

    #[test]
    fn exceptions_suppress_until_they_expire() {
        let inv = users_inventory(&["alice", "contractor"]);
        let settings = |expires: &str| json!({"approved": ["alice"], "exceptions": [{"resource": "arn:aws:iam::*:user/contractor", "reason": "until the project ends", "expires": expires}]});
        // Unexpired: reported, suppressed, not failed.
        let fs = findings("approved-users", &inv, settings("2027-01-31"));
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, FindingStatus::Suppressed);
        check("approved-users", &inv, settings("2027-01-31"), &[]);
        let report = run(&inv, json!({"approved-users": settings("2027-01-31")}));
        let summary = report.rule("approved-users").unwrap();
        assert_eq!((summary.failed, summary.suppressed), (0, 1));
        // Expired: open again.
        check("approved-users", &inv, settings("2026-11-01"), &[&user_arn("contractor")]);
    }

    // --- unapproved-policy-in-use -------------------------------------------------------------

    const RDS_FULL: &str = "arn:aws:iam::aws:policy/AmazonRDSFullAccess";

    /// AmazonRDSFullAccess attached to user db-user, group project5 and role rds-dev;
    /// ReadOnlyAccess attached to user reader.
    fn attached_inventory() -> Inventory {
        let mut inv = inventory();
        let rds = managed(RDS_FULL, read_only_doc());
        let ro = managed("arn:aws:iam::aws:policy/ReadOnlyAccess", read_only_doc());
        let mut db_user = user("db-user");
        db_user.attached_policies.push(attach(&rds));
        let mut reader = user("reader");
        reader.attached_policies.push(attach(&ro));
        let mut g = group("project5");
        g.attached_policies.push(attach(&rds));
        let mut r = role("rds-dev");
        r.attached_policies.push(attach(&rds));
        aad(&mut inv).users.extend([db_user, reader]);
        aad(&mut inv).groups.push(g);
        aad(&mut inv).roles.push(r);
        aad(&mut inv).policies.extend([rds, ro]);
        inv
    }

    #[test]
    fn unapproved_policy_not_configured_is_not_evaluated() {
        not_evaluated("unapproved-policy-in-use", &attached_inventory(), json!({}), "no unapproved policies configured");
    }

    #[test]
    fn unapproved_policy_attached_to_user_group_and_role_is_one_finding() {
        let inv = attached_inventory();
        let fs = findings("unapproved-policy-in-use", &inv, json!({"unapproved": [RDS_FULL]}));
        assert_eq!(fs.len(), 1);
        let f = &fs[0];
        assert_eq!(
            (f.resource_type, f.resource_arn.as_str(), f.resource_name.as_str()),
            (ResourceType::Policy, RDS_FULL, "AmazonRDSFullAccess")
        );
        assert_eq!(
            f.message,
            format!("Unapproved policy AmazonRDSFullAccess ({RDS_FULL}) is attached to 3 entities: user db-user, group project5 and role rds-dev.")
        );
        for expected in [
            format!("aws iam detach-user-policy --user-name db-user --policy-arn {RDS_FULL}"),
            format!("aws iam detach-group-policy --group-name project5 --policy-arn {RDS_FULL}"),
            format!("aws iam detach-role-policy --role-name rds-dev --policy-arn {RDS_FULL}"),
        ] {
            assert!(f.remediation.contains(&expected), "missing {expected:?} in {}", f.remediation);
        }
        assert_eq!(f.details["users"], json!(["db-user"]));
        assert_eq!(f.details["groups"], json!(["project5"]));
        assert_eq!(f.details["roles"], json!(["rds-dev"]));
        assert_eq!(f.details["matched"], json!(RDS_FULL));
    }

    #[test]
    fn unapproved_policy_matching() {
        let inv = attached_inventory();
        // By name (case-insensitive), by glob, by ARN glob.
        check("unapproved-policy-in-use", &inv, json!({"unapproved": ["amazonrdsfullaccess"]}), &[RDS_FULL]);
        check("unapproved-policy-in-use", &inv, json!({"unapproved": ["*FullAccess"]}), &[RDS_FULL]);
        check(
            "unapproved-policy-in-use",
            &inv,
            json!({"unapproved": ["arn:aws:iam::aws:policy/*"]}),
            &[RDS_FULL, "arn:aws:iam::aws:policy/ReadOnlyAccess"],
        );
        // An ARN entry does not match by name, nor a name entry by ARN.
        check("unapproved-policy-in-use", &inv, json!({"unapproved": ["arn:aws:iam::aws:policy/AmazonRDSFull"]}), &[]);
        check("unapproved-policy-in-use", &inv, json!({"unapproved": ["aws:policy/AmazonRDSFullAccess"]}), &[]);
        // Listed but not attached anywhere: passes, whatever AttachmentCount says.
        let mut inv = inventory();
        let mut lonely = managed("legacy-admin", admin_doc());
        lonely.attachment_count = Some(4);
        aad(&mut inv).policies.push(lonely);
        check("unapproved-policy-in-use", &inv, json!({"unapproved": ["legacy-admin"]}), &[]);
        // It needs every entity to list them all.
        not_evaluated("unapproved-policy-in-use", &incomplete(attached_inventory()), json!({"unapproved": ["*"]}), "needs every user");
    }

    #[test]
    fn unapproved_policy_from_a_targeted_read_of_its_attachments() {
        // An event read who the policy is attached to (ListEntitiesForPolicy, in its own
        // order) instead of the whole account: the same finding as from the whole account.
        let whole = findings("unapproved-policy-in-use", &attached_inventory(), json!({"unapproved": [RDS_FULL]}));
        let mut targeted = incomplete(inventory());
        targeted.policy_entities = Some(vec![PolicyEntities {
            arn: RDS_FULL.into(),
            name: "AmazonRDSFullAccess".into(),
            users: vec!["db-user".into()],
            groups: vec!["project5".into()],
            roles: vec![("rds-dev".into(), false)],
        }]);
        let fs = findings("unapproved-policy-in-use", &targeted, json!({"unapproved": [RDS_FULL]}));
        assert_eq!(fs.len(), 1);
        assert_eq!(
            (&fs[0].fingerprint, &fs[0].message, &fs[0].remediation),
            (&whole[0].fingerprint, &whole[0].message, &whole[0].remediation)
        );
        // Entities are listed by name, whatever order they came in.
        targeted.policy_entities.as_mut().unwrap()[0].users = vec!["zed".into(), "amy".into()];
        let f = &findings("unapproved-policy-in-use", &targeted, json!({"unapproved": [RDS_FULL]}))[0];
        assert!(f.message.contains("user amy, user zed, group project5"), "{}", f.message);
        // Detached from everything: no finding.
        targeted.policy_entities =
            Some(vec![PolicyEntities { arn: RDS_FULL.into(), name: "AmazonRDSFullAccess".into(), ..Default::default() }]);
        check("unapproved-policy-in-use", &targeted, json!({"unapproved": [RDS_FULL]}), &[]);
    }

    // --- min-admins / max-admins ------------------------------------------------------------

    /// Users whose only "admin" is an impostor: Deny, NotAction, Condition.
    fn impostors() -> Vec<crate::inventory::User> {
        let docs = [
            json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}),
        ];
        docs.iter()
            .enumerate()
            .map(|(i, d)| {
                let mut u = user(&format!("impostor{i}"));
                u.inline_policies.push(inline("almost-admin", d.clone()));
                u
            })
            .collect()
    }

    /// An account with `n` admin users through an `admins` group, plus the impostors and a
    /// service-linked role with AdministratorAccess.
    fn admins_inventory(n: usize) -> Inventory {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut g = group("admins");
        g.attached_policies.push(attach(&admin));
        let mut slr = service_linked_role("AWSServiceRoleForElasticLoadBalancing");
        slr.attached_policies.push(attach(&admin));
        aad(&mut inv).groups.push(g);
        aad(&mut inv).roles.push(slr);
        aad(&mut inv).policies.push(admin);
        for i in 0..n {
            let mut u = user(&format!("admin{i}"));
            u.groups.push("admins".into());
            aad(&mut inv).users.push(u);
        }
        aad(&mut inv).users.extend(impostors());
        inv
    }

    #[test]
    fn min_admins() {
        // One admin (impostors and service-linked role not counted): fails.
        let inv = admins_inventory(1);
        check("min-admins", &inv, json!({}), &[&root_arn()]);
        let f = &findings("min-admins", &inv, json!({}))[0];
        assert_eq!(
            f.message,
            format!("Account {ACCOUNT} has only 1 principal with administrator access (user admin0 via group admins (attached policy {ADMINISTRATOR_ACCESS})); the minimum is 2.")
        );
        assert_eq!(f.details["count"], json!(1));
        assert!(f.remediation.contains("aws iam add-user-to-group --group-name admins --user-name <trusted-user>"), "{}", f.remediation);
        // Two admins: passes; min 3: fails.
        check("min-admins", &admins_inventory(2), json!({}), &[]);
        check("min-admins", &admins_inventory(2), json!({"min": 3}), &[&root_arn()]);
        // No admin at all.
        let inv = admins_inventory(0);
        let f = &findings("min-admins", &inv, json!({}))[0];
        assert_eq!(f.message, format!("Account {ACCOUNT} has no principal with administrator access; the minimum is 2."));
        assert_eq!(f.details["count"], json!(0));
        assert!(f.remediation.contains("aws iam create-group --group-name administrators"), "{}", f.remediation);
        check("min-admins", &inv, json!({"min": 0}), &[]);
        not_evaluated("min-admins", &incomplete(admins_inventory(1)), json!({}), "needs every user");
    }

    #[test]
    fn admin_counts_from_administrators_a_targeted_run_was_given() {
        // An event knows the administrators from the roster, not from the whole account.
        let whole = admins_inventory(1);
        let mut targeted = incomplete(inventory());
        targeted.admins = Some(crate::principals::admins(whole.authorization.as_ref().unwrap()));
        for (rule, settings) in [("min-admins", json!({})), ("max-admins", json!({"max": 0}))] {
            let (a, b) = (findings(rule, &whole, settings.clone()), findings(rule, &targeted, settings));
            assert_eq!(a.len(), 1, "{rule}");
            assert_eq!((&b[0].fingerprint, &b[0].message, &b[0].details), (&a[0].fingerprint, &a[0].message, &a[0].details), "{rule}");
        }
        // Other whole-account rules still refuse the targeted inventory.
        not_evaluated("empty-group", &targeted, json!({}), "needs every user");
        not_evaluated("unapproved-policy-in-use", &targeted, json!({"unapproved": ["*"]}), "needs every user");
    }

    #[test]
    fn user_admin_through_two_groups_counts_once() {
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut g1 = group("admins");
        g1.attached_policies.push(attach(&admin));
        let mut g2 = group("ops");
        g2.inline_policies.push(inline("all", admin_doc()));
        let mut alice = user("alice");
        alice.groups = vec!["admins".into(), "ops".into()];
        aad(&mut inv).groups.extend([g1, g2]);
        aad(&mut inv).users.push(alice);
        aad(&mut inv).policies.push(admin);
        // Counted once: below the minimum of 2, within a maximum of 1.
        check("min-admins", &inv, json!({}), &[&root_arn()]);
        check("max-admins", &inv, json!({"max": 1}), &[]);
        let f = &findings("min-admins", &inv, json!({}))[0];
        assert_eq!(f.details["count"], json!(1));
        assert!(f.message.contains("group admins") && f.message.contains("group ops (inline policy all)"), "{}", f.message);
    }

    #[test]
    fn max_admins() {
        // Five admins (+ impostors, + service-linked role): within the default maximum.
        check("max-admins", &admins_inventory(5), json!({}), &[]);
        // Six: fails; the message names them all.
        let mut inv = admins_inventory(6);
        check("max-admins", &inv, json!({}), &[&root_arn()]);
        check("max-admins", &inv, json!({"max": 6}), &[]);
        // A role and a user with a direct attachment and an inline policy.
        let mut deploy = role("deploy");
        deploy.attached_policies.push(AttachedPolicy { name: "AdministratorAccess".into(), arn: ADMINISTRATOR_ACCESS.into() });
        aad(&mut inv).roles.push(deploy);
        let mut root_like = user("breakglass");
        root_like.inline_policies.push(inline("all", admin_doc()));
        aad(&mut inv).users.push(root_like);
        let f = &findings("max-admins", &inv, json!({}))[0];
        assert!(
            f.message.starts_with(&format!("Account {ACCOUNT} has 8 principals with administrator access (user admin0 via group admins")),
            "{}",
            f.message
        );
        assert!(f.message.ends_with("; the maximum is 5."), "{}", f.message);
        assert!(f.message.contains("role deploy via attached policy"), "{}", f.message);
        assert!(!f.message.contains("impostor") && !f.message.contains("AWSServiceRole"), "{}", f.message);
        assert_eq!(f.details["count"], json!(8));
        for expected in [
            "aws iam remove-user-from-group --user-name admin5 --group-name admins",
            &format!("aws iam detach-role-policy --role-name deploy --policy-arn {ADMINISTRATOR_ACCESS}"),
            "aws iam delete-user-policy --user-name breakglass --policy-name all",
        ] {
            assert!(f.remediation.contains(expected), "missing {expected:?} in {}", f.remediation);
        }
        not_evaluated("max-admins", &incomplete(admins_inventory(9)), json!({}), "needs every user");
    }

    use crate::inventory::AttachedPolicy;

    #[test]
    fn admin_counts_are_not_evaluated_when_a_deciding_document_could_not_be_read() {
        // Two admins through AdministratorAccess (judged by name, its document absent), one
        // user holding a customer policy whose document is not in the details, one role with an
        // inline policy that could not be parsed.
        let mut inv = admins_inventory(2);
        aad(&mut inv).policies.clear();
        let mut mystery = user("mystery");
        mystery.attached_policies.push(AttachedPolicy { name: "team-admin".into(), arn: policy_arn("team-admin") });
        let mut ops = role("ops");
        ops.inline_policies
            .push(crate::inventory::InlinePolicy { name: "all".into(), document: Err("policy document is not valid JSON: EOF".into()) });
        aad(&mut inv).users.push(mystery);
        aad(&mut inv).roles.push(ops);
        let expected = format!(
            "the administrators cannot be counted: 2 policies that decide who holds administrator access could not be read: \
inline policy all of {} (policy document is not valid JSON: EOF); managed policy {} (not in the authorization details: their Policies \
list lacks it, as --filter User Role Group leaves out). Through the documents that were read, 2 principals hold administrator access.",
            role_arn("ops"),
            policy_arn("team-admin")
        );
        for (rule, settings) in [("min-admins", json!({"min": 9})), ("max-admins", json!({"max": 0}))] {
            assert_eq!(status(rule, &inv, settings), (RuleStatus::NotEvaluated, Some(expected.clone())), "{rule}");
        }
        // Documents that decide nothing do not stop the count: a group without members, a
        // service-linked role, an AWS managed policy absent from the details.
        let mut inv = admins_inventory(2);
        let mut idle = group("idle");
        idle.attached_policies.push(AttachedPolicy { name: "gone".into(), arn: policy_arn("gone") });
        let mut slr = service_linked_role("AWSServiceRoleForX");
        slr.inline_policies.push(crate::inventory::InlinePolicy { name: "x".into(), document: Err("bad".into()) });
        let mut reader = user("reader");
        reader
            .attached_policies
            .push(AttachedPolicy { name: "ReadOnlyAccess".into(), arn: "arn:aws:iam::aws:policy/ReadOnlyAccess".into() });
        aad(&mut inv).groups.push(idle);
        aad(&mut inv).roles.push(slr);
        aad(&mut inv).users.push(reader);
        check("min-admins", &inv, json!({}), &[]);
        check("max-admins", &inv, json!({"max": 1}), &[&root_arn()]);
        // One deciding document unread, in the singular; a targeted run's administrators (from
        // the roster) are counted as given.
        let mut one = admins_inventory(1);
        aad(&mut one).users[0].inline_policies.push(crate::inventory::InlinePolicy { name: "p".into(), document: Err("bad".into()) });
        let (_, reason) = status("min-admins", &one, json!({}));
        assert!(reason.unwrap().starts_with("the administrators cannot be counted: 1 policy that decides who"));
        let mut targeted = incomplete(one.clone());
        targeted.admins = Some(crate::principals::admins(one.authorization.as_ref().unwrap()));
        check("min-admins", &targeted, json!({}), &[&root_arn()]);
    }

    // --- password-policy --------------------------------------------------------------------

    fn with_policy(policy: Option<PasswordPolicy>) -> Inventory {
        let mut inv = inventory();
        inv.password_policy = Some(policy);
        inv
    }

    fn weak_policy() -> PasswordPolicy {
        PasswordPolicy {
            minimum_password_length: Some(8),
            require_symbols: false,
            require_numbers: true,
            require_uppercase_characters: false,
            require_lowercase_characters: true,
            allow_users_to_change_password: false,
            expire_passwords: false,
            max_password_age: None,
            password_reuse_prevention: Some(5),
            hard_expiry: true,
        }
    }

    #[test]
    fn password_policy_strong_passes() {
        check("password-policy", &inventory(), json!({}), &[]);
    }

    #[test]
    fn password_policy_absent() {
        let inv = with_policy(None);
        check("password-policy", &inv, json!({}), &[&root_arn()]);
        let f = &findings("password-policy", &inv, json!({}))[0];
        assert_eq!(f.resource_type, ResourceType::Account);
        assert_eq!(
            f.message,
            format!("Account {ACCOUNT} has no IAM password policy, so IAM user passwords only need to meet AWS's defaults (no expiry, no reuse prevention).")
        );
        assert!(f.remediation.ends_with(
            "aws iam update-account-password-policy --minimum-password-length 14 --require-uppercase-characters --require-lowercase-characters --require-numbers --require-symbols --allow-users-to-change-password --max-password-age 90 --password-reuse-prevention 24"
        ), "{}", f.remediation);
        // Not collected at all: not evaluated.
        let mut inv = inventory();
        inv.password_policy = None;
        not_evaluated("password-policy", &inv, json!({}), "password policy");
    }

    #[test]
    fn password_policy_weak_lists_each_unmet_requirement() {
        let mut inv = with_policy(Some(weak_policy()));
        let fs = findings("password-policy", &inv, json!({}));
        assert_eq!(fs.len(), 1);
        let f = &fs[0];
        assert_eq!(
            f.message,
            format!(
                "The password policy of account {ACCOUNT} does not meet 5 requirements: minimum length is 8 (required: at least 14); \
uppercase letters are not required; symbols are not required; passwords never expire (required: at most 90 days); \
password reuse prevention remembers 5 passwords (required: 24)."
            )
        );
        let unmet: Vec<&str> = f.details["unmet"].as_array().unwrap().iter().map(|u| u["requirement"].as_str().unwrap()).collect();
        assert_eq!(unmet, ["min_length", "require_uppercase", "require_symbols", "max_age_days", "reuse_prevention"]);
        // The fix keeps the current hard expiry.
        assert!(f.remediation.ends_with("--max-password-age 90 --password-reuse-prevention 24 --hard-expiry"), "{}", f.remediation);
        // Expiring too late, and a stricter current length that the fix keeps.
        let mut p =
            PasswordPolicy { minimum_password_length: Some(20), expire_passwords: true, max_password_age: Some(180), ..weak_policy() };
        p.require_symbols = true;
        p.require_uppercase_characters = true;
        p.password_reuse_prevention = Some(24);
        inv.password_policy = Some(Some(p));
        let f = &findings("password-policy", &inv, json!({}))[0];
        assert_eq!(f.message, format!("The password policy of account {ACCOUNT} does not meet 1 requirement: passwords expire after 180 days (required: at most 90)."));
        assert!(f.remediation.contains("--minimum-password-length 20 "), "{}", f.remediation);
        // Zero / false params turn requirements off.
        let off = json!({"min_length": 0, "require_uppercase": false, "require_lowercase": false, "require_numbers": false, "require_symbols": false, "max_age_days": 0, "reuse_prevention": 0});
        check("password-policy", &with_policy(Some(weak_policy())), off, &[]);
        check(
            "password-policy",
            &with_policy(Some(weak_policy())),
            json!({"min_length": 8, "require_uppercase": false, "require_symbols": false, "max_age_days": 0, "reuse_prevention": 5}),
            &[],
        );
        check(
            "password-policy",
            &with_policy(Some(weak_policy())),
            json!({"min_length": 8, "require_uppercase": false, "require_symbols": false, "max_age_days": 0, "reuse_prevention": 6}),
            &[&root_arn()],
        );
    }

    #[test]
    fn password_policy_each_character_class_is_checked_on_its_own() {
        // A policy that meets everything but one class: that class alone is reported.
        let strong = inventory().password_policy.unwrap().unwrap();
        for (requirement, text, policy) in [
            ("require_numbers", "numbers are not required", PasswordPolicy { require_numbers: false, ..strong.clone() }),
            ("require_symbols", "symbols are not required", PasswordPolicy { require_symbols: false, ..strong.clone() }),
            (
                "require_uppercase",
                "uppercase letters are not required",
                PasswordPolicy { require_uppercase_characters: false, ..strong.clone() },
            ),
            (
                "require_lowercase",
                "lowercase letters are not required",
                PasswordPolicy { require_lowercase_characters: false, ..strong.clone() },
            ),
        ] {
            let fs = findings("password-policy", &with_policy(Some(policy.clone())), json!({}));
            assert_eq!(fs.len(), 1, "{requirement}");
            assert_eq!(
                fs[0].message,
                format!("The password policy of account {ACCOUNT} does not meet 1 requirement: {text}."),
                "{requirement}"
            );
            assert_eq!(fs[0].details["unmet"][0]["requirement"], json!(requirement));
            // Not required by the settings: passes.
            check("password-policy", &with_policy(Some(policy)), json!({ requirement: false }), &[]);
        }
    }

    #[test]
    fn password_policy_params_are_bounded() {
        not_evaluated(
            "password-policy",
            &inventory(),
            json!({"reuse_prevention": 30}),
            "parameter `reuse_prevention`: must be between 0 and 24",
        );
        not_evaluated("password-policy", &inventory(), json!({"min_length": -1}), "parameter `min_length`");
        not_evaluated("password-policy", &inventory(), json!({"max_age_days": 2000}), "parameter `max_age_days`");
        not_evaluated("password-policy", &inventory(), json!({"require_symbols": "yes"}), "parameter `require_symbols`");
        not_evaluated("password-policy", &inventory(), json!({"minimum_length": 10}), "minimum_length");
    }
}
