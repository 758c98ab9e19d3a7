//! Wakes across daemons: outbox + NOTIFY, the listener's self-test, reconnects, polling.

mod common;

use std::time::Duration;

use common::{TestSchema, t};
use scheduler_core::Scheduler;
use scheduler_core::lease::{LeaseService, RunSpec, SessionRegistry, SessionSpec, TaskSpec};
use scheduler_core::seam::{SessionSource, TaskSource, WakeBatch, Waker};
use scheduler_postgres::{Listener, ListenerConfig, PgWaker, Store};
use scheduler_testkit::clock::FakeClock;
use scheduler_tokio::mailbox::{Mailbox, Mailboxes};

fn quick() -> ListenerConfig {
    ListenerConfig { poll_every: Duration::from_millis(300), ..ListenerConfig::default() }
}

async fn recv(inbox: &mut Mailbox) -> scheduler_tokio::mailbox::Wake {
    tokio::time::timeout(Duration::from_secs(10), inbox.recv()).await.expect("a wake within 10 s").expect("open")
}

/// Terminates every backend of `store`'s daemon whose application name ends with
/// `suffix` ("" for all of them).
async fn kill_connections(store: &Store, like: &str) -> i64 {
    let (client, connection) = tokio_postgres::connect(&common::url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let pattern = format!("{}{like}", store.config().application_name(""));
    let row = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE $1",
            &[&pattern],
        )
        .await
        .unwrap();
    row.get(0)
}

#[tokio::test]
async fn the_leaders_cycle_wakes_a_session_on_another_daemon() {
    let schema = TestSchema::new();
    let (leader, host) = (schema.store("leader").await, schema.store("host").await);
    let mailboxes = Mailboxes::new(8);
    let mut inbox = mailboxes.register("sess-1");
    let listener = Listener::start(&host, mailboxes, quick()).await.unwrap();
    host.sessions().register(&SessionSpec::active("sess-1").caps(["rust"]), t(0)).await.unwrap();
    let long_run = format!("run-{}", "x".repeat(1000));
    host.tasks().enqueue(&TaskSpec::new("task-1"), &RunSpec::new(&long_run).caps(["rust"]), t(1)).await.unwrap();
    let mut scheduler = Scheduler::builder(leader.tasks(), leader.sessions(), PgWaker::new(&leader))
        .clock(FakeClock::new(t(2)))
        .build()
        .unwrap();
    let report = scheduler.run_once().await;
    assert!(report.is_ok(), "{:?}", report.errors());
    assert_eq!(report.counts().wake_succeeded, 1);
    let wake = recv(&mut inbox).await;
    assert_eq!(
        (wake.run_id.as_str(), wake.task_id.as_str(), wake.session_id.as_str()),
        (long_run.as_str(), "task-1", "sess-1")
    );
    assert_eq!(wake.reason, "pending_task_run");
    assert_eq!(listener.stats().delivered(), 1);
    listener.stop().await;
}

#[tokio::test]
async fn wakes_sent_while_the_listener_is_cut_off_arrive_after_it_reconnects() {
    let schema = TestSchema::new();
    let (leader, host) = (schema.store("leader").await, schema.store("host").await);
    let mailboxes = Mailboxes::new(64);
    let mut inbox = mailboxes.register("sess-1");
    let listener = Listener::start(&host, mailboxes, quick()).await.unwrap();
    host.sessions().register(&SessionSpec::active("sess-1"), t(0)).await.unwrap();
    host.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0)).await.unwrap();
    assert!(kill_connections(&host, " listener").await >= 1, "the listening connection was found");
    // Sent at once, before the listener can have re-listened.
    let (mut runs, mut sessions) = (Vec::new(), Vec::new());
    leader.tasks().pending_runs(&mut runs).await.unwrap();
    leader.sessions().sessions(&mut sessions).await.unwrap();
    let pairs: Vec<(u32, u32)> = (0..5).map(|_| (0, 0)).collect();
    let mut out = Vec::new();
    PgWaker::new(&leader).wake_batch(WakeBatch::new(&runs, &sessions, &pairs, "late"), &mut out).await;
    assert!(out.iter().all(Result::is_ok), "{out:?}");
    for _ in 0..5 {
        assert_eq!(recv(&mut inbox).await.reason, "late");
    }
    for _ in 0..100 {
        if listener.stats().reconnects() >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(listener.stats().reconnects() >= 1, "the listener re-listened");
}

#[tokio::test]
async fn a_wake_without_a_notification_is_found_by_polling() {
    let schema = TestSchema::new();
    let host = schema.store("host").await;
    let mailboxes = Mailboxes::new(8);
    let mut inbox = mailboxes.register("sess-1");
    let _listener = Listener::start(&host, mailboxes, quick()).await.unwrap();
    // A row written without NOTIFY (as if the notification were lost).
    let (client, connection) = tokio_postgres::connect(&common::url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let sql = format!(
        "INSERT INTO {}.wakes (daemon_id, run_id, task_id, session_id, reason) VALUES ('host', 'r', 't', 'sess-1', 'polled')",
        schema.name
    );
    client.batch_execute(&sql).await.unwrap();
    assert_eq!(recv(&mut inbox).await.reason, "polled");
}

#[tokio::test]
async fn wakes_for_sessions_without_a_mailbox_are_counted_not_lost_silently() {
    let schema = TestSchema::new();
    let host = schema.store("host").await;
    let listener = Listener::start(&host, Mailboxes::new(8), quick()).await.unwrap();
    host.sessions().register(&SessionSpec::active("gone"), t(0)).await.unwrap();
    host.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0)).await.unwrap();
    let mut scheduler = Scheduler::builder(host.tasks(), host.sessions(), PgWaker::new(&host))
        .clock(FakeClock::new(t(1)))
        .build()
        .unwrap();
    assert!(scheduler.run_once().await.is_ok());
    for _ in 0..200 {
        if listener.stats().undeliverable() == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the undeliverable wake was not counted");
}
