-- server.db, version 4: supervisors' own accounts for the dashboard (a
-- device token or an enrollment code no longer opens it). The e-mail is
-- stored trimmed and lowercased, unique across the deployment (it is what
-- a person signs in with); the password as an argon2id PHC string, NULL
-- until an invitation is accepted; the TOTP secret (base32) NULL unless
-- enrolled, and the last 30-second step a code was accepted for, so that
-- a code is accepted once. `actor`: the automerge actor (32 lowercase hex)
-- the account's changes to records are signed with.
CREATE TABLE accounts (
    id             TEXT PRIMARY KEY,
    team_id        TEXT NOT NULL REFERENCES teams (id),
    name           TEXT NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT,
    totp_secret    TEXT,
    totp_last_step INTEGER,
    created_at     INTEGER NOT NULL,
    disabled_at    INTEGER,
    actor          TEXT NOT NULL UNIQUE
);
CREATE INDEX accounts_by_team ON accounts (team_id, created_at);
-- Invitations (first password, or a reset) by the SHA-256 of their token
-- only: a copy of server.db opens nothing.
CREATE TABLE invitations (
    hash       BLOB PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX invitations_by_account ON invitations (account_id);
ALTER TABLE teams ADD COLUMN require_totp INTEGER NOT NULL DEFAULT 0;
