//! `RecordingWaker`: `attempts` records every wake tried, `delivered` only the ones
//! that succeeded, one by one and in batches.

use futures::executor::block_on;
use scheduler_core::Scheduler;
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
use scheduler_testkit::waker::RecordingWaker;

/// One cycle waking `run-a` -> `sess-1` and `run-b` -> `sess-2` through `waker`.
fn wake_two(waker: &RecordingWaker) {
    let (tasks, sessions) = (ScriptedTasks::new(), ScriptedSessions::new());
    tasks.set_pending([RunSnapshot::queued("run-a", "task-a"), RunSnapshot::queued("run-b", "task-b")]);
    sessions.set([SessionSnapshot::active("sess-1"), SessionSnapshot::active("sess-2")]);
    let mut scheduler =
        Scheduler::builder(tasks, sessions, waker.clone()).clock(FakeClock::at_unix(1_000)).build().unwrap();
    block_on(scheduler.run_once());
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(r, s)| ((*r).to_owned(), (*s).to_owned())).collect()
}

#[test]
fn a_refused_wake_is_an_attempt_not_a_delivery() {
    for waker in [RecordingWaker::single(), RecordingWaker::batch()] {
        waker.fail_run("run-b");
        wake_two(&waker);
        assert_eq!(waker.attempted_pairs(), pairs(&[("run-a", "sess-1"), ("run-b", "sess-2")]));
        assert_eq!(waker.delivered_pairs(), pairs(&[("run-a", "sess-1")]));
        assert_eq!(waker.delivered().len(), 1);
        assert_eq!(waker.attempts().len(), 2);
    }
}

#[test]
fn a_failed_batch_call_delivers_nothing() {
    let waker = RecordingWaker::batch();
    waker.faults().fail_next("wake_batch");
    wake_two(&waker);
    assert_eq!(waker.attempts().len(), 2);
    assert!(waker.delivered().is_empty());
}

#[test]
fn a_batch_of_the_wrong_length_delivers_nothing() {
    let waker = RecordingWaker::batch();
    waker.batch_result_len(1);
    wake_two(&waker);
    assert_eq!(waker.attempts().len(), 2);
    assert!(waker.delivered().is_empty(), "{:?}", waker.delivered());
}

#[test]
fn clear_forgets_attempts_and_deliveries() {
    let waker = RecordingWaker::single();
    wake_two(&waker);
    assert_eq!(waker.delivered().len(), 2);
    waker.clear();
    assert!(waker.attempts().is_empty() && waker.delivered().is_empty());
}
