//! [`Tasks`]: the task service handle, the scheduler's [`TaskSource`] and the sessions'
//! [`LeaseService`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rusqlite::Connection;
use scheduler_core::lease::{ClaimRequest, ClaimToken, Lease, LeaseService, RunRecord, RunSpec, TaskSpec};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, TaskSource};

use crate::cache::fetch_runs;
use crate::claim::{self, Claimant};
use crate::error::Error;
use crate::lease::{self, Sweep};
use crate::rows::{ActiveRun, PendingRun, RecoveredRun};
use crate::runs::{self, RunRow, TaskRow};
use crate::store::{Inner, snapshot};
use crate::value::{id, lease_end, nanos, text};

/// The task service over the store (a cheap, cloneable handle; get one with
/// [`Store::tasks`](crate::Store::tasks)).
#[derive(Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

impl fmt::Debug for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tasks").field("path", &self.inner.path).finish()
    }
}

impl Tasks {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Tasks { inner }
    }

    async fn write<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.inner.workers.write(job).await
    }

    async fn read<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.inner.workers.read(move |conn| snapshot(conn, job)).await
    }

    /// The diagnostic a `needs_attention` run was marked with.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn diagnostic(&self, run_id: &str) -> Result<Option<String>, Error> {
        self.column(run_id, "diagnostic").await
    }

    /// The reason a `failed` run failed with.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn failure_reason(&self, run_id: &str) -> Result<Option<String>, Error> {
        self.column(run_id, "failure").await
    }

    async fn column(&self, run_id: &str, column: &'static str) -> Result<Option<String>, Error> {
        let run_id = id(run_id, "run id")?.to_owned();
        self.read(move |tx| {
            let sql = format!("SELECT {column} FROM runs WHERE run_id = ?1");
            let value = rusqlite::OptionalExtension::optional(tx.query_row(&sql, [run_id], |r| r.get(0)))?;
            Ok(value.flatten())
        })
        .await
    }

    /// The run joined with its task, whatever its status.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn run(&self, run_id: &str) -> Result<Option<PendingRun>, Error> {
        let run_id = id(run_id, "run id")?.to_owned();
        self.read(move |tx| runs::joined(tx, &run_id)).await
    }

    /// Brings the store's runs cache up to date: one query when nothing changed, the
    /// changed runs otherwise (see the `cache` module).
    async fn refresh_runs(&self) -> Result<(), Error> {
        for _ in 0..3 {
            let known = self.inner.cache().runs.revision();
            let delta = self.read(move |tx| fetch_runs(tx, known)).await?;
            if self.inner.cache().runs.apply(delta) {
                return Ok(());
            }
        }
        // Other reads kept moving the rows: read them all.
        let delta = self.read(|tx| fetch_runs(tx, None)).await?;
        self.inner.cache().runs.apply(delta);
        Ok(())
    }
}

impl TaskSource for Tasks {
    type Run = Arc<PendingRun>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = RecoveredRun;
    type Error = Error;

    async fn recover_expired_leases(&self, request: Recovery<'_>, out: &mut Vec<RecoveredRun>) -> Result<(), Error> {
        let now = nanos(request.now, "sweep time")?;
        if !self.read(move |tx| lease::any_expired(tx, now)).await? {
            return Ok(());
        }
        let sweep =
            Sweep { now, reason: request.reason.to_owned(), actor: request.actor.to_owned(), limit: request.limit };
        out.extend(self.write(move |tx| lease::recover(tx, &sweep)).await?);
        Ok(())
    }

    async fn pending_runs(&self, out: &mut Vec<Arc<PendingRun>>) -> Result<(), Error> {
        self.refresh_runs().await?;
        let rows = self.inner.cache().runs.pending();
        out.extend(rows.iter().cloned());
        Ok(())
    }

