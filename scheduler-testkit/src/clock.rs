//! A fake clock: wall time that moves only when a test says so, and timers that fire
//! when it moves past them.
//!
//! [`FakeClock`] is a cloneable handle; every clone sees the same time. It implements
//! [`Clock`] and [`Timer`], so the scheduler's background loop runs on it with no real
//! time passing: `advance` moves the time and wakes every sleep that became due.
//!
//! ```
//! use std::time::Duration;
//! use scheduler_core::clock::{Clock, Timer};
//! use scheduler_testkit::clock::FakeClock;
//!
//! let clock = FakeClock::at_unix(1_000);
//! let start = clock.now();
//! let mut sleep = Box::pin(clock.sleep(Duration::from_secs(10)));
//! let waker = futures::task::noop_waker();
//! let mut cx = std::task::Context::from_waker(&waker);
//! assert!(sleep.as_mut().poll(&mut cx).is_pending());
//! assert_eq!(clock.sleepers(), 1);
//! clock.advance(Duration::from_secs(10));
//! assert!(sleep.as_mut().poll(&mut cx).is_ready());
//! assert_eq!(clock.now(), start + Duration::from_secs(10));
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use scheduler_core::clock::{Clock, Timer};

#[derive(Debug)]
struct State {
    now: SystemTime,
    next_id: u64,
    sleepers: Vec<(u64, SystemTime, Option<Waker>)>,
}

/// A cloneable fake wall clock with timers.
#[derive(Debug, Clone)]
pub struct FakeClock(Arc<Mutex<State>>);

impl FakeClock {
    /// A clock reading `start`.
    pub fn new(start: SystemTime) -> Self {
        FakeClock(Arc::new(Mutex::new(State { now: start, next_id: 0, sleepers: Vec::new() })))
    }

    /// A clock reading `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Self {
        Self::new(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves the time forward by `by` and wakes every sleep now due.
    pub fn advance(&self, by: Duration) {
        let now = self.lock().now + by;
        self.set(now);
    }

    /// Sets the time (forward or back) and wakes every sleep now due.
    pub fn set(&self, now: SystemTime) {
        let due: Vec<Waker> = {
            let mut s = self.lock();
            s.now = now;
            s.sleepers.iter_mut().filter(|(_, at, _)| *at <= now).filter_map(|(_, _, w)| w.take()).collect()
        };
        due.into_iter().for_each(Waker::wake);
    }

    /// How many sleeps are pending (created, polled and not yet due or dropped).
    pub fn sleepers(&self) -> usize {
        let s = self.lock();
        s.sleepers.iter().filter(|(_, at, _)| *at > s.now).count()
    }

    /// The earliest pending sleep's deadline, if any.
    pub fn next_deadline(&self) -> Option<SystemTime> {
        let s = self.lock();
        s.sleepers.iter().map(|(_, at, _)| *at).filter(|at| *at > s.now).min()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        self.lock().now
    }
}

impl Timer for FakeClock {
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        let mut s = self.lock();
        let id = s.next_id;
        s.next_id += 1;
        let deadline = s.now + duration;
        s.sleepers.push((id, deadline, None));
        Sleep { clock: self.clone(), id, deadline }
    }
}

/// A pending sleep on a [`FakeClock`].
#[derive(Debug)]
struct Sleep {
    clock: FakeClock,
    id: u64,
    deadline: SystemTime,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.clock.lock();
        if s.now >= self.deadline {
            return Poll::Ready(());
        }
        if let Some(entry) = s.sleepers.iter_mut().find(|(id, _, _)| *id == self.id) {
            entry.2 = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.clock.lock().sleepers.retain(|(id, _, _)| *id != self.id);
    }
}
