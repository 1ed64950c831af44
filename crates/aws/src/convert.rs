//! SDK types → the inventory model. Pure functions: no calls, no panics on odd data (missing
//! fields become empty values or warnings).

use std::collections::BTreeSet;

use aws_sdk_iam::types::{
    AttachedPermissionsBoundary, AttachedPolicy as SdkAttachedPolicy, GroupDetail, ManagedPolicyDetail, PolicyDetail, RoleDetail,
    UserDetail,
};
use chrono::{DateTime, Utc};
use iam_assurance_rules::inventory::{
    account_from_arn, is_aws_managed_arn, name_from_arn, AttachedPolicy, AuthorizationDetails, Group, InlinePolicy, ManagedPolicy, Role,
    User,
};
use iam_assurance_rules::policy::PolicyDocument;

/// SDK time → chrono (seconds and nanoseconds; out-of-range values become `None`).
pub(crate) fn datetime(value: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(value.secs(), value.subsec_nanos())
}

pub(crate) fn opt_datetime(value: Option<&aws_smithy_types::DateTime>) -> Option<DateTime<Utc>> {
    value.and_then(datetime)
}

/// The partition field of an ARN (`aws`, `aws-cn`, `aws-us-gov`).
pub(crate) fn partition_from_arn(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    (parts.next() == Some("arn")).then_some(())?;
    parts.next().filter(|p| !p.is_empty())
}

/// Account id and partition, taken from the first ARN that carries them.
#[derive(Debug, Default, Clone)]
pub(crate) struct AccountHint {
    pub account_id: Option<String>,
    pub partition: Option<String>,
}

impl AccountHint {
    pub fn note(&mut self, arn: &str) {
        if self.account_id.is_none() {
            if let Some(account) = account_from_arn(arn) {
                self.account_id = Some(account.to_owned());
                self.partition = partition_from_arn(arn).map(str::to_owned);
            }
        }
    }

    pub fn merge(&mut self, other: &AccountHint) {
        if self.account_id.is_none() && other.account_id.is_some() {
            *self = other.clone();
        }
    }
}

/// Accumulates GetAccountAuthorizationDetails pages, then resolves them into the model.
///
/// Entities are converted as pages arrive; managed policies are kept raw until the end,
/// because whether an AWS managed policy is kept depends on every entity (only attached ones
/// are), and parsing the documents of the ~1,500 AWS managed policies that some endpoints
/// return unasked would be wasted work.
#[derive(Debug, Default)]
pub(crate) struct AadBuilder {
    details: AuthorizationDetails,
    policies: Vec<ManagedPolicyDetail>,
    referenced: BTreeSet<String>,
    pub hint: AccountHint,
    pub warnings: Vec<String>,
}

impl AadBuilder {
    pub fn page(&mut self, users: &[UserDetail], groups: &[GroupDetail], roles: &[RoleDetail], policies: &[ManagedPolicyDetail]) {
        for u in users {
            self.user(u);
        }
        for g in groups {
            self.group(g);
        }
        for r in roles {
            self.role(r);
        }
        self.policies.extend(policies.iter().cloned());
    }

    /// Resolve: keep customer managed policies and the AWS managed ones that are attached,
    /// parse their default-version documents.
    pub fn finish(mut self, complete: bool) -> (AuthorizationDetails, AccountHint, Vec<String>) {
        let policies = std::mem::take(&mut self.policies);
        for p in policies {
            let Some(arn) = p.arn().filter(|a| !a.is_empty()) else {
                self.warnings.push("a managed policy without an ARN was skipped".to_owned());
                continue;
            };
            let aws_managed = is_aws_managed_arn(arn);
            if aws_managed {
                let attached = p.attachment_count().unwrap_or(0) > 0 || self.referenced.contains(arn);
                if !attached {
                    continue;
                }
            } else {
                self.hint.note(arn);
            }
            if self.details.policies.iter().any(|existing| existing.arn == arn) {
                continue;
            }
            let default = p
                .policy_version_list()
                .iter()
                .find(|v| v.is_default_version() || (v.version_id().is_some() && v.version_id() == p.default_version_id()));
            let document = match default {
                Some(version) => Some(match version.document() {
                    Some(text) => PolicyDocument::parse_str(text),
                    None => Err("the default version has no Document".to_owned()),
                }),
                None => {
                    self.warnings.push(format!("managed policy {arn}: no default version document was returned"));
                    None
                }
            };
            if let Some(Err(e)) = &document {
                self.warnings.push(format!("managed policy {arn}: {e}"));
            }
            let name = p.policy_name().filter(|n| !n.is_empty()).unwrap_or_else(|| name_from_arn(arn)).to_owned();
            self.details.policies.push(ManagedPolicy {
                name,
                arn: arn.to_owned(),
                path: p.path().unwrap_or("/").to_owned(),
                attachment_count: p.attachment_count().map(i64::from),
                document,
            });
        }
        self.details.complete = complete;
        (self.details, self.hint, self.warnings)
    }

    fn identity(&mut self, kind: &str, name: Option<&str>, arn: Option<&str>) -> Option<(String, String)> {
        let arn = arn.filter(|a| !a.is_empty());
        let name = name.filter(|n| !n.is_empty());
        match (name, arn) {
            (Some(name), Some(arn)) => Some((name.to_owned(), arn.to_owned())),
            (None, Some(arn)) => Some((name_from_arn(arn).to_owned(), arn.to_owned())),
            (Some(name), None) => {
                self.warnings.push(format!("{kind} {name} has no ARN in the authorization details and was skipped"));
                None
            }
            (None, None) => {
                self.warnings.push(format!("a {kind} without name or ARN in the authorization details was skipped"));
                None
            }
        }
    }

