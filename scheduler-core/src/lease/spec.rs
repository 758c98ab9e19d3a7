//! What callers hand a service: a task, a run, a claim request, a session.

use std::time::SystemTime;

use crate::model::{OwnerRef, Priority, Scope, SessionState, TaskStatus};
use crate::view::SessionView;

/// A task as enqueued: every run of the task is joined with these fields.
///
/// Enqueueing a run with a task whose fields differ from the stored ones re-describes
/// the task for all its runs (see [`LeaseService::enqueue`](super::LeaseService::enqueue)).
///
/// ```
/// use scheduler_core::lease::TaskSpec;
/// use scheduler_core::model::{Priority, Scope};
/// let task = TaskSpec::new("task-1").workspace("ws-1").priority(Priority::High).pool_owner("coder");
/// assert_eq!((task.scope, task.workspace_id.as_str()), (Scope::Workspace, "ws-1"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskSpec {
    /// The task id (compared after trimming).
    pub task_id: String,
    /// The task's status.
    pub status: TaskStatus,
    /// Whether the task is paused (its runs cannot be claimed).
    pub paused: bool,
    /// The task's priority.
    pub priority: Priority,
    /// Global or workspace-scoped.
    pub scope: Scope,
    /// The workspace of a workspace-scoped task (empty for global).
    pub workspace_id: String,
    /// Who may take the task's runs.
    pub owner: OwnerRef,
}

impl TaskSpec {
    /// A `ready`, unpaused, medium-priority, global task with no owner.
    pub fn new(task_id: impl Into<String>) -> Self {
        TaskSpec {
            task_id: task_id.into(),
            status: TaskStatus::Ready,
            paused: false,
            priority: Priority::Medium,
            scope: Scope::Global,
            workspace_id: String::new(),
            owner: OwnerRef::None,
        }
    }

    /// Makes the task workspace-scoped in `workspace`.
    pub fn workspace(mut self, workspace: impl Into<String>) -> Self {
        self.scope = Scope::Workspace;
        self.workspace_id = workspace.into();
        self
    }

    /// Sets the scope and workspace as given (no consistency fix-up).
    pub fn scope(mut self, scope: Scope, workspace: impl Into<String>) -> Self {
        self.scope = scope;
        self.workspace_id = workspace.into();
        self
    }

    /// Sets the status.
    pub fn status(mut self, status: TaskStatus) -> Self {
        self.status = status;
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Sets the paused flag.
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        self
    }

    /// Sets the owner.
    pub fn owner(mut self, owner: OwnerRef) -> Self {
        self.owner = owner;
        self
    }

    /// Gives the task to sessions of agent `agent`.
    pub fn pool_owner(self, agent: impl Into<String>) -> Self {
        self.owner(OwnerRef::Pool(agent.into()))
    }

    /// Gives the task to the session `session`.
    pub fn session_owner(self, session: impl Into<String>) -> Self {
        self.owner(OwnerRef::AgentSession(session.into()))
    }
}

/// A run as enqueued. It has no status and no queued-at: a service sets `queued` and
/// the caller's `now` itself.
///
/// ```
/// use scheduler_core::lease::RunSpec;
/// let run = RunSpec::new("run-1").channel("ch-1").caps(["rust", "sqlite"]);
/// assert_eq!(run.required_capabilities, ["rust", "sqlite"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RunSpec {
    /// The run id (compared after trimming).
    pub run_id: String,
    /// The coordination channel (empty for none).
    pub channel: String,
    /// The capabilities a session needs to take the run.
    pub required_capabilities: Vec<String>,
}

impl RunSpec {
    /// A run on no channel with no required capabilities.
    pub fn new(run_id: impl Into<String>) -> Self {
        RunSpec { run_id: run_id.into(), channel: String::new(), required_capabilities: Vec::new() }
    }

    /// Sets the coordination channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    /// Sets the required capabilities.
    pub fn caps<I: IntoIterator<Item = C>, C: Into<String>>(mut self, caps: I) -> Self {
        self.required_capabilities = caps.into_iter().map(Into::into).collect();
        self
    }
}

