//! Publishing what changed, shared by the sweep and the event path: with a state table, load the
//! state (a sweep scans it; an event reads only the items it can change), plan the notices
//! ([`crate::alerts`]), claim each one with a conditional write, publish what was claimed, then
//! record the rest; a thousand findings at a time, then the resolutions, then a sweep's digest.
//! A notice whose claim fails (another invocation claimed it first) is not published here; a
//! message that could not be published has its claim released, so the retry or the next run
//! sends it. Without a state table every open finding is published as new, every run.
//!
//! With the Security Hub export on, each part's writes also carry what Security Hub should hold,
//! and what this run won is imported after the part ([`crate::export::securityhub`]).

use std::borrow::Cow;
use std::collections::BTreeSet;

use iam_assurance_aws::sns::MAX_BATCH_ENTRIES;
use iam_assurance_aws::state::{StateStore, StateWrite, WriteOutcome};
use iam_assurance_aws::{sns, Clients};
use iam_assurance_rules::report::Finding;

use super::config::{Config, RunError};
use crate::alerts::{self, Claim, Notice, NoticeKind, Observation, RunKind};
use crate::export::securityhub::{self as hub, Due, Exporter, Owed};
use crate::notify::{self, DigestInput, MessageContext};
use crate::output::{Changes, NotPublished, Published, RosterOutcome, RunOutput, StateKind, StateUpdates};

/// The tail the sweep and the event path share: publish what changed when the run has a topic
/// (`None` without one), with what the run did with the administrator roster. The caller then
/// records it in the run ([`RunOutput::record_published`]).
pub async fn finish(
    clients: &Clients,
    config: &Config,
    output: &RunOutput,
    obs: &Observation<'_>,
    roster: Option<RosterOutcome>,
) -> Result<Option<Published>, RunError> {
    if config.topic_arn.is_none() {
        return Ok(None);
    }
    let mut published = Box::pin(publish_changes(clients, config, output, obs)).await?;
    published.roster = roster;
    Ok(Some(published))
}

