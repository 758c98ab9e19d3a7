//! The conformance suite: does *your* task service, pause store and starvation store
//! keep the contract the scheduler relies on?
//!
//! Modelled on `object_store::integration`: the suite is a set of public `async` check
//! functions, each taking fresh instances of the implementation under test, plus
//! [`run_all`], which calls every check with fresh instances from a [`Backend`] and
//! reports every failing one. Each failure names the check and the rule it broke
//! ([`ConformanceFailure`]).
//!
//! # Adding the suite to a backend: one test file
//!
//! Implement the contract traits for your types:
//!
//! - [`LeaseService`] for the task service: the scheduler's [`TaskSource`] plus the
//!   worker-facing lease API (enqueue, claim, start, heartbeat, complete, fail, release,
//!   mark needs-attention, a record read). Its recovered-lease type implements
//!   [`RecoveredDetails`].
//! - [`PauseControl`] for the pause store: the scheduler's [`PauseStore`] plus pause,
//!   resume and a state read. Your task service must refuse claims while it is on.
//! - the core's [`StarvationStore`] for the budgets, as is.
//!
//! Then a [`Backend`] that hands out fresh, empty instances, and one test:
//!
//! ```
//! use scheduler_testkit::conformance::{self, Backend};
//! use scheduler_testkit::service::MemoryTaskService;
//! use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};
//!
//! /// Fresh instances of the implementation under test. A database backend would
//! /// create a fresh schema (or an in-memory SQLite database) per call.
//! struct MyBackend;
//!
//! impl Backend for MyBackend {
//!     type Service = MemoryTaskService;
//!     type Pause = MemoryPauseStore;
//!     type Budgets = MemoryStarvationStore;
//!
//!     async fn task_service(&self) -> (MemoryTaskService, MemoryPauseStore) {
//!         let pause = MemoryPauseStore::new();
//!         (MemoryTaskService::with_pause(pause.clone()), pause)
//!     }
//!
//!     async fn starvation_store(&self) -> MemoryStarvationStore {
//!         MemoryStarvationStore::new()
//!     }
//! }
//!
//! // In tests/conformance.rs:
//! //
//! // #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! // async fn my_backend_conforms() {
//! //     scheduler_testkit::conformance::run_all(&MyBackend).await.assert_ok();
//! // }
//! # futures::executor::block_on(async {
//! let report = conformance::run_all(&MyBackend).await;
//! assert!(report.is_ok(), "{report}");
//! report.assert_ok();
//! # });
//! ```
//!
//! Or call single checks with instances you built yourself; each wants fresh, empty
//! ones:
//!
//! ```
//! use scheduler_testkit::conformance::task_service;
//! use scheduler_testkit::service::MemoryTaskService;
//! # futures::executor::block_on(async {
//! task_service::claim_order(&MemoryTaskService::new()).await.unwrap();
//! # });
//! ```
//!
//! # Time
//!
//! The suite passes every time explicitly (`now` parameters), as whole seconds after
//! 2026-01-01T00:00:00Z, so a store with second (or micro-second) precision round-trips
//! them exactly. Scenario checks drive the scheduler with a
//! [`FakeClock`](crate::clock::FakeClock). Nothing sleeps.
//!
//! # Concurrency
//!
//! [`task_service::concurrent_claims_have_one_winner`] races claims two ways: many
//! claim futures polled together in one task (`join_all`, which is how an async
//! database client overlaps transactions), then claims started at once from several
//! tokio tasks (when called inside a tokio runtime and the `tokio` feature is on; use a
//! `multi_thread` runtime for real parallelism) or else from several OS threads, each
//! driving its claim with `futures::executor::block_on`.
//!
//! # The checks
//!
//! Task service ([`task_service`]): `enqueue_and_read`, `claim_order`,
//! `claim_eligibility`, `one_lease_per_session`, `claims_refused_while_paused`,
//! `concurrent_claims_have_one_winner`, `wrong_token_is_refused`,
//! `stale_token_is_refused`, `lease_lifecycle`, `heartbeat_extends_lease`,
//! `recovery_order_and_limit`, `recovering_twice`, `needs_attention_transition`.
//!
//! Stores ([`stores`]): `pause_round_trip`, `budget_round_trip`, `budget_clear`,
//! `budget_list`, `budget_batches`.
//!
//! Scheduler scenarios over the implementation ([`scenarios`]):
//! `wake_leaves_claim_to_service`, `expired_lease_recovered_next_cycle`,
//! `dead_worker_recovered_before_replacement_woken`, `no_eligible_session_changes_nothing`,
//! `restart_resumes_ladder`.

