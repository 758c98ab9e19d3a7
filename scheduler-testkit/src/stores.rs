//! In-memory pause and starvation stores, with native batch methods, round-trip
//! counting and faults on demand.
//!
//! Fault operations: pause store `is_paused`, `pause`, `resume`, `pause_state`; starvation store `load`, `upsert`,
//! `clear`, `list` (per row or call) and `load_many`, `upsert_many`, `clear_many`
//! (whole batch).

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use scheduler_core::ladder::Budget;
use scheduler_core::lease::PauseControl;
use scheduler_core::seam::{PauseStore, StarvationStore};

use crate::fault::{FakeError, Faults};

/// The in-memory starvation store's key: a run id held inline up to 23 bytes (longer
/// ones are shared), so listing a page copies keys without touching the heap.
pub use smol_str::SmolStr;

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

/// The rows of a [`MemoryStarvationStore`], by run id: a budget slot per key, found by
/// a hash index for the point operations and by an ordered index for listing.
///
/// A cleared row is not removed: its slot is emptied and kept, with its key, so that a
/// run starved again (the next ladder episode after needs-attention clears every
/// budget, say) reuses it and the store allocates nothing. Empty slots are bounded:
/// once there are more of them than the most rows ever held at once, they are all
/// dropped, so a store whose runs keep changing stays at most twice its peak size.
#[derive(Debug, Default)]
struct Rows {
    index: HashMap<SmolStr, u32, FastHash>,
    order: BTreeMap<SmolStr, u32>,
    slots: Vec<Option<Budget>>,
    /// Slots holding a budget.
    live: usize,
    /// The most slots ever holding a budget at once.
    peak: usize,
}

impl Rows {
    fn get(&self, run_id: &str) -> Option<Budget> {
        self.index.get(run_id).and_then(|&i| self.slots[i as usize])
    }

    fn put(&mut self, run_id: &str, budget: &Budget) {
        let i = match self.index.get(run_id) {
            Some(&i) => i as usize,
            None => {
                let key = SmolStr::new(run_id);
                let i = self.slots.len();
                self.slots.push(None);
                self.index.insert(key.clone(), i as u32);
                self.order.insert(key, i as u32);
                i
            }
        };
        if self.slots[i].replace(*budget).is_none() {
            self.live += 1;
            self.peak = self.peak.max(self.live);
        }
    }

    fn remove(&mut self, run_id: &str) {
        let Some(&i) = self.index.get(run_id) else { return };
        if self.slots[i as usize].take().is_some() {
            self.live -= 1;
            if self.slots.len() - self.live > self.peak {
                self.purge();
            }
        }
    }

    /// Drops every empty slot.
    fn purge(&mut self) {
        let (order, slots) = (std::mem::take(&mut self.order), std::mem::take(&mut self.slots));
        self.index.clear();
        for (key, i) in order {
            if let Some(budget) = slots[i as usize] {
                let at = self.slots.len() as u32;
                self.slots.push(Some(budget));
                self.index.insert(key.clone(), at);
                self.order.insert(key, at);
            }
        }
    }

    /// The rows holding a budget, in key order.
    fn iter(&self) -> impl Iterator<Item = (&SmolStr, &Budget)> {
        self.order.iter().filter_map(|(k, &i)| self.slots[i as usize].as_ref().map(|b| (k, b)))
    }

    /// The rows holding a budget whose key comes after `after`, in key order.
    fn after<'a>(&'a self, after: Option<&str>) -> impl Iterator<Item = (&'a SmolStr, &'a Budget)> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.order
            .range::<str, _>((lower, Bound::Unbounded))
            .filter_map(|(k, &i)| self.slots[i as usize].as_ref().map(|b| (k, b)))
    }
}

/// A fast, unkeyed hash for the store's index (run ids chosen by tests, not by an
/// adversary): multiply-rotate over 8-byte words.
#[derive(Debug, Clone, Copy, Default)]
struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // Spread the high bits down: the table indexes by the low ones.
        self.0 ^ (self.0 >> 29)
    }
}

#[derive(Debug, Default)]
struct StoreInner {
    rows: Mutex<Rows>,
    round_trips: AtomicU64,
}

