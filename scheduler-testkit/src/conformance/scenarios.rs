//! End-to-end scenarios: a real [`Scheduler`] cycling over the implementation under
//! test, with the testkit's session registry, recording waker and fake clock.
//!
//! | check | rules |
//! | --- | --- |
//! | [`wake_leaves_claim_to_service`] | `scenario.cycle_ok`, `scenario.wake_targets`, `scenario.wake_does_not_claim`, `scenario.claim_decides`, `scenario.claimed_not_woken` |
//! | [`expired_lease_recovered_next_cycle`] | `scenario.live_lease_kept`, `scenario.sweep_recovers`, `scenario.claimable_again`, `scenario.sweep_once` |
//! | [`dead_worker_recovered_before_replacement_woken`] | `scenario.recover_before_wake` |
//! | [`no_eligible_session_changes_nothing`] | `scenario.no_match`, `scenario.nothing_changed`, `scenario.service_agrees` |
//! | [`restart_resumes_ladder`] | `scenario.ladder_counts`, `scenario.restart_keeps_budget`, `scenario.restart_resumes_ladder`, `scenario.needs_attention` |

use std::time::Duration;

use scheduler_core::clock::Clock;
use scheduler_core::ladder::{Budget, Thresholds, Tier};
use scheduler_core::lease::{ClaimRequest, LeaseService, RunSpec, TaskSpec};
use scheduler_core::model::{RunStatus, SessionState};
use scheduler_core::seam::StarvationStore;
use scheduler_core::view::RecoveredView;
use scheduler_core::{CycleResult, Scheduler};

use super::support::*;
use super::{Backend, Fixture, Runner, checks};
use crate::clock::FakeClock;
use crate::escalation::{EscalationCall, RecordingActor};
use crate::registry::MemorySessions;
use crate::snapshot::SessionSnapshot;
use crate::waker::RecordingWaker;

pub(super) async fn run<'a, B: Backend + ?Sized>(r: &mut Runner<'a, B>) {
    checks!(r;
        wake_leaves_claim_to_service ["scenario.cycle_ok", "scenario.wake_targets", "scenario.wake_does_not_claim", "scenario.claim_decides", "scenario.claimed_not_woken"] Fresh,
        expired_lease_recovered_next_cycle ["scenario.cycle_ok", "scenario.live_lease_kept", "scenario.sweep_recovers", "scenario.claimable_again", "scenario.sweep_once"] Fresh,
        dead_worker_recovered_before_replacement_woken ["scenario.cycle_ok", "scenario.recover_before_wake"] Fresh,
        no_eligible_session_changes_nothing ["scenario.cycle_ok", "scenario.no_match", "scenario.nothing_changed", "scenario.service_agrees"] Fresh,
        restart_resumes_ladder ["scenario.cycle_ok", "scenario.ladder_counts", "scenario.restart_keeps_budget", "scenario.restart_resumes_ladder", "scenario.needs_attention"] Fresh,
    );
}

/// The sessions, waker and clock a scenario drives the scheduler with.
struct World {
    sessions: MemorySessions,
    waker: RecordingWaker,
    clock: FakeClock,
}

impl World {
    fn new(c: Check, start_secs: u64, sessions: &[SessionSnapshot]) -> Result<Self, Failure> {
        let registry = MemorySessions::new();
        for s in sessions {
            c.ok(registry.register(s.clone()), "setup", "register session")?;
        }
        Ok(World { sessions: registry, waker: RecordingWaker::batch(), clock: FakeClock::new(at(start_secs)) })
    }
}

fn session(id: &str, created_secs: u64) -> SessionSnapshot {
    SessionSnapshot::active(id).created_at(at(created_secs))
}

fn cycle_ok(c: Check, result: &CycleResult, which: &str) -> Outcome {
    c.ensure(result.errors.is_empty(), "scenario.cycle_ok", which, "no errors", || format!("{:?}", result.errors))
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(r, s)| ((*r).to_owned(), (*s).to_owned())).collect()
}

