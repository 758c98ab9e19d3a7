//! The end of a simulation: the books checked against the task service, and the
//! summary table.

use scheduler_core::why::WhyNotWoken;
use std::fmt;
use std::time::Duration;

use scheduler_core::Stats;
use scheduler_core::model::RunStatus;
use scheduler_testkit::snapshot::OwnerRef;

use std::collections::BTreeMap;

use scheduler_core::lease::LeaseService;
use scheduler_core::seam::TaskSource;
use scheduler_core::view::ActiveRunView;

use super::FleetConfig;
use super::agent::Fleet;
use super::backend::Backend;
use super::workload::{Job, WorkKind};
use super::world::{Violation, ViolationKind};

/// What became of the runs, as the task service has them at the end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunTally {
    /// Runs enqueued.
    pub enqueued: usize,
    /// Runs an earlier simulation on the same store left open, taken over (the other
    /// rows count them too).
    pub taken_over: usize,
    /// Runs `completed`.
    pub completed: usize,
    /// Runs `failed` (the agent reported a failure).
    pub failed: usize,
    /// Runs `needs_attention`.
    pub needs_attention: usize,
    /// Runs still `queued`, `claimed` or `running` when the drain ended.
    pub open: usize,
    /// Runs that need a capability no agent has.
    pub uncoverable: usize,
    /// Of those, how many ended `needs_attention`.
    pub uncoverable_marked: usize,
    /// Runs only a spawned session could take.
    pub spawn_only: usize,
    /// Of those, how many ended `completed` or `failed` (were worked on).
    pub spawn_only_done: usize,
    /// Runs claimed again after their lease was recovered.
    pub reclaimed: usize,
}

/// What the fleet and the scheduler did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Activity {
    /// Wakes delivered to a live session.
    pub wakes_delivered: u64,
    /// Wakes that failed: the session had crashed and was not deregistered yet.
    pub wakes_unreachable: u64,
    /// Claims won.
    pub claims_won: u64,
    /// Claims won by a session just woken (the rest: spawned sessions claiming as
    /// they come up). Wakes that arrive while the session reacts to an earlier one
    /// merge into that one.
    pub wake_claims: u64,
    /// Of those, claims of another run than the one the wake named: the session claims
    /// through the task service (the best run it matches), it is not handed the run.
    pub wake_claims_elsewhere: u64,
    /// Claims that found nothing (another session was faster).
    pub claim_misses: u64,
    /// Claims refused because the scheduler was paused.
    pub claims_refused_paused: u64,
    /// Leases the sweep recovered.
    pub leases_recovered: u64,
    /// Live sessions whose lease was recovered under them.
    pub leases_lost: u64,
    /// Sessions that crashed.
    pub crashes: u64,
    /// Crashed sessions restarted by the supervisor.
    pub restarts: u64,
    /// Spawn requests the escalation actor received.
    pub spawn_requests: u64,
    /// Sessions it spawned.
    pub sessions_spawned: u64,
    /// Requests it deferred because the spawned-session cap was reached.
    pub spawns_deferred: u64,
    /// Requests no agent kind could cover.
    pub spawns_unresolvable: u64,
    /// Spawned sessions that exited when idle.
    pub retired: u64,
    /// Starved events emitted.
    pub starved_events: u64,
    /// Times a human prompted a session.
    pub prompts: u64,
    /// Immediate cycles requested (urgent arrivals, resume).
    pub run_now: u64,
    /// Errors the scheduler's cycles reported (undeliverable wakes among them).
    pub cycle_errors: u64,
}

/// The pause and what happened during it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PauseTally {
    /// When it started, from the start.
    pub at: Duration,
    /// How long it lasted.
    pub length: Duration,
    /// Cycles that ran paused (swept, woke no one).
    pub paused_cycles: u64,
    /// Wakes sent while paused (must be 0).
    pub wakes: u64,
    /// Leases recovered while paused.
    pub recovered: u64,
}

/// Time from a run becoming claimable to its first claim, in simulated time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Latency {
    /// Runs claimed.
    pub count: usize,
    /// The median.
    pub median: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
    /// The longest.
    pub max: Duration,
}

