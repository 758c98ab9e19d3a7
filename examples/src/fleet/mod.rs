//! A simulated agent fleet driven by the real scheduler.
//!
//! [`run`] starts a current-thread tokio runtime with its clock paused (simulated
//! minutes take real milliseconds), and in it:
//!
//! - a store, through the core's contract traits: a SQLite database
//!   ([`StoreKind::Sqlite`], `scheduler-sqlite`; a file an earlier simulation wrote is
//!   resumed), or the testkit's [`MemoryTaskService`] (real leases, atomic claims, token
//!   fencing), [`MemorySessions`], [`MemoryPauseStore`] and [`MemoryStarvationStore`]
//!   ([`StoreKind::Memory`]), or a PostgreSQL schema ([`StoreKind::Postgres`],
//!   `scheduler-postgres`) shared by one or more daemons;
//! - the real [`Scheduler`], started with [`scheduler_tokio::spawn`] on a
//!   [`TokioClock`], its loop sweeping, waking and escalating every interval (on
//!   PostgreSQL: one per daemon, each run with `spawn_as_leader`, so that only the
//!   elected leader cycles; the leader may be killed part-way, and the report then
//!   has the failover, [`FleetReport::leadership`]);
//! - agent sessions, one tokio task each, in several workspaces and on a few
//!   coordination channels, of different agent kinds (capability sets). A woken
//!   session claims through the task service (it is not handed the run), heartbeats
//!   while it works, and completes or fails the run. Some crash mid-run: their leases
//!   run out, the sweep recovers the runs, and other sessions finish them;
//! - an escalation actor that answers the ladder's spawn requests by launching a
//!   session of an agent kind that covers the starved run (its workspace, channel and
//!   pool too), and says `Unresolvable` for work no kind covers, which then ends as
//!   `needs_attention`;
//! - a pause of a few minutes, during which sweeps go on and wakes stop.
//!
//! Work arrives over the simulated duration with mixed priorities (an urgent arrival
//! triggers a cycle at once with [`SchedulerHandle::run_now`]); then the simulation
//! drains until every run has ended, and checks its books against the task service.
//! Everything random is drawn from [`FleetConfig::seed`], so a seed replays the same
//! run.
//!
//! ```
//! use std::time::Duration;
//! use scheduler_examples::fleet::{run, FleetConfig};
//!
//! let config = FleetConfig { sessions: 6, runs: 30, duration: Duration::from_secs(20 * 60), ..FleetConfig::default() };
//! let report = run(&config, |_| {}).expect("a valid config");
//! assert!(report.is_clean(), "{report}");
//! assert_eq!(report.runs.enqueued, 30);
//! ```
//!
//! [`MemoryTaskService`]: scheduler_testkit::service::MemoryTaskService
//! [`MemorySessions`]: scheduler_testkit::registry::MemorySessions
//! [`MemoryPauseStore`]: scheduler_testkit::stores::MemoryPauseStore
//! [`MemoryStarvationStore`]: scheduler_testkit::stores::MemoryStarvationStore
//! [`Scheduler`]: scheduler_core::Scheduler
//! [`SchedulerHandle::run_now`]: scheduler_tokio::SchedulerHandle::run_now

mod agent;
mod backend;
pub mod cli;
mod postgres;
mod report;
mod seams;
mod workload;
mod world;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use scheduler_core::Scheduler;
use scheduler_core::Stats;
use scheduler_core::ladder::Thresholds;
use scheduler_core::lease::{LeaseService, PauseControl, SessionRegistry, TaskSpec};
use scheduler_core::model::{Owner, OwnerRef, Priority, RunStatus, TaskStatus};
use scheduler_core::seam::{SessionSource, StarvationStore, TaskSource};
use scheduler_core::view::{ActiveRunView, RunView, SessionView};
use scheduler_testkit::registry::MemorySessions;
use scheduler_testkit::service::MemoryTaskService;
use scheduler_testkit::snapshot::SessionSnapshot;
use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};
use scheduler_tokio::{SchedulerHandle, TokioClock};

