//! How a live run is configured (where its settings come from, where it publishes), how its
//! settings are loaded, and how it fails.

use std::path::PathBuf;
use std::time::Duration;

use iam_assurance_aws::state::StateStore;
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
    /// The role a run assumes to read another account's IAM (`MEMBER_ROLE_NAME`): an event
    /// from a member account, `sweep --account`, every account of the organization. `None`:
    /// only the account the credentials reach is read.
    pub member_role_name: Option<String>,
    /// Organization mode (`ORGANIZATION_MODE=true`): the state table is partitioned by account,
    /// settings have per-account overrides, a scheduled event fans out to every account.
    pub organization: bool,
    /// The queue the organization's scheduled fan-out sends one message per account to
    /// (`ACCOUNTS_QUEUE_URL`).
    pub accounts_queue_url: Option<String>,
    /// The account this run is for, once known: its partition of the state table and its
    /// settings overrides in organization mode.
    pub account: Option<String>,
    /// The organization's round this sweep belongs to: it reports to the round instead of
    /// sending a digest of its own.
    pub round: Option<String>,
    /// The Security Hub export (`SECURITY_HUB_EXPORT`): off unless set to `true`.
    pub security_hub: crate::export::options::Setting,
}

/// The member role's default name.
pub const DEFAULT_MEMBER_ROLE: &str = "iam-assurance-reader";

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
            member_role_name: var("MEMBER_ROLE_NAME"),
            organization: var("ORGANIZATION_MODE").is_some_and(|v| v.eq_ignore_ascii_case("true")),
            accounts_queue_url: var("ACCOUNTS_QUEUE_URL"),
            account: None,
            round: None,
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
    /// A member account's role could not be assumed: that account's run fails alone.
    #[error("cannot read account {account}: {reason}")]
    Member { account: String, reason: String },
    #[error("cannot fan out to the organization's accounts: {0}")]
    FanOut(String),
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
            RunError::Member { .. } => "MemberUnreachable",
            RunError::FanOut(_) => "FanOutFailed",
            RunError::Export(_) => "ExportFailed",
        }
    }
}

impl Config {
    /// The finding-state table of this run: the account's partition in organization mode.
    pub fn state_store(&self, clients: &Clients) -> Option<StateStore> {
        let table = self.state_table.as_deref()?;
        Some(match (&self.account, self.organization) {
            (Some(account), true) => StateStore::partition(clients, table, account),
            _ => StateStore::new(clients, table),
        })
    }
}

/// The run's settings, from SSM (with the account's overrides in organization mode) or the
/// settings file.
pub async fn load_settings(clients: &Clients, config: &Config) -> Result<Settings, RunError> {
    match &config.settings {
        SettingsSource::Ssm(prefix) => match (&config.account, config.organization) {
            (Some(account), true) => ssm::load_account_settings(clients, prefix, account).await,
            _ => ssm::load_settings(clients, prefix).await,
        }
        .map_err(|e| RunError::Settings(e.to_string())),
        SettingsSource::File(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))?;
            Settings::from_json_text(&text).map_err(|e| RunError::Settings(format!("{}: {e}", path.display())))
        }
    }
}
