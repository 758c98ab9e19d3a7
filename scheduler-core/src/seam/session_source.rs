use std::future::Future;

use crate::view::SessionView;

/// The session registry: the live sessions that may be woken.
///
/// ```
/// use std::convert::Infallible;
/// use scheduler_core::seam::SessionSource;
/// # use scheduler_core::view::SessionView; use scheduler_core::model::SessionState; use std::time::SystemTime;
/// # #[derive(Clone)] pub struct Session;
/// # impl SessionView for Session { fn session_id(&self) -> &str { "s" } fn agent_name(&self) -> &str { "a" }
/// # fn workspace_id(&self) -> &str { "" } fn channel(&self) -> &str { "" } fn state(&self) -> SessionState { SessionState::Active }
/// # fn prompting(&self) -> bool { false } fn capabilities(&self) -> impl Iterator<Item = &str> { [].into_iter() }
/// # fn created_at(&self) -> SystemTime { SystemTime::UNIX_EPOCH } }
///
/// struct Registry(std::sync::Mutex<Vec<Session>>);
///
/// impl SessionSource for Registry {
///     type Session = Session;
///     type Error = Infallible;
///
///     async fn sessions(&self, out: &mut Vec<Session>) -> Result<(), Infallible> {
///         out.extend_from_slice(&self.0.lock().unwrap());
///         Ok(())
///     }
/// }
/// ```
pub trait SessionSource: Send + Sync {
    /// One live session.
    type Session: SessionView + Send + Sync;
    /// What can go wrong reading the registry.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Pushes every live session onto `out`.
    fn sessions(&self, out: &mut Vec<Self::Session>) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

macro_rules! forward_session_source {
    ($($ptr:ty),*) => {$(
        /// Forwards to the shared source.
        impl<T: SessionSource + ?Sized> SessionSource for $ptr {
            type Session = T::Session;
            type Error = T::Error;

            fn sessions(&self, out: &mut Vec<Self::Session>) -> impl Future<Output = Result<(), Self::Error>> + Send {
                (**self).sessions(out)
            }
        }
    )*};
}

forward_session_source!(&T, std::sync::Arc<T>);
