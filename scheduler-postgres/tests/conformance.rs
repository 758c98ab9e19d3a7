//! scheduler-testkit's conformance suite (v2) against the real server: every check on a
//! fresh schema, handles on independent pools, and across a reopen.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::TestSchema;
use scheduler_postgres::{Budgets, Pause, Sessions, Store, Tasks};
use scheduler_testkit::conformance::{self, Backend, Handles};

/// Fresh schemas on the test server.
struct Postgres {
    connections: AtomicUsize,
}

impl Postgres {
    async fn handles(&self, schema: &TestSchema) -> Handles<Self> {
        // Every connect is another daemon: its own pool, its own daemon id.
        let n = self.connections.fetch_add(1, Ordering::Relaxed);
        let config = schema.config(&format!("daemon-{n}")).pool_size(4);
        let store = Store::connect(config).await.expect("connect to the test server (is PostgreSQL running?)");
        Handles { tasks: store.tasks(), sessions: store.sessions(), pause: store.pause(), budgets: store.budgets() }
    }
}

impl Backend for Postgres {
    type Store = TestSchema;
    type Tasks = Tasks;
    type Sessions = Sessions;
    type Pause = Pause;
    type Budgets = Budgets;

    async fn create(&self) -> TestSchema {
        TestSchema::new()
    }

    async fn connect(&self, schema: &TestSchema) -> Handles<Self> {
        self.handles(schema).await
    }

    fn independent_handles(&self) -> bool {
        true // each connect opens its own pool: the concurrency checks race across them
    }

    async fn reopen(&self, schema: &TestSchema) -> Option<Handles<Self>> {
        Some(self.handles(schema).await) // a restarted daemon: a new pool on the same schema
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_conforms() {
    let report = conformance::run_all(&Postgres { connections: AtomicUsize::new(0) }).await;
    report.assert_all_passed();
}
