//! The fleet on PostgreSQL (`scheduler-postgres`): several daemons over one schema,
//! each with its own connection pool, [`Elector`], scheduler loop (cycling only while
//! it leads, [`spawn_as_leader`]), [`Listener`] and in-process [`Mailboxes`]; the
//! fleet's sessions spread over them; and, part-way, the leader daemon killed.
//!
//! # Two clocks
//!
//! The simulation runs on tokio's paused clock (a current-thread runtime); every store
//! call runs on a second, real-time runtime that owns the connections, while the
//! simulation waits ([`Blocking`] with a runtime handle), so simulated time stands
//! still during a SQL call, as on SQLite.
//!
//! The leader lease cannot follow the simulated clock: [`Elector`] stamps the lease row
//! with the database's `clock_timestamp()` (so daemons' clock skew does not matter) and
//! schedules its renewals on the tokio clock of the runtime it runs on. So the electors
//! campaign on the real-time runtime, with a short real lease
//! ([`PgFleet::leader_lease`]), and the simulation is paced: its clock runs at most
//! [`PgFleet::pace`] simulated seconds per real second (a task on the simulation's
//! runtime that blocks it whenever it runs ahead). One real lease period is then at
//! most `pace` times as long in simulated time, which is how the summary converts it;
//! the failover is measured in both (from the kill to the first cycle another daemon
//! finishes) and must take at most two lease periods in each.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::channel::oneshot;
use scheduler_core::seam::{WakeBatch, WakeTarget, Waker};
use scheduler_core::view::{RunView, SessionView};
use scheduler_core::{Scheduler, Stats, StatsHandle};
use scheduler_postgres::{
    Config, Elector, Error, Listener, ListenerConfig, PgRun, PgSession, PgWaker, Store, spawn_as_leader,
};
use scheduler_tokio::TokioClock;
use scheduler_tokio::mailbox::Mailboxes;
use tokio::runtime::{Handle, Runtime};
use tokio::task::{AbortHandle, JoinHandle};

use super::world::World;

use super::agent::{Fleet, Host};
use super::backend::{Blocking, Postgres, blocking};
use super::report::{FailoverTally, LeadershipTally, span_text};
use super::seams::{FleetActor, FleetObserver, inspect_wake};
use super::world::ViolationKind;
use super::{FleetConfig, FleetError, FleetReport, Handles, Progress, simulate};

/// The server the fleet uses when neither `--database-url` nor `DATABASE_URL` says.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// How a fleet runs on PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgFleet {
    /// The server (`postgres://user:password@host:port/db`); the password is never
    /// printed.
    pub url: String,
    /// The schema: `None` for a fresh one with a random name, dropped at exit (also on
    /// error); a named one is created if missing and kept, so a second run resumes it.
    pub schema: Option<String>,
    /// Daemons (each with its pool, elector, scheduler loop and listener).
    pub daemons: usize,
    /// When (simulated, from the start) the leader daemon is killed; `None`: never.
    pub kill_leader_at: Option<Duration>,
    /// The leader lease, in real time (the database times it).
    pub leader_lease: Duration,
    /// At most this many simulated seconds per real second.
    pub pace: u32,
}

impl Default for PgFleet {
    /// `DATABASE_URL` (else [`DEFAULT_DATABASE_URL`]), a fresh schema, one daemon, no
    /// kill, a 1 s leader lease, 240 simulated seconds per real second.
    fn default() -> Self {
        PgFleet {
            url: std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_owned()),
            schema: None,
            daemons: 1,
            kill_leader_at: None,
            leader_lease: Duration::from_secs(1),
            pace: 240,
        }
    }
}

impl PgFleet {
    /// One real lease period in simulated time, at the pace's limit.
    pub fn simulated_lease(&self) -> Duration {
        self.leader_lease * self.pace
    }

    pub(crate) fn validate(&self) -> Result<(), FleetError> {
        let bad = |why: &str| Err(FleetError::Config(why.to_owned()));
        if self.daemons == 0 {
            return bad("the fleet needs at least one daemon");
        }
        if self.kill_leader_at.is_some() && self.daemons < 2 {
            return bad("killing the leader needs at least two daemons (--daemons 2 or more)");
        }
        if self.leader_lease < Duration::from_millis(100) {
            return bad("the leader lease must be at least 100 ms");
        }
        if self.pace == 0 {
            return bad("the pace must be at least 1 simulated second per real second");
        }
        Ok(())
    }
}

