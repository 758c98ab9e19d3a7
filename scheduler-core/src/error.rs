//! Errors: what a cycle, a rebuild or a build can fail with.
//!
//! A cycle never stops at its first error: it returns *every* error it met (none lost,
//! none duplicated), each naming the step and the run or session it concerns, with the
//! seam's own error as its [`source`](std::error::Error::source). The error type is
//! generic over the seams' error types; [`SchedulerError`](crate::SchedulerError) names
//! it for a given scheduler.

use std::fmt;
use std::time::Duration;

/// A store or task-service batch call, named in batch errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BatchStep {
    /// [`TaskSource::run_statuses`](crate::seam::TaskSource::run_statuses).
    RunStatuses,
    /// [`StarvationStore::load_many`](crate::seam::StarvationStore::load_many).
    LoadBudgets,
    /// [`StarvationStore::upsert_many`](crate::seam::StarvationStore::upsert_many).
    UpsertBudgets,
    /// [`StarvationStore::clear_many`](crate::seam::StarvationStore::clear_many).
    ClearBudgets,
}

impl BatchStep {
    /// The batch call of this step.
    pub const fn call(self) -> Call {
        match self {
            BatchStep::RunStatuses => Call::RunStatuses,
            BatchStep::LoadBudgets => Call::LoadBudgets,
            BatchStep::UpsertBudgets => Call::UpsertBudgets,
            BatchStep::ClearBudgets => Call::ClearBudgets,
        }
    }
}

impl fmt::Display for BatchStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BatchStep::RunStatuses => "run status read",
            BatchStep::LoadBudgets => "starvation budget load",
            BatchStep::UpsertBudgets => "starvation budget upsert",
            BatchStep::ClearBudgets => "starvation budget clear",
        })
    }
}

/// A seam call a cycle makes, named in timeout and panic errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    /// [`TaskSource::recover_expired_leases`](crate::seam::TaskSource::recover_expired_leases).
    Sweep,
    /// [`TaskSource::pending_runs`](crate::seam::TaskSource::pending_runs).
    PendingRuns,
    /// [`TaskSource::active_runs`](crate::seam::TaskSource::active_runs).
    ActiveRuns,
    /// [`SessionSource::sessions`](crate::seam::SessionSource::sessions).
    Sessions,
    /// [`PauseStore::is_paused`](crate::seam::PauseStore::is_paused).
    Pause,
    /// [`Waker::wake_batch`](crate::seam::Waker::wake_batch).
    Wake,
    /// [`TaskSource::run_statuses`](crate::seam::TaskSource::run_statuses).
    RunStatuses,
    /// [`StarvationStore::list`](crate::seam::StarvationStore::list).
    ListBudgets,
    /// [`StarvationStore::load_many`](crate::seam::StarvationStore::load_many).
    LoadBudgets,
    /// [`StarvationStore::upsert_many`](crate::seam::StarvationStore::upsert_many).
    UpsertBudgets,
    /// [`StarvationStore::clear_many`](crate::seam::StarvationStore::clear_many).
    ClearBudgets,
    /// [`EscalationActor::request_spawn`](crate::seam::EscalationActor::request_spawn).
    RequestSpawn,
    /// [`EscalationActor::emit_starved`](crate::seam::EscalationActor::emit_starved).
    EmitStarved,
    /// [`EscalationActor::mark_needs_attention`](crate::seam::EscalationActor::mark_needs_attention).
    MarkNeedsAttention,
}

impl Call {
    /// Every call, in cycle order.
    pub const ALL: [Call; 14] = [
        Call::Sweep,
        Call::PendingRuns,
        Call::ActiveRuns,
        Call::Sessions,
        Call::Pause,
        Call::Wake,
        Call::RunStatuses,
        Call::ListBudgets,
        Call::LoadBudgets,
        Call::UpsertBudgets,
        Call::ClearBudgets,
        Call::RequestSpawn,
        Call::EmitStarved,
        Call::MarkNeedsAttention,
    ];

