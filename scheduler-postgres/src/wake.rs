//! Wakes across daemons: the leader's [`PgWaker`] writes each wake to an outbox row and
//! notifies the hosting daemon's channel; every daemon's [`Listener`] hears the
//! notification on a dedicated connection, takes its wakes from the outbox and hands
//! them to its sessions' in-process [`Mailboxes`].
//!
//! The outbox, not the notification, carries the wake: ids can be far longer than
//! `NOTIFY`'s 8000-byte payload, and a notification sent while a listener was
//! reconnecting is lost, while the row is not. After a lost connection the listener
//! re-listens and drains the outbox, and it also polls every
//! [`ListenerConfig::poll_every`], so a wake can be late but is never lost for good.
//!
//! **Transaction-pooling proxies break `LISTEN`**: PgBouncer in transaction mode (and
//! similar poolers) hand the listening server connection to other clients after each
//! transaction, so notifications never reach the listener. [`Listener::start`] detects
//! this with a self-test (a `NOTIFY` sent through the pool must arrive on the listening
//! connection within [`ListenerConfig::self_test_timeout`]) and fails with
//! [`Error::ListenSelfTest`] instead of degrading silently to polling. Point the
//! listener at the server itself, or a session-mode pool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use scheduler_core::seam::{WakeBatch, WakeTarget, Waker};
use scheduler_core::view::{RunView, SessionView};
use scheduler_tokio::mailbox::{Mailboxes, Wake};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{sleep, timeout};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::error::Error;
use crate::rows::PgSession;
use crate::store::Store;

/// The channel name of a daemon's wakes: a hash of the schema and the daemon id, so any
/// id (however long, whatever its characters) names a valid, short identifier.
const CHANNEL_SQL: &str = "SELECT 'sw_' || left(md5($1 || '/' || $2), 24)";

const SEND_SQL: &str = "\
WITH sent AS (
    INSERT INTO wakes (daemon_id, run_id, task_id, session_id, reason)
    SELECT d, r, t, s, $5 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(d, r, t, s)
    RETURNING daemon_id
)
SELECT pg_notify('sw_' || left(md5($6 || '/' || daemon_id), 24), '') FROM (SELECT DISTINCT daemon_id FROM sent) AS d";

const TAKE_SQL: &str = "\
WITH taken AS (DELETE FROM wakes WHERE daemon_id = $1 RETURNING id, run_id, task_id, session_id, reason)
SELECT run_id, task_id, session_id, reason FROM taken ORDER BY id";

/// The leader's waker: each wake goes to the outbox of the daemon hosting the target
/// session, and that daemon is notified; one statement per batch.
///
/// A successful wake means the wake is stored for the hosting daemon; whether that
/// daemon's session still has a mailbox is counted by its [`Listener`].
#[derive(Debug, Clone)]
pub struct PgWaker {
    store: Store,
}

impl PgWaker {
    /// A waker over `store`'s outbox.
    pub fn new(store: &Store) -> Self {
        PgWaker { store: store.clone() }
    }

    async fn send<R: RunView + Sync>(&self, batch: WakeBatch<'_, R, PgSession>) -> Result<(), Error> {
        const STEP: &str = "sending wakes";
        let mut columns: [Vec<&str>; 4] = Default::default();
        for t in batch.iter() {
            columns[0].push(&t.session.daemon_id);
            columns[1].push(t.run.run_id().trim());
            columns[2].push(t.run.task_id().trim());
            columns[3].push(t.session.spec.session_id.trim());
        }
        let reason = batch.get(0).map_or("", |t| t.reason);
        let client = self.store.client(STEP).await?;
        let statement = client.prepare_cached(SEND_SQL).await.map_err(Error::db(STEP))?;
        let schema = self.store.schema();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] =
            [&columns[0], &columns[1], &columns[2], &columns[3], &reason, &schema];
        client.query(&statement, &params).await.map_err(Error::db(STEP)).map(drop)
    }
}

impl<R: RunView + Sync> Waker<R, PgSession> for PgWaker {
    type Error = Error;

    async fn wake(&self, target: WakeTarget<'_, R, PgSession>) -> Result<(), Error> {
        let pairs = [(0, 0)];
        let batch = WakeBatch::new(
            std::slice::from_ref(target.run),
            std::slice::from_ref(target.session),
            &pairs,
            target.reason,
        );
        self.send(batch).await
    }

