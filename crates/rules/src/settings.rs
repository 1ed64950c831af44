//! Per-rule settings, validated in two stages: raw JSON (what SSM or a settings file holds)
//! → typed settings, with errors that name the rule and the parameter.
//!
//! Shape: `{ "<rule-id>": { "enabled": bool, "severity": "high", "exceptions": [...], <params> } }`.
//! A bad entry never stops the run: that rule reports `not_evaluated` with the error, the
//! others run with their settings.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use globset::{GlobBuilder, GlobMatcher};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::catalog;
use crate::rule::Severity;

/// An exception: findings on a matching resource are reported `suppressed` until it expires.
#[derive(Debug, Clone, Serialize)]
pub struct Exception {
    /// ARN or glob (`*` matches any run of characters, `/` included).
    pub resource: String,
    pub reason: String,
    /// The first instant at which it no longer applies. A date-only value `2026-12-31`
    /// suppresses through the end of that day (UTC).
    pub expires: Option<DateTime<Utc>>,
    #[serde(skip)]
    matcher: GlobMatcher,
}

impl Exception {
    pub fn matches(&self, arn: &str) -> bool {
        self.matcher.is_match(arn)
    }

    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_none_or(|expires| now < expires)
    }
}

/// Compile a case-insensitive glob where `*` crosses `/` (IAM names and ARNs are matched
/// case-insensitively, as IAM itself treats names).
pub fn glob(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .case_insensitive(true)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("invalid pattern {pattern:?}: {e}"))
}

/// Settings of one rule, validated.
#[derive(Debug, Clone, Default)]
pub struct RuleSettings {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub exceptions: Vec<Exception>,
    /// The rule-specific parameters, already checked against the rule's parameter type.
    pub params: Map<String, Value>,
}

/// Settings of every rule. Never fails as a whole: errors are kept per rule (that rule is not
/// evaluated) or globally (unknown rule ids).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    rules: BTreeMap<String, Result<RuleSettings, String>>,
    /// Problems not tied to a known rule (an unknown rule id).
    pub errors: Vec<String>,
}

impl Settings {
    /// Every rule at its defaults.
    pub fn defaults() -> Self {
        Settings::default()
    }

    /// Parse a settings file: one JSON object keyed by rule id. Invalid JSON or a top level
    /// that is not an object is an error for the whole file; anything inside is per rule.
    pub fn from_json_text(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(map) = value else {
            return Err("expected a JSON object keyed by rule id".into());
        };
        Ok(Settings::from_entries(map.into_iter().map(|(k, v)| (k, Ok(v)))))
    }

    /// Build from `(rule id, raw value)` entries; a raw value that could not even be read (an
    /// SSM parameter that is not JSON) comes as `Err(reason)`.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, Result<Value, String>)>) -> Self {
        let mut settings = Settings::default();
        for (id, raw) in entries {
            settings.insert(id, raw);
        }
        settings
    }

    /// Add or replace one rule's settings.
    pub fn insert(&mut self, id: String, raw: Result<Value, String>) {
        if catalog::find(&id).is_none() {
            self.errors.push(format!("unknown rule id `{id}` (see `iam-assurance rules`)"));
            return;
        }
        let parsed = raw.and_then(|value| parse_rule_settings(&id, value));
        let parsed = parsed.map_err(|e| format!("settings of `{id}`: {e}"));
        self.rules.insert(id, parsed);
    }

    /// The validated settings of a rule (defaults when none were given), or its error.
    pub fn rule(&self, id: &str) -> Result<RuleSettings, String> {
        match self.rules.get(id) {
            None => Ok(RuleSettings::default()),
            Some(result) => result.clone(),
        }
    }

    /// Every error: unknown ids and invalid rule settings.
    pub fn all_errors(&self) -> Vec<String> {
        let mut errors = self.errors.clone();
        errors.extend(self.rules.values().filter_map(|r| r.as_ref().err().cloned()));
        errors
    }
}

fn parse_rule_settings(id: &str, value: Value) -> Result<RuleSettings, String> {
    let Value::Object(mut map) = value else {
        return Err(format!("expected a JSON object, found {}", short(&value)));
    };
    let mut settings = RuleSettings::default();
    if let Some(enabled) = map.remove("enabled") {
        settings.enabled =
            Some(enabled.as_bool().ok_or_else(|| format!("parameter `enabled`: expected true or false, found {}", short(&enabled)))?);
    }
    if let Some(severity) = map.remove("severity") {
        let parsed = severity.as_str().and_then(|s| Severity::ALL.into_iter().find(|v| v.as_str() == s));
        settings.severity = Some(parsed.ok_or_else(|| {
            format!("parameter `severity`: expected one of critical, high, medium, low, info, found {}", short(&severity))
        })?);
    }
    if let Some(exceptions) = map.remove("exceptions") {
        settings.exceptions = parse_exceptions(&exceptions)?;
    }
    let rule = catalog::find(id).ok_or_else(|| format!("unknown rule id `{id}`"))?;
    rule.check_params(&map)?;
    settings.params = map;
    Ok(settings)
}

fn parse_exceptions(value: &Value) -> Result<Vec<Exception>, String> {
    let Value::Array(items) = value else {
        return Err(format!("parameter `exceptions`: expected a list, found {}", short(value)));
    };
    items.iter().enumerate().map(|(i, item)| parse_exception(item).map_err(|e| format!("parameter `exceptions[{i}]`: {e}"))).collect()
}

