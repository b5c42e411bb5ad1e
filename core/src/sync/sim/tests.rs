//! The simulated network runs the production session end to end.

use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;
use crate::Kind;

fn store(dir: &TempDir, name: &str) -> Store {
    Store::open_unencrypted(dir.path().join(format!("{name}.db"))).unwrap()
}

fn note(s: &Store, text: &str) -> crate::RecordId {
    let Value::Object(fields) = json!({"sector": "conte-joliot", "text": text}) else {
        unreachable!()
    };
    s.create(Kind::Note, &fields).unwrap()
}

const BAD: Faults = Faults {
    drop_per_mille: 250,
    duplicate_per_mille: 250,
    max_delay_ms: 1500,
};

#[test]
fn devices_converge_through_a_perfect_network() {
    let dir = tempfile::tempdir().unwrap();
    let (server, a, b) = (store(&dir, "server"), store(&dir, "a"), store(&dir, "b"));
    let mut sim = Sim::new(&server, 1, SyncOptions::default());
    let (da, db) = (sim.enroll(&a), sim.enroll(&b));
    let na = note(&a, "from a");
    let nb = note(&b, "from b");
    assert_eq!(sim.sync(da).unwrap().pushed, 1);
    let s = sim.sync(db).unwrap();
    assert_eq!((s.pushed, s.pulled), (1, 1));
    assert_eq!(sim.sync(da).unwrap().pulled, 1);
    for st in [&server, &a, &b] {
        assert!(st.get(na).is_ok() && st.get(nb).is_ok());
    }
    assert_eq!(sim.stats().dropped + sim.stats().duplicated, 0);
}

/// Runs a faulty scenario on fresh stores; what the network did.
fn faulty_run(seed: u64) -> (Stats, Vec<bool>) {
    let dir = tempfile::tempdir().unwrap();
    let (server, a, b) = (store(&dir, "server"), store(&dir, "a"), store(&dir, "b"));
    let mut sim = Sim::new(&server, seed, SyncOptions::default());
    let (da, db) = (sim.enroll(&a), sim.enroll(&b));
    sim.set_faults(BAD);
    let mut outcomes = Vec::new();
    for i in 0..6 {
        note(&a, &format!("a{i}"));
        note(&b, &format!("b{i}"));
        sim.start(da).unwrap();
        sim.start(db).unwrap();
        sim.run();
        for d in [da, db] {
            outcomes.push(sim.take_outcome(d).unwrap().unwrap().is_ok());
        }
    }
    sim.set_faults(Faults::NONE);
    for d in [da, db, da] {
        sim.sync(d).unwrap();
    }
    assert_eq!(a.log_head().unwrap(), 12);
    assert_eq!(b.log_head().unwrap(), 12);
    assert_eq!(server.log_head().unwrap(), 12);
    assert_eq!(sim.stats().inconsistent_copies, 0);
    (sim.stats().clone(), outcomes)
}

#[test]
fn a_seed_replays_identically_and_a_healed_network_converges() {
    let first = faulty_run(7);
    assert!(
        first.0.dropped > 0 && first.0.duplicated > 0,
        "{:?}",
        first.0
    );
    assert_eq!(faulty_run(7), first);
}

#[test]
fn a_wipe_order_wipes_the_device_and_a_revocation_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let (server, a, b) = (store(&dir, "server"), store(&dir, "a"), store(&dir, "b"));
    let mut sim = Sim::new(&server, 3, SyncOptions::default());
    let (da, db) = (sim.enroll(&a), sim.enroll(&b));
    let n = note(&a, "kept by the server");
    sim.sync(da).unwrap();
    sim.order_wipe(da).unwrap();
    assert!(matches!(sim.sync(da), Err(Error::Wiped)));
    assert!(matches!(a.get(n), Err(Error::NotFound(_))));
    assert!(server.get(n).is_ok());
    // Enrolled again, the wiped store gets the team's records back.
    let again = sim.enroll(&a);
    assert_eq!(sim.sync(again).unwrap().pulled, 1);
    sim.revoke(db).unwrap();
    assert!(matches!(sim.sync(db), Err(Error::Unauthorized)));
    assert!(sim.sync(99).is_err());
}

