//! What the Lambda function tells its operators about each invocation, beyond its result
//! (which asynchronous invocations throw away):
//!
//! - a `WARN` log line per rule that was not evaluated, with the rule id and the reason;
//! - CloudWatch metrics in the Embedded Metric Format (EMF): JSON lines on stdout that
//!   CloudWatch Logs turns into metrics of the namespace [`NAMESPACE`], with the dimensions
//!   `FunctionName` and `Trigger` (`schedule`, `cloudtrail`, `ignored`): rules not evaluated,
//!   findings open by severity (sweeps), findings new, resolved and reminded, AWS and IAM
//!   calls, duration, `SweepsCompleted` (the heartbeat) and `RunsFailed`;
//! - the log format Lambda users search by: with `AWS_LAMBDA_LOG_FORMAT=JSON` (or in Lambda),
//!   one JSON object per line with top-level `timestamp`, `level`, `message`, `service`, and
//!   during an invocation `requestId` and `cold_start`.
//!
//! [`Invocation`] brackets one invocation: `start` before the run, `finish` after it. The
//! metric documents are built by pure functions ([`run_metrics`], [`failure_metrics`]) so
//! they are tested on plain runs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use iam_assurance_rules::{Cause, FindingStatus, RuleStatus, RuleSummary, Severity};
use serde_json::{json, Map, Value};

use crate::output::{Changes, RunOutput};
use crate::route::{route, Route};
use crate::run::RunError;

/// The CloudWatch namespace of the function's metrics.
pub const NAMESPACE: &str = "IamAssurance";
/// The `service` of every JSON log line.
pub const SERVICE: &str = "iam-assurance";

/// The metrics of a completed run, by name (all `Count` except `Duration`, in milliseconds).
pub mod metric {
    pub const RULES_NOT_EVALUATED: &str = "RulesNotEvaluated";
    pub const RULES_EVALUATED: &str = "RulesEvaluated";
    pub const FINDINGS_OPEN: &str = "FindingsOpen";
    pub const FINDINGS_NEW: &str = "FindingsNew";
    pub const FINDINGS_RESOLVED: &str = "FindingsResolved";
    pub const FINDINGS_REMINDED: &str = "FindingsReminded";
    pub const API_CALLS: &str = "ApiCalls";
    pub const IAM_CALLS: &str = "IamCalls";
    pub const DURATION: &str = "Duration";
    pub const SWEEPS_COMPLETED: &str = "SweepsCompleted";
    pub const RUNS_FAILED: &str = "RunsFailed";
}

// ------------------------------------------------------------------------------ the run

/// What telemetry reads of a run beyond its rules and findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts<'a> {
    /// The trigger's kind: `schedule`, `cloudtrail`, `manual`, `offline` or `ignored`.
    pub trigger: &'a str,
    /// What the run published; `None` when it did not publish.
    pub changes: Option<Changes>,
}

/// What telemetry reads of a run's trigger and what it published.
pub fn facts(output: &RunOutput) -> RunFacts<'_> {
    RunFacts { trigger: output.trigger.kind(), changes: output.published.as_ref().map(|p| p.changes) }
}

/// The trigger kind of an event whose run failed (the failure carries no run).
fn trigger_of(payload: &Value) -> &'static str {
    match route(payload) {
        Route::Sweep { .. } => "schedule",
        Route::CloudTrail(_) => "cloudtrail",
        Route::Ignored { .. } => "ignored",
    }
}

// ------------------------------------------------------------------------------ EMF

/// One EMF document: its metrics (name, value, unit), published under the dimension set
/// `dimensions`, and under each further `(dimensions, metric names)` of `rollups` for the
/// metrics named there; `properties` holds the dimension values and any other member.
struct Document {
    at: DateTime<Utc>,
    metrics: Vec<(&'static str, u64, &'static str)>,
    dimensions: Vec<&'static str>,
    rollups: Vec<(Vec<&'static str>, Vec<&'static str>)>,
    properties: Map<String, Value>,
}

