//! Cancellation: a seam future returns `Pending` once, the cycle (`run_once`) is polled
//! up to that point and dropped, then a healthy cycle runs at the same time. Compared
//! with a fault-free twin that ran the cycle whole.
//!
//! - Dropped before it acted (in the sweep, a snapshot read, the pause read, or before
//!   the first wake): the retry converges exactly to the twin: the same wakes, budgets,
//!   escalations and statistics.
//! - Dropped after it acted (mid-dispatch or in the ladder): nothing durable is lost or
//!   doubled (budgets equal the twin's after the retry, every run still climbs and is
//!   marked exactly once, no escalation is lost), but what the dropped cycle already did
//!   is done again or not counted; see the ignored test
//!   `a_dropped_cycle_neither_redelivers_nor_loses_counts`, which states the stronger
//!   property and fails today.

mod faults_harness;

use std::collections::BTreeMap;

use faults_harness::{FinalState, STEP, World, poll_once};

const MAX_CYCLES: usize = 40;

/// Drop points before the cycle acts: `(operation, n-th call in the cycle, batch waker)`.
const BEFORE_ACTING: &[(&str, u64, bool)] = &[
    ("recover_expired_leases", 1, false),
    ("pending_runs", 1, false),
    ("active_runs", 1, false),
    ("sessions", 1, false),
    ("is_paused", 1, false),
    ("wake", 1, false),
    ("wake_batch", 1, true),
];

/// Drop points after the cycle acted: `(operation, n-th call, batch waker, budgets
/// already saved)`. Once the budgets are saved the dropped cycle counts as a starved
/// cycle, so the retry is a second cycle at the same time (the ladder counts cycles).
const AFTER_ACTING: &[(&str, u64, bool, bool)] = &[
    ("wake", 2, false, false),
    ("list", 1, false, false),
    ("run_statuses", 1, false, false),
    ("load_many", 1, false, false),
    ("request_spawn", 1, false, false),
    ("emit_starved", 1, false, false),
    ("mark_needs_attention", 1, false, false),
    ("upsert_many", 1, false, false),
    ("run_statuses", 2, false, true),
    ("clear_many", 1, false, true),
];

/// The first cycle in which `op` is called at least `n` times (found on a probe world:
/// the worlds are deterministic).
fn reaching_cycle(op: &'static str, n: u64, batch: bool) -> usize {
    let mut probe = World::new(batch);
    for c in 1..=MAX_CYCLES {
        probe.gate.arm(op, n);
        probe.step(); // block_on polls past the yield
        if probe.gate.fired() {
            return c;
        }
    }
    panic!("{op} #{n} is never reached");
}

struct Dropped {
    world: World,
    twin: World,
    cycle: usize,
    /// Escalations the dropped cycle carried out before it was dropped.
    dropped_escalations: Vec<(String, u8)>,
    /// Wakes the dropped cycle delivered.
    dropped_wakes: usize,
}

/// Runs world and twin to cycle `c`; the world's cycle `c` is dropped at the gate and
/// retried at the same time.
fn drop_at(op: &'static str, n: u64, batch: bool) -> Dropped {
    let c = reaching_cycle(op, n, batch);
    let mut w = World::new(batch);
    let mut twin = World::new(batch);
    for _ in 1..c {
        w.step();
        twin.step();
    }
    twin.step();
    w.clock.advance(STEP);
    let wakes_before = w.waker.attempts().len();
    w.gate.arm(op, n);
    let done = poll_once(async { w.scheduler.run_once().await.outcome() });
    assert!(w.gate.fired() && done.is_none(), "{op} #{n}: cycle {c} did not stop at the gate");
    let dropped_escalations = w.log.take_escalations().into_iter().map(|e| (e.run_id, e.tier.as_u8())).collect();
    w.log.take_wakes();
    let dropped_wakes = w.waker.attempts().len() - wakes_before;
    w.cycle(); // the healthy retry, at the same time
    Dropped { world: w, twin, cycle: c, dropped_escalations, dropped_wakes }
}

fn assert_clean(w: &World, label: &str) {
    for (i, c) in w.cycles.iter().enumerate() {
        assert!(c.violations.is_empty(), "{label}: cycle {i} broke invariants: {:#?}", c.violations);
        assert!(c.faults.is_empty() && c.other_errors.is_empty(), "{label}: cycle {i} met errors");
    }
}

/// Final states compared without the recovered-lease list: a cycle dropped after its
/// sweep lost its report (the statistics and the observer still saw the recovery).
fn comparable(mut f: FinalState) -> FinalState {
    f.recovered.clear();
    f
}

