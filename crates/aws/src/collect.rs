//! Inventory collection: what to read ([`Collection`]) and [`collect`], which reads it.
//!
//! Calls per source (`n` = pages; IAM lists are paginated):
//!
//! | source | calls |
//! |---|---|
//! | authorization details | GetAccountAuthorizationDetails × n (MaxItems 1000) |
//! | credential report | GenerateCredentialReport × 1+ (until `COMPLETE`), GetCredentialReport × 1 |
//! | one user's credentials | GetUser, GetLoginProfile, ListAccessKeys, ListMFADevices, ListSigningCertificates, GetAccessKeyLastUsed per key (≤ 2) |
//! | account summary | GetAccountSummary |
//! | password policy | GetAccountPasswordPolicy |
//! | server certificates | ListServerCertificates × n |
//! | virtual MFA devices | ListVirtualMFADevices × n |
//! | service last accessed | per user and non-service-linked role: GenerateServiceLastAccessedDetails + GetServiceLastAccessedDetails × polls |
//! | access analyzers | account:ListRegions × n (unless the regions are given), accessanalyzer:ListAnalyzers × n per region |
//! | security contact | account:GetAlternateContact |
//!
//! Concurrency is fixed and small: the authorization details, the credential data and the
//! small sources (read one after the other) proceed side by side, at most three requests at
//! a time, plus at most four service-last-accessed jobs once the principals are known.

use std::collections::BTreeMap;

use aws_sdk_iam::types::{AssignmentStatusType, EntityType};
use iam_assurance_rules::inventory::{
    AccountSummary, AuthorizationDetails, CredentialReport, DataSource, Inventory, PasswordPolicy, ServerCertificate, VirtualMfaDevice,
    ROOT_ROW_USER,
};
use iam_assurance_rules::sources::account_summary_from_map;

use crate::convert::{opt_datetime, AadBuilder, AccountHint};
use crate::credentials::{next_marker, CredentialParts};
use crate::deadline::Deadline;
use crate::error::AwsFailure;
use crate::{credential_report, credentials, service_access, Clients};

/// Which users, groups, roles and managed policies to read (GetAccountAuthorizationDetails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthScope {
    /// Do not read them.
    #[default]
    None,
    /// Everything: users, groups, roles, customer managed policies, and the AWS managed
    /// policies that are attached (with their documents).
    Full,
    /// Users, groups, roles and customer managed policies only (`Filter` = User, Role, Group,
    /// LocalManagedPolicy): much smaller responses. AWS managed policies attached to entities
    /// are still listed on those entities, without documents.
    NoAwsManaged,
}

/// What [`collect`] reads: which data sources. Each flag is one data source; a source not asked for is left
/// `None` in the inventory with no gap recorded (the rules report it "not collected").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Collection {
    /// Users, groups, roles and managed policies.
    pub authorization: AuthScope,
    /// The account credential report (up to 4 hours old).
    pub credential_report: bool,
    /// Read this one user's credentials live instead (event path): the inventory's
    /// `credential_report` then holds a single current row (no row if the user no longer
    /// exists), and `credential_report` above is ignored.
    pub user_credentials: Option<String>,
    /// Which parts of that user's credentials to read (default: all).
    pub user_credential_parts: CredentialParts,
    /// GetAccountSummary.
    pub account_summary: bool,
    /// GetAccountPasswordPolicy.
    pub password_policy: bool,
    /// ListServerCertificates.
    pub server_certificates: bool,
    /// ListVirtualMFADevices (every device, assigned or not).
    pub virtual_mfa_devices: bool,
    /// Service-last-accessed jobs for every user and non-service-linked role. Needs
    /// `authorization` (to know the principals); costs at least two calls per principal.
    pub service_last_accessed: bool,
    /// IAM Access Analyzer's analyzers, region by region.
    pub access_analyzers: bool,
    /// The regions whose analyzers to read; empty: every region the account has enabled
    /// (account:ListRegions).
    pub access_analyzer_regions: Vec<String>,
    /// The security alternate contact (account:GetAlternateContact).
    pub security_contact: bool,
}

