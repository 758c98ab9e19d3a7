//! Property tests: generated workloads (runs, tasks, sessions, active runs, cooldown
//! state, clock jumps, pauses, rebuilds, failing wakes, ladder status changes) driven
//! through the public API for several cycles, with every invariant of
//! `scheduler_testkit::invariants` checked after every cycle.
//!
//! The second half shows the checks bite: deliberately broken selectors run over the
//! same generated workloads, and the invariant each one breaks is reported whenever its
//! output differs from the correct selection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use scheduler_core::clock::Clock;
use scheduler_core::cooldown::Cooldown;
use scheduler_core::eligibility::{is_potentially_claimable, session_matches};
use scheduler_core::ladder::{Thresholds, is_starved};
use scheduler_core::model::{Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::ordering::{compare_runs, compare_sessions};
use scheduler_core::selection::{Selection, SelectionInput};
use scheduler_core::view::{RunView, SessionView};
use scheduler_core::{Outcome, Scheduler};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::escalation::RecordingActor;
use scheduler_testkit::invariants::{
    Counts, CycleInput, CycleLog, LadderCycle, LadderMonitor, LostWrites, ObservedCycle, WakeHistory, check_cycle,
    names, violation_names,
};
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{ActiveRun, OwnerRef, RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};
use scheduler_testkit::waker::RecordingWaker;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600) // 2026-01-01
}

// ---------------------------------------------------------------------------------
// Generators.

fn priority() -> impl Strategy<Value = Priority> {
    prop_oneof![
        Just(Priority::Low),
        Just(Priority::Medium),
        Just(Priority::High),
        Just(Priority::Urgent),
        Just(Priority::Unknown)
    ]
}

fn run_status() -> impl Strategy<Value = RunStatus> {
    prop_oneof![
        8 => Just(RunStatus::Queued),
        1 => Just(RunStatus::Running),
        1 => Just(RunStatus::NeedsAttention),
        1 => Just(RunStatus::Unknown),
    ]
}

fn task_status() -> impl Strategy<Value = TaskStatus> {
    prop_oneof![
        6 => Just(TaskStatus::Ready),
        1 => Just(TaskStatus::Pending),
        1 => Just(TaskStatus::Draft),
        1 => Just(TaskStatus::Blocked),
        1 => Just(TaskStatus::Canceled),
        1 => Just(TaskStatus::Unknown),
    ]
}

fn pick<T: Clone + std::fmt::Debug + 'static>(items: &'static [T]) -> impl Strategy<Value = T> {
    proptest::sample::select(items)
}

fn caps() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(pick(&["rust", "go", " rust ", ""]), 0..3)
        .prop_map(|v| v.into_iter().map(str::to_owned).collect())
}

/// A run (its id is assigned from its position, so ids are unique after trimming).
fn run(i: usize) -> impl Strategy<Value = RunSnapshot> {
    (
        priority(),
        run_status(),
        task_status(),
        prop::bool::weighted(0.1),
        prop_oneof![6 => Just(Scope::Global), 6 => Just(Scope::Workspace), 1 => Just(Scope::Unknown)],
        pick(&["ws-1", "ws-2", " ws-1 ", ""]),
        pick(&["", "", "", "ch-1"]),
        prop_oneof![
            8 => Just(OwnerRef::None),
            2 => pick(&["agent-0", "agent-1", " "]).prop_map(|a| OwnerRef::Pool(a.to_owned())),
            1 => pick(&["sess-0", "sess-1"]).prop_map(|s| OwnerRef::AgentSession(s.to_owned())),
            1 => Just(OwnerRef::Unknown),
        ],
        caps(),
        prop::option::weighted(0.85, 0u64..600),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.05),
    )
        .prop_map(move |(p, rs, ts, paused, scope, ws, ch, owner, caps, queued, pad, no_id)| {
            let id = if no_id {
                " ".to_owned()
            } else if pad {
                format!(" run-{i} ")
            } else {
                format!("run-{i}")
            };
            let mut r = RunSnapshot::queued(id, format!("task-{i}"))
                .priority(p)
                .status(rs)
                .task_status(ts)
                .scope(scope, if scope == Scope::Global { "" } else { ws })
                .channel(ch)
                .owner(owner);
            r.required_capabilities = caps;
            r.task_paused = paused;
            // Queued up to 10 minutes before the clock's start.
            r.queued_at = queued.map(|s| t0() + Duration::from_secs(600) - Duration::from_secs(s));
            r
        })
}

