-- Schema version 1: tasks, runs and their capabilities, sessions, the pause flag,
-- starvation budgets, an event log, and the revision counters the read cache checks.
-- Times are integer nanoseconds since the Unix epoch (UTC).

CREATE TABLE tasks (
    task_id      TEXT PRIMARY KEY NOT NULL,
    status       TEXT NOT NULL,
    claimable    INTEGER NOT NULL,  -- 1 unless the status is draft, blocked or canceled
    paused       INTEGER NOT NULL,
    priority     TEXT NOT NULL,
    scope        TEXT NOT NULL,     -- global | workspace | unknown
    workspace_id TEXT NOT NULL,
    owner_kind   TEXT NOT NULL,     -- none | pool | agent_session | unknown
    owner_ref    TEXT NOT NULL
) STRICT;

CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY NOT NULL,
    task_id     TEXT NOT NULL REFERENCES tasks (task_id),
    status      TEXT NOT NULL,
    -- The task's fields a claim filters on, kept in step with the task by every
    -- task write, so a claim reads one table:
    rank        INTEGER NOT NULL,   -- the priority rank (unknown ranks as medium)
    ready       INTEGER NOT NULL,   -- 1: task not paused and its status allows claims
    scope_key   TEXT,               -- '' global, the workspace, NULL: matches no session
    owner_kind  TEXT NOT NULL,
    owner_ref   TEXT NOT NULL,
    channel     TEXT NOT NULL,
    caps        TEXT NOT NULL,      -- JSON array of the required capabilities
    ncaps       INTEGER NOT NULL,   -- how many (run_caps holds one row each)
    queued_at   INTEGER,
    session_id  TEXT,               -- set while leased
    token       TEXT,               -- set while leased
    lease_until INTEGER,            -- set while leased
    diagnostic  TEXT,
    failure     TEXT,
    updated_at  INTEGER NOT NULL,
    row_rev     INTEGER NOT NULL DEFAULT 0  -- the revision of the row's last change
) STRICT;

-- The claim order over the claimable queued runs of one scope (a session's workspace,
-- or '' for global sessions): a claim walks its scope's slice of this index and stops
-- at the first run the session may take.
CREATE INDEX runs_claim_order ON runs (scope_key, rank DESC, queued_at, run_id) WHERE status = 'queued' AND ready = 1;
CREATE INDEX runs_by_task ON runs (task_id);
CREATE INDEX runs_by_session ON runs (session_id) WHERE session_id IS NOT NULL;
CREATE INDEX runs_by_lease_end ON runs (lease_until, run_id) WHERE lease_until IS NOT NULL;
CREATE INDEX runs_by_row_rev ON runs (row_rev);

CREATE TABLE run_caps (
    run_id TEXT NOT NULL REFERENCES runs (run_id),
    cap    TEXT NOT NULL,
    PRIMARY KEY (run_id, cap)
) STRICT, WITHOUT ROWID;

CREATE TABLE run_events (
    seq    INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    at     INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    actor  TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX run_events_by_run ON run_events (run_id, seq);

CREATE TABLE sessions (
    session_id   TEXT PRIMARY KEY NOT NULL,
    agent_name   TEXT NOT NULL,
    workspace_id TEXT NOT NULL,
    channel      TEXT NOT NULL,
    session_type TEXT NOT NULL,
    state        TEXT NOT NULL,
    prompting    INTEGER NOT NULL,
    caps         TEXT NOT NULL,     -- JSON array
    created_at   INTEGER NOT NULL,
    seen_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX sessions_by_seen ON sessions (seen_at);

CREATE TABLE pause (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    paused_by TEXT NOT NULL,
    paused_at INTEGER NOT NULL,
    reason    TEXT NOT NULL
) STRICT;

CREATE TABLE budgets (
    run_id             TEXT PRIMARY KEY NOT NULL,
    wake_count         INTEGER NOT NULL,
    tier               INTEGER NOT NULL,
    first_starved_at   INTEGER NOT NULL,
    last_wake_at       INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    spawn_requested_at INTEGER,
    starved_event_at   INTEGER
) STRICT;

-- Bumped in the same transaction as every change the scheduler's reads can see, so a
-- reader that saw revision R and finds R again may hand back what it read then. Each
-- change of a run also stamps the run with the new revision (row_rev), so a reader at
-- revision R reads only the runs with row_rev > R.
CREATE TABLE revisions (
    name TEXT PRIMARY KEY NOT NULL,
    rev  INTEGER NOT NULL
) STRICT;
INSERT INTO revisions (name, rev) VALUES ('runs', 0), ('runs_epoch', 0), ('sessions', 0);

CREATE TRIGGER runs_rev_insert AFTER INSERT ON runs
BEGIN
    UPDATE revisions SET rev = rev + 1 WHERE name = 'runs';
    UPDATE runs SET row_rev = (SELECT rev FROM revisions WHERE name = 'runs') WHERE rowid = NEW.rowid;
END;
CREATE TRIGGER runs_rev_update
AFTER UPDATE OF run_id, task_id, status, rank, ready, scope_key, owner_kind, owner_ref, channel, caps, queued_at, session_id ON runs
BEGIN
    UPDATE revisions SET rev = rev + 1 WHERE name = 'runs';
    UPDATE runs SET row_rev = (SELECT rev FROM revisions WHERE name = 'runs') WHERE rowid = NEW.rowid;
END;
-- The store never deletes runs or tasks; a deletion from outside moves the epoch, and a
-- reader that sees the epoch move reads every run afresh.
CREATE TRIGGER runs_rev_delete AFTER DELETE ON runs
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name IN ('runs', 'runs_epoch'); END;
CREATE TRIGGER tasks_rev_delete AFTER DELETE ON tasks
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name IN ('runs', 'runs_epoch'); END;
CREATE TRIGGER tasks_rev_update AFTER UPDATE ON tasks
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name = 'runs'; END;
CREATE TRIGGER sessions_rev_insert AFTER INSERT ON sessions
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name = 'sessions'; END;
CREATE TRIGGER sessions_rev_update AFTER UPDATE OF session_id, agent_name, workspace_id, channel, session_type, state, prompting, caps, created_at ON sessions
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name = 'sessions'; END;
CREATE TRIGGER sessions_rev_delete AFTER DELETE ON sessions
BEGIN UPDATE revisions SET rev = rev + 1 WHERE name = 'sessions'; END;
