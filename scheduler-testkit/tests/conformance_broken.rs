//! The conformance suite bites: deliberately broken implementations fail exactly the
//! checks (and rules) that cover what they break, and pass every other check.
//!
//! Each broken implementation wraps a correct in-memory one and breaks one rule:
//! - task service: ignores the claim token, leaks tokens into errors, races claims
//!   (check-then-act), ignores the pause, acknowledges heartbeats without extending the
//!   lease, recovers unexpired leases, ignores the recovery limit, never recovers,
//!   marks any run `needs_attention`;
//! - starvation store: `clear` does nothing; `upsert` does nothing;
//! - pause store: `resume` does nothing; the pause reason is lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use scheduler_core::eligibility::{is_potentially_claimable, session_matches};
use scheduler_core::ladder::Budget;
use scheduler_core::model::RunStatus;
use scheduler_core::ordering::compare_runs;
use scheduler_core::seam::{PauseStore, Recovery, StarvationStore, TaskSource};
use scheduler_testkit::conformance::task_service::RACE_CLAIMANTS;
use scheduler_testkit::conformance::{
    self, Backend, ConformanceReport, ErrorKind, LeaseService, PauseControl, PauseState,
};
use scheduler_testkit::fault::{FakeError, YieldOnce};
use scheduler_testkit::service::{
    Claim, ClaimCriteria, ClaimToken, LeaseError, MemoryTaskService, RecoveredRun, RunRecord,
};
use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot};
use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};

// ---------------------------------------------------------------------------------
// A broken task service.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Defect {
    None,
    /// Fenced operations use the run's last token, whatever the caller presented.
    IgnoresToken,
    /// Token refusals quote the presented token.
    LeaksToken,
    /// Claims read the best run, wait for the other racers, then report a win even if
    /// someone else took the run (check-then-act). `parallel_only`: only in the
    /// suite's parallel phase (runs named `race-parallel-*`).
    RacyClaim {
        parallel_only: bool,
    },
    /// Claims consult a pause flag other than the one the operator sets.
    IgnoresPause,
    /// Heartbeats answer `now + lease` but leave the lease end as it was.
    HeartbeatDoesNotExtend,
    /// Recovery treats every lease as ended.
    RecoversUnexpired,
    /// Recovery ignores the limit.
    IgnoresLimit,
    /// Recovery recovers nothing.
    NeverRecovers,
    /// `mark_needs_attention` succeeds from any status.
    MarksAnything,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct BrokenError {
    kind: ErrorKind,
    message: String,
}

impl From<LeaseError> for BrokenError {
    fn from(e: LeaseError) -> Self {
        BrokenError { kind: e.kind(), message: e.to_string() }
    }
}

#[derive(Debug, Clone)]
struct Broken {
    inner: MemoryTaskService,
    defect: Defect,
    tokens: Arc<Mutex<HashMap<String, ClaimToken>>>,
    racers: Arc<Mutex<HashMap<String, Arc<AtomicUsize>>>>,
}

impl Broken {
    fn new(inner: MemoryTaskService, defect: Defect) -> Self {
        Broken { inner, defect, tokens: Arc::default(), racers: Arc::default() }
    }

    /// The token the operation really runs with.
    fn token(&self, run_id: &str, presented: &ClaimToken) -> ClaimToken {
        if self.defect == Defect::IgnoresToken {
            if let Some(last) = self.tokens.lock().unwrap().get(run_id) {
                return last.clone();
            }
        }
        presented.clone()
    }

    fn error(&self, e: LeaseError, presented: &ClaimToken) -> BrokenError {
        let mut error = BrokenError::from(e);
        if self.defect == Defect::LeaksToken && error.kind == ErrorKind::TokenRejected {
            error.message = format!("{} (presented {})", error.message, presented.expose_secret());
        }
        error
    }