impl Latency {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        if n == 0 {
            return Latency::default();
        }
        let rank = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        Latency { count: n, median: rank(0.5), p99: rank(0.99), max: samples[n - 1] }
    }
}

/// Everything a simulation found.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetReport {
    /// The store it ran on (`memory`, or `sqlite PATH`).
    pub store: String,
    /// What an earlier simulation on the same store left, if this one resumed it.
    pub resumed: Option<Resumed>,
    /// What was simulated.
    pub config: FleetConfig,
    /// Simulated time from the start to the end of the drain.
    pub simulated: Duration,
    /// What became of the runs.
    pub runs: RunTally,
    /// What the fleet did.
    pub activity: Activity,
    /// The pause, if there was one.
    pub pause: Option<PauseTally>,
    /// Time to the first claim.
    pub time_to_claim: Latency,
    /// The scheduler's own statistics at the end.
    pub stats: Stats,
    /// One line per run that ended `needs_attention`: what it needed and the
    /// scheduler's diagnostic.
    pub attention: Vec<String>,
    /// The last error a cycle reported, if any.
    pub last_cycle_error: Option<String>,
    /// Broken invariants (the first 50).
    pub violations: Vec<Violation>,
    /// How many invariants were broken in all.
    pub violation_count: usize,
    /// The daemons, their leader and the failover (PostgreSQL fleets only).
    pub leadership: Option<LeadershipTally>,
}

/// The daemons of a PostgreSQL fleet: which ran the cycles, how often the leader
/// changed, and the failover after the leader was killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeadershipTally {
    /// The daemons' names (`d0`, `d1`, ...).
    pub daemons: Vec<String>,
    /// Cycles each daemon finished (while it led).
    pub cycles: Vec<u64>,
    /// Times the daemon running the cycles changed.
    pub leader_changes: u32,
    /// The leader row's epoch at the end (every election adds one), if it could be read.
    pub terms: Option<u64>,
    /// Wakes the daemons' listeners handed to a session's mailbox, and wakes they could
    /// not (the session had crashed, or its mailbox was full).
    pub wakes_listened: (u64, u64),
    /// The leader lease, in real time: the database times it.
    pub lease: Duration,
    /// The simulation ran at most this many simulated seconds per real second.
    pub pace: u32,
    /// The leader kill and what followed, if a daemon was killed.
    pub failover: Option<FailoverTally>,
}

impl LeadershipTally {
    /// One lease period in simulated time, at the pace's limit.
    pub fn simulated_lease(&self) -> Duration {
        self.lease * self.pace
    }
}

/// A leader kill and the failover after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailoverTally {
    /// The daemon killed.
    pub killed: String,
    /// When (simulated time since the start).
    pub at: Duration,
    /// Sessions it hosted (they crashed with it).
    pub sessions: usize,
    /// The daemon that ran the first cycle after the kill, if any did.
    pub new_leader: Option<String>,
    /// From the kill to the end of that cycle, in simulated time.
    pub simulated: Option<Duration>,
    /// The same, in real time.
    pub real: Option<Duration>,
}

/// What a simulation found in a store an earlier one wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resumed {
    /// Which simulation on this store this is (2 for the first resume).
    pub generation: u32,
    /// Runs still queued, taken over.
    pub queued: usize,
    /// Runs leased to sessions of the earlier simulation (gone now), taken over; the
    /// sweep recovers them once their leases run out.
    pub leased: usize,
    /// Ladder budgets found (the scheduler goes on with them).
    pub budgets: usize,
    /// Sessions of the earlier simulation removed from the registry.
    pub stale_sessions: usize,
}

impl FleetReport {
    /// Whether no invariant was broken.
    pub fn is_clean(&self) -> bool {
        self.violation_count == 0
    }
}

