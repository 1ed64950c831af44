//! The rules, one small function each, grouped as in RULES.md.

pub mod account;
pub mod resources;
pub mod root;
pub mod service_activity;
pub mod users;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `max_age_days`, default 90: the rotation rules' parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxAge {
    pub max_age_days: u32,
}

impl Default for MaxAge {
    fn default() -> Self {
        MaxAge { max_age_days: 90 }
    }
}

/// `2026-11-23` for messages.
pub(crate) fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// "1 day" / "12 days".
pub(crate) fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{n} days")
    }
}

/// Quote a value for a shell command line when it needs it.
pub(crate) fn sh(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/:".contains(&b)) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}
