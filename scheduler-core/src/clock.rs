//! Time: the wall clock every decision of a cycle is made with, and the timer the
//! background loop sleeps on.
//!
//! Durable times (queued-at, budget times) are wall-clock [`SystemTime`]s, so that they
//! compare with what a database stores. A cycle reads [`Clock::now`] once and uses that
//! instant for every decision. The loop additionally needs a [`Timer`]; the core has no
//! runtime, so [`SystemClock`] is a clock only: `scheduler-tokio` supplies a tokio
//! clock and timer, and `scheduler-testkit` a fake one whose `advance` fires due timers.
//!
//! A clock for another runtime is a few lines:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_core::clock::{Clock, Timer};
//!
//! #[derive(Clone)]
//! struct ThreadClock;
//!
//! impl Clock for ThreadClock {
//!     fn now(&self) -> SystemTime { SystemTime::now() }
//! }
//!
//! impl Timer for ThreadClock {
//!     // A blocking sleep is only fit for a toy executor; use your runtime's timer.
//!     async fn sleep(&self, duration: Duration) { std::thread::sleep(duration) }
//! }
//! ```

use std::future::Future;
use std::time::{Duration, SystemTime};

/// A source of wall-clock time.
pub trait Clock: Send + Sync {
    /// The current UTC wall time.
    fn now(&self) -> SystemTime;
}

/// A clock that can also sleep: what the background loop needs.
pub trait Timer: Clock {
    /// Completes once `duration` has passed on this clock.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send;
}

/// The operating system's wall clock. It has no timer: run cycles with
/// [`Scheduler::run_once`](crate::Scheduler::run_once), or use a runtime's clock for the
/// loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::sync::Arc<C> {
    fn now(&self) -> SystemTime {
        (**self).now()
    }
}

impl<C: Timer + ?Sized> Timer for std::sync::Arc<C> {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        (**self).sleep(duration)
    }
}
