//! Why a run was not woken: the reason, in the contract's terms, for every claimable
//! run a cycle gave no wake target.
//!
//! Nothing here runs unless asked: a cycle keeps its snapshot buffers until the next
//! one, and [`CycleReport::why_not_woken`](crate::CycleReport::why_not_woken),
//! [`CycleReport::not_woken`](crate::CycleReport::not_woken),
//! [`Scheduler::why_not_woken`](crate::Scheduler::why_not_woken) and
//! [`Scheduler::not_woken`](crate::Scheduler::not_woken) compute the reason from them
//! on demand. A steady cycle still allocates nothing, and an observer sees the reasons
//! only when it asks for them ([`Observer::explains_not_woken`](crate::observer::Observer::explains_not_woken)).
//!
//! # The reasons and their precedence
//!
//! A run that was not woken is a *no-match* (no eligible session) or *recently
//! notified* (every eligible session was in its wake cooldown for it). The reason is
//! the **first filter, in this order, that leaves no session** of the cycle's session
//! rows (non-empty id; an ignored duplicate row is not a session):
//!
//! | # | filter (behaviour step 4) | reason when it leaves none |
//! | --- | --- | --- |
//! | 1 | scope: the task's workspace, or no workspace for a global task | [`NoSessionInScope`](WhyNotWoken::NoSessionInScope) |
//! | 2 | channel: exactly the run's coordination channel, if it has one | [`NoSessionOnChannel`](WhyNotWoken::NoSessionOnChannel) |
//! | 3 | owner: the pool's agent name, or the owning session's id | [`NoSessionForOwner`](WhyNotWoken::NoSessionForOwner) |
//! | 4 | capabilities: every required capability offered | [`NoSessionWithCapabilities`](WhyNotWoken::NoSessionWithCapabilities) |
//! | 5 | state `active` | [`CandidatesInactive`](WhyNotWoken::CandidatesInactive) |
//! | 6 | not prompting | [`CandidatesPrompting`](WhyNotWoken::CandidatesPrompting) |
//! | 7 | not busy (holding a claimed, starting or running run) | [`CandidatesBusy`](WhyNotWoken::CandidatesBusy) |
//! | 8 | not targeted by a run earlier in this cycle's selection order | [`CandidatesTaken`](WhyNotWoken::CandidatesTaken) |
//! | - | (sessions are left: each was woken for this run within the cooldown) | [`CandidatesInCooldown`](WhyNotWoken::CandidatesInCooldown) |
//!
//! The run's own requirements (1-4) come before the sessions' momentary state (5-8),
//! although the contract lists the session conditions first: a run that no session
//! could ever take needs a different fix (a session in its workspace, on its channel,
//! with its capabilities) from one whose sessions are only busy right now. The sessions
//! that pass 1-4 are the run's *candidates*.
//!
//! ```
//! use scheduler_core::why::WhyNotWoken;
//! assert_eq!(WhyNotWoken::CandidatesBusy.as_str(), "candidates_busy");
//! assert_eq!(WhyNotWoken::NoSessionInScope.to_string(), "no session in the run's scope");
//! ```

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;

use crate::eligibility::{
    capabilities_cover, channel_matches, is_potentially_claimable, owner_matches, scope_matches, session_has_capability,
};
use crate::model::{Owner, Scope, SessionState};
use crate::ordering::compare_runs;
use crate::selection::{Selection, trim};
use crate::view::{ActiveRunView, RunView, SessionView};

/// Why a claimable run got no wake target in a cycle (see the [module docs](self) for
/// the precedence).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum WhyNotWoken {
    /// No session is in the run's scope: none in the task's workspace (a workspace
    /// task), none without a workspace (a global task); a workspace task with a blank
    /// workspace, or an unknown scope, matches none.
    NoSessionInScope,
    /// Sessions are in its scope, but none is on the run's coordination channel.
    NoSessionOnChannel,
    /// Sessions are in its scope and on its channel, but none matches its owner (the
    /// pool's agent name, the owning session's id; a blank ref or an unknown owner kind
    /// matches none).
    NoSessionForOwner,
    /// Sessions match its scope, channel and owner, but none offers every capability
    /// it requires.
    NoSessionWithCapabilities,
    /// Every candidate (a session matching scope, channel, owner and capabilities) is
    /// not `active`.
    CandidatesInactive,
    /// Every active candidate is prompting.
    CandidatesPrompting,
    /// Every active, non-prompting candidate is busy: it holds a claimed, starting or
    /// running run.
    CandidatesBusy,
    /// Every available candidate was targeted by a run earlier in this cycle's
    /// selection order.
    CandidatesTaken,
    /// Candidates were free, but each was woken for this run within the wake cooldown
    /// (the run counts as recently notified).
    CandidatesInCooldown,
}

