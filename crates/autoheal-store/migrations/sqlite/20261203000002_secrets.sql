-- The secrets vault: third-party credentials, sealed with AES-256-GCM by
-- autoheal (the key never lives here). `nonce` and `ciphertext` are hex;
-- the associated data binds each ciphertext to its workspace, kind, row and
-- key id. Keep in step with ../postgres/.
CREATE TABLE secrets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    key_id       TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    ciphertext   TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    UNIQUE (workspace_id, name)
);