mod memory;
pub mod scenarios;
pub mod stores;
pub mod task_service;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use scheduler_core::model::RunStatus;
use scheduler_core::seam::{PauseStore, StarvationStore, TaskSource};
use scheduler_core::view::RecoveredView;

pub use crate::service::{Claim, ClaimCriteria, ClaimToken, RunRecord};
pub use crate::snapshot::RunSnapshot;
pub use crate::stores::PauseState;
pub use memory::MemoryBackend;

/// How the suite classifies a task-service error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No run has the id given.
    UnknownRun,
    /// The claim token is wrong or stale.
    TokenRejected,
    /// The run is not in a status the operation moves from.
    InvalidTransition,
    /// The claiming session already holds a live lease.
    SessionBusy,
    /// Claims are refused because the scheduler is paused.
    Paused,
    /// Anything else (storage failures, invalid arguments, ...).
    Other,
}

/// What a recovered lease reports beyond the scheduler's [`RecoveredView`].
pub trait RecoveredDetails: RecoveredView {
    /// The run's status before recovery (`claimed`, `starting` or `running`).
    fn previous_status(&self) -> RunStatus;
    /// When the expired lease ended, if the implementation reports it.
    fn previous_lease_until(&self) -> Option<SystemTime>;
    /// The recovery reason recorded.
    fn reason(&self) -> &str;
}

impl<T: RecoveredDetails + ?Sized> RecoveredDetails for Arc<T> {
    fn previous_status(&self) -> RunStatus {
        (**self).previous_status()
    }
    fn previous_lease_until(&self) -> Option<SystemTime> {
        (**self).previous_lease_until()
    }
    fn reason(&self) -> &str {
        (**self).reason()
    }
}

impl<T: RecoveredDetails + ?Sized> RecoveredDetails for Box<T> {
    fn previous_status(&self) -> RunStatus {
        (**self).previous_status()
    }
    fn previous_lease_until(&self) -> Option<SystemTime> {
        (**self).previous_lease_until()
    }
    fn reason(&self) -> &str {
        (**self).reason()
    }
}

/// The task-service contract (`spec/task-service.md`): the scheduler's [`TaskSource`]
/// plus the lease API workers use.
///
/// Every method takes `now` explicitly. Every token-fenced method (`start`,
/// `heartbeat`, `complete`, `fail`, `release`) must refuse a wrong or stale token with
/// an error that [`error_kind`](Self::error_kind) classifies as
/// [`ErrorKind::TokenRejected`], change nothing, and never put a token in an error
/// message.
pub trait LeaseService: TaskSource<Recovered: RecoveredDetails> {
    /// Classifies one of the service's errors.
    fn error_kind(error: &Self::Error) -> ErrorKind;

