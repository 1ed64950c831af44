//! Root account rules: the credential report's `<root_account>` row, with the live account
//! summary where it is fresher.
//!
//! The credential report can be up to 4 hours old; GetAccountSummary is live. Where both say
//! something about the same fact (keys present, certificates present, MFA enabled), the
//! summary decides and the report supplies the details (dates). A report without a
//! `<root_account>` row (AWS always writes one; emulators do not) makes these rules
//! `not_evaluated` rather than a silent pass.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::inventory::{CredentialRow, CredentialSlot, DataSource, ReportDate};
use crate::rule::*;

use super::{day, days, overdue, MaxAge, Overdue};

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![
        &ROOT_ACCESS_KEYS,
        &ROOT_ACCESS_KEY_ROTATION,
        &ROOT_SIGNING_CERTIFICATES,
        &ROOT_SIGNING_CERTIFICATE_ROTATION,
        &ROOT_MFA,
        &ROOT_PASSWORD_ROTATION,
        &ROOT_USAGE,
    ]
}

/// The root row, or why there is none.
pub(crate) fn root_row<'a>(ctx: &Ctx<'a>) -> Result<&'a CredentialRow, NotEvaluated> {
    ctx.credential_report()?.root.as_ref().ok_or_else(|| {
        NotEvaluated::unreadable(
            "the credential report has no <root_account> row (AWS always includes it; the report looks truncated or comes from an emulator)"
                ,
        )
    })
}

/// Guard for the rules the live account summary can decide: a credential report that was
/// collected but lacks the `<root_account>` row is inconsistent data (AWS always writes the
/// row), so those rules say `not_evaluated` rather than trusting the summary alone. With no
/// report at all (it could not be generated), the summary decides.
fn report_consistent(ctx: &Ctx<'_>) -> Result<(), NotEvaluated> {
    if ctx.inventory.credential_report.is_some() {
        root_row(ctx)?;
    }
    Ok(())
}

/// The root user's active keys or certificates, when it has any (`None`: it has none). The live
/// account summary (`summary`) decides when present, else the report's root row: the summary
/// may know of credentials created after the last credential report (then the list is empty).
fn root_credentials<'a, S: CredentialSlot>(
    ctx: &Ctx<'a>,
    summary: Option<bool>,
    slots: fn(&'a CredentialRow) -> &'a [S],
) -> Result<Option<Vec<&'a S>>, NotEvaluated> {
    report_consistent(ctx)?;
    let row = root_row(ctx);
    let active: Vec<&S> = row.as_ref().map(|r| slots(r).iter().filter(|s| s.active()).collect()).unwrap_or_default();
    let present = match (summary, &row) {
        (Some(present), _) => present,
        (None, Ok(_)) => !active.is_empty(),
        (None, Err(reason)) => return Err(reason.clone()),
    };
    Ok(present.then_some(active))
}

/// `key 1 created 2026-01-02 (325 days ago), key 2`, or what the summary says.
fn describe_root_credentials<S: CredentialSlot>(ctx: &Ctx<'_>, active: &[&S], noun: &str, verb: &str, plural: &str) -> String {
    if active.is_empty() {
        let when = if verb == "created" { "created" } else { "uploaded" };
        return format!("the account summary reports root {plural} ({when} after the last credential report)");
    }
    active
        .iter()
        .map(|s| match s.since() {
            Some(t) => format!("{noun} {} {verb} {} ({} ago)", s.slot(), day(t), days(ctx.days_since(t))),
            None => format!("{noun} {}", s.slot()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub static ROOT_ACCESS_KEYS: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "root-access-keys",
        title: "Root account has access keys",
        severity: Severity::Critical,
        resource_type: ResourceType::Account,
        description: "The root user has an active access key.",
        rationale: "Root access keys give unrestricted, unscoped API access to the whole account and cannot be limited by any policy; a leaked root key is a full account compromise.",
        remediation: "Sign in as root, open Security credentials, and delete the root access keys (root keys cannot be managed with IAM API calls made by other principals). Use IAM roles or users with least privilege for API access.",
        standards: &["CIS AWS Foundations 1.4", "AWS Security Hub IAM.4", "Cloudanix IAM checklist: Root Account Should Not Have Access Keys"],
        controls: &[Control::cis3("1.4"), Control::cis4("1.4"), Control::cis5("1.3"), Control::fsbp("IAM.4")],
        data: &[DataSource::CredentialReport, DataSource::AccountSummary],
        requires: Requires::Any(&[DataSource::CredentialReport, DataSource::AccountSummary]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let summary = ctx.inventory.account_summary.as_ref().and_then(|s| s.account_access_keys_present);
        let Some(active) = root_credentials(ctx, summary, |r| &r.access_keys)? else { return Ok(vec![]) };
        let detail = describe_root_credentials(ctx, &active, "key", "created", "access keys");
        let keys = active.iter().map(|k| json!({"slot": k.slot, "created": k.last_rotated.at()})).collect::<Vec<_>>();
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            "root",
            format!("The root user of account {} has active access keys: {detail}.", ctx.account_id()),
            "Sign in to the AWS console as the root user, open 'Security credentials', and delete every access key under 'Access keys'. \
There is no IAM API another principal can call to delete root keys; then confirm with: aws iam get-account-summary --query 'SummaryMap.AccountAccessKeysPresent'",
        )
        .details(json!({"active_keys": keys}))])
    },
};

