//! What the store refuses, and what can go wrong opening or using it.

use std::fmt;
use std::path::PathBuf;

use scheduler_core::lease::{ErrorKind, ServiceError};
use scheduler_core::model::RunStatus;

/// Shows an id in a message: in full when short, else its first 64 characters and its
/// length, so a megabyte of id never lands in a log line.
pub(crate) struct Shown<'a>(pub(crate) &'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 64;
        if self.0.chars().count() <= MAX {
            return write!(f, "{:?}", self.0);
        }
        let head: String = self.0.chars().take(MAX).collect();
        write!(f, "{head:?}... ({} bytes)", self.0.len())
    }
}

/// Why a database file could not be opened as a scheduler store. Nothing in the file
/// was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenProblem {
    /// The directory the file would live in does not exist.
    #[error("its directory {0:?} does not exist")]
    MissingDirectory(PathBuf),
    /// The path names a directory, not a file.
    #[error("it is a directory, not a database file")]
    IsDirectory,
    /// The file (or the database in it) can only be read.
    #[error("the file is read-only; the store needs to write to it")]
    ReadOnly,
    /// The file is not a SQLite database.
    #[error("the file is not a SQLite database")]
    NotADatabase,
    /// The file is a SQLite database of some other application.
    #[error("the file is a SQLite database of another application ({0})")]
    Foreign(String),
    /// The database was written by a newer version of this crate.
    #[error(
        "the database has schema version {found}, newer than the {supported} this build of scheduler-sqlite knows; \
         upgrade scheduler-sqlite to open it"
    )]
    NewerSchema {
        /// The version found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// SQLite failed while opening or migrating.
    #[error("{0}")]
    Sqlite(#[source] rusqlite::Error),
    /// A worker thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// Every error of the store. Messages name the run, task, session, field or file
/// concerned; they never contain a claim token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database could not be opened (nothing in it was changed).
    #[error("cannot open the scheduler store {}: {problem}", path.display())]
    Open {
        /// The file (`:memory:` for an in-memory store).
        path: PathBuf,
        /// What is wrong.
        problem: OpenProblem,
    },
    /// No run has this id.
    #[error("unknown run {}", Shown(run_id))]
    UnknownRun {
        /// The id asked for (trimmed).
        run_id: String,
    },
    /// No task has this id.
    #[error("unknown task {}", Shown(task_id))]
    UnknownTask {
        /// The id asked for (trimmed).
        task_id: String,
    },
    /// A run with this id exists already; nothing changed.
    #[error("run {} already exists", Shown(run_id))]
    DuplicateRun {
        /// The id.
        run_id: String,
    },
    /// The input was refused before anything was stored.
    #[error("invalid {field}: {problem}")]
    InvalidInput {
        /// Which field, e.g. `run id` or `required capability`.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The token presented is not the one of the run's current lease.
    #[error("claim token rejected for run {}: it does not match the run's current lease", Shown(run_id))]
    WrongToken {
        /// The run.
        run_id: String,
    },
    /// The run holds no lease any more, so any token presented for it is stale.
    #[error(
        "claim token rejected for run {}: the run holds no lease (it is {status}), so the token is stale",
        Shown(run_id)
    )]
    StaleToken {
        /// The run.
        run_id: String,
        /// Its status now.
        status: RunStatus,
    },
    /// The run is not in a status the operation moves from; nothing changed.
    #[error("invalid status transition for run {}: {from} -> {to}", Shown(run_id))]
    InvalidTransition {
        /// The run.
        run_id: String,
        /// Its status.
        from: RunStatus,
        /// Where the operation would have moved it.
        to: RunStatus,
    },
    /// The session already holds a live lease.
    #[error(
        "session {} already holds a live lease (run {}) and cannot claim another run",
        Shown(session_id),
        Shown(run_id)
    )]
    SessionBusy {
        /// The claiming session.
        session_id: String,
        /// The run it holds.
        run_id: String,
    },
    /// Claims are refused while the scheduler-wide pause is on.
    #[error("claim refused: the scheduler is paused")]
    Paused,
    /// No session has this id.
    #[error("unknown session {}", Shown(session_id))]
    UnknownSession {
        /// The id asked for (trimmed).
        session_id: String,
    },
    /// A session with this id is registered already; nothing changed.
    #[error("session {} is registered already", Shown(session_id))]
    DuplicateSession {
        /// The id.
        session_id: String,
    },
    /// A stored row could not be read back (a value this crate never writes).
    #[error("corrupt row in table {table}: {problem}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// SQLite failed (I/O, a busy database past the busy timeout, ...). The
    /// transaction was rolled back.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The write transaction could not start or commit (a busy database past the busy
    /// timeout, I/O); nothing of this call was written.
    #[error("the write transaction failed, nothing was written: {message}")]
    Transaction {
        /// SQLite's message.
        message: String,
    },
    /// The store's worker threads are gone (a job panicked, or the process is
    /// shutting down).
    #[error("the store's {0} worker is gone")]
    WorkerGone(&'static str),
}

impl Error {
    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Error::InvalidInput { field, problem: problem.into() }
    }

    pub(crate) fn open(path: impl Into<PathBuf>, problem: OpenProblem) -> Self {
        Error::Open { path: path.into(), problem }
    }
}

fn sqlite_kind(e: &rusqlite::Error) -> ErrorKind {
    use rusqlite::ffi::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(
            C::DatabaseBusy
            | C::DatabaseLocked
            | C::SystemIoFailure
            | C::CannotOpen
            | C::DiskFull
            | C::ReadOnly
            | C::NoLargeFileSupport
            | C::OutOfMemory,
        ) => ErrorKind::Unavailable,
        Some(C::TooBig) => ErrorKind::InvalidInput,
        _ => ErrorKind::Other,
    }
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Open { .. } | Error::WorkerGone(_) | Error::Transaction { .. } => ErrorKind::Unavailable,
            Error::UnknownRun { .. } => ErrorKind::UnknownRun,
            Error::UnknownTask { .. } => ErrorKind::UnknownTask,
            Error::DuplicateRun { .. } => ErrorKind::DuplicateRun,
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::WrongToken { .. } | Error::StaleToken { .. } => ErrorKind::TokenRejected,
            Error::InvalidTransition { .. } => ErrorKind::InvalidTransition,
            Error::SessionBusy { .. } => ErrorKind::SessionBusy,
            Error::Paused => ErrorKind::Paused,
            Error::UnknownSession { .. } => ErrorKind::UnknownSession,
            Error::DuplicateSession { .. } => ErrorKind::DuplicateSession,
            Error::Corrupt { .. } => ErrorKind::Other,
            Error::Sqlite(e) => sqlite_kind(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_ids_are_shortened_in_messages() {
        let long = "x".repeat(1 << 20);
        let msg = Error::UnknownRun { run_id: long }.to_string();
        assert!(msg.len() < 200, "{}", msg.len());
        assert!(msg.contains("1048576 bytes"), "{msg}");
        assert_eq!(Error::UnknownRun { run_id: "r".into() }.to_string(), "unknown run \"r\"");
    }

    #[test]
    fn kinds_classify() {
        assert_eq!(Error::Paused.kind(), ErrorKind::Paused);
        assert_eq!(Error::invalid("run id", "empty").kind(), ErrorKind::InvalidInput);
        assert_eq!(Error::WorkerGone("writer").kind(), ErrorKind::Unavailable);
    }
}
