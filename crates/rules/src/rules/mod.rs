//! The rules, one small function each, in four groups: the root user, the account (who may
//! use it and how many administrators it has), users and their credentials, and the other
//! resources (roles, groups, policies, certificates). Each group's module lists its rules in
//! its `rules()`; [`all`] is the catalog, in that order. A rule is registered there, once, by
//! its module: everything else (the catalog, `iam-assurance rules`, the rule and settings
//! documentation, which events evaluate it) derives from its definition.

pub mod account;
pub mod escalation;
pub mod resources;
pub mod root;
pub mod service_activity;
pub mod standards;
pub mod trust;
pub mod users;

use crate::inventory::CredentialSlot;
use crate::rule::{Ctx, Params, Rule};

/// Every rule, in catalog order: root, account, users, other resources, then the rules for
/// the standards' other controls, trust and privilege escalation.
pub fn all() -> Vec<&'static dyn Rule> {
    [root::rules(), account::rules(), users::rules(), resources::rules(), standards::rules(), trust::rules(), escalation::rules()].concat()
}

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `max_age_days`, default 90: the rotation rules' parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MaxAge {
    pub max_age_days: u32,
}

impl Params for MaxAge {}

impl Default for MaxAge {
    fn default() -> Self {
        MaxAge { max_age_days: 90 }
    }
}

/// An active credential older than a rotation rule allows.
pub(crate) struct Overdue<'a, S> {
    pub slot: &'a S,
    /// When it was created or uploaded.
    pub since: DateTime<Utc>,
    /// Its age in whole days.
    pub age: i64,
}

/// The active keys or certificates among `slots` that are more than `max_age_days` whole
/// days old: what every rotation rule reports.
pub(crate) fn overdue<'a, S: CredentialSlot>(ctx: &Ctx<'_>, slots: &'a [S], max_age_days: u32) -> Vec<Overdue<'a, S>> {
    slots
        .iter()
        .filter(|s| s.active())
        .filter_map(|slot| slot.since().map(|since| Overdue { slot, since, age: ctx.days_since(since) }))
        .filter(|o| o.age > i64::from(max_age_days))
        .collect()
}

/// `2026-11-23` for messages.
pub(crate) fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

/// "1 day" / "12 days".
pub(crate) fn days(n: i64) -> String {
    if n == 1 {
        "1 day".to_string()
    } else {
        format!("{n} days")
    }
}

/// Quote a value for a shell command line when it needs it.
pub(crate) fn sh(value: &str) -> String {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-/:".contains(&b)) {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}
