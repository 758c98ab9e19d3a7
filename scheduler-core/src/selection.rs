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

use std::time::{Duration, SystemTime};

use crate::eligibility::{is_potentially_claimable, session_matches};
use crate::ladder::is_starved;
use crate::ordering::{compare_runs, compare_sessions};
use crate::view::{ActiveRunView, RunView, SessionView};

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
    pub unclaimable: usize,
    /// Runs whose every eligible session was in cooldown.
    pub recently_notified: usize,
}

/// Reusable selection state and its results.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    targets: Vec<(u32, u32)>,
    no_match: Vec<u32>,
    starved: Vec<u32>,
    counts: SelectionCounts,
    run_order: Vec<u32>,
    session_order: Vec<u32>,
    by_id: Vec<u32>,
    busy: Vec<bool>,
    targeted: Vec<bool>,
}

impl Selection {
    /// An empty selection; buffers grow on first use and are reused afterwards.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects targets for `input`. `in_cooldown(run, session)` says whether the pair
    /// was woken too recently; it is asked only for eligible pairs of runs that are not
    /// starved.
    ///
    /// # Panics
    /// When there are more than `u32::MAX` runs or sessions.
    pub fn select<R, A, S>(&mut self, input: SelectionInput<'_, R, A, S>, mut in_cooldown: impl FnMut(&R, &S) -> bool)
    where
        R: RunView,
        A: ActiveRunView,
        S: SessionView,
    {
        let SelectionInput { runs, active, sessions, now, min_queued_age } = input;
        assert!(runs.len() <= u32::MAX as usize && sessions.len() <= u32::MAX as usize, "too many rows");
        self.targets.clear();
        self.no_match.clear();
        self.starved.clear();
        self.counts = SelectionCounts::default();

        self.mark_busy(active, sessions);
        self.targeted.clear();
        self.targeted.resize(sessions.len(), false);

        self.session_order.clear();
        self.session_order.extend(0..sessions.len() as u32);
        self.session_order.sort_unstable_by(|&a, &b| compare_sessions(&sessions[a as usize], &sessions[b as usize]));

        self.run_order.clear();
        self.run_order.extend(0..runs.len() as u32);
        self.run_order.sort_unstable_by(|&a, &b| compare_runs(&runs[a as usize], &runs[b as usize]));

        for &ri in &self.run_order {
            let run = &runs[ri as usize];
            if !is_potentially_claimable(run) {
                self.counts.unclaimable += 1;
                continue;
            }
            let starved = is_starved(now, run.queued_at(), min_queued_age);
            if starved {
                self.starved.push(ri);
            }
            let mut eligible = 0usize;
            let mut chosen = None;
            for &si in &self.session_order {
                let s = si as usize;
                if self.busy[s] || self.targeted[s] || !session_matches(run, &sessions[s]) {
                    continue;
                }
                eligible += 1;
                if starved {
                    // Fan out: every eligible session, cooldown ignored.
                    self.targeted[s] = true;
                    self.targets.push((ri, si));
                } else if !in_cooldown(run, &sessions[s]) {
                    chosen = Some(si);
                    break;
                }
            }
            if eligible == 0 {
                self.no_match.push(ri);
            } else if let Some(si) = chosen {
                self.targeted[si as usize] = true;
                self.targets.push((ri, si));
            } else if !starved {
                self.counts.recently_notified += 1;
            }
        }
    }

    /// Marks sessions holding a `claimed`/`starting`/`running` run as busy.
    fn mark_busy<A: ActiveRunView, S: SessionView>(&mut self, active: &[A], sessions: &[S]) {
        self.busy.clear();
        self.busy.resize(sessions.len(), false);
        if active.is_empty() {
            return;
        }
        let id = |i: u32| sessions[i as usize].session_id().trim();
        self.by_id.clear();
        self.by_id.extend(0..sessions.len() as u32);
        self.by_id.sort_unstable_by(|&a, &b| id(a).cmp(id(b)));
        for run in active {
            if !run.status().holds_session() {
                continue;
            }
            let holder = run.session_id().trim();
            if holder.is_empty() {
                continue;
            }
            let start = self.by_id.partition_point(|&i| id(i) < holder);
            for &i in self.by_id[start..].iter().take_while(|&&i| id(i) == holder) {
                self.busy[i as usize] = true;
            }
        }
    }

    /// `(run index, session index)` of every target, in dispatch order: runs in
    /// selection order, and a fanned-out run's sessions in session order.
    pub fn targets(&self) -> &[(u32, u32)] {
        &self.targets
    }

    /// Claimable runs with no eligible session, in selection order (starved ones too).
    pub fn no_match(&self) -> &[u32] {
        &self.no_match
    }

    /// Starved, claimable runs (the ladder's candidates), in selection order.
    pub fn starved(&self) -> &[u32] {
        &self.starved
    }

    /// The selection's counts.
    pub fn counts(&self) -> SelectionCounts {
        self.counts
    }
}
