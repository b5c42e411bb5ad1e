//! Several server instances on one PostgreSQL database behind HAProxy,
//! devices syncing through it, one instance killed with `kill -9` in the
//! middle of their pushes: what a deployment of several instances promises
//! (docs/deployment.md, "Running several instances").

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carnet_core::Error;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, OpenFlags};

use crate::campaigns::{LogEntry, acknowledged_by_server};
use crate::front::{Forwarded, Front, haproxy_exe};
use crate::pg::TestDatabase;
use crate::server::{Device, ServerProc, settle, test_retry};
use crate::work::{Ledger, check_store};

/// Settings of the multi-instance campaign.
#[derive(Debug, Clone)]
pub struct MultiConfig {
    /// `carnet-test-server` (`carnet_server::serve`, with `--database`).
    pub server_exe: PathBuf,
    /// Instances sharing the database.
    pub instances: usize,
    /// Devices syncing through the front, one thread each.
    pub devices: usize,
    /// Acknowledged syncs (all devices together) before the kill.
    pub kill_after: usize,
    /// Acknowledged syncs before the devices stop (the killed instance is
    /// started again halfway between the kill and this).
    pub syncs: usize,
    /// Connections each instance keeps to the database.
    pub pool: u32,
    /// Seed.
    pub seed: u64,
    /// Where the devices' stores and the instances' directories go.
    pub dir: PathBuf,
}

/// What the campaign saw.
#[derive(Debug, Default, Clone)]
pub struct MultiReport {
    /// Syncs that completed while the instance was killed and restarted.
    pub syncs_ok: usize,
    /// Syncs that failed after their retries (allowed: the device syncs again).
    pub syncs_failed: usize,
    /// The distinct errors of failed syncs (the first five), to read.
    pub sync_errors: Vec<String>,
    /// Failures that said the device's token is refused (must be 0).
    pub unauthorized: usize,
    /// Syncs under way when the instance was killed.
    pub in_flight_at_kill: usize,
    /// Whether the killed instance was writing a push to the database
    /// just before the kill.
    pub killed_mid_push: bool,
    /// Device log entries acknowledged by then, checked against the log
    /// right after the kill.
    pub acked_at_kill: usize,
    /// Of those, missing from the log (must be 0).
    pub missing_at_kill: usize,
    /// Device log entries acknowledged at the end, checked against the log.
    pub acked_checked: usize,
    /// Of those, missing from the log (must be 0).
    pub acked_missing: usize,
    /// Change entries in the team log at the end.
    pub log_entries: usize,
    /// Change entries beyond the first of their hash (must be 0).
    pub duplicates: usize,
    /// Records in the team's read model at the end.
    pub records: usize,
    /// Edits acknowledged on all devices.
    pub edits: usize,
    /// Rounds the devices needed to settle.
    pub settle_rounds: usize,
    /// Devices of the team in the database, not revoked (must be the devices
    /// enrolled at the start: none enrolled again).
    pub devices_in_db: usize,
    /// Requests HAProxy forwarded, per instance.
    pub forwarded: Forwarded,
    /// Lost or doubled edits, disagreements (must be empty).
    pub problems: Vec<String>,
    /// Whether every device holds the log's changes, erasures and records.
    pub converged: bool,
    /// Wall time.
    pub elapsed: Duration,
}

/// What a team's log in the database holds.
struct Log {
    /// Entries per change hash.
    hashes: HashMap<Vec<u8>, usize>,
    tombstones: Ids,
    records: Ids,
}

fn team_log(db: &mut postgres::Client, team: &str) -> Log {
    let hashes = db
        .query(
            "SELECT hash, count(*) FROM change_log WHERE team_id = $1 AND hash IS NOT NULL GROUP BY hash",
            &[&team],
        )
        .expect("read the change log")
        .iter()
        .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, i64>(1) as usize))
        .collect();
    let mut ids = |sql: &str| -> Ids {
        db.query(sql, &[&team])
            .expect("read the team's ids")
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    Log {
        hashes,
        tombstones: ids("SELECT id FROM tombstones WHERE team_id = $1"),
        records: ids("SELECT id FROM records WHERE team_id = $1"),
    }
}

/// The entries devices were told the server has (at or before their push
/// cursors).
fn acknowledged(device_dbs: &[PathBuf]) -> Vec<LogEntry> {
    device_dbs
        .iter()
        .flat_map(|p| acknowledged_by_server(p).expect("device store readable"))
        .collect()
}

/// Of `acked`, the entries the log lacks (a change of a record erased since
/// is gone with it, by design).
fn missing(log: &Log, acked: &[LogEntry]) -> usize {
    acked
        .iter()
        .filter(|(rid, hash)| match hash {
            Some(h) => !log.hashes.contains_key(h) && !log.tombstones.contains(rid),
            None => !log.tombstones.contains(rid),
        })
        .count()
}

/// Change entries beyond the first of their hash.
fn duplicates(log: &Log) -> usize {
    log.hashes.values().map(|n| n - 1).sum()
}

/// Record ids or change hashes.
type Ids = BTreeSet<Vec<u8>>;

