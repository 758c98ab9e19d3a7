//! What every check is written with: a named [`Check`] that turns observations into
//! [`Failure`]s, times relative to the check's start, and small helpers over the
//! contract traits.

use std::fmt::{self, Write as _};
use std::future::Future;
use std::time::{Duration, SystemTime};

use scheduler_core::ladder::Budget;
use scheduler_core::lease::{
    ClaimRequest, ErrorKind, Lease, LeaseService, PauseState, RunRecord, RunSpec, ServiceError, SessionSpec, TaskSpec,
};
use scheduler_core::model::{Owner, OwnerRef, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::view::{ActiveRunView, RunView};

/// 2026-01-01T00:00:00Z: every check's `T0`. Checks pass times as offsets from it, and
/// failures print them that way (`T0+61s`).
pub const T0_UNIX: u64 = 1_767_225_600;

/// The lease every check claims with unless it says otherwise.
pub const LEASE: Duration = Duration::from_secs(60);

/// `T0 + secs`.
pub fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0_UNIX + secs)
}

/// `T0 + millis` milliseconds.
pub fn at_ms(millis: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0_UNIX) + Duration::from_millis(millis)
}

/// `t` written relative to `T0`: `T0+61s`, `T0+1.25s`, `T0-3s`.
pub fn since_t0(t: SystemTime) -> String {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(T0_UNIX);
    match t.duration_since(base) {
        Ok(d) => format!("T0+{}s", d.as_secs_f64()),
        Err(e) => format!("T0-{}s", e.duration().as_secs_f64()),
    }
}

/// One broken rule: which check found it, which rule, what was expected and what was
/// observed (times relative to the check's `T0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check that failed.
    pub check: &'static str,
    /// The rule it found broken, e.g. `token.exact`.
    pub rule: &'static str,
    /// What was being looked at.
    pub what: String,
    /// What the contract wants.
    pub expected: String,
    /// What the implementation did.
    pub observed: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} [{}]: {}: expected {}, observed {}",
            self.check, self.rule, self.what, self.expected, self.observed
        )
    }
}

impl std::error::Error for Failure {}

/// What a check returns: `Ok` or the first rule it found broken.
pub type Outcome = Result<(), Failure>;

/// Values a failure can print, with times relative to `T0` (never `SystemTime` dumps).
pub trait Show {
    /// Writes the value.
    fn show(&self, out: &mut String);

    /// The value as text.
    fn shown(&self) -> String {
        let mut s = String::new();
        self.show(&mut s);
        s
    }
}

macro_rules! show_debug {
    ($($t:ty),*) => {$(
        impl Show for $t {
            fn show(&self, out: &mut String) {
                let _ = write!(out, "{self:?}");
            }
        }
    )*};
}

show_debug!((), bool, u32, u64, usize, String, str, RunStatus, ErrorKind, Priority, SessionState);

impl Show for SystemTime {
    fn show(&self, out: &mut String) {
        out.push_str(&since_t0(*self));
    }
}

impl Show for Duration {
    fn show(&self, out: &mut String) {
        let _ = write!(out, "{}s", self.as_secs_f64());
    }
}

impl<T: Show> Show for Option<T> {
    fn show(&self, out: &mut String) {
        match self {
            None => out.push_str("None"),
            Some(v) => {
                out.push_str("Some(");
                v.show(out);
                out.push(')');
            }
        }
    }
}

impl<T: Show> Show for [T] {
    fn show(&self, out: &mut String) {
        out.push('[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            v.show(out);
        }
        out.push(']');
    }
}

impl<T: Show> Show for Vec<T> {
    fn show(&self, out: &mut String) {
        self.as_slice().show(out);
    }
}

impl<T: Show + ?Sized> Show for &T {
    fn show(&self, out: &mut String) {
        (**self).show(out);
    }
}

