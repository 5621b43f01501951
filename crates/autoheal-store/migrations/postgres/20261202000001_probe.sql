-- One row, rewritten by the readiness probe: a write that must reach the
-- disk, so a full disk or a stuck lock shows in /ready.
CREATE TABLE store_probe (
    id INTEGER PRIMARY KEY,
    at BIGINT NOT NULL
);