use backend::{Backend, Blocking, Memory, Sqlite};

use agent::{Fleet, Host, Role, Timing, kill, launch};
use postgres::Daemons;
use seams::{FleetActor, FleetObserver, FleetWaker};
use workload::{Job, Plan, WorkKind, covers, jobs, seats};
use world::{RunEntry, World};

pub use postgres::{DEFAULT_DATABASE_URL, PgFleet, redact, schema_exists};
pub use report::{Activity, FailoverTally, FleetReport, Latency, LeadershipTally, PauseTally, Resumed, RunTally};
pub use workload::AgentKinds;
pub use world::{Violation, ViolationKind};

/// 2026-01-01T00:00:00Z: the simulated wall time the run starts at.
pub const START_UNIX_SECS: u64 = 1_767_225_600;

/// What to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetConfig {
    /// Sessions in the initial fleet.
    pub sessions: usize,
    /// Runs that arrive over [`duration`](Self::duration).
    pub runs: usize,
    /// The seed every random choice is drawn from.
    pub seed: u64,
    /// How long work keeps arriving (simulated).
    pub duration: Duration,
    /// After that, how long at most to wait for every run to end (simulated).
    pub drain: Duration,
    /// The scheduler's interval.
    pub interval: Duration,
    /// Workspaces (sessions and tasks are spread over them, and global).
    pub workspaces: usize,
    /// Probability that the first session to claim a run crashes mid-run.
    pub crash_rate: f64,
    /// Share of work that needs a capability only spawned sessions have.
    pub gpu_rate: f64,
    /// Share of work that needs a capability no agent has.
    pub impossible_rate: f64,
    /// At most this many spawned sessions live at once.
    pub max_spawned: usize,
    /// When (from the start) the scheduler is paused, and for how long; `None`: never.
    pub pause: Option<(Duration, Duration)>,
    /// The ladder's thresholds (starved cycles before fan-out, spawn, event and
    /// needs-attention) and the minimum queued age.
    pub thresholds: Thresholds,
    /// The store the simulation runs on.
    pub store: StoreKind,
    /// How the scheduler gives sessions to non-starved runs (default greedy).
    pub policy: scheduler_core::SelectionPolicy,
    /// Which agent kinds the fleet has and the work mix drawn for them (default: the
    /// broad [`AgentKinds::Default`] kinds).
    pub agent_kinds: AgentKinds,
}

/// Which task service a simulation runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// The testkit's in-memory service (gone when the simulation ends).
    Memory,
    /// A SQLite database file (`scheduler-sqlite`). A file an earlier simulation
    /// wrote is resumed: its open runs are taken over, leases held by its (gone)
    /// sessions are recovered by the sweep, its ladder budgets are kept.
    Sqlite(PathBuf),
    /// A PostgreSQL schema (`scheduler-postgres`), shared by one or more daemons, with
    /// a leader elected among them and, optionally, killed part-way. A named schema an
    /// earlier simulation wrote is resumed like a SQLite file.
    Postgres(PgFleet),
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreKind::Memory => f.write_str("memory"),
            StoreKind::Sqlite(path) => write!(f, "sqlite {}", path.display()),
            StoreKind::Postgres(pg) => match &pg.schema {
                Some(schema) => write!(f, "postgres {} schema {schema}", redact(&pg.url)),
                None => write!(f, "postgres {} (a fresh schema)", redact(&pg.url)),
            },
        }
    }
}

