//! [`Tasks`]: the task service over PostgreSQL (`TaskSource` and `LeaseService`).

use std::time::{Duration, SystemTime};

use scheduler_core::lease::{ClaimRequest, ClaimToken, Lease, LeaseService, RunRecord, RunSpec, TaskSpec};
use scheduler_core::model::{RunStatus, Scope};
use scheduler_core::seam::{Recovery, TaskSource};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use crate::error::Error;
use crate::rows::{PgActiveRun, PgRun, RUN_COLUMNS, RecoveredRun};
use crate::store::Store;
use crate::text;

/// The task service: the scheduler's [`TaskSource`] and the sessions' [`LeaseService`]
/// over one schema. A cheap, cloneable handle (it shares the store's pool).
///
/// - A claim is one statement: the best eligible run is chosen in SQL (scope, channel,
///   owner, capabilities with `<@`, task status and pause; priority desc, queued-at
///   asc, run id asc over an index) and locked with `FOR UPDATE SKIP LOCKED`, so
///   concurrent claimers never wait on each other nor win the same run. A partial
///   unique index on the holder of `claimed`/`starting`/`running` runs makes a second
///   lease for one session impossible, whatever the race.
/// - Claim tokens are stored as their SHA-256 only; a token is checked by comparing
///   hashes, so the database never holds a usable secret.
/// - The sweep is one statement (`FOR UPDATE SKIP LOCKED` over expired leases, then the
///   update), so two sweeps never recover one run twice and a heartbeat racing a sweep
///   either extends the lease or loses.
#[derive(Debug, Clone)]
pub struct Tasks {
    store: Store,
}

const HOLDING: &str = "('claimed', 'starting', 'running')";

impl Tasks {
    pub(crate) fn new(store: Store) -> Self {
        Tasks { store }
    }

    async fn query(&self, step: &'static str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, Error> {
        let client = self.store.client(step).await?;
        let statement = client.prepare_cached(sql).await.map_err(Error::db(step))?;
        client.query(&statement, params).await.map_err(Error::db(step))
    }

    async fn query_opt(
        &self,
        step: &'static str,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, Error> {
        Ok(self.query(step, sql, params).await?.into_iter().next())
    }

    /// The diagnostic a `needs_attention` run was marked with, if any.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn diagnostic(&self, run_id: &str) -> Result<Option<String>, Error> {
        let Some(id) = text::lookup(run_id) else { return Ok(None) };
        let row =
            self.query_opt("reading a diagnostic", "SELECT diagnostic FROM runs WHERE run_id = $1", &[&id]).await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    /// The reason a `failed` run was failed with, if any.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn failure_reason(&self, run_id: &str) -> Result<Option<String>, Error> {
        let Some(id) = text::lookup(run_id) else { return Ok(None) };
        let row = self.query_opt("reading a failure", "SELECT failure FROM runs WHERE run_id = $1", &[&id]).await?;
        Ok(row.and_then(|r| r.get(0)))
    }

    /// The run joined with its task as stored now, whatever its status.
    ///
    /// # Errors
    /// [`Error::Database`], [`Error::Pool`].
    pub async fn snapshot(&self, run_id: &str) -> Result<Option<PgRun>, Error> {
        let Some(id) = text::lookup(run_id) else { return Ok(None) };
        let sql = format!("SELECT {RUN_COLUMNS} FROM runs r JOIN tasks t ON t.task_id = r.task_id WHERE r.run_id = $1");
        Ok(self.query_opt("reading a run", &sql, &[&id]).await?.as_ref().map(PgRun::from_row))
    }

    /// Runs a token-fenced statement and turns its verdict into the contract's answer.
    /// The statement returns one row `(status, token_ok, changed, ...)` or none for an
    /// unknown run.
    async fn fenced(
        &self,
        step: &'static str,
        sql: &str,
        run_id: &str,
        token: &ClaimToken,
        extra: &[&(dyn ToSql + Sync)],
        to: RunStatus,
    ) -> Result<Row, Error> {
        let unknown = || Error::UnknownRun { run_id: run_id.trim().to_owned() };
        let id = text::lookup(run_id).ok_or_else(unknown)?;
        let secret = token.expose_secret().as_bytes();
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&id, &secret];
        params.extend_from_slice(extra);
        let row = self.query_opt(step, sql, &params).await?.ok_or_else(unknown)?;
        let status = RunStatus::from_text(row.get(0));
        let (token_ok, changed): (Option<bool>, bool) = (row.get(1), row.get(2));
        if !status.holds_session() {
            return Err(Error::StaleToken { run_id: id.to_owned(), status });
        }
        if token_ok != Some(true) {
            return Err(Error::WrongToken { run_id: id.to_owned() });
        }
        if !changed {
            return Err(Error::InvalidTransition { run_id: id.to_owned(), from: status, to });
        }
        Ok(row)
    }
}

