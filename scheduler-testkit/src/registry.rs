//! An in-memory session registry: the live sessions the scheduler may wake.
//!
//! [`MemorySessions`] is a cloneable handle over a list of sessions kept in registration
//! order. Sessions register, change state, prompting flag or capabilities, and go away;
//! the scheduler reads them through [`SessionSource`]. Reads hand out `Arc` clones, so
//! they allocate nothing once the scheduler's buffer has grown; an update replaces the
//! one session's `Arc`.
//!
//! It is also the core's [`SessionRegistry`]: every write through that trait records
//! the session as *seen* at its `now`, and [`mark_stale`](SessionRegistry::mark_stale)
//! stops every session not seen since a given time. (The synchronous methods below
//! take no time; a session registered through them counts as seen at its creation
//! time.)
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
use std::time::SystemTime;

use scheduler_core::lease::{ErrorKind, ServiceError, SessionRegistry, SessionSpec};
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

impl ServiceError for RegistryError {
    fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::UnknownSession { .. } => ErrorKind::UnknownSession,
            RegistryError::DuplicateSession { .. } => ErrorKind::DuplicateSession,
            RegistryError::EmptySessionId => ErrorKind::InvalidInput,
            RegistryError::Injected(_) => ErrorKind::Unavailable,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// The live sessions, in registration order.
    sessions: Vec<Arc<SessionSnapshot>>,
    /// When each session (same index) was last seen.
    seen: Vec<SystemTime>,
}

/// The in-memory session registry (a cloneable handle; see the [module docs](self)).
///
/// Fault operation: `sessions` (the scheduler's read).
#[derive(Debug, Clone, Default)]
pub struct MemorySessions {
    inner: Arc<Mutex<Inner>>,
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

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a live session (its id is stored trimmed), seen at its creation time.
    ///
    /// # Errors
    /// [`RegistryError::EmptySessionId`] or [`RegistryError::DuplicateSession`].
    pub fn register(&self, session: SessionSnapshot) -> Result<(), RegistryError> {
        let seen = session.created_at;
        self.register_seen(session, seen)
    }

    fn register_seen(&self, mut session: SessionSnapshot, seen: SystemTime) -> Result<(), RegistryError> {
        let id = session.session_id.trim();
        if id.is_empty() {
            return Err(RegistryError::EmptySessionId);
        }
        if id.len() != session.session_id.len() {
            session.session_id = id.to_owned();
        }
        let mut inner = self.lock();
        if inner.sessions.iter().any(|s| s.session_id == session.session_id) {
            return Err(RegistryError::DuplicateSession { session_id: session.session_id });
        }
        inner.sessions.push(Arc::new(session));
        inner.seen.push(seen);
        Ok(())
    }

    /// Applies `edit` to a copy of the session and stores the copy (the session id
    /// cannot change).
    ///
    /// # Errors
    /// [`RegistryError::UnknownSession`].
    pub fn update(&self, session_id: &str, edit: impl FnOnce(&mut SessionSnapshot)) -> Result<(), RegistryError> {
        self.update_seen(session_id, None, edit)
    }

    /// [`update`](Self::update), also recording the session as seen at `seen`.
    fn update_seen(
        &self,
        session_id: &str,
        seen: Option<SystemTime>,
        edit: impl FnOnce(&mut SessionSnapshot),
    ) -> Result<(), RegistryError> {
        let session_id = session_id.trim();
        let mut inner = self.lock();
        let Some(i) = inner.sessions.iter().position(|s| s.session_id == session_id) else {
            return Err(RegistryError::UnknownSession { session_id: session_id.to_owned() });
        };
        let mut next = SessionSnapshot::clone(&inner.sessions[i]);
        edit(&mut next);
        next.session_id = session_id.to_owned();
        inner.sessions[i] = Arc::new(next);
        if let Some(seen) = seen {
            inner.seen[i] = seen;
        }
        Ok(())
    }

    /// When the session was last seen.
    pub fn last_seen(&self, session_id: &str) -> Option<SystemTime> {
        let inner = self.lock();
        let i = inner.sessions.iter().position(|s| s.session_id == session_id.trim())?;
        Some(inner.seen[i])
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
        let mut inner = self.lock();
        match inner.sessions.iter().position(|s| s.session_id == session_id) {
            Some(i) => {
                inner.seen.remove(i);
                Ok(inner.sessions.remove(i))
            }
            None => Err(RegistryError::UnknownSession { session_id: session_id.to_owned() }),
        }
    }

    /// The session with this id.
    pub fn get(&self, session_id: &str) -> Option<Arc<SessionSnapshot>> {
        let session_id = session_id.trim();
        self.lock().sessions.iter().find(|s| s.session_id == session_id).cloned()
    }

    /// Every live session, in registration order.
    pub fn all(&self) -> Vec<Arc<SessionSnapshot>> {
        self.lock().sessions.clone()
    }

    /// How many sessions are registered.
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is registered.
    pub fn is_empty(&self) -> bool {
        self.lock().sessions.is_empty()
    }
}

impl SessionSource for MemorySessions {
    type Session = Arc<SessionSnapshot>;
    type Error = RegistryError;

    async fn sessions(&self, out: &mut Vec<Arc<SessionSnapshot>>) -> Result<(), RegistryError> {
        self.faults.check("sessions")?;
        out.extend(self.lock().sessions.iter().cloned());
        Ok(())
    }
}

impl SessionRegistry for MemorySessions {
    async fn register(&self, session: &SessionSpec, now: SystemTime) -> Result<(), RegistryError> {
        self.register_seen(SessionSnapshot::from(session.clone()), now)
    }

    async fn set_state(&self, session_id: &str, state: SessionState, now: SystemTime) -> Result<(), RegistryError> {
        self.update_seen(session_id, Some(now), |s| s.state = state)
    }

    async fn set_prompting(&self, session_id: &str, prompting: bool, now: SystemTime) -> Result<(), RegistryError> {
        self.update_seen(session_id, Some(now), |s| s.prompting = prompting)
    }

    async fn set_capabilities(
        &self,
        session_id: &str,
        capabilities: &[String],
        now: SystemTime,
    ) -> Result<(), RegistryError> {
        self.update_seen(session_id, Some(now), |s| s.capabilities = capabilities.to_vec())
    }

    async fn touch(&self, session_id: &str, now: SystemTime) -> Result<(), RegistryError> {
        self.update_seen(session_id, Some(now), |_| {})
    }

    async fn remove(&self, session_id: &str) -> Result<(), RegistryError> {
        MemorySessions::remove(self, session_id).map(drop)
    }

    async fn mark_stale(&self, not_seen_since: SystemTime, now: SystemTime) -> Result<u64, RegistryError> {
        let _ = now;
        let mut inner = self.lock();
        let inner = &mut *inner;
        let mut changed = 0;
        for (slot, seen) in inner.sessions.iter_mut().zip(&inner.seen) {
            if *seen < not_seen_since && slot.state != SessionState::Stopped {
                *slot = Arc::new(SessionSnapshot { state: SessionState::Stopped, ..SessionSnapshot::clone(slot) });
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSpec>, RegistryError> {
        Ok(self.get(session_id).map(|s| SessionSpec::from(SessionSnapshot::clone(&s))))
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
