//! Snapshot *views*: the read-only shape the scheduler needs of your rows.
//!
//! The scheduler never asks you to convert your task-service rows into its own types.
//! Implement these traits on the row types you already have (or on a borrowed join of
//! them) and hand them over. Every method is a cheap accessor; the scheduler calls them
//! many times per cycle, so do not compute or allocate in them.
//!
//! Ids are compared after trimming surrounding spaces, and an empty id is no id, so a
//! view may return ids exactly as stored.
//!
//! Views are implemented for `&T`, `Box<T>`, `Rc<T>` and `Arc<T>` of any view `T`, so a
//! source can hand out cheap clones of shared rows.
//!
//! ```
//! use std::time::SystemTime;
//! use scheduler_core::model::{Owner, Priority, RunStatus, Scope, TaskStatus};
//! use scheduler_core::view::RunView;
//!
//! struct Row { run_id: String, task_id: String, caps: Vec<String>, queued_at: SystemTime }
//!
//! impl RunView for Row {
//!     fn run_id(&self) -> &str { &self.run_id }
//!     fn task_id(&self) -> &str { &self.task_id }
//!     fn run_status(&self) -> RunStatus { RunStatus::Queued }
//!     fn task_status(&self) -> TaskStatus { TaskStatus::Ready }
//!     fn task_paused(&self) -> bool { false }
//!     fn priority(&self) -> Priority { Priority::High }
//!     fn scope(&self) -> Scope { Scope::Global }
//!     fn workspace_id(&self) -> &str { "" }
//!     fn channel(&self) -> &str { "" }
//!     fn owner(&self) -> Owner<'_> { Owner::None }
//!     fn required_capabilities(&self) -> impl Iterator<Item = &str> {
//!         self.caps.iter().map(String::as_str)
//!     }
//!     fn queued_at(&self) -> Option<SystemTime> { Some(self.queued_at) }
//! }
//! ```

use std::time::SystemTime;

use crate::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};

/// A queued run joined with its task: what the scheduler reads of pending work.
pub trait RunView {
    /// The run's id.
    fn run_id(&self) -> &str;
    /// The id of the task the run executes.
    fn task_id(&self) -> &str;
    /// The run's status. Only [`RunStatus::Queued`] runs are woken for.
    fn run_status(&self) -> RunStatus;
    /// The task's status; `draft`, `blocked` and `canceled` tasks are not claimable.
    fn task_status(&self) -> TaskStatus;
    /// Whether the task is paused.
    fn task_paused(&self) -> bool;
    /// The task's priority.
    fn priority(&self) -> Priority;
    /// The task's scope.
    fn scope(&self) -> Scope;
    /// The task's workspace id; empty for a global task.
    fn workspace_id(&self) -> &str;
    /// The run's coordination channel id; empty for none (any session's channel).
    fn channel(&self) -> &str;
    /// Who may take the task.
    fn owner(&self) -> Owner<'_>;
    /// The capability names a session must have. Empty names are ignored.
    fn required_capabilities(&self) -> impl Iterator<Item = &str>;
    /// When the run was queued, if known. Unknown sorts as the earliest time.
    fn queued_at(&self) -> Option<SystemTime>;
}

/// A run that holds (or held) a session: what the scheduler reads to know who is busy.
pub trait ActiveRunView {
    /// The run's id.
    fn run_id(&self) -> &str;
    /// The session the run is leased to.
    fn session_id(&self) -> &str;
    /// The run's status. A session is busy while one of its runs is `claimed`,
    /// `starting` or `running`.
    fn status(&self) -> RunStatus;
}

/// A live agent session that may be woken.
pub trait SessionView {
    /// The session's id.
    fn session_id(&self) -> &str;
    /// The agent name (matched against a pool owner).
    fn agent_name(&self) -> &str;
    /// The session's workspace id; empty for a global session.
    fn workspace_id(&self) -> &str;
    /// The coordination channel the session listens on; may be empty.
    fn channel(&self) -> &str;
    /// The session's lifecycle state. Only `active` sessions are woken.
    fn state(&self) -> SessionState;
    /// Whether the session is in the middle of a prompt (and so not idle).
    fn prompting(&self) -> bool;
    /// The capability names the session has.
    fn capabilities(&self) -> impl Iterator<Item = &str>;
    /// When the session was created. Sessions are tried oldest first.
    fn created_at(&self) -> SystemTime;
}

/// One run the task service returned to `queued` because its lease expired.
pub trait RecoveredView {
    /// The recovered run's id.
    fn run_id(&self) -> &str;
    /// The session that held the expired lease (empty if unknown).
    fn previous_session_id(&self) -> &str;
}

macro_rules! forward_views {
    ($($ptr:ty),*) => {$(
        impl<T: RunView + ?Sized> RunView for $ptr {
            fn run_id(&self) -> &str { (**self).run_id() }
            fn task_id(&self) -> &str { (**self).task_id() }
            fn run_status(&self) -> RunStatus { (**self).run_status() }
            fn task_status(&self) -> TaskStatus { (**self).task_status() }
            fn task_paused(&self) -> bool { (**self).task_paused() }
            fn priority(&self) -> Priority { (**self).priority() }
            fn scope(&self) -> Scope { (**self).scope() }
            fn workspace_id(&self) -> &str { (**self).workspace_id() }
            fn channel(&self) -> &str { (**self).channel() }
            fn owner(&self) -> Owner<'_> { (**self).owner() }
            fn required_capabilities(&self) -> impl Iterator<Item = &str> {
                (**self).required_capabilities()
            }
            fn queued_at(&self) -> Option<SystemTime> { (**self).queued_at() }
        }

        impl<T: ActiveRunView + ?Sized> ActiveRunView for $ptr {
            fn run_id(&self) -> &str { (**self).run_id() }
            fn session_id(&self) -> &str { (**self).session_id() }
            fn status(&self) -> RunStatus { (**self).status() }
        }

        impl<T: SessionView + ?Sized> SessionView for $ptr {
            fn session_id(&self) -> &str { (**self).session_id() }
            fn agent_name(&self) -> &str { (**self).agent_name() }
            fn workspace_id(&self) -> &str { (**self).workspace_id() }
            fn channel(&self) -> &str { (**self).channel() }
            fn state(&self) -> SessionState { (**self).state() }
            fn prompting(&self) -> bool { (**self).prompting() }
            fn capabilities(&self) -> impl Iterator<Item = &str> { (**self).capabilities() }
            fn created_at(&self) -> SystemTime { (**self).created_at() }
        }

        impl<T: RecoveredView + ?Sized> RecoveredView for $ptr {
            fn run_id(&self) -> &str { (**self).run_id() }
            fn previous_session_id(&self) -> &str { (**self).previous_session_id() }
        }
    )*};
}

forward_views!(&T, Box<T>, std::rc::Rc<T>, std::sync::Arc<T>);
