-- Dashboard sessions, kept in the store so that every node behind a load balancer accepts them
-- and signing out ends them everywhere. The cookie holds a random token; only its SHA-256 is
-- kept. `merchant` is NULL for ops (the admin token), else the one merchant the session sees.
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    merchant TEXT,
    csrf_token TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX dashboard_sessions_expires_at ON dashboard_sessions (expires_at);
