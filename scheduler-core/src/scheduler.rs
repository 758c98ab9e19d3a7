//! The scheduler and its cycle: the only code that awaits the seams.

use std::time::SystemTime;

use crate::clock::{Clock, SystemClock};
use crate::cooldown::Cooldown;
use crate::error::{BatchStep, Error};
use crate::ladder::{Budget, Tier, queued_age, write_diagnostic};
use crate::model::RunStatus;
use crate::observer::{NoopObserver, Observer};
use crate::report::{CycleCounts, CycleReport, Outcome, RebuildReport};
use crate::seam::{
    EscalationActor, MarkOutcome, NoEscalation, NoPauseStore, NoStarvationStore, PauseStore, Recovery, SessionSource,
    SpawnOutcome, StarvationStore, TaskSource, WakeBatch, Waker,
};
use crate::selection::table::{Seed, StrTable};
use crate::selection::{Selection, SelectionInput, trim};
use crate::settings::{Builder, Settings};
use crate::stats::{Stats, StatsHandle};
use crate::view::{RecoveredView, RunView, SessionView};

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
pub type SchedulerReport<'a, T, S, W, P = NoPauseStore, B = NoStarvationStore, A = NoEscalation> =
    CycleReport<'a, <T as TaskSource>::Run, <T as TaskSource>::Recovered, SchedulerError<T, S, W, P, B, A>>;

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
    climbing: Vec<u32>,
    advanced: Vec<(u32, Budget)>,
    spawn_requested: Vec<u32>,
    needs_attention: Vec<u32>,
    clears: Vec<ClearItem>,
    listed: Vec<(B::Key, Budget)>,
    reconcile: Vec<u32>,
    candidates_by_id: Vec<u32>,
    candidate_ids: StrTable,
    seed: Seed,
    diagnostic: String,
    errors: Vec<E>,
}

/// A budget to clear: a pending run's (by index) or a listed row's (by index).
#[derive(Clone, Copy)]
enum ClearItem {
    Run(u32),
    Listed(u32),
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
            spawn_requested: Vec::new(),
            needs_attention: Vec::new(),
            clears: Vec::new(),
            listed: Vec::new(),
            reconcile: Vec::new(),
            candidates_by_id: Vec::new(),
            candidate_ids: StrTable::default(),
            seed: Seed::default(),
            diagnostic: String::new(),
            errors: Vec::new(),
        }
    }
}

impl<T: TaskSource, S: SessionSource, W: Waker<T::Run, S::Session>, B: StarvationStore, E> Buffers<T, S, W, B, E> {
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
        self.spawn_requested.clear();
        self.needs_attention.clear();
        self.clears.clear();
        self.listed.clear();
        self.reconcile.clear();
        self.candidates_by_id.clear();
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
            buf: Buffers::default(),
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

