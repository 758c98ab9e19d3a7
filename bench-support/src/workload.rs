//! The benchmark workloads `W(N, M)` of `spec/workloads.md`, and allocation-free seams
//! to run the scheduler over them.
//!
//! Everything is deterministic. [`Workload::new`] generates the rows exactly as the spec
//! defines them:
//!
//! - `N` pending runs `run-i` of tasks `task-i`: workspace `ws-(i%10)` (global when
//!   `i%20 == 19`), ready, priority by `i%4` (low, medium, high, urgent), queued,
//!   capabilities by `i%3` (`[rust]`, `[go, sqlite]`, none), channel `ch-(i%5)` when
//!   `i%7 == 0`, pool owner `agent-(i%3)` when `i%11 == 0`;
//! - `M` sessions `sess-j` of agent `agent-(j%3)`: workspace `ws-(j%10)` (global when
//!   `j%20 == 19`), `stopped` when `j%13 == 12` (else `active`), prompting when
//!   `j%9 == 8`, capabilities `[rust, go, sqlite]` for even `j` and `[go]` for odd,
//!   channel `ch-((j/5)%5)` when `j%5 == 0`, created at `T0 + j` ms;
//! - one `running` run `active-j` held by `sess-j` for each `j < M/10`;
//! - queued-at: [`Variant::Steady`] `clock start - (i%100) s`; [`Variant::Starved`]
//!   `T0` for every run.
//!
//! The seams hand out `Arc` clones of the rows into the scheduler's buffers, so reading
//! them allocates nothing once those buffers have grown: [`WorkloadTasks`] (its lease
//! sweep recovers nothing, every run status read answers `queued`),
//! [`WorkloadSessions`], [`NoopWaker`] (accepts batches, does nothing) and
//! [`NoopActor`] (every escalation succeeds and does nothing else).
//!
//! [`Workload::steady_scheduler`] and [`Workload::starved_scheduler`] build the
//! scheduler with the variant's settings over a [`FakeClock`] reading the clock start;
//! [`cycle`] advances that clock by [`CYCLE_STEP`] and runs one cycle, as the spec says.
//!
//! ```
//! use scheduler_bench_support::workload::{cycle, Workload};
//!
//! let w = Workload::steady(100, 10);
//! assert_eq!(w.runs.len(), 100);
//! let (mut scheduler, clock) = w.steady_scheduler();
//! let counts = cycle(&mut scheduler, &clock);
//! assert_eq!(counts.pending_runs, 100);
//! assert!(counts.wake_succeeded > 0);
//! assert_eq!(counts.starved_runs, 0);
//!
//! let w = Workload::starved(100, 10);
//! let (mut scheduler, clock) = w.starved_scheduler();
//! let counts = cycle(&mut scheduler, &clock);
//! assert_eq!(counts.starved_runs, 100); // every run is starved and on the ladder
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use scheduler_core::ladder::Thresholds;
use scheduler_core::model::{Priority, RunStatus, Scope, SessionState};
use scheduler_core::observer::Observer;
use scheduler_core::seam::{
    EscalationActor, MarkOutcome, PauseStore, Recovery, SessionSource, SpawnOutcome, StarvationStore, TaskSource,
    WakeBatch, WakeTarget, Waker,
};
use scheduler_core::view::RunView;
use scheduler_core::{CycleCounts, Scheduler};

use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::snapshot::{ActiveRun, OwnerRef, RecoveredLease, RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::MemoryStarvationStore;

/// `T0` in seconds after the Unix epoch: 2026-01-01T00:00:00Z.
pub const T0_UNIX_SECS: u64 = 1_767_225_600;

/// `T0`: 2026-01-01T00:00:00Z.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0_UNIX_SECS)
}

/// The clock's reading before the first cycle: `T0 + 1 h`.
pub fn clock_start() -> SystemTime {
    t0() + Duration::from_secs(3_600)
}

