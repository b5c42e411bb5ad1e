//! Photos on reports and notes, through the device store's API: attach,
//! list, read, limits, removal erasing the bytes (checked on the raw file
//! of an unencrypted store), and stores exchanging batches and blobs the
//! way the sync session does: references merge, a removal erases the bytes
//! everywhere, and a stale device cannot bring an erased photo back.
//!
//! Cases of the convergence property: `PROPTEST_CASES` (default 24).

use std::path::Path;
use std::sync::OnceLock;

use carnet_core::photo::{BlobStatus, PhotoHash, PhotoRef, Variant};
use carnet_core::store::{Batch, Payload};
use carnet_core::{Error, Kind, Record, RecordId, Store, TeamConfig};
use image::{DynamicImage, ImageFormat, RgbImage};
use proptest::prelude::*;
use serde_json::json;

/// A camera-like JPEG: a gradient with noise (`seed` makes another photo).
fn camera_jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let mut s = seed | 1;
    let img = RgbImage::from_fn(w, h, |x, y| {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let n = (s & 0x3f) as u8;
        image::Rgb([
            ((x * 255 / w) as u8).wrapping_add(n),
            ((y * 255 / h) as u8).wrapping_add(n),
            n.wrapping_mul(3),
        ])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), ImageFormat::Jpeg)
        .unwrap();
    out
}

/// The 2000×1500 photo most tests attach (made once).
fn big_photo() -> &'static [u8] {
    static PHOTO: OnceLock<Vec<u8>> = OnceLock::new();
    PHOTO.get_or_init(|| camera_jpeg(2000, 1500, 7))
}

fn open(dir: &Path, name: &str) -> Store {
    let s = Store::open_unencrypted(dir.join(format!("{name}.db"))).unwrap();
    s.set_author(name).unwrap();
    s
}