/// `url` without its password (`postgres://user:***@host/db`, `password=***`).
pub fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, _)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}{tail}");
        }
        return url.to_owned();
    }
    url.split_whitespace()
        .map(|pair| if pair.starts_with("password=") { "password=***" } else { pair })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A fresh schema name: `fleet_` and 16 random hex digits.
fn random_schema() -> String {
    let token = scheduler_core::lease::ClaimToken::generate();
    format!("fleet_{}", &token.expose_secret()[3..19])
}

/// A schema the fleet made up: dropped (with everything in it) when this guard drops,
/// also when the simulation failed or panicked.
struct Scratch {
    url: String,
    schema: String,
    runtime: Handle,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (url, schema) = (self.url.clone(), self.schema.clone());
        // On a thread of its own: this may drop while a runtime is being torn down.
        let runtime = self.runtime.clone();
        let dropped = std::thread::spawn(move || runtime.block_on(drop_schema(&url, &schema))).join();
        if let Ok(Err(e)) = dropped {
            eprintln!("fleet: could not drop schema {}: {e}", self.schema);
        }
    }
}

/// Ends the schema's connections (`sp <schema> ...` application names) and drops it.
async fn drop_schema(url: &str, schema: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let ours = format!("sp {schema} %");
    let end = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1";
    client.execute(end, &[&ours]).await?;
    // The name was checked by `Config::schema` (a-z, 0-9, _).
    client.batch_execute(&format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {schema} CASCADE")).await
}

/// Whether `schema` exists on the server at `url`.
pub async fn schema_exists(url: &str, schema: &str) -> Result<bool, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    let row = client.query_opt("SELECT 1 FROM pg_namespace WHERE nspname = $1", &[&schema]).await?;
    Ok(row.is_some())
}

/// One daemon: its pool, its elector's campaign, its listener and its scheduler loop.
struct Daemon {
    name: String,
    store: Store,
    elector: Elector,
    mailboxes: Mailboxes,
    listener: Option<Listener>,
    campaign: Option<(JoinHandle<()>, oneshot::Sender<()>)>,
    leader: Option<Leading>,
    stats: Option<StatsHandle>,
    alive: bool,
}

/// A daemon's scheduler loop: aborted by a kill, stopped (and awaited) at the end.
struct Leading {
    abort: AbortHandle,
    done: Pin<Box<dyn Future<Output = ()> + Send>>,
    stop: oneshot::Sender<()>,
}

/// The daemons of a running fleet.
pub(crate) struct Daemons {
    daemons: Vec<Daemon>,
    db: Handle,
    pacer: Option<AbortHandle>,
    options: PgFleet,
    /// The leader row's epoch, read at shutdown.
    terms: Option<u64>,
    /// Wakes the listeners handed to a mailbox, and could not (no live session).
    listened: (u64, u64),
}

impl std::fmt::Debug for Daemons {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemons").field("daemons", &self.daemons.len()).finish_non_exhaustive()
    }
}

fn stop_signal() -> (oneshot::Sender<()>, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}

impl Daemons {
    /// Kills the daemon leading now, as a crash would: its scheduler loop and campaign
    /// aborted (no resignation: the lease runs out), its listener and pool dropped.
    /// Returns its index, or `None` when no daemon leads at this moment.
    pub(crate) fn kill_leader(&mut self) -> Option<usize> {
        let victim = self.daemons.iter().position(|d| d.alive && d.elector.leadership().is_leader())?;
        let daemon = &mut self.daemons[victim];
        if let Some(leading) = daemon.leader.take() {
            leading.abort.abort();
        }
        if let Some((task, _)) = daemon.campaign.take() {
            task.abort();
        }
        self.listened = add(self.listened, daemon.listener.take().as_ref());
        daemon.store.close();
        daemon.alive = false;
        Some(victim)
    }

