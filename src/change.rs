//! The typed IAM change: what a CloudTrail IAM event changed, parsed once.
//!
//! [`EVENTS`] is the one table of the IAM write events the function handles: each event name,
//! the [`ChangeKind`] it is, how `requestParameters` name its entity, and whether it deletes
//! it. Which rules a kind moves is declared by the rules (`Meta::moved_by`, read through
//! [`Change::rules`]); what an event of each kind reads from IAM is [`reads`]. The router, the
//! event path, the documentation (`docs/events.md`) and the tests all derive from these three.

use iam_assurance_aws::CredentialParts;
use iam_assurance_rules::change::ChangeKind;
use iam_assurance_rules::{catalog, Rule};
use serde::Serialize;
use serde_json::Value;

/// An IAM entity an event names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", content = "name", rename_all = "snake_case")]
pub enum Entity {
    User(String),
    Group(String),
    Role(String),
    /// A managed policy, by ARN (by name only when the event does not give the account).
    Policy(String),
    /// Account-level settings (password policy) or server certificates.
    Account,
}

/// How an event's `requestParameters` name the entity it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Names {
    /// `userName`.
    User,
    /// `userName`, or the caller's own user when absent (credential calls on oneself).
    UserOrCaller,
    /// `userName`, renamed to `newUserName` (or moved to `newPath`).
    RenamedUser,
    /// `groupName`.
    Group,
    /// `groupName`, renamed to `newGroupName`.
    RenamedGroup,
    /// `roleName`.
    Role,
    /// `policyArn`.
    Policy,
    /// `policyName` and `path`: the new policy's ARN follows from the account.
    NewPolicy,
    /// Nothing: an account-wide setting.
    Account,
}

/// What else an event names, beside its entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Also {
    Nothing,
    /// The managed policy attached or detached (`policyArn`).
    AttachedPolicy,
    /// The inline policy put or deleted (`policyName`).
    InlinePolicy,
    /// The user added to or removed from the group (`userName`).
    Member,
}

/// One IAM write event the function handles.
#[derive(Debug, Clone, Copy)]
pub struct EventSpec {
    pub name: &'static str,
    pub kind: ChangeKind,
    pub names: Names,
    pub also: Also,
    /// It deletes its entity: the entity's findings resolve once a read confirms it is gone.
    pub deletes: bool,
}

const fn event(name: &'static str, kind: ChangeKind, names: Names, also: Also) -> EventSpec {
    EventSpec { name, kind, names, also, deletes: false }
}

const fn deleting(name: &'static str, kind: ChangeKind, names: Names) -> EventSpec {
    EventSpec { name, kind, names, also: Also::Nothing, deletes: true }
}

use Also::{AttachedPolicy, InlinePolicy, Member, Nothing};
use ChangeKind as K;

