//! The contract traits for the testkit's in-memory implementations.

use std::time::{Duration, SystemTime};

use scheduler_core::model::RunStatus;

use super::{Backend, ErrorKind, LeaseService, PauseControl, RecoveredDetails};
use crate::fault::FakeError;
use crate::service::{Claim, ClaimCriteria, ClaimToken, LeaseError, MemoryTaskService, RecoveredRun, RunRecord};
use crate::snapshot::{RecoveredLease, RunSnapshot};
use crate::stores::{MemoryPauseStore, MemoryStarvationStore, PauseState};

impl LeaseError {
    /// How the conformance suite classifies this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            LeaseError::UnknownRun { .. } => ErrorKind::UnknownRun,
            LeaseError::WrongToken { .. } | LeaseError::StaleToken { .. } => ErrorKind::TokenRejected,
            LeaseError::InvalidTransition { .. } => ErrorKind::InvalidTransition,
            LeaseError::SessionBusy { .. } => ErrorKind::SessionBusy,
            LeaseError::Paused | LeaseError::PauseUnreadable(_) => ErrorKind::Paused,
            LeaseError::UnknownTask { .. }
            | LeaseError::DuplicateRun { .. }
            | LeaseError::EmptyId { .. }
            | LeaseError::LeaseOverflow { .. }
            | LeaseError::Injected(_) => ErrorKind::Other,
        }
    }
}

impl RecoveredDetails for RecoveredRun {
    fn previous_status(&self) -> RunStatus {
        self.previous_status
    }
    fn previous_lease_until(&self) -> Option<SystemTime> {
        Some(self.previous_lease_until)
    }
    fn reason(&self) -> &str {
        &self.reason
    }
}

impl RecoveredDetails for RecoveredLease {
    fn previous_status(&self) -> RunStatus {
        self.previous_status
    }
    fn previous_lease_until(&self) -> Option<SystemTime> {
        self.previous_lease_until
    }
    fn reason(&self) -> &str {
        &self.reason
    }
}

impl LeaseService for MemoryTaskService {
    fn error_kind(error: &LeaseError) -> ErrorKind {
        error.kind()
    }

    async fn enqueue(&self, run: &RunSnapshot, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::enqueue(self, run, now)
    }

    async fn claim(
        &self,
        criteria: &ClaimCriteria,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Option<Claim>, LeaseError> {
        MemoryTaskService::claim(self, criteria, lease, now)
    }

    async fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::start(self, run_id, token, now)
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, LeaseError> {
        MemoryTaskService::heartbeat(self, run_id, token, lease, now)
    }

    async fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::complete(self, run_id, token, now)
    }

    async fn fail(&self, run_id: &str, token: &ClaimToken, reason: &str, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::fail(self, run_id, token, reason, now)
    }

    async fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::release(self, run_id, token, now)
    }

    async fn mark_needs_attention(&self, run_id: &str, diagnostic: &str, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::mark_needs_attention(self, run_id, diagnostic, now)
    }

    async fn record(&self, run_id: &str) -> Result<Option<RunRecord>, LeaseError> {
        Ok(MemoryTaskService::record(self, run_id))
    }
}

impl PauseControl for MemoryPauseStore {
    async fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> Result<(), FakeError> {
        MemoryPauseStore::pause(self, paused_by, paused_at, reason);
        Ok(())
    }

    async fn resume(&self) -> Result<(), FakeError> {
        MemoryPauseStore::resume(self);
        Ok(())
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, FakeError> {
        Ok(self.state())
    }
}

/// The testkit's own in-memory implementations as a [`Backend`]: a
/// [`MemoryTaskService`] wired to a fresh [`MemoryPauseStore`], and a fresh
/// [`MemoryStarvationStore`]. They pass the whole suite.
///
/// ```
/// use scheduler_testkit::conformance::{run_all, MemoryBackend};
/// futures::executor::block_on(run_all(&MemoryBackend)).assert_ok();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBackend;

impl Backend for MemoryBackend {
    type Service = MemoryTaskService;
    type Pause = MemoryPauseStore;
    type Budgets = MemoryStarvationStore;

    async fn task_service(&self) -> (MemoryTaskService, MemoryPauseStore) {
        let pause = MemoryPauseStore::new();
        (MemoryTaskService::with_pause(pause.clone()), pause)
    }

    async fn starvation_store(&self) -> MemoryStarvationStore {
        MemoryStarvationStore::new()
    }
}
