//! Per-rule settings, validated in two stages: raw JSON (what SSM or a settings file holds)
//! → typed settings, with errors that name the rule and the parameter.
//!
//! Shape: `{ "<rule-id>": { "enabled": bool, "severity": "high", "exceptions": [...], <params> } }`.
//! A bad entry never stops the run: that rule reports `not_evaluated` with the error, the
//! others run with their settings.
//!
//! Besides the rules, one object of global settings ([`GlobalSettings`]: how notifications
//! behave) lives under the reserved key `"global"` of a settings file, or in the SSM parameter
//! `<prefix>/global`. A bad global object is an error naming the parameter, and the defaults
//! are used.

mod secret;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::catalog;
use crate::inventory::DataSource;
use crate::pattern::{preview, Pattern, PatternList, MAX_LIST_ENTRIES};
use crate::rule::{Meta, ParsedParams, Severity};

/// An exception: findings on a matching resource are reported `suppressed` until it expires.
#[derive(Debug, Clone, Serialize)]
pub struct Exception {
    /// ARN or pattern (`*` matches any run of characters, `/` included; see [`crate::pattern`]).
    pub resource: String,
    pub reason: String,
    /// The first instant at which it no longer applies. A date-only value `2026-12-31`
    /// suppresses through the end of that day (UTC).
    pub expires: Option<DateTime<Utc>>,
    #[serde(skip)]
    matcher: Pattern,
}

impl Exception {
    pub fn matches(&self, arn: &str) -> bool {
        self.matcher.is_match(arn)
    }

    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.expires.is_none_or(|expires| now < expires)
    }
}

/// Compile a pattern: `*` matches any run of characters, `/` included, ASCII letters in either
/// case (IAM names and ARNs are matched case-insensitively, as IAM itself treats names).
pub fn glob(pattern: &str) -> Result<Pattern, String> {
    Pattern::new(pattern)
}

/// Settings of one rule, validated.
#[derive(Debug, Clone, Default)]
pub struct RuleSettings {
    pub enabled: Option<bool>,
    pub severity: Option<Severity>,
    pub exceptions: Vec<Exception>,
    /// The rule-specific parameters, parsed into the rule's parameter type.
    pub params: ParsedParams,
    /// `exceptions`' resources, indexed (see [`RuleSettings::exception_for`]).
    exception_index: PatternList,
}

impl RuleSettings {
    /// The first exception, in the order given, that is active at `now` and matches `arn`.
    pub fn exception_for(&self, arn: &str, now: DateTime<Utc>) -> Option<&Exception> {
        if self.exception_index.len() != self.exceptions.len() {
            // Exceptions set by hand, not parsed: tried one by one.
            return self.exceptions.iter().find(|e| e.active_at(now) && e.matches(arn));
        }
        self.exception_index.first(arn, |i| self.exceptions[i].active_at(now)).map(|i| &self.exceptions[i])
    }
}

/// A rule's settings when none were given.
static DEFAULT_RULE_SETTINGS: std::sync::LazyLock<RuleSettings> = std::sync::LazyLock::new(RuleSettings::default);

/// The key of the global settings in a settings file, and the last segment of their SSM
/// parameter (`<prefix>/global`).
pub const GLOBAL_KEY: &str = "global";

/// Settings that apply to every rule: how findings are notified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GlobalSettings {
    /// Hours between reminders of a finding that stays open (a sweep re-publishes it as
    /// `reminder` when it was last notified at least this long ago). 0: never remind.
    pub renotify_hours: u32,
    /// Findings less severe than this are tracked but never published.
    pub notify_min_severity: Severity,
}

impl Default for GlobalSettings {
    fn default() -> Self {
        GlobalSettings { renotify_hours: 24, notify_min_severity: Severity::Info }
    }
}

impl GlobalSettings {
    /// The largest `renotify_hours` accepted: one year.
    pub const MAX_RENOTIFY_HOURS: u32 = 8784;

    /// Whether a finding of this severity is published (at least as severe as the minimum).
    pub fn notifies(&self, severity: Severity) -> bool {
        severity <= self.notify_min_severity
    }

