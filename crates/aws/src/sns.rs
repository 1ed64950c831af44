//! Publishing findings to SNS with PublishBatch, within SNS's limits: at most 10 entries and
//! 256 KiB of payload per batch.

use std::collections::BTreeMap;

use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};

use crate::{AdapterError, Clients};

/// SNS's limit on one message, and on the sum of the messages of one batch (256 KiB),
/// counting the message, subject and attributes.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;
/// SNS's limit on entries per PublishBatch request.
pub const MAX_BATCH_ENTRIES: usize = 10;

const OPERATION: &str = "sns:PublishBatch";

/// One SNS message, rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// `Subject`: short, ASCII, no line breaks, at most 100 characters (for email).
    pub subject: String,
    /// The `MessageStructure=json` body: a JSON object with at least a `default` key, plus
    /// `email` and `https` as wanted.
    pub message_json: String,
    /// Message attributes, all sent with `DataType` `String`, for subscription filter policies.
    pub attributes: BTreeMap<String, String>,
    /// A stable id of the message's content (e.g. the finding fingerprint and change). Sent as
    /// `MessageDeduplicationId` on FIFO topics (ARN ending in `.fifo`, where the
    /// `MessageGroupId` is the `rule_id` attribute, or `iam-assurance` without one); standard
    /// topics reject that parameter, so there it is not sent.
    pub dedup_id: String,
}

impl OutgoingMessage {
    /// The bytes SNS counts against its size limits (message, subject, attribute names, types
    /// and values).
    pub fn payload_size(&self) -> usize {
        self.message_json.len()
            + self.subject.len()
            + self.attributes.iter().map(|(k, v)| k.len() + "String".len() + v.len()).sum::<usize>()
    }
}

/// What a publish did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishStats {
    /// Messages SNS accepted.
    pub published: usize,
    /// PublishBatch requests made (including the retry of failed entries).
    pub batches: usize,
    /// Entries that failed once and were sent again.
    pub retried: usize,
    /// Messages that may have been delivered twice: their batch was sent more than once by the
    /// SDK's retries (a request whose reply was lost may have been accepted). FIFO topics
    /// deduplicate them (`MessageDeduplicationId`); standard topics cannot, so they are counted.
    pub possibly_duplicated: usize,
}

/// Publish `messages` to `topic_arn` in as few PublishBatch calls as SNS's limits allow, in
/// order, with `MessageStructure=json`.
///
/// - Every message is checked first: one larger than [`MAX_PAYLOAD_BYTES`] is refused with
///   [`AdapterError::MessageTooLarge`] and nothing is sent (split it when rendering).
/// - Batches hold at most [`MAX_BATCH_ENTRIES`] entries and [`MAX_PAYLOAD_BYTES`] in total.
/// - Entries SNS reports in `Failed` with `SenderFault` false (its side: throttling, internal
///   errors) are sent once more, batched the same way; entries with `SenderFault` true are not
///   (the request is wrong and would fail again).
/// - If any message is still unpublished, the result is [`AdapterError::PublishFailed`] naming
///   how many and why. A failed PublishBatch request (after the SDK's retries) is
///   [`AdapterError::Aws`]; messages of earlier batches have been published by then.
///
/// Counted as `sns:PublishBatch` once per request (the IAM action that allows it is
/// `sns:Publish`).
pub async fn publish(clients: &Clients, topic_arn: &str, messages: &[OutgoingMessage]) -> Result<PublishStats, AdapterError> {
    let mut stats = PublishStats::default();
    for (index, message) in messages.iter().enumerate() {
        let size = message.payload_size();
        if size > MAX_PAYLOAD_BYTES {
            return Err(AdapterError::MessageTooLarge { index, subject: message.subject.clone(), size, limit: MAX_PAYLOAD_BYTES });
        }
    }
    let fifo = topic_arn.ends_with(".fifo");

    let all: Vec<usize> = (0..messages.len()).collect();
    let first = send_all(clients, topic_arn, messages, &all, fifo, &mut stats).await?;
    let (retry, mut rejected): (Vec<Failure>, Vec<Failure>) = first.into_iter().partition(|f| !f.sender_fault);
    if !retry.is_empty() {
        stats.retried = retry.len();
        let indexes: Vec<usize> = retry.iter().map(|f| f.index).collect();
        rejected.extend(send_all(clients, topic_arn, messages, &indexes, fifo, &mut stats).await?);
    }
    if rejected.is_empty() {
        return Ok(stats);
    }
    rejected.sort_by_key(|f| f.index);
    let reasons = summarize(&rejected, messages);
    Err(AdapterError::PublishFailed {
        topic_arn: topic_arn.to_owned(),
        total: messages.len(),
        published: stats.published,
        failed: rejected.len(),
        reasons,
    })
}

/// An entry SNS did not accept.
#[derive(Debug, Clone)]
struct Failure {
    index: usize,
    code: String,
    message: String,
    sender_fault: bool,
}

