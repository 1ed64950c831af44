//! Security Hub: findings in the AWS Security Finding Format (ASFF), imported with
//! `BatchImportFindings` into the account's default product (the custom-integration product
//! every account has, `arn:<partition>:securityhub:<region>:<account>:product/<account>/default`).
//!
//! [`AsffFinding`] is the finding as plain data: it serializes to the JSON that
//! `aws securityhub batch-import-findings --findings file://...` takes (what
//! `iam-assurance ... --format asff` writes), and [`import`] sends the same values through the
//! SDK. What a finding says (its state, workflow, compliance) is decided by the caller
//! (`src/export/asff.rs` in the root package); this module only checks Security Hub's limits,
//! batches and retries.
//!
//! Limits (the `BatchImportFindings` API reference): at most 100 findings per request; a
//! finding larger than 240 KB is refused. Imports are idempotent by `Id`: importing a finding
//! again updates it (Security Hub keeps `Workflow` and `Note` as they were set when it created
//! the finding; the customers' `BatchUpdateFindings` changes those).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_securityhub::types as sh;
use serde::Serialize;

use crate::{AdapterError, Clients};

/// Findings per `BatchImportFindings` request (Security Hub's limit).
pub const MAX_BATCH_FINDINGS: usize = 100;
/// The largest finding Security Hub accepts (240 KB), as its JSON.
pub const MAX_FINDING_BYTES: usize = 240 * 1024;
/// The ASFF schema version.
pub const SCHEMA_VERSION: &str = "2018-10-08";
/// How often findings Security Hub reported as failed are sent again (after the SDK's own
/// retries of throttled or failed requests).
pub const PARTIAL_RETRIES: u32 = 2;

const OPERATION: &str = "securityhub:BatchImportFindings";

/// The account's default product: where a custom integration's findings go.
pub fn default_product_arn(partition: &str, region: &str, account: &str) -> String {
    format!("arn:{partition}:securityhub:{region}:{account}:product/{account}/default")
}

