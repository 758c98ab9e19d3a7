//! [`Sessions`]: the session registry, both sides.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use rusqlite::{Connection, Row, params};
use scheduler_core::lease::{SessionRegistry, SessionSpec};
use scheduler_core::model::SessionState;
use scheduler_core::seam::SessionSource;

use crate::cache::{fetch, revision_of, settle};
use crate::error::Error;
use crate::store::{Inner, snapshot};
use crate::value::{caps, id, json_array, name, nanos, parse_array, text, time};

/// The session registry over the store (a cheap, cloneable handle; get one with
/// [`Store::sessions`](crate::Store::sessions)).
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Inner>,
}

impl fmt::Debug for Sessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sessions").field("path", &self.inner.path).finish()
    }
}

const COLUMNS: &str = "session_id, agent_name, workspace_id, channel, session_type, state, prompting, caps, created_at";

fn session_of(row: &Row<'_>) -> Result<SessionSpec, Error> {
    let caps: String = row.get(7)?;
    Ok(SessionSpec {
        session_id: row.get(0)?,
        agent_name: row.get(1)?,
        workspace_id: row.get(2)?,
        channel: row.get(3)?,
        session_type: row.get(4)?,
        state: SessionState::from_text(crate::rows::str_at(row, 5)?),
        prompting: row.get(6)?,
        capabilities: parse_array(&caps, "sessions")?,
        created_at: time(row.get(8)?),
    })
}

fn all(tx: &Connection) -> Result<Vec<Arc<SessionSpec>>, Error> {
    let mut stmt = tx.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions ORDER BY rowid"))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(Arc::new(session_of(row)?));
    }
    Ok(out)
}

/// A session as stored: validated, ids trimmed.
struct SessionRow {
    spec: SessionSpec,
    caps_json: String,
    created_at: i64,
}

impl SessionRow {
    fn of(s: &SessionSpec) -> Result<SessionRow, Error> {
        let offered = caps(s.capabilities.iter().map(String::as_str), "session capability")?;
        Ok(SessionRow {
            caps_json: json_array(&offered),
            created_at: nanos(s.created_at, "session created-at")?,
            spec: SessionSpec {
                session_id: id(&s.session_id, "session id")?.to_owned(),
                agent_name: name(&s.agent_name, "agent name")?.to_owned(),
                workspace_id: name(&s.workspace_id, "workspace id")?.to_owned(),
                channel: name(&s.channel, "channel")?.to_owned(),
                session_type: text(&s.session_type, "session type")?.to_owned(),
                state: s.state,
                prompting: s.prompting,
                capabilities: offered,
                created_at: s.created_at,
            },
        })
    }
}

impl Sessions {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Sessions { inner }
    }

    async fn write<T, F>(&self, job: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, Error> + Send + 'static,
    {
        self.inner.workers.write(job).await
    }

    /// Runs `UPDATE sessions SET <assignments> WHERE session_id = ?1` with `?2` the
    /// seen-at time and `value` as `?3`.
    async fn update<V>(
        &self,
        session_id: &str,
        assignments: &'static str,
        value: V,
        now: SystemTime,
    ) -> Result<(), Error>
    where
        V: rusqlite::ToSql + Send + 'static,
    {
        let session_id = id(session_id, "session id")?.to_owned();
        let now = nanos(now, "seen-at time")?;
        self.write(move |tx| {
            let sql = format!("UPDATE sessions SET seen_at = ?2, {assignments} WHERE session_id = ?1");
            match tx.prepare_cached(&sql)?.execute(params![session_id, now, value])? {
                0 => Err(Error::UnknownSession { session_id }),
                _ => Ok(()),
            }
        })
        .await
    }
}

impl SessionSource for Sessions {
    type Session = Arc<SessionSpec>;
    type Error = Error;

