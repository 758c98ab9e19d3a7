use std::future::Future;

/// One wake notification: a run and the session it is offered to.
#[derive(Debug)]
pub struct WakeTarget<'a, R, S> {
    /// The run the session could claim.
    pub run: &'a R,
    /// The session to wake.
    pub session: &'a S,
    /// The wake reason (default `pending_task_run`).
    pub reason: &'a str,
}

impl<R, S> Clone for WakeTarget<'_, R, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R, S> Copy for WakeTarget<'_, R, S> {}

/// Every target of one cycle, in selection order, borrowed from the scheduler's buffers.
#[derive(Debug)]
pub struct WakeBatch<'a, R, S> {
    runs: &'a [R],
    sessions: &'a [S],
    pairs: &'a [(u32, u32)],
    reason: &'a str,
}

impl<R, S> Clone for WakeBatch<'_, R, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R, S> Copy for WakeBatch<'_, R, S> {}

impl<'a, R, S> WakeBatch<'a, R, S> {
    /// A batch of `(run index, session index)` pairs into `runs` and `sessions`.
    ///
    /// # Panics
    /// When an index is out of bounds.
    pub fn new(runs: &'a [R], sessions: &'a [S], pairs: &'a [(u32, u32)], reason: &'a str) -> Self {
        for &(r, s) in pairs {
            assert!((r as usize) < runs.len() && (s as usize) < sessions.len(), "wake pair out of bounds");
        }
        Self { runs, sessions, pairs, reason }
    }

    /// How many targets the batch holds.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the batch is empty (the scheduler never sends an empty batch).
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The `i`-th target, if any.
    pub fn get(&self, i: usize) -> Option<WakeTarget<'a, R, S>> {
        self.pairs.get(i).map(|&(r, s)| self.target(r, s))
    }

    /// The targets in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = WakeTarget<'a, R, S>> + Clone + 'a
    where
        R: 'a,
        S: 'a,
    {
        let this = *self;
        self.pairs.iter().map(move |&(r, s)| this.target(r, s))
    }

    fn target(&self, r: u32, s: u32) -> WakeTarget<'a, R, S> {
        WakeTarget { run: &self.runs[r as usize], session: &self.sessions[s as usize], reason: self.reason }
    }
}

/// Sends advisory wake notifications to sessions.
///
/// A wake only tells a session that there may be work for it; the session then calls
/// the task service's claim, which decides atomically who wins. The trait is generic
/// over the run and session types so that a waker can be written once for any views
/// (`impl<R: RunView, S: SessionView> Waker<R, S> for MyWaker`) or for concrete rows.
///
/// Implement [`wake`](Waker::wake); override [`wake_batch`](Waker::wake_batch) when
/// the transport can deliver every wake of a cycle in one call.
///
/// ```
/// use std::convert::Infallible;
/// use scheduler_core::seam::{WakeTarget, Waker};
/// use scheduler_core::view::{RunView, SessionView};
///
/// struct PrintWaker;
///
/// impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for PrintWaker {
///     type Error = Infallible;
///     async fn wake(&self, t: WakeTarget<'_, R, S>) -> Result<(), Infallible> {
///         println!("wake {} for {} ({})", t.session.session_id(), t.run.run_id(), t.reason);
///         Ok(())
///     }
/// }
/// ```
pub trait Waker<R, S>: Send + Sync {
    /// What can go wrong delivering a wake.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Delivers one wake.
    fn wake(&self, target: WakeTarget<'_, R, S>) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Delivers every wake of a cycle, pushing one result per target onto `out`, in
    /// order. The scheduler calls this once per cycle with at least one target; a
    /// result count other than `batch.len()` fails every target of the batch.
    ///
    /// The default wakes the targets one by one, in order, with [`wake`](Waker::wake).
    fn wake_batch<'a>(
        &'a self,
        batch: WakeBatch<'a, R, S>,
        out: &'a mut Vec<Result<(), Self::Error>>,
    ) -> impl Future<Output = ()> + Send + 'a
    where
        R: Sync,
        S: Sync,
    {
        async move {
            for target in batch.iter() {
                let result = self.wake(target).await;
                out.push(result);
            }
        }
    }
}

macro_rules! forward_waker {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared waker, batch form included.
        impl<R, S, T: Waker<R, S> + ?Sized> Waker<R, S> for $ptr {
            type Error = T::Error;

            fn wake(&self, target: WakeTarget<'_, R, S>) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).wake(target)
            }
            fn wake_batch<'a>(
                &'a self,
                batch: WakeBatch<'a, R, S>,
                out: &'a mut Vec<Result<(), Self::Error>>,
            ) -> impl Future<Output = ()> + Send + 'a
            where
                R: Sync,
                S: Sync,
            {
                (**self).wake_batch(batch, out)
            }
        }
    )*};
}

forward_waker!(&T, std::sync::Arc<T>);
