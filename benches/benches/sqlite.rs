//! The durable store's benchmarks (`spec/workloads.md`, "Durable stores"), over a SQLite
//! file in a temporary directory, loaded through the store's public API (`enqueue`,
//! `claim`, `start`, `register`):
//!
//! - `sqlite/cycle/unchanged/W(N,M)`: one steady cycle over the store when nothing
//!   changed since the previous cycle (the store's revision check answers from the rows
//!   it read then);
//! - `sqlite/cycle/cold/W(N,M)`: one steady cycle right after a write that touched the
//!   runs (every pending and active run is read again); the write itself is not timed;
//! - claims: K = 1, 8, 32 claimers (threads), each acting for its own idle session,
//!   claim, start and complete runs in a loop for a fixed time while every completed
//!   run is replaced, so 10,000 runs stay queued; prints claims per second and the
//!   p50 / p99 latency of one claim (a custom measurement, printed on stderr);
//! - wake latency: a run enqueued while its eligible session is idle; an on-demand
//!   cycle wakes it through `MailboxWaker`; the time from the enqueue call returning to
//!   the session's mailbox receiving the wake, p50 / p99 over 1,000 runs (printed).
//!
//! Run with `cargo bench -p scheduler-benches --bench sqlite` (set `SQLITE_BENCH=claims`,
//! say, to run only some of `cycles`, `claims`, `wake`).

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use futures::executor::block_on;
use scheduler_bench_support::workload::{CYCLE_STEP, NoopWaker, Variant, Workload, clock_start, t0};
use scheduler_core::Scheduler;
use scheduler_core::lease::{ClaimRequest, LeaseService, RunSpec, SessionRegistry, SessionSpec, TaskSpec};
use scheduler_core::model::{Priority, SessionState};
use scheduler_sqlite::Store;
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
use scheduler_tokio::mailbox::{MailboxWaker, Mailboxes};

const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

fn task_of(r: &RunSnapshot) -> TaskSpec {
    TaskSpec::new(&r.task_id)
        .status(r.task_status)
        .paused(r.task_paused)
        .priority(r.priority)
        .scope(r.scope, r.workspace_id.clone())
        .owner(r.owner.clone())
}

fn run_of(r: &RunSnapshot) -> RunSpec {
    RunSpec::new(&r.run_id).channel(r.channel.clone()).caps(r.required_capabilities.clone())
}

fn session_of(s: &SessionSnapshot) -> SessionSpec {
    SessionSpec::active(&s.session_id)
        .agent(s.agent_name.clone())
        .workspace(s.workspace_id.clone())
        .channel(s.channel.clone())
        .state(s.state)
        .prompting(s.prompting)
        .caps(s.capabilities.clone())
        .created_at(s.created_at)
}

/// A store in a fresh file holding `w`: the sessions registered, each active run
/// enqueued for its session, claimed by it for a century and started, then the
/// pending runs enqueued at their queued-at.
fn load(w: &Workload) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("bench.db")).expect("open");
    let (tasks, sessions) = (store.tasks(), store.sessions());
    block_on(async {
        for s in w.sessions.iter() {
            sessions.register(&session_of(s), t0()).await.expect("register");
        }
        for a in w.active.iter() {
            let holder = w.sessions.iter().find(|s| s.session_id == a.session_id).expect("holder");
            let task = TaskSpec::new(format!("task-{}", a.run_id)).session_owner(&a.session_id).scope(
                if holder.workspace_id.is_empty() {
                    scheduler_core::model::Scope::Global
                } else {
                    scheduler_core::model::Scope::Workspace
                },
                holder.workspace_id.clone(),
            );
            tasks.enqueue(&task, &RunSpec::new(&a.run_id), t0()).await.expect("enqueue active");
            let lease = tasks
                .claim(&ClaimRequest::from_session(&**holder), CENTURY, t0())
                .await
                .expect("claim")
                .expect("a run");
            assert_eq!(lease.run_id, a.run_id);
            tasks.start(&lease.run_id, &lease.token, t0()).await.expect("start");
        }
        for r in w.runs.iter() {
            tasks.enqueue(&task_of(r), &run_of(r), r.queued_at.expect("queued-at")).await.expect("enqueue");
        }
    });
    (dir, store)
}

