//! A tiny table-based "database" implementing the whole contract the way a SQL backend
//! would (text columns, one statement per operation, a connection that serialises its
//! own calls), with one configurable [`Defect`]: the mistake a backend author makes.
//!
//! Every call takes its connection's gate (a connection runs one statement at a time)
//! and yields once (a round trip), so calls on independent connections interleave at
//! the points a real client's `.await`s would.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scheduler_core::ladder::Budget;
use scheduler_core::lease::{
    ClaimRequest, ClaimToken, ErrorKind, Lease, LeaseService, PauseControl, PauseState, RecoveredDetails, RunRecord,
    RunSpec, ServiceError, SessionRegistry, SessionSpec, TaskSpec,
};
use scheduler_core::model::{OwnerRef, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::seam::{PauseStore, Recovery, SessionSource, StarvationStore, TaskSource};
use scheduler_core::view::RecoveredView;
use scheduler_testkit::conformance::{Backend, Handles};
use scheduler_testkit::fault::YieldOnce;
use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot};

/// One mistake (see `VARIANTS` in the test for what each one is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Defect {
    None,
    QueuedAtWholeSeconds,
    DuplicateOverwritesTask,
    DuplicateReplacesRun,
    TaskCopiedOntoRun,
    BlankIdsStored,
    IdsNotTrimmed,
    TieBreakByIdDesc,
    UnknownPriorityLowest,
    BlockedTaskClaimable,
    TaskStatusCaseSensitive,
    UnknownScopeAsGlobal,
    GlobalTaskAnyWorkspace,
    ChannelIgnored,
    OwnerRefNotTrimmed,
    UnknownOwnerMatchesAnyone,
    CapabilitiesAnyOf,
    BlankCapabilitiesRequired,
    PauseCachedAtOpen,
    BlankSessionClaims,
    BusyOnlyRunning,
    ExpiredNotBusy,
    ExpiredClaimable,
    FinishKeepsSessionBusy,
    HeartbeatIgnoresToken,
    TokenCaseInsensitive,
    TokenTrimmed,
    TokenPrefix,
    TokenTruncated8,
    TokenFromCounter,
    TokenReusedAcrossClaims,
    ErrorQuotesPresentedToken,
    ErrorQuotesStoredToken,
    ExpiredLeaseRefusesToken,
    HeartbeatWritesBeforeCheck,
    HeartbeatFromOldEnd,
    CompleteOnlyFromRunning,
    FailOnlyFromRunning,
    ReleaseResetsQueuedAt,
    ReleaseKeepsToken,
    RecoveryStrictLess,
    RecoveryResetsQueuedAt,
    RecoveryKeepsToken,
    RecoveryIgnoresLimit,
    RecoveryOrderById,
    RecoveryPreviousStatusAfterUpdate,
    RecoveryActorDefault,
    RecoveryNotAtomic,
    ClaimNotAtomic,
    BusyCheckNotAtomic,
    PendingOnlyClaimable,
    PendingPageLimit1000,
    ActiveOnlyRunning,
    StatusNoneForFinished,
    BatchSortedById,
    BatchDropsUnknown,
    NeedsAttentionFromClaimed,
    NeedsAttentionTwice,
    NeedsAttentionUnknownIsInvalid,
    BudgetListPaginated100,
    BudgetPageAfterInclusive,
    BudgetPageShortByOne,
    BudgetPageClearsOut,
    BudgetUpsertCoalesce,
    BudgetClearMissingErrors,
    BudgetLoadManySorted,
    PauseAgainKeepsFirst,
    ResumeNoop,
    DuplicateSessionOverwrites,
    SetCapabilitiesAppends,
    UpdateUnknownSessionOk,
    RemoveUnknownOk,
    MarkStaleLessOrEqual,
    TouchNotRecorded,
    TokensOnlyInMemory,
    BudgetsNotDurable,
    PauseNotDurable,
    SessionsNotDurable,
    LeaseEndsOnlyInMemory,
}

use Defect as D;

// ------------------------------------------------------------------------------------
// Errors and rows.

#[derive(Debug)]
pub(crate) struct DbError {
    kind: ErrorKind,
    message: String,
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}

impl ServiceError for DbError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

fn err<T>(kind: ErrorKind, message: impl Into<String>) -> Result<T, DbError> {
    Err(DbError { kind, message: message.into() })
}

#[derive(Debug, Clone, PartialEq)]
struct TaskRow {
    status: String,
    paused: bool,
    priority: String,
    scope: String,
    workspace: String,
    owner_kind: String,
    owner_ref: String,
}

