//! Finding state in DynamoDB: one item per finding fingerprint, so a run can tell what is new,
//! what was resolved and what is due a reminder, and so two invocations never notify the same
//! change twice.
//!
//! The table (`STATE_TABLE`; the SAM template's `StateTable`) has the partition key
//! `fingerprint` (S) and the TTL attribute `expires_at`. An item:
//!
//! | attribute | type | meaning |
//! |---|---|---|
//! | `fingerprint` | S | the finding's fingerprint (key) |
//! | `rule_id`, `resource_arn`, `resource_type`, `severity` | S | what the finding is about |
//! | `status` | S | `open`, `suppressed` (by an exception) or `resolved` |
//! | `incident` | BOOL | a one-off event (root activity seen in CloudTrail): notified once, never resolved |
//! | `first_seen`, `last_seen` | S | RFC 3339 times |
//! | `last_notified` | S | when a message about it was last published (absent: never) |
//! | `last_change` | S | what that message said: `new`, `reminder` or `resolved` |
//! | `resolved_at` | S | when it was found resolved |
//! | `finding` | S | the latest finding, as JSON (a resolved message says what was fixed) |
//! | `message_hash` | S | a hash of the finding's message: tells a changed message without reading `finding` |
//! | `version` | N | incremented by every write; writes are conditional on it |
//! | `expires_at` | N | epoch seconds; DynamoDB deletes the item after it (TTL) |
//! | `written_by` | S | a token of the run that wrote it: tells a write whose reply was lost from a conflict |
//! | `exported` | S | what Security Hub was last told of the finding (with the export on; absent: nothing) |
//!
//! In an organization's table (partition key `account`, sort key `fingerprint`) a finding is
//! two items: its *head*, every attribute above but `finding`, under the fingerprint; and its
//! *body*, the `finding` JSON, under [`BODY_PREFIX`]`<fingerprint>` (with the head's
//! `expires_at`). DynamoDB charges a read by the size of the items read, whatever the
//! projection, and the finding JSON is most of an item: an hourly sweep Queries the heads only
//! (sort keys below [`BODY_PREFIX`]), about a third of the bytes, and reads the bodies of the
//! few findings it resolves. Head and body are written together (`TransactWriteItems`, the
//! head's condition deciding), so a body never says another finding than its head's. A head
//! written before the split still holds its `finding`; it is read as it is.
//!
//! One more item is not a finding: the administrator roster (`fingerprint` =
//! [`ROSTER_KEY`]; `roster` (S): the roster as JSON, `version` (N), `updated_at` (S),
//! `updated_by` (S): the sweep or the event that wrote it). Loading findings skips it.
//!
//! Every write is a conditional `PutItem` (or `DeleteItem`; in an organization's table a
//! `TransactWriteItems` of the head's and the body's): on `attribute_not_exists` for an
//! item the run did not see, on the `version` it read otherwise. A write that loses a race
//! reports [`WriteOutcome::Conflict`] and changes nothing. What to write is decided elsewhere
//! (`src/alerts.rs` in the root package); this module only stores and loads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use iam_assurance_rules::Severity;
use serde::Serialize;

use crate::sns::OutgoingMessage;
use crate::{AdapterError, Clients};

const SCAN: &str = "dynamodb:Scan";
const GET: &str = "dynamodb:GetItem";

/// The key of the administrator roster's item (see `iam_assurance_rules::roster`).
pub const ROSTER_KEY: &str = "roster#administrators";

/// The key prefix of messages left to be published ([`StateStore::keep_pending`]).
pub const PENDING_PREFIX: &str = "pending#";

/// The largest roster stored: DynamoDB items are at most 400 KB. A larger roster is not kept
/// (events then read the whole account).
pub const MAX_ROSTER_BYTES: usize = 380_000;
const BATCH_GET: &str = "dynamodb:BatchGetItem";
const PUT: &str = "dynamodb:PutItem";
const DELETE: &str = "dynamodb:DeleteItem";

/// The attribute naming the run that wrote an item (see [`StateStore::apply`]).
const WRITER: &str = "written_by";
/// The partition key of an organization's table: the account.
pub const PARTITION: &str = "account";
const QUERY: &str = "dynamodb:Query";
const TRANSACT: &str = "dynamodb:TransactWriteItems";

/// In an organization's table, the sort-key prefix of a finding's body item (its `finding`
/// JSON; see the module's documentation). `~` sorts after every head's key (hex fingerprints,
/// `roster#`, `pending#`), so a Query of the keys below it reads heads only.
pub const BODY_PREFIX: &str = "~finding#";
/// The attribute a body keeps the finding in.
const FINDING: &str = "finding";
/// How often a transaction cancelled by another one in flight on the same item is tried again.
const TRANSACTION_RETRIES: u32 = 3;

/// Every attribute but `finding`: what [`StateStore::load_light`] reads.
const LIGHT_ATTRIBUTES: &[&str] = &[
    "fingerprint",
    "rule_id",
    "resource_arn",
    "resource_type",
    "severity",
    "status",
    "incident",
    "first_seen",
    "last_seen",
    "last_notified",
    "last_change",
    "resolved_at",
    "message_hash",
    "version",
    "expires_at",
    "exported",
    // A pending message's (see `PendingMessage`).
    "subject",
    "message_json",
    "attributes",
    "dedup_id",
];

/// Keys per BatchGetItem request (DynamoDB's limit).
pub const MAX_BATCH_GET_KEYS: usize = 100;
/// How often keys DynamoDB leaves unprocessed (throttling, 16 MB responses) are asked again.
const UNPROCESSED_RETRIES: u32 = 5;

/// How many conditional writes are in flight at once.
pub const MAX_WRITES_IN_FLIGHT: usize = 16;

