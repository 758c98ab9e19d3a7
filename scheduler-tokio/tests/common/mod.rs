//! Shared fixtures: a task source that can make a cycle slow or panic, an observer that
//! records when cycles start and end, and a scheduler on a paused-time [`TokioClock`].

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use scheduler_core::Scheduler;
use scheduler_core::clock::Clock;
use scheduler_core::model::RunStatus;
use scheduler_core::observer::Observer;
use scheduler_core::report::CycleCounts;
use scheduler_core::seam::{Recovery, TaskSource};
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{ActiveRun, RecoveredLease, RunSnapshot};
use scheduler_testkit::waker::RecordingWaker;
use scheduler_tokio::{SchedulerHandle, TokioClock};

/// The wall time every test's clock is anchored at.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `t0() + s` for each `s`.
pub fn at(s: &[u64]) -> Vec<SystemTime> {
    s.iter().map(|&s| t0() + secs(s)).collect()
}

/// What the n-th cycle's `pending_runs` does before answering.
#[derive(Clone)]
pub enum Act {
    /// Sleeps this long on tokio time: a slow task service.
    Sleep(Duration),
    /// Panics with this message.
    Panic(&'static str),
    /// Runs this blocking function on the loop's thread: a seam that blocks it.
    Block(Arc<dyn Fn() + Send + Sync>),
}

impl std::fmt::Debug for Act {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Act::Sleep(d) => write!(f, "Sleep({d:?})"),
            Act::Panic(m) => write!(f, "Panic({m:?})"),
            Act::Block(_) => f.write_str("Block"),
        }
    }
}

/// [`ScriptedTasks`] whose `pending_runs` can be made slow or panicking, per cycle.
#[derive(Debug, Clone, Default)]
pub struct Tasks {
    pub inner: ScriptedTasks,
    script: Arc<Mutex<HashMap<u64, Act>>>,
    reads: Arc<AtomicU64>,
}

impl Tasks {
    /// The `n`-th read of pending runs (1-based: the n-th cycle) does `act`.
    pub fn on_read(&self, n: u64, act: Act) {
        self.script.lock().unwrap().insert(n, act);
    }

    /// The `n`-th read of pending runs calls `block` on the loop's thread first.
    pub fn on_read_blocking(&self, n: u64, block: impl Fn() + Send + Sync + 'static) {
        self.on_read(n, Act::Block(Arc::new(block)));
    }
}

impl TaskSource for Tasks {
    type Run = Arc<RunSnapshot>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = Arc<RecoveredLease>;
    type Error = FakeError;

    async fn recover_expired_leases(&self, r: Recovery<'_>, out: &mut Vec<Self::Recovered>) -> Result<(), FakeError> {
        self.inner.recover_expired_leases(r, out).await
    }

    async fn pending_runs(&self, out: &mut Vec<Self::Run>) -> Result<(), FakeError> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let act = self.script.lock().unwrap().get(&n).cloned();
        match act {
            Some(Act::Sleep(d)) => tokio::time::sleep(d).await,
            Some(Act::Panic(message)) => panic!("{message}"),
            Some(Act::Block(block)) => block(),
            None => {}
        }
        self.inner.pending_runs(out).await
    }

    async fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> Result<(), FakeError> {
        self.inner.active_runs(out).await
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, FakeError> {
        self.inner.run_status(run_id).await
    }
}

/// Records when each cycle started and ended (on the test's clock) and how many
/// cycles were ever in flight at once.
#[derive(Debug, Clone)]
pub struct Probe {
    clock: TokioClock,
    inner: Arc<Mutex<ProbeInner>>,
}

#[derive(Debug, Default)]
struct ProbeInner {
    started: Vec<SystemTime>,
    ended: Vec<SystemTime>,
    in_flight: u32,
    max_in_flight: u32,
}

impl Probe {
    pub fn new(clock: TokioClock) -> Self {
        Probe { clock, inner: Arc::default() }
    }

    /// The `now` of every cycle that started, in order.
    pub fn started(&self) -> Vec<SystemTime> {
        self.inner.lock().unwrap().started.clone()
    }

    /// When every cycle ended (finished, panicked or abandoned), in order.
    pub fn ended(&self) -> Vec<SystemTime> {
        self.inner.lock().unwrap().ended.clone()
    }

    pub fn max_in_flight(&self) -> u32 {
        self.inner.lock().unwrap().max_in_flight
    }

    fn end(&self) {
        let mut i = self.inner.lock().unwrap();
        i.in_flight -= 1;
        i.ended.push(self.clock.now());
    }
}

impl Observer for Probe {
    fn cycle_started(&self, now: SystemTime) {
        let mut i = self.inner.lock().unwrap();
        i.started.push(now);
        i.in_flight += 1;
        i.max_in_flight = i.max_in_flight.max(i.in_flight);
    }

    fn cycle_finished(&self, _: &CycleCounts) {
        self.end();
    }

    fn cycle_panicked(&self, _: &str) {
        self.end();
    }

    fn cycle_abandoned(&self, _: SystemTime) {
        self.end();
    }
}

/// A scheduler over [`Tasks`] on a [`TokioClock`] anchored at [`t0`], wrapped in an
/// unstarted handle. Call inside the (paused) runtime: the clock anchors to tokio's
/// `Instant::now()`.
pub struct Fixture {
    pub tasks: Tasks,
    pub sessions: ScriptedSessions,
    pub waker: RecordingWaker,
    pub probe: Probe,
    pub clock: TokioClock,
    pub handle: SchedulerHandle,
    /// tokio time at construction: `start + s` is `t0() + s` on the scheduler's clock.
    pub start: tokio::time::Instant,
}

impl Fixture {
    pub fn new(interval: Duration) -> Self {
        let start = tokio::time::Instant::now();
        let clock = TokioClock::anchored_at(t0());
        let (tasks, sessions, waker) = (Tasks::default(), ScriptedSessions::new(), RecordingWaker::batch());
        let probe = Probe::new(clock);
        let scheduler = Scheduler::builder(tasks.clone(), sessions.clone(), waker.clone())
            .clock(clock)
            .interval(interval)
            // Slow seams here are slow on purpose (the cycle's length is the point), not
            // hung: no seam deadline cuts them short.
            .seam_timeout(Duration::from_secs(3600))
            .observer(probe.clone())
            .build()
            .expect("valid settings");
        Fixture { tasks, sessions, waker, probe, clock, handle: SchedulerHandle::new(scheduler), start }
    }

    /// Sleeps (paused tokio time auto-advances) until `s` seconds after construction.
    pub async fn until(&self, s: u64) {
        tokio::time::sleep_until(self.start + secs(s)).await;
    }

    /// Like [`until`](Self::until), with a fractional second.
    pub async fn until_ms(&self, ms: u64) {
        tokio::time::sleep_until(self.start + Duration::from_millis(ms)).await;
    }
}