/// Publish what changed: with a state table, the planned notices that this run could claim;
/// without one, every open finding as new. Returns the `published` part of the run JSON; a run
/// without a topic is an error.
///
/// `output` gives the trigger, the account and the open findings (for the digest); `obs` what
/// the run saw. Public so that tests can drive the publishing path with any findings.
pub async fn publish_changes(clients: &Clients, config: &Config, output: &RunOutput, obs: &Observation<'_>) -> Result<Published, RunError> {
    let Some(topic) = config.topic_arn.as_deref() else {
        return Err(RunError::Publish("no topic (FINDINGS_TOPIC_ARN) to publish to".into()));
    };
    let trigger_text = output.trigger.describe();
    let ctx = MessageContext {
        trigger: &trigger_text,
        settings_prefix: &config.settings_prefix,
        now: obs.now,
        renotify_hours: obs.global.renotify_hours,
    };
    let open: Vec<&Finding> = output.open_findings().collect();
    let exporter = Exporter::for_run(clients, config, obs.now)?;

    let Some(table) = config.state_table.as_deref() else {
        let (notices, below) = alerts::stateless(obs.findings, obs.global);
        let notices: Vec<&Notice> = notices.iter().collect();
        let published: Vec<(NoticeKind, &Finding)> = notices.iter().map(|n| (n.change, n.finding.as_ref())).collect();
        let (new, resolved, reminders) = digest_lists(&published, obs.kind);
        let input = DigestInput { account_id: &output.account_id, new: &new, resolved: &resolved, reminders, open: &open };
        let digest = notify::digest(&input, &ctx);
        let digest_parts = digest.len();
        let sent = send(clients, topic, messages(&notices, &ctx).chain(digest.messages())).await;
        if let Some(error) = sent.error {
            return Err(RunError::Publish(error));
        }
        return Ok(Published {
            topic_arn: topic.to_string(),
            state: StateKind::None,
            state_table: None,
            note: Some("no finding state (STATE_TABLE unset): every open finding is published as new, every run"),
            changes: changes(&published),
            digest_parts,
            messages: sent.messages,
            batches: sent.batches,
            retried: sent.retried,
            possibly_duplicated: sent.possibly_duplicated,
            earlier_messages: 0,
            not_published: NotPublished { below_min_severity: below, claimed_by_another_run: None },
            state_items: None,
            state_items_skipped: None,
            state_updates: None,
            settings: obs.global,
            roster: None,
            security_hub: None,
        });
    };

    let store = config.state_store(clients).unwrap_or_else(|| StateStore::new(clients, table));
    let state_error = |e: iam_assurance_aws::AdapterError| RunError::State(e.to_string());
    let loaded = match &obs.state_keys {
        // A sweep: every item, without the stored findings (most of the table's size), then
        // whole the few it may resolve (a resolved message says what was fixed).
        None => {
            let mut loaded = Box::pin(store.load_light()).await.map_err(state_error)?;
            let resolving: BTreeSet<String> = loaded
                .items
                .values()
                .filter(|p| alerts::may_resolve(obs, p) || exporter.as_ref().is_some_and(|e| e.needs_whole(p)))
                .map(|p| p.fingerprint.clone())
                .collect();
            if !resolving.is_empty() {
                let whole = Box::pin(store.get(&resolving)).await.map_err(state_error)?;
                loaded.items.extend(whole.items);
                loaded.skipped.extend(whole.skipped);
            }
            loaded
        }
        Some(keys) => Box::pin(store.get(keys)).await.map_err(state_error)?,
    };
    for reason in &loaded.skipped {
        tracing::warn!(%reason, "state item skipped");
    }
    let mut committed = Committed { export: exporter.as_ref().map(Owed::new), ..Committed::default() };
    // Messages an earlier run could not publish (digest parts that failed after its findings
    // went out): first, and forgotten once sent.
    if !loaded.pending.is_empty() {
        let sent = send(clients, topic, loaded.pending.iter().map(|p| p.message.clone())).await;
        committed.sent.add(&sent);
        committed.earlier_messages += sent.confirmed;
        for pending in &loaded.pending[..sent.confirmed.min(loaded.pending.len())] {
            if let Err(e) = store.drop_pending(&pending.key).await {
                tracing::warn!(key = %pending.key, error = %e, "a message left by an earlier run was published but not forgotten: it may be sent again");
            }
        }
        if let Some(error) = sent.error {
            return Err(RunError::Publish(format!("{error} (publishing the messages an earlier run left; nothing else was published)")));
        }
    }
    // The findings a part at a time (a first sweep of a large account has tens of thousands
    // of claims, each with its item), then the resolutions, then the digest of them all.
    let mut seen = BTreeSet::new();
    let parts = async {
        for part in obs.findings.chunks(PLAN_PART) {
            let mut plan = alerts::plan_findings(obs, part, &loaded.items, &mut seen);
            let dues = hub::prepare(exporter.as_ref(), obs, Some(part), &loaded.items, &mut plan);
            Box::pin(commit(clients, &store, topic, plan, dues, &ctx, &mut committed)).await?;
        }
        let mut resolutions = alerts::plan_resolutions(obs, &loaded.items);
        let dues = hub::prepare(exporter.as_ref(), obs, None, &loaded.items, &mut resolutions);
        Box::pin(commit(clients, &store, topic, resolutions, dues, &ctx, &mut committed)).await
    };
    let parts = Box::pin(parts).await;
    // What the parts' writes marked for Security Hub is imported whatever happened after.
    let exported = match committed.export.as_mut() {
        Some(owed) => Box::pin(owed.flush(clients, &store)).await,
        None => Ok(()),
    };
    match (parts, exported) {
        (Err(e), Err(export)) => return Err(with_export_failure(e, &export)),
        (Err(e), Ok(())) => return Err(e),
        (Ok(()), Err(export)) => committed.export_failure = Some(export),
        (Ok(()), Ok(())) => {}
    }

    let published: Vec<(NoticeKind, &Finding)> = committed.published.iter().map(PublishedNotice::entry).collect();
    // An organization's round: no digest per account; the account reports to the round, and
    // the run that completes the round sends the organization's digest.
    if let (Some(round), RunKind::Sweep) = (config.round.as_deref(), obs.kind) {
        let summary = notify::RoundSummary::of(&output.account_id, &open, &published);
        let digest_parts = super::round::report(clients, table, topic, round, &summary, &ctx, obs.now).await?;
        let mut done = Published::default_for(topic, Some(table));
        done.changes = changes(&published);
        done.digest_parts = digest_parts;
        done.messages = committed.sent.messages + digest_parts;
        done.batches = committed.sent.batches;
        done.retried = committed.sent.retried;
        done.possibly_duplicated = committed.sent.possibly_duplicated;
        done.earlier_messages = committed.earlier_messages;
        done.not_published =
            NotPublished { below_min_severity: committed.below_min_severity, claimed_by_another_run: Some(committed.taken) };
        done.state_items = Some(loaded.items.len());
        done.state_items_skipped = Some(loaded.skipped);
        done.state_updates = Some(committed.updates);
        done.settings = obs.global;
        return Ok(done);
    }
    let (new, resolved, reminders) = digest_lists(&published, obs.kind);
    let input = DigestInput { account_id: &output.account_id, new: &new, resolved: &resolved, reminders, open: &open };
    // Rendered a part at a time as it is sent.
    let digest = notify::digest(&input, &ctx);
    let digest_parts = digest.len();
    let sent = send(clients, topic, digest.messages()).await;
    committed.sent.add(&sent);
    if let Some(error) = sent.error {
        // The findings went out, so a retry would find nothing new to summarize: the unsent
        // parts are kept for the next sweep (the retry of this one) to send first.
        let unsent: Vec<_> = digest.messages().skip(sent.confirmed).collect();
        let kept = match store.keep_pending(&unsent, obs.now).await {
            Ok(n) => format!("the other {n} are kept and sent first by the next sweep"),
            Err(e) => format!("the other {} could not be kept either ({e}): they are lost", unsent.len()),
        };
        let failed = RunError::Publish(format!(
            "{error} (every finding message was published; {} of the {digest_parts} digest parts were, {kept})",
            sent.confirmed
        ));
        return Err(match &committed.export_failure {
            Some(export) => with_export_failure(failed, export),
            None => failed,
        });
    }
    if let Some(export) = committed.export_failure.take() {
        // Everything else went out: the retry imports what this run could not.
        return Err(RunError::Export(export));
    }
    let security_hub = committed.export.take().map(|owed| owed.stats);
    let sent = &committed.sent;
    Ok(Published {
        topic_arn: topic.to_string(),
        state: StateKind::Dynamodb,
        state_table: Some(table.to_string()),
        note: None,
        changes: changes(&published),
        digest_parts,
        messages: sent.messages,
        batches: sent.batches,
        retried: sent.retried,
        possibly_duplicated: sent.possibly_duplicated,
        earlier_messages: committed.earlier_messages,
        not_published: NotPublished { below_min_severity: committed.below_min_severity, claimed_by_another_run: Some(committed.taken) },
        state_items: Some(loaded.items.len()),
        state_items_skipped: Some(loaded.skipped),
        state_updates: Some(committed.updates),
        settings: obs.global,
        roster: None,
        security_hub,
    })
}

