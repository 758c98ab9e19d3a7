//! [`Store`]: opening a database and handing out the seams' handles.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, MAIN_DB, OpenFlags, TransactionBehavior};

use crate::budgets::Budgets;
use crate::cache::Cache;
use crate::error::{Error, OpenProblem};
use crate::escalation::Escalation;
use crate::pause::Pause;
use crate::schema;
use crate::sessions::Sessions;
use crate::tasks::Tasks;
use crate::worker::Workers;

/// How a [`Store`] opens its file.
///
/// ```
/// use std::time::Duration;
/// use scheduler_sqlite::Options;
/// let options = Options::default().busy_timeout(Duration::from_secs(10)).readers(4);
/// assert_eq!(options.reader_count(), 4);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    busy_timeout: Duration,
    readers: usize,
}

impl Default for Options {
    /// A 5 s busy timeout and 2 reader connections.
    fn default() -> Self {
        Options { busy_timeout: Duration::from_secs(5), readers: 2 }
    }
}

impl Options {
    /// How long a connection waits for another connection's (or process's) lock
    /// before failing with a busy error ([`ErrorKind::Unavailable`]).
    ///
    /// [`ErrorKind::Unavailable`]: scheduler_core::lease::ErrorKind::Unavailable
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// How many reader connections (and threads) serve reads; 0 sends reads to the
    /// writer's connection too (one connection in all).
    pub fn readers(mut self, readers: usize) -> Self {
        self.readers = readers;
        self
    }

    /// The number of reader connections.
    pub fn reader_count(&self) -> usize {
        self.readers
    }
}

/// A scheduler store in one SQLite database: open it once per process and hand its
/// cheap, cloneable handles to the scheduler and the sessions (see the
/// [crate docs](crate)).
///
/// Opening blocks (it reads the file and runs migrations); call it before the async
/// runtime starts or on a blocking thread. Every handle method after that is `async`
/// and runs its SQL on the store's own threads.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) path: PathBuf,
    pub(crate) workers: Workers,
    cache: Mutex<Cache>,
}

impl Inner {
    pub(crate) fn cache(&self) -> MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating it if missing) the store in the file at `path` with the default
    /// [`Options`]: runs the migrations, turns on WAL and sets the busy timeout.
    ///
    /// # Errors
    /// [`Error::Open`], naming the path and what is wrong: a missing directory, a
    /// directory, a read-only file, a file that is not a SQLite database, a database
    /// of another application or of a newer schema version. Nothing in the file is
    /// changed then.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, Error> {
        Store::open_with(path, Options::default())
    }

    /// [`open`](Self::open) with `options`.
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Store, Error> {
        let path = path.as_ref();
        let fail = |problem| Error::open(path, problem);
        check_path(path).map_err(fail)?;
        let mut writer = open_writer(path, options).map_err(fail)?;
        schema::migrate(&mut writer).map_err(fail)?;
        let readers = (0..options.readers).map(|_| open_reader(path, options)).collect::<Result<Vec<_>, _>>();
        let readers = readers.map_err(|e| fail(OpenProblem::Sqlite(e)))?;
        Store::start(path.to_owned(), writer, readers)
    }

    /// A store in a private in-memory database, for tests: every handle of this store
    /// (and its clones) shares it, over one connection; it is gone when the last
    /// handle is dropped.
    ///
    /// # Errors
    /// [`Error::Open`] if SQLite cannot allocate it.
    pub fn open_in_memory() -> Result<Store, Error> {
        let fail = |problem| Error::open(":memory:", problem);
        let mut conn = Connection::open_in_memory().map_err(|e| fail(OpenProblem::Sqlite(e)))?;
        configure(&conn, Options::default().busy_timeout).map_err(|e| fail(OpenProblem::Sqlite(e)))?;
        schema::migrate(&mut conn).map_err(fail)?;
        Store::start(PathBuf::from(":memory:"), conn, Vec::new())
    }

    fn start(path: PathBuf, writer: Connection, readers: Vec<Connection>) -> Result<Store, Error> {
        let workers = Workers::start(writer, readers).map_err(|e| Error::open(&path, OpenProblem::Thread(e)))?;
        Ok(Store { inner: Arc::new(Inner { path, workers, cache: Mutex::new(Cache::default()) }) })
    }

    /// The database file (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The task service: the scheduler's [`TaskSource`](scheduler_core::seam::TaskSource)
    /// and the sessions' [`LeaseService`](scheduler_core::lease::LeaseService).
    pub fn tasks(&self) -> Tasks {
        Tasks::new(Arc::clone(&self.inner))
    }

    /// The session registry: [`SessionSource`](scheduler_core::seam::SessionSource) and
    /// [`SessionRegistry`](scheduler_core::lease::SessionRegistry).
    pub fn sessions(&self) -> Sessions {
        Sessions::new(Arc::clone(&self.inner))
    }

    /// The pause flag: [`PauseStore`](scheduler_core::seam::PauseStore) and
    /// [`PauseControl`](scheduler_core::lease::PauseControl). Claims consult the same
    /// flag.
    pub fn pause(&self) -> Pause {
        Pause::new(Arc::clone(&self.inner))
    }

    /// The starvation budgets: [`StarvationStore`](scheduler_core::seam::StarvationStore).
    pub fn budgets(&self) -> Budgets {
        Budgets::new(Arc::clone(&self.inner))
    }

    /// The ladder's escalation actor over this store:
    /// [`EscalationActor`](scheduler_core::seam::EscalationActor). Pair it with
    /// [`budgets`](Self::budgets) in the scheduler's `ladder`.
    pub fn escalation(&self) -> Escalation {
        Escalation::new(Arc::clone(&self.inner))
    }
}

