//! Where the server keeps teams, devices, enrollment codes and each team's
//! log, behind one trait so that the HTTP layer never knows which database
//! holds them.
//!
//! [`SqliteStorage`] is the embedded default (one file per team);
//! [`PostgresStorage`] keeps everything in one PostgreSQL database that any
//! number of server instances share, and beside it what an embedded server
//! keeps per instance (the dashboard's sessions and access log, the rate
//! limits: [`PgSessions`], [`PgAccessLog`], [`PgTokenBuckets`],
//! [`PgFailureCounts`]), with periodic work one instance at a time
//! ([`run_alone`]). [`open`] picks a storage from the settings. The trait is
//! synchronous on purpose: the core's [`carnet_core::Store`] blocks, and the
//! server calls every method on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]), so an implementation may block freely.
//!
//! Contracts every implementation keeps:
//! - tokens and codes are stored only as SHA-256 hashes;
//! - [`Storage::push`] returns only after the batch is committed and verified
//!   (all or nothing), so an acknowledgement is never a lie;
//! - every team-scoped method takes the caller's team and never reaches
//!   another team's data.
//!
//! Photos' bytes are in a [`BlobStore`] each storage hands out
//! ([`Storage::blobs`]): files under the data directory beside the SQLite
//! storage, rows of the database beside PostgreSQL.
//!
//! A planned addition fits beside the existing methods: a sync receipt as
//! a value returned by [`Storage::push`] and kept per device.

pub mod blobs;
mod error;
mod postgres;
mod postgres_state;
mod secrets;
mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

use carnet_core::edit::Action;
use carnet_core::store::{ApplyReport, Batch, Page, Query, RecordDetails};
use carnet_core::{RecordId, TeamConfig};
use serde::{Deserialize, Serialize};

pub use postgres::{Pool, PostgresStorage};
pub(crate) use postgres::{RowWriter, erase_record};
pub use postgres_state::{
    PgAccessLog, PgFailureCounts, PgSessions, PgTokenBuckets, Round, run_alone,
};
pub(crate) use secrets::is_team_id;
pub use sqlite::SqliteStorage;

pub use blobs::{BlobState, BlobStore, Collected};
pub use carnet_core::photo::{BlobStatus, PhotoHash};
pub use error::{Result, StorageError};

/// The storage the settings name: PostgreSQL when `config.database` is set,
/// else SQLite under `config.data_dir`.
pub fn open(config: &crate::Config) -> Result<Arc<dyn Storage>> {
    Ok(match &config.database {
        Some(url) => Arc::new(PostgresStorage::connect(url, config.database_pool)?),
        None => Arc::new(SqliteStorage::open(&config.data_dir)?),
    })
}

/// The dashboard's view of a team's records, which [`Storage::team_reads`]
/// hands out (re-exported so that an implementation can name it).
pub use carnet_dashboard::TeamReads;

/// What a device may do: the core's type, as devices store it.
pub use carnet_core::Role;

/// An enrolled device, as the server knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Its id: also the origin of its changes in the team log.
    pub id: String,
    /// Its team.
    pub team_id: String,
    /// What it may do.
    pub role: Role,
    /// The name given at enrollment ("tablette 3").
    pub name: String,
    /// Enrollment time, ms since the Unix epoch.
    pub enrolled_at: i64,
    /// Last authenticated request, ms (to the minute).
    pub last_seen: Option<i64>,
    /// When it was revoked: its token no longer works.
    pub revoked_at: Option<i64>,
    /// When a supervisor ordered it wiped.
    pub wipe_ordered_at: Option<i64>,
    /// The automerge actor of its store (32 lowercase hex characters), bound
    /// at enrollment or at its first push, so that every change in the team
    /// log can be traced to the device that wrote it. `None` until bound.
    #[serde(default)]
    pub actor: Option<String>,
    /// Why it was revoked: `supervisor` (by hand) or `inactive` (unseen for
    /// longer than the server's `device_inactivity_days`), so that the
    /// dashboard can tell supervisors which devices lapsed on their own.
    #[serde(default)]
    pub revoked_reason: Option<String>,
}

/// Why a device was revoked: a supervisor did it.
pub const REVOKED_BY_SUPERVISOR: &str = "supervisor";
/// Why a device was revoked: it was unseen for too long.
pub const REVOKED_INACTIVE: &str = "inactive";

