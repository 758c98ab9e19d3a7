//! In-process wake delivery: each session registers a mailbox, and [`MailboxWaker`]
//! hands every wake to the mailbox of the session it targets.
//!
//! A wake is advisory: it tells a session that there may be work for it, and the
//! session then claims through the task service. Delivery never blocks the scheduler
//! and never drops a wake silently: a session with no mailbox, a full mailbox (the
//! session is not reading) or a closed one (the session went away) is a failed wake
//! with an error that says which, and the scheduler reports it like any other failed
//! wake. The durable backends use the same [`Mailboxes`] on every daemon: the
//! PostgreSQL backend's listener delivers wakes that arrive from another daemon here.
//!
//! ```
//! use scheduler_tokio::mailbox::{DeliveryError, Mailboxes, Wake};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let mailboxes = Mailboxes::new(8);
//! let mut inbox = mailboxes.register("sess-1");
//!
//! mailboxes.deliver(Wake::new("run-1", "task-1", "sess-1", "pending_task_run")).unwrap();
//! let wake = inbox.recv().await.unwrap();
//! assert_eq!((wake.run_id.as_str(), wake.reason.as_str()), ("run-1", "pending_task_run"));
//!
//! // No mailbox: a failed wake, not a panic and not a silent drop.
//! let err = mailboxes.deliver(Wake::new("run-2", "task-2", "sess-9", "pending_task_run")).unwrap_err();
//! assert!(matches!(err, DeliveryError::NoMailbox { .. }));
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use scheduler_core::seam::{WakeTarget, Waker};
use scheduler_core::view::{RunView, SessionView};
use tokio::sync::mpsc::{self, error::TrySendError};

/// One wake, as a session receives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Wake {
    /// The run the session could claim.
    pub run_id: String,
    /// The run's task.
    pub task_id: String,
    /// The session woken.
    pub session_id: String,
    /// The wake reason (the scheduler's default is `pending_task_run`).
    pub reason: String,
}

impl Wake {
    /// A wake of `session_id` for `run_id` (ids are stored trimmed).
    pub fn new(
        run_id: impl Into<String>,
        task_id: impl Into<String>,
        session_id: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        let trimmed = |s: String| if s.trim().len() == s.len() { s } else { s.trim().to_owned() };
        Wake {
            run_id: trimmed(run_id.into()),
            task_id: trimmed(task_id.into()),
            session_id: trimmed(session_id.into()),
            reason: reason.into(),
        }
    }

    /// The wake the scheduler sends for `target`.
    pub fn of<R: RunView, S: SessionView>(target: &WakeTarget<'_, R, S>) -> Self {
        Wake::new(target.run.run_id(), target.run.task_id(), target.session.session_id(), target.reason)
    }
}

/// Why a wake could not be delivered. The message names the session and the run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// No mailbox is registered for the session (it never registered, or it
    /// unregistered).
    #[error("no mailbox for session {session_id:?}: wake for run {run_id:?} not delivered")]
    NoMailbox {
        /// The session.
        session_id: String,
        /// The run of the wake.
        run_id: String,
    },
    /// The session's mailbox holds `capacity` unread wakes already.
    #[error(
        "mailbox of session {session_id:?} is full ({capacity} unread wakes): wake for run {run_id:?} not delivered"
    )]
    Full {
        /// The session.
        session_id: String,
        /// The run of the wake.
        run_id: String,
        /// The mailbox's capacity.
        capacity: usize,
    },
    /// The session dropped its mailbox; the registration is removed.
    #[error("mailbox of session {session_id:?} is closed: wake for run {run_id:?} not delivered")]
    Closed {
        /// The session.
        session_id: String,
        /// The run of the wake.
        run_id: String,
    },
}

type Senders = HashMap<Box<str>, mpsc::Sender<Wake>>;

/// The registry of in-process mailboxes, by session id: a cheap, cloneable handle
/// shared by the sessions (which [`register`](Self::register)) and the waker (which
/// [`deliver`](Self::deliver)s).
#[derive(Debug, Clone)]
pub struct Mailboxes {
    senders: Arc<Mutex<Senders>>,
    capacity: usize,
}

impl Mailboxes {
    /// An empty registry whose mailboxes hold up to `capacity` unread wakes each
    /// (at least 1).
    pub fn new(capacity: usize) -> Self {
        Mailboxes { senders: Arc::default(), capacity: capacity.max(1) }
    }

