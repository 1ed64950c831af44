//! AWS adapters of iam-assurance: collect an IAM inventory (full sweep or targeted), read
//! settings from SSM Parameter Store, publish findings to SNS, keep finding state in DynamoDB,
//! import findings into Security Hub.
//!
//! **Architecture invariant**: this crate is the only place that talks to AWS, and only
//! through the official SDK clients, built once per process ([`Clients::from_env`]) and reused.
//! Every HTTP request a client sends is counted by [`CallCounter`] (through
//! [`counter::CountingInterceptor`], installed on every client by the constructors of
//! [`Clients`]), so a run reports exactly what it cost. It holds no rule logic: what a finding
//! is belongs to `iam-assurance-rules`.
//!
//! The entry points:
//! - [`collect`] with a [`Collection`]: an [`Inventory`](iam_assurance_rules::Inventory) that never
//!   fails as a whole (a source that cannot be read becomes a gap);
//! - [`load_settings`]: rule settings from SSM;
//! - [`publish`]: findings to SNS with `PublishBatch`;
//! - [`StateStore`]: finding state in DynamoDB (a `Scan` to load, conditional writes);
//! - [`securityhub::import`]: findings in ASFF to Security Hub with `BatchImportFindings`.
//!
//! Retries: the clients use the SDK's standard retry mode (3 attempts by default, with
//! exponential backoff; `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` and the profile can change it).
//! It retries throttling, transient (5xx) and transport errors. The collectors add their own
//! bounded waits only where IAM answers "not yet" (credential report, service-last-accessed
//! jobs), and never wait past the deadline they are given.
#![forbid(unsafe_code)]

pub mod account;
pub mod attachments;
pub mod collect;
mod convert;
pub mod counter;
mod credential_report;
pub mod credentials;
mod deadline;
pub mod error;
pub mod organization;
pub mod permissions;
pub mod securityhub;
mod service_access;
pub mod sns;
pub mod ssm;
pub mod state;

pub use collect::{collect, AuthScope, Collection};
pub use counter::CallCounter;
pub use credentials::CredentialParts;
pub use error::AdapterError;
pub use sns::{publish, OutgoingMessage, PublishStats};
pub use ssm::load_settings;
pub use state::{Expect, ItemStatus, StateItem, StateStore, StateWrite, WriteOutcome};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_smithy_types::timeout::TimeoutConfig;

use counter::CountingInterceptor;

/// The SDK clients, created once per process from the standard AWS configuration (default
/// credential chain, `AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL`).
///
/// Build it with [`Clients::from_env`], [`Clients::from_config`] or
/// [`Clients::from_sdk_clients`]: they install the call-counting interceptor on every client.
/// A `Clients` assembled field by field counts nothing. To start a new count between
/// invocations, call [`CallCounter::reset`] (replacing `counter` would detach it from the
/// clients).
#[derive(Clone, Debug)]
pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sns: aws_sdk_sns::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sts: aws_sdk_sts::Client,
    /// Organization mode: the accounts to sweep, and the queue they are sent to.
    pub organizations: aws_sdk_organizations::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// IAM Access Analyzer: a call names its region (`config_override`).
    pub accessanalyzer: aws_sdk_accessanalyzer::Client,
    /// The account's contacts and regions (a global service).
    pub account: aws_sdk_account::Client,
    /// Used only with the Security Hub export on.
    pub securityhub: aws_sdk_securityhub::Client,
    pub counter: CallCounter,
    /// The account these credentials reach, once asked ([`Clients::account`]).
    account_id: Arc<OnceLock<String>>,
}

/// How long one call may take, unless the configuration says otherwise: 5 s to connect,
/// 60 s an attempt (an IAM page of 1,000 entities, a DynamoDB scan page), 180 s with the SDK's
/// retries. Without them a hung connection would hold a run until Lambda's own timeout.
pub fn default_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(180))
        .build()
}

/// The standard AWS configuration (default credential chain, `AWS_REGION`, `AWS_PROFILE`,
/// `AWS_ENDPOINT_URL`): what [`Clients::from_config`] builds on, loaded once when several
/// sets of clients (each with its own call count) are built.
pub async fn load_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

impl Clients {
    /// Load the standard AWS configuration and build every client from it.
    pub async fn from_env() -> Self {
        Self::from_config(&load_config().await)
    }

