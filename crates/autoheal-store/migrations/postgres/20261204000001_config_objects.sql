-- Objects made through the management API (targets, actions, groups and
-- the policy defaults), each the table the config file would hold, as JSON
-- sealed by autoheal like a secret (a check's headers or an action's URL
-- may hold credentials). `version` grows by one at each write.
-- Keep in step with ../sqlite/.
CREATE TABLE config_objects (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    section      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    version      BIGINT NOT NULL,
    key_id       TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    ciphertext   TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT    NOT NULL,
    UNIQUE (workspace_id, section, name)
);

-- Incidents a person has taken on, and who.
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT;
ALTER TABLE incidents ADD COLUMN acknowledged_at BIGINT;

-- Answers to writes sent with an Idempotency-Key, replayed to a retry of
-- the same request (sealed: an answer may hold a key shown once).
CREATE TABLE idempotency_keys (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    principal    TEXT    NOT NULL,
    idem_key     TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status       INTEGER NOT NULL,
    key_id       TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    ciphertext   TEXT    NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (workspace_id, principal, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
