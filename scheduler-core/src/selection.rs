//! Selection: which sessions each pending run wakes (behaviour step 4). Pure: no I/O,
//! no clock, no runtime.
//!
//! A [`Selection`] owns every buffer it needs and reuses them from call to call, so a
//! steady workload selects without allocating. Its results are indices into the slices
//! it was given.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_core::selection::{Selection, SelectionInput};
//! # use scheduler_core::{model::*, view::*};
//! # struct Run; impl RunView for Run { fn run_id(&self) -> &str { "run-1" } fn task_id(&self) -> &str { "task-1" }
//! # fn run_status(&self) -> RunStatus { RunStatus::Queued } fn task_status(&self) -> TaskStatus { TaskStatus::Ready }
//! # fn task_paused(&self) -> bool { false } fn priority(&self) -> Priority { Priority::High }
//! # fn scope(&self) -> Scope { Scope::Global } fn workspace_id(&self) -> &str { "" } fn channel(&self) -> &str { "" }
//! # fn owner(&self) -> Owner<'_> { Owner::None } fn required_capabilities(&self) -> impl Iterator<Item = &str> { ["rust"].into_iter() }
//! # fn queued_at(&self) -> Option<SystemTime> { None } }
//! # struct Sess(&'static str, &'static [&'static str]);
//! # impl SessionView for Sess { fn session_id(&self) -> &str { self.0 } fn agent_name(&self) -> &str { "a" }
//! # fn workspace_id(&self) -> &str { "" } fn channel(&self) -> &str { "" } fn state(&self) -> SessionState { SessionState::Active }
//! # fn prompting(&self) -> bool { false } fn capabilities(&self) -> impl Iterator<Item = &str> { self.1.iter().copied() }
//! # fn created_at(&self) -> SystemTime { SystemTime::UNIX_EPOCH } }
//! # struct Active; impl ActiveRunView for Active { fn run_id(&self) -> &str { "" } fn session_id(&self) -> &str { "" } fn status(&self) -> RunStatus { RunStatus::Running } }
//! let runs = [Run];
//! let sessions = [Sess("go-only", &["go"]), Sess("rusty", &["rust"])];
//! let mut selection = Selection::new();
//! selection.select(
//!     SelectionInput {
//!         runs: &runs,
//!         active: &[] as &[Active],
//!         sessions: &sessions,
//!         now: SystemTime::now(),
//!         min_queued_age: Duration::ZERO,
//!     },
//!     |_run, _session| false, // nothing in cooldown
//! );
//! assert_eq!(selection.targets(), &[(0, 1)]); // run 0 wakes session 1
//! ```
//!
//! # How it scales
//!
//! The contract reads as "for every run in order, scan every session in order": O(runs
//! x sessions). This implementation decides exactly the same targets, in the same order,
//! with work close to reading each row once:
//!
//! 1. **Sessions are indexed once per cycle.** Only *available* sessions (non-empty id,
//!    `active`, not prompting, not busy) are kept, sorted by the session order, and
//!    grouped by *scope partition*: their trimmed workspace, the empty workspace being
//!    the global partition. Channel, agent name, session id and capability names are
//!    interned to small integers (hash tables over reused buffers that store no strings),
//!    and each session's capabilities become a bit set, so matching a run against a
//!    session compares integers and words, never strings.
//! 2. **Runs are read once.** Claimability, starvation, the run's partition and a
//!    compact sort key (priority band, queued-at, and the first sixteen bytes of the id
//!    as a `u128`, so comparisons read the row again only on exact ties) are computed
//!    for every run in one pass, and the claimable runs are bucketed by partition and
//!    priority band. A run whose scope names no partition is a no-match at once.
//! 3. **Partitions are independent.** A run can only ever target sessions of its own
//!    partition, so each partition's runs are walked in selection order on their own.
//!    Within a partition, runs with the same requirements (channel, owner, capability
//!    set) form a *class*; a class's candidate sessions (in session order) are computed
//!    the first time one of its runs is walked, and a cursor skips the ones targeted
//!    since, so a run whose class can match nobody any more costs O(1). A new class
//!    looks only at the partition's holders of its rarest required capability (posting
//!    lists built with the index), so many distinct capability sets do not each scan
//!    the whole partition. A class's key lists its required capabilities, sorted and
//!    distinct, rather than a bit set as wide as every capability the sessions name, so
//!    a run's class is found by hashing a few words however many capabilities there are.
//!    When the previous cycle's walk asked for the class of most of the runs it keyed
//!    (many classes, few matches: every run is decided), the classes are found while
//!    the runs are keyed instead, each row read once while it is in cache; otherwise
//!    when the walk first asks, for the few runs it reaches. Either way the decisions
//!    are the same.
//! 4. **Sorting costs what it must.** A partition's runs are bucketed by priority band
//!    and ordered lazily, band after band: the first few runs of a band (a small
//!    multiple of the partition's sessions left) are selected in linear time and
//!    sorted, and if the walk needs more, the rest of the band becomes a binary heap
//!    popped one run at a time (when those first runs matched nothing, the runs whose
//!    class has no untargeted candidate are set aside as no-matches first, read in input
//!    order). Once every available session of the partition is
//!    targeted, the rest of its runs are no-matches and are never ordered. Only the
//!    runs that got targets are then sorted into the global selection order, and the
//!    starved runs (the ladder walks them in order).
//!
//! Nothing here allocates once the buffers have grown to the workload: the interning
//! tables store no strings (an entry remembers where its string lives in this cycle's
//! rows, and its length and first sixteen bytes), and every list is a reused `Vec`.
//!
//! **Duplicate rows** (behaviour section 8): ids are compared after trimming. Of the
//! session rows sharing an id, the first in session order is the session and the others
//! are ignored (never targeted); of the pending rows sharing a run id, the first in run
//! order is the run and the others are ignored (not counted, not starved). Both are
//! reported by [`Selection::duplicate_runs`] and [`Selection::duplicate_sessions`].
//! Session ids are interned once per cycle. Run ids are hashed while the runs are keyed
//! (from the sixteen bytes the sort key reads anyway, for ids that short) and the hashes
//! checked for a repeat in a separate pass over a set of 32-bit fingerprints; only when
//! one repeats (a duplicate, or very rarely two ids whose fingerprints meet) are the ids
//! interned and compared.
//!
//! The results are those of the straightforward algorithm: identical targets in
//! identical order, identical counts, identical starved list in selection order; only
//! the order of [`Selection::no_match`] is left unspecified. Where the contract leaves
//! exact ties open (two runs with equal priority, queued-at and run id; two sessions
//! with equal created-at and session id), the input order decides. A plain reference
//! implementation lives in `scheduler_testkit::reference`, and a property test checks
//! the two agree on many thousands of generated workloads.
//!
//! # The maximum-matching policy
//!
//! [`SelectionPolicy::Greedy`] (the default, [`Selection::new`]) is behaviour step 4 as
//! written, described above. [`SelectionPolicy::Maximum`] ([`Selection::with_policy`],
//! [`Builder::selection_policy`](crate::Builder::selection_policy)) changes one thing:
//! a non-starved run is **accepted** when the runs accepted before it *and it* can be
//! given distinct sessions, each eligible for its run and not in cooldown for that pair;
//! accepted runs may be moved to other sessions to make room (an augmenting path). The
//! walk is the same (partitions, runs in selection order, a partition ends once all its
//! sessions are targeted), and so is everything else:
//!
//! - **Which runs.** The woken non-starved runs are as many as any assignment can wake
//!   (given the starved fan-outs), and of all such sets the earliest in selection order:
//!   no run is left unwoken so that a later one is woken instead. (Accepting in order
//!   while the set stays matchable is the greedy algorithm of a transversal matroid.)
//! - **Which sessions (the tie rule).** A run first tries, in session order, the first
//!   eligible session that is free and not in cooldown for it: greedy's choice. Only
//!   when there is none does it search a path, depth first over the sessions held by
//!   other non-starved runs. Each run on the search (the new run, then each holder
//!   reached) first tries the sessions it could take, in session order, whose holder
//!   can move straight to a free session (the holder's first, in session order, not in
//!   cooldown for it); if none, it goes deeper through the held sessions it could take,
//!   in session order, skipping sessions already reached since the last path was
//!   applied. The first path found is applied: each holder on it moves one step, the run
//!   takes the first session of the path. Given the same rows and cooldown answers, the
//!   same targets come out.
//! - **Equal to greedy when greedy is enough.** While every run finds a free session
//!   (or fails as greedy fails), nothing moves: when greedy wakes every run the maximum
//!   policy wakes, both give the same targets, in the same order, with the same counts.
//! - **Starved fan-out** is unchanged in meaning: at its place in selection order, a
//!   starved run targets every eligible session not held at that moment (cooldown
//!   ignored), is reported starved, and those sessions are fixed for the rest of the
//!   cycle (no path moves a fan-out). A starved run whose eligible sessions are all held
//!   is a no-match, as in greedy.
//! - **Cooldown** is unchanged: no non-starved run is ever given a session in cooldown
//!   for that pair, and a run is not moved onto one either. `in_cooldown` is asked only
//!   about eligible pairs of non-starved runs, but may be asked about a pair more than
//!   once and in another order than greedy's (a run on a path is asked again).
//! - **No-match and recently notified** are behaviour step 4's definitions read against
//!   the cycle's *final* targets (runs may have moved after a run was turned down): a
//!   claimable, non-starved run that is not woken is **recently notified** when some
//!   session eligible for it is not targeted by an earlier run in selection order (every
//!   such session is then in cooldown for it: otherwise it would have been accepted),
//!   and a **no-match** when every eligible session is targeted by earlier runs, or it
//!   has none. That is exactly what [`why`](crate::why) reports
//!   ([`CandidatesInCooldown`](crate::why::WhyNotWoken::CandidatesInCooldown), or a
//!   no-match reason such as
//!   [`CandidatesTaken`](crate::why::WhyNotWoken::CandidatesTaken)). Unclaimable runs,
//!   duplicates and starved runs are counted as in greedy.
//! - **Cost.** Kuhn's algorithm with its usual bounds: a search that fails leaves the
//!   sessions it reached dead until the next path is applied, a requirement class whose
//!   search failed without a cooldown answer fails at once for its later runs until
//!   then, and the walk stops once a partition has no free session. All buffers belong
//!   to the selection: a steady cycle allocates nothing. Where greedy's choices are
//!   already right (the `W(N, M)` benchmark workloads), the two policies cost the same;
//!   where many runs must be moved, paths grow long (a depth-first search in session
//!   order), up to moves x path length: the `policy` bench's `M_moves` shape, built for
//!   that, shows it.

