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
            AuditFile::PasswordPolicy => self.password_policy.as_ref(),
            AuditFile::AccountSummary => self.account_summary.as_ref(),
            AuditFile::ServerCertificates => self.server_certificates.as_ref(),
            AuditFile::VirtualMfaDevices => self.virtual_mfa_devices.as_ref(),
        };
        path.map(|p| p.display().to_string()).unwrap_or_default()
    }
}

/// Load every file into an inventory. The first bad file is an error naming it.
pub fn load(files: &AuditFiles) -> Result<Inventory, FileError> {
    let optional = |path: &Option<PathBuf>| path.as_deref().map(read).transpose();
    let authorization_details = read(&files.authorization_details)?;
    let credential_report = read(&files.credential_report)?;
    let password_policy = optional(&files.password_policy)?;
    let account_summary = optional(&files.account_summary)?;
    let server_certificates = optional(&files.server_certificates)?;
    let virtual_mfa_devices = optional(&files.virtual_mfa_devices)?;
    let texts = AuditTexts {
        authorization_details: &authorization_details,
        credential_report: &credential_report,
        password_policy: password_policy.as_deref(),
        account_summary: account_summary.as_deref(),
        server_certificates: server_certificates.as_deref(),
        virtual_mfa_devices: virtual_mfa_devices.as_deref(),
    };
    texts.inventory().map_err(|(file, message)| FileError { path: files.path(file), message })
}
