//! Leader election for the scheduler's cycle: a lease row with an epoch.
//!
//! Any number of daemons campaign; the one holding the `leader` row's unexpired lease
//! is the leader, and only it runs cycles ([`run_as_leader`]). The row's epoch (its
//! term) grows with every change of leader, and the leader's starvation budgets
//! ([`Elector::budgets`]) write only while that term is current, so a deposed leader
//! cannot climb the ladder.
//!
//! Why a lease row and not `pg_try_advisory_lock`: an advisory lock lives as long as
//! the session that took it, and a pooled connection hides which session that is (the
//! lock would follow the connection back into the pool, or vanish with a recycled
//! connection while the daemon still thinks it leads). It also has no term, so a
//! write cannot be fenced against an older leader, and a leader stalled by a long GC
//! pause or a network partition keeps the lock until TCP notices. The row's times are
//! the database's clock (`clock_timestamp()`), so daemons' clock skew does not matter;
//! a daemon's local view is conservative: it counts its lease from *before* it sent
//! the renewal, so it stops cycling before anyone else can take over.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt as _;
use scheduler_core::Scheduler;
use scheduler_core::clock::Timer;
use scheduler_core::observer::Observer;
use scheduler_core::seam::{EscalationActor, PauseStore, SessionSource, StarvationStore, TaskSource, Waker};
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::budgets::Budgets;
use crate::error::Error;
use crate::store::Store;

/// A daemon's current term, shared with its fenced budgets: 0 while it does not lead.
#[derive(Debug)]
pub(crate) struct Term {
    pub(crate) holder: String,
    epoch: AtomicU64,
}

impl Term {
    pub(crate) fn epoch(&self) -> Option<u64> {
        match self.epoch.load(Ordering::Acquire) {
            0 => None,
            epoch => Some(epoch),
        }
    }
}

/// Whether this daemon leads, and under which term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Leadership {
    /// Another daemon leads, or nobody does.
    Follower,
    /// This daemon leads under `epoch`.
    Leader {
        /// The term: grows with every change of leader.
        epoch: u64,
    },
}

impl Leadership {
    /// Whether this is [`Leadership::Leader`].
    pub fn is_leader(&self) -> bool {
        matches!(self, Leadership::Leader { .. })
    }
}

/// The leader row as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderRow {
    /// The daemon holding (or last holding) the lease.
    pub holder: String,
    /// Its term.
    pub epoch: u64,
    /// Whether the lease is still live by the database's clock.
    pub live: bool,
}

/// Campaigns for leadership and keeps it: acquire the lease when it is free or
/// expired, renew it every [`renew_every`](Self::renew_every), give it up on shutdown.
/// A cheap, cloneable handle.
///
/// ```no_run
/// # async fn demo(store: scheduler_postgres::Store) {
/// use std::time::Duration;
/// use scheduler_postgres::Elector;
/// let elector = Elector::new(&store, Duration::from_secs(10));
/// let campaign = tokio::spawn({
///     let elector = elector.clone();
///     async move { elector.campaign(std::future::pending()).await }
/// });
/// // Give the scheduler `elector.budgets()` and run it with `run_as_leader`.
/// # drop(campaign);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Elector {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    term: Arc<Term>,
    lease: Duration,
    renew_every: Duration,
    candidate: bool,
    state: watch::Sender<Leadership>,
    last_error: Mutex<Option<String>>,
}

const ACQUIRE_SQL: &str = "\
INSERT INTO leader (id, holder, epoch, elected_at, expires_at)
VALUES (1, $1, 1, clock_timestamp(), clock_timestamp() + $2::int8 * interval '1 millisecond')
ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, epoch = leader.epoch + 1,
    elected_at = EXCLUDED.elected_at, expires_at = EXCLUDED.expires_at
WHERE leader.expires_at <= clock_timestamp() OR leader.holder = EXCLUDED.holder
RETURNING epoch";

const RENEW_SQL: &str = "\
UPDATE leader SET expires_at = clock_timestamp() + $3::int8 * interval '1 millisecond'
WHERE id = 1 AND holder = $1 AND epoch = $2 AND expires_at > clock_timestamp()
RETURNING 1";

impl Elector {
    /// A candidate with the store's daemon id as its name, holding leases of `lease`
    /// (at least 100 ms) renewed every third of it.
    pub fn new(store: &Store, lease: Duration) -> Self {
        Self::build(store, lease, true)
    }

    /// A daemon that never leads: it never campaigns, and
    /// [`run_as_leader`] never cycles with it.
    pub fn never_lead(store: &Store) -> Self {
        Self::build(store, Duration::from_secs(1), false)
    }

