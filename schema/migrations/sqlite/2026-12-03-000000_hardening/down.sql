ALTER TABLE events DROP COLUMN source;
DROP INDEX checkouts_status_expires;
ALTER TABLE checkouts DROP COLUMN amount_received;
DROP INDEX webhook_receipts_outcome_received;
ALTER TABLE webhook_receipts DROP COLUMN checkout_id;
ALTER TABLE webhook_receipts DROP COLUMN duplicate_of;
ALTER TABLE webhook_receipts DROP COLUMN body_sha256;
ALTER TABLE webhook_receipts DROP COLUMN body_length;