fn session(j: usize) -> impl Strategy<Value = SessionSnapshot> {
    (
        pick(&["agent-0", "agent-1"]),
        pick(&["", "", "ws-1", "ws-2"]),
        pick(&["", "", "ch-1"]),
        prop_oneof![8 => Just(SessionState::Active), 1 => Just(SessionState::Stopped), 1 => Just(SessionState::Inactive)],
        prop::bool::weighted(0.1),
        caps(),
        0u64..4,
        prop::bool::weighted(0.05),
    )
        .prop_map(move |(agent, ws, ch, state, prompting, caps, created, no_id)| {
            let id = if no_id { String::new() } else { format!("sess-{j}") };
            let mut s = SessionSnapshot::active(id)
                .agent(agent)
                .workspace(ws)
                .channel(ch)
                .state(state)
                .created_at(t0() + Duration::from_secs(created));
            s.capabilities = caps;
            s.prompting = prompting;
            s
        })
}

fn runs() -> impl Strategy<Value = Vec<RunSnapshot>> {
    (0usize..10).prop_flat_map(|n| (0..n).map(run).collect::<Vec<_>>())
}

fn sessions() -> impl Strategy<Value = Vec<SessionSnapshot>> {
    (0usize..8).prop_flat_map(|m| (0..m).map(session).collect::<Vec<_>>())
}

/// One cycle's changes.
#[derive(Debug, Clone)]
struct Step {
    /// Clock change in seconds (negative: a step back).
    advance: i64,
    /// Which runs are pending this cycle (bit i: run i).
    run_mask: u32,
    /// Which sessions are live this cycle.
    session_mask: u32,
    /// Active runs: (session index, status).
    active: Vec<(usize, RunStatus)>,
    paused: bool,
    rebuild: bool,
    /// Sessions whose wakes fail this cycle.
    failing: u32,
    /// Status overrides for the ladder's re-read: (run index, status or not found).
    statuses: Vec<(usize, Option<RunStatus>)>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![6 => 0i64..200, 1 => -120i64..0, 1 => Just(0)],
        prop_oneof![3 => Just(u32::MAX), 1 => any::<u32>()],
        prop_oneof![3 => Just(u32::MAX), 1 => any::<u32>()],
        proptest::collection::vec(
            (0usize..8, pick(&[RunStatus::Claimed, RunStatus::Starting, RunStatus::Running, RunStatus::Completed])),
            0..3,
        ),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
        prop_oneof![6 => Just(0u32), 1 => any::<u32>()],
        proptest::collection::vec(
            (
                0usize..10,
                pick(&[None, Some(RunStatus::Running), Some(RunStatus::NeedsAttention), Some(RunStatus::Completed)]),
            ),
            0..2,
        ),
    )
        .prop_map(|(advance, run_mask, session_mask, active, paused, rebuild, failing, statuses)| Step {
            advance,
            run_mask,
            session_mask,
            active,
            paused,
            rebuild,
            failing,
            statuses,
        })
}

#[derive(Debug, Clone)]
struct Scenario {
    runs: Vec<RunSnapshot>,
    sessions: Vec<SessionSnapshot>,
    cooldown: Duration,
    min_age: Duration,
    thresholds: (u32, u32, u32, u32),
    batch: bool,
    steps: Vec<Step>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        runs(),
        sessions(),
        pick(&[0u64, 30, 60, 300]).prop_map(Duration::from_secs),
        pick(&[0u64, 60, 120]).prop_map(Duration::from_secs),
        (1u32..3, 1u32..4, 1u32..5, 1u32..7),
        any::<bool>(),
        proptest::collection::vec(step(), 1..8),
    )
        .prop_map(|(runs, sessions, cooldown, min_age, thresholds, batch, steps)| Scenario {
            runs,
            sessions,
            cooldown,
            min_age,
            thresholds,
            batch,
            steps,
        })
}

// ---------------------------------------------------------------------------------
// Driving the scheduler and checking every cycle.

type Sched = Scheduler<
    ScriptedTasks,
    ScriptedSessions,
    RecordingWaker,
    FakeClock,
    MemoryPauseStore,
    MemoryStarvationStore,
    RecordingActor,
    CycleLog,
>;

fn masked<T: Clone>(items: &[T], mask: u32) -> Vec<T> {
    items.iter().enumerate().filter(|(i, _)| mask & (1 << (i % 32)) != 0).map(|(_, x)| x.clone()).collect()
}

