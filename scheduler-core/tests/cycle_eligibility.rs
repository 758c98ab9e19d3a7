//! Behaviour step 4: which sessions are eligible for a run, each condition alone, and
//! which runs are unclaimable.

mod common;

use common::{Rig, cycle, ids};
use scheduler_core::model::{Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_testkit::snapshot::{ActiveRun, OwnerRef, RunSnapshot, SessionSnapshot};

/// Runs one cycle over `runs`, `sessions` and `active`; returns the sessions woken (in
/// order) and the cycle.
fn wake(
    runs: Vec<RunSnapshot>,
    sessions: Vec<SessionSnapshot>,
    active: Vec<ActiveRun>,
) -> (Vec<String>, common::Cycle) {
    let rig = Rig::new();
    rig.tasks.set_pending(runs);
    rig.tasks.set_active(active);
    rig.sessions.set(sessions);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    (rig.waker.attempts().into_iter().map(|w| w.session_id).collect(), c)
}

fn run() -> RunSnapshot {
    RunSnapshot::queued("run-1", "task-1")
}

fn session(id: &str) -> SessionSnapshot {
    SessionSnapshot::active(id)
}

/// Asserts `run` wakes `session` when alone with it.
fn eligible(run: RunSnapshot, session: SessionSnapshot) {
    let id = session.session_id.trim().to_owned();
    let (woken, c) = wake(vec![run.clone()], vec![session.clone()], vec![]);
    assert_eq!(woken, [id], "expected {session:?} eligible for {run:?}");
    assert_eq!(c.result.counts.no_match_runs, 0);
    assert_eq!(c.result.selected_run_ids, [run.run_id.trim()]);
}

/// Asserts `run` wakes nothing with `session` alone, and counts as a no-match.
fn not_eligible(run: RunSnapshot, session: SessionSnapshot) {
    let (woken, c) = wake(vec![run.clone()], vec![session.clone()], vec![]);
    assert!(woken.is_empty(), "expected {session:?} not eligible for {run:?}, woke {woken:?}");
    assert_eq!(c.result.counts.no_match_runs, 1);
    assert_eq!(c.result.no_match_run_ids, [run.run_id.trim()]);
    assert_eq!(c.result.counts.unclaimable_runs, 0);
    assert_eq!(c.result.counts.wake_attempts, 0);
}

#[test]
fn baseline_active_idle_session_is_eligible() {
    eligible(run(), session("sess-1"));
}

#[test]
fn empty_session_id_is_no_session() {
    not_eligible(run(), session(""));
    not_eligible(run(), session("   "));
    // Ids are compared after trimming: a padded id is that id.
    eligible(run(), session("  sess-1 "));
}

#[test]
fn only_active_sessions_are_eligible() {
    for state in [SessionState::Inactive, SessionState::Stopped, SessionState::Unknown] {
        not_eligible(run(), session("sess-1").state(state));
    }
    eligible(run(), session("sess-1").state(SessionState::Active));
}

#[test]
fn prompting_session_is_not_eligible() {
    not_eligible(run(), session("sess-1").prompting());
}

#[test]
fn claimed_starting_running_make_a_session_busy() {
    for status in [RunStatus::Claimed, RunStatus::Starting, RunStatus::Running] {
        let (woken, c) = wake(
            vec![run()],
            vec![session("sess-1"), session("sess-2")],
            vec![ActiveRun::new("other", "sess-1", status)],
        );
        assert_eq!(woken, ["sess-2"], "{status}: sess-1 is busy");
        let (woken, c2) = wake(vec![run()], vec![session("sess-1")], vec![ActiveRun::new("other", "sess-1", status)]);
        assert!(woken.is_empty(), "{status}");
        assert_eq!(c2.result.no_match_run_ids, ["run-1"]);
        assert_eq!(c.result.counts.active_runs, 1);
    }
}

#[test]
fn other_statuses_do_not_make_a_session_busy() {
    for status in [
        RunStatus::Queued,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Canceled,
        RunStatus::NeedsAttention,
        RunStatus::Unknown,
    ] {
        let (woken, _) = wake(vec![run()], vec![session("sess-1")], vec![ActiveRun::new("other", "sess-1", status)]);
        assert_eq!(woken, ["sess-1"], "{status} must not make the session busy");
    }
}

#[test]
fn busy_holder_id_is_compared_after_trimming() {
    let (woken, _) = wake(
        vec![run()],
        vec![session("sess-1"), session("sess-2")],
        vec![ActiveRun::new("other", " sess-1 ", RunStatus::Running)],
    );
    assert_eq!(woken, ["sess-2"]);
    // A blank holder is no holder: it makes nobody busy.
    let (woken, _) =
        wake(vec![run()], vec![session("sess-1")], vec![ActiveRun::new("other", "  ", RunStatus::Running)]);
    assert_eq!(woken, ["sess-1"]);
}

#[test]
fn session_targeted_earlier_in_the_cycle_is_not_eligible_again() {
    let first = RunSnapshot::queued("run-a", "task-a").priority(Priority::High);
    let second = RunSnapshot::queued("run-b", "task-b").priority(Priority::Low);
    let (woken, c) = wake(vec![second, first], vec![session("sess-1")], vec![]);
    assert_eq!(woken, ["sess-1"]);
    assert_eq!(c.result.selected_run_ids, ["run-a"]);
    // Its only candidate session was taken, so the second run had no eligible session.
    assert_eq!(c.result.no_match_run_ids, ["run-b"]);
    assert_eq!(c.result.counts.recently_notified_runs, 0);
}

#[test]
fn workspace_task_needs_same_non_empty_workspace() {
    let ws = || run().workspace("ws-1");
    eligible(ws(), session("sess-1").workspace("ws-1"));
    eligible(ws(), session("sess-1").workspace(" ws-1 "));
    not_eligible(ws(), session("sess-1").workspace("ws-2"));
    not_eligible(ws(), session("sess-1"));
    // A workspace task without a workspace matches nothing, not even global sessions.
    not_eligible(run().scope(Scope::Workspace, ""), session("sess-1"));
    not_eligible(run().scope(Scope::Workspace, "  "), session("sess-1").workspace("  "));
}

#[test]
fn global_task_needs_a_session_without_workspace() {
    eligible(run(), session("sess-1"));
    eligible(run(), session("sess-1").workspace("  "));
    not_eligible(run(), session("sess-1").workspace("ws-1"));
}

#[test]
fn run_channel_needs_exact_session_channel() {
    let chan = || run().channel("chan-1");
    eligible(chan(), session("sess-1").channel("chan-1"));
    not_eligible(chan(), session("sess-1").channel("chan-2"));
    not_eligible(chan(), session("sess-1"));
    not_eligible(chan(), session("sess-1").channel("CHAN-1"));
}

#[test]
fn run_without_channel_accepts_any_session() {
    eligible(run(), session("sess-1").channel("chan-9"));
    eligible(run(), session("sess-1"));
}

#[test]
fn owner_none_matches_any_session() {
    eligible(run().owner(OwnerRef::None), session("sess-1").agent("whoever"));
}

#[test]
fn pool_owner_matches_agent_name() {
    eligible(run().pool_owner("alice"), session("sess-1").agent("alice"));
    eligible(run().pool_owner(" alice "), session("sess-1").agent("alice"));
    not_eligible(run().pool_owner("alice"), session("sess-1").agent("bob"));
    // The pool ref is an agent name, not a session id.
    not_eligible(run().pool_owner("sess-1"), session("sess-1").agent("bob"));
}

#[test]
fn agent_session_owner_matches_session_id() {
    eligible(run().session_owner("sess-1"), session("sess-1").agent("alice"));
    not_eligible(run().session_owner("sess-2"), session("sess-1"));
    // The session ref is a session id, not an agent name.
    not_eligible(run().session_owner("alice"), session("sess-1").agent("alice"));
    // Exactly the owning session among several.
    let (woken, _) = wake(
        vec![run().session_owner("sess-2")],
        vec![session("sess-1"), session("sess-2"), session("sess-3")],
        vec![],
    );
    assert_eq!(woken, ["sess-2"]);
}

#[test]
fn owner_with_empty_ref_matches_nothing() {
    // Even a session whose agent name / id is blank.
    not_eligible(run().pool_owner(""), session("sess-1").agent(""));
    not_eligible(run().pool_owner("  "), session("sess-1").agent("  "));
    not_eligible(run().session_owner(""), session("sess-1"));
    not_eligible(run().session_owner("  "), session("sess-1"));
}

#[test]
fn unknown_owner_kind_matches_nothing() {
    not_eligible(run().owner(OwnerRef::Unknown), session("sess-1"));
}

#[test]
fn capabilities_must_cover_every_requirement() {
    let needs = || run().caps(["rust", "go"]);
    not_eligible(needs(), session("sess-1").caps(["rust"]));
    not_eligible(needs(), session("sess-1"));
    eligible(needs(), session("sess-1").caps(["go", "python", "rust"]));
    // Names are compared after trimming.
    eligible(run().caps([" rust "]), session("sess-1").caps(["rust "]));
}

#[test]
fn empty_capability_names_are_ignored() {
    eligible(run().caps(["", "  "]), session("sess-1"));
    eligible(run().caps(["rust", ""]), session("sess-1").caps(["rust"]));
    not_eligible(run().caps(["", "gpu"]), session("sess-1").caps(["rust"]));
}

#[test]
fn no_requirements_accept_any_session() {
    eligible(run(), session("sess-1"));
    eligible(run(), session("sess-1").caps(["anything"]));
}

#[test]
fn first_eligible_session_is_chosen_among_ineligible_ones() {
    let (woken, c) = wake(
        vec![run().caps(["rust"]).workspace("ws-1")],
        vec![
            session("a-prompting").workspace("ws-1").caps(["rust"]).prompting(),
            session("b-wrong-ws").workspace("ws-2").caps(["rust"]),
            session("c-no-caps").workspace("ws-1"),
            session("d-ok").workspace("ws-1").caps(["rust"]),
            session("e-also-ok").workspace("ws-1").caps(["rust"]),
        ],
        vec![],
    );
    assert_eq!(woken, ["d-ok"]);
    assert_eq!(c.result.counts.sessions_scanned, 5);
}

// ---- unclaimable runs ----

/// Asserts every run in `runs` is unclaimable: counted, not woken, not a no-match.
fn unclaimable(runs: Vec<RunSnapshot>) {
    let n = runs.len();
    let (woken, c) = wake(runs.clone(), vec![session("sess-1"), session("sess-2")], vec![]);
    assert!(woken.is_empty(), "woke {woken:?} for {runs:?}");
    assert_eq!(c.result.counts.unclaimable_runs, n, "{runs:?}");
    assert_eq!(c.result.counts.no_match_runs, 0);
    assert_eq!(c.result.counts.wake_attempts, 0);
    assert!(c.result.selected_run_ids.is_empty());
    assert!(c.result.no_match_run_ids.is_empty());
    assert_eq!(c.result.counts.pending_runs, n);
}

#[test]
fn empty_run_or_task_id_is_unclaimable() {
    unclaimable(vec![RunSnapshot::queued("", "task-1")]);
    unclaimable(vec![RunSnapshot::queued("  ", "task-1")]);
    unclaimable(vec![RunSnapshot::queued("run-1", "")]);
    unclaimable(vec![RunSnapshot::queued("run-1", " \t ")]);
}

#[test]
fn run_not_queued_is_unclaimable() {
    for status in [
        RunStatus::Claimed,
        RunStatus::Starting,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::Canceled,
        RunStatus::NeedsAttention,
        RunStatus::Unknown,
    ] {
        unclaimable(vec![run().status(status)]);
    }
    // An unknown status parsed from storage text is never queued.
    unclaimable(vec![run().status(RunStatus::from_text("queued-ish"))]);
}

#[test]
fn paused_task_is_unclaimable() {
    unclaimable(vec![run().paused()]);
}

#[test]
fn draft_blocked_canceled_tasks_are_unclaimable() {
    unclaimable(vec![
        run().task_status(TaskStatus::Draft),
        RunSnapshot::queued("run-2", "task-2").task_status(TaskStatus::Blocked),
        RunSnapshot::queued("run-3", "task-3").task_status(TaskStatus::Canceled),
    ]);
}

#[test]
fn other_task_statuses_are_claimable() {
    for status in [
        TaskStatus::Pending,
        TaskStatus::Ready,
        TaskStatus::InProgress,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Unknown,
    ] {
        eligible(run().task_status(status), session("sess-1"));
    }
}

#[test]
fn unclaimable_runs_do_not_take_sessions_from_claimable_ones() {
    let (woken, c) = wake(
        vec![
            RunSnapshot::queued("run-urgent-paused", "t1").priority(Priority::Urgent).paused(),
            RunSnapshot::queued("run-high-draft", "t2").priority(Priority::High).task_status(TaskStatus::Draft),
            RunSnapshot::queued("run-low", "t3").priority(Priority::Low),
        ],
        vec![session("sess-1")],
        vec![],
    );
    assert_eq!(woken, ["sess-1"]);
    assert_eq!(c.result.selected_run_ids, ids(&["run-low"]));
    assert_eq!(c.result.counts.unclaimable_runs, 2);
}