/// Every IAM write event the function evaluates. The SAM template's IAM event pattern lists
/// exactly these names (a test compares them).
pub const EVENTS: &[EventSpec] = &[
    event("CreateUser", K::UserCreated, Names::User, Nothing),
    event("UpdateUser", K::UserRenamed, Names::RenamedUser, Nothing),
    event("CreateAccessKey", K::AccessKey, Names::UserOrCaller, Nothing),
    event("UpdateAccessKey", K::AccessKey, Names::UserOrCaller, Nothing),
    event("DeleteAccessKey", K::AccessKey, Names::UserOrCaller, Nothing),
    event("CreateLoginProfile", K::ConsoleAccess, Names::UserOrCaller, Nothing),
    event("UpdateLoginProfile", K::ConsoleAccess, Names::UserOrCaller, Nothing),
    event("DeleteLoginProfile", K::ConsoleAccess, Names::UserOrCaller, Nothing),
    event("EnableMFADevice", K::ConsoleAccess, Names::UserOrCaller, Nothing),
    event("DeactivateMFADevice", K::ConsoleAccess, Names::UserOrCaller, Nothing),
    event("UploadSigningCertificate", K::SigningCertificate, Names::UserOrCaller, Nothing),
    event("UpdateSigningCertificate", K::SigningCertificate, Names::UserOrCaller, Nothing),
    event("DeleteSigningCertificate", K::SigningCertificate, Names::UserOrCaller, Nothing),
    deleting("DeleteUser", K::UserDeleted, Names::User),
    event("AttachUserPolicy", K::UserPolicyAttachment, Names::User, AttachedPolicy),
    event("DetachUserPolicy", K::UserPolicyAttachment, Names::User, AttachedPolicy),
    event("PutUserPolicy", K::UserInlinePolicy, Names::User, InlinePolicy),
    event("DeleteUserPolicy", K::UserInlinePolicy, Names::User, InlinePolicy),
    event("PutUserPermissionsBoundary", K::Boundary, Names::User, Nothing),
    event("DeleteUserPermissionsBoundary", K::Boundary, Names::User, Nothing),
    event("AddUserToGroup", K::GroupMembership, Names::Group, Member),
    event("RemoveUserFromGroup", K::GroupMembership, Names::Group, Member),
    event("CreateGroup", K::Group, Names::Group, Nothing),
    event("UpdateGroup", K::Group, Names::RenamedGroup, Nothing),
    deleting("DeleteGroup", K::Group, Names::Group),
    event("AttachGroupPolicy", K::GroupPolicyAttachment, Names::Group, AttachedPolicy),
    event("DetachGroupPolicy", K::GroupPolicyAttachment, Names::Group, AttachedPolicy),
    event("PutGroupPolicy", K::GroupInlinePolicy, Names::Group, InlinePolicy),
    event("DeleteGroupPolicy", K::GroupInlinePolicy, Names::Group, InlinePolicy),
    event("CreateRole", K::Role, Names::Role, Nothing),
    event("UpdateAssumeRolePolicy", K::Role, Names::Role, Nothing),
    deleting("DeleteRole", K::Role, Names::Role),
    event("AttachRolePolicy", K::RolePolicyAttachment, Names::Role, AttachedPolicy),
    event("DetachRolePolicy", K::RolePolicyAttachment, Names::Role, AttachedPolicy),
    event("PutRolePolicy", K::RoleInlinePolicy, Names::Role, InlinePolicy),
    event("DeleteRolePolicy", K::RoleInlinePolicy, Names::Role, InlinePolicy),
    event("TagUser", K::Tags, Names::User, Nothing),
    event("UntagUser", K::Tags, Names::User, Nothing),
    event("TagRole", K::Tags, Names::Role, Nothing),
    event("UntagRole", K::Tags, Names::Role, Nothing),
    event("PutRolePermissionsBoundary", K::Boundary, Names::Role, Nothing),
    event("DeleteRolePermissionsBoundary", K::Boundary, Names::Role, Nothing),
    event("CreatePolicy", K::PolicyCreated, Names::NewPolicy, Nothing),
    event("CreatePolicyVersion", K::PolicyVersion, Names::Policy, Nothing),
    event("SetDefaultPolicyVersion", K::PolicyVersion, Names::Policy, Nothing),
    event("DeletePolicyVersion", K::PolicyVersion, Names::Policy, Nothing),
    event("DeletePolicy", K::PolicyVersion, Names::Policy, Nothing),
    event("UpdateAccountPasswordPolicy", K::PasswordPolicy, Names::Account, Nothing),
    event("DeleteAccountPasswordPolicy", K::PasswordPolicy, Names::Account, Nothing),
    event("UploadServerCertificate", K::ServerCertificate, Names::Account, Nothing),
    event("UpdateServerCertificate", K::ServerCertificate, Names::Account, Nothing),
    event("DeleteServerCertificate", K::ServerCertificate, Names::Account, Nothing),
];

/// The handled event with this name.
pub fn spec(event_name: &str) -> Option<&'static EventSpec> {
    EVENTS.iter().find(|e| e.name == event_name)
}

/// The account an event changed, and its partition (for ARNs the event does not give).
#[derive(Debug, Clone, Copy)]
pub struct Home<'a> {
    pub account: &'a str,
    pub partition: &'a str,
}