impl WhyNotWoken {
    /// Every reason, in precedence order: the first eight name the filter that left no
    /// session, the last is what remains when a session passed them all.
    pub const ALL: [WhyNotWoken; 9] = [
        WhyNotWoken::NoSessionInScope,
        WhyNotWoken::NoSessionOnChannel,
        WhyNotWoken::NoSessionForOwner,
        WhyNotWoken::NoSessionWithCapabilities,
        WhyNotWoken::CandidatesInactive,
        WhyNotWoken::CandidatesPrompting,
        WhyNotWoken::CandidatesBusy,
        WhyNotWoken::CandidatesTaken,
        WhyNotWoken::CandidatesInCooldown,
    ];

    /// A stable snake-case name, for logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            WhyNotWoken::NoSessionInScope => "no_session_in_scope",
            WhyNotWoken::NoSessionOnChannel => "no_session_on_channel",
            WhyNotWoken::NoSessionForOwner => "no_session_for_owner",
            WhyNotWoken::NoSessionWithCapabilities => "no_session_with_capabilities",
            WhyNotWoken::CandidatesInactive => "candidates_inactive",
            WhyNotWoken::CandidatesPrompting => "candidates_prompting",
            WhyNotWoken::CandidatesBusy => "candidates_busy",
            WhyNotWoken::CandidatesTaken => "candidates_taken",
            WhyNotWoken::CandidatesInCooldown => "candidates_in_cooldown",
        }
    }

    /// Whether the run counts as a no-match (every reason but the cooldown, which
    /// counts it as recently notified).
    pub const fn is_no_match(self) -> bool {
        !matches!(self, WhyNotWoken::CandidatesInCooldown)
    }
}

impl fmt::Display for WhyNotWoken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WhyNotWoken::NoSessionInScope => "no session in the run's scope",
            WhyNotWoken::NoSessionOnChannel => "no session on the run's channel",
            WhyNotWoken::NoSessionForOwner => "no session matching the run's owner",
            WhyNotWoken::NoSessionWithCapabilities => "no session with the run's capabilities",
            WhyNotWoken::CandidatesInactive => "every candidate session is inactive",
            WhyNotWoken::CandidatesPrompting => "every candidate session is prompting",
            WhyNotWoken::CandidatesBusy => "every candidate session is busy",
            WhyNotWoken::CandidatesTaken => "every candidate session was taken by an earlier run",
            WhyNotWoken::CandidatesInCooldown => "every free candidate session is in its wake cooldown",
        })
    }
}

/// One completed cycle's kept buffers: what the reasons are computed from.
pub(crate) struct Explainer<'a, R, A, S> {
    pub(crate) runs: &'a [R],
    pub(crate) active: &'a [A],
    pub(crate) sessions: &'a [S],
    pub(crate) selection: &'a Selection,
}

impl<'a, R: RunView, A: ActiveRunView, S: SessionView> Explainer<'a, R, A, S> {
    /// The row of the run with this (trimmed) id: the first such row in run order, as
    /// the selection counts it.
    pub(crate) fn find(&self, run_id: &str) -> Option<usize> {
        let id = run_id.trim();
        (0..self.runs.len()).find(|&i| trim(self.runs[i].run_id()) == id && !self.ignored_run(i))
    }

