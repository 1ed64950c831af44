//! `iam_assurance_rules::evaluate` over synthetic accounts of 1,000, 10,000 and 100,000
//! entities, on one thread (the rules core is synchronous and single-threaded).

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

criterion_group!(benches, evaluate);
criterion_main!(benches);