fn run_scenario(sc: &Scenario) -> Result<(), TestCaseError> {
    let tasks = ScriptedTasks::new();
    let sessions = ScriptedSessions::new();
    let waker = if sc.batch { RecordingWaker::batch() } else { RecordingWaker::single() };
    let pause = MemoryPauseStore::new();
    let store = MemoryStarvationStore::new();
    let actor = RecordingActor::new();
    let log = CycleLog::new();
    let clock = FakeClock::new(t0() + Duration::from_secs(600));
    let (a, b, c, d) = sc.thresholds;
    let mut scheduler: Sched = Scheduler::builder(tasks.clone(), sessions.clone(), waker.clone())
        .clock(clock.clone())
        .wake_cooldown(sc.cooldown)
        .starvation_thresholds(
            Thresholds::default()
                .fan_out_after(a)
                .spawn_after(b)
                .event_after(c)
                .needs_attention_after(d)
                .min_queued_age(Duration::from_secs(120)),
        )
        .starvation_age(sc.min_age)
        .pause_store(pause.clone())
        .starvation_store(store.clone())
        .escalation_actor(actor.clone())
        .observer(log.clone())
        .build()
        .expect("valid settings");
    let mut history = WakeHistory::new(sc.cooldown);
    let mut ladder = LadderMonitor::new();
    let mut stats_wakes = 0u64;
    let mut overrides: HashMap<String, Option<RunStatus>> = HashMap::new();

    for (k, step) in sc.steps.iter().enumerate() {
        // Apply the step.
        if step.advance >= 0 {
            clock.advance(Duration::from_secs(step.advance as u64));
        } else {
            clock.set(clock.now() - Duration::from_secs(step.advance.unsigned_abs()));
        }
        let live_runs = masked(&sc.runs, step.run_mask);
        let live_sessions = masked(&sc.sessions, step.session_mask);
        tasks.set_pending(live_runs.iter().cloned());
        sessions.set(live_sessions.iter().cloned());
        tasks.set_active(step.active.iter().filter_map(|&(j, status)| {
            sc.sessions.get(j).map(|s| ActiveRun::new(format!("held-{j}"), s.session_id.clone(), status))
        }));
        for &(i, status) in &step.statuses {
            if let Some(r) = sc.runs.get(i) {
                tasks.set_status(r.run_id.trim(), status);
                overrides.insert(r.run_id.trim().to_owned(), status);
            }
        }
        if step.paused {
            pause.pause("test", clock.now(), "generated");
        } else {
            pause.resume();
        }
        if step.rebuild {
            let report = futures::executor::block_on(scheduler.rebuild()).expect("rebuild reads");
            prop_assert_eq!(scheduler.cooldown().len(), 0, "rebuild clears the cooldown");
            prop_assert_eq!(report.pending_runs, live_runs.len());
            history.clear();
        }
        for (j, s) in sc.sessions.iter().enumerate() {
            if step.failing & (1 << j) != 0 {
                waker.fail_session(s.session_id.trim());
            }
        }

        // What the ladder will see: was each run queued when read?
        let queued_before: HashMap<String, bool> = sc
            .runs
            .iter()
            .map(|r| {
                let id = r.run_id.trim().to_owned();
                // As ScriptedTasks answers: an override first, then the pending row.
                let status = match overrides.get(&id) {
                    Some(s) => *s,
                    None => live_runs.iter().find(|x| x.run_id.trim() == id).map(|x| x.run_status),
                };
                (id, status == Some(RunStatus::Queued))
            })
            .collect();
        let cooldown_before: Cooldown = scheduler.cooldown().clone();
        let wakes_before = waker.attempts().len();
        let now = clock.now();

        // Run the cycle.
        let report = futures::executor::block_on(scheduler.run_once());
        prop_assert!(
            report.is_ok() || report.errors().iter().all(|e| e.session_id().is_some()),
            "only injected wake errors"
        );
        let outcome = report.outcome();
        let counts = Counts::from_cycle(report.counts());
        let read: Vec<Arc<RunSnapshot>> = report.runs().to_vec();
        let no_match: Vec<String> = report.no_match_run_ids().map(str::to_owned).collect();
        let starved: Vec<String> = report.starved_run_ids().map(str::to_owned).collect();
        let selected: Vec<String> = report.selected_run_ids().map(str::to_owned).collect();
        let lost = LostWrites::from_errors(report.errors());

        let wakes = log.take_wakes();
        let records = waker.attempts()[wakes_before..].to_vec();
        // The observer saw exactly the wakes the waker received, in order.
        prop_assert_eq!(
            wakes.iter().map(|(r, s, _)| (r.clone(), s.clone())).collect::<Vec<_>>(),
            records.iter().map(|w| (w.run_id.clone(), w.session_id.clone())).collect::<Vec<_>>()
        );
        prop_assert!(records.iter().all(|w| w.reason == "pending_task_run"));
        // Selected = runs of delivered wakes, in dispatch order.
        let delivered_runs: Vec<String> = wakes.iter().filter(|w| w.2).map(|w| w.0.clone()).collect();
        prop_assert_eq!(&selected, &delivered_runs);
        stats_wakes += counts.wake_succeeded as u64;

        let session_rows: Vec<Arc<SessionSnapshot>> = live_sessions.iter().cloned().map(Arc::new).collect();
        let observed = match ObservedCycle::resolve(
            &read,
            &session_rows,
            outcome,
            counts,
            &wakes,
            no_match.iter().map(String::as_str),
            starved.iter().map(String::as_str),
        ) {
            Ok(o) => o,
            Err(v) => return Err(TestCaseError::fail(format!("cycle {k}: {v}"))),
        };
        let active: Vec<ActiveRun> = step
            .active
            .iter()
            .filter_map(|&(j, status)| {
                sc.sessions.get(j).map(|s| ActiveRun::new(format!("held-{j}"), s.session_id.clone(), status))
            })
            .collect();
        let input = CycleInput {
            runs: &read,
            active: &active,
            sessions: &session_rows,
            now,
            min_queued_age: scheduler.settings().thresholds().min_queued_age,
            wake_cooldown: scheduler.settings().wake_cooldown(),
            cooldown_before: &cooldown_before,
        };
        let output = observed.output(Some(scheduler.cooldown()));
        let mut violations = check_cycle(input, &output);
        violations.extend(history.observe(input, &output));
        let starved_ids: Vec<&str> = starved.iter().map(String::as_str).collect();
        let fired = log.take_escalations();
        violations.extend(ladder.observe(
            LadderCycle { outcome, starved: &starved_ids, fired: &fired, lost_writes: &lost },
            |id| queued_before.get(id).copied().unwrap_or(false),
            |id| store.get(id),
        ));
        prop_assert!(violations.is_empty(), "cycle {}: {:#?}\n{:#?}", k, violations, step);
        if outcome != Outcome::Completed {
            prop_assert!(records.is_empty() && fired.is_empty(), "paused cycle acted");
        }
        prop_assert_eq!(scheduler.stats().wake_succeeded, stats_wakes);
    }
    Ok(())
}

