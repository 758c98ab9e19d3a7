//! The world the fault-injection tests (`faults_*.rs`) run in: testkit fakes wired to a
//! scheduler with every seam, a store that logs its writes, an actor that really moves
//! marked runs to `needs_attention`, a waker that can return a short batch, and gates
//! that make any seam call return `Pending` once (to drop a cycle mid-way).
//!
//! The workload climbs to quiescence in a few cycles: every claimable run starves, fans
//! out, climbs the ladder and is marked `needs_attention`; then the store is empty.

#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use scheduler_core::clock::Clock;
use scheduler_core::ladder::{Budget, Thresholds, Tier};
use scheduler_core::model::{Priority, RunStatus};
use scheduler_core::seam::{
    EscalationActor, MarkOutcome, PauseStore, Recovery, SessionSource, SpawnOutcome, StarvationStore, TaskSource,
    WakeBatch, WakeTarget, Waker,
};
use scheduler_core::view::{RunView, SessionView};
use scheduler_core::{Outcome, Scheduler, Stats};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::escalation::{EscalationCall, RecordingActor};
use scheduler_testkit::fault::{FakeError, Faults, YieldOnce};
use scheduler_testkit::invariants::{
    Counts, CycleInput, CycleLog, LadderCycle, LadderMonitor, LostWrites, ObservedCycle, Violation, WakeHistory,
    check_cycle,
};
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::snapshot::{ActiveRun, RecoveredLease, RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore, SmolStr};
use scheduler_testkit::waker::{RecordingWaker, WakeRecord};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub const START: u64 = 1_700_000_000;
pub const STEP: Duration = Duration::from_secs(61);
pub const COOLDOWN: Duration = Duration::from_secs(60);

pub fn start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(START)
}

// ---------------------------------------------------------------------------------
// Gates: make the n-th call of an operation return `Pending` once.

/// Which call of which operation yields once, shared by every gated seam.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<Mutex<GateInner>>);

#[derive(Debug, Default)]
struct GateInner {
    calls: BTreeMap<&'static str, u64>,
    armed: Option<(&'static str, u64)>,
    fired: bool,
}

impl Gate {
    /// The `n`-th call of `op` from now on yields once.
    pub fn arm(&self, op: &'static str, n: u64) {
        let mut g = lock(&self.0);
        let so_far = g.calls.get(op).copied().unwrap_or(0);
        g.armed = Some((op, so_far + n));
        g.fired = false;
    }

    /// Whether the armed call was reached.
    pub fn fired(&self) -> bool {
        lock(&self.0).fired
    }

    pub fn disarm(&self) {
        lock(&self.0).armed = None;
    }

    fn pass(&self, op: &'static str) -> YieldOnce {
        let mut g = lock(&self.0);
        let n = g.calls.entry(op).or_default();
        *n += 1;
        let n = *n;
        if g.armed == Some((op, n)) {
            g.fired = true;
            g.armed = None;
            YieldOnce::pending()
        } else {
            YieldOnce::ready()
        }
    }
}

// ---------------------------------------------------------------------------------
// Seams: the testkit fakes behind gates, with logs.

#[derive(Debug, Clone)]
pub struct Tasks {
    pub inner: ScriptedTasks,
    pub gate: Gate,
}

impl TaskSource for Tasks {
    type Run = <ScriptedTasks as TaskSource>::Run;
    type ActiveRun = <ScriptedTasks as TaskSource>::ActiveRun;
    type Recovered = <ScriptedTasks as TaskSource>::Recovered;
    type Error = FakeError;

    async fn recover_expired_leases(&self, r: Recovery<'_>, out: &mut Vec<Self::Recovered>) -> Result<(), FakeError> {
        self.gate.pass("recover_expired_leases").await;
        self.inner.recover_expired_leases(r, out).await
    }
    async fn pending_runs(&self, out: &mut Vec<Self::Run>) -> Result<(), FakeError> {
        self.gate.pass("pending_runs").await;
        self.inner.pending_runs(out).await
    }
    async fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> Result<(), FakeError> {
        self.gate.pass("active_runs").await;
        self.inner.active_runs(out).await
    }
    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, FakeError> {
        self.gate.pass("run_status").await;
        self.inner.run_status(run_id).await
    }
    async fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, FakeError>>,
    ) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.gate.pass("run_statuses").await;
        self.inner.run_statuses(run_ids, out).await
    }
}

