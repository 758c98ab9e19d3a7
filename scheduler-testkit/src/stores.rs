//! In-memory pause and starvation stores, with native batch methods, round-trip
//! counting and faults on demand.
//!
//! Fault operations: pause store `is_paused`, `pause`, `resume`, `pause_state`; starvation store `load`, `upsert`,
//! `clear`, `list` (per row or call) and `load_many`, `upsert_many`, `clear_many`
//! (whole batch).

use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use hashbrown::HashTable;
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

/// The rows of a [`MemoryStarvationStore`], by run id: kept in key order, as a B-tree
/// keeps them (so listing a page reads them front to back), and found by a hash index
/// of their positions for the point operations.
///
/// A row created since the last merge waits in `fresh` (the index finds it there) and
/// joins key order at the end of the batch write that created it, or when rows are next
/// listed: writing many new rows costs one merge, not one shift each.
///
/// A cleared row is not removed: its slot is emptied and kept, with its key, so that a
/// run starved again (the next ladder episode after needs-attention clears every
/// budget, say) reuses it and the store allocates nothing. Empty slots are bounded:
/// once there are more of them than the most rows ever held at once, they are all
/// dropped, so a store whose runs keep changing stays at most twice its peak size.
#[derive(Debug, Default)]
struct Rows {
    /// The rows in key order.
    sorted: Vec<Row>,
    /// The rows created since the last merge, in creation order.
    fresh: Vec<Row>,
    /// Every row's position: below `sorted.len()` in `sorted`, else in `fresh`.
    index: HashTable<u32>,
    /// Slots holding a budget.
    live: usize,
    /// The most slots ever holding a budget at once.
    peak: usize,
    /// The position after the row last found: a batch written in key order (as the
    /// ladder writes its page) finds each row there, without hashing.
    finger: u32,
}

#[derive(Debug)]
struct Row {
    key: SmolStr,
    budget: Option<Budget>,
}

/// The row at position `at` (see [`Rows::index`]).
fn row_at<'r>(sorted: &'r [Row], fresh: &'r [Row], at: u32) -> &'r Row {
    let at = at as usize;
    sorted.get(at).unwrap_or_else(|| &fresh[at - sorted.len()])
}

impl Rows {
    fn find(&mut self, run_id: &str) -> Option<u32> {
        let (sorted, fresh) = (&self.sorted, &self.fresh);
        let next = sorted.get(self.finger as usize).filter(|row| row.key == run_id).map(|_| self.finger);
        let at = next.or_else(|| self.index.find(hash(run_id), |&at| row_at(sorted, fresh, at).key == run_id).copied());
        if let Some(at) = at {
            self.finger = at + 1;
        }
        at
    }

    fn slot(&mut self, at: u32) -> &mut Option<Budget> {
        let at = at as usize;
        match self.sorted.len() {
            n if at < n => &mut self.sorted[at].budget,
            n => &mut self.fresh[at - n].budget,
        }
    }

    fn get(&mut self, run_id: &str) -> Option<Budget> {
        self.find(run_id).and_then(|at| row_at(&self.sorted, &self.fresh, at).budget)
    }

    fn put(&mut self, run_id: &str, budget: &Budget) {
        let at = self.find(run_id).unwrap_or_else(|| self.create(run_id));
        if self.slot(at).replace(*budget).is_none() {
            self.live += 1;
            self.peak = self.peak.max(self.live);
        }
    }

    /// Adds an empty row for `run_id` (not in the store) and returns its position.
    fn create(&mut self, run_id: &str) -> u32 {
        let Rows { sorted, fresh, index, .. } = self;
        let at = (sorted.len() + fresh.len()) as u32;
        fresh.push(Row { key: SmolStr::new(run_id), budget: None });
        index.insert_unique(hash(run_id), at, |&at| hash(&row_at(sorted, fresh, at).key));
        at
    }

    fn remove(&mut self, run_id: &str) {
        let Some(at) = self.find(run_id) else { return };
        if self.slot(at).take().is_some() {
            self.live -= 1;
            if self.slots() - self.live > self.peak {
                self.purge();
            }
        }
    }

    /// How many rows there are, holding a budget or not.
    fn slots(&self) -> usize {
        self.sorted.len() + self.fresh.len()
    }

    /// Merges the fresh rows into key order (a no-op when there are none).
    fn merge(&mut self) {
        if !self.fresh.is_empty() {
            self.sort_fresh_in();
            self.reindex();
        }
    }

    /// Moves the fresh rows into `sorted`, in key order; the index is then stale.
    fn sort_fresh_in(&mut self) {
        self.sorted.append(&mut self.fresh);
        // The stable sort takes the rows already in order as one run: it sorts only the
        // new ones and merges.
        self.sorted.sort_by(|a, b| a.key.cmp(&b.key));
    }

