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

/// The SQL a query runs as. The read model's tables and columns are the
/// same on every backend ([`super::ReadRow`]); the dialects differ in
/// placeholders, full-text search and JSON access, and PostgreSQL's tables
/// hold every team, keyed by team first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A SQLite store (a device's, or a team's on the embedded server).
    Sqlite,
    /// The server's PostgreSQL storage: `$1` is the team's id, bound by
    /// the caller; full-text search is a `tsvector` column `search` in the
    /// `carnet_french` configuration (French stemming, accents folded).
    Postgres,
}

/// A value bound to a query's placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlArg {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
}

impl From<String> for SqlArg {
    fn from(s: String) -> Self {
        SqlArg::Text(s)
    }
}

impl From<i64> for SqlArg {
    fn from(i: i64) -> Self {
        SqlArg::Int(i)
    }
}

/// A query ready to run: its SQL and the values of its placeholders, in
/// order (on PostgreSQL after `$1`, the team).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlQuery {
    /// The statement.
    pub sql: String,
    /// The values of its placeholders.
    pub args: Vec<SqlArg>,
}

struct Sql {
    dialect: Dialect,
    clauses: Vec<String>,
    args: Vec<SqlArg>,
}

impl Sql {
    fn push(&mut self, clause: &str, v: impl Into<SqlArg>) {
        self.args.push(v.into());
        let placeholder = match self.dialect {
            Dialect::Sqlite => format!("?{}", self.args.len()),
            Dialect::Postgres => format!("${}", self.args.len() + 1),
        };
        self.clauses.push(clause.replace('?', &placeholder));
    }
}

/// Turns user words into a PostgreSQL `tsquery` that cannot be a syntax
/// error: the same words as [`fts_query`], all required, the last one as a
/// prefix.
fn tsquery(text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("'{w}'"))
        .collect();
    if words.is_empty() {
        return None;
    }
    Some(format!("{}:*", words.join(" & ")))
}

/// The WHERE clauses of `q` over `records r`; the axis filter and the date
/// range go on `record_axes a` when the query walks an axis (see
/// [`from_sql`]), whose key holds them in order.
fn filters(q: &Query, dialect: Dialect) -> Result<Sql> {
    let mut s = Sql {
        dialect,
        clauses: vec![],
        args: vec![],
    };
    if dialect == Dialect::Postgres {
        let t = if q.axis.is_some() { "a" } else { "r" };
        s.clauses.push(format!("{t}.team_id = $1"));
    }
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
        let name = match dialect {
            Dialect::Sqlite => "json_extract(r.view, '$.name') LIKE ? ESCAPE '\\'",
            Dialect::Postgres => "(r.view::jsonb ->> 'name') ILIKE ? ESCAPE '\\'",
        };
        if q.kind == Some(Kind::Contact) {
            s.push(
                name,
                format!(
                    "%{}%",
                    text.replace('\\', "\\\\")
                        .replace('%', "\\%")
                        .replace('_', "\\_")
                ),
            );
        } else if dialect == Dialect::Sqlite
            && let Some(m) = fts_query(text)
        {
            s.push(
                "r.rowid IN (SELECT rowid FROM search WHERE search MATCH ?)",
                m,
            );
        } else if dialect == Dialect::Postgres
            && let Some(m) = tsquery(text)
        {
            s.push("r.search @@ to_tsquery('carnet_french', ?)", m);
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
fn from_sql(q: &Query, dialect: Dialect) -> (&'static str, &'static str) {
    let searching = q.text.as_deref().is_some_and(|t| !t.trim().is_empty());
    if q.axis.is_some() {
        match dialect {
            Dialect::Sqlite => ("record_axes a JOIN records r ON r.id = a.id", "a"),
            Dialect::Postgres => (
                "record_axes a JOIN records r ON r.team_id = a.team_id AND r.id = a.id",
                "a",
            ),
        }
    } else if searching && q.kind.is_none() && dialect == Dialect::Sqlite {
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

impl Query {
    /// Its page size: default 50, at most 1000.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 1000)
    }

    /// The statement listing its records' views: newest first by the
    /// record's date (when it was observed, started or created), then by
    /// id; one row past the page, which tells whether more follow.
    pub fn list_sql(&self, dialect: Dialect) -> Result<SqlQuery> {
        let s = filters(self, dialect)?;
        let order = if self.oldest_first { "ASC" } else { "DESC" };
        let (from, t) = from_sql(self, dialect);
        Ok(SqlQuery {
            sql: format!(
                "SELECT r.view FROM {from} {} ORDER BY {t}.occurred_at {order}, {t}.id {order} LIMIT {} OFFSET {}",
                where_sql(&s),
                self.page_size() + 1,
                self.offset
            ),
            args: s.args,
        })
    }

    /// The statement counting its records (paging ignored), grouped: rows
    /// of (key, count), the key '' where the field is not set.
    pub fn count_sql(&self, by: GroupBy, dialect: Dialect) -> Result<SqlQuery> {
        let s = filters(self, dialect)?;
        let sql = match by {
            GroupBy::Axis => {
                let join = match dialect {
                    Dialect::Sqlite => "record_axes a JOIN records r ON r.id = a.id",
                    Dialect::Postgres => {
                        "record_axes a JOIN records r ON r.team_id = a.team_id AND r.id = a.id"
                    }
                };
                format!(
                    "SELECT a.axis, count(*) FROM {join} {} GROUP BY a.axis ORDER BY a.axis{}",
                    where_sql(&s),
                    bytewise(dialect)
                )
            }
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
                let order = match dialect {
                    Dialect::Sqlite => "1".to_string(),
                    Dialect::Postgres => format!("coalesce(r.{col}, ''){}", bytewise(dialect)),
                };
                format!(
                    "SELECT coalesce(r.{col}, ''), count(*) FROM {} {} GROUP BY r.{col} ORDER BY {order}",
                    from_sql(self, dialect).0,
                    where_sql(&s),
                )
            }
        };
        Ok(SqlQuery { sql, args: s.args })
    }
}

/// Text ordered byte by byte, as SQLite does, whatever the database's locale.
fn bytewise(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " COLLATE \"C\"",
    }
}

/// The values of a query's placeholders, for rusqlite.
fn sqlite_args(args: &[SqlArg]) -> Vec<SqlValue> {
    args.iter()
        .map(|a| match a {
            SqlArg::Text(t) => SqlValue::Text(t.clone()),
            SqlArg::Int(i) => SqlValue::Integer(*i),
        })
        .collect()
}

impl Store {
    /// Lists records matching `q`, newest first by the record's date (when it
    /// was observed, started or created), then by id.
    pub fn list(&self, q: &Query) -> Result<Page> {
        let limit = q.page_size() as usize;
        let query = q.list_sql(Dialect::Sqlite)?;
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(&query.sql)?;
            let views: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(sqlite_args(&query.args)), |r| {
                    r.get(0)
                })?
                .collect::<Result<_, _>>()?;
            let has_more = views.len() > limit;
            let items = views
                .iter()
                .take(limit)
                .map(|v| record_from_view(conn, v))
                .collect::<Result<_>>()?;
            Ok(Page { items, has_more })
        })
    }

    /// Counts records matching `q` (paging ignored), grouped.
    pub fn count(&self, q: &Query, by: GroupBy) -> Result<Vec<Count>> {
        let query = q.count_sql(by, Dialect::Sqlite)?;
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(&query.sql)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(sqlite_args(&query.args)), |r| {
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
pub fn open_statuses_sql() -> String {
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