/// Findings planned and committed together: claims written, messages sent, then the other
/// state writes, before the next part is planned.
const PLAN_PART: usize = 1000;

/// What the committed parts of a plan did.
#[derive(Default)]
struct Committed<'a> {
    /// The notices published (for the digest and the counts).
    published: Vec<PublishedNotice<'a>>,
    sent: Sent,
    taken: usize,
    below_min_severity: usize,
    updates: StateUpdates,
    /// Messages an earlier run left, published by this one.
    earlier_messages: usize,
    /// What the Security Hub export owes and did (with it on).
    export: Option<Owed>,
    /// Why some findings could not be imported: the run fails with it once its messages are out.
    export_failure: Option<String>,
}

/// A published notice, as the digest needs it. Not the [`Notice`] itself: a `Cow<Finding>` is
/// as large as a finding (hundreds of bytes) even when it borrows, and a first sweep of a large
/// account publishes tens of thousands of notices.
enum PublishedNotice<'a> {
    /// New or a reminder: one of the run's findings.
    Run(NoticeKind, &'a Finding),
    /// Resolved: the finding as stored.
    Stored(NoticeKind, Box<Finding>),
}

impl<'a> PublishedNotice<'a> {
    fn of(notice: &Notice<'a>) -> Self {
        match &notice.finding {
            Cow::Borrowed(f) => PublishedNotice::Run(notice.change, f),
            Cow::Owned(f) => PublishedNotice::Stored(notice.change, Box::new(f.clone())),
        }
    }

