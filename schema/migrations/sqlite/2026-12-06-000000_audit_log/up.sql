-- The audit log: every action taken through the dashboard or the admin and endpoint APIs (who,
-- what, when, through which door, from where). Rows are only ever added. `merchant` is the
-- merchant whose objects the action touched, NULL for what concerns every merchant (a reload).
-- `detail` describes the action in words and never holds a secret or a payload value.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    merchant TEXT,
    channel TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT NOT NULL,
    client_address TEXT
);
CREATE INDEX audit_log_merchant ON audit_log (merchant, id);
