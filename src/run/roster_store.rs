//! The administrator roster (see `iam_assurance_rules::roster`) kept in the finding-state table
//! as one item: read before a run reads IAM, and stored by every run that read the whole
//! account (a sweep, or an event that had to) or that updated it through an event.
//!
//! Consistency: a run reads the roster's version before it reads IAM and stores its roster on
//! that version only. If another run stored the roster in between, this run's view may be
//! older than what is stored, so it drops the roster instead: events then read the whole
//! account until the next sweep stores a new one. A stored roster that cannot be used (another
//! format, not JSON) is replaced the same way.

use chrono::{DateTime, Utc};
use iam_assurance_aws::state::{StateStore, WriteOutcome, MAX_ROSTER_BYTES};
use iam_assurance_aws::Clients;
use iam_assurance_rules::roster::{Roster, FORMAT};

use super::config::{Config, RunError};
use crate::output::RosterOutcome;

/// The roster item as read from the state table.
#[derive(Debug, Clone, Default)]
pub struct StoredRoster {
    /// The stored item's version; `None`: there is none.
    pub version: Option<u64>,
    /// The roster, when the item holds one this version can use.
    pub roster: Option<Roster>,
}

impl StoredRoster {
    /// The roster and its version, or why an event cannot go through it.
    pub fn usable(&self) -> Result<(&Roster, u64), String> {
        match (&self.roster, self.version) {
            (Some(roster), Some(version)) => Ok((roster, version)),
            _ => Err("no administrator roster is kept yet (a sweep writes it)".into()),
        }
    }
}

/// The state table holding the administrator roster, when the run publishes through one (as
/// deployed). Without it, or without a topic, no roster is read or stored.
pub fn table(clients: &Clients, config: &Config) -> Option<StateStore> {
    config.topic_arn.as_ref()?;
    config.state_store(clients)
}

/// Read the stored roster (one GetItem). A roster of another format or that does not parse is
/// reported as absent (and logged), with its version, so that the run can replace it.
pub async fn read(store: &StateStore) -> Result<StoredRoster, String> {
    let Some(stored) = store.roster().await.map_err(|e| e.to_string())? else { return Ok(StoredRoster::default()) };
    // The format first: a roster of another format may not parse as this one.
    #[derive(serde::Deserialize)]
    struct Format {
        format: u32,
    }
    let roster = match serde_json::from_str::<Format>(&stored.json).map(|f| f.format) {
        Ok(FORMAT) => match serde_json::from_str::<Roster>(&stored.json) {
            Ok(roster) => Some(roster),
            Err(error) => {
                tracing::warn!(%error, "stored administrator roster does not parse; not used");
                None
            }
        },
        Ok(format) => {
            tracing::warn!(format, expected = FORMAT, "stored administrator roster has another format; not used");
            None
        }
        Err(error) => {
            tracing::warn!(%error, "stored administrator roster does not parse; not used");
            None
        }
    };
    Ok(StoredRoster { version: Some(stored.version), roster })
}

/// [`read`], or `None` with the reason logged: the run then neither uses nor stores it.
pub async fn read_or_warn(store: &StateStore) -> Option<StoredRoster> {
    match read(store).await {
        Ok(stored) => Some(stored),
        Err(reason) => {
            tracing::warn!(%reason, "cannot read the administrator roster; not using or storing it");
            None
        }
    }
}

/// Store a roster rebuilt from the whole account unless the stored one (read before the run
/// read IAM) is the same.
pub async fn store_if_changed(
    store: &StateStore,
    roster: Roster,
    prior: StoredRoster,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RosterOutcome, RunError> {
    if prior.roster.as_ref() == Some(&roster) {
        return Ok(RosterOutcome::Unchanged);
    }
    self::store(store, &roster, prior.version, by, now).await
}

/// Store a roster on the version the run read (`expect`; `None`: none existed): `Written`, or
/// `Dropped` when another run stored it since or it is too large to keep. A write that fails,
/// and whose fallback delete fails too, is an error: a stale roster would make later events
/// count administrators wrong.
pub async fn store(
    store: &StateStore,
    roster: &Roster,
    expect: Option<u64>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RosterOutcome, RunError> {
    let json = serde_json::to_string(roster).map_err(|e| RunError::State(format!("cannot serialize the administrator roster: {e}")))?;
    let why = if json.len() > MAX_ROSTER_BYTES {
        format!("the administrator roster is {} bytes, more than the {MAX_ROSTER_BYTES} an item can hold", json.len())
    } else {
        match store.put_roster(&json, expect, by, now).await {
            WriteOutcome::Written => return Ok(RosterOutcome::Written),
            WriteOutcome::Conflict => "another run wrote the administrator roster since this run read it".to_string(),
            WriteOutcome::Failed(e) => format!("cannot write the administrator roster: {e}"),
        }
    };
    tracing::warn!(reason = %why, "dropping the administrator roster: events read the whole account until the next sweep");
    match store.delete_roster().await {
        WriteOutcome::Written | WriteOutcome::Conflict => Ok(RosterOutcome::Dropped),
        WriteOutcome::Failed(e) => Err(RunError::State(format!("{why}, and it cannot be dropped either: {e}"))),
    }
}