fn parse_exception(value: &Value) -> Result<Exception, String> {
    let Value::Object(map) = value else {
        return Err(format!("expected an object with resource, reason and expires, found {}", short(value)));
    };
    for key in map.keys() {
        if !matches!(key.as_str(), "resource" | "reason" | "expires") {
            return Err(format!("unknown key `{key}` (expected resource, reason, expires)"));
        }
    }
    let resource = match map.get("resource") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(other) => return Err(format!("`resource` must be a non-empty ARN or glob, found {}", short(other))),
        None => return Err("`resource` is required".into()),
    };
    let reason = match map.get("reason") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(other) => return Err(format!("`reason` must be a non-empty string, found {}", short(other))),
        None => return Err("`reason` is required: say why this resource is accepted".into()),
    };
    let expires = match map.get("expires") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_expiry(s)?),
        Some(other) => return Err(format!("`expires` must be a date such as 2026-12-31, found {}", short(other))),
    };
    let matcher = glob(&resource)?;
    Ok(Exception { resource, reason, expires, matcher })
}

/// `2026-12-31` (through the end of that day, UTC) or an RFC 3339 timestamp.
fn parse_expiry(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("`expires` must be a date such as 2026-12-31 or an RFC 3339 time, found {text:?}"))?;
    let next = date.succ_opt().ok_or_else(|| format!("`expires` date {text:?} is out of range"))?;
    Ok(next.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or(DateTime::<Utc>::MAX_UTC))
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 60 {
        format!("{}…", &text[..text.floor_char_boundary(60)])
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_when_absent() {
        let s = Settings::defaults();
        let r = s.rule("access-key-rotation").unwrap();
        assert!(r.enabled.is_none() && r.severity.is_none() && r.exceptions.is_empty());
    }

    #[test]
    fn valid_settings_parse() {
        let s = Settings::from_json_text(
            r#"{"access-key-rotation":{"max_age_days":30,"severity":"high","exceptions":[{"resource":"arn:aws:iam::*:user/ci-*","reason":"CI","expires":"2030-01-01"}]}}"#,
        )
        .unwrap();
        let r = s.rule("access-key-rotation").unwrap();
        assert_eq!(r.severity, Some(Severity::High));
        assert_eq!(r.params.get("max_age_days"), Some(&json!(30)));
        assert!(r.exceptions[0].matches("arn:aws:iam::123456789012:user/ci-deploy"));
        assert!(r.exceptions[0].matches("arn:aws:iam::123456789012:user/CI-Deploy"));
        assert!(!r.exceptions[0].matches("arn:aws:iam::123456789012:user/alice"));
        assert!(s.all_errors().is_empty());
    }

    #[test]
    fn errors_name_the_rule_and_parameter() {
        let s = Settings::from_json_text(
            r#"{"no-such-rule":{},
                "access-key-rotation":{"max_age":30},
                "inactive-access-key":{"max_unused_days":"45"},
                "user-mfa":{"severity":"urgent"},
                "empty-group":{"enabled":"yes"},
                "root-mfa":{"exceptions":[{"resource":"arn:aws:iam::1:root"}]},
                "user-inline-policies":[1]}"#,
        )
        .unwrap();
        assert!(s.errors[0].contains("unknown rule id `no-such-rule`"));
        let e = s.rule("access-key-rotation").unwrap_err();
        assert!(e.contains("access-key-rotation") && e.contains("max_age"), "{e}");
        let e = s.rule("inactive-access-key").unwrap_err();
        assert!(e.contains("max_unused_days"), "{e}");
        assert!(s.rule("user-mfa").unwrap_err().contains("severity"));
        assert!(s.rule("empty-group").unwrap_err().contains("enabled"));
        assert!(s.rule("root-mfa").unwrap_err().contains("reason"));
        assert!(s.rule("user-inline-policies").unwrap_err().contains("expected a JSON object"));
        // Other rules are untouched.
        assert!(s.rule("multiple-access-keys").is_ok());
        assert_eq!(s.all_errors().len(), 7);
    }

    #[test]
    fn whole_file_errors() {
        assert!(Settings::from_json_text("{").unwrap_err().contains("not valid JSON"));
        assert!(Settings::from_json_text("[]").unwrap_err().contains("keyed by rule id"));
    }

    #[test]
    fn expiry_dates() {
        let s = Settings::from_json_text(
            r#"{"user-mfa":{"exceptions":[
                {"resource":"*","reason":"a","expires":"2026-06-30"},
                {"resource":"*","reason":"b","expires":"2026-06-30T12:00:00Z"},
                {"resource":"*","reason":"c"}]}}"#,
        )
        .unwrap();
        let ex = s.rule("user-mfa").unwrap().exceptions;
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert!(ex[0].active_at(at("2026-06-30T23:59:59Z")));
        assert!(!ex[0].active_at(at("2026-07-01T00:00:00Z")));
        assert!(ex[1].active_at(at("2026-06-30T11:59:59Z")));
        assert!(!ex[1].active_at(at("2026-06-30T12:00:00Z")));
        assert!(ex[2].active_at(at("2099-01-01T00:00:00Z")));
        let bad = Settings::from_json_text(r#"{"user-mfa":{"exceptions":[{"resource":"*","reason":"a","expires":"next week"}]}}"#).unwrap();
        assert!(bad.rule("user-mfa").unwrap_err().contains("expires"));
    }
}
