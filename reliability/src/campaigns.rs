//! Multi-device campaigns against a real server: kill -9 of the server during
//! uploads, and (in `netfault`) a fault-injecting network.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carnet_core::Store;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::server::{
    Device, ServerProc, init_team, mediator_code, picture, settle, team_db, test_retry,
};
use crate::work::{Ledger, check_store};

fn ro(path: &Path) -> rusqlite::Result<Connection> {
    let c = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    c.busy_timeout(Duration::from_secs(5))?;
    Ok(c)
}

/// A device log entry: record id, change hash (None for an erasure).
pub type LogEntry = (Vec<u8>, Option<Vec<u8>>);

/// The device log entries the server acknowledged (at or before the device's
/// push cursor, made on the device).
pub fn acknowledged_by_server(device_db: &Path) -> rusqlite::Result<Vec<LogEntry>> {
    let c = ro(device_db)?;
    let cursor: i64 = c
        .query_row(
            "SELECT position FROM sync_cursors WHERE name = 'push'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let rows = c
        .prepare("SELECT record_id, hash FROM change_log WHERE seq <= ?1 AND origin != 'server'")?
        .query_map([cursor], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// What the server's team log holds: change hashes, erased record ids, and
/// the number of hash entries (for duplicates).
pub struct ServerLog {
    /// Change hashes in the log.
    pub hashes: HashSet<Vec<u8>>,
    /// Change entries in the log (more than `hashes.len()` means a duplicate).
    pub change_entries: usize,
    /// Tombstones.
    pub tombstones: HashSet<Vec<u8>>,
}

/// Reads the team log with SQLite alone (the server may be dead or alive).
pub fn server_log(team_db: &Path) -> rusqlite::Result<ServerLog> {
    let c = ro(team_db)?;
    let hashes: Vec<Vec<u8>> = c
        .prepare("SELECT hash FROM change_log WHERE hash IS NOT NULL")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let tombstones = c
        .prepare("SELECT id FROM tombstones")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(ServerLog {
        change_entries: hashes.len(),
        hashes: hashes.into_iter().collect(),
        tombstones,
    })
}

/// Entries a device was told were committed but the server lacks.
pub fn missing_on_server(acked: &[(Vec<u8>, Option<Vec<u8>>)], log: &ServerLog) -> usize {
    acked
        .iter()
        .filter(|(rid, hash)| match hash {
            // A change of a record erased since is gone with it, by design.
            Some(h) => !log.hashes.contains(h) && !log.tombstones.contains(rid),
            None => !log.tombstones.contains(rid),
        })
        .count()
}

/// Settings of the server-crash campaign.
#[derive(Debug, Clone)]
pub struct ServerCrashConfig {
    /// `carnet-test-server`.
    pub server_exe: PathBuf,
    /// Devices uploading.
    pub devices: usize,
    /// Kills of the server.
    pub kills: usize,
    /// Seed.
    pub seed: u64,
    /// Where everything goes.
    pub dir: PathBuf,
}

/// What the campaign saw.
#[derive(Debug, Default, Clone)]
pub struct ServerCrashReport {
    /// Kills done.
    pub kills: usize,
    /// Acknowledged device log entries checked against the server after each kill (summed).
    pub acked_checked: usize,
    /// Of those, missing on the server after a kill (must be 0).
    pub acked_missing: usize,
    /// Edits acknowledged to the mediators on all devices.
    pub edits: usize,
    /// Syncs that completed / failed (failures are expected while the server is down).
    pub syncs_ok: usize,
    /// Syncs that failed.
    pub syncs_failed: usize,
    /// Duplicate change entries in the team log at the end (must be 0).
    pub duplicates: usize,
    /// Lost or doubled edits at the end, on devices or the server (must be empty).
    pub problems: Vec<String>,
    /// Whether every device and the server agree at the end.
    pub converged: bool,
    /// Records in the team log at the end.
    pub records: usize,
    /// Wall time.
    pub elapsed: Duration,
}

/// kill -9 the server at random moments while `devices` devices work and
/// upload; after each kill every entry the server acknowledged must be in its
/// files; restart; at the end the devices settle and must agree with each
/// other and the server, nothing lost or doubled.
pub fn server_crash(cfg: &ServerCrashConfig) -> ServerCrashReport {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let data = cfg.dir.join("server");
    let (team, _) = init_team(&data);
    let mut server = ServerProc::start(
        &cfg.server_exe,
        &data,
        "127.0.0.1:0".parse().unwrap(),
        &["--rate", "0"],
    )
    .expect("server");
    let base = server.base();
    let mut devices = Vec::new();
    for i in 0..cfg.devices {
        let name = format!("d{i}");
        let code = mediator_code(&data, &team, &name);
        devices.push(
            Device::enroll(&base, &cfg.dir, &name, &code, rng.random(), test_retry())
                .expect("enroll"),
        );
    }
    let db_paths: Vec<PathBuf> = (0..cfg.devices)
        .map(|i| cfg.dir.join(format!("d{i}.db")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let threads: Vec<_> = devices
        .into_iter()
        .map(|mut d| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let n = d.rng.random_range(1..12);
                    d.work(n).expect("offline work never fails");
                    match d.sync() {
                        Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                    let pause = d.rng.random_range(0..40);
                    std::thread::sleep(Duration::from_millis(pause));
                }
                d
            })
        })
        .collect();
    let mut report = ServerCrashReport::default();
    for _ in 0..cfg.kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(200..1500)));
        server.kill9();
        report.kills += 1;
        // Responses sent before the kill may still be on their way to a device.
        std::thread::sleep(Duration::from_millis(150));
        let log = server_log(&team_db(&data, &team)).expect("team log readable after a kill");
        for p in &db_paths {
            let acked = acknowledged_by_server(p).expect("device db");
            report.acked_checked += acked.len();
            report.acked_missing += missing_on_server(&acked, &log);
        }
        // Devices keep working offline while the server is down.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..500)));
        server.restart().expect("restart");
    }
    stop.store(true, Ordering::Relaxed);
    let mut devices: Vec<Device> = threads
        .into_iter()
        .map(|t| t.join().expect("device thread"))
        .collect();
    report.syncs_ok = ok.load(Ordering::Relaxed);
    report.syncs_failed = failed.load(Ordering::Relaxed);
    for d in devices.iter_mut() {
        d.set_server(&server.base(), Default::default()).unwrap();
    }
    if let Err(e) = settle(&mut devices, 10) {
        report.problems.push(format!("settling failed: {e}"));
    }
    let end = final_checks(&devices, &mut server, &data, &team);
    report.edits = end.edits;
    report.duplicates = end.duplicates;
    report.records = end.records;
    report.converged = end.converged;
    report.problems.extend(end.problems);
    report.elapsed = start.elapsed();
    report
}

