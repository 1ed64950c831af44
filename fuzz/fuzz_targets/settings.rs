//! A settings file (rules and the reserved `global` key), then every rule evaluated with it on
//! a small account, so that parameters, exceptions and patterns are also matched.
#![no_main]

use chrono::TimeZone;
use iam_assurance_rules::{evaluate, sources, Inventory, Settings};
use libfuzzer_sys::fuzz_target;

const AAD: &str = include_str!("../../tests/fixtures/sample-account/authorization-details.json");
const REPORT: &str = include_str!("../../tests/fixtures/sample-account/credential-report.csv");

fn account() -> Inventory {
    let (aad, _, _) = sources::parse_authorization_details(AAD).expect("sample authorization details");
    let mut inventory = Inventory::new("123456789012");
    inventory.authorization = Some(aad);
    inventory.credential_report = Some(sources::parse_credential_report(REPORT).expect("sample credential report"));
    inventory
}

fuzz_target!(|data: &[u8]| {
    thread_local!(static ACCOUNT: Inventory = account());
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(settings) = Settings::from_json_text(text) else { return };
    let now = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
    ACCOUNT.with(|inventory| {
        let _ = evaluate(inventory, &settings, now);
    });
});
