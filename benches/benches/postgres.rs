//! scheduler-postgres on a real server (`DATABASE_URL`, default the local one), each
//! part in a fresh schema dropped afterwards:
//!
//! - **claims**: W(10000, 1000) enqueued through the store's API; K = 8 and 32
//!   concurrent claimers, each acting for its own idle session of the workload, claim,
//!   start and complete runs for a fixed time: claims per second, p50 / p99 latency of
//!   one claim call;
//! - **cycle**: one steady cycle of W(10000, 1000) read from PostgreSQL (sessions,
//!   active runs and pending runs written through the API), waker doing nothing;
//! - **wake latency**, one daemon to another over 1,000 wakes: from the enqueue call
//!   returning, through the leader's cycle, the outbox and `NOTIFY`, to the session's
//!   mailbox on the other daemon (and the transport alone: waker to mailbox).
//!
//! `cargo bench -p scheduler-benches --bench postgres`. Without a server it says so and
//! exits successfully.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use scheduler_bench_support::workload::{NoopWaker, Workload, t0};
use scheduler_core::Scheduler;
use scheduler_core::lease::{ClaimRequest, LeaseService, RunSpec, SessionRegistry, SessionSpec, TaskSpec};
use scheduler_core::seam::{SessionSource, TaskSource, WakeBatch, Waker};
use scheduler_core::view::SessionView;
use scheduler_postgres::{Config, Listener, ListenerConfig, PgWaker, Store};
use scheduler_testkit::snapshot::SessionSnapshot;
use scheduler_tokio::mailbox::Mailboxes;

const CLAIM_TIME: Duration = Duration::from_secs(5);
const WAKES: usize = 1_000;

fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn schema_name(part: &str) -> String {
    let nonce = scheduler_core::lease::ClaimToken::generate();
    format!("bench_{part}_{}", &nonce.expose_secret()[3..11])
}

async fn store(schema: &str, daemon: &str, pool: usize) -> Result<Store, scheduler_postgres::Error> {
    let config = Config::new(&url())?.schema(schema)?.daemon_id(daemon)?.pool_size(pool);
    Store::connect(config).await
}