    /// Stops every live daemon (leaders resign) and returns the scheduler statistics
    /// summed over all daemons, the killed one included.
    pub(crate) async fn shutdown(&mut self) -> Stats {
        if let Some(pacer) = self.pacer.take() {
            pacer.abort();
        }
        if let Some(elector) = self.daemons.iter().find(|d| d.alive).map(|d| d.elector.clone()) {
            let row = blocking(Some(self.db.clone()), async move { elector.current().await }).await;
            self.terms = row.ok().flatten().map(|row| row.epoch);
        }
        for daemon in &mut self.daemons {
            if let Some(Leading { done, stop, .. }) = daemon.leader.take() {
                drop(stop);
                done.await;
            }
        }
        let mut campaigns = Vec::new();
        let mut listeners = Vec::new();
        for daemon in &mut self.daemons {
            if let Some((task, stop)) = daemon.campaign.take() {
                drop(stop);
                campaigns.push(task);
            }
            self.listened = add(self.listened, daemon.listener.as_ref());
            listeners.extend(daemon.listener.take());
        }
        blocking(Some(self.db.clone()), async move {
            for task in campaigns {
                let _ = task.await;
            }
            for listener in listeners {
                listener.stop().await;
            }
        })
        .await;
        for daemon in &self.daemons {
            daemon.store.close();
        }
        sum(self.daemons.iter().filter_map(|d| d.stats.as_ref().map(StatsHandle::snapshot)))
    }

    /// What the daemons did, and the failover.
    fn tally(&self, world: &World) -> LeadershipTally {
        let books = world.books();
        let log = &books.leaders;
        let lease = self.options.leader_lease;
        let failover = log.kill.map(|(killed, at, _)| FailoverTally {
            killed: self.daemons[killed].name.clone(),
            at,
            sessions: log.killed_sessions,
            new_leader: log.taken_over.map(|(d, _, _)| self.daemons[d].name.clone()),
            simulated: log.taken_over.map(|(_, sim, _)| sim),
            real: log.taken_over.map(|(_, _, real)| real),
        });
        LeadershipTally {
            daemons: self.daemons.iter().map(|d| d.name.clone()).collect(),
            cycles: (0..self.daemons.len()).map(|d| log.cycles.get(&d).copied().unwrap_or(0)).collect(),
            leader_changes: log.changes,
            terms: self.terms,
            wakes_listened: self.listened,
            lease,
            pace: self.options.pace,
            failover,
        }
    }
}

/// The running tally `(delivered, undeliverable)` plus what `listener` delivered and
/// could not.
fn add((delivered, undeliverable): (u64, u64), listener: Option<&Listener>) -> (u64, u64) {
    match listener.map(Listener::stats) {
        Some(s) => (delivered + s.delivered(), undeliverable + s.undeliverable()),
        None => (delivered, undeliverable),
    }
}

/// Sums scheduler statistics.
fn sum(all: impl Iterator<Item = Stats>) -> Stats {
    let mut total = Stats::default();
    for s in all {
        total.cycles += s.cycles;
        total.on_demand_cycles += s.on_demand_cycles;
        total.cycle_panics += s.cycle_panics;
        total.cycles_abandoned += s.cycles_abandoned;
        total.rebuilds += s.rebuilds;
        total.recovered_leases += s.recovered_leases;
        total.recovery_errors += s.recovery_errors;
        total.wake_attempts += s.wake_attempts;
        total.wake_succeeded += s.wake_succeeded;
        total.wake_failed += s.wake_failed;
        total.no_match_runs += s.no_match_runs;
        total.recently_notified_runs += s.recently_notified_runs;
        total.unclaimable_runs += s.unclaimable_runs;
        total.starved_runs += s.starved_runs;
        total.spawns_requested += s.spawns_requested;
        total.needs_attention_runs += s.needs_attention_runs;
        total.duplicate_runs += s.duplicate_runs;
        total.duplicate_sessions += s.duplicate_sessions;
        total.last_cycle_at = total.last_cycle_at.max(s.last_cycle_at);
        total.last_rebuild_at = total.last_rebuild_at.max(s.last_rebuild_at);
        total.last_recovery_error = s.last_recovery_error.or(total.last_recovery_error);
        total.last_wake_error = s.last_wake_error.or(total.last_wake_error);
        total.last_panic = s.last_panic.or(total.last_panic);
    }
    total
}

/// The leader's waker: checks each wake like the fleet's own waker, then hands the
/// batch to [`PgWaker`] (the outbox and `NOTIFY`) on the database runtime; the hosting
/// daemon's listener delivers it to the session's mailbox.
#[derive(Debug)]
pub(crate) struct PgFleetWaker {
    fleet: Arc<Fleet<Postgres>>,
    inner: PgWaker,
    db: Handle,
}

impl PgFleetWaker {
    fn book(&self, results: &[Result<(), Error>]) {
        let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
        self.fleet.world.count(|c| {
            c.wakes_delivered += ok;
            c.wakes_unreachable += results.len() as u64 - ok;
        });
    }
}

