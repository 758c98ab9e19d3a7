//! `mockall` mocks of every seam, for expectation-style tests.
//!
//! Each mock implements one seam with concrete associated types: runs are
//! `Arc<RunSnapshot>`, sessions `Arc<SessionSnapshot>`, active runs `Arc<ActiveRun>`,
//! recovered leases `Arc<RecoveredLease>`, starvation keys `Arc<str>`, and every error
//! is [`FakeError`].
//!
//! | seam | mock |
//! | --- | --- |
//! | [`TaskSource`] | [`MockTaskSource`] |
//! | [`SessionSource`] | [`MockSessionSource`] |
//! | [`Waker`] | [`MockWaker`] |
//! | [`PauseStore`] | [`MockPauseStore`] |
//! | [`StarvationStore`] | [`MockStarvationStore`] |
//! | [`EscalationActor`] | [`MockEscalationActor`] |
//! | [`Clock`] | [`MockClock`] |
//!
//! # Async methods
//!
//! The seams' async methods are declared as `fn ..(..) -> impl Future<Output = T> +
//! Send` (return-position `impl Trait` in traits), and `mockall` 0.13 mocks them
//! directly: the expectation returns a boxed future,
//! `Pin<Box<dyn Future<Output = T> + Send>>`. [`ready`] builds one from a value, so an
//! expectation reads `.returning(|..| ready(Ok(..)))`. Output buffers (`out: &mut Vec<_>`)
//! are filled synchronously inside the `returning` closure, before the future is built.
//!
//! Only the single-item methods are mocked; the batch methods (`run_statuses`,
//! `load_many`, `upsert_many`, `clear_many`, `wake_batch`) keep the seams' default
//! implementations, which call the single-item methods once per item, so expectations on
//! `run_status`, `load`, `upsert`, `clear` and `wake` see every call.
//!
//! ```
//! use std::sync::Arc;
//! use scheduler_core::Scheduler;
//! use scheduler_testkit::mocks::{ready, MockSessionSource, MockTaskSource, MockWaker};
//! use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
//!
//! let mut tasks = MockTaskSource::new();
//! tasks.expect_recover_expired_leases()
//!     .withf(|request, _| request.reason == "scheduler_sweep")
//!     .times(1)
//!     .returning(|_, _| ready(Ok(())));
//! tasks.expect_pending_runs().returning(|out| {
//!     out.push(Arc::new(RunSnapshot::queued("run-1", "task-1")));
//!     ready(Ok(()))
//! });
//! tasks.expect_active_runs().returning(|_| ready(Ok(())));
//!
//! let mut sessions = MockSessionSource::new();
//! sessions.expect_sessions().returning(|out| {
//!     out.push(Arc::new(SessionSnapshot::active("sess-1")));
//!     ready(Ok(()))
//! });
//!
//! let mut waker = MockWaker::new();
//! waker.expect_wake()
//!     .withf(|t| t.run.run_id == "run-1" && t.session.session_id == "sess-1")
//!     .times(1)
//!     .returning(|_| ready(Ok(())));
//!
//! let mut scheduler = Scheduler::builder(tasks, sessions, waker).build().unwrap();
//! let report = futures::executor::block_on(scheduler.run_once());
//! assert!(report.is_ok());
//! // Expectations are verified when the mocks drop (with the scheduler).
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mockall::mock;
use scheduler_core::clock::Clock;
use scheduler_core::ladder::Budget;
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{
    EscalationActor, MarkOutcome, PauseStore, Recovery, SessionSource, SpawnOutcome, StarvationStore, TaskSource,
    WakeTarget, Waker,
};

use crate::fault::FakeError;
use crate::snapshot::{ActiveRun, RecoveredLease, RunSnapshot, SessionSnapshot};

/// The future type every mocked async method's expectation returns.
pub type MockFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// A mocked async method's return value, ready at once.
///
/// ```
/// use scheduler_testkit::mocks::ready;
/// let answer = futures::executor::block_on(ready(42));
/// assert_eq!(answer, 42);
/// ```
pub fn ready<T: Send + 'static>(value: T) -> MockFuture<T> {
    Box::pin(std::future::ready(value))
}

