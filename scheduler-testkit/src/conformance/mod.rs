//! The conformance suite: does *your* task service, session registry, pause control and
//! starvation store keep the contract (`spec/task-service.md`) the scheduler and its
//! sessions rely on?
//!
//! Modelled on `object_store::integration`: every rule of the contract has a public
//! `async` check function, named after what it checks and reporting the rule it found
//! broken; [`run_all`] and [`run_area`] run them over a [`Backend`], **each check on a
//! fresh, empty store**, so one bug fails the checks of its own rule and not a cascade
//! of unrelated ones. The report lists every failure with its rule, what was expected
//! and what was observed, times written relative to the check's start (`T0+61s`).
//!
//! # Running the suite on your backend
//!
//! Your backend crate implements the core's traits on its own types (so no orphan rule
//! is in the way): [`LeaseService`],
//! [`SessionRegistry`],
//! [`PauseControl`] and
//! [`StarvationStore`]. Its
//! `tests/conformance.rs` only implements [`Backend`], the one trait of this crate it
//! needs. The complete recipe, `Cargo.toml` lines included, is the README's section
//! "Running the conformance suite against your task service"; the repository compiles
//! and runs exactly that file (`examples/recipe-backend`). The shape:
//!
//! ```
//! use scheduler_testkit::conformance::{self, Backend, Handles};
//! use scheduler_testkit::registry::MemorySessions;
//! use scheduler_testkit::service::MemoryTaskService;
//! use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};
//!
//! /// Fresh stores of the implementation under test (here the testkit's own).
//! struct MyBackend;
//!
//! /// One store: what every handle of it shares.
//! struct MyStore {
//!     tasks: MemoryTaskService,
//!     sessions: MemorySessions,
//!     budgets: MemoryStarvationStore,
//! }
//!
//! impl Backend for MyBackend {
//!     type Store = MyStore;
//!     type Tasks = MemoryTaskService;
//!     type Sessions = MemorySessions;
//!     type Pause = MemoryPauseStore;
//!     type Budgets = MemoryStarvationStore;
//!
//!     async fn create(&self) -> MyStore {
//!         MyStore {
//!             tasks: MemoryTaskService::new(),
//!             sessions: MemorySessions::new(),
//!             budgets: MemoryStarvationStore::new(),
//!         }
//!     }
//!
//!     async fn connect(&self, store: &MyStore) -> Handles<Self> {
//!         Handles {
//!             tasks: store.tasks.clone(),
//!             sessions: store.sessions.clone(),
//!             pause: store.tasks.pause_store().clone(),
//!             budgets: store.budgets.clone(),
//!         }
//!     }
//!
//!     fn independent_handles(&self) -> bool {
//!         true // every handle may be used from many threads at once
//!     }
//!     // `reopen` keeps its default (`None`): memory does not survive a restart, so the
//!     // durability checks are reported as skipped.
//! }
//!
//! # futures::executor::block_on(async {
//! let report = conformance::run_all(&MyBackend).await;
//! report.assert_ok(); // panics listing every failure, with its rule
//! assert!(report.skipped().iter().all(|(_, why)| *why == conformance::Skip::NoReopen));
//! # });
//! ```
//!
//! # What a `Backend` does, and why independent handles
//!
//! - [`create`](Backend::create) makes a fresh, empty store (a new SQLite file in a
//!   temporary directory, a new PostgreSQL schema or database);
//!   [`connect`](Backend::connect) opens a set of [`Handles`] on it: task service,
//!   session registry, pause control and starvation store, sharing that store.
//! - Every call of [`connect`](Backend::connect) on one store must hand out handles that
//!   see the same data. When they are also **independent** (their own connections or
//!   pools, as two daemons would have), say so with
//!   [`independent_handles`](Backend::independent_handles): the concurrency checks race
//!   claims, sweeps and heartbeats across such handles from several tasks and threads.
//!   A single connection that serialises every call proves nothing about atomicity: a
//!   claim that reads the best run and then updates it in a second statement is only
//!   wrong when another connection runs in between, which one serialised connection
//!   never lets happen. A backend whose handles are not independent gets those checks
//!   reported as *skipped*, never as passed.
//! - [`reopen`](Backend::reopen) opens a store again after every handle was dropped (a
//!   restart): the durability checks need it. A backend that cannot (memory) answers
//!   `None`, and those checks are reported as skipped.
//!
//! Setup that fails (a database that cannot be created) panics with a clear message:
//! this is test code, and a suite that cannot start has nothing to report.
//!
//! # Time
//!
//! Every check passes times explicitly (`now` parameters) as offsets from
//! [`T0`](support::T0_UNIX) (2026-01-01T00:00:00Z), some with milliseconds, so a store
//! must keep at least millisecond precision. Nothing sleeps. Scenario checks drive a
//! real [`Scheduler`](scheduler_core::Scheduler) with a [`FakeClock`](crate::clock::FakeClock).
//!
//! # Concurrency
//!
//! Each concurrency check races two ways, several rounds each: futures polled together
//! in one task (`join_all`, how an async client overlaps statements at every `.await`),
//! then calls started at once from several tokio tasks (inside a tokio runtime; use a
//! `multi_thread` runtime for real parallelism) or else from OS threads, each driving
//! its call with `futures::executor::block_on`. Every racer has its own handle from
//! [`connect`](Backend::connect).
//!
//! # Rules and checks
//!
//! | area | rule of `task-service.md` | rule id | check |
//! | --- | --- | --- | --- |
//! | Enqueue | enqueue makes the run `queued` with queued-at = `now` | `enqueue.queued` | [`enqueue_queues_the_run_at_now`](checks::enqueue_queues_the_run_at_now) |
//! | Enqueue | enqueueing an existing run id is an error and changes nothing, the task included | `enqueue.duplicate` | [`duplicate_enqueue_changes_nothing`](checks::duplicate_enqueue_changes_nothing) |
//! | Enqueue | runs of one task share it: a re-described task reaches all its runs | `enqueue.task_shared` | [`task_redescription_reaches_every_run`](checks::task_redescription_reaches_every_run) |
//! | Enqueue | an empty run or task id is refused (`InvalidInput`) | `enqueue.invalid_input` | [`enqueue_refuses_empty_ids`](checks::enqueue_refuses_empty_ids) |
//! | Enqueue | ids are compared exactly after trimming | `ids.trimmed` | [`ids_are_trimmed`](checks::ids_are_trimmed) |
//! | Enqueue | times are the caller's `now`, kept to the millisecond | `time.millis` | [`times_keep_milliseconds`](checks::times_keep_milliseconds) |
//! | Claims | claim leases the run: `claimed`, session, `lease_until = now + lease` | `claim.lease` | [`claim_hands_out_a_lease`](checks::claim_hands_out_a_lease) |
//! | Claims | best run: highest priority, oldest queued-at, smallest run id | `claim.order` | [`claim_takes_the_best_run`](checks::claim_takes_the_best_run) |
//! | Claims | unknown priority counts as medium | `claim.unknown_priority` | [`claim_ranks_unknown_priority_as_medium`](checks::claim_ranks_unknown_priority_as_medium) |
//! | Claims | claimable: queued, task not paused, not draft/blocked/canceled | `claim.claimable` | [`claim_skips_unclaimable_runs`](checks::claim_skips_unclaimable_runs) |
//! | Claims | only `queued` runs are claimable (an ended, unswept lease is not) | `claim.queued_only` | [`expired_unswept_lease_is_not_claimable`](checks::expired_unswept_lease_is_not_claimable) |
//! | Claims | scope matches (unknown scope matches nothing) | `claim.scope` | [`claim_matches_scope`](checks::claim_matches_scope) |
//! | Claims | channel matches | `claim.channel` | [`claim_matches_channel`](checks::claim_matches_channel) |
//! | Claims | owner matches (unknown kind or empty ref matches nothing) | `claim.owner` | [`claim_matches_owner`](checks::claim_matches_owner) |
//! | Claims | capabilities cover the required ones | `claim.capabilities` | [`claim_matches_capabilities`](checks::claim_matches_capabilities) |
//! | Claims | claims are refused while the scheduler-wide pause is on | `claim.paused` | [`claims_refused_while_paused`](checks::claims_refused_while_paused) |
//! | Claims | nothing to claim is an answer, not an error | `claim.none` | [`nothing_to_claim_is_none`](checks::nothing_to_claim_is_none) |
//! | Claims | an empty session id or an overflowing lease is refused | `claim.invalid_input` | [`claim_refuses_invalid_input`](checks::claim_refuses_invalid_input) |
//! | Claims | two concurrent claims never both win the same run | `claim.atomic` | [`claim_is_atomic`](checks::claim_is_atomic) |
//! | One lease per session | a session holding a `claimed`/`starting`/`running` run is busy; its claim is refused | `busy.one_lease` | [`busy_session_cannot_claim`](checks::busy_session_cannot_claim) |
//! | One lease per session | an ended lease not yet recovered keeps its session busy | `busy.expired_unswept` | [`expired_unswept_lease_keeps_session_busy`](checks::expired_unswept_lease_keeps_session_busy) |
//! | One lease per session | `release`, `complete`, `fail` and recovery free the session | `busy.freed` | [`ending_a_lease_frees_the_session`](checks::ending_a_lease_frees_the_session) |
//! | One lease per session | two concurrent claims by one session never both win | `busy.atomic` | [`one_session_wins_one_claim_at_a_time`](checks::one_session_wins_one_claim_at_a_time) |
//! | Tokens | every fenced operation refuses a wrong token | `token.fenced` | [`wrong_token_is_refused`](checks::wrong_token_is_refused) |
//! | Tokens | a refused operation changes nothing at all | `token.changes_nothing` | [`wrong_token_is_refused`](checks::wrong_token_is_refused) |
//! | Tokens | tokens compare exactly: no case folding, trimming or prefix match | `token.exact` | [`token_is_compared_exactly`](checks::token_is_compared_exactly) |
//! | Tokens | a token is new for every claim and at least 128 bits | `token.fresh` | [`tokens_are_fresh_and_long`](checks::tokens_are_fresh_and_long) |
//! | Tokens | a stale token (lease released, ended, re-claimed) is refused | `token.stale` | [`stale_token_is_refused`](checks::stale_token_is_refused) |
//! | Tokens | an ended, unswept lease still answers to its token | `token.expired_unswept` | [`expired_unswept_lease_answers_to_its_token`](checks::expired_unswept_lease_answers_to_its_token) |
//! | Tokens | a token never appears in `Debug` output or error text | `token.secret` | [`tokens_stay_secret`](checks::tokens_stay_secret) |
//! | Lease lifecycle | `start` moves `claimed` to `running` | `lifecycle.start` | [`start_moves_the_run_to_running`](checks::start_moves_the_run_to_running) |
//! | Lease lifecycle | `heartbeat` extends the lease to `now + lease` | `lifecycle.heartbeat` | [`heartbeat_extends_the_lease`](checks::heartbeat_extends_the_lease) |
//! | Lease lifecycle | `complete` ends the run from `claimed` or `running` | `lifecycle.complete` | [`complete_ends_the_run`](checks::complete_ends_the_run) |
//! | Lease lifecycle | `fail` ends the run from `claimed` or `running` | `lifecycle.fail` | [`fail_ends_the_run`](checks::fail_ends_the_run) |
//! | Lease lifecycle | `release` returns the run to `queued`, keeping its queued-at | `lifecycle.release` | [`release_requeues_keeping_queued_at`](checks::release_requeues_keeping_queued_at) |
//! | Recovery | every leased run with `lease_until <= now` is recovered, no other | `recovery.expired` | [`sweep_recovers_ended_leases`](checks::sweep_recovers_ended_leases) |
//! | Recovery | a recovered run is `queued`, session cleared, queued-at kept | `recovery.requeues` | [`recovery_requeues_keeping_queued_at`](checks::recovery_requeues_keeping_queued_at) |
//! | Recovery | recovery clears the token: the old one is refused before any re-claim | `recovery.clears_token` | [`recovery_clears_the_token`](checks::recovery_clears_the_token) |
//! | Recovery | oldest lease first, at most `limit` (0: no limit) | `recovery.order_limit` | [`recovery_takes_oldest_first_within_limit`](checks::recovery_takes_oldest_first_within_limit) |
//! | Recovery | each result reports status, previous status, session, lease end, reason, actor | `recovery.details` | [`recovery_reports_details`](checks::recovery_reports_details) |
//! | Recovery | recovering twice recovers each run once | `recovery.once` | [`recovering_twice_recovers_once`](checks::recovering_twice_recovers_once) |
//! | Recovery | two sweeps at once recover each run once | `recovery.atomic_sweeps` | [`concurrent_sweeps_recover_each_run_once`](checks::concurrent_sweeps_recover_each_run_once) |
//! | Recovery | a heartbeat racing a sweep either extends the lease or loses and is refused | `recovery.atomic_heartbeat` | [`heartbeat_racing_a_sweep_wins_or_loses_cleanly`](checks::heartbeat_racing_a_sweep_wins_or_loses_cleanly) |
//! | Reads | pending runs are every `queued` run, claimable or not, joined with its task | `reads.pending` | [`pending_lists_every_queued_run`](checks::pending_lists_every_queued_run) |
//! | Reads | the pending read has no implicit page limit | `reads.pending_unbounded` | [`pending_has_no_page_limit`](checks::pending_has_no_page_limit) |
//! | Reads | active runs are the runs in `claimed`, `starting` or `running` | `reads.active` | [`active_lists_every_live_lease`](checks::active_lists_every_live_lease) |
//! | Reads | `get_run_status` answers any run that exists, finished ones included, or not found | `reads.status` | [`status_answers_for_every_run`](checks::status_answers_for_every_run) |
//! | Reads | the batch status read answers one result per id, in the order asked | `reads.status_batch` | [`batch_status_keeps_the_order_asked`](checks::batch_status_keeps_the_order_asked) |
//! | Needs attention | a `queued` run may move to `needs_attention` | `needs_attention.from_queued` | [`needs_attention_from_queued`](checks::needs_attention_from_queued) |
//! | Needs attention | any other status answers *invalid status transition* and changes nothing | `needs_attention.only_queued` | [`needs_attention_only_from_queued`](checks::needs_attention_only_from_queued) |
//! | Starvation budgets | one budget per run id: load (or none), upsert replaces the whole row | `budgets.round_trip` | [`budget_round_trip`](checks::budget_round_trip) |
//! | Starvation budgets | clear removes a row; clearing a missing row is not an error | `budgets.clear` | [`budget_clear`](checks::budget_clear) |
//! | Starvation budgets | list returns every row | `budgets.list` | [`budget_list`](checks::budget_list) |
//! | Starvation budgets | list has no implicit page limit | `budgets.list_unbounded` | [`budget_list_has_no_page_limit`](checks::budget_list_has_no_page_limit) |
//! | Starvation budgets | a walk of pages (`list_page` after the last key) lists every row once; only the last page is short | `budgets.pages` | [`budget_pages`](checks::budget_pages) |
//! | Starvation budgets | the batch forms answer one result per input, in order | `budgets.batches` | [`budget_batches`](checks::budget_batches) |
//! | Pause | a fresh store is not paused | `pause.initially_off` | [`pause_starts_off`](checks::pause_starts_off) |
//! | Pause | the flag keeps who paused, when (to the second) and why | `pause.round_trip` | [`pause_round_trip`](checks::pause_round_trip) |
//! | Pause | pausing again replaces all three | `pause.replace` | [`pausing_again_replaces`](checks::pausing_again_replaces) |
//! | Pause | resume turns it off | `pause.resume` | [`resume_turns_it_off`](checks::resume_turns_it_off) |
//! | Pause | the flag is the store's: every handle reads it | `pause.shared` | [`pause_is_shared_by_handles`](checks::pause_is_shared_by_handles) |
//! | Sessions | register (a duplicate or blank id is refused) | `sessions.register` | [`register_lists_the_session`](checks::register_lists_the_session) |
//! | Sessions | update state / prompting / capabilities | `sessions.update` | [`updates_change_one_field`](checks::updates_change_one_field) |
//! | Sessions | remove | `sessions.remove` | [`remove_forgets_the_session`](checks::remove_forgets_the_session) |
//! | Sessions | mark stale every session not seen since a given time (strictly before) | `sessions.mark_stale` | [`mark_stale_stops_unseen_sessions`](checks::mark_stale_stops_unseen_sessions) |
//! | Sessions | a woken session claims; the wake changes nothing in the task service | `scenario.wake_does_not_claim` | [`wake_leaves_claim_to_service`](checks::wake_leaves_claim_to_service) |
//! | Durability and concurrency | every rule holds across independent handles on one store | `durable.shared` | [`handles_share_one_store`](checks::handles_share_one_store) |
//! | Durability and concurrency | leases and their tokens survive a reopen | `durable.leases` | [`leases_survive_a_reopen`](checks::leases_survive_a_reopen) |
//! | Durability and concurrency | budgets survive a reopen | `durable.budgets` | [`budgets_survive_a_reopen`](checks::budgets_survive_a_reopen) |
//! | Durability and concurrency | the pause survives a reopen | `durable.pause` | [`pause_survives_a_reopen`](checks::pause_survives_a_reopen) |
//! | Durability and concurrency | sessions survive a reopen | `durable.sessions` | [`sessions_survive_a_reopen`](checks::sessions_survive_a_reopen) |
//! | Durability and concurrency | a lease that expired while closed is recovered by the first sweep after | `durable.recovery` | [`expired_lease_recovered_after_reopen`](checks::expired_lease_recovered_after_reopen) |
//! | Scenarios | a cycle wakes but never claims; the service decides who wins; a claimed run is not woken for again | `scenario.cycle_ok`, `scenario.wake_targets`, `scenario.wake_does_not_claim`, `scenario.claim_decides`, `scenario.claimed_not_woken` | [`wake_leaves_claim_to_service`](checks::wake_leaves_claim_to_service) |
//! | Scenarios | the next cycle's sweep recovers an ended lease, wakes for it, and recovers it once | `scenario.live_lease_kept`, `scenario.sweep_recovers`, `scenario.claimable_again`, `scenario.sweep_once` | [`expired_lease_recovered_next_cycle`](checks::expired_lease_recovered_next_cycle) |
//! | Scenarios | a dead worker's run is recovered and offered to a replacement in one cycle | `scenario.recover_before_wake` | [`dead_worker_recovered_before_replacement_woken`](checks::dead_worker_recovered_before_replacement_woken) |
//! | Scenarios | no eligible session: no wake, the service unchanged | `scenario.no_match`, `scenario.nothing_changed`, `scenario.service_agrees` | [`no_eligible_session_changes_nothing`](checks::no_eligible_session_changes_nothing) |
//! | Scenarios | a restarted scheduler resumes the ladder from the stored budgets | `scenario.ladder_counts`, `scenario.restart_keeps_budget`, `scenario.restart_resumes_ladder`, `scenario.needs_attention` | [`restart_resumes_ladder`](checks::restart_resumes_ladder) |
//!
//! The concurrency checks (`claim.atomic`, `busy.atomic`, `recovery.atomic_*`) run
//! only when [`Backend::independent_handles`] is true, the reopening durability checks
//! only when [`Backend::reopen`] works; otherwise the report lists them as skipped.
//! A `setup` failure means a step the check needs (an enqueue, a claim) failed.

