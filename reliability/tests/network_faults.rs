//! Five devices do random offline work for many rounds and sync through a
//! seeded fault-injecting proxy (connections dropped before, during and after
//! requests; responses truncated, delayed, duplicated; requests replayed).
//! Once the network heals, every device converges with the server and no
//! acknowledged edit is lost or doubled.
//!
//! `RELIABILITY_NET_ROUNDS` (default 30), `RELIABILITY_FAULT_PCT` (default
//! 35), `RELIABILITY_SEED` (default 6).

use carnet_reliability::campaigns::{NetFaultConfig, network_faults};
use carnet_reliability::env_or;
use carnet_reliability::proxy::FATES;

#[test]
fn devices_converge_through_a_faulty_network() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = NetFaultConfig {
        server_exe: env!("CARGO_BIN_EXE_carnet-test-server").into(),
        devices: 5,
        rounds: env_or("RELIABILITY_NET_ROUNDS", 30) as usize,
        fault_pct: env_or("RELIABILITY_FAULT_PCT", 35) as u32,
        seed: env_or("RELIABILITY_SEED", 6),
        dir: dir.path().to_path_buf(),
    };
    let r = network_faults(&cfg);
    let fates: Vec<String> = FATES
        .iter()
        .zip(r.fates)
        .map(|(f, n)| format!("{f:?} {n}"))
        .collect();
    println!(
        "network faults: {} rounds × 5 devices in {:.1?}; syncs {} ok, {} failed; requests: {}; settled in {} rounds; \
         {} edits, {} records, {} duplicate log entries, converged: {}",
        cfg.rounds,
        r.elapsed,
        r.syncs_ok,
        r.syncs_failed,
        fates.join(", "),
        r.settle_rounds,
        r.end.edits,
        r.end.records,
        r.end.duplicates,
        r.end.converged
    );
    assert!(r.end.problems.is_empty(), "{:#?}", r.end.problems);
    assert_eq!(r.end.duplicates, 0);
    assert!(r.end.converged);
    assert!(
        r.fates[1..].iter().all(|n| *n > 0),
        "every kind of fault must have happened at least once: {fates:?}"
    );
}
