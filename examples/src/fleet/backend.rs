//! The stores the fleet runs on: a bundle of the core's contract traits
//! ([`Backend`]), the in-memory testkit service, the SQLite and the PostgreSQL stores
//! behind it, and [`Blocking`], which drives each store call to completion while the
//! simulation waits, so that the paused clock does not move while a SQL call is in
//! flight.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::runtime::Handle;

use scheduler_core::ladder::Budget;
use scheduler_core::lease::{
    ClaimRequest, ClaimToken, Lease, LeaseService, PauseControl, PauseState, RunRecord, RunSpec, SessionRegistry,
    SessionSpec, TaskSpec,
};
use scheduler_core::model::{RunStatus, SessionState};
use scheduler_core::seam::{PauseStore, Recovery, SessionSource, StarvationStore, TaskSource};
use scheduler_testkit::registry::MemorySessions;
use scheduler_testkit::service::MemoryTaskService;
use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};

/// The handles a fleet runs on: every one a trait of the core's contract.
pub(crate) trait Backend: Send + Sync + 'static {
    /// Runs and leases, both sides.
    type Tasks: LeaseService + Clone + Send + Sync + std::fmt::Debug + 'static;
    /// The session registry, both sides.
    type Sessions: SessionRegistry + Clone + Send + Sync + std::fmt::Debug + 'static;
    /// The scheduler-wide pause.
    type Pause: PauseControl + Clone + Send + Sync + std::fmt::Debug + 'static;
    /// The ladder's budgets.
    type Budgets: StarvationStore + Clone + Send + Sync + std::fmt::Debug + 'static;
}

/// The testkit's in-memory service: every future is ready at once.
#[derive(Debug)]
pub(crate) struct Memory;

impl Backend for Memory {
    type Tasks = MemoryTaskService;
    type Sessions = MemorySessions;
    type Pause = MemoryPauseStore;
    type Budgets = MemoryStarvationStore;
}

/// The SQLite store, each call driven on the blocking pool.
#[derive(Debug)]
pub(crate) struct Sqlite;

impl Backend for Sqlite {
    type Tasks = Blocking<scheduler_sqlite::Tasks>;
    type Sessions = Blocking<scheduler_sqlite::Sessions>;
    type Pause = Blocking<scheduler_sqlite::Pause>;
    type Budgets = Blocking<scheduler_sqlite::Budgets>;
}

/// The PostgreSQL store, each call driven on the database runtime while the
/// simulation waits.
#[derive(Debug)]
pub(crate) struct Postgres;

impl Backend for Postgres {
    type Tasks = Blocking<scheduler_postgres::Tasks>;
    type Sessions = Blocking<scheduler_postgres::Sessions>;
    type Pause = Blocking<scheduler_postgres::Pause>;
    type Budgets = Blocking<scheduler_postgres::Budgets>;
}

/// A store handle whose every call runs to completion before the simulation goes on:
/// the store's future is driven with `futures::executor::block_on` on the simulation's
/// (current-thread) runtime thread, while the SQL itself runs on the store's own
/// threads.
///
/// This is for the simulation only, not how a daemon should use the store (it just
/// awaits the handles). It makes a SQLite call behave like an in-memory one: simulated
/// time stands still during it (tokio's paused clock auto-advances only when the
/// runtime is idle, and a blocked runtime is not idle), and no other task runs in the
/// middle of a scheduler cycle, so a seed replays the same simulation on either
/// store. Driving the calls on the blocking pool instead (`spawn_blocking`) keeps the
/// clock still too, but lets agents act at the same simulated instant in the middle
/// of a cycle: the cycle then wakes a session for a run that session claimed a moment
/// earlier, which the fleet's invariants count as a wake to a busy session, and the
/// outcome depends on thread timing.
///
/// With a runtime handle (`Blocking(handle, Some(runtime))`, the PostgreSQL store), the
/// call runs as a task on that runtime instead (a real-time, multi-thread one, which
/// owns the store's connections and timeouts), and this thread waits for its answer:
/// the same rule, simulated time stands still and nothing else of the simulation runs
/// meanwhile. (Driving a `tokio-postgres` future on this thread instead would spawn its
/// connection onto the simulation's own, blocked runtime, and time its timeouts by the
/// paused clock.)
#[derive(Debug, Clone)]
pub(crate) struct Blocking<T>(pub(crate) T, pub(crate) Option<Handle>);

