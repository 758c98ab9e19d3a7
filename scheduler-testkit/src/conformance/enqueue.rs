//! Enqueue: a run becomes `queued` at the caller's `now`; a duplicate changes nothing;
//! runs of one task share it; ids are trimmed and must not be empty; times keep
//! milliseconds.

use std::time::Duration;

use scheduler_core::lease::{ClaimRequest, ErrorKind, LeaseService, RunSpec, TaskSpec};
use scheduler_core::model::{OwnerRef, Priority, RunStatus};

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        enqueue_queues_the_run_at_now ["enqueue.queued"] Fresh,
        duplicate_enqueue_changes_nothing ["enqueue.duplicate"] Fresh,
        task_redescription_reaches_every_run ["enqueue.task_shared"] Fresh,
        enqueue_refuses_empty_ids ["enqueue.invalid_input"] Fresh,
        ids_are_trimmed ["ids.trimmed"] Fresh,
        times_keep_milliseconds ["time.millis"] Fresh,
    );
}

/// `enqueue.queued`: an enqueued run is `queued`, unleased, with queued-at = the
/// caller's `now`, and listed pending.
pub async fn enqueue_queues_the_run_at_now<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("enqueue_queues_the_run_at_now");
    let rule = "enqueue.queued";
    let svc = fx.tasks();
    c.ok(svc.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-1"), at(5)).await, rule, "enqueue run-1")?;
    c.eq(record(c, svc, "run-1", rule).await?, Some(queued(at(5))), rule, "record of run-1")?;
    c.eq(status(c, svc, "run-1", rule).await?, Some(RunStatus::Queued), rule, "status of run-1")?;
    c.eq(pending_ids(c, svc, rule).await?, vec!["run-1".to_owned()], rule, "pending runs")?;
    c.eq(active_leases(c, svc, rule).await?, vec![], rule, "active runs")
}

/// `enqueue.duplicate`: enqueueing a run id that exists is a `DuplicateRun` error and
/// changes nothing: not the run (status, queued-at, channel) and not its task, even
/// when the duplicate describes the task differently.
pub async fn duplicate_enqueue_changes_nothing<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("duplicate_enqueue_changes_nothing");
    let rule = "enqueue.duplicate";
    let svc = fx.tasks();
    let (task, run) = (TaskSpec::new("task-1"), RunSpec::new("run-1").caps(["rust"]));
    put(c, svc, &task, &run, at(0)).await?;
    let before = pending_rows(c, svc, rule).await?;
    let other_task = TaskSpec::new("task-1").priority(Priority::Urgent).paused(true);
    let other_run = RunSpec::new("run-1").channel("ch-9");
    let dup = svc.enqueue(&other_task, &other_run, at(9)).await;
    c.err(dup, ErrorKind::DuplicateRun, rule, "a second enqueue of run-1")?;
    c.eq(record(c, svc, "run-1", rule).await?, Some(queued(at(0))), rule, "record of run-1 after the duplicate")?;
    c.eq(pending_rows(c, svc, rule).await?, before.clone(), rule, "pending rows (run and task) after the duplicate")?;
    let dup = svc.enqueue(&TaskSpec::new("task-2"), &RunSpec::new("run-1"), at(9)).await;
    c.err(dup, ErrorKind::DuplicateRun, rule, "an enqueue of run-1 under another task")?;
    c.eq(pending_rows(c, svc, rule).await?, before, rule, "pending rows after the second duplicate")
}

