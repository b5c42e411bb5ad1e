//! The embedded implementation of [`Storage`]: `<data>/server.db` holds
//! teams, devices and enrollment codes; `<data>/teams/<team_id>.db` is each
//! team's log, a plain (unencrypted) [`carnet_core::Store`] whose change log
//! sequence is the team's sequence. Pushes go through [`Store::apply`], which
//! is one verified IMMEDIATE transaction with `synchronous=FULL`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use carnet_core::edit::Action;
use carnet_core::photo::{BlobStatus, PhotoHash};
use carnet_core::store::{ApplyReport, Batch, Page, Query, RecordDetails};
use carnet_core::{RecordId, Store, TeamConfig, now_ms};
use carnet_dashboard::TeamReads;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::blobs::{BlobStore, FilesBlobStore};
use super::secrets::{
    REPLAY_WINDOW_MS, TOUCH_EVERY_MS, code_hash, is_team_id, new_code, normalise_code, seal,
    token_hash,
};
use super::{Account, Device, Enrolled, IssuedCode, Role, Storage};
use super::{Result, StorageError};

/// `server.db`'s migrations, in order (see [`carnet_core::migrate`]): never
/// edit a shipped one, add a file.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/001_initial.sql"),
    include_str!("../../migrations/002_device_actors.sql"),
    include_str!("../../migrations/003_lineage.sql"),
    include_str!("../../migrations/004_accounts.sql"),
];

/// Team logs kept open at once. Each holds a writing connection, a few
/// reading ones and a checkpointer thread: a thousand teams must not mean a
/// thousand open stores. The least recently used is closed once its last
/// request ends (requests hold it by an `Arc`); reopening one costs a few
/// milliseconds.
const OPEN_TEAMS: usize = 64;

/// SQLite storage under a data directory.
pub struct SqliteStorage {
    dir: PathBuf,
    db: Mutex<Connection>,
    teams: Mutex<lru::LruCache<String, Arc<TeamLog>>>,
    /// Photos' bytes, under `<dir>/blobs`.
    blobs: Arc<FilesBlobStore>,
}

/// A team's log: one writing connection (a [`Store`] serialises its calls,
/// and one writer keeps the sequence in commit order) and a few reading ones,
/// so that pulls and exports run side by side and never wait behind a push
/// (WAL readers see committed transactions only).
struct TeamLog {
    writer: Arc<Store>,
    readers: Vec<Arc<Store>>,
    next: AtomicUsize,
}

impl TeamLog {
    fn reader(&self) -> &Arc<Store> {
        &self.readers[self.next.fetch_add(1, Ordering::Relaxed) % self.readers.len()]
    }
}

