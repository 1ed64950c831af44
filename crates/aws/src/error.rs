//! The adapters' error type, and how an SDK error is turned into a sentence that names the
//! operation and the AWS error code.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Why an adapter call failed. Every message names the AWS operation (`service:Operation`)
/// and, when AWS answered, its error code and message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AdapterError {
    /// An AWS call failed (after the SDK's own retries).
    #[error("{operation} failed: {detail}")]
    Aws {
        /// `service:Operation`, e.g. `ssm:GetParametersByPath`.
        operation: &'static str,
        /// The AWS error code (`AccessDeniedException`, `Throttling`…), when AWS sent one.
        code: Option<String>,
        /// The code, message and HTTP status, or the transport failure.
        detail: String,
    },
    /// A request could not be built from the given values (e.g. a required field is empty).
    #[error("{operation}: invalid request: {detail}")]
    InvalidRequest { operation: &'static str, detail: String },
    /// A single SNS message is larger than SNS accepts; the renderer must split it.
    #[error(
        "sns:PublishBatch: message {index} (subject {subject:?}) is {size} bytes with its subject and attributes, over SNS's limit of {limit} bytes; nothing was published"
    )]
    MessageTooLarge { index: usize, subject: String, size: usize, limit: usize },
    /// Some messages were still rejected after one retry of the retryable ones.
    #[error("sns:PublishBatch: {failed} of {total} messages were not published to {topic_arn} ({published} were): {reasons}")]
    PublishFailed { topic_arn: String, total: usize, published: usize, failed: usize, reasons: String },
}

impl AdapterError {
    /// Build [`AdapterError::Aws`] from an SDK error.
    pub(crate) fn aws<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let failure = AwsFailure::from_sdk(err);
        AdapterError::Aws { operation, code: failure.code, detail: failure.detail }
    }

    /// The AWS error code, when the error came from AWS.
    pub fn code(&self) -> Option<&str> {
        match self {
            AdapterError::Aws { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}

/// An SDK error reduced to what the collectors decide on (the code) and what they report.
#[derive(Debug, Clone)]
pub(crate) struct AwsFailure {
    /// AWS error code, when AWS answered with one.
    pub code: Option<String>,
    /// `Code: message (HTTP n)`, or the transport error with its causes.
    pub detail: String,
}

impl AwsFailure {
    pub fn from_sdk<E>(err: &SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        match err {
            SdkError::ServiceError(context) => {
                let status = context.raw().status().as_u16();
                let code = context.err().code().map(str::to_owned);
                let message = context.err().message().unwrap_or("").trim().to_owned();
                let detail = match (&code, message.is_empty()) {
                    (Some(code), false) => format!("{code}: {message} (HTTP {status})"),
                    (Some(code), true) => format!("{code} (HTTP {status})"),
                    (None, false) => format!("HTTP {status}: {message}"),
                    (None, true) => format!("HTTP {status} with no error code"),
                };
                AwsFailure { code, detail }
            }
            other => {
                let status = other.raw_response().map(|r| r.status().as_u16());
                let mut detail = DisplayErrorContext(other).to_string();
                if let Some(status) = status {
                    detail = format!("{detail} (HTTP {status})");
                }
                AwsFailure { code: None, detail }
            }
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }

    /// Throttling codes IAM and the other services use.
    pub fn is_throttling(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded" | "TooManyRequestsException" | "RequestThrottled")
        )
    }

    /// `Operation failed: detail`, the form gap reasons use.
    pub fn reason(&self, operation: &str) -> String {
        format!("{operation} failed: {}", self.detail)
    }
}
