//! Bad input and faults: unreachable server, unknown role, missing schema or database,
//! a newer schema, connections killed mid-cycle; and durability across a reopen.

mod common;

use std::time::Duration;

use common::{TestSchema, t, url};
use scheduler_core::Scheduler;
use scheduler_core::ladder::Budget;
use scheduler_core::lease::{
    ClaimRequest, ErrorKind, LeaseService, PauseControl, RunSpec, ServiceError, SessionRegistry, SessionSpec, TaskSpec,
};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, StarvationStore, TaskSource};
use scheduler_postgres::{Config, Error, PgWaker, Store};
use scheduler_testkit::clock::FakeClock;

const LEASE: Duration = Duration::from_secs(60);

async fn connect_err(config: Config) -> Error {
    Store::connect(config).await.expect_err("connecting should fail")
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_unavailable_error() {
    let config = Config::new("postgres://postgres@127.0.0.1:1/test").unwrap().connect_timeout(Duration::from_secs(2));
    let err = connect_err(config).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let text = err.to_string();
    println!("{text}");
    assert!(text.contains("127.0.0.1:1") && text.contains("migrating the schema"), "{text}");
}

#[tokio::test]
async fn wrong_credentials_and_a_missing_database_are_clear() {
    let base = url();
    let user = base.replacen("postgres://postgres@", "postgres://no_such_role@", 1);
    let err = connect_err(Config::new(&user).unwrap()).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    println!("{err}");
    assert!(err.to_string().contains("no_such_role"), "names the user: {err}");
    let db = format!("{}/no_such_database", base.rsplit_once('/').unwrap().0);
    let err = connect_err(Config::new(&db).unwrap()).await;
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.to_string().contains("no_such_database"), "{err}");
    let err = Config::new("postgres://[not a url").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(Config::new(&base).unwrap().schema("Bad-Name").is_err());
    assert!(Config::new(&base).unwrap().daemon_id(" ").is_err());
}

#[tokio::test]
async fn a_missing_schema_is_refused_when_creating_is_off_and_a_newer_one_always() {
    let schema = TestSchema::new();
    let err = connect_err(schema.config("d1").create_schema(false)).await;
    assert!(matches!(&err, Error::MissingSchema { schema: s } if *s == schema.name), "{err}");
    assert!(err.to_string().contains(&schema.name));
    let store = schema.store("d1").await;
    Store::connect(schema.config("d2").create_schema(false)).await.expect("now it exists");
    let client = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(client.1);
    client
        .0
        .batch_execute(&format!("INSERT INTO {}.schema_version (version) VALUES (999)", schema.name))
        .await
        .unwrap();
    let err = connect_err(schema.config("d3")).await;
    assert!(matches!(err, Error::SchemaTooNew { found: 999, .. }), "{err}");
    assert!(err.to_string().contains("upgrade"), "{err}");
    drop(store);
}

#[tokio::test]
async fn everything_survives_a_reopen() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    store.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r1"), t(0)).await.unwrap();
    store.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r2"), t(1)).await.unwrap();
    let lease = store.tasks().claim(&ClaimRequest::session("s1"), LEASE, t(2)).await.unwrap().unwrap();
    store.sessions().register(&SessionSpec::active("s1"), t(2)).await.unwrap();
    store.pause().pause("ops", t(3), "why").await.unwrap();
    store.budgets().upsert("r2", &Budget::fresh(t(4))).await.unwrap();
    store.close();
    drop(store);
    let reopened = schema.store("d1").await;
    let tasks = reopened.tasks();
    assert_eq!(tasks.record("r1").await.unwrap().unwrap().status, RunStatus::Claimed);
    tasks.heartbeat("r1", &lease.token, LEASE, t(5)).await.expect("the token survives");
    assert!(reopened.sessions().session("s1").await.unwrap().is_some());
    assert_eq!(reopened.pause().pause_state().await.unwrap().unwrap().reason, "why");
    assert_eq!(reopened.budgets().load("r2").await.unwrap(), Some(Budget::fresh(t(4))));
    // The lease expired while nothing ran: the first sweep after the restart recovers it.
    let mut out = Vec::new();
    let sweep = Recovery { now: t(5) + LEASE, reason: "restart", limit: 0, actor: "scheduler" };
    tasks.recover_expired_leases(sweep, &mut out).await.unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(tasks.complete("r1", &lease.token, t(6)).await.unwrap_err().kind(), ErrorKind::TokenRejected);
}