impl Document {
    fn directive(&self, dimensions: &[&str], only: Option<&[&str]>) -> Value {
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .filter(|(name, _, _)| only.is_none_or(|names| names.contains(name)))
            .map(|(name, _, unit)| json!({"Name": name, "Unit": unit}))
            .collect();
        json!({"Namespace": NAMESPACE, "Dimensions": [dimensions], "Metrics": metrics})
    }

    fn into_json(self) -> Value {
        let mut directives = vec![self.directive(&self.dimensions, None)];
        for (dimensions, names) in &self.rollups {
            directives.push(self.directive(dimensions, Some(names)));
        }
        let mut doc = self.properties;
        doc.insert("_aws".into(), json!({"Timestamp": self.at.timestamp_millis(), "CloudWatchMetrics": directives}));
        for (name, value, _) in self.metrics {
            doc.insert(name.into(), json!(value));
        }
        Value::Object(doc)
    }
}

fn as_count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn base_properties(function: &str, trigger: &str, request_id: Option<&str>) -> Map<String, Value> {
    let mut properties = Map::new();
    properties.insert("FunctionName".into(), json!(function));
    properties.insert("Trigger".into(), json!(trigger));
    properties.insert("service".into(), json!(SERVICE));
    if let Some(id) = request_id {
        properties.insert("requestId".into(), json!(id));
    }
    properties
}

/// The EMF documents of a completed run, one JSON object per line to write:
///
/// - always, dimensions `FunctionName`+`Trigger`: `RulesNotEvaluated`, `RulesEvaluated`,
///   `ApiCalls`, `IamCalls`, `Duration`; `FindingsNew`, `FindingsResolved`, `FindingsReminded`
///   when the run published; `SweepsCompleted` = 1 for a sweep (`schedule`). Also
///   `RulesNotEvaluated` by `FunctionName` alone (one alarm covers every trigger). It counts
///   the blind spots only (data unread, settings invalid), whose ids are the `not_evaluated`
///   property; the rules not evaluated for a known cause (unconfigured, unknowable, out of
///   scope) are in `not_evaluated_known` with their cause;
/// - for a sweep, one document per severity (dimensions `FunctionName`+`Trigger`+`Severity`):
///   `FindingsOpen`, the account's open findings of that severity (an event's run sees only
///   the entities it names, so it has no account-wide count).
pub fn run_metrics(output: &RunOutput, duration: Duration, function: &str, request_id: Option<&str>, at: DateTime<Utc>) -> Vec<Value> {
    use metric::*;
    let facts = facts(output);
    let count = |status: RuleStatus| output.rules.iter().filter(|r| r.status == status).count() as u64;
    let blind = blind_spots(output).count() as u64;
    let iam_calls: u64 = output.api_calls.iter().filter(|(name, _)| name.starts_with("iam:")).map(|(_, n)| n).sum();
    let mut metrics = vec![
        (RULES_NOT_EVALUATED, blind, "Count"),
        (RULES_EVALUATED, count(RuleStatus::Evaluated), "Count"),
        (API_CALLS, output.api_calls_total, "Count"),
        (IAM_CALLS, iam_calls, "Count"),
        (DURATION, millis(duration), "Milliseconds"),
    ];
    if let Some(changes) = facts.changes {
        metrics.push((FINDINGS_NEW, as_count(changes.new), "Count"));
        metrics.push((FINDINGS_RESOLVED, as_count(changes.resolved), "Count"));
        metrics.push((FINDINGS_REMINDED, as_count(changes.reminder), "Count"));
    }
    let sweep = facts.trigger == "schedule";
    if sweep {
        metrics.push((SWEEPS_COMPLETED, 1, "Count"));
    }
    let mut properties = base_properties(function, facts.trigger, request_id);
    properties.insert("account_id".into(), json!(output.account_id));
    let not_evaluated: Vec<&str> = blind_spots(output).map(|r| r.rule_id.as_str()).collect();
    properties.insert("not_evaluated".into(), json!(not_evaluated));
    // The others, by cause: a known state of the deployment, not a blind spot.
    let known: serde_json::Map<String, Value> = output
        .rules
        .iter()
        .filter(|r| r.status == RuleStatus::NotEvaluated && !r.cause.is_some_and(Cause::is_blind_spot))
        .map(|r| (r.rule_id.clone(), json!(r.cause)))
        .collect();
    properties.insert("not_evaluated_known".into(), Value::Object(known));
    let run = Document {
        at,
        metrics,
        dimensions: vec!["FunctionName", "Trigger"],
        rollups: vec![(vec!["FunctionName"], vec![RULES_NOT_EVALUATED])],
        properties,
    };
    let mut documents = vec![run.into_json()];
    if sweep {
        for severity in Severity::ALL {
            let open = output.findings.iter().filter(|f| f.status == FindingStatus::Open && f.severity == severity).count() as u64;
            let mut properties = base_properties(function, facts.trigger, request_id);
            properties.insert("Severity".into(), json!(severity.as_str()));
            let doc = Document {
                at,
                metrics: vec![(FINDINGS_OPEN, open, "Count")],
                dimensions: vec!["FunctionName", "Trigger", "Severity"],
                rollups: Vec::new(),
                properties,
            };
            documents.push(doc.into_json());
        }
    }
    documents
}