#[test]
fn every_cycle_of_generated_workloads_keeps_every_invariant() {
    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    runner.run(&scenario(), |sc| run_scenario(&sc)).unwrap();
}

// ---------------------------------------------------------------------------------
// The checks bite: deliberately broken selectors.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Broken {
    /// Treats busy sessions as free.
    IgnoreBusy,
    /// Wakes pairs in their cooldown.
    IgnoreCooldown,
    /// Considers runs in reverse priority order.
    ReversePriority,
    /// Gives a non-starved run its two first eligible sessions.
    TwoTargets,
    /// Starved runs wake only their first eligible session.
    NoFanOut,
    /// Forgets to mark sessions as targeted.
    RetargetSessions,
    /// Ignores required capabilities.
    IgnoreCapabilities,
    /// Counts no-match runs as recently notified.
    MiscountNoMatch,
}

/// A plain greedy selection with one rule broken.
fn broken_select(
    runs: &[RunSnapshot],
    active: &[ActiveRun],
    sessions: &[SessionSnapshot],
    now: SystemTime,
    min_age: Duration,
    cooldown: &Cooldown,
    broken: Option<Broken>,
) -> ObservedCycle {
    let is = |b| broken == Some(b);
    let mut order: Vec<u32> = (0..runs.len() as u32).collect();
    order.sort_by(|&a, &b| compare_runs(&runs[a as usize], &runs[b as usize]));
    if is(Broken::ReversePriority) {
        order.reverse();
    }
    let mut sorder: Vec<u32> = (0..sessions.len() as u32).collect();
    sorder.sort_by(|&a, &b| compare_sessions(&sessions[a as usize], &sessions[b as usize]));
    let busy: Vec<bool> = sessions
        .iter()
        .map(|s| {
            !is(Broken::IgnoreBusy)
                && active.iter().any(|a| {
                    a.status.holds_session()
                        && !a.session_id.trim().is_empty()
                        && a.session_id.trim() == s.session_id.trim()
                })
        })
        .collect();
    let mut targeted = vec![false; sessions.len()];
    let mut out = ObservedCycle { outcome: Outcome::Completed, ..ObservedCycle::default() };
    let mut c = Counts { pending_runs: runs.len(), ..Counts::default() };
    for &ri in &order {
        let run = &runs[ri as usize];
        if !is_potentially_claimable(run) {
            c.unclaimable += 1;
            continue;
        }
        let starved = is_starved(now, run.queued_at(), min_age);
        if starved {
            out.starved.push(ri);
        }
        let matches = |s: &SessionSnapshot| {
            if is(Broken::IgnoreCapabilities) {
                let mut relaxed = run.clone();
                relaxed.required_capabilities.clear();
                session_matches(&relaxed, s)
            } else {
                session_matches(run, s)
            }
        };
        let mut eligible = 0;
        let mut chosen = Vec::new();
        for &si in &sorder {
            let s = &sessions[si as usize];
            if busy[si as usize] || targeted[si as usize] || !matches(s) {
                continue;
            }
            eligible += 1;
            if starved {
                chosen.push(si);
                if is(Broken::NoFanOut) {
                    break;
                }
            } else if is(Broken::IgnoreCooldown) || !cooldown.is_cooling(run.run_id.trim(), s.session_id.trim(), now) {
                chosen.push(si);
                if !is(Broken::TwoTargets) || chosen.len() == 2 {
                    break;
                }
            }
        }
        if eligible == 0 {
            if is(Broken::MiscountNoMatch) {
                c.recently_notified += 1;
            } else {
                out.no_match.push(ri);
            }
        } else if chosen.is_empty() && !starved {
            c.recently_notified += 1;
        }
        for si in chosen {
            if !is(Broken::RetargetSessions) {
                targeted[si as usize] = true;
            }
            out.targets.push((ri, si));
        }
    }
    c.no_match = out.no_match.len();
    c.starved = out.starved.len();
    c.wake_attempts = out.targets.len();
    c.wake_succeeded = out.targets.len();
    out.delivered = vec![true; out.targets.len()];
    out.counts = c;
    out
}

