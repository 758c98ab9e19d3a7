//! Run [`scheduler_core`]'s scheduler on tokio.
//!
//! The loop itself is the core's runtime-agnostic
//! [`Scheduler::run_with_trigger`](scheduler_core::Scheduler::run_with_trigger); this
//! crate is the glue around it:
//!
//! - [`TokioClock`]: wall time for the scheduler's durable comparisons, tokio's timer
//!   for its loop, so `tokio::time::pause`/`advance` drive the loop in tests.
//! - [`SchedulerHandle`]: starts the loop on a tokio runtime with a
//!   [`CancellationToken`](tokio_util::sync::CancellationToken), triggers a cycle now
//!   ([`run_now`](SchedulerHandle::run_now)), reads the statistics while it runs, and
//!   shuts it down within a deadline. [`spawn`] is new-and-start in one call.
//! - [`mailbox`]: in-process wake delivery: each session registers a mailbox, and
//!   [`MailboxWaker`](mailbox::MailboxWaker) hands every wake to the session it targets.
//!
//! # A daemon's scheduler
//!
//! ```
//! # use scheduler_testkit::{scripted::{ScriptedSessions, ScriptedTasks}, waker::RecordingWaker};
//! use std::time::Duration;
//! use scheduler_core::Scheduler;
//! use scheduler_tokio::{SchedulerHandle, TokioClock};
//! use tokio_util::sync::CancellationToken;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let (tasks, sessions, waker) = (ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::batch());
//! // `tasks`, `sessions`, `waker`: your task service, session registry and notifier.
//! let scheduler = Scheduler::builder(tasks, sessions, waker)
//!     .clock(TokioClock::new())
//!     .interval(Duration::from_secs(15))
//!     .build()?;
//! let daemon = CancellationToken::new(); // cancelled when the daemon exits
//! let handle = SchedulerHandle::new(scheduler);
//! handle.start(&daemon)?; // first cycle now, then every 15 s
//! handle.run_now(); // e.g. right after enqueueing work: wakes now, climbs no ladder
//! println!("{:?}", handle.stats());
//! handle.shutdown_within(Duration::from_secs(5)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Lifecycle
//!
//! As behaviour section 5 says: starting twice is a no-op; starting after shutdown
//! fails with [`Stopped`](scheduler_core::Stopped); starting with an already-cancelled
//! token fails ([`StartError::TokenCancelled`]); cancelling the start token ends the
//! loop and the scheduler counts as stopped; a shutdown that passes its deadline fails
//! ([`ShutdownError::DeadlineElapsed`]) and may be called again to finish; shutdown
//! after shutdown succeeds and does nothing. Cycles never overlap, a slow cycle makes
//! the loop skip the ticks it missed, and a cycle that panics is counted in
//! [`Stats::cycle_panics`](scheduler_core::Stats::cycle_panics) while the loop goes on.
//!
//! # A misbehaving world (behaviour section 8)
//!
//! Every seam call the loop makes has a deadline
//! ([`Builder::seam_timeout`](scheduler_core::Builder::seam_timeout), 10 s by default)
//! and its panics are contained: a hung or panicking call fails like any other failure
//! of that call, and the cycle goes on. Shutdown and the start token end the loop even
//! while a call hangs: the cycle in flight is abandoned and counted in
//! [`Stats::cycles_abandoned`](scheduler_core::Stats::cycles_abandoned). Cycles run by
//! [`run_now`](SchedulerHandle::run_now) wake but do not climb the ladder.
//!
//! # Testing with paused time
//!
//! Build the scheduler with [`TokioClock::anchored_at`] inside
//! `#[tokio::test(start_paused = true)]`: every cycle then sees an exact wall time
//! (`anchor + tokio time elapsed`), and sleeping in the test advances the loop tick by
//! tick without real time passing.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod clock;
mod handle;
pub mod mailbox;
mod trigger;

pub use clock::TokioClock;
/// A scheduler whose clock is [`TokioClock`], over your task source `T`, session source
/// `S` and waker `W` (the optional seams as in [`Scheduler`](scheduler_core::Scheduler)).
pub type TokioScheduler<T, S, W> = scheduler_core::Scheduler<T, S, W, TokioClock>;
pub use handle::{LoopState, SchedulerHandle, ShutdownError, StartError, spawn};
