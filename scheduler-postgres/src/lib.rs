//! A PostgreSQL backend for `scheduler-core`: many daemons over one database, one
//! leader running the scheduler's cycle, and wakes delivered across daemons.
//!
//! A fleet outgrows one daemon long before it outgrows one database. With this crate any
//! number of daemons share one PostgreSQL schema: each hosts its own agent sessions,
//! every session claims work through the same atomic task service, exactly one daemon
//! at a time (the elected leader) runs the scheduler's cycle, and the leader's wakes
//! reach sessions on whichever daemon hosts them.
//!
//! # Wiring one daemon
//!
//! ```no_run
//! use std::time::Duration;
//! use scheduler_core::Scheduler;
//! use scheduler_postgres::{Config, Elector, Listener, ListenerConfig, PgWaker, Store, spawn_as_leader};
//! use scheduler_tokio::{TokioClock, mailbox::Mailboxes};
//!
//! # async fn daemon() -> Result<(), Box<dyn std::error::Error>> {
//! # let my_escalation_actor = scheduler_testkit::escalation::RecordingActor::new();
//! let config = Config::new("postgres://postgres@127.0.0.1:5432/test")?.schema("fleet")?.daemon_id("host-1")?;
//! let store = Store::connect(config).await?;             // pool + migrations
//! let mailboxes = Mailboxes::new(64);                     // this daemon's sessions register here
//! let listener = Listener::start(&store, mailboxes.clone(), ListenerConfig::default()).await?;
//! let elector = Elector::new(&store, Duration::from_secs(10));
//! let scheduler = Scheduler::builder(store.tasks(), store.sessions(), PgWaker::new(&store))
//!     .clock(TokioClock::new())
//!     .pause_store(store.pause())
//!     .ladder(elector.budgets(), my_escalation_actor)     // budgets fenced by the leader's term
//!     .build()?;
//! let campaign = tokio::spawn({ let e = elector.clone(); async move { e.campaign(std::future::pending()).await } });
//! let cycling = spawn_as_leader(scheduler, elector, std::future::pending());
//! // Sessions: store.sessions().register(..), mailboxes.register(id), then claim through
//! // store.tasks() whenever their mailbox says there may be work.
//! # drop((listener, campaign, cycling)); Ok(()) }
//! ```
//!
//! # The handles
//!
//! [`Store::connect`] opens a connection pool and migrates the schema; its handles are
//! cheap clones sharing that pool:
//!
//! | handle | implements | for |
//! | --- | --- | --- |
//! | [`Store::tasks`] → [`Tasks`] | `TaskSource`, `LeaseService` | the scheduler's reads and sweep; sessions' enqueue, claim, start, heartbeat, complete, fail, release |
//! | [`Store::sessions`] → [`Sessions`] | `SessionSource`, `SessionRegistry` | the registry; rows carry the hosting daemon's id |
//! | [`Store::pause`] → [`Pause`] | `PauseStore`, `PauseControl` | the scheduler-wide pause (claims read it too) |
//! | [`Store::budgets`] / [`Elector::budgets`] → [`Budgets`] | `StarvationStore` | the ladder's durable budgets, unfenced / fenced by the leader's term |
//!
//! Every rule of the task-service contract holds across daemons, because the database
//! decides: a claim is one statement that picks the best eligible run in SQL (scope,
//! channel, owner, capabilities with `<@`; priority desc, queued-at asc, run id asc over
//! an index) and locks it with `FOR UPDATE SKIP LOCKED`; a partial unique index on the
//! holder of `claimed`/`starting`/`running` runs makes two leases for one session
//! impossible; the sweep is one statement. Times are always the caller's `now` (never the
//! database clock), stored as `timestamptz` (microseconds). Claim tokens are stored as
//! their SHA-256 only.
//!
//! Every id, name and capability is bound as a parameter, never spliced into SQL. Text
//! PostgreSQL cannot store (a NUL byte) is refused as `InvalidInput` naming the field;
//! run, task and session ids (primary keys and unique index entries) are limited to
//! [`MAX_ID_BYTES`]; other text (capabilities, reasons, diagnostics) has no limit.
//!
//! # Schema and migrations
//!
//! Everything lives in one schema ([`Config::schema`], default `scheduler`), set as the
//! connections' `search_path`. Migrations are embedded and versioned
//! ([`SCHEMA_VERSION`]); [`Store::connect`] applies the missing ones in one transaction
//! under an advisory lock, so daemons starting together migrate once. A schema migrated
//! by a newer crate is refused ([`Error::SchemaTooNew`]). A missing schema is created,
//! unless [`Config::create_schema`] is `false`, where it is an error
//! ([`Error::MissingSchema`]) for deployments whose DDL a person owns.
//!
//! # One leader
//!
//! Every daemon runs an [`Elector`] campaign; the one holding the `leader` row's lease
//! leads, and [`run_as_leader`] / [`spawn_as_leader`] run the core's loop only while it
//! does (stopping when deposed, resuming when elected again). The lease is a row with an
//! epoch (the term) that grows with every change of leader, renewed every third of the
//! lease period and taken over when it expired by the database's clock (so daemons'
//! clock skew does not matter). This is River's design (a leader table with terms)
//! rather than awa's `pg_try_advisory_lock`: an advisory lock belongs to a database
//! session, which a connection pool hides and recycles, and it has no term to fence
//! writes with. A leader counts its lease from before it sent the renewal, so it stops
//! cycling within one lease period of losing it, before anyone else can take over.
//!
//! The ladder is fenced: [`Elector::budgets`] reads and writes only while this daemon's
//! term is the current, unexpired one (checked in the same transaction, under a share
//! lock on the leader row), so a deposed leader, even one stalled and unaware, cannot
//! climb the ladder or request a spawn from a budget it loads after losing the term.
//! A crash repeats at most the escalations of the one cycle in flight. A daemon built
//! with [`Elector::never_lead`] never leads. The scheduler never claims, so the worst a
//! split brain could do is send extra advisory wakes; claims stay exact in every case.
//!
//! # Wakes across daemons
//!
//! The leader's [`PgWaker`] writes each wake to an outbox table, addressed to the
//! daemon hosting the target session, and `NOTIFY`s that daemon's channel (one
//! statement per cycle). Every daemon's [`Listener`] `LISTEN`s on a dedicated,
//! non-pooled connection, takes its wakes from the outbox and hands them to its
//! sessions' [`Mailboxes`](scheduler_tokio::mailbox::Mailboxes). The outbox carries the
//! wake, not the notification: ids may exceed `NOTIFY`'s 8000-byte payload, and a
//! notification sent while a listener reconnects is lost while the row is not. After a
//! lost connection the listener re-listens and drains the outbox, and it polls every
//! [`ListenerConfig::poll_every`] besides: a wake can be late, never lost for good.
//! (Wakes for a daemon that never comes back are purged after an hour; its sessions
//! should be marked gone with `SessionRegistry::mark_stale`, fed by sessions' `touch`.)
//!
//! **A transaction-pooling proxy breaks `LISTEN`.** PgBouncer in transaction mode (and
//! poolers like it) hands the server connection that ran `LISTEN` to other clients after
//! each transaction, so notifications never arrive. [`Listener::start`] runs a
//! self-test (a `NOTIFY` through the pool must reach the listening connection within
//! [`ListenerConfig::self_test_timeout`]) and fails with [`Error::ListenSelfTest`]
//! rather than degrade silently. Point the daemons at the server, or a session-mode
//! pool.
//!
//! # Errors
//!
//! [`Error`] implements the core's `ServiceError`: contract refusals map to their
//! kinds; a server that cannot be reached, refuses the credentials, drops a connection
//! or times out is `ErrorKind::Unavailable`, with a message that names the step and the
//! server (`host:port as user`, never the password). A dropped connection costs the call
//! in flight; the pool replaces the connection and the next call (the next cycle) works.
//!
//! # Driver
//!
//! `tokio-postgres` with `deadpool-postgres`: async-native, notifications straight from
//! the connection's message stream (which `LISTEN` needs), prepared-statement caching
//! per pooled connection, and a lighter build than `sqlx` (no macros, no compile-time
//! database). The pool recycles a connection after a cheap "is it closed?" check, so a
//! killed backend costs one failed call, not a stuck daemon.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod budgets;
mod config;
mod error;
mod leader;
mod pause;
mod rows;
mod sessions;
mod store;
mod tasks;
mod text;
mod wake;

pub use budgets::Budgets;
pub use config::{Config, MAX_DAEMON_ID_BYTES};
pub use error::Error;
pub use leader::{Elector, LeaderRow, Leadership, run_as_leader, spawn_as_leader};
pub use pause::Pause;
pub use rows::{PgActiveRun, PgRun, PgSession, RecoveredRun};
pub use sessions::Sessions;
pub use store::{SCHEMA_VERSION, Store};
pub use tasks::Tasks;
pub use text::MAX_ID_BYTES;
pub use wake::{Listener, ListenerConfig, ListenerStats, PgWaker};
