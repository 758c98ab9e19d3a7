//! Reads: every queued run is pending (claimable or not, however many); active runs are
//! the live leases; statuses of every run, finished ones included; the batch status
//! read answers in the order asked.

use scheduler_core::lease::{LeaseService, RunSpec, TaskSpec};
use scheduler_core::model::{OwnerRef, Priority, RunStatus, TaskStatus};
use scheduler_core::seam::TaskSource;

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

/// How many runs [`pending_has_no_page_limit`] enqueues.
pub const MANY_RUNS: usize = 1_100;

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        pending_lists_every_queued_run ["reads.pending"] Fresh,
        pending_has_no_page_limit ["reads.pending_unbounded"] Fresh,
        active_lists_every_live_lease ["reads.active"] Fresh,
        status_answers_for_every_run ["reads.status"] Fresh,
        batch_status_keeps_the_order_asked ["reads.status_batch"] Fresh,
    );
}

/// `reads.pending`: the pending read lists every `queued` run, claimable or not (paused
/// or draft task, capabilities no one has), each joined with its task's fields, and no
/// run in another status.
pub async fn pending_lists_every_queued_run<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("pending_lists_every_queued_run");
    let rule = "reads.pending";
    let svc = fx.tasks();
    let rows = [
        (
            TaskSpec::new("t-1").priority(Priority::High).workspace("ws-1").owner(OwnerRef::Pool("coder".into())),
            RunSpec::new("r-plain").channel("ch-1").caps(["rust"]),
        ),
        (TaskSpec::new("t-2").paused(true), RunSpec::new("r-paused")),
        (TaskSpec::new("t-3").status(TaskStatus::Draft), RunSpec::new("r-draft")),
        (TaskSpec::new("t-4"), RunSpec::new("r-gpu").caps(["gpu"])),
    ];
    let mut expected = Vec::new();
    for (i, (task, run)) in rows.iter().enumerate() {
        put(c, svc, task, run, at(i as u64)).await?;
        expected.push(PendingRow::of(task, run, at(i as u64)));
    }
    for (i, id) in ["r-claimed", "r-done", "r-marked"].into_iter().enumerate() {
        let urgent = TaskSpec::new(format!("t-{id}")).priority(Priority::Urgent);
        put(c, svc, &urgent, &RunSpec::new(id), at(10 + i as u64)).await?;
    }
    claim_run(c, svc, "sess-1", "r-claimed", LEASE, at(11)).await?;
    let done = claim_run(c, svc, "sess-2", "r-done", LEASE, at(11)).await?;
    c.setup(svc.start("r-done", &done.token, at(12)).await, "start r-done")?;
    c.setup(svc.complete("r-done", &done.token, at(12)).await, "complete r-done")?;
    c.setup(svc.mark_needs_attention("r-marked", "stuck", at(12)).await, "mark r-marked")?;
    expected.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    c.eq(pending_rows(c, svc, rule).await?, expected, rule, "pending rows")
}

/// `reads.pending_unbounded`: the pending read has no implicit page limit: all
/// [`MANY_RUNS`] queued runs are listed.
pub async fn pending_has_no_page_limit<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("pending_has_no_page_limit");
    let rule = "reads.pending_unbounded";
    let svc = fx.tasks();
    let task = TaskSpec::new("task-many");
    for i in 0..MANY_RUNS {
        put(c, svc, &task, &RunSpec::new(format!("run-{i:05}")), at(i as u64)).await?;
    }
    c.eq(pending_ids(c, svc, rule).await?.len(), MANY_RUNS, rule, "pending runs listed")
}

