//! A toy task-service backend, written the way a backend crate is: it depends on
//! `scheduler-core` alone and implements the contract on its own types
//! ([`LeaseService`], [`SessionRegistry`], [`PauseControl`], [`StarvationStore`]), so its
//! `tests/conformance.rs` only implements the testkit's `Backend` (no orphan rule in the
//! way). That test file is, byte for byte, the recipe in the repository's README.
//!
//! The "database" is a map behind a mutex that outlives every handle (as a file
//! would); [`ToyStore::reopen`] opens new handles on it, as a restart would.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use recipe_backend::ToyStore;
//! use scheduler_core::lease::{ClaimRequest, LeaseService, RunSpec, TaskSpec};
//!
//! # futures::executor::block_on(async {
//! let store = ToyStore::open();
//! let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! store.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-1"), now).await?;
//! let lease = store.claim(&ClaimRequest::session("sess-1"), Duration::from_secs(60), now).await?;
//! assert_eq!(lease.map(|l| l.run_id).as_deref(), Some("run-1"));
//! # Ok::<(), recipe_backend::ToyError>(())
//! # }).unwrap();
//! ```

#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use scheduler_core::eligibility::{is_potentially_claimable, session_matches};
use scheduler_core::ladder::Budget;
use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, Lease, LeaseService, PauseControl, PauseState, RecoveredDetails, RunRecord,
    RunSpec, ServiceError, SessionRegistry, SessionSpec, TaskSpec,
};
use scheduler_core::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::ordering::compare_runs;
use scheduler_core::seam::{PauseStore, Recovery, SessionSource, StarvationStore, TaskSource};
use scheduler_core::view::{ActiveRunView, RecoveredView, RunView};

/// What the toy store refuses; never quotes a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToyError {
    kind: ErrorKind,
    message: String,
}

impl std::fmt::Display for ToyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ToyError {}

impl ServiceError for ToyError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

fn fail<T>(kind: ErrorKind, message: impl Into<String>) -> Result<T, ToyError> {
    Err(ToyError { kind, message: message.into() })
}

fn id(raw: &str, what: &str) -> Result<String, ToyError> {
    let id = raw.trim();
    if id.is_empty() { fail(ErrorKind::InvalidInput, format!("empty {what} id")) } else { Ok(id.to_owned()) }
}

/// A run joined with its task: the row the pending read hands the scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    run_id: String,
    task: TaskSpec,
    spec: RunSpec,
    status: RunStatus,
    queued_at: SystemTime,
}

impl RunView for Run {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn task_id(&self) -> &str {
        &self.task.task_id
    }
    fn run_status(&self) -> RunStatus {
        self.status
    }
    fn task_status(&self) -> TaskStatus {
        self.task.status
    }
    fn task_paused(&self) -> bool {
        self.task.paused
    }
    fn priority(&self) -> Priority {
        self.task.priority
    }
    fn scope(&self) -> Scope {
        self.task.scope
    }
    fn workspace_id(&self) -> &str {
        &self.task.workspace_id
    }
    fn channel(&self) -> &str {
        &self.spec.channel
    }
    fn owner(&self) -> Owner<'_> {
        self.task.owner.as_owner()
    }
    fn required_capabilities(&self) -> impl Iterator<Item = &str> {
        self.spec.required_capabilities.iter().map(String::as_str)
    }
    fn queued_at(&self) -> Option<SystemTime> {
        Some(self.queued_at)
    }
}

/// A run holding a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Active {
    run_id: String,
    session_id: String,
    status: RunStatus,
}

impl ActiveRunView for Active {
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

/// One recovered lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovered {
    run_id: String,
    previous_status: RunStatus,
    previous_session: String,
    previous_until: SystemTime,
    reason: String,
    actor: String,
}

impl RecoveredView for Recovered {
    fn run_id(&self) -> &str {
        &self.run_id
    }
    fn previous_session_id(&self) -> &str {
        &self.previous_session
    }
}

impl RecoveredDetails for Recovered {
    fn status(&self) -> RunStatus {
        RunStatus::Queued
    }
    fn previous_status(&self) -> RunStatus {
        self.previous_status
    }
    fn previous_lease_until(&self) -> SystemTime {
        self.previous_until
    }
    fn reason(&self) -> &str {
        &self.reason
    }
    fn actor(&self) -> &str {
        &self.actor
    }
}

