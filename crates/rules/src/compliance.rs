//! Compliance with published standards: each standard's IAM controls as data (one table per
//! standard, in the standard's order), and a report that gives every one of them a status from
//! an evaluation — pass, fail (with the failing resources), not evaluated (why), manual (no API
//! can check it: what to check by hand), not covered (why).
//!
//! Which rules decide a control is declared by the rules ([`Meta::controls`](crate::Meta));
//! a table only says whether a control is decided by rules, checked by hand, or not covered.
//! Where a rule checks more than a control asks (the password policy rule checks every
//! requirement, the control one of them) or its settings can make it check less, a
//! [`Refinement`] keeps only the findings that fail the control and says which settings the
//! control needs.
//!
//! The tables are tested against the published lists in `testdata/standards/` (the controls'
//! ids, titles and assessment status as the standards publish them).

use serde::Serialize;
use serde_json::Value;

use crate::catalog;
use crate::report::{Finding, FindingStatus, Report, RuleStatus, RuleSummary};
use crate::rule::Rule;
use crate::rules::account::PasswordPolicyParams;
use crate::rules::root::RootMfaParams;
use crate::rules::users::MaxUnused;
use crate::rules::MaxAge;
use crate::settings::Settings;
use crate::types::{Control, Standard};

/// How a standard says a control is assessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Assessment {
    Automated,
    Manual,
}

/// How iam-assurance assesses a control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// By the rules whose metadata names the control.
    Rules,
    /// No API can check it: what to check by hand.
    Manual(&'static str),
    /// Not checked: why.
    NotCovered(&'static str),
}

/// One control of a standard.
#[derive(Debug, Clone, Copy)]
pub struct ControlSpec {
    pub id: &'static str,
    /// As the standard publishes it.
    pub title: &'static str,
    pub assessment: Assessment,
    pub coverage: Coverage,
}

impl Standard {
    /// `cis-5.0` → the standard.
    pub fn parse(text: &str) -> Option<Standard> {
        Standard::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The standard's full name and version.
    pub fn title(self) -> &'static str {
        match self {
            Standard::Cis3 => "CIS Amazon Web Services Foundations Benchmark v3.0.0",
            Standard::Cis4 => "CIS Amazon Web Services Foundations Benchmark v4.0.1",
            Standard::Cis5 => "CIS Amazon Web Services Foundations Benchmark v5.0.0",
            Standard::Fsbp => "AWS Foundational Security Best Practices v1.0.0",
        }
    }

    /// Which of its controls the tables hold.
    pub fn scope(self) -> &'static str {
        match self {
            Standard::Fsbp => "the controls on IAM and the account's security contact (Account.1, IAM.*, and KMS.1-2 on IAM policies)",
            _ => "section 1, Identity and Access Management",
        }
    }

    /// Every IAM control of the standard, in its order.
    pub fn controls(self) -> &'static [ControlSpec] {
        match self {
            Standard::Cis3 => &CIS_3,
            Standard::Cis4 => &CIS_4,
            Standard::Cis5 => &CIS_5,
            Standard::Fsbp => &FSBP,
        }
    }
}

/// The rules that implement a control, in catalog order.
pub fn rules_for(control: Control) -> Vec<&'static dyn Rule> {
    catalog::all().iter().copied().filter(|r| r.meta().controls.contains(&control)).collect()
}

// ---------------------------------------------------------------------------------------------
// Refinements: where a rule's verdict is not exactly the control's

/// `Err`: why the rule, as configured, does not check what the control asks.
pub type SettingsCheck = fn(&Settings) -> Result<(), String>;

/// What a control needs of one rule's settings, and which of its findings fail it.
#[derive(Clone, Copy, Default)]
pub struct Refinement {
    /// `Err`: why the rule, as configured, does not check what the control asks.
    pub requires: Option<SettingsCheck>,
    /// Whether a finding of the rule fails the control (default: every finding does).
    pub fails: Option<fn(&Finding) -> bool>,
}

fn params<P: crate::rule::Params + Clone>(settings: &Settings, rule: &str) -> Result<P, String> {
    let rule_settings = settings.rule(rule).map_err(|e| format!("{rule}: invalid settings: {e}"))?;
    rule_settings.params.get::<P>().map(|p| p.into_owned()).ok_or_else(|| format!("{rule}: parameters of another rule"))
}

fn number(value: &Value, path: &[&str]) -> Option<i64> {
    path.iter().try_fold(value, |v, key| v.get(key)).and_then(Value::as_i64)
}

/// The password policy in a `password-policy` finding (`None`: the account has none).
fn policy_field(f: &Finding, field: &str) -> Option<Value> {
    f.details.get("policy").filter(|p| !p.is_null()).map(|p| p.get(field).cloned().unwrap_or(Value::Null))
}