#[derive(Debug, Clone)]
pub struct Sessions {
    pub inner: ScriptedSessions,
    pub gate: Gate,
}

impl SessionSource for Sessions {
    type Session = <ScriptedSessions as SessionSource>::Session;
    type Error = FakeError;
    async fn sessions(&self, out: &mut Vec<Self::Session>) -> Result<(), FakeError> {
        self.gate.pass("sessions").await;
        self.inner.sessions(out).await
    }
}

/// A recording waker (single or batch) that can return one result short, once.
#[derive(Debug, Clone)]
pub struct Wake {
    pub inner: RecordingWaker,
    pub batch: bool,
    pub short_once: Arc<AtomicBool>,
    pub gate: Gate,
}

impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for Wake {
    type Error = FakeError;

    async fn wake(&self, t: WakeTarget<'_, R, S>) -> Result<(), FakeError> {
        self.gate.pass("wake").await;
        self.inner.wake(t).await
    }

    async fn wake_batch<'a>(&'a self, batch: WakeBatch<'a, R, S>, out: &'a mut Vec<Result<(), FakeError>>)
    where
        R: Sync,
        S: Sync,
    {
        if self.batch {
            self.gate.pass("wake_batch").await;
            self.inner.wake_batch(batch, out).await;
        } else {
            for t in batch.iter() {
                let r = self.wake(t).await;
                out.push(r);
            }
        }
        if self.short_once.swap(false, Ordering::SeqCst) {
            out.pop();
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pause {
    pub inner: MemoryPauseStore,
    pub gate: Gate,
}

impl PauseStore for Pause {
    type Error = FakeError;
    async fn is_paused(&self) -> Result<bool, FakeError> {
        self.gate.pass("is_paused").await;
        self.inner.is_paused().await
    }
}

/// One store write attempt: operation, run id, whether it landed.
pub type Write = (&'static str, String, bool);

/// The in-memory store, logging every write attempt.
#[derive(Debug, Clone)]
pub struct Store {
    pub inner: MemoryStarvationStore,
    pub writes: Arc<Mutex<Vec<Write>>>,
    pub gate: Gate,
}

impl Store {
    fn log(&self, op: &'static str, ids: &[String], results: &[Result<(), FakeError>]) {
        let mut w = lock(&self.writes);
        for (i, id) in ids.iter().enumerate() {
            w.push((op, id.clone(), results.get(i).is_some_and(Result::is_ok)));
        }
    }

    pub fn writes(&self) -> Vec<Write> {
        lock(&self.writes).clone()
    }
}

impl StarvationStore for Store {
    type Key = SmolStr;
    type Error = FakeError;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, FakeError> {
        self.inner.load(run_id).await
    }
    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), FakeError> {
        let r = self.inner.upsert(run_id, budget).await;
        self.log("upsert", &[run_id.to_owned()], std::slice::from_ref(&r));
        r
    }
    async fn clear(&self, run_id: &str) -> Result<(), FakeError> {
        let r = self.inner.clear(run_id).await;
        self.log("clear", &[run_id.to_owned()], std::slice::from_ref(&r));
        r
    }
    async fn list(&self, out: &mut Vec<(SmolStr, Budget)>) -> Result<(), FakeError> {
        self.gate.pass("list").await;
        self.inner.list(out).await
    }
    async fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, FakeError>>,
    ) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.gate.pass("load_many").await;
        self.inner.load_many(run_ids, out).await
    }
    async fn upsert_many<'a, I>(&'a self, rows: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        self.gate.pass("upsert_many").await;
        let rows: Vec<(&'a str, &'a Budget)> = rows.collect();
        let ids: Vec<String> = rows.iter().map(|(id, _)| (*id).to_owned()).collect();
        let before = out.len();
        let r = self.inner.upsert_many(rows.into_iter(), out).await;
        let results: Vec<Result<(), FakeError>> =
            if r.is_ok() { out[before..].to_vec() } else { ids.iter().map(|_| r.clone()).collect() };
        self.log("upsert", &ids, &results);
        r
    }
    async fn clear_many<'a, I>(&'a self, run_ids: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.gate.pass("clear_many").await;
        let ids: Vec<&'a str> = run_ids.collect();
        let owned: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        let before = out.len();
        let r = self.inner.clear_many(ids.into_iter(), out).await;
        let results: Vec<Result<(), FakeError>> =
            if r.is_ok() { out[before..].to_vec() } else { owned.iter().map(|_| r.clone()).collect() };
        self.log("clear", &owned, &results);
        r
    }
}

