//! A synthetic account for benchmarking the rules core: users, credential-report rows, roles,
//! groups and managed policies in fixed proportions, built directly in the inventory model
//! (no parsing, no I/O), deterministic (no randomness: entity `i` always looks the same).
//!
//! Proportions of `entities`: 35 % users, 35 % credential-report rows (one per user), 20 %
//! roles, 5 % groups, 5 % customer managed policies; plus a root row, the AWS managed
//! policies that are attached, a password policy, an account summary and a few server
//! certificates. The mix makes every rule do real work: console users with and without
//! MFA, one or two keys of every age, direct and group attachments, inline policies, a few
//! administrators, empty groups, service-linked roles, old and recent dates.

use chrono::{DateTime, Duration, TimeZone, Utc};
use iam_assurance_rules::inventory::*;
use iam_assurance_rules::policy::PolicyDocument;
use iam_assurance_rules::Settings;
use serde_json::{json, Value};

pub const ACCOUNT: &str = "123456789012";

/// The evaluation time: 2026-11-23T12:00:00Z.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).single().expect("valid time")
}

fn ago(days: i64) -> DateTime<Utc> {
    now() - Duration::days(days)
}

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:{kind}/{name}")
}

fn doc(value: Value) -> PolicyDocument {
    PolicyDocument::from_value(&value).expect("synthetic policy documents are valid")
}

fn admin_doc() -> Value {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
}

fn service_doc(i: usize) -> Value {
    let services = ["s3", "dynamodb", "sqs", "sns", "lambda", "logs", "ec2", "kms"];
    let a = services[i % services.len()];
    let b = services[(i / 8) % services.len()];
    json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": [format!("{a}:Get*"), format!("{a}:List*"), format!("{b}:Describe*")], "Resource": "*"},
        {"Sid": "Write", "Effect": "Allow", "Action": format!("{a}:Put*"), "Resource": format!("arn:aws:{a}:::bench-{i}/*"),
         "Condition": {"Bool": {"aws:SecureTransport": "true"}}},
        {"Sid": "NoDelete", "Effect": "Deny", "Action": format!("{a}:Delete*"), "Resource": "*"}
    ]})
}

fn trust_doc() -> Value {
    json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}
    ]})
}

const ADMINISTRATOR_ACCESS: &str = "arn:aws:iam::aws:policy/AdministratorAccess";
const READ_ONLY_ACCESS: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";

/// How many of each kind a synthetic account of `entities` entities holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub users: usize,
    pub credential_rows: usize,
    pub roles: usize,
    pub groups: usize,
    pub policies: usize,
}

impl Shape {
    pub fn of(entities: usize) -> Shape {
        let users = entities * 35 / 100;
        let roles = entities * 20 / 100;
        let groups = (entities * 5 / 100).max(1);
        let policies = (entities * 5 / 100).max(1);
        // Credential rows make up the rest (one per user, rounding aside).
        let credential_rows = entities.saturating_sub(users + roles + groups + policies).min(users);
        Shape { users, credential_rows, roles, groups, policies }
    }

    pub fn total(&self) -> usize {
        self.users + self.credential_rows + self.roles + self.groups + self.policies
    }
}

fn attached(arn: &str) -> AttachedPolicy {
    AttachedPolicy { name: name_from_arn(arn).to_string(), arn: arn.to_string() }
}

fn key(slot: u8, created: i64, used: Option<i64>) -> KeySlot {
    KeySlot {
        slot,
        active: true,
        last_rotated: ReportDate::At(ago(created)),
        last_used: used.map(|d| ReportDate::At(ago(d))).unwrap_or(ReportDate::Never),
    }
}

fn no_key(slot: u8) -> KeySlot {
    KeySlot { slot, active: false, last_rotated: ReportDate::Never, last_used: ReportDate::Never }
}

fn no_cert(slot: u8) -> CertSlot {
    CertSlot { slot, active: false, last_rotated: ReportDate::Never }
}

