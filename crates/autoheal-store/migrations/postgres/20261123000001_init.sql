-- autoheal store schema, PostgreSQL dialect. Times are Unix milliseconds
-- (BIGINT), JSON is JSONB. Keep in step with ../sqlite/.

-- A target's definition as configured or discovered.
CREATE TABLE targets (
    name       TEXT   PRIMARY KEY,
    kind       TEXT   NOT NULL,
    spec       JSONB  NOT NULL,
    created_at BIGINT NOT NULL
);

-- The engine snapshot of a target, written on every phase change.
CREATE TABLE target_state (
    name       TEXT   PRIMARY KEY,
    phase      TEXT   NOT NULL,
    snapshot   JSONB  NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Raw observations; pruned by retention.
CREATE TABLE check_results (
    id         BIGSERIAL PRIMARY KEY,
    target     TEXT   NOT NULL,
    at         BIGINT NOT NULL,
    status     TEXT   NOT NULL,           -- up | degraded | down
    latency_ms BIGINT,
    detail     TEXT   NOT NULL
);
CREATE INDEX check_results_target_at ON check_results (target, at);
CREATE INDEX check_results_at ON check_results (at);

-- Hourly counts per target, maintained in the same transaction as each raw
-- insert; never pruned, so uptime over long ranges stays cheap and exact.
CREATE TABLE check_rollups (
    target   TEXT   NOT NULL,
    hour     BIGINT NOT NULL,             -- start of the hour, Unix ms
    up       BIGINT NOT NULL DEFAULT 0,
    degraded BIGINT NOT NULL DEFAULT 0,
    down     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (target, hour)
);

CREATE TABLE incidents (
    id                BIGSERIAL PRIMARY KEY,
    target            TEXT   NOT NULL,
    opened_at         BIGINT NOT NULL,
    closed_at         BIGINT,
    reason            TEXT   NOT NULL,
    resolution        TEXT,
    quarantine_reason TEXT
);
CREATE INDEX incidents_target_id ON incidents (target, id);
CREATE INDEX incidents_open_target ON incidents (target) WHERE closed_at IS NULL;
CREATE INDEX incidents_closed_at ON incidents (closed_at) WHERE closed_at IS NOT NULL;

CREATE TABLE attempts (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT  NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    rung        INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    started_at  BIGINT  NOT NULL,
    finished_at BIGINT,
    outcome     TEXT,
    detail      TEXT,
    dry_run     BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX attempts_incident_id ON attempts (incident_id, id);

-- The audit log. No foreign keys: events outlive pruned incidents and
-- deleted targets.
CREATE TABLE events (
    id          BIGSERIAL PRIMARY KEY,
    at          BIGINT NOT NULL,
    target      TEXT,
    incident_id BIGINT,
    kind        TEXT   NOT NULL,
    message     TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    data        JSONB  NOT NULL
);
CREATE INDEX events_target_id ON events (target, id);
CREATE INDEX events_incident_id ON events (incident_id, id);
CREATE INDEX events_at ON events (at);
