//! The PostgreSQL implementation of [`Storage`]: every team, device, code
//! and team log in one database that any number of server instances share,
//! none of them keeping anything a request depends on (a cache of team
//! configurations, bounded, is all they hold).
//!
//! Pushes run the core's apply logic ([`carnet_core::store::apply_pushed_to`])
//! over [`PgLog`], which only executes what the core decides, in one
//! transaction that first locks the team's row of `team_logs`: positions are
//! assigned in commit order, per team. Reads answer the core's queries
//! ([`Query::list_sql`], [`Query::count_sql`]) in the PostgreSQL dialect.
//!
//! The schema is `migrations/postgres/`; see its first file for the keys.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use carnet_core::Record;
use carnet_core::edit::Action;
use carnet_core::model::ContactState;
use carnet_core::photo::{BlobStatus, PhotoHash, Variant};
use carnet_core::store::{
    ActivityRow, ApplyReport, Batch, ChangeHash, Count, Dialect, Entry, Fix, GroupBy, LogStore,
    NewChange, OpenRow, Page, Payload, Query, ReadRow, RecordDetails, SqlArg, details_from_doc,
    logged_hash, open_statuses_sql, record_from_row, without_erased_photos,
};
use carnet_core::{RecordId, TeamConfig, now_ms};
use carnet_dashboard::{DashboardError, TeamReads};
use postgres::types::ToSql;
use postgres::{GenericClient, NoTls, Row, Statement, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use super::blobs::{BlobStore, Collected, PgBlobStore};
use super::postgres_state::{Round, run_alone};
use super::secrets::{
    REPLAY_WINDOW_MS, TOUCH_EVERY_MS, code_hash, is_team_id, new_code, normalise_code, seal,
    token_hash,
};
use super::{Account, Device, Enrolled, IssuedCode, Role, Storage};
use super::{Result, StorageError};

/// The schema's migrations, in order: never edit a shipped one, add a file.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/postgres/001_initial.sql"),
    include_str!("../../migrations/postgres/002_sessions_access_log_limits.sql"),
    include_str!("../../migrations/postgres/003_photos.sql"),
    include_str!("../../migrations/postgres/004_blobs.sql"),
    include_str!("../../migrations/postgres/005_accounts.sql"),
];

/// Team configurations kept per instance (they change only with a team's
/// creation): bounded, so that a thousand teams are not a thousand entries.
const CONFIG_CACHE: usize = 256;

/// A pool of connections to the database.
pub type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// PostgreSQL storage.
pub struct PostgresStorage {
    pool: Pool,
    configs: Mutex<lru::LruCache<String, TeamConfig>>,
    blobs: Arc<PgBlobStore>,
}

/// `migrate-storage` and the shared state (`postgres_state`) speak to the
/// database directly and answer with the server's error.
impl From<postgres::Error> for crate::ServerError {
    fn from(e: postgres::Error) -> Self {
        crate::ServerError::Storage(Box::new(e))
    }
}

impl From<r2d2::Error> for crate::ServerError {
    fn from(e: r2d2::Error) -> Self {
        crate::ServerError::Storage(Box::new(e))
    }
}

/// The core's error for a failure of the database under a [`PgLog`].
fn backend(e: postgres::Error) -> carnet_core::Error {
    carnet_core::Error::Backend(Box::new(e))
}

fn dashboard(e: StorageError) -> DashboardError {
    match e {
        StorageError::Core(c) => DashboardError::Core(c),
        other => DashboardError::Core(carnet_core::Error::Backend(Box::new(other))),
    }
}

impl PostgresStorage {
    /// Connects to `url` with a pool of `pool_size` connections and brings
    /// the schema up to date (under an advisory lock: instances starting
    /// together migrate once).
    pub fn connect(url: &str, pool_size: u32) -> Result<PostgresStorage> {
        let config: postgres::Config = url.parse().map_err(|e| {
            StorageError::Config(format!(
                "database: not a PostgreSQL URL ({e}); expected postgres://user@host:port/database"
            ))
        })?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(pool_size.max(1))
            .connection_timeout(std::time::Duration::from_secs(30))
            .build(manager)
            .map_err(|e| {
                StorageError::Config(format!(
                    "database: cannot connect to PostgreSQL ({e}); is it running, and does the URL name an existing database and a user allowed in?"
                ))
            })?;
        migrate(&mut *pool.get()?)?;
        Ok(PostgresStorage {
            blobs: Arc::new(PgBlobStore::new(pool.clone())),
            pool,
            configs: Mutex::new(lru::LruCache::new(
                NonZeroUsize::new(CONFIG_CACHE).unwrap_or(NonZeroUsize::MIN),
            )),
        })
    }

    /// The pool (a handle on it: clones share the connections), for what
    /// else instances keep in the database: sessions, the access log, rate
    /// limits (`postgres_state`).
    pub fn pool(&self) -> Pool {
        self.pool.clone()
    }

