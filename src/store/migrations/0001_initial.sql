-- 0001: Ratchet's first schema (docs/store.md describes every table).
-- Shared by both backends: {{ID}} is the integer primary key column type; lines between
-- "-- @sqlite" (or "-- @postgres") and "-- @end" are for that backend only.
-- Times are BIGINT milliseconds since the epoch (UTC); JSON is TEXT, kept byte for byte;
-- flags are INTEGER 0/1; priorities are 1 LOW .. 4 CRITICAL.

CREATE TABLE tasks (
    id {{ID}},
    uuid TEXT NOT NULL,
    name TEXT NOT NULL,
    label TEXT,
    description TEXT,
    version TEXT NOT NULL DEFAULT '0.0.0',
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    source TEXT NOT NULL DEFAULT 'api' CHECK (source IN ('registry', 'api')),
    path TEXT,
    source_code TEXT NOT NULL DEFAULT '',
    input_schema TEXT,
    output_schema TEXT,
    metadata TEXT,
    checksum TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    validated_at BIGINT
);
CREATE UNIQUE INDEX ux_tasks_uuid ON tasks (uuid);
CREATE UNIQUE INDEX ux_tasks_name ON tasks (name);
CREATE INDEX ix_tasks_enabled ON tasks (enabled);
CREATE INDEX ix_tasks_source ON tasks (source);
CREATE INDEX ix_tasks_created_at ON tasks (created_at);
CREATE INDEX ix_tasks_updated_at ON tasks (updated_at);

CREATE TABLE task_versions (
    id {{ID}},
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    source_code TEXT NOT NULL DEFAULT '',
    input_schema TEXT,
    output_schema TEXT,
    metadata TEXT,
    checksum TEXT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_task_versions_task_version ON task_versions (task_id, version);
CREATE INDEX ix_task_versions_created_at ON task_versions (created_at);

CREATE TABLE schedules (
    id {{ID}},
    uuid TEXT NOT NULL,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    cron_expression TEXT NOT NULL,
    timezone TEXT,
    input TEXT NOT NULL DEFAULT '{}',
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    max_attempts INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    output_destinations TEXT,
    next_run_at BIGINT,
    last_run_at BIGINT,
    last_fire_at BIGINT,
    execution_count BIGINT NOT NULL DEFAULT 0,
    max_executions BIGINT CHECK (max_executions IS NULL OR max_executions >= 0),
    misfire_policy TEXT NOT NULL DEFAULT 'skip' CHECK (misfire_policy IN ('skip', 'run_once')),
    metadata TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX ux_schedules_uuid ON schedules (uuid);
CREATE INDEX ix_schedules_task_id ON schedules (task_id);
CREATE INDEX ix_schedules_name ON schedules (name);
CREATE INDEX ix_schedules_due ON schedules (enabled, next_run_at);
CREATE INDEX ix_schedules_last_run_at ON schedules (last_run_at);

-- One row per job; each attempt of a job is a row of executions (its latest execution is the
-- one with the highest id). Indexes here are kept few: each one is written on every state
-- change of the hot path.
CREATE TABLE jobs (
    id {{ID}},
    uuid TEXT NOT NULL,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    schedule_id BIGINT REFERENCES schedules (id) ON DELETE SET NULL,
    priority INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 4),
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'processing', 'completed', 'failed', 'cancelled', 'retrying')),
    input TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    run_at BIGINT NOT NULL,
    queued_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    lease_owner TEXT,
    lease_until BIGINT,
    unique_key TEXT,
    concurrency_key TEXT,
    concurrency_limit INTEGER CHECK (concurrency_limit IS NULL OR concurrency_limit >= 1),
    timeout_ms BIGINT CHECK (timeout_ms IS NULL OR timeout_ms >= 0),
    retry_policy TEXT,
    last_error TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    output_destinations TEXT,
    metadata TEXT,
    CHECK (concurrency_key IS NULL OR concurrency_limit IS NOT NULL)
);
CREATE UNIQUE INDEX ux_jobs_uuid ON jobs (uuid);
-- Claiming: the due jobs in claim order, and only those.
CREATE INDEX ix_jobs_due ON jobs (priority DESC, run_at, id) WHERE status IN ('queued', 'retrying');
-- Dedup: one active job per unique key.
CREATE UNIQUE INDEX ux_jobs_unique_key ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status IN ('queued', 'processing', 'retrying');
-- Concurrency limits count processing jobs per key; lease recovery reads the (few)
-- processing jobs through ix_jobs_status.
CREATE INDEX ix_jobs_running_key ON jobs (concurrency_key)
    WHERE status = 'processing' AND concurrency_key IS NOT NULL;
