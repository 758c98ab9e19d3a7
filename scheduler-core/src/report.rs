//! What one cycle did: counts, the runs it concerned, and every error it met.
//!
//! A [`CycleReport`] borrows the scheduler's reused buffers, so producing it costs no
//! allocation; call [`CycleReport::into_result`] for an owned copy to keep, with the
//! typed errors, or [`CycleReport::to_result`] for one with the errors rendered as
//! text. [`CycleReport::why_not_woken`] and [`CycleReport::not_woken`] explain, on
//! demand, why a claimable run got no wake ([`why`](crate::why)).

use std::time::SystemTime;

use crate::selection::Selection;
use crate::view::{ActiveRunView, RecoveredView, RunView, SessionView};
use crate::why::{Explainer, WhyNotWoken};

/// How a cycle ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Outcome {
    /// Every step ran (some may have reported errors).
    #[default]
    Completed,
    /// The pause store said the scheduler is paused: the sweep ran, nothing was woken
    /// or escalated.
    Paused,
    /// The pause flag could not be read: the cycle failed closed, like a pause.
    PauseUnreadable,
    /// A snapshot read failed: nothing was woken and the cycle is not counted.
    SnapshotFailed,
}

/// Why a cycle ran (behaviour section 8): only interval cycles climb the ladder.
///
/// The background loop runs an [`Interval`](CycleKind::Interval) cycle on its interval
/// grid and an [`OnDemand`](CycleKind::OnDemand) one for every trigger item
/// (`run_now`). An on-demand cycle sweeps, selects, wakes and fans out like any other,
/// but skips the whole convergence ladder: it advances no starvation budget, escalates
/// nothing, and does not reconcile stored budgets (the next interval cycle does). So the
/// time from starving to needs-attention does not depend on how often work is enqueued.
/// A direct [`run_once`](crate::Scheduler::run_once) is an interval cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CycleKind {
    /// A cycle on the loop's interval (or a direct `run_once`): climbs the ladder.
    #[default]
    Interval,
    /// A cycle run early on request: wakes, but climbs nothing.
    OnDemand,
}

/// The numbers of one cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct CycleCounts {
    /// Pending runs read.
    pub pending_runs: usize,
    /// Active runs read.
    pub active_runs: usize,
    /// Sessions read.
    pub sessions_scanned: usize,
    /// Sessions that could be woken at all (non-empty id, `active`, not prompting, not
    /// busy; one per id), before this cycle's targets were chosen. Zero when the cycle
    /// selected nothing.
    pub idle_sessions: usize,
    /// How long the longest-waiting claimable run has been queued (`now` minus the
    /// earliest known queued-at). `None` when no claimable run has a queued-at, or the
    /// cycle selected nothing.
    pub oldest_queued_age: Option<std::time::Duration>,
    /// Leases the sweep recovered.
    pub recovered_leases: usize,
    /// Wakes attempted (= targets).
    pub wake_attempts: usize,
    /// Wakes delivered.
    pub wake_succeeded: usize,
    /// Wakes that failed.
    pub wake_failed: usize,
    /// Claimable runs with no eligible session.
    pub no_match_runs: usize,
    /// Runs whose every eligible session was in cooldown for them.
    pub recently_notified_runs: usize,
    /// Runs skipped as not claimable.
    pub unclaimable_runs: usize,
    /// Whether the cycle was paused (or failed closed on an unreadable pause flag).
    pub paused: bool,
    /// Starved runs (fanned out or no-match).
    pub starved_runs: usize,
    /// Worker spawns requested.
    pub spawns_requested: usize,
    /// Runs marked `needs_attention`.
    pub needs_attention_runs: usize,
    /// Pending rows ignored because an earlier row (in run order) has the same trimmed
    /// run id.
    pub duplicate_runs: usize,
    /// Session rows ignored because an earlier row (in session order) has the same
    /// trimmed session id.
    pub duplicate_sessions: usize,
}

/// The result of one cycle, borrowing the scheduler's buffers.
///
/// `R` is the run type, `L` the recovered-lease type, `E` the error type, `A` the
/// active-run type and `S` the session type ([`SchedulerReport`](crate::SchedulerReport)
/// names them from a scheduler's seams).
#[derive(Debug)]
pub struct CycleReport<'a, R, L, E, A, S> {
    pub(crate) now: SystemTime,
    pub(crate) kind: CycleKind,
    pub(crate) outcome: Outcome,
    pub(crate) counts: CycleCounts,
    pub(crate) runs: &'a [R],
    pub(crate) recovered: &'a [L],
    pub(crate) selected: &'a [u32],
    pub(crate) no_match: &'a [u32],
    pub(crate) starved: &'a [u32],
    pub(crate) spawn_requested: &'a [u32],
    pub(crate) needs_attention: &'a [u32],
    pub(crate) errors: &'a mut Vec<E>,
    pub(crate) active: &'a [A],
    pub(crate) sessions: &'a [S],
    pub(crate) selection: &'a Selection,
}

impl<'a, R: RunView, L: RecoveredView, E, A: ActiveRunView, S: SessionView> CycleReport<'a, R, L, E, A, S> {
    /// The cycle's time, read once at its start.
    pub fn now(&self) -> SystemTime {
        self.now
    }

    /// How the cycle ended.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Why the cycle ran: an interval cycle climbs the ladder, an on-demand one does
    /// not.
    pub fn kind(&self) -> CycleKind {
        self.kind
    }

    /// The cycle's numbers.
    pub fn counts(&self) -> &CycleCounts {
        &self.counts
    }

