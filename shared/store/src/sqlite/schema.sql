-- The SQLite store's schema, version 1 (PRAGMA user_version). Each table mirrors one record kind
-- of the port; `*_ns` columns are nanoseconds since the Unix epoch, `body` the record as JSON.
-- Changing it means a new version and a migration step in migrate.rs, never an edit here.

CREATE TABLE links (
    referral_id TEXT NOT NULL PRIMARY KEY,
    -- UNIQUE: a CRM record belongs to one referral at most.
    crm_id      TEXT NOT NULL UNIQUE,
    version     INTEGER NOT NULL,
    body        TEXT NOT NULL
) STRICT;

CREATE TABLE cursors (
    name    TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL,
    body    TEXT NOT NULL
) STRICT;

CREATE TABLE events (
    key        TEXT NOT NULL PRIMARY KEY,
    expires_ns INTEGER NOT NULL,
    -- Claimed and not yet done until then (NULL: done).
    held_until_ns INTEGER
) STRICT;
CREATE INDEX events_by_expiry ON events (expires_ns);

CREATE TABLE retries (
    id     TEXT NOT NULL PRIMARY KEY,
    state  TEXT NOT NULL CHECK (state IN ('pending', 'dead')),
    due_ns INTEGER NOT NULL,
    body   TEXT NOT NULL
) STRICT;
CREATE INDEX retries_by_due ON retries (state, due_ns);

CREATE TABLE leases (
    name       TEXT NOT NULL PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_ns INTEGER NOT NULL
) STRICT;
