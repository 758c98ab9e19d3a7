//! The invariant checkers bite: a correct selection passes every check, and each
//! deliberately broken output (a mutation of the correct one) is reported under the
//! invariant it breaks.

use std::time::{Duration, SystemTime};

use scheduler_core::Outcome;
use scheduler_core::cooldown::Cooldown;
use scheduler_core::ladder::{Budget, Thresholds, Tier};
use scheduler_core::model::{Priority, RunStatus, SessionState};
use scheduler_core::selection::{Selection, SelectionInput};
use scheduler_core::view::{RunView, SessionView};
use scheduler_testkit::invariants::{
    Counts, CycleInput, CycleOutput, Escalation, LadderCycle, LadderMonitor, LostWrites, ObservedCycle, WakeHistory,
    check_cooldown, check_counts, check_cycle, check_eligibility, check_greedy, check_uniqueness, names,
    violation_names,
};
use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot, SessionSnapshot};

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

const NOW: u64 = 10_000;
const MIN_AGE: Duration = Duration::from_secs(120);

struct Fixture {
    runs: Vec<RunSnapshot>,
    sessions: Vec<SessionSnapshot>,
    active: Vec<ActiveRun>,
    cooldown: Cooldown,
    good: ObservedCycle,
}

fn session(id: &str, created: u64) -> SessionSnapshot {
    SessionSnapshot::active(id).created_at(t(created))
}

impl Fixture {
    /// Runs in selection order: urgent, high-ws, starved (needs go), low, pooled,
    /// channelled, paused (unclaimable), cooled (in cooldown with g2 and g5).
    fn new() -> Self {
        let recent = t(NOW - 10);
        let runs = vec![
            RunSnapshot::queued("low", "task-low").priority(Priority::Low).queued_at(recent),
            RunSnapshot::queued("urgent", "task-urgent").priority(Priority::Urgent).queued_at(recent),
            RunSnapshot::queued("high-ws", "task-ws")
                .priority(Priority::High)
                .workspace("ws-1")
                .caps(["rust"])
                .queued_at(recent),
            RunSnapshot::queued("starved", "task-starved").caps(["go"]).queued_at(t(NOW - 3600)),
            RunSnapshot::queued("pooled", "task-pooled")
                .priority(Priority::Low)
                .pool_owner("agent-x")
                .queued_at(t(NOW - 5)),
            RunSnapshot::queued("channelled", "task-ch").priority(Priority::Low).channel("ch-1").queued_at(t(NOW - 4)),
            RunSnapshot::queued("paused", "task-paused").paused().queued_at(recent),
            RunSnapshot::queued("cooled", "task-cooled").priority(Priority::Low).queued_at(t(NOW - 3)),
        ];
        let sessions = vec![
            session("g1", 1).caps(["rust"]),
            session("g2", 2),
            session("busy", 3),
            session("prompt", 4).prompting(),
            session("stopped", 5).state(SessionState::Stopped),
            session("w1", 6).workspace("ws-1").caps(["rust"]),
            session("w2", 7).workspace("ws-2").caps(["rust"]),
            session("chan", 8).channel("ch-9"),
            session(" ", 9),
            session("go1", 10).caps(["go"]),
            session("go2", 11).caps(["go"]),
            session("g5", 12),
        ];
        let active = vec![ActiveRun::new("held", "busy", RunStatus::Running)];
        let mut cooldown = Cooldown::new(Duration::from_secs(60));
        cooldown.record("cooled", "g2", t(NOW - 30));
        cooldown.record("cooled", "chan", t(NOW - 30));
        cooldown.record("cooled", "g5", t(NOW - 30));
        let mut selection = Selection::new();
        selection.select(
            SelectionInput { runs: &runs, active: &active, sessions: &sessions, now: t(NOW), min_queued_age: MIN_AGE },
            |r, s| cooldown.is_cooling(r.run_id().trim(), s.session_id().trim(), t(NOW)),
        );
        let good = ObservedCycle {
            outcome: Outcome::Completed,
            targets: selection.targets().to_vec(),
            delivered: vec![true; selection.targets().len()],
            no_match: selection.no_match().to_vec(),
            starved: selection.starved().to_vec(),
            counts: Counts::from_selection(&selection, runs.len()),
        };
        Fixture { runs, sessions, active, cooldown, good }
    }