#[derive(Debug, Clone)]
struct Snapshot {
    runs: Vec<RunSnapshot>,
    sessions: Vec<SessionSnapshot>,
    active: Vec<(usize, RunStatus)>,
    cooled: Vec<(usize, usize)>,
    min_age: Duration,
}

fn snapshot() -> impl Strategy<Value = Snapshot> {
    (
        runs(),
        sessions(),
        proptest::collection::vec(
            (0usize..8, pick(&[RunStatus::Running, RunStatus::Claimed, RunStatus::Failed])),
            0..3,
        ),
        prop_oneof![
            proptest::collection::vec((0usize..10, 0usize..8), 0..6),
            // Dense: every other pair is cooling.
            Just((0..10).flat_map(|i| (0..8).map(move |j| (i, j))).filter(|(i, j)| (i + j) % 2 == 0).collect()),
        ],
        pick(&[0u64, 120]).prop_map(Duration::from_secs),
    )
        .prop_map(|(runs, sessions, active, cooled, min_age)| Snapshot { runs, sessions, active, cooled, min_age })
}

/// Runs `broken` over generated snapshots: whenever its output differs from the
/// correct selection's, `check_cycle` must report one of `expected` (or a run
/// misclassified as a knock-on effect: a run that lost its session, or one that now
/// counts as recently notified instead of no-match); and `must_see` must be reported at
/// least once over all cases.
fn assert_bites(broken: Broken, expected: &[&str], must_see: &str) {
    let knock_on = [names::NO_MATCH_NOT_REPORTED, names::NO_MATCH_WITH_FREE_SESSION, names::FREE_SESSION_SKIPPED];
    let expected: Vec<&str> = expected.iter().copied().chain(knock_on).collect();
    let seen = RefCell::new((0usize, false));
    // A fixed seed: "seen at least once" must not depend on luck.
    let mut runner = TestRunner::new_with_rng(
        Config { cases: 256, failure_persistence: None, ..Config::default() },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    runner
        .run(&snapshot(), |snap| {
            let now = t0() + Duration::from_secs(600);
            let active: Vec<ActiveRun> = snap
                .active
                .iter()
                .filter_map(|&(j, st)| snap.sessions.get(j).map(|s| ActiveRun::new("held", s.session_id.clone(), st)))
                .collect();
            let mut cooldown = Cooldown::new(Duration::from_secs(60));
            for &(i, j) in &snap.cooled {
                if let (Some(r), Some(s)) = (snap.runs.get(i), snap.sessions.get(j)) {
                    cooldown.record(r.run_id.trim(), s.session_id.trim(), now - Duration::from_secs(10));
                }
            }
            let input = CycleInput {
                runs: &snap.runs,
                active: &active,
                sessions: &snap.sessions,
                now,
                min_queued_age: snap.min_age,
                wake_cooldown: Duration::from_secs(60),
                cooldown_before: &cooldown,
            };
            // The correct selection passes, and matches the core's.
            let good = broken_select(&snap.runs, &active, &snap.sessions, now, snap.min_age, &cooldown, None);
            let v = check_cycle(input, &good.output(None));
            prop_assert!(v.is_empty(), "correct selection flagged: {:#?}", v);
            let mut core = Selection::new();
            core.select(
                SelectionInput {
                    runs: &snap.runs,
                    active: &active,
                    sessions: &snap.sessions,
                    now,
                    min_queued_age: snap.min_age,
                },
                |r, s| cooldown.is_cooling(r.run_id().trim(), s.session_id().trim(), now),
            );
            prop_assert_eq!(core.targets(), &good.targets[..]);

            let bad = broken_select(&snap.runs, &active, &snap.sessions, now, snap.min_age, &cooldown, Some(broken));
            // The order of the no-match and starved lists is not part of the contract.
            let normal = |o: &ObservedCycle| {
                let mut o = o.clone();
                o.no_match.sort_unstable();
                o.starved.sort_unstable();
                o
            };
            if normal(&bad) == normal(&good) {
                return Ok(());
            }
            let found = violation_names(&check_cycle(input, &bad.output(None)));
            prop_assert!(
                found.iter().any(|n| expected.contains(n)),
                "{:?} differs from the correct selection but reported {:?}",
                broken,
                found
            );
            let mut s = seen.borrow_mut();
            s.0 += 1;
            s.1 |= found.contains(&must_see);
            Ok(())
        })
        .unwrap();
    let (differing, saw) = *seen.borrow();
    assert!(differing > 0, "{broken:?} never changed the outcome: the workloads do not exercise it");
    assert!(saw, "{broken:?}: {must_see} never reported over {differing} differing cases");
}

#[test]
fn ignoring_busy_sessions_is_caught() {
    assert_bites(Broken::IgnoreBusy, &[names::TARGET_SESSION_BUSY], names::TARGET_SESSION_BUSY);
}

#[test]
fn ignoring_the_cooldown_is_caught() {
    assert_bites(Broken::IgnoreCooldown, &[names::COOLDOWN_IGNORED], names::COOLDOWN_IGNORED);
}

#[test]
fn reversing_priority_is_caught() {
    let greedy = [
        names::TARGETS_OUT_OF_ORDER,
        names::PRIORITY_INVERSION,
        names::NOT_FIRST_ELIGIBLE,
        names::FAN_OUT_INCOMPLETE,
        names::NO_MATCH_WITH_FREE_SESSION,
        names::FREE_SESSION_SKIPPED,
        names::NO_MATCH_NOT_REPORTED,
    ];
    assert_bites(Broken::ReversePriority, &greedy, names::PRIORITY_INVERSION);
}

#[test]
fn two_targets_for_one_run_are_caught() {
    assert_bites(Broken::TwoTargets, &[names::RUN_MULTIPLE_TARGETS], names::RUN_MULTIPLE_TARGETS);
}

#[test]
fn a_missing_fan_out_is_caught() {
    assert_bites(Broken::NoFanOut, &[names::FAN_OUT_INCOMPLETE], names::FAN_OUT_INCOMPLETE);
}

#[test]
fn targeting_a_session_twice_is_caught() {
    assert_bites(Broken::RetargetSessions, &[names::SESSION_TARGETED_TWICE], names::SESSION_TARGETED_TWICE);
}

#[test]
fn ignoring_capabilities_is_caught() {
    assert_bites(Broken::IgnoreCapabilities, &[names::TARGET_MISSING_CAPABILITY], names::TARGET_MISSING_CAPABILITY);
}

#[test]
fn miscounting_no_match_is_caught() {
    assert_bites(Broken::MiscountNoMatch, &[names::NO_MATCH_NOT_REPORTED], names::NO_MATCH_NOT_REPORTED);
}