/// How far the clock moves before every cycle: 61 s, one more than the wake cooldown, so
/// every cycle does the full selection.
pub const CYCLE_STEP: Duration = Duration::from_secs(61);

/// The workload's variant (`spec/workloads.md`, "Variants").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// Starvation disabled, wake cooldown 1 min, no pause store, no starvation store,
    /// no escalation actor; run `i` queued `i%100` s before the clock start.
    Steady,
    /// Default ladder thresholds (2, 4, 6, 10; 2 min), every run queued at `T0`, an
    /// in-memory starvation store and an escalation actor that succeeds.
    Starved,
}

/// The rows of one `W(N, M)` workload.
#[derive(Debug, Clone)]
pub struct Workload {
    /// `N`.
    pub n: usize,
    /// `M`.
    pub m: usize,
    /// The variant.
    pub variant: Variant,
    /// The pending runs, `run-0` .. `run-(N-1)`.
    pub runs: Arc<[Arc<RunSnapshot>]>,
    /// The sessions, `sess-0` .. `sess-(M-1)`.
    pub sessions: Arc<[Arc<SessionSnapshot>]>,
    /// The active runs, one per `j < M/10`.
    pub active: Arc<[Arc<ActiveRun>]>,
}

/// The steady scheduler type: no pause store, no starvation store, no actor.
pub type SteadyScheduler = Scheduler<WorkloadTasks, WorkloadSessions, NoopWaker, FakeClock>;

/// The starved scheduler type: an in-memory starvation store and a [`NoopActor`].
pub type StarvedScheduler = Scheduler<
    WorkloadTasks,
    WorkloadSessions,
    NoopWaker,
    FakeClock,
    scheduler_core::seam::NoPauseStore,
    MemoryStarvationStore,
    NoopActor,
>;

impl Workload {
    /// Generates `W(n, m)` in `variant`.
    pub fn new(n: usize, m: usize, variant: Variant) -> Self {
        Workload {
            n,
            m,
            variant,
            runs: (0..n).map(|i| Arc::new(Self::run(i, variant))).collect(),
            sessions: (0..m).map(|j| Arc::new(Self::session(j))).collect(),
            active: (0..m / 10).map(|j| Arc::new(Self::active_run(j))).collect(),
        }
    }

    /// `W(n, m)`, steady variant.
    pub fn steady(n: usize, m: usize) -> Self {
        Self::new(n, m, Variant::Steady)
    }

    /// `W(n, m)`, starved variant.
    pub fn starved(n: usize, m: usize) -> Self {
        Self::new(n, m, Variant::Starved)
    }

    /// `W_distinct(n, m)` of `spec/workloads.md` ("Harder shapes"), in `variant`:
    /// `W(n, m)`, except that session `j` also has the capability `k-j`, and run `i`
    /// requires exactly `[k-a, k-b]` with `a = i % m` and `b = (a + 1 + i / m) % m`.
    /// No session holds both, so every run is a no-match, and nearly every run is a
    /// requirement class of its own.
    ///
    /// ```
    /// use scheduler_bench_support::workload::{cycle, Workload};
    /// let w = Workload::distinct(200, 20);
    /// assert_eq!(w.runs[45].required_capabilities, ["k-5", "k-8"]);
    /// assert_eq!(w.sessions[3].capabilities, ["go", "k-3"]);
    /// let (mut scheduler, clock) = w.steady_scheduler();
    /// let counts = cycle(&mut scheduler, &clock);
    /// assert_eq!((counts.no_match_runs, counts.wake_succeeded), (200, 0));
    /// ```
    pub fn distinct(n: usize, m: usize) -> Self {
        Self::distinct_in(n, m, Variant::Steady)
    }

