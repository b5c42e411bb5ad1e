//! `carnet-server migrate-storage`: moves a deployment from the embedded
//! SQLite storage to PostgreSQL, while the SQLite server may still run.
//!
//! Every team, device (its token hash as stored: tokens keep working), code
//! and team log is copied with the SAME positions, seq for seq, and the
//! same lineage, so that devices carry on from where they were: they pull
//! nothing twice and never start their sync over. The read model is
//! rebuilt on PostgreSQL from each record's document by the core
//! ([`carnet_core::store::read_row_of`]), as a push would write it.
//!
//! Reading: each SQLite database is opened read-only and read inside one
//! read transaction, a consistent snapshot even while the server writes
//! (WAL readers never block its writer). `server.db` is read first, then
//! each team's log in turn: a log may hold pushes a little newer than the
//! devices read, which a re-run copies with whatever else was added since.
//! Nothing in the data directory is ever written.
//!
//! Writing: one PostgreSQL transaction per team (none spans two teams),
//! which first locks the team's row of `team_logs` as a push does. A re-run
//! copies only the entries after PostgreSQL's head, erases on PostgreSQL
//! the records erased in SQLite since, and updates devices and codes; it
//! refuses a team whose PostgreSQL log holds changes the SQLite one does
//! not (a server wrote to PostgreSQL meanwhile: the two diverged).
//!
//! Verifying: before each team's transaction commits, the entries, records,
//! tombstones and devices are counted on both sides and a SHA-256 of the
//! log (position, record and change hash of every entry, in order) is
//! computed on both: any difference rolls the team back and is an error
//! naming the team and what differs.
//!
//! Photos: after its log, each team's complete photo files (`blobs/`) are
//! copied into PostgreSQL's chunked rows, one transaction each, checked
//! against their names; a re-run copies only those PostgreSQL lacks and
//! deletes there those erased in SQLite since. Partial uploads are not
//! copied: devices resume them from zero.
//!
//! The dashboard's access log is copied last, on its own
//! ([`copy_access_log`]). Sign-in sessions are not copied: supervisors sign
//! in again.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::Duration;

use carnet_core::RecordId;
use carnet_core::store::{logged_change, read_row_of};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, Transaction};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Result, ServerError};
use crate::storage::blobs::{BlobStore, FilesBlobStore, delete_blob};
use crate::storage::{PostgresStorage, RowWriter, erase_record, is_team_id};

/// The `server.db` schema this reads: version 4 added supervisors'
/// accounts.
const SERVER_DB_VERSION: i64 = 4;
/// The `dashboard.db` schema whose access log this reads.
const DASHBOARD_DB_VERSION: i64 = 2;
/// Entries read per query when the PostgreSQL log is hashed.
const PAGE: i64 = 10_000;

/// What one run of `migrate-storage` found and did.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationReport {
    /// Teams migrated and verified.
    pub teams: usize,
    /// Entries of the teams' logs, equal on both sides.
    pub changes: u64,
    /// Records in the read models, equal on both sides.
    pub records: u64,
    /// Erased records (tombstones), equal on both sides.
    pub tombstones: u64,
    /// Complete photo files, equal on both sides.
    pub photos: u64,
    /// Devices, equal on both sides.
    pub devices: u64,
    /// Enrollment codes copied or updated.
    pub codes: u64,
    /// Supervisors' accounts copied or updated.
    pub accounts: u64,
    /// Access-log entries PostgreSQL holds of the SQLite access log.
    pub access_log_entries: u64,
    /// What this run copied (a re-run copies only what was added since).
    pub copied: Copied,
    /// Every team passed the verification (a run that fails one is an error).
    pub verified: bool,
    /// Per team.
    pub team_reports: Vec<TeamReport>,
}

/// What a run copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Copied {
    /// Log entries appended on PostgreSQL.
    pub changes: u64,
    /// Records whose read-model rows were rebuilt.
    pub records: u64,
    /// Erasures applied on PostgreSQL (the record's rows deleted, its
    /// tombstone kept).
    pub erasures: u64,
    /// Access-log entries.
    pub access_log_entries: u64,
    /// Photo files (full images and thumbnails) copied.
    pub photos: u64,
    /// Their bytes.
    pub photo_bytes: u64,
    /// Photos deleted on PostgreSQL (erased in SQLite since the previous run).
    pub photos_deleted: u64,
}

