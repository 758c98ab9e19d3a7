//! A lease's life: start, heartbeat, complete, fail, release.

use std::time::Duration;

use scheduler_core::lease::{ClaimRequest, LeaseService};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, TaskSource};

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        start_moves_the_run_to_running ["lifecycle.start"] Fresh,
        heartbeat_extends_the_lease ["lifecycle.heartbeat"] Fresh,
        complete_ends_the_run ["lifecycle.complete"] Fresh,
        fail_ends_the_run ["lifecycle.fail"] Fresh,
        release_requeues_keeping_queued_at ["lifecycle.release"] Fresh,
    );
}

/// `lifecycle.start`: `start` moves a `claimed` run to `running`, keeping its session
/// and lease.
pub async fn start_moves_the_run_to_running<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("start_moves_the_run_to_running");
    let rule = "lifecycle.start";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(1)).await?;
    c.ok(svc.start("run-1", &lease.token, at(2)).await, rule, "start run-1")?;
    let expected = leased(RunStatus::Running, "sess-1", at(61), at(0));
    c.eq(record(c, svc, "run-1", rule).await?, Some(expected), rule, "record of run-1")?;
    let active = vec![("run-1".to_owned(), "sess-1".to_owned(), RunStatus::Running)];
    c.eq(active_leases(c, svc, rule).await?, active, rule, "active runs")
}

/// `lifecycle.heartbeat`: a heartbeat extends the lease to `now + lease` (not the old
/// end + lease), answers the new end, and a sweep at the old end recovers nothing.
pub async fn heartbeat_extends_the_lease<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("heartbeat_extends_the_lease");
    let rule = "lifecycle.heartbeat";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(0)).await?;
    let until = c.ok(svc.heartbeat("run-1", &lease.token, LEASE, at(50)).await, rule, "heartbeat at T0+50s")?;
    c.eq(until, at(110), rule, "lease end answered by the heartbeat")?;
    c.eq(record(c, svc, "run-1", rule).await?.and_then(|r| r.lease_until), Some(at(110)), rule, "stored lease end")?;
    let short = Duration::from_secs(30);
    let until = c.ok(svc.heartbeat("run-1", &lease.token, short, at(60)).await, rule, "heartbeat at T0+60s for 30s")?;
    c.eq(until, at(90), rule, "lease end answered by the second heartbeat")?;
    let mut out = Vec::new();
    let sweep = Recovery { now: at(89), reason: "scheduler_sweep", limit: 0, actor: "conformance" };
    c.setup(svc.recover_expired_leases(sweep, &mut out).await, "sweep at T0+89s")?;
    c.eq(out.len(), 0, rule, "runs recovered at T0+89s (lease extended to T0+90s)")?;
    let expected = leased(RunStatus::Claimed, "sess-1", at(90), at(0));
    c.eq(record(c, svc, "run-1", rule).await?, Some(expected), rule, "record of run-1")
}

async fn ends<B: Backend + ?Sized>(fx: &Fixture<'_, B>, c: Check, done: RunStatus, rule: &'static str) -> Outcome {
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    put_plain(c, svc, "run-2", at(1)).await?;
    let one = claim_run(c, svc, "sess-1", "run-1", LEASE, at(2)).await?;
    let two = claim_run(c, svc, "sess-2", "run-2", LEASE, at(2)).await?;
    c.setup(svc.start("run-2", &two.token, at(3)).await, "start run-2")?;
    for (id, token, from) in [("run-1", &one.token, "claimed"), ("run-2", &two.token, "running")] {
        let result = match done {
            RunStatus::Completed => svc.complete(id, token, at(4)).await,
            _ => svc.fail(id, token, "boom", at(4)).await,
        };
        c.ok(result, rule, format_args!("ending {id} from {from}"))?;
    }
    c.eq(record(c, svc, "run-1", rule).await?, Some(unleased(done, at(0))), rule, "record of run-1")?;
    c.eq(record(c, svc, "run-2", rule).await?, Some(unleased(done, at(1))), rule, "record of run-2")?;
    c.eq(
        (pending_ids(c, svc, rule).await?, active_leases(c, svc, rule).await?),
        (vec![], vec![]),
        rule,
        "pending and active runs",
    )
}

/// `lifecycle.complete`: `complete` ends a `claimed` or `running` run as `completed`,
/// clearing its session and lease.
pub async fn complete_ends_the_run<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    ends(&fx, Check("complete_ends_the_run"), RunStatus::Completed, "lifecycle.complete").await
}

/// `lifecycle.fail`: `fail` ends a `claimed` or `running` run as `failed`, clearing its
/// session and lease.
pub async fn fail_ends_the_run<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    ends(&fx, Check("fail_ends_the_run"), RunStatus::Failed, "lifecycle.fail").await
}

/// `lifecycle.release`: `release` returns the run to `queued` with its original
/// queued-at (so it keeps its place in line: it is claimed before a run queued after
/// it), session and lease cleared.
pub async fn release_requeues_keeping_queued_at<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("release_requeues_keeping_queued_at");
    let rule = "lifecycle.release";
    let svc = fx.tasks();
    put_plain(c, svc, "run-b", at(0)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-b", LEASE, at(10)).await?;
    put_plain(c, svc, "run-a", at(5)).await?;
    c.ok(svc.release("run-b", &lease.token, at(20)).await, rule, "release run-b")?;
    c.eq(record(c, svc, "run-b", rule).await?, Some(queued(at(0))), rule, "record of run-b")?;
    c.eq(pending_ids(c, svc, rule).await?, vec!["run-a".to_owned(), "run-b".to_owned()], rule, "pending runs")?;
    let got = claim(c, svc, &ClaimRequest::session("sess-2"), LEASE, at(21), rule).await?;
    c.eq(won(&got), Some("run-b".to_owned()), rule, "next claim (run-b queued at T0+0s, run-a at T0+5s)")
}
