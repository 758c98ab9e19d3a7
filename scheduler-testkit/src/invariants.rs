//! Invariants every scheduler cycle must keep, as pure checker functions.
//!
//! The checkers read what a cycle was given (pending runs, active runs, sessions, the
//! cycle's time, the starvation age, the wake-cooldown state *before* the cycle) and
//! what it did (the wake targets in dispatch order, which were delivered, the no-match
//! and starved runs, the counts, the cooldown state *after* the cycle) and return every
//! broken rule as a named [`Violation`]. They never panic on odd input (duplicate ids,
//! out-of-range indices, clock steps back) and they re-implement the rules of
//! `behavior.md` from its text instead of calling the core's own eligibility code, so a
//! bug there is caught rather than copied.
//!
//! Property tests, the soak, the fuzz target and downstream users run the same checks:
//!
//! - [`check_cycle`] runs every single-cycle check; [`check_eligibility`],
//!   [`check_uniqueness`], [`check_cooldown`], [`check_greedy`] and [`check_counts`] run
//!   one family each.
//! - [`WakeHistory`] checks the cooldown across cycles from the wakes it has seen.
//! - [`LadderMonitor`] checks the convergence ladder across cycles: spawn and event
//!   fire at most once per starvation episode, and never for a run that is not queued.
//! - [`CycleLog`] is an observer that records what the checks need from a scheduler
//!   (wake outcomes, escalations).
//!
//! Every violation name is a constant in [`names`].
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_core::cooldown::Cooldown;
//! use scheduler_core::selection::{Selection, SelectionInput};
//! use scheduler_testkit::invariants::{check_cycle, names, CycleInput, CycleOutput, Counts};
//! use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot, SessionSnapshot};
//!
//! let runs = [RunSnapshot::queued("run-1", "task-1").caps(["rust"])];
//! let sessions = [SessionSnapshot::active("go").caps(["go"]), SessionSnapshot::active("rusty").caps(["rust"])];
//! let active: [ActiveRun; 0] = [];
//! let now = SystemTime::UNIX_EPOCH;
//! let cooldown = Cooldown::new(Duration::from_secs(60));
//! let input = CycleInput {
//!     runs: &runs,
//!     active: &active,
//!     sessions: &sessions,
//!     now,
//!     min_queued_age: Duration::ZERO,
//!     wake_cooldown: cooldown.period(),
//!     cooldown_before: &cooldown,
//! };
//!
//! let mut selection = Selection::new();
//! selection.select(
//!     SelectionInput { runs: &runs, active: &active, sessions: &sessions, now, min_queued_age: Duration::ZERO },
//!     |_, _| false,
//! );
//! let output = CycleOutput::from_selection(&selection, runs.len());
//! assert!(check_cycle(input, &output).is_empty());
//!
//! // A broken output: the run woke the go-only session.
//! let broken = CycleOutput { targets: &[(0, 0)], ..output };
//! let found = check_cycle(input, &broken);
//! assert!(found.iter().any(|v| v.name == names::TARGET_MISSING_CAPABILITY));
//! ```

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use scheduler_core::cooldown::Cooldown;
use scheduler_core::ladder::{Budget, Tier};
use scheduler_core::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::observer::Observer;
use scheduler_core::selection::Selection;
use scheduler_core::view::{ActiveRunView, RunView, SessionView};
use scheduler_core::{BatchStep, CycleCounts, Error, Outcome};