/// A fenced statement: lock the run, check the token's hash, apply `set` when the run
/// is in one of `from`, and report `(status before, token ok, changed, returned)`.
macro_rules! fenced_sql {
    ($set:literal, $from:literal, $returning:literal) => {
        concat!(
            "WITH cur AS (SELECT run_id, status, token_hash = sha256($2) AS ok FROM runs WHERE run_id = $1 FOR UPDATE), ",
            "upd AS (UPDATE runs SET ",
            $set,
            " FROM cur WHERE runs.run_id = cur.run_id AND cur.ok AND cur.status IN ",
            $from,
            " RETURNING ",
            $returning,
            ") SELECT cur.status, cur.ok, EXISTS (SELECT 1 FROM upd), (SELECT v FROM upd) FROM cur"
        )
    };
}

const START_SQL: &str = fenced_sql!("status = 'running', updated_at = $3", "('claimed', 'starting')", "1 AS v");
const HEARTBEAT_SQL: &str =
    fenced_sql!("lease_until = $3, updated_at = $4", "('claimed', 'starting', 'running')", "runs.lease_until AS v");
const COMPLETE_SQL: &str = fenced_sql!(
    "status = 'completed', session_id = NULL, token_hash = NULL, lease_until = NULL, updated_at = $3",
    "('claimed', 'starting', 'running')",
    "1 AS v"
);
const FAIL_SQL: &str = fenced_sql!(
    "status = 'failed', failure = $3, session_id = NULL, token_hash = NULL, lease_until = NULL, updated_at = $4",
    "('claimed', 'starting', 'running')",
    "1 AS v"
);
const RELEASE_SQL: &str = fenced_sql!(
    "status = 'queued', session_id = NULL, token_hash = NULL, lease_until = NULL, updated_at = $3",
    "('claimed', 'starting', 'running')",
    "1 AS v"
);

const CLAIM_SQL: &str = "\
WITH busy AS (
    SELECT 1 FROM runs WHERE session_id = $1 AND status IN ('claimed', 'starting', 'running') LIMIT 1
), paused AS (
    SELECT 1 FROM pause WHERE id = 1
), pick AS (
    SELECT r.run_id FROM runs r JOIN tasks t ON t.task_id = r.task_id
    WHERE r.status = 'queued'
      AND NOT EXISTS (SELECT 1 FROM busy) AND NOT EXISTS (SELECT 1 FROM paused)
      AND NOT t.paused AND t.status NOT IN ('draft', 'blocked', 'canceled')
      AND r.scope_key = $2
      AND (r.channel = '' OR r.channel = $3)
      AND (t.owner_kind = 'none'
           OR (t.owner_kind = 'pool' AND t.owner_ref <> '' AND t.owner_ref = $4)
           OR (t.owner_kind = 'agent_session' AND t.owner_ref <> '' AND t.owner_ref = $1))
      AND r.required_caps <@ $5::text[]
    ORDER BY r.priority_rank DESC, r.queued_at, r.run_id
    LIMIT 1
    FOR UPDATE OF r SKIP LOCKED
), won AS (
    UPDATE runs SET status = 'claimed', session_id = $1, token_hash = sha256($6), lease_until = $7, updated_at = $8
    FROM pick WHERE runs.run_id = pick.run_id
    RETURNING runs.run_id
)
SELECT EXISTS (SELECT 1 FROM paused), EXISTS (SELECT 1 FROM busy), (SELECT run_id FROM won)";

const RECOVER_SQL: &str = "\
WITH expired AS (
    SELECT run_id, status, session_id, lease_until FROM runs
    WHERE status IN ('claimed', 'starting', 'running') AND lease_until <= $1
    ORDER BY lease_until, run_id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE runs SET status = 'queued', session_id = NULL, token_hash = NULL, lease_until = NULL,
    recovered_reason = $3, recovered_by = $4, updated_at = $1
FROM expired WHERE runs.run_id = expired.run_id
RETURNING runs.run_id, runs.task_id, runs.queued_at, expired.status, expired.session_id, expired.lease_until";

const MARK_SQL: &str = "\
WITH cur AS (SELECT status FROM runs WHERE run_id = $1 FOR UPDATE),
upd AS (UPDATE runs SET status = 'needs_attention', diagnostic = $2, updated_at = $3
        FROM cur WHERE runs.run_id = $1 AND cur.status = 'queued' RETURNING 1)
