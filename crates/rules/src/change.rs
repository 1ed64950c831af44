//! What an IAM change event can change, as the rules see it.
//!
//! A CloudTrail event that changed IAM is, to the rules, one [`ChangeKind`]: a user created, a
//! policy attached to a role, a group's members changed... Each rule declares in its metadata
//! the kinds that can move its verdict ([`Meta::moved_by`](crate::Meta::moved_by)); the event
//! path evaluates, for an event, exactly the rules its kind moves ([`crate::catalog::moved_by`]),
//! less those the run proved unmoved by what it read ([`Unmoved`], see
//! [`Meta::unmoved_by`](crate::Meta::unmoved_by)). The router that turns an
//! event into a kind, and what each kind reads, live with the live path; this is the part the
//! rules own.

use serde::Serialize;

/// A kind of change to an account's IAM (or root activity) that an event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A user was created.
    UserCreated,
    /// A user was renamed or moved to another path.
    UserRenamed,
    /// One of a user's access keys was created, activated, deactivated or deleted.
    AccessKey,
    /// A user's console password (login profile) or an MFA device was added, changed or removed.
    ConsoleAccess,
    /// One of a user's signing certificates was uploaded, changed or deleted.
    SigningCertificate,
    /// A user was deleted (IAM deletes a user only once it is out of every group and holds no
    /// policy: those changes came as events of their own).
    UserDeleted,
    /// A managed policy was attached to or detached from a user.
    UserPolicyAttachment,
    /// A managed policy was attached to or detached from a group.
    GroupPolicyAttachment,
    /// A managed policy was attached to or detached from a role.
    RolePolicyAttachment,
    /// A user's inline policy was put or deleted.
    UserInlinePolicy,
    /// A group's inline policy was put or deleted.
    GroupInlinePolicy,
    /// A role's inline policy was put or deleted.
    RoleInlinePolicy,
    /// A user's or role's permissions boundary was put or deleted.
    Boundary,
    /// A user was added to or removed from a group.
    GroupMembership,
    /// A group was created, renamed or deleted.
    Group,
    /// A role was created or deleted, or its trust policy changed (IAM deletes a role only once
    /// it holds no policy).
    Role,
    /// Tags were added to or removed from a user or role.
    Tags,
    /// A customer managed policy was created (attached to nothing yet).
    PolicyCreated,
    /// A managed policy's default version changed (a new default version, another version set
    /// as default, a version deleted), or the policy was deleted (IAM deletes a policy only
    /// once it is attached to nothing).
    PolicyVersion,
    /// The account password policy was updated or deleted.
    PasswordPolicy,
    /// A server certificate was uploaded, renamed or deleted.
    ServerCertificate,
    /// The root user did something (any CloudTrail event it made, IAM or not).
    RootActivity,
}

impl ChangeKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [ChangeKind; 22] = [
        ChangeKind::UserCreated,
        ChangeKind::UserRenamed,
        ChangeKind::AccessKey,
        ChangeKind::ConsoleAccess,
        ChangeKind::SigningCertificate,
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
        ChangeKind::Tags,
        ChangeKind::PolicyCreated,
        ChangeKind::PolicyVersion,
        ChangeKind::PasswordPolicy,
        ChangeKind::ServerCertificate,
        ChangeKind::RootActivity,
    ];
}

/// Something a targeted run proved did not change, so that the rules reading only it need not
/// be evaluated although the event's kind can move them in general: an attached policy that
/// neither grants nor denies every action cannot change who is an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unmoved {
    /// Who is an administrator: the rules that count administrators
    /// (`WholeAccount::OrAdmins`).
    Administrators,
    /// Which entities hold an unapproved policy: the rules that read every attachment of a
    /// policy (`WholeAccount::OrPolicyEntities`).
    UnapprovedPolicyUse,
    /// Whether the account has users: the rules that need every user, group and role
    /// (`WholeAccount::Required`).
    Users,
}

impl Unmoved {
    pub const ALL: [Unmoved; 3] = [Unmoved::Administrators, Unmoved::UnapprovedPolicyUse, Unmoved::Users];
}