/// The names of every invariant, as they appear in [`Violation::name`].
pub mod names {
    /// A target, no-match or starved index points past the runs or sessions given.
    pub const INDEX_OUT_OF_BOUNDS: &str = "index-out-of-bounds";
    /// A wake went to a run that is not potentially claimable.
    pub const TARGET_RUN_UNCLAIMABLE: &str = "target-run-unclaimable";
    /// A wake went to a session with an empty id.
    pub const TARGET_SESSION_WITHOUT_ID: &str = "target-session-without-id";
    /// A wake went to a session whose state is not `active`.
    pub const TARGET_SESSION_NOT_ACTIVE: &str = "target-session-not-active";
    /// A wake went to a session in the middle of a prompt.
    pub const TARGET_SESSION_PROMPTING: &str = "target-session-prompting";
    /// A wake went to a session holding a `claimed`, `starting` or `running` run.
    pub const TARGET_SESSION_BUSY: &str = "target-session-busy";
    /// A wake went to a session outside the task's scope.
    pub const TARGET_OUT_OF_SCOPE: &str = "target-out-of-scope";
    /// A wake went to a session on another coordination channel.
    pub const TARGET_WRONG_CHANNEL: &str = "target-wrong-channel";
    /// A wake went to a session the task's owner does not allow.
    pub const TARGET_WRONG_OWNER: &str = "target-wrong-owner";
    /// A wake went to a session lacking a required capability.
    pub const TARGET_MISSING_CAPABILITY: &str = "target-missing-capability";
    /// One session was targeted twice in a cycle.
    pub const SESSION_TARGETED_TWICE: &str = "session-targeted-twice";
    /// A session row ignored as a duplicate (an earlier row in session order has its
    /// trimmed id; behaviour section 8) was targeted.
    pub const TARGET_DUPLICATE_SESSION: &str = "target-duplicate-session-row";
    /// A run that is not starved got more than one target.
    pub const RUN_MULTIPLE_TARGETS: &str = "non-starved-run-multiple-targets";
    /// A (run, session) pair in its cooldown was woken for a run that is not starved.
    pub const COOLDOWN_IGNORED: &str = "cooldown-ignored";
    /// The cooldown is disabled but keeps keys.
    pub const COOLDOWN_KEYS_WHILE_DISABLED: &str = "cooldown-keys-while-disabled";
    /// A delivered wake was not recorded in the (enabled) cooldown.
    pub const WAKE_NOT_RECORDED: &str = "wake-not-recorded-in-cooldown";
    /// A failed wake was recorded in the cooldown.
    pub const FAILED_WAKE_RECORDED: &str = "failed-wake-recorded-in-cooldown";
    /// Across cycles: a pair woken less than one cooldown ago was woken again for a run
    /// that is not starved.
    pub const REWOKEN_WITHIN_COOLDOWN: &str = "rewoken-within-cooldown";
    /// A higher run (earlier in selection order) got no target while a lower run took a
    /// session the higher one was eligible for.
    pub const PRIORITY_INVERSION: &str = "priority-inversion";
    /// Targets are not in dispatch order: runs in selection order, a fanned-out run's
    /// sessions in session order.
    pub const TARGETS_OUT_OF_ORDER: &str = "targets-out-of-order";
    /// A run that is not starved took a session while an earlier eligible, free session
    /// not in cooldown existed.
    pub const NOT_FIRST_ELIGIBLE: &str = "not-first-eligible-session";
    /// A run that is not starved got no target although an eligible, free session not
    /// in cooldown existed.
    pub const FREE_SESSION_SKIPPED: &str = "free-session-skipped";
    /// A starved run did not fan out to every eligible, free session.
    pub const FAN_OUT_INCOMPLETE: &str = "fan-out-incomplete";
    /// A run reported as no-match had an eligible, free session.
    pub const NO_MATCH_WITH_FREE_SESSION: &str = "no-match-with-free-session";
    /// A run reported as no-match got a target.
    pub const NO_MATCH_TARGETED: &str = "no-match-run-targeted";
    /// A run reported as no-match is not potentially claimable.
    pub const NO_MATCH_UNCLAIMABLE: &str = "no-match-run-unclaimable";
    /// A claimable run with no eligible free session was not reported as no-match.
    pub const NO_MATCH_NOT_REPORTED: &str = "no-match-not-reported";
    /// The starved runs reported differ from the claimable runs that are starved.
    pub const STARVED_MISREPORTED: &str = "starved-misreported";
    /// pending != unclaimable + no-match + recently-notified + runs with a target.
    pub const COUNTS_PARTITION: &str = "counts-partition";
    /// wake attempts != succeeded + failed.
    pub const COUNTS_WAKES: &str = "counts-wake-attempts";
    /// wake attempts != number of targets.
    pub const COUNTS_ATTEMPTS_VS_TARGETS: &str = "counts-attempts-vs-targets";
    /// pending runs != runs read.
    pub const COUNTS_PENDING: &str = "counts-pending-runs";
    /// no-match count != no-match runs reported.
    pub const COUNTS_NO_MATCH: &str = "counts-no-match";
    /// unclaimable count != runs that are not potentially claimable.
    pub const COUNTS_UNCLAIMABLE: &str = "counts-unclaimable";
    /// starved count != starved runs reported.
    pub const COUNTS_STARVED: &str = "counts-starved";
    /// succeeded / failed != delivered / undelivered targets.
    pub const COUNTS_DELIVERED: &str = "counts-delivered";
    /// A paused (or fail-closed) cycle woke someone.
    pub const WOKEN_WHILE_PAUSED: &str = "woken-while-paused";
    /// A cycle whose snapshot read failed woke someone.
    pub const WOKEN_WITHOUT_SNAPSHOT: &str = "woken-without-snapshot";
    /// An id given to a helper matches several rows (or none).
    pub const AMBIGUOUS_ID: &str = "ambiguous-id";
    /// The ladder escalated a run that was not queued.
    pub const ESCALATED_UNQUEUED: &str = "escalated-unqueued-run";
    /// The ladder escalated a run that was not a starved candidate of the cycle.
    pub const ESCALATED_NOT_STARVED: &str = "escalated-not-starved";
    /// The ladder escalated in a paused, fail-closed or failed cycle.
    pub const ESCALATED_WHILE_PAUSED: &str = "escalated-while-paused";
    /// A spawn was requested twice in one starvation episode.
    pub const SPAWN_REPEATED: &str = "spawn-repeated-in-episode";
    /// A starved event was emitted twice in one starvation episode.
    pub const EVENT_REPEATED: &str = "event-repeated-in-episode";
    /// A run was marked `needs_attention` twice in one cycle.
    pub const MARK_REPEATED: &str = "needs-attention-repeated";
}

/// One broken invariant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Violation {
    /// Which invariant (a constant of [`names`]).
    pub name: &'static str,
    /// What exactly, with the run and session ids concerned.
    pub detail: String,
}

impl Violation {
    fn new(name: &'static str, detail: impl Into<String>) -> Self {
        Violation { name, detail: detail.into() }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.detail)
    }
}

/// The names of `violations`, deduplicated, in first-seen order.
pub fn violation_names(violations: &[Violation]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for v in violations {
        if !out.contains(&v.name) {
            out.push(v.name);
        }
    }
    out
}

/// What a cycle was given.
#[derive(Debug)]
pub struct CycleInput<'a, R, A, S> {
    /// The pending runs read, in the order read.
    pub runs: &'a [R],
    /// The active runs read.
    pub active: &'a [A],
    /// The sessions read, in the order read.
    pub sessions: &'a [S],
    /// The cycle's time.
    pub now: SystemTime,
    /// The minimum queued age for starvation (zero: starvation disabled).
    pub min_queued_age: Duration,
    /// The configured wake cooldown (zero: disabled, so no key may be kept).
    pub wake_cooldown: Duration,
    /// The wake cooldown as it was before the cycle (clone the scheduler's
    /// [`cooldown`](scheduler_core::Scheduler::cooldown) before `run_once`).
    pub cooldown_before: &'a Cooldown,
}

impl<R, A, S> Clone for CycleInput<'_, R, A, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R, A, S> Copy for CycleInput<'_, R, A, S> {}

/// The counts a cycle reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Pending runs read.
    pub pending_runs: usize,
    /// Runs skipped as not claimable.
    pub unclaimable: usize,
    /// No-match runs.
    pub no_match: usize,
    /// Runs whose every eligible session was in cooldown.
    pub recently_notified: usize,
    /// Starved runs.
    pub starved: usize,
    /// Wakes attempted.
    pub wake_attempts: usize,
    /// Wakes delivered.
    pub wake_succeeded: usize,
    /// Wakes failed.
    pub wake_failed: usize,
}

impl Counts {
    /// The counts of a scheduler cycle.
    pub fn from_cycle(c: &CycleCounts) -> Self {
        Counts {
            pending_runs: c.pending_runs,
            unclaimable: c.unclaimable_runs,
            no_match: c.no_match_runs,
            recently_notified: c.recently_notified_runs,
            starved: c.starved_runs,
            wake_attempts: c.wake_attempts,
            wake_succeeded: c.wake_succeeded,
            wake_failed: c.wake_failed,
        }
    }

    /// The counts of a bare selection over `pending_runs` runs, as if every target were
    /// woken successfully.
    pub fn from_selection(selection: &Selection, pending_runs: usize) -> Self {
        let c = selection.counts();
        let targets = selection.targets().len();
        Counts {
            pending_runs,
            unclaimable: c.unclaimable_runs,
            no_match: selection.no_match().len(),
            recently_notified: c.recently_notified_runs,
            starved: selection.starved().len(),
            wake_attempts: targets,
            wake_succeeded: targets,
            wake_failed: 0,
        }
    }
}