impl Default for FleetConfig {
    /// 48 sessions, 600 runs over two simulated hours, seed 42, a 15 s interval, four
    /// workspaces, at most 16 spawned sessions, a three-minute pause at 40 % of the
    /// duration, the scheduler's default ladder.
    fn default() -> Self {
        let duration = Duration::from_secs(2 * 3600);
        FleetConfig {
            sessions: 48,
            runs: 600,
            seed: 42,
            duration,
            drain: Duration::from_secs(3600),
            interval: Duration::from_secs(15),
            workspaces: 4,
            crash_rate: 0.03,
            gpu_rate: 0.03,
            impossible_rate: 0.01,
            max_spawned: 16,
            pause: Some((duration.mul_f64(0.4), Duration::from_secs(180))),
            thresholds: Thresholds::DEFAULT,
            store: StoreKind::Memory,
            policy: scheduler_core::SelectionPolicy::Greedy,
            agent_kinds: AgentKinds::Default,
        }
    }
}

impl FleetConfig {
    /// The config with the pause moved to 40 % of `duration` (keeping its length).
    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration = duration;
        if let Some((_, length)) = self.pause {
            self.pause = Some((duration.mul_f64(0.4), length));
        }
        self
    }

    fn validate(&self) -> Result<(), FleetError> {
        let bad = |why: &str| Err(FleetError::Config(why.to_owned()));
        let rate = |r: f64| (0.0..=1.0).contains(&r);
        if self.sessions == 0 {
            return bad("the fleet needs at least one session");
        }
        if self.workspaces == 0 {
            return bad("there must be at least one workspace");
        }
        if self.duration.is_zero() || self.interval.is_zero() {
            return bad("the duration and the interval must be positive");
        }
        if !rate(self.crash_rate) || !rate(self.gpu_rate) || !rate(self.impossible_rate) {
            return bad("rates must be between 0 and 1");
        }
        if self.gpu_rate + self.impossible_rate > 1.0 {
            return bad("the gpu and impossible rates add up to more than 1");
        }
        Ok(())
    }
}

/// Why a simulation could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FleetError {
    /// The configuration is invalid.
    Config(String),
    /// The scheduler could not be built or started.
    Scheduler(String),
    /// The store could not be opened or read.
    Store(String),
}

impl fmt::Display for FleetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FleetError::Config(why) => write!(f, "invalid fleet configuration: {why}"),
            FleetError::Scheduler(why) => write!(f, "the scheduler could not start: {why}"),
            FleetError::Store(why) => write!(f, "the store failed: {why}"),
        }
    }
}

impl std::error::Error for FleetError {}

/// Where a running simulation is, reported every 30 simulated seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Simulated time since the start.
    pub elapsed: Duration,
    /// The arrival window ([`FleetConfig::duration`]).
    pub duration: Duration,
    /// Whether arrivals are over and the simulation waits for the last runs.
    pub draining: bool,
    /// Runs enqueued so far.
    pub enqueued: usize,
    /// Runs completed so far.
    pub completed: u64,
    /// Runs failed so far.
    pub failed: u64,
    /// Runs marked `needs_attention` so far.
    pub needs_attention: u64,
    /// Sessions registered now.
    pub sessions: usize,
}

/// Runs the simulation and returns its report; `progress` is called every 30
/// simulated seconds.
///
/// # Errors
/// [`FleetError::Config`] for an invalid configuration, [`FleetError::Scheduler`] if
/// the scheduler cannot be built or started. Broken invariants are not errors: they
/// are in the report ([`FleetReport::is_clean`]).
pub fn run(config: &FleetConfig, mut progress: impl FnMut(&Progress)) -> Result<FleetReport, FleetError> {
    config.validate()?;
    if let StoreKind::Postgres(options) = &config.store {
        return postgres::run(config, options, &mut progress);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| FleetError::Scheduler(e.to_string()))?;
    match &config.store {
        StoreKind::Memory => {
            let pause = MemoryPauseStore::new();
            let (tasks, sessions) = (MemoryTaskService::with_pause(pause.clone()), MemorySessions::new());
            let handles = Handles::<Memory> {
                hosts: vec![Host::new(tasks.clone(), sessions.clone(), None)],
                tasks,
                sessions,
                pause,
                budgets: MemoryStarvationStore::new(),
            };
            runtime.block_on(simulate(config, handles, &mut progress, spawn_one))
        }
        StoreKind::Sqlite(path) => {
            let store = scheduler_sqlite::Store::open(path).map_err(|e| FleetError::Store(e.to_string()))?;
            let (tasks, sessions) = (Blocking(store.tasks(), None), Blocking(store.sessions(), None));
            let handles = Handles::<Sqlite> {
                hosts: vec![Host::new(tasks.clone(), sessions.clone(), None)],
                tasks,
                sessions,
                pause: Blocking(store.pause(), None),
                budgets: Blocking(store.budgets(), None),
            };
            runtime.block_on(simulate(config, handles, &mut progress, spawn_one))
        }
        StoreKind::Postgres(_) => unreachable!("handled above"),
    }
}