/// The EMF document of a failed run: `RunsFailed` = 1 and `Duration`, dimensions
/// `FunctionName`+`Trigger` (the trigger read from the event), with the error type and message.
pub fn failure_metrics(
    payload: &Value,
    err: &RunError,
    duration: Duration,
    function: &str,
    request_id: Option<&str>,
    at: DateTime<Utc>,
) -> Value {
    let mut properties = base_properties(function, trigger_of(payload), request_id);
    properties.insert("error_type".into(), json!(err.error_type()));
    properties.insert("error".into(), json!(err.to_string()));
    Document {
        at,
        metrics: vec![(metric::RUNS_FAILED, 1, "Count"), (metric::DURATION, millis(duration), "Milliseconds")],
        dimensions: vec!["FunctionName", "Trigger"],
        rollups: Vec::new(),
        properties,
    }
    .into_json()
}

/// The rules a run could not evaluate for a gap someone must fix: data it could not read, or
/// invalid settings. A rule without a cause (none is recorded) counts as one: never hidden.
fn blind_spots(output: &RunOutput) -> impl Iterator<Item = &RuleSummary> {
    output.rules.iter().filter(|r| r.status == RuleStatus::NotEvaluated && r.cause.is_none_or(Cause::is_blind_spot))
}

/// Log a line for each rule the run could not evaluate, with its reason and cause: `WARN` for
/// a blind spot (what an operator must fix — a setting, a permission, a data source — is in the
/// reason), `INFO` for a known state (a rule left unconfigured, a fact AWS does not give, a
/// rule an event's run does not cover).
pub fn warn_not_evaluated(output: &RunOutput) {
    let trigger = facts(output).trigger;
    for rule in output.rules.iter().filter(|r| r.status == RuleStatus::NotEvaluated) {
        let reason = rule.reason.as_deref().unwrap_or("no reason given");
        let cause = rule.cause.map(Cause::as_str).unwrap_or("unknown");
        if rule.cause.is_none_or(Cause::is_blind_spot) {
            tracing::warn!(rule_id = %rule.rule_id, reason, cause, trigger, "rule {} not evaluated: {reason}", rule.rule_id);
        } else {
            tracing::info!(rule_id = %rule.rule_id, reason, cause, trigger, "rule {} not evaluated ({cause}): {reason}", rule.rule_id);
        }
    }
}

// ------------------------------------------------------------------------------ invocations

/// The invocation being handled, for the log lines written meanwhile.
struct Current {
    request_id: String,
    cold_start: bool,
}