impl<T: Show, E: Show> Show for Result<T, E> {
    fn show(&self, out: &mut String) {
        match self {
            Ok(v) => {
                out.push_str("Ok(");
                v.show(out);
            }
            Err(e) => {
                out.push_str("Err(");
                e.show(out);
            }
        }
        out.push(')');
    }
}

macro_rules! show_tuple {
    ($(($($n:tt $t:ident),+)),*) => {$(
        impl<$($t: Show),+> Show for ($($t,)+) {
            fn show(&self, out: &mut String) {
                out.push('(');
                $( if $n > 0 { out.push_str(", "); } self.$n.show(out); )+
                out.push(')');
            }
        }
    )*};
}

show_tuple!((0 A, 1 B), (0 A, 1 B, 2 C), (0 A, 1 B, 2 C, 3 D), (0 A, 1 B, 2 C, 3 D, 4 E));

macro_rules! show_struct {
    ($out:ident, $name:literal, $($field:literal = $value:expr),+) => {{
        $out.push_str($name);
        $out.push_str(" { ");
        let mut first = true;
        $(
            if !first { $out.push_str(", "); }
            first = false;
            $out.push_str($field);
            $out.push_str(": ");
            $value.show($out);
        )+
        let _ = first;
        $out.push_str(" }");
    }};
}

impl Show for RunRecord {
    fn show(&self, out: &mut String) {
        show_struct!(
            out,
            "RunRecord",
            "status" = self.status,
            "session_id" = self.session_id,
            "lease_until" = self.lease_until,
            "queued_at" = self.queued_at
        );
    }
}

impl Show for PauseState {
    fn show(&self, out: &mut String) {
        show_struct!(
            out,
            "PauseState",
            "paused_by" = self.paused_by,
            "paused_at" = self.paused_at,
            "reason" = self.reason
        );
    }
}

impl Show for Budget {
    fn show(&self, out: &mut String) {
        show_struct!(
            out,
            "Budget",
            "wake_count" = self.wake_count,
            "tier" = self.tier.as_u8() as u32,
            "first_starved_at" = self.first_starved_at,
            "last_wake_at" = self.last_wake_at,
            "updated_at" = self.updated_at,
            "spawn_requested_at" = self.spawn_requested_at,
            "starved_event_at" = self.starved_event_at
        );
    }
}

impl Show for SessionSpec {
    fn show(&self, out: &mut String) {
        show_struct!(
            out,
            "SessionSpec",
            "session_id" = self.session_id,
            "agent_name" = self.agent_name,
            "workspace_id" = self.workspace_id,
            "channel" = self.channel,
            "state" = self.state,
            "prompting" = self.prompting,
            "capabilities" = self.capabilities,
            "created_at" = self.created_at
        );
    }
}

/// A claim as a check sees it: the run and session of the lease and its end (the
/// token stays out of reports).
impl Show for Lease {
    fn show(&self, out: &mut String) {
        show_struct!(
            out,
            "Lease",
            "run_id" = self.run_id,
            "session_id" = self.session_id,
            "lease_until" = self.lease_until
        );
    }
}

