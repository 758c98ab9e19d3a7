//! Claims: the lease handed out, the best run first, the scheduler's eligibility rules,
//! the pause, and nothing-to-claim as an answer.

use std::time::Duration;

use scheduler_core::lease::{ClaimRequest, ErrorKind, LeaseService, PauseControl, RunSpec, TaskSpec};
use scheduler_core::model::{OwnerRef, Priority, RunStatus, Scope, TaskStatus};

use super::support::*;
use super::{Backend, Fixture, Runner, checks};

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        claim_hands_out_a_lease ["claim.lease"] Fresh,
        claim_takes_the_best_run ["claim.order"] Fresh,
        claim_ranks_unknown_priority_as_medium ["claim.unknown_priority"] Fresh,
        claim_skips_unclaimable_runs ["claim.claimable"] Fresh,
        claim_matches_scope ["claim.scope"] Fresh,
        claim_matches_channel ["claim.channel"] Fresh,
        claim_matches_owner ["claim.owner"] Fresh,
        claim_matches_capabilities ["claim.capabilities"] Fresh,
        claims_refused_while_paused ["claim.paused"] Fresh,
        nothing_to_claim_is_none ["claim.none"] Fresh,
        claim_refuses_invalid_input ["claim.invalid_input"] Fresh,
    );
}

/// Claims as each request in turn (one per session) and fails `rule` unless the runs
/// won are `expected` (`None`: nothing).
async fn claims_in_turn<S: LeaseService>(
    c: Check,
    svc: &S,
    turns: &[(ClaimRequest, Option<&str>)],
    rule: &'static str,
) -> Outcome {
    for (request, expected) in turns {
        let got = claim(c, svc, request, LEASE, at(100), rule).await?;
        let what = format!("claim by {:?}", request.session_id);
        c.eq(won(&got), expected.map(str::to_owned), rule, what)?;
    }
    Ok(())
}

fn task(id: &str) -> TaskSpec {
    TaskSpec::new(id)
}

/// `claim.lease`: a claim leases the run to the session: `claimed`, the session
/// recorded, `lease_until = now + lease`, queued-at kept; it leaves the pending read.
pub async fn claim_hands_out_a_lease<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_hands_out_a_lease");
    let rule = "claim.lease";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let got = claim(c, svc, &ClaimRequest::session("sess-1"), LEASE, at(10), rule).await?;
    let lease = got.ok_or_else(|| c.fail(rule, "claim by sess-1", "a lease on run-1", "None"))?;
    let seen = (lease.run_id.trim().to_owned(), lease.session_id.trim().to_owned(), lease.lease_until);
    c.eq(seen, ("run-1".to_owned(), "sess-1".to_owned(), at(70)), rule, "(run, session, lease end) of the lease")?;
    let expected = leased(RunStatus::Claimed, "sess-1", at(70), at(0));
    c.eq(record(c, svc, "run-1", rule).await?, Some(expected), rule, "record of run-1")?;
    c.eq(pending_ids(c, svc, rule).await?, vec![], rule, "pending runs")
}

/// `claim.order`: the best run is the highest priority, then the oldest queued-at,
/// then the smallest run id.
pub async fn claim_takes_the_best_run<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_takes_the_best_run");
    let svc = fx.tasks();
    let runs = [
        ("r-low", Priority::Low, 0),
        ("r-med-b", Priority::Medium, 2),
        ("r-med-a", Priority::Medium, 2),
        ("r-med-old", Priority::Medium, 1),
        ("r-high", Priority::High, 4),
        ("r-urgent", Priority::Urgent, 5),
    ];
    for (id, priority, secs) in runs {
        put(c, svc, &task(&format!("t-{id}")).priority(priority), &RunSpec::new(id), at(secs)).await?;
    }
    let order = ["r-urgent", "r-high", "r-med-old", "r-med-a", "r-med-b", "r-low"];
    let mut turns: Vec<(ClaimRequest, Option<&str>)> =
        order.iter().enumerate().map(|(i, id)| (ClaimRequest::session(format!("sess-{i}")), Some(*id))).collect();
    turns.push((ClaimRequest::session("sess-last"), None));
    claims_in_turn(c, svc, &turns, "claim.order").await
}

