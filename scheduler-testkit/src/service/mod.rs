//! An in-memory task service with real lease semantics.
//!
//! [`MemoryTaskService`] keeps tasks and runs in memory and implements the whole
//! contract of the task service (`spec/task-service.md`): enqueue, atomic claims with the
//! scheduler's own eligibility rules, token-fenced `start` / `heartbeat` / `complete` /
//! `fail` / `release`, expired-lease recovery, status reads and the `needs_attention`
//! transition. It implements [`TaskSource`], so a [`Scheduler`](scheduler_core::Scheduler)
//! runs against it unchanged, and it passes the [conformance suite](crate::conformance).
//!
//! Every operation takes its `now` from the caller, so tests decide time (with a
//! [`FakeClock`](crate::clock::FakeClock), say). The service is a cloneable handle: clones
//! share the same state, from any thread or task.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_core::model::RunStatus;
//! use scheduler_testkit::service::{ClaimRequest, MemoryTaskService, RunSpec, TaskSpec};
//!
//! let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let service = MemoryTaskService::new();
//! service.enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-1").caps(["rust"]), t0)?;
//!
//! // A session without the capability gets nothing; one with it wins the lease.
//! assert!(service.claim(&ClaimRequest::session("sess-go").caps(["go"]), Duration::from_secs(60), t0)?.is_none());
//! let lease = service.claim(&ClaimRequest::session("sess-rust").caps(["rust"]), Duration::from_secs(60), t0)?.unwrap();
//! assert_eq!(lease.run_id, "run-1");
//! assert_eq!(lease.lease_until, t0 + Duration::from_secs(60));
//!
//! // Every later step is fenced by the claim token.
//! service.start("run-1", &lease.token, t0)?;
//! assert_eq!(service.status("run-1"), Some(RunStatus::Running));
//!
//! // Without a heartbeat the lease expires and the sweep returns the run to the queue.
//! let recovered = service.recover_expired(t0 + Duration::from_secs(60), "scheduler_sweep", 0);
//! assert_eq!(recovered[0].previous_session_id, "sess-rust");
//! assert_eq!(service.status("run-1"), Some(RunStatus::Queued));
//! // The old token is stale now.
//! assert!(service.complete("run-1", &lease.token, t0).is_err());
//! # Ok::<(), scheduler_testkit::service::LeaseError>(())
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use scheduler_core::eligibility::{is_potentially_claimable, session_matches};
use scheduler_core::model::RunStatus;
use scheduler_core::ordering::compare_runs;
use scheduler_core::seam::{Recovery, TaskSource};
use scheduler_core::view::RecoveredView;

use crate::fault::{FakeError, Faults};
use crate::snapshot::{ActiveRun, RunSnapshot};
use crate::stores::MemoryPauseStore;

pub use scheduler_core::lease::{ClaimRequest, ClaimToken, Lease, RunRecord, RunSpec, TaskSpec};

mod contract;
#[cfg(test)]
mod tests;

