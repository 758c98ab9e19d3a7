//! Behaviour section 8: how the cycle behaves when the world misbehaves. One test (or a
//! few) per rule, through the public API, on a fake clock. No real time passes.
//!
//! The loop-level rules on tokio (`run_now` every 200 ms, a hung spawn at shutdown) are
//! in `scheduler-tokio/tests/robustness.rs`.

mod common;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use common::{Expected, Rig, at, cycle, debug_all, mins, secs};
use scheduler_core::ladder::{Budget, Thresholds};
use scheduler_core::model::{Priority, RunStatus};
use scheduler_core::observer::Observer;
use scheduler_core::seam::{EscalationActor, MarkOutcome, PauseStore, SessionSource, SpawnOutcome};
use scheduler_core::view::RunView;
use scheduler_core::{BuildError, Call, Concern, CycleKind, Outcome, Settings};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::escalation::{EscalationCall, RecordingActor};
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

// ---- fixtures ----

/// Polls `fut` to completion, advancing the fake clock by `step` whenever it waits (a
/// seam deadline is a sleep on that clock).
fn drive<F: Future>(fut: F, clock: &FakeClock, step: Duration) -> F::Output {
    let mut fut = pin!(fut);
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    for _ in 0..1_000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        clock.advance(step);
    }
    panic!("the cycle never finished");
}

/// Whether `fut` is still pending after one poll.
fn stays_pending<F: Future>(fut: F) -> bool {
    let waker = futures::task::noop_waker();
    pin!(fut).poll(&mut Context::from_waker(&waker)).is_pending()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Hang,
    Panic,
}

/// A [`RecordingActor`] with a trap: operation `op` for run `run` hangs or panics
/// (after being recorded by nothing: the inner actor never sees the trapped call).
#[derive(Clone)]
struct Trap {
    inner: RecordingActor,
    op: &'static str,
    run: &'static str,
    act: Act,
}

impl Trap {
    async fn spring<R: RunView>(&self, op: &'static str, run: &R) {
        if op == self.op && run.run_id().trim() == self.run {
            match self.act {
                Act::Hang => std::future::pending::<()>().await,
                Act::Panic => panic!("{op} exploded for {}", self.run),
            }
        }
    }
}

impl<R: RunView + Sync> EscalationActor<R> for Trap {
    type Error = FakeError;

    async fn request_spawn(&self, run: &R, now: SystemTime) -> Result<SpawnOutcome, FakeError> {
        self.spring("request_spawn", run).await;
        EscalationActor::<R>::request_spawn(&self.inner, run, now).await
    }
    async fn emit_starved(&self, run: &R, age: Duration, now: SystemTime) -> Result<(), FakeError> {
        self.spring("emit_starved", run).await;
        EscalationActor::<R>::emit_starved(&self.inner, run, age, now).await
    }
    async fn mark_needs_attention(&self, run: &R, diagnostic: &str, now: SystemTime) -> Result<MarkOutcome, FakeError> {
        self.spring("mark_needs_attention", run).await;
        EscalationActor::<R>::mark_needs_attention(&self.inner, run, diagnostic, now).await
    }
}

/// A pause store that never answers.
struct HungPause;

impl PauseStore for HungPause {
    type Error = FakeError;
    async fn is_paused(&self) -> Result<bool, FakeError> {
        std::future::pending().await
    }
}

/// Sessions that never answer.
struct HungSessions;

impl SessionSource for HungSessions {
    type Session = Arc<SessionSnapshot>;
    type Error = FakeError;
    async fn sessions(&self, _: &mut Vec<Arc<SessionSnapshot>>) -> Result<(), FakeError> {
        std::future::pending().await
    }
}

/// Records the duplicate and abandonment events.
#[derive(Clone, Default)]
struct Events(Arc<Mutex<Vec<String>>>);

impl Events {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap())
    }
}

impl Observer for Events {
    fn duplicate_run_ignored(&self, run_id: &str) {
        self.0.lock().unwrap().push(format!("duplicate run {run_id}"));
    }
    fn duplicate_session_ignored(&self, session_id: &str) {
        self.0.lock().unwrap().push(format!("duplicate session {session_id}"));
    }
    fn cycle_abandoned(&self, started: SystemTime) {
        self.0.lock().unwrap().push(format!("abandoned {started:?}"));
    }
}

