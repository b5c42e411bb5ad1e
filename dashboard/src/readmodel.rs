//! Aggregates the core's public API does not offer yet, answered by SQL over
//! the store's read model (`records`) through a separate read-only
//! connection to the store's file.
//!
//! Why: time to fix, residents met and referrals need a value inside each
//! record's JSON view (status events, counters, interactions). Loading every
//! record through `Store::list` to add them up parses tens of thousands of
//! views per page; one SQL pass with `json_extract` stays well under the
//! 300 ms budget at 100k records (see `benches/pages.rs`). These queries read
//! derived rows only, never documents, and write nothing. They belong in
//! `carnet-core` as read-model columns and `Store` queries; until then they
//! live here, in one place.
//!
//! The server's team stores are unencrypted SQLite files; an encrypted or
//! in-memory store has no file to open and gives a clear error.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use carnet_core::Store;
use rusqlite::{Connection, OpenFlags, params};

use crate::DashboardError;

type Shared = Arc<Mutex<Connection>>;

/// One read-only connection per store file, opened on first use.
fn connection(store: &Store) -> Result<Shared, DashboardError> {
    static CONNS: OnceLock<Mutex<HashMap<PathBuf, Shared>>> = OnceLock::new();
    let path = store.path().ok_or_else(|| {
        DashboardError::Internal("the team's store has no file to aggregate from".into())
    })?;
    let mut map = CONNS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(c) = map.get(&path) {
        return Ok(c.clone());
    }
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA busy_timeout = 5000; PRAGMA query_only = ON;")?;
    let shared = Arc::new(Mutex::new(conn));
    map.insert(path, shared.clone());
    Ok(shared)
}

fn with<T>(
    store: &Store,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> Result<T, DashboardError> {
    let shared = connection(store)?;
    let conn = shared.lock().unwrap_or_else(|p| p.into_inner());
    f(&conn).map_err(|e| DashboardError::Internal(format!("read model query: {e}")))
}

/// A dégradation fixed: when it was reported and first resolved or closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// Sector code ("" if none).
    pub sector: String,
    /// Current responsible body ("" if none).
    pub body: String,
    /// Category code.
    pub category: String,
    /// Reported, ms.
    pub created_at: i64,
    /// First applied `resolved` or `closed` event, ms.
    pub fixed_at: i64,
}

/// Reports first resolved (or closed) in `[since, until)`. A report
/// reopened later keeps its first fix: the body did act.
pub fn fixes(store: &Store, since: i64, until: i64) -> Result<Vec<Fix>, DashboardError> {
    with(store, |c| {
        // status_at is the newest applied event, never before the first fix,
        // so it is a safe pre-filter.
        let mut st = c.prepare_cached(
            "SELECT sector, body, category, created_at, fixed FROM (
                 SELECT coalesce(sector, '') AS sector, coalesce(body, '') AS body, coalesce(category, '') AS category, created_at,
                        (SELECT min(json_extract(e.value, '$.at')) FROM json_each(records.view, '$.events') e
                          WHERE json_extract(e.value, '$.applied') = 1
                            AND json_extract(e.value, '$.status') IN ('resolved', 'closed')) AS fixed
                 FROM records WHERE kind = 'report' AND status_at >= ?1)
             WHERE fixed >= ?1 AND fixed < ?2",
        )?;
        st.query_map(params![since, until], |r| {
            Ok(Fix {
                sector: r.get(0)?,
                body: r.get(1)?,
                category: r.get(2)?,
                created_at: r.get(3)?,
                fixed_at: r.get(4)?,
            })
        })?
        .collect()
    })
}

/// How many reports were forwarded to a body (an applied `forwarded` event)
/// in `[since, until)`; a report forwarded twice counts once.
pub fn forwarded(store: &Store, since: i64, until: i64) -> Result<u64, DashboardError> {
    with(store, |c| {
        c.prepare_cached(
            "SELECT count(*) FROM records WHERE kind = 'report' AND status_at >= ?1 AND EXISTS (
                 SELECT 1 FROM json_each(records.view, '$.events') e
                  WHERE json_extract(e.value, '$.applied') = 1 AND json_extract(e.value, '$.status') = 'forwarded'
                    AND json_extract(e.value, '$.at') >= ?1 AND json_extract(e.value, '$.at') < ?2)",
        )?
        .query_row(params![since, until], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
    })
}

/// An activity's counters, without its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRow {
    /// Activity type code.
    pub activity_type: String,
    /// Sector code.
    pub sector: String,
    /// When it started, ms.
    pub at: i64,
    /// Residents met who were known.
    pub met_known: i64,
    /// Residents met for the first time.
    pub met_new: i64,
    /// Referrals to partners.
    pub referrals: i64,
}