    /// [`distinct`](Self::distinct) in either variant.
    pub fn distinct_in(n: usize, m: usize, variant: Variant) -> Self {
        assert!(m > 0, "W_distinct needs sessions");
        Workload {
            n,
            m,
            variant,
            runs: (0..n).map(|i| Arc::new(Self::distinct_run(i, m, variant))).collect(),
            sessions: (0..m).map(|j| Arc::new(Self::distinct_session(j))).collect(),
            active: (0..m / 10).map(|j| Arc::new(Self::active_run(j))).collect(),
        }
    }

    /// Pending run `i` of `W_distinct(_, m)`: run `i` of `W`, requiring `[k-a, k-b]`.
    pub fn distinct_run(i: usize, m: usize, variant: Variant) -> RunSnapshot {
        let mut run = Self::run(i, variant);
        let a = i % m;
        let b = (a + 1 + i / m) % m;
        run.required_capabilities = vec![format!("k-{a}"), format!("k-{b}")];
        run
    }

    /// Session `j` of `W_distinct`: session `j` of `W`, with the capability `k-j` too.
    pub fn distinct_session(j: usize) -> SessionSnapshot {
        let mut s = Self::session(j);
        s.capabilities.push(format!("k-{j}"));
        s
    }

    /// Pending run `i` of the variant.
    pub fn run(i: usize, variant: Variant) -> RunSnapshot {
        let mut run = RunSnapshot::queued(format!("run-{i}"), format!("task-{i}"));
        run = if i % 20 == 19 { run.scope(Scope::Global, "") } else { run.workspace(format!("ws-{}", i % 10)) };
        run = run.priority(match i % 4 {
            0 => Priority::Low,
            1 => Priority::Medium,
            2 => Priority::High,
            _ => Priority::Urgent,
        });
        run = match i % 3 {
            0 => run.caps(["rust"]),
            1 => run.caps(["go", "sqlite"]),
            _ => run,
        };
        if i % 7 == 0 {
            run = run.channel(format!("ch-{}", i % 5));
        }
        if i % 11 == 0 {
            run = run.owner(OwnerRef::Pool(format!("agent-{}", i % 3)));
        }
        let queued_at = match variant {
            Variant::Steady => clock_start() - Duration::from_secs((i % 100) as u64),
            Variant::Starved => t0(),
        };
        run.queued_at(queued_at)
    }

    /// Session `j`.
    pub fn session(j: usize) -> SessionSnapshot {
        let mut s = SessionSnapshot::active(format!("sess-{j}"))
            .agent(format!("agent-{}", j % 3))
            .created_at(t0() + Duration::from_millis(j as u64));
        if j % 20 != 19 {
            s = s.workspace(format!("ws-{}", j % 10));
        }
        if j % 13 == 12 {
            s = s.state(SessionState::Stopped);
        }
        if j % 9 == 8 {
            s = s.prompting();
        }
        s = if j % 2 == 0 { s.caps(["rust", "go", "sqlite"]) } else { s.caps(["go"]) };
        if j % 5 == 0 {
            s = s.channel(format!("ch-{}", (j / 5) % 5));
        }
        s
    }

    /// The active run held by session `j` (`j < M/10`).
    pub fn active_run(j: usize) -> ActiveRun {
        ActiveRun::new(format!("active-{j}"), format!("sess-{j}"), RunStatus::Running)
    }

    /// A task source over the pending and active runs.
    pub fn tasks(&self) -> WorkloadTasks {
        WorkloadTasks { runs: self.runs.clone(), active: self.active.clone() }
    }

    /// A session source over the sessions.
    pub fn session_source(&self) -> WorkloadSessions {
        WorkloadSessions { sessions: self.sessions.clone() }
    }

    /// A fake clock reading [`clock_start`].
    pub fn clock() -> FakeClock {
        FakeClock::new(clock_start())
    }

    /// The steady variant's scheduler (starvation disabled, 1 min wake cooldown) and
    /// its clock, reading [`clock_start`]. Works for either variant's rows.
    pub fn steady_scheduler(&self) -> (SteadyScheduler, FakeClock) {
        let clock = Self::clock();
        let scheduler = Scheduler::builder(self.tasks(), self.session_source(), NoopWaker)
            .clock(clock.clone())
            .wake_cooldown(Duration::from_secs(60))
            .starvation_age(Duration::ZERO)
            .build()
            .expect("valid settings");
        (scheduler, clock)
    }

