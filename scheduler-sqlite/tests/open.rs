//! Opening what is not a usable store: each is a clear error naming the path and the
//! problem, and the file is left byte for byte as it was.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{run, t, temp_db};
use scheduler_core::lease::{LeaseService, RunSpec, TaskSpec};
use scheduler_sqlite::{Error, OpenProblem, SCHEMA_VERSION, Store};

/// Opens `path`, expects a refusal, and checks that the message names the path and
/// contains `what`, and that the file's bytes did not change.
fn refused(path: &Path, what: &str) -> OpenProblem {
    let before = fs::read(path).ok();
    let err = Store::open(path).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains(what), "{msg}");
    assert_eq!(fs::read(path).ok(), before, "the file changed: {msg}");
    match err {
        Error::Open { path: p, problem } => {
            assert_eq!(p, path);
            problem
        }
        other => panic!("not an open error: {other}"),
    }
}

/// A store with one run, closed again.
fn a_store(path: &Path) {
    let store = Store::open(path).unwrap();
    run(store.tasks().enqueue(&TaskSpec::new("t"), &RunSpec::new("r"), t(0))).unwrap();
}

#[test]
fn a_file_that_is_not_a_database() {
    let (_dir, path) = temp_db();
    fs::write(&path, "name,queued_at\nrun-1,2026-01-01\n".repeat(200)).unwrap();
    assert!(matches!(refused(&path, "not a SQLite database"), OpenProblem::NotADatabase));
}

#[test]
fn a_database_of_a_newer_schema_version() {
    let (_dir, path) = temp_db();
    a_store(&path);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    // Settle the file before `refused` reads its bytes: the write above sits in the
    // WAL, which the closing of the first store's threads (or of this connection)
    // could move into the file at any moment.
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
    drop(conn);
    let problem = refused(&path, "newer");
    assert!(
        matches!(problem, OpenProblem::NewerSchema { found, supported } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION)
    );
}

#[test]
fn a_database_of_another_application() {
    let (_dir, path) = temp_db();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5);",
    )
    .unwrap();
    drop(conn);
    assert!(matches!(refused(&path, "another application"), OpenProblem::Foreign(_)));
}

#[test]
fn a_read_only_file() {
    let (_dir, path) = temp_db();
    a_store(&path);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o444)).unwrap();
    assert!(matches!(refused(&path, "read-only"), OpenProblem::ReadOnly));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&path).unwrap();
    assert!(run(store.tasks().record("r")).unwrap().is_some(), "nothing was lost");
}

#[test]
fn a_missing_directory() {
    let (dir, _) = temp_db();
    let path = dir.path().join("no").join("such").join("scheduler.db");
    let problem = refused(&path, "does not exist");
    assert!(matches!(problem, OpenProblem::MissingDirectory(d) if d == dir.path().join("no").join("such")));
    assert!(!dir.path().join("no").exists(), "no directory was created");
}

#[test]
fn a_directory() {
    let (dir, _) = temp_db();
    let err = Store::open(dir.path()).unwrap_err();
    assert!(err.to_string().contains("is a directory"), "{err}");
}

#[test]
fn a_fresh_file_is_created_and_reopened() {
    let (_dir, path) = temp_db();
    a_store(&path);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert!(run(store.tasks().record("r")).unwrap().is_some());
}