    /// A connection of the pool (also `migrate-storage`'s, which writes
    /// every table).
    pub(crate) fn conn(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>> {
        Ok(self.pool.get()?)
    }

    /// The team's configuration; [`StorageError::NotFound`] for no such team.
    /// Runs `f` on the team's log in one transaction, the team's counter
    /// locked until commit: writes to one team take turns, and positions
    /// follow commit order (pushes and supervisors' changes alike).
    fn in_team_log(
        &self,
        team_id: &str,
        f: impl FnOnce(&mut PgLog<'_, '_>, &TeamConfig) -> carnet_core::Result<ApplyReport>,
    ) -> Result<ApplyReport> {
        let config = self.config(team_id)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let head: i64 = tx
            .query_opt(
                "SELECT head FROM team_logs WHERE team_id = $1 FOR UPDATE",
                &[&team_id],
            )?
            .ok_or_else(|| StorageError::NotFound("no such team".into()))?
            .get(0);
        let mut log = PgLog {
            tx: &mut tx,
            team: team_id,
            head,
            rows: RowWriter::default(),
        };
        let report = f(&mut log, &config)?;
        let head = log.head;
        tx.execute(
            "UPDATE team_logs SET head = $2 WHERE team_id = $1",
            &[&team_id, &head],
        )?;
        tx.commit()?;
        Ok(report)
    }

    fn config(&self, team_id: &str) -> Result<TeamConfig> {
        if let Some(c) = self
            .configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(team_id)
        {
            return Ok(c.clone());
        }
        if !is_team_id(team_id) {
            return Err(StorageError::NotFound("no such team".into()));
        }
        let row = self
            .conn()?
            .query_opt("SELECT config FROM teams WHERE id = $1", &[&team_id])?
            .ok_or_else(|| StorageError::NotFound("no such team".into()))?;
        let config: TeamConfig = serde_json::from_str(row.get::<_, &str>(0))
            .map_err(|e| StorageError::Internal(format!("team configuration unreadable: {e}")))?;
        self.configs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(team_id.to_string(), config.clone());
        Ok(config)
    }

    fn redeem(&self, code: &str, device_name: &str, actor: Option<&str>) -> Result<Enrolled> {
        let norm = normalise_code(code);
        if norm.len() != 16 {
            return Err(StorageError::InvalidCode);
        }
        let hash = code_hash(&norm);
        let now = now_ms();
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute(
            "UPDATE codes SET sealed_token = NULL WHERE sealed_token IS NOT NULL AND used_at < $1",
            &[&(now - REPLAY_WINDOW_MS)],
        )?;
        // Locked: two redemptions of one code take turns.
        let Some(row) = tx.query_opt(
            "SELECT team_id, role, name, expires_at, used_at, device_id, sealed_token
             FROM codes WHERE hash = $1 FOR UPDATE",
            &[&hash.as_slice()],
        )?
        else {
            return Err(StorageError::InvalidCode);
        };
        let team_id: String = row.get(0);
        let role: Role = row
            .get::<_, &str>(1)
            .parse()
            .map_err(|_| StorageError::Internal("bad role in codes".into()))?;
        let code_name: Option<String> = row.get(2);
        let expires_at: i64 = row.get(3);
        let used_at: Option<i64> = row.get(4);
        let used_by: Option<String> = row.get(5);
        let sealed: Option<Vec<u8>> = row.get(6);
        let config = self.config(&team_id)?;
        if used_at.is_some() {
            let (Some(device_id), Some(sealed)) = (used_by, sealed) else {
                return Err(StorageError::InvalidCode);
            };
            let sealed: [u8; 32] = sealed.try_into().map_err(|_| StorageError::InvalidCode)?;
            let token = seal(&sealed, &norm);
            let device = device_in_team(&mut tx, &team_id, &device_id)?;
            let Some(device) =
                device.filter(|d| d.revoked_at.is_none() && d.wipe_ordered_at.is_none())
            else {
                return Err(StorageError::InvalidCode);
            };
            if let Some(actor) = actor
                && device.actor.as_deref() != Some(actor)
            {
                if device.actor.is_some() && device.last_seen.is_some() {
                    return Err(StorageError::Conflict(
                        "this code already enrolled a device from another store; ask a supervisor for a new code"
                            .into(),
                    ));
                }
                set_actor(&mut tx, &device_id, actor)?;
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
            "INSERT INTO devices (id, team_id, role, name, token_hash, enrolled_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&device_id, &team_id, &role.code(), &name, &token_hash(&token_hex).as_slice(), &now],
        )?;
        if let Some(actor) = actor {
            set_actor(&mut tx, &device_id, actor)?;
        }
        let sealed = Some(seal(&token, &norm).to_vec());
        tx.execute(
            "UPDATE codes SET used_at = $2, device_id = $3, sealed_token = $4 WHERE hash = $1",
            &[&hash.as_slice(), &now, &device_id, &sealed],
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
}

/// Brings the schema up to date, once even with instances starting together.
fn migrate(conn: &mut postgres::Client) -> Result<()> {
    let mut tx = conn.transaction()?;
    // Any constant will do, as long as only this takes it.
    tx.execute("SELECT pg_advisory_xact_lock(7302454151)", &[])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS carnet_schema (
             component TEXT PRIMARY KEY,
             version   INTEGER NOT NULL
         )",
    )?;
    let version: i32 = tx
        .query_opt(
            "SELECT version FROM carnet_schema WHERE component = 'server'",
            &[],
        )?
        .map_or(0, |r| r.get(0));
    let known = MIGRATIONS.len() as i32;
    if version > known {
        return Err(StorageError::Config(format!(
            "the database was written by a newer carnet-server (schema {version}, this one knows {known}); update the server"
        )));
    }
    for sql in &MIGRATIONS[version as usize..] {
        tx.batch_execute(sql)?;
    }
    tx.execute(
        "INSERT INTO carnet_schema (component, version) VALUES ('server', $1)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version",
        &[&known],
    )?;
    tx.commit()?;
    Ok(())
}

/// [`Storage::revoke_inactive`] on `c`.
fn revoke_inactive(c: &mut impl GenericClient, unseen_for_ms: i64) -> Result<Vec<Device>> {
    let now = now_ms();
    let cutoff = now.saturating_sub(unseen_for_ms);
    let rows = c.query(
        &format!(
            "UPDATE devices SET revoked_at = $2, revoked_reason = $3
             WHERE revoked_at IS NULL AND coalesce(last_seen, enrolled_at) < $1
             RETURNING {DEVICE_COLUMNS}"
        ),
        &[&cutoff, &now, &super::REVOKED_INACTIVE],
    )?;
    Ok(rows.iter().map(device_from_row).collect())
}

const DEVICE_COLUMNS: &str = "id, team_id, role, name, enrolled_at, last_seen, revoked_at, wipe_ordered_at, actor, revoked_reason";

const ACCOUNT_COLUMNS: &str = "id, team_id, name, email, password_hash, totp_secret, totp_last_step, created_at, disabled_at, actor";

fn account_from_row(r: &Row) -> Account {
    Account {
        id: r.get(0),
        team_id: r.get(1),
        name: r.get(2),
        email: r.get(3),
        password_hash: r.get(4),
        totp_secret: r.get(5),
        totp_last_step: r.get(6),
        created_at: r.get(7),
        disabled_at: r.get(8),
        actor: r.get(9),
    }
}

fn account_where(c: &mut impl GenericClient, clause: &str, arg: &str) -> Result<Option<Account>> {
    Ok(c.query_opt(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {clause}"),
        &[&arg],
    )?
    .map(|r| account_from_row(&r)))
}

/// The account of an unused, unexpired invitation whose account is not
/// disabled; `lock` takes the invitation's row for the transaction.
fn invited(
    c: &mut impl GenericClient,
    token: &str,
    now: i64,
    lock: bool,
) -> Result<Option<Account>> {
    let sql = if lock {
        "SELECT account_id FROM invitations WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 FOR UPDATE"
    } else {
        "SELECT account_id FROM invitations WHERE hash = $1 AND used_at IS NULL AND expires_at > $2"
    };
    let Some(row) = c.query_opt(sql, &[&token_hash(token).as_slice(), &now])? else {
        return Ok(None);
    };
    let id: String = row.get(0);
    Ok(account_where(c, "id = $1", &id)?.filter(|a| a.disabled_at.is_none()))
}

fn device_from_row(r: &Row) -> Device {
    Device {
        id: r.get(0),
        team_id: r.get(1),
        role: r.get::<_, &str>(2).parse().unwrap_or(Role::Mediator),
        name: r.get(3),
        enrolled_at: r.get(4),
        last_seen: r.get(5),
        revoked_at: r.get(6),
        wipe_ordered_at: r.get(7),
        actor: r.get(8),
        revoked_reason: r.get(9),
    }
}

fn device_in_team(
    c: &mut impl GenericClient,
    team_id: &str,
    device_id: &str,
) -> Result<Option<Device>> {
    Ok(c.query_opt(
        &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 AND team_id = $2"),
        &[&device_id, &team_id],
    )?
    .as_ref()
    .map(device_from_row))
}

fn set_actor(c: &mut impl GenericClient, device_id: &str, actor: &str) -> Result<()> {
    let holder = c.query_opt(
        "SELECT id FROM devices WHERE actor = $1 AND revoked_at IS NULL AND id <> $2",
        &[&actor, &device_id],
    )?;
    if holder.is_some() {
        return Err(StorageError::Conflict(
            "this store is already enrolled as another device; a supervisor must revoke that device first, or enroll from a fresh store"
                .into(),
        ));
    }
    c.execute(
        "UPDATE devices SET actor = $2 WHERE id = $1",
        &[&device_id, &actor],
    )?;
    Ok(())
}

impl Storage for PostgresStorage {
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
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO teams (id, name, config, created_at) VALUES ($1, $2, $3, $4)",
            &[&id, &name, &json, &now_ms()],
        )?;
        tx.execute(
            "INSERT INTO team_logs (team_id, lineage) VALUES ($1, $2)",
            &[&id, &super::new_lineage()],
        )?;
        tx.commit()?;
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
        self.config(team_id)?;
        let code = new_code();
        let now = now_ms();
        let expires_at = now.saturating_add(ttl_ms.max(1));
        self.conn()?.execute(
            "INSERT INTO codes (hash, team_id, role, name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
            &[&code_hash(&normalise_code(&code)).as_slice(), &team_id, &role.code(), &name, &now, &expires_at],
        )?;
        Ok(IssuedCode { code, expires_at })
    }

    fn create_account(&self, team_id: &str, name: &str, email: &str) -> Result<Account> {
        let name = super::account_name(name)?;
        let email = super::normalise_email(email)?;
        let mut conn = self.conn()?;
        if conn
            .query_opt("SELECT 1 FROM teams WHERE id = $1", &[&team_id])?
            .is_none()
        {
            return Err(StorageError::NotFound("no such team".into()));
        }
        let id = uuid::Uuid::now_v7().to_string();
        let inserted = conn.execute(
            "INSERT INTO accounts (id, team_id, name, email, created_at, actor)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
            &[&id, &team_id, &name, &email, &now_ms(), &super::new_actor()],
        )?;
        if inserted == 0 {
            return Err(StorageError::Conflict(
                "an account already signs in with this e-mail address".into(),
            ));
        }
        account_where(&mut *conn, "id = $1", &id)?
            .ok_or_else(|| StorageError::Internal("account not written".into()))
    }

    fn account(&self, account_id: &str) -> Result<Option<Account>> {
        account_where(&mut *self.conn()?, "id = $1", account_id)
    }

    fn account_by_email(&self, email: &str) -> Result<Option<Account>> {
        let Ok(email) = super::normalise_email(email) else {
            return Ok(None);
        };
        account_where(&mut *self.conn()?, "email = $1", &email)
    }

    fn accounts(&self, team_id: &str) -> Result<Vec<Account>> {
        Ok(self
            .conn()?
            .query(
                &format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE team_id = $1 ORDER BY created_at, id"
                ),
                &[&team_id],
            )?
            .iter()
            .map(account_from_row)
            .collect())
    }

