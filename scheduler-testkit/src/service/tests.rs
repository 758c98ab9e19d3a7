use super::*;
use scheduler_core::lease::{ErrorKind, RecoveredDetails, ServiceError};
use scheduler_core::model::Priority;

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 + secs)
}

const LEASE: Duration = Duration::from_secs(60);

fn run(run_id: &str, task_id: &str) -> RunSnapshot {
    RunSnapshot::queued(run_id, task_id)
}

#[test]
fn task_updates_reach_every_run_of_the_task() {
    let s = MemoryTaskService::new();
    s.enqueue_snapshot(&run("r1", "t1"), t(0)).unwrap();
    s.enqueue_snapshot(&run("r2", "t1").priority(Priority::High), t(1)).unwrap();
    assert_eq!(s.snapshot("r1").unwrap().priority, Priority::High, "a re-described task is replaced");
    s.edit_task("t1", |task| task.paused = true).unwrap();
    assert!(s.pending().iter().all(|r| r.task_paused));
    assert!(s.claim(&ClaimRequest::session("s"), LEASE, t(2)).unwrap().is_none());
    s.update_task(&TaskSpec::new("t1"), t(3)).unwrap();
    assert!(s.pending().iter().all(|r| !r.task_paused && r.priority == Priority::Medium));
    assert_eq!(s.edit_task("nope", |_| {}), Err(LeaseError::UnknownTask { task_id: "nope".into() }));
    assert_eq!(s.update_task(&TaskSpec::new("nope"), t(3)), Err(LeaseError::UnknownTask { task_id: "nope".into() }));
}

#[test]
fn a_duplicate_enqueue_changes_nothing_the_task_included() {
    let s = MemoryTaskService::new();
    s.enqueue_snapshot(&run("r", "t"), t(0)).unwrap();
    let dup = run("r", "t").priority(Priority::Urgent);
    assert_eq!(s.enqueue_snapshot(&dup, t(5)), Err(LeaseError::DuplicateRun { run_id: "r".into() }));
    assert_eq!(s.task("t").unwrap().priority, Priority::Medium);
    assert_eq!(s.record("r").unwrap().queued_at, Some(t(0)));
}

#[test]
fn enqueue_validates_ids() {
    let s = MemoryTaskService::new();
    assert_eq!(s.enqueue_snapshot(&run(" ", "t"), t(0)), Err(LeaseError::EmptyId { what: "run" }));
    assert_eq!(s.enqueue_snapshot(&run("r", ""), t(0)), Err(LeaseError::EmptyId { what: "task" }));
    s.enqueue_snapshot(&run(" r ", "t"), t(0)).unwrap();
    assert_eq!(s.status("r"), Some(RunStatus::Queued));
    assert_eq!(s.enqueue_snapshot(&run("r", "t"), t(0)), Err(LeaseError::DuplicateRun { run_id: "r".into() }));
    assert_eq!(s.claim(&ClaimRequest::session(" "), LEASE, t(0)), Err(LeaseError::EmptyId { what: "session" }));
    assert_eq!(LeaseError::EmptyId { what: "run" }.kind(), ErrorKind::InvalidInput);
}

#[test]
fn fenced_operations_follow_the_lease() {
    let s = MemoryTaskService::new();
    s.enqueue_snapshot(&run("r", "t"), t(0)).unwrap();
    let c = s.claim(&ClaimRequest::session("s"), LEASE, t(0)).unwrap().unwrap();
    assert_eq!(s.lease_of("s").as_deref(), Some("r"));
    assert_eq!(s.heartbeat("r", &c.token, LEASE, t(30)).unwrap(), t(90));
    assert_eq!(s.active()[0].status, RunStatus::Claimed);
    s.start("r", &c.token, t(31)).unwrap();
    assert_eq!(s.active()[0].status, RunStatus::Running);
    assert!(matches!(s.start("r", &c.token, t(31)), Err(LeaseError::InvalidTransition { .. })));
    s.fail("r", &c.token, "boom", t(32)).unwrap();
    assert_eq!(s.failure_reason("r").as_deref(), Some("boom"));
    assert_eq!(
        s.record("r").unwrap(),
        RunRecord { status: RunStatus::Failed, session_id: None, lease_until: None, queued_at: Some(t(0)) }
    );
    assert!(s.active().is_empty() && s.lease_of("s").is_none());
    let err = s.complete("r", &c.token, t(33)).unwrap_err();
    assert_eq!(err, LeaseError::StaleToken { run_id: "r".into(), status: RunStatus::Failed });
    assert_eq!(err.kind(), ErrorKind::TokenRejected);
    assert!(!err.to_string().contains(c.token.expose_secret()));
}

#[test]
fn claims_fail_closed_on_an_unreadable_pause_flag() {
    let pause = MemoryPauseStore::new();
    let s = MemoryTaskService::with_pause(pause.clone());
    s.enqueue_snapshot(&run("r", "t"), t(0)).unwrap();
    pause.faults().fail_next("is_paused");
    assert!(matches!(s.claim(&ClaimRequest::session("s"), LEASE, t(0)), Err(LeaseError::PauseUnreadable(_))));
    assert_eq!(s.status("r"), Some(RunStatus::Queued));
    assert!(s.claim(&ClaimRequest::session("s"), LEASE, t(0)).unwrap().is_some());
}

#[test]
fn recovery_reports_and_requeues() {
    let s = MemoryTaskService::new();
    s.enqueue_snapshot(&run("r", "t"), t(0)).unwrap();
    let c = s.claim(&ClaimRequest::session("s"), LEASE, t(0)).unwrap().unwrap();
    assert!(s.recover_expired(t(59), "sweep", 0).is_empty());
    let rec = s.recover_expired(t(60), "sweep", 0);
    assert_eq!(rec.len(), 1);
    assert_eq!(
        (rec[0].previous_status, rec[0].previous_session_id.as_str(), rec[0].previous_lease_until),
        (RunStatus::Claimed, "s", t(60))
    );
    assert_eq!((rec[0].status(), rec[0].actor()), (RunStatus::Queued, "scheduler"));
    assert_eq!((rec[0].run.run_status, rec[0].run.queued_at), (RunStatus::Queued, Some(t(0))));
    assert!(matches!(s.release("r", &c.token, t(61)), Err(LeaseError::StaleToken { .. })));
    assert!(s.recover_expired(t(60), "sweep", 0).is_empty());
}

#[test]
fn overflowing_leases_are_refused() {
    let s = MemoryTaskService::new();
    s.enqueue_snapshot(&run("r", "t"), t(0)).unwrap();
    let err = s.claim(&ClaimRequest::session("s"), Duration::MAX, t(0)).unwrap_err();
    assert_eq!(err, LeaseError::LeaseOverflow { lease: Duration::MAX });
    assert_eq!(s.status("r"), Some(RunStatus::Queued));
}

#[test]
fn injected_faults_surface_as_errors() {
    let s = MemoryTaskService::new();
    s.faults().fail_next("enqueue");
    let err = s.enqueue_snapshot(&run("r", "t"), t(0)).unwrap_err();
    assert!(matches!(err, LeaseError::Injected(_)));
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(s.is_empty());
}