/// Date and time for messages: `2026-11-23 09:15 UTC`.
fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

const ROOT_CONSOLE: &str = "Sign in to the AWS console as the root user and open 'Security credentials'";

pub static ROOT_ACCESS_KEY_ROTATION: RuleDef<MaxAge> = RuleDef {
    meta: Meta {
        id: "root-access-key-rotation",
        title: "Root access key not rotated",
        severity: Severity::High,
        resource_type: ResourceType::Account,
        description: "An active root access key was created more than `max_age_days` days ago.",
        rationale: "Root should have no access keys at all; one that exists and has lived for months has had that long to be copied, \
logged or leaked, and gives unrestricted access to the whole account.",
        remediation: "Delete the root access key (preferred: use IAM roles or users for API access). If one must exist, create a new \
root key, move its users to it, then deactivate and delete the old one.",
        standards: &["Cloudanix IAM checklist: Root Account Access Keys Should Be Rotated", "CIS AWS Foundations 1.4"],
        controls: &[],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ACCESS_KEY_SLOTS,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc { name: "max_age_days", description: "Maximum age in days of an active root access key (default 90)." }],
    },
    check: |ctx, p| {
        let row = root_row(ctx)?;
        let max = i64::from(p.max_age_days);
        let mut hits = Vec::new();
        for Overdue { slot: k, since: created, age } in overdue(ctx, &row.access_keys, p.max_age_days) {
            hits.push(
                Hit::new(
                    ResourceType::Account,
                    ctx.root_arn(),
                    "root",
                    format!(
                        "Root access key {} of account {} was created on {} ({} ago), more than the {} allowed.",
                        k.slot,
                        ctx.account_id(),
                        day(created),
                        days(age),
                        days(max)
                    ),
                    format!(
                        "{ROOT_CONSOLE}. Root should have no access keys: delete access key {slot} under 'Access keys' after moving its users \
to an IAM role. If a root key is truly required, create a new one there, switch its users to it, then deactivate and delete key {slot}. \
Confirm with: aws iam get-account-summary --query 'SummaryMap.AccountAccessKeysPresent'",
                        slot = k.slot
                    ),
                )
                .discriminator(format!("key-{}", k.slot))
                .details(json!({"slot": k.slot, "created": created, "age_days": age, "max_age_days": p.max_age_days})),
            );
        }
        Ok(hits)
    },
};

pub static ROOT_SIGNING_CERTIFICATES: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "root-signing-certificates",
        title: "Root account has signing certificates",
        severity: Severity::High,
        resource_type: ResourceType::Account,
        description: "The root user has an active X.509 signing certificate.",
        rationale: "A signing certificate lets its holder sign API requests as root, with unrestricted access that no policy can limit; \
certificates should not be tied to the root user.",
        remediation: "Sign in as root, open Security credentials, and delete the X.509 certificates. Issue certificates to IAM users \
that need them instead.",
        standards: &["Cloudanix IAM checklist: Certificates Should Not Be Tied With Root Account"],
        controls: &[],
        data: &[DataSource::CredentialReport, DataSource::AccountSummary],
        requires: Requires::Any(&[DataSource::CredentialReport, DataSource::AccountSummary]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let summary = ctx.inventory.account_summary.as_ref().and_then(|s| s.account_signing_certificates_present);
        let Some(active) = root_credentials(ctx, summary, |r| &r.certs)? else { return Ok(vec![]) };
        let detail = describe_root_credentials(ctx, &active, "certificate", "uploaded", "signing certificates");
        let certs = active.iter().map(|c| json!({"slot": c.slot, "uploaded": c.last_rotated.at()})).collect::<Vec<_>>();
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            "root",
            format!("The root user of account {} has active X.509 signing certificates: {detail}.", ctx.account_id()),
            format!(
                "{ROOT_CONSOLE}, and delete every certificate under 'X.509 certificate'. Issue certificates to the IAM users that need \
them instead (aws iam upload-signing-certificate --user-name USER --certificate-body file://cert.pem). Confirm with: \
aws iam get-account-summary --query 'SummaryMap.AccountSigningCertificatesPresent'"
            ),
        )
        .details(json!({"active_certificates": certs, "summary_says_present": summary}))])
    },
};

