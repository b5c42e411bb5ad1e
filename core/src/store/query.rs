//! Lists, searches and counts, answered from the read model alone.

use rusqlite::types::Value as SqlValue;
use serde::{Deserialize, Serialize};

use super::Store;
use super::records::record_from_view;
use crate::lifecycle::ReportStatus;
use crate::model::Record;
use crate::schema::Kind;
use crate::{Error, Result, TeamConfig, now_ms};

/// A list request. Empty filters match everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Query {
    /// The kind listed.
    pub kind: Option<Kind>,
    /// Sector code.
    pub sector: Option<String>,
    /// Quartier code.
    pub quartier: Option<String>,
    /// Mission axis code.
    pub axis: Option<String>,
    /// Report status code.
    pub status: Option<String>,
    /// Only reports still open (reported, forwarded, in progress).
    #[serde(default)]
    pub open_only: bool,
    /// Author id.
    pub author: Option<String>,
    /// Category code (reports).
    pub category: Option<String>,
    /// Activity type.
    pub activity_type: Option<String>,
    /// From this time (ms, inclusive), on the record's date.
    pub since: Option<i64>,
    /// Before this time (ms, exclusive).
    pub until: Option<i64>,
    /// Words to find (full-text for notes, reports, activities; name for contacts).
    pub text: Option<String>,
    /// Oldest first instead of newest first.
    #[serde(default)]
    pub oldest_first: bool,
    /// Page size (default 50, at most 1000).
    pub limit: Option<u32>,
    /// Records to skip.
    #[serde(default)]
    pub offset: u32,
}

/// A page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The records.
    pub items: Vec<Record>,
    /// Whether more records match after this page.
    pub has_more: bool,
}

/// What counts are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// Sector code.
    Sector,
    /// Mission axis (a record under two axes counts in both).
    Axis,
    /// Report status.
    Status,
    /// Activity type.
    ActivityType,
    /// Report category.
    Category,
    /// Kind of record.
    Kind,
}

/// One group of a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The group's code (empty when the field is not set).
    pub key: String,
    /// How many records.
    pub count: u64,
}

/// An open dégradation and how long it has been open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OpenReport {
    /// The report.
    pub report: Record,
    /// Whole days since it was reported.
    pub age_days: i64,
    /// Older than its category's delay.
    pub overdue: bool,
}

/// Turns user words into an FTS5 query that cannot be a syntax error: every
/// word quoted, the last one as a prefix.
fn fts_query(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"", w.replace('"', "")))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!("{}*", words.join(" ")))
}

struct Sql {
    clauses: Vec<String>,
    args: Vec<SqlValue>,
}

impl Sql {
    fn push(&mut self, clause: &str, v: impl Into<SqlValue>) {
        self.args.push(v.into());
        self.clauses
            .push(clause.replace('?', &format!("?{}", self.args.len())));
    }
}

/// The WHERE clauses of `q` over `records r`; the axis filter and the date
/// range go on `record_axes a` when the query walks an axis (see
/// [`from_sql`]), whose key holds them in order.
fn filters(q: &Query) -> Result<Sql> {
    let mut s = Sql {
        clauses: vec![],
        args: vec![],
    };
    if let Some(k) = q.kind {
        s.push("r.kind = ?", k.code().to_string());
    }
    for (col, v) in [
        ("sector", &q.sector),
        ("quartier", &q.quartier),
        ("status", &q.status),
        ("author", &q.author),
        ("category", &q.category),
        ("activity_type", &q.activity_type),
    ] {
        if let Some(v) = v {
            s.push(&format!("r.{col} = ?"), v.clone());
        }
    }
    if q.open_only {
        s.clauses
            .push(format!("r.status IN ({})", open_statuses_sql()));
    }
    let dated = if let Some(a) = &q.axis {
        s.push("a.axis = ?", a.clone());
        "a"
    } else {
        "r"
    };
    if let Some(t) = q.since {
        s.push(&format!("{dated}.occurred_at >= ?"), t);
    }
    if let Some(t) = q.until {
        s.push(&format!("{dated}.occurred_at < ?"), t);
    }
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        if text.chars().count() > 200 {
            return Err(Error::invalid("search", "at most 200 characters"));
        }
        if q.kind == Some(Kind::Contact) {
            s.push(
                "json_extract(r.view, '$.name') LIKE ? ESCAPE '\\'",
                format!(
                    "%{}%",
                    text.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                ),
            );
        } else if let Some(m) = fts_query(text) {
            s.push(
                "r.rowid IN (SELECT rowid FROM search WHERE search MATCH ?)",
                m,
            );
        }
    }
    Ok(s)
}

