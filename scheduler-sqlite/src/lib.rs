//! An embedded, durable task service for [`scheduler_core`] over SQLite: runs and
//! their leases, the session registry, the pause flag and the starvation budgets, in
//! one database file that survives restarts.
//!
//! # Wiring a durable scheduler
//!
//! Open a [`Store`] once, hand its handles to the scheduler, and let each session
//! register, listen on its mailbox and claim when woken (the same code as the
//! repository README's section "A durable scheduler over SQLite"):
//!
//! ```
//! # use std::time::{Duration, SystemTime};
//! # use scheduler_core::lease::{ClaimRequest, LeaseService, RunSpec, SessionRegistry, SessionSpec, TaskSpec};
//! use scheduler_core::Scheduler;
//! use scheduler_sqlite::Store;
//! use scheduler_tokio::TokioClock;
//! use scheduler_tokio::mailbox::{MailboxWaker, Mailboxes};
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("scheduler.db");
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! # let now = SystemTime::now();
//! # let lease_for = Duration::from_secs(60);
//!
//! let store = Store::open(&path)?; // migrations, WAL, busy timeout
//! let mailboxes = Mailboxes::default(); // one mailbox per session, in process
//! let scheduler = Scheduler::builder(store.tasks(), store.sessions(), MailboxWaker::new(mailboxes.clone()))
//!     .clock(TokioClock::new())
//!     .pause_store(store.pause())
//!     .ladder(store.budgets(), store.escalation())
//!     .build()?;
//!
//! // A session registers and listens; work arrives; the scheduler wakes the session, which claims.
//! store.sessions().register(&SessionSpec::active("sess-1").caps(["rust"]), now).await?;
//! let mut inbox = mailboxes.register("sess-1");
//! store.tasks().enqueue(&TaskSpec::new("task-1"), &RunSpec::new("run-1").caps(["rust"]), now).await?;
//! let handle = scheduler_tokio::spawn(scheduler)?; // a cycle now, then one every 15 s
//! let wake = inbox.recv().await.expect("a wake");
//! let lease = store.tasks().claim(&ClaimRequest::session("sess-1").caps(["rust"]), lease_for, now).await?;
//! # assert_eq!(wake.run_id, "run-1");
//! # assert_eq!(lease.expect("the run").run_id, "run-1");
//! # handle.shutdown_within(Duration::from_secs(5)).await?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # What each handle is
//!
//! | handle | implements | for |
//! | --- | --- | --- |
//! | [`Store::tasks`] → [`Tasks`] | [`TaskSource`](scheduler_core::seam::TaskSource), [`LeaseService`](scheduler_core::lease::LeaseService) | the scheduler's reads and sweep; sessions' enqueue, claim, start, heartbeat, complete, fail, release |
//! | [`Store::sessions`] → [`Sessions`] | [`SessionSource`](scheduler_core::seam::SessionSource), [`SessionRegistry`](scheduler_core::lease::SessionRegistry) | live sessions, both sides |
//! | [`Store::pause`] → [`Pause`] | [`PauseStore`](scheduler_core::seam::PauseStore), [`PauseControl`](scheduler_core::lease::PauseControl) | the scheduler-wide pause; claims refuse while it is on |
//! | [`Store::budgets`] → [`Budgets`] | [`StarvationStore`](scheduler_core::seam::StarvationStore) | the convergence ladder's budgets, kept across restarts |
//! | [`Store::escalation`] → [`Escalation`] | [`EscalationActor`](scheduler_core::seam::EscalationActor) | marks needs-attention, logs starved events, hands spawn requests to your launcher |
//!
//! Handles are cheap to clone and share one set of connections. Every rule of the
//! task-service contract holds across handles of one store, across independent
//! [`Store`]s opened on one file, and across processes on one file.
//!
//! # How it works
//!
//! - **Threads, not the executor.** SQLite calls block. Each store owns one writer
//!   thread (the write connection) and a small pool of reader threads (one read
//!   connection each, [`Options::readers`]); a call sends a closure to them and awaits
//!   a `futures` oneshot. So the handles work on any async runtime, on a
//!   current-thread one, or with no runtime at all (`futures::executor::block_on`).
//!   One caveat: under tokio's *paused* test clock, a runtime with nothing else to do
//!   while it awaits the store may auto-advance its clock; simulations on paused time
//!   should pass their own `now` (as every method here takes one) rather than rely on
//!   no time passing during a call.
//! - **One writer at a time.** Every write runs in a `BEGIN IMMEDIATE` transaction: it
//!   takes the database's write lock before reading, so a claim's choice and its update
//!   are one atomic step, across connections and processes. Contention waits up to the
//!   busy timeout ([`Options::busy_timeout`]); WAL lets readers go on meanwhile. Writes
//!   waiting at the writer share one transaction (group commit), each in its own
//!   savepoint, so one that fails is rolled back alone, and every caller is answered
//!   only after the commit.
//! - **Claims in SQL.** The scheduler's eligibility rules (scope, channel, owner,
//!   capabilities, task status and pause) and the claim order (priority rank, unknown as
//!   medium, then queued-at, then run id) are one query that walks an index in claim
//!   order and stops at the first run the session may take ([`claim`](self) module
//!   docs in the source). Required capabilities live in a side table; the session's
//!   are passed as one JSON array.
//! - **Cheap steady cycles.** A revision counter bumped by triggers in every write lets
//!   an unchanged store answer the scheduler's full reads with one query, and a changed
//!   one with the runs that changed since the last read (each change stamps its run with
//!   the new revision; see the source's `cache` module).
//! - **Data, never SQL.** Every id, name and capability is bound as a parameter. Ids
//!   are trimmed; text with a NUL byte is refused as
//!   [`InvalidInput`](scheduler_core::lease::ErrorKind::InvalidInput) naming the field.
//!   Times are integer nanoseconds since the Unix epoch (UTC), always the caller's `now`.
//! - **Safe opening.** [`Store::open`] refuses a missing directory, a read-only file,
//!   a file that is not a SQLite database, another application's database and a
//!   database of a newer schema version, naming the path and the problem, before it
//!   changes anything in the file. Migrations are embedded and versioned
//!   ([`SCHEMA_VERSION`]).

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod budgets;
mod cache;
mod claim;
mod error;
mod escalation;
mod lease;
mod pause;
mod rows;
mod runs;
mod schema;
mod sessions;
mod store;
mod tasks;
mod value;
mod worker;

pub use budgets::Budgets;
pub use error::{Error, OpenProblem};
pub use escalation::{Escalation, SpawnRequest, Spawner};
pub use pause::Pause;
pub use rows::{ActiveRun, PendingRun, RecoveredRun};
pub use schema::SCHEMA_VERSION;
pub use sessions::Sessions;
pub use store::{Options, Store};
pub use tasks::Tasks;
