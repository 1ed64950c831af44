//! The Security Hub export's setting and what a run reports of it: plain data that the run's
//! configuration and output share with [`super::securityhub`].

use std::collections::BTreeMap;

use serde::Serialize;

/// The environment variable that turns the export on.
pub const SETTING: &str = "SECURITY_HUB_EXPORT";

/// Whether the export is on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Setting {
    #[default]
    Off,
    On,
    /// A value that is neither `true` nor `false`: a run that would publish fails naming it,
    /// rather than guess.
    Invalid(String),
}

impl Setting {
    /// From the variable's value: `true` or `false` (any case; unset or empty: off).
    pub fn parse(value: Option<&str>) -> Setting {
        match value.map(str::trim) {
            None | Some("") => Setting::Off,
            Some(v) if v.eq_ignore_ascii_case("true") => Setting::On,
            Some(v) if v.eq_ignore_ascii_case("false") => Setting::Off,
            Some(v) => Setting::Invalid(v.to_string()),
        }
    }
}

/// What the export did in a run: the `security_hub` part of `published`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportStats {
    /// The product the findings were imported into (the account's default product, in the
    /// function's region; the account is each finding's).
    pub region: String,
    /// Findings imported, by the record Security Hub now holds (`open`, `suppressed`,
    /// `resolved`, `closed`).
    pub imported: BTreeMap<&'static str, usize>,
    /// `BatchImportFindings` requests (one per 100 findings, plus the resending of findings
    /// Security Hub reported as failed; the SDK's own retries are in `api_calls`).
    pub requests: usize,
    /// Findings Security Hub reported as failed once and that were sent again.
    pub retried: usize,
    /// Findings that could not be imported (the run failed; they are imported by the next).
    pub failed: usize,
}
