//! Plain snapshot structs that implement the core's view traits, with chainable
//! constructors for terse tests.
//!
//! ```
//! use scheduler_core::eligibility::session_matches;
//! use scheduler_core::model::Priority;
//! use scheduler_testkit::snapshot::{RunSnapshot, SessionSnapshot};
//!
//! let run = RunSnapshot::queued("run-1", "task-1").workspace("ws-1").caps(["rust"]).priority(Priority::High);
//! let session = SessionSnapshot::active("sess-1").workspace("ws-1").caps(["rust", "go"]);
//! assert!(session_matches(&run, &session));
//! ```

use std::time::SystemTime;

use scheduler_core::lease::{RunSpec, SessionSpec, TaskSpec};
use scheduler_core::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::view::{ActiveRunView, RecoveredView, RunView, SessionView};

pub use scheduler_core::model::OwnerRef;

/// A queued run joined with its task.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunSnapshot {
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Run status.
    pub run_status: RunStatus,
    /// Task status.
    pub task_status: TaskStatus,
    /// Task paused flag.
    pub task_paused: bool,
    /// Task priority.
    pub priority: Priority,
    /// Task scope.
    pub scope: Scope,
    /// Task workspace (empty for global).
    pub workspace_id: String,
    /// Coordination channel (empty for none).
    pub channel: String,
    /// Task owner.
    pub owner: OwnerRef,
    /// Required capabilities.
    pub required_capabilities: Vec<String>,
    /// When the run was queued.
    pub queued_at: Option<SystemTime>,
}

impl RunSnapshot {
    /// A queued run of a ready, global, medium-priority task with no requirements and
    /// an unknown queued-at.
    pub fn queued(run_id: impl Into<String>, task_id: impl Into<String>) -> Self {
        RunSnapshot {
            run_id: run_id.into(),
            task_id: task_id.into(),
            run_status: RunStatus::Queued,
            task_status: TaskStatus::Ready,
            task_paused: false,
            priority: Priority::Medium,
            scope: Scope::Global,
            workspace_id: String::new(),
            channel: String::new(),
            owner: OwnerRef::None,
            required_capabilities: Vec::new(),
            queued_at: None,
        }
    }

    /// Makes the task workspace-scoped in `workspace`.
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.scope = Scope::Workspace;
        self.workspace_id = workspace.into();
        self
    }

    /// Sets the scope and workspace id as given (no consistency fix-up).
    pub fn scope(mut self, scope: Scope, workspace: impl Into<String>) -> Self {
        self.scope = scope;
        self.workspace_id = workspace.into();
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the coordination channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Sets the owner.
    pub fn owner(mut self, owner: OwnerRef) -> Self {
        self.owner = owner;
        self
    }

    /// Owned by the pool of `agent`.
    pub fn pool_owner(self, agent: impl Into<String>) -> Self {
        self.owner(OwnerRef::Pool(agent.into()))
    }

    /// Owned by the session `session`.
    pub fn session_owner(self, session: impl Into<String>) -> Self {
        self.owner(OwnerRef::AgentSession(session.into()))
    }

    /// Sets the required capabilities.
    pub fn caps<I: IntoIterator<Item = C>, C: Into<String>>(mut self, caps: I) -> Self {
        self.required_capabilities = caps.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the queued-at time.
    pub fn queued_at(mut self, at: SystemTime) -> Self {
        self.queued_at = Some(at);
        self
    }

    /// Sets the run status.
    pub fn status(mut self, status: RunStatus) -> Self {
        self.run_status = status;
        self
    }

    /// Sets the task status.
    pub fn task_status(mut self, status: TaskStatus) -> Self {
        self.task_status = status;
        self
    }

    /// Pauses the task.
    pub fn paused(mut self) -> Self {
        self.task_paused = true;
        self
    }

    /// A queued run of `task` with no id, channel, requirements or queued-at yet.
    pub fn of_task(task: &TaskSpec) -> Self {
        let mut run = RunSnapshot::queued("", task.task_id.clone());
        run.describe(task);
        run
    }

    /// Copies the task's fields (id, status, paused flag, priority, scope, workspace,
    /// owner) onto this run.
    pub fn describe(&mut self, task: &TaskSpec) {
        self.task_id.clone_from(&task.task_id);
        self.task_status = task.status;
        self.task_paused = task.paused;
        self.priority = task.priority;
        self.scope = task.scope;
        self.workspace_id.clone_from(&task.workspace_id);
        self.owner.clone_from(&task.owner);
    }

    /// The task this run belongs to, as a task service stores it.
    ///
    /// ```
    /// use scheduler_core::model::Priority;
    /// use scheduler_testkit::snapshot::RunSnapshot;
    /// let run = RunSnapshot::queued("run-1", "task-1").priority(Priority::High).caps(["rust"]);
    /// assert_eq!(run.task_spec().priority, Priority::High);
    /// assert_eq!(run.run_spec().required_capabilities, ["rust"]);
    /// ```
    pub fn task_spec(&self) -> TaskSpec {
        TaskSpec {
            task_id: self.task_id.clone(),
            status: self.task_status,
            paused: self.task_paused,
            priority: self.priority,
            scope: self.scope,
            workspace_id: self.workspace_id.clone(),
            owner: self.owner.clone(),
        }
    }

    /// The run's own fields, as enqueued (id, channel, required capabilities).
    pub fn run_spec(&self) -> RunSpec {
        RunSpec {
            run_id: self.run_id.clone(),
            channel: self.channel.clone(),
            required_capabilities: self.required_capabilities.clone(),
        }
    }
}

impl RunView for RunSnapshot {
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
        self.queued_at
    }
}

