//! The scheduler and its cycle: the only code that awaits the seams.

use std::future::Future;
use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

use crate::clock::{Clock, SystemClock};
use crate::cooldown::Cooldown;
use crate::deadline::{Failure, Limit, Unbounded, guarded};
use crate::error::{BatchStep, Call, Concern, Error};
use crate::ladder::{
    Budget, BudgetFate, StatusAction, Step, Thresholds, Tier, after_mark, candidate_action, listed_action, queued_age,
    reconcile_page, write_diagnostic,
};
use crate::model::RunStatus;
use crate::observer::{NoopObserver, Observer};
use crate::report::{CycleCounts, CycleKind, CycleReport, Outcome, RebuildReport};
use crate::seam::{
    EscalationActor, MarkOutcome, NoEscalation, NoPauseStore, NoStarvationStore, PauseStore, Recovery, SessionSource,
    SpawnOutcome, StarvationStore, TaskSource, WakeBatch, Waker,
};
use crate::selection::table::{Seed, Span, StrTable, Texts};
use crate::selection::{Selection, SelectionInput, trim};
use crate::settings::{Builder, Settings};
use crate::stats::{Stats, StatsHandle};
use crate::view::{RecoveredView, RunView, SessionView};
use crate::why::{Explainer, WhyNotWoken};

/// The error type of a scheduler over these seams.
pub type SchedulerError<T, S, W, P = NoPauseStore, B = NoStarvationStore, A = NoEscalation> = Error<
    <T as TaskSource>::Error,
    <S as SessionSource>::Error,
    <W as Waker<<T as TaskSource>::Run, <S as SessionSource>::Session>>::Error,
    <P as PauseStore>::Error,
    <B as StarvationStore>::Error,
    <A as EscalationActor<<T as TaskSource>::Run>>::Error,
>;

/// The report type of a scheduler over these seams.
pub type SchedulerReport<'a, T, S, W, P = NoPauseStore, B = NoStarvationStore, A = NoEscalation> = CycleReport<
    'a,
    <T as TaskSource>::Run,
    <T as TaskSource>::Recovered,
    SchedulerError<T, S, W, P, B, A>,
    <T as TaskSource>::ActiveRun,
    <S as SessionSource>::Session,
>;

/// The common shape of a scheduler with a convergence ladder (a starvation store `B`
/// and an escalation actor `A`), the optional seams after them, so a struct can store
/// one without spelling every default:
///
/// ```
/// # use scheduler_core::{clock::SystemClock, LadderScheduler, Scheduler};
/// # use scheduler_core::observer::NoopObserver;
/// # use scheduler_core::seam::NoPauseStore;
/// # fn same<T, S, W, B, A>(s: LadderScheduler<T, S, W, B, A>) -> Scheduler<T, S, W, SystemClock, NoPauseStore, B, A, NoopObserver>
/// # where T: scheduler_core::seam::TaskSource, S: scheduler_core::seam::SessionSource,
/// #   W: scheduler_core::seam::Waker<T::Run, S::Session>, B: scheduler_core::seam::StarvationStore,
/// #   A: scheduler_core::seam::EscalationActor<T::Run> { s }
/// ```
///
/// Without a ladder, [`Scheduler<T, S, W>`](Scheduler) and `Scheduler<T, S, W, C>` (a
/// clock) are already short.
pub type LadderScheduler<T, S, W, B, A, C = SystemClock, P = NoPauseStore, O = NoopObserver> =
    Scheduler<T, S, W, C, P, B, A, O>;

/// The mechanical task scheduler: one sweep / select / wake / escalate cycle at a time.
///
/// Generic over its seams, with the optional ones defaulting to no-op types: a
/// scheduler without a pause store, starvation store, escalation actor or observer pays
/// nothing for them. Build one with [`Scheduler::builder`], run one cycle with
/// [`run_once`](Scheduler::run_once), or the loop with
/// [`run_until`](Scheduler::run_until).
///
/// It keeps, between cycles, only the wake cooldown, the statistics and the buffers it
/// reuses; everything durable lives behind the seams.
///
/// # Robustness (behaviour section 8)
///
/// - Every seam call runs with its panics contained: a panicking call counts as that
///   call failing ([`Error::Panicked`], naming the call and the run or session), and the
///   cycle goes on.
/// - In the loop and in [`run_cycle`](Scheduler::run_cycle) (where the clock is a
///   [`Timer`](crate::clock::Timer)), every seam call also has a deadline,
///   [`Settings::seam_timeout`]: a call past it fails with [`Error::TimedOut`] and the
///   cycle goes on as for any other failure of that call. A bare
///   [`run_once`](Scheduler::run_once) works with any [`Clock`], which cannot sleep, so
///   its calls have no deadline: the caller bounds it (or drops it; a cycle is safe to
///   drop).
/// - [`CycleKind::OnDemand`] cycles wake but do not climb the ladder.
pub struct Scheduler<
    T,
    S,
    W,
    C = SystemClock,
    P = NoPauseStore,
    B = NoStarvationStore,
    A = NoEscalation,
    O = NoopObserver,
> where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
{
    pub(crate) tasks: T,
    pub(crate) sessions: S,
    pub(crate) waker: W,
    pub(crate) clock: C,
    pub(crate) pause: Option<P>,
    pub(crate) store: Option<B>,
    pub(crate) actor: Option<A>,
    pub(crate) observer: O,
    pub(crate) settings: Settings,
    pub(crate) cooldown: Cooldown,
    pub(crate) stats: StatsHandle,
    buf: Buffers<T, S, W, B, SchedulerError<T, S, W, P, B, A>>,
    /// Whether the buffers hold a completed cycle's selection (what
    /// [`why_not_woken`](Scheduler::why_not_woken) explains).
    selected: bool,
}

