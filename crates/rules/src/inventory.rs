//! The inventory model: everything the rules look at, as plain data.
//!
//! An [`Inventory`] is built either from files the AWS CLI wrote (see [`crate::sources`]) or by
//! the live collectors in the `iam-assurance-aws` crate. Each data source is optional: a source
//! that could not be collected is `None` and its reason is recorded in [`Inventory::gaps`], so
//! the rules that need it report `not_evaluated` with that reason instead of passing silently.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::policy::PolicyDocument;
use crate::types::ResourceType;

/// The data sources rules depend on (each rule lists the ones it reads in `Meta::data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    /// IAM credential report (CR).
    CredentialReport,
    /// GetAccountAuthorizationDetails (AAD): users, groups, roles, managed policies.
    AuthorizationDetails,
    /// GetAccountSummary (SUM).
    AccountSummary,
    /// GetAccountPasswordPolicy (PP).
    PasswordPolicy,
    /// ListServerCertificates (SC).
    ServerCertificates,
    /// Service-last-accessed jobs (SLA).
    ServiceLastAccessed,
    /// ListVirtualMFADevices, to tell virtual from hardware MFA.
    VirtualMfaDevices,
    /// Root activity seen in CloudTrail events (CT).
    CloudTrail,
    /// IAM Access Analyzer's analyzers in each region (ListAnalyzers per region; the regions
    /// from account:ListRegions unless configured).
    AccessAnalyzers,
    /// The account's security alternate contact (account:GetAlternateContact).
    SecurityContact,
}

impl DataSource {
    pub fn label(self) -> &'static str {
        match self {
            DataSource::CredentialReport => "credential report",
            DataSource::AuthorizationDetails => "account authorization details",
            DataSource::AccountSummary => "account summary",
            DataSource::PasswordPolicy => "account password policy",
            DataSource::ServerCertificates => "server certificates",
            DataSource::ServiceLastAccessed => "service last accessed data",
            DataSource::VirtualMfaDevices => "virtual MFA devices",
            DataSource::CloudTrail => "CloudTrail root activity",
            DataSource::AccessAnalyzers => "IAM Access Analyzer analyzers",
            DataSource::SecurityContact => "security alternate contact",
        }
    }
}

/// Everything known about one account at evaluation time.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// The 12-digit account id.
    pub account_id: String,
    /// The AWS partition (`aws`, `aws-cn`, `aws-us-gov`); defaults to `aws`.
    pub partition: String,
    /// Users, groups, roles and managed policies (AAD).
    pub authorization: Option<AuthorizationDetails>,
    /// The credential report (CR).
    pub credential_report: Option<CredentialReport>,
    /// GetAccountSummary (SUM).
    pub account_summary: Option<AccountSummary>,
    /// GetAccountPasswordPolicy (PP): `Some(None)` means the account has no password policy.
    pub password_policy: Option<Option<PasswordPolicy>>,
    /// ListServerCertificates (SC).
    pub server_certificates: Option<Vec<ServerCertificate>>,
    /// Service-last-accessed results keyed by principal ARN (SLA).
    pub service_last_accessed: Option<BTreeMap<String, Vec<ServiceAccess>>>,
    /// Virtual MFA devices with the ARN of the user each is assigned to.
    pub virtual_mfa_devices: Option<Vec<VirtualMfaDevice>>,
    /// Root activity from CloudTrail events (CT): only present on the event path.
    pub root_activity: Option<Vec<RootActivity>>,
    /// IAM Access Analyzer's analyzers, region by region.
    pub access_analyzers: Option<AccessAnalyzers>,
    /// The security alternate contact: `Some(None)` means the account has none.
    pub security_contact: Option<Option<AlternateContact>>,
    /// Every principal with administrator access, when a targeted run knows them without the
    /// whole account (the event path derives them from the administrator roster, see
    /// [`crate::roster`]). `None`: derived from `authorization`, which must then be complete.
    pub admins: Option<Vec<Admin>>,
    /// Every entity each of these managed policies is attached to, when a targeted run read
    /// them for those policies alone (ListEntitiesForPolicy). `None`: found in
    /// `authorization`, which must then be complete.
    pub policy_entities: Option<Vec<PolicyEntities>>,
    /// How many users each of these groups has, when a targeted run read the groups themselves
    /// (GetGroup) and holds them, and only them, in `authorization`. `None`: membership comes
    /// from the users in `authorization`, which must then be complete.
    pub group_members: Option<BTreeMap<String, usize>>,
    /// In organization mode, every account of the organization (as the last round's fan-out
    /// listed them): roles may trust them. `None`: not in an organization, or not known.
    pub organization_accounts: Option<std::collections::BTreeSet<String>>,
    /// Why a data source is missing, for the `not_evaluated` reason.
    pub gaps: BTreeMap<DataSource, String>,
    /// The gaps that are a choice, not a failure: sources an offline audit was not given.
    pub not_provided: std::collections::BTreeSet<DataSource>,
    /// Problems met while building the inventory that did not stop it (e.g. a policy document
    /// that could not be parsed). They are copied into the report.
    pub warnings: Vec<String>,
}