mod key;
mod matching;
mod postings;
mod sort;
pub(crate) mod table;
#[cfg(test)]
mod test_run;

use std::mem;
use std::time::{Duration, SystemTime};

use crate::model::{Owner, RunStatus, Scope, SessionState};
pub use crate::settings::SelectionPolicy;
use crate::view::{ActiveRunView, RunView, SessionView};

pub(crate) use key::trim;
use key::{RunKey, SessionKey, id_prefix};
use postings::Postings;
use sort::{SortBuffers, sort_keys};
use table::{Distinct, Seed, Span, StrTable, Table, Texts};

/// What one selection looks at.
#[derive(Debug)]
pub struct SelectionInput<'a, R, A, S> {
    /// Pending runs, in any order.
    pub runs: &'a [R],
    /// Runs that may hold sessions.
    pub active: &'a [A],
    /// Live sessions, in any order.
    pub sessions: &'a [S],
    /// The cycle's time.
    pub now: SystemTime,
    /// Minimum queued age for starvation; zero disables starvation.
    pub min_queued_age: Duration,
}

/// The counts a selection produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SelectionCounts {
    /// Runs skipped as not claimable.
    pub unclaimable_runs: usize,
    /// Runs whose every eligible session was in cooldown.
    pub recently_notified_runs: usize,
}

/// "No value" for an interned field (an empty channel or agent name, say).
const NONE: u32 = u32::MAX;

/// A class's channel when the run has none: any session channel matches.
const ANY: u32 = u32::MAX - 1;
/// Owner kinds in a class key.
const OWNER_NONE: u32 = 0;
const OWNER_POOL: u32 = 1;
const OWNER_SESSION: u32 = 2;
/// Priority bands (urgent, high, medium, low) a partition's runs are bucketed by.
const BANDS: usize = 4;
/// The first runs of a bucket that are ordered at once: this many per session left in
/// the partition (a walk decides about that many runs per target it finds), at least
/// `MIN_FIRST_CHUNK`. The rest, if the walk gets there, is ordered lazily by a heap.
const FIRST_CHUNK_PER_SESSION: usize = 4;
const MIN_FIRST_CHUNK: usize = 32;
/// Class key words before the required capabilities: partition, channel, owner kind,
/// owner.
const CLASS_HEAD: usize = 4;

/// Whether a run could be claimed at all (the rule of
/// [`is_potentially_claimable`](crate::eligibility::is_potentially_claimable), with the
/// fast trim): run and task ids non-empty, run `queued`, task not paused, task status
/// not `draft`, `blocked` or `canceled`. `id` is the run's trimmed id.
#[inline(always)]
fn claimable<R: RunView>(run: &R, id: &str) -> bool {
    run.run_status() == RunStatus::Queued
        && !run.task_paused()
        && run.task_status().allows_claim()
        && !id.is_empty()
        && !trim(run.task_id()).is_empty()
}

