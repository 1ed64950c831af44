//! One user's credentials read directly from IAM (the event path): a credential-report row
//! that is current, never up to 4 hours old like the account report.

use aws_sdk_iam::types::StatusType;
use chrono::{DateTime, SubsecRound, Utc};
use iam_assurance_rules::inventory::{CertSlot, CredentialReport, CredentialRow, CredentialSource, KeySlot, ReportDate, ReportFlag};

use crate::convert::{datetime, opt_datetime};
use crate::error::AwsFailure;

/// What [`fetch`] found: the report (one row, or none when the user no longer exists) and the
/// user's ARN (for the account id).
pub(crate) struct LiveCredentials {
    pub report: CredentialReport,
    pub arn: Option<String>,
    /// The user as GetUser describes it (name, ARN, boundary, tags), when it exists.
    pub user: Option<Box<iam_assurance_rules::inventory::User>>,
}

struct Key {
    id: String,
    active: bool,
    created: Option<DateTime<Utc>>,
}

struct Cert {
    active: bool,
    uploaded: Option<DateTime<Utc>>,
}

fn empty_report(now: DateTime<Utc>) -> CredentialReport {
    CredentialReport { generated_at: Some(now), source: CredentialSource::Live, root: None, users: Vec::new(), duplicates: Vec::new() }
}

/// A date of the row, to the second as the credential report gives it (IAM's API may answer
/// with fractions of a second): an event's finding says what a sweep's says.
fn at(time: Option<DateTime<Utc>>) -> ReportDate {
    time.map_or(ReportDate::Never, |t| ReportDate::At(t.trunc_subsecs(0)))
}

/// A read of one entity: `Ok(Some)` found, `Ok(None)` IAM says there is no such entity (deleted
/// since the event), `Err` why it could not be read (naming the operation).
pub type Lookup<T> = Result<Option<T>, String>;

/// `Ok(None)` for IAM's `NoSuchEntity`, else the failure's reason naming the operation.
pub(crate) fn gone_or<T>(failure: AwsFailure, operation: &str) -> Lookup<T> {
    if failure.is("NoSuchEntity") {
        Ok(None)
    } else {
        Err(failure.reason(operation))
    }
}

/// Which parts of a user's credentials to read on the event path. An event reads only what it
/// can have changed, and the handler evaluates only the rules over those parts: a part not
/// read is left empty in the row and no rule that needs it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialParts {
    /// GetLoginProfile: console password and when it was set.
    pub login_profile: bool,
    /// ListAccessKeys.
    pub access_keys: bool,
    /// GetAccessKeyLastUsed for each key (needs `access_keys`).
    pub key_last_used: bool,
    /// ListMFADevices.
    pub mfa_devices: bool,
    /// ListSigningCertificates.
    pub signing_certificates: bool,
}

impl CredentialParts {
    /// Everything.
    pub const ALL: CredentialParts =
        CredentialParts { login_profile: true, access_keys: true, key_last_used: true, mfa_devices: true, signing_certificates: true };
    /// Only GetUser (name, ARN, creation, password last used).
    pub const USER_ONLY: CredentialParts =
        CredentialParts { login_profile: false, access_keys: false, key_last_used: false, mfa_devices: false, signing_certificates: false };
}

impl Default for CredentialParts {
    fn default() -> Self {
        CredentialParts::ALL
    }
}

async fn when<T: Default>(wanted: bool, step: impl std::future::Future<Output = Lookup<T>>) -> Lookup<T> {
    if wanted {
        step.await
    } else {
        Ok(Some(T::default()))
    }
}

