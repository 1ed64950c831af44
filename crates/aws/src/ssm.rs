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
    let read = read_path(clients, if root.is_empty() { "/" } else { root.as_str() }, true).await?;
    let (rules, global) = classify(read, &root);
    Ok(settings(rules, global))
}

/// The settings of one account of an organization: the organization's (`<prefix>/rules/*`,
/// `<prefix>/global`) with the account's overrides (`<prefix>/accounts/<account>/rules/*`,
/// `<prefix>/accounts/<account>/global`) on top. A key the account sets replaces the
/// organization's; `exceptions` add up (the organization's, then the account's). Three paginated
/// reads (the rules, the global settings, the account's), so an account never pays for the
/// overrides of the others.
pub async fn load_account_settings(clients: &Clients, prefix: &str, account: &str) -> Result<Settings, AdapterError> {
    let root = normalize(prefix);
    let own = format!("{root}/accounts/{account}");
    let rules_path = format!("{root}/rules");
    let (rules, top, overrides) = tokio::join!(
        read_path(clients, &rules_path, true),
        read_path(clients, if root.is_empty() { "/" } else { root.as_str() }, false),
        read_path(clients, &own, true),
    );
    let (mut rules, _) = classify(rules?, &root);
    let (_, mut global) = classify(top?, &root);
    let (account_rules, account_global) = classify(overrides?, &own);
    for (id, raw, secret) in account_rules {
        match rules.iter_mut().find(|(known, _, _)| *known == id) {
            Some(entry) => {
                entry.1 = overlay(std::mem::replace(&mut entry.1, Ok(Value::Null)), raw);
                entry.2 |= secret;
            }
            None => rules.push((id, raw, secret)),
        }
    }
    if let Some((source, raw, secret)) = account_global {
        global = Some(match global {
            Some((org_source, org_raw, org_secret)) => (format!("{org_source} with {source}"), overlay(org_raw, raw), org_secret || secret),
            None => (source, raw, secret),
        });
    }
    Ok(settings(rules, global))
}

/// The organization's fan-out settings, `<prefix>/organization` (a JSON object; `None` when
/// absent): one non-recursive read of `<prefix>`.
pub async fn load_organization(clients: &Clients, prefix: &str) -> Result<Option<Result<Value, String>>, AdapterError> {
    let root = normalize(prefix);
    let name = format!("{root}/organization");
    let read = read_path(clients, if root.is_empty() { "/" } else { root.as_str() }, false).await?;
    Ok(read.into_iter().find(|(n, _, _)| *n == name).map(|(_, raw, _)| raw))
}

/// An account's settings object over the organization's: its keys replace theirs,
/// `exceptions` add up. An error on either side is the result.
fn overlay(organization: Result<Value, String>, account: Result<Value, String>) -> Result<Value, String> {
    let (organization, account) = (organization?, account?);
    let (Value::Object(mut merged), Value::Object(account)) = (organization.clone(), account.clone()) else {
        // Not both objects: the account's value stands, and is validated as any other.
        return Ok(account);
    };
    for (key, value) in account {
        match (key.as_str(), merged.get_mut(&key), value) {
            ("exceptions", Some(Value::Array(base)), Value::Array(more)) => base.extend(more),
            (_, _, value) => {
                merged.insert(key, value);
            }
        }
    }
    Ok(Value::Object(merged))
}

/// (name, raw value, is a SecureString) of every parameter under `path`.
type Read = Vec<(String, Result<Value, String>, bool)>;

async fn read_path(clients: &Clients, path: &str, recursive: bool) -> Result<Read, AdapterError> {
    let mut read = Read::new();
    let mut next_token: Option<String> = None;
    loop {
        let out = clients
            .ssm
            .get_parameters_by_path()
            .path(path)
            .recursive(recursive)
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
            let value = parameter.value().unwrap_or("");
            let parsed = serde_json::from_str::<Value>(value).map_err(|e| format!("parameter {name} is not valid JSON: {e}"));
            read.push((name.to_owned(), parsed, secret));
        }
        match out.next_token().filter(|t| !t.is_empty()) {
            Some(token) => next_token = Some(token.to_owned()),
            None => break,
        }
    }
    Ok(read)
}

/// The rules' entries (rule id, raw, secret) and the global one (its source, raw, secret) among
/// the parameters under `root`.
#[allow(clippy::type_complexity)]
fn classify(read: Read, root: &str) -> (Vec<(String, Result<Value, String>, bool)>, Option<(String, Result<Value, String>, bool)>) {
    let rules_prefix = format!("{root}/rules/");
    let global_name = format!("{root}/{GLOBAL_KEY}");
    let mut rules = Vec::new();
    let mut global = None;
    for (name, raw, secret) in read {
        if name == global_name {
            global = Some((format!("parameter {name}"), raw, secret));
        } else if let Some(id) = name.strip_prefix(&rules_prefix) {
            if !id.is_empty() {
                rules.push((id.to_owned(), raw, secret));
            }
        } else {
            tracing::debug!(parameter = %name, "not a setting of this scope; ignored");
        }
    }
    (rules, global)
}

/// Settings from classified entries.
fn settings(rules: Vec<(String, Result<Value, String>, bool)>, global: Option<(String, Result<Value, String>, bool)>) -> Settings {
    let mut settings = Settings::defaults();
    for (id, raw, secret) in rules {
        if secret {
            settings.insert_secret(id, raw);
        } else {
            settings.insert(id, raw);
        }
    }
    match global {
        Some((source, raw, true)) => settings.set_global_secret(&source, raw),
        Some((source, raw, false)) => settings.set_global(&source, raw),
        None => {}
    }
    settings
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
