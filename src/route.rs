//! Event routing: what an incoming EventBridge event asks for. Pure: JSON in, [`Route`] out.
//!
//! - `Scheduled Event` → a full sweep.
//! - `AWS API Call via CloudTrail` from IAM → a targeted evaluation of the [`Change`] it made
//!   (parsed once, from the one table of handled events, [`crate::change::EVENTS`]). Failed
//!   calls (`errorCode` set) changed nothing and are skipped; read-only calls are skipped.
//! - Any CloudTrail event whose `userIdentity.type` is `Root` (API calls and console
//!   sign-ins) → an immediate `root-usage` finding, on top of whatever else it triggers.
//! - Anything else is acknowledged and ignored: never an error that makes Lambda retry.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use iam_assurance_rules::inventory::RootActivity;
use iam_assurance_rules::policy::json_kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::change::{Change, Home};

/// The EventBridge detail types the function handles.
const SCHEDULED: &str = "Scheduled Event";
const API_CALL: &str = "AWS API Call via CloudTrail";
const CONSOLE_SIGN_IN: &str = "AWS Console Sign In via CloudTrail";
/// IAM's CloudTrail event source.
const IAM_SOURCE: &str = "iam.amazonaws.com";
/// CloudTrail's `userIdentity.type` of the root user.
const ROOT_IDENTITY: &str = "Root";

/// A CloudTrail event: root activity and/or an IAM change to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CloudTrailEvent {
    pub event_id: String,
    pub event_name: String,
    pub event_time: Option<DateTime<Utc>>,
    /// The account the event names (`recipientAccountId`, else the envelope's `account`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<RootActivity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// Why the IAM part was skipped (failed call, read-only, unhandled event name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// What to do with an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// One Route exists per invocation; boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum Route {
    /// A full sweep of the account.
    Sweep {
        /// The schedule event's id and time, for the run's trigger.
        #[serde(skip_serializing_if = "Option::is_none")]
        event_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        time: Option<String>,
    },
    /// CloudTrail activity: root use and/or an IAM change to evaluate.
    CloudTrail(CloudTrailEvent),
    /// Acknowledged and ignored.
    Ignored { reason: String },
}

/// Why a CloudTrail event records an attempt that failed: a sign-in event's
/// `responseElements` value `Failure` (`ConsoleLogin`, `PasswordUpdated`, `SwitchRole`...),
/// with its `errorMessage`, or an API call's `errorCode`.
fn failure(detail: &serde_json::Map<String, Value>) -> Option<String> {
    let message = detail.get("errorMessage").and_then(Value::as_str).filter(|m| !m.is_empty());
    let failed = detail
        .get("responseElements")
        .and_then(Value::as_object)
        .and_then(|r| r.iter().find(|(_, v)| v.as_str() == Some("Failure")))
        .map(|(key, _)| format!("{key}: Failure"));
    let text = match (failed, detail.get("errorCode").and_then(Value::as_str)) {
        (Some(failed), _) => failed,
        (None, Some(code)) => format!("errorCode {code}"),
        (None, None) => return None,
    };
    Some(match message {
        Some(message) => format!("{text} ({message})"),
        None => text,
    })
}

/// Route an event. Never fails: an event we cannot read is `Ignored` with the reason.
///
/// The envelope is read as `aws_lambda_events`' `EventBridgeEvent`; the CloudTrail `detail`
/// stays a tolerant JSON value (the typed CloudTrail structs reject fields real events omit).
pub fn route(event: &Value) -> Route {
    if !event.is_object() {
        return Route::Ignored { reason: format!("not an EventBridge event: expected a JSON object, got {}", json_kind(event)) };
    }
    let envelope = match EventBridgeEvent::<Value>::deserialize(event) {
        Ok(envelope) => envelope,
        Err(err) => return Route::Ignored { reason: format!("not an EventBridge event: {err}") },
    };
    match envelope.detail_type.as_str() {
        SCHEDULED => Route::Sweep { event_id: envelope.id.clone(), time: event.get("time").and_then(Value::as_str).map(str::to_owned) },
        API_CALL | CONSOLE_SIGN_IN => cloudtrail(Some(&envelope.detail), &envelope.detail_type, envelope.account.as_deref()),
        other => Route::Ignored { reason: format!("unhandled event `{other}` from `{}`", envelope.source) },
    }
}

fn cloudtrail(detail: Option<&Value>, detail_type: &str, account: Option<&str>) -> Route {
    let Some(detail) = detail.and_then(Value::as_object) else {
        return Route::Ignored { reason: format!("`{detail_type}` event without a `detail` object") };
    };
    let text = |key: &str| detail.get(key).and_then(Value::as_str).map(str::to_owned);
    let event_name = text("eventName").unwrap_or_default();
    let event_source = text("eventSource").unwrap_or_default();
    let event_id = text("eventID").unwrap_or_default();
    let event_time = text("eventTime").and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|t| t.with_timezone(&Utc));
    let identity = detail.get("userIdentity");
    let identity_type = identity.and_then(|u| u.get("type")).and_then(Value::as_str).unwrap_or("");
    // The account the change was made in, and its partition (from the caller's ARN).
    let account = text("recipientAccountId").or_else(|| account.map(str::to_owned)).filter(|a| !a.is_empty());

    let root = (identity_type == ROOT_IDENTITY).then(|| RootActivity {
        event_id: event_id.clone(),
        event_name: event_name.clone(),
        event_source: event_source.clone(),
        event_time,
        source_ip: text("sourceIPAddress"),
        user_agent: text("userAgent"),
        aws_region: text("awsRegion"),
        failure: failure(detail),
    });

    let (change, skipped) = if event_source != IAM_SOURCE {
        (None, (root.is_none()).then(|| format!("`{event_name}` from `{event_source}` is not an IAM change")))
    } else if let Some(code) = text("errorCode") {
        (None, Some(format!("`{event_name}` failed ({code}): nothing changed")))
    } else if detail.get("readOnly").and_then(Value::as_bool) == Some(true) {
        (None, Some(format!("`{event_name}` is read-only")))
    } else {
        let params = detail.get("requestParameters").unwrap_or(&Value::Null);
        let caller = identity.and_then(|u| u.get("userName")).and_then(Value::as_str);
        let partition = identity
            .and_then(|u| u.get("arn"))
            .and_then(Value::as_str)
            .and_then(|arn| arn.split(':').nth(1))
            .filter(|p| !p.is_empty())
            .unwrap_or("aws");
        let home = account.as_deref().map(|account| Home { account, partition });
        match Change::parse(&event_name, params, caller, home) {
            Ok(change) => (Some(change), None),
            Err(reason) => (None, Some(reason)),
        }
    };
    if root.is_none() && change.is_none() {
        return Route::Ignored { reason: skipped.unwrap_or_else(|| format!("`{event_name}`: nothing to evaluate")) };
    }
    Route::CloudTrail(CloudTrailEvent { event_id, event_name, event_time, account, root, change, skipped })
}