    fn best_candidate(&self, criteria: &ClaimCriteria) -> Option<String> {
        self.inner
            .pending()
            .into_iter()
            .filter(|r| is_potentially_claimable(&**r) && session_matches(&**r, criteria))
            .min_by(|a, b| compare_runs(&**a, &**b))
            .map(|r| r.run_id.clone())
    }

    async fn racy_claim(
        &self,
        criteria: &ClaimCriteria,
        lease: Duration,
        now: SystemTime,
        parallel_only: bool,
    ) -> Result<Option<Claim>, BrokenError> {
        let Some(candidate) = self.best_candidate(criteria) else {
            return Ok(self.inner.claim(criteria, lease, now)?);
        };
        if parallel_only && !candidate.starts_with("race-parallel") {
            return Ok(self.inner.claim(criteria, lease, now)?);
        }
        // Check, then wait until every racer has checked too, then act. In the suite's
        // parallel phase every racer surely comes, so the wait is unbounded there (which
        // makes the overlap certain, not likely); elsewhere it gives up after a while.
        let readers = Arc::clone(self.racers.lock().unwrap().entry(candidate.clone()).or_default());
        readers.fetch_add(1, Ordering::SeqCst);
        let mut waited = 0u32;
        while readers.load(Ordering::SeqCst) < RACE_CLAIMANTS && (parallel_only || waited < 10_000) {
            waited += 1;
            std::thread::yield_now();
            YieldOnce::pending().await;
        }
        match self.inner.claim(criteria, lease, now)? {
            Some(claim) => Ok(Some(claim)),
            // Lost the race but reports the win anyway.
            None => Ok(Some(Claim {
                run_id: candidate,
                session_id: criteria.session_id.clone(),
                token: ClaimToken::generate(),
                lease_until: now + lease,
            })),
        }
    }
}

impl TaskSource for Broken {
    type Run = Arc<RunSnapshot>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = RecoveredRun;
    type Error = BrokenError;

    async fn recover_expired_leases(
        &self,
        request: Recovery<'_>,
        out: &mut Vec<RecoveredRun>,
    ) -> Result<(), BrokenError> {
        let request = match self.defect {
            Defect::NeverRecovers => return Ok(()),
            Defect::RecoversUnexpired => Recovery { now: request.now + Duration::from_secs(86_400), ..request },
            Defect::IgnoresLimit => Recovery { limit: 0, ..request },
            _ => request,
        };
        Ok(self.inner.recover_expired_leases(request, out).await?)
    }

    async fn pending_runs(&self, out: &mut Vec<Arc<RunSnapshot>>) -> Result<(), BrokenError> {
        Ok(self.inner.pending_runs(out).await?)
    }

    async fn active_runs(&self, out: &mut Vec<Arc<ActiveRun>>) -> Result<(), BrokenError> {
        Ok(self.inner.active_runs(out).await?)
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, BrokenError> {
        Ok(self.inner.status(run_id))
    }
}

impl LeaseService for Broken {
    fn error_kind(error: &BrokenError) -> ErrorKind {
        error.kind
    }

    async fn enqueue(&self, run: &RunSnapshot, now: SystemTime) -> Result<(), BrokenError> {
        Ok(self.inner.enqueue(run, now)?)
    }

    async fn claim(
        &self,
        criteria: &ClaimCriteria,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Option<Claim>, BrokenError> {
        let claim = match self.defect {
            Defect::RacyClaim { parallel_only } => self.racy_claim(criteria, lease, now, parallel_only).await?,
            _ => self.inner.claim(criteria, lease, now)?,
        };
        if let Some(c) = &claim {
            self.tokens.lock().unwrap().insert(c.run_id.clone(), c.token.clone());
        }
        Ok(claim)
    }

    async fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), BrokenError> {
        self.inner.start(run_id, &self.token(run_id, token), now).map_err(|e| self.error(e, token))
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, BrokenError> {
        let real = self.token(run_id, token);
        if self.defect == Defect::HeartbeatDoesNotExtend {
            let until = self.inner.record(run_id).and_then(|r| r.lease_until).unwrap_or(now);
            let keep = until.duration_since(now).unwrap_or_default();
            self.inner.heartbeat(run_id, &real, keep, now).map_err(|e| self.error(e, token))?;
            return Ok(now + lease);
        }
        self.inner.heartbeat(run_id, &real, lease, now).map_err(|e| self.error(e, token))
    }

    async fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), BrokenError> {
        self.inner.complete(run_id, &self.token(run_id, token), now).map_err(|e| self.error(e, token))
    }