SELECT cur.status, EXISTS (SELECT 1 FROM upd) FROM cur";

const UPSERT_TASK_SQL: &str = "\
INSERT INTO tasks (task_id, status, paused, priority, scope, workspace_id, owner_kind, owner_ref)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (task_id) DO UPDATE SET status = EXCLUDED.status, paused = EXCLUDED.paused,
    priority = EXCLUDED.priority, scope = EXCLUDED.scope, workspace_id = EXCLUDED.workspace_id,
    owner_kind = EXCLUDED.owner_kind, owner_ref = EXCLUDED.owner_ref";

const UPDATE_TASK_SQL: &str = "\
UPDATE tasks SET status = $2, paused = $3, priority = $4, scope = $5, workspace_id = $6,
    owner_kind = $7, owner_ref = $8 WHERE task_id = $1";

const INSERT_RUN_SQL: &str = "\
INSERT INTO runs (run_id, task_id, status, priority_rank, scope_key, channel, required_caps, queued_at, updated_at)
VALUES ($1, $2, 'queued', $3, $4, $5, $6, $7, $7) ON CONFLICT (run_id) DO NOTHING";

/// A task's fields, checked and ready to bind.
struct TaskRow<'a> {
    task_id: &'a str,
    workspace_id: &'a str,
    owner_ref: &'a str,
    rank: i16,
    scope_key: Option<&'a str>,
    status: &'static str,
    priority: &'static str,
    scope: &'static str,
    owner_kind: &'static str,
    paused: bool,
}

impl<'a> TaskRow<'a> {
    fn check(spec: &'a TaskSpec) -> Result<Self, Error> {
        let workspace_id = text::optional_id("workspace_id", &spec.workspace_id)?;
        let owner_ref = match &spec.owner {
            scheduler_core::model::OwnerRef::Pool(r) | scheduler_core::model::OwnerRef::AgentSession(r) => r.as_str(),
            _ => "",
        };
        Ok(TaskRow {
            task_id: text::id("task_id", &spec.task_id)?,
            workspace_id,
            scope_key: match spec.scope {
                Scope::Workspace if !workspace_id.is_empty() => Some(workspace_id),
                Scope::Global => Some(""),
                _ => None,
            },
            owner_ref: text::optional_id("owner", owner_ref)?,
            rank: i16::from(spec.priority.rank()),
            status: spec.status.as_str(),
            priority: spec.priority.as_str(),
            scope: spec.scope.as_str(),
            owner_kind: spec.owner.kind(),
            paused: spec.paused,
        })
    }

    /// Parameters `$1..$8` of the task statements.
    fn params(&self) -> [&(dyn ToSql + Sync); 8] {
        [
            &self.task_id,
            &self.status,
            &self.paused,
            &self.priority,
            &self.scope,
            &self.workspace_id,
            &self.owner_kind,
            &self.owner_ref,
        ]
    }
}

impl Tasks {
    async fn write_task(
        &self,
        step: &'static str,
        task: &TaskRow<'_>,
        insert_run: Option<&RunRow<'_>>,
    ) -> Result<(), Error> {
        let mut client = self.store.client(step).await?;
        let tx = client.transaction().await.map_err(Error::db(step))?;
        let sql = if insert_run.is_some() { UPSERT_TASK_SQL } else { UPDATE_TASK_SQL };
        let changed = tx.execute(sql, &task.params()).await.map_err(Error::db(step))?;
        if changed == 0 {
            return Err(Error::UnknownTask { task_id: task.task_id.to_owned() });
        }
        tx.execute(
            "UPDATE runs SET priority_rank = $2, scope_key = $3 \
             WHERE task_id = $1 AND (priority_rank <> $2 OR scope_key IS DISTINCT FROM $3)",
            &[&task.task_id, &task.rank, &task.scope_key],
        )
        .await
        .map_err(Error::db(step))?;
        if let Some(run) = insert_run {
            let params: [&(dyn ToSql + Sync); 7] =
                [&run.run_id, &task.task_id, &task.rank, &task.scope_key, &run.channel, &run.caps, &run.now];
            if tx.execute(INSERT_RUN_SQL, &params).await.map_err(Error::db(step))? == 0 {
                return Err(Error::DuplicateRun { run_id: run.run_id.to_owned() });
            }
        }
        tx.commit().await.map_err(Error::db(step))
    }
}

struct RunRow<'a> {
    run_id: &'a str,
    channel: &'a str,
    caps: Vec<&'a str>,
    now: SystemTime,
}