fn password_min_length(settings: &Settings, min: u32, control: &str) -> Result<(), String> {
    let p: PasswordPolicyParams = params(settings, "password-policy")?;
    if p.min_length >= min {
        Ok(())
    } else {
        Err(format!("password-policy requires a minimum length of {} (min_length); {control} needs {min} or more", p.min_length))
    }
}

fn password_too_short(f: &Finding, min: i64) -> bool {
    match policy_field(f, "minimum_password_length") {
        None => true,
        Some(length) => length.as_i64().is_none_or(|l| l < min),
    }
}

/// The refinement of `rule` for `control` (none for most pairs).
pub fn refinement(control: Control, rule: &str) -> Refinement {
    use Standard::*;
    let cis = |v3_v4: &str, v5: &str| match control.standard {
        Cis3 | Cis4 => control.id == v3_v4,
        Cis5 => control.id == v5,
        Fsbp => false,
    };
    let fsbp = |id: &str| control.standard == Fsbp && control.id == id;
    match rule {
        "password-policy" if cis("1.8", "1.7") => {
            Refinement { requires: Some(|s| password_min_length(s, 14, "the control")), fails: Some(|f| password_too_short(f, 14)) }
        }
        "password-policy" if cis("1.9", "1.8") => Refinement {
            requires: Some(|s| {
                let p: PasswordPolicyParams = params(s, "password-policy")?;
                if p.reuse_prevention >= 24 {
                    Ok(())
                } else {
                    Err(format!(
                        "password-policy requires preventing the reuse of {} passwords (reuse_prevention); the control needs 24",
                        p.reuse_prevention
                    ))
                }
            }),
            fails: Some(|f| match policy_field(f, "password_reuse_prevention") {
                None => true,
                Some(n) => n.as_i64().is_none_or(|n| n < 24),
            }),
        },
        "password-policy" if fsbp("IAM.7") => Refinement {
            requires: Some(|s| {
                password_min_length(s, 8, "IAM.7")?;
                let p: PasswordPolicyParams = params(s, "password-policy")?;
                if p.require_uppercase && p.require_lowercase && p.require_numbers && p.require_symbols {
                    Ok(())
                } else {
                    Err("password-policy does not require every character class (require_uppercase, require_lowercase, require_numbers, require_symbols); IAM.7 needs them all".into())
                }
            }),
            fails: Some(|f| {
                password_too_short(f, 8)
                    || ["require_uppercase_characters", "require_lowercase_characters", "require_numbers", "require_symbols"]
                        .iter()
                        .any(|field| policy_field(f, field).and_then(|v| v.as_bool()) != Some(true))
            }),
        },
        // A root with a virtual MFA device has MFA; only `require_hardware` fails it.
        "root-mfa" if cis("1.5", "1.4") => Refinement { requires: None, fails: Some(|f| f.details.get("virtual_mfa_serial").is_none()) },
        "root-mfa" if cis("1.6", "1.5") || fsbp("IAM.6") => Refinement {
            requires: Some(|s| {
                let p: RootMfaParams = params(s, "root-mfa")?;
                if p.require_hardware {
                    Ok(())
                } else {
                    Err("root-mfa tells hardware from virtual MFA only with require_hardware: true".into())
                }
            }),
            fails: None,
        },
        "inactive-access-key" | "console-access-inactive" if cis("1.12", "1.11") => Refinement {
            requires: Some(if rule == "inactive-access-key" {
                |s| max_unused(s, "inactive-access-key", 45)
            } else {
                |s| max_unused(s, "console-access-inactive", 45)
            }),
            fails: Some(|f| number(&f.details, &["days_unused"]).is_none_or(|d| d > 45)),
        },
        "inactive-access-key" | "console-access-inactive" if fsbp("IAM.8") => Refinement {
            requires: Some(if rule == "inactive-access-key" {
                |s| max_unused(s, "inactive-access-key", 90)
            } else {
                |s| max_unused(s, "console-access-inactive", 90)
            }),
            fails: Some(|f| number(&f.details, &["days_unused"]).is_none_or(|d| d > 90)),
        },
        "access-key-rotation" if cis("1.14", "1.13") || fsbp("IAM.3") => Refinement {
            requires: Some(|s| {
                let p: MaxAge = params(s, "access-key-rotation")?;
                if p.max_age_days <= 90 {
                    Ok(())
                } else {
                    Err(format!("access-key-rotation allows keys of {} days (max_age_days); the control allows 90", p.max_age_days))
                }
            }),
            fails: Some(|f| number(&f.details, &["age_days"]).is_none_or(|d| d > 90)),
        },
        // "Only one active key": with count_inactive the rule also fails an active and an inactive key.
        "multiple-access-keys" if cis("1.13", "1.12") => Refinement {
            requires: None,
            fails: Some(|f| {
                f.details
                    .get("keys")
                    .and_then(Value::as_array)
                    .is_none_or(|keys| keys.iter().filter(|k| k["active"] == Value::Bool(true)).count() > 1)
            }),
        },
        // "Not attached": a customer managed policy attached to nothing does not fail it.
        "admin-policy" if cis("1.16", "1.15") => {
            Refinement { requires: None, fails: Some(|f| number(&f.details, &["attachment_count"]) != Some(0)) }
        }
        // "Expired": an old or expiring certificate does not fail it.
        "server-certificate-rotation" if cis("1.19", "1.18") => Refinement {
            requires: None,
            fails: Some(|f| f.details.get("reasons").and_then(Value::as_array).is_none_or(|r| r.iter().any(|r| r == "expired"))),
        },
        // A refused attempt on root is not a use of it.
        "root-usage" if cis("1.7", "1.6") => {
            Refinement { requires: None, fails: Some(|f| f.details.get("outcome").and_then(Value::as_str) != Some("failure")) }
        }
        _ => Refinement::default(),
    }
}

