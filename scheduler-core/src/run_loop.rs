//! The background loop: a runtime-agnostic future that runs a cycle every interval
//! until a shutdown signal, sleeping on the scheduler's [`Timer`].
//!
//! - Cycles never overlap: the next cycle starts only after the previous one ended.
//! - Interval cycles tick on a fixed grid from the first cycle; a cycle slower than the
//!   interval delays the next tick to the next grid point (missed ticks are skipped,
//!   never burst).
//! - A trigger item (`run_now`) runs an [`OnDemand`](CycleKind::OnDemand) cycle at once:
//!   it wakes but climbs no ladder (behaviour section 8), and it leaves the interval
//!   grid where it was, so the ladder climbs once per interval however often cycles are
//!   requested. An interval tick that fell due while an on-demand cycle ran runs right
//!   after it.
//! - Every seam call of the loop's cycles is bounded by
//!   [`Settings::seam_timeout`](crate::Settings::seam_timeout) on the loop's timer, and
//!   its panics are contained: the call fails, the cycle goes on.
//! - Cycle errors go to the observer and the statistics; they never end the loop.
//! - A cycle that panics outside a seam call (an observer, say) is contained at the
//!   cycle boundary: the panic is counted in [`Stats::cycle_panics`](crate::Stats),
//!   reported to the observer, and the loop goes on. The next cycle starts from clean
//!   buffers.
//! - Shutdown ends the loop at once, even while a seam call hangs: a cycle in flight is
//!   abandoned at its current await point (a cycle is safe to drop, see
//!   [`run_once`](Scheduler::run_once)), counted in
//!   [`Stats::cycles_abandoned`](crate::Stats::cycles_abandoned) and reported with
//!   [`Observer::cycle_abandoned`].
//!
//! Containing panics uses [`std::panic::catch_unwind`] (through `futures`), whose panic
//! payload is a `Box<dyn Any + Send>`: the only `dyn` the core touches, and only on that
//! path, because std gives no other way to read a panic.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::time::{Duration, SystemTime};

use futures::future::{Either, FutureExt, select};
use futures::stream::{Stream, StreamExt};

use crate::clock::Timer;
use crate::deadline::{Bounded, panic_message};
use crate::observer::Observer;
use crate::report::CycleKind;
use crate::scheduler::{Scheduler, SchedulerReport};
use crate::seam::{EscalationActor, PauseStore, SessionSource, StarvationStore, TaskSource, Waker};

impl<T, S, W, C, P, B, A, O> Scheduler<T, S, W, C, P, B, A, O>
where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    C: Timer,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
    O: Observer,
{
    /// Runs one cycle of `kind` as the loop does: like [`run_once`](Self::run_once),
    /// and every seam call is bounded by
    /// [`Settings::seam_timeout`](crate::Settings::seam_timeout) on the clock's timer
    /// (a call past it fails with [`Error::TimedOut`](crate::Error::TimedOut)). An
    /// [`OnDemand`](CycleKind::OnDemand) cycle skips the convergence ladder.
    ///
    /// ```
    /// # use scheduler_core::{CycleKind, Scheduler, clock::Timer, seam::*};
    /// # async fn run<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>, C: Timer>(
    /// #     scheduler: &mut Scheduler<T, S, W, C>) {
    /// let report = scheduler.run_cycle(CycleKind::OnDemand).await;
    /// assert_eq!(report.counts().spawns_requested, 0); // on demand: no escalation
    /// # }
    /// ```
    pub async fn run_cycle(&mut self, kind: CycleKind) -> SchedulerReport<'_, T, S, W, P, B, A> {
        self.run::<Bounded>(kind).await
    }

    /// Runs a cycle now and then every [`interval`](crate::Settings::interval) until
    /// `shutdown` completes.
    ///
    /// ```
    /// # use scheduler_core::{Scheduler, clock::Timer, seam::*};
    /// # async fn run<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>, C: Timer>(
    /// #     scheduler: &mut Scheduler<T, S, W, C>) {
    /// let (stop, stopped) = futures::channel::oneshot::channel::<()>();
    /// # drop(stop);
    /// scheduler.run_until(async { let _ = stopped.await; }).await;
    /// # }
    /// ```
    pub async fn run_until<F>(&mut self, shutdown: F)
    where
        F: Future<Output = ()>,
    {
        self.run_with_trigger(shutdown, futures::stream::pending()).await
    }

    /// Like [`run_until`](Self::run_until), and every item of `trigger` runs an
    /// [`OnDemand`](CycleKind::OnDemand) cycle at once (a "run now"): it wakes but does
    /// not climb the ladder, and the interval grid stays where it was. Items that
    /// arrive while a cycle runs are handled after it, one cycle per item: to coalesce
    /// requests, have the stream yield at most one item for all requests made since it
    /// last yielded (a pending flag swapped to `false` when the stream yields, for
    /// example; `scheduler-tokio`'s `run_now` works this way). A finished trigger stream
    /// is simply ignored.
    ///
    /// When `shutdown` completes during a cycle, the cycle is abandoned at once (see
    /// the [module docs](crate::run_loop)).
    ///
    /// The clock and timer are called outside the cycle's panic guard: a panicking
    /// clock ends the loop with that panic.
    pub async fn run_with_trigger<F, St>(&mut self, shutdown: F, trigger: St)
    where
        F: Future<Output = ()>,
        St: Stream<Item = ()>,
    {
        let mut shutdown = pin!(shutdown.fuse());
        let mut trigger = pin!(trigger.fuse());
        let interval = self.settings.interval;
        let mut kind = CycleKind::Interval;
        let mut next_tick = self.clock.now();
        loop {
            if (&mut shutdown).now_or_never().is_some() {
                return;
            }
            let started = self.clock.now();
            let finished = {
                let cycle = pin!(self.contained_cycle(kind));
                matches!(select(cycle, &mut shutdown).await, Either::Left(_))
            };
            if !finished {
                self.stats.record_abandoned();
                self.observer.cycle_abandoned(started);
                return;
            }
            let now = self.clock.now();
            if kind == CycleKind::Interval {
                next_tick = now + next_delay(interval, started, now);
            }
            let delay = next_tick.duration_since(now).unwrap_or_default().min(interval);
            kind = match self.sleep_or_trigger(delay, &mut shutdown, &mut trigger).await {
                None => return,
                Some(kind) => kind,
            };
        }
    }

    /// Sleeps `delay` or until a trigger item: the kind of the next cycle, or `None`
    /// on shutdown.
    async fn sleep_or_trigger<F, St>(
        &self,
        delay: Duration,
        shutdown: &mut std::pin::Pin<&mut futures::future::Fuse<F>>,
        trigger: &mut std::pin::Pin<&mut futures::stream::Fuse<St>>,
    ) -> Option<CycleKind>
    where
        F: Future<Output = ()>,
        St: Stream<Item = ()>,
    {
        let sleep = pin!(self.clock.sleep(delay));
        let next =
            if trigger.is_done() { Either::Left(futures::future::pending()) } else { Either::Right(trigger.next()) };
        match select(shutdown, select(sleep, next)).await {
            Either::Left(_) => None,
            Either::Right((Either::Left(_), _)) => Some(CycleKind::Interval),
            Either::Right((Either::Right((Some(()), _)), _)) => Some(CycleKind::OnDemand),
            // The trigger stream ended: wait for the tick (or shutdown) alone.
            Either::Right((Either::Right((None, sleep)), shutdown)) => match select(shutdown, sleep).await {
                Either::Left(_) => None,
                Either::Right(_) => Some(CycleKind::Interval),
            },
        }
    }

    /// One cycle with panics contained.
    async fn contained_cycle(&mut self, kind: CycleKind) {
        let stats = self.stats.clone();
        let outcome = AssertUnwindSafe(async {
            self.run_cycle(kind).await;
        })
        .catch_unwind()
        .await;
        if let Err(payload) = outcome {
            let message = panic_message(payload.as_ref());
            stats.record_panic(message);
            self.observer.cycle_panicked(message);
        }
    }
}