    /// Drops every empty slot.
    fn purge(&mut self) {
        self.sort_fresh_in();
        self.sorted.retain(|row| row.budget.is_some());
        self.reindex();
    }

    fn reindex(&mut self) {
        let Rows { sorted, fresh, index, .. } = self;
        index.clear();
        for (at, row) in sorted.iter().enumerate() {
            index.insert_unique(hash(&row.key), at as u32, |&at| hash(&row_at(sorted, fresh, at).key));
        }
    }

    /// The rows holding a budget whose key comes after `after` (all of them for
    /// `None`), in key order.
    fn after<'a>(&'a mut self, after: Option<&str>) -> impl Iterator<Item = (&'a SmolStr, &'a Budget)> {
        self.merge();
        let start = after.map_or(0, |after| self.sorted.partition_point(|row| row.key.as_str() <= after));
        self.sorted[start..].iter().filter_map(|row| row.budget.as_ref().map(|b| (&row.key, b)))
    }
}

fn hash(key: &str) -> u64 {
    let mut hasher = FastHasher(0);
    hasher.write(key.as_bytes());
    hasher.finish()
}

/// A fast, unkeyed hash for the store's index (run ids chosen by tests, not by an
/// adversary): multiply-rotate over 8-byte words.
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
        lock(&self.inner.rows).after(None).map(|(k, v)| (k.to_string(), *v)).collect()
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
        out.extend(lock(&self.inner.rows).after(None).map(|(k, v)| (k.clone(), *v)));
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
        let mut rows = lock(&self.inner.rows);
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
        // The batch's new rows join key order now, in the cycle that created them.
        stored.merge();
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
        assert_eq!(lock(&store.inner.rows).slots(), 4, "emptied rows are kept for reuse");
        store.insert("r2", budget(7));
        assert_eq!((store.len(), store.get("r2")), (1, Some(budget(7))));
        assert_eq!(lock(&store.inner.rows).slots(), 4, "the row was reused");
        // New ids keep coming while old ones go: emptied rows never outnumber the peak
        // (4), so the store stays within twice its peak size.
        for i in 10..100 {
            store.insert(&format!("r{i}"), budget(i));
            run(store.clear(&format!("r{}", i - 1))).unwrap();
            let rows = lock(&store.inner.rows);
            assert!(rows.slots() - rows.live <= rows.peak, "{i}: {} slots", rows.slots());
        }
        assert_eq!(store.rows().len(), 2, "r2 and r99 hold budgets");
        assert_eq!(store.get("r99"), Some(budget(99)));
    }

    /// Pseudo-random point writes, batch writes in and out of key order, clears, loads
    /// and pages, against a `BTreeMap`: the rows stay in key order wherever they were
    /// created, and a row is found whether or not it follows the last one found.
    #[test]
    fn rows_agree_with_an_ordered_map_whatever_the_order_of_the_writes() {
        use std::collections::BTreeMap;
        let store = MemoryStarvationStore::new();
        let mut model: BTreeMap<String, Budget> = BTreeMap::new();
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for step in 0..3000 {
            let id = format!("k{:03}", next(300));
            match next(6) {
                0 => {
                    store.insert(&id, budget(step));
                    model.insert(id, budget(step));
                }
                1 => {
                    // A batch in key order from `id` on (as the ladder writes its page).
                    let ids: Vec<String> = model.range(id..).take(20).map(|(k, _)| k.clone()).collect();
                    let mut out = Vec::new();
                    let written = budget(step);
                    run(store.upsert_many(ids.iter().map(|k| (k.as_str(), &written)), &mut out)).unwrap();
                    assert_eq!(out.len(), ids.len());
                    for k in ids {
                        model.insert(k, budget(step));
                    }
                }
                2 | 3 => {
                    run(store.clear(&id)).unwrap();
                    model.remove(&id);
                }
                4 => assert_eq!(run(store.load(&id)).unwrap(), model.get(&id).copied(), "{step}: load {id}"),
                _ => {
                    let mut page = Vec::new();
                    run(store.list_page(Some(&id), 7, &mut page)).unwrap();
                    let expected: Vec<&str> = model
                        .range::<str, _>((std::ops::Bound::Excluded(id.as_str()), std::ops::Bound::Unbounded))
                        .take(7)
                        .map(|(k, _)| k.as_str())
                        .collect();
                    assert_eq!(keys(&page), expected, "{step}: page after {id}");
                }
            }
        }
        let rows = store.rows();
        assert_eq!(rows.len(), model.len());
        assert!(rows.iter().zip(&model).all(|((k, b), (mk, mb))| k == mk && b == mb));
    }
}
