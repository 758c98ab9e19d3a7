//! [`Escalation`]: the convergence ladder's escalation actor over the store.
//!
//! - needs-attention marks the run in the store (`queued` to `needs_attention`, with the
//!   scheduler's diagnostic); a run that left `queued` meanwhile is the benign
//!   [`MarkOutcome::InvalidTransition`];
//! - a starved event is recorded in the store's event log (table `run_events`);
//! - a spawn request goes to the [`Spawner`] you give it (your agent launcher); without
//!   one every spawn is [`SpawnOutcome::Unresolvable`], so starved work climbs on to
//!   the event and needs-attention tiers.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rusqlite::params;
use scheduler_core::seam::{EscalationActor, MarkOutcome, SpawnOutcome};
use scheduler_core::view::RunView;

use crate::error::Error;
use crate::lease;
use crate::store::Inner;
use crate::value::{id, nanos, text};

/// What a spawn request asks for: a worker that can take this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpawnRequest {
    /// The starved run.
    pub run_id: String,
    /// Its task.
    pub task_id: String,
    /// The workspace the worker must be in (empty: a global worker).
    pub workspace_id: String,
    /// The channel it must listen on (empty: any).
    pub channel: String,
    /// The capabilities it must have.
    pub capabilities: Vec<String>,
    /// The cycle's time.
    pub now: SystemTime,
}

/// Your agent launcher: asked for a worker that covers a starved run.
pub type Spawner = Arc<dyn Fn(&SpawnRequest) -> SpawnOutcome + Send + Sync>;

/// The escalation actor over the store (get one with
/// [`Store::escalation`](crate::Store::escalation)).
#[derive(Clone)]
pub struct Escalation {
    inner: Arc<Inner>,
    spawner: Option<Spawner>,
}

impl fmt::Debug for Escalation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Escalation").field("path", &self.inner.path).field("spawner", &self.spawner.is_some()).finish()
    }
}

impl Escalation {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Escalation { inner, spawner: None }
    }

    /// Answers spawn requests with `spawner`.
    pub fn with_spawner(mut self, spawner: impl Fn(&SpawnRequest) -> SpawnOutcome + Send + Sync + 'static) -> Self {
        self.spawner = Some(Arc::new(spawner));
        self
    }
}

impl<R: RunView + Sync> EscalationActor<R> for Escalation {
    type Error = Error;

    async fn request_spawn(&self, run: &R, now: SystemTime) -> Result<SpawnOutcome, Error> {
        let Some(spawner) = &self.spawner else { return Ok(SpawnOutcome::Unresolvable) };
        let request = SpawnRequest {
            run_id: run.run_id().to_owned(),
            task_id: run.task_id().to_owned(),
            workspace_id: run.workspace_id().to_owned(),
            channel: run.channel().to_owned(),
            capabilities: run.required_capabilities().map(str::to_owned).collect(),
            now,
        };
        Ok(spawner(&request))
    }

    async fn emit_starved(&self, run: &R, age: Duration, now: SystemTime) -> Result<(), Error> {
        let run_id = id(run.run_id(), "run id")?.to_owned();
        let at = nanos(now, "starved-event time")?;
        let detail = format!("queued {} s without a claim", age.as_secs());
        self.inner
            .workers
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT INTO run_events (run_id, at, kind, actor, detail) VALUES (?1, ?2, 'starved', '', ?3)",
                )?
                .execute(params![run_id, at, detail])?;
                Ok(())
            })
            .await
    }

    async fn mark_needs_attention(&self, run: &R, diagnostic: &str, now: SystemTime) -> Result<MarkOutcome, Error> {
        let run_id = id(run.run_id(), "run id")?.to_owned();
        let diagnostic = text(diagnostic, "diagnostic")?.to_owned();
        let now = nanos(now, "needs-attention time")?;
        let marked =
            self.inner.workers.write(move |tx| lease::mark_needs_attention(tx, &run_id, &diagnostic, now)).await;
        match marked {
            Ok(()) => Ok(MarkOutcome::Marked),
            Err(Error::InvalidTransition { .. }) => Ok(MarkOutcome::InvalidTransition),
            Err(e) => Err(e),
        }
    }
}