    fn input(&self) -> CycleInput<'_, RunSnapshot, ActiveRun, SessionSnapshot> {
        CycleInput {
            runs: &self.runs,
            active: &self.active,
            sessions: &self.sessions,
            now: t(NOW),
            min_queued_age: MIN_AGE,
            wake_cooldown: Duration::from_secs(60),
            cooldown_before: &self.cooldown,
        }
    }

    fn r(&self, id: &str) -> u32 {
        self.runs.iter().position(|r| r.run_id == id).unwrap_or_else(|| panic!("no run {id}")) as u32
    }

    fn s(&self, id: &str) -> u32 {
        self.sessions.iter().position(|s| s.session_id == id).unwrap_or_else(|| panic!("no session {id}")) as u32
    }

    fn pairs(&self, out: &ObservedCycle) -> Vec<(String, String)> {
        out.targets
            .iter()
            .map(|&(r, s)| (self.runs[r as usize].run_id.clone(), self.sessions[s as usize].session_id.clone()))
            .collect()
    }

    fn check(&self, out: &ObservedCycle) -> Vec<&'static str> {
        violation_names(&check_cycle(self.input(), &out.output(None)))
    }

    /// A mutation of the good output; keeps delivered/counts consistent with targets.
    fn mutate(&self, edit: impl FnOnce(&mut ObservedCycle)) -> ObservedCycle {
        let mut out = self.good.clone();
        edit(&mut out);
        out
    }

    fn retarget(&self, out: &mut ObservedCycle, run: &str, from: &str, to: &str) {
        let (r, from, to) = (self.r(run), self.s(from), self.s(to));
        let pair = out.targets.iter_mut().find(|p| **p == (r, from)).expect("pair to retarget");
        pair.1 = to;
    }
}

