//! Events a cycle emits, for logs, metrics and traces.
//!
//! An [`Observer`] receives each event as a plain method call with borrowed ids. Every
//! method has an empty default body, so an observer implements only what it needs,
//! and the default [`NoopObserver`] compiles to nothing. With the `tracing` feature,
//! [`TracingObserver`] emits one `tracing` event per call, and each cycle runs inside
//! a `scheduler.cycle` span.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use scheduler_core::observer::Observer;
//!
//! #[derive(Default)]
//! struct WakeCounter(AtomicU64);
//!
//! impl Observer for WakeCounter {
//!     fn wake_sent(&self, _run_id: &str, _session_id: &str) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//! ```

use std::time::{Duration, SystemTime};

use crate::error::Call;
use crate::ladder::Tier;
use crate::report::CycleCounts;
use crate::why::WhyNotWoken;

/// Receives the scheduler's events. All methods default to doing nothing.
#[allow(unused_variables)]
pub trait Observer: Send + Sync {
    /// A cycle started at `now`.
    fn cycle_started(&self, now: SystemTime) {}
    /// The sweep returned a run to `queued`.
    fn lease_recovered(&self, run_id: &str, previous_session_id: &str) {}
    /// A wake was delivered.
    fn wake_sent(&self, run_id: &str, session_id: &str) {}
    /// A wake failed.
    fn wake_failed<E: std::error::Error>(&self, run_id: &str, session_id: &str, error: &E) {}
    /// A run was found starved, queued for `queued_for`.
    fn run_starved(&self, run_id: &str, task_id: &str, queued_for: Duration) {}
    /// Whether this observer wants the ladder's per-run events,
    /// [`run_starved`](Observer::run_starved) and [`escalated`](Observer::escalated).
    /// Asked once per cycle and per escalation; `false` spares the cycle reading every
    /// starved run's ids and age again (thousands of scattered rows in a long starved
    /// episode). `true` by default; [`NoopObserver`] says `false`.
    fn wants_run_events(&self) -> bool {
        true
    }
    /// The ladder acted on a run: [`Tier::Spawn`] (spawn requested), [`Tier::Event`]
    /// (starved event emitted) or [`Tier::NeedsAttention`] (run marked).
    fn escalated(&self, run_id: &str, task_id: &str, tier: Tier) {}
    /// The cycle met an error (called once per error, in order).
    fn cycle_error<E: std::error::Error>(&self, error: &E) {}
    /// A cycle ended.
    fn cycle_finished(&self, counts: &CycleCounts) {}
    /// The loop contained a panic raised during a cycle.
    fn cycle_panicked(&self, message: &str) {}
    /// The loop abandoned the cycle it was running because it was shut down (a seam
    /// call was still pending). The cycle started at `started`.
    fn cycle_abandoned(&self, started: SystemTime) {}
    /// A pending row was ignored: an earlier row in run order has the same trimmed run
    /// id (`run_id`).
    fn duplicate_run_ignored(&self, run_id: &str) {}
    /// A session row was ignored: an earlier row in session order has the same trimmed
    /// session id (`session_id`).
    fn duplicate_session_ignored(&self, session_id: &str) {}
    /// Whether this observer wants [`run_not_woken`](Observer::run_not_woken) calls.
    /// Asked once per completed cycle; the default `false` keeps the reasons
    /// uncomputed, so a cycle costs nothing more.
    fn explains_not_woken(&self) -> bool {
        false
    }
    /// A claimable run got no wake this cycle, for this reason (see
    /// [`why`](crate::why)). Called, in run order, at the end of each completed cycle,
    /// only when [`explains_not_woken`](Observer::explains_not_woken) says so.
    fn run_not_woken(&self, run_id: &str, why: WhyNotWoken) {}
    /// The cycle met an error of this seam call (called once per error, right after
    /// [`cycle_error`](Observer::cycle_error), with [`Error::call`](crate::Error::call)).
    fn seam_failed(&self, call: Call) {}
    /// Whether this observer wants [`seam_latency`](Observer::seam_latency) and
    /// [`cycle_timed`](Observer::cycle_timed) calls. Asked before each step's seam calls
    /// and at the end of each cycle; with the default `false` nothing is timed (no
    /// clock read).
    fn wants_timings(&self) -> bool {
        false
    }
    /// A seam call took `elapsed` on the scheduler's clock (whether it succeeded,
    /// failed, timed out or panicked). A batch call is one call.
    fn seam_latency(&self, call: Call, elapsed: Duration) {}
    /// A cycle that selected or stopped early ended after `elapsed` on the scheduler's
    /// clock (called right after [`cycle_finished`](Observer::cycle_finished)).
    fn cycle_timed(&self, elapsed: Duration) {}
}

/// The default observer: does nothing, costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl Observer for NoopObserver {
    fn wants_run_events(&self) -> bool {
        false
    }
}