    /// Every claimable run without a target, and why, in input order.
    ///
    /// Gives what [`why`](Self::why) gives for each row, but builds an [`Index`] of the
    /// cycle first, so the whole list costs one pass over the sessions per requirement
    /// class (not per run, and not a scan of the active runs and targets per pair).
    pub(crate) fn all(self) -> impl Iterator<Item = (&'a str, WhyNotWoken)> + 'a
    where
        R: 'a,
        A: 'a,
        S: 'a,
    {
        let mut index = Index::build(&self);
        (0..self.runs.len()).filter_map(move |i| Some((trim(self.runs[i].run_id()), index.why(&self, i)?)))
    }

    /// Why row `ri` was not woken; `None` when it was targeted, is not claimable, or
    /// is an ignored duplicate.
    pub(crate) fn why(&self, ri: usize) -> Option<WhyNotWoken> {
        let run = &self.runs[ri];
        if !is_potentially_claimable(run) || self.ignored_run(ri) || self.targeted(ri) {
            return None;
        }
        Some(self.funnel(ri))
    }

    /// The first filter, in precedence order, that leaves no session of the cycle.
    fn funnel(&self, ri: usize) -> WhyNotWoken {
        let rows = || (0..self.sessions.len()).filter(|&si| self.is_session(si));
        let filters = WhyNotWoken::ALL.len() - 1;
        (0..filters)
            .find(|&k| !rows().any(|si| (0..=k).all(|f| self.passes(f, ri, si))))
            .map_or(WhyNotWoken::CandidatesInCooldown, |k| WhyNotWoken::ALL[k])
    }

    /// Whether session `si` passes filter `f` (numbered as [`WhyNotWoken::ALL`]) for run
    /// `ri`.
    fn passes(&self, f: usize, ri: usize, si: usize) -> bool {
        let (run, s) = (&self.runs[ri], &self.sessions[si]);
        match f {
            0 => scope_matches(run.scope(), run.workspace_id(), s.workspace_id()),
            1 => channel_matches(run.channel(), s.channel()),
            2 => owner_matches(run.owner(), s.session_id(), s.agent_name()),
            3 => capabilities_cover(run.required_capabilities(), |name| session_has_capability(s, name)),
            4 => s.state() == SessionState::Active,
            5 => !s.prompting(),
            6 => !self.busy(si),
            _ => !self.taken_before(si, ri),
        }
    }

    /// A pending row ignored as a duplicate of an earlier one.
    fn ignored_run(&self, ri: usize) -> bool {
        self.selection.duplicate_runs().contains(&(ri as u32))
    }

    /// A session row that is a session: a non-empty id, not an ignored duplicate.
    fn is_session(&self, si: usize) -> bool {
        !trim(self.sessions[si].session_id()).is_empty() && !self.selection.duplicate_sessions().contains(&(si as u32))
    }

    fn targeted(&self, ri: usize) -> bool {
        self.selection.targets().iter().any(|&(r, _)| r as usize == ri)
    }

    fn busy(&self, si: usize) -> bool {
        let id = trim(self.sessions[si].session_id());
        self.active.iter().any(|a| a.status().holds_session() && trim(a.session_id()) == id)
    }

    /// Whether session `si` was targeted by a run before `ri` in selection order.
    fn taken_before(&self, si: usize, ri: usize) -> bool {
        self.selection.targets().iter().any(|&(r, s)| s as usize == si && self.precedes(r as usize, ri))
    }

    /// Selection order: priority, queued-at, run id, then input order.
    fn precedes(&self, a: usize, b: usize) -> bool {
        compare_runs(&self.runs[a], &self.runs[b]).then(a.cmp(&b)) == Ordering::Less
    }
}

/// The index of filter 8 (taken by an earlier run) in [`WhyNotWoken::ALL`]; a session
/// that passes filters 1-7 for a run "reaches" it.
const TAKEN: u8 = 7;

/// What a run's reason depends on besides its place in the selection order: runs with
/// equal requirements have the same candidates, so filters 1-7 are decided once per
/// class.
#[derive(PartialEq, Eq, Hash)]
struct Class<'a> {
    scope: Scope,
    workspace: &'a str,
    channel: &'a str,
    owner: Owner<'a>,
    caps: Vec<&'a str>,
}

/// Filters 1-7 decided for one class.
#[derive(Clone, Copy)]
struct Verdict {
    /// The deepest filter index any session reaches (the first it fails; [`TAKEN`] when
    /// it passes 1-7). With no session it is 0.
    reached: u8,
    /// Some session passing 1-7 was targeted by no run at all.
    untaken: bool,
    /// Of the sessions passing 1-7, each taken by some run: the latest, in selection
    /// order, of the earliest runs that took them. A run after it finds them all taken.
    last_taker: Option<usize>,
}