    async fn wake_batch<'a>(&'a self, batch: WakeBatch<'a, R, PgSession>, out: &'a mut Vec<Result<(), Error>>)
    where
        R: Sync,
        PgSession: Sync,
    {
        match self.send(batch).await {
            Ok(()) => out.extend(batch.iter().map(|_| Ok(()))),
            Err(e) => {
                let cause = e.to_string();
                out.extend(batch.iter().map(|t| {
                    Err(Error::WakeNotSent {
                        session_id: t.session.session_id().to_owned(),
                        run_id: t.run.run_id().to_owned(),
                        cause: cause.clone(),
                    })
                }));
            }
        }
    }
}

/// How a [`Listener`] behaves.
#[derive(Debug, Clone, Copy)]
pub struct ListenerConfig {
    /// How often the outbox is polled even without a notification (default 2 s): the
    /// upper bound on a wake's lateness while notifications are lost.
    pub poll_every: Duration,
    /// How long the start-up self-test waits for its own notification (default 5 s).
    pub self_test_timeout: Duration,
    /// The first wait before reconnecting a lost listening connection (default 100
    /// ms); it doubles up to `poll_every`.
    pub reconnect_after: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            poll_every: Duration::from_secs(2),
            self_test_timeout: Duration::from_secs(5),
            reconnect_after: Duration::from_millis(100),
        }
    }
}

/// What a listener has done so far.
#[derive(Debug, Default)]
pub struct ListenerStats {
    delivered: AtomicU64,
    undeliverable: AtomicU64,
    reconnects: AtomicU64,
    drains: AtomicU64,
    errors: AtomicU64,
}

impl ListenerStats {
    /// Wakes handed to a mailbox.
    pub fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }
    /// Wakes whose session had no open mailbox, or a full one (the scheduler wakes
    /// again after its cooldown).
    pub fn undeliverable(&self) -> u64 {
        self.undeliverable.load(Ordering::Relaxed)
    }
    /// Times the listening connection was re-established.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
    /// Times the outbox was read.
    pub fn drains(&self) -> u64 {
        self.drains.load(Ordering::Relaxed)
    }
    /// Failed reads or connection attempts (the listener keeps going).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

/// A daemon's listener: a dedicated (non-pooled) connection that `LISTEN`s on the
/// daemon's channel, and a task that drains the daemon's outbox into its
/// [`Mailboxes`]. Dropping the handle stops the task.
#[derive(Debug)]
pub struct Listener {
    task: Option<JoinHandle<()>>,
    stop: Option<oneshot::Sender<()>>,
    stats: Arc<ListenerStats>,
}

/// The listening connection: the client keeps it open, `notes` hears its
/// notifications' payloads and ends when the connection does.
struct Connection {
    client: Client,
    notes: mpsc::UnboundedReceiver<String>,
}

struct Worker {
    store: Store,
    mailboxes: Mailboxes,
    config: ListenerConfig,
    channel: String,
    stats: Arc<ListenerStats>,
}

impl Listener {
    /// Connects, listens, runs the self-test, delivers what is waiting in the outbox,
    /// and starts the listening task.
    ///
    /// # Errors
    /// [`Error::Database`] when the listening connection cannot be opened,
    /// [`Error::ListenSelfTest`] when notifications do not arrive (a
    /// transaction-pooling proxy, see the [crate docs](crate#wakes-across-daemons)), [`Error::Pool`].
    pub async fn start(store: &Store, mailboxes: Mailboxes, config: ListenerConfig) -> Result<Listener, Error> {
        let channel = channel_of(store, store.daemon_id()).await?;
        let stats = Arc::new(ListenerStats::default());
        let worker = Worker { store: store.clone(), mailboxes, config, channel, stats: Arc::clone(&stats) };
        let mut connection = worker.connect().await?;
        worker.self_test(&mut connection).await?;
        worker.drain().await?;
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(worker.run(connection, stopped));
        Ok(Listener { task: Some(task), stop: Some(stop), stats })
    }

    /// What the listener has done so far.
    pub fn stats(&self) -> &ListenerStats {
        &self.stats
    }

