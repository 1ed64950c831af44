//! The rules that close the gaps to CIS AWS Foundations and AWS Foundational Security Best
//! Practices: a support role, service-wide wildcards, CloudShell full access, access keys made
//! at a console user's setup, IAM Access Analyzer in every region, the security contact, and
//! (opt-in) required tags on users and roles.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::inventory::{AttachedPolicy, DataSource, InlinePolicy, ReportDate, ReportFlag, Tags};
use crate::policy::{Effect, PolicyDocument};
use crate::rule::*;

use super::{day, sh};

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![
        &SUPPORT_ROLE,
        &POLICY_SERVICE_WILDCARD,
        &CLOUDSHELL_FULL_ACCESS,
        &ACCESS_KEYS_AT_SETUP,
        &ACCESS_ANALYZER_ENABLED,
        &SECURITY_CONTACT,
        &REQUIRED_TAGS,
    ]
}

/// The ARN of an AWS managed policy in the inventory's partition.
fn aws_managed(ctx: &Ctx<'_>, name: &str) -> String {
    format!("arn:{}:iam::aws:policy/{name}", ctx.inventory.partition_or_default())
}

/// Whether these attached policies hold the AWS managed policy `name`, in any partition (the
/// event path's inventory knows the partition only from what it read).
fn holds(attached: &[AttachedPolicy], name: &str) -> bool {
    attached.iter().any(|p| is_aws_managed(&p.arn, name))
}

// ---------------------------------------------------------------------------------------------
// support-role

pub const AWS_SUPPORT_ACCESS: &str = "AWSSupportAccess";

pub static SUPPORT_ROLE: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "support-role",
        title: "No support role",
        severity: Severity::Low,
        resource_type: ResourceType::Account,
        description: "No IAM role has the AWS managed `AWSSupportAccess` policy attached, so nobody can open and manage AWS Support cases without broader access.",
        rationale: "When an incident needs AWS Support, someone must be able to open and follow the case; a role that holds just AWSSupportAccess lets the people on call do it without administrator access or the root user.",
        remediation: "Create a role that the people who handle incidents can assume, and attach AWSSupportAccess to it.",
        standards: &["CIS AWS Foundations 3.0/4.0 1.17, 5.0 1.16", "AWS Security Hub IAM.18 (CIS standard)"],
        controls: &[Control::cis3("1.17"), Control::cis4("1.17"), Control::cis5("1.16")],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        // "No role has it" needs every role, or every role the policy is attached to (an event
        // reads them with ListEntitiesForPolicy).
        needs_complete_account: WholeAccount::OrPolicyHolders,
        keys: Keys::ONE,
        // Only roles count: IAM deletes a role only once it holds no policy, so a DeleteRole
        // comes after the DetachRolePolicy that moved the rule.
        moved_by: &[ChangeKind::RolePolicyAttachment],
        moved_by_policy: Some(AWS_SUPPORT_ACCESS),
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let aad = ctx.aad()?;
        let arn = aws_managed(ctx, AWS_SUPPORT_ACCESS);
        let held = if aad.complete {
            aad.roles.iter().any(|r| holds(&r.attached_policies, AWS_SUPPORT_ACCESS))
        } else {
            // A targeted run: every role the policy is attached to, read for it alone.
            let entities = ctx.inventory.policy_entities.iter().flatten().find(|e| is_aws_managed(&e.arn, AWS_SUPPORT_ACCESS));
            let Some(entities) = entities else {
                return Err(NotEvaluated::out_of_scope(format!(
                    "needs every role of the account, or the roles {AWS_SUPPORT_ACCESS} is attached to; this run read neither"
                )));
            };
            !entities.roles.is_empty()
        };
        if held {
            return Ok(vec![]);
        }
        let account = ctx.account_id();
        let trust = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:{}:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#,
            ctx.inventory.partition_or_default()
        );
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            account,
            format!("No role of account {account} has the AWS managed policy {AWS_SUPPORT_ACCESS} attached."),
            format!(
                "# Create a support role the incident handlers of this account can assume (narrow the trust to them), and give it AWS Support access:\n\
aws iam create-role --role-name aws-support --assume-role-policy-document {}\n\
aws iam attach-role-policy --role-name aws-support --policy-arn {}",
                sh(&trust),
                sh(&arn)
            ),
        )
        .details(json!({"policy_arn": arn}))])
    },
};

// ---------------------------------------------------------------------------------------------
// policy-service-wildcard

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceWildcardParams {
    /// Service prefixes whose `service:*` is accepted.
    pub allowed_services: Vec<String>,
}

impl Params for ServiceWildcardParams {}

/// The service-wide wildcard actions (`service:*`) that a document's `Allow` statements without
/// a condition grant, skipping the allowed services. `*` alone (every action of every service)
/// is `admin-policy`'s on every resource, and not counted here.
fn service_wildcards(doc: &PolicyDocument, allowed: &[String]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, statement) in doc.statements.iter().enumerate() {
        if statement.effect != Effect::Allow || statement.has_condition {
            continue;
        }
        for action in statement.action.iter().flatten() {
            let wildcard = match action.split_once(':') {
                Some((service, "*")) => service != "*" && !allowed.iter().any(|a| a.eq_ignore_ascii_case(service)),
                _ => false,
            };
            if wildcard && !out.iter().any(|(_, a)| a == action) {
                out.push((i, action.clone()));
            }
        }
    }
    out
}

fn wildcard_text(actions: &[(usize, String)]) -> String {
    actions.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>().join(", ")
}

fn wildcard_details(actions: &[(usize, String)]) -> serde_json::Value {
    json!(actions.iter().map(|(i, a)| json!({"statement": i, "action": a})).collect::<Vec<_>>())
}

