//! The rule catalog: every rule, in the order of the rules' modules (see [`crate::rules`]).
//! Rule ids are user-facing (findings, SSM parameter names, SNS attributes): never rename one
//! once shipped.

use std::sync::LazyLock;

use crate::change::ChangeKind;
use crate::rule::Rule;
use crate::rules;

static CATALOG: LazyLock<Vec<&'static dyn Rule>> = LazyLock::new(rules::all);

/// Every rule, in catalog order.
pub fn all() -> &'static [&'static dyn Rule] {
    &CATALOG
}

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static dyn Rule> {
    all().iter().copied().find(|r| r.meta().id == id)
}

/// The rules an IAM change of this kind can move, in catalog order.
pub fn moved_by(kind: ChangeKind) -> impl Iterator<Item = &'static dyn Rule> {
    all().iter().copied().filter(move |r| r.meta().moved_by.contains(&kind))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn catalog_has_every_rule_once_with_a_well_formed_id() {
        let ids: Vec<&str> = all().iter().map(|r| r.meta().id).collect();
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "a rule id twice: {ids:?}");
        for id in &ids {
            let well_formed = !id.is_empty()
                && !id.starts_with('-')
                && !id.ends_with('-')
                && !id.contains("--")
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            assert!(well_formed, "rule id {id:?}: lowercase words joined by '-'");
            assert_ne!(*id, crate::settings::GLOBAL_KEY, "rule id {id:?} is the global settings' key");
        }
        // The catalog's order is the modules' order: root, account, users, other resources.
        assert_eq!(ids.first(), Some(&"root-access-keys"));
    }

    #[test]
    fn every_change_kind_moves_a_rule() {
        for kind in ChangeKind::ALL {
            assert!(moved_by(kind).next().is_some(), "{kind:?} moves no rule: nothing would evaluate such an event");
        }
        let admin_counts: Vec<&str> = moved_by(ChangeKind::GroupMembership).map(|r| r.meta().id).collect();
        assert_eq!(admin_counts, ["min-admins", "max-admins", "empty-group"]);
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
            rule.parse_params(defaults.as_object().unwrap()).unwrap();
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
