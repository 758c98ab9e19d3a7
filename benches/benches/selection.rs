//! `Selection::select` alone (behaviour step 4: ordering, eligibility, cooldown
//! questions, fan-out) over every `W(N, M)` workload, both variants, on rows already
//! read; nothing in cooldown. Also reports heap allocations per selection.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use scheduler_bench_support::alloc::CountingAllocator;
use scheduler_bench_support::workload::{CYCLE_STEP, Variant, Workload, clock_start};
use scheduler_benches::{AllocRow, AllocTable, SIZES, VARIANTS, budget, size_name, variant_name};
use scheduler_core::selection::{Selection, SelectionInput};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

fn selection(c: &mut Criterion) {
    let mut table = AllocTable::new();
    for variant in VARIANTS {
        for (n, m) in SIZES {
            let w = Workload::new(n, m, variant);
            let (runs, active, sessions) = (w.runs.to_vec(), w.active.to_vec(), w.sessions.to_vec());
            let min_queued_age = match variant {
                Variant::Steady => Duration::ZERO,
                Variant::Starved => Duration::from_secs(120),
            };
            let now = clock_start() + CYCLE_STEP;
            let mut sel = Selection::new();
            let mut select = || {
                sel.select(
                    SelectionInput { runs: &runs, active: &active, sessions: &sessions, now, min_queued_age },
                    |_, _| false,
                );
                black_box(sel.targets().len())
            };
            let started = Instant::now();
            let targets = select();
            let first = started.elapsed();
            let started = Instant::now();
            select();
            let per_iter = started.elapsed().max(first / 4);
            let id = format!("{}/{}", variant_name(variant), size_name(n, m));
            eprintln!("selection/{id}: {targets} targets");
            table.push(AllocRow::measure(format!("selection/{id}"), 10, || {
                select();
            }));

            let (samples, time, flat) = budget(per_iter);
            let mut group = c.benchmark_group(format!("selection/{}", variant_name(variant)));
            group.sample_size(samples).measurement_time(time).warm_up_time(Duration::from_secs(1));
            if flat {
                group.sampling_mode(SamplingMode::Flat);
            }
            group.bench_function(BenchmarkId::from_parameter(size_name(n, m)), |b| b.iter(&mut select));
            group.finish();
        }
    }
    table.finish();
}

criterion_group!(benches, selection);
criterion_main!(benches);
