//! The conformance suite (v2, `scheduler_testkit::conformance`) on every way of using the
//! store: an in-memory database, a file with one connection, and a file with
//! independent handles (each `connect` opens its own `Store`: its own writer and reader
//! connections, as another daemon would), where the concurrency checks race claims,
//! sweeps and heartbeats across them. Both file backends reopen the file for the
//! durability checks. The suite runs on a multi-threaded and a current-thread tokio
//! runtime and on no runtime at all.

use std::path::PathBuf;
use std::sync::Mutex;

use scheduler_sqlite::{Budgets, Options, Pause, Sessions, Store, Tasks};
use scheduler_testkit::conformance::{self, Backend, ConformanceReport, Handles, Needs, Skip, catalogue};

fn handles<B: Backend<Tasks = Tasks, Sessions = Sessions, Pause = Pause, Budgets = Budgets>>(
    store: &Store,
) -> Handles<B> {
    Handles { tasks: store.tasks(), sessions: store.sessions(), pause: store.pause(), budgets: store.budgets() }
}

/// `Store::open_in_memory`: one connection that every handle shares; nothing survives.
struct InMemory;

impl Backend for InMemory {
    type Store = Store;
    type Tasks = Tasks;
    type Sessions = Sessions;
    type Pause = Pause;
    type Budgets = Budgets;

    async fn create(&self) -> Store {
        Store::open_in_memory().expect("an in-memory store")
    }

    async fn connect(&self, store: &Store) -> Handles<Self> {
        handles(store)
    }
}

/// A database file in a temporary directory, and the store currently open on it.
struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
    shared: Mutex<Option<Store>>,
}

impl File {
    fn new() -> File {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("conformance.db");
        File { _dir: dir, path, shared: Mutex::new(None) }
    }
}

/// A file opened once with one connection (`readers(0)`): every handle shares it.
struct OneConnection;

fn open_one(path: &PathBuf) -> Store {
    Store::open_with(path, Options::default().readers(0)).expect("open the file")
}

impl Backend for OneConnection {
    type Store = File;
    type Tasks = Tasks;
    type Sessions = Sessions;
    type Pause = Pause;
    type Budgets = Budgets;

    async fn create(&self) -> File {
        File::new()
    }

    async fn connect(&self, file: &File) -> Handles<Self> {
        let mut shared = file.shared.lock().unwrap();
        handles(shared.get_or_insert_with(|| open_one(&file.path)))
    }

    async fn reopen(&self, file: &File) -> Option<Handles<Self>> {
        let mut shared = file.shared.lock().unwrap();
        drop(shared.take()); // the restart: the old store's connections close
        Some(handles(shared.insert(open_one(&file.path))))
    }
}

/// A file on which every `connect` opens a `Store` of its own.
struct Independent;

impl Backend for Independent {
    type Store = File;
    type Tasks = Tasks;
    type Sessions = Sessions;
    type Pause = Pause;
    type Budgets = Budgets;

    async fn create(&self) -> File {
        File::new()
    }

    async fn connect(&self, file: &File) -> Handles<Self> {
        handles(&Store::open(&file.path).expect("open the file"))
    }

    fn independent_handles(&self) -> bool {
        true
    }

    async fn reopen(&self, file: &File) -> Option<Handles<Self>> {
        Some(handles(&Store::open(&file.path).expect("reopen the file")))
    }
}

/// Passes every check it can run, and skips exactly those that need what it lacks.
fn expect(report: &ConformanceReport, independent: bool, reopen: bool) {
    report.assert_ok();
    let skipped: Vec<(&str, Skip)> = catalogue()
        .iter()
        .filter_map(|c| match c.needs {
            Needs::Independent if !independent => Some((c.check, Skip::NoIndependentHandles)),
            Needs::Reopen if !reopen => Some((c.check, Skip::NoReopen)),
            _ => None,
        })
        .collect();
    assert_eq!(report.skipped(), skipped);
    assert_eq!(report.passed().len() + skipped.len(), catalogue().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn independent_handles_on_a_file_pass_everything_on_a_multi_threaded_runtime() {
    expect(&conformance::run_all(&Independent).await, true, true);
}

#[tokio::test]
async fn independent_handles_on_a_file_pass_everything_on_a_current_thread_runtime() {
    expect(&conformance::run_all(&Independent).await, true, true);
}

#[test]
fn independent_handles_on_a_file_pass_everything_without_a_runtime() {
    expect(&futures::executor::block_on(conformance::run_all(&Independent)), true, true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_with_one_connection_passes_across_a_reopen() {
    expect(&conformance::run_all(&OneConnection).await, false, true);
}

#[test]
fn an_in_memory_database_passes_what_memory_can() {
    expect(&futures::executor::block_on(conformance::run_all(&InMemory)), false, false);
}
