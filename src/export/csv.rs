//! The findings as CSV (RFC 4180, a header row, one row per finding, then one row per rule the
//! run could not evaluate), for spreadsheets: `--format csv`.
//!
//! A cell that a spreadsheet would read as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
//! a carriage return: IAM names may start with `+`, `=`, `-` or `@`) is written with a leading
//! `'`, which spreadsheets show as text (OWASP's advice against CSV injection).

use std::io::Write;

use iam_assurance_rules::report::FindingStatus;

use super::{controls_of, requirement, NotEvaluated};
use crate::output::RunOutput;

/// The columns, in order.
pub const HEADER: [&str; 16] = [
    "account_id",
    "evaluated_at",
    "status",
    "severity",
    "rule_id",
    "title",
    "resource_type",
    "resource_name",
    "resource_arn",
    "message",
    "remediation",
    "controls",
    "exception",
    "exception_reason",
    "exception_expires",
    "fingerprint",
];

/// A cell as written: formula-like text is made plain text.
pub fn cell(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_string(),
    }
}

/// Write the run's findings (and the rules it could not evaluate) as CSV.
pub fn write(out: impl Write, output: &RunOutput, not_evaluated: &[NotEvaluated]) -> Result<(), csv::Error> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(HEADER)?;
    let evaluated_at = output.evaluated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for f in &output.findings {
        let status = match f.status {
            FindingStatus::Open => "open",
            FindingStatus::Suppressed => "suppressed",
        };
        let controls: Vec<String> = controls_of(&f.rule_id).iter().map(requirement).collect();
        let (exception, reason, expires) = match &f.suppression {
            Some(s) => (s.exception.as_str(), s.reason.as_str(), s.expires.map(|t| t.to_rfc3339()).unwrap_or_default()),
            None => ("", "", String::new()),
        };
        let row = [
            f.account_id.as_str(),
            &evaluated_at,
            status,
            f.severity.as_str(),
            &f.rule_id,
            &f.title,
            f.resource_type.as_str(),
            &f.resource_name,
            &f.resource_arn,
            &f.message,
            &f.remediation,
            &controls.join("; "),
            exception,
            reason,
            &expires,
            &f.fingerprint,
        ];
        w.write_record(row.iter().map(|c| cell(c)))?;
    }
    for rule in not_evaluated {
        let controls: Vec<String> = controls_of(&rule.rule_id).iter().map(requirement).collect();
        let row = [
            output.account_id.as_str(),
            &evaluated_at,
            "not_evaluated",
            "",
            &rule.rule_id,
            &rule.title,
            "AWS::::Account",
            "",
            &rule.account_arn,
            &rule.reason,
            "",
            &controls.join("; "),
            "",
            "",
            "",
            &rule.id,
        ];
        w.write_record(row.iter().map(|c| cell(c)))?;
    }
    w.flush()?;
    Ok(())
}
