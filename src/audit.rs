//! The offline audit: build an inventory from the files the AWS CLI wrote.

use std::path::{Path, PathBuf};

use iam_assurance_rules::inventory::Inventory;
use iam_assurance_rules::offline::{AuditFile, AuditTexts};

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
    #[command(flatten)]
    pub optional: OptionalFiles,
}

/// The offline audit's optional files (the same options for `audit` and `compliance`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OptionalFiles {
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

impl OptionalFiles {
    fn is_empty(&self) -> bool {
        let OptionalFiles {
            password_policy,
            account_summary,
            server_certificates,
            virtual_mfa_devices,
            access_analyzers,
            security_contact,
        } = self;
        [password_policy, account_summary, server_certificates, virtual_mfa_devices, access_analyzers, security_contact]
            .iter()
            .all(|f| f.is_none())
    }
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

impl AuditFiles {
    fn path(&self, file: AuditFile) -> String {
        let path = match file {
            AuditFile::AuthorizationDetails => Some(&self.authorization_details),
            AuditFile::CredentialReport => Some(&self.credential_report),
            AuditFile::PasswordPolicy => self.optional.password_policy.as_ref(),
            AuditFile::AccountSummary => self.optional.account_summary.as_ref(),
            AuditFile::ServerCertificates => self.optional.server_certificates.as_ref(),
            AuditFile::VirtualMfaDevices => self.optional.virtual_mfa_devices.as_ref(),
            AuditFile::AccessAnalyzers => self.optional.access_analyzers.as_ref(),
            AuditFile::SecurityContact => self.optional.security_contact.as_ref(),
        };
        path.map(|p| p.display().to_string()).unwrap_or_default()
    }
}

/// Load every file into an inventory. The first bad file is an error naming it.
pub fn load(files: &AuditFiles) -> Result<Inventory, FileError> {
    let optional = |path: &Option<PathBuf>| path.as_deref().map(read).transpose();
    let authorization_details = read(&files.authorization_details)?;
    let credential_report = read(&files.credential_report)?;
    let password_policy = optional(&files.optional.password_policy)?;
    let account_summary = optional(&files.optional.account_summary)?;
    let server_certificates = optional(&files.optional.server_certificates)?;
    let virtual_mfa_devices = optional(&files.optional.virtual_mfa_devices)?;
    let access_analyzers = optional(&files.optional.access_analyzers)?;
    let security_contact = optional(&files.optional.security_contact)?;
    let texts = AuditTexts {
        authorization_details: &authorization_details,
        credential_report: &credential_report,
        password_policy: password_policy.as_deref(),
        account_summary: account_summary.as_deref(),
        server_certificates: server_certificates.as_deref(),
        virtual_mfa_devices: virtual_mfa_devices.as_deref(),
        access_analyzers: access_analyzers.as_deref(),
        security_contact: security_contact.as_deref(),
    };
    texts.inventory().map_err(|(file, message)| FileError { path: files.path(file), message })
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
    #[command(flatten)]
    pub optional: OptionalFiles,
}

impl OptionalAuditFiles {
    /// The audit's files when the two it needs are given; `None` when no file is (a live
    /// sweep); an error naming what is missing otherwise.
    pub fn audit(self) -> Result<Option<AuditFiles>, String> {
        let OptionalAuditFiles { authorization_details, credential_report, optional } = self;
        match (authorization_details, credential_report) {
            (Some(authorization_details), Some(credential_report)) => {
                Ok(Some(AuditFiles { authorization_details, credential_report, optional }))
            }
            (None, None) if optional.is_empty() => Ok(None),
            (a, _) => Err(format!(
                "an offline audit needs {}; without any file, the account the credentials reach is swept",
                if a.is_none() { "--authorization-details FILE" } else { "--credential-report FILE" }
            )),
        }
    }
}