/// Whether a run is starved, given `starve_before` (`now - min_queued_age`, `None` when
/// starvation is disabled or no time is that old): the rule of
/// [`ladder::is_starved`](crate::ladder::is_starved), compared instead of subtracted.
#[inline]
fn is_starved<R: RunView>(run: &R, starve_before: Option<SystemTime>) -> bool {
    match (starve_before, run.queued_at()) {
        (Some(before), Some(queued_at)) => queued_at <= before,
        _ => false,
    }
}

/// Restores the min-heap property of `heap[..len]` below `i`.
#[inline]
fn sift_down<R: RunView>(heap: &mut [RunKey], mut i: usize, len: usize, runs: &[R]) {
    loop {
        let mut child = 2 * i + 1;
        if child >= len {
            return;
        }
        if child + 1 < len && heap[child + 1].lt(&heap[child], runs) {
            child += 1;
        }
        if !heap[child].lt(&heap[i], runs) {
            return;
        }
        heap.swap(i, child);
        i = child;
    }
}

/// Runs of one partition with the same requirements, and where its candidate sessions
/// are in `Selection::candidates`.
#[derive(Debug, Clone, Copy)]
struct Class {
    end: u32,
    /// Candidates before the cursor are all targeted.
    cursor: u32,
}

/// A run that got targets, and where its sessions are in `Selection::target_sessions`.
#[derive(Debug, Clone, Copy)]
struct TargetRun {
    key: RunKey,
    start: u32,
    len: u32,
}

/// Reusable selection state and its results.
///
/// Every buffer is kept between calls and only grows, so selecting over a workload of
/// the same shape as before allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    targets: Vec<(u32, u32)>,
    no_match: Vec<u32>,
    starved: Vec<u32>,
    duplicate_runs: Vec<u32>,
    duplicate_sessions: Vec<u32>,
    counts: SelectionCounts,
    oldest_queued_at: Option<SystemTime>,

    seed: Seed,
    // Session index. `sid_*`: sessions that could be woken, by trimmed id.
    sid_of: Vec<u32>,
    sid_table: StrTable,
    sid_rep: Vec<u32>,
    sid_busy: Vec<bool>,
    session_keys: Vec<SessionKey>,
    ws_table: StrTable,
    ws_rep: Vec<u32>,
    part_of: Vec<u32>,
    part_start: Vec<u32>,
    part_left: Vec<u32>,
    fill: Vec<u32>,
    // Available sessions grouped by partition, in session order inside each: `g_*`.
    g_session: Vec<u32>,
    g_channel: Vec<u32>,
    g_agent: Vec<u32>,
    g_sid: Vec<u32>,
    g_caps: Vec<u32>,
    cap_ids: Vec<u32>,
    g_mask: Vec<u64>,
    postings: Postings,
    targeted: Vec<bool>,
    words: usize,
    chan_table: StrTable,
    chan_rep: Vec<u32>,
    agent_table: StrTable,
    agent_rep: Vec<u32>,
    cap_table: StrTable,
    cap_rep: Vec<(u32, u32)>,
    // Runs. `rid_*`: runs by trimmed id.
    rid_of: Vec<u32>,
    rid_table: Table,
    /// Each run's id hash (0 for an empty id), taken while keying.
    rid_hash: Vec<u64>,
    /// Whether the hashes in `rid_hash` are known to be all distinct. When a cycle's
    /// hashes are the previous cycle's, in the same order (an unchanged queue), so is
    /// the answer, and the set is not filled again.
    rid_hash_distinct: bool,
    rid_distinct: Distinct,
    rid_rep: Vec<u32>,
    buckets: Vec<Vec<RunKey>>,
    starved_keys: Vec<RunKey>,
    /// The starved runs' trimmed ids, copied while keying (the row is then in cache):
    /// run `i`'s is at `starved_id_at[i]`.
    starved_ids: Texts,
    starved_id_at: Vec<Span>,
    sort_buffers: SortBuffers,
    class_table: Table,
    classes: Vec<Class>,
    /// The classes' keys back to back: class `c`'s is `class_keys[class_key_at[c]..]`
    /// up to the next one's.
    class_keys: Vec<u64>,
    class_key_at: Vec<u32>,
    probe: Vec<u64>,
    /// Whether this cycle resolves each run's class while keying it (its row is then
    /// in cache), into `run_class`, rather than when the walk first asks. Set by the
    /// previous cycle: when its walk asked for the class of most keyed runs.
    eager_classes: bool,
    /// By input index, the keyed runs' classes (`NONE`: no class), when eager.
    run_class: Vec<u32>,
    /// How many times this cycle's walk asked for a run's class.
    class_asks: usize,
    candidates: Vec<u32>,
    target_runs: Vec<TargetRun>,
    target_sessions: Vec<u32>,
    // The policy, and the maximum-matching policy's own buffers (`selection/matching.rs`).
    policy: SelectionPolicy,
    matching: matching::Matching,
}

impl Selection {
    /// An empty selection; buffers grow on first use and are reused afterwards.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty selection deciding under `policy` (see [`SelectionPolicy`] and the
    /// [module docs](self#the-maximum-matching-policy)).
    pub fn with_policy(policy: SelectionPolicy) -> Self {
        Selection { policy, ..Self::default() }
    }

    /// The policy this selection decides under.
    pub fn policy(&self) -> SelectionPolicy {
        self.policy
    }