/// How the scheduler runs in a simulation.
enum Control {
    /// One scheduler, spawned with `scheduler-tokio`.
    Single(SchedulerHandle),
    /// PostgreSQL daemons, each cycling only while it leads.
    Daemons(Daemons),
}

impl Control {
    /// Asks for a cycle now; whether that was possible (`run_as_leader` has no trigger).
    fn run_now(&self) -> bool {
        match self {
            Control::Single(handle) => handle.run_now(),
            Control::Daemons(_) => false,
        }
    }

    /// Stops the scheduler(s); their statistics (summed over daemons).
    async fn shutdown(&mut self) -> Result<Stats, FleetError> {
        match self {
            Control::Single(handle) => {
                let stats = handle.stats();
                let shutdown = handle.shutdown_within(Duration::from_secs(60)).await;
                shutdown.map_err(|e| FleetError::Scheduler(format!("shutdown failed: {e}")))?;
                Ok(stats)
            }
            Control::Daemons(daemons) => Ok(daemons.shutdown().await),
        }
    }
}

/// Builds the fleet's scheduler and spawns it with `scheduler-tokio`.
fn spawn_one<B: Backend>(fleet: &Arc<Fleet<B>>, budgets: B::Budgets, clock: TokioClock) -> Result<Control, FleetError> {
    let config = &fleet.config;
    let scheduler = Scheduler::builder(fleet.service.clone(), fleet.registry.clone(), FleetWaker(Arc::clone(fleet)))
        .clock(clock)
        .interval(config.interval)
        .wake_cooldown(Duration::from_secs(60))
        .starvation_thresholds(config.thresholds)
        .selection_policy(config.policy)
        .pause_store(fleet.pause.clone())
        .ladder(budgets, FleetActor(Arc::clone(fleet)))
        .observer(FleetObserver(Arc::clone(fleet), 0))
        .build()
        .map_err(|e| FleetError::Scheduler(e.to_string()))?;
    let handle = scheduler_tokio::spawn(scheduler).map_err(|e| FleetError::Scheduler(e.to_string()))?;
    Ok(Control::Single(handle))
}

/// Kills the daemon leading now and the sessions it hosts; `false` when no daemon led
/// at this moment (the driver tries again at the next tick).
async fn kill_leader<B: Backend>(fleet: &Arc<Fleet<B>>, daemons: &mut Daemons) -> bool {
    let Some(victim) = daemons.kill_leader() else { return false };
    let real = Instant::now();
    fleet.hosts[victim].die();
    let hosted: Vec<String> = {
        let mut books = fleet.world.books();
        books.leaders.kill = Some((victim, fleet.world.elapsed(), real));
        books.agents.iter().filter(|(_, a)| a.alive && a.host == victim).map(|(id, _)| id.clone()).collect()
    };
    fleet.world.books().leaders.killed_sessions = hosted.len();
    for session in &hosted {
        kill(fleet, session).await;
    }
    true
}

/// The store handles a simulation runs on.
struct Handles<B: Backend> {
    tasks: B::Tasks,
    sessions: B::Sessions,
    pause: B::Pause,
    budgets: B::Budgets,
    hosts: Vec<Host<B>>,
}