    /// The starved variant's scheduler (default thresholds, a fresh
    /// [`MemoryStarvationStore`], a [`NoopActor`]) and its clock, reading
    /// [`clock_start`]. The store is reachable through
    /// [`starved_scheduler_with_store`](Self::starved_scheduler_with_store).
    pub fn starved_scheduler(&self) -> (StarvedScheduler, FakeClock) {
        self.starved_scheduler_with_store(MemoryStarvationStore::new())
    }

    /// As [`starved_scheduler`](Self::starved_scheduler), over the given store.
    pub fn starved_scheduler_with_store(&self, store: MemoryStarvationStore) -> (StarvedScheduler, FakeClock) {
        self.starved_scheduler_over(store)
    }

    /// As [`starved_scheduler`](Self::starved_scheduler), over any starvation store
    /// (a [`Metered`](crate::metered::Metered) one, say).
    pub fn starved_scheduler_over<B: StarvationStore>(
        &self,
        store: B,
    ) -> (
        Scheduler<
            WorkloadTasks,
            WorkloadSessions,
            NoopWaker,
            FakeClock,
            scheduler_core::seam::NoPauseStore,
            B,
            NoopActor,
        >,
        FakeClock,
    ) {
        let clock = Self::clock();
        let scheduler = Scheduler::builder(self.tasks(), self.session_source(), NoopWaker)
            .clock(clock.clone())
            .wake_cooldown(Duration::from_secs(60))
            .starvation_thresholds(Thresholds::DEFAULT)
            .starvation_store(store)
            .escalation_actor(NoopActor)
            .build()
            .expect("valid settings");
        (scheduler, clock)
    }
}

/// Advances `clock` by [`CYCLE_STEP`] and runs one cycle of `scheduler` to completion on
/// the calling thread (see [`block_on_ready`]); returns the cycle's counts.
///
/// # Panics
/// When the cycle's future is not ready after many polls (a seam that waits on
/// something else).
pub fn cycle<T, S, W, P, B, A, O>(
    scheduler: &mut Scheduler<T, S, W, FakeClock, P, B, A, O>,
    clock: &FakeClock,
) -> CycleCounts
where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
    O: Observer,
{
    clock.advance(CYCLE_STEP);
    block_on_ready(async { *scheduler.run_once().await.counts() })
}

/// Drives a future that needs no outside event to complete (every seam answers at once,
/// as the in-memory ones do) on the calling thread, polling it with a no-op waker.
/// Allocates nothing.
///
/// # Panics
/// When the future is still pending after a million polls.
pub fn block_on_ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    for _ in 0..1_000_000 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::hint::spin_loop();
    }
    panic!("block_on_ready: the future is waiting on something that never happens");
}

/// The workload's task source: hands out `Arc` clones of the rows; its lease sweep
/// recovers nothing; every run status read answers `queued` (batch reads too, in one
/// call, without allocating).
#[derive(Debug, Clone)]
pub struct WorkloadTasks {
    runs: Arc<[Arc<RunSnapshot>]>,
    active: Arc<[Arc<ActiveRun>]>,
}

impl TaskSource for WorkloadTasks {
    type Run = Arc<RunSnapshot>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = Arc<RecoveredLease>;
    type Error = Infallible;

    async fn recover_expired_leases(&self, _: Recovery<'_>, _: &mut Vec<Self::Recovered>) -> Result<(), Infallible> {
        Ok(())
    }

    async fn pending_runs(&self, out: &mut Vec<Self::Run>) -> Result<(), Infallible> {
        out.extend(self.runs.iter().cloned());
        Ok(())
    }