/// Creates `dir` (and its parents) if needed, and makes it owner-only.
fn private_dir(dir: &Path) -> Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| {
        StorageError::Config(format!(
            "cannot create the data directory {}: {e}",
            dir.display()
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
            StorageError::Config(format!(
                "cannot make {} private (chmod 700): {e}; is it owned by the server's user?",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

/// Creates `path` empty and owner-only if it does not exist, so that SQLite
/// opens a file with that mode rather than creating one per the umask; an
/// existing file is tightened to owner-only.
fn private_file(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Makes every file directly in `dir` owner-only (files left readable by
/// an older server or a copy).
fn tighten_files(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_file() && meta.permissions().mode() & 0o077 != 0 {
                let mode = meta.permissions().mode() & 0o700;
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode))?;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// Binds `actor` (already normalised) to `device_id`, unless another device
/// in good standing holds it.
fn set_actor(conn: &Connection, device_id: &str, actor: &str) -> Result<()> {
    let holder: Option<String> = conn
        .query_row(
            "SELECT id FROM devices WHERE actor = ?1 AND revoked_at IS NULL AND id <> ?2",
            params![actor, device_id],
            |r| r.get(0),
        )
        .optional()?;
    if holder.is_some() {
        return Err(StorageError::Conflict(
            "this store is already enrolled as another device; a supervisor must revoke that device first, or enroll from a fresh store"
                .into(),
        ));
    }
    conn.execute(
        "UPDATE devices SET actor = ?2 WHERE id = ?1",
        params![device_id, actor],
    )?;
    Ok(())
}

fn device_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Device> {
    let role: String = r.get(2)?;
    Ok(Device {
        id: r.get(0)?,
        team_id: r.get(1)?,
        role: role.parse().unwrap_or(Role::Mediator),
        name: r.get(3)?,
        enrolled_at: r.get(4)?,
        last_seen: r.get(5)?,
        revoked_at: r.get(6)?,
        wipe_ordered_at: r.get(7)?,
        actor: r.get(8)?,
        revoked_reason: r.get(9)?,
    })
}

const ACCOUNT_COLUMNS: &str = "id, team_id, name, email, password_hash, totp_secret, totp_last_step, created_at, disabled_at, actor";

fn account_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get(0)?,
        team_id: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        password_hash: r.get(4)?,
        totp_secret: r.get(5)?,
        totp_last_step: r.get(6)?,
        created_at: r.get(7)?,
        disabled_at: r.get(8)?,
        actor: r.get(9)?,
    })
}

fn account_where(conn: &Connection, clause: &str, arg: &str) -> Result<Option<Account>> {
    Ok(conn
        .query_row(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {clause}"),
            [arg],
            account_from_row,
        )
        .optional()?)
}

/// The account of an unused, unexpired invitation whose account is not
/// disabled.
fn invited(conn: &Connection, token: &str, now: i64) -> Result<Option<Account>> {
    let account_id: Option<String> = conn
        .query_row(
            "SELECT account_id FROM invitations WHERE hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            params![token_hash(token).as_slice(), now],
            |r| r.get(0),
        )
        .optional()?;
    let Some(id) = account_id else {
        return Ok(None);
    };
    Ok(account_where(conn, "id = ?1", &id)?.filter(|a| a.disabled_at.is_none()))
}

const DEVICE_COLUMNS: &str = "id, team_id, role, name, enrolled_at, last_seen, revoked_at, wipe_ordered_at, actor, revoked_reason";

impl SqliteStorage {
    /// What the team's log says of a blob (a photo's full image or
    /// thumbnail, by its own hash): named by a live record, erased, or
    /// unknown; what the blob routes check before taking or serving bytes.
    pub fn photo_blob_status(
        &self,
        team_id: &str,
        blob: &carnet_core::photo::PhotoHash,
    ) -> Result<carnet_core::photo::BlobStatus> {
        Ok(self.team_log(team_id)?.reader().photo_blob_status(*blob)?)
    }

    /// Opens (or creates) the storage in `dir`. The directory and `teams/`
    /// are made owner-only (0700, tightened if they exist) and every
    /// database file owner-only (0600) before SQLite opens it (SQLite gives
    /// the `-wal` and `-shm` files the database's mode): they hold token
    /// hashes and residents' records, which no other account on the machine
    /// has any business reading.
    pub fn open(dir: &Path) -> Result<SqliteStorage> {
        private_dir(dir)?;
        private_dir(&dir.join("teams"))?;
        tighten_files(dir)?;
        tighten_files(&dir.join("teams"))?;
        let server_db = dir.join("server.db");
        private_file(&server_db)?;
        let mut conn = Connection::open(&server_db)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 5000;",
        )?;
        carnet_core::migrate::apply(&mut conn, MIGRATIONS).map_err(|e| match e {
            carnet_core::Error::NewerSchema { found, .. } => StorageError::Config(format!(
                "{} was written by a newer carnet-server (schema {found}); update the server",
                server_db.display()
            )),
            other => other.into(),
        })?;
        Ok(SqliteStorage {
            dir: dir.to_path_buf(),
            blobs: Arc::new(FilesBlobStore::new(&dir.join("blobs"))),
            db: Mutex::new(conn),
            teams: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(OPEN_TEAMS).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock rolled its transaction back.
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn team_log(&self, team_id: &str) -> Result<Arc<TeamLog>> {
        if let Some(s) = self
            .teams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(team_id)
        {
            return Ok(s.clone());
        }
        let config: Option<String> = self
            .db()
            .query_row("SELECT config FROM teams WHERE id = ?1", [team_id], |r| {
                r.get(0)
            })
            .optional()?;
        let config = config.ok_or_else(|| StorageError::NotFound("no such team".into()))?;
        if !is_team_id(team_id) {
            return Err(StorageError::NotFound("no such team".into()));
        }
        let mut teams = self.teams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = teams.get(team_id) {
            return Ok(s.clone());
        }
        let path = self.dir.join("teams").join(format!("{team_id}.db"));
        private_file(&path)?;
        let writer = Store::open_unencrypted(&path)?;
        let config: TeamConfig = serde_json::from_str(&config)
            .map_err(|e| StorageError::Internal(format!("team configuration unreadable: {e}")))?;
        if writer.config() != config {
            writer.set_config(&config)?;
        }
        let n = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 8);
        let readers = (0..n)
            .map(|_| Store::open_unencrypted(&path).map(Arc::new))
            .collect::<carnet_core::Result<_>>()?;
        let log = Arc::new(TeamLog {
            writer: Arc::new(writer),
            readers,
            next: AtomicUsize::new(0),
        });
        // An evicted log still serving a request stays open until it ends;
        // a second writer on the same file meanwhile is safe (SQLite lets
        // one write transaction at a time, and positions follow commits).
        teams.put(team_id.to_string(), log.clone());
        Ok(log)
    }

    /// Redeems a code for a phone or CLI (replayable within the window).
    fn redeem(&self, code: &str, device_name: &str, actor: Option<&str>) -> Result<Enrolled> {
        let norm = normalise_code(code);
        if norm.len() != 16 {
            return Err(StorageError::InvalidCode);
        }
        let hash = code_hash(&norm);
        let now = now_ms();
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE codes SET sealed_token = NULL WHERE sealed_token IS NOT NULL AND used_at < ?1",
            [now - REPLAY_WINDOW_MS],
        )?;
        type CodeRow = (
            String,
            String,
            Option<String>,
            i64,
            Option<i64>,
            Option<String>,
            Option<Vec<u8>>,
        );
        let row: Option<CodeRow> = tx
            .query_row(
                "SELECT team_id, role, name, expires_at, used_at, device_id, sealed_token FROM codes WHERE hash = ?1",
                [hash.as_slice()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)),
            )
            .optional()?;
        let Some((team_id, role, code_name, expires_at, used_at, used_by, sealed)) = row else {
            return Err(StorageError::InvalidCode);
        };
        let role: Role = role
            .parse()
            .map_err(|_| StorageError::Internal("bad role in codes".into()))?;
        let config_json: String =
            tx.query_row("SELECT config FROM teams WHERE id = ?1", [&team_id], |r| {
                r.get(0)
            })?;
        let config: TeamConfig = serde_json::from_str(&config_json)
            .map_err(|e| StorageError::Internal(format!("team configuration unreadable: {e}")))?;
        if used_at.is_some() {
            // A retry of an enrollment whose answer was lost: same token again,
            // as long as the device is still in good standing.
            let (Some(device_id), Some(sealed)) = (used_by, sealed) else {
                return Err(StorageError::InvalidCode);
            };
            let sealed: [u8; 32] = sealed.try_into().map_err(|_| StorageError::InvalidCode)?;
            let token = seal(&sealed, &norm);
            let device = Self::device_in_team(&tx, &team_id, &device_id)?;
            let Some(device) =
                device.filter(|d| d.revoked_at.is_none() && d.wipe_ordered_at.is_none())
            else {
                return Err(StorageError::InvalidCode);
            };
            if let Some(actor) = actor
                && device.actor.as_deref() != Some(actor)
            {
                // The device that lost the answer may have started over with
                // a fresh store: rebind while the device has never been used.
                if device.actor.is_some() && device.last_seen.is_some() {
                    return Err(StorageError::Conflict(
                        "this code already enrolled a device from another store; ask a supervisor for a new code"
                            .into(),
                    ));
                }
                set_actor(&tx, &device_id, actor)?;
                tx.commit()?;
            }
            return Ok(Enrolled {
                token: hex::encode(token),
                device_id,
                team_id,
                role,
                config,
            });
        }
        if expires_at <= now {
            return Err(StorageError::InvalidCode);
        }
        let name = match device_name.trim() {
            "" => code_name.unwrap_or_else(|| "device".into()),
            n => n.to_string(),
        };
        if name.chars().count() > 100 {
            return Err(StorageError::BadRequest(
                "name: at most 100 characters".into(),
            ));
        }
        let token: [u8; 32] = rand::random();
        let token_hex = hex::encode(token);
        let device_id = uuid::Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO devices (id, team_id, role, name, token_hash, enrolled_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![device_id, team_id, role.code(), name, token_hash(&token_hex).as_slice(), now],
        )?;
        if let Some(actor) = actor {
            set_actor(&tx, &device_id, actor)?;
        }
        let sealed = seal(&token, &norm);
        tx.execute(
            "UPDATE codes SET used_at = ?2, device_id = ?3, sealed_token = ?4 WHERE hash = ?1",
            params![hash.as_slice(), now, device_id, sealed.as_slice()],
        )?;
        tx.commit()?;
        Ok(Enrolled {
            token: token_hex,
            device_id,
            team_id,
            role,
            config,
        })
    }

    fn device_in_team(conn: &Connection, team_id: &str, device_id: &str) -> Result<Option<Device>> {
        Ok(conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1 AND team_id = ?2"),
                params![device_id, team_id],
                device_from_row,
            )
            .optional()?)
    }
}

impl Storage for SqliteStorage {
    fn create_team(&self, name: &str, config: &TeamConfig) -> Result<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(StorageError::BadRequest(
                "team name: must be 1 to 200 characters".into(),
            ));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let json =
            serde_json::to_string(config).map_err(|e| StorageError::Internal(e.to_string()))?;
        self.db().execute(
            "INSERT INTO teams (id, name, config, created_at, lineage) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, name, json, now_ms(), super::new_lineage()],
        )?;
        // Create the team's log now, so that a missing file later means damage.
        self.team_log(&id)?;
        Ok(id)
    }

    fn issue_code(
        &self,
        team_id: &str,
        role: Role,
        name: Option<&str>,
        ttl_ms: i64,
    ) -> Result<IssuedCode> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        if name.is_some_and(|n| n.chars().count() > 100) {
            return Err(StorageError::BadRequest(
                "name: at most 100 characters".into(),
            ));
        }
        let conn = self.db();
        let exists = conn
            .query_row("SELECT 1 FROM teams WHERE id = ?1", [team_id], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Err(StorageError::NotFound("no such team".into()));
        }
        let code = new_code();
        let now = now_ms();
        let expires_at = now.saturating_add(ttl_ms.max(1));
        conn.execute(
            "INSERT INTO codes (hash, team_id, role, name, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![code_hash(&normalise_code(&code)).as_slice(), team_id, role.code(), name, now, expires_at],
        )?;
        Ok(IssuedCode { code, expires_at })
    }

    fn create_account(&self, team_id: &str, name: &str, email: &str) -> Result<Account> {
        let name = super::account_name(name)?;
        let email = super::normalise_email(email)?;
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let team: Option<String> = tx
            .query_row("SELECT id FROM teams WHERE id = ?1", [team_id], |r| {
                r.get(0)
            })
            .optional()?;
        if team.is_none() {
            return Err(StorageError::NotFound("no such team".into()));
        }
        if account_where(&tx, "email = ?1", &email)?.is_some() {
            return Err(StorageError::Conflict(
                "an account already signs in with this e-mail address".into(),
            ));
        }
        let id = uuid::Uuid::now_v7().to_string();
        tx.execute(
            "INSERT INTO accounts (id, team_id, name, email, created_at, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, team_id, name, email, now_ms(), super::new_actor()],
        )?;
        let account = account_where(&tx, "id = ?1", &id)?
            .ok_or_else(|| StorageError::Internal("account not written".into()))?;
        tx.commit()?;
        Ok(account)
    }

    fn account(&self, account_id: &str) -> Result<Option<Account>> {
        account_where(&self.db(), "id = ?1", account_id)
    }

    fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let Ok(email) = super::normalise_email(email) else {
            return Ok(None);
        };
        account_where(&self.db(), "email = ?1", &email)
    }

    fn accounts(&self, team_id: &str) -> Result<Vec<Account>> {
        let conn = self.db();
        let mut stmt = conn.prepare(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE team_id = ?1 ORDER BY created_at, id"
        ))?;
        let rows = stmt.query_map([team_id], account_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn issue_invitation(&self, account_id: &str, ttl_ms: i64) -> Result<IssuedCode> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = now_ms();
        let expires_at = now.saturating_add(ttl_ms);
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if account_where(&tx, "id = ?1", account_id)?.is_none() {
            return Err(StorageError::NotFound("no such account".into()));
        }
        tx.execute(
            "UPDATE invitations SET used_at = ?2 WHERE account_id = ?1 AND used_at IS NULL",
            params![account_id, now],
        )?;
        tx.execute(
            "INSERT INTO invitations (hash, account_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash(&token).as_slice(), account_id, now, expires_at],
        )?;
        tx.commit()?;
        Ok(IssuedCode {
            code: token,
            expires_at,
        })
    }

    fn invitation(&self, token: &str) -> Result<Option<Account>> {
        invited(&self.db(), token, now_ms())
    }

    fn accept_invitation(
        &self,
        token: &str,
        password_hash: &str,
        totp_secret: Option<&str>,
    ) -> Result<Account> {
        let now = now_ms();
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let Some(account) = invited(&tx, token, now)? else {
            return Err(StorageError::InvalidCode);
        };
        tx.execute(
            "UPDATE invitations SET used_at = ?2 WHERE hash = ?1",
            params![token_hash(token).as_slice(), now],
        )?;
        tx.execute(
            "UPDATE accounts SET password_hash = ?2, totp_secret = ?3, totp_last_step = NULL WHERE id = ?1",
            params![account.id, password_hash, totp_secret],
        )?;
        let account = account_where(&tx, "id = ?1", &account.id)?
            .ok_or_else(|| StorageError::Internal("account vanished".into()))?;
        tx.commit()?;
        Ok(account)
    }

    fn set_password(&self, account_id: &str, password_hash: &str) -> Result<()> {
        let n = self.db().execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            params![account_id, password_hash],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound("no such account".into()));
        }
        Ok(())
    }

    fn set_totp(&self, account_id: &str, secret: Option<&str>) -> Result<()> {
        let n = self.db().execute(
            "UPDATE accounts SET totp_secret = ?2, totp_last_step = NULL WHERE id = ?1",
            params![account_id, secret],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound("no such account".into()));
        }
        Ok(())
    }

    fn use_totp_step(&self, account_id: &str, step: i64) -> Result<bool> {
        let n = self.db().execute(
            "UPDATE accounts SET totp_last_step = ?2
             WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
            params![account_id, step],
        )?;
        Ok(n == 1)
    }

    fn disable_account(&self, team_id: &str, account_id: &str) -> Result<Option<Account>> {
        let conn = self.db();
        conn.execute(
            "UPDATE accounts SET disabled_at = coalesce(disabled_at, ?3) WHERE id = ?1 AND team_id = ?2",
            params![account_id, team_id, now_ms()],
        )?;
        Ok(account_where(&conn, "id = ?1", account_id)?.filter(|a| a.team_id == team_id))
    }

    fn require_totp(&self, team_id: &str) -> Result<bool> {
        let on: Option<bool> = self
            .db()
            .query_row(
                "SELECT require_totp FROM teams WHERE id = ?1",
                [team_id],
                |r| r.get(0),
            )
            .optional()?;
        on.ok_or_else(|| StorageError::NotFound("no such team".into()))
    }

    fn set_require_totp(&self, team_id: &str, on: bool) -> Result<()> {
        let n = self.db().execute(
            "UPDATE teams SET require_totp = ?2 WHERE id = ?1",
            params![team_id, on],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound("no such team".into()));
        }
        Ok(())
    }

    fn teams_without_accounts(&self) -> Result<Vec<String>> {
        let conn = self.db();
        let mut stmt = conn.prepare(
            "SELECT DISTINCT d.team_id FROM devices d
             WHERE d.role = 'supervisor' AND d.revoked_at IS NULL AND d.wipe_ordered_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.team_id = d.team_id)
             ORDER BY d.team_id",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn redeem_code(&self, code: &str, device_name: &str, actor: Option<&str>) -> Result<Enrolled> {
        let actor = actor.map(super::parse_actor).transpose()?;
        self.redeem(code, device_name, actor.as_deref())
    }

    fn bind_actor(&self, device_id: &str, actor: &str) -> Result<()> {
        let actor = super::parse_actor(actor)?;
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let bound: Option<Option<String>> = tx
            .query_row(
                "SELECT actor FROM devices WHERE id = ?1",
                [device_id],
                |r| r.get(0),
            )
            .optional()?;
        match bound {
            None => return Err(StorageError::NotFound("no such device".into())),
            Some(Some(a)) if a == actor => return Ok(()),
            Some(Some(_)) => {
                return Err(StorageError::Conflict(
                    "this device is bound to another store's actor; enroll the store as a new device"
                        .into(),
                ));
            }
            Some(None) => {}
        }
        set_actor(&tx, device_id, &actor)?;
        tx.commit()?;
        Ok(())
    }

    fn actor_names(&self, team_id: &str) -> Result<HashMap<String, String>> {
        let conn = self.db();
        let mut stmt = conn.prepare(
            "SELECT actor, name FROM devices WHERE team_id = ?1 AND actor IS NOT NULL ORDER BY enrolled_at, id",
        )?;
        let rows = stmt.query_map([team_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let mut names = HashMap::new();
        for row in rows {
            let (actor, name): (String, String) = row?;
            // Oldest first: a newer device with the same actor overwrites.
            names.insert(actor, name);
        }
        let mut stmt = conn.prepare("SELECT actor, name FROM accounts WHERE team_id = ?1")?;
        for row in stmt.query_map([team_id], |r| Ok((r.get(0)?, r.get(1)?)))? {
            let (actor, name): (String, String) = row?;
            names.insert(actor, name);
        }
        Ok(names)
    }

    fn rotate_token(&self, device_id: &str) -> Result<String> {
        let token: [u8; 32] = rand::random();
        let token_hex = hex::encode(token);
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            "UPDATE devices SET token_hash = ?2 WHERE id = ?1 AND revoked_at IS NULL AND wipe_ordered_at IS NULL",
            params![device_id, token_hash(&token_hex).as_slice()],
        )?;
        if changed == 0 {
            return Err(StorageError::Unauthorized);
        }
        // A retried enrollment must not hand out the old token any more.
        tx.execute(
            "UPDATE codes SET sealed_token = NULL WHERE device_id = ?1",
            [device_id],
        )?;
        tx.commit()?;
        Ok(token_hex)
    }

    fn revoke_inactive(&self, unseen_for_ms: i64) -> Result<Vec<Device>> {
        if unseen_for_ms <= 0 {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let cutoff = now.saturating_sub(unseen_for_ms);
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids: Vec<String> = tx
            .prepare(
                "SELECT id FROM devices WHERE revoked_at IS NULL AND coalesce(last_seen, enrolled_at) < ?1",
            )?
            .query_map([cutoff], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let mut revoked = Vec::with_capacity(ids.len());
        for id in &ids {
            tx.execute(
                "UPDATE devices SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1",
                params![id, now, super::REVOKED_INACTIVE],
            )?;
            revoked.push(tx.query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"),
                [id],
                device_from_row,
            )?);
        }
        tx.commit()?;
        Ok(revoked)
    }

    fn authenticate(&self, token: &str) -> Result<Option<Device>> {
        Ok(self
            .db()
            .prepare_cached(&format!(
                "SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = ?1"
            ))?
            .query_row([token_hash(token).as_slice()], device_from_row)
            .optional()?)
    }

    fn touch(&self, device_id: &str) -> Result<()> {
        let now = now_ms();
        self.db()
            .prepare_cached("UPDATE devices SET last_seen = ?2 WHERE id = ?1 AND (last_seen IS NULL OR last_seen < ?3)")?
            .execute(params![device_id, now, now - TOUCH_EVERY_MS])?;
        Ok(())
    }

    fn devices(&self, team_id: &str) -> Result<Vec<Device>> {
        let conn = self.db();
        let mut stmt = conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE team_id = ?1 ORDER BY enrolled_at, id"
        ))?;
        let rows = stmt
            .query_map([team_id], device_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    fn revoke(&self, team_id: &str, device_id: &str) -> Result<Option<Device>> {
        let conn = self.db();
        conn.execute(
            "UPDATE devices SET revoked_reason = CASE WHEN revoked_at IS NULL THEN ?4 ELSE revoked_reason END,
                                revoked_at = coalesce(revoked_at, ?3)
             WHERE id = ?1 AND team_id = ?2",
            params![device_id, team_id, now_ms(), super::REVOKED_BY_SUPERVISOR],
        )?;
        Self::device_in_team(&conn, team_id, device_id)
    }

    fn order_wipe(&self, team_id: &str, device_id: &str) -> Result<Option<Device>> {
        let conn = self.db();
        conn.execute(
            "UPDATE devices SET wipe_ordered_at = coalesce(wipe_ordered_at, ?3) WHERE id = ?1 AND team_id = ?2",
            params![device_id, team_id, now_ms()],
        )?;
        Self::device_in_team(&conn, team_id, device_id)
    }

    fn push(
        &self,
        team_id: &str,
        device_id: &str,
        actor: Option<&str>,
        batch: &Batch,
    ) -> Result<ApplyReport> {
        Ok(self
            .team_log(team_id)?
            .writer
            .apply_pushed(device_id, actor, batch)?)
    }

    fn act(
        &self,
        team_id: &str,
        origin: &str,
        actor: &str,
        author: &str,
        id: RecordId,
        action: &Action,
    ) -> Result<ApplyReport> {
        Ok(self
            .team_log(team_id)?
            .writer
            .act_as(origin, actor, author, id, action)?)
    }

    fn team_ids(&self) -> Result<Vec<String>> {
        Ok(self
            .db()
            .prepare_cached("SELECT id FROM teams ORDER BY id")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?)
    }

    fn pull(&self, team_id: &str, device_id: &str, after: u64, max_bytes: usize) -> Result<Batch> {
        Ok(self
            .team_log(team_id)?
            .reader()
            .changes_since(after, max_bytes, Some(device_id))?)
    }

    fn log_head(&self, team_id: &str) -> Result<u64> {
        Ok(self.team_log(team_id)?.reader().log_head()?)
    }

    fn lineage(&self, team_id: &str) -> Result<String> {
        let lineage: Option<Option<String>> = self
            .db()
            .prepare_cached("SELECT lineage FROM teams WHERE id = ?1")?
            .query_row([team_id], |r| r.get(0))
            .optional()?;
        match lineage {
            None => Err(StorageError::NotFound("no such team".into())),
            Some(Some(l)) => Ok(l),
            // Migration 3 gave every team one, and teams are created with one.
            Some(None) => Err(StorageError::Internal("a team without a lineage".into())),
        }
    }

    fn renew_lineages(&self) -> Result<usize> {
        let mut conn = self.db();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids: Vec<String> = tx
            .prepare("SELECT id FROM teams")?
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        for id in &ids {
            tx.execute(
                "UPDATE teams SET lineage = ?2 WHERE id = ?1",
                params![id, super::new_lineage()],
            )?;
        }
        tx.commit()?;
        Ok(ids.len())
    }

    fn records(&self, team_id: &str, query: &Query) -> Result<Page> {
        Ok(self.team_log(team_id)?.reader().list(query)?)
    }

    fn record(&self, team_id: &str, id: RecordId) -> Result<RecordDetails> {
        Ok(self.team_log(team_id)?.reader().details(id)?)
    }

    /// One of the team's reading connections: a long export never holds
    /// up a push.
    fn team_reads(&self, team_id: &str) -> Result<Arc<dyn TeamReads>> {
        Ok(self.team_log(team_id)?.reader().clone())
    }

    fn blobs(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    fn photo_blob_status(&self, team_id: &str, blob: &PhotoHash) -> Result<BlobStatus> {
        Ok(self.team_log(team_id)?.reader().photo_blob_status(*blob)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_normalised_and_sealed_tokens_unseal() {
        let code = new_code();
        assert_eq!(code.len(), 19);
        let typed = code.to_lowercase().replace('-', " ");
        assert_eq!(normalise_code(&typed), normalise_code(&code));
        let token: [u8; 32] = rand::random();
        assert_eq!(seal(&seal(&token, "ABC"), "ABC"), token);
    }

    #[test]
    fn a_first_schema_database_gains_actors_and_revocation_reasons() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("server.db")).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute_batch(
                "INSERT INTO teams VALUES ('t', 't', '{}', 0);
                 INSERT INTO devices (id, team_id, role, name, token_hash, enrolled_at, revoked_at)
                     VALUES ('a', 't', 'mediator', 'a', x'00', 0, 5), ('b', 't', 'mediator', 'b', x'01', 0, NULL);
                 PRAGMA user_version = 1;",
            )
            .unwrap();
        }
        let s = SqliteStorage::open(dir.path()).unwrap();
        let devices = s.devices("t").unwrap();
        assert_eq!(devices[0].revoked_reason.as_deref(), Some("supervisor"));
        assert_eq!(devices[1].revoked_reason, None);
        assert!(devices.iter().all(|d| d.actor.is_none()));
        s.bind_actor("b", &"ab".repeat(16)).unwrap();
        assert_eq!(s.devices("t").unwrap()[1].actor, Some("ab".repeat(16)));
    }

    #[test]
    fn teams_have_their_own_lineage_which_renewal_changes() {
        let dir = tempfile::tempdir().unwrap();
        {
            // Two teams of a server older than lineages.
            let mut conn = Connection::open(dir.path().join("server.db")).unwrap();
            carnet_core::migrate::apply(&mut conn, &MIGRATIONS[..2]).unwrap();
            conn.execute_batch(
                "INSERT INTO teams VALUES ('a', 'a', '{}', 0), ('b', 'b', '{}', 0);",
            )
            .unwrap();
        }
        let s = SqliteStorage::open(dir.path()).unwrap();
        let c = s.create_team("c", &TeamConfig::carcassonne()).unwrap();
        let before: Vec<String> = ["a", "b", c.as_str()]
            .iter()
            .map(|t| s.lineage(t).unwrap())
            .collect();
        assert!(before.iter().all(|l| l.len() == 32));
        assert!(before[0] != before[1] && before[1] != before[2]);
        assert_eq!(s.renew_lineages().unwrap(), 3);
        for (t, old) in ["a", "b", c.as_str()].iter().zip(&before) {
            assert_ne!(&s.lineage(t).unwrap(), old);
        }
        assert!(matches!(s.lineage("nope"), Err(StorageError::NotFound(_))));
    }

    #[test]
    fn a_server_db_from_a_newer_server_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("server.db")).unwrap();
            conn.execute_batch("PRAGMA user_version = 7;").unwrap();
        }
        let err = SqliteStorage::open(dir.path()).err().unwrap();
        assert!(matches!(err, StorageError::Config(_)), "{err}");
        assert!(err.to_string().contains("update the server"), "{err}");
        let conn = Connection::open(dir.path().join("server.db")).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 7);
    }

    #[test]
    fn open_team_logs_are_bounded_and_an_evicted_one_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let teams: Vec<String> = (0..OPEN_TEAMS + 6)
            .map(|i| {
                s.create_team(&format!("t{i}"), &TeamConfig::carcassonne())
                    .unwrap()
            })
            .collect();
        for t in &teams {
            assert_eq!(s.log_head(t).unwrap(), 0);
        }
        assert_eq!(s.teams.lock().unwrap().len(), OPEN_TEAMS);
        // The first teams were closed; they open again on demand.
        assert!(!s.teams.lock().unwrap().contains(&teams[0]));
        assert_eq!(s.log_head(&teams[0]).unwrap(), 0);
        assert!(s.teams.lock().unwrap().contains(&teams[0]));
    }

    #[test]
    fn a_code_enrolls_once_and_a_retry_gets_the_same_token() {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStorage::open(dir.path()).unwrap();
        let team = s.create_team("t", &TeamConfig::carcassonne()).unwrap();
        let code = s
            .issue_code(&team, Role::Mediator, None, 60_000)
            .unwrap()
            .code;
        let a = s.redeem_code(&code, "phone", None).unwrap();
        let b = s.redeem_code(&code, "phone", None).unwrap();
        assert_eq!(a.token, b.token);
        assert_eq!(s.authenticate(&a.token).unwrap().unwrap().id, a.device_id);
        s.revoke(&team, &a.device_id).unwrap();
        assert!(matches!(
            s.redeem_code(&code, "phone", None),
            Err(StorageError::InvalidCode)
        ));
        let expired = s
            .issue_code(&team, Role::Mediator, None, 60_000)
            .unwrap()
            .code;
        // As if its day had passed, without waiting.
        s.db()
            .execute("UPDATE codes SET expires_at = 0 WHERE used_at IS NULL", [])
            .unwrap();
        assert!(matches!(
            s.redeem_code(&expired, "x", None),
            Err(StorageError::InvalidCode)
        ));
    }
}
