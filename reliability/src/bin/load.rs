//! Load and soak runs against one server on loopback (the full run's part;
//! `tests/load.rs` is the quick one).
//!
//! `load [--devices 200] [--seconds 120] [--think 2000-10000] [--edits 1-4]
//!       [--sample 1] [--seed 6] [--data DIR]`
//!
//! Prints a summary and, last, one JSON line with every figure.

#![forbid(unsafe_code)]

use std::time::Duration;

use carnet_reliability::campaigns::{LoadConfig, load};
use serde_json::json;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, d: u64| get(name).map(|v| v.parse().expect(name)).unwrap_or(d);
    let range = |name: &str, d: (u64, u64)| {
        get(name)
            .map(|v| {
                let (a, b) = v.split_once('-').expect("MIN-MAX");
                (a.parse().expect(name), b.parse().expect(name))
            })
            .unwrap_or(d)
    };
    let exe = std::env::current_exe()
        .unwrap()
        .with_file_name("carnet-test-server");
    let dir = match get("--data") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    };
    let shm = if std::path::Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let edits = range("--edits", (1, 4));
    let cfg = LoadConfig {
        server_exe: exe,
        devices: num("--devices", 200) as usize,
        duration: Duration::from_secs(num("--seconds", 120)),
        think_ms: range("--think", (2000, 10000)),
        edits: (edits.0 as usize, edits.1 as usize),
        sample_every: Duration::from_secs(num("--sample", 1)),
        seed: num("--seed", 6),
        dir: dir.path().to_path_buf(),
        device_dir: shm.path().to_path_buf(),
    };
    eprintln!(
        "load: {} devices for {:?}, think {:?} ms, {:?} edits per sync",
        cfg.devices, cfg.duration, cfg.think_ms, cfg.edits
    );
    let r = load(&cfg);
    let secs = r.loaded.as_secs_f64();
    let peak = r.samples.iter().map(|s| s.hwm_kib).max().unwrap_or(0);
    let first = r.samples.first().copied().unwrap_or_default();
    let last = r.samples.last().copied().unwrap_or_default();
    // After warm-up: from a tenth of the run on.
    let warm: Vec<_> = r.samples.iter().filter(|s| s.t >= secs / 10.0).collect();
    let warm_rss = warm.first().map(|s| s.rss_kib).unwrap_or(0);
    let max_fds = r.samples.iter().map(|s| s.fds).max().unwrap_or(0);
    let max_threads = r.samples.iter().map(|s| s.threads).max().unwrap_or(0);
    let cpu = last.cpu_s - first.cpu_s;
    println!(
        "{} devices, {:.0} s: {} syncs, {} errors; latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {} edits ({:.1}/s), \
         {} entries pushed ({:.1}/s), {} pulled; server peak memory (VmHWM) {:.1} MiB, RSS {:.1} MiB after warm-up → {:.1} MiB at the end; \
         fds {} at start, {} max, {} at the end; threads {} → {} max → {}; server CPU {:.0} s ({:.0} % of one core); settled in {} rounds; {} records; converged: {}; problems: {}",
        cfg.devices,
        secs,
        r.syncs,
        r.errors.len(),
        r.latency_ms.0,
        r.latency_ms.1,
        r.latency_ms.2,
        r.edits,
        r.edits as f64 / secs,
        r.pushed,
        r.pushed as f64 / secs,
        r.pulled,
        peak as f64 / 1024.0,
        warm_rss as f64 / 1024.0,
        last.rss_kib as f64 / 1024.0,
        first.fds,
        max_fds,
        last.fds,
        first.threads,
        max_threads,
        last.threads,
        cpu,
        100.0 * cpu / secs,
        r.settle_rounds,
        r.end.records,
        r.end.converged,
        r.end.problems.len()
    );
    for e in r.errors.iter().take(10) {
        println!("  error: {e}");
    }
    for p in r.end.problems.iter().take(10) {
        println!("  problem: {p}");
    }
    let samples: Vec<_> = r
        .samples
        .iter()
        .map(|s| json!([s.t.round(), s.rss_kib, s.hwm_kib, s.fds, s.threads]))
        .collect();
    println!(
        "{}",
        json!({"devices": cfg.devices, "seconds": secs, "syncs": r.syncs, "errors": r.errors.len(),
            "p50_ms": r.latency_ms.0, "p99_ms": r.latency_ms.1, "max_ms": r.latency_ms.2, "edits": r.edits,
            "pushed": r.pushed, "pulled": r.pulled, "peak_kib": peak, "server_cpu_s": cpu, "records": r.end.records,
            "converged": r.end.converged, "problems": r.end.problems.len(), "duplicates": r.end.duplicates,
            "samples_t_rss_hwm_fds_threads": samples})
    );
    let mut ok = r.errors.is_empty()
        && r.end.problems.is_empty()
        && r.end.converged
        && r.end.duplicates == 0;
    if args.iter().any(|a| a == "--soak") {
        // Flat: after warm-up, memory grows by less than a fifth (plus 8 MiB
        // of allocator slack) and descriptors by no more than one per device.
        let warm_fds = warm.first().map(|s| s.fds).unwrap_or(0);
        let end_fds = r
            .samples
            .iter()
            .rev()
            .nth(1)
            .map(|s| s.fds)
            .unwrap_or(last.fds);
        let rss_ok = last.rss_kib <= warm_rss + warm_rss / 5 + 8 * 1024;
        let fds_ok = end_fds <= warm_fds + cfg.devices;
        println!(
            "soak: RSS {:.1} MiB after warm-up → {:.1} MiB at the end ({}); fds {} after warm-up → {} at the end ({})",
            warm_rss as f64 / 1024.0,
            last.rss_kib as f64 / 1024.0,
            if rss_ok { "flat" } else { "GROWING" },
            warm_fds,
            end_fds,
            if fds_ok { "no leak" } else { "LEAK" }
        );
        ok &= rss_ok && fds_ok;
    }
    std::process::exit(if ok { 0 } else { 1 });
}