/// Every activity that started in `[since, until)`, counters only.
pub fn activities(
    store: &Store,
    since: i64,
    until: i64,
) -> Result<Vec<ActivityRow>, DashboardError> {
    with(store, |c| {
        let mut st = c.prepare_cached(
            "SELECT coalesce(activity_type, ''), coalesce(sector, ''), occurred_at,
                    coalesce(json_extract(view, '$.met_known'), 0), coalesce(json_extract(view, '$.met_new'), 0),
                    coalesce(json_extract(view, '$.referrals'), 0)
             FROM records WHERE kind = 'activity' AND occurred_at >= ?1 AND occurred_at < ?2",
        )?;
        st.query_map(params![since, until], |r| {
            Ok(ActivityRow {
                activity_type: r.get(0)?,
                sector: r.get(1)?,
                at: r.get(2)?,
                met_known: r.get(3)?,
                met_new: r.get(4)?,
                referrals: r.get(5)?,
            })
        })?
        .collect()
    })
}

/// Residents met recorded on field notes observed in `[since, until)`.
pub fn residents_met_on_notes(
    store: &Store,
    since: i64,
    until: i64,
) -> Result<u64, DashboardError> {
    with(store, |c| {
        c.prepare_cached(
            "SELECT coalesce(sum(json_extract(view, '$.residents_met')), 0) FROM records
             WHERE kind = 'note' AND occurred_at >= ?1 AND occurred_at < ?2",
        )?
        .query_row(params![since, until], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
    })
}

/// Referrals written in residents' logs in `[since, until)`, counted per
/// partner. Only the partner's name and a count leave the query: no resident.
pub fn referrals_by_partner(
    store: &Store,
    since: i64,
    until: i64,
) -> Result<Vec<(String, u64)>, DashboardError> {
    with(store, |c| {
        let mut st = c.prepare_cached(
            "SELECT json_extract(e.value, '$.referral') AS partner, count(*) FROM records, json_each(records.view, '$.interactions') e
             WHERE records.kind = 'contact' AND partner IS NOT NULL AND partner != ''
               AND json_extract(e.value, '$.at') >= ?1 AND json_extract(e.value, '$.at') < ?2
             GROUP BY partner ORDER BY count(*) DESC, partner",
        )?;
        st.query_map(params![since, until], |r| {
            Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
        })?
        .collect()
    })
}

/// Records per (kind, mission axis) in `[since, until)`, in one pass over
/// the axes table: `Store::count` by axis scans that table once per call,
/// and the funders' report needs three kinds.
pub fn axes_by_kind(
    store: &Store,
    since: i64,
    until: i64,
) -> Result<std::collections::BTreeMap<(String, String), u64>, DashboardError> {
    with(store, |c| {
        let mut st = c.prepare_cached(
            "SELECT records.kind, a.axis, count(*) FROM record_axes a JOIN records ON records.id = a.id
             WHERE records.occurred_at >= ?1 AND records.occurred_at < ?2 GROUP BY 1, 2",
        )?;
        st.query_map(params![since, until], |r| {
            Ok(((r.get(0)?, r.get(1)?), r.get::<_, i64>(2)? as u64))
        })?
        .collect()
    })
}

/// An open report's filter columns: enough to count and age it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRow {
    /// The report.
    pub id: carnet_core::RecordId,
    /// Sector code ("" if none).
    pub sector: String,
    /// Category code.
    pub category: String,
    /// Reported, ms.
    pub created_at: i64,
}

/// Every open report (reported, forwarded, in progress), columns only: the
/// overdue counts and the oldest overdue need the category's delay per row,
/// which one pass answers where a count per category would scan ten times.
pub fn open_rows(store: &Store) -> Result<Vec<OpenRow>, DashboardError> {
    with(store, |c| {
        let mut st = c.prepare_cached(
            "SELECT id, coalesce(sector, ''), coalesce(category, ''), created_at FROM records
             WHERE kind = 'report' AND status IN ('reported', 'forwarded', 'in_progress')",
        )?;
        let rows = st.query_map([], |r| {
            let id: Vec<u8> = r.get(0)?;
            Ok(carnet_core::RecordId::from_slice(&id)
                .map(|id| OpenRow {
                    id,
                    sector: String::new(),
                    category: String::new(),
                    created_at: 0,
                })
                .map(|o| (o, r.get(1), r.get(2), r.get(3))))
        })?;
        let mut out = Vec::new();
        for row in rows {
            if let Some((o, sector, category, created_at)) = row? {
                out.push(OpenRow {
                    sector: sector?,
                    category: category?,
                    created_at: created_at?,
                    ..o
                });
            }
        }
        Ok(out)
    })
}
