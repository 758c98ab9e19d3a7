//! [`Metered`]: a starvation store wrapper that counts the heap allocations made inside
//! the wrapped store's calls, so a bench can report the store's allocations apart from
//! the scheduler's.
//!
//! Every call of the wrapped store is measured on the calling thread with the counting
//! allocator ([`crate::alloc`]); what it allocates (its own rows, and any growth of the
//! buffer it pushes into) is added to [`Metered::stats`]. Everything else a cycle
//! allocates is the scheduler's.
//!
//! ```
//! use scheduler_bench_support::alloc::CountingAllocator;
//! use scheduler_bench_support::metered::Metered;
//! use scheduler_bench_support::workload::block_on_ready;
//! use scheduler_core::ladder::Budget;
//! use scheduler_core::seam::StarvationStore;
//! use scheduler_testkit::stores::MemoryStarvationStore;
//!
//! #[global_allocator]
//! static ALLOC: CountingAllocator = CountingAllocator::new();
//!
//! # fn main() {
//! let store = Metered::new(MemoryStarvationStore::new());
//! let budget = Budget::fresh(std::time::SystemTime::UNIX_EPOCH);
//! block_on_ready(store.upsert("run-1", &budget)).unwrap();
//! assert!(store.stats().allocations() > 0); // a new row: its key and its node
//! store.reset();
//! block_on_ready(store.upsert("run-1", &budget)).unwrap();
//! assert_eq!(store.stats().allocations(), 0); // the row is rewritten in place
//! # }
//! ```

use std::future::Future;
use std::sync::Mutex;

use scheduler_core::ladder::Budget;
use scheduler_core::seam::StarvationStore;

use crate::alloc::{AllocStats, thread_stats};

/// A [`StarvationStore`] that forwards to `B` and counts what `B`'s calls allocate.
#[derive(Debug, Default)]
pub struct Metered<B> {
    inner: B,
    stats: Mutex<AllocStats>,
}

impl<B> Metered<B> {
    /// Wraps `inner`, counts at zero.
    pub fn new(inner: B) -> Self {
        Metered { inner, stats: Mutex::new(AllocStats::default()) }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// What the wrapped store's calls allocated since the last [`reset`](Self::reset).
    pub fn stats(&self) -> AllocStats {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the counts back to zero.
    pub fn reset(&self) {
        *self.stats.lock().unwrap_or_else(|p| p.into_inner()) = AllocStats::default();
    }

    async fn metered<F: Future>(&self, call: F) -> F::Output {
        let before = thread_stats();
        let out = call.await;
        let spent = thread_stats().since(&before);
        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        stats.allocs += spent.allocs;
        stats.reallocs += spent.reallocs;
        stats.deallocs += spent.deallocs;
        stats.bytes_allocated += spent.bytes_allocated;
        out
    }
}

impl<B: StarvationStore> StarvationStore for Metered<B> {
    type Key = B::Key;
    type Error = B::Error;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, B::Error> {
        self.metered(self.inner.load(run_id)).await
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), B::Error> {
        self.metered(self.inner.upsert(run_id, budget)).await
    }

    async fn clear(&self, run_id: &str) -> Result<(), B::Error> {
        self.metered(self.inner.clear(run_id)).await
    }

    async fn list(&self, out: &mut Vec<(B::Key, Budget)>) -> Result<(), B::Error> {
        self.metered(self.inner.list(out)).await
    }

    async fn list_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
        out: &'a mut Vec<(B::Key, Budget)>,
    ) -> Result<(), B::Error> {
        self.metered(self.inner.list_page(after, limit, out)).await
    }

    async fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, B::Error>>,
    ) -> Result<(), B::Error>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.metered(self.inner.load_many(run_ids, out)).await
    }

    async fn upsert_many<'a, I>(&'a self, rows: I, out: &'a mut Vec<Result<(), B::Error>>) -> Result<(), B::Error>
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        self.metered(self.inner.upsert_many(rows, out)).await
    }

    async fn clear_many<'a, I>(&'a self, run_ids: I, out: &'a mut Vec<Result<(), B::Error>>) -> Result<(), B::Error>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.metered(self.inner.clear_many(run_ids, out)).await
    }
}
