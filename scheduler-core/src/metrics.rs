//! [`MetricsObserver`]: records the scheduler's events through the
//! [`metrics`](https://docs.rs/metrics) facade (feature `metrics`).
//!
//! The library links only the facade; the daemon installs the recorder it likes
//! (a Prometheus exporter, an OpenTelemetry bridge, ...). Without a recorder every call
//! is a no-op.
//!
//! ```
//! use scheduler_core::metrics::MetricsObserver;
//! # fn wire<T: scheduler_core::seam::TaskSource, S: scheduler_core::seam::SessionSource,
//! #          W: scheduler_core::seam::Waker<T::Run, S::Session>>(tasks: T, sessions: S, waker: W) {
//! MetricsObserver::describe(); // once, after installing the recorder: units and help texts
//! let scheduler = scheduler_core::Scheduler::builder(tasks, sessions, waker)
//!     .observer(MetricsObserver::new().with_not_woken_reasons())
//!     .build()
//!     .expect("valid settings");
//! # }
//! ```
//!
//! # The metrics
//!
//! Every name starts with `scheduler_`. Counters and histograms accumulate; gauges are
//! set at the end of each cycle from what that cycle read.
//!
//! | name | kind | unit | labels | what |
//! | --- | --- | --- | --- | --- |
//! | `scheduler_cycles_total` | counter | count | | cycles that ended (including those whose snapshot read failed) |
//! | `scheduler_wakes_sent_total` | counter | count | | wakes delivered |
//! | `scheduler_wakes_failed_total` | counter | count | | wakes that failed |
//! | `scheduler_leases_recovered_total` | counter | count | | expired leases the sweep returned to `queued` |
//! | `scheduler_starved_runs_total` | counter | count | | starved runs, once per cycle they are starved in |
//! | `scheduler_spawns_requested_total` | counter | count | | worker spawns requested by the ladder |
//! | `scheduler_needs_attention_total` | counter | count | | runs marked `needs_attention` |
//! | `scheduler_seam_errors_total` | counter | count | `seam` | cycle errors, by the seam call they concern |
//! | `scheduler_cycle_panics_total` | counter | count | | cycles that panicked and were contained |
//! | `scheduler_cycles_abandoned_total` | counter | count | | cycles abandoned at shutdown |
//! | `scheduler_runs_not_woken_total` | counter | count | `reason` | claimable runs a cycle gave no wake, by reason (only [`with_not_woken_reasons`](MetricsObserver::with_not_woken_reasons)) |
//! | `scheduler_pending_runs` | gauge | count | | pending runs read by the last cycle |
//! | `scheduler_active_runs` | gauge | count | | active runs read by the last cycle |
//! | `scheduler_idle_sessions` | gauge | count | | sessions that could be woken (active, not prompting, not busy) in the last cycle that selected |
//! | `scheduler_oldest_queued_age_seconds` | gauge | seconds | | queued age of the longest-waiting claimable run in the last cycle that selected (0: none) |
//! | `scheduler_cycle_duration_seconds` | histogram | seconds | | how long each cycle took, on the scheduler's clock |
//! | `scheduler_seam_latency_seconds` | histogram | seconds | `seam` | how long each seam call took, on the scheduler's clock |
//!
//! Label values: `seam` is [`Call::as_str`] (`sweep`, `pending_runs`, `active_runs`,
//! `sessions`, `pause`, `wake`, `run_statuses`, `list_budgets`, `load_budgets`,
//! `upsert_budgets`, `clear_budgets`, `request_spawn`, `emit_starved`,
//! `mark_needs_attention`); `reason` is [`WhyNotWoken::as_str`]
//! (`no_session_in_scope`, `no_session_on_channel`, `no_session_for_owner`,
//! `no_session_with_capabilities`, `candidates_inactive`, `candidates_prompting`,
//! `candidates_busy`, `candidates_taken`, `candidates_in_cooldown`).
//!
//! The pending and active gauges keep their value through a cycle whose snapshot read
//! failed; the idle-sessions and oldest-age gauges keep theirs through a paused cycle
//! too (those did not select).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use ::metrics::{Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};

