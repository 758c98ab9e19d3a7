//! The rows the backend hands to the scheduler: owned snapshots that implement the
//! core's view traits.

use std::time::SystemTime;

use scheduler_core::lease::{RecoveredDetails, SessionSpec};
use scheduler_core::model::{Owner, OwnerRef, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::view::{ActiveRunView, RecoveredView, RunView, SessionView};
use tokio_postgres::Row;

/// A queued run joined with its task, as read by [`pending_runs`](scheduler_core::seam::TaskSource::pending_runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgRun {
    /// The run id.
    pub run_id: String,
    /// The task id.
    pub task_id: String,
    /// The run's status.
    pub run_status: RunStatus,
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
    /// When the run was queued.
    pub queued_at: SystemTime,
}

/// The columns [`PgRun::from_row`] reads, in order, from `runs r JOIN tasks t`.
pub(crate) const RUN_COLUMNS: &str = "r.run_id, r.task_id, r.status, t.status, t.paused, t.priority, t.scope, \
     t.workspace_id, r.channel, t.owner_kind, t.owner_ref, r.required_caps, r.queued_at";

impl PgRun {
    pub(crate) fn from_row(row: &Row) -> PgRun {
        let owner_kind: &str = row.get(9);
        let owner_ref: &str = row.get(10);
        PgRun {
            run_id: row.get(0),
            task_id: row.get(1),
            run_status: RunStatus::from_text(row.get(2)),
            task_status: TaskStatus::from_text(row.get(3)),
            task_paused: row.get(4),
            priority: Priority::from_text(row.get(5)),
            scope: Scope::from_text(row.get(6)),
            workspace_id: row.get(7),
            channel: row.get(8),
            owner: owner_ref_of(owner_kind, owner_ref),
            required_capabilities: row.get(11),
            queued_at: row.get(12),
        }
    }
}

fn owner_ref_of(kind: &str, reference: &str) -> OwnerRef {
    match Owner::from_parts(kind, reference) {
        Owner::None => OwnerRef::None,
        Owner::Pool(r) => OwnerRef::Pool(r.to_owned()),
        Owner::AgentSession(r) => OwnerRef::AgentSession(r.to_owned()),
        Owner::Unknown => OwnerRef::Unknown,
    }
}

impl RunView for PgRun {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn task_id(&self) -> &str {
        &self.task_id
    }
    fn run_status(&self) -> RunStatus {
        self.run_status
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
        Some(self.queued_at)
    }
}

/// A run that holds a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgActiveRun {
    /// The run id.
    pub run_id: String,
    /// The session holding it.
    pub session_id: String,
    /// `claimed`, `starting` or `running`.
    pub status: RunStatus,
}

impl ActiveRunView for PgActiveRun {
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
    /// The run id.
    pub run_id: String,
    /// The run's task.
    pub task_id: String,
    /// When the run was first queued (kept).
    pub queued_at: SystemTime,
    /// Its status before the sweep.
    pub previous_status: RunStatus,
    /// The session that held the expired lease.
    pub previous_session_id: String,
    /// When that lease ended.
    pub previous_lease_until: SystemTime,
    /// The recovery reason recorded.
    pub reason: String,
    /// The actor recorded.
    pub actor: String,
}

impl RecoveredView for RecoveredRun {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn previous_session_id(&self) -> &str {
        &self.previous_session_id
    }
}

impl RecoveredDetails for RecoveredRun {
    fn status(&self) -> RunStatus {
        RunStatus::Queued
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

/// A registered session and the daemon hosting it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSession {
    /// The session as registered.
    pub spec: SessionSpec,
    /// The daemon hosting it: wakes for it are sent there.
    pub daemon_id: String,
    /// When it was last seen (any registry write).
    pub seen_at: SystemTime,
}

/// The columns [`PgSession::from_row`] reads, in order.
pub(crate) const SESSION_COLUMNS: &str = "session_id, agent_name, workspace_id, channel, session_type, state, \
     prompting, capabilities, created_at, daemon_id, seen_at";

impl PgSession {
    pub(crate) fn from_row(row: &Row) -> PgSession {
        let spec = SessionSpec {
            session_id: row.get(0),
            agent_name: row.get(1),
            workspace_id: row.get(2),
            channel: row.get(3),
            session_type: row.get(4),
            state: SessionState::from_text(row.get(5)),
            prompting: row.get(6),
            capabilities: row.get(7),
            created_at: row.get(8),
        };
        PgSession { spec, daemon_id: row.get(9), seen_at: row.get(10) }
    }
}

impl SessionView for PgSession {
    fn session_id(&self) -> &str {
        &self.spec.session_id
    }
    fn agent_name(&self) -> &str {
        &self.spec.agent_name
    }
    fn workspace_id(&self) -> &str {
        &self.spec.workspace_id
    }
    fn channel(&self) -> &str {
        &self.spec.channel
    }
    fn state(&self) -> SessionState {
        self.spec.state
    }
    fn prompting(&self) -> bool {
        self.spec.prompting
    }
    fn capabilities(&self) -> impl Iterator<Item = &str> {
        self.spec.capabilities.iter().map(String::as_str)
    }
    fn created_at(&self) -> SystemTime {
        self.spec.created_at
    }
}