/// A live agent session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionSnapshot {
    /// Session id.
    pub session_id: String,
    /// Agent name.
    pub agent_name: String,
    /// Workspace (empty for a global session).
    pub workspace_id: String,
    /// Channel.
    pub channel: String,
    /// Session type (informational).
    pub session_type: String,
    /// Lifecycle state.
    pub state: SessionState,
    /// Mid-prompt flag.
    pub prompting: bool,
    /// Capabilities.
    pub capabilities: Vec<String>,
    /// Creation time.
    pub created_at: SystemTime,
}

impl SessionSnapshot {
    /// An active, idle, global session of agent `agent` with no channel and no
    /// capabilities, created at the Unix epoch.
    pub fn active(session_id: impl Into<String>) -> Self {
        SessionSnapshot {
            session_id: session_id.into(),
            agent_name: "agent".to_owned(),
            workspace_id: String::new(),
            channel: String::new(),
            session_type: "agent".to_owned(),
            state: SessionState::Active,
            prompting: false,
            capabilities: Vec::new(),
            created_at: SystemTime::UNIX_EPOCH,
        }
    }

    /// Sets the agent name.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent_name = agent.into();
        self
    }

    /// Puts the session in `workspace`.
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.workspace_id = workspace.into();
        self
    }

    /// Sets the channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Sets the state.
    pub fn state(mut self, state: SessionState) -> Self {
        self.state = state;
        self
    }

    /// Marks the session as mid-prompt.
    pub fn prompting(mut self) -> Self {
        self.prompting = true;
        self
    }

    /// Sets the capabilities.
    pub fn caps<I: IntoIterator<Item = C>, C: Into<String>>(mut self, caps: I) -> Self {
        self.capabilities = caps.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the creation time.
    pub fn created_at(mut self, at: SystemTime) -> Self {
        self.created_at = at;
        self
    }
}

impl From<SessionSpec> for SessionSnapshot {
    fn from(s: SessionSpec) -> Self {
        SessionSnapshot {
            session_id: s.session_id,
            agent_name: s.agent_name,
            workspace_id: s.workspace_id,
            channel: s.channel,
            session_type: s.session_type,
            state: s.state,
            prompting: s.prompting,
            capabilities: s.capabilities,
            created_at: s.created_at,
        }
    }
}

impl From<SessionSnapshot> for SessionSpec {
    fn from(s: SessionSnapshot) -> Self {
        SessionSpec {
            session_id: s.session_id,
            agent_name: s.agent_name,
            workspace_id: s.workspace_id,
            channel: s.channel,
            session_type: s.session_type,
            state: s.state,
            prompting: s.prompting,
            capabilities: s.capabilities,
            created_at: s.created_at,
        }
    }
}

impl SessionView for SessionSnapshot {
    fn session_id(&self) -> &str {
        &self.session_id
    }
    fn agent_name(&self) -> &str {
        &self.agent_name
    }
    fn workspace_id(&self) -> &str {
        &self.workspace_id
    }
    fn channel(&self) -> &str {
        &self.channel
    }
    fn state(&self) -> SessionState {
        self.state
    }
    fn prompting(&self) -> bool {
        self.prompting
    }
    fn capabilities(&self) -> impl Iterator<Item = &str> {
        self.capabilities.iter().map(String::as_str)
    }
    fn created_at(&self) -> SystemTime {
        self.created_at
    }
}

/// A run holding a session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActiveRun {
    /// Run id.
    pub run_id: String,
    /// The session holding it.
    pub session_id: String,
    /// Its status.
    pub status: RunStatus,
}

impl ActiveRun {
    /// A run in `status` held by `session_id`.
    pub fn new(run_id: impl Into<String>, session_id: impl Into<String>, status: RunStatus) -> Self {
        ActiveRun { run_id: run_id.into(), session_id: session_id.into(), status }
    }
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

/// One recovered lease, as a sweep reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecoveredLease {
    /// The run, now `queued`.
    pub run_id: String,
    /// Its status before recovery.
    pub previous_status: RunStatus,
    /// The session that held the lease.
    pub previous_session_id: String,
    /// When the lease ended.
    pub previous_lease_until: Option<SystemTime>,
    /// The recovery reason.
    pub reason: String,
}

impl RecoveredLease {
    /// A recovered `running` run previously held by `session_id`.
    pub fn new(run_id: impl Into<String>, session_id: impl Into<String>) -> Self {
        RecoveredLease {
            run_id: run_id.into(),
            previous_status: RunStatus::Running,
            previous_session_id: session_id.into(),
            previous_lease_until: None,
            reason: "scheduler_sweep".to_owned(),
        }
    }
}

impl RecoveredView for RecoveredLease {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn previous_session_id(&self) -> &str {
        &self.previous_session_id
    }
}
