//! AWS adapters of iam-assurance: collect an IAM inventory (full sweep or targeted), read
//! settings from SSM Parameter Store, publish findings to SNS.
//!
//! **Architecture invariant**: this crate is the only place that talks to AWS, and only
//! through the official SDK clients, built once per process ([`Clients::from_env`]) and reused.
//! Every call goes through [`CallCounter`], so a run reports exactly what it cost. It holds no
//! rule logic: what a finding is belongs to `iam-assurance-rules`.
#![forbid(unsafe_code)]

pub mod counter;
pub mod permissions;

pub use counter::CallCounter;

/// The SDK clients, created once per process from the standard AWS configuration (default
/// credential chain, `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`).
#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub counter: CallCounter,
}

impl Clients {
    /// Load the standard AWS configuration and build every client from it.
    pub async fn from_env() -> Self {
        let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Self::from_config(&config)
    }

    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        Clients {
            iam: aws_sdk_iam::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            counter: CallCounter::default(),
        }
    }
}
