-- People and programs: workspaces, users and their memberships, browser
-- sessions, API keys and invitations. Tokens are stored as the hex SHA-256
-- of the token, never the token. Keep in step with ../sqlite/.

CREATE TABLE workspaces (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at BIGINT  NOT NULL
);
-- The config file's targets, and everything before accounts, live here.
INSERT INTO workspaces (id, name, created_at) VALUES (1, 'default', 0);
SELECT setval(pg_get_serial_sequence('workspaces', 'id'), 1);

CREATE TABLE users (
    id             BIGSERIAL PRIMARY KEY,
    username       TEXT    NOT NULL UNIQUE,   -- lower case
    email          TEXT    UNIQUE,            -- lower case
    password_hash  TEXT    NOT NULL,          -- argon2id PHC string
    epoch          BIGINT  NOT NULL DEFAULT 0, -- bumped on password change: ends sessions
    failed_logins  BIGINT  NOT NULL DEFAULT 0,
    last_failed_at BIGINT,
    created_at     BIGINT  NOT NULL
);

CREATE TABLE memberships (
    workspace_id BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL,            -- owner | admin | operator | viewer
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    id           BIGSERIAL PRIMARY KEY,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    epoch        BIGINT  NOT NULL,            -- the user's epoch when made
    created_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL             -- absolute timeout
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BIGINT  REFERENCES users (id) ON DELETE CASCADE, -- NULL: a local key
    name         TEXT    NOT NULL,
    hint         TEXT    NOT NULL,            -- prefix and last characters, to recognise it
    token_hash   TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

CREATE TABLE invites (
    id           BIGSERIAL PRIMARY KEY,
    workspace_id BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL,
    created_by   BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    used_at      BIGINT
);

-- Every object belongs to a workspace; what exists already, to the default.
ALTER TABLE targets ADD COLUMN workspace_id BIGINT  NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN workspace_id BIGINT  NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN workspace_id BIGINT  NOT NULL DEFAULT 1;
CREATE INDEX events_workspace_id ON events (workspace_id, id);
CREATE INDEX incidents_workspace_id ON incidents (workspace_id, id);
