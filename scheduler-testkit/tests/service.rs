//! The in-memory task service and session registry under a real scheduler, beyond what
//! the conformance suite checks: a full wake / claim / run / complete loop, the shared
//! pause, faults, secrecy of tokens, and registry updates.

use std::time::Duration;

use scheduler_core::clock::Clock;
use scheduler_core::model::{Priority, RunStatus, SessionState};
use scheduler_core::seam::TaskSource;
use scheduler_core::{Outcome, Scheduler};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::registry::MemorySessions;
use scheduler_testkit::service::{ClaimRequest, LeaseError, MemoryTaskService};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::MemoryPauseStore;
use scheduler_testkit::waker::RecordingWaker;

const LEASE: Duration = Duration::from_secs(60);
const STEP: Duration = Duration::from_secs(61);

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(r, s)| ((*r).to_owned(), (*s).to_owned())).collect()
}

#[test]
fn a_scheduler_drives_work_through_the_service_from_wake_to_completion() {
    let clock = FakeClock::at_unix(1_767_225_600);
    let service = MemoryTaskService::new();
    let sessions = MemorySessions::new();
    let waker = RecordingWaker::batch();
    service
        .enqueue_snapshot(
            &RunSnapshot::queued("run-rust", "task-1").caps(["rust"]).priority(Priority::High),
            clock.now(),
        )
        .unwrap();
    service.enqueue_snapshot(&RunSnapshot::queued("run-go", "task-2").caps(["go"]), clock.now()).unwrap();
    let rusty = SessionSnapshot::active("sess-rust").caps(["rust"]);
    let gopher = SessionSnapshot::active("sess-go").caps(["go"]).created_at(std::time::SystemTime::UNIX_EPOCH + STEP);
    sessions.register(rusty.clone()).unwrap();
    sessions.register(gopher.clone()).unwrap();

    let mut scheduler = Scheduler::builder(service.clone(), sessions.clone(), waker.clone())
        .clock(clock.clone())
        .starvation_age(Duration::ZERO)
        .build()
        .unwrap();

    // Cycle 1: each session is woken for the run it can take; nothing is claimed.
    let report = futures::executor::block_on(scheduler.run_once());
    assert!(report.is_ok());
    assert_eq!(waker.attempted_pairs(), pairs(&[("run-rust", "sess-rust"), ("run-go", "sess-go")]));
    assert_eq!(service.status("run-rust"), Some(RunStatus::Queued));

    // The woken sessions claim and start.
    let rust_claim = service.claim(&ClaimRequest::from_session(&rusty), LEASE, clock.now()).unwrap().unwrap();
    let go_claim = service.claim(&ClaimRequest::from_session(&gopher), LEASE, clock.now()).unwrap().unwrap();
    assert_eq!((rust_claim.run_id.as_str(), go_claim.run_id.as_str()), ("run-rust", "run-go"));
    service.start("run-rust", &rust_claim.token, clock.now()).unwrap();

    // Cycle 2: both sessions are busy, nothing is pending; the heartbeat keeps the lease.
    clock.advance(Duration::from_secs(30));
    service.heartbeat("run-rust", &rust_claim.token, LEASE, clock.now()).unwrap();
    waker.clear();
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!((report.counts().pending_runs, report.counts().active_runs), (0, 2));
    assert_eq!(waker.attempted_pairs(), vec![]);

    // Cycle 3: the go session went silent and its lease expired; the rust run finished.
    clock.advance(Duration::from_secs(40));
    service.complete("run-rust", &rust_claim.token, clock.now()).unwrap();
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!(report.recovered_run_ids().collect::<Vec<_>>(), ["run-go"]);
    assert_eq!(report.recovered()[0].actor, "scheduler");
    assert_eq!(report.recovered()[0].reason, "scheduler_sweep");
    assert_eq!(waker.attempted_pairs(), pairs(&[("run-go", "sess-go")]));
    assert_eq!(service.status("run-rust"), Some(RunStatus::Completed));
    assert_eq!(scheduler.stats().recovered_leases, 1);
}

#[test]
fn one_pause_store_pauses_the_scheduler_and_refuses_claims_while_sweeps_go_on() {
    let clock = FakeClock::at_unix(1_767_225_600);
    let pause = MemoryPauseStore::new();
    let service = MemoryTaskService::with_pause(pause.clone());
    let sessions = MemorySessions::new();
    let waker = RecordingWaker::batch();
    service.enqueue_snapshot(&RunSnapshot::queued("run-1", "task-1"), clock.now()).unwrap();
    service.enqueue_snapshot(&RunSnapshot::queued("run-2", "task-2").priority(Priority::High), clock.now()).unwrap();
    let held = service.claim(&ClaimRequest::session("sess-old"), LEASE, clock.now()).unwrap().unwrap();
    assert_eq!(held.run_id, "run-2");
    sessions.register(SessionSnapshot::active("sess-1")).unwrap();
    let mut scheduler = Scheduler::builder(service.clone(), sessions, waker.clone())
        .clock(clock.clone())
        .pause_store(pause.clone())
        .starvation_age(Duration::ZERO)
        .build()
        .unwrap();

    pause.pause("operator", clock.now(), "maintenance");
    clock.advance(STEP);
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!(report.outcome(), Outcome::Paused);
    assert_eq!(report.recovered_run_ids().collect::<Vec<_>>(), ["run-2"], "the sweep runs while paused");
    assert_eq!(waker.attempted_pairs(), vec![]);
    assert_eq!(service.claim(&ClaimRequest::session("sess-1"), LEASE, clock.now()), Err(LeaseError::Paused));

    pause.resume();
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!(report.outcome(), Outcome::Completed);
    assert_eq!(waker.attempted_pairs(), pairs(&[("run-2", "sess-1")]));
    assert!(service.claim(&ClaimRequest::session("sess-1"), LEASE, clock.now()).unwrap().is_some());
}