/// A synthetic account of `entities` entities (see the module documentation).
pub fn inventory(entities: usize) -> Inventory {
    let shape = Shape::of(entities);
    let policy_arn = |p: usize| arn("policy", &format!("bench-policy-{p:06}"));

    let mut policies: Vec<ManagedPolicy> = (0..shape.policies)
        .map(|p| ManagedPolicy {
            name: format!("bench-policy-{p:06}"),
            arn: policy_arn(p),
            path: "/".into(),
            attachment_count: Some(1),
            // One in a thousand customer managed policies is `Allow * on *`.
            document: Some(Ok(doc(if p % 1000 == 999 { admin_doc() } else { service_doc(p) }))),
        })
        .collect();
    policies.push(ManagedPolicy {
        name: "AdministratorAccess".into(),
        arn: ADMINISTRATOR_ACCESS.into(),
        path: "/".into(),
        attachment_count: Some(3),
        document: Some(Ok(doc(admin_doc()))),
    });
    policies.push(ManagedPolicy {
        name: "ReadOnlyAccess".into(),
        arn: READ_ONLY_ACCESS.into(),
        path: "/".into(),
        attachment_count: Some(10),
        document: Some(Ok(doc(json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["*:Get*", "*:List*", "*:Describe*"], "Resource": "*"}]})))),
    });

    // 5 % of the groups have no members (the users are spread over the other 95 %).
    let populated_groups = (shape.groups - shape.groups / 20).max(1);
    let groups: Vec<Group> = (0..shape.groups)
        .map(|g| {
            let mut attached_policies = vec![attached(&policy_arn(g % shape.policies))];
            if g % 500 == 0 {
                attached_policies.push(attached(ADMINISTRATOR_ACCESS));
            }
            let inline_policies = if g % 10 == 3 {
                vec![InlinePolicy { name: "group-inline".into(), document: Ok(doc(service_doc(g))) }]
            } else {
                Vec::new()
            };
            Group {
                name: format!("bench-group-{g:05}"),
                arn: arn("group", &format!("bench-group-{g:05}")),
                id: format!("AGPABENCH{g:08}"),
                path: "/".into(),
                create_date: Some(ago(200 + (g % 700) as i64)),
                attached_policies,
                inline_policies,
            }
        })
        .collect();

    let users: Vec<User> = (0..shape.users)
        .map(|i| {
            let name = format!("bench-user-{i:06}");
            let mut user_groups = vec![groups[i % populated_groups].name.clone()];
            if i % 3 == 0 {
                user_groups.push(groups[(i * 7 + 1) % populated_groups].name.clone());
            }
            let mut attached_policies = Vec::new();
            if i % 10 == 0 {
                attached_policies.push(attached(&policy_arn((i / 10) % shape.policies)));
            }
            if i % 10 == 5 {
                attached_policies.push(attached(READ_ONLY_ACCESS));
            }
            if i % 5000 == 17 {
                attached_policies.push(attached(ADMINISTRATOR_ACCESS));
            }
            let inline_policies =
                if i % 20 == 7 { vec![InlinePolicy { name: "user-inline".into(), document: Ok(doc(service_doc(i))) }] } else { Vec::new() };
            User {
                arn: arn("user", &name),
                id: format!("AIDABENCH{i:08}"),
                path: "/".into(),
                create_date: Some(ago(1 + (i % 900) as i64)),
                groups: user_groups,
                attached_policies,
                inline_policies,
                permissions_boundary: (i % 50 == 0).then(|| policy_arn(i % shape.policies)),
                tags: Some(Default::default()),
                name,
            }
        })
        .collect();

    let roles: Vec<Role> = (0..shape.roles)
        .map(|k| {
            let service_linked = k % 50 == 0;
            let name = format!("bench-role-{k:06}");
            let (path, role_arn) = if service_linked {
                let path = "/aws-service-role/elasticloadbalancing.amazonaws.com/".to_string();
                (path.clone(), arn("role", &format!("aws-service-role/elasticloadbalancing.amazonaws.com/{name}")))
            } else {
                ("/".to_string(), arn("role", &name))
            };
            let mut attached_policies = vec![attached(&policy_arn((k * 3) % shape.policies))];
            if k % 4000 == 11 {
                attached_policies.push(attached(ADMINISTRATOR_ACCESS));
            }
            let inline_policies =
                if k % 4 == 1 { vec![InlinePolicy { name: "role-inline".into(), document: Ok(doc(service_doc(k))) }] } else { Vec::new() };
            Role {
                name,
                arn: role_arn,
                id: format!("AROABENCH{k:08}"),
                path,
                create_date: Some(ago(10 + (k % 1000) as i64)),
                attached_policies,
                inline_policies,
                permissions_boundary: None,
                last_used: (k % 3 != 0).then(|| ago((k % 200) as i64)),
                trust_policy: Some(Ok(doc(trust_doc()))),
                tags: Some(Default::default()),
            }
        })
        .collect();

    let rows: Vec<CredentialRow> = users
        .iter()
        .take(shape.credential_rows)
        .enumerate()
        .map(|(i, user)| {
            let console = i % 10 < 3;
            let keys = match i % 10 {
                0..=5 => [key(1, (i % 400) as i64, Some((i % 120) as i64)), no_key(2)],
                6 => [key(1, (i % 400) as i64, None), key(2, (i % 30) as i64, Some(1))],
                _ => [no_key(1), no_key(2)],
            };
            CredentialRow {
                user: user.name.clone(),
                arn: user.arn.clone(),
                user_creation_time: user.create_date,
                password_enabled: if console { ReportFlag::True } else { ReportFlag::False },
                password_last_used: if console { ReportDate::At(ago((i % 90) as i64)) } else { ReportDate::Never },
                password_last_changed: if console { ReportDate::At(ago((i % 300) as i64)) } else { ReportDate::Never },
                mfa_active: console && i % 2 == 0,
                access_keys: keys,
                certs: [no_cert(1), no_cert(2)],
            }
        })
        .collect();

    let root = CredentialRow {
        user: ROOT_ROW_USER.into(),
        arn: format!("arn:aws:iam::{ACCOUNT}:root"),
        user_creation_time: Some(ago(2000)),
        password_enabled: ReportFlag::NotSupported,
        password_last_used: ReportDate::At(ago(30)),
        password_last_changed: ReportDate::NotSupported,
        mfa_active: true,
        access_keys: [no_key(1), no_key(2)],
        certs: [no_cert(1), no_cert(2)],
    };

    let mut inv = Inventory::new(ACCOUNT);
    inv.authorization = Some(AuthorizationDetails { users, groups, roles, policies, complete: true });
    inv.credential_report =
        Some(CredentialReport { generated_at: Some(ago(0)), source: CredentialSource::Report, root: Some(root), users: rows, duplicates: Vec::new() });
    inv.account_summary = Some(AccountSummary {
        account_mfa_enabled: Some(true),
        account_access_keys_present: Some(false),
        account_signing_certificates_present: Some(false),
        users: Some(shape.users as i64),
        raw: Default::default(),
    });
    inv.password_policy = Some(Some(PasswordPolicy {
        minimum_password_length: Some(12),
        require_symbols: true,
        require_numbers: true,
        require_uppercase_characters: true,
        require_lowercase_characters: true,
        allow_users_to_change_password: true,
        expire_passwords: true,
        max_password_age: Some(90),
        password_reuse_prevention: Some(12),
        hard_expiry: false,
    }));
    inv.server_certificates = Some(
        (0..5)
            .map(|c| ServerCertificate {
                name: format!("bench-cert-{c}"),
                arn: arn("server-certificate", &format!("bench-cert-{c}")),
                path: "/".into(),
                upload_date: Some(ago(100 + c * 200)),
                expiration: Some(ago(-400 + c * 200)),
            })
            .collect(),
    );
    inv
}