fn assert_reports(found: &[&'static str], expected: &str) {
    assert!(found.contains(&expected), "expected {expected}, found {found:?}");
}

#[test]
fn the_correct_selection_passes_every_check() {
    let f = Fixture::new();
    let expected: Vec<(String, String)> =
        [("urgent", "g1"), ("high-ws", "w1"), ("starved", "go1"), ("starved", "go2"), ("low", "g2")]
            .iter()
            .map(|(r, s)| (r.to_string(), s.to_string()))
            .collect();
    // The fixture is what it claims to be. `cooled` is eligible for chan and g5 only
    // (g2 is taken), and both pairs are cooling: it is recently notified.
    let got = f.pairs(&f.good);
    assert_eq!(got, expected, "fixture changed");
    assert_eq!(f.good.counts.recently_notified, 1);
    assert_eq!(f.good.counts.unclaimable, 1);
    let no_match: Vec<&str> = f.good.no_match.iter().map(|&r| f.runs[r as usize].run_id.as_str()).collect();
    assert_eq!(no_match.len(), 2);
    assert!(no_match.contains(&"pooled") && no_match.contains(&"channelled"));
    assert_eq!(f.check(&f.good), Vec::<&str>::new());
    assert!(check_eligibility(f.input(), &f.good.output(None)).is_empty());
    assert!(check_uniqueness(f.input(), &f.good.output(None)).is_empty());
    assert!(check_cooldown(f.input(), &f.good.output(None)).is_empty());
    assert!(check_greedy(f.input(), &f.good.output(None)).is_empty());
    assert!(check_counts(f.input(), &f.good.output(None)).is_empty());
}

#[test]
fn waking_a_busy_session_is_reported() {
    let f = Fixture::new();
    let out = f.mutate(|o| f.retarget(o, "low", "g2", "busy"));
    assert_reports(&f.check(&out), names::TARGET_SESSION_BUSY);
    assert_reports(&violation_names(&check_eligibility(f.input(), &out.output(None))), names::TARGET_SESSION_BUSY);
}

#[test]
fn waking_an_unavailable_session_is_reported_by_reason() {
    let f = Fixture::new();
    for (session, name) in [
        ("prompt", names::TARGET_SESSION_PROMPTING),
        ("stopped", names::TARGET_SESSION_NOT_ACTIVE),
        (" ", names::TARGET_SESSION_WITHOUT_ID),
    ] {
        let out = f.mutate(|o| f.retarget(o, "low", "g2", session));
        assert_reports(&f.check(&out), name);
    }
}

#[test]
fn waking_an_unmatched_session_is_reported_by_reason() {
    let f = Fixture::new();
    // Workspace task woken in another workspace; global task woken in a workspace.
    let out = f.mutate(|o| f.retarget(o, "high-ws", "w1", "w2"));
    assert_reports(&f.check(&out), names::TARGET_OUT_OF_SCOPE);
    let out = f.mutate(|o| f.retarget(o, "low", "g2", "w1"));
    assert_reports(&f.check(&out), names::TARGET_OUT_OF_SCOPE);
    // Missing capability: the workspace run needs rust; the starved run needs go.
    let out = f.mutate(|o| f.retarget(o, "starved", "go2", "g2"));
    assert_reports(&f.check(&out), names::TARGET_MISSING_CAPABILITY);
    // Wrong owner and wrong channel: no-match runs given a session.
    let out = f.mutate(|o| {
        o.targets.push((f.r("pooled"), f.s("chan")));
        o.delivered.push(true);
    });
    assert_reports(&f.check(&out), names::TARGET_WRONG_OWNER);
    let out = f.mutate(|o| {
        o.targets.push((f.r("channelled"), f.s("chan")));
        o.delivered.push(true);
    });
    let found = f.check(&out);
    assert_reports(&found, names::TARGET_WRONG_CHANNEL);
    assert_reports(&found, names::NO_MATCH_TARGETED);
    assert_reports(&found, names::COUNTS_PARTITION);
}

#[test]
fn waking_an_unclaimable_run_is_reported() {
    let f = Fixture::new();
    let out = f.mutate(|o| {
        o.targets.push((f.r("paused"), f.s("chan")));
        o.delivered.push(true);
    });
    assert_reports(&f.check(&out), names::TARGET_RUN_UNCLAIMABLE);
}

#[test]
fn a_session_targeted_twice_is_reported() {
    let f = Fixture::new();
    let out = f.mutate(|o| f.retarget(o, "low", "g2", "g1"));
    let found = f.check(&out);
    assert_reports(&found, names::SESSION_TARGETED_TWICE);
    assert_reports(&violation_names(&check_uniqueness(f.input(), &out.output(None))), names::SESSION_TARGETED_TWICE);
}

#[test]
fn two_targets_for_a_run_that_is_not_starved_are_reported() {
    let f = Fixture::new();
    let out = f.mutate(|o| {
        o.targets.push((f.r("urgent"), f.s("chan")));
        o.delivered.push(true);
        o.counts.wake_attempts += 1;
        o.counts.wake_succeeded += 1;
    });
    let found = f.check(&out);
    assert_reports(&found, names::RUN_MULTIPLE_TARGETS);
    // A starved run fanning out to several sessions is fine.
    assert!(
        !violation_names(&check_uniqueness(f.input(), &f.good.output(None))).contains(&names::RUN_MULTIPLE_TARGETS)
    );
}

#[test]
fn ignoring_the_cooldown_is_reported() {
    let f = Fixture::new();
    // `cooled` is cooling with g5: waking it anyway breaks the cooldown.
    let out = f.mutate(|o| {
        o.targets.push((f.r("cooled"), f.s("g5")));
        o.delivered.push(true);
        o.counts.recently_notified -= 1;
        o.counts.wake_attempts += 1;
        o.counts.wake_succeeded += 1;
    });
    let found = f.check(&out);
    assert_eq!(found, [names::COOLDOWN_IGNORED], "only the cooldown is broken");
    assert_reports(&violation_names(&check_cooldown(f.input(), &out.output(None))), names::COOLDOWN_IGNORED);
}

#[test]
fn a_disabled_cooldown_keeping_keys_is_reported() {
    let f = Fixture::new();
    // The setting says "disabled", but the scheduler kept keys (before or after).
    let mut input = f.input();
    input.wake_cooldown = Duration::ZERO;
    assert_eq!(violation_names(&check_cooldown(input, &f.good.output(None))), [names::COOLDOWN_KEYS_WHILE_DISABLED]);
    let empty = Cooldown::new(Duration::ZERO);
    input.cooldown_before = &empty;
    assert!(check_cooldown(input, &f.good.output(Some(&empty))).is_empty());
    assert_eq!(
        violation_names(&check_cooldown(input, &f.good.output(Some(&f.cooldown)))),
        [names::COOLDOWN_KEYS_WHILE_DISABLED]
    );
}

#[test]
fn wakes_missing_from_or_wrongly_in_the_cooldown_are_reported() {
    let f = Fixture::new();
    // A correct after-state: every delivered pair recorded at now.
    let mut after = f.cooldown.clone();
    for &(r, s) in &f.good.targets {
        after.record(&f.runs[r as usize].run_id, &f.sessions[s as usize].session_id, t(NOW));
    }
    assert!(check_cooldown(f.input(), &f.good.output(Some(&after))).is_empty());
    // Forgetting one delivered wake.
    let mut forgot = f.cooldown.clone();
    for &(r, s) in f.good.targets.iter().skip(1) {
        forgot.record(&f.runs[r as usize].run_id, &f.sessions[s as usize].session_id, t(NOW));
    }
    assert_reports(
        &violation_names(&check_cooldown(f.input(), &f.good.output(Some(&forgot)))),
        names::WAKE_NOT_RECORDED,
    );
    // Recording a failed wake.
    let failed = f.mutate(|o| {
        o.delivered[0] = false;
        o.counts.wake_succeeded -= 1;
        o.counts.wake_failed += 1;
    });
    let found = violation_names(&check_cycle(f.input(), &failed.output(Some(&after))));
    assert_eq!(found, [names::FAILED_WAKE_RECORDED]);
}

#[test]
fn reversed_priority_is_reported() {
    let f = Fixture::new();
    // The low run takes g1, the urgent run g2: the urgent run was eligible for g1.
    let out = f.mutate(|o| {
        f.retarget(o, "urgent", "g1", "g2");
        f.retarget(o, "low", "g2", "g1");
    });
    assert_reports(&f.check(&out), names::NOT_FIRST_ELIGIBLE);
    // The urgent run left with nothing while the low run took its session.
    let out = f.mutate(|o| {
        let urgent = f.r("urgent");
        let i = o.targets.iter().position(|p| p.0 == urgent).unwrap();
        o.targets.remove(i);
        o.delivered.remove(i);
        o.counts.wake_attempts -= 1;
        o.counts.wake_succeeded -= 1;
        o.counts.recently_notified += 1;
        f.retarget(o, "low", "g2", "g1");
    });
    let found = violation_names(&check_greedy(f.input(), &out.output(None)));
    assert_reports(&found, names::PRIORITY_INVERSION);
    assert_reports(&found, names::FREE_SESSION_SKIPPED);
}

#[test]
fn targets_out_of_dispatch_order_are_reported() {
    let f = Fixture::new();
    let out = f.mutate(|o| o.targets.reverse());
    assert_eq!(f.check(&out), [names::TARGETS_OUT_OF_ORDER]);
    let out = f.mutate(|o| {
        let starved = f.r("starved");
        let i = o.targets.iter().position(|p| p.0 == starved).unwrap();
        o.targets.swap(i, i + 1); // go2 before go1
    });
    assert_eq!(f.check(&out), [names::TARGETS_OUT_OF_ORDER]);
}

#[test]
fn an_incomplete_fan_out_is_reported() {
    let f = Fixture::new();
    let out = f.mutate(|o| {
        let pair = (f.r("starved"), f.s("go2"));
        let i = o.targets.iter().position(|p| *p == pair).unwrap();
        o.targets.remove(i);
        o.delivered.remove(i);
        o.counts.wake_attempts -= 1;
        o.counts.wake_succeeded -= 1;
    });
    // go2 is now free, so the low-priority `cooled` run (eligible, not cooling with it)
    // skipped it too.
    assert_eq!(f.check(&out), [names::FAN_OUT_INCOMPLETE, names::FREE_SESSION_SKIPPED]);
}

#[test]
fn misreported_no_match_and_starved_runs_are_reported() {
    let f = Fixture::new();
    // Claiming a run with a free session is no-match.
    let out = f.mutate(|o| {
        let low = f.r("low");
        let i = o.targets.iter().position(|p| p.0 == low).unwrap();
        o.targets.remove(i);
        o.delivered.remove(i);
        o.no_match.push(low);
        o.counts.no_match += 1;
        o.counts.wake_attempts -= 1;
        o.counts.wake_succeeded -= 1;
    });
    assert_reports(&f.check(&out), names::NO_MATCH_WITH_FREE_SESSION);
    // Forgetting a no-match run (counted as recently notified instead).
    let out = f.mutate(|o| {
        let pooled = f.r("pooled");
        o.no_match.retain(|&r| r != pooled);
        o.counts.no_match -= 1;
        o.counts.recently_notified += 1;
    });
    assert_eq!(f.check(&out), [names::NO_MATCH_NOT_REPORTED]);
    // An unclaimable run reported as no-match.
    let out = f.mutate(|o| o.no_match.push(f.r("paused")));
    assert_reports(&f.check(&out), names::NO_MATCH_UNCLAIMABLE);
    // A starved run not reported, and a fresh run reported starved.
    let out = f.mutate(|o| o.starved.clear());
    assert_reports(&f.check(&out), names::STARVED_MISREPORTED);
    let out = f.mutate(|o| o.starved.push(f.r("urgent")));
    assert_reports(&f.check(&out), names::STARVED_MISREPORTED);
}

#[test]
fn counts_that_do_not_add_up_are_reported() {
    let f = Fixture::new();
    let cases: [(fn(&mut Counts), &str); 7] = [
        (|c| c.pending_runs += 1, names::COUNTS_PARTITION),
        (|c| c.recently_notified += 1, names::COUNTS_PARTITION),
        (|c| c.wake_failed += 1, names::COUNTS_WAKES),
        (|c| c.unclaimable -= 1, names::COUNTS_UNCLAIMABLE),
        (|c| c.starved += 1, names::COUNTS_STARVED),
        (|c| c.no_match -= 1, names::COUNTS_NO_MATCH),
        (
            |c| {
                c.wake_attempts += 1;
                c.wake_failed += 1;
            },
            names::COUNTS_ATTEMPTS_VS_TARGETS,
        ),
    ];
    for (edit, name) in cases {
        let out = f.mutate(|o| edit(&mut o.counts));
        assert_reports(&violation_names(&check_counts(f.input(), &out.output(None))), name);
    }
    let out = f.mutate(|o| {
        o.counts.pending_runs -= 1;
        o.counts.unclaimable -= 1;
    });
    assert_reports(&f.check(&out), names::COUNTS_PENDING);
    let out = f.mutate(|o| o.delivered[1] = false);
    assert_reports(&f.check(&out), names::COUNTS_DELIVERED);
}

#[test]
fn wakes_in_a_cycle_that_did_not_complete_are_reported() {
    let f = Fixture::new();
    for (outcome, name) in [
        (Outcome::Paused, names::WOKEN_WHILE_PAUSED),
        (Outcome::PauseUnreadable, names::WOKEN_WHILE_PAUSED),
        (Outcome::SnapshotFailed, names::WOKEN_WITHOUT_SNAPSHOT),
    ] {
        let out = f.mutate(|o| o.outcome = outcome);
        assert_eq!(f.check(&out), [name]);
        let quiet = ObservedCycle { outcome, ..ObservedCycle::default() };
        assert!(f.check(&quiet).is_empty());
    }
}

#[test]
fn out_of_range_indices_are_reported_not_panicked_on() {
    let f = Fixture::new();
    let out = f.mutate(|o| {
        o.targets.push((99, 0));
        o.no_match.push(1000);
    });
    assert_eq!(f.check(&out), [names::INDEX_OUT_OF_BOUNDS]);
    let output = CycleOutput { targets: &[(0, 99)], ..f.good.output(None) };
    let mut history = WakeHistory::new(Duration::from_secs(60));
    assert_reports(&violation_names(&history.observe(f.input(), &output)), names::INDEX_OUT_OF_BOUNDS);
}

#[test]
fn ids_resolve_only_when_unique() {
    let f = Fixture::new();
    let wakes = [("urgent".to_owned(), " g1 ".to_owned(), true)];
    let seen = ObservedCycle::resolve(
        &f.runs,
        &f.sessions,
        Outcome::Completed,
        f.good.counts,
        &wakes,
        ["pooled"],
        ["starved"],
    )
    .expect("unique ids resolve");
    assert_eq!(seen.targets, [(f.r("urgent"), f.s("g1"))]);
    let mut twice = f.runs.clone();
    twice.push(RunSnapshot::queued(" urgent", "task-x"));
    let err = ObservedCycle::resolve(&twice, &f.sessions, Outcome::Completed, f.good.counts, &wakes, [], [])
        .expect_err("duplicate id");
    assert_eq!(err.name, names::AMBIGUOUS_ID);
}

#[test]
fn rewaking_within_the_cooldown_across_cycles_is_reported() {
    let f = Fixture::new();
    let empty = Cooldown::new(Duration::from_secs(60));
    let mut input = f.input();
    input.cooldown_before = &empty;
    let mut history = WakeHistory::new(Duration::from_secs(60));
    assert!(history.observe(input, &f.good.output(None)).is_empty());
    // 30 s later the same output again: every non-starved pair is re-woken too early;
    // the starved run's fan-out is exempt.
    input.now = t(NOW + 30);
    let found = history.observe(input, &f.good.output(None));
    assert_eq!(violation_names(&found), [names::REWOKEN_WITHIN_COOLDOWN]);
    assert_eq!(found.len(), 3, "urgent, high-ws and low re-woken: {found:#?}");
    assert!(found.iter().all(|v| !v.detail.contains("\"starved\"")));
    // After the cooldown, fine; undelivered wakes are not remembered.
    input.now = t(NOW + 100);
    let mut failed = f.good.clone();
    failed.delivered.iter_mut().for_each(|d| *d = false);
    assert!(history.observe(input, &failed.output(None)).is_empty());
    input.now = t(NOW + 110);
    assert!(history.observe(input, &f.good.output(None)).is_empty());
    // After a clock step back, a delivery stamped later than `now` holds nothing
    // (behaviour section 8), while one within the cooldown before `now` still does.
    input.now = t(NOW + 50);
    assert!(history.observe(input, &f.good.output(None)).is_empty());
    input.now = t(NOW + 60);
    assert_eq!(violation_names(&history.observe(input, &f.good.output(None))), [names::REWOKEN_WITHIN_COOLDOWN]);
    history.clear();
    assert!(history.is_empty());
}

fn budget(spawned: bool, evented: bool) -> Budget {
    let mut b = Budget::advance(None, t(0), &Thresholds::default());
    b.spawn_requested_at = spawned.then(|| t(1));
    b.starved_event_at = evented.then(|| t(1));
    b
}

fn esc(run: &str, tier: Tier) -> Escalation {
    Escalation { run_id: run.to_owned(), tier }
}

#[test]
fn ladder_repeats_within_an_episode_are_reported() {
    let mut m = LadderMonitor::new();
    let starved = ["r1"];
    let none = LostWrites::None;
    let cycle = |fired: &'static [Escalation]| LadderCycle {
        outcome: Outcome::Completed,
        starved: &starved,
        fired,
        lost_writes: &none,
    };
    let spawn = vec![esc("r1", Tier::Spawn)].leak();
    let event = vec![esc("r1", Tier::Event)].leak();
    assert!(m.observe(cycle(spawn), |_| true, |_| Some(budget(true, false))).is_empty());
    assert_eq!(
        violation_names(&m.observe(cycle(spawn), |_| true, |_| Some(budget(true, false)))),
        [names::SPAWN_REPEATED]
    );
    assert!(m.observe(cycle(event), |_| true, |_| Some(budget(true, true))).is_empty());
    assert_eq!(
        violation_names(&m.observe(cycle(event), |_| true, |_| Some(budget(true, true)))),
        [names::EVENT_REPEATED]
    );
    // The budget cleared ends the episode: a new one may spawn again.
    assert_eq!(m.open_episodes(), 1);
    assert!(m.observe(cycle(&[]), |_| true, |_| None).is_empty());
    assert_eq!(m.open_episodes(), 0);
    assert!(m.observe(cycle(spawn), |_| true, |_| Some(budget(true, false))).is_empty());
}