/// Where a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    Open,
    Suppressed,
    Resolved,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Open => "open",
            ItemStatus::Suppressed => "suppressed",
            ItemStatus::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [ItemStatus::Open, ItemStatus::Suppressed, ItemStatus::Resolved].into_iter().find(|s| s.as_str() == text)
    }
}

/// One item of the state table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateItem {
    pub fingerprint: String,
    pub rule_id: String,
    pub resource_arn: String,
    pub resource_type: String,
    pub severity: Severity,
    pub status: ItemStatus,
    pub incident: bool,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub last_notified: Option<DateTime<Utc>>,
    /// `new`, `reminder` or `resolved`: what the last published message said.
    pub last_change: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The latest finding as JSON; `None` when the item was loaded without it
    /// ([`StateStore::load_light`]).
    pub finding: Option<String>,
    /// A hash of the finding's message (`text_hash`), to tell a changed message cheaply.
    pub message_hash: Option<String>,
    pub version: u64,
    pub expires_at: Option<DateTime<Utc>>,
    /// What Security Hub was last told of this finding (its state there, as the export names
    /// it: `src/export/securityhub.rs` in the root package); `None`: nothing, or the export is
    /// off. Written only by runs with the export on.
    pub exported: Option<String>,
}

/// The condition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The item must not exist.
    Absent,
    /// The item must exist with this `version`.
    Version(u64),
}

/// One conditional write: put `item` (or delete the item when `None`) if `expect` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateWrite {
    pub fingerprint: String,
    pub expect: Expect,
    pub put: Option<StateItem>,
}

/// What happened to one write.
#[derive(Debug)]
pub enum WriteOutcome {
    Written,
    /// The condition did not hold: another invocation changed the item first.
    Conflict,
    Failed(AdapterError),
}

/// The table's content.
#[derive(Debug, Default)]
pub struct Loaded {
    pub items: BTreeMap<String, StateItem>,
    /// Items that could not be read (missing or malformed attributes), with the reason. They
    /// are left alone.
    pub skipped: Vec<String>,
    /// Messages an earlier run could not publish and left to be sent (a sweep's digest parts
    /// that failed after its findings were published): only a scan finds them.
    pub pending: Vec<PendingMessage>,
}

impl Loaded {
    /// Give each head loaded without its finding the finding of its body (an organization's
    /// table). A body without a head (its head's write or delete failed half-way, which the
    /// transactions prevent, or its head expired first) is ignored.
    fn attach(&mut self, mut bodies: HashMap<String, String>) {
        for item in self.items.values_mut() {
            if item.finding.is_none() {
                item.finding = bodies.remove(&item.fingerprint);
            }
        }
    }
}

/// A message an earlier run left to be published, as stored (see [`StateStore::keep_pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    /// Its item's key.
    pub key: String,
    pub message: OutgoingMessage,
}

/// The state table.
#[derive(Debug, Clone)]
pub struct StateStore {
    clients: Clients,
    table: String,
    /// Written with every item this store puts (`written_by`): a write whose reply was lost,
    /// resent by the SDK, fails its own condition; the item then says whether it was this
    /// store's (see [`StateStore::apply`]).
    writer: String,
    /// In organization mode, the account whose partition this store reads and writes (the
    /// table's partition key `account`, sort key `fingerprint`); `None`: a single account's
    /// table (partition key `fingerprint`).
    partition: Option<String>,
}

impl StateStore {
    /// A single account's table, for one run: each store has its own writer token.
    pub fn new(clients: &Clients, table: impl Into<String>) -> Self {
        StateStore { clients: clients.clone(), table: table.into(), writer: uuid::Uuid::new_v4().simple().to_string(), partition: None }
    }

    /// One account's partition of an organization's table (partition key `account`, sort key
    /// `fingerprint`): loads are a `Query` of that partition, never a scan of the table.
    pub fn partition(clients: &Clients, table: impl Into<String>, account: impl Into<String>) -> Self {
        StateStore { partition: Some(account.into()), ..StateStore::new(clients, table) }
    }

    /// The key of an item of this store.
    fn key(&self, fingerprint: &str) -> HashMap<String, AttributeValue> {
        let mut key = HashMap::from([("fingerprint".to_string(), AttributeValue::S(fingerprint.to_string()))]);
        if let Some(account) = &self.partition {
            key.insert(PARTITION.to_string(), AttributeValue::S(account.clone()));
        }
        key
    }

