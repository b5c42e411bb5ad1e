//! One record, one automerge document.
//!
//! Small documents keep merges fast (measured with automerge 0.12 on a 2-core VM: applying a change costs
//! 0.18 ms at 1k records per document but 10.7 ms at 100k), give a unit for
//! erasure (delete the document and its whole history is gone), and let the
//! local store list records from SQL tables without loading automerge.
//!
//! Layout of a document's root map:
//! - header, written once at creation: `id`, `kind`, `author`, `created_at`;
//! - scalar fields as scalars: concurrent writes are all kept by automerge and
//!   reported by [`RecordDoc::conflicts`] until a later write replaces them;
//! - free text as automerge text, created with the document so that every
//!   device edits the same text object and concurrent edits interleave;
//! - sets (axes, tags, contacts) as maps `item → true`: concurrent additions
//!   both stay;
//! - consents as a map `purpose → {at, by, withdrawn_at?, withdrawn_by?}`
//!   (older versions wrote `topic → time`, still read; see [`crate::consent`]);
//! - report status events and contact interactions as lists of maps, only
//!   ever appended;
//! - report comments as such a list too, made at the first comment (so that
//!   documents of reports without comments stay what older versions read);
//!   comments appended concurrently to two copies that both made the list
//!   are all kept (every concurrent list is read);
//! - a contact's `keep_until` (retention extension) as a scalar, made when
//!   first set;
//! - photos (reports and notes) under the root key `photos`: a map from the
//!   full image's hash (hex) to a map `{thumb, size, thumb_size, width,
//!   height, added_at}`, made at the first photo (so that documents of
//!   records without photos stay what older versions read); photos added
//!   concurrently to two copies that both made the map are all kept (every
//!   concurrent `photos` map is read and written).
//!
//! Each change carries a small JSON message — who, what operation, which
//! field names — from which the history is read. Never a field's value.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::transaction::{CommitOptions, Transactable, Transaction};
use automerge::{
    ActorId, Automerge, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
    Value as AmValue, ValueRef,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::consent::Purpose;
use crate::lifecycle::{StatusEvent, current_body, derive_status};
use crate::photo::{PhotoHash, PhotoRef, takes_photos};
use crate::schema::{Field, FieldType, Kind};
use crate::{Error, RecordId, Result};

/// The keys every document's root map has besides its kind's fields.
const HEADER_KEYS: [&str; 4] = ["id", "kind", "author", "created_at"];

/// The root key of a report's or note's photos.
pub const PHOTOS: &str = "photos";

/// The root key of a report's comments.
pub const COMMENTS: &str = "comments";

/// The root key of a contact's consents.
pub const CONSENTS: &str = "consents";

/// A record's automerge document.
pub struct RecordDoc {
    doc: Automerge,
}

/// Two or more values written concurrently to the same field; the next write
/// to the field resolves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The field's name.
    pub field: String,
    /// Every concurrent value, in automerge's deterministic order (the first
    /// is the one lists and queries show).
    pub values: Vec<Value>,
}

/// A key of a document's root map, as [`RecordDoc::root`] reads it.
struct RootEntry<'a> {
    value: AmValue<'a>,
    id: ObjId,
    conflict: bool,
}

/// One change in a record's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Hex hash of the change.
    pub hash: String,
    /// The name the author's device wrote into the change. Only a label:
    /// the server names changes from its device registry by [`Self::actor`].
    pub by: String,
    /// The automerge actor (hex) that made the change: the enrolled device
    /// the server bound to it.
    #[serde(default)]
    pub actor: String,
    /// When (milliseconds since the Unix epoch, the author's clock).
    pub at: i64,
    /// What kind of operation: create, set, status, interaction, resolve.
    pub op: String,
    /// Names of the fields it touched (never their values).
    pub fields: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Message {
    by: String,
    op: String,
    #[serde(default)]
    fields: Vec<String>,
}

/// Runs automerge code on bytes from outside so that a bug inside it becomes
/// an error instead of a crashed app or server.
/// The bytes came from outside, so a panic on them is their fault: it is
/// reported as rejected input (a 400 on the server, not a 500 to retry).
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::RejectedChanges(format!(
            "{what} failed on these bytes"
        )))
    })
}

