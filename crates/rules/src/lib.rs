//! The rules core of iam-assurance: an inventory model of an AWS account's IAM, validated
//! settings, policy-document analysis, and the rule catalog.
//!
//! **Architecture invariant**: this crate is pure and synchronous. It depends on no AWS SDK
//! crate and no async runtime, reads no clock (`now` is an argument), and does no I/O (parsers
//! take `&str`). One call does the work: [`evaluate`] (or [`evaluate_only`] for a subset of
//! rules), which cannot fail — a rule that cannot reach a verdict says so in its summary.
#![forbid(unsafe_code)]

pub mod catalog;
pub mod change;
pub mod compliance;
pub mod inventory;
pub mod offline;
pub mod pattern;
pub mod policy;
pub mod principals;
pub mod reconcile;
pub mod report;
pub mod roster;
pub mod rule;
pub mod rules;
pub mod settings;
pub mod sources;
pub mod types;

#[cfg(test)]
pub(crate) mod testkit;

use chrono::{DateTime, Utc};

pub use inventory::{DataSource, Inventory};
pub use report::{Cause, Finding, FindingStatus, Problem, ProblemKind, Report, RuleStatus, RuleSummary};
pub use rule::{Meta, ResourceType, Rule, Severity, WholeAccount};
pub use settings::Settings;

use report::{fingerprint, Suppression};
use rule::{Ctx, NotEvaluated, Requires};

/// Evaluate every rule of the catalog.
pub fn evaluate(inventory: &Inventory, settings: &Settings, now: DateTime<Utc>) -> Report {
    evaluate_rules(inventory, settings, now, catalog::all())
}

/// Evaluate only these rules (the event path), in catalog order.
pub fn evaluate_only(inventory: &Inventory, settings: &Settings, now: DateTime<Utc>, rules: &[&'static dyn Rule]) -> Report {
    let ordered: Vec<&'static dyn Rule> =
        catalog::all().iter().copied().filter(|r| rules.iter().any(|given| given.meta().id == r.meta().id)).collect();
    evaluate_rules(inventory, settings, now, &ordered)
}

fn evaluate_rules(inventory: &Inventory, settings: &Settings, now: DateTime<Utc>, rules: &[&'static dyn Rule]) -> Report {
    let ctx = Ctx { inventory, now };
    let mut report = Report {
        account_id: inventory.account_id.clone(),
        evaluated_at: now,
        credential_report_generated_at: inventory.credential_report.as_ref().and_then(|r| r.generated_at),
        findings: Vec::new(),
        rules: Vec::new(),
        errors: settings.errors.iter().map(Problem::settings).collect(),
    };
    report.errors.extend(inventory.failed_sources().map(|source| Problem::collection(inventory.missing_reason(source))));
    report.errors.extend(inventory.warnings.iter().map(Problem::data));
    for rule in rules {
        let meta = rule.meta();
        let mut summary = report::RuleSummary {
            rule_id: meta.id.to_string(),
            status: RuleStatus::Evaluated,
            reason: None,
            cause: None,
            severity: meta.severity,
            failed: 0,
            suppressed: 0,
        };
        let rule_settings = match settings.rule(meta.id) {
            Ok(s) => s,
            Err(err) => {
                report.errors.push(Problem::settings(err));
                summary.status = RuleStatus::NotEvaluated;
                summary.reason = Some(err.to_string());
                summary.cause = Some(report::Cause::InvalidSettings);
                report.rules.push(summary);
                continue;
            }
        };
        let severity = rule_settings.severity.unwrap_or(meta.severity);
        summary.severity = severity;
        if !settings.enabled(meta) {
            summary.status = RuleStatus::Disabled;
            summary.reason = Some(if meta.enabled_by_default {
                "disabled in settings".to_string()
            } else {
                "opt-in rule: set \"enabled\": true in its settings".to_string()
            });
            report.rules.push(summary);
            continue;
        }
        match check_requirements(inventory, meta).and_then(|()| rule.run(&ctx, &rule_settings.params)) {
            Err(NotEvaluated { reason, cause }) => {
                summary.status = RuleStatus::NotEvaluated;
                summary.reason = Some(reason);
                summary.cause = Some(cause);
            }
            Ok(hits) => {
                for hit in hits {
                    let exception = rule_settings.exception_for(&hit.resource_arn, now);
                    let (status, suppression) = match exception {
                        Some(e) => {
                            summary.suppressed += 1;
                            let suppression = Suppression { exception: e.resource.clone(), reason: e.reason.clone(), expires: e.expires };
                            (FindingStatus::Suppressed, Some(suppression))
                        }
                        None => {
                            summary.failed += 1;
                            (FindingStatus::Open, None)
                        }
                    };
                    report.findings.push(Finding {
                        rule_id: meta.id.to_string(),
                        title: hit.title.unwrap_or(meta.title).to_string(),
                        severity,
                        status,
                        fingerprint: fingerprint(meta.id, &hit.resource_arn, &hit.discriminator),
                        resource_type: hit.resource_type,
                        resource_arn: hit.resource_arn,
                        resource_name: hit.resource_name,
                        account_id: inventory.account_id.clone(),
                        message: hit.message,
                        remediation: hit.remediation,
                        suppression,
                        details: hit.details,
                    });
                }
            }
        }
        report.rules.push(summary);
    }
    report.findings.sort_by(|a, b| {
        (a.severity, &a.rule_id, &a.resource_arn, &a.fingerprint).cmp(&(b.severity, &b.rule_id, &b.resource_arn, &b.fingerprint))
    });
    report
}

fn check_requirements(inventory: &Inventory, meta: &Meta) -> Result<(), NotEvaluated> {
    match meta.requires {
        Requires::All(sources) => {
            if let Some(missing) = sources.iter().find(|s| !inventory.has(**s)) {
                return Err(NotEvaluated::unreadable(inventory.missing_reason(*missing)));
            }
        }
        Requires::Any(sources) => {
            if !sources.iter().any(|s| inventory.has(*s)) {
                let reasons = sources.iter().map(|s| inventory.missing_reason(*s)).collect::<Vec<_>>();
                return Err(NotEvaluated::unreadable(reasons.join("; ")));
            }
        }
    }
    if !meta.needs_complete_account.met_by(inventory) {
        return Err(NotEvaluated::out_of_scope(
            "needs every user, group and role of the account; this run collected only the entities an event named",
        ));
    }
    Ok(())
}
