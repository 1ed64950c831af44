//! How a live run is configured (where its settings come from, where it publishes), how its
//! settings are loaded, and how it fails.

use std::path::PathBuf;
use std::time::Duration;

use iam_assurance_aws::{ssm, Clients};
use iam_assurance_rules::Settings;

/// Where settings come from.
#[derive(Debug, Clone)]
pub enum SettingsSource {
    /// SSM Parameter Store under this prefix (`<prefix>/rules/<rule-id>`).
    Ssm(String),
    /// A JSON file `{ "<rule-id>": {...} }`.
    File(PathBuf),
}

/// How the live path runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: SettingsSource,
    /// The settings prefix, for the "how to change this rule" text in messages.
    pub settings_prefix: String,
    /// Publish findings to this topic; `None` = do not publish (and leave the state alone).
    pub topic_arn: Option<String>,
    /// The finding-state table; `None` = no state: every open finding is published as new.
    pub state_table: Option<String>,
    /// How long collection may wait on IAM (credential report generation...).
    pub time_budget: Duration,
    /// The account the function runs in, when known without asking (the Lambda function's
    /// ARN); `None`: asked of the credentials ([`Clients::account`]) when needed.
    pub home_account: Option<String>,
    /// The Security Hub export (`SECURITY_HUB_EXPORT`): off unless set to `true`.
    pub security_hub: crate::export::options::Setting,
}

impl Config {
    /// From the environment: `SETTINGS_PREFIX` (default `/iam-assurance`), `FINDINGS_TOPIC_ARN`,
    /// `STATE_TABLE`, `SECURITY_HUB_EXPORT`.
    pub fn from_env() -> Self {
        let prefix = std::env::var("SETTINGS_PREFIX").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "/iam-assurance".into());
        let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        Config {
            settings: SettingsSource::Ssm(prefix.clone()),
            settings_prefix: prefix,
            topic_arn: var("FINDINGS_TOPIC_ARN"),
            state_table: var("STATE_TABLE"),
            time_budget: Duration::from_secs(240),
            home_account: None,
            security_hub: crate::export::options::Setting::parse(std::env::var(crate::export::options::SETTING).ok().as_deref()),
        }
    }
}

/// Why a run failed. Settings, state and publishing failures fail the invocation so Lambda
/// retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("cannot read settings: {0}")]
    Settings(String),
    #[error("cannot publish findings: {0}")]
    Publish(String),
    #[error("cannot use the finding state: {0}")]
    State(String),
    #[error("cannot tell which account the credentials reach: {0}")]
    Identity(String),
    #[error("cannot export findings to Security Hub: {0}")]
    Export(String),
}

impl RunError {
    /// The Lambda error type the invocation fails with.
    pub fn error_type(&self) -> &'static str {
        match self {
            RunError::Settings(_) => "SettingsUnavailable",
            RunError::Publish(_) => "PublishFailed",
            RunError::State(_) => "StateUnavailable",
            RunError::Identity(_) => "IdentityUnavailable",
            RunError::Export(_) => "ExportFailed",
        }
    }
}

/// The run's settings, from SSM or the settings file.
pub async fn load_settings(clients: &Clients, config: &Config) -> Result<Settings, RunError> {
    match &config.settings {
        SettingsSource::Ssm(prefix) => ssm::load_settings(clients, prefix).await.map_err(|e| RunError::Settings(e.to_string())),
        SettingsSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))?;
            Settings::from_json_text(&text).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))
        }
    }
}
