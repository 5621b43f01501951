-- Docker containers chosen through the API: auto-heal on (whatever their
-- labels) or off (even when labelled). No row: the labels decide.
-- Keep in step with ../sqlite/.
CREATE TABLE container_choices (
    workspace_id BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    container    TEXT    NOT NULL,
    autoheal     BOOLEAN NOT NULL,
    updated_at   BIGINT NOT NULL,
    updated_by   TEXT    NOT NULL,
    PRIMARY KEY (workspace_id, container)
);