    /// Parse the global settings object. Every key is optional; unknown keys and wrong types
    /// are errors naming the key.
    pub fn parse(value: &Value) -> Result<Self, String> {
        let Value::Object(map) = value else {
            return Err(format!("expected a JSON object such as {{\"renotify_hours\": 24}}, found {}", short(value)));
        };
        let mut global = GlobalSettings::default();
        for (key, value) in map {
            match key.as_str() {
                "renotify_hours" => {
                    global.renotify_hours = value
                        .as_u64()
                        .filter(|h| *h <= u64::from(Self::MAX_RENOTIFY_HOURS))
                        .and_then(|h| u32::try_from(h).ok())
                        .ok_or_else(|| {
                            format!(
                                "parameter `renotify_hours`: expected a whole number of hours from 0 (never remind) to {}, found {}",
                                Self::MAX_RENOTIFY_HOURS,
                                short(value)
                            )
                        })?;
                }
                "notify_min_severity" => {
                    global.notify_min_severity = parse_severity(value).map_err(|e| format!("parameter `notify_min_severity`: {e}"))?;
                }
                other => return Err(format!("unknown key `{other}` (expected renotify_hours, notify_min_severity)")),
            }
        }
        Ok(global)
    }
}

/// Settings of every rule. Never fails as a whole: errors are kept per rule (that rule is not
/// evaluated) or globally (unknown rule ids, bad global settings).
#[derive(Debug, Clone, Default)]
pub struct Settings {
    rules: BTreeMap<String, Result<RuleSettings, String>>,
    /// Notification settings (defaults unless given and valid).
    pub global: GlobalSettings,
    /// Problems not tied to a known rule (an unknown rule id, invalid global settings).
    pub errors: Vec<String>,
}

impl Settings {
    /// Every rule at its defaults.
    pub fn defaults() -> Self {
        Settings::default()
    }

    /// Parse a settings file: one JSON object keyed by rule id, plus the reserved key
    /// `"global"`. Invalid JSON or a top level that is not an object is an error for the whole
    /// file; anything inside is per rule (or for the global settings).
    pub fn from_json_text(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let Value::Object(mut map) = value else {
            return Err("expected a JSON object keyed by rule id".into());
        };
        let global = map.remove(GLOBAL_KEY);
        let mut settings = Settings::from_entries(map.into_iter().map(|(k, v)| (k, Ok(v))));
        if let Some(global) = global {
            settings.set_global(&format!("key `{GLOBAL_KEY}`"), Ok(global));
        }
        Ok(settings)
    }

    /// Set the global settings from their raw value; `source` names where it came from (the
    /// SSM parameter, or the settings file's key) for the error. On an error the defaults stay
    /// and the error is kept in [`Settings::errors`].
    pub fn set_global(&mut self, source: &str, raw: Result<Value, String>) {
        match raw.and_then(|value| GlobalSettings::parse(&value)) {
            Ok(global) => self.global = global,
            Err(e) => {
                self.global = GlobalSettings::default();
                self.errors.push(clip(format!("settings of `{GLOBAL_KEY}` ({source}): {e}; using the defaults")));
            }
        }
    }

    /// Set the global settings from a SecureString's raw value: as [`Settings::set_global`], but
    /// an error says where the value is wrong, never what it holds ([`crate::secret`]).
    pub fn set_global_secret(&mut self, source: &str, raw: Result<Value, String>) {
        let raw = raw.and_then(|value| GlobalSettings::parse(&value).map(|_| value.clone()).map_err(|_| secret::global_error(&value)));
        self.set_global(source, raw);
    }

    /// Add or replace one rule's settings from a SecureString: as [`Settings::insert`], but an
    /// error says where the value is wrong, never what it holds ([`crate::secret`]).
    pub fn insert_secret(&mut self, id: String, raw: Result<Value, String>) {
        let raw = raw.and_then(|value| match parse_rule_settings(&id, value.clone()) {
            Ok(_) => Ok(value),
            Err(_) => Err(secret::rule_error(&id, &value)),
        });
        self.insert(id, raw);
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
            self.errors.push(clip(format!("unknown rule id `{id}` (see `iam-assurance rules`)")));
            return;
        }
        let parsed = raw.and_then(|value| parse_rule_settings(&id, value));
        let parsed = parsed.map_err(|e| clip(format!("settings of `{id}`: {e}")));
        self.rules.insert(id, parsed);
    }

    /// The validated settings of a rule (defaults when none were given), or its error.
    pub fn rule(&self, id: &str) -> Result<&RuleSettings, &str> {
        match self.rules.get(id) {
            None => Ok(&DEFAULT_RULE_SETTINGS),
            Some(result) => result.as_ref().map_err(String::as_str),
        }
    }

    /// Whether a rule runs: as its settings say, else as its metadata does. A rule whose
    /// settings are invalid counts as enabled (it reports `not_evaluated`, never nothing).
    pub fn enabled(&self, meta: &Meta) -> bool {
        self.rule(meta.id).ok().and_then(|r| r.enabled).unwrap_or(meta.enabled_by_default)
    }

    /// Whether some rule that runs with these settings reads this data source (see
    /// [`Params::reads`](crate::rule::Params::reads)).
    pub fn read(&self, source: DataSource) -> bool {
        catalog::all().iter().any(|rule| {
            self.enabled(rule.meta())
                && match self.rule(rule.meta().id) {
                    Ok(settings) => rule.reads(&settings.params, source),
                    Err(_) => false,
                }
        })
    }

    /// Every error: unknown ids and invalid rule settings.
    pub fn all_errors(&self) -> Vec<String> {
        let mut errors = self.errors.clone();
        errors.extend(self.rules.values().filter_map(|r| r.as_ref().err().cloned()));
        errors
    }
}