    /// Build every client from a loaded configuration. IAM is a global service: when the
    /// configuration has no region, its client signs for `us-east-1`. Timeouts the
    /// configuration does not set are [`default_timeouts`]: no call waits without bound.
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let mut timeouts = config.timeout_config().cloned().unwrap_or_else(|| TimeoutConfig::builder().build());
        timeouts.take_defaults_from(&default_timeouts());
        let config = &config.to_builder().timeout_config(timeouts).build();
        let counter = CallCounter::default();
        let counting = CountingInterceptor::new(counter.clone());
        let mut iam = aws_sdk_iam::config::Builder::from(config).interceptor(counting.clone());
        if config.region().is_none() {
            iam = iam.region(aws_sdk_iam::config::Region::from_static("us-east-1"));
        }
        let mut account = aws_sdk_account::config::Builder::from(config).interceptor(counting.clone());
        if config.region().is_none() {
            account = account.region(aws_sdk_account::config::Region::from_static("us-east-1"));
        }
        Clients {
            iam: aws_sdk_iam::Client::from_conf(iam.build()),
            ssm: aws_sdk_ssm::Client::from_conf(aws_sdk_ssm::config::Builder::from(config).interceptor(counting.clone()).build()),
            sns: aws_sdk_sns::Client::from_conf(aws_sdk_sns::config::Builder::from(config).interceptor(counting.clone()).build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(
                aws_sdk_dynamodb::config::Builder::from(config).interceptor(counting.clone()).build(),
            ),
            sts: aws_sdk_sts::Client::from_conf(aws_sdk_sts::config::Builder::from(config).interceptor(counting.clone()).build()),
            organizations: aws_sdk_organizations::Client::from_conf(
                aws_sdk_organizations::config::Builder::from(config).interceptor(counting.clone()).build(),
            ),
            sqs: aws_sdk_sqs::Client::from_conf(aws_sdk_sqs::config::Builder::from(config).interceptor(counting.clone()).build()),
            accessanalyzer: aws_sdk_accessanalyzer::Client::from_conf(
                aws_sdk_accessanalyzer::config::Builder::from(config).interceptor(counting.clone()).build(),
            ),
            account: aws_sdk_account::Client::from_conf(account.build()),
            securityhub: aws_sdk_securityhub::Client::from_conf(
                aws_sdk_securityhub::config::Builder::from(config).interceptor(counting.clone()).build(),
            ),
            counter,
            account_id: Arc::default(),
        }
    }

