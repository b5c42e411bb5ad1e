-- dashboard.db, version 1: sign-in sessions and the access log (who, action,
-- ids). `IF NOT EXISTS`: files from before versioning already have them.
CREATE TABLE IF NOT EXISTS sessions (
    id_hash    TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    name       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS access_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    team_id    TEXT NOT NULL,
    who        TEXT NOT NULL,
    action     TEXT NOT NULL,
    n_records  INTEGER NOT NULL,
    record_ids BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS access_log_by_team ON access_log (team_id, at);
CREATE INDEX IF NOT EXISTS access_log_by_time ON access_log (at);
