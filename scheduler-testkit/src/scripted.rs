//! Scripted sources: a task source and a session source whose contents a test sets
//! directly, recording what the scheduler asked and failing on demand.
//!
//! They hand out `Arc` clones of their rows, so reading them allocates nothing once the
//! scheduler's buffers have grown. For real lease semantics (claims, tokens, expiry) use
//! the in-memory task service instead.
//!
//! Fault operations: `recover_expired_leases`, `pending_runs`, `active_runs`,
//! `run_status` (per run), `run_statuses` (whole batch), `sessions`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, SessionSource, TaskSource};

use crate::fault::{FakeError, Faults};
use crate::snapshot::{ActiveRun, RecoveredLease, RunSnapshot, SessionSnapshot};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A recovery request the scheduler made, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCall {
    /// The cycle's time.
    pub now: SystemTime,
    /// The reason.
    pub reason: String,
    /// The limit.
    pub limit: u32,
    /// The actor.
    pub actor: String,
}

#[derive(Debug, Default)]
struct TasksInner {
    pending: Mutex<Vec<Arc<RunSnapshot>>>,
    active: Mutex<Vec<Arc<ActiveRun>>>,
    statuses: Mutex<HashMap<String, Option<RunStatus>>>,
    next_recovery: Mutex<Vec<Arc<RecoveredLease>>>,
    recovery_calls: Mutex<Vec<RecoveryCall>>,
    status_batches: Mutex<Vec<Vec<String>>>,
}

/// A task source with scripted contents (a cloneable handle).
///
/// `run_status` answers an explicit [`set_status`](Self::set_status) first, then the
/// status of a pending run with that id, then "not found".
#[derive(Debug, Clone, Default)]
pub struct ScriptedTasks {
    inner: Arc<TasksInner>,
    faults: Faults,
}

impl ScriptedTasks {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fault plan this source consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the pending runs.
    pub fn set_pending(&self, runs: impl IntoIterator<Item = RunSnapshot>) {
        *lock(&self.inner.pending) = runs.into_iter().map(Arc::new).collect();
    }

    /// Adds a pending run.
    pub fn push_pending(&self, run: RunSnapshot) {
        lock(&self.inner.pending).push(Arc::new(run));
    }

    /// Removes the pending run with this id.
    pub fn remove_pending(&self, run_id: &str) {
        lock(&self.inner.pending).retain(|r| r.run_id != run_id);
    }

    /// Replaces the active runs.
    pub fn set_active(&self, runs: impl IntoIterator<Item = ActiveRun>) {
        *lock(&self.inner.active) = runs.into_iter().map(Arc::new).collect();
    }

    /// Makes `run_status(run_id)` answer `status` (`None`: not found).
    pub fn set_status(&self, run_id: impl Into<String>, status: Option<RunStatus>) {
        lock(&self.inner.statuses).insert(run_id.into(), status);
    }

    /// The next sweep reports these leases as recovered (then nothing again).
    pub fn recover_next(&self, leases: impl IntoIterator<Item = RecoveredLease>) {
        *lock(&self.inner.next_recovery) = leases.into_iter().map(Arc::new).collect();
    }

    /// Every recovery request made so far.
    pub fn recovery_calls(&self) -> Vec<RecoveryCall> {
        lock(&self.inner.recovery_calls).clone()
    }

    /// The run ids of every `run_statuses` batch call so far.
    pub fn status_batches(&self) -> Vec<Vec<String>> {
        lock(&self.inner.status_batches).clone()
    }

    fn status_of(&self, run_id: &str) -> Option<RunStatus> {
        if let Some(s) = lock(&self.inner.statuses).get(run_id) {
            return *s;
        }
        lock(&self.inner.pending).iter().find(|r| r.run_id.trim() == run_id).map(|r| r.run_status)
    }
}

impl TaskSource for ScriptedTasks {
    type Run = Arc<RunSnapshot>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = Arc<RecoveredLease>;
    type Error = FakeError;

    async fn recover_expired_leases(
        &self,
        request: Recovery<'_>,
        out: &mut Vec<Self::Recovered>,
    ) -> Result<(), FakeError> {
        lock(&self.inner.recovery_calls).push(RecoveryCall {
            now: request.now,
            reason: request.reason.to_owned(),
            limit: request.limit,
            actor: request.actor.to_owned(),
        });
        self.faults.check("recover_expired_leases")?;
        out.append(&mut lock(&self.inner.next_recovery));
        Ok(())
    }

    async fn pending_runs(&self, out: &mut Vec<Self::Run>) -> Result<(), FakeError> {
        self.faults.check("pending_runs")?;
        out.extend(lock(&self.inner.pending).iter().cloned());
        Ok(())
    }

    async fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> Result<(), FakeError> {
        self.faults.check("active_runs")?;
        out.extend(lock(&self.inner.active).iter().cloned());
        Ok(())
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, FakeError> {
        self.faults.check("run_status")?;
        Ok(self.status_of(run_id))
    }

    async fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, FakeError>>,
    ) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let ids: Vec<String> = run_ids.map(str::to_owned).collect();
        lock(&self.inner.status_batches).push(ids.clone());
        self.faults.check("run_statuses")?;
        for id in &ids {
            out.push(self.faults.check("run_status").map(|()| self.status_of(id)));
        }
        Ok(())
    }
}

/// A session source with scripted contents (a cloneable handle).
///
/// Fault operation: `sessions`.
#[derive(Debug, Clone, Default)]
pub struct ScriptedSessions {
    sessions: Arc<Mutex<Vec<Arc<SessionSnapshot>>>>,
    faults: Faults,
}

impl ScriptedSessions {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fault plan this source consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Replaces the sessions.
    pub fn set(&self, sessions: impl IntoIterator<Item = SessionSnapshot>) {
        *lock(&self.sessions) = sessions.into_iter().map(Arc::new).collect();
    }

    /// Adds a session.
    pub fn push(&self, session: SessionSnapshot) {
        lock(&self.sessions).push(Arc::new(session));
    }

    /// Removes the session with this id.
    pub fn remove(&self, session_id: &str) {
        lock(&self.sessions).retain(|s| s.session_id != session_id);
    }
}

impl SessionSource for ScriptedSessions {
    type Session = Arc<SessionSnapshot>;
    type Error = FakeError;

    async fn sessions(&self, out: &mut Vec<Self::Session>) -> Result<(), FakeError> {
        self.faults.check("sessions")?;
        out.extend(lock(&self.sessions).iter().cloned());
        Ok(())
    }
}