/// Everything a cycle fills, kept between cycles so their capacity is reused.
struct Buffers<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>, B: StarvationStore, E> {
    runs: Vec<T::Run>,
    active: Vec<T::ActiveRun>,
    sessions: Vec<S::Session>,
    recovered: Vec<T::Recovered>,
    selection: Selection,
    wake_results: Vec<Result<(), W::Error>>,
    selected: Vec<u32>,
    statuses: Vec<Result<Option<RunStatus>, T::Error>>,
    loaded: Vec<Result<Option<Budget>, B::Error>>,
    written: Vec<Result<(), B::Error>>,
    climbing: Vec<Keyed>,
    advanced: Vec<(Keyed, Step)>,
    /// Whether some advanced candidate has a tier due this cycle (most cycles of an
    /// episode have none: escalation then skips its pass over them).
    tiers_due: bool,
    spawn_requested: Vec<u32>,
    needs_attention: Vec<u32>,
    clears: Vec<ClearItem>,
    /// This cycle's page of stored budgets.
    listed: Vec<(B::Key, Budget)>,
    /// Whether `listed` holds this cycle's page (the list call succeeded).
    listed_ok: bool,
    /// Whether this cycle's page was full: the walk over the store goes on after it.
    page_full: bool,
    /// Where the next cycle's page starts: after this key (from the start when
    /// `None`). Kept from cycle to cycle.
    cursor: Option<B::Key>,
    /// The listed rows by trimmed key; `listed_rep` maps an entry to its first row.
    listed_ids: StrTable,
    listed_rep: Vec<u32>,
    /// Per listed row: whether it is the first row listed under its trimmed key.
    listed_first: Vec<bool>,
    reconcile: Vec<u32>,
    /// Per candidate (in `selection.starved()` order): the listed row holding its
    /// budget, or [`NO_ROW`].
    candidate_rows: Vec<u32>,
    /// Per listed row: whether a candidate's budget is stored in it.
    row_of_candidate: Vec<bool>,
    /// Per listed row: the place in `climbing` of the candidate climbing from it, or
    /// [`NO_ROW`].
    climber_at_row: Vec<u32>,
    /// Places in `advanced`, in selection order: the order escalations go in.
    escalation_order: Vec<u32>,
    keys: Keys,
    seed: Seed,
    diagnostic: String,
    errors: Vec<E>,
}

/// "No listed row."
const NO_ROW: u32 = u32::MAX;

/// A pending run (by index) and the listed row its budget is stored under
/// ([`NO_ROW`] when the store listed none: the budget's key is then the trimmed run
/// id). Behaviour section 8: a stored key that differs from the run id only by
/// surrounding spaces is the run's, and is read, rewritten and cleared as listed.
#[derive(Clone, Copy)]
struct Keyed {
    run: u32,
    listed: u32,
    /// The candidate's place in `selection.starved()` (its id in [`Keys`]).
    cand: u32,
}

/// The listed rows' keys (as stored) of this cycle, copied once into one reused
/// buffer: the ladder's passes (match rows to candidates, reconcile, save, clear) then
/// read them from one place instead of chasing every row's own string each time. The
/// candidates' trimmed run ids are the selection's copy ([`Selection::starved_id`]).
#[derive(Debug, Default)]
struct Keys {
    text: Texts,
    listed: Vec<Span>,
}

impl Keys {
    fn clear(&mut self) {
        self.text.clear();
        self.listed.clear();
    }

    fn push_listed(&mut self, key: &str) {
        let span = self.text.push(key);
        self.listed.push(span);
    }

    /// Listed row `j`'s key, as stored.
    fn listed(&self, j: u32) -> &str {
        self.text.get(self.listed[j as usize])
    }
}

/// A budget to clear: a pending run's, or a listed row's (by index).
#[derive(Clone, Copy)]
enum ClearItem {
    Run(Keyed),
    Listed(u32),
}

impl ClearItem {
    /// The listed row the budget is stored in ([`NO_ROW`] for none).
    fn row(self) -> u32 {
        match self {
            ClearItem::Run(k) => k.listed,
            ClearItem::Listed(j) => j,
        }
    }
}

impl<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>, B: StarvationStore, E> Default
    for Buffers<T, S, W, B, E>
{
    fn default() -> Self {
        Buffers {
            runs: Vec::new(),
            active: Vec::new(),
            sessions: Vec::new(),
            recovered: Vec::new(),
            selection: Selection::new(),
            wake_results: Vec::new(),
            selected: Vec::new(),
            statuses: Vec::new(),
            loaded: Vec::new(),
            written: Vec::new(),
            climbing: Vec::new(),
            advanced: Vec::new(),
            tiers_due: false,
            spawn_requested: Vec::new(),
            needs_attention: Vec::new(),
            clears: Vec::new(),
            listed: Vec::new(),
            listed_ok: false,
            page_full: false,
            cursor: None,
            listed_ids: StrTable::default(),
            listed_rep: Vec::new(),
            listed_first: Vec::new(),
            reconcile: Vec::new(),
            candidate_rows: Vec::new(),
            row_of_candidate: Vec::new(),
            climber_at_row: Vec::new(),
            escalation_order: Vec::new(),
            keys: Keys::default(),
            seed: Seed::default(),
            diagnostic: String::new(),
            errors: Vec::new(),
        }
    }
}

impl<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>, B: StarvationStore, E> Buffers<T, S, W, B, E> {
    /// Moves the reconcile cursor past this cycle's page: to its last key when the
    /// page was full, back to the start when the walk reached the end. A failed list
    /// leaves it where it was, so the same page is tried again.
    fn advance_cursor(&mut self) {
        if !self.listed_ok {
            return;
        }
        self.cursor = if self.page_full { self.listed.pop().map(|(key, _)| key) } else { None };
    }

    /// Finds, for every candidate, the listed row holding its budget (by trimmed key),
    /// and marks those rows: reconcile skips them.
    fn find_candidate_rows(&mut self) {
        self.row_of_candidate.clear();
        self.row_of_candidate.resize(self.listed.len(), false);
        let mut unlisted = 0;
        for &ri in self.selection.starved() {
            let id = self.selection.starved_id(ri);
            let row = listed_row(self.listed_ok, &self.listed_ids, &self.listed_rep, self.seed, &self.keys, id);
            if row == NO_ROW {
                unlisted += id.len();
            } else {
                self.row_of_candidate[row as usize] = true;
            }
            self.candidate_rows.push(row);
        }
        // Room for the keys of the rows this cycle's saves create, listed next cycle.
        self.keys.text.reserve(unlisted);
    }

    /// Plans the step of every climbing candidate whose budget is on this cycle's page,
    /// in page order rather than selection order: the page is then read front to back,
    /// and the saves that follow write the rows in key order, the order a B-tree (and
    /// the in-memory store) keeps them in.
    fn plan_listed(&mut self, now: SystemTime, th: &Thresholds) {
        self.climber_at_row.clear();
        self.climber_at_row.resize(self.listed.len(), NO_ROW);
        for (i, k) in self.climbing.iter().enumerate() {
            if k.listed != NO_ROW {
                self.climber_at_row[k.listed as usize] = i as u32;
            }
        }
        for (&i, (_, budget)) in self.climber_at_row.iter().zip(&self.listed) {
            if i != NO_ROW {
                let keyed = self.climbing[i as usize];
                push_step(&mut self.advanced, &mut self.tiers_due, keyed, Some(budget), now, th);
            }
        }
    }

