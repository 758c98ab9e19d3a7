//! The per-(run, session) wake cooldown.
//!
//! After a session is woken for a run, the pair is not woken again until the cooldown
//! has passed (unless the run is starved, which ignores it). A zero cooldown disables
//! it and keeps no keys at all. Keys are pruned once expired, and a key refreshed in
//! place reuses its storage, so a steady workload allocates nothing here.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use scheduler_core::cooldown::Cooldown;
//!
//! let t0 = SystemTime::UNIX_EPOCH;
//! let mut c = Cooldown::new(Duration::from_secs(60));
//! c.record("run-1", "sess-1", t0);
//! assert!(c.is_cooling("run-1", "sess-1", t0 + Duration::from_secs(59)));
//! assert!(!c.is_cooling("run-1", "sess-1", t0 + Duration::from_secs(60)));
//! assert!(!c.is_cooling("run-1", "sess-2", t0));
//! ```

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// Wake-cooldown state: when each (run, session) pair was last woken.
#[derive(Debug, Clone, Default)]
pub struct Cooldown {
    period: Duration,
    // Run id -> session id -> last wake. Nested so lookups borrow `&str` keys.
    keys: HashMap<Box<str>, HashMap<Box<str>, SystemTime>>,
    len: usize,
}

impl Cooldown {
    /// A cooldown of `period`; zero disables it.
    pub fn new(period: Duration) -> Self {
        Cooldown { period, keys: HashMap::new(), len: 0 }
    }

    /// The cooldown period; zero when disabled.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Whether the cooldown is on.
    pub fn is_enabled(&self) -> bool {
        !self.period.is_zero()
    }

    /// How many (run, session) keys are kept.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the pair was woken less than one period before `now` (a wake recorded
    /// "in the future" of `now`, after a clock step back, counts as recent).
    pub fn is_cooling(&self, run_id: &str, session_id: &str, now: SystemTime) -> bool {
        if self.period.is_zero() {
            return false;
        }
        match self.keys.get(run_id).and_then(|s| s.get(session_id)) {
            Some(&at) => now.duration_since(at).map_or(true, |age| age < self.period),
            None => false,
        }
    }

    /// Records a wake of the pair at `now`. Does nothing when disabled.
    pub fn record(&mut self, run_id: &str, session_id: &str, now: SystemTime) {
        if self.period.is_zero() {
            return;
        }
        if let Some(at) = self.keys.get_mut(run_id).and_then(|s| s.get_mut(session_id)) {
            *at = now;
            return;
        }
        let sessions = match self.keys.get_mut(run_id) {
            Some(sessions) => sessions,
            None => self.keys.entry(run_id.into()).or_default(),
        };
        sessions.insert(session_id.into(), now);
        self.len += 1;
    }

    /// Drops every key whose cooldown has passed at `now`.
    pub fn prune(&mut self, now: SystemTime) {
        let period = self.period;
        let mut removed = 0;
        self.keys.retain(|_, sessions| {
            sessions.retain(|_, at| {
                let live = now.duration_since(*at).map_or(true, |age| age < period);
                removed += usize::from(!live);
                live
            });
            !sessions.is_empty()
        });
        self.len -= removed;
    }

    /// Drops every key; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.len;
        self.keys.clear();
        self.len = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn disabled_keeps_nothing() {
        let mut c = Cooldown::new(Duration::ZERO);
        c.record("r", "s", t(0));
        assert!(c.is_empty());
        assert!(!c.is_cooling("r", "s", t(0)));
    }

    #[test]
    fn prune_drops_only_expired() {
        let mut c = Cooldown::new(Duration::from_secs(10));
        c.record("r1", "s1", t(0));
        c.record("r1", "s2", t(5));
        c.record("r2", "s1", t(9));
        c.record("r1", "s1", t(3)); // refresh in place
        assert_eq!(c.len(), 3);
        c.prune(t(14));
        assert_eq!(c.len(), 2);
        assert!(!c.is_cooling("r1", "s1", t(14)));
        assert!(c.is_cooling("r1", "s2", t(14)));
        c.prune(t(100));
        assert!(c.is_empty());
        assert!(c.keys.is_empty());
    }

    #[test]
    fn clock_step_back_counts_as_recent() {
        let mut c = Cooldown::new(Duration::from_secs(10));
        c.record("r", "s", t(50));
        assert!(c.is_cooling("r", "s", t(40)));
        assert_eq!(c.clear(), 1);
        assert!(!c.is_cooling("r", "s", t(40)));
    }
}
