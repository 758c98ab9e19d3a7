//! The in-memory service and registry hand out `Arc` clones: once the reader's buffers
//! have grown, the scheduler's steady-state reads allocate nothing.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime};

use scheduler_bench_support::alloc::{CountingAllocator, measure};
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, SessionSource, TaskSource};
use scheduler_testkit::registry::MemorySessions;
use scheduler_testkit::service::{ClaimRequest, MemoryTaskService, RecoveredRun};
use scheduler_testkit::snapshot::{ActiveRun, RunSnapshot, SessionSnapshot};

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator::new();

/// Polls a future that is ready at once (the in-memory seams never wait).
fn ready<F: Future>(future: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the in-memory seams never wait"),
    }
}

#[test]
fn steady_state_reads_allocate_nothing() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let service = MemoryTaskService::new();
    let sessions = MemorySessions::new();
    for i in 0..200 {
        service
            .enqueue_snapshot(&RunSnapshot::queued(format!("run-{i}"), format!("task-{i}")).caps(["rust"]), t0)
            .unwrap();
    }
    for j in 0..20 {
        sessions.register(SessionSnapshot::active(format!("sess-{j}")).caps(["rust"])).unwrap();
    }
    for j in 0..10 {
        service
            .claim(&ClaimRequest::session(format!("sess-{j}")).caps(["rust"]), Duration::from_secs(600), t0)
            .unwrap();
    }

    let mut runs: Vec<Arc<RunSnapshot>> = Vec::new();
    let mut active: Vec<Arc<ActiveRun>> = Vec::new();
    let mut live: Vec<Arc<SessionSnapshot>> = Vec::new();
    let mut recovered: Vec<RecoveredRun> = Vec::new();
    let request =
        Recovery { now: t0 + Duration::from_secs(60), reason: "scheduler_sweep", limit: 100, actor: "scheduler" };
    let read_all = |runs: &mut Vec<_>, active: &mut Vec<_>, live: &mut Vec<_>, recovered: &mut Vec<_>| {
        runs.clear();
        active.clear();
        live.clear();
        recovered.clear();
        ready(service.recover_expired_leases(request, recovered)).unwrap();
        ready(service.pending_runs(runs)).unwrap();
        ready(service.active_runs(active)).unwrap();
        ready(sessions.sessions(live)).unwrap();
        ready(service.run_status("run-150")).unwrap()
    };
    // The first read grows the buffers.
    read_all(&mut runs, &mut active, &mut live, &mut recovered);
    let (status, stats) = measure(|| read_all(&mut runs, &mut active, &mut live, &mut recovered));
    assert_eq!(status, Some(RunStatus::Queued));
    assert_eq!((runs.len(), active.len(), live.len(), recovered.len()), (190, 10, 20, 0));
    assert_eq!(stats.allocations(), 0, "{stats:?}");
}

/// A batch waker that counts and keeps nothing.
struct CountingWaker(std::sync::atomic::AtomicUsize);

impl<R: Sync, S: Sync> scheduler_core::seam::Waker<R, S> for CountingWaker {
    type Error = std::convert::Infallible;

    async fn wake(&self, _: scheduler_core::seam::WakeTarget<'_, R, S>) -> Result<(), Self::Error> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn a_steady_scheduler_cycle_over_the_service_allocates_nothing() {
    use scheduler_core::Scheduler;
    use scheduler_testkit::clock::FakeClock;

    let clock = FakeClock::at_unix(1_767_225_600);
    let t0 = scheduler_core::clock::Clock::now(&clock);
    let service = MemoryTaskService::new();
    let sessions = MemorySessions::new();
    for i in 0..100 {
        let caps = if i % 2 == 0 { vec!["rust"] } else { vec!["go"] };
        service.enqueue_snapshot(&RunSnapshot::queued(format!("run-{i}"), format!("task-{i}")).caps(caps), t0).unwrap();
    }
    for j in 0..10 {
        let caps = if j % 2 == 0 { vec!["rust", "go"] } else { vec!["go"] };
        sessions.register(SessionSnapshot::active(format!("sess-{j}")).caps(caps)).unwrap();
    }
    let mut scheduler = Scheduler::builder(service, sessions, CountingWaker(std::sync::atomic::AtomicUsize::new(0)))
        .clock(clock.clone())
        .starvation_age(Duration::ZERO)
        .build()
        .unwrap();
    let mut cycle = || {
        clock.advance(Duration::from_secs(61));
        let report = ready(scheduler.run_once());
        assert!(report.is_ok());
        report.counts().wake_succeeded
    };
    // Warm up: buffers and cooldown storage grow.
    for _ in 0..3 {
        cycle();
    }
    let (woken, stats) = measure(&mut cycle);
    assert_eq!(woken, 10, "every idle session is woken each cycle");
    assert_eq!(stats.allocations(), 0, "{stats:?}");
}