mod budgets;
mod busy;
mod claim;
mod concurrency;
mod durability;
mod enqueue;
mod lifecycle;
mod memory;
mod needs_attention;
mod pause;
mod reads;
mod recovery;
mod report;
mod scenarios;
mod sessions;
pub mod support;
mod tokens;

use std::fmt;
use std::future::Future;

use scheduler_core::lease::{LeaseService, PauseControl, SessionRegistry};
use scheduler_core::seam::StarvationStore;

pub use memory::{MemoryBackend, MemoryStore};
pub use report::{CheckResult, ConformanceReport, Skip, Verdict};
pub use support::{Check, Failure, Outcome};

/// The checks, by area; each is a public `async fn(Fixture<'_, B>) -> Outcome`.
pub mod checks {
    pub use super::budgets::*;
    pub use super::busy::*;
    pub use super::claim::*;
    pub use super::concurrency::*;
    pub use super::durability::*;
    pub use super::enqueue::*;
    pub use super::lifecycle::*;
    pub use super::needs_attention::*;
    pub use super::pause::*;
    pub use super::reads::*;
    pub use super::recovery::*;
    pub use super::scenarios::*;
    pub use super::sessions::*;
    pub use super::tokens::*;
}

/// The handles of one connection to a store: one per seam, all on the same data.
pub struct Handles<B: Backend + ?Sized> {
    /// The task service (the scheduler's task source and the sessions' lease API).
    pub tasks: B::Tasks,
    /// The session registry.
    pub sessions: B::Sessions,
    /// The pause control; the task service refuses claims while it is on.
    pub pause: B::Pause,
    /// The starvation budgets.
    pub budgets: B::Budgets,
}