/// A named check: turns observations into [`Failure`]s under a rule.
#[derive(Debug, Clone, Copy)]
pub struct Check(pub &'static str);

impl Check {
    /// A failure of `rule`.
    pub fn fail(
        self,
        rule: &'static str,
        what: impl fmt::Display,
        expected: impl Into<String>,
        observed: impl Into<String>,
    ) -> Failure {
        Failure { check: self.0, rule, what: what.to_string(), expected: expected.into(), observed: observed.into() }
    }

    /// Fails `rule` unless `observed == expected`.
    pub fn eq<T: PartialEq + Show>(
        self,
        observed: T,
        expected: T,
        rule: &'static str,
        what: impl fmt::Display,
    ) -> Outcome {
        if observed == expected { Ok(()) } else { Err(self.fail(rule, what, expected.shown(), observed.shown())) }
    }

    /// Fails `rule` unless `cond`; `expected` says what should have held.
    pub fn ensure(
        self,
        cond: bool,
        rule: &'static str,
        what: impl fmt::Display,
        expected: &str,
        observed: impl FnOnce() -> String,
    ) -> Outcome {
        if cond { Ok(()) } else { Err(self.fail(rule, what, expected, observed())) }
    }

    /// Unwraps a result `rule` needs to succeed.
    pub fn ok<T, E: fmt::Display>(
        self,
        result: Result<T, E>,
        rule: &'static str,
        what: impl fmt::Display,
    ) -> Result<T, Failure> {
        result.map_err(|e| self.fail(rule, what, "success", format!("error: {e}")))
    }

    /// Unwraps a setup step (rule `setup`: the check could not get going).
    pub fn setup<T, E: fmt::Display>(self, result: Result<T, E>, what: impl fmt::Display) -> Result<T, Failure> {
        self.ok(result, "setup", what)
    }

    /// Fails `rule` unless `result` is an error of `kind`; returns the error.
    pub fn err<T: Show, E: ServiceError>(
        self,
        result: Result<T, E>,
        kind: ErrorKind,
        rule: &'static str,
        what: impl fmt::Display,
    ) -> Result<E, Failure> {
        match result {
            Err(e) if e.kind() == kind => Ok(e),
            Err(e) => Err(self.fail(rule, what, format!("a {kind} error"), format!("a {} error: {e}", e.kind()))),
            Ok(v) => Err(self.fail(rule, what, format!("a {kind} error"), format!("success: {}", v.shown()))),
        }
    }
}

/// Everything observable about some runs, to prove an operation changed nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Each run's record.
    pub records: Vec<(String, Option<RunRecord>)>,
    /// The pending run ids, sorted.
    pub pending: Vec<String>,
    /// The live leases (run, session, status), sorted.
    pub active: Vec<(String, String, RunStatus)>,
}

impl Show for Observed {
    fn show(&self, out: &mut String) {
        show_struct!(out, "Observed", "records" = self.records, "pending" = self.pending, "active" = self.active);
    }
}

/// The pending run ids, sorted.
pub async fn pending_ids<S: LeaseService>(c: Check, svc: &S, rule: &'static str) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    c.ok(svc.pending_runs(&mut out).await, rule, "pending_runs")?;
    let mut ids: Vec<String> = out.iter().map(|r| r.run_id().trim().to_owned()).collect();
    ids.sort();
    Ok(ids)
}

/// The live leases (`claimed`, `starting`, `running`) the active read lists, sorted.
pub async fn active_leases<S: LeaseService>(
    c: Check,
    svc: &S,
    rule: &'static str,
) -> Result<Vec<(String, String, RunStatus)>, Failure> {
    let mut out = Vec::new();
    c.ok(svc.active_runs(&mut out).await, rule, "active_runs")?;
    let mut leases: Vec<_> = out
        .iter()
        .filter(|a| a.status().holds_session())
        .map(|a| (a.run_id().trim().to_owned(), a.session_id().trim().to_owned(), a.status()))
        .collect();
    leases.sort();
    Ok(leases)
}

/// The run's record.
pub async fn record<S: LeaseService>(
    c: Check,
    svc: &S,
    run_id: &str,
    rule: &'static str,
) -> Result<Option<RunRecord>, Failure> {
    c.ok(svc.record(run_id).await, rule, format_args!("record({run_id:?})"))
}

/// The run's status.
pub async fn status<S: LeaseService>(
    c: Check,
    svc: &S,
    run_id: &str,
    rule: &'static str,
) -> Result<Option<RunStatus>, Failure> {
    c.ok(svc.run_status(run_id).await, rule, format_args!("run_status({run_id:?})"))
}

