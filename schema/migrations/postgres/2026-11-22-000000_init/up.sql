-- paymux initial schema (PostgreSQL). Keep in step with ../../sqlite: same tables, same names.
-- Times are UTC. Money is BIGINT minor units beside a currency code. JSON is stored as TEXT.

CREATE TABLE checkouts (
    id TEXT PRIMARY KEY NOT NULL,
    merchant TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_checkout_id TEXT,
    status TEXT NOT NULL,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    amount_refunded BIGINT NOT NULL DEFAULT 0,
    reference TEXT,
    description TEXT,
    customer TEXT,
    success_url TEXT,
    cancel_url TEXT,
    metadata TEXT,
    items TEXT,
    redirect_url TEXT,
    client_action TEXT,
    expires_at TIMESTAMP,
    livemode BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX checkouts_merchant_id ON checkouts (merchant, id);
CREATE INDEX checkouts_provider_checkout ON checkouts (merchant, provider, provider_checkout_id);
CREATE INDEX checkouts_merchant_reference ON checkouts (merchant, reference);

CREATE TABLE webhook_receipts (
    id TEXT PRIMARY KEY NOT NULL,
    merchant TEXT NOT NULL,
    provider TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BYTEA NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    event_count INTEGER NOT NULL DEFAULT 0,
    received_at TIMESTAMP NOT NULL
);
CREATE INDEX webhook_receipts_merchant_received ON webhook_receipts (merchant, received_at);

CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    event_type TEXT NOT NULL,
    merchant TEXT NOT NULL,
    provider TEXT NOT NULL,
    provider_event_id TEXT NOT NULL,
    checkout_id TEXT REFERENCES checkouts (id),
    provider_payment_id TEXT,
    reference TEXT,
    amount BIGINT,
    currency TEXT,
    fee BIGINT,
    occurred_at TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    livemode BOOLEAN NOT NULL,
    details TEXT NOT NULL,
    receipt_id TEXT REFERENCES webhook_receipts (id)
);
CREATE UNIQUE INDEX events_provider_event ON events (merchant, provider, provider_event_id);
CREATE INDEX events_merchant_id ON events (merchant, id);
CREATE INDEX events_checkout ON events (checkout_id);
CREATE INDEX events_received ON events (received_at);

CREATE TABLE refunds (
    id TEXT PRIMARY KEY NOT NULL,
    merchant TEXT NOT NULL,
    checkout_id TEXT NOT NULL REFERENCES checkouts (id),
    provider TEXT NOT NULL,
    provider_refund_id TEXT,
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    failure_reason TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX refunds_checkout ON refunds (checkout_id);
CREATE INDEX refunds_merchant_id ON refunds (merchant, id);

CREATE TABLE idempotency_keys (
    merchant TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_method TEXT NOT NULL,
    request_path TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    locked_until TIMESTAMP,
    response_status INTEGER,
    response_body TEXT,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (merchant, idempotency_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
