//! [`TokioClock`]: wall time for the scheduler's durable comparisons, tokio's timer for
//! its loop.

use std::future::Future;
use std::time::{Duration, SystemTime};

use scheduler_core::clock::{Clock, Timer};
use tokio::time::Instant;

/// A scheduler clock on tokio: [`Clock::now`] is wall time, [`Timer::sleep`] is
/// [`tokio::time::sleep`].
///
/// # Which wall time
///
/// The scheduler compares `now` with durable wall-clock times (a run's queued-at, a
/// starvation budget's timestamps) and also measures its interval with it, so `now`
/// must be wall time, and in tests it must move with tokio's paused clock. Two modes:
///
/// - **Anchored** ([`new`](Self::new), [`anchored_at`](Self::anchored_at), the
///   default): `now()` is a wall time captured at construction plus the
///   [`tokio::time::Instant`] elapsed since then. Under tokio's paused time
///   (`tokio::time::pause`/`advance`, or
///   `#[tokio::test(start_paused = true)]`) the wall clock therefore moves exactly as
///   far as tokio time does, so a test can advance the loop by fifteen seconds and see
///   every decision made fifteen seconds later. The price: after construction the clock
///   follows the monotonic clock, not the system's wall clock, so a later NTP step or a
///   machine suspend (the monotonic clock may not count it) is not seen. For a
///   long-lived daemon whose wall clock may be stepped, use `system`.
/// - **System** ([`system`](Self::system)): `now()` is [`SystemTime::now`] on every
///   call; only the sleeps follow tokio time. Correct wall time always, but paused tokio
///   time does not move it.
///
/// Either way the loop's sleeps are tokio timers, so the runtime must have its time
/// driver enabled (`#[tokio::main]` does; a hand-built runtime needs `enable_time`).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use scheduler_core::clock::Clock;
/// use scheduler_tokio::TokioClock;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// tokio::time::pause();
/// let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
/// let clock = TokioClock::anchored_at(start);
/// tokio::time::advance(Duration::from_secs(90)).await;
/// assert_eq!(clock.now(), start + Duration::from_secs(90));
/// # }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    anchor: Option<(SystemTime, Instant)>,
}

impl TokioClock {
    /// An anchored clock that reads the current wall time now and then moves with tokio
    /// time.
    pub fn new() -> Self {
        Self::anchored_at(SystemTime::now())
    }

    /// An anchored clock that reads `wall` now and then moves with tokio time: a test
    /// gets exact, reproducible wall times.
    pub fn anchored_at(wall: SystemTime) -> Self {
        TokioClock { anchor: Some((wall, Instant::now())) }
    }

    /// A clock that reads the system's wall clock on every call and sleeps on tokio's
    /// timer. Paused tokio time does not move it.
    pub fn system() -> Self {
        TokioClock { anchor: None }
    }

    /// The wall time an anchored clock started from (`None` for a system clock).
    pub fn anchor(&self) -> Option<SystemTime> {
        self.anchor.map(|(wall, _)| wall)
    }
}

impl Default for TokioClock {
    /// Same as [`TokioClock::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        match self.anchor {
            Some((wall, at)) => wall + at.elapsed(),
            None => SystemTime::now(),
        }
    }
}

impl Timer for TokioClock {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}