impl Waker<PgRun, PgSession> for PgFleetWaker {
    type Error = Error;

    async fn wake(&self, target: WakeTarget<'_, PgRun, PgSession>) -> Result<(), Error> {
        let mut out = Vec::new();
        let pairs = [(0, 0)];
        let (runs, sessions) = (std::slice::from_ref(target.run), std::slice::from_ref(target.session));
        self.wake_batch(WakeBatch::new(runs, sessions, &pairs, target.reason), &mut out).await;
        out.pop().unwrap_or(Ok(()))
    }

    async fn wake_batch<'a>(&'a self, batch: WakeBatch<'a, PgRun, PgSession>, out: &'a mut Vec<Result<(), Error>>)
    where
        PgRun: Sync,
        PgSession: Sync,
    {
        for target in batch.iter() {
            inspect_wake(&self.fleet, target.run.run_id(), target.session.session_id()).await;
        }
        let runs: Vec<PgRun> = batch.iter().map(|t| t.run.clone()).collect();
        let sessions: Vec<PgSession> = batch.iter().map(|t| t.session.clone()).collect();
        let reason = batch.get(0).map_or_else(String::new, |t| t.reason.to_owned());
        let waker = self.inner.clone();
        let results = blocking(Some(self.db.clone()), async move {
            let pairs: Vec<(u32, u32)> = (0..runs.len() as u32).map(|i| (i, i)).collect();
            let mut results: Vec<Result<(), Error>> = Vec::with_capacity(runs.len());
            waker.wake_batch(WakeBatch::new(&runs, &sessions, &pairs, &reason), &mut results).await;
            results
        })
        .await;
        self.book(&results);
        out.extend(results);
    }
}

/// Keeps the simulation's clock at most `pace` simulated seconds per real second:
/// every [`PACE_STEP`] of simulated time takes at least `PACE_STEP / pace` of real
/// time (the runtime is blocked for the rest), so a slow stretch (long SQL calls) is
/// never made up for by a burst later.
async fn pacer(pace: u32) {
    let mut last = Instant::now();
    loop {
        tokio::time::sleep(PACE_STEP).await;
        let due = last + PACE_STEP / pace;
        if let Some(ahead) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(ahead);
        }
        last = Instant::now();
    }
}

/// The pacer's step, in simulated time: how far the simulation may run ahead of its
/// pace at most.
const PACE_STEP: Duration = Duration::from_millis(250);

fn store_error(url: &str) -> impl Fn(Error) -> FleetError + '_ {
    move |e| FleetError::Store(format!("PostgreSQL at {}: {e}", redact(url)))
}

/// Connects one daemon (its pool, its listener, its elector) on the database runtime.
async fn connect_daemon(options: &PgFleet, schema: &str, name: &str) -> Result<Daemon, FleetError> {
    let config = Config::new(&options.url).map_err(store_error(&options.url))?;
    let config = config.schema(schema).and_then(|c| c.daemon_id(name)).map_err(store_error(&options.url))?;
    let store = Store::connect(config.pool_size(4)).await.map_err(store_error(&options.url))?;
    let mailboxes = Mailboxes::new(256);
    let listen = ListenerConfig { poll_every: Duration::from_millis(500), ..ListenerConfig::default() };
    let listener = Listener::start(&store, mailboxes.clone(), listen).await.map_err(store_error(&options.url))?;
    let elector = Elector::new(&store, options.leader_lease);
    Ok(Daemon {
        name: name.to_owned(),
        store,
        elector,
        mailboxes,
        listener: Some(listener),
        campaign: None,
        leader: None,
        stats: None,
        alive: true,
    })
}

/// Runs the simulation on PostgreSQL (see the [module docs](self)).
pub(crate) fn run(
    config: &FleetConfig,
    options: &PgFleet,
    progress: &mut dyn FnMut(&Progress),
) -> Result<FleetReport, FleetError> {
    options.validate()?;
    let db = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleet-db")
        .enable_all()
        .build()
        .map_err(|e| FleetError::Scheduler(e.to_string()))?;
    let schema = options.schema.clone().unwrap_or_else(random_schema);
    // Armed once the schema exists (a server that cannot be reached has none to drop).
    let mut scratch = None;
    let outcome = run_in(config, options, &schema, &db, &mut scratch, progress);
    drop(scratch);
    let kept = if options.schema.is_some() { "kept" } else { "dropped at exit" };
    outcome.map(|mut report| {
        report.store = format!("postgres {} schema {schema} ({kept})", redact(&options.url));
        report
    })
}