    /// The capacity of each mailbox.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn lock(&self) -> MutexGuard<'_, Senders> {
        // Nothing panics under this lock, so a poisoned map is still coherent.
        self.senders.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Registers a mailbox for `session_id` (trimmed) and returns its receiving end.
    /// A mailbox registered earlier under the same id is replaced: its receiver sees
    /// the end of its wakes.
    pub fn register(&self, session_id: &str) -> Mailbox {
        let session_id = session_id.trim();
        let (tx, rx) = mpsc::channel(self.capacity);
        self.lock().insert(session_id.into(), tx);
        Mailbox { session_id: session_id.to_owned(), rx }
    }

    /// Removes the session's mailbox; returns whether one was registered.
    pub fn unregister(&self, session_id: &str) -> bool {
        self.lock().remove(session_id.trim()).is_some()
    }

    /// Whether a mailbox is registered for the session (it may be closed).
    pub fn contains(&self, session_id: &str) -> bool {
        self.lock().contains_key(session_id.trim())
    }

    /// How many mailboxes are registered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no mailbox is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands `wake` to its session's mailbox without waiting.
    ///
    /// # Errors
    /// [`DeliveryError::NoMailbox`], [`DeliveryError::Full`] or
    /// [`DeliveryError::Closed`] (which also removes the dead registration). The wake
    /// is not delivered then.
    pub fn deliver(&self, wake: Wake) -> Result<(), DeliveryError> {
        let mut senders = self.lock();
        let Some(tx) = senders.get(wake.session_id.as_str()) else {
            return Err(DeliveryError::NoMailbox { session_id: wake.session_id, run_id: wake.run_id });
        };
        match tx.try_send(wake) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(wake)) => {
                Err(DeliveryError::Full { session_id: wake.session_id, run_id: wake.run_id, capacity: self.capacity })
            }
            Err(TrySendError::Closed(wake)) => {
                senders.remove(wake.session_id.as_str());
                Err(DeliveryError::Closed { session_id: wake.session_id, run_id: wake.run_id })
            }
        }
    }
}

impl Default for Mailboxes {
    /// Mailboxes of 64 wakes each.
    fn default() -> Self {
        Mailboxes::new(64)
    }
}

/// The receiving end of one session's mailbox. Dropping it closes the mailbox: later
/// wakes for the session fail with [`DeliveryError::Closed`].
#[derive(Debug)]
pub struct Mailbox {
    session_id: String,
    rx: mpsc::Receiver<Wake>,
}

impl Mailbox {
    /// The session this mailbox belongs to.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    /// The next wake; `None` once the mailbox was replaced or unregistered and every
    /// wake sent before was read.
    pub async fn recv(&mut self) -> Option<Wake> {
        self.rx.recv().await
    }

    /// The next wake if one is waiting.
    pub fn try_recv(&mut self) -> Option<Wake> {
        self.rx.try_recv().ok()
    }
}

/// A [`Waker`] that delivers each wake to the target session's in-process
/// [`Mailbox`], through [`Mailboxes::deliver`]. It never blocks: delivery is a
/// non-waiting send, so a batch of any size costs one lock and one send per target.
///
/// ```
/// use scheduler_tokio::mailbox::{Mailboxes, MailboxWaker};
/// let mailboxes = Mailboxes::new(16);
/// let waker = MailboxWaker::new(mailboxes.clone());
/// // Scheduler::builder(tasks, sessions, waker) ... ; each session: mailboxes.register(id)
/// # let _ = waker;
/// ```
#[derive(Debug, Clone)]
pub struct MailboxWaker {
    mailboxes: Mailboxes,
}

impl MailboxWaker {
    /// A waker over `mailboxes`.
    pub fn new(mailboxes: Mailboxes) -> Self {
        MailboxWaker { mailboxes }
    }

    /// The mailboxes it delivers to.
    pub fn mailboxes(&self) -> &Mailboxes {
        &self.mailboxes
    }
}

impl<R: RunView + Sync, S: SessionView + Sync> Waker<R, S> for MailboxWaker {
    type Error = DeliveryError;

    async fn wake(&self, target: WakeTarget<'_, R, S>) -> Result<(), DeliveryError> {
        self.mailboxes.deliver(Wake::of(&target))
    }
}
