//! Writing and reading single records.

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::index::{self, Derived, ReadRow};
use super::log_store::{LogStore, SqliteLog};
use super::{Store, is_erased, load_doc, load_doc_tail};
use crate::doc::{Conflict, HistoryEntry, RecordDoc};
use crate::edit::{self, Action};
use crate::lifecycle::ReportStatus;
use crate::model::{ContactLink, ContactState, Record};
use crate::photo::PhotoHash;
use crate::schema::{Kind, validate_field};
use crate::{Error, RecordId, Result, now_ms};

/// A requested change of a report's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatusChange {
    /// The new status (`reported` again means reopening).
    pub status: Option<ReportStatus>,
    /// For `forwarded`: the responsible body (code or label). Required.
    pub to: Option<String>,
    /// For `forwarded`: the body's reference for the case.
    pub reference: Option<String>,
    /// Any status: a comment.
    pub comment: Option<String>,
    /// For `duplicate`: the report this one duplicates. Required.
    pub duplicate_of: Option<RecordId>,
}

/// A record with everything `show` displays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordDetails {
    /// The record.
    pub record: Record,
    /// Unresolved concurrent values.
    pub conflicts: Vec<Conflict>,
    /// Who changed what, when.
    pub history: Vec<HistoryEntry>,
}

/// Logs a change new to this store, its bytes packed ([`super::packed`]).
pub(super) fn log_packed(
    conn: &Connection,
    id: RecordId,
    hash: &automerge::ChangeHash,
    packed: &[u8],
    origin: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO change_log (record_id, hash, origin, bytes) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id.as_bytes(), hash.0.as_slice(), origin, packed])?;
    Ok(())
}

/// Logs a change this device just made to `doc`.
pub(super) fn log_local(
    conn: &Connection,
    id: RecordId,
    doc: &RecordDoc,
    hash: &automerge::ChangeHash,
) -> Result<()> {
    let bytes = doc
        .change_bytes(hash)
        .ok_or_else(|| Error::Internal("a new change is missing from its document".into()))?;
    log_packed(conn, id, hash, &super::packed::pack(&bytes)?, "local")
}

/// How many changes after its snapshot a record is loaded from before it
/// gets a new snapshot. Most records never reach it and cost their changes
/// only; a busy report does not get slower to load with every edit.
const COMPACT_AFTER: usize = 8;

/// Once a record's new changes are logged: gives it a fresh snapshot when
/// `tail` changes have piled up since the last, then rewrites its derived
/// rows.
pub(super) fn index_doc(
    conn: &Connection,
    id: RecordId,
    doc: &RecordDoc,
    tail: usize,
    fresh: bool,
) -> Result<()> {
    Indexed::of(id, doc, Derived::of(doc)?, tail).write(&mut SqliteLog::new(conn), fresh)
}

/// What a record's storage gets once its new changes are logged, computed
/// from its document alone: applying a batch computes it on every core,
/// and the one thread that writes only executes it.
pub(super) struct Indexed {
    row: ReadRow,
    /// The photos the record names, with its derived values to mask those
    /// erased here; None for a record naming none.
    photos: Option<(Vec<PhotoHash>, Derived)>,
    /// A fresh snapshot of its document, when `tail` changes have piled up.
    snapshot: Option<Vec<u8>>,
}

impl Indexed {
    /// For record `id`, whose document `doc` (with `derived` read from it)
    /// ends with `tail` logged changes after its snapshot.
    pub(super) fn of(id: RecordId, doc: &RecordDoc, derived: Derived, tail: usize) -> Indexed {
        let snapshot = if tail >= COMPACT_AFTER {
            snapshot(doc)
        } else {
            None
        };
        let row = ReadRow::of(id, &derived);
        let hashes = super::replication::photo_hashes(&derived.view);
        Indexed {
            row,
            photos: (!hashes.is_empty()).then_some((hashes, derived)),
            snapshot,
        }
    }

    /// The photos the record names.
    pub(super) fn photos(&self) -> &[PhotoHash] {
        self.photos.as_ref().map_or(&[], |(h, _)| h.as_slice())
    }

    /// Writes the snapshot, if any, and the derived rows; `fresh`: the
    /// record has none yet.
    pub(super) fn write(&self, log: &mut dyn LogStore, fresh: bool) -> Result<()> {
        let id = self.row.id;
        if let Some(bytes) = &self.snapshot {
            log.save_snapshot(id, bytes)?;
        }
        let Some((hashes, derived)) = &self.photos else {
            return log.write_row(&self.row, fresh);
        };
        let mut erased = Vec::new();
        for h in hashes {
            if log.is_photo_erased(h)? {
                erased.push(*h);
            }
        }
        if erased.is_empty() {
            return log.write_row(&self.row, fresh);
        }
        // A stale device named an erased photo again: the record does not
        // list it (its bytes are gone and are never taken again).
        let mut view = derived.view.clone();
        if let Some(list) = view.get_mut("photos").and_then(Value::as_array_mut) {
            list.retain(|p| {
                p.get("hash")
                    .and_then(Value::as_str)
                    .and_then(|h| PhotoHash::parse(h).ok())
                    .is_none_or(|h| !erased.contains(&h))
            });
        }
        let masked = Derived {
            view,
            conflicts: derived.conflicts,
        };
        log.write_row(&ReadRow::of(id, &masked), fresh)
    }
}

