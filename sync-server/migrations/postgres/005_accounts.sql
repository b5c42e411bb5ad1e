-- Version 5: supervisors' own accounts for the dashboard (see server.db's
-- migration 004 for the columns' meaning), their invitations by hash only,
-- and whether a team requires a second factor. Dashboard sessions now name
-- an account: the device sessions there were are ended.
CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    team_id        TEXT NOT NULL REFERENCES teams (id),
    name           TEXT NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT,
    totp_secret    TEXT,
    totp_last_step BIGINT,
    created_at     BIGINT NOT NULL,
    disabled_at    BIGINT,
    actor          TEXT NOT NULL UNIQUE
);
CREATE INDEX accounts_by_team ON accounts (team_id, created_at);
CREATE TABLE invitations (
    hash       BYTEA PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX invitations_by_account ON invitations (account_id);
ALTER TABLE teams ADD COLUMN require_totp BOOLEAN NOT NULL DEFAULT FALSE;
DELETE FROM dashboard_sessions;
DROP INDEX dashboard_sessions_by_device;
ALTER TABLE dashboard_sessions RENAME COLUMN device_id TO account_id;
ALTER TABLE dashboard_sessions ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE dashboard_sessions ADD COLUMN actor TEXT NOT NULL DEFAULT '';
-- The password was right, the TOTP code is awaited: opens no page.
ALTER TABLE dashboard_sessions ADD COLUMN pending BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX dashboard_sessions_by_account ON dashboard_sessions (account_id);