/// `scenario.wake_targets`, `scenario.wake_does_not_claim`, `scenario.claim_decides`,
/// `scenario.claimed_not_woken`: a cycle wakes the oldest eligible session but leaves
/// the run `queued` and unleased; the task service decides who wins (here a session
/// that was not woken); a claimed run is not woken for again.
pub async fn wake_leaves_claim_to_service<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("wake_leaves_claim_to_service");
    let svc = fx.tasks();
    put(c, svc, &TaskSpec::new("task-w"), &RunSpec::new("run-w").caps(["rust"]), at(0)).await?;
    let old = session("sess-old", 0).caps(["rust"]);
    let new = session("sess-new", 1).caps(["rust"]);
    let w = World::new(c, 5, &[old.clone(), new.clone()])?;
    let mut scheduler = c.ok(
        Scheduler::builder(svc, w.sessions.clone(), w.waker.clone())
            .clock(w.clock.clone())
            .starvation_age(Duration::ZERO)
            .build(),
        "setup",
        "build the scheduler",
    )?;
    let result = scheduler.run_once().await.to_result();
    cycle_ok(c, &result, "the cycle")?;
    c.eq(w.waker.attempted_pairs(), pairs(&[("run-w", "sess-old")]), "scenario.wake_targets", "wakes of the cycle")?;

    let rule = "scenario.wake_does_not_claim";
    let queued = queued(at(0));
    c.eq(record(c, svc, "run-w", rule).await?, Some(queued), rule, "record of the woken run")?;
    let seen = observe(c, svc, &[], rule).await?;
    c.eq(
        (seen.pending, seen.active),
        (vec!["run-w".to_owned()], vec![]),
        rule,
        "pending and active runs after the wake",
    )?;

    let rule = "scenario.claim_decides";
    // A lease that outlives the next cycle, so that cycle's sweep leaves it alone.
    let long = Duration::from_secs(600);
    let taken = claim(c, svc, &ClaimRequest::from_session(&new), long, at(6), rule).await?;
    c.eq(won(&taken), Some("run-w".to_owned()), rule, "claim by the session not woken")?;
    let lost = claim(c, svc, &ClaimRequest::from_session(&old), LEASE, at(7), rule).await?;
    c.ensure(lost.is_none(), rule, "outcome", "the contract held", || {
        format!("the woken session also won {:?}", won(&lost))
    })?;

    w.waker.clear();
    w.clock.advance(Duration::from_secs(61));
    let result = scheduler.run_once().await.to_result();
    cycle_ok(c, &result, "the next cycle")?;
    c.eq(w.waker.attempted_pairs(), vec![], "scenario.claimed_not_woken", "wakes after the run was claimed")?;
    c.eq(result.counts.pending_runs, 0, "scenario.claimed_not_woken", "pending runs after the claim")
}