    /// Fills `escalation_order` with the places of `advanced`'s candidates in selection
    /// order (`advanced` is in page order: see [`plan_listed`](Self::plan_listed)).
    fn order_escalations(&mut self) {
        self.escalation_order.clear();
        self.escalation_order.resize(self.selection.starved().len(), NO_ROW);
        for (k, (keyed, _)) in self.advanced.iter().enumerate() {
            self.escalation_order[keyed.cand as usize] = k as u32;
        }
        self.escalation_order.retain(|&k| k != NO_ROW);
    }

    fn reset(&mut self) {
        self.runs.clear();
        self.active.clear();
        self.sessions.clear();
        self.recovered.clear();
        self.wake_results.clear();
        self.selected.clear();
        self.statuses.clear();
        self.loaded.clear();
        self.written.clear();
        self.climbing.clear();
        self.advanced.clear();
        self.tiers_due = false;
        self.spawn_requested.clear();
        self.needs_attention.clear();
        self.clears.clear();
        self.listed.clear();
        self.listed_ok = false;
        self.page_full = false;
        self.listed_rep.clear();
        self.listed_first.clear();
        self.reconcile.clear();
        self.candidate_rows.clear();
        self.row_of_candidate.clear();
        self.climber_at_row.clear();
        self.escalation_order.clear();
        self.keys.clear();
        self.errors.clear();
    }
}

impl<T, S, W> Scheduler<T, S, W>
where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
{
    /// Starts building a scheduler over the three required seams.
    ///
    /// ```
    /// # use scheduler_core::Scheduler;
    /// # fn wire<T: scheduler_core::seam::TaskSource, S: scheduler_core::seam::SessionSource,
    /// #          W: scheduler_core::seam::Waker<T::Run, S::Session>>(tasks: T, sessions: S, waker: W) {
    /// let scheduler = Scheduler::builder(tasks, sessions, waker)
    ///     .interval(std::time::Duration::from_secs(5))
    ///     .build()
    ///     .expect("valid settings");
    /// # }
    /// ```
    pub fn builder(tasks: T, sessions: S, waker: W) -> Builder<T, S, W> {
        Builder::new(tasks, sessions, waker)
    }
}