impl<O: Observer + ?Sized> Observer for std::sync::Arc<O> {
    fn cycle_started(&self, now: SystemTime) {
        (**self).cycle_started(now)
    }
    fn lease_recovered(&self, run_id: &str, previous_session_id: &str) {
        (**self).lease_recovered(run_id, previous_session_id)
    }
    fn wake_sent(&self, run_id: &str, session_id: &str) {
        (**self).wake_sent(run_id, session_id)
    }
    fn wake_failed<E: std::error::Error>(&self, run_id: &str, session_id: &str, error: &E) {
        (**self).wake_failed(run_id, session_id, error)
    }
    fn run_starved(&self, run_id: &str, task_id: &str, queued_for: Duration) {
        (**self).run_starved(run_id, task_id, queued_for)
    }
    fn wants_run_events(&self) -> bool {
        (**self).wants_run_events()
    }
    fn escalated(&self, run_id: &str, task_id: &str, tier: Tier) {
        (**self).escalated(run_id, task_id, tier)
    }
    fn cycle_error<E: std::error::Error>(&self, error: &E) {
        (**self).cycle_error(error)
    }
    fn cycle_finished(&self, counts: &CycleCounts) {
        (**self).cycle_finished(counts)
    }
    fn cycle_panicked(&self, message: &str) {
        (**self).cycle_panicked(message)
    }
    fn cycle_abandoned(&self, started: SystemTime) {
        (**self).cycle_abandoned(started)
    }
    fn duplicate_run_ignored(&self, run_id: &str) {
        (**self).duplicate_run_ignored(run_id)
    }
    fn duplicate_session_ignored(&self, session_id: &str) {
        (**self).duplicate_session_ignored(session_id)
    }
    fn explains_not_woken(&self) -> bool {
        (**self).explains_not_woken()
    }
    fn run_not_woken(&self, run_id: &str, why: WhyNotWoken) {
        (**self).run_not_woken(run_id, why)
    }
    fn seam_failed(&self, call: Call) {
        (**self).seam_failed(call)
    }
    fn wants_timings(&self) -> bool {
        (**self).wants_timings()
    }
    fn seam_latency(&self, call: Call, elapsed: Duration) {
        (**self).seam_latency(call, elapsed)
    }
    fn cycle_timed(&self, elapsed: Duration) {
        (**self).cycle_timed(elapsed)
    }
}

#[cfg(feature = "tracing")]
pub use tracing_observer::TracingObserver;

#[cfg(feature = "tracing")]
mod tracing_observer {
    use super::*;

    /// Emits a `tracing` event for every scheduler event (target `scheduler`), with the
    /// run, session and task ids as fields. Errors are `warn`, escalations `info`,
    /// the rest `debug`. When `debug` is enabled for the target, every claimable run a
    /// cycle did not wake gets a `run not woken` event with its
    /// [reason](crate::why::WhyNotWoken) (field `reason`).
    #[derive(Debug, Clone, Copy, Default)]
    pub struct TracingObserver;

    impl Observer for TracingObserver {
        fn lease_recovered(&self, run_id: &str, previous_session_id: &str) {
            tracing::info!(target: "scheduler", run_id, previous_session_id, "lease recovered");
        }
        fn wake_sent(&self, run_id: &str, session_id: &str) {
            tracing::debug!(target: "scheduler", run_id, session_id, "wake sent");
        }
        fn wake_failed<E: std::error::Error>(&self, run_id: &str, session_id: &str, error: &E) {
            tracing::warn!(target: "scheduler", run_id, session_id, error = %error, "wake failed");
        }
        fn run_starved(&self, run_id: &str, task_id: &str, queued_for: Duration) {
            tracing::info!(target: "scheduler", run_id, task_id, queued_for_s = queued_for.as_secs(), "run starved");
        }
        fn escalated(&self, run_id: &str, task_id: &str, tier: Tier) {
            tracing::info!(target: "scheduler", run_id, task_id, tier = tier.as_u8(), "run escalated");
        }
        fn cycle_error<E: std::error::Error>(&self, error: &E) {
            tracing::warn!(target: "scheduler", error = %error, "cycle error");
        }
        fn cycle_finished(&self, c: &CycleCounts) {
            tracing::debug!(
                target: "scheduler",
                pending = c.pending_runs,
                sessions = c.sessions_scanned,
                active = c.active_runs,
                idle_sessions = c.idle_sessions,
                oldest_queued_s = c.oldest_queued_age.map(|a| a.as_secs()),
                recovered = c.recovered_leases,
                woken = c.wake_succeeded,
                failed = c.wake_failed,
                starved = c.starved_runs,
                paused = c.paused,
                "cycle finished"
            );
        }
        fn cycle_panicked(&self, message: &str) {
            tracing::error!(target: "scheduler", message, "cycle panicked");
        }
        fn cycle_abandoned(&self, _started: SystemTime) {
            tracing::warn!(target: "scheduler", "cycle abandoned at shutdown");
        }
        fn duplicate_run_ignored(&self, run_id: &str) {
            tracing::warn!(target: "scheduler", run_id, "duplicate pending row ignored");
        }
        fn duplicate_session_ignored(&self, session_id: &str) {
            tracing::warn!(target: "scheduler", session_id, "duplicate session row ignored");
        }
        /// Only when `debug` events of target `scheduler` are enabled: the reasons are
        /// computed then, and only then.
        fn explains_not_woken(&self) -> bool {
            tracing::enabled!(target: "scheduler", tracing::Level::DEBUG)
        }
        fn run_not_woken(&self, run_id: &str, why: WhyNotWoken) {
            tracing::debug!(target: "scheduler", run_id, reason = why.as_str(), "run not woken: {why}");
        }
    }
}
