//! An organization's round of sweeps, in the state table: started by the fan-out (how many
//! accounts), reported to by each account's sweep (counted once; a second sweep of the same
//! account in the round adds its changes to the first's report), and closed by the sweep
//! that completes it, which sends the organization's digest: one per round, not one per
//! account. A round some accounts never report to (their sweeps failed every try) is closed by
//! a later fan-out, its digest saying how many are missing.

use chrono::{DateTime, Duration, Utc};
use iam_assurance_aws::state::{RoundReport, StateStore};
use iam_assurance_aws::{sns, Clients};

use super::config::RunError;
use crate::notify::{self, MessageContext, RoundSummary};

fn state_error(e: iam_assurance_aws::AdapterError) -> RunError {
    RunError::State(e.to_string())
}

/// Start a round of `expected` accounts.
pub async fn start(clients: &Clients, table: &str, round: &str, expected: usize, now: DateTime<Utc>) -> Result<(), RunError> {
    StateStore::new(clients, table).start_round(round, expected, now).await.map_err(state_error)
}

/// Report an account's summary to its round; the report that completes the round sends the
/// organization's digest. Returns the digest parts this run sent.
pub async fn report(
    clients: &Clients,
    table: &str,
    topic: &str,
    round: &str,
    summary: &RoundSummary,
    ctx: &MessageContext<'_>,
    now: DateTime<Utc>,
) -> Result<usize, RunError> {
    let store = StateStore::new(clients, table);
    let json = serde_json::to_string(summary).map_err(|e| RunError::State(e.to_string()))?;
    match store.report_round(round, &summary.account_id, &json, now).await.map_err(state_error)? {
        RoundReport::Counted { done, expected } if done >= expected => send_digest(clients, &store, topic, round, 0, ctx, now).await,
        RoundReport::Counted { .. } => Ok(0),
        RoundReport::AlreadyReported => {
            merge_late_report(&store, round, summary).await?;
            Ok(0)
        }
        RoundReport::NoRound => {
            tracing::warn!(account = %summary.account_id, %round, "the round is not in the state table; this account's changes are in no digest");
            Ok(0)
        }
    }
}

/// An account swept twice in one round (SQS delivers a message at least once): the run that
/// reported second adds what it published to the account's report, so the digest tells every
/// change once. When the digest went out before, its changes were published one by one but
/// are not in the digest: said in a WARN line.
async fn merge_late_report(store: &StateStore, round: &str, summary: &RoundSummary) -> Result<(), RunError> {
    let account = &summary.account_id;
    if !summary.published_anything() {
        return Ok(()); // nothing to add
    }
    for _ in 0..3 {
        let (existing, sent) = store.round_report_of(round, account).await.map_err(state_error)?;
        if sent {
            tracing::warn!(%account, %round, "the account was swept twice in the round and its later run's changes came after the round's digest: they were published one by one, not in the digest");
            return Ok(());
        }
        let Some(existing) = existing else { return Ok(()) };
        let merged = match serde_json::from_str::<RoundSummary>(&existing) {
            Ok(earlier) => earlier.merged(summary),
            Err(error) => {
                tracing::warn!(%account, %round, %error, "the account's earlier report to the round does not parse; this run's replaces it");
                summary.clone()
            }
        };
        let json = serde_json::to_string(&merged).map_err(|e| RunError::State(e.to_string()))?;
        if store.replace_round_report(round, account, &existing, &json).await.map_err(state_error)? {
            return Ok(());
        }
    }
    tracing::warn!(%account, %round, "the account's report to the round kept changing; this run's changes may be missing from the digest");
    Ok(())
}

/// Close the rounds started more than `after` ago whose digest was never sent (some accounts
/// never reported): their digest says how many are missing. Returns the parts sent.
pub async fn close_unfinished(
    clients: &Clients,
    table: &str,
    topic: &str,
    after: Duration,
    ctx: &MessageContext<'_>,
    now: DateTime<Utc>,
) -> Result<usize, RunError> {
    let store = StateStore::new(clients, table);
    let mut sent = 0;
    for (round, expected, done) in store.unfinished_rounds(now - after).await.map_err(state_error)? {
        let missing = usize::try_from(expected.saturating_sub(done)).unwrap_or(usize::MAX);
        sent += send_digest(clients, &store, topic, &round, missing, ctx, now).await?;
    }
    Ok(sent)
}

/// The organization's digest of a round, once: marked sent before it is published (a failure
/// to publish it is an error, and the round's digest is then not sent again).
async fn send_digest(
    clients: &Clients,
    store: &StateStore,
    topic: &str,
    round: &str,
    missing: usize,
    ctx: &MessageContext<'_>,
    now: DateTime<Utc>,
) -> Result<usize, RunError> {
    let summaries: Vec<RoundSummary> = store
        .round_summaries(round)
        .await
        .map_err(state_error)?
        .into_iter()
        .filter_map(|(account, json)| match serde_json::from_str(&json) {
            Ok(summary) => Some(summary),
            Err(error) => {
                tracing::warn!(%account, %round, %error, "an account's round summary does not parse; left out of the digest");
                None
            }
        })
        .collect();
    if !store.mark_round_sent(round, now).await.map_err(state_error)? {
        return Ok(0); // another run sent it
    }
    let parts = notify::organization_digest(round, &summaries, missing, ctx);
    sns::publish(clients, topic, &parts)
        .await
        .map_err(|e| RunError::Publish(format!("the organization's digest of round {round}: {e}")))?;
    Ok(parts.len())
}
