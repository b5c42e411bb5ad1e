//! Power loss under a process writing through the core: a VFS shim keeps
//! every unsynced write in memory and drops it at the cut, so the files hold
//! exactly what was synced. After each cut the store opens, `PRAGMA
//! integrity_check` is ok, every acknowledged edit is there and none is
//! doubled; the next writer starts from the recovered store.
//!
//! Cuts: `RELIABILITY_POWER_CUTS` (default 20). Seed: `RELIABILITY_SEED`
//! (default 6).

use std::time::Duration;

use carnet_reliability::env_or;
use carnet_reliability::power::{PowerConfig, run};

#[test]
fn power_cut_loses_no_acknowledged_edit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = PowerConfig {
        writer: env!("CARGO_BIN_EXE_power-writer").into(),
        cuts: env_or("RELIABILITY_POWER_CUTS", 20) as usize,
        seed: env_or("RELIABILITY_SEED", 6),
        cuts_per_store: 10,
        dir: dir.path().to_path_buf(),
        timeout: Duration::from_secs(120),
    };
    let r = run(&cfg);
    let f = &r.findings;
    println!(
        "power: {} cuts ({} between calls, {} inside a call, {} before the store was open) on {} stores in {:.1?}: {f}",
        r.cuts, r.between_calls, r.inside_calls, f.before_open, f.stores, r.elapsed,
    );
    assert!(f.ok(), "{r:#?}");
    assert_eq!(r.cuts, cfg.cuts);
    assert!(
        f.acknowledged > r.cuts,
        "the writers acknowledged too little to prove anything"
    );
}
