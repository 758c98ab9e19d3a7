//! Store and task-service round trips per cycle do not grow with the number of starved
//! runs: the convergence ladder reads statuses, loads, upserts, lists and clears budgets
//! in batches (one call each per cycle), never once per run.
//!
//! Two schedulers run the same scenario, one with K = 1 starved run and one with
//! K = 200, through a whole ladder period and the start of the next (fresh budgets,
//! spawn at 4, event at 6, needs-attention and clearing at 10, fresh again at 11), with
//! stale budget rows to reconcile on top. Per cycle, the starvation store's round trips
//! and the task source's status batches must be the same for both.

use std::time::Duration;

use scheduler_bench_support::workload::block_on_ready;
use scheduler_core::Scheduler;
use scheduler_core::ladder::Budget;
use scheduler_core::seam::StarvationStore;
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::escalation::RecordingActor;
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::MemoryStarvationStore;
use scheduler_testkit::waker::RecordingWaker;

const CYCLES: usize = 12;

/// What one cycle cost in round trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Trips {
    /// Starvation-store calls (single-row and batch alike).
    store: u64,
    /// `run_statuses` batch calls.
    status_batches: usize,
}

/// Runs the scenario with `k` starved runs and `k` stale budget rows; returns the
/// round trips of every cycle, and checks the ladder really did its work on all `k`.
fn scenario(k: usize) -> Vec<Trips> {
    let store = MemoryStarvationStore::new();
    scenario_with(k, store.clone(), store)
}

/// As [`scenario`], with `seam` as the scheduler's store over the rows of `store`.
fn scenario_with<B: StarvationStore + 'static>(k: usize, seam: B, store: MemoryStarvationStore) -> Vec<Trips> {
    let clock = FakeClock::at_unix(1_800_000_000);
    let queued_at = clock_now(&clock) - Duration::from_secs(3_600);
    let tasks = ScriptedTasks::new();
    tasks.set_pending(
        (0..k).map(|i| RunSnapshot::queued(format!("run-{i}"), format!("task-{i}")).caps(["gpu"]).queued_at(queued_at)),
    );
    let sessions = ScriptedSessions::new();
    sessions.set([SessionSnapshot::active("sess-1").caps(["cpu"])]); // nobody can take them
    // Stale rows: budgets of runs that are gone; reconciled (and cleared) in cycle 1.
    for i in 0..k {
        store.insert(&format!("gone-{i}"), Budget::fresh(queued_at));
    }
    let actor = RecordingActor::new();
    let mut scheduler = Scheduler::builder(tasks.clone(), sessions, RecordingWaker::batch())
        .clock(clock.clone())
        .starvation_store(seam)
        .escalation_actor(actor.clone())
        .build()
        .unwrap();

    let mut trips = Vec::new();
    for cycle in 1..=CYCLES {
        clock.advance(Duration::from_secs(61));
        let (store_before, batches_before) = (store.round_trips(), tasks.status_batches().len());
        let counts = block_on_ready(async { *scheduler.run_once().await.counts() });
        assert_eq!(counts.starved_runs, k, "cycle {cycle}");
        trips.push(Trips {
            store: store.round_trips() - store_before,
            status_batches: tasks.status_batches().len() - batches_before,
        });
        match cycle {
            4 => assert_eq!(counts.spawns_requested, k, "cycle 4 requests a spawn for every run"),
            10 => assert_eq!(counts.needs_attention_runs, k, "cycle 10 marks every run"),
            _ => {}
        }
        let expected_rows = if cycle == 10 { 0 } else { k };
        assert_eq!(store.rows().len(), expected_rows, "cycle {cycle}: stale rows cleared, budgets kept");
    }
    // Every status read went through a batch: the per-run status reads counted by the
    // fault plan are exactly the items of the batches.
    let items: usize = tasks.status_batches().iter().map(Vec::len).sum();
    assert_eq!(tasks.faults().calls("run_status"), items as u64, "no single-run status read");
    trips
}

fn clock_now(clock: &FakeClock) -> std::time::SystemTime {
    use scheduler_core::clock::Clock;
    clock.now()
}

#[test]
fn round_trips_per_cycle_do_not_depend_on_the_number_of_starved_runs() {
    let one = scenario(1);
    let many = scenario(200);
    assert_eq!(one, many, "per-cycle round trips, K = 1 vs K = 200");
    for (cycle, t) in one.iter().enumerate() {
        // status batch (+ reconcile batch), list, load, upsert (+ clear): a handful.
        assert!(t.store <= 4 && t.status_batches <= 2, "cycle {}: {t:?}", cycle + 1);
    }
    // Cycle 1 reconciles the stale rows: one more status batch and one clear batch.
    assert_eq!(one[0], Trips { store: 4, status_batches: 2 });
    // A plain climbing cycle: statuses, list, upsert. The budgets are on the page the
    // list read, so nothing is loaded again.
    assert_eq!(one[1], Trips { store: 2, status_batches: 1 });
    // Cycle 10 marks every run: statuses, list, clear (nothing left to upsert).
    assert_eq!(one[9], Trips { store: 2, status_batches: 1 });
}

/// A store without batch forms (the trait's defaults call the single-row methods once
/// per row): the same comparison must then see the round trips grow with K, which shows
/// the test above would catch a per-run ladder.
#[derive(Clone)]
struct RowByRow(MemoryStarvationStore);

impl StarvationStore for RowByRow {
    type Key = scheduler_testkit::stores::SmolStr;
    type Error = FakeError;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, FakeError> {
        self.0.load(run_id).await
    }
    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), FakeError> {
        self.0.upsert(run_id, budget).await
    }
    async fn clear(&self, run_id: &str) -> Result<(), FakeError> {
        self.0.clear(run_id).await
    }
    async fn list(&self, out: &mut Vec<(Self::Key, Budget)>) -> Result<(), FakeError> {
        self.0.list(out).await
    }
}

#[test]
fn a_row_by_row_store_is_seen_growing() {
    let trips = |k| {
        let store = MemoryStarvationStore::new();
        scenario_with(k, RowByRow(store.clone()), store)
    };
    let (one, many) = (trips(1), trips(200));
    assert_ne!(one, many);
    assert!(many[1].store > 200, "{:?}", many[1]);
}
