//! A deterministic soak: the scheduler on a fake clock over the testkit's in-memory task
//! service and session registry, with random arrivals, claims, completions, crashes,
//! session churn, pauses, rebuilds and injected faults, all drawn from one seed, and
//! every invariant of [`scheduler_testkit::invariants`] checked after every cycle.
//!
//! The same [`run`] drives the `soak` example (a million cycles by default) and a
//! short test in CI.
//!
//! ```
//! use scheduler_examples::soak::{run, SoakConfig};
//! let report = run(&SoakConfig { cycles: 300, ..SoakConfig::default() }, |_| {});
//! assert_eq!(report.cycles, 300);
//! assert!(report.is_clean(), "{:#?}", report.violations);
//! ```
//!
//! Memory stays bounded by design: the waker's records, the observer's log and the
//! fault plans are emptied every cycle; the checkers prune what they remember; and the
//! task service, which keeps finished runs forever, is *rotated* every
//! [`SoakConfig::rotate_every`] cycles: a fresh service takes over the queued runs (as
//! after a restart that lost its leases: leased runs vanish, their workers drop them).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use scheduler_core::clock::Clock;
use scheduler_core::cooldown::Cooldown;
use scheduler_core::model::{Priority, RunStatus, SessionState, TaskStatus};
use scheduler_core::seam::{EscalationActor, MarkOutcome, Recovery, SpawnOutcome, TaskSource};
use scheduler_core::view::RunView;
use scheduler_core::{Error, Outcome, Scheduler};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::fault::{FakeError, Faults};
use scheduler_testkit::invariants::{
    Counts, CycleInput, CycleLog, LadderCycle, LadderMonitor, LostWrites, ObservedCycle, Violation, WakeHistory,
    check_cycle,
};
use scheduler_testkit::registry::{MemorySessions, RegistryError};
use scheduler_testkit::service::{ClaimRequest, ClaimToken, LeaseError, MemoryTaskService, RecoveredRun};
use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot, SessionSnapshot};
use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};
use scheduler_testkit::waker::RecordingWaker;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What to soak, and how hard.
#[derive(Debug, Clone, PartialEq)]
pub struct SoakConfig {
    /// Cycles to run.
    pub cycles: u64,
    /// The seed every random choice is drawn from.
    pub seed: u64,
    /// Cycles before memory counts as warmed up (at least one service rotation).
    pub warmup: u64,
    /// Take a memory sample every this many cycles (0: only start, warm-up, end).
    pub sample_every: u64,
    /// Rotate the task service every this many cycles.
    pub rotate_every: u64,
    /// Probability that a cycle has one injected fault.
    pub fault_rate: f64,
    /// Probability that a run arrives in a cycle.
    pub arrival_rate: f64,
    /// Live sessions kept in the registry.
    pub sessions: usize,
    /// Check every invariant every cycle.
    pub check: bool,
    /// Keep at most this many violations in the report (all are counted).
    pub keep_violations: usize,
}

impl Default for SoakConfig {
    fn default() -> Self {
        SoakConfig {
            cycles: 1_000_000,
            seed: 1,
            warmup: 50_000,
            sample_every: 100_000,
            rotate_every: 10_000,
            fault_rate: 0.05,
            arrival_rate: 0.3,
            sessions: 16,
            check: true,
            keep_violations: 20,
        }
    }
}

/// The process's memory, from `/proc/self/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySample {
    /// The cycle the sample was taken after.
    pub cycle: u64,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Peak resident set size so far, KiB.
    pub hwm_kib: u64,
}

/// Reads the process's `VmRSS` and `VmHWM` (Linux only; `None` elsewhere).
pub fn memory(cycle: u64) -> Option<MemorySample> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].trim().trim_end_matches("kB").trim().parse().ok()
    };
    Some(MemorySample { cycle, rss_kib: field("VmRSS:")?, hwm_kib: field("VmHWM:")? })
}