/// `claim.unknown_priority`: a task whose priority is unknown ranks as medium.
pub async fn claim_ranks_unknown_priority_as_medium<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_ranks_unknown_priority_as_medium");
    let svc = fx.tasks();
    let runs = [
        ("r-low", Priority::Low, 0),
        ("r-unknown", Priority::Unknown, 1),
        ("r-medium", Priority::Medium, 2),
        ("r-high", Priority::High, 3),
    ];
    for (id, priority, secs) in runs {
        put(c, svc, &task(&format!("t-{id}")).priority(priority), &RunSpec::new(id), at(secs)).await?;
    }
    let turns: Vec<(ClaimRequest, Option<&str>)> = ["r-high", "r-unknown", "r-medium", "r-low"]
        .iter()
        .enumerate()
        .map(|(i, id)| (ClaimRequest::session(format!("sess-{i}")), Some(*id)))
        .collect();
    claims_in_turn(c, svc, &turns, "claim.unknown_priority").await
}

/// `claim.claimable`: only `queued` runs of tasks that are not paused and not `draft`,
/// `blocked` or `canceled` are claimed; `pending`, `ready` and `in_progress` tasks are.
pub async fn claim_skips_unclaimable_runs<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_skips_unclaimable_runs");
    let rule = "claim.claimable";
    let svc = fx.tasks();
    let urgent = |id: &str| task(id).priority(Priority::Urgent);
    put(c, svc, &urgent("t-paused").paused(true), &RunSpec::new("r-paused"), at(0)).await?;
    for (id, st) in [("draft", TaskStatus::Draft), ("blocked", TaskStatus::Blocked), ("canceled", TaskStatus::Canceled)]
    {
        put(c, svc, &urgent(&format!("t-{id}")).status(st), &RunSpec::new(format!("r-{id}")), at(0)).await?;
    }
    put(c, svc, &urgent("t-marked"), &RunSpec::new("r-marked"), at(0)).await?;
    c.setup(svc.mark_needs_attention("r-marked", "stuck", at(1)).await, "mark r-marked")?;
    let fine = [
        ("pending", TaskStatus::Pending, 2),
        ("ready", TaskStatus::Ready, 3),
        ("in-progress", TaskStatus::InProgress, 4),
    ];
    for (id, st, secs) in fine {
        put(c, svc, &task(&format!("t-{id}")).status(st), &RunSpec::new(format!("r-{id}")), at(secs)).await?;
    }
    let turns = [
        (ClaimRequest::session("sess-1"), Some("r-pending")),
        (ClaimRequest::session("sess-2"), Some("r-ready")),
        (ClaimRequest::session("sess-3"), Some("r-in-progress")),
        (ClaimRequest::session("sess-4"), None),
    ];
    claims_in_turn(c, svc, &turns, rule).await
}

/// `claim.scope`: a workspace task goes to sessions of its workspace only, a global task
/// to global sessions only, and a task of unknown scope to no one.
pub async fn claim_matches_scope<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_matches_scope");
    let svc = fx.tasks();
    put(c, svc, &task("t-ws").workspace("ws-1").priority(Priority::High), &RunSpec::new("r-ws"), at(0)).await?;
    put(c, svc, &task("t-global"), &RunSpec::new("r-global"), at(1)).await?;
    put(c, svc, &task("t-odd").scope(Scope::Unknown, "ws-1").priority(Priority::Urgent), &RunSpec::new("r-odd"), at(2))
        .await?;
    let turns = [
        (ClaimRequest::session("sess-ws2").workspace("ws-2"), None),
        (ClaimRequest::session("sess-ws1").workspace("ws-1"), Some("r-ws")),
        (ClaimRequest::session("sess-ws1b").workspace("ws-1"), None),
        (ClaimRequest::session("sess-global"), Some("r-global")),
        (ClaimRequest::session("sess-global-2"), None),
    ];
    claims_in_turn(c, svc, &turns, "claim.scope").await
}

/// `claim.channel`: a run on a coordination channel goes to sessions on exactly that
/// channel; a run without one to any session.
pub async fn claim_matches_channel<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_matches_channel");
    let svc = fx.tasks();
    put(c, svc, &task("t-ch").priority(Priority::High), &RunSpec::new("r-ch").channel("ch-1"), at(0)).await?;
    put(c, svc, &task("t-free"), &RunSpec::new("r-free"), at(1)).await?;
    let turns = [
        (ClaimRequest::session("sess-none-1"), Some("r-free")),
        (ClaimRequest::session("sess-none-2"), None),
        (ClaimRequest::session("sess-ch2").channel("ch-2"), None),
        (ClaimRequest::session("sess-ch1").channel("ch-1"), Some("r-ch")),
    ];
    claims_in_turn(c, svc, &turns, "claim.channel").await
}