#[test]
fn tokens_never_show_in_debug_output_or_errors() {
    let service = MemoryTaskService::new();
    let now = std::time::SystemTime::UNIX_EPOCH;
    service.enqueue_snapshot(&RunSnapshot::queued("run-1", "task-1"), now).unwrap();
    let claim = service.claim(&ClaimRequest::session("sess-1"), LEASE, now).unwrap().unwrap();
    let secret = claim.token.expose_secret().to_owned();
    assert!(!format!("{service:?}").contains(&secret));
    assert!(!format!("{claim:?}").contains(&secret));
    assert!(format!("{claim:?}").contains("<redacted>"));
    let forged = scheduler_testkit::service::ClaimToken::new("ct_forged_token");
    let err = service.complete("run-1", &forged, now).unwrap_err();
    assert_eq!(err, LeaseError::WrongToken { run_id: "run-1".into() });
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(&secret) && !text.contains("ct_forged_token"), "{text}");
    }
}

#[test]
fn registry_updates_change_who_is_woken() {
    let clock = FakeClock::at_unix(1_767_225_600);
    let service = MemoryTaskService::new();
    let sessions = MemorySessions::new();
    let waker = RecordingWaker::batch();
    service.enqueue_snapshot(&RunSnapshot::queued("run-1", "task-1").caps(["rust"]), clock.now()).unwrap();
    sessions.register(SessionSnapshot::active("sess-1")).unwrap();
    let mut scheduler = Scheduler::builder(service, sessions.clone(), waker.clone())
        .clock(clock.clone())
        .wake_cooldown(Duration::ZERO)
        .starvation_age(Duration::ZERO)
        .build()
        .unwrap();
    let mut cycle = |expect: &[(&str, &str)]| {
        waker.clear();
        let report = futures::executor::block_on(scheduler.run_once());
        assert!(report.is_ok());
        assert_eq!(waker.attempted_pairs(), pairs(expect));
    };
    cycle(&[]);
    sessions.set_capabilities("sess-1", ["rust"]).unwrap();
    cycle(&[("run-1", "sess-1")]);
    sessions.set_prompting("sess-1", true).unwrap();
    cycle(&[]);
    sessions.set_prompting("sess-1", false).unwrap();
    sessions.set_state("sess-1", SessionState::Inactive).unwrap();
    cycle(&[]);
    sessions.set_state("sess-1", SessionState::Active).unwrap();
    cycle(&[("run-1", "sess-1")]);
    sessions.remove("sess-1").unwrap();
    cycle(&[]);
}

#[test]
fn faults_in_the_service_and_registry_fail_the_cycle() {
    let service = MemoryTaskService::new();
    let sessions = MemorySessions::new();
    let mut scheduler = Scheduler::builder(service.clone(), sessions.clone(), RecordingWaker::batch()).build().unwrap();
    service.faults().fail_next("pending_runs");
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!(report.outcome(), Outcome::SnapshotFailed);
    sessions.faults().fail_next("sessions");
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!(report.outcome(), Outcome::SnapshotFailed);
    service.faults().fail_next("recover_expired_leases");
    let report = futures::executor::block_on(scheduler.run_once());
    assert_eq!((report.outcome(), report.errors().len()), (Outcome::Completed, 1));
    assert_eq!(scheduler.stats().recovery_errors, 1);
}

#[test]
fn claims_race_on_many_threads_with_one_winner_per_run() {
    let service = MemoryTaskService::new();
    let now = std::time::SystemTime::UNIX_EPOCH;
    for rep in 0..50 {
        service
            .enqueue_snapshot(&RunSnapshot::queued(format!("run-{rep}"), "task").caps([format!("c{rep}")]), now)
            .unwrap();
        let barrier = std::sync::Barrier::new(6);
        let winners: Vec<String> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..6)
                .map(|k| {
                    let (service, barrier) = (&service, &barrier);
                    s.spawn(move || {
                        let criteria = ClaimRequest::session(format!("s-{rep}-{k}")).caps([format!("c{rep}")]);
                        barrier.wait();
                        service.claim(&criteria, LEASE, now).unwrap().map(|c| c.session_id)
                    })
                })
                .collect();
            threads.into_iter().filter_map(|t| t.join().unwrap()).collect()
        });
        assert_eq!(winners.len(), 1, "repetition {rep}: {winners:?}");
        assert_eq!(service.record(&format!("run-{rep}")).unwrap().session_id.as_ref(), Some(&winners[0]));
    }
    assert_eq!(service.active().len(), 50);
    let mut out = Vec::new();
    futures::executor::block_on(service.active_runs(&mut out)).unwrap();
    assert_eq!(out.len(), 50);
}
