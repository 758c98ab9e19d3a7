use std::convert::Infallible;
use std::future::Future;

/// The persisted scheduler-wide pause flag.
///
/// While paused, a cycle still sweeps expired leases but wakes no one and escalates
/// nothing. If the flag cannot be read, the cycle fails closed: it wakes no one either.
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use scheduler_core::seam::PauseStore;
///
/// struct Flag(AtomicBool);
///
/// impl PauseStore for Flag {
///     type Error = Infallible;
///     async fn is_paused(&self) -> Result<bool, Infallible> {
///         Ok(self.0.load(Ordering::Acquire))
///     }
/// }
/// ```
pub trait PauseStore: Send + Sync {
    /// What can go wrong reading the flag.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Whether the scheduler is paused.
    fn is_paused(&self) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// No pause store: the scheduler is never paused. Uninhabited; used as a type only.
#[derive(Debug, Clone, Copy)]
pub enum NoPauseStore {}

impl PauseStore for NoPauseStore {
    type Error = Infallible;

    async fn is_paused(&self) -> Result<bool, Infallible> {
        match *self {}
    }
}

macro_rules! forward_pause_store {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared store.
        impl<T: PauseStore + ?Sized> PauseStore for $ptr {
            type Error = T::Error;

            fn is_paused(&self) -> impl Future<Output = Result<bool, Self::Error>> + Send {
                (**self).is_paused()
            }
        }
    )*};
}

forward_pause_store!(&T, std::sync::Arc<T>);