    /// Selects targets for `input`. `in_cooldown(run, session)` says whether the pair
    /// was woken too recently; it is asked only for eligible pairs of runs that are not
    /// starved, in session order for each run, until one is not cooling. (Under
    /// [`SelectionPolicy::Maximum`] a run on an augmenting path may be asked again: see
    /// the [module docs](self#the-maximum-matching-policy).)
    ///
    /// # Panics
    /// When there are more than `u32::MAX - 2` runs or sessions.
    pub fn select<R, A, S>(&mut self, input: SelectionInput<'_, R, A, S>, mut in_cooldown: impl FnMut(&R, &S) -> bool)
    where
        R: RunView,
        A: ActiveRunView,
        S: SessionView,
    {
        let SelectionInput { runs, active, sessions, now, min_queued_age } = input;
        let limit = (u32::MAX - 2) as usize;
        assert!(runs.len() <= limit && sessions.len() <= limit, "too many rows");
        self.targets.clear();
        self.starved.clear();
        self.counts = SelectionCounts::default();

        // Starved: starvation enabled and queued at or before `now - min_queued_age`
        // (exactly `now - queued_at >= min_queued_age`, without a subtraction per run).
        let starve_before = if min_queued_age.is_zero() { None } else { now.checked_sub(min_queued_age) };
        self.index_sessions(active, sessions);
        self.clear_classes();
        self.key_runs(runs, sessions, starve_before);
        let maximum = self.policy == SelectionPolicy::Maximum;
        if maximum {
            self.matching_start();
        }
        self.walk(runs, sessions, starve_before, &mut in_cooldown);
        if maximum {
            self.matching_finish();
        }
        self.emit(runs);
    }

    /// `(run index, session index)` of every target, in dispatch order: runs in
    /// selection order, and a fanned-out run's sessions in session order.
    pub fn targets(&self) -> &[(u32, u32)] {
        &self.targets
    }

    /// Claimable runs with no eligible session (starved ones too), in unspecified
    /// order.
    pub fn no_match(&self) -> &[u32] {
        &self.no_match
    }

    /// Starved, claimable runs (the ladder's candidates), in selection order.
    pub fn starved(&self) -> &[u32] {
        &self.starved
    }

    /// The trimmed id of starved run `ri` (one of [`starved`](Self::starved)), from the
    /// copy taken while keying.
    pub(crate) fn starved_id(&self, ri: u32) -> &str {
        self.starved_ids.get(self.starved_id_at[ri as usize])
    }

    /// Pending rows ignored because an earlier row in run order has the same trimmed
    /// run id (behaviour section 8), in unspecified order. They take no part in the
    /// selection: not counted, not claimable, never starved.
    pub fn duplicate_runs(&self) -> &[u32] {
        &self.duplicate_runs
    }

    /// Session rows ignored because an earlier row in session order has the same
    /// trimmed session id, in unspecified order. They are never targeted, so no session
    /// is targeted twice in one selection.
    pub fn duplicate_sessions(&self) -> &[u32] {
        &self.duplicate_sessions
    }

    /// The selection's counts.
    pub fn counts(&self) -> SelectionCounts {
        self.counts
    }

    /// Sessions that could be woken at all: a non-empty id (the first row of its id),
    /// `active`, not prompting, not busy. Targeted ones included.
    pub fn idle_sessions(&self) -> usize {
        self.session_keys.len()
    }

    /// The earliest known queued-at of the claimable runs (ignored duplicates
    /// excluded), `None` when none has one.
    pub fn oldest_queued_at(&self) -> Option<SystemTime> {
        self.oldest_queued_at
    }

    /// Builds the session index: available sessions, grouped by partition, with their
    /// interned attributes.
    fn index_sessions<A: ActiveRunView, S: SessionView>(&mut self, active: &[A], sessions: &[S]) {
        let seed = self.seed;

        self.dedup_sessions(sessions);

        // Busy: the id of a session holding a claimed, starting or running run.
        self.sid_busy.clear();
        self.sid_busy.resize(self.sid_table.len(), false);
        for run in active {
            if !run.status().holds_session() {
                continue;
            }
            let id = trim(run.session_id());
            if id.is_empty() {
                continue;
            }
            let rep = &self.sid_rep;
            if let Some(e) =
                self.sid_table.find(seed, id, |e| trim(sessions[rep[e as usize] as usize].session_id()) == id)
            {
                self.sid_busy[e as usize] = true;
            }
        }

        // Available sessions, in session order.
        self.session_keys.clear();
        for (i, &e) in self.sid_of.iter().enumerate() {
            let s = &sessions[i];
            if e != NONE
                && self.sid_rep[e as usize] == i as u32
                && !self.sid_busy[e as usize]
                && s.state() == SessionState::Active
                && !s.prompting()
            {
                self.session_keys.push(SessionKey::new(s, i as u32));
            }
        }
        self.session_keys.sort_unstable_by(|a, b| a.cmp(b, sessions));
        let available = self.session_keys.len();

        // Scope partitions: the trimmed workspace; the empty one is the global partition.
        self.ws_table.reset(available);
        self.ws_rep.clear();
        self.part_of.clear();
        for k in &self.session_keys {
            let ws = trim(sessions[k.idx as usize].workspace_id());
            let rep = &self.ws_rep;
            let (p, new) =
                self.ws_table.intern(seed, ws, |p| trim(sessions[rep[p as usize] as usize].workspace_id()) == ws);
            if new {
                self.ws_rep.push(k.idx);
            }
            self.part_of.push(p);
        }
        let parts = self.ws_table.len();

        // Group by partition, keeping the session order inside each (counting sort).
        self.part_start.clear();
        self.part_start.resize(parts + 1, 0);
        for &p in &self.part_of {
            self.part_start[p as usize + 1] += 1;
        }
        for p in 0..parts {
            self.part_start[p + 1] += self.part_start[p];
        }
        self.part_left.clear();
        self.part_left.extend(self.part_start.windows(2).map(|w| w[1] - w[0]));
        self.fill.clear();
        self.fill.extend_from_slice(&self.part_start[..parts]);
        self.g_session.clear();
        self.g_session.resize(available, 0);
        for (k, key) in self.session_keys.iter().enumerate() {
            let p = self.part_of[k] as usize;
            self.g_session[self.fill[p] as usize] = key.idx;
            self.fill[p] += 1;
        }

        // Interned attributes, by grouped position.
        self.chan_table.reset(available);
        self.chan_rep.clear();
        self.agent_table.reset(available);
        self.agent_rep.clear();
        self.cap_table.reset(available);
        self.cap_rep.clear();
        self.g_channel.clear();
        self.g_agent.clear();
        self.g_sid.clear();
        self.g_caps.clear();
        self.g_caps.push(0);
        self.cap_ids.clear();
        for &i in &self.g_session {
            let s = &sessions[i as usize];
            let channel = trim(s.channel());
            let channel = if channel.is_empty() {
                NONE
            } else {
                let rep = &self.chan_rep;
                let (e, new) = self
                    .chan_table
                    .intern(seed, channel, |e| trim(sessions[rep[e as usize] as usize].channel()) == channel);
                if new {
                    self.chan_rep.push(i);
                }
                e
            };
            self.g_channel.push(channel);
            let agent = trim(s.agent_name());
            let agent = if agent.is_empty() {
                NONE
            } else {
                let rep = &self.agent_rep;
                let (e, new) = self
                    .agent_table
                    .intern(seed, agent, |e| trim(sessions[rep[e as usize] as usize].agent_name()) == agent);
                if new {
                    self.agent_rep.push(i);
                }
                e
            };
            self.g_agent.push(agent);
            self.g_sid.push(self.sid_of[i as usize]);
            for (pos, cap) in s.capabilities().enumerate() {
                let cap = trim(cap);
                if cap.is_empty() {
                    continue;
                }
                let rep = &self.cap_rep;
                let (e, new) = self.cap_table.intern(seed, cap, |e| {
                    let (si, at) = rep[e as usize];
                    sessions[si as usize].capabilities().nth(at as usize).map(trim) == Some(cap)
                });
                if new {
                    self.cap_rep.push((i, pos as u32));
                }
                self.cap_ids.push(e);
            }
            self.g_caps.push(self.cap_ids.len() as u32);
        }

        // Capability sets as bit sets of `words` words each.
        let words = self.cap_table.len().div_ceil(64).max(1);
        self.words = words;
        self.g_mask.clear();
        self.g_mask.resize(available * words, 0);
        for g in 0..available {
            let (a, b) = (self.g_caps[g] as usize, self.g_caps[g + 1] as usize);
            for &c in &self.cap_ids[a..b] {
                self.g_mask[g * words + c as usize / 64] |= 1 << (c % 64);
            }
        }
        self.postings.build(&self.g_mask, words, self.cap_table.len());
        self.targeted.clear();
        self.targeted.resize(available, false);
    }

    /// The partition a run's scope selects, or `NONE` when no available session is in
    /// it (or the scope can match nothing).
    #[inline(always)]
    fn partition_of<R: RunView, S: SessionView>(&self, run: &R, sessions: &[S]) -> u32 {
        let ws = match run.scope() {
            Scope::Global => "",
            Scope::Workspace => match trim(run.workspace_id()) {
                "" => return NONE,
                ws => ws,
            },
            Scope::Unknown => return NONE,
        };
        let rep = &self.ws_rep;
        self.ws_table
            .find(self.seed, ws, |p| trim(sessions[rep[p as usize] as usize].workspace_id()) == ws)
            .unwrap_or(NONE)
    }

    /// Reads every run once: unclaimable ones are counted, starved ones noted, and the
    /// rest keyed and bucketed by (partition, priority band), so a partition's walk
    /// orders one band at a time and never touches the bands it does not reach.
    ///
    /// Each run's id is trimmed once and hashed in the same pass (the snapshots are the
    /// biggest memory a cycle touches: each is read once), and duplicate ids are looked
    /// for afterwards, in the hashes alone (not at all when the hashes are the previous
    /// cycle's, in the same order, and it had none: an unchanged queue). When there are
    /// duplicates (rare: a misbehaving source), the pass is redone with the run of every
    /// id known.
    fn key_runs<R: RunView, S: SessionView>(&mut self, runs: &[R], sessions: &[S], starve_before: Option<SystemTime>) {
        let unclaimable = self.counts.unclaimable_runs;
        self.clear_keys();
        if starve_before.is_some() {
            self.starved_id_at.resize(runs.len(), (0, 0));
        }
        // Sized in either mode, so that the first cycle that finds classes while keying
        // does not allocate.
        self.run_class.resize(runs.len(), NONE);
        // Unset until this cycle's answer is known: a view that panics while keying
        // leaves `rid_hash` half rewritten, and the next cycle must not trust it. (New
        // places hold 0, the hash of an empty id only, which is no repeat; a shorter
        // queue's hashes, the same in each place, are as distinct as before.)
        let mut unchanged = mem::replace(&mut self.rid_hash_distinct, false);
        self.rid_hash.resize(runs.len(), 0);
        for (i, run) in runs.iter().enumerate() {
            let id = trim(run.run_id());
            let head = table::head(id);
            let hash = if id.is_empty() { 0 } else { self.seed.head(id, head).max(1) };
            let held = &mut self.rid_hash[i];
            unchanged &= *held == hash;
            *held = hash;
            self.key_run(i as u32, run, (id, head.0), sessions, starve_before);
        }
        // Apart, not in the pass above: the set's probes would stall the keying.
        let distinct = unchanged || self.hashes_distinct();
        self.rid_hash_distinct = distinct;
        self.duplicate_runs.clear();
        if !distinct && self.find_duplicate_runs(runs) {
            self.counts.unclaimable_runs = unclaimable;
            self.clear_keys();
            for (i, run) in runs.iter().enumerate() {
                let e = self.rid_of[i];
                if e == NONE || self.rid_rep[e as usize] == i as u32 {
                    let id = trim(run.run_id());
                    self.key_run(i as u32, run, (id, id_prefix(id)), sessions, starve_before);
                }
            }
        }
    }

    /// Whether the run id hashes of `rid_hash` are all distinct (0s, empty ids, apart).
    /// `false` may be wrong (two ids meeting in the set); `true` is certain.
    fn hashes_distinct(&mut self) -> bool {
        self.rid_distinct.reset(self.rid_hash.len());
        self.rid_hash.iter().all(|&h| h == 0 || self.rid_distinct.insert(h))
    }

    /// Forgets the previous cycle's requirement classes, keeping the capacity.
    fn clear_classes(&mut self) {
        self.class_table.reset(64);
        self.classes.clear();
        self.class_keys.clear();
        self.class_key_at.clear();
        self.candidates.clear();
        self.class_asks = 0;
    }

    /// Empties what [`key_runs`](Self::key_runs) fills, keeping the capacity.
    fn clear_keys(&mut self) {
        let buckets = self.part_left.len() * BANDS;
        if self.buckets.len() < buckets {
            self.buckets.resize_with(buckets, Vec::new);
        }
        for bucket in &mut self.buckets {
            bucket.clear();
        }
        self.starved_keys.clear();
        self.starved_ids.clear();
        self.no_match.clear();
        self.oldest_queued_at = None;
    }

    /// Counts, notes or buckets run `i`, whose trimmed id is `id` (`prefix` its
    /// [`id_prefix`]).
    #[inline(always)]
    fn key_run<R: RunView, S: SessionView>(
        &mut self,
        i: u32,
        run: &R,
        (id, prefix): (&str, u128),
        sessions: &[S],
        starve_before: Option<SystemTime>,
    ) {
        if !claimable(run, id) {
            self.counts.unclaimable_runs += 1;
            return;
        }
        let part = self.partition_of(run, sessions);
        let key = RunKey::with_prefix(run, i, part, prefix);
        if let Some(at) = key.queued_at()
            && self.oldest_queued_at.is_none_or(|oldest| at < oldest)
        {
            self.oldest_queued_at = Some(at);
        }
        if is_starved(run, starve_before) {
            self.starved_keys.push(key);
            self.starved_id_at[i as usize] = self.starved_ids.push(id);
        }
        if part == NONE {
            self.no_match.push(i);
        } else {
            if self.eager_classes {
                self.run_class[i as usize] = self.class_of(run, part, sessions).unwrap_or(NONE);
            }
            self.buckets[part as usize * BANDS + key.band()].push(key);
        }
    }

    /// Interns the sessions by trimmed id: of the rows sharing an id, the first in
    /// session order (created-at, then input order) is the session (`sid_rep`), the
    /// others are ignored duplicates.
    fn dedup_sessions<S: SessionView>(&mut self, sessions: &[S]) {
        let seed = self.seed;
        self.sid_table.reset(sessions.len());
        self.sid_rep.clear();
        self.sid_of.clear();
        self.duplicate_sessions.clear();
        for (i, s) in sessions.iter().enumerate() {
            let id = trim(s.session_id());
            if id.is_empty() {
                self.sid_of.push(NONE);
                continue;
            }
            let rep = &self.sid_rep;
            let (e, new) =
                self.sid_table.intern(seed, id, |e| trim(sessions[rep[e as usize] as usize].session_id()) == id);
            let i = i as u32;
            if new {
                self.sid_rep.push(i);
            } else {
                let first = &mut self.sid_rep[e as usize];
                let ignored = if s.created_at() < sessions[*first as usize].created_at() {
                    std::mem::replace(first, i)
                } else {
                    i
                };
                self.duplicate_sessions.push(ignored);
            }
            self.sid_of.push(e);
        }
    }

    /// Interns the runs by trimmed id, once [`key_runs`](Self::key_runs) met an id hash
    /// twice (the usual distinct hashes mean distinct ids, and nothing is interned): of
    /// the rows sharing an id, the first in run order is the run (`rid_rep`), the
    /// others are ignored duplicates. A row without an id is a run of its own (an
    /// unclaimable one). Returns whether there were duplicates.
    fn find_duplicate_runs<R: RunView>(&mut self, runs: &[R]) -> bool {
        self.rid_table.reset(runs.len());
        self.rid_rep.clear();
        self.rid_of.clear();
        for (i, run) in runs.iter().enumerate() {
            let id = trim(run.run_id());
            if id.is_empty() {
                self.rid_of.push(NONE);
                continue;
            }
            let rep = &self.rid_rep;
            let hash = self.seed.head(id, table::head(id));
            let (e, new) = self.rid_table.intern(hash, |e| trim(runs[rep[e as usize] as usize].run_id()) == id);
            self.rid_of.push(e);
            let i = i as u32;
            if new {
                self.rid_rep.push(i);
                continue;
            }
            let first = &mut self.rid_rep[e as usize];
            let earlier =
                RunKey::new(&runs[i as usize], i, NONE).lt(&RunKey::new(&runs[*first as usize], *first, NONE), runs);
            let ignored = if earlier { std::mem::replace(first, i) } else { i };
            self.duplicate_runs.push(ignored);
        }
        !self.duplicate_runs.is_empty()
    }

    /// Walks each partition's runs in selection order until its sessions are all
    /// targeted; the rest of its runs are no-matches, never ordered.
    ///
    /// A partition's runs are bucketed by priority band, walked band after band. Of a
    /// bucket, the first few runs (a small multiple of the sessions left) are selected
    /// in linear time and sorted; if the walk needs more, the rest becomes a binary
    /// heap (linear time) whose runs are popped in order only as long as the partition
    /// has sessions left.
    fn walk<R: RunView, S: SessionView>(
        &mut self,
        runs: &[R],
        sessions: &[S],
        starve_before: Option<SystemTime>,
        in_cooldown: &mut impl FnMut(&R, &S) -> bool,
    ) {
        self.target_runs.clear();
        self.target_sessions.clear();
        let mut buckets = mem::take(&mut self.buckets);
        let used = self.part_left.len() * BANDS;
        let keyed: usize = buckets[..used].iter().map(Vec::len).sum();
        for (b, bucket) in buckets[..used].iter_mut().enumerate() {
            let p = b / BANDS;
            let bucket = &mut bucket[..];
            let mut decide = |sel: &mut Self, key: RunKey| {
                let run = &runs[key.idx as usize];
                let starved = is_starved(run, starve_before);
                match sel.policy {
                    SelectionPolicy::Greedy => sel.decide(key, run, starved, sessions, in_cooldown),
                    SelectionPolicy::Maximum => sel.decide_maximum(key, runs, starved, sessions, in_cooldown),
                }
            };
            if self.part_left[p] == 0 {
                // Every session of the partition is targeted: no-matches, in any order.
                self.no_match.extend(bucket.iter().map(|k| k.idx));
            } else {
                // The first runs, sorted: likely all the walk needs.
                let first =
                    (FIRST_CHUNK_PER_SESSION * self.part_left[p] as usize).max(MIN_FIRST_CHUNK).min(bucket.len());
                if first < bucket.len() {
                    bucket.select_nth_unstable_by(first - 1, |a, b| a.cmp(b, runs));
                }
                bucket[..first].sort_unstable_by(|a, b| a.cmp(b, runs));
                let (mut walked, left) = (0, self.part_left[p]);
                while walked < first && self.part_left[p] > 0 {
                    decide(self, bucket[walked]);
                    walked += 1;
                }
                if walked < first || self.part_left[p] == 0 {
                    self.no_match.extend(bucket[walked..].iter().map(|k| k.idx));
                    continue;
                }
                // More: the rest as a binary heap, popped in order while it matters. When
                // the first runs matched nothing, most of the rest likely match nothing
                // either (many requirement classes, none met): those whose class has no
                // untargeted candidate left are no-matches in any order, so they are
                // set aside before the heap is built rather than popped one by one.
                // (Greedy only: the maximum policy may still move earlier runs to make
                // room for a run whose candidates are all targeted.)
                let mut rest = &mut bucket[first..];
                if self.policy == SelectionPolicy::Greedy && self.part_left[p] == left {
                    let kept = self.keep_matchable(rest, runs, sessions);
                    rest = &mut rest[..kept];
                }
                let mut len = rest.len();
                for i in (0..len / 2).rev() {
                    sift_down(rest, i, len, runs);
                }
                while len > 0 && self.part_left[p] > 0 {
                    let key = rest[0];
                    len -= 1;
                    rest.swap(0, len);
                    sift_down(rest, 0, len, runs);
                    decide(self, key);
                }
                self.no_match.extend(rest[..len].iter().map(|k| k.idx));
            }
        }
        self.buckets = buckets;
        self.eager_classes = self.class_asks * 2 > keyed;
    }

    /// Moves the runs of `keys` that could still get a target (their class has an
    /// untargeted candidate) to its front and returns how many there are; the others
    /// are no-matches. Only speed depends on when this is done: a run left out would
    /// have been a no-match when walked, as targeted sessions stay targeted.
    fn keep_matchable<R: RunView, S: SessionView>(&mut self, keys: &mut [RunKey], runs: &[R], sessions: &[S]) -> usize {
        // In input order: the rows are then read front to back, not at random.
        keys.sort_unstable_by_key(|k| k.idx);
        let mut kept = 0;
        for i in 0..keys.len() {
            let key = keys[i];
            if self.has_candidate(key, &runs[key.idx as usize], sessions) {
                keys.swap(kept, i);
                kept += 1;
            } else {
                self.no_match.push(key.idx);
            }
        }
        kept
    }

    /// Whether the run's class has an untargeted candidate left.
    fn has_candidate<R: RunView, S: SessionView>(&mut self, key: RunKey, run: &R, sessions: &[S]) -> bool {
        let Some(c) = self.class_for(key, run, sessions) else { return false };
        let class = &mut self.classes[c as usize];
        let (end, mut cursor) = (class.end as usize, class.cursor as usize);
        while cursor < end && self.targeted[self.candidates[cursor] as usize] {
            cursor += 1;
        }
        class.cursor = cursor as u32;
        cursor < end
    }

    /// Decides one run, walked in selection order within its partition.
    fn decide<R: RunView, S: SessionView>(
        &mut self,
        key: RunKey,
        run: &R,
        starved: bool,
        sessions: &[S],
        in_cooldown: &mut impl FnMut(&R, &S) -> bool,
    ) {
        let Some(c) = self.class_for(key, run, sessions) else {
            self.no_match.push(key.idx);
            return;
        };
        let class = &mut self.classes[c as usize];
        let (end, mut cursor) = (class.end as usize, class.cursor as usize);
        while cursor < end && self.targeted[self.candidates[cursor] as usize] {
            cursor += 1;
        }
        class.cursor = cursor as u32;
        if cursor == end {
            self.no_match.push(key.idx);
            return;
        }
        let start = self.target_sessions.len() as u32;
        if starved {
            // Fan out to every eligible session, cooldown ignored.
            for &g in &self.candidates[cursor..end] {
                if !self.targeted[g as usize] {
                    self.targeted[g as usize] = true;
                    self.target_sessions.push(self.g_session[g as usize]);
                }
            }
            class.cursor = end as u32;
        } else {
            let chosen = self.candidates[cursor..end].iter().copied().find(|&g| {
                !self.targeted[g as usize] && !in_cooldown(run, &sessions[self.g_session[g as usize] as usize])
            });
            let Some(g) = chosen else {
                self.counts.recently_notified_runs += 1;
                return;
            };
            self.targeted[g as usize] = true;
            self.target_sessions.push(self.g_session[g as usize]);
        }
        let len = self.target_sessions.len() as u32 - start;
        self.part_left[key.part as usize] -= len;
        self.target_runs.push(TargetRun { key, start, len });
    }

    /// The class of the keyed run `run`, as the walk asks for it: the one found while
    /// keying, or [`class_of`](Self::class_of) now.
    #[inline]
    fn class_for<R: RunView, S: SessionView>(&mut self, key: RunKey, run: &R, sessions: &[S]) -> Option<u32> {
        self.class_asks += 1;
        if self.eager_classes {
            let c = self.run_class[key.idx as usize];
            return (c != NONE).then_some(c);
        }
        self.class_of(run, key.part, sessions)
    }

    /// The class of a run of partition `part`: an existing one, or a new one whose
    /// candidates are computed now. `None` when a requirement names something no
    /// available session has (or an owner that matches nothing).
    fn class_of<R: RunView, S: SessionView>(&mut self, run: &R, part: u32, sessions: &[S]) -> Option<u32> {
        let seed = self.seed;
        let channel = match trim(run.channel()) {
            "" => ANY,
            ch => {
                let rep = &self.chan_rep;
                self.chan_table.find(seed, ch, |e| trim(sessions[rep[e as usize] as usize].channel()) == ch)?
            }
        };
        let (owner_kind, owner) = match run.owner() {
            Owner::None => (OWNER_NONE, 0),
            Owner::Pool(agent) => match trim(agent) {
                "" => return None,
                agent => {
                    let rep = &self.agent_rep;
                    let e = self
                        .agent_table
                        .find(seed, agent, |e| trim(sessions[rep[e as usize] as usize].agent_name()) == agent)?;
                    (OWNER_POOL, e)
                }
            },
            Owner::AgentSession(id) => match trim(id) {
                "" => return None,
                id => {
                    let rep = &self.sid_rep;
                    let e = self
                        .sid_table
                        .find(seed, id, |e| trim(sessions[rep[e as usize] as usize].session_id()) == id)?;
                    (OWNER_SESSION, e)
                }
            },
            Owner::Unknown => return None,
        };
        // The class key: the head, then the required capabilities, ascending, distinct.
        self.probe.clear();
        self.probe.extend([u64::from(part), u64::from(channel), u64::from(owner_kind), u64::from(owner)]);
        for cap in run.required_capabilities() {
            let cap = trim(cap);
            if cap.is_empty() {
                continue;
            }
            let rep = &self.cap_rep;
            let c = self.cap_table.find(seed, cap, |e| {
                let (si, at) = rep[e as usize];
                sessions[si as usize].capabilities().nth(at as usize).map(trim) == Some(cap)
            })?;
            self.probe.push(u64::from(c));
        }
        sort_dedup_from(&mut self.probe, CLASS_HEAD);

        let (keys, at, probe) = (&self.class_keys, &self.class_key_at, &self.probe);
        let (c, new) = self.class_table.intern(seed.words(probe.iter().copied()), |e| {
            let from = at[e as usize] as usize;
            let to = at.get(e as usize + 1).map_or(keys.len(), |&to| to as usize);
            &keys[from..to] == probe.as_slice()
        });
        if !new {
            return Some(c);
        }
        self.class_key_at.push(self.class_keys.len() as u32);
        self.class_keys.extend_from_slice(&self.probe);

        // Candidates: the partition's untargeted sessions that meet the requirements,
        // in session order. Only the holders of the rarest required capability can
        // (all of the partition when none is required).
        let need = &self.probe[CLASS_HEAD..];
        let (lo, hi) = (self.part_start[part as usize] as usize, self.part_start[part as usize + 1] as usize);
        let start = self.candidates.len() as u32;
        // (The maximum policy keeps targeted sessions: their runs may move.)
        let skip_targeted = self.policy == SelectionPolicy::Greedy;
        let rarest = self.postings.rarest_in(need, lo, hi);
        let scan = rarest.map_or(Either::Range(lo..hi), |holders| Either::Holders(holders.iter()));
        let words = self.words;
        for g in scan {
            if (skip_targeted && self.targeted[g])
                || (channel != ANY && self.g_channel[g] != channel)
                || (owner_kind == OWNER_POOL && self.g_agent[g] != owner)
                || (owner_kind == OWNER_SESSION && self.g_sid[g] != owner)
            {
                continue;
            }
            let offered = &self.g_mask[g * words..][..words];
            if need.iter().all(|&c| offered[c as usize / 64] & (1 << (c % 64)) != 0) {
                self.candidates.push(g as u32);
            }
        }
        self.classes.push(Class { end: self.candidates.len() as u32, cursor: start });
        Some(c)
    }

    /// Puts the targets and the starved runs in selection order.
    fn emit<R: RunView>(&mut self, runs: &[R]) {
        self.target_runs.sort_unstable_by(|a, b| a.key.cmp(&b.key, runs));
        for t in &self.target_runs {
            let sessions = &self.target_sessions[t.start as usize..][..t.len as usize];
            self.targets.extend(sessions.iter().map(|&s| (t.key.idx, s)));
        }
        sort_keys(&mut self.starved_keys, runs, &mut self.sort_buffers);
        self.starved.extend(self.starved_keys.iter().map(|k| k.idx));
    }
}

/// The positions a new class scans: a whole partition, or some holders in it.
enum Either<'a> {
    Range(std::ops::Range<usize>),
    Holders(std::slice::Iter<'a, u32>),
}

impl Iterator for Either<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        match self {
            Either::Range(r) => r.next(),
            Either::Holders(h) => h.next().map(|&g| g as usize),
        }
    }
}

