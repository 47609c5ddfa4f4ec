-- The reconciliation report reads a merchant's events checkout by checkout.
CREATE INDEX events_merchant_checkout ON events (merchant, checkout_id, id);
