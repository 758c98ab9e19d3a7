//! Behaviour sections 3 and 4: statistics across cycles, and rebuild.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use common::{Expected, Rig, block_on, cycle, debug_all, fake, mins, pairs, secs};
use scheduler_core::Stats;
use scheduler_core::ladder::Budget;
use scheduler_core::model::RunStatus;
use scheduler_testkit::snapshot::{ActiveRun, RecoveredLease, RunSnapshot, SessionSnapshot};

fn two_pairs(rig: &Rig) {
    rig.tasks.set_pending([RunSnapshot::queued("r1", "t"), RunSnapshot::queued("r2", "t")]);
    rig.sessions.set([SessionSnapshot::active("s1"), SessionSnapshot::active("s2")]);
}

// ---- rebuild ----

#[test]
fn rebuild_clears_cooldown_keys_and_counts() {
    let rig = Rig::new();
    two_pairs(&rig);
    rig.tasks.set_active([ActiveRun::new("r0", "s9", RunStatus::Running)]);
    let mut s = rig.build();
    cycle(&mut s);
    assert_eq!(s.cooldown().len(), 2);

    rig.clock.advance(secs(5));
    let report = block_on(s.rebuild()).expect("rebuild");
    assert_eq!(report.cleared_wake_keys, 2);
    assert_eq!((report.pending_runs, report.active_runs, report.sessions_scanned), (2, 1, 2));
    assert_eq!(report.rebuilt_at, rig.now());
    assert_eq!(s.cooldown().len(), 0);
    let stats = s.stats();
    assert_eq!(stats.rebuilds, 1);
    assert_eq!(stats.last_rebuild_at, Some(rig.now()));
    assert_eq!(stats.cycles, 1, "a rebuild is not a cycle");

    // The same pairs are woken again at once.
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.recently_notified_runs, 0);
    assert_eq!(rig.waker.attempted_pairs()[2..], pairs(&[("r1", "s1"), ("r2", "s2")]));

    // A second rebuild reports what it cleared this time.
    rig.clock.advance(secs(5));
    assert_eq!(block_on(s.rebuild()).unwrap().cleared_wake_keys, 2);
    assert_eq!(block_on(s.rebuild()).unwrap().cleared_wake_keys, 0);
    let stats = s.stats();
    assert_eq!(stats.rebuilds, 3);
    assert_eq!(stats.last_rebuild_at, Some(rig.now()));
}

#[test]
fn rebuild_does_not_touch_starvation_budgets() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t").queued_at(rig.ago(mins(10))));
    let mut stored = Budget::fresh(rig.ago(mins(3)));
    stored.wake_count = 3;
    rig.store.insert("r1", stored);
    rig.store.insert("r-other", stored);
    let mut s = rig.build_ladder();
    let trips = rig.store.round_trips();
    block_on(s.rebuild()).unwrap();
    assert_eq!(rig.store.round_trips(), trips, "rebuild never calls the store");
    assert_eq!(rig.store.rows(), [("r-other".to_owned(), stored), ("r1".to_owned(), stored)]);
    // The ladder resumes where it was.
    cycle(&mut s);
    assert_eq!(rig.store.get("r1").unwrap().wake_count, 4);
    assert_eq!(rig.store.get("r1").unwrap().first_starved_at, stored.first_starved_at);
}

fn rebuild_failure(op: &'static str) {
    let rig = Rig::new();
    two_pairs(&rig);
    let mut s = rig.build();
    cycle(&mut s);
    assert_eq!(s.cooldown().len(), 2);
    match op {
        "sessions" => rig.sessions.faults().fail_next(op),
        _ => rig.tasks.faults().fail_next(op),
    }
    let err = block_on(s.rebuild()).expect_err(op);
    let want = match op {
        // Call 1 was the cycle's read.
        "pending_runs" => Expected::PendingRuns(fake(op, 2)),
        "active_runs" => Expected::ActiveRuns(fake(op, 2)),
        _ => Expected::Sessions(fake(op, 2)),
    };
    assert_eq!(debug_all(&[err]), debug_all(&[want]));
    assert_eq!(s.cooldown().len(), 2, "{op}: nothing cleared");
    let stats = s.stats();
    assert_eq!(stats.rebuilds, 0);
    assert_eq!(stats.last_rebuild_at, None);
}

#[test]
fn rebuild_pending_runs_error_clears_nothing() {
    rebuild_failure("pending_runs");
}

#[test]
fn rebuild_active_runs_error_clears_nothing() {
    rebuild_failure("active_runs");
}

#[test]
fn rebuild_sessions_error_clears_nothing() {
    rebuild_failure("sessions");
}

// ---- statistics ----

/// `CycleCounts::oldest_queued_age`: how long the longest-waiting claimable run has
/// waited, whether or not a session can take it; unclaimable runs and runs with no
/// queued-at time do not count, and a queue with no known time has none.
#[test]
fn the_oldest_queued_age_is_the_longest_wait_of_a_claimable_run() {
    let rig = Rig::new();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-40", "t").queued_at(rig.ago(secs(40))),
        RunSnapshot::queued("r-paused", "t").paused().queued_at(rig.ago(mins(50))),
        RunSnapshot::queued("r-gpu-100", "t").caps(["gpu"]).queued_at(rig.ago(secs(100))),
        RunSnapshot::queued("r-unknown", "t"),
        RunSnapshot::queued("r-90", "t").queued_at(rig.ago(secs(90))),
        RunSnapshot::queued("r-done", "t").status(RunStatus::Completed).queued_at(rig.ago(mins(60))),
    ]);
    rig.sessions.set([SessionSnapshot::active("s1")]);
    let mut s = rig.build();
    assert_eq!(cycle(&mut s).result.counts.oldest_queued_age, Some(secs(100)));
    rig.clock.advance(secs(5));
    assert_eq!(cycle(&mut s).result.counts.oldest_queued_age, Some(secs(105)), "the same queue, later");

    rig.tasks.set_pending([RunSnapshot::queued("r-unknown", "t"), RunSnapshot::queued("r-paused", "t").paused()]);
    assert_eq!(cycle(&mut s).result.counts.oldest_queued_age, None, "no claimable run with a known time");
}