/// One cycle's per-row facts, computed once for [`Explainer::all`] (it allocates, which
/// only a caller asking for reasons pays).
struct Index<'a> {
    /// Per session row: `None` when it is not a session, else the first of filters 5-7
    /// (inactive, prompting, busy) it fails, or [`TAKEN`].
    state: Vec<Option<u8>>,
    /// Per session row: the earliest run in selection order that targeted it.
    first_taker: Vec<Option<usize>>,
    /// Per run row: targeted this cycle.
    targeted: Vec<bool>,
    /// Per run row: an ignored duplicate.
    ignored: Vec<bool>,
    classes: HashMap<Class<'a>, Verdict>,
}

impl<'a> Index<'a> {
    fn build<R: RunView, A: ActiveRunView, S: SessionView>(e: &Explainer<'a, R, A, S>) -> Self {
        let busy: HashSet<&str> =
            e.active.iter().filter(|a| a.status().holds_session()).map(|a| trim(a.session_id())).collect();
        let mut targeted = vec![false; e.runs.len()];
        let mut first_taker: Vec<Option<usize>> = vec![None; e.sessions.len()];
        for &(r, s) in e.selection.targets() {
            let (r, s) = (r as usize, s as usize);
            targeted[r] = true;
            if first_taker[s].is_none_or(|t| e.precedes(r, t)) {
                first_taker[s] = Some(r);
            }
        }
        let mut ignored = vec![false; e.runs.len()];
        for &r in e.selection.duplicate_runs() {
            ignored[r as usize] = true;
        }
        let mut state = vec![None; e.sessions.len()];
        for (si, slot) in state.iter_mut().enumerate() {
            if e.is_session(si) {
                let s = &e.sessions[si];
                let failed = [s.state() == SessionState::Active, !s.prompting(), !busy.contains(trim(s.session_id()))]
                    .iter()
                    .position(|passes| !passes);
                *slot = Some(failed.map_or(TAKEN, |k| 4 + k as u8));
            }
        }
        Index { state, first_taker, targeted, ignored, classes: HashMap::new() }
    }

    fn why<R: RunView, A: ActiveRunView, S: SessionView>(
        &mut self,
        e: &Explainer<'a, R, A, S>,
        ri: usize,
    ) -> Option<WhyNotWoken> {
        let run = &e.runs[ri];
        if !is_potentially_claimable(run) || self.ignored[ri] || self.targeted[ri] {
            return None;
        }
        let class = Class {
            scope: run.scope(),
            workspace: run.workspace_id(),
            channel: run.channel(),
            owner: run.owner(),
            caps: run.required_capabilities().collect(),
        };
        let verdict = match self.classes.get(&class) {
            Some(v) => *v,
            None => {
                let v = self.verdict(e, ri);
                self.classes.insert(class, v);
                v
            }
        };
        Some(if verdict.reached < TAKEN {
            WhyNotWoken::ALL[verdict.reached as usize]
        } else if !verdict.untaken && verdict.last_taker.is_some_and(|t| e.precedes(t, ri)) {
            WhyNotWoken::CandidatesTaken
        } else {
            WhyNotWoken::CandidatesInCooldown
        })
    }

    /// Filters 1-7 for run `ri`'s class: one pass over the sessions.
    fn verdict<R: RunView, A: ActiveRunView, S: SessionView>(&self, e: &Explainer<'a, R, A, S>, ri: usize) -> Verdict {
        let mut v = Verdict { reached: 0, untaken: false, last_taker: None };
        for (si, state) in self.state.iter().enumerate() {
            let Some(state) = *state else { continue };
            let reached = (0..4).find(|&f| !e.passes(f, ri, si)).map_or(state, |f| f as u8);
            v.reached = v.reached.max(reached);
            if reached == TAKEN {
                match self.first_taker[si] {
                    None => v.untaken = true,
                    Some(t) => {
                        if v.last_taker.is_none_or(|l| e.precedes(l, t)) {
                            v.last_taker = Some(t);
                        }
                    }
                }
            }
        }
        v
    }
}