/// Log rows with a change, and how many distinct changes they hold.
fn logged_changes(s: &Store) -> (i64, i64) {
    s.read(|conn, _| {
        Ok(conn.query_row(
            "SELECT count(*), count(DISTINCT hash) FROM change_log WHERE hash IS NOT NULL",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    })
    .unwrap()
}

/// Every record of `s` as JSON, by id.
fn all(s: &Store) -> Vec<Value> {
    let page = s.list(&crate::store::Query::default()).unwrap();
    assert!(!page.has_more);
    let mut all: Vec<Value> = page
        .items
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    all.sort_by(|x, y| x["id"].as_str().cmp(&y["id"].as_str()));
    all
}

fn text(s: &Store, id: crate::RecordId) -> Value {
    serde_json::to_value(s.get(id).unwrap()).unwrap()["text"].clone()
}

#[test]
fn after_a_restore_from_an_older_backup_devices_give_back_what_the_server_lost() {
    let dir = tempfile::tempdir().unwrap();
    let server = store(&dir, "server");
    let devices = [store(&dir, "a"), store(&dir, "b"), store(&dir, "c")];
    // Declared before the simulation, which borrows it once restored.
    let restored: Store;
    let mut sim = Sim::new(&server, 11, SyncOptions::default());
    let [da, db, dc] = [0, 1, 2].map(|i| sim.enroll(&devices[i]));
    let [a, b, c] = &devices;
    let shared = note(a, "before the backup");
    note(c, "c before the backup");
    for d in [da, db, dc, da] {
        sim.sync(d).unwrap();
    }

    // The backup: a copy of the server's database file, all of it in the
    // file once checkpointed.
    server.checkpoint().unwrap();
    std::fs::copy(dir.path().join("server.db"), dir.path().join("backup.db")).unwrap();

    // The team keeps working and syncing.
    let later = note(a, "after the backup");
    b.set_field(shared, "text", &json!("edited after the backup"))
        .unwrap();
    note(c, "c after the backup");
    for d in [da, db, dc, da, db] {
        sim.sync(d).unwrap();
    }
    let expected_ids: Vec<Value> = all(&server).iter().map(|r| r["id"].clone()).collect();

    // Restored from the backup, on a bad network; `a` builds on its own
    // change the restored server lost before it syncs.
    restored = Store::open_unencrypted(dir.path().join("backup.db")).unwrap();
    assert!(matches!(restored.get(later), Err(Error::NotFound(_))));
    sim.restore(&restored);
    a.set_field(later, "text", &json!("edited after the restore"))
        .unwrap();
    sim.set_faults(BAD);
    for _ in 0..3 {
        for d in [db, da, dc] {
            sim.start(d).unwrap();
        }
        sim.run();
    }
    sim.set_faults(Faults::NONE);
    for d in [db, da, dc, db, da, dc] {
        sim.sync(d).unwrap();
    }
    let expected = all(&restored);
    let got_ids: Vec<Value> = expected.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(got_ids, expected_ids, "the server has every record back");
    for d in &devices {
        assert_eq!(all(d), expected);
        assert_eq!(d.lineage().unwrap().as_deref(), Some(sim.lineage.as_str()));
        let (rows, distinct) = logged_changes(d);
        assert_eq!(rows, distinct, "a device logged a change twice");
    }
    let (rows, distinct) = logged_changes(&restored);
    assert_eq!(rows, distinct, "the server logged a change twice");
    assert_eq!(
        distinct,
        logged_changes(&server).0 + 1,
        "every change, once"
    );
    for st in [&restored, a, b, c] {
        assert_eq!(text(st, later), json!("edited after the restore"));
        assert_eq!(text(st, shared), json!("edited after the backup"));
    }
}

#[test]
fn a_device_tells_a_restore_in_its_sync_summary() {
    let dir = tempfile::tempdir().unwrap();
    let (server, a) = (store(&dir, "server"), store(&dir, "a"));
    let restored = store(&dir, "restored");
    let mut sim = Sim::new(&server, 5, SyncOptions::default());
    let da = sim.enroll(&a);
    note(&a, "lost by the restore");
    assert!(!sim.sync(da).unwrap().restarted);
    sim.restore(&restored);
    let s = sim.sync(da).unwrap();
    assert!(s.restarted);
    assert_eq!(s.pushed, 1);
    assert_eq!(restored.log_head().unwrap(), 1);
    assert!(!sim.sync(da).unwrap().restarted);
}

/// The documented limitation: a device gives back only its own changes.
#[test]
fn a_change_lost_with_its_author_is_not_given_back_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let (server, a, b) = (store(&dir, "server"), store(&dir, "a"), store(&dir, "b"));
    let restored = store(&dir, "restored");
    let mut sim = Sim::new(&server, 9, SyncOptions::default());
    let (da, db) = (sim.enroll(&a), sim.enroll(&b));
    let theirs = note(&a, "a's, after the backup");
    sim.sync(da).unwrap();
    sim.sync(db).unwrap();
    // The server goes back to an empty backup; `a` is never seen again.
    sim.restore(&restored);
    let mine = note(&b, "b's own");
    sim.sync(db).unwrap();
    assert!(restored.get(mine).is_ok());
    assert!(matches!(restored.get(theirs), Err(Error::NotFound(_))));
    assert!(b.get(theirs).is_ok(), "still shown where it was pulled");
    // An edit building on the lost change cannot reach the server.
    b.set_field(theirs, "text", &json!("edited by b")).unwrap();
    let r = sim.sync(db);
    assert!(matches!(r, Err(Error::Server { status: 400, .. })), "{r:?}");
}

/// A JPEG a camera could have taken (noisy, so that it does not compress
/// to nothing), `w`×`h`.
fn camera_jpeg(w: u32, h: u32, seed: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        let n = (x.wrapping_mul(7919) ^ y.wrapping_mul(104_729) ^ seed).wrapping_mul(2_654_435_761);
        image::Rgb([(x % 256) as u8, (y % 256) as u8, (n >> 24) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

fn report(s: &Store) -> crate::RecordId {
    let Value::Object(fields) = json!({
        "sector": "conte-joliot", "category": "lighting", "place": "Hall B",
        "text": "Éclairage en panne"
    }) else {
        unreachable!()
    };
    s.create(Kind::Report, &fields).unwrap()
}

/// The photo phase under a bad network: every photo goes up once, whole,
/// after the records; the other device gets every thumbnail at its sync and
/// a full photo when asked; a removal takes the bytes off the server and
/// the other device.
#[test]
fn photos_travel_after_the_records_and_are_erased_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (server, a, b) = (store(&dir, "server"), store(&dir, "a"), store(&dir, "b"));
    let options = SyncOptions {
        photo_chunk_bytes: 16 << 10,
        ..SyncOptions::default()
    };
    let mut sim = Sim::new(&server, 7, options);
    let (da, db) = (sim.enroll(&a), sim.enroll(&b));
    let id = report(&a);
    let p1 = a.attach_photo(id, &camera_jpeg(900, 600, 1)).unwrap();
    let p2 = a.attach_photo(id, &camera_jpeg(600, 900, 2)).unwrap();
    // A poor but usable link: a photo takes dozens of requests, and on
    // BAD's network (most answers late) no sync would get that far.
    sim.set_faults(Faults {
        drop_per_mille: 100,
        duplicate_per_mille: 100,
        max_delay_ms: 450,
    });
    let mut sent = 0;
    for _ in 0..20 {
        sim.start(da).unwrap();
        sim.run();
        if let Some(Ok(s)) = sim.take_outcome(da).unwrap() {
            sent += s.photos_sent;
            if a.photo_uploads().unwrap().is_empty() {
                break;
            }
        }
    }
    assert!(a.photo_uploads().unwrap().is_empty(), "uploads left");
    assert!(sent <= 2, "a photo counted as sent twice");
    for p in [&p1, &p2] {
        assert!(sim.has_blob(&p.hash) && sim.has_blob(&p.thumb));
    }
    sim.set_faults(Faults::NONE);
    let s = sim.sync(db).unwrap();
    assert_eq!(
        (s.pulled, s.thumbnails_received, s.photos_received),
        (3, 2, 0)
    );
    assert_eq!(
        b.photo(p1.hash, crate::photo::Variant::Thumb).unwrap(),
        a.photo(p1.hash, crate::photo::Variant::Thumb).unwrap()
    );
    assert!(matches!(
        b.photo(p1.hash, crate::photo::Variant::Full),
        Err(Error::PhotoNotDownloaded(_))
    ));
    a.remove_photo(id, p1.hash).unwrap();
    sim.sync(da).unwrap();
    assert!(
        !sim.has_blob(&p1.hash) && !sim.has_blob(&p1.thumb),
        "server kept erased bytes"
    );
    assert!(sim.has_blob(&p2.hash));
    sim.sync(db).unwrap();
    assert!(matches!(
        b.photo(p1.hash, crate::photo::Variant::Thumb),
        Err(Error::PhotoErased(_) | Error::PhotoNotFound(_))
    ));
    assert!(b.photo(p2.hash, crate::photo::Variant::Thumb).is_ok());
}

/// Full photos come at sync when the device (or its team) asks for them.
#[test]
fn full_photos_come_at_sync_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (server, a, b) = (store(&dir, "server"), store(&dir, "a"), store(&dir, "b"));
    let options = SyncOptions {
        full_photos: Some(true),
        ..SyncOptions::default()
    };
    let mut sim = Sim::new(&server, 9, options);
    let (da, db) = (sim.enroll(&a), sim.enroll(&b));
    let id = report(&a);
    let p = a.attach_photo(id, &camera_jpeg(800, 600, 3)).unwrap();
    assert_eq!(sim.sync(da).unwrap().photos_sent, 1);
    let s = sim.sync(db).unwrap();
    assert_eq!((s.thumbnails_received, s.photos_received), (1, 1));
    assert_eq!(
        b.photo(p.hash, crate::photo::Variant::Full).unwrap(),
        a.photo(p.hash, crate::photo::Variant::Full).unwrap()
    );
    // Nothing new: nothing moves.
    let s = sim.sync(db).unwrap();
    assert_eq!(
        (
            s.thumbnails_received,
            s.photos_received,
            s.photo_bytes_received
        ),
        (0, 0, 0)
    );
}
