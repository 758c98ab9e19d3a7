//! The order work and sessions are considered in (behaviour step 4).

use std::cmp::Ordering;

use crate::view::{RunView, SessionView};

/// Runs: priority descending, then queued-at ascending (unknown first), then run id
/// ascending.
///
/// ```
/// # use scheduler_core::ordering::compare_runs;
/// # use scheduler_core::{model::*, view::RunView};
/// # use std::time::SystemTime;
/// # struct R(&'static str, Priority);
/// # impl RunView for R { fn run_id(&self) -> &str { self.0 } fn task_id(&self) -> &str { "t" }
/// # fn run_status(&self) -> RunStatus { RunStatus::Queued } fn task_status(&self) -> TaskStatus { TaskStatus::Ready }
/// # fn task_paused(&self) -> bool { false } fn priority(&self) -> Priority { self.1 }
/// # fn scope(&self) -> Scope { Scope::Global } fn workspace_id(&self) -> &str { "" } fn channel(&self) -> &str { "" }
/// # fn owner(&self) -> Owner<'_> { Owner::None } fn required_capabilities(&self) -> impl Iterator<Item = &str> { [].into_iter() }
/// # fn queued_at(&self) -> Option<SystemTime> { None } }
/// let mut runs = vec![R("b", Priority::Low), R("c", Priority::Urgent), R("a", Priority::Low)];
/// runs.sort_by(compare_runs);
/// let ids: Vec<_> = runs.iter().map(|r| r.0).collect();
/// assert_eq!(ids, ["c", "a", "b"]);
/// ```
pub fn compare_runs<R: RunView + ?Sized>(a: &R, b: &R) -> Ordering {
    b.priority()
        .rank()
        .cmp(&a.priority().rank())
        // `None < Some(_)`: an unknown queued-at sorts as the earliest possible time.
        .then_with(|| a.queued_at().cmp(&b.queued_at()))
        .then_with(|| a.run_id().trim().cmp(b.run_id().trim()))
}

/// Sessions: created-at ascending, then session id ascending.
pub fn compare_sessions<S: SessionView + ?Sized>(a: &S, b: &S) -> Ordering {
    a.created_at().cmp(&b.created_at()).then_with(|| a.session_id().trim().cmp(b.session_id().trim()))
}