impl<B: Backend + ?Sized> Clone for Handles<B> {
    fn clone(&self) -> Self {
        Handles {
            tasks: self.tasks.clone(),
            sessions: self.sessions.clone(),
            pause: self.pause.clone(),
            budgets: self.budgets.clone(),
        }
    }
}

impl<B: Backend + ?Sized> fmt::Debug for Handles<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Handles")
    }
}

/// Hands the suite fresh stores of the implementation under test, and handles on them
/// (see the [module docs](self)).
///
/// Setup that fails should panic with a clear message (or hand out handles whose every
/// call fails, which the checks then report).
pub trait Backend {
    /// One store: a database file, schema or in-memory state, whatever every handle of
    /// it shares. Dropped at the end of each check.
    type Store;
    /// The task service. `Clone + Send + Sync + 'static` so racers on other tasks and
    /// threads can own one.
    type Tasks: LeaseService + Clone + Send + Sync + 'static;
    /// The session registry.
    type Sessions: SessionRegistry + Clone + Send + Sync + 'static;
    /// The pause control the task service's claims consult.
    type Pause: PauseControl + Clone + Send + Sync + 'static;
    /// The starvation store.
    type Budgets: StarvationStore + Clone + Send + Sync + 'static;

    /// A fresh, empty store (not paused, no runs, sessions or budgets).
    fn create(&self) -> impl Future<Output = Self::Store>;

