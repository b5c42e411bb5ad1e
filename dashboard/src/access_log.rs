//! The access log: who read or exported which records, when and from where
//! — never what the records say. Supervisors' reads of residents' data must
//! be traceable (RGPD accountability: a resident's access request, an
//! audit), yet the log itself must not become a second copy of that data,
//! so it holds ids and filters only.
//!
//! One log serves the dashboard's pages and the server's API: the server
//! opens it once and hands it to [`crate::router_with_stores`]. Where it is
//! kept is an [`AccessLogStore`]: [`AccessLog`], in `dashboard.db` (whose
//! schema is versioned, `PRAGMA user_version`, and migrated forward at
//! open), for the embedded server; the server's PostgreSQL database when it
//! serves from one, so that every instance writes to and lists one log.
//!
//! The table is append-only, enforced by the database itself rather than by
//! convention: a trigger refuses every `UPDATE`, another every `DELETE` of
//! an entry younger than the retention period, so that neither a bug nor a
//! hurried hand can rewrite who read what. Entries past the retention
//! (365 days by default) are purged at start and daily.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use carnet_core::RecordId;
use carnet_core::csv::{Cell, CsvWriter, Dialect};
use rusqlite::{Connection, params};
use serde::Serialize;

use crate::DashboardError;

/// `dashboard.db`'s migrations, in order (see [`carnet_core::migrate`]):
/// never edit a shipped one, add a file.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001_sessions_and_access_log.sql"),
    include_str!("../migrations/002_access_log_columns.sql"),
    include_str!("../migrations/003_account_sessions.sql"),
];

/// How long entries are kept unless configured otherwise: a year, the
/// longest a supervisor's read may need to be answered for.
pub const DEFAULT_RETENTION_DAYS: u32 = 365;

/// Now minus `days`, in ms, computed by SQLite: the purge and the trigger
/// guarding deletions read the same clock, so a purge never trips the
/// trigger on an entry at the edge.
fn cutoff_sql(days: &str) -> String {
    format!("(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) - ({days}) * 86400000)")
}

/// Opens `dashboard.db` in `data_dir` with the settings both the sessions
/// and the access log rely on, and brings its schema to the newest of `MIGRATIONS`.
pub(crate) fn open_db(data_dir: &Path) -> Result<Connection, DashboardError> {
    std::fs::create_dir_all(data_dir)?;
    let mut conn = Connection::open(data_dir.join("dashboard.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;
         PRAGMA secure_delete = ON;",
    )?;
    migrate(&mut conn)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), DashboardError> {
    // Immediate (in `apply`): the sessions and the log open the file at the
    // same time, and only one of them may migrate it.
    carnet_core::migrate::apply(conn, MIGRATIONS).map_err(|e| match e {
        carnet_core::Error::NewerSchema { found, supported } => DashboardError::Internal(format!(
            "dashboard.db has schema version {found}, newer than this server's {supported}: update the server"
        )),
        other => other.into(),
    })
}

/// One read to log: who (device and person), from where, what.
#[derive(Debug, Clone, Copy)]
pub struct Access<'a> {
    /// The team whose records were read.
    pub team_id: &'a str,
    /// Who read: a device (the API) or a supervisor's account (the
    /// dashboard), by its id as the server knows it. The column keeps its
    /// first name, `device_id`, so that older entries read the same.
    pub device_id: &'a str,
    /// The reader: the device's name in the registry, or the account's
    /// person.
    pub person: &'a str,
    /// The client's address, as the server reads it (`unknown` without one).
    pub client: &'a str,
    /// What they did: the page, export or API route, with its filters
    /// (never content, never a searched text).
    pub action: &'a str,
    /// The records read or exported.
    pub record_ids: &'a [RecordId],
}

/// One entry of the log, as read back and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccessEntry {
    /// Its place in the log (gaps mean purged entries, never edited ones).
    pub seq: i64,
    /// When, ms since the Unix epoch.
    pub at: i64,
    /// The team whose records were read.
    pub team_id: String,
    /// The reader's device or account id.
    pub device_id: String,
    /// The reader's name.
    pub person: String,
    /// The client's address.
    pub client: String,
    /// What they did.
    pub action: String,
    /// The records read or exported.
    pub record_ids: Vec<RecordId>,
}

