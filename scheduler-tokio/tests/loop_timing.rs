//! The loop on tokio's paused clock: the interval grid, skipped ticks after a slow
//! cycle, panic containment and `run_now` coalescing; on-demand cycles leave the grid
//! where it was. No real time passes.

mod common;

use common::{Act, Fixture, at, secs};
use scheduler_tokio::LoopState;
use tokio_util::sync::CancellationToken;

#[tokio::test(start_paused = true)]
async fn first_cycle_runs_at_start_then_one_every_interval() {
    let f = Fixture::new(secs(15));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(50).await;
    assert_eq!(f.probe.started(), at(&[0, 15, 30, 45]));
    // The cycle time the task service sees is the same wall time.
    let swept: Vec<_> = f.tasks.inner.recovery_calls().into_iter().map(|c| c.now).collect();
    assert_eq!(swept, at(&[0, 15, 30, 45]));
    assert_eq!(f.handle.stats().cycles, 4);
    assert_eq!(f.handle.stats().last_cycle_at, Some(at(&[45])[0]));
}

#[tokio::test(start_paused = true)]
async fn a_cycle_slower_than_the_interval_skips_missed_ticks_without_burst() {
    let f = Fixture::new(secs(15));
    // The first cycle's task service answers after 40 s: the ticks at 15 and 30 are
    // missed. The next cycle starts on the grid at 45, not at once at 40 (a burst of
    // the missed ticks) and not at 55 (an interval after the slow cycle ended).
    f.tasks.on_read(1, Act::Sleep(secs(40)));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(70).await;
    assert_eq!(f.probe.started(), at(&[0, 45, 60]));
    assert_eq!(f.probe.ended(), at(&[40, 45, 60]));
    assert_eq!(f.probe.max_in_flight(), 1, "cycles never overlap");
    assert_eq!(f.handle.stats().cycles, 3);
}

#[tokio::test(start_paused = true)]
async fn a_cycle_just_over_the_interval_waits_for_the_next_grid_point() {
    let f = Fixture::new(secs(15));
    f.tasks.on_read(2, Act::Sleep(secs(16)));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(50).await;
    // Cycle 2 runs 15..31: the tick at 30 is skipped, the next cycle is at 45.
    assert_eq!(f.probe.started(), at(&[0, 15, 45]));
    assert_eq!(f.probe.ended(), at(&[0, 31, 45]));
}

#[tokio::test(start_paused = true)]
async fn a_panicking_seam_is_one_failed_call_and_the_loop_goes_on() {
    let f = Fixture::new(secs(15));
    f.tasks.on_read(2, Act::Panic("task service exploded"));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(50).await;
    // The panic at 15 neither ended the loop nor shifted its grid: it failed that
    // cycle's snapshot read (section 8), so the cycle is not counted.
    assert_eq!(f.probe.started(), at(&[0, 15, 30, 45]));
    let stats = f.handle.stats();
    assert_eq!(stats.cycle_panics, 0, "contained at the call, not the cycle");
    assert_eq!(stats.cycles, 3, "the cycle whose read failed is not counted");
    assert_eq!(f.handle.state(), LoopState::Running);
}

#[tokio::test(start_paused = true)]
async fn run_now_runs_a_cycle_at_once_and_keeps_the_grid() {
    let f = Fixture::new(secs(15));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(5).await;
    assert!(f.handle.run_now());
    f.until(40).await;
    assert_eq!(f.probe.started(), at(&[0, 5, 15, 30]));
    assert_eq!(f.handle.stats().on_demand_cycles, 1);
}

#[tokio::test(start_paused = true)]
async fn run_now_requests_during_a_cycle_coalesce_into_one_cycle_after_it() {
    let f = Fixture::new(secs(15));
    f.tasks.on_read(1, Act::Sleep(secs(10)));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(2).await;
    for _ in 0..5 {
        assert!(f.handle.run_now());
    }
    f.until(4).await;
    assert!(f.handle.run_now());
    f.until(35).await;
    // Six requests while cycle 1 ran (0..10): exactly one cycle right after it, at 10,
    // then the grid (15, 30).
    assert_eq!(f.probe.started(), at(&[0, 10, 15, 30]));
    assert_eq!(f.handle.stats().cycles, 4);
    assert_eq!(f.handle.stats().on_demand_cycles, 1);
}

#[tokio::test(start_paused = true)]
async fn run_now_requests_during_a_later_cycle_coalesce_too() {
    // Unlike the start cycle, a cycle after a tick begins with the loop already
    // listening for requests, so the first request wakes it and the others would leave
    // a stored permit: still one cycle after the slow one.
    let f = Fixture::new(secs(15));
    f.tasks.on_read(2, Act::Sleep(secs(10)));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(17).await;
    for _ in 0..3 {
        assert!(f.handle.run_now());
    }
    f.until(19).await;
    assert!(f.handle.run_now());
    f.until(50).await;
    assert_eq!(f.probe.started(), at(&[0, 15, 25, 30, 45]));
}

#[tokio::test(start_paused = true)]
async fn run_now_requests_after_a_triggered_cycle_are_not_lost() {
    let f = Fixture::new(secs(15));
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(5).await;
    assert!(f.handle.run_now());
    f.until(7).await;
    assert!(f.handle.run_now());
    f.until(25).await;
    assert_eq!(f.probe.started(), at(&[0, 5, 7, 15]));
}

#[tokio::test(start_paused = true)]
async fn run_now_before_start_does_nothing() {
    let f = Fixture::new(secs(15));
    assert!(!f.handle.run_now());
    f.handle.start(&CancellationToken::new()).unwrap();
    f.until(20).await;
    // Only the start cycle and the tick: no extra cycle from the early request.
    assert_eq!(f.probe.started(), at(&[0, 15]));
}
