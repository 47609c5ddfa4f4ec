-- Routing: which providers a checkout went through, in order (a JSON array of provider ids,
-- the last one being `checkouts.provider`), and, on an idempotency key whose request ended
-- with an unknown outcome at a provider, the providers tried so far, so that a retry under
-- that key goes back to the same provider instead of failing over.
ALTER TABLE checkouts ADD COLUMN providers_tried TEXT;
ALTER TABLE idempotency_keys ADD COLUMN providers_tried TEXT;
