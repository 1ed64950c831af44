//! A finding in the AWS Security Finding Format (ASFF): what the Security Hub export imports
//! and what `--format asff` writes (a JSON array that
//! `aws securityhub batch-import-findings --findings file://findings.json` takes).
//!
//! How a finding's state maps to ASFF ([`Record`]):
//!
//! | state | `RecordState` | `Workflow.Status` | `Compliance.Status` |
//! |---|---|---|---|
//! | open | `ACTIVE` | `NEW` | `FAILED` |
//! | suppressed by an exception | `ARCHIVED` | `SUPPRESSED`, the reason in `Note` | `FAILED` |
//! | resolved (fixed, or its entity deleted) | `ARCHIVED` | `RESOLVED` | `PASSED` |
//! | closed (its rule was disabled: nothing was fixed) | `ARCHIVED` | `RESOLVED` | `NOT_AVAILABLE` |
//! | a rule that could not be evaluated (files only) | `ACTIVE` | `NEW` | `NOT_AVAILABLE` |
//!
//! Security Hub applies `Workflow` and `Note` only when it creates a finding; later imports
//! update the rest (docs/securityhub.md says what that means for exceptions added later).
//! `Id` is the fingerprint, so a re-import updates the finding instead of adding one.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use iam_assurance_aws::securityhub::{
    default_product_arn, AsffCompliance, AsffFinding, AsffFindingProviderFields, AsffNote, AsffRecommendation, AsffRemediation,
    AsffResource, AsffSeverity, AsffWorkflow, SCHEMA_VERSION,
};
use iam_assurance_rules::report::{Finding, FindingStatus};
use iam_assurance_rules::types::{Control, Standard};
use iam_assurance_rules::{ResourceType, Severity};

use super::{clip_chars, controls_of, partition_of, requirement, NotEvaluated, PRODUCT};

/// ASFF's limits on text fields (characters).
pub const MAX_TITLE: usize = 256;
pub const MAX_DESCRIPTION: usize = 1024;
pub const MAX_RECOMMENDATION: usize = 512;
pub const MAX_NOTE: usize = 512;
/// ASFF's limit on `Compliance.RelatedRequirements` entries.
pub const MAX_REQUIREMENTS: usize = 32;

/// What Security Hub should hold for a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    Open,
    Suppressed,
    /// Fixed, or its entity was deleted.
    Resolved,
    /// Its rule was disabled: closed without a fix.
    Closed,
}

impl Record {
    /// The record of a finding as a run reports it.
    pub fn of(finding: &Finding) -> Record {
        match finding.status {
            FindingStatus::Open => Record::Open,
            FindingStatus::Suppressed => Record::Suppressed,
        }
    }

    fn states(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Record::Open => ("ACTIVE", "NEW", "FAILED"),
            Record::Suppressed => ("ARCHIVED", "SUPPRESSED", "FAILED"),
            Record::Resolved => ("ARCHIVED", "RESOLVED", "PASSED"),
            Record::Closed => ("ARCHIVED", "RESOLVED", "NOT_AVAILABLE"),
        }
    }
}

/// Where the findings go: the region of the Security Hub they are imported into (the product
/// ARN names it), and the time of the import.
#[derive(Debug, Clone)]
pub struct Target {
    pub region: String,
    pub now: DateTime<Utc>,
}

/// ASFF's severity label.
pub fn severity_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "CRITICAL",
        Severity::High => "HIGH",
        Severity::Medium => "MEDIUM",
        Severity::Low => "LOW",
        Severity::Info => "INFORMATIONAL",
    }
}

/// ASFF's resource type for ours (IAM server certificates have none: `Other`).
pub fn resource_type(resource_type: ResourceType) -> &'static str {
    match resource_type {
        ResourceType::User => "AwsIamUser",
        ResourceType::Role => "AwsIamRole",
        ResourceType::Group => "AwsIamGroup",
        ResourceType::Policy => "AwsIamPolicy",
        ResourceType::Account => "AwsAccount",
        ResourceType::ServerCertificate => "Other",
    }
}

