//! The `tracing` feature: a span per cycle, and an event per wake, recovery, starvation
//! and escalation with the ids as fields.
#![cfg(feature = "tracing")]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::executor::block_on;
use scheduler_core::Scheduler;
use scheduler_core::observer::TracingObserver;
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{RecoveredLease, RunSnapshot, SessionSnapshot};
use scheduler_testkit::waker::RecordingWaker;

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn cycle_span_and_events_carry_ids() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();

    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let (tasks, sessions) = (ScriptedTasks::new(), ScriptedSessions::new());
    tasks.set_pending([RunSnapshot::queued("run-7", "task-7").queued_at(t0 - Duration::from_secs(300))]);
    tasks.recover_next([RecoveredLease::new("run-3", "sess-dead")]);
    sessions.set([SessionSnapshot::active("sess-1")]);
    let mut scheduler = Scheduler::builder(tasks, sessions, RecordingWaker::batch())
        .clock(FakeClock::new(t0))
        .observer(TracingObserver)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || block_on(scheduler.run_once()));

    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    for needle in [
        "scheduler.cycle",
        "lease recovered",
        "run_id=\"run-3\"",
        "previous_session_id=\"sess-dead\"",
        "run starved",
        "task_id=\"task-7\"",
        "wake sent",
        "session_id=\"sess-1\"",
        "cycle finished",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

/// Runs one cycle where `run-gpu` matches no session, under a subscriber at `level`;
/// returns what it printed.
fn not_woken_output(level: tracing::Level) -> String {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(level).with_ansi(false).with_writer(move || writer.clone()).finish();
    let (tasks, sessions) = (ScriptedTasks::new(), ScriptedSessions::new());
    tasks.set_pending([RunSnapshot::queued("run-gpu", "task-gpu").caps(["gpu"])]);
    sessions.set([SessionSnapshot::active("sess-1")]);
    let mut scheduler = Scheduler::builder(tasks, sessions, RecordingWaker::batch())
        .clock(FakeClock::at_unix(1_000_000))
        .observer(TracingObserver)
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || block_on(scheduler.run_once()));
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn runs_not_woken_are_explained_at_debug_level() {
    let out = not_woken_output(tracing::Level::DEBUG);
    for needle in ["run not woken", "run_id=\"run-gpu\"", "reason=\"no_session_with_capabilities\""] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
    let out = not_woken_output(tracing::Level::INFO);
    assert!(!out.contains("run not woken"), "explained although debug is off:\n{out}");
}