    fn build(store: &Store, lease: Duration, candidate: bool) -> Self {
        let lease = lease.max(Duration::from_millis(100));
        let term = Arc::new(Term { holder: store.daemon_id().to_owned(), epoch: AtomicU64::new(0) });
        let (state, _) = watch::channel(Leadership::Follower);
        let inner = Inner {
            store: store.clone(),
            term,
            lease,
            renew_every: lease / 3,
            candidate,
            state,
            last_error: Mutex::new(None),
        };
        Elector { inner: Arc::new(inner) }
    }

    /// The lease period.
    pub fn lease(&self) -> Duration {
        self.inner.lease
    }

    /// How often the campaign renews (or tries to acquire): a third of the lease.
    pub fn renew_every(&self) -> Duration {
        self.inner.renew_every
    }

    /// Whether this daemon may lead.
    pub fn is_candidate(&self) -> bool {
        self.inner.candidate
    }

    /// The starvation budgets fenced by this daemon's term: give these to the
    /// scheduler that [`run_as_leader`] runs.
    pub fn budgets(&self) -> Budgets {
        Budgets::fenced(self.inner.store.clone(), Arc::clone(&self.inner.term))
    }

    /// This daemon's leadership now.
    pub fn leadership(&self) -> Leadership {
        *self.inner.state.borrow()
    }

    /// Leadership changes, as they happen.
    pub fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.inner.state.subscribe()
    }

    /// The last error the campaign met (it keeps going), if any.
    pub fn last_error(&self) -> Option<String> {
        self.inner.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, leadership: Leadership) {
        let epoch = match leadership {
            Leadership::Leader { epoch } => epoch,
            Leadership::Follower => 0,
        };
        self.inner.term.epoch.store(epoch, Ordering::Release);
        self.inner.state.send_replace(leadership);
    }

    fn note_error(&self, error: &dyn std::fmt::Display) {
        *self.inner.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
    }

    fn lease_ms(&self) -> i64 {
        i64::try_from(self.inner.lease.as_millis()).unwrap_or(i64::MAX)
    }

    /// One attempt to take the lease: free, expired, or recorded as this daemon's own
    /// (an acquisition whose answer was lost, a restart); on success this daemon leads
    /// under the returned, new epoch, which fences out whatever held the old one.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn try_acquire(&self) -> Result<Option<u64>, Error> {
        const STEP: &str = "acquiring the leader lease";
        if !self.inner.candidate {
            return Ok(None);
        }
        let client = self.inner.store.client(STEP).await?;
        let row = client
            .query_opt(ACQUIRE_SQL, &[&self.inner.term.holder, &self.lease_ms()])
            .await
            .map_err(Error::db(STEP))?;
        let epoch = row.map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)).filter(|e| *e > 0);
        if let Some(epoch) = epoch {
            self.set(Leadership::Leader { epoch });
        }
        Ok(epoch)
    }

    /// One renewal of the current term; `false` (and follower from now on) when the
    /// term is no longer this daemon's.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`]; the leadership is unchanged then.
    pub async fn renew(&self) -> Result<bool, Error> {
        const STEP: &str = "renewing the leader lease";
        let Some(epoch) = self.inner.term.epoch() else { return Ok(false) };
        let client = self.inner.store.client(STEP).await?;
        let epoch_param = i64::try_from(epoch).unwrap_or(i64::MAX);
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&self.inner.term.holder, &epoch_param, &self.lease_ms()];
        let renewed = client.query_opt(RENEW_SQL, &params).await.map_err(Error::db(STEP))?.is_some();
        if !renewed {
            self.set(Leadership::Follower);
        }
        Ok(renewed)
    }

    /// Gives the lease up now (it expires at once), so another daemon can take over
    /// without waiting; this daemon is a follower afterwards.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn resign(&self) -> Result<(), Error> {
        const STEP: &str = "resigning the leader lease";
        let Some(epoch) = self.inner.term.epoch() else { return Ok(()) };
        self.set(Leadership::Follower);
        let client = self.inner.store.client(STEP).await?;
        let epoch = i64::try_from(epoch).unwrap_or(i64::MAX);
        let sql = "UPDATE leader SET expires_at = clock_timestamp() WHERE id = 1 AND holder = $1 AND epoch = $2";
        client.execute(sql, &[&self.inner.term.holder, &epoch]).await.map_err(Error::db(STEP)).map(drop)
    }

    /// The leader row as the database sees it now.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn current(&self) -> Result<Option<LeaderRow>, Error> {
        const STEP: &str = "reading the leader lease";
        let client = self.inner.store.client(STEP).await?;
        let sql = "SELECT holder, epoch, expires_at > clock_timestamp() FROM leader WHERE id = 1";
        let row = client.query_opt(sql, &[]).await.map_err(Error::db(STEP))?;
        Ok(row.map(|r| LeaderRow {
            holder: r.get(0),
            epoch: u64::try_from(r.get::<_, i64>(1)).unwrap_or(0),
            live: r.get(2),
        }))
    }

    /// Campaigns until `shutdown` completes: tries to acquire every
    /// [`renew_every`](Self::renew_every) while following, renews as often while
    /// leading. A leader whose renewals fail (errors, timeouts) steps down when its
    /// lease, counted from before its last successful renewal, runs out; a refused
    /// renewal steps down at once. On shutdown a leader resigns. Errors never end the
    /// campaign (the last one is kept in [`last_error`](Self::last_error)).
    pub async fn campaign<F: Future<Output = ()>>(&self, shutdown: F) {
        let mut shutdown = pin!(shutdown.fuse());
        let mut deadline: Option<Instant> = None;
        loop {
            deadline = self.step(deadline).await;
            let next = Instant::now() + self.inner.renew_every;
            let wake_at = deadline.map_or(next, |d| d.min(next));
            tokio::select! {
                () = &mut shutdown => break,
                () = sleep_until(wake_at) => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.note_error(&"leader lease ran out before a renewal succeeded; stepped down");
                self.set(Leadership::Follower);
                deadline = None;
            }
        }
        if deadline.is_some() {
            if let Ok(Err(e)) = timeout(self.inner.renew_every, self.resign()).await {
                self.note_error(&e);
            }
        }
        self.set(Leadership::Follower);
    }

    /// One acquire or renew attempt, bounded in time; returns the new local deadline.
    async fn step(&self, deadline: Option<Instant>) -> Option<Instant> {
        let started = Instant::now();
        let budget = deadline
            .map_or(self.inner.renew_every, |d| d.saturating_duration_since(started).min(self.inner.renew_every));
        if deadline.is_some() {
            match timeout(budget, self.renew()).await {
                Ok(Ok(true)) => Some(started + self.inner.lease),
                Ok(Ok(false)) => None,
                Ok(Err(e)) => {
                    self.note_error(&e);
                    deadline
                }
                Err(_) => deadline,
            }
        } else {
            match timeout(budget, self.try_acquire()).await {
                Ok(Ok(Some(_))) => Some(started + self.inner.lease),
                Ok(Ok(None)) | Err(_) => None,
                Ok(Err(e)) => {
                    self.note_error(&e);
                    None
                }
            }
        }
    }
}

