//! Shared helpers for the scheduler-core behaviour tests (`cycle_*`, `loop_*`,
//! `settings_*`): a rig of testkit fakes on a fake clock, a one-call cycle runner that
//! returns an owned result plus the errors' debug renderings, and small constructors.

#![allow(dead_code, unreachable_pub)]

use std::fmt::Debug;
use std::time::{Duration, SystemTime};

pub use futures::executor::block_on;
use scheduler_core::clock::Clock;
use scheduler_core::observer::Observer;
use scheduler_core::seam::{
    EscalationActor, NoPauseStore, PauseStore, SessionSource, StarvationStore, TaskSource, Waker,
};
use scheduler_core::{Builder, CycleResult, Error, Outcome, Scheduler};
use scheduler_testkit::clock::FakeClock;
use scheduler_testkit::escalation::RecordingActor;
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::scripted::{ScriptedSessions, ScriptedTasks};
use scheduler_testkit::stores::{MemoryPauseStore, MemoryStarvationStore};
use scheduler_testkit::waker::RecordingWaker;

/// The fake clock's start, in Unix seconds.
pub const T0: u64 = 1_700_000_000;

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn mins(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// `T0 + offset`.
pub fn at(offset: Duration) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(T0) + offset
}

/// The scheduler type a plain rig builds.
pub type Sched = Scheduler<ScriptedTasks, ScriptedSessions, RecordingWaker, FakeClock>;
/// The scheduler type with a pause store.
pub type PausedSched = Scheduler<ScriptedTasks, ScriptedSessions, RecordingWaker, FakeClock, MemoryPauseStore>;
/// The scheduler type with the full ladder.
pub type LadderSched = Scheduler<
    ScriptedTasks,
    ScriptedSessions,
    RecordingWaker,
    FakeClock,
    NoPauseStore,
    MemoryStarvationStore,
    RecordingActor,
>;

/// Any error type of these tests renders the same `Debug` text for the same variant
/// and fields, so expected errors are written with this alias and compared as text.
pub type Expected = Error<FakeError, FakeError, FakeError, FakeError, FakeError, FakeError>;

/// The testkit fakes a scenario is built from. Every field is a cloneable handle shared
/// with the scheduler, so the test scripts and inspects them while it runs.
#[derive(Clone)]
pub struct Rig {
    pub tasks: ScriptedTasks,
    pub sessions: ScriptedSessions,
    pub waker: RecordingWaker,
    pub clock: FakeClock,
    pub pause: MemoryPauseStore,
    pub store: MemoryStarvationStore,
    pub actor: RecordingActor,
}

impl Rig {
    /// A rig with a one-by-one (single) waker.
    pub fn new() -> Self {
        Self::with_waker(RecordingWaker::single())
    }

    /// A rig with a batch waker.
    pub fn batch() -> Self {
        Self::with_waker(RecordingWaker::batch())
    }

    pub fn with_waker(waker: RecordingWaker) -> Self {
        Rig {
            tasks: ScriptedTasks::new(),
            sessions: ScriptedSessions::new(),
            waker,
            clock: FakeClock::at_unix(T0),
            pause: MemoryPauseStore::new(),
            store: MemoryStarvationStore::new(),
            actor: RecordingActor::new(),
        }
    }

    /// The clock's current time.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// `now - by`.
    pub fn ago(&self, by: Duration) -> SystemTime {
        self.clock.now() - by
    }

    /// A builder over the rig's sources, waker and clock (no optional seam).
    pub fn builder(&self) -> Builder<ScriptedTasks, ScriptedSessions, RecordingWaker, FakeClock> {
        Scheduler::builder(self.tasks.clone(), self.sessions.clone(), self.waker.clone()).clock(self.clock.clone())
    }

    /// A scheduler with default settings and no optional seam.
    pub fn build(&self) -> Sched {
        self.builder().build().expect("valid settings")
    }

    /// A scheduler with the rig's pause store.
    pub fn build_paused(&self) -> PausedSched {
        self.builder().pause_store(self.pause.clone()).build().expect("valid settings")
    }

    /// A scheduler with the rig's starvation store and escalation actor (the ladder on).
    pub fn build_ladder(&self) -> LadderSched {
        self.builder()
            .starvation_store(self.store.clone())
            .escalation_actor(self.actor.clone())
            .build()
            .expect("valid settings")
    }
}

/// One cycle's owned outcome.
#[derive(Debug)]
pub struct Cycle {
    pub result: CycleResult,
    /// Every error's `Debug` rendering, in the order returned.
    pub errors: Vec<String>,
}

impl Cycle {
    pub fn outcome(&self) -> Outcome {
        self.result.outcome
    }
}

/// Runs one cycle to completion on the current thread.
pub fn cycle<T, S, W, C, P, B, A, O>(s: &mut Scheduler<T, S, W, C, P, B, A, O>) -> Cycle
where
    T: TaskSource,
    S: SessionSource,
    W: Waker<T::Run, S::Session>,
    C: Clock,
    P: PauseStore,
    B: StarvationStore,
    A: EscalationActor<T::Run>,
    O: Observer,
{
    let report = block_on(s.run_once());
    Cycle { result: report.to_result(), errors: debug_all(report.errors()) }
}

pub fn debug_all<E: Debug>(errors: &[E]) -> Vec<String> {
    errors.iter().map(|e| format!("{e:?}")).collect()
}

pub fn fake(op: &'static str, call: u64) -> FakeError {
    FakeError { op, call }
}

pub fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(r, s)| ((*r).to_owned(), (*s).to_owned())).collect()
}

/// Sorted copies, to compare error multisets regardless of order.
pub fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}