/// Checks and normalises an automerge actor id as a device sends it: 32
/// hex characters (16 bytes, as the core's stores make them), lowercased.
pub fn parse_actor(actor: &str) -> Result<String> {
    let actor = actor.trim();
    if actor.len() != 32 || !actor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StorageError::BadRequest(
            "actor: expected the store's actor id, 32 hexadecimal characters".into(),
        ));
    }
    Ok(actor.to_ascii_lowercase())
}

/// A new lineage for a team's log: 32 lowercase hex characters (128 random
/// bits), as migration 3 of `server.db` gives existing teams; any storage
/// may use it. Devices only ever compare lineages for equality.
pub fn new_lineage() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// What enrollment hands the device, once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Enrolled {
    /// The secret token (256 random bits, hex).
    pub token: String,
    /// The device's id.
    pub device_id: String,
    /// Its team's id.
    pub team_id: String,
    /// `mediator` or `supervisor`.
    pub role: Role,
    /// The team configuration records are validated against.
    pub config: TeamConfig,
}

/// A newly issued enrollment code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuedCode {
    /// The code to hand over (only its hash is kept).
    pub code: String,
    /// When it stops working, ms since the Unix epoch.
    pub expires_at: i64,
}

/// A supervisor's own account for the dashboard. Passwords and TOTP are
/// checked in [`crate::accounts`]; storage only keeps what it is handed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id (a UUID).
    pub id: String,
    /// Its team: the pages it opens show this team's records only.
    pub team_id: String,
    /// The person's name, shown in pages and the access log.
    pub name: String,
    /// What the person signs in with: trimmed, lowercased, unique.
    pub email: String,
    /// The argon2id PHC string; `None` until an invitation is accepted.
    pub password_hash: Option<String>,
    /// The TOTP secret (base32); `None` unless enrolled.
    pub totp_secret: Option<String>,
    /// The last TOTP step a code was accepted for (a code works once).
    pub totp_last_step: Option<i64>,
    /// Creation time, ms since the Unix epoch.
    pub created_at: i64,
    /// When it was disabled: it opens nothing any more.
    pub disabled_at: Option<i64>,
    /// The automerge actor (32 lowercase hex) its changes are signed with,
    /// so that pages name them by the person.
    pub actor: String,
}

/// Checks a person's name as accounts keep it (trimmed, 1 to 100
/// characters).
pub(crate) fn account_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 {
        return Err(StorageError::BadRequest(
            "name: must be 1 to 100 characters".into(),
        ));
    }
    Ok(n.to_string())
}

/// A new account's automerge actor: 32 lowercase hex characters, random.
pub(crate) fn new_actor() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Normalises an e-mail address as accounts store it (trimmed,
/// lowercased), or refuses what cannot be one.
pub fn normalise_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.chars().any(char::is_whitespace)
        && e.split_once('@').is_some_and(|(user, host)| {
            !user.is_empty() && host.contains('.') && !host.contains('@')
        });
    if ok {
        Ok(e)
    } else {
        Err(StorageError::BadRequest(
            "email: expected an e-mail address such as nom@exemple.fr".into(),
        ))
    }
}