fn fields(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

fn report(s: &Store) -> RecordId {
    s.create(
        Kind::Report,
        &fields(json!({"sector": "conte-joliot", "category": "lighting", "place": "Parking B", "text": "Lampadaire cassé"})),
    )
    .unwrap()
}

fn hashes(s: &Store, id: RecordId) -> Vec<PhotoHash> {
    s.photos(id)
        .unwrap()
        .into_iter()
        .map(|p| p.photo.hash)
        .collect()
}

/// `to` applies everything `from`'s log holds (duplicates are no-ops).
fn push(from: &Store, to: &Store) -> carnet_core::store::ApplyReport {
    let batch: Batch = from.changes_since(0, usize::MAX, None).unwrap();
    to.apply(&from.peer_id(), &batch).unwrap()
}

/// `to` downloads from `from` every blob it lacks, in chunks of `chunk`
/// bytes, as the sync session does; returns how many blobs arrived.
fn fetch(from: &Store, to: &Store, full_too: bool, chunk: usize) -> usize {
    let mut n = 0;
    for t in to.photo_downloads(full_too).unwrap() {
        let Ok(bytes) = from.photo_chunk(t.blob, 0, usize::MAX) else {
            continue;
        };
        let mut at = to.photo_part_len(t.blob).unwrap();
        while (at as usize) < bytes.len() {
            let end = (at as usize + chunk).min(bytes.len());
            at = to
                .append_photo_part(t.blob, at, &bytes[at as usize..end])
                .unwrap();
        }
        to.finish_photo_download(t.blob).unwrap();
        n += 1;
    }
    n
}

fn files_contain(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle) {
            hits.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    hits
}

/// 64 bytes from the middle of a blob's entropy-coded data: a marker that
/// only the blob itself holds.
fn marker(blob: &[u8]) -> Vec<u8> {
    let at = blob.len() / 2;
    blob[at..at + 64].to_vec()
}

#[test]
fn a_photo_is_attached_listed_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "amina");
    let id = report(&s);
    let photo = s.attach_photo(id, big_photo()).unwrap();
    assert_eq!((photo.width, photo.height), (1600, 1200));
    assert!(photo.added_at > 0);

    let listed = s.photos(id).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].photo, photo);
    assert!(listed[0].has_full && listed[0].has_thumbnail && !listed[0].uploaded);

    let full = s.photo(photo.hash, Variant::Full).unwrap();
    assert_eq!(PhotoHash::of(&full), photo.hash);
    assert_eq!(full.len() as u64, photo.size);
    let thumb = s.photo(photo.hash, Variant::Thumb).unwrap();
    assert_eq!(PhotoHash::of(&thumb), photo.thumb);
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!((t.width(), t.height()), (320, 240));

    // The record reads it back, and its history says a photo was added.
    let Record::Report(r) = s.get(id).unwrap() else {
        panic!("a report")
    };
    assert_eq!(r.photos, vec![photo.clone()]);
    let history = s.details(id).unwrap().history;
    let last = history.last().unwrap();
    assert_eq!(
        (last.op.as_str(), last.fields.clone()),
        ("photo-add", vec!["photos".to_string()])
    );

    // The same camera file again: the same photo, not a second one.
    assert_eq!(s.attach_photo(id, big_photo()).unwrap(), photo);
    assert_eq!(s.photos(id).unwrap().len(), 1);

    // Waiting for upload: thumbnail then full image.
    assert_eq!(
        s.pending_photo_bytes().unwrap(),
        photo.size + photo.thumb_size
    );
    let up = s.photo_uploads().unwrap();
    assert_eq!(
        up.iter()
            .map(|t| (t.blob, t.variant, t.size))
            .collect::<Vec<_>>(),
        [
            (photo.thumb, Variant::Thumb, photo.thumb_size),
            (photo.hash, Variant::Full, photo.size)
        ]
    );
    let chunk = s.photo_chunk(photo.hash, 10, 100).unwrap();
    assert_eq!(chunk, full[10..110]);
    assert!(
        s.photo_chunk(photo.hash, photo.size, 100)
            .unwrap()
            .is_empty()
    );
    s.mark_photo_uploaded(photo.hash).unwrap();
    assert!(s.photo_uploads().unwrap().is_empty());
    assert_eq!(s.pending_photo_bytes().unwrap(), 0);
    assert!(s.photos(id).unwrap()[0].uploaded);

    // A photo no larger than a thumbnail is its own thumbnail: one blob,
    // sent once and fetched once.
    let small = s.attach_photo(id, &camera_jpeg(300, 200, 11)).unwrap();
    assert_eq!(small.hash, small.thumb);
    let peer = open(dir.path(), "peer");
    push(&s, &peer);
    assert_eq!(
        fetch(&s, &peer, false, 1000),
        2,
        "the big photo's thumbnail and the small one"
    );
    let held = peer.photos(id).unwrap();
    assert!(held[1].has_thumbnail && held[1].has_full, "{held:?}");
    assert!(!held[0].has_full);
    assert_eq!(
        peer.photo(small.hash, Variant::Full).unwrap().len() as u64,
        small.size
    );
    assert!(peer.photo_downloads(false).unwrap().is_empty());
    let up: Vec<_> = s
        .photo_uploads()
        .unwrap()
        .into_iter()
        .map(|t| t.blob)
        .collect();
    assert_eq!(up, [small.hash], "sent once");

    // Notes take photos too, from a file.
    let note = s
        .create(
            Kind::Note,
            &fields(json!({"sector": "conte-joliot", "text": "Tag"})),
        )
        .unwrap();
    let path = dir.path().join("camera.png");
    let png = camera_jpeg(400, 300, 3);
    image::load_from_memory(&png)
        .unwrap()
        .save_with_format(&path, ImageFormat::Png)
        .unwrap();
    let p = s.attach_photo_file(note, &path).unwrap();
    assert_eq!((p.width, p.height), (400, 300));
    assert_eq!(hashes(&s, note), [p.hash]);
}

