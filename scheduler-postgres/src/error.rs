//! The backend's errors, classified for callers through [`ServiceError::kind`].

use scheduler_core::lease::{ErrorKind, ServiceError};
use scheduler_core::model::RunStatus;
use tokio_postgres::error::SqlState;

/// What the PostgreSQL backend refuses or fails at. Messages name the step and the run,
/// task or session concerned; they never contain a claim token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No run has this id.
    #[error("unknown run {run_id:?}")]
    UnknownRun {
        /// The id asked for.
        run_id: String,
    },
    /// No task has this id.
    #[error("unknown task {task_id:?}")]
    UnknownTask {
        /// The id asked for.
        task_id: String,
    },
    /// A run with this id exists already; nothing changed.
    #[error("run {run_id:?} already exists")]
    DuplicateRun {
        /// The id.
        run_id: String,
    },
    /// The token presented is not the one of the run's current lease.
    #[error("claim token rejected for run {run_id:?}: it does not match the run's current lease")]
    WrongToken {
        /// The run.
        run_id: String,
    },
    /// The run holds no lease (released, recovered or ended), so every token is stale.
    #[error("claim token rejected for run {run_id:?}: the run holds no lease (it is {status}), so the token is stale")]
    StaleToken {
        /// The run.
        run_id: String,
        /// Its current status.
        status: RunStatus,
    },
    /// The run is not in a status the operation moves from.
    #[error("invalid status transition for run {run_id:?}: {from} -> {to}")]
    InvalidTransition {
        /// The run.
        run_id: String,
        /// Its current status.
        from: RunStatus,
        /// The status the operation would have moved it to.
        to: RunStatus,
    },
    /// The session holds a live lease already.
    #[error("session {session_id:?} already holds a live lease and cannot claim another run")]
    SessionBusy {
        /// The claiming session.
        session_id: String,
    },
    /// Claims are refused while the scheduler-wide pause is on.
    #[error("claim refused: the scheduler is paused")]
    Paused,
    /// No session has this id.
    #[error("unknown session {session_id:?}")]
    UnknownSession {
        /// The id asked for.
        session_id: String,
    },
    /// A session with this id is registered already; nothing changed.
    #[error("session {session_id:?} is registered already")]
    DuplicateSession {
        /// The id.
        session_id: String,
    },
    /// Input refused before anything was stored.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field, e.g. `run_id`, `capabilities`.
        field: &'static str,
        /// Why, e.g. "contains a NUL byte, which PostgreSQL text cannot store".
        reason: String,
    },
    /// A configuration value was refused (a bad URL, schema name or daemon id).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A statement or the connection failed.
    #[error("{step}: {}", describe(source))]
    Database {
        /// The step that failed, e.g. "claim".
        step: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// No connection could be had from the pool (the server is unreachable, refused
    /// the credentials, or every connection is busy past the wait timeout).
    #[error("{step}: no database connection to {server}: {}", describe_pool(source))]
    Pool {
        /// The step that needed the connection.
        step: &'static str,
        /// The server and user (`host:port as user`; never the password).
        server: String,
        /// The pool's error.
        #[source]
        source: deadpool_postgres::PoolError,
    },
    /// The schema does not exist and the configuration says not to create it.
    #[error(
        "schema {schema:?} does not exist (and Config::create_schema(false) forbids creating it): create it, or allow the store to"
    )]
    MissingSchema {
        /// The schema.
        schema: String,
    },
    /// The schema was migrated by a newer version of this crate.
    #[error(
        "schema {schema:?} is at version {found}, newer than the {known} this version of scheduler-postgres knows: upgrade the crate, or use another schema"
    )]
    SchemaTooNew {
        /// The schema.
        schema: String,
        /// The version found.
        found: i32,
        /// The newest version this crate knows.
        known: i32,
    },
    /// A fenced write was refused: the writer's leader term (epoch) is not the current
    /// one, or it has no term at all. Nothing was written.
    #[error(
        "not the leader: {step} refused because daemon {daemon_id:?} does not hold the current leader term (its term: {epoch:?})"
    )]
    Deposed {
        /// The step refused.
        step: &'static str,
        /// The daemon that tried.
        daemon_id: String,
        /// The term it wrote under, if it had one.
        epoch: Option<u64>,
    },
    /// The listener's self-test failed: a notification sent through the pool did not
    /// reach the listening connection.
    #[error("LISTEN self-test failed: {0}")]
    ListenSelfTest(String),
    /// A wake could not be written to the outbox (one error per target of a failed
    /// batch; the cause is the statement's error).
    #[error("wake of session {session_id:?} for run {run_id:?} not sent: {cause}")]
    WakeNotSent {
        /// The session.
        session_id: String,
        /// The run.
        run_id: String,
        /// Why.
        cause: String,
    },
    /// An operation did not finish within its deadline.
    #[error("{step}: timed out after {after:?}")]
    Timeout {
        /// The step.
        step: &'static str,
        /// How long it was given.
        after: std::time::Duration,
    },
}