    /// Every error the cycle met, in the order met. Empty for a clean cycle.
    pub fn errors(&self) -> &[E] {
        self.errors
    }

    /// Whether the cycle met no error.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The pending runs the cycle read, in the order the source gave them.
    pub fn runs(&self) -> &'a [R] {
        self.runs
    }

    /// The recovered leases.
    pub fn recovered(&self) -> &'a [L] {
        self.recovered
    }

    /// The run of every successful wake, in dispatch order (a fanned-out run appears
    /// once per session woken).
    pub fn selected_run_ids(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        ids(self.runs, self.selected)
    }

    /// Claimable runs no session was eligible for, in unspecified order (the
    /// selection decides most of them without ordering them; compare as a set).
    pub fn no_match_run_ids(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        ids(self.runs, self.no_match)
    }

    /// Starved runs, in selection order.
    pub fn starved_run_ids(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        ids(self.runs, self.starved)
    }

    /// Runs a worker spawn was requested for.
    pub fn spawn_requested_run_ids(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        ids(self.runs, self.spawn_requested)
    }

    /// Runs marked `needs_attention`.
    pub fn needs_attention_run_ids(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        ids(self.runs, self.needs_attention)
    }

    /// Runs the sweep recovered.
    pub fn recovered_run_ids(&self) -> impl ExactSizeIterator<Item = &'a str> + 'a {
        self.recovered.iter().map(|r| r.run_id().trim())
    }

    /// Why the run `run_id` (compared trimmed) got no wake this cycle, computed now
    /// from the cycle's kept rows (see [`why`](crate::why) for the reasons and their
    /// precedence). `None` when it was targeted (woken, or its wake failed), is not
    /// claimable, is not among the cycle's pending runs, or the cycle selected nothing
    /// (paused, or a snapshot read failed).
    pub fn why_not_woken(&self, run_id: &str) -> Option<WhyNotWoken> {
        let explainer = self.explainer()?;
        explainer.why(explainer.find(run_id)?)
    }

    /// Every claimable run that got no wake this cycle (the no-match runs and the
    /// recently notified ones), with the reason, in the order the source gave the runs.
    /// Computed as it is iterated; empty when the cycle selected nothing.
    pub fn not_woken(&self) -> impl Iterator<Item = (&'a str, WhyNotWoken)> + 'a {
        self.explainer().into_iter().flat_map(|e| e.all())
    }

    fn explainer(&self) -> Option<Explainer<'a, R, A, S>> {
        (self.outcome == Outcome::Completed).then_some(Explainer {
            runs: self.runs,
            active: self.active,
            sessions: self.sessions,
            selection: self.selection,
        })
    }

    /// An owned copy of the report that keeps the typed errors, moved out of the
    /// scheduler's buffer (allocates the id lists).
    pub fn into_result(self) -> CycleResult<E> {
        let errors = std::mem::take(self.errors);
        self.owned(errors)
    }

    /// An owned copy of the report, errors rendered as text (allocates); the report
    /// stays usable.
    pub fn to_result(&self) -> CycleResult<String>
    where
        E: std::fmt::Display,
    {
        self.owned(self.errors.iter().map(|e| e.to_string()).collect())
    }

    fn owned<X>(&self, errors: Vec<X>) -> CycleResult<X> {
        CycleResult {
            now: self.now,
            kind: self.kind,
            outcome: self.outcome,
            counts: self.counts,
            selected_run_ids: own(self.selected_run_ids()),
            no_match_run_ids: own(self.no_match_run_ids()),
            recovered_run_ids: own(self.recovered_run_ids()),
            starved_run_ids: own(self.starved_run_ids()),
            spawn_requested_run_ids: own(self.spawn_requested_run_ids()),
            needs_attention_run_ids: own(self.needs_attention_run_ids()),
            errors,
        }
    }
}

fn own<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<String> {
    ids.map(str::to_owned).collect()
}

fn ids<'a, R: RunView>(runs: &'a [R], idx: &'a [u32]) -> impl ExactSizeIterator<Item = &'a str> + 'a {
    idx.iter().map(move |&i| runs[i as usize].run_id().trim())
}

/// An owned copy of a [`CycleReport`], as the Go package's `CycleResult`: with the
/// typed errors from [`CycleReport::into_result`], or the errors as text
/// (`CycleResult<String>`, the default) from [`CycleReport::to_result`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CycleResult<E = String> {
    /// The cycle's time.
    pub now: SystemTime,
    /// Why the cycle ran.
    pub kind: CycleKind,
    /// How the cycle ended.
    pub outcome: Outcome,
    /// The cycle's numbers.
    pub counts: CycleCounts,
    /// Runs successfully woken, one entry per wake.
    pub selected_run_ids: Vec<String>,
    /// No-match runs, in unspecified order.
    pub no_match_run_ids: Vec<String>,
    /// Recovered runs.
    pub recovered_run_ids: Vec<String>,
    /// Starved runs.
    pub starved_run_ids: Vec<String>,
    /// Runs a spawn was requested for.
    pub spawn_requested_run_ids: Vec<String>,
    /// Runs marked `needs_attention`.
    pub needs_attention_run_ids: Vec<String>,
    /// Every error the cycle met, in the order met.
    pub errors: Vec<E>,
}

/// What a rebuild read and cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildReport {
    /// Pending runs read.
    pub pending_runs: usize,
    /// Active runs read.
    pub active_runs: usize,
    /// Sessions read.
    pub sessions_scanned: usize,
    /// Wake-cooldown keys cleared.
    pub cleared_wake_keys: usize,
    /// When the rebuild ran.
    pub rebuilt_at: SystemTime,
}