fn max_unused(settings: &Settings, rule: &str, limit: u32) -> Result<(), String> {
    let p: MaxUnused = params(settings, rule)?;
    if p.max_unused_days <= limit {
        Ok(())
    } else {
        Err(format!("{rule} allows {} days unused (max_unused_days); the control allows {limit}", p.max_unused_days))
    }
}

// ---------------------------------------------------------------------------------------------
// The report

/// A control's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlStatus {
    Pass,
    Fail,
    NotEvaluated,
    Manual,
    NotCovered,
}

impl ControlStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ControlStatus::Pass => "pass",
            ControlStatus::Fail => "fail",
            ControlStatus::NotEvaluated => "not_evaluated",
            ControlStatus::Manual => "manual",
            ControlStatus::NotCovered => "not_covered",
        }
    }
}

/// A resource that fails a control (or would, but for an exception).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlResource {
    pub rule_id: String,
    pub resource_arn: String,
    pub resource_name: String,
    pub message: String,
    /// The finding's fingerprint, to find it in the run's findings.
    pub fingerprint: String,
}

/// One rule's part in a control.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVerdict {
    pub rule_id: String,
    pub status: ControlStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One control's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ControlResult {
    pub id: String,
    pub title: String,
    /// As the standard assesses it.
    pub assessment: Assessment,
    pub status: ControlStatus,
    /// The rules that decide it, each with its verdict (empty: manual or not covered).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleVerdict>,
    /// Why it is not evaluated, what to check by hand, or why it is not covered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<ControlResource>,
    /// Resources that would fail it, accepted by an exception in the settings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excepted: Vec<ControlResource>,
}

/// How many controls have each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub pass: usize,
    pub fail: usize,
    pub not_evaluated: usize,
    pub manual: usize,
    pub not_covered: usize,
}

/// Every IAM control of a standard with its status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComplianceReport {
    pub standard: Standard,
    pub title: &'static str,
    pub scope: &'static str,
    pub account_id: String,
    pub evaluated_at: chrono::DateTime<chrono::Utc>,
    pub counts: StatusCounts,
    pub controls: Vec<ControlResult>,
}

fn resource(f: &Finding) -> ControlResource {
    ControlResource {
        rule_id: f.rule_id.clone(),
        resource_arn: f.resource_arn.clone(),
        resource_name: f.resource_name.clone(),
        message: f.message.clone(),
        fingerprint: f.fingerprint.clone(),
    }
}

/// What an evaluation found: a [`Report`], or the same parts of a run's output.
#[derive(Debug, Clone, Copy)]
pub struct Evaluated<'a> {
    pub account_id: &'a str,
    pub evaluated_at: chrono::DateTime<chrono::Utc>,
    pub findings: &'a [Finding],
    pub rules: &'a [RuleSummary],
}

impl<'a> From<&'a Report> for Evaluated<'a> {
    fn from(report: &'a Report) -> Self {
        Evaluated { account_id: &report.account_id, evaluated_at: report.evaluated_at, findings: &report.findings, rules: &report.rules }
    }
}

impl Evaluated<'_> {
    fn rule(&self, id: &str) -> Option<&RuleSummary> {
        self.rules.iter().find(|r| r.rule_id == id)
    }
}

/// Every control of `standard`, assessed from an evaluation with the `settings` it ran with.
pub fn assess<'a>(standard: Standard, evaluated: impl Into<Evaluated<'a>>, settings: &Settings) -> ComplianceReport {
    let report = evaluated.into();
    let mut counts = StatusCounts::default();
    let controls: Vec<ControlResult> = standard
        .controls()
        .iter()
        .map(|spec| {
            let result = assess_control(Control { standard, id: spec.id }, spec, &report, settings);
            match result.status {
                ControlStatus::Pass => counts.pass += 1,
                ControlStatus::Fail => counts.fail += 1,
                ControlStatus::NotEvaluated => counts.not_evaluated += 1,
                ControlStatus::Manual => counts.manual += 1,
                ControlStatus::NotCovered => counts.not_covered += 1,
            }
            result
        })
        .collect();
    ComplianceReport {
        standard,
        title: standard.title(),
        scope: standard.scope(),
        account_id: report.account_id.to_string(),
        evaluated_at: report.evaluated_at,
        counts,
        controls,
    }
}