    /// Stops the listener and waits for its task to end.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// The notification channel of `daemon_id` in `store`'s schema.
async fn channel_of(store: &Store, daemon_id: &str) -> Result<String, Error> {
    const STEP: &str = "naming the wake channel";
    let client = store.client(STEP).await?;
    let row = client.query_one(CHANNEL_SQL, &[&store.schema(), &daemon_id]).await.map_err(Error::db(STEP))?;
    Ok(row.get(0))
}

impl Worker {
    async fn connect(&self) -> Result<Connection, Error> {
        const STEP: &str = "opening the listening connection";
        let mut config = self.store.config().connection();
        config.application_name(self.store.config().application_name(" listener"));
        let (client, mut connection) = config.connect(NoTls).await.map_err(Error::db(STEP))?;
        let (tx, notes) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(n) = message {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
            }
        });
        // The channel is `sw_` and hex digits: a valid identifier as it is.
        client.batch_execute(&format!("LISTEN {}", self.channel)).await.map_err(Error::db(STEP))?;
        Ok(Connection { client, notes })
    }

    /// Sends a notification through the pool and waits for it on `connection`.
    async fn self_test(&self, connection: &mut Connection) -> Result<(), Error> {
        const STEP: &str = "the LISTEN self-test";
        let nonce = scheduler_core::lease::ClaimToken::generate();
        let payload = format!("self-test {}", nonce.expose_secret());
        let client = self.store.client(STEP).await?;
        client.execute("SELECT pg_notify($1, $2)", &[&self.channel, &payload]).await.map_err(Error::db(STEP))?;
        drop(client);
        let wait = async {
            while let Some(note) = connection.notes.recv().await {
                if note == payload {
                    return true;
                }
            }
            false
        };
        match timeout(self.config.self_test_timeout, wait).await {
            Ok(true) => Ok(()),
            _ => Err(Error::ListenSelfTest(format!(
                "a NOTIFY sent through the pool did not reach the listening connection within {:?}; \
                 a transaction-pooling proxy (PgBouncer in transaction mode, say) drops LISTEN: \
                 connect to the server itself or to a session-mode pool",
                self.config.self_test_timeout
            ))),
        }
    }

    /// Takes every wake waiting for this daemon and hands each to its mailbox.
    async fn drain(&self) -> Result<(), Error> {
        const STEP: &str = "taking wakes from the outbox";
        let client = self.store.client(STEP).await?;
        let rows = client.query(TAKE_SQL, &[&self.store.daemon_id()]).await.map_err(Error::db(STEP))?;
        self.stats.drains.fetch_add(1, Ordering::Relaxed);
        for row in &rows {
            let wake = Wake::new(
                row.get::<_, String>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, String>(3),
            );
            let counter = match self.mailboxes.deliver(wake) {
                Ok(()) => &self.stats.delivered,
                Err(_) => &self.stats.undeliverable,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn drain_logged(&self) {
        if self.drain().await.is_err() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        // Now and then, forget wakes no daemon took for an hour (their daemon is gone).
        if self.stats.drains() % 64 == 1 && self.purge().await.is_err() {
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn purge(&self) -> Result<u64, Error> {
        const STEP: &str = "purging abandoned wakes";
        let client = self.store.client(STEP).await?;
        let sql = "DELETE FROM wakes WHERE created_at < clock_timestamp() - interval '1 hour'";
        client.execute(sql, &[]).await.map_err(Error::db(STEP))
    }

    async fn run(self, mut connection: Connection, mut stopped: oneshot::Receiver<()>) {
        loop {
            tokio::select! {
                _ = &mut stopped => return,
                note = connection.notes.recv() => match note {
                    Some(_) => {
                        while connection.notes.try_recv().is_ok() {}
                        self.drain_logged().await;
                    }
                    None => match self.reconnect(&mut stopped).await {
                        Some(fresh) => connection = fresh,
                        None => return,
                    },
                },
                () = sleep(self.config.poll_every) => {
                    if connection.client.is_closed() {
                        match self.reconnect(&mut stopped).await {
                            Some(fresh) => connection = fresh,
                            None => return,
                        }
                    } else {
                        self.drain_logged().await;
                    }
                }
            }
        }
    }

    /// Re-establishes the listening connection (with backoff), then drains the outbox
    /// for what was sent meanwhile. `None` when stopped.
    async fn reconnect(&self, stopped: &mut oneshot::Receiver<()>) -> Option<Connection> {
        let mut wait = self.config.reconnect_after;
        loop {
            tokio::select! {
                _ = &mut *stopped => return None,
                () = sleep(wait) => {}
            }
            match self.connect().await {
                Ok(connection) => {
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.drain_logged().await;
                    return Some(connection);
                }
                Err(_) => {
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    wait = (wait * 2).min(self.config.poll_every.max(self.config.reconnect_after));
                }
            }
        }
    }
}