use crate::error::Call;
use crate::observer::Observer;
use crate::report::CycleCounts;
use crate::why::WhyNotWoken;

/// Counter: cycles that ended.
pub const CYCLES: &str = "scheduler_cycles_total";
/// Counter: wakes delivered.
pub const WAKES_SENT: &str = "scheduler_wakes_sent_total";
/// Counter: wakes that failed.
pub const WAKES_FAILED: &str = "scheduler_wakes_failed_total";
/// Counter: leases recovered by the sweep.
pub const LEASES_RECOVERED: &str = "scheduler_leases_recovered_total";
/// Counter: starved runs (per cycle).
pub const STARVED_RUNS: &str = "scheduler_starved_runs_total";
/// Counter: worker spawns requested.
pub const SPAWNS_REQUESTED: &str = "scheduler_spawns_requested_total";
/// Counter: runs marked `needs_attention`.
pub const NEEDS_ATTENTION: &str = "scheduler_needs_attention_total";
/// Counter: cycle errors, label `seam`.
pub const SEAM_ERRORS: &str = "scheduler_seam_errors_total";
/// Counter: contained cycle panics.
pub const CYCLE_PANICS: &str = "scheduler_cycle_panics_total";
/// Counter: cycles abandoned at shutdown.
pub const CYCLES_ABANDONED: &str = "scheduler_cycles_abandoned_total";
/// Counter: runs not woken, label `reason`.
pub const RUNS_NOT_WOKEN: &str = "scheduler_runs_not_woken_total";
/// Gauge: pending runs read.
pub const PENDING_RUNS: &str = "scheduler_pending_runs";
/// Gauge: active runs read.
pub const ACTIVE_RUNS: &str = "scheduler_active_runs";
/// Gauge: sessions that could be woken.
pub const IDLE_SESSIONS: &str = "scheduler_idle_sessions";
/// Gauge: queued age of the longest-waiting claimable run, in seconds.
pub const OLDEST_QUEUED_AGE: &str = "scheduler_oldest_queued_age_seconds";
/// Histogram: cycle duration, in seconds.
pub const CYCLE_DURATION: &str = "scheduler_cycle_duration_seconds";
/// Histogram: seam call latency, in seconds, label `seam`.
pub const SEAM_LATENCY: &str = "scheduler_seam_latency_seconds";

/// Label naming the seam call ([`Call::as_str`]).
pub const SEAM_LABEL: &str = "seam";
/// Label naming the reason a run was not woken ([`WhyNotWoken::as_str`]).
pub const REASON_LABEL: &str = "reason";

/// An [`Observer`] that records every metric of the [module table](self) through the
/// `metrics` facade.
///
/// It asks for timings (one clock read per seam call, two per cycle). With
/// [`with_not_woken_reasons`](Self::with_not_woken_reasons) it also asks for the
/// reasons runs were not woken, which the scheduler then computes every cycle (a scan
/// of the sessions per such run).
#[derive(Debug, Default)]
pub struct MetricsObserver {
    reasons: bool,
    /// Set when this cycle's snapshot read failed: the gauges keep their values.
    snapshot_failed: AtomicBool,
}

impl MetricsObserver {
    /// An observer recording every metric but the reasons.
    pub fn new() -> Self {
        Self::default()
    }

    /// Also count the runs not woken, by reason (`scheduler_runs_not_woken_total`).
    pub fn with_not_woken_reasons(mut self) -> Self {
        self.reasons = true;
        self
    }

