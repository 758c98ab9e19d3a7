//! A reference selection: the plain, obvious reading of behaviour step 4, to check the
//! core's fast [`Selection`](scheduler_core::selection::Selection) against.
//!
//! It sorts every run and every session, then scans all sessions for every run: O(runs x
//! sessions). It is written from the contract's text alone and shares no code with the
//! core's selection (nor with its `eligibility` and `ordering` modules), so the two can
//! only agree by both being right.
//!
//! Where the contract leaves the order of exact ties open (two runs with equal
//! priority, queued-at and id; two sessions with equal created-at and id), both
//! implementations keep the input order.
//!
//! Duplicate rows (behaviour section 8): of the rows sharing a trimmed run id, the first
//! in run order is the run and the others are ignored; of the rows sharing a trimmed
//! session id, the first in session order is the session and the others are ignored.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_testkit::reference::reference_select;
//! use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot, SessionSnapshot};
//!
//! let runs = [RunSnapshot::queued("run-1", "task-1").caps(["rust"])];
//! let sessions = [SessionSnapshot::active("go-only").caps(["go"]), SessionSnapshot::active("rusty").caps(["rust"])];
//! let out = reference_select(&runs, &[] as &[ActiveRun], &sessions, SystemTime::now(), Duration::ZERO, |_, _| false);
//! assert_eq!(out.targets, [(0, 1)]);
//! assert!(out.no_match.is_empty());
//! ```

use std::time::{Duration, SystemTime};

use scheduler_core::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};
use scheduler_core::view::{ActiveRunView, RunView, SessionView};

/// What the reference selection decided. Indices are into the slices it was given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReferenceSelection {
    /// `(run index, session index)` of every target, runs in selection order and a
    /// fanned-out run's sessions in session order.
    pub targets: Vec<(u32, u32)>,
    /// Claimable runs with no eligible session, in selection order.
    pub no_match: Vec<u32>,
    /// Starved claimable runs, in selection order.
    pub starved: Vec<u32>,
    /// Runs that are not potentially claimable.
    pub unclaimable: usize,
    /// Runs whose every eligible session was in cooldown.
    pub recently_notified: usize,
    /// Pending rows ignored as duplicates of an earlier row in run order, in run order.
    pub duplicate_runs: Vec<u32>,
    /// Session rows ignored as duplicates of an earlier row in session order, in session
    /// order.
    pub duplicate_sessions: Vec<u32>,
}

fn rank(p: Priority) -> u8 {
    match p {
        Priority::Low => 0,
        Priority::High => 2,
        Priority::Urgent => 3,
        // Medium, and missing or unknown counts as medium.
        _ => 1,
    }
}

fn claimable<R: RunView>(run: &R) -> bool {
    let blocked_task = matches!(run.task_status(), TaskStatus::Draft | TaskStatus::Blocked | TaskStatus::Canceled);
    !run.run_id().trim().is_empty()
        && !run.task_id().trim().is_empty()
        && run.run_status() == RunStatus::Queued
        && !run.task_paused()
        && !blocked_task
}

fn starved(now: SystemTime, queued_at: Option<SystemTime>, min_age: Duration) -> bool {
    if min_age == Duration::ZERO {
        return false;
    }
    let Some(queued_at) = queued_at else { return false };
    match now.duration_since(queued_at) {
        Ok(age) => age >= min_age,
        Err(_) => false, // queued in the future: age zero
    }
}

/// The static part of eligibility: everything but "busy" and "targeted earlier".
fn static_match<R: RunView, S: SessionView>(run: &R, session: &S) -> bool {
    let sid = session.session_id().trim();
    if sid.is_empty() || session.state() != SessionState::Active || session.prompting() {
        return false;
    }
    let session_ws = session.workspace_id().trim();
    let scope_ok = match run.scope() {
        Scope::Workspace => {
            let task_ws = run.workspace_id().trim();
            !task_ws.is_empty() && task_ws == session_ws
        }
        Scope::Global => session_ws.is_empty(),
        _ => false,
    };
    if !scope_ok {
        return false;
    }
    let run_channel = run.channel().trim();
    if !run_channel.is_empty() && run_channel != session.channel().trim() {
        return false;
    }
    let owner_ok = match run.owner() {
        Owner::None => true,
        Owner::Pool(agent) => !agent.trim().is_empty() && agent.trim() == session.agent_name().trim(),
        Owner::AgentSession(id) => !id.trim().is_empty() && id.trim() == sid,
        _ => false,
    };
    if !owner_ok {
        return false;
    }
    for needed in run.required_capabilities() {
        let needed = needed.trim();
        if needed.is_empty() {
            continue;
        }
        if !session.capabilities().any(|offered| offered.trim() == needed) {
            return false;
        }
    }
    true
}