    /// Opens handles on `store`. Each call opens a further set on the same data.
    fn connect(&self, store: &Self::Store) -> impl Future<Output = Handles<Self>>;

    /// Whether handles from separate [`connect`](Self::connect) calls are independent
    /// (own connections, used in parallel without one serialising the other). Only
    /// then do the concurrency checks run. The default is `false`.
    fn independent_handles(&self) -> bool {
        false
    }

    /// Opens `store` again after every handle on it was dropped, as a restarted process
    /// would, or `None` when the backend cannot (then the durability checks are
    /// skipped). The default is `None`. The suite probes it once per run, on a store of
    /// its own, before the first durability check.
    fn reopen(&self, store: &Self::Store) -> impl Future<Output = Option<Handles<Self>>> {
        let _ = store;
        async { None }
    }
}

/// A fresh store and one set of handles on it: what every check gets.
pub struct Fixture<'a, B: Backend + ?Sized> {
    backend: &'a B,
    store: B::Store,
    /// The handles every check works through.
    pub handles: Handles<B>,
}

impl<'a, B: Backend + ?Sized> Fixture<'a, B> {
    /// A fresh store from `backend`, with one set of handles.
    pub async fn new(backend: &'a B) -> Self {
        let store = backend.create().await;
        let handles = backend.connect(&store).await;
        Fixture { backend, store, handles }
    }