fn assess_control(control: Control, spec: &ControlSpec, report: &Evaluated<'_>, settings: &Settings) -> ControlResult {
    let mut result = ControlResult {
        id: spec.id.to_string(),
        title: spec.title.to_string(),
        assessment: spec.assessment,
        status: ControlStatus::Pass,
        rules: Vec::new(),
        reason: None,
        failing: Vec::new(),
        excepted: Vec::new(),
    };
    match spec.coverage {
        Coverage::Manual(how) => {
            result.status = ControlStatus::Manual;
            result.reason = Some(how.to_string());
            return result;
        }
        Coverage::NotCovered(why) => {
            result.status = ControlStatus::NotCovered;
            result.reason = Some(why.to_string());
            return result;
        }
        Coverage::Rules => {}
    }
    let rules = rules_for(control);
    if rules.is_empty() {
        // The tables are tested against the rules' metadata: this is a defect, said as such.
        result.status = ControlStatus::NotEvaluated;
        result.reason = Some("internal error: no rule implements this control".into());
        return result;
    }
    let mut unknown = Vec::new();
    for rule in rules {
        let id = rule.meta().id;
        let refinement = refinement(control, id);
        let verdict = match report.rule(id) {
            None => Err(format!("{id} was not run")),
            Some(summary) => match summary.status {
                RuleStatus::Disabled => Err(format!("{id} is disabled ({})", summary.reason.as_deref().unwrap_or("in settings"))),
                RuleStatus::NotEvaluated => Err(format!("{id}: {}", summary.reason.as_deref().unwrap_or("not evaluated"))),
                RuleStatus::Evaluated => match refinement.requires.map(|f| f(settings)).unwrap_or(Ok(())) {
                    Err(reason) => Err(reason),
                    Ok(()) => Ok(()),
                },
            },
        };
        if let Err(reason) = verdict {
            result.rules.push(RuleVerdict { rule_id: id.to_string(), status: ControlStatus::NotEvaluated, reason: Some(reason.clone()) });
            unknown.push(reason);
            continue;
        }
        let mut failed = false;
        for f in report.findings.iter().filter(|f| f.rule_id == id && refinement.fails.is_none_or(|fails| fails(f))) {
            match f.status {
                FindingStatus::Open => {
                    failed = true;
                    result.failing.push(resource(f));
                }
                FindingStatus::Suppressed => result.excepted.push(resource(f)),
            }
        }
        let status = if failed { ControlStatus::Fail } else { ControlStatus::Pass };
        result.rules.push(RuleVerdict { rule_id: id.to_string(), status, reason: None });
    }
    result.status = if !result.failing.is_empty() {
        ControlStatus::Fail
    } else if !unknown.is_empty() {
        result.reason = Some(unknown.join("; "));
        ControlStatus::NotEvaluated
    } else {
        ControlStatus::Pass
    };
    result
}

// ---------------------------------------------------------------------------------------------
// The tables: every control of each standard's IAM section, in its order, with the title and
// assessment status it publishes.

