//! A steady-state cycle allocates nothing (design: "the hot path allocates nothing").
//!
//! This binary installs the testkit's counting allocator. Counters are per thread and
//! every cycle runs on the test's own thread (`block_on_ready`), so tests running in
//! parallel do not disturb each other's counts. "Steady state" means: the same workload
//! as the previous cycle, after at least one warm-up cycle (buffers have grown).

use std::sync::Arc;
use std::time::Duration;

use scheduler_bench_support::alloc::{AllocStats, CountingAllocator, measure};
use scheduler_bench_support::workload::{
    CYCLE_STEP, NoopActor, NoopWaker, Variant, Workload, block_on_ready, clock_start, cycle, t0,
};
use scheduler_core::selection::{Selection, SelectionInput};
use scheduler_core::{CycleCounts, CycleKind, Scheduler};
use scheduler_testkit::snapshot::RunSnapshot;
use scheduler_testkit::stores::MemoryStarvationStore;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

fn assert_none(what: &str, stats: AllocStats) {
    assert_eq!(stats.allocations(), 0, "{what} allocated: {stats}");
}

#[test]
fn steady_w1000_100_cycles_allocate_nothing() {
    let w = Workload::steady(1000, 100);
    let (mut scheduler, clock) = w.steady_scheduler();
    let warm = decisions(cycle(&mut scheduler, &clock));
    assert!(warm.wake_succeeded > 0 && warm.no_match_runs > 0, "the workload does real work: {warm:?}");
    for k in 1..=3 {
        let (counts, stats) = measure(|| decisions(cycle(&mut scheduler, &clock)));
        assert_eq!(counts, warm, "same workload, same decisions");
        assert_none(&format!("steady W(1000,100) cycle {k}"), stats);
    }
    assert_eq!(scheduler.cooldown().len(), warm.wake_succeeded, "every wake keeps its cooldown key");
}

/// Many requirement classes: the first cycle's walk asks for nearly every run's class,
/// so the second finds the classes while keying runs (another mode of the selection).
/// After one warm-up cycle that switch allocates nothing either.
#[test]
fn distinct_classes_cycles_allocate_nothing() {
    let w = Workload::distinct(2000, 200);
    let (mut scheduler, clock) = w.steady_scheduler();
    let warm = decisions(cycle(&mut scheduler, &clock));
    // By design every run is a no-match, each after its own class was looked for.
    assert_eq!(warm.no_match_runs, 2000, "{warm:?}");
    for k in 1..=3 {
        let (counts, stats) = measure(|| decisions(cycle(&mut scheduler, &clock)));
        assert_eq!(counts, warm, "same workload, same decisions");
        assert_none(&format!("W_distinct(2000,200) cycle {k}"), stats);
    }
}

/// Wakes with the cooldown cooling (keys refreshed, new keys recorded, expired ones
/// pruned, runs recently notified), cycle after cycle: once the key set has reached its
/// usual size, none of it allocates.
#[test]
fn cooling_cooldown_churn_allocates_nothing() {
    let w = Workload::steady(100, 10);
    let (mut scheduler, clock) = w.steady_scheduler();
    // Against a 60 s cooldown, three 10 s steps then a 70 s one: runs move on to other
    // sessions while their first pick cools, are recently notified, and then every key
    // expires and is pruned, to be recorded afresh in the following cycles.
    let mut step = 0u32;
    let mut run = || {
        step += 1;
        clock.advance(Duration::from_secs(if step % 4 == 0 { 70 } else { 10 }));
        block_on_ready(async { *scheduler.run_once().await.counts() })
    };
    let total = churn(&mut run, 30, "cooling cycle");
    assert!(total.wake_succeeded > 0, "wakes happened");
    assert!(total.recently_notified_runs > 0, "the cooldown held some runs back");
}