#[test]
fn a_cycle_dropped_before_it_acts_converges_exactly() {
    for &(op, n, batch) in BEFORE_ACTING {
        let label = format!("{op} #{n}");
        let mut d = drop_at(op, n, batch);
        assert_eq!(d.dropped_wakes, 0, "{label}: woke before the drop point");
        assert!(d.dropped_escalations.is_empty(), "{label}: escalated before the drop point");
        assert_eq!(d.world.waker.attempts(), d.twin.waker.attempts(), "{label}: wakes differ after the retry");
        assert_eq!(d.world.store.inner.rows(), d.twin.store.inner.rows(), "{label}: budgets differ");
        assert_eq!(d.world.actor.calls(), d.twin.actor.calls(), "{label}: escalations differ");
        assert_eq!(d.world.stats(), d.twin.stats(), "{label}: statistics differ after the retry");
        let a = d.world.run_to_quiescence(MAX_CYCLES);
        let b = d.twin.run_to_quiescence(MAX_CYCLES);
        assert_eq!(a, b, "{label}: quiescence at a different cycle");
        assert_eq!(d.world.waker.attempts(), d.twin.waker.attempts(), "{label}: wakes differ at the end");
        assert_eq!(d.world.stats(), d.twin.stats(), "{label}: statistics differ at the end");
        assert_eq!(comparable(d.world.final_state()), comparable(d.twin.final_state()), "{label}");
        assert_clean(&d.world, &label);
        let _ = d.cycle;
    }
}

#[test]
fn a_cycle_dropped_after_it_acted_loses_and_doubles_nothing_durable() {
    for &(op, n, batch, saved) in AFTER_ACTING {
        let label = format!("{op} #{n}");
        let mut d = drop_at(op, n, batch);
        if saved {
            d.twin.cycle(); // the twin also runs two cycles at that time
        }
        // Budgets are written once per cycle, at the end: the retry advances them once.
        assert_eq!(d.world.store.inner.rows(), d.twin.store.inner.rows(), "{label}: budgets differ after the retry");
        // Every wake the twin's cycle delivered was delivered (by the dropped cycle or
        // the retry).
        let twin_last: Vec<_> = d.twin.cycles.last().unwrap().delivered.clone();
        let world_all: Vec<(String, String)> =
            d.world.waker.attempts().iter().map(|w| (w.run_id.clone(), w.session_id.clone())).collect();
        for pair in &twin_last {
            assert!(world_all.contains(pair), "{label}: {pair:?} never delivered");
        }
        d.world.run_to_quiescence(MAX_CYCLES);
        d.twin.run_to_quiescence(MAX_CYCLES);
        // The same final state, except escalations the dropped cycle carried out before
        // its budgets were saved: the retry does them again.
        let mut expected = comparable(d.twin.final_state());
        let mut got = comparable(d.world.final_state());
        let mut dropped: BTreeMap<(String, u8), usize> = BTreeMap::new();
        for e in &d.dropped_escalations {
            *dropped.entry(e.clone()).or_default() += 1;
        }
        for (k, v) in &dropped {
            *got.escalations.entry(k.clone()).or_default() += v;
            if !saved {
                *expected.escalations.entry(k.clone()).or_default() += v;
            }
        }
        let (spawns, marks) = (got.spawns_requested, got.needs_attention);
        expected.spawns_requested = spawns;
        expected.needs_attention = marks;
        assert_eq!(got, expected, "{label}: final state");
        // Every run marked exactly once in total.
        let marked = d.world.cycles.iter().flat_map(|c| &c.escalations).filter(|(_, t)| t.as_u8() == 4).count()
            + d.dropped_escalations.iter().filter(|(_, t)| *t == 4).count();
        assert_eq!(marked, 5, "{label}: runs marked");
        assert_clean(&d.world, &label);
    }
}

/// The stronger property: a dropped cycle's deliveries are neither repeated by the retry
/// nor missing from the statistics. It does not hold today (see the report): stats and
/// the cooldown are committed only when `run_once` completes, and starved runs fan out
/// again on the retry.
#[test]
#[ignore = "known limitation, documented under Scheduler::run_once (Cancellation): not exactly-once"]
fn a_dropped_cycle_neither_redelivers_nor_loses_counts() {
    let mut broken = Vec::new();
    for &(op, n, batch, saved) in AFTER_ACTING {
        let label = format!("{op} #{n}");
        let mut d = drop_at(op, n, batch);
        if saved {
            d.twin.cycle();
        }
        let (a, b) = (d.world.waker.attempts().len(), d.twin.waker.attempts().len());
        if a != b {
            broken.push(format!("{label}: {a} wakes delivered, the twin {b}"));
        }
        let (a, b) = (d.world.stats().wake_succeeded, d.world.waker.attempts().len() as u64);
        if a != b {
            broken.push(format!("{label}: statistics count {a} delivered wakes of {b}"));
        }
        let (a, b) = (d.world.actor.calls().len(), d.twin.actor.calls().len());
        if a != b {
            broken.push(format!("{label}: {a} escalation calls, the twin {b}"));
        }
    }
    assert!(broken.is_empty(), "{broken:#?}");
}
