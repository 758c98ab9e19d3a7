//! Seams over borrowed implementations, so a scenario can build a scheduler over the
//! instance under test without taking it by value.

use std::future::Future;

use scheduler_core::ladder::Budget;
use scheduler_core::model::RunStatus;
use scheduler_core::seam::{Recovery, StarvationStore, TaskSource};

/// A borrowed seam implementation.
#[derive(Debug)]
pub(crate) struct Shared<'a, T>(pub(crate) &'a T);

impl<T> Clone for Shared<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<'_, T> {}

impl<T: TaskSource> TaskSource for Shared<'_, T> {
    type Run = T::Run;
    type ActiveRun = T::ActiveRun;
    type Recovered = T::Recovered;
    type Error = T::Error;

    fn recover_expired_leases(
        &self,
        request: Recovery<'_>,
        out: &mut Vec<Self::Recovered>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.recover_expired_leases(request, out)
    }

    fn pending_runs(&self, out: &mut Vec<Self::Run>) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.pending_runs(out)
    }

    fn active_runs(&self, out: &mut Vec<Self::ActiveRun>) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.active_runs(out)
    }

    fn run_status(&self, run_id: &str) -> impl Future<Output = Result<Option<RunStatus>, Self::Error>> + Send {
        self.0.run_status(run_id)
    }

    fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.0.run_statuses(run_ids, out)
    }
}

impl<T: StarvationStore> StarvationStore for Shared<'_, T> {
    type Key = T::Key;
    type Error = T::Error;

    fn load(&self, run_id: &str) -> impl Future<Output = Result<Option<Budget>, Self::Error>> + Send {
        self.0.load(run_id)
    }

    fn upsert(&self, run_id: &str, budget: &Budget) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.upsert(run_id, budget)
    }

    fn clear(&self, run_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.clear(run_id)
    }

    fn list(&self, out: &mut Vec<(Self::Key, Budget)>) -> impl Future<Output = Result<(), Self::Error>> + Send {
        self.0.list(out)
    }

    fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.0.load_many(run_ids, out)
    }

    fn upsert_many<'a, I>(
        &'a self,
        rows: I,
        out: &'a mut Vec<Result<(), Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        self.0.upsert_many(rows, out)
    }

    fn clear_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<(), Self::Error>>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'a
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        self.0.clear_many(run_ids, out)
    }
}
