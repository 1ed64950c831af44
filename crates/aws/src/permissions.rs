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

/// Actions outside IAM on the account's own settings: IAM Access Analyzer's analyzers (no
/// resource ARN: `*`), and the account's security contact and enabled regions (this account).
pub const ACCOUNT_ACTIONS: &[&str] = &["access-analyzer:ListAnalyzers", "account:GetAlternateContact", "account:ListRegions"];

/// SSM actions, on the settings prefix only: every setting is read with one paginated
/// GetParametersByPath.
pub const SSM_ACTIONS: &[&str] = &["ssm:GetParametersByPath"];

/// SNS actions, on the findings topic only.
pub const SNS_ACTIONS: &[&str] = &["sns:Publish"];

/// DynamoDB actions, on the finding-state table only: load it (`Scan` for a sweep, `Query` of
/// one account's partition in organization mode,
/// `BatchGetItem` of the fingerprints an event can touch), read the administrator roster
/// (`GetItem`), conditional writes (`PutItem`), and releasing a claim whose item did not exist
/// before, or dropping a roster that may be stale (`DeleteItem`). In organization mode a
/// finding's head and body are written with `TransactWriteItems`, which IAM authorizes as the
/// `PutItem` and `DeleteItem` it contains (it is no action of its own).
pub const DYNAMODB_ACTIONS: &[&str] =
    &["dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"];

/// Organization mode only, for the hub's function: list the accounts to sweep (from the
/// management account or a delegated administrator), send one message per account to the
/// accounts queue, assume the member role in each, count each round's reports (`UpdateItem`).
/// (A member account's role grants only [`IAM_ACTIONS`] and [`ACCOUNT_ACTIONS`].)
pub const ORGANIZATION_ACTIONS: &[&str] = &[
    "organizations:ListAccounts",
    "organizations:ListChildren",
    "organizations:ListParents",
    "sqs:SendMessage",
    "sts:AssumeRole",
    "dynamodb:UpdateItem",
];

/// Security Hub actions, with the export on only (`SECURITY_HUB_EXPORT`; the template grants them
/// when its `SecurityHubExport` parameter is `true`), on the account's default product only.
pub const SECURITY_HUB_ACTIONS: &[&str] = &["securityhub:BatchImportFindings"];

/// Calls every principal may make, whatever its policies: STS `GetCallerIdentity` (the CLI
/// asks which account its credentials reach; the function knows it from its own ARN).
pub const UNGATED_CALLS: &[&str] = &["sts:GetCallerIdentity"];

/// Every action, for `iam-assurance permissions` (Security Hub's only matter with the export on).
pub fn all() -> Vec<&'static str> {
    IAM_ACTIONS
        .iter()
        .chain(ACCOUNT_ACTIONS)
        .chain(SSM_ACTIONS)
        .chain(SNS_ACTIONS)
        .chain(DYNAMODB_ACTIONS)
        .chain(SECURITY_HUB_ACTIONS)
        .copied()
        .collect()
}

/// The IAM action that allows a counted call. Most calls are their own action; SNS's
/// `PublishBatch` is allowed by `sns:Publish`, SQS's `SendMessageBatch` by `sqs:SendMessage`,
/// and Access Analyzer's actions have the prefix `access-analyzer` where its SDK names the
/// service `accessanalyzer`.
pub fn action_for_call(call: &str) -> &str {
    match call {
        "sns:PublishBatch" => "sns:Publish",
        "sqs:SendMessageBatch" => "sqs:SendMessage",
        "accessanalyzer:ListAnalyzers" => "access-analyzer:ListAnalyzers",
        other => other,
    }
}

/// Whether a counted call (`iam:GetUser`, `sns:PublishBatch`) is covered by the lists (the
/// organization's included).
pub fn is_granted(call: &str) -> bool {
    let action = action_for_call(call);
    UNGATED_CALLS.contains(&call) || all().contains(&action) || ORGANIZATION_ACTIONS.contains(&action)
}
