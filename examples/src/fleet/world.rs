//! The simulation's own books: every run it enqueued, who holds what, the live agents,
//! the counters, and every broken invariant.
//!
//! The books are kept independently of the task service, from what the agents and the
//! scheduler's observer report, so that comparing the two finds a run the service lost,
//! a run held by two sessions at once, or a wake to a session that was busy.

use scheduler_core::why::WhyNotWoken;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use scheduler_core::clock::Clock;
use scheduler_tokio::TokioClock;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::AbortHandle;

use super::workload::{Plan, WorkKind};

/// The rule a [`Violation`] broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ViolationKind {
    /// An enqueued run is unknown to the task service at the end, or its final status
    /// disagrees with what the agents and the escalation actor did to it.
    RunLost,
    /// A session won a claim on a run another session still held.
    DoubleClaim,
    /// A session won a second claim while it held a run.
    SessionHeldTwoRuns,
    /// The task service refused a claim from an idle agent as "already holds a lease".
    LeakedLease,
    /// A session was woken while it held an active (`claimed`/`starting`/`running`) run.
    WakeToBusySession,
    /// A session was woken in the middle of a prompt.
    WakeToPromptingSession,
    /// A wake was sent while the scheduler was paused.
    WakeWhilePaused,
    /// A wake named a run that was not `queued`.
    WakeForUnqueuedRun,
    /// The scheduler's statistics disagree with what the simulation saw.
    StatsMismatch,
    /// After the leader daemon was killed, no other daemon ran a cycle within two
    /// leader-lease periods (PostgreSQL fleets).
    SlowFailover,
}

impl fmt::Display for ViolationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ViolationKind::RunLost => "run lost",
            ViolationKind::DoubleClaim => "run claimed twice at once",
            ViolationKind::SessionHeldTwoRuns => "session held two runs at once",
            ViolationKind::LeakedLease => "lease leaked to an idle session",
            ViolationKind::WakeToBusySession => "wake to a busy session",
            ViolationKind::WakeToPromptingSession => "wake to a prompting session",
            ViolationKind::WakeWhilePaused => "wake while paused",
            ViolationKind::WakeForUnqueuedRun => "wake for a run that is not queued",
            ViolationKind::StatsMismatch => "statistics mismatch",
            ViolationKind::SlowFailover => "failover slower than two leader-lease periods",
        })
    }
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule.
    pub kind: ViolationKind,
    /// Simulated time since the start.
    pub at: Duration,
    /// What happened, with the run and session ids.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}: {}", super::report::clock_text(self.at), self.kind, self.detail)
    }
}

/// At most this many violations are kept (all are counted).
const KEEP_VIOLATIONS: usize = 50;

/// What the books know about one enqueued run.
#[derive(Debug)]
pub(crate) struct RunEntry {
    pub(crate) kind: WorkKind,
    pub(crate) plan: Plan,
    /// When it became claimable (enqueued, or unblocked).
    pub(crate) claimable_since: SystemTime,
    pub(crate) first_claim_at: Option<SystemTime>,
    pub(crate) claims: u32,
    pub(crate) completions: u32,
    pub(crate) failures: u32,
    pub(crate) recoveries: u32,
    pub(crate) marked: bool,
    /// The diagnostic it was marked `needs_attention` with.
    pub(crate) diagnostic: String,
}

/// A session the simulation runs.
#[derive(Debug)]
pub(crate) struct AgentSlot {
    pub(crate) inbox: UnboundedSender<String>,
    /// False once it crashed or retired.
    pub(crate) alive: bool,
    /// The run it is working on, by its own account.
    pub(crate) working: Option<String>,
    pub(crate) spawned: bool,
    pub(crate) abort: Option<AbortHandle>,
    /// The daemon hosting it (an index into the fleet's hosts).
    pub(crate) host: usize,
}

/// Counters the summary reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) wakes_delivered: u64,
    pub(crate) wakes_unreachable: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) claims_won: u64,
    pub(crate) wake_claims: u64,
    pub(crate) wake_claims_elsewhere: u64,
    pub(crate) claim_misses: u64,
    pub(crate) claims_refused_paused: u64,
    pub(crate) claim_errors: u64,
    pub(crate) leases_lost: u64,
    pub(crate) recovered: u64,
    pub(crate) recovered_while_paused: u64,
    pub(crate) wakes_while_paused: u64,
    pub(crate) paused_cycles: u64,
    pub(crate) cycles: u64,
    pub(crate) cycle_errors: u64,
    pub(crate) crashes: u64,
    pub(crate) restarts: u64,
    pub(crate) spawn_requests: u64,
    pub(crate) sessions_spawned: u64,
    pub(crate) spawns_deferred: u64,
    pub(crate) spawns_unresolvable: u64,
    pub(crate) retired: u64,
    pub(crate) starved_events: u64,
    pub(crate) marked: u64,
    pub(crate) prompts: u64,
    pub(crate) run_now: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Books {
    pub(crate) runs: BTreeMap<String, RunEntry>,
    /// run -> the session holding it, by the agents' and the sweep's account.
    pub(crate) holders: BTreeMap<String, String>,
    /// session -> the run it holds.
    pub(crate) held_by: BTreeMap<String, String>,
    pub(crate) agents: BTreeMap<String, AgentSlot>,
    pub(crate) counters: Counters,
    pub(crate) violations: Vec<Violation>,
    pub(crate) violation_count: usize,
    pub(crate) paused: bool,
    pub(crate) time_to_claim: Vec<Duration>,
    pub(crate) last_cycle_error: Option<String>,
    /// run -> why the last cycle that did not wake it did not
    /// ([`Scheduler::not_woken`](scheduler_core::Scheduler::not_woken), through the observer).
    pub(crate) not_woken: BTreeMap<String, WhyNotWoken>,
    /// Which daemon ran the cycles, and the leader kill.
    pub(crate) leaders: LeaderLog,
}

