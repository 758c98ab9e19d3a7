//! Plain run and session rows for the selection's unit tests (the testkit's snapshots implement
//! another build of this crate's traits, so unit tests cannot use them).

use std::time::SystemTime;

use crate::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};
use crate::view::{ActiveRunView, RunView, SessionView};

/// A claimable, global run of task `task` with these fields.
pub(crate) struct TestRun {
    pub(crate) id: String,
    pub(crate) priority: Priority,
    pub(crate) caps: Vec<&'static str>,
    pub(crate) queued_at: Option<SystemTime>,
}

impl RunView for TestRun {
    fn run_id(&self) -> &str {
        &self.id
    }
    fn task_id(&self) -> &str {
        "task"
    }
    fn run_status(&self) -> RunStatus {
        RunStatus::Queued
    }
    fn task_status(&self) -> TaskStatus {
        TaskStatus::Ready
    }
    fn task_paused(&self) -> bool {
        false
    }
    fn priority(&self) -> Priority {
        self.priority
    }
    fn scope(&self) -> Scope {
        Scope::Global
    }
    fn workspace_id(&self) -> &str {
        ""
    }
    fn channel(&self) -> &str {
        ""
    }
    fn owner(&self) -> Owner<'_> {
        Owner::None
    }
    fn required_capabilities(&self) -> impl Iterator<Item = &str> {
        self.caps.iter().copied()
    }
    fn queued_at(&self) -> Option<SystemTime> {
        self.queued_at
    }
}

/// An active, global, idle session with these fields.
pub(crate) struct TestSession {
    pub(crate) id: String,
    pub(crate) caps: Vec<&'static str>,
    pub(crate) created_at: SystemTime,
}

impl SessionView for TestSession {
    fn session_id(&self) -> &str {
        &self.id
    }
    fn agent_name(&self) -> &str {
        "agent"
    }
    fn workspace_id(&self) -> &str {
        ""
    }
    fn channel(&self) -> &str {
        ""
    }
    fn state(&self) -> SessionState {
        SessionState::Active
    }
    fn prompting(&self) -> bool {
        false
    }
    fn capabilities(&self) -> impl Iterator<Item = &str> {
        self.caps.iter().copied()
    }
    fn created_at(&self) -> SystemTime {
        self.created_at
    }
}

/// No active run: a selection input with `&[] as &[NoActive]`.
pub(crate) struct NoActive;

impl ActiveRunView for NoActive {
    fn run_id(&self) -> &str {
        ""
    }
    fn session_id(&self) -> &str {
        ""
    }
    fn status(&self) -> RunStatus {
        RunStatus::Running
    }
}
