//! Service-level inactivity from service-last-accessed jobs: the check `user-service-inactivity`
//! (in `users`) and `role-service-inactivity` (in `resources`) share (opt-in: each principal costs one
//! asynchronous `GenerateServiceLastAccessedDetails` job).
//!
//! `Inventory::service_last_accessed` maps a principal ARN to the services its policies
//! allow, each with when it last authenticated. A principal without an entry was not
//! analysed (the job failed or was not run for it) and is skipped, never passed or failed
//! on a guess.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::inventory::{DataSource, ServiceAccess};
use crate::rule::*;

use super::{day, days, sh};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceInactivityParams {
    pub max_unused_days: u32,
}

impl Params for ServiceInactivityParams {}

impl Default for ServiceInactivityParams {
    fn default() -> Self {
        ServiceInactivityParams { max_unused_days: 90 }
    }
}

pub(crate) const PARAMS: &[ParamDoc] = &[ParamDoc {
    name: "max_unused_days",
    description: "Days a principal may go without using a service its policies allow (never used: counted from the principal's creation) before it is reported.",
}];

/// A principal the rules look at.
pub(crate) struct Principal<'a> {
    pub resource_type: ResourceType,
    /// `user` / `role`.
    pub kind: &'static str,
    pub name: &'a str,
    pub arn: &'a str,
    pub created: Option<DateTime<Utc>>,
}

/// One service not used for too long.
struct Unused<'a> {
    access: &'a ServiceAccess,
    days_unused: Option<i64>,
}