pub static ROOT_SIGNING_CERTIFICATE_ROTATION: RuleDef<MaxAge> = RuleDef {
    meta: Meta {
        id: "root-signing-certificate-rotation",
        title: "Root signing certificate not rotated",
        severity: Severity::Medium,
        resource_type: ResourceType::Account,
        description: "An active root X.509 signing certificate was uploaded more than `max_age_days` days ago.",
        rationale: "A long-lived root signing certificate has had that long to be copied or leaked, and signs requests with \
unrestricted access to the account.",
        remediation: "Delete the root signing certificate (preferred), or replace it with a new one and delete the old one.",
        standards: &["Cloudanix IAM checklist: Root Account Certificates Should Be Rotated"],
        controls: &[],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::CERTIFICATE_SLOTS,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "max_age_days",
            description: "Maximum age in days of an active root signing certificate (default 90).",
        }],
    },
    check: |ctx, p| {
        let row = root_row(ctx)?;
        let max = i64::from(p.max_age_days);
        let mut hits = Vec::new();
        for Overdue { slot: c, since: uploaded, age } in overdue(ctx, &row.certs, p.max_age_days) {
            hits.push(
                Hit::new(
                    ResourceType::Account,
                    ctx.root_arn(),
                    "root",
                    format!(
                        "Root signing certificate {} of account {} was uploaded on {} ({} ago), more than the {} allowed.",
                        c.slot,
                        ctx.account_id(),
                        day(uploaded),
                        days(age),
                        days(max)
                    ),
                    format!(
                        "{ROOT_CONSOLE}. Root should have no signing certificates: delete certificate {slot} under 'X.509 certificate'. \
If one is truly required, upload a new certificate there, switch its users to it, then deactivate and delete certificate {slot}.",
                        slot = c.slot
                    ),
                )
                .discriminator(format!("cert-{}", c.slot))
                .details(json!({"slot": c.slot, "uploaded": uploaded, "age_days": age, "max_age_days": p.max_age_days})),
            );
        }
        Ok(hits)
    },
};

/// Parameters of `root-mfa`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RootMfaParams {
    pub require_hardware: bool,
}

impl Params for RootMfaParams {
    /// The virtual MFA devices tell virtual from hardware MFA: needed only to require hardware.
    fn reads(&self, source: DataSource) -> bool {
        source != DataSource::VirtualMfaDevices || self.require_hardware
    }
}

/// The serial number AWS gives the virtual MFA device of the root user.
const ROOT_VIRTUAL_MFA_SUFFIX: &str = ":mfa/root-account-mfa-device";

pub static ROOT_MFA: RuleDef<RootMfaParams> = RuleDef {
    meta: Meta {
        id: "root-mfa",
        title: "Root account has no MFA",
        severity: Severity::Critical,
        resource_type: ResourceType::Account,
        description: "The root user has no MFA device (with `require_hardware`: or only a virtual one).",
        rationale: "Without MFA, the root password alone gives unrestricted control of the account, including closing it; a phished \
or reused password is a full account compromise.",
        remediation: "Sign in as root, open Security credentials, and assign an MFA device (a hardware key or FIDO security key for the \
strongest protection).",
        standards: &[
            "CIS AWS Foundations 1.5",
            "CIS AWS Foundations 1.6",
            "AWS Security Hub IAM.9",
            "AWS Security Hub IAM.6",
            "Cloudanix IAM checklist: Root account Should Have MFA",
        ],
        controls: &[
            Control::cis3("1.5"),
            Control::cis3("1.6"),
            Control::cis4("1.5"),
            Control::cis4("1.6"),
            Control::cis5("1.4"),
            Control::cis5("1.5"),
            Control::fsbp("IAM.6"),
        ],
        data: &[DataSource::CredentialReport, DataSource::AccountSummary, DataSource::VirtualMfaDevices],
        requires: Requires::Any(&[DataSource::CredentialReport, DataSource::AccountSummary]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "require_hardware",
            description: "Also fail when root's MFA is a virtual (app) device instead of a hardware or FIDO device (CIS 1.6); \
needs the list of virtual MFA devices (default false).",
        }],
    },
    check: |ctx, p| {
        report_consistent(ctx)?;
        let summary = ctx.inventory.account_summary.as_ref().and_then(|s| s.account_mfa_enabled);
        // The live summary decides when present; else the report's root row.
        let (enabled, source) = match summary {
            Some(enabled) => (enabled, "the account summary reports AccountMFAEnabled = 0"),
            None => (root_row(ctx)?.mfa_active, "the credential report shows mfa_active = false"),
        };
        if !enabled {
            return Ok(vec![Hit::new(
                ResourceType::Account,
                ctx.root_arn(),
                "root",
                format!("The root user of account {} has no MFA device ({source}).", ctx.account_id()),
                format!(
                    "{ROOT_CONSOLE}, choose 'Assign MFA device' and register a hardware key, FIDO security key or authenticator app. \
Confirm with: aws iam get-account-summary --query 'SummaryMap.AccountMFAEnabled'"
                ),
            )
            .details(
                json!({"mfa_enabled": false, "decided_by": if summary.is_some() { "account_summary" } else { "credential_report" }}),
            )]);
        }
        if !p.require_hardware {
            return Ok(vec![]);
        }
        let devices = ctx
            .inventory
            .virtual_mfa_devices
            .as_ref()
            .ok_or_else(|| NotEvaluated::unreadable(ctx.inventory.missing_reason(DataSource::VirtualMfaDevices)))?;
        let root_arn = ctx.root_arn();
        let virtual_device =
            devices.iter().find(|d| d.user_arn.as_deref() == Some(root_arn.as_str()) || d.serial_number.ends_with(ROOT_VIRTUAL_MFA_SUFFIX));
        let Some(device) = virtual_device else { return Ok(vec![]) };
        Ok(vec![Hit::new(
            ResourceType::Account,
            root_arn,
            "root",
            format!(
                "The root user of account {} uses the virtual MFA device {} where a hardware MFA device is required.",
                ctx.account_id(),
                device.serial_number
            ),
            format!(
                "{ROOT_CONSOLE}, assign a hardware MFA device or FIDO security key under 'Multi-factor authentication (MFA)', then \
remove the virtual device {}. Confirm with: aws iam list-virtual-mfa-devices --assignment-status Assigned",
                device.serial_number
            ),
        )
        .details(json!({"virtual_mfa_serial": device.serial_number, "require_hardware": true}))])
    },
};