impl Collection {
    /// Everything a full sweep of the catalog needs, except the opt-in service-last-accessed
    /// jobs (set `service_last_accessed` when a rule that uses them is enabled).
    pub fn full_sweep() -> Self {
        Collection {
            authorization: AuthScope::Full,
            credential_report: true,
            user_credentials: None,
            user_credential_parts: CredentialParts::ALL,
            account_summary: true,
            password_policy: true,
            server_certificates: true,
            virtual_mfa_devices: true,
            service_last_accessed: false,
            access_analyzers: true,
            access_analyzer_regions: Vec::new(),
            security_contact: true,
        }
    }
}

/// Collect the inventory the plan asks for, from IAM, before `deadline`.
///
/// Never fails as a whole: a source that cannot be read (an AWS error, an unsupported API, the
/// time budget running out) is left `None` and its reason — naming the operation and the AWS
/// error code and message — is recorded with [`Inventory::record_gap`]; the other sources are
/// still collected. Policy documents that cannot be parsed are listed in
/// [`Inventory::warnings`]. No wait goes past `deadline`.
///
/// The account id and partition come from the ARNs read (users, groups, roles, customer
/// managed policies, credential report rows, server certificates, MFA devices); when nothing
/// names the account, `account_id` is left empty for the caller to fill.
///
/// Every HTTP request is counted in `clients.counter` as `iam:<Operation>`.
pub async fn collect(clients: &Clients, plan: &Collection, deadline: std::time::Instant) -> Inventory {
    let deadline = Deadline::from_std(deadline);
    let iam = &clients.iam;

    let principals_and_activity = async {
        let aad = match plan.authorization {
            AuthScope::None => None,
            scope => Some(deadline.run("GetAccountAuthorizationDetails", authorization_details(iam, scope)).await),
        };
        let sla = if plan.service_last_accessed {
            Some(match &aad {
                Some(Ok((details, _, _))) => {
                    let principals = principals(details);
                    deadline.run("the service-last-accessed jobs", service_access::fetch(iam, principals, deadline)).await
                }
                Some(Err(_)) => Err("needs the list of users and roles, which could not be read".to_owned()),
                None => Err("needs the list of users and roles, which this run did not read".to_owned()),
            })
        } else {
            None
        };
        (aad, sla)
    };

    let credentials = async {
        if let Some(user) = &plan.user_credentials {
            Some(Credentials::Live(
                deadline.run("reading the user's credentials", credentials::fetch(iam, user, plan.user_credential_parts)).await,
            ))
        } else if plan.credential_report {
            Some(Credentials::Report(deadline.run("the credential report", credential_report::fetch(iam, deadline)).await))
        } else {
            None
        }
    };

    let small = async {
        let summary = if plan.account_summary { Some(deadline.run("GetAccountSummary", account_summary(iam)).await) } else { None };
        let password = if plan.password_policy { Some(deadline.run("GetAccountPasswordPolicy", password_policy(iam)).await) } else { None };
        let certificates =
            if plan.server_certificates { Some(deadline.run("ListServerCertificates", server_certificates(iam)).await) } else { None };
        let mfa = if plan.virtual_mfa_devices { Some(deadline.run("ListVirtualMFADevices", virtual_mfa_devices(iam)).await) } else { None };
        (summary, password, certificates, mfa)
    };

    let outside_iam = async {
        let analyzers = if plan.access_analyzers {
            Some(
                deadline
                    .run("the Access Analyzer analyzers", crate::account::access_analyzers(clients, &plan.access_analyzer_regions))
                    .await,
            )
        } else {
            None
        };
        let contact = if plan.security_contact {
            Some(deadline.run("GetAlternateContact", crate::account::security_contact(clients)).await)
        } else {
            None
        };
        (analyzers, contact)
    };

    let ((aad, sla), credentials, (summary, password, certificates, mfa), (analyzers, contact)) =
        tokio::join!(principals_and_activity, credentials, small, outside_iam);

    let mut inventory = Inventory::new("");
    let mut hint = AccountHint::default();

    if let Some(result) = aad {
        match result {
            Ok((details, aad_hint, warnings)) => {
                hint.merge(&aad_hint);
                inventory.warnings.extend(warnings);
                inventory.authorization = Some(details);
            }
            Err(reason) => inventory.record_gap(DataSource::AuthorizationDetails, reason),
        }
    }
    if let Some(result) = sla {
        match result {
            Ok(map) => inventory.service_last_accessed = Some(map),
            Err(reason) => inventory.record_gap(DataSource::ServiceLastAccessed, reason),
        }
    }
    match credentials {
        Some(Credentials::Live(Ok(found))) => {
            if let Some(arn) = &found.arn {
                hint.note(arn);
            }
            inventory.credential_report = Some(found.report);
            // The user as GetUser read it (tags included), as a partial view, when the account's
            // authorization details were not asked for.
            if let (Some(user), AuthScope::None) = (found.user, plan.authorization) {
                inventory.authorization = Some(AuthorizationDetails { users: vec![*user], complete: false, ..Default::default() });
            }
        }
        Some(Credentials::Report(Ok(report))) => {
            note_report(&mut hint, &report);
            inventory.credential_report = Some(report);
        }
        Some(Credentials::Live(Err(reason)) | Credentials::Report(Err(reason))) => {
            inventory.record_gap(DataSource::CredentialReport, reason)
        }
        None => {}
    }
    if let Some(result) = summary {
        match result {
            Ok(summary) => inventory.account_summary = Some(summary),
            Err(reason) => inventory.record_gap(DataSource::AccountSummary, reason),
        }
    }
    if let Some(result) = password {
        match result {
            Ok(policy) => inventory.password_policy = Some(policy),
            Err(reason) => inventory.record_gap(DataSource::PasswordPolicy, reason),
        }
    }
    if let Some(result) = certificates {
        match result {
            Ok(certs) => {
                for c in &certs {
                    hint.note(&c.arn);
                }
                inventory.server_certificates = Some(certs);
            }
            Err(reason) => inventory.record_gap(DataSource::ServerCertificates, reason),
        }
    }
    if let Some(result) = mfa {
        match result {
            Ok(devices) => {
                for d in &devices {
                    hint.note(&d.serial_number);
                    if let Some(arn) = &d.user_arn {
                        hint.note(arn);
                    }
                }
                inventory.virtual_mfa_devices = Some(devices);
            }
            Err(reason) => inventory.record_gap(DataSource::VirtualMfaDevices, reason),
        }
    }

    if let Some(result) = analyzers {
        match result {
            Ok(found) => inventory.access_analyzers = Some(found),
            Err(reason) => inventory.record_gap(DataSource::AccessAnalyzers, reason),
        }
    }
    if let Some(result) = contact {
        match result {
            Ok(found) => inventory.security_contact = Some(found),
            Err(reason) => inventory.record_gap(DataSource::SecurityContact, reason),
        }
    }

    // Rows of users deleted since the report are dropped, users created since it are named.
    if let Err(reason) = iam_assurance_rules::reconcile::credential_report(&mut inventory) {
        inventory.credential_report = None;
        inventory.record_gap(DataSource::CredentialReport, reason);
    }
    if let Some(account) = hint.account_id {
        inventory.account_id = account;
    }
    if let Some(partition) = hint.partition {
        inventory.partition = partition;
    }
    inventory
}

