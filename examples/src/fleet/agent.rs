//! The simulated agent sessions: each is a tokio task that waits for a wake, claims
//! through the task service, heartbeats while it works, and completes or fails the run,
//! unless it crashes first. A supervisor notices a crash late (the crashed session
//! lingers in the registry for a while, as real ones do) and restarts the seat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use scheduler_core::lease::{ClaimRequest, ErrorKind, Lease, LeaseService, ServiceError, SessionRegistry, SessionSpec};
use scheduler_testkit::snapshot::SessionSnapshot;
use scheduler_tokio::mailbox::Mailboxes;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};

use super::FleetConfig;
use super::backend::Backend;
use super::world::{AgentSlot, Release, ViolationKind, World};

/// How agents and the launcher behave in time (simulated).
#[derive(Debug, Clone)]
pub(crate) struct Timing {
    /// Lease length of a claim, and of every heartbeat's extension.
    pub(crate) lease: Duration,
    /// Time between heartbeats.
    pub(crate) heartbeat: Duration,
    /// Time from a wake to the claim, in milliseconds.
    pub(crate) reaction_ms: (u64, u64),
    /// Time from a claim to `start`, in milliseconds.
    pub(crate) start_ms: (u64, u64),
    /// Boot time of a spawned session, in seconds.
    pub(crate) boot_s: (u64, u64),
    /// How long a crashed session stays registered before the supervisor notices.
    pub(crate) detect: Duration,
    /// How long a restart takes after that.
    pub(crate) restart: Duration,
    /// A spawned session that got no wake for this long exits.
    pub(crate) idle_retire: Duration,
    /// Probability that a human prompts a session after it finished a run.
    pub(crate) prompt_rate: f64,
    /// How long such a prompt lasts, in seconds.
    pub(crate) prompt_s: (u64, u64),
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(20),
            reaction_ms: (200, 3_000),
            start_ms: (1_000, 5_000),
            boot_s: (20, 40),
            detect: Duration::from_secs(90),
            restart: Duration::from_secs(30),
            idle_retire: Duration::from_secs(300),
            prompt_rate: 0.05,
            prompt_s: (60, 180),
        }
    }
}

/// A daemon hosting sessions: the handles its sessions register and claim through
/// (on PostgreSQL, its own connection pool, so that sessions register as its own).
#[derive(Debug)]
pub(crate) struct Host<B: Backend> {
    pub(crate) service: B::Tasks,
    pub(crate) registry: B::Sessions,
    /// Where the daemon's listener hands its sessions' wakes (PostgreSQL); `None`:
    /// the fleet's own waker puts wakes straight into the sessions' inboxes.
    pub(crate) mailboxes: Option<Mailboxes>,
    /// False once the daemon was killed: nothing is launched on it any more.
    alive: AtomicBool,
}

impl<B: Backend> Host<B> {
    /// A live host over these handles.
    pub(crate) fn new(service: B::Tasks, registry: B::Sessions, mailboxes: Option<Mailboxes>) -> Self {
        Host { service, registry, mailboxes, alive: AtomicBool::new(true) }
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// The daemon was killed: nothing is launched on it any more.
    pub(crate) fn die(&self) {
        self.alive.store(false, Ordering::Release);
    }
}

/// Everything the agents, the seams and the driver share.
#[derive(Debug)]
pub(crate) struct Fleet<B: Backend> {
    pub(crate) world: World,
    /// The driver's handles: arrivals, the pause, the supervisor, the checks.
    pub(crate) service: B::Tasks,
    pub(crate) registry: B::Sessions,
    pub(crate) pause: B::Pause,
    /// The daemons hosting sessions (one, sharing the driver's handles, but on
    /// PostgreSQL with `--daemons N`).
    pub(crate) hosts: Vec<Host<B>>,
    /// What is simulated.
    pub(crate) config: FleetConfig,
    pub(crate) timing: Timing,
    pub(crate) seed: u64,
    pub(crate) max_spawned: usize,
    /// Prefix of every session id of this process run (`g2-` on a resumed store).
    pub(crate) prefix: String,
}

/// How a session came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Part of the initial fleet, or a restart of such a seat.
    Seat,
    /// Started by the escalation actor; exits when idle for a while.
    Spawned,
}

