//! The store copies its write-ahead log back into the database on a thread
//! of its own (not inside a save), and stops that thread when it is closed.

use std::path::Path;
use std::time::{Duration, Instant};

use carnet_core::{Kind, Store};
use serde_json::json;

/// Checkpointer threads running in this process: counted by the store
/// itself when a thread starts and when it ends (a count of named threads in
/// /proc raced the new thread naming itself).
fn checkpointers() -> usize {
    carnet_core::store::running_checkpointers()
}

fn create_notes(store: &Store, n: usize) {
    for i in 0..n {
        store
            .create(
                Kind::Note,
                json!({"sector": "conte-joliot", "text": format!("Passage {i} au pied du bâtiment B, hall propre, deux jeunes rencontrés")})
                    .as_object()
                    .unwrap(),
            )
            .unwrap();
    }
}

fn db_len(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Saves 150 notes and waits until the database file has grown: the copy
/// happens on the store's thread once no save has come for a moment (the
/// deadline only bounds a failure).
fn copied_back_after_saves(store: &Store, path: &Path) {
    let before = db_len(path);
    create_notes(store, 150);
    let deadline = Instant::now() + Duration::from_secs(60);
    while db_len(path) <= before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        db_len(path) > before,
        "the database file never received the logged pages"
    );
}

fn count(store: &Store) -> usize {
    let q = carnet_core::store::Query {
        limit: Some(1000),
        ..Default::default()
    };
    store.list(&q).unwrap().items.len()
}

/// One test, so that no other store of this process runs a checkpointer
/// meanwhile.
#[test]
fn the_log_is_copied_back_by_the_store_thread_which_ends_with_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let none = checkpointers();
    let store = Store::open(&path, &[3u8; 32]).unwrap();
    store.set_author("yanis").unwrap();
    assert_eq!(checkpointers(), none + 1);
    // Enough saves to fill the log past the point where it is copied back;
    // then again under a new key (a new checkpointer, the old one gone).
    copied_back_after_saves(&store, &path);
    store.rekey(&[4u8; 32]).unwrap();
    assert_eq!(checkpointers(), none + 1);
    copied_back_after_saves(&store, &path);
    drop(store);
    assert_eq!(
        checkpointers(),
        none,
        "a closed store left its thread running"
    );
    let store = Store::open(&path, &[4u8; 32]).unwrap();
    assert_eq!(count(&store), 300);
}
