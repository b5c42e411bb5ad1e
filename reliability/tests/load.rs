//! Quick load: 20 devices syncing for 15 s against one server on loopback
//! (the full run, `scripts/reliability-full`, runs 200 devices for 2 minutes
//! and a 10-minute soak with `src/bin/load.rs`). Zero errors, all converge.

use std::time::Duration;

use carnet_reliability::campaigns::{LoadConfig, load};

#[test]
fn twenty_devices_for_fifteen_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let devs = tempfile::tempdir().unwrap();
    let cfg = LoadConfig {
        server_exe: env!("CARGO_BIN_EXE_carnet-test-server").into(),
        devices: 20,
        duration: Duration::from_secs(15),
        think_ms: (200, 1500),
        edits: (1, 4),
        sample_every: Duration::from_millis(500),
        seed: 6,
        dir: dir.path().to_path_buf(),
        device_dir: devs.path().to_path_buf(),
    };
    let r = load(&cfg);
    let peak = r.samples.iter().map(|s| s.hwm_kib).max().unwrap_or(0);
    println!(
        "load (quick): 20 devices, {:.1?}: {} syncs, {} errors, p50 {:.0} ms, p99 {:.0} ms, {} edits, {} pushed, {} pulled, \
         server VmHWM {} KiB, {} records, converged {}",
        r.loaded,
        r.syncs,
        r.errors.len(),
        r.latency_ms.0,
        r.latency_ms.1,
        r.edits,
        r.pushed,
        r.pulled,
        peak,
        r.end.records,
        r.end.converged
    );
    assert!(r.errors.is_empty(), "{:#?}", r.errors);
    assert!(r.end.problems.is_empty(), "{:#?}", r.end.problems);
    assert!(r.end.converged);
    assert_eq!(r.end.duplicates, 0);
    assert!(r.syncs >= 20, "too few syncs to mean anything");
}