impl TaskRow {
    fn of(t: &TaskSpec) -> Self {
        TaskRow {
            status: t.status.as_str().to_owned(),
            paused: t.paused,
            priority: t.priority.as_str().to_owned(),
            scope: t.scope.as_str().to_owned(),
            workspace: t.workspace_id.trim().to_owned(),
            owner_kind: t.owner.kind().to_owned(),
            owner_ref: t.owner.reference().to_owned(),
        }
    }
}

#[derive(Debug, Clone)]
struct RunRow {
    task_id: String,
    status: String,
    session: Option<String>,
    token: Option<String>,
    lease_until: Option<SystemTime>,
    queued_at: SystemTime,
    channel: String,
    caps: Vec<String>,
    task_copy: Option<TaskRow>,
    enqueue_token: String,
}

const LIVE: [&str; 3] = ["claimed", "starting", "running"];

fn is_live(status: &str) -> bool {
    LIVE.contains(&status)
}

#[derive(Debug, Default)]
struct Tables {
    tasks: BTreeMap<String, TaskRow>,
    runs: BTreeMap<String, RunRow>,
    sessions: BTreeMap<String, (SessionSpec, SystemTime)>,
    pause: Option<PauseState>,
    budgets: BTreeMap<String, Budget>,
    /// Sessions a finished run still holds (the `FinishKeepsSessionBusy` mistake).
    sticky: BTreeSet<String>,
    claims: u64,
}

/// One database: its tables, its defect, and (for a single serialised connection) the
/// one gate every handle shares.
#[derive(Debug)]
pub(crate) struct Db {
    tables: Mutex<Tables>,
    defect: Defect,
    shared_gate: Arc<tokio::sync::Mutex<()>>,
}

impl Db {
    fn lock(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a restart loses, for the mistakes that keep something only in memory.
    fn restart(&self) {
        let mut t = self.lock();
        match self.defect {
            D::TokensOnlyInMemory => t.runs.values_mut().for_each(|r| r.token = None),
            D::LeaseEndsOnlyInMemory => t.runs.values_mut().for_each(|r| r.lease_until = None),
            D::BudgetsNotDurable => t.budgets.clear(),
            D::PauseNotDurable => t.pause = None,
            D::SessionsNotDurable => t.sessions.clear(),
            _ => {}
        }
    }
}

/// A connection: every handle of one `connect` is a clone of it.
#[derive(Debug, Clone)]
pub(crate) struct Conn {
    db: Arc<Db>,
    gate: Arc<tokio::sync::Mutex<()>>,
    paused_at_open: bool,
}

async fn round_trip() {
    YieldOnce::pending().await;
}

impl Conn {
    fn open(db: &Arc<Db>, independent: bool) -> Self {
        let gate = if independent { Arc::default() } else { Arc::clone(&db.shared_gate) };
        let paused_at_open = db.lock().pause.is_some();
        Conn { db: Arc::clone(db), gate, paused_at_open }
    }

    fn is(&self, d: Defect) -> bool {
        self.db.defect == d
    }

    fn t(&self) -> MutexGuard<'_, Tables> {
        self.db.lock()
    }

    async fn enter(&self) -> tokio::sync::MutexGuard<'_, ()> {
        let gate = self.gate.lock().await;
        round_trip().await;
        gate
    }

    fn id(&self, id: &str) -> String {
        if self.is(D::IdsNotTrimmed) { id.to_owned() } else { id.trim().to_owned() }
    }

    fn token_matches(&self, stored: &str, presented: &str) -> bool {
        match self.db.defect {
            D::TokenCaseInsensitive => stored.eq_ignore_ascii_case(presented),
            D::TokenTrimmed => stored.trim() == presented.trim(),
            D::TokenPrefix => !presented.is_empty() && stored.starts_with(presented),
            D::TokenTruncated8 => stored == presented.chars().take(8).collect::<String>(),
            _ => stored == presented,
        }
    }

    /// The run's row if `token` fences it.
    fn fence<'t>(
        &self,
        t: &'t mut Tables,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> Result<&'t mut RunRow, DbError> {
        let id = self.id(run_id);
        let Some(row) = t.runs.get_mut(&id) else { return err(ErrorKind::UnknownRun, format!("unknown run {id:?}")) };
        let presented = token.expose_secret();
        let mut ok = row.token.as_deref().is_some_and(|stored| self.token_matches(stored, presented));
        if self.is(D::ExpiredLeaseRefusesToken) && row.lease_until.is_none_or(|u| u <= now) {
            ok = false;
        }
        if ok {
            return Ok(row);
        }
        let mut message = format!("claim token rejected for run {id:?}");
        if self.is(D::ErrorQuotesPresentedToken) {
            message.push_str(&format!(" (presented {presented})"));
        }
        if self.is(D::ErrorQuotesStoredToken) {
            message.push_str(&format!(" (expected {})", row.token.as_deref().unwrap_or("none")));
        }
        err(ErrorKind::TokenRejected, message)
    }

    fn task_of<'t>(&self, t: &'t Tables, run: &'t RunRow) -> Option<&'t TaskRow> {
        match (&run.task_copy, self.is(D::TaskCopiedOntoRun)) {
            (Some(copy), true) => Some(copy),
            _ => t.tasks.get(&run.task_id),
        }
    }

    fn busy(&self, t: &Tables, session: &str, now: SystemTime) -> Option<String> {
        if self.is(D::FinishKeepsSessionBusy) && t.sticky.contains(session) {
            return Some("a finished run".to_owned());
        }
        t.runs.iter().find_map(|(id, r)| {
            let live = if self.is(D::BusyOnlyRunning) { r.status == "running" } else { is_live(&r.status) };
            let unexpired = !self.is(D::ExpiredNotBusy) || r.lease_until.is_some_and(|u| u > now);
            (r.session.as_deref() == Some(session) && live && unexpired).then(|| id.clone())
        })
    }
}