/// Runs `scheduler`'s loop only while `elector` leads, until `shutdown` completes.
///
/// Waits to be elected, then runs [`Scheduler::run_until`] until deposed (or shutdown),
/// then waits to be elected again, reusing the same scheduler. When deposed, the cycle
/// in flight may finish for up to a third of the lease; after that it is dropped (its
/// budget writes would be refused by the term anyway). A never-lead elector never
/// cycles. The `elector`'s [`campaign`](Elector::campaign) must run alongside.
pub async fn run_as_leader<T, S, W, C, P, B, A, O, F>(
    scheduler: &mut Scheduler<T, S, W, C, P, B, A, O>,
    elector: &Elector,
    shutdown: F,
) where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    C: Timer,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
    O: Observer,
    F: Future<Output = ()>,
{
    let mut shutdown = pin!(shutdown.fuse());
    let mut leadership = elector.subscribe();
    let grace = elector.renew_every();
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            elected = leadership.wait_for(Leadership::is_leader) => if elected.is_err() { return },
        }
        let mut stop = false;
        let mut deposed = elector.subscribe();
        let mut deposed_too = elector.subscribe();
        let stopping = async {
            tokio::select! {
                () = &mut shutdown => stop = true,
                _ = deposed.wait_for(|l| !l.is_leader()) => {}
            }
        };
        let cycling = scheduler.run_until(stopping);
        let cut_off = async {
            let _ = deposed_too.wait_for(|l| !l.is_leader()).await;
            sleep(grace).await;
        };
        tokio::select! {
            () = cycling => {}
            () = cut_off => {}
        }
        if stop {
            return;
        }
    }
}

/// Spawns [`run_as_leader`] on the current tokio runtime and hands the scheduler back
/// when `shutdown` completes (or the task is aborted: then it is dropped).
///
/// # Panics
/// Outside a tokio runtime.
pub fn spawn_as_leader<T, S, W, C, P, B, A, O, F>(
    mut scheduler: Scheduler<T, S, W, C, P, B, A, O>,
    elector: Elector,
    shutdown: F,
) -> tokio::task::JoinHandle<Scheduler<T, S, W, C, P, B, A, O>>
where
    T: TaskSource + 'static,
    S: SessionSource + 'static,
    W: Waker<T::Run, S::Session> + 'static,
    C: Timer + 'static,
    P: PauseStore + 'static,
    B: StarvationStore + 'static,
    A: EscalationActor<T::Run> + 'static,
    O: Observer + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let run: std::pin::Pin<Box<dyn Future<Output = Scheduler<T, S, W, C, P, B, A, O>> + Send>> = Box::pin(async move {
        run_as_leader(&mut scheduler, &elector, shutdown).await;
        scheduler
    });
    tokio::spawn(run)
}