/// A rig whose run `id` was queued ten minutes before the clock's start (starved).
fn starved(rig: &Rig, id: &str) {
    rig.tasks.push_pending(RunSnapshot::queued(id, format!("task-{id}")).queued_at(rig.ago(mins(10))));
}

fn trap(rig: &Rig, op: &'static str, run: &'static str, act: Act) -> Trap {
    Trap { inner: rig.actor.clone(), op, run, act }
}

fn spawns_of(actor: &RecordingActor, run: &str) -> usize {
    actor.calls().iter().filter(|c| matches!(c, EscalationCall::Spawn { run_id } if run_id == run)).count()
}

fn marked(actor: &RecordingActor) -> Vec<String> {
    actor
        .calls()
        .into_iter()
        .filter_map(|c| match c {
            EscalationCall::NeedsAttention { run_id, .. } => Some(run_id),
            _ => None,
        })
        .collect()
}

fn timed_out(call: Call, concern: Concern, after: Duration) -> String {
    format!("{:?}", Expected::TimedOut { call, concern, after })
}

// ---- on-demand cycles do not speed up the ladder ----

#[test]
fn on_demand_cycles_wake_and_fan_out_but_climb_nothing() {
    let rig = Rig::new();
    starved(&rig, "r1");
    rig.sessions.set([SessionSnapshot::active("s1"), SessionSnapshot::active("s2")]);
    let mut s = rig.build_ladder();
    for _ in 0..20 {
        let report = drive(s.run_cycle(CycleKind::OnDemand), &rig.clock, secs(1));
        assert_eq!(report.kind(), CycleKind::OnDemand);
        assert_eq!(report.counts().wake_attempts, 2, "the starved run fans out");
        assert_eq!(report.starved_run_ids().collect::<Vec<_>>(), ["r1"]);
        rig.clock.advance(Duration::from_millis(200));
    }
    assert!(rig.store.rows().is_empty(), "no budget advanced");
    assert_eq!(rig.store.round_trips(), 0, "the ladder was not even read");
    assert!(rig.actor.calls().is_empty(), "nothing escalated");
    assert_eq!(s.stats().on_demand_cycles, 20);

    // An interval cycle, and a direct `run_once`, climb.
    drive(s.run_cycle(CycleKind::Interval), &rig.clock, secs(1));
    assert_eq!(rig.store.get("r1").map(|b| b.wake_count), Some(1));
    cycle(&mut s);
    assert_eq!(rig.store.get("r1").map(|b| b.wake_count), Some(2));
    assert_eq!(s.stats().on_demand_cycles, 20);
}

// ---- no seam can hang the loop ----

#[test]
fn the_seam_deadline_defaults_to_ten_seconds_and_is_a_setting() {
    let rig = Rig::new();
    assert_eq!(Settings::DEFAULT_SEAM_TIMEOUT, secs(10));
    assert_eq!(rig.build().settings().seam_timeout(), secs(10));
    assert_eq!(rig.builder().seam_timeout(secs(3)).build().unwrap().settings().seam_timeout(), secs(3));
    assert_eq!(rig.builder().seam_timeout(Duration::ZERO).build().unwrap().settings().seam_timeout(), secs(10));
}

#[test]
fn a_hung_spawn_times_out_naming_seam_and_run_and_the_cycle_goes_on() {
    let rig = Rig::new();
    starved(&rig, "r1");
    starved(&rig, "r2");
    let th = Thresholds::default()
        .fan_out_after(1)
        .spawn_after(1)
        .event_after(1)
        .needs_attention_after(5)
        .min_queued_age(mins(2));
    let mut s = rig
        .builder()
        .starvation_thresholds(th)
        .seam_timeout(secs(3))
        .ladder(rig.store.clone(), trap(&rig, "request_spawn", "r1", Act::Hang))
        .build()
        .unwrap();
    let report = drive(s.run_cycle(CycleKind::Interval), &rig.clock, secs(1));
    assert_eq!(report.outcome(), Outcome::Completed);
    assert_eq!(debug_all(report.errors()), [timed_out(Call::RequestSpawn, Concern::Run("r1".into()), secs(3))]);
    let text = report.errors()[0].to_string();
    assert!(text.contains("spawn request") && text.contains("\"r1\"") && text.contains("3s"), "{text}");
    assert_eq!(report.errors()[0].run_id(), Some("r1"));
    // The other candidate climbed; r1's later tier still ran; both budgets were saved,
    // r1's without a spawn, so the next interval cycle asks again.
    assert_eq!(report.spawn_requested_run_ids().collect::<Vec<_>>(), ["r2"]);
    assert_eq!(rig.actor.calls().iter().filter(|c| matches!(c, EscalationCall::Starved { .. })).count(), 2);
    let r1 = rig.store.get("r1").expect("r1's budget saved");
    assert_eq!((r1.wake_count, r1.spawn_requested_at), (1, None));
    assert!(rig.store.get("r2").unwrap().spawn_requested_at.is_some());
}

