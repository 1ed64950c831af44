//! Findings in the formats other tools read: ASFF (Security Hub), OCSF (security data lakes and
//! SIEMs) and CSV (spreadsheets), for `audit` and `sweep` (`--format asff|ocsf|csv`), and the
//! Security Hub export of the live path.
//!
//! - [`asff`]: a finding in ASFF, as it is imported and as `--format asff` writes it;
//! - [`ocsf`]: a finding as an OCSF Compliance Finding (class 2003);
//! - [`csv`]: the findings as CSV rows;
//! - [`securityhub`]: the live export, riding on the finding state's claims (see its docs);
//!   [`options`]: its setting and what a run reports of it.
//!
//! Pure except [`securityhub`]'s import step: run data in, documents out. Rules that could not
//! be evaluated appear in every file as a record that says so (ASFF `NOT_AVAILABLE`, OCSF
//! compliance status `Unknown`, CSV status `not_evaluated`), never as a silent absence.

pub mod asff;
pub mod csv;
pub mod ocsf;
pub mod options;
pub mod securityhub;

use iam_assurance_rules::catalog;
use iam_assurance_rules::report::{fingerprint, RuleStatus};
use iam_assurance_rules::types::{Control, Standard};

use crate::output::RunOutput;

/// The product name every format carries.
pub const PRODUCT: &str = "iam-assurance";

/// A control as Security Hub names it in `Compliance.RelatedRequirements`:
/// `CIS AWS Foundations Benchmark v3.0.0/1.4`, `AWS Foundational Security Best Practices v1.0.0/IAM.4`.
pub fn requirement(control: &Control) -> String {
    format!("{}/{}", standard_name(control.standard), control.id)
}

/// A standard's name and version, as Security Hub writes it.
pub fn standard_name(standard: Standard) -> &'static str {
    match standard {
        Standard::Cis3 => "CIS AWS Foundations Benchmark v3.0.0",
        Standard::Cis4 => "CIS AWS Foundations Benchmark v4.0.0",
        Standard::Cis5 => "CIS AWS Foundations Benchmark v5.0.0",
        Standard::Fsbp => "AWS Foundational Security Best Practices v1.0.0",
    }
}

/// The controls a rule implements (none for an unknown rule id).
pub fn controls_of(rule_id: &str) -> &'static [Control] {
    catalog::find(rule_id).map_or(&[], |r| r.meta().controls)
}

/// A rule the run could not evaluate, as the files report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotEvaluated {
    pub rule_id: String,
    pub title: String,
    pub reason: String,
    /// A stable id: the fingerprint of (rule, the account, `not-evaluated`).
    pub id: String,
    /// The account's ARN (`arn:<partition>:iam::<account>:root`).
    pub account_arn: String,
}

/// The rules of a run that were not evaluated (disabled rules are left out: they were not
/// asked for).
pub fn not_evaluated(output: &RunOutput, partition: &str) -> Vec<NotEvaluated> {
    let account_arn = format!("arn:{partition}:iam::{}:root", output.account_id);
    output
        .rules
        .iter()
        .filter(|r| r.status == RuleStatus::NotEvaluated)
        .map(|r| NotEvaluated {
            rule_id: r.rule_id.clone(),
            title: catalog::find(&r.rule_id).map_or_else(|| r.rule_id.clone(), |rule| rule.meta().title.to_string()),
            reason: r.reason.clone().unwrap_or_else(|| "not evaluated (no reason given)".into()),
            id: fingerprint(&r.rule_id, &account_arn, "not-evaluated"),
            account_arn: account_arn.clone(),
        })
        .collect()
}

/// The partition of an ARN (`aws`, `aws-cn`, `aws-us-gov`), `aws` when it names none.
pub fn partition_of(arn: &str) -> &str {
    arn.split(':').nth(1).filter(|p| !p.is_empty()).unwrap_or("aws")
}

/// At most `max` characters of `text` (Security Hub and OCSF consumers count characters), with
/// a note when cut.
pub fn clip_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    const MORE: &str = " ... (cut)";
    let keep = max.saturating_sub(MORE.len());
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(MORE);
    out
}

/// The partition of a run's account: its findings', `aws` when it has none.
pub fn run_partition(output: &RunOutput) -> String {
    output.findings.first().map_or("aws", |f| partition_of(&f.resource_arn)).to_string()
}

/// A run as an ASFF document: its findings, then a `NOT_AVAILABLE` finding per rule it could not
/// evaluate. `region`: the Security Hub the document is for (its product ARN names it).
pub fn asff_document(output: &RunOutput, region: &str) -> Vec<iam_assurance_aws::securityhub::AsffFinding> {
    let target = asff::Target { region: region.to_string(), now: output.evaluated_at };
    let mut out: Vec<_> = output.findings.iter().map(|f| asff::finding(f, asff::Record::of(f), output.evaluated_at, &target)).collect();
    out.extend(not_evaluated(output, &run_partition(output)).iter().map(|r| asff::not_evaluated(r, &output.account_id, &target)));
    out
}

/// A run as OCSF Compliance Finding events: its findings, then one per rule it could not evaluate.
pub fn ocsf_document(output: &RunOutput) -> Vec<serde_json::Value> {
    let mut out: Vec<_> = output.findings.iter().map(|f| ocsf::finding(f, output.evaluated_at)).collect();
    out.extend(
        not_evaluated(output, &run_partition(output)).iter().map(|r| ocsf::not_evaluated(r, &output.account_id, output.evaluated_at)),
    );
    out
}

/// A run as CSV.
pub fn csv_document(out: impl std::io::Write, output: &RunOutput) -> Result<(), ::csv::Error> {
    csv::write(out, output, &not_evaluated(output, &run_partition(output)))
}