/// FNV-1a, so that per-agent random streams depend only on the seed and the id.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn between(rng: &mut SmallRng, (lo, hi): (u64, u64)) -> u64 {
    if hi > lo { rng.random_range(lo..hi) } else { lo }
}

/// Where a new session goes: on `preferred` if that daemon is alive, else on the live
/// daemon hosting the fewest live sessions (the first such).
pub(crate) fn pick_host<B: Backend>(fleet: &Fleet<B>, preferred: Option<usize>) -> usize {
    if let Some(host) = preferred.filter(|&h| fleet.hosts.get(h).is_some_and(Host::is_alive)) {
        return host;
    }
    let books = fleet.world.books();
    let load = |h: usize| books.agents.values().filter(|a| a.alive && a.host == h).count();
    (0..fleet.hosts.len()).filter(|&h| fleet.hosts[h].is_alive()).min_by_key(|&h| load(h)).unwrap_or(0)
}

/// Starts a session on daemon `host`: books its slot now, registers it once booted,
/// and runs it.
pub(crate) fn launch<B: Backend>(fleet: &Arc<Fleet<B>>, session: SessionSnapshot, role: Role, host: usize) {
    let (tx, rx) = mpsc::unbounded_channel();
    let id = session.session_id.clone();
    if let Some(mailboxes) = &fleet.hosts[host].mailboxes {
        forward(mailboxes, &id, tx.clone());
    }
    fleet.world.books().agents.insert(
        id.clone(),
        AgentSlot { inbox: tx, alive: true, working: None, spawned: role == Role::Spawned, abort: None, host },
    );
    let agent = Agent {
        rng: SmallRng::seed_from_u64(fleet.seed ^ fnv1a(&id)),
        criteria: ClaimRequest::from_session(&session),
        fleet: Arc::clone(fleet),
        session,
        role,
        host,
        woken_for: None,
    };
    let task = tokio::spawn(agent.live(rx));
    if let Some(slot) = fleet.world.books().agents.get_mut(&id) {
        slot.abort = Some(task.abort_handle());
    }
}

/// Opens the session's mailbox with its daemon's listener and hands every wake it gets
/// to the session's inbox, until the session is gone.
fn forward(mailboxes: &Mailboxes, session_id: &str, inbox: UnboundedSender<String>) {
    let mut mailbox = mailboxes.register(session_id);
    tokio::spawn(async move {
        while let Some(wake) = mailbox.recv().await {
            if inbox.send(wake.run_id).is_err() {
                break;
            }
        }
    });
}

/// Kills a session from outside (as an operator's mistake would), if it is alive.
pub(crate) async fn kill<B: Backend>(fleet: &Arc<Fleet<B>>, session_id: &str) -> bool {
    let handle = fleet.world.books().agents.get(session_id).filter(|s| s.alive).and_then(|s| s.abort.clone());
    let Some(handle) = handle else { return false };
    handle.abort();
    let template = fleet.registry.session(session_id).await.ok().flatten().map(SessionSnapshot::from);
    crashed(fleet, session_id, template);
    true
}

/// Books a crash and hands the seat to the supervisor.
fn crashed<B: Backend>(fleet: &Arc<Fleet<B>>, session_id: &str, template: Option<SessionSnapshot>) {
    let (spawned, host) = {
        let mut books = fleet.world.books();
        books.counters.crashes += 1;
        match books.agents.get_mut(session_id) {
            Some(slot) => {
                slot.alive = false;
                slot.working = None;
                (slot.spawned, slot.host)
            }
            None => (false, 0),
        }
    };
    let restart = template.filter(|_| !spawned).map(|t| (t, host));
    tokio::spawn(supervise(Arc::clone(fleet), session_id.to_owned(), restart));
}