#[test]
fn a_hung_pause_read_times_out_and_fails_closed() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1"));
    rig.sessions.set([SessionSnapshot::active("s1")]);
    let mut s = rig.builder().pause_store(HungPause).build().unwrap();
    let report = drive(s.run_cycle(CycleKind::Interval), &rig.clock, secs(5));
    assert_eq!(report.outcome(), Outcome::PauseUnreadable);
    assert_eq!(debug_all(report.errors()), [timed_out(Call::Pause, Concern::Cycle, secs(10))]);
    assert!(rig.waker.attempts().is_empty(), "no wake past an unreadable pause flag");
    assert_eq!(s.stats().cycles, 1, "counted, like a failed read");
}

#[test]
fn a_hung_snapshot_read_ends_the_cycle_like_a_failed_read() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1"));
    let mut s = scheduler_core::Scheduler::builder(rig.tasks.clone(), HungSessions, rig.waker.clone())
        .clock(rig.clock.clone())
        .build()
        .unwrap();
    let report = drive(s.run_cycle(CycleKind::Interval), &rig.clock, secs(5));
    assert_eq!(report.outcome(), Outcome::SnapshotFailed);
    assert_eq!(debug_all(report.errors()), [timed_out(Call::Sessions, Concern::Cycle, secs(10))]);
    assert_eq!(s.stats().cycles, 0, "not counted");
}

#[test]
fn run_once_has_no_deadline_without_a_timer() {
    // `run_once` works with any clock; on a hung seam it waits (the caller bounds it).
    let rig = Rig::new();
    let mut s = rig.builder().pause_store(HungPause).build().unwrap();
    let mut once = Box::pin(s.run_once());
    assert!(stays_pending(once.as_mut()));
    rig.clock.advance(mins(60));
    assert!(stays_pending(once.as_mut()), "no deadline fired");
}

// ---- shutdown abandons a hung cycle ----

#[test]
fn shutdown_abandons_a_cycle_hung_in_a_seam_and_reports_it() {
    let rig = Rig::new();
    starved(&rig, "r1");
    let events = Events::default();
    let mut s = rig
        .builder()
        .starvation_thresholds(
            Thresholds::default()
                .fan_out_after(1)
                .spawn_after(1)
                .event_after(1)
                .needs_attention_after(1)
                .min_queued_age(mins(2)),
        )
        .seam_timeout(mins(60))
        .observer(events.clone())
        .ladder(rig.store.clone(), trap(&rig, "request_spawn", "r1", Act::Hang))
        .build()
        .unwrap();
    let stats = s.stats_handle();
    let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    let mut run = Box::pin(s.run_until(async move {
        let _ = stopped.await;
    }));
    assert!(stays_pending(run.as_mut()), "the first cycle hangs in the spawn request");
    stop.send(()).unwrap();
    assert!(!stays_pending(run.as_mut()), "the loop ended at once");
    let st = stats.snapshot();
    assert_eq!((st.cycles, st.cycles_abandoned), (0, 1));
    assert_eq!(events.take(), [format!("abandoned {:?}", at(Duration::ZERO))]);
}

// ---- a panic is one failure, not a lost cycle ----

