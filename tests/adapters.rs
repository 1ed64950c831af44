//! The AWS adapters against scripted SDK responses (`aws-smithy-mocks`): credential report
//! states and errors, time budget, paging of authorization details, password policy absence,
//! the live one-user path, service-last-accessed failures, SSM settings, SNS batching and
//! retries, and the call counter.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::error::ErrorMetadata;
use aws_sdk_iam::operation::generate_credential_report::{GenerateCredentialReportError, GenerateCredentialReportOutput};
use aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsOutput;
use aws_sdk_iam::operation::get_account_password_policy::GetAccountPasswordPolicyError;
use aws_sdk_iam::operation::get_account_summary::{GetAccountSummaryError, GetAccountSummaryOutput};
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportError;
use aws_sdk_iam::operation::get_credential_report::GetCredentialReportOutput;
use aws_sdk_iam::operation::get_login_profile::GetLoginProfileError;
use aws_sdk_iam::operation::get_policy::GetPolicyOutput;
use aws_sdk_iam::operation::get_policy_version::GetPolicyVersionOutput;
use aws_sdk_iam::operation::get_user::{GetUserError, GetUserOutput};
use aws_sdk_iam::operation::list_entities_for_policy::{ListEntitiesForPolicyInput, ListEntitiesForPolicyOutput};
use aws_sdk_iam::primitives::{Blob, DateTime as AwsDateTime};
use aws_sdk_iam::types::error::{LimitExceededException, NoSuchEntityException, ServiceFailureException};
use aws_sdk_iam::types::{
    AccessKeyLastUsed, AccessKeyMetadata, AttachedPolicy, EntityType, GroupDetail, ManagedPolicyDetail, Policy, PolicyDetail, PolicyGroup,
    PolicyRole, PolicyUsageType, PolicyUser, PolicyVersion, ReportFormatType, ReportStateType, RoleDetail, RoleLastUsed, StatusType,
    SummaryKeyType, User, UserDetail,
};
use aws_sdk_sns::operation::publish_batch::{PublishBatchInput, PublishBatchOutput};
use aws_sdk_sns::types::{BatchResultErrorEntry, PublishBatchResultEntry};
use aws_sdk_ssm::operation::get_parameters_by_path::{GetParametersByPathError, GetParametersByPathOutput};
use aws_sdk_ssm::types::Parameter;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use iam_assurance_aws::{collect, load_settings, publish, AdapterError, AuthScope, Clients, Collection, OutgoingMessage};
use iam_assurance_rules::inventory::{CredentialSource, DataSource, ReportDate, ReportFlag};

const ACCOUNT: &str = "123456789012";

// ---------------------------------------------------------------------------------------------
// Helpers

/// Clients whose IAM, SNS and SSM answer from the given rules (any order); DynamoDB is never
/// called here. SDK retries are off unless `sdk_retries` (so a scripted failure is seen as is).
fn clients_with(iam: &[&Rule], sns: &[&Rule], ssm: &[&Rule], sdk_retries: bool) -> Clients {
    let retry = move || if sdk_retries { RetryConfig::standard().with_max_attempts(3) } else { RetryConfig::disabled() };
    let iam = mock_client!(aws_sdk_iam, RuleMode::MatchAny, iam.iter().copied(), |c| c.retry_config(retry()));
    let sns = mock_client!(aws_sdk_sns, RuleMode::MatchAny, sns.iter().copied(), |c| c
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
    let ssm = mock_client!(aws_sdk_ssm, RuleMode::MatchAny, ssm.iter().copied(), |c| c
        .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled()));
    Clients::from_sdk_clients(iam, ssm, sns, unscripted().dynamodb)
}

/// Clients with no endpoint behind them, for the services a test never calls.
fn unscripted() -> Clients {
    let base = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_sdk_iam::config::Region::from_static("us-east-1"))
        .build();
    Clients::from_config(&base)
}

fn iam_only(rules: &[&Rule]) -> Clients {
    clients_with(rules, &[], &[], false)
}

fn calls(clients: &Clients, key: &str) -> u64 {
    clients.counter.snapshot().get(key).copied().unwrap_or(0)
}

fn soon(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

/// An AWS error's metadata as the SDK parses it from a real response.
fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

/// URL-encode like IAM does for policy documents.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

const ADMIN_DOC: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
const READ_DOC: &str = r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["s3:Get*","s3:List*"],"Resource":"*"}}"#;

const REPORT_HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

fn report_csv() -> String {
    format!(
        "{REPORT_HEADER}\n\
<root_account>,arn:aws:iam::{ACCOUNT}:root,2019-01-10T09:00:00+00:00,not_supported,2026-11-01T08:00:00+00:00,not_supported,not_supported,true,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
alice,arn:aws:iam::{ACCOUNT}:user/alice,2020-02-03T10:00:00+00:00,true,no_information,2020-02-03T10:05:00+00:00,N/A,false,true,2020-02-03T10:06:00+00:00,2026-11-20T12:00:00+00:00,us-east-1,s3,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
    )
}

fn get_report_rule() -> Rule {
    mock!(aws_sdk_iam::Client::get_credential_report).then_output(|| {
        GetCredentialReportOutput::builder()
            .content(Blob::new(report_csv()))
            .report_format(ReportFormatType::TextCsv)
            .generated_time(AwsDateTime::from_secs(1_795_420_800))
            .build()
    })
}

fn report_only() -> Collection {
    Collection { credential_report: true, ..Collection::default() }
}

// ---------------------------------------------------------------------------------------------
// Credential report

#[tokio::test]
async fn credential_report_started_then_complete() {
    // Generate answers STARTED; the collector then polls Get (ReportInProgress, then the
    // report) instead of calling Generate again.
    let generate = mock!(aws_sdk_iam::Client::generate_credential_report)
        .then_output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Started).build());
    let get = mock!(aws_sdk_iam::Client::get_credential_report)
        .sequence()
        .error(|| GetCredentialReportError::generic(meta("ReportInProgress", "Report generation in progress")))
        .output(|| {
            GetCredentialReportOutput::builder()
                .content(Blob::new(report_csv()))
                .report_format(ReportFormatType::TextCsv)
                .generated_time(AwsDateTime::from_secs(1_795_420_800))
                .build()
        })
        .build();
    let clients = iam_only(&[&generate, &get]);

    let inventory = collect(&clients, &report_only(), soon(30)).await;

    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    let report = inventory.credential_report.as_ref().expect("credential report");
    assert_eq!(report.source, CredentialSource::Report);
    assert_eq!(report.users.len(), 1);
    assert_eq!(report.users[0].user, "alice");
    assert!(report.root.as_ref().is_some_and(|r| r.mfa_active));
    // GeneratedTime is kept as AWS states it.
    assert_eq!(report.generated_at.map(|t| t.timestamp()), Some(1_795_420_800));
    assert_eq!(inventory.account_id, ACCOUNT);
    assert_eq!(calls(&clients, "iam:GenerateCredentialReport"), 1);
    assert_eq!(calls(&clients, "iam:GetCredentialReport"), 2);
}