    /// An item as this store writes it: in its partition, with its writer token.
    fn stamped(&self, mut item: HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
        if let Some(account) = &self.partition {
            item.insert(PARTITION.to_string(), AttributeValue::S(account.clone()));
        }
        item.insert(WRITER.to_string(), AttributeValue::S(self.writer.clone()));
        item
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every item of the table: a paginated, strongly consistent `Scan` (the table holds one
    /// account's findings). Counted as `dynamodb:Scan` once per page.
    pub async fn load(&self) -> Result<Loaded, AdapterError> {
        self.scan(false).await
    }

    /// Every item without its `finding` JSON (most of an item's size): what a sweep needs to
    /// tell new, reminder and resolved. Items it resolves are then read whole with [`get`].
    ///
    /// [`get`]: StateStore::get
    pub async fn load_light(&self) -> Result<Loaded, AdapterError> {
        self.scan(true).await
    }

    async fn scan(&self, light: bool) -> Result<Loaded, AdapterError> {
        let mut loaded = Loaded::default();
        let mut bodies: HashMap<String, String> = HashMap::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        let (projection, names) = if light {
            let names: HashMap<String, String> = LIGHT_ATTRIBUTES.iter().map(|a| (format!("#{a}"), a.to_string())).collect();
            (Some(LIGHT_ATTRIBUTES.iter().map(|a| format!("#{a}")).collect::<Vec<_>>().join(", ")), Some(names))
        } else {
            (None, None)
        };
        loop {
            let (items, last) = match &self.partition {
                None => {
                    let out = self
                        .clients
                        .dynamodb
                        .scan()
                        .table_name(&self.table)
                        .consistent_read(true)
                        .set_projection_expression(projection.clone())
                        .set_expression_attribute_names(names.clone())
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| AdapterError::aws(SCAN, &e))?;
                    (out.items, out.last_evaluated_key)
                }
                Some(account) => {
                    let mut names = names.clone().unwrap_or_default();
                    names.insert("#partition".to_string(), PARTITION.to_string());
                    let mut values = HashMap::from([(":partition".to_string(), AttributeValue::S(account.clone()))]);
                    // Light: the heads only (their keys sort below the bodies'), read units
                    // being charged on the items read, not on the attributes returned.
                    let condition = if light {
                        names.insert("#key".to_string(), "fingerprint".to_string());
                        values.insert(":bodies".to_string(), AttributeValue::S(BODY_PREFIX.to_string()));
                        "#partition = :partition AND #key < :bodies"
                    } else {
                        "#partition = :partition"
                    };
                    let out = self
                        .clients
                        .dynamodb
                        .query()
                        .table_name(&self.table)
                        .consistent_read(true)
                        .key_condition_expression(condition)
                        .set_expression_attribute_values(Some(values))
                        .set_projection_expression(projection.clone())
                        .set_expression_attribute_names(Some(names))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| AdapterError::aws(QUERY, &e))?;
                    (out.items, out.last_evaluated_key)
                }
            };
            let items = items.unwrap_or_default();
            for raw in items.iter().filter(|raw| !is_roster(raw)) {
                if let Some((fingerprint, finding)) = body_from_item(raw) {
                    bodies.extend(finding.map(|f| (fingerprint, f)));
                    continue;
                }
                if let Some(pending) = pending_from_item(raw) {
                    match pending {
                        Ok(pending) => loaded.pending.push(pending),
                        Err(reason) => loaded.skipped.push(reason),
                    }
                    continue;
                }
                match from_item(raw) {
                    Ok(item) => {
                        loaded.items.insert(item.fingerprint.clone(), item);
                    }
                    Err(reason) => loaded.skipped.push(reason),
                }
            }
            match last.filter(|k| !k.is_empty()) {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        loaded.attach(bodies);
        Ok(loaded)
    }

    /// The items of these fingerprints (a fingerprint without an item is simply absent): what
    /// an event reads, as it knows every fingerprint it can touch. Strongly consistent
    /// `BatchGetItem`s of up to 100 keys, one request per 100 fingerprints in the common case;
    /// keys DynamoDB leaves unprocessed are asked again with backoff, and still unprocessed
    /// after that are an error (the run must not take a finding it could not read for new).
    /// Counted as `dynamodb:BatchGetItem` per request.
    pub async fn get(&self, fingerprints: &BTreeSet<String>) -> Result<Loaded, AdapterError> {
        let mut loaded = Loaded::default();
        let mut bodies: HashMap<String, String> = HashMap::new();
        // In an organization's table, each finding's head and body.
        let keys: Vec<HashMap<String, AttributeValue>> = fingerprints
            .iter()
            .flat_map(|f| {
                let body = self.partition.as_ref().map(|_| self.key(&body_key(f)));
                std::iter::once(self.key(f)).chain(body)
            })
            .collect();
        for chunk in keys.chunks(MAX_BATCH_GET_KEYS) {
            let mut pending = chunk.to_vec();
            let mut retries = 0u32;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(std::mem::take(&mut pending)))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| AdapterError::InvalidRequest { operation: BATCH_GET, detail: e.to_string() })?;
                let out = self
                    .clients
                    .dynamodb
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| AdapterError::aws(BATCH_GET, &e))?;
                for raw in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
                    if let Some((fingerprint, finding)) = body_from_item(raw) {
                        bodies.extend(finding.map(|f| (fingerprint, f)));
                        continue;
                    }
                    match from_item(raw) {
                        Ok(item) => {
                            loaded.items.insert(item.fingerprint.clone(), item);
                        }
                        Err(reason) => loaded.skipped.push(reason),
                    }
                }
                pending = out.unprocessed_keys().and_then(|u| u.get(&self.table)).map(|k| k.keys().to_vec()).unwrap_or_default();
                if !pending.is_empty() {
                    retries += 1;
                    if retries > UNPROCESSED_RETRIES {
                        return Err(AdapterError::InvalidRequest {
                            operation: BATCH_GET,
                            detail: format!("{} keys were still unprocessed after {UNPROCESSED_RETRIES} retries", pending.len()),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(50 << retries.min(6))).await;
                }
            }
        }
        loaded.attach(bodies);
        Ok(loaded)
    }

    /// Apply conditional writes, at most [`MAX_WRITES_IN_FLIGHT`] at a time. The outcomes are
    /// in the order of `writes`. Counted as `dynamodb:PutItem` / `dynamodb:DeleteItem`.
    ///
    /// A write whose condition failed is read back (a strongly consistent `GetItem`): if the
    /// item is the one this store wrote (its `written_by` token and the version written), or is
    /// gone after a delete, the write was applied and only its reply was lost (the SDK sent it
    /// again, and the second attempt failed the condition the first one changed): it is
    /// `Written`. Otherwise another run changed the item first: `Conflict`.
    pub async fn apply(&self, writes: &[&StateWrite]) -> Vec<WriteOutcome> {
        let mut outcomes: Vec<Option<WriteOutcome>> = (0..writes.len()).map(|_| None).collect();
        let mut tasks = tokio::task::JoinSet::new();
        let mut pending = writes.iter().map(|w| (*w).clone()).enumerate();
        loop {
            while tasks.len() < MAX_WRITES_IN_FLIGHT {
                let Some((index, write)) = pending.next() else { break };
                let store = self.clone();
                tasks.spawn(async move { (index, store.write_one(&write).await) });
            }
            let Some(joined) = tasks.join_next().await else { break };
            match joined {
                Ok((index, outcome)) => outcomes[index] = Some(outcome),
                Err(e) => tracing::error!(error = %e, "a state write task failed"),
            }
        }
        outcomes
            .into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    WriteOutcome::Failed(AdapterError::InvalidRequest { operation: PUT, detail: "the write task did not finish".into() })
                })
            })
            .collect()
    }

    async fn write_one(&self, write: &StateWrite) -> WriteOutcome {
        match self.write_once(write).await {
            WriteOutcome::Conflict => self.confirm_own(&write.fingerprint, write.put.as_ref().map(|item| item.version)).await,
            outcome => outcome,
        }
    }

    /// Whether a write that met a failed condition was this store's own, applied before: the
    /// item now holds this store's token and the version it wrote (`written`), or, for a
    /// delete (`None`), is gone.
    async fn confirm_own(&self, fingerprint: &str, written: Option<u64>) -> WriteOutcome {
        let read = self
            .clients
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(fingerprint)))
            .consistent_read(true)
            .send()
            .await;
        let stored = match read {
            Ok(out) => out.item,
            Err(e) => return WriteOutcome::Failed(AdapterError::aws(GET, &e)),
        };
        let own = match (written, &stored) {
            (Some(version), Some(raw)) => {
                raw.get(WRITER).and_then(|v| v.as_s().ok()) == Some(&self.writer) && version_of(raw) == Some(version)
            }
            (None, None) => true,
            _ => false,
        };
        if own {
            tracing::info!(%fingerprint, "a state write whose reply was lost had been applied");
            WriteOutcome::Written
        } else {
            WriteOutcome::Conflict
        }
    }

    /// A `PutItem` of `item` (as given: stamped by the caller) if `expect` holds.
    async fn put_if(&self, item: HashMap<String, AttributeValue>, expect: Expect) -> WriteOutcome {
        let Condition { condition, names, values } = Condition::of(expect);
        let result = self
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await;
        outcome(result, PUT, |e| e.is_conditional_check_failed_exception())
    }

    async fn write_once(&self, write: &StateWrite) -> WriteOutcome {
        if self.partition.is_some() {
            return self.write_split(write).await;
        }
        match &write.put {
            Some(item) => self.put_if(self.stamped(to_item(item)), write.expect).await,
            None => {
                let Condition { condition, names, values } = Condition::of(write.expect);
                let result = self
                    .clients
                    .dynamodb
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(self.key(&write.fingerprint)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .send()
                    .await;
                outcome(result, DELETE, |e| e.is_conditional_check_failed_exception())
            }
        }
    }
}

