-- People and programs: workspaces, users and their memberships, browser
-- sessions, API keys and invitations. Tokens are stored as the hex SHA-256
-- of the token, never the token. Keep in step with ../postgres/.

CREATE TABLE workspaces (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
-- The config file's targets, and everything before accounts, live here.
INSERT INTO workspaces (id, name, created_at) VALUES (1, 'default', 0);

CREATE TABLE users (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    username       TEXT    NOT NULL UNIQUE,   -- lower case
    email          TEXT    UNIQUE,            -- lower case
    password_hash  TEXT    NOT NULL,          -- argon2id PHC string
    epoch          INTEGER NOT NULL DEFAULT 0, -- bumped on password change: ends sessions
    failed_logins  INTEGER NOT NULL DEFAULT 0,
    last_failed_at INTEGER,
    created_at     INTEGER NOT NULL
);

CREATE TABLE memberships (
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         TEXT    NOT NULL,            -- owner | admin | operator | viewer
    PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash   TEXT    NOT NULL UNIQUE,
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    epoch        INTEGER NOT NULL,            -- the user's epoch when made
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL             -- absolute timeout
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      INTEGER REFERENCES users (id) ON DELETE CASCADE, -- NULL: a local key
    name         TEXT    NOT NULL,
    hint         TEXT    NOT NULL,            -- prefix and last characters, to recognise it
    token_hash   TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, id);

CREATE TABLE invites (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id INTEGER NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    token_hash   TEXT    NOT NULL UNIQUE,
    role         TEXT    NOT NULL,
    created_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER
);

-- Every object belongs to a workspace; what exists already, to the default.
ALTER TABLE targets ADD COLUMN workspace_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE incidents ADD COLUMN workspace_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE events ADD COLUMN workspace_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX events_workspace_id ON events (workspace_id, id);
CREATE INDEX incidents_workspace_id ON incidents (workspace_id, id);
