//! Errors: what a cycle, a rebuild or a build can fail with.
//!
//! A cycle never stops at its first error: it returns *every* error it met (none lost,
//! none duplicated), each naming the step and the run or session it concerns, with the
//! seam's own error as its [`source`](std::error::Error::source). The error type is
//! generic over the seams' error types; [`SchedulerError`](crate::SchedulerError) names
//! it for a given scheduler.

use std::fmt;

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
}

impl<TE, SE, WE, PE, BE, AE> Error<TE, SE, WE, PE, BE, AE> {
    /// The run this error concerns, if it concerns one.
    pub fn run_id(&self) -> Option<&str> {
        match self {
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
}

/// A stopped scheduler cannot be started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, thiserror::Error)]
#[error("scheduler: stopped")]
pub struct Stopped;