    /// Runs one cycle: sweep expired leases, read snapshots, honour the pause, select,
    /// wake, climb the ladder, record statistics (behaviour section 2).
    ///
    /// Errors do not stop the cycle unless a snapshot read fails; every error met is in
    /// the report. The report borrows the scheduler's reused buffers.
    ///
    /// # Cancellation
    ///
    /// Dropping the future mid-cycle is safe: the next cycle starts from clean buffers,
    /// and durable state (budgets, run statuses) is only changed through the seams, so a
    /// retry converges. It is not *exactly-once*, though: a cycle dropped after it began
    /// waking loses its statistics (they are recorded when the cycle ends) and records no
    /// cooldown for the wakes it delivered, so the retry may deliver them again (wakes
    /// are advisory, so a repeat is harmless), and escalations already requested before
    /// the budget save may be requested again. The background loop never drops a cycle.
    pub async fn run_once(&mut self) -> SchedulerReport<'_, T, S, W, P, B, A> {
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument as _;
            let span = tracing::info_span!(target: "scheduler", "scheduler.cycle");
            let (outcome, now, counts) = self.cycle().instrument(span).await;
            self.report(outcome, now, counts)
        }
        #[cfg(not(feature = "tracing"))]
        {
            let (outcome, now, counts) = self.cycle().await;
            self.report(outcome, now, counts)
        }
    }

    fn report(&self, outcome: Outcome, now: SystemTime, counts: CycleCounts) -> SchedulerReport<'_, T, S, W, P, B, A> {
        let b = &self.buf;
        CycleReport {
            now,
            outcome,
            counts,
            runs: &b.runs,
            recovered: &b.recovered,
            selected: &b.selected,
            no_match: b.selection.no_match(),
            starved: b.selection.starved(),
            spawn_requested: &b.spawn_requested,
            needs_attention: &b.needs_attention,
            errors: &b.errors,
        }
    }

    async fn cycle(&mut self) -> (Outcome, SystemTime, CycleCounts) {
        let now = self.clock.now();
        self.observer.cycle_started(now);
        self.buf.reset();
        let mut counts = CycleCounts::default();

        // 1. Lease sweep: runs even when paused; its failure does not stop the cycle.
        self.sweep(now, &mut counts).await;

        // 2. Snapshots, read concurrently; any failure ends the cycle uncounted.
        if !self.read_snapshots(&mut counts).await {
            self.selection_reset();
            return self.finish(Outcome::SnapshotFailed, now, counts, false);
        }

        // 3. Pause, failing closed on an unreadable flag.
        if let Some(pause) = &self.pause {
            match pause.is_paused().await {
                Ok(false) => {}
                Ok(true) => {
                    counts.paused = true;
                    self.selection_reset();
                    return self.finish(Outcome::Paused, now, counts, true);
                }
                Err(e) => {
                    counts.paused = true;
                    self.buf.errors.push(Error::Pause(e));
                    self.selection_reset();
                    return self.finish(Outcome::PauseUnreadable, now, counts, true);
                }
            }
        }

        // 4. Selection (pure).
        self.select(now, &mut counts);

        // 5. Dispatch.
        self.dispatch(now, &mut counts).await;

        // 6. Convergence ladder.
        if self.store.is_some() && self.actor.is_some() {
            self.climb_ladder(now, &mut counts).await;
        }

        // 7. Record.
        self.finish(Outcome::Completed, now, counts, true)
    }

    fn finish(
        &mut self,
        outcome: Outcome,
        now: SystemTime,
        counts: CycleCounts,
        counted: bool,
    ) -> (Outcome, SystemTime, CycleCounts) {
        if counted {
            self.stats.record_cycle(now, &counts);
        }
        for e in &self.buf.errors {
            self.observer.cycle_error(e);
        }
        self.observer.cycle_finished(&counts);
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
                min_queued_age: std::time::Duration::ZERO,
            },
            |_, _| false,
        );
    }

    async fn sweep(&mut self, now: SystemTime, counts: &mut CycleCounts) {
        let request = Recovery {
            now,
            reason: &self.settings.sweep_reason,
            limit: self.settings.sweep_limit,
            actor: &self.settings.actor,
        };
        let b = &mut self.buf;
        match self.tasks.recover_expired_leases(request, &mut b.recovered).await {
            Ok(()) => {
                counts.recovered_leases = b.recovered.len();
                self.stats.record_recovered(b.recovered.len());
                for r in &b.recovered {
                    self.observer.lease_recovered(r.run_id().trim(), r.previous_session_id().trim());
                }
            }
            Err(e) => {
                b.recovered.clear();
                self.stats.record_recovery_error(&format_args!("expired-lease sweep failed: {e}"));
                b.errors.push(Error::Sweep(e));
            }
        }
    }

    async fn read_snapshots(&mut self, counts: &mut CycleCounts) -> bool {
        let b = &mut self.buf;
        let (runs, active, sessions) = futures::join!(
            self.tasks.pending_runs(&mut b.runs),
            self.tasks.active_runs(&mut b.active),
            self.sessions.sessions(&mut b.sessions),
        );
        let mut ok = true;
        if let Err(e) = runs {
            b.errors.push(Error::PendingRuns(e));
            ok = false;
        }
        if let Err(e) = active {
            b.errors.push(Error::ActiveRuns(e));
            ok = false;
        }
        if let Err(e) = sessions {
            b.errors.push(Error::Sessions(e));
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
        counts.unclaimable_runs = sel.unclaimable;
        counts.recently_notified = sel.recently_notified;
        counts.no_match_runs = b.selection.no_match().len();
        counts.starved_runs = b.selection.starved().len();
        for &ri in b.selection.starved() {
            let run = &b.runs[ri as usize];
            self.observer.run_starved(trim(run.run_id()), trim(run.task_id()), queued_age(now, run.queued_at()));
        }
    }

    async fn dispatch(&mut self, now: SystemTime, counts: &mut CycleCounts) {
        let b = &mut self.buf;
        let targets = b.selection.targets();
        counts.wake_attempts = targets.len();
        if !targets.is_empty() {
            let batch = WakeBatch::new(&b.runs, &b.sessions, targets, &self.settings.wake_reason);
            self.waker.wake_batch(batch, &mut b.wake_results).await;
            let (expected, actual) = (targets.len(), b.wake_results.len());
            if expected != actual {
                for &(ri, si) in targets {
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
            for (&(ri, si), result) in targets.iter().zip(b.wake_results.drain(..)) {
                let (run_id, session_id) = pair_ids(&b.runs, &b.sessions, ri, si);
                match result {
                    Ok(()) => {
                        counts.wake_succeeded += 1;
                        b.selected.push(ri);
                        self.cooldown.record(run_id, session_id, now);
                        self.observer.wake_sent(run_id, session_id);
                    }
                    Err(source) => {
                        counts.wake_failed += 1;
                        self.observer.wake_failed(run_id, session_id, &source);
                        self.stats.record_wake_error(&format_args!(
                            "waking session {session_id:?} for run {run_id:?} failed: {source}"
                        ));
                        b.errors.push(Error::Wake {
                            run_id: run_id.to_owned(),
                            session_id: session_id.to_owned(),
                            source,
                        });
                    }
                }
            }
        }
        if self.cooldown.is_enabled() {
            self.cooldown.prune(now);
        }
    }

    async fn climb_ladder(&mut self, now: SystemTime, counts: &mut CycleCounts) {
        let (Some(store), Some(actor)) = (&self.store, &self.actor) else {
            return;
        };
        let th = self.settings.thresholds;
        let b = &mut self.buf;
        let runs = &b.runs;
        let candidates = b.selection.starved();
        let run_id = |i: u32| trim(runs[i as usize].run_id());
        // Size the per-candidate lists for the worst case up front, so that a tier
        // firing for the first time in a later cycle does not allocate.
        b.spawn_requested.reserve(candidates.len());
        b.needs_attention.reserve(candidates.len());
        b.clears.reserve(candidates.len());

        // Re-read every candidate's status in one batch.
        if !candidates.is_empty() {
            let result = self.tasks.run_statuses(candidates.iter().map(|&i| run_id(i)), &mut b.statuses).await;
            if let Some(results) = check_batch(
                result,
                &mut b.statuses,
                candidates.len(),
                &mut b.errors,
                |runs, source| Error::RunStatusBatch { runs, source },
                BatchStep::RunStatuses,
            ) {
                for (&ri, status) in candidates.iter().zip(results) {
                    match status {
                        Ok(Some(RunStatus::Queued)) => b.climbing.push(ri),
                        Ok(Some(RunStatus::NeedsAttention)) => {}
                        Ok(_) => b.clears.push(ClearItem::Run(ri)),
                        Err(source) => b.errors.push(Error::RunStatus { run_id: run_id(ri).to_owned(), source }),
                    }
                }
            }
        }

        // Load the budgets of the runs still queued, in one batch, and advance them.
        if !b.climbing.is_empty() {
            let result = store.load_many(b.climbing.iter().map(|&i| run_id(i)), &mut b.loaded).await;
            if let Some(results) = check_batch(
                result,
                &mut b.loaded,
                b.climbing.len(),
                &mut b.errors,
                |runs, source| Error::StoreBatch { step: BatchStep::LoadBudgets, runs, source },
                BatchStep::LoadBudgets,
            ) {
                for (&ri, loaded) in b.climbing.iter().zip(results) {
                    match loaded {
                        Ok(previous) => b.advanced.push((ri, Budget::advance(previous.as_ref(), now, &th))),
                        Err(source) => b.errors.push(Error::LoadBudget { run_id: run_id(ri).to_owned(), source }),
                    }
                }
            }
        }

        // Escalate, run by run, in selection order.
        let mut keep = 0;
        for k in 0..b.advanced.len() {
            let (ri, mut budget) = b.advanced[k];
            let run = &runs[ri as usize];
            let (id, task_id) = (trim(run.run_id()), trim(run.task_id()));
            let mut cleared = false;
            if budget.spawn_due(&th) {
                match actor.request_spawn(run).await {
                    Ok(SpawnOutcome::Requested) => {
                        budget.spawn_requested_at = Some(now);
                        counts.spawn_requested += 1;
                        b.spawn_requested.push(ri);
                        self.observer.escalated(id, task_id, Tier::Spawn);
                    }
                    Ok(SpawnOutcome::Unresolvable) => {}
                    Err(source) => b.errors.push(Error::Spawn { run_id: id.to_owned(), source }),
                }
            }
            if budget.event_due(&th) {
                match actor.emit_starved(run, queued_age(now, run.queued_at())).await {
                    Ok(()) => {
                        budget.starved_event_at = Some(now);
                        self.observer.escalated(id, task_id, Tier::Event);
                    }
                    Err(source) => b.errors.push(Error::EmitStarved { run_id: id.to_owned(), source }),
                }
            }
            if budget.needs_attention_due(&th) {
                write_diagnostic(&mut b.diagnostic, queued_age(now, run.queued_at()), budget.wake_count);
                match actor.mark_needs_attention(run, &b.diagnostic).await {
                    Ok(MarkOutcome::Marked) => {
                        counts.needs_attention += 1;
                        b.needs_attention.push(ri);
                        self.observer.escalated(id, task_id, Tier::NeedsAttention);
                        cleared = true;
                    }
                    Ok(MarkOutcome::InvalidTransition) => cleared = true,
                    Err(source) => b.errors.push(Error::MarkNeedsAttention { run_id: id.to_owned(), source }),
                }
            }
            if cleared {
                b.clears.push(ClearItem::Run(ri));
            } else {
                b.advanced[keep] = (ri, budget);
                keep += 1;
            }
        }
        b.advanced.truncate(keep);

        // Save the advanced budgets in one batch.
        if !b.advanced.is_empty() {
            let advanced = &b.advanced;
            let result =
                store.upsert_many(advanced.iter().map(|(i, budget)| (run_id(*i), budget)), &mut b.written).await;
            if let Some(results) = check_batch(
                result,
                &mut b.written,
                advanced.len(),
                &mut b.errors,
                |runs, source| Error::StoreBatch { step: BatchStep::UpsertBudgets, runs, source },
                BatchStep::UpsertBudgets,
            ) {
                for ((ri, _), written) in advanced.iter().zip(results) {
                    if let Err(source) = written {
                        b.errors.push(Error::UpsertBudget { run_id: run_id(*ri).to_owned(), source });
                    }
                }
            }
        }

        // Reconcile: stored budgets of runs that were not candidates this cycle.
        match store.list(&mut b.listed).await {
            Err(source) => b.errors.push(Error::ListBudgets(source)),
            Ok(()) => {
                // The candidates' ids in a reused hash table (no sort, no allocation);
                // `candidates_by_id` maps its entries back to runs.
                b.candidate_ids.reset(candidates.len());
                for &i in candidates {
                    let reps = &b.candidates_by_id;
                    let (_, new) = b.candidate_ids.intern(b.seed, run_id(i), |e| run_id(reps[e as usize]) == run_id(i));
                    if new {
                        b.candidates_by_id.push(i);
                    }
                }
                let (ids, reps) = (&b.candidate_ids, &b.candidates_by_id);
                for (j, (key, _)) in b.listed.iter().enumerate() {
                    let key = trim(key.as_ref());
                    if ids.find(b.seed, key, |e| run_id(reps[e as usize]) == key).is_none() {
                        b.reconcile.push(j as u32);
                    }
                }
            }
        }
        if !b.reconcile.is_empty() {
            let listed = &b.listed;
            let key = |j: u32| listed[j as usize].0.as_ref().trim();
            b.statuses.clear();
            let result = self.tasks.run_statuses(b.reconcile.iter().map(|&j| key(j)), &mut b.statuses).await;
            if let Some(results) = check_batch(
                result,
                &mut b.statuses,
                b.reconcile.len(),
                &mut b.errors,
                |runs, source| Error::RunStatusBatch { runs, source },
                BatchStep::RunStatuses,
            ) {
                for (&j, status) in b.reconcile.iter().zip(results) {
                    match status {
                        Ok(Some(RunStatus::Queued | RunStatus::NeedsAttention)) => {}
                        Ok(_) => b.clears.push(ClearItem::Listed(j)),
                        Err(source) => b.errors.push(Error::RunStatus { run_id: key(j).to_owned(), source }),
                    }
                }
            }
        }

        // Clear, in one batch, every budget this cycle decided to drop.
        if !b.clears.is_empty() {
            let listed = &b.listed;
            let clear_id = |c: &ClearItem| match *c {
                ClearItem::Run(i) => run_id(i),
                ClearItem::Listed(j) => listed[j as usize].0.as_ref().trim(),
            };
            b.written.clear();
            // A fresh closure, so the ids lent to the store need not outlive this call.
            #[allow(clippy::redundant_closure)]
            let ids = b.clears.iter().map(|c| clear_id(c));
            let result = store.clear_many(ids, &mut b.written).await;
            if let Some(results) = check_batch(
                result,
                &mut b.written,
                b.clears.len(),
                &mut b.errors,
                |runs, source| Error::StoreBatch { step: BatchStep::ClearBudgets, runs, source },
                BatchStep::ClearBudgets,
            ) {
                for (c, cleared) in b.clears.iter().zip(results) {
                    if let Err(source) = cleared {
                        b.errors.push(Error::ClearBudget { run_id: clear_id(c).to_owned(), source });
                    }
                }
            }
        }
    }
}

/// Checks a batch call: a whole-batch failure or a wrong result count becomes one error
/// (and `None`); otherwise the per-item results are handed out, leaving `results` empty.
fn check_batch<'r, X, SE, E>(
    result: Result<(), SE>,
    results: &'r mut Vec<X>,
    expected: usize,
    errors: &mut Vec<E>,
    whole: impl FnOnce(usize, SE) -> E,
    step: BatchStep,
) -> Option<std::vec::Drain<'r, X>>
where
    E: FromBatchLength,
{
    match result {
        Err(source) => {
            results.clear();
            errors.push(whole(expected, source));
            None
        }
        Ok(()) if results.len() != expected => {
            errors.push(E::batch_length(step, expected, results.len()));
            results.clear();
            None
        }
        Ok(()) => Some(results.drain(..)),
    }
}

trait FromBatchLength {
    fn batch_length(step: BatchStep, expected: usize, actual: usize) -> Self;
}

impl<TE, SE, WE, PE, BE, AE> FromBatchLength for Error<TE, SE, WE, PE, BE, AE> {
    fn batch_length(step: BatchStep, expected: usize, actual: usize) -> Self {
        Error::BatchLength { step, expected, actual }
    }
}

fn pair_ids<'a, R: RunView, S: SessionView>(runs: &'a [R], sessions: &'a [S], ri: u32, si: u32) -> (&'a str, &'a str) {
    (trim(runs[ri as usize].run_id()), trim(sessions[si as usize].session_id()))
}
