//! Deadlines and panic containment for the seam calls a cycle makes (behaviour
//! section 8).
//!
//! [`Deadline`] races a future against a sleep made by a [`Timer`]. It is runtime-
//! agnostic (the sleep is whatever the scheduler's clock makes) and costs nothing when
//! the call answers at once: the inner future is polled first, and the sleep is only
//! made, lazily, the first time the inner future is pending. A steady cycle whose seams
//! answer without waiting therefore never touches the timer and allocates nothing.
//!
//! ```
//! use std::time::Duration;
//! use scheduler_core::deadline::{Deadline, Elapsed};
//! use scheduler_testkit::clock::FakeClock;
//! use scheduler_core::clock::Timer;
//!
//! let clock = FakeClock::at_unix(0);
//! let answered = Deadline::new(async { 7 }, || clock.sleep(Duration::from_secs(1)));
//! assert_eq!(futures::executor::block_on(answered), Ok(7));
//! assert_eq!(clock.sleepers(), 0); // the sleep was never made
//!
//! let hung = Deadline::new(std::future::pending::<()>(), || std::future::ready(()));
//! assert_eq!(futures::executor::block_on(hung), Err(Elapsed));
//! ```

use std::future::{Future, Pending};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt as _;
use pin_project::pin_project;

use crate::clock::Timer;

/// A call did not answer before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("deadline elapsed")]
pub struct Elapsed;

/// A future bounded by a sleep: it completes with the inner future's output, or with
/// [`Elapsed`] once the sleep completes first. The sleep is made by `start` the first
/// time the inner future is pending.
#[pin_project]
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Deadline<F, G, S> {
    #[pin]
    future: F,
    start: Option<G>,
    #[pin]
    sleep: Option<S>,
}

impl<F, G, S> Deadline<F, G, S>
where
    F: Future,
    G: FnOnce() -> S,
    S: Future<Output = ()>,
{
    /// Bounds `future` by the sleep `start` makes.
    pub fn new(future: F, start: G) -> Self {
        Deadline { future, start: Some(start), sleep: None }
    }
}

impl<F: Future> Deadline<F, fn() -> Pending<()>, Pending<()>> {
    /// `future` with no deadline at all.
    pub fn unbounded(future: F) -> Self {
        Deadline { future, start: None, sleep: None }
    }
}

impl<F, G, S> Future for Deadline<F, G, S>
where
    F: Future,
    G: FnOnce() -> S,
    S: Future<Output = ()>,
{
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(output) = this.future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if this.sleep.is_none() {
            if let Some(start) = this.start.take() {
                this.sleep.set(Some(start()));
            }
        }
        match this.sleep.as_pin_mut().map(|sleep| sleep.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(Elapsed)),
            _ => Poll::Pending,
        }
    }
}

/// How a guarded seam call failed without answering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Past the deadline.
    TimedOut(Duration),
    /// The call panicked; the payload's message.
    Panicked(String),
}

/// Whether the cycle's seam calls have deadlines: the loop's cycles do (its clock is a
/// [`Timer`]), a bare [`run_once`](crate::Scheduler::run_once) does not.
pub(crate) trait Limit<C> {
    /// `future` bounded by `timeout` on `clock`, or not at all.
    fn limit<F: Future + Send>(
        clock: &C,
        timeout: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> + Send;
}

/// No deadline.
pub(crate) enum Unbounded {}

impl<C> Limit<C> for Unbounded {
    fn limit<F: Future + Send>(
        _: &C,
        _: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> + Send {
        Deadline::unbounded(future)
    }
}

/// A deadline on the clock's timer.
pub(crate) enum Bounded {}

impl<C: Timer> Limit<C> for Bounded {
    fn limit<F: Future + Send>(
        clock: &C,
        timeout: Duration,
        future: F,
    ) -> impl Future<Output = Result<F::Output, Elapsed>> + Send {
        Deadline::new(future, move || clock.sleep(timeout))
    }
}

/// Runs one seam call with its panics contained and, under [`Bounded`], its deadline.
pub(crate) async fn guarded<L: Limit<C>, C, F: Future + Send>(
    clock: &C,
    timeout: Duration,
    future: F,
) -> Result<F::Output, Failure> {
    match L::limit(clock, timeout, AssertUnwindSafe(future).catch_unwind()).await {
        Ok(Ok(output)) => Ok(output),
        Ok(Err(payload)) => Err(Failure::Panicked(panic_message(payload.as_ref()).to_owned())),
        Err(Elapsed) => Err(Failure::TimedOut(timeout)),
    }
}

/// The text of a panic payload (`&str` or `String` payloads; anything else is named as
/// such). The payload is the one `dyn` the core touches: std gives no other way to
/// read a panic.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("seam exploded")).unwrap_err();
/// assert_eq!(scheduler_core::deadline::panic_message(payload.as_ref()), "seam exploded");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-text panic payload")
}
