//! Token-fenced lease operations, recovery of expired leases, and needs-attention.
//!
//! Every function runs inside the writer's immediate transaction, so its check and its
//! change are one atomic step across connections and processes. Tokens are compared in
//! Rust, byte for byte and in constant time ([`ClaimToken::matches_secret`]), never in
//! SQL.

use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};
use scheduler_core::lease::ClaimToken;
use scheduler_core::model::RunStatus;

use crate::error::Error;
use crate::rows::RecoveredRun;
use crate::runs::joined;
use crate::value::time;

/// The run's status if `token` is its current lease token; otherwise why not.
pub(crate) fn fenced(tx: &Connection, run_id: &str, token: &ClaimToken) -> Result<RunStatus, Error> {
    let mut stmt = tx.prepare_cached("SELECT status, token FROM runs WHERE run_id = ?1")?;
    let row = stmt
        .query_row([run_id], |r| Ok((RunStatus::from_text(r.get_ref(0)?.as_str()?), r.get::<_, Option<String>>(1)?)))
        .optional()?;
    match row {
        None => Err(Error::UnknownRun { run_id: run_id.to_owned() }),
        Some((status, None)) => Err(Error::StaleToken { run_id: run_id.to_owned(), status }),
        Some((_, Some(stored))) if !token.matches_secret(&stored) => {
            Err(Error::WrongToken { run_id: run_id.to_owned() })
        }
        Some((status, Some(_))) => Ok(status),
    }
}

/// `claimed` (or `starting`) to `running`.
pub(crate) fn start(tx: &Connection, run_id: &str, token: &ClaimToken, now: i64) -> Result<(), Error> {
    let from = fenced(tx, run_id, token)?;
    if !matches!(from, RunStatus::Claimed | RunStatus::Starting) {
        return Err(Error::InvalidTransition { run_id: run_id.to_owned(), from, to: RunStatus::Running });
    }
    tx.prepare_cached("UPDATE runs SET status = 'running', updated_at = ?2 WHERE run_id = ?1")?
        .execute(params![run_id, now])?;
    Ok(())
}

/// Extends the lease to `until`.
pub(crate) fn heartbeat(tx: &Connection, run_id: &str, token: &ClaimToken, until: i64, now: i64) -> Result<(), Error> {
    fenced(tx, run_id, token)?;
    tx.prepare_cached("UPDATE runs SET lease_until = ?2, updated_at = ?3 WHERE run_id = ?1")?
        .execute(params![run_id, until, now])?;
    Ok(())
}

/// Ends the lease, moving the run to `status` (`completed`, `failed` with `failure`,
/// or `queued` again).
pub(crate) fn end(
    tx: &Connection,
    run_id: &str,
    token: &ClaimToken,
    status: RunStatus,
    failure: Option<&str>,
    now: i64,
) -> Result<(), Error> {
    fenced(tx, run_id, token)?;
    clear_lease(tx, run_id, status, now)?;
    if let Some(reason) = failure {
        tx.prepare_cached("UPDATE runs SET failure = ?2 WHERE run_id = ?1")?.execute(params![run_id, reason])?;
    }
    Ok(())
}

fn clear_lease(tx: &Connection, run_id: &str, status: RunStatus, now: i64) -> Result<(), Error> {
    tx.prepare_cached(
        "UPDATE runs SET status = ?2, session_id = NULL, token = NULL, lease_until = NULL, updated_at = ?3 \
         WHERE run_id = ?1",
    )?
    .execute(params![run_id, status.as_str(), now])?;
    Ok(())
}

fn record_event(tx: &Connection, run_id: &str, at: i64, kind: &str, actor: &str, detail: &str) -> Result<(), Error> {
    tx.prepare_cached("INSERT INTO run_events (run_id, at, kind, actor, detail) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![run_id, at, kind, actor, detail])?;
    Ok(())
}

/// Whether any lease ended at or before `now` (a read: lets a sweep that finds nothing
/// skip the write lock).
pub(crate) fn any_expired(tx: &Connection, now: i64) -> Result<bool, Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT 1 FROM runs WHERE lease_until IS NOT NULL AND lease_until <= ?1 \
         AND status IN ('claimed', 'starting', 'running') LIMIT 1",
    )?;
    Ok(stmt.exists([now])?)
}

/// What a sweep is asked to do.
#[derive(Debug, Clone)]
pub(crate) struct Sweep {
    pub(crate) now: i64,
    pub(crate) reason: String,
    pub(crate) actor: String,
    pub(crate) limit: u32,
}

/// Returns every expired lease to `queued`, oldest lease first, at most `limit` (0: no
/// limit), recording each as done by the sweep's actor.
pub(crate) fn recover(tx: &Connection, sweep: &Sweep) -> Result<Vec<RecoveredRun>, Error> {
    let limit = if sweep.limit == 0 { -1 } else { i64::from(sweep.limit) };
    let expired: Vec<(String, String, Option<String>, i64)> = tx
        .prepare_cached(
            "SELECT run_id, status, session_id, lease_until FROM runs \
             WHERE lease_until IS NOT NULL AND lease_until <= ?1 AND status IN ('claimed', 'starting', 'running') \
             ORDER BY lease_until, run_id LIMIT ?2",
        )?
        .query_map(params![sweep.now, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(expired.len());
    for (run_id, status, session_id, until) in expired {
        clear_lease(tx, &run_id, RunStatus::Queued, sweep.now)?;
        record_event(tx, &run_id, sweep.now, "lease_recovered", &sweep.actor, &sweep.reason)?;
        let Some(run) = joined(tx, &run_id)? else { continue };
        out.push(RecoveredRun {
            run: Arc::new(run),
            previous_status: RunStatus::from_text(&status),
            previous_session_id: session_id.unwrap_or_default(),
            previous_lease_until: time(until),
            reason: sweep.reason.clone(),
            actor: sweep.actor.clone(),
        });
    }
    Ok(out)
}

/// `queued` to `needs_attention`, keeping the diagnostic.
pub(crate) fn mark_needs_attention(tx: &Connection, run_id: &str, diagnostic: &str, now: i64) -> Result<(), Error> {
    let from = crate::runs::status(tx, run_id)?.ok_or_else(|| Error::UnknownRun { run_id: run_id.to_owned() })?;
    if from != RunStatus::Queued {
        return Err(Error::InvalidTransition { run_id: run_id.to_owned(), from, to: RunStatus::NeedsAttention });
    }
    tx.prepare_cached(
        "UPDATE runs SET status = 'needs_attention', diagnostic = ?2, updated_at = ?3 WHERE run_id = ?1",
    )?
    .execute(params![run_id, diagnostic, now])?;
    record_event(tx, run_id, now, "needs_attention", "", diagnostic)
}
