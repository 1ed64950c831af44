//! Builders for rule tests: a fixed clock, a small account, and `check` helpers.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

use crate::inventory::*;
use crate::policy::PolicyDocument;
use crate::report::{Finding, FindingStatus, Report, RuleStatus};
use crate::settings::Settings;

pub const ACCOUNT: &str = "123456789012";

/// The evaluation clock of every test: 2026-11-23T12:00:00Z.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
}

/// `days` days before [`now`].
pub fn ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

pub fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

pub fn role_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

pub fn group_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:group/{name}")
}

pub fn policy_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:policy/{name}")
}

pub fn root_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT}:root")
}

/// An account with every data source present and empty: no users, groups, roles or
/// policies; a credential report with a root row that is clean (MFA on, no keys, no certs,
/// not used recently); a strong password policy; no server certificates.
pub fn inventory() -> Inventory {
    let mut inv = Inventory::new(ACCOUNT);
    inv.authorization = Some(AuthorizationDetails { complete: true, ..Default::default() });
    inv.credential_report = Some(CredentialReport {
        generated_at: Some(ago(0)),
        source: CredentialSource::Report,
        root: Some(root_row()),
        users: Vec::new(),
        duplicates: Vec::new(),
    });
    inv.account_summary = Some(AccountSummary {
        account_mfa_enabled: Some(true),
        account_access_keys_present: Some(false),
        account_signing_certificates_present: Some(false),
        users: Some(0),
        raw: Default::default(),
    });
    inv.password_policy = Some(Some(PasswordPolicy {
        minimum_password_length: Some(14),
        require_symbols: true,
        require_numbers: true,
        require_uppercase_characters: true,
        require_lowercase_characters: true,
        allow_users_to_change_password: true,
        expire_passwords: true,
        max_password_age: Some(90),
        password_reuse_prevention: Some(24),
        hard_expiry: false,
    }));
    inv.server_certificates = Some(Vec::new());
    inv
}

pub fn aad(inv: &mut Inventory) -> &mut AuthorizationDetails {
    inv.authorization.as_mut().expect("inventory has authorization details")
}

pub fn cr(inv: &mut Inventory) -> &mut CredentialReport {
    inv.credential_report.as_mut().expect("inventory has a credential report")
}

/// A user created 400 days ago with nothing attached.
pub fn user(name: &str) -> User {
    User {
        name: name.into(),
        arn: user_arn(name),
        id: format!("AIDA{}", name.to_uppercase()),
        path: "/".into(),
        create_date: Some(ago(400)),
        groups: Vec::new(),
        attached_policies: Vec::new(),
        inline_policies: Vec::new(),
        permissions_boundary: None,
        tags: Some(Tags::new()),
    }
}

pub fn group(name: &str) -> Group {
    Group {
        name: name.into(),
        arn: group_arn(name),
        id: format!("AGPA{}", name.to_uppercase()),
        path: "/".into(),
        create_date: Some(ago(400)),
        attached_policies: Vec::new(),
        inline_policies: Vec::new(),
    }
}

/// A role created 400 days ago, never used, trusted by the account.
pub fn role(name: &str) -> Role {
    Role {
        name: name.into(),
        arn: role_arn(name),
        id: format!("AROA{}", name.to_uppercase()),
        path: "/".into(),
        create_date: Some(ago(400)),
        attached_policies: Vec::new(),
        inline_policies: Vec::new(),
        permissions_boundary: None,
        last_used: None,
        trust_policy: Some(doc(
            json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":format!("arn:aws:iam::{ACCOUNT}:root")},"Action":"sts:AssumeRole"}]}),
        )),
        tags: Some(Tags::new()),
    }
}

/// A service-linked role (path `/aws-service-role/...`).
pub fn service_linked_role(name: &str) -> Role {
    let mut r = role(name);
    r.path = "/aws-service-role/elasticloadbalancing.amazonaws.com/".into();
    r.arn = format!("arn:aws:iam::{ACCOUNT}:role/aws-service-role/elasticloadbalancing.amazonaws.com/{name}");
    r
}

pub fn doc(value: Value) -> Result<PolicyDocument, String> {
    PolicyDocument::from_value(&value)
}

pub fn admin_doc() -> Value {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})
}

pub fn read_only_doc() -> Value {
    json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}]})
}

pub fn inline(name: &str, document: Value) -> InlinePolicy {
    InlinePolicy { name: name.into(), document: doc(document) }
}

/// A managed policy. `name_or_arn` may be a full ARN (e.g. an AWS managed policy).
pub fn managed(name_or_arn: &str, document: Value) -> ManagedPolicy {
    let arn = if name_or_arn.starts_with("arn:") { name_or_arn.to_string() } else { policy_arn(name_or_arn) };
    ManagedPolicy { name: name_from_arn(&arn).into(), arn, path: "/".into(), attachment_count: None, document: Some(doc(document)) }
}

impl ManagedPolicy {
    /// With an `AttachmentCount`.
    pub fn with_attachments(mut self, count: i64) -> Self {
        self.attachment_count = Some(count);
        self
    }
}

pub fn attach(policy: &ManagedPolicy) -> AttachedPolicy {
    AttachedPolicy { name: policy.name.clone(), arn: policy.arn.clone() }
}