/// A snapshot of `doc`, unless it would not load back the same document (a
/// peer's change can apply yet not survive re-encoding): the record then
/// keeps loading from its changes, which do.
fn snapshot(doc: &RecordDoc) -> Option<Vec<u8>> {
    let bytes = doc.save();
    RecordDoc::load(&bytes, &automerge::ActorId::from([0u8; 16].as_slice()))
        .is_ok_and(|back| back.heads() == doc.heads())
        .then_some(bytes)
}

fn doc_kind(doc: &RecordDoc) -> Result<Kind> {
    doc.kind().ok_or(Error::Unreadable {
        what: "a record's document without a kind",
        source: None,
    })
}

impl Store {
    /// Creates a record of `kind` from its fields (names as in
    /// [`crate::schema`]); returns its new id once it is durable.
    pub fn create(&self, kind: Kind, input: &Map<String, Value>) -> Result<RecordId> {
        self.write(|tx, ctx| {
            let now = now_ms();
            let fields = edit::new_fields(ctx.config, kind, input, ctx.author, now)?;
            for linked in fields
                .get("contacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                check_linkable(tx, linked)?;
            }
            let id = RecordId::new();
            let (doc, hash) = RecordDoc::create(ctx.actor, id, kind, ctx.author, now, &fields)?;
            log_local(tx, id, &doc, &hash)?;
            index_doc(tx, id, &doc, 1, true)?;
            Ok(id)
        })
    }

    /// Sets one field of a record. Writing a field also resolves any conflict
    /// on it. Text fields are diffed into character edits, so concurrent edits
    /// of the same text both survive.
    pub fn set_field(&self, id: RecordId, field: &str, value: &Value) -> Result<()> {
        self.act(
            id,
            &Action::SetField {
                field: field.into(),
                value: value.clone(),
            },
        )
    }

    /// Moves a report to a new status, checked against the lifecycle.
    pub fn change_status(&self, id: RecordId, change: &StatusChange) -> Result<()> {
        self.act(id, &Action::Status(change.clone()))
    }

    /// Adds an entry to a contact's log of interactions and referrals.
    pub fn add_interaction(&self, id: RecordId, text: &str, referral: Option<&str>) -> Result<()> {
        self.act(
            id,
            &Action::Interaction {
                text: text.into(),
                referral: referral.map(str::to_string),
            },
        )
    }

    /// Makes a change to an existing record as this device ([`crate::edit`]);
    /// [`Action::Erase`] erases it ([`Store::erase`]).
    pub fn act(&self, id: RecordId, action: &Action) -> Result<()> {
        if let Action::Erase = action {
            return self.erase(id);
        }
        self.write(|tx, ctx| {
            let (mut doc, tail) = load_doc_tail(tx, ctx.actor, id)?;
            if let Action::SetField { field, value } = action
                && let Some(kind) = doc.kind()
                && let Ok(f) = kind.field(field)
                && f.name == "contacts"
            {
                let value = validate_field(ctx.config, f, value, None)?;
                for linked in value.as_array().into_iter().flatten() {
                    check_linkable(tx, linked)?;
                }
            }
            if let Some(hash) = edit::apply(ctx.config, &mut doc, id, action, ctx.author, now_ms())?
            {
                log_local(tx, id, &doc, &hash)?;
                index_doc(tx, id, &doc, tail + 1, false)?;
            }
            Ok(())
        })
    }

    /// Erases a resident contact for good (RGPD art. 17): its document and
    /// whole history, its rows and log entries are deleted, a tombstone (id
    /// and time only) remains so that the erasure replicates, and the WAL is
    /// checkpointed so no byte of it stays on disk.
    pub fn erase(&self, id: RecordId) -> Result<()> {
        self.write(|tx, ctx| {
            let doc = load_doc(tx, ctx.actor, id)?;
            if doc_kind(&doc)? != Kind::Contact {
                return Err(Error::invalid(
                    "id",
                    "only resident contacts are erased; notes and reports stay in the team's log",
                ));
            }
            super::photos::erase_record_in(tx, id, now_ms(), "local").map(drop)
        })?;
        self.checkpoint()
    }

    /// One record, with its contact links resolved.
    pub fn get(&self, id: RecordId) -> Result<Record> {
        self.read(|conn, _| {
            let view: Option<String> = conn
                .query_row(
                    "SELECT view FROM records WHERE id = ?1",
                    [id.as_bytes()],
                    |r| r.get(0),
                )
                .optional()?;
            match view {
                Some(v) => record_from_view(conn, &v),
                None if is_erased(conn, id)? => Err(Error::Erased(id)),
                None => Err(Error::NotFound(id)),
            }
        })
    }