    /// Enqueues a run. `run`'s task fields describe its task (created or replaced),
    /// its run fields the run; the run becomes `queued` with queued-at = `now`,
    /// whatever `run` says about its status and queued-at.
    fn enqueue(&self, run: &RunSnapshot, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Atomically leases the best run the session may claim (highest priority, oldest
    /// queued-at, smallest run id, among the runs the scheduler's eligibility rules
    /// allow), or answers `None`. Refused ([`ErrorKind::Paused`]) while the scheduler is
    /// paused and ([`ErrorKind::SessionBusy`]) when the session holds a live lease.
    fn claim(
        &self,
        criteria: &ClaimCriteria,
        lease: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Claim>, Self::Error>> + Send;

    /// Moves a `claimed` run to `running`.
    fn start(
        &self,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Extends the lease to `now + lease`; returns the new lease end.
    fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<SystemTime, Self::Error>> + Send;

    /// Ends the run successfully (`completed`).
    fn complete(
        &self,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Ends the run unsuccessfully (`failed`).
    fn fail(
        &self,
        run_id: &str,
        token: &ClaimToken,
        reason: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Returns the run to `queued`, clearing its lease.
    fn release(
        &self,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Moves a `queued` run to `needs_attention`; any other status answers an error
    /// classified as [`ErrorKind::InvalidTransition`].
    fn mark_needs_attention(
        &self,
        run_id: &str,
        diagnostic: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The run's status and lease as stored, or `None` for an unknown run.
    fn record(&self, run_id: &str) -> impl Future<Output = Result<Option<RunRecord>, Self::Error>> + Send;
}

/// The pause-store contract: the scheduler's [`PauseStore`] plus the operator's side.
pub trait PauseControl: PauseStore {
    /// Turns the scheduler-wide pause on (or replaces who/when/why if it is on).
    fn pause(
        &self,
        paused_by: &str,
        paused_at: SystemTime,
        reason: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Turns the pause off (a no-op when it is off).
    fn resume(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Who paused, when and why; `None` when not paused.
    fn pause_state(&self) -> impl Future<Output = Result<Option<PauseState>, Self::Error>> + Send;
}

/// Hands [`run_all`] fresh instances of the implementation under test.
pub trait Backend {
    /// The task service. `Clone + 'static` so the concurrency check can hand it to
    /// tokio tasks; a handle over a connection pool is both.
    type Service: LeaseService + Clone + 'static;
    /// The pause store the service consults.
    type Pause: PauseControl;
    /// The starvation store.
    type Budgets: StarvationStore;

    /// A fresh, empty task service and the (unpaused) pause store its claims consult.
    fn task_service(&self) -> impl Future<Output = (Self::Service, Self::Pause)>;

    /// A fresh, empty starvation store.
    fn starvation_store(&self) -> impl Future<Output = Self::Budgets>;
}

/// One broken rule: which check found it, which rule, and what it saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{check}: rule `{rule}` broken: {detail}")]
pub struct ConformanceFailure {
    /// The check function that failed.
    pub check: &'static str,
    /// The rule it checks, e.g. `token.wrong`.
    pub rule: &'static str,
    /// What was expected and what happened.
    pub detail: String,
}

/// What [`run_all`] found: every check that passed and every failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConformanceReport {
    /// The checks that passed, in the order run.
    pub passed: Vec<&'static str>,
    /// One failure per failed check, in the order run.
    pub failures: Vec<ConformanceFailure>,
}

impl ConformanceReport {
    /// Whether every check passed.
    pub fn is_ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// The names of the failed checks.
    pub fn failed_checks(&self) -> Vec<&'static str> {
        self.failures.iter().map(|f| f.check).collect()
    }

    /// The rules broken (one per failed check).
    pub fn broken_rules(&self) -> Vec<&'static str> {
        self.failures.iter().map(|f| f.rule).collect()
    }

    /// Panics, listing every failure, unless every check passed.
    ///
    /// # Panics
    /// When a check failed.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(self.is_ok(), "{self}");
    }

    fn record(&mut self, check: &'static str, result: Result<(), ConformanceFailure>) {
        match result {
            Ok(()) => self.passed.push(check),
            Err(failure) => self.failures.push(failure),
        }
    }

    fn merge(&mut self, other: ConformanceReport) {
        self.passed.extend(other.passed);
        self.failures.extend(other.failures);
    }
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.passed.len() + self.failures.len();
        write!(f, "conformance: {total} checks, {} passed, {} failed", self.passed.len(), self.failures.len())?;
        for failure in &self.failures {
            write!(f, "\n  FAILED {failure}")?;
        }
        Ok(())
    }
}

macro_rules! run_check {
    ($report:ident, $name:ident($($arg:expr),*)) => {
        $report.record(stringify!($name), $name($($arg),*).await)
    };
}

/// Runs every task-service check, each on a fresh service from `backend`.
pub async fn run_task_service<B: Backend>(backend: &B) -> ConformanceReport {
    use task_service::*;
    let mut report = ConformanceReport::default();
    macro_rules! with_service {
        ($name:ident) => {{
            let (service, _pause) = backend.task_service().await;
            run_check!(report, $name(&service));
        }};
    }
    with_service!(enqueue_and_read);
    with_service!(claim_order);
    with_service!(claim_eligibility);
    with_service!(one_lease_per_session);
    {
        let (service, pause) = backend.task_service().await;
        run_check!(report, claims_refused_while_paused(&service, &pause));
    }
    with_service!(concurrent_claims_have_one_winner);
    with_service!(wrong_token_is_refused);
    with_service!(stale_token_is_refused);
    with_service!(lease_lifecycle);
    with_service!(heartbeat_extends_lease);
    with_service!(recovery_order_and_limit);
    with_service!(recovering_twice);
    with_service!(needs_attention_transition);
    report
}

/// Runs every pause-store and starvation-store check on fresh stores from `backend`.
pub async fn run_stores<B: Backend>(backend: &B) -> ConformanceReport {
    use self::stores::*;
    let mut report = ConformanceReport::default();
    {
        let (_service, pause) = backend.task_service().await;
        run_check!(report, pause_round_trip(&pause));
    }
    macro_rules! with_store {
        ($name:ident) => {{
            let store = backend.starvation_store().await;
            run_check!(report, $name(&store));
        }};
    }
    with_store!(budget_round_trip);
    with_store!(budget_clear);
    with_store!(budget_list);
    with_store!(budget_batches);
    report
}

/// Runs every scheduler scenario over fresh instances from `backend`.
pub async fn run_scenarios<B: Backend>(backend: &B) -> ConformanceReport {
    use scenarios::*;
    let mut report = ConformanceReport::default();
    macro_rules! with_service {
        ($name:ident) => {{
            let (service, _pause) = backend.task_service().await;
            run_check!(report, $name(&service));
        }};
    }
    with_service!(wake_leaves_claim_to_service);
    with_service!(expired_lease_recovered_next_cycle);
    with_service!(dead_worker_recovered_before_replacement_woken);
    with_service!(no_eligible_session_changes_nothing);
    {
        let (service, _pause) = backend.task_service().await;
        let store = backend.starvation_store().await;
        run_check!(report, restart_resumes_ladder(&service, &store));
    }
    report
}

/// Runs the whole suite: every task-service, store and scenario check, each on fresh
/// instances from `backend`, and reports every failure (a failing check does not stop
/// the others).
pub async fn run_all<B: Backend>(backend: &B) -> ConformanceReport {
    let mut report = run_task_service(backend).await;
    report.merge(run_stores(backend).await);
    report.merge(run_scenarios(backend).await);
    report
}

/// The check-writing helpers: a named check that turns conditions into failures.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check(pub(crate) &'static str);

impl Check {
    pub(crate) fn fail(self, rule: &'static str, detail: impl Into<String>) -> ConformanceFailure {
        ConformanceFailure { check: self.0, rule, detail: detail.into() }
    }

    /// Fails `rule` with `detail()` unless `cond`.
    pub(crate) fn ensure(
        self,
        cond: bool,
        rule: &'static str,
        detail: impl FnOnce() -> String,
    ) -> Result<(), ConformanceFailure> {
        if cond { Ok(()) } else { Err(self.fail(rule, detail())) }
    }

    /// Fails `rule` unless `actual == expected`.
    pub(crate) fn eq<T: PartialEq + fmt::Debug>(
        self,
        actual: T,
        expected: T,
        rule: &'static str,
        what: impl fmt::Display,
    ) -> Result<(), ConformanceFailure> {
        if actual == expected {
            Ok(())
        } else {
            Err(self.fail(rule, format!("{what}: expected {expected:?}, got {actual:?}")))
        }
    }

    /// Unwraps a result the rule needs to succeed.
    pub(crate) fn ok<T, E: fmt::Display>(
        self,
        result: Result<T, E>,
        rule: &'static str,
        what: impl fmt::Display,
    ) -> Result<T, ConformanceFailure> {
        result.map_err(|e| self.fail(rule, format!("{what} failed: {e}")))
    }
}

/// 2026-01-01T00:00:00Z, the suite's base time.
pub(crate) const T0_UNIX: u64 = 1_767_225_600;

/// `T0 + secs`.
pub(crate) fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0_UNIX + secs)
}

/// Seconds after T0, for messages.
pub(crate) fn since_t0(t: SystemTime) -> String {
    match t.duration_since(at(0)) {
        Ok(d) => format!("T0+{}s", d.as_secs_f64()),
        Err(e) => format!("T0-{}s", e.duration().as_secs_f64()),
    }
}