impl<T, S, W, C, P, B, A, O> Scheduler<T, S, W, C, P, B, A, O>
where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    C: Clock,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
    O: Observer,
{
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn from_parts(
        tasks: T,
        sessions: S,
        waker: W,
        clock: C,
        pause: Option<P>,
        store: Option<B>,
        actor: Option<A>,
        observer: O,
        cooldown: Cooldown,
        settings: Settings,
        stats: StatsHandle,
    ) -> Self {
        let policy = settings.selection_policy;
        Scheduler {
            tasks,
            sessions,
            waker,
            clock,
            pause,
            store,
            actor,
            observer,
            settings,
            cooldown,
            stats,
            buf: Buffers { selection: Selection::with_policy(policy), ..Buffers::default() },
            selected: false,
        }
    }

    /// The normalised settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// A consistent snapshot of the statistics.
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    /// A cloneable handle that reads the statistics from any thread, while the loop
    /// runs.
    pub fn stats_handle(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// The wake-cooldown state.
    pub fn cooldown(&self) -> &Cooldown {
        &self.cooldown
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The task source.
    pub fn task_source(&self) -> &T {
        &self.tasks
    }

    /// The session source.
    pub fn session_source(&self) -> &S {
        &self.sessions
    }

    /// The waker.
    pub fn waker(&self) -> &W {
        &self.waker
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// Why the run `run_id` got no wake in the last cycle, computed now from that
    /// cycle's kept rows (see [`why`](crate::why) for the reasons and their precedence).
    /// `None` when it was targeted, is not claimable, was not pending, or the last cycle
    /// selected nothing (paused, a snapshot read failed, abandoned, or none ran since
    /// the last [`rebuild`](Self::rebuild)).
    ///
    /// Costs nothing until called: a cycle keeps its rows anyway.
    pub fn why_not_woken(&self, run_id: &str) -> Option<WhyNotWoken> {
        let explainer = self.explainer()?;
        explainer.why(explainer.find(run_id)?)
    }

    /// Every claimable run of the last cycle that got no wake, with the reason, in the
    /// order the source gave the runs (as [`why_not_woken`](Self::why_not_woken)).
    pub fn not_woken(&self) -> impl Iterator<Item = (&str, WhyNotWoken)> + '_ {
        self.explainer().into_iter().flat_map(Explainer::all)
    }

    fn explainer(&self) -> Option<Explainer<'_, T::Run, T::ActiveRun, S::Session>> {
        let b = &self.buf;
        self.selected.then_some(Explainer {
            runs: &b.runs,
            active: &b.active,
            sessions: &b.sessions,
            selection: &b.selection,
        })
    }

    /// Clears the scheduler's ephemeral state (the wake cooldown) after re-reading the
    /// durable state. The durable starvation budgets are not touched, so the ladder
    /// resumes where it was.
    ///
    /// # Errors
    /// The first snapshot read that fails; nothing is cleared then.
    pub async fn rebuild(&mut self) -> Result<RebuildReport, SchedulerError<T, S, W, P, B, A>> {
        let now = self.clock.now();
        let b = &mut self.buf;
        b.reset();
        self.selected = false;
        self.tasks.pending_runs(&mut b.runs).await.map_err(Error::PendingRuns)?;
        self.tasks.active_runs(&mut b.active).await.map_err(Error::ActiveRuns)?;
        self.sessions.sessions(&mut b.sessions).await.map_err(Error::Sessions)?;
        let cleared_wake_keys = self.cooldown.clear();
        self.stats.record_rebuild(now);
        Ok(RebuildReport {
            pending_runs: b.runs.len(),
            active_runs: b.active.len(),
            sessions_scanned: b.sessions.len(),
            cleared_wake_keys,
            rebuilt_at: now,
        })
    }

    /// Runs one interval cycle: sweep expired leases, read snapshots, honour the pause,
    /// select, wake, climb the ladder, record statistics (behaviour section 2).
    ///
    /// Errors do not stop the cycle unless a snapshot read fails; every error met is in
    /// the report. The report borrows the scheduler's reused buffers. A seam call that
    /// panics counts as that call failing. The calls have no deadline here (any
    /// [`Clock`] will do, and a clock cannot sleep); with a
    /// [`Timer`](crate::clock::Timer), [`run_cycle`](Self::run_cycle) bounds every call
    /// by [`Settings::seam_timeout`].
    ///
    /// # Cancellation
    ///
    /// Dropping the future mid-cycle is safe: the next cycle starts from clean buffers,
    /// and durable state (budgets, run statuses) is only changed through the seams, so a
    /// retry converges. It is not *exactly-once*, though: a cycle dropped after it began
    /// waking loses its statistics (they are recorded when the cycle ends) and records no
    /// cooldown for the wakes it delivered, so the retry may deliver them again (wakes
    /// are advisory, so a repeat is harmless), and escalations already requested before
    /// the budget save may be requested again. The background loop drops a cycle only
    /// when it is shut down mid-cycle, and counts it in
    /// [`Stats::cycles_abandoned`](crate::Stats::cycles_abandoned).
    pub async fn run_once(&mut self) -> SchedulerReport<'_, T, S, W, P, B, A> {
        self.run::<Unbounded>(CycleKind::Interval).await
    }

    /// One cycle of `kind`, its seam calls bounded as `L` says.
    pub(crate) async fn run<L: Limit<C>>(&mut self, kind: CycleKind) -> SchedulerReport<'_, T, S, W, P, B, A> {
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument as _;
            let span =
                tracing::info_span!(target: "scheduler", "scheduler.cycle", on_demand = kind == CycleKind::OnDemand);
            let (outcome, now, counts) = self.cycle::<L>(kind).instrument(span).await;
            self.report(kind, outcome, now, counts)
        }
        #[cfg(not(feature = "tracing"))]
        {
            let (outcome, now, counts) = self.cycle::<L>(kind).await;
            self.report(kind, outcome, now, counts)
        }
    }

    fn report(
        &mut self,
        kind: CycleKind,
        outcome: Outcome,
        now: SystemTime,
        counts: CycleCounts,
    ) -> SchedulerReport<'_, T, S, W, P, B, A> {
        let b = &mut self.buf;
        CycleReport {
            now,
            kind,
            outcome,
            counts,
            runs: &b.runs,
            recovered: &b.recovered,
            selected: &b.selected,
            no_match: b.selection.no_match(),
            starved: b.selection.starved(),
            spawn_requested: &b.spawn_requested,
            needs_attention: &b.needs_attention,
            errors: &mut b.errors,
            active: &b.active,
            sessions: &b.sessions,
            selection: &b.selection,
        }
    }

    async fn cycle<L: Limit<C>>(&mut self, kind: CycleKind) -> (Outcome, SystemTime, CycleCounts) {
        let now = self.clock.now();
        self.observer.cycle_started(now);
        self.buf.reset();
        self.selected = false;
        let mut counts = CycleCounts::default();

        // 1. Lease sweep: runs even when paused; its failure does not stop the cycle.
        self.sweep::<L>(now, &mut counts).await;

        // 2. Snapshots, read concurrently; any failure ends the cycle uncounted.
        if !self.read_snapshots::<L>(&mut counts).await {
            self.selection_reset();
            return self.finish(kind, Outcome::SnapshotFailed, now, counts, false);
        }

        // 3. Pause, failing closed on an unreadable flag.
        if let Some(outcome) = self.check_pause::<L>(&mut counts).await {
            self.selection_reset();
            return self.finish(kind, outcome, now, counts, true);
        }

        // 4. Selection (pure), 5. dispatch.
        self.select(now, &mut counts);
        self.dispatch::<L>(now, &mut counts).await;

        // 6. Convergence ladder: interval cycles only (section 8).
        if kind == CycleKind::Interval && self.store.is_some() && self.actor.is_some() {
            self.climb_ladder::<L>(now, &mut counts).await;
        }

        // 7. Record.
        self.finish(kind, Outcome::Completed, now, counts, true)
    }

    fn finish(
        &mut self,
        kind: CycleKind,
        outcome: Outcome,
        now: SystemTime,
        counts: CycleCounts,
        counted: bool,
    ) -> (Outcome, SystemTime, CycleCounts) {
        if counted {
            self.stats.record_cycle(now, kind, &counts);
        }
        self.selected = outcome == Outcome::Completed;
        if self.selected && self.observer.explains_not_woken() {
            for (run_id, why) in self.explainer().into_iter().flat_map(Explainer::all) {
                self.observer.run_not_woken(run_id, why);
            }
        }
        for e in &self.buf.errors {
            self.observer.cycle_error(e);
            self.observer.seam_failed(e.call());
        }
        self.observer.cycle_finished(&counts);
        if self.observer.wants_timings() {
            self.observer.cycle_timed(self.clock.now().duration_since(now).unwrap_or_default());
        }
        (outcome, now, counts)
    }

    /// Forgets the previous cycle's selection so the report of a cycle that stopped
    /// before selecting lists no stale runs.
    fn selection_reset(&mut self) {
        let b = &mut self.buf;
        b.selection.select(
            SelectionInput {
                runs: &b.runs[..0],
                active: &b.active[..0],
                sessions: &b.sessions[..0],
                now: SystemTime::UNIX_EPOCH,
                min_queued_age: Duration::ZERO,
            },
            |_, _| false,
        );
    }

    async fn sweep<L: Limit<C>>(&mut self, now: SystemTime, counts: &mut CycleCounts) {
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let request = Recovery {
            now,
            reason: &self.settings.sweep_reason,
            limit: self.settings.sweep_limit,
            actor: &self.settings.actor,
        };
        let b = &mut self.buf;
        let error = match guard.call(Call::Sweep, self.tasks.recover_expired_leases(request, &mut b.recovered)).await {
            Ok(Ok(())) => {
                counts.recovered_leases = b.recovered.len();
                self.stats.record_recovered(b.recovered.len());
                for r in &b.recovered {
                    self.observer.lease_recovered(r.run_id().trim(), r.previous_session_id().trim());
                }
                return;
            }
            Ok(Err(e)) => {
                self.stats.record_recovery_error(&format_args!("expired-lease sweep failed: {e}"));
                Error::Sweep(e)
            }
            Err(failure) => {
                let error = Error::failed(Call::Sweep, Concern::Cycle, failure);
                self.stats.record_recovery_error(&error);
                error
            }
        };
        b.recovered.clear();
        b.errors.push(error);
    }

    async fn read_snapshots<L: Limit<C>>(&mut self, counts: &mut CycleCounts) -> bool {
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let (runs, active, sessions) = futures::join!(
            guard.call(Call::PendingRuns, self.tasks.pending_runs(&mut b.runs)),
            guard.call(Call::ActiveRuns, self.tasks.active_runs(&mut b.active)),
            guard.call(Call::Sessions, self.sessions.sessions(&mut b.sessions)),
        );
        let results = [
            flatten(runs, Error::PendingRuns, Call::PendingRuns, || Concern::Cycle),
            flatten(active, Error::ActiveRuns, Call::ActiveRuns, || Concern::Cycle),
            flatten(sessions, Error::Sessions, Call::Sessions, || Concern::Cycle),
        ];
        let mut ok = true;
        for error in results.into_iter().filter_map(Result::err) {
            b.errors.push(error);
            ok = false;
        }
        if ok {
            counts.pending_runs = b.runs.len();
            counts.active_runs = b.active.len();
            counts.sessions_scanned = b.sessions.len();
        } else {
            b.runs.clear();
            b.active.clear();
            b.sessions.clear();
        }
        ok
    }

    /// The pause check: `Some(outcome)` ends the cycle (paused, or failing closed on an
    /// unreadable or timed-out flag).
    async fn check_pause<L: Limit<C>>(&mut self, counts: &mut CycleCounts) -> Option<Outcome> {
        let pause = self.pause.as_ref()?;
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        match flatten(guard.call(Call::Pause, pause.is_paused()).await, Error::Pause, Call::Pause, || Concern::Cycle) {
            Ok(false) => None,
            Ok(true) => {
                counts.paused = true;
                Some(Outcome::Paused)
            }
            Err(e) => {
                counts.paused = true;
                self.buf.errors.push(e);
                Some(Outcome::PauseUnreadable)
            }
        }
    }

    fn select(&mut self, now: SystemTime, counts: &mut CycleCounts) {
        let b = &mut self.buf;
        let cooldown = &self.cooldown;
        b.selection.select(
            SelectionInput {
                runs: &b.runs,
                active: &b.active,
                sessions: &b.sessions,
                now,
                min_queued_age: self.settings.thresholds.min_queued_age,
            },
            |run, session| cooldown.is_cooling(trim(run.run_id()), trim(session.session_id()), now),
        );
        let sel = b.selection.counts();
        counts.unclaimable_runs = sel.unclaimable_runs;
        counts.recently_notified_runs = sel.recently_notified_runs;
        counts.no_match_runs = b.selection.no_match().len();
        counts.starved_runs = b.selection.starved().len();
        counts.duplicate_runs = b.selection.duplicate_runs().len();
        counts.duplicate_sessions = b.selection.duplicate_sessions().len();
        counts.idle_sessions = b.selection.idle_sessions();
        counts.oldest_queued_age = b.selection.oldest_queued_at().map(|at| queued_age(now, Some(at)));
        if self.observer.wants_run_events() {
            for &ri in b.selection.starved() {
                let run = &b.runs[ri as usize];
                self.observer.run_starved(trim(run.run_id()), trim(run.task_id()), queued_age(now, run.queued_at()));
            }
        }
        for &ri in b.selection.duplicate_runs() {
            self.observer.duplicate_run_ignored(trim(b.runs[ri as usize].run_id()));
        }
        for &si in b.selection.duplicate_sessions() {
            self.observer.duplicate_session_ignored(trim(b.sessions[si as usize].session_id()));
        }
    }

    async fn dispatch<L: Limit<C>>(&mut self, now: SystemTime, counts: &mut CycleCounts) {
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let targets = b.selection.targets();
        counts.wake_attempts = targets.len();
        if !targets.is_empty() {
            let batch = WakeBatch::new(&b.runs, &b.sessions, targets, &self.settings.wake_reason);
            let failure = guard.call(Call::Wake, self.waker.wake_batch(batch, &mut b.wake_results)).await.err();
            let (expected, actual) = (targets.len(), b.wake_results.len());
            if actual > expected || (actual < expected && failure.is_none()) {
                self.wake_batch_length(expected, actual, counts);
            } else {
                self.wake_results(failure, now, counts);
            }
        }
        if self.cooldown.is_enabled() {
            self.cooldown.prune(now);
        }
    }

    /// The batch waker returned the wrong number of results: every target failed.
    fn wake_batch_length(&mut self, expected: usize, actual: usize, counts: &mut CycleCounts) {
        let b = &mut self.buf;
        for &(ri, si) in b.selection.targets() {
            let (run_id, session_id) = pair_ids(&b.runs, &b.sessions, ri, si);
            counts.wake_failed += 1;
            let error = Error::WakeBatchLength {
                run_id: run_id.to_owned(),
                session_id: session_id.to_owned(),
                expected,
                actual,
            };
            self.observer.wake_failed(run_id, session_id, &error);
            b.errors.push(error);
        }
        if let Some(e) = b.errors.last() {
            self.stats.record_wake_error(e);
        }
        b.wake_results.clear();
    }

    /// Books one result per target; targets past the results of a batch that timed out
    /// or panicked fail with that.
    fn wake_results(&mut self, failure: Option<Failure>, now: SystemTime, counts: &mut CycleCounts) {
        let b = &mut self.buf;
        let mut results = b.wake_results.drain(..);
        for &(ri, si) in b.selection.targets() {
            let (run_id, session_id) = pair_ids(&b.runs, &b.sessions, ri, si);
            let error = match (results.next(), &failure) {
                (Some(Ok(())), _) => {
                    counts.wake_succeeded += 1;
                    b.selected.push(ri);
                    self.cooldown.record(run_id, session_id, now);
                    self.observer.wake_sent(run_id, session_id);
                    continue;
                }
                (Some(Err(source)), _) => {
                    self.observer.wake_failed(run_id, session_id, &source);
                    self.stats.record_wake_error(&format_args!(
                        "waking session {session_id:?} for run {run_id:?} failed: {source}"
                    ));
                    Error::Wake { run_id: run_id.to_owned(), session_id: session_id.to_owned(), source }
                }
                (None, Some(failure)) => {
                    let concern = Concern::Wake { run_id: run_id.to_owned(), session_id: session_id.to_owned() };
                    let error = Error::failed(Call::Wake, concern, failure.clone());
                    self.observer.wake_failed(run_id, session_id, &error);
                    self.stats.record_wake_error(&error);
                    error
                }
                // Lengths were checked: a batch runs short only when it failed.
                (None, None) => break,
            };
            counts.wake_failed += 1;
            b.errors.push(error);
        }
    }

    /// Step 6: the convergence ladder, in small phases that read and write through the
    /// seams; the decisions are [`ladder`](crate::ladder)'s pure functions. A failure of
    /// one candidate never stops the others.
    async fn climb_ladder<L: Limit<C>>(&mut self, now: SystemTime, counts: &mut CycleCounts) {
        // Size the per-candidate lists for the worst case up front, so that a tier
        // firing for the first time in a later cycle does not allocate, and the listed
        // rows for as many rows as candidates (the rows this cycle's saves create).
        let b = &mut self.buf;
        let n = b.selection.starved().len();
        b.spawn_requested.reserve(n);
        b.needs_attention.reserve(n);
        b.clears.reserve(n);
        b.listed.reserve(n);
        b.listed_rep.reserve(n);
        b.listed_first.reserve(n);
        b.row_of_candidate.reserve(n);
        b.climber_at_row.reserve(n);
        b.escalation_order.reserve(n);
        b.candidate_rows.reserve(n);
        b.keys.listed.reserve(n);

        self.list_budgets::<L>().await;
        self.buf.find_candidate_rows();
        self.read_candidate_statuses::<L>().await;
        self.load_budgets::<L>(now).await;
        if self.buf.tiers_due {
            self.buf.order_escalations();
            for e in 0..self.buf.escalation_order.len() {
                let k = self.buf.escalation_order[e] as usize;
                self.escalate::<L>(k, now, counts).await;
            }
            self.buf.advanced.retain(|(keyed, _)| keyed.run != NO_ROW);
        }
        self.save_budgets::<L>().await;
        self.pick_reconcile();
        self.reconcile::<L>().await;
        self.clear_budgets::<L>().await;
        self.buf.advance_cursor();
    }

    /// Lists this cycle's page of stored budgets (see [`reconcile_page`]) and indexes
    /// the rows by trimmed key (the first row listed under a key is the run's).
    async fn list_budgets<L: Limit<C>>(&mut self) {
        let Some(store) = &self.store else { return };
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let limit = reconcile_page(b.runs.len());
        let after = b.cursor.as_ref().map(AsRef::as_ref);
        // One row more than the page: whether it comes says whether the walk goes on
        // (a store of exactly one page is then listed whole every cycle).
        let listed = guard.call(Call::ListBudgets, store.list_page(after, limit + 1, &mut b.listed)).await;
        if let Err(e) = flatten(listed, Error::ListBudgets, Call::ListBudgets, || Concern::Cycle) {
            b.listed.clear();
            b.errors.push(e);
            return;
        }
        b.listed_ok = true;
        b.page_full = b.listed.len() > limit;
        b.listed.truncate(limit);
        b.listed_ids.reset(b.listed.len().max(b.selection.starved().len()));
        for (key, _) in &b.listed {
            b.keys.push_listed(key.as_ref());
        }
        for j in 0..b.listed.len() {
            let (keys, rep) = (&b.keys, &b.listed_rep);
            let key = trim(keys.listed(j as u32));
            let (_, new) = b.listed_ids.intern(b.seed, key, |e| trim(keys.listed(rep[e as usize])) == key);
            if new {
                b.listed_rep.push(j as u32);
            }
            b.listed_first.push(new);
        }
    }

    /// Re-reads every candidate's status in one batch: still queued climbs; otherwise
    /// [`candidate_action`] says whether its budget is kept or cleared.
    async fn read_candidate_statuses<L: Limit<C>>(&mut self) {
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let (runs, sel) = (&b.runs, &b.selection);
        let candidates = sel.starved();
        if candidates.is_empty() {
            return;
        }
        let ids = candidates.iter().map(|&ri| sel.starved_id(ri));
        let result = guard.call(Call::RunStatuses, self.tasks.run_statuses(ids, &mut b.statuses)).await;
        let step = |runs, source| Error::RunStatusBatch { runs, source };
        let Some(results) = check_batch(result, &mut b.statuses, candidates.len(), &mut b.errors, step, STATUSES)
        else {
            return;
        };
        for (k, (&ri, status)) in candidates.iter().zip(results).enumerate() {
            let keyed = Keyed { run: ri, listed: b.candidate_rows[k], cand: k as u32 };
            match status.map(candidate_action) {
                Ok(StatusAction::Climb) => b.climbing.push(keyed),
                Ok(StatusAction::Keep) => {}
                Ok(StatusAction::Clear) => b.clears.push(ClearItem::Run(keyed)),
                Err(source) => b.errors.push(Error::RunStatus { run_id: run_id(runs, ri).to_owned(), source }),
            }
        }
    }

    /// Loads the climbing candidates' budgets and plans their step, into `advanced`.
    /// A candidate whose row is on this cycle's page takes its budget from the page,
    /// read from the same store moments ago (in page order: see
    /// [`Buffers::plan_listed`]); the others are loaded in one batch, and follow in
    /// selection order.
    async fn load_budgets<L: Limit<C>>(&mut self, now: SystemTime) {
        let Some(store) = &self.store else { return };
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let th = self.settings.thresholds;
        let b = &mut self.buf;
        b.plan_listed(now, &th);
        let (sel, climbing) = (&b.selection, &b.climbing);
        let unlisted = climbing.iter().filter(|k| k.listed == NO_ROW);
        let expected = unlisted.clone().count();
        if expected == 0 {
            return;
        }
        let ids = unlisted.clone().map(|&k| sel.starved_id(k.run));
        let result = guard.call(Call::LoadBudgets, store.load_many(ids, &mut b.loaded)).await;
        let step = |runs, source| Error::StoreBatch { step: BatchStep::LoadBudgets, runs, source };
        let Some(loads) = check_batch(result, &mut b.loaded, expected, &mut b.errors, step, LOADS) else {
            return; // the batch failed: its error is recorded
        };
        for (&keyed, loaded) in unlisted.zip(loads) {
            match loaded {
                Ok(previous) => push_step(&mut b.advanced, &mut b.tiers_due, keyed, previous.as_ref(), now, &th),
                Err(source) => {
                    b.errors.push(Error::LoadBudget { run_id: run_id(&b.runs, keyed.run).to_owned(), source })
                }
            }
        }
    }

    /// Escalates the `k`-th advanced candidate through the tiers its step says are
    /// due. A cleared budget is marked for removal from `advanced` (its run set to
    /// [`NO_ROW`] there) and queued to be cleared.
    async fn escalate<L: Limit<C>>(&mut self, k: usize, now: SystemTime, counts: &mut CycleCounts) {
        let (keyed, mut step) = self.buf.advanced[k];
        if step.spawn {
            self.spawn_tier::<L>(keyed, &mut step, now, counts).await;
        }
        if step.event {
            self.event_tier::<L>(keyed, &mut step, now).await;
        }
        let mark = if step.mark { self.mark_tier::<L>(keyed, &step, now, counts).await } else { None };
        let b = &mut self.buf;
        match after_mark(mark) {
            BudgetFate::Save => b.advanced[k] = (keyed, step),
            BudgetFate::Clear => {
                b.clears.push(ClearItem::Run(keyed));
                b.advanced[k].0.run = NO_ROW;
            }
        }
    }

    async fn spawn_tier<L: Limit<C>>(&mut self, k: Keyed, step: &mut Step, now: SystemTime, counts: &mut CycleCounts) {
        let Some(actor) = &self.actor else { return };
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let (ri, run, id) = (k.run, &b.runs[k.run as usize], b.selection.starved_id(k.run));
        let result = guard.call(Call::RequestSpawn, actor.request_spawn(run, now)).await;
        let spawn = |source| Error::Spawn { run_id: id.to_owned(), source };
        match flatten(result, spawn, Call::RequestSpawn, || Concern::Run(id.to_owned())) {
            Ok(SpawnOutcome::Requested) => {
                step.spawn_requested(now);
                counts.spawns_requested += 1;
                b.spawn_requested.push(ri);
                report_escalation(&self.observer, id, run, Tier::Spawn);
            }
            Ok(SpawnOutcome::Unresolvable) => {}
            Err(e) => b.errors.push(e),
        }
    }

    async fn event_tier<L: Limit<C>>(&mut self, k: Keyed, step: &mut Step, now: SystemTime) {
        let Some(actor) = &self.actor else { return };
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let (run, id) = (&b.runs[k.run as usize], b.selection.starved_id(k.run));
        let age = queued_age(now, b.selection.starved_queued_at(k.cand));
        let result = guard.call(Call::EmitStarved, actor.emit_starved(run, age, now)).await;
        let emit = |source| Error::EmitStarved { run_id: id.to_owned(), source };
        match flatten(result, emit, Call::EmitStarved, || Concern::Run(id.to_owned())) {
            Ok(()) => {
                step.event_emitted(now);
                report_escalation(&self.observer, id, run, Tier::Event);
            }
            Err(e) => b.errors.push(e),
        }
    }

    /// The needs-attention tier: the mark's outcome, `None` when it failed.
    async fn mark_tier<L: Limit<C>>(
        &mut self,
        k: Keyed,
        step: &Step,
        now: SystemTime,
        counts: &mut CycleCounts,
    ) -> Option<MarkOutcome> {
        let actor = self.actor.as_ref()?;
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let (ri, run, id) = (k.run, &b.runs[k.run as usize], b.selection.starved_id(k.run));
        let age = queued_age(now, b.selection.starved_queued_at(k.cand));
        write_diagnostic(&mut b.diagnostic, age, step.budget.wake_count);
        let result = guard.call(Call::MarkNeedsAttention, actor.mark_needs_attention(run, &b.diagnostic, now)).await;
        let mark = |source| Error::MarkNeedsAttention { run_id: id.to_owned(), source };
        match flatten(result, mark, Call::MarkNeedsAttention, || Concern::Run(id.to_owned())) {
            Ok(MarkOutcome::Marked) => {
                counts.needs_attention_runs += 1;
                b.needs_attention.push(ri);
                report_escalation(&self.observer, id, run, Tier::NeedsAttention);
                Some(MarkOutcome::Marked)
            }
            Ok(outcome) => Some(outcome),
            Err(e) => {
                b.errors.push(e);
                None
            }
        }
    }

    /// Saves the advanced budgets in one batch, each under its key.
    async fn save_budgets<L: Limit<C>>(&mut self) {
        let Some(store) = &self.store else { return };
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let (runs, keys, sel, advanced) = (&b.runs, &b.keys, &b.selection, &b.advanced);
        if advanced.is_empty() {
            return;
        }
        let rows = advanced.iter().map(|(k, step)| (budget_key(keys, sel, *k), &step.budget));
        let result = guard.call(Call::UpsertBudgets, store.upsert_many(rows, &mut b.written)).await;
        let step = |runs, source| Error::StoreBatch { step: BatchStep::UpsertBudgets, runs, source };
        let Some(results) = check_batch(result, &mut b.written, advanced.len(), &mut b.errors, step, UPSERTS) else {
            return;
        };
        for ((keyed, _), written) in advanced.iter().zip(results) {
            if let Err(source) = written {
                b.errors.push(Error::UpsertBudget { run_id: run_id(runs, keyed.run).to_owned(), source });
            }
        }
    }

    /// Picks the listed rows to reconcile: those whose run was not a candidate. A row
    /// listed under a key that an earlier row already holds (after trimming) is a
    /// stray second row of that run: it is cleared.
    fn pick_reconcile(&mut self) {
        let b = &mut self.buf;
        if !b.listed_ok {
            return;
        }
        for (j, &first) in b.listed_first.iter().enumerate() {
            if !first {
                b.clears.push(ClearItem::Listed(j as u32));
            } else if !b.row_of_candidate[j] {
                b.reconcile.push(j as u32);
            }
        }
    }

    /// Re-reads the status of every picked row's run in one batch; [`listed_action`]
    /// says whether its budget is kept or cleared.
    async fn reconcile<L: Limit<C>>(&mut self) {
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        let (keys, picked) = (&b.keys, &b.reconcile);
        if picked.is_empty() {
            return;
        }
        let key = |j: u32| trim(keys.listed(j));
        b.statuses.clear();
        let result = guard
            .call(Call::RunStatuses, self.tasks.run_statuses(picked.iter().map(|&j| key(j)), &mut b.statuses))
            .await;
        let step = |runs, source| Error::RunStatusBatch { runs, source };
        let Some(results) = check_batch(result, &mut b.statuses, picked.len(), &mut b.errors, step, STATUSES) else {
            return;
        };
        for (&j, status) in picked.iter().zip(results) {
            match status.map(listed_action) {
                Ok(StatusAction::Clear) => b.clears.push(ClearItem::Listed(j)),
                Ok(_) => {}
                Err(source) => b.errors.push(Error::RunStatus { run_id: key(j).to_owned(), source }),
            }
        }
    }

    /// Clears, in one batch, every budget this cycle decided to drop, each under the
    /// key it is stored under: the listed rows in page (key) order, as the saves, then
    /// the others.
    async fn clear_budgets<L: Limit<C>>(&mut self) {
        let Some(store) = &self.store else { return };
        let guard = Guard::<L, C, O>::new(&self.clock, self.settings.seam_timeout, &self.observer);
        let b = &mut self.buf;
        if b.clears.is_empty() {
            return;
        }
        b.clears.sort_unstable_by_key(|c| c.row());
        let (keys, sel, clears) = (&b.keys, &b.selection, &b.clears);
        b.written.clear();
        let ids = clears.iter().map(|c| clear_key(keys, sel, *c));
        let result = guard.call(Call::ClearBudgets, store.clear_many(ids, &mut b.written)).await;
        let step = |runs, source| Error::StoreBatch { step: BatchStep::ClearBudgets, runs, source };
        let Some(results) = check_batch(result, &mut b.written, clears.len(), &mut b.errors, step, CLEARS) else {
            return;
        };
        for (c, cleared) in clears.iter().zip(results) {
            if let Err(source) = cleared {
                let id = trim(clear_key(keys, sel, *c));
                b.errors.push(Error::ClearBudget { run_id: id.to_owned(), source });
            }
        }
    }
}