fn check_path(path: &Path) -> Result<(), OpenProblem> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            return Err(OpenProblem::MissingDirectory(dir.to_owned()));
        }
    }
    match fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(OpenProblem::IsDirectory),
        // Refused by the permission bits even where the OS would let us write
        // (as root): the file's owner marked it read-only.
        Ok(meta) if meta.permissions().readonly() => Err(OpenProblem::ReadOnly),
        _ => Ok(()),
    }
}

fn configure(conn: &Connection, busy_timeout: Duration) -> rusqlite::Result<()> {
    conn.busy_timeout(busy_timeout)?;
    conn.set_prepared_statement_cache_capacity(64);
    conn.pragma_update(None, "foreign_keys", true)?;
    conn.pragma_update(None, "synchronous", "NORMAL")
}

/// Checks an existing file's header over a read-only connection first: closing a
/// read-write connection to a WAL database can checkpoint its log into the file, so a
/// file we refuse would not be left byte for byte as it was.
fn check_existing(path: &Path) -> Result<(), OpenProblem> {
    if !path.exists() {
        return Ok(());
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(OpenProblem::Sqlite)?;
    schema::check(schema::read_header(&conn)?)
}

fn open_writer(path: &Path, options: Options) -> Result<Connection, OpenProblem> {
    check_existing(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(OpenProblem::Sqlite)?;
    conn.busy_timeout(options.busy_timeout).map_err(OpenProblem::Sqlite)?;
    // Reads only, so a file we refuse is left as it was.
    schema::check(schema::read_header(&conn)?)?;
    if conn.is_readonly(MAIN_DB).map_err(OpenProblem::Sqlite)? {
        return Err(OpenProblem::ReadOnly);
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(OpenProblem::Sqlite)?;
    configure(&conn, options.busy_timeout).map_err(OpenProblem::Sqlite)?;
    Ok(conn)
}

fn open_reader(path: &Path, options: Options) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    configure(&conn, options.busy_timeout)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

/// Runs `f` in a read transaction: one consistent snapshot for all its queries.
pub(crate) fn snapshot<T>(conn: &mut Connection, f: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
    let out = f(&tx)?;
    tx.finish()?;
    Ok(out)
}
