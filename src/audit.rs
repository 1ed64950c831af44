//! The offline audit: build an inventory from the files the AWS CLI wrote.

use std::path::{Path, PathBuf};

use iam_assurance_rules::inventory::{account_from_arn, DataSource, Inventory};
use iam_assurance_rules::sources;

/// The files of an offline audit (also the `audit` command's options). Only the first two
/// are required; a missing optional file makes the rules that need it `not_evaluated` with a
/// reason naming the option.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AuditFiles {
    /// `aws iam get-account-authorization-details` output.
    #[arg(long, value_name = "FILE")]
    pub authorization_details: PathBuf,
    /// `aws iam get-credential-report` output (its JSON, or the decoded CSV).
    #[arg(long, value_name = "FILE")]
    pub credential_report: PathBuf,
    /// `aws iam get-account-password-policy` output (an empty file: no policy).
    #[arg(long, value_name = "FILE")]
    pub password_policy: Option<PathBuf>,
    /// `aws iam get-account-summary` output.
    #[arg(long, value_name = "FILE")]
    pub account_summary: Option<PathBuf>,
    /// `aws iam list-server-certificates` output.
    #[arg(long, value_name = "FILE")]
    pub server_certificates: Option<PathBuf>,
    /// `aws iam list-virtual-mfa-devices` output (for root-mfa's require_hardware).
    #[arg(long, value_name = "FILE")]
    pub virtual_mfa_devices: Option<PathBuf>,
    /// IAM Access Analyzer's analyzers: a JSON object mapping each region to what
    /// `aws accessanalyzer list-analyzers --region <region>` printed there.
    #[arg(long, value_name = "FILE")]
    pub access_analyzers: Option<PathBuf>,
    /// `aws account get-alternate-contact --alternate-contact-type SECURITY` output (an empty
    /// file: none is set).
    #[arg(long, value_name = "FILE")]
    pub security_contact: Option<PathBuf>,
}

/// A file that could not be read or parsed, named.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FileError {
    pub path: String,
    pub message: String,
}

fn read(path: &Path) -> Result<String, FileError> {
    std::fs::read_to_string(path).map_err(|e| FileError { path: path.display().to_string(), message: e.to_string() })
}

fn parsed<T>(path: &Path, parse: impl FnOnce(&str) -> Result<T, sources::SourceError>) -> Result<T, FileError> {
    let text = read(path)?;
    parse(&text).map_err(|e| FileError { path: path.display().to_string(), message: e.0 })
}

/// Load every file into an inventory. The first bad file is an error naming it.
pub fn load(files: &AuditFiles) -> Result<Inventory, FileError> {
    let (authorization, account, warnings) = parsed(&files.authorization_details, sources::parse_authorization_details)?;
    let report = parsed(&files.credential_report, sources::parse_credential_report)?;
    let account = account
        .or_else(|| report.root.as_ref().and_then(|r| account_from_arn(&r.arn)).map(str::to_owned))
        .or_else(|| report.users.iter().find_map(|r| account_from_arn(&r.arn)).map(str::to_owned))
        .unwrap_or_else(|| "000000000000".to_string());
    let mut inventory = Inventory::new(account);
    if let Some(arn) = authorization.users.first().map(|u| u.arn.as_str()).or(authorization.roles.first().map(|r| r.arn.as_str())) {
        if let Some(partition) = arn.split(':').nth(1) {
            inventory.partition = partition.to_string();
        }
    }
    inventory.authorization = Some(authorization);
    inventory.credential_report = Some(report);
    inventory.warnings = warnings;

    match &files.password_policy {
        Some(path) => inventory.password_policy = Some(parsed(path, sources::parse_password_policy)?),
        None => inventory.record_not_provided(DataSource::PasswordPolicy, "not provided (pass --password-policy FILE)"),
    }
    match &files.account_summary {
        Some(path) => inventory.account_summary = Some(parsed(path, sources::parse_account_summary)?),
        None => inventory.record_not_provided(DataSource::AccountSummary, "not provided (pass --account-summary FILE)"),
    }
    match &files.server_certificates {
        Some(path) => inventory.server_certificates = Some(parsed(path, sources::parse_server_certificates)?),
        None => inventory.record_not_provided(DataSource::ServerCertificates, "not provided (pass --server-certificates FILE)"),
    }
    match &files.virtual_mfa_devices {
        Some(path) => inventory.virtual_mfa_devices = Some(parsed(path, sources::parse_virtual_mfa_devices)?),
        None => inventory.record_not_provided(DataSource::VirtualMfaDevices, "not provided (pass --virtual-mfa-devices FILE)"),
    }
    match &files.access_analyzers {
        Some(path) => inventory.access_analyzers = Some(parsed(path, sources::parse_access_analyzers)?),
        None => inventory.record_not_provided(DataSource::AccessAnalyzers, "not provided (pass --access-analyzers FILE)"),
    }
    match &files.security_contact {
        Some(path) => inventory.security_contact = Some(parsed(path, sources::parse_alternate_contact)?),
        None => inventory.record_not_provided(DataSource::SecurityContact, "not provided (pass --security-contact FILE)"),
    }
    inventory.record_not_provided(
        DataSource::ServiceLastAccessed,
        "not available offline (service-last-accessed jobs run only against a live account)",
    );
    inventory.record_not_provided(DataSource::CloudTrail, "no CloudTrail event in an offline audit");
    Ok(inventory)
}