mock! {
    /// A mocked [`TaskSource`] over the testkit's snapshot types.
    pub TaskSource {}

    impl TaskSource for TaskSource {
        type Run = Arc<RunSnapshot>;
        type ActiveRun = Arc<ActiveRun>;
        type Recovered = Arc<RecoveredLease>;
        type Error = FakeError;

        fn recover_expired_leases<'a>(
            &self,
            request: Recovery<'a>,
            out: &mut Vec<Arc<RecoveredLease>>,
        ) -> impl Future<Output = Result<(), FakeError>> + Send;
        fn pending_runs(&self, out: &mut Vec<Arc<RunSnapshot>>) -> impl Future<Output = Result<(), FakeError>> + Send;
        fn active_runs(&self, out: &mut Vec<Arc<ActiveRun>>) -> impl Future<Output = Result<(), FakeError>> + Send;
        fn run_status(&self, run_id: &str) -> impl Future<Output = Result<Option<RunStatus>, FakeError>> + Send;
    }
}

mock! {
    /// A mocked [`SessionSource`] over [`SessionSnapshot`]s.
    pub SessionSource {}

    impl SessionSource for SessionSource {
        type Session = Arc<SessionSnapshot>;
        type Error = FakeError;

        fn sessions(&self, out: &mut Vec<Arc<SessionSnapshot>>) -> impl Future<Output = Result<(), FakeError>> + Send;
    }
}

mock! {
    /// A mocked [`Waker`] for the testkit's run and session snapshots.
    pub Waker {}

    impl Waker<Arc<RunSnapshot>, Arc<SessionSnapshot>> for Waker {
        type Error = FakeError;

        fn wake<'a>(
            &self,
            target: WakeTarget<'a, Arc<RunSnapshot>, Arc<SessionSnapshot>>,
        ) -> impl Future<Output = Result<(), FakeError>> + Send;
    }
}

mock! {
    /// A mocked [`PauseStore`].
    pub PauseStore {}

    impl PauseStore for PauseStore {
        type Error = FakeError;

        fn is_paused(&self) -> impl Future<Output = Result<bool, FakeError>> + Send;
    }
}

mock! {
    /// A mocked [`StarvationStore`] keyed by `Arc<str>`.
    pub StarvationStore {}

    impl StarvationStore for StarvationStore {
        type Key = Arc<str>;
        type Error = FakeError;

        fn load(&self, run_id: &str) -> impl Future<Output = Result<Option<Budget>, FakeError>> + Send;
        fn upsert(&self, run_id: &str, budget: &Budget) -> impl Future<Output = Result<(), FakeError>> + Send;
        fn clear(&self, run_id: &str) -> impl Future<Output = Result<(), FakeError>> + Send;
        fn list(&self, out: &mut Vec<(Arc<str>, Budget)>) -> impl Future<Output = Result<(), FakeError>> + Send;
    }
}

mock! {
    /// A mocked [`EscalationActor`] for the testkit's run snapshots.
    pub EscalationActor {}

    impl EscalationActor<Arc<RunSnapshot>> for EscalationActor {
        type Error = FakeError;

        fn request_spawn(
            &self,
            run: &Arc<RunSnapshot>,
            now: SystemTime,
        ) -> impl Future<Output = Result<SpawnOutcome, FakeError>> + Send;
        fn emit_starved(
            &self,
            run: &Arc<RunSnapshot>,
            age: Duration,
            now: SystemTime,
        ) -> impl Future<Output = Result<(), FakeError>> + Send;
        fn mark_needs_attention(
            &self,
            run: &Arc<RunSnapshot>,
            diagnostic: &str,
            now: SystemTime,
        ) -> impl Future<Output = Result<MarkOutcome, FakeError>> + Send;
    }
}

mock! {
    /// A mocked [`Clock`].
    pub Clock {}

    impl Clock for Clock {
        fn now(&self) -> SystemTime;
    }
}