    /// The task service.
    pub fn tasks(&self) -> &B::Tasks {
        &self.handles.tasks
    }

    /// The session registry.
    pub fn sessions(&self) -> &B::Sessions {
        &self.handles.sessions
    }

    /// The pause control.
    pub fn pause(&self) -> &B::Pause {
        &self.handles.pause
    }

    /// The starvation store.
    pub fn budgets(&self) -> &B::Budgets {
        &self.handles.budgets
    }

    /// A further set of handles on the same store.
    pub async fn connect(&self) -> Handles<B> {
        self.backend.connect(&self.store).await
    }

    /// Drops these handles and opens the store again (drop every other handle first).
    ///
    /// # Errors
    /// A `setup` failure when the backend cannot reopen.
    pub async fn reopen(self, check: Check) -> Result<Fixture<'a, B>, Failure> {
        let Fixture { backend, store, handles } = self;
        drop(handles);
        match backend.reopen(&store).await {
            Some(handles) => Ok(Fixture { backend, store, handles }),
            None => Err(check.fail("setup", "reopen the store", "new handles", "the backend cannot reopen")),
        }
    }
}

impl<B: Backend + ?Sized> fmt::Debug for Fixture<'_, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fixture")
    }
}

/// The areas of the contract, one module of checks each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    /// Enqueue: queued at `now`, duplicates, shared tasks, ids, time precision.
    Enqueue,
    /// Claims: order, eligibility, the pause, the lease handed out.
    Claims,
    /// One lease per session: what makes a session busy and what frees it.
    Busy,
    /// Claim tokens: fencing, exact comparison, freshness, secrecy.
    Tokens,
    /// Start, heartbeat, complete, fail, release.
    Lifecycle,
    /// Expired-lease recovery.
    Recovery,
    /// Pending, active, status and record reads.
    Reads,
    /// The needs-attention transition.
    NeedsAttention,
    /// Starvation budgets.
    Budgets,
    /// The pause control.
    Pause,
    /// The session registry.
    Sessions,
    /// Everything above across a reopen (needs [`Backend::reopen`]).
    Durability,
    /// Races across independent handles (needs [`Backend::independent_handles`]).
    Concurrency,
    /// A real scheduler cycling over the implementation.
    Scenarios,
}

