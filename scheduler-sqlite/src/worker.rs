//! The threads that own the connections.
//!
//! SQLite calls block, so they never run on the caller's (possibly async) thread: one
//! *writer* thread owns the write connection, and a small pool of *reader* threads own
//! one read connection each. A call sends a closure over a channel to the right pool
//! and awaits the answer on a [`futures::channel::oneshot`], which works on any
//! executor, or none (`futures::executor::block_on`). Dropping the last handle of a
//! store closes the channels, and the threads finish their queued work and exit.
//!
//! **Group commit.** The writer takes every write waiting in its queue (up to
//! [`BATCH`]) and runs them in one `BEGIN IMMEDIATE` transaction, each inside its own
//! savepoint: a write that fails is rolled back to its savepoint alone, and every
//! answer is sent only after the transaction committed (or with the commit's error,
//! when it did not). Writes stay one at a time and in order; under load they share a
//! commit.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;

use futures::channel::oneshot;
use rusqlite::Connection;

use crate::error::Error;

/// At most this many writes share one transaction.
pub(crate) const BATCH: usize = 64;

type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// A write: runs its statements (or, given the error that kept the transaction from
/// starting, runs nothing), says whether they succeeded, and hands back how to answer
/// once the transaction's fate is known (`Some(error)`: the commit failed).
type WriteJob = Box<dyn FnOnce(Result<&Connection, String>) -> (bool, Answer) + Send>;
type Answer = Box<dyn FnOnce(Option<String>) + Send>;

enum Job {
    Read(ReadJob),
    Write(WriteJob),
}

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

    /// Runs `job` in the writer's immediate transaction (shared with other waiting
    /// writes; see the module docs). An `Err` rolls back everything `job` did.
    pub(crate) async fn write<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = match conn {
                Ok(conn) => job(conn),
                Err(message) => Err(Error::Transaction { message }),
            };
            let ok = result.is_ok();
            let answer: Answer = Box::new(move |commit_error| {
                let result = match commit_error {
                    Some(message) if ok => Err(Error::Transaction { message }),
                    _ => result,
                };
                let _ = tx.send(result);
            });
            (ok, answer)
        });
        self.writer.send(Job::Write(job)).map_err(|_| Error::WorkerGone("writer"))?;
        rx.await.map_err(|_| Error::WorkerGone("writer"))?
    }

    /// Runs `job` on a reader thread (the writer when there are no readers).
    pub(crate) async fn read<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    {
        let (pool, name) = match &self.readers {
            Some(readers) => (readers, "reader"),
            None => (&self.writer, "writer"),
        };
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            // The caller may have given up waiting; the answer is dropped then.
            let _ = tx.send(job(conn));
        });
        pool.send(Job::Read(job)).map_err(|_| Error::WorkerGone(name))?;
        rx.await.map_err(|_| Error::WorkerGone(name))?
    }
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

/// Takes the next job (waiting for one) and every job already queued behind it, up to
/// [`BATCH`]; `None` once the channel is closed and empty.
fn next_jobs(rx: &Mutex<mpsc::Receiver<Job>>) -> Option<Vec<Job>> {
    let rx = rx.lock().unwrap_or_else(|poison| poison.into_inner());
    let first = rx.recv().ok()?;
    let mut jobs = vec![first];
    while jobs.len() < BATCH {
        match rx.try_recv() {
            Ok(job) => jobs.push(job),
            Err(_) => break,
        }
    }
    Some(jobs)
}

fn serve(mut conn: Connection, rx: &Mutex<mpsc::Receiver<Job>>) {
    while let Some(jobs) = next_jobs(rx) {
        let mut writes = Vec::new();
        for job in jobs {
            match job {
                Job::Write(write) => writes.push(write),
                Job::Read(read) => {
                    commit_group(&conn, std::mem::take(&mut writes));
                    run_read(&mut conn, read);
                }
            }
        }
        commit_group(&conn, writes);
    }
}

fn run_read(conn: &mut Connection, read: ReadJob) {
    // A panicking job answers nobody (its caller sees `WorkerGone`); an open
    // transaction it left behind is rolled back, and the thread serves on.
    if catch_unwind(AssertUnwindSafe(|| read(conn))).is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// Runs `writes` in one immediate transaction, each in its own savepoint, then commits
/// and answers them all.
fn commit_group(conn: &Connection, writes: Vec<WriteJob>) {
    if writes.is_empty() {
        return;
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Nothing ran: every write answers with the error.
        let message = e.to_string();
        for write in writes {
            write(Err(message.clone())).1(None);
        }
        return;
    }
    let mut answers = Vec::with_capacity(writes.len());
    for write in writes {
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            answers.push(write(Err(e.to_string())).1);
            continue;
        }
        match catch_unwind(AssertUnwindSafe(|| write(Ok(conn)))) {
            Ok((ok, answer)) => {
                let end = if ok { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
                let _ = conn.execute_batch(end);
                answers.push(answer);
            }
            // A panicking write answers nobody (its caller sees `WorkerGone`).
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK TO job; RELEASE job");
            }
        }
    }
    let commit_error = conn.execute_batch("COMMIT").err().map(|e| e.to_string());
    if commit_error.is_some() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    for answer in answers {
        answer(commit_error.clone());
    }
}
