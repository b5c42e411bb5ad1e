//! What the server benchmarks share: the real `carnet-server` binary started
//! on loopback (on a data directory or a PostgreSQL database), devices, and
//! generated field notes.
#![allow(dead_code)]

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

pub const SECTORS: [&str; 4] = [
    "conte-joliot",
    "viguier-saint-jacques",
    "ozanam-albignac",
    "grazailles-fleming",
];

pub struct Server {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    /// The PostgreSQL URL it serves from, if any.
    pub database: Option<String>,
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_on(data, None)
    }

    /// On `database` (PostgreSQL) when given, else on `data`.
    pub fn start_on(data: &Path, database: Option<&str>) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(data.join("server.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_carnet-server"));
        cmd.args(["serve", "--data"]).arg(data);
        if let Some(url) = database {
            cmd.args(["--database", url]);
        }
        let mut child = cmd
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
                    database: database.map(str::to_string),
                };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("carnet-server did not start");
    }

    pub fn vm_hwm_kb(&self) -> u64 {
        vm_hwm(&format!("/proc/{}/status", self.child.id()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn vm_hwm(path: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:")
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

pub fn client(url: &str) -> Client {
    Client::new(url).unwrap().with_retry(Retry {
        attempts: 5,
        first_backoff: Duration::from_millis(200),
    })
}

pub fn sync(url: &str, store: &Store, token: &str) -> carnet_core::Result<SyncSummary> {
    client(url).sync(store, token, &mut |_| {}, &AtomicBool::new(false))
}

/// The server's storage, opened beside it (to create teams and codes).
pub fn storage(server: &Server) -> std::sync::Arc<dyn carnet_server::Storage> {
    carnet_server::storage::open(&carnet_server::Config {
        data_dir: server.data.clone(),
        database: server.database.clone(),
        database_pool: 2,
        ..Default::default()
    })
    .unwrap()
}

/// A team of the server's, with its first code spent.
pub fn team(server: &Server, name: &str) -> String {
    carnet_server::init_team_in(&*storage(server), name)
        .unwrap()
        .0
}

/// A device: a store in `dir` enrolled in `team`.
pub fn device(server: &Server, team: &str, dir: &Path, name: &str) -> (Store, String) {
    let code = carnet_server::issue_code_in(
        &*storage(server),
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
pub fn notes(n: usize, author: &str, start: usize, actor: &ActorId) -> Vec<Entry> {
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
pub fn seed_server(url: &str, token: &str, n: usize) -> f64 {
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
pub fn seed_device(store: &Store, n: usize, author: &str) {
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

/// Child process: a brand-new device's first sync, alone in its process so
/// that its peak memory is its own.
pub fn pull_child(args: &[String]) {
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

/// What a new record after a history costs, and what pulling it all did.
#[derive(Debug, Default, Clone, Copy)]
pub struct NewRecord {
    /// A new device's first sync, seconds.
    pub pull_secs: f64,
    /// Round trips of the one-record sync.
    pub round_trips: u32,
    /// Its bytes of bodies, both ways.
    pub bytes: u64,
}

pub fn one_new_record_after(server: &Server, dir: &Path, n: usize) -> NewRecord {
    println!("\n## One new record after {n} synced records");
    let team = team(server, &format!("bench-{n}"));
    let (_, seed_token) = device(server, &team, dir, &format!("seeder-{n}"));
    let rate = seed_server(&server.url, &seed_token, n);
    println!("seeded the server with {n} records: {rate:.0} records/s (verified pushes of 3000)");

    let (store, token) = device(server, &team, dir, &format!("device-{n}"));
    let mut figures = NewRecord::default();
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
    figures.pull_secs = v["secs"].as_f64().unwrap();
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
    figures.round_trips = s.round_trips;
    figures.bytes = (s.bytes_sent + s.bytes_received) as u64;
    figures
}

pub fn total(store: &Store) -> u64 {
    store
        .count(&Query::default(), GroupBy::Kind)
        .unwrap()
        .iter()
        .map(|c| c.count)
        .sum()
}
