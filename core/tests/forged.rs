//! Batches that no honest app makes, through the replication path: each is
//! refused by the receiving store (a device pulling from a compromised
//! server, or the server receiving a push) and changes nothing. Honest
//! concurrent edits, judged against what their authors saw, still pass.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge, ObjType, ROOT, ReadDoc, ScalarValue};
use carnet_core::store::{Batch, Entry, Payload, StatusChange};
use carnet_core::{Error, Kind, RecordId, ReportStatus, Store};
use serde_json::{Map, Value, json};

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

fn store(dir: &tempfile::TempDir, name: &str) -> Store {
    let s = Store::open_unencrypted(dir.path().join(format!("{name}.db"))).unwrap();
    s.set_author(name).unwrap();
    s
}

/// Everything `from` has that `to` lacks, applied as a relayed batch.
fn relay(from: &Store, to: &Store) {
    // The whole log, but what `to` relayed itself: what it has applies as
    // duplicates.
    let batch = from.changes_since(0, 1 << 24, Some(&to.peer_id())).unwrap();
    to.apply(&from.peer_id(), &batch).unwrap();
}

/// The changes of record `id` that `store` holds, as entries.
fn entries_of(store: &Store, id: RecordId) -> Vec<Entry> {
    store
        .changes_since(0, 1 << 24, None)
        .unwrap()
        .entries
        .into_iter()
        .filter(|e| e.record_id == id)
        .collect()
}

/// A change made with automerge directly, by `actor`, on top of the record's
/// changes as `store` holds them: what a tampered app could send.
fn forge(
    store: &Store,
    id: RecordId,
    actor: &str,
    edit: impl FnOnce(&mut automerge::transaction::Transaction<'_>),
) -> Vec<u8> {
    let mut bytes = Vec::new();
    for e in entries_of(store, id) {
        if let Payload::Change(b) = e.payload {
            bytes.extend_from_slice(&b);
        }
    }
    let mut doc = Automerge::load(&bytes)
        .unwrap()
        .with_actor(ActorId::from(hex::decode(actor).unwrap().as_slice()));
    let mut tx = doc.transaction();
    edit(&mut tx);
    tx.commit_with(CommitOptions::default().with_message(r#"{"by":"x","op":"set"}"#));
    doc.get_last_local_change().unwrap().bytes().into_owned()
}

fn batch(entries: Vec<Entry>) -> Batch {
    Batch {
        entries,
        upto: 1,
        more: false,
    }
}

fn change(id: RecordId, bytes: Vec<u8>) -> Entry {
    Entry {
        record_id: id,
        payload: Payload::Change(bytes),
    }
}

fn erased(id: RecordId) -> Entry {
    Entry {
        record_id: id,
        payload: Payload::Erased,
    }
}

fn note(s: &Store) -> RecordId {
    s.create(
        Kind::Note,
        &fields(json!({"sector": "conte-joliot", "text": "Hall propre"})),
    )
    .unwrap()
}

fn report(s: &Store) -> RecordId {
    s.create(
        Kind::Report,
        &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Bât. B", "text": "Lampe"})),
    )
    .unwrap()
}

#[test]
fn only_contacts_are_erased_and_a_pushed_erasure_of_anything_else_refuses_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let (a, server) = (store(&dir, "a"), store(&dir, "server"));
    let n = note(&a);
    let r = report(&a);
    let c = a
        .create(Kind::Contact, &fields(json!({"name": "Awa"})))
        .unwrap();
    relay(&a, &server);
    // The local store refuses it.
    assert!(matches!(a.erase(n), Err(Error::Invalid { .. })));
    // A device pushing erasures of a note and a report: 403-worthy, nothing applied.
    let head = server.log_head().unwrap();
    let err = server
        .apply_pushed(
            "m",
            Some(&a.peer_id()),
            &batch(vec![erased(n), erased(r), erased(c)]),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Refused {
                erasures: 2,
                changes: 0,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.log_head().unwrap(), head);
    assert!(server.get(c).is_ok() && server.get(n).is_ok() && server.get(r).is_ok());
    // Relayed to a device: skipped and counted; the contact's erasure applies.
    let report = a
        .apply("server", &batch(vec![erased(n), erased(r), erased(c)]))
        .unwrap();
    assert_eq!((report.refused, report.erased), (2, 1));
    assert!(a.get(n).is_ok() && a.get(r).is_ok());
    assert!(matches!(a.get(c), Err(Error::Erased(_))));
    // A pushed erasure of the contact alone is accepted.
    let ok = server
        .apply_pushed("m", Some(&a.peer_id()), &batch(vec![erased(c)]))
        .unwrap();
    assert_eq!(ok.erased, 1);
}

#[test]
fn a_device_pushes_only_its_own_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, server) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "server"));
    let n = note(&a);
    let pushed = a.changes_since(0, 1 << 20, None).unwrap();
    // b pushing a's change as its own: refused, whatever b claims.
    let err = server
        .apply_pushed("b", Some(&b.peer_id()), &pushed)
        .unwrap_err();
    assert!(matches!(err, Error::Refused { changes: 1, .. }), "{err}");
    // Nor may a device with no actor bound push changes at all.
    assert!(server.apply_pushed("b", None, &pushed).is_err());
    assert!(server.get(n).is_err());
    assert_eq!(pushed.first_actor().unwrap(), Some(a.peer_id()));
    server
        .apply_pushed("a", Some(&a.peer_id()), &pushed)
        .unwrap();
    assert!(server.get(n).is_ok());
}

