//! Replication between stores: "the log after this position" and "apply
//! these changes", with no network. The sync protocol (a device's push and
//! pull) and the server (serving pulls, applying pushes) use the same
//! operations.
//!
//! Each store keeps a change log in the order it got its changes, which is a
//! causal order (a change is logged only once its dependencies are). A
//! position in that log is a cursor: [`Store::changes_since`] reads what
//! follows one; whoever reads keeps its own cursor (a device its two sync
//! cursors, [`super::Cursor`]). A lost batch is sent again, a duplicated one
//! applies as a no-op, and an applied batch is never half-applied.

use std::borrow::Cow;
use std::collections::HashMap;

use automerge::{ActorId, Change, ChangeHash};
use serde::{Deserialize, Serialize};

use super::Store;
use super::index::Derived;
use super::log_store::{LogStore, NewChange, SqliteLog};
use super::records::Indexed;
use crate::doc::{RecordDoc, decode_change, is_deflated};
use crate::model::Record;
use crate::photo::{PhotoHash, PhotoRef};
use crate::rules::check_step;
use crate::{Error, Kind, RecordId, Result, TeamConfig};

/// A change-log row: sequence, record id, change bytes (None: erasure),
/// origin, erased photo (its two hashes, 64 bytes).
type LogRow = (i64, Vec<u8>, Option<Vec<u8>>, String, Option<Vec<u8>>);

/// What one log entry carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// An automerge change of the record's document, encoded.
    Change(Vec<u8>),
    /// The record was erased; nothing else about it travels.
    Erased,
    /// A photo was removed from the record (or went with its erased
    /// record): its bytes, full image and thumbnail, are erased wherever
    /// they are, and no store takes them again.
    PhotoErased {
        /// The full image's hash.
        hash: PhotoHash,
        /// The thumbnail's hash.
        thumb: PhotoHash,
    },
}

impl Payload {
    /// Bytes it weighs in a batch besides its record id, for limits and progress.
    pub fn weight(&self) -> usize {
        match self {
            Payload::Change(b) => b.len(),
            Payload::Erased => 0,
            Payload::PhotoErased { .. } => 64,
        }
    }

    /// The payload a change-log row holds: change bytes, or else an erased
    /// photo's two hashes (64 bytes), or else the record's erasure. `None`
    /// for a photo column of another length (a damaged row).
    pub fn from_row(bytes: Option<Vec<u8>>, photo: Option<&[u8]>) -> Option<Payload> {
        Some(match (bytes, photo) {
            (Some(b), _) => Payload::Change(b),
            (None, None) => Payload::Erased,
            (None, Some(p)) if p.len() == 64 => Payload::PhotoErased {
                hash: PhotoHash::from_slice(&p[..32])?,
                thumb: PhotoHash::from_slice(&p[32..])?,
            },
            (None, Some(_)) => return None,
        })
    }
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
        self.entries.iter().map(|e| 16 + e.payload.weight()).sum()
    }
}