/// The recording actor; a successful mark really moves the run to `needs_attention`.
#[derive(Debug, Clone)]
pub struct Actor {
    pub inner: RecordingActor,
    pub tasks: ScriptedTasks,
    pub marked: Arc<Mutex<BTreeSet<String>>>,
    pub gate: Gate,
}

impl<R: RunView + Sync> EscalationActor<R> for Actor {
    type Error = FakeError;

    async fn request_spawn(&self, run: &R, now: SystemTime) -> Result<SpawnOutcome, FakeError> {
        self.gate.pass("request_spawn").await;
        EscalationActor::<R>::request_spawn(&self.inner, run, now).await
    }
    async fn emit_starved(&self, run: &R, age: Duration, now: SystemTime) -> Result<(), FakeError> {
        self.gate.pass("emit_starved").await;
        EscalationActor::<R>::emit_starved(&self.inner, run, age, now).await
    }
    async fn mark_needs_attention(&self, run: &R, diagnostic: &str, now: SystemTime) -> Result<MarkOutcome, FakeError> {
        self.gate.pass("mark_needs_attention").await;
        let r = EscalationActor::<R>::mark_needs_attention(&self.inner, run, diagnostic, now).await;
        if let Ok(MarkOutcome::Marked) = r {
            let id = run.run_id().trim();
            self.tasks.remove_pending(id);
            self.tasks.set_status(id, Some(RunStatus::NeedsAttention));
            lock(&self.marked).insert(id.to_owned());
        }
        r
    }
}

pub type Sched = Scheduler<Tasks, Sessions, Wake, FakeClock, Pause, Store, Actor, CycleLog>;

// ---------------------------------------------------------------------------------
// The world.

/// Every fault operation, with the fake that consults it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seam {
    Tasks,
    Sessions,
    Waker,
    Pause,
    Store,
    Actor,
}

pub const FAULT_OPS: &[(Seam, &str)] = &[
    (Seam::Tasks, "recover_expired_leases"),
    (Seam::Tasks, "pending_runs"),
    (Seam::Tasks, "active_runs"),
    (Seam::Tasks, "run_statuses"),
    (Seam::Tasks, "run_status"),
    (Seam::Sessions, "sessions"),
    (Seam::Waker, "wake"),
    (Seam::Waker, "wake_batch"),
    (Seam::Pause, "is_paused"),
    (Seam::Store, "load_many"),
    (Seam::Store, "load"),
    (Seam::Store, "upsert_many"),
    (Seam::Store, "upsert"),
    (Seam::Store, "clear_many"),
    (Seam::Store, "clear"),
    (Seam::Store, "list"),
    (Seam::Actor, "request_spawn"),
    (Seam::Actor, "emit_starved"),
    (Seam::Actor, "mark_needs_attention"),
];