    async fn active_runs(&self, out: &mut Vec<Arc<ActiveRun>>) -> Result<(), Error> {
        self.refresh_runs().await?;
        let rows = self.inner.cache().runs.active();
        out.extend(rows.iter().cloned());
        Ok(())
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, Error> {
        let run_id = run_id.trim().to_owned();
        if run_id.is_empty() || run_id.contains('\0') {
            return Ok(None);
        }
        self.read(move |tx| runs::status(tx, &run_id)).await
    }

    fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, Error>>,
    ) -> impl Future<Output = Result<(), Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let run_ids: Vec<String> = run_ids.map(str::to_owned).collect();
        async move {
            let found = self.read(move |tx| runs::statuses(tx, &run_ids)).await?;
            out.extend(found.into_iter().map(Ok));
            Ok(())
        }
    }
}

impl LeaseService for Tasks {
    async fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Result<(), Error> {
        let (run, task, now) = (RunRow::of(run)?, TaskRow::of(task)?, nanos(now, "enqueue time")?);
        self.write(move |tx| runs::enqueue(tx, &task, &run, now)).await
    }

    async fn update_task(&self, task: &TaskSpec, _now: SystemTime) -> Result<(), Error> {
        let task = TaskRow::of(task)?;
        self.write(move |tx| runs::update_task(tx, &task)).await
    }

    async fn claim(&self, request: &ClaimRequest, lease: Duration, now: SystemTime) -> Result<Option<Lease>, Error> {
        let who = Claimant::of(request)?;
        let (until, until_nanos) = lease_end(now, lease)?;
        let now = nanos(now, "claim time")?;
        let token = ClaimToken::generate();
        let session_id = who.session_id.clone();
        let secret = token.clone();
        let won = self.write(move |tx| claim::claim(tx, &who, &secret, until_nanos, now)).await?;
        Ok(won.map(|run_id| Lease { run_id, session_id, token, lease_until: until }))
    }

    async fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Error> {
        let (run_id, token, now) = (id(run_id, "run id")?.to_owned(), token.clone(), nanos(now, "start time")?);
        self.write(move |tx| lease::start(tx, &run_id, &token, now)).await
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, Error> {
        let (until, until_nanos) = lease_end(now, lease)?;
        let (run_id, token, now) = (id(run_id, "run id")?.to_owned(), token.clone(), nanos(now, "heartbeat time")?);
        self.write(move |tx| lease::heartbeat(tx, &run_id, &token, until_nanos, now)).await?;
        Ok(until)
    }

    async fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Error> {
        let (run_id, token, now) = (id(run_id, "run id")?.to_owned(), token.clone(), nanos(now, "completion time")?);
        self.write(move |tx| lease::end(tx, &run_id, &token, RunStatus::Completed, None, now)).await
    }

    async fn fail(&self, run_id: &str, token: &ClaimToken, reason: &str, now: SystemTime) -> Result<(), Error> {
        let (run_id, token, now) = (id(run_id, "run id")?.to_owned(), token.clone(), nanos(now, "failure time")?);
        let reason = text(reason, "failure reason")?.to_owned();
        self.write(move |tx| lease::end(tx, &run_id, &token, RunStatus::Failed, Some(&reason), now)).await
    }

    async fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Error> {
        let (run_id, token, now) = (id(run_id, "run id")?.to_owned(), token.clone(), nanos(now, "release time")?);
        self.write(move |tx| lease::end(tx, &run_id, &token, RunStatus::Queued, None, now)).await
    }

    async fn mark_needs_attention(&self, run_id: &str, diagnostic: &str, now: SystemTime) -> Result<(), Error> {
        let run_id = id(run_id, "run id")?.to_owned();
        let diagnostic = text(diagnostic, "diagnostic")?.to_owned();
        let now = nanos(now, "needs-attention time")?;
        self.write(move |tx| lease::mark_needs_attention(tx, &run_id, &diagnostic, now)).await
    }

    async fn record(&self, run_id: &str) -> Result<Option<RunRecord>, Error> {
        let run_id = run_id.trim().to_owned();
        if run_id.is_empty() || run_id.contains('\0') {
            return Ok(None);
        }
        self.read(move |tx| runs::record(tx, &run_id)).await
    }
}