/// What an IAM write event changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    pub event_name: String,
    pub entity: Entity,
    /// A second entity the event names: the policy of an attachment, the user of a membership
    /// change, the former name of a renamed user or group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Entity>,
    /// The inline policy the event put or deleted: a deleted one is no longer in the inventory,
    /// yet its finding may be resolved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_policy: Option<String>,
    /// The event deletes its entity.
    #[serde(skip)]
    pub deletes: bool,
}

impl Change {
    /// Parse an IAM write event's parameters (`caller`: the calling user's name, for credential
    /// calls on oneself). `Err`: why it changes nothing the rules check, or what it lacks.
    pub fn parse(event_name: &str, params: &Value, caller: Option<&str>, home: Option<Home<'_>>) -> Result<Change, String> {
        let Some(spec) = spec(event_name) else {
            return Err(format!("`{event_name}` does not change anything the rules check"));
        };
        let param = |key: &str| params.get(key).and_then(Value::as_str).map(str::to_owned);
        let required = |key: &str| param(key).ok_or_else(|| format!("`{event_name}` event has no requestParameters.{key}"));
        let mut related = match spec.also {
            Also::AttachedPolicy => param("policyArn").map(Entity::Policy),
            Also::Member => Some(Entity::User(required("userName")?)),
            Also::InlinePolicy | Also::Nothing => None,
        };
        let entity = match spec.names {
            Names::User => Entity::User(required("userName")?),
            Names::UserOrCaller => Entity::User(
                param("userName")
                    .or_else(|| caller.map(str::to_owned))
                    .ok_or_else(|| format!("`{event_name}` names no user (requestParameters.userName)"))?,
            ),
            Names::RenamedUser => {
                let old = required("userName")?;
                let name = param("newUserName").unwrap_or_else(|| old.clone());
                if name != old || param("newPath").is_some() {
                    related = Some(Entity::User(old));
                }
                Entity::User(name)
            }
            Names::Group => Entity::Group(required("groupName")?),
            Names::RenamedGroup => {
                let old = required("groupName")?;
                let name = param("newGroupName").unwrap_or_else(|| old.clone());
                if name != old {
                    related = Some(Entity::Group(old));
                }
                Entity::Group(name)
            }
            Names::Role => Entity::Role(required("roleName")?),
            Names::Policy => Entity::Policy(required("policyArn")?),
            Names::NewPolicy => {
                // CreatePolicy names the policy, not its ARN (that is in the response, which the
                // trail does not always keep): the ARN follows from the account, the path and the
                // name. Without the account, the policy is looked up by name account-wide.
                let name = required("policyName")?;
                let path = param("path").filter(|p| p.starts_with('/') && p.ends_with('/')).unwrap_or_else(|| "/".into());
                match home {
                    Some(h) => Entity::Policy(format!("arn:{}:iam::{}:policy{path}{name}", h.partition, h.account)),
                    None => Entity::Policy(name),
                }
            }
            Names::Account => Entity::Account,
        };
        let inline_policy = if spec.also == Also::InlinePolicy { param("policyName") } else { None };
        Ok(Change { kind: spec.kind, event_name: event_name.to_string(), entity, related, inline_policy, deletes: spec.deletes })
    }

    /// The rules this change can move: those whose metadata names its kind, less, for an attach
    /// or detach, those that watch another policy than its own (`Meta::moved_by_policy`).
    pub fn rules(&self) -> Vec<&'static dyn Rule> {
        let policy = self.attached_policy();
        catalog::moved_by(self.kind).filter(|r| policy.is_none_or(|arn| r.meta().moved_by_attachment_of(arn))).collect()
    }

    /// The ids of [`Change::rules`].
    pub fn rule_ids(&self) -> Vec<&'static str> {
        self.rules().into_iter().map(|r| r.meta().id).collect()
    }

    /// What to read when neither the administrator roster nor a narrower read applies.
    pub fn need(&self) -> Need {
        match credential_parts(self.kind) {
            Some(parts) if !self.renames() => Need::UserCredentials(parts),
            _ => match self.kind {
                K::PasswordPolicy => Need::PasswordPolicy,
                K::ServerCertificate => Need::ServerCertificates,
                _ => Need::Authorization,
            },
        }
    }

    /// A user renamed or moved, or a group renamed: the event names its former name.
    pub fn renames(&self) -> bool {
        matches!(self.kind, K::UserRenamed | K::Group) && matches!(self.related, Some(Entity::User(_) | Entity::Group(_)))
    }

    /// The managed policy an attachment event names, by ARN.
    pub fn attached_policy(&self) -> Option<&str> {
        match (&self.related, spec(&self.event_name).map(|s| s.also)) {
            (Some(Entity::Policy(arn)), Some(Also::AttachedPolicy)) if arn.starts_with("arn:") => Some(arn),
            _ => None,
        }
    }
}