/// The shared check: one finding per principal that has services unused for more than
/// `max_unused_days`.
pub(crate) fn check_principals<'a>(
    ctx: &Ctx<'_>,
    params: &ServiceInactivityParams,
    principals: impl Iterator<Item = Principal<'a>>,
) -> Outcome {
    let Some(map) = ctx.inventory.service_last_accessed.as_ref() else {
        return Err(NotEvaluated::unreadable(ctx.inventory.missing_reason(DataSource::ServiceLastAccessed)));
    };
    let max = i64::from(params.max_unused_days);
    let mut hits = Vec::new();
    for principal in principals {
        let Some(services) = map.get(principal.arn) else { continue };
        let principal_age = principal.created.map(|c| ctx.days_since(c));
        let unused: Vec<Unused> = services
            .iter()
            .filter_map(|access| match access.last_authenticated {
                Some(t) => {
                    let d = ctx.days_since(t);
                    (d > max).then_some(Unused { access, days_unused: Some(d) })
                }
                // Never used: counted from the principal's creation (unknown creation: it has
                // not been used in the whole tracking period).
                None => match principal_age {
                    Some(age) if age <= max => None,
                    _ => Some(Unused { access, days_unused: None }),
                },
            })
            .collect();
        if unused.is_empty() {
            continue;
        }
        let listed = unused
            .iter()
            .map(|u| match u.access.last_authenticated {
                Some(t) => format!("{} (last used {})", u.access.service_namespace, day(t)),
                None => format!("{} (never used)", u.access.service_namespace),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let since = match (principal.created, principal_age) {
            (Some(c), Some(age)) => format!(" (created {}, {} ago)", day(c), days(age)),
            _ => String::new(),
        };
        let message = format!(
            "{} {}{since} has not used {} of the {} {} its policies allow for more than {}: {listed}.",
            capitalize(principal.kind),
            principal.name,
            unused.len(),
            services.len(),
            if services.len() == 1 { "service" } else { "services" },
            days(max),
        );
        let arn = sh(principal.arn);
        let list_policies = match principal.kind {
            "role" => format!(
                "aws iam list-attached-role-policies --role-name {n}\naws iam list-role-policies --role-name {n}",
                n = sh(principal.name)
            ),
            _ => format!(
                "aws iam list-attached-user-policies --user-name {n}\naws iam list-user-policies --user-name {n}\naws iam list-groups-for-user --user-name {n}",
                n = sh(principal.name)
            ),
        };
        let namespaces: Vec<&str> = unused.iter().map(|u| u.access.service_namespace.as_str()).collect();
        let remediation = format!(
            "# Remove the {kind}'s permissions for {services} from its policies (least privilege). Review the current data:\n\
aws iam generate-service-last-accessed-details --arn {arn}\n\
aws iam get-service-last-accessed-details --job-id <job-id>\n\
# Find the policies that grant them, then replace each with a version without those services:\n\
{list_policies}",
            kind = principal.kind,
            services = namespaces.join(", "),
        );
        let details = json!({
            "unused_services": unused.iter().map(|u| json!({
                "namespace": u.access.service_namespace,
                "name": u.access.service_name,
                "last_authenticated": u.access.last_authenticated,
                "days_unused": u.days_unused,
            })).collect::<Vec<_>>(),
            "allowed_services": services.len(),
            "created": principal.created,
            "max_unused_days": params.max_unused_days,
        });
        hits.push(Hit::new(principal.resource_type, principal.arn, principal.name, message, remediation).details(details));
    }
    Ok(hits)
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use crate::report::FindingStatus;
    use crate::testkit::*;
    use crate::RuleStatus;
    use serde_json::json;

    fn access(namespace: &str, used_days_ago: Option<i64>) -> ServiceAccess {
        ServiceAccess {
            service_namespace: namespace.into(),
            service_name: format!("Amazon {}", namespace.to_uppercase()),
            last_authenticated: used_days_ago.map(ago),
        }
    }

    /// Users: `busy` (every service used recently), `idle` (s3 used 100 days ago, ec2 never,
    /// iam at the limit), `newbie` (created 30 days ago, nothing used yet), `unanalysed` (no
    /// entry). Roles: `app` (dynamodb never used), `quiet-new` (created 10 days ago), a
    /// service-linked role that never used anything.
    fn sla_inventory() -> Inventory {
        let mut inv = inventory();
        let mut newbie = user("newbie");
        newbie.create_date = Some(ago(30));
        aad(&mut inv).users.extend([user("busy"), user("idle"), newbie, user("unanalysed")]);
        let mut quiet = role("quiet-new");
        quiet.create_date = Some(ago(10));
        let slr = service_linked_role("AWSServiceRoleForElasticLoadBalancing");
        let slr_arn = slr.arn.clone();
        aad(&mut inv).roles.extend([role("app"), quiet, slr]);
        let mut map = std::collections::BTreeMap::new();
        map.insert(user_arn("busy"), vec![access("s3", Some(1)), access("ec2", Some(89))]);
        map.insert(user_arn("idle"), vec![access("s3", Some(100)), access("ec2", None), access("iam", Some(90)), access("sts", Some(2))]);
        map.insert(user_arn("newbie"), vec![access("s3", None)]);
        map.insert(role_arn("app"), vec![access("dynamodb", None), access("logs", Some(3))]);
        map.insert(role_arn("quiet-new"), vec![access("sqs", None)]);
        map.insert(slr_arn, vec![access("ec2", None)]);
        inv.service_last_accessed = Some(map);
        inv
    }

    fn on() -> serde_json::Value {
        json!({"enabled": true})
    }

    #[test]
    fn opt_in_rules_are_disabled_by_default() {
        for id in ["user-service-inactivity", "role-service-inactivity"] {
            let (status, reason) = status(id, &sla_inventory(), json!({}));
            assert_eq!(status, RuleStatus::Disabled, "{id}");
            assert!(reason.unwrap().contains("opt-in"));
            let report = run(&sla_inventory(), json!({}));
            assert!(report.findings.iter().all(|f| f.rule_id != id));
            let rule = crate::catalog::find(id).unwrap();
            assert_eq!(rule.default_params(), json!({"max_unused_days": 90}));
        }
    }

    #[test]
    fn user_service_inactivity() {
        let inv = sla_inventory();
        check("user-service-inactivity", &inv, on(), &[&user_arn("idle")]);
        let f = &findings("user-service-inactivity", &inv, on())[0];
        assert_eq!(f.resource_type, ResourceType::User);
        assert_eq!(
            f.message,
            format!(
                "User idle (created {}, 400 days ago) has not used 2 of the 4 services its policies allow for more than 90 days: s3 (last used {}), ec2 (never used).",
                day(ago(400)),
                day(ago(100))
            )
        );
        let namespaces: Vec<&str> =
            f.details["unused_services"].as_array().unwrap().iter().map(|s| s["namespace"].as_str().unwrap()).collect();
        assert_eq!(namespaces, ["s3", "ec2"]);
        assert!(f.remediation.contains(&format!("aws iam generate-service-last-accessed-details --arn {}", user_arn("idle"))));
        // A stricter limit catches iam and the young user's never-used service.
        check(
            "user-service-inactivity",
            &inv,
            json!({"enabled": true, "max_unused_days": 29}),
            &[&user_arn("busy"), &user_arn("idle"), &user_arn("newbie")],
        );
        // A looser one passes everyone.
        check("user-service-inactivity", &inv, json!({"enabled": true, "max_unused_days": 400}), &[]);
    }

    #[test]
    fn role_service_inactivity_skips_service_linked_and_young_roles() {
        let inv = sla_inventory();
        check("role-service-inactivity", &inv, on(), &[&role_arn("app")]);
        let f = &findings("role-service-inactivity", &inv, on())[0];
        assert_eq!(f.resource_type, ResourceType::Role);
        assert!(f.message.starts_with("Role app "), "{}", f.message);
        assert!(
            f.message.ends_with("has not used 1 of the 2 services its policies allow for more than 90 days: dynamodb (never used)."),
            "{}",
            f.message
        );
        assert!(f.remediation.contains("aws iam list-attached-role-policies --role-name app"), "{}", f.remediation);
        check("role-service-inactivity", &inv, json!({"enabled": true, "max_unused_days": 5}), &[&role_arn("app"), &role_arn("quiet-new")]);
    }

    #[test]
    fn service_inactivity_needs_its_data() {
        let mut inv = sla_inventory();
        inv.service_last_accessed = None;
        let (status, reason) = status("user-service-inactivity", &inv, on());
        assert_eq!(status, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("service last accessed"));
    }

    #[test]
    fn unknown_params_are_rejected() {
        let (status, reason) = status("role-service-inactivity", &sla_inventory(), json!({"enabled": true, "max_unused": 3}));
        assert_eq!(status, RuleStatus::NotEvaluated);
        assert!(reason.unwrap().contains("max_unused"));
        // `enabled` is a common setting, not a parameter of these rules.
        assert_eq!(crate::catalog::find("user-service-inactivity").unwrap().meta().params.len(), 1);
    }

    #[test]
    fn service_inactivity_exception() {
        let inv = sla_inventory();
        let settings = json!({"enabled": true, "exceptions": [{"resource": user_arn("idle"), "reason": "seasonal batch user"}]});
        let fs = findings("user-service-inactivity", &inv, settings);
        assert_eq!(fs.len(), 1);
        assert_eq!(fs[0].status, FindingStatus::Suppressed);
    }
}
