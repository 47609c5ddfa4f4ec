ALTER TABLE idempotency_keys DROP COLUMN providers_tried;
ALTER TABLE checkouts DROP COLUMN providers_tried;