/// Runs seam calls with their panics contained and, under [`Bounded`](crate::deadline::Bounded),
/// a deadline on the clock; times them for an observer that
/// [wants timings](Observer::wants_timings).
struct Guard<'c, L, C, O> {
    clock: &'c C,
    timeout: Duration,
    observer: Option<&'c O>,
    limit: PhantomData<fn() -> L>,
}

impl<'c, L: Limit<C>, C: Clock, O: Observer> Guard<'c, L, C, O> {
    fn new(clock: &'c C, timeout: Duration, observer: &'c O) -> Self {
        let observer = observer.wants_timings().then_some(observer);
        Guard { clock, timeout, observer, limit: PhantomData }
    }

    async fn call<F: Future + Send>(&self, call: Call, future: F) -> Result<F::Output, Failure> {
        let Some(observer) = self.observer else {
            return guarded::<L, C, F>(self.clock, self.timeout, future).await;
        };
        let started = self.clock.now();
        let result = guarded::<L, C, F>(self.clock, self.timeout, future).await;
        observer.seam_latency(call, self.clock.now().duration_since(started).unwrap_or_default());
        result
    }
}

/// One seam call's result as a cycle error: the seam's own error wrapped by `wrap`, or
/// a timeout or panic naming `call` and `concern`.
fn flatten<X, SE, TE, SE2, WE, PE, BE, AE>(
    result: Result<Result<X, SE>, Failure>,
    wrap: impl FnOnce(SE) -> Error<TE, SE2, WE, PE, BE, AE>,
    call: Call,
    concern: impl FnOnce() -> Concern,
) -> Result<X, Error<TE, SE2, WE, PE, BE, AE>> {
    match result {
        Ok(Ok(x)) => Ok(x),
        Ok(Err(e)) => Err(wrap(e)),
        Err(failure) => Err(Error::failed(call, concern(), failure)),
    }
}

