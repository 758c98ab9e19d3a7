//! Behaviour step 6, the ladder's batch calls: every batch method of the starvation
//! store answers one result per input, in order. A batch that answers with the wrong
//! number of results fails as a whole: the cycle returns one
//! [`Error::BatchLength`](scheduler_core::Error::BatchLength) naming the step and both
//! counts, and none of the batch's runs goes on as if it had been answered (a load
//! that answered wrongly advances no budget, so nothing is escalated or saved).

mod common;

use common::{Expected, Rig, cycle, mins};
use scheduler_core::BatchStep;
use scheduler_core::ladder::Budget;
use scheduler_core::model::RunStatus;
use scheduler_core::seam::StarvationStore;
use scheduler_testkit::fault::FakeError;
use scheduler_testkit::snapshot::RunSnapshot;
use scheduler_testkit::stores::{MemoryStarvationStore, SmolStr};

/// A starvation store that answers one batch step with one result too many (`+1`) or
/// one too few (`-1`); every other call goes to the memory store as it is.
#[derive(Clone)]
struct Skewed {
    inner: MemoryStarvationStore,
    step: BatchStep,
    by: isize,
}

impl Skewed {
    /// Adds or drops one result of `out` when this is the skewed step.
    fn skew<T>(&self, step: BatchStep, out: &mut Vec<T>, extra: impl FnOnce() -> T) {
        if step != self.step {
            return;
        }
        if self.by > 0 {
            out.push(extra());
        } else {
            out.pop();
        }
    }
}

impl StarvationStore for Skewed {
    type Key = SmolStr;
    type Error = FakeError;

    async fn load(&self, run_id: &str) -> Result<Option<Budget>, FakeError> {
        self.inner.load(run_id).await
    }

    async fn upsert(&self, run_id: &str, budget: &Budget) -> Result<(), FakeError> {
        self.inner.upsert(run_id, budget).await
    }

    async fn clear(&self, run_id: &str) -> Result<(), FakeError> {
        self.inner.clear(run_id).await
    }

    async fn list(&self, out: &mut Vec<(SmolStr, Budget)>) -> Result<(), FakeError> {
        self.inner.list(out).await
    }

    async fn load_many<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<Budget>, FakeError>>,
    ) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        for id in run_ids {
            out.push(self.inner.load(id).await);
        }
        self.skew(BatchStep::LoadBudgets, out, || Ok(None));
        Ok(())
    }

    async fn upsert_many<'a, I>(&'a self, rows: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = (&'a str, &'a Budget)> + Send + 'a,
    {
        for (id, budget) in rows {
            out.push(self.inner.upsert(id, budget).await);
        }
        self.skew(BatchStep::UpsertBudgets, out, || Ok(()));
        Ok(())
    }

    async fn clear_many<'a, I>(&'a self, run_ids: I, out: &'a mut Vec<Result<(), FakeError>>) -> Result<(), FakeError>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        for id in run_ids {
            out.push(self.inner.clear(id).await);
        }
        self.skew(BatchStep::ClearBudgets, out, || Ok(()));
        Ok(())
    }
}

/// A rig with two starved runs (`r1`, `r2`) and a stored budget of a finished run
/// (`done`), which reconcile clears.
fn rig() -> Rig {
    let rig = Rig::new();
    for id in ["r1", "r2"] {
        rig.tasks.push_pending(RunSnapshot::queued(id, "t1").queued_at(rig.ago(mins(10))));
    }
    rig.tasks.set_status("done", Some(RunStatus::Completed));
    rig.store.insert("done", Budget::fresh(rig.ago(mins(30))));
    rig
}

/// One interval cycle over `rig` with its store skewed at `step` by `by`.
fn skewed_cycle(rig: &Rig, step: BatchStep, by: isize) -> common::Cycle {
    let store = Skewed { inner: rig.store.clone(), step, by };
    let mut s = rig.builder().ladder(store, rig.actor.clone()).build().expect("valid settings");
    cycle(&mut s)
}

fn batch_length(step: BatchStep, expected: usize, actual: usize) -> String {
    format!("{:?}", Expected::BatchLength { step, expected, actual })
}

#[test]
fn a_load_batch_with_the_wrong_count_advances_no_budget() {
    for by in [1, -1] {
        let rig = rig();
        let c = skewed_cycle(&rig, BatchStep::LoadBudgets, by);
        let actual = (2 + by) as usize;
        assert_eq!(c.errors, [batch_length(BatchStep::LoadBudgets, 2, actual)], "by {by}");
        assert_eq!(rig.store.get("r1"), None, "by {by}: no budget saved for r1");
        assert_eq!(rig.store.get("r2"), None, "by {by}: nor for r2");
        assert_eq!(rig.store.get("done"), None, "by {by}: reconcile still ran");
    }
}

#[test]
fn an_upsert_batch_with_the_wrong_count_is_one_error() {
    for by in [1, -1] {
        let rig = rig();
        let c = skewed_cycle(&rig, BatchStep::UpsertBudgets, by);
        let actual = (2 + by) as usize;
        assert_eq!(c.errors, [batch_length(BatchStep::UpsertBudgets, 2, actual)], "by {by}");
    }
}

#[test]
fn a_clear_batch_with_the_wrong_count_is_one_error() {
    for by in [1, -1] {
        let rig = rig();
        let c = skewed_cycle(&rig, BatchStep::ClearBudgets, by);
        let actual = (1 + by) as usize;
        assert_eq!(c.errors, [batch_length(BatchStep::ClearBudgets, 1, actual)], "by {by}");
    }
}