/// An organization's table: a finding's head and body (see the module's documentation).
impl StateStore {
    /// The body item of a finding: its JSON, kept as long as its head.
    fn body(&self, item: &StateItem, finding: &str) -> HashMap<String, AttributeValue> {
        let mut body = HashMap::from([
            ("fingerprint".to_string(), AttributeValue::S(body_key(&item.fingerprint))),
            (FINDING.to_string(), AttributeValue::S(finding.to_string())),
        ]);
        if let Some(t) = item.expires_at {
            body.insert("expires_at".to_string(), number(t.timestamp()));
        }
        self.stamped(body)
    }

    /// A write of a head and its body in one transaction, on the head's condition: a put of an
    /// item with its finding writes both; a put without it (an item loaded light) the head
    /// alone, leaving the body as it is; a delete removes both.
    async fn write_split(&self, write: &StateWrite) -> WriteOutcome {
        use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
        let Condition { condition, names, values } = Condition::of(write.expect);
        let invalid = |e: aws_sdk_dynamodb::error::BuildError| {
            WriteOutcome::Failed(AdapterError::InvalidRequest { operation: TRANSACT, detail: e.to_string() })
        };
        let items = match &write.put {
            Some(item) => {
                let mut head = self.stamped(to_item(item));
                let Some(finding) = head.remove(FINDING) else {
                    // No finding to write: the head alone, a plain conditional put.
                    return self.put_if(head, write.expect).await;
                };
                let finding = finding.as_s().cloned().unwrap_or_default();
                let head = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(head))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build();
                let body = Put::builder().table_name(&self.table).set_item(Some(self.body(item, &finding))).build();
                match (head, body) {
                    (Ok(head), Ok(body)) => {
                        [TransactWriteItem::builder().put(head).build(), TransactWriteItem::builder().put(body).build()]
                    }
                    (Err(e), _) | (_, Err(e)) => return invalid(e),
                }
            }
            None => {
                let head = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(self.key(&write.fingerprint)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build();
                let body = Delete::builder().table_name(&self.table).set_key(Some(self.key(&body_key(&write.fingerprint)))).build();
                match (head, body) {
                    (Ok(head), Ok(body)) => {
                        [TransactWriteItem::builder().delete(head).build(), TransactWriteItem::builder().delete(body).build()]
                    }
                    (Err(e), _) | (_, Err(e)) => return invalid(e),
                }
            }
        };
        self.transact(Vec::from(items)).await
    }

