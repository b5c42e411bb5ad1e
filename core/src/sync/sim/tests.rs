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