#[tokio::test]
async fn credential_report_limit_exceeded_then_success() {
    let generate = mock!(aws_sdk_iam::Client::generate_credential_report)
        .sequence()
        .error(|| {
            GenerateCredentialReportError::LimitExceededException(
                LimitExceededException::builder().message("Rate exceeded").meta(meta("LimitExceeded", "Rate exceeded")).build(),
            )
        })
        .output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Complete).build())
        .build();
    let get = get_report_rule();
    let clients = iam_only(&[&generate, &get]);

    let inventory = collect(&clients, &report_only(), soon(30)).await;

    assert!(inventory.credential_report.is_some(), "{:?}", inventory.gaps);
    assert_eq!(calls(&clients, "iam:GenerateCredentialReport"), 2);
    assert_eq!(calls(&clients, "iam:GetCredentialReport"), 1);
}

#[tokio::test]
async fn credential_report_that_never_completes_is_a_gap_and_other_sources_still_arrive() {
    let generate = mock!(aws_sdk_iam::Client::generate_credential_report)
        .then_output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Inprogress).build());
    let get = mock!(aws_sdk_iam::Client::get_credential_report)
        .then_error(|| GetCredentialReportError::generic(meta("ReportInProgress", "Report generation in progress")));
    let summary = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_output(|| GetAccountSummaryOutput::builder().summary_map(SummaryKeyType::AccountMfaEnabled, 1).build());
    let password = mock!(aws_sdk_iam::Client::get_account_password_policy).then_error(|| {
        GetAccountPasswordPolicyError::NoSuchEntityException(
            NoSuchEntityException::builder().meta(meta("NoSuchEntity", "no policy")).build(),
        )
    });
    let clients = iam_only(&[&generate, &get, &summary, &password]);
    let plan = Collection { credential_report: true, account_summary: true, password_policy: true, ..Collection::default() };

    let started = Instant::now();
    let inventory = collect(&clients, &plan, started + Duration::from_millis(1600)).await;
    let elapsed = started.elapsed();

    assert!(elapsed < Duration::from_millis(2500), "waited {elapsed:?} past a 1.6 s budget");
    assert!(inventory.credential_report.is_none());
    let reason = inventory.gaps.get(&DataSource::CredentialReport).expect("a gap for the credential report");
    assert!(reason.contains("ReportInProgress") && reason.contains("time budget"), "{reason}");
    assert!(inventory.missing_reason(DataSource::CredentialReport).contains("ReportInProgress"));
    assert_eq!(inventory.account_summary.as_ref().and_then(|s| s.account_mfa_enabled), Some(true));
    assert_eq!(inventory.password_policy, Some(None));
    // Bounded: one Generate, then Get polled with 0.5 s and 1 s of backoff within 1.6 s.
    assert_eq!(calls(&clients, "iam:GenerateCredentialReport"), 1);
    let polled = calls(&clients, "iam:GetCredentialReport");
    assert!((1..=2).contains(&polled), "{polled} GetCredentialReport calls");
}

#[tokio::test]
async fn credential_report_access_denied_is_a_gap_naming_the_code() {
    let generate = mock!(aws_sdk_iam::Client::generate_credential_report).then_error(|| {
        GenerateCredentialReportError::generic(meta("AccessDenied", "User is not authorized to perform iam:GenerateCredentialReport"))
    });
    let clients = iam_only(&[&generate]);

    let inventory = collect(&clients, &report_only(), soon(30)).await;

    let reason = inventory.gaps.get(&DataSource::CredentialReport).expect("gap");
    assert!(reason.contains("GenerateCredentialReport failed: AccessDenied: User is not authorized"), "{reason}");
    assert_eq!(calls(&clients, "iam:GenerateCredentialReport"), 1);
}

fn generate_complete() -> Rule {
    mock!(aws_sdk_iam::Client::generate_credential_report)
        .then_output(|| GenerateCredentialReportOutput::builder().state(ReportStateType::Complete).build())
}

#[tokio::test]
async fn credential_report_that_vanished_is_generated_again() {
    // Get answers ReportNotPresent, then ReportExpired: Generate is called again each time.
    let generate = generate_complete();
    let get = mock!(aws_sdk_iam::Client::get_credential_report)
        .sequence()
        .error(|| GetCredentialReportError::generic(meta("ReportNotPresent", "Credential report not present")))
        .error(|| GetCredentialReportError::generic(meta("ReportExpired", "Credential report expired")))
        .output(|| {
            GetCredentialReportOutput::builder()
                .content(Blob::new(report_csv()))
                .report_format(ReportFormatType::TextCsv)
                .generated_time(AwsDateTime::from_secs(1_795_420_800))
                .build()
        })
        .build();
    let clients = iam_only(&[&generate, &get]);

    let inventory = collect(&clients, &report_only(), soon(30)).await;

    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    assert_eq!(inventory.credential_report.as_ref().map(|r| r.users.len()), Some(1));
    assert_eq!(calls(&clients, "iam:GenerateCredentialReport"), 3);
    assert_eq!(calls(&clients, "iam:GetCredentialReport"), 3);
}

#[tokio::test]
async fn credential_report_that_keeps_vanishing_is_given_up_after_the_cap() {
    let generate = generate_complete();
    let get = mock!(aws_sdk_iam::Client::get_credential_report)
        .then_error(|| GetCredentialReportError::generic(meta("ReportNotPresent", "Credential report not present")));
    let clients = iam_only(&[&generate, &get]);

    let inventory = collect(&clients, &report_only(), soon(60)).await;

    assert!(inventory.credential_report.is_none());
    let reason = inventory.gaps.get(&DataSource::CredentialReport).expect("a gap");
    assert!(
        reason.starts_with("GetCredentialReport failed: ReportNotPresent: Credential report not present")
            && reason.ends_with(" even after generating the report 4 times"),
        "{reason}"
    );
    // The first Generate and three regenerations; one Get after each.
    assert_eq!(calls(&clients, "iam:GenerateCredentialReport"), 4);
    assert_eq!(calls(&clients, "iam:GetCredentialReport"), 4);
}

#[tokio::test]
async fn credential_report_generation_without_a_state_is_a_gap() {
    let generate = mock!(aws_sdk_iam::Client::generate_credential_report).then_output(|| GenerateCredentialReportOutput::builder().build());
    let clients = iam_only(&[&generate]);

    let inventory = collect(&clients, &report_only(), soon(30)).await;

    assert_eq!(
        inventory.gaps.get(&DataSource::CredentialReport).map(String::as_str),
        Some("GenerateCredentialReport returned no State after 1 calls")
    );
    assert_eq!(calls(&clients, "iam:GetCredentialReport"), 0);
}