/// `reads.active`: the active read lists every run in `claimed`, `starting` or
/// `running` with its session (finished runs may appear, but make no one busy).
pub async fn active_lists_every_live_lease<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("active_lists_every_live_lease");
    let rule = "reads.active";
    let svc = fx.tasks();
    for (i, id) in ["run-1", "run-2", "run-3"].into_iter().enumerate() {
        put_plain(c, svc, id, at(i as u64)).await?;
    }
    claim_run(c, svc, "sess-1", "run-1", LEASE, at(1)).await?;
    let two = claim_run(c, svc, "sess-2", "run-2", LEASE, at(1)).await?;
    c.setup(svc.start("run-2", &two.token, at(2)).await, "start run-2")?;
    let three = claim_run(c, svc, "sess-3", "run-3", LEASE, at(1)).await?;
    c.setup(svc.start("run-3", &three.token, at(2)).await, "start run-3")?;
    c.setup(svc.complete("run-3", &three.token, at(2)).await, "complete run-3")?;
    let expected = vec![
        ("run-1".to_owned(), "sess-1".to_owned(), RunStatus::Claimed),
        ("run-2".to_owned(), "sess-2".to_owned(), RunStatus::Running),
    ];
    c.eq(active_leases(c, svc, rule).await?, expected, rule, "live leases in the active read")
}

/// Sets up runs in every status the API can reach: queued, claimed, running,
/// completed, failed, needs_attention.
pub(super) async fn every_status<S: LeaseService>(
    c: Check,
    svc: &S,
) -> Result<Vec<(&'static str, RunStatus)>, Failure> {
    let runs = ["r-queued", "r-claimed", "r-running", "r-completed", "r-failed", "r-marked"];
    for (i, id) in runs[1..].iter().enumerate() {
        put_plain(c, svc, id, at(i as u64)).await?;
    }
    c.setup(svc.mark_needs_attention("r-marked", "stuck", at(10)).await, "mark r-marked")?;
    let mut tokens = Vec::new();
    for (i, id) in runs[1..5].iter().enumerate() {
        tokens.push(claim_run(c, svc, &format!("sess-{i}"), id, LEASE, at(11)).await?.token);
    }
    for (id, token) in [("r-running", &tokens[1]), ("r-completed", &tokens[2]), ("r-failed", &tokens[3])] {
        c.setup(svc.start(id, token, at(12)).await, format_args!("start {id}"))?;
    }
    c.setup(svc.complete("r-completed", &tokens[2], at(12)).await, "complete r-completed")?;
    c.setup(svc.fail("r-failed", &tokens[3], "boom", at(12)).await, "fail r-failed")?;
    put_plain(c, svc, "r-queued", at(13)).await?;
    let statuses = [
        RunStatus::Queued,
        RunStatus::Claimed,
        RunStatus::Running,
        RunStatus::Completed,
        RunStatus::Failed,
        RunStatus::NeedsAttention,
    ];
    Ok(runs.into_iter().zip(statuses).collect())
}

/// `reads.status`: `run_status` answers the current status of every run that exists,
/// finished ones included, and `None` for an unknown run.
pub async fn status_answers_for_every_run<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("status_answers_for_every_run");
    let rule = "reads.status";
    let svc = fx.tasks();
    for (id, expected) in every_status(c, svc).await? {
        c.eq(status(c, svc, id, rule).await?, Some(expected), rule, format_args!("status of {id}"))?;
    }
    c.eq(status(c, svc, "no-such-run", rule).await?, None, rule, "status of an unknown run")?;
    c.eq(record(c, svc, "no-such-run", rule).await?, None, rule, "record of an unknown run")
}

/// `reads.status_batch`: the batch status read answers one result per id asked, in the
/// order asked (repeats and unknown ids included).
pub async fn batch_status_keeps_the_order_asked<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("batch_status_keeps_the_order_asked");
    let rule = "reads.status_batch";
    let svc = fx.tasks();
    every_status(c, svc).await?;
    let ids = ["r-running", "missing", "r-completed", "r-queued", "r-running", "r-marked"];
    let mut out = Vec::new();
    c.ok(svc.run_statuses(ids.into_iter(), &mut out).await, rule, "run_statuses")?;
    let got: Vec<Result<Option<RunStatus>, String>> = out.into_iter().map(|r| r.map_err(|e| e.to_string())).collect();
    let expected: Vec<Result<Option<RunStatus>, String>> = vec![
        Ok(Some(RunStatus::Running)),
        Ok(None),
        Ok(Some(RunStatus::Completed)),
        Ok(Some(RunStatus::Queued)),
        Ok(Some(RunStatus::Running)),
        Ok(Some(RunStatus::NeedsAttention)),
    ];
    c.eq(got, expected, rule, format_args!("statuses of {ids:?}"))
}
