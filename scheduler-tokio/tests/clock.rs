//! `TokioClock`: anchored wall time moves with tokio time; the timer is tokio's.

use std::time::{Duration, SystemTime};

use scheduler_core::clock::{Clock, Timer};
use scheduler_tokio::TokioClock;
use tokio::time::Instant;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[tokio::test(start_paused = true)]
async fn an_anchored_clock_moves_exactly_with_paused_tokio_time() {
    let clock = TokioClock::anchored_at(t0());
    assert_eq!(clock.anchor(), Some(t0()));
    assert_eq!(clock.now(), t0());
    tokio::time::advance(Duration::from_secs(90)).await;
    assert_eq!(clock.now(), t0() + Duration::from_secs(90));
    tokio::time::advance(Duration::from_millis(1_500)).await;
    assert_eq!(clock.now(), t0() + Duration::from_millis(91_500));
    // Clones share the anchor.
    assert_eq!(clock.clone().now(), clock.now());
}

#[tokio::test(start_paused = true)]
async fn the_timer_sleeps_on_tokio_time() {
    let clock = TokioClock::anchored_at(t0());
    let before = Instant::now();
    clock.sleep(Duration::from_secs(42)).await;
    assert_eq!(Instant::now() - before, Duration::from_secs(42));
    assert_eq!(clock.now(), t0() + Duration::from_secs(42));
}

#[tokio::test(start_paused = true)]
async fn a_default_clock_is_anchored_at_the_current_wall_time() {
    let before = SystemTime::now();
    let clock = TokioClock::default();
    let after = SystemTime::now();
    let anchor = clock.anchor().expect("anchored");
    assert!(before <= anchor && anchor <= after);
    tokio::time::advance(Duration::from_secs(3_600)).await;
    assert_eq!(clock.now(), anchor + Duration::from_secs(3_600));
}

#[tokio::test(start_paused = true)]
async fn a_system_clock_reads_the_os_wall_clock_not_tokio_time() {
    let clock = TokioClock::system();
    assert_eq!(clock.anchor(), None);
    let before = SystemTime::now();
    tokio::time::advance(Duration::from_secs(3_600)).await;
    let now = clock.now();
    let after = SystemTime::now();
    assert!(before <= now && now <= after, "an hour of paused tokio time did not move it");
    // Its sleeps are still tokio's.
    let start = Instant::now();
    clock.sleep(Duration::from_secs(5)).await;
    assert_eq!(Instant::now() - start, Duration::from_secs(5));
}
