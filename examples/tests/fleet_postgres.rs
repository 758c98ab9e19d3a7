//! The fleet on PostgreSQL (the local server: `DATABASE_URL`, else
//! `postgres://postgres@127.0.0.1:5432/test`): three daemons elect a leader, the
//! leader is killed half-way with the sessions it hosts, another daemon takes over
//! within two lease periods, every run ends, every invariant holds, and the fresh
//! schema is dropped at exit. Also: several daemons are refused without PostgreSQL,
//! and an unreachable server is a clear error that never shows the password.

use std::time::Duration;

use clap::Parser as _;
use scheduler_examples::fleet::cli::Args;
use scheduler_examples::fleet::{FleetConfig, FleetError, PgFleet, StoreKind, run, schema_exists};

const MIN: u64 = 60;

fn small(pg: PgFleet) -> FleetConfig {
    FleetConfig {
        sessions: 9,
        runs: 40,
        seed: 7,
        duration: Duration::from_secs(16 * MIN),
        workspaces: 2,
        crash_rate: 0.05,
        gpu_rate: 0.05,
        impossible_rate: 0.05,
        max_spawned: 6,
        pause: None,
        store: StoreKind::Postgres(pg),
        ..FleetConfig::default()
    }
}

/// The schema a report's store line names: `postgres URL schema NAME (...)`.
fn schema_of(store: &str) -> String {
    let after = store.split(" schema ").nth(1).expect("the store line names the schema");
    after.split_whitespace().next().expect("a schema name").to_owned()
}

#[test]
fn three_daemons_survive_losing_their_leader() {
    let pg = PgFleet {
        daemons: 3,
        kill_leader_at: Some(Duration::from_secs(8 * MIN)),
        leader_lease: Duration::from_secs(1),
        pace: 480,
        ..PgFleet::default()
    };
    let url = pg.url.clone();
    let report = run(&small(pg), |_| {}).expect("the local PostgreSQL server (is it running?)");
    println!("{report}");

    // The store line says where it ran; the made-up schema is gone.
    assert!(report.store.starts_with("postgres "), "{}", report.store);
    assert!(report.store.ends_with("(dropped at exit)"), "{}", report.store);
    assert!(report.to_string().starts_with(&format!("store: {}\n", report.store)));
    let schema = schema_of(&report.store);
    assert!(schema.starts_with("fleet_"), "{schema}");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let exists = runtime.block_on(schema_exists(&url, &schema)).expect("the server answers");
    assert!(!exists, "schema {schema} was dropped at exit");

    // The leader was killed, another daemon led after it, within two lease periods.
    let leadership = report.leadership.as_ref().expect("a postgres fleet reports its daemons");
    assert_eq!(leadership.daemons.len(), 3);
    let failover = leadership.failover.as_ref().expect("the leader was killed");
    let killed = leadership.daemons.iter().position(|d| *d == failover.killed).expect("a known daemon");
    assert!(leadership.cycles[killed] > 0, "the killed daemon led before: {leadership:?}");
    let new_leader = failover.new_leader.as_ref().expect("another daemon ran a cycle after the kill");
    assert_ne!(new_leader, &failover.killed);
    let took_over = leadership.daemons.iter().position(|d| d == new_leader).expect("a known daemon");
    assert!(leadership.cycles[took_over] > 0);
    assert!(leadership.leader_changes >= 1);
    assert!(leadership.terms.is_some_and(|t| t >= 2), "a second term: {:?}", leadership.terms);
    assert!(failover.sessions > 0, "the killed daemon hosted sessions, which crashed with it");
    let (real, sim) = (failover.real.unwrap(), failover.simulated.unwrap());
    assert!(real <= 2 * leadership.lease, "failover took {real:?} real, lease {:?}", leadership.lease);
    assert!(sim <= 2 * leadership.simulated_lease(), "failover took {sim:?} simulated");

    // Every run ended, nothing was lost or claimed twice, wakes crossed daemons.
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.runs.open, 0, "every run ended");
    assert_eq!(report.runs.enqueued, 40);
    assert!(report.runs.completed > 0);
    assert!(leadership.wakes_listened.0 > 0, "wakes were delivered through NOTIFY and the listeners");
    assert!(report.activity.crashes >= failover.sessions as u64);
}

#[test]
fn several_daemons_need_postgres() {
    let args = Args::try_parse_from(["fleet", "--daemons", "3", "--backend", "sqlite"]).unwrap();
    let refused = args.check().expect_err("three daemons on SQLite are refused");
    assert!(refused.contains("--daemons 3") && refused.contains("--backend postgres"), "{refused}");
    let args = Args::try_parse_from(["fleet", "--daemons", "3", "--backend", "postgres"]).unwrap();
    assert_eq!(args.check(), Ok(()));
}

#[test]
fn an_unreachable_server_is_a_clear_error_without_the_password() {
    let pg = PgFleet { url: "postgres://fleet:hunter2@127.0.0.1:1/nowhere".to_owned(), ..PgFleet::default() };
    let error = run(&small(pg), |_| {}).expect_err("nothing listens on port 1");
    let FleetError::Store(message) = &error else { panic!("a store error: {error:?}") };
    assert!(message.contains("postgres://fleet:***@127.0.0.1:1/nowhere"), "{message}");
    assert!(!error.to_string().contains("hunter2"), "{error}");
}

/// Drops a schema the test named, also when the test fails.
struct Named {
    url: String,
    schema: String,
}

impl Drop for Named {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await
            })
        })
        .join();
    }
}

#[test]
fn a_named_schema_is_kept_and_a_second_run_resumes_it() {
    let suffix = std::process::id();
    let pg = PgFleet { schema: Some(format!("fleet_kept_{suffix}")), pace: 600, ..PgFleet::default() };
    let named = Named { url: pg.url.clone(), schema: pg.schema.clone().unwrap() };
    let config = FleetConfig { runs: 24, duration: Duration::from_secs(8 * MIN), ..small(pg) };

    let first = run(&FleetConfig { drain: Duration::ZERO, ..config.clone() }, |_| {}).expect("the local server");
    assert!(first.store.ends_with(&format!("schema {} (kept)", named.schema)), "{}", first.store);
    assert!(first.is_clean(), "{first}");
    assert!(first.runs.open > 0, "no drain: work is left open");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(runtime.block_on(schema_exists(&named.url, &named.schema)).unwrap(), "the named schema is kept");

    let second = run(&config, |_| {}).expect("the local server");
    let resumed = second.resumed.as_ref().expect("the second run resumes the first");
    assert_eq!(resumed.generation, 2);
    assert_eq!(second.runs.taken_over, first.runs.open, "every run the first left open is taken over");
    assert!(second.is_clean(), "{second}");
    assert_eq!(second.runs.open, 0, "and ended");
}
