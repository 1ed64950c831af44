//! IAM user rules: credential-report rows (passwords, keys, certificates, MFA) and the users
//! of the authorization details (inline and directly attached policies).
//!
//! Credential-report rules walk `credential_report.users` (the `<root_account>` row is kept
//! apart and never seen here); their resource is the row's user ARN. A key or certificate
//! slot that is inactive, or whose date the report does not give, is never counted as old.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::inventory::{CredentialRow, DataSource, KeySlot, ReportDate, ReportFlag, User};
use crate::rule::*;

use super::{day, days, overdue, service_activity, sh, MaxAge, Overdue};

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![
        &UNUSED_USER,
        &USER_MFA,
        &ACCESS_KEY_ROTATION,
        &INACTIVE_ACCESS_KEY,
        &MULTIPLE_ACCESS_KEYS,
        &CONSOLE_ACCESS_INACTIVE,
        &USER_SIGNING_CERTIFICATE_ROTATION,
        &USER_INLINE_POLICIES,
        &USER_ATTACHED_POLICIES,
        &USER_SERVICE_INACTIVITY,
    ]
}

/// The IAM users' rows of the credential report (never the root row).
fn user_rows<'a>(ctx: &Ctx<'a>) -> Result<impl Iterator<Item = &'a CredentialRow> + 'a, NotEvaluated> {
    Ok(ctx.credential_report()?.users.iter().filter(|r| !r.is_root()))
}

/// A finding on the user of a credential-report row.
fn row_hit(row: &CredentialRow, message: String, remediation: String) -> Hit {
    Hit::new(ResourceType::User, row.arn.clone(), row.user.clone(), message, remediation)
}

/// A finding on a user of the authorization details.
fn user_hit(user: &User, message: String, remediation: String) -> Hit {
    Hit::new(ResourceType::User, user.arn.clone(), user.name.clone(), message, remediation)
}

/// The authorization-details user of a credential-report row, when collected.
/// The AAD users by ARN and by name, built once per rule run (a search per row made large
/// accounts quadratic).
struct UserIndex<'a> {
    by_arn: std::collections::HashMap<&'a str, &'a User>,
    by_name: std::collections::HashMap<&'a str, &'a User>,
}

impl<'a> UserIndex<'a> {
    fn new(ctx: &Ctx<'a>) -> Self {
        let users = ctx.inventory.authorization.as_ref().map(|a| a.users.as_slice()).unwrap_or_default();
        let mut by_arn = std::collections::HashMap::with_capacity(users.len());
        let mut by_name = std::collections::HashMap::with_capacity(users.len());
        for user in users {
            by_arn.entry(user.arn.as_str()).or_insert(user);
            by_name.entry(user.name.as_str()).or_insert(user);
        }
        UserIndex { by_arn, by_name }
    }

    fn get(&self, row: &CredentialRow) -> Option<&'a User> {
        self.by_arn.get(row.arn.as_str()).or_else(|| self.by_name.get(row.user.as_str())).copied()
    }
}

/// "`2026-01-02` (325 days ago)".
fn dated(ctx: &Ctx<'_>, t: DateTime<Utc>) -> String {
    format!("{} ({} ago)", day(t), days(ctx.days_since(t)))
}

/// `max_unused_days`, default 45.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxUnused {
    pub max_unused_days: u32,
}

impl Params for MaxUnused {}

impl Default for MaxUnused {
    fn default() -> Self {
        MaxUnused { max_unused_days: 45 }
    }
}

// ---------------------------------------------------------------------------------------------
// unused-user

/// Parameters of `unused-user`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnusedUserParams {
    pub grace_days: u32,
}

impl Params for UnusedUserParams {}

impl Default for UnusedUserParams {
    fn default() -> Self {
        UnusedUserParams { grace_days: 7 }
    }
}

pub static UNUSED_USER: RuleDef<UnusedUserParams> = RuleDef {
    meta: Meta {
        id: "unused-user",
        title: "Unused IAM user",
        severity: Severity::Medium,
        resource_type: ResourceType::User,
        description: "A user has never signed in with a password and has no access keys (active or inactive); users created less \
than `grace_days` days ago are skipped.",
        rationale: "A user with neither console nor API access does nothing but wait to be given credentials: it widens the attack \
surface and clutters access reviews. Removing unused users keeps the account's identities to the ones in use.",
        remediation: "Delete the user: remove its login profile, group memberships and policies, then delete it \
(aws iam delete-user). Recreate it later if it turns out to be needed.",
        standards: &["Conformity IAM-029 (Unused IAM User)", "Cloudanix IAM checklist: User Account Without Any Usage Should Be Removed"],
        controls: &[],
        data: &[DataSource::CredentialReport, DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserCreated, ChangeKind::AccessKey],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "grace_days",
            description: "Users created less than this many days ago are skipped, giving them time to be set up (default 7). \
A user whose creation time is unknown is not skipped.",
        }],
    },
    check: unused_user,
};

fn unused_user(ctx: &Ctx<'_>, p: &UnusedUserParams) -> Outcome {
    let grace = Duration::days(i64::from(p.grace_days));
    let mut hits = Vec::new();
    let users = UserIndex::new(ctx);
    for row in user_rows(ctx)? {
        // Any key, even an inactive one, means the user is set up for API access (Conformity IAM-029:
        // list-access-keys returns it).
        if row.password_last_used != ReportDate::Never || row.access_keys.iter().any(KeySlot::exists) {
            continue;
        }
        let user = users.get(row);
        let created = row.user_creation_time.or_else(|| user.and_then(|u| u.create_date));
        if created.is_some_and(|c| ctx.now - c < grace) {
            continue;
        }
        let has_password = row.password_enabled.is_true();
        let age = match created {
            Some(c) => format!("created on {}", dated(ctx, c)),
            None => "of unknown creation date".to_string(),
        };
        let console = if has_password { "has a console password it has never used" } else { "has never signed in with a password" };
        hits.push(
            row_hit(row, format!("User {}, {age}, {console} and has no access keys.", row.user), delete_user_steps(row, user)).details(
                json!({
                    "user_creation_time": created,
                    "password_enabled": has_password,
                    "password_last_used": row.password_last_used,
                    "access_keys": 0,
                    "grace_days": p.grace_days,
                }),
            ),
        );
    }
    Ok(hits)
}