/// One finding in ASFF: the fields this product sets. Field names serialize as ASFF's.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFinding {
    pub schema_version: String,
    pub id: String,
    pub product_arn: String,
    pub product_name: String,
    pub generator_id: String,
    pub aws_account_id: String,
    pub types: Vec<String>,
    pub first_observed_at: String,
    pub last_observed_at: String,
    pub created_at: String,
    pub updated_at: String,
    pub severity: AsffSeverity,
    pub title: String,
    pub description: String,
    pub remediation: AsffRemediation,
    pub product_fields: BTreeMap<String, String>,
    pub resources: Vec<AsffResource>,
    pub compliance: AsffCompliance,
    pub workflow: AsffWorkflow,
    pub record_state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<AsffNote>,
    pub finding_provider_fields: AsffFindingProviderFields,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffSeverity {
    /// `CRITICAL`, `HIGH`, `MEDIUM`, `LOW` or `INFORMATIONAL`.
    pub label: String,
    /// The product's own severity word.
    pub original: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRemediation {
    pub recommendation: AsffRecommendation,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffRecommendation {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffResource {
    /// `AwsIamUser`, `AwsIamRole`, `AwsIamGroup`, `AwsIamPolicy`, `AwsAccount` or `Other`.
    pub r#type: String,
    pub id: String,
    pub partition: String,
    pub region: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffCompliance {
    /// `PASSED`, `FAILED`, `WARNING` or `NOT_AVAILABLE`.
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related_requirements: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffWorkflow {
    /// `NEW`, `NOTIFIED`, `RESOLVED` or `SUPPRESSED`.
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffNote {
    pub text: String,
    pub updated_by: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AsffFindingProviderFields {
    pub severity: AsffSeverity,
    pub types: Vec<String>,
}

impl AsffFinding {
    /// Its size as Security Hub counts it (the JSON of the finding).
    pub fn size(&self) -> usize {
        serde_json::to_vec(self).map_or(usize::MAX, |v| v.len())
    }

    /// The SDK's type with the same values.
    pub fn to_sdk(&self) -> sh::AwsSecurityFinding {
        let severity =
            sh::Severity::builder().label(sh::SeverityLabel::from(self.severity.label.as_str())).original(&self.severity.original).build();
        let resources = self
            .resources
            .iter()
            // No `Details`: the SDK's ResourceDetails holds every service's details (31 KB a value,
            // copied by each builder call); the resource's name is in `ProductFields`.
            .map(|r| {
                sh::Resource::builder()
                    .r#type(&r.r#type)
                    .id(&r.id)
                    .partition(sh::Partition::from(r.partition.as_str()))
                    .region(&r.region)
                    .build()
            })
            .collect();
        let compliance = sh::Compliance::builder()
            .status(sh::ComplianceStatus::from(self.compliance.status.as_str()))
            .set_related_requirements(
                (!self.compliance.related_requirements.is_empty()).then(|| self.compliance.related_requirements.clone()),
            )
            .build();
        let note =
            self.note.as_ref().map(|n| sh::Note::builder().text(&n.text).updated_by(&n.updated_by).updated_at(&n.updated_at).build());
        let provider = sh::FindingProviderFields::builder()
            .severity(
                sh::FindingProviderSeverity::builder()
                    .label(sh::SeverityLabel::from(self.finding_provider_fields.severity.label.as_str()))
                    .original(&self.finding_provider_fields.severity.original)
                    .build(),
            )
            .set_types(Some(self.finding_provider_fields.types.clone()))
            .build();
        sh::AwsSecurityFinding::builder()
            .schema_version(&self.schema_version)
            .id(&self.id)
            .product_arn(&self.product_arn)
            .product_name(&self.product_name)
            .generator_id(&self.generator_id)
            .aws_account_id(&self.aws_account_id)
            .set_types(Some(self.types.clone()))
            .first_observed_at(&self.first_observed_at)
            .last_observed_at(&self.last_observed_at)
            .created_at(&self.created_at)
            .updated_at(&self.updated_at)
            .severity(severity)
            .title(&self.title)
            .description(&self.description)
            .remediation(
                sh::Remediation::builder()
                    .recommendation(sh::Recommendation::builder().text(&self.remediation.recommendation.text).build())
                    .build(),
            )
            .set_product_fields(Some(to_hash_map(&self.product_fields)))
            .set_resources(Some(resources))
            .compliance(compliance)
            .workflow(sh::Workflow::builder().status(sh::WorkflowStatus::from(self.workflow.status.as_str())).build())
            .record_state(sh::RecordState::from(self.record_state.as_str()))
            .set_note(note)
            .finding_provider_fields(provider)
            .build()
    }
}

fn to_hash_map(map: &BTreeMap<String, String>) -> std::collections::HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOutcome {
    /// Findings Security Hub accepted.
    pub imported: usize,
    /// `BatchImportFindings` requests made (the SDK's own retries are counted by the call
    /// counter, not here).
    pub requests: usize,
    /// Findings Security Hub reported as failed once and that were sent again.
    pub retried: usize,
    /// Findings not imported, by `Id`, with the reason (Security Hub's error code and message,
    /// the failed request, or a finding over the size limit).
    pub failed: BTreeMap<String, String>,
}

impl ImportOutcome {
    /// Whether every finding was imported.
    pub fn complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Import `findings` at most [`MAX_BATCH_FINDINGS`] a request. Throttled or failed requests are
/// retried by the SDK (its standard retry strategy); findings Security Hub reports in
/// `FailedFindings` are sent again up to [`PARTIAL_RETRIES`] times, with a short backoff. What
/// still fails is in [`ImportOutcome::failed`], by `Id`: the caller decides what that means
/// (the live path fails the run and leaves those findings marked as not imported).
///
/// A finding larger than [`MAX_FINDING_BYTES`] is not sent (it fails with the reason). Counted
/// as `securityhub:BatchImportFindings` per request sent.
pub async fn import(clients: &Clients, findings: &[AsffFinding]) -> ImportOutcome {
    let mut outcome = ImportOutcome::default();
    let mut sendable: Vec<&AsffFinding> = Vec::with_capacity(findings.len());
    for finding in findings {
        let size = finding.size();
        if size > MAX_FINDING_BYTES {
            outcome.failed.insert(
                finding.id.clone(),
                format!("{OPERATION}: the finding is {size} bytes, over Security Hub's limit of {MAX_FINDING_BYTES}; not sent"),
            );
        } else {
            sendable.push(finding);
        }
    }
    for chunk in sendable.chunks(MAX_BATCH_FINDINGS) {
        let mut pending: Vec<&AsffFinding> = chunk.to_vec();
        let mut attempt = 0u32;
        loop {
            outcome.requests += 1;
            let sent =
                clients.securityhub.batch_import_findings().set_findings(Some(pending.iter().map(|f| f.to_sdk()).collect())).send().await;
            let failed: BTreeMap<String, String> = match sent {
                Ok(out) => out
                    .failed_findings()
                    .iter()
                    .map(|f| {
                        let id = f.id().unwrap_or_default().to_string();
                        let reason = format!(
                            "{OPERATION}: {}: {}",
                            f.error_code().unwrap_or("no error code"),
                            f.error_message().unwrap_or("no message").trim()
                        );
                        (id, reason)
                    })
                    .collect(),
                Err(e) => {
                    let reason = AdapterError::aws(OPERATION, &e).to_string();
                    pending.iter().map(|f| (f.id.clone(), reason.clone())).collect()
                }
            };
            // A failed finding Security Hub names by an id we did not send is still a failure
            // of the request: count every unknown id against the whole pending set.
            let unknown = failed.keys().any(|id| !pending.iter().any(|f| &f.id == id));
            let failed: BTreeMap<String, String> = if unknown {
                let reason = failed.values().next().cloned().unwrap_or_default();
                pending.iter().map(|f| (f.id.clone(), failed.get(&f.id).cloned().unwrap_or_else(|| reason.clone()))).collect()
            } else {
                failed
            };
            outcome.imported += pending.len() - failed.len();
            if failed.is_empty() {
                break;
            }
            if attempt >= PARTIAL_RETRIES {
                outcome.failed.extend(failed);
                break;
            }
            attempt += 1;
            outcome.retried += failed.len();
            pending.retain(|f| failed.contains_key(&f.id));
            tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
        }
    }
    outcome
}