/// The trimmed id, or `EmptyId`.
fn non_empty<'a>(id: &'a str, what: &'static str) -> Result<&'a str, LeaseError> {
    let id = id.trim();
    if id.is_empty() { Err(LeaseError::EmptyId { what }) } else { Ok(id) }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One run the sweep returned to `queued`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredRun {
    /// The run as it is now (`queued`, no session).
    pub run: Arc<RunSnapshot>,
    /// Its status before recovery.
    pub previous_status: RunStatus,
    /// The session that held the expired lease.
    pub previous_session_id: String,
    /// When the expired lease ended.
    pub previous_lease_until: SystemTime,
    /// The recovery reason.
    pub reason: String,
    /// The actor the recovery is attributed to.
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

/// What the in-memory task service refuses, and why. Messages name the run, task or
/// session concerned; they never contain a claim token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseError {
    /// No run has this id.
    #[error("unknown run {run_id:?}")]
    UnknownRun {
        /// The id asked for.
        run_id: String,
    },
    /// No task has this id.
    #[error("unknown task {task_id:?}")]
    UnknownTask {
        /// The id asked for.
        task_id: String,
    },
    /// A run with this id was already enqueued.
    #[error("run {run_id:?} already exists")]
    DuplicateRun {
        /// The id.
        run_id: String,
    },
    /// A run, task or session id was empty (after trimming).
    #[error("empty {what} id")]
    EmptyId {
        /// `"run"`, `"task"` or `"session"`.
        what: &'static str,
    },
    /// The token presented is not the one of the run's current lease.
    #[error("claim token rejected for run {run_id:?}: it does not match the run's current lease")]
    WrongToken {
        /// The run.
        run_id: String,
    },
    /// The run holds no lease any more (it was released, recovered or ended), so any
    /// token presented for it is stale.
    #[error("claim token rejected for run {run_id:?}: the run holds no lease (it is {status}), so the token is stale")]
    StaleToken {
        /// The run.
        run_id: String,
        /// Its current status.
        status: RunStatus,
    },
    /// The run is not in a status the operation moves from.
    #[error("invalid status transition for run {run_id:?}: {from} -> {to}")]
    InvalidTransition {
        /// The run.
        run_id: String,
        /// Its current status.
        from: RunStatus,
        /// The status the operation would have moved it to.
        to: RunStatus,
    },
    /// The session already holds a live lease and cannot claim a second run.
    #[error("session {session_id:?} already holds a live lease (run {run_id:?}) and cannot claim another run")]
    SessionBusy {
        /// The claiming session.
        session_id: String,
        /// The run it holds.
        run_id: String,
    },
    /// Claims are refused while the scheduler-wide pause is on.
    #[error("claim refused: the scheduler is paused")]
    Paused,
    /// The pause flag could not be read, so the claim was refused (fail closed).
    #[error("claim refused: the scheduler pause flag could not be read (fail closed)")]
    PauseUnreadable(#[source] FakeError),
    /// `now + lease` is past what the clock can represent.
    #[error("a lease of {lease:?} overflows the clock")]
    LeaseOverflow {
        /// The lease duration asked for.
        lease: Duration,
    },
    /// An injected fault (see [`MemoryTaskService::faults`]).
    #[error(transparent)]
    Injected(#[from] FakeError),
}

#[derive(Debug)]
struct Held {
    session: Arc<str>,
    token: ClaimToken,
    until: SystemTime,
}

#[derive(Debug)]
struct RunRow {
    snap: Arc<RunSnapshot>,
    lease: Option<Held>,
    diagnostic: Option<String>,
    failure: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    tasks: HashMap<Arc<str>, TaskSpec>,
    task_runs: HashMap<Arc<str>, Vec<Arc<str>>>,
    runs: HashMap<Arc<str>, RunRow>,
    /// The pending runs, by run id.
    queued: BTreeMap<Arc<str>, Arc<RunSnapshot>>,
    /// The leased runs, by lease end then run id (the sweep's order).
    held: BTreeMap<(SystemTime, Arc<str>), Arc<ActiveRun>>,
    /// Which run each session holds.
    by_session: HashMap<Arc<str>, Arc<str>>,
}

impl State {
    /// Replaces a run's snapshot with an edited copy and keeps the pending index in step.
    fn edit_snapshot(&mut self, key: &Arc<str>, edit: impl FnOnce(&mut RunSnapshot)) -> Arc<RunSnapshot> {
        let Some(row) = self.runs.get_mut(key) else { unreachable!("edit_snapshot on a missing run") };
        let mut snap = RunSnapshot::clone(&row.snap);
        edit(&mut snap);
        let snap = Arc::new(snap);
        row.snap = Arc::clone(&snap);
        if snap.run_status == RunStatus::Queued {
            self.queued.insert(Arc::clone(key), Arc::clone(&snap));
        } else {
            self.queued.remove(key);
        }
        snap
    }

    /// Ends the run's lease (if any) and moves it to `status`.
    fn end_lease(&mut self, key: &Arc<str>, status: RunStatus) -> Option<Held> {
        let lease = self.runs.get_mut(key).and_then(|row| row.lease.take());
        if let Some(lease) = &lease {
            self.held.remove(&(lease.until, Arc::clone(key)));
            self.by_session.remove(&*lease.session);
        }
        self.edit_snapshot(key, |s| s.run_status = status);
        lease
    }

    /// Stores `task` (trimmed id) and re-describes every run of it.
    fn describe_task(&mut self, task: &TaskSpec) {
        if self.tasks.get(task.task_id.as_str()) == Some(task) {
            return;
        }
        let key = match self.tasks.get_key_value(task.task_id.as_str()) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(task.task_id.as_str()),
        };
        self.tasks.insert(Arc::clone(&key), task.clone());
        let runs = self.task_runs.get(&key).cloned().unwrap_or_default();
        for run in &runs {
            self.edit_snapshot(run, |s| s.describe(task));
        }
    }

    /// The run's key, or `UnknownRun`.
    fn key(&self, run_id: &str) -> Result<Arc<str>, LeaseError> {
        self.runs
            .get_key_value(run_id)
            .map(|(k, _)| Arc::clone(k))
            .ok_or_else(|| LeaseError::UnknownRun { run_id: run_id.to_owned() })
    }

    /// The run's key if `token` is its current lease token; otherwise why not.
    fn fenced(&self, run_id: &str, token: &ClaimToken) -> Result<Arc<str>, LeaseError> {
        let key = self.key(run_id)?;
        let row = &self.runs[&key];
        match &row.lease {
            None => Err(LeaseError::StaleToken { run_id: run_id.to_owned(), status: row.snap.run_status }),
            Some(lease) if !lease.token.matches(token) => Err(LeaseError::WrongToken { run_id: run_id.to_owned() }),
            Some(_) => Ok(key),
        }
    }

    fn set_active_status(&mut self, key: &Arc<str>, status: RunStatus) {
        let Some(until) = self.runs[key].lease.as_ref().map(|l| l.until) else { return };
        if let Some(active) = self.held.get_mut(&(until, Arc::clone(key))) {
            *active = Arc::new(ActiveRun { status, ..ActiveRun::clone(active) });
        }
    }
}

/// The in-memory task service (a cloneable handle; see the [module docs](self)).
///
/// Claims consult a [`MemoryPauseStore`]: share one with the scheduler
/// ([`with_pause`](Self::with_pause)) so that pausing the scheduler also refuses claims.
///
/// Reads hand out `Arc` clones of stored rows, so the scheduler's steady-state reads
/// (pending runs, active runs, a sweep that finds nothing) allocate nothing.
///
/// Fault operations (see [`faults`](Self::faults)): `enqueue`, `claim`, `start`,
/// `heartbeat`, `complete`, `fail`, `release`, `mark_needs_attention`, and the
/// [`TaskSource`] methods `recover_expired_leases`, `pending_runs`, `active_runs`,
/// `run_status` (per run). The pause store's own `is_paused` fault makes claims fail
/// closed.
///
/// A session holds a *live lease* while one of its runs is `claimed`, `starting` or
/// `running` (the scheduler's notion of busy), including a lease that ended but was not
/// recovered yet: such a lease still answers to its token until the sweep recovers it.
#[derive(Debug, Clone, Default)]
pub struct MemoryTaskService {
    state: Arc<Mutex<State>>,
    pause: MemoryPauseStore,
    faults: Faults,
}

impl MemoryTaskService {
    /// An empty service with its own (unpaused) pause store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty service whose claims consult `pause`.
    pub fn with_pause(pause: MemoryPauseStore) -> Self {
        MemoryTaskService { pause, ..Self::default() }
    }

    /// The pause store claims consult.
    pub fn pause_store(&self) -> &MemoryPauseStore {
        &self.pause
    }

    /// The fault plan this service consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Enqueues a run of `task`: the run becomes `queued` with queued-at = `now`. The
    /// task is created, or re-described for every run of it when its fields differ.
    /// Ids are stored trimmed. A duplicate run id changes nothing, the task included.
    ///
    /// # Errors
    /// [`LeaseError::EmptyId`], [`LeaseError::DuplicateRun`], or an injected fault.
    pub fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Result<(), LeaseError> {
        self.faults.check("enqueue")?;
        let (run_id, task_id) = (non_empty(&run.run_id, "run")?, non_empty(&task.task_id, "task")?);
        let mut st = self.state();
        if st.runs.contains_key(run_id) {
            return Err(LeaseError::DuplicateRun { run_id: run_id.to_owned() });
        }
        let task = TaskSpec { task_id: task_id.to_owned(), ..task.clone() };
        st.describe_task(&task);
        let key: Arc<str> = Arc::from(run_id);
        let snap = Arc::new(RunSnapshot {
            run_id: run_id.to_owned(),
            run_status: RunStatus::Queued,
            channel: run.channel.clone(),
            required_capabilities: run.required_capabilities.clone(),
            queued_at: Some(now),
            ..RunSnapshot::of_task(&task)
        });
        let row = RunRow { snap: Arc::clone(&snap), lease: None, diagnostic: None, failure: None };
        st.runs.insert(Arc::clone(&key), row);
        st.queued.insert(Arc::clone(&key), snap);
        let task_key =
            st.tasks.get_key_value(task_id).map(|(k, _)| Arc::clone(k)).unwrap_or_else(|| Arc::from(task_id));
        st.task_runs.entry(task_key).or_default().push(key);
        Ok(())
    }

    /// Enqueues a run described as a snapshot: its task fields describe the task, its
    /// run fields the run; its status and queued-at are ignored (see
    /// [`enqueue`](Self::enqueue)).
    ///
    /// # Errors
    /// As [`enqueue`](Self::enqueue).
    pub fn enqueue_snapshot(&self, spec: &RunSnapshot, now: SystemTime) -> Result<(), LeaseError> {
        self.enqueue(&spec.task_spec(), &spec.run_spec(), now)
    }

    /// Re-describes an existing task: every run of it sees the new values.
    ///
    /// # Errors
    /// [`LeaseError::EmptyId`], [`LeaseError::UnknownTask`].
    pub fn update_task(&self, task: &TaskSpec, now: SystemTime) -> Result<(), LeaseError> {
        let _ = now;
        let task_id = non_empty(&task.task_id, "task")?;
        let mut st = self.state();
        if !st.tasks.contains_key(task_id) {
            return Err(LeaseError::UnknownTask { task_id: task_id.to_owned() });
        }
        st.describe_task(&TaskSpec { task_id: task_id.to_owned(), ..task.clone() });
        Ok(())
    }

    /// Edits an existing task in place; every run of it sees the change.
    ///
    /// # Errors
    /// [`LeaseError::UnknownTask`].
    pub fn edit_task(&self, task_id: &str, edit: impl FnOnce(&mut TaskSpec)) -> Result<(), LeaseError> {
        let task_id = task_id.trim();
        let mut st = self.state();
        let Some(task) = st.tasks.get(task_id) else {
            return Err(LeaseError::UnknownTask { task_id: task_id.to_owned() });
        };
        let mut task = task.clone();
        edit(&mut task);
        task.task_id = task_id.to_owned();
        st.describe_task(&task);
        Ok(())
    }

    /// The task as stored.
    pub fn task(&self, task_id: &str) -> Option<TaskSpec> {
        self.state().tasks.get(task_id.trim()).cloned()
    }

    /// Atomically leases the best run this session may claim, if any: highest priority,
    /// then oldest queued-at, then smallest run id, among the `queued` runs that pass the
    /// scheduler's eligibility rules for `request`. The run becomes `claimed` by the
    /// session until `now + lease`, under a fresh token returned once.
    ///
    /// # Errors
    /// [`LeaseError::Paused`] while the scheduler is paused (and
    /// [`LeaseError::PauseUnreadable`] when the flag cannot be read),
    /// [`LeaseError::SessionBusy`] when the session already holds a live lease,
    /// [`LeaseError::EmptyId`] for an empty session id, [`LeaseError::LeaseOverflow`],
    /// or an injected fault.
    pub fn claim(&self, request: &ClaimRequest, lease: Duration, now: SystemTime) -> Result<Option<Lease>, LeaseError> {
        self.faults.check("claim")?;
        let session_id = non_empty(&request.session_id, "session")?;
        match self.pause.check_paused() {
            Ok(false) => {}
            Ok(true) => return Err(LeaseError::Paused),
            Err(e) => return Err(LeaseError::PauseUnreadable(e)),
        }
        let until = now.checked_add(lease).ok_or(LeaseError::LeaseOverflow { lease })?;
        let mut st = self.state();
        if let Some(run_id) = st.by_session.get(session_id) {
            return Err(LeaseError::SessionBusy { session_id: session_id.to_owned(), run_id: run_id.to_string() });
        }
        let best = st
            .queued
            .iter()
            .filter(|(_, run)| is_potentially_claimable(&***run) && session_matches(&***run, request))
            .min_by(|(_, a), (_, b)| compare_runs(&***a, &***b))
            .map(|(key, _)| Arc::clone(key));
        let Some(key) = best else { return Ok(None) };
        let session: Arc<str> = Arc::from(session_id);
        let token = ClaimToken::generate();
        st.edit_snapshot(&key, |s| s.run_status = RunStatus::Claimed);
        let active = Arc::new(ActiveRun::new(&*key, session_id, RunStatus::Claimed));
        st.held.insert((until, Arc::clone(&key)), active);
        st.by_session.insert(Arc::clone(&session), Arc::clone(&key));
        if let Some(row) = st.runs.get_mut(&key) {
            row.lease = Some(Held { session, token: token.clone(), until });
        }
        Ok(Some(Lease { run_id: key.to_string(), session_id: session_id.to_owned(), token, lease_until: until }))
    }

    /// Moves a `claimed` (or `starting`) run to `running`.
    ///
    /// # Errors
    /// [`LeaseError::UnknownRun`], [`LeaseError::WrongToken`],
    /// [`LeaseError::StaleToken`], [`LeaseError::InvalidTransition`] (not `claimed`), or
    /// an injected fault. Nothing changes on error.
    pub fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), LeaseError> {
        let _ = now;
        self.faults.check("start")?;
        let mut st = self.state();
        let key = st.fenced(run_id.trim(), token)?;
        let from = st.runs[&key].snap.run_status;
        if !matches!(from, RunStatus::Claimed | RunStatus::Starting) {
            return Err(LeaseError::InvalidTransition { run_id: key.to_string(), from, to: RunStatus::Running });
        }
        st.edit_snapshot(&key, |s| s.run_status = RunStatus::Running);
        st.set_active_status(&key, RunStatus::Running);
        Ok(())
    }

    /// Extends the run's lease to `now + lease` and returns the new end.
    ///
    /// # Errors
    /// [`LeaseError::UnknownRun`], [`LeaseError::WrongToken`],
    /// [`LeaseError::StaleToken`], [`LeaseError::LeaseOverflow`], or an injected fault.
    /// Nothing changes on error.
    pub fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, LeaseError> {
        self.faults.check("heartbeat")?;
        let until = now.checked_add(lease).ok_or(LeaseError::LeaseOverflow { lease })?;
        let mut st = self.state();
        let key = st.fenced(run_id.trim(), token)?;
        let st = &mut *st;
        let Some(held) = st.runs.get_mut(&key).and_then(|row| row.lease.as_mut()) else {
            unreachable!("a fenced run holds a lease")
        };
        let old = std::mem::replace(&mut held.until, until);
        if let Some(active) = st.held.remove(&(old, Arc::clone(&key))) {
            st.held.insert((until, key), active);
        }
        Ok(until)
    }

    /// Ends the run successfully: `completed`, lease and session cleared.
    ///
    /// # Errors
    /// [`LeaseError::UnknownRun`], [`LeaseError::WrongToken`],
    /// [`LeaseError::StaleToken`], or an injected fault. Nothing changes on error.
    pub fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), LeaseError> {
        let _ = now;
        self.faults.check("complete")?;
        let mut st = self.state();
        let key = st.fenced(run_id.trim(), token)?;
        st.end_lease(&key, RunStatus::Completed);
        Ok(())
    }

    /// Ends the run unsuccessfully: `failed` with `reason`, lease and session cleared.
    ///
    /// # Errors
    /// [`LeaseError::UnknownRun`], [`LeaseError::WrongToken`],
    /// [`LeaseError::StaleToken`], or an injected fault. Nothing changes on error.
    pub fn fail(&self, run_id: &str, token: &ClaimToken, reason: &str, now: SystemTime) -> Result<(), LeaseError> {
        let _ = now;
        self.faults.check("fail")?;
        let mut st = self.state();
        let key = st.fenced(run_id.trim(), token)?;
        st.end_lease(&key, RunStatus::Failed);
        if let Some(row) = st.runs.get_mut(&key) {
            row.failure = Some(reason.to_owned());
        }
        Ok(())
    }

    /// Gives the run back: `queued` again (keeping its original queued-at, so it keeps
    /// its place in line), lease and session cleared.
    ///
    /// # Errors
    /// [`LeaseError::UnknownRun`], [`LeaseError::WrongToken`],
    /// [`LeaseError::StaleToken`], or an injected fault. Nothing changes on error.
    pub fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), LeaseError> {
        let _ = now;
        self.faults.check("release")?;
        let mut st = self.state();
        let key = st.fenced(run_id.trim(), token)?;
        st.end_lease(&key, RunStatus::Queued);
        Ok(())
    }

    /// Returns every leased run whose lease ended at or before `now` to `queued`, oldest
    /// lease first (then smallest run id), at most `limit` of them (0: no limit), and
    /// reports each with its previous status, session and lease end (attributed to the
    /// actor `scheduler`; the [`TaskSource`] sweep records the scheduler's own actor).
    pub fn recover_expired(&self, now: SystemTime, reason: &str, limit: u32) -> Vec<RecoveredRun> {
        let mut out = Vec::new();
        self.recover_into(now, reason, limit, "scheduler", &mut out);
        out
    }

    fn recover_into(&self, now: SystemTime, reason: &str, limit: u32, actor: &str, out: &mut Vec<RecoveredRun>) {
        let mut st = self.state();
        let limit = if limit == 0 { usize::MAX } else { limit as usize };
        // Allocates only when something expired.
        let expired: Vec<Arc<str>> =
            st.held.keys().take_while(|(until, _)| *until <= now).take(limit).map(|(_, k)| Arc::clone(k)).collect();
        for key in expired {
            let previous_status = st.runs[&key].snap.run_status;
            let Some(lease) = st.end_lease(&key, RunStatus::Queued) else { continue };
            out.push(RecoveredRun {
                run: Arc::clone(&st.runs[&key].snap),
                previous_status,
                previous_session_id: lease.session.to_string(),
                previous_lease_until: lease.until,
                reason: reason.to_owned(),
                actor: actor.to_owned(),
            });
        }
    }

    /// Moves a `queued` run to `needs_attention`, keeping `diagnostic`.
    ///
    /// # Errors
    /// [`LeaseError::UnknownRun`], [`LeaseError::InvalidTransition`] from any other
    /// status, or an injected fault. Nothing changes on error.
    pub fn mark_needs_attention(&self, run_id: &str, diagnostic: &str, now: SystemTime) -> Result<(), LeaseError> {
        let _ = now;
        self.faults.check("mark_needs_attention")?;
        let mut st = self.state();
        let key = st.key(run_id.trim())?;
        let from = st.runs[&key].snap.run_status;
        if from != RunStatus::Queued {
            return Err(LeaseError::InvalidTransition { run_id: key.to_string(), from, to: RunStatus::NeedsAttention });
        }
        st.edit_snapshot(&key, |s| s.run_status = RunStatus::NeedsAttention);
        if let Some(row) = st.runs.get_mut(&key) {
            row.diagnostic = Some(diagnostic.to_owned());
        }
        Ok(())
    }

    /// The run's status, or `None` for an unknown run.
    pub fn status(&self, run_id: &str) -> Option<RunStatus> {
        self.state().runs.get(run_id.trim()).map(|row| row.snap.run_status)
    }

    /// The run's status and lease, or `None` for an unknown run.
    pub fn record(&self, run_id: &str) -> Option<RunRecord> {
        self.state().runs.get(run_id.trim()).map(|row| RunRecord {
            status: row.snap.run_status,
            session_id: row.lease.as_ref().map(|l| l.session.to_string()),
            lease_until: row.lease.as_ref().map(|l| l.until),
            queued_at: row.snap.queued_at,
        })
    }

    /// The run joined with its task, as stored now.
    pub fn snapshot(&self, run_id: &str) -> Option<Arc<RunSnapshot>> {
        self.state().runs.get(run_id.trim()).map(|row| Arc::clone(&row.snap))
    }

    /// The diagnostic a `needs_attention` run was marked with.
    pub fn diagnostic(&self, run_id: &str) -> Option<String> {
        self.state().runs.get(run_id.trim()).and_then(|row| row.diagnostic.clone())
    }

    /// The reason a `failed` run was failed with.
    pub fn failure_reason(&self, run_id: &str) -> Option<String> {
        self.state().runs.get(run_id.trim()).and_then(|row| row.failure.clone())
    }

    /// The run the session holds a lease on, if any.
    pub fn lease_of(&self, session_id: &str) -> Option<String> {
        self.state().by_session.get(session_id.trim()).map(|k| k.to_string())
    }

    /// The pending runs, by run id.
    pub fn pending(&self) -> Vec<Arc<RunSnapshot>> {
        self.state().queued.values().cloned().collect()
    }

    /// The leased runs, oldest lease end first.
    pub fn active(&self) -> Vec<Arc<ActiveRun>> {
        self.state().held.values().cloned().collect()
    }

    /// How many runs the service holds, in every status.
    pub fn len(&self) -> usize {
        self.state().runs.len()
    }

    /// Whether the service holds no run.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl TaskSource for MemoryTaskService {
    type Run = Arc<RunSnapshot>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = RecoveredRun;
    type Error = LeaseError;

    async fn recover_expired_leases(
        &self,
        request: Recovery<'_>,
        out: &mut Vec<RecoveredRun>,
    ) -> Result<(), LeaseError> {
        self.faults.check("recover_expired_leases")?;
        self.recover_into(request.now, request.reason, request.limit, request.actor, out);
        Ok(())
    }

    async fn pending_runs(&self, out: &mut Vec<Arc<RunSnapshot>>) -> Result<(), LeaseError> {
        self.faults.check("pending_runs")?;
        out.extend(self.state().queued.values().cloned());
        Ok(())
    }

    async fn active_runs(&self, out: &mut Vec<Arc<ActiveRun>>) -> Result<(), LeaseError> {
        self.faults.check("active_runs")?;
        out.extend(self.state().held.values().cloned());
        Ok(())
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, LeaseError> {
        self.faults.check("run_status")?;
        Ok(self.status(run_id))
    }
}
