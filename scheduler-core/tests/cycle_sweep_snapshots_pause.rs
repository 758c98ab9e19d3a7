//! Behaviour steps 1 to 3: the lease sweep, the snapshot reads and the pause.

mod common;

use common::{Expected, Rig, cycle, debug_all, fake, ids, mins, secs};
use scheduler_core::Outcome;
use scheduler_core::ladder::Budget;
use scheduler_testkit::scripted::RecoveryCall;
use scheduler_testkit::snapshot::{RecoveredLease, RunSnapshot, SessionSnapshot};

fn one_pair(rig: &Rig) {
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1"));
    rig.sessions.push(SessionSnapshot::active("s1"));
}

// ---- sweep ----

#[test]
fn sweep_is_called_with_now_and_default_settings() {
    let rig = Rig::new();
    let mut s = rig.build();
    cycle(&mut s);
    rig.clock.advance(secs(15));
    cycle(&mut s);
    let calls = rig.tasks.recovery_calls();
    let want = |now| RecoveryCall { now, reason: "scheduler_sweep".into(), limit: 100, actor: "scheduler".into() };
    assert_eq!(calls, [want(rig.ago(secs(15))), want(rig.now())]);
}

#[test]
fn sweep_uses_configured_reason_limit_and_actor() {
    let rig = Rig::new();
    let mut s = rig.builder().sweep_reason("nightly").sweep_limit(7).actor("daemon-7").build().unwrap();
    cycle(&mut s);
    assert_eq!(
        rig.tasks.recovery_calls(),
        [RecoveryCall { now: rig.now(), reason: "nightly".into(), limit: 7, actor: "daemon-7".into() }]
    );
    let mut s = rig.builder().sweep_limit(0).build().unwrap();
    cycle(&mut s);
    assert_eq!(rig.tasks.recovery_calls()[1].limit, 0);
}

#[test]
fn recovered_leases_are_reported_and_counted() {
    let rig = Rig::new();
    rig.tasks.recover_next([RecoveredLease::new(" r7 ", "s1"), RecoveredLease::new("r8", "s2")]);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.result.recovered_run_ids, ["r7", "r8"]);
    assert_eq!(c.result.counts.recovered_leases, 2);
    assert_eq!(s.stats().recovered_leases, 2);
    let c = cycle(&mut s);
    assert!(c.result.recovered_run_ids.is_empty());
    assert_eq!(c.result.counts.recovered_leases, 0);
    assert_eq!(s.stats().recovered_leases, 2);
}

#[test]
fn sweep_error_does_not_stop_the_cycle() {
    let rig = Rig::new();
    one_pair(&rig);
    rig.tasks.faults().fail_next("recover_expired_leases");
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::Sweep(fake("recover_expired_leases", 1))]));
    assert_eq!(c.outcome(), Outcome::Completed);
    assert_eq!(c.result.selected_run_ids, ["r1"], "the cycle went on to wake");
    assert!(c.result.recovered_run_ids.is_empty());
    let stats = s.stats();
    assert_eq!(stats.recovery_errors, 1);
    assert_eq!(
        stats.last_recovery_error.as_deref(),
        Some("expired-lease sweep failed: injected failure in recover_expired_leases (call 1)")
    );
    assert_eq!(stats.cycles, 1);
    assert_eq!(stats.wake_succeeded, 1);

    // The next cycle is clean; the last error is kept, the error count is not bumped.
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    let stats = s.stats();
    assert_eq!(stats.recovery_errors, 1);
    assert!(stats.last_recovery_error.is_some());
}

#[test]
fn sweep_runs_even_when_paused() {
    let rig = Rig::new();
    one_pair(&rig);
    rig.pause.pause("ops", rig.now(), "maintenance");
    rig.tasks.recover_next([RecoveredLease::new("r9", "s1")]);
    let mut s = rig.build_paused();
    let c = cycle(&mut s);
    assert_eq!(rig.tasks.recovery_calls().len(), 1);
    assert_eq!(c.result.recovered_run_ids, ["r9"]);
    assert_eq!(s.stats().recovered_leases, 1);
}

// ---- snapshots ----

fn snapshot_failure(op: &'static str) {
    let rig = Rig::batch();
    one_pair(&rig);
    match op {
        "sessions" => rig.sessions.faults().fail_next(op),
        _ => rig.tasks.faults().fail_next(op),
    }
    let mut s = rig.build();
    let c = cycle(&mut s);
    let want = match op {
        "pending_runs" => Expected::PendingRuns(fake(op, 1)),
        "active_runs" => Expected::ActiveRuns(fake(op, 1)),
        _ => Expected::Sessions(fake(op, 1)),
    };
    assert_eq!(c.errors, debug_all(&[want]), "{op}");
    assert_eq!(c.outcome(), Outcome::SnapshotFailed);
    assert!(rig.waker.attempts().is_empty(), "{op}: nothing woken");
    assert!(c.result.selected_run_ids.is_empty());
    assert!(c.result.no_match_run_ids.is_empty());
    let stats = s.stats();
    assert_eq!(stats.cycles, 0, "{op}: the cycle is not counted");
    assert_eq!(stats.last_cycle_at, None);
    assert_eq!(stats.wake_attempts, 0);
}

#[test]
fn failing_pending_runs_read_ends_the_cycle() {
    snapshot_failure("pending_runs");
}

#[test]
fn failing_active_runs_read_ends_the_cycle() {
    snapshot_failure("active_runs");
}

#[test]
fn failing_sessions_read_ends_the_cycle() {
    snapshot_failure("sessions");
}

