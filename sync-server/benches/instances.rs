//! One instance on SQLite against three instances on one PostgreSQL, side by
//! side in one run: an end-of-shift burst of many teams, then a large
//! history. The real `carnet-server` binary on loopback; PostgreSQL at
//! `CARNET_TEST_DATABASE_URL` (default the local one), in a database this
//! run creates and drops.
//!
//! ```text
//! cargo bench -p carnet-server --bench instances
//! CARNET_BENCH_TEAMS=20 CARNET_BENCH_HISTORY=10000 cargo bench -p carnet-server --bench instances
//! ```
//!
//! The burst: `TEAMS` teams × 7 devices, each device with 30 new field
//! notes, every device's sync starting at a random moment of one minute
//! (seeded), on a pool of client threads. Printed per setup: syncs/s, p50
//! and p99 sync time, errors, each instance's peak memory, and the
//! database's size per record.

mod support;

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use carnet_core::Store;
use carnet_reliability::pg::TestDatabase;
use rand::{Rng, SeedableRng};
use support::*;

const DEVICES_PER_TEAM: usize = 7;
const NOTES_PER_DEVICE: usize = 30;
const WINDOW: Duration = Duration::from_secs(60);
const CLIENT_THREADS: usize = 64;

/// The database's size on disk.
fn database_size(db: &TestDatabase) -> u64 {
    db.connect()
        .query_one("SELECT pg_database_size(current_database())", &[])
        .unwrap()
        .get::<_, i64>(0) as u64
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                dir_size(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// A device of the burst: its store's file, token, and the instance it
/// talks to.
struct BurstDevice {
    path: std::path::PathBuf,
    token: String,
    url: String,
}

struct Burst {
    syncs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
    records: u64,
}

fn burst(servers: &[Server], teams: usize, dir: &Path) -> Burst {
    std::fs::create_dir_all(dir).unwrap();
    let mut devices = Vec::new();
    for t in 0..teams {
        let team = team(&servers[0], &format!("Régie {t}"));
        for d in 0..DEVICES_PER_TEAM {
            let i = devices.len();
            let server = &servers[i % servers.len()];
            let name = format!("t{t}d{d}");
            let (store, token) = device(server, &team, dir, &name);
            seed_device(&store, NOTES_PER_DEVICE, &name);
            devices.push(BurstDevice {
                path: dir.join(format!("{name}.db")),
                token,
                url: server.url.clone(),
            });
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(12);
    let mut schedule: Vec<(Duration, usize)> = (0..devices.len())
        .map(|i| (WINDOW.mul_f64(rng.random::<f64>()), i))
        .collect();
    schedule.sort();
    let queue = Mutex::new(schedule.into_iter());
    let times = Mutex::new(Vec::new());
    let errors = Mutex::new(0usize);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..CLIENT_THREADS {
            scope.spawn(|| {
                loop {
                    let Some((at, i)) = queue.lock().unwrap().next() else {
                        return;
                    };
                    if let Some(wait) = at.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    let d = &devices[i];
                    let store = Store::open_unencrypted(&d.path).unwrap();
                    let t = Instant::now();
                    match sync(&d.url, &store, &d.token) {
                        Ok(_) => times.lock().unwrap().push(t.elapsed().as_secs_f64() * 1e3),
                        Err(e) => {
                            eprintln!("sync failed: {e}");
                            *errors.lock().unwrap() += 1;
                        }
                    }
                }
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let mut times = times.into_inner().unwrap();
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    Burst {
        syncs_per_s: times.len() as f64 / secs,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        errors: errors.into_inner().unwrap(),
        records: (devices.len() * NOTES_PER_DEVICE) as u64,
    }
}

fn report(name: &str, b: &Burst, servers: &[Server], size: u64) {
    let memory: Vec<String> = servers
        .iter()
        .map(|s| format!("{} MB", s.vm_hwm_kb() / 1024))
        .collect();
    println!(
        "{name}: {:.1} syncs/s, p50 {:.0} ms, p99 {:.0} ms, {} errors; peak memory per instance {}; database {:.1} MB = {:.0} B per record",
        b.syncs_per_s,
        b.p50_ms,
        b.p99_ms,
        b.errors,
        memory.join(", "),
        size as f64 / 1e6,
        size as f64 / b.records as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--pull-child") {
        return pull_child(&args[2..]);
    }
    let num = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let teams = num("CARNET_BENCH_TEAMS", 100);
    let history = num("CARNET_BENCH_HISTORY", 100_000);
    let root = tempfile::tempdir().unwrap();
    let devices = if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    println!(
        "# One instance on SQLite, three on PostgreSQL: {teams} teams × {DEVICES_PER_TEAM} devices, {NOTES_PER_DEVICE} new notes each, syncs within {} s",
        WINDOW.as_secs()
    );

    let sqlite = [Server::start(&root.path().join("sqlite"))];
    let b = burst(&sqlite, teams, &devices.path().join("sqlite"));
    report(
        "SQLite, 1 instance",
        &b,
        &sqlite,
        dir_size(&root.path().join("sqlite")),
    );

    let db = TestDatabase::create();
    let pg: Vec<Server> = (0..3)
        .map(|i| Server::start_on(&root.path().join(format!("pg{i}")), Some(&db.url)))
        .collect();
    let b = burst(&pg, teams, &devices.path().join("pg"));
    report("PostgreSQL, 3 instances", &b, &pg, database_size(&db));

    println!("\n# {history} records of history, then one new record");
    let on_sqlite = one_new_record_after(&sqlite[0], &devices.path().join("sqlite"), history);
    let on_pg = one_new_record_after(&pg[0], &devices.path().join("pg"), history);
    println!(
        "one new record after {history}: SQLite {} round trips, {} B; PostgreSQL {} round trips, {} B; a new device pulls them in {:.1} s (SQLite) and {:.1} s (PostgreSQL)",
        on_sqlite.round_trips,
        on_sqlite.bytes,
        on_pg.round_trips,
        on_pg.bytes,
        on_sqlite.pull_secs,
        on_pg.pull_secs
    );
}
