-- The secrets vault: third-party credentials, sealed with AES-256-GCM by
-- autoheal (the key never lives here). `nonce` and `ciphertext` are hex;
-- the associated data binds each ciphertext to its workspace, kind, row and
-- key id. Keep in step with ../sqlite/.
CREATE TABLE secrets (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    key_id       TEXT    NOT NULL,
    nonce        TEXT    NOT NULL,
    ciphertext   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL,
    UNIQUE (workspace_id, name)
);