impl Area {
    /// Every area, in the order [`run_all`] runs them.
    pub const ALL: [Area; 14] = [
        Area::Enqueue,
        Area::Claims,
        Area::Busy,
        Area::Tokens,
        Area::Lifecycle,
        Area::Recovery,
        Area::Reads,
        Area::NeedsAttention,
        Area::Budgets,
        Area::Pause,
        Area::Sessions,
        Area::Durability,
        Area::Concurrency,
        Area::Scenarios,
    ];
}

/// What a check needs beyond a fresh store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// A fresh store and one set of handles: every backend can run it.
    Fresh,
    /// Further independent handles ([`Backend::independent_handles`]).
    Independent,
    /// Reopening the store ([`Backend::reopen`]).
    Reopen,
}

/// One check of the suite, as [`catalogue`] lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckInfo {
    /// The check function's name (in [`checks`]).
    pub check: &'static str,
    /// Its area.
    pub area: Area,
    /// The rules it checks.
    pub rules: &'static [&'static str],
    /// What it needs of the backend.
    pub needs: Needs,
}

/// Runs checks (or only lists them) and collects the report.
pub(crate) struct Runner<'a, B: Backend + ?Sized> {
    backend: Option<&'a B>,
    area: Area,
    can_reopen: Option<bool>,
    report: ConformanceReport,
    listed: Vec<CheckInfo>,
}