/// The offline files of `compliance`: those of `audit`, all optional, since without them it
/// sweeps the live account instead.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OptionalAuditFiles {
    /// `aws iam get-account-authorization-details` output (with --credential-report: an offline audit).
    #[arg(long, value_name = "FILE")]
    pub authorization_details: Option<PathBuf>,
    /// `aws iam get-credential-report` output (its JSON, or the decoded CSV).
    #[arg(long, value_name = "FILE")]
    pub credential_report: Option<PathBuf>,
    /// `aws iam get-account-password-policy` output (an empty file: no policy).
    #[arg(long, value_name = "FILE")]
    pub password_policy: Option<PathBuf>,
    /// `aws iam get-account-summary` output.
    #[arg(long, value_name = "FILE")]
    pub account_summary: Option<PathBuf>,
    /// `aws iam list-server-certificates` output.
    #[arg(long, value_name = "FILE")]
    pub server_certificates: Option<PathBuf>,
    /// `aws iam list-virtual-mfa-devices` output (for root-mfa's require_hardware).
    #[arg(long, value_name = "FILE")]
    pub virtual_mfa_devices: Option<PathBuf>,
    /// IAM Access Analyzer's analyzers: a JSON object mapping each region to what
    /// `aws accessanalyzer list-analyzers --region <region>` printed there.
    #[arg(long, value_name = "FILE")]
    pub access_analyzers: Option<PathBuf>,
    /// `aws account get-alternate-contact --alternate-contact-type SECURITY` output.
    #[arg(long, value_name = "FILE")]
    pub security_contact: Option<PathBuf>,
}

impl OptionalAuditFiles {
    /// The audit's files when the two it needs are given; `None` when no file is (a live
    /// sweep); an error naming what is missing otherwise.
    pub fn audit(self) -> Result<Option<AuditFiles>, String> {
        let OptionalAuditFiles {
            authorization_details,
            credential_report,
            password_policy,
            account_summary,
            server_certificates,
            virtual_mfa_devices,
            access_analyzers,
            security_contact,
        } = self;
        match (authorization_details, credential_report) {
            (Some(authorization_details), Some(credential_report)) => Ok(Some(AuditFiles {
                authorization_details,
                credential_report,
                password_policy,
                account_summary,
                server_certificates,
                virtual_mfa_devices,
                access_analyzers,
                security_contact,
            })),
            (None, None)
                if [
                    &password_policy,
                    &account_summary,
                    &server_certificates,
                    &virtual_mfa_devices,
                    &access_analyzers,
                    &security_contact,
                ]
                .iter()
                .all(|f| f.is_none()) =>
            {
                Ok(None)
            }
            (a, _) => Err(format!(
                "an offline audit needs {}; without any file, the account the credentials reach is swept",
                if a.is_none() { "--authorization-details FILE" } else { "--credential-report FILE" }
            )),
        }
    }
}