/// Runs `fut` to completion while this thread waits: on this thread, or on `on`.
///
/// # Panics
/// When the runtime `on` drops the call without an answer (it panicked, or the
/// runtime shut down under a running simulation).
pub(crate) async fn blocking<T: Send + 'static>(
    on: Option<Handle>,
    fut: impl Future<Output = T> + Send + 'static,
) -> T {
    let Some(runtime) = on else { return futures::executor::block_on(fut) };
    let (answer, answered) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = answer.send(fut.await);
    });
    answered.recv().expect("the database runtime dropped a store call (it panicked or shut down)")
}

impl<T> TaskSource for Blocking<T>
where
    T: TaskSource<Run: 'static, ActiveRun: 'static, Recovered: 'static> + Clone + 'static,
{
    type Run = T::Run;
    type ActiveRun = T::ActiveRun;
    type Recovered = T::Recovered;
    type Error = T::Error;

    async fn recover_expired_leases(
        &self,
        request: Recovery<'_>,
        out: &mut Vec<Self::Recovered>,
    ) -> Result<(), Self::Error> {
        let (inner, now, limit) = (self.0.clone(), request.now, request.limit);
        let (reason, actor) = (request.reason.to_owned(), request.actor.to_owned());
        let (got, rows) = blocking(self.1.clone(), async move {
            let mut rows = Vec::new();
            let got =
                inner.recover_expired_leases(Recovery { now, reason: &reason, limit, actor: &actor }, &mut rows).await;
            (got, rows)
        })
        .await;
        out.extend(rows);
        got
    }

    async fn pending_runs(&self, out: &mut Vec<Self::Run>) -> Result<(), Self::Error> {
        let inner = self.0.clone();
        let (got, rows) = blocking(self.1.clone(), async move {
            let mut rows = Vec::new();
            (inner.pending_runs(&mut rows).await, rows)
        })
        .await;
        out.extend(rows);
        got
    }

    async fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> Result<(), Self::Error> {
        let inner = self.0.clone();
        let (got, rows) = blocking(self.1.clone(), async move {
            let mut rows = Vec::new();
            (inner.active_runs(&mut rows).await, rows)
        })
        .await;
        out.extend(rows);
        got
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, Self::Error> {
        let (inner, run_id) = (self.0.clone(), run_id.to_owned());
        blocking(self.1.clone(), async move { inner.run_status(&run_id).await }).await
    }

    fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let (inner, ids) = (self.0.clone(), run_ids.map(str::to_owned).collect::<Vec<_>>());
        async move {
            let (got, rows) = blocking(self.1.clone(), async move {
                let mut rows = Vec::new();
                (inner.run_statuses(ids.iter().map(String::as_str), &mut rows).await, rows)
            })
            .await;
            out.extend(rows);
            got
        }
    }
}

