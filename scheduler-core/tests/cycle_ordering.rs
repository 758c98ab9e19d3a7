//! Behaviour step 4: the order runs and sessions are considered in, and the greedy
//! assignment that follows from it.
//!
//! With N equally eligible sessions and N runs, run k (in run order) takes session k
//! (in session order), so the woken pairs reveal both orders.

mod common;

use common::{Rig, at, cycle, pairs, secs};
use scheduler_core::model::Priority;
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

/// Sessions `s0`, `s1`, ... created one second apart (so session order is by index).
fn sessions(n: usize) -> Vec<SessionSnapshot> {
    (0..n).map(|i| SessionSnapshot::active(format!("s{i}")).created_at(at(secs(i as u64)))).collect()
}

/// The runs woken, in dispatch order, one session each.
fn run_order(runs: Vec<RunSnapshot>) -> Vec<String> {
    let rig = Rig::new();
    let n = runs.len();
    rig.tasks.set_pending(runs);
    rig.sessions.set(sessions(n));
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    let woken = rig.waker.attempted_pairs();
    assert_eq!(woken.len(), n);
    for (k, (_, session)) in woken.iter().enumerate() {
        assert_eq!(session, &format!("s{k}"), "run {k} in order takes session {k}: {woken:?}");
    }
    woken.into_iter().map(|(run, _)| run).collect()
}

#[test]
fn runs_by_priority_descending() {
    let runs = vec![
        RunSnapshot::queued("r-low", "t").priority(Priority::Low),
        RunSnapshot::queued("r-urgent", "t").priority(Priority::Urgent),
        RunSnapshot::queued("r-medium", "t").priority(Priority::Medium),
        RunSnapshot::queued("r-high", "t").priority(Priority::High),
    ];
    assert_eq!(run_order(runs), ["r-urgent", "r-high", "r-medium", "r-low"]);
}

#[test]
fn unknown_priority_ranks_as_medium() {
    // Ties on priority fall to the run id, so "m" sits between "a" and "z" only if
    // its unknown priority ranks exactly as medium.
    let runs = vec![
        RunSnapshot::queued("z", "t").priority(Priority::Medium),
        RunSnapshot::queued("m", "t").priority(Priority::from_text("critical!")),
        RunSnapshot::queued("a", "t").priority(Priority::Medium),
        RunSnapshot::queued("high", "t").priority(Priority::High),
        RunSnapshot::queued("low", "t").priority(Priority::Low),
    ];
    assert_eq!(run_order(runs), ["high", "a", "m", "z", "low"]);
}

#[test]
fn equal_priority_by_queued_at_ascending_unknown_first() {
    let rig_now = at(secs(0));
    // Recent queued-at times (well under the 2 min starvation age): no fan-out.
    let runs = vec![
        RunSnapshot::queued("a", "t").queued_at(rig_now - secs(10)),
        RunSnapshot::queued("b", "t").queued_at(rig_now - secs(30)),
        RunSnapshot::queued("c", "t"),
        RunSnapshot::queued("d", "t").queued_at(rig_now - secs(20)),
    ];
    assert_eq!(run_order(runs), ["c", "b", "d", "a"]);
}

#[test]
fn priority_wins_over_queued_at() {
    let now = at(secs(0));
    let runs = vec![
        RunSnapshot::queued("old-low", "t").priority(Priority::Low).queued_at(now - secs(100)),
        RunSnapshot::queued("new-high", "t").priority(Priority::High).queued_at(now - secs(1)),
    ];
    assert_eq!(run_order(runs), ["new-high", "old-low"]);
}

#[test]
fn equal_priority_and_queued_at_by_run_id_ascending() {
    let q = at(secs(0)) - secs(5);
    let runs = vec![
        RunSnapshot::queued("run-b", "t").queued_at(q),
        RunSnapshot::queued("run-c", "t").queued_at(q),
        RunSnapshot::queued("run-a", "t").queued_at(q),
    ];
    assert_eq!(run_order(runs), ["run-a", "run-b", "run-c"]);
}

#[test]
fn sessions_by_created_at_then_id() {
    let rig = Rig::new();
    rig.tasks.set_pending((1..=4).map(|i| RunSnapshot::queued(format!("r{i}"), "t")));
    rig.sessions.set([
        SessionSnapshot::active("x").created_at(at(secs(30))),
        SessionSnapshot::active("b").created_at(at(secs(10))),
        SessionSnapshot::active("a").created_at(at(secs(10))),
        SessionSnapshot::active("c").created_at(at(secs(0))),
    ]);
    let mut s = rig.build();
    cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "c"), ("r2", "a"), ("r3", "b"), ("r4", "x")]));
}

#[test]
fn oldest_session_is_chosen_for_a_single_run() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t"));
    rig.sessions.set([
        SessionSnapshot::active("young").created_at(at(secs(50))),
        SessionSnapshot::active("old").created_at(at(secs(5))),
    ]);
    let mut s = rig.build();
    cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r1", "old")]));
}

#[test]
fn greedy_earlier_run_takes_the_session_a_later_run_needed() {
    // The high-priority run could use either session but takes the oldest, which is the
    // only one the low-priority run can use: no global optimisation.
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-lo", "t").priority(Priority::Low).caps(["rust"]),
        RunSnapshot::queued("r-hi", "t").priority(Priority::High),
    ]);
    rig.sessions.set([
        SessionSnapshot::active("s-plain").created_at(at(secs(10))),
        SessionSnapshot::active("s-rust").caps(["rust"]).created_at(at(secs(0))),
    ]);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&[("r-hi", "s-rust")]));
    assert_eq!(c.result.no_match_run_ids, ["r-lo"]);
    assert_eq!(c.result.counts.no_match_runs, 1);
}

#[test]
fn report_lists_runs_in_selection_order() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("nm-low", "t").priority(Priority::Low).caps(["gpu"]),
        RunSnapshot::queued("nm-high", "t").priority(Priority::High).caps(["gpu"]),
        RunSnapshot::queued("ok-low", "t").priority(Priority::Low),
        RunSnapshot::queued("ok-urgent", "t").priority(Priority::Urgent),
    ]);
    rig.sessions.set(sessions(2));
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.result.selected_run_ids, ["ok-urgent", "ok-low"]);
    assert_eq!(c.result.no_match_run_ids, ["nm-high", "nm-low"]);
}
