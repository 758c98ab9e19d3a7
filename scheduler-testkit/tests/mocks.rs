//! The `mockall` mocks drive the scheduler with expectations: every seam mocked, the
//! cycle's calls checked by argument, count and order.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mockall::Sequence;
use mockall::predicate::eq;
use scheduler_core::ladder::{Thresholds, Tier};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::MarkOutcome;
use scheduler_core::{Outcome, Scheduler};
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::mocks::{
    MockClock, MockEscalationActor, MockPauseStore, MockSessionSource, MockStarvationStore, MockTaskSource, MockWaker,
    ready,
};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs)
}

fn tasks_with(runs: Vec<RunSnapshot>) -> MockTaskSource {
    let mut tasks = MockTaskSource::new();
    tasks.expect_recover_expired_leases().returning(|_, _| ready(Ok(())));
    let runs: Vec<Arc<RunSnapshot>> = runs.into_iter().map(Arc::new).collect();
    tasks.expect_pending_runs().returning(move |out| {
        out.extend(runs.iter().cloned());
        ready(Ok(()))
    });
    tasks.expect_active_runs().returning(|_| ready(Ok(())));
    tasks
}

fn sessions_with(list: Vec<SessionSnapshot>) -> MockSessionSource {
    let mut sessions = MockSessionSource::new();
    let list: Vec<Arc<SessionSnapshot>> = list.into_iter().map(Arc::new).collect();
    sessions.expect_sessions().returning(move |out| {
        out.extend(list.iter().cloned());
        ready(Ok(()))
    });
    sessions
}

#[test]
fn a_cycle_sweeps_first_reads_the_clock_once_and_wakes_the_matching_session() {
    let mut seq = Sequence::new();
    let mut clock = MockClock::new();
    clock.expect_now().times(1).return_const(t(10));

    let mut tasks = MockTaskSource::new();
    tasks
        .expect_recover_expired_leases()
        .withf(|request, _| {
            request.now == t(10)
                && request.reason == "scheduler_sweep"
                && request.limit == 100
                && request.actor == "scheduler"
        })
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _| ready(Ok(())));
    tasks.expect_pending_runs().times(1).in_sequence(&mut seq).returning(|out| {
        out.push(Arc::new(RunSnapshot::queued("run-1", "task-1").caps(["rust"])));
        ready(Ok(()))
    });
    tasks.expect_active_runs().times(1).returning(|_| ready(Ok(())));
    tasks.expect_run_status().never();

    let sessions = sessions_with(vec![
        SessionSnapshot::active("sess-go").caps(["go"]),
        SessionSnapshot::active("sess-rust").caps(["rust"]),
    ]);

    let mut waker = MockWaker::new();
    waker
        .expect_wake()
        .withf(|target| {
            target.run.run_id == "run-1"
                && target.session.session_id == "sess-rust"
                && target.reason == "pending_task_run"
        })
        .times(1)
        .returning(|_| ready(Ok(())));

    let mut scheduler = Scheduler::builder(tasks, sessions, waker).clock(clock).build().unwrap();
    let report = futures::executor::block_on(scheduler.run_once());
    assert!(report.is_ok());
    assert_eq!(report.selected_run_ids().collect::<Vec<_>>(), ["run-1"]);
    // Expectations (counts, order) are verified as the scheduler drops the mocks.
}

#[test]
fn a_paused_cycle_sweeps_but_wakes_no_one() {
    let tasks = tasks_with(vec![RunSnapshot::queued("run-1", "task-1")]);
    let sessions = sessions_with(vec![SessionSnapshot::active("sess-1")]);
    let mut pause = MockPauseStore::new();
    pause.expect_is_paused().times(1).returning(|| ready(Ok(true)));
    let mut waker = MockWaker::new();
    waker.expect_wake().never();

    let mut scheduler = Scheduler::builder(tasks, sessions, waker).pause_store(pause).build().unwrap();
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!(report.outcome(), Outcome::Paused);
    assert!(report.counts().paused);
}

#[test]
fn an_unreadable_pause_flag_fails_closed() {
    let tasks = tasks_with(vec![RunSnapshot::queued("run-1", "task-1")]);
    let sessions = sessions_with(vec![SessionSnapshot::active("sess-1")]);
    let mut pause = MockPauseStore::new();
    pause.expect_is_paused().returning(|| ready(Err(FakeError { op: "is_paused", call: 1 })));
    let mut waker = MockWaker::new();
    waker.expect_wake().never();

    let mut scheduler = Scheduler::builder(tasks, sessions, waker).pause_store(pause).build().unwrap();
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!(report.outcome(), Outcome::PauseUnreadable);
    assert_eq!(report.errors().len(), 1);
}