#[derive(Debug, Clone)]
struct Held {
    session: String,
    token: ClaimToken,
    until: SystemTime,
}

#[derive(Debug, Clone)]
struct Row {
    spec: RunSpec,
    task_id: String,
    status: RunStatus,
    queued_at: SystemTime,
    lease: Option<Held>,
}

#[derive(Debug, Default)]
struct Tables {
    tasks: BTreeMap<String, TaskSpec>,
    runs: BTreeMap<String, Row>,
    sessions: BTreeMap<String, (SessionSpec, SystemTime)>,
    pause: Option<PauseState>,
    budgets: BTreeMap<String, Budget>,
}

impl Tables {
    fn joined(&self, run_id: &str, row: &Row) -> Run {
        let task = self.tasks.get(&row.task_id).cloned().unwrap_or_else(|| TaskSpec::new(row.task_id.clone()));
        Run { run_id: run_id.to_owned(), task, spec: row.spec.clone(), status: row.status, queued_at: row.queued_at }
    }

    fn busy(&self, session: &str) -> bool {
        self.runs.values().any(|r| r.lease.as_ref().is_some_and(|l| l.session == session))
    }

    fn fenced(&mut self, run_id: &str, token: &ClaimToken) -> Result<&mut Row, ToyError> {
        let run_id = id(run_id, "run")?;
        let Some(row) = self.runs.get_mut(&run_id) else {
            return fail(ErrorKind::UnknownRun, format!("unknown run {run_id:?}"));
        };
        match &row.lease {
            Some(held) if held.token == *token => Ok(row),
            _ => fail(ErrorKind::TokenRejected, format!("claim token rejected for run {run_id:?}")),
        }
    }

    fn end(&mut self, run_id: &str, token: &ClaimToken, to: RunStatus) -> Result<(), ToyError> {
        let row = self.fenced(run_id, token)?;
        row.status = to;
        row.lease = None;
        Ok(())
    }
}

/// The toy store, and every handle on it: clones share the same tables.
#[derive(Debug, Clone, Default)]
pub struct ToyStore {
    db: Arc<Mutex<Tables>>,
}

impl ToyStore {
    /// A new, empty store.
    pub fn open() -> Self {
        Self::default()
    }

    /// New handles on the same tables, as a restarted process would open its file.
    pub fn reopen(&self) -> Self {
        ToyStore { db: Arc::clone(&self.db) }
    }

    fn t(&self) -> MutexGuard<'_, Tables> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl TaskSource for ToyStore {
    type Run = Run;
    type ActiveRun = Active;
    type Recovered = Recovered;
    type Error = ToyError;

    async fn recover_expired_leases(&self, request: Recovery<'_>, out: &mut Vec<Recovered>) -> Result<(), ToyError> {
        let mut t = self.t();
        let mut expired: Vec<(SystemTime, String)> = t
            .runs
            .iter()
            .filter_map(|(id, r)| r.lease.as_ref().filter(|l| l.until <= request.now).map(|l| (l.until, id.clone())))
            .collect();
        expired.sort();
        let limit = if request.limit == 0 { usize::MAX } else { request.limit as usize };
        for (_, run_id) in expired.into_iter().take(limit) {
            let Some(row) = t.runs.get_mut(&run_id) else { continue };
            let Some(held) = row.lease.take() else { continue };
            out.push(Recovered {
                run_id,
                previous_status: std::mem::replace(&mut row.status, RunStatus::Queued),
                previous_session: held.session,
                previous_until: held.until,
                reason: request.reason.to_owned(),
                actor: request.actor.to_owned(),
            });
        }
        Ok(())
    }

    async fn pending_runs(&self, out: &mut Vec<Run>) -> Result<(), ToyError> {
        let t = self.t();
        out.extend(t.runs.iter().filter(|(_, r)| r.status == RunStatus::Queued).map(|(id, r)| t.joined(id, r)));
        Ok(())
    }