    fn issue_invitation(&self, account_id: &str, ttl_ms: i64) -> Result<IssuedCode> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = now_ms();
        let expires_at = now.saturating_add(ttl_ms);
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        if account_where(&mut tx, "id = $1", account_id)?.is_none() {
            return Err(StorageError::NotFound("no such account".into()));
        }
        tx.execute(
            "UPDATE invitations SET used_at = $2 WHERE account_id = $1 AND used_at IS NULL",
            &[&account_id, &now],
        )?;
        tx.execute(
            "INSERT INTO invitations (hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[&token_hash(&token).as_slice(), &account_id, &now, &expires_at],
        )?;
        tx.commit()?;
        Ok(IssuedCode {
            code: token,
            expires_at,
        })
    }

    fn invitation(&self, token: &str) -> Result<Option<Account>> {
        invited(&mut *self.conn()?, token, now_ms(), false)
    }

    fn accept_invitation(
        &self,
        token: &str,
        password_hash: &str,
        totp_secret: Option<&str>,
    ) -> Result<Account> {
        let now = now_ms();
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let Some(account) = invited(&mut tx, token, now, true)? else {
            return Err(StorageError::InvalidCode);
        };
        tx.execute(
            "UPDATE invitations SET used_at = $2 WHERE hash = $1",
            &[&token_hash(token).as_slice(), &now],
        )?;
        tx.execute(
            "UPDATE accounts SET password_hash = $2, totp_secret = $3, totp_last_step = NULL WHERE id = $1",
            &[&account.id, &password_hash, &totp_secret],
        )?;
        let account = account_where(&mut tx, "id = $1", &account.id)?
            .ok_or_else(|| StorageError::Internal("account vanished".into()))?;
        tx.commit()?;
        Ok(account)
    }

    fn set_password(&self, account_id: &str, password_hash: &str) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE accounts SET password_hash = $2 WHERE id = $1",
            &[&account_id, &password_hash],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound("no such account".into()));
        }
        Ok(())
    }

    fn set_totp(&self, account_id: &str, secret: Option<&str>) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE accounts SET totp_secret = $2, totp_last_step = NULL WHERE id = $1",
            &[&account_id, &secret],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound("no such account".into()));
        }
        Ok(())
    }

    fn use_totp_step(&self, account_id: &str, step: i64) -> Result<bool> {
        let n = self.conn()?.execute(
            "UPDATE accounts SET totp_last_step = $2
             WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)",
            &[&account_id, &step],
        )?;
        Ok(n == 1)
    }

    fn disable_account(&self, team_id: &str, account_id: &str) -> Result<Option<Account>> {
        let mut conn = self.conn()?;
        conn.execute(
            "UPDATE accounts SET disabled_at = coalesce(disabled_at, $3) WHERE id = $1 AND team_id = $2",
            &[&account_id, &team_id, &now_ms()],
        )?;
        Ok(account_where(&mut *conn, "id = $1", account_id)?.filter(|a| a.team_id == team_id))
    }

    fn require_totp(&self, team_id: &str) -> Result<bool> {
        self.conn()?
            .query_opt("SELECT require_totp FROM teams WHERE id = $1", &[&team_id])?
            .map(|r| r.get(0))
            .ok_or_else(|| StorageError::NotFound("no such team".into()))
    }

    fn set_require_totp(&self, team_id: &str, on: bool) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE teams SET require_totp = $2 WHERE id = $1",
            &[&team_id, &on],
        )?;
        if n == 0 {
            return Err(StorageError::NotFound("no such team".into()));
        }
        Ok(())
    }

    fn teams_without_accounts(&self) -> Result<Vec<String>> {
        Ok(self
            .conn()?
            .query(
                "SELECT DISTINCT d.team_id FROM devices d
                 WHERE d.role = 'supervisor' AND d.revoked_at IS NULL AND d.wipe_ordered_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.team_id = d.team_id)
                 ORDER BY d.team_id",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn redeem_code(&self, code: &str, device_name: &str, actor: Option<&str>) -> Result<Enrolled> {
        let actor = actor.map(super::parse_actor).transpose()?;
        self.redeem(code, device_name, actor.as_deref())
    }

    fn bind_actor(&self, device_id: &str, actor: &str) -> Result<()> {
        let actor = super::parse_actor(actor)?;
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let bound = tx.query_opt(
            "SELECT actor FROM devices WHERE id = $1 FOR UPDATE",
            &[&device_id],
        )?;
        match bound.map(|r| r.get::<_, Option<String>>(0)) {
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
        set_actor(&mut tx, device_id, &actor)?;
        tx.commit()?;
        Ok(())
    }

    fn actor_names(&self, team_id: &str) -> Result<HashMap<String, String>> {
        let rows = self.conn()?.query(
            "SELECT actor, name FROM devices WHERE team_id = $1 AND actor IS NOT NULL ORDER BY enrolled_at, id",
            &[&team_id],
        )?;
        // Oldest first: a newer device with the same actor overwrites.
        let mut names: HashMap<String, String> =
            rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        let accounts = self.conn()?.query(
            "SELECT actor, name FROM accounts WHERE team_id = $1",
            &[&team_id],
        )?;
        names.extend(accounts.iter().map(|r| (r.get(0), r.get(1))));
        Ok(names)
    }

    fn rotate_token(&self, device_id: &str) -> Result<String> {
        let token: [u8; 32] = rand::random();
        let token_hex = hex::encode(token);
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE devices SET token_hash = $2 WHERE id = $1 AND revoked_at IS NULL AND wipe_ordered_at IS NULL",
            &[&device_id, &token_hash(&token_hex).as_slice()],
        )?;
        if changed == 0 {
            return Err(StorageError::Unauthorized);
        }
        tx.execute(
            "UPDATE codes SET sealed_token = NULL WHERE device_id = $1",
            &[&device_id],
        )?;
        tx.commit()?;
        Ok(token_hex)
    }

    fn revoke_inactive(&self, unseen_for_ms: i64) -> Result<Vec<Device>> {
        if unseen_for_ms <= 0 {
            return Ok(Vec::new());
        }
        revoke_inactive(&mut *self.conn()?, unseen_for_ms)
    }

    /// In a [`Round::InactiveSweep`]: one instance sweeps, the others skip.
    fn sweep_inactive(&self, unseen_for_ms: i64) -> Result<Option<Vec<Device>>> {
        if unseen_for_ms <= 0 {
            return Ok(Some(Vec::new()));
        }
        run_alone(&self.pool, Round::InactiveSweep, |c| {
            Ok(revoke_inactive(c, unseen_for_ms)?)
        })
        .map_err(|e| StorageError::Postgres(Box::new(e)))
    }

    fn authenticate(&self, token: &str) -> Result<Option<Device>> {
        Ok(self
            .conn()?
            .query_opt(
                &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1"),
                &[&token_hash(token).as_slice()],
            )?
            .as_ref()
            .map(device_from_row))
    }

    fn touch(&self, device_id: &str) -> Result<()> {
        let now = now_ms();
        self.conn()?.execute(
            "UPDATE devices SET last_seen = $2 WHERE id = $1 AND (last_seen IS NULL OR last_seen < $3)",
            &[&device_id, &now, &(now - TOUCH_EVERY_MS)],
        )?;
        Ok(())
    }

    fn devices(&self, team_id: &str) -> Result<Vec<Device>> {
        Ok(self
            .conn()?
            .query(
                &format!(
                    "SELECT {DEVICE_COLUMNS} FROM devices WHERE team_id = $1 ORDER BY enrolled_at, id"
                ),
                &[&team_id],
            )?
            .iter()
            .map(device_from_row)
            .collect())
    }

    fn revoke(&self, team_id: &str, device_id: &str) -> Result<Option<Device>> {
        let mut conn = self.conn()?;
        conn.execute(
            "UPDATE devices SET revoked_reason = CASE WHEN revoked_at IS NULL THEN $4 ELSE revoked_reason END,
                                revoked_at = coalesce(revoked_at, $3)
             WHERE id = $1 AND team_id = $2",
            &[&device_id, &team_id, &now_ms(), &super::REVOKED_BY_SUPERVISOR],
        )?;
        device_in_team(&mut *conn, team_id, device_id)
    }

    fn order_wipe(&self, team_id: &str, device_id: &str) -> Result<Option<Device>> {
        let mut conn = self.conn()?;
        conn.execute(
            "UPDATE devices SET wipe_ordered_at = coalesce(wipe_ordered_at, $3) WHERE id = $1 AND team_id = $2",
            &[&device_id, &team_id, &now_ms()],
        )?;
        device_in_team(&mut *conn, team_id, device_id)
    }

    fn push(
        &self,
        team_id: &str,
        device_id: &str,
        actor: Option<&str>,
        batch: &Batch,
    ) -> Result<ApplyReport> {
        self.in_team_log(team_id, |log, config| {
            carnet_core::store::apply_pushed_to(log, config, device_id, actor, batch)
        })
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
        // Made on the newest stored document, since the log is locked.
        self.in_team_log(team_id, |log, config| {
            carnet_core::store::act_in(log, config, origin, actor, author, now_ms(), id, action)
        })
    }

    fn team_ids(&self) -> Result<Vec<String>> {
        let mut conn = self.conn()?;
        Ok(conn
            .query("SELECT id FROM teams ORDER BY id", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn pull(&self, team_id: &str, device_id: &str, after: u64, max_bytes: usize) -> Result<Batch> {
        self.config(team_id)?;
        let mut conn = self.conn()?;
        let mut batch = Batch {
            upto: after,
            ..Default::default()
        };
        let mut size = 0usize;
        // In slices, so that a page of small changes is one query and a
        // huge log is never read whole.
        loop {
            let rows = conn.query(
                "SELECT seq, record_id, bytes, origin, photo FROM change_log
                 WHERE team_id = $1 AND seq > $2 ORDER BY seq LIMIT 512",
                &[&team_id, &(batch.upto as i64)],
            )?;
            let full = rows.len() == 512;
            for row in &rows {
                if size >= max_bytes && !batch.entries.is_empty() {
                    batch.more = true;
                    return Ok(batch);
                }
                batch.upto = row.get::<_, i64>(0) as u64;
                if row.get::<_, &str>(3) == device_id {
                    continue;
                }
                let record_id = record_id(row.get(1))?;
                let payload = Payload::from_row(row.get(2), row.get(4)).ok_or_else(|| {
                    StorageError::Core(carnet_core::Error::Unreadable {
                        what: "an erased photo in the team log",
                        source: None,
                    })
                })?;
                size += 16 + payload.weight();
                batch.entries.push(Entry { record_id, payload });
            }
            if !full {
                return Ok(batch);
            }
        }
    }

    fn log_head(&self, team_id: &str) -> Result<u64> {
        Ok(self
            .conn()?
            .query_opt("SELECT head FROM team_logs WHERE team_id = $1", &[&team_id])?
            .ok_or_else(|| StorageError::NotFound("no such team".into()))?
            .get::<_, i64>(0) as u64)
    }

    fn lineage(&self, team_id: &str) -> Result<String> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT lineage FROM team_logs WHERE team_id = $1",
                &[&team_id],
            )?
            .ok_or_else(|| StorageError::NotFound("no such team".into()))?
            .get(0))
    }

    fn renew_lineages(&self) -> Result<usize> {
        let mut conn = self.conn()?;
        let mut tx = conn.transaction()?;
        let teams: Vec<String> = tx
            .query("SELECT team_id FROM team_logs FOR UPDATE", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        for team in &teams {
            tx.execute(
                "UPDATE team_logs SET lineage = $2 WHERE team_id = $1",
                &[team, &super::new_lineage()],
            )?;
        }
        tx.commit()?;
        Ok(teams.len())
    }

    fn records(&self, team_id: &str, query: &Query) -> Result<Page> {
        self.reads(team_id)?.page(query)
    }

    fn record(&self, team_id: &str, id: RecordId) -> Result<RecordDetails> {
        self.reads(team_id)?.record_details(id)
    }

    fn team_reads(&self, team_id: &str) -> Result<Arc<dyn TeamReads>> {
        Ok(Arc::new(self.reads(team_id)?))
    }

    fn blobs(&self) -> Arc<dyn BlobStore> {
        self.blobs.clone()
    }

    fn photo_blob_status(&self, team_id: &str, blob: &PhotoHash) -> Result<BlobStatus> {
        self.config(team_id)?;
        let row = self.conn()?.query_one(
            "SELECT EXISTS (SELECT 1 FROM photo_tombstones
                            WHERE team_id = $1 AND (hash = $2 OR thumb = $2)),
                    (SELECT size FROM record_photos WHERE team_id = $1 AND hash = $2 LIMIT 1),
                    (SELECT thumb_size FROM record_photos WHERE team_id = $1 AND thumb = $2 LIMIT 1)",
            &[&team_id, &blob.as_bytes().as_slice()],
        )?;
        let size = |i| {
            row.get::<_, Option<i64>>(i)
                .map(|n| u64::try_from(n).unwrap_or(0))
        };
        Ok(if row.get(0) {
            BlobStatus::Erased
        } else if let Some(size) = size(1) {
            BlobStatus::Referenced {
                size,
                variant: Variant::Full,
            }
        } else if let Some(size) = size(2) {
            BlobStatus::Referenced {
                size,
                variant: Variant::Thumb,
            }
        } else {
            BlobStatus::Unknown
        })
    }

    /// In a [`Round::PhotoCollection`]: one instance collects, the others
    /// skip. Each blob is deleted by a statement that checks again that it
    /// is erased or unreferenced, so that a reference committed meanwhile
    /// keeps it.
    fn collect_photos(&self, grace_ms: i64, now: i64) -> Result<Option<Collected>> {
        let cutoff = now.saturating_sub(grace_ms);
        run_alone(&self.pool, Round::PhotoCollection, |c| {
            Ok(collect_photos(c, cutoff)?)
        })
        .map_err(|e| StorageError::Postgres(Box::new(e)))
    }
}

