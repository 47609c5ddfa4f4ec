-- The SHA-256 (hex) of the token a session signed in with: each request checks that it still
-- signs someone in, so revoking a key or the admin token ends its sessions at once. Sessions
-- from before have none, and sign in again.
ALTER TABLE dashboard_sessions ADD COLUMN credential_hash TEXT NOT NULL DEFAULT '';