    /// A stable snake-case name, for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Call::Sweep => "sweep",
            Call::PendingRuns => "pending_runs",
            Call::ActiveRuns => "active_runs",
            Call::Sessions => "sessions",
            Call::Pause => "pause",
            Call::Wake => "wake",
            Call::RunStatuses => "run_statuses",
            Call::ListBudgets => "list_budgets",
            Call::LoadBudgets => "load_budgets",
            Call::UpsertBudgets => "upsert_budgets",
            Call::ClearBudgets => "clear_budgets",
            Call::RequestSpawn => "request_spawn",
            Call::EmitStarved => "emit_starved",
            Call::MarkNeedsAttention => "mark_needs_attention",
        }
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Call::Sweep => "task source: expired-lease sweep",
            Call::PendingRuns => "task source: pending runs read",
            Call::ActiveRuns => "task source: active runs read",
            Call::Sessions => "session source: sessions read",
            Call::Pause => "pause store: pause flag read",
            Call::Wake => "waker: wake",
            Call::RunStatuses => "task source: run status read",
            Call::ListBudgets => "starvation store: budget list",
            Call::LoadBudgets => "starvation store: budget load",
            Call::UpsertBudgets => "starvation store: budget upsert",
            Call::ClearBudgets => "starvation store: budget clear",
            Call::RequestSpawn => "escalation actor: spawn request",
            Call::EmitStarved => "escalation actor: starved event",
            Call::MarkNeedsAttention => "escalation actor: needs-attention mark",
        })
    }
}

/// What a timed-out or panicked seam call was about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Concern {
    /// The cycle as a whole (a sweep, a snapshot read, the pause flag, a budget list).
    Cycle,
    /// One run.
    Run(String),
    /// The wake of one session for one run.
    Wake {
        /// The run.
        run_id: String,
        /// The session.
        session_id: String,
    },
    /// A batch call over this many runs.
    Runs(usize),
}

impl fmt::Display for Concern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Concern::Cycle => Ok(()),
            Concern::Run(run_id) => write!(f, " for run {run_id:?}"),
            Concern::Wake { run_id, session_id } => write!(f, " of session {session_id:?} for run {run_id:?}"),
            Concern::Runs(n) => write!(f, " for {n} runs in one batch"),
        }
    }
}