/// What a cycle did. Indices point into [`CycleInput::runs`] and
/// [`CycleInput::sessions`].
#[derive(Debug, Clone, Copy)]
pub struct CycleOutput<'a> {
    /// How the cycle ended. Only [`Outcome::Completed`] cycles select; the others must
    /// wake no one.
    pub outcome: Outcome,
    /// `(run, session)` of every wake attempted, in dispatch order.
    pub targets: &'a [(u32, u32)],
    /// Per target, whether the wake was delivered; `None` when unknown.
    pub delivered: Option<&'a [bool]>,
    /// The no-match runs reported.
    pub no_match: &'a [u32],
    /// The starved runs reported.
    pub starved: &'a [u32],
    /// The counts reported.
    pub counts: Counts,
    /// The wake cooldown after the cycle, if known.
    pub cooldown_after: Option<&'a Cooldown>,
}

impl<'a> CycleOutput<'a> {
    /// The output of a bare [`Selection`] over `pending_runs` runs.
    pub fn from_selection(selection: &'a Selection, pending_runs: usize) -> Self {
        CycleOutput {
            outcome: Outcome::Completed,
            targets: selection.targets(),
            delivered: None,
            no_match: selection.no_match(),
            starved: selection.starved(),
            counts: Counts::from_selection(selection, pending_runs),
            cooldown_after: None,
        }
    }
}

/// An owned record of what a scheduler cycle did, built from ids (what a downstream
/// user observes), convertible to a [`CycleOutput`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedCycle {
    /// How the cycle ended.
    pub outcome: Outcome,
    /// Targets, as indices.
    pub targets: Vec<(u32, u32)>,
    /// Per target, delivered or not.
    pub delivered: Vec<bool>,
    /// No-match runs, as indices.
    pub no_match: Vec<u32>,
    /// Starved runs, as indices.
    pub starved: Vec<u32>,
    /// The counts.
    pub counts: Counts,
}

impl ObservedCycle {
    /// Resolves ids to indices. Run and session ids are compared after trimming and
    /// must be unique among `runs` / `sessions` where used.
    ///
    /// `wakes` holds `(run id, session id, delivered)` of every wake attempted, in
    /// dispatch order (see [`CycleLog::take_wakes`]).
    ///
    /// # Errors
    /// A [`names::AMBIGUOUS_ID`] violation when an id matches no row or several.
    pub fn resolve<'i, R: RunView, S: SessionView>(
        runs: &[R],
        sessions: &[S],
        outcome: Outcome,
        counts: Counts,
        wakes: &[(String, String, bool)],
        no_match: impl IntoIterator<Item = &'i str>,
        starved: impl IntoIterator<Item = &'i str>,
    ) -> Result<Self, Violation> {
        let run_ix = unique_index(runs.iter().map(RunView::run_id));
        let session_ix = unique_index(sessions.iter().map(SessionView::session_id));
        let find = |ix: &HashMap<&str, Option<u32>>, id: &str, what: &str| -> Result<u32, Violation> {
            match ix.get(id.trim()) {
                Some(Some(i)) => Ok(*i),
                _ => Err(Violation::new(names::AMBIGUOUS_ID, format!("{what} id {id:?} matches no row or several"))),
            }
        };
        let mut out = ObservedCycle { outcome, counts, ..ObservedCycle::default() };
        for (run, session, ok) in wakes {
            out.targets.push((find(&run_ix, run, "run")?, find(&session_ix, session, "session")?));
            out.delivered.push(*ok);
        }
        for id in no_match {
            out.no_match.push(find(&run_ix, id, "run")?);
        }
        for id in starved {
            out.starved.push(find(&run_ix, id, "run")?);
        }
        Ok(out)
    }

    /// Borrowed as a [`CycleOutput`].
    pub fn output<'a>(&'a self, cooldown_after: Option<&'a Cooldown>) -> CycleOutput<'a> {
        CycleOutput {
            outcome: self.outcome,
            targets: &self.targets,
            delivered: Some(&self.delivered),
            no_match: &self.no_match,
            starved: &self.starved,
            counts: self.counts,
            cooldown_after,
        }
    }
}

fn unique_index<'a>(ids: impl Iterator<Item = &'a str>) -> HashMap<&'a str, Option<u32>> {
    let mut ix: HashMap<&str, Option<u32>> = HashMap::new();
    for (i, id) in ids.enumerate() {
        ix.entry(id.trim()).and_modify(|e| *e = None).or_insert(Some(i as u32));
    }
    ix
}

// ---------------------------------------------------------------------------------
// The rules, re-implemented from behavior.md.

/// Whether a run is potentially claimable: run and task ids non-empty, run `queued`,
/// task not paused, task status not `draft`, `blocked` or `canceled`.
pub fn claimable<R: RunView + ?Sized>(run: &R) -> bool {
    !run.run_id().trim().is_empty()
        && !run.task_id().trim().is_empty()
        && run.run_status() == RunStatus::Queued
        && !run.task_paused()
        && !matches!(run.task_status(), TaskStatus::Draft | TaskStatus::Blocked | TaskStatus::Canceled)
}

/// Whether a run queued at `queued_at` is starved at `now`.
pub fn starved(now: SystemTime, queued_at: Option<SystemTime>, min_queued_age: Duration) -> bool {
    if min_queued_age == Duration::ZERO {
        return false;
    }
    match queued_at {
        Some(q) if q <= now => now.duration_since(q).map(|age| age >= min_queued_age).unwrap_or(false),
        _ => false,
    }
}

fn rank(p: Priority) -> u8 {
    match p {
        Priority::Low => 0,
        Priority::Medium | Priority::Unknown => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

/// Rows ignored as duplicates (behaviour section 8): of the rows sharing a non-empty
/// trimmed id, every row but the first in `order` (ties: the earlier row) is ignored.
fn duplicates<T>(rows: &[T], id: impl Fn(&T) -> &str, order: impl Fn(&T, &T) -> Ordering) -> Vec<bool> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let key = id(row).trim();
        if key.is_empty() {
            continue;
        }
        let kept = first.entry(key).or_insert(i);
        if order(row, &rows[*kept]) == Ordering::Less {
            *kept = i;
        }
    }
    let mut ignored = vec![false; rows.len()];
    for (i, row) in rows.iter().enumerate() {
        let key = id(row).trim();
        ignored[i] = !key.is_empty() && first.get(key) != Some(&i);
    }
    ignored
}

/// Selection order of runs: priority descending, queued-at ascending (unknown first),
/// run id ascending.
pub fn run_order<R: RunView + ?Sized>(a: &R, b: &R) -> Ordering {
    let qa = a.queued_at();
    let qb = b.queued_at();
    rank(b.priority())
        .cmp(&rank(a.priority()))
        .then(match (qa, qb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(&y),
        })
        .then_with(|| a.run_id().trim().cmp(b.run_id().trim()))
}