/// Whether a blob (`b`) is erased, as SQL.
const BLOB_ERASED: &str = "EXISTS (SELECT 1 FROM photo_tombstones t
    WHERE t.team_id = b.team_id AND (t.hash = b.hash OR t.thumb = b.hash))";
/// Whether a blob (`b`) is referenced by a live record, as SQL.
const BLOB_REFERENCED: &str = "EXISTS (SELECT 1 FROM record_photos r
    WHERE r.team_id = b.team_id AND (r.hash = b.hash OR r.thumb = b.hash))";

/// [`Storage::collect_photos`] on `c`, for blobs last written before `cutoff`
/// when unreferenced.
fn collect_photos(c: &mut postgres::Client, cutoff: i64) -> Result<Collected, postgres::Error> {
    let found = c.query(
        &format!(
            "SELECT b.team_id, b.hash, {BLOB_ERASED} FROM photo_blobs b
             WHERE {BLOB_ERASED} OR (b.stored_at < $1 AND NOT {BLOB_REFERENCED})"
        ),
        &[&cutoff],
    )?;
    let mut done = Collected::default();
    for row in &found {
        let (team, hash, erased): (&str, &[u8], bool) = (row.get(0), row.get(1), row.get(2));
        let mut tx = c.transaction()?;
        let gone = tx.execute(
            &format!(
                "DELETE FROM photo_blobs b WHERE b.team_id = $1 AND b.hash = $2
                 AND ({BLOB_ERASED} OR (b.stored_at < $3 AND NOT {BLOB_REFERENCED}))"
            ),
            &[&team, &hash, &cutoff],
        )?;
        if gone == 0 {
            continue;
        }
        tx.execute(
            "DELETE FROM photo_chunks WHERE team_id = $1 AND hash = $2",
            &[&team, &hash],
        )?;
        tx.commit()?;
        if erased {
            done.erased += 1;
        } else {
            done.unreferenced += 1;
        }
    }
    Ok(done)
}

