//! [`MemoryTaskService`] as the core's [`LeaseService`], and its errors as
//! [`ServiceError`]s.

use std::time::{Duration, SystemTime};

use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, Lease, LeaseService, RecoveredDetails, RunRecord, RunSpec, ServiceError,
    TaskSpec,
};
use scheduler_core::model::RunStatus;

use super::{LeaseError, MemoryTaskService, RecoveredRun};

impl ServiceError for LeaseError {
    fn kind(&self) -> ErrorKind {
        match self {
            LeaseError::UnknownRun { .. } => ErrorKind::UnknownRun,
            LeaseError::UnknownTask { .. } => ErrorKind::UnknownTask,
            LeaseError::DuplicateRun { .. } => ErrorKind::DuplicateRun,
            LeaseError::WrongToken { .. } | LeaseError::StaleToken { .. } => ErrorKind::TokenRejected,
            LeaseError::InvalidTransition { .. } => ErrorKind::InvalidTransition,
            LeaseError::SessionBusy { .. } => ErrorKind::SessionBusy,
            LeaseError::Paused | LeaseError::PauseUnreadable(_) => ErrorKind::Paused,
            LeaseError::EmptyId { .. } | LeaseError::LeaseOverflow { .. } => ErrorKind::InvalidInput,
            LeaseError::Injected(_) => ErrorKind::Unavailable,
        }
    }
}

impl RecoveredDetails for RecoveredRun {
    fn status(&self) -> RunStatus {
        self.run.run_status
    }
    fn previous_status(&self) -> RunStatus {
        self.previous_status
    }
    fn previous_lease_until(&self) -> SystemTime {
        self.previous_lease_until
    }
    fn reason(&self) -> &str {
        &self.reason
    }
    fn actor(&self) -> &str {
        &self.actor
    }
}

/// Forwards to the inherent (synchronous) methods; every future is ready at once.
impl LeaseService for MemoryTaskService {
    async fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::enqueue(self, task, run, now)
    }

    async fn update_task(&self, task: &TaskSpec, now: SystemTime) -> Result<(), LeaseError> {
        MemoryTaskService::update_task(self, task, now)
    }

    async fn claim(
        &self,
        request: &ClaimRequest,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Option<Lease>, LeaseError> {
        MemoryTaskService::claim(self, request, lease, now)
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
        self.faults.check("record")?;
        Ok(MemoryTaskService::record(self, run_id))
    }
}
