//! Parsers for what the AWS CLI prints, into the inventory model. Pure: text in, model out.
//!
//! - `aws iam get-account-authorization-details` → [`parse_authorization_details`]
//! - `aws iam get-credential-report` (its JSON with base64 `Content`, or the decoded CSV) →
//!   [`parse_credential_report`]
//! - `aws iam get-account-password-policy` → [`parse_password_policy`]
//! - `aws iam get-account-summary` → [`parse_account_summary`]
//! - `aws iam list-server-certificates` → [`parse_server_certificates`]
//! - `aws iam list-virtual-mfa-devices` → [`parse_virtual_mfa_devices`]
//! - `aws accessanalyzer list-analyzers --region R`, one per region in a JSON object keyed by
//!   region → [`parse_access_analyzers`]
//! - `aws account get-alternate-contact --alternate-contact-type SECURITY` → [`parse_alternate_contact`]
//!
//! Errors say what is wrong and where (column, row, JSON path); they never panic.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::inventory::*;
use crate::policy::PolicyDocument;

/// A parse error with what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

fn err(message: impl Into<String>) -> SourceError {
    SourceError(message.into())
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, SourceError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            err(format!("not a valid {what}: {inner}"))
        } else {
            err(format!("not a valid {what}: at `{path}`: {inner}"))
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Credential report

pub const CREDENTIAL_REPORT_COLUMNS: [&str; 17] = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "password_last_used",
    "password_last_changed",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "cert_1_active",
    "cert_1_last_rotated",
    "cert_2_active",
    "cert_2_last_rotated",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CredentialReportJson {
    content: String,
    #[serde(default)]
    report_format: Option<String>,
    #[serde(default)]
    generated_time: Option<DateTime<Utc>>,
}

/// Parse `aws iam get-credential-report` output: its JSON (base64 `Content`, `GeneratedTime`)
/// or the decoded CSV.
pub fn parse_credential_report(text: &str) -> Result<CredentialReport, SourceError> {
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') {
        let json: CredentialReportJson = from_json(trimmed, "get-credential-report JSON")?;
        if let Some(format) = &json.report_format {
            if format != "text/csv" {
                return Err(err(format!("unsupported ReportFormat {format:?} (expected text/csv)")));
            }
        }
        // Base64 never holds a comma: a `Content` with one is the CSV text itself, as some tools
        // store it after decoding.
        let mut report = if json.content.contains(',') {
            parse_credential_report_csv(&json.content)?
        } else {
            let content: String = json.content.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(content.as_bytes())
                .map_err(|e| err(format!("`Content` is neither base64 nor CSV text: {e}")))?;
            let csv = String::from_utf8(bytes).map_err(|_| err("`Content` does not decode to UTF-8 text"))?;
            parse_credential_report_csv(&csv)?
        };
        report.generated_at = json.generated_time;
        Ok(report)
    } else {
        parse_credential_report_csv(trimmed)
    }
}

/// Parse the credential report CSV. `generated_at` is left unknown (the CSV does not say).
///
/// A byte-order mark is skipped. Rows of several accounts are an error naming two of them; a
/// user listed twice is kept once when both rows are the same, and is an error naming the user
/// and both lines when they differ (which one is current cannot be told).
pub fn parse_credential_report_csv(csv_text: &str) -> Result<CredentialReport, SourceError> {
    let csv_text = csv_text.trim_start_matches('\u{feff}');
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(csv_text.as_bytes());
    let headers = reader.headers().map_err(|e| err(format!("cannot read the CSV header: {e}")))?.clone();
    let mut index = BTreeMap::new();
    for column in CREDENTIAL_REPORT_COLUMNS {
        let position = headers
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| err(format!("credential report is missing the column `{column}`")))?;
        index.insert(column, position);
    }
    let mut report =
        CredentialReport { generated_at: None, source: CredentialSource::Report, root: None, users: Vec::new(), duplicates: Vec::new() };
    // Line of each user name and ARN seen, to find a user listed twice.
    let mut seen: std::collections::HashMap<String, (usize, usize)> = std::collections::HashMap::new();
    let mut account: Option<(String, usize)> = None;
    let mut root_line = 0;
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| err(format!("credential report line {line}: {e}")))?;
        let row = parse_row(&Cells { record: &record, index: &index }).map_err(|e| {
            let user = crate::pattern::preview(Cells { record: &record, index: &index }.get("user"));
            err(format!("credential report line {line} (user {user}): {e}"))
        })?;
        if let Some(row_account) = account_from_arn(&row.arn) {
            match &account {
                None => account = Some((row_account.to_string(), line)),
                Some((first, first_line)) if first != row_account => {
                    return Err(err(format!(
                        "credential report rows of two accounts: line {first_line} is of account {first}, line {line} ({}) of account {row_account}",
                        crate::pattern::preview(&row.user)
                    )))
                }
                Some(_) => {}
            }
        }
        if row.is_root() {
            if let Some(first) = &report.root {
                if *first != row {
                    return Err(err(format!(
                        "credential report lines {root_line} and {line} are both the root user's, with different values: which one is current cannot be told (generate the report again)"
                    )));
                }
                continue;
            }
            root_line = line;
            report.root = Some(row);
            continue;
        }
        let earlier = seen.get(&row.user).or_else(|| seen.get(&row.arn)).copied();
        if let Some((first_line, at)) = earlier {
            if report.users[at] != row {
                return Err(err(format!(
                    "credential report lines {first_line} and {line} are both user {}, with different values: which one is current cannot be told (generate the report again)",
                    crate::pattern::preview(&row.user)
                )));
            }
            report.duplicates.push(format!("line {line} repeats line {first_line} (user {})", row.user));
            continue;
        }
        seen.insert(row.user.clone(), (line, report.users.len()));
        seen.insert(row.arn.clone(), (line, report.users.len()));
        report.users.push(row);
    }
    Ok(report)
}

