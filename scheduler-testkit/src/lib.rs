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
//! - [`mocks`]: `mockall` mocks of every seam.
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
//! assert_eq!(waker.pairs(), [("run-1".to_owned(), "sess-1".to_owned())]);
//! assert_eq!(waker.batches(), [1]);
//! ```
//!
//! # Checking your own task service: one test file
//!
//! A team with a durable task service (over PostgreSQL or SQLite, say) implements the
//! [`conformance`] traits for it and adds one test file. This one runs the suite
//! against the testkit's own in-memory implementations; swap in your types:
//!
//! ```
//! // tests/conformance.rs
//! use scheduler_testkit::conformance::{self, Backend};
//! use scheduler_testkit::service::MemoryTaskService;
//! use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};
//!
//! struct MyBackend;
//!
//! impl Backend for MyBackend {
//!     type Service = MemoryTaskService; // your `impl LeaseService`
//!     type Pause = MemoryPauseStore; // your `impl PauseControl`
//!     type Budgets = MemoryStarvationStore; // your `impl StarvationStore`
//!
//!     /// A fresh, empty service and the pause flag its claims consult.
//!     async fn task_service(&self) -> (MemoryTaskService, MemoryPauseStore) {
//!         let pause = MemoryPauseStore::new();
//!         (MemoryTaskService::with_pause(pause.clone()), pause)
//!     }
//!
//!     /// A fresh, empty starvation store.
//!     async fn starvation_store(&self) -> MemoryStarvationStore {
//!         MemoryStarvationStore::new()
//!     }
//! }
//!
//! // #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_backend_conforms() {
//!     // Panics listing every failed check and the rule it broke.
//!     conformance::run_all(&MyBackend).await.assert_ok();
//! }
//! # futures::executor::block_on(my_backend_conforms());
//! ```

#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod alloc;
pub mod clock;
pub mod conformance;
pub mod escalation;
pub mod fault;
pub mod invariants;
pub mod mocks;
pub mod reference;
pub mod registry;
pub mod scripted;
pub mod service;
pub mod snapshot;
pub mod stores;
pub mod waker;
pub mod workload;
