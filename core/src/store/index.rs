//! The read model: rows derived from a record's document, so that opening,
//! listing, filtering, counting and searching never load automerge.
//!
//! Everything here is a pure function of the document, so two stores holding
//! the same documents answer every query identically.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::doc::RecordDoc;
use crate::photo::PhotoRef;
use crate::{RecordId, Result};

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_string)
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// What the read model needs of a record's document, computed without the
/// database (so that a batch's documents can be read in parallel).
pub(crate) struct Derived {
    /// The record as JSON ([`RecordDoc::to_json`]).
    pub(crate) view: Value,
    /// How many fields hold concurrent values.
    pub(crate) conflicts: usize,
}

impl Derived {
    pub(crate) fn of(doc: &RecordDoc) -> Result<Derived> {
        Self::with_view(doc, doc.to_json()?)
    }

    /// With the document's view already read (applying changes reads it to
    /// judge them).
    pub(crate) fn with_view(doc: &RecordDoc, view: Value) -> Result<Derived> {
        let kind = crate::schema::Kind::parse(view["kind"].as_str().unwrap_or_default())?;
        Ok(Derived {
            conflicts: doc.conflicts(kind).len(),
            view,
        })
    }
}

/// A record's rows in the read model, computed from its document alone:
/// what a backend writes (the SQLite store here, the server's PostgreSQL
/// storage) so that every backend answers lists, counts, searches and
/// aggregates from the same values.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRow {
    /// The record.
    pub id: RecordId,
    /// Its kind's code.
    pub kind: String,
    /// Its author's id.
    pub author: String,
    /// Created, ms.
    pub created_at: i64,
    /// Last changed, ms.
    pub updated_at: i64,
    /// The record's date: observed, started, or created.
    pub occurred_at: i64,
    /// Sector code.
    pub sector: Option<String>,
    /// Quartier code.
    pub quartier: Option<String>,
    /// Report status code.
    pub status: Option<String>,
    /// When the report's status last applied (reports only).
    pub status_at: Option<i64>,
    /// Report category code.
    pub category: Option<String>,
    /// The responsible body a report is forwarded to.
    pub body: Option<String>,
    /// Activity type code.
    pub activity_type: Option<String>,
    /// How many fields hold concurrent values.
    pub conflicts: i64,
    /// A report's first applied forwarding, ms.
    pub forwarded_at: Option<i64>,
    /// A report's first applied `resolved` or `closed`, ms.
    pub fixed_at: Option<i64>,
    /// Residents met who were known (activities).
    pub met_known: Option<i64>,
    /// Residents met for the first time (activities).
    pub met_new: Option<i64>,
    /// Referrals (activities).
    pub referrals: Option<i64>,
    /// Residents met (notes).
    pub residents_met: Option<i64>,
    /// The record as JSON, empty values left out (the model's defaults
    /// restore them): a third less space per row.
    pub view: String,
    /// Its mission axes.
    pub axes: Vec<String>,
    /// The referrals in a contact's log: when, to which partner, and the
    /// interaction's id; never the resident or the text.
    pub referral_rows: Vec<(i64, String, String)>,
    /// The words full-text search finds it by; None for contacts, which
    /// are never searched by their text.
    pub search: Option<String>,
    /// The photos its document names (reports and notes), erased ones left
    /// out: what the blob routes check a hash against.
    pub photos: Vec<PhotoRef>,
}

/// A record's view with its empty values left out (the model's defaults
/// restore them), serialised in the view's own order without copying it.
struct Compact<'a>(&'a Value);

impl serde::Serialize for Compact<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.as_object().into_iter().flatten().filter(|(_, v)| {
            !(v.is_null()
                || v.as_array().is_some_and(Vec::is_empty)
                || v.as_object().is_some_and(|o| o.is_empty())
                || v.as_str() == Some("")
                || **v == Value::Bool(false))
        }))
    }
}