impl PostgresStorage {
    fn reads(&self, team_id: &str) -> Result<PgReads> {
        Ok(PgReads {
            pool: self.pool.clone(),
            team: team_id.to_string(),
            config: self.config(team_id)?,
        })
    }

    /// What the team's log says of a blob (a photo's full image or
    /// thumbnail, by its own hash): named by a live record, erased, or
    /// unknown; what the blob routes check before taking or serving bytes.
    /// The same answer as [`carnet_core::Store::photo_blob_status`] on the
    /// embedded storage.
    pub fn photo_blob_status(&self, team_id: &str, blob: &PhotoHash) -> Result<BlobStatus> {
        let mut conn = self.conn()?;
        let b = blob.as_bytes().as_slice();
        let erased = conn.query_opt(
            "SELECT 1 FROM photo_tombstones WHERE team_id = $1 AND (hash = $2 OR thumb = $2) LIMIT 1",
            &[&team_id, &b],
        )?;
        if erased.is_some() {
            return Ok(BlobStatus::Erased);
        }
        for (variant, sql) in [
            (
                Variant::Full,
                "SELECT size FROM record_photos WHERE team_id = $1 AND hash = $2 LIMIT 1",
            ),
            (
                Variant::Thumb,
                "SELECT thumb_size FROM record_photos WHERE team_id = $1 AND thumb = $2 LIMIT 1",
            ),
        ] {
            if let Some(row) = conn.query_opt(sql, &[&team_id, &b])? {
                let size: i64 = row.get(0);
                return Ok(BlobStatus::Referenced {
                    size: u64::try_from(size).unwrap_or(0),
                    variant,
                });
            }
        }
        Ok(BlobStatus::Unknown)
    }
}