/// `enqueue.task_shared`: runs of one task share it: enqueueing another run with a
/// re-described task, or `update_task`, changes what every run of the task shows
/// (status, priority, paused, scope, owner), and claims follow.
pub async fn task_redescription_reaches_every_run<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("task_redescription_reaches_every_run");
    let rule = "enqueue.task_shared";
    let svc = fx.tasks();
    put(c, svc, &TaskSpec::new("task-1"), &RunSpec::new("run-1"), at(0)).await?;
    let high = TaskSpec::new("task-1").priority(Priority::High);
    put(c, svc, &high, &RunSpec::new("run-2"), at(1)).await?;
    let expected = vec![
        PendingRow::of(&high, &RunSpec::new("run-1"), at(0)),
        PendingRow::of(&high, &RunSpec::new("run-2"), at(1)),
    ];
    c.eq(pending_rows(c, svc, rule).await?, expected, rule, "pending rows after run-2 re-described task-1")?;
    let moved = TaskSpec::new("task-1").priority(Priority::Low).workspace("ws-1").owner(OwnerRef::Pool("coder".into()));
    c.ok(svc.update_task(&moved, at(2)).await, rule, "update_task(task-1)")?;
    let expected = vec![
        PendingRow::of(&moved, &RunSpec::new("run-1"), at(0)),
        PendingRow::of(&moved, &RunSpec::new("run-2"), at(1)),
    ];
    c.eq(pending_rows(c, svc, rule).await?, expected, rule, "pending rows after update_task")?;
    let coder = |id: &str| ClaimRequest::session(id).agent("coder").workspace("ws-1");
    let got = claim(c, svc, &coder("sess-1"), LEASE, at(3), rule).await?;
    c.eq(won(&got), Some("run-1".to_owned()), rule, "claim by a coder in ws-1")?;
    c.ok(svc.update_task(&moved.clone().paused(true), at(4)).await, rule, "update_task(task-1, paused)")?;
    let got = claim(c, svc, &coder("sess-2"), LEASE, at(5), rule).await?;
    c.eq(won(&got), None, rule, "claim of run-2 once task-1 is paused")
}

/// `enqueue.invalid_input`: an empty (or blank) run or task id is refused as
/// `InvalidInput`, and nothing is stored.
pub async fn enqueue_refuses_empty_ids<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("enqueue_refuses_empty_ids");
    let rule = "enqueue.invalid_input";
    let svc = fx.tasks();
    let blank_run = svc.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("  "), at(0)).await;
    c.err(blank_run, ErrorKind::InvalidInput, rule, "enqueue with a blank run id")?;
    let empty_task = svc.enqueue(&TaskSpec::new(""), &RunSpec::new("run-1"), at(0)).await;
    c.err(empty_task, ErrorKind::InvalidInput, rule, "enqueue with an empty task id")?;
    c.eq(pending_ids(c, svc, rule).await?, vec![], rule, "pending runs after refused enqueues")?;
    c.eq(status(c, svc, "run-1", rule).await?, None, rule, "status of run-1")
}

/// `ids.trimmed`: ids are compared after trimming surrounding spaces: a run enqueued as
/// `" run-1 "` is `run-1` to every read and write, and a session claiming as
/// `" sess-1 "` is `sess-1`.
pub async fn ids_are_trimmed<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("ids_are_trimmed");
    let rule = "ids.trimmed";
    let svc = fx.tasks();
    c.ok(svc.enqueue(&TaskSpec::new(" task-1 "), &RunSpec::new(" run-1 "), at(0)).await, rule, "enqueue \" run-1 \"")?;
    c.eq(status(c, svc, "run-1", rule).await?, Some(RunStatus::Queued), rule, "status of run-1")?;
    c.eq(pending_ids(c, svc, rule).await?, vec!["run-1".to_owned()], rule, "pending runs")?;
    let got = claim(c, svc, &ClaimRequest::session(" sess-1 "), LEASE, at(1), rule).await?;
    let lease = got.ok_or_else(|| c.fail(rule, "claim by \" sess-1 \"", "a lease on run-1", "None"))?;
    c.ok(svc.heartbeat("  run-1", &lease.token, LEASE, at(2)).await, rule, "heartbeat of \"  run-1\"")?;
    let holder = record(c, svc, " run-1", rule).await?.and_then(|r| r.session_id);
    c.eq(holder, Some("sess-1".to_owned()), rule, "session holding \" run-1\"")
}

/// `time.millis`: times are the caller's, kept to the millisecond at least: queued-at
/// and a lease's end read back exactly.
pub async fn times_keep_milliseconds<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("times_keep_milliseconds");
    let rule = "time.millis";
    let svc = fx.tasks();
    put(c, svc, &TaskSpec::new("task-1"), &RunSpec::new("run-1"), at_ms(1_234)).await?;
    c.eq(record(c, svc, "run-1", rule).await?, Some(queued(at_ms(1_234))), rule, "record after enqueue")?;
    let lease = Duration::from_millis(60_500);
    let got = claim(c, svc, &ClaimRequest::session("sess-1"), lease, at_ms(2_345), rule).await?;
    c.eq(got.as_ref().map(|l| l.lease_until), Some(at_ms(62_845)), rule, "lease end of the claim")?;
    let expected = leased(RunStatus::Claimed, "sess-1", at_ms(62_845), at_ms(1_234));
    c.eq(record(c, svc, "run-1", rule).await?, Some(expected), rule, "record after the claim")
}