// ------------------------------------------------------------------------------------
// The claim query, written out as its WHERE and ORDER BY clauses.

impl Conn {
    fn claimable(&self, r: &RunRow, task: &TaskRow, req: &ClaimRequest, now: SystemTime) -> bool {
        let expired = is_live(&r.status) && r.lease_until.is_some_and(|u| u <= now);
        let queued = r.status == "queued" || (self.is(D::ExpiredClaimable) && expired);
        let excluded: &[&str] = match self.db.defect {
            D::BlockedTaskClaimable => &["draft", "canceled"],
            D::TaskStatusCaseSensitive => &["Draft", "Blocked", "Canceled"],
            _ => &["draft", "blocked", "canceled"],
        };
        queued
            && !task.paused
            && !excluded.contains(&task.status.as_str())
            && self.scope_ok(task, req)
            && (self.is(D::ChannelIgnored) || r.channel.is_empty() || r.channel == req.channel.trim())
            && self.owner_ok(task, req)
            && self.caps_ok(&r.caps, &req.capabilities)
    }

    fn scope_ok(&self, task: &TaskRow, req: &ClaimRequest) -> bool {
        let ws = req.workspace_id.trim();
        match (task.scope.as_str(), self.db.defect) {
            ("workspace", _) => !task.workspace.is_empty() && task.workspace == ws,
            ("global", D::GlobalTaskAnyWorkspace) => true,
            ("global", _) => ws.is_empty(),
            (_, D::UnknownScopeAsGlobal) => ws.is_empty(),
            _ => false,
        }
    }

    fn owner_ok(&self, task: &TaskRow, req: &ClaimRequest) -> bool {
        let r = if self.is(D::OwnerRefNotTrimmed) { task.owner_ref.as_str() } else { task.owner_ref.trim() };
        match task.owner_kind.as_str() {
            "none" => true,
            "pool" => !r.is_empty() && r == req.agent_name.trim(),
            "agent_session" => !r.is_empty() && r == req.session_id.trim(),
            _ => self.is(D::UnknownOwnerMatchesAnyone),
        }
    }

    fn caps_ok(&self, required: &[String], offered: &[String]) -> bool {
        let has = |c: &str| offered.iter().any(|o| o.trim() == c);
        let required =
            required.iter().map(|c| if self.is(D::BlankCapabilitiesRequired) { c.as_str() } else { c.trim() });
        if self.is(D::CapabilitiesAnyOf) {
            let required: Vec<&str> = required.filter(|c| !c.is_empty()).collect();
            required.is_empty() || required.iter().any(|c| has(c))
        } else {
            required.filter(|c| self.is(D::BlankCapabilitiesRequired) || !c.is_empty()).all(has)
        }
    }

    fn rank(&self, priority: &str) -> i32 {
        match priority {
            "urgent" => 3,
            "high" => 2,
            "medium" => 1,
            "low" => 0,
            _ if self.is(D::UnknownPriorityLowest) => -1,
            _ => 1,
        }
    }

    fn best(&self, t: &Tables, req: &ClaimRequest, now: SystemTime) -> Option<String> {
        let mut found: Vec<(i32, SystemTime, &String)> = t
            .runs
            .iter()
            .filter_map(|(id, r)| {
                let task = self.task_of(t, r)?;
                self.claimable(r, task, req, now).then(|| (self.rank(&task.priority), r.queued_at, id))
            })
            .collect();
        let by_id_desc = self.is(D::TieBreakByIdDesc);
        found.sort_by(|a, b| {
            let ids = if by_id_desc { b.2.cmp(a.2) } else { a.2.cmp(b.2) };
            b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(ids)
        });
        found.first().map(|f| f.2.clone())
    }

