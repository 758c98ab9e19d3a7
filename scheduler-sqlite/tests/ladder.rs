//! The scheduler over the store, end to end: the convergence ladder climbs through the
//! store's budgets and escalation actor, and resumes where it was after a reopen.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{run, t, temp_db};
use scheduler_core::Scheduler;
use scheduler_core::ladder::{Thresholds, Tier};
use scheduler_core::lease::{LeaseService, RunSpec, TaskSpec};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{SpawnOutcome, StarvationStore, TaskSource};
use scheduler_sqlite::{SpawnRequest, Store};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::waker::RecordingWaker;

const STEP: Duration = Duration::from_secs(61);

fn scheduler(store: &Store, clock: &FakeClock, spawned: Arc<Mutex<Vec<SpawnRequest>>>) -> impl FnMut() -> usize {
    let actor = store.escalation().with_spawner(move |request| {
        spawned.lock().unwrap().push(request.clone());
        SpawnOutcome::Requested
    });
    let mut scheduler = Scheduler::builder(store.tasks(), store.sessions(), RecordingWaker::batch())
        .clock(clock.clone())
        .pause_store(store.pause())
        .ladder(store.budgets(), actor)
        .starvation_thresholds(
            Thresholds::default()
                .fan_out_after(1)
                .spawn_after(2)
                .event_after(3)
                .needs_attention_after(4)
                .min_queued_age(Duration::from_secs(60)),
        )
        .build()
        .unwrap();
    let clock = clock.clone();
    move || {
        clock.advance(STEP);
        let report = run(scheduler.run_once());
        assert!(report.is_ok(), "{:?}", report.errors().iter().map(|e| e.to_string()).collect::<Vec<_>>());
        report.counts().needs_attention_runs
    }
}

#[test]
fn the_ladder_climbs_through_the_store_and_resumes_after_a_reopen() {
    let (_dir, path) = temp_db();
    let clock = FakeClock::new(t(0));
    let spawned = Arc::new(Mutex::new(Vec::new()));
    {
        let store = Store::open(&path).unwrap();
        run(store.tasks().enqueue(&TaskSpec::new("t").workspace("ws-9"), &RunSpec::new("r").caps(["gpu"]), t(0)))
            .unwrap();
        let mut cycle = scheduler(&store, &clock, Arc::clone(&spawned));
        assert_eq!(cycle(), 0);
        assert_eq!(cycle(), 0);
        let budget = run(store.budgets().load("r")).unwrap().unwrap();
        assert_eq!((budget.wake_count, budget.tier), (2, Tier::Spawn));
        let requests = spawned.lock().unwrap().clone();
        assert_eq!(requests.len(), 1, "one spawn request");
        assert_eq!(
            (requests[0].workspace_id.as_str(), requests[0].capabilities.clone()),
            ("ws-9", vec!["gpu".to_owned()])
        );
    }
    // A restart: a new store handle and a new scheduler, on the same file.
    let store = Store::open(&path).unwrap();
    let mut cycle = scheduler(&store, &clock, Arc::clone(&spawned));
    assert_eq!(cycle(), 0, "the third starved cycle emits the event");
    assert_eq!(cycle(), 1, "the fourth marks the run: the count survived the restart");
    assert_eq!(spawned.lock().unwrap().len(), 1, "the spawn was not requested again");
    assert_eq!(run(store.tasks().run_status("r")).unwrap(), Some(RunStatus::NeedsAttention));
    assert!(run(store.tasks().diagnostic("r")).unwrap().unwrap().contains("4 escalation cycles"));
    assert_eq!(run(store.budgets().load("r")).unwrap(), None, "the budget is cleared");
}
