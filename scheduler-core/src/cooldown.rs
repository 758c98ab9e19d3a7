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

use std::time::{Duration, SystemTime};

use crate::selection::table::{Seed, Table};

/// Whether a wake stamped `at` holds its pair at `now`: at most `now` and less than one
/// period before it.
fn holds(at: SystemTime, now: SystemTime, period: Duration) -> bool {
    now.duration_since(at).is_ok_and(|age| age < period)
}

/// Wake-cooldown state: when each (run, session) pair was last woken.
///
/// Keys live in one byte buffer (run id then session id, per key) indexed by an
/// open-addressing table; pruning compacts the buffer in place. Every buffer keeps its
/// capacity, so once the key set has reached its usual size, recording, refreshing and
/// pruning keys allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Cooldown {
    period: Duration,
    seed: Seed,
    table: Table,
    keys: Vec<Key>,
    bytes: Vec<u8>,
}

/// One (run, session) key: its bytes are `bytes[start..start + run + session]`.
#[derive(Debug, Clone, Copy)]
struct Key {
    at: SystemTime,
    hash: u64,
    start: usize,
    run: u32,
    session: u32,
}

impl Cooldown {
    /// A cooldown of `period`; zero disables it.
    pub fn new(period: Duration) -> Self {
        Cooldown { period, ..Self::default() }
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
        self.keys.len()
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn hash(&self, run_id: &str, session_id: &str) -> u64 {
        self.seed.words([self.seed.str(run_id), self.seed.str(session_id)])
    }

    fn find(&self, hash: u64, run_id: &str, session_id: &str) -> Option<usize> {
        if self.keys.is_empty() {
            return None;
        }
        let (keys, bytes) = (&self.keys, &self.bytes);
        self.table
            .find(hash, |e| {
                let k = &keys[e as usize];
                let (r, s) = (k.run as usize, k.session as usize);
                r == run_id.len()
                    && s == session_id.len()
                    && &bytes[k.start..k.start + r] == run_id.as_bytes()
                    && &bytes[k.start + r..k.start + r + s] == session_id.as_bytes()
            })
            .map(|e| e as usize)
    }

    /// Whether the pair was woken less than one period before `now`. A wake recorded
    /// later than `now` (the wall clock stepped back) does not hold the pair (behaviour
    /// section 8): it may be woken again at once.
    pub fn is_cooling(&self, run_id: &str, session_id: &str, now: SystemTime) -> bool {
        if self.period.is_zero() || self.keys.is_empty() {
            return false;
        }
        match self.find(self.hash(run_id, session_id), run_id, session_id) {
            Some(e) => holds(self.keys[e].at, now, self.period),
            None => false,
        }
    }

    /// Records a wake of the pair at `now`. Does nothing when disabled.
    ///
    /// # Panics
    /// When an id is longer than `u32::MAX` bytes.
    pub fn record(&mut self, run_id: &str, session_id: &str, now: SystemTime) {
        if self.period.is_zero() {
            return;
        }
        let hash = self.hash(run_id, session_id);
        if let Some(e) = self.find(hash, run_id, session_id) {
            self.keys[e].at = now;
            return;
        }
        let key = Key {
            at: now,
            hash,
            start: self.bytes.len(),
            run: u32::try_from(run_id.len()).expect("run id length"),
            session: u32::try_from(session_id.len()).expect("session id length"),
        };
        self.bytes.extend_from_slice(run_id.as_bytes());
        self.bytes.extend_from_slice(session_id.as_bytes());
        self.keys.push(key);
        // A new key is distinct from every kept one: no equality check needed.
        self.table.intern(hash, |_| false);
    }

    /// Drops every key whose cooldown has passed at `now`. A key stamped later than
    /// `now` is kept (it holds nothing, and the pair's next wake refreshes it).
    pub fn prune(&mut self, now: SystemTime) {
        let period = self.period;
        let live = |k: &Key| now.duration_since(k.at).map_or(true, |age| age < period);
        if self.keys.iter().all(live) {
            return;
        }
        // Compact keys and their bytes in place, in order.
        let (mut kept, mut end) = (0, 0);
        for i in 0..self.keys.len() {
            let k = self.keys[i];
            if !live(&k) {
                continue;
            }
            let n = (k.run + k.session) as usize;
            self.bytes.copy_within(k.start..k.start + n, end);
            self.keys[kept] = Key { start: end, ..k };
            kept += 1;
            end += n;
        }
        self.keys.truncate(kept);
        self.bytes.truncate(end);
        self.reindex();
    }

    /// Rebuilds the table over the kept keys (numbered by position).
    fn reindex(&mut self) {
        self.table.reset(self.keys.len());
        for k in &self.keys {
            self.table.intern(k.hash, |_| false);
        }
    }

    /// Drops every key; returns how many there were.
    pub fn clear(&mut self) -> usize {
        let n = self.keys.len();
        self.keys.clear();
        self.bytes.clear();
        self.table.reset(0);
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
        assert!(c.keys.is_empty() && c.bytes.is_empty());
    }

    #[test]
    fn keys_are_pairs_not_concatenations() {
        let mut c = Cooldown::new(Duration::from_secs(10));
        c.record("ab", "c", t(0));
        assert!(c.is_cooling("ab", "c", t(1)));
        assert!(!c.is_cooling("a", "bc", t(1)));
        c.record("a", "bc", t(2));
        assert_eq!(c.len(), 2);
        c.prune(t(11)); // drops ("ab", "c") only; ("a", "bc") moves down
        assert_eq!(c.len(), 1);
        assert!(!c.is_cooling("ab", "c", t(11)));
        assert!(c.is_cooling("a", "bc", t(11)));
        assert_eq!(c.bytes, b"abc");
    }

    #[test]
    fn many_keys_survive_pruning_and_growth() {
        let mut c = Cooldown::new(Duration::from_secs(100));
        for i in 0..500u64 {
            c.record(&format!("run-{i}"), &format!("s{}", i % 7), t(i));
        }
        assert_eq!(c.len(), 500);
        c.prune(t(350)); // keeps wakes at 251..=499
        assert_eq!(c.len(), 249);
        for i in 0..500u64 {
            // Stamps after t(350) are kept but hold nothing at t(350).
            let cooling = i > 250 && i <= 350;
            assert_eq!(c.is_cooling(&format!("run-{i}"), &format!("s{}", i % 7), t(350)), cooling, "{i}");
        }
        c.record("run-3", "s3", t(350));
        assert_eq!(c.len(), 250);
        assert!(c.is_cooling("run-3", "s3", t(351)));
    }

    #[test]
    fn a_stamp_in_the_future_does_not_hold() {
        let mut c = Cooldown::new(Duration::from_secs(10));
        c.record("r", "s", t(50));
        assert!(!c.is_cooling("r", "s", t(40)));
        assert!(c.is_cooling("r", "s", t(55)));
        c.prune(t(40));
        assert_eq!(c.len(), 1, "kept until refreshed");
        c.record("r", "s", t(40));
        assert!(c.is_cooling("r", "s", t(41)));
        assert_eq!(c.clear(), 1);
        assert!(!c.is_cooling("r", "s", t(40)));
    }
}
