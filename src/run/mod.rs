//! The live path, shared by the Lambda handler and the `sweep` / `invoke` commands: settings
//! from SSM (or a file), an inventory from IAM, the rules, what changed to SNS.
//!
//! - [`config`]: how a run is configured, its settings loaded, and how it fails;
//! - [`sweep`]: the full sweep;
//! - [`event`]: the targeted run of a CloudTrail event;
//! - [`reads`]: what an event reads: narrowly, through the administrator roster, or the whole account;
//! - [`through_roster`]: the event reads that go through the administrator roster;
//! - [`organization`]: organization mode's round: the scheduled fan-out and the accounts queue's consumer;
//! - [`reach`]: which account a run reads, and through which credentials (a member's role), and the organization's accounts its roles may trust;
//! - [`round`]: an organization's round: started by the fan-out, reported to by each sweep, closed with one digest;
//! - [`roster_store`]: the administrator roster kept in the state table, read and stored;
//! - [`scope`]: what an event covers: the entities it may report and resolve, the state items it reads;
//! - [`publish`]: what changed to SNS through the finding state (claim, publish, release).

pub mod config;
pub mod event;
pub mod organization;
pub mod publish;
pub mod reach;
pub mod reads;
pub mod roster_store;
pub mod round;
pub mod scope;
pub mod sweep;
pub mod through_roster;

use chrono::{DateTime, Utc};
use iam_assurance_aws::Clients;
use serde_json::Value;

pub use config::{Config, RunError, SettingsSource};
pub use publish::publish_changes;
pub use sweep::{sweep, sweep_account};

use crate::output::{RunOutput, Trigger};
use crate::route::{route, Route};

/// The Lambda handler's work for one event.
pub async fn handle_event(clients: &Clients, config: &Config, event: &Value, now: DateTime<Utc>) -> Result<RunOutput, RunError> {
    match route(event) {
        Route::Ignored { reason } => {
            tracing::info!(%reason, "event ignored");
            let account = event.get("account").and_then(Value::as_str).unwrap_or("").to_string();
            Ok(RunOutput::ignored(account, reason, now))
        }
        Route::Sweep { event_id, time } if config.organization => {
            Box::pin(organization::fan_out(clients, config, Trigger::Schedule { event_id, time }, now)).await
        }
        Route::Sweep { event_id, time } => Box::pin(sweep(clients, config, Trigger::Schedule { event_id, time }, now)).await,
        Route::CloudTrail(cloudtrail) => Box::pin(event::run(clients, config, cloudtrail, now)).await,
    }
}
