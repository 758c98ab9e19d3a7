//! Failing on demand: a shared plan of which calls of which operation fail.
//!
//! Every fake in this crate consults a [`Faults`] plan before doing its work. A test
//! keeps a clone of the plan and arms it: fail the next call, the k-th call, or every
//! call of an operation (operations are named by the seam method, e.g.
//! `"pending_runs"`, `"wake"`, `"upsert"`).
//!
//! ```
//! use scheduler_testkit::fault::Faults;
//! let faults = Faults::new();
//! faults.fail_call("sessions", 2);
//! assert!(faults.check("sessions").is_ok());   // call 1
//! let err = faults.check("sessions").unwrap_err(); // call 2
//! assert_eq!(err.to_string(), "injected failure in sessions (call 2)");
//! assert!(faults.check("sessions").is_ok());   // call 3
//! assert_eq!(faults.calls("sessions"), 3);
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The error every fake returns when a fault fires.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
#[error("injected failure in {op} (call {call})")]
pub struct FakeError {
    /// The operation that failed.
    pub op: &'static str,
    /// Which call of it (1-based).
    pub call: u64,
}

#[derive(Debug, Default)]
struct Plan {
    calls: u64,
    fail_calls: Vec<u64>,
    always: bool,
}

/// A cloneable, thread-safe fault plan (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<Mutex<HashMap<&'static str, Plan>>>);

impl Faults {
    /// A plan that fails nothing.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<&'static str, Plan>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails the `k`-th call (1-based, counted from the plan's creation) of `op`.
    pub fn fail_call(&self, op: &'static str, k: u64) {
        self.lock().entry(op).or_default().fail_calls.push(k);
    }

    /// Fails the next call of `op`.
    pub fn fail_next(&self, op: &'static str) {
        let mut plans = self.lock();
        let plan = plans.entry(op).or_default();
        let next = plan.calls + 1;
        plan.fail_calls.push(next);
    }

    /// Fails every call of `op` until [`heal`](Self::heal).
    pub fn fail_always(&self, op: &'static str) {
        self.lock().entry(op).or_default().always = true;
    }

    /// Stops every planned failure of `op` (calls stay counted).
    pub fn heal(&self, op: &'static str) {
        if let Some(plan) = self.lock().get_mut(op) {
            plan.always = false;
            plan.fail_calls.clear();
        }
    }

    /// Stops every planned failure.
    pub fn heal_all(&self) {
        for plan in self.lock().values_mut() {
            plan.always = false;
            plan.fail_calls.clear();
        }
    }

    /// How many times `op` was called.
    pub fn calls(&self, op: &'static str) -> u64 {
        self.lock().get(op).map_or(0, |p| p.calls)
    }

    /// Counts a call of `op` and fails it if planned.
    ///
    /// # Errors
    /// [`FakeError`] when this call was planned to fail.
    pub fn check(&self, op: &'static str) -> Result<(), FakeError> {
        let mut plans = self.lock();
        let plan = plans.entry(op).or_default();
        plan.calls += 1;
        let call = plan.calls;
        if plan.always || plan.fail_calls.contains(&call) { Err(FakeError { op, call }) } else { Ok(()) }
    }
}

/// The checks of many calls of one operation under a single lock (see
/// [`Faults::calls_of`]): a batch fake counts and fails its rows one by one exactly as
/// with [`Faults::check`], without locking and hashing the operation per row.
#[derive(Debug)]
pub struct CallChecks<'a> {
    plans: MutexGuard<'a, HashMap<&'static str, Plan>>,
    op: &'static str,
    calls: u64,
    always: bool,
    armed: bool,
}

impl CallChecks<'_> {
    /// Counts one call and fails it if planned, as [`Faults::check`] does.
    ///
    /// # Errors
    /// [`FakeError`] when this call was planned to fail.
    pub fn check(&mut self) -> Result<(), FakeError> {
        self.calls += 1;
        let call = self.calls;
        let planned = self.armed && self.plans.get(self.op).is_some_and(|p| p.fail_calls.contains(&call));
        if self.always || planned { Err(FakeError { op: self.op, call }) } else { Ok(()) }
    }
}

impl Drop for CallChecks<'_> {
    fn drop(&mut self) {
        if let Some(plan) = self.plans.get_mut(self.op) {
            plan.calls = self.calls;
        }
    }
}

impl Faults {
    /// Checks many calls of `op` under one lock: each [`CallChecks::check`] is one
    /// call of [`check`](Self::check). Hold it only while checking one batch (every
    /// other use of this plan waits for it).
    ///
    /// ```
    /// use scheduler_testkit::fault::Faults;
    /// let faults = Faults::new();
    /// faults.fail_call("load", 2);
    /// let mut checks = faults.calls_of("load");
    /// assert!(checks.check().is_ok());
    /// assert!(checks.check().is_err());
    /// drop(checks);
    /// assert_eq!(faults.calls("load"), 2);
    /// ```
    pub fn calls_of(&self, op: &'static str) -> CallChecks<'_> {
        let mut plans = self.lock();
        let plan = plans.entry(op).or_default();
        let (calls, always, armed) = (plan.calls, plan.always, !plan.fail_calls.is_empty());
        CallChecks { plans, op, calls, always, armed }
    }
}

/// A future that returns `Pending` once (waking itself at once), then `Ready`: the
/// smallest honest suspension point, for cancellation tests and for overlapping
/// futures that would otherwise run straight through.
///
/// ```
/// use scheduler_testkit::fault::YieldOnce;
/// futures::executor::block_on(YieldOnce::pending());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct YieldOnce(bool);

impl YieldOnce {
    /// Pending on its first poll, ready on the next.
    pub fn pending() -> Self {
        YieldOnce(false)
    }

    /// Ready on its first poll (no suspension), for code paths that only sometimes yield.
    pub fn ready() -> Self {
        YieldOnce(true)
    }
}

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}
