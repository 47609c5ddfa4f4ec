CREATE INDEX events_received ON events (received_at);