impl Error {
    pub(crate) fn db(step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Error {
        move |source| Error::Database { step, source }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidInput { field, reason: reason.into() }
    }

    /// The SQLSTATE of a database error, if the server sent one.
    pub fn sql_state(&self) -> Option<&SqlState> {
        match self {
            Error::Database { source, .. } => source.code(),
            Error::Pool { source: deadpool_postgres::PoolError::Backend(source), .. } => source.code(),
            _ => None,
        }
    }
}

/// The driver's error with the server's own message, which its `Display` leaves out
/// ("db error"): severity, SQLSTATE, message, and detail or hint when there are some.
fn describe(error: &tokio_postgres::Error) -> String {
    let Some(db) = error.as_db_error() else {
        return match std::error::Error::source(error) {
            Some(cause) => format!("{error}: {cause}"),
            None => error.to_string(),
        };
    };
    let mut text = format!("{} {}: {}", db.severity(), db.code().code(), db.message());
    if let Some(detail) = db.detail() {
        text.push_str(&format!(" ({detail})"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!(" (hint: {hint})"));
    }
    text
}

fn describe_pool(error: &deadpool_postgres::PoolError) -> String {
    match error {
        deadpool_postgres::PoolError::Backend(e) => describe(e),
        other => other.to_string(),
    }
}

/// Whether a server error is about the connection or the server's state (retrying later
/// may work) rather than about the statement.
fn transient(state: &SqlState) -> bool {
    let code = state.code();
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources
        || code.starts_with("57") // operator intervention: admin shutdown, cannot connect now
        || code.starts_with("28") // invalid authorization: the server refused us
        || code.starts_with("3D") // invalid catalog name: no such database
        || *state == SqlState::T_R_SERIALIZATION_FAILURE
        || *state == SqlState::T_R_DEADLOCK_DETECTED
        || *state == SqlState::LOCK_NOT_AVAILABLE
        || *state == SqlState::QUERY_CANCELED
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownRun { .. } => ErrorKind::UnknownRun,
            Error::UnknownTask { .. } => ErrorKind::UnknownTask,
            Error::DuplicateRun { .. } => ErrorKind::DuplicateRun,
            Error::WrongToken { .. } | Error::StaleToken { .. } => ErrorKind::TokenRejected,
            Error::InvalidTransition { .. } => ErrorKind::InvalidTransition,
            Error::SessionBusy { .. } => ErrorKind::SessionBusy,
            Error::Paused => ErrorKind::Paused,
            Error::UnknownSession { .. } => ErrorKind::UnknownSession,
            Error::DuplicateSession { .. } => ErrorKind::DuplicateSession,
            Error::InvalidInput { .. } | Error::Config(_) => ErrorKind::InvalidInput,
            Error::Pool { .. } | Error::Timeout { .. } | Error::ListenSelfTest(_) | Error::WakeNotSent { .. } => {
                ErrorKind::Unavailable
            }
            Error::Database { source, .. } => match source.code() {
                None => ErrorKind::Unavailable,
                Some(state) if transient(state) => ErrorKind::Unavailable,
                Some(_) => ErrorKind::Other,
            },
            Error::MissingSchema { .. } | Error::SchemaTooNew { .. } | Error::Deposed { .. } => ErrorKind::Other,
        }
    }
}
