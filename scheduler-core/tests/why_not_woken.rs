//! Why a run was not woken: one test per reason through the public API
//! (`CycleReport::why_not_woken`, `CycleReport::not_woken`, `Scheduler::why_not_woken`,
//! `Scheduler::not_woken`, `Observer::run_not_woken`), the precedence, and the cases
//! that have no reason.

mod common;

use std::sync::Mutex;

use common::{Rig, block_on, mins};
use scheduler_core::model::{Priority, RunStatus, SessionState};
use scheduler_core::observer::Observer;
use scheduler_core::why::WhyNotWoken;
use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot, SessionSnapshot};

fn run(id: &str) -> RunSnapshot {
    RunSnapshot::queued(id, format!("task-of-{id}"))
}

fn session(id: &str) -> SessionSnapshot {
    SessionSnapshot::active(id)
}

/// One cycle over the rows; the reason `run-1` was not woken, as the report, the
/// report's list and the scheduler afterwards all say (they must agree).
fn why(runs: Vec<RunSnapshot>, sessions: Vec<SessionSnapshot>, active: Vec<ActiveRun>) -> Option<WhyNotWoken> {
    let rig = Rig::new();
    rig.tasks.set_pending(runs);
    rig.tasks.set_active(active);
    rig.sessions.set(sessions);
    let mut s = rig.build();
    let (from_report, listed) = {
        let report = block_on(s.run_once());
        assert!(report.is_ok(), "{:?}", report.errors());
        let listed: Vec<_> = report.not_woken().filter(|(id, _)| *id == "run-1").map(|(_, w)| w).collect();
        (report.why_not_woken("run-1"), listed)
    };
    assert_eq!(listed, from_report.into_iter().collect::<Vec<_>>(), "not_woken lists what why_not_woken says");
    assert_eq!(s.why_not_woken("run-1"), from_report, "the scheduler keeps the last cycle's answer");
    from_report
}

#[test]
fn no_session_in_scope() {
    let sessions = vec![session("sess-1").workspace("ws-b")];
    assert_eq!(
        why(vec![run("run-1").workspace("ws-a")], sessions.clone(), vec![]),
        Some(WhyNotWoken::NoSessionInScope)
    );
    // A global run needs a session without a workspace.
    assert_eq!(why(vec![run("run-1")], sessions, vec![]), Some(WhyNotWoken::NoSessionInScope));
}

#[test]
fn no_session_on_channel() {
    let sessions = vec![session("sess-1").channel("ops"), session("sess-2")];
    assert_eq!(why(vec![run("run-1").channel("dev")], sessions, vec![]), Some(WhyNotWoken::NoSessionOnChannel));
}

#[test]
fn no_session_for_owner() {
    let sessions = vec![session("sess-1").agent("reviewer")];
    assert_eq!(
        why(vec![run("run-1").pool_owner("coder")], sessions.clone(), vec![]),
        Some(WhyNotWoken::NoSessionForOwner)
    );
    assert_eq!(why(vec![run("run-1").session_owner("sess-9")], sessions, vec![]), Some(WhyNotWoken::NoSessionForOwner));
}

#[test]
fn no_session_with_capabilities() {
    let sessions = vec![session("sess-1").caps(["go"]), session("sess-2").caps(["rust"])];
    let r = run("run-1").caps(["rust", "sqlite"]);
    assert_eq!(why(vec![r], sessions, vec![]), Some(WhyNotWoken::NoSessionWithCapabilities));
}

#[test]
fn every_candidate_inactive() {
    let sessions =
        vec![session("sess-1").state(SessionState::Inactive), session("sess-2").state(SessionState::Stopped)];
    assert_eq!(why(vec![run("run-1")], sessions, vec![]), Some(WhyNotWoken::CandidatesInactive));
}

#[test]
fn every_candidate_prompting() {
    let sessions = vec![session("sess-1").prompting(), session("sess-2").state(SessionState::Inactive)];
    assert_eq!(why(vec![run("run-1")], sessions, vec![]), Some(WhyNotWoken::CandidatesPrompting));
}