#[test]
fn statistics_accumulate_every_counter_across_cycles() {
    let rig = Rig::new();
    // Cycle 1 (run order: unknown queued-at first, then by id): r-fail woken but fails
    // (s1), r-nm no match, r-ok woken (s2), r-paused unclaimable, r-starved starved with
    // no session left; one lease recovered; the ladder spawns and marks r-starved.
    rig.tasks.set_pending([
        RunSnapshot::queued("r-starved", "t").caps(["gpu"]).queued_at(rig.ago(mins(30))),
        RunSnapshot::queued("r-ok", "t"),
        RunSnapshot::queued("r-fail", "t"),
        RunSnapshot::queued("r-nm", "t").caps(["rust"]),
        RunSnapshot::queued("r-paused", "t").paused(),
    ]);
    rig.sessions.set([
        SessionSnapshot::active("s1").created_at(rig.ago(secs(20))),
        SessionSnapshot::active("s2").created_at(rig.ago(secs(10))),
    ]);
    rig.waker.fail_run("r-fail");
    rig.tasks.recover_next([RecoveredLease::new("r-old", "s1")]);
    let mut budget = Budget::fresh(rig.ago(mins(20)));
    budget.wake_count = 9;
    rig.store.insert("r-starved", budget);
    let mut s = rig.build_ladder();
    let first = rig.now();
    let c = cycle(&mut s);
    assert_eq!(c.errors.len(), 1, "{:?}", c.errors);

    let mut want = Stats::default();
    want.cycles = 1;
    want.recovered_leases = 1;
    want.wake_attempts = 2;
    want.wake_succeeded = 1;
    want.wake_failed = 1;
    want.no_match_runs = 2; // r-starved and r-nm
    want.unclaimable_runs = 1;
    want.starved_runs = 1;
    want.spawns_requested = 1;
    want.needs_attention_runs = 1;
    want.last_cycle_at = Some(first);
    want.last_wake_error =
        Some("waking session \"s1\" for run \"r-fail\" failed: injected failure in wake (call 1)".to_owned());
    assert_eq!(s.stats(), want);

    // Cycle 2 (10 s later): r-ok cooling, r-fail retried and still failing, the sweep
    // fails, r-starved was marked needs_attention and is gone.
    rig.clock.advance(secs(10));
    rig.tasks.remove_pending("r-starved");
    rig.tasks.faults().fail_next("recover_expired_leases");
    let c = cycle(&mut s);
    assert_eq!(c.errors.len(), 2, "{:?}", c.errors);
    want.cycles = 2;
    want.recovery_errors = 1;
    want.last_recovery_error =
        Some("expired-lease sweep failed: injected failure in recover_expired_leases (call 2)".to_owned());
    want.wake_attempts += 1; // r-fail -> s1 again: a failed wake left no cooldown
    want.wake_failed += 1;
    want.recently_notified_runs = 1; // r-ok
    want.no_match_runs += 1; // r-nm
    want.unclaimable_runs += 1;
    want.last_cycle_at = Some(rig.now());
    // 3rd wake call overall
    want.last_wake_error =
        Some("waking session \"s1\" for run \"r-fail\" failed: injected failure in wake (call 3)".to_owned());
    assert_eq!(s.stats(), want);

    // A snapshot failure changes no counter except those of the sweep.
    rig.tasks.faults().fail_next("pending_runs");
    rig.tasks.recover_next([RecoveredLease::new("r-x", "s2")]);
    rig.clock.advance(secs(10));
    cycle(&mut s);
    want.recovered_leases += 1;
    assert_eq!(s.stats(), want);

    // A rebuild counts itself only.
    block_on(s.rebuild()).unwrap();
    want.rebuilds = 1;
    want.last_rebuild_at = Some(rig.now());
    assert_eq!(s.stats(), want);
}

#[test]
fn stats_are_readable_consistently_from_another_thread() {
    let rig = Rig::new();
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t"));
    rig.sessions.push(SessionSnapshot::active("s1"));
    // Every cycle wakes once, so every consistent snapshot has wakes == cycles.
    let mut s = rig.builder().wake_cooldown(secs(0)).build().unwrap();
    let handle = s.stats_handle();
    const CYCLES: u64 = 200;
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let mut seen = 0;
            let mut reads = 0u64;
            loop {
                let finished = done.load(Ordering::Acquire);
                let st = handle.snapshot();
                assert_eq!(st.wake_attempts, st.cycles, "torn snapshot {st:?}");
                assert_eq!(st.wake_succeeded, st.cycles, "torn snapshot {st:?}");
                assert!(st.cycles >= seen, "cycles went backwards");
                seen = st.cycles;
                reads += 1;
                if finished {
                    return (seen, reads);
                }
                std::thread::yield_now();
            }
        });
        for _ in 0..CYCLES {
            cycle(&mut s);
        }
        done.store(true, Ordering::Release);
        let (seen, reads) = reader.join().unwrap();
        assert_eq!(seen, CYCLES);
        assert!(reads >= 1);
    });
    // A clone of the handle, moved to a thread after the fact, reads the same.
    let h2 = s.stats_handle();
    let st = std::thread::spawn(move || h2.snapshot()).join().unwrap();
    assert_eq!(st, s.stats());
    assert_eq!(st.cycles, CYCLES);
}
