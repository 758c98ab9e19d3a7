//! The read cache: the scheduler reads every pending run, every active run and every
//! session each cycle; when nothing changed since the last read, the store hands back
//! the rows it read then instead of reading them again.
//!
//! "Nothing changed" is decided by the database itself: triggers bump a revision
//! counter (`revisions` table) in the same transaction as every change a read can see,
//! from this process or any other. A read opens one transaction, reads the counter,
//! and reads the rows only when the counter moved; so a cached answer is exactly what
//! a fresh read would return.

use std::sync::Arc;

use rusqlite::Transaction;
use scheduler_core::lease::SessionSpec;

use crate::error::Error;
use crate::rows::{ActiveRun, PendingRun};

/// Rows read at a revision.
pub(crate) type Cached<T> = Option<(i64, Arc<[T]>)>;

/// The rows last read, per kind.
#[derive(Default)]
pub(crate) struct Cache {
    pub(crate) pending: Cached<Arc<PendingRun>>,
    pub(crate) active: Cached<Arc<ActiveRun>>,
    pub(crate) sessions: Cached<Arc<SessionSpec>>,
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
    tx: &Transaction<'_>,
    name: &str,
    known: Option<i64>,
    load: impl FnOnce(&Transaction<'_>) -> Result<Vec<T>, Error>,
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
