use std::future::Future;
use std::time::SystemTime;

use crate::model::RunStatus;
use crate::view::{ActiveRunView, RecoveredView, RunView};

/// What the scheduler asks of the task service's expired-lease recovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recovery<'a> {
    /// The cycle's time: leases that ended at or before it are expired.
    pub now: SystemTime,
    /// The recovery reason to record (default `scheduler_sweep`).
    pub reason: &'a str,
    /// At most this many runs are recovered, oldest lease first; 0 means no limit.
    pub limit: u32,
    /// The daemon actor the recovery is written as (default `scheduler`).
    pub actor: &'a str,
}

/// The durable task service: pending work, who is busy, lease recovery, run statuses.
///
/// The scheduler only reads from it, except for [`recover_expired_leases`], which it
/// calls once at the start of every cycle. It never claims.
///
/// [`recover_expired_leases`]: TaskSource::recover_expired_leases
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use scheduler_core::model::RunStatus;
/// use scheduler_core::seam::{Recovery, TaskSource};
/// # use scheduler_core::view::*; use scheduler_core::model::*; use std::time::SystemTime;
/// # pub struct Row; impl RunView for Row { fn run_id(&self) -> &str { "r" } fn task_id(&self) -> &str { "t" }
/// # fn run_status(&self) -> RunStatus { RunStatus::Queued } fn task_status(&self) -> TaskStatus { TaskStatus::Ready }
/// # fn task_paused(&self) -> bool { false } fn priority(&self) -> Priority { Priority::Medium }
/// # fn scope(&self) -> Scope { Scope::Global } fn workspace_id(&self) -> &str { "" } fn channel(&self) -> &str { "" }
/// # fn owner(&self) -> Owner<'_> { Owner::None } fn required_capabilities(&self) -> impl Iterator<Item = &str> { [].into_iter() }
/// # fn queued_at(&self) -> Option<SystemTime> { None } }
/// # pub struct Active; impl ActiveRunView for Active { fn run_id(&self) -> &str { "" } fn session_id(&self) -> &str { "" } fn status(&self) -> RunStatus { RunStatus::Running } }
/// # pub struct Recovered; impl RecoveredView for Recovered { fn run_id(&self) -> &str { "" } fn previous_session_id(&self) -> &str { "" } }
///
/// /// A fixed backlog shared with whoever enqueues.
/// struct Backlog(Vec<Arc<Row>>);
///
/// impl TaskSource for Backlog {
///     type Run = Arc<Row>;
///     type ActiveRun = Active;
///     type Recovered = Recovered;
///     type Error = Infallible;
///
///     async fn recover_expired_leases(&self, _: Recovery<'_>, _: &mut Vec<Recovered>) -> Result<(), Infallible> {
///         Ok(())
///     }
///     async fn pending_runs(&self, out: &mut Vec<Arc<Row>>) -> Result<(), Infallible> {
///         out.extend(self.0.iter().cloned()); // reference-count bumps, no allocation
///         Ok(())
///     }
///     async fn active_runs(&self, _: &mut Vec<Active>) -> Result<(), Infallible> { Ok(()) }
///     async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, Infallible> {
///         Ok(self.0.iter().find(|r| r.run_id() == run_id).map(|r| r.run_status()))
///     }
/// }
/// ```
pub trait TaskSource: Send + Sync {
    /// A pending run joined with its task.
    type Run: RunView + Send + Sync;
    /// A run that holds a session.
    type ActiveRun: ActiveRunView + Send + Sync;
    /// One recovered lease.
    type Recovered: RecoveredView + Send + Sync;
    /// What can go wrong talking to the task service.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Returns every `claimed`/`starting`/`running` run whose lease ended at or before
    /// `request.now` to `queued`, oldest lease first, at most `request.limit` (0: no
    /// limit), and pushes one entry per recovered run onto `out`.
    fn recover_expired_leases(
        &self,
        request: Recovery<'_>,
        out: &mut Vec<Self::Recovered>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Pushes every queued run, joined with its task, onto `out`.
    fn pending_runs(&self, out: &mut Vec<Self::Run>) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Pushes every run that holds a session onto `out`. Runs in other statuses may be
    /// included; only `claimed`, `starting` and `running` make a session busy.
    fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The run's current status, or `None` when there is no such run.
    fn run_status(&self, run_id: &str) -> impl Future<Output = Result<Option<RunStatus>, Self::Error>> + Send;

    /// Reads many run statuses at once: pushes one result per id onto `out`, in order.
    /// An `Err` return fails the whole batch.
    ///
    /// The default calls [`run_status`](TaskSource::run_status) once per id; a database
    /// should answer with one query.
    fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        async move {
            for run_id in run_ids {
                let status = self.run_status(run_id).await;
                out.push(status);
            }
            Ok(())
        }
    }
}

macro_rules! forward_task_source {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared source, so one source can serve the scheduler and others.
        impl<T: TaskSource + ?Sized> TaskSource for $ptr {
            type Run = T::Run;
            type ActiveRun = T::ActiveRun;
            type Recovered = T::Recovered;
            type Error = T::Error;

            fn recover_expired_leases(
                &self,
                request: Recovery<'_>,
                out: &mut Vec<Self::Recovered>,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).recover_expired_leases(request, out)
            }
            fn pending_runs(&self, out: &mut Vec<Self::Run>) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).pending_runs(out)
            }
            fn active_runs(
                &self,
                out: &mut Vec<Self::ActiveRun>,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).active_runs(out)
            }
            fn run_status(&self, run_id: &str) -> impl Future<Output = Result<Option<RunStatus>, Self::Error>> + Send {
                (**self).run_status(run_id)
            }
            fn run_statuses<'a, I>(
                &'a self,
                run_ids: I,
                out: &'a mut Vec<Result<Option<RunStatus>, Self::Error>>,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
            where
                I: Iterator<Item = &'a str> + Send + 'a,
            {
                (**self).run_statuses(run_ids, out)
            }
        }
    )*};
}

forward_task_source!(&T, std::sync::Arc<T>);
