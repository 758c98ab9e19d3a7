//! The seams: one small trait for each thing the scheduler talks to.
//!
//! Every seam is a zero-`dyn` trait with associated types and `async` methods written as
//! `fn ..(&self, ..) -> impl Future<Output = ..> + Send`, so implementations are plain
//! `async fn`s and the scheduler is fully monomorphised: no boxing, no virtual calls.
//!
//! | seam | required | trait | no-op default |
//! | --- | --- | --- | --- |
//! | task source | yes | [`TaskSource`] | |
//! | session source | yes | [`SessionSource`] | |
//! | waker (single or batch) | yes | [`Waker`] | |
//! | pause store | no | [`PauseStore`] | [`NoPauseStore`] |
//! | starvation store | no | [`StarvationStore`] | [`NoStarvationStore`] |
//! | escalation actor | no | [`EscalationActor`] | [`NoEscalation`] |
//! | clock and timer | no | [`Clock`](crate::clock::Clock), [`Timer`](crate::clock::Timer) | [`SystemClock`](crate::clock::SystemClock) |
//! | observer | no | [`Observer`](crate::observer::Observer) | [`NoopObserver`](crate::observer::NoopObserver) |
//!
//! Sources never return collections: they *fill* a buffer the scheduler owns and reuses
//! from cycle to cycle (`out: &mut Vec<_>`, always empty when handed over), so a
//! steady-state cycle allocates nothing when the rows are cheap to clone (an `Arc` of a
//! row, say). Batch methods answer one result per input, in input order, and have default
//! implementations in terms of the single-item method, so implementing the single-item
//! method is enough; override the batch form to save round trips.
//!
//! The no-op defaults are uninhabited enums: a scheduler built without a pause store
//! holds `Option<NoPauseStore>`, which is always `None` and takes no space.

mod escalation;
mod pause_store;
mod session_source;
mod starvation_store;
mod task_source;
mod waker;

pub use escalation::{EscalationActor, MarkOutcome, NoEscalation, SpawnOutcome};
pub use pause_store::{NoPauseStore, PauseStore};
pub use session_source::SessionSource;
pub use starvation_store::{NoStarvationStore, StarvationStore};
pub use task_source::{Recovery, TaskSource};
pub use waker::{WakeBatch, WakeTarget, Waker};