/// `scenario.live_lease_kept`, `scenario.sweep_recovers`, `scenario.claimable_again`,
/// `scenario.sweep_once`: a cycle before the lease ends recovers nothing; the first
/// cycle after it recovers the run, which is `queued` and unleased again, seen pending
/// and woken for in that same cycle, and claimable; the next cycle recovers nothing.
pub async fn expired_lease_recovered_next_cycle<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("expired_lease_recovered_next_cycle");
    let svc = fx.tasks();
    put(c, svc, &TaskSpec::new("task-e"), &RunSpec::new("run-e"), at(0)).await?;
    let worker = session("sess-1", 0);
    let got = claim(c, svc, &ClaimRequest::from_session(&worker), Duration::from_secs(30), at(0), "setup")
        .await?
        .ok_or_else(|| c.fail("setup", "claim of run-e by sess-1", "a lease", "None"))?;
    c.ok(svc.start("run-e", &got.token, at(1)).await, "setup", "start run-e")?;
    let w = World::new(c, 10, &[worker])?;
    let mut scheduler = c.ok(
        Scheduler::builder(svc, w.sessions.clone(), w.waker.clone())
            .clock(w.clock.clone())
            .starvation_age(Duration::ZERO)
            .build(),
        "setup",
        "build the scheduler",
    )?;

    let rule = "scenario.live_lease_kept";
    let result = scheduler.run_once().await.to_result();
    cycle_ok(c, &result, "the cycle before the lease ends")?;
    c.eq(result.recovered_run_ids.clone(), vec![], rule, "runs recovered before the lease ends")?;
    c.eq(w.waker.attempted_pairs(), vec![], rule, "wakes while the run is leased")?;
    c.eq(status(c, svc, "run-e", rule).await?, Some(RunStatus::Running), rule, "status while leased")?;

    let rule = "scenario.sweep_recovers";
    w.clock.set(at(31));
    let result = scheduler.run_once().await.to_result();
    cycle_ok(c, &result, "the cycle after the lease ended")?;
    c.eq(result.recovered_run_ids.clone(), vec!["run-e".to_owned()], rule, "runs recovered")?;
    c.eq(scheduler.stats().recovered_leases, 1, rule, "recovered leases in the statistics")?;
    let lease = record(c, svc, "run-e", rule).await?.map(|r| (r.status, r.session_id, r.lease_until));
    c.eq(lease, Some((RunStatus::Queued, None, None)), rule, "(status, session, lease end) of the recovered run")?;
    c.eq(result.counts.pending_runs, 1, rule, "pending runs the recovering cycle read")?;
    c.eq(w.waker.attempted_pairs(), pairs(&[("run-e", "sess-1")]), rule, "wakes of the recovering cycle")?;

    let rule = "scenario.claimable_again";
    let again = claim(c, svc, &ClaimRequest::session("sess-2"), LEASE, at(32), rule).await?;
    c.eq(again.map(|a| a.run_id.trim().to_owned()), Some("run-e".to_owned()), rule, "claim after recovery")?;

    let rule = "scenario.sweep_once";
    w.clock.set(at(33));
    let result = scheduler.run_once().await.to_result();
    cycle_ok(c, &result, "the cycle after the reclaim")?;
    c.eq(result.recovered_run_ids, vec![], rule, "runs recovered by the next cycle")
}

/// `scenario.recover_before_wake`: a worker claims a run and dies (its session leaves
/// the registry); a replacement session registers; the first cycle after the lease
/// ended recovers the run (reporting the dead worker's session) and wakes the
/// replacement for it, in that same cycle; the replacement can claim it.
pub async fn dead_worker_recovered_before_replacement_woken<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("dead_worker_recovered_before_replacement_woken");
    let svc = fx.tasks();
    let rule = "scenario.recover_before_wake";
    put(c, svc, &TaskSpec::new("task-d"), &RunSpec::new("run-d").caps(["rust"]), at(0)).await?;
    let dead = session("sess-dead", 0).caps(["rust"]);
    let replacement = session("sess-new", 20).caps(["rust"]);
    let w = World::new(c, 0, std::slice::from_ref(&dead))?;
    claim(c, svc, &ClaimRequest::from_session(&dead), Duration::from_secs(30), at(0), "setup")
        .await?
        .ok_or_else(|| c.fail("setup", "claim of run-d by sess-dead", "a lease", "None"))?;
    c.ok(w.sessions.remove("sess-dead"), "setup", "remove the dead session")?;
    c.ok(w.sessions.register(replacement.clone()), "setup", "register the replacement")?;
    let mut scheduler = c.ok(
        Scheduler::builder(svc, w.sessions.clone(), w.waker.clone())
            .clock(w.clock.clone())
            .starvation_age(Duration::ZERO)
            .build(),
        "setup",
        "build the scheduler",
    )?;
    w.clock.set(at(31));
    let report = scheduler.run_once().await;
    let previous: Vec<String> = report.recovered().iter().map(|r| r.previous_session_id().trim().to_owned()).collect();
    let result = report.to_result();
    cycle_ok(c, &result, "the cycle")?;
    c.eq(result.recovered_run_ids, vec!["run-d".to_owned()], rule, "runs recovered")?;
    c.eq(previous, vec!["sess-dead".to_owned()], rule, "previous session of the recovered run")?;
    c.eq(w.waker.attempted_pairs(), pairs(&[("run-d", "sess-new")]), rule, "wakes of the same cycle")?;
    let got = claim(c, svc, &ClaimRequest::from_session(&replacement), LEASE, at(32), rule).await?;
    c.eq(got.map(|g| g.run_id.trim().to_owned()), Some("run-d".to_owned()), rule, "claim by the replacement")
}

