//! Behaviour section 8, "Budget keys", and step 6's reconcile, over production-shaped
//! run ids (longer than the sixteen bytes the cycle's id tables compare before reading
//! an id back):
//!
//! - a stored budget whose key differs from a run id only by surrounding spaces belongs
//!   to that run: it is read, rewritten and cleared under the key the store listed;
//! - a second row of one run (the same key after trimming) is cleared, so one row per
//!   run remains;
//! - reconcile re-reads only the rows whose run was not a candidate this cycle (the
//!   candidates' statuses were read once already).
//!
//! `robustness.rs` and `cycle_ladder.rs` state the same rules over short ids; ids of
//! sixteen bytes or fewer are told apart without reading them back, so only long ids
//! reach the comparisons these tests guard.

mod common;

use common::{Rig, cycle, ids, mins, secs};
use scheduler_core::ladder::Budget;
use scheduler_core::model::RunStatus;
use scheduler_testkit::snapshot::RunSnapshot;

/// A run id of the production shape, well past sixteen bytes.
const RUN: &str = "workspace-7f3a/run-000000000123";
/// Another, sharing `RUN`'s first sixteen bytes and length.
const OTHER: &str = "workspace-7f3a/run-000000000999";

/// A run queued ten minutes ago: starved at the default thresholds, a candidate.
fn starved(rig: &Rig, id: &str) {
    rig.tasks.push_pending(RunSnapshot::queued(id, "task-1").queued_at(rig.ago(mins(10))));
}

#[test]
fn a_long_run_ids_padded_budget_key_is_read_rewritten_and_cleared_under_it() {
    let rig = Rig::new();
    starved(&rig, RUN);
    let mut stored = Budget::fresh(rig.ago(mins(5)));
    stored.wake_count = 3;
    let padded = format!(" {RUN} ");
    rig.store.insert(&padded, stored);
    let mut s = rig.build_ladder();
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let rows = rig.store.rows();
    assert_eq!(rows.len(), 1, "no second row: {rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.wake_count), (padded.as_str(), 4), "advanced from the stored count");

    // The run leaves the queue: its budget is cleared under the listed key.
    rig.tasks.remove_pending(RUN);
    rig.tasks.set_status(RUN, Some(RunStatus::Completed));
    rig.clock.advance(secs(15));
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    assert!(rig.store.rows().is_empty(), "{:?}", rig.store.rows());
}

#[test]
fn a_second_row_of_a_long_run_id_is_cleared() {
    let rig = Rig::new();
    starved(&rig, RUN);
    let budget = Budget::fresh(rig.ago(mins(5)));
    rig.store.insert(&format!(" {RUN}"), budget);
    rig.store.insert(RUN, budget);
    let mut s = rig.build_ladder();
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    let rows = rig.store.rows();
    assert_eq!(rows.len(), 1, "one row per run: {rows:?}");
    assert_eq!(rows[0].1.wake_count, 1, "the first listed row, advanced once");
}

#[test]
fn reconcile_rereads_only_the_rows_of_runs_that_were_not_candidates() {
    let rig = Rig::new();
    starved(&rig, RUN);
    rig.tasks.set_status(OTHER, Some(RunStatus::Completed));
    let budget = Budget::fresh(rig.ago(mins(5)));
    rig.store.insert(RUN, budget);
    rig.store.insert(OTHER, budget);
    let mut s = rig.build_ladder();
    let c = cycle(&mut s);
    assert!(c.errors.is_empty(), "{:?}", c.errors);
    // The candidate's status is read once; reconcile reads the other row only.
    assert_eq!(rig.tasks.status_batches(), [ids(&[RUN]), ids(&[OTHER])]);
    let rows = rig.store.rows();
    let kept: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(kept, [RUN], "the finished run's budget is cleared, the candidate's kept");
}
