//! Expired-lease recovery: which leases, what it clears and keeps, order and limit,
//! what it reports, and recovering once.

use scheduler_core::lease::{ClaimRequest, LeaseService, RecoveredDetails};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, TaskSource};
use scheduler_core::view::RecoveredView;

use super::support::*;
use super::tokens::{Op, refused};
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        sweep_recovers_ended_leases ["recovery.expired"] Fresh,
        recovery_requeues_keeping_queued_at ["recovery.requeues"] Fresh,
        recovery_clears_the_token ["recovery.clears_token"] Fresh,
        recovery_takes_oldest_first_within_limit ["recovery.order_limit"] Fresh,
        recovery_reports_details ["recovery.details"] Fresh,
        recovering_twice_recovers_once ["recovery.once"] Fresh,
    );
}

/// One sweep at `now` with `limit`; the recovered run ids in the order reported.
pub(super) async fn sweep<S: LeaseService>(
    c: Check,
    svc: &S,
    now_secs: u64,
    limit: u32,
    rule: &'static str,
) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    let request = Recovery { now: at(now_secs), reason: "scheduler_sweep", limit, actor: "conformance" };
    c.ok(svc.recover_expired_leases(request, &mut out).await, rule, format_args!("sweep at T0+{now_secs}s"))?;
    Ok(out.iter().map(|r| r.run_id().trim().to_owned()).collect())
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// `recovery.expired`: a sweep recovers every `claimed`, `starting` or `running` run
/// whose lease ended at or before `now` (`lease_until <= now`), and no other.
pub async fn sweep_recovers_ended_leases<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("sweep_recovers_ended_leases");
    let rule = "recovery.expired";
    let svc = fx.tasks();
    for (i, id) in ["run-claimed", "run-later", "run-running"].into_iter().enumerate() {
        put_plain(c, svc, id, at(i as u64)).await?;
    }
    claim_run(c, svc, "sess-1", "run-claimed", LEASE, at(0)).await?;
    let later = claim_run(c, svc, "sess-2", "run-later", LEASE, at(1)).await?;
    let r = claim_run(c, svc, "sess-3", "run-running", LEASE, at(0)).await?;
    c.setup(svc.start("run-running", &r.token, at(1)).await, "start run-running")?;
    c.eq(sweep(c, svc, 59, 0, rule).await?, vec![], rule, "runs recovered at T0+59s")?;
    let got = sorted(sweep(c, svc, 60, 0, rule).await?);
    c.eq(
        got,
        vec!["run-claimed".to_owned(), "run-running".to_owned()],
        rule,
        "runs recovered at T0+60s (leases ended then)",
    )?;
    let expected = leased(RunStatus::Claimed, "sess-2", at(61), at(1));
    c.eq(record(c, svc, "run-later", rule).await?, Some(expected), rule, "record of run-later")?;
    drop(later);
    Ok(())
}

/// `recovery.requeues`: a recovered run is `queued` again with its original queued-at,
/// session and lease cleared, listed pending and claimable.
pub async fn recovery_requeues_keeping_queued_at<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("recovery_requeues_keeping_queued_at");
    let rule = "recovery.requeues";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(3)).await?;
    claim_run(c, svc, "sess-1", "run-1", LEASE, at(10)).await?;
    c.eq(sweep(c, svc, 100, 0, rule).await?, vec!["run-1".to_owned()], rule, "runs recovered")?;
    c.eq(record(c, svc, "run-1", rule).await?, Some(queued(at(3))), rule, "record of run-1")?;
    c.eq(pending_ids(c, svc, rule).await?, vec!["run-1".to_owned()], rule, "pending runs")?;
    let got = claim(c, svc, &ClaimRequest::session("sess-2"), LEASE, at(101), rule).await?;
    c.eq(won(&got), Some("run-1".to_owned()), rule, "claim after recovery")
}