fn record_id(bytes: &[u8]) -> Result<RecordId> {
    RecordId::from_slice(bytes).ok_or_else(|| {
        StorageError::Core(carnet_core::Error::Unreadable {
            what: "a record id in the team log",
            source: None,
        })
    })
}

/// One team's log inside a push's transaction: what the core's apply logic
/// decides, executed. `head` is the team's last position, advanced by each
/// entry logged.
struct PgLog<'a, 't> {
    tx: &'a mut Transaction<'t>,
    team: &'a str,
    head: i64,
    rows: RowWriter,
}

impl PgLog<'_, '_> {
    fn next(&mut self) -> i64 {
        self.head += 1;
        self.head
    }
}

impl LogStore for PgLog<'_, '_> {
    fn stored_kind(&mut self, id: RecordId) -> carnet_core::Result<Option<String>> {
        Ok(self
            .tx
            .query_opt(
                "SELECT kind FROM records WHERE team_id = $1 AND id = $2",
                &[&self.team, &id.as_bytes().as_slice()],
            )
            .map_err(backend)?
            .map(|r| r.get(0)))
    }

    fn is_erased(&mut self, id: RecordId) -> carnet_core::Result<bool> {
        Ok(self
            .tx
            .query_opt(
                "SELECT 1 FROM tombstones WHERE team_id = $1 AND id = $2",
                &[&self.team, &id.as_bytes().as_slice()],
            )
            .map_err(backend)?
            .is_some())
    }

    fn stored_doc(&mut self, id: RecordId) -> carnet_core::Result<Option<(Vec<u8>, usize)>> {
        stored_doc(&mut *self.tx, self.team, id)
    }

    fn stored_hashes(&mut self, id: RecordId) -> carnet_core::Result<Vec<ChangeHash>> {
        self.tx
            .query(
                "SELECT hash FROM change_log
                 WHERE team_id = $1 AND record_id = $2 AND bytes IS NOT NULL",
                &[&self.team, &id.as_bytes().as_slice()],
            )
            .map_err(backend)?
            .iter()
            .map(|r| logged_hash(r.get::<_, &[u8]>(0)))
            .collect()
    }