/// Order of sessions: created-at ascending, then id ascending.
pub fn session_order<S: SessionView + ?Sized>(a: &S, b: &S) -> Ordering {
    a.created_at().cmp(&b.created_at()).then_with(|| a.session_id().trim().cmp(b.session_id().trim()))
}

/// Why a session is not statically eligible for a run (ignoring busy-ness and earlier
/// targeting): the violation name that a wake of the pair would break, or `None`.
pub fn ineligibility<R: RunView + ?Sized, S: SessionView + ?Sized>(run: &R, session: &S) -> Option<&'static str> {
    let sid = session.session_id().trim();
    if sid.is_empty() {
        return Some(names::TARGET_SESSION_WITHOUT_ID);
    }
    if session.state() != SessionState::Active {
        return Some(names::TARGET_SESSION_NOT_ACTIVE);
    }
    if session.prompting() {
        return Some(names::TARGET_SESSION_PROMPTING);
    }
    let (task_ws, session_ws) = (run.workspace_id().trim(), session.workspace_id().trim());
    let in_scope = match run.scope() {
        Scope::Global => session_ws.is_empty(),
        Scope::Workspace => !task_ws.is_empty() && task_ws == session_ws,
        Scope::Unknown => false,
    };
    if !in_scope {
        return Some(names::TARGET_OUT_OF_SCOPE);
    }
    let channel = run.channel().trim();
    if !channel.is_empty() && channel != session.channel().trim() {
        return Some(names::TARGET_WRONG_CHANNEL);
    }
    let owner_ok = match run.owner() {
        Owner::None => true,
        Owner::Pool(r) => !r.trim().is_empty() && r.trim() == session.agent_name().trim(),
        Owner::AgentSession(r) => !r.trim().is_empty() && r.trim() == sid,
        Owner::Unknown => false,
    };
    if !owner_ok {
        return Some(names::TARGET_WRONG_OWNER);
    }
    for need in run.required_capabilities() {
        let need = need.trim();
        if !need.is_empty() && !session.capabilities().any(|c| c.trim() == need) {
            return Some(names::TARGET_MISSING_CAPABILITY);
        }
    }
    None
}

/// Which sessions are busy: they hold a `claimed`, `starting` or `running` run.
pub fn busy_sessions<A: ActiveRunView, S: SessionView>(active: &[A], sessions: &[S]) -> Vec<bool> {
    let holders: HashSet<&str> = active
        .iter()
        .filter(|a| matches!(a.status(), RunStatus::Claimed | RunStatus::Starting | RunStatus::Running))
        .map(|a| a.session_id().trim())
        .filter(|s| !s.is_empty())
        .collect();
    sessions.iter().map(|s| holders.contains(s.session_id().trim())).collect()
}

/// Everything the checks derive from a cycle once.
struct Facts<'i, 'o, R, A, S> {
    input: CycleInput<'i, R, A, S>,
    output: &'o CycleOutput<'o>,
    busy: Vec<bool>,
    /// Duplicate session rows (section 8): never eligible.
    ignored_session: Vec<bool>,
    /// Duplicate pending rows (section 8): not runs at all (neither claimable nor
    /// counted as unclaimable).
    ignored_run: Vec<bool>,
    claimable: Vec<bool>,
    starved: Vec<bool>,
    targets_of_run: Vec<Vec<u32>>,
    targeters_of_session: Vec<Vec<u32>>,
    no_match: HashSet<u32>,
}

impl<'i, 'o, R: RunView, A: ActiveRunView, S: SessionView> Facts<'i, 'o, R, A, S> {
    /// `None` when an index is out of bounds (reported as a violation).
    fn new(input: CycleInput<'i, R, A, S>, output: &'o CycleOutput<'o>, v: &mut Vec<Violation>) -> Option<Self> {
        let (nr, ns) = (input.runs.len(), input.sessions.len());
        let mut ok = true;
        for &(r, s) in output.targets {
            if r as usize >= nr || s as usize >= ns {
                v.push(Violation::new(
                    names::INDEX_OUT_OF_BOUNDS,
                    format!("target ({r}, {s}) of {nr} runs, {ns} sessions"),
                ));
                ok = false;
            }
        }
        for &r in output.no_match.iter().chain(output.starved) {
            if r as usize >= nr {
                v.push(Violation::new(names::INDEX_OUT_OF_BOUNDS, format!("run index {r} of {nr} runs")));
                ok = false;
            }
        }
        if !ok {
            return None;
        }
        let mut targets_of_run = vec![Vec::new(); nr];
        let mut targeters_of_session = vec![Vec::new(); ns];
        for &(r, s) in output.targets {
            targets_of_run[r as usize].push(s);
            targeters_of_session[s as usize].push(r);
        }
        let ignored_run = duplicates(input.runs, |r| r.run_id(), |a, b| run_order(a, b));
        let ignored_session = duplicates(input.sessions, |s| s.session_id(), |a, b| session_order(a, b));
        Some(Facts {
            busy: busy_sessions(input.active, input.sessions),
            claimable: input.runs.iter().zip(&ignored_run).map(|(r, ignored)| !ignored && claimable(r)).collect(),
            ignored_run,
            ignored_session,
            starved: input.runs.iter().map(|r| starved(input.now, r.queued_at(), input.min_queued_age)).collect(),
            targets_of_run,
            targeters_of_session,
            no_match: output.no_match.iter().copied().collect(),
            input,
            output,
        })
    }

