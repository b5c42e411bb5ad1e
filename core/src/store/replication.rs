//! Sans-IO replication between stores: "the changes this peer lacks" and
//! "apply these changes", with no network. The sync protocol and the server
//! use the same two operations.
//!
//! Each store keeps a change log in the order it got its changes, which is a
//! causal order (a change is logged only once its dependencies are). A peer's
//! position in that log is a cursor: [`Store::outgoing`] sends what follows
//! the cursor the peer acknowledged, [`Store::acknowledge`] moves it. A lost
//! batch is sent again, a duplicated one applies as a no-op, and an applied
//! batch is never half-applied.

use std::collections::HashMap;

use automerge::ChangeHash;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::records::{erase_in, log_change, store_doc};
use super::{Store, is_erased};
use crate::doc::{RecordDoc, decode_change};
use crate::model::Record;
use crate::{Error, RecordId, Result};

/// A change-log row: sequence, record id, change hash (None: erasure), origin.
type LogRow = (i64, Vec<u8>, Option<Vec<u8>>, String);

/// What one log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// An automerge change of the record's document, encoded.
    Change(Vec<u8>),
    /// The record was erased; nothing else about it travels.
    Erased,
}

/// One entry of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The record the entry belongs to.
    pub record_id: RecordId,
    /// A change or an erasure.
    pub payload: Payload,
}

/// A run of the sender's change log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The entries, in the sender's log order.
    pub entries: Vec<Entry>,
    /// The sender's log position after this batch: acknowledge it once applied.
    pub upto: u64,
    /// Whether the sender has more after `upto`.
    pub more: bool,
}

impl Batch {
    /// Size of the payloads, for limits and progress.
    pub fn payload_bytes(&self) -> usize {
        self.entries
            .iter()
            .map(|e| {
                16 + if let Payload::Change(b) = &e.payload {
                    b.len()
                } else {
                    0
                }
            })
            .sum()
    }
}

/// What applying a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyReport {
    /// Changes new to this store.
    pub applied: usize,
    /// Changes it already had.
    pub duplicates: usize,
    /// Changes to erased records, refused.
    pub refused: usize,
    /// Records newly erased.
    pub erased: usize,
    /// Records whose content changed, in first-seen order.
    pub records: Vec<RecordId>,
}

impl Store {
    /// The entries of this store's log after `after`, skipping those that came
    /// from `skip_origin` (a peer does not need its own changes back), up to
    /// about `max_bytes` of payload (at least one entry).
    pub fn changes_since(
        &self,
        after: u64,
        max_bytes: usize,
        skip_origin: Option<&str>,
    ) -> Result<Batch> {
        self.read(|conn, ctx| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, record_id, hash, origin FROM change_log WHERE seq > ?1 ORDER BY seq LIMIT 2000",
            )?;
            let mut batch = Batch { upto: after, ..Default::default() };
            let mut size = 0usize;
            let mut docs: HashMap<RecordId, RecordDoc> = HashMap::new();
            let mut cursor = after;
            loop {
                let rows: Vec<LogRow> = stmt
                    .query_map([cursor as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?;
                if rows.is_empty() {
                    return Ok(batch);
                }
                for (seq, rid, hash, origin) in rows {
                    if size >= max_bytes && !batch.entries.is_empty() {
                        batch.more = true;
                        return Ok(batch);
                    }
                    cursor = seq as u64;
                    batch.upto = cursor;
                    if skip_origin == Some(origin.as_str()) {
                        continue;
                    }
                    let record_id = RecordId::from_slice(&rid).ok_or_else(|| Error::Storage("bad record id in log".into()))?;
                    let payload = match hash {
                        None => Payload::Erased,
                        Some(h) => {
                            let hash = ChangeHash::try_from(h.as_slice()).map_err(|_| Error::Storage("bad hash in log".into()))?;
                            let doc = match docs.entry(record_id) {
                                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                                std::collections::hash_map::Entry::Vacant(e) => e.insert(super::load_doc(conn, ctx.actor, record_id)?),
                            };
                            let bytes = doc
                                .change_bytes(&hash)
                                .ok_or_else(|| Error::Storage("a logged change is missing from its document".into()))?;
                            Payload::Change(bytes)
                        }
                    };
                    size += 16 + if let Payload::Change(b) = &payload { b.len() } else { 0 };
                    batch.entries.push(Entry { record_id, payload });
                }
                if docs.len() > 256 {
                    docs.clear();
                }
            }
        })
    }

    /// What `peer` lacks: the log after the position it acknowledged.
    pub fn outgoing(&self, peer: &str, max_bytes: usize) -> Result<Batch> {
        let after = self.acked(peer)?;
        self.changes_since(after, max_bytes, Some(peer))
    }

    /// How far `peer` has acknowledged this store's log.
    pub fn acked(&self, peer: &str) -> Result<u64> {
        self.read(|conn, _| {
            Ok(conn
                .query_row(
                    "SELECT acked_upto FROM peers WHERE peer = ?1",
                    [peer],
                    |r| r.get::<_, i64>(0),
                )
                .optional()?
                .unwrap_or(0) as u64)
        })
    }

