//! [`Pause`]: the scheduler-wide pause flag, both sides. Claims read the same row in
//! their own transaction, so a pause refuses every claim that starts after it commits.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};
use scheduler_core::lease::{PauseControl, PauseState};
use scheduler_core::seam::PauseStore;

use crate::error::Error;
use crate::store::{Inner, snapshot};
use crate::value::{nanos, text, time};

/// The pause flag over the store (a cheap, cloneable handle; get one with
/// [`Store::pause`](crate::Store::pause)).
#[derive(Clone)]
pub struct Pause {
    inner: Arc<Inner>,
}

impl fmt::Debug for Pause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pause").field("path", &self.inner.path).finish()
    }
}

impl Pause {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Pause { inner }
    }
}

impl PauseStore for Pause {
    type Error = Error;

    async fn is_paused(&self) -> Result<bool, Error> {
        self.inner.workers.read(|c| snapshot(c, crate::claim::paused)).await
    }
}

impl PauseControl for Pause {
    async fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> Result<(), Error> {
        let by = text(paused_by, "paused by")?.to_owned();
        let reason = text(reason, "pause reason")?.to_owned();
        let at = nanos(paused_at, "paused-at time")?;
        self.inner
            .workers
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO pause (id, paused_by, paused_at, reason) VALUES (1, ?1, ?2, ?3)",
                )?
                .execute(params![by, at, reason])?;
                Ok(())
            })
            .await
    }

    async fn resume(&self) -> Result<(), Error> {
        self.inner
            .workers
            .write(|tx| {
                tx.prepare_cached("DELETE FROM pause")?.execute([])?;
                Ok(())
            })
            .await
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, Error> {
        self.inner
            .workers
            .read(|c| {
                snapshot(c, |tx| {
                    let state = tx
                        .prepare_cached("SELECT paused_by, paused_at, reason FROM pause WHERE id = 1")?
                        .query_row([], |r| {
                            Ok(PauseState { paused_by: r.get(0)?, paused_at: time(r.get(1)?), reason: r.get(2)? })
                        })
                        .optional()?;
                    Ok(state)
                })
            })
            .await
    }
}