fn scalar_json(s: &ScalarValue) -> Value {
    match s {
        ScalarValue::Str(s) => Value::String(s.to_string()),
        ScalarValue::Int(i) | ScalarValue::Timestamp(i) => Value::from(*i),
        ScalarValue::Uint(u) => Value::from(*u),
        ScalarValue::F64(x) => Value::from(*x),
        ScalarValue::Boolean(b) => Value::Bool(*b),
        _ => Value::Null,
    }
}

fn json_scalar(ty: FieldType, v: &Value) -> Result<ScalarValue> {
    Ok(match (ty, v) {
        (FieldType::Bool, Value::Bool(b)) => ScalarValue::Boolean(*b),
        (FieldType::Lat | FieldType::Lon, Value::Number(n)) => {
            ScalarValue::F64(n.as_f64().unwrap_or(0.0))
        }
        (_, Value::Number(n)) => ScalarValue::Int(
            n.as_i64()
                .ok_or_else(|| Error::Internal("non-integer".into()))?,
        ),
        (_, Value::String(s)) => ScalarValue::Str(s.as_str().into()),
        _ => {
            return Err(Error::Internal(
                "unexpected value type for a scalar field".into(),
            ));
        }
    })
}

fn put_list_item(tx: &mut Transaction<'_>, list: &ObjId, item: &Map<String, Value>) -> Result<()> {
    let len = tx.length(list);
    let obj = tx.insert_object(list, len, ObjType::Map)?;
    put_scalars(tx, &obj, item)
}

/// Writes a JSON map's scalar values into a map object (nulls and nested
/// values left out).
fn put_scalars<'v>(
    tx: &mut Transaction<'_>,
    obj: &ObjId,
    item: impl IntoIterator<Item = (&'v String, &'v Value)>,
) -> Result<()> {
    for (k, v) in item {
        if v.is_null() {
            continue;
        }
        let s = match v {
            Value::Bool(b) => ScalarValue::Boolean(*b),
            Value::Number(n) if n.is_i64() => ScalarValue::Int(n.as_i64().unwrap_or_default()),
            Value::Number(n) => ScalarValue::F64(n.as_f64().unwrap_or_default()),
            Value::String(s) => ScalarValue::Str(s.as_str().into()),
            _ => continue,
        };
        tx.put(obj, k.as_str(), s)?;
    }
    Ok(())
}

/// Commits a transaction with its history message; None when it made no
/// change.
fn commit(
    tx: Transaction<'_>,
    by: &str,
    op: &str,
    fields: Vec<String>,
    now: i64,
) -> Option<ChangeHash> {
    let msg = Message {
        by: by.into(),
        op: op.into(),
        fields,
    };
    tx.commit_with(
        CommitOptions::default()
            .with_message(json(&msg))
            .with_time(now),
    )
    .0
}

impl RecordDoc {
    /// Creates the document of a new record from validated fields and returns
    /// it with its first change.
    pub fn create(
        actor: &ActorId,
        id: RecordId,
        kind: Kind,
        author: &str,
        now: i64,
        fields: &Map<String, Value>,
    ) -> Result<(Self, ChangeHash)> {
        let mut doc = Automerge::new().with_actor(actor.clone());
        let mut tx = doc.transaction();
        tx.put(ROOT, "id", id.to_string())?;
        tx.put(ROOT, "kind", kind.code())?;
        tx.put(ROOT, "author", author)?;
        tx.put(ROOT, "created_at", ScalarValue::Int(now))?;
        for field in kind.fields() {
            match field.ty {
                FieldType::Text { .. } => {
                    let obj = tx.put_object(ROOT, field.name, ObjType::Text)?;
                    if let Some(Value::String(s)) = fields.get(field.name) {
                        // A fresh text object: one splice, no diff to compute.
                        tx.splice_text(&obj, 0, 0, s)?;
                    }
                }
                FieldType::Axes
                | FieldType::Set { .. }
                | FieldType::ContactRefs
                | FieldType::Consents => {
                    tx.put_object(ROOT, field.name, ObjType::Map)?;
                }
                FieldType::StatusEvents | FieldType::Interactions => {
                    tx.put_object(ROOT, field.name, ObjType::List)?;
                }
                _ => {}
            }
        }
        let mut rd = RecordDoc {
            doc: Automerge::new(),
        };
        for field in kind.fields() {
            if let Some(v) = fields.get(field.name)
                && !matches!(field.ty, FieldType::Text { .. })
            {
                write_field(&mut tx, field, v)?;
            }
        }
        let named = kind
            .fields()
            .iter()
            .filter(|f| fields.contains_key(f.name))
            .map(|f| f.name.to_string())
            .collect();
        let msg = Message {
            by: author.into(),
            op: "create".into(),
            fields: named,
        };
        let (hash, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(json(&msg))
                .with_time(now),
        );
        let hash = hash.ok_or_else(|| Error::Internal("no change after create".into()))?;
        rd.doc = doc;
        Ok((rd, hash))
    }