    fn new_token(&self, t: &mut Tables, run_id: &str) -> ClaimToken {
        t.claims += 1;
        match self.db.defect {
            D::TokenFromCounter => ClaimToken::new(format!("{run_id}:{}", t.claims)),
            D::TokenReusedAcrossClaims => ClaimToken::new(t.runs[run_id].enqueue_token.clone()),
            _ => ClaimToken::generate(),
        }
    }

    fn take(&self, t: &mut Tables, run_id: &str, session: &str, until: SystemTime) -> Lease {
        let token = self.new_token(t, run_id);
        let stored = if self.is(D::TokenTruncated8) {
            token.expose_secret().chars().take(8).collect()
        } else {
            token.expose_secret().to_owned()
        };
        if let Some(row) = t.runs.get_mut(run_id) {
            row.status = "claimed".into();
            row.session = Some(session.to_owned());
            row.token = Some(stored);
            row.lease_until = Some(until);
        }
        Lease { run_id: run_id.to_owned(), session_id: session.to_owned(), token, lease_until: until }
    }

    fn paused(&self, t: &Tables) -> bool {
        if self.is(D::PauseCachedAtOpen) { self.paused_at_open } else { t.pause.is_some() }
    }
}

// ------------------------------------------------------------------------------------
// The task service.

/// A recovered lease as the sweep reports it.
#[derive(Debug, Clone)]
pub(crate) struct Recovered {
    run_id: String,
    status: RunStatus,
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
        self.status
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

fn whole_seconds(t: SystemTime) -> SystemTime {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    UNIX_EPOCH + Duration::from_secs(secs)
}

impl Conn {
    fn snapshot(&self, t: &Tables, id: &str, r: &RunRow) -> Option<RunSnapshot> {
        let task = self.task_of(t, r)?;
        let mut s = RunSnapshot::queued(id, r.task_id.clone());
        s.run_status = RunStatus::from_text(&r.status);
        s.task_status = TaskStatus::from_text(&task.status);
        s.task_paused = task.paused;
        s.priority = Priority::from_text(&task.priority);
        s.scope = Scope::from_text(&task.scope);
        s.workspace_id.clone_from(&task.workspace);
        s.owner = OwnerRef::from_parts(&task.owner_kind, &task.owner_ref);
        s.channel.clone_from(&r.channel);
        s.required_capabilities.clone_from(&r.caps);
        s.queued_at = Some(r.queued_at);
        Some(s)
    }

    fn select_expired(&self, t: &Tables, request: &Recovery<'_>) -> Vec<(String, RunRow)> {
        let mut expired: Vec<(String, RunRow)> = t
            .runs
            .iter()
            .filter(|(_, r)| is_live(&r.status))
            .filter(|(_, r)| {
                r.lease_until
                    .is_some_and(|u| if self.is(D::RecoveryStrictLess) { u < request.now } else { u <= request.now })
            })
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect();
        if !self.is(D::RecoveryOrderById) {
            expired.sort_by(|a, b| a.1.lease_until.cmp(&b.1.lease_until).then(a.0.cmp(&b.0)));
        }
        if request.limit > 0 && !self.is(D::RecoveryIgnoresLimit) {
            expired.truncate(request.limit as usize);
        }
        expired
    }

    fn requeue(&self, t: &mut Tables, id: &str, before: &RunRow, request: &Recovery<'_>) -> Recovered {
        if let Some(row) = t.runs.get_mut(id) {
            row.status = "queued".into();
            row.session = None;
            row.lease_until = None;
            if !self.is(D::RecoveryKeepsToken) {
                row.token = None;
            }
            if self.is(D::RecoveryResetsQueuedAt) {
                row.queued_at = request.now;
            }
        }
        let previous = if self.is(D::RecoveryPreviousStatusAfterUpdate) { "queued" } else { before.status.as_str() };
        Recovered {
            run_id: id.to_owned(),
            status: RunStatus::Queued,
            previous_status: RunStatus::from_text(previous),
            previous_session: before.session.clone().unwrap_or_default(),
            previous_until: before.lease_until.unwrap_or(UNIX_EPOCH),
            reason: request.reason.to_owned(),
            actor: if self.is(D::RecoveryActorDefault) { "system".to_owned() } else { request.actor.to_owned() },
        }
    }
}

impl TaskSource for Conn {
    type Run = RunSnapshot;
    type ActiveRun = ActiveRun;
    type Recovered = Recovered;
    type Error = DbError;

