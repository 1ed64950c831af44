//! The offline audit: build an inventory from the files the AWS CLI wrote.

use std::path::{Path, PathBuf};

use iam_assurance_rules::inventory::{account_from_arn, DataSource, Inventory};
use iam_assurance_rules::pattern::preview;
use iam_assurance_rules::{reconcile, sources};

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

/// The text of each audit file; `None` for an optional file not given. What [`load`] reads,
/// for callers that hold the texts already.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditTexts<'a> {
    pub authorization_details: &'a str,
    pub credential_report: &'a str,
    pub password_policy: Option<&'a str>,
    pub account_summary: Option<&'a str>,
    pub server_certificates: Option<&'a str>,
    pub virtual_mfa_devices: Option<&'a str>,
}

/// Which audit file an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditFile {
    AuthorizationDetails,
    CredentialReport,
    PasswordPolicy,
    AccountSummary,
    ServerCertificates,
    VirtualMfaDevices,
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

/// An ARN of another account than the inventory's, in a list of ARNs.
fn other_account<'a>(account: &str, arns: impl IntoIterator<Item = &'a str>) -> Option<(&'a str, &'a str)> {
    arns.into_iter().find_map(|arn| account_from_arn(arn).filter(|a| *a != account).map(|a| (a, arn)))
}

impl AuditTexts<'_> {
    /// Build the inventory. `Err` names the file and what is wrong with it.
    pub fn inventory(&self) -> Result<Inventory, (AuditFile, String)> {
        fn parsed<T>(
            file: AuditFile,
            text: &str,
            parse: impl FnOnce(&str) -> Result<T, sources::SourceError>,
        ) -> Result<T, (AuditFile, String)> {
            parse(text).map_err(|e| (file, e.0))
        }
        let (authorization, account, warnings) =
            parsed(AuditFile::AuthorizationDetails, self.authorization_details, sources::parse_authorization_details)?;
        let report = parsed(AuditFile::CredentialReport, self.credential_report, sources::parse_credential_report)?;
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
        reconcile::credential_report(&mut inventory).map_err(|e| (AuditFile::CredentialReport, e))?;

        match self.password_policy {
            Some(text) => inventory.password_policy = Some(parsed(AuditFile::PasswordPolicy, text, sources::parse_password_policy)?),
            None => inventory.record_gap(DataSource::PasswordPolicy, "not provided (pass --password-policy FILE)"),
        }
        match self.account_summary {
            Some(text) => inventory.account_summary = Some(parsed(AuditFile::AccountSummary, text, sources::parse_account_summary)?),
            None => inventory.record_gap(DataSource::AccountSummary, "not provided (pass --account-summary FILE)"),
        }
        match self.server_certificates {
            Some(text) => {
                let certificates = parsed(AuditFile::ServerCertificates, text, sources::parse_server_certificates)?;
                if let Some((other, arn)) = other_account(&inventory.account_id, certificates.iter().map(|c| c.arn.as_str())) {
                    let message = format!(
                        "server certificate {} is of account {other}, but the authorization details are of account {}",
                        preview(arn),
                        inventory.account_id
                    );
                    return Err((AuditFile::ServerCertificates, message));
                }
                inventory.server_certificates = Some(certificates);
            }
            None => inventory.record_gap(DataSource::ServerCertificates, "not provided (pass --server-certificates FILE)"),
        }
        match self.virtual_mfa_devices {
            Some(text) => {
                let devices = parsed(AuditFile::VirtualMfaDevices, text, sources::parse_virtual_mfa_devices)?;
                let arns = devices.iter().flat_map(|d| std::iter::once(d.serial_number.as_str()).chain(d.user_arn.as_deref()));
                if let Some((other, arn)) = other_account(&inventory.account_id, arns) {
                    let message = format!(
                        "virtual MFA device {} is of account {other}, but the authorization details are of account {}",
                        preview(arn),
                        inventory.account_id
                    );
                    return Err((AuditFile::VirtualMfaDevices, message));
                }
                inventory.virtual_mfa_devices = Some(devices);
            }
            None => inventory.record_gap(DataSource::VirtualMfaDevices, "not provided (pass --virtual-mfa-devices FILE)"),
        }
        inventory.record_gap(
            DataSource::ServiceLastAccessed,
            "not available offline (service-last-accessed jobs run only against a live account)",
        );
        inventory.record_gap(DataSource::CloudTrail, "no CloudTrail event in an offline audit");
        Ok(inventory)
    }
}