    /// Wrap clients built elsewhere (a custom configuration, or test doubles), adding the
    /// call-counting interceptor to each; everything else in their configuration is kept.
    pub fn from_sdk_clients(
        iam: aws_sdk_iam::Client,
        ssm: aws_sdk_ssm::Client,
        sns: aws_sdk_sns::Client,
        dynamodb: aws_sdk_dynamodb::Client,
    ) -> Self {
        let counter = CallCounter::default();
        let counting = CountingInterceptor::new(counter.clone());
        // STS answers only [`Clients::account`]; given no client of its own, it has no
        // credentials: set `AWS_ACCOUNT_ID`, or build from a configuration, to ask it.
        let sts = aws_sdk_sts::config::Builder::default()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(iam.config().region().cloned())
            .interceptor(counting.clone())
            .build();
        let organizations = aws_sdk_organizations::config::Builder::default()
            .behavior_version(aws_sdk_organizations::config::BehaviorVersion::latest())
            .region(iam.config().region().cloned())
            .interceptor(counting.clone())
            .build();
        let sqs = aws_sdk_sqs::config::Builder::default()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(iam.config().region().cloned())
            .interceptor(counting.clone())
            .build();
        // Access Analyzer and Account likewise have no credentials of their own here: their
        // sources are gaps unless given clients ([`Clients::with_account_clients`]).
        let accessanalyzer = aws_sdk_accessanalyzer::config::Builder::default()
            .behavior_version(aws_sdk_accessanalyzer::config::BehaviorVersion::latest())
            .region(iam.config().region().cloned())
            .interceptor(counting.clone())
            .build();
        let account = aws_sdk_account::config::Builder::default()
            .behavior_version(aws_sdk_account::config::BehaviorVersion::latest())
            .region(iam.config().region().cloned())
            .interceptor(counting.clone())
            .build();
        // Security Hub likewise: give it a client of its own with [`Clients::with_securityhub`].
        let securityhub = aws_sdk_securityhub::config::Builder::default()
            .behavior_version(aws_sdk_securityhub::config::BehaviorVersion::latest())
            .region(iam.config().region().cloned())
            .interceptor(counting.clone())
            .build();
        Clients {
            iam: aws_sdk_iam::Client::from_conf(iam.config().to_builder().interceptor(counting.clone()).build()),
            ssm: aws_sdk_ssm::Client::from_conf(ssm.config().to_builder().interceptor(counting.clone()).build()),
            sns: aws_sdk_sns::Client::from_conf(sns.config().to_builder().interceptor(counting.clone()).build()),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.config().to_builder().interceptor(counting).build()),
            sts: aws_sdk_sts::Client::from_conf(sts),
            organizations: aws_sdk_organizations::Client::from_conf(organizations),
            sqs: aws_sdk_sqs::Client::from_conf(sqs),
            accessanalyzer: aws_sdk_accessanalyzer::Client::from_conf(accessanalyzer),
            account: aws_sdk_account::Client::from_conf(account),
            securityhub: aws_sdk_securityhub::Client::from_conf(securityhub),
            counter,
            account_id: Arc::default(),
        }
    }

    /// The clients of a run in a member account of an organization: IAM is read through the
    /// role `role_arn` of that account (one `sts:AssumeRole`, counted, with `session` naming
    /// the run, before anything else), and so are Access Analyzer, Account and the Security Hub
    /// import, while settings, the finding state and SNS stay these (the hub's). Fails when the role cannot be assumed, naming the role and why.
    pub async fn for_member(&self, account: &str, role_arn: &str, session: &str) -> Result<Clients, AdapterError> {
        let out = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(session)
            .send()
            .await
            .map_err(|e| AdapterError::aws("sts:AssumeRole", &e))?;
        let credentials = out.credentials.ok_or_else(|| AdapterError::InvalidRequest {
            operation: "sts:AssumeRole",
            detail: format!("assuming {role_arn} returned no credentials"),
        })?;
        let expiry = std::time::SystemTime::try_from(credentials.expiration).ok();
        let credentials = aws_credential_types::Credentials::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            Some(credentials.session_token),
            expiry,
            "iam-assurance-member-role",
        );
        let mut member = self.clone();
        member.iam = aws_sdk_iam::Client::from_conf(self.iam.config().to_builder().credentials_provider(credentials.clone()).build());
        // The member's own Access Analyzer analyzers and security contact, read through its role.
        member.accessanalyzer = aws_sdk_accessanalyzer::Client::from_conf(
            self.accessanalyzer.config().to_builder().credentials_provider(credentials.clone()).build(),
        );
        member.account =
            aws_sdk_account::Client::from_conf(self.account.config().to_builder().credentials_provider(credentials.clone()).build());
        // Security Hub takes a finding with the default product only from the account it is
        // about: a member's findings are imported as the member (its role grants the import
        // when the member stack's SecurityHubExport is on).
        member.securityhub =
            aws_sdk_securityhub::Client::from_conf(self.securityhub.config().to_builder().credentials_provider(credentials).build());
        member.account_id = Arc::new(OnceLock::from(account.to_string()));
        Ok(member)
    }

    /// Use these Access Analyzer and Account clients (built elsewhere: scripted responses in
    /// tests), with the call-counting interceptor added.
    pub fn with_account_clients(mut self, accessanalyzer: aws_sdk_accessanalyzer::Client, account: aws_sdk_account::Client) -> Self {
        let counting = CountingInterceptor::new(self.counter.clone());
        self.accessanalyzer =
            aws_sdk_accessanalyzer::Client::from_conf(accessanalyzer.config().to_builder().interceptor(counting.clone()).build());
        self.account = aws_sdk_account::Client::from_conf(account.config().to_builder().interceptor(counting).build());
        self
    }

    /// Use this Security Hub client (built elsewhere: a test double), counted like the others.
    pub fn with_securityhub(mut self, securityhub: aws_sdk_securityhub::Client) -> Self {
        let counting = CountingInterceptor::new(self.counter.clone());
        self.securityhub = aws_sdk_securityhub::Client::from_conf(securityhub.config().to_builder().interceptor(counting).build());
        self
    }

    /// The account these credentials reach: `AWS_ACCOUNT_ID` when the environment gives it
    /// (the SDKs' own variable for it), else STS `GetCallerIdentity`, asked once per process
    /// and remembered.
    pub async fn account(&self) -> Result<String, AdapterError> {
        if let Some(account) = self.account_id.get() {
            return Ok(account.clone());
        }
        let account = match std::env::var("AWS_ACCOUNT_ID").ok().filter(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit())) {
            Some(account) => account,
            None => {
                let out = self.sts.get_caller_identity().send().await.map_err(|e| AdapterError::aws("sts:GetCallerIdentity", &e))?;
                out.account.filter(|a| !a.is_empty()).ok_or_else(|| AdapterError::InvalidRequest {
                    operation: "sts:GetCallerIdentity",
                    detail: "the answer names no account".into(),
                })?
            }
        };
        Ok(self.account_id.get_or_init(|| account).clone())
    }
}