/// Which daemon ran the scheduler's cycles, and what followed a leader kill.
#[derive(Debug, Default)]
pub(crate) struct LeaderLog {
    /// The daemon that ran the last cycle.
    pub(crate) last: Option<usize>,
    /// Times the daemon running the cycles changed.
    pub(crate) changes: u32,
    /// Cycles run, per daemon.
    pub(crate) cycles: BTreeMap<usize, u64>,
    /// The kill: the daemon, when (simulated time since the start), and the real instant.
    pub(crate) kill: Option<(usize, Duration, Instant)>,
    /// Sessions the killed daemon hosted (they crashed with it).
    pub(crate) killed_sessions: usize,
    /// The first cycle another daemon finished after the kill: that daemon, and how
    /// long after the kill, in simulated and in real time.
    pub(crate) taken_over: Option<(usize, Duration, Duration)>,
}

impl LeaderLog {
    /// Daemon `daemon` finished a cycle at `at` (simulated time since the start), `now`
    /// in real time.
    pub(crate) fn on_cycle(&mut self, daemon: usize, at: Duration, now: Instant) {
        if self.last.is_some_and(|last| last != daemon) {
            self.changes += 1;
        }
        self.last = Some(daemon);
        *self.cycles.entry(daemon).or_default() += 1;
        if let Some((killed, when, real)) = self.kill
            && killed != daemon
            && self.taken_over.is_none()
        {
            self.taken_over = Some((daemon, at.saturating_sub(when), now.saturating_duration_since(real)));
        }
    }
}

/// The shared books and the simulation's clock.
#[derive(Debug)]
pub(crate) struct World {
    clock: TokioClock,
    start: SystemTime,
    books: Mutex<Books>,
}

impl World {
    pub(crate) fn new(clock: TokioClock) -> Self {
        World { clock, start: clock.now(), books: Mutex::default() }
    }

    /// The simulated wall time.
    pub(crate) fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Simulated time since the start.
    pub(crate) fn elapsed(&self) -> Duration {
        self.now().duration_since(self.start).unwrap_or_default()
    }

    pub(crate) fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a broken invariant.
    pub(crate) fn violate(&self, kind: ViolationKind, detail: String) {
        let at = self.elapsed();
        self.books().violate(kind, at, detail);
    }

    pub(crate) fn count(&self, f: impl FnOnce(&mut Counters)) {
        f(&mut self.books().counters);
    }
}

impl Books {
    pub(crate) fn violate(&mut self, kind: ViolationKind, at: Duration, detail: String) {
        self.violation_count += 1;
        if self.violations.len() < KEEP_VIOLATIONS {
            self.violations.push(Violation { kind, at, detail });
        }
    }

    /// A session won a claim: checks that nobody else holds the run and that the
    /// session holds nothing else, then records the hold.
    pub(crate) fn on_claim(&mut self, run_id: &str, session_id: &str, now: SystemTime, at: Duration) {
        if let Some(other) = self.holders.get(run_id) {
            let detail = format!("{session_id} claimed {run_id} while {other} held it");
            self.violate(ViolationKind::DoubleClaim, at, detail);
        }
        if let Some(other) = self.held_by.get(session_id) {
            let detail = format!("{session_id} claimed {run_id} while holding {other}");
            self.violate(ViolationKind::SessionHeldTwoRuns, at, detail);
        }
        self.holders.insert(run_id.to_owned(), session_id.to_owned());
        self.held_by.insert(session_id.to_owned(), run_id.to_owned());
        self.counters.claims_won += 1;
        if let Some(entry) = self.runs.get_mut(run_id) {
            entry.claims += 1;
            if entry.first_claim_at.is_none() {
                entry.first_claim_at = Some(now);
                self.time_to_claim.push(now.duration_since(entry.claimable_since).unwrap_or_default());
            }
        }
        if let Some(slot) = self.agents.get_mut(session_id) {
            slot.working = Some(run_id.to_owned());
        }
    }