#[tokio::test]
async fn credential_report_in_another_format_is_a_gap_naming_it() {
    let generate = generate_complete();
    let get = mock!(aws_sdk_iam::Client::get_credential_report).then_output(|| {
        GetCredentialReportOutput::builder().content(Blob::new(report_csv())).report_format(ReportFormatType::from("text/xml")).build()
    });
    let clients = iam_only(&[&generate, &get]);

    let inventory = collect(&clients, &report_only(), soon(30)).await;

    assert!(inventory.credential_report.is_none());
    assert_eq!(
        inventory.gaps.get(&DataSource::CredentialReport).map(String::as_str),
        Some("GetCredentialReport returned ReportFormat \"text/xml\", expected text/csv")
    );
}

#[tokio::test]
async fn credential_report_with_a_byte_order_mark_parses() {
    let generate = generate_complete();
    let get = mock!(aws_sdk_iam::Client::get_credential_report).then_output(|| {
        GetCredentialReportOutput::builder()
            .content(Blob::new(format!("\u{feff}{}", report_csv())))
            .report_format(ReportFormatType::TextCsv)
            .build()
    });
    let clients = iam_only(&[&generate, &get]);

    let inventory = collect(&clients, &report_only(), soon(30)).await;

    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    let report = inventory.credential_report.as_ref().expect("credential report");
    assert_eq!(report.users.iter().map(|r| r.user.as_str()).collect::<Vec<_>>(), ["alice"]);
    assert!(report.root.is_some());
}