/// `claim.owner`: a pool owner takes sessions of that agent, an agent-session owner that
/// session only (refs compared after trimming); an empty ref or an unknown owner kind
/// matches no one.
pub async fn claim_matches_owner<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_matches_owner");
    let svc = fx.tasks();
    let owned = [
        ("r-pool", OwnerRef::Pool("coder".into())),
        ("r-session", OwnerRef::AgentSession("sess-x".into())),
        ("r-spaced", OwnerRef::Pool(" reviewer ".into())),
        ("r-empty", OwnerRef::Pool(String::new())),
        ("r-unknown", OwnerRef::Unknown),
    ];
    for (i, (id, owner)) in owned.into_iter().enumerate() {
        put(c, svc, &task(&format!("t-{id}")).owner(owner), &RunSpec::new(id), at(i as u64)).await?;
    }
    let turns = [
        (ClaimRequest::session("sess-tester").agent("tester"), None),
        (ClaimRequest::session("sess-coder").agent("coder"), Some("r-pool")),
        (ClaimRequest::session("sess-x").agent("other"), Some("r-session")),
        (ClaimRequest::session("sess-reviewer").agent("reviewer"), Some("r-spaced")),
        (ClaimRequest::session("sess-blank").agent(""), None),
    ];
    claims_in_turn(c, svc, &turns, "claim.owner").await
}

/// `claim.capabilities`: a session gets a run only when its capabilities cover every
/// required one (blank names ignored; more capabilities are fine).
pub async fn claim_matches_capabilities<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_matches_capabilities");
    let svc = fx.tasks();
    put(c, svc, &task("t-both").priority(Priority::High), &RunSpec::new("r-both").caps(["rust", "sqlite"]), at(0))
        .await?;
    put(c, svc, &task("t-blank"), &RunSpec::new("r-blank").caps(["rust", " ", ""]), at(1)).await?;
    let turns = [
        (ClaimRequest::session("sess-go").caps(["go"]), None),
        (ClaimRequest::session("sess-rust").caps(["rust"]), Some("r-blank")),
        (ClaimRequest::session("sess-sqlite").caps(["sqlite"]), None),
        (ClaimRequest::session("sess-all").caps(["go", "sqlite", "rust"]), Some("r-both")),
    ];
    claims_in_turn(c, svc, &turns, "claim.capabilities").await
}

/// `claim.paused`: while the scheduler-wide pause is on (set through the pause control
/// after the task service was opened), claims are refused as `Paused` and change
/// nothing.
pub async fn claims_refused_while_paused<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claims_refused_while_paused");
    let rule = "claim.paused";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let before = observe(c, svc, &["run-1"], rule).await?;
    c.setup(fx.pause().pause("operator", at(1), "maintenance").await, "pause")?;
    let refused = svc.claim(&ClaimRequest::session("sess-1"), LEASE, at(2)).await;
    c.err(refused, ErrorKind::Paused, rule, "claim while paused")?;
    c.eq(observe(c, svc, &["run-1"], rule).await?, before, rule, "the service after the refused claim")
}

/// `claim.none`: nothing to claim is `Ok(None)`, not an error: in an empty store, and
/// when every queued run is for someone else.
pub async fn nothing_to_claim_is_none<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("nothing_to_claim_is_none");
    let rule = "claim.none";
    let svc = fx.tasks();
    let got = c.ok(svc.claim(&ClaimRequest::session("sess-1"), LEASE, at(0)).await, rule, "claim in an empty store")?;
    c.eq(won(&got), None, rule, "claim in an empty store")?;
    put(c, svc, &task("t-gpu"), &RunSpec::new("r-gpu").caps(["gpu"]), at(0)).await?;
    let got =
        c.ok(svc.claim(&ClaimRequest::session("sess-1"), LEASE, at(1)).await, rule, "claim of nothing eligible")?;
    c.eq(won(&got), None, rule, "claim when nothing is eligible")
}

/// `claim.invalid_input`: an empty session id and a lease that overflows the clock are
/// refused as `InvalidInput`, changing nothing.
pub async fn claim_refuses_invalid_input<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("claim_refuses_invalid_input");
    let rule = "claim.invalid_input";
    let svc = fx.tasks();
    put_plain(c, svc, "run-1", at(0)).await?;
    let blank = svc.claim(&ClaimRequest::session("  "), LEASE, at(1)).await;
    c.err(blank, ErrorKind::InvalidInput, rule, "claim by a blank session id")?;
    let huge = svc.claim(&ClaimRequest::session("sess-1"), Duration::MAX, at(1)).await;
    c.err(huge, ErrorKind::InvalidInput, rule, "claim with a lease that overflows the clock")?;
    c.eq(record(c, svc, "run-1", rule).await?, Some(queued(at(0))), rule, "record of run-1")
}
