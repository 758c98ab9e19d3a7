//! Failover: three daemons over one schema while work arrives; the leader is killed
//! mid-run; another takes over; every run completes once, none is claimed twice at
//! once, and no spawn repeats in a starvation episode except by the crashed cycle.
//! Then: a leader deposed while still running cannot climb the ladder.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use common::{TestSchema, t};
use scheduler_core::Scheduler;
use scheduler_core::ladder::{Budget, Thresholds};
use scheduler_core::lease::{
    ClaimRequest, ErrorKind, Lease, LeaseService, RunSpec, ServiceError, SessionRegistry, SessionSpec, TaskSpec,
};
use scheduler_core::model::{RunStatus, SessionState};
use scheduler_core::seam::{StarvationStore, TaskSource};
use scheduler_postgres::{
    Elector, Error, Leadership, Listener, ListenerConfig, PgWaker, Store, Tasks, spawn_as_leader,
};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::escalation::{EscalationCall, RecordingActor};
use scheduler_tokio::TokioClock;
use scheduler_tokio::mailbox::{Mailbox, Mailboxes};
use tokio::task::{AbortHandle, JoinHandle};

/// The leader lease: short, so the test is fast; the bounds below are generous to it.
const LEASE: Duration = Duration::from_secs(2);
/// The sessions' claim lease.
const WORK_LEASE: Duration = Duration::from_secs(2);
const RUNS: usize = 60;

/// What the sessions did, across every daemon.
#[derive(Default)]
struct Audit {
    /// Per run: every claim (session, claimed at, lease end, ended).
    claims: Mutex<HashMap<String, Vec<(String, SystemTime, SystemTime, bool)>>>,
    completed: Mutex<HashMap<String, u32>>,
    violations: Mutex<Vec<String>>,
}

impl Audit {
    fn claimed(&self, lease: &Lease, now: SystemTime) {
        let mut claims = self.claims.lock().unwrap();
        let history = claims.entry(lease.run_id.clone()).or_default();
        if let Some((holder, _, until, ended)) = history.last() {
            if !ended && *until > now {
                self.violations.lock().unwrap().push(format!(
                    "run {} claimed by {} while {holder} held it until {until:?}",
                    lease.run_id, lease.session_id
                ));
            }
        }
        history.push((lease.session_id.clone(), now, lease.lease_until, false));
    }

    fn completed(&self, run_id: &str) {
        if let Some(last) = self.claims.lock().unwrap().get_mut(run_id).and_then(|h| h.last_mut()) {
            last.3 = true;
        }
        *self.completed.lock().unwrap().entry(run_id.to_owned()).or_default() += 1;
    }

    fn done(&self) -> usize {
        self.completed.lock().unwrap().len()
    }

    /// When each claim of `run_id` happened: the boundaries of its starvation episodes.
    fn claim_times(&self, run_id: &str) -> Vec<SystemTime> {
        self.claims.lock().unwrap().get(run_id).map(|h| h.iter().map(|c| c.1).collect()).unwrap_or_default()
    }
}

/// A session: on every wake, claims and works runs until nothing is left for it.
async fn session(tasks: Tasks, spec: SessionSpec, mut inbox: Mailbox, audit: Arc<Audit>) {
    let request = ClaimRequest::from_session(&spec);
    while inbox.recv().await.is_some() {
        loop {
            let now = SystemTime::now();
            let lease = match tasks.claim(&request, WORK_LEASE, now).await {
                Ok(Some(lease)) => lease,
                Ok(None) | Err(_) => break,
            };
            audit.claimed(&lease, now);
            let _ = tasks.start(&lease.run_id, &lease.token, SystemTime::now()).await;
            tokio::time::sleep(Duration::from_millis(150)).await;
            if tasks.complete(&lease.run_id, &lease.token, SystemTime::now()).await.is_ok() {
                audit.completed(&lease.run_id);
            }
        }
    }
}

struct Daemon {
    name: String,
    store: Store,
    elector: Elector,
    actor: RecordingActor,
    mailboxes: Mailboxes,
    tasks: Vec<JoinHandle<()>>,
    leader: AbortHandle,
    stats: scheduler_core::StatsHandle,
    listener: Option<Listener>,
    sessions: Vec<String>,
}

