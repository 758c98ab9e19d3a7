//! The observer seam: every event of a cycle reaches the observer, with the ids it
//! concerns, in the order the cycle meets them.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::executor::block_on;
use scheduler_core::CycleCounts;
use scheduler_core::Scheduler;
use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::observer::{NoopObserver, Observer};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::escalation::RecordingActor;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{RecoveredLease, RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::MemoryStarvationStore;
use scheduler_testkit::waker::RecordingWaker;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Started(SystemTime),
    Recovered(String, String),
    Sent(String, String),
    Failed(String, String, String),
    Starved(String, String, Duration),
    Escalated(String, Tier),
    Error(String),
    Finished(CycleCounts),
}

#[derive(Default, Clone)]
struct Log(Arc<Mutex<Vec<Event>>>);

impl Log {
    fn push(&self, e: Event) {
        self.0.lock().unwrap().push(e);
    }
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Observer for Log {
    fn cycle_started(&self, now: SystemTime) {
        self.push(Event::Started(now));
    }
    fn lease_recovered(&self, run_id: &str, previous_session_id: &str) {
        self.push(Event::Recovered(run_id.into(), previous_session_id.into()));
    }
    fn wake_sent(&self, run_id: &str, session_id: &str) {
        self.push(Event::Sent(run_id.into(), session_id.into()));
    }
    fn wake_failed<E: std::error::Error>(&self, run_id: &str, session_id: &str, error: &E) {
        self.push(Event::Failed(run_id.into(), session_id.into(), error.to_string()));
    }
    fn run_starved(&self, run_id: &str, task_id: &str, queued_for: Duration) {
        self.push(Event::Starved(run_id.into(), task_id.into(), queued_for));
    }
    fn escalated(&self, run_id: &str, _task_id: &str, tier: Tier) {
        self.push(Event::Escalated(run_id.into(), tier));
    }
    fn cycle_error<E: std::error::Error>(&self, error: &E) {
        self.push(Event::Error(error.to_string()));
    }
    fn cycle_finished(&self, counts: &CycleCounts) {
        self.push(Event::Finished(*counts));
    }
}

#[test]
fn every_event_reaches_the_observer_in_cycle_order() {
    let clock = FakeClock::at_unix(1_700_000_000);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let (tasks, sessions, waker) = (ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::single());
    let (store, actor, log) = (MemoryStarvationStore::new(), RecordingActor::new(), Log::default());
    tasks.set_pending([
        RunSnapshot::queued(" run-a ", "task-a").queued_at(t0),
        RunSnapshot::queued("run-old", "task-old").queued_at(t0 - Duration::from_secs(600)),
    ]);
    sessions.set([SessionSnapshot::active("s1"), SessionSnapshot::active("s2")]);
    tasks.recover_next([RecoveredLease::new("run-x", " s9 ")]);
    waker.fail_session("s2");
    // run-old is starved with a budget one cycle short of every tier at once.
    let mut budget = Budget::fresh(t0);
    budget.wake_count = 9;
    store.insert("run-old", budget);

    let mut scheduler = Scheduler::builder(tasks, sessions, waker)
        .clock(clock)
        .starvation_store(store)
        .escalation_actor(actor)
        .observer(log.clone())
        .build()
        .unwrap();
    let report = block_on(scheduler.run_once());
    let counts = *report.counts();
    let wake_error = "injected failure in wake (call 2)".to_owned();

    assert_eq!(
        log.take(),
        [
            Event::Started(t0),
            Event::Recovered("run-x".into(), "s9".into()),
            Event::Starved("run-old".into(), "task-old".into(), Duration::from_secs(600)),
            // run-old is starved: fanned out to both sessions; s2 refuses.
            Event::Sent("run-old".into(), "s1".into()),
            Event::Failed("run-old".into(), "s2".into(), wake_error),
            Event::Escalated("run-old".into(), Tier::Spawn),
            Event::Escalated("run-old".into(), Tier::Event),
            Event::Escalated("run-old".into(), Tier::NeedsAttention),
            Event::Error("waking session \"s2\" for run \"run-old\" failed".into()),
            Event::Finished(counts),
        ]
    );
    assert_eq!((counts.wake_succeeded, counts.wake_failed, counts.no_match_runs), (1, 1, 1));
}

/// An observer that declines the per-run ladder events.
#[derive(Default, Clone)]
struct NoRunEvents(Log);

impl Observer for NoRunEvents {
    fn run_starved(&self, run_id: &str, task_id: &str, queued_for: Duration) {
        self.0.run_starved(run_id, task_id, queued_for);
    }
    fn wants_run_events(&self) -> bool {
        false
    }
    fn escalated(&self, run_id: &str, task_id: &str, tier: Tier) {
        self.0.escalated(run_id, task_id, tier);
    }
}

#[test]
fn run_events_are_reported_only_to_an_observer_that_wants_them() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let run = || RunSnapshot::queued("run-old", "task-old").queued_at(t0 - Duration::from_secs(600));
    let events = |log: &Log| {
        let events = log.take();
        let starved = events.iter().filter(|e| matches!(e, Event::Starved(..))).count();
        let escalated = events.iter().filter(|e| matches!(e, Event::Escalated(..))).count();
        (starved, escalated)
    };
    for wants in [true, false] {
        let (tasks, sessions, log) = (ScriptedTasks::new(), ScriptedSessions::new(), Log::default());
        tasks.set_pending([run()]);
        sessions.set([SessionSnapshot::active("s1")]);
        // A budget one cycle short of every tier: this cycle climbs all three.
        let store = MemoryStarvationStore::new();
        let mut budget = Budget::fresh(t0);
        budget.wake_count = 9;
        store.insert("run-old", budget);
        let builder = Scheduler::builder(tasks, sessions, RecordingWaker::single())
            .clock(FakeClock::at_unix(1_700_000_000))
            .ladder(store, RecordingActor::new());
        let counts = if wants {
            let mut s = builder.observer(log.clone()).build().unwrap();
            *block_on(s.run_once()).counts()
        } else {
            let mut s = builder.observer(NoRunEvents(log.clone())).build().unwrap();
            *block_on(s.run_once()).counts()
        };
        // The run is starved and climbs either way; only the events differ.
        assert_eq!((counts.starved_runs, counts.spawns_requested, counts.needs_attention_runs), (1, 1, 1));
        let expected = if wants { (1, 3) } else { (0, 0) };
        assert_eq!(events(&log), expected, "wants {wants}");
    }
    assert!(!NoopObserver.wants_run_events());
    assert!(!Arc::new(NoRunEvents::default()).wants_run_events(), "Arc forwards the answer");
    assert!(Arc::new(Log::default()).wants_run_events(), "the default is to want them");
}

#[test]
fn a_failed_snapshot_still_reports_its_errors_and_finishes() {
    let (tasks, sessions, waker, log) =
        (ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::single(), Log::default());
    sessions.faults().fail_next("sessions");
    let mut scheduler =
        Scheduler::builder(tasks, sessions, waker).clock(FakeClock::at_unix(10)).observer(log.clone()).build().unwrap();
    block_on(scheduler.run_once());
    let events = log.take();
    assert!(
        matches!(events.as_slice(), [Event::Started(_), Event::Error(e), Event::Finished(_)] if e == "reading sessions failed"),
        "{events:?}"
    );
}
