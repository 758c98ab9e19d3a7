//! The background loop on the fake clock: a cycle at once, then one per interval as the
//! clock advances; triggers; shutdown; contained panics. Driven by a single-threaded
//! executor that runs until stalled after each clock step. No real time passes.

mod common;

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::{Rig, secs};
use futures::channel::{mpsc, oneshot};
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use scheduler_core::StatsHandle;
use scheduler_core::clock::Clock;
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, TaskSource};
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::scripted::ScriptedTasks;
use scheduler_testkit::snapshot::{ActiveRun, RecoveredLease, RunSnapshot, SessionSnapshot};

/// A loop future spawned on a local pool, with its shutdown switch.
struct Harness {
    pool: LocalPool,
    stop: Option<oneshot::Sender<()>>,
    done: Rc<Cell<bool>>,
    stats: StatsHandle,
}

impl Harness {
    /// Spawns `make(shutdown)` and runs it until it stalls (the first cycle runs).
    fn start<F: Future<Output = ()> + 'static>(
        stats: StatsHandle,
        make: impl FnOnce(oneshot::Receiver<()>) -> F,
    ) -> Harness {
        let (stop, stopped) = oneshot::channel();
        let done = Rc::new(Cell::new(false));
        let fut = make(stopped);
        let flag = done.clone();
        let mut pool = LocalPool::new();
        pool.spawner()
            .spawn_local(async move {
                fut.await;
                flag.set(true);
            })
            .unwrap();
        pool.run_until_stalled();
        Harness { pool, stop: Some(stop), done, stats }
    }

    fn settle(&mut self) {
        self.pool.run_until_stalled();
    }

    fn cycles(&self) -> u64 {
        self.stats.snapshot().cycles
    }

    fn shutdown(&mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        self.settle();
        assert!(self.done.get(), "the loop ended on shutdown");
    }
}

fn one_pair(rig: &Rig) {
    rig.tasks.push_pending(RunSnapshot::queued("r1", "t1"));
    rig.sessions.push(SessionSnapshot::active("s1"));
}

#[test]
fn run_until_cycles_at_once_then_once_per_interval() {
    let rig = Rig::new();
    one_pair(&rig);
    let mut s = rig.builder().wake_cooldown(secs(0)).build().unwrap();
    let start = rig.now();
    let mut h = Harness::start(s.stats_handle(), move |stop| async move {
        s.run_until(async move {
            let _ = stop.await;
        })
        .await;
    });
    assert_eq!(h.cycles(), 1, "a cycle at once");
    assert_eq!(rig.waker.attempted_pairs().len(), 1);
    assert_eq!(rig.clock.next_deadline(), Some(start + secs(15)));

    rig.clock.advance(secs(14));
    h.settle();
    assert_eq!(h.cycles(), 1, "less than an interval: no cycle");

    rig.clock.advance(secs(1));
    h.settle();
    assert_eq!(h.cycles(), 2);
    assert_eq!(h.stats.snapshot().last_cycle_at, Some(rig.now()));

    rig.clock.advance(secs(15));
    h.settle();
    assert_eq!(h.cycles(), 3);

    // Three intervals at once: one cycle, missed ticks are skipped, not burst.
    rig.clock.advance(secs(45));
    h.settle();
    assert_eq!(h.cycles(), 4);
    rig.clock.advance(secs(15));
    h.settle();
    assert_eq!(h.cycles(), 5);
    assert_eq!(rig.waker.attempted_pairs().len(), 5, "every cycle woke");

    h.shutdown();
    assert_eq!(h.cycles(), 5, "shutdown runs no further cycle");
    rig.clock.advance(secs(120));
    h.settle();
    assert_eq!(h.cycles(), 5);
    assert_eq!(rig.clock.sleepers(), 0, "the loop's sleep was dropped");
}

