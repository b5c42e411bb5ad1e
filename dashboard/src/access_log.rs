//! The access log: who read or exported which records, and when — never
//! what the records say. Supervisors' reads of residents' data must be
//! traceable (RGPD accountability), yet the log itself must not become a
//! second copy of that data, so it holds ids only. It lives in
//! `dashboard.db` and is purged past a configurable retention period.
//!
//! The server can record its own reads (its JSON API) through the same log.

use std::path::Path;
use std::sync::Mutex;

use carnet_core::RecordId;
use rusqlite::{Connection, params};

use crate::DashboardError;

/// Opens `dashboard.db` in `data_dir` with the settings both the sessions and
/// the access log rely on, and creates their tables.
pub(crate) fn open_db(data_dir: &Path) -> Result<Connection, DashboardError> {
    std::fs::create_dir_all(data_dir)?;
    let conn = Connection::open(data_dir.join("dashboard.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA busy_timeout = 5000;
         PRAGMA secure_delete = ON;
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
         CREATE INDEX IF NOT EXISTS access_log_by_time ON access_log (at);",
    )?;
    Ok(conn)
}

/// One entry of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// When, ms since the Unix epoch.
    pub at: i64,
    /// The team whose records were read.
    pub team_id: String,
    /// Who read them (a supervisor's name and device).
    pub who: String,
    /// What they did: the page or export, with its filters (never content).
    pub action: String,
    /// The records read or exported.
    pub record_ids: Vec<RecordId>,
}

/// The access log, shareable between threads.
pub struct AccessLog {
    conn: Mutex<Connection>,
}

impl AccessLog {
    /// Opens (or creates) the log in `data_dir/dashboard.db`.
    pub fn open(data_dir: &Path) -> Result<AccessLog, DashboardError> {
        Ok(AccessLog {
            conn: Mutex::new(open_db(data_dir)?),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `who` did `action` on `record_ids` of `team_id`, now.
    /// Ids are stored packed (16 bytes each), so logging an export of the
    /// whole log stays cheap.
    pub fn record(
        &self,
        team_id: &str,
        who: &str,
        action: &str,
        record_ids: &[RecordId],
    ) -> Result<(), DashboardError> {
        let mut packed = Vec::with_capacity(record_ids.len() * 16);
        for id in record_ids {
            packed.extend_from_slice(id.as_bytes());
        }
        self.lock().execute(
            "INSERT INTO access_log (at, team_id, who, action, n_records, record_ids) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![carnet_core::now_ms(), team_id, who, action, record_ids.len() as i64, packed],
        )?;
        Ok(())
    }

    /// The newest `limit` entries of a team, newest first.
    pub fn recent(&self, team_id: &str, limit: u32) -> Result<Vec<AccessEntry>, DashboardError> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT at, team_id, who, action, record_ids FROM access_log WHERE team_id = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![team_id, limit], |r| {
            let ids: Vec<u8> = r.get(4)?;
            Ok(AccessEntry {
                at: r.get(0)?,
                team_id: r.get(1)?,
                who: r.get(2)?,
                action: r.get(3)?,
                record_ids: ids
                    .chunks_exact(16)
                    .filter_map(RecordId::from_slice)
                    .collect(),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Deletes entries older than `days` days; returns how many went.
    pub fn purge_older_than(&self, days: u32) -> Result<usize, DashboardError> {
        let cutoff = carnet_core::now_ms() - i64::from(days) * 86_400_000;
        Ok(self
            .lock()
            .execute("DELETE FROM access_log WHERE at < ?1", [cutoff])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_ids_only_and_purges() {
        let dir = tempfile::tempdir().unwrap();
        let log = AccessLog::open(dir.path()).unwrap();
        let ids = [RecordId::new(), RecordId::new()];
        log.record("t1", "Awa [dev1]", "export CSV", &ids).unwrap();
        log.record("t2", "Bob [dev2]", "page", &[]).unwrap();
        let got = log.recent("t1", 10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].record_ids, ids);
        assert_eq!(log.purge_older_than(1).unwrap(), 0);
        log.lock()
            .execute(
                "UPDATE access_log SET at = at - 3 * 86400000 WHERE team_id = 't1'",
                [],
            )
            .unwrap();
        assert_eq!(log.purge_older_than(2).unwrap(), 1);
        assert!(log.recent("t1", 10).unwrap().is_empty());
    }
}