impl Inventory {
    /// An empty inventory for an account.
    pub fn new(account_id: impl Into<String>) -> Self {
        Inventory { account_id: account_id.into(), partition: "aws".into(), ..Default::default() }
    }

    /// The account root ARN, the resource of account-level findings.
    pub fn root_arn(&self) -> String {
        format!("arn:{}:iam::{}:root", self.partition_or_default(), self.account_id)
    }

    pub fn partition_or_default(&self) -> &str {
        if self.partition.is_empty() {
            "aws"
        } else {
            &self.partition
        }
    }

    /// Whether a data source is present.
    pub fn has(&self, source: DataSource) -> bool {
        match source {
            DataSource::CredentialReport => self.credential_report.is_some(),
            DataSource::AuthorizationDetails => self.authorization.is_some(),
            DataSource::AccountSummary => self.account_summary.is_some(),
            DataSource::PasswordPolicy => self.password_policy.is_some(),
            DataSource::ServerCertificates => self.server_certificates.is_some(),
            DataSource::ServiceLastAccessed => self.service_last_accessed.is_some(),
            DataSource::VirtualMfaDevices => self.virtual_mfa_devices.is_some(),
            DataSource::CloudTrail => self.root_activity.is_some(),
            DataSource::AccessAnalyzers => self.access_analyzers.is_some(),
            DataSource::SecurityContact => self.security_contact.is_some(),
        }
    }

    /// Why a data source is missing (a recorded gap, or "not collected").
    pub fn missing_reason(&self, source: DataSource) -> String {
        match self.gaps.get(&source) {
            Some(reason) => format!("{} unavailable: {}", source.label(), reason),
            None => format!("{} not collected", source.label()),
        }
    }

    /// Record that a data source could not be collected.
    pub fn record_gap(&mut self, source: DataSource, reason: impl Into<String>) {
        self.gaps.insert(source, reason.into());
    }

    /// A source the caller chose not to give (an offline audit without that file): a gap,
    /// but not a failure to collect.
    pub fn record_not_provided(&mut self, source: DataSource, reason: impl Into<String>) {
        self.record_gap(source, reason);
        self.not_provided.insert(source);
    }

    /// The sources that could not be collected (not those left out by choice).
    pub fn failed_sources(&self) -> impl Iterator<Item = DataSource> + '_ {
        self.gaps.keys().copied().filter(|s| !self.not_provided.contains(s))
    }
}

/// GetAccountAuthorizationDetails, resolved into a model the rules can walk.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationDetails {
    pub users: Vec<User>,
    pub groups: Vec<Group>,
    pub roles: Vec<Role>,
    /// Managed policies with their default-version documents (customer managed, and AWS
    /// managed ones that are attached).
    pub policies: Vec<ManagedPolicy>,
    /// True when the lists hold every user, group and role of the account. A targeted
    /// collection (one entity) sets it false; account-wide rules then report `not_evaluated`.
    pub complete: bool,
}