fn inline_wildcard_hits(
    hits: &mut Vec<Hit>,
    (resource_type, kind, owner_name, owner_arn): (ResourceType, &str, &str, &str),
    policies: &[InlinePolicy],
    allowed: &[String],
) {
    for policy in policies {
        let Ok(doc) = &policy.document else { continue };
        let actions = service_wildcards(doc, allowed);
        if actions.is_empty() {
            continue;
        }
        let flag = format!("--{kind}-name");
        let (o, p) = (sh(owner_name), sh(&policy.name));
        hits.push(
            Hit::new(
                resource_type,
                owner_arn,
                owner_name,
                format!(
                    "Inline policy {} of {kind} {owner_name} allows every action of a service: {}.",
                    policy.name,
                    wildcard_text(&actions)
                ),
                format!(
                    "# List the actions the {kind} needs instead of the wildcard, then replace the document:\n\
aws iam get-{kind}-policy {flag} {o} --policy-name {p} --query PolicyDocument --output json > scoped-policy.json\n\
aws iam put-{kind}-policy {flag} {o} --policy-name {p} --policy-document file://scoped-policy.json"
                ),
            )
            .discriminator(format!("inline:{}", policy.name))
            .details(json!({"policy_name": policy.name, "wildcards": wildcard_details(&actions)})),
        );
    }
}

