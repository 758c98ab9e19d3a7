//! The testkit's in-memory implementations as a [`Backend`].

use super::{Backend, Handles};
use crate::registry::MemorySessions;
use crate::service::MemoryTaskService;
use crate::stores::{MemoryPauseStore, MemoryStarvationStore};

/// One in-memory store: what every handle of it shares (each handle is a clone).
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    /// The task service (its claims consult `pause`).
    pub tasks: MemoryTaskService,
    /// The session registry.
    pub sessions: MemorySessions,
    /// The pause flag.
    pub pause: MemoryPauseStore,
    /// The starvation budgets.
    pub budgets: MemoryStarvationStore,
}

/// The testkit's own in-memory implementations as a [`Backend`]: every check runs on a
/// fresh [`MemoryStore`]. Handles are clones, usable from any thread at once (the
/// state's lock is the "database"), so they count as independent; memory does not
/// survive a restart, so the durability checks that reopen a store are skipped.
///
/// ```
/// use scheduler_testkit::conformance::{run_all, MemoryBackend, Skip};
/// let report = futures::executor::block_on(run_all(&MemoryBackend));
/// report.assert_ok();
/// assert!(report.skipped().iter().all(|(_, why)| *why == Skip::NoReopen));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBackend;

impl Backend for MemoryBackend {
    type Store = MemoryStore;
    type Tasks = MemoryTaskService;
    type Sessions = MemorySessions;
    type Pause = MemoryPauseStore;
    type Budgets = MemoryStarvationStore;

    async fn create(&self) -> MemoryStore {
        let pause = MemoryPauseStore::new();
        MemoryStore {
            tasks: MemoryTaskService::with_pause(pause.clone()),
            sessions: MemorySessions::new(),
            pause,
            budgets: MemoryStarvationStore::new(),
        }
    }

    async fn connect(&self, store: &MemoryStore) -> Handles<Self> {
        Handles {
            tasks: store.tasks.clone(),
            sessions: store.sessions.clone(),
            pause: store.pause.clone(),
            budgets: store.budgets.clone(),
        }
    }

    fn independent_handles(&self) -> bool {
        true
    }
}
