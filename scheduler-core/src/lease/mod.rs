//! The task-service contract: what a task service, a session registry and a pause
//! control implement for the sessions' side, and the values they exchange.
//!
//! The scheduler itself only needs the read side (the [seams](crate::seam)). A daemon
//! also needs somewhere for sessions to enqueue, claim and work runs; these traits are
//! that somewhere, written once so that every backend (the testkit's in-memory
//! reference, `scheduler-sqlite`, `scheduler-postgres`, your own) keeps one contract,
//! and `scheduler-testkit`'s conformance suite can check any of them. A production
//! backend depends on this crate alone.
//!
//! | trait | extends | for |
//! | --- | --- | --- |
//! | [`LeaseService`] | [`TaskSource`](crate::seam::TaskSource) | enqueue, claim, start, heartbeat, complete, fail, release, needs-attention, records |
//! | [`SessionRegistry`] | [`SessionSource`](crate::seam::SessionSource) | register, update, touch, remove, mark stale |
//! | [`PauseControl`] | [`PauseStore`](crate::seam::PauseStore) | pause and resume, with who, when and why |
//!
//! Values: [`TaskSpec`] and [`RunSpec`] (what is enqueued), [`ClaimRequest`] (who
//! claims), [`Lease`] and its secret [`ClaimToken`], [`RunRecord`], [`SessionSpec`],
//! [`PauseState`]; errors classify through [`ServiceError::kind`] into [`ErrorKind`].
//!
//! A session's life against a [`LeaseService`]:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_core::lease::{ClaimRequest, ErrorKind, LeaseService, RunSpec, ServiceError, TaskSpec};
//! use scheduler_core::model::RunStatus;
//!
//! async fn work<S: LeaseService>(service: &S, now: SystemTime) -> Result<(), S::Error> {
//!     let lease_for = Duration::from_secs(60);
//!     service.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-1").caps(["rust"]), now).await?;
//!     let me = ClaimRequest::session("sess-1").caps(["rust"]);
//!     let Some(lease) = service.claim(&me, lease_for, now).await? else { return Ok(()) };
//!     service.start(&lease.run_id, &lease.token, now).await?;
//!     service.heartbeat(&lease.run_id, &lease.token, lease_for, now + Duration::from_secs(30)).await?;
//!     service.complete(&lease.run_id, &lease.token, now + Duration::from_secs(45)).await?;
//!     // The lease is over: its token is stale now.
//!     let stale = service.release(&lease.run_id, &lease.token, now).await.unwrap_err();
//!     assert_eq!(stale.kind(), ErrorKind::TokenRejected);
//!     assert_eq!(service.run_status(&lease.run_id).await?, Some(RunStatus::Completed));
//!     Ok(())
//! }
//!
//! // Over the testkit's in-memory reference service:
//! let service = scheduler_testkit::service::MemoryTaskService::new();
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
//! futures::executor::block_on(work(&service, now)).unwrap();
//! // A shared handle (`&S`, `Arc<S>`) is a service too.
//! futures::executor::block_on(work(&std::sync::Arc::new(scheduler_testkit::service::MemoryTaskService::new()), now)).unwrap();
//! ```
//!
//! Every trait is implemented for `&T` and `Arc<T>` by forwarding, like the seams.
//!
//! The conformance suite (`scheduler_testkit::conformance`) has one check per rule of
//! the contract; a backend runs it on itself from one test file.

mod error;
mod pause;
mod record;
mod registry;
mod service;
mod spec;
mod token;

pub use error::{ErrorKind, ServiceError};
pub use pause::PauseControl;
pub use record::{Lease, PauseState, RecoveredDetails, RunRecord};
pub use registry::SessionRegistry;
pub use service::LeaseService;
pub use spec::{ClaimRequest, RunSpec, SessionSpec, TaskSpec};
pub use token::ClaimToken;