/// Durable-in-spirit starvation budgets, in memory (a cloneable handle). Listing hands
/// out [`SmolStr`] keys (inline up to 23 bytes, shared beyond), so it allocates nothing
/// once the caller's buffer has grown;
/// rows are listed in key order (byte order of the run ids), whole or by page
/// ([`list_page`](StarvationStore::list_page)).
///
/// A cleared budget's row is kept empty and reused when the same run id gets a budget
/// again, so a store whose runs come back (the ladder's next episode) allocates nothing;
/// empty rows never outnumber the most budgets ever held at once.
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
        lock(&self.inner.rows).get(run_id)
    }

    /// Every row, read directly, ordered by run id.
    pub fn rows(&self) -> Vec<(String, Budget)> {
        lock(&self.inner.rows).iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// How many budgets the store holds (without listing them).
    pub fn len(&self) -> usize {
        lock(&self.inner.rows).live
    }

    /// Whether the store holds no budget.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes a row directly.
    pub fn insert(&self, run_id: &str, budget: Budget) {
        self.put(run_id, &budget);
    }

    fn trip(&self) {
        self.inner.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    fn put(&self, run_id: &str, budget: &Budget) {
        lock(&self.inner.rows).put(run_id, budget);
    }
}

impl StarvationStore for MemoryStarvationStore {
    type Key = SmolStr;
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

    async fn list(&self, out: &mut Vec<(SmolStr, Budget)>) -> Result<(), FakeError> {
        self.trip();
        self.faults.check("list")?;
        out.extend(lock(&self.inner.rows).iter().map(|(k, v)| (k.clone(), *v)));
        Ok(())
    }

    /// One call; consults the fault plan as `list` does (operation `list`).
    async fn list_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
        out: &'a mut Vec<(SmolStr, Budget)>,
    ) -> Result<(), FakeError> {
        self.trip();
        self.faults.check("list")?;
        out.extend(lock(&self.inner.rows).after(after).take(limit).map(|(k, v)| (k.clone(), *v)));
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
        let rows = lock(&self.inner.rows);
        let mut checks = self.faults.calls_of("load");
        for id in run_ids {
            out.push(checks.check().map(|()| rows.get(id)));
        }
        Ok(())
    }

    async fn upsert_many<'a, I>(&'a self, rows: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        self.trip();
        self.faults.check("upsert_many")?;
        let mut stored = lock(&self.inner.rows);
        let mut checks = self.faults.calls_of("upsert");
        for (id, budget) in rows {
            out.push(checks.check().map(|()| stored.put(id, budget)));
        }
        Ok(())
    }

    async fn clear_many<'a, I>(&'a self, run_ids: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.trip();
        self.faults.check("clear_many")?;
        let mut rows = lock(&self.inner.rows);
        let mut checks = self.faults.calls_of("clear");
        for id in run_ids {
            out.push(checks.check().map(|()| rows.remove(id)));
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;

    fn run<F: std::future::Future>(f: F) -> F::Output {
        futures::executor::block_on(f)
    }

    fn budget(n: u64) -> Budget {
        Budget::fresh(SystemTime::UNIX_EPOCH + Duration::from_secs(n))
    }

    fn keys(rows: &[(SmolStr, Budget)]) -> Vec<&str> {
        rows.iter().map(|(k, _)| k.as_ref()).collect()
    }

    /// Only the required methods: `list_page` is the trait's default, over `list`.
    struct ListOnly(MemoryStarvationStore);

    impl StarvationStore for ListOnly {
        type Key = SmolStr;
        type Error = FakeError;
        async fn load(&self, run_id: &str) -> Result<Option<Budget>, FakeError> {
            self.0.load(run_id).await
        }
        async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), FakeError> {
            self.0.upsert(run_id, budget).await
        }
        async fn clear(&self, run_id: &str) -> Result<(), FakeError> {
            self.0.clear(run_id).await
        }
        async fn list(&self, out: &mut Vec<(SmolStr, Budget)>) -> Result<(), FakeError> {
            // Reversed: the default must not rely on the store's listing order.
            let start = out.len();
            self.0.list(out).await?;
            out[start..].reverse();
            Ok(())
        }
    }

    #[test]
    fn pages_walk_the_rows_in_key_order_natively_and_by_default() {
        let store = MemoryStarvationStore::new();
        for id in ["r3", "r1", "r5", "r2", "r4"] {
            store.insert(id, budget(1));
        }
        store.insert("r9", budget(1));
        run(store.clear("r9")).unwrap(); // an emptied row is not listed
        let default = ListOnly(store.clone());
        for page in [
            (None, 2, vec!["r1", "r2"]),
            (Some("r2"), 2, vec!["r3", "r4"]),
            (Some("r4"), 2, vec!["r5"]),
            (Some("r5"), 2, vec![]),
            (Some("r0"), 10, vec!["r1", "r2", "r3", "r4", "r5"]),
        ] {
            let (after, limit, expected) = page;
            let (mut native, mut by_default) = (Vec::new(), Vec::new());
            run(store.list_page(after, limit, &mut native)).unwrap();
            run(default.list_page(after, limit, &mut by_default)).unwrap();
            assert_eq!(keys(&native), expected, "native page after {after:?}");
            assert_eq!(keys(&by_default), expected, "default page after {after:?}");
        }
    }

    #[test]
    fn cleared_rows_are_reused_and_bounded() {
        let store = MemoryStarvationStore::new();
        for i in 0..4 {
            store.insert(&format!("r{i}"), budget(i));
        }
        for i in 0..4 {
            run(store.clear(&format!("r{i}"))).unwrap();
        }
        assert!(store.is_empty() && store.rows().is_empty());
        assert_eq!(lock(&store.inner.rows).slots.len(), 4, "emptied rows are kept for reuse");
        store.insert("r2", budget(7));
        assert_eq!((store.len(), store.get("r2")), (1, Some(budget(7))));
        assert_eq!(lock(&store.inner.rows).slots.len(), 4, "the row was reused");
        // New ids keep coming while old ones go: emptied rows never outnumber the peak
        // (4), so the store stays within twice its peak size.
        for i in 10..100 {
            store.insert(&format!("r{i}"), budget(i));
            run(store.clear(&format!("r{}", i - 1))).unwrap();
            let rows = lock(&store.inner.rows);
            assert!(rows.slots.len() - rows.live <= rows.peak, "{i}: {} slots", rows.slots.len());
        }
        assert_eq!(store.rows().len(), 2, "r2 and r99 hold budgets");
        assert_eq!(store.get("r99"), Some(budget(99)));
    }
}
