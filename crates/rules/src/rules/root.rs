//! Root account rules: the credential report's `<root_account>` row, with the live account
//! summary where it is fresher.
//!
//! The credential report can be up to 4 hours old; GetAccountSummary is live. Where both say
//! something about the same fact (keys present, certificates present, MFA enabled), the
//! summary decides and the report supplies the details (dates). A report without a
//! `<root_account>` row (AWS always writes one; emulators do not) makes these rules
//! `not_evaluated` rather than a silent pass.

use serde_json::json;

use crate::inventory::{CredentialRow, DataSource};
use crate::rule::*;

use super::{day, days};

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![&ROOT_ACCESS_KEYS]
}

/// The root row, or why there is none.
pub(crate) fn root_row<'a>(ctx: &Ctx<'a>) -> Result<&'a CredentialRow, NotEvaluated> {
    ctx.credential_report()?.root.as_ref().ok_or_else(|| {
        NotEvaluated(
            "the credential report has no <root_account> row (AWS always includes it; the report looks truncated or comes from an emulator)"
                .into(),
        )
    })
}

pub static ROOT_ACCESS_KEYS: RuleDef<NoParams> = RuleDef {
    meta: Meta {
        id: "root-access-keys",
        title: "Root account has access keys",
        severity: Severity::Critical,
        resource_type: ResourceType::Account,
        description: "The root user has an active access key.",
        rationale: "Root access keys give unrestricted, unscoped API access to the whole account and cannot be limited by any policy; a leaked root key is a full account compromise.",
        remediation: "Sign in as root, open Security credentials, and delete the root access keys (root keys cannot be managed with IAM API calls made by other principals). Use IAM roles or users with least privilege for API access.",
        standards: &["CIS AWS Foundations 1.4", "AWS Security Hub IAM.4", "seed 004: Root Account Should Not Have Access Keys"],
        data: &[DataSource::CredentialReport, DataSource::AccountSummary],
        requires: Requires::Any(&[DataSource::CredentialReport, DataSource::AccountSummary]),
        needs_complete_account: false,
        enabled_by_default: true,
        params: &[],
    },
    check: |ctx, _| {
        let row = root_row(ctx);
        let summary = ctx.inventory.account_summary.as_ref().and_then(|s| s.account_access_keys_present);
        let active: Vec<_> = row.as_ref().map(|r| r.access_keys.iter().filter(|k| k.active).collect()).unwrap_or_default();
        // The live summary decides when present; else the report's root row.
        let present = match (summary, &row) {
            (Some(present), _) => present,
            (None, Ok(_)) => !active.is_empty(),
            (None, Err(reason)) => return Err(reason.clone()),
        };
        if !present {
            return Ok(vec![]);
        }
        let detail = if active.is_empty() {
            "the account summary reports root access keys (created after the last credential report)".to_string()
        } else {
            active
                .iter()
                .map(|k| match k.last_rotated.at() {
                    Some(t) => format!("key {} created {} ({} ago)", k.slot, day(t), days(ctx.days_since(t))),
                    None => format!("key {}", k.slot),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let keys = active.iter().map(|k| json!({"slot": k.slot, "created": k.last_rotated.at()})).collect::<Vec<_>>();
        Ok(vec![Hit::new(
            ResourceType::Account,
            ctx.root_arn(),
            "root",
            format!("The root user of account {} has active access keys: {detail}.", ctx.account_id()),
            "Sign in to the AWS console as the root user, open 'Security credentials', and delete every access key under 'Access keys'. \
There is no IAM API another principal can call to delete root keys; then confirm with: aws iam get-account-summary --query 'SummaryMap.AccountAccessKeysPresent'",
        )
        .details(json!({"active_keys": keys}))])
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::*;
    use serde_json::json;

    #[test]
    fn root_access_keys() {
        // Clean root: passes.
        check("root-access-keys", &inventory(), json!({}), &[]);
        // An active root key in the report and the summary: fails.
        let mut inv = inventory();
        cr(&mut inv).root.as_mut().unwrap().access_keys[0] = key(1, 10, Some(1));
        inv.account_summary.as_mut().unwrap().account_access_keys_present = Some(true);
        check("root-access-keys", &inv, json!({}), &[&root_arn()]);
        // Summary absent: the report decides.
        inv.account_summary = None;
        check("root-access-keys", &inv, json!({}), &[&root_arn()]);
        // An inactive root key is not an active key.
        let mut inv = inventory();
        inv.account_summary = None;
        let mut k = key(1, 10, None);
        k.active = false;
        cr(&mut inv).root.as_mut().unwrap().access_keys[0] = k;
        check("root-access-keys", &inv, json!({}), &[]);
        // The live summary is fresher than the report: a key created since the report.
        let mut inv = inventory();
        inv.account_summary.as_mut().unwrap().account_access_keys_present = Some(true);
        check("root-access-keys", &inv, json!({}), &[&root_arn()]);
    }

    #[test]
    fn root_rules_without_root_row_are_not_evaluated() {
        let mut inv = inventory();
        cr(&mut inv).root = None;
        inv.account_summary = None;
        let (status, reason) = status("root-access-keys", &inv, json!({}));
        assert_eq!(status, crate::RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("<root_account>"));
    }
}
