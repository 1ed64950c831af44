//! The offline audit's inventory, from the text of the files the AWS CLI wrote: each file
//! parsed ([`crate::sources`]), the credential report reconciled with the authorization details
//! ([`crate::reconcile`]), every file checked to be of one account. The `audit` command reads
//! the files and calls [`AuditTexts::inventory`]; errors name the file they are about.

use crate::inventory::{account_from_arn, DataSource, Inventory};
use crate::pattern::preview;
use crate::{reconcile, sources};

/// The text of each audit file; `None` for an optional file not given.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditTexts<'a> {
    pub authorization_details: &'a str,
    pub credential_report: &'a str,
    pub password_policy: Option<&'a str>,
    pub account_summary: Option<&'a str>,
    pub server_certificates: Option<&'a str>,
    pub virtual_mfa_devices: Option<&'a str>,
    pub access_analyzers: Option<&'a str>,
    pub security_contact: Option<&'a str>,
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
    AccessAnalyzers,
    SecurityContact,
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
            None => inventory.record_not_provided(DataSource::PasswordPolicy, "not provided (pass --password-policy FILE)"),
        }
        match self.account_summary {
            Some(text) => inventory.account_summary = Some(parsed(AuditFile::AccountSummary, text, sources::parse_account_summary)?),
            None => inventory.record_not_provided(DataSource::AccountSummary, "not provided (pass --account-summary FILE)"),
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
            None => inventory.record_not_provided(DataSource::ServerCertificates, "not provided (pass --server-certificates FILE)"),
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
            None => inventory.record_not_provided(DataSource::VirtualMfaDevices, "not provided (pass --virtual-mfa-devices FILE)"),
        }
        match self.access_analyzers {
            Some(text) => inventory.access_analyzers = Some(parsed(AuditFile::AccessAnalyzers, text, sources::parse_access_analyzers)?),
            None => inventory.record_not_provided(DataSource::AccessAnalyzers, "not provided (pass --access-analyzers FILE)"),
        }
        match self.security_contact {
            Some(text) => inventory.security_contact = Some(parsed(AuditFile::SecurityContact, text, sources::parse_alternate_contact)?),
            None => inventory.record_not_provided(DataSource::SecurityContact, "not provided (pass --security-contact FILE)"),
        }
        inventory.record_not_provided(
            DataSource::ServiceLastAccessed,
            "not available offline (service-last-accessed jobs run only against a live account)",
        );
        inventory.record_not_provided(DataSource::CloudTrail, "no CloudTrail event in an offline audit");
        Ok(inventory)
    }
}