/// The commands that delete a user, from what is known of it.
fn delete_user_steps(row: &CredentialRow, user: Option<&User>) -> String {
    let name = sh(&row.user);
    let mut steps = Vec::new();
    if row.password_enabled.is_true() {
        steps.push(format!("aws iam delete-login-profile --user-name {name}"));
    }
    if row.mfa_active {
        steps.push(format!(
            "aws iam list-mfa-devices --user-name {name}   # then for each: aws iam deactivate-mfa-device --user-name {name} --serial-number SERIAL"
        ));
    }
    if row.certs.iter().any(|c| c.active || c.last_rotated.at().is_some()) {
        steps.push(format!(
            "aws iam list-signing-certificates --user-name {name}   # then for each: aws iam delete-signing-certificate --user-name {name} --certificate-id ID"
        ));
    }
    match user {
        Some(u) => {
            for g in &u.groups {
                steps.push(format!("aws iam remove-user-from-group --user-name {name} --group-name {}", sh(g)));
            }
            for pol in &u.attached_policies {
                steps.push(format!("aws iam detach-user-policy --user-name {name} --policy-arn {}", sh(&pol.arn)));
            }
            for pol in &u.inline_policies {
                steps.push(format!("aws iam delete-user-policy --user-name {name} --policy-name {}", sh(&pol.name)));
            }
        }
        None => {
            steps.push(format!(
                "aws iam list-groups-for-user --user-name {name}   # then for each: aws iam remove-user-from-group --user-name {name} --group-name GROUP"
            ));
            steps.push(format!(
                "aws iam list-attached-user-policies --user-name {name}   # then for each: aws iam detach-user-policy --user-name {name} --policy-arn ARN"
            ));
            steps.push(format!(
                "aws iam list-user-policies --user-name {name}   # then for each: aws iam delete-user-policy --user-name {name} --policy-name NAME"
            ));
        }
    }
    steps.push(format!("aws iam delete-user --user-name {name}"));
    steps.join("\n")
}

// ---------------------------------------------------------------------------------------------
// user-mfa

