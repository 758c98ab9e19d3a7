//! Durability: everything survives a reopen (leases and tokens, budgets, the pause,
//! sessions), a lease that ended while the store was closed is recovered by the first
//! sweep after it, and independent handles share one store.

use scheduler_core::lease::{ClaimRequest, ErrorKind, LeaseService, PauseControl, PauseState, SessionRegistry};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::StarvationStore;

use super::budgets::budget;
use super::recovery::sweep;
use super::sessions::full_session;
use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        handles_share_one_store ["durable.shared"] Fresh,
        leases_survive_a_reopen ["durable.leases"] Reopen,
        budgets_survive_a_reopen ["durable.budgets"] Reopen,
        pause_survives_a_reopen ["durable.pause"] Reopen,
        sessions_survive_a_reopen ["durable.sessions"] Reopen,
        expired_lease_recovered_after_reopen ["durable.recovery"] Reopen,
    );
}

/// `durable.shared`: two sets of handles on one store see one store: a run enqueued
/// through one is claimed through the other, whose token works through the first; a
/// pause through one refuses claims through the other; budgets and sessions written
/// through one are read through the other.
pub async fn handles_share_one_store<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("handles_share_one_store");
    let rule = "durable.shared";
    let other = fx.connect().await;
    put_plain(c, fx.tasks(), "run-1", at(0)).await?;
    put_plain(c, fx.tasks(), "run-2", at(1)).await?;
    let got = claim(c, &other.tasks, &ClaimRequest::session("sess-1"), LEASE, at(2), rule).await?;
    c.eq(won(&got), Some("run-1".to_owned()), rule, "claim through the other handles")?;
    let token = got.map(|l| l.token).ok_or_else(|| c.fail(rule, "claim", "a lease", "None"))?;
    c.ok(fx.tasks().heartbeat("run-1", &token, LEASE, at(3)).await, rule, "heartbeat through the first handles")?;
    c.setup(fx.pause().pause("operator", at(4), "deploy").await, "pause through the first handles")?;
    let refused = other.tasks.claim(&ClaimRequest::session("sess-2"), LEASE, at(5)).await;
    c.err(refused, ErrorKind::Paused, rule, "claim through the other handles while paused")?;
    c.setup(other.budgets.upsert("run-2", &budget(3)).await, "upsert through the other handles")?;
    c.eq(
        c.ok(fx.budgets().load("run-2").await, rule, "load")?,
        Some(budget(3)),
        rule,
        "budget read through the first handles",
    )?;
    c.setup(fx.sessions().register(&full_session("sess-9"), at(6)).await, "register through the first handles")?;
    let seen = c.ok(other.sessions.session("sess-9").await, rule, "session(sess-9)")?;
    c.eq(seen, Some(full_session("sess-9")), rule, "session read through the other handles")
}

/// `durable.leases`: after a reopen a lease is still there (record to the millisecond),
/// still answers to its token, and still makes its session busy.
pub async fn leases_survive_a_reopen<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("leases_survive_a_reopen");
    let rule = "durable.leases";
    put_plain(c, fx.tasks(), "run-1", at_ms(1_001)).await?;
    put_plain(c, fx.tasks(), "run-2", at_ms(2_002)).await?;
    let lease = claim_run(c, fx.tasks(), "sess-1", "run-1", LEASE, at_ms(3_003)).await?;
    c.setup(fx.tasks().start("run-1", &lease.token, at(4)).await, "start run-1")?;
    let before = observe(c, fx.tasks(), &["run-1", "run-2"], rule).await?;
    let fx = fx.reopen(c).await?;
    c.eq(observe(c, fx.tasks(), &["run-1", "run-2"], rule).await?, before, rule, "the service after the reopen")?;
    let again = fx.tasks().claim(&ClaimRequest::session("sess-1"), LEASE, at(10)).await;
    c.err(again, ErrorKind::SessionBusy, rule, "a second claim by sess-1 after the reopen")?;
    c.ok(fx.tasks().complete("run-1", &lease.token, at(11)).await, rule, "complete with the token after the reopen")
}

/// `durable.budgets`: budgets read back unchanged after a reopen.
pub async fn budgets_survive_a_reopen<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("budgets_survive_a_reopen");
    let rule = "durable.budgets";
    for (id, n) in [("run-a", 2), ("run-b", 3)] {
        c.setup(fx.budgets().upsert(id, &budget(n)).await, format_args!("upsert {id}"))?;
    }
    let fx = fx.reopen(c).await?;
    let expected = vec![("run-a".to_owned(), budget(2)), ("run-b".to_owned(), budget(3))];
    c.eq(super::budgets::listed(c, fx.budgets(), rule).await?, expected, rule, "budgets after the reopen")
}

/// `durable.pause`: the pause (who, when, why) survives a reopen and still refuses
/// claims.
pub async fn pause_survives_a_reopen<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("pause_survives_a_reopen");
    let rule = "durable.pause";
    put_plain(c, fx.tasks(), "run-1", at(0)).await?;
    c.setup(fx.pause().pause("operator", at(7), "migration").await, "pause")?;
    let fx = fx.reopen(c).await?;
    let expected = Some(PauseState { paused_by: "operator".into(), paused_at: at(7), reason: "migration".into() });
    c.eq(c.ok(fx.pause().pause_state().await, rule, "pause_state")?, expected, rule, "pause state after the reopen")?;
    let refused = fx.tasks().claim(&ClaimRequest::session("sess-1"), LEASE, at(8)).await;
    c.err(refused, ErrorKind::Paused, rule, "claim after the reopen").map(drop)
}

/// `durable.sessions`: sessions (every field) and when they were last seen survive a
/// reopen.
pub async fn sessions_survive_a_reopen<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("sessions_survive_a_reopen");
    let rule = "durable.sessions";
    c.setup(fx.sessions().register(&full_session("sess-old"), at(0)).await, "register sess-old")?;
    c.setup(fx.sessions().register(&full_session("sess-new"), at(100)).await, "register sess-new")?;
    let fx = fx.reopen(c).await?;
    let got = c.ok(fx.sessions().session("sess-new").await, rule, "session(sess-new)")?;
    c.eq(got, Some(full_session("sess-new")), rule, "sess-new after the reopen")?;
    let changed = c.ok(fx.sessions().mark_stale(at(50), at(200)).await, rule, "mark_stale after the reopen")?;
    c.eq(changed, 1, rule, "sessions not seen since T0+50s (only sess-old)")
}

/// `durable.recovery`: a lease that ended while the store was closed is recovered by
/// the first sweep after the reopen.
pub async fn expired_lease_recovered_after_reopen<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("expired_lease_recovered_after_reopen");
    let rule = "durable.recovery";
    put_plain(c, fx.tasks(), "run-1", at(0)).await?;
    claim_run(c, fx.tasks(), "sess-1", "run-1", LEASE, at(0)).await?;
    let fx = fx.reopen(c).await?;
    c.eq(
        sweep(c, fx.tasks(), 120, 0, rule).await?,
        vec!["run-1".to_owned()],
        rule,
        "the first sweep after the reopen",
    )?;
    c.eq(
        record(c, fx.tasks(), "run-1", rule).await?.map(|r| r.status),
        Some(RunStatus::Queued),
        rule,
        "status of run-1",
    )
}