    /// Loads a document saved by [`RecordDoc::save`].
    pub fn load(bytes: &[u8], actor: &ActorId) -> Result<Self> {
        let doc = guarded("load", || {
            Automerge::load(bytes).map_err(Error::unreadable("a record's document"))
        })?;
        Ok(RecordDoc {
            doc: doc.with_actor(actor.clone()),
        })
    }

    /// An empty document, to receive a record first seen from a peer.
    pub fn empty(actor: &ActorId) -> Self {
        RecordDoc {
            doc: Automerge::new().with_actor(actor.clone()),
        }
    }

    /// The compacted bytes of the whole document.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The document's heads, to compare two copies.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Whether the document holds no change at all.
    pub fn is_empty(&self) -> bool {
        self.doc.get_heads().is_empty()
    }

    /// The record's kind, from its header.
    pub fn kind(&self) -> Option<Kind> {
        self.get_str("kind").and_then(|k| Kind::parse(&k).ok())
    }

    /// The record's id, from its header.
    pub fn id(&self) -> Option<RecordId> {
        self.get_str("id").and_then(|s| s.parse().ok())
    }

    fn get_str(&self, key: &str) -> Option<String> {
        match self.doc.get(ROOT, key).ok()?? {
            (AmValue::Scalar(s), _) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        }
    }

    fn obj(&self, key: &str) -> Option<ObjId> {
        match self.doc.get(ROOT, key).ok()?? {
            (AmValue::Object(_), id) => Some(id),
            _ => None,
        }
    }

    /// Writes one validated field value and returns the change, or `None`
    /// when the value is already what the document holds.
    pub fn set_field(
        &mut self,
        field: &Field,
        v: &Value,
        by: &str,
        now: i64,
    ) -> Result<Option<ChangeHash>> {
        let mut tx = self.doc.transaction();
        if let FieldType::Text { .. } = field.ty {
            let obj = match tx.get(ROOT, field.name)? {
                Some((AmValue::Object(ObjType::Text), id)) => id,
                _ => tx.put_object(ROOT, field.name, ObjType::Text)?,
            };
            tx.update_text(&obj, v.as_str().unwrap_or(""))?;
        } else {
            write_field(&mut tx, field, v)?;
        }
        let msg = Message {
            by: by.into(),
            op: "set".into(),
            fields: vec![field.name.into()],
        };
        // An empty transaction commits nothing and returns no hash.
        let (hash, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(json(&msg))
                .with_time(now),
        );
        Ok(hash)
    }

    /// Appends an item (status event, interaction, comment) to a list
    /// field, making the list if the document has none yet (comments).
    pub fn append(
        &mut self,
        list: &str,
        item: &Map<String, Value>,
        op: &str,
        by: &str,
        now: i64,
    ) -> Result<ChangeHash> {
        let existing = self.obj(list);
        let mut tx = self.doc.transaction();
        let obj = match existing {
            Some(obj) => obj,
            None => tx.put_object(ROOT, list, ObjType::List)?,
        };
        put_list_item(&mut tx, &obj, item)?;
        let msg = Message {
            by: by.into(),
            op: op.into(),
            fields: vec![list.into()],
        };
        let (hash, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(json(&msg))
                .with_time(now),
        );
        hash.ok_or_else(|| Error::Internal("append made no change".into()))
    }

    /// Records that the resident gives `purpose` (again, after a
    /// withdrawal: a fresh entry replaces the withdrawn one).
    pub fn give_consent(&mut self, purpose: Purpose, by: &str, now: i64) -> Result<ChangeHash> {
        let existing = self.obj(CONSENTS);
        let mut tx = self.doc.transaction();
        let map = match existing {
            Some(m) => m,
            None => tx.put_object(ROOT, CONSENTS, ObjType::Map)?,
        };
        let entry = tx.put_object(&map, purpose.code(), ObjType::Map)?;
        tx.put(&entry, "at", ScalarValue::Int(now))?;
        tx.put(&entry, "by", by)?;
        commit(tx, by, "consent-give", vec![CONSENTS.into()], now)
            .ok_or_else(|| Error::Internal("giving a consent made no change".into()))
    }

