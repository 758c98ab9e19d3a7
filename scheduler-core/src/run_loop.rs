//! The background loop: a runtime-agnostic future that runs a cycle every interval
//! until a shutdown signal, sleeping on the scheduler's [`Timer`].
//!
//! - Cycles never overlap: the next cycle starts only after the previous one ended.
//! - Ticks are on a fixed grid from the first cycle; a cycle slower than the interval
//!   delays the next tick to the next grid point (missed ticks are skipped, never
//!   burst).
//! - Cycle errors go to the observer and the statistics; they never end the loop.
//! - A cycle that panics (a user's source or waker panicking) is contained at the cycle
//!   boundary: the panic is counted in [`Stats::cycle_panics`](crate::Stats), reported to
//!   the observer, and the loop goes on. The next cycle starts from clean buffers.
//! - Shutdown lets a running cycle finish, then returns.
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
use crate::observer::Observer;
use crate::scheduler::Scheduler;
use crate::seam::{EscalationActor, PauseStore, SessionSource, StarvationStore, TaskSource, Waker};

/// Why the loop woke up from its sleep.
enum Wake {
    Shutdown,
    Tick,
    Trigger,
}

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

    /// Like [`run_until`](Self::run_until), and every item of `trigger` runs a cycle at
    /// once (a "run now"), then the interval grid restarts from that cycle. Items that
    /// arrive while a cycle runs are handled after it, one cycle per item: to coalesce
    /// requests, have the stream yield at most one item for all requests made since it
    /// last yielded (a pending flag swapped to `false` when the stream yields, for
    /// example; `scheduler-tokio`'s `run_now` works this way). A finished trigger stream
    /// is simply ignored.
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
        loop {
            if (&mut shutdown).now_or_never().is_some() {
                return;
            }
            let started = self.clock.now();
            self.contained_cycle().await;
            let delay = next_delay(interval, started, self.clock.now());
            let wake = {
                let sleep = pin!(self.clock.sleep(delay));
                let next = if trigger.is_done() {
                    Either::Left(futures::future::pending())
                } else {
                    Either::Right(trigger.next())
                };
                match select(&mut shutdown, select(sleep, next)).await {
                    Either::Left(_) => Wake::Shutdown,
                    Either::Right((Either::Left(_), _)) => Wake::Tick,
                    Either::Right((Either::Right((Some(()), _)), _)) => Wake::Trigger,
                    // The trigger stream ended: wait for the tick (or shutdown) alone.
                    Either::Right((Either::Right((None, sleep)), _)) => match select(&mut shutdown, sleep).await {
                        Either::Left(_) => Wake::Shutdown,
                        Either::Right(_) => Wake::Tick,
                    },
                }
            };
            match wake {
                Wake::Shutdown => return,
                Wake::Tick | Wake::Trigger => {}
            }
        }
    }

    /// One cycle with panics contained.
    async fn contained_cycle(&mut self) {
        let stats = self.stats.clone();
        let outcome = AssertUnwindSafe(async {
            self.run_once().await;
        })
        .catch_unwind()
        .await;
        if let Err(payload) = outcome {
            let message = payload
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
                .unwrap_or("non-text panic payload");
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