/// `recovery.clears_token`: the recovered lease's token is refused from then on, before
/// anyone claims the run again, and the refusal leaves the run queued.
pub async fn recovery_clears_the_token<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("recovery_clears_the_token");
    let rule = "recovery.clears_token";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(0)).await?;
    c.setup(sweep(c, svc, 100, 0, rule).await, "sweep at T0+100s")?;
    for op in [Op::Start, Op::Complete, Op::Release] {
        refused(c, svc, op, "run-1", &lease.token, "the recovered lease's token", rule).await?;
    }
    let lease = record(c, svc, "run-1", rule).await?.map(|r| (r.status, r.session_id, r.lease_until));
    c.eq(lease, Some((RunStatus::Queued, None, None)), rule, "(status, session, lease end) of run-1")
}

/// `recovery.order_limit`: the oldest lease end first, at most `limit` runs per sweep,
/// 0 meaning no limit.
pub async fn recovery_takes_oldest_first_within_limit<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("recovery_takes_oldest_first_within_limit");
    let rule = "recovery.order_limit";
    let svc = fx.tasks();
    // (run, lease end): run ids sort differently from lease ends.
    let leases = [("run-a", 40), ("run-b", 10), ("run-c", 30), ("run-d", 20)];
    for (i, (id, _)) in leases.iter().enumerate() {
        put_plain(c, svc, id, at(i as u64)).await?;
    }
    for (i, (id, end)) in leases.iter().enumerate() {
        claim_run(c, svc, &format!("sess-{i}"), id, std::time::Duration::from_secs(*end - 5), at(5)).await?;
    }
    c.eq(
        sweep(c, svc, 100, 2, rule).await?,
        vec!["run-b".to_owned(), "run-d".to_owned()],
        rule,
        "first sweep, limit 2",
    )?;
    c.eq(
        sweep(c, svc, 100, 0, rule).await?,
        vec!["run-c".to_owned(), "run-a".to_owned()],
        rule,
        "second sweep, limit 0 (none)",
    )
}

/// `recovery.details`: each recovered run is reported as it is now (`queued`) with its
/// previous status, session and lease end, the reason, and the actor that recovered it.
pub async fn recovery_reports_details<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("recovery_reports_details");
    let rule = "recovery.details";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    put_plain(c, svc, "run-2", at(1)).await?;
    claim_run(c, svc, "sess-1", "run-1", LEASE, at(0)).await?;
    let two = claim_run(c, svc, "sess-2", "run-2", LEASE, at(30)).await?;
    c.setup(svc.start("run-2", &two.token, at(31)).await, "start run-2")?;
    let mut out = Vec::new();
    let request = Recovery { now: at(100), reason: "lease_expired", limit: 0, actor: "daemon-7" };
    c.ok(svc.recover_expired_leases(request, &mut out).await, rule, "sweep at T0+100s")?;
    let got: Vec<_> = out
        .iter()
        .map(|r| {
            let who = (r.previous_session_id().trim().to_owned(), r.reason().to_owned(), r.actor().to_owned());
            (r.run_id().trim().to_owned(), r.status(), r.previous_status(), r.previous_lease_until(), who)
        })
        .collect();
    let who = |s: &str| (s.to_owned(), "lease_expired".to_owned(), "daemon-7".to_owned());
    let expected = vec![
        ("run-1".to_owned(), RunStatus::Queued, RunStatus::Claimed, at(60), who("sess-1")),
        ("run-2".to_owned(), RunStatus::Queued, RunStatus::Running, at(90), who("sess-2")),
    ];
    c.eq(got, expected, rule, "(run, status, previous status, previous lease end, (session, reason, actor))")
}

/// `recovery.once`: a second sweep (at the same or a later time) recovers nothing that
/// the first one recovered.
pub async fn recovering_twice_recovers_once<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("recovering_twice_recovers_once");
    let rule = "recovery.once";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    claim_run(c, svc, "sess-1", "run-1", LEASE, at(0)).await?;
    c.eq(sweep(c, svc, 100, 0, rule).await?, vec!["run-1".to_owned()], rule, "first sweep")?;
    c.eq(sweep(c, svc, 100, 0, rule).await?, vec![], rule, "second sweep at the same time")?;
    c.eq(sweep(c, svc, 200, 0, rule).await?, vec![], rule, "a later sweep")
}
