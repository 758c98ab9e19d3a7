//! The in-memory task service's reads say what it holds (`spec/task-service.md`):
//!
//! - pending runs are every `queued` run, claimable or not, by run id; active runs are
//!   the leased ones (`claimed`, `starting`, `running`), oldest lease end first; the
//!   [`TaskSource`] reads the scheduler makes return the same rows;
//! - a run's status is readable in every status (finished ones included), and an
//!   unknown run has none;
//! - the service counts its runs in every status;
//! - a session's lease, a marked run's diagnostic and a failed run's reason are kept and
//!   readable, and belong to that run or session only;
//! - a recovered lease names its run and the session that held it;
//! - the pause store it hands out is the one its claims consult.

use std::time::{Duration, SystemTime};

use futures::executor::block_on;
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, TaskSource};
use scheduler_core::view::RecoveredView;
use scheduler_testkit::service::{ClaimRequest, LeaseError, MemoryTaskService, RunSpec, TaskSpec};

const LEASE: Duration = Duration::from_secs(60);

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn pending_ids(s: &MemoryTaskService) -> Vec<String> {
    s.pending().iter().map(|r| r.run_id.clone()).collect()
}

fn active_ids(s: &MemoryTaskService) -> Vec<String> {
    s.active().iter().map(|r| r.run_id.clone()).collect()
}

/// Runs `r1`..`r4` of one task, queued at `t(0)`..`t(3)`, and a paused task's run `p1`.
fn service() -> MemoryTaskService {
    let s = MemoryTaskService::new();
    for (i, id) in ["r3", "r1", "r4", "r2"].into_iter().enumerate() {
        s.enqueue(&TaskSpec::new("task"), &RunSpec::new(id), t(i as u64)).unwrap();
    }
    s.enqueue(&TaskSpec::new("paused").paused(true), &RunSpec::new("p1"), t(9)).unwrap();
    s
}

fn claim(s: &MemoryTaskService, session: &str, lease: Duration, now: SystemTime) -> String {
    let lease = s.claim(&ClaimRequest::session(session), lease, now).unwrap().expect("a run to claim");
    lease.run_id
}

#[test]
fn pending_is_every_queued_run_by_id_and_active_every_leased_run_by_lease_end() {
    let s = service();
    // Claims take the oldest queued first: r3 (lease to t(200)), then r1 (to t(70)).
    assert_eq!(claim(&s, "sess-a", Duration::from_secs(200), t(0)), "r3");
    assert_eq!(claim(&s, "sess-b", LEASE, t(10)), "r1");
    assert_eq!(pending_ids(&s), ["p1", "r2", "r4"], "queued, claimable or not, by run id");
    assert_eq!(active_ids(&s), ["r1", "r3"], "oldest lease end first");

    let (mut pending, mut active) = (Vec::new(), Vec::new());
    block_on(s.pending_runs(&mut pending)).unwrap();
    block_on(s.active_runs(&mut active)).unwrap();
    assert_eq!(pending, s.pending(), "the scheduler reads the same pending rows");
    assert_eq!(active, s.active(), "and the same active rows");
}

#[test]
fn every_run_has_a_readable_status_and_an_unknown_run_none() {
    let s = service();
    let run = claim(&s, "sess-a", LEASE, t(10));
    let token = s.claim(&ClaimRequest::session("sess-b"), LEASE, t(10)).unwrap().unwrap();
    s.complete(&token.run_id, &token.token, t(11)).unwrap();
    s.mark_needs_attention("r4", "stuck", t(12)).unwrap();
    for (id, want) in [
        (run.as_str(), Some(RunStatus::Claimed)),
        (token.run_id.as_str(), Some(RunStatus::Completed)),
        ("r4", Some(RunStatus::NeedsAttention)),
        ("r2", Some(RunStatus::Queued)),
        ("nope", None),
    ] {
        assert_eq!(s.status(id), want, "{id}");
        assert_eq!(block_on(s.run_status(id)), Ok(want), "{id}, through the task source");
    }
}

#[test]
fn the_service_counts_its_runs_in_every_status() {
    let empty = MemoryTaskService::new();
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    let s = service();
    let lease = s.claim(&ClaimRequest::session("sess-a"), LEASE, t(10)).unwrap().unwrap();
    s.complete(&lease.run_id, &lease.token, t(11)).unwrap();
    s.mark_needs_attention("r4", "stuck", t(12)).unwrap();
    assert_eq!(s.len(), 5, "queued, completed and needs-attention runs all count");
    assert!(!s.is_empty());
}

#[test]
fn leases_diagnostics_and_failure_reasons_are_kept_per_run() {
    let s = service();
    let lease = s.claim(&ClaimRequest::session("sess-a"), LEASE, t(10)).unwrap().unwrap();
    assert_eq!(s.lease_of("sess-a"), Some(lease.run_id.clone()));
    assert_eq!(s.lease_of("sess-b"), None, "a session without a lease holds nothing");
    s.fail(&lease.run_id, &lease.token, "agent crashed", t(11)).unwrap();
    assert_eq!(s.lease_of("sess-a"), None, "failing frees the session");
    s.mark_needs_attention("r4", "run queued 600s without a claim after 10 escalation cycles", t(12)).unwrap();
    assert_eq!(s.failure_reason(&lease.run_id).as_deref(), Some("agent crashed"));
    assert_eq!(s.diagnostic("r4").as_deref(), Some("run queued 600s without a claim after 10 escalation cycles"));
    assert_eq!((s.failure_reason("r4"), s.diagnostic(&lease.run_id)), (None, None), "each its own");
    assert_eq!((s.failure_reason("r2"), s.diagnostic("r2")), (None, None), "a queued run has neither");
}

#[test]
fn a_recovered_lease_names_its_run_and_the_session_that_held_it() {
    let s = service();
    let run = claim(&s, "sess-a", LEASE, t(0));
    let mut out = Vec::new();
    let request = Recovery { now: t(60), reason: "scheduler_sweep", limit: 0, actor: "daemon-1" };
    block_on(s.recover_expired_leases(request, &mut out)).unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].run_id(), out[0].previous_session_id()), (run.as_str(), "sess-a"));
    assert_eq!(out[0].actor, "daemon-1", "recorded as the scheduler's actor");
    assert_eq!(s.status(&run), Some(RunStatus::Queued));
}

#[test]
fn the_pause_store_it_hands_out_is_the_one_its_claims_consult() {
    let s = service();
    s.pause_store().pause("operator", t(0), "maintenance");
    let refused = s.claim(&ClaimRequest::session("sess-a"), LEASE, t(1));
    assert_eq!(refused, Err(LeaseError::Paused));
    s.pause_store().resume();
    assert!(s.claim(&ClaimRequest::session("sess-a"), LEASE, t(2)).unwrap().is_some());
}
