//! Behaviour section 5 on tokio: start, the start token, shutdown and its deadline,
//! each rule on paused time.

mod common;

use std::time::Duration;

use common::{Act, Fixture, at, secs};
use scheduler_core::clock::{Clock, Timer};
use scheduler_core::{Scheduler, Stopped};
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::waker::RecordingWaker;
use scheduler_tokio::{LoopState, SchedulerHandle, ShutdownError, StartError, TokioClock};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn starting_twice_is_a_no_op() {
    let f = Fixture::new(secs(15));
    let token = CancellationToken::new();
    assert_eq!(f.handle.start(&token), Ok(()));
    assert_eq!(f.handle.start(&token), Ok(()));
    // A second start with another token changes nothing either: cancelling that token
    // does not stop the loop.
    let other = CancellationToken::new();
    assert_eq!(f.handle.clone().start(&other), Ok(()));
    other.cancel();
    f.until(20).await;
    // One loop: one cycle at start and one tick, not two of each.
    assert_eq!(f.probe.started(), at(&[0, 15]));
    assert_eq!(f.handle.state(), LoopState::Running);
}

#[tokio::test(start_paused = true)]
async fn starting_after_shutdown_fails_with_stopped() {
    let f = Fixture::new(secs(15));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(1).await;
    f.handle.shutdown_within(secs(5)).await.unwrap();
    let err = f.handle.start(&CancellationToken::new()).unwrap_err();
    assert_eq!(err, StartError::Stopped(Stopped));
    assert_eq!(err.to_string(), "scheduler: stopped");
    f.until(60).await;
    assert_eq!(f.probe.started(), at(&[0]), "no cycle after shutdown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_before_start_stops_the_scheduler_for_good() {
    let f = Fixture::new(secs(15));
    assert_eq!(f.handle.state(), LoopState::NotStarted);
    assert_eq!(f.handle.shutdown_within(secs(1)).await, Ok(()));
    assert_eq!(f.handle.state(), LoopState::Stopped);
    assert_eq!(f.handle.start(&CancellationToken::new()), Err(StartError::Stopped(Stopped)));
    f.until(30).await;
    assert!(f.probe.started().is_empty());
}

#[tokio::test(start_paused = true)]
async fn starting_with_a_cancelled_token_fails_and_leaves_the_scheduler_startable() {
    let f = Fixture::new(secs(15));
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let err = f.handle.start(&cancelled).unwrap_err();
    assert_eq!(err, StartError::TokenCancelled);
    assert!(err.to_string().contains("already cancelled"), "{err}");
    assert_eq!(f.handle.state(), LoopState::NotStarted);
    f.until(20).await;
    assert!(f.probe.started().is_empty(), "nothing was started");
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(40).await;
    assert_eq!(f.probe.started(), at(&[20, 35]));
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_start_token_ends_the_loop_and_the_scheduler_counts_as_stopped() {
    let f = Fixture::new(secs(15));
    let token = CancellationToken::new();
    f.handle.start(&token).unwrap();
    f.until(20).await;
    token.cancel();
    assert!(matches!(f.handle.state(), LoopState::Stopping | LoopState::Stopped));
    tokio::time::timeout(secs(600), f.handle.stopped()).await.expect("the loop ended");
    assert_eq!(f.handle.state(), LoopState::Stopped);
    assert!(f.handle.is_stopped());
    f.until(100).await;
    assert_eq!(f.probe.started(), at(&[0, 15]), "no cycle after the token was cancelled");
    assert_eq!(f.handle.start(&CancellationToken::new()), Err(StartError::Stopped(Stopped)));
    assert!(!f.handle.run_now());
    assert_eq!(f.handle.shutdown_within(secs(1)).await, Ok(()));
}

#[tokio::test(start_paused = true)]
async fn shutdown_does_not_cancel_the_callers_token() {
    let f = Fixture::new(secs(15));
    let token = CancellationToken::new();
    f.handle.start(&token).unwrap();
    f.handle.shutdown_within(secs(1)).await.unwrap();
    assert!(f.handle.is_stopped());
    assert!(!token.is_cancelled(), "the daemon's token belongs to the daemon");
}

/// Section 8: shutdown does not wait for a slow cycle; the cycle in flight is
/// abandoned at its await point, counted and reported, and no cycle comes after it.
#[tokio::test(start_paused = true)]
async fn shutdown_abandons_the_cycle_in_flight() {
    let f = Fixture::new(secs(15));
    f.tasks.on_read(1, Act::Sleep(secs(100)));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(10).await;
    assert!(f.probe.ended().is_empty(), "the first cycle is still reading");

    assert_eq!(f.handle.shutdown_by(Instant::now() + secs(5)).await, Ok(()));
    assert_eq!(Instant::now(), f.start + secs(10), "returned at once");
    assert_eq!(f.handle.state(), LoopState::Stopped);
    let stats = f.handle.stats();
    assert_eq!((stats.cycles, stats.cycles_abandoned), (0, 1));
    assert_eq!(f.probe.ended(), at(&[10]), "the observer heard the abandonment");
    f.until(200).await;
    assert_eq!(f.probe.started(), at(&[0]));
}

/// A loop that cannot be polled at all (a seam blocking its thread) makes shutdown
/// pass its deadline; a later shutdown finishes once the loop runs again.
#[test]
fn shutdown_past_its_deadline_fails_and_can_be_called_again_to_finish() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_time().build().unwrap();
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    rt.block_on(async move {
        let f = Fixture::new(secs(15));
        let blocked = std::sync::Mutex::new(blocked);
        f.tasks.on_read_blocking(1, move || {
            entered_tx.send(()).unwrap();
            blocked.lock().unwrap().recv().unwrap();
        });
        f.handle.start(&CancellationToken::new()).unwrap();
        tokio::task::spawn_blocking(move || entered.recv().unwrap()).await.unwrap();

        let err = f.handle.shutdown_by(Instant::now() + Duration::from_millis(20)).await.unwrap_err();
        assert_eq!(err, ShutdownError::DeadlineElapsed);
        assert!(err.to_string().contains("call shutdown again"), "{err}");
        // The loop was told to stop: it takes no new work.
        assert_eq!(f.handle.state(), LoopState::Stopping);
        assert!(!f.handle.run_now());
        assert_eq!(f.handle.start(&CancellationToken::new()), Err(StartError::Stopped(Stopped)));

        release.send(()).unwrap();
        assert_eq!(f.handle.shutdown_by(Instant::now() + secs(60)).await, Ok(()));
        assert_eq!(f.handle.state(), LoopState::Stopped);
        assert_eq!(f.handle.stats().cycles, 1, "the unblocked cycle finished; no cycle came after it");
    });
}

#[tokio::test(start_paused = true)]
async fn shutdown_after_shutdown_succeeds_and_does_nothing() {
    let f = Fixture::new(secs(15));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(20).await;
    assert_eq!(f.handle.shutdown_within(secs(5)).await, Ok(()));
    let stats = f.handle.stats();
    // Even with a deadline already passed, a second (third) shutdown succeeds at once.
    assert_eq!(f.handle.shutdown_by(Instant::now()).await, Ok(()));
    assert_eq!(f.handle.clone().shutdown_within(Duration::ZERO).await, Ok(()));
    assert_eq!(Instant::now(), f.start + secs(20));
    assert_eq!(f.handle.stats(), stats);
    assert_eq!(f.handle.state(), LoopState::Stopped);
}

/// `shutdown()` has no deadline: it waits for the loop to end, which abandons a slow
/// cycle at once; the bounded forms are only needed when the loop may not be polled.
#[tokio::test(start_paused = true)]
async fn shutdown_without_a_deadline_waits_for_the_loop_to_end() {
    let f = Fixture::new(secs(15));
    f.tasks.on_read(1, Act::Sleep(secs(3600)));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(1).await;
    assert_eq!(f.handle.shutdown().await, Ok(()));
    assert_eq!(f.handle.state(), LoopState::Stopped);
    assert_eq!(Instant::now(), f.start + secs(1), "the slow cycle was abandoned, not waited for");
    assert_eq!(f.handle.stats().cycles_abandoned, 1);
    assert_eq!(f.handle.shutdown().await, Ok(()), "a second shutdown succeeds and does nothing");
}

#[tokio::test(start_paused = true)]
async fn concurrent_shutdowns_from_clones_all_wait_for_the_same_end() {
    let f = Fixture::new(secs(15));
    f.tasks.on_read(1, Act::Sleep(secs(30)));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(1).await;
    let (a, b) = (f.handle.clone(), f.handle.clone());
    let deadline = Instant::now() + secs(60);
    let (ra, rb) = tokio::join!(a.shutdown_by(deadline), b.shutdown_by(deadline));
    assert_eq!((ra, rb), (Ok(()), Ok(())));
    assert_eq!(Instant::now(), f.start + secs(1), "the slow cycle was abandoned");
    assert_eq!((f.handle.stats().cycles, f.handle.stats().cycles_abandoned), (0, 1));
}

#[test]
fn starting_outside_a_runtime_fails_with_no_runtime() {
    let scheduler = Scheduler::builder(ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::batch())
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let handle = SchedulerHandle::new(scheduler);
    assert_eq!(handle.start(&CancellationToken::new()), Err(StartError::NoRuntime));
    assert_eq!(handle.state(), LoopState::NotStarted);
}

#[test]
fn the_scheduler_counts_as_stopped_when_its_runtime_shuts_down() {
    let tasks = ScriptedTasks::new();
    let scheduler = Scheduler::builder(tasks.clone(), ScriptedSessions::new(), RecordingWaker::batch())
        .clock(TokioClock::new())
        .build()
        .unwrap();
    let handle = SchedulerHandle::new(scheduler);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    runtime.block_on(async {
        handle.start(&CancellationToken::new()).unwrap();
        tokio::task::yield_now().await;
    });
    assert_eq!(handle.state(), LoopState::Running);
    assert_eq!(tasks.recovery_calls().len(), 1, "the start cycle ran");
    drop(runtime);
    assert_eq!(handle.state(), LoopState::Stopped);
    // The loop was dropped, not shut down: nothing to report, and shutdown (on another
    // runtime) does not hang.
    let other = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    assert_eq!(other.block_on(handle.shutdown_within(secs(1))), Ok(()));
}

/// A clock whose timer panics: the loop dies outside any cycle.
#[derive(Clone)]
struct BrokenTimer(TokioClock);

impl Clock for BrokenTimer {
    fn now(&self) -> std::time::SystemTime {
        self.0.now()
    }
}

impl Timer for BrokenTimer {
    #[allow(clippy::manual_async_fn)]
    fn sleep(&self, _: Duration) -> impl Future<Output = ()> + Send {
        async { panic!("timer broke") }
    }
}

#[tokio::test(start_paused = true)]
async fn a_loop_panic_outside_a_cycle_stops_the_scheduler_and_is_reported_once() {
    let tasks = ScriptedTasks::new();
    let scheduler = Scheduler::builder(tasks.clone(), ScriptedSessions::new(), RecordingWaker::batch())
        .clock(BrokenTimer(TokioClock::new()))
        .build()
        .unwrap();
    let handle = SchedulerHandle::new(scheduler);
    handle.start(&CancellationToken::new()).unwrap();
    tokio::time::timeout(secs(600), handle.stopped()).await.expect("the loop ended");
    assert_eq!(handle.state(), LoopState::Stopped);
    assert_eq!(tasks.recovery_calls().len(), 1);
    assert_eq!(handle.stats().cycle_panics, 0, "not a cycle panic");
    assert_eq!(handle.shutdown().await, Err(ShutdownError::LoopPanicked("timer broke".into())));
    assert_eq!(handle.shutdown_within(secs(1)).await, Ok(()));
    assert_eq!(handle.start(&CancellationToken::new()), Err(StartError::Stopped(Stopped)));
}