/// The end state of a multi-device campaign.
#[derive(Debug, Default, Clone)]
pub struct EndState {
    /// Edits acknowledged on all devices.
    pub edits: usize,
    /// Duplicate change entries in the team log.
    pub duplicates: usize,
    /// Records in the team log.
    pub records: usize,
    /// Every device agrees with the server.
    pub converged: bool,
    /// Lost or doubled edits, disagreements.
    pub problems: Vec<String>,
}

/// Stops the server, then checks every device and the team log against the
/// merged ledger (no slack: every write was acknowledged), duplicates, and
/// agreement.
pub fn final_checks(
    devices: &[Device],
    server: &mut ServerProc,
    data: &Path,
    team: &str,
) -> EndState {
    let mut end = EndState::default();
    let mut ledger = Ledger::default();
    for d in devices {
        ledger.extend(&d.ledger);
    }
    end.edits = ledger.words.len()
        + ledger.tags.len()
        + ledger.total_events()
        + ledger.contacts.len()
        + ledger.erased.len();
    server.kill9();
    let log = server_log(&team_db(data, team)).expect("team log");
    end.duplicates = log.change_entries - log.hashes.len();
    let team_store = Store::open_unencrypted(team_db(data, team)).expect("team store");
    let server_picture = picture(&team_store, true);
    end.records = server_picture["n"].as_u64().unwrap_or(0) as usize;
    end.converged = true;
    for (name, store) in devices
        .iter()
        .map(|d| (d.name.as_str(), &d.store))
        .chain([("server", &team_store)])
    {
        let c = check_store(store, &ledger, 0, false).expect("check");
        end.problems
            .extend(c.lost.iter().map(|l| format!("{name}: lost {l}")));
        end.problems
            .extend(c.doubled.iter().map(|l| format!("{name}: doubled {l}")));
        if c.extra_events > 0 {
            end.problems.push(format!(
                "{name}: {} status events nobody acknowledged",
                c.extra_events
            ));
        }
        if picture(store, true) != server_picture {
            end.converged = false;
            end.problems
                .push(format!("{name} disagrees with the server"));
        }
    }
    end
}