    /// One transaction whose first item carries the condition: `Conflict` when that condition
    /// failed. A transaction cancelled because another one was in flight on the same items is
    /// tried again a few times, then reported as failed (the run fails and is retried; taking it
    /// for a conflict could leave a change nobody notifies). The client request token makes
    /// the SDK's own retries of a request whose reply was lost idempotent.
    async fn transact(&self, items: Vec<aws_sdk_dynamodb::types::TransactWriteItem>) -> WriteOutcome {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let token = uuid::Uuid::new_v4().to_string();
        let mut tries = 0u32;
        loop {
            let result = self
                .clients
                .dynamodb
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(&token)
                .send()
                .await;
            let e = match result {
                Ok(_) => return WriteOutcome::Written,
                Err(e) => e,
            };
            let codes: Vec<String> = match e.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                    cancelled.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect()
                }
                Some(TransactWriteItemsError::TransactionInProgressException(_)) => vec!["TransactionInProgress".to_string()],
                _ => return WriteOutcome::Failed(AdapterError::aws(TRANSACT, &e)),
            };
            if codes.first().is_some_and(|c| c == "ConditionalCheckFailed") {
                return WriteOutcome::Conflict;
            }
            let busy = codes.iter().any(|c| c == "TransactionConflict" || c == "TransactionInProgress");
            tries += 1;
            if !busy || tries > TRANSACTION_RETRIES {
                return WriteOutcome::Failed(AdapterError::InvalidRequest {
                    operation: TRANSACT,
                    detail: format!("the transaction was cancelled (reasons: {}) after {tries} tries", codes.join(", ")),
                });
            }
            tokio::time::sleep(Duration::from_millis(25 << tries)).await;
        }
    }
}

impl StateStore {
    /// Keep messages that could not be published, for the next sweep (or the retry of this
    /// one) to send first: one item each (a message is at most 240 KiB; an item 400 KB), keyed
    /// by this run and their order. Returns how many were kept.
    pub async fn keep_pending(&self, messages: &[OutgoingMessage], now: DateTime<Utc>) -> Result<usize, AdapterError> {
        for (n, message) in messages.iter().enumerate() {
            let attributes = serde_json::to_string(&message.attributes).unwrap_or_else(|_| "{}".into());
            let item = self.stamped(HashMap::from([
                ("fingerprint".to_string(), AttributeValue::S(format!("{PENDING_PREFIX}{}#{n:04}", self.writer))),
                ("subject".to_string(), AttributeValue::S(message.subject.clone())),
                ("message_json".to_string(), AttributeValue::S(message.message_json.clone())),
                ("attributes".to_string(), AttributeValue::S(attributes)),
                ("dedup_id".to_string(), AttributeValue::S(message.dedup_id.clone())),
                ("version".to_string(), number(1)),
                ("first_seen".to_string(), time(now)),
                // Long past any retry; a message older than a week is no longer news.
                ("expires_at".to_string(), number((now + chrono::Duration::days(7)).timestamp())),
            ]));
            self.clients
                .dynamodb
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| AdapterError::aws(PUT, &e))?;
        }
        Ok(messages.len())
    }

    /// Forget a pending message once it was published.
    pub async fn drop_pending(&self, key: &str) -> Result<(), AdapterError> {
        self.clients
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(self.key(key)))
            .send()
            .await
            .map_err(|e| AdapterError::aws(DELETE, &e))?;
        Ok(())
    }
}

/// The sort key of a finding's body (an organization's table).
fn body_key(fingerprint: &str) -> String {
    format!("{BODY_PREFIX}{fingerprint}")
}

/// A finding's body (an organization's table): its fingerprint and finding; `None` for any
/// other item. A body without a `finding` string gives none.
fn body_from_item(raw: &HashMap<String, AttributeValue>) -> Option<(String, Option<String>)> {
    let key = raw.get("fingerprint").and_then(|v| v.as_s().ok())?;
    let fingerprint = key.strip_prefix(BODY_PREFIX)?;
    Some((fingerprint.to_string(), raw.get(FINDING).and_then(|v| v.as_s().ok()).cloned()))
}

/// A pending message from its item; `None` for any other item.
fn pending_from_item(raw: &HashMap<String, AttributeValue>) -> Option<Result<PendingMessage, String>> {
    let key = raw.get("fingerprint").and_then(|v| v.as_s().ok()).filter(|k| k.starts_with(PENDING_PREFIX))?;
    let text = |name: &str| raw.get(name).and_then(|v| v.as_s().ok()).cloned();
    let (Some(message_json), Some(subject)) = (text("message_json"), text("subject")) else {
        return Some(Err(format!("pending message {key}: no `message_json` or `subject`; left alone")));
    };
    let attributes: BTreeMap<String, String> = text("attributes").and_then(|a| serde_json::from_str(&a).ok()).unwrap_or_default();
    let message = OutgoingMessage { subject, message_json, attributes, dedup_id: text("dedup_id").unwrap_or_default() };
    Some(Ok(PendingMessage { key: key.clone(), message }))
}

/// The administrator roster as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRoster {
    pub version: u64,
    /// The roster's JSON (empty when the item has none).
    pub json: String,
}

impl StateStore {
    /// The administrator roster: a strongly consistent GetItem. `Ok(None)`: none is stored.
    /// Counted as `dynamodb:GetItem`.
    pub async fn roster(&self) -> Result<Option<StoredRoster>, AdapterError> {
        let out = self
            .clients
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(self.key(ROSTER_KEY)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AdapterError::aws(GET, &e))?;
        let Some(item) = out.item() else { return Ok(None) };
        let bad = |what: &str| AdapterError::InvalidRequest { operation: GET, detail: format!("the item {ROSTER_KEY} has no {what}") };
        let version = version_of(item).ok_or_else(|| bad("numeric `version`"))?;
        // Without a `roster` string the item is reported as holding nothing usable (empty), so
        // that the next run replaces it.
        let json = item.get("roster").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        Ok(Some(StoredRoster { version, json }))
    }

