//! The AWS actions the code calls. The SAM template's execution role must grant exactly
//! these (checked by the template tests), and the integration tests fail when a run counts a
//! call that is not listed here.

/// IAM actions (all read-only) the collectors call.
pub const IAM_ACTIONS: &[&str] = &[
    "iam:GetAccountAuthorizationDetails",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:GetAccountSummary",
    "iam:GetAccountPasswordPolicy",
    "iam:ListServerCertificates",
    "iam:ListVirtualMFADevices",
    "iam:GenerateServiceLastAccessedDetails",
    "iam:GetServiceLastAccessedDetails",
    "iam:GetUser",
    "iam:GetLoginProfile",
    "iam:ListAccessKeys",
    "iam:GetAccessKeyLastUsed",
    "iam:ListMFADevices",
    "iam:ListSigningCertificates",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListAttachedUserPolicies",
    "iam:GetRole",
    "iam:ListAttachedRolePolicies",
    "iam:GetGroup",
    "iam:ListAttachedGroupPolicies",
    "iam:ListGroupPolicies",
    "iam:ListRolePolicies",
    "iam:ListUserPolicies",
    "iam:GetUserPolicy",
    "iam:GetGroupPolicy",
    "iam:GetRolePolicy",
    "iam:ListEntitiesForPolicy",
];

/// SSM actions, on the settings prefix only: every setting is read with one paginated
/// GetParametersByPath.
pub const SSM_ACTIONS: &[&str] = &["ssm:GetParametersByPath"];

/// SNS actions, on the findings topic only.
pub const SNS_ACTIONS: &[&str] = &["sns:Publish"];

/// DynamoDB actions, on the finding-state table only: load it (`Scan` for a sweep,
/// `BatchGetItem` of the fingerprints an event can touch), read the administrator roster
/// (`GetItem`), conditional writes (`PutItem`), and releasing a claim whose item did not exist
/// before, or dropping a roster that may be stale (`DeleteItem`).
pub const DYNAMODB_ACTIONS: &[&str] =
    &["dynamodb:Scan", "dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"];

/// Security Hub actions, with the export on only (`SECURITY_HUB_EXPORT`; the template grants them
/// when its `SecurityHubExport` parameter is `true`), on the account's default product only.
pub const SECURITY_HUB_ACTIONS: &[&str] = &["securityhub:BatchImportFindings"];

/// Calls every principal may make, whatever its policies: STS `GetCallerIdentity` (the CLI
/// asks which account its credentials reach; the function knows it from its own ARN).
pub const UNGATED_CALLS: &[&str] = &["sts:GetCallerIdentity"];

/// Every action, for `iam-assurance permissions` (Security Hub's only matter with the export on).
pub fn all() -> Vec<&'static str> {
    IAM_ACTIONS.iter().chain(SSM_ACTIONS).chain(SNS_ACTIONS).chain(DYNAMODB_ACTIONS).chain(SECURITY_HUB_ACTIONS).copied().collect()
}

/// The IAM action that allows a counted call. Most calls are their own action; SNS's
/// `PublishBatch` is allowed by `sns:Publish`.
pub fn action_for_call(call: &str) -> &str {
    match call {
        "sns:PublishBatch" => "sns:Publish",
        other => other,
    }
}

/// Whether a counted call (`iam:GetUser`, `sns:PublishBatch`) is covered by the list.
pub fn is_granted(call: &str) -> bool {
    UNGATED_CALLS.contains(&call) || all().contains(&action_for_call(call))
}
