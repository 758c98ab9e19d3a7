//! [`LeaseService`]: the sessions' side of the task service.

use std::future::Future;
use std::time::{Duration, SystemTime};

use super::{ClaimRequest, ClaimToken, Lease, RecoveredDetails, RunRecord, RunSpec, ServiceError, TaskSpec};
use crate::seam::TaskSource;

/// The task service's whole contract (`spec/task-service.md`): the scheduler's
/// [`TaskSource`] (pending and active runs, expired-lease recovery, status reads) plus
/// the lease API sessions use to enqueue, claim and work runs.
///
/// Rules every implementation keeps (the conformance suite in `scheduler-testkit`
/// checks each one):
///
/// - **Time is the caller's.** Every write takes `now`; a service never reads its own
///   clock (or the database's), so simulated time works. Durable services keep times in
///   UTC with at least millisecond precision.
/// - **Ids** are compared exactly after trimming surrounding spaces; an empty id is
///   refused ([`ErrorKind::InvalidInput`](super::ErrorKind::InvalidInput)). Every id,
///   name and capability is data, never SQL.
/// - **Claims are atomic.** Two concurrent claims never both win one run, and two
///   concurrent claims by one session never both win. The best run is the highest
///   priority (unknown ranks as medium), then the oldest queued-at, then the smallest
///   run id, among the runs the scheduler's eligibility rules
///   ([`crate::eligibility`]) let this session take. Claims are refused while the
///   scheduler-wide pause is on. Nothing to claim is `Ok(None)`.
/// - **One lease per session.** A session is busy while it holds a run in `claimed`,
///   `starting` or `running`, including a lease that ended but was not recovered yet
///   (it still answers to its token until a sweep recovers it). A busy session's claim
///   is refused ([`ErrorKind::SessionBusy`](super::ErrorKind::SessionBusy)).
/// - **Tokens fence.** `start`, `heartbeat`, `complete`, `fail` and `release` refuse a
///   wrong or stale token ([`ErrorKind::TokenRejected`](super::ErrorKind::TokenRejected))
///   and then change nothing at all; tokens never appear in an error.
/// - **Recovery** ([`TaskSource::recover_expired_leases`]) returns every leased run
///   whose lease ended (`lease_until <= now`) to `queued`, clears its session and token,
///   keeps its queued-at, oldest lease first, at most `limit` (0: no limit); atomically,
///   so two sweeps, or a sweep and a heartbeat, never both win.
/// - **Reads** ([`TaskSource::pending_runs`]) list every `queued` run joined with its
///   task, claimable or not; [`TaskSource::run_status`] answers for finished runs too;
///   the batch status read answers one result per id, in the order asked.
/// - **Durability.** A durable service keeps all of this across restarts and across
///   independent handles on one store.
///
/// Every method answers errors that classify through [`ServiceError::kind`].
pub trait LeaseService: TaskSource<Error: ServiceError, Recovered: RecoveredDetails> {
    /// Enqueues a run of `task`: the run becomes `queued` with queued-at = `now`. The
    /// task is created, or re-described when its stored fields differ (every run of the
    /// task then sees the new values).
    ///
    /// # Errors
    /// `DuplicateRun` when the run id exists (nothing changes, the task included),
    /// `InvalidInput` for an empty run or task id or text the store cannot hold.
    fn enqueue(
        &self,
        task: &TaskSpec,
        run: &RunSpec,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Re-describes an existing task: every run of it sees the new status, paused flag,
    /// priority, scope and owner.
    ///
    /// # Errors
    /// `UnknownTask`, `InvalidInput`.
    fn update_task(&self, task: &TaskSpec, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Atomically leases the best run this session may claim (see the trait docs): the
    /// run becomes `claimed` by the session until `now + lease`, under a fresh token
    /// returned once. `Ok(None)` when nothing is claimable.
    ///
    /// # Errors
    /// `Paused` while the scheduler is paused (or its flag cannot be read),
    /// `SessionBusy` when the session holds a live lease, `InvalidInput` for an empty
    /// session id or a lease that overflows the clock.
    fn claim(
        &self,
        request: &ClaimRequest,
        lease: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Lease>, Self::Error>> + Send;

    /// Moves a `claimed` (or `starting`) run to `running`.
    ///
    /// # Errors
    /// `UnknownRun`, `TokenRejected`, `InvalidTransition`; nothing changes on error.
    fn start(
        &self,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Extends the lease to `now + lease` and returns the new end.
    ///
    /// # Errors
    /// `UnknownRun`, `TokenRejected`, `InvalidInput` (overflow); nothing changes on
    /// error.
    fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<SystemTime, Self::Error>> + Send;

    /// Ends the run successfully (`completed`), freeing the session.
    ///
    /// # Errors
    /// `UnknownRun`, `TokenRejected`; nothing changes on error.
    fn complete(
        &self,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Ends the run unsuccessfully (`failed`, with `reason`), freeing the session.
    ///
    /// # Errors
    /// `UnknownRun`, `TokenRejected`; nothing changes on error.
    fn fail(
        &self,
        run_id: &str,
        token: &ClaimToken,
        reason: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Gives the run back: `queued` again with its original queued-at, lease and
    /// session cleared.
    ///
    /// # Errors
    /// `UnknownRun`, `TokenRejected`; nothing changes on error.
    fn release(
        &self,
        run_id: &str,
        token: &ClaimToken,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Moves a `queued` run to `needs_attention`, keeping `diagnostic`.
    ///
    /// # Errors
    /// `UnknownRun`; `InvalidTransition` from any other status (claimed, starting,
    /// running, completed, failed, canceled, needs_attention), changing nothing.
    fn mark_needs_attention(
        &self,
        run_id: &str,
        diagnostic: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The run as stored (status, lease, queued-at), or `None` for an unknown run.
    fn record(&self, run_id: &str) -> impl Future<Output = Result<Option<RunRecord>, Self::Error>> + Send;
}

macro_rules! forward_lease_service {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared service, so one service can serve the scheduler, its
        /// sessions and a conformance suite's racers at once.
        impl<T: LeaseService + ?Sized> LeaseService for $ptr {
            fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).enqueue(task, run, now)
            }
            fn update_task(&self, task: &TaskSpec, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).update_task(task, now)
            }
            fn claim(
                &self,
                request: &ClaimRequest,
                lease: Duration,
                now: SystemTime,
            ) -> impl Future<Output = Result<Option<Lease>, Self::Error>> + Send {
                (**self).claim(request, lease, now)
            }
            fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).start(run_id, token, now)
            }
            fn heartbeat(
                &self,
                run_id: &str,
                token: &ClaimToken,
                lease: Duration,
                now: SystemTime,
            ) -> impl Future<Output = Result<SystemTime, Self::Error>> + Send {
                (**self).heartbeat(run_id, token, lease, now)
            }
            fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).complete(run_id, token, now)
            }
            fn fail(
                &self,
                run_id: &str,
                token: &ClaimToken,
                reason: &str,
                now: SystemTime,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).fail(run_id, token, reason, now)
            }
            fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).release(run_id, token, now)
            }
            fn mark_needs_attention(
                &self,
                run_id: &str,
                diagnostic: &str,
                now: SystemTime,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).mark_needs_attention(run_id, diagnostic, now)
            }
            fn record(&self, run_id: &str) -> impl Future<Output = Result<Option<RunRecord>, Self::Error>> + Send {
                (**self).record(run_id)
            }
        }
    )*};
}

forward_lease_service!(&T, std::sync::Arc<T>);