pub(crate) fn parse_rule_settings(id: &str, value: Value) -> Result<RuleSettings, String> {
    let Value::Object(mut map) = value else {
        return Err(format!("expected a JSON object, found {}", short(&value)));
    };
    let mut settings = RuleSettings::default();
    if let Some(enabled) = map.remove("enabled") {
        settings.enabled =
            Some(enabled.as_bool().ok_or_else(|| format!("parameter `enabled`: expected true or false, found {}", short(&enabled)))?);
    }
    if let Some(severity) = map.remove("severity") {
        settings.severity = Some(parse_severity(&severity).map_err(|e| format!("parameter `severity`: {e}"))?);
    }
    if let Some(exceptions) = map.remove("exceptions") {
        settings.exceptions = parse_exceptions(&exceptions)?;
        settings.exception_index = PatternList::new(settings.exceptions.iter().map(|e| e.resource.as_str()))?;
    }
    let rule = catalog::find(id).ok_or_else(|| format!("unknown rule id `{id}`"))?;
    settings.params = rule.parse_params(&map)?;
    Ok(settings)
}

fn parse_severity(value: &Value) -> Result<Severity, String> {
    value
        .as_str()
        .and_then(|s| Severity::ALL.into_iter().find(|v| v.as_str() == s))
        .ok_or_else(|| format!("expected one of critical, high, medium, low, info, found {}", short(value)))
}