impl Batch {
    /// The automerge actor (hex) of the batch's first change, if it has one:
    /// the server binds it to a device enrolled before actors were bound,
    /// at its first push.
    pub fn first_actor(&self) -> Result<Option<String>> {
        self.entries
            .iter()
            .find_map(|e| match &e.payload {
                Payload::Change(b) => Some(b),
                Payload::Erased | Payload::PhotoErased { .. } => None,
            })
            .map(|b| decode_change(b).map(|c| c.actor_id().to_hex_string()))
            .transpose()
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
    /// Photos newly erased by the batch (full image, thumbnail): removed
    /// from their record, or gone with an erased record. Their bytes must
    /// go from wherever they are kept (a server's blob store).
    #[serde(default)]
    pub erased_photos: Vec<(PhotoHash, PhotoHash)>,
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
        self.read(|conn, _| {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, record_id, bytes, origin, photo FROM change_log WHERE seq > ?1 ORDER BY seq",
            )?;
            let mut rows = stmt.query([after as i64])?;
            let mut batch = Batch {
                upto: after,
                ..Default::default()
            };
            let mut size = 0usize;
            while let Some(row) = rows.next()? {
                if size >= max_bytes && !batch.entries.is_empty() {
                    batch.more = true;
                    break;
                }
                let (seq, rid, bytes, origin, photo): LogRow =
                    (row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?);
                batch.upto = seq as u64;
                if skip_origin == Some(origin.as_str()) {
                    continue;
                }
                let record_id = RecordId::from_slice(&rid).ok_or(Error::Unreadable {
                    what: "a record id in the change log",
                    source: None,
                })?;
                let bytes = bytes.map(super::packed::unpack).transpose()?;
                let payload =
                    Payload::from_row(bytes, photo.as_deref()).ok_or(Error::Unreadable {
                        what: "an erased photo in the change log",
                        source: None,
                    })?;
                size += 16 + payload.weight();
                batch.entries.push(Entry { record_id, payload });
            }
            Ok(batch)
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

    /// Applies a batch relayed by the peer `origin` (the server's team log on
    /// a device; another store in tests), all or nothing: every change is
    /// decoded, judged against the record as its author saw it
    /// ([`crate::rules`]), applied and then checked to be in its document, and
    /// every document must still be the record its id says. Changes to erased
    /// records are refused (counted, not applied) so a stale peer cannot
    /// bring an erased resident back; so are erasures of records that are not
    /// resident contacts. A change that breaks a rule refuses the whole batch
    /// ([`Error::Refused`]).
    pub fn apply(&self, origin: &str, batch: &Batch) -> Result<ApplyReport> {
        self.apply_as(Sender::Peer(origin), batch)
    }

    /// Applies a batch that the enrolled device `origin` pushes, on the
    /// server: like [`Store::apply`], but every change must have been made by
    /// `actor` (the automerge actor bound to that device at enrollment), and
    /// an erasure of anything but a resident contact refuses the whole batch
    /// instead of being skipped, so that the device learns of it.
    ///
    /// `actor` is None for a device with no actor bound yet: its batch may
    /// then hold erasures only.
    pub fn apply_pushed(
        &self,
        origin: &str,
        actor: Option<&str>,
        batch: &Batch,
    ) -> Result<ApplyReport> {
        let actor = parse_actor(actor)?;
        self.apply_as(
            Sender::Device {
                origin,
                actor: actor.as_ref(),
            },
            batch,
        )
    }

    fn apply_as(&self, sender: Sender<'_>, batch: &Batch) -> Result<ApplyReport> {
        let report = self.write(|tx, ctx| {
            apply_in(
                &mut SqliteLog::new(tx),
                ctx.actor,
                ctx.config,
                sender,
                &batch.entries,
            )
        })?;
        // An erasure is acknowledged only once no byte of the record (or
        // photo) is left in the log file either.
        if batch
            .entries
            .iter()
            .any(|e| matches!(e.payload, Payload::Erased | Payload::PhotoErased { .. }))
        {
            self.checkpoint()?;
        }
        Ok(report)
    }
}

/// The actor a device is bound to, as the server stores it (32 hex digits).
pub(super) fn parse_actor(actor: Option<&str>) -> Result<Option<ActorId>> {
    actor
        .map(|a| {
            hex::decode(a)
                .ok()
                .filter(|a| a.len() == 16)
                .map(|a| ActorId::from(a.as_slice()))
                .ok_or_else(|| Error::invalid("actor", "expected 32 hexadecimal digits"))
        })
        .transpose()
}

/// Who sends a batch, which decides what it may hold.
#[derive(Clone, Copy)]
pub(super) enum Sender<'a> {
    /// A peer relaying the team's log: changes of any actor.
    Peer(&'a str),
    /// A device pushing its own changes: made by its actor only (none at
    /// all while it has no actor bound).
    Device {
        origin: &'a str,
        actor: Option<&'a ActorId>,
    },
}

/// Whose new changes a batch may hold.
#[derive(Clone, Copy)]
enum Makers<'a> {
    /// Any actor's (a relayed log).
    Anyone,
    /// This actor's only; none at all for a device with no actor bound.
    Only(Option<&'a ActorId>),
}

impl Sender<'_> {
    fn origin(&self) -> &str {
        match self {
            Sender::Peer(o) | Sender::Device { origin: o, .. } => o,
        }
    }
}

/// Erasures of records this store holds as something else than a resident
/// contact: notes, reports and activities stay in the team's log.
fn forbidden_erasures(log: &mut dyn LogStore, entries: &[Entry]) -> Result<Vec<RecordId>> {
    let mut out = Vec::new();
    for e in entries {
        if matches!(e.payload, Payload::Erased)
            && log
                .stored_kind(e.record_id)?
                .is_some_and(|k| k != Kind::Contact.code())
        {
            out.push(e.record_id);
        }
    }
    Ok(out)
}

pub(super) fn apply_in(
    log: &mut dyn LogStore,
    own: &ActorId,
    config: &TeamConfig,
    sender: Sender<'_>,
    entries: &[Entry],
) -> Result<ApplyReport> {
    let origin = sender.origin();
    let mut report = ApplyReport::default();
    let forbidden = forbidden_erasures(log, entries)?;
    if !forbidden.is_empty() {
        if let Sender::Device { .. } = sender {
            return Err(Error::Refused {
                reason: "only residents' contacts can be erased".into(),
                erasures: forbidden.len(),
                changes: 0,
            });
        }
        report.refused += forbidden.len();
    }
    // Group changes by record, keeping first-seen order; erasures act in place.
    let mut order: Vec<RecordId> = Vec::new();
    let mut groups: HashMap<RecordId, Vec<&[u8]>> = HashMap::new();
    let mut erased_now: Vec<RecordId> = Vec::new();
    let mut photos_erased_on: Vec<RecordId> = Vec::new();
    let now = crate::now_ms();
    for e in entries {
        match &e.payload {
            Payload::Erased if forbidden.contains(&e.record_id) => {}
            Payload::PhotoErased { hash, thumb } => {
                if !erase_photo(log, &mut report, e.record_id, hash, thumb, now, origin)? {
                    report.duplicates += 1;
                }
                if !photos_erased_on.contains(&e.record_id) {
                    photos_erased_on.push(e.record_id);
                }
            }
            Payload::Erased => {
                if !log.is_erased(e.record_id)? {
                    erase_record(log, &mut report, e.record_id, now, origin)?;
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
    // Read what each record has (serial: one connection), merge in parallel
    // (automerge is most of the cost), then write in order.
    let mut work = Vec::with_capacity(order.len());
    for id in order {
        let Some(raw) = groups.remove(&id) else {
            continue;
        };
        if log.is_erased(id)? {
            for b in &raw {
                decode_change(b)?;
            }
            report.refused += raw.len();
            continue;
        }
        let stored = log.stored_doc(id)?;
        let mut known = match stored {
            Some(_) => log.stored_hashes(id)?,
            None => Vec::new(),
        };
        known.sort_unstable();
        work.push(Work {
            id,
            stored,
            known,
            raw,
        });
    }
    let makers = match sender {
        Sender::Device { actor, .. } => Makers::Only(actor),
        Sender::Peer(_) => Makers::Anyone,
    };
    let pack = log.packs_changes();
    for merged in merge_all(work, own, config, makers, pack) {
        let m = merged?;
        report.duplicates += m.duplicates;
        let Some(indexed) = &m.indexed else {
            continue;
        };
        // Log in causal order, so that any run of our log that a third
        // store receives has its dependencies before it.
        for change in &m.new {
            log.log_change(m.id, change, origin)?;
        }
        indexed.write(log, !m.existed)?;
        // A change that names an erased photo again (a stale device) is
        // refused: the reference stays out of the record (its rows leave
        // erased photos out) and its bytes are never taken again.
        let kept = indexed.photos();
        let mut refused = 0;
        for added in &m.added_photos {
            for h in added.iter().filter(|h| kept.contains(h)) {
                if log.is_photo_erased(h)? {
                    refused += 1;
                    break;
                }
            }
        }
        report.refused += refused;
        report.applied += m.new.len() - refused;
        report.records.push(m.id);
    }
    // A record that lost a photo by an erasure alone (its removal did not
    // reach this store, or came earlier) stops listing it.
    for id in photos_erased_on {
        if report.records.contains(&id) || log.is_erased(id)? {
            continue;
        }
        let Some((bytes, tail)) = log.stored_doc(id)? else {
            continue;
        };
        let doc = RecordDoc::load(&bytes, own)?;
        let derived = Derived::of(&doc)?;
        let mut names_erased = false;
        for h in photo_hashes(&derived.view) {
            names_erased |= log.is_photo_erased(&h)?;
        }
        if names_erased {
            Indexed::of(id, &doc, derived, tail).write(log, false)?;
        }
    }
    Ok(report)
}

/// Erases a photo unless it already is; says whether it was new.
fn erase_photo(
    log: &mut dyn LogStore,
    report: &mut ApplyReport,
    id: RecordId,
    hash: &PhotoHash,
    thumb: &PhotoHash,
    at: i64,
    origin: &str,
) -> Result<bool> {
    if log.is_photo_erased(hash)? {
        return Ok(false);
    }
    log.erase_photo(id, hash, thumb, at, origin)?;
    report.erased_photos.push((*hash, *thumb));
    Ok(true)
}

/// Erases a record and the photos its document names (read before it
/// goes), each logged as erased so that their bytes go everywhere.
pub(super) fn erase_record(
    log: &mut dyn LogStore,
    report: &mut ApplyReport,
    id: RecordId,
    at: i64,
    origin: &str,
) -> Result<()> {
    let photos = stored_photos(log, id)?;
    log.erase(id, at, origin)?;
    report.erased += 1;
    for p in photos {
        erase_photo(log, report, id, &p.hash, &p.thumb, at, origin)?;
    }
    Ok(())
}

/// The photos a stored record's document names (none if it cannot be
/// read: its erasure goes ahead all the same).
fn stored_photos(log: &mut dyn LogStore, id: RecordId) -> Result<Vec<PhotoRef>> {
    let Some((bytes, _)) = log.stored_doc(id)? else {
        return Ok(vec![]);
    };
    let actor = ActorId::from([0u8; 16].as_slice());
    Ok(RecordDoc::load(&bytes, &actor)
        .map(|d| d.photos())
        .unwrap_or_default())
}

/// The hashes of the photos a record's view lists.
pub(super) fn photo_hashes(view: &serde_json::Value) -> Vec<PhotoHash> {
    view.get("photos")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("hash").and_then(serde_json::Value::as_str))
        .filter_map(|h| PhotoHash::parse(h).ok())
        .collect()
}

/// One record's share of a batch, with what the store holds of it.
struct Work<'a> {
    id: RecordId,
    /// The stored document's bytes and how many logged changes they end
    /// with; None for a record new to this store.
    stored: Option<(Vec<u8>, usize)>,
    /// The hashes of the changes the log holds for it, sorted: a batch sent
    /// again (its acknowledgement lost on a weak connection) is recognised
    /// from them without loading the document.
    known: Vec<ChangeHash>,
    raw: Vec<&'a [u8]>,
}

/// A record with a batch's changes applied and checked: what its storage
/// gets. Its document stays (and is dropped) on the thread that merged it.
struct Merged<'a> {
    id: RecordId,
    existed: bool,
    /// None when the batch brought nothing new to the record.
    indexed: Option<Indexed>,
    new: Vec<NewChange<'a>>,
    duplicates: usize,
    /// For each new change that added photos, their hashes.
    added_photos: Vec<Vec<PhotoHash>>,
}

impl<'a> Merged<'a> {
    /// A record the batch brought nothing new to: only its duplicates count.
    fn nothing_new(w: &Work<'_>, duplicates: usize) -> Merged<'a> {
        Merged {
            id: w.id,
            existed: w.stored.is_some(),
            indexed: None,
            new: Vec::new(),
            duplicates,
            added_photos: Vec::new(),
        }
    }
}

/// A change as decoded, with its bytes as the peer sent them.
type Decoded<'a> = (Change, &'a [u8]);

/// Below this many records a batch is merged on the calling thread.
const PARALLEL_FROM: usize = 64;

/// Merges every record's changes, on all cores for a large batch; results
/// come back in the batch's order. `pack`: the log keeps changes packed.
fn merge_all<'a>(
    work: Vec<Work<'a>>,
    actor: &ActorId,
    cfg: &TeamConfig,
    makers: Makers<'_>,
    pack: bool,
) -> Vec<Result<Merged<'a>>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if threads < 2 || work.len() < PARALLEL_FROM {
        return work
            .into_iter()
            .map(|w| merge(w, actor, cfg, makers, pack))
            .collect();
    }
    let chunk = work.len().div_ceil(threads);
    let mut chunks: Vec<Vec<Work<'a>>> = Vec::new();
    let mut it = work.into_iter().peekable();
    while it.peek().is_some() {
        chunks.push(it.by_ref().take(chunk).collect());
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|c| {
                scope.spawn(move || {
                    c.into_iter()
                        .map(|w| merge(w, actor, cfg, makers, pack))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(Error::RejectedChanges(
                        "merging these changes failed".into(),
                    ))]
                })
            })
            .collect()
    })
}