/// Selects like behaviour step 4, the slow and obvious way.
///
/// `in_cooldown(run, session)` says whether the pair was woken too recently; it is asked
/// only for eligible pairs of runs that are not starved.
pub fn reference_select<R, A, S>(
    runs: &[R],
    active: &[A],
    sessions: &[S],
    now: SystemTime,
    min_queued_age: Duration,
    mut in_cooldown: impl FnMut(&R, &S) -> bool,
) -> ReferenceSelection
where
    R: RunView,
    A: ActiveRunView,
    S: SessionView,
{
    let mut out = ReferenceSelection::default();

    // Busy: a session holding a claimed, starting or running run.
    let busy: Vec<bool> = sessions
        .iter()
        .map(|s| {
            let sid = s.session_id().trim();
            active.iter().any(|a| {
                matches!(a.status(), RunStatus::Claimed | RunStatus::Starting | RunStatus::Running)
                    && !a.session_id().trim().is_empty()
                    && a.session_id().trim() == sid
            })
        })
        .collect();

    // Orders (stable sorts: exact ties keep the input order).
    let mut run_order: Vec<usize> = (0..runs.len()).collect();
    run_order.sort_by(|&a, &b| {
        let (ra, rb) = (&runs[a], &runs[b]);
        rank(rb.priority())
            .cmp(&rank(ra.priority()))
            .then_with(|| match (ra.queued_at(), rb.queued_at()) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Less,
                (Some(_), None) => std::cmp::Ordering::Greater,
                (Some(x), Some(y)) => x.cmp(&y),
            })
            .then_with(|| ra.run_id().trim().cmp(rb.run_id().trim()))
    });
    let mut session_order: Vec<usize> = (0..sessions.len()).collect();
    session_order.sort_by(|&a, &b| {
        let (sa, sb) = (&sessions[a], &sessions[b]);
        sa.created_at().cmp(&sb.created_at()).then_with(|| sa.session_id().trim().cmp(sb.session_id().trim()))
    });

    // Duplicates: the first row per trimmed id, in order, is the one; the rest are out.
    let mut ignored = vec![false; sessions.len()];
    let mut seen_sessions = std::collections::HashSet::new();
    for &si in &session_order {
        let sid = sessions[si].session_id().trim();
        if !sid.is_empty() && !seen_sessions.insert(sid) {
            ignored[si] = true;
            out.duplicate_sessions.push(si as u32);
        }
    }
    let mut seen_runs = std::collections::HashSet::new();

    let mut targeted = vec![false; sessions.len()];
    for &ri in &run_order {
        let run = &runs[ri];
        let rid = run.run_id().trim();
        if !rid.is_empty() && !seen_runs.insert(rid) {
            out.duplicate_runs.push(ri as u32);
            continue;
        }
        if !claimable(run) {
            out.unclaimable += 1;
            continue;
        }
        let is_starved = starved(now, run.queued_at(), min_queued_age);
        if is_starved {
            out.starved.push(ri as u32);
        }
        let eligible: Vec<usize> = session_order
            .iter()
            .copied()
            .filter(|&si| !ignored[si] && !busy[si] && !targeted[si] && static_match(run, &sessions[si]))
            .collect();
        if eligible.is_empty() {
            out.no_match.push(ri as u32);
        } else if is_starved {
            for si in eligible {
                targeted[si] = true;
                out.targets.push((ri as u32, si as u32));
            }
        } else if let Some(si) = eligible.into_iter().find(|&si| !in_cooldown(run, &sessions[si])) {
            targeted[si] = true;
            out.targets.push((ri as u32, si as u32));
        } else {
            out.recently_notified += 1;
        }
    }
    out
}