impl AuthorizationDetails {
    pub fn policy(&self, arn: &str) -> Option<&ManagedPolicy> {
        self.policies.iter().find(|p| p.arn == arn)
    }

    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Users that are members of the named group.
    pub fn group_members<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a User> + 'a {
        self.users.iter().filter(move |u| u.groups.iter().any(|g| g == group))
    }
}

/// The users, groups and roles one managed policy is attached to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyEntities {
    pub arn: String,
    pub name: String,
    pub users: Vec<String>,
    pub groups: Vec<String>,
    /// Role names, each with whether it is service-linked.
    pub roles: Vec<(String, bool)>,
}

/// A managed policy attached to a user, group or role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttachedPolicy {
    pub name: String,
    pub arn: String,
}

/// An inline policy embedded in a user, group or role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InlinePolicy {
    pub name: String,
    /// The parsed document, or the reason it could not be parsed.
    pub document: Result<PolicyDocument, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub arn: String,
    pub id: String,
    pub path: String,
    pub create_date: Option<DateTime<Utc>>,
    /// Group names.
    pub groups: Vec<String>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub inline_policies: Vec<InlinePolicy>,
    pub permissions_boundary: Option<String>,
    /// Its tags, when they were read (the authorization details carry them).
    pub tags: Option<Tags>,
}

/// An entity's tags: key to value.
pub type Tags = BTreeMap<String, String>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub id: String,
    pub path: String,
    pub create_date: Option<DateTime<Utc>>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub inline_policies: Vec<InlinePolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub arn: String,
    pub id: String,
    pub path: String,
    pub create_date: Option<DateTime<Utc>>,
    pub attached_policies: Vec<AttachedPolicy>,
    pub inline_policies: Vec<InlinePolicy>,
    pub permissions_boundary: Option<String>,
    /// `RoleLastUsed.LastUsedDate`; `None` when IAM has no record (never used in its window).
    pub last_used: Option<DateTime<Utc>>,
    /// The trust policy, when known.
    pub trust_policy: Option<Result<PolicyDocument, String>>,
    /// Its tags, when they were read (the authorization details carry them).
    pub tags: Option<Tags>,
}

impl Role {
    /// Service-linked roles live under `/aws-service-role/`: only AWS services assume them
    /// and only the service can change them.
    pub fn is_service_linked(&self) -> bool {
        self.path.starts_with("/aws-service-role/")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPolicy {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub attachment_count: Option<i64>,
    /// The default version's document, or why it could not be parsed. `None` when the
    /// document was not collected.
    pub document: Option<Result<PolicyDocument, String>>,
}

impl ManagedPolicy {
    /// AWS managed policies have `aws` in the account field of their ARN.
    pub fn is_aws_managed(&self) -> bool {
        is_aws_managed_arn(&self.arn)
    }
}

/// `arn:aws:iam::aws:policy/...` (any partition).
pub fn is_aws_managed_arn(arn: &str) -> bool {
    arn.split(':').nth(4) == Some("aws")
}

/// The last path segment of an ARN's resource (`arn:aws:iam::1:policy/a/b/Name` → `Name`).
pub fn name_from_arn(arn: &str) -> &str {
    let resource = arn.splitn(6, ':').nth(5).unwrap_or(arn);
    resource.rsplit('/').next().unwrap_or(resource)
}

/// The account id field of an ARN, when it is 12 digits.
pub fn account_from_arn(arn: &str) -> Option<&str> {
    let account = arn.split(':').nth(4)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// A date in the credential report: a timestamp, never (`N/A`, `no_information`), or not
/// reported by AWS (`not_supported`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "at")]
pub enum ReportDate {
    At(DateTime<Utc>),
    Never,
    NotSupported,
}

impl ReportDate {
    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            ReportDate::At(t) => Some(t),
            _ => None,
        }
    }
}

/// A true/false column that AWS may also report as `not_supported` (root's `password_enabled`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportFlag {
    True,
    False,
    NotSupported,
    /// Not read: a live row of the event path that did not read this part (a user's console
    /// password is read only by the events that need it). Never in a credential report.
    NotRead,
}

