-- Every gateway process sharing this store, by its heartbeat: what it runs (role, version, the
-- hash of its configuration) and when it was last seen, so that ops see from one place a node
-- that missed a reload or died.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    host TEXT NOT NULL,
    role TEXT NOT NULL,
    version TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    started_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL
);
-- Leases on the periodic jobs: the node holding an unexpired lease runs them, and another
-- takes over once a dead node's lease lapses.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    leased_until TIMESTAMP NOT NULL
);
