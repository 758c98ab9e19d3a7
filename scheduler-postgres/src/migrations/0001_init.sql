-- scheduler-postgres schema, version 1. Runs with search_path set to the store's schema.
CREATE TABLE tasks (
    task_id       text PRIMARY KEY,
    status        text NOT NULL,
    paused        boolean NOT NULL,
    priority      text NOT NULL,
    scope         text NOT NULL,
    workspace_id  text NOT NULL,
    owner_kind    text NOT NULL,
    owner_ref     text NOT NULL
);

CREATE TABLE runs (
    run_id           text PRIMARY KEY,
    task_id          text NOT NULL REFERENCES tasks (task_id),
    status           text NOT NULL,
    -- The task's priority rank (unknown = medium), copied so the claim order has an index.
    priority_rank    smallint NOT NULL,
    -- Where the task may be claimed, copied from it: its workspace for a workspace task,
    -- '' for a global one, NULL (matches no session) for an unknown scope or a workspace
    -- task without a workspace. A claim looks only at its own workspace's runs.
    scope_key        text,
    channel          text NOT NULL,
    required_caps    text[] NOT NULL,
    queued_at        timestamptz NOT NULL,
    session_id       text,
    -- SHA-256 of the claim token: the database never holds the secret itself.
    token_hash       bytea,
    lease_until      timestamptz,
    diagnostic       text,
    failure          text,
    recovered_reason text,
    recovered_by     text,
    updated_at       timestamptz NOT NULL
);
-- One lease per session, enforced by the database itself.
CREATE UNIQUE INDEX runs_one_lease_per_session ON runs (session_id)
    WHERE status IN ('claimed', 'starting', 'running');
-- The claim order within a scope: priority desc, queued-at asc, run id asc, over queued
-- runs only.
CREATE INDEX runs_claim_order ON runs (scope_key, priority_rank DESC, queued_at, run_id) WHERE status = 'queued';
-- The sweep order: oldest lease first.
CREATE INDEX runs_lease_end ON runs (lease_until, run_id) WHERE status IN ('claimed', 'starting', 'running');
CREATE INDEX runs_by_task ON runs (task_id);

CREATE TABLE sessions (
    session_id   text PRIMARY KEY,
    daemon_id    text NOT NULL,
    agent_name   text NOT NULL,
    workspace_id text NOT NULL,
    channel      text NOT NULL,
    session_type text NOT NULL,
    state        text NOT NULL,
    prompting    boolean NOT NULL,
    capabilities text[] NOT NULL,
    created_at   timestamptz NOT NULL,
    seen_at      timestamptz NOT NULL
);

-- The scheduler-wide pause: a row present means paused.
CREATE TABLE pause (
    id        smallint PRIMARY KEY CHECK (id = 1),
    paused_by text NOT NULL,
    paused_at timestamptz NOT NULL,
    reason    text NOT NULL
);

CREATE TABLE budgets (
    run_id             text PRIMARY KEY,
    wake_count         bigint NOT NULL,
    tier               smallint NOT NULL,
    first_starved_at   timestamptz NOT NULL,
    last_wake_at       timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    spawn_requested_at timestamptz,
    starved_event_at   timestamptz
);

-- The leader lease: one row, its epoch grows with every change of leader. Its times
-- are the database's clock, so daemons' clock skew does not matter.
CREATE TABLE leader (
    id         smallint PRIMARY KEY CHECK (id = 1),
    holder     text NOT NULL,
    epoch      bigint NOT NULL,
    elected_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

-- The wake outbox: the leader writes, the hosting daemon reads (and deletes).
CREATE TABLE wakes (
    id         bigserial PRIMARY KEY,
    daemon_id  text NOT NULL,
    run_id     text NOT NULL,
    task_id    text NOT NULL,
    session_id text NOT NULL,
    reason     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX wakes_by_daemon ON wakes (daemon_id, id);
