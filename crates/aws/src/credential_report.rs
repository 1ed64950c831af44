//! The account credential report: GenerateCredentialReport until it is `COMPLETE`, then
//! GetCredentialReport, with bounded backoff inside the time budget.
//!
//! IAM regenerates the report at most every 4 hours; within that window Generate answers
//! `COMPLETE` at once and Get returns the existing report, whose `GeneratedTime` is kept as
//! AWS states it (the run reports how old the credential data is).

use aws_sdk_iam::types::{ReportFormatType, ReportStateType};
use iam_assurance_rules::inventory::{CredentialReport, CredentialSource};
use iam_assurance_rules::sources::parse_credential_report_csv;

use crate::convert::opt_datetime;
use crate::deadline::{Backoff, Deadline};
use crate::error::AwsFailure;

/// How many times a report that vanished between Generate and Get (`ReportNotPresent`,
/// `ReportExpired`) is generated again before giving up.
const MAX_REGENERATIONS: u32 = 3;

/// Read the credential report; `Err` is the gap reason.
///
/// GenerateCredentialReport once; when it answers `STARTED`/`INPROGRESS`, wait and poll
/// GetCredentialReport (which answers `ReportInProgress` until the report is ready) instead
/// of calling Generate again: the common cases cost two calls. Generate is called again only
/// when the report vanished (`ReportNotPresent`, `ReportExpired`) or Generate itself was
/// refused for now (`LimitExceeded`, `ReportInProgress`, throttling).
pub(crate) async fn fetch(iam: &aws_sdk_iam::Client, deadline: Deadline) -> Result<CredentialReport, String> {
    let mut backoff = Backoff::new();
    let mut regenerations = 0u32;
    let mut generate_calls = 0u32;
    loop {
        // Phase 1: ask for a report (IAM keeps one for up to 4 hours).
        generate_calls += 1;
        let ready = match iam.generate_credential_report().send().await {
            Ok(out) => match out.state() {
                Some(ReportStateType::Complete) => true,
                Some(_) => false,
                None => return Err(format!("GenerateCredentialReport returned no State after {generate_calls} calls")),
            },
            Err(err) => {
                let failure = AwsFailure::from_sdk(&err);
                let retryable = failure.is("LimitExceeded") || failure.is("ReportInProgress") || failure.is_throttling();
                if !retryable {
                    return Err(failure.reason("GenerateCredentialReport"));
                }
                let last =
                    format!("{} (after {generate_calls} GenerateCredentialReport calls)", failure.reason("GenerateCredentialReport"));
                if !deadline.sleep(backoff.next_delay()).await {
                    return Err(format!("gave up waiting for the credential report within the time budget: {last}"));
                }
                continue;
            }
        };
        if !ready && !deadline.sleep(backoff.next_delay()).await {
            return Err("gave up waiting for the credential report within the time budget: generation had not finished".into());
        }

        // Phase 2: download it, polling while it is still being generated.
        loop {
            let failure = match iam.get_credential_report().send().await {
                Ok(out) => return decode(&out),
                Err(err) => AwsFailure::from_sdk(&err),
            };
            let vanished = failure.is("ReportNotPresent") || failure.is("ReportExpired");
            let not_ready = failure.is("ReportInProgress") || failure.is_throttling();
            if !(vanished || not_ready) {
                return Err(failure.reason("GetCredentialReport"));
            }
            if !deadline.sleep(backoff.next_delay()).await {
                return Err(format!("gave up on the credential report within the time budget: {}", failure.reason("GetCredentialReport")));
            }
            if vanished {
                regenerations += 1;
                if regenerations > MAX_REGENERATIONS {
                    return Err(format!(
                        "{} even after generating the report {} times",
                        failure.reason("GetCredentialReport"),
                        MAX_REGENERATIONS + 1
                    ));
                }
                break; // generate again
            }
        }
    }
}

fn decode(out: &aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput) -> Result<CredentialReport, String> {
    if let Some(format) = out.report_format() {
        if *format != ReportFormatType::TextCsv {
            return Err(format!("GetCredentialReport returned ReportFormat {:?}, expected text/csv", format.as_str()));
        }
    }
    let content = out.content().ok_or("GetCredentialReport returned no Content")?;
    let text = std::str::from_utf8(content.as_ref()).map_err(|e| format!("the credential report content is not UTF-8 text: {e}"))?;
    let mut report = parse_credential_report_csv(text.trim_start_matches('\u{feff}'))
        .map_err(|e| format!("the credential report could not be parsed: {e}"))?;
    report.generated_at = opt_datetime(out.generated_time());
    report.source = CredentialSource::Report;
    Ok(report)
}
