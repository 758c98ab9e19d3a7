//! [`Sessions`]: the session registry over PostgreSQL, rows tagged with their daemon.

use std::time::SystemTime;

use scheduler_core::lease::{SessionRegistry, SessionSpec};
use scheduler_core::model::SessionState;
use scheduler_core::seam::SessionSource;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::error::Error;
use crate::rows::{PgSession, SESSION_COLUMNS};
use crate::store::Store;
use crate::text;

/// The session registry: the scheduler's [`SessionSource`] and the daemons'
/// [`SessionRegistry`]. Every session registered through this handle is hosted by the
/// store's daemon ([`Config::daemon_id`](crate::Config::daemon_id)): wakes for it are
/// sent to that daemon. A cheap, cloneable handle.
#[derive(Debug, Clone)]
pub struct Sessions {
    store: Store,
}

impl Sessions {
    pub(crate) fn new(store: Store) -> Self {
        Sessions { store }
    }

    async fn query(&self, step: &'static str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let client = self.store.client(step).await?;
        let statement = client.prepare_cached(sql).await.map_err(Error::db(step))?;
        client.query(&statement, params).await.map_err(Error::db(step))
    }

    /// Runs an update of one session; `UnknownSession` when no row changed.
    async fn update(
        &self,
        step: &'static str,
        session_id: &str,
        sql: &str,
        extra: &[&(dyn ToSql + Sync)],
        now: SystemTime,
    ) -> Result<(), Error> {
        let unknown = || Error::UnknownSession { session_id: session_id.trim().to_owned() };
        let id = text::lookup(session_id).ok_or_else(unknown)?;
        let now = text::time("now", now)?;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &now];
        params.extend_from_slice(extra);
        let rows = self.query(step, sql, &params).await?;
        if rows.is_empty() { Err(unknown()) } else { Ok(()) }
    }

    /// The sessions hosted by `daemon_id`.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn hosted_by(&self, daemon_id: &str) -> Result<Vec<PgSession>, Error> {
        let sql =
            format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE daemon_id = $1 ORDER BY created_at, session_id");
        let rows = self.query("reading a daemon's sessions", &sql, &[&daemon_id.trim()]).await?;
        Ok(rows.iter().map(PgSession::from_row).collect())
    }
}

const REGISTER_SQL: &str = "\
INSERT INTO sessions (session_id, daemon_id, agent_name, workspace_id, channel, session_type, state,
    prompting, capabilities, created_at, seen_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (session_id) DO NOTHING RETURNING 1";

impl SessionSource for Sessions {
    type Session = PgSession;
    type Error = Error;

    async fn sessions(&self, out: &mut Vec<PgSession>) -> Result<(), Error> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions");
        let rows = self.query("reading sessions", &sql, &[]).await?;
        out.extend(rows.iter().map(PgSession::from_row));
        Ok(())
    }
}

impl SessionRegistry for Sessions {
    async fn register(&self, session: &SessionSpec, now: SystemTime) -> Result<(), Error> {
        let id = text::id("session_id", &session.session_id)?;
        let agent = text::optional_id("agent_name", &session.agent_name)?;
        let workspace = text::optional_id("workspace_id", &session.workspace_id)?;
        let channel = text::optional_id("channel", &session.channel)?;
        let kind = text::free("session_type", &session.session_type)?;
        let caps = text::caps("capabilities", session.capabilities.iter().map(String::as_str))?;
        let created = text::time("created_at", session.created_at)?;
        let now = text::time("now", now)?;
        let daemon = self.store.daemon_id();
        let params: [&(dyn ToSql + Sync); 11] = [
            &id,
            &daemon,
            &agent,
            &workspace,
            &channel,
            &kind,
            &session.state.as_str(),
            &session.prompting,
            &caps,
            &created,
            &now,
        ];
        let rows = self.query("registering a session", REGISTER_SQL, &params).await?;
        if rows.is_empty() {
            return Err(Error::DuplicateSession { session_id: id.to_owned() });
        }
        Ok(())
    }

    async fn set_state(&self, session_id: &str, state: SessionState, now: SystemTime) -> Result<(), Error> {
        let sql = "UPDATE sessions SET state = $3, seen_at = $2 WHERE session_id = $1 RETURNING 1";
        self.update("setting a session's state", session_id, sql, &[&state.as_str()], now).await
    }

    async fn set_prompting(&self, session_id: &str, prompting: bool, now: SystemTime) -> Result<(), Error> {
        let sql = "UPDATE sessions SET prompting = $3, seen_at = $2 WHERE session_id = $1 RETURNING 1";
        self.update("setting a session's prompting flag", session_id, sql, &[&prompting], now).await
    }

    async fn set_capabilities(&self, session_id: &str, capabilities: &[String], now: SystemTime) -> Result<(), Error> {
        let caps = text::caps("capabilities", capabilities.iter().map(String::as_str))?;
        let sql = "UPDATE sessions SET capabilities = $3, seen_at = $2 WHERE session_id = $1 RETURNING 1";
        self.update("setting a session's capabilities", session_id, sql, &[&caps], now).await
    }

    async fn touch(&self, session_id: &str, now: SystemTime) -> Result<(), Error> {
        let sql = "UPDATE sessions SET seen_at = $2 WHERE session_id = $1 RETURNING 1";
        self.update("touching a session", session_id, sql, &[], now).await
    }

    async fn remove(&self, session_id: &str) -> Result<(), Error> {
        let unknown = || Error::UnknownSession { session_id: session_id.trim().to_owned() };
        let id = text::lookup(session_id).ok_or_else(unknown)?;
        let rows =
            self.query("removing a session", "DELETE FROM sessions WHERE session_id = $1 RETURNING 1", &[&id]).await?;
        if rows.is_empty() { Err(unknown()) } else { Ok(()) }
    }

    async fn mark_stale(&self, not_seen_since: SystemTime, _now: SystemTime) -> Result<u64, Error> {
        let since = text::time("not_seen_since", not_seen_since)?;
        let client = self.store.client("marking stale sessions").await?;
        let sql = "UPDATE sessions SET state = 'stopped' WHERE seen_at < $1 AND state <> 'stopped'";
        client.execute(sql, &[&since]).await.map_err(Error::db("marking stale sessions"))
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSpec>, Error> {
        let Some(id) = text::lookup(session_id) else { return Ok(None) };
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = $1");
        let rows = self.query("reading a session", &sql, &[&id]).await?;
        Ok(rows.first().map(|r| PgSession::from_row(r).spec))
    }
}
