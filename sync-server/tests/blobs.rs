//! One conformance suite for the photo blob stores, run against the files
//! of the embedded deployment and against PostgreSQL's rows: the same
//! calls, the same answers, and nothing left behind by a deletion.

mod common;

use std::path::Path;
use std::sync::{Arc, Barrier};

use carnet_core::photo::PhotoHash;
use carnet_reliability::pg;
use carnet_server::storage::blobs::FilesBlobStore;
use carnet_server::storage::{BlobState, BlobStore, StorageError};
use carnet_server::{PostgresStorage, Storage};
use common::blob_leftovers;

/// A blob store under test, with what must outlive it.
struct Backend {
    blobs: Arc<dyn BlobStore>,
    dir: Option<tempfile::TempDir>,
    db: Option<pg::TestDatabase>,
}

impl Backend {
    fn files() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        Backend {
            blobs: Arc::new(FilesBlobStore::new(&dir.path().join("blobs"))),
            dir: Some(dir),
            db: None,
        }
    }

    fn postgres() -> Backend {
        let db = pg::TestDatabase::create();
        Backend {
            blobs: PostgresStorage::connect(&db.url, 8).unwrap().blobs(),
            dir: None,
            db: Some(db),
        }
    }

    /// Everything of the team's blobs still stored: the files under its
    /// directory, or its rows.
    fn leftovers(&self, team: &str) -> usize {
        match &self.dir {
            Some(dir) => blob_leftovers(dir.path(), None, team),
            None => blob_leftovers(Path::new(""), self.db.as_ref(), team),
        }
    }
}

/// Runs a test against both stores.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn files() {
                super::$name(&super::Backend::files());
            }
            #[test]
            fn postgres() {
                super::$name(&super::Backend::postgres());
            }
        }
    )*};
}

both!(
    an_upload_in_appends_resumes_and_completes,
    an_offset_other_than_what_is_held_is_a_conflict,
    wrong_bytes_are_dropped_at_completion,
    a_failed_check_drops_the_upload,
    reads_serve_ranges_of_complete_blobs_only,
    deletion_leaves_nothing_behind,
    usage_counts_partial_and_complete_blobs,
    teams_are_isolated,
    concurrent_appends_to_one_blob_take_turns,
);

fn team() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// `n` bytes that are not all alike.
fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn accept(_: &[u8]) -> carnet_server::storage::Result<()> {
    Ok(())
}

/// Appends `data` in appends of `chunk` bytes; returns the bytes held.
fn upload(s: &dyn BlobStore, team: &str, blob: &PhotoHash, data: &[u8], chunk: usize) -> u64 {
    let mut held = s.state(team, blob).unwrap().received;
    for part in data[held as usize..].chunks(chunk) {
        held = s.append(team, blob, held, part).unwrap();
    }
    held
}

fn an_upload_in_appends_resumes_and_completes(b: &Backend) {
    let s = &*b.blobs;
    let t = team();
    let data = bytes(300_000, 1);
    let blob = PhotoHash::of(&data);
    assert_eq!(
        s.state(&t, &blob).unwrap(),
        BlobState {
            received: 0,
            complete: false
        }
    );
    // Cut after 100 000 bytes; the upload resumes from what is held.
    assert_eq!(upload(s, &t, &blob, &data[..100_000], 40_000), 100_000);
    assert_eq!(
        s.state(&t, &blob).unwrap(),
        BlobState {
            received: 100_000,
            complete: false
        }
    );
    assert_eq!(
        s.read(&t, &blob, 0, 10).unwrap(),
        None,
        "partial: unreadable"
    );
    assert_eq!(s.size(&t, &blob).unwrap(), None);
    assert_eq!(upload(s, &t, &blob, &data, 64 * 1024), 300_000);
    s.complete(&t, &blob, &accept).unwrap();
    assert_eq!(
        s.state(&t, &blob).unwrap(),
        BlobState {
            received: 300_000,
            complete: true
        }
    );
    assert_eq!(s.size(&t, &blob).unwrap(), Some(300_000));
    assert_eq!(s.read(&t, &blob, 0, 1 << 20).unwrap().unwrap(), data);
    // Completing again changes nothing; a complete blob takes no more.
    s.complete(&t, &blob, &accept).unwrap();
    assert!(matches!(
        s.append(&t, &blob, 300_000, b"more"),
        Err(StorageError::PhotoOffset { received: 300_000 })
    ));
    // Nothing received: nothing to complete.
    let other = PhotoHash::of(b"never sent");
    assert!(matches!(
        s.complete(&t, &other, &accept),
        Err(StorageError::NotFound(_))
    ));
    assert_eq!(s.list(&t).unwrap().len(), 1);
}

