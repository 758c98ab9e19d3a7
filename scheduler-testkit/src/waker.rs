//! A recording waker, single or batch, that fails on demand.
//!
//! Fault operations: `wake` (per target) and `wake_batch` (a whole batch call, which
//! then fails every target of it).

use std::sync::{Arc, Mutex, MutexGuard};

use scheduler_core::seam::{WakeBatch, WakeTarget, Waker};
use scheduler_core::view::{RunView, SessionView};

use crate::fault::{FakeError, Faults};

/// One wake the scheduler sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WakeRecord {
    /// The run.
    pub run_id: String,
    /// The session woken.
    pub session_id: String,
    /// The reason.
    pub reason: String,
}

#[derive(Debug, Default)]
struct Inner {
    wakes: Vec<WakeRecord>,
    batches: Vec<usize>,
    fail_sessions: Vec<String>,
    fail_runs: Vec<String>,
    batch_len: Option<usize>,
}

/// Records every wake; a cloneable handle.
///
/// [`RecordingWaker::single`] is a plain waker (the scheduler's default one-by-one
/// dispatch); [`RecordingWaker::batch`] also overrides `wake_batch` and records each
/// batch call.
#[derive(Debug, Clone, Default)]
pub struct RecordingWaker {
    inner: Arc<Mutex<Inner>>,
    batch: bool,
    faults: Faults,
}

impl RecordingWaker {
    /// A one-by-one waker.
    pub fn single() -> Self {
        Self::default()
    }

    /// A batch waker.
    pub fn batch() -> Self {
        RecordingWaker { batch: true, ..Self::default() }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The fault plan this waker consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every wake delivered or attempted, in order.
    pub fn wakes(&self) -> Vec<WakeRecord> {
        self.lock().wakes.clone()
    }

    /// `(run, session)` of every wake, in order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.lock().wakes.iter().map(|w| (w.run_id.clone(), w.session_id.clone())).collect()
    }

    /// The size of every batch call (batch wakers only).
    pub fn batches(&self) -> Vec<usize> {
        self.lock().batches.clone()
    }

    /// Forgets recorded wakes and batches.
    pub fn clear(&self) {
        let mut i = self.lock();
        i.wakes.clear();
        i.batches.clear();
    }

    /// Wakes of this session fail.
    pub fn fail_session(&self, session_id: impl Into<String>) {
        self.lock().fail_sessions.push(session_id.into());
    }

    /// Wakes for this run fail.
    pub fn fail_run(&self, run_id: impl Into<String>) {
        self.lock().fail_runs.push(run_id.into());
    }

    /// Batch calls return exactly `len` results (to test the wrong-length rule).
    pub fn batch_result_len(&self, len: usize) {
        self.lock().batch_len = Some(len);
    }

    fn deliver<R: RunView, S: SessionView>(&self, t: &WakeTarget<'_, R, S>) -> Result<(), FakeError> {
        let mut i = self.lock();
        let (run_id, session_id) = (t.run.run_id().trim(), t.session.session_id().trim());
        i.wakes.push(WakeRecord {
            run_id: run_id.to_owned(),
            session_id: session_id.to_owned(),
            reason: t.reason.to_owned(),
        });
        let refused = i.fail_sessions.iter().any(|s| s == session_id) || i.fail_runs.iter().any(|r| r == run_id);
        drop(i);
        self.faults.check("wake")?;
        if refused { Err(FakeError { op: "wake", call: self.faults.calls("wake") }) } else { Ok(()) }
    }
}

impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for RecordingWaker {
    type Error = FakeError;

    async fn wake(&self, target: WakeTarget<'_, R, S>) -> Result<(), FakeError> {
        self.deliver(&target)
    }

    async fn wake_batch<'a>(&'a self, batch: WakeBatch<'a, R, S>, out: &'a mut Vec<Result<(), FakeError>>) {
        if !self.batch {
            for t in batch.iter() {
                out.push(self.deliver(&t));
            }
            return;
        }
        self.lock().batches.push(batch.len());
        let whole = self.faults.check("wake_batch");
        for t in batch.iter() {
            let r = self.deliver(&t);
            out.push(whole.clone().and(r));
        }
        if let Some(len) = self.lock().batch_len {
            out.resize_with(len, || Ok(()));
        }
    }
}