/// Records of `run_ids`, the pending ids and the live leases.
pub async fn observe<S: LeaseService>(
    c: Check,
    svc: &S,
    run_ids: &[&str],
    rule: &'static str,
) -> Result<Observed, Failure> {
    let mut records = Vec::with_capacity(run_ids.len());
    for id in run_ids {
        records.push(((*id).to_owned(), record(c, svc, id, rule).await?));
    }
    Ok(Observed { records, pending: pending_ids(c, svc, rule).await?, active: active_leases(c, svc, rule).await? })
}

/// A queued run's record.
pub fn queued(queued_at: SystemTime) -> RunRecord {
    RunRecord { status: RunStatus::Queued, session_id: None, lease_until: None, queued_at: Some(queued_at) }
}

/// A leased run's record.
pub fn leased(status: RunStatus, session: &str, until: SystemTime, queued_at: SystemTime) -> RunRecord {
    RunRecord { status, session_id: Some(session.to_owned()), lease_until: Some(until), queued_at: Some(queued_at) }
}

/// A finished (or otherwise unleased) run's record.
pub fn unleased(status: RunStatus, queued_at: SystemTime) -> RunRecord {
    RunRecord { status, session_id: None, lease_until: None, queued_at: Some(queued_at) }
}

/// The run id of a claim, trimmed.
pub fn won(lease: &Option<Lease>) -> Option<String> {
    lease.as_ref().map(|l| l.run_id.trim().to_owned())
}

/// Enqueues a run of `task` (setup: the check needs it to succeed).
pub async fn put<S: LeaseService>(c: Check, svc: &S, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Outcome {
    c.setup(svc.enqueue(task, run, now).await, format_args!("enqueue run {:?} of task {:?}", run.run_id, task.task_id))
}

/// Enqueues run `run_id` of a plain task `task-<run_id>` (setup).
pub async fn put_plain<S: LeaseService>(c: Check, svc: &S, run_id: &str, now: SystemTime) -> Outcome {
    put(c, svc, &TaskSpec::new(format!("task-{run_id}")), &RunSpec::new(run_id), now).await
}

/// A claim by `request` that `rule` needs to answer without an error.
pub async fn claim<S: LeaseService>(
    c: Check,
    svc: &S,
    request: &ClaimRequest,
    lease: Duration,
    now: SystemTime,
    rule: &'static str,
) -> Result<Option<Lease>, Failure> {
    c.ok(svc.claim(request, lease, now).await, rule, format_args!("claim by {:?}", request.session_id))
}

/// A claim by a plain session that must win `run_id` (setup).
pub async fn claim_run<S: LeaseService>(
    c: Check,
    svc: &S,
    session: &str,
    run_id: &str,
    lease: Duration,
    now: SystemTime,
) -> Result<Lease, Failure> {
    let got =
        c.setup(svc.claim(&ClaimRequest::session(session), lease, now).await, format_args!("claim by {session:?}"))?;
    match got {
        Some(lease) if lease.run_id.trim() == run_id => Ok(lease),
        other => Err(c.fail(
            "setup",
            format_args!("claim by {session:?}"),
            format!("a lease on {run_id:?}"),
            won(&other).shown(),
        )),
    }
}

/// A pending run as the pending read shows it, joined with its task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Run id.
    pub run_id: String,
    /// Task id.
    pub task_id: String,
    /// Task status, priority, paused flag.
    pub task: (TaskStatus, Priority, bool),
    /// Scope and workspace.
    pub scope: (Scope, String),
    /// Owner kind and ref.
    pub owner: (String, String),
    /// Channel.
    pub channel: String,
    /// Required capabilities, trimmed, empty names dropped, sorted.
    pub caps: Vec<String>,
    /// Queued-at.
    pub queued_at: Option<SystemTime>,
}