    fn run(&self, r: u32) -> &R {
        &self.input.runs[r as usize]
    }
    fn session(&self, s: u32) -> &S {
        &self.input.sessions[s as usize]
    }
    fn rid(&self, r: u32) -> &str {
        self.run(r).run_id().trim()
    }
    fn sid(&self, s: u32) -> &str {
        self.session(s).session_id().trim()
    }
    fn is_starved(&self, r: u32) -> bool {
        self.claimable[r as usize] && self.starved[r as usize]
    }
    /// Statically eligible, not busy, not an ignored duplicate row.
    fn eligible(&self, r: u32, s: u32) -> bool {
        !self.busy[s as usize]
            && !self.ignored_session[s as usize]
            && ineligibility(self.run(r), self.session(s)).is_none()
    }
    fn cooling(&self, r: u32, s: u32) -> bool {
        self.input.cooldown_before.is_cooling(self.rid(r), self.sid(s), self.input.now)
    }
    /// `a` comes strictly before `b` in selection order.
    fn run_before(&self, a: u32, b: u32) -> bool {
        run_order(self.run(a), self.run(b)) == Ordering::Less
    }
    fn session_before(&self, a: u32, b: u32) -> bool {
        session_order(self.session(a), self.session(b)) == Ordering::Less
    }
    /// Another run that is not strictly after `r` targeted `s`: `s` may have been taken
    /// before `r`'s turn.
    fn maybe_taken(&self, r: u32, s: u32) -> bool {
        self.targeters_of_session[s as usize].iter().any(|&o| o != r && !self.run_before(r, o))
    }
    /// A run strictly before `r` targeted `s`.
    fn surely_taken(&self, r: u32, s: u32) -> bool {
        self.targeters_of_session[s as usize].iter().any(|&o| o != r && self.run_before(o, r))
    }
    /// Eligible for `r` and certainly free at its turn.
    fn free_eligible(&self, r: u32) -> impl Iterator<Item = u32> + '_ {
        (0..self.input.sessions.len() as u32).filter(move |&s| self.eligible(r, s) && !self.maybe_taken(r, s))
    }
}

/// Runs every single-cycle check: [`check_eligibility`], [`check_uniqueness`],
/// [`check_cooldown`], [`check_greedy`], [`check_counts`]. A cycle that did not
/// complete (paused, fail-closed, snapshot failure) must only have woken no one.
pub fn check_cycle<R, A, S>(input: CycleInput<'_, R, A, S>, output: &CycleOutput<'_>) -> Vec<Violation>
where
    R: RunView,
    A: ActiveRunView,
    S: SessionView,
{
    let mut v = Vec::new();
    if check_not_completed(output, &mut v) {
        return v;
    }
    let Some(f) = Facts::new(input, output, &mut v) else { return v };
    eligibility(&f, &mut v);
    uniqueness(&f, &mut v);
    cooldown(&f, &mut v);
    greedy(&f, &mut v);
    counts(&f, &mut v);
    v
}

/// Returns true when the cycle did not complete (and so nothing else applies).
fn check_not_completed(output: &CycleOutput<'_>, v: &mut Vec<Violation>) -> bool {
    let name = match output.outcome {
        Outcome::Completed => return false,
        Outcome::Paused | Outcome::PauseUnreadable => names::WOKEN_WHILE_PAUSED,
        Outcome::SnapshotFailed => names::WOKEN_WITHOUT_SNAPSHOT,
    };
    if !output.targets.is_empty() || output.counts.wake_attempts != 0 {
        v.push(Violation::new(
            name,
            format!(
                "{:?} cycle attempted {} wakes ({} targets)",
                output.outcome,
                output.counts.wake_attempts,
                output.targets.len()
            ),
        ));
    }
    true
}