#[test]
fn forged_fields_header_and_keys_are_refused_by_every_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (store(&dir, "a"), store(&dir, "b"));
    let n = note(&a);
    relay(&a, &b);
    let me = a.peer_id();
    let forged: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown sector",
            forge(&a, n, &me, |tx| {
                tx.put(ROOT, "sector", "atlantis").unwrap();
            }),
        ),
        (
            "number out of range",
            forge(&a, n, &me, |tx| {
                tx.put(ROOT, "residents_met", ScalarValue::Int(-5)).unwrap();
            }),
        ),
        (
            "author rewritten",
            forge(&a, n, &me, |tx| {
                tx.put(ROOT, "author", "supA").unwrap();
            }),
        ),
        (
            "unknown key",
            forge(&a, n, &me, |tx| {
                tx.put(ROOT, "role", "supervisor").unwrap();
            }),
        ),
        (
            "direction override in a place",
            forge(&a, n, &me, |tx| {
                tx.put(ROOT, "place", "\u{202E}B tnemitaB").unwrap();
            }),
        ),
        (
            "zero-width space in a tag",
            forge(&a, n, &me, |tx| {
                let tags = match tx.get(ROOT, "tags").unwrap() {
                    Some((_, id)) => id,
                    None => tx.put_object(ROOT, "tags", ObjType::Map).unwrap(),
                };
                tx.put(&tags, "jeu\u{200B}nes", true).unwrap();
            }),
        ),
    ];
    for (what, bytes) in forged {
        let head = b.log_head().unwrap();
        let err = b
            .apply(&me, &batch(vec![change(n, bytes.clone())]))
            .unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{what}: {err}");
        assert_eq!(b.log_head().unwrap(), head, "{what}");
        let err = b
            .apply_pushed(&me, Some(&me), &batch(vec![change(n, bytes)]))
            .unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{what}: {err}");
    }
    assert_eq!(b.get(n).unwrap(), a.get(n).unwrap());
    // The same edits through the app: cleaned or refused before anything is written.
    a.set_field(n, "place", &json!("\u{202E}Bâtiment B\u{200B}"))
        .unwrap();
    let carnet_core::Record::Note(note) = a.get(n).unwrap() else {
        panic!()
    };
    assert_eq!(note.place.as_deref(), Some("Bâtiment B"));
    relay(&a, &b);
    assert_eq!(b.get(n).unwrap(), a.get(n).unwrap());
}

#[test]
fn a_status_move_is_judged_against_what_its_author_saw() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (store(&dir, "a"), store(&dir, "b"), store(&dir, "c"));
    let r = report(&a);
    relay(&a, &b);
    relay(&a, &c);
    // Forged: reported → closed directly, which the lifecycle does not allow.
    let me = a.peer_id();
    let skip = forge(&a, r, &me, |tx| {
        let events = match tx.get(ROOT, "events").unwrap() {
            Some((_, id)) => id,
            None => panic!("a report has its events list"),
        };
        let ev = tx.insert_object(&events, 0, ObjType::Map).unwrap();
        tx.put(&ev, "id", RecordId::new().to_string()).unwrap();
        tx.put(&ev, "status", "closed").unwrap();
        tx.put(&ev, "at", ScalarValue::Int(1)).unwrap();
        tx.put(&ev, "by", "a").unwrap();
    });
    let err = b.apply(&me, &batch(vec![change(r, skip)])).unwrap_err();
    assert!(matches!(err, Error::Refused { .. }), "{err}");
    // Honest and concurrent: b forwards, c rejects, both from `reported`.
    b.change_status(
        r,
        &StatusChange {
            status: Some(ReportStatus::Forwarded),
            to: Some("bailleur".into()),
            ..Default::default()
        },
    )
    .unwrap();
    b.change_status(
        r,
        &StatusChange {
            status: Some(ReportStatus::InProgress),
            ..Default::default()
        },
    )
    .unwrap();
    c.change_status(
        r,
        &StatusChange {
            status: Some(ReportStatus::Rejected),
            comment: Some("Pas pour nous".into()),
            ..Default::default()
        },
    )
    .unwrap();
    // Each store receives the other's moves after its own: judged against
    // its merged state, c's rejection after b's in-progress would still be
    // fine, but b's in-progress after c's rejection would not; against what
    // each author saw, all pass.
    relay(&b, &c);
    relay(&c, &b);
    relay(&b, &a);
    assert_eq!(b.get(r).unwrap(), c.get(r).unwrap());
    assert_eq!(a.get(r).unwrap(), b.get(r).unwrap());
}