/// A cycle with wakes, cooldown updates and a starved run on the ladder (store loads,
/// upserts, list and reconcile; spawn and event escalations through an actor).
#[test]
fn ladder_cycles_allocate_nothing() {
    // The W(100, 10) sessions; runs of unknown queued-at (never starved) plus one
    // global run queued at T0, starved from the first cycle on.
    let base = Workload::steady(100, 10);
    let mut runs: Vec<Arc<RunSnapshot>> =
        (0..100).map(|i| Arc::new(RunSnapshot { queued_at: None, ..Workload::run(i, Variant::Steady) })).collect();
    runs.push(Arc::new(RunSnapshot::queued("starved-run", "starved-task").queued_at(t0())));
    let w = Workload { runs: runs.into(), ..base };
    let store = MemoryStarvationStore::new();
    let clock = Workload::clock();
    let mut scheduler = Scheduler::builder(w.tasks(), w.session_source(), NoopWaker)
        .clock(clock.clone())
        .wake_cooldown(Duration::from_secs(60))
        .starvation_store(store.clone())
        .escalation_actor(NoopActor)
        .build()
        .unwrap();

    let warm = decisions(cycle(&mut scheduler, &clock)); // ladder cycle 1: the budget row is created
    assert_eq!(warm.starved_runs, 1);
    assert!(warm.wake_succeeded > 1, "the starved run fans out, others wake too: {warm:?}");
    // Cycles 2..=9: the budget climbs (spawn at 4, event at 6) and is updated in place.
    // (Cycle 10 marks the run and clears the row; the in-memory store allocates a new
    // row when the ladder starts over: the store's allocation, not the scheduler's.)
    for k in 2..=9u32 {
        let (counts, stats) = measure(|| decisions(cycle(&mut scheduler, &clock)));
        assert_none(&format!("ladder cycle {k}"), stats);
        assert_eq!(counts.starved_runs, 1);
        assert_eq!(counts.spawns_requested, usize::from(k == 4), "cycle {k}");
        assert!(!scheduler.cooldown().is_empty());
        assert_eq!(store.get("starved-run").expect("budget row").wake_count, k);
    }
}

/// The starved variant at W(1000, 100): a thousand budgets loaded, advanced, upserted,
/// listed and reconciled each cycle, without allocating once the rows exist.
#[test]
fn starved_w1000_100_ladder_cycles_allocate_nothing() {
    let w = Workload::starved(1000, 100);
    let store = MemoryStarvationStore::new();
    let (mut scheduler, clock) = w.starved_scheduler_with_store(store.clone());
    let warm = decisions(cycle(&mut scheduler, &clock));
    assert_eq!(warm.starved_runs, 1000);
    assert_eq!(store.rows().len(), 1000);
    for k in 2..=9 {
        let (counts, stats) = measure(|| decisions(cycle(&mut scheduler, &clock)));
        assert_none(&format!("starved cycle {k}"), stats);
        assert_eq!(counts.starved_runs, 1000);
    }
    assert_eq!(store.get("run-7").unwrap().wake_count, 9);
}

/// The loop's cycles run every seam call under the seam deadline (a [`Deadline`] over
/// the fake clock's timer) with its panics contained: that wrapper allocates nothing
/// either, steady or climbing the ladder (the deadline's sleep is only made when a
/// call waits, and these seams answer at once).
///
/// [`Deadline`]: scheduler_core::deadline::Deadline
#[test]
fn cycles_under_the_seam_deadline_allocate_nothing() {
    let w = Workload::steady(1000, 100);
    let (mut scheduler, clock) = w.steady_scheduler();
    let warm = bounded(&mut scheduler, &clock);
    assert!(warm.wake_succeeded > 0);
    for k in 1..=3 {
        let (counts, stats) = measure(|| bounded(&mut scheduler, &clock));
        assert_eq!(counts, warm);
        assert_none(&format!("bounded steady cycle {k}"), stats);
    }
    assert_eq!(clock.sleepers(), 0, "no deadline sleep was ever made");

    let w = Workload::starved(1000, 100);
    let (mut scheduler, clock) = w.starved_scheduler_with_store(MemoryStarvationStore::new());
    let warm = bounded(&mut scheduler, &clock);
    assert_eq!(warm.starved_runs, 1000);
    for k in 2..=9 {
        let (counts, stats) = measure(|| bounded(&mut scheduler, &clock));
        assert_none(&format!("bounded starved cycle {k}"), stats);
        assert_eq!(counts.starved_runs, 1000);
    }
}

/// [`cycle`], under the seam deadline.
fn bounded<T, S, W, P, B, A, O>(
    scheduler: &mut Scheduler<T, S, W, scheduler_testkit::clock::FakeClock, P, B, A, O>,
    clock: &scheduler_testkit::clock::FakeClock,
) -> CycleCounts
where
    T: scheduler_core::seam::TaskSource,
    S: scheduler_core::seam::SessionSource,
    W: scheduler_core::seam::Waker<T::Run, S::Session>,
    P: scheduler_core::seam::PauseStore,
    B: scheduler_core::seam::StarvationStore,
    A: scheduler_core::seam::EscalationActor<T::Run>,
    O: scheduler_core::observer::Observer,
{
    clock.advance(CYCLE_STEP);
    decisions(block_on_ready(async { *scheduler.run_cycle(CycleKind::Interval).await.counts() }))
}