    /// Describes every metric (unit and help text) to the installed recorder. Call it
    /// once, after installing the recorder.
    pub fn describe() {
        let counters = [
            (CYCLES, "Cycles that ended."),
            (WAKES_SENT, "Wakes delivered."),
            (WAKES_FAILED, "Wakes that failed."),
            (LEASES_RECOVERED, "Expired leases returned to queued by the sweep."),
            (STARVED_RUNS, "Starved runs, once per cycle they are starved in."),
            (SPAWNS_REQUESTED, "Worker spawns requested by the ladder."),
            (NEEDS_ATTENTION, "Runs marked needs_attention."),
            (SEAM_ERRORS, "Cycle errors, by seam call."),
            (CYCLE_PANICS, "Cycles that panicked and were contained."),
            (CYCLES_ABANDONED, "Cycles abandoned at shutdown."),
            (RUNS_NOT_WOKEN, "Claimable runs a cycle gave no wake, by reason."),
        ];
        for (name, help) in counters {
            describe_counter!(name, Unit::Count, help);
        }
        describe_gauge!(PENDING_RUNS, Unit::Count, "Pending runs read by the last cycle.");
        describe_gauge!(ACTIVE_RUNS, Unit::Count, "Active runs read by the last cycle.");
        describe_gauge!(IDLE_SESSIONS, Unit::Count, "Sessions that could be woken in the last cycle.");
        describe_gauge!(OLDEST_QUEUED_AGE, Unit::Seconds, "Queued age of the longest-waiting claimable run.");
        describe_histogram!(CYCLE_DURATION, Unit::Seconds, "Cycle duration.");
        describe_histogram!(SEAM_LATENCY, Unit::Seconds, "Seam call latency, by seam call.");
    }

    fn set_gauges(&self, c: &CycleCounts) {
        if self.snapshot_failed.load(Ordering::Relaxed) {
            return;
        }
        gauge!(PENDING_RUNS).set(c.pending_runs as f64);
        gauge!(ACTIVE_RUNS).set(c.active_runs as f64);
        if !c.paused {
            gauge!(IDLE_SESSIONS).set(c.idle_sessions as f64);
            gauge!(OLDEST_QUEUED_AGE).set(c.oldest_queued_age.unwrap_or_default().as_secs_f64());
        }
    }
}

impl Observer for MetricsObserver {
    fn cycle_started(&self, _now: SystemTime) {
        self.snapshot_failed.store(false, Ordering::Relaxed);
    }

    fn cycle_finished(&self, c: &CycleCounts) {
        counter!(CYCLES).increment(1);
        counter!(WAKES_SENT).increment(c.wake_succeeded as u64);
        counter!(WAKES_FAILED).increment(c.wake_failed as u64);
        counter!(LEASES_RECOVERED).increment(c.recovered_leases as u64);
        counter!(STARVED_RUNS).increment(c.starved_runs as u64);
        counter!(SPAWNS_REQUESTED).increment(c.spawns_requested as u64);
        counter!(NEEDS_ATTENTION).increment(c.needs_attention_runs as u64);
        self.set_gauges(c);
    }

    fn seam_failed(&self, call: Call) {
        if matches!(call, Call::PendingRuns | Call::ActiveRuns | Call::Sessions) {
            self.snapshot_failed.store(true, Ordering::Relaxed);
        }
        counter!(SEAM_ERRORS, SEAM_LABEL => call.as_str()).increment(1);
    }

    fn cycle_panicked(&self, _message: &str) {
        counter!(CYCLE_PANICS).increment(1);
    }

    fn cycle_abandoned(&self, _started: SystemTime) {
        counter!(CYCLES_ABANDONED).increment(1);
    }

    fn explains_not_woken(&self) -> bool {
        self.reasons
    }

    fn run_not_woken(&self, _run_id: &str, why: WhyNotWoken) {
        counter!(RUNS_NOT_WOKEN, REASON_LABEL => why.as_str()).increment(1);
    }

    fn wants_timings(&self) -> bool {
        true
    }

    fn seam_latency(&self, call: Call, elapsed: Duration) {
        histogram!(SEAM_LATENCY, SEAM_LABEL => call.as_str()).record(elapsed.as_secs_f64());
    }

    fn cycle_timed(&self, elapsed: Duration) {
        histogram!(CYCLE_DURATION).record(elapsed.as_secs_f64());
    }
}
