use std::convert::Infallible;
use std::future::Future;

use crate::ladder::Budget;

/// The durable per-run escalation budget, so the convergence ladder survives a daemon
/// restart (the in-memory wake cooldown is wiped by a rebuild; the budget is not).
///
/// Rows are keyed by run id. The scheduler uses only the batch methods and
/// [`list_page`](Self::list_page), so a cycle makes a constant number of store round
/// trips however many runs are starved, and reads a bounded page of the stored budgets
/// however many there are (see [`reconcile_page`](crate::ladder::reconcile_page)); each
/// has a default in terms of the single-row methods. Batch methods push one result per
/// input, in input order; an `Err` return fails the whole batch.
pub trait StarvationStore: Send + Sync {
    /// The run id of a listed row. An `Arc<str>` (or a `String`) lets an in-memory
    /// store list rows without allocating.
    type Key: AsRef<str> + Send + Sync;
    /// What can go wrong talking to the store.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The run's budget, or `None` if it has none.
    fn load(&self, run_id: &str) -> impl Future<Output = Result<Option<Budget>, Self::Error>> + Send;

    /// Inserts or replaces the run's budget.
    fn upsert(&self, run_id: &str, budget: &Budget) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Removes the run's budget. Clearing a missing row is not an error.
    fn clear(&self, run_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Pushes every stored budget onto `out`.
    fn list(&self, out: &mut Vec<(Self::Key, Budget)>) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Pushes one page of stored budgets onto `out`: at most `limit` rows whose key
    /// comes after `after` (all keys when `None`), in key order. The scheduler walks
    /// the store a page per cycle with this (reconcile), carrying the last key listed
    /// to the next cycle, so a cycle's cost does not grow with the number of stored
    /// budgets; fewer than `limit` rows means the walk reached the end.
    ///
    /// The order is the store's, but must be the same from call to call, and "after"
    /// must mean after in that order (a database's `WHERE run_id > $1 ORDER BY run_id
    /// LIMIT $2`). The default lists everything and keeps the page in byte order of the
    /// keys: correct, but as costly as [`list`](Self::list); a store with many rows
    /// should answer it natively.
    fn list_page<'a>(
        &'a self,
        after: Option<&'a str>,
        limit: usize,
        out: &'a mut Vec<(Self::Key, Budget)>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a {
        async move {
            let mut all = Vec::new();
            self.list(&mut all).await?;
            all.retain(|(key, _)| after.is_none_or(|after| key.as_ref() > after));
            all.sort_by(|a, b| a.0.as_ref().cmp(b.0.as_ref()));
            all.truncate(limit);
            out.extend(all);
            Ok(())
        }
    }

    /// Loads many budgets: one result per id, in order.
    fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        async move {
            for run_id in run_ids {
                let budget = self.load(run_id).await;
                out.push(budget);
            }
            Ok(())
        }
    }

    /// Upserts many budgets: one result per row, in order.
    fn upsert_many<'a, I>(
        &'a self,
        rows: I,
        out: &'a mut Vec<Result<(), Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        async move {
            for (run_id, budget) in rows {
                let done = self.upsert(run_id, budget).await;
                out.push(done);
            }
            Ok(())
        }
    }

    /// Clears many budgets: one result per id, in order.
    fn clear_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<(), Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        async move {
            for run_id in run_ids {
                let done = self.clear(run_id).await;
                out.push(done);
            }
            Ok(())
        }
    }
}

/// No starvation store: the ladder is off (starved runs still fan out). Uninhabited;
/// used as a type only.
#[derive(Debug, Clone, Copy)]
pub enum NoStarvationStore {}

impl StarvationStore for NoStarvationStore {
    type Key = &'static str;
    type Error = Infallible;

    async fn load(&self, _: &str) -> Result<Option<Budget>, Infallible> {
        match *self {}
    }
    async fn upsert(&self, _: &str, _: &Budget) -> Result<(), Infallible> {
        match *self {}
    }
    async fn clear(&self, _: &str) -> Result<(), Infallible> {
        match *self {}
    }
    async fn list(&self, _: &mut Vec<(&'static str, Budget)>) -> Result<(), Infallible> {
        match *self {}
    }
}

macro_rules! forward_starvation_store {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared store, batch methods included.
        impl<T: StarvationStore + ?Sized> StarvationStore for $ptr {
            type Key = T::Key;
            type Error = T::Error;

            fn load(&self, run_id: &str) -> impl Future<Output = Result<Option<Budget>, Self::Error>> + Send {
                (**self).load(run_id)
            }
            fn upsert(&self, run_id: &str, budget: &Budget) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).upsert(run_id, budget)
            }
            fn clear(&self, run_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).clear(run_id)
            }
            fn list(&self, out: &mut Vec<(Self::Key, Budget)>) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).list(out)
            }
            fn list_page<'a>(
                &'a self,
                after: Option<&'a str>,
                limit: usize,
                out: &'a mut Vec<(Self::Key, Budget)>,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a {
                (**self).list_page(after, limit, out)
            }
            fn load_many<'a, I>(
                &'a self,
                run_ids: I,
                out: &'a mut Vec<Result<Option<Budget>, Self::Error>>,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
            where
                I: Iterator<Item = &'a str> + Send + 'a,
            {
                (**self).load_many(run_ids, out)
            }
            fn upsert_many<'a, I>(
                &'a self,
                rows: I,
                out: &'a mut Vec<Result<(), Self::Error>>,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
            where
                I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
            {
                (**self).upsert_many(rows, out)
            }
            fn clear_many<'a, I>(
                &'a self,
                run_ids: I,
                out: &'a mut Vec<Result<(), Self::Error>>,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
            where
                I: Iterator<Item = &'a str> + Send + 'a,
            {
                (**self).clear_many(run_ids, out)
            }
        }
    )*};
}

forward_starvation_store!(&T, std::sync::Arc<T>);