/// What happened during a soak.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Runs enqueued.
    pub enqueued: u64,
    /// Claims won.
    pub claims: u64,
    /// Runs completed.
    pub completed: u64,
    /// Runs failed by their worker.
    pub failed: u64,
    /// Runs released back to the queue.
    pub released: u64,
    /// Workers that crashed holding a lease.
    pub crashed: u64,
    /// Leases recovered by the scheduler's sweep.
    pub recovered: u64,
    /// Wakes delivered.
    pub wakes: u64,
    /// Worker spawns requested.
    pub spawns: u64,
    /// Runs marked `needs_attention`.
    pub marked: u64,
    /// Faults injected that fired.
    pub faults: u64,
    /// Errors the cycles returned (all of them injected).
    pub errors: u64,
    /// Cycles paused (or failed closed).
    pub paused_cycles: u64,
    /// Service rotations.
    pub rotations: u64,
    /// Scheduler rebuilds.
    pub rebuilds: u64,
    /// Sessions replaced.
    pub session_churn: u64,
}

/// The result of a soak.
#[derive(Debug, Clone)]
pub struct SoakReport {
    /// Cycles run.
    pub cycles: u64,
    /// Wall time taken.
    pub elapsed: Duration,
    /// Every invariant violation (and unexpected error) counted.
    pub violation_count: u64,
    /// The first few, with the cycle they happened in.
    pub violations: Vec<(u64, Violation)>,
    /// What happened.
    pub tally: Tally,
    /// Memory at start, periodically, after warm-up and at the end, in order.
    pub memory: Vec<MemorySample>,
}

impl SoakReport {
    /// No violation and no unexpected error.
    pub fn is_clean(&self) -> bool {
        self.violation_count == 0
    }