    async fn fail(&self, run_id: &str, token: &ClaimToken, reason: &str, now: SystemTime) -> Result<(), BrokenError> {
        self.inner.fail(run_id, &self.token(run_id, token), reason, now).map_err(|e| self.error(e, token))
    }

    async fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), BrokenError> {
        self.inner.release(run_id, &self.token(run_id, token), now).map_err(|e| self.error(e, token))
    }

    async fn mark_needs_attention(&self, run_id: &str, diagnostic: &str, now: SystemTime) -> Result<(), BrokenError> {
        match self.inner.mark_needs_attention(run_id, diagnostic, now) {
            Err(LeaseError::InvalidTransition { .. }) if self.defect == Defect::MarksAnything => Ok(()),
            other => Ok(other?),
        }
    }

    async fn record(&self, run_id: &str) -> Result<Option<RunRecord>, BrokenError> {
        Ok(self.inner.record(run_id))
    }
}

// ---------------------------------------------------------------------------------
// A broken starvation store and pause store.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreDefect {
    None,
    ClearDoesNothing,
    UpsertDoesNothing,
}

#[derive(Debug, Clone)]
struct BrokenStore {
    inner: MemoryStarvationStore,
    defect: StoreDefect,
}

impl StarvationStore for BrokenStore {
    type Key = Arc<str>;
    type Error = FakeError;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, FakeError> {
        self.inner.load(run_id).await
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), FakeError> {
        if self.defect == StoreDefect::UpsertDoesNothing {
            return Ok(());
        }
        self.inner.upsert(run_id, budget).await
    }

    async fn clear(&self, run_id: &str) -> Result<(), FakeError> {
        if self.defect == StoreDefect::ClearDoesNothing {
            return Ok(());
        }
        self.inner.clear(run_id).await
    }