/// What a targeted evaluation collects when it reads neither through the administrator roster
/// nor a narrower read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Need {
    /// The one user's credentials, read live: only the parts the event can have changed.
    UserCredentials(#[serde(skip)] CredentialParts),
    /// Users, groups, roles and customer managed policies of the whole account.
    Authorization,
    PasswordPolicy,
    ServerCertificates,
}

/// The parts of a user's credentials an event of this kind can change (`None`: it changes no
/// credential). The rules it moves read nothing else of the user's credential row.
pub fn credential_parts(kind: ChangeKind) -> Option<CredentialParts> {
    let user_only = CredentialParts::USER_ONLY;
    Some(match kind {
        K::UserCreated => CredentialParts { key_last_used: false, signing_certificates: false, ..CredentialParts::ALL },
        K::UserRenamed => user_only,
        K::AccessKey => CredentialParts { access_keys: true, key_last_used: true, ..user_only },
        K::ConsoleAccess => CredentialParts { login_profile: true, mfa_devices: true, ..user_only },
        K::SigningCertificate => CredentialParts { signing_certificates: true, ..user_only },
        _ => return None,
    })
}

/// What an event of a kind reads from IAM as deployed (with the finding-state table, which keeps
/// the administrator roster): the operations it may call, and in words.
#[derive(Debug, Clone, Copy)]
pub struct Reads {
    pub operations: &'static [&'static str],
    pub text: &'static str,
}

/// A managed policy's document.
const POLICY: [&str; 2] = ["iam:GetPolicy", "iam:GetPolicyVersion"];