struct Cells<'a> {
    record: &'a csv::StringRecord,
    index: &'a BTreeMap<&'static str, usize>,
}

impl Cells<'_> {
    fn get(&self, column: &str) -> &str {
        self.index.get(column).and_then(|i| self.record.get(*i)).unwrap_or("").trim()
    }
}

fn parse_row(cells: &Cells<'_>) -> Result<CredentialRow, String> {
    let get = |column: &str| cells.get(column);
    let date = |column: &str| parse_report_date(get(column)).map_err(|e| format!("column `{column}`: {e}"));
    let flag = |column: &str| parse_flag(get(column)).map_err(|e| format!("column `{column}`: {e}"));
    let bool_flag = |column: &str| -> Result<bool, String> { Ok(flag(column)?.is_true()) };
    let user = get("user");
    if user.is_empty() {
        return Err("empty `user`".into());
    }
    Ok(CredentialRow {
        user: user.to_string(),
        arn: get("arn").to_string(),
        user_creation_time: date("user_creation_time")?.at(),
        password_enabled: flag("password_enabled")?,
        password_last_used: date("password_last_used")?,
        password_last_changed: date("password_last_changed")?,
        mfa_active: bool_flag("mfa_active")?,
        access_keys: [
            KeySlot {
                slot: 1,
                active: bool_flag("access_key_1_active")?,
                last_rotated: date("access_key_1_last_rotated")?,
                last_used: date("access_key_1_last_used_date")?,
            },
            KeySlot {
                slot: 2,
                active: bool_flag("access_key_2_active")?,
                last_rotated: date("access_key_2_last_rotated")?,
                last_used: date("access_key_2_last_used_date")?,
            },
        ],
        certs: [
            CertSlot { slot: 1, active: bool_flag("cert_1_active")?, last_rotated: date("cert_1_last_rotated")? },
            CertSlot { slot: 2, active: bool_flag("cert_2_active")?, last_rotated: date("cert_2_last_rotated")? },
        ],
    })
}

/// `N/A` and `no_information` → never; `not_supported` → not supported; else ISO 8601.
pub fn parse_report_date(value: &str) -> Result<ReportDate, String> {
    match value {
        "N/A" | "no_information" | "" => Ok(ReportDate::Never),
        "not_supported" => Ok(ReportDate::NotSupported),
        text => DateTime::parse_from_rfc3339(text)
            .map(|t| ReportDate::At(t.with_timezone(&Utc)))
            .map_err(|_| format!("expected an ISO 8601 time, N/A, no_information or not_supported, found {text:?}")),
    }
}