/// Writes a photo entry `hash → fields` into the document's `photos` map.
fn put_photo(tx: &mut automerge::transaction::Transaction<'_>, hash: &str, fields: &[(&str, i64)]) {
    let photos = match tx.get(ROOT, "photos").unwrap() {
        Some((_, id)) => id,
        None => tx.put_object(ROOT, "photos", ObjType::Map).unwrap(),
    };
    let entry = tx.put_object(&photos, hash, ObjType::Map).unwrap();
    tx.put(&entry, "thumb", "ab".repeat(32)).unwrap();
    for (k, v) in fields {
        tx.put(&entry, *k, ScalarValue::Int(*v)).unwrap();
    }
}

const GOOD_PHOTO: [(&str, i64); 5] = [
    ("size", 1000),
    ("thumb_size", 100),
    ("width", 1600),
    ("height", 1200),
    ("added_at", 1),
];

#[test]
fn forged_photo_references_are_refused_by_every_receiver() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (store(&dir, "a"), store(&dir, "b"));
    let r = report(&a);
    let c = a
        .create(Kind::Contact, &fields(json!({"name": "Awa"})))
        .unwrap();
    relay(&a, &b);
    let me = a.peer_id();
    let hash = "cd".repeat(32);
    let with = |key: &'static str, v: i64| {
        let mut f = GOOD_PHOTO.to_vec();
        f.retain(|(k, _)| *k != key);
        f.push((key, v));
        f
    };
    let forged: Vec<(&str, RecordId, Vec<u8>)> = vec![
        (
            "a photo on a contact",
            c,
            forge(&a, c, &me, |tx| put_photo(tx, &hash, &GOOD_PHOTO)),
        ),
        (
            "an empty photo",
            r,
            forge(&a, r, &me, |tx| put_photo(tx, &hash, &with("size", 0))),
        ),
        (
            "a photo past the team's size",
            r,
            forge(&a, r, &me, |tx| {
                put_photo(tx, &hash, &with("size", 9 << 20))
            }),
        ),
        (
            "a huge side",
            r,
            forge(&a, r, &me, |tx| {
                put_photo(tx, &hash, &with("width", 90_000))
            }),
        ),
        (
            "a missing field",
            r,
            forge(&a, r, &me, |tx| put_photo(tx, &hash, &GOOD_PHOTO[1..])),
        ),
        (
            "an extra field",
            r,
            forge(&a, r, &me, |tx| put_photo(tx, &hash, &with("gps", 48))),
        ),
        (
            "not a hash",
            r,
            forge(&a, r, &me, |tx| put_photo(tx, "face", &GOOD_PHOTO)),
        ),
        (
            "an uppercase hash",
            r,
            forge(&a, r, &me, |tx| {
                put_photo(tx, &hash.to_uppercase(), &GOOD_PHOTO)
            }),
        ),
        (
            "photos that are not a map",
            r,
            forge(&a, r, &me, |tx| {
                tx.put(ROOT, "photos", "selfie").unwrap();
            }),
        ),
        (
            "more photos than the team allows",
            r,
            forge(&a, r, &me, |tx| {
                for i in 0..11 {
                    put_photo(tx, &format!("{i:02x}").repeat(32), &GOOD_PHOTO);
                }
            }),
        ),
    ];
    for (what, id, bytes) in forged {
        let head = b.log_head().unwrap();
        let err = b
            .apply(&me, &batch(vec![change(id, bytes.clone())]))
            .unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{what}: {err}");
        assert_eq!(b.log_head().unwrap(), head, "{what}");
        let err = b
            .apply_pushed(&me, Some(&me), &batch(vec![change(id, bytes)]))
            .unwrap_err();
        assert!(matches!(err, Error::Refused { .. }), "{what}: {err}");
    }
    // A well-formed reference, as a device writes it, passes.
    let good = forge(&a, r, &me, |tx| put_photo(tx, &hash, &GOOD_PHOTO));
    let ok = b.apply(&me, &batch(vec![change(r, good)])).unwrap();
    assert_eq!(ok.applied, 1);
    let carnet_core::Record::Report(rep) = b.get(r).unwrap() else {
        panic!()
    };
    assert_eq!(rep.photos.len(), 1);
    assert_eq!(rep.photos[0].hash.to_hex(), hash);
}