pub const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";

/// A credential-report row for a user created 400 days ago: no password, no keys, no MFA,
/// no certificates.
pub fn row(name: &str) -> CredentialRow {
    CredentialRow {
        user: name.into(),
        arn: user_arn(name),
        user_creation_time: Some(ago(400)),
        password_enabled: ReportFlag::False,
        password_last_used: ReportDate::Never,
        password_last_changed: ReportDate::Never,
        mfa_active: false,
        access_keys: [no_key(1), no_key(2)],
        certs: [no_cert(1), no_cert(2)],
    }
}

pub fn no_key(slot: u8) -> KeySlot {
    KeySlot { slot, active: false, last_rotated: ReportDate::Never, last_used: ReportDate::Never }
}

/// An active key created `created_days_ago`, last used `used_days_ago` (None: never).
pub fn key(slot: u8, created_days_ago: i64, used_days_ago: Option<i64>) -> KeySlot {
    KeySlot {
        slot,
        active: true,
        last_rotated: ReportDate::At(ago(created_days_ago)),
        last_used: used_days_ago.map(|d| ReportDate::At(ago(d))).unwrap_or(ReportDate::Never),
    }
}

pub fn no_cert(slot: u8) -> CertSlot {
    CertSlot { slot, active: false, last_rotated: ReportDate::Never }
}

pub fn cert(slot: u8, rotated_days_ago: i64) -> CertSlot {
    CertSlot { slot, active: true, last_rotated: ReportDate::At(ago(rotated_days_ago)) }
}

/// The root row as AWS writes it for a well-kept root: MFA on, no keys or certificates,
/// password fields `not_supported`, last signed in 30 days ago.
pub fn root_row() -> CredentialRow {
    CredentialRow {
        user: ROOT_ROW_USER.into(),
        arn: root_arn(),
        user_creation_time: Some(ago(2000)),
        password_enabled: ReportFlag::NotSupported,
        password_last_used: ReportDate::At(ago(30)),
        password_last_changed: ReportDate::NotSupported,
        mfa_active: true,
        access_keys: [no_key(1), no_key(2)],
        certs: [no_cert(1), no_cert(2)],
    }
}

/// Evaluate all rules with the given settings JSON (`{}` for defaults).
pub fn run(inv: &Inventory, settings: Value) -> Report {
    let settings = Settings::from_json_text(&settings.to_string()).expect("settings JSON");
    let report = crate::evaluate(inv, &settings, now());
    report.findings.iter().for_each(assert_keyed);
    report
}

/// Evaluate one rule and return its findings, asserting it was evaluated.
pub fn findings(rule_id: &str, inv: &Inventory, settings: Value) -> Vec<Finding> {
    let report = run(inv, json!({ rule_id: settings }));
    let summary = report.rule(rule_id).unwrap_or_else(|| panic!("rule {rule_id} is not in the catalog"));
    assert_eq!(summary.status, RuleStatus::Evaluated, "{rule_id}: {:?}", summary.reason);
    let found: Vec<Finding> = report.findings.into_iter().filter(|f| f.rule_id == rule_id).collect();
    for f in &found {
        assert_keyed(f);
    }
    found
}

/// Every finding's fingerprint is one its rule's [`Keys`](crate::rule::Keys) can name from
/// the resource ARN and the names in the finding's details: what lets an event read just the
/// state items it can touch.
#[track_caller]
pub fn assert_keyed(f: &Finding) {
    fn strings<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
            Value::Object(map) => map.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    let rule = crate::catalog::find(&f.rule_id).unwrap_or_else(|| panic!("rule {} is not in the catalog", f.rule_id));
    let mut names = Vec::new();
    strings(&f.details, &mut names);
    let keyed =
        rule.meta().keys.candidates(names).iter().any(|d| crate::report::fingerprint(&f.rule_id, &f.resource_arn, d) == f.fingerprint);
    assert!(keyed, "{}: the fingerprint of the finding on {} is not one its rule's keys name", f.rule_id, f.resource_arn);
}

/// The data-driven check: evaluate `rule_id` with `settings` and compare the sorted ARNs of
/// its open findings with `expected`.
#[track_caller]
pub fn check(rule_id: &str, inv: &Inventory, settings: Value, expected: &[&str]) {
    let mut got: Vec<String> =
        findings(rule_id, inv, settings).into_iter().filter(|f| f.status == FindingStatus::Open).map(|f| f.resource_arn).collect();
    got.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{rule_id}: failing resources");
}

/// Evaluate `rule_id` and return (status, reason).
pub fn status(rule_id: &str, inv: &Inventory, settings: Value) -> (RuleStatus, Option<String>) {
    let report = run(inv, json!({ rule_id: settings }));
    let summary = report.rule(rule_id).expect("rule in catalog");
    (summary.status, summary.reason.clone())
}

/// Why the rule was not evaluated (`None` when it was).
pub fn cause(rule_id: &str, inv: &Inventory, settings: Value) -> Option<crate::Cause> {
    run(inv, json!({ rule_id: settings })).rule(rule_id).expect("rule in catalog").cause
}