impl<'a> RunRow<'a> {
    fn check(spec: &'a RunSpec, now: SystemTime) -> Result<Self, Error> {
        Ok(RunRow {
            run_id: text::id("run_id", &spec.run_id)?,
            channel: text::optional_id("channel", &spec.channel)?,
            caps: text::caps("required_capabilities", spec.required_capabilities.iter().map(String::as_str))?,
            now: text::time("now", now)?,
        })
    }
}

impl TaskSource for Tasks {
    type Run = PgRun;
    type ActiveRun = PgActiveRun;
    type Recovered = RecoveredRun;
    type Error = Error;

    async fn recover_expired_leases(&self, request: Recovery<'_>, out: &mut Vec<RecoveredRun>) -> Result<(), Error> {
        const STEP: &str = "recovering expired leases";
        let limit = (request.limit > 0).then_some(i64::from(request.limit));
        let reason = text::free("reason", request.reason)?;
        let actor = text::free("actor", request.actor)?;
        let now = text::time("now", request.now)?;
        let rows = self.query(STEP, RECOVER_SQL, &[&now, &limit, &reason, &actor]).await?;
        let start = out.len();
        out.extend(rows.iter().map(|row| RecoveredRun {
            run_id: row.get(0),
            task_id: row.get(1),
            queued_at: row.get(2),
            previous_status: RunStatus::from_text(row.get(3)),
            previous_session_id: row.get::<_, Option<String>>(4).unwrap_or_default(),
            previous_lease_until: row.get(5),
            reason: reason.clone(),
            actor: actor.clone(),
        }));
        out[start..].sort_by(|a, b| (a.previous_lease_until, &a.run_id).cmp(&(b.previous_lease_until, &b.run_id)));
        Ok(())
    }

    async fn pending_runs(&self, out: &mut Vec<PgRun>) -> Result<(), Error> {
        let sql =
            format!("SELECT {RUN_COLUMNS} FROM runs r JOIN tasks t ON t.task_id = r.task_id WHERE r.status = 'queued'");
        let rows = self.query("reading pending runs", &sql, &[]).await?;
        out.extend(rows.iter().map(PgRun::from_row));
        Ok(())
    }

    async fn active_runs(&self, out: &mut Vec<PgActiveRun>) -> Result<(), Error> {
        let sql = format!(
            "SELECT run_id, session_id, status FROM runs WHERE status IN {HOLDING} ORDER BY lease_until, run_id"
        );
        let rows = self.query("reading active runs", &sql, &[]).await?;
        out.extend(rows.iter().map(|row| PgActiveRun {
            run_id: row.get(0),
            session_id: row.get::<_, Option<String>>(1).unwrap_or_default(),
            status: RunStatus::from_text(row.get(2)),
        }));
        Ok(())
    }

    async fn run_status(&self, run_id: &str) -> Result<Option<RunStatus>, Error> {
        let Some(id) = text::lookup(run_id) else { return Ok(None) };
        let row = self.query_opt("reading a run status", "SELECT status FROM runs WHERE run_id = $1", &[&id]).await?;
        Ok(row.map(|r| RunStatus::from_text(r.get(0))))
    }

    async fn run_statuses<'a, I>(
        &'a self,
        run_ids: I,
        out: &'a mut Vec<Result<Option<RunStatus>, Error>>,
    ) -> Result<(), Error>
    where
        I: Iterator<Item = &'a str> + Send + 'a,
    {
        // Ids no row can have are asked as NULL, which matches nothing.
        let ids: Vec<Option<&str>> = run_ids.map(text::lookup).collect();
        let sql = "SELECT r.status FROM unnest($1::text[]) WITH ORDINALITY AS u(id, ord) \
                   LEFT JOIN runs r ON r.run_id = u.id ORDER BY u.ord";
        let rows = self.query("reading run statuses", sql, &[&ids]).await?;
        out.extend(rows.iter().map(|r| Ok(r.get::<_, Option<&str>>(0).map(RunStatus::from_text))));
        Ok(())
    }
}

impl LeaseService for Tasks {
    async fn enqueue(&self, task: &TaskSpec, run: &RunSpec, now: SystemTime) -> Result<(), Error> {
        let run = RunRow::check(run, now)?;
        let task = TaskRow::check(task)?;
        self.write_task("enqueueing a run", &task, Some(&run)).await
    }

    async fn update_task(&self, task: &TaskSpec, _now: SystemTime) -> Result<(), Error> {
        self.write_task("updating a task", &TaskRow::check(task)?, None).await
    }