    async fn list(&self, out: &mut Vec<(Arc<str>, Budget)>) -> Result<(), FakeError> {
        self.inner.list(out).await
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PauseDefect {
    None,
    ResumeDoesNothing,
    LosesReason,
}

#[derive(Debug, Clone)]
struct BrokenPause {
    inner: MemoryPauseStore,
    defect: PauseDefect,
}

impl PauseStore for BrokenPause {
    type Error = FakeError;

    async fn is_paused(&self) -> Result<bool, FakeError> {
        self.inner.is_paused().await
    }
}

impl PauseControl for BrokenPause {
    async fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> Result<(), FakeError> {
        let reason = if self.defect == PauseDefect::LosesReason { "" } else { reason };
        self.inner.pause(paused_by, paused_at, reason);
        Ok(())
    }

    async fn resume(&self) -> Result<(), FakeError> {
        if self.defect != PauseDefect::ResumeDoesNothing {
            self.inner.resume();
        }
        Ok(())
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, FakeError> {
        Ok(self.inner.state())
    }
}

// ---------------------------------------------------------------------------------
// The broken backend.

#[derive(Debug, Clone, Copy)]
struct BrokenBackend {
    service: Defect,
    store: StoreDefect,
    pause: PauseDefect,
}

impl BrokenBackend {
    fn service(defect: Defect) -> Self {
        BrokenBackend { service: defect, store: StoreDefect::None, pause: PauseDefect::None }
    }
    fn store(defect: StoreDefect) -> Self {
        BrokenBackend { service: Defect::None, store: defect, pause: PauseDefect::None }
    }
    fn pause(defect: PauseDefect) -> Self {
        BrokenBackend { service: Defect::None, store: StoreDefect::None, pause: defect }
    }
}

impl Backend for BrokenBackend {
    type Service = Broken;
    type Pause = BrokenPause;
    type Budgets = BrokenStore;

    async fn task_service(&self) -> (Broken, BrokenPause) {
        let pause = MemoryPauseStore::new();
        let consulted = if self.service == Defect::IgnoresPause { MemoryPauseStore::new() } else { pause.clone() };
        let service = Broken::new(MemoryTaskService::with_pause(consulted), self.service);
        (service, BrokenPause { inner: pause, defect: self.pause })
    }

    async fn starvation_store(&self) -> BrokenStore {
        BrokenStore { inner: MemoryStarvationStore::new(), defect: self.store }
    }
}

// ---------------------------------------------------------------------------------
// The tests.

fn run(backend: BrokenBackend) -> ConformanceReport {
    futures::executor::block_on(conformance::run_all(&backend))
}

/// The report's failures as (check, rule) pairs, and a sanity check that every other
/// check passed.
fn failed(report: &ConformanceReport) -> Vec<(&'static str, &'static str)> {
    assert_eq!(report.passed.len() + report.failures.len(), 23, "{report}");
    report.failures.iter().map(|f| (f.check, f.rule)).collect()
}

#[test]
fn the_wrapper_without_a_defect_conforms() {
    let report = run(BrokenBackend { service: Defect::None, store: StoreDefect::None, pause: PauseDefect::None });
    report.assert_ok();
}

#[test]
fn ignoring_the_claim_token_fails_the_token_checks() {
    let report = run(BrokenBackend::service(Defect::IgnoresToken));
    assert_eq!(
        failed(&report),
        [("wrong_token_is_refused", "token.wrong"), ("stale_token_is_refused", "token.stale")],
        "{report}"
    );
    assert!(report.failures[0].detail.contains("another run's token"), "{report}");
}

#[test]
fn leaking_tokens_into_errors_fails_the_secret_rule() {
    let report = run(BrokenBackend::service(Defect::LeaksToken));
    assert_eq!(
        failed(&report),
        [("wrong_token_is_refused", "token.secret"), ("stale_token_is_refused", "token.secret")],
        "{report}"
    );
}

#[test]
fn check_then_act_claims_fail_the_exclusivity_check() {
    let report = run(BrokenBackend::service(Defect::RacyClaim { parallel_only: false }));
    assert_eq!(failed(&report), [("concurrent_claims_have_one_winner", "claim.exclusive")], "{report}");
    assert!(report.failures[0].detail.contains("claims polled together"), "{report}");
    assert!(report.failures[0].detail.contains("more than one session"), "{report}");
}

#[test]
fn the_parallel_phase_catches_races_on_threads() {
    let report = run(BrokenBackend::service(Defect::RacyClaim { parallel_only: true }));
    assert_eq!(failed(&report), [("concurrent_claims_have_one_winner", "claim.exclusive")], "{report}");
    assert!(report.failures[0].detail.starts_with("threads, repetition 0"), "{report}");
}

#[cfg(feature = "tokio")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_parallel_phase_catches_races_on_tokio_tasks() {
    let report =
        conformance::run_task_service(&BrokenBackend::service(Defect::RacyClaim { parallel_only: true })).await;
    let failed: Vec<_> = report.failures.iter().map(|f| (f.check, f.rule)).collect();
    assert_eq!(failed, [("concurrent_claims_have_one_winner", "claim.exclusive")], "{report}");
    assert!(report.failures[0].detail.starts_with("tokio tasks, repetition 0"), "{report}");
}

#[test]
fn ignoring_the_pause_fails_the_pause_check() {
    let report = run(BrokenBackend::service(Defect::IgnoresPause));
    assert_eq!(failed(&report), [("claims_refused_while_paused", "claim.paused")], "{report}");
}

#[test]
fn heartbeats_that_do_not_extend_fail_the_heartbeat_checks() {
    let report = run(BrokenBackend::service(Defect::HeartbeatDoesNotExtend));
    assert_eq!(
        failed(&report),
        [("lease_lifecycle", "lease.heartbeat"), ("heartbeat_extends_lease", "heartbeat.extends")],
        "{report}"
    );
}

#[test]
fn recovering_unexpired_leases_fails_recovery_checks_and_scenarios() {
    let report = run(BrokenBackend::service(Defect::RecoversUnexpired));
    assert_eq!(
        failed(&report),
        [
            ("heartbeat_extends_lease", "heartbeat.extends"),
            ("recovery_order_and_limit", "recovery.order"),
            ("wake_leaves_claim_to_service", "scenario.claimed_not_woken"),
            ("expired_lease_recovered_next_cycle", "scenario.live_lease_kept"),
        ],
        "{report}"
    );
}

#[test]
fn ignoring_the_recovery_limit_fails_the_limit_rule() {
    let report = run(BrokenBackend::service(Defect::IgnoresLimit));
    assert_eq!(failed(&report), [("recovery_order_and_limit", "recovery.limit")], "{report}");
}

#[test]
fn never_recovering_fails_recovery_checks_and_scenarios() {
    let report = run(BrokenBackend::service(Defect::NeverRecovers));
    assert_eq!(
        failed(&report),
        [
            ("stale_token_is_refused", "token.stale"),
            ("heartbeat_extends_lease", "recovery.at_lease_end"),
            ("recovery_order_and_limit", "recovery.limit"),
            ("recovering_twice", "recovery.twice"),
            ("expired_lease_recovered_next_cycle", "scenario.sweep_recovers"),
            ("dead_worker_recovered_before_replacement_woken", "scenario.recover_before_wake"),
        ],
        "{report}"
    );
}

#[test]
fn marking_any_run_fails_the_transition_rule() {
    let report = run(BrokenBackend::service(Defect::MarksAnything));
    assert_eq!(failed(&report), [("needs_attention_transition", "needs_attention.invalid_transition")], "{report}");
}

#[test]
fn a_store_that_does_not_clear_fails_store_checks_and_the_ladder_scenario() {
    let report = run(BrokenBackend::store(StoreDefect::ClearDoesNothing));
    assert_eq!(
        failed(&report),
        [
            ("budget_clear", "starvation.clear"),
            ("budget_list", "starvation.list"),
            ("budget_batches", "starvation.batches"),
            ("restart_resumes_ladder", "scenario.needs_attention"),
        ],
        "{report}"
    );
}

#[test]
fn a_store_that_does_not_keep_budgets_fails_store_checks_and_the_restart_scenario() {
    let report = run(BrokenBackend::store(StoreDefect::UpsertDoesNothing));
    assert_eq!(
        failed(&report),
        [
            ("budget_round_trip", "starvation.round_trip"),
            ("budget_clear", "starvation.clear"),
            ("budget_list", "starvation.list"),
            ("budget_batches", "starvation.batches"),
            ("restart_resumes_ladder", "scenario.ladder_counts"),
        ],
        "{report}"
    );
}

#[test]
fn a_pause_that_cannot_be_lifted_fails_the_pause_checks() {
    let report = run(BrokenBackend::pause(PauseDefect::ResumeDoesNothing));
    assert_eq!(
        failed(&report),
        [("claims_refused_while_paused", "claim.paused"), ("pause_round_trip", "pause.resume")],
        "{report}"
    );
}

#[test]
fn a_pause_that_loses_its_reason_fails_the_round_trip() {
    let report = run(BrokenBackend::pause(PauseDefect::LosesReason));
    assert_eq!(failed(&report), [("pause_round_trip", "pause.round_trip")], "{report}");
}