    async fn sessions(&self, out: &mut Vec<Arc<SessionSpec>>) -> Result<(), Error> {
        let known = revision_of(&self.inner.cache().sessions);
        let fetched = self.inner.workers.read(move |c| snapshot(c, |tx| fetch(tx, "sessions", known, all))).await?;
        let rows = settle(&mut self.inner.cache().sessions, fetched);
        let rows = match rows {
            Some(rows) => rows,
            None => {
                let fetched = self.inner.workers.read(|c| snapshot(c, |tx| fetch(tx, "sessions", None, all))).await?;
                settle(&mut self.inner.cache().sessions, fetched).unwrap_or_else(|| Arc::from(Vec::new()))
            }
        };
        out.extend(rows.iter().cloned());
        Ok(())
    }
}

impl SessionRegistry for Sessions {
    async fn register(&self, session: &SessionSpec, now: SystemTime) -> Result<(), Error> {
        let row = SessionRow::of(session)?;
        let now = nanos(now, "seen-at time")?;
        self.write(move |tx| {
            let s = &row.spec;
            if tx.prepare_cached("SELECT 1 FROM sessions WHERE session_id = ?1")?.exists([&s.session_id])? {
                return Err(Error::DuplicateSession { session_id: s.session_id.clone() });
            }
            tx.prepare_cached(
                "INSERT INTO sessions (session_id, agent_name, workspace_id, channel, session_type, state, prompting, \
                 caps, created_at, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                s.session_id,
                s.agent_name,
                s.workspace_id,
                s.channel,
                s.session_type,
                s.state.as_str(),
                s.prompting,
                row.caps_json,
                row.created_at,
                now
            ])?;
            Ok(())
        })
        .await
    }

    async fn set_state(&self, session_id: &str, state: SessionState, now: SystemTime) -> Result<(), Error> {
        self.update(session_id, "state = ?3", state.as_str(), now).await
    }

    async fn set_prompting(&self, session_id: &str, prompting: bool, now: SystemTime) -> Result<(), Error> {
        self.update(session_id, "prompting = ?3", prompting, now).await
    }

    async fn set_capabilities(&self, session_id: &str, capabilities: &[String], now: SystemTime) -> Result<(), Error> {
        let offered = caps(capabilities.iter().map(String::as_str), "session capability")?;
        self.update(session_id, "caps = ?3", json_array(&offered), now).await
    }

    async fn touch(&self, session_id: &str, now: SystemTime) -> Result<(), Error> {
        self.update(session_id, "seen_at = ?3", nanos(now, "seen-at time")?, now).await
    }

    async fn remove(&self, session_id: &str) -> Result<(), Error> {
        let session_id = id(session_id, "session id")?.to_owned();
        self.write(move |tx| {
            match tx.prepare_cached("DELETE FROM sessions WHERE session_id = ?1")?.execute([&session_id])? {
                0 => Err(Error::UnknownSession { session_id }),
                _ => Ok(()),
            }
        })
        .await
    }

    async fn mark_stale(&self, not_seen_since: SystemTime, _now: SystemTime) -> Result<u64, Error> {
        let since = nanos(not_seen_since, "not-seen-since time")?;
        self.write(move |tx| {
            let changed = tx
                .prepare_cached("UPDATE sessions SET state = 'stopped' WHERE seen_at < ?1 AND state <> 'stopped'")?
                .execute([since])?;
            Ok(changed as u64)
        })
        .await
    }

    async fn session(&self, session_id: &str) -> Result<Option<SessionSpec>, Error> {
        let session_id = session_id.trim().to_owned();
        if session_id.is_empty() || session_id.contains('\0') {
            return Ok(None);
        }
        self.inner
            .workers
            .read(move |c| {
                snapshot(c, |tx| {
                    let mut stmt =
                        tx.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE session_id = ?1"))?;
                    let mut rows = stmt.query([&session_id])?;
                    rows.next()?.map(session_of).transpose()
                })
            })
            .await
    }
}