#[test]
fn limits_are_typed_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "amina");
    let id = report(&s);
    let head = s.log_head().unwrap();
    let set = |f: &dyn Fn(&mut TeamConfig)| {
        let mut c = TeamConfig::default();
        f(&mut c);
        s.set_config(&c).unwrap();
    };

    set(&|c| c.photos.max_input_bytes = 1000);
    let err = s.attach_photo(id, big_photo()).unwrap_err();
    assert!(
        matches!(err, Error::PhotoTooLarge { limit: 1000, .. }),
        "{err}"
    );
    let path = dir.path().join("big.jpg");
    std::fs::write(&path, big_photo()).unwrap();
    let err = s.attach_photo_file(id, &path).unwrap_err();
    assert!(
        matches!(err, Error::PhotoTooLarge { limit: 1000, .. }),
        "{err}"
    );

    set(&|c| c.photos.max_per_record = 2);
    s.attach_photo(id, &camera_jpeg(64, 48, 1)).unwrap();
    s.attach_photo(id, &camera_jpeg(64, 48, 2)).unwrap();
    let err = s.attach_photo(id, &camera_jpeg(64, 48, 3)).unwrap_err();
    assert!(matches!(err, Error::TooManyPhotos { limit: 2 }), "{err}");
    assert!(err.to_string().contains("remove one"));

    let other = report(&s);
    let pending = s.pending_photo_bytes().unwrap();
    set(&|c| c.photos.max_pending_bytes = pending + 10);
    let err = s.attach_photo(other, &camera_jpeg(64, 48, 4)).unwrap_err();
    assert!(
        matches!(err, Error::PendingPhotosFull { pending: p, .. } if p == pending),
        "{err}"
    );
    assert!(err.to_string().contains("sync"));

    set(&|_| {});
    let contact = s
        .create(Kind::Contact, &fields(json!({"name": "Mme K."})))
        .unwrap();
    let err = s
        .attach_photo(contact, &camera_jpeg(64, 48, 5))
        .unwrap_err();
    assert!(
        matches!(err, Error::PhotosNotAllowed(Kind::Contact)),
        "{err}"
    );
    let err = s.attach_photo(other, b"not a photo at all").unwrap_err();
    assert!(matches!(err, Error::NotAnImage(_)), "{err}");
    let err = s
        .attach_photo(RecordId::new(), &camera_jpeg(64, 48, 6))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");

    // Only the two photos that fitted were written (two changes), and the
    // refused attempts left no byte behind.
    assert_eq!(hashes(&s, other), []);
    // 2 photos, a report and a contact.
    assert_eq!(s.log_head().unwrap(), head + 4);
}

#[test]
fn removing_a_photo_erases_its_bytes_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path(), "amina");
    let id = report(&s);
    let photo = s.attach_photo(id, big_photo()).unwrap();
    // The same camera file on another report: the same photo.
    let twin = report(&s);
    assert_eq!(s.attach_photo(twin, big_photo()).unwrap().hash, photo.hash);
    let full = s.photo(photo.hash, Variant::Full).unwrap();
    let thumb = s.photo(photo.hash, Variant::Thumb).unwrap();
    s.checkpoint().unwrap();
    assert_eq!(
        files_contain(dir.path(), &marker(&full)),
        ["amina.db"],
        "the check sees the photo"
    );
    assert_eq!(files_contain(dir.path(), &marker(&thumb)), ["amina.db"]);

    s.remove_photo(id, photo.hash).unwrap();
    for m in [marker(&full), marker(&thumb)] {
        assert_eq!(
            files_contain(dir.path(), &m),
            Vec::<String>::new(),
            "photo bytes still on disk"
        );
    }
    assert!(matches!(
        s.photo(photo.hash, Variant::Full),
        Err(Error::PhotoErased(_))
    ));
    assert!(hashes(&s, id).is_empty());
    assert!(
        hashes(&s, twin).is_empty(),
        "erased photos are erased from every record"
    );
    let Record::Report(r) = s.get(id).unwrap() else {
        panic!()
    };
    assert!(r.photos.is_empty());
    assert_eq!(
        s.details(id).unwrap().history.last().unwrap().op,
        "photo-remove"
    );
    // The erasure is in the log, for the server and the other devices.
    let log = s.changes_since(0, usize::MAX, None).unwrap();
    let erased: Vec<_> = log
        .entries
        .iter()
        .filter(|e| matches!(e.payload, Payload::PhotoErased { .. }))
        .collect();
    assert_eq!(erased.len(), 1);
    assert_eq!(erased[0].record_id, id);
    assert_eq!(
        erased[0].payload,
        Payload::PhotoErased {
            hash: photo.hash,
            thumb: photo.thumb
        }
    );
    // Neither attached again nor removed twice.
    assert!(matches!(
        s.attach_photo(id, big_photo()),
        Err(Error::PhotoErased(_))
    ));
    assert!(matches!(
        s.remove_photo(id, photo.hash),
        Err(Error::PhotoErased(_))
    ));
    assert!(matches!(
        s.remove_photo(id, PhotoHash::of(b"never")),
        Err(Error::PhotoNotFound(_))
    ));
    assert_eq!(s.pending_photo_bytes().unwrap(), 0);
    drop(s);
    assert!(files_contain(dir.path(), &marker(&full)).is_empty());
}