/// Settings that exercise the settings machinery too: an approved-users list of globs, an
/// unapproved policy, severity overrides and exceptions with globs.
pub fn settings() -> Settings {
    let value = json!({
        "approved-users": {"approved": ["bench-user-0*", "bench-user-1*", "svc-*"]},
        "unapproved-policy-in-use": {"unapproved": ["AdministratorAccess", "arn:aws:iam::aws:policy/ReadOnlyAccess"]},
        "access-key-rotation": {"max_age_days": 180, "severity": "high"},
        "user-mfa": {"exceptions": [
            {"resource": format!("arn:aws:iam::{ACCOUNT}:user/bench-user-00*"), "reason": "break-glass users", "expires": "2027-06-30"}
        ]},
        "role-inline-policies": {"exceptions": [
            {"resource": format!("arn:aws:iam::{ACCOUNT}:role/bench-role-0001*"), "reason": "legacy roles", "expires": "2027-06-30"}
        ]}
    });
    let settings = Settings::from_json_text(&value.to_string()).expect("valid settings");
    assert!(settings.all_errors().is_empty(), "settings errors: {:?}", settings.all_errors());
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_adds_up() {
        assert_eq!(Shape::of(100_000).total(), 100_000);
        assert_eq!(Shape::of(1_000).total(), 1_000);
    }

    #[test]
    fn every_rule_is_evaluated_and_finds_something() {
        let report = iam_assurance_rules::evaluate(&inventory(2_000), &settings(), now());
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        assert!(report.findings.len() > 100);
    }
}
