//! IAM policy documents: parsing (URL-encoded or not, string-or-list fields) and the analysis
//! the rules need (does a statement grant full administrator access?).
//!
//! The parser accepts every shape IAM accepts: `Statement` as one object or a list, `Action`,
//! `NotAction`, `Resource`, `NotResource` as a string or a list, any `Version`, extra keys. It
//! rejects anything else with an error that says what is wrong; it never panics.

use percent_encoding::percent_decode_str;
use serde_json::Value;

/// `Allow` or `Deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One statement, with the fields the analysis reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub action: Option<Vec<String>>,
    pub not_action: Option<Vec<String>>,
    pub resource: Option<Vec<String>>,
    pub not_resource: Option<Vec<String>>,
    pub has_condition: bool,
    /// `Principal` / `NotPrincipal` present (trust and resource policies).
    pub principal: Option<Value>,
}

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyDocument {
    pub version: Option<String>,
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// Parse a document as IAM or the AWS CLI return it: a JSON object, a JSON string, or a
    /// URL-encoded JSON string (GetAccountAuthorizationDetails, GetPolicyVersion).
    pub fn from_value(value: &Value) -> Result<Self, String> {
        match value {
            Value::String(text) => Self::parse_str(text),
            Value::Object(_) => Self::from_json(value),
            other => Err(format!("expected a policy document object, found {}", json_kind(other))),
        }
    }

    /// Parse document text, URL-decoding it first when it is URL-encoded.
    pub fn parse_str(text: &str) -> Result<Self, String> {
        let trimmed = text.trim_start();
        let decoded;
        let json_text = if trimmed.starts_with('{') {
            text
        } else {
            decoded = percent_decode_str(text).decode_utf8().map_err(|e| format!("policy document is not valid URL-encoded UTF-8: {e}"))?;
            &decoded
        };
        let value: Value = serde_json::from_str(json_text).map_err(|e| format!("policy document is not valid JSON: {e}"))?;
        Self::from_json(&value)
    }

    fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or_else(|| format!("expected a policy document object, found {}", json_kind(value)))?;
        let version = match object.get("Version") {
            None => None,
            Some(Value::String(v)) => Some(v.clone()),
            Some(other) => return Err(format!("`Version` must be a string, found {}", json_kind(other))),
        };
        let statements = match object.get("Statement") {
            None => return Err("policy document has no `Statement`".into()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, s)| Statement::from_json(s).map_err(|e| format!("Statement[{i}]: {e}")))
                .collect::<Result<Vec<_>, _>>()?,
            Some(single @ Value::Object(_)) => vec![Statement::from_json(single)?],
            Some(other) => return Err(format!("`Statement` must be an object or a list, found {}", json_kind(other))),
        };
        Ok(PolicyDocument { version, statements })
    }

    /// Statements that on their own grant full administrator access: `Allow` of `*` (or
    /// `*:*`) on resource `*` with no `Condition`.
    pub fn admin_statements(&self) -> impl Iterator<Item = &Statement> {
        self.statements.iter().filter(|s| s.grants_full_admin())
    }

    /// Whether any statement grants full administrator access.
    pub fn grants_full_admin(&self) -> bool {
        self.admin_statements().next().is_some()
    }

    /// Whether a statement denies everything on everything without a condition.
    pub fn denies_everything(&self) -> bool {
        self.statements.iter().any(|s| {
            s.effect == Effect::Deny
                && !s.has_condition
                && s.action.as_deref().is_some_and(has_full_wildcard_action)
                && s.resource.as_deref().is_some_and(has_wildcard_resource)
        })
    }

    /// The `Service` principals of a trust policy's `Allow` statements, and whether any
    /// `Allow` names a non-service principal (an account, user, role, federated or `*`).
    pub fn trusted_principals(&self) -> TrustSummary {
        let mut summary = TrustSummary::default();
        for statement in self.statements.iter().filter(|s| s.effect == Effect::Allow) {
            match &statement.principal {
                Some(Value::Object(map)) => {
                    for (kind, value) in map {
                        let values = string_or_list_lossy(value);
                        if kind == "Service" {
                            summary.services.extend(values);
                        } else {
                            summary.non_service = true;
                        }
                    }
                }
                Some(_) | None => summary.non_service = true,
            }
        }
        summary
    }
}

/// Who a trust policy lets assume a role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustSummary {
    pub services: Vec<String>,
    pub non_service: bool,
}

