//! The claim: the scheduler's eligibility and ordering rules as one indexed query,
//! inside the writer's `BEGIN IMMEDIATE` transaction.
//!
//! The task's fields a claim filters on are kept on each run (rank, `ready` = not
//! paused and a claimable status, `scope_key`, owner), in step with the task. The query
//! walks the partial index `runs_claim_order` (claimable queued runs by scope, then rank
//! desc, queued-at, run id: the claim order) within the session's scope only (its
//! workspace, or `''` for a global session) and stops at the first run the session may
//! take, so a claim reads the runs of its scope ahead of its answer, not every queued
//! run. Per run it checks the channel, the owner and, only for runs that require
//! capabilities, that none of the run's `run_caps` rows is missing from the session's
//! capabilities (passed as one JSON array).

use rusqlite::{Connection, OptionalExtension, params};
use scheduler_core::lease::{ClaimRequest, ClaimToken};

use crate::error::Error;
use crate::value::{caps, id, json_array, name};

/// The claim order and every static eligibility rule of `scheduler_core::eligibility`.
/// Parameters: ?1 session channel, ?2 session workspace, ?3 agent name, ?4 session id,
/// ?5 session capabilities (JSON array); all trimmed.
pub(crate) const BEST_RUN: &str = "\
SELECT r.run_id FROM runs AS r INDEXED BY runs_claim_order
WHERE r.status = 'queued' AND r.ready = 1 AND r.scope_key = ?2
  AND (r.channel = '' OR r.channel = ?1)
  AND (r.owner_kind = 'none'
    OR (r.owner_kind = 'pool' AND r.owner_ref <> '' AND r.owner_ref = ?3)
    OR (r.owner_kind = 'agent_session' AND r.owner_ref <> '' AND r.owner_ref = ?4))
  AND (r.ncaps = 0 OR NOT EXISTS (
    SELECT 1 FROM run_caps AS c WHERE c.run_id = r.run_id
      AND c.cap NOT IN (SELECT value FROM json_each(?5))))
ORDER BY r.rank DESC, r.queued_at, r.run_id
LIMIT 1";

/// A claim request, validated and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claimant {
    pub(crate) session_id: String,
    agent_name: String,
    workspace_id: String,
    channel: String,
    caps_json: String,
}

impl Claimant {
    pub(crate) fn of(request: &ClaimRequest) -> Result<Claimant, Error> {
        let offered = caps(request.capabilities.iter().map(String::as_str), "session capability")?;
        Ok(Claimant {
            session_id: id(&request.session_id, "session id")?.to_owned(),
            agent_name: name(&request.agent_name, "agent name")?.to_owned(),
            workspace_id: name(&request.workspace_id, "workspace id")?.to_owned(),
            channel: name(&request.channel, "channel")?.to_owned(),
            caps_json: json_array(&offered),
        })
    }
}

/// The run the session holds a live lease on, if any.
pub(crate) fn held_by(tx: &Connection, session_id: &str) -> Result<Option<String>, Error> {
    let mut stmt = tx.prepare_cached(
        "SELECT run_id FROM runs WHERE session_id = ?1 AND status IN ('claimed', 'starting', 'running') LIMIT 1",
    )?;
    Ok(stmt.query_row([session_id], |r| r.get(0)).optional()?)
}

/// The best run `who` may claim now, if any.
pub(crate) fn best_run(tx: &Connection, who: &Claimant) -> Result<Option<String>, Error> {
    let mut stmt = tx.prepare_cached(BEST_RUN)?;
    let best = stmt
        .query_row(params![who.channel, who.workspace_id, who.agent_name, who.session_id, who.caps_json], |r| r.get(0))
        .optional()?;
    Ok(best)
}

/// Whether the scheduler-wide pause is on.
pub(crate) fn paused(tx: &Connection) -> Result<bool, Error> {
    Ok(tx.prepare_cached("SELECT 1 FROM pause WHERE id = 1")?.exists([])?)
}

/// Claims for `who` until `until` (nanoseconds): the whole decision and the write,
/// in the caller's immediate transaction. Returns the run leased.
pub(crate) fn claim(
    tx: &Connection,
    who: &Claimant,
    token: &ClaimToken,
    until: i64,
    now: i64,
) -> Result<Option<String>, Error> {
    if paused(tx)? {
        return Err(Error::Paused);
    }
    if let Some(run_id) = held_by(tx, &who.session_id)? {
        return Err(Error::SessionBusy { session_id: who.session_id.clone(), run_id });
    }
    let Some(run_id) = best_run(tx, who)? else { return Ok(None) };
    tx.prepare_cached(
        "UPDATE runs SET status = 'claimed', session_id = ?2, token = ?3, lease_until = ?4, updated_at = ?5 \
         WHERE run_id = ?1",
    )?
    .execute(params![run_id, who.session_id, token.expose_secret(), until, now])?;
    Ok(Some(run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(sql: &str) -> String {
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::schema::migrate(&mut conn).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map(params!["", "", "", "", "[]"], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn the_claim_walks_the_claim_order_index_without_sorting() {
        let plan = plan(BEST_RUN);
        assert!(plan.contains("USING INDEX runs_claim_order"), "{plan}");
        assert!(
            plan.contains("tasks USING INDEX sqlite_autoindex_tasks_1") || plan.contains("USING PRIMARY KEY"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "the claim must not sort: {plan}");
        assert!(!plan.contains("SCAN t"), "tasks are looked up by key: {plan}");
    }
}
