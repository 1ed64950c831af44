//! The binary as a Lambda function: with `AWS_LAMBDA_RUNTIME_API` set it speaks the Lambda
//! Runtime API. A minimal runtime API on 127.0.0.1 hands it events and records its answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::*;

/// What the function posted back for one invocation.
#[derive(Debug)]
pub struct Answer {
    /// `response` or `error`.
    pub kind: String,
    pub body: Value,
    pub error_type: Option<String>,
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn read_request(stream: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if stream.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        stream.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).ok()?;
    Some(Request { method, path, headers, body })
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &str) {
    let mut text = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\ncontent-type: application/json\r\n", body.len());
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("\r\n");
    text.push_str(body);
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

/// Serve `events` one per `next` call, send each answer to the channel; after the last event
/// the next `next` call is never answered (the test then stops the process). Each connection
/// is served on its own thread.
fn serve(listener: TcpListener, events: Vec<Value>, answers: mpsc::Sender<Answer>) {
    let queue = std::sync::Arc::new(std::sync::Mutex::new(events.into_iter().enumerate()));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { return };
        let queue = queue.clone();
        let answers = answers.clone();
        std::thread::spawn(move || serve_connection(stream, &queue, &answers));
    }
}

type Queue = std::sync::Mutex<std::iter::Enumerate<std::vec::IntoIter<Value>>>;

fn serve_connection(stream: TcpStream, queue: &Queue, answers: &mpsc::Sender<Answer>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        if request.method == "GET" && request.path.ends_with("/runtime/invocation/next") {
            let next = queue.lock().unwrap().next();
            let Some((i, event)) = next else {
                // No more events: hold the connection until the test stops the function.
                std::thread::sleep(Duration::from_secs(120));
                return;
            };
            let deadline = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() + 60_000;
            respond(
                &mut writer,
                "200 OK",
                &[
                    ("lambda-runtime-aws-request-id", format!("request-{i}")),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:iam-assurance".into()),
                    ("lambda-runtime-trace-id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into()),
                ],
                &event.to_string(),
            );
        } else if request.method == "POST" {
            let kind = if request.path.ends_with("/response") { "response" } else { "error" }.to_string();
            let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            let error_type = request.headers.iter().find(|(k, _)| k == "lambda-runtime-function-error-type").map(|(_, v)| v.clone());
            respond(&mut writer, "202 Accepted", &[], "{}");
            if answers.send(Answer { kind, body, error_type }).is_err() {
                return;
            }
        } else {
            respond(&mut writer, "404 Not Found", &[], "{}");
        }
    }
}

pub struct Function {
    pub child: Child,
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the binary as a Lambda function on a runtime API that hands it `events`; its stdout
/// (the metric lines) and stderr (the logs) are piped. Request ids are `request-<index>`.
pub fn start_function(events: Vec<Value>, env: &[(&str, String)]) -> (Function, mpsc::Receiver<Answer>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind runtime API");
    let address = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || serve(listener, events, tx));
    let mut command = Command::new(env!("CARGO_BIN_EXE_iam-assurance"));
    command
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "iam-assurance")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let child = command.spawn().expect("start the function");
    (Function { child }, rx)
}

#[test]
fn the_function_answers_events_through_the_runtime_api() {
    // Nothing listens on this port: any AWS call fails at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let unreachable = format!("http://127.0.0.1:{closed}");
    let load = |name: &str| -> Value { serde_json::from_str(&std::fs::read_to_string(event_path(name)).unwrap()).unwrap() };
    let events = vec![load("unrelated.json"), json!("not an event"), load("schedule.json")];
    let (mut function, answers) =
        start_function(events, &[("AWS_ENDPOINT_URL", unreachable), ("SETTINGS_PREFIX", "/iam-assurance".into())]);
    let wait = Duration::from_secs(60);

    // An unrelated event: acknowledged with the run JSON, no AWS call.
    let first = answers.recv_timeout(wait).expect("an answer to the first event");
    assert_eq!(first.kind, "response", "{first:?}");
    assert_eq!(first.body["trigger"]["kind"], "ignored");
    assert_eq!(first.body["api_calls_total"], 0);

    // Garbage: acknowledged too (never an error that makes Lambda retry forever).
    let second = answers.recv_timeout(wait).expect("an answer to the garbage event");
    assert_eq!(second.kind, "response", "{second:?}");
    assert_eq!(second.body["trigger"]["kind"], "ignored");

    // A sweep whose settings cannot be read: the invocation fails, so Lambda retries.
    let third = answers.recv_timeout(wait).expect("an answer to the schedule event");
    assert_eq!(third.kind, "error", "{third:?}");
    assert_eq!(third.body["errorType"], "SettingsUnavailable", "{third:?}");
    assert!(third.error_type.is_some(), "the runtime marks the function error: {third:?}");
    assert!(third.body["errorMessage"].as_str().unwrap_or("").contains("settings"), "{third:?}");

    // Logs are JSON lines.
    let _ = function.child.kill();
    let mut logs = String::new();
    if let Some(mut stderr) = function.child.stderr.take() {
        let _ = stderr.read_to_string(&mut logs);
    }
    let line = logs.lines().find(|l| l.contains("event ignored")).unwrap_or_else(|| panic!("no log of the ignored event in: {logs}"));
    let parsed: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
    assert_eq!(parsed["level"], "INFO");
}

/// Lambda refuses responses over 6 MB: the handler's result keeps its shape within a byte
/// budget, the most severe findings first, and says how many there were.
#[test]
fn the_handler_result_fits_lambdas_response_limit() {
    use iam_assurance::audit::{load, AuditFiles};
    use iam_assurance::output::RunOutput;
    let sample = fixture("sample-account");
    let files = AuditFiles {
        authorization_details: sample.join("authorization-details.json"),
        credential_report: sample.join("credential-report.csv"),
        ..Default::default()
    };
    let inventory = load(&files).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
    let report = iam_assurance_rules::evaluate(&inventory, &iam_assurance_rules::Settings::defaults(), now);
    let output =
        RunOutput::from_report(report, iam_assurance::output::Trigger::Schedule { event_id: None, time: None }, Default::default());
    let total = output.findings.len();
    assert!(total > 5);

    // Within budget: the full run, unchanged.
    let full = serde_json::to_value(output.clone().truncate_within(10 * 1024 * 1024).unwrap()).unwrap();
    assert_eq!(full, serde_json::to_value(&output).unwrap());
    assert!(full.get("findings_truncated").is_none());

    // Over budget: fewer findings, the most severe kept, the total stated, under the limit.
    let limit = serde_json::to_string(&output).unwrap().len() / 2;
    let cut = serde_json::to_value(output.clone().truncate_within(limit).unwrap()).unwrap();
    assert!(cut.to_string().len() <= limit, "{} > {limit}", cut.to_string().len());
    let returned = cut["findings"].as_array().unwrap().len();
    assert!(returned > 0 && returned < total, "{returned} of {total}");
    assert_eq!(cut["findings_truncated"], json!({"total": total, "returned": returned}));
    assert_eq!(cut["findings"][0]["severity"], "critical");
    assert_eq!(cut["rules"], full["rules"]);
}