/// Notices a crashed session late, removes it from the registry, and restarts an
/// initial seat under a new id (spawned sessions are not restarted), on the same
/// daemon if that one is still alive.
async fn supervise<B: Backend>(fleet: Arc<Fleet<B>>, session_id: String, restart: Option<(SessionSnapshot, usize)>) {
    tokio::time::sleep(fleet.timing.detect).await;
    let _ = fleet.registry.remove(&session_id).await;
    let Some((mut session, host)) = restart else { return };
    tokio::time::sleep(fleet.timing.restart).await;
    let (base, generation) = match session.session_id.rsplit_once("-r") {
        Some((base, n)) if n.parse::<u32>().is_ok() => (base.to_owned(), n.parse::<u32>().unwrap_or(0) + 1),
        _ => (session.session_id.clone(), 1),
    };
    session.session_id = format!("{base}-r{generation}");
    session.prompting = false;
    fleet.world.count(|c| c.restarts += 1);
    let host = pick_host(&fleet, Some(host));
    launch(&fleet, session, Role::Seat, host);
}

/// What came of a try at working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tried {
    /// Nothing was claimed.
    Missed,
    /// A run was worked on (and ended, or its lease was lost).
    Worked,
    /// The session crashed mid-run.
    Crashed,
}

struct Agent<B: Backend> {
    fleet: Arc<Fleet<B>>,
    session: SessionSnapshot,
    criteria: ClaimRequest,
    role: Role,
    rng: SmallRng,
    /// The daemon hosting it.
    host: usize,
    /// The run named by the wake it is acting on, if it is acting on one.
    woken_for: Option<String>,
}

impl<B: Backend> Agent<B> {
    fn id(&self) -> &str {
        &self.session.session_id
    }

    /// Its daemon's task service.
    fn service(&self) -> &B::Tasks {
        &self.fleet.hosts[self.host].service
    }

    /// Its daemon's session registry.
    fn registry(&self) -> &B::Sessions {
        &self.fleet.hosts[self.host].registry
    }