#[test]
fn every_candidate_busy() {
    let sessions = vec![session("sess-1"), session("sess-2").prompting()];
    let active = vec![ActiveRun::new("run-0", " sess-1 ", RunStatus::Running)];
    assert_eq!(why(vec![run("run-1")], sessions.clone(), active), Some(WhyNotWoken::CandidatesBusy));
    // A finished run does not hold its session.
    let done = vec![ActiveRun::new("run-0", "sess-1", RunStatus::Completed)];
    assert_eq!(why(vec![run("run-1")], sessions, done), None);
}

#[test]
fn every_candidate_taken_by_an_earlier_run() {
    let runs = vec![run("run-1").priority(Priority::Low), run("run-0").priority(Priority::High)];
    assert_eq!(why(runs, vec![session("sess-1")], vec![]), Some(WhyNotWoken::CandidatesTaken));
}

#[test]
fn every_free_candidate_in_cooldown() {
    let rig = Rig::new();
    rig.tasks.set_pending(vec![run("run-1")]);
    rig.sessions.set(vec![session("sess-1")]);
    let mut s = rig.builder().wake_cooldown(mins(5)).build().unwrap();
    assert_eq!(block_on(s.run_once()).why_not_woken("run-1"), None, "woken in the first cycle");
    // Second cycle: the pair is cooling, and a later (lower-priority) run takes the
    // session; it was free when run-1 was decided, so the cooldown is the reason.
    rig.tasks.set_pending(vec![run("run-1").priority(Priority::High), run("run-2").priority(Priority::Low)]);
    let report = block_on(s.run_once());
    assert_eq!(report.counts().recently_notified_runs, 1);
    assert_eq!(report.why_not_woken("run-1"), Some(WhyNotWoken::CandidatesInCooldown));
    assert_eq!(report.why_not_woken("run-2"), None, "run-2 was woken");
    assert!(!WhyNotWoken::CandidatesInCooldown.is_no_match());
}

#[test]
fn the_first_filter_that_leaves_no_session_is_the_reason() {
    // Wrong channel, missing capability and inactive: the channel comes first.
    let sessions = vec![session("sess-1").channel("ops").state(SessionState::Inactive)];
    let r = run("run-1").channel("dev").caps(["rust"]);
    assert_eq!(why(vec![r.clone()], sessions, vec![]), Some(WhyNotWoken::NoSessionOnChannel));
    // Each session fails a different filter: the funnel still ends at the first
    // filter that empties it (sess-1 passes channel but lacks the capability, sess-2
    // has the capability on the wrong channel).
    let sessions = vec![session("sess-1").channel("dev"), session("sess-2").channel("ops").caps(["rust"])];
    assert_eq!(why(vec![r], sessions, vec![]), Some(WhyNotWoken::NoSessionWithCapabilities));
}

#[test]
fn woken_unclaimable_unknown_and_paused_runs_have_no_reason() {
    assert_eq!(why(vec![run("run-1")], vec![session("sess-1")], vec![]), None, "woken");
    assert_eq!(why(vec![run("run-1").paused()], vec![session("sess-1")], vec![]), None, "unclaimable");
    assert_eq!(why(vec![run("run-2")], vec![], vec![]), None, "not pending");

    let rig = Rig::new();
    rig.tasks.set_pending(vec![run("run-1")]);
    rig.pause.pause("ops", rig.now(), "maintenance");
    let mut s = rig.build_paused();
    assert_eq!(block_on(s.run_once()).not_woken().count(), 0, "a paused cycle selects nothing");
    assert_eq!(s.why_not_woken("run-1"), None);
    assert_eq!(s.not_woken().count(), 0);
}