#[test]
fn a_panic_in_one_candidates_event_tier_leaves_the_others_climbing_and_spawns_it_once() {
    let rig = Rig::new();
    for id in ["r1", "r2", "r3"] {
        starved(&rig, id);
    }
    let mut s = rig.builder().ladder(rig.store.clone(), trap(&rig, "emit_starved", "r2", Act::Panic)).build().unwrap();
    for k in 1..=10u32 {
        let c = cycle(&mut s);
        let panicked: Vec<&String> = c.errors.iter().filter(|e| e.contains("Panicked")).collect();
        if k >= 6 {
            // The event tier of r2 panics every cycle from the event threshold on.
            assert_eq!(c.errors.len(), 1, "cycle {k}: {:?}", c.errors);
            let want = Expected::Panicked {
                call: Call::EmitStarved,
                concern: Concern::Run("r2".into()),
                message: "emit_starved exploded for r2".into(),
            };
            assert_eq!(panicked, [&format!("{want:?}")], "cycle {k}");
        } else {
            assert!(c.errors.is_empty(), "cycle {k}: {:?}", c.errors);
        }
        if k < 10 {
            for id in ["r1", "r2", "r3"] {
                assert_eq!(rig.store.get(id).map(|b| b.wake_count), Some(k), "cycle {k}: {id}'s budget saved");
            }
        }
        rig.clock.advance(secs(15));
    }
    for id in ["r1", "r2", "r3"] {
        assert_eq!(spawns_of(&rig.actor, id), 1, "{id}: one spawn request");
    }
    assert_eq!(marked(&rig.actor), ["r1", "r2", "r3"], "every run reached needs-attention");
    assert_eq!(s.stats().cycle_panics, 0, "contained at the call");
}

#[test]
fn a_panicking_wake_fails_its_targets_naming_run_and_session_and_the_cycle_goes_on() {
    let rig = Rig::new();
    for id in ["r1", "r2"] {
        rig.tasks.push_pending(RunSnapshot::queued(id, "t"));
    }
    rig.sessions.set([SessionSnapshot::active("s1"), SessionSnapshot::active("s2")]);
    let mut s = scheduler_core::Scheduler::builder(rig.tasks.clone(), rig.sessions.clone(), PanickyWaker)
        .clock(rig.clock.clone())
        .build()
        .unwrap();
    let c = cycle(&mut s);
    assert_eq!(c.outcome(), Outcome::Completed);
    assert_eq!((c.result.counts.wake_attempts, c.result.counts.wake_failed), (2, 2));
    let want = |run: &str, session: &str| {
        let concern = Concern::Wake { run_id: run.into(), session_id: session.into() };
        format!("{:?}", Expected::Panicked { call: Call::Wake, concern, message: "waker exploded".into() })
    };
    assert_eq!(c.errors, [want("r1", "s1"), want("r2", "s2")]);
    assert_eq!(s.stats().cycles, 1);
}

/// A waker that panics.
struct PanickyWaker;

impl<R: Sync, S: Sync> scheduler_core::seam::Waker<R, S> for PanickyWaker {
    type Error = FakeError;
    async fn wake(&self, _: scheduler_core::seam::WakeTarget<'_, R, S>) -> Result<(), FakeError> {
        panic!("waker exploded")
    }
}

// ---- the wall clock may step back ----

#[test]
fn a_cooldown_stamp_later_than_now_does_not_hold_its_pair() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1"));
    rig.sessions.set([SessionSnapshot::active("s1")]);
    let mut s = rig.builder().wake_cooldown(mins(1)).build().unwrap();
    assert_eq!(cycle(&mut s).result.counts.wake_succeeded, 1);
    rig.clock.advance(secs(10));
    let held = cycle(&mut s).result.counts;
    assert_eq!((held.wake_succeeded, held.recently_notified_runs), (0, 1), "in its cooldown");
    // The wall clock steps back an hour: the stamp lies in the future and holds nothing.
    rig.clock.set(rig.ago(mins(60)));
    let c = cycle(&mut s).result.counts;
    assert_eq!((c.wake_succeeded, c.recently_notified_runs), (1, 0), "woken again at once");
    // The new stamp holds as usual.
    rig.clock.advance(secs(10));
    assert_eq!(cycle(&mut s).result.counts.recently_notified_runs, 1);
}