/// What one cycle did, owned.
#[derive(Debug, Clone)]
pub struct CycleRecord {
    pub now: SystemTime,
    pub outcome: Outcome,
    pub counts: Counts,
    /// Injected failures found among the errors (one per error that has one).
    pub faults: Vec<FakeError>,
    /// Errors without an injected failure as their source, rendered.
    pub other_errors: Vec<String>,
    pub recovered: Vec<String>,
    pub wakes: Vec<WakeRecord>,
    /// Wake outcomes the observer was told of.
    pub observed_wakes: usize,
    pub delivered: Vec<(String, String)>,
    pub escalations: Vec<(String, Tier)>,
    pub actor_calls: Vec<EscalationCall>,
    pub writes: Vec<Write>,
    pub lost: LostWrites,
    pub violations: Vec<Violation>,
}

pub struct World {
    pub tasks: ScriptedTasks,
    pub sessions: ScriptedSessions,
    pub waker: RecordingWaker,
    pub short_once: Arc<AtomicBool>,
    pub pause: MemoryPauseStore,
    pub store: Store,
    pub actor: RecordingActor,
    pub log: CycleLog,
    pub clock: FakeClock,
    pub gate: Gate,
    pub marked: Arc<Mutex<BTreeSet<String>>>,
    pub scheduler: Sched,
    pub history: WakeHistory,
    pub ladder: LadderMonitor,
    pub cycles: Vec<CycleRecord>,
}

fn run_rows() -> Vec<RunSnapshot> {
    let s = |secs: u64| start() - Duration::from_secs(secs);
    vec![
        RunSnapshot::queued("fresh-a", "task-a").priority(Priority::High).queued_at(s(10)),
        RunSnapshot::queued("fresh-b", "task-b").workspace("ws-1").caps(["rust"]).queued_at(s(30)),
        RunSnapshot::queued("old-c", "task-c").priority(Priority::Low).caps(["go"]).queued_at(s(3600)),
        RunSnapshot::queued("old-d", "task-d").priority(Priority::Urgent).pool_owner("agent-z").queued_at(s(3600)),
        RunSnapshot::queued("fresh-f", "task-f").priority(Priority::Low).queued_at(s(5)),
        RunSnapshot::queued("blocked-e", "task-e").task_status(scheduler_core::model::TaskStatus::Blocked),
    ]
}

fn session_rows() -> Vec<SessionSnapshot> {
    let at = |n: u64| start() + Duration::from_secs(n);
    vec![
        SessionSnapshot::active("g1").caps(["rust", "go"]).created_at(at(1)),
        SessionSnapshot::active("g2").caps(["go"]).created_at(at(2)),
        SessionSnapshot::active("w1").workspace("ws-1").caps(["rust"]).created_at(at(3)),
        SessionSnapshot::active("busy1").created_at(at(4)),
        SessionSnapshot::active("g3").created_at(at(5)),
    ]
}

impl World {
    /// A fresh world; `batch` picks a batch or a one-by-one waker.
    pub fn new(batch: bool) -> Self {
        let tasks = ScriptedTasks::new();
        let sessions = ScriptedSessions::new();
        let waker = if batch { RecordingWaker::batch() } else { RecordingWaker::single() };
        let pause = MemoryPauseStore::new();
        let store = MemoryStarvationStore::new();
        let actor = RecordingActor::new();
        let log = CycleLog::new();
        let clock = FakeClock::new(start());
        let gate = Gate::default();
        let short_once = Arc::new(AtomicBool::new(false));
        let marked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
        tasks.set_pending(run_rows());
        tasks.set_active([ActiveRun::new("held", "busy1", RunStatus::Running)]);
        tasks.recover_next([RecoveredLease::new("lost-run", "dead-session")]);
        sessions.set(session_rows());
        // A stale budget of a run that no longer exists: reconcile must clear it.
        store.insert("ghost", Budget::fresh(start() - Duration::from_secs(3600)));
        let store = Store { inner: store, writes: Arc::default(), gate: gate.clone() };
        let scheduler = Scheduler::builder(
            Tasks { inner: tasks.clone(), gate: gate.clone() },
            Sessions { inner: sessions.clone(), gate: gate.clone() },
            Wake { inner: waker.clone(), batch, short_once: short_once.clone(), gate: gate.clone() },
        )
        .clock(clock.clone())
        .wake_cooldown(COOLDOWN)
        .starvation_thresholds(
            Thresholds::default()
                .fan_out_after(1)
                .spawn_after(2)
                .event_after(3)
                .needs_attention_after(5)
                .min_queued_age(Duration::from_secs(120)),
        )
        .pause_store(Pause { inner: pause.clone(), gate: gate.clone() })
        .starvation_store(store.clone())
        .escalation_actor(Actor {
            inner: actor.clone(),
            tasks: tasks.clone(),
            marked: marked.clone(),
            gate: gate.clone(),
        })
        .observer(log.clone())
        .build()
        .expect("valid settings");
        World {
            tasks,
            sessions,
            waker,
            short_once,
            pause,
            store,
            actor,
            log,
            clock,
            gate,
            marked,
            scheduler,
            history: WakeHistory::new(COOLDOWN),
            ladder: LadderMonitor::new(),
            cycles: Vec::new(),
        }
    }