/// Read one user's credentials (the parts asked for). `Err` is the gap reason.
pub(crate) async fn fetch(iam: &aws_sdk_iam::Client, user_name: &str, parts: CredentialParts) -> Result<LiveCredentials, String> {
    let now = Utc::now();
    let user = match iam.get_user().user_name(user_name).send().await {
        Ok(out) => match out.user() {
            Some(user) => user.clone(),
            None => return Err(format!("GetUser returned no User for {user_name}")),
        },
        Err(err) => {
            let failure = AwsFailure::from_sdk(&err);
            if failure.is("NoSuchEntity") {
                return Ok(LiveCredentials { report: empty_report(now), arn: None, user: None });
            }
            return Err(failure.reason("GetUser"));
        }
    };

    let (login, keys, mfa, certs) = tokio::join!(
        when(parts.login_profile, login_profile(iam, user_name)),
        when(parts.access_keys, access_keys(iam, user_name)),
        when(parts.mfa_devices, mfa_active(iam, user_name)),
        when(parts.signing_certificates, certificates(iam, user_name))
    );
    let (Some(login), Some(mut keys), Some(mfa_active), Some(mut certs)) = (login?, keys?, mfa?, certs?) else {
        // Deleted while we were reading it.
        return Ok(LiveCredentials { report: empty_report(now), arn: Some(user.arn().to_owned()), user: None });
    };

    keys.sort_by_key(|k| k.created);
    keys.truncate(2);
    certs.sort_by_key(|c| c.uploaded);
    certs.truncate(2);

    // Last use of each key (at most two calls).
    let mut last_used = Vec::with_capacity(keys.len());
    for key in keys.iter().filter(|_| parts.key_last_used) {
        match iam.get_access_key_last_used().access_key_id(&key.id).send().await {
            Ok(out) => last_used.push(opt_datetime(out.access_key_last_used().and_then(|u| u.last_used_date()))),
            Err(err) => {
                let failure = AwsFailure::from_sdk(&err);
                if failure.is("NoSuchEntity") {
                    // The key was deleted since it was listed: it no longer counts.
                    last_used.push(None);
                } else {
                    return Err(failure.reason("GetAccessKeyLastUsed"));
                }
            }
        }
    }

    let key_slot = |i: usize| match keys.get(i) {
        Some(key) => KeySlot {
            slot: i as u8 + 1,
            active: key.active,
            last_rotated: at(key.created),
            last_used: at(last_used.get(i).copied().flatten()),
        },
        None => KeySlot { slot: i as u8 + 1, active: false, last_rotated: ReportDate::Never, last_used: ReportDate::Never },
    };
    let cert_slot = |i: usize| match certs.get(i) {
        Some(cert) => CertSlot { slot: i as u8 + 1, active: cert.active, last_rotated: at(cert.uploaded) },
        None => CertSlot { slot: i as u8 + 1, active: false, last_rotated: ReportDate::Never },
    };
    let row = CredentialRow {
        user: user.user_name().to_owned(),
        arn: user.arn().to_owned(),
        user_creation_time: datetime(user.create_date()).map(|t| t.trunc_subsecs(0)),
        password_enabled: match login {
            _ if !parts.login_profile => ReportFlag::NotRead,
            Some(_) => ReportFlag::True,
            None => ReportFlag::False,
        },
        password_last_used: at(opt_datetime(user.password_last_used())),
        password_last_changed: at(login.flatten()),
        mfa_active,
        access_keys: [key_slot(0), key_slot(1)],
        certs: [cert_slot(0), cert_slot(1)],
    };
    let mut report = empty_report(now);
    report.users.push(row);
    Ok(LiveCredentials { report, arn: Some(user.arn().to_owned()), user: Some(Box::new(crate::convert::user_from_sdk(&user))) })
}

/// Whether a user (known to exist) has a console password: GetLoginProfile. `Some(None)`: no
/// console password; `Some(Some(t))`: a password set at `t` (when known). `Err` names the
/// operation and the AWS error.
pub async fn login_profile(iam: &aws_sdk_iam::Client, user_name: &str) -> Lookup<Option<Option<DateTime<Utc>>>> {
    match iam.get_login_profile().user_name(user_name).send().await {
        Ok(out) => Ok(Some(Some(out.login_profile().and_then(|p| datetime(p.create_date()))))),
        // NoSuchEntity here means "no password" (the user itself was found by GetUser).
        Err(err) => {
            let failure = AwsFailure::from_sdk(&err);
            if failure.is("NoSuchEntity") {
                Ok(Some(None))
            } else {
                Err(failure.reason("GetLoginProfile"))
            }
        }
    }
}

async fn access_keys(iam: &aws_sdk_iam::Client, user_name: &str) -> Lookup<Vec<Key>> {
    let mut keys = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match iam.list_access_keys().user_name(user_name).set_marker(marker.take()).send().await {
            Ok(out) => out,
            Err(err) => return gone_or(AwsFailure::from_sdk(&err), "ListAccessKeys"),
        };
        for k in out.access_key_metadata() {
            let Some(id) = k.access_key_id().filter(|id| !id.is_empty()) else { continue };
            keys.push(Key { id: id.to_owned(), active: k.status() == Some(&StatusType::Active), created: opt_datetime(k.create_date()) });
        }
        match next_marker(out.is_truncated(), out.marker(), "ListAccessKeys")? {
            Some(next) => marker = Some(next),
            None => return Ok(Some(keys)),
        }
    }
}

async fn mfa_active(iam: &aws_sdk_iam::Client, user_name: &str) -> Lookup<bool> {
    // One device is enough to know: a single page (no need to follow the marker).
    match iam.list_mfa_devices().user_name(user_name).send().await {
        Ok(out) => Ok(Some(!out.mfa_devices().is_empty())),
        Err(err) => gone_or(AwsFailure::from_sdk(&err), "ListMFADevices"),
    }
}

async fn certificates(iam: &aws_sdk_iam::Client, user_name: &str) -> Lookup<Vec<Cert>> {
    let mut certs = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let out = match iam.list_signing_certificates().user_name(user_name).set_marker(marker.take()).send().await {
            Ok(out) => out,
            Err(err) => return gone_or(AwsFailure::from_sdk(&err), "ListSigningCertificates"),
        };
        for c in out.certificates() {
            certs.push(Cert { active: *c.status() == StatusType::Active, uploaded: opt_datetime(c.upload_date()) });
        }
        match next_marker(out.is_truncated(), out.marker(), "ListSigningCertificates")? {
            Some(next) => marker = Some(next),
            None => return Ok(Some(certs)),
        }
    }
}

/// The marker of the next page, `None` when this was the last, `Err` for a truncated page
/// without a marker (which would otherwise loop forever or silently drop data).
pub(crate) fn next_marker(truncated: bool, marker: Option<&str>, operation: &str) -> Result<Option<String>, String> {
    if !truncated {
        return Ok(None);
    }
    match marker.filter(|m| !m.is_empty()) {
        Some(m) => Ok(Some(m.to_owned())),
        None => Err(format!("{operation} returned IsTruncated without a Marker")),
    }
}