    async fn recover_expired_leases(&self, request: Recovery<'_>, out: &mut Vec<Recovered>) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let expired = if self.is(D::RecoveryNotAtomic) {
            let expired = self.select_expired(&self.t(), &request);
            round_trip().await;
            expired
        } else {
            Vec::new()
        };
        let mut t = self.t();
        let expired = if self.is(D::RecoveryNotAtomic) { expired } else { self.select_expired(&t, &request) };
        for (id, before) in &expired {
            out.push(self.requeue(&mut t, id, before, &request));
        }
        Ok(())
    }

    async fn pending_runs(&self, out: &mut Vec<RunSnapshot>) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let t = self.t();
        let rows = t.runs.iter().filter(|(_, r)| r.status == "queued").filter_map(|(id, r)| self.snapshot(&t, id, r));
        let rows =
            rows.filter(|s| !self.is(D::PendingOnlyClaimable) || (!s.task_paused && s.task_status.allows_claim()));
        let limit = if self.is(D::PendingPageLimit1000) { 1_000 } else { usize::MAX };
        out.extend(rows.take(limit));
        Ok(())
    }

    async fn active_runs(&self, out: &mut Vec<ActiveRun>) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let t = self.t();
        for (id, r) in &t.runs {
            let listed = if self.is(D::ActiveOnlyRunning) { r.status == "running" } else { is_live(&r.status) };
            if let (true, Some(session)) = (listed, &r.session) {
                out.push(ActiveRun::new(id.clone(), session.clone(), RunStatus::from_text(&r.status)));
            }
        }
        Ok(())
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, DbError> {
        let _gate = self.enter().await;
        let status = self.t().runs.get(&self.id(run_id)).map(|r| RunStatus::from_text(&r.status));
        let finished = matches!(status, Some(RunStatus::Completed | RunStatus::Failed | RunStatus::Canceled));
        Ok(if finished && self.is(D::StatusNoneForFinished) { None } else { status })
    }

    async fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, DbError>>,
    ) -> Result<(), DbError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let _gate = self.enter().await;
        let t = self.t();
        let mut ids: Vec<String> = run_ids.map(|id| self.id(id)).collect();
        if self.is(D::BatchSortedById) {
            ids.sort();
        }
        for id in ids {
            let status = t.runs.get(&id).map(|r| RunStatus::from_text(&r.status));
            if status.is_some() || !self.is(D::BatchDropsUnknown) {
                out.push(Ok(status));
            }
        }
        Ok(())
    }
}

