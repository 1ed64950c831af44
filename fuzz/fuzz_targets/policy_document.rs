//! A policy document as IAM or the AWS CLI give it: URL-encoded or plain JSON text, or a JSON
//! value (object, or a string holding the document), then the analysis the rules run on it.
#![no_main]

use iam_assurance_rules::policy::PolicyDocument;
use libfuzzer_sys::fuzz_target;

fn analyse(doc: &PolicyDocument) {
    let _ = doc.grants_full_admin();
    let _ = doc.denies_everything();
    let _ = doc.trusted_principals();
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(doc) = PolicyDocument::parse_str(text) {
            analyse(&doc);
        }
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(doc) = PolicyDocument::from_value(&value) {
            analyse(&doc);
        }
    }
});
