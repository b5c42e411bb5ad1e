-- dashboard.db, version 3: a session names a supervisor's account, no
-- longer a device (device tokens stopped opening the dashboard): the
-- device sessions there were are ended. `pending`: the password was
-- right, the TOTP code is awaited (such a session opens no page).
DROP TABLE sessions;
CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY,
    team_id    TEXT NOT NULL,
    account_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    actor      TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    pending    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX sessions_by_account ON sessions (account_id);
