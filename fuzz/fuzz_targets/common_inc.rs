// Shared by the fuzz targets (included with `include!`): fuzz input types and their
// conversion to testkit snapshots.

use std::time::{Duration, SystemTime};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use scheduler_core::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_testkit::snapshot::{ActiveRun, OwnerRef, RunSnapshot, SessionSnapshot};

/// Text: mostly picked from a table of interesting spellings (so that ids, workspaces
/// and capabilities collide often), sometimes raw.
#[derive(Arbitrary, Debug, Clone)]
pub enum Text {
    Pick(u8),
    Raw(String),
}

impl Text {
    pub fn get(&self, table: &[&str]) -> String {
        match self {
            Text::Pick(i) => table[*i as usize % table.len()].to_owned(),
            Text::Raw(s) => s.clone(),
        }
    }
}

/// Short ids, and long ones as production spells them: longer than the sixteen bytes the
/// selection's interning tables and sort keys hold inline, of equal length and sharing
/// those sixteen bytes (so equality and order are decided by reading the rows back),
/// padded, and one of exactly sixteen bytes.
pub const IDS: &[&str] = &[
    "a",
    " a ",
    "b",
    "c",
    "d",
    "e",
    "",
    " ",
    "a\t",
    "f",
    "workspace-7f3a/session-000123",
    " workspace-7f3a/session-000123",
    "workspace-7f3a/session-000124",
    "workspace-7f3a/s",
];
pub const RUN_STATUS: &[&str] = &[
    "queued",
    " Queued ",
    "QUEUED",
    "claimed",
    "starting",
    "running",
    "completed",
    "failed",
    "canceled",
    "needs attention",
    "needs-attention",
    "queue",
    "",
];
pub const TASK_STATUS: &[&str] = &[
    "ready",
    "pending",
    "in progress",
    "In_Progress",
    "draft",
    "Blocked",
    "canceled",
    "completed",
    "failed",
    "???",
    "",
];
pub const PRIORITY: &[&str] = &["low", "medium", "high", "urgent", " URGENT ", "", "critical"];
pub const SCOPE: &[&str] = &["global", "workspace", " Workspace ", "", "galaxy"];
pub const WORKSPACES: &[&str] =
    &["", " ", "ws-1", " ws-1", "ws-2", "workspace-7f3a/project-01", "workspace-7f3a/project-02 "];
pub const CHANNELS: &[&str] = &["", "ch-1", " ch-1 ", "ch-2", "coordination/channel-01", " coordination/channel-02"];
pub const OWNER_KINDS: &[&str] = &["", "none", "pool", " Pool ", "agent_session", "session", "agent-session", "team"];
pub const AGENTS: &[&str] = &[
    "agent-1",
    " agent-1 ",
    "agent-2",
    "",
    "a",
    "b",
    "agent-kind/reviewer-01",
    "agent-kind/reviewer-02 ",
    "workspace-7f3a/session-000123",
];
pub const CAPS: &[&str] =
    &["rust", " rust ", "go", "sqlite", "", " ", "capability/lang/rust", "capability/lang/java", "capability/lang/rust "];
pub const STATES: &[&str] = &["active", " ACTIVE ", "inactive", "stopped", "zombie", ""];

#[derive(Arbitrary, Debug)]
pub struct FRun {
    pub run_id: Text,
    pub task_id: Text,
    pub run_status: Text,
    pub task_status: Text,
    pub paused: bool,
    pub priority: Text,
    pub scope: Text,
    pub workspace: Text,
    pub channel: Text,
    pub owner_kind: Text,
    pub owner_ref: Text,
    pub caps: Vec<Text>,
    pub queued_at: Option<u16>,
}

#[derive(Arbitrary, Debug)]
pub struct FSession {
    pub id: Text,
    pub agent: Text,
    pub workspace: Text,
    pub channel: Text,
    pub state: Text,
    pub prompting: bool,
    pub caps: Vec<Text>,
    pub created_at: u16,
}

#[derive(Arbitrary, Debug)]
pub struct FActive {
    pub run_id: Text,
    pub session_id: Text,
    pub status: Text,
}

#[derive(Arbitrary, Debug)]
pub struct FCooldown {
    pub run_id: Text,
    pub session_id: Text,
    pub at: u16,
}