enum Credentials {
    Live(Result<credentials::LiveCredentials, String>),
    Report(Result<CredentialReport, String>),
}

fn note_report(hint: &mut AccountHint, report: &CredentialReport) {
    if let Some(root) = &report.root {
        hint.note(&root.arn);
    }
    for row in report.users.iter().filter(|r| r.user != ROOT_ROW_USER) {
        hint.note(&row.arn);
        if hint.account_id.is_some() {
            break;
        }
    }
}

/// Users and the roles that are not service-linked: the principals with service activity
/// worth checking.
fn principals(details: &AuthorizationDetails) -> Vec<String> {
    details
        .users
        .iter()
        .map(|u| u.arn.clone())
        .chain(details.roles.iter().filter(|r| !r.is_service_linked()).map(|r| r.arn.clone()))
        .collect()
}

/// Upper bound on pages of one listing: far above any real account, it only stops an endpoint
/// that keeps answering "truncated".
const MAX_PAGES: usize = 10_000;

async fn authorization_details(
    iam: &aws_sdk_iam::Client,
    scope: AuthScope,
) -> Result<(AuthorizationDetails, AccountHint, Vec<String>), String> {
    let filter = match scope {
        AuthScope::NoAwsManaged => Some(vec![EntityType::User, EntityType::Role, EntityType::Group, EntityType::LocalManagedPolicy]),
        _ => None,
    };
    let mut builder = AadBuilder::default();
    let mut marker: Option<String> = None;
    for page in 1..=MAX_PAGES {
        let out = iam
            .get_account_authorization_details()
            .max_items(1000)
            .set_filter(filter.clone())
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|err| {
                let reason = AwsFailure::from_sdk(&err).reason("GetAccountAuthorizationDetails");
                if page > 1 {
                    format!("{reason} (page {page})")
                } else {
                    reason
                }
            })?;
        builder.page(out.user_detail_list(), out.group_detail_list(), out.role_detail_list(), out.policies());
        match next_marker(out.is_truncated(), out.marker(), "GetAccountAuthorizationDetails")? {
            Some(next) if marker.as_deref() == Some(next.as_str()) => {
                return Err(format!("GetAccountAuthorizationDetails returned the same Marker twice (page {page})"))
            }
            Some(next) => marker = Some(next),
            None => return Ok(builder.finish(true)),
        }
    }
    Err(format!("GetAccountAuthorizationDetails was still truncated after {MAX_PAGES} pages"))
}

