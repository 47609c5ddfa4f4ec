-- Receipts keep the body's length and SHA-256 beside its bytes, which for a rejected webhook
-- are only the first 4 KiB and for a redelivery none (`duplicate_of` points at the receipt
-- that holds them); an unconfirmed success keeps the checkout it named. Checkouts add up the
-- payments they received. Events say who recorded them: the provider's webhook, a lookup at
-- the provider, or paymux itself (an expiry).
ALTER TABLE webhook_receipts ADD COLUMN body_length BIGINT NOT NULL DEFAULT 0;
ALTER TABLE webhook_receipts ADD COLUMN body_sha256 TEXT;
ALTER TABLE webhook_receipts ADD COLUMN duplicate_of TEXT;
ALTER TABLE webhook_receipts ADD COLUMN checkout_id TEXT;
UPDATE webhook_receipts SET body_length = octet_length(body);
-- The retention job deletes old rejected receipts.
CREATE INDEX webhook_receipts_outcome_received ON webhook_receipts (outcome, received_at);

ALTER TABLE checkouts ADD COLUMN amount_received BIGINT NOT NULL DEFAULT 0;
UPDATE checkouts SET amount_received = amount
    WHERE status IN ('succeeded', 'partially_refunded', 'refunded');
-- The expiry job finds the payable checkouts past their expiry time.
CREATE INDEX checkouts_status_expires ON checkouts (status, expires_at);

ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT 'provider';
UPDATE events SET source = 'provider_lookup' WHERE receipt_id IS NULL;
