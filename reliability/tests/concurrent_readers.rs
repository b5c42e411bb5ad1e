//! The server now reads each team log through separate reader connections
//! (`sync-server/src/storage/sqlite.rs`, `TeamLog::reader`) while one writer
//! applies pushes. Found by the 200-device load run: pulls failing with 404
//! "record … was erased and cannot be changed". `Store::changes_since` runs
//! several statements outside a transaction, so it can read the log before an
//! erasure commits and the documents after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use carnet_core::{Kind, Store};
use serde_json::json;

#[test]
fn reading_the_log_while_another_connection_erases_never_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.db");
    let writer = Arc::new(Store::open_unencrypted(&path).unwrap());
    let reader = Store::open_unencrypted(&path).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let w = writer.clone();
    let s = stop.clone();
    let t = std::thread::spawn(move || {
        let mut n = 0;
        while !s.load(Ordering::Relaxed) {
            // Several contacts with a few changes each, then erase them.
            let ids: Vec<_> = (0..5)
                .map(|i| {
                    let id = w
                        .create(
                            Kind::Contact,
                            json!({"name": format!("R {n} {i}")}).as_object().unwrap(),
                        )
                        .unwrap();
                    w.add_interaction(id, "visite", None).unwrap();
                    id
                })
                .collect();
            for id in ids {
                w.erase(id).unwrap();
            }
            n += 1;
        }
        n
    });
    let start = Instant::now();
    let mut reads = 0;
    let mut failures = Vec::new();
    while start.elapsed() < Duration::from_secs(3) {
        if let Err(e) = reader.changes_since(0, usize::MAX, None) {
            failures.push(e.to_string());
        }
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = t.join().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {reads} reads failed while {rounds} rounds of erasures ran: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
}