/// The rows a query reads: the records, or with an axis filter the axis's
/// rows newest first joined to their records, so that a page of a common
/// axis stops after a page and a rare axis reads only its own rows.
///
/// A search over every kind walks the records newest first and checks each
/// against the words' matches: a page of common words stops after a page,
/// where fetching and sorting every match took 17–90 ms at 100k records. The
/// planner does not pick that on its own (it cannot know how many match).
fn from_sql(q: &Query) -> (&'static str, &'static str) {
    let searching = q.text.as_deref().is_some_and(|t| !t.trim().is_empty());
    if q.axis.is_some() {
        ("record_axes a JOIN records r ON r.id = a.id", "a")
    } else if searching && q.kind.is_none() {
        ("records r INDEXED BY records_by_time", "r")
    } else {
        ("records r", "r")
    }
}

fn where_sql(s: &Sql) -> String {
    if s.clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", s.clauses.join(" AND "))
    }
}

impl Store {
    /// Lists records matching `q`, newest first by the record's date (when it
    /// was observed, started or created), then by id.
    pub fn list(&self, q: &Query) -> Result<Page> {
        let limit = q.limit.unwrap_or(50).clamp(1, 1000);
        let s = filters(q)?;
        let order = if q.oldest_first { "ASC" } else { "DESC" };
        let (from, t) = from_sql(q);
        let sql = format!(
            "SELECT r.view FROM {from} {} ORDER BY {t}.occurred_at {order}, {t}.id {order} LIMIT {} OFFSET {}",
            where_sql(&s),
            limit + 1,
            q.offset
        );
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let views: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(s.args.iter()), |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let has_more = views.len() > limit as usize;
            let items = views
                .iter()
                .take(limit as usize)
                .map(|v| record_from_view(conn, v))
                .collect::<Result<_>>()?;
            Ok(Page { items, has_more })
        })
    }

    /// Counts records matching `q` (paging ignored), grouped.
    pub fn count(&self, q: &Query, by: GroupBy) -> Result<Vec<Count>> {
        let s = filters(q)?;
        let sql = match by {
            GroupBy::Axis => format!(
                "SELECT a.axis, count(*) FROM record_axes a JOIN records r ON r.id = a.id {} GROUP BY a.axis ORDER BY a.axis",
                where_sql(&s)
            ),
            _ => {
                let col = match by {
                    GroupBy::Sector => "sector",
                    GroupBy::Status => "status",
                    GroupBy::ActivityType => "activity_type",
                    GroupBy::Category => "category",
                    _ => "kind",
                };
                // Grouping by the column itself (not an expression of it) lets
                // SQLite answer from a covering index, e.g. (kind, sector, …).
                format!(
                    "SELECT coalesce(r.{col}, ''), count(*) FROM {} {} GROUP BY r.{col} ORDER BY 1",
                    from_sql(q).0,
                    where_sql(&s)
                )
            }
        };
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(s.args.iter()), |r| {
                    Ok(Count {
                        key: r.get(0)?,
                        count: r.get::<_, i64>(1)? as u64,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
    }

    /// Open dégradations, oldest first, with their age and whether they are
    /// overdue for their category.
    pub fn open_reports(&self, sector: Option<&str>) -> Result<Vec<OpenReport>> {
        let q = Query {
            kind: Some(Kind::Report),
            sector: sector.map(str::to_string),
            open_only: true,
            oldest_first: true,
            limit: Some(1000),
            ..Default::default()
        };
        let cfg = self.config();
        let now = now_ms();
        let mut out = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.list(&Query {
                offset,
                ..q.clone()
            })?;
            for report in page.items {
                let Record::Report(r) = &report else { continue };
                let (created, category) = (r.header.created_at, r.category.clone());
                out.push(OpenReport {
                    age_days: TeamConfig::age_days(created, now),
                    overdue: cfg.is_overdue(&category, created, now),
                    report,
                });
            }
            if !page.has_more {
                return Ok(out);
            }
            offset += 1000;
        }
    }
}

/// The open statuses ([`ReportStatus::OPEN`]) as an SQL list of literals
/// (codes are fixed lowercase words: nothing to escape).
pub(crate) fn open_statuses_sql() -> String {
    ReportStatus::OPEN
        .iter()
        .map(|s| format!("'{}'", s.code()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn fts_queries_are_always_well_formed() {
        assert_eq!(
            fts_query("lampe cassée").as_deref(),
            Some("\"lampe\" \"cassée\"*")
        );
        assert_eq!(
            fts_query("\" OR NEAR( *").as_deref(),
            Some("\"OR\" \"NEAR\"*")
        );
        assert_eq!(fts_query("*(\"-"), None);
    }
}
