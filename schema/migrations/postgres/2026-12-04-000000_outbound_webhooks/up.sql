-- Outbound webhooks (Standard Webhooks). A merchant's endpoints; the body each event is
-- delivered with, fixed when the event is stored; the message each event becomes for each
-- endpoint (the outbox: written in the event's own transaction, its id the `webhook-id` every
-- attempt carries); and every attempt to send one.
CREATE TABLE webhook_endpoints (
    id TEXT PRIMARY KEY NOT NULL,
    merchant TEXT NOT NULL,
    url TEXT NOT NULL,
    description TEXT,
    -- A JSON array of event types, or ["*"].
    enabled_events TEXT NOT NULL,
    status TEXT NOT NULL,
    disabled_reason TEXT,
    secret TEXT NOT NULL,
    -- After a rotation, the old secret signs too until `previous_secret_until`.
    previous_secret TEXT,
    previous_secret_until TIMESTAMP,
    -- Since when every attempt failed; cleared by a delivery.
    failing_since TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_merchant ON webhook_endpoints (merchant, id);

CREATE TABLE outbound_events (
    id TEXT PRIMARY KEY NOT NULL,
    merchant TEXT NOT NULL,
    event_type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE webhook_messages (
    id TEXT PRIMARY KEY NOT NULL,
    merchant TEXT NOT NULL,
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id TEXT NOT NULL REFERENCES outbound_events (id),
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP,
    leased_until TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX webhook_messages_endpoint_event ON webhook_messages (endpoint_id, event_id);
-- The senders find the pending messages that are due.
CREATE INDEX webhook_messages_due ON webhook_messages (status, next_attempt_at);

CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY NOT NULL,
    message_id TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    response_status INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL,
    attempted_at TIMESTAMP NOT NULL,
    next_attempt_at TIMESTAMP
);
CREATE INDEX webhook_attempts_endpoint ON webhook_attempts (endpoint_id, id);
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id);