/// The resource `Id`: the ARN, or `AWS::::Account:<id>` for the account (as Security Hub names
/// accounts).
fn resource_id(resource_type: ResourceType, arn: &str, account_id: &str) -> String {
    match resource_type {
        ResourceType::Account => format!("AWS::::Account:{account_id}"),
        _ => arn.to_string(),
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// ASFF finding types (Security Hub's taxonomy) for a rule with these controls.
fn types(controls: &[Control]) -> Vec<String> {
    let mut types = vec!["Software and Configuration Checks/AWS Security Best Practices".to_string()];
    if controls.iter().any(|c| c.standard != Standard::Fsbp) {
        types.push("Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark".into());
    }
    types
}

/// Controls as `Compliance.RelatedRequirements` (at most ASFF's 32).
pub fn related_requirements(controls: &[Control]) -> Vec<String> {
    controls.iter().take(MAX_REQUIREMENTS).map(requirement).collect()
}

/// A finding in ASFF. `first_seen`: when it was first seen open (the finding state's
/// `first_seen`; a run without state gives its own time). The rule's controls come from the
/// catalog.
pub fn finding(f: &Finding, record: Record, first_seen: DateTime<Utc>, target: &Target) -> AsffFinding {
    finding_with_controls(f, record, first_seen, target, controls_of(&f.rule_id))
}

/// [`finding`] with the controls given.
pub fn finding_with_controls(f: &Finding, record: Record, first_seen: DateTime<Utc>, target: &Target, controls: &[Control]) -> AsffFinding {
    let partition = partition_of(&f.resource_arn).to_string();
    let (record_state, workflow, compliance) = record.states();
    let severity = AsffSeverity { label: severity_label(f.severity).into(), original: f.severity.as_str().into() };
    let types = types(controls);
    let note = match (record, &f.suppression) {
        (Record::Suppressed, Some(s)) => {
            let expires = s.expires.map(|t| format!(" (until {})", time(t))).unwrap_or_default();
            Some(AsffNote {
                text: clip_chars(&format!("Exception {}: {}{expires}", s.exception, s.reason), MAX_NOTE),
                updated_by: PRODUCT.into(),
                updated_at: time(target.now),
            })
        }
        _ => None,
    };
    let mut product_fields = BTreeMap::from([
        (format!("{PRODUCT}/RuleId"), f.rule_id.clone()),
        (format!("{PRODUCT}/Fingerprint"), f.fingerprint.clone()),
        (format!("{PRODUCT}/ResourceName"), f.resource_name.clone()),
    ]);
    if let Some(s) = &f.suppression {
        product_fields.insert(format!("{PRODUCT}/Exception"), clip_chars(&s.exception, 2048));
    }
    AsffFinding {
        schema_version: SCHEMA_VERSION.into(),
        id: f.fingerprint.clone(),
        product_arn: default_product_arn(&partition, &target.region, &f.account_id),
        product_name: PRODUCT.into(),
        generator_id: format!("{PRODUCT}/{}", f.rule_id),
        aws_account_id: f.account_id.clone(),
        types: types.clone(),
        first_observed_at: time(first_seen),
        last_observed_at: time(target.now),
        created_at: time(first_seen),
        updated_at: time(target.now),
        severity: severity.clone(),
        title: clip_chars(&f.title, MAX_TITLE),
        description: clip_chars(&f.message, MAX_DESCRIPTION),
        remediation: AsffRemediation { recommendation: AsffRecommendation { text: clip_chars(&f.remediation, MAX_RECOMMENDATION) } },
        product_fields,
        resources: vec![AsffResource {
            r#type: resource_type(f.resource_type).into(),
            id: resource_id(f.resource_type, &f.resource_arn, &f.account_id),
            partition,
            region: target.region.clone(),
        }],
        compliance: AsffCompliance { status: compliance.into(), related_requirements: related_requirements(controls) },
        workflow: AsffWorkflow { status: workflow.into() },
        record_state: record_state.into(),
        note,
        finding_provider_fields: AsffFindingProviderFields { severity, types },
    }
}

/// A rule that could not be evaluated, for files: `Compliance.Status` `NOT_AVAILABLE` on the
/// account, the reason as the description.
pub fn not_evaluated(rule: &NotEvaluated, account_id: &str, target: &Target) -> AsffFinding {
    let partition = partition_of(&rule.account_arn).to_string();
    let severity = AsffSeverity { label: "INFORMATIONAL".into(), original: "not_evaluated".into() };
    let controls = controls_of(&rule.rule_id);
    let types = types(controls);
    AsffFinding {
        schema_version: SCHEMA_VERSION.into(),
        id: rule.id.clone(),
        product_arn: default_product_arn(&partition, &target.region, account_id),
        product_name: PRODUCT.into(),
        generator_id: format!("{PRODUCT}/{}", rule.rule_id),
        aws_account_id: account_id.to_string(),
        types: types.clone(),
        first_observed_at: time(target.now),
        last_observed_at: time(target.now),
        created_at: time(target.now),
        updated_at: time(target.now),
        severity: severity.clone(),
        title: clip_chars(&format!("Not evaluated: {}", rule.title), MAX_TITLE),
        description: clip_chars(&format!("The rule {} could not be evaluated: {}", rule.rule_id, rule.reason), MAX_DESCRIPTION),
        remediation: AsffRemediation {
            recommendation: AsffRecommendation {
                text: clip_chars("Give the rule the data it needs (see the reason), then run again.", MAX_RECOMMENDATION),
            },
        },
        product_fields: BTreeMap::from([(format!("{PRODUCT}/RuleId"), rule.rule_id.clone())]),
        resources: vec![AsffResource {
            r#type: "AwsAccount".into(),
            id: format!("AWS::::Account:{account_id}"),
            partition,
            region: target.region.clone(),
        }],
        compliance: AsffCompliance { status: "NOT_AVAILABLE".into(), related_requirements: related_requirements(controls) },
        workflow: AsffWorkflow { status: "NEW".into() },
        record_state: "ACTIVE".into(),
        note: None,
        finding_provider_fields: AsffFindingProviderFields { severity, types },
    }
}
