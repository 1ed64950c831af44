//! Settings from SSM Parameter Store: `<prefix>/rules/<rule-id>` holds a JSON object of one
//! rule's settings, `<prefix>/global` the global (notification) settings.

use aws_sdk_ssm::types::ParameterType;
use iam_assurance_rules::settings::GLOBAL_KEY;
use iam_assurance_rules::Settings;
use serde_json::Value;

use crate::{AdapterError, Clients};

const OPERATION: &str = "ssm:GetParametersByPath";

/// Read every setting under `<prefix>` in one paginated call (recursively, SecureStrings
/// decrypted, following `NextToken`): the rules' under `<prefix>/rules/` and the global
/// settings at `<prefix>/global`.
///
/// The rule id is the parameter name after `<prefix>/rules/` (`/iam-assurance/rules/user-mfa`
/// → `user-mfa`); a nested name therefore shows up as an unknown rule id. A value that is not
/// JSON becomes that rule's error (`parameter /x/rules/y is not valid JSON: …`), and unknown
/// ids, keys or types are reported per rule by [`Settings::insert`]: those rules are not
/// evaluated, the others are. The errors about a SecureString parameter say where its value is
/// wrong and never what it holds ([`Settings::insert_secret`]). An invalid `<prefix>/global` is an error naming the parameter,
/// and the global defaults apply. Other parameters under the prefix are not ours and are
/// ignored. No parameters at all means every rule and the global settings at their defaults.
///
/// Any SSM failure (access denied, throttled after retries, network) is an `Err`: running with
/// defaults would silently drop the teams' exceptions and thresholds, so the caller should fail
/// the invocation and let it be retried.
///
/// Counted as `ssm:GetParametersByPath`, once per page (10 parameters a page).
pub async fn load_settings(clients: &Clients, prefix: &str) -> Result<Settings, AdapterError> {
    let root = normalize(prefix);
    let rules = format!("{root}/rules/");
    let global = format!("{root}/{GLOBAL_KEY}");
    // (rule id, raw value, is a SecureString)
    let mut entries: Vec<(String, Result<Value, String>, bool)> = Vec::new();
    let mut global_value: Option<(String, Result<Value, String>, bool)> = None;
    let mut next_token: Option<String> = None;
    loop {
        let out = clients
            .ssm
            .get_parameters_by_path()
            .path(if root.is_empty() { "/" } else { root.as_str() })
            .recursive(true)
            .with_decryption(true)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| AdapterError::aws(OPERATION, &e))?;
        for parameter in out.parameters() {
            let Some(name) = parameter.name() else { continue };
            // A SecureString's value never appears in an error or a log line (serde_json's
            // syntax errors give a line and column, not the text).
            let secret = parameter.r#type() == Some(&ParameterType::SecureString);
            let parse = || {
                let value = parameter.value().unwrap_or("");
                serde_json::from_str::<Value>(value).map_err(|e| format!("parameter {name} is not valid JSON: {e}"))
            };
            if name == global {
                global_value = Some((format!("parameter {name}"), parse(), secret));
            } else if let Some(id) = name.strip_prefix(&rules) {
                if !id.is_empty() {
                    entries.push((id.to_owned(), parse(), secret));
                }
            } else {
                tracing::debug!(parameter = name, "not a setting of iam-assurance; ignored");
            }
        }
        match out.next_token().filter(|t| !t.is_empty()) {
            Some(token) => next_token = Some(token.to_owned()),
            None => break,
        }
    }
    let mut settings = Settings::defaults();
    for (id, raw, secret) in entries {
        if secret {
            settings.insert_secret(id, raw);
        } else {
            settings.insert(id, raw);
        }
    }
    match global_value {
        Some((source, raw, true)) => settings.set_global_secret(&source, raw),
        Some((source, raw, false)) => settings.set_global(&source, raw),
        None => {}
    }
    Ok(settings)
}

/// `/iam-assurance/` → `/iam-assurance` (a missing leading slash is added, a trailing one
/// dropped; the root path is the empty string).
fn normalize(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}