    async fn claim(&self, request: &ClaimRequest, lease: Duration, now: SystemTime) -> Result<Option<Lease>, Error> {
        const STEP: &str = "claiming a run";
        let session_id = text::id("session_id", &request.session_id)?;
        let workspace = text::optional_id("workspace_id", &request.workspace_id)?;
        let channel = text::optional_id("channel", &request.channel)?;
        let agent = text::optional_id("agent_name", &request.agent_name)?;
        let caps = text::caps("capabilities", request.capabilities.iter().map(String::as_str))?;
        let now = text::time("now", now)?;
        let until = text::lease_end(now, lease)?;
        let token = ClaimToken::generate();
        let secret = token.expose_secret().as_bytes();
        let params: [&(dyn ToSql + Sync); 8] =
            [&session_id, &workspace, &channel, &agent, &caps, &secret, &until, &now];
        let row = match self.query_opt(STEP, CLAIM_SQL, &params).await {
            Err(e) if e.sql_state() == Some(&SqlState::UNIQUE_VIOLATION) => {
                return Err(Error::SessionBusy { session_id: session_id.to_owned() });
            }
            other => other?.ok_or_else(|| Error::invalid("claim", "the claim statement returned no row"))?,
        };
        let (paused, busy, won): (bool, bool, Option<String>) = (row.get(0), row.get(1), row.get(2));
        if paused {
            return Err(Error::Paused);
        }
        if busy {
            return Err(Error::SessionBusy { session_id: session_id.to_owned() });
        }
        Ok(won.map(|run_id| Lease { run_id, session_id: session_id.to_owned(), token, lease_until: until }))
    }

    async fn start(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Error> {
        let now = text::time("now", now)?;
        self.fenced("starting a run", START_SQL, run_id, token, &[&now], RunStatus::Running).await.map(drop)
    }

    async fn heartbeat(
        &self,
        run_id: &str,
        token: &ClaimToken,
        lease: Duration,
        now: SystemTime,
    ) -> Result<SystemTime, Error> {
        let until = text::lease_end(now, lease)?;
        let row = self.fenced("heartbeat", HEARTBEAT_SQL, run_id, token, &[&until, &now], RunStatus::Running).await?;
        Ok(row.get::<_, Option<SystemTime>>(3).unwrap_or(until))
    }

    async fn complete(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Error> {
        let now = text::time("now", now)?;
        self.fenced("completing a run", COMPLETE_SQL, run_id, token, &[&now], RunStatus::Completed).await.map(drop)
    }

    async fn fail(&self, run_id: &str, token: &ClaimToken, reason: &str, now: SystemTime) -> Result<(), Error> {
        let reason = text::free("reason", reason)?;
        let now = text::time("now", now)?;
        self.fenced("failing a run", FAIL_SQL, run_id, token, &[&reason, &now], RunStatus::Failed).await.map(drop)
    }

    async fn release(&self, run_id: &str, token: &ClaimToken, now: SystemTime) -> Result<(), Error> {
        let now = text::time("now", now)?;
        self.fenced("releasing a run", RELEASE_SQL, run_id, token, &[&now], RunStatus::Queued).await.map(drop)
    }

    async fn mark_needs_attention(&self, run_id: &str, diagnostic: &str, now: SystemTime) -> Result<(), Error> {
        let unknown = || Error::UnknownRun { run_id: run_id.trim().to_owned() };
        let id = text::lookup(run_id).ok_or_else(unknown)?;
        let diagnostic = text::free("diagnostic", diagnostic)?;
        let now = text::time("now", now)?;
        let row = self.query_opt("marking a run needs-attention", MARK_SQL, &[&id, &diagnostic, &now]).await?;
        let row = row.ok_or_else(unknown)?;
        let (from, changed): (&str, bool) = (row.get(0), row.get(1));
        if !changed {
            let from = RunStatus::from_text(from);
            return Err(Error::InvalidTransition { run_id: id.to_owned(), from, to: RunStatus::NeedsAttention });
        }
        Ok(())
    }

    async fn record(&self, run_id: &str) -> Result<Option<RunRecord>, Error> {
        let Some(id) = text::lookup(run_id) else { return Ok(None) };
        let sql = "SELECT status, session_id, lease_until, queued_at FROM runs WHERE run_id = $1";
        let row = self.query_opt("reading a run", sql, &[&id]).await?;
        Ok(row.map(|r| RunRecord {
            status: RunStatus::from_text(r.get(0)),
            session_id: r.get(1),
            lease_until: r.get(2),
            queued_at: Some(r.get(3)),
        }))
    }
}