    async fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> Result<(), Infallible> {
        out.extend(self.active.iter().cloned());
        Ok(())
    }

    async fn run_status(&self, _: &str) -> Result<Option<RunStatus>, Infallible> {
        Ok(Some(RunStatus::Queued))
    }

    async fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, Infallible>>,
    ) -> Result<(), Infallible>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        out.extend(run_ids.map(|_| Ok(Some(RunStatus::Queued))));
        Ok(())
    }
}

/// The workload's session source: hands out `Arc` clones of the sessions.
#[derive(Debug, Clone)]
pub struct WorkloadSessions {
    sessions: Arc<[Arc<SessionSnapshot>]>,
}

impl SessionSource for WorkloadSessions {
    type Session = Arc<SessionSnapshot>;
    type Error = Infallible;

    async fn sessions(&self, out: &mut Vec<Self::Session>) -> Result<(), Infallible> {
        out.extend(self.sessions.iter().cloned());
        Ok(())
    }
}

/// A waker that accepts batches and does nothing: every wake succeeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopWaker;

impl<R: Sync, S: Sync> Waker<R, S> for NoopWaker {
    type Error = Infallible;

    async fn wake(&self, _: WakeTarget<'_, R, S>) -> Result<(), Infallible> {
        Ok(())
    }

    async fn wake_batch<'a>(&'a self, batch: WakeBatch<'a, R, S>, out: &'a mut Vec<Result<(), Infallible>>) {
        out.extend((0..batch.len()).map(|_| Ok(())));
    }
}

/// An escalation actor whose every call succeeds (spawn requested, event emitted, run
/// marked) and does nothing else.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopActor;

impl<R: RunView + Sync> EscalationActor<R> for NoopActor {
    type Error = Infallible;

    async fn request_spawn(&self, _: &R, _: SystemTime) -> Result<SpawnOutcome, Infallible> {
        Ok(SpawnOutcome::Requested)
    }

    async fn emit_starved(&self, _: &R, _: Duration, _: SystemTime) -> Result<(), Infallible> {
        Ok(())
    }

    async fn mark_needs_attention(&self, _: &R, _: &str, _: SystemTime) -> Result<MarkOutcome, Infallible> {
        Ok(MarkOutcome::Marked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_the_spec() {
        let r19 = Workload::run(19, Variant::Steady);
        assert_eq!(r19.scope, Scope::Global);
        assert_eq!(r19.workspace_id, "");
        let r0 = Workload::run(0, Variant::Steady);
        assert_eq!((r0.workspace_id.as_str(), r0.priority, r0.channel.as_str()), ("ws-0", Priority::Low, "ch-0"));
        assert_eq!(r0.owner, OwnerRef::Pool("agent-0".into()));
        assert_eq!(r0.required_capabilities, ["rust"]);
        let r7 = Workload::run(7, Variant::Steady);
        assert_eq!((r7.priority, r7.channel.as_str()), (Priority::Urgent, "ch-2"));
        assert_eq!(r7.required_capabilities, ["go", "sqlite"]);
        assert_eq!(r7.queued_at, Some(clock_start() - Duration::from_secs(7)));
        assert_eq!(Workload::run(7, Variant::Starved).queued_at, Some(t0()));
        let s = Workload::session(25);
        assert_eq!((s.workspace_id.as_str(), s.channel.as_str(), s.agent_name.as_str()), ("ws-5", "ch-0", "agent-1"));
        assert_eq!(s.capabilities, ["go"]);
        assert_eq!(s.created_at, t0() + Duration::from_millis(25));
        assert_eq!(Workload::session(12).state, SessionState::Stopped);
        assert!(Workload::session(8).prompting);
        assert_eq!(Workload::session(39).workspace_id, "");
        let w = Workload::steady(100, 30);
        assert_eq!(w.active.len(), 3);
        assert_eq!(w.active[2].session_id, "sess-2");
        assert_eq!(t0().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_767_225_600);
    }
}
