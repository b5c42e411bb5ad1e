//! `kill -9` of a process writing through the core, at random moments: every
//! edit it acknowledged is there after reopening, the change log reads back,
//! `PRAGMA integrity_check` is ok and the store opens.
//!
//! Kills: `RELIABILITY_KILLS` (default 100; `scripts/reliability-full` runs
//! 1,000). Seed: `RELIABILITY_SEED` (default 6).

use carnet_reliability::crash::{CrashConfig, run};
use carnet_reliability::env_or;

#[test]
fn kill_9_loses_no_acknowledged_edit() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CrashConfig {
        writer: env!("CARGO_BIN_EXE_crash-writer").into(),
        kills: env_or("RELIABILITY_KILLS", 100) as usize,
        seed: env_or("RELIABILITY_SEED", 6),
        kills_per_store: 25,
        dir: dir.path().to_path_buf(),
    };
    let r = run(&cfg);
    let f = &r.findings;
    println!(
        "crash: {} kills ({} before the store was open) on {} stores in {:.1?}: {f}",
        r.kills, f.before_open, f.stores, r.elapsed,
    );
    assert!(f.ok(), "{r:#?}");
    assert_eq!(r.kills, cfg.kills);
    assert!(
        f.acknowledged > r.kills,
        "the writers acknowledged too little to prove anything"
    );
}
