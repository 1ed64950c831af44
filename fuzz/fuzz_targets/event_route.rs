//! An EventBridge envelope (scheduled event, CloudTrail detail) as bytes → JSON → the router.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        let _ = iam_assurance::event::route(&value);
    }
});