#[tokio::test]
async fn credential_report_rows_of_deleted_users_are_dropped_on_the_sweep() {
    // The report (up to 4 hours old) still lists alice, whom the authorization details no
    // longer hold, and lacks bob, created since: nothing is reported on alice, bob is named.
    let generate = generate_complete();
    let get = get_report_rule();
    let aad = mock!(aws_sdk_iam::Client::get_account_authorization_details).then_output(|| {
        GetAccountAuthorizationDetailsOutput::builder()
            .user_detail_list(
                UserDetail::builder()
                    .user_name("bob")
                    .arn(format!("arn:aws:iam::{ACCOUNT}:user/bob"))
                    .create_date(AwsDateTime::from_secs(1_795_500_000))
                    .build(),
            )
            .is_truncated(false)
            .build()
    });
    let clients = iam_only(&[&generate, &get, &aad]);
    let plan = Collection { credential_report: true, authorization: AuthScope::Full, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    assert!(inventory.credential_report.as_ref().unwrap().users.is_empty());
    assert_eq!(inventory.warnings.len(), 2, "{:#?}", inventory.warnings);
    assert!(
        inventory.warnings[0].contains("lists 1 user that the authorization details do not") && inventory.warnings[0].contains(": alice;")
    );
    assert!(inventory.warnings[1].contains("no row for 1 user of the authorization details: bob (created after the report)"));
}

// ---------------------------------------------------------------------------------------------
// Password policy, summary, counting of retries

#[tokio::test]
async fn missing_password_policy_is_some_none_not_a_gap() {
    let password = mock!(aws_sdk_iam::Client::get_account_password_policy).then_error(|| {
        GetAccountPasswordPolicyError::NoSuchEntityException(
            NoSuchEntityException::builder()
                .message("The Password Policy with domain name 123456789012 cannot be found.")
                .meta(meta("NoSuchEntity", "The Password Policy with domain name 123456789012 cannot be found."))
                .build(),
        )
    });
    let clients = iam_only(&[&password]);
    let plan = Collection { password_policy: true, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert_eq!(inventory.password_policy, Some(None));
    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    assert_eq!(calls(&clients, "iam:GetAccountPasswordPolicy"), 1);
}

#[tokio::test]
async fn every_http_attempt_is_counted_including_sdk_retries() {
    let summary = mock!(aws_sdk_iam::Client::get_account_summary)
        .sequence()
        .error(|| {
            GetAccountSummaryError::ServiceFailureException(
                ServiceFailureException::builder().meta(meta("Throttling", "Rate exceeded")).build(),
            )
        })
        .output(|| GetAccountSummaryOutput::builder().summary_map(SummaryKeyType::Users, 3).build())
        .build();
    let clients = clients_with(&[&summary], &[], &[], true);
    let plan = Collection { account_summary: true, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert_eq!(inventory.account_summary.as_ref().and_then(|s| s.users), Some(3), "{:?}", inventory.gaps);
    assert_eq!(calls(&clients, "iam:GetAccountSummary"), 2, "{:?}", clients.counter.snapshot());
}

// ---------------------------------------------------------------------------------------------
// Authorization details

fn aad_page_one() -> GetAccountAuthorizationDetailsOutput {
    GetAccountAuthorizationDetailsOutput::builder()
        .user_detail_list(
            UserDetail::builder()
                .user_name("alice")
                .user_id("AIDAALICE")
                .arn(format!("arn:aws:iam::{ACCOUNT}:user/alice"))
                .path("/")
                .create_date(AwsDateTime::from_secs(1_580_724_000))
                .group_list("admins")
                .user_policy_list(PolicyDetail::builder().policy_name("read").policy_document(url_encode(READ_DOC)).build())
                .attached_managed_policies(
                    AttachedPolicy::builder()
                        .policy_name("AdministratorAccess")
                        .policy_arn("arn:aws:iam::aws:policy/AdministratorAccess")
                        .build(),
                )
                .build(),
        )
        .policies(
            // As the emulator sends it: no PolicyName.
            ManagedPolicyDetail::builder()
                .arn("arn:aws:iam::aws:policy/AdministratorAccess")
                .path("/")
                .default_version_id("v1")
                .attachment_count(1)
                .policy_version_list(
                    PolicyVersion::builder().document(url_encode(ADMIN_DOC)).version_id("v1").is_default_version(true).build(),
                )
                .build(),
        )
        .policies(
            // AWS managed and attached to nothing: dropped.
            ManagedPolicyDetail::builder()
                .arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
                .policy_name("ReadOnlyAccess")
                .path("/")
                .default_version_id("v3")
                .attachment_count(0)
                .policy_version_list(
                    PolicyVersion::builder().document(url_encode(READ_DOC)).version_id("v3").is_default_version(true).build(),
                )
                .build(),
        )
        .is_truncated(true)
        .marker("page-2")
        .build()
}

fn aad_page_two() -> GetAccountAuthorizationDetailsOutput {
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    GetAccountAuthorizationDetailsOutput::builder()
        .group_detail_list(
            GroupDetail::builder()
                .group_name("admins")
                .group_id("AGPAADMINS")
                .arn(format!("arn:aws:iam::{ACCOUNT}:group/admins"))
                .path("/")
                .build(),
        )
        .role_detail_list(
            RoleDetail::builder()
                .role_name("app")
                .role_id("AROAAPP")
                .arn(format!("arn:aws:iam::{ACCOUNT}:role/app"))
                .path("/")
                .create_date(AwsDateTime::from_secs(1_600_000_000))
                .assume_role_policy_document(url_encode(trust))
                .attached_managed_policies(
                    AttachedPolicy::builder()
                        .policy_name("app-policy")
                        .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/app-policy"))
                        .build(),
                )
                .role_last_used(RoleLastUsed::builder().last_used_date(AwsDateTime::from_secs(1_790_000_000)).region("us-east-1").build())
                .build(),
        )
        .policies(
            ManagedPolicyDetail::builder()
                .arn(format!("arn:aws:iam::{ACCOUNT}:policy/app-policy"))
                .path("/")
                .default_version_id("v2")
                .attachment_count(1)
                .policy_version_list(
                    PolicyVersion::builder().document(url_encode(ADMIN_DOC)).version_id("v1").is_default_version(false).build(),
                )
                .policy_version_list(
                    PolicyVersion::builder().document(url_encode(READ_DOC)).version_id("v2").is_default_version(true).build(),
                )
                .build(),
        )
        .policies(
            ManagedPolicyDetail::builder()
                .arn(format!("arn:aws:iam::{ACCOUNT}:policy/garbled"))
                .policy_name("garbled")
                .path("/")
                .default_version_id("v1")
                .attachment_count(0)
                .policy_version_list(PolicyVersion::builder().document("%7Bnot-json").version_id("v1").is_default_version(true).build())
                .build(),
        )
        .is_truncated(false)
        .build()
}

#[tokio::test]
async fn authorization_details_follow_the_marker_and_decode_documents() {
    let first = mock!(aws_sdk_iam::Client::get_account_authorization_details)
        .match_requests(|r| r.marker().is_none() && r.max_items() == Some(1000) && r.filter().is_empty())
        .then_output(aad_page_one);
    let second = mock!(aws_sdk_iam::Client::get_account_authorization_details)
        .match_requests(|r| r.marker() == Some("page-2") && r.max_items() == Some(1000))
        .then_output(aad_page_two);
    let clients = iam_only(&[&first, &second]);
    let plan = Collection { authorization: AuthScope::Full, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    assert_eq!(inventory.account_id, ACCOUNT);
    assert_eq!(inventory.partition, "aws");
    let aad = inventory.authorization.as_ref().expect("authorization details");
    assert!(aad.complete);
    assert_eq!((aad.users.len(), aad.groups.len(), aad.roles.len()), (1, 1, 1));

    let alice = &aad.users[0];
    assert_eq!(alice.groups, vec!["admins".to_string()]);
    assert_eq!(alice.attached_policies[0].arn, "arn:aws:iam::aws:policy/AdministratorAccess");
    assert!(alice.inline_policies[0].document.as_ref().is_ok_and(|d| !d.grants_full_admin()));
    assert_eq!(alice.create_date.map(|t| t.timestamp()), Some(1_580_724_000));

    let role = &aad.roles[0];
    assert_eq!(role.last_used.map(|t| t.timestamp()), Some(1_790_000_000));
    assert!(matches!(role.trust_policy, Some(Ok(_))));

    let names: Vec<&str> = aad.policies.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"AdministratorAccess"), "{names:?}");
    assert!(!names.contains(&"ReadOnlyAccess"), "unattached AWS managed policy kept: {names:?}");
    let admin = aad.policy("arn:aws:iam::aws:policy/AdministratorAccess").expect("attached AWS managed policy kept");
    assert!(matches!(&admin.document, Some(Ok(doc)) if doc.grants_full_admin()));
    // The default version's document, not the first one.
    let app = aad.policy(&format!("arn:aws:iam::{ACCOUNT}:policy/app-policy")).expect("customer policy");
    assert!(matches!(&app.document, Some(Ok(doc)) if !doc.grants_full_admin()));
    // A garbled document is a warning naming the policy, not a failure.
    let garbled = aad.policy(&format!("arn:aws:iam::{ACCOUNT}:policy/garbled")).expect("kept");
    assert!(matches!(&garbled.document, Some(Err(_))));
    assert!(inventory.warnings.iter().any(|w| w.contains(&format!("arn:aws:iam::{ACCOUNT}:policy/garbled"))), "{:?}", inventory.warnings);

    assert_eq!(calls(&clients, "iam:GetAccountAuthorizationDetails"), 2);
    assert_eq!(first.num_calls(), 1);
    assert_eq!(second.num_calls(), 1);
}

/// ListEntitiesForPolicy asks only for the policy's use as a permissions policy (IAM lists its
/// use as a permissions boundary too unless told not to, and `unapproved-policy-in-use` and the
/// roster count attachments) and follows the marker.
/// On the live sweep, a managed policy whose default version IAM did not return and an inline
/// policy whose document does not parse make the rules that needed them not_evaluated, naming
/// them, instead of counting them as granting nothing.
#[tokio::test]
async fn unreadable_documents_on_the_sweep_make_admin_rules_not_evaluated() {
    let aad = mock!(aws_sdk_iam::Client::get_account_authorization_details).then_output(|| {
        GetAccountAuthorizationDetailsOutput::builder()
            .user_detail_list(
                UserDetail::builder()
                    .user_name("alice")
                    .arn(format!("arn:aws:iam::{ACCOUNT}:user/alice"))
                    .attached_managed_policies(
                        AttachedPolicy::builder()
                            .policy_name("ops-admin")
                            .policy_arn(format!("arn:aws:iam::{ACCOUNT}:policy/ops-admin"))
                            .build(),
                    )
                    .build(),
            )
            .user_detail_list(
                UserDetail::builder()
                    .user_name("bob")
                    .arn(format!("arn:aws:iam::{ACCOUNT}:user/bob"))
                    .user_policy_list(PolicyDetail::builder().policy_name("everything").policy_document("%7B%22Statement%22%3A%5B").build())
                    .build(),
            )
            .policies(
                ManagedPolicyDetail::builder()
                    .arn(format!("arn:aws:iam::{ACCOUNT}:policy/ops-admin"))
                    .policy_name("ops-admin")
                    .default_version_id("v2")
                    .attachment_count(1)
                    .policy_version_list(
                        PolicyVersion::builder().document(url_encode(ADMIN_DOC)).version_id("v1").is_default_version(false).build(),
                    )
                    .build(),
            )
            .is_truncated(false)
            .build()
    });
    let clients = iam_only(&[&aad]);
    let plan = Collection { authorization: AuthScope::Full, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;
    let report = iam_assurance_rules::evaluate(&inventory, &iam_assurance_rules::Settings::defaults(), chrono::Utc::now());

    for id in ["admin-policy", "min-admins", "max-admins"] {
        let rule = report.rule(id).expect("in the catalog");
        assert_eq!(rule.status, iam_assurance_rules::RuleStatus::NotEvaluated, "{id}");
        let reason = rule.reason.as_deref().unwrap_or_default();
        assert!(reason.contains(&format!("managed policy arn:aws:iam::{ACCOUNT}:policy/ops-admin (the document of its default version is not in the authorization details)")), "{id}: {reason}");
        assert!(
            reason.contains(&format!("inline policy everything of arn:aws:iam::{ACCOUNT}:user/bob (policy document is not valid JSON")),
            "{id}: {reason}"
        );
    }
    assert!(report.errors.iter().any(|e| e.message.contains("no default version document was returned")), "{:?}", report.errors);
}

#[tokio::test]
async fn policy_entities_are_its_attachments_every_page() {
    let policy = format!("arn:aws:iam::{ACCOUNT}:policy/reader");
    let permissions_only = |r: &ListEntitiesForPolicyInput| r.policy_usage_filter() == Some(&PolicyUsageType::PermissionsPolicy);
    let first = mock!(aws_sdk_iam::Client::list_entities_for_policy)
        .match_requests(move |r| permissions_only(r) && r.marker().is_none() && r.max_items() == Some(1000))
        .then_output(|| {
            ListEntitiesForPolicyOutput::builder()
                .policy_users(PolicyUser::builder().user_name("bob").user_id("AIDABOB").build())
                .policy_roles(PolicyRole::builder().role_name("reporting").role_id("AROAREP").build())
                .is_truncated(true)
                .marker("page-2")
                .build()
        });
    let second = mock!(aws_sdk_iam::Client::list_entities_for_policy)
        .match_requests(move |r| permissions_only(r) && r.marker() == Some("page-2"))
        .then_output(|| {
            ListEntitiesForPolicyOutput::builder()
                .policy_groups(PolicyGroup::builder().group_name("readers").group_id("AGPAREAD").build())
                .is_truncated(false)
                .build()
        });
    let clients = iam_only(&[&first, &second]);

    let entities = iam_assurance_aws::attachments::policy_entities(&clients, &policy).await.unwrap().expect("the policy exists");

    assert_eq!(entities.users, vec!["bob".to_string()]);
    assert_eq!(entities.roles, vec![("reporting".to_string(), false)]);
    assert_eq!(entities.groups, vec!["readers".to_string()]);
    assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
}

/// GetPolicy's boundary use comes with the policy: a policy in use as a permissions boundary
/// whose verdict changes cannot be evaluated from the roster.
#[tokio::test]
async fn a_managed_policy_is_read_with_its_boundary_use() {
    let arn = format!("arn:aws:iam::{ACCOUNT}:policy/limits");
    let policy = {
        let arn = arn.clone();
        mock!(aws_sdk_iam::Client::get_policy).then_output(move || {
            GetPolicyOutput::builder()
                .policy(
                    Policy::builder()
                        .policy_name("limits")
                        .arn(&arn)
                        .path("/")
                        .default_version_id("v2")
                        .attachment_count(0)
                        .permissions_boundary_usage_count(3)
                        .build(),
                )
                .build()
        })
    };
    let version = mock!(aws_sdk_iam::Client::get_policy_version).match_requests(|r| r.version_id() == Some("v2")).then_output(|| {
        GetPolicyVersionOutput::builder()
            .policy_version(PolicyVersion::builder().document("%7B%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D").build())
            .build()
    });
    let clients = iam_only(&[&policy, &version]);

    let (read, boundary_use) = iam_assurance_aws::attachments::managed_policy(&clients, &arn).await.unwrap().expect("the policy exists");

    assert_eq!((read.name.as_str(), read.attachment_count, boundary_use), ("limits", Some(0), Some(3)));
    assert!(matches!(&read.document, Some(Ok(doc)) if doc.grants_full_admin()), "{:?}", read.document);
}

#[tokio::test]
async fn no_aws_managed_scope_filters_on_the_server() {
    let page = mock!(aws_sdk_iam::Client::get_account_authorization_details)
        .match_requests(|r| r.filter() == [EntityType::User, EntityType::Role, EntityType::Group, EntityType::LocalManagedPolicy])
        .then_output(|| GetAccountAuthorizationDetailsOutput::builder().is_truncated(false).build());
    let clients = iam_only(&[&page]);
    let plan = Collection { authorization: AuthScope::NoAwsManaged, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert!(inventory.authorization.as_ref().is_some_and(|a| a.complete && a.users.is_empty()), "{:?}", inventory.gaps);
    assert_eq!(page.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_source_is_a_gap_and_the_others_still_arrive() {
    let aad = mock!(aws_sdk_iam::Client::get_account_authorization_details).then_error(|| {
        aws_sdk_iam::operation::get_account_authorization_details::GetAccountAuthorizationDetailsError::generic(meta(
            "AccessDenied",
            "not authorized to perform iam:GetAccountAuthorizationDetails",
        ))
    });
    let summary = mock!(aws_sdk_iam::Client::get_account_summary)
        .then_output(|| GetAccountSummaryOutput::builder().summary_map(SummaryKeyType::Users, 2).build());
    let clients = iam_only(&[&aad, &summary]);
    let plan = Collection { authorization: AuthScope::Full, account_summary: true, service_last_accessed: true, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    let reason = inventory.gaps.get(&DataSource::AuthorizationDetails).expect("gap");
    assert!(reason.contains("GetAccountAuthorizationDetails failed: AccessDenied"), "{reason}");
    assert!(inventory.gaps.contains_key(&DataSource::ServiceLastAccessed));
    assert_eq!(inventory.account_summary.as_ref().and_then(|s| s.users), Some(2));
}

// ---------------------------------------------------------------------------------------------
// Service last accessed

#[tokio::test]
async fn service_last_accessed_stops_at_the_first_failure() {
    let aad = mock!(aws_sdk_iam::Client::get_account_authorization_details).then_output(|| {
        let user = |name: &str| UserDetail::builder().user_name(name).arn(format!("arn:aws:iam::{ACCOUNT}:user/{name}")).path("/").build();
        GetAccountAuthorizationDetailsOutput::builder()
            .user_detail_list(user("a"))
            .user_detail_list(user("b"))
            .user_detail_list(user("c"))
            .is_truncated(false)
            .build()
    });
    // What the emulator answers for an API it does not implement.
    let job = mock!(aws_sdk_iam::Client::generate_service_last_accessed_details)
        .sequence()
        .http_status(500, Some("<html>Internal Server Error</html>".into()))
        .repeatedly()
        .build();
    let clients = iam_only(&[&aad, &job]);
    let plan = Collection { authorization: AuthScope::Full, service_last_accessed: true, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert!(inventory.authorization.is_some());
    assert!(inventory.service_last_accessed.is_none());
    let reason = inventory.gaps.get(&DataSource::ServiceLastAccessed).expect("gap");
    assert!(reason.contains("GenerateServiceLastAccessedDetails failed") && reason.contains("500"), "{reason}");
    assert_eq!(calls(&clients, "iam:GenerateServiceLastAccessedDetails"), 1, "one probe, then stop");
}

// ---------------------------------------------------------------------------------------------
// One user's credentials, live

#[tokio::test]
async fn live_user_credentials_build_one_current_row() {
    let get_user = mock!(aws_sdk_iam::Client::get_user).then_output(|| {
        GetUserOutput::builder()
            .user(
                User::builder()
                    .path("/")
                    .user_name("bob")
                    .user_id("AIDABOB")
                    .arn(format!("arn:aws:iam::{ACCOUNT}:user/bob"))
                    .create_date(AwsDateTime::from_secs(1_700_000_000))
                    .build()
                    .expect("user"),
            )
            .build()
    });
    let login = mock!(aws_sdk_iam::Client::get_login_profile).then_error(|| {
        GetLoginProfileError::NoSuchEntityException(
            NoSuchEntityException::builder().meta(meta("NoSuchEntity", "Login Profile for User bob cannot be found.")).build(),
        )
    });
    let keys = mock!(aws_sdk_iam::Client::list_access_keys).then_output(|| {
        let key = |id: &str, secs: i64, status: StatusType| {
            AccessKeyMetadata::builder().user_name("bob").access_key_id(id).status(status).create_date(AwsDateTime::from_secs(secs)).build()
        };
        aws_sdk_iam::operation::list_access_keys::ListAccessKeysOutput::builder()
            // Listed newest first: the row orders them by creation.
            .access_key_metadata(key("AKIANEW", 1_750_000_000, StatusType::Inactive))
            .access_key_metadata(key("AKIAOLD", 1_710_000_000, StatusType::Active))
            .is_truncated(false)
            .build()
            .expect("keys")
    });
    let last_used =
        mock!(aws_sdk_iam::Client::get_access_key_last_used).match_requests(|r| r.access_key_id() == Some("AKIAOLD")).then_output(|| {
            aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                .user_name("bob")
                .access_key_last_used(
                    AccessKeyLastUsed::builder()
                        .last_used_date(AwsDateTime::from_secs(1_790_000_000))
                        .service_name("s3")
                        .region("us-east-1")
                        .build()
                        .expect("last used"),
                )
                .build()
        });
    let never_used =
        mock!(aws_sdk_iam::Client::get_access_key_last_used).match_requests(|r| r.access_key_id() == Some("AKIANEW")).then_output(|| {
            aws_sdk_iam::operation::get_access_key_last_used::GetAccessKeyLastUsedOutput::builder()
                .user_name("bob")
                .access_key_last_used(AccessKeyLastUsed::builder().service_name("N/A").region("N/A").build().expect("last used"))
                .build()
        });
    let mfa = mock!(aws_sdk_iam::Client::list_mfa_devices).then_output(|| {
        aws_sdk_iam::operation::list_mfa_devices::ListMfaDevicesOutput::builder()
            .set_mfa_devices(Some(vec![]))
            .is_truncated(false)
            .build()
            .expect("mfa")
    });
    let certs = mock!(aws_sdk_iam::Client::list_signing_certificates).then_output(|| {
        aws_sdk_iam::operation::list_signing_certificates::ListSigningCertificatesOutput::builder()
            .set_certificates(Some(vec![]))
            .is_truncated(false)
            .build()
            .expect("certs")
    });
    let clients = iam_only(&[&get_user, &login, &keys, &last_used, &never_used, &mfa, &certs]);
    let plan = Collection { user_credentials: Some("bob".into()), credential_report: true, ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    let report = inventory.credential_report.as_ref().expect("live report");
    assert_eq!(report.source, CredentialSource::Live);
    assert!(report.generated_at.is_some());
    assert_eq!(report.users.len(), 1);
    let row = &report.users[0];
    assert_eq!(row.user, "bob");
    assert_eq!(row.password_enabled, ReportFlag::False);
    assert_eq!(row.password_last_changed, ReportDate::Never);
    assert!(!row.mfa_active);
    assert!(row.access_keys[0].active);
    assert_eq!(row.access_keys[0].last_rotated.at().map(|t| t.timestamp()), Some(1_710_000_000));
    assert_eq!(row.access_keys[0].last_used.at().map(|t| t.timestamp()), Some(1_790_000_000));
    assert!(!row.access_keys[1].active);
    assert_eq!(row.access_keys[1].last_used, ReportDate::Never);
    assert!(!row.certs[0].active && !row.certs[1].active);
    assert_eq!(inventory.account_id, ACCOUNT);
    // The account-wide report was not asked for when one user is read live.
    assert_eq!(calls(&clients, "iam:GenerateCredentialReport"), 0);
    assert_eq!(calls(&clients, "iam:GetAccessKeyLastUsed"), 2);
}

#[tokio::test]
async fn live_credentials_of_a_deleted_user_are_an_empty_report() {
    let get_user = mock!(aws_sdk_iam::Client::get_user).then_error(|| {
        GetUserError::NoSuchEntityException(
            NoSuchEntityException::builder().meta(meta("NoSuchEntity", "The user with name gone cannot be found.")).build(),
        )
    });
    let clients = iam_only(&[&get_user]);
    let plan = Collection { user_credentials: Some("gone".into()), ..Collection::default() };

    let inventory = collect(&clients, &plan, soon(30)).await;

    assert!(inventory.gaps.is_empty(), "{:?}", inventory.gaps);
    assert!(inventory.credential_report.as_ref().is_some_and(|r| r.users.is_empty() && r.source == CredentialSource::Live));
    assert_eq!(clients.counter.total(), 1);
}

// ---------------------------------------------------------------------------------------------
// SSM settings

#[tokio::test]
async fn settings_follow_next_token_and_name_a_bad_parameter() {
    let first = mock!(aws_sdk_ssm::Client::get_parameters_by_path)
        .match_requests(|r| {
            r.path() == Some("/iam-assurance")
                && r.recursive() == Some(true)
                && r.with_decryption() == Some(true)
                && r.next_token().is_none()
        })
        .then_output(|| {
            GetParametersByPathOutput::builder()
                .parameters(Parameter::builder().name("/iam-assurance/rules/access-key-rotation").value(r#"{"max_age_days": 30}"#).build())
                .next_token("t2")
                .build()
        });
    let second = mock!(aws_sdk_ssm::Client::get_parameters_by_path).match_requests(|r| r.next_token() == Some("t2")).then_output(|| {
        GetParametersByPathOutput::builder()
            .parameters(Parameter::builder().name("/iam-assurance/rules/user-mfa").value("{not json").build())
            .parameters(Parameter::builder().name("/iam-assurance/global").value(r#"{"renotify_hours": 6}"#).build())
            .parameters(Parameter::builder().name("/iam-assurance/other-tool/setting").value("x").build())
            .build()
    });
    let clients = clients_with(&[], &[], &[&first, &second], false);

    let settings = load_settings(&clients, "/iam-assurance/").await.expect("settings");

    let rotation = settings.rule("access-key-rotation").expect("valid settings");
    assert_eq!(rotation.params.get::<iam_assurance_rules::rules::MaxAge>().unwrap().max_age_days, 30);
    let bad = settings.rule("user-mfa").expect_err("invalid JSON is that rule's error");
    assert!(bad.contains("parameter /iam-assurance/rules/user-mfa is not valid JSON"), "{bad}");
    assert!(settings.rule("root-mfa").is_ok(), "absent → defaults");
    assert_eq!(settings.global.renotify_hours, 6, "the same call reads <prefix>/global");
    assert!(settings.errors.is_empty(), "parameters under the prefix that are not settings are ignored: {:?}", settings.errors);
    assert_eq!(calls(&clients, "ssm:GetParametersByPath"), 2);
}

#[tokio::test]
async fn secure_string_settings_never_show_their_value_in_errors() {
    const SECRET: &str = "s3cr3t-value";
    let secure = |name: &str, value: String| {
        Parameter::builder().name(name).value(value).r#type(aws_sdk_ssm::types::ParameterType::SecureString).build()
    };
    let page = mock!(aws_sdk_ssm::Client::get_parameters_by_path).then_output(move || {
        GetParametersByPathOutput::builder()
            .parameters(secure("/iam-assurance/rules/access-key-rotation", format!(r#"{{"max_age_days": "{SECRET}"}}"#)))
            .parameters(secure("/iam-assurance/rules/approved-users", format!(r#"{{"approved": ["ok"], "{SECRET}": 1}}"#)))
            .parameters(secure("/iam-assurance/rules/user-mfa", format!(r#"{{"exceptions": [{{"resource": "{SECRET}"}}]}}"#)))
            .parameters(secure("/iam-assurance/rules/root-mfa", format!("{{{SECRET}")))
            .parameters(secure("/iam-assurance/global", format!(r#"{{"notify_min_severity": "{SECRET}"}}"#)))
            .parameters(secure("/iam-assurance/rules/inactive-role", r#"{"max_unused_days": 30}"#.to_string()))
            // A plain String parameter's errors quote it, as before.
            .parameters(Parameter::builder().name("/iam-assurance/rules/user-inline-policies").value(r#"{"enabled": "plain"}"#).build())
            .build()
    });
    let clients = clients_with(&[], &[], &[&page], false);

    let settings = load_settings(&clients, "/iam-assurance").await.expect("settings");

    let errors = settings.all_errors();
    assert_eq!(errors.len(), 6, "{errors:#?}");
    for e in &errors {
        assert!(!e.contains(SECRET), "a SecureString's value in an error: {e}");
    }
    let of = |id: &str| settings.rule(id).expect_err(id);
    assert!(of("access-key-rotation").contains("parameter `max_age_days`: invalid value (a string)"), "{}", of("access-key-rotation"));
    assert!(of("approved-users").contains("an unknown key (its name is not shown either)"), "{}", of("approved-users"));
    assert!(of("user-mfa").contains("parameter `exceptions[0]`"), "{}", of("user-mfa"));
    assert!(of("root-mfa").contains("parameter /iam-assurance/rules/root-mfa is not valid JSON"), "{}", of("root-mfa"));
    assert!(settings.errors[0].contains("parameter `notify_min_severity`") && settings.errors[0].contains("/iam-assurance/global"));
    assert!(of("user-inline-policies").contains("\"plain\""), "{}", of("user-inline-policies"));
    let params = &settings.rule("inactive-role").expect("valid secret settings").params;
    assert_eq!(params.get::<iam_assurance_rules::rules::resources::InactiveRoleParams>().unwrap().max_unused_days, 30);
}

#[tokio::test]
async fn settings_failure_is_an_error_naming_the_operation_and_code() {
    let denied = mock!(aws_sdk_ssm::Client::get_parameters_by_path).then_error(|| {
        GetParametersByPathError::generic(
            aws_sdk_ssm::error::ErrorMetadata::builder().code("AccessDeniedException").message("not authorized").build(),
        )
    });
    let clients = clients_with(&[], &[], &[&denied], false);

    let err = load_settings(&clients, "/iam-assurance").await.expect_err("SSM failure is an error");

    assert_eq!(err.code(), Some("AccessDeniedException"));
    let text = err.to_string();
    assert!(text.contains("ssm:GetParametersByPath") && text.contains("AccessDeniedException"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// SNS publishing

fn message(i: usize, body_len: usize) -> OutgoingMessage {
    let body = "x".repeat(body_len);
    OutgoingMessage {
        subject: format!("finding {i}"),
        message_json: serde_json::json!({ "default": format!("msg-{i} {body}") }).to_string(),
        attributes: [("rule_id".to_string(), "user-mfa".to_string()), ("severity".to_string(), "high".to_string())].into(),
        dedup_id: format!("fp-{i}"),
    }
}

/// A PublishBatch endpoint that records batch sizes and fails `fail_marker`'s entry the first
/// time it sees it (with the given sender fault).
fn publish_rule(fail_marker: Option<&'static str>, sender_fault: bool, sizes: Arc<Mutex<Vec<usize>>>) -> Rule {
    let failed_once = Arc::new(AtomicBool::new(false));
    mock!(aws_sdk_sns::Client::publish_batch).then_compute_output(move |req: &PublishBatchInput| {
        let entries = req.publish_batch_request_entries();
        sizes.lock().unwrap().push(entries.len());
        let mut out = PublishBatchOutput::builder();
        for e in entries {
            assert_eq!(e.message_structure(), Some("json"));
            assert!(e.message_deduplication_id().is_none(), "standard topics reject MessageDeduplicationId");
            let fail = fail_marker.is_some_and(|m| e.message().contains(m)) && (sender_fault || !failed_once.swap(true, Ordering::SeqCst));
            if fail {
                out = out.failed(
                    BatchResultErrorEntry::builder()
                        .id(e.id())
                        .code(if sender_fault { "InvalidParameter" } else { "InternalError" })
                        .message("scripted failure")
                        .sender_fault(sender_fault)
                        .build()
                        .expect("entry"),
                );
            } else {
                out = out.successful(PublishBatchResultEntry::builder().id(e.id()).message_id(format!("mid-{}", e.id())).build());
            }
        }
        out.build()
    })
}

const TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:findings";

#[tokio::test]
async fn publish_splits_into_batches_of_ten_and_retries_a_failed_entry_once() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let rule = publish_rule(Some("msg-3 "), false, sizes.clone());
    let clients = clients_with(&[], &[&rule], &[], false);
    let messages: Vec<_> = (0..25).map(|i| message(i, 10)).collect();

    let stats = publish(&clients, TOPIC, &messages).await.expect("published");

    assert_eq!(*sizes.lock().unwrap(), vec![10, 10, 5, 1]);
    assert_eq!(stats.published, 25);
    assert_eq!(stats.batches, 4);
    assert_eq!(stats.retried, 1);
    assert_eq!(calls(&clients, "sns:PublishBatch"), 4);
    assert!(iam_assurance_aws::permissions::is_granted("sns:PublishBatch"));
}

#[tokio::test]
async fn publish_keeps_each_batch_under_256_kib() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let rule = publish_rule(None, false, sizes.clone());
    let clients = clients_with(&[], &[&rule], &[], false);
    // 100 KB each: two fit in 256 KiB, three do not.
    let messages: Vec<_> = (0..5).map(|i| message(i, 100_000)).collect();

    let stats = publish(&clients, TOPIC, &messages).await.expect("published");

    assert_eq!(*sizes.lock().unwrap(), vec![2, 2, 1]);
    assert_eq!((stats.published, stats.batches), (5, 3));
}

#[tokio::test]
async fn publish_refuses_an_oversized_message_before_sending_anything() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let rule = publish_rule(None, false, sizes.clone());
    let clients = clients_with(&[], &[&rule], &[], false);
    let messages = vec![message(0, 10), message(1, 300_000)];

    let err = publish(&clients, TOPIC, &messages).await.expect_err("too large");

    assert!(matches!(err, AdapterError::MessageTooLarge { index: 1, .. }), "{err}");
    assert!(err.to_string().contains("finding 1"), "{err}");
    assert_eq!(clients.counter.total(), 0);
}

#[tokio::test]
async fn publish_reports_entries_rejected_as_sender_fault_without_retrying() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let rule = publish_rule(Some("msg-1 "), true, sizes.clone());
    let clients = clients_with(&[], &[&rule], &[], false);
    let messages: Vec<_> = (0..3).map(|i| message(i, 10)).collect();

    let err = publish(&clients, TOPIC, &messages).await.expect_err("one rejected");

    match &err {
        AdapterError::PublishFailed { failed, published, total, reasons, .. } => {
            assert_eq!((*failed, *published, *total), (1, 2, 3));
            assert!(reasons.contains("InvalidParameter") && reasons.contains("finding 1"), "{reasons}");
        }
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(*sizes.lock().unwrap(), vec![3], "no retry of a sender fault");
}

// ---------------------------------------------------------------------------------------------
// Finding state by key

/// State clients whose DynamoDB answers from `rules` (IAM, SNS and SSM are never called).
fn dynamodb_with(rules: &[&Rule]) -> Clients {
    let dynamodb = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, rules.iter().copied(), |c| c
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled()));
    let unused = unscripted();
    Clients::from_sdk_clients(unused.iam, unused.ssm, unused.sns, dynamodb)
}

fn state_item(fingerprint: &str) -> iam_assurance_aws::StateItem {
    let t = chrono::DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z").unwrap().with_timezone(&chrono::Utc);
    iam_assurance_aws::StateItem {
        fingerprint: fingerprint.to_string(),
        rule_id: "user-mfa".into(),
        resource_arn: "arn:aws:iam::123456789012:user/alice".into(),
        resource_type: "AWS::IAM::User".into(),
        severity: iam_assurance_rules::Severity::High,
        status: iam_assurance_aws::ItemStatus::Open,
        incident: false,
        first_seen: t,
        last_seen: t,
        last_notified: Some(t),
        last_change: Some("new".into()),
        resolved_at: None,
        finding: Some("{}".into()),
        message_hash: Some("00".into()),
        version: 1,
        expires_at: None,
        exported: None,
    }
}

/// DynamoDB as it behaves under load: a request of more than 30 keys gets its last 10 back
/// as unprocessed; fingerprints starting with `absent` have no item.
fn batch_get_with_unprocessed() -> Rule {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
    mock!(aws_sdk_dynamodb::Client::batch_get_item).then_compute_output(|input| {
        let (table, request) = input.request_items().unwrap().iter().next().unwrap();
        let keys = request.keys().to_vec();
        assert!(keys.len() <= 100, "{} keys in one request", keys.len());
        assert_eq!(request.consistent_read(), Some(true));
        let split = if keys.len() > 30 { keys.len() - 10 } else { keys.len() };
        let fingerprint = |k: &std::collections::HashMap<String, AttributeValue>| k["fingerprint"].as_s().unwrap().clone();
        let items: Vec<_> = keys[..split]
            .iter()
            .map(fingerprint)
            .filter(|f| !f.starts_with("absent"))
            .map(|f| iam_assurance_aws::state::to_item(&state_item(&f)))
            .collect();
        let mut out = BatchGetItemOutput::builder().responses(table.clone(), items);
        if split < keys.len() {
            let rest = KeysAndAttributes::builder().set_keys(Some(keys[split..].to_vec())).consistent_read(true).build().unwrap();
            out = out.unprocessed_keys(table.clone(), rest);
        }
        out.build()
    })
}

#[tokio::test]
async fn state_by_key_reads_100_keys_a_request_and_retries_what_dynamodb_left_unprocessed() {
    let rule = batch_get_with_unprocessed();
    let clients = dynamodb_with(&[&rule]);
    let store = iam_assurance_aws::state::StateStore::new(&clients, "state");
    let mut wanted: std::collections::BTreeSet<String> = (0..145).map(|i| format!("fp-{i:03}")).collect();
    wanted.extend((0..5).map(|i| format!("absent-{i}")));
    let loaded = store.get(&wanted).await.unwrap();
    assert_eq!(loaded.items.len(), 145, "every existing item, none of the absent ones");
    assert!(loaded.items.keys().all(|f| f.starts_with("fp-")));
    assert!(loaded.skipped.is_empty());
    // 150 keys: 100 + 50, each request leaving 10 unprocessed, each asked again once.
    assert_eq!(rule.num_calls(), 4);
    assert_eq!(calls(&clients, "dynamodb:BatchGetItem"), 4);
}

#[tokio::test]
async fn state_by_key_fails_when_keys_stay_unprocessed() {
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::types::KeysAndAttributes;
    let rule = mock!(aws_sdk_dynamodb::Client::batch_get_item).then_compute_output(|input| {
        let (table, request) = input.request_items().unwrap().iter().next().unwrap();
        let rest = KeysAndAttributes::builder().set_keys(Some(request.keys().to_vec())).build().unwrap();
        BatchGetItemOutput::builder().unprocessed_keys(table.clone(), rest).build()
    });
    let clients = dynamodb_with(&[&rule]);
    let store = iam_assurance_aws::state::StateStore::new(&clients, "state");
    let err = store.get(&["fp-1".to_string()].into()).await.unwrap_err();
    assert!(err.to_string().contains("still unprocessed"), "{err}");
    assert_eq!(rule.num_calls(), 6, "the request and 5 retries");
}