/// The counts a cycle decides, without the oldest queued age (which grows as the
/// clock advances between cycles over the same rows).
fn decisions(mut counts: CycleCounts) -> CycleCounts {
    counts.oldest_queued_age = None;
    counts
}

/// Selection alone, reused over the same rows: nothing after the first call, in both
/// variants and at a size where every index structure is exercised.
#[test]
fn selection_reuse_allocates_nothing() {
    for variant in [Variant::Steady, Variant::Starved] {
        let w = Workload::new(3000, 300, variant);
        let min_queued_age = if variant == Variant::Steady { Duration::ZERO } else { Duration::from_secs(120) };
        let input = || SelectionInput {
            runs: &w.runs[..],
            active: &w.active[..],
            sessions: &w.sessions[..],
            now: clock_start() + CYCLE_STEP,
            min_queued_age,
        };
        let mut selection = Selection::new();
        selection.select(input(), |_, _| false);
        let targets = selection.targets().len();
        assert!(targets > 0);
        let ((), stats) = measure(|| selection.select(input(), |_, _| false));
        assert_none(&format!("{variant:?} selection"), stats);
        assert_eq!(selection.targets().len(), targets);
    }
}

/// The measurement bites: the first cycle of a fresh scheduler allocates (its buffers
/// grow to the workload), and is seen doing so.
#[test]
fn a_cold_cycle_is_seen_allocating() {
    let w = Workload::steady(1000, 100);
    let (mut scheduler, clock) = w.steady_scheduler();
    let (counts, stats) = measure(|| decisions(cycle(&mut scheduler, &clock)));
    assert!(counts.wake_succeeded > 0);
    assert!(stats.allocations() > 0, "{stats}");
}

/// The maximum-matching policy: selection alone reused over the same rows, both
/// variants, and whole steady cycles (with the cooldown cooling, so runs are moved,
/// recently notified and rejected), allocate nothing once the buffers have grown.
#[test]
fn maximum_policy_allocates_nothing_in_steady_cycles() {
    use scheduler_core::SelectionPolicy;
    for variant in [Variant::Steady, Variant::Starved] {
        let w = Workload::new(3000, 300, variant);
        let min_queued_age = if variant == Variant::Steady { Duration::ZERO } else { Duration::from_secs(120) };
        let input = || SelectionInput {
            runs: &w.runs[..],
            active: &w.active[..],
            sessions: &w.sessions[..],
            now: clock_start() + CYCLE_STEP,
            min_queued_age,
        };
        let mut selection = Selection::with_policy(SelectionPolicy::Maximum);
        // Some pairs in cooldown, so searches skip edges and fail partway.
        let cooling = |r: &Arc<RunSnapshot>, s: &Arc<scheduler_testkit::snapshot::SessionSnapshot>| {
            (r.run_id.len() + s.session_id.len()) % 5 == 0
        };
        selection.select(input(), cooling);
        let targets = selection.targets().len();
        assert!(targets > 0);
        let ((), stats) = measure(|| selection.select(input(), cooling));
        assert_none(&format!("{variant:?} maximum selection"), stats);
        assert_eq!(selection.targets().len(), targets);
    }

    let w = Workload::steady(1000, 100);
    let clock = Workload::clock();
    let mut scheduler = Scheduler::builder(w.tasks(), w.session_source(), NoopWaker)
        .clock(clock.clone())
        .wake_cooldown(Duration::from_secs(60))
        .starvation_age(Duration::ZERO)
        .selection_policy(SelectionPolicy::Maximum)
        .build()
        .unwrap();
    let mut step = 0u32;
    let mut run = || {
        step += 1;
        clock.advance(Duration::from_secs(if step % 4 == 0 { 70 } else { 10 }));
        block_on_ready(async { *scheduler.run_once().await.counts() })
    };
    let total = churn(&mut run, 12, "maximum policy cycle");
    assert!(total.wake_succeeded > 0 && total.recently_notified_runs > 0, "{total:?}");
}

/// Runs `cycles` warm-up cycles, then `cycles` measured ones, each of which must
/// allocate nothing; returns the measured cycles' wakes and recently notified runs.
fn churn(run: &mut impl FnMut() -> CycleCounts, cycles: usize, label: &str) -> CycleCounts {
    for _ in 0..cycles {
        run();
    }
    let mut total = CycleCounts::default();
    for k in 0..cycles {
        let (counts, stats) = measure(&mut *run);
        assert_none(&format!("{label} {k}"), stats);
        total.wake_succeeded += counts.wake_succeeded;
        total.recently_notified_runs += counts.recently_notified_runs;
    }
    total
}