    /// The fault plan of a seam.
    pub fn faults(&self, seam: Seam) -> &Faults {
        match seam {
            Seam::Tasks => self.tasks.faults(),
            Seam::Sessions => self.sessions.faults(),
            Seam::Waker => self.waker.faults(),
            Seam::Pause => self.pause.faults(),
            Seam::Store => self.store.inner.faults(),
            Seam::Actor => self.actor.faults(),
        }
    }

    /// No claimable run is left and every stored budget belongs to a run that is no
    /// longer queued (normally: none is stored).
    pub fn quiescent(&self) -> bool {
        let queued = self.queued_now();
        self.store.inner.rows().iter().all(|(id, _)| !queued.contains(id))
            && self.tasks_pending().iter().all(|r| !scheduler_core::eligibility::is_potentially_claimable(r))
    }

    /// The pending runs, read without going through the fault plan: the workload less
    /// the runs marked `needs_attention`.
    pub fn tasks_pending(&self) -> Vec<RunSnapshot> {
        let marked = lock(&self.marked);
        run_rows().into_iter().filter(|r| !marked.contains(&r.run_id)).collect()
    }

    /// Runs the ladder would read as `queued` (the actor only ever moves runs out).
    fn queued_now(&self) -> BTreeSet<String> {
        self.tasks_pending().into_iter().filter(|r| r.run_status == RunStatus::Queued).map(|r| r.run_id).collect()
    }

    /// Advances the clock one step and runs a cycle, checking every invariant.
    pub fn step(&mut self) -> &CycleRecord {
        self.clock.advance(STEP);
        self.cycle()
    }

