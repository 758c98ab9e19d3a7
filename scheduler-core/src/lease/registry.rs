//! [`SessionRegistry`]: the write side of the session registry.

use std::future::Future;
use std::time::SystemTime;

use super::{ServiceError, SessionSpec};
use crate::model::SessionState;
use crate::seam::SessionSource;

/// The session registry, both sides: the scheduler reads live sessions through
/// [`SessionSource`]; sessions (or the daemon hosting them) register, report their
/// state and go away through this trait.
///
/// Every write also records the session as *seen* at `now`; [`mark_stale`] turns every
/// session not seen since a given time `stopped` (rows a dead daemon left behind). A
/// wake changes nothing here: a woken session calls the task service's claim.
///
/// [`mark_stale`]: SessionRegistry::mark_stale
pub trait SessionRegistry: SessionSource<Error: ServiceError> {
    /// Registers a live session, seen at `now`.
    ///
    /// # Errors
    /// `DuplicateSession` when the id is registered (nothing changes), `InvalidInput`
    /// for an empty id or text the store cannot hold.
    fn register(&self, session: &SessionSpec, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sets the session's lifecycle state.
    ///
    /// # Errors
    /// `UnknownSession`.
    fn set_state(
        &self,
        session_id: &str,
        state: SessionState,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Sets whether the session is in the middle of a prompt.
    ///
    /// # Errors
    /// `UnknownSession`.
    fn set_prompting(
        &self,
        session_id: &str,
        prompting: bool,
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Replaces the session's capabilities.
    ///
    /// # Errors
    /// `UnknownSession`, `InvalidInput`.
    fn set_capabilities(
        &self,
        session_id: &str,
        capabilities: &[String],
        now: SystemTime,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Records that the session is alive at `now` (a heartbeat), changing nothing else.
    ///
    /// # Errors
    /// `UnknownSession`.
    fn touch(&self, session_id: &str, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Removes the session.
    ///
    /// # Errors
    /// `UnknownSession`.
    fn remove(&self, session_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Marks `stopped` every session not seen since `not_seen_since` (strictly
    /// before it) and returns how many changed.
    fn mark_stale(
        &self,
        not_seen_since: SystemTime,
        now: SystemTime,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// The session as registered, or `None`.
    fn session(&self, session_id: &str) -> impl Future<Output = Result<Option<SessionSpec>, Self::Error>> + Send;
}

macro_rules! forward_session_registry {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared registry.
        impl<T: SessionRegistry + ?Sized> SessionRegistry for $ptr {
            fn register(&self, session: &SessionSpec, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).register(session, now)
            }
            fn set_state(&self, session_id: &str, state: SessionState, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).set_state(session_id, state, now)
            }
            fn set_prompting(&self, session_id: &str, prompting: bool, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).set_prompting(session_id, prompting, now)
            }
            fn set_capabilities(
                &self,
                session_id: &str,
                capabilities: &[String],
                now: SystemTime,
            ) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).set_capabilities(session_id, capabilities, now)
            }
            fn touch(&self, session_id: &str, now: SystemTime) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).touch(session_id, now)
            }
            fn remove(&self, session_id: &str) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).remove(session_id)
            }
            fn mark_stale(&self, not_seen_since: SystemTime, now: SystemTime) -> impl Future<Output = Result<u64, Self::Error>> + Send {
                (**self).mark_stale(not_seen_since, now)
            }
            fn session(&self, session_id: &str) -> impl Future<Output = Result<Option<SessionSpec>, Self::Error>> + Send {
                (**self).session(session_id)
            }
        }
    )*};
}

forward_session_registry!(&T, std::sync::Arc<T>);
