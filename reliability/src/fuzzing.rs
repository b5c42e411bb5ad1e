//! The bodies of the fuzz targets (`fuzz/fuzz_targets/*.rs` call these), kept
//! here so that every crasher replays as an ordinary test
//! (`tests/fuzz_regressions.rs`). Each function panics when an invariant
//! breaks, which is how a fuzzer notices.

use std::sync::OnceLock;

use carnet_core::store::{Batch, Entry, Payload, Query};
use carnet_core::sync::{PushHeader, wire};
use carnet_core::{RecordId, Store};
use serde_json::Value;

use crate::work::check_log;

/// The envelope decoder: never panics; what it accepts re-encodes to the same entries.
pub fn wire_decode(data: &[u8]) {
    for body in [data.to_vec(), zstd::bulk::compress(data, 1).unwrap_or_default()] {
        if let Ok((h, entries)) = wire::decode::<Value>(&body) {
            let again = wire::encode(&h, &entries);
            let (h2, e2) = wire::decode::<Value>(&again).expect("an accepted envelope re-encodes to a decodable one");
            assert_eq!(h, h2);
            assert_eq!(entries, e2);
        }
        let _ = wire::decode::<PushHeader>(&body);
    }
}

struct Fixture {
    base: Batch,
    extra: Vec<Entry>,
    ids: Vec<RecordId>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (h, base): (Value, Vec<Entry>) = wire::decode(include_bytes!("../fixtures/base.crn")).expect("fixture");
        let (_, extra): (Value, Vec<Entry>) = wire::decode(include_bytes!("../fixtures/extra.crn")).expect("fixture");
        let mut ids: Vec<RecordId> = base.iter().chain(extra.iter()).map(|e| e.record_id).collect();
        ids.dedup();
        ids.sort();
        ids.dedup();
        Fixture { base: Batch { entries: base, upto: h["upto"].as_u64().unwrap_or(0), more: false }, extra, ids }
    })
}

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

/// Builds a batch from fuzz bytes: raw changes, mutated valid changes, valid
/// changes sent under the wrong record, erasures; ids mostly of records the
/// store holds.
pub fn batch_from(data: &[u8]) -> Batch {
    let f = fixture();
    let mut r = Bytes(data);
    let mut entries = Vec::new();
    while let Some(op) = r.u8() {
        let pick = |r: &mut Bytes<'_>| -> RecordId {
            match r.u8() {
                Some(b) if b < 240 => f.ids[b as usize % f.ids.len()],
                _ => {
                    let mut raw = [0u8; 16];
                    let t = r.take(16);
                    raw[..t.len()].copy_from_slice(t);
                    RecordId::from_bytes(raw)
                }
            }
        };
        let extra = |r: &mut Bytes<'_>| f.extra[r.u8().unwrap_or(0) as usize % f.extra.len()].clone();
        match op % 5 {
            0 => {
                let id = pick(&mut r);
                let len = r.u8().unwrap_or(0) as usize * 4;
                entries.push(Entry { record_id: id, payload: Payload::Change(r.take(len).to_vec()) });
            }
            1 => {
                let mut e = extra(&mut r);
                let n = r.u8().unwrap_or(0) % 8;
                if let Payload::Change(bytes) = &mut e.payload {
                    for _ in 0..n {
                        let hi = r.u8().unwrap_or(0) as usize;
                        let lo = r.u8().unwrap_or(0) as usize;
                        let x = r.u8().unwrap_or(1);
                        if !bytes.is_empty() {
                            let at = (hi << 8 | lo) % bytes.len();
                            bytes[at] ^= x;
                        }
                    }
                    if r.u8().unwrap_or(0) == 0xff {
                        let cut = r.u8().unwrap_or(0) as usize % (bytes.len() + 1);
                        bytes.truncate(cut);
                    }
                }
                entries.push(e);
            }
            2 => {
                let mut e = extra(&mut r);
                e.record_id = pick(&mut r);
                entries.push(e);
            }
            3 => entries.push(extra(&mut r)),
            _ => entries.push(Entry { record_id: pick(&mut r), payload: Payload::Erased }),
        }
    }
    Batch { entries, upto: 1, more: false }
}

/// Everything a caller can observe of a store.
pub fn fingerprint(store: &Store) -> String {
    let list = store.list(&Query { limit: Some(1000), ..Default::default() }).expect("list");
    let log = store.changes_since(0, usize::MAX, None).expect("log");
    let mut erased = Vec::new();
    for id in &fixture().ids {
        erased.push(matches!(store.get(*id), Err(carnet_core::Error::Erased(_))));
    }
    serde_json::json!({"head": store.log_head().expect("head"), "list": list.items, "log": log.entries.len(),
        "log_entries": format!("{:?}", log.entries), "erased": erased})
    .to_string()
}

/// A store holding the fixture's base, in memory.
pub fn base_store() -> Store {
    let store = Store::open_unencrypted(":memory:").expect("in-memory store");
    store.apply("fixture", &fixture().base).expect("the fixture applies");
    store
}

/// Change application: a batch built from `data` is applied to a store
/// holding the fixture. It must return Ok or Err without panicking; on Err
/// the store is exactly as before; on Ok the log reads back, every record
/// reads, and applying the same batch again changes nothing.
pub fn apply_bytes(data: &[u8]) {
    let batch = batch_from(data);
    let store = base_store();
    let before = fingerprint(&store);
    match store.apply("fuzz", &batch) {
        Err(_) => assert_eq!(fingerprint(&store), before, "a rejected batch changed the store"),
        Ok(_) => {
            check_log(&store).expect("the log reads back after an accepted batch");
            for r in store.list(&Query { limit: Some(1000), ..Default::default() }).expect("list").items {
                store.details(r.header().id).expect("every record reads after an accepted batch");
            }
            let after = fingerprint(&store);
            let again = store.apply("fuzz", &batch).expect("an accepted batch applies again");
            assert_eq!(again.applied, 0, "a batch applied twice applied something twice");
            assert_eq!(fingerprint(&store), after, "a duplicate batch changed the store");
        }
    }
}
