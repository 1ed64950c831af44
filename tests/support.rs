//! Shared test support: paths, running the binary, a moto server, and the live tests' world
//! ([`Env`]: moto, a topic with a queue, the state table).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use iam_assurance::run::{Config, SettingsSource};
use iam_assurance_aws::state::StateStore;
use iam_assurance_aws::Clients;
use serde_json::Value;

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
}

/// A sample event of `events/`, parsed.
pub fn sample_event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(event_path(name)).unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn event_path(name: &str) -> PathBuf {
    root().join("events").join(name)
}

/// Run the `iam-assurance` binary with these arguments and environment.
pub fn run_bin(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_iam-assurance"));
    cmd.args(args);
    cmd.env_remove("AWS_LAMBDA_RUNTIME_API");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run iam-assurance")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A moto server on 127.0.0.1, started for one test and stopped when dropped.
///
/// The server binary comes from `MOTO_SERVER` (set by the Makefile to the venv's
/// `moto_server`), else `moto_server` on PATH. AWS managed policies are loaded
/// (`MOTO_IAM_LOAD_MANAGED_POLICIES=true`) so `AdministratorAccess` exists.
pub struct Moto {
    child: std::process::Child,
    pub port: u16,
}

impl Moto {
    pub fn start() -> Moto {
        let program = std::env::var("MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string());
        // Pick a free port: bind to port 0, read it, release it, start moto on it. Retry if
        // another process takes the port in between.
        for _attempt in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
            let child = std::process::Command::new(&program)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
                // moto's request recorder writes `moto_recording` into its working directory.
                .current_dir(std::env::temp_dir())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {program} (run `make test`, which installs it into .venv): {e}"));
            let mut moto = Moto { child, port };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while std::time::Instant::now() < deadline {
                if let Ok(Some(_)) = moto.child.try_wait() {
                    break; // exited: port taken? try another
                }
                if moto_ready(port) {
                    return moto;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = moto.child.kill();
            let _ = moto.child.wait();
        }
        panic!("moto server did not start on 127.0.0.1");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for running the binary against this server.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ]
    }

    /// An SDK config for this server: the same settings `AWS_ENDPOINT_URL` gives.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "tests"))
            .load()
            .await
    }

    /// POST to moto's own API (`/moto-api/...`).
    pub fn moto_api(&self, path: &str) -> String {
        http(self.port, "POST", path).unwrap_or_default()
    }

    /// From now on, moto authenticates and authorizes every request as IAM would: only the
    /// access keys of users created in it work, within their policies (moto's access control).
    pub fn enforce_iam_policies(&self) {
        let answer = http_with_body(self.port, "POST", "/moto-api/reset-auth", "0").unwrap_or_default();
        assert!(answer.contains("\"ok\""), "moto did not enable its access control: {answer}");
    }

    /// GET from moto's own API.
    pub fn moto_get(&self, path: &str) -> String {
        http(self.port, "GET", path).unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_ready(port: u16) -> bool {
    http(port, "GET", "/moto-api/").is_some()
}

/// A minimal HTTP/1.0 request on loopback (moto's control API), returning the body.
fn http(port: u16, method: &str, path: &str) -> Option<String> {
    http_with_body(port, method, path, "")
}

fn http_with_body(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// A findings topic with an SQS queue subscribed to it (SNS delivery is observed through the
/// queue): `(topic ARN, queue URL)`.
pub async fn findings_topic_with_queue(config: &aws_config::SdkConfig) -> (String, String) {
    let sns = aws_sdk_sns::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let topic = sns.create_topic().name("findings").send().await.unwrap().topic_arn.unwrap();
    let queue = sqs.create_queue().queue_name("findings-inbox").send().await.unwrap().queue_url.unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    sns.subscribe().topic_arn(&topic).protocol("sqs").endpoint(queue_arn).send().await.unwrap();
    (topic, queue)
}

/// The people of the emulator scenarios: users alice, bob, carol and deploy-bot; alice an
/// administrator through the `admins` group (AdministratorAccess), with a console password
/// and an MFA device; bob with a console password and no MFA.
pub async fn seed_people(iam: &aws_sdk_iam::Client) {
    iam.create_group().group_name("admins").send().await.unwrap();
    iam.attach_group_policy().group_name("admins").policy_arn("arn:aws:iam::aws:policy/AdministratorAccess").send().await.unwrap();
    for user in ["alice", "bob", "carol", "deploy-bot"] {
        iam.create_user().user_name(user).send().await.unwrap();
    }
    iam.add_user_to_group().group_name("admins").user_name("alice").send().await.unwrap();
    iam.create_login_profile().user_name("alice").password("Sample-Passw0rd!a").send().await.unwrap();
    let mfa = iam.create_virtual_mfa_device().virtual_mfa_device_name("alice").send().await.unwrap();
    let serial = mfa.virtual_mfa_device.unwrap().serial_number;
    iam.enable_mfa_device()
        .user_name("alice")
        .serial_number(serial)
        .authentication_code1("123456")
        .authentication_code2("654321")
        .send()
        .await
        .unwrap();
    iam.create_login_profile().user_name("bob").password("Sample-Passw0rd!b").send().await.unwrap();
}

/// The finding-state table the live tests create.
pub const STATE_TABLE: &str = "iam-assurance-state";
/// SNS's (and SQS's) limit on one message.
pub const MESSAGE_LIMIT: usize = 256 * 1024;

/// A live test's world: a moto server, a findings topic with an SQS queue subscribed to it, and
/// (unless stateless) the finding-state table.
pub struct Env {
    pub moto: Moto,
    pub config: aws_config::SdkConfig,
    pub topic: String,
    pub queue: String,
    pub state_table: Option<String>,
}

impl Env {
    /// With the finding-state table, as deployed.
    pub async fn start() -> Env {
        let mut env = Env::start_stateless().await;
        create_state_table(&env.config).await;
        env.state_table = Some(STATE_TABLE.into());
        env
    }

    /// Without a state table: every open finding is published as new, every run.
    pub async fn start_stateless() -> Env {
        let moto = Moto::start();
        let config = moto.sdk_config().await;
        let (topic, queue) = findings_topic_with_queue(&config).await;
        Env { moto, config, topic, queue, state_table: None }
    }

    pub fn clients(&self) -> Clients {
        Clients::from_config(&self.config)
    }

    /// The live path's configuration: settings from SSM, this topic, this state table, in the
    /// emulator's account (as deployed: the function knows its account from its own ARN).
    pub fn live_config(&self) -> Config {
        Config {
            settings: SettingsSource::Ssm("/iam-assurance".into()),
            settings_prefix: "/iam-assurance".into(),
            topic_arn: Some(self.topic.clone()),
            state_table: self.state_table.clone(),
            time_budget: std::time::Duration::from_secs(60),
            home_account: Some("123456789012".into()),
            member_role_name: None,
            organization: false,
            accounts_queue_url: None,
            account: None,
            round: None,
            security_hub: Default::default(),
        }
    }

    pub fn iam(&self) -> aws_sdk_iam::Client {
        aws_sdk_iam::Client::new(&self.config)
    }

    pub async fn put_parameter(&self, name: &str, value: Value) {
        aws_sdk_ssm::Client::new(&self.config)
            .put_parameter()
            .name(name)
            .value(value.to_string())
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .unwrap();
    }

    /// A rule's settings in SSM (`/iam-assurance/rules/<rule>`).
    pub async fn put_setting(&self, rule: &str, value: Value) {
        self.put_parameter(&format!("/iam-assurance/rules/{rule}"), value).await;
    }

    /// Every SNS message delivered to the queue so far (the SNS envelopes), drained.
    pub async fn received(&self) -> Vec<Value> {
        drain(aws_sdk_sqs::Client::new(&self.config), self.queue.clone(), None).await
    }

    /// Every item of the state table.
    pub async fn state_items(&self) -> BTreeMap<String, iam_assurance_aws::StateItem> {
        let table = self.state_table.as_deref().expect("a state table");
        let loaded = StateStore::new(&self.clients(), table).load().await.expect("scan");
        assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
        loaded.items
    }
}

/// Receive and delete every message of the queue; with `until`, keep polling until it is set
/// and the queue is empty (draining while a large publish runs keeps moto's queue short:
/// its receive and delete take time linear in the queue's length). Each SQS body is checked
/// against the size limit.
pub async fn drain(sqs: aws_sdk_sqs::Client, queue: String, until: Option<Arc<AtomicBool>>) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let finished = until.as_ref().is_none_or(|u| u.load(Ordering::SeqCst));
        let got = sqs.receive_message().queue_url(&queue).max_number_of_messages(10).send().await.unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            if finished {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            continue;
        }
        let mut delete = Vec::new();
        for (i, m) in messages.into_iter().enumerate() {
            let body = m.body.unwrap_or_default();
            assert!(body.len() <= MESSAGE_LIMIT, "an SQS delivery of {} bytes", body.len());
            out.push(serde_json::from_str::<Value>(&body).unwrap());
            delete.push(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(format!("d{i}"))
                    .receipt_handle(m.receipt_handle.unwrap_or_default())
                    .build()
                    .unwrap(),
            );
        }
        sqs.delete_message_batch().queue_url(&queue).set_entries(Some(delete)).send().await.unwrap();
    }
    out
}

pub async fn create_state_table(config: &aws_config::SdkConfig) {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    aws_sdk_dynamodb::Client::new(config)
        .create_table()
        .table_name(STATE_TABLE)
        .attribute_definitions(
            AttributeDefinition::builder().attribute_name("fingerprint").attribute_type(ScalarAttributeType::S).build().unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("fingerprint").key_type(KeyType::Hash).build().unwrap())
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}