#[test]
fn run_until_uses_the_configured_interval() {
    let rig = Rig::new();
    let mut s = rig.builder().interval(secs(5)).build().unwrap();
    let mut h = Harness::start(s.stats_handle(), move |stop| async move {
        s.run_until(async move {
            let _ = stop.await;
        })
        .await;
    });
    for n in 2..=4 {
        rig.clock.advance(secs(4));
        h.settle();
        assert_eq!(h.cycles(), n - 1);
        rig.clock.advance(secs(1));
        h.settle();
        assert_eq!(h.cycles(), n);
    }
    h.shutdown();
}

#[test]
fn run_with_trigger_runs_a_cycle_per_trigger_item() {
    let rig = Rig::new();
    let mut s = rig.build();
    let (trigger, triggers) = mpsc::unbounded::<()>();
    let mut h = Harness::start(s.stats_handle(), move |stop| async move {
        s.run_with_trigger(
            async move {
                let _ = stop.await;
            },
            triggers,
        )
        .await;
    });
    assert_eq!(h.cycles(), 1);

    // A trigger runs a cycle with no time passing.
    trigger.unbounded_send(()).unwrap();
    h.settle();
    assert_eq!(h.cycles(), 2);

    // Two more items, two more cycles.
    trigger.unbounded_send(()).unwrap();
    trigger.unbounded_send(()).unwrap();
    h.settle();
    assert_eq!(h.cycles(), 4);

    // A triggered cycle leaves the interval grid where it was: trigger at +10, next
    // tick still at +15, then +30.
    rig.clock.advance(secs(10));
    h.settle();
    assert_eq!(h.cycles(), 4);
    trigger.unbounded_send(()).unwrap();
    h.settle();
    assert_eq!(h.cycles(), 5);
    rig.clock.advance(secs(5));
    h.settle();
    assert_eq!(h.cycles(), 6);
    rig.clock.advance(secs(10));
    h.settle();
    assert_eq!(h.cycles(), 6);
    rig.clock.advance(secs(5));
    h.settle();
    assert_eq!(h.cycles(), 7);
    assert_eq!(h.stats.snapshot().on_demand_cycles, 4, "one per trigger item");

    // A finished trigger stream leaves the ticks running.
    drop(trigger);
    h.settle();
    assert_eq!(h.cycles(), 7);
    rig.clock.advance(secs(15));
    h.settle();
    assert_eq!(h.cycles(), 8);

    h.shutdown();
    assert_eq!(h.cycles(), 8);
}

/// A task source that panics in `pending_runs` when armed.
#[derive(Clone, Default)]
struct PanickySource {
    inner: ScriptedTasks,
    armed: Arc<AtomicBool>,
}

impl TaskSource for PanickySource {
    type Run = Arc<RunSnapshot>;
    type ActiveRun = Arc<ActiveRun>;
    type Recovered = Arc<RecoveredLease>;
    type Error = FakeError;

    async fn recover_expired_leases(&self, r: Recovery<'_>, out: &mut Vec<Self::Recovered>) -> Result<(), FakeError> {
        self.inner.recover_expired_leases(r, out).await
    }
    async fn pending_runs(&self, out: &mut Vec<Self::Run>) -> Result<(), FakeError> {
        if self.armed.swap(false, Ordering::SeqCst) {
            panic!("pending_runs exploded");
        }
        self.inner.pending_runs(out).await
    }
    async fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> Result<(), FakeError> {
        self.inner.active_runs(out).await
    }
    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, FakeError> {
        self.inner.run_status(run_id).await
    }
}