#[test]
fn a_starved_run_loads_advances_and_saves_its_budget() {
    // Starved (queued an hour ago), no eligible session: the ladder's first rung.
    let mut tasks = tasks_with(vec![RunSnapshot::queued("run-s", "task-s").caps(["gpu"]).queued_at(t(0))]);
    tasks.expect_run_status().with(eq("run-s")).times(1).returning(|_| ready(Ok(Some(RunStatus::Queued))));
    let sessions = sessions_with(vec![SessionSnapshot::active("sess-cpu").caps(["rust"])]);
    let mut waker = MockWaker::new();
    waker.expect_wake().never();

    let mut clock = MockClock::new();
    clock.expect_now().return_const(t(3_600));

    let mut store = MockStarvationStore::new();
    store.expect_load().with(eq("run-s")).times(1).returning(|_| ready(Ok(None)));
    store
        .expect_upsert()
        .withf(|run_id, b| {
            run_id == "run-s" && b.wake_count == 1 && b.tier == Tier::FanOut && b.first_starved_at == t(3_600)
        })
        .times(1)
        .returning(|_, _| ready(Ok(())));
    store.expect_list().times(1).returning(|_| ready(Ok(())));
    store.expect_clear().never();

    let mut actor = MockEscalationActor::new();
    actor.expect_request_spawn().never();
    actor.expect_emit_starved().never();
    actor.expect_mark_needs_attention().never();

    let mut scheduler = Scheduler::builder(tasks, sessions, waker)
        .clock(clock)
        .starvation_thresholds(
            Thresholds::default()
                .fan_out_after(1)
                .spawn_after(2)
                .event_after(3)
                .needs_attention_after(4)
                .min_queued_age(Duration::from_secs(60)),
        )
        .starvation_store(store)
        .escalation_actor(actor)
        .build()
        .unwrap();
    let report = futures::executor::block_on(scheduler.run_once());
    assert!(report.is_ok(), "{:?}", report.to_result().errors);
    assert_eq!(report.starved_run_ids().collect::<Vec<_>>(), ["run-s"]);
}

#[test]
fn an_invalid_transition_at_the_top_of_the_ladder_clears_the_budget() {
    let mut tasks = tasks_with(vec![RunSnapshot::queued("run-s", "task-s").caps(["gpu"]).queued_at(t(0))]);
    tasks.expect_run_status().returning(|_| ready(Ok(Some(RunStatus::Queued))));
    let sessions = sessions_with(vec![]);
    let waker = MockWaker::new();
    let mut clock = MockClock::new();
    clock.expect_now().return_const(t(3_600));

    let th = Thresholds::default()
        .fan_out_after(1)
        .spawn_after(1)
        .event_after(1)
        .needs_attention_after(1)
        .min_queued_age(Duration::from_secs(60));
    let mut store = MockStarvationStore::new();
    store.expect_load().returning(|_| ready(Ok(None)));
    store.expect_upsert().never();
    store.expect_list().returning(|_| ready(Ok(())));
    store.expect_clear().with(eq("run-s")).times(1).returning(|_| ready(Ok(())));

    let mut actor = MockEscalationActor::new();
    // Every call carries the cycle's time, read from the scheduler's clock.
    actor
        .expect_request_spawn()
        .withf(|_, now| *now == t(3_600))
        .times(1)
        .returning(|_, _| ready(Ok(scheduler_core::seam::SpawnOutcome::Requested)));
    actor
        .expect_emit_starved()
        .withf(|_, age, now| *age == Duration::from_secs(3_600) && *now == t(3_600))
        .times(1)
        .returning(|_, _, _| ready(Ok(())));
    actor
        .expect_mark_needs_attention()
        .withf(|run, diagnostic, now| {
            run.run_id == "run-s"
                && diagnostic == "run queued 3600s without a claim after 1 escalation cycles"
                && *now == t(3_600)
        })
        .times(1)
        .returning(|_, _, _| ready(Ok(MarkOutcome::InvalidTransition)));

    let mut scheduler = Scheduler::builder(tasks, sessions, waker)
        .clock(clock)
        .starvation_thresholds(th)
        .ladder(store, actor)
        .build()
        .unwrap();
    let report = futures::executor::block_on(scheduler.run_once());
    assert!(report.is_ok(), "{:?}", report.to_result().errors);
    assert_eq!(report.counts().needs_attention_runs, 0, "an invalid transition is benign and counts nothing");
}

#[test]
#[should_panic(expected = "MockWaker::wake")]
fn a_violated_expectation_fails_the_test() {
    let tasks = tasks_with(vec![RunSnapshot::queued("run-1", "task-1")]);
    let sessions = sessions_with(vec![SessionSnapshot::active("sess-1")]);
    let mut waker = MockWaker::new();
    waker.expect_wake().never();
    let mut scheduler = Scheduler::builder(tasks, sessions, waker).build().unwrap();
    let _ = futures::executor::block_on(scheduler.run_once());
}