/// `scenario.no_match`, `scenario.nothing_changed`, `scenario.service_agrees`: with no
/// eligible session (one lacks the capability, the capable ones are prompting, stopped
/// or in another workspace) a cycle wakes no one and reports the run as a no-match, and
/// the task service is exactly as before; the service agrees the ineligible session
/// cannot claim it.
pub async fn no_eligible_session_changes_nothing<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("no_eligible_session_changes_nothing");
    let svc = fx.tasks();
    put(c, svc, &TaskSpec::new("task-n"), &RunSpec::new("run-n").caps(["gpu"]), at(0)).await?;
    let cpu = session("sess-cpu", 0).caps(["rust"]);
    let w = World::new(
        c,
        10,
        &[
            cpu.clone(),
            session("sess-prompting", 1).caps(["gpu"]).prompting(),
            session("sess-stopped", 2).caps(["gpu"]).state(SessionState::Stopped),
            session("sess-elsewhere", 3).caps(["gpu"]).workspace("ws-9"),
        ],
    )?;
    let before = observe(c, svc, &["run-n"], "scenario.nothing_changed").await?;
    let mut scheduler = c.ok(
        Scheduler::builder(svc, w.sessions.clone(), w.waker.clone())
            .clock(w.clock.clone())
            .starvation_age(Duration::ZERO)
            .build(),
        "setup",
        "build the scheduler",
    )?;
    let result = scheduler.run_once().await.to_result();
    cycle_ok(c, &result, "the cycle")?;
    let rule = "scenario.no_match";
    c.eq(w.waker.attempted_pairs(), vec![], rule, "wakes")?;
    c.eq(result.counts.wake_attempts, 0, rule, "wake attempts")?;
    c.eq(result.no_match_run_ids, vec!["run-n".to_owned()], rule, "no-match runs")?;
    let after = observe(c, svc, &["run-n"], "scenario.nothing_changed").await?;
    c.eq(after, before, "scenario.nothing_changed", "the service after the cycle")?;
    let rule = "scenario.service_agrees";
    let got = claim(c, svc, &ClaimRequest::from_session(&cpu), LEASE, at(11), rule).await?;
    c.ensure(got.is_none(), rule, "outcome", "the contract held", || {
        format!("a session without the capability claimed {:?}", won(&got))
    })
}

async fn budget<B: StarvationStore>(c: Check, store: &B, rule: &'static str) -> Result<Option<Budget>, Failure> {
    c.ok(store.load("run-s").await, rule, "load the budget of run-s")
}

fn expect_budget(
    c: Check,
    got: Option<Budget>,
    want: (u32, Tier, u64, Option<u64>, Option<u64>),
    rule: &'static str,
    when: &str,
) -> Outcome {
    let Some(b) = got else { return Err(c.fail(rule, when, "a budget for run-s", "None")) };
    let (count, tier, first, spawn, event) = want;
    c.eq(
        (b.wake_count, u32::from(b.tier.as_u8()), b.first_starved_at, b.spawn_requested_at, b.starved_event_at),
        (count, u32::from(tier.as_u8()), at(first), spawn.map(at), event.map(at)),
        rule,
        format_args!("{when}: (wake count, tier, first starved, spawn requested, starved event) of run-s"),
    )
}