fn an_offset_other_than_what_is_held_is_a_conflict(b: &Backend) {
    let s = &*b.blobs;
    let t = team();
    let data = bytes(10_000, 2);
    let blob = PhotoHash::of(&data);
    assert!(matches!(
        s.append(&t, &blob, 5, &data[5..]),
        Err(StorageError::PhotoOffset { received: 0 })
    ));
    assert_eq!(s.append(&t, &blob, 0, &data[..4000]).unwrap(), 4000);
    // A retry of an append whose answer was lost, and one from the future.
    for offset in [0, 3000, 4001] {
        assert!(matches!(
            s.append(&t, &blob, offset, &data[4000..]),
            Err(StorageError::PhotoOffset { received: 4000 })
        ));
    }
    // An empty append says where it stands.
    assert_eq!(s.append(&t, &blob, 4000, &[]).unwrap(), 4000);
    assert_eq!(s.append(&t, &blob, 4000, &data[4000..]).unwrap(), 10_000);
    s.complete(&t, &blob, &accept).unwrap();
    assert_eq!(s.read(&t, &blob, 0, 20_000).unwrap().unwrap(), data);
}

fn wrong_bytes_are_dropped_at_completion(b: &Backend) {
    let s = &*b.blobs;
    let t = team();
    let data = bytes(50_000, 3);
    let blob = PhotoHash::of(&data);
    let mut wrong = data.clone();
    wrong[49_999] ^= 1;
    upload(s, &t, &blob, &wrong, 16_000);
    let err = s.complete(&t, &blob, &accept).unwrap_err();
    assert!(matches!(err, StorageError::PhotoCorrupt(_)), "{err}");
    assert!(err.to_string().contains("upload the photo again"), "{err}");
    assert_eq!(
        s.state(&t, &blob).unwrap(),
        BlobState {
            received: 0,
            complete: false
        }
    );
    assert_eq!(b.leftovers(&t), 0);
    assert_eq!(s.usage(&t).unwrap(), 0);
    // The right bytes then go through.
    upload(s, &t, &blob, &data, 16_000);
    s.complete(&t, &blob, &accept).unwrap();
    assert_eq!(s.size(&t, &blob).unwrap(), Some(50_000));
}

fn a_failed_check_drops_the_upload(b: &Backend) {
    let s = &*b.blobs;
    let t = team();
    let data = bytes(20_000, 4);
    let blob = PhotoHash::of(&data);
    upload(s, &t, &blob, &data, 8_000);
    let refuse = |bytes: &[u8]| {
        assert_eq!(bytes.len(), 20_000, "the check sees the whole blob");
        Err(StorageError::PhotoCorrupt("not an image".into()))
    };
    let err = s.complete(&t, &blob, &refuse).unwrap_err();
    assert_eq!(err.to_string(), "not an image");
    assert_eq!(s.state(&t, &blob).unwrap().received, 0);
    assert_eq!(b.leftovers(&t), 0);
}

fn reads_serve_ranges_of_complete_blobs_only(b: &Backend) {
    let s = &*b.blobs;
    let t = team();
    let data = bytes(100_000, 5);
    let blob = PhotoHash::of(&data);
    // Appends of uneven sizes, so that ranges straddle them.
    let mut held = 0;
    for n in [7, 30_000, 1, 45_000, 24_992] {
        held = s
            .append(&t, &blob, held, &data[held as usize..held as usize + n])
            .unwrap();
    }
    assert_eq!(held, 100_000);
    s.complete(&t, &blob, &accept).unwrap();
    for (offset, max) in [
        (0, 7),
        (5, 10),
        (29_990, 50),
        (30_007, 1),
        (50_000, 50_000),
        (99_999, 10),
        (0, 1 << 20),
    ] {
        let end = (offset + max).min(100_000);
        assert_eq!(
            s.read(&t, &blob, offset as u64, max).unwrap().unwrap(),
            &data[offset..end],
            "{offset}+{max}"
        );
    }
    assert_eq!(s.read(&t, &blob, 100_000, 10).unwrap().unwrap(), b"");
    assert_eq!(s.read(&t, &blob, 200_000, 10).unwrap().unwrap(), b"");
    let unknown = PhotoHash::of(b"unknown");
    assert_eq!(s.read(&t, &unknown, 0, 10).unwrap(), None);
}

fn deletion_leaves_nothing_behind(b: &Backend) {
    let s = &*b.blobs;
    let t = team();
    let full = bytes(80_000, 6);
    let thumb = bytes(9_000, 7);
    let (full_hash, thumb_hash) = (PhotoHash::of(&full), PhotoHash::of(&thumb));
    upload(s, &t, &full_hash, &full, 30_000);
    s.complete(&t, &full_hash, &accept).unwrap();
    // The thumbnail only partly received.
    s.append(&t, &thumb_hash, 0, &thumb[..4_000]).unwrap();
    assert!(b.leftovers(&t) > 0);
    assert!(s.delete(&t, &full_hash).unwrap());
    assert!(s.delete(&t, &thumb_hash).unwrap());
    assert!(
        !s.delete(&t, &thumb_hash).unwrap(),
        "nothing left to delete"
    );
    assert_eq!(b.leftovers(&t), 0, "no file, no row of either blob");
    assert_eq!(s.read(&t, &full_hash, 0, 10).unwrap(), None);
    assert_eq!(s.state(&t, &thumb_hash).unwrap().received, 0);
    assert_eq!(s.usage(&t).unwrap(), 0);
    assert!(s.list(&t).unwrap().is_empty());
}