    /// Cycles per second of wall time.
    pub fn cycles_per_second(&self) -> f64 {
        self.cycles as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

// ---------------------------------------------------------------------------------
// Seams over swappable services.

/// What the scheduler read in the current cycle (for the checks).
#[derive(Debug, Default)]
struct Seen {
    /// The active runs it read (after its sweep).
    active: Vec<Arc<ActiveRun>>,
    /// The statuses it re-read for the ladder.
    statuses: HashMap<String, Option<RunStatus>>,
}

/// The task service the scheduler reads, swappable for rotation.
#[derive(Debug, Clone)]
struct Tasks {
    service: Arc<Mutex<MemoryTaskService>>,
    seen: Arc<Mutex<Seen>>,
}

impl Tasks {
    fn get(&self) -> MemoryTaskService {
        lock(&self.service).clone()
    }
}

impl TaskSource for Tasks {
    type Run = Arc<RunSnapshot>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = RecoveredRun;
    type Error = LeaseError;

    async fn recover_expired_leases(&self, r: Recovery<'_>, out: &mut Vec<RecoveredRun>) -> Result<(), LeaseError> {
        self.get().recover_expired_leases(r, out).await
    }
    async fn pending_runs(&self, out: &mut Vec<Arc<RunSnapshot>>) -> Result<(), LeaseError> {
        self.get().pending_runs(out).await
    }
    async fn active_runs(&self, out: &mut Vec<Arc<ActiveRun>>) -> Result<(), LeaseError> {
        self.get().active_runs(out).await?;
        let mut seen = lock(&self.seen);
        seen.active.clear();
        seen.active.extend(out.iter().cloned());
        Ok(())
    }
    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, LeaseError> {
        let status = self.get().run_status(run_id).await?;
        lock(&self.seen).statuses.insert(run_id.to_owned(), status);
        Ok(status)
    }
}

/// Escalates through the task service: spawns are "requested" (counted), events are
/// emitted (counted), marks really move the run to `needs_attention`.
#[derive(Debug, Clone)]
struct Actor {
    tasks: Tasks,
    faults: Faults,
}

impl<R: RunView + Sync> EscalationActor<R> for Actor {
    type Error = LeaseError;

    async fn request_spawn(&self, _run: &R, _now: SystemTime) -> Result<SpawnOutcome, LeaseError> {
        self.faults.check("request_spawn")?;
        Ok(SpawnOutcome::Requested)
    }
    async fn emit_starved(&self, _run: &R, _age: Duration, _now: SystemTime) -> Result<(), LeaseError> {
        self.faults.check("emit_starved")?;
        Ok(())
    }
    async fn mark_needs_attention(
        &self,
        run: &R,
        diagnostic: &str,
        now: SystemTime,
    ) -> Result<MarkOutcome, LeaseError> {
        self.faults.check("mark_needs_attention")?;
        match self.tasks.get().mark_needs_attention(run.run_id(), diagnostic, now) {
            Ok(()) => Ok(MarkOutcome::Marked),
            Err(LeaseError::InvalidTransition { .. }) => Ok(MarkOutcome::InvalidTransition),
            Err(e) => Err(e),
        }
    }
}

type Sched = Scheduler<
    Tasks,
    MemorySessions,
    RecordingWaker,
    FakeClock,
    MemoryPauseStore,
    MemoryStarvationStore,
    Actor,
    CycleLog,
>;

/// Operations a fault can be injected into, with the plan that owns them.
#[derive(Debug, Clone, Copy)]
enum Plan {
    Service,
    Sessions,
    Waker,
    Pause,
    Store,
    Actor,
}

const FAULT_OPS: &[(Plan, &str)] = &[
    (Plan::Service, "recover_expired_leases"),
    (Plan::Service, "pending_runs"),
    (Plan::Service, "active_runs"),
    (Plan::Service, "run_status"),
    (Plan::Sessions, "sessions"),
    (Plan::Waker, "wake"),
    (Plan::Waker, "wake_batch"),
    (Plan::Pause, "is_paused"),
    (Plan::Store, "load_many"),
    (Plan::Store, "load"),
    (Plan::Store, "upsert_many"),
    (Plan::Store, "upsert"),
    (Plan::Store, "clear_many"),
    (Plan::Store, "clear"),
    (Plan::Store, "list"),
    (Plan::Actor, "request_spawn"),
    (Plan::Actor, "emit_starved"),
    (Plan::Actor, "mark_needs_attention"),
];

/// A session's worker: the lease it holds and what it will do.
#[derive(Debug)]
struct Worker {
    run_id: String,
    token: ClaimToken,
    lease_until: SystemTime,
    done_at: SystemTime,
    crashed: bool,
}

const LEASE: Duration = Duration::from_secs(90);
const AGENTS: &[&str] = &["coder", "reviewer", "tester"];
const WORKSPACES: &[&str] = &["", "ws-1", "ws-2", "ws-3"];
const CAPS: &[&str] = &["rust", "go", "sqlite"];

struct Soak {
    rng: SmallRng,
    config: SoakConfig,
    tasks: Tasks,
    sessions: MemorySessions,
    waker: RecordingWaker,
    pause: MemoryPauseStore,
    store: MemoryStarvationStore,
    actor_faults: Faults,
    log: CycleLog,
    clock: FakeClock,
    scheduler: Sched,
    history: WakeHistory,
    ladder: LadderMonitor,
    workers: BTreeMap<String, Worker>,
    next_run: u64,
    next_session: u64,
    tally: Tally,
    violation_count: u64,
    violations: Vec<(u64, Violation)>,
}

impl Soak {
    fn new(config: &SoakConfig) -> Self {
        let mut rng = SmallRng::seed_from_u64(config.seed);
        let pause = MemoryPauseStore::new();
        let tasks =
            Tasks { service: Arc::new(Mutex::new(MemoryTaskService::with_pause(pause.clone()))), seen: Arc::default() };
        let sessions = MemorySessions::new();
        let waker = if rng.random_bool(0.5) { RecordingWaker::batch() } else { RecordingWaker::single() };
        let store = MemoryStarvationStore::new();
        let log = CycleLog::new();
        let clock = FakeClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600));
        let actor_faults = Faults::new();
        let actor = Actor { tasks: tasks.clone(), faults: actor_faults.clone() };
        let scheduler = Scheduler::builder(tasks.clone(), sessions.clone(), waker.clone())
            .clock(clock.clone())
            .pause_store(pause.clone())
            .starvation_store(store.clone())
            .escalation_actor(actor)
            .observer(log.clone())
            .build()
            .expect("default settings are valid");
        let history = WakeHistory::new(scheduler.settings().wake_cooldown());
        let mut soak = Soak {
            rng,
            config: config.clone(),
            tasks,
            sessions,
            waker,
            pause,
            store,
            actor_faults,
            log,
            clock,
            scheduler,
            history,
            ladder: LadderMonitor::new(),
            workers: BTreeMap::new(),
            next_run: 0,
            next_session: 0,
            tally: Tally::default(),
            violation_count: 0,
            violations: Vec::new(),
        };
        for _ in 0..config.sessions {
            soak.add_session();
        }
        soak
    }

