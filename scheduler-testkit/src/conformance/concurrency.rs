//! Races across independent handles: one winner per run, one lease per session, each
//! expired lease recovered once, and a heartbeat racing a sweep either wins or loses
//! cleanly.
//!
//! Every round races twice over: first the calls polled together in this task
//! (`join_all`), then started at once from tokio tasks or OS threads
//! ([`in_parallel`]). Each racer has its own handles from [`Backend::connect`]: over one
//! serialised connection these checks would prove nothing.

use futures::future::BoxFuture;
use scheduler_core::lease::{ClaimRequest, ErrorKind, Lease, LeaseService, RunSpec, ServiceError, TaskSpec};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::Recovery;
use scheduler_core::view::RecoveredView;

use super::support::*;
use super::{Backend, Fixture, Handles, Runner, checks};

/// Rounds each way (polled together, then in parallel) of every concurrency check.
pub const ROUNDS: usize = 12;
/// Sessions racing in [`claim_is_atomic`].
pub const RACERS: usize = 8;
/// Runs they race for.
pub const RACE_RUNS: usize = 2;

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        claim_is_atomic ["claim.atomic"] Independent,
        one_session_wins_one_claim_at_a_time ["busy.atomic"] Independent,
        concurrent_sweeps_recover_each_run_once ["recovery.atomic_sweeps"] Independent,
        heartbeat_racing_a_sweep_wins_or_loses_cleanly ["recovery.atomic_heartbeat"] Independent,
    );
}

async fn handles<B: Backend + ?Sized>(fx: &Fixture<'_, B>, n: usize) -> Vec<Handles<B>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(fx.connect().await);
    }
    out
}

/// A claim's outcome as a race judges it.
type Claimed = Result<Option<String>, (ErrorKind, String)>;

fn claimed<E: ServiceError>(r: Result<Option<Lease>, E>) -> Claimed {
    r.map(|l| won(&l)).map_err(|e| (e.kind(), e.to_string()))
}

fn claim_future<S: LeaseService + Clone + 'static>(
    svc: &S,
    request: ClaimRequest,
    now: u64,
) -> BoxFuture<'static, Claimed> {
    let svc = svc.clone();
    Box::pin(async move { claimed(svc.claim(&request, LEASE, at(now)).await) })
}

/// Both ways of racing: `(how, results)`, `None` for a racer that panicked.
async fn race<T: Send + 'static>(joined: bool, futures: Vec<BoxFuture<'static, T>>) -> (&'static str, Vec<Option<T>>) {
    if joined {
        ("calls polled together", futures::future::join_all(futures).await.into_iter().map(Some).collect())
    } else {
        in_parallel(futures).await
    }
}

fn rounds() -> impl Iterator<Item = (usize, bool)> {
    (0..2 * ROUNDS).map(|i| (i, i < ROUNDS))
}

/// `claim.atomic`: [`RACERS`] sessions, each on its own handles, claim at once for
/// [`RACE_RUNS`] runs, [`ROUNDS`] rounds each way: exactly that many win, on distinct
/// runs, each recorded as its winner's.
pub async fn claim_is_atomic<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_is_atomic");
    let rule = "claim.atomic";
    let hs = handles(&fx, RACERS).await;
    for (round, joined) in rounds() {
        let cap = format!("race-{round}");
        for r in 0..RACE_RUNS {
            put(
                c,
                fx.tasks(),
                &TaskSpec::new(format!("{cap}-task")),
                &RunSpec::new(format!("{cap}-run-{r}")).caps([cap.as_str()]),
                at(0),
            )
            .await?;
        }
        let futures = hs
            .iter()
            .enumerate()
            .map(|(k, h)| {
                claim_future(&h.tasks, ClaimRequest::session(format!("{cap}-sess-{k}")).caps([cap.as_str()]), 1)
            })
            .collect();
        let (how, results) = race(joined, futures).await;
        let what = format!("round {round} ({how})");
        let mut wins: Vec<(String, String)> = Vec::new();
        for (k, result) in results.into_iter().enumerate() {
            match result {
                Some(Ok(Some(run))) => wins.push((run, format!("{cap}-sess-{k}"))),
                Some(Ok(None)) => {}
                Some(Err((_, e))) => {
                    return Err(c.fail(rule, &what, "every claim answered", format!("racer {k}: error: {e}")));
                }
                None => return Err(c.fail(rule, &what, "every claim answered", format!("racer {k} panicked"))),
            }
        }
        wins.sort();
        let runs: Vec<String> = wins.iter().map(|(r, _)| r.clone()).collect();
        let expected: Vec<String> = (0..RACE_RUNS).map(|r| format!("{cap}-run-{r}")).collect();
        c.eq(runs, expected, rule, format_args!("{what}: runs won, one entry per winning claim"))?;
        for (run, session) in &wins {
            let holder =
                record(c, fx.tasks(), run, rule).await?.and_then(|r| r.session_id).map(|s| s.trim().to_owned());
            c.eq(holder, Some(session.clone()), rule, format_args!("{what}: holder of {run}"))?;
        }
    }
    Ok(())
}

