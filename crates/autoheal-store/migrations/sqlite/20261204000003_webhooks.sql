-- Alert webhooks: a URL with a secret token per target, for external
-- monitors. The token is stored as its SHA-256 only. `source` and
-- `filter` are JSON (which sender, which states act).
-- Keep in step with ../postgres/.
CREATE TABLE webhooks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    target       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    source       TEXT    NOT NULL,
    filter       TEXT    NOT NULL,
    -- The signature scheme the sender signs with (github, stripe,
    -- standard_webhooks); its secret is in the vault as webhook-<id>.
    signature    TEXT,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX webhooks_target ON webhooks (workspace_id, target);