/// Checks the books against the task service and the scheduler's statistics, and
/// builds the report.
pub(crate) async fn account<B: Backend>(
    config: &FleetConfig,
    fleet: &Fleet<B>,
    jobs: &[Job],
    stats: Stats,
) -> FleetReport {
    let service = &fleet.service;
    let at = fleet.world.elapsed();
    // What the service has: every run the books know, and every lease it holds.
    let ids: Vec<String> = fleet.world.books().runs.keys().cloned().collect();
    let mut records = BTreeMap::new();
    for id in &ids {
        if let Ok(Some(record)) = service.record(id).await {
            records.insert(id.clone(), record);
        }
    }
    let mut active = Vec::new();
    let _ = service.active_runs(&mut active).await;
    let mut books = fleet.world.books();
    let mut tally = RunTally { enqueued: jobs.len(), ..RunTally::default() };
    let mut lost: Vec<(ViolationKind, String)> = Vec::new();
    let mut attention = Vec::new();

    let booked = jobs.iter().filter(|j| books.runs.contains_key(&j.spec.run_id)).count();
    tally.taken_over = books.runs.len() - booked;
    if booked != jobs.len() {
        let detail = format!("{} jobs, {booked} of them in the books", jobs.len());
        lost.push((ViolationKind::RunLost, detail));
    }
    for (id, entry) in &books.runs {
        let record = records.get(id).cloned();
        let status = record.as_ref().map(|r| r.status);
        let ended = entry.completions + entry.failures;
        let consistent = match status {
            None => false,
            Some(RunStatus::Completed) => entry.completions == 1 && entry.failures == 0 && !entry.marked,
            Some(RunStatus::Failed) => entry.failures == 1 && entry.completions == 0 && !entry.marked,
            Some(RunStatus::NeedsAttention) => entry.marked && ended == 0,
            Some(RunStatus::Queued) => ended == 0 && !entry.marked,
            Some(RunStatus::Claimed | RunStatus::Starting | RunStatus::Running) => {
                ended == 0
                    && !entry.marked
                    && record.as_ref().and_then(|r| r.session_id.as_deref())
                        == books.holders.get(id).map(String::as_str)
            }
            Some(_) => false,
        };
        if !consistent {
            let detail = format!(
                "{id}: service says {status:?}; books: {} completion(s), {} failure(s), marked {}, held by {:?}",
                entry.completions,
                entry.failures,
                entry.marked,
                books.holders.get(id)
            );
            lost.push((ViolationKind::RunLost, detail));
        }
        match status {
            Some(RunStatus::Completed) => tally.completed += 1,
            Some(RunStatus::Failed) => tally.failed += 1,
            Some(RunStatus::NeedsAttention) => tally.needs_attention += 1,
            Some(RunStatus::Queued | RunStatus::Claimed | RunStatus::Starting | RunStatus::Running) => tally.open += 1,
            _ => {}
        }
        match entry.kind {
            WorkKind::Uncoverable => {
                tally.uncoverable += 1;
                tally.uncoverable_marked += usize::from(status == Some(RunStatus::NeedsAttention));
            }
            WorkKind::SpawnOnly => {
                tally.spawn_only += 1;
                tally.spawn_only_done += usize::from(ended > 0);
            }
            WorkKind::Normal => {}
        }
        tally.reclaimed += usize::from(entry.claims > 1);
        if status == Some(RunStatus::NeedsAttention)
            && let Some(job) = jobs.iter().find(|j| &j.spec.run_id == id)
        {
            let not_woken = books.not_woken.get(id).copied();
            attention.push(attention_line(job, entry.kind, not_woken, entry.diagnostic.clone()));
        }
    }
    // Every lease the service holds is one the books know about, and vice versa.
    for held in &active {
        let (run_id, session_id) = (held.run_id(), held.session_id());
        if books.holders.get(run_id).map(String::as_str) != Some(session_id) {
            let detail = format!("the service has {run_id} held by {session_id}; the books do not");
            lost.push((ViolationKind::RunLost, detail));
        }
    }
    for (run_id, session_id) in &books.holders {
        if records.get(run_id).and_then(|r| r.session_id.as_ref()) != Some(session_id) {
            let detail = format!("the books have {run_id} held by {session_id}; the service does not");
            lost.push((ViolationKind::RunLost, detail));
        }
    }
    // The scheduler's statistics agree with what the fleet saw.
    let c = &books.counters;
    let checks = [
        ("wakes succeeded", stats.wake_succeeded, c.wakes_delivered),
        ("wakes failed", stats.wake_failed, c.wakes_unreachable),
        ("leases recovered", stats.recovered_leases, c.recovered),
        ("spawns requested", stats.spawns_requested, c.sessions_spawned),
        ("needs attention", stats.needs_attention_runs, c.marked),
    ];
    for (what, theirs, ours) in checks {
        if theirs != ours {
            lost.push((ViolationKind::StatsMismatch, format!("{what}: scheduler says {theirs}, the fleet saw {ours}")));
        }
    }
    for (kind, detail) in lost {
        books.violate(kind, at, detail);
    }

    let c = books.counters.clone();
    FleetReport {
        store: String::new(),
        resumed: None,
        config: config.clone(),
        simulated: at,
        runs: tally,
        activity: Activity {
            wakes_delivered: c.wakes_delivered,
            wakes_unreachable: c.wakes_unreachable,
            claims_won: c.claims_won,
            wake_claims: c.wake_claims,
            wake_claims_elsewhere: c.wake_claims_elsewhere,
            claim_misses: c.claim_misses,
            claims_refused_paused: c.claims_refused_paused,
            leases_recovered: c.recovered,
            leases_lost: c.leases_lost,
            crashes: c.crashes,
            restarts: c.restarts,
            spawn_requests: c.spawn_requests,
            sessions_spawned: c.sessions_spawned,
            spawns_deferred: c.spawns_deferred,
            spawns_unresolvable: c.spawns_unresolvable,
            retired: c.retired,
            starved_events: c.starved_events,
            prompts: c.prompts,
            run_now: c.run_now,
            cycle_errors: c.cycle_errors,
        },
        pause: config.pause.map(|(at, length)| PauseTally {
            at,
            length,
            paused_cycles: c.paused_cycles,
            wakes: c.wakes_while_paused,
            recovered: c.recovered_while_paused,
        }),
        time_to_claim: Latency::of(books.time_to_claim.clone()),
        stats,
        attention,
        last_cycle_error: books.last_cycle_error.clone(),
        violations: books.violations.clone(),
        violation_count: books.violation_count,
        leadership: None,
    }
}