#[test]
fn a_lost_budget_write_allows_exactly_the_lost_escalation_again() {
    let mut m = LadderMonitor::new();
    let starved = ["r1"];
    let spawn = [esc("r1", Tier::Spawn)];
    let lost = LostWrites::Runs(vec!["r1".to_owned()]);
    let none = LostWrites::None;
    // The spawn's record was lost: the store still has the budget without it.
    let c1 = LadderCycle { outcome: Outcome::Completed, starved: &starved, fired: &spawn, lost_writes: &lost };
    assert!(m.observe(c1, |_| true, |_| Some(budget(false, false))).is_empty());
    let c2 = LadderCycle { outcome: Outcome::Completed, starved: &starved, fired: &spawn, lost_writes: &none };
    assert!(m.observe(c2, |_| true, |_| Some(budget(true, false))).is_empty());
    // Now recorded: a third spawn is a repeat.
    assert_eq!(violation_names(&m.observe(c2, |_| true, |_| Some(budget(true, false)))), [names::SPAWN_REPEATED]);
    assert_eq!(LostWrites::from_errors::<(), (), (), (), (), ()>(&[]), LostWrites::None);
}

#[test]
fn escalating_the_wrong_run_or_at_the_wrong_time_is_reported() {
    let starved = ["r1"];
    let none = LostWrites::None;
    let fired = [esc("r2", Tier::Spawn)];
    let mut m = LadderMonitor::new();
    let c = LadderCycle { outcome: Outcome::Completed, starved: &starved, fired: &fired, lost_writes: &none };
    assert_eq!(violation_names(&m.observe(c, |_| true, |_| None)), [names::ESCALATED_NOT_STARVED]);
    let fired = [esc("r1", Tier::Event)];
    let c = LadderCycle { outcome: Outcome::Completed, starved: &starved, fired: &fired, lost_writes: &none };
    assert_eq!(violation_names(&m.observe(c, |id| id != "r1", |_| None)), [names::ESCALATED_UNQUEUED]);
    let c = LadderCycle { outcome: Outcome::Paused, starved: &starved, fired: &fired, lost_writes: &none };
    assert_eq!(violation_names(&m.observe(c, |_| true, |_| None)), [names::ESCALATED_WHILE_PAUSED]);
    let fired = [esc("r1", Tier::NeedsAttention), esc("r1", Tier::NeedsAttention)];
    let c = LadderCycle { outcome: Outcome::Completed, starved: &starved, fired: &fired, lost_writes: &none };
    assert_eq!(violation_names(&m.observe(c, |_| true, |_| None)), [names::MARK_REPEATED]);
}

#[test]
fn every_checker_is_quiet_on_an_empty_cycle() {
    let (runs, sessions, active): (Vec<RunSnapshot>, Vec<SessionSnapshot>, Vec<ActiveRun>) = Default::default();
    let cooldown = Cooldown::new(Duration::ZERO);
    let input = CycleInput {
        runs: &runs,
        active: &active,
        sessions: &sessions,
        now: t(0),
        min_queued_age: Duration::ZERO,
        wake_cooldown: Duration::ZERO,
        cooldown_before: &cooldown,
    };
    let out = ObservedCycle::default();
    assert!(check_cycle(input, &out.output(Some(&cooldown))).is_empty());
}
