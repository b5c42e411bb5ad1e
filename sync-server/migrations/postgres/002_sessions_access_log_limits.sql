-- Version 2: what an embedded server keeps per instance (dashboard.db's
-- sessions and access log, the rate limits in memory) kept here instead,
-- so that every instance sharing the database sees the same: a supervisor
-- signed in through one instance stays signed in through another, every
-- read is in one log, and a budget is counted once for the deployment.

-- The dashboard's sign-in sessions, keyed by the SHA-256 of the cookie's
-- id (the id itself is never stored, so a copy of the database opens no
-- session). Not keyed by team first: a request carries the cookie alone,
-- and the session is what says which team it is for. A session holds no
-- team's records, only who signed in.
CREATE TABLE dashboard_sessions (
    id_hash    TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_by_device ON dashboard_sessions (device_id);
CREATE INDEX dashboard_sessions_by_expiry ON dashboard_sessions (expires_at);

-- The access log: who read or exported which records (ids packed, 16 bytes
-- each), when and from where. A team's entries are listed together, so it
-- is keyed by the team first, like every table holding a team's data.
CREATE TABLE access_log (
    team_id    TEXT NOT NULL,
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    at         BIGINT NOT NULL,
    device_id  TEXT NOT NULL,
    person     TEXT NOT NULL,
    client     TEXT NOT NULL,
    action     TEXT NOT NULL,
    n_records  INTEGER NOT NULL,
    record_ids BYTEA NOT NULL,
    PRIMARY KEY (team_id, seq)
);
CREATE INDEX access_log_by_time ON access_log (at);

-- How many days entries are kept: one row, written by each instance at
-- start from its settings. The purge and the guard below read it.
CREATE TABLE access_log_retention (
    id   SMALLINT PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    days INTEGER NOT NULL CHECK (days >= 1)
);

-- Entries older than this (ms since the epoch) may be deleted; younger
-- ones may not. `now()` is the transaction's time: a purge and the guard
-- it trips read the same clock.
CREATE FUNCTION access_log_cutoff() RETURNS BIGINT LANGUAGE sql STABLE AS $$
    SELECT (extract(epoch FROM now()) * 1000)::BIGINT
         - coalesce((SELECT days FROM access_log_retention WHERE id = 1), 365)::BIGINT * 86400000
$$;

-- Append-only, enforced by the database rather than by convention, as in
-- dashboard.db: no entry is ever changed, none deleted before its time.
CREATE FUNCTION access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.at >= access_log_cutoff() THEN
            RAISE EXCEPTION 'the access log keeps its entries for its retention period: only older ones can be deleted';
        END IF;
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'the access log is append-only: its entries cannot be changed';
END
$$;
CREATE TRIGGER access_log_append_only BEFORE UPDATE OR DELETE ON access_log
    FOR EACH ROW EXECUTE FUNCTION access_log_append_only();
CREATE TRIGGER access_log_no_truncate BEFORE TRUNCATE ON access_log
    FOR EACH STATEMENT EXECUTE FUNCTION access_log_append_only();

-- Rate limits. UNLOGGED: written at every request, and worth nothing after
-- a crash (the database empties them then, which forgives everyone, as an
-- embedded server's restart does). Times are the database's clock, in
-- seconds since the epoch, so that instances whose clocks differ count
-- alike. Keyed by what they count, not by team: a device's bucket, and a
-- failure count per client address, per team and for the deployment.

-- Per device: a token bucket (tokens left at `at`; `granted`: whether the
-- last request took one).
CREATE UNLOGGED TABLE rate_buckets (
    device_id TEXT PRIMARY KEY,
    tokens    DOUBLE PRECISION NOT NULL,
    at        DOUBLE PRECISION NOT NULL,
    granted   BOOLEAN NOT NULL
);

-- Failed enrollment codes and dashboard sign-ins in fixed windows; keys
-- `addr:<client>`, `team:<id>`, `all`.
CREATE UNLOGGED TABLE failed_attempts (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start DOUBLE PRECISION NOT NULL
);
