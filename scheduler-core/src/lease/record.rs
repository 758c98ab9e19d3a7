//! What a service answers: a lease, a run's record, a recovered lease, the pause.

use std::sync::Arc;
use std::time::SystemTime;

use super::ClaimToken;
use crate::model::RunStatus;
use crate::view::RecoveredView;

/// A won claim: the run now leased to the session, and the token that fences it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The run leased.
    pub run_id: String,
    /// The session holding the lease.
    pub session_id: String,
    /// The lease's secret; returned once, here.
    pub token: ClaimToken,
    /// When the lease ends unless a heartbeat extends it.
    pub lease_until: SystemTime,
}

/// A run as stored: its status, lease and queue position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The run's status.
    pub status: RunStatus,
    /// The session holding the run's lease, if it holds one.
    pub session_id: Option<String>,
    /// When the lease ends, if the run is leased.
    pub lease_until: Option<SystemTime>,
    /// When the run was first queued (kept across release and recovery).
    pub queued_at: Option<SystemTime>,
}

/// What a recovered lease reports beyond the scheduler's [`RecoveredView`].
pub trait RecoveredDetails: RecoveredView {
    /// The run's status now (`queued` after a recovery).
    fn status(&self) -> RunStatus;
    /// The run's status before recovery (`claimed`, `starting` or `running`).
    fn previous_status(&self) -> RunStatus;
    /// When the expired lease ended.
    fn previous_lease_until(&self) -> SystemTime;
    /// The recovery reason recorded.
    fn reason(&self) -> &str;
    /// The actor the recovery is recorded as done by.
    fn actor(&self) -> &str;
}

macro_rules! forward_recovered_details {
    ($($ptr:ty),*) => {$(
        /// Forwards to the pointee.
        impl<T: RecoveredDetails + ?Sized> RecoveredDetails for $ptr {
            fn status(&self) -> RunStatus {
                (**self).status()
            }
            fn previous_status(&self) -> RunStatus {
                (**self).previous_status()
            }
            fn previous_lease_until(&self) -> SystemTime {
                (**self).previous_lease_until()
            }
            fn reason(&self) -> &str {
                (**self).reason()
            }
            fn actor(&self) -> &str {
                (**self).actor()
            }
        }
    )*};
}

forward_recovered_details!(&T, Box<T>, Arc<T>);

/// Who paused the scheduler, when and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseState {
    /// Who paused it.
    pub paused_by: String,
    /// When (stores keep at least whole seconds).
    pub paused_at: SystemTime,
    /// Why.
    pub reason: String,
}