fn merge<'a>(
    w: Work<'a>,
    actor: &ActorId,
    cfg: &TeamConfig,
    makers: Makers<'_>,
    pack: bool,
) -> Result<Merged<'a>> {
    let decoded = w
        .raw
        .iter()
        .map(|b| Ok((decode_change(b)?, *b)))
        .collect::<Result<Vec<Decoded<'a>>>>()?;
    if decoded
        .iter()
        .all(|(c, _)| w.known.binary_search(&c.hash()).is_ok())
    {
        // A batch sent again: nothing to load, judge, derive or write.
        return Ok(Merged::nothing_new(&w, decoded.len()));
    }
    let (mut doc, tail) = match &w.stored {
        Some((bytes, tail)) => (RecordDoc::load(bytes, actor)?, *tail),
        None => (RecordDoc::empty(actor), 0),
    };
    let (fresh, duplicates) = new_changes(&doc, decoded);
    if let Makers::Only(author) = makers {
        let foreign = fresh
            .iter()
            .filter(|(c, _)| Some(c.actor_id()) != author)
            .count();
        if foreign > 0 {
            return Err(Error::Refused {
                reason: "a device may push only the changes it made itself".into(),
                erasures: 0,
                changes: foreign,
            });
        }
    }
    if fresh.is_empty() {
        // Its document had them all though its log's hashes did not say
        // so: still nothing to judge, derive or write.
        return Ok(Merged::nothing_new(&w, duplicates));
    }
    let refuse = |reason: String| Error::Refused {
        reason: format!("record {}: {reason}", w.id),
        erasures: 0,
        changes: 1,
    };
    // Each change is judged against the record as its author saw it: the
    // document at its own dependencies. Changes made one after the other
    // (the usual case) need no fork: the previous step's view is that record.
    let mut view = if doc.is_empty() {
        None
    } else {
        Some(doc.to_json()?)
    };
    let mut new = Vec::with_capacity(fresh.len());
    let mut added_photos = Vec::new();
    for (change, bytes) in causal_order(fresh) {
        let hash = change.hash();
        // Logged (and so relayed) uncompressed: automerge DEFLATEs a
        // change's larger columns on its own, which hides from the
        // envelope's zstd what records share (field names, words, the
        // author's actor). The hash is the same either way.
        let bytes = if is_deflated(bytes) {
            Cow::Owned(change.raw_bytes().to_vec())
        } else {
            Cow::Borrowed(bytes)
        };
        let mut deps = change.deps().to_vec();
        deps.sort();
        let mut heads = doc.heads();
        heads.sort();
        let in_line = deps == heads;
        let before = if in_line {
            match view.take() {
                Some(v) => Some(v),
                None if doc.is_empty() => None,
                None => Some(doc.to_json()?),
            }
        } else if deps.is_empty() {
            None
        } else {
            Some(doc.fork_at(&deps)?.to_json()?)
        };
        doc.apply_verified(vec![change])?;
        if doc.id() != Some(w.id) {
            return Err(Error::RejectedChanges(format!(
                "changes sent for record {} belong to another document",
                w.id
            )));
        }
        let (after, seen) = if in_line {
            (
                doc.to_json().map_err(|_| refuse("unreadable".into()))?,
                None,
            )
        } else {
            let seen = doc.fork_at(&[hash])?;
            (
                seen.to_json().map_err(|_| refuse("unreadable".into()))?,
                Some(seen),
            )
        };
        let kind = seen.as_ref().unwrap_or(&doc).kind();
        if let Some(key) = kind.and_then(|k| seen.as_ref().unwrap_or(&doc).unknown_root_key(k)) {
            return Err(refuse(format!(
                "{key:?} is not a field of this kind of record"
            )));
        }
        check_step(cfg, w.id, before.as_ref(), &after).map_err(refuse)?;
        let had = before.as_ref().map(photo_hashes).unwrap_or_default();
        let added: Vec<PhotoHash> = photo_hashes(&after)
            .into_iter()
            .filter(|h| !had.contains(h))
            .collect();
        if !added.is_empty() {
            added_photos.push(added);
        }
        // The next step starts from the merged document: this view is it
        // only when the change followed the document's heads.
        view = in_line.then_some(after);
        let packed = pack.then(|| super::packed::pack(&bytes)).transpose()?;
        new.push(NewChange {
            hash,
            bytes,
            packed,
        });
    }
    let derived = match view {
        Some(view) => Derived::with_view(&doc, view)?,
        None => Derived::of(&doc)?,
    };
    // The document must still read as a record of its kind.
    Record::from_json(derived.view.clone()).map_err(|_| {
        Error::RejectedChanges(format!("record {} would no longer be readable", w.id))
    })?;
    let indexed = Some(Indexed::of(w.id, &doc, derived, tail + new.len()));
    Ok(Merged {
        id: w.id,
        existed: w.stored.is_some(),
        indexed,
        new,
        duplicates,
        added_photos,
    })
}

/// Keeps the decoded changes the document does not have yet, each once,
/// and counts the others.
fn new_changes<'a>(doc: &RecordDoc, decoded: Vec<Decoded<'a>>) -> (Vec<Decoded<'a>>, usize) {
    let mut new: Vec<Decoded<'a>> = Vec::new();
    let mut duplicates = 0;
    for (change, b) in decoded {
        let h = change.hash();
        if doc.has_change(&h) || new.iter().any(|(c, _)| c.hash() == h) {
            duplicates += 1;
        } else {
            new.push((change, b));
        }
    }
    (new, duplicates)
}

/// Puts changes after those of them they depend on (a peer may send them in
/// any order); ties keep the order they came in.
fn causal_order<T>(mut pending: Vec<(Change, T)>) -> Vec<(Change, T)> {
    let mut out: Vec<(Change, T)> = Vec::with_capacity(pending.len());
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(c, _)| {
                c.deps()
                    .iter()
                    .all(|d| !pending.iter().any(|(p, _)| p.hash() == *d))
            })
            // A cycle cannot happen with hashes; take the first to be safe.
            .unwrap_or(0);
        out.push(pending.remove(ready));
    }
    out
}
