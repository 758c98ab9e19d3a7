//! Enqueueing runs and describing tasks; reading runs back.

use rusqlite::{Connection, OptionalExtension, params};
use scheduler_core::lease::{RunRecord, RunSpec, TaskSpec};
use scheduler_core::model::RunStatus;

use crate::error::Error;
use crate::rows::{PENDING_COLUMNS, PendingRun};
use crate::value::{caps, id, json_array, name, time};

/// A task as stored: validated and normalised (ids trimmed, priority ranked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TaskRow {
    pub(crate) task_id: String,
    pub(crate) status: &'static str,
    pub(crate) claimable: bool,
    pub(crate) paused: bool,
    pub(crate) priority: &'static str,
    pub(crate) rank: u8,
    pub(crate) scope: &'static str,
    pub(crate) workspace_id: String,
    pub(crate) owner_kind: &'static str,
    pub(crate) owner_ref: String,
}

impl TaskRow {
    /// Whether the task's runs may be claimed at all (the task half of
    /// `is_potentially_claimable`).
    pub(crate) fn ready(&self) -> bool {
        self.claimable && !self.paused
    }

    /// The scope a session must be in: `''` for global, the workspace for a workspace
    /// task; `None` (no session) for an unknown scope or a workspace task without one.
    pub(crate) fn scope_key(&self) -> Option<&str> {
        match self.scope {
            "global" => Some(""),
            "workspace" if !self.workspace_id.is_empty() => Some(&self.workspace_id),
            _ => None,
        }
    }

    pub(crate) fn of(task: &TaskSpec) -> Result<TaskRow, Error> {
        Ok(TaskRow {
            task_id: id(&task.task_id, "task id")?.to_owned(),
            status: task.status.as_str(),
            claimable: task.status.allows_claim(),
            paused: task.paused,
            priority: task.priority.as_str(),
            rank: task.priority.rank(),
            scope: task.scope.as_str(),
            workspace_id: name(&task.workspace_id, "workspace id")?.to_owned(),
            owner_kind: task.owner.kind(),
            owner_ref: name(task.owner.reference(), "owner ref")?.to_owned(),
        })
    }
}

/// A run as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunRow {
    pub(crate) run_id: String,
    pub(crate) channel: String,
    pub(crate) caps: Vec<String>,
}

impl RunRow {
    pub(crate) fn of(run: &RunSpec) -> Result<RunRow, Error> {
        Ok(RunRow {
            run_id: id(&run.run_id, "run id")?.to_owned(),
            channel: name(&run.channel, "channel")?.to_owned(),
            caps: caps(run.required_capabilities.iter().map(String::as_str), "required capability")?,
        })
    }
}

/// Whether the stored task differs from `task` (`None`: no such task).
fn stored_task_differs(tx: &Connection, task: &TaskRow) -> Result<Option<bool>, Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT status, paused, priority, scope, workspace_id, owner_kind, owner_ref FROM tasks WHERE task_id = ?1",
    )?;
    let differs = stmt
        .query_row([&task.task_id], |r| {
            Ok(r.get_ref(0)?.as_str()? != task.status
                || r.get::<_, bool>(1)? != task.paused
                || r.get_ref(2)?.as_str()? != task.priority
                || r.get_ref(3)?.as_str()? != task.scope
                || r.get_ref(4)?.as_str()? != task.workspace_id
                || r.get_ref(5)?.as_str()? != task.owner_kind
                || r.get_ref(6)?.as_str()? != task.owner_ref)
        })
        .optional()?;
    Ok(differs)
}

fn write_task(tx: &Connection, task: &TaskRow, insert: bool) -> Result<(), Error> {
    let sql = if insert {
        "INSERT INTO tasks (status, claimable, paused, priority, scope, workspace_id, owner_kind, owner_ref, task_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    } else {
        "UPDATE tasks SET status = ?1, claimable = ?2, paused = ?3, priority = ?4, scope = ?5, workspace_id = ?6, \
         owner_kind = ?7, owner_ref = ?8 WHERE task_id = ?9"
    };
    tx.prepare_cached(sql)?.execute(params![
        task.status,
        task.claimable,
        task.paused,
        task.priority,
        task.scope,
        task.workspace_id,
        task.owner_kind,
        task.owner_ref,
        task.task_id
    ])?;
    if !insert {
        tx.prepare_cached(
            "UPDATE runs SET rank = ?2, ready = ?3, scope_key = ?4, owner_kind = ?5, owner_ref = ?6 WHERE task_id = ?1",
        )?
        .execute(params![
            task.task_id,
            task.rank,
            task.ready(),
            task.scope_key(),
            task.owner_kind,
            task.owner_ref
        ])?;
    }
    Ok(())
}

