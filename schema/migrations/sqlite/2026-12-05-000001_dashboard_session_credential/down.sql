ALTER TABLE dashboard_sessions DROP COLUMN credential_hash;