/// What a device store holds: change hashes, erased and live record ids.
#[derive(PartialEq, Eq)]
struct Held {
    changes: Ids,
    tombstones: Ids,
    records: Ids,
}

fn device_state(path: &Path) -> rusqlite::Result<Held> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let set = |sql: &str| -> rusqlite::Result<Ids> {
        c.prepare(sql)?.query_map([], |r| r.get(0))?.collect()
    };
    Ok(Held {
        changes: set("SELECT hash FROM change_log WHERE hash IS NOT NULL")?,
        tombstones: set("SELECT id FROM tombstones")?,
        records: set("SELECT id FROM records")?,
    })
}

/// Waits, polling, until `ok` reaches `target` or `attempts` (all syncs,
/// failed ones too) reach `cap`: bounded by the devices' work, not by a
/// clock. Returns whether `target` was reached.
fn wait_for_syncs(ok: &AtomicUsize, attempts: &AtomicUsize, target: usize, cap: usize) -> bool {
    loop {
        if ok.load(Ordering::SeqCst) >= target {
            return true;
        }
        if attempts.load(Ordering::SeqCst) >= cap {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Runs the campaign: a fresh database, `instances` instances on it behind
/// HAProxy, `devices` devices working and syncing through it; one instance
/// killed with `kill -9` once `kill_after` syncs were acknowledged, while
/// syncs are under way, and started again later; then the devices settle
/// and every acknowledged change must be in the log exactly once, every
/// device must hold what the log holds, and no device was enrolled again.
pub fn multi_instance(cfg: &MultiConfig) -> MultiReport {
    let start = Instant::now();
    let mut report = MultiReport::default();
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    let haproxy = haproxy_exe().unwrap_or_else(|e| panic!("{e}"));
    let database = TestDatabase::create();

    // The team and its codes, as `carnet-server init/enroll --database` make them.
    let (team, codes) = {
        let storage = carnet_server::storage::open(&carnet_server::Config {
            database: Some(database.url.clone()),
            database_pool: 2,
            ..Default::default()
        })
        .expect("open the database");
        let (team, _) = carnet_server::init_team_in(&*storage, "fiabilité").expect("init");
        let codes: Vec<String> = (0..cfg.devices)
            .map(|i| {
                let name = format!("d{i}");
                carnet_server::issue_code_in(
                    &*storage,
                    &team,
                    carnet_server::Role::Mediator,
                    Some(&name),
                )
                .expect("issue a code")
            })
            .collect();
        (team, codes)
    };

    // Each instance names its connections, so that the harness sees when
    // one is in the middle of a push (pg_stat_activity).
    let pool = cfg.pool.to_string();
    let url_of = |i: usize| {
        let sep = if database.url.contains('?') { '&' } else { '?' };
        format!("{}{sep}application_name=carnet-instance{i}", database.url)
    };
    let mut instances: Vec<ServerProc> = (1..=cfg.instances)
        .map(|i| {
            let data = cfg.dir.join(format!("instance{i}"));
            let url = url_of(i);
            let extra = [
                "--database",
                url.as_str(),
                "--database-pool",
                pool.as_str(),
                "--rate",
                "0",
                "--trusted-proxy",
            ];
            ServerProc::start(
                &cfg.server_exe,
                &data,
                "127.0.0.1:0".parse().unwrap(),
                &extra,
            )
            .expect("an instance starts")
        })
        .collect();
    let addrs: Vec<_> = instances.iter().map(|s| s.addr).collect();
    let front = Front::start(&haproxy, &addrs, &cfg.dir).unwrap_or_else(|e| panic!("{e}"));

    let devices: Vec<Device> = codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            Device::enroll(
                &front.base(),
                &cfg.dir,
                &format!("d{i}"),
                code,
                rng.random(),
                test_retry(),
            )
            .expect("enroll through the front")
        })
        .collect();
    let device_dbs: Vec<PathBuf> = (0..cfg.devices)
        .map(|i| cfg.dir.join(format!("d{i}.db")))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(Mutex::new(Vec::<Error>::new()));
    let threads: Vec<_> = devices
        .into_iter()
        .map(|mut d| {
            let (stop, ok, attempts, in_flight, errors) = (
                stop.clone(),
                ok.clone(),
                attempts.clone(),
                in_flight.clone(),
                errors.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let n = d.rng.random_range(1..8);
                    d.work(n).expect("offline work never fails");
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let r = d.sync();
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    match r {
                        Ok(_) => ok.fetch_add(1, Ordering::SeqCst),
                        Err(e) => {
                            errors.lock().unwrap().push(e);
                            0
                        }
                    };
                    attempts.fetch_add(1, Ordering::SeqCst);
                    let pause = d.rng.random_range(0..20);
                    std::thread::sleep(Duration::from_millis(pause));
                }
                d
            })
        })
        .collect();

    // Bounded by work: ten times the syncs wanted, failures included.
    let cap = cfg.syncs * 10;
    // The middle one (index): carnet-instance2 of three.
    let victim = cfg.instances / 2;
    if !wait_for_syncs(&ok, &attempts, cfg.kill_after, cap) {
        report.problems.push(format!(
            "fewer than {} syncs went through before the kill",
            cfg.kill_after
        ));
    }
    // In the middle of a push: once the victim holds a transaction that
    // writes (a push locks its team's row first). Looked for while the
    // devices work, bounded by their syncs like the waits above.
    let mut db = database.connect();
    let victim_name = format!("carnet-instance{}", victim + 1);
    loop {
        let writing: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND backend_xid IS NOT NULL",
                &[&victim_name],
            )
            .expect("read pg_stat_activity")
            .get(0);
        if writing > 0 {
            report.killed_mid_push = true;
            break;
        }
        if attempts.load(Ordering::SeqCst) >= cap {
            report
                .problems
                .push("the killed instance was never seen in the middle of a push".into());
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    report.in_flight_at_kill = in_flight.load(Ordering::SeqCst);
    instances[victim].kill9();

    // What devices were told is saved was committed before they were told:
    // it is in the database now, whatever the killed instance was doing.
    // (Device stores are read first: the log read after holds at least that.)
    let acked = acknowledged(&device_dbs);
    let log = team_log(&mut db, &team);
    report.acked_at_kill = acked.len();
    report.missing_at_kill = missing(&log, &acked);
    if duplicates(&log) > 0 {
        report.problems.push(format!(
            "{} duplicate change entries in the log right after the kill",
            duplicates(&log)
        ));
    }

    let restart_at = (cfg.kill_after + cfg.syncs) / 2;
    if !wait_for_syncs(&ok, &attempts, restart_at, cap) {
        report.problems.push(format!(
            "fewer than {restart_at} syncs went through with an instance down"
        ));
    }
    instances[victim]
        .restart()
        .expect("the killed instance starts again");
    if !wait_for_syncs(&ok, &attempts, cfg.syncs, cap) {
        report
            .problems
            .push(format!("fewer than {} syncs went through", cfg.syncs));
    }
    stop.store(true, Ordering::SeqCst);
    let mut devices: Vec<Device> = threads
        .into_iter()
        .map(|t| t.join().expect("device thread"))
        .collect();
    report.syncs_ok = ok.load(Ordering::SeqCst);
    {
        let errors = errors.lock().unwrap();
        report.syncs_failed = errors.len();
        report.unauthorized = errors
            .iter()
            .filter(|e| matches!(e, Error::Unauthorized | Error::Wiped))
            .count();
        let mut kinds: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        kinds.sort();
        kinds.dedup();
        report.sync_errors = kinds.into_iter().take(5).collect();
        if report.unauthorized > 0 {
            report.problems.push(format!(
                "{} syncs were refused their token",
                report.unauthorized
            ));
        }
    }

    // Settle through the front, with the default (patient) retries.
    for d in devices.iter_mut() {
        d.set_server(&front.base(), Default::default()).unwrap();
    }
    match settle(&mut devices, 10) {
        Ok(r) => report.settle_rounds = r,
        Err(e) => report.problems.push(format!("settling failed: {e}")),
    }
    report.forwarded = front.forwarded();

    // The end state, read from the database the instances share.
    let log = team_log(&mut db, &team);
    report.log_entries = log.hashes.values().sum();
    report.duplicates = duplicates(&log);
    report.records = log.records.len();
    let acked = acknowledged(&device_dbs);
    report.acked_checked = acked.len();
    report.acked_missing = missing(&log, &acked);
    let enrolled: i64 = db
        .query_one(
            "SELECT count(*) FROM devices WHERE team_id = $1 AND revoked_at IS NULL",
            &[&team],
        )
        .expect("count devices")
        .get(0);
    report.devices_in_db = enrolled as usize;
    if report.devices_in_db != cfg.devices {
        report.problems.push(format!(
            "{} devices in the database for {} enrolled",
            report.devices_in_db, cfg.devices
        ));
    }

    let mut ledger = Ledger::default();
    for d in &devices {
        ledger.extend(&d.ledger);
    }
    report.edits = ledger.words.len()
        + ledger.tags.len()
        + ledger.total_events()
        + ledger.contacts.len()
        + ledger.erased.len();
    let server = Held {
        changes: log.hashes.keys().cloned().collect(),
        tombstones: log.tombstones.clone(),
        records: log.records.clone(),
    };
    report.converged = true;
    for (d, path) in devices.iter().zip(&device_dbs) {
        let c = check_store(&d.store, &ledger, 0, false).expect("check");
        report
            .problems
            .extend(c.lost.iter().map(|l| format!("{}: lost {l}", d.name)));
        report
            .problems
            .extend(c.doubled.iter().map(|l| format!("{}: doubled {l}", d.name)));
        let held = device_state(path).expect("device store readable");
        if held != server {
            report.converged = false;
            report.problems.push(format!(
                "{} disagrees with the log: {} changes, {} erasures, {} records for {}, {}, {}",
                d.name,
                held.changes.len(),
                held.tombstones.len(),
                held.records.len(),
                server.changes.len(),
                server.tombstones.len(),
                server.records.len()
            ));
        }
    }
    drop(front);
    drop(instances);
    drop(db);
    drop(database);
    report.elapsed = start.elapsed();
    report
}
