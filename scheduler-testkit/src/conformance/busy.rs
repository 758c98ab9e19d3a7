//! One lease per session: which statuses make a session busy (an ended lease that was
//! not swept included), and what frees it.

use scheduler_core::lease::{ClaimRequest, ErrorKind, LeaseService};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, TaskSource};

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        busy_session_cannot_claim ["busy.one_lease"] Fresh,
        expired_unswept_lease_keeps_session_busy ["busy.expired_unswept"] Fresh,
        expired_unswept_lease_is_not_claimable ["claim.queued_only"] Fresh,
        ending_a_lease_frees_the_session ["busy.freed"] Fresh,
    );
}

/// `busy.one_lease`: a session holding a `claimed` or `running` run cannot claim
/// another (`SessionBusy`), and the other run stays queued.
pub async fn busy_session_cannot_claim<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("busy_session_cannot_claim");
    let rule = "busy.one_lease";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    put_plain(c, svc, "run-2", at(1)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(2)).await?;
    let again = svc.claim(&ClaimRequest::session("sess-1"), LEASE, at(3)).await;
    c.err(again, ErrorKind::SessionBusy, rule, "a second claim while run-1 is claimed")?;
    c.setup(svc.start("run-1", &lease.token, at(4)).await, "start run-1")?;
    let again = svc.claim(&ClaimRequest::session("sess-1"), LEASE, at(5)).await;
    c.err(again, ErrorKind::SessionBusy, rule, "a second claim while run-1 is running")?;
    c.eq(record(c, svc, "run-2", rule).await?, Some(queued(at(1))), rule, "record of run-2")
}

/// `busy.expired_unswept`: a lease that ended but was not recovered yet still makes its
/// session busy.
pub async fn expired_unswept_lease_keeps_session_busy<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("expired_unswept_lease_keeps_session_busy");
    let rule = "busy.expired_unswept";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    put_plain(c, svc, "run-2", at(1)).await?;
    let lease = claim_run(c, svc, "sess-1", "run-1", LEASE, at(2)).await?;
    c.setup(svc.start("run-1", &lease.token, at(3)).await, "start run-1")?;
    let again = svc.claim(&ClaimRequest::session("sess-1"), LEASE, at(200)).await;
    c.err(again, ErrorKind::SessionBusy, rule, "a claim at T0+200s (lease ended at T0+62s, not swept)")?;
    c.eq(record(c, svc, "run-2", rule).await?, Some(queued(at(1))), rule, "record of run-2")
}

/// `claim.queued_only`: a run whose lease ended but was not recovered is not `queued`,
/// so no one else can claim it before a sweep.
pub async fn expired_unswept_lease_is_not_claimable<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("expired_unswept_lease_is_not_claimable");
    let rule = "claim.queued_only";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    claim_run(c, svc, "sess-1", "run-1", LEASE, at(0)).await?;
    let got = claim(c, svc, &ClaimRequest::session("sess-2"), LEASE, at(200), rule).await?;
    c.eq(won(&got), None, rule, "claim by sess-2 of the expired, unswept run-1")?;
    let expected = leased(RunStatus::Claimed, "sess-1", at(60), at(0));
    c.eq(record(c, svc, "run-1", rule).await?, Some(expected), rule, "record of run-1")
}

/// `busy.freed`: `release`, `complete`, `fail` and recovery each free the session: it
/// can claim again at once.
pub async fn ending_a_lease_frees_the_session<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("ending_a_lease_frees_the_session");
    let rule = "busy.freed";
    let svc = fx.tasks();
    for (i, id) in ["run-1", "run-2", "run-3", "run-4", "run-5"].into_iter().enumerate() {
        put_plain(c, svc, id, at(i as u64)).await?;
    }
    let me = ClaimRequest::session("sess-1");
    let first = claim_run(c, svc, "sess-1", "run-1", LEASE, at(10)).await?;
    c.setup(svc.release("run-1", &first.token, at(11)).await, "release run-1")?;
    let after_release = claim(c, svc, &me, LEASE, at(12), rule).await?;
    c.ensure(after_release.is_some(), rule, "claim after release", "a lease", || "None".to_owned())?;
    let token =
        after_release.as_ref().map(|l| l.token.clone()).ok_or_else(|| c.fail("setup", "claim", "a lease", "None"))?;
    let run = after_release.as_ref().map(|l| l.run_id.clone()).unwrap_or_default();
    c.setup(svc.start(&run, &token, at(13)).await, "start")?;
    c.setup(svc.complete(&run, &token, at(13)).await, "complete")?;
    let after_complete = claim(c, svc, &me, LEASE, at(14), rule).await?;
    c.ensure(after_complete.is_some(), rule, "claim after complete", "a lease", || "None".to_owned())?;
    let (run, token) =
        after_complete.map(|l| (l.run_id, l.token)).ok_or_else(|| c.fail("setup", "claim", "a lease", "None"))?;
    c.setup(svc.start(&run, &token, at(15)).await, "start")?;
    c.setup(svc.fail(&run, &token, "boom", at(16)).await, "fail")?;
    let after_fail = claim(c, svc, &me, LEASE, at(17), rule).await?;
    c.ensure(after_fail.is_some(), rule, "claim after fail", "a lease", || "None".to_owned())?;
    let sweep = Recovery { now: at(500), reason: "scheduler_sweep", limit: 0, actor: "conformance" };
    c.setup(svc.recover_expired_leases(sweep, &mut Vec::new()).await, "sweep at T0+500s")?;
    let after_recovery = claim(c, svc, &me, LEASE, at(501), rule).await?;
    c.ensure(after_recovery.is_some(), rule, "claim after the sweep recovered the last lease", "a lease", || {
        "None".to_owned()
    })
}