fn usage_counts_partial_and_complete_blobs(b: &Backend) {
    let s = &*b.blobs;
    let t = team();
    assert_eq!(s.usage(&t).unwrap(), 0);
    let a = bytes(40_000, 8);
    let c = bytes(25_000, 9);
    let (ha, hc) = (PhotoHash::of(&a), PhotoHash::of(&c));
    upload(s, &t, &ha, &a, 10_000);
    s.complete(&t, &ha, &accept).unwrap();
    s.append(&t, &hc, 0, &c[..5_000]).unwrap();
    assert_eq!(s.usage(&t).unwrap(), 45_000);
    s.append(&t, &hc, 5_000, &c[5_000..]).unwrap();
    assert_eq!(s.usage(&t).unwrap(), 65_000);
    s.delete(&t, &ha).unwrap();
    assert_eq!(s.usage(&t).unwrap(), 25_000);
    let listed: Vec<PhotoHash> = s.list(&t).unwrap().into_iter().map(|(h, _)| h).collect();
    assert_eq!(listed, vec![hc]);
    let now = carnet_core::now_ms();
    for (_, at) in s.list(&t).unwrap() {
        assert!((now - 600_000..=now + 600_000).contains(&at), "{at}");
    }
}

fn teams_are_isolated(b: &Backend) {
    let s = &*b.blobs;
    let (t1, t2) = (team(), team());
    let data = bytes(12_000, 10);
    let blob = PhotoHash::of(&data);
    upload(s, &t1, &blob, &data, 5_000);
    s.complete(&t1, &blob, &accept).unwrap();
    // The other team holds nothing of it, though it is the same photo.
    assert_eq!(s.state(&t2, &blob).unwrap().received, 0);
    assert_eq!(s.read(&t2, &blob, 0, 100).unwrap(), None);
    assert_eq!(s.usage(&t2).unwrap(), 0);
    assert!(s.list(&t2).unwrap().is_empty());
    assert!(!s.delete(&t2, &blob).unwrap());
    assert_eq!(s.size(&t1, &blob).unwrap(), Some(12_000));
    let teams = s.teams().unwrap();
    assert!(teams.contains(&t1) && !teams.contains(&t2), "{teams:?}");
    // A team id that could name a path elsewhere holds nothing.
    assert!(matches!(
        s.state("../x", &blob),
        Err(StorageError::NotFound(_))
    ));
}

fn concurrent_appends_to_one_blob_take_turns(b: &Backend) {
    let t = team();
    let data = bytes(200_000, 11);
    let blob = PhotoHash::of(&data);
    let n = 6;
    let barrier = Arc::new(Barrier::new(n));
    let results: Vec<_> = (0..n)
        .map(|_| {
            let (s, t, data, barrier) = (b.blobs.clone(), t.clone(), data.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                s.append(&t, &blob, 0, &data[..100_000])
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    let won = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(won, 1, "{results:?}");
    for r in &results {
        match r {
            Ok(held) => assert_eq!(*held, 100_000),
            Err(StorageError::PhotoOffset { received }) => assert_eq!(*received, 100_000),
            Err(e) => panic!("{e}"),
        }
    }
    let s = &*b.blobs;
    assert_eq!(
        s.append(&t, &blob, 100_000, &data[100_000..]).unwrap(),
        200_000
    );
    s.complete(&t, &blob, &accept).unwrap();
    assert_eq!(s.read(&t, &blob, 0, 1 << 20).unwrap().unwrap(), data);
}

/// Files only: owner-only directories and files, a `.part` while
/// receiving, renamed into place once complete.
#[cfg(unix)]
#[test]
fn blob_files_are_private_and_whole_once_complete() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let s = FilesBlobStore::new(&root);
    let t = team();
    let data = bytes(30_000, 12);
    let blob = PhotoHash::of(&data);
    let hex = blob.to_hex();
    let shard = root.join(&t).join(&hex[..2]);
    s.append(&t, &blob, 0, &data[..10_000]).unwrap();
    let part = shard.join(format!("{hex}.part"));
    assert_eq!(std::fs::read(&part).unwrap(), &data[..10_000]);
    assert!(!shard.join(&hex).exists());
    s.append(&t, &blob, 10_000, &data[10_000..]).unwrap();
    s.complete(&t, &blob, &accept).unwrap();
    assert!(!part.exists());
    assert_eq!(std::fs::read(shard.join(&hex)).unwrap(), data);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&shard.join(&hex)), 0o600);
    for d in [&root, &root.join(&t), &shard] {
        assert_eq!(mode(d), 0o700, "{}", d.display());
    }
    // A second store over the same directory (a restart) counts the same.
    assert_eq!(FilesBlobStore::new(&root).usage(&t).unwrap(), 30_000);
    assert_eq!(s.teams().unwrap(), vec![t.clone()]);
}