    fn erase(&mut self, id: RecordId, at: i64, origin: &str) -> carnet_core::Result<()> {
        let seq = self.next();
        erase_record(&mut *self.tx, self.team, id, at).map_err(backend)?;
        self.tx
            .execute(
                "INSERT INTO change_log (team_id, seq, record_id, hash, origin, bytes) VALUES ($1, $2, $3, NULL, $4, NULL)",
                &[&self.team, &seq, &id.as_bytes().as_slice(), &origin],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn log_change(
        &mut self,
        id: RecordId,
        change: &NewChange<'_>,
        origin: &str,
    ) -> carnet_core::Result<()> {
        let seq = self.next();
        self.tx
            .execute(
                "INSERT INTO change_log (team_id, seq, record_id, hash, origin, bytes) VALUES ($1, $2, $3, $4, $5, $6)",
                &[&self.team, &seq, &id.as_bytes().as_slice(), &change.hash.0.as_slice(), &origin, &change.bytes.as_ref()],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn save_snapshot(&mut self, id: RecordId, bytes: &[u8]) -> carnet_core::Result<()> {
        self.tx
            .execute(
                "INSERT INTO documents (team_id, id, bytes, upto)
                 VALUES ($1, $2, $3, (SELECT max(seq) FROM change_log WHERE team_id = $1 AND record_id = $2))
                 ON CONFLICT (team_id, id) DO UPDATE SET bytes = excluded.bytes, upto = excluded.upto",
                &[&self.team, &id.as_bytes().as_slice(), &bytes],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn write_row(&mut self, row: &ReadRow, fresh: bool) -> carnet_core::Result<()> {
        self.rows
            .write(&mut *self.tx, self.team, row, fresh)
            .map_err(backend)
    }

    fn is_photo_erased(&mut self, hash: &PhotoHash) -> carnet_core::Result<bool> {
        Ok(self
            .tx
            .query_opt(
                "SELECT 1 FROM photo_tombstones WHERE team_id = $1 AND hash = $2",
                &[&self.team, &hash.as_bytes().as_slice()],
            )
            .map_err(backend)?
            .is_some())
    }

    /// Tombstone, read-model rows and log entry; the blobs themselves are
    /// deleted by the server once the push commits (`erased_photos`).
    fn erase_photo(
        &mut self,
        id: RecordId,
        hash: &PhotoHash,
        thumb: &PhotoHash,
        at: i64,
        origin: &str,
    ) -> carnet_core::Result<()> {
        let seq = self.next();
        let (h, t) = (hash.as_bytes().as_slice(), thumb.as_bytes().as_slice());
        let both = [h, t].concat();
        let tx = &mut *self.tx;
        tx.execute(
            "INSERT INTO photo_tombstones (team_id, hash, thumb, at) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&self.team, &h, &t, &at],
        )
        .map_err(backend)?;
        tx.execute(
            "DELETE FROM record_photos WHERE team_id = $1 AND hash = $2",
            &[&self.team, &h],
        )
        .map_err(backend)?;
        tx.execute(
            "INSERT INTO change_log (team_id, seq, record_id, hash, origin, bytes, photo)
             VALUES ($1, $2, $3, NULL, $4, NULL, $5)",
            &[&self.team, &seq, &id.as_bytes().as_slice(), &origin, &both],
        )
        .map_err(backend)?;
        Ok(())
    }
}

/// Erases a record of `team` from the log's tables: its read-model rows,
/// snapshot and logged changes deleted, a tombstone kept. What a push's
/// erasure does before it logs the erasure, and what `migrate-storage`
/// does for a record erased since its previous run.
pub(crate) fn erase_record(
    c: &mut impl GenericClient,
    team: &str,
    id: RecordId,
    at: i64,
) -> Result<(), postgres::Error> {
    let id = id.as_bytes().as_slice();
    for sql in [
        "DELETE FROM record_axes WHERE team_id = $1 AND id = $2",
        "DELETE FROM record_referrals WHERE team_id = $1 AND id = $2",
        "DELETE FROM record_photos WHERE team_id = $1 AND record_id = $2",
        "DELETE FROM records WHERE team_id = $1 AND id = $2",
        "DELETE FROM documents WHERE team_id = $1 AND id = $2",
        "DELETE FROM change_log WHERE team_id = $1 AND record_id = $2",
    ] {
        c.execute(sql, &[&team, &id])?;
    }
    c.execute(
        "INSERT INTO tombstones (team_id, id, erased_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        &[&team, &id, &at],
    )?;
    Ok(())
}

/// The SQL that writes a record's read-model rows, in the order
/// [`RowWriter`] keeps its statements.
const ROW_SQL: [&str; 7] = [
    "DELETE FROM record_axes WHERE team_id = $1 AND id = $2",
    "DELETE FROM record_referrals WHERE team_id = $1 AND id = $2",
    "INSERT INTO records (team_id, id, kind, author, created_at, updated_at, occurred_at, sector, quartier,
                          status, status_at, category, body, activity_type, conflicts, view,
                          forwarded_at, fixed_at, met_known, met_new, referrals, residents_met, search)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20,
             $21, $22, to_tsvector('carnet_french', $23))
     ON CONFLICT (team_id, id) DO UPDATE SET
         author = excluded.author, updated_at = excluded.updated_at, occurred_at = excluded.occurred_at,
         sector = excluded.sector, quartier = excluded.quartier, status = excluded.status,
         status_at = excluded.status_at, category = excluded.category, body = excluded.body,
         activity_type = excluded.activity_type, conflicts = excluded.conflicts, view = excluded.view,
         forwarded_at = excluded.forwarded_at, fixed_at = excluded.fixed_at,
         met_known = excluded.met_known, met_new = excluded.met_new, referrals = excluded.referrals,
         residents_met = excluded.residents_met, search = excluded.search",
    "INSERT INTO record_axes (team_id, axis, occurred_at, id, kind) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING",
    "INSERT INTO record_referrals (team_id, at, partner, item, id) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT DO NOTHING",
    "DELETE FROM record_photos WHERE team_id = $1 AND record_id = $2",
    "INSERT INTO record_photos (team_id, hash, thumb, size, thumb_size, record_id)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
];

/// Writes records' read-model rows (the core's [`ReadRow`]) inside one
/// transaction, each statement prepared at its first use and reused: what
/// a push writes for each record it changes, and what `migrate-storage`
/// rebuilds the read model with (a hundred thousand rows in one go).
#[derive(Default)]
pub(crate) struct RowWriter {
    statements: [Option<Statement>; 7],
}

impl RowWriter {
    fn statement(
        &mut self,
        c: &mut impl GenericClient,
        which: usize,
    ) -> Result<Statement, postgres::Error> {
        if let Some(s) = &self.statements[which] {
            return Ok(s.clone());
        }
        let s = c.prepare(ROW_SQL[which])?;
        self.statements[which] = Some(s.clone());
        Ok(s)
    }

    /// Replaces a record's rows in `team`; `fresh`: it has none yet.
    /// `c` must be the transaction the writer was first used in.
    pub(crate) fn write(
        &mut self,
        c: &mut impl GenericClient,
        team: &str,
        row: &ReadRow,
        fresh: bool,
    ) -> Result<(), postgres::Error> {
        let id = row.id.as_bytes().as_slice();
        if !fresh {
            for which in [0, 1, 5] {
                let s = self.statement(c, which)?;
                c.execute(&s, &[&team, &id])?;
            }
        }
        let s = self.statement(c, 2)?;
        c.execute(
            &s,
            &[
                &team,
                &id,
                &row.kind,
                &row.author,
                &row.created_at,
                &row.updated_at,
                &row.occurred_at,
                &row.sector,
                &row.quartier,
                &row.status,
                &row.status_at,
                &row.category,
                &row.body,
                &row.activity_type,
                &row.conflicts,
                &row.view,
                &row.forwarded_at,
                &row.fixed_at,
                &row.met_known,
                &row.met_new,
                &row.referrals,
                &row.residents_met,
                &row.search,
            ],
        )?;
        for axis in &row.axes {
            let s = self.statement(c, 3)?;
            c.execute(&s, &[&team, axis, &row.occurred_at, &id, &row.kind])?;
        }
        for (at, partner, item) in &row.referral_rows {
            let s = self.statement(c, 4)?;
            c.execute(&s, &[&team, at, partner, item, &id])?;
        }
        for p in &row.photos {
            let s = self.statement(c, 6)?;
            let (size, thumb_size) = (p.size as i64, p.thumb_size as i64);
            c.execute(
                &s,
                &[
                    &team,
                    &p.hash.as_bytes().as_slice(),
                    &p.thumb.as_bytes().as_slice(),
                    &size,
                    &thumb_size,
                    &id,
                ],
            )?;
        }
        Ok(())
    }
}

/// A record's document as stored (snapshot, then the changes after it).
fn stored_doc(
    c: &mut impl GenericClient,
    team: &str,
    id: RecordId,
) -> carnet_core::Result<Option<(Vec<u8>, usize)>> {
    let id_bytes = id.as_bytes().as_slice();
    let snapshot = c
        .query_opt(
            "SELECT bytes, upto FROM documents WHERE team_id = $1 AND id = $2",
            &[&team, &id_bytes],
        )
        .map_err(backend)?;
    let (mut bytes, upto): (Vec<u8>, i64) =
        snapshot.map_or((Vec::new(), 0), |r| (r.get(0), r.get(1)));
    let rows = c
        .query(
            "SELECT bytes FROM change_log
             WHERE team_id = $1 AND record_id = $2 AND seq > $3 AND bytes IS NOT NULL ORDER BY seq",
            &[&team, &id_bytes, &upto],
        )
        .map_err(backend)?;
    for row in &rows {
        bytes.extend_from_slice(row.get::<_, &[u8]>(0));
    }
    Ok((!bytes.is_empty()).then_some((bytes, rows.len())))
}

/// One team's records, read-only: the dashboard's and the API's reads.
struct PgReads {
    pool: Pool,
    team: String,
    config: TeamConfig,
}

/// The values of a core query's placeholders after `$1`, the team.
fn args<'a>(team: &'a String, args: &'a [SqlArg]) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut out: Vec<&(dyn ToSql + Sync)> = vec![team];
    out.extend(args.iter().map(|a| match a {
        SqlArg::Text(t) => t as &(dyn ToSql + Sync),
        SqlArg::Int(i) => i as &(dyn ToSql + Sync),
    }));
    out
}

impl PgReads {
    fn conn(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>> {
        Ok(self.pool.get()?)
    }

    fn link_state(
        &self,
        c: &mut impl GenericClient,
        id: RecordId,
    ) -> carnet_core::Result<ContactState> {
        let id = id.as_bytes().as_slice();
        let row = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM tombstones WHERE team_id = $1 AND id = $2),
                        EXISTS (SELECT 1 FROM records WHERE team_id = $1 AND id = $2)",
                &[&self.team, &id],
            )
            .map_err(backend)?;
        Ok(if row.get(0) {
            ContactState::Erased
        } else if row.get(1) {
            ContactState::Present
        } else {
            ContactState::Unknown
        })
    }

    fn page(&self, q: &Query) -> Result<Page> {
        let limit = q.page_size() as usize;
        let sql = q.list_sql(Dialect::Postgres)?;
        let mut conn = self.conn()?;
        let rows = conn.query(&sql.sql, &args(&self.team, &sql.args))?;
        let has_more = rows.len() > limit;
        let mut items = Vec::with_capacity(limit.min(rows.len()));
        for row in rows.iter().take(limit) {
            items.push(record_from_row(row.get(0), &mut |link| {
                self.link_state(&mut *conn, link)
            })?);
        }
        Ok(Page { items, has_more })
    }

    fn record_details(&self, id: RecordId) -> Result<RecordDetails> {
        let mut conn = self.conn()?;
        let Some((bytes, _)) = stored_doc(&mut *conn, &self.team, id)? else {
            return Err(
                if self.link_state(&mut *conn, id)? == ContactState::Erased {
                    carnet_core::Error::Erased(id).into()
                } else {
                    carnet_core::Error::NotFound(id).into()
                },
            );
        };
        let mut details = details_from_doc(&bytes, &mut |link| self.link_state(&mut *conn, link))?;
        // A stale device's change may name an erased photo again: not shown.
        without_erased_photos(&mut details.record, |named| {
            let named: Vec<&[u8]> = named.iter().map(|h| h.as_bytes().as_slice()).collect();
            conn.query(
                "SELECT hash FROM photo_tombstones WHERE team_id = $1 AND hash = ANY($2)",
                &[&self.team, &named],
            )
            .map_err(backend)?
            .iter()
            .map(|r| {
                PhotoHash::from_slice(r.get::<_, &[u8]>(0)).ok_or_else(|| {
                    carnet_core::Error::Internal("a photo tombstone's hash is not 32 bytes".into())
                })
            })
            .collect()
        })?;
        Ok(details)
    }

    fn rows(&self, sql: &str, extra: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&self.team];
        params.extend_from_slice(extra);
        Ok(self.conn()?.query(sql, &params)?)
    }
}

impl TeamReads for PgReads {
    fn config(&self) -> Result<TeamConfig, DashboardError> {
        Ok(self.config.clone())
    }

