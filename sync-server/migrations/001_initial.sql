-- server.db, version 1: teams, their devices and enrollment codes.
CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    config     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    team_id         TEXT NOT NULL REFERENCES teams (id),
    role            TEXT NOT NULL,
    name            TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    enrolled_at     INTEGER NOT NULL,
    last_seen       INTEGER,
    revoked_at      INTEGER,
    wipe_ordered_at INTEGER
);
CREATE INDEX devices_by_team ON devices (team_id, enrolled_at);
-- Codes by hash only; `sealed_token` (the token XOR a key derived from the
-- code) lets a retried enrollment get its token back, and is cleared once
-- the replay window has passed.
CREATE TABLE codes (
    hash         BLOB PRIMARY KEY,
    team_id      TEXT NOT NULL REFERENCES teams (id),
    role         TEXT NOT NULL,
    name         TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    device_id    TEXT,
    sealed_token BLOB
) WITHOUT ROWID;