/// One team, as verified.
#[derive(Debug, Clone, Serialize)]
pub struct TeamReport {
    /// The team's id (the same on both sides).
    pub team_id: String,
    /// Its log's last position, the same on both sides.
    pub head: u64,
    /// Log entries.
    pub changes: u64,
    /// Records.
    pub records: u64,
    /// Tombstones.
    pub tombstones: u64,
    /// Devices.
    pub devices: u64,
    /// SHA-256 of the log (position, record, change hash of each entry).
    pub log_sha256: String,
    /// Complete photo files, the same on both sides.
    pub photos: u64,
    /// What this run copied of it.
    pub copied: Copied,
}

struct TeamRow {
    id: String,
    name: String,
    config: String,
    created_at: i64,
    lineage: String,
    require_totp: bool,
}

struct AccountRow {
    id: String,
    team_id: String,
    name: String,
    email: String,
    password_hash: Option<String>,
    totp_secret: Option<String>,
    totp_last_step: Option<i64>,
    created_at: i64,
    disabled_at: Option<i64>,
    actor: String,
}

struct InvitationRow {
    hash: Vec<u8>,
    account_id: String,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

struct DeviceRow {
    id: String,
    team_id: String,
    role: String,
    name: String,
    token_hash: Vec<u8>,
    enrolled_at: i64,
    last_seen: Option<i64>,
    revoked_at: Option<i64>,
    wipe_ordered_at: Option<i64>,
    actor: Option<String>,
    revoked_reason: Option<String>,
}

struct CodeRow {
    hash: Vec<u8>,
    team_id: String,
    role: String,
    name: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    device_id: Option<String>,
    sealed_token: Option<Vec<u8>>,
}

/// `server.db`, as one snapshot.
struct Directory {
    teams: Vec<TeamRow>,
    devices: Vec<DeviceRow>,
    codes: Vec<CodeRow>,
    accounts: Vec<AccountRow>,
    invitations: Vec<InvitationRow>,
}

fn failed(message: impl Into<String>) -> ServerError {
    ServerError::Migration(message.into())
}

/// Copies the SQLite deployment in `from` into the PostgreSQL database at
/// `to` (its schema brought up to date first), then verifies every team.
/// Safe to run again: each run copies what was added since the previous
/// one. For the final run, stop the SQLite server (or keep devices from
/// syncing with it) so that nothing is added after it.
pub fn migrate(from: &Path, to: &str) -> Result<MigrationReport> {
    let directory = read_directory(from)?;
    let target = PostgresStorage::connect(to, 1)?;
    let mut pg = target.conn()?;
    let mut report = MigrationReport {
        teams: 0,
        changes: 0,
        records: 0,
        tombstones: 0,
        photos: 0,
        devices: 0,
        codes: 0,
        accounts: 0,
        access_log_entries: 0,
        copied: Copied::default(),
        verified: false,
        team_reports: Vec::new(),
    };
    let files = FilesBlobStore::new(&from.join("blobs"));
    for team in &directory.teams {
        let mut team_report = migrate_team(&mut pg, from, team, &directory)?;
        copy_photos(&mut pg, &files, &mut team_report)?;
        report.teams += 1;
        report.photos += team_report.photos;
        report.copied.photos += team_report.copied.photos;
        report.copied.photo_bytes += team_report.copied.photo_bytes;
        report.copied.photos_deleted += team_report.copied.photos_deleted;
        report.changes += team_report.changes;
        report.records += team_report.records;
        report.tombstones += team_report.tombstones;
        report.devices += team_report.devices;
        report.copied.changes += team_report.copied.changes;
        report.copied.records += team_report.copied.records;
        report.copied.erasures += team_report.copied.erasures;
        report.team_reports.push(team_report);
    }
    report.codes = directory.codes.len() as u64;
    report.accounts = directory.accounts.len() as u64;
    let (held, copied) = copy_access_log(&mut pg, from)?;
    report.access_log_entries = held;
    report.copied.access_log_entries = copied;
    report.verified = true;
    Ok(report)
}

/// Opens an SQLite database of the deployment read-only: nothing in `from`
/// is ever written.
fn open_read_only(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(failed(format!(
            "{} is missing; --from must name the data directory of a carnet-server",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

fn schema_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Teams, devices and codes, from one read transaction on `server.db`.
fn read_directory(from: &Path) -> Result<Directory> {
    let path = from.join("server.db");
    let conn = open_read_only(&path)?;
    let tx = conn.unchecked_transaction()?;
    let version = schema_version(&tx)?;
    if version < SERVER_DB_VERSION {
        return Err(failed(format!(
            "{} has schema version {version}, older than this carnet-server's: start this carnet-server once on that directory (it upgrades it), then migrate",
            path.display()
        )));
    }
    if version > SERVER_DB_VERSION {
        return Err(failed(format!(
            "{} has schema version {version}, newer than this carnet-server's: migrate with the carnet-server that wrote it",
            path.display()
        )));
    }
    let teams = tx
        .prepare("SELECT id, name, config, created_at, lineage, require_totp FROM teams ORDER BY created_at, id")?
        .query_map([], |r| {
            Ok(TeamRow {
                id: r.get(0)?,
                name: r.get(1)?,
                config: r.get(2)?,
                created_at: r.get(3)?,
                lineage: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                require_totp: r.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for team in &teams {
        if !is_team_id(&team.id) || team.lineage.is_empty() {
            return Err(failed(format!(
                "{} lists a team that is not well formed (id not a UUID, or no lineage); nothing was copied",
                path.display()
            )));
        }
    }
    // Revoked devices first: a device revoked since the previous run frees
    // its actor for another one, which is then written after it.
    let devices = tx
        .prepare(
            "SELECT id, team_id, role, name, token_hash, enrolled_at, last_seen, revoked_at,
                    wipe_ordered_at, actor, revoked_reason
             FROM devices ORDER BY revoked_at IS NULL, enrolled_at, id",
        )?
        .query_map([], |r| {
            Ok(DeviceRow {
                id: r.get(0)?,
                team_id: r.get(1)?,
                role: r.get(2)?,
                name: r.get(3)?,
                token_hash: r.get(4)?,
                enrolled_at: r.get(5)?,
                last_seen: r.get(6)?,
                revoked_at: r.get(7)?,
                wipe_ordered_at: r.get(8)?,
                actor: r.get(9)?,
                revoked_reason: r.get(10)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let codes = tx
        .prepare(
            "SELECT hash, team_id, role, name, created_at, expires_at, used_at, device_id, sealed_token
             FROM codes ORDER BY created_at",
        )?
        .query_map([], |r| {
            Ok(CodeRow {
                hash: r.get(0)?,
                team_id: r.get(1)?,
                role: r.get(2)?,
                name: r.get(3)?,
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
                used_at: r.get(6)?,
                device_id: r.get(7)?,
                sealed_token: r.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let accounts = tx
        .prepare(
            "SELECT id, team_id, name, email, password_hash, totp_secret, totp_last_step,
                    created_at, disabled_at, actor
             FROM accounts ORDER BY created_at, id",
        )?
        .query_map([], |r| {
            Ok(AccountRow {
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
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let invitations = tx
        .prepare("SELECT hash, account_id, created_at, expires_at, used_at FROM invitations ORDER BY created_at")?
        .query_map([], |r| {
            Ok(InvitationRow {
                hash: r.get(0)?,
                account_id: r.get(1)?,
                created_at: r.get(2)?,
                expires_at: r.get(3)?,
                used_at: r.get(4)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(Directory {
        teams,
        devices,
        codes,
        accounts,
        invitations,
    })
}

/// Copies one team in one PostgreSQL transaction, verified before it
/// commits.
fn migrate_team(
    pg: &mut Client,
    from: &Path,
    team: &TeamRow,
    directory: &Directory,
) -> Result<TeamReport> {
    let lite_conn = open_read_only(&from.join("teams").join(format!("{}.db", team.id)))?;
    // The team log's snapshot: everything below reads this one state.
    let lite = lite_conn.unchecked_transaction()?;
    let mut tx = pg.transaction()?;
    tx.execute(
        "INSERT INTO teams (id, name, config, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (id) DO NOTHING",
        &[&team.id, &team.name, &team.config, &team.created_at],
    )?;
    tx.execute(
        "INSERT INTO team_logs (team_id, head, lineage) VALUES ($1, 0, $2)
         ON CONFLICT (team_id) DO NOTHING",
        &[&team.id, &team.lineage],
    )?;
    // Locked until commit, as a push locks it: no push to this team on
    // PostgreSQL runs meanwhile.
    let row = tx.query_one(
        "SELECT head, lineage FROM team_logs WHERE team_id = $1 FOR UPDATE",
        &[&team.id],
    )?;
    let pg_head: i64 = row.get(0);
    let pg_lineage: String = row.get(1);
    if pg_lineage != team.lineage {
        return Err(failed(format!(
            "team {}: its log has another lineage on PostgreSQL than in SQLite (one of them was restored or renewed since the previous run); migrate into an empty database",
            team.id
        )));
    }
    let lite_head: i64 =
        lite.query_row("SELECT coalesce(max(seq), 0) FROM change_log", [], |r| {
            r.get(0)
        })?;
    check_not_diverged(&mut tx, &lite, &team.id, pg_head, lite_head)?;

    copy_devices_and_codes(&mut tx, team, directory)?;
    let mut copied = Copied::default();
    // Records erased since the previous run: gone from PostgreSQL too,
    // before their erasure is appended with the other entries.
    // (An erased photo's entry has no bytes either, and may be logged
    // under a record erased since.)
    let photos = has_photos(&lite)?;
    let erased: Vec<(Vec<u8>, i64)> = lite
        .prepare(if photos {
            "SELECT c.record_id, t.erased_at FROM change_log c JOIN tombstones t ON t.id = c.record_id
             WHERE c.seq > ?1 AND c.bytes IS NULL AND c.photo IS NULL ORDER BY c.seq"
        } else {
            "SELECT c.record_id, t.erased_at FROM change_log c JOIN tombstones t ON t.id = c.record_id
             WHERE c.seq > ?1 AND c.bytes IS NULL ORDER BY c.seq"
        })?
        .query_map([pg_head], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, at) in &erased {
        erase_record(&mut tx, &team.id, record_id(id)?, *at)?;
    }
    copied.erasures = erased.len() as u64;
    let touched = copy_log(&mut tx, &lite, &team.id, pg_head, photos, &mut copied)?;
    copy_documents(&mut tx, &lite, &team.id, pg_head)?;
    let mut rows = RowWriter::default();
    for id in &touched {
        let Some(bytes) = doc_bytes(&lite, id)? else {
            continue;
        };
        let row = read_row_of(record_id(id)?, &bytes)?;
        rows.write(&mut tx, &team.id, &row, pg_head == 0)?;
        copied.records += 1;
    }
    if photos {
        copy_photo_tombstones(&mut tx, &lite, &team.id)?;
    }
    tx.execute(
        "UPDATE team_logs SET head = $2 WHERE team_id = $1",
        &[&team.id, &lite_head],
    )?;
    let report = verify(&mut tx, &lite, team, directory, lite_head, copied)?;
    tx.commit()?;
    lite.commit()?;
    Ok(report)
}

/// Refuses a team whose PostgreSQL log is not a beginning of its SQLite
/// log: a server wrote to PostgreSQL since the previous run.
fn check_not_diverged(
    tx: &mut Transaction<'_>,
    lite: &Connection,
    team: &str,
    pg_head: i64,
    lite_head: i64,
) -> Result<()> {
    let diverged = |what: &str| {
        failed(format!(
            "team {team}: PostgreSQL holds changes the SQLite storage does not ({what}): a server has written to PostgreSQL since the previous run, and the two logs diverged; nothing of this team was copied. Migrate into an empty database, or keep serving from PostgreSQL"
        ))
    };
    if pg_head > lite_head {
        return Err(diverged(&format!(
            "its log reaches position {pg_head}, SQLite's {lite_head}"
        )));
    }
    if pg_head == 0 {
        return Ok(());
    }
    let Some(pg_row) = tx.query_opt(
        "SELECT record_id, hash FROM change_log WHERE team_id = $1 AND seq = $2",
        &[&team, &pg_head],
    )?
    else {
        return Err(diverged(&format!("no entry at its head, {pg_head}")));
    };
    let pg_entry: (Vec<u8>, Option<Vec<u8>>) = (pg_row.get(0), pg_row.get(1));
    let lite_entry: Option<(Vec<u8>, Option<Vec<u8>>)> = lite
        .query_row(
            "SELECT record_id, hash FROM change_log WHERE seq = ?1",
            [pg_head],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let same = match lite_entry {
        Some(entry) => entry == pg_entry,
        // The entry's record was erased in SQLite since, which removed its
        // entries: its tombstone says so.
        None => lite
            .query_row(
                "SELECT 1 FROM tombstones WHERE id = ?1",
                [&pg_entry.0],
                |_| Ok(()),
            )
            .optional()?
            .is_some(),
    };
    if !same {
        return Err(diverged(&format!("another change at position {pg_head}")));
    }
    Ok(())
}

/// The team itself on PostgreSQL: its devices (token hashes as stored, so
/// that tokens keep working), codes, supervisors' accounts (password
/// hashes and TOTP secrets as stored, so that passwords keep working) with
/// their invitations, and whether it requires a second factor, added or
/// brought up to date.
fn copy_devices_and_codes(
    tx: &mut Transaction<'_>,
    team: &TeamRow,
    directory: &Directory,
) -> Result<()> {
    let upsert = tx.prepare(
        "INSERT INTO devices (id, team_id, role, name, token_hash, enrolled_at, last_seen, revoked_at,
                              wipe_ordered_at, actor, revoked_reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
         ON CONFLICT (id) DO UPDATE SET
             token_hash = excluded.token_hash,
             last_seen = greatest(devices.last_seen, excluded.last_seen),
             revoked_at = coalesce(excluded.revoked_at, devices.revoked_at),
             revoked_reason = coalesce(excluded.revoked_reason, devices.revoked_reason),
             wipe_ordered_at = coalesce(excluded.wipe_ordered_at, devices.wipe_ordered_at),
             actor = coalesce(excluded.actor, devices.actor)",
    )?;
    for d in directory.devices.iter().filter(|d| d.team_id == team.id) {
        tx.execute(
            &upsert,
            &[
                &d.id,
                &d.team_id,
                &d.role,
                &d.name,
                &d.token_hash,
                &d.enrolled_at,
                &d.last_seen,
                &d.revoked_at,
                &d.wipe_ordered_at,
                &d.actor,
                &d.revoked_reason,
            ],
        )?;
    }
    let upsert = tx.prepare(
        "INSERT INTO codes (hash, team_id, role, name, created_at, expires_at, used_at, device_id, sealed_token)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (hash) DO UPDATE SET
             expires_at = excluded.expires_at, used_at = excluded.used_at,
             device_id = excluded.device_id, sealed_token = excluded.sealed_token",
    )?;
    tx.execute(
        "UPDATE teams SET require_totp = $2 WHERE id = $1",
        &[&team.id, &team.require_totp],
    )?;
    let upsert_account = tx.prepare(
        "INSERT INTO accounts (id, team_id, name, email, password_hash, totp_secret, totp_last_step,
                               created_at, disabled_at, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET
             name = excluded.name, email = excluded.email,
             password_hash = excluded.password_hash, totp_secret = excluded.totp_secret,
             totp_last_step = greatest(accounts.totp_last_step, excluded.totp_last_step),
             disabled_at = coalesce(accounts.disabled_at, excluded.disabled_at)",
    )?;
    let mine: Vec<&AccountRow> = directory
        .accounts
        .iter()
        .filter(|a| a.team_id == team.id)
        .collect();
    for a in &mine {
        tx.execute(
            &upsert_account,
            &[
                &a.id,
                &a.team_id,
                &a.name,
                &a.email,
                &a.password_hash,
                &a.totp_secret,
                &a.totp_last_step,
                &a.created_at,
                &a.disabled_at,
                &a.actor,
            ],
        )?;
    }
    let upsert_invitation = tx.prepare(
        "INSERT INTO invitations (hash, account_id, created_at, expires_at, used_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (hash) DO UPDATE SET used_at = coalesce(invitations.used_at, excluded.used_at)",
    )?;
    for i in directory
        .invitations
        .iter()
        .filter(|i| mine.iter().any(|a| a.id == i.account_id))
    {
        tx.execute(
            &upsert_invitation,
            &[
                &i.hash,
                &i.account_id,
                &i.created_at,
                &i.expires_at,
                &i.used_at,
            ],
        )?;
    }
    for c in directory.codes.iter().filter(|c| c.team_id == team.id) {
        tx.execute(
            &upsert,
            &[
                &c.hash,
                &c.team_id,
                &c.role,
                &c.name,
                &c.created_at,
                &c.expires_at,
                &c.used_at,
                &c.device_id,
                &c.sealed_token,
            ],
        )?;
    }
    Ok(())
}

/// Whether the team's SQLite log knows photos (its store was opened by a
/// Carnet with them: schema 6 and later).
fn has_photos(lite: &Connection) -> Result<bool> {
    Ok(lite.query_row(
        "SELECT count(*) FROM pragma_table_info('change_log') WHERE name = 'photo'",
        [],
        |r| r.get::<_, i64>(0),
    )? > 0)
}

/// The team's erased photos: tombstones added, and no record row naming
/// them (a record rebuilt from its document may name one that a stale
/// device added back).
fn copy_photo_tombstones(tx: &mut Transaction<'_>, lite: &Connection, team: &str) -> Result<()> {
    let insert = tx.prepare(
        "INSERT INTO photo_tombstones (team_id, hash, thumb, at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )?;
    let mut stmt = lite.prepare("SELECT hash, thumb, at FROM photo_tombstones")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let (hash, thumb, at): (Vec<u8>, Vec<u8>, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
        tx.execute(&insert, &[&team, &hash, &thumb, &at])?;
    }
    tx.execute(
        "DELETE FROM record_photos r USING photo_tombstones t
         WHERE r.team_id = $1 AND t.team_id = $1 AND r.hash = t.hash",
        &[&team],
    )?;
    Ok(())
}

/// Appends the SQLite log's entries after `after` to the PostgreSQL log,
/// at the same positions (one binary COPY), erased photos' hashes with
/// them when the log has any (`photos`); returns the records they changed.
fn copy_log(
    tx: &mut Transaction<'_>,
    lite: &Connection,
    team: &str,
    after: i64,
    photos: bool,
    copied: &mut Copied,
) -> Result<BTreeSet<Vec<u8>>> {
    let mut touched = BTreeSet::new();
    let sink = tx.copy_in(
        "COPY change_log (team_id, seq, record_id, hash, origin, bytes, photo) FROM STDIN (FORMAT binary)",
    )?;
    let mut writer = BinaryCopyInWriter::new(
        sink,
        &[
            Type::TEXT,
            Type::INT8,
            Type::BYTEA,
            Type::BYTEA,
            Type::TEXT,
            Type::BYTEA,
            Type::BYTEA,
        ],
    );
    let mut stmt = lite.prepare(if photos {
        "SELECT seq, record_id, hash, origin, bytes, photo FROM change_log WHERE seq > ?1 ORDER BY seq"
    } else {
        "SELECT seq, record_id, hash, origin, bytes, NULL FROM change_log WHERE seq > ?1 ORDER BY seq"
    })?;
    let mut rows = stmt.query([after])?;
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let id: Vec<u8> = r.get(1)?;
        let hash: Option<Vec<u8>> = r.get(2)?;
        let origin: String = r.get(3)?;
        // PostgreSQL keeps each change as it is, not packed as SQLite's log
        // keeps it.
        let bytes: Option<Vec<u8>> = r
            .get::<_, Option<Vec<u8>>>(4)?
            .map(logged_change)
            .transpose()?;
        let photo: Option<Vec<u8>> = r.get(5)?;
        writer.write(&[&team, &seq, &id, &hash, &origin, &bytes, &photo])?;
        if bytes.is_some() {
            touched.insert(id);
        }
        copied.changes += 1;
    }
    writer.finish()?;
    Ok(touched)
}

/// The records' snapshots written in SQLite since the previous run (a
/// snapshot covers its record's entries up to `upto`, and is rewritten
/// with a new entry).
fn copy_documents(
    tx: &mut Transaction<'_>,
    lite: &Connection,
    team: &str,
    after: i64,
) -> Result<()> {
    let upsert = tx.prepare(
        "INSERT INTO documents (team_id, id, bytes, upto) VALUES ($1, $2, $3, $4)
         ON CONFLICT (team_id, id) DO UPDATE SET bytes = excluded.bytes, upto = excluded.upto",
    )?;
    let mut stmt = lite.prepare("SELECT id, bytes, upto FROM documents WHERE upto > ?1")?;
    let mut rows = stmt.query([after])?;
    while let Some(r) = rows.next()? {
        let id: Vec<u8> = r.get(0)?;
        let bytes: Vec<u8> = r.get(1)?;
        let upto: i64 = r.get(2)?;
        tx.execute(&upsert, &[&team, &id, &bytes, &upto])?;
    }
    Ok(())
}

/// A record's document in the SQLite snapshot (its snapshot, then its
/// entries after it), or None if it holds none (erased).
fn doc_bytes(lite: &Connection, id: &[u8]) -> Result<Option<Vec<u8>>> {
    let (mut bytes, upto): (Vec<u8>, i64) = lite
        .prepare_cached("SELECT bytes, upto FROM documents WHERE id = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or_default();
    let mut stmt = lite.prepare_cached(
        "SELECT bytes FROM change_log WHERE record_id = ?1 AND seq > ?2 AND bytes IS NOT NULL ORDER BY seq",
    )?;
    let mut rows = stmt.query(rusqlite::params![id, upto])?;
    while let Some(r) = rows.next()? {
        bytes.extend_from_slice(&logged_change(r.get(0)?)?);
    }
    Ok((!bytes.is_empty()).then_some(bytes))
}

fn record_id(bytes: &[u8]) -> Result<RecordId> {
    RecordId::from_slice(bytes).ok_or_else(|| {
        failed("a record id in a team log is not 16 bytes; the SQLite file is damaged")
    })
}

/// What is counted and hashed on each side.
#[derive(Debug, PartialEq, Eq)]
struct Tally {
    head: i64,
    changes: i64,
    records: i64,
    tombstones: i64,
    devices: i64,
    log_sha256: String,
}

/// One log entry, into the log's hash.
fn hash_entry(h: &mut Sha256, seq: i64, record: &[u8], hash: Option<&[u8]>) {
    h.update(seq.to_be_bytes());
    h.update((record.len() as u32).to_be_bytes());
    h.update(record);
    match hash {
        Some(hash) => {
            h.update([1]);
            h.update(hash);
        }
        None => h.update([0]),
    }
}

/// Counts and hashes both sides; any difference is an error naming the
/// team and what differs.
fn verify(
    tx: &mut Transaction<'_>,
    lite: &Connection,
    team: &TeamRow,
    directory: &Directory,
    lite_head: i64,
    copied: Copied,
) -> Result<TeamReport> {
    let count = |sql: &str| -> Result<i64> { Ok(lite.query_row(sql, [], |r| r.get(0))?) };
    let mut h = Sha256::new();
    {
        let mut stmt = lite.prepare("SELECT seq, record_id, hash FROM change_log ORDER BY seq")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (seq, id, hash): (i64, Vec<u8>, Option<Vec<u8>>) =
                (r.get(0)?, r.get(1)?, r.get(2)?);
            hash_entry(&mut h, seq, &id, hash.as_deref());
        }
    }
    let sqlite = Tally {
        head: lite_head,
        changes: count("SELECT count(*) FROM change_log")?,
        records: count("SELECT count(*) FROM records")?,
        tombstones: count("SELECT count(*) FROM tombstones")?,
        devices: directory
            .devices
            .iter()
            .filter(|d| d.team_id == team.id)
            .count() as i64,
        log_sha256: hex::encode(h.finalize()),
    };

    let mut count = |sql: &str| -> Result<i64> { Ok(tx.query_one(sql, &[&team.id])?.get(0)) };
    let head = count("SELECT head FROM team_logs WHERE team_id = $1")?;
    let changes = count("SELECT count(*) FROM change_log WHERE team_id = $1")?;
    let records = count("SELECT count(*) FROM records WHERE team_id = $1")?;
    let tombstones = count("SELECT count(*) FROM tombstones WHERE team_id = $1")?;
    let devices = count("SELECT count(*) FROM devices WHERE team_id = $1")?;
    let mut h = Sha256::new();
    let mut after = 0i64;
    loop {
        let rows = tx.query(
            "SELECT seq, record_id, hash FROM change_log WHERE team_id = $1 AND seq > $2
             ORDER BY seq LIMIT $3",
            &[&team.id, &after, &PAGE],
        )?;
        for r in &rows {
            after = r.get(0);
            hash_entry(&mut h, after, r.get(1), r.get(2));
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    let postgres = Tally {
        head,
        changes,
        records,
        tombstones,
        devices,
        log_sha256: hex::encode(h.finalize()),
    };

    if sqlite != postgres {
        let mut differences = Vec::new();
        let mut differs = |what: &str, a: &dyn std::fmt::Display, b: &dyn std::fmt::Display| {
            differences.push(format!("{what}: {a} in SQLite, {b} in PostgreSQL"));
        };
        if sqlite.head != postgres.head {
            differs("log head", &sqlite.head, &postgres.head);
        }
        if sqlite.changes != postgres.changes {
            differs("log entries", &sqlite.changes, &postgres.changes);
        }
        if sqlite.records != postgres.records {
            differs("records", &sqlite.records, &postgres.records);
        }
        if sqlite.tombstones != postgres.tombstones {
            differs("tombstones", &sqlite.tombstones, &postgres.tombstones);
        }
        if sqlite.devices != postgres.devices {
            differs("devices", &sqlite.devices, &postgres.devices);
        }
        if sqlite.log_sha256 != postgres.log_sha256 {
            differs("log SHA-256", &sqlite.log_sha256, &postgres.log_sha256);
        }
        return Err(failed(format!(
            "team {}: the copy does not match, so it was not committed ({})",
            team.id,
            differences.join("; ")
        )));
    }
    Ok(TeamReport {
        team_id: team.id.clone(),
        head: sqlite.head as u64,
        changes: sqlite.changes as u64,
        records: sqlite.records as u64,
        tombstones: sqlite.tombstones as u64,
        devices: sqlite.devices as u64,
        log_sha256: sqlite.log_sha256,
        photos: 0,
        copied,
    })
}

/// Bytes per row of `photo_chunks` for a copied photo.
const PHOTO_CHUNK: usize = 256 * 1024;

/// Brings the team's photos on PostgreSQL to what `files` holds complete:
/// those it lacks copied (one transaction each, checked against their
/// name), those erased in SQLite since deleted. Counts them on both sides.
fn copy_photos(pg: &mut Client, files: &FilesBlobStore, report: &mut TeamReport) -> Result<()> {
    let team = report.team_id.as_str();
    let mut complete = BTreeSet::new();
    for (hash, _) in files.list(team)? {
        if files.size(team, &hash)?.is_some() {
            complete.insert(hash);
        }
    }
    let held: Vec<(Vec<u8>, bool)> = pg
        .query(
            "SELECT hash, complete FROM photo_blobs WHERE team_id = $1",
            &[&team],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let mut done = BTreeSet::new();
    for (hash, is_complete) in &held {
        match carnet_core::photo::PhotoHash::from_slice(hash) {
            Some(h) if *is_complete && complete.contains(&h) => {
                done.insert(h);
            }
            Some(h) => {
                let mut tx = pg.transaction()?;
                delete_blob(&mut tx, team, &h)?;
                tx.commit()?;
                if *is_complete {
                    report.copied.photos_deleted += 1;
                }
            }
            None => {
                return Err(failed(format!(
                    "team {team}: PostgreSQL holds a photo whose name is not a SHA-256; the database is damaged"
                )));
            }
        }
    }
    for hash in complete.difference(&done) {
        // Erased in SQLite since it was listed: nothing to copy.
        let Some(bytes) = files.read(team, hash, 0, usize::MAX)? else {
            continue;
        };
        if carnet_core::photo::PhotoHash::of(&bytes) != *hash {
            return Err(failed(format!(
                "team {team}: the photo file {hash} does not hold the photo its name says (the disk is damaged); delete that file, then migrate again"
            )));
        }
        let mut tx = pg.transaction()?;
        let raw = hash.as_bytes().as_slice();
        tx.execute(
            "INSERT INTO photo_blobs (team_id, hash, complete, size, stored_at) VALUES ($1, $2, TRUE, $3, $4)",
            &[&team, &raw, &(bytes.len() as i64), &carnet_core::now_ms()],
        )?;
        for (i, chunk) in bytes.chunks(PHOTO_CHUNK).enumerate() {
            tx.execute(
                "INSERT INTO photo_chunks (team_id, hash, pos, bytes) VALUES ($1, $2, $3, $4)",
                &[&team, &raw, &((i * PHOTO_CHUNK) as i64), &chunk],
            )?;
        }
        tx.commit()?;
        report.copied.photos += 1;
        report.copied.photo_bytes += bytes.len() as u64;
    }
    let on_pg: i64 = pg
        .query_one(
            "SELECT count(*) FROM photo_blobs WHERE team_id = $1 AND complete",
            &[&team],
        )?
        .get(0);
    let in_files = files
        .list(team)?
        .iter()
        .filter(|(h, _)| complete.contains(h))
        .count();
    if on_pg as usize != in_files {
        return Err(failed(format!(
            "team {team}: photos: {in_files} in SQLite's files, {on_pg} in PostgreSQL; run migrate-storage again"
        )));
    }
    report.photos = in_files as u64;
    Ok(())
}

/// Copies the dashboard's access log (`dashboard.db`) into the database's
/// `access_log`, in one transaction; entries it already holds (same team
/// and position) are left as they are. Returns how many entries of the
/// SQLite log PostgreSQL holds, and how many this run copied.
fn copy_access_log(pg: &mut Client, from: &Path) -> Result<(u64, u64)> {
    let path = from.join("dashboard.db");
    if !path.is_file() {
        // The dashboard was never used: no access to account for.
        return Ok((0, 0));
    }
    let conn = open_read_only(&path)?;
    let lite = conn.unchecked_transaction()?;
    if schema_version(&lite)? < DASHBOARD_DB_VERSION {
        return Err(failed(format!(
            "{} is from an older carnet-server: start this carnet-server once on that directory (it upgrades it), then migrate",
            path.display()
        )));
    }
    let mut tx = pg.transaction()?;
    let held: HashSet<(String, i64)> = tx
        .query("SELECT team_id, seq FROM access_log", &[])?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    // The entries keep their positions (one counter for every team, as in
    // dashboard.db), so that a re-run recognises them.
    let insert = tx.prepare(
        "INSERT INTO access_log (team_id, seq, at, action, n_records, record_ids, device_id, person, client)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )?;
    let (mut total, mut copied) = (0u64, 0u64);
    let mut stmt = lite.prepare(
        "SELECT team_id, seq, at, action, n_records, record_ids, device_id, person, client
         FROM access_log ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        total += 1;
        let team: String = r.get(0)?;
        let seq: i64 = r.get(1)?;
        if held.contains(&(team.clone(), seq)) {
            continue;
        }
        let (at, action, n, ids, device, person, client): (
            i64,
            String,
            i64,
            Vec<u8>,
            String,
            String,
            String,
        ) = (
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        );
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        tx.execute(
            &insert,
            &[
                &team, &seq, &at, &action, &n, &ids, &device, &person, &client,
            ],
        )?;
        copied += 1;
    }
    // New entries are numbered after the copied ones.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('access_log', 'seq'), max(seq)) FROM access_log HAVING max(seq) IS NOT NULL",
        &[],
    )?;
    tx.commit()?;
    Ok((total, copied))
}
