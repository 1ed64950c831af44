//! Who may assume a role: trust policies open to anyone, or to accounts nobody approved.

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};

use crate::inventory::{account_from_arn, DataSource};
use crate::policy::{Effect, Statement};
use crate::rule::*;

use super::sh;

pub fn rules() -> Vec<&'static dyn Rule> {
    vec![&ROLE_TRUST_EXTERNAL]
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrustParams {
    /// Account ids (12 digits) a role may trust besides its own account.
    #[serde(deserialize_with = "de_accounts")]
    pub trusted_accounts: Vec<String>,
}

impl Params for TrustParams {}

fn de_accounts<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let accounts = Vec::<String>::deserialize(deserializer)?;
    for a in &accounts {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!("{a:?} is not an AWS account id (12 digits)")));
        }
    }
    Ok(accounts)
}

/// Whom one `Allow` statement of a trust policy names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Trusted {
    /// `*` (or an ARN whose account is a wildcard): any AWS principal.
    pub anyone: bool,
    /// The accounts its AWS principals belong to.
    pub accounts: BTreeSet<String>,
}

/// The AWS principals of a trust statement (`Service`, `Federated` and `CanonicalUser` are not
/// accounts). An entry that names no account the way IAM writes them counts as anyone: never a
/// silent pass.
pub fn trusted(statement: &Statement) -> Trusted {
    let mut out = Trusted::default();
    let mut aws = |value: &str| {
        if value == "*" {
            out.anyone = true;
        } else if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
            out.accounts.insert(value.to_string());
        } else if let Some(account) = account_from_arn(value) {
            out.accounts.insert(account.to_string());
        } else if value.starts_with("arn:") {
            out.anyone = true;
        } else {
            // A unique id (AROA..., AIDA...) of a deleted principal: IAM shows it when the
            // principal is gone; it can no longer match anybody.
        }
    };
    match &statement.principal {
        Some(Value::String(s)) => aws(s),
        Some(Value::Object(map)) => {
            if let Some(value) = map.get("AWS") {
                match value {
                    Value::String(s) => aws(s),
                    Value::Array(items) => items.iter().filter_map(Value::as_str).for_each(aws),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    out
}

pub static ROLE_TRUST_EXTERNAL: RuleDef<TrustParams> = RuleDef {
    meta: Meta {
        id: "role-trust-external",
        title: "Role trusted by anyone or by an unknown account",
        severity: Severity::High,
        resource_type: ResourceType::Role,
        description: "A role's trust policy lets any AWS principal (`*`) assume it without a condition, or names an account that is neither the role's own nor on `trusted_accounts` (whatever its conditions); in organization mode the organization's accounts are trusted too.",
        rationale: "Whoever a trust policy names can take the role's permissions: `*` without a condition is anyone with an AWS account, and an account nobody approved is access from outside that no review of this account's users shows.",
        remediation: "Narrow the trust policy to the principals that need the role (with an sts:ExternalId or aws:PrincipalOrgID condition for third parties), or, after review, add the account to `trusted_accounts`.",
        standards: &["IAM Access Analyzer external access findings on IAM roles (what an analyzer of external access reports, checked from the trust policies)"],
        controls: &[],
        data: &[DataSource::AuthorizationDetails],
        requires: Requires::All(&[DataSource::AuthorizationDetails]),
        needs_complete_account: WholeAccount::NotNeeded,
        keys: Keys::ONE,
        moved_by: &[ChangeKind::Role],
        moved_by_policy: None,
        enabled_by_default: true,
        params: &[ParamDoc {
            name: "trusted_accounts",
            description: "Account ids (12 digits) that roles may trust besides their own account: partners, and the organization's other accounts when not in organization mode (which trusts them already).",
        }],
    },
    check: |ctx, params| {
        let aad = ctx.aad()?;
        let own = ctx.account_id();
        let organization = ctx.organization_accounts();
        let known = |a: &String| a == own || params.trusted_accounts.contains(a) || organization.is_some_and(|o| o.contains(a));
        let mut hits = Vec::new();
        let mut unread = Vec::new();
        for role in aad.roles.iter().filter(|r| !r.is_service_linked()) {
            let doc = match &role.trust_policy {
                None => {
                    unread.push(role.name.as_str());
                    continue;
                }
                // Reported as a data problem when the document was read.
                Some(Err(_)) => continue,
                Some(Ok(doc)) => doc,
            };
            let mut anyone = Vec::new();
            let mut external: BTreeSet<String> = BTreeSet::new();
            for (i, statement) in doc.statements.iter().enumerate().filter(|(_, s)| s.effect == Effect::Allow) {
                let t = trusted(statement);
                if t.anyone && !statement.has_condition {
                    anyone.push(i);
                }
                external.extend(t.accounts.into_iter().filter(|a| !known(a)));
            }
            if anyone.is_empty() && external.is_empty() {
                continue;
            }
            let mut reasons = Vec::new();
            if !anyone.is_empty() {
                reasons.push("any AWS principal (*) without a condition".to_string());
            }
            if !external.is_empty() {
                reasons.push(format!(
                    "{} {} not on trusted_accounts{}",
                    if external.len() == 1 { "account" } else { "accounts" },
                    external.iter().cloned().collect::<Vec<_>>().join(", "),
                    if organization.is_some() { " and outside the organization" } else { "" }
                ));
            }
            let r = sh(&role.name);
            hits.push(
                Hit::new(
                    ResourceType::Role,
                    &role.arn,
                    &role.name,
                    format!("Role {} can be assumed by {}.", role.name, reasons.join(" and ")),
                    format!(
                        "# Review the trust policy, narrow it to the principals that need the role, and replace it:\n\
aws iam get-role --role-name {r} --query Role.AssumeRolePolicyDocument --output json > trust-policy.json\n\
aws iam update-assume-role-policy --role-name {r} --policy-document file://trust-policy.json\n\
# or, if the accounts are expected, list them in this rule's trusted_accounts setting"
                    ),
                )
                .details(json!({"anyone_statements": anyone, "external_accounts": external})),
            );
        }
        if !unread.is_empty() {
            return Err(NotEvaluated::unreadable(format!("the trust policies of {} were not read", unread.join(", "))));
        }
        Ok(hits)
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Role;
    use crate::report::FindingStatus;
    use crate::testkit::*;
    use crate::RuleStatus;

    fn trusting(name: &str, trust: Value) -> Role {
        let mut r = role(name);
        r.trust_policy = Some(doc(trust));
        r
    }

    fn statement(principal: Value) -> Value {
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":principal,"Action":"sts:AssumeRole"}]})
    }

    #[test]
    fn role_trust_external() {
        let mut inv = inventory();
        let roles = vec![
            // Own account, by root ARN, user ARN and bare id: fine.
            role("own"),
            trusting("own-user", statement(json!({"AWS": format!("arn:aws:iam::{ACCOUNT}:user/alice")}))),
            trusting("own-id", statement(json!({"AWS": ACCOUNT}))),
            // Services and federation are not accounts.
            trusting("lambda", statement(json!({"Service": "lambda.amazonaws.com"}))),
            trusting("saml", statement(json!({"Federated": format!("arn:aws:iam::{ACCOUNT}:saml-provider/Okta")}))),
            // Anyone.
            trusting("public", statement(json!({"AWS": "*"}))),
            trusting("public-string", statement(json!("*"))),
            trusting("any-account", statement(json!({"AWS": "arn:aws:iam::*:root"}))),
            // Anyone, but only from the organization: a condition, not flagged.
            trusting(
                "org-only",
                json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}}]}),
            ),
            // A Deny never grants.
            trusting("deny", json!({"Statement":[{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]})),
            // External accounts, with or without a condition.
            trusting("vendor", statement(json!({"AWS": ["arn:aws:iam::111122223333:root", format!("arn:aws:iam::{ACCOUNT}:root")]}))),
            trusting(
                "vendor-external-id",
                json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:role/scanner"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"x"}}}]}),
            ),
        ];
        let mut slr = service_linked_role("AWSServiceRoleForX");
        slr.trust_policy = Some(doc(statement(json!({"AWS": "*"}))));
        aad(&mut inv).roles.extend(roles);
        aad(&mut inv).roles.push(slr);
        check(
            "role-trust-external",
            &inv,
            json!({}),
            &[
                &role_arn("public"),
                &role_arn("public-string"),
                &role_arn("any-account"),
                &role_arn("vendor"),
                &role_arn("vendor-external-id"),
            ],
        );
        // Trusted accounts are accepted; anyone still is not.
        check(
            "role-trust-external",
            &inv,
            json!({"trusted_accounts": ["111122223333", "444455556666"]}),
            &[&role_arn("public"), &role_arn("public-string"), &role_arn("any-account")],
        );
        let fs = findings("role-trust-external", &inv, json!({}));
        let vendor = fs.iter().find(|f| f.resource_name == "vendor").unwrap();
        assert_eq!(vendor.message, "Role vendor can be assumed by account 111122223333 not on trusted_accounts.");
        assert_eq!(vendor.details["external_accounts"], json!(["111122223333"]));
        assert!(vendor.remediation.contains("aws iam update-assume-role-policy --role-name vendor"), "{}", vendor.remediation);
        let public = fs.iter().find(|f| f.resource_name == "public").unwrap();
        assert_eq!(public.message, "Role public can be assumed by any AWS principal (*) without a condition.");
    }

    #[test]
    fn role_trust_external_trusts_the_organization_s_accounts_in_organization_mode() {
        let mut inv = inventory();
        aad(&mut inv).roles.extend([
            // The hub's function reading this member, and a sibling account's deploy role.
            trusting("iam-assurance-reader", statement(json!({"AWS": "arn:aws:iam::210987654321:role/iam-assurance-function"}))),
            trusting("sibling", statement(json!({"AWS": "111122223333"}))),
            trusting("outsider", statement(json!({"AWS": ["111122223333", "arn:aws:iam::999988887777:root"]}))),
            trusting("public", statement(json!({"AWS": "*"}))),
        ]);
        // Outside organization mode every other account must be on trusted_accounts.
        check(
            "role-trust-external",
            &inv,
            json!({}),
            &[&role_arn("iam-assurance-reader"), &role_arn("sibling"), &role_arn("outsider"), &role_arn("public")],
        );
        inv.organization_accounts = Some(["210987654321", "111122223333", ACCOUNT].map(String::from).into());
        check("role-trust-external", &inv, json!({}), &[&role_arn("outsider"), &role_arn("public")]);
        let fs = findings("role-trust-external", &inv, json!({}));
        let outsider = fs.iter().find(|f| f.resource_name == "outsider").unwrap();
        assert_eq!(
            outsider.message,
            "Role outsider can be assumed by account 999988887777 not on trusted_accounts and outside the organization."
        );
        assert_eq!(outsider.details["external_accounts"], json!(["999988887777"]));
        // trusted_accounts still adds partners outside the organization.
        check("role-trust-external", &inv, json!({"trusted_accounts": ["999988887777"]}), &[&role_arn("public")]);
    }

    #[test]
    fn role_trust_external_params_exceptions_and_unread_trust() {
        let mut inv = inventory();
        aad(&mut inv).roles.push(trusting("vendor", statement(json!({"AWS": "111122223333"}))));
        let (state, reason) = status("role-trust-external", &inv, json!({"trusted_accounts": ["1111"]}));
        assert_eq!(state, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("not an AWS account id"));
        let fs = findings(
            "role-trust-external",
            &inv,
            json!({"exceptions": [{"resource": role_arn("vendor"), "reason": "scanner vendor, contract 42"}]}),
        );
        assert_eq!(fs.iter().map(|f| f.status).collect::<Vec<_>>(), vec![FindingStatus::Suppressed]);
        // A role whose trust policy was not read is not judged as trusted by nobody.
        aad(&mut inv).roles[0].trust_policy = None;
        let (state, reason) = status("role-trust-external", &inv, json!({}));
        assert_eq!(state, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("trust policies of vendor were not read"));
    }

    #[test]
    fn real_format_trust_policy_from_authorization_details() {
        // As GetAccountAuthorizationDetails returns it: URL-encoded.
        let text = r#"{"RoleDetailList":[{"Path":"/","RoleName":"partner","RoleId":"AROAPARTNER","Arn":"arn:aws:iam::123456789012:role/partner","CreateDate":"2024-01-01T00:00:00Z",
          "AssumeRolePolicyDocument":"%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22AWS%22%3A%22arn%3Aaws%3Aiam%3A%3A999988887777%3Aroot%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D",
          "RolePolicyList":[],"AttachedManagedPolicies":[],"Tags":[{"Key":"owner","Value":"platform"}],"RoleLastUsed":{}}],"UserDetailList":[],"GroupDetailList":[],"Policies":[]}"#;
        let (details, _, warnings) = crate::sources::parse_authorization_details(text).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(details.roles[0].tags.as_ref().unwrap().get("owner").map(String::as_str), Some("platform"));
        let mut inv = inventory();
        inv.authorization = Some(details);
        check("role-trust-external", &inv, json!({}), &[&role_arn("partner")]);
    }
}