pub static ROOT_PASSWORD_ROTATION: RuleDef<MaxAge> = RuleDef {
    meta: Meta {
        id: "root-password-rotation",
        title: "Root password not rotated",
        severity: Severity::Medium,
        resource_type: ResourceType::Account,
        description: "The root password was last changed more than `max_age_days` days ago.",
        rationale: "An old root password has had longer to be reused elsewhere, phished or leaked; rotating it limits how long a \
leaked password stays useful.",
        remediation: "Sign in as root, open Security credentials, and change the password. Note that AWS usually reports the root \
password's last change as `not_supported`; this rule then reports `not_evaluated` and the rotation must be checked by hand.",
        standards: &["Cloudanix IAM checklist: Root Account Should Have Password Rotation"],
        controls: &[],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc { name: "max_age_days", description: "Maximum age in days of the root password (default 90)." }],
    },
    check: |ctx, p| {
        let row = root_row(ctx)?;
        let changed = match row.password_last_changed {
            ReportDate::At(t) => t,
            ReportDate::NotSupported => {
                return Err(NotEvaluated::unknowable(
                    "AWS reports `not_supported` for the root password's last change in the credential report \
(password_last_changed), so its rotation cannot be verified from it; check it by hand",
                ))
            }
            ReportDate::Never => {
                return Err(NotEvaluated::unknowable(
                    "the credential report gives no date for the root password's last change (password_last_changed is N/A), \
so its rotation cannot be verified from it",
                ))
            }
        };
        let age = ctx.days_since(changed);
        let max = i64::from(p.max_age_days);
        if age <= max {
            return Ok(vec![]);
        }
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            "root",
            format!(
                "The root password of account {} was last changed on {} ({} ago), more than the {} allowed.",
                ctx.account_id(),
                day(changed),
                days(age),
                days(max)
            ),
            format!(
                "{ROOT_CONSOLE}, and choose 'Change password' (or use 'Forgot password' on the root sign-in page). The root password \
cannot be changed with the AWS CLI."
            ),
        )
        .details(json!({"password_last_changed": changed, "age_days": age, "max_age_days": p.max_age_days}))])
    },
};

/// Parameters of `root-usage`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RootUsageParams {
    pub window_days: u32,
}

impl Params for RootUsageParams {}

impl Default for RootUsageParams {
    fn default() -> Self {
        RootUsageParams { window_days: 1 }
    }
}

pub static ROOT_USAGE: RuleDef<RootUsageParams> = RuleDef {
    meta: Meta {
        id: "root-usage",
        title: "Root account used",
        severity: Severity::Critical,
        resource_type: ResourceType::Account,
        description: "The root user signed in or used an access key within the last `window_days` days, or a CloudTrail event was \
made by the root user.",
        rationale: "Root has unrestricted access and should not be used for everyday work or access any service; any use is either a \
rare, planned task that someone should confirm, or a sign that root credentials are compromised.",
        remediation: "Confirm with the account owner that the root use was planned. If not, treat it as a compromise: change the root \
password, check its MFA, delete any root access keys, and review the CloudTrail events the root user made.",
        standards: &[
            "CIS AWS Foundations 1.7",
            "Cloudanix IAM checklist: Root Account Should Not Have Access Keys (\"it certainly shouldn't access any service\")",
        ],
        controls: &[Control::cis3("1.7"), Control::cis4("1.7"), Control::cis5("1.6")],
        data: &[DataSource::CredentialReport, DataSource::CloudTrail],
        requires: Requires::Any(&[DataSource::CredentialReport, DataSource::CloudTrail]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys { fixed: &["credential-report"], named: Some("event:") },
        moved_by: &[ChangeKind::RootActivity],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "window_days",
            description: "How recent (in days, from the evaluation time) a root sign-in or root key use in the credential report must \
be to fail (default 1). CloudTrail events always fail.",
        }],
    },
    check: root_usage,
};