/// A panicking seam call is that call failing (section 8): here a snapshot read, so
/// the cycle ends uncounted with an error naming the call; no cycle panic.
#[test]
fn a_panicking_source_is_one_failed_call_and_the_loop_goes_on() {
    let rig = Rig::new();
    one_pair(&rig);
    let source = PanickySource { inner: rig.tasks.clone(), armed: Arc::new(AtomicBool::new(true)) };
    let armed = source.armed.clone();
    let log = ErrorLog::default();
    let mut s = scheduler_core::Scheduler::builder(source, rig.sessions.clone(), rig.waker.clone())
        .clock(rig.clock.clone())
        .wake_cooldown(secs(0))
        .observer(log.clone())
        .build()
        .unwrap();
    let mut h = Harness::start(s.stats_handle(), move |stop| async move {
        s.run_until(async move {
            let _ = stop.await;
        })
        .await;
    });
    let st = h.stats.snapshot();
    assert_eq!((st.cycle_panics, st.cycles), (0, 0), "the first cycle's read failed: not counted");
    assert!(rig.waker.attempts().is_empty());
    assert!(!h.done.get(), "the loop is still running");
    let errors = log.0.lock().unwrap().clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("pending runs read panicked: pending_runs exploded"), "{errors:?}");

    rig.clock.advance(secs(15));
    h.settle();
    let st = h.stats.snapshot();
    assert_eq!((st.cycle_panics, st.cycles), (0, 1), "the next cycle ran normally");
    assert_eq!(rig.waker.attempted_pairs().len(), 1);

    armed.store(true, Ordering::SeqCst);
    rig.clock.advance(secs(15));
    h.settle();
    rig.clock.advance(secs(15));
    h.settle();
    let st = h.stats.snapshot();
    assert_eq!((st.cycle_panics, st.cycles), (0, 2));
    assert_eq!(rig.waker.attempted_pairs().len(), 2);

    h.shutdown();
}

/// Records every cycle error's text.
#[derive(Clone, Default)]
struct ErrorLog(Arc<std::sync::Mutex<Vec<String>>>);

impl scheduler_core::observer::Observer for ErrorLog {
    fn cycle_error<E: std::error::Error>(&self, error: &E) {
        self.0.lock().unwrap().push(error.to_string());
    }
}

/// An observer that panics in `cycle_started` when armed: a panic outside any seam
/// call, contained at the cycle boundary.
#[derive(Clone, Default)]
struct PanickyObserver(Arc<AtomicBool>);

impl scheduler_core::observer::Observer for PanickyObserver {
    fn cycle_started(&self, _now: std::time::SystemTime) {
        if self.0.swap(false, Ordering::SeqCst) {
            panic!("observer exploded");
        }
    }
}

#[test]
fn a_panic_outside_the_seams_is_contained_and_the_loop_goes_on() {
    let rig = Rig::new();
    one_pair(&rig);
    let observer = PanickyObserver(Arc::new(AtomicBool::new(true)));
    let armed = observer.0.clone();
    let mut s = scheduler_core::Scheduler::builder(rig.tasks.clone(), rig.sessions.clone(), rig.waker.clone())
        .clock(rig.clock.clone())
        .wake_cooldown(secs(0))
        .observer(observer)
        .build()
        .unwrap();
    let mut h = Harness::start(s.stats_handle(), move |stop| async move {
        s.run_until(async move {
            let _ = stop.await;
        })
        .await;
    });
    let st = h.stats.snapshot();
    assert_eq!((st.cycle_panics, st.cycles), (1, 0), "the first cycle panicked and was not counted");
    assert_eq!(st.last_panic.as_deref(), Some("observer exploded"));
    assert!(!h.done.get(), "the loop is still running");

    rig.clock.advance(secs(15));
    h.settle();
    let st = h.stats.snapshot();
    assert_eq!((st.cycle_panics, st.cycles), (1, 1), "the next cycle ran normally");
    armed.store(true, Ordering::SeqCst);
    rig.clock.advance(secs(15));
    h.settle();
    assert_eq!(h.stats.snapshot().cycle_panics, 2);
    assert_eq!(rig.waker.attempted_pairs().len(), 1);
    h.shutdown();
}

#[test]
fn the_loop_reads_time_from_the_fake_clock() {
    let rig = Rig::new();
    let mut s = rig.build();
    let t0 = rig.clock.now();
    let mut h = Harness::start(s.stats_handle(), move |stop| async move {
        s.run_until(async move {
            let _ = stop.await;
        })
        .await;
    });
    assert_eq!(rig.tasks.recovery_calls().iter().map(|c| c.now).collect::<Vec<_>>(), [t0]);
    rig.clock.advance(secs(15));
    h.settle();
    assert_eq!(rig.tasks.recovery_calls().iter().map(|c| c.now).collect::<Vec<_>>(), [t0, t0 + secs(15)]);
    h.shutdown();
}