/// What a session offers when it claims: who it is, where it works and what it can do.
///
/// The run it gets is the best one this session is eligible for under the scheduler's
/// own rules ([`crate::eligibility`]). As a [`SessionView`], a request describes an
/// `active`, idle session (a session that claims is taking work by definition), so a
/// service may test a run with [`session_matches`](crate::eligibility::session_matches).
///
/// ```
/// use scheduler_core::lease::ClaimRequest;
/// let request = ClaimRequest::session("sess-1").agent("coder").workspace("ws-1").caps(["rust", "go"]);
/// assert_eq!(request.workspace_id, "ws-1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ClaimRequest {
    /// The claiming session's id.
    pub session_id: String,
    /// Its agent name (matched against a pool owner).
    pub agent_name: String,
    /// Its workspace; empty for a global session.
    pub workspace_id: String,
    /// The coordination channel it listens on; may be empty.
    pub channel: String,
    /// Its capabilities.
    pub capabilities: Vec<String>,
}

impl ClaimRequest {
    /// A global session of agent `agent` on no channel, with no capabilities.
    pub fn session(session_id: impl Into<String>) -> Self {
        ClaimRequest { session_id: session_id.into(), agent_name: "agent".to_owned(), ..Self::default() }
    }

    /// The request of an existing session view (its state and prompting flag are not
    /// part of a claim).
    pub fn from_session<S: SessionView + ?Sized>(session: &S) -> Self {
        ClaimRequest {
            session_id: session.session_id().to_owned(),
            agent_name: session.agent_name().to_owned(),
            workspace_id: session.workspace_id().to_owned(),
            channel: session.channel().to_owned(),
            capabilities: session.capabilities().map(str::to_owned).collect(),
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

    /// Sets the capabilities.
    pub fn caps<I: IntoIterator<Item = C>, C: Into<String>>(mut self, caps: I) -> Self {
        self.capabilities = caps.into_iter().map(Into::into).collect();
        self
    }
}

impl SessionView for ClaimRequest {
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
        SessionState::Active
    }
    fn prompting(&self) -> bool {
        false
    }
    fn capabilities(&self) -> impl Iterator<Item = &str> {
        self.capabilities.iter().map(String::as_str)
    }
    fn created_at(&self) -> SystemTime {
        SystemTime::UNIX_EPOCH
    }
}

/// A live session as registered with a [`SessionRegistry`](super::SessionRegistry).
///
/// ```
/// use scheduler_core::lease::SessionSpec;
/// use scheduler_core::model::SessionState;
/// let session = SessionSpec::active("sess-1").agent("coder").workspace("ws-1").caps(["rust"]);
/// assert_eq!(session.state, SessionState::Active);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionSpec {
    /// The session id (compared after trimming).
    pub session_id: String,
    /// The agent name.
    pub agent_name: String,
    /// Its workspace (empty for a global session).
    pub workspace_id: String,
    /// The coordination channel it listens on (empty for none).
    pub channel: String,
    /// The session type (informational).
    pub session_type: String,
    /// Its lifecycle state; only `active` sessions are woken.
    pub state: SessionState,
    /// Whether it is in the middle of a prompt (not idle).
    pub prompting: bool,
    /// Its capabilities.
    pub capabilities: Vec<String>,
    /// When it was created (the scheduler's session order).
    pub created_at: SystemTime,
}

impl SessionSpec {
    /// An active, idle, global session of agent `agent` on no channel, with no
    /// capabilities, created at the Unix epoch.
    pub fn active(session_id: impl Into<String>) -> Self {
        SessionSpec {
            session_id: session_id.into(),
            agent_name: "agent".to_owned(),
            workspace_id: String::new(),
            channel: String::new(),
            session_type: String::new(),
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

    /// Sets the session type.
    pub fn session_type(mut self, session_type: impl Into<String>) -> Self {
        self.session_type = session_type.into();
        self
    }

    /// Sets the lifecycle state.
    pub fn state(mut self, state: SessionState) -> Self {
        self.state = state;
        self
    }

    /// Sets the prompting flag.
    pub fn prompting(mut self, prompting: bool) -> Self {
        self.prompting = prompting;
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

impl SessionView for SessionSpec {
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