/// Each resumed generation starts this much later in simulated time, so that the
/// leases an earlier one left have run out.
const GENERATION_GAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// Which simulation on this store this is (1: the store had none of our runs), found
/// by probing for the first run id of each generation.
async fn generation<T: LeaseService>(tasks: &T, first_run: &str) -> Result<u32, FleetError> {
    let mut generation = 1;
    loop {
        let id = format!("{}{first_run}", prefix(generation));
        match tasks.record(&id).await {
            Ok(Some(_)) => generation += 1,
            Ok(None) => return Ok(generation),
            Err(e) => return Err(FleetError::Store(e.to_string())),
        }
    }
}

/// The task of `run`, ready.
fn unblocked_task(run: &impl RunView) -> TaskSpec {
    let owner = match run.owner() {
        Owner::None => OwnerRef::None,
        Owner::Pool(agent) => OwnerRef::Pool(agent.to_owned()),
        Owner::AgentSession(session) => OwnerRef::AgentSession(session.to_owned()),
        Owner::Unknown => OwnerRef::Unknown,
    };
    TaskSpec::new(run.task_id())
        .scope(run.scope(), run.workspace_id())
        .priority(run.priority())
        .paused(run.task_paused())
        .owner(owner)
        .status(TaskStatus::Ready)
}

fn prefix(generation: u32) -> String {
    if generation <= 1 { String::new() } else { format!("g{generation}-") }
}

/// Takes over what an earlier simulation on this store left: its sessions are gone
/// (removed from the registry, as a supervisor would), its open runs are booked (the
/// leases its sessions held are recovered by the sweep once they run out), and its
/// ladder budgets are counted (the scheduler keeps using them).
async fn adopt<B: Backend>(fleet: &Fleet<B>, budgets: &B::Budgets, generation: u32) -> Result<Resumed, FleetError> {
    let store = |e: &dyn std::error::Error| FleetError::Store(e.to_string());
    let mut sessions = Vec::new();
    fleet.registry.sessions(&mut sessions).await.map_err(|e| store(&e))?;
    for session in &sessions {
        fleet.registry.remove(session.session_id()).await.map_err(|e| store(&e))?;
    }
    let mut pending = Vec::new();
    fleet.service.pending_runs(&mut pending).await.map_err(|e| store(&e))?;
    let mut active = Vec::new();
    fleet.service.active_runs(&mut active).await.map_err(|e| store(&e))?;
    let mut found = Vec::new();
    budgets.list(&mut found).await.map_err(|e| store(&e))?;
    let now = fleet.world.now();
    let mut books = fleet.world.books();
    let mut adopt = |run_id: &str, caps: Vec<String>| {
        let profiles = fleet.config.agent_kinds.profiles();
        let kind = if !profiles.iter().any(|p| covers(p, &caps)) {
            WorkKind::Uncoverable
        } else if !profiles.iter().any(|p| p.initial && covers(p, &caps)) {
            WorkKind::SpawnOnly
        } else {
            WorkKind::Normal
        };
        books.runs.entry(run_id.to_owned()).or_insert(RunEntry {
            kind,
            plan: Plan { work: Duration::from_secs(120), fails: false, crash_at: None },
            claimable_since: now,
            first_claim_at: None,
            claims: 0,
            completions: 0,
            failures: 0,
            recoveries: 0,
            marked: false,
            diagnostic: String::new(),
        });
    };
    let mut queued = 0;
    let mut blocked = Vec::new();
    for run in &pending {
        if run.run_status() == RunStatus::Queued {
            queued += 1;
            adopt(run.run_id(), run.required_capabilities().map(str::to_owned).collect());
            if run.task_status() == TaskStatus::Blocked {
                blocked.push(unblocked_task(run));
            }
        }
    }
    for run in &active {
        // Its capabilities are not in the active view; the sweep returns it to the
        // queue, where the next cycle reads them.
        adopt(run.run_id(), Vec::new());
    }
    Ok(Resumed { generation, queued, leased: active.len(), budgets: found.len(), stale_sessions: sessions.len() })
}

