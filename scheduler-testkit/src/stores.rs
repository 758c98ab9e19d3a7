//! In-memory pause and starvation stores, with native batch methods, round-trip
//! counting and faults on demand.
//!
//! Fault operations: pause store `is_paused`, `pause`, `resume`, `pause_state`; starvation store `load`, `upsert`,
//! `clear`, `list` (per row or call) and `load_many`, `upsert_many`, `clear_many`
//! (whole batch).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use scheduler_core::ladder::Budget;
use scheduler_core::lease::PauseControl;
use scheduler_core::seam::{PauseStore, StarvationStore};

use crate::fault::{FakeError, Faults};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub use scheduler_core::lease::PauseState;

/// The scheduler-wide pause flag, in memory (a cloneable handle).
#[derive(Debug, Clone, Default)]
pub struct MemoryPauseStore {
    state: Arc<Mutex<Option<PauseState>>>,
    faults: Faults,
}

impl MemoryPauseStore {
    /// An unpaused store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fault plan this store consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Pauses the scheduler.
    pub fn pause(&self, paused_by: impl Into<String>, paused_at: SystemTime, reason: impl Into<String>) {
        *lock(&self.state) = Some(PauseState { paused_by: paused_by.into(), paused_at, reason: reason.into() });
    }

    /// Resumes the scheduler.
    pub fn resume(&self) {
        *lock(&self.state) = None;
    }

    /// The pause, if paused.
    pub fn state(&self) -> Option<PauseState> {
        lock(&self.state).clone()
    }
}

/// The operator's side; pausing again replaces who, when and why.
impl PauseControl for MemoryPauseStore {
    async fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> Result<(), FakeError> {
        self.faults.check("pause")?;
        MemoryPauseStore::pause(self, paused_by, paused_at, reason);
        Ok(())
    }

    async fn resume(&self) -> Result<(), FakeError> {
        self.faults.check("resume")?;
        MemoryPauseStore::resume(self);
        Ok(())
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, FakeError> {
        self.faults.check("pause_state")?;
        Ok(self.state())
    }
}

impl PauseStore for MemoryPauseStore {
    type Error = FakeError;

    async fn is_paused(&self) -> Result<bool, FakeError> {
        self.faults.check("is_paused")?;
        Ok(lock(&self.state).is_some())
    }
}

#[derive(Debug, Default)]
struct StoreInner {
    rows: Mutex<BTreeMap<Arc<str>, Budget>>,
    round_trips: AtomicU64,
}

/// Durable-in-spirit starvation budgets, in memory (a cloneable handle). Listing hands
/// out `Arc<str>` keys, so it allocates nothing once the caller's buffer has grown.
#[derive(Debug, Clone, Default)]
pub struct MemoryStarvationStore {
    inner: Arc<StoreInner>,
    faults: Faults,
}

impl MemoryStarvationStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fault plan this store consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// How many calls (single or batch) the store has answered.
    pub fn round_trips(&self) -> u64 {
        self.inner.round_trips.load(Ordering::Relaxed)
    }

    /// The run's budget, read directly.
    pub fn get(&self, run_id: &str) -> Option<Budget> {
        lock(&self.inner.rows).get(run_id).copied()
    }

    /// Every row, read directly, ordered by run id.
    pub fn rows(&self) -> Vec<(String, Budget)> {
        lock(&self.inner.rows).iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// Writes a row directly.
    pub fn insert(&self, run_id: &str, budget: Budget) {
        self.put(run_id, &budget);
    }

    fn trip(&self) {
        self.inner.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    fn put(&self, run_id: &str, budget: &Budget) {
        let mut rows = lock(&self.inner.rows);
        match rows.get_mut(run_id) {
            Some(row) => *row = *budget,
            None => {
                rows.insert(Arc::from(run_id), *budget);
            }
        }
    }
}

impl StarvationStore for MemoryStarvationStore {
    type Key = Arc<str>;
    type Error = FakeError;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, FakeError> {
        self.trip();
        self.faults.check("load")?;
        Ok(self.get(run_id))
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), FakeError> {
        self.trip();
        self.faults.check("upsert")?;
        self.put(run_id, budget);
        Ok(())
    }

    async fn clear(&self, run_id: &str) -> Result<(), FakeError> {
        self.trip();
        self.faults.check("clear")?;
        lock(&self.inner.rows).remove(run_id);
        Ok(())
    }

    async fn list(&self, out: &mut Vec<(Arc<str>, Budget)>) -> Result<(), FakeError> {
        self.trip();
        self.faults.check("list")?;
        out.extend(lock(&self.inner.rows).iter().map(|(k, v)| (k.clone(), *v)));
        Ok(())
    }

    async fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, FakeError>>,
    ) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.trip();
        self.faults.check("load_many")?;
        for id in run_ids {
            out.push(self.faults.check("load").map(|()| self.get(id)));
        }
        Ok(())
    }

    async fn upsert_many<'a, I>(&'a self, rows: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        self.trip();
        self.faults.check("upsert_many")?;
        for (id, budget) in rows {
            out.push(self.faults.check("upsert").map(|()| self.put(id, budget)));
        }
        Ok(())
    }

    async fn clear_many<'a, I>(&'a self, run_ids: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.trip();
        self.faults.check("clear_many")?;
        for id in run_ids {
            out.push(self.faults.check("clear").map(|()| {
                lock(&self.inner.rows).remove(id);
            }));
        }
        Ok(())
    }
}

impl MemoryPauseStore {
    /// Whether the scheduler is paused, read synchronously. Consults the fault plan like
    /// [`is_paused`](PauseStore::is_paused) (operation `is_paused`), so the in-memory task
    /// service's claims fail closed when the flag cannot be read.
    ///
    /// # Errors
    /// [`FakeError`] when an `is_paused` fault fires.
    pub fn check_paused(&self) -> Result<bool, FakeError> {
        self.faults.check("is_paused")?;
        Ok(lock(&self.state).is_some())
    }
}