#[test]
fn ladder_arithmetic_survives_a_backwards_step() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(mins(180))));
    let th = Thresholds::default()
        .fan_out_after(1)
        .spawn_after(2)
        .event_after(3)
        .needs_attention_after(4)
        .min_queued_age(mins(2));
    let mut s = rig.builder().starvation_thresholds(th).ladder(rig.store.clone(), rig.actor.clone()).build().unwrap();
    cycle(&mut s);
    rig.clock.advance(secs(15));
    cycle(&mut s);
    // Back 170 minutes: the budget's times lie in the future; the run is still starved.
    rig.clock.set(rig.ago(mins(170)));
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let b = rig.store.get("r1").unwrap();
    assert_eq!(b.wake_count, 3);
    assert!(b.first_starved_at > rig.now() && b.last_wake_at == rig.now());
    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert_eq!(c.result.needs_attention_run_ids, ["r1"]);
    let diagnostic = rig.actor.calls().into_iter().find_map(|c| match c {
        EscalationCall::NeedsAttention { diagnostic, .. } => Some(diagnostic),
        _ => None,
    });
    assert_eq!(diagnostic.as_deref(), Some("run queued 630s without a claim after 4 escalation cycles"));
}

// ---- duplicate rows ----

#[test]
fn a_session_listed_twice_is_one_session_the_first_in_session_order() {
    let rig = Rig::new();
    let events = Events::default();
    // r1 needs the capability only the row created first has; r2 needs nothing, so
    // either row alone could take it: read as two sessions, both runs would wake
    // `sess-1`.
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t").caps(["gpu"]));
    rig.tasks.push_pending(RunSnapshot::queued("r2", "t"));
    rig.sessions.set([
        SessionSnapshot::active("sess-1").created_at(at(secs(5))),
        SessionSnapshot::active(" sess-1 ").caps(["gpu"]).created_at(at(Duration::ZERO)),
    ]);
    let mut s = rig.builder().observer(events.clone()).build().unwrap();
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.wake_succeeded, 1, "woken once, for one run");
    assert_eq!(rig.waker.attempted_pairs(), [("r1".to_owned(), "sess-1".to_owned())], "the first row is the session");
    assert_eq!(c.result.no_match_run_ids, ["r2"]);
    assert_eq!(c.result.counts.duplicate_sessions, 1);
    assert_eq!(events.take(), ["duplicate session sess-1"]);
    assert_eq!(s.stats().duplicate_sessions, 1);
}

#[test]
fn a_run_listed_twice_is_one_run_escalated_at_most_once_per_cycle() {
    let rig = Rig::new();
    let events = Events::default();
    let queued = rig.ago(mins(10));
    // The high-priority row comes first in run order: it is the run.
    rig.tasks.set_pending([
        RunSnapshot::queued("r1", "t1").caps(["nobody-has-this"]).priority(Priority::Low).queued_at(queued),
        RunSnapshot::queued(" r1 ", "t1").priority(Priority::High).queued_at(queued),
    ]);
    rig.sessions.set([SessionSnapshot::active("s1")]);
    let th = Thresholds::default()
        .fan_out_after(1)
        .spawn_after(1)
        .event_after(1)
        .needs_attention_after(1)
        .min_queued_age(mins(2));
    let mut s = rig
        .builder()
        .starvation_thresholds(th)
        .observer(events.clone())
        .ladder(rig.store.clone(), rig.actor.clone())
        .build()
        .unwrap();
    let c = cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), [("r1".to_owned(), "s1".to_owned())], "the high-priority row was matched");
    let counts = c.result.counts;
    assert_eq!((counts.starved_runs, counts.duplicate_runs, counts.no_match_runs), (1, 1, 0));
    assert_eq!(counts.unclaimable_runs, 0, "an ignored duplicate is no run at all");
    assert_eq!(spawns_of(&rig.actor, "r1"), 1, "one spawn request, not two");
    assert_eq!(marked(&rig.actor), ["r1"]);
    assert_eq!(events.take(), ["duplicate run r1"]);
}