/// Send the given messages in batches; returns the entries SNS reported as failed.
async fn send_all(
    clients: &Clients,
    topic_arn: &str,
    messages: &[OutgoingMessage],
    indexes: &[usize],
    fifo: bool,
    stats: &mut PublishStats,
) -> Result<Vec<Failure>, AdapterError> {
    let mut failures = Vec::new();
    for batch in batches(messages, indexes) {
        let entries =
            batch.iter().enumerate().map(|(position, &index)| entry(&messages[index], position, fifo)).collect::<Result<Vec<_>, _>>()?;
        let attempts_before = attempts(clients);
        let out = clients
            .sns
            .publish_batch()
            .topic_arn(topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await
            .map_err(|e| AdapterError::aws(OPERATION, &e))?;
        stats.batches += 1;
        if attempts(clients).saturating_sub(attempts_before) > 1 && !fifo {
            stats.possibly_duplicated += batch.len();
            tracing::warn!(messages = batch.len(), "a PublishBatch was sent more than once: its messages may have arrived twice");
        }
        let position = |id: Option<&str>| -> Option<usize> { id?.strip_prefix('m')?.parse::<usize>().ok().filter(|p| *p < batch.len()) };
        let mut answered = vec![false; batch.len()];
        for s in out.successful() {
            if let Some(p) = position(s.id()) {
                if !answered[p] {
                    answered[p] = true;
                    stats.published += 1;
                }
            }
        }
        for f in out.failed() {
            if let Some(p) = position(Some(f.id())) {
                if !answered[p] {
                    answered[p] = true;
                    failures.push(Failure {
                        index: batch[p],
                        code: f.code().to_owned(),
                        message: f.message().unwrap_or("").to_owned(),
                        sender_fault: f.sender_fault(),
                    });
                }
            }
        }
        // An entry SNS reported neither way is treated as a failure on its side.
        for (p, answered) in answered.into_iter().enumerate() {
            if !answered {
                failures.push(Failure {
                    index: batch[p],
                    code: "NoResult".to_owned(),
                    message: "PublishBatch returned no result for this entry".to_owned(),
                    sender_fault: false,
                });
            }
        }
    }
    Ok(failures)
}

/// PublishBatch requests sent so far (the call counter counts each attempt). Publishing sends
/// one batch at a time, so the difference around one `send` is that batch's attempts.
fn attempts(clients: &Clients) -> u64 {
    clients.counter.snapshot().get(OPERATION).copied().unwrap_or(0)
}

/// Group message indexes into batches of at most 10 entries and 256 KiB, keeping order.
fn batches(messages: &[OutgoingMessage], indexes: &[usize]) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut current_size = 0usize;
    for &index in indexes {
        let size = messages[index].payload_size();
        if !current.is_empty() && (current.len() == MAX_BATCH_ENTRIES || current_size + size > MAX_PAYLOAD_BYTES) {
            batches.push(std::mem::take(&mut current));
            current_size = 0;
        }
        current.push(index);
        current_size += size;
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn entry(message: &OutgoingMessage, position: usize, fifo: bool) -> Result<PublishBatchRequestEntry, AdapterError> {
    let invalid = |e: aws_sdk_sns::error::BuildError| AdapterError::InvalidRequest { operation: OPERATION, detail: e.to_string() };
    let mut builder =
        PublishBatchRequestEntry::builder().id(format!("m{position}")).message(&message.message_json).message_structure("json");
    if !message.subject.is_empty() {
        builder = builder.subject(&message.subject);
    }
    for (name, value) in &message.attributes {
        let attribute = MessageAttributeValue::builder().data_type("String").string_value(value).build().map_err(invalid)?;
        builder = builder.message_attributes(name, attribute);
    }
    if fifo {
        let group = message.attributes.get("rule_id").map_or("iam-assurance", String::as_str);
        builder = builder.message_group_id(group);
        if !message.dedup_id.is_empty() {
            builder = builder.message_deduplication_id(&message.dedup_id);
        }
    }
    builder.build().map_err(invalid)
}

/// `n × Code: message` groups, naming up to three subjects each.
fn summarize(failures: &[Failure], messages: &[OutgoingMessage]) -> String {
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for f in failures {
        groups.entry((f.code.clone(), f.message.clone())).or_default().push(f.index);
    }
    groups
        .into_iter()
        .map(|((code, message), indexes)| {
            let subjects: Vec<String> =
                indexes.iter().take(3).map(|&i| format!("{:?}", messages.get(i).map_or("", |m| m.subject.as_str()))).collect();
            let more = if indexes.len() > 3 { format!(" and {} more", indexes.len() - 3) } else { String::new() };
            let what = if message.is_empty() { code } else { format!("{code}: {message}") };
            format!("{} × {what} (e.g. {}{more})", indexes.len(), subjects.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; ")
}
