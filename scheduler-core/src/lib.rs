//! A mechanical, advisory task scheduler for fleets of agent sessions.
//!
//! ```
//! use scheduler_core::Scheduler;
//! use scheduler_testkit::{scripted::*, snapshot::*, waker::RecordingWaker};
//!
//! // In-memory stand-ins for your task service, session registry and notifier.
//! let (tasks, sessions, waker) = (ScriptedTasks::new(), ScriptedSessions::new(), RecordingWaker::single());
//! tasks.push_pending(RunSnapshot::queued("run-1", "task-1").caps(["rust"]));
//! tasks.push_pending(RunSnapshot::queued("run-2", "task-2").caps(["gpu"]));
//! sessions.push(SessionSnapshot::active("sess-1").caps(["rust"]));
//!
//! let mut scheduler = Scheduler::builder(tasks, sessions, waker.clone()).build()?;
//! let report = futures::executor::block_on(scheduler.run_once());
//! assert_eq!(report.selected_run_ids().collect::<Vec<_>>(), ["run-1"]);
//! let why = report.why_not_woken("run-2").unwrap();
//! assert_eq!(why.to_string(), "no session with the run's capabilities");
//! # Ok::<(), scheduler_core::BuildError>(())
//! ```
//!
//! Each cycle the scheduler
//! 1. asks the task service to recover expired run leases,
//! 2. reads pending runs, active runs and live sessions,
//! 3. stops there if the scheduler is paused,
//! 4. picks idle sessions that could take queued work (matching workspace scope,
//!    coordination channel, owner and capabilities; skipping busy, prompting and
//!    inactive sessions), in priority order, with a per-(run, session) cooldown,
//! 5. sends them advisory wake notifications, and
//! 6. fans starved work out to every eligible session and walks it up a durable
//!    escalation ladder: request a worker spawn, emit a starved event, mark the run
//!    `needs_attention`.
//!
//! It never claims work itself: a woken session claims through the task service, which
//! decides atomically who wins.
//!
//! Step 4 follows the contract's greedy rule by default: each run, in priority order,
//! takes the first free session that fits. [`SelectionPolicy::Maximum`] (opt in with
//! [`Builder::selection_policy`]) may move an earlier run to another session that fits
//! it, so that a later run that only fits the first one is woken too: it wakes as many
//! distinct runs as any assignment can, earliest runs first, with the same fan-out,
//! cooldown and counting rules (the [`selection`] module docs say precisely how).
//!
//! # Shape
//!
//! - [`model`]: statuses, priority, scope, owner, session state, parsed from text.
//! - [`view`]: traits your own row types implement, so the scheduler reads them in
//!   place.
//! - [`seam`]: one zero-`dyn` trait per collaborator (task source, session source,
//!   waker, pause store, starvation store, escalation actor), plus [`clock`] and
//!   [`observer`].
//! - Pure decision logic: [`eligibility`], [`ordering`], [`cooldown`], [`selection`],
//!   [`ladder`].
//! - [`lease`]: the task-service contract (the sessions' side: enqueue, claim,
//!   token-fenced leases; the session registry; the pause control) that backends
//!   implement and the testkit's conformance suite checks.
//! - [`why`]: why a run was not woken.
//! - [`Scheduler`]: the cycle ([`run_once`](Scheduler::run_once),
//!   [`run_cycle`](Scheduler::run_cycle)), [`rebuild`](Scheduler::rebuild),
//!   [`stats`](Scheduler::stats) and the loop ([`run_until`](Scheduler::run_until)),
//!   built with [`Scheduler::builder`]; [`LadderScheduler`] names the common shape, and
//!   [`Runnable`] is any scheduler a runtime can drive.
//! - [`deadline`]: the runtime-agnostic deadline every seam call of the loop runs
//!   under.
//!
//! # When the world misbehaves
//!
//! Behaviour section 8, in short: cycles run on demand ([`CycleKind::OnDemand`]) wake
//! but do not climb the ladder; every seam call of the loop has a deadline
//! ([`Builder::seam_timeout`]) and its panics are contained (a failed call, never a lost
//! cycle); shutdown abandons a hung cycle; a cooldown stamp in the future holds nothing;
//! duplicate run and session rows are ignored and counted
//! ([`CycleCounts::duplicate_runs`], [`CycleCounts::duplicate_sessions`]); a stored
//! budget is handled under the key the store listed; a blank actor and a half-configured
//! ladder are build errors; the escalation actor is told the cycle's `now`.
//!
//! # A complete minimal setup over your own rows
//!
//! The example at the top used the testkit's fakes; a daemon implements the view traits
//! on its own rows and one small trait per seam:
//!
//! ```
//! use std::convert::Infallible;
//! use std::sync::Arc;
//! use std::time::{Duration, SystemTime};
//!
//! use scheduler_core::model::{Owner, Priority, RunStatus, Scope, SessionState, TaskStatus};
//! use scheduler_core::seam::{Recovery, SessionSource, TaskSource, WakeTarget, Waker};
//! use scheduler_core::view::{ActiveRunView, RecoveredView, RunView, SessionView};
//! use scheduler_core::Scheduler;
//!
//! // Your rows, as your task service stores them.
//! struct Run { id: String, task: String, caps: Vec<String> }
//! struct Session { id: String, caps: Vec<String> }
//! struct Lease { run: String, session: String }
//!
//! impl RunView for Run {
//!     fn run_id(&self) -> &str { &self.id }
//!     fn task_id(&self) -> &str { &self.task }
//!     fn run_status(&self) -> RunStatus { RunStatus::Queued }
//!     fn task_status(&self) -> TaskStatus { TaskStatus::Ready }
//!     fn task_paused(&self) -> bool { false }
//!     fn priority(&self) -> Priority { Priority::High }
//!     fn scope(&self) -> Scope { Scope::Global }
//!     fn workspace_id(&self) -> &str { "" }
//!     fn channel(&self) -> &str { "" }
//!     fn owner(&self) -> Owner<'_> { Owner::None }
//!     fn required_capabilities(&self) -> impl Iterator<Item = &str> { self.caps.iter().map(String::as_str) }
//!     fn queued_at(&self) -> Option<SystemTime> { None }
//! }
//! impl SessionView for Session {
//!     fn session_id(&self) -> &str { &self.id }
//!     fn agent_name(&self) -> &str { "coder" }
//!     fn workspace_id(&self) -> &str { "" }
//!     fn channel(&self) -> &str { "" }
//!     fn state(&self) -> SessionState { SessionState::Active }
//!     fn prompting(&self) -> bool { false }
//!     fn capabilities(&self) -> impl Iterator<Item = &str> { self.caps.iter().map(String::as_str) }
//!     fn created_at(&self) -> SystemTime { SystemTime::UNIX_EPOCH }
//! }
//! impl ActiveRunView for Lease {
//!     fn run_id(&self) -> &str { &self.run }
//!     fn session_id(&self) -> &str { &self.session }
//!     fn status(&self) -> RunStatus { RunStatus::Running }
//! }
//! impl RecoveredView for Lease {
//!     fn run_id(&self) -> &str { &self.run }
//!     fn previous_session_id(&self) -> &str { &self.session }
//! }
//!
//! // The seams, over your storage (here: fixed data).
//! struct Tasks(Vec<Arc<Run>>);
//! impl TaskSource for Tasks {
//!     type Run = Arc<Run>;
//!     type ActiveRun = Lease;
//!     type Recovered = Lease;
//!     type Error = Infallible;
//!     async fn recover_expired_leases(&self, _: Recovery<'_>, _: &mut Vec<Lease>) -> Result<(), Infallible> { Ok(()) }
//!     async fn pending_runs(&self, out: &mut Vec<Arc<Run>>) -> Result<(), Infallible> {
//!         out.extend(self.0.iter().cloned());
//!         Ok(())
//!     }
//!     async fn active_runs(&self, _: &mut Vec<Lease>) -> Result<(), Infallible> { Ok(()) }
//!     async fn run_status(&self, _: &str) -> Result<Option<RunStatus>, Infallible> { Ok(Some(RunStatus::Queued)) }
//! }
//! struct Sessions(Vec<Arc<Session>>);
//! impl SessionSource for Sessions {
//!     type Session = Arc<Session>;
//!     type Error = Infallible;
//!     async fn sessions(&self, out: &mut Vec<Arc<Session>>) -> Result<(), Infallible> {
//!         out.extend(self.0.iter().cloned());
//!         Ok(())
//!     }
//! }
//! struct Notify;
//! impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for Notify {
//!     type Error = Infallible;
//!     async fn wake(&self, t: WakeTarget<'_, R, S>) -> Result<(), Infallible> {
//!         println!("wake {} for {}", t.session.session_id(), t.run.run_id());
//!         Ok(())
//!     }
//! }
//!
//! # futures::executor::block_on(async {
//! let tasks = Tasks(vec![Arc::new(Run { id: "run-1".into(), task: "task-1".into(), caps: vec!["rust".into()] })]);
//! let sessions = Sessions(vec![
//!     Arc::new(Session { id: "sess-go".into(), caps: vec!["go".into()] }),
//!     Arc::new(Session { id: "sess-rust".into(), caps: vec!["rust".into()] }),
//! ]);
//! let mut scheduler = Scheduler::builder(tasks, sessions, Notify)
//!     .wake_cooldown(Duration::from_secs(30))
//!     .build()?;
//!
//! let report = scheduler.run_once().await;
//! assert!(report.is_ok());
//! assert_eq!(report.selected_run_ids().collect::<Vec<_>>(), ["run-1"]);
//!
//! // Within the cooldown the same pair is not woken again.
//! let report = scheduler.run_once().await;
//! assert_eq!(report.counts().recently_notified_runs, 1);
//! assert_eq!(report.why_not_woken("run-1"), Some(scheduler_core::why::WhyNotWoken::CandidatesInCooldown));
//! assert_eq!(scheduler.stats().wake_succeeded, 1);
//! # Ok::<(), scheduler_core::BuildError>(())
//! # }).unwrap();
//! ```
//!
//! # Why a run was not woken
//!
//! [`CycleReport::why_not_woken`], [`CycleReport::not_woken`] and, after the cycle,
//! [`Scheduler::why_not_woken`] / [`Scheduler::not_woken`] name the reason in the
//! contract's terms, computed on demand from the cycle's kept rows ([`why`]).
//!
//! # Features
//!
//! - `tracing`: each cycle runs in a `scheduler.cycle` span, and
//!   [`observer::TracingObserver`] emits an event per wake, recovery, starvation and
//!   escalation with the run, session and task ids as fields (and, with debug events
//!   on, why each run was not woken).
//! - `metrics`: [`metrics::MetricsObserver`] records counters, gauges and histograms
//!   through the `metrics` facade; the table of names, units and labels is in
//!   [`metrics`].

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod clock;
pub mod cooldown;
pub mod deadline;
pub mod eligibility;
pub mod error;
pub mod ladder;
pub mod lease;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod model;
pub mod observer;
pub mod ordering;
pub mod report;
pub mod run_loop;
mod scheduler;
pub mod seam;
pub mod selection;
mod settings;
pub mod stats;
pub mod view;
pub mod why;

pub use error::{BatchStep, BuildError, Call, Concern, Error, Stopped};
pub use report::{CycleCounts, CycleKind, CycleReport, CycleResult, Outcome, RebuildReport};
pub use run_loop::Runnable;
pub use scheduler::{LadderScheduler, Scheduler, SchedulerError, SchedulerReport};
pub use settings::{Builder, SelectionPolicy, Settings, UnknownPolicy};
pub use stats::{Stats, StatsHandle};