    async fn active_runs(&self, out: &mut Vec<Active>) -> Result<(), ToyError> {
        let t = self.t();
        for (run_id, r) in &t.runs {
            if let Some(held) = &r.lease {
                out.push(Active { run_id: run_id.clone(), session_id: held.session.clone(), status: r.status });
            }
        }
        Ok(())
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, ToyError> {
        Ok(self.t().runs.get(run_id.trim()).map(|r| r.status))
    }
}

impl LeaseService for ToyStore {
    async fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Result<(), ToyError> {
        let (run_id, task_id) = (id(&run.run_id, "run")?, id(&task.task_id, "task")?);
        let mut t = self.t();
        if t.runs.contains_key(&run_id) {
            return fail(ErrorKind::DuplicateRun, format!("run {run_id:?} exists"));
        }
        t.tasks.insert(task_id.clone(), TaskSpec { task_id: task_id.clone(), ..task.clone() });
        let row = Row {
            spec: RunSpec { run_id: run_id.clone(), ..run.clone() },
            task_id,
            status: RunStatus::Queued,
            queued_at: now,
            lease: None,
        };
        t.runs.insert(run_id, row);
        Ok(())
    }

    async fn update_task(&self, task: &TaskSpec, _now: SystemTime) -> Result<(), ToyError> {
        let task_id = id(&task.task_id, "task")?;
        match self.t().tasks.get_mut(&task_id) {
            Some(stored) => {
                *stored = TaskSpec { task_id, ..task.clone() };
                Ok(())
            }
            None => fail(ErrorKind::UnknownTask, format!("unknown task {task_id:?}")),
        }
    }

    async fn claim(&self, request: &ClaimRequest, lease: Duration, now: SystemTime) -> Result<Option<Lease>, ToyError> {
        let session = id(&request.session_id, "session")?;
        let Some(until) = now.checked_add(lease) else { return fail(ErrorKind::InvalidInput, "lease overflows") };
        let mut t = self.t();
        if t.pause.is_some() {
            return fail(ErrorKind::Paused, "claims are paused");
        }
        if t.busy(&session) {
            return fail(ErrorKind::SessionBusy, format!("session {session:?} holds a lease"));
        }
        let best = t
            .runs
            .iter()
            .map(|(id, r)| t.joined(id, r))
            .filter(|run| is_potentially_claimable(run) && session_matches(run, request))
            .min_by(compare_runs);
        let Some(best) = best else { return Ok(None) };
        let token = ClaimToken::generate();
        if let Some(row) = t.runs.get_mut(&best.run_id) {
            row.status = RunStatus::Claimed;
            row.lease = Some(Held { session: session.clone(), token: token.clone(), until });
        }
        Ok(Some(Lease { run_id: best.run_id, session_id: session, token, lease_until: until }))
    }

    async fn start(&self, run_id: &str, token: &ClaimToken, _now: SystemTime) -> Result<(), ToyError> {
        let mut t = self.t();
        let row = t.fenced(run_id, token)?;
        if !matches!(row.status, RunStatus::Claimed | RunStatus::Starting) {
            return fail(ErrorKind::InvalidTransition, format!("cannot start a {} run", row.status));
        }
        row.status = RunStatus::Running;
        Ok(())
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, ToyError> {
        let Some(until) = now.checked_add(lease) else { return fail(ErrorKind::InvalidInput, "lease overflows") };
        let mut t = self.t();
        let row = t.fenced(run_id, token)?;
        if let Some(held) = row.lease.as_mut() {
            held.until = until;
        }
        Ok(until)
    }

    async fn complete(&self, run_id: &str, token: &ClaimToken, _now: SystemTime) -> Result<(), ToyError> {
        self.t().end(run_id, token, RunStatus::Completed)
    }

    async fn fail(&self, run_id: &str, token: &ClaimToken, _reason: &str, _now: SystemTime) -> Result<(), ToyError> {
        self.t().end(run_id, token, RunStatus::Failed)
    }

    async fn release(&self, run_id: &str, token: &ClaimToken, _now: SystemTime) -> Result<(), ToyError> {
        self.t().end(run_id, token, RunStatus::Queued)
    }

    async fn mark_needs_attention(&self, run_id: &str, _diagnostic: &str, _now: SystemTime) -> Result<(), ToyError> {
        let mut t = self.t();
        let Some(row) = t.runs.get_mut(run_id.trim()) else { return fail(ErrorKind::UnknownRun, "unknown run") };
        if row.status != RunStatus::Queued {
            return fail(ErrorKind::InvalidTransition, format!("cannot mark a {} run", row.status));
        }
        row.status = RunStatus::NeedsAttention;
        Ok(())
    }

    async fn record(&self, run_id: &str) -> Result<Option<RunRecord>, ToyError> {
        Ok(self.t().runs.get(run_id.trim()).map(|r| RunRecord {
            status: r.status,
            session_id: r.lease.as_ref().map(|l| l.session.clone()),
            lease_until: r.lease.as_ref().map(|l| l.until),
            queued_at: Some(r.queued_at),
        }))
    }
}

impl SessionSource for ToyStore {
    type Session = SessionSpec;
    type Error = ToyError;

