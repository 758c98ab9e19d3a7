//! A recording escalation actor with scripted outcomes.
//!
//! Fault operations: `request_spawn`, `emit_starved`, `mark_needs_attention`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use scheduler_core::seam::{EscalationActor, MarkOutcome, SpawnOutcome};
use scheduler_core::view::RunView;

use crate::fault::{FakeError, Faults};

/// One escalation the scheduler asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EscalationCall {
    /// A worker spawn for the run.
    Spawn {
        /// The run.
        run_id: String,
    },
    /// A starved event for the run.
    Starved {
        /// The run.
        run_id: String,
        /// Its queued age.
        age: Duration,
    },
    /// Marking the run `needs_attention`.
    NeedsAttention {
        /// The run.
        run_id: String,
        /// The diagnostic.
        diagnostic: String,
    },
}

#[derive(Debug)]
struct Inner {
    calls: Vec<EscalationCall>,
    times: Vec<SystemTime>,
    spawn: SpawnOutcome,
    mark: MarkOutcome,
}

/// Records escalations and answers with scripted outcomes (spawn: requested; mark:
/// marked, unless changed). A cloneable handle.
#[derive(Debug, Clone)]
pub struct RecordingActor {
    inner: Arc<Mutex<Inner>>,
    faults: Faults,
}

impl Default for RecordingActor {
    fn default() -> Self {
        RecordingActor {
            inner: Arc::new(Mutex::new(Inner {
                calls: Vec::new(),
                times: Vec::new(),
                spawn: SpawnOutcome::Requested,
                mark: MarkOutcome::Marked,
            })),
            faults: Faults::new(),
        }
    }
}

impl RecordingActor {
    /// An actor whose spawns are requested and marks succeed.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault plan this actor consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// What spawn requests answer from now on.
    pub fn set_spawn_outcome(&self, outcome: SpawnOutcome) {
        self.lock().spawn = outcome;
    }

    /// What marks answer from now on.
    pub fn set_mark_outcome(&self, outcome: MarkOutcome) {
        self.lock().mark = outcome;
    }

    /// Every call so far, in order (failed ones included).
    pub fn calls(&self) -> Vec<EscalationCall> {
        self.lock().calls.clone()
    }

    /// The cycle time (`now`) each call so far was made with, in call order: one entry
    /// per entry of [`calls`](Self::calls).
    pub fn call_times(&self) -> Vec<SystemTime> {
        self.lock().times.clone()
    }

    /// Forgets recorded calls.
    pub fn clear(&self) {
        let mut i = self.lock();
        i.calls.clear();
        i.times.clear();
    }
}

impl<R: RunView + Sync> EscalationActor<R> for RecordingActor {
    type Error = FakeError;

    async fn request_spawn(&self, run: &R, now: SystemTime) -> Result<SpawnOutcome, FakeError> {
        let outcome = {
            let mut i = self.lock();
            i.calls.push(EscalationCall::Spawn { run_id: run.run_id().trim().to_owned() });
            i.times.push(now);
            i.spawn
        };
        self.faults.check("request_spawn")?;
        Ok(outcome)
    }

    async fn emit_starved(&self, run: &R, age: Duration, now: SystemTime) -> Result<(), FakeError> {
        {
            let mut i = self.lock();
            i.calls.push(EscalationCall::Starved { run_id: run.run_id().trim().to_owned(), age });
            i.times.push(now);
        }
        self.faults.check("emit_starved")
    }

    async fn mark_needs_attention(&self, run: &R, diagnostic: &str, now: SystemTime) -> Result<MarkOutcome, FakeError> {
        let outcome = {
            let mut i = self.lock();
            i.times.push(now);
            i.calls.push(EscalationCall::NeedsAttention {
                run_id: run.run_id().trim().to_owned(),
                diagnostic: diagnostic.to_owned(),
            });
            i.mark
        };
        self.faults.check("mark_needs_attention")?;
        Ok(outcome)
    }
}
