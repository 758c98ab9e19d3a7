//! `run_once` over every `W(N, M)` workload of `spec/workloads.md`, both variants: one
//! full cycle (sweep, snapshots, selection, dispatch, ladder, statistics) per iteration,
//! the fake clock advancing 61 s before each, over the testkit's allocation-free
//! workload seams. Also reports heap allocations per cycle.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use scheduler_bench_support::alloc::CountingAllocator;
use scheduler_bench_support::workload::{Variant, Workload, cycle};
use scheduler_benches::{AllocRow, AllocTable, SIZES, VARIANTS, budget, size_name, variant_name};
use scheduler_core::CycleCounts;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

/// Cycles measured for the allocation table: two full ladder periods of the starved
/// variant (needs-attention at the 10th starved cycle clears the budgets).
const ALLOC_CYCLES: u64 = 20;

fn bench_cycles(c: &mut Criterion, table: &mut AllocTable, variant: Variant, n: usize, m: usize) {
    let w = Workload::new(n, m, variant);
    let id = format!("{}/{}", variant_name(variant), size_name(n, m));
    match variant {
        Variant::Steady => {
            let (mut s, clock) = w.steady_scheduler();
            bench_cycle(c, table, &id, || cycle(&mut s, &clock));
        }
        Variant::Starved => {
            let (mut s, clock) = w.starved_scheduler();
            bench_cycle(c, table, &id, || cycle(&mut s, &clock));
        }
    }
}

fn bench_cycle(c: &mut Criterion, table: &mut AllocTable, id: &str, mut cycle_fn: impl FnMut() -> CycleCounts) {
    // Warm-up: buffers grow to the workload's size.
    let started = Instant::now();
    let counts = cycle_fn();
    let first = started.elapsed();
    let started = Instant::now();
    black_box(cycle_fn());
    let per_iter = started.elapsed().max(first / 4);
    eprintln!(
        "run_once/{id}: pending {} sessions {} woken {} no-match {} recently-notified {} starved {}",
        counts.pending_runs,
        counts.sessions_scanned,
        counts.wake_succeeded,
        counts.no_match_runs,
        counts.recently_notified_runs,
        counts.starved_runs
    );
    table.push(AllocRow::measure(format!("run_once/{id}"), ALLOC_CYCLES, || {
        black_box(cycle_fn());
    }));

    let (samples, time, flat) = budget(per_iter);
    let (group_name, param) = id.split_once('/').expect("variant/size");
    let mut group = c.benchmark_group(format!("run_once/{group_name}"));
    group.sample_size(samples).measurement_time(time).warm_up_time(Duration::from_secs(1));
    if flat {
        group.sampling_mode(SamplingMode::Flat);
    }
    group.bench_function(BenchmarkId::from_parameter(param), |b| b.iter(|| black_box(cycle_fn())));
    group.finish();
}

fn run_once(c: &mut Criterion) {
    let mut table = AllocTable::new();
    for variant in VARIANTS {
        for (n, m) in SIZES {
            bench_cycles(c, &mut table, variant, n, m);
        }
    }
    table.finish();
}

criterion_group!(benches, run_once);
criterion_main!(benches);