    /// Store the roster if the stored one is still at `expect` (absent, or that version); the
    /// new version is one more. `by` says which run wrote it.
    pub async fn put_roster(&self, json: &str, expect: Option<u64>, by: &str, now: DateTime<Utc>) -> WriteOutcome {
        let version = expect.map_or(1, |v| v + 1);
        let item = self.stamped(HashMap::from([
            ("fingerprint".to_string(), AttributeValue::S(ROSTER_KEY.to_string())),
            ("roster".to_string(), AttributeValue::S(json.to_string())),
            ("version".to_string(), number(version)),
            ("updated_at".to_string(), time(now)),
            ("updated_by".to_string(), AttributeValue::S(by.to_string())),
        ]));
        match self.put_if(item, expect.map_or(Expect::Absent, Expect::Version)).await {
            WriteOutcome::Conflict => self.confirm_own(ROSTER_KEY, Some(version)).await,
            outcome => outcome,
        }
    }

    /// Drop the roster, whatever its version: events read the whole account until a sweep
    /// writes a new one.
    pub async fn delete_roster(&self) -> WriteOutcome {
        let result = self.clients.dynamodb.delete_item().table_name(&self.table).set_key(Some(self.key(ROSTER_KEY))).send().await;
        outcome(result, DELETE, |e| e.is_conditional_check_failed_exception())
    }
}

/// The condition of a conditional write, as DynamoDB takes it.
struct Condition {
    condition: &'static str,
    names: Option<HashMap<String, String>>,
    values: Option<HashMap<String, AttributeValue>>,
}

impl Condition {
    fn of(expect: Expect) -> Condition {
        match expect {
            Expect::Absent => Condition { condition: "attribute_not_exists(fingerprint)", names: None, values: None },
            Expect::Version(v) => Condition {
                condition: "#version = :expected",
                names: Some(HashMap::from([("#version".to_string(), "version".to_string())])),
                values: Some(HashMap::from([(":expected".to_string(), number(v))])),
            },
        }
    }
}

/// An item's numeric `version`.
fn version_of(raw: &HashMap<String, AttributeValue>) -> Option<u64> {
    raw.get("version").and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok())
}

fn is_roster(raw: &HashMap<String, AttributeValue>) -> bool {
    raw.get("fingerprint").and_then(|v| v.as_s().ok()).is_some_and(|f| f == ROSTER_KEY)
}

/// A conditional write's outcome: a failed condition is a [`WriteOutcome::Conflict`].
fn outcome<O, E>(result: Result<O, SdkError<E, HttpResponse>>, operation: &'static str, condition_failed: fn(&E) -> bool) -> WriteOutcome
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(_) => WriteOutcome::Written,
        Err(e) if e.as_service_error().is_some_and(condition_failed) => WriteOutcome::Conflict,
        Err(e) => WriteOutcome::Failed(AdapterError::aws(operation, &e)),
    }
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