    async fn sessions(&self, out: &mut Vec<SessionSpec>) -> Result<(), ToyError> {
        out.extend(self.t().sessions.values().map(|(s, _)| s.clone()));
        Ok(())
    }
}

impl ToyStore {
    fn seen(&self, session_id: &str, now: SystemTime, edit: impl FnOnce(&mut SessionSpec)) -> Result<(), ToyError> {
        match self.t().sessions.get_mut(session_id.trim()) {
            Some((spec, seen)) => {
                edit(spec);
                *seen = now;
                Ok(())
            }
            None => fail(ErrorKind::UnknownSession, format!("unknown session {session_id:?}")),
        }
    }
}

impl SessionRegistry for ToyStore {
    async fn register(&self, session: &SessionSpec, now: SystemTime) -> Result<(), ToyError> {
        let session_id = id(&session.session_id, "session")?;
        let mut t = self.t();
        if t.sessions.contains_key(&session_id) {
            return fail(ErrorKind::DuplicateSession, format!("session {session_id:?} exists"));
        }
        t.sessions.insert(session_id.clone(), (SessionSpec { session_id, ..session.clone() }, now));
        Ok(())
    }

    async fn set_state(&self, session_id: &str, state: SessionState, now: SystemTime) -> Result<(), ToyError> {
        self.seen(session_id, now, |s| s.state = state)
    }

    async fn set_prompting(&self, session_id: &str, prompting: bool, now: SystemTime) -> Result<(), ToyError> {
        self.seen(session_id, now, |s| s.prompting = prompting)
    }

    async fn set_capabilities(&self, session_id: &str, caps: &[String], now: SystemTime) -> Result<(), ToyError> {
        self.seen(session_id, now, |s| s.capabilities = caps.to_vec())
    }

    async fn touch(&self, session_id: &str, now: SystemTime) -> Result<(), ToyError> {
        self.seen(session_id, now, |_| {})
    }

    async fn remove(&self, session_id: &str) -> Result<(), ToyError> {
        match self.t().sessions.remove(session_id.trim()) {
            Some(_) => Ok(()),
            None => fail(ErrorKind::UnknownSession, format!("unknown session {session_id:?}")),
        }
    }

    async fn mark_stale(&self, not_seen_since: SystemTime, _now: SystemTime) -> Result<u64, ToyError> {
        let mut changed = 0;
        for (spec, seen) in self.t().sessions.values_mut() {
            if *seen < not_seen_since && spec.state != SessionState::Stopped {
                spec.state = SessionState::Stopped;
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSpec>, ToyError> {
        Ok(self.t().sessions.get(session_id.trim()).map(|(s, _)| s.clone()))
    }
}

impl PauseStore for ToyStore {
    type Error = ToyError;

    async fn is_paused(&self) -> Result<bool, ToyError> {
        Ok(self.t().pause.is_some())
    }
}

impl PauseControl for ToyStore {
    async fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> Result<(), ToyError> {
        self.t().pause = Some(PauseState { paused_by: paused_by.to_owned(), paused_at, reason: reason.to_owned() });
        Ok(())
    }

    async fn resume(&self) -> Result<(), ToyError> {
        self.t().pause = None;
        Ok(())
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, ToyError> {
        Ok(self.t().pause.clone())
    }
}

impl StarvationStore for ToyStore {
    type Key = String;
    type Error = ToyError;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, ToyError> {
        Ok(self.t().budgets.get(run_id).copied())
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), ToyError> {
        self.t().budgets.insert(run_id.to_owned(), *budget);
        Ok(())
    }

    async fn clear(&self, run_id: &str) -> Result<(), ToyError> {
        self.t().budgets.remove(run_id);
        Ok(())
    }

    async fn list(&self, out: &mut Vec<(String, Budget)>) -> Result<(), ToyError> {
        out.extend(self.t().budgets.iter().map(|(k, v)| (k.clone(), *v)));
        Ok(())
    }
}
