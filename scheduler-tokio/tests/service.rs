//! The scheduler on a multi-thread runtime against the testkit's in-memory task service
//! and session registry, while producer tasks enqueue and session tasks claim, run and
//! complete work concurrently, some sessions crashing while holding a lease that the
//! loop's sweep later recovers. Time is the testkit's `FakeClock` (a multi-thread runtime cannot
//! pause tokio time): the loop sleeps on it, and only the test moves it.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use scheduler_core::Scheduler;
use scheduler_core::clock::Clock;
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{WakeTarget, Waker};
use scheduler_core::view::{RunView, SessionView};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::registry::MemorySessions;
use scheduler_testkit::service::{ClaimRequest, LeaseError, MemoryTaskService};
use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
use scheduler_tokio::{LoopState, SchedulerHandle};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const RUNS_PER_PRODUCER: usize = 30;
const PRODUCERS: usize = 2;
const RUNS: usize = RUNS_PER_PRODUCER * PRODUCERS;
const LEASE: Duration = Duration::from_secs(60);
/// A hang guard only: every wait below completes as soon as the work is done.
const GUARD: Duration = Duration::from_secs(60);

/// Delivers each wake to the woken session's task over a channel.
#[derive(Clone)]
struct ChannelWaker(Arc<HashMap<String, mpsc::UnboundedSender<String>>>);

#[derive(Debug)]
struct Gone(String);

impl fmt::Display for Gone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "session {} is gone", self.0)
    }
}

impl std::error::Error for Gone {}

impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for ChannelWaker {
    type Error = Gone;

    async fn wake(&self, t: WakeTarget<'_, R, S>) -> Result<(), Gone> {
        let session = t.session.session_id();
        let tx = self.0.get(session).ok_or_else(|| Gone(session.to_owned()))?;
        tx.send(t.run.run_id().to_owned()).map_err(|_| Gone(session.to_owned()))
    }
}

/// What the session tasks did.
#[derive(Debug, Default)]
struct Ledger {
    completed: Vec<String>,
    /// Runs whose first claim was abandoned (the session "crashed" holding the lease).
    abandoned: HashSet<String>,
}