    /// Attached policies, by name then ARN (see [`crate::attachments::canonical_order`]).
    fn attached(&mut self, list: &[SdkAttachedPolicy]) -> Vec<AttachedPolicy> {
        let mut attached: Vec<AttachedPolicy> = list
            .iter()
            .filter_map(|a| {
                let arn = a.policy_arn().filter(|arn| !arn.is_empty())?;
                self.referenced.insert(arn.to_owned());
                let name = a.policy_name().filter(|n| !n.is_empty()).unwrap_or_else(|| name_from_arn(arn));
                Some(AttachedPolicy { name: name.to_owned(), arn: arn.to_owned() })
            })
            .collect();
        canonical_order(&mut attached);
        attached
    }

    fn boundary(&mut self, boundary: Option<&AttachedPermissionsBoundary>) -> Option<String> {
        let arn = boundary?.permissions_boundary_arn().filter(|a| !a.is_empty())?;
        self.referenced.insert(arn.to_owned());
        Some(arn.to_owned())
    }

    /// Inline policies, by name (see [`crate::attachments::canonical_order`]).
    fn inline(&mut self, owner: &str, list: &[PolicyDetail]) -> Vec<InlinePolicy> {
        let mut list: Vec<&PolicyDetail> = list.iter().collect();
        list.sort_by(|a, b| a.policy_name().cmp(&b.policy_name()));
        list.into_iter()
            .map(|p| {
                let name = p.policy_name().unwrap_or("").to_owned();
                let document = match p.policy_document() {
                    Some(text) => PolicyDocument::parse_str(text),
                    None => Err("no PolicyDocument".to_owned()),
                };
                if let Err(e) = &document {
                    self.warnings.push(format!("inline policy {name} of {owner}: {e}"));
                }
                InlinePolicy { name, document }
            })
            .collect()
    }

    fn user(&mut self, u: &UserDetail) {
        let Some((name, arn)) = self.identity("user", u.user_name(), u.arn()) else { return };
        self.hint.note(&arn);
        let inline_policies = self.inline(&arn, u.user_policy_list());
        let attached_policies = self.attached(u.attached_managed_policies());
        let permissions_boundary = self.boundary(u.permissions_boundary());
        self.details.users.push(User {
            name,
            id: u.user_id().unwrap_or("").to_owned(),
            path: u.path().unwrap_or("/").to_owned(),
            create_date: opt_datetime(u.create_date()),
            groups: u.group_list().to_vec(),
            attached_policies,
            inline_policies,
            permissions_boundary,
            tags: Some(tags(u.tags())),
            arn,
        });
    }

    fn group(&mut self, g: &GroupDetail) {
        let Some((name, arn)) = self.identity("group", g.group_name(), g.arn()) else { return };
        self.hint.note(&arn);
        let inline_policies = self.inline(&arn, g.group_policy_list());
        let attached_policies = self.attached(g.attached_managed_policies());
        self.details.groups.push(Group {
            name,
            id: g.group_id().unwrap_or("").to_owned(),
            path: g.path().unwrap_or("/").to_owned(),
            create_date: opt_datetime(g.create_date()),
            attached_policies,
            inline_policies,
            arn,
        });
    }

    fn role(&mut self, r: &RoleDetail) {
        let Some((name, arn)) = self.identity("role", r.role_name(), r.arn()) else { return };
        self.hint.note(&arn);
        let inline_policies = self.inline(&arn, r.role_policy_list());
        let attached_policies = self.attached(r.attached_managed_policies());
        let permissions_boundary = self.boundary(r.permissions_boundary());
        let trust_policy = r.assume_role_policy_document().map(PolicyDocument::parse_str);
        if let Some(Err(e)) = &trust_policy {
            self.warnings.push(format!("trust policy of {arn}: {e}"));
        }
        self.details.roles.push(Role {
            name,
            id: r.role_id().unwrap_or("").to_owned(),
            path: r.path().unwrap_or("/").to_owned(),
            create_date: opt_datetime(r.create_date()),
            attached_policies,
            inline_policies,
            permissions_boundary,
            last_used: r.role_last_used().and_then(|l| opt_datetime(l.last_used_date())),
            trust_policy,
            tags: Some(tags(r.tags())),
            arn,
        });
    }
}

/// Attached policies in one order, by name then ARN, whichever API listed them: a finding
/// that lists them reads the same from an event's targeted read and from a sweep's
/// authorization details (inline policies are kept by name for the same reason).
pub fn canonical_order(attached: &mut [AttachedPolicy]) {
    attached.sort_by(|a, b| (&a.name, &a.arn).cmp(&(&b.name, &b.arn)));
}

/// IAM tags as the model keeps them.
pub fn tags(list: &[aws_sdk_iam::types::Tag]) -> iam_assurance_rules::inventory::Tags {
    list.iter().map(|t| (t.key().to_owned(), t.value().to_owned())).collect()
}

/// What GetUser says of a user: its name, ARN, boundary and tags (no policies, no groups).
pub(crate) fn user_from_sdk(user: &aws_sdk_iam::types::User) -> iam_assurance_rules::inventory::User {
    use iam_assurance_rules::inventory::User;
    User {
        name: user.user_name().to_owned(),
        arn: user.arn().to_owned(),
        id: user.user_id().to_owned(),
        path: user.path().to_owned(),
        create_date: datetime(user.create_date()),
        groups: Vec::new(),
        attached_policies: Vec::new(),
        inline_policies: Vec::new(),
        permissions_boundary: user.permissions_boundary().and_then(|b| b.permissions_boundary_arn()).map(str::to_owned),
        tags: Some(tags(user.tags())),
    }
}