fn run_in(
    config: &FleetConfig,
    options: &PgFleet,
    schema: &str,
    db: &Runtime,
    scratch: &mut Option<Scratch>,
    progress: &mut dyn FnMut(&Progress),
) -> Result<FleetReport, FleetError> {
    let (driver, daemons) = db.block_on(async {
        let driver = connect_daemon(options, schema, "fleet-driver").await?;
        if options.schema.is_none() {
            let runtime = db.handle().clone();
            *scratch = Some(Scratch { url: options.url.clone(), schema: schema.to_owned(), runtime });
        }
        let mut daemons = Vec::new();
        for d in 0..options.daemons {
            daemons.push(connect_daemon(options, schema, &format!("d{d}")).await?);
        }
        Ok::<_, FleetError>((driver, daemons))
    })?;
    let on = Some(db.handle().clone());
    let handles = Handles::<Postgres> {
        tasks: Blocking(driver.store.tasks(), on.clone()),
        sessions: Blocking(driver.store.sessions(), on.clone()),
        pause: Blocking(driver.store.pause(), on.clone()),
        budgets: Blocking(driver.store.budgets(), on.clone()),
        hosts: daemons
            .iter()
            .map(|d| {
                let (tasks, sessions) =
                    (Blocking(d.store.tasks(), on.clone()), Blocking(d.store.sessions(), on.clone()));
                Host::new(tasks, sessions, Some(d.mailboxes.clone()))
            })
            .collect(),
    };
    let mut daemons = Daemons {
        daemons,
        db: db.handle().clone(),
        pacer: None,
        options: options.clone(),
        terms: None,
        listened: (0, 0),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| FleetError::Scheduler(e.to_string()))?;
    let result = runtime.block_on(simulate(config, handles, progress, |fleet, _budgets, clock| {
        start(fleet, clock, config, &mut daemons)?;
        Ok(super::Control::Daemons(daemons))
    }));
    driver.store.close();
    result
}

