//! Test doubles and the conformance suite for [`scheduler_core`].
//!
//! - [`clock::FakeClock`]: wall time that moves when the test says, with timers.
//! - [`snapshot`]: plain structs implementing the core's view traits.
//! - [`scripted`]: task and session sources whose contents a test sets directly.
//! - [`waker::RecordingWaker`], [`escalation::RecordingActor`]: record what the
//!   scheduler did.
//! - [`stores`]: in-memory pause and starvation stores.
//! - [`fault::Faults`]: make any fake's operation fail on the k-th call.
//! - [`service::MemoryTaskService`]: an in-memory task service with real lease
//!   semantics (atomic claims, token-fenced leases, expiry and recovery).
//! - [`registry::MemorySessions`]: an in-memory session registry.
//! - `mocks` (feature `mocks`, off by default): `mockall` mocks of every seam.
//! - [`conformance`]: the public conformance suite any task service, pause store and
//!   starvation store can be run against.
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
//! assert_eq!(waker.attempted_pairs(), [("run-1".to_owned(), "sess-1".to_owned())]);
//! assert_eq!(waker.batches(), [1]);
//! ```
//!
//! The crate serves users' tests and backend authors. This repository's own measuring
//! tools (the `W(N, M)` workloads, the counting allocator) live in an unpublished
//! workspace crate, `scheduler-bench-support`.
//!
//! # The task-service contract
//!
//! The contract itself lives in [`scheduler_core::lease`]; the in-memory service,
//! registry and pause store implement it ([`LeaseService`], [`SessionRegistry`],
//! [`PauseControl`]), and this crate re-exports what their users need.
//!
//! # Checking your own task service
//!
//! A backend implements the core's traits on its own types and runs the
//! [`conformance`] suite on itself from one test file: see the module docs for the
//! complete recipe and the rule-by-rule table of checks.

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod clock;
pub mod conformance;
pub mod escalation;
pub mod fault;
pub mod invariants;
#[cfg(feature = "mocks")]
#[cfg_attr(docsrs, doc(cfg(feature = "mocks")))]
pub mod mocks;
pub mod reference;
pub mod registry;
pub mod scripted;
pub mod service;
pub mod snapshot;
pub mod stores;
pub mod waker;

pub use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, Lease, LeaseService, PauseControl, PauseState, RecoveredDetails, RunRecord,
    RunSpec, ServiceError, SessionRegistry, SessionSpec, TaskSpec,
};