    /// A session ended its run (completed or failed) or gave it up.
    pub(crate) fn on_release(&mut self, run_id: &str, session_id: &str, outcome: Release, at: Duration) {
        match self.holders.get(run_id) {
            Some(holder) if holder == session_id => {
                self.holders.remove(run_id);
            }
            Some(holder) => {
                let detail = format!("{session_id} ended {run_id}, which the books say {holder} holds");
                self.violate(ViolationKind::DoubleClaim, at, detail);
            }
            None if outcome == Release::Lost => {}
            None => {
                let detail = format!("{session_id} ended {run_id}, which the books say nobody holds");
                self.violate(ViolationKind::DoubleClaim, at, detail);
            }
        }
        if self.held_by.get(session_id).is_some_and(|r| r == run_id) {
            self.held_by.remove(session_id);
        }
        if let Some(entry) = self.runs.get_mut(run_id) {
            match outcome {
                Release::Completed => entry.completions += 1,
                Release::Failed => entry.failures += 1,
                Release::Lost => {}
            }
        }
        if outcome == Release::Lost {
            self.counters.leases_lost += 1;
        }
        if let Some(slot) = self.agents.get_mut(session_id) {
            slot.working = None;
        }
    }

    /// The sweep returned a run to the queue: its previous holder holds it no more.
    pub(crate) fn on_recovered(&mut self, run_id: &str, previous_session_id: &str) {
        if self.holders.get(run_id).is_some_and(|s| s == previous_session_id) {
            self.holders.remove(run_id);
        }
        if self.held_by.get(previous_session_id).is_some_and(|r| r == run_id) {
            self.held_by.remove(previous_session_id);
        }
        if let Some(slot) = self.agents.get_mut(previous_session_id)
            && slot.working.as_deref() == Some(run_id)
        {
            slot.working = None;
        }
        if let Some(entry) = self.runs.get_mut(run_id) {
            entry.recoveries += 1;
        }
        self.counters.recovered += 1;
        if self.paused {
            self.counters.recovered_while_paused += 1;
        }
    }
}

/// How a session let go of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    Completed,
    Failed,
    /// The service refused its token: the lease was recovered under it.
    Lost,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> RunEntry {
        RunEntry {
            kind: WorkKind::Normal,
            plan: Plan { work: Duration::from_secs(60), fails: false, crash_at: None },
            claimable_since: SystemTime::UNIX_EPOCH,
            first_claim_at: None,
            claims: 0,
            completions: 0,
            failures: 0,
            recoveries: 0,
            marked: false,
            diagnostic: String::new(),
        }
    }

    fn kinds(books: &Books) -> Vec<ViolationKind> {
        books.violations.iter().map(|v| v.kind).collect()
    }

    const T: SystemTime = SystemTime::UNIX_EPOCH;

    #[test]
    fn the_first_cycle_of_another_daemon_after_the_kill_ends_the_failover() {
        let (t0, s) = (Instant::now(), Duration::from_secs);
        let mut log = LeaderLog::default();
        log.on_cycle(1, s(10), t0);
        log.on_cycle(1, s(25), t0);
        assert_eq!((log.changes, log.taken_over), (0, None));
        log.kill = Some((1, s(30), t0));
        log.on_cycle(1, s(31), t0 + s(1)); // the dying leader's cycle does not count
        assert_eq!(log.taken_over, None);
        log.on_cycle(2, s(100), t0 + s(2));
        log.on_cycle(0, s(115), t0 + s(3));
        assert_eq!(log.taken_over, Some((2, s(70), s(2))), "the first one only");
        assert_eq!((log.changes, log.last), (2, Some(0)));
        assert_eq!(log.cycles.values().sum::<u64>(), 5);
    }

    #[test]
    fn a_second_claim_on_a_held_run_is_a_double_claim() {
        let mut books = Books::default();
        books.runs.insert("r".into(), entry());
        books.on_claim("r", "a", T, Duration::ZERO);
        assert!(books.violations.is_empty());
        books.on_claim("r", "b", T, Duration::ZERO);
        assert_eq!(kinds(&books), [ViolationKind::DoubleClaim]);
    }

    #[test]
    fn a_recovered_run_may_be_claimed_again() {
        let mut books = Books::default();
        books.runs.insert("r".into(), entry());
        books.on_claim("r", "a", T + Duration::from_secs(5), Duration::ZERO);
        books.on_recovered("r", "a");
        books.on_claim("r", "b", T + Duration::from_secs(90), Duration::ZERO);
        books.on_release("r", "b", Release::Completed, Duration::ZERO);
        assert!(books.violations.is_empty(), "{:?}", books.violations);
        let e = &books.runs["r"];
        assert_eq!((e.claims, e.completions, e.recoveries), (2, 1, 1));
        assert_eq!(books.time_to_claim, [Duration::from_secs(5)], "time to the first claim only");
    }

    #[test]
    fn a_session_claiming_while_holding_is_caught() {
        let mut books = Books::default();
        books.on_claim("r1", "a", T, Duration::ZERO);
        books.on_claim("r2", "a", T, Duration::ZERO);
        assert_eq!(kinds(&books), [ViolationKind::SessionHeldTwoRuns]);
    }

    #[test]
    fn ending_a_run_someone_else_holds_is_caught() {
        let mut books = Books::default();
        books.on_claim("r", "a", T, Duration::ZERO);
        books.on_release("r", "b", Release::Completed, Duration::ZERO);
        assert_eq!(kinds(&books), [ViolationKind::DoubleClaim]);
    }
}