/// Whether to run the part `name` (`cycles`, `claims`, `wake`): every part unless the
/// environment variable `SQLITE_BENCH` names others (comma separated).
fn wanted(name: &str) -> bool {
    std::env::var("SQLITE_BENCH").map_or(true, |parts| parts.split(',').any(|p| p.trim() == name))
}

/// The steady variant's scheduler over `store`.
fn steady(store: &Store, clock: &FakeClock) -> SqliteScheduler {
    Scheduler::builder(store.tasks(), store.sessions(), NoopWaker)
        .clock(clock.clone())
        .wake_cooldown(Duration::from_secs(60))
        .starvation_age(Duration::ZERO)
        .build()
        .expect("valid settings")
}

type SqliteScheduler = Scheduler<scheduler_sqlite::Tasks, scheduler_sqlite::Sessions, NoopWaker, FakeClock>;

/// Advances the clock and runs one cycle; returns the pending runs it read.
fn cycle(scheduler: &mut SqliteScheduler, clock: &FakeClock) -> usize {
    clock.advance(CYCLE_STEP);
    let report = block_on(scheduler.run_once());
    assert!(report.is_ok(), "cycle failed");
    report.counts().pending_runs
}

fn bench_cycles(c: &mut Criterion) {
    if !wanted("cycles") {
        return;
    }
    for (n, m) in [(10_000, 1_000), (100_000, 1_000)] {
        let w = Workload::new(n, m, Variant::Steady);
        let started = Instant::now();
        let (dir, store) = load(&w);
        eprintln!("sqlite: loaded W({n},{m}) in {:.1?}", started.elapsed());
        let clock = FakeClock::new(clock_start());
        let mut scheduler = steady(&store, &clock);
        assert_eq!(cycle(&mut scheduler, &clock), n);
        let mut group = c.benchmark_group("sqlite/cycle");
        let big = n > 10_000;
        group.sample_size(if big { 10 } else { 30 }).measurement_time(Duration::from_secs(if big { 15 } else { 6 }));
        let size = format!("W({n},{m})");
        // Nothing changed since the previous cycle.
        group.bench_function(BenchmarkId::new("unchanged", &size), |b| {
            b.iter(|| black_box(cycle(&mut scheduler, &clock)))
        });
        // One task re-described (untimed) before each cycle: its run is read again.
        let tasks = store.tasks();
        let touched = task_of(&w.runs[0]);
        let mut flip = false;
        group.bench_function(BenchmarkId::new("one_change", &size), |b| {
            b.iter_batched(
                || {
                    flip = !flip;
                    let priority = if flip { Priority::Urgent } else { w.runs[0].priority };
                    block_on(tasks.update_task(&touched.clone().priority(priority), clock_start())).expect("update");
                },
                |()| black_box(cycle(&mut scheduler, &clock)),
                BatchSize::PerIteration,
            );
        });
        // The first cycle of a freshly opened store (untimed open): every row is read.
        let path = dir.path().join("bench.db");
        group.bench_function(BenchmarkId::new("cold", &size), |b| {
            b.iter_batched(
                || steady(&Store::open(&path).expect("reopen"), &clock),
                |mut fresh| {
                    black_box(cycle(&mut fresh, &clock));
                    fresh
                },
                BatchSize::PerIteration,
            );
        });
        group.finish();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Every shape of `Workload::run(i)` repeats with this period (the lcm of the moduli
/// it uses: 20, 4, 3, 7, 5, 11 and 100).
const SHAPE_PERIOD: usize = 23_100;

/// Replacement runs: the `n`-th is `base + SHAPE_PERIOD * n`, unique for a unique `n`.
static NEXT_RUN: AtomicUsize = AtomicUsize::new(1);

/// The index of a fresh run of the same shape as `run-i`.
fn replacement(run_id: &str) -> usize {
    let i: usize = run_id.strip_prefix("run-").and_then(|i| i.parse().ok()).expect("a workload run");
    i % SHAPE_PERIOD + SHAPE_PERIOD * NEXT_RUN.fetch_add(1, Ordering::Relaxed)
}

/// K claimers on their own idle sessions, for `time`: claims per second, p50, p99.
fn claimers(store: &Store, sessions: &[ClaimRequest], time: Duration) -> (f64, Duration, Duration, usize) {
    let deadline = Instant::now() + time;
    let threads: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|me| {
            let tasks = store.tasks();
            thread::spawn(move || {
                let (mut latencies, mut empty) = (Vec::new(), 0usize);
                let now = clock_start();
                while Instant::now() < deadline {
                    let started = Instant::now();
                    let lease = block_on(tasks.claim(&me, Duration::from_secs(60), now)).expect("claim");
                    latencies.push(started.elapsed());
                    let Some(lease) = lease else {
                        empty += 1;
                        continue;
                    };
                    block_on(tasks.start(&lease.run_id, &lease.token, now)).expect("start");
                    block_on(tasks.complete(&lease.run_id, &lease.token, now)).expect("complete");
                    // Keep 10,000 runs queued: replace the run with a fresh one of the
                    // same shape (workspace, priority, capabilities, channel, owner).
                    let r = Workload::run(replacement(&lease.run_id), Variant::Steady);
                    block_on(tasks.enqueue(&task_of(&r), &run_of(&r), now)).expect("enqueue");
                }
                (latencies, empty)
            })
        })
        .collect();
    let started = Instant::now();
    let (mut all, mut empty) = (Vec::new(), 0);
    for t in threads {
        let (latencies, none) = t.join().expect("claimer");
        all.extend(latencies);
        empty += none;
    }
    let elapsed = started.elapsed().max(time);
    all.sort();
    assert!(empty * 100 <= all.len(), "{empty} of {} claims found nothing: the queue ran dry", all.len());
    (all.len() as f64 / elapsed.as_secs_f64(), percentile(&all, 0.5), percentile(&all, 0.99), all.len())
}

fn bench_claims(_c: &mut Criterion) {
    if !wanted("claims") {
        return;
    }
    let w = Workload::new(10_000, 1_000, Variant::Steady);
    let (_dir, store) = load(&w);
    // Idle, active, non-prompting sessions that hold no run.
    let idle: Vec<ClaimRequest> = w
        .sessions
        .iter()
        .enumerate()
        .filter(|(j, s)| *j >= w.m / 10 && s.state == SessionState::Active && !s.prompting && j % 2 == 0)
        .map(|(_, s)| ClaimRequest::from_session(&**s))
        .collect();
    for k in [1, 8, 32] {
        let (per_sec, p50, p99, n) = claimers(&store, &idle[..k], Duration::from_secs(3));
        eprintln!(
            "sqlite/claims/K={k} at 10,000 queued: {per_sec:.0} claims/s, claim latency p50 {p50:.1?} p99 {p99:.1?} ({n} claims)"
        );
    }
}

fn bench_wake_latency(_c: &mut Criterion) {
    if !wanted("wake") {
        return;
    }
    let store = Store::open_in_memory().expect("store");
    let mailboxes = Mailboxes::new(4);
    let mut inbox = mailboxes.register("sess-1");
    let mut scheduler = Scheduler::builder(store.tasks(), store.sessions(), MailboxWaker::new(mailboxes.clone()))
        .wake_cooldown(Duration::ZERO)
        .starvation_age(Duration::ZERO)
        .build()
        .expect("valid settings");
    let (tasks, me) = (store.tasks(), ClaimRequest::session("sess-1"));
    block_on(store.sessions().register(&SessionSpec::active("sess-1"), SystemTime::now())).expect("register");
    let mut latencies = Vec::with_capacity(1_000);
    for i in 0..1_000 {
        let now = SystemTime::now();
        block_on(tasks.enqueue(&TaskSpec::new(format!("t-{i}")), &RunSpec::new(format!("r-{i}")), now))
            .expect("enqueue");
        let enqueued = Instant::now();
        // The on-demand cycle a daemon runs when work arrives.
        let report = block_on(scheduler.run_once());
        assert!(report.is_ok());
        let wake = block_on(inbox.recv()).expect("a wake");
        latencies.push(enqueued.elapsed());
        assert_eq!(wake.run_id, format!("r-{i}"));
        let lease = block_on(tasks.claim(&me, Duration::from_secs(60), now)).expect("claim").expect("the run");
        block_on(tasks.complete(&lease.run_id, &lease.token, now)).expect("complete");
    }
    latencies.sort();
    eprintln!(
        "sqlite/wake latency (in process, enqueue returned -> mailbox received): p50 {:.1?} p99 {:.1?} over 1,000 runs",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    );
}

criterion_group!(benches, bench_cycles, bench_claims, bench_wake_latency);
criterion_main!(benches);
