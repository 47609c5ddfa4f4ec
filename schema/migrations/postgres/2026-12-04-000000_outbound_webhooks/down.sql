DROP TABLE webhook_attempts;
DROP TABLE webhook_messages;
DROP TABLE outbound_events;
DROP TABLE webhook_endpoints;
