//! The supervisors' aggregates (time to fix, forwardings, residents met,
//! referrals, axes, open reports), answered by indexed SQL over the read
//! model's derived columns: a year of a large team's records is counted
//! without parsing one JSON view. Nothing here returns a resident's data.

use std::collections::BTreeMap;

use rusqlite::params;

use super::Store;
use crate::{RecordId, Result};

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

/// An open report's filter columns: enough to count and age it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRow {
    /// The report.
    pub id: RecordId,
    /// Sector code ("" if none).
    pub sector: String,
    /// Category code.
    pub category: String,
    /// Reported, ms.
    pub created_at: i64,
}

impl Store {
    /// Reports first resolved (or closed) in `[since, until)`. A report
    /// reopened later keeps its first fix: the body did act.
    pub fn fixes(&self, since: i64, until: i64) -> Result<Vec<Fix>> {
        self.read(|c, _| {
            let mut st = c.prepare_cached(
                "SELECT coalesce(sector, ''), coalesce(body, ''), coalesce(category, ''), created_at, fixed_at
                 FROM records WHERE fixed_at >= ?1 AND fixed_at < ?2",
            )?;
            let rows = st
                .query_map(params![since, until], |r| {
                    Ok(Fix {
                        sector: r.get(0)?,
                        body: r.get(1)?,
                        category: r.get(2)?,
                        created_at: r.get(3)?,
                        fixed_at: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// How many reports were first forwarded to a body in `[since, until)`.
    pub fn forwarded_count(&self, since: i64, until: i64) -> Result<u64> {
        self.read(|c, _| {
            Ok(c.prepare_cached(
                "SELECT count(*) FROM records WHERE forwarded_at >= ?1 AND forwarded_at < ?2",
            )?
            .query_row(params![since, until], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// Every activity that started in `[since, until)`, counters only.
    pub fn activity_rows(&self, since: i64, until: i64) -> Result<Vec<ActivityRow>> {
        self.read(|c, _| {
            let mut st = c.prepare_cached(
                "SELECT coalesce(activity_type, ''), coalesce(sector, ''), occurred_at,
                        coalesce(met_known, 0), coalesce(met_new, 0), coalesce(referrals, 0)
                 FROM records WHERE kind = 'activity' AND occurred_at >= ?1 AND occurred_at < ?2",
            )?;
            let rows = st
                .query_map(params![since, until], |r| {
                    Ok(ActivityRow {
                        activity_type: r.get(0)?,
                        sector: r.get(1)?,
                        at: r.get(2)?,
                        met_known: r.get(3)?,
                        met_new: r.get(4)?,
                        referrals: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Residents met recorded on field notes observed in `[since, until)`.
    pub fn residents_met_on_notes(&self, since: i64, until: i64) -> Result<u64> {
        self.read(|c, _| {
            let n: i64 = c
                .prepare_cached(
                    "SELECT coalesce(sum(residents_met), 0) FROM records
                     WHERE kind = 'note' AND occurred_at >= ?1 AND occurred_at < ?2",
                )?
                .query_row(params![since, until], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    /// Referrals written in residents' logs in `[since, until)`, per
    /// partner, most frequent first.
    pub fn referrals_by_partner(&self, since: i64, until: i64) -> Result<Vec<(String, u64)>> {
        self.read(|c, _| {
            let mut st = c.prepare_cached(
                "SELECT partner, count(*) FROM record_referrals WHERE at >= ?1 AND at < ?2
                 GROUP BY partner ORDER BY count(*) DESC, partner",
            )?;
            let rows = st
                .query_map(params![since, until], |r| {
                    Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Records per (kind, mission axis) dated in `[since, until)`, in one
    /// pass over the axes.
    pub fn axes_by_kind(&self, since: i64, until: i64) -> Result<BTreeMap<(String, String), u64>> {
        self.read(|c, _| {
            let mut st = c.prepare_cached(
                "SELECT kind, axis, count(*) FROM record_axes
                 WHERE occurred_at >= ?1 AND occurred_at < ?2 GROUP BY 1, 2",
            )?;
            let rows = st
                .query_map(params![since, until], |r| {
                    Ok(((r.get(0)?, r.get(1)?), r.get::<_, i64>(2)? as u64))
                })?
                .collect::<rusqlite::Result<_>>()?;
            Ok(rows)
        })
    }

    /// Every open report (reported, forwarded, in progress), columns only.
    pub fn open_rows(&self) -> Result<Vec<OpenRow>> {
        self.read(|c, _| {
            let mut st = c.prepare_cached(&format!(
                "SELECT id, coalesce(sector, ''), coalesce(category, ''), created_at FROM records
                 WHERE kind = 'report' AND status IN ({})",
                super::query::open_statuses_sql()
            ))?;
            let mut rows = st.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: Vec<u8> = r.get(0)?;
                let id = RecordId::from_slice(&id).ok_or(crate::Error::Unreadable {
                    what: "a record id in the read model",
                    source: None,
                })?;
                out.push(OpenRow {
                    id,
                    sector: r.get(1)?,
                    category: r.get(2)?,
                    created_at: r.get(3)?,
                });
            }
            Ok(out)
        })
    }
}
