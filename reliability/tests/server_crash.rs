//! kill -9 of the server while five devices upload: every entry the server
//! acknowledged is in its files after the kill; after restarts, re-uploading
//! duplicates nothing and every device converges with the server.
//!
//! Kills: `RELIABILITY_SERVER_KILLS` (default 5). Seed: `RELIABILITY_SEED`.

use carnet_reliability::campaigns::{ServerCrashConfig, server_crash};
use carnet_reliability::env_or;

#[test]
fn server_kill_9_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServerCrashConfig {
        server_exe: env!("CARGO_BIN_EXE_carnet-test-server").into(),
        devices: 5,
        kills: env_or("RELIABILITY_SERVER_KILLS", 5) as usize,
        seed: env_or("RELIABILITY_SEED", 6),
        dir: dir.path().to_path_buf(),
    };
    let r = server_crash(&cfg);
    println!(
        "server crash: {} kills in {:.1?}; {} acknowledged entries checked after kills, {} missing; {} edits, \
         {} syncs ok, {} failed while down; {} duplicate log entries; {} records; converged: {}",
        r.kills,
        r.elapsed,
        r.acked_checked,
        r.acked_missing,
        r.edits,
        r.syncs_ok,
        r.syncs_failed,
        r.duplicates,
        r.records,
        r.converged
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert_eq!(r.acked_missing, 0);
    assert_eq!(r.duplicates, 0);
    assert!(r.converged);
    assert!(
        r.acked_checked > 0 && r.syncs_ok > 0,
        "nothing was uploaded: the campaign proved nothing"
    );
}
