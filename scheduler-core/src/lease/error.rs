//! How a service's errors are classified, so callers (and the conformance suite) can
//! tell "refused by the contract" from "storage failed" without parsing messages.

use std::fmt;

/// The contract's classes of failure. Every error a [`LeaseService`](super::LeaseService),
/// [`SessionRegistry`](super::SessionRegistry) or [`PauseControl`](super::PauseControl)
/// returns maps to one, through [`ServiceError::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No run has the id given.
    UnknownRun,
    /// No task has the id given.
    UnknownTask,
    /// A run with this id exists already (enqueue changes nothing).
    DuplicateRun,
    /// The claim token is wrong or stale; nothing changed.
    TokenRejected,
    /// The run is not in a status the operation moves from; nothing changed.
    InvalidTransition,
    /// The claiming session already holds a live lease.
    SessionBusy,
    /// Claims are refused because the scheduler is paused (or the pause flag could not
    /// be read: claims fail closed).
    Paused,
    /// No live session has the id given.
    UnknownSession,
    /// A session with this id is registered already.
    DuplicateSession,
    /// The input was refused before anything was stored: an empty id, text the store
    /// cannot hold (a NUL byte, an over-long value), a lease that overflows the clock.
    /// The message says which field and why.
    InvalidInput,
    /// The store could not be reached or failed (I/O, a lost connection, a timeout, a
    /// busy database). Retrying later may succeed; nothing was changed by this call,
    /// or the change was rolled back.
    Unavailable,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// A short lowercase name, e.g. `token_rejected`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownRun => "unknown_run",
            ErrorKind::UnknownTask => "unknown_task",
            ErrorKind::DuplicateRun => "duplicate_run",
            ErrorKind::TokenRejected => "token_rejected",
            ErrorKind::InvalidTransition => "invalid_transition",
            ErrorKind::SessionBusy => "session_busy",
            ErrorKind::Paused => "paused",
            ErrorKind::UnknownSession => "unknown_session",
            ErrorKind::DuplicateSession => "duplicate_session",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of a service of the contract: an ordinary error that also says which
/// [`ErrorKind`] it is, like [`std::io::Error::kind`].
///
/// ```
/// use scheduler_core::lease::{ErrorKind, ServiceError};
///
/// #[derive(Debug, thiserror::Error)]
/// enum MyError {
///     #[error("claim token rejected for run {0:?}")]
///     Token(String),
///     #[error("database: {0}")]
///     Db(#[from] std::io::Error),
/// }
///
/// impl ServiceError for MyError {
///     fn kind(&self) -> ErrorKind {
///         match self {
///             MyError::Token(_) => ErrorKind::TokenRejected,
///             MyError::Db(_) => ErrorKind::Unavailable,
///         }
///     }
/// }
/// assert_eq!(MyError::Token("r".into()).kind(), ErrorKind::TokenRejected);
/// ```
pub trait ServiceError: std::error::Error + Send + Sync + 'static {
    /// The contract's class of this error.
    fn kind(&self) -> ErrorKind;
}