impl<'a, B: Backend + ?Sized> Runner<'a, B> {
    fn new(backend: Option<&'a B>) -> Self {
        let report = ConformanceReport::default();
        Runner { backend, area: Area::Enqueue, can_reopen: None, report, listed: Vec::new() }
    }

    pub(crate) async fn check<F, Fut>(&mut self, name: &'static str, rules: &'static [&'static str], needs: Needs, f: F)
    where
        F: FnOnce(Fixture<'a, B>) -> Fut,
        Fut: Future<Output = Outcome>,
    {
        let Some(backend) = self.backend else {
            self.listed.push(CheckInfo { check: name, area: self.area, rules, needs });
            return;
        };
        let verdict = match needs {
            Needs::Independent if !backend.independent_handles() => Verdict::Skipped(Skip::NoIndependentHandles),
            Needs::Reopen if !self.reopens(backend).await => Verdict::Skipped(Skip::NoReopen),
            _ => match f(Fixture::new(backend).await).await {
                Ok(()) => Verdict::Passed,
                Err(failure) => Verdict::Failed(failure),
            },
        };
        let entry = CheckResult { check: name, area: self.area, rules, verdict };
        self.report.push(entry);
    }

    /// Whether the backend reopens stores (probed once, on a store of its own).
    async fn reopens(&mut self, backend: &B) -> bool {
        if let Some(known) = self.can_reopen {
            return known;
        }
        let store = backend.create().await;
        drop(backend.connect(&store).await);
        let can = backend.reopen(&store).await.is_some();
        self.can_reopen = Some(can);
        can
    }
}

async fn run_into<'a, B: Backend + ?Sized>(runner: &mut Runner<'a, B>, area: Area) {
    runner.area = area;
    match area {
        Area::Enqueue => enqueue::run(runner).await,
        Area::Claims => claim::run(runner).await,
        Area::Busy => busy::run(runner).await,
        Area::Tokens => tokens::run(runner).await,
        Area::Lifecycle => lifecycle::run(runner).await,
        Area::Recovery => recovery::run(runner).await,
        Area::Reads => reads::run(runner).await,
        Area::NeedsAttention => needs_attention::run(runner).await,
        Area::Budgets => budgets::run(runner).await,
        Area::Pause => pause::run(runner).await,
        Area::Sessions => sessions::run(runner).await,
        Area::Durability => durability::run(runner).await,
        Area::Concurrency => concurrency::run(runner).await,
        Area::Scenarios => scenarios::run(runner).await,
    }
}

/// Runs every check of `area`, each on a fresh store from `backend`.
pub async fn run_area<B: Backend + ?Sized>(backend: &B, area: Area) -> ConformanceReport {
    let mut runner = Runner::new(Some(backend));
    run_into(&mut runner, area).await;
    runner.report
}

/// Runs the whole suite, area by area, each check on a fresh store from `backend`, and
/// reports every failure (a failing check does not stop the others).
pub async fn run_all<B: Backend + ?Sized>(backend: &B) -> ConformanceReport {
    let mut runner = Runner::new(Some(backend));
    for area in Area::ALL {
        run_into(&mut runner, area).await;
    }
    runner.report
}

/// Every check of the suite with its area and rules, in the order [`run_all`] runs
/// them, without running anything.
///
/// ```
/// use scheduler_testkit::conformance::{catalogue, Area};
/// let checks = catalogue();
/// assert!(checks.iter().any(|c| c.check == "claim_is_atomic" && c.area == Area::Concurrency));
/// assert!(checks.iter().any(|c| c.rules.contains(&"token.exact")));
/// ```
pub fn catalogue() -> Vec<CheckInfo> {
    let mut runner: Runner<'_, MemoryBackend> = Runner::new(None);
    futures::executor::block_on(async {
        for area in Area::ALL {
            run_into(&mut runner, area).await;
        }
    });
    runner.listed
}

/// Registers checks with a runner: `checks!(runner; name(rules..) [needs], ...)`.
macro_rules! register {
    ($runner:ident; $($name:ident [$($rule:literal),+] $needs:ident),+ $(,)?) => {
        $(
            $runner.check(stringify!($name), &[$($rule),+], $crate::conformance::Needs::$needs, $name).await;
        )+
    };
}
pub(crate) use register as checks;
