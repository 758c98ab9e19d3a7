use std::convert::Infallible;
use std::future::Future;

use crate::ladder::Budget;

/// The durable per-run escalation budget, so the convergence ladder survives a daemon
/// restart (the in-memory wake cooldown is wiped by a rebuild; the budget is not).
///
/// Rows are keyed by run id. The scheduler uses only the batch methods, so a cycle makes
/// a constant number of store round trips however many runs are starved; each has a
/// default in terms of the single-row method. Batch methods push one result per input,
/// in input order; an `Err` return fails the whole batch.
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