fn root_usage(ctx: &Ctx<'_>, p: &RootUsageParams) -> Outcome {
    let mut hits = Vec::new();
    let events = ctx.inventory.root_activity.as_deref().unwrap_or_default();
    if ctx.inventory.credential_report.is_some() {
        match root_row(ctx) {
            Ok(row) => hits.extend(recent_root_use(ctx, row, p.window_days)),
            Err(reason) if events.is_empty() => return Err(reason),
            // The report is unusable but CloudTrail saw root: report what CloudTrail saw.
            Err(_) => {}
        }
    }
    for event in events {
        let at = event.event_time.map(when).unwrap_or_else(|| "an unknown time".into());
        let from = event.source_ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
        let region = event.aws_region.as_deref().map(|r| format!(" --region {}", super::sh(r))).unwrap_or_default();
        if let Some(failure) = &event.failure {
            // An attempt on root is not a use of root: said as such (the event's own id keys it
            // apart from any sign-in that succeeded).
            hits.push(
                Hit::new(
                    ResourceType::Account,
                    ctx.root_arn(),
                    "root",
                    format!(
                        "Someone tried to act as the root user of account {} and failed: {} ({}) at {at}{from}, {failure}.",
                        ctx.account_id(),
                        event.event_name,
                        event.event_source
                    ),
                    format!(
                        "Find out who made the attempt: aws cloudtrail lookup-events{region} --lookup-attributes \
AttributeKey=EventId,AttributeValue={id}. Repeated failures mean someone has the root user's email address and is guessing \
its password: make sure root has a long unique password and MFA (see root-mfa), and that the email account is secured.",
                        id = super::sh(&event.event_id)
                    ),
                )
                .title("Failed attempt on the root account")
                .discriminator(format!("event:{}", event.event_id))
                .details(json!({"source": "cloudtrail", "outcome": "failure", "event": event})),
            );
            continue;
        }
        hits.push(
            Hit::new(
                ResourceType::Account,
                ctx.root_arn(),
                "root",
                format!(
                    "The root user of account {} called {} ({}) at {at}{from}.",
                    ctx.account_id(),
                    event.event_name,
                    event.event_source
                ),
                format!(
                    "Confirm with the account owner that this root use was planned. Read the event with: \
aws cloudtrail lookup-events{region} --lookup-attributes AttributeKey=EventId,AttributeValue={id}. \
If it was not planned, treat root as compromised: sign in as root, change the password, check the MFA device, delete any root \
access keys, and review every root event: aws cloudtrail lookup-events{region} --lookup-attributes AttributeKey=Username,AttributeValue=root",
                    id = super::sh(&event.event_id)
                ),
            )
            .discriminator(format!("event:{}", event.event_id))
            .details(json!({"source": "cloudtrail", "outcome": "success", "event": event})),
        );
    }
    Ok(hits)
}

