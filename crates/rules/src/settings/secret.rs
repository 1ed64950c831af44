//! Errors about settings kept as SSM SecureStrings: they say where the value is wrong and what
//! is expected there, never what it holds (no value, no key the rule does not know, no part of
//! a pattern or date), since a SecureString may hold what must not reach logs.
//!
//! The ordinary error of a settings object quotes what it rejects. For a secret one, the
//! culprit is found by validating one key at a time (and one exception at a time), with the
//! same code as the ordinary path, and described from the catalog only.

use serde_json::{Map, Value};

use super::{parse_rule_settings, GlobalSettings};
use crate::catalog;
use crate::policy::json_kind;

/// The tail of every such error.
pub const HIDDEN: &str = "(the value is not shown: the parameter is a SecureString)";

const COMMON: [&str; 3] = ["enabled", "severity", "exceptions"];
const SEVERITIES: &str = "one of critical, high, medium, low, info";

fn alone(key: &str, value: &Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_owned(), value.clone());
    Value::Object(map)
}

/// Why a rule's secret settings are invalid, without a word of their content. Called once
/// the ordinary parse has failed.
pub fn rule_error(id: &str, value: &Value) -> String {
    let Value::Object(map) = value else {
        return format!("expected a JSON object, found {} {HIDDEN}", json_kind(value));
    };
    let params: Vec<&'static str> = catalog::find(id).map(|r| r.meta().params.iter().map(|p| p.name).collect()).unwrap_or_default();
    let accepted = COMMON.iter().chain(&params).copied().collect::<Vec<_>>().join(", ");
    for (key, item) in map {
        if parse_rule_settings(id, alone(key, item)).is_ok() {
            continue;
        }
        let Some(known) = COMMON.iter().chain(&params).copied().find(|k| *k == key) else {
            return format!("an unknown key (its name is not shown either); the rule accepts: {accepted} {HIDDEN}");
        };
        let expected = match known {
            "enabled" => "true or false".to_string(),
            "severity" => SEVERITIES.to_string(),
            "exceptions" => return exceptions_error(id, item),
            param => catalog::find(id)
                .and_then(|r| r.meta().params.iter().find(|p| p.name == param))
                .map(|p| p.description.to_string())
                .unwrap_or_default(),
        };
        return format!("parameter `{known}`: invalid value ({}); expected: {expected} {HIDDEN}", json_kind(item));
    }
    format!("invalid settings {HIDDEN}")
}

fn exceptions_error(id: &str, value: &Value) -> String {
    const EXPECTED: &str = "an object with `resource` (an ARN or a pattern where `*` matches anything, at most 2048 characters), \
`reason` (text, at most 1000 characters) and optionally `expires` (a date such as 2026-12-31 or an RFC 3339 time)";
    let Value::Array(items) = value else {
        return format!("parameter `exceptions`: expected a list, found {} {HIDDEN}", json_kind(value));
    };
    if items.len() > crate::pattern::MAX_LIST_ENTRIES {
        return format!("parameter `exceptions`: {} entries: at most {} are accepted", items.len(), crate::pattern::MAX_LIST_ENTRIES);
    }
    for (i, item) in items.iter().enumerate() {
        if parse_rule_settings(id, alone("exceptions", &Value::Array(vec![item.clone()]))).is_err() {
            return format!("parameter `exceptions[{i}]`: expected {EXPECTED} {HIDDEN}");
        }
    }
    format!("parameter `exceptions`: invalid {HIDDEN}")
}

