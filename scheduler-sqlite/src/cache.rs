//! The read cache: the scheduler reads every pending run, every active run and every
//! session each cycle; when nothing changed since the last read, the store hands back
//! the rows it read then instead of reading them again.
//!
//! "Nothing changed" is decided by the database itself: triggers bump a revision
//! counter (`revisions` table) in the same transaction as every change a read can see,
//! from this process or any other. A read opens one transaction and reads the counter;
//! so a cached answer is exactly what a fresh read would return.
//!
//! - Sessions: when the counter moved, every session is read again.
//! - Runs: each change of a run also stamps the run with the new revision (`row_rev`),
//!   so when the counter moved from `R` the read fetches only the runs stamped after
//!   `R` and applies them to the rows it holds (a run that left `queued` leaves the
//!   pending rows, and so on). A deletion from outside the store moves an epoch
//!   counter, and the next read reads every run afresh.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::Connection;
use scheduler_core::lease::SessionSpec;
use scheduler_core::model::RunStatus;

use crate::error::Error;
use crate::rows::{ActiveRun, PENDING_COLUMNS, PendingRun};

/// Rows read at a revision.
pub(crate) type Cached<T> = Option<(i64, Arc<[T]>)>;

/// The rows last read, per kind.
#[derive(Default)]
pub(crate) struct Cache {
    pub(crate) runs: RunsCache,
    pub(crate) sessions: Cached<Arc<SessionSpec>>,
}

/// The pending and active runs as of a revision, kept up to date by deltas.
#[derive(Default)]
pub(crate) struct RunsCache {
    at: Option<Revision>,
    pending: BTreeMap<String, Arc<PendingRun>>,
    active: BTreeMap<String, Arc<ActiveRun>>,
    pending_rows: Option<Arc<[Arc<PendingRun>]>>,
    active_rows: Option<Arc<[Arc<ActiveRun>]>>,
}

/// Where the runs' counters stood: `(epoch, rev)`.
pub(crate) type Revision = (i64, i64);

/// A run as a delta reads it: joined with its task, with its session.
pub(crate) struct ChangedRun {
    run: PendingRun,
    session_id: Option<String>,
}

/// What a runs read found.
pub(crate) enum RunsDelta {
    /// The counters did not move.
    Unchanged,
    /// The runs that changed after `from` (every live run when `from` is `None`), as
    /// of `to`.
    Changed { from: Option<Revision>, to: Revision, rows: Vec<ChangedRun> },
}

const RUN_COLUMNS_WITH_SESSION: &str = "r.session_id";

/// Reads the runs' counters and, when they moved past `known`, the runs that changed
/// (all live runs when `known` is `None` or the epoch moved).
pub(crate) fn fetch_runs(tx: &Connection, known: Option<Revision>) -> Result<RunsDelta, Error> {
    let mut counter = tx.prepare_cached("SELECT rev FROM revisions WHERE name = ?1")?;
    let epoch: i64 = counter.query_row(["runs_epoch"], |r| r.get(0))?;
    let rev: i64 = counter.query_row(["runs"], |r| r.get(0))?;
    let to = (epoch, rev);
    if known == Some(to) {
        return Ok(RunsDelta::Unchanged);
    }
    let from = known.filter(|(known_epoch, _)| *known_epoch == epoch);
    let filter = match from {
        Some(_) => "r.row_rev > ?1",
        None => "r.status IN ('queued', 'claimed', 'starting', 'running') AND ?1 IS NOT NULL",
    };
    let sql = format!(
        "SELECT {PENDING_COLUMNS}, {RUN_COLUMNS_WITH_SESSION} FROM runs r JOIN tasks t ON t.task_id = r.task_id \
         WHERE {filter}"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query([from.map_or(0, |(_, rev)| rev)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(ChangedRun { run: PendingRun::from_row(row)?, session_id: row.get(13)? });
    }
    Ok(RunsDelta::Changed { from, to, rows: out })
}

impl RunsCache {
    /// The revision the rows are at.
    pub(crate) fn revision(&self) -> Option<Revision> {
        self.at
    }

    /// Applies a read that started from [`revision`](Self::revision) (or from nothing);
    /// `false` when another read moved the rows meanwhile, so this one does not apply.
    pub(crate) fn apply(&mut self, delta: RunsDelta) -> bool {
        let RunsDelta::Changed { from, to, rows } = delta else { return self.at.is_some() };
        if self.at.is_some_and(|at| at.0 == to.0 && at.1 >= to.1) {
            return true; // a newer read already applied
        }
        match from {
            None => {
                self.pending.clear();
                self.active.clear();
            }
            Some(from) if Some(from) != self.at => return false,
            Some(_) => {}
        }
        for changed in rows {
            self.apply_row(changed);
        }
        self.pending_rows = None;
        self.active_rows = None;
        self.at = Some(to);
        true
    }

    fn apply_row(&mut self, changed: ChangedRun) {
        let ChangedRun { run, session_id } = changed;
        let id = run.run_id.clone();
        match (run.status, session_id) {
            (RunStatus::Queued, _) => {
                self.active.remove(&id);
                self.pending.insert(id, Arc::new(run));
            }
            (status, Some(session_id)) if status.holds_session() => {
                self.pending.remove(&id);
                self.active.insert(id.clone(), Arc::new(ActiveRun { run_id: id, session_id, status }));
            }
            _ => {
                self.pending.remove(&id);
                self.active.remove(&id);
            }
        }
    }

    /// The pending runs, by run id.
    pub(crate) fn pending(&mut self) -> Arc<[Arc<PendingRun>]> {
        let pending = &self.pending;
        Arc::clone(self.pending_rows.get_or_insert_with(|| pending.values().cloned().collect()))
    }

    /// The active runs, by run id.
    pub(crate) fn active(&mut self) -> Arc<[Arc<ActiveRun>]> {
        let active = &self.active;
        Arc::clone(self.active_rows.get_or_insert_with(|| active.values().cloned().collect()))
    }
}

/// The revision a cached read was taken at, if any.
pub(crate) fn revision_of<T>(cached: &Cached<T>) -> Option<i64> {
    cached.as_ref().map(|(rev, _)| *rev)
}

/// The outcome of a read that knew revision `known`.
pub(crate) enum Fetched<T> {
    /// The counter did not move: the cached rows are current.
    Unchanged,
    /// Rows read at this revision.
    Fresh(i64, Arc<[T]>),
}

/// Reads counter `name`, then the rows with `load` only if it moved past `known`.
pub(crate) fn fetch<T>(
    tx: &Connection,
    name: &str,
    known: Option<i64>,
    load: impl FnOnce(&Connection) -> Result<Vec<T>, Error>,
) -> Result<Fetched<T>, Error> {
    let rev: i64 = tx.prepare_cached("SELECT rev FROM revisions WHERE name = ?1")?.query_row([name], |r| r.get(0))?;
    if known == Some(rev) {
        return Ok(Fetched::Unchanged);
    }
    Ok(Fetched::Fresh(rev, load(tx)?.into()))
}

/// Settles a fetch against the cache slot: stores fresh rows, and returns the rows
/// current now.
pub(crate) fn settle<T>(slot: &mut Cached<T>, fetched: Fetched<T>) -> Option<Arc<[T]>> {
    match fetched {
        Fetched::Unchanged => slot.as_ref().map(|(_, rows)| Arc::clone(rows)),
        Fetched::Fresh(rev, rows) => {
            // Concurrent readers may settle out of order: keep the newest.
            if revision_of(slot).is_none_or(|known| known <= rev) {
                *slot = Some((rev, Arc::clone(&rows)));
            }
            Some(rows)
        }
    }
}
