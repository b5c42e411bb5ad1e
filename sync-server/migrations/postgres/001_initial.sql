-- Carnet's PostgreSQL storage, version 1: what the embedded storage keeps
-- in server.db (teams, devices, codes) and in one SQLite store per team
-- (the team's log, documents, read model, tombstones), in one database that
-- any number of server instances share.
--
-- Directory tables (teams, devices, codes) are small and looked up across
-- teams (a token names its device); every table holding a team's records is
-- keyed by the team first, and no transaction spans two teams, so that they
-- can be distributed by team (docs/deployment.md, "Past one database").

-- Full-text search in French, accents folded: "cassee" finds "cassée".
CREATE EXTENSION IF NOT EXISTS unaccent;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'carnet_french') THEN
        CREATE TEXT SEARCH CONFIGURATION carnet_french (COPY = french);
        ALTER TEXT SEARCH CONFIGURATION carnet_french
            ALTER MAPPING FOR hword, hword_part, word WITH unaccent, french_stem;
    END IF;
END
$$;

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    config     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Where each team's log stands. A push locks its team's row for the length
-- of its transaction, so that positions are assigned in commit order: a
-- puller that has seen position n never misses a change committed later
-- with a smaller one (docs/sync-protocol.md, "The team log's order").
CREATE TABLE team_logs (
    team_id TEXT PRIMARY KEY REFERENCES teams (id),
    head    BIGINT NOT NULL DEFAULT 0,
    -- Changed by a restore: devices that see another lineage re-push and
    -- re-pull (docs/backups.md).
    lineage TEXT NOT NULL
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    team_id         TEXT NOT NULL REFERENCES teams (id),
    role            TEXT NOT NULL,
    name            TEXT NOT NULL,
    token_hash      BYTEA NOT NULL UNIQUE,
    enrolled_at     BIGINT NOT NULL,
    last_seen       BIGINT,
    revoked_at      BIGINT,
    wipe_ordered_at BIGINT,
    actor           TEXT,
    revoked_reason  TEXT
);
CREATE INDEX devices_by_team ON devices (team_id, enrolled_at);
CREATE UNIQUE INDEX devices_by_actor ON devices (actor)
    WHERE actor IS NOT NULL AND revoked_at IS NULL;

CREATE TABLE codes (
    hash         BYTEA PRIMARY KEY,
    team_id      TEXT NOT NULL REFERENCES teams (id),
    role         TEXT NOT NULL,
    name         TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    device_id    TEXT,
    sealed_token BYTEA
);

-- The team's log: every change in the order the team got it; hash and
-- bytes NULL mark an erasure.
CREATE TABLE change_log (
    team_id   TEXT NOT NULL,
    seq       BIGINT NOT NULL,
    record_id BYTEA NOT NULL,
    hash      BYTEA,
    origin    TEXT NOT NULL,
    bytes     BYTEA,
    PRIMARY KEY (team_id, seq)
);
CREATE INDEX change_log_by_record ON change_log (team_id, record_id, seq);

CREATE TABLE documents (
    team_id TEXT NOT NULL,
    id      BYTEA NOT NULL,
    bytes   BYTEA NOT NULL,
    upto    BIGINT NOT NULL,
    PRIMARY KEY (team_id, id)
);

-- The read model (the core's ReadRow), as in a SQLite store.
CREATE TABLE records (
    team_id       TEXT NOT NULL,
    id            BYTEA NOT NULL,
    kind          TEXT NOT NULL,
    author        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    occurred_at   BIGINT NOT NULL,
    sector        TEXT,
    quartier      TEXT,
    status        TEXT,
    status_at     BIGINT,
    category      TEXT,
    body          TEXT,
    activity_type TEXT,
    conflicts     BIGINT NOT NULL DEFAULT 0,
    forwarded_at  BIGINT,
    fixed_at      BIGINT,
    met_known     BIGINT,
    met_new       BIGINT,
    referrals     BIGINT,
    residents_met BIGINT,
    view          TEXT NOT NULL,
    search        TSVECTOR,
    PRIMARY KEY (team_id, id)
);
CREATE INDEX records_by_time ON records (team_id, occurred_at, id);
CREATE INDEX records_by_kind_time ON records (team_id, kind, occurred_at, id);
CREATE INDEX records_by_kind_sector ON records (team_id, kind, sector, occurred_at);
CREATE INDEX records_by_kind_status ON records (team_id, kind, status, sector, occurred_at);
CREATE INDEX records_by_fix ON records (team_id, fixed_at) WHERE fixed_at IS NOT NULL;
CREATE INDEX records_by_forwarding ON records (team_id, forwarded_at) WHERE forwarded_at IS NOT NULL;
CREATE INDEX records_search ON records USING gin (search);

CREATE TABLE record_axes (
    team_id     TEXT NOT NULL,
    axis        TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    id          BYTEA NOT NULL,
    kind        TEXT NOT NULL,
    PRIMARY KEY (team_id, axis, occurred_at, id)
);
CREATE INDEX record_axes_by_record ON record_axes (team_id, id);

CREATE TABLE record_referrals (
    team_id TEXT NOT NULL,
    at      BIGINT NOT NULL,
    partner TEXT NOT NULL,
    item    TEXT NOT NULL,
    id      BYTEA NOT NULL,
    PRIMARY KEY (team_id, at, partner, item)
);
CREATE INDEX record_referrals_by_record ON record_referrals (team_id, id);

CREATE TABLE tombstones (
    team_id   TEXT NOT NULL,
    id        BYTEA NOT NULL,
    erased_at BIGINT NOT NULL,
    PRIMARY KEY (team_id, id)
);