enum Event {
    Tick,
    Arrive(usize),
    Unblock(usize),
    PauseStart,
    PauseEnd,
    KillLeader,
}

const TICK: Duration = Duration::from_secs(30);

async fn simulate<B: Backend>(
    config: &FleetConfig,
    handles: Handles<B>,
    progress: &mut dyn FnMut(&Progress),
    start_scheduler: impl FnOnce(&Arc<Fleet<B>>, B::Budgets, TokioClock) -> Result<Control, FleetError>,
) -> Result<FleetReport, FleetError> {
    let mut jobs = jobs(config);
    let generation = match jobs.first() {
        Some(job) => generation(&handles.tasks, &job.spec.run_id).await?,
        None => 1,
    };
    let prefix = prefix(generation);
    for job in &mut jobs {
        job.spec.run_id = format!("{prefix}{}", job.spec.run_id);
        job.spec.task_id = format!("{prefix}{}", job.spec.task_id);
    }
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(START_UNIX_SECS) + GENERATION_GAP * (generation - 1);
    let clock = TokioClock::anchored_at(start);
    let Handles { tasks, sessions, pause, budgets, hosts } = handles;
    let fleet = Arc::new(Fleet::<B> {
        world: World::new(clock),
        service: tasks,
        registry: sessions,
        pause,
        hosts,
        config: config.clone(),
        timing: Timing::default(),
        seed: config.seed,
        max_spawned: config.max_spawned,
        prefix: prefix.clone(),
    });
    let resumed = if generation > 1 { Some(adopt(&fleet, &budgets, generation).await?) } else { None };

    for (i, seat) in seats(config).into_iter().enumerate() {
        let profile = &config.agent_kinds.profiles()[seat.profile];
        let session = SessionSnapshot::active(format!("{prefix}{}", seat.id))
            .agent(profile.agent)
            .caps(profile.caps.iter().copied())
            .workspace(seat.workspace)
            .channel(seat.channel);
        launch(&fleet, session, Role::Seat, i % fleet.hosts.len());
    }
    let mut control = start_scheduler(&fleet, budgets, clock)?;

    let mut timeline: Vec<(Duration, Event)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        timeline.push((job.at, Event::Arrive(i)));
        if let Some(blocked) = job.blocked_for {
            timeline.push((job.at + blocked, Event::Unblock(i)));
        }
    }
    if let Some((at, length)) = config.pause {
        timeline.push((at, Event::PauseStart));
        timeline.push((at + length, Event::PauseEnd));
    }
    if let StoreKind::Postgres(PgFleet { kill_leader_at: Some(at), .. }) = &config.store {
        timeline.push((*at, Event::KillLeader));
    }
    let ticks = config.duration.as_secs() / TICK.as_secs();
    timeline.extend((0..=ticks).map(|k| (TICK * k as u32, Event::Tick)));
    // Stable: same-time events keep the order above (arrivals before their unblocks).
    timeline.sort_by_key(|(at, _)| *at);

    let origin = tokio::time::Instant::now();
    let mut enqueued = 0;
    let mut kill_pending = false;
    for (at, event) in timeline {
        tokio::time::sleep_until(origin + at).await;
        match event {
            Event::Tick => {
                if let (true, Control::Daemons(daemons)) = (kill_pending, &mut control) {
                    kill_pending = !kill_leader(&fleet, daemons).await;
                }
                progress(&snapshot(&fleet, config, enqueued, false));
            }
            Event::KillLeader => {
                if let Control::Daemons(daemons) = &mut control {
                    kill_pending = !kill_leader(&fleet, daemons).await;
                }
            }
            Event::Arrive(i) => {
                arrive(&fleet, &control, &jobs[i]).await?;
                enqueued += 1;
            }
            Event::Unblock(i) => unblock(&fleet, &jobs[i]).await,
            Event::PauseStart => pause_now(&fleet).await,
            Event::PauseEnd => {
                let _ = fleet.pause.resume().await;
                fleet.world.books().paused = false;
                control.run_now();
            }
        }
    }

    // Drain: no more arrivals; wait until every run has ended (or the drain is over).
    tokio::time::sleep_until(origin + config.duration).await;
    let end = origin + config.duration + config.drain;
    while tokio::time::Instant::now() < end && !all_ended(&fleet).await {
        progress(&snapshot(&fleet, config, enqueued, true));
        tokio::time::sleep(TICK).await;
    }
    progress(&snapshot(&fleet, config, enqueued, true));
    let stats = control.shutdown().await?;
    let leadership = match &control {
        Control::Daemons(daemons) => Some(postgres::assess(&fleet.world, daemons)),
        Control::Single(_) => None,
    };
    let mut report = report::account(config, &fleet, &jobs, stats).await;
    report.store = config.store.to_string();
    report.resumed = resumed;
    report.leadership = leadership;
    Ok(report)
}