impl<T> LeaseService for Blocking<T>
where
    T: LeaseService<Run: 'static, ActiveRun: 'static, Recovered: 'static> + Clone + 'static,
{
    async fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, task, run) = (self.0.clone(), task.clone(), run.clone());
        blocking(self.1.clone(), async move { inner.enqueue(&task, &run, now).await }).await
    }

    async fn update_task(&self, task: &TaskSpec, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, task) = (self.0.clone(), task.clone());
        blocking(self.1.clone(), async move { inner.update_task(&task, now).await }).await
    }

    async fn claim(
        &self,
        request: &ClaimRequest,
        lease: Duration,
        now: SystemTime,
    ) -> Result<Option<Lease>, Self::Error> {
        let (inner, request) = (self.0.clone(), request.clone());
        blocking(self.1.clone(), async move { inner.claim(&request, lease, now).await }).await
    }

    async fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, run_id, token) = (self.0.clone(), run_id.to_owned(), token.clone());
        blocking(self.1.clone(), async move { inner.start(&run_id, &token, now).await }).await
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, Self::Error> {
        let (inner, run_id, token) = (self.0.clone(), run_id.to_owned(), token.clone());
        blocking(self.1.clone(), async move { inner.heartbeat(&run_id, &token, lease, now).await }).await
    }

    async fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, run_id, token) = (self.0.clone(), run_id.to_owned(), token.clone());
        blocking(self.1.clone(), async move { inner.complete(&run_id, &token, now).await }).await
    }

    async fn fail(&self, run_id: &str, token: &ClaimToken, reason: &str, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, run_id, token, reason) = (self.0.clone(), run_id.to_owned(), token.clone(), reason.to_owned());
        blocking(self.1.clone(), async move { inner.fail(&run_id, &token, &reason, now).await }).await
    }

    async fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, run_id, token) = (self.0.clone(), run_id.to_owned(), token.clone());
        blocking(self.1.clone(), async move { inner.release(&run_id, &token, now).await }).await
    }

    async fn mark_needs_attention(&self, run_id: &str, diagnostic: &str, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, run_id, diagnostic) = (self.0.clone(), run_id.to_owned(), diagnostic.to_owned());
        blocking(self.1.clone(), async move { inner.mark_needs_attention(&run_id, &diagnostic, now).await }).await
    }

    async fn record(&self, run_id: &str) -> Result<Option<RunRecord>, Self::Error> {
        let (inner, run_id) = (self.0.clone(), run_id.to_owned());
        blocking(self.1.clone(), async move { inner.record(&run_id).await }).await
    }
}

impl<T> SessionSource for Blocking<T>
where
    T: SessionSource<Session: 'static> + Clone + 'static,
{
    type Session = T::Session;
    type Error = T::Error;

    async fn sessions(&self, out: &mut Vec<Self::Session>) -> Result<(), Self::Error> {
        let inner = self.0.clone();
        let (got, rows) = blocking(self.1.clone(), async move {
            let mut rows = Vec::new();
            (inner.sessions(&mut rows).await, rows)
        })
        .await;
        out.extend(rows);
        got
    }
}

impl<T> SessionRegistry for Blocking<T>
where
    T: SessionRegistry<Session: 'static> + Clone + 'static,
{
    async fn register(&self, session: &SessionSpec, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, session) = (self.0.clone(), session.clone());
        blocking(self.1.clone(), async move { inner.register(&session, now).await }).await
    }

    async fn set_state(&self, session_id: &str, state: SessionState, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, id) = (self.0.clone(), session_id.to_owned());
        blocking(self.1.clone(), async move { inner.set_state(&id, state, now).await }).await
    }

    async fn set_prompting(&self, session_id: &str, prompting: bool, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, id) = (self.0.clone(), session_id.to_owned());
        blocking(self.1.clone(), async move { inner.set_prompting(&id, prompting, now).await }).await
    }

    async fn set_capabilities(
        &self,
        session_id: &str,
        capabilities: &[String],
        now: SystemTime,
    ) -> Result<(), Self::Error> {
        let (inner, id, caps) = (self.0.clone(), session_id.to_owned(), capabilities.to_vec());
        blocking(self.1.clone(), async move { inner.set_capabilities(&id, &caps, now).await }).await
    }

    async fn touch(&self, session_id: &str, now: SystemTime) -> Result<(), Self::Error> {
        let (inner, id) = (self.0.clone(), session_id.to_owned());
        blocking(self.1.clone(), async move { inner.touch(&id, now).await }).await
    }

    async fn remove(&self, session_id: &str) -> Result<(), Self::Error> {
        let (inner, id) = (self.0.clone(), session_id.to_owned());
        blocking(self.1.clone(), async move { inner.remove(&id).await }).await
    }

    async fn mark_stale(&self, not_seen_since: SystemTime, now: SystemTime) -> Result<u64, Self::Error> {
        let inner = self.0.clone();
        blocking(self.1.clone(), async move { inner.mark_stale(not_seen_since, now).await }).await
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSpec>, Self::Error> {
        let (inner, id) = (self.0.clone(), session_id.to_owned());
        blocking(self.1.clone(), async move { inner.session(&id).await }).await
    }
}

