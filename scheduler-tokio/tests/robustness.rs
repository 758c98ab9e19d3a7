//! Behaviour section 8 on tokio, on paused time: `run_now` does not speed up the ladder;
//! a hung seam neither hangs the loop nor its shutdown. No real time passes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{secs, t0};
use scheduler_core::Scheduler;
use scheduler_core::ladder::Thresholds;
use scheduler_core::observer::Observer;
use scheduler_core::seam::{EscalationActor, MarkOutcome, SpawnOutcome};
use scheduler_core::view::RunView;
use scheduler_testkit::escalation::{EscalationCall, RecordingActor};
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::MemoryStarvationStore;
use scheduler_testkit::waker::RecordingWaker;
use scheduler_tokio::{LoopState, SchedulerHandle, TokioClock};
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(15);

/// A run queued ten minutes before `t0` (starved from the first cycle) that needs a
/// capability no session has, and one session.
fn world() -> (ScriptedTasks, ScriptedSessions) {
    let tasks = ScriptedTasks::new();
    tasks.push_pending(RunSnapshot::queued("r1", "t1").caps(["mainframe"]).queued_at(t0() - secs(600)));
    let sessions = ScriptedSessions::new();
    sessions.set([SessionSnapshot::active("s1").caps(["rust"])]);
    (tasks, sessions)
}

/// A [`RecordingActor`] whose spawn requests never answer.
#[derive(Clone, Default)]
struct HungSpawn(RecordingActor);

impl<R: RunView + Sync> EscalationActor<R> for HungSpawn {
    type Error = FakeError;

    async fn request_spawn(&self, _: &R, _: SystemTime) -> Result<SpawnOutcome, FakeError> {
        std::future::pending().await
    }
    async fn emit_starved(&self, run: &R, age: Duration, now: SystemTime) -> Result<(), FakeError> {
        EscalationActor::<R>::emit_starved(&self.0, run, age, now).await
    }
    async fn mark_needs_attention(&self, run: &R, diagnostic: &str, now: SystemTime) -> Result<MarkOutcome, FakeError> {
        EscalationActor::<R>::mark_needs_attention(&self.0, run, diagnostic, now).await
    }
}

/// Records every cycle error's text.
#[derive(Clone, Default)]
struct Errors(Arc<Mutex<Vec<String>>>);

impl Observer for Errors {
    fn cycle_error<E: std::error::Error>(&self, error: &E) {
        self.0.lock().unwrap().push(error.to_string());
    }
}

/// A scheduler over [`world`] whose spawn requests hang, spawn tier due at the first
/// cycle, with the given seam deadline.
fn hung_spawn(seam_timeout: Duration, errors: Errors) -> SchedulerHandle {
    let (tasks, sessions) = world();
    let scheduler = Scheduler::builder(tasks, sessions, RecordingWaker::batch())
        .clock(TokioClock::anchored_at(t0()))
        .interval(INTERVAL)
        .starvation_thresholds(
            Thresholds::default()
                .fan_out_after(1)
                .spawn_after(1)
                .event_after(5)
                .needs_attention_after(10)
                .min_queued_age(secs(120)),
        )
        .seam_timeout(seam_timeout)
        .observer(errors)
        .ladder(MemoryStarvationStore::new(), HungSpawn::default())
        .build()
        .unwrap();
    SchedulerHandle::new(scheduler)
}

#[tokio::test(start_paused = true)]
async fn run_now_every_200ms_does_not_mark_a_starved_run_before_nine_intervals() {
    let (tasks, sessions) = world();
    let actor = RecordingActor::new();
    let scheduler = Scheduler::builder(tasks, sessions, RecordingWaker::batch())
        .clock(TokioClock::anchored_at(t0()))
        .interval(INTERVAL)
        .ladder(MemoryStarvationStore::new(), actor.clone())
        .build()
        .unwrap();
    let handle = SchedulerHandle::new(scheduler);
    handle.start(&CancellationToken::new()).unwrap();
    // The run is a candidate from the first cycle, at t0. A client asks for a cycle
    // every 200 ms (after every enqueue, say) for twelve intervals.
    for _ in 0..(12 * 15 * 5) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(handle.run_now());
    }
    let stats = handle.stats();
    assert!(stats.on_demand_cycles > 800, "the requests ran cycles: {stats:?}");
    let calls = actor.calls();
    let first_mark = calls.iter().position(|c| matches!(c, EscalationCall::NeedsAttention { .. }));
    let marked_at = actor.call_times()[first_mark.expect("marked within twelve intervals")];
    assert!(marked_at >= t0() + 9 * INTERVAL, "marked {:?} after starving", marked_at.duration_since(t0()));
    assert!(marked_at <= t0() + 10 * INTERVAL, "the ladder still climbs once per interval");
    let first_spawn = calls.iter().position(|c| matches!(c, EscalationCall::Spawn { .. })).unwrap();
    assert!(actor.call_times()[first_spawn] >= t0() + 3 * INTERVAL, "the spawn tier waited too");
}

#[tokio::test(start_paused = true)]
async fn shutdown_completes_within_its_deadline_while_a_spawn_request_hangs() {
    // The seam deadline is an hour: shutdown must not rely on it.
    let handle = hung_spawn(secs(3600), Errors::default());
    handle.start(&CancellationToken::new()).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(handle.stats().cycles, 0, "the first cycle hangs in the spawn request");

    assert_eq!(handle.shutdown_within(secs(1)).await, Ok(()));
    assert_eq!(handle.state(), LoopState::Stopped);
    let stats = handle.stats();
    assert_eq!((stats.cycles, stats.cycles_abandoned), (0, 1));
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_start_token_ends_a_hung_loop() {
    let handle = hung_spawn(secs(3600), Errors::default());
    let token = CancellationToken::new();
    handle.start(&token).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    token.cancel();
    let ended = tokio::time::timeout(secs(1), handle.stopped()).await;
    assert!(ended.is_ok(), "the loop ended");
    assert_eq!(handle.state(), LoopState::Stopped);
    assert_eq!(handle.stats().cycles_abandoned, 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_spawn_times_out_and_the_loop_goes_on() {
    let errors = Errors::default();
    let handle = hung_spawn(secs(2), errors.clone());
    handle.start(&CancellationToken::new()).unwrap();
    tokio::time::sleep(secs(20)).await;
    // Cycles at 0 and 15, each cut short after 2 s in the spawn request.
    let stats = handle.stats();
    assert_eq!((stats.cycles, stats.cycles_abandoned), (2, 0));
    let errors = errors.0.lock().unwrap().clone();
    let want = "escalation actor: spawn request for run \"r1\" did not answer within 2s";
    assert_eq!(errors, [want, want]);
    handle.shutdown_within(secs(1)).await.unwrap();
}
