//! `iam-assurance compliance`: every IAM control of a standard with its status, over a sweep of
//! the account or over the offline audit's files.

use std::fmt::Write as _;
use std::time::Instant;

use chrono::{DateTime, Utc};
use iam_assurance_aws::collect::collect;
use iam_assurance_aws::Clients;
use iam_assurance_rules::compliance::{ComplianceReport, ControlStatus};
use iam_assurance_rules::roster::Roster;
use iam_assurance_rules::{evaluate, Report, Settings};

use crate::run::config::{load_settings, Config, RunError};
use crate::run::sweep::collection;

/// Evaluate the account the clients reach as a sweep would (the same settings and sources), but
/// read-only: no finding state is read or written and nothing is published.
pub async fn live(clients: &Clients, config: &Config, now: DateTime<Utc>) -> Result<(Report, Settings), RunError> {
    let started = Instant::now();
    let settings = Box::pin(load_settings(clients, config)).await?;
    let mut inventory = Box::pin(collect(clients, &collection(&settings), started + config.time_budget)).await;
    if inventory.account_id.is_empty() {
        if let Ok(account) = clients.account().await {
            inventory.account_id = account;
        }
    }
    inventory.admins = inventory.authorization.as_ref().filter(|a| a.complete).map(|a| Roster::from_aad(a, None).admins());
    let report = evaluate(&inventory, &settings, now);
    Ok((report, settings))
}

/// The report as a terminal table: one line per control, then what fails or is unknown.
pub fn text(report: &ComplianceReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} ({})", report.title, report.scope);
    let _ = writeln!(out, "account {}, evaluated {}", report.account_id, report.evaluated_at.to_rfc3339());
    let c = &report.counts;
    let _ = writeln!(
        out,
        "{} controls: {} pass, {} fail, {} not evaluated, {} manual, {} not covered\n",
        report.controls.len(),
        c.pass,
        c.fail,
        c.not_evaluated,
        c.manual,
        c.not_covered
    );
    let _ = writeln!(out, "{:<10} {:<14} {:<28} TITLE", "CONTROL", "STATUS", "RULES");
    for control in &report.controls {
        let rules = control.rules.iter().map(|r| r.rule_id.as_str()).collect::<Vec<_>>().join(",");
        let _ = writeln!(out, "{:<10} {:<14} {:<28} {}", control.id, control.status.as_str(), rules, control.title);
        for r in &control.failing {
            let _ = writeln!(out, "{:<10}   fails: {} ({}): {}", "", r.resource_arn, r.rule_id, r.message);
        }
        for r in &control.excepted {
            let _ = writeln!(out, "{:<10}   excepted: {} ({})", "", r.resource_arn, r.rule_id);
        }
        if control.status != ControlStatus::Pass && control.status != ControlStatus::Fail {
            if let Some(reason) = &control.reason {
                let label = match control.status {
                    ControlStatus::Manual => "check by hand",
                    ControlStatus::NotCovered => "not covered",
                    _ => "why",
                };
                let _ = writeln!(out, "{:<10}   {label}: {reason}", "");
            }
        }
    }
    out
}