/// The root row's password and key uses within the window, as one finding.
fn recent_root_use(ctx: &Ctx<'_>, row: &CredentialRow, window_days: u32) -> Option<Hit> {
    let window = Duration::days(i64::from(window_days));
    let recent = |d: ReportDate| d.at().filter(|t| ctx.now - *t <= window);
    let mut uses = Vec::new();
    let mut facts = Vec::new();
    if let Some(t) = recent(row.password_last_used) {
        uses.push(format!("signed in with its password at {}", when(t)));
        facts.push(json!({"credential": "password", "last_used": t}));
    }
    for k in &row.access_keys {
        if let Some(t) = recent(k.last_used) {
            uses.push(format!("used access key {} at {}", k.slot, when(t)));
            facts.push(json!({"credential": format!("access_key_{}", k.slot), "last_used": t}));
        }
    }
    if uses.is_empty() {
        return None;
    }
    Some(
        Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            "root",
            format!(
                "The root user of account {} was used within the last {}: it {}.",
                ctx.account_id(),
                days(i64::from(window_days)),
                uses.join(" and ")
            ),
            "Confirm with the account owner that this root use was planned. If not, treat root as compromised: sign in as root, change \
the password, check the MFA device, delete any root access keys, and review what root did: \
aws cloudtrail lookup-events --region us-east-1 --lookup-attributes AttributeKey=Username,AttributeValue=root",
        )
        .discriminator("credential-report")
        .details(json!({"source": "credential_report", "window_days": window_days, "uses": facts})),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use serde_json::json;

    #[test]
    fn root_access_keys() {
        // Clean root: passes.
        check("root-access-keys", &inventory(), json!({}), &[]);
        // An active root key in the report and the summary: fails.
        let mut inv = inventory();
        cr(&mut inv).root.as_mut().unwrap().access_keys[0] = key(1, 10, Some(1));
        inv.account_summary.as_mut().unwrap().account_access_keys_present = Some(true);
        check("root-access-keys", &inv, json!({}), &[&root_arn()]);
        // Summary absent: the report decides.
        inv.account_summary = None;
        check("root-access-keys", &inv, json!({}), &[&root_arn()]);
        // An inactive root key is not an active key.
        let mut inv = inventory();
        inv.account_summary = None;
        let mut k = key(1, 10, None);
        k.active = false;
        cr(&mut inv).root.as_mut().unwrap().access_keys[0] = k;
        check("root-access-keys", &inv, json!({}), &[]);
        // The live summary is fresher than the report: a key created since the report.
        let mut inv = inventory();
        inv.account_summary.as_mut().unwrap().account_access_keys_present = Some(true);
        check("root-access-keys", &inv, json!({}), &[&root_arn()]);
    }

    use crate::inventory::{RootActivity, VirtualMfaDevice};
    use crate::report::{fingerprint, FindingStatus};
    use crate::{RuleStatus, Severity};

    fn root(inv: &mut crate::Inventory) -> &mut CredentialRow {
        cr(inv).root.as_mut().unwrap()
    }

    fn inactive(mut k: crate::inventory::KeySlot) -> crate::inventory::KeySlot {
        k.active = false;
        k
    }

    #[test]
    fn root_access_key_rotation() {
        let id = "root-access-key-rotation";
        check(id, &inventory(), json!({}), &[]);
        // Exactly 90 days passes; 91 fails.
        let mut inv = inventory();
        root(&mut inv).access_keys[0] = key(1, 90, Some(1));
        check(id, &inv, json!({}), &[]);
        root(&mut inv).access_keys[0] = key(1, 91, Some(1));
        check(id, &inv, json!({}), &[&root_arn()]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f[0].severity, Severity::High);
        assert!(f[0].message.contains(&crate::rules::day(ago(91))) && f[0].message.contains("91 days ago"), "{}", f[0].message);
        assert_eq!(f[0].fingerprint, fingerprint(id, &root_arn(), "key-1"));
        // A stricter threshold from settings.
        root(&mut inv).access_keys[0] = key(1, 31, None);
        check(id, &inv, json!({}), &[]);
        check(id, &inv, json!({"max_age_days": 30}), &[&root_arn()]);
        // An inactive old key is ignored; an old active key 2 is reported on its own.
        root(&mut inv).access_keys = [inactive(key(1, 500, None)), key(2, 200, None)];
        let f = findings(id, &inv, json!({}));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].fingerprint, fingerprint(id, &root_arn(), "key-2"));
        // Both keys old: two findings.
        root(&mut inv).access_keys = [key(1, 500, None), key(2, 200, None)];
        assert_eq!(findings(id, &inv, json!({})).len(), 2);
    }

    #[test]
    fn root_signing_certificates() {
        let id = "root-signing-certificates";
        check(id, &inventory(), json!({}), &[]);
        // An active cert in the report and the summary: fails.
        let mut inv = inventory();
        root(&mut inv).certs[0] = cert(1, 10);
        inv.account_summary.as_mut().unwrap().account_signing_certificates_present = Some(true);
        check(id, &inv, json!({}), &[&root_arn()]);
        assert_eq!(findings(id, &inv, json!({}))[0].severity, Severity::High);
        // Summary absent: the report decides.
        inv.account_summary = None;
        check(id, &inv, json!({}), &[&root_arn()]);
        // An inactive certificate is not active.
        root(&mut inv).certs[0].active = false;
        check(id, &inv, json!({}), &[]);
        // The live summary is fresher: a certificate uploaded since the report.
        let mut inv = inventory();
        inv.account_summary.as_mut().unwrap().account_signing_certificates_present = Some(true);
        check(id, &inv, json!({}), &[&root_arn()]);
        // ... and decides when it says none (deleted since the report).
        let mut inv = inventory();
        root(&mut inv).certs[0] = cert(1, 10);
        check(id, &inv, json!({}), &[]);
    }

    #[test]
    fn root_signing_certificate_rotation() {
        let id = "root-signing-certificate-rotation";
        check(id, &inventory(), json!({}), &[]);
        let mut inv = inventory();
        root(&mut inv).certs[1] = cert(2, 90);
        check(id, &inv, json!({}), &[]);
        root(&mut inv).certs[1] = cert(2, 91);
        check(id, &inv, json!({}), &[&root_arn()]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f[0].fingerprint, fingerprint(id, &root_arn(), "cert-2"));
        assert_eq!(f[0].severity, Severity::Medium);
        assert!(f[0].message.contains("certificate 2") && f[0].message.contains("91 days ago"), "{}", f[0].message);
        // Inactive: ignored.
        root(&mut inv).certs[1].active = false;
        check(id, &inv, json!({}), &[]);
    }

    #[test]
    fn root_mfa() {
        let id = "root-mfa";
        check(id, &inventory(), json!({}), &[]);
        // The summary says no MFA: fails, whatever the older report says.
        let mut inv = inventory();
        inv.account_summary.as_mut().unwrap().account_mfa_enabled = Some(false);
        check(id, &inv, json!({}), &[&root_arn()]);
        assert_eq!(findings(id, &inv, json!({}))[0].severity, Severity::Critical);
        // The summary says MFA is on: passes even if the report (older) says not.
        let mut inv = inventory();
        root(&mut inv).mfa_active = false;
        check(id, &inv, json!({}), &[]);
        // No summary: the report decides.
        inv.account_summary = None;
        check(id, &inv, json!({}), &[&root_arn()]);
        // No summary and no root row: not evaluated.
        cr(&mut inv).root = None;
        assert_eq!(status(id, &inv, json!({})).0, RuleStatus::NotEvaluated);
        // Only the summary: evaluated from it.
        let mut inv = inventory();
        inv.credential_report = None;
        check(id, &inv, json!({}), &[]);
    }

    #[test]
    fn root_mfa_require_hardware() {
        let id = "root-mfa";
        let hw = json!({"require_hardware": true});
        // Without the device list the hardware requirement cannot be checked.
        let (st, reason) = status(id, &inventory(), hw.clone());
        assert_eq!(st, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("virtual MFA devices"));
        // Root without any MFA fails even without the device list.
        let mut inv = inventory();
        inv.account_summary.as_mut().unwrap().account_mfa_enabled = Some(false);
        check(id, &inv, hw.clone(), &[&root_arn()]);
        // Virtual device assigned to root: fails only when hardware is required.
        let mut inv = inventory();
        inv.virtual_mfa_devices = Some(vec![
            VirtualMfaDevice { serial_number: format!("arn:aws:iam::{ACCOUNT}:mfa/alice"), user_arn: Some(user_arn("alice")) },
            VirtualMfaDevice { serial_number: format!("arn:aws:iam::{ACCOUNT}:mfa/root-device"), user_arn: Some(root_arn()) },
        ]);
        check(id, &inv, json!({}), &[]);
        check(id, &inv, hw.clone(), &[&root_arn()]);
        assert!(findings(id, &inv, hw.clone())[0].message.contains("virtual MFA device"));
        // Recognised by AWS's serial number for root's virtual device, even without the user ARN.
        inv.virtual_mfa_devices =
            Some(vec![VirtualMfaDevice { serial_number: format!("arn:aws:iam::{ACCOUNT}:mfa/root-account-mfa-device"), user_arn: None }]);
        check(id, &inv, hw.clone(), &[&root_arn()]);
        // Only other users' virtual devices: root uses hardware, passes.
        inv.virtual_mfa_devices =
            Some(vec![VirtualMfaDevice { serial_number: format!("arn:aws:iam::{ACCOUNT}:mfa/alice"), user_arn: Some(user_arn("alice")) }]);
        check(id, &inv, hw, &[]);
    }

    #[test]
    fn root_password_rotation() {
        let id = "root-password-rotation";
        // AWS's usual root row: `not_supported` → not evaluated, never a silent pass.
        let (st, reason) = status(id, &inventory(), json!({}));
        assert_eq!(st, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("not_supported"));
        // A fact AWS does not give: known, not a blind spot to alarm on.
        assert_eq!(cause(id, &inventory(), json!({})), Some(crate::Cause::Unknowable));
        let mut inv = inventory();
        root(&mut inv).password_last_changed = ReportDate::Never;
        assert_eq!(status(id, &inv, json!({})).0, RuleStatus::NotEvaluated);
        // A date: 90 days passes, 91 fails.
        root(&mut inv).password_last_changed = ReportDate::At(ago(90));
        check(id, &inv, json!({}), &[]);
        root(&mut inv).password_last_changed = ReportDate::At(ago(91));
        check(id, &inv, json!({}), &[&root_arn()]);
        assert!(findings(id, &inv, json!({}))[0].message.contains(&crate::rules::day(ago(91))));
        // Severity override.
        assert_eq!(findings(id, &inv, json!({}))[0].severity, Severity::Medium);
        assert_eq!(findings(id, &inv, json!({"severity": "critical"}))[0].severity, Severity::Critical);
        // Exception on the root ARN: suppressed until it expires.
        let ex = |expires: &str| json!({"exceptions": [{"resource": root_arn(), "reason": "break-glass", "expires": expires}]});
        let f = findings(id, &inv, ex("2027-01-01"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, FindingStatus::Suppressed);
        check(id, &inv, ex("2027-01-01"), &[]);
        assert_eq!(findings(id, &inv, ex("2026-11-22"))[0].status, FindingStatus::Open);
    }

    #[test]
    fn root_usage_from_the_credential_report() {
        let id = "root-usage";
        // The clean root signed in 30 days ago: outside the 1-day window.
        check(id, &inventory(), json!({}), &[]);
        // Signed in 12 hours ago: fails once.
        let mut inv = inventory();
        root(&mut inv).password_last_used = ReportDate::At(now() - chrono::Duration::hours(12));
        check(id, &inv, json!({}), &[&root_arn()]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f[0].fingerprint, fingerprint(id, &root_arn(), "credential-report"));
        assert!(f[0].message.contains("signed in with its password"), "{}", f[0].message);
        // Boundary: exactly 24 hours ago is within a 1-day window; 25 hours is not.
        root(&mut inv).password_last_used = ReportDate::At(now() - chrono::Duration::hours(24));
        check(id, &inv, json!({}), &[&root_arn()]);
        root(&mut inv).password_last_used = ReportDate::At(now() - chrono::Duration::hours(25));
        check(id, &inv, json!({}), &[]);
        // A root key used 2 hours ago, and the password: still one finding naming both.
        root(&mut inv).password_last_used = ReportDate::At(now() - chrono::Duration::hours(3));
        root(&mut inv).access_keys[1] = key(2, 400, None);
        root(&mut inv).access_keys[1].last_used = ReportDate::At(now() - chrono::Duration::hours(2));
        let f = findings(id, &inv, json!({}));
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("access key 2") && f[0].message.contains("password"), "{}", f[0].message);
        // A wider window catches the clean root's sign-in 30 days ago.
        check(id, &inventory(), json!({"window_days": 30}), &[&root_arn()]);
        check(id, &inventory(), json!({"window_days": 29}), &[]);
    }

    fn event(id: &str) -> RootActivity {
        RootActivity {
            event_id: id.into(),
            event_name: "ConsoleLogin".into(),
            event_source: "signin.amazonaws.com".into(),
            event_time: Some(now() - chrono::Duration::minutes(5)),
            source_ip: Some("203.0.113.7".into()),
            user_agent: None,
            aws_region: Some("us-east-1".into()),
            failure: None,
        }
    }

    /// A failed root sign-in (real events say `"responseElements": {"ConsoleLogin": "Failure"}`
    /// with `"errorMessage": "Failed authentication"`) is reported as an attempt, not a use, on
    /// its own event's key.
    #[test]
    fn a_failed_root_sign_in_is_an_attempt_not_a_use() {
        let id = "root-usage";
        let mut inv = inventory();
        inv.credential_report = None;
        let failed = RootActivity { failure: Some("ConsoleLogin: Failure (Failed authentication)".into()), ..event("e-3") };
        inv.root_activity = Some(vec![failed, event("e-4")]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f.len(), 2);
        let attempt = f.iter().find(|f| f.details["outcome"] == "failure").expect("the failed attempt");
        assert_eq!(attempt.fingerprint, fingerprint(id, &root_arn(), "event:e-3"));
        assert_eq!(attempt.title, "Failed attempt on the root account");
        assert!(
            attempt.message.contains("tried to act as the root user")
                && attempt.message.contains("and failed")
                && attempt.message.contains("Failed authentication")
                && !attempt.message.contains("called"),
            "{}",
            attempt.message
        );
        let used = f.iter().find(|f| f.details["outcome"] == "success").expect("the sign-in");
        assert_eq!(used.fingerprint, fingerprint(id, &root_arn(), "event:e-4"));
        assert!(used.message.contains("called ConsoleLogin"), "{}", used.message);
    }

    #[test]
    fn root_usage_from_cloudtrail_alone() {
        let id = "root-usage";
        let mut inv = inventory();
        inv.credential_report = None;
        inv.root_activity = Some(vec![event("e-1"), event("e-2")]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(|f| f.status == FindingStatus::Open && f.resource_arn == root_arn() && f.severity == Severity::Critical));
        let mut prints: Vec<_> = f.iter().map(|f| f.fingerprint.clone()).collect();
        prints.sort();
        let mut want = vec![fingerprint(id, &root_arn(), "event:e-1"), fingerprint(id, &root_arn(), "event:e-2")];
        want.sort();
        assert_eq!(prints, want);
        assert!(f[0].message.contains("ConsoleLogin") && f[0].message.contains("203.0.113.7"), "{}", f[0].message);
        assert!(f[0].remediation.contains("AttributeValue=e-"), "{}", f[0].remediation);
        // No root events: evaluated, passes.
        inv.root_activity = Some(vec![]);
        check(id, &inv, json!({}), &[]);
        // Neither source: not evaluated.
        inv.root_activity = None;
        assert_eq!(status(id, &inv, json!({})).0, RuleStatus::NotEvaluated);
    }

    #[test]
    fn root_usage_report_without_root_row() {
        let id = "root-usage";
        let mut inv = inventory();
        cr(&mut inv).root = None;
        let (st, reason) = status(id, &inv, json!({}));
        assert_eq!(st, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("<root_account>"));
        // A root event is reported even though the report is unusable.
        inv.root_activity = Some(vec![event("e-9")]);
        check(id, &inv, json!({}), &[&root_arn()]);
    }

    #[test]
    fn root_rules_without_root_row_are_not_evaluated() {
        let mut inv = inventory();
        cr(&mut inv).root = None;
        inv.account_summary = None;
        for id in [
            "root-access-keys",
            "root-access-key-rotation",
            "root-signing-certificates",
            "root-signing-certificate-rotation",
            "root-mfa",
            "root-password-rotation",
            "root-usage",
        ] {
            let (status, reason) = status(id, &inv, json!({}));
            assert_eq!(status, RuleStatus::NotEvaluated, "{id}");
            assert!(reason.unwrap().contains("<root_account>"), "{id}");
        }
    }

    /// An emulator-shaped account: a report without the root row and a summary that says 0
    /// for everything. The summary alone must not produce a root-mfa finding here.
    #[test]
    fn report_without_root_row_is_not_overridden_by_the_summary() {
        let mut inv = inventory();
        cr(&mut inv).root = None;
        let summary = inv.account_summary.as_mut().unwrap();
        summary.account_mfa_enabled = Some(false);
        summary.account_access_keys_present = Some(false);
        summary.account_signing_certificates_present = Some(false);
        for id in ["root-access-keys", "root-signing-certificates", "root-mfa"] {
            let (status, reason) = status(id, &inv, json!({}));
            assert_eq!(status, RuleStatus::NotEvaluated, "{id}");
            assert!(reason.unwrap().contains("<root_account>"), "{id}");
        }
        // No report at all (it could not be generated): the live summary decides.
        inv.credential_report = None;
        check("root-mfa", &inv, json!({}), &[&root_arn()]);
        check("root-access-keys", &inv, json!({}), &[]);
    }
}