/// Terminates every pooled connection of `store` (not the listener's).
async fn kill_pool(store: &Store) -> i64 {
    let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let name = store.config().application_name("");
    let sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1";
    client.query_one(sql, &[&name]).await.unwrap().get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_killed_mid_cycle_cost_a_cycle_not_the_loop() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    for i in 0..20 {
        let spec = SessionSpec::active(format!("s{i}"));
        store.sessions().register(&spec, t(0)).await.unwrap();
        store.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new(format!("r{i:02}")), t(i)).await.unwrap();
    }
    let clock = FakeClock::new(t(100));
    let mut scheduler = Scheduler::builder(store.tasks(), store.sessions(), PgWaker::new(&store))
        .clock(clock.clone())
        .wake_cooldown(Duration::from_millis(1))
        .build()
        .unwrap();
    let killer = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..40 {
                kill_pool(&store).await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let (mut failed, mut ok) = (0, 0);
    while !killer.is_finished() {
        clock.advance(Duration::from_secs(1));
        let report = scheduler.run_once().await;
        for e in report.errors() {
            let debug = format!("{e:?}");
            let transient = ["Database", "Pool", "WakeNotSent"].iter().any(|k| debug.contains(k));
            assert!(transient, "only connection failures: {debug}");
        }
        if report.is_ok() { ok += 1 } else { failed += 1 }
    }
    assert!(failed > 0, "the faults hit some cycle ({ok} cycles were clean)");
    // The server is back for good: the next cycles work.
    let mut clean = false;
    for _ in 0..3 {
        clock.advance(Duration::from_secs(1));
        clean |= scheduler.run_once().await.is_ok();
    }
    assert!(clean, "the loop recovers once the connections stay up");
    let err = store.tasks().claim(&ClaimRequest::session("x"), LEASE, t(200)).await.map(|_| ()).err();
    assert!(err.is_none_or(|e| e.kind() == ErrorKind::Unavailable), "a claim either works or is Unavailable");
    // Nothing was lost or done twice: every run is queued or claimed once.
    let mut statuses = Vec::new();
    let ids: Vec<String> = (0..20).map(|i| format!("r{i:02}")).collect();
    store.tasks().run_statuses(ids.iter().map(String::as_str), &mut statuses).await.unwrap();
    let claimed = statuses.iter().filter(|s| matches!(s, Ok(Some(RunStatus::Claimed)))).count();
    let queued = statuses.iter().filter(|s| matches!(s, Ok(Some(RunStatus::Queued)))).count();
    assert_eq!(claimed + queued, 20);
    assert!(claimed <= 1);
}

#[tokio::test]
async fn claims_through_killed_connections_are_unavailable_and_change_nothing() {
    let schema = TestSchema::new();
    let store = schema.store("d1").await;
    store.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0)).await.unwrap();
    assert!(kill_pool(&store).await >= 1);
    let mut unavailable = 0;
    let lease = loop {
        match store.tasks().claim(&ClaimRequest::session("s"), LEASE, t(1)).await {
            Ok(lease) => break lease.expect("the run is still claimable"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
                assert!(e.to_string().contains("claiming a run"), "names the step: {e}");
                unavailable += 1;
                assert!(unavailable < 20, "the pool replaces dead connections");
            }
        }
    };
    assert_eq!(lease.run_id, "r");
    let record = store.tasks().record("r").await.unwrap().unwrap();
    assert_eq!((record.status, record.session_id.as_deref()), (RunStatus::Claimed, Some("s")));
}
