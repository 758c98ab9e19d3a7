//! An in-memory session registry: the live sessions the scheduler may wake.
//!
//! [`MemorySessions`] is a cloneable handle over a list of sessions kept in registration
//! order. Sessions register, change state, prompting flag or capabilities, and go away;
//! the scheduler reads them through [`SessionSource`]. Reads hand out `Arc` clones, so
//! they allocate nothing once the scheduler's buffer has grown; an update replaces the
//! one session's `Arc`.
//!
//! ```
//! use scheduler_core::model::SessionState;
//! use scheduler_testkit::registry::MemorySessions;
//! use scheduler_testkit::snapshot::SessionSnapshot;
//!
//! let sessions = MemorySessions::new();
//! sessions.register(SessionSnapshot::active("sess-1").caps(["rust"]))?;
//! sessions.set_prompting("sess-1", true)?;
//! sessions.set_capabilities("sess-1", ["rust", "go"])?;
//! assert_eq!(sessions.get("sess-1").unwrap().capabilities, ["rust", "go"]);
//! sessions.set_state("sess-1", SessionState::Stopped)?;
//! sessions.remove("sess-1")?;
//! assert!(sessions.is_empty());
//! # Ok::<(), scheduler_testkit::registry::RegistryError>(())
//! ```

use std::sync::{Arc, Mutex, MutexGuard};

use scheduler_core::model::SessionState;
use scheduler_core::seam::SessionSource;

use crate::fault::{FakeError, Faults};
use crate::snapshot::SessionSnapshot;

/// What the registry refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No live session has this id.
    #[error("unknown session {session_id:?}")]
    UnknownSession {
        /// The id asked for.
        session_id: String,
    },
    /// A session with this id is already registered.
    #[error("session {session_id:?} is already registered")]
    DuplicateSession {
        /// The id.
        session_id: String,
    },
    /// The session id is empty (after trimming).
    #[error("empty session id")]
    EmptySessionId,
    /// An injected fault (see [`MemorySessions::faults`]).
    #[error(transparent)]
    Injected(#[from] FakeError),
}

/// The in-memory session registry (a cloneable handle; see the [module docs](self)).
///
/// Fault operation: `sessions` (the scheduler's read).
#[derive(Debug, Clone, Default)]
pub struct MemorySessions {
    sessions: Arc<Mutex<Vec<Arc<SessionSnapshot>>>>,
    faults: Faults,
}

impl MemorySessions {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The fault plan this registry consults.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<SessionSnapshot>>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a live session (its id is stored trimmed).
    ///
    /// # Errors
    /// [`RegistryError::EmptySessionId`] or [`RegistryError::DuplicateSession`].
    pub fn register(&self, mut session: SessionSnapshot) -> Result<(), RegistryError> {
        let id = session.session_id.trim();
        if id.is_empty() {
            return Err(RegistryError::EmptySessionId);
        }
        if id.len() != session.session_id.len() {
            session.session_id = id.to_owned();
        }
        let mut sessions = self.lock();
        if sessions.iter().any(|s| s.session_id == session.session_id) {
            return Err(RegistryError::DuplicateSession { session_id: session.session_id });
        }
        sessions.push(Arc::new(session));
        Ok(())
    }

    /// Applies `edit` to a copy of the session and stores the copy (the session id
    /// cannot change).
    ///
    /// # Errors
    /// [`RegistryError::UnknownSession`].
    pub fn update(&self, session_id: &str, edit: impl FnOnce(&mut SessionSnapshot)) -> Result<(), RegistryError> {
        let session_id = session_id.trim();
        let mut sessions = self.lock();
        let Some(slot) = sessions.iter_mut().find(|s| s.session_id == session_id) else {
            return Err(RegistryError::UnknownSession { session_id: session_id.to_owned() });
        };
        let mut next = SessionSnapshot::clone(slot);
        edit(&mut next);
        next.session_id = session_id.to_owned();
        *slot = Arc::new(next);
        Ok(())
    }