    fn log_head(&self) -> Result<u64, DashboardError> {
        let rows = self
            .rows("SELECT head FROM team_logs WHERE team_id = $1", &[])
            .map_err(dashboard)?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn list(&self, q: &Query) -> Result<Page, DashboardError> {
        self.page(q).map_err(dashboard)
    }

    fn count(&self, q: &Query, by: GroupBy) -> Result<Vec<Count>, DashboardError> {
        let sql = q.count_sql(by, Dialect::Postgres)?;
        let rows = self
            .conn()
            .and_then(|mut c| Ok(c.query(&sql.sql, &args(&self.team, &sql.args))?))
            .map_err(dashboard)?;
        Ok(rows
            .iter()
            .map(|r| Count {
                key: r.get(0),
                count: r.get::<_, i64>(1) as u64,
            })
            .collect())
    }

    fn open_rows(&self) -> Result<Vec<OpenRow>, DashboardError> {
        let rows = self
            .rows(
                &format!(
                    "SELECT id, coalesce(sector, ''), coalesce(category, ''), created_at FROM records
                     WHERE team_id = $1 AND kind = 'report' AND status IN ({})",
                    open_statuses_sql()
                ),
                &[],
            )
            .map_err(dashboard)?;
        rows.iter()
            .map(|r| {
                Ok(OpenRow {
                    id: record_id(r.get(0)).map_err(dashboard)?,
                    sector: r.get(1),
                    category: r.get(2),
                    created_at: r.get(3),
                })
            })
            .collect()
    }

    fn get(&self, id: RecordId) -> Result<Record, DashboardError> {
        let mut conn = self.conn().map_err(dashboard)?;
        let row = conn
            .query_opt(
                "SELECT view FROM records WHERE team_id = $1 AND id = $2",
                &[&self.team, &id.as_bytes().as_slice()],
            )
            .map_err(|e| dashboard(e.into()))?;
        match row {
            Some(row) => Ok(record_from_row(row.get(0), &mut |link| {
                self.link_state(&mut *conn, link)
            })?),
            None if self.link_state(&mut *conn, id)? == ContactState::Erased => {
                Err(carnet_core::Error::Erased(id).into())
            }
            None => Err(carnet_core::Error::NotFound(id).into()),
        }
    }

    fn details(&self, id: RecordId) -> Result<RecordDetails, DashboardError> {
        self.record_details(id).map_err(dashboard)
    }

    fn activity_rows(&self, since: i64, until: i64) -> Result<Vec<ActivityRow>, DashboardError> {
        let rows = self
            .rows(
                "SELECT coalesce(activity_type, ''), coalesce(sector, ''), occurred_at,
                        coalesce(met_known, 0), coalesce(met_new, 0), coalesce(referrals, 0)
                 FROM records WHERE team_id = $1 AND kind = 'activity' AND occurred_at >= $2 AND occurred_at < $3",
                &[&since, &until],
            )
            .map_err(dashboard)?;
        Ok(rows
            .iter()
            .map(|r| ActivityRow {
                activity_type: r.get(0),
                sector: r.get(1),
                at: r.get(2),
                met_known: r.get(3),
                met_new: r.get(4),
                referrals: r.get(5),
            })
            .collect())
    }

    fn fixes(&self, since: i64, until: i64) -> Result<Vec<Fix>, DashboardError> {
        let rows = self
            .rows(
                "SELECT coalesce(sector, ''), coalesce(body, ''), coalesce(category, ''), created_at, fixed_at
                 FROM records WHERE team_id = $1 AND fixed_at >= $2 AND fixed_at < $3",
                &[&since, &until],
            )
            .map_err(dashboard)?;
        Ok(rows
            .iter()
            .map(|r| Fix {
                sector: r.get(0),
                body: r.get(1),
                category: r.get(2),
                created_at: r.get(3),
                fixed_at: r.get(4),
            })
            .collect())
    }

    fn forwarded_count(&self, since: i64, until: i64) -> Result<u64, DashboardError> {
        let rows = self
            .rows(
                "SELECT count(*) FROM records WHERE team_id = $1 AND forwarded_at >= $2 AND forwarded_at < $3",
                &[&since, &until],
            )
            .map_err(dashboard)?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    fn residents_met_on_notes(&self, since: i64, until: i64) -> Result<u64, DashboardError> {
        let rows = self
            .rows(
                "SELECT coalesce(sum(residents_met), 0)::BIGINT FROM records
                 WHERE team_id = $1 AND kind = 'note' AND occurred_at >= $2 AND occurred_at < $3",
                &[&since, &until],
            )
            .map_err(dashboard)?;
        Ok(rows.first().map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
    }

    fn referrals_by_partner(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<(String, u64)>, DashboardError> {
        let rows = self
            .rows(
                "SELECT partner, count(*) FROM record_referrals WHERE team_id = $1 AND at >= $2 AND at < $3
                 GROUP BY partner ORDER BY count(*) DESC, partner COLLATE \"C\"",
                &[&since, &until],
            )
            .map_err(dashboard)?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    fn axes_by_kind(
        &self,
        since: i64,
        until: i64,
    ) -> Result<BTreeMap<(String, String), u64>, DashboardError> {
        let rows = self
            .rows(
                "SELECT kind, axis, count(*) FROM record_axes
                 WHERE team_id = $1 AND occurred_at >= $2 AND occurred_at < $3 GROUP BY 1, 2",
                &[&since, &until],
            )
            .map_err(dashboard)?;
        Ok(rows
            .iter()
            .map(|r| ((r.get(0), r.get(1)), r.get::<_, i64>(2) as u64))
            .collect())
    }
}
