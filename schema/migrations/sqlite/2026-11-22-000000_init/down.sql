DROP TABLE idempotency_keys;
DROP TABLE refunds;
DROP TABLE events;
DROP TABLE webhook_receipts;
DROP TABLE checkouts;