#[test]
fn stores_exchange_references_and_blobs_and_a_removal_erases_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "amina");
    let b = open(dir.path(), "bruno");
    let id = report(&a);
    let photo = a.attach_photo(id, big_photo()).unwrap();
    let full = a.photo(photo.hash, Variant::Full).unwrap();

    // The reference arrives with the record; the bytes do not.
    let r = push(&a, &b);
    assert_eq!(r.refused, 0);
    assert_eq!(hashes(&b, id), [photo.hash]);
    let info = &b.photos(id).unwrap()[0];
    assert!(!info.has_full && !info.has_thumbnail && info.uploaded);
    assert!(matches!(
        b.photo(photo.hash, Variant::Thumb),
        Err(Error::PhotoNotDownloaded(_))
    ));
    assert!(b.photo_uploads().unwrap().is_empty(), "not b's to send");
    assert_eq!(
        b.photo_blob_status(photo.hash).unwrap(),
        BlobStatus::Referenced {
            size: photo.size,
            variant: Variant::Full
        }
    );
    assert_eq!(
        b.photo_blob_status(photo.thumb).unwrap(),
        BlobStatus::Referenced {
            size: photo.thumb_size,
            variant: Variant::Thumb
        }
    );
    assert_eq!(
        b.photo_blob_status(PhotoHash::of(b"x")).unwrap(),
        BlobStatus::Unknown
    );

    // Thumbnails first; full images only when asked for.
    let down = b.photo_downloads(false).unwrap();
    assert_eq!(down.len(), 1);
    assert_eq!(
        (down[0].blob, down[0].variant),
        (photo.thumb, Variant::Thumb)
    );
    assert_eq!(b.photo_downloads(true).unwrap().len(), 2);

    // A download cut in the middle resumes where it stopped.
    let half = (photo.size / 2) as usize;
    assert_eq!(
        b.append_photo_part(photo.hash, 0, &full[..half]).unwrap(),
        half as u64
    );
    let err = b.append_photo_part(photo.hash, 0, &full[..10]).unwrap_err();
    assert!(err.to_string().contains(&format!("{half} bytes")), "{err}");
    assert_eq!(b.photo_part_len(photo.hash).unwrap(), half as u64);
    assert_eq!(fetch(&a, &b, true, 64 << 10), 2);
    assert_eq!(b.photo(photo.hash, Variant::Full).unwrap(), full);
    assert!(b.photo_downloads(true).unwrap().is_empty());
    assert_eq!(b.photo_part_len(photo.hash).unwrap(), 0);

    // Damaged bytes are dropped, not kept.
    let c = open(dir.path(), "chloe");
    push(&a, &c);
    let mut bad = full.clone();
    bad[1000] ^= 0xff;
    c.append_photo_part(photo.hash, 0, &bad).unwrap();
    assert!(matches!(
        c.finish_photo_download(photo.hash),
        Err(Error::PhotoCorrupt(_))
    ));
    assert_eq!(c.photo_part_len(photo.hash).unwrap(), 0);
    assert!(matches!(
        c.append_photo_part(photo.hash, 0, &[full.clone(), vec![0]].concat()),
        Err(Error::PhotoCorrupt(_))
    ));

    // Removed on b: the erasure reaches a, whose bytes go too.
    b.checkpoint().unwrap();
    b.remove_photo(id, photo.hash).unwrap();
    let r = push(&b, &a);
    assert_eq!(r.erased_photos, [(photo.hash, photo.thumb)]);
    assert!(hashes(&a, id).is_empty());
    assert!(matches!(
        a.photo(photo.hash, Variant::Full),
        Err(Error::PhotoErased(_))
    ));
    assert_eq!(a.photo_blob_status(photo.hash).unwrap(), BlobStatus::Erased);
    assert_eq!(
        a.photo_blob_status(photo.thumb).unwrap(),
        BlobStatus::Erased
    );
    assert!(
        a.photo_uploads().unwrap().is_empty(),
        "an erased photo is never sent"
    );
    // (chloe never had the photo whole, nor heard of its removal.)
    let left: Vec<String> = files_contain(dir.path(), &marker(&full))
        .into_iter()
        .filter(|f| !f.starts_with("chloe"))
        .collect();
    assert!(left.is_empty(), "still in {left:?}");
    // The same erasure again is a duplicate.
    assert!(push(&b, &a).erased_photos.is_empty());
}