pub static POLICY_SERVICE_WILDCARD: RuleDef<ServiceWildcardParams> = RuleDef {
    meta: Meta {
        id: "policy-service-wildcard",
        title: "Policy allows every action of a service",
        severity: Severity::Low,
        resource_type: ResourceType::Policy,
        description: "A customer managed policy, or an inline policy of a user, group or role, has an `Allow` statement without a condition whose actions include `service:*` (every action of a service); services listed in `allowed_services` are accepted. (`*`, every action of every service, is `admin-policy`'s.)",
        rationale: "A service-wide wildcard grants every action the service has and every one it will add, including the ones that change its own permissions or delete data; least privilege lists the actions a job needs.",
        remediation: "Replace each wildcard with the actions the principal needs (IAM Access Analyzer can generate a policy from CloudTrail activity), or accept the service with `allowed_services`.",
        standards: &["AWS Security Hub IAM.21 (FSBP)", "AWS Config iam-policy-no-statements-with-full-access"],
        controls: &[Control::fsbp("IAM.21")],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys { fixed: &[""], named: Some("inline:") },
        moved_by: &[ChangeKind::UserInlinePolicy, ChangeKind::GroupInlinePolicy, ChangeKind::RoleInlinePolicy, ChangeKind::PolicyCreated, ChangeKind::PolicyVersion],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "allowed_services",
            description: "Service prefixes (`logs`, `s3`) whose `service:*` is accepted, case-insensitive.",
        }],
    },
    check: |ctx, params| {
        let aad = ctx.aad()?;
        let allowed = &params.allowed_services;
        let mut hits = Vec::new();
        for policy in aad.policies.iter().filter(|p| !p.is_aws_managed()) {
            let Some(Ok(doc)) = &policy.document else { continue };
            let actions = service_wildcards(doc, allowed);
            if actions.is_empty() {
                continue;
            }
            let a = sh(&policy.arn);
            hits.push(
                Hit::new(
                    ResourceType::Policy,
                    &policy.arn,
                    &policy.name,
                    format!("Customer managed policy {} allows every action of a service: {}.", policy.name, wildcard_text(&actions)),
                    format!(
                        "# Save the current document, list the needed actions instead of the wildcard, and make it the default version:\n\
aws iam get-policy-version --policy-arn {a} --version-id \"$(aws iam get-policy --policy-arn {a} --query Policy.DefaultVersionId --output text)\" --query PolicyVersion.Document --output json > scoped-policy.json\n\
aws iam create-policy-version --policy-arn {a} --policy-document file://scoped-policy.json --set-as-default"
                    ),
                )
                .details(json!({"policy_arn": policy.arn, "attachment_count": policy.attachment_count, "wildcards": wildcard_details(&actions)})),
            );
        }
        for user in &aad.users {
            inline_wildcard_hits(&mut hits, (ResourceType::User, "user", &user.name, &user.arn), &user.inline_policies, allowed);
        }
        for group in &aad.groups {
            inline_wildcard_hits(&mut hits, (ResourceType::Group, "group", &group.name, &group.arn), &group.inline_policies, allowed);
        }
        for role in aad.roles.iter().filter(|r| !r.is_service_linked()) {
            inline_wildcard_hits(&mut hits, (ResourceType::Role, "role", &role.name, &role.arn), &role.inline_policies, allowed);
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// cloudshell-full-access

pub const AWS_CLOUDSHELL_FULL_ACCESS: &str = "AWSCloudShellFullAccess";

pub static CLOUDSHELL_FULL_ACCESS: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "cloudshell-full-access",
        title: "CloudShell full access granted",
        severity: Severity::Medium,
        resource_type: ResourceType::User,
        description: "A user, group or role has the AWS managed `AWSCloudShellFullAccess` policy attached.",
        rationale: "AWSCloudShellFullAccess lets its holder upload and download files to and from a CloudShell environment and reach the internet from it: a path to move data out of the account that bypasses other controls.",
        remediation: "Detach AWSCloudShellFullAccess and, where CloudShell is needed, grant a policy that allows the CloudShell actions without file transfer (deny cloudshell:PutFileUpload and cloudshell:GetFileDownloadUrls).",
        standards: &["CIS AWS Foundations 3.0/4.0 1.22, 5.0 1.21", "AWS Security Hub IAM.27 (CIS standard)"],
        controls: &[Control::cis3("1.22"), Control::cis4("1.22"), Control::cis5("1.21")],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserPolicyAttachment, ChangeKind::GroupPolicyAttachment, ChangeKind::RolePolicyAttachment],
        moved_by_policy: Some(AWS_CLOUDSHELL_FULL_ACCESS),
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let aad = ctx.aad()?;
        let arn = aws_managed(ctx, AWS_CLOUDSHELL_FULL_ACCESS);
        let a = sh(&arn);
        let mut hits = Vec::new();
        let mut hit = |resource_type: ResourceType, kind: &str, name: &str, entity_arn: &str| {
            hits.push(
                Hit::new(
                    resource_type,
                    entity_arn,
                    name,
                    format!("The AWS managed policy {AWS_CLOUDSHELL_FULL_ACCESS} is attached to {kind} {name}."),
                    format!("aws iam detach-{kind}-policy --{kind}-name {} --policy-arn {a}", sh(name)),
                )
                .details(json!({"policy_arn": arn, "entity": kind})),
            )
        };
        for user in aad.users.iter().filter(|u| holds(&u.attached_policies, AWS_CLOUDSHELL_FULL_ACCESS)) {
            hit(ResourceType::User, "user", &user.name, &user.arn);
        }
        for group in aad.groups.iter().filter(|g| holds(&g.attached_policies, AWS_CLOUDSHELL_FULL_ACCESS)) {
            hit(ResourceType::Group, "group", &group.name, &group.arn);
        }
        for role in aad.roles.iter().filter(|r| holds(&r.attached_policies, AWS_CLOUDSHELL_FULL_ACCESS)) {
            hit(ResourceType::Role, "role", &role.name, &role.arn);
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// access-keys-at-setup

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeysAtSetupParams {
    /// A key created within this many minutes of its user counts as made at setup.
    pub setup_window_minutes: u32,
}

impl Params for KeysAtSetupParams {}

impl Default for KeysAtSetupParams {
    fn default() -> Self {
        KeysAtSetupParams { setup_window_minutes: 60 }
    }
}

pub static ACCESS_KEYS_AT_SETUP: RuleDef<KeysAtSetupParams> = RuleDef {
    meta: Meta {
        id: "access-keys-at-setup",
        title: "Access key created at user setup and never used",
        severity: Severity::Low,
        resource_type: ResourceType::User,
        description: "A user with a console password has an active access key that was created within `setup_window_minutes` of the user itself and has never been used.",
        rationale: "Access keys handed out with every new console user, whether needed or not, pile up unused long-lived credentials; a console user should get a key only once it needs API access, and an unused one should not exist.",
        remediation: "Delete the unused access key; create one later if the user turns out to need API access (and prefer roles with temporary credentials).",
        standards: &["CIS AWS Foundations 3.0/4.0 1.11, 5.0 1.10"],
        controls: &[Control::cis3("1.11"), Control::cis4("1.11"), Control::cis5("1.10")],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ACCESS_KEY_SLOTS,
        // A key created, activated, deactivated or deleted. Not CreateUser (a user is created
        // without keys; a key comes with its own CreateAccessKey). A console password created or
        // deleted moves it too, but its event reads the password and MFA, not the keys and their
        // last use (six calls would not hold them): the sweep evaluates that change.
        moved_by: &[ChangeKind::AccessKey],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "setup_window_minutes",
            description: "A key created within this many minutes of its user counts as created at setup (0: any never-used key of a console user, the benchmark's audit procedure read literally).",
        }],
    },
    check: |ctx, params| {
        let report = ctx.credential_report()?;
        let mut hits = Vec::new();
        let mut unknown = Vec::new();
        for row in report.users.iter().filter(|r| matches!(r.password_enabled, ReportFlag::True | ReportFlag::NotRead)) {
            for key in row.access_keys.iter().filter(|k| k.active && k.last_used == ReportDate::Never) {
                let Some(created) = key.last_rotated.at() else { continue };
                let at_setup = match row.user_creation_time {
                    _ if params.setup_window_minutes == 0 => true,
                    Some(user_created) => (created - user_created).num_minutes().abs() <= i64::from(params.setup_window_minutes),
                    None => false,
                };
                if !at_setup {
                    continue;
                }
                if row.password_enabled == ReportFlag::NotRead {
                    // Made at setup and never used: whether it fails depends on the password.
                    unknown.push(row.user.as_str());
                    continue;
                }
                let u = sh(&row.user);
                hits.push(
                    Hit::new(
                        ResourceType::User,
                        &row.arn,
                        &row.user,
                        format!(
                            "Console user {} has access key {} created on {} with the user and never used.",
                            row.user,
                            key.slot,
                            day(created)
                        ),
                        format!(
                            "# Find the key (created {created}), then delete it:\naws iam list-access-keys --user-name {u}\naws iam delete-access-key --user-name {u} --access-key-id <access-key-id>"
                        ),
                    )
                    .discriminator(format!("key-{}", key.slot))
                    .details(json!({"slot": key.slot, "key_created": created, "user_created": row.user_creation_time, "setup_window_minutes": params.setup_window_minutes})),
                );
            }
        }
        if !unknown.is_empty() {
            unknown.dedup();
            return Err(NotEvaluated::out_of_scope(format!(
                "whether {} has a console password was not read by this run (an access key event with two keys reads their last use \
instead); the sweep evaluates it",
                unknown.join(", ")
            )));
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// access-analyzer-enabled

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessAnalyzerParams {
    /// Regions that must have an analyzer; empty: every region the account has enabled.
    pub regions: Vec<String>,
}

impl Params for AccessAnalyzerParams {}

/// The regions `access-analyzer-enabled` is configured to check (empty: every enabled region):
/// what a sweep reads.
pub fn access_analyzer_regions(settings: &crate::Settings) -> Vec<String> {
    settings
        .rule(ACCESS_ANALYZER_ENABLED.id())
        .ok()
        .and_then(|r| r.params.get::<AccessAnalyzerParams>().map(|p| p.regions.clone()))
        .unwrap_or_default()
}

pub static ACCESS_ANALYZER_ENABLED: RuleDef<AccessAnalyzerParams> = RuleDef {
    meta: Meta {
        id: "access-analyzer-enabled",
        title: "IAM Access Analyzer not enabled in a region",
        severity: Severity::Low,
        resource_type: ResourceType::Account,
        description: "A region has no active IAM Access Analyzer analyzer of external access (type ACCOUNT or ORGANIZATION); the regions are `regions`, or every region the account has enabled (account:ListRegions).",
        rationale: "Access Analyzer finds resources (buckets, keys, roles, queues...) shared outside the account or organization; it works region by region, so a region without an analyzer is one where such sharing goes unnoticed.",
        remediation: "Create an analyzer of external access in every region the account uses (aws accessanalyzer create-analyzer --type ACCOUNT, or ORGANIZATION from the delegated administrator).",
        standards: &["CIS AWS Foundations 3.0/4.0 1.20, 5.0 1.19", "AWS Security Hub IAM.28 (CIS standard)"],
        controls: &[Control::cis3("1.20"), Control::cis4("1.20"), Control::cis5("1.19")],
        data: &[DataSource::AccessAnalyzers],
        requires: Requires::All(&[DataSource::AccessAnalyzers]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys { fixed: &[], named: Some("region:") },
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "regions",
            description: "Regions that must have an analyzer (`us-east-1`); empty: every region the account has enabled, read with account:ListRegions.",
        }],
    },
    check: |ctx, params| {
        let Some(analyzers) = ctx.inventory.access_analyzers.as_ref() else {
            return Err(NotEvaluated::unreadable(ctx.inventory.missing_reason(DataSource::AccessAnalyzers)));
        };
        let wanted: Vec<&str> = if params.regions.is_empty() {
            analyzers.regions.iter().map(|r| r.region.as_str()).collect()
        } else {
            params.regions.iter().map(String::as_str).collect()
        };
        let missing: Vec<&str> = wanted.iter().copied().filter(|r| analyzers.region(r).is_none()).collect();
        if !missing.is_empty() {
            return Err(NotEvaluated::unreadable(format!("the analyzers of {} were not read ({})", missing.join(", "), analyzers.regions_from)));
        }
        if wanted.is_empty() {
            return Err(NotEvaluated::unknowable(format!("no region to check ({} named none)", analyzers.regions_from)));
        }
        let mut hits = Vec::new();
        for region in wanted {
            let Some(found) = analyzers.region(region) else { continue };
            if found.analyzers.iter().any(|a| a.is_external_access() && a.is_active()) {
                continue;
            }
            let others: Vec<String> = found.analyzers.iter().map(|a| format!("{} ({}, {})", a.name, a.kind, a.status)).collect();
            let message = if others.is_empty() {
                format!("Region {region} has no IAM Access Analyzer analyzer.")
            } else {
                format!("Region {region} has no active analyzer of external access, only: {}.", others.join(", "))
            };
            hits.push(
                Hit::new(
                    ResourceType::Account,
                    ctx.root_arn(),
                    ctx.account_id(),
                    message,
                    format!("aws accessanalyzer create-analyzer --region {region} --analyzer-name external-access --type ACCOUNT"),
                )
                .discriminator(format!("region:{region}"))
                .details(json!({"region": region, "analyzers": found.analyzers})),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// security-contact

pub static SECURITY_CONTACT: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "security-contact",
        title: "No security contact",
        severity: Severity::Medium,
        resource_type: ResourceType::Account,
        description: "The account has no security alternate contact, or one without an email address.",
        rationale: "AWS sends security notices (a leaked key found on a public repository, abuse reports, a compromised resource) to the security contact; without one they go to the account's primary contact, who may not act on them in time.",
        remediation: "Set the security alternate contact to a monitored team address (a distribution list, not one person).",
        standards: &["CIS AWS Foundations 3.0/4.0/5.0 1.2", "AWS Security Hub Account.1 (FSBP)"],
        controls: &[Control::cis3("1.2"), Control::cis4("1.2"), Control::cis5("1.2"), Control::fsbp("Account.1")],
        data: &[DataSource::SecurityContact],
        requires: Requires::All(&[DataSource::SecurityContact]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let Some(contact) = ctx.inventory.security_contact.as_ref() else {
            return Err(NotEvaluated::unreadable(ctx.inventory.missing_reason(DataSource::SecurityContact)));
        };
        let problem = match contact {
            None => "has no security alternate contact",
            Some(c) if c.email.as_deref().is_none_or(|e| e.trim().is_empty()) => "has a security alternate contact without an email address",
            Some(_) => return Ok(vec![]),
        };
        let account = ctx.account_id();
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            account,
            format!("Account {account} {problem}."),
            "aws account put-alternate-contact --alternate-contact-type SECURITY --email-address security-team@example.com --name 'Security team' --phone-number '+1-555-0100' --title 'Security'".to_string(),
        )
        .details(json!({"contact": contact}))])
    },
};

// ---------------------------------------------------------------------------------------------
// required-tags

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequiredTagsParams {
    /// Tag keys every user and role must have.
    pub keys: Vec<String>,
    pub users: bool,
    pub roles: bool,
}

impl Params for RequiredTagsParams {}

impl Default for RequiredTagsParams {
    fn default() -> Self {
        RequiredTagsParams { keys: Vec::new(), users: true, roles: true }
    }
}

fn missing_keys<'k>(tags: &Tags, keys: &'k [String]) -> Vec<&'k str> {
    keys.iter().filter(|k| !tags.contains_key(k.as_str())).map(String::as_str).collect()
}

