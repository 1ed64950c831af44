//! `rules-core-once [ENTITIES]`: build a synthetic account, evaluate it once (after one warm-up
//! run) on this thread, print one JSON line with the sizes, the time and the findings. The
//! criterion benchmark (`cargo bench`) gives the statistics; this gives the bench driver a
//! single number and the finding count it reports beside the timing.

use std::time::Instant;

use iam_assurance_bench_rules_core::{inventory, now, settings, Shape};

fn main() {
    let entities: usize = std::env::args().nth(1).map(|a| a.parse().expect("ENTITIES: a number")).unwrap_or(100_000);
    let started = Instant::now();
    let inv = inventory(entities);
    let build_seconds = started.elapsed().as_secs_f64();
    let settings = settings();
    let _warm_up = iam_assurance_rules::evaluate(&inv, &settings, now());
    let started = Instant::now();
    let report = iam_assurance_rules::evaluate(&inv, &settings, now());
    let seconds = started.elapsed().as_secs_f64();
    let shape = Shape::of(entities);
    // The slowest rules, each evaluated alone (where the time goes).
    let mut per_rule: Vec<(String, f64)> = iam_assurance_rules::catalog::all()
        .iter()
        .map(|rule| {
            let id = rule.meta().id;
            let started = Instant::now();
            let _ = iam_assurance_rules::evaluate_only(&inv, &settings, now(), &[id]);
            (id.to_string(), started.elapsed().as_secs_f64())
        })
        .collect();
    per_rule.sort_by(|a, b| b.1.total_cmp(&a.1));
    per_rule.truncate(5);
    let line = serde_json::json!({
        "entities": shape.total(),
        "users": shape.users,
        "credential_rows": shape.credential_rows,
        "roles": shape.roles,
        "groups": shape.groups,
        "policies": shape.policies,
        "build_seconds": build_seconds,
        "evaluate_seconds": seconds,
        "findings": report.findings.len(),
        "rules_evaluated": report.rules.iter().filter(|r| r.status == iam_assurance_rules::RuleStatus::Evaluated).count(),
        "errors": report.errors,
        "slowest_rules": per_rule.iter().map(|(id, s)| serde_json::json!({"rule_id": id, "seconds": s})).collect::<Vec<_>>(),
    });
    println!("{line}");
}