    async fn sleep_ms(&mut self, range: (u64, u64)) {
        let ms = between(&mut self.rng, range);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    async fn live(mut self, mut inbox: UnboundedReceiver<String>) {
        let timing = self.fleet.timing.clone();
        if self.role == Role::Spawned {
            let boot = between(&mut self.rng, timing.boot_s);
            tokio::time::sleep(Duration::from_secs(boot)).await;
        }
        let now = self.fleet.world.now();
        if self.registry().register(&SessionSpec::from(self.session.clone()), now).await.is_err() {
            return;
        }
        // A spawned worker claims by itself as soon as it is up.
        if self.role == Role::Spawned && self.try_work().await == Tried::Crashed {
            return;
        }
        loop {
            let wake = if self.role == Role::Spawned {
                match tokio::time::timeout(timing.idle_retire, inbox.recv()).await {
                    Ok(wake) => wake,
                    Err(_) => {
                        self.retire().await;
                        return;
                    }
                }
            } else {
                inbox.recv().await
            };
            if wake.is_none() {
                return;
            }
            self.sleep_ms(timing.reaction_ms).await;
            while inbox.try_recv().is_ok() {}
            self.woken_for = wake;
            let tried = self.try_work().await;
            self.woken_for = None;
            match tried {
                Tried::Crashed => return,
                Tried::Missed => {}
                Tried::Worked => {
                    if self.role != Role::Spawned && self.rng.random_bool(timing.prompt_rate) {
                        self.prompt(&timing).await;
                        while inbox.try_recv().is_ok() {}
                    }
                }
            }
        }
    }

    /// A human talks to the session for a while: it is not idle meanwhile.
    async fn prompt(&mut self, timing: &Timing) {
        let id = self.id().to_owned();
        if self.registry().set_prompting(&id, true, self.fleet.world.now()).await.is_err() {
            return;
        }
        self.fleet.world.count(|c| c.prompts += 1);
        let secs = between(&mut self.rng, timing.prompt_s);
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let _ = self.registry().set_prompting(&id, false, self.fleet.world.now()).await;
    }

    async fn retire(&self) {
        let _ = self.registry().remove(self.id()).await;
        let mut books = self.fleet.world.books();
        books.counters.retired += 1;
        if let Some(slot) = books.agents.get_mut(self.id()) {
            slot.alive = false;
        }
    }

    async fn try_work(&mut self) -> Tried {
        let fleet = Arc::clone(&self.fleet);
        let now = fleet.world.now();
        match self.service().claim(&self.criteria, fleet.timing.lease, now).await {
            Ok(Some(claim)) => {
                if let Some(woken_for) = self.woken_for.take() {
                    let elsewhere = woken_for != claim.run_id;
                    fleet.world.count(|c| {
                        c.wake_claims += 1;
                        c.wake_claims_elsewhere += u64::from(elsewhere);
                    });
                }
                let at = fleet.world.elapsed();
                fleet.world.books().on_claim(&claim.run_id, self.id(), now, at);
                self.work(claim).await
            }
            Ok(None) => {
                fleet.world.count(|c| c.claim_misses += 1);
                Tried::Missed
            }
            Err(e) if e.kind() == ErrorKind::Paused => {
                fleet.world.count(|c| c.claims_refused_paused += 1);
                Tried::Missed
            }
            Err(e) if e.kind() == ErrorKind::SessionBusy => {
                let detail = format!("{} is idle, but the service says it holds a run: {e}", self.id());
                fleet.world.violate(ViolationKind::LeakedLease, detail);
                Tried::Missed
            }
            Err(_) => {
                fleet.world.count(|c| c.claim_errors += 1);
                Tried::Missed
            }
        }
    }

    async fn work(&mut self, claim: Lease) -> Tried {
        let fleet = Arc::clone(&self.fleet);
        let timing = &fleet.timing;
        let run_id = claim.run_id.as_str();
        let (plan, first_attempt) = {
            let books = fleet.world.books();
            let entry = &books.runs[run_id];
            (entry.plan, entry.claims == 1)
        };
        self.sleep_ms(timing.start_ms).await;
        if self.service().start(run_id, &claim.token, fleet.world.now()).await.is_err() {
            return self.lost(run_id);
        }
        let crash_after = plan.crash_at.filter(|_| first_attempt).map(|f| plan.work.mul_f64(f));
        let mut done = Duration::ZERO;
        while done < plan.work {
            let step = (plan.work - done).min(timing.heartbeat);
            if let Some(crash) = crash_after.filter(|&c| done + step >= c) {
                tokio::time::sleep(crash - done).await;
                // The process dies: no more heartbeats, no completion; the lease runs out.
                crashed(&fleet, self.id(), Some(self.session.clone()));
                return Tried::Crashed;
            }
            tokio::time::sleep(step).await;
            done += step;
            if done < plan.work
                && self.service().heartbeat(run_id, &claim.token, timing.lease, fleet.world.now()).await.is_err()
            {
                return self.lost(run_id);
            }
        }
        let now = fleet.world.now();
        let (ended, outcome) = if plan.fails {
            (self.service().fail(run_id, &claim.token, "tests failed", now).await, Release::Failed)
        } else {
            (self.service().complete(run_id, &claim.token, now).await, Release::Completed)
        };
        if ended.is_err() {
            return self.lost(run_id);
        }
        let at = fleet.world.elapsed();
        let mut books = fleet.world.books();
        books.on_release(run_id, self.id(), outcome, at);
        match outcome {
            Release::Completed => books.counters.completed += 1,
            Release::Failed => books.counters.failed += 1,
            Release::Lost => {}
        }
        Tried::Worked
    }

    /// The service refused the token: the lease was recovered under this session.
    fn lost(&self, run_id: &str) -> Tried {
        let at = self.fleet.world.elapsed();
        self.fleet.world.books().on_release(run_id, self.id(), Release::Lost, at);
        Tried::Worked
    }
}
