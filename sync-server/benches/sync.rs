//! Sync cost and throughput against the real `carnet-server` binary on
//! loopback (a separate process, so that the device side's memory is
//! measured alone). Run with:
//!
//! ```text
//! cargo bench -p carnet-server --bench sync            # N = 1k and 100k
//! CARNET_BENCH_QUICK=1 cargo bench -p carnet-server --bench sync   # N = 1k and 10k
//! CARNET_BENCH_DIR=/some/disk cargo bench -p carnet-server --bench sync
//! CARNET_BENCH_ONLY=50 cargo bench -p carnet-server --bench sync   # scenarios: new,10k,50
//! ```
//!
//! Large histories are seeded by generating record changes directly (one
//! verified push per ~1 MiB), not through `Store::create`, which commits
//! each record with its own fsync; the seeding rate is printed too.

mod support;

use std::path::{Path, PathBuf};
use std::time::Instant;

use carnet_core::Store;
use carnet_core::store::Query;
use carnet_core::sync::SyncSummary;
use sha2::{Digest, Sha256};
use support::*;

/// A digest of every record's id and last change time, to compare stores.
fn digest(store: &Store) -> String {
    let mut h = Sha256::new();
    let mut offset = 0;
    loop {
        let page = store
            .list(&Query {
                limit: Some(1000),
                offset,
                oldest_first: true,
                ..Default::default()
            })
            .unwrap();
        for r in &page.items {
            h.update(r.header().id.as_bytes());
            h.update(r.header().updated_at.to_le_bytes());
        }
        if !page.has_more {
            return hex::encode(&h.finalize()[..8]);
        }
        offset += 1000;
    }
}

fn ten_thousand(server: &Server, dir: &Path) {
    println!("\n## 10k records pushed by one device, pulled by another");
    let team = team(server, "bench-10k");
    let (p, ptoken) = device(server, &team, dir, "pusher");
    let (q, qtoken) = device(server, &team, dir, "puller");
    seed_device(&p, 10_000, "pusher");
    let t = Instant::now();
    let sp = sync(&server.url, &p, &ptoken).unwrap();
    let push_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let sq = sync(&server.url, &q, &qtoken).unwrap();
    let pull_secs = t.elapsed().as_secs_f64();
    assert_eq!((sp.pushed, sq.pulled), (10_000, 10_000));
    let mut raw_json = 0usize;
    let mut offset = 0;
    loop {
        let page = q
            .list(&Query {
                limit: Some(1000),
                offset,
                ..Default::default()
            })
            .unwrap();
        raw_json += page
            .items
            .iter()
            .map(|r| serde_json::to_vec(r).unwrap().len())
            .sum::<usize>();
        if !page.has_more {
            break;
        }
        offset += 1000;
    }
    let wire = sp.bytes_sent + sp.bytes_received + sq.bytes_sent + sq.bytes_received;
    println!(
        "push {push_secs:.2} s ({} round trips), pull {pull_secs:.2} s ({} round trips): {:.0} records/s end to end",
        sp.round_trips,
        sq.round_trips,
        10_000.0 / (push_secs + pull_secs)
    );
    println!(
        "bytes on the wire (push + pull bodies): {} KB; records' raw JSON: {} KB; ratio {:.2} (one way: {:.2})",
        wire / 1024,
        raw_json / 1024,
        wire as f64 / raw_json as f64,
        (sp.bytes_sent as f64) / raw_json as f64
    );
    assert_eq!(digest(&p), digest(&q));
}

fn fifty_devices(server: &Server, dir: &Path) {
    println!("\n## 50 devices syncing at once, 200 records each");
    let team = team(server, "bench-50");
    let devices: Vec<(Store, String)> = (0..50)
        .map(|i| {
            let (s, t) = device(server, &team, dir, &format!("d{i}"));
            seed_device(&s, 200, &format!("d{i}"));
            (s, t)
        })
        .collect();
    let t = Instant::now();
    let mut errors = 0;
    let mut moved = 0usize;
    for round in 1..=2 {
        let results: Vec<carnet_core::Result<SyncSummary>> = std::thread::scope(|scope| {
            let handles: Vec<_> = devices
                .iter()
                .map(|(s, tok)| scope.spawn(|| sync(&server.url, s, tok)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            match r {
                Ok(s) => moved += s.pushed + s.pulled,
                Err(e) => {
                    errors += 1;
                    eprintln!("round {round}: {e}");
                }
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    let digests: std::collections::BTreeSet<String> =
        devices.iter().map(|(s, _)| digest(s)).collect();
    let counts: std::collections::BTreeSet<u64> = devices.iter().map(|(s, _)| total(s)).collect();
    println!(
        "two rounds of 50 concurrent syncs: {secs:.2} s, {errors} errors, {moved} records moved ({:.0} records/s through the server), converged: {} (counts {:?})",
        moved as f64 / secs,
        digests.len() == 1,
        counts
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--pull-child") {
        return pull_child(&args[2..]);
    }
    let quick = std::env::var_os("CARNET_BENCH_QUICK").is_some();
    let tmp;
    let root = match std::env::var_os("CARNET_BENCH_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    println!(
        "# carnet-server sync benchmark (data in {})",
        root.display()
    );
    let server = Server::start(&root.join("server"));
    let dir = root.join("devices");
    std::fs::create_dir_all(&dir).unwrap();
    // CARNET_BENCH_ONLY=new,10k,50 runs some scenarios only.
    let only = std::env::var("CARNET_BENCH_ONLY").unwrap_or_else(|_| "new,10k,50".into());
    let wants = |s: &str| only.split(',').any(|o| o.trim() == s);
    if wants("new") {
        one_new_record_after(&server, &dir, 1_000);
        one_new_record_after(&server, &dir, if quick { 10_000 } else { 100_000 });
    }
    if wants("10k") {
        ten_thousand(&server, &dir);
    }
    if wants("50") {
        fifty_devices(&server, &dir);
    }
    println!(
        "\nserver process peak RSS: {} MB",
        server.vm_hwm_kb() / 1024
    );
}
