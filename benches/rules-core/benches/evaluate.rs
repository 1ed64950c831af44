//! `iam_assurance_rules::evaluate` over synthetic accounts of 1,000, 10,000 and 100,000
//! entities, on one thread (the rules core is synchronous and single-threaded); and settings
//! with long pattern lists (350 and 5,000 entries: approved users, unapproved policies,
//! exceptions), parsed, then evaluated on 10,000 entities.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use iam_assurance_bench_rules_core::{inventory, now, settings};

fn evaluate(c: &mut Criterion) {
    let settings = settings();
    let mut group = c.benchmark_group("evaluate");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    for entities in [1_000usize, 10_000, 100_000] {
        let inv = inventory(entities);
        group.throughput(Throughput::Elements(entities as u64));
        group.bench_with_input(BenchmarkId::from_parameter(entities), &inv, |b, inv| {
            b.iter(|| iam_assurance_rules::evaluate(inv, &settings, now()));
        });
    }
    group.finish();
}

/// Settings whose lists hold `n` patterns each: most with a `*`, a fifth exact names.
fn long_lists(n: usize) -> String {
    let pattern = |i: usize| if i % 5 == 0 { format!("user-{i}") } else { format!("arn:aws:iam::*:user/team-{i}-*") };
    let approved: Vec<String> = (0..n).map(pattern).collect();
    let unapproved: Vec<String> = (0..n).map(|i| format!("arn:aws:iam::*:policy/legacy-{i}-*")).collect();
    let exceptions: Vec<serde_json::Value> =
        (0..n).map(|i| serde_json::json!({"resource": pattern(i), "reason": "reviewed", "expires": "2027-01-31"})).collect();
    serde_json::json!({
        "approved-users": {"approved": approved},
        "unapproved-policy-in-use": {"unapproved": unapproved},
        "access-key-rotation": {"exceptions": exceptions},
    })
    .to_string()
}

fn settings_lists(c: &mut Criterion) {
    let mut group = c.benchmark_group("settings");
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    let inv = inventory(10_000);
    for n in [350usize, 5_000] {
        let text = long_lists(n);
        group.bench_with_input(BenchmarkId::new("parse", n), &text, |b, text| {
            b.iter(|| iam_assurance_rules::Settings::from_json_text(text).expect("settings"));
        });
        let parsed = iam_assurance_rules::Settings::from_json_text(&text).expect("settings");
        group.bench_with_input(BenchmarkId::new("evaluate-10000", n), &parsed, |b, parsed| {
            b.iter(|| iam_assurance_rules::evaluate(&inv, parsed, now()));
        });
    }
    group.finish();
}

criterion_group!(benches, evaluate, settings_lists);
criterion_main!(benches);
