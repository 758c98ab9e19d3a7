//! Statistics that accumulate across cycles, readable from any thread while the loop
//! runs.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::report::{CycleCounts, CycleKind};

/// Counters accumulated over the scheduler's life. A [`StatsHandle::snapshot`] is
/// consistent: it is taken under the same lock the cycle records under.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Cycles counted (a cycle whose snapshot read failed is not counted).
    pub cycles: u64,
    /// Counted cycles that ran on demand (`run_now`, a trigger item): they woke but
    /// climbed no ladder. Included in `cycles`.
    pub on_demand_cycles: u64,
    /// Cycles that panicked and were contained by the loop.
    pub cycle_panics: u64,
    /// Cycles the loop abandoned in flight because it was shut down (a seam hung, or
    /// shutdown came mid-cycle). Not included in `cycles`.
    pub cycles_abandoned: u64,
    /// Rebuilds.
    pub rebuilds: u64,
    /// Leases recovered by the sweep.
    pub recovered_leases: u64,
    /// Sweeps that failed.
    pub recovery_errors: u64,
    /// Wakes attempted.
    pub wake_attempts: u64,
    /// Wakes delivered.
    pub wake_succeeded: u64,
    /// Wakes that failed.
    pub wake_failed: u64,
    /// Claimable runs no session was eligible for.
    pub no_match_runs: u64,
    /// Runs whose every eligible session was in its wake cooldown.
    pub recently_notified_runs: u64,
    /// Runs skipped as not claimable.
    pub unclaimable_runs: u64,
    /// Starved runs.
    pub starved_runs: u64,
    /// Worker spawns requested.
    pub spawns_requested: u64,
    /// Runs marked `needs_attention`.
    pub needs_attention_runs: u64,
    /// Duplicate pending rows ignored (same trimmed run id as an earlier row).
    pub duplicate_runs: u64,
    /// Duplicate session rows ignored (same trimmed session id as an earlier row).
    pub duplicate_sessions: u64,
    /// When the last counted cycle ran.
    pub last_cycle_at: Option<SystemTime>,
    /// When the last rebuild ran.
    pub last_rebuild_at: Option<SystemTime>,
    /// The last sweep error's message.
    pub last_recovery_error: Option<String>,
    /// The last wake error's message.
    pub last_wake_error: Option<String>,
    /// The last contained panic's message.
    pub last_panic: Option<String>,
}

/// A cloneable, thread-safe handle to a scheduler's [`Stats`].
#[derive(Debug, Clone, Default)]
pub struct StatsHandle(Arc<Mutex<Stats>>);

impl StatsHandle {
    /// A consistent copy of the statistics.
    pub fn snapshot(&self) -> Stats {
        self.lock().clone()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Stats> {
        // A panic while holding the lock cannot leave the counters half-written in a
        // way that matters; keep serving them.
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    pub(crate) fn record_cycle(&self, now: SystemTime, kind: CycleKind, c: &CycleCounts) {
        let mut s = self.lock();
        s.cycles += 1;
        if kind == CycleKind::OnDemand {
            s.on_demand_cycles += 1;
        }
        s.duplicate_runs += c.duplicate_runs as u64;
        s.duplicate_sessions += c.duplicate_sessions as u64;
        s.last_cycle_at = Some(now);
        s.wake_attempts += c.wake_attempts as u64;
        s.wake_succeeded += c.wake_succeeded as u64;
        s.wake_failed += c.wake_failed as u64;
        s.no_match_runs += c.no_match_runs as u64;
        s.recently_notified_runs += c.recently_notified_runs as u64;
        s.unclaimable_runs += c.unclaimable_runs as u64;
        s.starved_runs += c.starved_runs as u64;
        s.spawns_requested += c.spawns_requested as u64;
        s.needs_attention_runs += c.needs_attention_runs as u64;
    }

    pub(crate) fn record_recovered(&self, n: usize) {
        self.lock().recovered_leases += n as u64;
    }

    pub(crate) fn record_recovery_error(&self, error: &impl fmt::Display) {
        let mut s = self.lock();
        s.recovery_errors += 1;
        set_message(&mut s.last_recovery_error, error);
    }

    pub(crate) fn record_wake_error(&self, error: &impl fmt::Display) {
        set_message(&mut self.lock().last_wake_error, error);
    }

    pub(crate) fn record_panic(&self, message: &str) {
        let mut s = self.lock();
        s.cycle_panics += 1;
        set_message(&mut s.last_panic, &message);
    }

    pub(crate) fn record_abandoned(&self) {
        self.lock().cycles_abandoned += 1;
    }

    pub(crate) fn record_rebuild(&self, now: SystemTime) {
        let mut s = self.lock();
        s.rebuilds += 1;
        s.last_rebuild_at = Some(now);
    }
}

/// Overwrites a message slot, reusing its capacity.
fn set_message(slot: &mut Option<String>, msg: &impl fmt::Display) {
    let s = slot.get_or_insert_with(String::new);
    s.clear();
    let _ = write!(s, "{msg}");
}