/// The server's storage. See the module documentation for the contracts.
pub trait Storage: Send + Sync + 'static {
    // Teams, codes and devices.

    /// Creates a team with its configuration; returns its id.
    fn create_team(&self, name: &str, config: &TeamConfig) -> Result<String>;

    /// Issues a single-use enrollment code for `team_id`, valid `ttl_ms`.
    fn issue_code(
        &self,
        team_id: &str,
        role: Role,
        name: Option<&str>,
        ttl_ms: i64,
    ) -> Result<IssuedCode>;

    /// Exchanges a code for a new device and its token, bound to `actor`
    /// (the automerge actor of the device's store, 32 hex characters) when
    /// given, so that its changes can be traced to it. Retrying with the
    /// same code shortly after (a lost response) returns the same enrollment.
    /// An actor already bound to another device in good standing is a
    /// [`StorageError::Conflict`]: one store,
    /// one device.
    fn redeem_code(&self, code: &str, device_name: &str, actor: Option<&str>) -> Result<Enrolled>;

    /// Binds `actor` to a device enrolled without one (trust on first use,
    /// at its first push). Succeeds if it is already bound to that actor;
    /// a [`StorageError::Conflict`] if it is
    /// bound to another or another device in good standing holds the actor.
    fn bind_actor(&self, device_id: &str, actor: &str) -> Result<()>;

    /// Actor (hex) → device name for every device of the team with an
    /// actor, revoked ones included (their past changes still need a name);
    /// if two devices share an actor, the newest enrolled wins. Accounts'
    /// actors → the person's name are included too (disabled ones as well).
    fn actor_names(&self, team_id: &str) -> Result<HashMap<String, String>>;

    /// Gives a device in good standing a new token; the old one stops
    /// working at once (a token that may have leaked is replaced without
    /// enrolling again).
    fn rotate_token(&self, device_id: &str) -> Result<String>;

    /// Revokes, as `inactive`, every device in good standing not seen (or,
    /// never seen, enrolled) for `unseen_for_ms`: a lost phone nobody
    /// reported stops being a key to the team's log. Returns them.
    fn revoke_inactive(&self, unseen_for_ms: i64) -> Result<Vec<Device>>;

    /// [`Storage::revoke_inactive`] as the daily sweep runs it: a storage
    /// several instances share lets one of them sweep at a time, and
    /// answers `None` (nothing done) to the others. On the spot, when a
    /// device calls, [`Storage::revoke_inactive`] runs whatever the others do.
    fn sweep_inactive(&self, unseen_for_ms: i64) -> Result<Option<Vec<Device>>> {
        self.revoke_inactive(unseen_for_ms).map(Some)
    }

    /// The device holding this token, revoked or not; `None` if unknown.
    fn authenticate(&self, token: &str) -> Result<Option<Device>>;

    /// Notes that the device was seen now (coarse: at most once a minute).
    fn touch(&self, device_id: &str) -> Result<()>;

    /// The team's devices, oldest first.
    fn devices(&self, team_id: &str) -> Result<Vec<Device>>;

    /// Revokes a device of the team (reason `supervisor`); `None` if the
    /// team has no such device.
    fn revoke(&self, team_id: &str, device_id: &str) -> Result<Option<Device>>;

    /// Orders a device of the team wiped; `None` if the team has no such device.
    fn order_wipe(&self, team_id: &str, device_id: &str) -> Result<Option<Device>>;

    // Supervisors' accounts.

    /// Creates an account for a team (no password yet, a fresh random
    /// actor); a [`StorageError::Conflict`] if the e-mail is taken, a
    /// [`StorageError::NotFound`] for an unknown team.
    fn create_account(&self, team_id: &str, name: &str, email: &str) -> Result<Account>;

    /// The account with this id, disabled or not.
    fn account(&self, account_id: &str) -> Result<Option<Account>>;

    /// The account signing in with this e-mail (normalised here).
    fn account_by_email(&self, email: &str) -> Result<Option<Account>>;

    /// The team's accounts, oldest first.
    fn accounts(&self, team_id: &str) -> Result<Vec<Account>>;

    /// Issues an invitation (first password or reset) for an account,
    /// valid `ttl_ms`; only its hash is kept. Earlier unused invitations of
    /// the account stop working: the newest link is the one that counts.
    fn issue_invitation(&self, account_id: &str, ttl_ms: i64) -> Result<IssuedCode>;

    /// The account an unused, unexpired invitation is for; `None` if the
    /// token is unknown, used, expired, or its account disabled.
    fn invitation(&self, token: &str) -> Result<Option<Account>>;

    /// Spends an invitation: sets the password hash, and the TOTP secret
    /// (`None` removes it: a reset lets it be enrolled again), all at once.
    /// [`StorageError::InvalidCode`] if the invitation no longer works.
    fn accept_invitation(
        &self,
        token: &str,
        password_hash: &str,
        totp_secret: Option<&str>,
    ) -> Result<Account>;

    /// Replaces an account's password hash.
    fn set_password(&self, account_id: &str, password_hash: &str) -> Result<()>;

    /// Enrols (`Some`) or removes (`None`) an account's TOTP secret; the
    /// remembered step is forgotten with the old secret.
    fn set_totp(&self, account_id: &str, secret: Option<&str>) -> Result<()>;

    /// Records that a TOTP code of `step` was accepted, atomically: `false`
    /// if a code of that step or a later one already was (a replay).
    fn use_totp_step(&self, account_id: &str, step: i64) -> Result<bool>;

    /// Disables an account of the team (idempotent); `None` if the team has
    /// no such account.
    fn disable_account(&self, team_id: &str, account_id: &str) -> Result<Option<Account>>;

    /// Whether the team's accounts must have a second factor.
    fn require_totp(&self, team_id: &str) -> Result<bool>;

    /// Sets whether the team's accounts must have a second factor.
    fn set_require_totp(&self, team_id: &str, on: bool) -> Result<()>;

    /// The teams with a supervisor device in good standing but no account:
    /// their supervisors signed in with their device before accounts, and
    /// need an invitation now.
    fn teams_without_accounts(&self) -> Result<Vec<String>>;

    // The team's log.

    /// Applies a device's batch to its team's log, all or nothing, verified
    /// and committed before it returns. Every change must be made by `actor`,
    /// the device's bound actor (None: the batch may hold erasures only), and
    /// pass the core's rules ([`carnet_core::Store::apply_pushed`]).
    fn push(
        &self,
        team_id: &str,
        device_id: &str,
        actor: Option<&str>,
        batch: &Batch,
    ) -> Result<ApplyReport>;

    /// Makes a supervisor's change to a record of the team, as one
    /// transaction: the core builds it on the stored document with the
    /// account's `actor` and `author` (its name, which phones show), and
    /// applies it exactly as a pushed change ([`carnet_core::store::act_in`]):
    /// the same rules judge it, it takes the log's next position under
    /// `origin`, and every device pulls it. A refusal is the core's typed
    /// error (`StorageError::Core`), with nothing changed.
    fn act(
        &self,
        team_id: &str,
        origin: &str,
        actor: &str,
        author: &str,
        id: RecordId,
        action: &Action,
    ) -> Result<ApplyReport>;

    /// Every team's id: the daily rounds (the retention sweep) walk them.
    fn team_ids(&self) -> Result<Vec<String>>;

    /// The team log after `after`, without the device's own changes, up to
    /// about `max_bytes` of payload.
    fn pull(&self, team_id: &str, device_id: &str, after: u64, max_bytes: usize) -> Result<Batch>;

    /// The newest position of the team's log.
    fn log_head(&self, team_id: &str) -> Result<u64>;

    /// The lineage of the team's log: an opaque string, set when the team
    /// is created ([`new_lineage`]), that every push acknowledgement and
    /// pull page carries. It changes only through
    /// [`Storage::renew_lineages`]; a device that sees another lineage than
    /// the one its cursors count in starts its sync over (pushes everything
    /// it made, pulls everything).
    fn lineage(&self, team_id: &str) -> Result<String>;

    /// Gives every team a new lineage ([`new_lineage`]); returns how many
    /// teams there are. Run after the storage was restored from a backup
    /// (the team logs are older than what devices saw): devices notice the
    /// new lineage at their next sync and give back what the logs lack.
    /// Never while devices may be syncing with a log that was not restored:
    /// they would push and pull everything again (nothing is lost or
    /// doubled, but it costs a full sync each).
    fn renew_lineages(&self) -> Result<usize>;

    /// The team's merged records matching `query`.
    fn records(&self, team_id: &str, query: &Query) -> Result<Page>;

    /// One record of the team with its conflicts and full history.
    fn record(&self, team_id: &str, id: RecordId) -> Result<RecordDetails>;

    /// The team's records as the supervisors' dashboard reads them (counts,
    /// open reports, histories, exports): the core's queries, read-only,
    /// blocking like every method here.
    fn team_reads(&self, team_id: &str) -> Result<Arc<dyn TeamReads>>;

    // Photos.

    /// Where the teams' photo bytes are: one store for every team (each
    /// call names its team), kept where this storage keeps the logs, so
    /// that a backup or a shared database carries both.
    fn blobs(&self) -> Arc<dyn BlobStore>;

    /// What the team's log says of a photo blob (a full image or a
    /// thumbnail, by its own hash): named by a live record (with the size
    /// its reference gives), erased, or unknown. The photo routes take and
    /// serve bytes only under a referenced hash, and never an erased one.
    fn photo_blob_status(&self, team_id: &str, blob: &PhotoHash) -> Result<BlobStatus>;

    /// The collection round: deletes the blobs of erased photos (missed by
    /// the deletion after their push, say by a crash), and blobs no live
    /// record references that were last written before `now - grace_ms`
    /// (a device that has not synced yet still finds a photo in its grace
    /// period). A storage several instances share lets one of them collect
    /// at a time and answers `None` (nothing done) to the others.
    fn collect_photos(&self, grace_ms: i64, now: i64) -> Result<Option<Collected>> {
        blobs::collect(self, grace_ms, now).map(Some)
    }
}
