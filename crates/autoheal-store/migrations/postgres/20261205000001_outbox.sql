-- The notification outbox (issue 12): a notification is written in the
-- same transaction as the state change that causes it; the router turns
-- it into one delivery per channel; workers claim deliveries under a
-- lease and record every try. Times are Unix ms. Keep in step with
-- ../sqlite/.

-- One thing to tell people. `id` is the stable event id (a UUID) every
-- message carries so receivers can dedupe. `incident_id` has no foreign
-- key: a notification outlives its pruned incident. `payload` is the
-- rendered facts as JSON text, read whole by the sender.
CREATE TABLE notifications (
    id           TEXT    PRIMARY KEY,
    workspace_id BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL,
    target       TEXT,
    incident_id  BIGINT,
    severity     TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    routed_at    BIGINT               -- NULL until the router has handed it on
);
CREATE INDEX notifications_unrouted ON notifications (created_at, id) WHERE routed_at IS NULL;
CREATE INDEX notifications_created_at ON notifications (created_at);

-- One notification to one channel (a named object of the workspace: no
-- foreign key). At most one per (notification, channel): routing twice
-- makes nothing twice.
CREATE TABLE deliveries (
    id              BIGSERIAL PRIMARY KEY,
    notification_id TEXT    NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    workspace_id    BIGINT  NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    channel         TEXT    NOT NULL,
    state           TEXT    NOT NULL
                    CHECK (state IN ('pending', 'sent', 'dead', 'cancelled')),
    tries           BIGINT  NOT NULL DEFAULT 0,   -- tries made (expired leases count)
    next_at         BIGINT  NOT NULL,             -- pending: due from then on
    lease_until     BIGINT,                      -- a worker holds it until then
    leased_by       TEXT,
    last_error      TEXT,
    created_at      BIGINT  NOT NULL,
    sent_at         BIGINT,
    ended_at        BIGINT,                      -- when it became sent, dead or cancelled
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_at, id) WHERE state = 'pending';
CREATE INDEX deliveries_workspace ON deliveries (workspace_id, id);
CREATE INDEX deliveries_channel ON deliveries (workspace_id, channel) WHERE state = 'pending';
CREATE INDEX deliveries_ended_at ON deliveries (ended_at) WHERE ended_at IS NOT NULL;

-- Every try of a delivery, numbered from 1. `expired`: the worker's lease
-- ran out before it recorded a result (written by the claim that took
-- the delivery over).
CREATE TABLE delivery_tries (
    delivery_id BIGINT  NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    try_no      BIGINT  NOT NULL,
    at          BIGINT  NOT NULL,
    worker      TEXT    NOT NULL,
    outcome     TEXT    NOT NULL
                CHECK (outcome IN ('sent', 'retry', 'gone', 'rejected', 'expired')),
    status      BIGINT,                          -- the receiver's status code
    detail      TEXT    NOT NULL,                 -- at most 1 KiB
    duration_ms BIGINT,                          -- NULL when expired
    PRIMARY KEY (delivery_id, try_no)
);
