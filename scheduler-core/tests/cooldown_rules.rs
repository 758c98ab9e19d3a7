//! The wake cooldown's small rules, each pinned on its own (mutation testing found them
//! unpinned; see `MUTATION.md`).

use std::time::{Duration, SystemTime};

use scheduler_core::cooldown::Cooldown;

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

/// A cooldown reports the period it was made with (what the invariants checker and the
/// statistics read back), and is enabled exactly when that period is not zero.
#[test]
fn a_cooldown_keeps_its_period() {
    let c = Cooldown::new(Duration::from_secs(90));
    assert_eq!(c.period(), Duration::from_secs(90));
    assert!(c.is_enabled());
    let off = Cooldown::new(Duration::ZERO);
    assert_eq!(off.period(), Duration::ZERO);
    assert!(!off.is_enabled());
}

/// A pair is cooling from the moment it is recorded until the period has passed (the end
/// excluded), whatever other pairs were recorded since.
#[test]
fn a_pair_cools_for_exactly_its_period() {
    let mut c = Cooldown::new(Duration::from_secs(60));
    c.record("workspace-7f3a/run-000001", "workspace-7f3a/session-000123", t(0));
    c.record("workspace-7f3a/run-000001", "workspace-7f3a/session-000124", t(30));
    let pair = ("workspace-7f3a/run-000001", "workspace-7f3a/session-000123");
    assert!(c.is_cooling(pair.0, pair.1, t(0)));
    assert!(c.is_cooling(pair.0, pair.1, t(59)));
    assert!(!c.is_cooling(pair.0, pair.1, t(60)));
    assert!(c.is_cooling("workspace-7f3a/run-000001", "workspace-7f3a/session-000124", t(89)));
    assert!(!c.is_cooling("workspace-7f3a/run-000002", "workspace-7f3a/session-000123", t(1)));
}

/// A cooldown holds no pair until one is recorded, and a disabled one (zero period)
/// never holds any.
#[test]
fn a_cooldown_is_empty_until_a_pair_is_recorded() {
    let mut c = Cooldown::new(Duration::from_secs(60));
    assert!(c.is_empty());
    assert_eq!(c.len(), 0);
    c.record("run-1", "session-1", t(0));
    assert!(!c.is_empty());
    assert_eq!(c.len(), 1);
    let mut off = Cooldown::new(Duration::ZERO);
    off.record("run-1", "session-1", t(0));
    assert!(off.is_empty());
}
