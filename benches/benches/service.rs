//! `run_once` over the testkit's in-memory task service (`MemoryTaskService`, with real
//! lease semantics) and session registry (`MemorySessions`), loaded with the `W(N, M)`
//! workloads: the same cycle as the `run_once` bench, through the service's own data
//! structures (a locked map of queued runs, leases held by running runs) instead of
//! fixed rows. Also reports heap allocations per cycle.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use scheduler_bench_support::alloc::CountingAllocator;
use scheduler_bench_support::workload::{NoopActor, NoopWaker, Variant, Workload, cycle};
use scheduler_benches::{AllocRow, AllocTable, budget, size_name, variant_name};
use scheduler_core::Scheduler;
use scheduler_core::ladder::Thresholds;
use scheduler_core::model::Scope;
use scheduler_core::view::SessionView;
use scheduler_testkit::registry::MemorySessions;
use scheduler_testkit::service::{ClaimRequest, MemoryTaskService};
use scheduler_testkit::snapshot::RunSnapshot;
use scheduler_testkit::stores::MemoryStarvationStore;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

const SIZES: [(usize, usize, Variant); 3] =
    [(1_000, 100, Variant::Steady), (10_000, 1_000, Variant::Steady), (1_000, 100, Variant::Starved)];

/// Loads `w` into a fresh service and registry: the active runs are enqueued first, each
/// owned by its session, claimed by it (a lease of a century) and started; then the
/// pending runs are enqueued at their queued-at.
fn load(w: &Workload) -> (MemoryTaskService, MemorySessions) {
    let service = MemoryTaskService::new();
    let sessions = MemorySessions::new();
    for s in w.sessions.iter() {
        sessions.register((**s).clone()).expect("register");
    }
    let t0 = scheduler_bench_support::workload::t0();
    for a in w.active.iter() {
        let holder = w.sessions.iter().find(|s| s.session_id == a.session_id).expect("holder");
        let spec = RunSnapshot::queued(a.run_id.clone(), format!("task-{}", a.run_id)).session_owner(&a.session_id);
        let spec = match holder.workspace_id() {
            "" => spec.scope(Scope::Global, ""),
            ws => spec.workspace(ws),
        };
        service.enqueue_snapshot(&spec, t0).expect("enqueue active");
        let lease = Duration::from_secs(100 * 365 * 24 * 3600);
        let claim = service.claim(&ClaimRequest::from_session(&**holder), lease, t0).expect("claim").expect("a run");
        assert_eq!(claim.run_id, a.run_id);
        service.start(&claim.run_id, &claim.token, t0).expect("start");
    }
    for r in w.runs.iter() {
        service.enqueue_snapshot(r, r.queued_at.expect("queued-at")).expect("enqueue");
    }
    (service, sessions)
}

fn bench_service(c: &mut Criterion) {
    let mut table = AllocTable::new();
    for (n, m, variant) in SIZES {
        let w = Workload::new(n, m, variant);
        let (service, sessions) = load(&w);
        let clock = Workload::clock();
        let id = format!("{}/{}", variant_name(variant), size_name(n, m));
        match variant {
            Variant::Steady => {
                let mut s = Scheduler::builder(service, sessions, NoopWaker)
                    .clock(clock.clone())
                    .wake_cooldown(Duration::from_secs(60))
                    .starvation_age(Duration::ZERO)
                    .build()
                    .expect("valid settings");
                bench_cycle(c, &mut table, &id, || cycle(&mut s, &clock));
            }
            Variant::Starved => {
                let mut s = Scheduler::builder(service, sessions, NoopWaker)
                    .clock(clock.clone())
                    .wake_cooldown(Duration::from_secs(60))
                    .starvation_thresholds(Thresholds::DEFAULT)
                    .starvation_store(MemoryStarvationStore::new())
                    .escalation_actor(NoopActor)
                    .build()
                    .expect("valid settings");
                bench_cycle(c, &mut table, &id, || cycle(&mut s, &clock));
            }
        }
    }
    table.finish();
}

fn bench_cycle<T>(c: &mut Criterion, table: &mut AllocTable, id: &str, mut cycle_fn: impl FnMut() -> T) {
    let started = Instant::now();
    black_box(cycle_fn());
    let first = started.elapsed();
    let started = Instant::now();
    black_box(cycle_fn());
    let per_iter = started.elapsed().max(first / 4);
    table.push(AllocRow::measure(format!("service/{id}"), 20, || {
        black_box(cycle_fn());
    }));
    let (samples, time, flat) = budget(per_iter);
    let (group_name, param) = id.split_once('/').expect("variant/size");
    let mut group = c.benchmark_group(format!("service/{group_name}"));
    group.sample_size(samples).measurement_time(time).warm_up_time(Duration::from_secs(1));
    if flat {
        group.sampling_mode(SamplingMode::Flat);
    }
    group.bench_function(BenchmarkId::from_parameter(param), |b| b.iter(|| black_box(cycle_fn())));
    group.finish();
}

criterion_group!(benches, bench_service);
criterion_main!(benches);