/// What an event of this kind reads (besides settings and the finding state). Events that can
/// change who is an administrator read the whole account instead when the function keeps no
/// administrator roster yet, or when what they read cannot be applied to it.
pub fn reads(kind: ChangeKind) -> Reads {
    macro_rules! ops {
        ($($op:expr),* $(,)?) => { &[$($op),*] };
    }
    let (operations, text): (&'static [&'static str], &'static str) = match kind {
        K::UserCreated => (
            ops!["iam:GetUser", "iam:GetLoginProfile", "iam:ListAccessKeys", "iam:ListMFADevices"],
            "The user's credentials: GetUser, GetLoginProfile, ListAccessKeys, ListMFADevices.",
        ),
        K::UserRenamed => (ops!["iam:GetUser"], "The user under its new name (GetUser); the roster moves its entry."),
        K::AccessKey => (
            ops!["iam:GetUser", "iam:ListAccessKeys", "iam:GetAccessKeyLastUsed", "iam:GetLoginProfile"],
            "The user's keys: GetUser, ListAccessKeys, GetAccessKeyLastUsed per key; and, for `access-keys-at-setup`, whether \
the user has a console password (GetLoginProfile) when it has one key made at setup and never used (with two keys the \
password is not read and that rule is left to the sweep).",
        ),
        K::ConsoleAccess => (
            ops!["iam:GetUser", "iam:GetLoginProfile", "iam:ListMFADevices"],
            "The user's password and MFA: GetUser, GetLoginProfile, ListMFADevices.",
        ),
        K::SigningCertificate => {
            (ops!["iam:GetUser", "iam:ListSigningCertificates"], "The user's signing certificates: GetUser, ListSigningCertificates.")
        }
        K::UserDeleted => (
            ops!["iam:GetUser", "iam:GetAccountSummary"],
            "GetUser (confirms it is gone) and GetAccountSummary (users left); the roster forgets the user.",
        ),
        K::UserPolicyAttachment => (
            ops![POLICY[0], POLICY[1], "iam:GetUser", "iam:ListAttachedUserPolicies", "iam:ListEntitiesForPolicy"],
            "The policy's document (GetPolicy, GetPolicyVersion; not for AdministratorAccess or AWSDenyAll), the user \
(GetUser, ListAttachedUserPolicies), and for an unapproved policy whom it is attached to (ListEntitiesForPolicy).",
        ),
        K::GroupPolicyAttachment => (
            ops![POLICY[0], POLICY[1], "iam:GetGroup", "iam:ListAttachedGroupPolicies", "iam:ListEntitiesForPolicy"],
            "The policy's document; when it grants or denies everything, is unapproved or is AWSCloudShellFullAccess, the \
group with its members (GetGroup, ListAttachedGroupPolicies), and for an unapproved policy whom it is attached to.",
        ),
        K::RolePolicyAttachment => (
            ops![POLICY[0], POLICY[1], "iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListEntitiesForPolicy"],
            "The policy's document; when it grants or denies everything, is unapproved or is AWSCloudShellFullAccess, the \
role (GetRole, ListAttachedRolePolicies); for an unapproved policy whom it is attached to; for AWSSupportAccess the \
roles it is attached to (ListEntitiesForPolicy, roles only).",
        ),
        K::UserInlinePolicy => (
            ops!["iam:GetUserPolicy", "iam:GetUser", "iam:ListUserPolicies", POLICY[0], POLICY[1]],
            "The inline policy (GetUserPolicy) and its user (GetUser, ListUserPolicies).",
        ),
        K::GroupInlinePolicy => {
            (ops!["iam:GetGroupPolicy", "iam:GetGroup"], "The inline policy (GetGroupPolicy) and its group with its members (GetGroup).")
        }
        K::RoleInlinePolicy => (
            ops!["iam:GetRolePolicy", "iam:GetRole", "iam:ListRolePolicies", POLICY[0], POLICY[1]],
            "The inline policy (GetRolePolicy) and its role (GetRole, ListRolePolicies).",
        ),
        K::Boundary => {
            (ops!["iam:GetUser", "iam:GetRole", POLICY[0], POLICY[1]], "The user (GetUser) or role (GetRole) with its boundary.")
        }
        K::GroupMembership | K::Group => (
            ops!["iam:GetGroup", "iam:ListAttachedGroupPolicies", "iam:ListGroupPolicies"],
            "The group with its members (GetGroup, ListAttachedGroupPolicies; ListGroupPolicies when it has no members).",
        ),
        K::Role => (
            ops!["iam:GetRole", "iam:ListAttachedRolePolicies", "iam:ListRolePolicies", POLICY[0], POLICY[1]],
            "The role (GetRole, ListAttachedRolePolicies, ListRolePolicies).",
        ),
        K::Tags => (ops!["iam:GetUser", "iam:GetRole"], "The user (GetUser) or role (GetRole) with its tags."),
        K::PolicyCreated => (ops![POLICY[0], POLICY[1]], "The policy's document (GetPolicy, GetPolicyVersion)."),
        K::PolicyVersion => (
            ops![POLICY[0], POLICY[1], "iam:ListEntitiesForPolicy", "iam:GetUser", "iam:GetRole", "iam:GetGroup"],
            "The policy's document; when whether it grants or denies everything changed, whom it is attached to \
(ListEntitiesForPolicy) and those the roster does not know (GetUser, GetRole, GetGroup; at most 10).",
        ),
        K::PasswordPolicy => (ops!["iam:GetAccountPasswordPolicy"], "The password policy (GetAccountPasswordPolicy)."),
        K::ServerCertificate => (ops!["iam:ListServerCertificates"], "The server certificates (ListServerCertificates)."),
        K::RootActivity => (ops![], "Nothing: the event is the finding."),
    };
    Reads { operations, text }
}