impl ReportFlag {
    pub fn is_true(self) -> bool {
        self == ReportFlag::True
    }
}

/// One access key slot of a credential-report row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeySlot {
    /// 1 or 2, as in the report's column names.
    pub slot: u8,
    pub active: bool,
    /// `last_rotated` is the key's creation time; `Never` when the slot holds no key.
    pub last_rotated: ReportDate,
    pub last_used: ReportDate,
}

impl KeySlot {
    /// A key exists in this slot (active or inactive).
    pub fn exists(&self) -> bool {
        self.active || matches!(self.last_rotated, ReportDate::At(_))
    }
}

/// One signing-certificate slot of a credential-report row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CertSlot {
    pub slot: u8,
    pub active: bool,
    pub last_rotated: ReportDate,
}

/// An access key or signing certificate slot: what the rotation and presence rules read of
/// either.
pub trait CredentialSlot {
    fn slot(&self) -> u8;
    fn active(&self) -> bool;
    /// When the key was created or the certificate uploaded.
    fn since(&self) -> Option<DateTime<Utc>>;
}

impl CredentialSlot for KeySlot {
    fn slot(&self) -> u8 {
        self.slot
    }
    fn active(&self) -> bool {
        self.active
    }
    fn since(&self) -> Option<DateTime<Utc>> {
        self.last_rotated.at()
    }
}

impl CredentialSlot for CertSlot {
    fn slot(&self) -> u8 {
        self.slot
    }
    fn active(&self) -> bool {
        self.active
    }
    fn since(&self) -> Option<DateTime<Utc>> {
        self.last_rotated.at()
    }
}

/// One row of the credential report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialRow {
    /// `<root_account>` for the root row.
    pub user: String,
    pub arn: String,
    pub user_creation_time: Option<DateTime<Utc>>,
    pub password_enabled: ReportFlag,
    pub password_last_used: ReportDate,
    pub password_last_changed: ReportDate,
    pub mfa_active: bool,
    pub access_keys: [KeySlot; 2],
    pub certs: [CertSlot; 2],
}

pub const ROOT_ROW_USER: &str = "<root_account>";

impl CredentialRow {
    pub fn is_root(&self) -> bool {
        self.user == ROOT_ROW_USER
    }
}

/// Where the credential data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialSource {
    /// The account-wide credential report (up to 4 hours old).
    Report,
    /// Read directly from IAM for one user (event path): current.
    Live,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialReport {
    /// When AWS generated the report (`GeneratedTime`), when known.
    pub generated_at: Option<DateTime<Utc>>,
    pub source: CredentialSource,
    /// The `<root_account>` row, when present (AWS always includes it; emulators may not).
    pub root: Option<CredentialRow>,
    /// Rows of IAM users.
    pub users: Vec<CredentialRow>,
    /// Rows that repeated an earlier row exactly and were left out, each described (line and
    /// user): [`crate::reconcile`] turns them into warnings.
    pub duplicates: Vec<String>,
}

/// GetAccountSummary's `SummaryMap`, the fields the rules use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountSummary {
    pub account_mfa_enabled: Option<bool>,
    pub account_access_keys_present: Option<bool>,
    pub account_signing_certificates_present: Option<bool>,
    pub users: Option<i64>,
    /// Every entry, for reference.
    pub raw: BTreeMap<String, i64>,
}

/// GetAccountPasswordPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PasswordPolicy {
    pub minimum_password_length: Option<u32>,
    pub require_symbols: bool,
    pub require_numbers: bool,
    pub require_uppercase_characters: bool,
    pub require_lowercase_characters: bool,
    pub allow_users_to_change_password: bool,
    pub expire_passwords: bool,
    pub max_password_age: Option<u32>,
    pub password_reuse_prevention: Option<u32>,
    pub hard_expiry: bool,
}