fn parse_flag(value: &str) -> Result<ReportFlag, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(ReportFlag::True),
        "false" => Ok(ReportFlag::False),
        "not_supported" => Ok(ReportFlag::NotSupported),
        _ => Err(format!("expected true, false or not_supported, found {value:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization details

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct AadPage {
    user_detail_list: Vec<AadUser>,
    group_detail_list: Vec<AadGroup>,
    role_detail_list: Vec<AadRole>,
    policies: Vec<AadPolicy>,
    is_truncated: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadUser {
    user_name: String,
    arn: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    create_date: Option<DateTime<Utc>>,
    #[serde(default)]
    user_policy_list: Vec<AadInline>,
    #[serde(default)]
    group_list: Vec<String>,
    #[serde(default)]
    attached_managed_policies: Vec<AadAttached>,
    #[serde(default)]
    permissions_boundary: Option<AadBoundary>,
    #[serde(default)]
    tags: Vec<AadTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadTag {
    key: String,
    #[serde(default)]
    value: String,
}

fn tags(list: Vec<AadTag>) -> Option<Tags> {
    Some(list.into_iter().map(|t| (t.key, t.value)).collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadGroup {
    group_name: String,
    arn: String,
    #[serde(default)]
    group_id: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    create_date: Option<DateTime<Utc>>,
    #[serde(default)]
    group_policy_list: Vec<AadInline>,
    #[serde(default)]
    attached_managed_policies: Vec<AadAttached>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadRole {
    role_name: String,
    arn: String,
    #[serde(default)]
    role_id: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    create_date: Option<DateTime<Utc>>,
    #[serde(default)]
    assume_role_policy_document: Option<Value>,
    #[serde(default)]
    role_policy_list: Vec<AadInline>,
    #[serde(default)]
    attached_managed_policies: Vec<AadAttached>,
    #[serde(default)]
    permissions_boundary: Option<AadBoundary>,
    #[serde(default)]
    role_last_used: Option<AadRoleLastUsed>,
    #[serde(default)]
    tags: Vec<AadTag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadRoleLastUsed {
    #[serde(default)]
    last_used_date: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadInline {
    policy_name: String,
    #[serde(default)]
    policy_document: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadAttached {
    #[serde(default)]
    policy_name: Option<String>,
    policy_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadBoundary {
    #[serde(default)]
    permissions_boundary_arn: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadPolicy {
    #[serde(default)]
    policy_name: Option<String>,
    arn: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    default_version_id: Option<String>,
    #[serde(default)]
    attachment_count: Option<i64>,
    #[serde(default)]
    policy_version_list: Vec<AadPolicyVersion>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AadPolicyVersion {
    #[serde(default)]
    document: Option<Value>,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    is_default_version: bool,
}

/// Parse `aws iam get-account-authorization-details` output (one object, as the CLI prints
/// after following every page, or a list of raw pages). Returns the details, the account id
/// taken from the ARNs (if any), and warnings for policy documents that could not be parsed.
pub fn parse_authorization_details(text: &str) -> Result<(AuthorizationDetails, Option<String>, Vec<String>), SourceError> {
    let trimmed = text.trim_start();
    let pages: Vec<AadPage> = if trimmed.starts_with('[') {
        from_json(trimmed, "get-account-authorization-details JSON")?
    } else {
        vec![from_json(trimmed, "get-account-authorization-details JSON")?]
    };
    if let Some(last) = pages.last() {
        if last.is_truncated {
            return Err(err(
                "the authorization details are truncated (IsTruncated is true): let the AWS CLI follow every page (no --max-items / --no-paginate)",
            ));
        }
    }
    let mut builder = AadBuilder::default();
    for page in pages {
        for u in page.user_detail_list {
            builder.user(u);
        }
        for g in page.group_detail_list {
            builder.group(g);
        }
        for r in page.role_detail_list {
            builder.role(r);
        }
        for p in page.policies {
            builder.policy(p);
        }
    }
    builder.deduplicate()?;
    if let (Some(first), Some((other, arn))) = (&builder.account, &builder.other_account) {
        return Err(err(format!(
            "the authorization details mix two accounts: {first} and {other} ({}); give the output of one account",
            crate::pattern::preview(arn)
        )));
    }
    let account = builder.account.clone();
    let mut details = builder.details;
    details.complete = true;
    Ok((details, account, builder.warnings))
}

#[derive(Default)]
struct AadBuilder {
    details: AuthorizationDetails,
    account: Option<String>,
    /// The first ARN of another account than `account`, if any (an error).
    other_account: Option<(String, String)>,
    warnings: Vec<String>,
}

/// Keep the first entity of each ARN: a later one that is the same is dropped with a warning
/// (pages saved twice), one that differs is an error naming it (which is current cannot be
/// told). Entities of one kind share no ARN in what IAM returns.
fn dedup_by_arn<T: PartialEq>(
    list: &mut Vec<T>,
    kind: &str,
    arn: impl Fn(&T) -> &str,
    warnings: &mut Vec<String>,
) -> Result<(), SourceError> {
    let mut first: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(list.len());
    let mut keep = vec![true; list.len()];
    for (i, item) in list.iter().enumerate() {
        match first.get(arn(item)) {
            None => {
                first.insert(arn(item).to_string(), i);
            }
            Some(&at) if list[at] == *item => {
                keep[i] = false;
                warnings.push(format!("the authorization details list {kind} {} twice, the same both times; kept once", arn(item)));
            }
            Some(_) => {
                return Err(err(format!(
                    "the authorization details list {kind} {} twice, differently: which one is current cannot be told (read them again)",
                    crate::pattern::preview(arn(item))
                )))
            }
        }
    }
    let mut flags = keep.into_iter();
    list.retain(|_| flags.next().unwrap_or(true));
    Ok(())
}

impl AadBuilder {
    fn deduplicate(&mut self) -> Result<(), SourceError> {
        let d = &mut self.details;
        dedup_by_arn(&mut d.users, "user", |u| &u.arn, &mut self.warnings)?;
        dedup_by_arn(&mut d.groups, "group", |g| &g.arn, &mut self.warnings)?;
        dedup_by_arn(&mut d.roles, "role", |r| &r.arn, &mut self.warnings)?;
        dedup_by_arn(&mut d.policies, "managed policy", |p| &p.arn, &mut self.warnings)
    }

    fn note_account(&mut self, arn: &str) {
        let Some(account) = account_from_arn(arn) else { return };
        match &self.account {
            None => self.account = Some(account.to_owned()),
            Some(first) if first != account && self.other_account.is_none() => {
                self.other_account = Some((account.to_owned(), arn.to_owned()));
            }
            Some(_) => {}
        }
    }

    fn inline(&mut self, owner: &str, list: Vec<AadInline>) -> Vec<InlinePolicy> {
        list.into_iter()
            .map(|p| {
                let document = match &p.policy_document {
                    Some(doc) => PolicyDocument::from_value(doc),
                    None => Err("no PolicyDocument".to_string()),
                };
                if let Err(e) = &document {
                    self.warnings.push(format!("inline policy {} of {owner}: {e}", p.policy_name));
                }
                InlinePolicy { name: p.policy_name, document }
            })
            .collect()
    }

    fn user(&mut self, u: AadUser) {
        self.note_account(&u.arn);
        let inline_policies = self.inline(&u.arn, u.user_policy_list);
        self.details.users.push(User {
            name: u.user_name,
            arn: u.arn,
            id: u.user_id,
            path: u.path,
            create_date: u.create_date,
            groups: u.group_list,
            attached_policies: attached(u.attached_managed_policies),
            inline_policies,
            permissions_boundary: u.permissions_boundary.and_then(|b| b.permissions_boundary_arn),
            tags: tags(u.tags),
        });
    }

    fn group(&mut self, g: AadGroup) {
        self.note_account(&g.arn);
        let inline_policies = self.inline(&g.arn, g.group_policy_list);
        self.details.groups.push(Group {
            name: g.group_name,
            arn: g.arn,
            id: g.group_id,
            path: g.path,
            create_date: g.create_date,
            attached_policies: attached(g.attached_managed_policies),
            inline_policies,
        });
    }

    fn role(&mut self, r: AadRole) {
        self.note_account(&r.arn);
        let inline_policies = self.inline(&r.arn, r.role_policy_list);
        let trust_policy = r.assume_role_policy_document.as_ref().map(PolicyDocument::from_value);
        if let Some(Err(e)) = &trust_policy {
            self.warnings.push(format!("trust policy of {}: {e}", r.arn));
        }
        self.details.roles.push(Role {
            name: r.role_name,
            arn: r.arn,
            id: r.role_id,
            path: r.path,
            create_date: r.create_date,
            attached_policies: attached(r.attached_managed_policies),
            inline_policies,
            permissions_boundary: r.permissions_boundary.and_then(|b| b.permissions_boundary_arn),
            last_used: r.role_last_used.and_then(|l| l.last_used_date),
            trust_policy,
            tags: tags(r.tags),
        });
    }

    fn policy(&mut self, p: AadPolicy) {
        if !is_aws_managed_arn(&p.arn) {
            self.note_account(&p.arn);
        }
        let default =
            p.policy_version_list.iter().find(|v| v.is_default_version || (v.version_id.is_some() && v.version_id == p.default_version_id));
        let document = match default {
            Some(v) => Some(match &v.document {
                Some(doc) => PolicyDocument::from_value(doc),
                None => Err("the default version has no Document".to_string()),
            }),
            None => {
                let listed = p.policy_version_list.len();
                let id = p.default_version_id.as_deref().map(|id| format!(" (DefaultVersionId {})", crate::pattern::preview(id)));
                self.warnings.push(format!(
                    "managed policy {}: none of its {listed} listed versions is the default{}: its document is unknown",
                    p.arn,
                    id.unwrap_or_default()
                ));
                None
            }
        };
        if let Some(Err(e)) = &document {
            self.warnings.push(format!("managed policy {}: {e}", p.arn));
        }
        let name = p.policy_name.unwrap_or_else(|| name_from_arn(&p.arn).to_string());
        self.details.policies.push(ManagedPolicy { name, arn: p.arn, path: p.path, attachment_count: p.attachment_count, document });
    }
}

fn attached(list: Vec<AadAttached>) -> Vec<AttachedPolicy> {
    list.into_iter()
        .map(|a| AttachedPolicy { name: a.policy_name.unwrap_or_else(|| name_from_arn(&a.policy_arn).to_string()), arn: a.policy_arn })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Password policy, account summary, server certificates, virtual MFA devices

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PasswordPolicyJson {
    password_policy: PasswordPolicyFields,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct PasswordPolicyFields {
    minimum_password_length: Option<u32>,
    require_symbols: bool,
    require_numbers: bool,
    require_uppercase_characters: bool,
    require_lowercase_characters: bool,
    allow_users_to_change_password: bool,
    expire_passwords: bool,
    max_password_age: Option<u32>,
    password_reuse_prevention: Option<u32>,
    hard_expiry: Option<bool>,
}

/// Parse `aws iam get-account-password-policy` output. An empty file or `{}` (what a script
/// writes when the CLI answered NoSuchEntity) means "no password policy".
pub fn parse_password_policy(text: &str) -> Result<Option<PasswordPolicy>, SourceError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "{}" || trimmed == "null" {
        return Ok(None);
    }
    let json: PasswordPolicyJson = from_json(trimmed, "get-account-password-policy JSON")?;
    let p = json.password_policy;
    Ok(Some(PasswordPolicy {
        minimum_password_length: p.minimum_password_length,
        require_symbols: p.require_symbols,
        require_numbers: p.require_numbers,
        require_uppercase_characters: p.require_uppercase_characters,
        require_lowercase_characters: p.require_lowercase_characters,
        allow_users_to_change_password: p.allow_users_to_change_password,
        expire_passwords: p.expire_passwords || p.max_password_age.is_some_and(|d| d > 0),
        max_password_age: p.max_password_age,
        password_reuse_prevention: p.password_reuse_prevention,
        hard_expiry: p.hard_expiry.unwrap_or(false),
    }))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SummaryJson {
    summary_map: BTreeMap<String, i64>,
}

/// Parse `aws iam get-account-summary` output.
pub fn parse_account_summary(text: &str) -> Result<AccountSummary, SourceError> {
    let json: SummaryJson = from_json(text.trim(), "get-account-summary JSON")?;
    Ok(account_summary_from_map(json.summary_map))
}

/// Build the summary model from `SummaryMap` entries.
pub fn account_summary_from_map(map: BTreeMap<String, i64>) -> AccountSummary {
    let flag = |key: &str| map.get(key).map(|v| *v > 0);
    AccountSummary {
        account_mfa_enabled: flag("AccountMFAEnabled"),
        account_access_keys_present: flag("AccountAccessKeysPresent"),
        account_signing_certificates_present: flag("AccountSigningCertificatesPresent"),
        users: map.get("Users").copied(),
        raw: map,
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServerCertificatesJson {
    server_certificate_metadata_list: Vec<ServerCertificateJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServerCertificateJson {
    server_certificate_name: String,
    arn: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    upload_date: Option<DateTime<Utc>>,
    #[serde(default)]
    expiration: Option<DateTime<Utc>>,
}

/// Parse `aws iam list-server-certificates` output.
pub fn parse_server_certificates(text: &str) -> Result<Vec<ServerCertificate>, SourceError> {
    let json: ServerCertificatesJson = from_json(text.trim(), "list-server-certificates JSON")?;
    Ok(json
        .server_certificate_metadata_list
        .into_iter()
        .map(|c| ServerCertificate {
            name: c.server_certificate_name,
            arn: c.arn,
            path: c.path,
            upload_date: c.upload_date,
            expiration: c.expiration,
        })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VirtualMfaJson {
    #[serde(rename = "VirtualMFADevices")]
    virtual_mfa_devices: Vec<VirtualMfaDeviceJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VirtualMfaDeviceJson {
    serial_number: String,
    #[serde(default)]
    user: Option<VirtualMfaUser>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VirtualMfaUser {
    #[serde(default)]
    arn: Option<String>,
}

/// Parse `aws iam list-virtual-mfa-devices` output.
pub fn parse_virtual_mfa_devices(text: &str) -> Result<Vec<VirtualMfaDevice>, SourceError> {
    let json: VirtualMfaJson = from_json(text.trim(), "list-virtual-mfa-devices JSON")?;
    Ok(json
        .virtual_mfa_devices
        .into_iter()
        .map(|d| VirtualMfaDevice { serial_number: d.serial_number, user_arn: d.user.and_then(|u| u.arn) })
        .collect())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListAnalyzersJson {
    analyzers: Vec<AnalyzerJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AnalyzerJson {
    name: String,
    arn: String,
    r#type: String,
    status: String,
}

/// Parse the analyzers of each region: a JSON object whose keys are regions and whose values
/// are what `aws accessanalyzer list-analyzers --region <region>` printed there, e.g.
/// `{"us-east-1": {"analyzers": [...]}, "eu-west-1": {"analyzers": []}}`.
pub fn parse_access_analyzers(text: &str) -> Result<AccessAnalyzers, SourceError> {
    let by_region: BTreeMap<String, ListAnalyzersJson> = from_json(text.trim(), "JSON object of list-analyzers outputs by region")?;
    if by_region.is_empty() {
        return Err(err("no region: the file must map each region to its list-analyzers output"));
    }
    Ok(AccessAnalyzers {
        regions: by_region
            .into_iter()
            .map(|(region, out)| RegionAnalyzers {
                region,
                analyzers: out
                    .analyzers
                    .into_iter()
                    .map(|a| Analyzer { name: a.name, arn: a.arn, kind: a.r#type, status: a.status })
                    .collect(),
            })
            .collect(),
        regions_from: "the regions in the analyzers file".into(),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlternateContactJson {
    alternate_contact: AlternateContactFields,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AlternateContactFields {
    #[serde(default)]
    alternate_contact_type: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    email_address: Option<String>,
    #[serde(default)]
    phone_number: Option<String>,
}

/// Parse `aws account get-alternate-contact --alternate-contact-type SECURITY` output. An empty
/// file or `{}` (what a script writes when the CLI answered ResourceNotFoundException) means the
/// account has none.
pub fn parse_alternate_contact(text: &str) -> Result<Option<AlternateContact>, SourceError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "{}" || trimmed == "null" {
        return Ok(None);
    }
    let json: AlternateContactJson = from_json(trimmed, "get-alternate-contact JSON")?;
    let c = json.alternate_contact;
    if let Some(kind) = c.alternate_contact_type.as_deref().filter(|k| *k != "SECURITY") {
        return Err(err(format!("this is the {kind} contact; the SECURITY contact is needed (--alternate-contact-type SECURITY)")));
    }
    Ok(Some(AlternateContact { name: c.name, title: c.title, email: c.email_address, phone: c.phone_number }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_analyzers_and_alternate_contact_as_the_cli_writes_them() {
        let text = r#"{"us-east-1": {"analyzers": [{"arn": "arn:aws:access-analyzer:us-east-1:123456789012:analyzer/ext", "name": "ext",
            "type": "ACCOUNT", "createdAt": "2024-05-01T10:00:00+00:00", "lastResourceAnalyzed": "arn:aws:s3:::b", "lastResourceAnalyzedAt": "2026-11-01T00:00:00+00:00",
            "tags": {}, "status": "ACTIVE", "configuration": {}}]}, "eu-west-1": {"analyzers": []}}"#;
        let a = parse_access_analyzers(text).unwrap();
        assert_eq!(a.regions.len(), 2);
        assert!(a.region("us-east-1").unwrap().analyzers[0].is_external_access());
        assert!(a.region("eu-west-1").unwrap().analyzers.is_empty());
        assert!(parse_access_analyzers("{}").unwrap_err().0.contains("no region"));
        assert!(parse_access_analyzers(r#"{"us-east-1": {"analyzers": [{"name": 1}]}}"#).unwrap_err().0.contains("us-east-1"));
        let c = parse_alternate_contact(r#"{"AlternateContact": {"AlternateContactType": "SECURITY", "EmailAddress": "sec@example.com", "Name": "Security", "PhoneNumber": "+1-555-0100", "Title": "CISO"}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(c.email.as_deref(), Some("sec@example.com"));
        assert_eq!(parse_alternate_contact("").unwrap(), None);
        assert!(parse_alternate_contact(r#"{"AlternateContact": {"AlternateContactType": "BILLING", "EmailAddress": "b@example.com"}}"#)
            .unwrap_err()
            .0
            .contains("BILLING"));
    }

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    /// A report in the real service's format (root row with `not_supported`).
    fn real_format_report() -> String {
        format!(
            "{HEADER}\n\
<root_account>,arn:aws:iam::123456789012:root,2019-01-10T09:00:00+00:00,not_supported,2026-11-01T08:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
alice,arn:aws:iam::123456789012:user/alice,2020-02-03T10:00:00+00:00,true,no_information,2020-02-03T10:05:00+00:00,N/A,false,true,2020-02-03T10:06:00+00:00,2026-11-20T12:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        )
    }

    #[test]
    fn parses_real_format_csv() {
        let report = parse_credential_report(&real_format_report()).unwrap();
        let root = report.root.as_ref().unwrap();
        assert_eq!(root.password_enabled, ReportFlag::NotSupported);
        assert_eq!(root.password_last_changed, ReportDate::NotSupported);
        assert!(root.mfa_active);
        assert_eq!(report.users.len(), 1);
        let alice = &report.users[0];
        assert_eq!(alice.password_last_used, ReportDate::Never);
        assert!(alice.access_keys[0].active && alice.access_keys[0].exists());
        assert!(!alice.access_keys[1].exists());
        assert_eq!(alice.access_keys[0].last_used.at().unwrap().to_rfc3339(), "2026-11-20T12:00:00+00:00");
    }

    #[test]
    fn parses_cli_json_with_base64_content() {
        let content = base64::engine::general_purpose::STANDARD.encode(real_format_report());
        let json = format!(r#"{{"Content":"{content}","ReportFormat":"text/csv","GeneratedTime":"2026-11-23T08:00:00+00:00"}}"#);
        let report = parse_credential_report(&json).unwrap();
        assert_eq!(report.generated_at.unwrap().to_rfc3339(), "2026-11-23T08:00:00+00:00");
        assert_eq!(report.users.len(), 1);
    }

    #[test]
    fn cli_json_with_csv_text_content_and_byte_order_marks() {
        // Some tools store the decoded CSV in `Content` (JSON-escaped newlines).
        let content = serde_json::to_string(&real_format_report()).unwrap();
        let json = format!(r#"{{"Content":{content},"ReportFormat":"text/csv","GeneratedTime":"2026-11-23T08:00:00Z"}}"#);
        let report = parse_credential_report(&json).unwrap();
        assert_eq!((report.users.len(), report.root.is_some()), (1, true));
        assert_eq!(report.generated_at.unwrap().to_rfc3339(), "2026-11-23T08:00:00+00:00");
        // A byte-order mark before the CSV, inside the base64 content, or before the JSON.
        let bom = format!("\u{feff}{}", real_format_report());
        assert_eq!(parse_credential_report(&bom).unwrap().users.len(), 1);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&bom);
        let json = format!("\u{feff}{{\"Content\":\"{encoded}\",\"ReportFormat\":\"text/csv\"}}");
        assert_eq!(parse_credential_report(&json).unwrap().users.len(), 1);
        // Neither base64 nor CSV.
        let e = parse_credential_report(r#"{"Content":"not base64!"}"#).unwrap_err();
        assert!(e.0.contains("`Content` is neither base64 nor CSV text"), "{e}");
        let e = parse_credential_report(r#"{"Content":"dXNlcg==","ReportFormat":"text/xml"}"#).unwrap_err();
        assert!(e.0.contains("unsupported ReportFormat \"text/xml\""), "{e}");
    }

    #[test]
    fn a_user_listed_twice_is_kept_once_when_identical_and_refused_when_not() {
        let report = real_format_report();
        let alice = report.lines().nth(2).unwrap();
        let twice = parse_credential_report(&format!("{report}{alice}\n")).unwrap();
        assert_eq!(twice.users.len(), 1);
        assert_eq!(twice.duplicates, ["line 4 repeats line 3 (user alice)"]);
        let stale = alice.replace("2026-11-20T12:00:00+00:00", "2025-01-01T00:00:00+00:00");
        let e = parse_credential_report(&format!("{report}{stale}\n")).unwrap_err();
        assert_eq!(
            e.0,
            "credential report lines 3 and 4 are both user \"alice\", with different values: which one is current cannot be told (generate the report again)"
        );
        let root = report.lines().nth(1).unwrap().replace(",true,false,N/A", ",false,false,N/A");
        let e = parse_credential_report(&format!("{report}{root}\n")).unwrap_err();
        assert!(e.0.starts_with("credential report lines 2 and 4 are both the root user's"), "{e}");
        // Rows of two accounts.
        let other = alice.replace("123456789012", "999999999999").replace("alice,", "mallory,");
        let e = parse_credential_report(&format!("{report}{other}\n")).unwrap_err();
        assert_eq!(
            e.0,
            "credential report rows of two accounts: line 2 is of account 123456789012, line 4 (\"mallory\") of account 999999999999"
        );
    }

    #[test]
    fn authorization_details_of_two_accounts_and_policies_without_a_default_version() {
        let two = r#"{"UserDetailList":[{"UserName":"a","Arn":"arn:aws:iam::111111111111:user/a"}],
            "RoleDetailList":[{"RoleName":"r","Arn":"arn:aws:iam::222222222222:role/r"}]}"#;
        let e = parse_authorization_details(two).unwrap_err();
        assert!(e.0.starts_with("the authorization details mix two accounts: 111111111111 and 222222222222"), "{e}");
        let no_default = r#"{"Policies":[{"PolicyName":"p","Arn":"arn:aws:iam::111111111111:policy/p","DefaultVersionId":"v3",
            "PolicyVersionList":[{"Document":{"Statement":[]},"VersionId":"v1","IsDefaultVersion":false}]}]}"#;
        let (details, _, warnings) = parse_authorization_details(no_default).unwrap();
        assert!(details.policies[0].document.is_none());
        assert_eq!(
            warnings,
            ["managed policy arn:aws:iam::111111111111:policy/p: none of its 1 listed versions is the default (DefaultVersionId \"v3\"): its document is unknown"]
        );
    }

    #[test]
    fn an_entity_listed_twice_in_the_authorization_details() {
        // Pages saved twice (a list of raw pages): the same user twice is kept once.
        let page = r#"{"UserDetailList":[{"UserName":"a","Arn":"arn:aws:iam::111111111111:user/a","GroupList":["g"]}]}"#;
        let (details, _, warnings) = parse_authorization_details(&format!("[{page},{page}]")).unwrap();
        assert_eq!(details.users.len(), 1);
        assert_eq!(
            warnings,
            ["the authorization details list user arn:aws:iam::111111111111:user/a twice, the same both times; kept once"]
        );
        // Differently: refused.
        let other = page.replace(r#"["g"]"#, r#"["h"]"#);
        let e = parse_authorization_details(&format!("[{page},{other}]")).unwrap_err();
        assert_eq!(
            e.0,
            "the authorization details list user \"arn:aws:iam::111111111111:user/a\" twice, differently: which one is current cannot be told (read them again)"
        );
    }

    #[test]
    fn missing_column_and_bad_values_are_named() {
        let e = parse_credential_report("user,arn\nalice,arn:aws:iam::1:user/alice\n").unwrap_err();
        assert!(e.0.contains("missing the column `user_creation_time`"), "{e}");
        let bad = real_format_report().replace("2020-02-03T10:06:00+00:00", "yesterday");
        let e = parse_credential_report(&bad).unwrap_err();
        assert!(e.0.contains("line 3") && e.0.contains("alice") && e.0.contains("access_key_1_last_rotated"), "{e}");
        let truncated = format!("{HEADER}\nalice,arn:aws:iam::1:user/alice,2020-02-03T10:00:00+00:00\n");
        let e = parse_credential_report(&truncated).unwrap_err();
        assert!(e.0.contains("line 2"), "{e}");
        assert!(parse_credential_report(r#"{"Content":"!!!"}"#).unwrap_err().0.contains("base64"));
    }

    #[test]
    fn parses_authorization_details_with_encoded_documents() {
        let text = r#"{
          "UserDetailList":[{"Path":"/","UserName":"alice","UserId":"AIDA1","Arn":"arn:aws:iam::123456789012:user/alice",
             "CreateDate":"2020-01-01T00:00:00Z","GroupList":["admins"],
             "UserPolicyList":[{"PolicyName":"bad","PolicyDocument":"%7Bnot-json"}],
             "AttachedManagedPolicies":[{"PolicyName":"AdministratorAccess","PolicyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}]}],
          "GroupDetailList":[{"Path":"/","GroupName":"admins","GroupId":"AGPA1","Arn":"arn:aws:iam::123456789012:group/admins","CreateDate":"2020-01-01T00:00:00Z","GroupPolicyList":[],"AttachedManagedPolicies":[]}],
          "RoleDetailList":[{"Path":"/aws-service-role/x/","RoleName":"AWSServiceRoleForX","RoleId":"AROA1","Arn":"arn:aws:iam::123456789012:role/aws-service-role/x/AWSServiceRoleForX",
             "CreateDate":"2020-01-01T00:00:00Z","AssumeRolePolicyDocument":"%7B%22Statement%22%3A%5B%5D%7D","RolePolicyList":[],"AttachedManagedPolicies":[],"RoleLastUsed":{"LastUsedDate":"2026-11-01T00:00:00Z","Region":"us-east-1"}}],
          "Policies":[{"Arn":"arn:aws:iam::aws:policy/AdministratorAccess","Path":"/","DefaultVersionId":"v1","AttachmentCount":1,
             "PolicyVersionList":[{"Document":"%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D","VersionId":"v1","IsDefaultVersion":true}]}]
        }"#;
        let (details, account, warnings) = parse_authorization_details(text).unwrap();
        assert_eq!(account.as_deref(), Some("123456789012"));
        assert!(details.complete);
        assert_eq!(details.policies[0].name, "AdministratorAccess");
        assert!(details.policies[0].document.as_ref().unwrap().as_ref().unwrap().grants_full_admin());
        assert!(details.roles[0].is_service_linked());
        assert_eq!(details.roles[0].last_used.map(|t| t.to_rfc3339()).as_deref(), Some("2026-11-01T00:00:00+00:00"));
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("inline policy bad of arn:aws:iam::123456789012:user/alice"), "{warnings:?}");
    }

    #[test]
    fn truncated_authorization_json_is_an_error() {
        let e = parse_authorization_details(r#"{"UserDetailList":[{"UserName":"a""#).unwrap_err();
        assert!(e.0.contains("get-account-authorization-details"), "{e}");
        let e = parse_authorization_details(r#"{"UserDetailList":[{"UserName":1,"Arn":"x"}]}"#).unwrap_err();
        assert!(e.0.contains("UserDetailList[0].UserName"), "{e}");
        let e = parse_authorization_details(r#"{"UserDetailList":[],"IsTruncated":true,"Marker":"x"}"#).unwrap_err();
        assert!(e.0.contains("truncated"), "{e}");
    }

    #[test]
    fn password_policy_summary_certificates() {
        assert_eq!(parse_password_policy("").unwrap(), None);
        let p = parse_password_policy(
            r#"{"PasswordPolicy":{"MinimumPasswordLength":8,"RequireSymbols":true,"MaxPasswordAge":90,"PasswordReusePrevention":5}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(p.minimum_password_length, Some(8));
        assert!(p.expire_passwords && p.require_symbols && !p.require_numbers);
        let s = parse_account_summary(r#"{"SummaryMap":{"AccountMFAEnabled":1,"AccountAccessKeysPresent":0,"Users":3}}"#).unwrap();
        assert_eq!(s.account_mfa_enabled, Some(true));
        assert_eq!(s.account_access_keys_present, Some(false));
        assert_eq!(s.account_signing_certificates_present, None);
        let c = parse_server_certificates(r#"{"ServerCertificateMetadataList":[{"Path":"/","ServerCertificateName":"web","ServerCertificateId":"ASCA","Arn":"arn:aws:iam::123456789012:server-certificate/web","UploadDate":"2025-01-01T00:00:00Z","Expiration":"2026-12-01T00:00:00Z"}]}"#).unwrap();
        assert_eq!(c[0].name, "web");
        let m = parse_virtual_mfa_devices(r#"{"VirtualMFADevices":[{"SerialNumber":"arn:aws:iam::123456789012:mfa/root-account-mfa-device","User":{"Arn":"arn:aws:iam::123456789012:root"}}]}"#).unwrap();
        assert_eq!(m[0].user_arn.as_deref(), Some("arn:aws:iam::123456789012:root"));
    }
}