/// A big priority band, appended to the runs: `40 + len % 120` runs of one priority,
/// global, with long distinct ids sharing their first sixteen bytes, and (with a cooldown
/// period) in cooldown with every session but for the runs picked by `open`. Against few
/// free sessions, the selection uses up the first sorted chunk of the band and orders
/// the rest lazily, and what it decides depends on that order.
#[derive(Arbitrary, Debug)]
pub struct FBand {
    pub len: u8,
    pub priority: Text,
    pub queued_at: Option<u16>,
    pub open: Vec<u8>,
}

impl FBand {
    /// The band's runs, and the `(run id, session id)` pairs to put in cooldown.
    pub fn snapshots(&self, sessions: &[SessionSnapshot]) -> (Vec<RunSnapshot>, Vec<(String, String)>) {
        let len = 40 + usize::from(self.len) % 120;
        let open: Vec<usize> = self.open.iter().take(4).map(|&k| usize::from(k) % len).collect();
        let priority = Priority::from_text(&self.priority.get(PRIORITY));
        let mut runs = Vec::with_capacity(len);
        let mut cooled = Vec::new();
        for k in 0..len {
            // Listed out of selection order (163 is prime, so every id is distinct).
            let id = format!("workspace-7f3a/run-{:06}", k * 163 % len);
            let mut r = RunSnapshot::queued(id.clone(), "workspace-7f3a/task-000001").priority(priority);
            r.queued_at = self.queued_at.map(|at| t(at % 64));
            if !open.contains(&k) {
                cooled.extend(sessions.iter().map(|s| (id.clone(), s.session_id.trim().to_owned())));
            }
            runs.push(r);
        }
        (runs, cooled)
    }
}

#[derive(Arbitrary, Debug)]
pub struct FCycle {
    pub runs: Vec<FRun>,
    pub band: Option<FBand>,
    pub sessions: Vec<FSession>,
    pub active: Vec<FActive>,
    pub cooldown_secs: u8,
    pub cooled: Vec<FCooldown>,
    pub now: u16,
    pub min_age: u16,
}

pub fn t(secs: u16) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(secs))
}

pub fn owner_ref(kind: &str, reference: &str) -> OwnerRef {
    match Owner::from_parts(kind, reference) {
        Owner::None => OwnerRef::None,
        Owner::Pool(r) => OwnerRef::Pool(r.to_owned()),
        Owner::AgentSession(r) => OwnerRef::AgentSession(r.to_owned()),
        Owner::Unknown => OwnerRef::Unknown,
    }
}

impl FRun {
    pub fn snapshot(&self) -> RunSnapshot {
        let mut r = RunSnapshot::queued(self.run_id.get(IDS), self.task_id.get(IDS))
            .status(RunStatus::from_text(&self.run_status.get(RUN_STATUS)))
            .task_status(TaskStatus::from_text(&self.task_status.get(TASK_STATUS)))
            .priority(Priority::from_text(&self.priority.get(PRIORITY)))
            .scope(Scope::from_text(&self.scope.get(SCOPE)), self.workspace.get(WORKSPACES))
            .channel(self.channel.get(CHANNELS))
            .owner(owner_ref(&self.owner_kind.get(OWNER_KINDS), &self.owner_ref.get(AGENTS)))
            .caps(self.caps.iter().take(4).map(|c| c.get(CAPS)));
        r.task_paused = self.paused;
        r.queued_at = self.queued_at.map(t);
        r
    }
}

impl FSession {
    pub fn snapshot(&self) -> SessionSnapshot {
        let mut s = SessionSnapshot::active(self.id.get(IDS))
            .agent(self.agent.get(AGENTS))
            .workspace(self.workspace.get(WORKSPACES))
            .channel(self.channel.get(CHANNELS))
            .state(SessionState::from_text(&self.state.get(STATES)))
            .caps(self.caps.iter().take(4).map(|c| c.get(CAPS)))
            .created_at(t(self.created_at % 64));
        s.prompting = self.prompting;
        s
    }
}

impl FActive {
    pub fn snapshot(&self) -> ActiveRun {
        ActiveRun::new(
            self.run_id.get(IDS),
            self.session_id.get(IDS),
            RunStatus::from_text(&self.status.get(RUN_STATUS)),
        )
    }
}