    fn entry(&self) -> (NoticeKind, &Finding) {
        match self {
            PublishedNotice::Run(change, f) => (*change, f),
            PublishedNotice::Stored(change, f) => (*change, f),
        }
    }
}

/// Claim the plan's notices (a conditional write each: only one invocation wins a notice),
/// publish what was claimed, then record what publishes nothing. A claim that could not be
/// written fails the run before anything of this part is published; a message that could not
/// be published has its claim released so that the retry (or the next run) sends it.
async fn commit<'a>(
    clients: &Clients,
    store: &StateStore,
    topic: &str,
    plan: alerts::Plan<'a>,
    dues: Vec<Due>,
    ctx: &MessageContext<'_>,
    committed: &mut Committed<'a>,
) -> Result<(), RunError> {
    committed.below_min_severity += plan.below_min_severity;
    let claims: Vec<&StateWrite> = plan.claims.iter().map(|c| &c.claim).collect();
    let mut claimed: Vec<&Claim> = Vec::new();
    let mut failure: Option<String> = None;
    for (claim, outcome) in plan.claims.iter().zip(Box::pin(store.apply(&claims)).await) {
        match outcome {
            WriteOutcome::Written => claimed.push(claim),
            WriteOutcome::Conflict => committed.taken += 1,
            WriteOutcome::Failed(e) => {
                failure.get_or_insert_with(|| e.to_string());
            }
        }
    }
    if let Some(error) = failure {
        let released = release(store, &claimed).await;
        return Err(RunError::State(format!(
            "{error}; {} messages were published before, none of this part ({released} claims released)",
            committed.sent.messages
        )));
    }

    let notices: Vec<&Notice> = claimed.iter().map(|c| &c.notice).collect();
    let sent = send(clients, topic, messages(&notices, ctx)).await;
    committed.sent.add(&sent);
    if let Some(error) = sent.error {
        // Messages before `confirmed` were published; the findings of the others go back to
        // their prior state so that the retry (or the next run) sends them.
        let (published, unsent) = claimed.split_at(sent.confirmed.min(claimed.len()));
        let released = release(store, unsent).await;
        // The published findings' writes stand: import them (a released claim put its whole
        // prior item back, so its finding is imported by the run that publishes it).
        let won: BTreeSet<&str> = published.iter().map(|c| c.claim.fingerprint.as_str()).collect();
        Box::pin(owe(clients, store, dues, &won, committed)).await;
        return Err(RunError::Publish(format!(
            "{error} ({} messages published in all; {released} of the {} unpublished findings released for the next attempt)",
            committed.sent.messages,
            unsent.len()
        )));
    }
    committed.published.extend(claimed.iter().map(|c| PublishedNotice::of(&c.notice)));

    // Record what publishes nothing. A conflict means another run wrote the item first.
    let updates: Vec<&StateWrite> = plan.updates.iter().collect();
    let mut won: BTreeSet<&str> = claimed.iter().map(|c| c.claim.fingerprint.as_str()).collect();
    for (write, outcome) in plan.updates.iter().zip(Box::pin(store.apply(&updates)).await) {
        match outcome {
            WriteOutcome::Written => {
                committed.updates.written += 1;
                won.insert(write.fingerprint.as_str());
            }
            WriteOutcome::Conflict => committed.updates.conflicts += 1,
            WriteOutcome::Failed(e) => {
                committed.updates.failed += 1;
                tracing::warn!(fingerprint = %write.fingerprint, error = %e, "state update failed; the next run redoes it");
            }
        }
    }
    Box::pin(owe(clients, store, dues, &won, committed)).await;
    Ok(())
}

/// Owe Security Hub what this part marked and won (nothing with the export off).
async fn owe(clients: &Clients, store: &StateStore, dues: Vec<Due>, won: &BTreeSet<&str>, committed: &mut Committed<'_>) {
    if let Some(owed) = committed.export.as_mut() {
        Box::pin(owed.owe(clients, store, dues, won)).await;
    }
}