impl Selection {
    /// The queued-at time of the `c`-th run of [`starved`](Self::starved), from its key:
    /// the ladder's tiers read it there, in selection order, not from the run's row.
    pub(crate) fn starved_queued_at(&self, c: u32) -> Option<SystemTime> {
        self.starved_keys[c as usize].queued_at()
    }
}

/// Sorts `v[from..]` and drops its repeats (the class key's capabilities: a requirement
/// named twice is one requirement).
fn sort_dedup_from(v: &mut Vec<u64>, from: usize) {
    v[from..].sort_unstable();
    let mut kept = from;
    for k in from..v.len() {
        if kept == from || v[k] != v[kept - 1] {
            v[kept] = v[k];
            kept += 1;
        }
    }
    v.truncate(kept);
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::test_run::{NoActive, TestRun, TestSession};
    use super::{Selection, SelectionInput};
    use crate::model::Priority;

    fn select(selection: &mut Selection, runs: &[TestRun], sessions: &[TestSession]) -> Vec<(u32, u32)> {
        let input = SelectionInput {
            runs,
            active: &[] as &[NoActive],
            sessions,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
            min_queued_age: Duration::ZERO,
        };
        selection.select(input, |_, _| false);
        selection.targets().to_vec()
    }

    fn runs(n: usize) -> Vec<TestRun> {
        (0..n)
            .map(|i| TestRun {
                id: format!("run-{i:03}"),
                priority: Priority::High,
                caps: vec!["rust"],
                queued_at: None,
            })
            .collect()
    }

    #[test]
    fn a_class_key_lists_its_capabilities_sorted_once_each() {
        let mut key = vec![9, 9, 1, 3, 2, 3, 3, 1];
        super::sort_dedup_from(&mut key, 3);
        assert_eq!(key, [9, 9, 1, 1, 2, 3], "the head is kept as it is");
        let mut key = vec![4, 4];
        super::sort_dedup_from(&mut key, 2);
        assert_eq!(key, [4, 4]);
    }

    #[test]
    fn runs_naming_the_same_capabilities_share_a_class() {
        let sessions: Vec<TestSession> = (0..3)
            .map(|j| TestSession { id: format!("s{j}"), caps: vec!["go", "rust"], created_at: SystemTime::UNIX_EPOCH })
            .collect();
        let mut many = runs(3);
        many[1].caps = vec!["go", "rust"];
        many[2].caps = vec!["rust", "go", "rust"];
        many[0].caps = vec!["rust"];
        let mut selection = Selection::new();
        assert_eq!(select(&mut selection, &many, &sessions), [(0, 0), (1, 1), (2, 2)]);
        assert_eq!(selection.classes.len(), 2, "{{rust}} and {{go, rust}}");
    }

    #[test]
    fn classes_are_resolved_while_keying_after_a_walk_that_asked_for_most() {
        let sessions = [TestSession { id: "s".into(), caps: vec!["rust"], created_at: SystemTime::UNIX_EPOCH }];
        let mut selection = Selection::new();
        assert!(!selection.eager_classes, "a new selection resolves classes when asked");
        // One run, walked: its class was asked for.
        assert_eq!(select(&mut selection, &runs(1), &sessions), [(0, 0)]);
        assert!(selection.eager_classes);
        // Eager now: the same targets as a new selection; only the first of 200 runs is
        // walked (the one session is then taken), so the next cycle is lazy again.
        let many = runs(200);
        let eager = select(&mut selection, &many, &sessions);
        assert_eq!(eager, select(&mut Selection::new(), &many, &sessions));
        assert_eq!(selection.class_asks, 1);
        assert!(!selection.eager_classes);
    }

    /// The repeat check is skipped when the run ids hash as in the previous cycle, in
    /// the same order; any other cycle (a changed queue, or repeats last time) checks.
    #[test]
    fn repeated_run_ids_are_found_whether_or_not_the_queue_changed() {
        let sessions = [TestSession { id: "s".into(), caps: vec!["rust"], created_at: SystemTime::UNIX_EPOCH }];
        let with_ids = |ids: &[&str]| {
            let mut rs = runs(ids.len());
            for (run, id) in rs.iter_mut().zip(ids) {
                run.id = (*id).to_owned();
            }
            rs
        };
        let mut selection = Selection::new();
        let mut cycle = |ids: &[&str]| {
            select(&mut selection, &with_ids(ids), &sessions);
            (selection.duplicate_runs().to_vec(), selection.rid_hash_distinct)
        };
        assert_eq!(cycle(&["a", "b", "a"]), (vec![2], false));
        assert_eq!(cycle(&["a", "b", "a"]), (vec![2], false), "unchanged, but repeats last time: checked");
        assert_eq!(cycle(&["a", "b", "c"]), (vec![], true));
        assert_eq!(cycle(&["a", "b", "c"]), (vec![], true), "unchanged: the answer is kept");
        assert_eq!(cycle(&["c", "c", "a"]), (vec![1], false), "changed in every place: checked");
        assert_eq!(cycle(&["c", "a", "b"]), (vec![], true));
        assert_eq!(cycle(&["c", "a"]), (vec![], true), "shorter: kept");
        assert_eq!(cycle(&["c", "a", ""]), (vec![], true), "an empty id is no repeat");
        assert_eq!(cycle(&["c", "a", "b"]), (vec![], true));
        assert_eq!(cycle(&["a", "b", "b"]), (vec![2], false), "changed: checked");
        assert_eq!(cycle(&["a", "b"]), (vec![], true));
        assert_eq!(cycle(&["a", "b", " a "]), (vec![2], false), "a prefix of the last queue is not the queue");
    }
}
