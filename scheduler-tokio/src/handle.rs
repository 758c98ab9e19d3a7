//! [`SchedulerHandle`]: starts the core's loop on tokio and owns its lifecycle.

use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::FutureExt as _;
use scheduler_core::deadline::panic_message;
use scheduler_core::{Runnable, Stats, StatsHandle, Stopped};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::trigger::Trigger;

/// The loop future, type-erased so the handle does not carry the scheduler's eight
/// type parameters. Boxed once per scheduler, at start.
type LoopFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
/// Builds the loop future from its stop token and trigger.
type Launch = Box<dyn FnOnce(CancellationToken, Arc<Trigger>) -> LoopFuture + Send + 'static>;

/// Why [`SchedulerHandle::start`] refused to start the loop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The scheduler was shut down, or its loop ended because its token was cancelled:
    /// a stopped scheduler cannot be started again.
    #[error(transparent)]
    Stopped(#[from] Stopped),
    /// The token given to `start` was already cancelled; nothing was started and the
    /// scheduler can still be started with a live token.
    #[error("scheduler: not started: the cancellation token given to start was already cancelled")]
    TokenCancelled,
    /// `start` was called outside a tokio runtime; nothing was started.
    #[error("scheduler: not started: start must be called from within a tokio runtime")]
    NoRuntime,
}

/// Why a [`SchedulerHandle::shutdown`] (or its bounded forms) did not finish cleanly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShutdownError {
    /// The deadline passed before the loop ended. The loop abandons a cycle in flight
    /// at once, so this happens only when the loop cannot be polled at all (a seam
    /// blocking its thread, a starved runtime). The loop has been told to stop; call
    /// `shutdown` again to keep waiting.
    #[error("scheduler: shutdown deadline passed before the loop finished; call shutdown again to keep waiting")]
    DeadlineElapsed,
    /// The loop panicked outside a cycle (cycle panics are contained and counted in
    /// [`Stats::cycle_panics`]; this is the clock or timer panicking). The loop is
    /// stopped. Reported once; later shutdowns succeed.
    #[error("scheduler: the loop panicked outside a cycle: {0}")]
    LoopPanicked(String),
}

/// Where a scheduler is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoopState {
    /// Built, not started yet.
    NotStarted,
    /// The loop runs.
    Running,
    /// Shutdown was requested or the start token was cancelled; the loop has not ended
    /// yet (it ends at its next poll). Starting now fails with [`Stopped`].
    Stopping,
    /// The loop has ended (or the scheduler was shut down before it started).
    Stopped,
}

enum State {
    NotStarted(Launch),
    Running { stop: CancellationToken },
    Stopped { panic: Option<String> },
}

struct Shared {
    state: Mutex<State>,
    stats: StatsHandle,
    trigger: Arc<Trigger>,
    /// Cancelled once the loop has ended (or was dropped unstarted by a shutdown).
    done: CancellationToken,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing runs user code under this lock, so a poisoned lock still holds a
        // coherent state.
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Marks the loop finished when the spawned task ends, however it ends: normally, by
/// a panic, or by being dropped unpolled when the runtime shuts down.
struct Finish {
    shared: Arc<Shared>,
    panic: Option<String>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        *self.shared.lock() = State::Stopped { panic: self.panic.take() };
        self.shared.done.cancel();
    }
}