    fn now(&self) -> SystemTime {
        self.clock.now()
    }

    fn service(&self) -> MemoryTaskService {
        self.tasks.get()
    }

    fn plan(&self, plan: Plan) -> Faults {
        match plan {
            Plan::Service => self.service().faults().clone(),
            Plan::Sessions => self.sessions.faults().clone(),
            Plan::Waker => self.waker.faults().clone(),
            Plan::Pause => self.pause.faults().clone(),
            Plan::Store => self.store.faults().clone(),
            Plan::Actor => self.actor_faults.clone(),
        }
    }

    fn violation(&mut self, cycle: u64, v: Violation) {
        self.violation_count += 1;
        if self.violations.len() < self.config.keep_violations {
            self.violations.push((cycle, v));
        }
    }

    fn add_session(&mut self) {
        let id = format!("sess-{}", self.next_session);
        self.next_session += 1;
        let r = &mut self.rng;
        let mut caps: Vec<&str> = CAPS.iter().copied().filter(|_| r.random_bool(0.6)).collect();
        if caps.is_empty() {
            caps.push(CAPS[r.random_range(0..CAPS.len())]);
        }
        let session = SessionSnapshot::active(id)
            .agent(AGENTS[r.random_range(0..AGENTS.len())])
            .workspace(WORKSPACES[r.random_range(0..WORKSPACES.len())])
            .channel(if r.random_bool(0.15) { "ch-1" } else { "" })
            .caps(caps)
            .created_at(self.clock.now());
        self.sessions.register(session).expect("fresh session id");
    }

    fn arrive(&mut self) {
        let id = self.next_run;
        self.next_run += 1;
        let r = &mut self.rng;
        let priority = [Priority::Low, Priority::Medium, Priority::High, Priority::Urgent, Priority::Unknown]
            [r.random_range(0..5)];
        let ws = WORKSPACES[r.random_range(0..WORKSPACES.len())];
        let mut run = RunSnapshot::queued(format!("run-{id}"), format!("task-{}", id / 2)).priority(priority);
        if !ws.is_empty() {
            run = run.workspace(ws);
        }
        if r.random_bool(0.1) {
            run = run.channel("ch-1");
        }
        if r.random_bool(0.05) {
            // Nobody runs this agent: the run starves and climbs the ladder.
            run = run.pool_owner("ghost-agent");
        } else if r.random_bool(0.05) {
            run = run.pool_owner(AGENTS[r.random_range(0..AGENTS.len())]);
        }
        let caps: Vec<&str> = CAPS.iter().copied().filter(|_| r.random_bool(0.25)).collect();
        run = run.caps(caps);
        if r.random_bool(0.02) {
            run = run.paused();
        } else if r.random_bool(0.02) {
            run = run.task_status(TaskStatus::Blocked);
        }
        let now = self.now();
        if self.service().enqueue_snapshot(&run, now).is_ok() {
            self.tally.enqueued += 1;
        }
    }