/// Starts every daemon's campaign (on the database runtime) and scheduler loop (here),
/// and the pacer; waits (in real time, simulated time standing still) for a first
/// leader.
fn start(
    fleet: &Arc<Fleet<Postgres>>,
    clock: TokioClock,
    config: &FleetConfig,
    daemons: &mut Daemons,
) -> Result<(), FleetError> {
    let options = daemons.options.clone();
    let db = daemons.db.clone();
    for (index, daemon) in daemons.daemons.iter_mut().enumerate() {
        let on = Some(db.clone());
        let store = &daemon.store;
        let waker = PgFleetWaker { fleet: Arc::clone(fleet), inner: PgWaker::new(store), db: db.clone() };
        let scheduler =
            Scheduler::builder(Blocking(store.tasks(), on.clone()), Blocking(store.sessions(), on.clone()), waker)
                .clock(clock)
                .interval(config.interval)
                .wake_cooldown(Duration::from_secs(60))
                .starvation_thresholds(config.thresholds)
                .selection_policy(config.policy)
                .pause_store(Blocking(store.pause(), on.clone()))
                .ladder(Blocking(daemon.elector.budgets(), on.clone()), FleetActor(Arc::clone(fleet)))
                .observer(FleetObserver(Arc::clone(fleet), index))
                .build()
                .map_err(|e| FleetError::Scheduler(e.to_string()))?;
        daemon.stats = Some(scheduler.stats_handle());
        let (stop, stopped) = stop_signal();
        let elector = daemon.elector.clone();
        let (campaign_stop, campaign_stopped) = stop_signal();
        let campaign = db.spawn(async move { elector.campaign(campaign_stopped).await });
        daemon.campaign = Some((campaign, campaign_stop));
        let leading = spawn_as_leader(scheduler, daemon.elector.clone(), stopped);
        let abort = leading.abort_handle();
        let done = Box::pin(async move { drop(leading.await) });
        daemon.leader = Some(Leading { abort, done, stop });
    }
    daemons.pacer = Some(tokio::spawn(pacer(options.pace)).abort_handle());
    let electors: Vec<Elector> = daemons.daemons.iter().map(|d| d.elector.clone()).collect();
    let wait = options.leader_lease * 10;
    let elected = futures::executor::block_on(blocking(Some(db), async move {
        tokio::time::timeout(wait, async {
            while !electors.iter().any(|e| e.leadership().is_leader()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }));
    elected.map_err(|_| FleetError::Scheduler(format!("no daemon was elected leader within {wait:?}")))
}

/// After the simulation: the leader row's term, the daemons' tally, and a
/// [`ViolationKind::SlowFailover`] when a kill was not followed, within two lease
/// periods (real, and simulated at the pace), by a cycle of another daemon.
pub(crate) fn assess(world: &World, daemons: &Daemons) -> LeadershipTally {
    let tally = daemons.tally(world);
    if let Some(detail) = slow_failover(&tally) {
        world.violate(ViolationKind::SlowFailover, detail);
    }
    tally
}

/// Why the failover broke its bound, if it did: after a kill, another daemon must
/// finish a cycle within two lease periods, in real time and in simulated time (one
/// real lease at the pace's limit).
fn slow_failover(tally: &LeadershipTally) -> Option<String> {
    let f = tally.failover.as_ref()?;
    let (bound, sim_bound) = (2 * tally.lease, 2 * tally.simulated_lease());
    match (f.real, f.simulated) {
        (Some(real), Some(sim)) if real <= bound && sim <= sim_bound => None,
        (Some(real), Some(sim)) => Some(format!(
            "{} took over {:.2} s (real) / {} (simulated) after {} was killed; the bound is {:.2} s / {}",
            f.new_leader.as_deref().unwrap_or("?"),
            real.as_secs_f64(),
            span_text(sim),
            f.killed,
            bound.as_secs_f64(),
            span_text(sim_bound)
        )),
        _ => Some(format!("{} was killed and no other daemon ran a cycle after it", f.killed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failover_longer_than_two_leases_in_either_time_is_a_violation() {
        let s = Duration::from_secs;
        let failover = |real: Option<Duration>, simulated: Option<Duration>| FailoverTally {
            killed: "d1".into(),
            at: s(600),
            sessions: 3,
            new_leader: real.map(|_| "d2".into()),
            simulated,
            real,
        };
        let tally = |f: FailoverTally| LeadershipTally {
            daemons: vec!["d0".into(), "d1".into(), "d2".into()],
            cycles: vec![0, 40, 30],
            leader_changes: 1,
            terms: Some(2),
            wakes_listened: (0, 0),
            lease: s(1),
            pace: 100,
            failover: Some(f),
        };
        assert_eq!(slow_failover(&tally(failover(Some(s(2)), Some(s(200))))), None, "two leases exactly");
        let slow_real = slow_failover(&tally(failover(Some(Duration::from_millis(2_001)), Some(s(150)))));
        assert!(slow_real.is_some_and(|d| d.contains("2.00 s")));
        assert!(slow_failover(&tally(failover(Some(s(1)), Some(s(201))))).is_some(), "too slow in simulated time");
        let none = slow_failover(&tally(failover(None, None))).unwrap();
        assert!(none.contains("no other daemon"), "{none}");
        let no_kill = LeadershipTally { failover: None, ..tally(failover(None, None)) };
        assert_eq!(slow_failover(&no_kill), None);
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("postgres://u:secret@h:5433/db?x=1"), "postgres://u:***@h:5433/db?x=1");
        assert_eq!(redact("postgres://postgres@127.0.0.1:5432/test"), "postgres://postgres@127.0.0.1:5432/test");
        assert_eq!(redact("host=h user=u password=secret dbname=d"), "host=h user=u password=*** dbname=d");
        assert_eq!(redact("postgresql://u:p%40ss@h/db"), "postgresql://u:***@h/db");
    }

    #[test]
    fn made_up_schemas_are_valid_and_distinct() {
        let (a, b) = (random_schema(), random_schema());
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(Config::new(DEFAULT_DATABASE_URL).unwrap().schema(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn kills_need_two_daemons_and_the_lease_and_pace_must_be_sane() {
        let ok = PgFleet { daemons: 3, kill_leader_at: Some(Duration::from_secs(60)), ..PgFleet::default() };
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(ok.simulated_lease(), Duration::from_secs(240));
        assert!(PgFleet { daemons: 1, ..ok.clone() }.validate().is_err());
        assert!(PgFleet { daemons: 0, kill_leader_at: None, ..ok.clone() }.validate().is_err());
        assert!(PgFleet { pace: 0, ..ok.clone() }.validate().is_err());
        assert!(PgFleet { leader_lease: Duration::from_millis(50), ..ok }.validate().is_err());
    }
}