impl LeaseService for Conn {
    async fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let (run_id, task_id) = (self.id(&run.run_id), self.id(&task.task_id));
        if (run_id.trim().is_empty() || task_id.trim().is_empty()) && !self.is(D::BlankIdsStored) {
            return err(ErrorKind::InvalidInput, "empty run or task id");
        }
        let mut t = self.t();
        if self.is(D::DuplicateOverwritesTask) {
            t.tasks.insert(task_id.clone(), TaskRow::of(task));
        }
        if t.runs.contains_key(&run_id) && !self.is(D::DuplicateReplacesRun) {
            return err(ErrorKind::DuplicateRun, format!("run {run_id:?} exists"));
        }
        t.tasks.insert(task_id.clone(), TaskRow::of(task));
        let queued_at = if self.is(D::QueuedAtWholeSeconds) { whole_seconds(now) } else { now };
        let row = RunRow {
            task_id,
            status: "queued".into(),
            session: None,
            token: None,
            lease_until: None,
            queued_at,
            channel: run.channel.trim().to_owned(),
            caps: run.required_capabilities.clone(),
            task_copy: Some(TaskRow::of(task)),
            enqueue_token: ClaimToken::generate().expose_secret().to_owned(),
        };
        t.runs.insert(run_id, row);
        Ok(())
    }

    async fn update_task(&self, task: &TaskSpec, _now: SystemTime) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let mut t = self.t();
        match t.tasks.get_mut(&self.id(&task.task_id)) {
            Some(row) => {
                *row = TaskRow::of(task);
                Ok(())
            }
            None => err(ErrorKind::UnknownTask, format!("unknown task {:?}", task.task_id)),
        }
    }

    async fn claim(&self, req: &ClaimRequest, lease: Duration, now: SystemTime) -> Result<Option<Lease>, DbError> {
        let _gate = self.enter().await;
        let session = self.id(&req.session_id);
        if session.trim().is_empty() && !self.is(D::BlankSessionClaims) {
            return err(ErrorKind::InvalidInput, "empty session id");
        }
        let Some(until) = now.checked_add(lease) else { return err(ErrorKind::InvalidInput, "lease overflows") };
        if self.paused(&self.t()) {
            return err(ErrorKind::Paused, "claims are paused");
        }
        if self.is(D::BusyCheckNotAtomic) {
            let busy = self.busy(&self.t(), &session, now);
            round_trip().await;
            if let Some(run) = busy {
                return err(ErrorKind::SessionBusy, format!("session {session:?} holds {run:?}"));
            }
        }
        let picked = if self.is(D::ClaimNotAtomic) {
            let picked = self.best(&self.t(), req, now);
            round_trip().await;
            picked
        } else {
            None
        };
        let mut t = self.t();
        if let (false, Some(run)) = (self.is(D::BusyCheckNotAtomic), self.busy(&t, &session, now)) {
            return err(ErrorKind::SessionBusy, format!("session {session:?} holds {run:?}"));
        }
        let best = if self.is(D::ClaimNotAtomic) { picked } else { self.best(&t, req, now) };
        Ok(best.map(|run| self.take(&mut t, &run, &session, until)))
    }

    async fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let mut t = self.t();
        let row = self.fence(&mut t, run_id, token, now)?;
        if row.status != "claimed" && row.status != "starting" {
            return err(ErrorKind::InvalidTransition, format!("cannot start a {} run", row.status));
        }
        row.status = "running".into();
        Ok(())
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, DbError> {
        let _gate = self.enter().await;
        let Some(until) = now.checked_add(lease) else { return err(ErrorKind::InvalidInput, "lease overflows") };
        let mut t = self.t();
        let id = self.id(run_id);
        if self.is(D::HeartbeatWritesBeforeCheck) {
            if let Some(row) = t.runs.get_mut(&id).filter(|r| is_live(&r.status)) {
                row.lease_until = Some(until);
            }
        }
        if self.is(D::HeartbeatIgnoresToken) {
            return match t.runs.get_mut(&id).filter(|r| is_live(&r.status)) {
                Some(row) => {
                    row.lease_until = Some(until);
                    Ok(until)
                }
                None => err(ErrorKind::TokenRejected, format!("run {id:?} holds no lease")),
            };
        }
        let row = self.fence(&mut t, run_id, token, now)?;
        let until = match (self.is(D::HeartbeatFromOldEnd), row.lease_until) {
            (true, Some(old)) => old + lease,
            _ => until,
        };
        row.lease_until = Some(until);
        Ok(until)
    }

    async fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), DbError> {
        self.finish(run_id, token, now, "completed", D::CompleteOnlyFromRunning).await
    }

    async fn fail(&self, run_id: &str, token: &ClaimToken, _reason: &str, now: SystemTime) -> Result<(), DbError> {
        self.finish(run_id, token, now, "failed", D::FailOnlyFromRunning).await
    }

    async fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let mut t = self.t();
        let resets = self.is(D::ReleaseResetsQueuedAt);
        let keeps_token = self.is(D::ReleaseKeepsToken);
        let row = self.fence(&mut t, run_id, token, now)?;
        row.status = "queued".into();
        row.session = None;
        row.lease_until = None;
        if !keeps_token {
            row.token = None;
        }
        if resets {
            row.queued_at = now;
        }
        Ok(())
    }

    async fn mark_needs_attention(&self, run_id: &str, _diagnostic: &str, _now: SystemTime) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let mut t = self.t();
        let id = self.id(run_id);
        let mut allowed = vec!["queued"];
        match self.db.defect {
            D::NeedsAttentionFromClaimed => allowed.push("claimed"),
            D::NeedsAttentionTwice => allowed.push("needs_attention"),
            _ => {}
        }
        let Some(row) = t.runs.get_mut(&id) else {
            let kind = if self.is(D::NeedsAttentionUnknownIsInvalid) {
                ErrorKind::InvalidTransition
            } else {
                ErrorKind::UnknownRun
            };
            return err(kind, format!("no run {id:?} to mark"));
        };
        if !allowed.contains(&row.status.as_str()) {
            return err(ErrorKind::InvalidTransition, format!("cannot mark a {} run", row.status));
        }
        row.status = "needs_attention".into();
        row.session = None;
        row.token = None;
        row.lease_until = None;
        Ok(())
    }

    async fn record(&self, run_id: &str) -> Result<Option<RunRecord>, DbError> {
        let _gate = self.enter().await;
        Ok(self.t().runs.get(&self.id(run_id)).map(|r| RunRecord {
            status: RunStatus::from_text(&r.status),
            session_id: r.session.clone(),
            lease_until: r.lease_until,
            queued_at: Some(r.queued_at),
        }))
    }
}

impl Conn {
    async fn finish(
        &self,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
        to: &str,
        only_running: Defect,
    ) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let mut t = self.t();
        let strict = self.is(only_running);
        let row = self.fence(&mut t, run_id, token, now)?;
        if strict && row.status != "running" {
            return err(ErrorKind::InvalidTransition, format!("cannot finish a {} run", row.status));
        }
        row.status = to.into();
        let session = row.session.take();
        row.token = None;
        row.lease_until = None;
        if let (true, Some(session)) = (self.is(D::FinishKeepsSessionBusy), session) {
            t.sticky.insert(session);
        }
        Ok(())
    }
}