fn snapshot<B: Backend>(fleet: &Fleet<B>, config: &FleetConfig, enqueued: usize, draining: bool) -> Progress {
    let books = fleet.world.books();
    Progress {
        elapsed: fleet.world.elapsed(),
        duration: config.duration,
        draining,
        enqueued,
        completed: books.counters.completed,
        failed: books.counters.failed,
        needs_attention: books.counters.marked,
        sessions: books.agents.values().filter(|a| a.alive).count(),
    }
}

async fn arrive<B: Backend>(fleet: &Fleet<B>, control: &Control, job: &Job) -> Result<(), FleetError> {
    let now = fleet.world.now();
    fleet.world.books().runs.insert(
        job.spec.run_id.clone(),
        RunEntry {
            kind: job.kind,
            plan: job.plan,
            claimable_since: now,
            first_claim_at: None,
            claims: 0,
            completions: 0,
            failures: 0,
            recoveries: 0,
            marked: false,
            diagnostic: String::new(),
        },
    );
    fleet
        .service
        .enqueue(&job.spec.task_spec(), &job.spec.run_spec(), now)
        .await
        .map_err(|e| FleetError::Scheduler(format!("enqueue failed: {e}")))?;
    if job.spec.priority == Priority::Urgent && control.run_now() {
        // The daemon kicks the scheduler when urgent work arrives.
        fleet.world.count(|c| c.run_now += 1);
    }
    Ok(())
}

async fn unblock<B: Backend>(fleet: &Fleet<B>, job: &Job) {
    let task = job.spec.task_spec().status(TaskStatus::Ready);
    if fleet.service.update_task(&task, fleet.world.now()).await.is_ok() {
        let now = fleet.world.now();
        if let Some(entry) = fleet.world.books().runs.get_mut(&job.spec.run_id) {
            entry.claimable_since = now;
        }
    }
}

/// Pauses the scheduler, and (as bad luck has it) a working session dies just then, so
/// that its lease runs out during the pause: the sweep must recover it anyway.
async fn pause_now<B: Backend>(fleet: &Arc<Fleet<B>>) {
    let _ = fleet.pause.pause("operator", fleet.world.now(), "maintenance window").await;
    let victim = {
        let mut books = fleet.world.books();
        books.paused = true;
        books.agents.iter().find(|(_, slot)| slot.alive && slot.working.is_some()).map(|(id, _)| id.clone())
    };
    if let Some(victim) = victim {
        kill(fleet, &victim).await;
    }
}

async fn all_ended<B: Backend>(fleet: &Fleet<B>) -> bool {
    let ids: Vec<String> = fleet.world.books().runs.keys().cloned().collect();
    let mut statuses = Vec::new();
    if fleet.service.run_statuses(ids.iter().map(String::as_str), &mut statuses).await.is_err() {
        return false;
    }
    statuses.iter().all(|status| {
        matches!(
            status,
            Ok(Some(RunStatus::Completed | RunStatus::Failed | RunStatus::NeedsAttention | RunStatus::Canceled))
        )
    })
}
