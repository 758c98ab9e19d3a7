//! Behaviour step 5: dispatch through a batch or a one-by-one waker.

mod common;

use std::sync::{Arc, Mutex};

use common::{Expected, Rig, at, block_on, cycle, debug_all, fake, ids, pairs, secs};
use scheduler_core::Scheduler;
use scheduler_core::model::Priority;
use scheduler_core::seam::{WakeTarget, Waker};
use scheduler_core::view::{RunView, SessionView};
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};

/// Three runs (urgent r1, high r2, low r3) and three sessions s1..s3 in that order.
fn three_by_three(rig: &Rig) {
    rig.tasks.set_pending([
        RunSnapshot::queued("r3", "t").priority(Priority::Low),
        RunSnapshot::queued("r1", "t").priority(Priority::Urgent),
        RunSnapshot::queued("r2", "t").priority(Priority::High),
    ]);
    rig.sessions.set((1..=3).map(|i| SessionSnapshot::active(format!("s{i}")).created_at(at(secs(i)))));
}

const ORDER: [(&str, &str); 3] = [("r1", "s1"), ("r2", "s2"), ("r3", "s3")];

#[test]
fn batch_waker_gets_every_target_in_one_call() {
    let rig = Rig::batch();
    three_by_three(&rig);
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(rig.waker.batches(), [3]);
    assert_eq!(rig.waker.attempted_pairs(), pairs(&ORDER));
    assert_eq!(c.result.counts.wake_attempts, 3);
    assert_eq!(c.result.counts.wake_succeeded, 3);
    assert_eq!(c.result.selected_run_ids, ["r1", "r2", "r3"]);
}

#[test]
fn batch_with_too_few_results_fails_every_target() {
    let rig = Rig::batch();
    three_by_three(&rig);
    rig.waker.batch_result_len(1);
    let mut s = rig.build();
    let c = cycle(&mut s);
    let want: Vec<Expected> = ORDER
        .iter()
        .map(|(r, s)| Expected::WakeBatchLength {
            run_id: (*r).to_owned(),
            session_id: (*s).to_owned(),
            expected: 3,
            actual: 1,
        })
        .collect();
    assert_eq!(c.errors, debug_all(&want));
    assert_eq!(c.result.counts.wake_attempts, 3);
    assert_eq!(c.result.counts.wake_succeeded, 0);
    assert_eq!(c.result.counts.wake_failed, 3);
    assert!(c.result.selected_run_ids.is_empty());
    assert_eq!(s.cooldown().len(), 0, "no wake succeeded, so no cooldown key");
    let stats = s.stats();
    assert_eq!((stats.wake_attempts, stats.wake_succeeded, stats.wake_failed), (3, 0, 3));
    let last = stats.last_wake_error.expect("last wake error set");
    assert!(last.contains("3 targets") && last.contains("1 results"), "{last}");
}

#[test]
fn batch_with_too_many_results_fails_every_target() {
    let rig = Rig::batch();
    three_by_three(&rig);
    rig.waker.batch_result_len(4);
    let mut s = rig.build();
    let report = block_on(s.run_once());
    assert_eq!(report.errors().len(), 3);
    for (e, (r, sess)) in report.errors().iter().zip(ORDER) {
        match e {
            scheduler_core::Error::WakeBatchLength { run_id, session_id, expected: 3, actual: 4 } => {
                assert_eq!((run_id.as_str(), session_id.as_str()), (r, sess));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(e.run_id(), Some(r));
        assert_eq!(e.session_id(), Some(sess));
    }
    assert_eq!(report.counts().wake_failed, 3);
    assert_eq!(report.selected_run_ids().len(), 0);
}

#[test]
fn single_waker_wakes_one_by_one_in_selection_order() {
    let rig = Rig::new();
    three_by_three(&rig);
    let mut s = rig.build();
    cycle(&mut s);
    assert!(rig.waker.batches().is_empty(), "no batch call for a single waker");
    assert_eq!(rig.waker.attempted_pairs(), pairs(&ORDER));
}

/// A waker implementing only `wake`, so the core's default `wake_batch` drives it.
#[derive(Clone, Default)]
struct OnlyWake {
    log: Arc<Mutex<Vec<(String, String, String)>>>,
    refuse: Option<&'static str>,
}

impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for OnlyWake {
    type Error = FakeError;
    async fn wake(&self, t: WakeTarget<'_, R, S>) -> Result<(), FakeError> {
        let session = t.session.session_id().trim().to_owned();
        let refused = self.refuse == Some(session.as_str());
        self.log.lock().unwrap().push((t.run.run_id().trim().to_owned(), session, t.reason.to_owned()));
        if refused { Err(fake("only_wake", 1)) } else { Ok(()) }
    }
}

#[test]
fn default_dispatch_wakes_one_by_one_and_keeps_going_after_a_failure() {
    let rig = Rig::new();
    three_by_three(&rig);
    let waker = OnlyWake { refuse: Some("s2"), ..OnlyWake::default() };
    let mut s = Scheduler::builder(rig.tasks.clone(), rig.sessions.clone(), waker.clone())
        .clock(rig.clock.clone())
        .wake_reason("nudge")
        .build()
        .unwrap();
    let report = block_on(s.run_once());
    let log = waker.log.lock().unwrap().clone();
    let want: Vec<_> = ORDER.iter().map(|(r, s)| ((*r).to_owned(), (*s).to_owned(), "nudge".to_owned())).collect();
    assert_eq!(log, want);
    assert_eq!(
        debug_all(report.errors()),
        debug_all(&[Expected::Wake { run_id: "r2".into(), session_id: "s2".into(), source: fake("only_wake", 1) }])
    );
    assert_eq!(report.selected_run_ids().collect::<Vec<_>>(), ["r1", "r3"]);
}

#[test]
fn failing_wake_is_reported_and_the_others_are_still_woken() {
    for rig in [Rig::new(), Rig::batch()] {
        three_by_three(&rig);
        rig.waker.fail_session("s2");
        let mut s = rig.build();
        let c = cycle(&mut s);
        assert_eq!(rig.waker.attempted_pairs(), pairs(&ORDER), "every target attempted");
        assert_eq!(
            c.errors,
            debug_all(&[Expected::Wake { run_id: "r2".into(), session_id: "s2".into(), source: fake("wake", 2) }])
        );
        assert_eq!(c.result.counts.wake_attempts, 3);
        assert_eq!(c.result.counts.wake_succeeded, 2);
        assert_eq!(c.result.counts.wake_failed, 1);
        assert_eq!(c.result.selected_run_ids, ids(&["r1", "r3"]));
        assert_eq!(s.cooldown().len(), 2);
        let stats = s.stats();
        assert_eq!((stats.wake_attempts, stats.wake_succeeded, stats.wake_failed), (3, 2, 1));
        let last = stats.last_wake_error.expect("last wake error set");
        assert!(last.contains("injected failure in wake (call 2)"), "{last}");
    }
}

#[test]
fn last_wake_error_is_the_latest_one() {
    let rig = Rig::new();
    three_by_three(&rig);
    rig.waker.fail_session("s1");
    rig.waker.fail_session("s3");
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.errors.len(), 2);
    let last = s.stats().last_wake_error.unwrap();
    assert!(last.contains("call 3"), "{last}");
    // A later clean cycle does not erase it.
    rig.clock.advance(secs(3600));
    rig.sessions.set([SessionSnapshot::active("s-fresh")]);
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.wake_succeeded, 1);
    assert!(c.errors.is_empty());
    assert!(s.stats().last_wake_error.unwrap().contains("call 3"));
}