impl Daemon {
    async fn start(schema: &TestSchema, name: &str, caps: &[&[&str]], audit: &Arc<Audit>) -> Daemon {
        let store = schema.store(name).await;
        let mailboxes = Mailboxes::new(256);
        let config = ListenerConfig { poll_every: Duration::from_millis(500), ..ListenerConfig::default() };
        let listener = Listener::start(&store, mailboxes.clone(), config).await.unwrap();
        let elector = Elector::new(&store, LEASE);
        let actor = RecordingActor::new();
        let scheduler = Scheduler::builder(store.tasks(), store.sessions(), PgWaker::new(&store))
            .clock(TokioClock::system())
            .interval(Duration::from_millis(200))
            .wake_cooldown(Duration::from_millis(400))
            .starvation_thresholds(
                Thresholds::DEFAULT
                    .fan_out_after(1)
                    .spawn_after(2)
                    .event_after(3)
                    .needs_attention_after(100_000)
                    .min_queued_age(Duration::from_secs(1)),
            )
            .starvation_store(elector.budgets())
            .escalation_actor(actor.clone())
            .build()
            .unwrap();
        let campaign = tokio::spawn({
            let e = elector.clone();
            async move { e.campaign(std::future::pending()).await }
        });
        let stats = scheduler.stats_handle();
        let leader = spawn_as_leader(scheduler, elector.clone(), std::future::pending()).abort_handle();
        let mut daemon = Daemon {
            name: name.to_owned(),
            store,
            elector,
            actor,
            mailboxes,
            tasks: vec![campaign],
            leader,
            stats,
            listener: Some(listener),
            sessions: Vec::new(),
        };
        for (i, caps) in caps.iter().enumerate() {
            daemon.add_session(&format!("{name}-s{i}"), caps, audit).await;
        }
        daemon
    }

    async fn add_session(&mut self, id: &str, caps: &[&str], audit: &Arc<Audit>) {
        let spec = SessionSpec::active(id).caps(caps.iter().copied()).created_at(SystemTime::now());
        let inbox = self.mailboxes.register(id);
        self.store.sessions().register(&spec, SystemTime::now()).await.unwrap();
        self.tasks.push(tokio::spawn(session(self.store.tasks(), spec, inbox, Arc::clone(audit))));
        self.sessions.push(id.to_owned());
    }

    /// A crash: every task aborted, the listener and the pool's connections dropped.
    fn kill(&mut self) {
        self.leader.abort();
        self.tasks.iter().for_each(JoinHandle::abort);
        drop(self.listener.take());
        self.store.close();
    }
}

async fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints what the fleet looks like (a failing run's evidence).
async fn diagnose(daemons: &[Daemon], client: &Store, audit: &Audit) {
    for d in daemons {
        let listener = d.listener.as_ref().map(|l| {
            let s = l.stats();
            (s.delivered(), s.undeliverable(), s.drains(), s.errors(), s.reconnects())
        });
        println!(
            "{}: {:?}, last error {:?}, stats {:?}, listener (delivered, undeliverable, drains, errors, reconnects) {listener:?}",
            d.name,
            d.elector.leadership(),
            d.elector.last_error(),
            d.stats.snapshot()
        );
    }
    let done = audit.completed.lock().unwrap().clone();
    for i in 0..RUNS {
        let id = format!("run-{i:03}");
        if !done.contains_key(&id) {
            let record = client.tasks().record(&id).await;
            let claims = audit.claims.lock().unwrap().get(&id).cloned();
            println!("{id}: {record:?}; claims {claims:?}");
        }
    }
    let mut sessions = Vec::new();
    let _ = scheduler_core::seam::SessionSource::sessions(&client.sessions(), &mut sessions).await;
    for s in sessions {
        println!("session {} on {}: {:?} caps {:?}", s.spec.session_id, s.daemon_id, s.spec.state, s.spec.capabilities);
    }
}

/// How many of the runs are `completed`, as the database says.
async fn completed(client: &Store) -> usize {
    let ids: Vec<String> = (0..RUNS).map(|i| format!("run-{i:03}")).collect();
    let mut statuses = Vec::new();
    match client.tasks().run_statuses(ids.iter().map(String::as_str), &mut statuses).await {
        Ok(()) => statuses.iter().filter(|s| matches!(s, Ok(Some(RunStatus::Completed)))).count(),
        Err(_) => 0,
    }
}

fn spawns_of(actor: &RecordingActor) -> Vec<String> {
    actor
        .calls()
        .into_iter()
        .filter_map(|c| if let EscalationCall::Spawn { run_id } = c { Some(run_id) } else { None })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_survives_losing_its_leader() {
    let schema = TestSchema::new();
    let audit = Arc::new(Audit::default());
    let caps: &[&[&str]] = &[&["rust", "go"], &["rust"], &["go"]];
    let mut daemons = Vec::new();
    for name in ["d0", "d1", "d2"] {
        daemons.push(Daemon::start(&schema, name, caps, &audit).await);
    }
    let client = schema.store("client").await;
    let first =
        wait_for("a first leader", 3 * LEASE, || daemons.iter().position(|d| d.elector.leadership().is_leader())).await;

    // Work arrives; the leader is killed half way through.
    let mut kill_at = None;
    let mut spawned_by_dead = Vec::new();
    for i in 0..RUNS {
        let caps: &[&str] = match i % 10 {
            9 => &["gpu"],
            n if n % 3 == 0 => &["rust"],
            n if n % 3 == 1 => &["go"],
            _ => &[],
        };
        let run = RunSpec::new(format!("run-{i:03}")).caps(caps.iter().copied());
        client.tasks().enqueue(&TaskSpec::new(format!("task-{i:03}")), &run, SystemTime::now()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if i == RUNS / 2 {
            daemons[first].kill();
            let killed = Instant::now();
            let survivors: Vec<Elector> = (0..3).filter(|&d| d != first).map(|d| daemons[d].elector.clone()).collect();
            let watcher = tokio::spawn(async move {
                while !survivors.iter().any(|e| e.leadership().is_leader()) {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                killed.elapsed()
            });
            kill_at = Some((watcher, SystemTime::now()));
        }
    }
    let (watcher, killed_wall) = kill_at.unwrap();
    let failover = tokio::time::timeout(3 * LEASE, watcher).await.expect("a new leader").unwrap();
    let next = (0..3).find(|&i| i != first && daemons[i].elector.leadership().is_leader()).unwrap();
    println!("failover: {failover:?} ({} took over from {})", daemons[next].name, daemons[first].name);
    assert!(failover <= 2 * LEASE, "a new leader within two lease periods, took {failover:?}");
    spawned_by_dead.extend(spawns_of(&daemons[first].actor));
    // The dead daemon's supervisor would mark its sessions gone.
    for id in daemons[first].sessions.clone() {
        client.sessions().set_state(&id, SessionState::Stopped, SystemTime::now()).await.unwrap();
    }

    // Everything a session can take completes; then a gpu session drains the rest.
    let ordinary = (0..RUNS).filter(|i| i % 10 != 9).count();
    // The dead daemon's elector froze as it was; count the living.
    let sample_leaders =
        |daemons: &[Daemon]| (0..3).filter(|&i| i != first && daemons[i].elector.leadership().is_leader()).count();
    // Counted in the database: a crashed session may have completed a run and died
    // before it could tell the audit.
    let ordinary_done = Instant::now();
    while completed(&client).await < ordinary {
        assert!(sample_leaders(&daemons) <= 1, "never two leaders");
        if ordinary_done.elapsed() > Duration::from_secs(60) {
            diagnose(&daemons, &client, &audit).await;
            panic!("timed out waiting for the ordinary runs to complete");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let host = (0..3).find(|&i| i != first).unwrap();
    daemons[host].add_session("gpu-worker", &["gpu"], &audit).await;
    let all_done = Instant::now();
    while completed(&client).await < RUNS {
        assert!(all_done.elapsed() < Duration::from_secs(60), "timed out waiting for every run to complete");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // No run lost, none done twice, none claimed twice at once.
    let violations = audit.violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(audit.completed.lock().unwrap().values().all(|&n| n == 1), "no run completed twice");
    assert!(audit.done() >= RUNS - 3, "every completion was seen, but for at most one per crashed session");
    for i in 0..RUNS {
        let status = client.tasks().run_status(&format!("run-{i:03}")).await.unwrap();
        assert_eq!(status, Some(RunStatus::Completed), "run-{i:03}");
    }
    // Spawns: at most one per starvation episode (claims end episodes), except that the
    // crashed leader's last cycle may have requested one whose budget it never saved.
    let mut by_run: HashMap<String, (Vec<()>, usize)> = HashMap::new();
    for d in (0..3).filter(|&i| i != first) {
        for run in spawns_of(&daemons[d].actor) {
            by_run.entry(run).or_default().0.push(());
        }
    }
    for run in &spawned_by_dead {
        by_run.entry(run.clone()).or_default().1 += 1;
    }
    let reclaimed = audit.claims.lock().unwrap().values().filter(|h| h.len() > 1).count();
    println!(
        "spawns: {} runs by survivors, {} by the dead leader; runs claimed again after a crash: {reclaimed}",
        by_run.values().filter(|v| !v.0.is_empty()).count(),
        spawned_by_dead.len()
    );
    let gpu_spawns = by_run.iter().filter(|(r, _)| r.ends_with('9')).count();
    assert!(gpu_spawns > 0, "starved gpu runs asked for workers");
    for (run, (survivors, dead)) in &by_run {
        let episodes = audit.claim_times(run).iter().filter(|&&at| at > killed_wall).count().max(1);
        assert!(survivors.len() <= episodes, "{run}: {} survivor spawns in {episodes} episodes", survivors.len());
        assert!(*dead <= audit.claim_times(run).len().max(1), "{run}: {dead} spawns by the dead leader");
    }
    for d in &mut daemons {
        d.kill();
    }
}

async fn starved_store(schema: &TestSchema, daemon: &str) -> Store {
    let store = schema.store(daemon).await;
    // A run nobody can take: it starves from the first cycle on.
    store.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r").caps(["gpu"]), t(0)).await.unwrap();
    store
}

#[tokio::test]
async fn a_leader_deposed_while_stalled_cannot_climb_the_ladder() {
    const SHORT: Duration = Duration::from_millis(600);
    let schema = TestSchema::new();
    let store_a = starved_store(&schema, "a").await;
    let store_b = schema.store("b").await;
    let (a, b) = (Elector::new(&store_a, SHORT), Elector::new(&store_b, SHORT));
    let epoch_a = a.try_acquire().await.unwrap().expect("a free lease");
    assert_eq!(b.try_acquire().await.unwrap(), None, "the lease is held");
    let actor = RecordingActor::new();
    let clock = FakeClock::new(t(0) + Duration::from_secs(3600));
    let mut scheduler = Scheduler::builder(store_a.tasks(), store_a.sessions(), PgWaker::new(&store_a))
        .clock(clock.clone())
        .starvation_thresholds(
            Thresholds::DEFAULT
                .fan_out_after(1)
                .spawn_after(3)
                .event_after(3)
                .needs_attention_after(1000)
                .min_queued_age(Duration::from_secs(60)),
        )
        .starvation_store(a.budgets())
        .escalation_actor(actor.clone())
        .build()
        .unwrap();
    assert!(scheduler.run_once().await.is_ok());
    let budget = store_a.budgets().load("r").await.unwrap().expect("the leader writes the budget");
    assert_eq!(budget.wake_count, 1);
    // A stalls (no renewals); its lease runs out and B takes over.
    tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
    let epoch_b = b.try_acquire().await.unwrap().expect("an expired lease is taken over");
    assert!(epoch_b > epoch_a);
    assert!(a.leadership().is_leader(), "the stalled leader has not noticed yet");
    for _ in 0..3 {
        clock.advance(Duration::from_secs(61));
        let report = scheduler.run_once().await;
        let refused = report.errors().iter().any(|e| format!("{e:?}").contains("Deposed"));
        assert!(refused, "the deposed leader's ladder calls are refused: {:?}", report.errors());
    }
    assert_eq!(store_a.budgets().load("r").await.unwrap(), Some(budget), "the budget did not climb");
    assert!(!actor.calls().iter().any(|c| matches!(c, EscalationCall::Spawn { .. })), "no spawn requested");
    let direct = a.budgets().upsert("r", &Budget::fresh(t(9))).await.unwrap_err();
    assert!(matches!(direct, Error::Deposed { epoch: Some(e), .. } if e == epoch_a), "{direct}");
    assert_eq!(direct.kind(), ErrorKind::Other);
    assert!(direct.to_string().contains("\"a\""), "names the daemon: {direct}");
    assert!(!a.renew().await.unwrap(), "its renewal is refused");
    assert_eq!(a.leadership(), Leadership::Follower);
    // The new leader's fenced budgets write.
    b.budgets().upsert("r", &Budget::fresh(t(9))).await.unwrap();
    let mut pending = Vec::new();
    store_b.tasks().pending_runs(&mut pending).await.unwrap();
    assert_eq!(pending.len(), 1, "nothing else changed");
}