    /// Records that the resident withdraws `purpose`, and in the same
    /// change removes `clear` (the phone number goes with `telephone`).
    pub fn withdraw_consent(
        &mut self,
        purpose: Purpose,
        clear: Option<&str>,
        by: &str,
        now: i64,
    ) -> Result<ChangeHash> {
        let map = self
            .obj(CONSENTS)
            .ok_or_else(|| Error::invalid(CONSENTS, "this consent was not given"))?;
        // The entry as a map, or the time of an entry in the old shape.
        let current = match self.doc.get(&map, purpose.code())? {
            Some((AmValue::Object(ObjType::Map), id)) => Ok(id),
            Some((AmValue::Scalar(s), _)) => Err(scalar_json(&s).as_i64().unwrap_or_default()),
            _ => return Err(Error::invalid(CONSENTS, "this consent was not given")),
        };
        let mut tx = self.doc.transaction();
        let entry = match current {
            Ok(id) => id,
            // The old shape (a time): rewritten as a map that keeps it.
            Err(at) => {
                let id = tx.put_object(&map, purpose.code(), ObjType::Map)?;
                tx.put(&id, "at", ScalarValue::Int(at))?;
                id
            }
        };
        tx.put(&entry, "withdrawn_at", ScalarValue::Int(now))?;
        tx.put(&entry, "withdrawn_by", by)?;
        let mut fields = vec![CONSENTS.to_string()];
        if let Some(key) = clear
            && tx.get(ROOT, key)?.is_some()
        {
            tx.delete(ROOT, key)?;
            fields.push(key.into());
        }
        commit(tx, by, "consent-withdraw", fields, now)
            .ok_or_else(|| Error::Internal("withdrawing a consent made no change".into()))
    }

    /// Adds a photo (a reference to it: its bytes are the store's) and
    /// returns the change.
    pub fn add_photo(&mut self, photo: &PhotoRef, by: &str, now: i64) -> Result<ChangeHash> {
        let maps = self.photo_maps();
        let mut tx = self.doc.transaction();
        // Written into the winning map: every concurrent one is read.
        let map = match maps.first() {
            Some(m) => m.clone(),
            None => tx.put_object(ROOT, PHOTOS, ObjType::Map)?,
        };
        let entry = tx.put_object(&map, photo.hash.to_hex(), ObjType::Map)?;
        tx.put(&entry, "thumb", photo.thumb.to_hex())?;
        for (key, v) in [
            ("size", photo.size as i64),
            ("thumb_size", photo.thumb_size as i64),
            ("width", i64::from(photo.width)),
            ("height", i64::from(photo.height)),
            ("added_at", photo.added_at),
        ] {
            tx.put(&entry, key, ScalarValue::Int(v))?;
        }
        let msg = Message {
            by: by.into(),
            op: "photo-add".into(),
            fields: vec![PHOTOS.into()],
        };
        let (hash, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(json(&msg))
                .with_time(now),
        );
        hash.ok_or_else(|| Error::Internal("adding a photo made no change".into()))
    }

    /// Removes a photo's reference (from every concurrent `photos` map);
    /// `None` when the document has no such photo.
    pub fn remove_photo(
        &mut self,
        hash: &PhotoHash,
        by: &str,
        now: i64,
    ) -> Result<Option<ChangeHash>> {
        let key = hash.to_hex();
        let maps: Vec<ObjId> = self
            .photo_maps()
            .into_iter()
            .filter(|m| matches!(self.doc.get(m, key.as_str()), Ok(Some(_))))
            .collect();
        if maps.is_empty() {
            return Ok(None);
        }
        let mut tx = self.doc.transaction();
        for m in &maps {
            tx.delete(m, key.as_str())?;
        }
        let msg = Message {
            by: by.into(),
            op: "photo-remove".into(),
            fields: vec![PHOTOS.into()],
        };
        let (change, _) = tx.commit_with(
            CommitOptions::default()
                .with_message(json(&msg))
                .with_time(now),
        );
        Ok(change)
    }