impl PendingRow {
    /// The row of `run` of `task` queued at `at`, as the contract wants it read.
    pub fn of(task: &TaskSpec, run: &RunSpec, at: SystemTime) -> Self {
        let mut caps: Vec<String> =
            run.required_capabilities.iter().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
        caps.sort();
        PendingRow {
            run_id: run.run_id.trim().to_owned(),
            task_id: task.task_id.trim().to_owned(),
            task: (task.status, task.priority, task.paused),
            scope: (task.scope, task.workspace_id.trim().to_owned()),
            owner: (task.owner.kind().to_owned(), task.owner.reference().trim().to_owned()),
            channel: run.channel.trim().to_owned(),
            caps,
            queued_at: Some(at),
        }
    }

    fn read<R: RunView>(r: &R) -> Self {
        let owner = match r.owner() {
            Owner::None => OwnerRef::None,
            Owner::Pool(x) => OwnerRef::Pool(x.to_owned()),
            Owner::AgentSession(x) => OwnerRef::AgentSession(x.to_owned()),
            Owner::Unknown => OwnerRef::Unknown,
        };
        let mut caps: Vec<String> =
            r.required_capabilities().map(|c| c.trim().to_owned()).filter(|c| !c.is_empty()).collect();
        caps.sort();
        PendingRow {
            run_id: r.run_id().trim().to_owned(),
            task_id: r.task_id().trim().to_owned(),
            task: (r.task_status(), r.priority(), r.task_paused()),
            scope: (r.scope(), r.workspace_id().trim().to_owned()),
            owner: (owner.kind().to_owned(), owner.reference().trim().to_owned()),
            channel: r.channel().trim().to_owned(),
            caps,
            queued_at: r.queued_at(),
        }
    }
}

impl Show for PendingRow {
    fn show(&self, out: &mut String) {
        let _ = write!(
            out,
            "PendingRow {{ run_id: {:?}, task_id: {:?}, task: {:?}, scope: {:?}, owner: {:?}, channel: {:?}, caps: {:?}, queued_at: ",
            self.run_id, self.task_id, self.task, self.scope, self.owner, self.channel, self.caps
        );
        self.queued_at.show(out);
        out.push_str(" }");
    }
}

/// Every pending row, sorted by run id.
pub async fn pending_rows<S: LeaseService>(c: Check, svc: &S, rule: &'static str) -> Result<Vec<PendingRow>, Failure> {
    let mut out = Vec::new();
    c.ok(svc.pending_runs(&mut out).await, rule, "pending_runs")?;
    let mut rows: Vec<PendingRow> = out.iter().map(PendingRow::read).collect();
    rows.sort_by(|a, b| a.run_id.cmp(&b.run_id));
    Ok(rows)
}

/// The pending row of `run_id`, if listed.
pub async fn pending_row<S: LeaseService>(
    c: Check,
    svc: &S,
    run_id: &str,
    rule: &'static str,
) -> Result<Option<PendingRow>, Failure> {
    Ok(pending_rows(c, svc, rule).await?.into_iter().find(|r| r.run_id == run_id))
}

/// Runs the futures at once, from tokio tasks inside a tokio runtime (with the `tokio`
/// feature) or else from OS threads (each with `futures::executor::block_on`), after a
/// barrier; answers how, and each result in order (`None`: the racer panicked).
pub async fn in_parallel<T, F>(futures: Vec<F>) -> (&'static str, Vec<Option<T>>)
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let n = futures.len();
    #[cfg(feature = "tokio")]
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(n));
        let tasks: Vec<_> = futures
            .into_iter()
            .map(|f| {
                let barrier = barrier.clone();
                handle.spawn(async move {
                    barrier.wait().await;
                    f.await
                })
            })
            .collect();
        let mut results = Vec::with_capacity(n);
        for task in tasks {
            results.push(task.await.ok());
        }
        return ("tokio tasks", results);
    }
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(n));
    let threads: Vec<_> = futures
        .into_iter()
        .map(|f| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                futures::executor::block_on(f)
            })
        })
        .collect();
    ("OS threads", threads.into_iter().map(|t| t.join().ok()).collect())
}
