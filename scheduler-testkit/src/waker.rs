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
    /// Every wake attempted, and whether it was delivered.
    wakes: Vec<(WakeRecord, bool)>,
    batches: Vec<usize>,
    fail_sessions: Vec<String>,
    fail_runs: Vec<String>,
    batch_len: Option<usize>,
}

/// Records every wake attempt and its outcome; a cloneable handle.
///
/// [`attempts`](RecordingWaker::attempts) lists every wake the scheduler tried,
/// [`delivered`](RecordingWaker::delivered) only those that succeeded (a wake failed by
/// [`fail_session`](RecordingWaker::fail_session), [`fail_run`](RecordingWaker::fail_run),
/// the fault plan or a failed batch call is an attempt, not a delivery).
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

    /// Every wake attempted, delivered or failed, in order.
    pub fn attempts(&self) -> Vec<WakeRecord> {
        self.lock().wakes.iter().map(|(w, _)| w.clone()).collect()
    }

    /// Every wake delivered (the attempts that succeeded), in order.
    pub fn delivered(&self) -> Vec<WakeRecord> {
        self.lock().wakes.iter().filter(|(_, ok)| *ok).map(|(w, _)| w.clone()).collect()
    }

    /// `(run, session)` of every wake attempted, in order.
    pub fn attempted_pairs(&self) -> Vec<(String, String)> {
        self.lock().wakes.iter().map(|(w, _)| pair(w)).collect()
    }

    /// `(run, session)` of every wake delivered, in order.
    pub fn delivered_pairs(&self) -> Vec<(String, String)> {
        self.lock().wakes.iter().filter(|(_, ok)| *ok).map(|(w, _)| pair(w)).collect()
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

    /// Attempts one wake, recording it (as failed) before the outcome is known; the
    /// caller settles it with [`settle`](Self::settle).
    fn deliver<R: RunView, S: SessionView>(&self, t: &WakeTarget<'_, R, S>) -> Result<(), FakeError> {
        let mut i = self.lock();
        let (run_id, session_id) = (t.run.run_id().trim(), t.session.session_id().trim());
        let record =
            WakeRecord { run_id: run_id.to_owned(), session_id: session_id.to_owned(), reason: t.reason.to_owned() };
        i.wakes.push((record, false));
        let refused = i.fail_sessions.iter().any(|s| s == session_id) || i.fail_runs.iter().any(|r| r == run_id);
        drop(i);
        self.faults.check("wake")?;
        if refused { Err(FakeError { op: "wake", call: self.faults.calls("wake") }) } else { Ok(()) }
    }

    /// Records the outcome of the last attempt and hands it back.
    fn settle(&self, result: Result<(), FakeError>) -> Result<(), FakeError> {
        if let Some(last) = self.lock().wakes.last_mut() {
            last.1 = result.is_ok();
        }
        result
    }
}

impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for RecordingWaker {
    type Error = FakeError;

    async fn wake(&self, target: WakeTarget<'_, R, S>) -> Result<(), FakeError> {
        let result = self.deliver(&target);
        self.settle(result)
    }

    async fn wake_batch<'a>(&'a self, batch: WakeBatch<'a, R, S>, out: &'a mut Vec<Result<(), FakeError>>) {
        if !self.batch {
            for t in batch.iter() {
                let result = self.deliver(&t);
                out.push(self.settle(result));
            }
            return;
        }
        self.lock().batches.push(batch.len());
        let whole = self.faults.check("wake_batch");
        for t in batch.iter() {
            let r = self.deliver(&t);
            out.push(self.settle(whole.clone().and(r)));
        }
        let wrong_len = self.lock().batch_len.filter(|&len| len != batch.len());
        if let Some(len) = wrong_len {
            // A wrong-length batch fails every target (behaviour step 5).
            out.resize_with(len, || Ok(()));
            let mut i = self.lock();
            let k = i.wakes.len();
            for w in &mut i.wakes[k - batch.len()..] {
                w.1 = false;
            }
        }
    }
}

fn pair(w: &WakeRecord) -> (String, String) {
    (w.run_id.clone(), w.session_id.clone())
}
