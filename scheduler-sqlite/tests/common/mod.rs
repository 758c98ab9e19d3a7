//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use scheduler_sqlite::{Options, Store};

/// `T0 + secs`.
pub fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600 + secs)
}

pub const LEASE: Duration = Duration::from_secs(60);

/// Runs `f` to completion on no runtime at all.
pub fn run<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

/// A temporary directory and a database path in it.
pub fn temp_db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("scheduler.db");
    (dir, path)
}

/// Every way of opening a store the tests run on: an in-memory database, a file with
/// one connection, a file with a reader pool.
pub fn stores() -> Vec<(&'static str, Store, Option<tempfile::TempDir>)> {
    let (one_dir, one) = temp_db();
    let (pool_dir, pool) = temp_db();
    vec![
        ("memory", Store::open_in_memory().unwrap(), None),
        ("file, one connection", Store::open_with(&one, Options::default().readers(0)).unwrap(), Some(one_dir)),
        ("file, reader pool", Store::open(&pool).unwrap(), Some(pool_dir)),
    ]
}