/// Settings of the network-fault campaign.
#[derive(Debug, Clone)]
pub struct NetFaultConfig {
    /// `carnet-test-server`.
    pub server_exe: PathBuf,
    /// Devices.
    pub devices: usize,
    /// Rounds of offline work and syncs.
    pub rounds: usize,
    /// Share of requests faulted, in percent.
    pub fault_pct: u32,
    /// Seed of the work and of the proxy.
    pub seed: u64,
    /// Where everything goes.
    pub dir: PathBuf,
}

/// What the campaign saw.
#[derive(Debug, Default, Clone)]
pub struct NetFaultReport {
    /// Syncs attempted that completed.
    pub syncs_ok: usize,
    /// Syncs that failed (a fault outlasted the retries).
    pub syncs_failed: usize,
    /// Requests per fate, in [`crate::proxy::FATES`] order.
    pub fates: [u64; 8],
    /// Rounds needed to settle once healed.
    pub settle_rounds: usize,
    /// The end state.
    pub end: EndState,
    /// Wall time.
    pub elapsed: Duration,
}

/// Devices do random offline work for many rounds and sync, one at a time,
/// through a proxy that faults `fault_pct` % of requests; then the network
/// heals, they settle, and the end state is checked.
pub fn network_faults(cfg: &NetFaultConfig) -> NetFaultReport {
    let start = Instant::now();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let data = cfg.dir.join("server");
    let (team, _) = init_team(&data);
    let mut server = ServerProc::start(
        &cfg.server_exe,
        &data,
        "127.0.0.1:0".parse().unwrap(),
        &["--rate", "0"],
    )
    .expect("server");
    let proxy = crate::proxy::Proxy::start(server.addr, cfg.seed, cfg.fault_pct);
    let mut devices = Vec::new();
    for i in 0..cfg.devices {
        let name = format!("d{i}");
        let code = mediator_code(&data, &team, &name);
        // Enrollment goes straight to the server; everything after through the proxy.
        let mut d = Device::enroll(
            &server.base(),
            &cfg.dir,
            &name,
            &code,
            rng.random(),
            test_retry(),
        )
        .expect("enroll");
        d.set_server(&proxy.base(), test_retry()).unwrap();
        devices.push(d);
    }
    let mut report = NetFaultReport::default();
    for _round in 0..cfg.rounds {
        for d in devices.iter_mut() {
            let n = rng.random_range(0..8);
            d.work(n).expect("offline work never fails");
            // Often offline: a phone in a stairwell.
            if rng.random_range(0..100) < 60 {
                match d.sync() {
                    Ok(_) => report.syncs_ok += 1,
                    Err(_) => report.syncs_failed += 1,
                }
            }
        }
    }
    proxy.set_fault_pct(0);
    report.fates = proxy.counts();
    match settle(&mut devices, 10) {
        Ok(r) => report.settle_rounds = r,
        Err(e) => report.end.problems.push(format!("settling failed: {e}")),
    }
    let problems = std::mem::take(&mut report.end.problems);
    report.end = final_checks(&devices, &mut server, &data, &team);
    report.end.problems.extend(problems);
    drop(proxy);
    report.elapsed = start.elapsed();
    report
}

/// Settings of a load or soak run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `carnet-test-server`.
    pub server_exe: PathBuf,
    /// Simulated devices, one thread each.
    pub devices: usize,
    /// How long they work and sync.
    pub duration: Duration,
    /// Pause between a device's syncs, in ms (uniform).
    pub think_ms: (u64, u64),
    /// Edits a device makes between syncs (uniform, inclusive).
    pub edits: (usize, usize),
    /// How often the server's memory and descriptors are sampled.
    pub sample_every: Duration,
    /// Seed.
    pub seed: u64,
    /// Server data (on disk).
    pub dir: PathBuf,
    /// Device stores (tmpfs is fine: they stand for phones).
    pub device_dir: PathBuf,
}

/// One sample of the server process.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    /// Seconds since the start.
    pub t: f64,
    /// VmRSS, KiB.
    pub rss_kib: u64,
    /// VmHWM, KiB.
    pub hwm_kib: u64,
    /// Open descriptors.
    pub fds: usize,
    /// Threads.
    pub threads: usize,
    /// CPU seconds used by the server so far.
    pub cpu_s: f64,
}

