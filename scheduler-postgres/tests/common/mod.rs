//! Shared test support: a fresh schema per test, dropped afterwards (also on failure).
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime};

use scheduler_postgres::{Config, Store};

/// The server the tests use: `DATABASE_URL`, or the local one.
pub fn url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A schema of its own for one test; dropped (with everything in it) when the guard is
/// dropped, including while a failing test unwinds.
pub struct TestSchema {
    pub name: String,
}

impl TestSchema {
    pub fn new() -> Self {
        let token = scheduler_core::lease::ClaimToken::generate();
        TestSchema { name: format!("t_{}", &token.expose_secret()[3..19]) }
    }

    /// A configuration for this schema and `daemon`.
    pub fn config(&self, daemon: &str) -> Config {
        Config::new(&url()).unwrap().schema(&self.name).unwrap().daemon_id(daemon).unwrap().pool_size(8)
    }

    /// A store for this schema as `daemon`.
    pub async fn store(&self, daemon: &str) -> Store {
        Store::connect(self.config(daemon)).await.expect("connect to the test server (is PostgreSQL running?)")
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let name = self.name.clone();
        // A thread of its own: Drop may run inside a runtime, which cannot block.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await?;
                tokio::spawn(connection);
                // The test's own connections may sit in a transaction whose rollback
                // waits for the (now blocked) test runtime: end them first.
                let ours = format!("sp {name} %");
                client
                    .execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1",
                        &[&ours],
                    )
                    .await?;
                client.batch_execute(&format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE")).await
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop test schema: {e}");
        }
    }
}

/// A fixed base time with millisecond parts, so precision is exercised.
pub fn t(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_767_225_600_123 + ms)
}