/// How long to sleep after a cycle that started at `started` and ended at `ended` so
/// that the next one starts on the interval grid, skipping grid points already missed.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use scheduler_core::run_loop::next_delay;
/// let t0 = SystemTime::UNIX_EPOCH;
/// let s = Duration::from_secs;
/// assert_eq!(next_delay(s(15), t0, t0 + s(1)), s(14));
/// assert_eq!(next_delay(s(15), t0, t0 + s(40)), s(5)); // ticks at 15 and 30 skipped
/// assert_eq!(next_delay(s(15), t0 + s(9), t0), s(15)); // wall clock stepped back
/// ```
pub fn next_delay(interval: Duration, started: SystemTime, ended: SystemTime) -> Duration {
    let elapsed = ended.duration_since(started).unwrap_or_default();
    if interval.is_zero() {
        return Duration::ZERO;
    }
    let into_period = Duration::from_nanos((elapsed.as_nanos() % interval.as_nanos()) as u64);
    interval - into_period
}

/// A scheduler a runtime can drive: every [`Scheduler`] whose clock is a [`Timer`]
/// implements it, whatever its seams.
///
/// A runtime crate (such as `scheduler-tokio`) takes `impl Runnable` instead of a
/// [`Scheduler`] with its eight type parameters and their bounds:
///
/// ```
/// use scheduler_core::Runnable;
///
/// /// Runs any runnable scheduler until `stop` completes.
/// async fn drive<R: Runnable>(mut scheduler: R, stop: impl std::future::Future<Output = ()> + Send) {
///     let stats = scheduler.stats_handle();
///     scheduler.run_with_trigger(stop, futures::stream::pending()).await;
///     println!("{} cycles", stats.snapshot().cycles);
/// }
/// ```
pub trait Runnable: Send {
    /// A cloneable handle that reads the statistics while the loop runs
    /// ([`Scheduler::stats_handle`]).
    fn stats_handle(&self) -> crate::StatsHandle;

    /// Runs the loop until `shutdown` completes, an on-demand cycle for every item of
    /// `trigger` ([`Scheduler::run_with_trigger`]).
    fn run_with_trigger<F, St>(&mut self, shutdown: F, trigger: St) -> impl Future<Output = ()> + Send
    where
        F: Future<Output = ()> + Send,
        St: Stream<Item = ()> + Send;
}

impl<T, S, W, C, P, B, A, O> Runnable for Scheduler<T, S, W, C, P, B, A, O>
where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    C: Timer,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
    O: Observer,
{
    fn stats_handle(&self) -> crate::StatsHandle {
        Scheduler::stats_handle(self)
    }

    fn run_with_trigger<F, St>(&mut self, shutdown: F, trigger: St) -> impl Future<Output = ()> + Send
    where
        F: Future<Output = ()> + Send,
        St: Stream<Item = ()> + Send,
    {
        Scheduler::run_with_trigger(self, shutdown, trigger)
    }
}