    /// Workers progress: start, heartbeat, finish, or crash.
    fn work(&mut self) {
        let now = self.now();
        let service = self.service();
        let mut done = Vec::new();
        for (session, w) in &mut self.workers {
            if w.crashed {
                // A crashed worker's lease is recovered by the sweep; forget it then.
                if service.lease_of(session).as_deref() != Some(w.run_id.as_str()) {
                    done.push(session.clone());
                }
                continue;
            }
            if now >= w.done_at {
                let roll = self.rng.random_range(0..100);
                let result = match roll {
                    0..80 => service.complete(&w.run_id, &w.token, now).map(|()| self.tally.completed += 1),
                    80..90 => service.fail(&w.run_id, &w.token, "soak failure", now).map(|()| self.tally.failed += 1),
                    _ => service.release(&w.run_id, &w.token, now).map(|()| self.tally.released += 1),
                };
                // A stale token (the lease expired and was recovered) is the expected
                // answer for a slow worker.
                let _ = result;
                done.push(session.clone());
            } else if self.rng.random_bool(0.01) {
                w.crashed = true;
                self.tally.crashed += 1;
            } else if w.lease_until <= now + Duration::from_secs(30) {
                match service.heartbeat(&w.run_id, &w.token, LEASE, now) {
                    Ok(until) => w.lease_until = until,
                    Err(_) => done.push(session.clone()), // lost the lease
                }
            }
        }
        for s in done {
            self.workers.remove(&s);
        }
    }

    fn claim(&mut self, session_id: &str) {
        if self.workers.contains_key(session_id) {
            return;
        }
        let Some(session) = self.sessions.get(session_id) else { return };
        let now = self.now();
        let service = self.service();
        if let Ok(Some(claim)) = service.claim(&ClaimRequest::from_session(&*session), LEASE, now) {
            self.tally.claims += 1;
            let _ = service.start(&claim.run_id, &claim.token, now);
            let done_at = now + Duration::from_secs(self.rng.random_range(10..120));
            self.workers.insert(
                session_id.to_owned(),
                Worker {
                    run_id: claim.run_id,
                    token: claim.token,
                    lease_until: claim.lease_until,
                    done_at,
                    crashed: false,
                },
            );
        }
    }

    fn churn(&mut self) {
        let all = self.sessions.all();
        if all.is_empty() {
            return;
        }
        let victim = all[self.rng.random_range(0..all.len())].session_id.clone();
        match self.rng.random_range(0..4) {
            0 => {
                // The session goes away (its worker with it) and a new one registers.
                let _ = self.sessions.remove(&victim);
                if let Some(w) = self.workers.get_mut(&victim) {
                    w.crashed = true;
                    self.tally.crashed += 1;
                }
                self.add_session();
                self.tally.session_churn += 1;
            }
            1 => {
                let prompting = self.sessions.get(&victim).is_some_and(|s| !s.prompting);
                let _ = self.sessions.set_prompting(&victim, prompting);
            }
            2 => {
                let state = if self.rng.random_bool(0.7) { SessionState::Active } else { SessionState::Inactive };
                let _ = self.sessions.set_state(&victim, state);
            }
            _ => {
                let caps: Vec<&str> = CAPS.iter().copied().filter(|_| self.rng.random_bool(0.6)).collect();
                let _ = self.sessions.set_capabilities(&victim, caps);
            }
        }
    }

    /// Someone resumes a paused or blocked task (else its runs would wait forever).
    fn resume_a_task(&mut self) {
        let service = self.service();
        let waiting: Vec<String> = service
            .pending()
            .iter()
            .filter(|r| r.task_paused || r.task_status == TaskStatus::Blocked)
            .map(|r| r.task_id.clone())
            .collect();
        if !waiting.is_empty() {
            let task = &waiting[self.rng.random_range(0..waiting.len())];
            let _ = service.edit_task(task, |t| {
                t.paused = false;
                t.status = TaskStatus::Ready;
            });
        }
    }

    /// A fresh service takes over the queued runs; leased runs vanish.
    fn rotate(&mut self) {
        let old = self.service();
        let fresh = MemoryTaskService::with_pause(self.pause.clone());
        let now = self.now();
        for run in old.pending() {
            let _ = fresh.enqueue_snapshot(&run, now);
        }
        *lock(&self.tasks.service) = fresh;
        self.workers.clear();
        self.tally.rotations += 1;
    }