#[test]
fn a_stale_device_cannot_bring_an_erased_photo_back() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "amina");
    let b = open(dir.path(), "bruno");
    let stale = open(dir.path(), "stale");
    let id = report(&a);
    // The stale device has the record, then goes offline.
    push(&a, &stale);
    push(&a, &b);
    let photo = a.attach_photo(id, big_photo()).unwrap();
    push(&a, &b);
    b.remove_photo(id, photo.hash).unwrap();
    push(&b, &a);
    assert!(hashes(&a, id).is_empty());

    // Offline, it attaches the same camera file: the same photo, which it
    // does not know was erased. Its change reaches the others: refused.
    assert_eq!(
        stale.attach_photo(id, big_photo()).unwrap().hash,
        photo.hash
    );
    let r = push(&stale, &b);
    assert_eq!(r.refused, 1, "{r:?}");
    assert!(hashes(&b, id).is_empty());
    assert_eq!(b.photo_blob_status(photo.hash).unwrap(), BlobStatus::Erased);
    assert!(b.photo_downloads(true).unwrap().is_empty());
    // A new device getting the whole history, then the stale change.
    let fresh = open(dir.path(), "fresh");
    assert_eq!(push(&a, &fresh).refused, 0);
    assert_eq!(push(&stale, &fresh).refused, 1);
    assert!(hashes(&fresh, id).is_empty());

    // Back online, the stale device learns of the erasure: bytes gone,
    // photo no longer listed, and nothing of it left to upload.
    let r = push(&b, &stale);
    assert_eq!(r.erased_photos, [(photo.hash, photo.thumb)]);
    assert!(hashes(&stale, id).is_empty());
    assert!(stale.photo_uploads().unwrap().is_empty());
    assert_eq!(stale.pending_photo_bytes().unwrap(), 0);
    assert!(matches!(
        stale.photo(photo.hash, Variant::Full),
        Err(Error::PhotoErased(_))
    ));
    // And every store lists the same photos of the record.
    for s in [&a, &b, &fresh] {
        push(&stale, s);
        assert!(hashes(s, id).is_empty());
    }
}

