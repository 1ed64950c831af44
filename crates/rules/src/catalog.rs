//! The rule catalog: every rule, in the order of RULES.md.

use std::sync::LazyLock;

use crate::rule::Rule;
use crate::rules;

/// Rule ids in catalog order. Ids are user-facing (findings, SSM parameter names, SNS
/// attributes): never rename one once shipped.
pub const RULE_IDS: [&str; 29] = [
    "root-access-keys",
    "root-access-key-rotation",
    "root-signing-certificates",
    "root-signing-certificate-rotation",
    "root-mfa",
    "root-password-rotation",
    "root-usage",
    "individual-users",
    "approved-users",
    "unapproved-policy-in-use",
    "min-admins",
    "max-admins",
    "password-policy",
    "unused-user",
    "user-mfa",
    "access-key-rotation",
    "inactive-access-key",
    "multiple-access-keys",
    "console-access-inactive",
    "user-signing-certificate-rotation",
    "user-inline-policies",
    "user-attached-policies",
    "user-service-inactivity",
    "inactive-role",
    "role-inline-policies",
    "role-service-inactivity",
    "empty-group",
    "admin-policy",
    "server-certificate-rotation",
];

static CATALOG: LazyLock<Vec<&'static dyn Rule>> = LazyLock::new(|| {
    let mut all: Vec<&'static dyn Rule> = Vec::new();
    all.extend(rules::root::rules());
    all.extend(rules::account::rules());
    all.extend(rules::users::rules());
    all.extend(rules::resources::rules());
    all.extend(rules::service_activity::rules());
    all.sort_by_key(|r| RULE_IDS.iter().position(|id| *id == r.meta().id).unwrap_or(usize::MAX));
    all
});

/// Every rule, in catalog order.
pub fn all() -> &'static [&'static dyn Rule] {
    &CATALOG
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static dyn Rule> {
    all().iter().copied().find(|r| r.meta().id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn catalog_has_every_rule_once_in_order() {
        let ids: Vec<&str> = all().iter().map(|r| r.meta().id).collect();
        assert_eq!(ids, RULE_IDS.to_vec());
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 29);
    }

    #[test]
    fn documented_params_match_the_parameter_types() {
        for rule in all() {
            let meta = rule.meta();
            let defaults = rule.default_params();
            let keys: BTreeSet<&str> = defaults.as_object().expect("params serialize to an object").keys().map(String::as_str).collect();
            let documented: BTreeSet<&str> = meta.params.iter().map(|p| p.name).collect();
            assert_eq!(keys, documented, "{}: documented params differ from its parameter type", meta.id);
            for param in meta.params {
                assert!(!param.description.is_empty(), "{}: param {} has no description", meta.id, param.name);
            }
            assert!(!meta.title.is_empty() && !meta.description.is_empty() && !meta.rationale.is_empty(), "{}", meta.id);
            assert!(!meta.remediation.is_empty() && !meta.standards.is_empty() && !meta.data.is_empty(), "{}", meta.id);
            // Every rule accepts its own defaults.
            rule.check_params(defaults.as_object().unwrap()).unwrap();
        }
    }

    #[test]
    fn keys_name_the_possible_fingerprints() {
        use crate::rule::Keys;
        assert_eq!(Keys::ONE.candidates(["ignored"]), vec![String::new()]);
        assert!(!Keys::ACCESS_KEY_SLOTS.allows(""));
        assert!(Keys::ACCESS_KEY_SLOTS.allows("key-2"));
        let admin = find("admin-policy").unwrap().meta().keys;
        assert_eq!(admin.candidates(["ops"]), vec![String::new(), "inline:ops".to_string()]);
        assert!(admin.allows("inline:anything") && !admin.allows("key-1"));
        // Every rule keys its findings somehow.
        for rule in all() {
            let keys = rule.meta().keys;
            assert!(!keys.fixed.is_empty() || keys.named.is_some(), "{}", rule.meta().id);
        }
    }
}