#[test]
fn the_scheduler_lists_every_run_not_woken_in_run_order() {
    let rig = Rig::new();
    rig.tasks.set_pending(vec![run("run-a").channel("x"), run("run-b"), run("run-c").caps(["gpu"])]);
    rig.sessions.set(vec![session("sess-1")]);
    let mut s = rig.build();
    block_on(s.run_once());
    let listed: Vec<_> = s.not_woken().collect();
    assert_eq!(listed, [("run-a", WhyNotWoken::NoSessionOnChannel), ("run-c", WhyNotWoken::NoSessionWithCapabilities)]);
    block_on(s.rebuild()).unwrap();
    assert_eq!(s.not_woken().count(), 0, "a rebuild forgets the last cycle");
}

#[derive(Default)]
struct Reasons {
    explain: bool,
    seen: Mutex<Vec<(String, WhyNotWoken)>>,
}

impl Observer for Reasons {
    fn explains_not_woken(&self) -> bool {
        self.explain
    }
    fn run_not_woken(&self, run_id: &str, why: WhyNotWoken) {
        self.seen.lock().unwrap().push((run_id.to_owned(), why));
    }
}

#[test]
fn an_observer_gets_the_reasons_only_when_it_asks() {
    for explain in [false, true] {
        let rig = Rig::new();
        rig.tasks.set_pending(vec![run("run-1").workspace("ws-a"), run("run-2")]);
        rig.sessions.set(vec![session("sess-1")]);
        let mut s = rig.builder().observer(Reasons { explain, ..Reasons::default() }).build().unwrap();
        block_on(s.run_once());
        let seen = s.observer().seen.lock().unwrap().clone();
        let want = if explain { vec![("run-1".to_owned(), WhyNotWoken::NoSessionInScope)] } else { vec![] };
        assert_eq!(seen, want, "explain = {explain}");
    }
}

#[test]
fn reasons_have_stable_names_and_texts() {
    let names: Vec<_> = WhyNotWoken::ALL.iter().map(|w| w.as_str()).collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(unique.len(), 9);
    assert_eq!(names[0], "no_session_in_scope");
    assert_eq!(WhyNotWoken::CandidatesTaken.to_string(), "every candidate session was taken by an earlier run");
}

#[test]
fn every_run_not_woken_has_a_reason_that_agrees_with_the_counts() {
    use scheduler_bench_support::workload::Workload;
    let (mut s, clock) = Workload::steady(1000, 100).steady_scheduler();
    let mut kinds = std::collections::BTreeSet::new();
    for step in [0, 10, 10] {
        clock.advance(std::time::Duration::from_secs(step));
        let counts = *block_on(s.run_once()).counts();
        let reasons: Vec<_> = s.not_woken().map(|(_, why)| why).collect();
        let no_match = reasons.iter().filter(|why| why.is_no_match()).count();
        assert_eq!(no_match, counts.no_match_runs, "every no-match run has a no-match reason");
        assert_eq!(reasons.len() - no_match, counts.recently_notified_runs, "and every cooling run the cooldown");
        kinds.extend(reasons);
    }
    assert!(kinds.contains(&WhyNotWoken::CandidatesInCooldown), "{kinds:?}");
    assert!(kinds.len() >= 4, "the workload exercises several reasons: {kinds:?}");
}

mod listing_agrees_with_each_answer {
    //! `not_woken` (which indexes the cycle once and decides each requirement class once)
    //! must say, for every run, exactly what `why_not_woken` (which asks the funnel for
    //! that one run) says, on small random worlds where every reason can occur: several
    //! workspaces, channels, owners and capabilities, inactive, prompting and busy
    //! sessions, runs of equal requirements at different places in the order, and later
    //! cycles with the wake cooldown holding some pairs.

    use super::*;
    use proptest::prelude::*;
    use scheduler_core::model::Scope;