impl AccessEntry {
    /// The reader as one label: name and device, never a token.
    pub fn who(&self) -> String {
        format!("{} [{}]", self.person, self.device_id)
    }
}

/// Where the access log is kept: append-only, every entry kept for the
/// retention period. Every method may block on storage.
pub trait AccessLogStore: Send + Sync + 'static {
    /// Appends `access`, now.
    fn record(&self, access: &Access<'_>) -> Result<(), DashboardError>;

    /// The newest `limit` entries of a team, newest first (the page).
    fn recent(&self, team_id: &str, limit: u32) -> Result<Vec<AccessEntry>, DashboardError>;

    /// Every entry of a team still kept, oldest first (the exports).
    fn entries(&self, team_id: &str) -> Result<Vec<AccessEntry>, DashboardError>;

    /// Days entries are kept.
    fn retention_days(&self) -> u32;

    /// Deletes the entries past the retention period; returns how many
    /// went, or `None` when another instance sharing the log is doing it.
    fn purge_expired(&self) -> Result<Option<usize>, DashboardError>;
}

/// Record ids as the log stores them: 16 bytes each, packed, so that
/// logging an export of the whole team's log stays cheap.
pub fn pack_ids(ids: &[RecordId]) -> Vec<u8> {
    let mut packed = Vec::with_capacity(ids.len() * 16);
    for id in ids {
        packed.extend_from_slice(id.as_bytes());
    }
    packed
}

/// The ids [`pack_ids`] packed.
pub fn unpack_ids(packed: &[u8]) -> Vec<RecordId> {
    packed
        .chunks_exact(16)
        .filter_map(RecordId::from_slice)
        .collect()
}

/// The access log in `dashboard.db`, shareable between threads (and
/// between the server's API and the dashboard).
pub struct AccessLog {
    dir: PathBuf,
    retention_days: u32,
    /// Opened on first use by [`AccessLog::at`], at once by [`AccessLog::open`].
    conn: Mutex<Option<Connection>>,
}

impl AccessLog {
    /// Opens (or creates) the log in `data_dir/dashboard.db`, keeping entries
    /// `retention_days` days (at least one): younger ones cannot be deleted.
    pub fn open(data_dir: &Path, retention_days: u32) -> Result<AccessLog, DashboardError> {
        let log = AccessLog::at(data_dir, retention_days);
        log.with_conn(|_| Ok(()))?;
        Ok(log)
    }