/// ListServerCertificates metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerCertificate {
    pub name: String,
    pub arn: String,
    pub path: String,
    pub upload_date: Option<DateTime<Utc>>,
    pub expiration: Option<DateTime<Utc>>,
}

/// One service a principal is allowed to use, from a service-last-accessed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccess {
    pub service_namespace: String,
    pub service_name: String,
    /// `None`: not used in the tracking period.
    pub last_authenticated: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMfaDevice {
    pub serial_number: String,
    /// ARN of the user it is assigned to (root: `arn:aws:iam::ACCOUNT:root`), if assigned.
    pub user_arn: Option<String>,
}

/// Root activity from one CloudTrail event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootActivity {
    pub event_id: String,
    pub event_name: String,
    pub event_source: String,
    pub event_time: Option<DateTime<Utc>>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub aws_region: Option<String>,
    /// The attempt failed (a sign-in that was refused, a call AWS denied): the reason, e.g.
    /// `ConsoleLogin: Failure (Failed authentication)` or `errorCode AccessDenied`. An attempt
    /// on the root user is worth an alert, but it is not a use of root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// One path by which a principal gets administrator access.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AdminSource {
    /// A managed policy attached to the principal itself.
    Attached { policy_arn: String },
    /// An inline policy of the principal itself.
    Inline { policy_name: String },
    /// A managed policy attached to a group the user belongs to.
    GroupAttached { group: String, policy_arn: String },
    /// An inline policy of a group the user belongs to.
    GroupInline { group: String, policy_name: String },
}

impl std::fmt::Display for AdminSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminSource::Attached { policy_arn } => write!(f, "attached policy {policy_arn}"),
            AdminSource::Inline { policy_name } => write!(f, "inline policy {policy_name}"),
            AdminSource::GroupAttached { group, policy_arn } => write!(f, "group {group} (attached policy {policy_arn})"),
            AdminSource::GroupInline { group, policy_name } => write!(f, "group {group} (inline policy {policy_name})"),
        }
    }
}

/// A principal with administrator access and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Admin {
    pub resource_type: ResourceType,
    pub arn: String,
    pub name: String,
    /// Every path that grants it, without duplicates, in policy order.
    pub via: Vec<AdminSource>,
}

impl Admin {
    /// `user`, `role`.
    pub fn kind(&self) -> &'static str {
        match self.resource_type {
            ResourceType::Role => "role",
            _ => "user",
        }
    }

    /// `user alice via attached policy arn:... and group admins (inline policy all)`.
    pub fn describe(&self) -> String {
        let via = self.via.iter().map(ToString::to_string).collect::<Vec<_>>().join(" and ");
        format!("{} {} via {via}", self.kind(), self.name)
    }
}

/// IAM Access Analyzer's analyzers in the regions read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccessAnalyzers {
    /// Every region read, each with its analyzers.
    pub regions: Vec<RegionAnalyzers>,
    /// Where the regions came from (`account:ListRegions`, the rule's `regions` setting, a file).
    pub regions_from: String,
}

impl AccessAnalyzers {
    pub fn region(&self, name: &str) -> Option<&RegionAnalyzers> {
        self.regions.iter().find(|r| r.region == name)
    }
}

/// The analyzers of one region.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegionAnalyzers {
    pub region: String,
    pub analyzers: Vec<Analyzer>,
}

/// One analyzer (ListAnalyzers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Analyzer {
    pub name: String,
    pub arn: String,
    /// `ACCOUNT`, `ORGANIZATION` (external access), `ACCOUNT_UNUSED_ACCESS`, ...
    pub kind: String,
    /// `ACTIVE`, `CREATING`, `DISABLED`, `FAILED`.
    pub status: String,
}

impl Analyzer {
    /// An analyzer of external access (of the account or of its organization).
    pub fn is_external_access(&self) -> bool {
        matches!(self.kind.as_str(), "ACCOUNT" | "ORGANIZATION")
    }

    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// An alternate contact of the account (account:GetAlternateContact).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlternateContact {
    pub name: Option<String>,
    pub title: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
}
