//! Who may be woken for what: the pure rules of behaviour step 4.
//!
//! These are the same rules a task service applies when a session claims, so a task
//! service may call them too (the testkit's in-memory one does).
//!
//! ```
//! use scheduler_core::eligibility::owner_matches;
//! use scheduler_core::model::Owner;
//! assert!(owner_matches(Owner::Pool("agent-1"), "sess-9", " agent-1 "));
//! assert!(!owner_matches(Owner::Pool(" "), "sess-9", ""));
//! ```

use crate::model::{Owner, RunStatus, Scope, SessionState};
use crate::view::{RunView, SessionView};

/// Whether a run could be claimed at all: run and task ids non-empty, run `queued`,
/// task not paused, task status not `draft`, `blocked` or `canceled`.
pub fn is_potentially_claimable<R: RunView + ?Sized>(run: &R) -> bool {
    !run.run_id().trim().is_empty()
        && !run.task_id().trim().is_empty()
        && run.run_status() == RunStatus::Queued
        && !run.task_paused()
        && run.task_status().allows_claim()
}

/// Whether a session is available at all: non-empty id, `active`, not prompting.
/// (Busy-ness and earlier targeting are per-cycle state the selection tracks.)
pub fn is_available<S: SessionView + ?Sized>(session: &S) -> bool {
    !session.session_id().trim().is_empty() && session.state() == SessionState::Active && !session.prompting()
}

/// Scope: a workspace task needs a session in its (non-empty) workspace; a global task
/// needs a session without a workspace; an unknown scope matches nothing.
pub fn scope_matches(scope: Scope, task_workspace: &str, session_workspace: &str) -> bool {
    let (task_ws, session_ws) = (task_workspace.trim(), session_workspace.trim());
    match scope {
        Scope::Workspace => !task_ws.is_empty() && task_ws == session_ws,
        Scope::Global => session_ws.is_empty(),
        Scope::Unknown => false,
    }
}

/// Channel: a run with a coordination channel needs a session on exactly that channel;
/// a run without one accepts any session.
pub fn channel_matches(run_channel: &str, session_channel: &str) -> bool {
    let run_channel = run_channel.trim();
    run_channel.is_empty() || run_channel == session_channel.trim()
}

/// Owner: none matches anyone; a pool matches sessions whose agent name equals the ref;
/// an agent-session owner matches the session with that id; an empty ref or an unknown
/// kind matches nothing.
pub fn owner_matches(owner: Owner<'_>, session_id: &str, agent_name: &str) -> bool {
    match owner {
        Owner::None => true,
        Owner::Pool(r) => {
            let r = r.trim();
            !r.is_empty() && r == agent_name.trim()
        }
        Owner::AgentSession(r) => {
            let r = r.trim();
            !r.is_empty() && r == session_id.trim()
        }
        Owner::Unknown => false,
    }
}

/// Capabilities: every required name (empty names ignored, surrounding spaces trimmed)
/// is offered, as answered by `has`. Compares in place, building no set.
///
/// ```
/// use scheduler_core::eligibility::capabilities_cover;
/// let offered = ["rust", "go"];
/// let has = |name: &str| offered.iter().any(|o| o.trim() == name);
/// assert!(capabilities_cover(["rust", " ", ""], has));
/// assert!(!capabilities_cover(["rust", "sqlite"], has));
/// assert!(capabilities_cover([], has));
/// ```
pub fn capabilities_cover<'r>(required: impl IntoIterator<Item = &'r str>, has: impl FnMut(&str) -> bool) -> bool {
    required.into_iter().map(str::trim).filter(|r| !r.is_empty()).all(has)
}

/// Whether the session offers capability `name` (compared after trimming).
pub fn session_has_capability<S: SessionView + ?Sized>(session: &S, name: &str) -> bool {
    session.capabilities().any(|o| o.trim() == name)
}

/// Every static condition of eligibility: [`is_available`], scope, channel, owner and
/// capabilities. The selection adds the per-cycle conditions (not busy, not targeted
/// earlier in the cycle).
pub fn session_matches<R: RunView + ?Sized, S: SessionView + ?Sized>(run: &R, session: &S) -> bool {
    is_available(session)
        && scope_matches(run.scope(), run.workspace_id(), session.workspace_id())
        && channel_matches(run.channel(), session.channel())
        && owner_matches(run.owner(), session.session_id(), session.agent_name())
        && capabilities_cover(run.required_capabilities(), |name| session_has_capability(session, name))
}