fn parse_exceptions(value: &Value) -> Result<Vec<Exception>, String> {
    let Value::Array(items) = value else {
        return Err(format!("parameter `exceptions`: expected a list, found {}", short(value)));
    };
    if items.len() > MAX_LIST_ENTRIES {
        return Err(format!("parameter `exceptions`: {} entries: at most {MAX_LIST_ENTRIES} are accepted", items.len()));
    }
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
        Some(Value::String(s)) if s.chars().count() > MAX_REASON_CHARS => {
            return Err(format!("`reason` {} is too long: at most {MAX_REASON_CHARS} characters", preview(s)))
        }
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

/// The longest exception reason accepted (it is copied into every finding it suppresses).
pub const MAX_REASON_CHARS: usize = 1000;

/// The longest settings error kept: a message quoting a hostile value stays readable.
const MAX_ERROR_CHARS: usize = 600;

/// An error message cut to [`MAX_ERROR_CHARS`] characters.
fn clip(message: String) -> String {
    match message.char_indices().nth(MAX_ERROR_CHARS) {
        None => message,
        Some((at, _)) => format!("{}… ({} characters in all)", &message[..at], message.chars().count()),
    }
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
        assert_eq!(r.params.get::<crate::rules::MaxAge>().unwrap().max_age_days, 30);
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
    fn global_settings_default_and_parse() {
        let s = Settings::defaults();
        assert_eq!(s.global, GlobalSettings { renotify_hours: 24, notify_min_severity: Severity::Info });
        let s = Settings::from_json_text(r#"{"global":{"renotify_hours":6,"notify_min_severity":"high"},"user-mfa":{}}"#).unwrap();
        assert_eq!(s.global, GlobalSettings { renotify_hours: 6, notify_min_severity: Severity::High });
        assert!(s.all_errors().is_empty(), "{:?}", s.all_errors());
        assert!(s.global.notifies(Severity::Critical) && s.global.notifies(Severity::High));
        assert!(!s.global.notifies(Severity::Medium) && !s.global.notifies(Severity::Info));
        // Partial objects keep the other defaults; 0 means never remind.
        let s = Settings::from_json_text(r#"{"global":{"renotify_hours":0}}"#).unwrap();
        assert_eq!(s.global, GlobalSettings { renotify_hours: 0, notify_min_severity: Severity::Info });
    }

    #[test]
    fn bad_global_settings_name_the_parameter_and_keep_the_defaults() {
        for (raw, key) in [
            (r#"{"global":{"renotify":6}}"#, "renotify"),
            (r#"{"global":{"renotify_hours":"6"}}"#, "renotify_hours"),
            (r#"{"global":{"renotify_hours":-1}}"#, "renotify_hours"),
            (r#"{"global":{"renotify_hours":100000}}"#, "renotify_hours"),
            (r#"{"global":{"notify_min_severity":"urgent"}}"#, "notify_min_severity"),
            (r#"{"global":[1]}"#, "expected a JSON object"),
        ] {
            let s = Settings::from_json_text(raw).unwrap();
            assert_eq!(s.global, GlobalSettings::default(), "{raw}");
            assert_eq!(s.errors.len(), 1, "{raw}");
            let e = &s.errors[0];
            assert!(e.starts_with("settings of `global` (key `global`)") && e.contains(key), "{raw}: {e}");
            assert!(s.rule("user-mfa").is_ok());
        }
        let mut s = Settings::defaults();
        s.set_global("parameter /iam-assurance/global", Err("parameter /iam-assurance/global is not valid JSON".into()));
        assert!(s.errors[0].contains("/iam-assurance/global"), "{:?}", s.errors);
        assert_eq!(s.global, GlobalSettings::default());
    }

    #[test]
    fn exceptions_need_a_resource_and_a_reason_and_no_other_key() {
        let error = |exception: Value| {
            let s = Settings::from_json_text(&json!({"user-mfa": {"exceptions": [exception]}}).to_string()).unwrap();
            s.rule("user-mfa").unwrap_err().to_string()
        };
        assert_eq!(
            error(json!({"resource": "*", "reason": "r", "expire": "2026-01-01"})),
            "settings of `user-mfa`: parameter `exceptions[0]`: unknown key `expire` (expected resource, reason, expires)"
        );
        assert_eq!(
            error(json!({"resource": "", "reason": "r"})),
            "settings of `user-mfa`: parameter `exceptions[0]`: `resource` must be a non-empty ARN or glob, found \"\""
        );
        assert_eq!(
            error(json!({"resource": "  ", "reason": "r"})),
            "settings of `user-mfa`: parameter `exceptions[0]`: `resource` must be a non-empty ARN or glob, found \"  \""
        );
        assert_eq!(
            error(json!({"resource": "*", "reason": ""})),
            "settings of `user-mfa`: parameter `exceptions[0]`: `reason` must be a non-empty string, found \"\""
        );
        assert_eq!(
            error(json!({"resource": "*", "reason": " \t"})),
            "settings of `user-mfa`: parameter `exceptions[0]`: `reason` must be a non-empty string, found \" \\t\""
        );
        assert_eq!(error(json!({"reason": "r"})), "settings of `user-mfa`: parameter `exceptions[0]`: `resource` is required");
        // A rule's own parameters: a misspelt one is refused (deny_unknown_fields), naming it.
        let s = Settings::from_json_text(r#"{"access-key-rotation":{"max_age_day":30}}"#).unwrap();
        assert_eq!(
            s.rule("access-key-rotation").unwrap_err(),
            "settings of `access-key-rotation`: parameter `max_age_day`: unknown field `max_age_day`, expected `max_age_days`"
        );
    }

    #[test]
    fn the_first_active_matching_exception_applies() {
        let s = Settings::from_json_text(
            r#"{"user-mfa":{"exceptions":[
                {"resource":"arn:aws:iam::*:user/ci-*","reason":"expired","expires":"2026-01-01"},
                {"resource":"arn:aws:iam::123456789012:user/ci-deploy","reason":"exact"},
                {"resource":"arn:aws:iam::*:user/ci-*","reason":"wide"}]}}"#,
        )
        .unwrap();
        let r = s.rule("user-mfa").unwrap();
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        let reason = |arn: &str, now: &str| r.exception_for(arn, at(now)).map(|e| e.reason.as_str());
        assert_eq!(reason("arn:aws:iam::123456789012:user/ci-deploy", "2025-12-31T00:00:00Z"), Some("expired"));
        assert_eq!(reason("arn:aws:iam::123456789012:user/ci-deploy", "2026-11-23T00:00:00Z"), Some("exact"));
        assert_eq!(reason("arn:aws:iam::123456789012:user/CI-Build", "2026-11-23T00:00:00Z"), Some("wide"));
        assert_eq!(reason("arn:aws:iam::123456789012:user/alice", "2026-11-23T00:00:00Z"), None);
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
        let ex = &s.rule("user-mfa").unwrap().exceptions;
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