/// `scenario.ladder_counts`, `scenario.restart_keeps_budget`,
/// `scenario.restart_resumes_ladder`, `scenario.needs_attention`: a starved run with no
/// eligible session climbs the ladder one rung per cycle (thresholds 1, 2, 3, 4; one
/// minute minimum age) with its budget in the store under test; a new scheduler over
/// the same service and store (a restart) continues from the stored count instead of
/// starting over and does not repeat the spawn request; at the top the run is marked
/// `needs_attention` through the service and its budget is cleared.
pub async fn restart_resumes_ladder<B: Backend + ?Sized>(fx: Fixture<'_, B>) -> Outcome {
    let c = Check("restart_resumes_ladder");
    let (svc, budgets) = (fx.tasks(), fx.budgets());
    put(c, svc, &TaskSpec::new("task-s"), &RunSpec::new("run-s").caps(["gpu"]), at(0)).await?;
    let w = World::new(c, 61, &[session("sess-cpu", 0).caps(["rust"])])?;
    let thresholds = Thresholds::default()
        .fan_out_after(1)
        .spawn_after(2)
        .event_after(3)
        .needs_attention_after(4)
        .min_queued_age(Duration::from_secs(60));
    let log = RecordingActor::new();
    let actor = || log.clone();
    let step = Duration::from_secs(61);

    {
        let rule = "scenario.ladder_counts";
        let mut first = c.ok(
            Scheduler::builder(svc, w.sessions.clone(), w.waker.clone())
                .clock(w.clock.clone())
                .starvation_thresholds(thresholds)
                .starvation_store(budgets)
                .escalation_actor(actor())
                .build(),
            "setup",
            "build the first scheduler",
        )?;
        let result = first.run_once().await.to_result();
        cycle_ok(c, &result, "cycle 1")?;
        c.eq(result.starved_run_ids, vec!["run-s".to_owned()], rule, "starved runs of cycle 1")?;
        expect_budget(c, budget(c, budgets, rule).await?, (1, Tier::FanOut, 61, None, None), rule, "after cycle 1")?;
        w.clock.advance(step);
        let result = first.run_once().await.to_result();
        cycle_ok(c, &result, "cycle 2")?;
        c.eq(result.spawn_requested_run_ids, vec!["run-s".to_owned()], rule, "spawns requested by cycle 2")?;
        expect_budget(
            c,
            budget(c, budgets, rule).await?,
            (2, Tier::Spawn, 61, Some(122), None),
            rule,
            "after cycle 2",
        )?;
    }

    // Restart: a new scheduler over the same service and store.
    let mut second = c.ok(
        Scheduler::builder(svc, w.sessions.clone(), w.waker.clone())
            .clock(w.clock.clone())
            .starvation_thresholds(thresholds)
            .starvation_store(budgets)
            .escalation_actor(actor())
            .build(),
        "setup",
        "build the second scheduler",
    )?;
    c.ok(second.rebuild().await.map(|_| ()), "scenario.restart_keeps_budget", "rebuild after the restart")?;
    w.clock.advance(step);
    let result = second.run_once().await.to_result();
    cycle_ok(c, &result, "cycle 3 (after the restart)")?;
    let rule = "scenario.restart_keeps_budget";
    expect_budget(
        c,
        budget(c, budgets, rule).await?,
        (3, Tier::Event, 61, Some(122), Some(183)),
        rule,
        "after cycle 3",
    )?;
    let rule = "scenario.restart_resumes_ladder";
    c.eq(result.spawn_requested_run_ids, vec![], rule, "spawns requested after the restart")?;
    let expected = vec![
        EscalationCall::Spawn { run_id: "run-s".into() },
        EscalationCall::Starved { run_id: "run-s".into(), age: Duration::from_secs(183) },
    ];
    c.eq(log.calls(), expected, rule, "escalations so far")?;

    let rule = "scenario.needs_attention";
    w.clock.advance(step);
    let result = second.run_once().await.to_result();
    cycle_ok(c, &result, "cycle 4")?;
    c.eq(result.needs_attention_run_ids, vec!["run-s".to_owned()], rule, "runs marked by cycle 4")?;
    // The actor asked for the mark; a real actor marks through the service, as here.
    c.ok(svc.mark_needs_attention("run-s", "starved", w.clock.now()).await, rule, "mark run-s")?;
    c.eq(status(c, svc, "run-s", rule).await?, Some(RunStatus::NeedsAttention), rule, "status of run-s")?;
    c.eq(budget(c, budgets, rule).await?, None, rule, "budget of run-s after the mark")?;
    w.clock.advance(step);
    let result = second.run_once().await.to_result();
    cycle_ok(c, &result, "cycle 5")?;
    c.eq(result.counts.pending_runs, 0, rule, "pending runs after the mark")?;
    c.eq(budget(c, budgets, rule).await?, None, rule, "budget of run-s a cycle after the mark")
}

impl Show for EscalationCall {
    fn show(&self, out: &mut String) {
        out.push_str(&format!("{self:?}"));
    }
}