    fn cycle(&mut self, k: u64) {
        // The world moves.
        let step = Duration::from_secs(self.rng.random_range(5..26));
        if self.rng.random_bool(0.001) {
            self.clock.set(self.now() - Duration::from_secs(30)); // a wall-clock step back
        } else {
            self.clock.advance(step);
        }
        if self.rng.random_bool(self.config.arrival_rate) {
            self.arrive();
        }
        self.work();
        if self.rng.random_bool(0.02) {
            self.churn();
        }
        if self.rng.random_bool(0.05) {
            self.resume_a_task();
        }
        // Short maintenance pauses now and then.
        if self.pause.state().is_some() {
            if self.rng.random_bool(0.1) {
                self.pause.resume();
            }
        } else if self.rng.random_bool(0.002) {
            self.pause.pause("soak", self.now(), "maintenance");
        }
        if self.config.rotate_every > 0 && k > 0 && k.is_multiple_of(self.config.rotate_every) {
            self.rotate();
        }
        if self.rng.random_bool(0.0005) {
            let _ = futures::executor::block_on(self.scheduler.rebuild());
            self.history.clear();
            self.tally.rebuilds += 1;
        }
        let armed = if self.rng.random_bool(self.config.fault_rate) {
            let (plan, op) = FAULT_OPS[self.rng.random_range(0..FAULT_OPS.len())];
            let faults = self.plan(plan);
            faults.fail_next(op);
            Some((faults, op, faults_calls(&self.plan(plan), op) + 1))
        } else {
            None
        };

        // What the cycle will read (the active runs and re-read statuses are captured
        // as the scheduler reads them, after its sweep).
        let sessions = self.sessions.all();
        {
            let mut seen = lock(&self.tasks.seen);
            seen.active.clear();
            seen.statuses.clear();
        }
        let cooldown_before: Option<Cooldown> = self.config.check.then(|| self.scheduler.cooldown().clone());
        let now = self.now();

        let report = futures::executor::block_on(self.scheduler.run_once());
        let outcome = report.outcome();
        let counts = Counts::from_cycle(report.counts());
        let mut unexpected = Vec::new();
        let mut injected = 0u64;
        for e in report.errors() {
            if is_injected(e) {
                injected += 1;
            } else {
                unexpected.push(e.to_string());
            }
        }
        self.tally.errors += report.errors().len() as u64;
        let lost = LostWrites::from_errors(report.errors());
        let (runs, no_match, starved) = if self.config.check {
            (
                report.runs().to_vec(),
                report.no_match_run_ids().map(str::to_owned).collect::<Vec<_>>(),
                report.starved_run_ids().map(str::to_owned).collect::<Vec<_>>(),
            )
        } else {
            Default::default()
        };
        self.tally.recovered += report.counts().recovered_leases as u64;
        self.tally.spawns += report.counts().spawns_requested as u64;
        self.tally.marked += report.counts().needs_attention_runs as u64;
        if outcome != Outcome::Completed {
            self.tally.paused_cycles += 1;
        }
        let _ = report;

        // Faults: exactly the one armed, if it fired.
        if let Some((faults, op, call)) = armed {
            let fired = faults.calls(op) >= call;
            self.tally.faults += u64::from(fired);
            if fired && injected == 0 {
                self.violation(
                    k,
                    Violation { name: "fault-lost", detail: format!("{op} call {call} failed silently") },
                );
            }
            faults.heal_all();
        }
        for e in unexpected {
            self.violation(k, Violation { name: "unexpected-error", detail: e });
        }

        let wakes = self.log.take_wakes();
        let fired = self.log.take_escalations();
        self.tally.wakes += wakes.iter().filter(|w| w.2).count() as u64;
        if let Some(cooldown_before) = cooldown_before {
            let seen = std::mem::take(&mut *lock(&self.tasks.seen));
            let active = &seen.active;
            let mut found = Vec::new();
            match ObservedCycle::resolve(
                &runs,
                &sessions,
                outcome,
                counts,
                &wakes,
                no_match.iter().map(String::as_str),
                starved.iter().map(String::as_str),
            ) {
                Ok(observed) => {
                    let input = CycleInput {
                        runs: &runs,
                        active,
                        sessions: &sessions,
                        now,
                        min_queued_age: self.scheduler.settings().thresholds().min_queued_age,
                        wake_cooldown: self.scheduler.settings().wake_cooldown(),
                        cooldown_before: &cooldown_before,
                    };
                    let output = observed.output(Some(self.scheduler.cooldown()));
                    found.extend(check_cycle(input, &output));
                    found.extend(self.history.observe(input, &output));
                }
                Err(v) => found.push(v),
            }
            let starved_ids: Vec<&str> = starved.iter().map(String::as_str).collect();
            let store = self.store.clone();
            found.extend(self.ladder.observe(
                LadderCycle { outcome, starved: &starved_ids, fired: &fired, lost_writes: &lost },
                |id| seen.statuses.get(id) == Some(&Some(RunStatus::Queued)),
                |id| store.get(id),
            ));
            for v in found {
                self.violation(k, v);
            }
        }
        self.waker.clear();

        // Woken sessions claim (mostly); an idle one sometimes claims unprompted.
        for (_, session, delivered) in &wakes {
            if *delivered && self.rng.random_bool(0.8) {
                self.claim(session);
            }
        }
        if self.rng.random_bool(0.05) && !sessions.is_empty() {
            let s = sessions[self.rng.random_range(0..sessions.len())].session_id.clone();
            self.claim(&s);
        }
    }
}