/// What a load run measured.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Syncs completed.
    pub syncs: usize,
    /// Syncs that failed (must be 0).
    pub errors: Vec<String>,
    /// Sync latency percentiles, ms: p50, p99, max.
    pub latency_ms: (f64, f64, f64),
    /// Edits acknowledged on devices.
    pub edits: usize,
    /// Entries pushed to the server, in total.
    pub pushed: usize,
    /// Entries pulled from the server, in total.
    pub pulled: usize,
    /// Server samples.
    pub samples: Vec<Sample>,
    /// Rounds needed to settle after the run.
    pub settle_rounds: usize,
    /// The end state.
    pub end: EndState,
    /// The loaded phase's length.
    pub loaded: Duration,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// `devices` devices work and sync for `duration` against one server on
/// loopback (its default rate limits on); then they settle and the end state
/// is checked.
pub fn load(cfg: &LoadConfig) -> LoadReport {
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let data = cfg.dir.join("server");
    let (team, _) = init_team(&data);
    let mut server = ServerProc::start(&cfg.server_exe, &data, "127.0.0.1:0".parse().unwrap(), &[])
        .expect("server");
    let base = server.base();
    let mut devices = Vec::new();
    for i in 0..cfg.devices {
        let name = format!("d{i}");
        let code = mediator_code(&data, &team, &name);
        devices.push(
            Device::enroll(
                &base,
                &cfg.device_dir,
                &name,
                &code,
                rng.random(),
                Default::default(),
            )
            .expect("enroll"),
        );
    }
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let results = Arc::new(Mutex::new((
        Vec::<f64>::new(),
        Vec::<String>::new(),
        0usize,
        0usize,
    )));
    let threads: Vec<_> = devices
        .into_iter()
        .map(|mut d| {
            let results = results.clone();
            let (think, edits) = (cfg.think_ms, cfg.edits);
            std::thread::spawn(move || {
                // Devices start at random moments, not all at once.
                std::thread::sleep(Duration::from_millis(d.rng.random_range(0..think.1.max(1))));
                while Instant::now() < deadline {
                    let n = d.rng.random_range(edits.0..=edits.1);
                    d.work(n).expect("offline work never fails");
                    let t = Instant::now();
                    let r = d.sync();
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    {
                        let mut g = results.lock().unwrap();
                        match r {
                            Ok(s) => {
                                g.0.push(ms);
                                g.2 += s.pushed;
                                g.3 += s.pulled;
                            }
                            Err(e) => g.1.push(format!("{}: {e}", d.name)),
                        }
                    }
                    let pause = d.rng.random_range(think.0..=think.1);
                    std::thread::sleep(Duration::from_millis(pause));
                }
                d
            })
        })
        .collect();
    let mut report = LoadReport::default();
    while Instant::now() < deadline {
        let (hwm, rss) = server.memory_kib();
        report.samples.push(Sample {
            t: start.elapsed().as_secs_f64(),
            rss_kib: rss,
            hwm_kib: hwm,
            fds: server.fds(),
            threads: server.threads(),
            cpu_s: server.cpu_seconds(),
        });
        std::thread::sleep(
            cfg.sample_every
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(10)),
        );
    }
    let mut devices: Vec<Device> = threads
        .into_iter()
        .map(|t| t.join().expect("device thread"))
        .collect();
    report.loaded = start.elapsed();
    let (hwm, rss) = server.memory_kib();
    report.samples.push(Sample {
        t: start.elapsed().as_secs_f64(),
        rss_kib: rss,
        hwm_kib: hwm,
        fds: server.fds(),
        threads: server.threads(),
        cpu_s: server.cpu_seconds(),
    });
    {
        let mut g = results.lock().unwrap();
        g.0.sort_by(|a, b| a.total_cmp(b));
        report.syncs = g.0.len();
        report.latency_ms = (
            percentile(&g.0, 0.5),
            percentile(&g.0, 0.99),
            g.0.last().copied().unwrap_or(0.0),
        );
        report.errors = std::mem::take(&mut g.1);
        report.pushed = g.2;
        report.pulled = g.3;
    }
    match settle(&mut devices, 10) {
        Ok(r) => report.settle_rounds = r,
        Err(e) => report.errors.push(format!("settling: {e}")),
    }
    report.end = final_checks(&devices, &mut server, &data, &team);
    report.edits = report.end.edits;
    report
}