static CURRENT: Mutex<Option<Current>> = Mutex::new(None);
static INVOCATIONS: AtomicU64 = AtomicU64::new(0);

fn current<T>(read: impl FnOnce(&Current) -> T) -> Option<T> {
    CURRENT.lock().ok().and_then(|c| c.as_ref().map(read))
}

/// One invocation of the function, from [`Invocation::start`] until it is dropped:
/// log lines written meanwhile carry its `requestId` and `cold_start` (true for the first
/// invocation of the process only).
pub struct Invocation {
    started: Instant,
    request_id: String,
}

impl Invocation {
    pub fn start(request_id: &str) -> Invocation {
        let cold_start = INVOCATIONS.fetch_add(1, Ordering::Relaxed) == 0;
        if let Ok(mut c) = CURRENT.lock() {
            *c = Some(Current { request_id: request_id.to_string(), cold_start });
        }
        Invocation { started: Instant::now(), request_id: request_id.to_string() }
    }

    /// After the run: the `WARN` lines of the rules not evaluated, and the metric documents
    /// on stdout (one JSON object per line), for a completed or a failed run.
    pub fn finish(&self, payload: &Value, result: &Result<RunOutput, RunError>) {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| SERVICE.to_string());
        let duration = self.started.elapsed();
        let documents = match result {
            Ok(output) => {
                warn_not_evaluated(output);
                run_metrics(output, duration, &function, Some(&self.request_id), Utc::now())
            }
            Err(err) => vec![failure_metrics(payload, err, duration, &function, Some(&self.request_id), Utc::now())],
        };
        write_lines(&documents);
    }
}

impl Drop for Invocation {
    fn drop(&mut self) {
        if let Ok(mut c) = CURRENT.lock() {
            *c = None;
        }
    }
}

/// Write each document as one line on stdout. A metric that cannot be written is lost, never
/// the run: the failure is logged.
fn write_lines(documents: &[Value]) {
    use std::io::Write;
    let mut text = String::new();
    for doc in documents {
        text.push_str(&doc.to_string());
        text.push('\n');
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        tracing::error!(error = %e, "cannot write the metrics to stdout");
    }
}

// ------------------------------------------------------------------------------ logging

/// Logging to stderr. JSON lines (Lambda's conventions, see the module) when
/// `AWS_LAMBDA_LOG_FORMAT` is `JSON`, or in Lambda unless it says otherwise; text otherwise.
/// The level comes from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO in Lambda and
/// WARN for the CLI; the AWS SDK's own logs are kept to warnings.
pub fn init_logging(lambda: bool) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| l.to_lowercase());
    let filter = match level {
        Some(level) => EnvFilter::new(format!("{level},aws_smithy_runtime=warn,aws_config=warn,hyper=warn")),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(if lambda { "info" } else { "warn" })),
    };
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").map(|f| f.eq_ignore_ascii_case("json")).unwrap_or(lambda);
    if json {
        let _ = tracing_subscriber::registry().with(filter).with(json_layer()).try_init();
    } else {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
    }
}

/// Lambda's JSON log line: `timestamp` (RFC 3339, UTC), `level`, `message` and the event's
/// fields at the top level, `service`, and during an invocation `requestId` and `cold_start`.
fn json_layer<S>() -> json_subscriber::JsonLayer<S, fn() -> std::io::Stderr>
where
    S: tracing::Subscriber + for<'lookup> tracing_subscriber::registry::LookupSpan<'lookup>,
{
    let mut layer = json_subscriber::JsonLayer::stderr();
    layer.with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime);
    layer.with_level("level");
    layer.with_flattened_event();
    layer.add_static_field("service", json!(SERVICE));
    layer.add_dynamic_field("requestId", |_, _| current(|c| c.request_id.clone()));
    layer.add_dynamic_field("cold_start", |_, _| current(|c| c.cold_start));
    layer
}