    /// Sets the session's lifecycle state.
    ///
    /// # Errors
    /// [`RegistryError::UnknownSession`].
    pub fn set_state(&self, session_id: &str, state: SessionState) -> Result<(), RegistryError> {
        self.update(session_id, |s| s.state = state)
    }

    /// Sets whether the session is in the middle of a prompt.
    ///
    /// # Errors
    /// [`RegistryError::UnknownSession`].
    pub fn set_prompting(&self, session_id: &str, prompting: bool) -> Result<(), RegistryError> {
        self.update(session_id, |s| s.prompting = prompting)
    }

    /// Replaces the session's capabilities.
    ///
    /// # Errors
    /// [`RegistryError::UnknownSession`].
    pub fn set_capabilities<I, C>(&self, session_id: &str, caps: I) -> Result<(), RegistryError>
    where
        I: IntoIterator<Item = C>,
        C: Into<String>,
    {
        let caps: Vec<String> = caps.into_iter().map(Into::into).collect();
        self.update(session_id, |s| s.capabilities = caps)
    }

    /// Removes the session and returns it.
    ///
    /// # Errors
    /// [`RegistryError::UnknownSession`].
    pub fn remove(&self, session_id: &str) -> Result<Arc<SessionSnapshot>, RegistryError> {
        let session_id = session_id.trim();
        let mut sessions = self.lock();
        match sessions.iter().position(|s| s.session_id == session_id) {
            Some(i) => Ok(sessions.remove(i)),
            None => Err(RegistryError::UnknownSession { session_id: session_id.to_owned() }),
        }
    }

    /// The session with this id.
    pub fn get(&self, session_id: &str) -> Option<Arc<SessionSnapshot>> {
        let session_id = session_id.trim();
        self.lock().iter().find(|s| s.session_id == session_id).cloned()
    }

    /// Every live session, in registration order.
    pub fn all(&self) -> Vec<Arc<SessionSnapshot>> {
        self.lock().clone()
    }

    /// How many sessions are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl SessionSource for MemorySessions {
    type Session = Arc<SessionSnapshot>;
    type Error = RegistryError;

    async fn sessions(&self, out: &mut Vec<Arc<SessionSnapshot>>) -> Result<(), RegistryError> {
        self.faults.check("sessions")?;
        out.extend(self.lock().iter().cloned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_validates_and_trims() {
        let r = MemorySessions::new();
        assert_eq!(r.register(SessionSnapshot::active("  ")), Err(RegistryError::EmptySessionId));
        r.register(SessionSnapshot::active(" s1 ")).unwrap();
        assert_eq!(r.get("s1").unwrap().session_id, "s1");
        assert_eq!(
            r.register(SessionSnapshot::active("s1")),
            Err(RegistryError::DuplicateSession { session_id: "s1".into() })
        );
    }

    #[test]
    fn updates_of_unknown_sessions_fail_and_change_nothing() {
        let r = MemorySessions::new();
        r.register(SessionSnapshot::active("s1")).unwrap();
        let before = r.all();
        assert_eq!(r.set_prompting("s2", true), Err(RegistryError::UnknownSession { session_id: "s2".into() }));
        assert!(r.remove("s2").is_err());
        assert_eq!(r.all(), before);
    }

    #[test]
    fn reads_keep_registration_order_and_fail_on_demand() {
        let r = MemorySessions::new();
        for id in ["b", "a", "c"] {
            r.register(SessionSnapshot::active(id)).unwrap();
        }
        r.remove("a").unwrap();
        let mut out = Vec::new();
        futures::executor::block_on(r.sessions(&mut out)).unwrap();
        let ids: Vec<_> = out.iter().map(|s| s.session_id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        r.faults().fail_next("sessions");
        assert!(futures::executor::block_on(r.sessions(&mut out)).is_err());
    }
}
