//! The result of one evaluation: findings and a per-rule summary.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::types::{ResourceType, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingStatus {
    Open,
    Suppressed,
}

/// Why a finding is suppressed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Suppression {
    pub exception: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<DateTime<Utc>>,
}

/// One failed check on one resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub title: String,
    pub severity: Severity,
    pub status: FindingStatus,
    pub resource_type: ResourceType,
    pub resource_arn: String,
    pub resource_name: String,
    pub account_id: String,
    pub message: String,
    pub remediation: String,
    pub fingerprint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppression: Option<Suppression>,
    #[serde(skip_serializing_if = "is_empty_object")]
    pub details: Value,
}

fn is_empty_object(value: &Value) -> bool {
    value.as_object().is_some_and(|m| m.is_empty()) || value.is_null()
}

/// Stable across runs for the same problem on the same resource: a hash of the rule id, the
/// resource ARN and the rule's discriminator (key slot, inline policy name...). Severity,
/// message and dates are left out on purpose so a changed threshold or an older key does not
/// make a "new" finding.
pub fn fingerprint(rule_id: &str, resource_arn: &str, discriminator: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(rule_id.as_bytes());
    hasher.update([0]);
    hasher.update(resource_arn.as_bytes());
    hasher.update([0]);
    hasher.update(discriminator.as_bytes());
    let digest = hasher.finalize();
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// A short hash of a text (a finding's message), to tell whether it changed without keeping it.
pub fn text_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleStatus {
    Evaluated,
    NotEvaluated,
    Disabled,
}

/// Why a rule was not evaluated: whether it is a blind spot someone must fix (`unreadable`,
/// `invalid_settings`) or a known state of the deployment (`unconfigured`, `unknowable`,
/// `out_of_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Data the rule needs could not be read, or only in part (a permission denied, a service
    /// unavailable, a policy document unreadable).
    Unreadable,
    /// The rule's settings are invalid.
    InvalidSettings,
    /// The rule needs a setting nobody gave it (a list of approved users).
    Unconfigured,
    /// AWS does not give the fact the rule decides on.
    Unknowable,
    /// The run's scope does not cover it (an event's run); the sweep evaluates it.
    OutOfScope,
}

impl Cause {
    /// A gap someone must fix: counted by the rules-not-evaluated alarm.
    pub fn is_blind_spot(self) -> bool {
        matches!(self, Cause::Unreadable | Cause::InvalidSettings)
    }

    /// The name in the result JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Unreadable => "unreadable",
            Cause::InvalidSettings => "invalid_settings",
            Cause::Unconfigured => "unconfigured",
            Cause::Unknowable => "unknowable",
            Cause::OutOfScope => "out_of_scope",
        }
    }
}

/// How one rule fared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleSummary {
    pub rule_id: String,
    pub status: RuleStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// With `not_evaluated`: what kind of gap it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    pub severity: Severity,
    /// Open findings.
    pub failed: usize,
    pub suppressed: usize,
}

/// Findings plus the per-rule summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub account_id: String,
    pub evaluated_at: DateTime<Utc>,
    /// When the credential report the run used was generated (it may be up to 4 hours old).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_report_generated_at: Option<DateTime<Utc>>,
    pub findings: Vec<Finding>,
    pub rules: Vec<RuleSummary>,
    /// Settings errors and inventory problems that did not stop the run.
    pub errors: Vec<Problem>,
}

/// A problem that did not stop a run, shown to people as its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
}

/// What kind of problem: what the CLI's exit status and the function's metrics are made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// A setting is invalid (an unknown rule id or key, a wrong type): the rule it belongs to
    /// was not evaluated, or the defaults were used.
    Settings,
    /// Data was read but not whole or not consistent (a policy document that does not parse,
    /// a user one source lists and the other does not).
    Data,
    /// A data source could not be collected at all (an AWS error, a denied call, the time
    /// running out): the rules that needed it were not evaluated.
    Collection,
}

impl Problem {
    pub fn settings(message: impl Into<String>) -> Self {
        Problem { kind: ProblemKind::Settings, message: message.into() }
    }

    pub fn data(message: impl Into<String>) -> Self {
        Problem { kind: ProblemKind::Data, message: message.into() }
    }

    pub fn collection(message: impl Into<String>) -> Self {
        Problem { kind: ProblemKind::Collection, message: message.into() }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The run JSON lists problems as their messages.
impl Serialize for Problem {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.message)
    }
}

impl Report {
    pub fn open_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == FindingStatus::Open)
    }

    pub fn rule(&self, id: &str) -> Option<&RuleSummary> {
        self.rules.iter().find(|r| r.rule_id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::Cause;

    #[test]
    fn a_cause_is_named_as_in_the_result_json_and_only_gaps_to_fix_are_blind_spots() {
        let all = [Cause::Unreadable, Cause::InvalidSettings, Cause::Unconfigured, Cause::Unknowable, Cause::OutOfScope];
        for cause in all {
            assert_eq!(serde_json::to_value(cause).unwrap(), cause.as_str());
        }
        let blind: Vec<Cause> = all.into_iter().filter(|c| c.is_blind_spot()).collect();
        assert_eq!(blind, [Cause::Unreadable, Cause::InvalidSettings]);
    }
}
