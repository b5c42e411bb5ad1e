//! Three instances on one PostgreSQL database behind HAProxy (the shipped
//! configuration, in plain HTTP), twenty devices syncing through it, one
//! instance killed with `kill -9` in the middle of their pushes and started
//! again: every acknowledged change is in the log exactly once, every device
//! converges, none enrolls again.
//!
//! Needs PostgreSQL (`CARNET_TEST_DATABASE_URL`, default the local one) and
//! `haproxy`: `scripts/test` provides both. Sizes: `RELIABILITY_MULTI_SYNCS`
//! (default 200 acknowledged syncs; the kill after 30 %). Seed:
//! `RELIABILITY_SEED`.

use carnet_reliability::env_or;
use carnet_reliability::multi::{MultiConfig, multi_instance};

#[test]
fn instances_behind_haproxy_survive_a_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let syncs = env_or("RELIABILITY_MULTI_SYNCS", 200) as usize;
    let cfg = MultiConfig {
        server_exe: env!("CARGO_BIN_EXE_carnet-test-server").into(),
        instances: 3,
        devices: 20,
        kill_after: syncs * 3 / 10,
        syncs,
        pool: 4,
        seed: env_or("RELIABILITY_SEED", 6),
        dir: dir.path().to_path_buf(),
    };
    let r = multi_instance(&cfg);
    println!(
        "multi-instance: {} instances, {} devices in {:.1?}; kill -9 with {} syncs under way (mid-push: {}); \
         {} acknowledged entries checked at the kill, {} missing; {} syncs ok, {} failed ({} refused a token); \
         settled in {} rounds; {} edits, {} log entries, {} duplicates, {} records; \
         {} acknowledged entries checked at the end, {} missing; converged: {}; \
         forwarded {:?}, 5xx {:?}; errors seen: {:?}",
        cfg.instances,
        cfg.devices,
        r.elapsed,
        r.in_flight_at_kill,
        r.killed_mid_push,
        r.acked_at_kill,
        r.missing_at_kill,
        r.syncs_ok,
        r.syncs_failed,
        r.unauthorized,
        r.settle_rounds,
        r.edits,
        r.log_entries,
        r.duplicates,
        r.records,
        r.acked_checked,
        r.acked_missing,
        r.converged,
        r.forwarded.requests,
        r.forwarded.failed,
        r.sync_errors,
    );
    assert!(r.problems.is_empty(), "{:#?}", r.problems);
    assert!(r.killed_mid_push);
    assert_eq!(r.missing_at_kill, 0);
    assert_eq!(r.acked_missing, 0);
    assert_eq!(r.duplicates, 0);
    assert_eq!(r.unauthorized, 0);
    assert_eq!(r.devices_in_db, cfg.devices);
    assert!(r.converged);
    assert!(
        r.acked_at_kill > 0 && r.acked_checked > r.acked_at_kill,
        "nothing was uploaded around the kill: the campaign proved nothing"
    );
    for n in 1..=cfg.instances {
        assert!(
            r.forwarded.requests.contains_key(&format!("carnet{n}")),
            "HAProxy sent nothing to instance {n}: {:?}",
            r.forwarded.requests
        );
    }
}