/// The runs that need a GPU: only the three GPU sessions may take them, and the first
/// claim of each makes its session crash holding the lease. So, deterministically, all
/// three are abandoned once, each by a different GPU session.
fn needs_gpu(run_index: usize) -> bool {
    run_index % 20 == 3
}
const GPU_RUNS: usize = RUNS / 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_loop_serves_concurrent_producers_and_claimers_and_shuts_down_cleanly() {
    let clock = FakeClock::at_unix(1_700_000_000);
    let service = MemoryTaskService::new();
    let registry = MemorySessions::new();

    let sessions: [(&str, &[&str]); 7] = [
        ("sess-any-1", &["rust", "go"]),
        ("sess-any-2", &["rust", "go"]),
        ("sess-rust", &["rust"]),
        ("sess-go", &["go"]),
        ("sess-gpu-1", &["gpu"]),
        ("sess-gpu-2", &["gpu"]),
        ("sess-gpu-3", &["gpu"]),
    ];
    let mut senders = HashMap::new();
    let mut inboxes = Vec::new();
    for (id, caps) in sessions {
        registry.register(SessionSnapshot::active(id).caps(caps.iter().copied())).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        senders.insert(id.to_owned(), tx);
        inboxes.push((id, rx));
    }

    let scheduler = Scheduler::builder(service.clone(), registry.clone(), ChannelWaker(Arc::new(senders)))
        .clock(clock.clone())
        .interval(Duration::from_secs(15))
        .wake_cooldown(Duration::ZERO)
        .build()
        .unwrap();
    let handle = SchedulerHandle::new(scheduler);
    let daemon = CancellationToken::new();
    handle.start(&daemon).unwrap();

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let (progress, mut progress_rx) = watch::channel(0_usize);
    let progress = Arc::new(progress);
    let mut tasks = JoinSet::new();

    // Session tasks: on every wake, claim the best run for this session; run it and
    // complete it, or crash on it.
    for (id, mut inbox) in inboxes {
        let (service, registry, clock, handle, ledger, progress) =
            (service.clone(), registry.clone(), clock.clone(), handle.clone(), ledger.clone(), progress.clone());
        tasks.spawn(async move {
            let criteria = ClaimRequest::from_session(&*registry.get(id).unwrap());
            // Ends when the loop has ended and dropped the scheduler, and with it the
            // waker's senders.
            while inbox.recv().await.is_some() {
                let now = clock.now();
                let claim = match service.claim(&criteria, LEASE, now) {
                    Ok(Some(claim)) => claim,
                    Ok(None) | Err(LeaseError::SessionBusy { .. }) => continue,
                    Err(e) => panic!("claim by {id} failed: {e}"),
                };
                let index: usize = claim.run_id["run-".len()..].parse().unwrap();
                let crash = needs_gpu(index) && ledger.lock().unwrap().abandoned.insert(claim.run_id.clone());
                if !crash {
                    service.start(&claim.run_id, &claim.token, now).unwrap();
                    tokio::task::yield_now().await; // the "work"
                    service.complete(&claim.run_id, &claim.token, clock.now()).unwrap();
                    ledger.lock().unwrap().completed.push(claim.run_id);
                }
                progress.send_modify(|n| *n += 1);
                // This session is idle again (or its crash left work behind): a cycle now.
                handle.run_now();
            }
        });
    }

    // Producers: enqueue runs needing rust, go, a GPU or nothing, asking for a cycle
    // each time.
    let mut producers = JoinSet::new();
    for p in 0..PRODUCERS {
        let (service, clock, handle) = (service.clone(), clock.clone(), handle.clone());
        producers.spawn(async move {
            for k in 0..RUNS_PER_PRODUCER {
                let index = p * RUNS_PER_PRODUCER + k;
                let caps: &[&str] = match index % 3 {
                    _ if needs_gpu(index) => &["gpu"],
                    0 => &["rust"],
                    1 => &["go"],
                    _ => &[],
                };
                let run = RunSnapshot::queued(format!("run-{index:03}"), format!("task-{index:03}"));
                service.enqueue_snapshot(&run.caps(caps.iter().copied()), clock.now()).unwrap();
                assert!(handle.run_now(), "the loop runs");
                tokio::task::yield_now().await;
            }
        });
    }

    // Meanwhile, read the statistics from another task on every bit of progress: each
    // snapshot is consistent (every wake attempted was either delivered or failed).
    let reader = {
        let handle = handle.clone();
        let mut progress_rx = progress_rx.clone();
        tokio::spawn(async move {
            let mut reads = 0_u32;
            let mut last_cycles = 0;
            loop {
                let s = handle.stats();
                assert_eq!(s.wake_attempts, s.wake_succeeded + s.wake_failed, "a torn snapshot: {s:?}");
                assert!(s.cycles >= last_cycles);
                last_cycles = s.cycles;
                reads += 1;
                if progress_rx.changed().await.is_err() {
                    return reads;
                }
            }
        })
    };

    while let Some(done) = producers.join_next().await {
        done.unwrap();
    }
    // Every run is completed or stuck under a crashed session's lease.
    let settled = |n: &usize| *n == RUNS;
    timeout(GUARD, progress_rx.wait_for(settled)).await.expect("all runs settled").unwrap();
    let abandoned = ledger.lock().unwrap().abandoned.clone();
    assert_eq!(abandoned.len(), GPU_RUNS, "every GPU run was abandoned once");
    for run in &abandoned {
        assert_eq!(service.status(run), Some(RunStatus::Claimed), "{run} waits for the sweep");
    }

    // Let the crashed leases expire: the next cycle sweeps them back to the queue, and
    // the sessions, idle again, finish the work. Advancing the fake clock fires the
    // loop's tick if it is sleeping; if a cycle triggered earlier is still running, it
    // started before the advance, so ask for one more cycle after it.
    clock.advance(LEASE + Duration::from_secs(1));
    handle.run_now();
    let all_done = |n: &usize| *n == RUNS + abandoned.len();
    timeout(GUARD, progress_rx.wait_for(all_done)).await.expect("recovered runs completed").unwrap();

    // Shut down: the loop ends, drops the scheduler and its waker, and every session
    // task's inbox closes, so every task ends on its own.
    handle.shutdown_within(GUARD).await.unwrap();
    assert_eq!(handle.state(), LoopState::Stopped);
    assert!(!daemon.is_cancelled());
    timeout(GUARD, async {
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
    })
    .await
    .expect("every session task ended after shutdown");
    drop(progress);
    let reads = timeout(GUARD, reader).await.unwrap().unwrap();
    assert!(reads > 1);

    // Every run completed exactly once; nothing is leased or queued.
    let ledger = ledger.lock().unwrap();
    let completed: HashSet<_> = ledger.completed.iter().cloned().collect();
    assert_eq!(ledger.completed.len(), RUNS, "no run completed twice");
    assert_eq!(completed.len(), RUNS);
    for index in 0..RUNS {
        assert_eq!(service.status(&format!("run-{index:03}")), Some(RunStatus::Completed));
    }
    assert!(service.active().is_empty() && service.pending().is_empty());

    let stats = handle.stats();
    assert_eq!(stats.recovered_leases, abandoned.len() as u64, "the sweep recovered exactly the crashed leases");
    assert_eq!(stats.cycle_panics, 0);
    assert_eq!(stats.wake_failed, 0);
    assert!(stats.wake_succeeded >= RUNS as u64 + abandoned.len() as u64, "{stats:?}");
    assert!(stats.cycles > 1);
}