    /// The photos the document names, oldest first (then by hash); entries
    /// that do not read as a photo are left out (the rules refuse changes
    /// that write such entries, see [`crate::rules`]).
    pub fn photos(&self) -> Vec<PhotoRef> {
        self.photo_values()
            .into_iter()
            .filter_map(|v| serde_json::from_value(v).ok())
            .collect()
    }

    /// Every `photos` map under the root, the winning one first: two
    /// copies that each added a first photo made one each.
    fn photo_maps(&self) -> Vec<ObjId> {
        let mut all: Vec<ObjId> = self
            .doc
            .get_all(ROOT, PHOTOS)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(v, id)| matches!(v, AmValue::Object(ObjType::Map)).then_some(id))
            .collect();
        // automerge lists the winner last.
        all.reverse();
        all
    }

    /// The photo entries as JSON, each with its `hash`, sorted by
    /// `added_at` then hash; a hash in two concurrent maps counts once.
    fn photo_values(&self) -> Vec<Value> {
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<Value> = Vec::new();
        for map in self.photo_maps() {
            for item in self.doc.map_range(&map, ..) {
                let key = item.key.to_string();
                if !seen.insert(key.clone()) {
                    continue;
                }
                let id = item.id();
                let mut m = match AmValue::from(item.value) {
                    AmValue::Object(_) => self.scalars_of(&id),
                    AmValue::Scalar(s) => {
                        let mut m = Map::new();
                        m.insert("value".into(), scalar_json(&s));
                        m
                    }
                };
                m.insert("hash".into(), Value::String(key));
                out.push(Value::Object(m));
            }
        }
        let order = |v: &Value| {
            (
                v.get("added_at").and_then(Value::as_i64).unwrap_or(0),
                v.get("hash")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        };
        out.sort_by_key(order);
        out
    }

    /// Whether the document already holds the change with this hash.
    pub fn has_change(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// The encoded change with this hash, for replication: uncompressed,
    /// so that the envelope's zstd sees what a batch's changes share
    /// (automerge would DEFLATE each change's larger columns alone, and a
    /// batch of those compresses 3.3 times worse; `docs/performance.md`).
    pub fn change_bytes(&self, hash: &ChangeHash) -> Option<Vec<u8>> {
        self.doc
            .get_change_by_hash(hash)
            .map(|c| c.raw_bytes().to_vec())
    }

    /// Every change, in causal order (for the history and for replication).
    pub fn changes(&self) -> Vec<Change> {
        self.doc.get_changes(&[])
    }

    /// Applies changes received from a peer and verifies that every one of
    /// them is now in the document: automerge queues changes whose
    /// dependencies are missing without an error, so "Ok" alone proves nothing.
    pub fn apply_verified(&mut self, changes: Vec<Change>) -> Result<()> {
        let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
        guarded("apply", || {
            self.doc
                .apply_changes(changes)
                .map_err(|e| Error::RejectedChanges(format!("a change does not apply: {e}")))
        })?;
        if let Some(missing) = hashes.iter().find(|h| !self.has_change(h)) {
            return Err(Error::RejectedChanges(format!(
                "change {} depends on changes this store does not have",
                &missing.to_string()[..12]
            )));
        }
        Ok(())
    }

    /// The document as it stood at `heads` (a change's dependencies): what
    /// the change's author saw when making it.
    pub fn fork_at(&self, heads: &[ChangeHash]) -> Result<RecordDoc> {
        let doc = guarded("fork", || {
            self.doc
                .fork_at(heads)
                .map_err(|e| Error::RejectedChanges(format!("a change's dependencies: {e}")))
        })?;
        Ok(RecordDoc { doc })
    }

    /// The first key of the root map that is neither a header key nor a
    /// field of `kind`: no device writes one, so a change adding it is forged.
    pub fn unknown_root_key(&self, kind: Kind) -> Option<String> {
        self.doc
            .map_range(ROOT, ..)
            .find(|item| {
                let k: &str = &item.key;
                let known = HEADER_KEYS.contains(&k)
                    || kind.fields().iter().any(|f| f.name == k)
                    || (k == PHOTOS && takes_photos(kind));
                !known
            })
            .map(|item| item.key.into_owned())
    }

    /// Concurrent values still unresolved, field by field.
    pub fn conflicts(&self, kind: Kind) -> Vec<Conflict> {
        let root = self.root();
        let mut out = Vec::new();
        for field in kind.fields().iter().filter(|f| f.is_scalar()) {
            // The one-pass read flags the keys with concurrent values: only
            // those are read again, whole.
            if !root.get(field.name).is_some_and(|e| e.conflict) {
                continue;
            }
            let Ok(all) = self.doc.get_all(ROOT, field.name) else {
                continue;
            };
            let mut values: Vec<Value> = all
                .iter()
                .map(|(v, _)| match v {
                    AmValue::Scalar(s) => scalar_json(s),
                    AmValue::Object(_) => Value::Null,
                })
                .collect();
            // automerge lists the winner last; put it first, as the docs say.
            values.reverse();
            let first = values.first().cloned();
            if values.len() > 1 && values.iter().any(|v| Some(v) != first.as_ref()) {
                values.dedup();
                out.push(Conflict {
                    field: field.name.into(),
                    values,
                });
            }
        }
        out
    }

    /// The root map in one pass: every key's winning value, the id behind
    /// it, and whether concurrent values sit under it. One walk instead of a
    /// lookup per field is most of what reading a record back costs less.
    fn root(&self) -> HashMap<String, RootEntry<'_>> {
        self.doc
            .map_range(ROOT, ..)
            .map(|item| {
                let id = item.id();
                (
                    item.key.into_owned(),
                    RootEntry {
                        value: AmValue::from(item.value),
                        id,
                        conflict: item.conflict,
                    },
                )
            })
            .collect()
    }

    /// Who changed what, when, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        let mut out: Vec<HistoryEntry> = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| {
                let msg: Option<Message> = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok());
                let (by, op, fields) = msg
                    .map(|m| (m.by, m.op, m.fields))
                    .unwrap_or_else(|| (m.actor.to_hex_string(), "change".into(), vec![]));
                HistoryEntry {
                    hash: m.hash.to_string(),
                    by,
                    actor: m.actor.to_hex_string(),
                    at: m.timestamp,
                    op,
                    fields,
                }
            })
            .collect();
        out.sort_by(|a, b| (a.at, &a.hash).cmp(&(b.at, &b.hash)));
        out
    }

    /// The record as JSON: header, `updated_at` (the newest change), every
    /// field (the winning value for conflicts), and for reports the derived
    /// `status` and current `body`. The same document gives the same JSON on
    /// every device.
    pub fn to_json(&self) -> Result<Value> {
        let root = self.root();
        let str_of = |key: &str| match root.get(key).map(|e| &e.value) {
            Some(AmValue::Scalar(s)) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        };
        let kind = str_of("kind")
            .and_then(|k| Kind::parse(&k).ok())
            .ok_or(Error::Unreadable {
                what: "a record's document without a kind",
                source: None,
            })?;
        let mut m = Map::new();
        for key in ["id", "author"] {
            m.insert(
                key.into(),
                str_of(key).map(Value::String).unwrap_or(Value::Null),
            );
        }
        m.insert("kind".into(), Value::String(kind.code().into()));
        let created = match root.get("created_at").map(|e| &e.value) {
            Some(AmValue::Scalar(s)) => scalar_json(s),
            _ => Value::Null,
        };
        m.insert("created_at".into(), created);
        let metas = self.doc.get_changes_meta(&[]);
        let updated = metas.iter().map(|c| c.timestamp).max().unwrap_or_default();
        m.insert("updated_at".into(), Value::from(updated));
        // The actor of the change that created the document (the one with
        // no dependencies): who the server's registry says made the record.
        let created_by = metas
            .iter()
            .find(|c| c.deps.is_empty())
            .map(|c| Value::String(c.actor.to_hex_string()))
            .unwrap_or(Value::Null);
        m.insert("created_by".into(), created_by);
        for field in kind.fields() {
            m.insert(
                field.name.into(),
                self.read_field(field, root.get(field.name))?,
            );
        }
        if takes_photos(kind) {
            m.insert(PHOTOS.into(), self.photos_json(root.get(PHOTOS)));
        }
        if kind == Kind::Report {
            let mut events: Vec<StatusEvent> =
                serde_json::from_value(m.remove("events").unwrap_or(Value::Array(vec![])))
                    .map_err(Error::unreadable("a report's status events"))?;
            let status = derive_status(&mut events);
            m.insert("status".into(), Value::String(status.code().into()));
            if let Some(body) = current_body(&events) {
                m.insert("body".into(), Value::String(body.into()));
            }
            m.insert(
                "events".into(),
                serde_json::to_value(&events).map_err(|e| Error::Internal(e.to_string()))?,
            );
        }
        Ok(Value::Object(m))
    }

    /// The `photos` key as [`Self::to_json`] shows it: the list of entries,
    /// or, if a forged change put something else there, that value (which
    /// the rules then refuse).
    fn photos_json(&self, entry: Option<&RootEntry<'_>>) -> Value {
        match entry.map(|e| &e.value) {
            None | Some(AmValue::Object(ObjType::Map)) => Value::Array(self.photo_values()),
            Some(AmValue::Scalar(s)) => scalar_json(s),
            Some(AmValue::Object(_)) => Value::String("not a map".into()),
        }
    }

    /// A map's scalar entries (status events and interactions are lists of
    /// such maps; consents is one), in one pass.
    fn scalars_of(&self, obj: &ObjId) -> Map<String, Value> {
        self.doc
            .map_range(obj, ..)
            .filter_map(|item| match AmValue::from(item.value) {
                AmValue::Scalar(s) => Some((item.key.into_owned(), scalar_json(&s))),
                AmValue::Object(_) => None,
            })
            .collect()
    }

    /// A list item or a consent: its scalars and the actor of the op that
    /// made it (who appended it, as the registry knows them).
    fn item_json(&self, id: &ObjId) -> Value {
        let mut m = self.scalars_of(id);
        if let ObjId::Id(_, actor, _) = id {
            m.insert("actor".into(), Value::String(actor.to_hex_string()));
        }
        Value::Object(m)
    }

    /// The map items of a list object.
    fn list_items(&self, list: &ObjId) -> Vec<Value> {
        self.doc
            .list_range(list, ..)
            .filter(|item| matches!(item.value, ValueRef::Object(_)))
            .map(|item| self.item_json(&item.id()))
            .collect()
    }

    /// Every concurrent `comments` list's items, oldest first (then by id):
    /// two devices' first comments each made a list, and both are kept.
    fn comments_json(&self) -> Value {
        let mut out: Vec<Value> = self
            .doc
            .get_all(ROOT, COMMENTS)
            .unwrap_or_default()
            .into_iter()
            .filter(|(v, _)| matches!(v, AmValue::Object(ObjType::List)))
            .flat_map(|(_, id)| self.list_items(&id))
            .collect();
        let key = |v: &Value| {
            (
                v.get("at").and_then(Value::as_i64).unwrap_or_default(),
                v.get("id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            )
        };
        out.sort_by_key(key);
        Value::Array(out)
    }

    fn read_field(&self, field: &Field, entry: Option<&RootEntry<'_>>) -> Result<Value> {
        if field.ty == FieldType::Comments {
            return Ok(match entry.map(|e| &e.value) {
                None | Some(AmValue::Object(ObjType::List)) => self.comments_json(),
                // A forged change put something else there: shown as it is,
                // and refused by the rules.
                Some(AmValue::Scalar(s)) => scalar_json(s),
                Some(AmValue::Object(_)) => Value::String("not a list".into()),
            });
        }
        let Some(RootEntry { value: v, id, .. }) = entry else {
            return Ok(match field.ty {
                FieldType::Axes
                | FieldType::Set { .. }
                | FieldType::ContactRefs
                | FieldType::StatusEvents
                | FieldType::Comments
                | FieldType::Interactions => Value::Array(vec![]),
                FieldType::Consents => Value::Object(Map::new()),
                FieldType::Text { .. } => Value::String(String::new()),
                FieldType::Bool => Value::Bool(false),
                _ => Value::Null,
            });
        };
        Ok(match (field.ty, v) {
            (_, AmValue::Scalar(s)) => scalar_json(s),
            (FieldType::Text { .. }, AmValue::Object(_)) => Value::String(self.doc.text(id)?),
            (FieldType::Consents, AmValue::Object(_)) => Value::Object(
                self.doc
                    .map_range(id, ..)
                    .map(|item| {
                        let key = item.key.to_string();
                        let id = item.id();
                        let v = match AmValue::from(item.value) {
                            // The old shape: topic → time.
                            AmValue::Scalar(s) => scalar_json(&s),
                            AmValue::Object(_) => self.item_json(&id),
                        };
                        (key, v)
                    })
                    .collect(),
            ),
            (FieldType::StatusEvents | FieldType::Interactions, AmValue::Object(_)) => {
                Value::Array(self.list_items(id))
            }
            (_, AmValue::Object(_)) => Value::Array(self.doc.keys(id).map(Value::String).collect()),
        })
    }
}

/// Writes a non-text field inside a transaction.
fn write_field(tx: &mut Transaction<'_>, field: &Field, v: &Value) -> Result<()> {
    match field.ty {
        FieldType::Consents => {
            // Written at creation only: each purpose given, as a map.
            let obj = match tx.get(ROOT, field.name)? {
                Some((AmValue::Object(ObjType::Map), id)) => id,
                _ => tx.put_object(ROOT, field.name, ObjType::Map)?,
            };
            for (purpose, given) in v.as_object().into_iter().flatten() {
                let entry = tx.put_object(&obj, purpose.as_str(), ObjType::Map)?;
                put_scalars(tx, &entry, given.as_object().into_iter().flatten())?;
            }
        }
        FieldType::Axes | FieldType::Set { .. } | FieldType::ContactRefs => {
            let obj = match tx.get(ROOT, field.name)? {
                Some((AmValue::Object(ObjType::Map), id)) => id,
                _ => tx.put_object(ROOT, field.name, ObjType::Map)?,
            };
            let wanted: Map<String, Value> = match v {
                Value::Object(m) => m.clone(),
                Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .map(|s| (s.to_string(), Value::Bool(true)))
                    .collect(),
                _ => Map::new(),
            };
            let present: Vec<String> = tx.keys(&obj).collect();
            for k in present.iter().filter(|k| !wanted.contains_key(*k)) {
                tx.delete(&obj, k.as_str())?;
            }
            for (k, val) in &wanted {
                let s = match val {
                    Value::Number(n) => ScalarValue::Int(n.as_i64().unwrap_or_default()),
                    _ => ScalarValue::Boolean(true),
                };
                let same = matches!(tx.get(&obj, k.as_str())?, Some((AmValue::Scalar(cur), _)) if *cur == s);
                if !same {
                    tx.put(&obj, k.as_str(), s)?;
                }
            }
        }
        FieldType::Text { .. }
        | FieldType::StatusEvents
        | FieldType::Interactions
        | FieldType::Comments => {
            return Err(Error::Internal(format!(
                "{} is not written as a scalar",
                field.name
            )));
        }
        _ => {
            if v.is_null() {
                if tx.get(ROOT, field.name)?.is_some() {
                    tx.delete(ROOT, field.name)?;
                }
            } else {
                let s = json_scalar(field.ty, v)?;
                // A put resolves a conflict even when the value is unchanged.
                let all = tx.get_all(ROOT, field.name)?;
                let same =
                    all.len() == 1 && matches!(&all[0].0, AmValue::Scalar(cur) if **cur == s);
                if !same {
                    tx.put(ROOT, field.name, s)?;
                }
            }
        }
    }
    Ok(())
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Whether `bytes` is a change chunk whose columns automerge DEFLATEd
/// (chunk type 2, after the magic bytes and the checksum): what stores
/// before the uncompressed log wrote and older apps still push.
pub(crate) fn is_deflated(bytes: &[u8]) -> bool {
    bytes.get(8) == Some(&2)
}

/// Parses change bytes from outside; garbage is an error, never a panic.
///
/// Also checks the chunk's checksum, which `Change::from_bytes` does not but
/// `Automerge::load` does: the bytes are stored as received and documents
/// are loaded from them, so a change with a wrong checksum would apply now
/// and make its record unreadable later. In automerge's binary format the
/// checksum (bytes 4–8, after the magic bytes) is the first four bytes of
/// the change's hash, for plain and compressed change chunks alike.
pub fn decode_change(bytes: &[u8]) -> Result<Change> {
    let change = guarded("decode", || {
        Change::from_bytes(bytes.to_vec())
            .map_err(|e| Error::RejectedChanges(format!("not a valid change ({e})")))
    })?;
    if bytes.get(4..8) != Some(&change.hash().0[..4]) {
        return Err(Error::RejectedChanges(
            "not a valid change (bad checksum)".into(),
        ));
    }
    Ok(change)
}
