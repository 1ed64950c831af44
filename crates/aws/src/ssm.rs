//! Rule settings from SSM Parameter Store: `<prefix>/rules/<rule-id>` holds a JSON object.

use iam_assurance_rules::Settings;
use serde_json::Value;

use crate::{AdapterError, Clients};

const OPERATION: &str = "ssm:GetParametersByPath";

/// Read every rule's settings under `<prefix>/rules` (recursively, SecureStrings decrypted,
/// following `NextToken`).
///
/// The rule id is the parameter name after `<prefix>/rules/` (`/iam-assurance/rules/user-mfa`
/// → `user-mfa`); a nested name therefore shows up as an unknown rule id. A value that is not
/// JSON becomes that rule's error (`parameter /x/rules/y is not valid JSON: …`), and unknown
/// ids, keys or types are reported per rule by [`Settings::from_entries`]: those rules are not
/// evaluated, the others are. No parameters at all means every rule at its defaults.
///
/// Any SSM failure (access denied, throttled after retries, network) is an `Err`: running with
/// defaults would silently drop the teams' exceptions and thresholds, so the caller should fail
/// the invocation and let it be retried.
///
/// Counted as `ssm:GetParametersByPath`, once per page.
pub async fn load_settings(clients: &Clients, prefix: &str) -> Result<Settings, AdapterError> {
    let path = rules_path(prefix);
    let mut entries: Vec<(String, Result<Value, String>)> = Vec::new();
    let mut next_token: Option<String> = None;
    loop {
        let out = clients
            .ssm
            .get_parameters_by_path()
            .path(&path)
            .recursive(true)
            .with_decryption(true)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| AdapterError::aws(OPERATION, &e))?;
        for parameter in out.parameters() {
            let Some(name) = parameter.name() else { continue };
            let id = name.strip_prefix(&path).map(|rest| rest.trim_start_matches('/')).unwrap_or(name);
            if id.is_empty() {
                continue;
            }
            let value = parameter.value().unwrap_or("");
            let parsed = serde_json::from_str::<Value>(value).map_err(|e| format!("parameter {name} is not valid JSON: {e}"));
            entries.push((id.to_owned(), parsed));
        }
        match out.next_token().filter(|t| !t.is_empty()) {
            Some(token) => next_token = Some(token.to_owned()),
            None => break,
        }
    }
    Ok(Settings::from_entries(entries))
}

/// `/iam-assurance` → `/iam-assurance/rules` (a missing leading slash is added, a trailing one
/// dropped).
fn rules_path(prefix: &str) -> String {
    let trimmed = prefix.trim().trim_end_matches('/');
    let trimmed = trimmed.trim_start_matches('/');
    if trimmed.is_empty() {
        "/rules".to_owned()
    } else {
        format!("/{trimmed}/rules")
    }
}
