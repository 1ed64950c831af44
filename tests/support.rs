//! Shared test support: paths and running the binary.

use std::path::PathBuf;
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures").join(name)
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