fn attention_line(job: &Job, kind: WorkKind, not_woken: Option<WhyNotWoken>, diagnostic: String) -> String {
    let spec = &job.spec;
    let or_none = |s: &str| if s.is_empty() { "-".to_owned() } else { s.to_owned() };
    let owner = match &spec.owner {
        OwnerRef::Pool(agent) => format!("pool {agent}"),
        OwnerRef::AgentSession(session) => format!("session {session}"),
        OwnerRef::None | OwnerRef::Unknown => "-".to_owned(),
    };
    let why = match kind {
        WorkKind::Uncoverable => "no agent kind covers it",
        WorkKind::SpawnOnly | WorkKind::Normal => "coverable, waited too long",
    };
    let last = not_woken.map_or_else(|| "woken, never claimed".to_owned(), |w| format!("last not woken: {w}"));
    format!(
        "{} ({:?}, workspace {}, channel {}, owner {}, needs [{}]): {why}; {last}; {diagnostic}",
        spec.run_id,
        spec.priority,
        or_none(&spec.workspace_id),
        or_none(&spec.channel),
        owner,
        spec.required_capabilities.join(", "),
    )
}

fn leadership_rows(t: &mut Table<'_, '_>, l: &LeadershipTally, sent: u64) -> fmt::Result {
    t.section("daemons (PostgreSQL)")?;
    let cycles: Vec<String> = l.daemons.iter().zip(&l.cycles).map(|(d, c)| format!("{d} {c}")).collect();
    t.row("daemons", l.daemons.len(), &format!("cycles run: {}", cycles.join(", ")))?;
    let terms = l.terms.map_or_else(|| "unknown".to_owned(), |t| t.to_string());
    t.row("leader changes", l.leader_changes, &format!("leader row at term {terms}"))?;
    let (delivered, undeliverable) = l.wakes_listened;
    let untaken = sent.saturating_sub(delivered + undeliverable);
    t.row(
        "wakes via NOTIFY",
        delivered,
        &format!(
            "handed to mailboxes by the listeners; {undeliverable} undeliverable (crashed sessions), {untaken} never \
             taken (for the killed daemon's sessions, or still in the outbox at the end)"
        ),
    )?;
    t.row(
        "leader lease",
        format!("{:.2}s", l.lease.as_secs_f64()),
        &format!(
            "real time (the database times it); the simulation ran at most {} simulated s per real s, \
             so one lease is at most {} simulated",
            l.pace,
            span_text(l.simulated_lease())
        ),
    )?;
    let Some(f) = &l.failover else { return t.row("leader killed", "no", "") };
    t.row("leader killed", clock_text(f.at), &format!("{}, with the {} sessions it hosted", f.killed, f.sessions))?;
    match (f.simulated, f.real, &f.new_leader) {
        (Some(sim), Some(real), Some(new)) => t.row(
            "failover",
            span_text(sim),
            &format!(
                "simulated = {:.2} lease periods; {:.2} s real = {:.2} lease periods (kill to the first cycle of {new})",
                sim.as_secs_f64() / l.simulated_lease().as_secs_f64(),
                real.as_secs_f64(),
                real.as_secs_f64() / l.lease.as_secs_f64(),
            ),
        ),
        _ => t.row("failover", "none", "no other daemon ran a cycle after the kill"),
    }
}

