use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, SystemTime};

/// What came of a worker spawn request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnOutcome {
    /// A capability-matched worker was requested; it will claim by itself.
    Requested,
    /// No agent covers the run's required capabilities ("spawn unresolvable"). Not a
    /// failure: nothing is recorded, and a later cycle asks again.
    Unresolvable,
}

/// What came of marking a run `needs_attention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkOutcome {
    /// The run is now `needs_attention`.
    Marked,
    /// The run had left `queued` meanwhile ("invalid status transition"). Benign: the
    /// budget is cleared and nothing is counted.
    InvalidTransition,
}

/// The seam through which the convergence ladder escalates starved work.
///
/// It never claims: it emits an observability event, requests a capability-matched
/// worker spawn (the spawned session claims by itself), and marks a run
/// `needs_attention`. A daemon implements it over its task service and agent launcher.
///
/// Every call carries the cycle's `now` (read once from the scheduler's clock), so a
/// durable actor stamps its writes with the scheduler's time, not its own clock's.
///
/// ```
/// use std::convert::Infallible;
/// use std::time::{Duration, SystemTime};
/// use scheduler_core::seam::{EscalationActor, MarkOutcome, SpawnOutcome};
/// use scheduler_core::view::RunView;
///
/// struct LogOnly;
///
/// impl<R: RunView + Sync> EscalationActor<R> for LogOnly {
///     type Error = Infallible;
///     async fn request_spawn(&self, _run: &R, _now: SystemTime) -> Result<SpawnOutcome, Infallible> {
///         Ok(SpawnOutcome::Unresolvable) // no launcher here
///     }
///     async fn emit_starved(&self, run: &R, age: Duration, now: SystemTime) -> Result<(), Infallible> {
///         eprintln!("{now:?}: run {} starved for {age:?}", run.run_id());
///         Ok(())
///     }
///     async fn mark_needs_attention(
///         &self,
///         _run: &R,
///         _diagnostic: &str,
///         _now: SystemTime,
///     ) -> Result<MarkOutcome, Infallible> {
///         Ok(MarkOutcome::Marked)
///     }
/// }
/// ```
pub trait EscalationActor<R>: Send + Sync {
    /// What can go wrong escalating.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Spawn tier: asks for a worker whose capabilities cover the run, at the cycle's
    /// `now`.
    fn request_spawn(&self, run: &R, now: SystemTime)
    -> impl Future<Output = Result<SpawnOutcome, Self::Error>> + Send;

    /// Event tier: reports that the run has been queued for `age` without a claim, at
    /// the cycle's `now`.
    fn emit_starved(
        &self,
        run: &R,
        age: Duration,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Needs-attention tier: moves the run from `queued` to `needs_attention`, at the
    /// cycle's `now`.
    fn mark_needs_attention(
        &self,
        run: &R,
        diagnostic: &str,
        now: SystemTime,
    ) -> impl Future<Output = Result<MarkOutcome, Self::Error>> + Send;
}

/// No escalation actor: the ladder is off. Uninhabited; used as a type only.
#[derive(Debug, Clone, Copy)]
pub enum NoEscalation {}

impl<R: Sync> EscalationActor<R> for NoEscalation {
    type Error = Infallible;

    async fn request_spawn(&self, _: &R, _: SystemTime) -> Result<SpawnOutcome, Infallible> {
        match *self {}
    }
    async fn emit_starved(&self, _: &R, _: Duration, _: SystemTime) -> Result<(), Infallible> {
        match *self {}
    }
    async fn mark_needs_attention(&self, _: &R, _: &str, _: SystemTime) -> Result<MarkOutcome, Infallible> {
        match *self {}
    }
}

macro_rules! forward_escalation {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared actor.
        impl<R, T: EscalationActor<R> + ?Sized> EscalationActor<R> for $ptr {
            type Error = T::Error;

            fn request_spawn(
                &self,
                run: &R,
                now: SystemTime,
            ) -> impl Future<Output = Result<SpawnOutcome, Self::Error>> + Send {
                (**self).request_spawn(run, now)
            }
            fn emit_starved(
                &self,
                run: &R,
                age: Duration,
                now: SystemTime,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).emit_starved(run, age, now)
            }
            fn mark_needs_attention(
                &self,
                run: &R,
                diagnostic: &str,
                now: SystemTime,
            ) -> impl Future<Output = Result<MarkOutcome, Self::Error>> + Send {
                (**self).mark_needs_attention(run, diagnostic, now)
            }
        }
    )*};
}

forward_escalation!(&T, std::sync::Arc<T>);
