//! The read model: rows derived from a record's document, so that opening,
//! listing, filtering, counting and searching never load automerge.
//!
//! Everything here is a pure function of the document, so two stores holding
//! the same documents answer every query identically.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;

use crate::doc::RecordDoc;
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

/// Rewrites every derived row of a record. `fresh` says the record has no
/// rows yet (nothing to delete).
pub(crate) fn reindex(
    conn: &Connection,
    id: RecordId,
    derived: &Derived,
    fresh: bool,
) -> Result<()> {
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
    let forwarded_at = first_applied(&["forwarded"]);
    let fixed_at = first_applied(&["resolved", "closed"]);
    let conflicts = derived.conflicts as i64;
    // Empty values are left out of the stored view (the model's defaults
    // restore them): a third less space per row.
    let compact: serde_json::Map<String, Value> = view
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| {
            !(v.is_null()
                || v.as_array().is_some_and(Vec::is_empty)
                || v.as_object().is_some_and(|o| o.is_empty())
                || v.as_str() == Some("")
                || *v == &Value::Bool(false))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let view_json = serde_json::to_string(&compact).unwrap_or_default();
    if !fresh {
        unindex_lists(conn, id)?;
    }
    let rowid: i64 = conn.prepare_cached(
        "INSERT INTO records (id, kind, author, created_at, updated_at, occurred_at, sector, quartier, status, status_at,
                              category, body, activity_type, conflicts, view,
                              forwarded_at, fixed_at, met_known, met_new, referrals, residents_met)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)
         ON CONFLICT(id) DO UPDATE SET
             author = excluded.author, updated_at = excluded.updated_at, occurred_at = excluded.occurred_at,
             sector = excluded.sector, quartier = excluded.quartier, status = excluded.status,
             status_at = excluded.status_at, category = excluded.category, body = excluded.body,
             activity_type = excluded.activity_type, conflicts = excluded.conflicts, view = excluded.view,
             forwarded_at = excluded.forwarded_at, fixed_at = excluded.fixed_at, met_known = excluded.met_known,
             met_new = excluded.met_new, referrals = excluded.referrals, residents_met = excluded.residents_met
         RETURNING rowid",
    )?
    .query_row(
        params![
            id.as_bytes(),
            kind,
            text(view, "author").unwrap_or_default(),
            created,
            int(view, "updated_at").unwrap_or(created),
            occurred,
            text(view, "sector"),
            text(view, "quartier"),
            text(view, "status"),
            status_at,
            text(view, "category"),
            text(view, "body"),
            text(view, "activity_type"),
            conflicts,
            view_json,
            forwarded_at,
            fixed_at,
            int(view, "met_known"),
            int(view, "met_new"),
            int(view, "referrals"),
            int(view, "residents_met"),
        ],
        |r| r.get(0),
    )?;
    if let Some(axes) = view.get("axes").and_then(Value::as_array) {
        let mut ins = conn.prepare_cached(
            "INSERT OR IGNORE INTO record_axes (axis, occurred_at, id, kind) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for a in axes.iter().filter_map(Value::as_str) {
            ins.execute(params![a, occurred, id.as_bytes(), kind])?;
        }
    }
    let mut ins = conn.prepare_cached(
        "INSERT OR IGNORE INTO record_referrals (at, partner, item, id) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (at, partner, item) in referrals(view) {
        ins.execute(params![at, partner, item, id.as_bytes()])?;
    }
    if !fresh {
        conn.prepare_cached("DELETE FROM search WHERE rowid = ?1")?
            .execute([rowid])?;
    }
    if kind != "contact" {
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
        conn.prepare_cached("INSERT INTO search (rowid, body) VALUES (?1, ?2)")?
            .execute(params![rowid, body])?;
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
    Ok(())
}