/// A batch call's names: the call (for timeouts and panics) and the step (for wrong
/// result counts).
type Batch = (Call, BatchStep);
const STATUSES: Batch = (Call::RunStatuses, BatchStep::RunStatuses);
const LOADS: Batch = (Call::LoadBudgets, BatchStep::LoadBudgets);
const UPSERTS: Batch = (Call::UpsertBudgets, BatchStep::UpsertBudgets);
const CLEARS: Batch = (Call::ClearBudgets, BatchStep::ClearBudgets);

/// Checks a batch call: a whole-batch failure (an error, a timeout, a panic) or a
/// wrong result count becomes one error (and `None`); otherwise the per-item results
/// are handed out, leaving `results` empty.
fn check_batch<'r, X, SE, TE, SE2, WE, PE, BE, AE>(
    result: Result<Result<(), SE>, Failure>,
    results: &'r mut Vec<X>,
    expected: usize,
    errors: &mut Vec<Error<TE, SE2, WE, PE, BE, AE>>,
    whole: impl FnOnce(usize, SE) -> Error<TE, SE2, WE, PE, BE, AE>,
    (call, step): Batch,
) -> Option<std::vec::Drain<'r, X>> {
    match flatten(result, |source| whole(expected, source), call, || Concern::Runs(expected)) {
        Err(error) => {
            results.clear();
            errors.push(error);
            None
        }
        Ok(()) if results.len() != expected => {
            errors.push(Error::BatchLength { step, expected, actual: results.len() });
            results.clear();
            None
        }
        Ok(()) => Some(results.drain(..)),
    }
}