/// A handle to a scheduler whose loop runs (or will run) on tokio: start it, trigger a
/// cycle now, read its statistics, shut it down. Cheap to clone; every method takes
/// `&self` and may be called from any thread.
///
/// The loop is the core's [`Scheduler::run_with_trigger`](scheduler_core::Scheduler::run_with_trigger): a cycle at start, then
/// one every interval on a fixed grid; a cycle slower than the interval makes the loop
/// skip the grid points it missed (cycles never overlap, missed ticks never burst);
/// every seam call is bounded by
/// [`Settings::seam_timeout`](scheduler_core::Settings::seam_timeout) and a panicking
/// call counts as that call failing; cycle errors go to the observer and the
/// statistics; a cycle that panics elsewhere is counted in [`Stats::cycle_panics`] and
/// the loop goes on. [`run_now`](Self::run_now) runs an on-demand cycle, which wakes
/// but does not climb the convergence ladder (behaviour section 8).
///
/// Lifecycle (behaviour section 5):
///
/// - [`start`](Self::start) launches the loop. Starting a running scheduler is a no-op.
///   Starting after shutdown, or after the loop ended because its token was
///   cancelled, fails with [`Stopped`]. Starting with an already-cancelled token fails
///   with [`StartError::TokenCancelled`] and leaves the scheduler startable.
/// - Cancelling the token the loop was started with ends the loop; the scheduler then
///   counts as stopped.
/// - [`shutdown`](Self::shutdown) stops the loop and waits for it to end;
///   [`shutdown_within`](Self::shutdown_within) and [`shutdown_by`](Self::shutdown_by)
///   bound the wait: past the deadline they fail with
///   [`ShutdownError::DeadlineElapsed`] and can be called again to keep waiting. Once it has succeeded, further shutdowns succeed
///   and do nothing.
/// - Either way, a cycle in flight is abandoned at its current await point, even while
///   a seam call hangs (behaviour section 8): it is counted in
///   [`Stats::cycles_abandoned`] and reported to the observer
///   ([`Observer::cycle_abandoned`](scheduler_core::observer::Observer::cycle_abandoned)). A cycle is safe to drop: durable state converges
///   on the next start.
///
/// Dropping every handle does not stop the loop (like dropping a
/// [`tokio::task::JoinHandle`]); cancel its token or shut it down.
///
/// ```
/// # use scheduler_testkit::{scripted::{ScriptedSessions, ScriptedTasks}, waker::RecordingWaker};
/// use std::time::Duration;
/// use scheduler_core::{Scheduler, Stopped};
/// use scheduler_tokio::{LoopState, SchedulerHandle, StartError, TokioClock};
/// use tokio_util::sync::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// # let (tasks, sessions, waker) = (ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::batch());
/// let scheduler = Scheduler::builder(tasks, sessions, waker).clock(TokioClock::new()).build().unwrap();
/// let handle = SchedulerHandle::new(scheduler);
/// let token = CancellationToken::new();
/// handle.start(&token).unwrap();
/// handle.start(&token).unwrap(); // a no-op
///
/// tokio::time::sleep(Duration::from_secs(40)).await; // paused time: cycles at 0, 15 and 30 s
/// assert_eq!(handle.stats().cycles, 3);
///
/// token.cancel();
/// handle.stopped().await;
/// assert_eq!(handle.state(), LoopState::Stopped);
/// assert_eq!(handle.start(&CancellationToken::new()), Err(StartError::Stopped(Stopped)));
/// assert_eq!(handle.shutdown_within(Duration::from_secs(1)).await, Ok(()));
/// # }
/// ```
#[derive(Clone)]
pub struct SchedulerHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for SchedulerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerHandle").field("state", &self.state()).finish_non_exhaustive()
    }
}