/// Enqueues `run` of `task`, queued at `now` (nanoseconds).
pub(crate) fn enqueue(tx: &Connection, task: &TaskRow, run: &RunRow, now: i64) -> Result<(), Error> {
    let exists = tx.prepare_cached("SELECT 1 FROM runs WHERE run_id = ?1")?.exists([&run.run_id])?;
    if exists {
        return Err(Error::DuplicateRun { run_id: run.run_id.clone() });
    }
    match stored_task_differs(tx, task)? {
        None => write_task(tx, task, true)?,
        Some(true) => write_task(tx, task, false)?,
        Some(false) => {}
    }
    tx.prepare_cached(
        "INSERT INTO runs (run_id, task_id, status, rank, ready, scope_key, owner_kind, owner_ref, channel, caps, ncaps, \
         queued_at, updated_at) VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
    )?
    .execute(params![
        run.run_id,
        task.task_id,
        task.rank,
        task.ready(),
        task.scope_key(),
        task.owner_kind,
        task.owner_ref,
        run.channel,
        json_array(&run.caps),
        run.caps.len(),
        now
    ])?;
    let mut insert_cap = tx.prepare_cached("INSERT INTO run_caps (run_id, cap) VALUES (?1, ?2)")?;
    for cap in &run.caps {
        insert_cap.execute(params![run.run_id, cap])?;
    }
    Ok(())
}

/// Re-describes an existing task.
pub(crate) fn update_task(tx: &Connection, task: &TaskRow) -> Result<(), Error> {
    match stored_task_differs(tx, task)? {
        None => Err(Error::UnknownTask { task_id: task.task_id.clone() }),
        Some(true) => write_task(tx, task, false),
        Some(false) => Ok(()),
    }
}

/// One run joined with its task, whatever its status.
pub(crate) fn joined(tx: &Connection, run_id: &str) -> Result<Option<PendingRun>, Error> {
    let sql = format!("SELECT {PENDING_COLUMNS} FROM runs r JOIN tasks t ON t.task_id = r.task_id WHERE r.run_id = ?1");
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query([run_id])?;
    rows.next()?.map(PendingRun::from_row).transpose()
}

/// The run's status, or `None`.
pub(crate) fn status(tx: &Connection, run_id: &str) -> Result<Option<RunStatus>, Error> {
    let mut stmt = tx.prepare_cached("SELECT status FROM runs WHERE run_id = ?1")?;
    Ok(stmt.query_row([run_id], |r| Ok(RunStatus::from_text(r.get_ref(0)?.as_str()?))).optional()?)
}

/// Many statuses in one query: one answer per id, in order (ids trimmed; an id the
/// store could not hold has no run).
pub(crate) fn statuses(tx: &Connection, run_ids: &[String]) -> Result<Vec<Option<RunStatus>>, Error> {
    let wanted: Vec<&str> = run_ids.iter().map(|r| r.trim()).filter(|r| !r.contains('\0')).collect();
    let mut stmt =
        tx.prepare_cached("SELECT r.run_id, r.status FROM runs r WHERE r.run_id IN (SELECT value FROM json_each(?1))")?;
    let found: std::collections::HashMap<String, RunStatus> = stmt
        .query_map([json_array(&wanted)], |r| Ok((r.get(0)?, RunStatus::from_text(r.get_ref(1)?.as_str()?))))?
        .collect::<Result<_, _>>()?;
    Ok(run_ids.iter().map(|r| found.get(r.trim()).copied()).collect())
}

/// The run's record.
pub(crate) fn record(tx: &Connection, run_id: &str) -> Result<Option<RunRecord>, Error> {
    let mut stmt =
        tx.prepare_cached("SELECT status, session_id, lease_until, queued_at FROM runs WHERE run_id = ?1")?;
    let record = stmt
        .query_row([run_id], |r| {
            Ok(RunRecord {
                status: RunStatus::from_text(r.get_ref(0)?.as_str()?),
                session_id: r.get(1)?,
                lease_until: r.get::<_, Option<i64>>(2)?.map(time),
                queued_at: r.get::<_, Option<i64>>(3)?.map(time),
            })
        })
        .optional()?;
    Ok(record)
}
