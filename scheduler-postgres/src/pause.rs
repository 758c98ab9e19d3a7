//! [`Pause`]: the scheduler-wide pause flag over PostgreSQL.

use std::time::SystemTime;

use scheduler_core::lease::{PauseControl, PauseState};
use scheduler_core::seam::PauseStore;

use crate::error::Error;
use crate::store::Store;
use crate::text;

/// The scheduler-wide pause: a row present means paused. Claims through
/// [`Tasks`](crate::Tasks) read it in the claim statement itself, so a pause is seen by
/// every daemon's next claim. A cheap, cloneable handle.
#[derive(Debug, Clone)]
pub struct Pause {
    store: Store,
}

impl Pause {
    pub(crate) fn new(store: Store) -> Self {
        Pause { store }
    }
}

impl PauseStore for Pause {
    type Error = Error;

    async fn is_paused(&self) -> Result<bool, Error> {
        const STEP: &str = "reading the pause flag";
        let client = self.store.client(STEP).await?;
        let row = client.query_one("SELECT EXISTS (SELECT 1 FROM pause)", &[]).await.map_err(Error::db(STEP))?;
        Ok(row.get(0))
    }
}

impl PauseControl for Pause {
    async fn pause(&self, paused_by: &str, paused_at: SystemTime, reason: &str) -> Result<(), Error> {
        const STEP: &str = "pausing the scheduler";
        let by = text::free("paused_by", paused_by)?;
        let reason = text::free("reason", reason)?;
        let at = text::time("paused_at", paused_at)?;
        let client = self.store.client(STEP).await?;
        let sql = "INSERT INTO pause (id, paused_by, paused_at, reason) VALUES (1, $1, $2, $3)
                   ON CONFLICT (id) DO UPDATE SET paused_by = $1, paused_at = $2, reason = $3";
        client.execute(sql, &[&by, &at, &reason]).await.map_err(Error::db(STEP)).map(drop)
    }

    async fn resume(&self) -> Result<(), Error> {
        const STEP: &str = "resuming the scheduler";
        let client = self.store.client(STEP).await?;
        client.execute("DELETE FROM pause", &[]).await.map_err(Error::db(STEP)).map(drop)
    }

    async fn pause_state(&self) -> Result<Option<PauseState>, Error> {
        const STEP: &str = "reading the pause state";
        let client = self.store.client(STEP).await?;
        let row = client
            .query_opt("SELECT paused_by, paused_at, reason FROM pause WHERE id = 1", &[])
            .await
            .map_err(Error::db(STEP))?;
        Ok(row.map(|r| PauseState { paused_by: r.get(0), paused_at: r.get(1), reason: r.get(2) }))
    }
}