/// `busy.atomic`: one session claiming twice at once, through two handles, with two
/// runs to take, wins at most once (the other claim is `SessionBusy`, or finds nothing).
pub async fn one_session_wins_one_claim_at_a_time<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("one_session_wins_one_claim_at_a_time");
    let rule = "busy.atomic";
    let hs = handles(&fx, 2).await;
    for (round, joined) in rounds() {
        let cap = format!("twice-{round}");
        for r in 0..2 {
            put(
                c,
                fx.tasks(),
                &TaskSpec::new(format!("{cap}-task")),
                &RunSpec::new(format!("{cap}-run-{r}")).caps([cap.as_str()]),
                at(0),
            )
            .await?;
        }
        let me = ClaimRequest::session(format!("{cap}-sess")).caps([cap.as_str()]);
        let futures = hs.iter().map(|h| claim_future(&h.tasks, me.clone(), 1)).collect();
        let (how, results) = race(joined, futures).await;
        let wins: Vec<String> = results
            .iter()
            .filter_map(|r| match r {
                Some(Ok(Some(run))) => Some(run.clone()),
                _ => None,
            })
            .collect();
        let what = format!("round {round} ({how}): runs won by one session claiming twice at once");
        c.ensure(wins.len() == 1, rule, what, "exactly one win", || format!("{wins:?} (all results: {results:?})"))?;
    }
    Ok(())
}

/// Enqueues and leases `n` runs for a round (leases end at `base + 60`).
async fn leased_runs<S: LeaseService>(
    c: Check,
    svc: &S,
    tag: &str,
    n: usize,
    base: u64,
) -> Result<Vec<(String, Lease)>, Failure> {
    let mut out = Vec::new();
    for r in 0..n {
        let run = format!("{tag}-run-{r}");
        put(c, svc, &TaskSpec::new(format!("{tag}-task")), &RunSpec::new(&run).caps([tag]), at(base)).await?;
        let got = c.setup(
            svc.claim(&ClaimRequest::session(format!("{tag}-sess-{r}")).caps([tag]), LEASE, at(base)).await,
            "claim",
        )?;
        let lease = got.ok_or_else(|| c.fail("setup", format_args!("claim of {run}"), "a lease", "None"))?;
        out.push((run, lease));
    }
    Ok(out)
}

