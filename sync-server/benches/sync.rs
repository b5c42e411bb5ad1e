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

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use automerge::ActorId;
use carnet_core::doc::RecordDoc;
use carnet_core::schema::validate_new;
use carnet_core::store::{Batch, Entry, GroupBy, Payload, Query};
use carnet_core::sync::client::{Client, Retry};
use carnet_core::sync::{PushHeader, SyncSummary, wire};
use carnet_core::{Kind, RecordId, Store, TeamConfig};
use serde_json::json;
use sha2::{Digest, Sha256};

const SECTORS: [&str; 4] = [
    "conte-joliot",
    "viguier-saint-jacques",
    "ozanam-albignac",
    "grazailles-fleming",
];

struct Server {
    child: Child,
    url: String,
    data: PathBuf,
}

impl Server {
    fn start(data: &Path) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(data.join("server.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_carnet-server"))
            .args(["serve", "--data"])
            .arg(data)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--rate-per-second",
                "0",
            ])
            .env("CARNET_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start carnet-server");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::new();
        for _ in 0..200 {
            if http
                .get(format!("{url}/healthz"))
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                return Server {
                    child,
                    url,
                    data: data.to_path_buf(),
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("carnet-server did not start");
    }

    fn vm_hwm_kb(&self) -> u64 {
        vm_hwm(&format!("/proc/{}/status", self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vm_hwm(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn client(url: &str) -> Client {
    Client::new(url).unwrap().with_retry(Retry {
        attempts: 5,
        first_backoff: Duration::from_millis(200),
    })
}

fn sync(url: &str, store: &Store, token: &str) -> carnet_core::Result<SyncSummary> {
    client(url).sync(store, token, &mut |_| {}, &AtomicBool::new(false))
}

/// A device: a store in `dir` enrolled in `team`.
fn device(server: &Server, team: &str, dir: &Path, name: &str) -> (Store, String) {
    let code = carnet_server::issue_code(
        &server.data,
        team,
        carnet_server::Role::Mediator,
        Some(name),
    )
    .unwrap();
    let e = client(&server.url).enroll(&code, name, None).unwrap();
    let store = Store::open_unencrypted(dir.join(format!("{name}.db"))).unwrap();
    store.set_config(&e.config).unwrap();
    store.set_author(name).unwrap();
    (store, e.token)
}

/// `n` new field notes as change entries, the way the phone whose store
/// has `actor` creates them (the server takes from a device only the
/// changes of its own actor).
fn notes(n: usize, author: &str, start: usize, actor: &ActorId) -> Vec<Entry> {
    let cfg = TeamConfig::carcassonne();
    let now = carnet_core::now_ms();
    (start..start + n)
        .map(|i| {
            let input = json!({
                "sector": SECTORS[i % 4],
                "text": format!("Déambulation {i} : échange avec des habitants au pied du bâtiment {}, éclairage défaillant dans la cage d'escalier {}; à signaler au bailleur.", i % 37, i % 11),
                "axes": ["cadre-de-vie", "tranquillite"],
                "residents_met": (i % 7) as i64,
            });
            let fields = validate_new(&cfg, Kind::Note, input.as_object().unwrap()).unwrap();
            let id = RecordId::new();
            let (doc, hash) = RecordDoc::create(actor, id, Kind::Note, author, now, &fields).unwrap();
            Entry { record_id: id, payload: Payload::Change(doc.change_bytes(&hash).unwrap()) }
        })
        .collect()
}

/// Pushes `n` generated notes to the team as the device holding `token`.
fn seed_server(url: &str, token: &str, n: usize) -> f64 {
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();
    // One device, one actor: the server binds it at the first push.
    let actor = ActorId::random();
    let t = Instant::now();
    let mut done = 0;
    while done < n {
        let k = 3000.min(n - done);
        let body = wire::encode(
            &PushHeader {
                upto: (done + k) as u64,
                lineage: None,
            },
            &notes(k, "seed", done, &actor),
        )
        .unwrap();
        let r = http
            .post(format!("{url}/v1/sync/push"))
            .bearer_auth(token)
            .header("content-type", wire::CONTENT_TYPE)
            .body(body)
            .send()
            .unwrap();
        assert!(r.status().is_success(), "seeding push: {}", r.status());
        done += k;
    }
    n as f64 / t.elapsed().as_secs_f64()
}

/// Fills a device store with `n` notes as if written on the device.
fn seed_device(store: &Store, n: usize, author: &str) {
    let actor = ActorId::from(hex::decode(store.peer_id()).unwrap());
    let mut done = 0;
    while done < n {
        let k = 2000.min(n - done);
        store
            .apply(
                "local",
                &Batch {
                    entries: notes(k, author, done, &actor),
                    upto: 0,
                    more: false,
                },
            )
            .unwrap();
        done += k;
    }
}

fn total(store: &Store) -> u64 {
    store
        .count(&Query::default(), GroupBy::Kind)
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum()
}

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

/// Child process: a brand-new device's first sync, alone in its process so
/// that its peak memory is its own.
fn pull_child(args: &[String]) {
    let (url, token, path) = (&args[0], &args[1], &args[2]);
    let store = Store::open_unencrypted(path).unwrap();
    let t = Instant::now();
    let s = sync(url, &store, token).unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({"secs": secs, "pulled": s.pulled, "bytes": s.bytes_sent + s.bytes_received, "round_trips": s.round_trips, "vm_hwm_kb": vm_hwm("/proc/self/status")})
    );
}

fn one_new_record_after(server: &Server, dir: &Path, n: usize) {
    println!("\n## One new record after {n} synced records");
    let (team, _) = carnet_server::init_team(&server.data, &format!("bench-{n}")).unwrap();
    let (_, seed_token) = device(server, &team, dir, &format!("seeder-{n}"));
    let rate = seed_server(&server.url, &seed_token, n);
    println!("seeded the server with {n} records: {rate:.0} records/s (verified pushes of 3000)");

    let (store, token) = device(server, &team, dir, &format!("device-{n}"));
    let path = dir.join(format!("device-{n}.db"));
    drop(store);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--pull-child", &server.url, &token])
        .arg(&path)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let line = BufReader::new(out.stdout.as_slice())
        .lines()
        .map_while(Result::ok)
        .last()
        .unwrap_or_default();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|_| panic!("child said: {line}"));
    println!(
        "new device pulling {n} records: {:.2} s ({:.0} records/s), {} round trips, {} KB on the wire, peak RSS {} MB (device process)",
        v["secs"].as_f64().unwrap(),
        n as f64 / v["secs"].as_f64().unwrap(),
        v["round_trips"],
        v["bytes"].as_u64().unwrap() / 1024,
        v["vm_hwm_kb"].as_u64().unwrap() / 1024
    );

    let store = Store::open_unencrypted(&path).unwrap();
    assert_eq!(total(&store), n as u64);
    sync(&server.url, &store, &token).unwrap(); // settles the push cursor past the pulled entries
    store
        .create(
            Kind::Note,
            json!({"sector": "conte-joliot", "text": "Un nouveau signalement après la tournée."})
                .as_object()
                .unwrap(),
        )
        .unwrap();
    let t = Instant::now();
    let s = sync(&server.url, &store, &token).unwrap();
    println!(
        "one new record: {} round trips, {} B sent + {} B received = {} B of bodies, {:.1} ms",
        s.round_trips,
        s.bytes_sent,
        s.bytes_received,
        s.bytes_sent + s.bytes_received,
        t.elapsed().as_secs_f64() * 1000.0
    );
}

fn ten_thousand(server: &Server, dir: &Path) {
    println!("\n## 10k records pushed by one device, pulled by another");
    let (team, _) = carnet_server::init_team(&server.data, "bench-10k").unwrap();
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
    let (team, _) = carnet_server::init_team(&server.data, "bench-50").unwrap();
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