fn time(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::S(t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// The DynamoDB item of a state item.
pub fn to_item(item: &StateItem) -> HashMap<String, AttributeValue> {
    let mut map = HashMap::from([
        ("fingerprint".to_string(), AttributeValue::S(item.fingerprint.clone())),
        ("rule_id".to_string(), AttributeValue::S(item.rule_id.clone())),
        ("resource_arn".to_string(), AttributeValue::S(item.resource_arn.clone())),
        ("resource_type".to_string(), AttributeValue::S(item.resource_type.clone())),
        ("severity".to_string(), AttributeValue::S(item.severity.as_str().to_string())),
        ("status".to_string(), AttributeValue::S(item.status.as_str().to_string())),
        ("first_seen".to_string(), time(item.first_seen)),
        ("last_seen".to_string(), time(item.last_seen)),
        ("version".to_string(), number(item.version)),
    ]);
    if item.incident {
        map.insert("incident".to_string(), AttributeValue::Bool(true));
    }
    if let Some(finding) = &item.finding {
        map.insert("finding".to_string(), AttributeValue::S(finding.clone()));
    }
    if let Some(hash) = &item.message_hash {
        map.insert("message_hash".to_string(), AttributeValue::S(hash.clone()));
    }
    if let Some(t) = item.last_notified {
        map.insert("last_notified".to_string(), time(t));
    }
    if let Some(change) = &item.last_change {
        map.insert("last_change".to_string(), AttributeValue::S(change.clone()));
    }
    if let Some(t) = item.resolved_at {
        map.insert("resolved_at".to_string(), time(t));
    }
    if let Some(t) = item.expires_at {
        map.insert("expires_at".to_string(), number(t.timestamp()));
    }
    if let Some(exported) = &item.exported {
        map.insert("exported".to_string(), AttributeValue::S(exported.clone()));
    }
    map
}

/// A state item from a DynamoDB item; `Err` names the item and what is wrong with it.
pub fn from_item(raw: &HashMap<String, AttributeValue>) -> Result<StateItem, String> {
    let fingerprint = raw.get("fingerprint").and_then(|v| v.as_s().ok()).cloned().ok_or("a state item has no `fingerprint`")?;
    let bad = |what: &str| format!("state item {fingerprint}: {what}; left alone");
    let text = |key: &str| raw.get(key).and_then(|v| v.as_s().ok()).cloned();
    let required = |key: &str| text(key).ok_or_else(|| bad(&format!("no `{key}` string")));
    let at = |key: &str| -> Result<Option<DateTime<Utc>>, String> {
        match text(key) {
            None => Ok(None),
            Some(t) => DateTime::parse_from_rfc3339(&t)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| bad(&format!("`{key}` is not an RFC 3339 time: {t:?}"))),
        }
    };
    let required_at = |key: &str| at(key).and_then(|t| t.ok_or_else(|| bad(&format!("no `{key}` time"))));
    let severity_text = required("severity")?;
    let severity = Severity::ALL
        .into_iter()
        .find(|s| s.as_str() == severity_text)
        .ok_or_else(|| bad(&format!("unknown severity {severity_text:?}")))?;
    let status_text = required("status")?;
    let status = ItemStatus::parse(&status_text).ok_or_else(|| bad(&format!("unknown status {status_text:?}")))?;
    let version = version_of(raw).ok_or_else(|| bad("no numeric `version`"))?;
    let expires_at = match raw.get("expires_at") {
        None => None,
        Some(v) => Some(
            v.as_n()
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .ok_or_else(|| bad("`expires_at` is not epoch seconds"))?,
        ),
    };
    Ok(StateItem {
        rule_id: required("rule_id")?,
        resource_arn: required("resource_arn")?,
        resource_type: required("resource_type")?,
        severity,
        status,
        incident: raw.get("incident").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        first_seen: required_at("first_seen")?,
        last_seen: required_at("last_seen")?,
        last_notified: at("last_notified")?,
        last_change: text("last_change"),
        resolved_at: at("resolved_at")?,
        finding: text("finding"),
        message_hash: text("message_hash"),
        version,
        expires_at,
        exported: text("exported"),
        fingerprint,
    })
}

/// Organization mode's rounds, in the organization's state table: a round's item (partition
/// [`ROUNDS`], sort key the round) counts the accounts expected and done; each account's run
/// reports its summary once (partition `round#<round>`, sort key the account; a second run of
/// the account in the round merges its changes into that report). The run that
/// completes the round sends the organization's digest of every summary.
impl StateStore {
    /// Start a round of `expected` accounts (a round started twice keeps its first count).
    pub async fn start_round(&self, round: &str, expected: usize, now: DateTime<Utc>) -> Result<(), AdapterError> {
        let item = HashMap::from([
            (PARTITION.to_string(), AttributeValue::S(ROUNDS.to_string())),
            ("fingerprint".to_string(), AttributeValue::S(round.to_string())),
            ("expected".to_string(), number(expected)),
            ("done".to_string(), number(0)),
            ("started_at".to_string(), time(now)),
            ("expires_at".to_string(), number((now + chrono::Duration::days(7)).timestamp())),
        ]);
        let result = self
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(fingerprint)")
            .send()
            .await;
        match outcome(result, PUT, |e| e.is_conditional_check_failed_exception()) {
            WriteOutcome::Written | WriteOutcome::Conflict => Ok(()),
            WriteOutcome::Failed(e) => Err(e),
        }
    }

    /// Report an account's summary (JSON) for a round, once: [`RoundReport::Counted`] with the
    /// round's counts after it, [`RoundReport::AlreadyReported`] when the account had reported
    /// already (a message delivered twice; nothing is written), [`RoundReport::NoRound`] when the
    /// round is unknown.
    pub async fn report_round(&self, round: &str, account: &str, summary: &str, now: DateTime<Utc>) -> Result<RoundReport, AdapterError> {
        let entry = HashMap::from([
            (PARTITION.to_string(), AttributeValue::S(format!("{ROUNDS}#{round}"))),
            ("fingerprint".to_string(), AttributeValue::S(account.to_string())),
            ("summary".to_string(), AttributeValue::S(summary.to_string())),
            ("expires_at".to_string(), number((now + chrono::Duration::days(7)).timestamp())),
        ]);
        let put = self
            .clients
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(entry))
            .condition_expression("attribute_not_exists(fingerprint)")
            .send()
            .await;
        match outcome(put, PUT, |e| e.is_conditional_check_failed_exception()) {
            WriteOutcome::Written => {}
            WriteOutcome::Conflict => return Ok(RoundReport::AlreadyReported),
            WriteOutcome::Failed(e) => return Err(e),
        }
        let updated = self
            .clients
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(PARTITION, AttributeValue::S(ROUNDS.to_string()))
            .key("fingerprint", AttributeValue::S(round.to_string()))
            .update_expression("ADD #done :one")
            .condition_expression("attribute_exists(fingerprint)")
            .expression_attribute_names("#done", "done")
            .expression_attribute_values(":one", number(1))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let attributes = match updated {
            Ok(out) => out.attributes.unwrap_or_default(),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => return Ok(RoundReport::NoRound),
            Err(e) => return Err(AdapterError::aws(UPDATE, &e)),
        };
        let n = |key: &str| attributes.get(key).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
        Ok(RoundReport::Counted { done: n("done"), expected: n("expected") })
    }

    /// An account's report to a round, when it already reported (its summary), and whether the
    /// round's digest has been sent: two consistent GetItems.
    pub async fn round_report_of(&self, round: &str, account: &str) -> Result<(Option<String>, bool), AdapterError> {
        let get = |partition: String, key: String| {
            self.clients
                .dynamodb
                .get_item()
                .table_name(&self.table)
                .consistent_read(true)
                .key(PARTITION, AttributeValue::S(partition))
                .key("fingerprint", AttributeValue::S(key))
                .send()
        };
        let report = get(format!("{ROUNDS}#{round}"), account.to_string()).await.map_err(|e| AdapterError::aws(GET, &e))?;
        let summary = report.item.and_then(|i| i.get("summary").and_then(|v| v.as_s().ok()).cloned());
        let round_item = get(ROUNDS.to_string(), round.to_string()).await.map_err(|e| AdapterError::aws(GET, &e))?;
        let sent = round_item.item.is_some_and(|i| i.contains_key("digest_sent_at"));
        Ok((summary, sent))
    }

    /// Replace an account's report to a round with `summary`, if it is still `old` (another
    /// run may have replaced it since). Returns whether it was replaced.
    pub async fn replace_round_report(&self, round: &str, account: &str, old: &str, summary: &str) -> Result<bool, AdapterError> {
        let result = self
            .clients
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(PARTITION, AttributeValue::S(format!("{ROUNDS}#{round}")))
            .key("fingerprint", AttributeValue::S(account.to_string()))
            .update_expression("SET #summary = :new")
            .condition_expression("#summary = :old")
            .expression_attribute_names("#summary", "summary")
            .expression_attribute_values(":new", AttributeValue::S(summary.to_string()))
            .expression_attribute_values(":old", AttributeValue::S(old.to_string()))
            .send()
            .await;
        match outcome(result, UPDATE, |e| e.is_conditional_check_failed_exception()) {
            WriteOutcome::Written => Ok(true),
            WriteOutcome::Conflict => Ok(false),
            WriteOutcome::Failed(e) => Err(e),
        }
    }

    /// Every account's summary of a round (a Query of its partition).
    pub async fn round_summaries(&self, round: &str) -> Result<Vec<(String, String)>, AdapterError> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .clients
                .dynamodb
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("#partition = :round")
                .expression_attribute_names("#partition", PARTITION)
                .expression_attribute_values(":round", AttributeValue::S(format!("{ROUNDS}#{round}")))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| AdapterError::aws(QUERY, &e))?;
            for item in page.items() {
                let text = |key: &str| item.get(key).and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
                out.push((text("fingerprint"), text("summary")));
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(key) => start = Some(key),
                None => break,
            }
        }
        Ok(out)
    }

    /// Mark a round's digest sent; `false` when another run marked it first.
    pub async fn mark_round_sent(&self, round: &str, now: DateTime<Utc>) -> Result<bool, AdapterError> {
        let result = self
            .clients
            .dynamodb
            .update_item()
            .table_name(&self.table)
            .key(PARTITION, AttributeValue::S(ROUNDS.to_string()))
            .key("fingerprint", AttributeValue::S(round.to_string()))
            .update_expression("SET #sent = :now")
            .condition_expression("attribute_exists(fingerprint) AND attribute_not_exists(#sent)")
            .expression_attribute_names("#sent", "digest_sent_at")
            .expression_attribute_values(":now", time(now))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_conditional_check_failed_exception()) => Ok(false),
            Err(e) => Err(AdapterError::aws(UPDATE, &e)),
        }
    }

    /// The rounds whose digest was not sent, started before `before` (accounts that never
    /// reported: their sweeps failed every try), with their counts (expected, done).
    pub async fn unfinished_rounds(&self, before: DateTime<Utc>) -> Result<Vec<(String, u64, u64)>, AdapterError> {
        let page = self
            .clients
            .dynamodb
            .query()
            .table_name(&self.table)
            .consistent_read(true)
            .key_condition_expression("#partition = :rounds")
            .filter_expression("attribute_not_exists(digest_sent_at) AND started_at < :before")
            .expression_attribute_names("#partition", PARTITION)
            .expression_attribute_values(":rounds", AttributeValue::S(ROUNDS.to_string()))
            .expression_attribute_values(":before", time(before))
            .send()
            .await
            .map_err(|e| AdapterError::aws(QUERY, &e))?;
        Ok(page
            .items()
            .iter()
            .map(|item| {
                let n = |key: &str| item.get(key).and_then(|v| v.as_n().ok()).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                (item.get("fingerprint").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default(), n("expected"), n("done"))
            })
            .collect())
    }
}