    /// Runs a cycle at the current time, checking every invariant.
    pub fn cycle(&mut self) -> &CycleRecord {
        let queued = self.queued_now();
        let cooldown_before = self.scheduler.cooldown().clone();
        let wakes_before = self.waker.attempts().len();
        let writes_before = self.store.writes().len();
        let calls_before = self.actor.calls().len();
        let live_sessions: Vec<Arc<SessionSnapshot>> = session_rows().into_iter().map(Arc::new).collect();
        let active = [ActiveRun::new("held", "busy1", RunStatus::Running)];
        let now = self.clock.now();

        let report = futures::executor::block_on(self.scheduler.run_once());
        let outcome = report.outcome();
        let counts = Counts::from_cycle(report.counts());
        let read: Vec<_> = report.runs().to_vec();
        let no_match: Vec<String> = report.no_match_run_ids().map(str::to_owned).collect();
        let starved: Vec<String> = report.starved_run_ids().map(str::to_owned).collect();
        let recovered: Vec<String> = report.recovered_run_ids().map(str::to_owned).collect();
        let lost = LostWrites::from_errors(report.errors());
        let mut faults = Vec::new();
        let mut other_errors = Vec::new();
        for e in report.errors() {
            match std::error::Error::source(e).and_then(|s| s.downcast_ref::<FakeError>()) {
                Some(f) => faults.push(f.clone()),
                None => other_errors.push(e.to_string()),
            }
        }

        let wakes = self.waker.attempts()[wakes_before..].to_vec();
        let logged = self.log.take_wakes();
        let observed_wakes = logged.len();
        // A wrong-length batch fails every target without telling the observer.
        let triples: Vec<(String, String, bool)> = if logged.len() == wakes.len() {
            logged
        } else {
            wakes.iter().map(|w| (w.run_id.clone(), w.session_id.clone(), false)).collect()
        };
        let delivered = triples.iter().filter(|w| w.2).map(|w| (w.0.clone(), w.1.clone())).collect();
        let mut violations = Vec::new();
        match ObservedCycle::resolve(
            &read,
            &live_sessions,
            outcome,
            counts,
            &triples,
            no_match.iter().map(String::as_str),
            starved.iter().map(String::as_str),
        ) {
            Ok(observed) => {
                let input = CycleInput {
                    runs: &read,
                    active: &active,
                    sessions: &live_sessions,
                    now,
                    min_queued_age: self.scheduler.settings().thresholds().min_queued_age,
                    wake_cooldown: COOLDOWN,
                    cooldown_before: &cooldown_before,
                };
                let output = observed.output(Some(self.scheduler.cooldown()));
                violations.extend(check_cycle(input, &output));
                violations.extend(self.history.observe(input, &output));
            }
            Err(v) => violations.push(v),
        }
        let fired = self.log.take_escalations();
        let starved_ids: Vec<&str> = starved.iter().map(String::as_str).collect();
        violations.extend(self.ladder.observe(
            LadderCycle { outcome, starved: &starved_ids, fired: &fired, lost_writes: &lost },
            |id| queued.contains(id),
            |id| self.store.inner.get(id),
        ));
        self.cycles.push(CycleRecord {
            now,
            outcome,
            counts,
            faults,
            other_errors,
            recovered,
            wakes,
            observed_wakes,
            delivered,
            escalations: fired.into_iter().map(|e| (e.run_id, e.tier)).collect(),
            actor_calls: self.actor.calls()[calls_before..].to_vec(),
            writes: self.store.writes()[writes_before..].to_vec(),
            lost,
            violations,
        });
        self.cycles.last().expect("just pushed")
    }

    /// Steps until quiescent (at most `max` cycles); returns the cycles run.
    pub fn run_to_quiescence(&mut self, max: usize) -> usize {
        for n in 1..=max {
            self.step();
            if self.quiescent() {
                return n;
            }
        }
        panic!("no quiescence within {max} cycles; store {:?}", self.store.inner.rows());
    }

    pub fn stats(&self) -> Stats {
        self.scheduler.stats()
    }

    /// The state a run converges to, independent of how many cycles it took.
    pub fn final_state(&self) -> FinalState {
        let mut successes: BTreeMap<(String, u8), usize> = BTreeMap::new();
        for c in &self.cycles {
            for (run, tier) in &c.escalations {
                *successes.entry((run.clone(), tier.as_u8())).or_default() += 1;
            }
        }
        let stats = self.stats();
        FinalState {
            store_rows: self.store.inner.rows(),
            pending: self.tasks_pending().into_iter().map(|r| r.run_id).collect(),
            escalations: successes,
            recovered: self.cycles.iter().flat_map(|c| c.recovered.iter().cloned()).collect(),
            recovered_leases: stats.recovered_leases,
            spawns_requested: stats.spawns_requested,
            needs_attention: stats.needs_attention_runs,
        }
    }
}

/// What a run of the world converges to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalState {
    pub store_rows: Vec<(String, Budget)>,
    pub pending: Vec<String>,
    /// Successful escalations per (run, tier number).
    pub escalations: BTreeMap<(String, u8), usize>,
    pub recovered: Vec<String>,
    pub recovered_leases: u64,
    pub spawns_requested: u64,
    pub needs_attention: u64,
}

/// Polls a future exactly once with a no-op waker; `None` if it was pending (the
/// future is then dropped by the caller).
pub fn poll_once<F: Future>(f: F) -> Option<F::Output> {
    let waker = futures::task::noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