impl ReadRow {
    /// The rows of record `id` from its derived values.
    pub(crate) fn of(id: RecordId, derived: &Derived) -> ReadRow {
        let view = &derived.view;
        let kind = text(view, "kind").unwrap_or_default();
        let created = int(view, "created_at").unwrap_or_default();
        let occurred = int(view, "observed_at")
            .or_else(|| int(view, "started_at"))
            .unwrap_or(created);
        let status_at = view
            .get("events")
            .and_then(Value::as_array)
            .and_then(|evs| {
                evs.iter()
                    .rev()
                    .filter(|e| e.get("applied") == Some(&Value::Bool(true)))
                    .find_map(|e| e.get("at").and_then(Value::as_i64))
            });
        let status_at = if kind == "report" {
            Some(status_at.unwrap_or(created))
        } else {
            None
        };
        let first_applied = |wanted: &[&str]| {
            view.get("events")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|e| e.get("applied") == Some(&Value::Bool(true)))
                .filter(|e| {
                    e.get("status")
                        .and_then(Value::as_str)
                        .is_some_and(|s| wanted.contains(&s))
                })
                .filter_map(|e| e.get("at").and_then(Value::as_i64))
                .min()
        };
        let search = (kind != "contact").then(|| {
            let mut body = String::new();
            for key in ["text", "place", "category", "activity_type"] {
                if let Some(s) = text(view, key) {
                    body.push_str(&s);
                    body.push('\n');
                }
            }
            for key in ["tags", "topics", "partners"] {
                for t in view
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    body.push_str(t);
                    body.push(' ');
                }
            }
            body
        });
        ReadRow {
            id,
            author: text(view, "author").unwrap_or_default(),
            created_at: created,
            updated_at: int(view, "updated_at").unwrap_or(created),
            occurred_at: occurred,
            sector: text(view, "sector"),
            quartier: text(view, "quartier"),
            status: text(view, "status"),
            status_at,
            category: text(view, "category"),
            body: text(view, "body"),
            activity_type: text(view, "activity_type"),
            conflicts: derived.conflicts as i64,
            forwarded_at: first_applied(&["forwarded"]),
            fixed_at: first_applied(&["resolved", "closed"]),
            met_known: int(view, "met_known"),
            met_new: int(view, "met_new"),
            referrals: int(view, "referrals"),
            residents_met: int(view, "residents_met"),
            view: serde_json::to_string(&Compact(view)).unwrap_or_default(),
            axes: view
                .get("axes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            referral_rows: referrals(view)
                .map(|(at, partner, item)| (at, partner.to_string(), item.to_string()))
                .collect(),
            search,
            photos: view
                .get("photos")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| serde_json::from_value(p.clone()).ok())
                .collect(),
            kind,
        }
    }
}

/// The read-model rows of a record from its document as a log stores it
/// (a snapshot and the changes after it, concatenated): what a tool that
/// moves a log to another backend rebuilds the read model from, without a
/// store, so that both backends hold the rows the core computes.
pub fn read_row_of(id: RecordId, bytes: &[u8]) -> Result<ReadRow> {
    // The actor only names changes this document would make: none here.
    let doc = RecordDoc::load(bytes, &automerge::ActorId::from([0u8; 16].as_slice()))?;
    Ok(ReadRow::of(id, &Derived::of(&doc)?))
}

/// The insert of a record's row, for [`reindex`].
macro_rules! insert_record {
    () => {
        "INSERT INTO records (id, kind, author, created_at, updated_at, occurred_at, sector, quartier, status, status_at,
                              category, body, activity_type, conflicts, view,
                              forwarded_at, fixed_at, met_known, met_new, referrals, residents_met)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)"
    };
}