/// A simulated duration, compactly: `42.0s`, `3m05s`, `1h02m`.
pub(crate) fn span_text(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{:.1}s", d.as_secs_f64())
    } else if secs < 3600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// A point in simulated time since the start, as `h:mm:ss`.
pub(crate) fn clock_text(d: Duration) -> String {
    let secs = d.as_secs();
    format!("{}:{:02}:{:02}", secs / 3600, (secs % 3600) / 60, secs % 60)
}

struct Table<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Table<'_, '_> {
    fn section(&mut self, title: &str) -> fmt::Result {
        writeln!(self.0, "{title}")
    }

    fn row(&mut self, label: &str, value: impl fmt::Display, note: &str) -> fmt::Result {
        if note.is_empty() {
            writeln!(self.0, "  {label:<24}{value:>10}")
        } else {
            writeln!(self.0, "  {label:<24}{value:>10}   {note}")
        }
    }
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (cfg, r, a, s) = (&self.config, &self.runs, &self.activity, &self.stats);
        writeln!(f, "store: {}", self.store)?;
        if let Some(g) = &self.resumed {
            writeln!(
                f,
                "resumed (generation {}): took over {} queued and {} leased runs, {} ladder budgets; removed {} stale sessions",
                g.generation, g.queued, g.leased, g.budgets, g.stale_sessions
            )?;
        }
        writeln!(
            f,
            "fleet: {} sessions, {} runs over {} in {} workspaces; seed {}, interval {}; simulated {}",
            cfg.sessions,
            cfg.runs,
            span_text(cfg.duration),
            cfg.workspaces,
            cfg.seed,
            span_text(cfg.interval),
            span_text(self.simulated),
        )?;
        let mut t = Table(f);
        t.section("runs")?;
        t.row("enqueued", r.enqueued, "")?;
        if r.taken_over > 0 {
            t.row("taken over", r.taken_over, "left open by an earlier run on this store")?;
        }
        t.row("completed", r.completed, "")?;
        t.row("failed", r.failed, "the agent reported a failure")?;
        t.row(
            "needs-attention",
            r.needs_attention,
            &format!(
                "{} uncoverable (of {}), {} coverable that waited too long",
                r.uncoverable_marked,
                r.uncoverable,
                r.needs_attention - r.uncoverable_marked
            ),
        )?;
        t.row("still open", r.open, "")?;
        t.row("spawn-only work", r.spawn_only, &format!("{} worked on by spawned sessions", r.spawn_only_done))?;
        t.row("claimed again", r.reclaimed, "after their lease was recovered")?;
        t.section("fleet")?;
        t.row("wakes sent", a.wakes_delivered, &format!("{} undeliverable (crashed sessions)", a.wakes_unreachable))?;
        t.row(
            "wakes claimed",
            a.wake_claims,
            &format!(
                "woken sessions whose claim won; {} took another run than the wake named",
                a.wake_claims_elsewhere
            ),
        )?;
        t.row(
            "claims won",
            a.claims_won,
            &format!("{} found nothing, {} refused while paused", a.claim_misses, a.claims_refused_paused),
        )?;
        t.row("leases recovered", a.leases_recovered, &format!("{} lost by live sessions", a.leases_lost))?;
        t.row("sessions crashed", a.crashes, &format!("{} restarted", a.restarts))?;
        t.row(
            "spawns",
            a.sessions_spawned,
            &format!(
                "of {} requests: {} deferred at the cap of {}, {} unresolvable; {} retired idle",
                a.spawn_requests, a.spawns_deferred, cfg.max_spawned, a.spawns_unresolvable, a.retired
            ),
        )?;
        t.row("starved events", a.starved_events, "")?;
        t.row("human prompts", a.prompts, "")?;
        t.row("run-now requests", a.run_now, "urgent arrivals and the resume")?;
        let l = &self.time_to_claim;
        t.row("time to claim, median", span_text(l.median), &format!("simulated time, over {} claimed runs", l.count))?;
        t.row("time to claim, p99", span_text(l.p99), &format!("max {}", span_text(l.max)))?;
        if let Some(p) = &self.pause {
            t.row(
                "pause",
                span_text(p.length),
                &format!(
                    "at {}: {} cycles paused (swept, woke no one), {} wakes, {} recovered by the sweep",
                    clock_text(p.at),
                    p.paused_cycles,
                    p.wakes,
                    p.recovered
                ),
            )?;
        }
        t.section("scheduler statistics")?;
        t.row("cycles", s.cycles, &format!("{} panicked", s.cycle_panics))?;
        t.row("wake attempts", s.wake_attempts, &format!("{} succeeded, {} failed", s.wake_succeeded, s.wake_failed))?;
        t.row("recovered leases", s.recovered_leases, &format!("{} sweep errors", s.recovery_errors))?;
        t.row("no-match runs", s.no_match_runs, "summed over cycles")?;
        t.row("recently notified", s.recently_notified_runs, "summed over cycles")?;
        t.row("unclaimable runs", s.unclaimable_runs, "summed over cycles (blocked tasks)")?;
        t.row("starved runs", s.starved_runs, "summed over cycles")?;
        t.row("spawns requested", s.spawns_requested, "")?;
        t.row("needs attention", s.needs_attention_runs, "")?;
        if let Some(l) = &self.leadership {
            leadership_rows(&mut t, l, a.wakes_delivered)?;
        }
        let f = t.0;
        if self.is_clean() {
            writeln!(
                f,
                "invariants: OK (no run lost, no run claimed twice at once, no wake to a busy or prompting session, no wake while paused)"
            )
        } else {
            writeln!(f, "invariants: {} BROKEN", self.violation_count)?;
            for v in &self.violations {
                writeln!(f, "  {v}")?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::SystemTime;

    use scheduler_testkit::registry::MemorySessions;
    use scheduler_testkit::service::{ClaimRequest, MemoryTaskService};
    use scheduler_testkit::snapshot::RunSnapshot;
    use scheduler_testkit::stores::MemoryPauseStore;
    use scheduler_tokio::TokioClock;

    use super::*;
    use crate::fleet::agent::{Host, Timing};
    use crate::fleet::backend::Memory;
    use crate::fleet::workload::Plan;
    use crate::fleet::world::{RunEntry, World};

    /// A fleet whose books and service both hold `run` (queued), and the job for it.
    fn booked(run: &str) -> (Arc<Fleet<Memory>>, Vec<Job>) {
        let pause = MemoryPauseStore::new();
        let (service, registry) = (MemoryTaskService::with_pause(pause.clone()), MemorySessions::new());
        let fleet = Arc::new(Fleet::<Memory> {
            world: World::new(TokioClock::anchored_at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000))),
            service: service.clone(),
            registry: registry.clone(),
            pause,
            hosts: vec![Host::new(service, registry, None)],
            config: crate::fleet::FleetConfig::default(),
            timing: Timing::default(),
            seed: 1,
            max_spawned: 1,
            prefix: String::new(),
        });
        let plan = Plan { work: Duration::from_secs(60), fails: false, crash_at: None };
        let job = Job {
            at: Duration::ZERO,
            spec: RunSnapshot::queued(run, "task"),
            kind: WorkKind::Normal,
            plan,
            blocked_for: None,
        };
        let now = fleet.world.now();
        fleet.service.enqueue_snapshot(&job.spec, now).unwrap();
        let entry = RunEntry {
            kind: WorkKind::Normal,
            plan,
            claimable_since: now,
            first_claim_at: None,
            claims: 0,
            completions: 0,
            failures: 0,
            recoveries: 0,
            marked: false,
            diagnostic: String::new(),
        };
        fleet.world.books().runs.insert(run.to_owned(), entry);
        (fleet, vec![job])
    }

