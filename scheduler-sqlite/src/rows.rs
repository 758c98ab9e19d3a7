//! What the store hands the scheduler: pending runs joined with their task, runs that
//! hold a session, recovered leases.

use std::sync::Arc;
use std::time::SystemTime;

use rusqlite::Row;
use scheduler_core::lease::RecoveredDetails;
use scheduler_core::model::{Owner, OwnerRef, Priority, RunStatus, Scope, TaskStatus};
use scheduler_core::view::{ActiveRunView, RecoveredView, RunView};

use crate::error::Error;
use crate::value::{parse_array, time};

/// A queued run joined with its task, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRun {
    /// The run id.
    pub run_id: String,
    /// The task id.
    pub task_id: String,
    /// The run's status.
    pub status: RunStatus,
    /// The task's status.
    pub task_status: TaskStatus,
    /// Whether the task is paused.
    pub task_paused: bool,
    /// The task's priority.
    pub priority: Priority,
    /// The task's scope.
    pub scope: Scope,
    /// The task's workspace.
    pub workspace_id: String,
    /// The run's coordination channel.
    pub channel: String,
    /// Who may take the task.
    pub owner: OwnerRef,
    /// The capabilities a session needs.
    pub required_capabilities: Vec<String>,
    /// When the run was first queued.
    pub queued_at: Option<SystemTime>,
}

/// The columns [`PendingRun::from_row`] reads, in order, over `runs r JOIN tasks t`.
pub(crate) const PENDING_COLUMNS: &str = "r.run_id, r.task_id, r.status, t.status, t.paused, t.priority, t.scope, \
     t.workspace_id, r.channel, t.owner_kind, t.owner_ref, r.caps, r.queued_at";

/// Column `i` as text, borrowed.
pub(crate) fn str_at<'r>(row: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?
        .as_str()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

impl PendingRun {
    pub(crate) fn from_row(row: &Row<'_>) -> Result<PendingRun, Error> {
        let text = |i: usize| row.get_ref(i).and_then(|v| Ok(v.as_str()?.to_owned()));
        let caps: String = row.get(11)?;
        Ok(PendingRun {
            run_id: text(0)?,
            task_id: text(1)?,
            status: RunStatus::from_text(str_at(row, 2)?),
            task_status: TaskStatus::from_text(str_at(row, 3)?),
            task_paused: row.get(4)?,
            priority: Priority::from_text(str_at(row, 5)?),
            scope: Scope::from_text(str_at(row, 6)?),
            workspace_id: text(7)?,
            channel: text(8)?,
            owner: OwnerRef::from_parts(str_at(row, 9)?, str_at(row, 10)?),
            required_capabilities: parse_array(&caps, "runs")?,
            queued_at: row.get::<_, Option<i64>>(12)?.map(time),
        })
    }
}

impl RunView for PendingRun {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn task_id(&self) -> &str {
        &self.task_id
    }
    fn run_status(&self) -> RunStatus {
        self.status
    }
    fn task_status(&self) -> TaskStatus {
        self.task_status
    }
    fn task_paused(&self) -> bool {
        self.task_paused
    }
    fn priority(&self) -> Priority {
        self.priority
    }
    fn scope(&self) -> Scope {
        self.scope
    }
    fn workspace_id(&self) -> &str {
        &self.workspace_id
    }
    fn channel(&self) -> &str {
        &self.channel
    }
    fn owner(&self) -> Owner<'_> {
        self.owner.as_owner()
    }
    fn required_capabilities(&self) -> impl Iterator<Item = &str> {
        self.required_capabilities.iter().map(String::as_str)
    }
    fn queued_at(&self) -> Option<SystemTime> {
        self.queued_at
    }
}

/// A run that holds a session (`claimed`, `starting` or `running`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRun {
    /// The run id.
    pub run_id: String,
    /// The session holding it.
    pub session_id: String,
    /// Its status.
    pub status: RunStatus,
}

impl ActiveRunView for ActiveRun {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn session_id(&self) -> &str {
        &self.session_id
    }
    fn status(&self) -> RunStatus {
        self.status
    }
}

/// One lease the sweep recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredRun {
    /// The run as it is now (`queued`, no session).
    pub run: Arc<PendingRun>,
    /// Its status before recovery.
    pub previous_status: RunStatus,
    /// The session that held the expired lease.
    pub previous_session_id: String,
    /// When the expired lease ended.
    pub previous_lease_until: SystemTime,
    /// The recovery reason recorded.
    pub reason: String,
    /// The actor the recovery is recorded as done by.
    pub actor: String,
}

impl RecoveredView for RecoveredRun {
    fn run_id(&self) -> &str {
        &self.run.run_id
    }
    fn previous_session_id(&self) -> &str {
        &self.previous_session_id
    }
}

impl RecoveredDetails for RecoveredRun {
    fn status(&self) -> RunStatus {
        self.run.status
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