static CIS_3: [ControlSpec; 22] = [
    ControlSpec {
        id: "1.1",
        title: "Maintain current contact details",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that the account's contact email and telephone are current and reach more than one person (an alias, a hunt group): the Billing console, Account settings, Contact information. No API tells whether a contact is current."),
    },
    ControlSpec {
        id: "1.2",
        title: "Ensure security contact information is registered",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.3",
        title: "Ensure security questions are registered in the AWS account",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that security challenge questions are set: sign in as root, Account settings, Configure Security Challenge Questions. No API reads them."),
    },
    ControlSpec {
        id: "1.4",
        title: "Ensure no 'root' user account access key exists",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.5",
        title: "Ensure MFA is enabled for the 'root' user account",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.6",
        title: "Ensure hardware MFA is enabled for the 'root' user account",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.7",
        title: "Eliminate use of the 'root' user for administrative and daily tasks",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.8",
        title: "Ensure IAM password policy requires minimum length of 14 or greater",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.9",
        title: "Ensure IAM password policy prevents password reuse",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.10",
        title: "Ensure multi-factor authentication (MFA) is enabled for all IAM users that have a console password",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.11",
        title: "Do not setup access keys during initial user setup for all IAM users that have a console password",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.12",
        title: "Ensure credentials unused for 45 days or greater are disabled",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.13",
        title: "Ensure there is only one active access key available for any single IAM user",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.14",
        title: "Ensure access keys are rotated every 90 days or less",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.15",
        title: "Ensure IAM Users Receive Permissions Only Through Groups",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.16",
        title: "Ensure IAM policies that allow full \"*:*\" administrative privileges are not attached",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.17",
        title: "Ensure a support role has been created to manage incidents with AWS Support",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.18",
        title: "Ensure IAM instance roles are used for AWS resource access from instances",
        assessment: Assessment::Manual,
        coverage: Coverage::NotCovered("Needs EC2 (DescribeInstances and their instance profiles), which iam-assurance does not read: it audits IAM only."),
    },
    ControlSpec {
        id: "1.19",
        title: "Ensure that all the expired SSL/TLS certificates stored in AWS IAM are removed",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.20",
        title: "Ensure that IAM Access analyzer is enabled for all regions",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.21",
        title: "Ensure IAM users are managed centrally via identity federation or AWS Organizations for multi-account environments",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that people reach this account through identity federation (IAM Identity Center or a SAML/OIDC provider) or AWS Organizations rather than IAM users of their own: an organizational decision no single account's API can judge (`aws iam list-saml-providers`, `aws iam list-open-id-connect-providers` list the providers)."),
    },
    ControlSpec {
        id: "1.22",
        title: "Ensure access to AWSCloudShellFullAccess is restricted",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
];

static CIS_4: [ControlSpec; 22] = [
    ControlSpec {
        id: "1.1",
        title: "Maintain current contact details",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that the account's contact email and telephone are current and reach more than one person (an alias, a hunt group): the Billing console, Account settings, Contact information. No API tells whether a contact is current."),
    },
    ControlSpec {
        id: "1.2",
        title: "Ensure security contact information is registered",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.3",
        title: "Ensure security questions are registered in the AWS account",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that security challenge questions are set: sign in as root, Account settings, Configure Security Challenge Questions. No API reads them."),
    },
    ControlSpec {
        id: "1.4",
        title: "Ensure no 'root' user account access key exists",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.5",
        title: "Ensure MFA is enabled for the 'root' user account",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.6",
        title: "Ensure hardware MFA is enabled for the 'root' user account",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.7",
        title: "Eliminate use of the 'root' user for administrative and daily tasks",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.8",
        title: "Ensure IAM password policy requires minimum length of 14 or greater",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.9",
        title: "Ensure IAM password policy prevents password reuse",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.10",
        title: "Ensure multi-factor authentication (MFA) is enabled for all IAM users that have a console password",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.11",
        title: "Do not create access keys during initial setup for IAM users with a console password",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.12",
        title: "Ensure credentials unused for 45 days or more are disabled",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.13",
        title: "Ensure there is only one active access key for any single IAM user",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.14",
        title: "Ensure access keys are rotated every 90 days or less",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.15",
        title: "Ensure IAM users receive permissions only through groups",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.16",
        title: "Ensure IAM policies that allow full *:* administrative privileges are not attached",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.17",
        title: "Ensure a support role has been created to manage incidents with AWS Support",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.18",
        title: "Ensure IAM instance roles are used for AWS resource access from instances",
        assessment: Assessment::Automated,
        coverage: Coverage::NotCovered("Needs EC2 (DescribeInstances and their instance profiles), which iam-assurance does not read: it audits IAM only."),
    },
    ControlSpec {
        id: "1.19",
        title: "Ensure that all expired SSL/TLS certificates stored in AWS IAM are removed",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.20",
        title: "Ensure that IAM Access Analyzer is enabled for all regions",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.21",
        title: "Ensure IAM users are managed centrally via identity federation or AWS Organizations for multi-account environments",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that people reach this account through identity federation (IAM Identity Center or a SAML/OIDC provider) or AWS Organizations rather than IAM users of their own: an organizational decision no single account's API can judge (`aws iam list-saml-providers`, `aws iam list-open-id-connect-providers` list the providers)."),
    },
    ControlSpec {
        id: "1.22",
        title: "Ensure access to AWSCloudShellFullAccess is restricted",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
];

static CIS_5: [ControlSpec; 21] = [
    ControlSpec {
        id: "1.1",
        title: "Maintain current contact details",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that the account's contact email and telephone are current and reach more than one person (an alias, a hunt group): the Billing console, Account settings, Contact information. No API tells whether a contact is current."),
    },
    ControlSpec {
        id: "1.2",
        title: "Ensure security contact information is registered",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.3",
        title: "Ensure no 'root' user account access key exists",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.4",
        title: "Ensure MFA is enabled for the 'root' user account",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.5",
        title: "Ensure hardware MFA is enabled for the 'root' user account",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.6",
        title: "Eliminate use of the 'root' user for administrative and daily tasks",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.7",
        title: "Ensure IAM password policy requires minimum length of 14 or greater",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.8",
        title: "Ensure IAM password policy prevents password reuse",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.9",
        title: "Ensure multi-factor authentication (MFA) is enabled for all IAM users that have a console password",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.10",
        title: "Do not create access keys during initial setup for IAM users with a console password",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.11",
        title: "Ensure credentials unused for 45 days or more are disabled",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.12",
        title: "Ensure there is only one active access key for any single IAM user",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.13",
        title: "Ensure access keys are rotated every 90 days or less",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.14",
        title: "Ensure IAM users receive permissions only through groups",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.15",
        title: "Ensure IAM policies that allow full *:* administrative privileges are not attached",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.16",
        title: "Ensure a support role has been created to manage incidents with AWS Support",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.17",
        title: "Ensure IAM instance roles are used for AWS resource access from instances",
        assessment: Assessment::Automated,
        coverage: Coverage::NotCovered("Needs EC2 (DescribeInstances and their instance profiles), which iam-assurance does not read: it audits IAM only."),
    },
    ControlSpec {
        id: "1.18",
        title: "Ensure that all expired SSL/TLS certificates stored in AWS IAM are removed",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.19",
        title: "Ensure that IAM External Access Analyzer is enabled for all regions",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "1.20",
        title: "Ensure IAM users are managed centrally via identity federation or AWS Organizations for multi-account environments",
        assessment: Assessment::Manual,
        coverage: Coverage::Manual("Check by hand that people reach this account through identity federation (IAM Identity Center or a SAML/OIDC provider) or AWS Organizations rather than IAM users of their own: an organizational decision no single account's API can judge (`aws iam list-saml-providers`, `aws iam list-open-id-connect-providers` list the providers)."),
    },
    ControlSpec {
        id: "1.21",
        title: "Ensure access to AWSCloudShellFullAccess is restricted",
        assessment: Assessment::Manual,
        coverage: Coverage::Rules,
    },
];

static FSBP: [ControlSpec; 12] = [
    ControlSpec {
        id: "Account.1",
        title: "Security contact information should be provided for an AWS account",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.1",
        title: "IAM policies should not allow full \"*\" administrative privileges",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.2",
        title: "IAM users should not have IAM policies attached",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.3",
        title: "IAM users' access keys should be rotated every 90 days or less",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.4",
        title: "IAM root user access key should not exist",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.5",
        title: "MFA should be enabled for all IAM users that have a console password",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.6",
        title: "Hardware MFA should be enabled for the root user",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.7",
        title: "Password policies for IAM users should have strong configurations",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.8",
        title: "Unused IAM user credentials should be removed",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "IAM.21",
        title: "IAM customer managed policies that you create should not allow wildcard actions for services",
        assessment: Assessment::Automated,
        coverage: Coverage::Rules,
    },
    ControlSpec {
        id: "KMS.1",
        title: "IAM customer managed policies should not allow decryption actions on all KMS keys",
        assessment: Assessment::Automated,
        coverage: Coverage::NotCovered(
            "No rule checks IAM policies for KMS decryption actions on every key (kms:Decrypt, kms:ReEncryptFrom on Resource \"*\").",
        ),
    },
    ControlSpec {
        id: "KMS.2",
        title: "IAM principals should not have IAM inline policies that allow decryption actions on all KMS keys",
        assessment: Assessment::Automated,
        coverage: Coverage::NotCovered(
            "No rule checks inline policies for KMS decryption actions on every key (kms:Decrypt, kms:ReEncryptFrom on Resource \"*\").",
        ),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{AccessAnalyzers, AlternateContact, Analyzer, Inventory, RegionAnalyzers};
    use crate::testkit::*;
    use serde_json::json;

    fn published(standard: Standard) -> Vec<(String, Assessment, String)> {
        let text = match standard {
            Standard::Cis3 => include_str!("../testdata/standards/cis-3.0.tsv"),
            Standard::Cis4 => include_str!("../testdata/standards/cis-4.0.tsv"),
            Standard::Cis5 => include_str!("../testdata/standards/cis-5.0.tsv"),
            Standard::Fsbp => include_str!("../testdata/standards/fsbp.tsv"),
        };
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let cells: Vec<&str> = l.split('\t').collect();
                assert_eq!(cells.len(), 3, "{l:?}");
                let assessment = match cells[1] {
                    "automated" => Assessment::Automated,
                    "manual" => Assessment::Manual,
                    other => panic!("assessment {other:?}"),
                };
                (cells[0].to_string(), assessment, cells[2].to_string())
            })
            .collect()
    }

    #[test]
    fn tables_hold_every_published_control_in_order() {
        for standard in Standard::ALL {
            let table: Vec<(String, Assessment, String)> =
                standard.controls().iter().map(|c| (c.id.to_string(), c.assessment, c.title.to_string())).collect();
            assert_eq!(table, published(standard), "{}", standard.as_str());
        }
        assert_eq!(Standard::Cis3.controls().len(), 22);
        assert_eq!(Standard::Cis4.controls().len(), 22);
        assert_eq!(Standard::Cis5.controls().len(), 21);
        assert_eq!(Standard::parse("cis-5.0"), Some(Standard::Cis5));
        assert_eq!(Standard::parse("cis-5"), None);
    }

    #[test]
    fn the_rules_and_the_tables_agree() {
        // Every control a rule names is in its standard's table, decided by rules.
        for rule in catalog::all() {
            for control in rule.meta().controls {
                let spec = control.standard.controls().iter().find(|c| c.id == control.id);
                let spec =
                    spec.unwrap_or_else(|| panic!("{}: {} {} is not in the table", rule.meta().id, control.standard.as_str(), control.id));
                assert_eq!(spec.coverage, Coverage::Rules, "{}: {} {}", rule.meta().id, control.standard.as_str(), control.id);
            }
        }
        // Every control decided by rules has one.
        for standard in Standard::ALL {
            for spec in standard.controls().iter().filter(|c| c.coverage == Coverage::Rules) {
                assert!(!rules_for(Control { standard, id: spec.id }).is_empty(), "{} {}", standard.as_str(), spec.id);
            }
        }
        // The same requirement is mapped in every CIS version: v3 and v4 share ids, v5 drops 1.3.
        for rule in catalog::all() {
            let ids = |s: Standard| rule.meta().controls.iter().filter(|c| c.standard == s).map(|c| c.id).collect::<Vec<_>>();
            assert_eq!(ids(Standard::Cis3), ids(Standard::Cis4), "{}", rule.meta().id);
            let shifted: Vec<String> = ids(Standard::Cis3)
                .iter()
                .map(|id| {
                    let n: u32 = id.trim_start_matches("1.").parse().unwrap();
                    if n > 3 {
                        format!("1.{}", n - 1)
                    } else {
                        id.to_string()
                    }
                })
                .collect();
            assert_eq!(shifted, ids(Standard::Cis5), "{}", rule.meta().id);
        }
    }

    /// An account that passes every automated control: the testkit's clean account with a
    /// support role, an analyzer in its one region and a security contact.
    fn clean() -> Inventory {
        let mut inv = inventory();
        let support = managed("arn:aws:iam::aws:policy/AWSSupportAccess", read_only_doc());
        let mut r = role("support");
        r.attached_policies.push(attach(&support));
        aad(&mut inv).roles.push(r);
        aad(&mut inv).policies.push(support);
        inv.access_analyzers = Some(AccessAnalyzers {
            regions: vec![RegionAnalyzers {
                region: "us-east-1".into(),
                analyzers: vec![Analyzer { name: "ext".into(), arn: "arn:x".into(), kind: "ACCOUNT".into(), status: "ACTIVE".into() }],
            }],
            regions_from: "test".into(),
        });
        inv.security_contact = Some(Some(AlternateContact { email: Some("sec@example.com".into()), ..Default::default() }));
        inv.virtual_mfa_devices = Some(Vec::new());
        inv
    }

    fn assess_with(standard: Standard, inv: &Inventory, settings: serde_json::Value) -> ComplianceReport {
        let settings = Settings::from_json_text(&settings.to_string()).unwrap();
        let report = crate::evaluate(inv, &settings, now());
        assess(standard, &report, &settings)
    }

    fn status_of(report: &ComplianceReport, id: &str) -> ControlStatus {
        report.controls.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("{id}")).status
    }

    #[test]
    fn a_clean_account() {
        let report = assess_with(Standard::Cis5, &clean(), json!({}));
        assert_eq!(report.controls.len(), 21);
        let by_status = |s: ControlStatus| report.controls.iter().filter(|c| c.status == s).map(|c| c.id.as_str()).collect::<Vec<_>>();
        assert_eq!(by_status(ControlStatus::Manual), ["1.1", "1.20"]);
        assert_eq!(by_status(ControlStatus::NotCovered), ["1.17"]);
        // Hardware MFA needs root-mfa's require_hardware.
        assert_eq!(by_status(ControlStatus::NotEvaluated), ["1.5"]);
        assert!(report.controls.iter().find(|c| c.id == "1.5").unwrap().reason.as_deref().unwrap().contains("require_hardware"));
        assert_eq!(report.counts, StatusCounts { pass: 17, fail: 0, not_evaluated: 1, manual: 2, not_covered: 1 });
        let with_hardware = assess_with(Standard::Cis5, &clean(), json!({"root-mfa": {"require_hardware": true}}));
        assert_eq!(status_of(&with_hardware, "1.5"), ControlStatus::Pass);
        // FSBP: KMS.1/KMS.2 are not covered; everything else passes.
        let fsbp = assess_with(Standard::Fsbp, &clean(), json!({"root-mfa": {"require_hardware": true}}));
        assert_eq!(fsbp.counts, StatusCounts { pass: 10, fail: 0, not_evaluated: 0, manual: 0, not_covered: 2 });
        // CIS 3.0 and 4.0 also list the security questions (manual).
        let cis3 = assess_with(Standard::Cis3, &clean(), json!({}));
        assert_eq!(status_of(&cis3, "1.3"), ControlStatus::Manual);
        assert_eq!(cis3.controls.len(), 22);
    }

    #[test]
    fn failures_name_their_resources_and_refinements_apply() {
        let mut inv = clean();
        // A 12-character policy that prevents reuse of 24: 1.7 fails, 1.8 passes.
        if let Some(Some(p)) = inv.password_policy.as_mut() {
            p.minimum_password_length = Some(12);
        }
        // An admin policy attached to nothing: fails IAM.1, not CIS 1.15 ("attached").
        aad(&mut inv).policies.push(managed("unused-admin", admin_doc()).with_attachments(0));
        // A user with a console password and no MFA.
        let mut row = row("alice");
        row.password_enabled = crate::inventory::ReportFlag::True;
        row.password_last_used = crate::inventory::ReportDate::At(ago(1));
        cr(&mut inv).users.push(row);
        aad(&mut inv).users.push(user("alice"));
        let cis = assess_with(Standard::Cis5, &inv, json!({}));
        assert_eq!(status_of(&cis, "1.7"), ControlStatus::Fail);
        assert_eq!(status_of(&cis, "1.8"), ControlStatus::Pass);
        assert_eq!(status_of(&cis, "1.15"), ControlStatus::Pass);
        let mfa = cis.controls.iter().find(|c| c.id == "1.9").unwrap();
        assert_eq!(mfa.status, ControlStatus::Fail);
        assert_eq!(mfa.failing.iter().map(|r| r.resource_arn.as_str()).collect::<Vec<_>>(), [user_arn("alice")]);
        assert_eq!(mfa.rules, vec![RuleVerdict { rule_id: "user-mfa".into(), status: ControlStatus::Fail, reason: None }]);
        let fsbp = assess_with(Standard::Fsbp, &inv, json!({}));
        assert_eq!(status_of(&fsbp, "IAM.1"), ControlStatus::Fail);
        // IAM.7 asks for 8 characters: 12 passes it.
        assert_eq!(status_of(&fsbp, "IAM.7"), ControlStatus::Pass);
        // An exception: not failing, listed as excepted.
        let excepted = assess_with(
            Standard::Cis5,
            &inv,
            json!({"user-mfa": {"exceptions": [{"resource": user_arn("alice"), "reason": "hardware key on order"}]}}),
        );
        let mfa = excepted.controls.iter().find(|c| c.id == "1.9").unwrap();
        assert_eq!((mfa.status, mfa.excepted.len()), (ControlStatus::Pass, 1));
    }

    #[test]
    fn unknowns_are_not_evaluated_with_the_reason() {
        let mut inv = clean();
        inv.security_contact = None;
        inv.record_gap(crate::DataSource::SecurityContact, "account:GetAlternateContact: AccessDeniedException");
        let report =
            assess_with(Standard::Cis5, &inv, json!({"user-mfa": {"enabled": false}, "inactive-access-key": {"max_unused_days": 60}}));
        let contact = report.controls.iter().find(|c| c.id == "1.2").unwrap();
        assert_eq!(contact.status, ControlStatus::NotEvaluated);
        assert!(contact.reason.as_deref().unwrap().contains("AccessDeniedException"));
        let mfa = report.controls.iter().find(|c| c.id == "1.9").unwrap();
        assert_eq!(mfa.status, ControlStatus::NotEvaluated);
        assert!(mfa.reason.as_deref().unwrap().contains("user-mfa is disabled"), "{:?}", mfa.reason);
        // A threshold looser than the control's: not evaluated, saying which.
        let unused = report.controls.iter().find(|c| c.id == "1.11").unwrap();
        assert_eq!(unused.status, ControlStatus::NotEvaluated);
        assert!(unused.reason.as_deref().unwrap().contains("allows 60 days unused"), "{:?}", unused.reason);
        // A rule that was not run at all (an evaluation of some rules only).
        let settings = Settings::defaults();
        let only = crate::evaluate_only(&clean(), &settings, now(), &[crate::catalog::find("user-mfa").unwrap()]);
        let partial = assess(Standard::Cis5, &only, &settings);
        assert_eq!(status_of(&partial, "1.9"), ControlStatus::Pass);
        assert!(partial.controls.iter().find(|c| c.id == "1.3").unwrap().reason.as_deref().unwrap().contains("was not run"));
    }
}