#[test]
fn snapshot_error_comes_with_the_sweep_error() {
    let rig = Rig::new();
    one_pair(&rig);
    rig.tasks.faults().fail_next("recover_expired_leases");
    rig.tasks.faults().fail_next("active_runs");
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(
        c.errors,
        debug_all(&[Expected::Sweep(fake("recover_expired_leases", 1)), Expected::ActiveRuns(fake("active_runs", 1))])
    );
    assert!(rig.waker.attempts().is_empty());
    assert_eq!(s.stats().cycles, 0);
    assert_eq!(s.stats().recovery_errors, 1);
}

#[test]
fn snapshot_failure_skips_the_ladder() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(mins(10))));
    rig.store.insert("r1", Budget::fresh(rig.ago(mins(1))));
    rig.sessions.faults().fail_next("sessions");
    let mut s = rig.build_ladder();
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::Sessions(fake("sessions", 1))]));
    assert_eq!(rig.store.round_trips(), 0);
    assert!(rig.actor.calls().is_empty());
    assert!(c.result.starved_run_ids.is_empty());
}

#[test]
fn snapshot_failure_after_a_good_cycle_reports_no_stale_runs() {
    let rig = Rig::new();
    one_pair(&rig);
    rig.tasks.push_pending(RunSnapshot::queued("r-nm", "t").caps(["gpu"]));
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.result.selected_run_ids, ["r1"]);
    rig.tasks.faults().fail_next("pending_runs");
    let c = cycle(&mut s);
    assert!(c.result.selected_run_ids.is_empty());
    assert!(c.result.no_match_run_ids.is_empty());
    assert_eq!(c.result.counts.pending_runs, 0);
    assert_eq!(s.stats().cycles, 1);
}

// ---- pause ----

#[test]
fn paused_cycle_sweeps_but_wakes_and_escalates_nothing() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(mins(10))));
    rig.sessions.push(SessionSnapshot::active("s1"));
    rig.pause.pause("ops", rig.now(), "maintenance");
    // Past every ladder threshold: any escalation would show.
    let mut budget = Budget::fresh(rig.ago(mins(5)));
    budget.wake_count = 20;
    rig.store.insert("r1", budget);
    let mut s = rig
        .builder()
        .pause_store(rig.pause.clone())
        .starvation_store(rig.store.clone())
        .escalation_actor(rig.actor.clone())
        .build()
        .unwrap();
    let c = cycle(&mut s);
    assert_eq!(c.outcome(), Outcome::Paused);
    assert!(c.result.counts.paused);
    assert!(c.errors.is_empty());
    assert_eq!(rig.tasks.recovery_calls().len(), 1);
    assert!(rig.waker.attempts().is_empty());
    assert!(rig.actor.calls().is_empty());
    assert_eq!(rig.store.round_trips(), 0);
    assert_eq!(rig.store.get("r1"), Some(budget));
    assert!(c.result.starved_run_ids.is_empty());
    assert_eq!(c.result.counts.wake_attempts, 0);
    let stats = s.stats();
    assert_eq!(stats.cycles, 1, "a paused cycle is counted");
    assert_eq!(stats.last_cycle_at, Some(rig.now()));

    // Resumed: the next cycle wakes.
    rig.pause.resume();
    let c = cycle(&mut s);
    assert!(!c.result.counts.paused);
    assert_eq!(c.outcome(), Outcome::Completed);
    assert_eq!(c.result.selected_run_ids, ["r1"]);
}

#[test]
fn paused_cycle_reports_snapshot_counts() {
    let rig = Rig::new();
    one_pair(&rig);
    rig.pause.pause("ops", rig.now(), "why");
    let mut s = rig.build_paused();
    let c = cycle(&mut s);
    assert_eq!((c.result.counts.pending_runs, c.result.counts.sessions_scanned), (1, 1));
}

#[test]
fn unpaused_store_lets_the_cycle_run() {
    let rig = Rig::new();
    one_pair(&rig);
    let mut s = rig.build_paused();
    let c = cycle(&mut s);
    assert!(!c.result.counts.paused);
    assert_eq!(c.result.selected_run_ids, ids(&["r1"]));
}

#[test]
fn unreadable_pause_flag_fails_closed() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1").queued_at(rig.ago(mins(10))));
    rig.sessions.push(SessionSnapshot::active("s1"));
    let mut budget = Budget::fresh(rig.ago(mins(5)));
    budget.wake_count = 20;
    rig.store.insert("r1", budget);
    rig.pause.faults().fail_next("is_paused");
    let mut s = rig
        .builder()
        .pause_store(rig.pause.clone())
        .starvation_store(rig.store.clone())
        .escalation_actor(rig.actor.clone())
        .build()
        .unwrap();
    let c = cycle(&mut s);
    assert_eq!(c.errors, debug_all(&[Expected::Pause(fake("is_paused", 1))]));
    assert_eq!(c.outcome(), Outcome::PauseUnreadable);
    assert!(c.result.counts.paused, "failed closed, reported like a pause");
    assert_eq!(rig.tasks.recovery_calls().len(), 1, "the sweep still ran");
    assert!(rig.waker.attempts().is_empty());
    assert!(rig.actor.calls().is_empty());
    assert_eq!(rig.store.round_trips(), 0);
    assert_eq!(s.stats().cycles, 1, "the cycle is counted");

    // Readable again: dispatch resumes.
    let c = cycle(&mut s);
    assert!(c.errors.is_empty());
    assert_eq!(c.result.counts.wake_succeeded, 1);
}