    /// A record with its conflicts and history (loads the document).
    pub fn details(&self, id: RecordId) -> Result<RecordDetails> {
        self.read(|conn, _| {
            let (bytes, _) = super::doc_bytes(conn, id)?;
            let mut details = details_from_doc(&bytes, &mut |link| link_state(conn, link))?;
            without_erased_photos(&mut details.record, |named| {
                let mut erased = Vec::new();
                for hash in named {
                    if super::photos::is_photo_erased(conn, hash)? {
                        erased.push(*hash);
                    }
                }
                Ok(erased)
            })?;
            Ok(details)
        })
    }
}

/// How a backend says what became of a record a note, report or activity
/// links to (a contact: here, erased, or not yet received).
pub type LinkState<'a> = dyn FnMut(RecordId) -> Result<ContactState> + 'a;

/// A record with its conflicts and history, from its stored document (as
/// [`super::LogStore::stored_doc`] gives it), its links resolved by
/// `links`: the one reading of a document for every backend.
pub fn details_from_doc(bytes: &[u8], links: &mut LinkState<'_>) -> Result<RecordDetails> {
    let doc = RecordDoc::load(bytes, &automerge::ActorId::from([0u8; 16].as_slice()))?;
    let kind = doc_kind(&doc)?;
    let record = Record::from_json(doc.to_json()?)?;
    Ok(RecordDetails {
        record: resolve_links(record, links)?,
        conflicts: doc.conflicts(kind),
        history: doc.history(),
    })
}

/// Leaves out of `record` the photos that were erased: a stale device's
/// change may still name one, and no reader shows it. `erased` says which
/// of the named hashes (full images') are; each backend looks them up in
/// its own tombstones.
pub fn without_erased_photos(
    record: &mut Record,
    erased: impl FnOnce(&[PhotoHash]) -> Result<Vec<PhotoHash>>,
) -> Result<()> {
    let Some(photos) = record.photos_mut().filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let named: Vec<PhotoHash> = photos.iter().map(|p| p.hash).collect();
    let erased = erased(&named)?;
    photos.retain(|p| !erased.contains(&p.hash));
    Ok(())
}

fn check_linkable(conn: &Connection, linked: &Value) -> Result<()> {
    let id: RecordId = linked.as_str().unwrap_or_default().parse()?;
    if is_erased(conn, id)? {
        return Err(Error::Erased(id));
    }
    Ok(())
}

/// Deletes a record and everything derived from it, and leaves a tombstone.
pub(super) fn erase_in(conn: &Connection, id: RecordId, at: i64, origin: &str) -> Result<()> {
    index::unindex(conn, id)?;
    conn.execute("DELETE FROM documents WHERE id = ?1", [id.as_bytes()])?;
    conn.execute(
        "DELETE FROM change_log WHERE record_id = ?1",
        [id.as_bytes()],
    )?;
    conn.execute(
        "INSERT OR IGNORE INTO tombstones (id, erased_at) VALUES (?1, ?2)",
        params![id.as_bytes(), at],
    )?;
    conn.execute(
        "INSERT INTO change_log (record_id, hash, origin, bytes) VALUES (?1, NULL, ?2, NULL)",
        params![id.as_bytes(), origin],
    )?;
    Ok(())
}

pub(super) fn record_from_view(conn: &Connection, view: &str) -> Result<Record> {
    record_from_row(view, &mut |link| link_state(conn, link))
}

/// A record from its read-model view ([`super::ReadRow::view`]), its links
/// resolved by `links`.
pub fn record_from_row(view: &str, links: &mut LinkState<'_>) -> Result<Record> {
    let v: Value = serde_json::from_str(view).map_err(Error::unreadable("a record's view"))?;
    resolve_links(Record::from_json(v)?, links)
}

/// What this store holds of a linked contact.
fn link_state(conn: &Connection, id: RecordId) -> Result<ContactState> {
    Ok(if is_erased(conn, id)? {
        ContactState::Erased
    } else if conn
        .query_row(
            "SELECT 1 FROM records WHERE id = ?1",
            [id.as_bytes()],
            |_| Ok(()),
        )
        .optional()?
        .is_some()
    {
        ContactState::Present
    } else {
        ContactState::Unknown
    })
}

/// Marks each linked contact as present, erased or not yet known here.
fn resolve_links(mut record: Record, links: &mut LinkState<'_>) -> Result<Record> {
    let list: &mut Vec<ContactLink> = match &mut record {
        Record::Note(r) => &mut r.contacts,
        Record::Report(r) => &mut r.contacts,
        Record::Activity(r) => &mut r.contacts,
        Record::Contact(_) => return Ok(record),
    };
    for link in list.iter_mut() {
        link.state = links(link.id)?;
    }
    Ok(record)
}

impl Store {
    /// The unresolved conflicts of a record; cheap when it has none.
    pub fn conflicts(&self, id: RecordId) -> Result<Vec<Conflict>> {
        let n: i64 = self.read(|conn, _| {
            Ok(conn
                .query_row(
                    "SELECT conflicts FROM records WHERE id = ?1",
                    [id.as_bytes()],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0))
        })?;
        if n == 0 {
            return Ok(vec![]);
        }
        Ok(self.details(id)?.conflicts)
    }
}
