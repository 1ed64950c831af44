//! `aws iam get-account-summary` output.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = iam_assurance_rules::sources::parse_account_summary(text);
    }
});