CREATE INDEX ix_jobs_status ON jobs (status, queued_at);
CREATE INDEX ix_jobs_task_id ON jobs (task_id, queued_at);
CREATE INDEX ix_jobs_schedule_id ON jobs (schedule_id) WHERE schedule_id IS NOT NULL;
-- @postgres
-- Every claim and finish leaves dead row versions behind: vacuum and analyze queue tables
-- after 2% of their rows changed, not PostgreSQL's default 20%/10%.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
-- @end
CREATE INDEX ix_jobs_queued_at ON jobs (queued_at);

CREATE TABLE executions (
    id {{ID}},
    uuid TEXT NOT NULL,
    task_id BIGINT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    job_id BIGINT REFERENCES jobs (id) ON DELETE SET NULL,
    task_version TEXT,
    input TEXT NOT NULL DEFAULT '{}',
    output TEXT,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    error_type TEXT,
    error_message TEXT,
    error_details TEXT,
    attempt INTEGER NOT NULL DEFAULT 1,
    queued_at BIGINT NOT NULL,
    started_at BIGINT,
    completed_at BIGINT,
    duration_ms BIGINT,
    worker_id TEXT,
    node_id TEXT,
    http_request_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_executions_uuid ON executions (uuid);
CREATE INDEX ix_executions_job_id ON executions (job_id);
CREATE INDEX ix_executions_task_id ON executions (task_id, queued_at);
CREATE INDEX ix_executions_status ON executions (status, queued_at);
CREATE INDEX ix_executions_queued_at ON executions (queued_at);
-- @postgres
ALTER TABLE executions SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02);
-- @end

-- Console output of a run, one row per line, in order.
CREATE TABLE execution_logs (
    execution_id BIGINT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    ts BIGINT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (execution_id, seq)
-- @sqlite
) WITHOUT ROWID;
-- @end
-- @postgres
);
-- @end

-- HTTP requests a run made; entry is the full request and response (a HAR entry).
CREATE TABLE execution_http (
    execution_id BIGINT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    status INTEGER,
    duration_ms BIGINT,
    entry TEXT,
    PRIMARY KEY (execution_id, seq)
-- @sqlite
) WITHOUT ROWID;
-- @end
-- @postgres
);
-- @end

-- Every attempt to deliver a job's output to one of its destinations.
CREATE TABLE delivery_results (
    id {{ID}},
    job_id BIGINT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    execution_id BIGINT REFERENCES executions (id) ON DELETE SET NULL,
    destination_index INTEGER NOT NULL DEFAULT 0,
    destination_type TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    success INTEGER NOT NULL CHECK (success IN (0, 1)),
    status_code INTEGER,
    duration_ms BIGINT,
    size_bytes BIGINT,
    error_message TEXT,
    response_info TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX ix_delivery_results_job_id ON delivery_results (job_id);
CREATE INDEX ix_delivery_results_execution_id ON delivery_results (execution_id)
    WHERE execution_id IS NOT NULL;
CREATE INDEX ix_delivery_results_created_at ON delivery_results (created_at);

CREATE TABLE api_keys (
    id {{ID}},
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    expires_at BIGINT,
    revoked_at BIGINT
);
CREATE UNIQUE INDEX ux_api_keys_name ON api_keys (name);
CREATE UNIQUE INDEX ux_api_keys_prefix ON api_keys (prefix);

-- Nodes of a cluster (ratchet serve / ratchet worker processes) and their heartbeats.
CREATE TABLE nodes (
    id {{ID}},
    node_id TEXT NOT NULL,
    hostname TEXT,
    pid BIGINT,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    status TEXT NOT NULL DEFAULT 'active',
    is_scheduler INTEGER NOT NULL DEFAULT 0 CHECK (is_scheduler IN (0, 1)),
    info TEXT
);
CREATE UNIQUE INDEX ux_nodes_node_id ON nodes (node_id);
CREATE INDEX ix_nodes_heartbeat_at ON nodes (heartbeat_at);

CREATE TABLE workers (
    id {{ID}},
    worker_id TEXT NOT NULL,
    node_id TEXT NOT NULL REFERENCES nodes (node_id) ON DELETE CASCADE,
    pid BIGINT,
    status TEXT NOT NULL DEFAULT 'starting',
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    runs BIGINT NOT NULL DEFAULT 0,
    failures BIGINT NOT NULL DEFAULT 0,
    rss_bytes BIGINT,
    current_jobs TEXT
);
CREATE UNIQUE INDEX ux_workers_worker_id ON workers (worker_id);
CREATE INDEX ix_workers_node_id ON workers (node_id);
CREATE INDEX ix_workers_status ON workers (status);