impl SchedulerHandle {
    /// Takes ownership of a scheduler, without starting it. Needs no runtime.
    ///
    /// Any [`Runnable`] will do: every [`Scheduler`](scheduler_core::Scheduler) whose
    /// clock is a [`Timer`](scheduler_core::clock::Timer) is one. The scheduler's clock is its loop's timer: use
    /// [`TokioClock`](crate::TokioClock) (or any [`Timer`](scheduler_core::clock::Timer), such as a test's fake clock).
    pub fn new<R: Runnable + 'static>(scheduler: R) -> Self {
        let stats = Runnable::stats_handle(&scheduler);
        let launch: Launch = Box::new(move |stop: CancellationToken, trigger: Arc<Trigger>| -> LoopFuture {
            let mut scheduler = scheduler;
            Box::pin(async move {
                Runnable::run_with_trigger(&mut scheduler, stop.cancelled_owned(), trigger.stream()).await;
            })
        });
        SchedulerHandle {
            shared: Arc::new(Shared {
                state: Mutex::new(State::NotStarted(launch)),
                stats,
                trigger: Arc::default(),
                done: CancellationToken::new(),
            }),
        }
    }

    /// Launches the loop on the current tokio runtime; it runs until `token` is
    /// cancelled or [`shutdown`](Self::shutdown) is called. The first cycle runs at
    /// once.
    ///
    /// The checks, in order: a stopped (or stopping) scheduler fails with [`Stopped`];
    /// a running one returns `Ok` and changes nothing (the new token is ignored); a
    /// cancelled `token` fails with [`StartError::TokenCancelled`]; outside a runtime,
    /// [`StartError::NoRuntime`].
    ///
    /// # Errors
    /// See above; on every error nothing was started.
    pub fn start(&self, token: &CancellationToken) -> Result<(), StartError> {
        let mut state = self.shared.lock();
        match &*state {
            State::Stopped { .. } => return Err(Stopped.into()),
            State::Running { stop } if stop.is_cancelled() => return Err(Stopped.into()),
            State::Running { .. } => return Ok(()),
            State::NotStarted(_) => {}
        }
        if token.is_cancelled() {
            return Err(StartError::TokenCancelled);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        // A child token: shutdown cancels the loop without cancelling the caller's token,
        // and cancelling the caller's token cancels the loop.
        let stop = token.child_token();
        let State::NotStarted(launch) = std::mem::replace(&mut *state, State::Running { stop: stop.clone() }) else {
            unreachable!("checked above under the same lock")
        };
        drop(state);
        let run = launch(stop, Arc::clone(&self.shared.trigger));
        let mut finish = Finish { shared: Arc::clone(&self.shared), panic: None };
        runtime.spawn(async move {
            if let Err(payload) = AssertUnwindSafe(run).catch_unwind().await {
                finish.panic = Some(panic_message(payload.as_ref()).to_owned());
            }
            drop(finish);
        });
        Ok(())
    }

    /// Asks for a cycle now. If a cycle is running, one more cycle runs right after it;
    /// any number of requests made before that cycle starts are served by it
    /// (coalesced).
    ///
    /// The requested cycle is *on demand* ([`CycleKind::OnDemand`](scheduler_core::CycleKind)):
    /// it sweeps, selects, wakes and fans out, but advances no starvation budget and
    /// escalates nothing, and the interval grid stays where it was. So calling this
    /// after every enqueue wakes sessions at once without speeding up the ladder: a
    /// starved run still waits its thresholds in interval cycles before it is
    /// escalated.
    ///
    /// Returns whether the request reached a running loop; before start and after stop
    /// it does nothing and returns `false`.
    pub fn run_now(&self) -> bool {
        let state = self.shared.lock();
        match &*state {
            State::Running { stop } if !stop.is_cancelled() => {
                self.shared.trigger.request();
                true
            }
            _ => false,
        }
    }

    /// A consistent snapshot of the scheduler's statistics, taken under the lock each
    /// cycle records under; callable while the loop runs.
    pub fn stats(&self) -> Stats {
        self.shared.stats.snapshot()
    }

    /// A cloneable handle to the statistics alone.
    pub fn stats_handle(&self) -> StatsHandle {
        self.shared.stats.clone()
    }

    /// Where the scheduler is in its life.
    pub fn state(&self) -> LoopState {
        match &*self.shared.lock() {
            State::NotStarted(_) => LoopState::NotStarted,
            State::Running { stop } if stop.is_cancelled() => LoopState::Stopping,
            State::Running { .. } => LoopState::Running,
            State::Stopped { .. } => LoopState::Stopped,
        }
    }

    /// Whether the scheduler is stopped: shut down, or its loop ended.
    pub fn is_stopped(&self) -> bool {
        self.state() == LoopState::Stopped
    }

    /// Completes once the loop has ended (for a scheduler that never started: once it
    /// was shut down). Does not ask the loop to stop.
    pub async fn stopped(&self) {
        self.shared.done.cancelled().await;
    }

    /// Stops the loop and waits for it to end, however long that takes. A cycle in
    /// flight is abandoned at its current await point (counted in
    /// [`Stats::cycles_abandoned`]); no new cycle starts. A scheduler that never
    /// started is stopped at once (its scheduler is dropped).
    ///
    /// The loop abandons a cycle at once, so this waits only as long as the loop cannot
    /// be polled (a seam blocking its thread); [`shutdown_within`](Self::shutdown_within)
    /// and [`shutdown_by`](Self::shutdown_by) bound the wait.
    ///
    /// # Errors
    /// [`ShutdownError::LoopPanicked`] once, if the loop panicked outside a cycle.
    pub async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.request_stop();
        self.shared.done.cancelled().await;
        self.take_panic()
    }

    /// [`shutdown`](Self::shutdown), waiting until `deadline` (tokio time) at most.
    ///
    /// Must be awaited within a tokio runtime (it uses tokio's timer).
    ///
    /// # Errors
    /// [`ShutdownError::DeadlineElapsed`] when the deadline passes first: the loop is
    /// still told to stop, and calling a shutdown again waits for it.
    /// [`ShutdownError::LoopPanicked`] once, if the loop panicked outside a cycle.
    pub async fn shutdown_by(&self, deadline: Instant) -> Result<(), ShutdownError> {
        self.request_stop();
        if tokio::time::timeout_at(deadline, self.shared.done.cancelled()).await.is_err() {
            return Err(ShutdownError::DeadlineElapsed);
        }
        self.take_panic()
    }

    /// [`shutdown_by`](Self::shutdown_by) with a deadline `timeout` from now (tokio
    /// time).
    ///
    /// # Errors
    /// As [`shutdown_by`](Self::shutdown_by).
    pub async fn shutdown_within(&self, timeout: Duration) -> Result<(), ShutdownError> {
        self.shutdown_by(Instant::now() + timeout).await
    }

    /// Tells the loop to stop; a scheduler that never started is dropped at once.
    fn request_stop(&self) {
        let unstarted = {
            let mut state = self.shared.lock();
            match &*state {
                State::NotStarted(_) => Some(std::mem::replace(&mut *state, State::Stopped { panic: None })),
                State::Running { stop } => {
                    stop.cancel();
                    None
                }
                State::Stopped { .. } => None,
            }
        };
        if let Some(unstarted) = unstarted {
            // Drop the scheduler outside the lock.
            drop(unstarted);
            self.shared.done.cancel();
        }
    }

    /// After the loop ended: its panic outside a cycle, reported once.
    fn take_panic(&self) -> Result<(), ShutdownError> {
        match &mut *self.shared.lock() {
            State::Stopped { panic } => panic.take().map_or(Ok(()), |m| Err(ShutdownError::LoopPanicked(m))),
            _ => Ok(()),
        }
    }
}

/// Takes ownership of `scheduler` and starts its loop on the current tokio runtime with
/// a fresh token: it runs until [`SchedulerHandle::shutdown`].
///
/// ```
/// # use scheduler_testkit::{scripted::{ScriptedSessions, ScriptedTasks}, waker::RecordingWaker};
/// use std::time::Duration;
/// use scheduler_core::Scheduler;
/// use scheduler_tokio::TokioClock;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let (tasks, sessions, waker) = (ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::batch());
/// let scheduler = Scheduler::builder(tasks, sessions, waker).clock(TokioClock::new()).build()?;
/// let handle = scheduler_tokio::spawn(scheduler)?;
/// handle.shutdown_within(Duration::from_secs(5)).await?;
/// assert!(handle.is_stopped());
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`StartError::NoRuntime`] outside a tokio runtime.
pub fn spawn<R: Runnable + 'static>(scheduler: R) -> Result<SchedulerHandle, StartError> {
    let handle = SchedulerHandle::new(scheduler);
    handle.start(&CancellationToken::new())?;
    Ok(handle)
}
