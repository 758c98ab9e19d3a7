//! Runs scheduler-testkit's conformance suite on this crate's store.

use recipe_backend::ToyStore;
use scheduler_testkit::conformance::{self, Backend, Handles};

/// Hands the suite fresh stores, and handles on them.
struct ToyBackend;

impl Backend for ToyBackend {
    type Store = ToyStore;
    type Tasks = ToyStore;
    type Sessions = ToyStore;
    type Pause = ToyStore;
    type Budgets = ToyStore;

    async fn create(&self) -> ToyStore {
        ToyStore::open() // a database: a fresh schema or a file in a temporary directory
    }

    async fn connect(&self, store: &ToyStore) -> Handles<Self> {
        let handle = store.reopen(); // a database: a new connection (pool) to `store`
        Handles { tasks: handle.clone(), sessions: handle.clone(), pause: handle.clone(), budgets: handle }
    }

    fn independent_handles(&self) -> bool {
        true // every connection is its own: the concurrency checks race across them
    }

    async fn reopen(&self, store: &ToyStore) -> Option<Handles<Self>> {
        Some(self.connect(store).await) // a database: open the same file or schema again
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn toy_store_conforms() {
    let report = conformance::run_all(&ToyBackend).await;
    report.assert_all_passed(); // every check ran (nothing skipped) and passed
}