macro_rules! family {
    ($(#[$doc:meta])* $name:ident, $inner:ident) => {
        $(#[$doc])*
        pub fn $name<R, A, S>(input: CycleInput<'_, R, A, S>, output: &CycleOutput<'_>) -> Vec<Violation>
        where
            R: RunView,
            A: ActiveRunView,
            S: SessionView,
        {
            let mut v = Vec::new();
            if check_not_completed(output, &mut v) {
                return v;
            }
            if let Some(f) = Facts::new(input, output, &mut v) {
                $inner(&f, &mut v);
            }
            v
        }
    };
}

family!(
    /// No wake goes to a run that is not potentially claimable, or to a session that
    /// is busy, prompting, not active, without an id, out of scope, on the wrong
    /// channel, of the wrong owner, or missing a required capability.
    check_eligibility,
    eligibility
);
family!(
    /// No session is targeted twice in one cycle, and a run that is not starved gets
    /// at most one target (every target of a starved run is checked by
    /// [`check_eligibility`]).
    check_uniqueness,
    uniqueness
);
family!(
    /// A pair in its cooldown is not woken unless the run is starved; a disabled
    /// cooldown keeps no key; delivered wakes are recorded and failed ones are not.
    check_cooldown,
    cooldown
);
family!(
    /// The greedy order of selection: targets go out in selection order; a higher run
    /// is never left without a target while a lower run took a session the higher one
    /// was eligible for; a run that is not starved takes the first eligible free
    /// session not in cooldown; a starved run fans out to every eligible free session;
    /// no-match and starved runs are reported exactly.
    check_greedy,
    greedy
);
family!(
    /// Counts add up: pending = unclaimable + no-match + recently-notified + runs with
    /// at least one target; wake attempts = targets = succeeded + failed; the other
    /// counts match the runs reported.
    check_counts,
    counts
);

fn eligibility<R: RunView, A: ActiveRunView, S: SessionView>(f: &Facts<'_, '_, R, A, S>, v: &mut Vec<Violation>) {
    for &(r, s) in f.output.targets {
        if !f.claimable[r as usize] {
            v.push(Violation::new(names::TARGET_RUN_UNCLAIMABLE, format!("run {:?} is not claimable", f.rid(r))));
        }
        if f.busy[s as usize] {
            v.push(Violation::new(
                names::TARGET_SESSION_BUSY,
                format!("run {:?} woke busy session {:?}", f.rid(r), f.sid(s)),
            ));
        }
        if let Some(name) = ineligibility(f.run(r), f.session(s)) {
            v.push(Violation::new(name, format!("run {:?} woke session {:?}", f.rid(r), f.sid(s))));
        }
        if f.ignored_session[s as usize] {
            v.push(Violation::new(
                names::TARGET_DUPLICATE_SESSION,
                format!("run {:?} woke a duplicate row of session {:?}", f.rid(r), f.sid(s)),
            ));
        }
    }
}

fn uniqueness<R: RunView, A: ActiveRunView, S: SessionView>(f: &Facts<'_, '_, R, A, S>, v: &mut Vec<Violation>) {
    for (s, runs) in f.targeters_of_session.iter().enumerate() {
        if runs.len() > 1 {
            let ids: Vec<&str> = runs.iter().map(|&r| f.rid(r)).collect();
            v.push(Violation::new(
                names::SESSION_TARGETED_TWICE,
                format!("session {:?} targeted {} times, by runs {ids:?}", f.sid(s as u32), runs.len()),
            ));
        }
    }
    for (r, sessions) in f.targets_of_run.iter().enumerate() {
        if sessions.len() > 1 && !f.is_starved(r as u32) {
            v.push(Violation::new(
                names::RUN_MULTIPLE_TARGETS,
                format!("run {:?} is not starved but got {} targets", f.rid(r as u32), sessions.len()),
            ));
        }
    }
}

fn cooldown<R: RunView, A: ActiveRunView, S: SessionView>(f: &Facts<'_, '_, R, A, S>, v: &mut Vec<Violation>) {
    let now = f.input.now;
    let enabled = !f.input.wake_cooldown.is_zero();
    for (which, c) in [("before", Some(f.input.cooldown_before)), ("after", f.output.cooldown_after)] {
        if let Some(c) = c
            && !enabled
            && !c.is_empty()
        {
            v.push(Violation::new(
                names::COOLDOWN_KEYS_WHILE_DISABLED,
                format!("disabled cooldown keeps {} keys {which} the cycle", c.len()),
            ));
        }
    }
    for &(r, s) in f.output.targets {
        if !f.is_starved(r) && f.cooling(r, s) {
            v.push(Violation::new(
                names::COOLDOWN_IGNORED,
                format!("run {:?} (not starved) re-woke session {:?} within the cooldown", f.rid(r), f.sid(s)),
            ));
        }
    }
    let (Some(after), Some(delivered)) = (f.output.cooldown_after, f.output.delivered) else { return };
    if !enabled {
        return;
    }
    let delivered_pairs: HashSet<(&str, &str)> = f
        .output
        .targets
        .iter()
        .zip(delivered)
        .filter(|(_, ok)| **ok)
        .map(|(&(r, s), _)| (f.rid(r), f.sid(s)))
        .collect();
    for (&(r, s), &ok) in f.output.targets.iter().zip(delivered) {
        let (rid, sid) = (f.rid(r), f.sid(s));
        let cooling_after = after.is_cooling(rid, sid, now);
        if ok && !cooling_after {
            v.push(Violation::new(
                names::WAKE_NOT_RECORDED,
                format!("delivered wake of session {sid:?} for run {rid:?} is not in the cooldown"),
            ));
        }
        if !ok && cooling_after && !f.cooling(r, s) && !delivered_pairs.contains(&(rid, sid)) {
            v.push(Violation::new(
                names::FAILED_WAKE_RECORDED,
                format!("failed wake of session {sid:?} for run {rid:?} was recorded in the cooldown"),
            ));
        }
    }
}

fn greedy<R: RunView, A: ActiveRunView, S: SessionView>(f: &Facts<'_, '_, R, A, S>, v: &mut Vec<Violation>) {
    let n = f.input.runs.len() as u32;
    for w in f.output.targets.windows(2) {
        let ((r1, s1), (r2, s2)) = (w[0], w[1]);
        let out_of_order = if r1 == r2 { f.session_before(s2, s1) } else { f.run_before(r2, r1) };
        if out_of_order {
            v.push(Violation::new(
                names::TARGETS_OUT_OF_ORDER,
                format!("({:?}, {:?}) dispatched before ({:?}, {:?})", f.rid(r1), f.sid(s1), f.rid(r2), f.sid(s2)),
            ));
        }
    }
    for r in 0..n {
        let mine = &f.targets_of_run[r as usize];
        let in_no_match = f.no_match.contains(&r);
        if in_no_match {
            if !f.claimable[r as usize] {
                v.push(Violation::new(names::NO_MATCH_UNCLAIMABLE, format!("run {:?}", f.rid(r))));
            }
            if !mine.is_empty() {
                v.push(Violation::new(
                    names::NO_MATCH_TARGETED,
                    format!("run {:?} is no-match but got {} targets", f.rid(r), mine.len()),
                ));
            }
        }
        if !f.claimable[r as usize] {
            continue;
        }
        let free: Vec<u32> = f.free_eligible(r).collect();
        if in_no_match && let Some(&s) = free.first() {
            v.push(Violation::new(
                names::NO_MATCH_WITH_FREE_SESSION,
                format!("run {:?} is no-match but session {:?} was eligible and free", f.rid(r), f.sid(s)),
            ));
        }
        if mine.is_empty() && !in_no_match {
            let any_left = (0..f.input.sessions.len() as u32).any(|s| f.eligible(r, s) && !f.surely_taken(r, s));
            if !any_left {
                v.push(Violation::new(
                    names::NO_MATCH_NOT_REPORTED,
                    format!("run {:?} had no eligible free session and was not reported no-match", f.rid(r)),
                ));
            }
        }
        if f.is_starved(r) {
            for &s in &free {
                if !mine.contains(&s) {
                    v.push(Violation::new(
                        names::FAN_OUT_INCOMPLETE,
                        format!("starved run {:?} did not wake eligible free session {:?}", f.rid(r), f.sid(s)),
                    ));
                }
            }
        } else if let [chosen] = mine[..] {
            if let Some(&s) = free.iter().find(|&&s| f.session_before(s, chosen) && !f.cooling(r, s)) {
                v.push(Violation::new(
                    names::NOT_FIRST_ELIGIBLE,
                    format!(
                        "run {:?} woke session {:?} although earlier session {:?} was eligible, free and not cooling",
                        f.rid(r),
                        f.sid(chosen),
                        f.sid(s)
                    ),
                ));
            }
        } else if mine.is_empty()
            && let Some(&s) = free.iter().find(|&&s| !f.cooling(r, s))
        {
            v.push(Violation::new(
                names::FREE_SESSION_SKIPPED,
                format!(
                    "run {:?} got no target although session {:?} was eligible, free and not cooling",
                    f.rid(r),
                    f.sid(s)
                ),
            ));
        }
        // A higher run left without a target while a lower one took its session.
        if mine.is_empty() {
            for lower in 0..n {
                if lower == r || !f.run_before(r, lower) {
                    continue;
                }
                for &s in &f.targets_of_run[lower as usize] {
                    if f.eligible(r, s) && !f.surely_taken(r, s) && (f.is_starved(r) || !f.cooling(r, s)) {
                        v.push(Violation::new(
                            names::PRIORITY_INVERSION,
                            format!(
                                "run {:?} got nothing while lower run {:?} took session {:?} it was eligible for",
                                f.rid(r),
                                f.rid(lower),
                                f.sid(s)
                            ),
                        ));
                    }
                }
            }
        }
    }
    // Starved runs reported = claimable runs that are starved (as a multiset).
    let mut reported: Vec<u32> = f.output.starved.to_vec();
    reported.sort_unstable();
    let expected: Vec<u32> = (0..n).filter(|&r| f.is_starved(r)).collect();
    if reported != expected {
        let ids = |x: &[u32]| x.iter().map(|&r| f.rid(r).to_owned()).collect::<Vec<_>>();
        v.push(Violation::new(
            names::STARVED_MISREPORTED,
            format!("reported starved {:?}, expected {:?}", ids(&reported), ids(&expected)),
        ));
    }
}

fn counts<R: RunView, A: ActiveRunView, S: SessionView>(f: &Facts<'_, '_, R, A, S>, v: &mut Vec<Violation>) {
    let c = &f.output.counts;
    let runs_with_target = f.targets_of_run.iter().filter(|t| !t.is_empty()).count();
    let ignored = f.ignored_run.iter().filter(|i| **i).count();
    let sum = c.unclaimable + c.no_match + c.recently_notified + runs_with_target + ignored;
    if c.pending_runs != sum {
        v.push(Violation::new(
            names::COUNTS_PARTITION,
            format!(
                "pending {} != unclaimable {} + no-match {} + recently-notified {} + runs with a target \
                 {runs_with_target} + ignored duplicates {ignored}",
                c.pending_runs, c.unclaimable, c.no_match, c.recently_notified
            ),
        ));
    }
    if c.wake_attempts != c.wake_succeeded + c.wake_failed {
        v.push(Violation::new(
            names::COUNTS_WAKES,
            format!("attempts {} != succeeded {} + failed {}", c.wake_attempts, c.wake_succeeded, c.wake_failed),
        ));
    }
    if c.wake_attempts != f.output.targets.len() {
        v.push(Violation::new(
            names::COUNTS_ATTEMPTS_VS_TARGETS,
            format!("attempts {} != targets {}", c.wake_attempts, f.output.targets.len()),
        ));
    }
    if c.pending_runs != f.input.runs.len() {
        v.push(Violation::new(
            names::COUNTS_PENDING,
            format!("pending {} != runs read {}", c.pending_runs, f.input.runs.len()),
        ));
    }
    if c.no_match != f.output.no_match.len() {
        v.push(Violation::new(
            names::COUNTS_NO_MATCH,
            format!("no-match {} != reported {}", c.no_match, f.output.no_match.len()),
        ));
    }
    let unclaimable = f.claimable.iter().zip(&f.ignored_run).filter(|(ok, ignored)| !**ok && !**ignored).count();
    if c.unclaimable != unclaimable {
        v.push(Violation::new(names::COUNTS_UNCLAIMABLE, format!("unclaimable {} != {unclaimable}", c.unclaimable)));
    }
    if c.starved != f.output.starved.len() {
        v.push(Violation::new(
            names::COUNTS_STARVED,
            format!("starved {} != reported {}", c.starved, f.output.starved.len()),
        ));
    }
    if let Some(delivered) = f.output.delivered {
        let ok = delivered.iter().filter(|d| **d).count();
        if delivered.len() != f.output.targets.len() || ok != c.wake_succeeded || delivered.len() - ok != c.wake_failed
        {
            v.push(Violation::new(
                names::COUNTS_DELIVERED,
                format!(
                    "{ok} of {} targets delivered, but succeeded {} / failed {}",
                    delivered.len(),
                    c.wake_succeeded,
                    c.wake_failed
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------
// Across cycles.

/// The cooldown across cycles, checked from the wakes seen rather than from the
/// scheduler's own state: a (run, session) pair delivered at `t` is not woken again
/// before `t + period` (or before `t` after a clock step back) unless its run is
/// starved.
#[derive(Debug, Clone, Default)]
pub struct WakeHistory {
    period: Duration,
    last: HashMap<(String, String), SystemTime>,
}

impl WakeHistory {
    /// A history for a cooldown of `period` (zero: nothing is checked or kept).
    pub fn new(period: Duration) -> Self {
        WakeHistory { period, last: HashMap::new() }
    }

    /// Forgets every wake (a scheduler rebuild clears the cooldown).
    pub fn clear(&mut self) {
        self.last.clear();
    }

    /// How many pairs are remembered.
    pub fn len(&self) -> usize {
        self.last.len()
    }

    /// Whether no pair is remembered.
    pub fn is_empty(&self) -> bool {
        self.last.is_empty()
    }

    /// Checks one cycle against the history, then records its delivered wakes (all
    /// targets when [`CycleOutput::delivered`] is unknown).
    pub fn observe<R: RunView, A, S: SessionView>(
        &mut self,
        input: CycleInput<'_, R, A, S>,
        output: &CycleOutput<'_>,
    ) -> Vec<Violation> {
        let mut v = Vec::new();
        if self.period.is_zero() || output.outcome != Outcome::Completed {
            return v;
        }
        let now = input.now;
        let (nr, ns) = (input.runs.len(), input.sessions.len());
        for (i, &(r, s)) in output.targets.iter().enumerate() {
            let (Some(run), Some(session)) = (input.runs.get(r as usize), input.sessions.get(s as usize)) else {
                v.push(Violation::new(
                    names::INDEX_OUT_OF_BOUNDS,
                    format!("target ({r}, {s}) of {nr} runs, {ns} sessions"),
                ));
                continue;
            };
            let key = (run.run_id().trim().to_owned(), session.session_id().trim().to_owned());
            let is_starved = claimable(run) && starved(now, run.queued_at(), input.min_queued_age);
            if !is_starved && let Some(&at) = self.last.get(&key) {
                // A delivery stamped later than `now` (the clock stepped back) holds
                // nothing (behaviour section 8).
                let recent = now.duration_since(at).is_ok_and(|age| age < self.period);
                if recent {
                    v.push(Violation::new(
                        names::REWOKEN_WITHIN_COOLDOWN,
                        format!("session {:?} re-woken for run {:?}; last delivered {at:?}, now {now:?}", key.1, key.0),
                    ));
                }
            }
            if output.delivered.is_none_or(|d| d.get(i).copied().unwrap_or(false)) {
                self.last.insert(key, now);
            }
        }
        let period = self.period;
        self.last.retain(|_, at| now.duration_since(*at).map_or(true, |age| age < period));
        v
    }
}

/// One escalation the ladder carried out successfully.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Escalation {
    /// The run.
    pub run_id: String,
    /// [`Tier::Spawn`], [`Tier::Event`] or [`Tier::NeedsAttention`].
    pub tier: Tier,
}

/// Budget writes a cycle lost (its upsert failed), after which the durable record is
/// authoritative again: a spawn or event recorded only in the lost write may repeat.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LostWrites {
    /// Every budget write landed.
    #[default]
    None,
    /// These runs' budget writes failed.
    Runs(Vec<String>),
    /// A whole upsert batch failed (or the cycle was dropped before saving).
    All,
}

impl LostWrites {
    /// The budget writes a cycle's errors say were lost.
    pub fn from_errors<TE, SE, WE, PE, BE, AE>(errors: &[Error<TE, SE, WE, PE, BE, AE>]) -> Self {
        let mut runs = Vec::new();
        for e in errors {
            match e {
                Error::UpsertBudget { run_id, .. } => runs.push(run_id.clone()),
                Error::StoreBatch { step: BatchStep::UpsertBudgets, .. }
                | Error::BatchLength { step: BatchStep::UpsertBudgets, .. } => return LostWrites::All,
                _ => {}
            }
        }
        if runs.is_empty() { LostWrites::None } else { LostWrites::Runs(runs) }
    }
}

/// What the ladder did in one cycle.
#[derive(Debug, Clone, Copy)]
pub struct LadderCycle<'a> {
    /// How the cycle ended.
    pub outcome: Outcome,
    /// The starved runs (the ladder's candidates) the cycle reported.
    pub starved: &'a [&'a str],
    /// The escalations carried out, in order (see [`CycleLog::take_escalations`]).
    pub fired: &'a [Escalation],
    /// Budget writes the cycle lost.
    pub lost_writes: &'a LostWrites,
}

#[derive(Debug, Clone, Copy, Default)]
struct Episode {
    spawned: bool,
    evented: bool,
}

/// The convergence ladder across cycles.
///
/// A *starvation episode* of a run lasts as long as its durable budget exists: it
/// starts with the first budget write and ends when the budget is gone after a cycle.
/// Within an episode a spawn and a starved event each fire at most once (unless a lost
/// write erased the durable record of one, see [`LostWrites`]); no escalation fires for
/// a run that was not queued when the cycle read it, for a run that was not a starved
/// candidate of the cycle, or in a cycle that did not complete; and a run is marked
/// `needs_attention` at most once per cycle.
#[derive(Debug, Clone, Default)]
pub struct LadderMonitor {
    episodes: HashMap<String, Episode>,
}

impl LadderMonitor {
    /// A monitor that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many runs are in an episode.
    pub fn open_episodes(&self) -> usize {
        self.episodes.len()
    }

    /// Checks one cycle, then updates the episodes.
    ///
    /// `was_queued(run_id)` says whether the run was `queued` when the cycle read it
    /// (read it from the task service before the cycle); `budget_after(run_id)` reads
    /// the durable budget after the cycle.
    pub fn observe(
        &mut self,
        cycle: LadderCycle<'_>,
        was_queued: impl Fn(&str) -> bool,
        budget_after: impl Fn(&str) -> Option<Budget>,
    ) -> Vec<Violation> {
        let mut v = Vec::new();
        let starved: HashSet<&str> = cycle.starved.iter().map(|s| s.trim()).collect();
        let mut marked: HashSet<&str> = HashSet::new();
        for e in cycle.fired {
            let id = e.run_id.trim();
            if cycle.outcome != Outcome::Completed {
                v.push(Violation::new(
                    names::ESCALATED_WHILE_PAUSED,
                    format!("{:?} of run {id:?} in a {:?} cycle", e.tier, cycle.outcome),
                ));
            }
            if !was_queued(id) {
                v.push(Violation::new(
                    names::ESCALATED_UNQUEUED,
                    format!("{:?} of run {id:?}, which was not queued", e.tier),
                ));
            }
            if !starved.contains(id) {
                v.push(Violation::new(
                    names::ESCALATED_NOT_STARVED,
                    format!("{:?} of run {id:?}, not a starved candidate", e.tier),
                ));
            }
            let ep = self.episodes.entry(id.to_owned()).or_default();
            match e.tier {
                Tier::Spawn => {
                    if ep.spawned {
                        v.push(Violation::new(
                            names::SPAWN_REPEATED,
                            format!("second spawn for run {id:?} in one episode"),
                        ));
                    }
                    ep.spawned = true;
                }
                Tier::Event => {
                    if ep.evented {
                        v.push(Violation::new(
                            names::EVENT_REPEATED,
                            format!("second starved event for run {id:?} in one episode"),
                        ));
                    }
                    ep.evented = true;
                }
                Tier::NeedsAttention => {
                    if !marked.insert(id) {
                        v.push(Violation::new(names::MARK_REPEATED, format!("run {id:?} marked twice in one cycle")));
                    }
                }
                Tier::None | Tier::FanOut => {}
            }
        }
        let lost: Vec<String> = match cycle.lost_writes {
            LostWrites::None => Vec::new(),
            LostWrites::Runs(runs) => runs.iter().map(|r| r.trim().to_owned()).collect(),
            LostWrites::All => self.episodes.keys().cloned().collect(),
        };
        for id in lost {
            if let (Some(ep), Some(b)) = (self.episodes.get_mut(&id), budget_after(&id)) {
                ep.spawned = b.spawn_requested_at.is_some();
                ep.evented = b.starved_event_at.is_some();
            }
        }
        self.episodes.retain(|id, _| budget_after(id).is_some());
        v
    }
}

/// An observer that records what the checks need: each wake's outcome and each
/// escalation, in order. A cloneable handle; give a clone to the scheduler's builder.
///
/// ```
/// use scheduler_core::observer::Observer;
/// use scheduler_core::ladder::Tier;
/// use scheduler_testkit::invariants::CycleLog;
///
/// let log = CycleLog::new();
/// log.wake_sent("run-1", "sess-1");
/// log.escalated("run-1", "task-1", Tier::Spawn);
/// assert_eq!(log.take_wakes(), [("run-1".to_owned(), "sess-1".to_owned(), true)]);
/// assert_eq!(log.take_escalations().len(), 1);
/// assert!(log.take_wakes().is_empty());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CycleLog(Arc<Mutex<LogInner>>);

#[derive(Debug, Default)]
struct LogInner {
    wakes: Vec<(String, String, bool)>,
    escalations: Vec<Escalation>,
}

impl CycleLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `(run id, session id, delivered)` of every wake reported since the last take.
    /// (A wrong-length batch fails its targets without reporting them to the observer;
    /// take the targets from the waker then.)
    pub fn take_wakes(&self) -> Vec<(String, String, bool)> {
        std::mem::take(&mut self.lock().wakes)
    }

    /// Every escalation carried out since the last take.
    pub fn take_escalations(&self) -> Vec<Escalation> {
        std::mem::take(&mut self.lock().escalations)
    }
}

impl Observer for CycleLog {
    fn wake_sent(&self, run_id: &str, session_id: &str) {
        self.lock().wakes.push((run_id.to_owned(), session_id.to_owned(), true));
    }

    fn wake_failed<E: std::error::Error>(&self, run_id: &str, session_id: &str, _error: &E) {
        self.lock().wakes.push((run_id.to_owned(), session_id.to_owned(), false));
    }

    fn escalated(&self, run_id: &str, _task_id: &str, tier: Tier) {
        self.lock().escalations.push(Escalation { run_id: run_id.to_owned(), tier });
    }
}