    fn kinds(report: &FleetReport) -> Vec<ViolationKind> {
        report.violations.iter().map(|v| v.kind).collect()
    }

    #[test]
    fn a_queued_run_the_books_agree_on_is_open_not_lost() {
        let (fleet, jobs) = booked("r1");
        let report = futures::executor::block_on(account(&FleetConfig::default(), &fleet, &jobs, Stats::default()));
        assert!(report.is_clean(), "{:?}", report.violations);
        assert_eq!((report.runs.enqueued, report.runs.open), (1, 1));
    }

    #[test]
    fn a_run_completed_behind_the_books_back_is_lost() {
        let (fleet, jobs) = booked("r1");
        let now = fleet.world.now();
        let claim = fleet.service.claim(&ClaimRequest::session("s1"), Duration::from_secs(60), now).unwrap().unwrap();
        fleet.service.complete("r1", &claim.token, now).unwrap();
        let report = futures::executor::block_on(account(&FleetConfig::default(), &fleet, &jobs, Stats::default()));
        assert_eq!(kinds(&report), [ViolationKind::RunLost]);
        assert_eq!(report.runs.completed, 1);
    }

    #[test]
    fn a_lease_the_books_do_not_know_is_lost() {
        let (fleet, jobs) = booked("r1");
        let now = fleet.world.now();
        fleet.service.claim(&ClaimRequest::session("s1"), Duration::from_secs(60), now).unwrap().unwrap();
        let report = futures::executor::block_on(account(&FleetConfig::default(), &fleet, &jobs, Stats::default()));
        // The run's holder disagrees, and the service's lease is unknown to the books.
        assert_eq!(kinds(&report), [ViolationKind::RunLost, ViolationKind::RunLost]);
    }

    #[test]
    fn statistics_that_disagree_with_the_fleet_are_reported() {
        let (fleet, jobs) = booked("r1");
        let mut stats = Stats::default();
        stats.recovered_leases = 3;
        let report = futures::executor::block_on(account(&FleetConfig::default(), &fleet, &jobs, stats));
        assert_eq!(kinds(&report), [ViolationKind::StatsMismatch]);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<Duration> = (1..=200).map(Duration::from_secs).collect();
        let l = Latency::of(samples);
        assert_eq!(
            (l.count, l.median, l.p99, l.max),
            (200, Duration::from_secs(100), Duration::from_secs(198), Duration::from_secs(200))
        );
        assert_eq!(Latency::of(vec![Duration::from_secs(7)]).p99, Duration::from_secs(7));
        assert_eq!(Latency::of(Vec::new()), Latency::default());
    }

    #[test]
    fn spans_read_well() {
        assert_eq!(span_text(Duration::from_millis(4_240)), "4.2s");
        assert_eq!(span_text(Duration::from_secs(185)), "3m05s");
        assert_eq!(span_text(Duration::from_secs(3_720)), "1h02m");
        assert_eq!(clock_text(Duration::from_secs(3_725)), "1:02:05");
    }
}
