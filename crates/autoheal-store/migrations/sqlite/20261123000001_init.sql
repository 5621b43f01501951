-- autoheal store schema, SQLite dialect. Times are Unix milliseconds (INTEGER),
-- JSON is stored as TEXT. Keep in step with ../postgres/.

-- A target's definition as configured or discovered.
CREATE TABLE targets (
    name       TEXT    PRIMARY KEY NOT NULL,
    kind       TEXT    NOT NULL,
    spec       TEXT    NOT NULL,          -- JSON
    created_at INTEGER NOT NULL
);

-- The engine snapshot of a target, written on every phase change.
CREATE TABLE target_state (
    name       TEXT    PRIMARY KEY NOT NULL,
    phase      TEXT    NOT NULL,
    snapshot   TEXT    NOT NULL,          -- JSON
    updated_at INTEGER NOT NULL
);

-- Raw observations; pruned by retention.
CREATE TABLE check_results (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    target     TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    status     TEXT    NOT NULL,          -- up | degraded | down
    latency_ms INTEGER,
    detail     TEXT    NOT NULL
);
CREATE INDEX check_results_target_at ON check_results (target, at);
CREATE INDEX check_results_at ON check_results (at);

-- Hourly counts per target, maintained in the same transaction as each raw
-- insert; never pruned, so uptime over long ranges stays cheap and exact.
CREATE TABLE check_rollups (
    target   TEXT    NOT NULL,
    hour     INTEGER NOT NULL,            -- start of the hour, Unix ms
    up       INTEGER NOT NULL DEFAULT 0,
    degraded INTEGER NOT NULL DEFAULT 0,
    down     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (target, hour)
);

CREATE TABLE incidents (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    target            TEXT    NOT NULL,
    opened_at         INTEGER NOT NULL,
    closed_at         INTEGER,
    reason            TEXT    NOT NULL,
    resolution        TEXT,
    quarantine_reason TEXT
);
CREATE INDEX incidents_target_id ON incidents (target, id);
CREATE INDEX incidents_open_target ON incidents (target) WHERE closed_at IS NULL;
CREATE INDEX incidents_closed_at ON incidents (closed_at) WHERE closed_at IS NOT NULL;

CREATE TABLE attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    rung        INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    outcome     TEXT,
    detail      TEXT,
    dry_run     INTEGER NOT NULL DEFAULT 0 -- 0 | 1
);
CREATE INDEX attempts_incident_id ON attempts (incident_id, id);

-- The audit log. No foreign keys: events outlive pruned incidents and
-- deleted targets.
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    target      TEXT,
    incident_id INTEGER,
    kind        TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    data        TEXT    NOT NULL          -- JSON
);
CREATE INDEX events_target_id ON events (target, id);
CREATE INDEX events_incident_id ON events (incident_id, id);
CREATE INDEX events_at ON events (at);
