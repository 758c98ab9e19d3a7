//! A plain run row for the selection's unit tests (the testkit's snapshots implement
//! another build of this crate's traits, so unit tests cannot use them).

use std::time::SystemTime;

use crate::model::{Owner, Priority, RunStatus, Scope, TaskStatus};
use crate::view::RunView;

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