// ------------------------------------------------------------------------------------
// Sessions, pause, budgets.

impl SessionSource for Conn {
    type Session = SessionSpec;
    type Error = DbError;

    async fn sessions(&self, out: &mut Vec<SessionSpec>) -> Result<(), DbError> {
        let _gate = self.enter().await;
        out.extend(self.t().sessions.values().map(|(s, _)| s.clone()));
        Ok(())
    }
}

impl Conn {
    async fn update_session(
        &self,
        id: &str,
        now: SystemTime,
        edit: impl FnOnce(&mut SessionSpec),
    ) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let mut t = self.t();
        match t.sessions.get_mut(&self.id(id)) {
            Some((spec, seen)) => {
                edit(spec);
                *seen = now;
                Ok(())
            }
            None if self.is(D::UpdateUnknownSessionOk) => Ok(()),
            None => err(ErrorKind::UnknownSession, format!("unknown session {id:?}")),
        }
    }
}

impl SessionRegistry for Conn {
    async fn register(&self, session: &SessionSpec, now: SystemTime) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let id = self.id(&session.session_id);
        if id.trim().is_empty() {
            return err(ErrorKind::InvalidInput, "empty session id");
        }
        let mut t = self.t();
        if t.sessions.contains_key(&id) && !self.is(D::DuplicateSessionOverwrites) {
            return err(ErrorKind::DuplicateSession, format!("session {id:?} exists"));
        }
        t.sessions.insert(id.clone(), (SessionSpec { session_id: id, ..session.clone() }, now));
        Ok(())
    }

    async fn set_state(&self, id: &str, state: SessionState, now: SystemTime) -> Result<(), DbError> {
        self.update_session(id, now, |s| s.state = state).await
    }

    async fn set_prompting(&self, id: &str, prompting: bool, now: SystemTime) -> Result<(), DbError> {
        self.update_session(id, now, |s| s.prompting = prompting).await
    }

    async fn set_capabilities(&self, id: &str, caps: &[String], now: SystemTime) -> Result<(), DbError> {
        let appends = self.is(D::SetCapabilitiesAppends);
        self.update_session(id, now, |s| {
            if appends {
                s.capabilities.extend(caps.iter().cloned());
            } else {
                s.capabilities = caps.to_vec();
            }
        })
        .await
    }

    async fn touch(&self, id: &str, now: SystemTime) -> Result<(), DbError> {
        if self.is(D::TouchNotRecorded) {
            return Ok(());
        }
        self.update_session(id, now, |_| {}).await
    }

    async fn remove(&self, id: &str) -> Result<(), DbError> {
        let _gate = self.enter().await;
        match self.t().sessions.remove(&self.id(id)) {
            Some(_) => Ok(()),
            None if self.is(D::RemoveUnknownOk) => Ok(()),
            None => err(ErrorKind::UnknownSession, format!("unknown session {id:?}")),
        }
    }

    async fn mark_stale(&self, since: SystemTime, _now: SystemTime) -> Result<u64, DbError> {
        let _gate = self.enter().await;
        let mut count = 0;
        let le = self.is(D::MarkStaleLessOrEqual);
        for (spec, seen) in self.t().sessions.values_mut() {
            let stale = if le { *seen <= since } else { *seen < since };
            if stale && spec.state != SessionState::Stopped {
                spec.state = SessionState::Stopped;
                count += 1;
            }
        }
        Ok(count)
    }

    async fn session(&self, id: &str) -> Result<Option<SessionSpec>, DbError> {
        let _gate = self.enter().await;
        Ok(self.t().sessions.get(&self.id(id)).map(|(s, _)| s.clone()))
    }
}

impl PauseStore for Conn {
    type Error = DbError;

    async fn is_paused(&self) -> Result<bool, DbError> {
        let _gate = self.enter().await;
        Ok(self.t().pause.is_some())
    }
}

impl PauseControl for Conn {
    async fn pause(&self, by: &str, at: SystemTime, reason: &str) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let mut t = self.t();
        if t.pause.is_none() || !self.is(D::PauseAgainKeepsFirst) {
            t.pause = Some(PauseState { paused_by: by.to_owned(), paused_at: at, reason: reason.to_owned() });
        }
        Ok(())
    }

    async fn resume(&self) -> Result<(), DbError> {
        let _gate = self.enter().await;
        if !self.is(D::ResumeNoop) {
            self.t().pause = None;
        }
        Ok(())
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, DbError> {
        let _gate = self.enter().await;
        Ok(self.t().pause.clone())
    }
}