fn faults_calls(faults: &Faults, op: &'static str) -> u64 {
    faults.calls(op)
}

/// Whether an error's source is an injected fault.
fn is_injected<TE, SE, WE, PE, BE, AE>(e: &Error<TE, SE, WE, PE, BE, AE>) -> bool
where
    Error<TE, SE, WE, PE, BE, AE>: std::error::Error,
{
    let Some(source) = std::error::Error::source(e) else { return false };
    source.downcast_ref::<FakeError>().is_some()
        || matches!(source.downcast_ref::<LeaseError>(), Some(LeaseError::Injected(_)))
        || matches!(source.downcast_ref::<RegistryError>(), Some(RegistryError::Injected(_)))
}

/// Runs a soak; `on_sample` sees each memory sample as it is taken (for progress).
pub fn run(config: &SoakConfig, mut on_sample: impl FnMut(&MemorySample)) -> SoakReport {
    let mut soak = Soak::new(config);
    let mut samples = Vec::new();
    let mut sample = |cycle: u64, samples: &mut Vec<MemorySample>| {
        if let Some(m) = memory(cycle) {
            on_sample(&m);
            samples.push(m);
        }
    };
    sample(0, &mut samples);
    let started = Instant::now();
    for k in 1..=config.cycles {
        soak.cycle(k);
        let periodic = config.sample_every > 0 && k.is_multiple_of(config.sample_every);
        if k == config.warmup || k == config.cycles || periodic {
            sample(k, &mut samples);
        }
    }
    let elapsed = started.elapsed();
    SoakReport {
        cycles: config.cycles,
        elapsed,
        violation_count: soak.violation_count,
        violations: soak.violations,
        tally: soak.tally,
        memory: samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_soak_keeps_every_invariant() {
        let config =
            SoakConfig { cycles: 4_000, warmup: 1_000, sample_every: 0, rotate_every: 1_500, ..SoakConfig::default() };
        let report = run(&config, |_| {});
        assert!(report.is_clean(), "{} violations, first: {:#?}", report.violation_count, report.violations);
        let t = &report.tally;
        // The soak exercised what it claims to.
        assert!(t.enqueued > 800 && t.claims > 500 && t.completed > 300, "{t:?}");
        assert!(t.crashed > 0 && t.recovered > 0, "{t:?}");
        assert!(t.faults > 50 && t.errors >= t.faults, "{t:?}");
        assert!(t.spawns > 0 && t.marked > 0, "{t:?}");
        assert!(t.rotations == 2 && t.paused_cycles > 0, "{t:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_soak() {
        let config = SoakConfig { cycles: 500, sample_every: 0, ..SoakConfig::default() };
        let a = run(&config, |_| {});
        let b = run(&config, |_| {});
        assert_eq!(a.tally, b.tally);
        let c = run(&SoakConfig { seed: 2, ..config }, |_| {});
        assert_ne!(a.tally, c.tally);
    }
}
