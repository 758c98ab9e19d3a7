//! Test doubles and the conformance suite for [`scheduler_core`].
//!
//! - [`clock::FakeClock`]: wall time that moves when the test says, with timers.
//! - [`snapshot`]: plain structs implementing the core's view traits.
//! - [`scripted`]: task and session sources whose contents a test sets directly.
//! - [`waker::RecordingWaker`], [`escalation::RecordingActor`]: record what the
//!   scheduler did.
//! - [`stores`]: in-memory pause and starvation stores.
//! - [`fault::Faults`]: make any fake's operation fail on the k-th call.
//!
//! ```
//! use std::time::Duration;
//! use scheduler_core::Scheduler;
//! use scheduler_testkit::{clock::FakeClock, scripted::*, snapshot::*, waker::RecordingWaker};
//!
//! let tasks = ScriptedTasks::new();
//! let sessions = ScriptedSessions::new();
//! let waker = RecordingWaker::batch();
//! tasks.push_pending(RunSnapshot::queued("run-1", "task-1").caps(["rust"]));
//! sessions.push(SessionSnapshot::active("sess-1").caps(["rust"]));
//!
//! let clock = FakeClock::at_unix(1_700_000_000);
//! let mut scheduler = Scheduler::builder(tasks.clone(), sessions.clone(), waker.clone())
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//! futures::executor::block_on(scheduler.run_once());
//! assert_eq!(waker.pairs(), [("run-1".to_owned(), "sess-1".to_owned())]);
//! assert_eq!(waker.batches(), [1]);
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod clock;
pub mod escalation;
pub mod fault;
pub mod scripted;
pub mod snapshot;
pub mod stores;
pub mod waker;