async fn drop_schema(schema: &str) {
    if let Ok((client, connection)) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await {
        tokio::spawn(connection);
        let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn spec_of(s: &SessionSnapshot) -> SessionSpec {
    SessionSpec {
        session_id: s.session_id().to_owned(),
        agent_name: s.agent_name().to_owned(),
        workspace_id: s.workspace_id().to_owned(),
        channel: s.channel().to_owned(),
        session_type: String::new(),
        state: s.state(),
        prompting: s.prompting(),
        capabilities: s.capabilities().map(str::to_owned).collect(),
        created_at: s.created_at(),
    }
}

/// Writes `w`'s pending runs (at their queued-at) through the API, 16 writers at once.
async fn enqueue_runs(store: &Store, w: &Workload) {
    let runs = Arc::clone(&w.runs);
    let mut writers = Vec::new();
    for k in 0..16 {
        let (tasks, runs) = (store.tasks(), Arc::clone(&runs));
        writers.push(tokio::spawn(async move {
            for r in runs.iter().skip(k).step_by(16) {
                tasks.enqueue(&r.task_spec(), &r.run_spec(), r.queued_at.expect("queued-at")).await.expect("enqueue");
            }
        }));
    }
    for w in writers {
        w.await.expect("writer");
    }
}

/// Writes every session, and the active runs (owned by, claimed by and started by their
/// session with a lease of a century).
async fn load_sessions_and_active(store: &Store, w: &Workload) {
    for s in w.sessions.iter() {
        store.sessions().register(&spec_of(s), t0()).await.expect("register");
    }
    let century = Duration::from_secs(100 * 365 * 24 * 3600);
    for a in w.active.iter() {
        let holder = w.sessions.iter().find(|s| s.session_id == a.session_id).expect("holder");
        let task = TaskSpec::new(format!("task-{}", a.run_id)).session_owner(&a.session_id);
        let task = if holder.workspace_id().is_empty() { task } else { task.workspace(holder.workspace_id()) };
        store.tasks().enqueue(&task, &RunSpec::new(a.run_id.clone()), t0()).await.expect("enqueue active");
        let lease = store.tasks().claim(&ClaimRequest::from_session(&**holder), century, t0()).await.unwrap().unwrap();
        store.tasks().start(&lease.run_id, &lease.token, t0()).await.expect("start");
    }
}

async fn claims(k: usize) {
    let schema = schema_name("claims");
    let store = store(&schema, "claimers", k + 2).await.expect("store");
    let w = Workload::steady(10_000, 1_000);
    enqueue_runs(&store, &w).await;
    store.analyze().await.expect("analyze");
    // Claimers act for idle, active, non-prompting sessions of the workload (those
    // holding no active run), K of them.
    let idle: Vec<ClaimRequest> = w
        .sessions
        .iter()
        .skip(w.active.len())
        .filter(|s| s.state() == scheduler_core::model::SessionState::Active && !s.prompting())
        .take(k)
        .map(|s| ClaimRequest::from_session(&**s))
        .collect();
    let deadline = Instant::now() + CLAIM_TIME;
    let mut claimers = Vec::new();
    for request in idle {
        let tasks = store.tasks();
        claimers.push(tokio::spawn(async move {
            let (mut won, mut latencies) = (0usize, Vec::new());
            while Instant::now() < deadline {
                let started = Instant::now();
                let lease = tasks.claim(&request, Duration::from_secs(600), SystemTime::now()).await.expect("claim");
                latencies.push(started.elapsed());
                let Some(lease) = lease else { continue };
                won += 1;
                tasks.start(&lease.run_id, &lease.token, SystemTime::now()).await.expect("start");
                tasks.complete(&lease.run_id, &lease.token, SystemTime::now()).await.expect("complete");
            }
            (won, latencies)
        }));
    }
    let (mut won, mut latencies) = (0, Vec::new());
    for c in claimers {
        let (n, l) = c.await.expect("claimer");
        won += n;
        latencies.extend(l);
    }
    latencies.sort();
    println!(
        "postgres/claims K={k:<2} at W(10000, 1000): {:>7.0} claims/s, claim latency p50 {:>6.2} ms, p99 {:>6.2} ms ({won} claims, {} calls in {:?})",
        won as f64 / CLAIM_TIME.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.len(),
        CLAIM_TIME
    );
    store.close();
    drop_schema(&schema).await;
}

async fn cycle() {
    let schema = schema_name("cycle");
    let store = store(&schema, "leader", 8).await.expect("store");
    let w = Workload::steady(10_000, 1_000);
    load_sessions_and_active(&store, &w).await;
    enqueue_runs(&store, &w).await;
    store.analyze().await.expect("analyze");
    let clock = Workload::clock();
    let mut scheduler = Scheduler::builder(store.tasks(), store.sessions(), NoopWaker)
        .clock(clock.clone())
        .wake_cooldown(Duration::from_secs(60))
        .starvation_age(Duration::ZERO)
        .build()
        .expect("settings");
    let mut times = Vec::new();
    for i in 0..12 {
        clock.advance(Duration::from_secs(61));
        let started = Instant::now();
        let report = scheduler.run_once().await;
        let took = started.elapsed();
        assert!(report.is_ok(), "{:?}", report.errors());
        if i >= 2 {
            times.push(took);
        }
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "postgres/cycle steady W(10000, 1000): mean {:.1} ms, p50 {:.1} ms, max {:.1} ms per cycle ({} cycles after 2 warm-up)",
        mean.as_secs_f64() * 1e3,
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
        times.len()
    );
    store.close();
    drop_schema(&schema).await;
}

async fn wake_latency() {
    let schema = schema_name("wakes");
    let leader = store(&schema, "leader", 4).await.expect("store");
    let host = store(&schema, "host", 4).await.expect("store");
    let mailboxes = Mailboxes::new(16);
    let mut inbox = mailboxes.register("sess-1");
    let listener = Listener::start(&host, mailboxes, ListenerConfig::default()).await.expect("listener");
    host.sessions().register(&SessionSpec::active("sess-1"), SystemTime::now()).await.expect("register");
    let mut scheduler = Scheduler::builder(leader.tasks(), leader.sessions(), PgWaker::new(&leader))
        .clock(scheduler_tokio::TokioClock::system())
        .build()
        .expect("settings");
    let request = ClaimRequest::session("sess-1");
    let (mut end_to_end, mut transport) = (Vec::new(), Vec::new());
    for i in 0..WAKES {
        let run = format!("run-{i:04}");
        host.tasks().enqueue(&TaskSpec::new("task"), &RunSpec::new(&run), SystemTime::now()).await.expect("enqueue");
        let started = Instant::now();
        let report = scheduler.run_once().await; // the leader's cycle, as `run_now` triggers it
        assert_eq!(report.counts().wake_succeeded, 1, "{:?}", report.errors());
        let wake = inbox.recv().await.expect("a wake");
        end_to_end.push(started.elapsed());
        assert_eq!(wake.run_id, run);
        // The transport alone: the waker's one statement to the mailbox.
        let (mut runs, mut sessions) = (Vec::new(), Vec::new());
        leader.tasks().pending_runs(&mut runs).await.expect("runs");
        leader.sessions().sessions(&mut sessions).await.expect("sessions");
        let mut out = Vec::new();
        let started = Instant::now();
        PgWaker::new(&leader).wake_batch(WakeBatch::new(&runs, &sessions, &[(0, 0)], "bench"), &mut out).await;
        inbox.recv().await.expect("a wake");
        transport.push(started.elapsed());
        // The session takes the run, so the next one is alone in the queue.
        let lease = host.tasks().claim(&request, Duration::from_secs(60), SystemTime::now()).await.unwrap().unwrap();
        host.tasks().complete(&lease.run_id, &lease.token, SystemTime::now()).await.expect("complete");
    }
    for (name, mut v) in
        [("enqueue -> cycle -> other daemon's mailbox", end_to_end), ("waker -> other daemon's mailbox", transport)]
    {
        v.sort();
        println!(
            "postgres/wake latency ({name}): p50 {:.2} ms, p99 {:.2} ms over {} wakes",
            percentile(&v, 0.50).as_secs_f64() * 1e3,
            percentile(&v, 0.99).as_secs_f64() * 1e3,
            v.len()
        );
    }
    listener.stop().await;
    drop_schema(&schema).await;
}

fn main() {
    // `cargo test --benches` runs bench targets with `--bench`-less arguments: skip then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        if let Err(e) = store(&schema_name("probe"), "probe", 1).await {
            println!("postgres bench skipped: no server: {e}");
            return;
        }
        claims(8).await;
        claims(32).await;
        cycle().await;
        wake_latency().await;
    });
    runtime.block_on(async {
        // The probe's schema.
        if let Ok((client, connection)) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await {
            tokio::spawn(connection);
            let _ = client
                .batch_execute(
                    "DO $$ DECLARE s text; BEGIN FOR s IN SELECT nspname FROM pg_namespace WHERE nspname LIKE 'bench\\_probe\\_%' \
                     LOOP EXECUTE format('DROP SCHEMA %I CASCADE', s); END LOOP; END $$",
                )
                .await;
        }
    });
}