pub static USER_MFA: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "user-mfa",
        title: "Console user without MFA",
        severity: Severity::High,
        resource_type: ResourceType::User,
        description: "A user has a console password and no MFA device.",
        rationale: "A password alone is phished, guessed or reused; MFA stops a stolen password from becoming a console session \
with the user's permissions.",
        remediation: "Have the user register an MFA device (virtual, FIDO security key or hardware), or remove the console \
password if the user does not need the console.",
        standards: &[
            "CIS AWS Foundations 1.10",
            "AWS Security Hub IAM.5",
            "Cloudanix IAM checklist: MFA Should Be Enabled On User Accounts",
        ],
        controls: &[Control::cis3("1.10"), Control::cis4("1.10"), Control::cis5("1.9"), Control::fsbp("IAM.5")],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserCreated, ChangeKind::ConsoleAccess],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let mut hits = Vec::new();
        for row in user_rows(ctx)?.filter(|r| r.password_enabled == ReportFlag::True && !r.mfa_active) {
            let name = sh(&row.user);
            let serial = sh(&format!("arn:{}:iam::{}:mfa/{}", ctx.inventory.partition_or_default(), ctx.account_id(), row.user));
            let used = match row.password_last_used {
                ReportDate::At(t) => format!(" (last used on {})", day(t)),
                _ => " (never used)".to_string(),
            };
            hits.push(
                row_hit(
                    row,
                    format!("User {} has a console password{used} but no MFA device.", row.user),
                    format!(
                        "Have the user register a device (console: IAM > Users > {user} > Security credentials > Assign MFA device), or with the CLI:\n\
aws iam create-virtual-mfa-device --virtual-mfa-device-name {name} --outfile {png} --bootstrap-method QRCodePNG\n\
aws iam enable-mfa-device --user-name {name} --serial-number {serial} --authentication-code1 CODE1 --authentication-code2 CODE2\n\
If the user does not need the console: aws iam delete-login-profile --user-name {name}",
                        user = row.user,
                        png = sh(&format!("{}-mfa.png", row.user)),
                    ),
                )
                .details(json!({"password_enabled": true, "mfa_active": false, "password_last_used": row.password_last_used})),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// access-key-rotation

pub static ACCESS_KEY_ROTATION: RuleDef<MaxAge> = RuleDef {
    meta: Meta {
        id: "access-key-rotation",
        title: "Access key not rotated",
        severity: Severity::Medium,
        resource_type: ResourceType::User,
        description: "An active access key was created more than `max_age_days` days ago.",
        rationale: "The longer a key lives, the more places it has been copied to (laptops, CI logs, repositories) and the longer a \
leaked copy stays useful; rotating keys bounds that window.",
        remediation: "Create a new access key, move the applications to it, deactivate the old key, and delete it once nothing \
fails. Prefer IAM roles with temporary credentials where possible.",
        standards: &[
            "CIS AWS Foundations 1.14",
            "AWS Security Hub IAM.3",
            "Cloudanix IAM checklist: User Account Access keys Should Be Rotated",
        ],
        controls: &[Control::cis3("1.14"), Control::cis4("1.14"), Control::cis5("1.13"), Control::fsbp("IAM.3")],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ACCESS_KEY_SLOTS,
        moved_by: &[ChangeKind::UserCreated, ChangeKind::AccessKey],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc { name: "max_age_days", description: "Maximum age in days of an active access key (default 90)." }],
    },
    check: |ctx, p| {
        let max = i64::from(p.max_age_days);
        let mut hits = Vec::new();
        for row in user_rows(ctx)? {
            for Overdue { slot: k, since: created, age } in overdue(ctx, &row.access_keys, p.max_age_days) {
                let name = sh(&row.user);
                let full = if row.access_keys.iter().all(KeySlot::exists) {
                    "# the user already holds two keys: delete the other one first if it is unused\n"
                } else {
                    ""
                };
                hits.push(
                    row_hit(
                        row,
                        format!(
                            "Access key {} of user {} was created on {}, more than the {} allowed.",
                            k.slot,
                            row.user,
                            dated(ctx, created),
                            days(max)
                        ),
                        format!(
                            "aws iam list-access-keys --user-name {name}   # find the id of the key created on {d} (OLD_KEY_ID)\n\
{full}aws iam create-access-key --user-name {name}   # move the applications to the new key\n\
aws iam update-access-key --user-name {name} --access-key-id OLD_KEY_ID --status Inactive\n\
aws iam delete-access-key --user-name {name} --access-key-id OLD_KEY_ID   # once nothing fails",
                            d = day(created)
                        ),
                    )
                    .discriminator(format!("key-{}", k.slot))
                    .details(json!({"slot": k.slot, "created": created, "age_days": age, "max_age_days": p.max_age_days, "last_used": k.last_used})),
                );
            }
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// inactive-access-key

pub static INACTIVE_ACCESS_KEY: RuleDef<MaxUnused> = RuleDef {
    meta: Meta {
        id: "inactive-access-key",
        title: "Unused active access key",
        severity: Severity::Medium,
        resource_type: ResourceType::User,
        description: "An active access key has not been used for more than `max_unused_days` days (a key never used is counted \
from its creation).",
        rationale: "A key nobody uses still works for whoever holds a copy of it; removing unused credentials shrinks what an \
attacker can find and use.",
        remediation: "Deactivate the key, and delete it once nothing fails.",
        standards: &[
            "CIS AWS Foundations 1.12",
            "AWS Security Hub IAM.8",
            "AWS Security Hub IAM.22",
            "Cloudanix IAM checklist: Inactive User Account Access keys Should Be Dropped",
        ],
        controls: &[Control::cis3("1.12"), Control::cis4("1.12"), Control::cis5("1.11"), Control::fsbp("IAM.8")],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ACCESS_KEY_SLOTS,
        moved_by: &[ChangeKind::AccessKey],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "max_unused_days",
            description: "Days an active access key may go unused, counted from its last use or, if never used, from its creation \
(default 45).",
        }],
    },
    check: |ctx, p| {
        let max = i64::from(p.max_unused_days);
        let mut hits = Vec::new();
        for row in user_rows(ctx)? {
            for k in row.access_keys.iter().filter(|k| k.active) {
                let (reference, used) = match (k.last_used, k.last_rotated) {
                    (ReportDate::At(t), _) => (t, true),
                    (ReportDate::Never, ReportDate::At(created)) => (created, false),
                    _ => continue,
                };
                let idle = ctx.days_since(reference);
                if idle <= max {
                    continue;
                }
                let fact = if used {
                    format!("was last used on {}", dated(ctx, reference))
                } else {
                    format!("has never been used since it was created on {}", dated(ctx, reference))
                };
                let name = sh(&row.user);
                hits.push(
                    row_hit(
                        row,
                        format!("Access key {} of user {} {fact}, more than the {} allowed.", k.slot, row.user, days(max)),
                        format!(
                            "aws iam list-access-keys --user-name {name}   # find the id of key {slot} (KEY_ID)\n\
aws iam update-access-key --user-name {name} --access-key-id KEY_ID --status Inactive\n\
aws iam delete-access-key --user-name {name} --access-key-id KEY_ID   # once nothing fails",
                            slot = k.slot
                        ),
                    )
                    .discriminator(format!("key-{}", k.slot))
                    .details(json!({
                        "slot": k.slot,
                        "created": k.last_rotated.at(),
                        "last_used": k.last_used.at(),
                        "days_unused": idle,
                        "max_unused_days": p.max_unused_days,
                    })),
                );
            }
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// multiple-access-keys

/// Parameters of `multiple-access-keys`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MultipleKeysParams {
    pub count_inactive: bool,
}

impl Params for MultipleKeysParams {}

pub static MULTIPLE_ACCESS_KEYS: RuleDef<MultipleKeysParams> = RuleDef {
    meta: Meta {
        id: "multiple-access-keys",
        title: "User with multiple access keys",
        severity: Severity::Low,
        resource_type: ResourceType::User,
        description: "A user has more than one active access key (with `count_inactive`: more than one key, active or not).",
        rationale: "Two live keys for one identity double what can leak and hide which one is actually in use; one key per user \
is enough outside a short rotation.",
        remediation: "Keep the key in use; deactivate and delete the other.",
        standards: &["CIS AWS Foundations 1.13", "Cloudanix IAM checklist: User Account Should Not Have Multiple Access Keys"],
        controls: &[Control::cis3("1.13"), Control::cis4("1.13"), Control::cis5("1.12")],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserCreated, ChangeKind::AccessKey],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "count_inactive",
            description: "Also count inactive keys, so a user holding an active and an inactive key fails too (default false).",
        }],
    },
    check: |ctx, p| {
        let mut hits = Vec::new();
        for row in user_rows(ctx)? {
            let counted: Vec<&KeySlot> = row.access_keys.iter().filter(|k| if p.count_inactive { k.exists() } else { k.active }).collect();
            if counted.len() <= 1 {
                continue;
            }
            let describe = |k: &KeySlot| {
                let state = if k.active { "active" } else { "inactive" };
                let created = k.last_rotated.at().map(|t| format!(", created {}", day(t))).unwrap_or_default();
                let used = match k.last_used {
                    ReportDate::At(t) => format!(", last used {}", day(t)),
                    _ => ", never used".to_string(),
                };
                format!("key {} ({state}{created}{used})", k.slot)
            };
            let list = counted.iter().map(|k| describe(k)).collect::<Vec<_>>().join(" and ");
            let kind = if p.count_inactive { "access keys" } else { "active access keys" };
            let name = sh(&row.user);
            hits.push(
                row_hit(
                    row,
                    format!("User {} has {} {kind}: {list}.", row.user, counted.len()),
                    format!(
                        "aws iam list-access-keys --user-name {name}   # keep the key in use; the other is OTHER_KEY_ID\n\
aws iam update-access-key --user-name {name} --access-key-id OTHER_KEY_ID --status Inactive\n\
aws iam delete-access-key --user-name {name} --access-key-id OTHER_KEY_ID   # once nothing fails"
                    ),
                )
                .details(json!({
                    "keys": counted.iter().map(|k| json!({"slot": k.slot, "active": k.active, "created": k.last_rotated.at(), "last_used": k.last_used.at()})).collect::<Vec<_>>(),
                    "count_inactive": p.count_inactive,
                })),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// console-access-inactive

pub static CONSOLE_ACCESS_INACTIVE: RuleDef<MaxUnused> = RuleDef {
    meta: Meta {
        id: "console-access-inactive",
        title: "Unused console password",
        severity: Severity::Medium,
        resource_type: ResourceType::User,
        description: "A user's console password has not been used for more than `max_unused_days` days (never used: counted from \
when it was set).",
        rationale: "A console password nobody uses can still be guessed, phished or reused from another breach; users who do not \
need the console should not have a password.",
        remediation: "Delete the user's login profile (console password); create a new one if the user needs the console again.",
        standards: &[
            "CIS AWS Foundations 1.12",
            "AWS Security Hub IAM.8",
            "AWS Security Hub IAM.22",
            "Cloudanix IAM checklist: User Console Access Inactive",
        ],
        controls: &[Control::cis3("1.12"), Control::cis4("1.12"), Control::cis5("1.11"), Control::fsbp("IAM.8")],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserCreated, ChangeKind::ConsoleAccess],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "max_unused_days",
            description: "Days a console password may go unused, counted from its last use or, if never used, from when it was set \
(default 45).",
        }],
    },
    check: |ctx, p| {
        let max = i64::from(p.max_unused_days);
        let mut hits = Vec::new();
        for row in user_rows(ctx)?.filter(|r| r.password_enabled == ReportFlag::True) {
            let (reference, fact) = match (row.password_last_used, row.password_last_changed.at(), row.user_creation_time) {
                (ReportDate::At(t), _, _) => (t, format!("was last used to sign in on {}", dated(ctx, t))),
                (ReportDate::Never, Some(set), _) => (set, format!("has never been used since it was set on {}", dated(ctx, set))),
                (ReportDate::Never, None, Some(created)) => {
                    (created, format!("has never been used since the user was created on {}", dated(ctx, created)))
                }
                _ => continue,
            };
            let idle = ctx.days_since(reference);
            if idle <= max {
                continue;
            }
            hits.push(
                row_hit(
                    row,
                    format!("The console password of user {} {fact}, more than the {} allowed.", row.user, days(max)),
                    format!(
                        "aws iam delete-login-profile --user-name {}   # recreate with aws iam create-login-profile if the console is needed again",
                        sh(&row.user)
                    ),
                )
                .details(json!({
                    "password_last_used": row.password_last_used.at(),
                    "password_last_changed": row.password_last_changed.at(),
                    "counted_from": reference,
                    "days_unused": idle,
                    "max_unused_days": p.max_unused_days,
                })),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// user-signing-certificate-rotation

pub static USER_SIGNING_CERTIFICATE_ROTATION: RuleDef<MaxAge> = RuleDef {
    meta: Meta {
        id: "user-signing-certificate-rotation",
        title: "Signing certificate not rotated",
        severity: Severity::Low,
        resource_type: ResourceType::User,
        description: "An active X.509 signing certificate of a user was uploaded more than `max_age_days` days ago.",
        rationale: "A long-lived signing certificate has had that long to be copied or leaked, and signs requests with the user's \
permissions for as long as it stays active.",
        remediation: "Upload a new signing certificate, move its users to it, then deactivate and delete the old one.",
        standards: &["Cloudanix IAM checklist: User Account Certificates Should Be Rotated"],
        controls: &[],
        data: &[DataSource::CredentialReport],
        requires: Requires::All(&[DataSource::CredentialReport]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::CERTIFICATE_SLOTS,
        moved_by: &[ChangeKind::SigningCertificate],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc { name: "max_age_days", description: "Maximum age in days of an active signing certificate (default 90)." }],
    },
    check: |ctx, p| {
        let max = i64::from(p.max_age_days);
        let mut hits = Vec::new();
        for row in user_rows(ctx)? {
            for Overdue { slot: c, since: uploaded, age } in overdue(ctx, &row.certs, p.max_age_days) {
                let name = sh(&row.user);
                hits.push(
                    row_hit(
                        row,
                        format!(
                            "Signing certificate {} of user {} was uploaded on {}, more than the {} allowed.",
                            c.slot,
                            row.user,
                            dated(ctx, uploaded),
                            days(max)
                        ),
                        format!(
                            "aws iam list-signing-certificates --user-name {name}   # find the id of the certificate uploaded on {d} (OLD_CERT_ID)\n\
aws iam upload-signing-certificate --user-name {name} --certificate-body file://new-cert.pem\n\
aws iam update-signing-certificate --user-name {name} --certificate-id OLD_CERT_ID --status Inactive\n\
aws iam delete-signing-certificate --user-name {name} --certificate-id OLD_CERT_ID   # once nothing fails",
                            d = day(uploaded)
                        ),
                    )
                    .discriminator(format!("cert-{}", c.slot))
                    .details(json!({"slot": c.slot, "uploaded": uploaded, "age_days": age, "max_age_days": p.max_age_days})),
                );
            }
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// user-inline-policies

pub static USER_INLINE_POLICIES: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "user-inline-policies",
        title: "User with inline policies",
        severity: Severity::Low,
        resource_type: ResourceType::User,
        description: "A user has one or more inline policies.",
        rationale: "Inline policies are invisible in the policy list, cannot be reused or versioned, and tie permissions to one \
person; permissions granted through groups and managed policies are easier to review and to revoke.",
        remediation: "Copy each inline policy into a managed policy attached to a group the user belongs to, then delete the \
inline policy.",
        standards: &[
            "CIS AWS Foundations 1.15",
            "AWS Config iam-no-inline-policy-check",
            "Cloudanix IAM checklist: Users Should Not Have Inline Policies",
        ],
        controls: &[Control::cis3("1.15"), Control::cis4("1.15"), Control::cis5("1.14"), Control::fsbp("IAM.2")],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserInlinePolicy],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let part = ctx.inventory.partition_or_default();
        let mut hits = Vec::new();
        for user in ctx.aad()?.users.iter().filter(|u| !u.inline_policies.is_empty()) {
            let names: Vec<&str> = user.inline_policies.iter().map(|p| p.name.as_str()).collect();
            let user_name = sh(&user.name);
            let steps = names
                .iter()
                .map(|pol| {
                    let p = sh(pol);
                    let file = sh(&format!("{pol}.json"));
                    let arn = sh(&format!("arn:{part}:iam::{}:policy/{pol}", ctx.account_id()));
                    format!(
                        "aws iam get-user-policy --user-name {user_name} --policy-name {p} --query PolicyDocument --output json > {file}\n\
aws iam create-policy --policy-name {p} --policy-document file://{file}\n\
aws iam attach-group-policy --group-name GROUP --policy-arn {arn}   # GROUP: a group {user_name} is in\n\
aws iam delete-user-policy --user-name {user_name} --policy-name {p}"
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            let noun = if names.len() == 1 { "inline policy" } else { "inline policies" };
            hits.push(
                user_hit(user, format!("User {} has {} {noun}: {}.", user.name, names.len(), names.join(", ")), steps)
                    .details(json!({"inline_policies": names})),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// user-attached-policies

pub static USER_ATTACHED_POLICIES: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "user-attached-policies",
        title: "User with directly attached policies",
        severity: Severity::Low,
        resource_type: ResourceType::User,
        description: "A user has managed policies attached directly instead of receiving them through a group.",
        rationale: "Permissions given through groups follow job functions and are reviewed and revoked in one place; policies \
attached user by user drift apart and are forgotten when people change roles.",
        remediation: "Attach the policies to a group that matches the user's job function, add the user to that group, then \
detach the policies from the user.",
        standards: &["CIS AWS Foundations 1.15", "AWS Security Hub IAM.2", "AWS Config iam-user-no-policies-check"],
        controls: &[Control::cis3("1.15"), Control::cis4("1.15"), Control::cis5("1.14"), Control::fsbp("IAM.2")],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::UserPolicyAttachment],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let mut hits = Vec::new();
        for user in ctx.aad()?.users.iter().filter(|u| !u.attached_policies.is_empty()) {
            let name = sh(&user.name);
            let mut steps =
                vec!["# GROUP: an existing group for this job function, or a new one: aws iam create-group --group-name GROUP".to_string()];
            steps.extend(
                user.attached_policies
                    .iter()
                    .map(|p| format!("aws iam attach-group-policy --group-name GROUP --policy-arn {}", sh(&p.arn))),
            );
            steps.push(format!("aws iam add-user-to-group --user-name {name} --group-name GROUP"));
            steps.extend(
                user.attached_policies.iter().map(|p| format!("aws iam detach-user-policy --user-name {name} --policy-arn {}", sh(&p.arn))),
            );
            let names: Vec<&str> = user.attached_policies.iter().map(|p| p.name.as_str()).collect();
            let noun = if names.len() == 1 { "managed policy" } else { "managed policies" };
            hits.push(
                user_hit(
                    user,
                    format!(
                        "User {} has {} {noun} attached directly instead of through a group: {}.",
                        user.name,
                        names.len(),
                        names.join(", ")
                    ),
                    steps.join("\n"),
                )
                .details(json!({"attached_policies": user.attached_policies, "groups": user.groups})),
            );
        }
        Ok(hits)
    },
};

// ---------------------------------------------------------------------------------------------
// user-service-inactivity

pub static USER_SERVICE_INACTIVITY: RuleDef<service_activity::ServiceInactivityParams> = RuleDef {
    meta: Meta {
        id: "user-service-inactivity",
        title: "User allowed services it does not use",
        severity: Severity::Low,
        resource_type: ResourceType::User,
        description: "An IAM user is allowed to use services it has not used for more than `max_unused_days` (never used: counted from the user's creation). Opt-in: it costs one service-last-accessed job per user.",
        rationale: "Permissions for services nobody uses are pure risk: if the credentials leak, they widen what an attacker can do. Service-last-accessed data shows which granted services are actually used, so unused ones can be removed.",
        remediation: "Remove the unused services from the user's policies (and its groups' policies), keeping only what it uses.",
        standards: &["Cloudanix IAM checklist: User Account Service Inactivity"],
        controls: &[],
        data: &[DataSource::ServiceLastAccessed, DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::ServiceLastAccessed, DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[],
        moved_by_policy: None,
        enabled_by_default: false,
        params: service_activity::PARAMS,
    },
    check: |ctx, params| {
        let aad = ctx.aad()?;
        service_activity::check_principals(
            ctx,
            params,
            aad.users.iter().map(|u| service_activity::Principal {
                resource_type: ResourceType::User,
                kind: "user",
                name: &u.name,
                arn: &u.arn,
                created: u.create_date,
            }),
        )
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{fingerprint, FindingStatus};
    use crate::testkit::*;
    use crate::{Inventory, RuleStatus, Severity};
    use serde_json::json;

    /// An inventory whose credential report holds these rows.
    fn with_rows(rows: Vec<CredentialRow>) -> Inventory {
        let mut inv = inventory();
        cr(&mut inv).users = rows;
        inv
    }

    /// A row with a console password last used `used` days ago (None: never), set 400 days ago.
    fn console(name: &str, used: Option<i64>, mfa: bool) -> CredentialRow {
        let mut r = row(name);
        r.password_enabled = ReportFlag::True;
        r.password_last_used = used.map(|d| ReportDate::At(ago(d))).unwrap_or(ReportDate::Never);
        r.password_last_changed = ReportDate::At(ago(400));
        r.mfa_active = mfa;
        r
    }

    fn with_keys(name: &str, keys: [KeySlot; 2]) -> CredentialRow {
        let mut r = row(name);
        r.access_keys = keys;
        r
    }

    fn inactive(mut k: KeySlot) -> KeySlot {
        k.active = false;
        k
    }

    fn created(mut r: CredentialRow, days_ago: Option<i64>) -> CredentialRow {
        r.user_creation_time = days_ago.map(ago);
        r
    }

    #[test]
    fn unused_user() {
        let id = "unused-user";
        check(id, &inventory(), json!({}), &[]);
        let inv = with_rows(vec![
            row("ghost"),                                                  // never signed in, no keys: unused
            console("alice", Some(3), true),                               // signs in
            with_keys("ci", [key(1, 100, Some(1)), no_key(2)]),            // API user
            with_keys("parked", [inactive(key(1, 300, None)), no_key(2)]), // an inactive key still counts (Conformity IAM-029)
            console("invited", None, false),                               // password never used, no keys: unused
        ]);
        check(id, &inv, json!({}), &[&user_arn("ghost"), &user_arn("invited")]);
        let f = findings(id, &inv, json!({}));
        let invited = f.iter().find(|f| f.resource_name == "invited").unwrap();
        assert!(invited.message.contains("console password it has never used"), "{}", invited.message);
        assert!(invited.remediation.contains("aws iam delete-login-profile --user-name invited"));
        assert!(invited.remediation.ends_with("aws iam delete-user --user-name invited"), "{}", invited.remediation);
        let ghost = f.iter().find(|f| f.resource_name == "ghost").unwrap();
        assert!(!ghost.remediation.contains("delete-login-profile"));
        assert!(ghost.message.contains(&crate::rules::day(ago(400))), "{}", ghost.message);
        assert_eq!(ghost.severity, Severity::Medium);
    }

    #[test]
    fn unused_user_grace_period() {
        let id = "unused-user";
        // Created 6 days ago: within the 7-day grace; 7 days ago: no longer younger than 7 days.
        let inv = with_rows(vec![created(row("new"), Some(6)), created(row("week"), Some(7)), created(row("unknown"), None)]);
        // Unknown creation time is not skipped.
        check(id, &inv, json!({}), &[&user_arn("week"), &user_arn("unknown")]);
        check(id, &inv, json!({"grace_days": 8}), &[&user_arn("unknown")]);
        check(id, &inv, json!({"grace_days": 0}), &[&user_arn("new"), &user_arn("week"), &user_arn("unknown")]);
        // Creation time missing from the report: the authorization details supply it.
        let mut inv = with_rows(vec![created(row("fresh"), None)]);
        let mut u = user("fresh");
        u.create_date = Some(ago(2));
        aad(&mut inv).users.push(u);
        check(id, &inv, json!({}), &[]);
        aad(&mut inv).users[0].create_date = Some(ago(20));
        check(id, &inv, json!({}), &[&user_arn("fresh")]);
    }

    #[test]
    fn unused_user_remediation_uses_known_groups_and_policies() {
        let mut inv = with_rows(vec![row("ghost")]);
        let mut u = user("ghost");
        u.groups = vec!["devs".into()];
        let ro = managed("ReadOnly", read_only_doc());
        u.attached_policies = vec![attach(&ro)];
        u.inline_policies = vec![inline("extra", read_only_doc())];
        aad(&mut inv).users.push(u);
        let f = findings("unused-user", &inv, json!({}));
        let r = &f[0].remediation;
        assert!(r.contains("aws iam remove-user-from-group --user-name ghost --group-name devs"), "{r}");
        assert!(r.contains(&format!("aws iam detach-user-policy --user-name ghost --policy-arn {}", policy_arn("ReadOnly"))), "{r}");
        assert!(r.contains("aws iam delete-user-policy --user-name ghost --policy-name extra"), "{r}");
        assert!(!r.contains("list-groups-for-user"), "{r}");
        // Without the authorization details, the commands list what to remove.
        inv.authorization = None;
        let r = findings("unused-user", &inv, json!({}))[0].remediation.clone();
        assert!(r.contains("aws iam list-groups-for-user --user-name ghost"), "{r}");
    }

    #[test]
    fn unused_user_never_looks_at_the_root_row() {
        let mut inv = inventory();
        let root = cr(&mut inv).root.as_mut().unwrap();
        root.password_last_used = ReportDate::Never;
        check("unused-user", &inv, json!({}), &[]);
        assert_eq!(status("unused-user", &inv, json!({})).0, RuleStatus::Evaluated);
    }

    #[test]
    fn user_mfa() {
        let id = "user-mfa";
        let inv = with_rows(vec![
            console("alice", Some(1), false), // password, no MFA: fails
            console("bob", Some(1), true),    // password and MFA
            row("svc"),                       // no password: MFA not required by this rule
        ]);
        check(id, &inv, json!({}), &[&user_arn("alice")]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f[0].severity, Severity::High);
        assert_eq!(
            f[0].message,
            format!("User alice has a console password (last used on {}) but no MFA device.", crate::rules::day(ago(1)))
        );
        assert!(f[0].remediation.contains(&format!("--serial-number arn:aws:iam::{ACCOUNT}:mfa/alice")), "{}", f[0].remediation);
        // Severity override.
        assert_eq!(findings(id, &inv, json!({"severity": "critical"}))[0].severity, Severity::Critical);
        // Unexpired exception: suppressed (still reported), not open.
        let ex = |expires: &str| json!({"exceptions":[{"resource": user_arn("alice"), "reason": "x", "expires": expires}]});
        let f = findings(id, &inv, ex("2027-01-01"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].status, FindingStatus::Suppressed);
        assert_eq!(f[0].suppression.as_ref().unwrap().reason, "x");
        check(id, &inv, ex("2027-01-01"), &[]);
        // Expired exception: open again.
        let f = findings(id, &inv, ex("2026-01-01"));
        assert_eq!(f[0].status, FindingStatus::Open);
        // A glob exception that does not match alice leaves her open.
        check(id, &inv, json!({"exceptions":[{"resource": "arn:aws:iam::*:user/ci-*", "reason": "CI"}]}), &[&user_arn("alice")]);
    }

    #[test]
    fn access_key_rotation() {
        let id = "access-key-rotation";
        let inv = with_rows(vec![
            with_keys("ninety", [key(1, 90, Some(1)), no_key(2)]),
            with_keys("ninetyone", [key(1, 91, Some(1)), no_key(2)]),
            with_keys("off", [inactive(key(1, 500, None)), no_key(2)]), // inactive: ignored
            with_keys("second", [key(1, 10, Some(1)), key(2, 200, Some(1))]),
        ]);
        check(id, &inv, json!({}), &[&user_arn("ninetyone"), &user_arn("second")]);
        let f = findings(id, &inv, json!({}));
        let second = f.iter().find(|f| f.resource_name == "second").unwrap();
        assert_eq!(second.fingerprint, fingerprint(id, &user_arn("second"), "key-2"));
        assert!(
            second.message.contains("Access key 2 of user second was created on")
                && second.message.contains(&format!("{} (200 days ago)", crate::rules::day(ago(200)))),
            "{}",
            second.message
        );
        assert!(second.remediation.contains("aws iam list-access-keys --user-name second"));
        assert!(second.remediation.contains("update-access-key --user-name second --access-key-id OLD_KEY_ID --status Inactive"));
        // Both keys old: one finding per key.
        let inv = with_rows(vec![with_keys("old", [key(1, 300, None), key(2, 200, None)])]);
        assert_eq!(findings(id, &inv, json!({})).len(), 2);
        check(id, &inv, json!({"max_age_days": 365}), &[]);
    }

    #[test]
    fn inactive_access_key() {
        let id = "inactive-access-key";
        let inv = with_rows(vec![
            with_keys("used45", [key(1, 400, Some(45)), no_key(2)]),
            with_keys("used46", [key(1, 400, Some(46)), no_key(2)]),
            with_keys("new45", [key(1, 45, None), no_key(2)]), // never used: counted from creation
            with_keys("new46", [key(1, 46, None), no_key(2)]),
            with_keys("off", [inactive(key(1, 400, None)), no_key(2)]), // inactive: ignored
            with_keys("busy", [key(1, 400, Some(0)), key(2, 100, None)]),
        ]);
        check(id, &inv, json!({}), &[&user_arn("used46"), &user_arn("new46"), &user_arn("busy")]);
        let f = findings(id, &inv, json!({}));
        let used = f.iter().find(|f| f.resource_name == "used46").unwrap();
        assert!(used.message.contains(&format!("was last used on {}", crate::rules::day(ago(46)))), "{}", used.message);
        let new = f.iter().find(|f| f.resource_name == "new46").unwrap();
        assert!(
            new.message.contains(&format!("has never been used since it was created on {}", crate::rules::day(ago(46)))),
            "{}",
            new.message
        );
        let busy = f.iter().find(|f| f.resource_name == "busy").unwrap();
        assert_eq!(busy.fingerprint, fingerprint(id, &user_arn("busy"), "key-2"));
        check(id, &inv, json!({"max_unused_days": 99}), &[&user_arn("busy")]);
        check(id, &inv, json!({"max_unused_days": 100}), &[]);
    }

    #[test]
    fn multiple_access_keys() {
        let id = "multiple-access-keys";
        let inv = with_rows(vec![
            with_keys("two", [key(1, 10, Some(1)), key(2, 20, None)]),
            with_keys("one", [key(1, 10, Some(1)), no_key(2)]),
            with_keys("mixed", [key(1, 10, Some(1)), inactive(key(2, 200, Some(150)))]),
            row("none"),
        ]);
        check(id, &inv, json!({}), &[&user_arn("two")]);
        check(id, &inv, json!({"count_inactive": true}), &[&user_arn("two"), &user_arn("mixed")]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f[0].severity, Severity::Low);
        assert!(f[0].message.contains("User two has 2 active access keys"), "{}", f[0].message);
    }

    #[test]
    fn console_access_inactive() {
        let id = "console-access-inactive";
        let mut set_recently = console("reset", None, true);
        set_recently.password_last_changed = ReportDate::At(ago(10));
        let mut set_long_ago = console("invited", None, true);
        set_long_ago.password_last_changed = ReportDate::At(ago(46));
        let mut no_dates = created(console("nodate", None, true), Some(46));
        no_dates.password_last_changed = ReportDate::Never;
        let mut no_password = row("api");
        no_password.password_last_used = ReportDate::At(ago(300)); // password since removed
        let inv = with_rows(vec![
            console("used45", Some(45), true),
            console("used46", Some(46), true),
            set_recently,
            set_long_ago,
            no_dates,
            no_password,
        ]);
        check(id, &inv, json!({}), &[&user_arn("used46"), &user_arn("invited"), &user_arn("nodate")]);
        let f = findings(id, &inv, json!({}));
        let invited = f.iter().find(|f| f.resource_name == "invited").unwrap();
        assert!(invited.message.contains("has never been used since it was set on"), "{}", invited.message);
        assert_eq!(
            invited.remediation.split_whitespace().take(5).collect::<Vec<_>>(),
            ["aws", "iam", "delete-login-profile", "--user-name", "invited"]
        );
        let nodate = f.iter().find(|f| f.resource_name == "nodate").unwrap();
        assert!(nodate.message.contains("since the user was created on"), "{}", nodate.message);
        check(id, &inv, json!({"max_unused_days": 46}), &[]);
    }

    #[test]
    fn user_signing_certificate_rotation() {
        let id = "user-signing-certificate-rotation";
        let mut ok = row("ok");
        ok.certs[0] = cert(1, 90);
        let mut old = row("old");
        old.certs[1] = cert(2, 91);
        let mut off = row("off");
        off.certs[0] = cert(1, 500);
        off.certs[0].active = false;
        let inv = with_rows(vec![ok, old, off]);
        check(id, &inv, json!({}), &[&user_arn("old")]);
        let f = findings(id, &inv, json!({}));
        assert_eq!(f[0].fingerprint, fingerprint(id, &user_arn("old"), "cert-2"));
        assert!(f[0].message.contains("Signing certificate 2 of user old"), "{}", f[0].message);
        assert_eq!(f[0].severity, Severity::Low);
    }

    #[test]
    fn user_inline_policies() {
        let id = "user-inline-policies";
        check(id, &inventory(), json!({}), &[]);
        let mut inv = inventory();
        let mut alice = user("alice");
        alice.inline_policies = vec![inline("s3-read", read_only_doc()), inline("admin", admin_doc())];
        aad(&mut inv).users.extend([alice, user("bob")]);
        check(id, &inv, json!({}), &[&user_arn("alice")]);
        let f = findings(id, &inv, json!({}));
        assert!(f[0].message.contains("2 inline policies: s3-read, admin"), "{}", f[0].message);
        assert!(f[0].remediation.contains("aws iam get-user-policy --user-name alice --policy-name s3-read"));
        assert!(f[0].remediation.contains("aws iam delete-user-policy --user-name alice --policy-name admin"));
        inv.authorization = None;
        assert_eq!(status(id, &inv, json!({})).0, RuleStatus::NotEvaluated);
    }

    #[test]
    fn user_attached_policies() {
        let id = "user-attached-policies";
        check(id, &inventory(), json!({}), &[]);
        let mut inv = inventory();
        let admin = managed(ADMINISTRATOR_ACCESS, admin_doc());
        let mut alice = user("alice");
        alice.attached_policies = vec![attach(&admin)];
        let mut bob = user("bob"); // gets permissions through a group only
        bob.groups = vec!["admins".into()];
        let mut g = group("admins");
        g.attached_policies = vec![attach(&admin)];
        aad(&mut inv).users.extend([alice, bob]);
        aad(&mut inv).groups.push(g);
        check(id, &inv, json!({}), &[&user_arn("alice")]);
        let f = findings(id, &inv, json!({}));
        assert!(f[0].message.contains("AdministratorAccess"), "{}", f[0].message);
        assert!(f[0].remediation.contains("aws iam add-user-to-group --user-name alice --group-name GROUP"));
        assert!(f[0].remediation.contains(&format!("aws iam detach-user-policy --user-name alice --policy-arn {ADMINISTRATOR_ACCESS}")));
    }

    #[test]
    fn credential_report_rules_need_the_report() {
        let mut inv = inventory();
        inv.credential_report = None;
        for id in [
            "unused-user",
            "user-mfa",
            "access-key-rotation",
            "inactive-access-key",
            "multiple-access-keys",
            "console-access-inactive",
            "user-signing-certificate-rotation",
        ] {
            let (st, reason) = status(id, &inv, json!({}));
            assert_eq!(st, RuleStatus::NotEvaluated, "{id}");
            assert!(reason.unwrap().contains("credential report"), "{id}");
        }
    }
}