/// GetAccountSummary.
pub async fn account_summary(iam: &aws_sdk_iam::Client) -> Result<AccountSummary, String> {
    let out = iam.get_account_summary().send().await.map_err(|e| AwsFailure::from_sdk(&e).reason("GetAccountSummary"))?;
    let map: BTreeMap<String, i64> =
        out.summary_map().map(|m| m.iter().map(|(k, v)| (k.as_str().to_owned(), i64::from(*v))).collect()).unwrap_or_default();
    Ok(account_summary_from_map(map))
}

/// `Ok(None)`: the account has no password policy (NoSuchEntity).
async fn password_policy(iam: &aws_sdk_iam::Client) -> Result<Option<PasswordPolicy>, String> {
    let out = match iam.get_account_password_policy().send().await {
        Ok(out) => out,
        Err(err) => {
            let failure = AwsFailure::from_sdk(&err);
            if failure.is("NoSuchEntity") {
                return Ok(None);
            }
            return Err(failure.reason("GetAccountPasswordPolicy"));
        }
    };
    let Some(p) = out.password_policy() else { return Ok(None) };
    let positive = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
    let max_password_age = positive(p.max_password_age());
    Ok(Some(PasswordPolicy {
        minimum_password_length: positive(p.minimum_password_length()),
        require_symbols: p.require_symbols(),
        require_numbers: p.require_numbers(),
        require_uppercase_characters: p.require_uppercase_characters(),
        require_lowercase_characters: p.require_lowercase_characters(),
        allow_users_to_change_password: p.allow_users_to_change_password(),
        expire_passwords: p.expire_passwords() || max_password_age.is_some_and(|d| d > 0),
        max_password_age,
        password_reuse_prevention: positive(p.password_reuse_prevention()),
        hard_expiry: p.hard_expiry().unwrap_or(false),
    }))
}

async fn server_certificates(iam: &aws_sdk_iam::Client) -> Result<Vec<ServerCertificate>, String> {
    let mut certs = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = iam
            .list_server_certificates()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).reason("ListServerCertificates"))?;
        for c in out.server_certificate_metadata_list() {
            certs.push(ServerCertificate {
                name: c.server_certificate_name().to_owned(),
                arn: c.arn().to_owned(),
                path: c.path().to_owned(),
                upload_date: opt_datetime(c.upload_date()),
                expiration: opt_datetime(c.expiration()),
            });
        }
        match next_marker(out.is_truncated(), out.marker(), "ListServerCertificates")? {
            Some(next) => marker = Some(next),
            None => return Ok(certs),
        }
    }
    Err(format!("ListServerCertificates was still truncated after {MAX_PAGES} pages"))
}

async fn virtual_mfa_devices(iam: &aws_sdk_iam::Client) -> Result<Vec<VirtualMfaDevice>, String> {
    let mut devices = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = iam
            .list_virtual_mfa_devices()
            .assignment_status(AssignmentStatusType::Any)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk(&e).reason("ListVirtualMFADevices"))?;
        for d in out.virtual_mfa_devices() {
            devices.push(VirtualMfaDevice {
                serial_number: d.serial_number().to_owned(),
                user_arn: d.user().map(|u| u.arn()).filter(|a| !a.is_empty()).map(str::to_owned),
            });
        }
        match next_marker(out.is_truncated(), out.marker(), "ListVirtualMFADevices")? {
            Some(next) => marker = Some(next),
            None => return Ok(devices),
        }
    }
    Err(format!("ListVirtualMFADevices was still truncated after {MAX_PAGES} pages"))
}