fn sweep_future<S: LeaseService + Clone + 'static>(
    svc: &S,
    now: u64,
) -> BoxFuture<'static, Result<Vec<String>, String>> {
    let svc = svc.clone();
    Box::pin(async move {
        let mut out = Vec::new();
        let request = Recovery { now: at(now), reason: "scheduler_sweep", limit: 0, actor: "conformance" };
        match svc.recover_expired_leases(request, &mut out).await {
            Ok(()) => Ok(out.iter().map(|r| r.run_id().trim().to_owned()).collect()),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// `recovery.atomic_sweeps`: two sweeps at once, through two handles, recover each
/// expired run exactly once between them.
pub async fn concurrent_sweeps_recover_each_run_once<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("concurrent_sweeps_recover_each_run_once");
    let rule = "recovery.atomic_sweeps";
    let hs = handles(&fx, 2).await;
    for (round, joined) in rounds() {
        let base = 1_000 * round as u64;
        let tag = format!("sweep-{round}");
        let runs = leased_runs(c, fx.tasks(), &tag, 3, base).await?;
        let futures = hs.iter().map(|h| sweep_future(&h.tasks, base + 100)).collect();
        let (how, results) = race(joined, futures).await;
        let mut recovered = Vec::new();
        for (k, result) in results.into_iter().enumerate() {
            match result {
                Some(Ok(ids)) => recovered.extend(ids),
                Some(Err(e)) => {
                    return Err(c.fail(
                        rule,
                        format_args!("round {round} ({how})"),
                        "both sweeps answered",
                        format!("sweep {k}: error: {e}"),
                    ));
                }
                None => {
                    return Err(c.fail(
                        rule,
                        format_args!("round {round} ({how})"),
                        "both sweeps answered",
                        format!("sweep {k} panicked"),
                    ));
                }
            }
        }
        recovered.sort();
        let expected: Vec<String> = runs.into_iter().map(|(r, _)| r).collect();
        c.eq(recovered, expected, rule, format_args!("round {round} ({how}): runs recovered by both sweeps together"))?;
    }
    Ok(())
}

type HeartbeatOrSweep = Result<Option<std::time::SystemTime>, (ErrorKind, String)>;

fn heartbeat_future<S: LeaseService + Clone + 'static>(
    svc: &S,
    lease: Lease,
    now: u64,
) -> BoxFuture<'static, HeartbeatOrSweep> {
    let svc = svc.clone();
    Box::pin(async move {
        svc.heartbeat(&lease.run_id, &lease.token, LEASE, at(now))
            .await
            .map(Some)
            .map_err(|e| (e.kind(), e.to_string()))
    })
}

/// `recovery.atomic_heartbeat`: a heartbeat racing a sweep at the lease's end either
/// wins (the lease is extended and not recovered) or loses (the run is recovered and the
/// heartbeat refused as `TokenRejected`), never both.
pub async fn heartbeat_racing_a_sweep_wins_or_loses_cleanly<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("heartbeat_racing_a_sweep_wins_or_loses_cleanly");
    let rule = "recovery.atomic_heartbeat";
    let hs = handles(&fx, 2).await;
    for (round, joined) in rounds() {
        let base = 1_000 * round as u64;
        let tag = format!("beat-{round}");
        let (run, lease) = leased_runs(c, fx.tasks(), &tag, 1, base).await?.remove(0);
        let sweep = sweep_future(&hs[0].tasks, base + 60);
        let mine = run.clone();
        let sweep: BoxFuture<'static, HeartbeatOrSweep> = Box::pin(async move {
            sweep.await.map(|ids| ids.contains(&mine).then(|| at(0))).map_err(|e| (ErrorKind::Other, e))
        });
        let beat = heartbeat_future(&hs[1].tasks, lease, base + 60);
        let (how, results) = race(joined, vec![sweep, beat]).await;
        let rec = record(c, fx.tasks(), &run, rule).await?;
        let recovered = matches!(results.first(), Some(Some(Ok(Some(_)))));
        let beat = results.get(1).cloned().flatten();
        let clean = match (recovered, &beat) {
            (false, Some(Ok(Some(until)))) => {
                *until == at(base + 120) && rec.as_ref().and_then(|r| r.lease_until) == Some(at(base + 120))
            }
            (true, Some(Err((ErrorKind::TokenRejected, _)))) => {
                rec.as_ref().map(|r| r.status) == Some(RunStatus::Queued)
            }
            _ => false,
        };
        let what = format!("round {round} ({how}): sweep and heartbeat at T0+{}s", base + 60);
        c.ensure(
            clean,
            rule,
            what,
            "heartbeat extended and nothing recovered, or run recovered and heartbeat refused",
            || format!("recovered: {recovered}, heartbeat: {}, record: {}", beat.shown(), rec.shown()),
        )?;
    }
    Ok(())
}