fn run_id<R: RunView>(runs: &[R], ri: u32) -> &str {
    trim(runs[ri as usize].run_id())
}

/// The key a candidate's budget is stored under: the listed key, else its run id.
fn budget_key<'a>(keys: &'a Keys, sel: &'a Selection, k: Keyed) -> &'a str {
    match k.listed {
        NO_ROW => sel.starved_id(k.run),
        j => keys.listed(j),
    }
}

/// Advances a climbing candidate's budget by this cycle's step and records it.
fn push_step(
    advanced: &mut Vec<(Keyed, Step)>,
    tiers_due: &mut bool,
    keyed: Keyed,
    previous: Option<&Budget>,
    now: SystemTime,
    th: &Thresholds,
) {
    let step = Step::plan(previous, now, th);
    *tiers_due |= step.spawn || step.event || step.mark;
    advanced.push((keyed, step));
}

fn clear_key<'a>(keys: &'a Keys, sel: &'a Selection, c: ClearItem) -> &'a str {
    match c {
        ClearItem::Run(k) => budget_key(keys, sel, k),
        ClearItem::Listed(j) => keys.listed(j),
    }
}

/// The listed row holding the budget of the run with trimmed id `id`, or [`NO_ROW`].
fn listed_row(listed_ok: bool, ids: &StrTable, reps: &[u32], seed: Seed, keys: &Keys, id: &str) -> u32 {
    if !listed_ok {
        return NO_ROW;
    }
    let row = |e: u32| reps[e as usize];
    ids.find(seed, id, |e| trim(keys.listed(row(e))) == id).map_or(NO_ROW, row)
}

/// Tells the observer of an escalation (`id` is the run's trimmed id), reading the
/// run's task id only for an observer that wants per-run events.
fn report_escalation<O: Observer, R: RunView>(observer: &O, id: &str, run: &R, tier: Tier) {
    if observer.wants_run_events() {
        observer.escalated(id, trim(run.task_id()), tier);
    }
}

fn pair_ids<'a, R: RunView, S: SessionView>(runs: &'a [R], sessions: &'a [S], ri: u32, si: u32) -> (&'a str, &'a str) {
    (trim(runs[ri as usize].run_id()), trim(sessions[si as usize].session_id()))
}