impl StarvationStore for Conn {
    type Key = String;
    type Error = DbError;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, DbError> {
        let _gate = self.enter().await;
        Ok(self.t().budgets.get(run_id).copied())
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), DbError> {
        let _gate = self.enter().await;
        self.put_budget(&mut self.t(), run_id, budget);
        Ok(())
    }

    async fn clear(&self, run_id: &str) -> Result<(), DbError> {
        let _gate = self.enter().await;
        match self.t().budgets.remove(run_id) {
            None if self.is(D::BudgetClearMissingErrors) => err(ErrorKind::Other, format!("no budget for {run_id:?}")),
            _ => Ok(()),
        }
    }

    async fn list(&self, out: &mut Vec<(String, Budget)>) -> Result<(), DbError> {
        let _gate = self.enter().await;
        let limit = if self.is(D::BudgetListPaginated100) { 100 } else { usize::MAX };
        out.extend(self.t().budgets.iter().take(limit).map(|(k, v)| (k.clone(), *v)));
        Ok(())
    }

    /// `WHERE run_id > $1 ORDER BY run_id LIMIT $2`, natively.
    async fn list_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
        out: &'a mut Vec<(String, Budget)>,
    ) -> Result<(), DbError> {
        use std::ops::Bound;
        let _gate = self.enter().await;
        let lower = match after {
            None => Bound::Unbounded,
            Some(a) if self.is(D::BudgetPageAfterInclusive) => Bound::Included(a),
            Some(a) => Bound::Excluded(a),
        };
        let limit = if self.is(D::BudgetPageShortByOne) { limit.saturating_sub(1) } else { limit };
        if self.is(D::BudgetPageClearsOut) {
            out.clear();
        }
        let t = self.t();
        out.extend(t.budgets.range::<str, _>((lower, Bound::Unbounded)).take(limit).map(|(k, v)| (k.clone(), *v)));
        Ok(())
    }

    async fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, DbError>>,
    ) -> Result<(), DbError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let _gate = self.enter().await;
        let mut ids: Vec<&str> = run_ids.collect();
        if self.is(D::BudgetLoadManySorted) {
            ids.sort_unstable();
        }
        let t = self.t();
        out.extend(ids.into_iter().map(|id| Ok(t.budgets.get(id).copied())));
        Ok(())
    }

    async fn upsert_many<'a, I>(&'a self, rows: I, out: &'a mut Vec<Result<(), DbError>>) -> Result<(), DbError>
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        let _gate = self.enter().await;
        let mut t = self.t();
        for (id, budget) in rows {
            self.put_budget(&mut t, id, budget);
            out.push(Ok(()));
        }
        Ok(())
    }

    async fn clear_many<'a, I>(&'a self, run_ids: I, out: &'a mut Vec<Result<(), DbError>>) -> Result<(), DbError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let _gate = self.enter().await;
        let mut t = self.t();
        for id in run_ids {
            t.budgets.remove(id);
            out.push(Ok(()));
        }
        Ok(())
    }
}

impl Conn {
    fn put_budget(&self, t: &mut Tables, run_id: &str, budget: &Budget) {
        let mut row = *budget;
        if let (true, Some(old)) = (self.is(D::BudgetUpsertCoalesce), t.budgets.get(run_id)) {
            row.spawn_requested_at = budget.spawn_requested_at.or(old.spawn_requested_at);
            row.starved_event_at = budget.starved_event_at.or(old.starved_event_at);
        }
        t.budgets.insert(run_id.to_owned(), row);
    }
}

// ------------------------------------------------------------------------------------
// The backend.

/// Fresh tiny databases with one defect; handles either independent connections or
/// clones of one serialised connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TinyBackend {
    pub(crate) defect: Defect,
    pub(crate) independent: bool,
}

impl Backend for TinyBackend {
    type Store = Arc<Db>;
    type Tasks = Conn;
    type Sessions = Conn;
    type Pause = Conn;
    type Budgets = Conn;

    async fn create(&self) -> Arc<Db> {
        Arc::new(Db { tables: Mutex::default(), defect: self.defect, shared_gate: Arc::default() })
    }

    async fn connect(&self, store: &Arc<Db>) -> Handles<Self> {
        let conn = Conn::open(store, self.independent);
        Handles { tasks: conn.clone(), sessions: conn.clone(), pause: conn.clone(), budgets: conn }
    }

    fn independent_handles(&self) -> bool {
        self.independent
    }

    async fn reopen(&self, store: &Arc<Db>) -> Option<Handles<Self>> {
        store.restart();
        Some(self.connect(store).await)
    }
}