#[test]
fn whole_batch_failure_fails_every_target() {
    let rig = Rig::batch();
    three_by_three(&rig);
    rig.waker.faults().fail_next("wake_batch");
    let mut s = rig.build();
    let c = cycle(&mut s);
    let want: Vec<Expected> = ORDER
        .iter()
        .map(|(r, s)| Expected::Wake { run_id: (*r).into(), session_id: (*s).into(), source: fake("wake_batch", 1) })
        .collect();
    assert_eq!(c.errors, debug_all(&want));
    assert_eq!((c.result.counts.wake_succeeded, c.result.counts.wake_failed), (0, 3));
    assert!(c.result.selected_run_ids.is_empty());
}

#[test]
fn no_targets_means_the_waker_is_not_called() {
    for rig in [Rig::new(), Rig::batch()] {
        // One unclaimable run and one with no eligible session.
        rig.tasks.set_pending([RunSnapshot::queued("r1", "t").paused(), RunSnapshot::queued("r2", "t").caps(["gpu"])]);
        rig.sessions.set([SessionSnapshot::active("s1")]);
        let mut s = rig.build();
        let c = cycle(&mut s);
        assert!(rig.waker.attempts().is_empty());
        assert!(rig.waker.batches().is_empty());
        assert_eq!(rig.waker.faults().calls("wake_batch"), 0);
        assert_eq!(c.result.counts.wake_attempts, 0);
    }
}

#[test]
fn default_wake_reason_is_carried() {
    let rig = Rig::batch();
    three_by_three(&rig);
    let mut s = rig.build();
    cycle(&mut s);
    assert!(rig.waker.attempts().iter().all(|w| w.reason == "pending_task_run"), "{:?}", rig.waker.attempts());
}

#[test]
fn custom_wake_reason_is_carried() {
    for rig in [Rig::new(), Rig::batch()] {
        three_by_three(&rig);
        let mut s = rig.builder().wake_reason("backlog_nudge").build().unwrap();
        cycle(&mut s);
        let wakes = rig.waker.attempts();
        assert_eq!(wakes.len(), 3);
        assert!(wakes.iter().all(|w| w.reason == "backlog_nudge"), "{wakes:?}");
    }
}

#[test]
fn wake_attempts_equal_targets_over_fan_out_and_failures() {
    let rig = Rig::batch();
    rig.tasks.set_pending([
        RunSnapshot::queued("r-starved", "t").queued_at(rig.ago(secs(600))),
        RunSnapshot::queued("r-late", "t").caps(["gpu"]),
    ]);
    rig.sessions.set((1..=4).map(|i| SessionSnapshot::active(format!("s{i}"))));
    rig.waker.fail_session("s4");
    let mut s = rig.build();
    let c = cycle(&mut s);
    assert_eq!(c.result.counts.wake_attempts, 4);
    assert_eq!(c.result.counts.wake_succeeded, 3);
    assert_eq!(c.result.counts.wake_failed, 1);
    assert_eq!(c.result.selected_run_ids, ["r-starved", "r-starved", "r-starved"]);
    assert_eq!(c.result.no_match_run_ids, ["r-late"]);
}