/// The testkit's invariant checkers (used by the property tests, the soak and the fuzz
/// target) read duplicate rows by the same rule: a selection over duplicates keeps every
/// invariant, and waking an ignored duplicate row is caught.
#[test]
fn the_invariant_checkers_know_the_duplicate_rule() {
    use scheduler_core::cooldown::Cooldown;
    use scheduler_core::selection::{Selection, SelectionInput};
    use scheduler_testkit::invariants::{CycleInput, CycleOutput, check_cycle, names};
    use scheduler_testkit::snapshot::ActiveRun;

    let now = at(mins(30));
    let runs = [
        RunSnapshot::queued("r1", "t").priority(Priority::Low).queued_at(at(Duration::ZERO)),
        RunSnapshot::queued(" r1", "t").priority(Priority::Urgent),
        RunSnapshot::queued("r2", "t").caps(["gpu"]),
        RunSnapshot::queued("r2 ", "t").paused(),
    ];
    let sessions = [
        SessionSnapshot::active("s1").created_at(at(secs(9))),
        SessionSnapshot::active(" s1").caps(["gpu"]).created_at(at(secs(1))),
        SessionSnapshot::active("s2").prompting(),
        SessionSnapshot::active("s2 "),
    ];
    let active: [ActiveRun; 0] = [];
    let cooldown = Cooldown::new(mins(1));
    let input = CycleInput {
        runs: &runs,
        active: &active,
        sessions: &sessions,
        now,
        min_queued_age: mins(2),
        wake_cooldown: cooldown.period(),
        cooldown_before: &cooldown,
    };
    let mut selection = Selection::new();
    selection.select(
        SelectionInput { runs: &runs, active: &active, sessions: &sessions, now, min_queued_age: mins(2) },
        |_, _| false,
    );
    assert_eq!((selection.duplicate_runs().len(), selection.duplicate_sessions().len()), (2, 2));
    let output = CycleOutput::from_selection(&selection, runs.len());
    assert_eq!(check_cycle(input, &output), []);
    // Waking the ignored "s1" row (created later) is a violation.
    let targets = [(1, 0)];
    let broken = CycleOutput { targets: &targets, ..output };
    assert!(check_cycle(input, &broken).iter().any(|v| v.name == names::TARGET_DUPLICATE_SESSION));
}

// ---- budget keys ----

#[test]
fn a_budget_stored_under_a_padded_key_is_read_rewritten_and_cleared_under_it() {
    let rig = Rig::new();
    starved(&rig, "r1");
    let mut stored = Budget::fresh(rig.ago(mins(5)));
    stored.wake_count = 3;
    rig.store.insert(" r1 ", stored);
    let mut s = rig.build_ladder();
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let rows = rig.store.rows();
    assert_eq!(rows.len(), 1, "no second row: {rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.wake_count), (" r1 ", 4), "advanced from the stored count");
    assert_eq!(spawns_of(&rig.actor, "r1"), 1, "the spawn tier read the stored count");

    // The run leaves the queue: its budget is cleared under the listed key.
    rig.tasks.remove_pending("r1");
    rig.tasks.set_status("r1", Some(RunStatus::Completed));
    rig.clock.advance(secs(15));
    cycle(&mut s);
    assert!(rig.store.rows().is_empty(), "{:?}", rig.store.rows());
}

#[test]
fn a_second_row_of_one_run_is_cleared() {
    let rig = Rig::new();
    starved(&rig, "r1");
    let budget = Budget::fresh(rig.ago(mins(5)));
    rig.store.insert(" r1 ", budget);
    rig.store.insert("r1", budget);
    let mut s = rig.build_ladder();
    cycle(&mut s);
    let rows = rig.store.rows();
    assert_eq!(rows.len(), 1, "one row per run: {rows:?}");
    assert_eq!(rows[0].1.wake_count, 1);
}

// ---- the actor must be named ----

#[test]
fn a_blank_actor_is_a_build_error() {
    let rig = Rig::new();
    for blank in ["", " ", "\t "] {
        let built = rig.builder().actor(blank).build().map(|_| ());
        assert_eq!(built, Err(BuildError::BlankActor), "{blank:?}");
    }
    let err = BuildError::BlankActor.to_string();
    assert!(err.contains("actor") && err.contains("blank"), "{err}");
    assert_eq!(rig.builder().actor(" daemon-1 ").build().unwrap().settings().actor(), "daemon-1");
}

// ---- escalations know the time ----

#[test]
fn every_escalation_is_told_the_cycles_now() {
    let rig = Rig::new();
    starved(&rig, "r1");
    let mut s = rig.build_ladder();
    let mut nows = Vec::new();
    for _ in 0..10 {
        let report_now = cycle(&mut s).result.now;
        let calls = rig.actor.calls().len();
        nows.resize(calls, report_now);
        rig.clock.advance(secs(15));
    }
    assert_eq!(rig.actor.calls().len(), 3, "spawn, event, mark");
    assert_eq!(rig.actor.call_times(), nows);
    assert_eq!(rig.actor.call_times()[0], at(secs(45)), "the fourth cycle's time");
    assert_ne!(rig.actor.call_times()[2], rig.now(), "not the clock at the time of the check");
}