    /// The log in `data_dir/dashboard.db`, opened at its first use (for a
    /// caller that cannot fail where it is built); a failure to open is
    /// that use's error, and the next use tries again.
    pub fn at(data_dir: &Path, retention_days: u32) -> AccessLog {
        AccessLog {
            dir: data_dir.to_path_buf(),
            retention_days: retention_days.max(1),
            conn: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Connection>> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, DashboardError>,
    ) -> Result<T, DashboardError> {
        let mut guard = self.lock();
        if guard.is_none() {
            let conn = open_db(&self.dir)?;
            // The retention is the operator's setting: the guard on
            // deletions follows it.
            conn.execute_batch(&format!(
                "DROP TRIGGER IF EXISTS access_log_retention;
                 CREATE TRIGGER access_log_retention BEFORE DELETE ON access_log
                 WHEN OLD.at >= {}
                 BEGIN
                     SELECT RAISE(ABORT, 'the access log keeps its entries for its retention period: only older ones can be deleted');
                 END;",
                cutoff_sql(&self.retention_days.to_string())
            ))?;
            *guard = Some(conn);
        }
        match guard.as_ref() {
            Some(conn) => f(conn),
            None => Err(DashboardError::Internal("access log not open".into())),
        }
    }

    fn select(
        &self,
        order_limit: &str,
        team_id: &str,
        limit: i64,
    ) -> Result<Vec<AccessEntry>, DashboardError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT seq, at, team_id, device_id, person, client, action, record_ids
                 FROM access_log WHERE team_id = ?1 {order_limit}"
            ))?;
            let rows = stmt.query_map(params![team_id, limit], |r| {
                let ids: Vec<u8> = r.get(7)?;
                Ok(AccessEntry {
                    seq: r.get(0)?,
                    at: r.get(1)?,
                    team_id: r.get(2)?,
                    device_id: r.get(3)?,
                    person: r.get(4)?,
                    client: r.get(5)?,
                    action: r.get(6)?,
                    record_ids: unpack_ids(&ids),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

impl AccessLogStore for AccessLog {
    fn record(&self, access: &Access<'_>) -> Result<(), DashboardError> {
        let packed = pack_ids(access.record_ids);
        let who = format!("{} [{}]", access.person, access.device_id);
        self.with_conn(|conn| {
            conn.prepare_cached(
                "INSERT INTO access_log (at, team_id, who, action, n_records, record_ids, device_id, person, client)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                carnet_core::now_ms(),
                access.team_id,
                who,
                access.action,
                access.record_ids.len() as i64,
                packed,
                access.device_id,
                access.person,
                access.client
            ])?;
            Ok(())
        })
    }

    fn recent(&self, team_id: &str, limit: u32) -> Result<Vec<AccessEntry>, DashboardError> {
        self.select("ORDER BY seq DESC LIMIT ?2", team_id, i64::from(limit))
    }

    fn entries(&self, team_id: &str) -> Result<Vec<AccessEntry>, DashboardError> {
        // A negative LIMIT is no limit in SQLite.
        self.select("ORDER BY seq LIMIT ?2", team_id, -1)
    }

    fn retention_days(&self) -> u32 {
        self.retention_days
    }

    /// One process owns `dashboard.db`: it always purges.
    fn purge_expired(&self) -> Result<Option<usize>, DashboardError> {
        let days = self.retention_days;
        self.with_conn(|conn| {
            Ok(Some(conn.execute(
                &format!("DELETE FROM access_log WHERE at < {}", cutoff_sql("?1")),
                [days],
            )?))
        })
    }
}

/// Columns of the access-log exports (CSV headers, JSON keys).
pub const EXPORT_COLUMNS: [&str; 9] = [
    "seq",
    "at",
    "team_id",
    "device_id",
    "person",
    "client",
    "action",
    "n_records",
    "record_ids",
];

/// The entries as CSV through the product's one writer: times in RFC 3339,
/// ids separated by spaces. `dialect`: the dashboard's downloads are laid
/// out for spreadsheets, the API's for other software.
pub fn export_csv(entries: &[AccessEntry], dialect: Dialect) -> Result<Vec<u8>, DashboardError> {
    let mut w = CsvWriter::new(dialect);
    w.write_row(EXPORT_COLUMNS)?;
    for e in entries {
        let at = jiff::Timestamp::from_millisecond(e.at)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| e.at.to_string());
        let ids = e
            .record_ids
            .iter()
            .map(RecordId::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        w.write_row([
            Cell::Int(e.seq),
            Cell::from(at),
            Cell::from(&e.team_id),
            Cell::from(&e.device_id),
            Cell::from(&e.person),
            Cell::from(&e.client),
            Cell::from(&e.action),
            Cell::UInt(e.record_ids.len() as u64),
            Cell::from(ids),
        ])?;
    }
    Ok(w.finish()?)
}

/// The entries as JSON: `{"entries": [...]}`, times in ms since the epoch.
pub fn export_json(entries: &[AccessEntry]) -> Result<Vec<u8>, DashboardError> {
    serde_json::to_vec(&serde_json::json!({ "entries": entries }))
        .map_err(|e| DashboardError::Internal(format!("access log as JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access<'a>(team: &'a str, person: &'a str, ids: &'a [RecordId]) -> Access<'a> {
        Access {
            team_id: team,
            device_id: "dev1",
            person,
            client: "192.0.2.7",
            action: "export CSV",
            record_ids: ids,
        }
    }

    #[test]
    fn records_who_what_and_where_by_id_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = AccessLog::open(dir.path(), 365).unwrap();
        let ids = [RecordId::new(), RecordId::new()];
        log.record(&access("t1", "Awa", &ids)).unwrap();
        log.record(&access("t2", "Bob", &[])).unwrap();
        let got = log.recent("t1", 10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].record_ids, ids);
        assert_eq!(
            (got[0].device_id.as_str(), got[0].person.as_str()),
            ("dev1", "Awa")
        );
        assert_eq!(got[0].client, "192.0.2.7");
        assert_eq!(got[0].who(), "Awa [dev1]");
        assert_eq!(log.entries("t1").unwrap(), got);
    }

    #[test]
    fn entries_cannot_be_changed_nor_deleted_before_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let log = AccessLog::open(dir.path(), 2).unwrap();
        log.record(&access("t1", "Awa", &[])).unwrap();
        let err = log
            .with_conn(|c| Ok(c.execute("UPDATE access_log SET person = 'x'", [])?))
            .unwrap_err();
        assert!(err.to_string().contains("append-only"), "{err}");
        let err = log
            .with_conn(|c| Ok(c.execute("DELETE FROM access_log", [])?))
            .unwrap_err();
        assert!(err.to_string().contains("retention"), "{err}");
        // An entry past the retention (written long ago) may go.
        log.with_conn(|c| {
            Ok(c.execute(
                "INSERT INTO access_log (at, team_id, who, action, n_records, record_ids) VALUES (?1, 't1', 'x', 'old', 0, x'')",
                [carnet_core::now_ms() - 3 * 86_400_000],
            )?)
        })
        .unwrap();
        assert_eq!(log.purge_expired().unwrap(), Some(1));
        assert_eq!(log.entries("t1").unwrap().len(), 1);
    }

    #[test]
    fn a_version_1_file_is_migrated_and_keeps_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("dashboard.db")).unwrap();
            conn.execute_batch(
                "CREATE TABLE access_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, team_id TEXT NOT NULL,
                     who TEXT NOT NULL, action TEXT NOT NULL, n_records INTEGER NOT NULL, record_ids BLOB NOT NULL);
                 INSERT INTO access_log (at, team_id, who, action, n_records, record_ids)
                     VALUES (1, 't', 'Awa Diop [dev-9]', 'page', 0, x''), (2, 't', 'odd', 'page', 0, x'');",
            )
            .unwrap();
        }
        let log = AccessLog::open(dir.path(), 365).unwrap();
        let got = log.entries("t").unwrap();
        assert_eq!(
            (got[0].person.as_str(), got[0].device_id.as_str()),
            ("Awa Diop", "dev-9")
        );
        assert_eq!(
            (got[1].person.as_str(), got[1].device_id.as_str()),
            ("odd", "")
        );
        let version: i64 = log
            .with_conn(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn a_file_from_a_newer_server_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join("dashboard.db")).unwrap();
            conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
                .unwrap();
        }
        let err = AccessLog::open(dir.path(), 365).err().unwrap();
        assert!(err.to_string().contains("update the server"), "{err}");
        let conn = Connection::open(dir.path().join("dashboard.db")).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, 99);
    }

    #[test]
    fn exports_neutralise_and_name_every_column() {
        let entry = AccessEntry {
            seq: 3,
            at: 0,
            team_id: "t".into(),
            device_id: "d".into(),
            person: "=HYPERLINK(\"x\")".into(),
            client: "unknown".into(),
            action: "page".into(),
            record_ids: vec![RecordId::new()],
        };
        let csv =
            String::from_utf8(export_csv(std::slice::from_ref(&entry), Dialect::Standard).unwrap())
                .unwrap();
        let mut lines = csv.lines();
        assert_eq!(lines.next().unwrap(), EXPORT_COLUMNS.join(","));
        let row = lines.next().unwrap();
        assert!(
            row.starts_with("3,1970-01-01T00:00:00Z,t,d,\"'=HYPERLINK"),
            "{row}"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&export_json(&[entry]).unwrap()).unwrap();
        assert_eq!(json["entries"][0]["person"], "=HYPERLINK(\"x\")");
        assert_eq!(
            json["entries"][0]["record_ids"].as_array().unwrap().len(),
            1
        );
    }
}
