//! [`PauseControl`]: the operator's side of the scheduler-wide pause.

use std::future::Future;
use std::time::SystemTime;

use super::PauseState;
use crate::seam::PauseStore;

/// The pause flag, both sides: the scheduler reads it through [`PauseStore`]; an
/// operator sets and clears it here. A task service refuses claims while it is on.
pub trait PauseControl: PauseStore {
    /// Turns the pause on, or replaces who, when and why if it is on already.
    fn pause(
        &self,
        paused_by: &str,
        paused_at: SystemTime,
        reason: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Turns the pause off (a no-op when it is off).
    fn resume(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Who paused, when and why; `None` when not paused.
    fn pause_state(&self) -> impl Future<Output = Result<Option<PauseState>, Self::Error>> + Send;
}

macro_rules! forward_pause_control {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared pause control.
        impl<T: PauseControl + ?Sized> PauseControl for $ptr {
            fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).pause(paused_by, paused_at, reason)
            }
            fn resume(&self) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).resume()
            }
            fn pause_state(&self) -> impl Future<Output = Result<Option<PauseState>, Self::Error>> + Send {
                (**self).pause_state()
            }
        }
    )*};
}

forward_pause_control!(&T, std::sync::Arc<T>);
