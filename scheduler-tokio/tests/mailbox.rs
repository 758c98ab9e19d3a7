//! In-process wake delivery: every outcome of a delivery, and the scheduler waking
//! sessions through their mailboxes.

use std::time::Duration;

use scheduler_core::Scheduler;
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
use scheduler_tokio::mailbox::{DeliveryError, MailboxWaker, Mailboxes, Wake};

fn wake(run: &str, session: &str) -> Wake {
    Wake::new(run, "task", session, "pending_task_run")
}

#[tokio::test]
async fn a_registered_session_receives_its_wakes_in_order() {
    let boxes = Mailboxes::new(4);
    let mut inbox = boxes.register(" sess-1 ");
    assert_eq!(inbox.session_id(), "sess-1");
    boxes.deliver(wake("r1", "sess-1")).unwrap();
    boxes.deliver(wake(" r2 ", " sess-1")).unwrap();
    assert_eq!(inbox.recv().await.unwrap().run_id, "r1");
    assert_eq!(inbox.recv().await.unwrap().run_id, "r2");
    assert!(inbox.try_recv().is_none());
}

#[tokio::test]
async fn a_missing_mailbox_is_a_clear_error() {
    let boxes = Mailboxes::new(4);
    let _other = boxes.register("sess-2");
    let err = boxes.deliver(wake("r1", "sess-1")).unwrap_err();
    assert_eq!(err, DeliveryError::NoMailbox { session_id: "sess-1".into(), run_id: "r1".into() });
    assert!(err.to_string().contains("sess-1") && err.to_string().contains("r1"), "{err}");
}

#[tokio::test]
async fn a_full_mailbox_refuses_without_blocking_and_keeps_what_it_holds() {
    let boxes = Mailboxes::new(2);
    let mut inbox = boxes.register("s");
    boxes.deliver(wake("r1", "s")).unwrap();
    boxes.deliver(wake("r2", "s")).unwrap();
    let err = boxes.deliver(wake("r3", "s")).unwrap_err();
    assert_eq!(err, DeliveryError::Full { session_id: "s".into(), run_id: "r3".into(), capacity: 2 });
    assert_eq!(inbox.recv().await.unwrap().run_id, "r1");
    boxes.deliver(wake("r4", "s")).unwrap();
    assert_eq!(inbox.recv().await.unwrap().run_id, "r2");
    assert_eq!(inbox.recv().await.unwrap().run_id, "r4");
}

#[tokio::test]
async fn a_dropped_mailbox_is_closed_and_its_registration_removed() {
    let boxes = Mailboxes::new(2);
    drop(boxes.register("s"));
    assert!(boxes.contains("s"));
    let err = boxes.deliver(wake("r1", "s")).unwrap_err();
    assert_eq!(err, DeliveryError::Closed { session_id: "s".into(), run_id: "r1".into() });
    assert!(!boxes.contains("s"));
    assert!(matches!(boxes.deliver(wake("r1", "s")), Err(DeliveryError::NoMailbox { .. })));
}

#[tokio::test]
async fn registering_again_replaces_the_old_mailbox() {
    let boxes = Mailboxes::new(2);
    let mut old = boxes.register("s");
    let mut new = boxes.register("s");
    assert_eq!(boxes.len(), 1);
    boxes.deliver(wake("r1", "s")).unwrap();
    assert_eq!(new.recv().await.unwrap().run_id, "r1");
    assert!(old.recv().await.is_none(), "the replaced mailbox ends");
    assert!(boxes.unregister("s"));
    assert!(new.recv().await.is_none());
    assert!(boxes.is_empty());
}

#[tokio::test]
async fn the_scheduler_wakes_sessions_through_their_mailboxes() {
    let tasks = ScriptedTasks::new();
    let sessions = ScriptedSessions::new();
    tasks.push_pending(RunSnapshot::queued("run-1", "task-1").caps(["rust"]));
    tasks.push_pending(RunSnapshot::queued("run-2", "task-2").caps(["rust"]));
    sessions.push(SessionSnapshot::active("sess-1").caps(["rust"]));
    sessions.push(SessionSnapshot::active("sess-gone").caps(["rust"]));
    let boxes = Mailboxes::new(8);
    let mut inbox = boxes.register("sess-1");
    let mut scheduler = Scheduler::builder(tasks, sessions, MailboxWaker::new(boxes.clone()))
        .clock(FakeClock::at_unix(1_700_000_000))
        .wake_cooldown(Duration::from_secs(60))
        .build()
        .unwrap();

    let report = scheduler.run_once().await;
    assert_eq!(report.counts().wake_succeeded, 1);
    assert_eq!(report.counts().wake_failed, 1, "the session with no mailbox is a failed wake");
    let failure = report.errors().first().expect("the failed wake is reported");
    let cause = std::error::Error::source(failure).expect("the delivery error is kept").to_string();
    assert!(failure.to_string().contains("sess-gone") && cause.contains("no mailbox"), "{failure}: {cause}");
    let got = inbox.try_recv().expect("delivered in process");
    assert_eq!(got, Wake::new("run-1", "task-1", "sess-1", "pending_task_run"));
}