/// One error met during a cycle or a rebuild.
///
/// Type parameters are the seams' error types: task source `TE`, session source `SE`,
/// waker `WE`, pause store `PE`, starvation store `BE`, escalation actor `AE`.
#[derive(Debug, thiserror::Error)]
pub enum Error<TE, SE, WE, PE, BE, AE> {
    /// Step 1: the expired-lease sweep failed. The cycle went on.
    #[error("expired-lease sweep failed")]
    Sweep(#[source] TE),
    /// Step 2: reading pending runs failed. The cycle stopped before waking anyone.
    #[error("reading pending runs failed")]
    PendingRuns(#[source] TE),
    /// Step 2: reading active runs failed. The cycle stopped before waking anyone.
    #[error("reading active runs failed")]
    ActiveRuns(#[source] TE),
    /// Step 2: reading sessions failed. The cycle stopped before waking anyone.
    #[error("reading sessions failed")]
    Sessions(#[source] SE),
    /// Step 3: the pause flag could not be read. The cycle failed closed: no wakes,
    /// no escalations.
    #[error("reading the scheduler pause flag failed; dispatched nothing (fail closed)")]
    Pause(#[source] PE),
    /// Step 5: one wake failed. The other targets were still woken.
    #[error("waking session {session_id:?} for run {run_id:?} failed")]
    Wake {
        /// The run the wake was for.
        run_id: String,
        /// The session that was not woken.
        session_id: String,
        /// The waker's error.
        #[source]
        source: WE,
    },
    /// Step 5: the batch waker returned the wrong number of results, so every target of
    /// the batch counts as failed; one such error per target.
    #[error(
        "batch waker returned {actual} results for {expected} targets; \
         the wake of session {session_id:?} for run {run_id:?} counts as failed"
    )]
    WakeBatchLength {
        /// The run the wake was for.
        run_id: String,
        /// The session.
        session_id: String,
        /// Targets sent.
        expected: usize,
        /// Results returned.
        actual: usize,
    },
    /// Step 6: re-reading one run's status failed; the run was skipped.
    #[error("reading the status of run {run_id:?} failed")]
    RunStatus {
        /// The run.
        run_id: String,
        /// The task source's error.
        #[source]
        source: TE,
    },
    /// Step 6: a whole batch of run status reads failed; its runs were skipped.
    #[error("reading the status of {runs} runs in one batch failed")]
    RunStatusBatch {
        /// How many runs the batch held.
        runs: usize,
        /// The task source's error.
        #[source]
        source: TE,
    },
    /// Step 6: loading one run's starvation budget failed; the run was skipped.
    #[error("loading the starvation budget of run {run_id:?} failed")]
    LoadBudget {
        /// The run.
        run_id: String,
        /// The store's error.
        #[source]
        source: BE,
    },
    /// Step 6: saving one run's advanced budget failed.
    #[error("saving the starvation budget of run {run_id:?} failed")]
    UpsertBudget {
        /// The run.
        run_id: String,
        /// The store's error.
        #[source]
        source: BE,
    },
    /// Step 6: clearing one run's budget failed.
    #[error("clearing the starvation budget of run {run_id:?} failed")]
    ClearBudget {
        /// The run.
        run_id: String,
        /// The store's error.
        #[source]
        source: BE,
    },
    /// Step 6: listing the stored budgets failed; nothing was reconciled.
    #[error("listing starvation budgets failed; reconcile skipped")]
    ListBudgets(#[source] BE),
    /// Step 6: a whole batch of store calls failed.
    #[error("the {step} of {runs} runs in one batch failed")]
    StoreBatch {
        /// Which batch call.
        step: BatchStep,
        /// How many runs the batch held.
        runs: usize,
        /// The store's error.
        #[source]
        source: BE,
    },
    /// Step 6: a batch call returned the wrong number of results; its runs were
    /// treated as failed.
    #[error("the {step} returned {actual} results for {expected} runs")]
    BatchLength {
        /// Which batch call.
        step: BatchStep,
        /// Inputs sent.
        expected: usize,
        /// Results returned.
        actual: usize,
    },
    /// Step 6: the spawn request for a run failed (not "no capable agent", which is no
    /// error). Later tiers still ran.
    #[error("requesting a worker spawn for run {run_id:?} failed")]
    Spawn {
        /// The run.
        run_id: String,
        /// The actor's error.
        #[source]
        source: AE,
    },
    /// Step 6: emitting the starved event failed; it is retried next cycle.
    #[error("emitting the starved event for run {run_id:?} failed; retried next cycle")]
    EmitStarved {
        /// The run.
        run_id: String,
        /// The actor's error.
        #[source]
        source: AE,
    },
    /// Step 6: marking a run `needs_attention` failed; its budget was kept.
    #[error("marking run {run_id:?} needs_attention failed; budget kept")]
    MarkNeedsAttention {
        /// The run.
        run_id: String,
        /// The actor's error.
        #[source]
        source: AE,
    },
    /// Section 8: a seam call did not answer within the seam deadline
    /// ([`Settings::seam_timeout`](crate::Settings::seam_timeout)). The cycle went on
    /// exactly as for any other failure of that call.
    #[error("{call}{concern} did not answer within {after:?}")]
    TimedOut {
        /// The call.
        call: Call,
        /// The run or session it concerned.
        concern: Concern,
        /// The deadline it missed.
        after: Duration,
    },
    /// Section 8: a seam call panicked. The panic counts as that call failing; the
    /// cycle went on.
    #[error("{call}{concern} panicked: {message}")]
    Panicked {
        /// The call.
        call: Call,
        /// The run or session it concerned.
        concern: Concern,
        /// The panic's message.
        message: String,
    },
}

impl<TE, SE, WE, PE, BE, AE> Error<TE, SE, WE, PE, BE, AE> {
    /// The seam call this error concerns (a wrong batch length: the batch call).
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use scheduler_core::{Call, Error};
    /// let e: Error<std::io::Error, Infallible, Infallible, Infallible, Infallible, Infallible> =
    ///     Error::PendingRuns(std::io::Error::other("down"));
    /// assert_eq!(e.call(), Call::PendingRuns);
    /// assert_eq!(e.call().as_str(), "pending_runs");
    /// ```
    pub fn call(&self) -> Call {
        match self {
            Error::Sweep(_) => Call::Sweep,
            Error::PendingRuns(_) => Call::PendingRuns,
            Error::ActiveRuns(_) => Call::ActiveRuns,
            Error::Sessions(_) => Call::Sessions,
            Error::Pause(_) => Call::Pause,
            Error::Wake { .. } | Error::WakeBatchLength { .. } => Call::Wake,
            Error::RunStatus { .. } | Error::RunStatusBatch { .. } => Call::RunStatuses,
            Error::LoadBudget { .. } => Call::LoadBudgets,
            Error::UpsertBudget { .. } => Call::UpsertBudgets,
            Error::ClearBudget { .. } => Call::ClearBudgets,
            Error::ListBudgets(_) => Call::ListBudgets,
            Error::StoreBatch { step, .. } | Error::BatchLength { step, .. } => step.call(),
            Error::Spawn { .. } => Call::RequestSpawn,
            Error::EmitStarved { .. } => Call::EmitStarved,
            Error::MarkNeedsAttention { .. } => Call::MarkNeedsAttention,
            Error::TimedOut { call, .. } | Error::Panicked { call, .. } => *call,
        }
    }

    /// The error for a seam call that timed out or panicked.
    pub(crate) fn failed(call: Call, concern: Concern, failure: crate::deadline::Failure) -> Self {
        match failure {
            crate::deadline::Failure::TimedOut(after) => Error::TimedOut { call, concern, after },
            crate::deadline::Failure::Panicked(message) => Error::Panicked { call, concern, message },
        }
    }

    /// The run this error concerns, if it concerns one.
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Error::TimedOut { concern, .. } | Error::Panicked { concern, .. } => match concern {
                Concern::Run(run_id) | Concern::Wake { run_id, .. } => Some(run_id),
                _ => None,
            },
            Error::Wake { run_id, .. }
            | Error::WakeBatchLength { run_id, .. }
            | Error::RunStatus { run_id, .. }
            | Error::LoadBudget { run_id, .. }
            | Error::UpsertBudget { run_id, .. }
            | Error::ClearBudget { run_id, .. }
            | Error::Spawn { run_id, .. }
            | Error::EmitStarved { run_id, .. }
            | Error::MarkNeedsAttention { run_id, .. } => Some(run_id),
            _ => None,
        }
    }

    /// The session this error concerns, if it concerns one.
    pub fn session_id(&self) -> Option<&str> {
        match self {
            Error::Wake { session_id, .. } | Error::WakeBatchLength { session_id, .. } => Some(session_id),
            Error::TimedOut { concern: Concern::Wake { session_id, .. }, .. }
            | Error::Panicked { concern: Concern::Wake { session_id, .. }, .. } => Some(session_id),
            _ => None,
        }
    }
}

/// A setting the builder rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A text setting (a reason or the actor name) holds a control character or is too
    /// long to store.
    #[error("setting `{setting}` is invalid: {problem} (got {value:?})")]
    InvalidText {
        /// The setting's builder method.
        setting: &'static str,
        /// What is wrong with it.
        problem: &'static str,
        /// The value given.
        value: String,
    },
    /// The actor name is blank (section 8: the actor must be named).
    #[error("setting `actor` is blank: the scheduler's daemon actor must be named")]
    BlankActor,
    /// Only one of the ladder's two seams was given: the ladder needs both a starvation
    /// store and an escalation actor ([`Builder::ladder`](crate::Builder::ladder)).
    #[error("the convergence ladder needs both a starvation store and an escalation actor; only the {given} was given")]
    HalfLadder {
        /// The seam that was given: `"starvation store"` or `"escalation actor"`.
        given: &'static str,
    },
}

/// A stopped scheduler cannot be started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("scheduler: stopped")]
pub struct Stopped;