#[test]
fn unreferenced_photos_go_after_the_grace_period_and_a_wipe_takes_every_photo() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(dir.path(), "amina");
    let b = open(dir.path(), "bruno");
    let id = report(&a);
    let photo = a.attach_photo(id, &camera_jpeg(200, 100, 9)).unwrap();
    let later = photo.added_at + 10_000;
    assert_eq!(
        a.collect_photos(1000, later).unwrap(),
        0,
        "still referenced"
    );
    // A photo no record names any more (here: its read-model rows
    // dropped behind the store's back) goes once the grace period is over.
    let raw = rusqlite::Connection::open(dir.path().join("amina.db")).unwrap();
    raw.execute("DELETE FROM record_photos", []).unwrap();
    assert_eq!(
        a.collect_photos(20_000, later).unwrap(),
        0,
        "within the grace period"
    );
    assert_eq!(a.collect_photos(1000, later).unwrap(), 1);
    assert!(matches!(
        a.photo(photo.hash, Variant::Full),
        Err(Error::PhotoNotFound(_))
    ));

    let other = report(&a);
    let photo = a.attach_photo(other, &camera_jpeg(200, 100, 10)).unwrap();
    push(&a, &b);
    fetch(&a, &b, true, 1 << 20);
    assert_eq!(
        b.photo(photo.hash, Variant::Full).unwrap().len() as u64,
        photo.size
    );
    b.wipe().unwrap();
    let raw = rusqlite::Connection::open(dir.path().join("bruno.db")).unwrap();
    for table in ["photos", "photo_parts", "photo_tombstones", "record_photos"] {
        let n: i64 = raw
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0, "{table} after a wipe");
    }
}

/// Small distinct photos for the property (made once).
fn small_photos() -> &'static [Vec<u8>] {
    static PHOTOS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    PHOTOS.get_or_init(|| (0..4).map(|i| camera_jpeg(48, 32, 100 + i)).collect())
}

#[derive(Debug, Clone)]
enum Op {
    Attach { store: usize, photo: usize },
    Remove { store: usize, photo: usize },
    Sync { from: usize, to: usize },
}

fn op(n: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..n, 0..4usize).prop_map(|(store, photo)| Op::Attach { store, photo }),
        (0..n, 0..4usize).prop_map(|(store, photo)| Op::Remove { store, photo }),
        (0..n, 0..n).prop_map(|(from, to)| Op::Sync { from, to }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (2..=3usize).prop_flat_map(|n| (Just(n), prop::collection::vec(op(n), 1..16)))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        .. ProptestConfig::default()
    })]

    /// Whatever the order of attaches, removals and syncs between two or
    /// three devices, once they have all synced they list the same photos
    /// of the record, and none that was erased.
    #[test]
    fn concurrent_attaches_and_removals_converge((n, ops) in scenario()) {
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<Store> = (0..n).map(|i| open(dir.path(), &format!("d{i}"))).collect();
        let id = report(&stores[0]);
        for s in &stores[1..] {
            push(&stores[0], s);
        }
        let refs: Vec<Option<PhotoRef>> = vec![None; 4];
        let mut refs = refs;
        for op in ops {
            match op {
                Op::Attach { store, photo } => {
                    match stores[store].attach_photo(id, &small_photos()[photo]) {
                        Ok(p) => refs[photo] = Some(p),
                        Err(Error::PhotoErased(_)) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                Op::Remove { store, photo } => {
                    if let Some(p) = &refs[photo] {
                        match stores[store].remove_photo(id, p.hash) {
                            Ok(()) | Err(Error::PhotoNotFound(_) | Error::PhotoErased(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                Op::Sync { from, to } if from != to => {
                    push(&stores[from], &stores[to]);
                    fetch(&stores[from], &stores[to], true, 1 << 20);
                }
                Op::Sync { .. } => {}
            }
        }
        for _ in 0..2 {
            for from in &stores {
                for to in &stores {
                    if from.peer_id() != to.peer_id() {
                        push(from, to);
                    }
                }
            }
        }
        let first = hashes(&stores[0], id);
        for s in &stores {
            prop_assert_eq!(&hashes(s, id), &first);
            for h in &first {
                prop_assert_ne!(s.photo_blob_status(*h).unwrap(), BlobStatus::Erased);
            }
            let Record::Report(r) = s.get(id).unwrap() else { panic!() };
            prop_assert_eq!(r.photos.iter().map(|p| p.hash).collect::<Vec<_>>(), first.clone());
        }
    }
}