/// Rewrites every derived row of a record. `fresh` says the record has no
/// rows yet (nothing to delete).
pub(crate) fn reindex(conn: &Connection, row: &ReadRow, fresh: bool) -> Result<()> {
    let id = row.id;
    if !fresh {
        unindex_lists(conn, id)?;
    }
    let values = params![
        id.as_bytes(),
        row.kind,
        row.author,
        row.created_at,
        row.updated_at,
        row.occurred_at,
        row.sector,
        row.quartier,
        row.status,
        row.status_at,
        row.category,
        row.body,
        row.activity_type,
        row.conflicts,
        row.view,
        row.forwarded_at,
        row.fixed_at,
        row.met_known,
        row.met_new,
        row.referrals,
        row.residents_met,
    ];
    // A new record is a plain insert, its rowid read from the connection:
    // with `RETURNING` the insert of a new record's row took 19–23 µs,
    // without it 10–15 (a throwaway probe; the store bench's apply with
    // this change: docs/performance.md). Were the record there after all,
    // the insert fails on its id rather than index the text under another
    // row.
    let rowid: i64 = if fresh {
        conn.prepare_cached(insert_record!())?.execute(values)?;
        conn.last_insert_rowid()
    } else {
        conn.prepare_cached(concat!(
            insert_record!(),
            " ON CONFLICT(id) DO UPDATE SET
             author = excluded.author, updated_at = excluded.updated_at, occurred_at = excluded.occurred_at,
             sector = excluded.sector, quartier = excluded.quartier, status = excluded.status,
             status_at = excluded.status_at, category = excluded.category, body = excluded.body,
             activity_type = excluded.activity_type, conflicts = excluded.conflicts, view = excluded.view,
             forwarded_at = excluded.forwarded_at, fixed_at = excluded.fixed_at, met_known = excluded.met_known,
             met_new = excluded.met_new, referrals = excluded.referrals, residents_met = excluded.residents_met
         RETURNING rowid"
        ))?
        .query_row(values, |r| r.get(0))?
    };
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO record_axes (axis, occurred_at, id, kind) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for a in &row.axes {
        ins.execute(params![a, row.occurred_at, id.as_bytes(), row.kind])?;
    }
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO record_referrals (at, partner, item, id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (at, partner, item) in &row.referral_rows {
        ins.execute(params![at, partner, item, id.as_bytes()])?;
    }
    if !fresh {
        conn.prepare_cached("DELETE FROM search WHERE rowid = ?1")?
            .execute([rowid])?;
    }
    if let Some(body) = &row.search {
        conn.prepare_cached("INSERT INTO search (rowid, body) VALUES (?1, ?2)")?
            .execute(params![rowid, body])?;
    }
    if !fresh {
        conn.prepare_cached("DELETE FROM record_photos WHERE record_id = ?1")?
            .execute([id.as_bytes()])?;
    }
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO record_photos (hash, thumb, size, thumb_size, record_id)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for p in &row.photos {
        ins.execute(params![
            p.hash.as_bytes(),
            p.thumb.as_bytes(),
            p.size as i64,
            p.thumb_size as i64,
            id.as_bytes()
        ])?;
    }
    Ok(())
}

/// The referrals in a contact's log of interactions: when, to whom, and
/// the interaction's id.
fn referrals(view: &Value) -> impl Iterator<Item = (i64, &str, &str)> {
    view.get("interactions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let partner = i.get("referral").and_then(Value::as_str)?.trim();
            let at = i.get("at").and_then(Value::as_i64)?;
            let item = i.get("id").and_then(Value::as_str).unwrap_or_default();
            (!partner.is_empty()).then_some((at, partner, item))
        })
}

/// Removes a record's axis and referral rows. Their keys start with values
/// the record's current row holds (axis and date; when and to whom), so
/// they are found from that row, read and parsed once, without an index on
/// the record id.
fn unindex_lists(conn: &Connection, id: RecordId) -> Result<()> {
    let old: Option<(i64, String)> = conn
        .prepare_cached("SELECT occurred_at, view FROM records WHERE id = ?1")?
        .query_row([id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((occurred, view)) = old else {
        return Ok(());
    };
    let view: Value = serde_json::from_str(&view).unwrap_or_default();
    let mut del = conn.prepare_cached(
        "DELETE FROM record_axes WHERE axis = ?1 AND occurred_at = ?2 AND id = ?3",
    )?;
    for a in view
        .get("axes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        del.execute(params![a, occurred, id.as_bytes()])?;
    }
    let mut del = conn.prepare_cached(
        "DELETE FROM record_referrals WHERE at = ?1 AND partner = ?2 AND item = ?3",
    )?;
    for (at, partner, item) in referrals(&view) {
        del.execute(params![at, partner, item])?;
    }
    Ok(())
}

/// Removes every derived row of a record (on erasure).
pub(crate) fn unindex(conn: &Connection, id: RecordId) -> Result<()> {
    let rowid: Option<i64> = conn
        .query_row(
            "SELECT rowid FROM records WHERE id = ?1",
            [id.as_bytes()],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(rowid) = rowid {
        conn.execute("DELETE FROM search WHERE rowid = ?1", [rowid])?;
    }
    unindex_lists(conn, id)?;
    conn.execute("DELETE FROM records WHERE id = ?1", [id.as_bytes()])?;
    conn.execute(
        "DELETE FROM record_photos WHERE record_id = ?1",
        [id.as_bytes()],
    )?;
    Ok(())
}