impl Statement {
    fn from_json(value: &Value) -> Result<Self, String> {
        let object = value.as_object().ok_or_else(|| format!("expected a statement object, found {}", json_kind(value)))?;
        let effect = match object.get("Effect") {
            Some(Value::String(e)) if e == "Allow" => Effect::Allow,
            Some(Value::String(e)) if e == "Deny" => Effect::Deny,
            Some(Value::String(e)) => return Err(format!("`Effect` must be Allow or Deny, found {e:?}")),
            Some(other) => return Err(format!("`Effect` must be a string, found {}", json_kind(other))),
            None => return Err("statement has no `Effect`".into()),
        };
        let sid = match object.get("Sid") {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let action = string_or_list(object, "Action")?;
        let not_action = string_or_list(object, "NotAction")?;
        if action.is_some() && not_action.is_some() {
            return Err("statement has both `Action` and `NotAction`".into());
        }
        let resource = string_or_list(object, "Resource")?;
        let not_resource = string_or_list(object, "NotResource")?;
        if resource.is_some() && not_resource.is_some() {
            return Err("statement has both `Resource` and `NotResource`".into());
        }
        let has_condition = match object.get("Condition") {
            None | Some(Value::Null) => false,
            Some(Value::Object(map)) => !map.is_empty(),
            Some(other) => return Err(format!("`Condition` must be an object, found {}", json_kind(other))),
        };
        let principal = object.get("Principal").or_else(|| object.get("NotPrincipal")).cloned();
        Ok(Statement { sid, effect, action, not_action, resource, not_resource, has_condition, principal })
    }

    /// `Allow` + `Action` `*` or `*:*` + `Resource` `*` + no `Condition`. `NotAction` and
    /// `NotResource` never count, nor does `Deny`.
    pub fn grants_full_admin(&self) -> bool {
        self.effect == Effect::Allow
            && !self.has_condition
            && self.not_action.is_none()
            && self.not_resource.is_none()
            && self.action.as_deref().is_some_and(has_full_wildcard_action)
            && self.resource.as_deref().is_some_and(has_wildcard_resource)
    }
}

fn has_full_wildcard_action(actions: &[String]) -> bool {
    actions.iter().any(|a| a == "*" || a == "*:*")
}

fn has_wildcard_resource(resources: &[String]) -> bool {
    resources.iter().any(|r| r == "*")
}

fn string_or_list(object: &serde_json::Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, String> {
    match object.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("`{key}` entries must be strings, found {}", json_kind(other))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(format!("`{key}` must be a string or a list of strings, found {}", json_kind(other))),
    }
}

fn string_or_list_lossy(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    }
}

/// "a string", "a list"...: how error messages name a JSON value's type.
pub fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn admin(doc: Value) -> bool {
        PolicyDocument::from_value(&doc).unwrap().grants_full_admin()
    }

    #[test]
    fn administrator_access_is_admin() {
        assert!(admin(json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]})));
        assert!(admin(json!({"Statement":{"Effect":"Allow","Action":["s3:GetObject","*:*"],"Resource":["*"]}})));
    }

    #[test]
    fn deny_notaction_condition_and_scoped_resources_are_not_admin() {
        let cases = [
            json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","NotAction":["s3:*"],"Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","NotResource":"arn:aws:s3:::x"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::bucket/*"}]}),
            json!({"Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}),
        ];
        for case in cases {
            assert!(!admin(case.clone()), "{case}");
        }
    }

    #[test]
    fn an_empty_condition_is_no_condition() {
        // `"Condition": {}` (and null) restrict nothing: the statement still grants everything,
        // and a deny with it still denies everything.
        assert!(admin(json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{}}]})));
        assert!(admin(json!({"Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":null}]})));
        let deny =
            PolicyDocument::from_value(&json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{}}]})).unwrap();
        assert!(deny.denies_everything());
        assert!(!deny.statements[0].has_condition);
    }

    #[test]
    fn url_encoded_documents_are_decoded() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22%2A%22%2C%22Resource%22%3A%22%2A%22%7D%5D%7D";
        let doc = PolicyDocument::parse_str(encoded).unwrap();
        assert!(doc.grants_full_admin());
        // A JSON string that is not encoded parses too.
        let plain = Value::String(r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#.into());
        assert!(PolicyDocument::from_value(&plain).unwrap().grants_full_admin());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: Vec<(Value, &str)> = vec![
            (json!(42), "expected a policy document object"),
            (json!({}), "no `Statement`"),
            (json!({"Statement": 3}), "`Statement` must be"),
            (json!({"Statement":[{"Action":"*","Resource":"*"}]}), "no `Effect`"),
            (json!({"Statement":[{"Effect":"Maybe","Action":"*"}]}), "Allow or Deny"),
            (json!({"Statement":[{"Effect":"Allow","Action":[1]}]}), "`Action` entries must be strings"),
            (json!({"Statement":[{"Effect":"Allow","Action":"*","NotAction":"*"}]}), "both `Action` and `NotAction`"),
            (json!({"Statement":[{"Effect":"Allow","Action":"*","Condition":"x"}]}), "`Condition` must be an object"),
            (Value::String("%7B%22Statement".into()), "not valid JSON"),
            (Value::String("%FF%FE".into()), "URL-encoded UTF-8"),
        ];
        for (doc, expected) in cases {
            let err = PolicyDocument::from_value(&doc).unwrap_err();
            assert!(err.contains(expected), "{doc}: {err}");
        }
    }

    #[test]
    fn deny_everything_is_detected() {
        let doc = PolicyDocument::from_value(&json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]})).unwrap();
        assert!(doc.denies_everything());
        let conditional = PolicyDocument::from_value(
            &json!({"Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}),
        )
        .unwrap();
        assert!(!conditional.denies_everything());
    }

    #[test]
    fn trust_policy_principals() {
        let doc = PolicyDocument::from_value(&json!({"Statement":[
            {"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com","lambda.amazonaws.com"]},"Action":"sts:AssumeRole"}
        ]}))
        .unwrap();
        let trust = doc.trusted_principals();
        assert_eq!(trust.services, vec!["ec2.amazonaws.com", "lambda.amazonaws.com"]);
        assert!(!trust.non_service);
        let doc = PolicyDocument::from_value(&json!({"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}
        ]}))
        .unwrap();
        assert!(doc.trusted_principals().non_service);
    }
}
