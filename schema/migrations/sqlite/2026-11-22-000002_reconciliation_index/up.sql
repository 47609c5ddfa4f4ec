-- The reconciliation report reads a period page by page in time order: a merchant's events by
-- received time, its checkouts by creation time (with what the status counts need, so that
-- they come from the index alone), and its refused or unconfirmed webhook receipts.
CREATE INDEX events_merchant_received ON events (merchant, received_at, id);
CREATE INDEX checkouts_merchant_created ON checkouts (merchant, created_at, provider, currency, status);
CREATE INDEX webhook_receipts_merchant_outcome ON webhook_receipts (merchant, outcome, received_at);
