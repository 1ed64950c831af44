//! the credential report (the JSON `aws iam get-credential-report` writes, with base64 or CSV text `Content`, or the CSV).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = iam_assurance_rules::sources::parse_credential_report(text);
    }
});