    fn arb_run(i: usize) -> impl Strategy<Value = RunSnapshot> {
        (0..3u8, 0..3u8, 0..3u8, 0..4u8, 0..3u8, 0..5u8).prop_map(move |(ws, ch, owner, caps, prio, age)| {
            // Ages 0-3: queued during the test; 4: long before it (starved: fanned out).
            let queued_at = if age == 4 { common::at(mins(0)) - mins(60) } else { common::at(mins(u64::from(age))) };
            let mut r = run(&format!("run-{i}")).queued_at(queued_at);
            r = match ws {
                0 => r.scope(Scope::Global, ""),
                w => r.workspace(format!("ws-{w}")),
            };
            if ch > 0 {
                r = r.channel(format!("ch-{ch}"));
            }
            r = match owner {
                1 => r.pool_owner("coder"),
                2 => r.session_owner("sess-1"),
                _ => r,
            };
            r = r.caps(["rust", "gpu", "go"].iter().take(usize::from(caps)).copied());
            r.priority([Priority::Low, Priority::Medium, Priority::High][usize::from(prio)])
        })
    }

    fn arb_session(i: usize) -> impl Strategy<Value = SessionSnapshot> {
        (0..3u8, 0..3u8, any::<bool>(), 0..4u8, 0..6u8).prop_map(move |(ws, ch, coder, caps, mood)| {
            let mut s =
                session(&format!("sess-{i}")).caps(["rust", "gpu", "go"].iter().take(usize::from(caps)).copied());
            if ws > 0 {
                s = s.workspace(format!("ws-{ws}"));
            }
            if ch > 0 {
                s = s.channel(format!("ch-{ch}"));
            }
            if coder {
                s = s.agent("coder");
            }
            match mood {
                0 => s.state(SessionState::Inactive),
                1 => s.prompting(),
                _ => s,
            }
        })
    }

    /// Runs, sessions, the sessions holding a run, and which sessions (and runs) the
    /// first cycle sees: later cycles see them all, so some pairs are cooling then.
    type World = (Vec<RunSnapshot>, Vec<SessionSnapshot>, Vec<usize>, Vec<bool>);

    fn arb_world() -> impl Strategy<Value = World> {
        (0..10usize, 0..7usize).prop_flat_map(|(runs, sessions)| {
            (
                (0..runs).map(arb_run).collect::<Vec<_>>(),
                (0..sessions).map(arb_session).collect::<Vec<_>>(),
                proptest::collection::vec(0..7usize, 0..3),
                proptest::collection::vec(any::<bool>(), runs + sessions),
            )
        })
    }

    fn seen<T: Clone>(rows: &[T], mask: &[bool]) -> Vec<T> {
        rows.iter().zip(mask).filter(|(_, seen)| **seen).map(|(row, _)| row.clone()).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]
        #[test]
        fn every_listed_reason_is_the_single_answer((runs, sessions, busy, first) in arb_world()) {
            let rig = Rig::new();
            let active: Vec<ActiveRun> = busy
                .iter()
                .map(|&s| ActiveRun::new(format!("held-{s}"), format!("sess-{s}"), RunStatus::Running))
                .collect();
            let ids: Vec<String> = runs.iter().map(|r| r.run_id.clone()).collect();
            rig.tasks.set_active(active);
            let mut s = rig.builder().wake_cooldown(mins(5)).build().unwrap();
            for cycle in 0..3 {
                let everything = cycle > 0;
                let (run_mask, session_mask) = first.split_at(runs.len());
                rig.tasks.set_pending(if everything { runs.clone() } else { seen(&runs, run_mask) });
                rig.sessions.set(if everything { sessions.clone() } else { seen(&sessions, session_mask) });
                rig.clock.advance(mins(1));
                block_on(s.run_once());
                let listed: Vec<(String, WhyNotWoken)> = s.not_woken().map(|(id, w)| (id.to_owned(), w)).collect();
                let asked: Vec<(String, WhyNotWoken)> =
                    ids.iter().filter_map(|id| Some((id.clone(), s.why_not_woken(id)?))).collect();
                prop_assert_eq!(listed, asked);
            }
        }
    }
}