pub static REQUIRED_TAGS: RuleDef<RequiredTagsParams> = RuleDef {
    meta: Meta {
        id: "required-tags",
        title: "IAM user or role without required tags",
        severity: Severity::Low,
        resource_type: ResourceType::User,
        description: "A user or role (not service-linked) lacks one of the tag keys listed in `keys`. Opt-in.",
        rationale: "Tags name who owns an identity and what it is for; an untagged user or role is one nobody answers for in an access review, and tag-based access control (ABAC) cannot reason about it.",
        remediation: "Tag the user or role with the missing keys (aws iam tag-user / tag-role), or enforce the tags at creation with a service control policy or tag policy.",
        standards: &["AWS Security Hub IAM.24 and IAM.25 (AWS Resource Tagging standard)"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        // A user or role created (with the tags it was given, or none), or tagged or untagged.
        moved_by: &[ChangeKind::UserCreated, ChangeKind::Role, ChangeKind::Tags],
        moved_by_policy: None,
        enabled_by_default: false,
        params: &[
            ParamDoc { name: "keys", description: "Tag keys every user and role must have (case-sensitive, as IAM compares them). Empty: the rule is not evaluated." },
            ParamDoc { name: "users", description: "Check users." },
            ParamDoc { name: "roles", description: "Check roles that are not service-linked." },
        ],
    },
    check: |ctx, params| {
        if params.keys.is_empty() {
            return Err(NotEvaluated::unconfigured("no required tag keys configured (set `keys`)"));
        }
        let aad = ctx.aad()?;
        let mut hits = Vec::new();
        let mut unknown = BTreeSet::new();
        let mut check = |resource_type: ResourceType, kind: &str, name: &str, arn: &str, tags: Option<&Tags>| {
            let Some(tags) = tags else {
                unknown.insert(arn.to_string());
                return;
            };
            let missing = missing_keys(tags, &params.keys);
            if missing.is_empty() {
                return;
            }
            let pairs = missing.iter().map(|k| format!("Key={},Value=<value>", sh(k))).collect::<Vec<_>>().join(" ");
            hits.push(
                Hit::new(
                    resource_type,
                    arn,
                    name,
                    format!("{} {name} has no tag {}.", if kind == "user" { "User" } else { "Role" }, missing.join(", ")),
                    format!("aws iam tag-{kind} --{kind}-name {} --tags {pairs}", sh(name)),
                )
                .details(json!({"missing": missing, "tags": tags})),
            );
        };
        if params.users {
            for u in &aad.users {
                check(ResourceType::User, "user", &u.name, &u.arn, u.tags.as_ref());
            }
        }
        if params.roles {
            for r in aad.roles.iter().filter(|r| !r.is_service_linked()) {
                check(ResourceType::Role, "role", &r.name, &r.arn, r.tags.as_ref());
            }
        }
        if !unknown.is_empty() {
            return Err(NotEvaluated::unreadable(format!("the tags of {} were not read", unknown.into_iter().collect::<Vec<_>>().join(", "))));
        }
        Ok(hits)
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{AccessAnalyzers, AlternateContact, Analyzer, Inventory, RegionAnalyzers};
    use crate::report::FindingStatus;
    use crate::testkit::*;
    use crate::RuleStatus;
    use serde_json::json;

    const SUPPORT: &str = "arn:aws:iam::aws:policy/AWSSupportAccess";
    const CLOUDSHELL: &str = "arn:aws:iam::aws:policy/AWSCloudShellFullAccess";

    // --- support-role ------------------------------------------------------------------------

    #[test]
    fn support_role() {
        let mut inv = inventory();
        let support = managed(SUPPORT, read_only_doc());
        // On a user or a group it does not count: the control asks for a role.
        let mut u = user("alice");
        u.attached_policies.push(attach(&support));
        aad(&mut inv).users.push(u);
        aad(&mut inv).roles.push(role("app"));
        check("support-role", &inv, json!({}), &[&root_arn()]);
        let f = &findings("support-role", &inv, json!({}))[0];
        assert_eq!(f.message, format!("No role of account {ACCOUNT} has the AWS managed policy AWSSupportAccess attached."));
        assert!(
            f.remediation.contains(&format!("aws iam attach-role-policy --role-name aws-support --policy-arn {SUPPORT}")),
            "{}",
            f.remediation
        );
        let mut r = role("support");
        r.attached_policies.push(attach(&support));
        aad(&mut inv).roles.push(r);
        check("support-role", &inv, json!({}), &[]);
        // Not every role known: not judged.
        aad(&mut inv).complete = false;
        assert_eq!(status("support-role", &inv, json!({})).0, RuleStatus::NotEvaluated);
    }

    #[test]
    fn support_role_on_an_event_counts_the_roles_the_policy_is_attached_to() {
        use crate::inventory::PolicyEntities;
        // An event's inventory: not every role, but every entity AWSSupportAccess is attached to.
        let mut inv = inventory();
        aad(&mut inv).complete = false;
        let (state, reason) = status("support-role", &inv, json!({}));
        assert_eq!(state, RuleStatus::NotEvaluated, "no holders read: not judged");
        assert!(reason.unwrap().contains("every user, group and role"));
        let entities = |roles: &[&str]| PolicyEntities {
            arn: SUPPORT.into(),
            name: AWS_SUPPORT_ACCESS.into(),
            users: vec!["alice".into()],
            groups: vec![],
            roles: roles.iter().map(|r| (r.to_string(), false)).collect(),
        };
        // Held by a user only: no role has it.
        inv.policy_entities = Some(vec![entities(&[])]);
        check("support-role", &inv, json!({}), &[&root_arn()]);
        let f = &findings("support-role", &inv, json!({}))[0];
        assert_eq!(f.details, json!({"policy_arn": SUPPORT}), "the same details as a sweep's");
        inv.policy_entities = Some(vec![entities(&["support"])]);
        check("support-role", &inv, json!({}), &[]);
        // In another partition too.
        inv.policy_entities = Some(vec![PolicyEntities { arn: "arn:aws-cn:iam::aws:policy/AWSSupportAccess".into(), ..entities(&[]) }]);
        check("support-role", &inv, json!({}), &[&root_arn()]);
        // The holders of another policy say nothing about this one: not judged.
        inv.policy_entities = Some(vec![PolicyEntities {
            arn: "arn:aws:iam::aws:policy/AmazonRDSFullAccess".into(),
            name: "AmazonRDSFullAccess".into(),
            ..entities(&["db"])
        }]);
        let (state, reason) = status("support-role", &inv, json!({}));
        assert_eq!(state, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("the roles AWSSupportAccess is attached to"));
    }

    #[test]
    fn only_attachments_of_the_watched_policy_move_support_role_and_cloudshell() {
        assert!(SUPPORT_ROLE.meta.moved_by_attachment_of(SUPPORT));
        assert!(SUPPORT_ROLE.meta.moved_by_attachment_of("arn:aws-us-gov:iam::aws:policy/AWSSupportAccess"));
        assert!(!SUPPORT_ROLE.meta.moved_by_attachment_of(CLOUDSHELL));
        // A customer managed policy of the same name is another policy.
        assert!(!SUPPORT_ROLE.meta.moved_by_attachment_of("arn:aws:iam::123456789012:policy/AWSSupportAccess"));
        assert!(!SUPPORT_ROLE.meta.moved_by_attachment_of("arn:aws:iam::aws:policy/job-function/AWSSupportAccess"));
        assert!(CLOUDSHELL_FULL_ACCESS.meta.moved_by_attachment_of(CLOUDSHELL));
        assert!(!CLOUDSHELL_FULL_ACCESS.meta.moved_by_attachment_of(SUPPORT));
        assert!(!CLOUDSHELL_FULL_ACCESS.meta.moved_by_attachment_of("AWSCloudShellFullAccess"));
        // Rules that watch no one policy: any attachment.
        assert!(POLICY_SERVICE_WILDCARD.meta.moved_by_attachment_of(SUPPORT));
    }

    // --- policy-service-wildcard -------------------------------------------------------------

    #[test]
    fn policy_service_wildcard() {
        let mut inv = inventory();
        let docs = [
            ("s3-all", json!({"Statement":[{"Effect":"Allow","Action":["s3:*","ec2:Describe*"],"Resource":"arn:aws:s3:::bucket/*"}]})),
            ("logs-all", json!({"Statement":[{"Effect":"Allow","Action":"logs:*","Resource":"*"}]})),
            ("scoped", json!({"Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]})),
            (
                "conditional",
                json!({"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"true"}}}]}),
            ),
            ("deny", json!({"Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]})),
            ("everything", json!({"Statement":[{"Effect":"Allow","Action":["*", "*:*"],"Resource":"arn:aws:s3:::bucket"}]})),
            ("two-services", json!({"Statement":[{"Effect":"Allow","Action":["sqs:*", "SNS:*"],"Resource":"*"}]})),
        ];
        for (name, d) in &docs {
            aad(&mut inv).policies.push(managed(name, d.clone()));
        }
        // AWS managed policies are not the account's to fix.
        aad(&mut inv).policies.push(managed(
            "arn:aws:iam::aws:policy/AmazonS3FullAccess",
            json!({"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}),
        ));
        let mut r = role("app");
        r.inline_policies.push(inline("dynamo", json!({"Statement":{"Effect":"Allow","Action":"dynamodb:*","Resource":"*"}})));
        aad(&mut inv).roles.push(r);
        check(
            "policy-service-wildcard",
            &inv,
            json!({}),
            &[&policy_arn("s3-all"), &policy_arn("logs-all"), &policy_arn("two-services"), &role_arn("app")],
        );
        check(
            "policy-service-wildcard",
            &inv,
            json!({"allowed_services": ["LOGS", "dynamodb", "sns"]}),
            &[&policy_arn("s3-all"), &policy_arn("two-services")],
        );
        let fs = findings("policy-service-wildcard", &inv, json!({}));
        let s3 = fs.iter().find(|f| f.resource_name == "s3-all").unwrap();
        assert_eq!(s3.message, "Customer managed policy s3-all allows every action of a service: s3:*.");
        assert_eq!(s3.details["wildcards"], json!([{"statement": 0, "action": "s3:*"}]));
        let two = fs.iter().find(|f| f.resource_name == "two-services").unwrap();
        assert_eq!(two.message, "Customer managed policy two-services allows every action of a service: sqs:*, SNS:*.");
        let app = fs.iter().find(|f| f.resource_name == "app").unwrap();
        assert_eq!(app.fingerprint, crate::report::fingerprint("policy-service-wildcard", &role_arn("app"), "inline:dynamo"));
        assert!(app.remediation.contains("aws iam put-role-policy --role-name app --policy-name dynamo"), "{}", app.remediation);
    }

    // --- cloudshell-full-access --------------------------------------------------------------

    #[test]
    fn cloudshell_full_access() {
        let mut inv = inventory();
        let shell = managed(CLOUDSHELL, json!({"Statement":[{"Effect":"Allow","Action":"cloudshell:*","Resource":"*"}]}));
        let mut u = user("alice");
        u.attached_policies.push(attach(&shell));
        let mut g = group("devs");
        g.attached_policies.push(attach(&shell));
        let mut r = role("ops");
        r.attached_policies.push(attach(&shell));
        aad(&mut inv).users.extend([u, user("bob")]);
        aad(&mut inv).groups.push(g);
        aad(&mut inv).roles.extend([r, role("app")]);
        check("cloudshell-full-access", &inv, json!({}), &[&user_arn("alice"), &group_arn("devs"), &role_arn("ops")]);
        let fs = findings("cloudshell-full-access", &inv, json!({}));
        let devs = fs.iter().find(|f| f.resource_name == "devs").unwrap();
        assert_eq!(devs.message, "The AWS managed policy AWSCloudShellFullAccess is attached to group devs.");
        assert_eq!(devs.remediation, format!("aws iam detach-group-policy --group-name devs --policy-arn {CLOUDSHELL}"));
        let excepted =
            findings("cloudshell-full-access", &inv, json!({"exceptions": [{"resource": role_arn("ops"), "reason": "break-glass"}]}));
        assert_eq!(excepted.iter().filter(|f| f.status == FindingStatus::Suppressed).count(), 1);
    }

    #[test]
    fn cloudshell_full_access_in_another_partition() {
        // An event's inventory does not always know the partition: the policy is found by name.
        let mut inv = inventory();
        let shell = managed("arn:aws-cn:iam::aws:policy/AWSCloudShellFullAccess", json!({"Statement":[]}));
        let mut u = user("alice");
        u.attached_policies.push(attach(&shell));
        aad(&mut inv).users.push(u);
        aad(&mut inv).complete = false;
        check("cloudshell-full-access", &inv, json!({}), &[&user_arn("alice")]);
    }

    // --- access-keys-at-setup ----------------------------------------------------------------

    #[test]
    fn access_keys_at_setup() {
        let mut inv = inventory();
        let with = |name: &str, password: bool, key_created_after_minutes: i64, used: bool| {
            let mut r = row(name);
            r.password_enabled = if password { crate::inventory::ReportFlag::True } else { crate::inventory::ReportFlag::False };
            let created = ago(400) + chrono::Duration::minutes(key_created_after_minutes);
            r.access_keys[0] = crate::inventory::KeySlot {
                slot: 1,
                active: true,
                last_rotated: ReportDate::At(created),
                last_used: if used { ReportDate::At(ago(1)) } else { ReportDate::Never },
            };
            r
        };
        cr(&mut inv).users.extend([
            with("setup-unused", true, 0, false),
            with("setup-used", true, 0, true),
            with("api-only", false, 0, false),
            with("later-key", true, 60 * 24 * 30, false),
            with("within-hour", true, 45, false),
        ]);
        check("access-keys-at-setup", &inv, json!({}), &[&user_arn("setup-unused"), &user_arn("within-hour")]);
        check("access-keys-at-setup", &inv, json!({"setup_window_minutes": 10}), &[&user_arn("setup-unused")]);
        check(
            "access-keys-at-setup",
            &inv,
            json!({"setup_window_minutes": 0}),
            &[&user_arn("setup-unused"), &user_arn("within-hour"), &user_arn("later-key")],
        );
        let f = &findings("access-keys-at-setup", &inv, json!({}))[0];
        assert_eq!(f.fingerprint, crate::report::fingerprint("access-keys-at-setup", &user_arn("setup-unused"), "key-1"));
        assert!(f.remediation.contains("aws iam delete-access-key --user-name setup-unused"), "{}", f.remediation);
    }

    #[test]
    fn access_keys_at_setup_when_the_password_was_not_read() {
        // A live row of an access key event that did not read the console password.
        let mut inv = inventory();
        let mut r = row("newcomer");
        r.password_enabled = crate::inventory::ReportFlag::NotRead;
        let created = ago(1);
        r.user_creation_time = Some(created);
        r.access_keys[0] =
            crate::inventory::KeySlot { slot: 1, active: true, last_rotated: ReportDate::At(created), last_used: ReportDate::Never };
        cr(&mut inv).users.push(r.clone());
        // A key made at setup, never used: the verdict depends on the password, not read.
        let (state, reason) = status("access-keys-at-setup", &inv, json!({}));
        assert_eq!(state, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("whether newcomer has a console password was not read"));
        // A key used since: no key can fail, whatever the password.
        cr(&mut inv).users[0].access_keys[0].last_used = ReportDate::At(ago(0));
        check("access-keys-at-setup", &inv, json!({}), &[]);
        // Inactive: the same.
        cr(&mut inv).users[0] = r.clone();
        cr(&mut inv).users[0].access_keys[0].active = false;
        check("access-keys-at-setup", &inv, json!({}), &[]);
        // Read: a console password, the finding; none, a pass.
        cr(&mut inv).users[0] = r.clone();
        cr(&mut inv).users[0].password_enabled = crate::inventory::ReportFlag::True;
        check("access-keys-at-setup", &inv, json!({}), &[&user_arn("newcomer")]);
        cr(&mut inv).users[0].password_enabled = crate::inventory::ReportFlag::False;
        check("access-keys-at-setup", &inv, json!({}), &[]);
    }

    #[test]
    fn access_keys_at_setup_on_a_real_format_report() {
        // As AWS writes it: a console user whose key was made a minute after the user, never used.
        let csv = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated\n\
<root_account>,arn:aws:iam::123456789012:root,2019-01-10T09:00:00+00:00,not_supported,2026-11-01T08:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
carol,arn:aws:iam::123456789012:user/carol,2026-10-01T10:00:00+00:00,true,2026-11-20T10:00:00+00:00,2026-10-01T10:00:30+00:00,N/A,true,true,2026-10-01T10:01:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n";
        let mut inv = inventory();
        inv.credential_report = Some(crate::sources::parse_credential_report(csv).unwrap());
        check("access-keys-at-setup", &inv, json!({}), &["arn:aws:iam::123456789012:user/carol"]);
    }

    // --- access-analyzer-enabled -------------------------------------------------------------

    fn analyzer(name: &str, kind: &str, status: &str) -> Analyzer {
        Analyzer {
            name: name.into(),
            arn: format!("arn:aws:access-analyzer:us-east-1:{ACCOUNT}:analyzer/{name}"),
            kind: kind.into(),
            status: status.into(),
        }
    }

    fn with_analyzers(regions: Vec<(&str, Vec<Analyzer>)>) -> Inventory {
        let mut inv = inventory();
        inv.access_analyzers = Some(AccessAnalyzers {
            regions: regions.into_iter().map(|(r, a)| RegionAnalyzers { region: r.into(), analyzers: a }).collect(),
            regions_from: "account:ListRegions".into(),
        });
        inv
    }

    #[test]
    fn access_analyzer_enabled() {
        let inv = with_analyzers(vec![
            ("us-east-1", vec![analyzer("ext", "ACCOUNT", "ACTIVE")]),
            ("eu-west-1", vec![analyzer("org", "ORGANIZATION", "ACTIVE"), analyzer("unused", "ACCOUNT_UNUSED_ACCESS", "ACTIVE")]),
            ("eu-central-1", vec![analyzer("unused", "ACCOUNT_UNUSED_ACCESS", "ACTIVE")]),
            ("ap-south-1", vec![analyzer("ext", "ACCOUNT", "DISABLED")]),
            ("us-west-2", vec![]),
        ]);
        let fs = findings("access-analyzer-enabled", &inv, json!({}));
        let regions: Vec<&str> = fs.iter().map(|f| f.details["region"].as_str().unwrap()).collect();
        assert_eq!(regions.len(), 3);
        for r in ["eu-central-1", "ap-south-1", "us-west-2"] {
            assert!(regions.contains(&r), "{r}");
        }
        let west = fs.iter().find(|f| f.details["region"] == "us-west-2").unwrap();
        assert_eq!(west.message, "Region us-west-2 has no IAM Access Analyzer analyzer.");
        assert_eq!(west.resource_arn, root_arn());
        assert_eq!(
            west.remediation,
            "aws accessanalyzer create-analyzer --region us-west-2 --analyzer-name external-access --type ACCOUNT"
        );
        let frankfurt = fs.iter().find(|f| f.details["region"] == "eu-central-1").unwrap();
        assert_eq!(
            frankfurt.message,
            "Region eu-central-1 has no active analyzer of external access, only: unused (ACCOUNT_UNUSED_ACCESS, ACTIVE)."
        );
        // Configured regions: only those.
        assert!(findings("access-analyzer-enabled", &inv, json!({"regions": ["us-east-1", "eu-west-1"]})).is_empty());
        // A configured region that was not read is not judged.
        let (state, reason) = status("access-analyzer-enabled", &inv, json!({"regions": ["sa-east-1"]}));
        assert_eq!(state, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("sa-east-1 were not read"));
        // Not collected: not judged, with the reason.
        let mut inv = inventory();
        inv.record_gap(DataSource::AccessAnalyzers, "accessanalyzer:ListAnalyzers in us-east-1: AccessDeniedException");
        let (state, reason) = status("access-analyzer-enabled", &inv, json!({}));
        assert_eq!(state, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("AccessDeniedException"));
    }

    // --- security-contact --------------------------------------------------------------------

    #[test]
    fn security_contact() {
        let mut inv = inventory();
        inv.security_contact = Some(None);
        check("security-contact", &inv, json!({}), &[&root_arn()]);
        assert_eq!(
            findings("security-contact", &inv, json!({}))[0].message,
            format!("Account {ACCOUNT} has no security alternate contact.")
        );
        inv.security_contact = Some(Some(AlternateContact { name: Some("Sec".into()), email: Some(" ".into()), ..Default::default() }));
        check("security-contact", &inv, json!({}), &[&root_arn()]);
        inv.security_contact = Some(Some(AlternateContact { email: Some("security@example.com".into()), ..Default::default() }));
        check("security-contact", &inv, json!({}), &[]);
        inv.security_contact = None;
        assert_eq!(status("security-contact", &inv, json!({})).0, RuleStatus::NotEvaluated);
    }

    // --- required-tags -----------------------------------------------------------------------

    #[test]
    fn required_tags() {
        let mut inv = inventory();
        let tagged = |mut tags_of: crate::inventory::User, pairs: &[(&str, &str)]| {
            tags_of.tags = Some(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
            tags_of
        };
        aad(&mut inv)
            .users
            .extend([tagged(user("alice"), &[("owner", "a"), ("cost-center", "1")]), tagged(user("bob"), &[("owner", "b")])]);
        let mut r = role("app");
        r.tags = Some(Default::default());
        aad(&mut inv).roles.extend([r, service_linked_role("AWSServiceRoleForX")]);
        // Opt-in.
        assert_eq!(status("required-tags", &inv, json!({})).0, RuleStatus::Disabled);
        let (state, reason) = status("required-tags", &inv, json!({"enabled": true}));
        assert_eq!(state, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("no required tag keys"));
        let on = |extra: serde_json::Value| {
            let mut s = json!({"enabled": true, "keys": ["owner", "cost-center"]});
            s.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            s
        };
        check("required-tags", &inv, on(json!({})), &[&user_arn("bob"), &role_arn("app")]);
        check("required-tags", &inv, on(json!({"roles": false})), &[&user_arn("bob")]);
        let fs = findings("required-tags", &inv, on(json!({})));
        let app = fs.iter().find(|f| f.resource_name == "app").unwrap();
        assert_eq!(app.message, "Role app has no tag owner, cost-center.");
        assert_eq!(app.remediation, "aws iam tag-role --role-name app --tags Key=owner,Value=<value> Key=cost-center,Value=<value>");
        // Tags not read: not judged.
        aad(&mut inv).users[0].tags = None;
        assert_eq!(status("required-tags", &inv, on(json!({}))).0, RuleStatus::NotEvaluated);
    }
}