impl<T: PauseStore + Clone + 'static> PauseStore for Blocking<T> {
    type Error = T::Error;

    async fn is_paused(&self) -> Result<bool, Self::Error> {
        let inner = self.0.clone();
        blocking(self.1.clone(), async move { inner.is_paused().await }).await
    }
}

impl<T: PauseControl + Clone + 'static> PauseControl for Blocking<T> {
    async fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> Result<(), Self::Error> {
        let (inner, by, reason) = (self.0.clone(), paused_by.to_owned(), reason.to_owned());
        blocking(self.1.clone(), async move { inner.pause(&by, paused_at, &reason).await }).await
    }

    async fn resume(&self) -> Result<(), Self::Error> {
        let inner = self.0.clone();
        blocking(self.1.clone(), async move { inner.resume().await }).await
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, Self::Error> {
        let inner = self.0.clone();
        blocking(self.1.clone(), async move { inner.pause_state().await }).await
    }
}

impl<T> StarvationStore for Blocking<T>
where
    T: StarvationStore<Key: 'static> + Clone + 'static,
{
    type Key = T::Key;
    type Error = T::Error;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, Self::Error> {
        let (inner, id) = (self.0.clone(), run_id.to_owned());
        blocking(self.1.clone(), async move { inner.load(&id).await }).await
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), Self::Error> {
        let (inner, id, budget) = (self.0.clone(), run_id.to_owned(), *budget);
        blocking(self.1.clone(), async move { inner.upsert(&id, &budget).await }).await
    }

    async fn clear(&self, run_id: &str) -> Result<(), Self::Error> {
        let (inner, id) = (self.0.clone(), run_id.to_owned());
        blocking(self.1.clone(), async move { inner.clear(&id).await }).await
    }

    async fn list(&self, out: &mut Vec<(Self::Key, Budget)>) -> Result<(), Self::Error> {
        let inner = self.0.clone();
        let (got, rows) = blocking(self.1.clone(), async move {
            let mut rows = Vec::new();
            (inner.list(&mut rows).await, rows)
        })
        .await;
        out.extend(rows);
        got
    }

    fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let (inner, ids) = (self.0.clone(), run_ids.map(str::to_owned).collect::<Vec<_>>());
        async move {
            let (got, rows) = blocking(self.1.clone(), async move {
                let mut rows = Vec::new();
                (inner.load_many(ids.iter().map(String::as_str), &mut rows).await, rows)
            })
            .await;
            out.extend(rows);
            got
        }
    }

    fn upsert_many<'a, I>(
        &'a self,
        rows: I,
        out: &'a mut Vec<Result<(), Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        let (inner, owned) =
            (self.0.clone(), rows.map(|(id, b)| (id.to_owned(), *b)).collect::<Vec<(String, Budget)>>());
        async move {
            let (got, results) = blocking(self.1.clone(), async move {
                let mut results = Vec::new();
                (inner.upsert_many(owned.iter().map(|(id, b)| (id.as_str(), b)), &mut results).await, results)
            })
            .await;
            out.extend(results);
            got
        }
    }

    fn clear_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<(), Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        let (inner, ids) = (self.0.clone(), run_ids.map(str::to_owned).collect::<Vec<_>>());
        async move {
            let (got, rows) = blocking(self.1.clone(), async move {
                let mut rows = Vec::new();
                (inner.clear_many(ids.iter().map(String::as_str), &mut rows).await, rows)
            })
            .await;
            out.extend(rows);
            got
        }
    }
}