    /// Records that `peer` applied everything up to `upto`. Never moves back,
    /// so a late duplicate acknowledgement is harmless.
    pub fn acknowledge(&self, peer: &str, upto: u64) -> Result<()> {
        self.write(|tx, _| {
            tx.execute(
                "INSERT INTO peers (peer, acked_upto) VALUES (?1, ?2)
                 ON CONFLICT(peer) DO UPDATE SET acked_upto = max(acked_upto, excluded.acked_upto)",
                params![peer, upto as i64],
            )?;
            Ok(())
        })
    }

    /// The newest position of this store's log.
    pub fn log_head(&self) -> Result<u64> {
        self.read(|conn, _| {
            Ok(
                conn.query_row("SELECT coalesce(max(seq), 0) FROM change_log", [], |r| {
                    r.get::<_, i64>(0)
                })? as u64,
            )
        })
    }

    /// Applies a batch from `origin`, all or nothing: every change is decoded,
    /// applied and then checked to be in its document, and every document
    /// must still be the record its id says. Changes to erased records are
    /// refused (counted, not applied) so a stale peer cannot bring an erased
    /// resident back.
    pub fn apply(&self, origin: &str, batch: &Batch) -> Result<ApplyReport> {
        self.write(|tx, ctx| apply_in(tx, ctx.actor, origin, &batch.entries))
    }
}

fn apply_in(
    tx: &Connection,
    actor: &automerge::ActorId,
    origin: &str,
    entries: &[Entry],
) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    // Group changes by record, keeping first-seen order; erasures act in place.
    let mut order: Vec<RecordId> = Vec::new();
    let mut groups: HashMap<RecordId, Vec<&[u8]>> = HashMap::new();
    let mut erased_now: Vec<RecordId> = Vec::new();
    for e in entries {
        match &e.payload {
            Payload::Erased => {
                if !is_erased(tx, e.record_id)? {
                    erase_in(tx, e.record_id, crate::now_ms(), origin)?;
                    report.erased += 1;
                }
                if let Some(dropped) = groups.remove(&e.record_id) {
                    report.refused += dropped.len();
                }
                erased_now.push(e.record_id);
            }
            Payload::Change(bytes) => {
                if erased_now.contains(&e.record_id) {
                    // Still decoded: a batch with garbage is refused whole.
                    decode_change(bytes)?;
                    report.refused += 1;
                    continue;
                }
                groups
                    .entry(e.record_id)
                    .or_insert_with(|| {
                        order.push(e.record_id);
                        Vec::new()
                    })
                    .push(bytes);
            }
        }
    }
    for id in order {
        let Some(raw) = groups.remove(&id) else {
            continue;
        };
        if is_erased(tx, id)? {
            for b in &raw {
                decode_change(b)?;
            }
            report.refused += raw.len();
            continue;
        }
        let existing: Option<Vec<u8>> = tx
            .prepare_cached("SELECT bytes FROM documents WHERE id = ?1")?
            .query_row([id.as_bytes()], |r| r.get(0))
            .optional()?;
        let (doc, new_hashes) = match &existing {
            // A record new to this store: one load of all its changes.
            None => match RecordDoc::load_changes(&raw, raw.len(), actor) {
                Some(loaded) => loaded,
                None => apply_strict(RecordDoc::empty(actor), &raw, &mut report)?,
            },
            Some(b) => apply_strict(RecordDoc::load(b, actor)?, &raw, &mut report)?,
        };
        if new_hashes.is_empty() {
            continue;
        }
        if doc.id() != Some(id) {
            return Err(Error::RejectedChanges(format!(
                "changes sent for record {id} belong to another document"
            )));
        }
        // What is stored must load again: a change can decode and apply yet
        // leave a document whose saved form is unreadable (a flipped bit in
        // its ops), which would break every later read and pull of it.
        let bytes = doc.save();
        let reloaded = RecordDoc::load(&bytes, actor).map_err(|_| {
            Error::RejectedChanges(format!(
                "changes for record {id} leave an unreadable document"
            ))
        })?;
        if reloaded.heads() != doc.heads() {
            return Err(Error::RejectedChanges(format!(
                "changes for record {id} do not survive a save and load"
            )));
        }
        let view = store_doc(tx, id, &doc, &bytes, existing.is_none())?;
        // The document must still read as a record of its kind.
        Record::from_json(view).map_err(|_| {
            Error::RejectedChanges(format!("record {id} would no longer be readable"))
        })?;
        // Log in the document's causal order, so that any run of our log that
        // a third store receives has its dependencies before it.
        if new_hashes.len() == 1 {
            log_change(tx, id, &new_hashes[0], origin)?;
        } else {
            for c in doc.changes() {
                if new_hashes.contains(&c.hash()) {
                    log_change(tx, id, &c.hash(), origin)?;
                }
            }
        }
        report.applied += new_hashes.len();
        report.records.push(id);
    }
    Ok(report)
}

/// Decodes each change, skips those the document has, applies the rest and
/// verifies they all landed. Returns the document and the new hashes.
fn apply_strict(
    mut doc: RecordDoc,
    raw: &[&[u8]],
    report: &mut ApplyReport,
) -> Result<(RecordDoc, Vec<ChangeHash>)> {
    let mut new = Vec::new();
    let mut seen = Vec::new();
    for b in raw {
        let change = decode_change(b)?;
        let h = change.hash();
        if doc.has_change(&h) || seen.contains(&h) {
            report.duplicates += 1;
        } else {
            seen.push(h);
            new.push(change);
        }
    }
    if !new.is_empty() {
        doc.apply_verified(new)?;
    }
    Ok((doc, seen))
}
