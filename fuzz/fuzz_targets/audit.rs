//! An offline audit end to end: authorization details and a credential report (the input split
//! at its first NUL byte), built into one inventory as `iam-assurance audit` builds it, then
//! every rule evaluated.
#![no_main]

use chrono::TimeZone;
use iam_assurance_rules::offline::AuditTexts;
use iam_assurance_rules::{evaluate, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (authorization_details, credential_report) = text.split_once('\0').unwrap_or((text, ""));
    let texts = AuditTexts { authorization_details, credential_report, ..AuditTexts::default() };
    let Ok(inventory) = texts.inventory() else { return };
    let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    let _ = evaluate(&inventory, &Settings::defaults(), now);
});
