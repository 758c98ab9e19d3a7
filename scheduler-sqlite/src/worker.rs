//! The threads that own the connections.
//!
//! SQLite calls block, so they never run on the caller's (possibly async) thread: one
//! *writer* thread owns the write connection, and a small pool of *reader* threads own
//! one read connection each. A call sends a closure over a channel to the right pool
//! and awaits the answer on a [`futures::channel::oneshot`], which works on any
//! executor, or none (`futures::executor::block_on`). Dropping the last handle of a
//! store closes the channels, and the threads finish their queued work and exit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use futures::channel::oneshot;
use rusqlite::Connection;

use crate::error::Error;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// The channels into the writer and reader threads.
#[derive(Debug)]
pub(crate) struct Workers {
    writer: mpsc::Sender<Job>,
    /// `None`: reads go to the writer too (an in-memory store, or `readers(0)`).
    readers: Option<mpsc::Sender<Job>>,
}

impl Workers {
    /// Starts one thread for `writer` and one per connection in `readers`.
    pub(crate) fn start(writer: Connection, readers: Vec<Connection>) -> std::io::Result<Workers> {
        let writer = spawn_pool("scheduler-sqlite-writer", vec![writer])?;
        let readers = if readers.is_empty() { None } else { Some(spawn_pool("scheduler-sqlite-reader", readers)?) };
        Ok(Workers { writer, readers })
    }

    /// Runs `job` on the writer thread.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        call(&self.writer, "writer", job).await
    }

    /// Runs `job` on a reader thread (the writer when there are no readers).
    pub(crate) async fn read<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => call(readers, "reader", job).await,
            None => call(&self.writer, "writer", job).await,
        }
    }
}

async fn call<T, F>(pool: &mpsc::Sender<Job>, name: &'static str, job: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
{
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move |conn| {
        // The caller may have given up waiting; the answer is dropped then.
        let _ = tx.send(job(conn));
    });
    pool.send(job).map_err(|_| Error::WorkerGone(name))?;
    rx.await.map_err(|_| Error::WorkerGone(name))?
}

fn spawn_pool(name: &str, connections: Vec<Connection>) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for (i, conn) in connections.into_iter().enumerate() {
        let rx = Arc::clone(&rx);
        thread::Builder::new().name(format!("{name}-{i}")).spawn(move || serve(conn, &rx))?;
    }
    Ok(tx)
}

fn serve(mut conn: Connection, rx: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|poison| poison.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        // A panicking job answers nobody (its caller sees `WorkerGone`); an open
        // transaction it left behind is rolled back, and the thread serves on.
        if catch_unwind(AssertUnwindSafe(|| job(&mut conn))).is_err() && !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
    }
}