/// A run's failure, with the findings it could not import into Security Hub either.
fn with_export_failure(error: RunError, export: &str) -> RunError {
    match error {
        RunError::Publish(e) => RunError::Publish(format!("{e}; also: {export}")),
        RunError::State(e) => RunError::State(format!("{e}; also: {export}")),
        other => other,
    }
}

fn changes(published: &[(NoticeKind, &Finding)]) -> Changes {
    let count = |kind: NoticeKind| published.iter().filter(|(k, _)| *k == kind).count();
    Changes { new: count(NoticeKind::New), resolved: count(NoticeKind::Resolved), reminder: count(NoticeKind::Reminder) }
}

/// For a sweep's digest, the findings published as new and as resolved, and how many
/// reminders were sent (nothing for an event, which sends no digest).
fn digest_lists<'n>(published: &[(NoticeKind, &'n Finding)], kind: RunKind) -> (Vec<&'n Finding>, Vec<&'n Finding>, usize) {
    if kind != RunKind::Sweep {
        return (Vec::new(), Vec::new(), 0);
    }
    let of = |change: NoticeKind| -> Vec<&Finding> { published.iter().filter(|(c, _)| *c == change).map(|(_, f)| *f).collect() };
    let reminders = published.iter().filter(|(c, _)| *c == NoticeKind::Reminder).count();
    (of(NoticeKind::New), of(NoticeKind::Resolved), reminders)
}

/// The messages to send, in order: one per notice, rendered as it is sent (a large first
/// sweep has tens of thousands, each in three renderings), then the digest parts.
fn messages<'m>(notices: &'m [&'m Notice<'m>], ctx: &'m MessageContext<'m>) -> impl Iterator<Item = sns::OutgoingMessage> + Send + 'm {
    notices.iter().map(move |n| notify::finding_message(&n.finding, n.change, &n.history, ctx))
}

/// What publishing did.
#[derive(Default)]
struct Sent {
    messages: usize,
    batches: usize,
    retried: usize,
    possibly_duplicated: usize,
    /// Messages known to be published: every message before this index.
    confirmed: usize,
    error: Option<String>,
}

impl Sent {
    fn add(&mut self, other: &Sent) {
        self.messages += other.messages;
        self.batches += other.batches;
        self.retried += other.retried;
        self.possibly_duplicated += other.possibly_duplicated;
    }
}

/// Publish ten messages (one batch) at a time, in order, stopping at the first failure, so
/// that the caller knows which messages were published.
async fn send(clients: &Clients, topic: &str, messages: impl Iterator<Item = sns::OutgoingMessage> + Send) -> Sent {
    let mut sent = Sent::default();
    let mut messages = messages;
    loop {
        let chunk: Vec<sns::OutgoingMessage> = messages.by_ref().take(MAX_BATCH_ENTRIES).collect();
        if chunk.is_empty() {
            break;
        }
        match Box::pin(sns::publish(clients, topic, &chunk)).await {
            Ok(stats) => {
                sent.messages += stats.published;
                sent.batches += stats.batches;
                sent.retried += stats.retried;
                sent.possibly_duplicated += stats.possibly_duplicated;
                sent.confirmed += chunk.len();
            }
            Err(e) => {
                sent.error = Some(e.to_string());
                break;
            }
        }
    }
    sent
}

/// Undo claims (best effort): each item goes back to its prior content, with a newer version.
async fn release(store: &StateStore, claims: &[&Claim<'_>]) -> usize {
    let writes: Vec<&StateWrite> = claims.iter().map(|c| &c.release).collect();
    let mut released = 0;
    for (write, outcome) in writes.iter().zip(Box::pin(store.apply(&writes)).await) {
        match outcome {
            WriteOutcome::Written => released += 1,
            WriteOutcome::Conflict => tracing::warn!(fingerprint = %write.fingerprint, "claim changed since; not released"),
            WriteOutcome::Failed(e) => tracing::error!(fingerprint = %write.fingerprint, error = %e, "cannot release a claim"),
        }
    }
    released
}
