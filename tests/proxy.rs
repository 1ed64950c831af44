//! A fault-injecting HTTP proxy on 127.0.0.1 in front of the emulator: it forwards each request
//! to moto and, for the requests a rule matches, drops the reply after moto applied the
//! request, answers an error instead, or answers late. The AWS SDK clients point at it with
//! their endpoint, exactly as at moto.
//!
//! A request's action is its `X-Amz-Target` suffix (DynamoDB, SSM: JSON protocols), its
//! `Action=` form field (IAM, SNS, STS: query protocols), or named from its path (Security Hub:
//! REST JSON, `POST /findings/import` is `BatchImportFindings`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What to do to a matched request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Forward it (moto applies it), then close the connection without a reply: the client
    /// cannot tell whether it was applied.
    DropReply,
    /// Do not forward it; answer this status and body (an AWS error document).
    Answer { status: u16, content_type: &'static str, body: String },
    /// Forward it after this delay.
    Delay(Duration),
    /// Forward it (moto applies it), then answer this instead of moto's reply: a service that
    /// did the work and reports otherwise (a partial failure naming findings it imported).
    ForwardAndAnswer { status: u16, content_type: &'static str, body: String },
}

impl Fault {
    /// DynamoDB's throttling error (JSON protocol).
    pub fn dynamodb_throttled() -> Fault {
        Fault::Answer {
            status: 400,
            content_type: "application/x-amz-json-1.0",
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"Rate exceeded"}"#
                .into(),
        }
    }

    /// IAM's or SNS's throttling error (query protocol).
    pub fn query_throttled() -> Fault {
        Fault::Answer {
            status: 400,
            content_type: "text/xml",
            body: "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
                .into(),
        }
    }

    /// A server error (query protocol).
    pub fn query_internal_error() -> Fault {
        Fault::Answer {
            status: 500,
            content_type: "text/xml",
            body: "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>Internal error</Message></Error>\
<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
                .into(),
        }
    }

    /// A server error (JSON protocol).
    pub fn json_internal_error() -> Fault {
        Fault::Answer {
            status: 500,
            content_type: "application/x-amz-json-1.0",
            body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal error"}"#.into(),
        }
    }
}

/// A rule: the requests of `action` after the first `skip` ones, `times` of them.
#[derive(Debug, Clone)]
struct Rule {
    action: String,
    skip: usize,
    times: usize,
    fault: Fault,
}

#[derive(Default)]
struct State {
    rules: Vec<Rule>,
    /// Requests seen per action.
    seen: BTreeMap<String, usize>,
    /// Faults applied per action.
    applied: BTreeMap<String, usize>,
}

/// The proxy; it stops when dropped.
pub struct FaultProxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Start a proxy to moto on `upstream_port`.
    pub async fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { break };
                let state = shared.clone();
                tokio::spawn(async move {
                    let _ = serve(client, upstream_port, state).await;
                });
            }
        });
        FaultProxy { port, state, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Apply `fault` to `times` requests of `action` (e.g. `PutItem`, `PublishBatch`), after
    /// letting the first `skip` of them through (counted from now).
    pub fn inject(&self, action: &str, skip: usize, times: usize, fault: Fault) {
        let mut state = self.state.lock().unwrap();
        let seen = state.seen.get(action).copied().unwrap_or(0);
        state.rules.push(Rule { action: action.to_string(), skip: seen + skip, times, fault });
    }

    /// Forget every rule.
    pub fn clear(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    /// How many requests of `action` the proxy has seen.
    pub fn seen(&self, action: &str) -> usize {
        self.state.lock().unwrap().seen.get(action).copied().unwrap_or(0)
    }

    /// How many faults it applied to `action`.
    pub fn applied(&self, action: &str) -> usize {
        self.state.lock().unwrap().applied.get(action).copied().unwrap_or(0)
    }

    /// An SDK configuration for the proxy (the same settings as for moto).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One HTTP/1.1 request: its head (with `Connection: close` for the upstream) and body.
struct Request {
    head: String,
    body: Vec<u8>,
    action: String,
}

async fn read_request(client: &mut TcpStream) -> std::io::Result<Option<Request>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()))
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buffer[head_end..].to_vec();
    while body.len() < length {
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("").split('?').next().unwrap_or("").to_string();
    let action = match header("x-amz-target") {
        Some(target) => target.rsplit('.').next().unwrap_or("").to_string(),
        None => match rest_action(&path) {
            Some(action) => action.to_string(),
            None => String::from_utf8_lossy(&body).split('&').find_map(|field| field.strip_prefix("Action=")).unwrap_or("").to_string(),
        },
    };
    // The upstream connection serves this one request.
    let mut lines: Vec<&str> = head.trim_end().lines().filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    lines.push("Connection: close");
    let head = format!("{}\r\n\r\n", lines.join("\r\n"));
    Ok(Some(Request { head, body, action }))
}

/// The operation of a REST JSON request, from its path.
fn rest_action(path: &str) -> Option<&'static str> {
    match path {
        "/findings/import" => Some("BatchImportFindings"),
        "/findings" => Some("GetFindings"),
        _ => None,
    }
}

async fn forward(request: &Request, upstream_port: u16) -> std::io::Result<Vec<u8>> {
    let mut upstream = TcpStream::connect(("127.0.0.1", upstream_port)).await?;
    upstream.write_all(request.head.as_bytes()).await?;
    upstream.write_all(&request.body).await?;
    let mut response = Vec::new();
    upstream.read_to_end(&mut response).await?;
    Ok(response)
}

/// Serve one client connection: one request, one reply (or none), then close.
async fn serve(mut client: TcpStream, upstream_port: u16, state: Arc<Mutex<State>>) -> std::io::Result<()> {
    let Some(request) = read_request(&mut client).await? else { return Ok(()) };
    let fault = {
        let mut state = state.lock().unwrap();
        let n = {
            let seen = state.seen.entry(request.action.clone()).or_insert(0);
            *seen += 1;
            *seen
        };
        let fault = state.rules.iter().find(|r| r.action == request.action && n > r.skip && n <= r.skip + r.times).map(|r| r.fault.clone());
        if fault.is_some() {
            *state.applied.entry(request.action.clone()).or_insert(0) += 1;
        }
        fault
    };
    match fault {
        None => {
            let response = forward(&request, upstream_port).await?;
            client.write_all(&response).await?;
        }
        Some(Fault::DropReply) => {
            forward(&request, upstream_port).await?;
            // Closed without a reply.
        }
        Some(Fault::Answer { status, content_type, body }) => {
            let reply = format!(
                "HTTP/1.1 {status} Fault\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(reply.as_bytes()).await?;
        }
        Some(Fault::ForwardAndAnswer { status, content_type, body }) => {
            forward(&request, upstream_port).await?;
            let reply = format!(
                "HTTP/1.1 {status} Fault\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            client.write_all(reply.as_bytes()).await?;
        }
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            let response = forward(&request, upstream_port).await?;
            client.write_all(&response).await?;
        }
    }
    client.shutdown().await
}