/// The partition of organization mode's round items.
pub const ROUNDS: &str = "#rounds";

/// The partition of the organization's account list (sort key `accounts`).
pub const ORGANIZATION: &str = "#organization";

/// The organization's account list, as the fan-out writes it every round: every account it
/// listed, excluded ones included (a role may trust any of them; see the `role-trust-external`
/// rule). One item (`accounts`, a string set), at most 400 KB: some 25,000 accounts.
impl StateStore {
    fn organization_key() -> HashMap<String, AttributeValue> {
        HashMap::from([
            (PARTITION.to_string(), AttributeValue::S(ORGANIZATION.to_string())),
            ("fingerprint".to_string(), AttributeValue::S("accounts".to_string())),
        ])
    }

    /// Store the organization's accounts (replacing the last list). Counted as `dynamodb:PutItem`.
    pub async fn put_organization_accounts(
        &self,
        accounts: &BTreeSet<String>,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AdapterError> {
        if accounts.is_empty() {
            return Ok(());
        }
        let mut item = StateStore::organization_key();
        item.insert("accounts".to_string(), AttributeValue::Ss(accounts.iter().cloned().collect()));
        item.insert("source".to_string(), AttributeValue::S(source.to_string()));
        item.insert("updated_at".to_string(), time(now));
        self.clients
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| AdapterError::aws(PUT, &e))?;
        Ok(())
    }

    /// The organization's accounts as the last fan-out stored them; `Ok(None)`: none stored yet.
    /// An eventually consistent GetItem (the list changes when accounts join or leave, an hour
    /// apart). Counted as `dynamodb:GetItem`.
    pub async fn organization_accounts(&self) -> Result<Option<BTreeSet<String>>, AdapterError> {
        let out = self
            .clients
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(StateStore::organization_key()))
            .send()
            .await
            .map_err(|e| AdapterError::aws(GET, &e))?;
        let Some(item) = out.item else { return Ok(None) };
        match item.get("accounts").and_then(|v| v.as_ss().ok()) {
            Some(accounts) => Ok(Some(accounts.iter().cloned().collect())),
            None => Err(AdapterError::InvalidRequest {
                operation: GET,
                detail: format!("the item {ORGANIZATION}/accounts has no `accounts` string set"),
            }),
        }
    }
}

/// What became of an account's report to its round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoundReport {
    /// Counted: `done` of the round's `expected` accounts have now reported.
    Counted { done: u64, expected: u64 },
    /// The account had already reported to this round (it was swept twice: a message
    /// delivered twice); nothing counted.
    AlreadyReported,
    /// The round is not in the table (expired, or never started).
    NoRound,
}
const UPDATE: &str = "dynamodb:UpdateItem";