/// Why secret global settings are invalid, without a word of their content.
pub fn global_error(value: &Value) -> String {
    let Value::Object(map) = value else {
        return format!("expected a JSON object such as {{\"renotify_hours\": 24}}, found {} {HIDDEN}", json_kind(value));
    };
    for (key, item) in map {
        if GlobalSettings::parse(&alone(key, item)).is_ok() {
            continue;
        }
        return match key.as_str() {
            "renotify_hours" => format!(
                "parameter `renotify_hours`: expected a whole number of hours from 0 (never remind) to {} {HIDDEN}",
                GlobalSettings::MAX_RENOTIFY_HOURS
            ),
            "notify_min_severity" => format!("parameter `notify_min_severity`: expected {SEVERITIES} {HIDDEN}"),
            _ => format!("an unknown key (its name is not shown either); expected renotify_hours, notify_min_severity {HIDDEN}"),
        };
    }
    format!("invalid global settings {HIDDEN}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;
    use serde_json::json;

    const SECRET: &str = "hunter2-do-not-print";

    /// Every secret error names the place, never the content.
    fn secret_error(id: &str, value: Value) -> String {
        let mut settings = Settings::defaults();
        settings.insert_secret(id.into(), Ok(value));
        let e = settings.rule(id).unwrap_err();
        assert!(!e.contains(SECRET) && !e.contains("hunter"), "{e}");
        assert!(e.starts_with(&format!("settings of `{id}`: ")) && e.ends_with(HIDDEN), "{e}");
        e.to_string()
    }

    #[test]
    fn rule_errors_say_where_never_what() {
        let e = secret_error("access-key-rotation", json!({"max_age_days": SECRET}));
        assert!(e.contains("parameter `max_age_days`: invalid value (a string); expected: "), "{e}");
        let e = secret_error("access-key-rotation", json!({"max_age_days": 30, SECRET: 1}));
        assert!(
            e.contains("an unknown key (its name is not shown either); the rule accepts: enabled, severity, exceptions, max_age_days"),
            "{e}"
        );
        let e = secret_error("user-mfa", json!({"severity": SECRET}));
        assert!(e.contains("parameter `severity`: invalid value (a string); expected: one of critical"), "{e}");
        let e = secret_error("user-mfa", json!({"enabled": SECRET}));
        assert!(e.contains("parameter `enabled`"), "{e}");
        let e = secret_error(
            "user-mfa",
            json!({"exceptions": [{"resource": "*", "reason": "ok"}, {"resource": SECRET, "reason": "x", "expires": SECRET}]}),
        );
        assert!(e.contains("parameter `exceptions[1]`: expected an object with `resource`"), "{e}");
        let e = secret_error("user-mfa", json!({"exceptions": [{"resource": format!("{SECRET}[")}]}));
        assert!(e.contains("parameter `exceptions[0]`"), "{e}");
        let e = secret_error("approved-users", json!({"approved": ["ok", format!("{SECRET}?")]}));
        assert!(e.contains("parameter `approved`: invalid value (a list); expected: Approved user names"), "{e}");
        let e = secret_error("user-mfa", json!(SECRET));
        assert!(e.contains("expected a JSON object, found a string"), "{e}");
        // Valid secret settings are used as usual.
        let mut settings = Settings::defaults();
        settings.insert_secret("access-key-rotation".into(), Ok(json!({"max_age_days": 30})));
        assert_eq!(settings.rule("access-key-rotation").unwrap().params.get::<crate::rules::MaxAge>().unwrap().max_age_days, 30);
    }

    #[test]
    fn global_errors_say_where_never_what() {
        for (value, expected) in [
            (json!({"renotify_hours": SECRET}), "parameter `renotify_hours`: expected a whole number"),
            (json!({"notify_min_severity": SECRET}), "parameter `notify_min_severity`: expected one of critical"),
            (json!({SECRET: 1}), "an unknown key (its name is not shown either)"),
            (json!([SECRET]), "expected a JSON object such as"),
        ] {
            let mut settings = Settings::defaults();
            settings.set_global_secret("parameter /iam-assurance/global", Ok(value));
            let e = &settings.errors[0];
            assert!(e.contains(expected) && e.contains("/iam-assurance/global") && !e.contains("hunter"), "{e}");
            assert_eq!(settings.global, GlobalSettings::default());
        }
        let mut settings = Settings::defaults();
        settings.set_global_secret("parameter /x/global", Ok(json!({"renotify_hours": 6})));
        assert_eq!(settings.global.renotify_hours, 6);
    }
}
